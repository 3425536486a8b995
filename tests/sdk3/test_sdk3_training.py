"""The SageMaker Python SDK 3.x as the client: ModelTrainer in LOCAL_CONTAINER mode trains with
the training image's own command (no `train` argument) on one host and on two, and the
model.tar.gz it packs serves in the serving image."""

import json
import re
import tarfile

import requests

from harness import Endpoint, served_model

# The epoch lines of training/jobs/train.py (METRIC_DEFINITIONS' validation:accuracy).
EPOCH_LINE = re.compile(r"epoch=(\d+)/(\d+)")


def archive_names(archive):
    with tarfile.open(archive) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


def assert_serves(client, archive, folder):
    """The archive, extracted as hosting does, answers a real record of its own sample."""
    model = served_model(archive, folder)
    endpoint = Endpoint(client, model)
    try:
        endpoint.wait_ready()
        sample = json.loads((model / "sample.json").read_text())
        answer = requests.post(f"{endpoint.url}/invocations", json=sample, timeout=10)
        assert answer.status_code == 200, answer.text
        labels = json.loads((model / "labels.json").read_text())
        results = answer.json()
        for result in results if isinstance(results, list) else [results]:
            assert result["prediction"] in labels, result
    finally:
        endpoint.remove()


def test_model_trainer_runs_the_image_without_a_train_argument_on_one_host(one_host):
    assert one_host.codes == {"algo-1": 0}, one_host.logs
    compose = (one_host.root / "docker-compose.yaml").read_text()
    assert "entrypoint" not in compose and "command" not in compose  # the image's own CMD
    epochs = EPOCH_LINE.findall(one_host.logs["algo-1"])
    assert len(epochs) == 20 and epochs[-1] == ("20", "20")


def test_the_one_host_model_tar_serves_a_real_record(one_host, docker_client, tmp_path):
    assert {"model.onnx", "labels.json", "model-card.json", "sample.json"} <= archive_names(
        one_host.archive)
    card = json.loads((one_host.root / "model" / "model-card.json").read_text())
    assert card["metrics"]["val_accuracy"] >= 0.9
    assert_serves(docker_client, one_host.archive, tmp_path / "model")


def test_two_hosts_train_one_model_written_by_the_chief_alone(two_hosts):
    assert two_hosts.codes == {"algo-1": 0, "algo-2": 0}, two_hosts.logs
    card = json.loads((two_hosts.root / "model" / "model-card.json").read_text())
    epochs = card["hyperparameters"]["epochs"]
    chief, worker = two_hosts.logs["algo-1"], two_hosts.logs["algo-2"]
    assert len(EPOCH_LINE.findall(chief)) == epochs
    assert f"training complete after {epochs} epochs; model in /opt/ml/model" in chief
    # Both hosts mount the same <root>/model (SDK 3.x): the worker trained its shard, printed
    # no epoch line, left the model to the chief and wrote nothing to its own output folder
    # (the SDK packs every host's output into output.tar.gz).
    assert "host algo-2 done; the model is the chief's (algo-1)" in worker
    assert EPOCH_LINE.findall(worker) == [] and "training complete" not in worker
    assert archive_names(two_hosts.root / "compressed_artifacts" / "output.tar.gz") <= {"data"}
    assert card["metrics"]["val_accuracy"] >= 0.9  # the single-host gate


def test_the_two_host_model_tar_serves_a_real_record(two_hosts, docker_client, tmp_path):
    assert "model.onnx" in archive_names(two_hosts.archive)
    assert_serves(docker_client, two_hosts.archive, tmp_path / "model")
