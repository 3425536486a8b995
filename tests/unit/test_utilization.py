"""CPUUtilization and MemoryUtilization in-process: an instance's cgroup counters (v1 and v2),
the percentages two readings give, the router's poll of each variant's instances, and the
metrics they become on /metrics, /minutes and make metrics' table."""

import re

import pytest

from pipeline.endpoints.metrics import table
from serving import metrics, utilization

pytestmark = pytest.mark.unit

GIB = 1 << 30


def meminfo(tmp_path, kilobytes: int):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       {kilobytes} kB\nMemFree:        1 kB\n")
    return path


def test_a_cgroup_v2_reading_is_cpu_seconds_and_memory_less_inactive_file(tmp_path):
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (tmp_path / "memory.current").write_text(f"{GIB}\n")
    (tmp_path / "memory.stat").write_text(f"anon 1\ninactive_file {GIB // 4}\n")
    (tmp_path / "memory.max").write_text(f"{4 * GIB}\n")
    found = utilization.read(tmp_path, meminfo(tmp_path, 16 * GIB // 1024), clock=lambda: 7.0)
    assert found == {"Seconds": 7.0, "CpuSeconds": 2.5, "MemoryBytes": 3 * GIB // 4,
                     "MemoryLimitBytes": 4 * GIB}


def test_a_cgroup_v1_reading_without_a_limit_is_against_the_hosts_memory(tmp_path):
    (tmp_path / "cpuacct").mkdir()
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpuacct" / "cpuacct.usage").write_text("1500000000\n")
    (tmp_path / "memory" / "memory.usage_in_bytes").write_text(f"{GIB}\n")
    (tmp_path / "memory" / "memory.stat").write_text(
        f"inactive_file 9\ntotal_inactive_file {GIB // 2}\n")
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    found = utilization.read(tmp_path, meminfo(tmp_path, 8 * GIB // 1024), clock=lambda: 1.0)
    assert found == {"Seconds": 1.0, "CpuSeconds": 1.5, "MemoryBytes": GIB // 2,
                     "MemoryLimitBytes": 8 * GIB}


def test_a_cgroup_that_shows_nothing_reads_as_none(tmp_path):
    found = utilization.read(tmp_path, tmp_path / "no-meminfo", clock=lambda: 1.0)
    assert found == {"Seconds": 1.0, "CpuSeconds": None, "MemoryBytes": None,
                     "MemoryLimitBytes": None}
    assert utilization.percentages(found, found) == {}


def test_cpu_is_summed_over_cores_and_memory_a_percent_of_the_limit():
    before = {"Seconds": 10.0, "CpuSeconds": 100.0, "MemoryBytes": 0, "MemoryLimitBytes": 4}
    # 3 CPU-seconds in 2 seconds: one and a half cores busy.
    after = {"Seconds": 12.0, "CpuSeconds": 103.0, "MemoryBytes": 1, "MemoryLimitBytes": 4}
    assert utilization.percentages(before, after) == {"CPUUtilization": 150.0,
                                                      "MemoryUtilization": 25.0}


def test_the_poll_averages_each_variants_instances_from_their_second_reading():
    clock = {"10.0.0.1": [(0, 0.0), (10, 1.0)], "10.0.0.2": [(0, 0.0), (10, 3.0)],
             "10.0.0.3": [(0, 0.0), (10, 5.0)]}
    memory = {"10.0.0.1": 10, "10.0.0.2": 30, "10.0.0.3": 50}

    def read(address):
        seconds, cpu = clock[address].pop(0)
        return {"Seconds": seconds, "CpuSeconds": cpu, "MemoryBytes": memory[address],
                "MemoryLimitBytes": 100}

    names = {"variant-v1": ["10.0.0.1", "10.0.0.2"], "variant-v2": ["10.0.0.3"]}
    recorded = []
    poller = utilization.Poller(lambda: {"v1": ["variant-v1"], "v2": ["variant-v2", "gone"]},
                                lambda variant, found: recorded.append((variant, found)),
                                resolve=lambda name: names.get(name, []), read=read)
    poller.once()
    assert recorded == []  # one reading each: no CPU yet, and memory waits for it
    poller.once()
    assert recorded == [("v1", {"CPUUtilization": 20.0, "MemoryUtilization": 20.0}),
                        ("v2", {"CPUUtilization": 50.0, "MemoryUtilization": 50.0})]


def test_utilization_is_a_gauge_per_variant_and_an_average_per_minute():
    found = metrics.Metrics(clock=lambda: 3600 * 24 + 5)
    found.observe("v1", {"CPUUtilization": 40.0, "MemoryUtilization": 2.5})
    found.observe("v1", {"CPUUtilization": 120.0, "MemoryUtilization": 3.5})
    found.add(["v1 200 0.004 0.003"])
    facts = {"EndpointName": "ep", "Variants": {"v1": 1, "v2": 1}}
    text = found.prometheus(facts)
    assert re.search(r'^sagemaker_cpu_utilization_percent\{endpoint="ep",variant="v1"\} 120$',
                     text, re.M), text
    assert re.search(r'^sagemaker_memory_utilization_percent\{endpoint="ep",variant="v1"\} 3.5$',
                     text, re.M), text
    assert "# TYPE sagemaker_cpu_utilization_percent gauge" in text
    assert 'sagemaker_cpu_utilization_percent{endpoint="ep",variant="v2"}' not in text
    [row] = found.minutes(facts)
    assert (row["CPUUtilization"], row["CPUUtilizationMaximum"]) == (80.0, 120.0)
    assert (row["MemoryUtilization"], row["Invocations"]) == (3.0, 1)
    header, values = table([row]).splitlines()[1:]
    assert "CPU %" in header and "Memory %" in header
    assert values.split()[-2:] == ["80", "3"]


def test_a_minute_with_readings_and_no_traffic_is_a_row_of_its_own():
    found = metrics.Metrics(clock=lambda: 60.0)
    found.observe("v2", {"CPUUtilization": 0.5, "MemoryUtilization": 1.25})
    [row] = found.minutes({})
    assert (row["VariantName"], row["Invocations"], row["ModelLatency"]) == ("v2", 0, None)
    assert row["MemoryUtilization"] == 1.25


def test_an_instance_answers_utilization_with_its_own_counters(tiny_model_dir, tmp_path,
                                                               monkeypatch):
    from serving import config as settings
    from serving.app import create_app

    (tmp_path / "cpu.stat").write_text("usage_usec 1000000\n")
    (tmp_path / "memory.current").write_text("2048\n")
    (tmp_path / "memory.max").write_text("max\n")
    monkeypatch.setattr(utilization, "CGROUP", tmp_path)
    monkeypatch.setattr(utilization, "MEMINFO", meminfo(tmp_path, 4))
    client = create_app(tiny_model_dir, settings.Config(model_dir=tiny_model_dir)).test_client()
    reply = client.get("/utilization")
    assert reply.status_code == 200
    found = reply.get_json()
    assert (found["CpuSeconds"], found["MemoryBytes"], found["MemoryLimitBytes"]) == \
        (1.0, 2048, 4096)
