"""The Digits workload's pure functions (workloads/digits/functions.py)."""

import math

import numpy as np
import pytest

from training.contract.jobio import JobError
from training.model import graph as one
from training.workloads.digits import functions as digits

pytestmark = pytest.mark.training

AGREEMENT = 1e-5
SEED = 42
PIXELS = digits.MNIST_SIZE * digits.MNIST_SIZE


def mnist_rows(count: int, seed: int = 0) -> np.ndarray:
    """count synthetic MNIST rows: label (every digit in turn), then 784 pixels 0-255."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    return np.hstack([labels.reshape(-1, 1), rng.integers(0, 256, (count, PIXELS))])


def write_mnist(path, rows: np.ndarray, header: bool = False):
    lines = [",".join(["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)])]
    lines = (lines if header else []) + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- load ----------------------------------------------------------------------------------

def test_load_without_mnist_files_gives_the_bundled_8x8_digits(tmp_path):
    loaded = digits.load(tmp_path)
    assert loaded.source == "sklearn" and loaded.pixel_max == digits.SKLEARN_MAX
    assert loaded.images.dtype == np.float32 and loaded.images.shape[1:] == (8, 8)
    assert len(loaded.images) == len(loaded.labels) > 1000
    assert loaded.images.min() == 0 and loaded.images.max() == 16
    assert loaded.labels.dtype == np.int64 and set(loaded.labels) == set(range(10))
    assert loaded.test_images is None and loaded.test_labels is None
    assert loaded.facts() == {"height": 8, "width": 8, "pixel_max": 16.0, "source": "sklearn"}


@pytest.mark.parametrize("header", [False, True], ids=["no header", "header"])
def test_load_reads_mnist_train_and_test_csv_files_with_or_without_a_header(tmp_path, header):
    train, test = mnist_rows(40, seed=1), mnist_rows(20, seed=2)
    write_mnist(tmp_path / digits.MNIST_TRAIN, train, header)
    write_mnist(tmp_path / digits.MNIST_TEST, test, header)
    loaded = digits.load(tmp_path)
    assert loaded.source == "mnist" and loaded.pixel_max == 255.0
    assert (loaded.height, loaded.width) == (28, 28)
    assert loaded.images.shape == (40, 28, 28) and loaded.images.dtype == np.float32
    assert (loaded.images.reshape(40, -1) == train[:, 1:]).all()
    assert (loaded.labels == train[:, 0]).all() and loaded.labels.dtype == np.int64
    assert (loaded.test_images.reshape(20, -1) == test[:, 1:]).all()
    assert (loaded.test_labels == test[:, 0]).all()


def test_load_takes_mnist_train_csv_alone_and_leaves_the_test_split_to_split(tmp_path):
    write_mnist(tmp_path / digits.MNIST_TRAIN, mnist_rows(30))
    loaded = digits.load(tmp_path)
    assert loaded.images.shape == (30, 28, 28) and loaded.test_images is None


def test_load_refuses_mnist_test_csv_without_mnist_train_csv(tmp_path):
    write_mnist(tmp_path / digits.MNIST_TEST, mnist_rows(10))
    with pytest.raises(JobError, match="mnist_test.csv without mnist_train.csv"):
        digits.load(tmp_path)


def replace_line(text: str, number: int, line: str) -> str:
    lines = text.splitlines()
    lines[number - 1] = line
    return "\n".join(lines) + "\n"


GOOD = ",".join(["3"] + ["0"] * PIXELS)
BAD_MNIST = {
    "too few values": (",".join(["3"] + ["0"] * 783), r"line 4: 784 values, expected 785"),
    "too many values": (",".join(["3"] + ["0"] * 785), r"line 4: 786 values, expected 785"),
    "a word for a pixel": (GOOD.replace(",0", ",dark", 1), r"line 4, column 2: 'dark' is not"),
    "an empty pixel": (GOOD[:-2], r"line 4: 784 values"),
    "label 10": ("10" + GOOD[1:], r"line 4: label '10' is not a digit 0-9"),
    "label 2.5": ("2.5" + GOOD[1:], r"line 4: label '2.5' is not a digit 0-9"),
    "pixel 256": (GOOD[:-1] + "256", r"line 4, column 785: pixel 256 is outside 0-255"),
    "pixel -1": (GOOD.replace(",0", ",-1", 1), r"line 4, column 2: pixel -1 is outside 0-255"),
    "pixel nan": (GOOD.replace(",0", ",nan", 1), r"line 4, column 2: pixel nan is outside"),
}


@pytest.mark.parametrize("header", [False, True], ids=["no header", "header"])
@pytest.mark.parametrize("case", BAD_MNIST, ids=list(BAD_MNIST))
def test_load_names_the_file_and_line_of_a_bad_mnist_row(tmp_path, case, header):
    line, message = BAD_MNIST[case]
    write_mnist(tmp_path / digits.MNIST_TRAIN, mnist_rows(30), header)
    text = (tmp_path / digits.MNIST_TRAIN).read_text()
    # line 4 of the file in both layouts: the header, when there is one, is line 1
    (tmp_path / digits.MNIST_TRAIN).write_text(replace_line(text, 4, line))
    with pytest.raises(JobError, match=rf"^mnist_train\.csv {message}"):
        digits.load(tmp_path)


def test_load_names_a_bad_mnist_test_csv_too(tmp_path):
    write_mnist(tmp_path / digits.MNIST_TRAIN, mnist_rows(30))
    text = write_mnist(tmp_path / digits.MNIST_TEST, mnist_rows(10)).read_text()
    (tmp_path / digits.MNIST_TEST).write_text(replace_line(text, 7, "11" + GOOD[1:]))
    with pytest.raises(JobError, match=r"^mnist_test\.csv line 7: label '11'"):
        digits.load(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n", "label,1x1\n"], ids=["empty", "blank", "header"])
def test_load_refuses_an_mnist_file_without_images(tmp_path, content):
    (tmp_path / digits.MNIST_TRAIN).write_text(content)
    with pytest.raises(JobError, match=r"^mnist_train\.csv: no images"):
        digits.load(tmp_path)


def test_load_refuses_an_mnist_file_that_is_not_text(tmp_path):
    (tmp_path / digits.MNIST_TRAIN).write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(JobError, match=r"^mnist_train\.csv: not a text CSV file"):
        digits.load(tmp_path)


# --- split ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    return digits.load(tmp_path_factory.mktemp("empty"))


def rows(x) -> list:
    return sorted(image.tobytes() for image in x)


def test_split_of_the_bundled_set_is_stratified_and_loses_no_image(bundled):
    parts = digits.split(bundled, SEED)
    n = len(bundled.labels)
    sizes = {name: len(y) for name, (_, y) in parts.items()}
    assert sum(sizes.values()) == n
    assert sizes["test"] == math.ceil(n * digits.TEST_SHARE)
    assert sizes["validation"] == math.ceil((n - sizes["test"]) * digits.VALIDATION_SHARE)
    everything = np.concatenate([x for x, _ in parts.values()])
    assert rows(everything) == rows(bundled.images)
    share = np.bincount(bundled.labels, minlength=10) / n
    for name, (x, y) in parts.items():
        assert x.shape == (len(y), 8, 8)
        counts = np.bincount(y, minlength=10)
        # stratified: each digit's count within one image of its share of the split
        assert (np.abs(counts - share * len(y)) <= 1).all(), name


def test_split_with_the_same_seed_is_the_same_and_another_seed_differs(bundled):
    first, again, other = (digits.split(bundled, seed) for seed in (SEED, SEED, SEED + 1))
    for name in first:
        assert (first[name][0] == again[name][0]).all()
        assert (first[name][1] == again[name][1]).all()
    assert rows(first["test"][0]) != rows(other["test"][0])


def test_split_uses_mnist_test_csv_as_the_test_split(tmp_path):
    write_mnist(tmp_path / digits.MNIST_TRAIN, mnist_rows(50))
    write_mnist(tmp_path / digits.MNIST_TEST, mnist_rows(13, seed=3))
    loaded = digits.load(tmp_path)
    parts = digits.split(loaded, SEED)
    assert parts["test"][0] is loaded.test_images and parts["test"][1] is loaded.test_labels
    assert (len(parts["train"][1]), len(parts["validation"][1])) == (40, 10)
    assert (np.bincount(parts["validation"][1], minlength=10) == 1).all()


def test_split_names_the_digits_with_too_few_images(tmp_path):
    rows_ = mnist_rows(80)
    rows_ = rows_[(rows_[:, 0] != 4) | (np.arange(80) < 20)]  # two images of digit 4 left
    write_mnist(tmp_path / digits.MNIST_TRAIN, rows_)
    with pytest.raises(JobError, match=r"^mnist_train\.csv: too few images of digit 4 "):
        digits.split(digits.load(tmp_path), SEED)


# --- channel CSVs --------------------------------------------------------------------------

def test_to_csv_and_read_csv_give_back_the_same_images_and_labels(tmp_path):
    rng = np.random.default_rng(5)
    x = (rng.random((12, 8, 8)) * 16).astype(np.float32)
    x[0] = np.round(x[0])  # whole numbers too
    y = np.arange(12) % 10
    path = tmp_path / "train.csv"
    path.write_text(digits.to_csv(x, y))
    assert path.read_text().splitlines()[0].startswith(f"0,{x[0, 0, 0]:g},")
    got_x, got_y = digits.read_csv(path, 8, 8)
    assert got_x.dtype == np.float32 and got_y.dtype == np.int64
    assert (got_x == x).all() and (got_y == y).all()


BAD_CHANNEL = {
    "wrong size": ("3,1,2,3", r"train\.csv line 2: 4 values, expected 65"),
    "a word": ("3," + ",".join(["x"] + ["1"] * 63), r"train\.csv line 2, column 2: 'x'"),
    "label 12": ("12," + ",".join(["1"] * 64), r"train\.csv line 2: label '12'"),
    "negative": ("3," + ",".join(["-2"] + ["1"] * 63), r"train\.csv line 2, column 2: pixel -2"),
    "infinite": ("3," + ",".join(["1"] * 63 + ["inf"]), r"train\.csv line 2, column 65: pixel inf"),
    "a header": ("label," + ",".join(["p"] * 64), r"train\.csv line 2, column 1: 'label'"),
}


@pytest.mark.parametrize("case", BAD_CHANNEL, ids=list(BAD_CHANNEL))
def test_read_csv_names_the_file_and_line_of_a_bad_row(tmp_path, case):
    line, message = BAD_CHANNEL[case]
    good = digits.to_csv(np.ones((3, 8, 8), np.float32), [1, 2, 3])
    path = tmp_path / "train.csv"
    path.write_text(replace_line(good, 2, line))
    with pytest.raises(JobError, match=rf"^{message}"):
        digits.read_csv(path, 8, 8)


# --- network and graph ---------------------------------------------------------------------

@pytest.mark.parametrize("size, pixel_max", [(8, 16.0), (28, 255.0)])
def test_network_is_a_compiled_unfitted_cnn_from_raw_pixels_to_ten_probabilities(size, pixel_max):
    model = digits.network(size, size, 10, 0.003, pixel_max)
    assert model.input_shape == (None, size, size) and model.output_shape == (None, 10)
    assert model.layers[0].scale == pytest.approx(1 / pixel_max)
    assert model.optimizer is not None and int(model.optimizer.iterations.numpy()) == 0
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.003)
    x = np.random.default_rng(0).uniform(0, pixel_max, (5, size, size)).astype(np.float32)
    probabilities = model(x, training=False).numpy()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5) and (probabilities >= 0).all()


def test_network_refuses_images_too_small_for_two_poolings():
    with pytest.raises(JobError, match="3x8 pixels are too small"):
        digits.network(3, 8, 10, 0.003, 16.0)


@pytest.fixture(scope="module")
def trained(bundled):
    """The network trained on the bundled split with the workload's defaults."""
    import keras

    parts = digits.split(bundled, SEED)
    keras.utils.set_random_seed(SEED)
    model = digits.network(8, 8, 10, digits.LEARNING_RATE, bundled.pixel_max)
    model.fit(*parts["train"], validation_data=parts["validation"], epochs=digits.EPOCHS,
              batch_size=digits.BATCH_SIZE, verbose=0)
    return model, parts


def session(model):
    import onnxruntime

    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])


def test_the_defaults_reach_095_test_accuracy_on_the_bundled_digits(trained):
    model, parts = trained
    x, y = parts["test"]
    accuracy = float((model(x, training=False).numpy().argmax(axis=1) == y).mean())
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f}"


def test_the_graph_gives_keras_probabilities_for_every_test_image(trained):
    model, parts = trained
    x = parts["test"][0]
    expected = model(x, training=False).numpy()
    got = session(digits.graph(model, digits.LABELS, 8, 8, 16.0)).run(["probabilities"],
                                                                     {"pixels": x})[0]
    assert got.shape == expected.shape == (len(x), 10)
    difference = np.abs(got - expected).max()
    assert difference <= AGREEMENT, f"graph differs from Keras by {difference:.2e}"
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_the_graph_signature_says_pixels_in_probabilities_out_and_the_image_entry(trained):
    signature = one.read_signature(digits.graph(trained[0], digits.LABELS, 8, 8, 16.0))
    assert signature["inputs"] == [{"name": "pixels", "type": "float", "shape": [None, 8, 8]}]
    assert signature["output"] == {"name": "probabilities", "shape": [None, 10]}
    assert signature["labels"] == [str(d) for d in range(10)]
    assert signature["image"] == {"input": "pixels", "height": 8, "width": 8, "max": 16.0}


def test_the_graph_of_a_28x28_network_takes_raw_mnist_pixels():
    model = digits.network(28, 28, 10, 0.003, 255.0)
    exported = digits.graph(model, digits.LABELS, 28, 28, 255.0)
    x = np.random.default_rng(1).integers(0, 256, (4, 28, 28)).astype(np.float32)
    got = session(exported).run(["probabilities"], {"pixels": x})[0]
    assert np.abs(got - model(x, training=False).numpy()).max() <= AGREEMENT
    assert one.read_signature(exported)["image"] == {"input": "pixels", "height": 28,
                                                     "width": 28, "max": 255.0}


def test_the_graph_names_the_input_pixels_whatever_the_network_called_it():
    import keras

    model = keras.Sequential([keras.Input((8, 8), name="images"), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    exported = digits.graph(model, digits.LABELS, 8, 8, 16.0)
    assert [value.name for value in exported.graph.input] == ["pixels"]
    x = np.full((2, 8, 8), 3.0, np.float32)
    got = session(exported).run(["probabilities"], {"pixels": x})[0]
    assert np.abs(got - model(x, training=False).numpy()).max() <= AGREEMENT
