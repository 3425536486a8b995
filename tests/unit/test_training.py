"""The jobs in-process: the same assertions as the contract tests, without Docker."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import evaluate, export, process, registry, train
from training.dataset import bundled

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


def test_hyperparameter_defaults():
    assert train.parse_hyperparameters({}) == train.Hyperparameters(50, 32, 0.01, 42)


def test_sdk_encodings_and_platform_keys():
    hps = train.parse_hyperparameters({
        "epochs": '"20"', "batch_size": "16", "learning_rate": 0.05, "seed": '"7"',
        "sagemaker_program": "x.py", "_tuning_objective_metric": "validation:accuracy"})
    assert hps == train.Hyperparameters(20, 16, 0.05, 7)


@pytest.mark.parametrize(("raw", "named"), [
    ({"epochs": "0"}, "epochs"), ({"epochs": "ten"}, "epochs"), ({"epochs": "2.5"}, "epochs"),
    ({"batch_size": True}, "batch_size"), ({"learning_rate": "-0.1"}, "learning_rate"),
    ({"dropout": "0.2"}, "dropout"), ({"seed": "-1"}, "seed"),
])
def test_bad_hyperparameters_are_named(raw, named):
    with pytest.raises(train.JobError, match=named):
        train.parse_hyperparameters(raw)


# Processing


def test_processing_outputs(processed):
    out = processed / "processing"
    sizes = {name: len((out / name / f"{name}.csv").read_text().splitlines())
             for name in ("train", "validation", "test")}
    assert sizes == {"train": 240, "validation": 52, "test": 52}
    first = (out / "train" / "train.csv").read_text().splitlines()[0].split(",")
    assert first[0] in {"0", "1", "2"} and len(first) == 10
    assert "species" not in (out / "baseline" / "train-baseline.csv").read_text().split("\n")[0]


@pytest.mark.parametrize(("csv_text", "named"), [
    (HEADER.replace(",sex", "") + "Adelie,Dream,39,18,181,3700,2007\n", "sex"),
    (HEADER, "no rows"),
    (HEADER + "".join("NA,Dream,39,18,181,3700,male,2007\n" for _ in range(20)), "species"),
    (HEADER + "".join(f"{s},Dream,39,18,181,3700,male,2007\n" for s in ["Adelie"] * 20
                      + ["Gentoo"] * 3), "Gentoo"),
    (HEADER + "Adelie,Dream,39,18,181,heavy,male,2007\n" * 30, "body_mass_g"),
])
def test_processing_bad_input(tmp_path, monkeypatch, csv_text, named):
    base = processing_base(tmp_path, csv_text)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert process.main([]) == 1
    message = (base / "output" / "message").read_text()
    assert named in message
    written = [p for p in (base / "processing").rglob("*") if p.is_file()]
    assert [p.name for p in written] == ["penguins.csv"]


# Training


def test_model_folder_and_archive(trained):
    model = trained / "model"
    assert {p.name for p in model.iterdir()} == {
        "model.keras", "model.onnx", "network.json", "features.json", "labels.json",
        "model-card.json", "features.joblib", "target.joblib"}
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
    from training.network import EpochLog

    log = EpochLog(3)
    log.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.25, "val_loss": 1.25, "val_accuracy": 0.5})
    line = capsys.readouterr().out
    values = [re.search(d["Regex"], line).group(1) for d in train.METRIC_DEFINITIONS]
    assert [float(v) for v in values] == [1.5, 0.25, 1.25, 0.5]


def test_features_json_reproduces_the_column_transformer(trained):
    import joblib

    from serving import model as serving_model

    features = joblib.load(trained / "model" / "features.joblib")
    raw = pd.read_csv(bundled(), na_values=["NA", "", "."], keep_default_na=False)
    raw.loc[0, "island"] = "Atlantis"  # an unknown category
    expected = features.transform(raw[list(process.FEATURES)])
    served = serving_model.load(trained / "model")
    records = json.loads(raw[list(process.FEATURES)].to_json(orient="records"))
    assert served.width == export.width(features)
    np.testing.assert_allclose(serving_model.features(served, records), expected, atol=1e-5)


def test_served_predictions_equal_keras_on_the_whole_test_split(processed, trained):
    """Both fast paths answer as DataFrame -> transform -> Keras: ONNX and network.json."""
    import joblib
    import keras

    from serving import model as serving_model

    raw = pd.read_csv(processed / "processing" / "baseline" / "test-baseline.csv")
    inputs = raw.drop(columns=["species"])
    features = joblib.load(trained / "model" / "features.joblib")
    network = keras.models.load_model(trained / "model" / "model.keras")
    expected = network.predict(features.transform(inputs), verbose=0)
    labels = json.loads((trained / "model" / "labels.json").read_text())
    served = serving_model.load(trained / "model")
    assert served.layers is not None  # single records take network.json's path
    records = json.loads(inputs.to_json(orient="records"))
    batch = serving_model.predict(served, records)
    one_by_one = [serving_model.predict(served, [record])[0] for record in records]
    assert len(batch) == len(one_by_one) == len(expected) == 52
    for results in (batch, one_by_one):
        for result, probabilities in zip(results, expected, strict=True):
            assert result["prediction"] == labels[int(probabilities.argmax())]
            assert abs(result["confidence"] - float(probabilities.max())) < 1e-5


@pytest.mark.parametrize(("layers", "expected"), [
    ([("Dense", "relu"), ("Dense", "softmax")], ["relu", "softmax"]),
    ([("Dense", "relu"), ("Dropout", None), ("Dense", "softmax")], None),
    ([("Dense", "tanh"), ("Dense", "softmax")], None),
])
def test_network_json_only_for_a_stack_of_supported_dense_layers(layers, expected):
    import keras

    model = keras.Sequential([keras.Input((4,))] + [
        keras.layers.Dense(3, activation=activation) if kind == "Dense"
        else keras.layers.Dropout(0.1) for kind, activation in layers])
    spec = export.network_spec(model)
    if expected is None:
        assert spec is None
        return
    assert [layer["activation"] for layer in spec["layers"]] == expected
    kernel, bias = model.layers[0].get_weights()
    assert np.array(spec["layers"][0]["kernel"]) == pytest.approx(kernel)
    assert np.array(spec["layers"][0]["bias"]) == pytest.approx(bias)


def test_training_writes_network_json_only_for_activations_serving_computes():
    # Two lists because the training image does not ship serving/.
    from serving import dense

    assert set(export.DENSE_ACTIVATIONS) == set(dense.ACTIVATIONS)


def test_sample_penguin_is_a_gentoo(trained):
    from serving import model as serving_model

    result = serving_model.predict(serving_model.load(trained / "model"), [RECORD])[0]
    assert result["prediction"] == "Gentoo"


@pytest.mark.parametrize(("hyperparameters", "channels", "named"), [
    ({"epochs": "0"}, ("train", "pipeline"), "epochs"),
    ({"colour": "blue"}, ("train", "pipeline"), "colour"),
    ({}, ("validation", "pipeline"), "train"),
    ({}, ("train",), "pipeline"),
])
def test_training_failures(processed, tmp_path, monkeypatch, hyperparameters, channels, named):
    base = link_channels(tmp_path, processed, channels, hyperparameters)
    (base / "model").mkdir()
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    assert named in (base / "output" / "failure").read_text()
    assert list((base / "model").iterdir()) == []


@pytest.mark.parametrize(("line", "named"), [
    ("1,0.5,0.5\n", "expected 10"),
    ("1,0.1,x,0,0,1,0,0,1,0\n", "column 3"),
    ("7,0.1,0.2,0,0,1,0,0,1,0\n", "class codes"),
])
def test_bad_training_csv(processed, tmp_path, monkeypatch, line, named):
    base = link_channels(tmp_path, processed, ("pipeline",))
    (base / "input" / "data" / "train").mkdir()
    (base / "input" / "data" / "train" / "part.csv").write_text(line)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert "part.csv" in failure or "class codes" in failure
    assert named in failure


def test_sigterm_checkpoints_then_resumes(processed, tmp_path):
    base = link_channels(tmp_path, processed, hyperparameters={"epochs": "100000"})
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "PYTHONPATH": str(REPO)}
    job = subprocess.Popen([sys.executable, "-m", "training.train"], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    for line in job.stdout:
        if line.startswith("epoch=2/"):
            break
        assert time.monotonic() < deadline
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == train.SIGTERM_EXIT
    assert "SIGTERM" in (base / "output" / "failure").read_text()
    state = json.loads((base / "checkpoints" / "state.json").read_text())
    assert state["epoch"] >= 2 and (base / "checkpoints" / "checkpoint.keras").is_file()
    assert not (base / "model").exists() or not any((base / "model").iterdir())

    config = base / "input" / "config" / "hyperparameters.json"
    config.write_text(json.dumps({"epochs": str(state["epoch"] + 2)}))
    done = subprocess.run([sys.executable, "-m", "training.train"], env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resuming from checkpoint at epoch {state['epoch']}" in done.stdout
    assert re.findall(r"^epoch=(\d+)/", done.stdout, re.M) == [str(state["epoch"] + 1),
                                                               str(state["epoch"] + 2)]


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
    """README's metric_definitions (both copies) are the ones the job's log lines are made for."""
    readme = (REPO / "README.md").read_text()
    pairs = re.findall(r'\{"Name": "([^"]+)", "Regex": "([^"]+)"\}', readme)
    expected = [(d["Name"], d["Regex"].replace("\\", "\\\\")) for d in train.METRIC_DEFINITIONS]
    assert pairs == expected * 2
