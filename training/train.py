"""Training job: the program's Keras network on the processing job's splits.

Hyperparameters come through the sagemaker-training toolkit; channels train (required),
validation (optional) and pipeline (the fitted transformers, required). Everything the endpoint
needs is written to /opt/ml/model, and only once the whole job has succeeded.
"""

import csv
import importlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from training.jobio import JobError, Stopped, atomic_write, base_dir, fail

DEFAULTS = {"epochs": 50, "batch_size": 32, "learning_rate": 0.01, "seed": 42}
KINDS = {"epochs": int, "batch_size": int, "learning_rate": float, "seed": int}
KIND_WORDS = {int: "a whole number", float: "a number"}
PLATFORM_KEYS = ("sagemaker_", "_tuning_objective_metric")
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": "train_loss=([0-9\\.]+)"},
    {"Name": "train:accuracy", "Regex": "train_accuracy=([0-9\\.]+)"},
    {"Name": "validation:loss", "Regex": "val_loss=([0-9\\.]+)"},
    {"Name": "validation:accuracy", "Regex": "val_accuracy=([0-9\\.]+)"},
]
SIGTERM_EXIT = 143


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def _convert(key: str, value):
    # The SDK JSON-encodes values once more than the toolkit decodes: "\"50\"" -> "50".
    while isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            break
        if decoded == value:
            break
        value = decoded
    kind = KINDS[key]
    wrong = JobError(f"hyperparameter {key}={value!r} is not {KIND_WORDS[kind]} "
                     f"(for example {DEFAULTS[key]})")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong
    try:
        number = float(value)
    except ValueError:
        raise wrong from None
    # "nan" and "inf" parse as floats, yet no epoch count or learning rate is either.
    if not math.isfinite(number) or (kind is int and number != int(number)):
        raise wrong
    return int(number) if kind is int else number


def parse_hyperparameters(raw: dict) -> Hyperparameters:
    """Validated hyperparameters, or JobError naming the parameter."""
    values = dict(DEFAULTS)
    for key, value in raw.items():
        if key.startswith(PLATFORM_KEYS):
            continue
        if key not in KINDS:
            raise JobError(f"unknown hyperparameter {key!r}; known: {', '.join(KINDS)}")
        values[key] = _convert(key, value)
    for key in ("epochs", "batch_size", "learning_rate"):
        if values[key] <= 0:
            raise JobError(f"hyperparameter {key}={values[key]} must be greater than 0")
    if values["seed"] < 0:
        raise JobError(f"hyperparameter seed={values['seed']} must not be negative")
    return Hyperparameters(**values)


def read_hyperparameters(base: Path) -> dict:
    """hyperparameters.json through the toolkit (which JSON-decodes each value once)."""
    from sagemaker_training import environment

    if Path(environment.base_dir) != base:
        # The toolkit fixes its paths when first imported; a later job in the same process
        # (tests) may have another base.
        importlib.reload(environment)
    try:
        return environment.read_hyperparameters()
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise JobError(f"hyperparameters.json is not valid JSON ({error})") from None


def read_pipeline(channel: Path):
    """The processing job's fitted transformers from the pipeline channel."""
    import joblib

    if not channel.is_dir():
        raise JobError("channel pipeline is missing (the processing job's pipeline/ output)")
    loaded = []
    for name in ("features.joblib", "target.joblib"):
        try:
            loaded.append(joblib.load(channel / name))
        except FileNotFoundError:
            raise JobError(f"channel pipeline: {name} is missing") from None
        except Exception as error:  # unpickling raises anything
            raise JobError(f"channel pipeline: cannot read {name} ({error})") from None
    return loaded


def read_channel(channel: Path, name: str, width: int, classes: int):
    """Every CSV of a channel as (features, labels), or JobError naming file, line, column."""
    import numpy as np

    if not channel.is_dir():
        raise JobError(f"channel {name} is missing")
    files = sorted(p for p in channel.rglob("*.csv") if p.is_file())
    if not files:
        raise JobError(f"channel {name}: no CSV file")
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


def run(base: Path, stop: list) -> dict:
    """The job; returns the model card. Raises JobError for anything the user can fix."""
    hps = parse_hyperparameters(read_hyperparameters(base))
    data = base / "input" / "data"
    features, target = read_pipeline(data / "pipeline")
    from training.export import feature_spec, width

    n_features, classes = width(features), len(target.classes_)
    x_train, y_train = read_channel(data / "train", "train", n_features, classes)
    validation = None
    if (data / "validation").is_dir():
        validation = read_channel(data / "validation", "validation", n_features, classes)

    from training import network

    checkpoints = base / "checkpoints"
    model, history, done = network.fit(hps, x_train, y_train, validation, classes, checkpoints,
                                       stop)
    if stop:
        raise Stopped(f"stopped by SIGTERM after epoch {done}; checkpoint saved to "
                              f"{checkpoints}")
    staging = Path(tempfile.mkdtemp(prefix="model-"))
    try:
        network.save(model, staging, x_train)
        for name in ("features.joblib", "target.joblib"):
            shutil.copyfile(data / "pipeline" / name, staging / name)
        labels = [str(label) for label in target.classes_]
        atomic_write(staging / "labels.json", json.dumps(labels) + "\n")
        atomic_write(staging / "features.json", json.dumps(feature_spec(features), indent=2))
        card = {
            "model": "penguins species classifier (Keras MLP 10-8-softmax, exported to ONNX)",
            "hyperparameters": asdict(hps),
            "metrics": history,
            "rows": {"train": len(y_train), "validation": 0 if validation is None
                     else len(validation[1])},
            "labels": labels,
            "features": feature_spec(features),
            "unknown_categories": "ignored (all-zero one-hot)",
            "versions": network.versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write(staging / "model-card.json", json.dumps(card, indent=2) + "\n")
        publish(staging, base / "model")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def publish(staging: Path, model_dir: Path) -> None:
    """Move the finished model into /opt/ml/model (a mount point: files, not the folder)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    moved = []
    try:
        for path in sorted(staging.iterdir()):
            shutil.copyfile(path, model_dir / path.name)
            os.chmod(model_dir / path.name, 0o644)
            moved.append(model_dir / path.name)
    except OSError as error:
        for path in moved:
            path.unlink(missing_ok=True)
        raise JobError(f"cannot write the model to {model_dir}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    base = base_dir()
    failure = base / "output" / "failure"
    stop: list = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(signal.SIGTERM))
    try:
        card = run(base, stop)
        archive = os.environ.get("MODEL_ARCHIVE")
        if archive:
            from training.package import pack

            print(f"packed {pack(base / 'model', Path(archive))}")
    except JobError as error:
        return fail(failure, str(error), SIGTERM_EXIT if isinstance(error, Stopped) else 1)
    except Exception as error:
        traceback.print_exc()
        return fail(failure, f"unexpected {type(error).__name__}: {error}")
    # The final metrics are in the model card: repeating the epoch format here would give
    # metric_definitions regexes one datapoint too many.
    print(f"training complete after {card['hyperparameters']['epochs']} epochs; "
          f"model in {base / 'model'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
