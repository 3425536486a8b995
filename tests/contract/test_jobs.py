"""Processing, training and evaluation images on the SageMaker job contract."""

import json
import re
import tarfile
import time

import pytest

from training.jobs.train import METRIC_DEFINITIONS

import job_cases
from harness import (
    PROCESSING_IMAGE,
    TRAINING_IMAGE,
    processing_tree,
    run_job,
    run_processing,
    training_tree,
)

OUTPUTS = ("train", "validation", "test", "pipeline", "baseline")


def output_files(root):
    return sorted(
        str(path.relative_to(root))
        for name in OUTPUTS
        for path in (root / "processing" / name).rglob("*")
        if path.is_file()
    )


# Processing


def test_processing_writes_splits_transformers_and_baselines(processed):
    out = processed / "processing"
    rows = {name: (out / name / f"{name}.csv").read_text().splitlines() for name in
            ("train", "validation", "test")}
    total = sum(len(lines) for lines in rows.values())
    assert total == 344  # every palmerpenguins row has a species; missing measurements are imputed
    assert abs(len(rows["train"]) / total - 0.70) < 0.02
    assert abs(len(rows["test"]) / total - 0.15) < 0.02
    first = rows["train"][0].split(",")
    assert first[0] in {"0", "1", "2", "0.0", "1.0", "2.0"}  # label first, encoded
    assert len(first) == 1 + 4 + 3 + 3  # label, numeric, island one-hot, sex one-hot (+ missing)
    assert {p.name for p in (out / "pipeline").iterdir()} >= {"features.joblib", "target.joblib"}
    baseline = (out / "baseline" / "train-baseline.csv").read_text().splitlines()
    assert "species" not in baseline[0] and "island" in baseline[0]
    assert "species" in (out / "baseline" / "test-baseline.csv").read_text().splitlines()[0]


def test_processing_split_is_seeded(docker_client, processed, tmp_path):
    again = processing_tree(tmp_path / "again")
    assert run_processing(docker_client, again, "--seed", "42").exit_code == 0
    for name in ("train", "test"):
        path = f"processing/{name}/{name}.csv"
        assert (again / path).read_text() == (processed / path).read_text()


# One row of each failure class through the image; tests/unit runs every row in-process.
@pytest.mark.parametrize("case", job_cases.contract(job_cases.PROCESSING_FAILURES),
                         ids=job_cases.ids)
def test_processing_bad_input_fails_cleanly(docker_client, tmp_path, case):
    root = processing_tree(tmp_path, case.csv_text)
    result = run_processing(docker_client, root)
    assert result.exit_code != 0
    message = (root / "output" / "message").read_text()
    assert case.named in message and "\n" not in message.strip()
    assert output_files(root) == []


def test_processing_refuses_an_unknown_workload_naming_the_known_ones(docker_client, tmp_path):
    root = processing_tree(tmp_path)
    result = run_processing(docker_client, root, "--workload", "cats")
    assert result.exit_code != 0
    message = (root / "output" / "message").read_text()
    assert "unknown workload 'cats'; known: penguins, digits" in message
    assert output_files(root) == []


def test_digits_processing_writes_pixel_csvs_and_the_workload_facts(processed_digits):
    out = processed_digits / "processing"
    facts = json.loads((out / "pipeline" / "workload.json").read_text())
    assert facts == {"workload": "digits", "height": 8, "width": 8, "pixel_max": 16.0,
                     "source": "sklearn"}
    rows = {name: (out / name / f"{name}.csv").read_text().splitlines()
            for name in ("train", "validation", "test")}
    assert sum(len(lines) for lines in rows.values()) == 1797
    first = rows["train"][0].split(",")
    assert len(first) == 1 + 8 * 8 and first[0] in set("0123456789")


# Training


def test_digits_training_writes_one_graph_with_an_image_signature(trained_digits):
    import onnx

    model = trained_digits / "model"
    assert json.loads((model / "workload.json").read_text())["workload"] == "digits"
    card = json.loads((model / "model-card.json").read_text())
    assert card["hyperparameters"]["epochs"] == 15
    logs = (trained_digits / "logs.txt").read_text()
    for definition in METRIC_DEFINITIONS:
        assert len(re.findall(definition["Regex"], logs)) == 15, definition
    signature = json.loads({p.key: p.value for p in onnx.load(
        str(model / "model.onnx")).metadata_props}["sagemaker_signature"])
    assert signature["inputs"] == [{"name": "pixels", "type": "float", "shape": [None, 8, 8]}]
    assert signature["labels"] == list("0123456789")
    assert signature["image"] == {"input": "pixels", "height": 8, "width": 8, "max": 16.0}
    with tarfile.open(trained_digits / "output" / "model.tar.gz") as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    assert {"model.onnx", "model.keras", "labels.json", "workload.json"} <= names


def test_training_writes_servable_model_and_archive(trained):
    model = trained / "model"
    assert {"model.keras", "model.onnx", "labels.json", "model-card.json", "sample.json",
            "features.joblib", "target.joblib"} <= {p.name for p in model.iterdir()}
    assert json.loads((model / "labels.json").read_text()) == ["Adelie", "Chinstrap", "Gentoo"]
    card = json.loads((model / "model-card.json").read_text())
    assert card["hyperparameters"]["epochs"] == 50
    with tarfile.open(trained / "output" / "model.tar.gz") as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    assert {"model.onnx", "labels.json", "workload.json", "sample.json"} <= names
    assert not any("/" in name for name in names if name not in {"", "."})
    assert not (trained / "output" / "failure").exists()


def test_training_prints_metrics_the_documented_regexes_read(trained):
    logs = (trained / "logs.txt").read_text()
    for definition in METRIC_DEFINITIONS:
        values = re.findall(definition["Regex"], logs)
        assert len(values) == 50, definition
        assert all(0 <= float(value) < 100 for value in values)


def test_job_logs_hold_no_tensorflow_start_up_notices(trained, evaluated):
    logs = {"training": (trained / "logs.txt").read_text(),
            "evaluation": (evaluated.parent.parent / "logs.txt").read_text()}
    assert "epoch=50/50" in logs["training"] and "test accuracy=" in logs["evaluation"]
    for job, text in logs.items():
        noise = re.findall(r"^.*(?:oneDNN|absl|cpu_feature_guard).*$", text, re.M)
        assert noise == [], (job, noise)


def test_training_accepts_sdk_double_encoded_hyperparameters(docker_client, processed, tmp_path):
    hps = {"epochs": '"2"', "batch_size": '"16"', "learning_rate": "0.05", "seed": "7",
           "sagemaker_region": '"us-east-1"', "_tuning_objective_metric": "validation:accuracy"}
    volumes = training_tree(tmp_path, processed, hps)
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes)
    assert result.exit_code == 0, result.logs
    assert len(re.findall(r"^epoch=\d+/2 ", result.logs, re.M)) == 2
    card = json.loads((tmp_path / "model" / "model-card.json").read_text())
    assert card["hyperparameters"]["batch_size"] == 16


def test_training_without_validation_channel_has_no_val_metrics(docker_client, processed, tmp_path):
    volumes = training_tree(tmp_path, processed, {"epochs": "1"}, channels=("train", "pipeline"))
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes)
    assert result.exit_code == 0, result.logs
    assert "train_loss=" in result.logs and "val_loss=" not in result.logs


@pytest.mark.parametrize("case", job_cases.contract(job_cases.HYPERPARAMETER_FAILURES)
                         + job_cases.contract(job_cases.CHANNEL_FAILURES), ids=job_cases.ids)
def test_training_failure_names_the_cause(docker_client, processed, tmp_path, case):
    volumes = training_tree(tmp_path, processed, case.hyperparameters, case.channels)
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes)
    assert result.exit_code != 0
    assert result.seconds < 30
    assert case.named in (tmp_path / "output" / "failure").read_text()
    assert list((tmp_path / "model").iterdir()) == []


@pytest.mark.parametrize("case", job_cases.contract(job_cases.TRAIN_CSV_FAILURES),
                         ids=job_cases.ids)
def test_training_rejects_bad_csv(docker_client, processed, tmp_path, case):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    (data / "train" / "train.csv").write_text(job_cases.GOOD_TRAIN_LINE + case.line)
    volumes = training_tree(tmp_path / "ml", processed, {}, channels=("pipeline",))
    volumes[data / "train"] = ("/opt/ml/input/data/train", "ro")
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes)
    assert result.exit_code != 0
    failure = (tmp_path / "ml" / "output" / "failure").read_text()
    assert f"channel train: train.csv line 2 {case.says}" in failure
    assert list((tmp_path / "ml" / "model").iterdir()) == []


def epoch_numbers(logs: str, epochs) -> list[int]:
    return [int(k) for k in re.findall(rf"^epoch=(\d+)/{epochs} ", logs, re.M)]


def test_sigterm_checkpoints_and_restart_resumes(docker_client, processed, trained, tmp_path):
    volumes = training_tree(tmp_path, processed, {"epochs": "100000"})
    container = docker_client.containers.run(
        TRAINING_IMAGE, "train", detach=True, network_mode="none",
        labels={"penguins.test": "1"},
        volumes={str(h): {"bind": b, "mode": m} for h, (b, m) in volumes.items()},
    )
    try:
        deadline = time.monotonic() + 60
        while b"epoch=3/" not in container.logs():
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        stopped = time.monotonic()
        container.kill(signal="SIGTERM")
        status = container.wait(timeout=120)
        assert time.monotonic() - stopped < 30
        assert status["StatusCode"] != 0
        first = container.logs().decode()
    finally:
        container.remove(force=True)
    assert "SIGTERM" in (tmp_path / "output" / "failure").read_text()
    saved = json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"]
    # The epoch SIGTERM cut short is neither logged nor checkpointed.
    assert epoch_numbers(first, 100000) == list(range(1, saved + 1)), first

    (tmp_path / "output" / "failure").unlink()
    config = tmp_path / "input" / "config" / "hyperparameters.json"
    config.write_text(json.dumps({"epochs": "50"}))
    result = run_job(docker_client, TRAINING_IMAGE, "train", volumes, timeout=600)
    assert result.exit_code == 0, result.logs
    assert f"resuming from checkpoint at epoch {saved}\n" in result.logs
    # Over both runs, each epoch once: the lines of an uninterrupted job.
    assert epoch_numbers(first, 100000) + epoch_numbers(result.logs, 50) == list(range(1, 51))
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"] == 50
    # Interrupted and resumed, the model ends where an uninterrupted run does.
    resumed_card = json.loads((tmp_path / "model" / "model-card.json").read_text())
    whole_card = json.loads((trained / "model" / "model-card.json").read_text())
    assert abs(resumed_card["metrics"]["val_accuracy"]
               - whole_card["metrics"]["val_accuracy"]) <= 0.02


# Evaluation


WORKLOADS = {  # the fixtures of each workload's runs, and its class labels
    "penguins": ("processed", "trained", ["Adelie", "Chinstrap", "Gentoo"]),
    "digits": ("processed_digits", "trained_digits", list("0123456789")),
}


@pytest.fixture(scope="module", params=list(WORKLOADS))
def evaluated(request, docker_client, tmp_path_factory):
    processed_name, trained_name, _ = WORKLOADS[request.param]
    processed = request.getfixturevalue(processed_name)
    trained = request.getfixturevalue(trained_name)
    root = tmp_path_factory.mktemp(f"evaluation-{request.param}")
    (root / "processing" / "evaluation").mkdir(parents=True)
    (root / "output").mkdir()
    volumes = {
        root: ("/opt/ml", "rw"),
        processed / "processing" / "test": ("/opt/ml/processing/test", "ro"),
        trained / "output": ("/opt/ml/processing/model", "ro"),
    }
    result = run_job(docker_client, PROCESSING_IMAGE, [], volumes,
                     entrypoint=["/usr/bin/tini", "--", "evaluate"])
    assert result.exit_code == 0, result.logs
    (root / "logs.txt").write_text(result.logs)
    (root / "workload").write_text(request.param)
    return root / "processing" / "evaluation"


def test_evaluation_reports_registry_metrics_and_reaches_target(evaluated):
    labels = WORKLOADS[(evaluated.parent.parent / "workload").read_text()][2]
    report = json.loads((evaluated / "evaluation.json").read_text())
    metrics = report["multiclass_classification_metrics"]
    for name in ("accuracy", "weighted_precision", "weighted_recall", "weighted_f1"):
        assert 0 <= metrics[name]["value"] <= 1
    assert metrics["accuracy"]["value"] >= 0.95
    matrix = metrics["confusion_matrix"]
    assert list(matrix) == labels and all(list(row) == labels for row in matrix.values())
    support = sum(report["per_class"][name]["support"] for name in matrix)
    assert support == sum(sum(row.values()) for row in matrix.values())
    png = (evaluated / "confusion-matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_evaluation_without_model_names_the_file(docker_client, processed, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "output").mkdir()
    volumes = {
        tmp_path: ("/opt/ml", "rw"),
        processed / "processing" / "test": ("/opt/ml/processing/test", "ro"),
        tmp_path / "empty": ("/opt/ml/processing/model", "ro"),
    }
    result = run_job(docker_client, PROCESSING_IMAGE, [], volumes,
                     entrypoint=["/usr/bin/tini", "--", "evaluate"])
    assert result.exit_code != 0
    assert "model.tar.gz" in (tmp_path / "output" / "message").read_text()
