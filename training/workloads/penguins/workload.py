"""The Penguins workload: palmerpenguins' CSV, a fitted ColumnTransformer and a Dense network.

The jobs call a workload through this interface (training/workloads/registry.py holds the registry):
  process_outputs(input_dir, seed) -> (files, summary, facts)  the processing outputs
  training_data(data_dir, facts) -> Prepared               the channels, validated
  network(prepared, learning_rate) -> compiled Keras model, unfitted
  export(model, prepared, folder) -> Exported              the one graph + what it must answer
  test_data(test_dir, model_dir, labels, facts) -> (x, y)  the evaluation job's input
and the constants NAME, TITLE, CLASS_WORD, DEFAULTS, DESCRIPTION, and TEST_TENSOR, the tensor of
the one graph that test_data's x feeds (Prepared and Exported are
training/workloads/registry.py's).
"""

import csv
import io
import json
import math
import shutil
from pathlib import Path

from training.contract.jobio import JobError, channel_files
from training.model.graph import FEATURES
from training.workloads import registry as workloads
from training.workloads.penguins import data
from training.workloads.registry import Exported, Prepared

NAME = "penguins"
TITLE = "Penguins"
CLASS_WORD = "species"
DEFAULTS = {"epochs": 50, "batch_size": 32, "learning_rate": 0.01, "seed": 42}
DESCRIPTION = "penguins species classifier (scikit-learn features + Keras MLP 10-8-softmax, " \
              "one ONNX graph from raw fields)"
PIPELINE_FILES = ("features.joblib", "target.joblib")
TEST_TENSOR = FEATURES  # the test split is transformed already: it feeds the network's part


def put_data(target: Path) -> str:
    """`make data`: palmerpenguins' CSV in the processing input, offline."""
    return data.put_penguins(target)
# The training split's raw fields, so the training job can check the graph on real rows.
TRAIN_RAW = "train-raw.csv"


def process_outputs(input_dir: Path, seed: int) -> tuple[dict, str, dict]:
    """Every output file's bytes by relative path, a summary line, the workload's facts."""
    import joblib

    train, validation, test, unlabelled = data.split(data.read_raw(input_dir), seed)
    features, target = data.transformers(train)
    files = {f"{name}/{name}.csv": data.matrix_csv(frame, features, target)
             for name, frame in (("train", train), ("validation", validation), ("test", test))}
    for name, fitted in (("features", features), ("target", target)):
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        files[f"pipeline/{name}.joblib"] = buffer.getvalue()
    files[f"pipeline/{TRAIN_RAW}"] = train[list(data.FEATURES)].to_csv(index=False)
    # to_json writes a missing value as null, as a client would send it.
    files[f"pipeline/{workloads.SAMPLE}"] = json.dumps(json.loads(
        test[list(data.FEATURES)].head(1).to_json(orient="records"))[0]) + "\n"
    files["baseline/train-baseline.csv"] = train[list(data.FEATURES)].to_csv(index=False)
    files["baseline/test-baseline.csv"] = test[[data.LABEL, *data.FEATURES]].to_csv(
        index=False)
    summary = (f"rows: train {len(train)}, validation {len(validation)}, test {len(test)}; "
               f"dropped {unlabelled} without {data.LABEL}; classes "
               f"{', '.join(target.classes_)}")
    return files, summary, {}


def read_pipeline(channel: Path):
    """The processing job's fitted transformers from the pipeline channel."""
    import joblib

    from training.model import graph

    loaded = []
    for name in PIPELINE_FILES:
        try:
            loaded.append(joblib.load(channel / name))
        except FileNotFoundError:
            raise JobError(f"channel pipeline: {name} is missing") from None
        except Exception as error:  # unpickling raises anything
            raise JobError(f"channel pipeline: cannot read {name} ({error})") from None
    try:
        categorical = loaded[0].named_transformers_["categorical"]
        # Today's one-hot encoder, or the marked-string imputer before it: both convert.
        steps = getattr(categorical, "steps", None)
        current = (steps[0][1].missing_values == graph.MISSING_STRING if steps
                   else type(categorical).__name__ == "OneHotEncoder")
    except (AttributeError, KeyError, IndexError):
        current = False
    if not current or not (channel / TRAIN_RAW).is_file():
        # Transformers of older processing jobs convert to no ONNX graph.
        raise JobError("channel pipeline: made by an older processing job (no one-graph "
                       f"transformer or no {TRAIN_RAW}); run the processing job again")
    return loaded


def read_train_raw(path: Path):
    """The raw training fields as read_raw() gives them: NaN for every missing value."""
    import pandas as pd

    return pd.read_csv(path, dtype=dict.fromkeys(data.CATEGORICAL, str),
                       keep_default_na=False, na_values=[""])


def read_channel(channel: Path, name: str, width: int, classes: int):
    """Every CSV of a channel as (features, labels), or JobError naming file, line, column."""
    import numpy as np

    files = channel_files(channel, name)
    rows = []
    for path in files:
        with path.open(newline="") as file:
            try:
                for line, row in enumerate(csv.reader(file), start=1):
                    if not row:
                        continue
                    if len(row) != width + 1:
                        raise JobError(f"channel {name}: {path.name} line {line} has {len(row)} "
                                       f"columns; expected {width + 1} (label + {width} features)")
                    try:
                        values = [float(v) for v in row]
                        if not all(map(math.isfinite, values)):
                            raise ValueError  # "nan" and "inf" parse, yet train nothing
                    except ValueError:
                        column = next(i for i, v in enumerate(row) if not _is_number(v)) + 1
                        raise JobError(f"channel {name}: {path.name} line {line} column {column} "
                                       f"is not a number: {row[column - 1]!r}") from None
                    if values[0] not in range(classes):
                        raise JobError(f"channel {name}: {path.name} line {line} has label "
                                       f"{row[0]!r}; labels must be class codes 0..{classes - 1}")
                    rows.append(values)
            except (UnicodeDecodeError, csv.Error) as error:
                raise JobError(f"channel {name}: {path.name} is not a CSV file ({error})") from None
    if not rows:
        raise JobError(f"channel {name}: no rows in {', '.join(p.name for p in files)}")
    table = np.array(rows)
    return table[:, 1:].astype("float32"), table[:, 0].astype("int64")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def width(features) -> int:
    """How many columns the fitted transformer outputs: the network's input width."""
    return len(features.get_feature_names_out())


def training_data(data: Path, facts: dict) -> Prepared:
    features, target = read_pipeline(data / "pipeline")
    n_features, classes = width(features), len(target.classes_)
    x, y = read_channel(data / "train", "train", n_features, classes)
    validation = None
    if (data / "validation").is_dir():
        validation = read_channel(data / "validation", "validation", n_features, classes)
    return Prepared(x, y, validation, [str(label) for label in target.classes_],
                    features=features, pipeline=data / "pipeline")


def network(prepared: Prepared, learning_rate: float):
    from training.model import network

    return network.build(prepared.x.shape[1], len(prepared.labels), learning_rate)


def export(model, prepared: Prepared, folder: Path) -> Exported:
    """The one graph, checked on the raw training rows; the transformers beside it."""
    import numpy as np

    from training.model import graph
    raw = read_train_raw(prepared.pipeline / TRAIN_RAW)
    x = prepared.features.transform(data.marked(raw)).astype(np.float32)
    expected = model(x, training=False).numpy()
    for name in PIPELINE_FILES:
        shutil.copyfile(prepared.pipeline / name, folder / name)
    one = graph.build(prepared.features, model, prepared.labels, data.field_types())
    return Exported(one, data.feeds(raw),
                    expected, {"unknown_categories": "ignored (all-zero one-hot)"})


def test_data(test_dir: Path, model_dir: Path, labels: list, facts: dict):
    import joblib

    features = joblib.load(model_dir / "features.joblib")
    return read_channel(test_dir, "test", width(features), len(labels))
