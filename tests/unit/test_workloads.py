"""Workload dispatch in the jobs, and the Digits workload from processing to evaluation."""

import json
import shutil

import numpy as np
import pytest
from test_training import link_channels, processing_base

from pipeline.registry import models as registry
from training.jobs import evaluate, process, train
from training.workloads import registry as workloads

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def processed_digits(tmp_path_factory, monkeypatch_module):
    base = tmp_path_factory.mktemp("digits-processing")
    (base / "processing" / "input").mkdir(parents=True)  # empty: the bundled digits
    monkeypatch_module.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert process.main(["--workload", "digits", "--seed", "42"]) == 0
    return base


@pytest.fixture(scope="module")
def trained_digits(processed_digits, tmp_path_factory, monkeypatch_module):
    base = link_channels(tmp_path_factory.mktemp("digits-training"), processed_digits)
    monkeypatch_module.setenv("SAGEMAKER_BASE_DIR", str(base))
    monkeypatch_module.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 0
    monkeypatch_module.delenv("MODEL_ARCHIVE")
    return base


def test_an_unknown_workload_fails_processing_naming_the_known_ones(tmp_path, monkeypatch):
    base = processing_base(tmp_path)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert process.main(["--workload", "cats"]) == 1
    message = (base / "output" / "message").read_text()
    assert "unknown workload 'cats'; known: penguins, digits" in message
    assert [p.name for p in (base / "processing").rglob("*") if p.is_file()] == ["penguins.csv"]


def test_a_pipeline_without_workload_json_is_penguins(tmp_path):
    module, facts = workloads.read(tmp_path, "channel pipeline")
    assert module.NAME == "penguins" and facts == {"workload": "penguins"}


@pytest.mark.parametrize(("content", "named"), [
    ("{not json", "cannot read workload.json"),
    ('{"name": "digits"}', 'workload.json has no "workload" name'),
    ('{"workload": "cats"}', "unknown workload 'cats'"),
])
def test_a_bad_workload_json_is_named(tmp_path, content, named):
    (tmp_path / "workload.json").write_text(content)
    with pytest.raises(train.JobError, match=named):
        workloads.read(tmp_path, "channel pipeline")


def test_every_registered_workload_implements_the_interface():
    for name in workloads.WORKLOADS:
        module = workloads.get(name)
        assert name == module.NAME
        for attribute in ("process_outputs", "training_data", "network", "export", "test_data"):
            assert callable(getattr(module, attribute)), (name, attribute)
        assert set(module.DEFAULTS) == set(train.KINDS)
        assert module.TITLE and module.CLASS_WORD and isinstance(module.TEST_TENSOR, str)


def test_digits_processing_writes_pixel_csvs_and_the_workload_facts(processed_digits):
    out = processed_digits / "processing"
    facts = json.loads((out / "pipeline" / "workload.json").read_text())
    assert facts == {"workload": "digits", "height": 8, "width": 8, "pixel_max": 16.0,
                     "source": "sklearn"}
    sizes = {name: len((out / name / f"{name}.csv").read_text().splitlines())
             for name in ("train", "validation", "test")}
    assert sum(sizes.values()) == 1797  # scikit-learn's bundled digits, every one used
    assert abs(sizes["test"] / 1797 - 0.15) < 0.01
    first = (out / "train" / "train.csv").read_text().splitlines()[0].split(",")
    assert len(first) == 1 + 64 and first[0] in set("0123456789")


def test_digits_training_uses_its_defaults_and_writes_the_model(trained_digits):
    model = trained_digits / "model"
    names = {p.name for p in model.iterdir()}
    assert {"model.keras", "model.onnx", "labels.json", "model-card.json",
            "workload.json"} <= names
    assert not names & {"features.joblib", "features.json", "network.json"}
    card = json.loads((model / "model-card.json").read_text())
    assert card["workload"] == "digits"
    assert card["hyperparameters"] == {"epochs": 15, "batch_size": 32, "learning_rate": 0.003,
                                       "seed": 42}
    assert json.loads((model / "labels.json").read_text()) == list("0123456789")


def test_digits_graph_answers_as_keras_on_the_whole_test_split(processed_digits, trained_digits):
    import keras
    import onnxruntime

    from training.model import graph
    from training.workloads.digits import functions as digits
    from training.workloads.digits import workload as digits_workload

    model = trained_digits / "model"
    x, y = digits.read_csv(processed_digits / "processing" / "test" / "test.csv", 8, 8)
    expected = keras.models.load_model(model / "model.keras")(x, training=False).numpy()
    session = onnxruntime.InferenceSession(str(model / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": x})[0]
    # The evaluation job's scoring: the whole graph, its input the test split's pixels.
    assert (graph.scores(model / "model.onnx", digits_workload.TEST_TENSOR, x) == got).all()
    assert got.shape == expected.shape == (len(y), 10)
    assert np.abs(got - expected).max() <= train.AGREEMENT
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert (got.argmax(axis=1) == y).mean() >= 0.95
    signature = graph.read_signature(session)
    assert signature["image"] == {"input": "pixels", "height": 8, "width": 8, "max": 16.0}


def test_digits_evaluation_reaches_the_target_with_a_ten_by_ten_matrix(
        processed_digits, trained_digits, tmp_path, monkeypatch):
    root = tmp_path / "processing"
    shutil.copytree(processed_digits / "processing" / "test", root / "test")
    (root / "model").mkdir()
    shutil.copy(trained_digits / "output" / "model.tar.gz", root / "model")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert evaluate.main([]) == 0
    report = json.loads((root / "evaluation" / "evaluation.json").read_text())
    assert registry.read_accuracy(report, "evaluation.json") >= 0.95
    matrix = report["multiclass_classification_metrics"]["confusion_matrix"]
    assert list(matrix) == list("0123456789")
    assert all(list(row) == list("0123456789") for row in matrix.values())
    assert (root / "evaluation" / "confusion-matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_the_confusion_matrix_plot_takes_its_words_from_the_workload(monkeypatch):
    import matplotlib.axes

    said = []
    for method in ("set_title", "set_xlabel", "set_ylabel"):
        real = getattr(matplotlib.axes.Axes, method)
        monkeypatch.setattr(matplotlib.axes.Axes, method,
                            lambda self, text, *a, _real=real, **k: said.append(text)
                            or _real(self, text, *a, **k))
    labels = list("0123456789")
    matrix = {a: {p: int(a == p) for p in labels} for a in labels}
    digits = workloads.get("digits")
    assert evaluate.plot(matrix, labels, digits.TITLE, digits.CLASS_WORD)[:4] == b"\x89PNG"
    said = [text for text in said if text]  # the colour bar's empty label
    assert said == ["predicted digit", "actual digit", "Digits: confusion matrix (test split)"]
    assert not any("species" in text for text in said)


def test_digits_training_refuses_a_bad_pixel_csv_naming_file_and_line(
        processed_digits, tmp_path, monkeypatch):
    base = link_channels(tmp_path, processed_digits, ("pipeline",))
    (base / "input" / "data" / "train").mkdir()
    good = "3" + ",0" * 64 + "\n"
    (base / "input" / "data" / "train" / "part.csv").write_text(good + "3" + ",0" * 10 + "\n")
    (base / "model").mkdir()
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert "channel train: part.csv line 2" in failure
    assert list((base / "model").iterdir()) == []


def test_mnist_files_go_through_processing_and_training_as_28x28_images(tmp_path, monkeypatch):
    import onnxruntime

    from training.model import graph

    rng = np.random.default_rng(0)
    (tmp_path / "p" / "processing" / "input").mkdir(parents=True)
    for name, count in (("mnist_train.csv", 100), ("mnist_test.csv", 20)):
        labels = np.arange(count) % 10
        pixels = rng.integers(0, 256, (count, 784))
        rows = np.hstack([labels.reshape(-1, 1), pixels])
        np.savetxt(tmp_path / "p" / "processing" / "input" / name, rows, fmt="%d", delimiter=",")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "p"))
    assert process.main(["--workload", "digits"]) == 0
    out = tmp_path / "p" / "processing"
    assert json.loads((out / "pipeline" / "workload.json").read_text()) == {
        "workload": "digits", "height": 28, "width": 28, "pixel_max": 255.0, "source": "mnist"}
    assert len((out / "test" / "test.csv").read_text().splitlines()) == 20

    base = link_channels(tmp_path / "t", tmp_path / "p", hyperparameters={"epochs": "1"})
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert train.main() == 0
    session = onnxruntime.InferenceSession(str(base / "model" / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    signature = graph.read_signature(session)
    assert signature["inputs"] == [{"name": "pixels", "type": "float", "shape": [None, 28, 28]}]
    assert signature["image"]["max"] == 255.0
    got = session.run(None, {"pixels": np.full((2, 28, 28), 255.0, np.float32)})[0]
    assert got.shape == (2, 10) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
