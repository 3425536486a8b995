"""Training job: the workload's Keras network on the processing job's splits.

Hyperparameters come through the sagemaker-training toolkit; channels train (required),
validation (optional) and pipeline (required: workload.json names the workload, and Penguins'
fitted transformers). Everything the endpoint needs is written to /opt/ml/model, and only once
the whole job has succeeded: model.onnx is the one graph, checked against the trained model.
"""

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

from training.contract.jobio import JobError, Stopped, atomic_write, base_dir, fail
from training.model import distributed
from training.workloads import registry as workloads
from training.workloads.penguins.workload import DEFAULTS  # the default workload's

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
AGREEMENT = 1e-5  # the one graph and scikit-learn + Keras: float32 round-off, no more


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def _convert(key: str, value, defaults: dict):
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
                     f"(for example {defaults[key]})")
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


def parse_hyperparameters(raw: dict, defaults: dict = DEFAULTS) -> Hyperparameters:
    """Validated hyperparameters over a workload's defaults, or JobError naming the parameter."""
    values = dict(defaults)
    for key, value in raw.items():
        if key.startswith(PLATFORM_KEYS):
            continue
        if key not in KINDS:
            raise JobError(f"unknown hyperparameter {key!r}; known: {', '.join(KINDS)}")
        values[key] = _convert(key, value, defaults)
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


def run(base: Path, stop: list, cluster: distributed.Cluster) -> dict | None:
    """The job; returns the model card (None on a host other than the chief). Raises JobError
    for anything the user can fix."""
    raw = read_hyperparameters(base)
    data = base / "input" / "data"
    if not (data / "pipeline").is_dir():
        raise JobError("channel pipeline is missing (the processing job's pipeline/ output)")
    workload, facts = workloads.read(data / "pipeline", "channel pipeline")
    hps = parse_hyperparameters(raw, workload.DEFAULTS)
    # Every host joins before reading its data: a host failing on it then fails its peers
    # within the collective timeout, rather than leaving them waiting to be joined.
    strategy = distributed.joined(cluster, base / "output" / "failure") if cluster.multi else None
    prepared = workload.training_data(data, facts)

    from training.model import network

    checkpoints = base / "checkpoints"
    build = lambda: workload.network(prepared, hps.learning_rate)  # noqa: E731
    if strategy is None:
        model, history, done = network.fit(hps, prepared.x, prepared.y, prepared.validation,
                                           build, checkpoints, stop)
    else:
        model, history, done = network.fit_distributed(
            hps, prepared.x, prepared.y, prepared.validation, build, checkpoints, stop,
            cluster, strategy)
    if stop:
        raise Stopped(f"stopped by SIGTERM after epoch {done}; checkpoint saved to "
                      f"{checkpoints}")
    staging = Path(tempfile.mkdtemp(prefix="model-"))
    try:
        network.save(model, staging)
        if not cluster.chief:
            return None  # saved as Keras asks of every worker, then dropped with staging
        exported = workload.export(model, prepared, staging)
        sample = data / "pipeline" / workloads.SAMPLE
        if sample.is_file():
            ship_sample(sample, exported.graph, staging)
        write_graph(staging / "model.onnx", exported.graph, exported.feeds, exported.expected)
        atomic_write(staging / "labels.json", json.dumps(prepared.labels) + "\n")
        atomic_write(staging / workloads.FACTS, json.dumps(facts, indent=2) + "\n")
        card = {
            "model": workload.DESCRIPTION,
            "workload": workload.NAME,
            "hyperparameters": asdict(hps),
            "metrics": history,
            "rows": {"train": len(prepared.y), "validation": 0 if prepared.validation is None
                     else len(prepared.validation[1])},
            "labels": prepared.labels,
            **exported.card,
            "versions": network.versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write(staging / "model-card.json", json.dumps(card, indent=2) + "\n")
        publish(staging, base / "model")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def ship_sample(sample: Path, model, folder: Path) -> None:
    """The processing job's sample record, beside the graph and in its signature."""
    from training.model import graph

    try:
        record = json.loads(sample.read_text())
    except (OSError, ValueError) as error:
        raise JobError(f"channel pipeline: cannot read {sample.name} ({error})") from None
    graph.write_signature(model, {**graph.read_signature(model), "sample": record})
    atomic_write(folder / sample.name, json.dumps(record) + "\n")


def write_graph(path: Path, graph, feeds: dict, expected) -> None:
    """Save the one graph once onnxruntime answers as scikit-learn + Keras did, else JobError."""
    import numpy as np
    import onnx
    import onnxruntime

    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)[0]
    if got.shape != expected.shape:
        raise JobError(f"{path.name} answers shape {got.shape}; the trained model "
                       f"{expected.shape}")
    if not np.allclose(got, expected, atol=AGREEMENT):
        raise JobError(f"{path.name} differs from the trained model by "
                       f"{np.abs(got - expected).max():.2e}")
    onnx.save(graph, str(path))


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
    from training.jobs import script

    if script.program(base):  # script mode: the user's entry point, not a built-in workload
        return script.main(base)
    failure = base / "output" / "failure"
    stop: list = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(signal.SIGTERM))
    cluster = distributed.Cluster(("algo-1",), "algo-1")
    try:
        cluster = distributed.read_cluster(base)
        card = run(base, stop, cluster)
        archive = os.environ.get("MODEL_ARCHIVE")
        if card is None:
            print(f"host {cluster.current} done; the model is the chief's "
                  f"({cluster.hosts[0]}), waiting for it to exit", flush=True)
            if distributed.wait_for_chief(cluster, stop):
                # TensorFlow may log the chief's lost heartbeat just before: expected here.
                print(f"the chief {cluster.hosts[0]} has exited", flush=True)
            return distributed.exit_now(cluster, 0)
        if archive:
            from training.contract.archive import pack

            print(f"packed {pack(base / 'model', Path(archive))}")
    except JobError as error:
        code = SIGTERM_EXIT if isinstance(error, Stopped) else 1
        message = distributed.failure_message(cluster, str(error))
        return distributed.exit_now(cluster, fail(failure, message, code))
    except Exception as error:
        traceback.print_exc()
        return distributed.exit_now(cluster, fail(failure, distributed.failure_message(
            cluster, f"unexpected {type(error).__name__}: {error}", error)))
    # The final metrics are in the model card: repeating the epoch format here would give
    # metric_definitions regexes one datapoint too many.
    print(f"training complete after {card['hyperparameters']['epochs']} epochs; "
          f"model in {base / 'model'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
