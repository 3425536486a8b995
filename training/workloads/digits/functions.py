"""The Digits workload: handwritten digit images in, one of "0".."9" out.

Pure functions the processing, training and evaluation jobs call. Images stay in their raw
pixel range everywhere (channel CSVs hold raw values too); the network's first layer scales
them, so the exported graph takes the pixels a client sends. Strokes are bright on a dark (0)
background, as in both sources.
"""

import io
import math
from dataclasses import dataclass
from pathlib import Path

from training.contract.jobio import JobError

LABELS = tuple(str(digit) for digit in range(10))  # output order of the network and the graph
INPUT = "pixels"  # the graph's input: float [None, height, width]
MNIST_TRAIN, MNIST_TEST = "mnist_train.csv", "mnist_test.csv"
MNIST_SIZE, MNIST_MAX = 28, 255.0
SKLEARN_SIZE, SKLEARN_MAX = 8, 16.0
TEST_SHARE = 0.15  # of the bundled set, taken first, when there is no mnist_test.csv
VALIDATION_SHARE = 0.20  # of what remains for training
# Defaults measured on the bundled set (0.97-0.99 test accuracy at ~0.4 s an epoch on 2 cores).
EPOCHS, BATCH_SIZE, LEARNING_RATE = 15, 32, 0.003


@dataclass
class Loaded:
    images: object  # float32 [N, H, W], raw pixel range 0..pixel_max
    labels: object  # int64 [N], 0..9
    test_images: object | None  # from mnist_test.csv, else None (split() takes a share)
    test_labels: object | None
    pixel_max: float
    source: str  # "sklearn" | "mnist"

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    def facts(self) -> dict:
        """What later jobs need to know about the data (pipeline/workload.json)."""
        return {"height": self.height, "width": self.width, "pixel_max": self.pixel_max,
                "source": self.source}


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _scan(path: Path, columns: int, pixel_max: float, skip: int) -> int:
    """Raise JobError naming the first bad line of path; the number of image rows otherwise.

    The slow, exact reading, run only when the fast one found something wrong.
    """
    count = 0
    with path.open(encoding="utf-8", newline="") as file:
        for number, line in enumerate(file, 1):
            if number <= skip or not line.strip():
                continue
            where = f"{path.name} line {number}"
            fields = line.split(",")
            if len(fields) != columns:
                raise JobError(f"{where}: {len(fields)} values, expected {columns} (a label "
                               f"then {columns - 1} pixel values, one image a row)")
            for column, field in enumerate(fields, 1):
                if not _number(field):
                    raise JobError(f"{where}, column {column}: {field.strip()!r} is not a number")
            if float(fields[0]) not in range(10):
                raise JobError(f"{where}: label {fields[0].strip()!r} is not a digit 0-9")
            for column, field in enumerate(fields[1:], 2):
                value = float(field)
                if not (0 <= value <= pixel_max and math.isfinite(value)):
                    allowed = f"0-{pixel_max:g}" if math.isfinite(pixel_max) else "0 and up"
                    raise JobError(f"{where}, column {column}: pixel {field.strip()} is outside "
                                   f"{allowed}")
            count += 1
    return count


def _read(path: Path, height: int, width: int, pixel_max: float, header: bool):
    """(images float32 [N, H, W], labels int64 [N]) of a label-first CSV, or JobError.

    header: a first line whose first field is not a number is a header and skipped.
    """
    import numpy as np
    import pandas as pd

    columns = 1 + height * width
    try:
        with path.open(encoding="utf-8") as file:
            first = file.readline()
        skip = int(header and bool(first.strip()) and not _number(first.split(",")[0]))
        # blank lines: skipped by both readers; their line numbers stay the file's own.
        values = pd.read_csv(path, header=None, skiprows=skip, dtype=np.float32,
                             skipinitialspace=True).to_numpy()
    except UnicodeDecodeError:
        raise JobError(f"{path.name}: not a text CSV file (UTF-8)") from None
    except OSError as error:
        raise JobError(f"{path.name}: cannot read ({error.strerror})") from None
    except (ValueError, pd.errors.ParserError):  # a non-number or a ragged row
        values = None
    if (values is None or values.shape[1] != columns or not np.isfinite(values).all()
            or not np.isin(values[:, 0], range(10)).all()
            or not ((values[:, 1:] >= 0) & (values[:, 1:] <= pixel_max)).all()):
        count = _scan(path, columns, pixel_max, skip)
        if count:  # not expected: the exact reading accepts what the fast one refused
            raise JobError(f"{path.name}: not a CSV of a label then {columns - 1} pixel values")
    if values is None or len(values) == 0:
        raise JobError(f"{path.name}: no images")
    return values[:, 1:].reshape(-1, height, width), values[:, 0].astype(np.int64)


def load(input_dir: Path) -> Loaded:
    """mnist_train.csv (+ mnist_test.csv) of input_dir if there, else scikit-learn's digits."""
    import numpy as np

    train, test = input_dir / MNIST_TRAIN, input_dir / MNIST_TEST
    if train.is_file():
        images, labels = _read(train, MNIST_SIZE, MNIST_SIZE, MNIST_MAX, header=True)
        test_images = test_labels = None
        if test.is_file():
            test_images, test_labels = _read(test, MNIST_SIZE, MNIST_SIZE, MNIST_MAX, header=True)
        return Loaded(images, labels, test_images, test_labels, MNIST_MAX, "mnist")
    if test.is_file():
        raise JobError(f"{input_dir}: {MNIST_TEST} without {MNIST_TRAIN}; add the training "
                       f"images or remove {MNIST_TEST} to use the bundled digits")
    from sklearn.datasets import load_digits

    bundled = load_digits()
    return Loaded(bundled.images.astype(np.float32), bundled.target.astype(np.int64),
                  None, None, SKLEARN_MAX, "sklearn")


def split(loaded: Loaded, seed: int) -> dict:
    """{"train", "validation", "test"}: (images, labels), seeded and stratified."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    x, y = loaded.images, loaded.labels
    given = loaded.test_images is not None
    # Each digit needs an image in every split the training file is cut into.
    least = 5 if given else 7
    counts = np.bincount(y, minlength=10)
    short = [str(digit) for digit in range(10) if counts[digit] < least]
    if short:
        origin = MNIST_TRAIN if loaded.source == "mnist" else "the training images"
        raise JobError(f"{origin}: too few images of digit {', '.join(short)} to split "
                       f"(at least {least} of each digit)")
    if given:
        test = (loaded.test_images, loaded.test_labels)
    else:
        x, xt, y, yt = train_test_split(x, y, test_size=TEST_SHARE, random_state=seed,
                                        stratify=y)
        test = (xt, yt)
    xtr, xv, ytr, yv = train_test_split(x, y, test_size=VALIDATION_SHARE, random_state=seed,
                                        stratify=y)
    return {"train": (xtr, ytr), "validation": (xv, yv), "test": test}


def to_csv(x, y) -> str:
    """Headerless CSV, label first then the H*W raw pixel values of each image (row-major)."""
    import numpy as np

    values = np.hstack([np.asarray(y).reshape(-1, 1), np.asarray(x).reshape(len(x), -1)])
    out = io.StringIO()
    # %.9g keeps every float32 exactly; integer pixels stay short ("16", not "16.0").
    np.savetxt(out, values, delimiter=",", fmt=["%d"] + ["%.9g"] * (values.shape[1] - 1))
    return out.getvalue()


def read_csv(path: Path, height: int, width: int):
    """(images float32 [N, H, W], labels int64 [N]) of a to_csv() file, or JobError."""
    return _read(path, height, width, math.inf, header=False)


def network(height: int, width: int, classes: int, learning_rate: float, pixel_max: float):
    """A small CNN, compiled and unfitted: raw pixels [None, H, W] in, softmax [None, classes].

    Two conv + pool blocks keep it small for 28x28 too (7x7x32 features before the dense
    layer). Adam rather than the Penguins network's SGD: its per-weight step sizes suit conv
    and dense layers whose gradients differ by orders of magnitude, and it reaches >= 0.95
    in 15 epochs at one learning rate for both image sizes, without momentum or a schedule.
    """
    from training.model.network import keras

    if min(height, width) < 4:
        raise JobError(f"images of {height}x{width} pixels are too small (at least 4x4)")
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((height, width), name=INPUT),
        layers.Rescaling(1.0 / pixel_max),  # the graph takes raw pixels, as clients send them
        layers.Reshape((height, width, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(classes, activation="softmax"),
    ], name="digits")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def graph(model, labels, height: int, width: int, pixel_max: float):
    """The network as one ONNX graph: input "pixels" float [None, H, W] in raw pixel values,
    output "probabilities" [None, classes], with its signature (and its "image" entry)."""
    import numpy as np
    import onnx
    from onnx import helper

    from training.model import graph as one

    model(np.zeros((1, height, width), np.float32), training=False)  # export wants it called
    exported = one.network_onnx(model)
    nodes = exported.graph
    if len(nodes.input) != 1 or len(nodes.output) != 1:
        raise ValueError("the network must have one input and one output")
    source = nodes.input[0].name
    if source != INPUT:  # a network built elsewhere: give its input the signature's name
        nodes.input[0].name = INPUT
        for node in nodes.node:
            node.input[:] = [INPUT if name == source else name for name in node.input]
    if one._dims(nodes.input[0]) != [None, height, width]:
        raise ValueError(f"the network takes {one._dims(nodes.input[0])}, "
                         f"not [None, {height}, {width}]")
    result = nodes.output[0]
    nodes.node.append(helper.make_node("Identity", [result.name], [one.OUTPUT], name="output"))
    named = onnx.ValueInfoProto()
    named.CopyFrom(result)
    named.name = one.OUTPUT
    nodes.output.pop()
    nodes.output.append(named)
    onnx.checker.check_model(exported)
    exported.producer_name = "penguins-training digits.py"
    image = {"input": INPUT, "height": height, "width": width, "max": float(pixel_max)}
    one.write_signature(exported, one.signature(exported, labels, extra={"image": image}))
    return exported
