"""Evaluation job: the trained model on the test split, in the SageMaker model-quality layout.

Inputs: /opt/ml/processing/test/*.csv (headerless, label first) and
/opt/ml/processing/model/model.tar.gz, whose workload.json names the workload (none: Penguins).
Outputs in /opt/ml/processing/evaluation/:
evaluation.json and confusion-matrix.png.
"""

import argparse
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

from training.contract.archive import extract
from training.contract.jobio import JobError, atomic_write, base_dir, fail


def unpack(archive: Path, target: Path) -> None:
    if not archive.is_file():
        raise JobError(f"{archive}: model.tar.gz is missing (the training job's output)")
    try:
        extract(archive, target)
    except (tarfile.TarError, OSError) as error:
        raise JobError(f"{archive}: cannot extract model.tar.gz ({error})") from None
    for name in ("model.onnx", "labels.json"):
        if not (target / name).is_file():
            raise JobError(f"{archive}: model.tar.gz has no {name}")


def report(truth, predicted, labels: list) -> dict:
    """evaluation.json: multiclass metrics as the model registry takes them, plus per class."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    codes = list(range(len(labels)))
    matrix = confusion_matrix(truth, predicted, labels=codes)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=codes, zero_division=0)
    weighted = precision_recall_fscore_support(truth, predicted, labels=codes,
                                               average="weighted", zero_division=0)
    accuracy = float((truth == predicted).mean())

    def metric(value):
        return {"value": float(value), "standard_deviation": "NaN"}

    return {
        "multiclass_classification_metrics": {
            "accuracy": metric(accuracy),
            "weighted_precision": metric(weighted[0]),
            "weighted_recall": metric(weighted[1]),
            "weighted_f1": metric(weighted[2]),
            "confusion_matrix": {
                actual: {guess: int(matrix[i][j]) for j, guess in enumerate(labels)}
                for i, actual in enumerate(labels)
            },
        },
        "per_class": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]),
                    "f1": float(f1[i]), "support": int(support[i])}
            for i, label in enumerate(labels)
        },
    }


def plot(matrix: dict, labels: list, title: str = "Penguins", word: str = "species") -> bytes:
    """The confusion matrix as a PNG a person can read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [[matrix[a][p] for p in labels] for a in labels]
    size = max(5.0, 0.5 * len(labels) + 1.5)  # 10 digits need more room than 3 species
    figure, axes = plt.subplots(figsize=(size, size * 0.9), dpi=100)
    image = axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel(f"predicted {word}")
    axes.set_ylabel(f"actual {word}")
    axes.set_title(f"{title}: confusion matrix (test split)")
    top = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center",
                      color="white" if count > top / 2 else "black")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def run(root: Path) -> dict:
    from training.workloads import registry as workloads

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch)
        unpack(root / "model" / "model.tar.gz", model_dir)
        labels = json.loads((model_dir / "labels.json").read_text())
        workload, facts = workloads.read(model_dir, "model.tar.gz")
        x, truth = workload.test_data(root / "test", model_dir, labels, facts)
        from training.model import graph

        # The graph that serves, not the Keras network it came from (the same answers within
        # the training job's 1e-5; TensorFlow's import was half of the job's time).
        try:
            scores = graph.scores(model_dir / "model.onnx", workload.TEST_TENSOR, x)
        except Exception as error:  # onnx's and onnxruntime's errors share no base class
            raise JobError(f"{root / 'model' / 'model.tar.gz'}: cannot score its model.onnx on "
                           f"the test split ({type(error).__name__}: {error})") from None
        predicted = scores.argmax(axis=1)
    result = report(truth, predicted, labels)
    picture = plot(result["multiclass_classification_metrics"]["confusion_matrix"], labels,
                   workload.TITLE, workload.CLASS_WORD)
    out = root / "evaluation"
    atomic_write(out / "confusion-matrix.png", picture)
    atomic_write(out / "evaluation.json", json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0]).parse_args(argv)
    base = base_dir()
    try:
        result = run(base / "processing")
    except JobError as error:
        return fail(base / "output" / "message", str(error))
    except OSError as error:
        return fail(base / "output" / "message", f"cannot write the evaluation: {error}")
    accuracy = result["multiclass_classification_metrics"]["accuracy"]["value"]
    print(f"test accuracy={accuracy:.4f}; wrote {base / 'processing' / 'evaluation'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
