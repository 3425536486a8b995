"""The Digits workload in the jobs: functions.py's pure functions behind the workload
interface that training/workloads/penguins/workload.py documents.

Channel CSVs: label, then height*width raw pixel values; pipeline/workload.json carries
height, width, pixel_max and source, so training and evaluation need no extra parameter.
"""

import json
from pathlib import Path

from training.contract.jobio import JobError, channel_files
from training.workloads import registry as workloads
from training.workloads.digits import functions as digits
from training.workloads.registry import Exported, Prepared

NAME = "digits"
TITLE = "Digits"
CLASS_WORD = "digit"
DEFAULTS = {"epochs": digits.EPOCHS, "batch_size": digits.BATCH_SIZE,
            "learning_rate": digits.LEARNING_RATE, "seed": 42}
DESCRIPTION = "handwritten digit classifier (Keras CNN, one ONNX graph from raw pixels)"
FACT_KEYS = ("height", "width", "pixel_max")
TEST_TENSOR = digits.INPUT  # raw pixels: the whole graph
DATA_NOTE = ("nothing to copy for digits: processing uses scikit-learn's bundled 8x8 digits "
             f"unless {digits.MNIST_TRAIN} (and {digits.MNIST_TEST}) are in the input folder")


def process_outputs(input_dir: Path, seed: int) -> tuple[dict, str, dict]:
    loaded = digits.load(input_dir)
    parts = digits.split(loaded, seed)
    files = {f"{name}/{name}.csv": digits.to_csv(*parts[name])
             for name in ("train", "validation", "test")}
    facts = loaded.facts()
    files[f"pipeline/{workloads.SAMPLE}"] = json.dumps(
        {digits.INPUT: parts["test"][0][0].tolist()}) + "\n"
    sizes = ", ".join(f"{name} {len(parts[name][1])}" for name in ("train", "validation", "test"))
    summary = (f"images ({facts['height']}x{facts['width']}, {loaded.source}): {sizes}; "
               f"classes {', '.join(digits.LABELS)}")
    return files, summary, facts


def _facts(facts: dict) -> tuple[int, int, float]:
    try:
        height, width, pixel_max = (facts[key] for key in FACT_KEYS)
        return int(height), int(width), float(pixel_max)
    except (KeyError, TypeError, ValueError):
        raise JobError(f"workload.json: digits needs {', '.join(FACT_KEYS)} (written by the "
                       "processing job with --workload digits)") from None


def read_channel(channel: Path, name: str, height: int, width: int):
    """Every CSV of a channel as (images [N, H, W], labels), or JobError naming the file."""
    import numpy as np

    parts = []
    for path in channel_files(channel, name):
        try:
            parts.append(digits.read_csv(path, height, width))
        except JobError as error:
            raise JobError(f"channel {name}: {error}") from None
    return (np.concatenate([x for x, _ in parts]).astype(np.float32),
            np.concatenate([y for _, y in parts]))


def training_data(data: Path, facts: dict) -> Prepared:
    height, width, _ = _facts(facts)
    x, y = read_channel(data / "train", "train", height, width)
    validation = None
    if (data / "validation").is_dir():
        validation = read_channel(data / "validation", "validation", height, width)
    return Prepared(x, y, validation, list(digits.LABELS), facts=facts)


def network(prepared: Prepared, learning_rate: float):
    height, width, pixel_max = _facts(prepared.facts)
    return digits.network(height, width, len(prepared.labels), learning_rate, pixel_max)


def export(model, prepared: Prepared, folder: Path) -> Exported:
    """The one graph, to be checked on the training images."""
    height, width, pixel_max = _facts(prepared.facts)
    graph = digits.graph(model, prepared.labels, height, width, pixel_max)
    expected = model(prepared.x, training=False).numpy()
    return Exported(graph, {digits.INPUT: prepared.x}, expected,
                    {"image": {"height": height, "width": width, "pixel_max": pixel_max,
                               "source": prepared.facts.get("source")}})


def test_data(test_dir: Path, model_dir: Path, labels: list, facts: dict):
    height, width, _ = _facts(facts)
    return read_channel(test_dir, "test", height, width)


def monitor_features(con, names: list):
    """The data-quality monitor's record preprocessor: pixel statistics (training/
    digits_monitor.py), the baseline's features too."""
    from training.workloads.digits import monitor as digits_monitor

    return digits_monitor.pixel_statistics(con)
