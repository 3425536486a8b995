"""model.onnx beside the model a user's script saved (training/jobs/export.py), in-process:
asked for by hyperparameter or variable, converted, checked against the framework, or the job
fails naming why."""

import json
import tarfile

import numpy as np
import onnxruntime
import pytest
from unit.test_script_runner import job

from training.contract.jobio import JobError
from training.jobs import export, train

pytestmark = pytest.mark.training

SAVE_ESTIMATOR = """
import os, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
x = np.random.default_rng(1).normal(size=(60, 4)); y = (x[:, 0] + x[:, 2] > 0).astype(int)
folder = os.environ["SM_MODEL_DIR"]
joblib.dump(LogisticRegression().fit(x, y), os.path.join(folder, "model.joblib"))
"""


@pytest.mark.parametrize(("hyperparameters", "environ", "asked"), [
    ({}, {}, False),
    ({"sagemaker_export_onnx": "true"}, {}, True),
    ({"sagemaker_export_onnx": '"True"'}, {}, True),  # as a framework estimator JSON-encodes it
    ({"sagemaker_export_onnx": True}, {}, True),
    ({}, {"SAGEMAKER_EXPORT_ONNX": "1"}, True),
    ({"sagemaker_export_onnx": "true"}, {"SAGEMAKER_EXPORT_ONNX": "0"}, False),
])
def test_export_is_asked_by_hyperparameter_or_variable(hyperparameters, environ, asked):
    assert export.requested(hyperparameters, environ) is asked


def test_an_unclear_request_names_the_setting():
    with pytest.raises(JobError, match="sagemaker_export_onnx='maybe': give true or false"):
        export.requested({"sagemaker_export_onnx": "maybe"}, {})


def test_a_script_mode_job_adds_a_checked_model_onnx_beside_the_estimator(tmp_path,
                                                                          monkeypatch, capsys):
    base, _ = job(tmp_path, monkeypatch, {"train.py": SAVE_ESTIMATOR},
                  {"sagemaker_program": "train.py", "sagemaker_export_onnx": "true"})
    monkeypatch.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 0
    assert "agrees with the framework's own predictions within 1e-05" in capsys.readouterr().out
    with tarfile.open(base / "output" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["model.joblib", "model.onnx"]
    import joblib

    estimator = joblib.load(base / "model" / "model.joblib")
    rows = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    session = onnxruntime.InferenceSession(str(base / "model" / "model.onnx"))
    label, probabilities = session.run(None, {"input": rows})
    assert label.tolist() == estimator.predict(rows).tolist()
    assert np.allclose(probabilities, estimator.predict_proba(rows), atol=1e-5)


def test_a_savedmodel_in_a_version_folder_is_converted_from_its_serving_signature(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.export(str(tmp_path / "001"), verbose=False)
    (tmp_path / "001" / "extra").mkdir(exist_ok=True)  # the script's other files stay
    line = export.export(tmp_path)
    assert "from 001 (tf2onnx, serving signature)" in line
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    rows = np.ones((2, 3), "float32")
    (name,) = [node.name for node in session.get_inputs()]
    assert np.allclose(session.run(None, {name: rows})[0], model.predict(rows, verbose=0),
                       atol=1e-5)


def test_a_model_onnx_the_script_wrote_is_left_as_it_is(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"the script's own")
    assert "left as it is" in export.export(tmp_path)
    assert (tmp_path / "model.onnx").read_bytes() == b"the script's own"


@pytest.mark.parametrize(("files", "words"), [
    ({"weights.bin": b"x"}, "no model to convert in"),
    ({"a.joblib": b"x", "b.pkl": b"x"}, "holds several models (a.joblib, b.pkl)"),
    ({"model.joblib": b"not a pickle"}, "cannot load model.joblib"),
])
def test_nothing_convertible_fails_naming_the_folder_and_files(tmp_path, files, words):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(JobError, match="sagemaker_export_onnx: ") as error:
        export.export(tmp_path)
    assert words in str(error.value)
    assert not (tmp_path / "model.onnx").exists()


def test_an_estimator_skl2onnx_cannot_convert_fails_the_job_by_name(tmp_path, monkeypatch):
    unsupported = SAVE_ESTIMATOR.replace(
        "from sklearn.linear_model import LogisticRegression",
        "from sklearn.semi_supervised import SelfTrainingClassifier as S\n"
        "from sklearn.svm import SVC\nLogisticRegression = lambda: S(SVC(probability=True))")
    base, _ = job(tmp_path, monkeypatch, {"train.py": unsupported},
                  {"sagemaker_program": "train.py", "sagemaker_export_onnx": json.dumps(True)})
    monkeypatch.setenv("MODEL_ARCHIVE", str(base / "output" / "model.tar.gz"))
    assert train.main() == 1
    failure = (base / "output" / "failure").read_text()
    assert failure.startswith("sagemaker_export_onnx: skl2onnx cannot convert model.joblib "
                              "(SelfTrainingClassifier)")
    assert not (base / "output" / "model.tar.gz").exists()
    assert not (base / "model" / "model.onnx").exists()
