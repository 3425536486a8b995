"""The jobs in-process: the same assertions as the contract tests, without Docker."""

import json
import os
import re
import shutil
import signal
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.registry import models as registry
from training.jobs import evaluate, process, train
from training.workloads.penguins.data import bundled

import job_cases
from endpoint_cases import RECORD

pytestmark = pytest.mark.training
REPO = Path(__file__).resolve().parents[2]
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"


def processing_base(root: Path, csv_text: str | None = None) -> Path:
    (root / "processing" / "input").mkdir(parents=True)
    target = root / "processing" / "input" / "penguins.csv"
    if csv_text is None:
        shutil.copyfile(bundled(), target)
    else:
        target.write_text(csv_text)
    return root


def link_channels(base: Path, processed: Path, channels=("train", "validation", "pipeline"),
                  hyperparameters=None) -> Path:
    (base / "input" / "data").mkdir(parents=True)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(hyperparameters or {}))
    for name in channels:
        shutil.copytree(processed / "processing" / name, base / "input" / "data" / name)
    return base


@pytest.fixture(scope="module")
def processed(tmp_path_factory, monkeypatch_module):
    base = processing_base(tmp_path_factory.mktemp("processing"))
    monkeypatch_module.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert process.main(["--seed", "42"]) == 0
    return base


@pytest.fixture(scope="module")
def trained(processed, tmp_path_factory, monkeypatch_module):
    base = link_channels(tmp_path_factory.mktemp("training"), processed)
    monkeypatch_module.setenv("SAGEMAKER_BASE_DIR", str(base))
    monkeypatch_module.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 0
    monkeypatch_module.delenv("MODEL_ARCHIVE")
    return base


# Hyperparameters


def documentation() -> str:
    """README and every docs/ page, in that order (the docs quote the same definitions)."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return "".join(page.read_text() for page in pages)


def test_defaults_are_the_ones_readme_documents():
    readme = documentation()
    documented = dict(re.findall(r"`(epochs|batch_size|learning_rate|seed)` \(([0-9.]+)\)",
                                 readme))
    assert set(documented) == set(train.KINDS), documented
    assert train.parse_hyperparameters({}) == train.parse_hyperparameters(documented)


def test_sdk_encodings_and_platform_keys():
    hps = train.parse_hyperparameters({
        "epochs": '"20"', "batch_size": "16", "learning_rate": 0.05, "seed": '"7"',
        "sagemaker_program": "x.py", "_tuning_objective_metric": "validation:accuracy"})
    assert hps == train.Hyperparameters(20, 16, 0.05, 7)


@pytest.mark.parametrize(("raw", "message"), [
    ({"epochs": "0"}, "epochs=0 must be greater than 0"),
    ({"epochs": "ten"}, "epochs='ten' is not a whole number (for example 50)"),
    ({"epochs": "2.5"}, "epochs=2.5 is not a whole number"),
    ({"epochs": "inf"}, "epochs='inf' is not a whole number"),
    ({"batch_size": True}, "batch_size=True is not a whole number"),
    ({"learning_rate": "-0.1"}, "learning_rate=-0.1 must be greater than 0"),
    ({"learning_rate": "nan"}, "learning_rate='nan' is not a number (for example 0.01)"),
    ({"dropout": "0.2"}, "unknown hyperparameter 'dropout'"),
    ({"seed": "-1"}, "seed=-1 must not be negative"),
])
def test_bad_hyperparameters_are_named_in_plain_words(raw, message):
    with pytest.raises(train.JobError) as raised:
        train.parse_hyperparameters(raw)
    assert message in str(raised.value)


# Processing


def test_processing_outputs(processed):
    out = processed / "processing"
    sizes = {name: len((out / name / f"{name}.csv").read_text().splitlines())
             for name in ("train", "validation", "test")}
    assert sizes == {"train": 240, "validation": 52, "test": 52}
    first = (out / "train" / "train.csv").read_text().splitlines()[0].split(",")
    assert first[0] in {"0", "1", "2"} and len(first) == 11  # label + 4 numbers + 7 one-hot
    assert "species" not in (out / "baseline" / "train-baseline.csv").read_text().split("\n")[0]
    assert json.loads((out / "pipeline" / "workload.json").read_text()) == {"workload": "penguins"}
    assert len((out / "pipeline" / "train-raw.csv").read_text().splitlines()) == 1 + 240


@pytest.mark.parametrize("case", job_cases.PROCESSING_FAILURES, ids=job_cases.ids)
def test_processing_bad_input(tmp_path, monkeypatch, case):
    base = processing_base(tmp_path, case.csv_text)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert process.main([]) == 1
    message = (base / "output" / "message").read_text()
    assert case.named in message and "\n" not in message.strip()
    written = [p for p in (base / "processing").rglob("*") if p.is_file()]
    assert [p.name for p in written] == ["penguins.csv"]


# Training


def test_model_folder_and_archive(trained):
    model = trained / "model"
    assert {p.name for p in model.iterdir()} == {
        "model.keras", "model.onnx", "labels.json", "model-card.json", "features.joblib",
        "target.joblib", "workload.json", "sample.json"}
    assert json.loads((model / "workload.json").read_text()) == {"workload": "penguins"}
    card = json.loads((model / "model-card.json").read_text())
    assert card["hyperparameters"]["epochs"] == 50 and card["rows"]["train"] == 240
    assert set(card["metrics"]) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    with tarfile.open(trained / "output" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == sorted(p.name for p in model.iterdir())


def test_test_accuracy_reaches_the_target(processed, trained):
    import keras

    network = keras.models.load_model(trained / "model" / "model.keras")
    table = np.loadtxt(processed / "processing" / "test" / "test.csv", delimiter=",")
    predicted = network(table[:, 1:].astype("float32")).numpy().argmax(axis=1)
    assert (predicted == table[:, 0]).mean() >= 0.95


def test_metric_regexes_read_the_epoch_lines(capsys):
    from training.model.network import EpochLog

    log = EpochLog(3)
    log.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.25, "val_loss": 1.25, "val_accuracy": 0.5})
    line = capsys.readouterr().out
    values = [re.search(d["Regex"], line).group(1) for d in train.METRIC_DEFINITIONS]
    assert [float(v) for v in values] == [1.5, 0.25, 1.25, 0.5]


def test_job_graph_answers_as_sklearn_and_keras_on_the_whole_test_split(processed, trained):
    """model.onnx from the job: raw test fields in, the probabilities of transformer + Keras."""
    import joblib
    import keras
    import onnxruntime

    from training.model import graph
    from training.workloads.penguins import data as penguins_data
    from training.workloads.penguins import workload as penguins

    model = trained / "model"
    raw = penguins.read_train_raw(processed / "processing" / "baseline" / "test-baseline.csv")
    features = joblib.load(model / "features.joblib")
    network = keras.models.load_model(model / "model.keras")
    expected = network(features.transform(penguins_data.marked(raw)).astype(np.float32),
                       training=False).numpy()
    session = onnxruntime.InferenceSession(str(model / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, penguins_data.feeds(raw))[0]
    assert len(got) == len(raw) == 52
    assert np.abs(got - expected).max() <= train.AGREEMENT
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert graph.read_signature(session)["labels"] == json.loads(
        (model / "labels.json").read_text())


def test_the_job_fails_naming_model_onnx_when_the_graph_answers_otherwise(processed, tmp_path,
                                                                          monkeypatch):
    from training.workloads.penguins import workload as penguins

    real = penguins.export

    def skewed(model, prepared, folder):
        exported = real(model, prepared, folder)
        exported.expected = exported.expected + 1e-3
        return exported

    monkeypatch.setattr(penguins, "export", skewed)
    base = link_channels(tmp_path, processed, hyperparameters={"epochs": "1"})
    (base / "model").mkdir()
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    assert "model.onnx differs from the trained model by 1.00e-03" in (
        base / "output" / "failure").read_text()
    assert list((base / "model").iterdir()) == []


def test_sample_penguin_is_a_gentoo(trained):
    import onnxruntime

    from training.model import graph
    from training.workloads.penguins import data as penguins_data

    session = onnxruntime.InferenceSession(str(trained / "model" / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    probabilities = session.run(None, penguins_data.feeds(pd.DataFrame([RECORD])))[0][0]
    labels = graph.read_signature(session)["labels"]
    assert labels[int(probabilities.argmax())] == "Gentoo"


@pytest.mark.parametrize("case", job_cases.HYPERPARAMETER_FAILURES + job_cases.CHANNEL_FAILURES,
                         ids=job_cases.ids)
def test_training_failures(processed, tmp_path, monkeypatch, case):
    base = link_channels(tmp_path, processed, case.channels, case.hyperparameters)
    (base / "model").mkdir()
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    assert case.named in (base / "output" / "failure").read_text()
    assert list((base / "model").iterdir()) == []


@pytest.mark.parametrize("case", job_cases.TRAIN_CSV_FAILURES, ids=job_cases.ids)
def test_bad_training_csv_names_file_and_line(processed, tmp_path, monkeypatch, case):
    base = link_channels(tmp_path, processed, ("pipeline",))
    (base / "model").mkdir()
    (base / "input" / "data" / "train").mkdir()
    (base / "input" / "data" / "train" / "part.csv").write_text(job_cases.GOOD_TRAIN_LINE
                                                                 + case.line)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert f"channel train: part.csv line 2 {case.says}" in failure
    assert list((base / "model").iterdir()) == []


def epoch_numbers(text: str) -> list[int]:
    return [int(k) for k in re.findall(r"^epoch=(\d+)/", text, re.M)]


@pytest.mark.parametrize("cut", [2, 0], ids=["third epoch", "first epoch"])
def test_sigterm_in_the_middle_of_an_epoch_neither_logs_nor_checkpoints_it(
        processed, tmp_path, monkeypatch, capsys, cut):
    """Keras still ends the cut epoch with on_epoch_end: it must not count as done."""
    from training.model import network

    class SigtermMidEpoch(network.StopOnSignal):
        armed = True
        trained: list = []  # (epoch, batch) of every batch trained, over both runs

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            SigtermMidEpoch.trained.append((self.epoch, batch))
            if SigtermMidEpoch.armed and (self.epoch, batch) == (cut, 1):
                SigtermMidEpoch.armed = False
                os.kill(os.getpid(), signal.SIGTERM)  # train.main's own handler takes it
            super().on_train_batch_end(batch, logs)

    monkeypatch.setattr(network, "StopOnSignal", SigtermMidEpoch)
    base = link_channels(tmp_path, processed, hyperparameters={"epochs": "5"})
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert train.main() == train.SIGTERM_EXIT
    finally:
        signal.signal(signal.SIGTERM, handler)
    first = capsys.readouterr().out
    assert SigtermMidEpoch.trained[-1] == (cut, 1)  # stopped in the cut epoch's second batch
    state = json.loads((base / "checkpoints" / "state.json").read_text())
    assert state == {"epoch": cut}
    assert f"after epoch {cut}" in (base / "output" / "failure").read_text()
    assert epoch_numbers(first) == list(range(1, cut + 1))

    SigtermMidEpoch.trained.clear()
    (base / "output" / "failure").unlink()
    try:
        assert train.main() == 0
    finally:
        signal.signal(signal.SIGTERM, handler)
    second = capsys.readouterr().out
    assert f"resuming from checkpoint at epoch {cut}" in second
    assert epoch_numbers(first) + epoch_numbers(second) == [1, 2, 3, 4, 5]
    steps = len({batch for _, batch in SigtermMidEpoch.trained})
    assert SigtermMidEpoch.trained == [(e, b) for e in range(cut, 5) for b in range(steps)]
    assert json.loads((base / "checkpoints" / "state.json").read_text()) == {"epoch": 5}


# Evaluation


def test_evaluation(processed, trained, tmp_path, monkeypatch):
    root = tmp_path / "processing"
    shutil.copytree(processed / "processing" / "test", root / "test")
    (root / "model").mkdir()
    shutil.copy(trained / "output" / "model.tar.gz", root / "model")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert evaluate.main([]) == 0
    report = json.loads((root / "evaluation" / "evaluation.json").read_text())
    assert registry.read_accuracy(report, "evaluation.json") >= 0.95
    matrix = report["multiclass_classification_metrics"]["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == 52
    assert (root / "evaluation" / "confusion-matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluation_scores_the_serving_graph_from_the_transformed_split_as_keras_answers(
        processed, trained):
    """The evaluation job runs model.onnx from its "features" tensor on, not the Keras file."""
    import keras

    from training.model import graph
    from training.workloads.penguins import workload as penguins

    model = trained / "model"
    table = np.loadtxt(processed / "processing" / "test" / "test.csv", delimiter=",")
    x = table[:, 1:].astype("float32")
    expected = keras.models.load_model(model / "model.keras")(x, training=False).numpy()
    got = graph.scores(model / "model.onnx", penguins.TEST_TENSOR, x)
    assert got.shape == expected.shape == (52, 3)
    assert np.abs(got - expected).max() <= train.AGREEMENT
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_evaluation_of_an_archive_whose_graph_cannot_run_names_it(trained, tmp_path, monkeypatch):
    root = tmp_path / "processing"
    (root / "test").mkdir(parents=True)
    (root / "test" / "test.csv").write_text("0," + ",".join(["0.5"] * 10) + "\n")
    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    (model / "model.onnx").write_bytes(b"not a graph")
    (root / "model").mkdir()
    with tarfile.open(root / "model" / "model.tar.gz", "w:gz") as archive:
        for path in model.iterdir():
            archive.add(path, arcname=path.name)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert evaluate.main([]) == 1
    message = (tmp_path / "output" / "message").read_text()
    assert "model.tar.gz: cannot score its model.onnx on the test split (DecodeError" in message
    assert not (root / "evaluation").exists()


def test_report_on_known_predictions():
    report = evaluate.report(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), ["a", "b", "c"])
    metrics = report["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == 0.75
    assert metrics["confusion_matrix"]["a"] == {"a": 1, "b": 1, "c": 0}
    assert report["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                        "support": 1}


def test_evaluation_without_model_names_it(tmp_path, monkeypatch):
    (tmp_path / "processing" / "test").mkdir(parents=True)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert evaluate.main([]) == 1
    assert "model.tar.gz" in (tmp_path / "output" / "message").read_text()


def test_readme_metric_definitions_are_the_jobs():
    """The docs' metric_definitions (each copy) are the ones the job's log lines are made for."""
    readme = documentation()
    pairs = re.findall(r'\{"Name": "([^"]+)", "Regex": "([^"]+)"\}', readme)
    expected = [(d["Name"], d["Regex"].replace("\\", "\\\\")) for d in train.METRIC_DEFINITIONS]
    # Every documented definition is one of the job's, and the whole list is given somewhere.
    assert pairs and set(pairs) <= set(expected), sorted(set(pairs) - set(expected))
    assert any(pairs[i:i + len(expected)] == expected for i in range(len(pairs)))
