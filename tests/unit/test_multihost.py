"""Multi-host training's pure parts: the cluster, TF_CONFIG, host resolution, sharding, the
worker waiting for the chief, and the hosts `make train INSTANCES=N` starts."""

import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline.jobs import steps as jobs
from pipeline.jobs import training as trainingjob
from pipeline.runs import jobrun
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


# make train INSTANCES=N (pipeline/jobs/training.py): the hosts, and those docker-compose.yml lacks.

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.pipeline
@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "1.5"])
def test_instances_that_are_not_a_count_of_hosts_are_refused_naming_instances(text):
    with pytest.raises(RunError, match=f"INSTANCES='{re.escape(text)}': give the number"):
        trainingjob.instance_count(text)


@pytest.mark.pipeline
def test_hosts_are_named_as_sagemaker_names_them_and_compose_has_the_first_two():
    assert trainingjob.host_names(3) == ("algo-1", "algo-2", "algo-3")
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert set(trainingjob.HOSTS) <= set(services)


@pytest.mark.pipeline
def test_two_hosts_need_no_generated_compose_file(tmp_path):
    assert trainingjob.hosts_compose(trainingjob.host_names(2), [REPO / "docker-compose.yml"],
                                     tmp_path) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.pipeline
def test_hosts_beyond_the_compose_file_extend_its_first_host(tmp_path):
    base = REPO / "docker-compose.yml"
    files = jobrun.compose_files(f"docker-compose -p test -f {base} -f other.yml")
    assert files == [base, Path("other.yml").resolve()]
    path = trainingjob.hosts_compose(trainingjob.host_names(4), files, tmp_path / "hosts")
    services = yaml.safe_load(path.read_text())["services"]
    assert services == {host: {"extends": {"file": str(base), "service": "algo-1"}}
                        for host in ("algo-3", "algo-4")}


@pytest.mark.pipeline
def test_a_compose_command_without_files_means_the_default_file():
    assert jobrun.compose_files("docker compose -p x") == [Path("docker-compose.yml").resolve()]


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


@pytest.mark.pipeline
def test_a_multi_host_run_fails_with_the_first_failed_code_and_shows_each_workers_failure(
        tmp_path, monkeypatch, capsys):
    from pipeline.runs import records as runs

    run = runs.create(tmp_path / "local", "training", "penguins")
    started = []

    def compose_run(compose, service, args, mounts, log, options=(), echo=True):
        started.append((compose, service, options, echo))
        if service == "algo-3":
            failure = mounts["HOST_DIR"] / "output" / "failure"
            failure.parent.mkdir(parents=True, exist_ok=True)
            failure.write_text("host algo-3: channel train: no CSV file\n")
            return 1
        return 0 if service == "algo-2" else 137

    monkeypatch.setattr(jobrun, "compose_run", compose_run)
    args = jobs.parser().parse_args(["train", "--local", str(tmp_path / "local"),
                                     "--compose", f"docker-compose -f {REPO}/docker-compose.yml"])
    code = trainingjob.train_hosts(args, run, {}, {}, 3)
    assert code == 137  # the chief's: its failure file is the run's
    assert "algo-3 failed: host algo-3: channel train: no CSV file" in capsys.readouterr().out
    extra = run.folder / "hosts" / "compose.yml"
    assert sorted(service for _, service, _, _ in started) == ["algo-1", "algo-2", "algo-3"]
    assert all(compose.endswith(f"-f {extra}") and options == ("--use-aliases",)
               for compose, _, options, _ in started)
    assert [service for _, service, _, echo in started if echo] == ["algo-1"]
