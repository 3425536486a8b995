"""Multi-host training's pure parts: the cluster, TF_CONFIG, host resolution, sharding, the
worker waiting for the chief, and the hosts `make train INSTANCES=N` starts."""

import json
import re

import pytest

from pipeline.jobs import builtin
from pipeline.jobs import steps as jobs
from pipeline.runs.records import RunError
from training.contract.jobio import BASE_DIR_ENV, JobError
from training.jobs import process
from training.model import distributed
from training.model.distributed import Cluster

pytestmark = pytest.mark.training


def write_resourceconfig(base, config):
    folder = base / "input" / "config"
    folder.mkdir(parents=True)
    (folder / "resourceconfig.json").write_text(json.dumps(config))


def test_cluster_comes_from_resourceconfig_with_hosts_sorted(tmp_path):
    write_resourceconfig(tmp_path, {"current_host": "algo-2", "hosts": ["algo-2", "algo-1"],
                                    "network_interface_name": "eth0"})
    cluster = distributed.read_cluster(tmp_path, environ={})
    assert cluster.hosts == ("algo-1", "algo-2")
    assert (cluster.index, cluster.multi, cluster.chief) == (1, True, False)


def test_cluster_falls_back_to_sm_hosts_then_to_one_host(tmp_path):
    environ = {"SM_HOSTS": '["algo-1", "algo-2"]', "SM_CURRENT_HOST": "algo-1"}
    assert distributed.read_cluster(tmp_path, environ) == Cluster(("algo-1", "algo-2"), "algo-1")
    single = distributed.read_cluster(tmp_path, environ={})
    assert (single.multi, single.chief) == (False, True)


@pytest.mark.parametrize(("config", "named"), [
    ({"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}, "algo-3"),
    ({"current_host": "algo-1", "hosts": []}, "hosts"),
    ({"current_host": "algo-1", "hosts": "algo-1"}, "hosts"),
], ids=["current-not-listed", "no-hosts", "hosts-not-a-list"])
def test_inconsistent_resourceconfig_is_a_job_error_naming_the_field(tmp_path, config, named):
    write_resourceconfig(tmp_path, config)
    with pytest.raises(JobError, match=named):
        distributed.read_cluster(tmp_path, environ={})


def test_tf_config_is_built_as_sagemaker_tensorflow_containers_build_it():
    config = distributed.tf_config(Cluster(("algo-1", "algo-2"), "algo-2"))
    assert config == {"cluster": {"worker": ["algo-1:8890", "algo-2:8890"]},
                      "environment": "cloud", "task": {"type": "worker", "index": 1}}


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_hosts_that_resolve_late_are_retried_until_they_do():
    clock, calls = FakeClock(), {"algo-2": 0}

    def resolver(host):
        if host == "algo-2":
            calls[host] += 1
            if calls[host] < 4:
                raise OSError("Name or service not known")
        return f"10.0.0.{host[-1]}"

    found = distributed.resolve(["algo-1", "algo-2"], resolver, seconds=60,
                                sleep=clock.sleep, clock=lambda: clock.now)
    assert found == {"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"}
    assert calls["algo-2"] == 4 and clock.sleeps == [0.5, 1, 2]


def test_a_host_that_never_resolves_fails_within_the_bound_naming_it():
    clock = FakeClock()

    def resolver(host):
        raise OSError("Name or service not known")

    with pytest.raises(JobError, match="algo-2 did not resolve within 10 s"):
        distributed.resolve(["algo-2"], resolver, seconds=10, sleep=clock.sleep,
                            clock=lambda: clock.now)
    assert 10 <= clock.now <= 15


@pytest.mark.parametrize(("count", "workers"), [(10, 2), (11, 2), (241, 3), (5, 1)])
def test_shards_are_disjoint_equal_sized_and_cover_all_but_the_remainder(count, workers):
    rows = [list(range(count))[distributed.shard(count, index, workers)]
            for index in range(workers)]
    assert len({len(part) for part in rows}) == 1  # every worker runs the same steps
    flat = sorted(row for part in rows for row in part)
    assert flat == sorted(set(flat)) and len(flat) == count - count % workers


def test_too_few_rows_for_the_hosts_is_a_job_error():
    with pytest.raises(JobError, match="3 rows cannot be shared among 4 hosts"):
        distributed.shard(3, 0, 4)


def test_the_collective_timeout_is_sixty_seconds_unless_the_variable_says_otherwise():
    assert distributed.collective_timeout({}) == distributed.COLLECTIVE_TIMEOUT_SECONDS == 60
    assert distributed.collective_timeout({"COLLECTIVE_TIMEOUT_SECONDS": "7.5"}) == 7.5


@pytest.mark.parametrize("text", ["0", "-3", "ten", "nan", "inf", ""])
def test_a_collective_timeout_that_is_no_positive_number_of_seconds_is_named(text):
    with pytest.raises(JobError) as raised:
        distributed.collective_timeout({"COLLECTIVE_TIMEOUT_SECONDS": text})
    assert str(raised.value).startswith(f"COLLECTIVE_TIMEOUT_SECONDS={text!r} is not a number "
                                        "of seconds greater than 0")


def test_failure_message_names_this_host_and_the_peer_tensorflow_blames():
    cluster = Cluster(("algo-1", "algo-2"), "algo-1")
    error = RuntimeError("Collective ops is aborted by: task /job:worker/replica:0/task:1 "
                         "heartbeat timeout")
    assert distributed.failure_message(cluster, "unexpected RuntimeError", error) == (
        "host algo-1: host algo-2 failed or stopped answering: unexpected RuntimeError")
    assert distributed.failure_message(cluster, "channel train: no CSV file") == (
        "host algo-1: channel train: no CSV file")
    assert distributed.failure_message(Cluster(("algo-1",), "algo-1"), "bad") == "bad"


@pytest.mark.parametrize("hosts, blamed", [(("algo-1", "algo-2"), "host algo-2"),
                                           (("algo-1", "algo-2", "algo-3"),
                                            "one of hosts algo-2, algo-3")])
def test_a_collective_timeout_blames_the_other_hosts_though_it_names_only_this_one(hosts,
                                                                                   blamed):
    # What TensorFlow said when a killed peer's collective timed out: task:0 is this host.
    error = RuntimeError("{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_"
                         "/job:worker/replica:0/task:0/device:CPU:0}} Collective has timed out "
                         "during execution. [Op:CollectiveReduceV2] name:")
    assert distributed.failure_message(Cluster(hosts, "algo-1"), "unexpected E", error) == (
        f"host algo-1: {blamed} failed or stopped answering: unexpected E")


def test_a_finished_worker_waits_until_the_chief_stops_answering():
    clock, answers = FakeClock(), [None, None, OSError("Connection refused")]
    called = []

    def connect(address, timeout):
        called.append(address)
        answer = answers.pop(0)
        if answer:
            raise answer
        return FakeSocket()

    cluster = Cluster(("algo-1", "algo-2"), "algo-2")
    assert distributed.wait_for_chief(cluster, [], connect, seconds=60, sleep=clock.sleep,
                                      clock=lambda: clock.now)
    assert called == [("algo-1", distributed.PORT)] * 3 and clock.now == 2


def test_a_worker_stops_waiting_for_the_chief_at_the_bound_or_at_sigterm():
    clock = FakeClock()
    cluster = Cluster(("algo-1", "algo-2"), "algo-2")
    always_up = lambda address, timeout: FakeSocket()  # noqa: E731
    assert not distributed.wait_for_chief(cluster, [], always_up, seconds=5,
                                          sleep=clock.sleep, clock=lambda: clock.now)
    assert 5 <= clock.now <= 6
    assert not distributed.wait_for_chief(cluster, ["SIGTERM"], always_up, seconds=5,
                                          sleep=clock.sleep, clock=lambda: clock.now)


class FakeSocket:
    def close(self):
        pass


# make train INSTANCES=N: the training job's ResourceConfig.InstanceCount, its hosts the job
# runner's (pipeline/api/hosts.py).


@pytest.mark.pipeline
@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "1.5"])
def test_instances_that_are_not_a_count_of_hosts_are_refused_naming_instances(text):
    with pytest.raises(RunError, match=f"INSTANCES='{re.escape(text)}': give the number"):
        builtin.instance_count(text)


@pytest.mark.pipeline
def test_make_train_instances_is_the_requests_instance_count_and_the_runners_hosts(tmp_path):
    from pipeline.runs import records as runs

    local = tmp_path / "local"
    source = runs.create(local, "processing", "penguins")
    for channel in builtin.CHANNELS:
        (source.folder / "processing" / channel).mkdir(parents=True)
    runs.finish(source, 0)
    # A docker that runs no container: every host exits 0 at once.
    code = jobs.main(["train", "--local", str(local), "--compose", "docker-compose -p test",
                      "--docker", "true", "--instances", "3"])
    assert code == 0
    run = runs.runs(local, "training")[0]
    request = json.loads((run.folder / "request.json").read_text())
    assert request["ResourceConfig"]["InstanceCount"] == 3
    services = json.loads((run.folder / "compose.json").read_text())["services"]
    assert sorted(services) == ["algo-1", "algo-2", "algo-3"]
    for host in ("algo-2", "algo-3"):
        config = json.loads((run.folder / "hosts" / host / "input" / "config" /
                             "resourceconfig.json").read_text())
        assert config["current_host"] == host and config["hosts"] == sorted(services)


def test_a_worker_of_a_processing_job_waits_to_see_the_chief_up_then_gone():
    clock, answers = FakeClock(), [OSError("refused"), None, None, OSError("refused")]

    def connect(address, timeout):
        answer = answers.pop(0)
        if answer:
            raise answer
        return FakeSocket()

    cluster = Cluster(("algo-1", "algo-2"), "algo-2")
    assert distributed.wait_for_chief(cluster, [], connect, seconds=60, sleep=clock.sleep,
                                      clock=lambda: clock.now, seen=False)
    assert answers == [] and clock.now == 3


def test_a_chief_never_seen_up_is_waited_for_at_most_the_resolve_bound():
    clock = FakeClock()

    def refused(address, timeout):
        raise OSError("refused")

    cluster = Cluster(("algo-1", "algo-2"), "algo-2")
    assert not distributed.wait_for_chief(cluster, [], refused, seconds=900, sleep=clock.sleep,
                                          clock=lambda: clock.now, seen=False)
    assert distributed.RESOLVE_SECONDS <= clock.now <= distributed.RESOLVE_SECONDS + 1


# Processing with several instances (training/jobs/process.py): only the first host processes.


def processing_config(base, host, inputs=()):
    folder = base / "config"
    folder.mkdir(parents=True)
    (folder / "resourceconfig.json").write_text(json.dumps(
        {"current_host": host, "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"}))
    (folder / "processingjobconfig.json").write_text(json.dumps({"ProcessingInputs": [
        {"InputName": name, "S3Input": {"S3DataDistributionType": kind}}
        for name, kind in inputs]}))


def test_processing_with_one_instance_processes_as_before(tmp_path):
    assert process.first_host(tmp_path) == (True, None)


def test_the_first_processing_host_processes_with_its_port_open(tmp_path):
    processing_config(tmp_path, "algo-1", [("input", "FullyReplicated")])
    processes, listening = process.first_host(tmp_path)
    try:
        assert processes and listening.getsockname()[1] == distributed.PORT
    finally:
        listening.close()


def test_other_processing_hosts_wait_for_the_first_and_process_nothing(tmp_path, monkeypatch):
    processing_config(tmp_path, "algo-2")
    waited = []
    monkeypatch.setattr(distributed, "wait_for_chief",
                        lambda cluster, stop, seen: waited.append((cluster.current, seen)))
    monkeypatch.setenv(BASE_DIR_ENV, str(tmp_path))
    assert process.main(["--seed", "1"]) == 0
    assert waited == [("algo-2", False)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config"]  # nothing written


def test_a_sharded_input_over_several_processing_hosts_is_refused_naming_it(tmp_path):
    processing_config(tmp_path, "algo-1", [("input", "ShardedByS3Key")])
    with pytest.raises(JobError, match="input input is ShardedByS3Key over 2 instances"):
        process.first_host(tmp_path)
