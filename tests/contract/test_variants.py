"""Production variants through the router, as SageMaker serves them: traffic split by weight, a
caller's target variant, the variant named in every answer, a capture folder per variant, new
weights under load with no failed request, and metrics that match what the client counted.

One endpoint for the module, its tests in file order: `make serve VARIANTS="v1:90 v2:10:2"`
(version 2 on two instances), then the split, the header, the capture and the monitor of each
variant against its own version's baseline, the metrics, the weights.
"""

import json
import math
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from keepalive import (
    Clients,
    make,
    message,
    metric,
    register_version,
    scrape,
    serving,
)

from pipeline.monitoring import groundtruth
from pipeline.runs import records as runs
from training.monitor import baseline as baseline_job
from training.monitor import quality

from harness import compose_project, free_port

# The compose_project fixture's name, needed outside fixtures too (make test-clean removes it).
PROJECT = compose_project("variants")
RECORD = {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
          "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}
VARIANT_HEADER = "x-amzn-invoked-production-variant"
FLUSH_SECONDS = 1  # the router writes its metrics lines at least this often (router.py)


def within_binomial(count: int, total: int, share: float, sigmas: float = 5) -> bool:
    spread = sigmas * math.sqrt(total * share * (1 - share))
    return abs(count - total * share) <= spread


def data_baseline(local: Path, rows: list[dict]) -> dict:
    """A Completed data-quality baseline run of these rows, as make baseline leaves one."""
    run = runs.create(local, "baseline", "penguins", analysis_type="DATA_QUALITY")
    data = run.folder / "input"
    data.mkdir(parents=True)
    with (data / "rows.csv").open("w") as file:
        file.write(",".join(RECORD) + "\n")
        file.writelines(",".join(str(row[name]) for name in RECORD) + "\n" for row in rows)
    output = run.folder / "processing" / "output"
    environment = {"dataset_source": data, "dataset_format": '{"csv": {"header": true}}',
                   "output_path": output, "SAGEMAKER_BASE_DIR": run.folder}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, str(value))
        assert baseline_job.main(["--workload", "penguins"]) == 0
    runs.finish(run, 0)
    return {"statistics": str(output / "statistics.json"),
            "constraints": str(output / "constraints.json")}


# Version 1's baseline is the traffic the tests send; version 2's is other penguins, far from it.
BASELINE_ROWS = {
    1: [RECORD] * 60,
    2: [dict(RECORD, island=("Biscoe", "Dream")[index % 2], bill_length_mm=55 + index % 5,
             flipper_length_mm=225 + index % 7, body_mass_g=5800 + index * 10)
        for index in range(60)],
}


@pytest.fixture(scope="module")
def endpoint(tiny_model_dir, tmp_path_factory):
    """Versions 1 and 2 registered (two archives of one model, each with a data-quality
    baseline of its own) and served as two variants."""
    folder = tmp_path_factory.mktemp("local")
    for number in (1, 2):
        register_version(folder, tiny_model_dir, str(number), baselines={
            "data_quality": data_baseline(folder, BASELINE_ROWS[number])})
    port, metrics_port = free_port(), free_port()
    settings = [f"LOCAL_DIR={folder}", f"COMPOSE_PROJECT={PROJECT}", f"ENDPOINT_PORT={port}",
                f"METRICS_PORT={metrics_port}"]
    with serving(PROJECT, settings, "VARIANTS=v1:90 v2:10:2"):
        yield folder, port, metrics_port, settings


def invoke(session: requests.Session, port: int, body=None, **headers) -> requests.Response:
    return session.post(f"http://127.0.0.1:{port}/invocations", timeout=30,
                        data=json.dumps(RECORD) if body is None else body,
                        headers={"Content-Type": "application/json", **headers})


def test_serve_with_variants_runs_each_instance_as_a_container(endpoint, docker_client):
    found = Counter(container.labels["com.docker.compose.service"]
                    for container in docker_client.containers.list(filters={
                        "label": f"com.docker.compose.project={PROJECT}"}))
    assert found == {"router": 1, "variant-v1": 1, "variant-v2": 2}


def test_traffic_splits_by_weight_within_binomial_bounds(endpoint):
    _, port, _, _ = endpoint
    clients = Clients(port, threads=4, body=json.dumps(RECORD))
    clients.send(2000)
    assert not clients.failed(), clients.failed()[:5]
    served = Counter(outcome.variant for outcome in clients.outcomes)
    assert set(served) == {"v1", "v2"}, served
    assert within_binomial(served["v1"], 2000, 0.9), served
    assert clients.connections() == 4, "a client lost its kept connection"


def test_the_target_variant_header_picks_the_variant(endpoint):
    _, port, _, _ = endpoint
    session = requests.Session()
    for name in ("v2", "v1", "v2"):
        reply = invoke(session, port, **{"X-Amzn-SageMaker-Target-Variant": name})
        assert reply.status_code == 200, reply.text
        assert reply.headers[VARIANT_HEADER] == name
    reply = invoke(session, port, **{"X-Amzn-SageMaker-Target-Variant": "v9"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "X-Amzn-SageMaker-Target-Variant names no variant of this "
                                     "endpoint; it has v1, v2"}


def test_each_variant_captures_into_its_own_folder(endpoint):
    folder, port, _, _ = endpoint
    session = requests.Session()
    for name in ("v1", "v2"):
        assert invoke(session, port, **{"X-Amzn-SageMaker-Target-Variant": name}).ok
    root = folder / "capture" / "penguins" / "penguins-endpoint"
    deadline = time.monotonic() + 20
    while {path.name for path in root.glob("*") if any(path.rglob("*.jsonl"))} != {"v1", "v2"}:
        assert time.monotonic() < deadline, sorted(str(path) for path in root.rglob("*"))
        time.sleep(0.2)


def monitoring_runs(local: Path) -> list[dict]:
    return [json.loads(path.read_text())
            for path in sorted((local / "monitoring").glob("*/run.json"))]


def test_each_variant_is_monitored_apart_against_its_own_versions_baseline(endpoint):
    folder, _, _, settings = endpoint
    done = make("monitor-data", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = {record["variant"]: record for record in monitoring_runs(folder)}
    assert set(found) == {"v1", "v2"}, done.stdout
    for number, name in ((1, "v1"), (2, "v2")):
        record = found[name]
        assert record["status"] == "Completed" and record["endpoint"] == "penguins-endpoint"
        assert record["inputs"]["endpoint"]["path"].endswith(f"/penguins-endpoint/{name}")
        assert record["inputs"]["baseline"]["from"] == f"registry version {number}"
    # Version 1's baseline is its traffic; version 2's is not.
    assert found["v1"]["metric"]["value"] == 0, found["v1"]
    assert found["v2"]["metric"]["value"] > 0, found["v2"]
    listed = make("monitoring", *settings)
    rows = {line.split()[2] for line in listed.stdout.splitlines()[1:]}
    assert rows == {"v1", "v2"}, listed.stdout
    only = make("monitor-data", *settings, "VARIANT=v9")
    assert only.returncode != 0
    assert "VARIANT=v9: " in message(only) and "(variants with capture there: v1, v2)" in \
        message(only)


def model_baseline(local: Path, predicted: list[str]) -> None:
    """A Completed model-quality baseline run of a model that is right every time."""
    import pandas as pd

    statistics, constraints = quality.model_quality(
        pd.DataFrame({"truth": predicted, "predicted": predicted}), "truth", "predicted")
    run = runs.create(local, "baseline", "penguins", analysis_type="MODEL_QUALITY")
    for name, content in (("statistics.json", statistics), ("constraints.json", constraints)):
        path = run.folder / "processing" / "output" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    runs.finish(run, 0)


def test_each_variants_model_quality_is_its_own_ground_truth(endpoint):
    folder, port, _, settings = endpoint
    session, truth, predicted = requests.Session(), [], {}
    for name in ("v1", "v2"):
        for index in range(20):
            key = f"quality-{name}-{index}"
            reply = invoke(session, port, **{"X-Amzn-SageMaker-Target-Variant": name,
                                             "X-Amzn-SageMaker-Inference-Id": key})
            assert reply.status_code == 200, reply.text
            label = str(reply.json()["prediction"])
            predicted[key] = label
            # v1's labels are its answers; v2's are always another class.
            wrong = "Gentoo" if label != "Gentoo" else "Adelie"
            truth.append(groundtruth.line(key, [label if name == "v1" else wrong]))
    groundtruth.write(folder / "ground-truth" / "penguins", "test", truth)
    model_baseline(folder, list(predicted.values()) + ["Adelie", "Gentoo", "Chinstrap"])
    before = {record["name"] for record in monitoring_runs(folder)}
    # The capture writer's files of these requests are complete once a monitor can read them.
    root = folder / "capture" / "penguins" / "penguins-endpoint"
    deadline = time.monotonic() + 30
    while not all(any(f"quality-{name}-19" in path.read_text() for path in
                      (root / name).rglob("*.jsonl")) for name in ("v1", "v2")):
        assert time.monotonic() < deadline, "the capture never showed the last requests"
        time.sleep(0.5)
    done = make("monitor-model", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = {record["variant"]: record for record in monitoring_runs(folder)
             if record["name"] not in before}
    assert set(found) == {"v1", "v2"}, done.stdout
    assert all(record["analysis_type"] == "MODEL_QUALITY" for record in found.values())
    assert found["v1"]["metric"]["value"] == 0, found["v1"]
    assert found["v2"]["metric"]["value"] > 0, found["v2"]


def settled(metrics_port: int) -> str:
    """The metrics once no earlier request is left to count: unchanged for longer than the
    router takes to write its lines (a second)."""
    deadline = time.monotonic() + 20
    last, since = scrape(metrics_port), time.monotonic()
    while time.monotonic() - since < FLUSH_SECONDS * 1.5:
        assert time.monotonic() < deadline, "the metrics never settled"
        time.sleep(0.25)
        now = scrape(metrics_port)
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_the_schedule_runs_each_monitor_per_variant_against_its_own_baseline(endpoint):
    folder, _, _, settings = endpoint
    before = {record["name"] for record in monitoring_runs(folder)}
    # MONITOR_MAX_RUNTIME defaults to the interval: 3 s would end an execution on a loaded machine.
    options = [*settings, "MONITOR_INTERVAL=3", "MONITOR_WINDOW=3600", "MONITOR_MAX_RUNTIME=120"]
    started = make("monitor-schedule", *options)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        deadline, done = time.monotonic() + 180, []
        while {(r["analysis_type"], r.get("variant")) for r in done} != {
                (analysis, variant) for analysis in ("DATA_QUALITY", "MODEL_QUALITY")
                for variant in ("v1", "v2")}:
            assert time.monotonic() < deadline, f"not every monitor of every variant: {done}"
            time.sleep(0.5)
            done = [record for record in monitoring_runs(folder) if record["name"] not in before
                    and record["status"] != "InProgress"]
    finally:
        stopped = make("monitor-schedule-stop", *options)
    assert stopped.returncode == 0, stopped.stderr
    assert all(record["status"] == "Completed" for record in done), done
    data = {record["variant"]: record for record in done
            if record["analysis_type"] == "DATA_QUALITY"}
    assert data["v2"]["inputs"]["baseline"]["from"] == "registry version 2"
    assert data["v2"]["inputs"]["endpoint"]["path"].endswith("/penguins-endpoint/v2")
    assert (data["v1"]["metric"]["value"], data["v2"]["metric"]["value"] > 0) == (0, True)


def test_metrics_match_what_the_client_counted(endpoint, tmp_path):
    _, port, metrics_port, settings = endpoint
    before = settled(metrics_port)
    session = requests.Session()
    counted, errors, slowest = Counter(), Counter(), 0.0
    for index in range(300):
        body = "{not json" if index % 10 == 0 else None
        started = time.perf_counter()
        reply = invoke(session, port, body)
        slowest = max(slowest, time.perf_counter() - started)
        variant = reply.headers[VARIANT_HEADER]
        counted[variant] += 1
        if 400 <= reply.status_code < 500:
            errors[variant] += 1
        else:
            assert reply.status_code == 200, reply.text
    assert sum(errors.values()) == 30

    def delta(name: str, variant: str) -> float:
        return metric(scrape(metrics_port), name, variant) - metric(before, name, variant)

    deadline = time.monotonic() + 10 * FLUSH_SECONDS
    while any(delta("sagemaker_invocations_total", name) != counted[name] for name in counted):
        seen = {name: delta("sagemaker_invocations_total", name) for name in counted}
        assert time.monotonic() < deadline, (counted, seen)
        time.sleep(0.2)
    for name in ("v1", "v2"):
        assert delta("sagemaker_invocation_4xx_errors_total", name) == errors[name]
        assert delta("sagemaker_invocation_5xx_errors_total", name) == 0
        assert delta("sagemaker_invocations_per_instance_total", name) == \
            pytest.approx(counted[name] / (2 if name == "v2" else 1))
        for latency in ("model", "overhead"):
            kind = f"sagemaker_{latency}_latency_microseconds"
            count = delta(f"{kind}_count", name)
            assert count == counted[name]
            # nginx times to the millisecond: no request took longer than the slowest the
            # client saw, rounded up.
            assert 0 <= delta(f"{kind}_sum", name) <= count * (slowest * 1e6 + 1000)
    done = make("metrics", *settings, f"PNG={tmp_path / 'hour.png'}")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hour.png").read_bytes().startswith(b"\x89PNG\r\n")
    assert "Invocations" in done.stdout and " v1 " in done.stdout, done.stdout
    assert "CPU %" in done.stdout and "Memory %" in done.stdout, done.stdout


def docker_memory_percent(containers) -> float:
    """`docker stats`' MemPerc, averaged over the containers."""
    done = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemPerc}}",
                           *(container.id for container in containers)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    values = [float(line.strip().rstrip("%")) for line in done.stdout.split()]
    return sum(values) / len(values)


def test_cpu_and_memory_utilization_per_variant_agree_with_docker_stats(endpoint,
                                                                        docker_client):
    _, port, metrics_port, settings = endpoint
    clients = Clients(port, threads=4, body=json.dumps(RECORD))
    threads = clients.start()
    try:
        deadline = time.monotonic() + 60
        while metric(scrape(metrics_port), "sagemaker_cpu_utilization_percent", "v1") <= 1:
            assert time.monotonic() < deadline, scrape(metrics_port)[-1500:]
            time.sleep(0.5)
    finally:
        clients.done.set()
        for thread in threads:
            thread.join(timeout=40)
    assert not clients.failed(), clients.failed()[:5]
    text = scrape(metrics_port)
    for name in ("v1", "v2"):
        cpu = metric(text, "sagemaker_cpu_utilization_percent", name)
        # SageMaker's unit: the sum over the cores, so at most 100 per core.
        assert 0 <= cpu <= 100 * (os.cpu_count() or 1), text
        containers = docker_client.containers.list(filters={"label": [
            f"com.docker.compose.project={PROJECT}",
            f"com.docker.compose.service=variant-{name}"]})
        memory = metric(text, "sagemaker_memory_utilization_percent", name)
        assert 0 < memory < 100, text
        assert memory == pytest.approx(docker_memory_percent(containers), abs=1.0), text
    done = make("metrics", *settings)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if " v1 " in line]
    assert rows and any(float(row[-2].replace(",", "")) > 0 for row in rows if row[-2] != "-"), \
        done.stdout


def test_the_metrics_port_is_published_on_loopback_only(endpoint, docker_client):
    _, _, metrics_port, _ = endpoint
    router = docker_client.containers.list(filters={"label": [
        f"com.docker.compose.project={PROJECT}", "com.docker.compose.service=router"]})[0]
    bindings = router.attrs["HostConfig"]["PortBindings"]["9100/tcp"]
    assert [(b["HostIp"], b["HostPort"]) for b in bindings] == [("127.0.0.1", str(metrics_port))]


def test_new_weights_under_four_keep_alive_clients_lose_no_request(endpoint):
    folder, port, _, settings = endpoint
    clients = Clients(port, threads=4, body=json.dumps(RECORD))
    done, began, ended = clients.during(*settings, "weights", "VARIANTS=v1:50 v2:50")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "weights now 50.00% v1, * v2" in done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.count_between(began, ended) > 0, "no request during the change to tell"
    assert clients.connections() == 4, "a client lost its kept connection"
    after = Counter(outcome.variant for outcome in clients.sent_after(ended))
    later = Clients(port, threads=4, body=json.dumps(RECORD))
    later.send(600)
    shares = Counter(outcome.variant for outcome in later.outcomes)
    assert within_binomial(shares["v1"], 600, 0.5), (shares, after)
    history = json.loads((folder / "endpoint" / "penguins" / "deployments.json").read_text())
    assert [item["action"] for item in history["deployments"]][:2] == ["serve", "weights"]


def test_new_instance_counts_under_four_keep_alive_clients_lose_no_request(endpoint,
                                                                            docker_client):
    folder, port, _, settings = endpoint
    clients = Clients(port, threads=4, body=json.dumps(RECORD))
    done, began, ended = clients.during(*settings, "weights", "VARIANTS=v1:50:2 v2:50:1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "variant v1: starting instance 2" in done.stdout
    assert "variant v2: stopping instance 2" in done.stdout
    assert not clients.failed(), clients.failed()[:5]
    assert clients.count_between(began, ended) > 0, "no request during the change to tell"
    assert clients.connections() == 4, "a client lost its kept connection"
    found = Counter(container.labels["com.docker.compose.service"]
                    for container in docker_client.containers.list(filters={
                        "label": f"com.docker.compose.project={PROJECT}"}))
    assert found == {"router": 1, "variant-v1": 2, "variant-v2": 1}
    facts = json.loads((folder / "endpoint" / "penguins" / "router" / "endpoint.json").read_text())
    assert facts["Variants"] == {"v1": 2, "v2": 1}


def test_weights_for_a_variant_the_endpoint_lacks_names_it(endpoint):
    _, _, _, settings = endpoint
    done = make("weights", *settings, "VARIANTS=v7:50")
    assert done.returncode != 0
    assert message(done) == "VARIANTS: 'v7:50': the endpoint has no variant 'v7'; it has v1, v2"


def test_deploy_on_an_endpoint_of_variants_without_a_variant_names_them(endpoint):
    _, _, _, settings = endpoint
    done = make("deploy", *settings)
    assert done.returncode != 0
    assert message(done).startswith("make deploy on an endpoint of variants (v1, v2) updates one "
                                    "variant's model: name it, e.g. make deploy VARIANT=v2")


def services(docker_client) -> Counter:
    return Counter(container.labels["com.docker.compose.service"]
                   for container in docker_client.containers.list(filters={
                       "label": f"com.docker.compose.project={PROJECT}"}))


def live_variants(folder: Path) -> tuple[str, dict]:
    history = json.loads((folder / "endpoint" / "penguins" / "deployments.json").read_text())
    item = next(item for item in history["deployments"] if item["id"] == history["live"])
    return item["action"], {variant["VariantName"]: variant for variant in item["variants"]}


def test_a_deploy_onto_one_variant_and_its_rollback_lose_no_request(endpoint, docker_client):
    folder, port, _, settings = endpoint
    for action, args, note, service in (("deploy", ["VARIANT=v1"], "2", "variant-v1_1"),
                                        ("rollback", [], "1", "variant-v1_2")):
        clients = Clients(port, threads=4, body=json.dumps(RECORD))
        done, began, ended = clients.during(*settings, action, *args)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert not clients.failed(), clients.failed()[:5]
        assert clients.count_between(began, ended) > 0, "no request during the change to tell"
        assert clients.connections() == 4, "a client lost its kept connection"
        # v1's two instances replaced by two of the new model; v2 untouched.
        assert services(docker_client) == {"router": 1, service: 2, "variant-v2": 1}
        recorded, live = live_variants(folder)
        assert recorded == action and live["v1"]["version"] == int(note)
        assert (live["v1"]["Weight"], live["v1"]["Instances"], live["v2"]["version"]) == \
            (50, 2, 2)
        model = folder / "endpoint" / "penguins" / "variants" / service.replace(
            "variant-v1", "v1") / "model"
        assert (model / "note.txt").read_text() == note
    session = requests.Session()
    key = "after-rollback"
    reply = invoke(session, port, **{"X-Amzn-SageMaker-Target-Variant": "v1",
                                     "X-Amzn-SageMaker-Inference-Id": key})
    assert reply.status_code == 200 and reply.headers[VARIANT_HEADER] == "v1"
    root = folder / "capture" / "penguins" / "penguins-endpoint" / "v1"
    deadline = time.monotonic() + 30
    while not any(key in path.read_text() for path in root.rglob("*.jsonl")):
        assert time.monotonic() < deadline, "the new instances did not capture into v1's folder"
        time.sleep(0.5)
    again = make("rollback", *settings)
    assert again.returncode != 0
    assert message(again).startswith("nothing to roll back to")
