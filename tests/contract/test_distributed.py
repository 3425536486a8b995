"""Training across hosts, as SageMaker runs instance_count=N: algo-1, algo-2 … on one internal
network, each with its own /opt/ml; through the harness (two hosts) and `make train INSTANCES=`."""

import json
import re
import shutil
import subprocess
import tarfile
import time

import pytest
import requests

from training.contract.archive import extract
from training.jobs.train import METRIC_DEFINITIONS

from harness import LABELS, REPO, TRAINING_IMAGE, Endpoint, filed_runs, training_tree

HOSTS = ("algo-1", "algo-2")
# The tests of a lost host wait this long for its collective (the image's default is 60 s).
COLLECTIVE_TIMEOUT = {"COLLECTIVE_TIMEOUT_SECONDS": "10"}
FAILURE_BOUND_SECONDS = 100  # that timeout plus start-up on a busy 2-core machine
# Two hosts at the single host's learning rate (0.01, 50 epochs) times the linear scaling rule's
# factor of 2 reach the single-host gate; so do 15 epochs at 0.1, in a third of the time.
FEW_EPOCHS = {"epochs": "15", "learning_rate": "0.1"}


class Cluster:
    """Training containers (two hosts unless told) on an internal network, started together;
    tests/bench.py times Digits with it."""

    def __init__(self, client, tmp_path, processed, hyperparameters, channels_of=None,
                 hosts=HOSTS, environment=None):
        self.network = client.networks.create(f"penguins-test-{time.monotonic_ns()}",
                                              internal=True, labels=LABELS)
        self.roots, self.containers = {}, {}
        try:
            for host in hosts:
                root = tmp_path / host
                volumes = training_tree(root, (channels_of or {}).get(host, processed),
                                        hyperparameters)
                (root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(
                    {"current_host": host, "hosts": list(hosts),
                     "network_interface_name": "eth0"}))
                self.roots[host] = root
                self.containers[host] = client.containers.create(
                    TRAINING_IMAGE, "train", labels=LABELS, hostname=host,
                    name=f"{self.network.name}-{host}",
                    environment={"MODEL_ARCHIVE": "/opt/ml/output/model.tar.gz",
                                 **(environment or {})},
                    volumes={str(h): {"bind": b, "mode": m} for h, (b, m) in volumes.items()},
                    network=self.network.name, networking_config={self.network.name:
                        client.api.create_endpoint_config(aliases=[host])})
            for container in self.containers.values():
                container.start()
        except BaseException:
            self.remove()
            raise

    def wait(self, timeout=600) -> dict:
        return {host: c.wait(timeout=timeout)["StatusCode"] for host, c in self.containers.items()}

    def logs(self, host) -> str:
        return self.containers[host].logs().decode("utf-8", "replace")

    def remove(self):
        for container in self.containers.values():
            container.remove(force=True)
        self.network.remove()


@pytest.fixture
def cluster_of(docker_client, tmp_path, processed):
    made = []

    def start(hyperparameters, channels_of=None, environment=None):
        made.append(Cluster(docker_client, tmp_path, processed, hyperparameters, channels_of,
                            environment=environment))
        return made[-1]

    yield start
    for cluster in made:
        cluster.remove()


def test_two_hosts_train_one_model_that_serves_and_only_the_chief_writes(
        cluster_of, docker_client, tmp_path):
    # Two hosts take half the steps per epoch (batch_size is per host): the linear scaling
    # rule doubles the learning rate to match one host's model.
    cluster = cluster_of(FEW_EPOCHS)
    codes = cluster.wait()
    assert codes == {"algo-1": 0, "algo-2": 0}, cluster.logs("algo-1") + cluster.logs("algo-2")
    chief, worker = cluster.roots["algo-1"], cluster.roots["algo-2"]
    archive = chief / "output" / "model.tar.gz"
    with tarfile.open(archive) as tar:
        assert "model.onnx" in tar.getnames()
    assert list((worker / "model").iterdir()) == []
    assert list((worker / "output").iterdir()) == []
    assert list((worker / "checkpoints").iterdir()) == []
    assert list((chief / "checkpoints").iterdir())
    regex = next(d["Regex"] for d in METRIC_DEFINITIONS if d["Name"] == "validation:accuracy")
    card = json.loads((chief / "model" / "model-card.json").read_text())
    lines = re.findall(regex, cluster.logs("algo-1"))
    assert len(lines) == card["hyperparameters"]["epochs"]
    assert re.findall(regex, cluster.logs("algo-2")) == []
    assert card["metrics"]["val_accuracy"] >= 0.9  # the single-host gate

    served = tmp_path / "served"
    extract(archive, served)
    endpoint = Endpoint(docker_client, served)
    try:
        endpoint.wait_ready()
        sample = json.loads((served / "sample.json").read_text())
        answer = requests.post(f"{endpoint.url}/invocations", json=sample, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        endpoint.remove()


def test_a_killed_worker_fails_the_job_on_both_hosts_naming_the_host(cluster_of):
    cluster = cluster_of({"epochs": "100000"}, environment=COLLECTIVE_TIMEOUT)
    deadline = time.monotonic() + 240
    while "epoch=1/" not in cluster.logs("algo-1"):
        assert time.monotonic() < deadline, cluster.logs("algo-1")
        time.sleep(0.5)
    cluster.containers["algo-2"].kill()
    killed = time.monotonic()
    code = cluster.containers["algo-1"].wait(timeout=FAILURE_BOUND_SECONDS)["StatusCode"]
    assert time.monotonic() - killed < FAILURE_BOUND_SECONDS
    assert code != 0
    failure = (cluster.roots["algo-1"] / "output" / "failure").read_text()
    assert failure.startswith("host algo-1: host algo-2 failed or stopped answering"), failure
    assert not (cluster.roots["algo-1"] / "output" / "model.tar.gz").exists()


def test_bad_data_on_one_host_fails_the_job_on_both_hosts_naming_the_host_and_the_cause(
        cluster_of, processed, tmp_path):
    bad = tmp_path / "bad"
    for name in ("train", "validation", "pipeline"):
        shutil.copytree(processed / "processing" / name, bad / "processing" / name)
    train = next((bad / "processing" / "train").glob("*.csv"))
    lines = train.read_text().splitlines()
    width = len(lines[0].split(","))
    train.write_text("\n".join(lines + ["0," + ",".join(["oops"] * (width - 1))]) + "\n")
    cluster = cluster_of({"epochs": "100000"}, channels_of={"algo-2": bad},
                         environment=COLLECTIVE_TIMEOUT)
    started = time.monotonic()
    codes = cluster.wait(timeout=FAILURE_BOUND_SECONDS + 120)
    assert time.monotonic() - started < FAILURE_BOUND_SECONDS + 120
    assert codes["algo-1"] != 0 and codes["algo-2"] != 0, codes
    cause = f"channel train: {train.name} line {len(lines) + 1} column 2 is not a number"
    failure = (cluster.roots["algo-2"] / "output" / "failure").read_text()
    assert failure.startswith(f"host algo-2: {cause}"), failure
    chief = (cluster.roots["algo-1"] / "output" / "failure").read_text()
    assert chief.startswith("host algo-1: host algo-2 failed or stopped answering"), chief
    assert not (cluster.roots["algo-1"] / "output" / "model.tar.gz").exists()


def make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def test_make_train_with_three_instances_runs_three_hosts_and_trains_one_model(
        tmp_path, compose_project, processed):
    settings = [f"LOCAL_DIR={tmp_path}", f"COMPOSE_PROJECT={compose_project}"]
    filed_runs(tmp_path, processed)
    # Three hosts' plumbing through make; the two-host test above holds multi-host training to
    # the single host's accuracy, so few epochs here.
    done = make("train", *settings, "INSTANCES=3", "EPOCHS=3", "LEARNING_RATE=0.15")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = (tmp_path / "training").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "Completed" and 0 < record["metric"]["value"] <= 1
    assert record["metric"]["name"] == "validation:accuracy"
    # INSTANCES is the request's InstanceCount; the job runner's compose file has each host.
    request = json.loads((run / "request.json").read_text())
    assert request["ResourceConfig"]["InstanceCount"] == 3
    assert sorted(json.loads((run / "compose.json").read_text())["services"]) == [
        "algo-1", "algo-2", "algo-3"]
    for host in ("algo-2", "algo-3"):
        folder = run / "hosts" / host
        config = json.loads((folder / "input" / "config" / "resourceconfig.json").read_text())
        assert config == {"current_host": host, "hosts": ["algo-1", "algo-2", "algo-3"],
                          "network_interface_name": "eth0"}
        assert list((folder / "model").iterdir()) == []
        assert f"host {host} done" in (folder / "logs.txt").read_text()
    with tarfile.open(run / "output" / "model.tar.gz") as tar:
        assert "model.onnx" in tar.getnames()


@pytest.mark.parametrize("instances", ["0", "abc"])
def test_make_train_refuses_instances_that_are_not_a_count_before_any_run(tmp_path, instances):
    done = make("train", f"LOCAL_DIR={tmp_path}", f"INSTANCES={instances}")
    assert done.returncode != 0
    assert f"INSTANCES='{instances}': give the number of training hosts" in done.stderr
    assert not (tmp_path / "training").exists()
