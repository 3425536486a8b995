"""`make bench`: the endpoint's speed, cold start, size and memory, measured in one go.

Trains a Penguins and a Digits model with the real images, serves each, loads them with wrk,
and compares the in-process inference path with the naive one of the program. Prints a
table; writes the figures as JSON.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "contract")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from endpoint_cases import RECORD, distinct_records  # noqa: E402
from harness import (  # noqa: E402
    MODEL_SERVER,
    SERVING_IMAGE,
    TRAINING_IMAGE,
    Endpoint,
    processing_tree,
    run_job,
    run_processing,
    served_model,
    train,
)

# Penguins' targets; one prediction path costs a little per record (0.8 with the old fast paths).
# Figures that compare servers are measured in rounds: each server's short turn, every round in
# the reverse order of the one before (A B, B A, ...), and a ratio is the median of the rounds'
# own ratios. One server's turns drift by up to 15 % at 6,000-8,000 requests/s on the shared
# machine, more than the 5-10 % the ratios' targets allow; turns of 10 s, the median of three
# each, still read 0.887-0.976 for one capture build, while fifteen rounds of 2 s compare a
# server with itself at 0.997 (docs/bench.md).
ROUNDS = 15
ROUND_SECONDS = 2
TARGETS = {
    "invocations_ping_ratio": (">=", 0.8),
    "inprocess_speedup": (">=", 50),
    "batch_records_per_second": (">=", 600_000),
    # One CPU, wrk -t1 -c8: 4x the AWS scikit example container's 466 requests/s (issue 24).
    "cpu1_csv100_requests_per_second": (">=", 1_860),
    "cpu1_json100_requests_per_second": (">=", 1_860),
    "cpu1_csv1000_records_per_second": (">=", 0),  # reported
    "cpu1_json1000_records_per_second": (">=", 0),
    "cpu1_invocations_ping_ratio": (">=", 0),
    "cold_start_seconds": ("<=", 1.5),
    "serving_image_mb": ("<=", 500),
    "worker_rss_mb": ("<=", 150),
    "digits_single_images_per_second": (">=", 0),  # reported; the issue sets no target
    "digits_batch100_images_per_second": (">=", 0),
    "capture_on_off_ratio": (">=", 0.95),  # invocations/s with Data Capture at 100 % / off
    "monitor_data_seconds_1m": ("<=", 60),  # a data-quality run over 1,000,000 captured records
    # The same run with requests carrying 1,000 field names a client made up, over the clean run.
    "monitor_invented_fields_ratio": ("<=", 2),
    # Digits training on one host and two (containers sharing this machine's cores: README).
    "digits_epochs_per_second_1_host": (">=", 0),
    "digits_epochs_per_second_2_hosts": (">=", 0),
    # One graph behind code/inference.py against the fast path (reported; no target).
    "handler_single_records_per_second": (">=", 0),
    "handler_fast_path_ratio": (">=", 0),
    # The SDK pipeline executor's own cost a step: a definition of no-op steps (issue 26).
    "pipeline_step_overhead_seconds": ("<=", 1.0),
    # make serve's port (router, keep-alive) against the colour alone, both capturing 100 %.
    "router_colour_ratio": (">=", 0.8),
    "metrics_on_off_ratio": (">=", 0.95),  # through the router, its metrics recorded / not
    # A multi-model endpoint with two models in its cache against a single-model one.
    "multi_model_single_ratio": (">=", 0.9),
}


def train_model(client, work: Path, *processing_args: str) -> tuple[Path, Path]:
    """Process and train with the real images; return the model folder and processing tree."""
    processed = processing_tree(work / "processing")
    result = run_processing(client, processed, *processing_args, "--seed", "42")
    if result.exit_code:
        sys.exit(f"processing failed:\n{result.logs}")
    result = train(client, work / "training", processed, {})
    if result.exit_code:
        sys.exit(f"training failed:\n{result.logs}")
    return served_model(work / "training" / "output" / "model.tar.gz", work / "model"), processed


def wrk(url: str, body: bytes | None, seconds: int, connections: int, threads: int = 2,
        headers: dict | None = None, rotate: tuple[str, list[str]] | None = None) -> dict:
    """Run wrk (with a Lua script for POST bodies) and parse throughput and latency; `rotate`,
    a header and its values, gives each request the next value in turn."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        if body is not None:
            Path(scratch, "body.json").write_bytes(body)
            Path(scratch, "post.lua").write_text(
                'wrk.method = "POST"\n'
                + "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in
                          (headers or {"Content-Type": "application/json"}).items())
                + f'local f = io.open("{scratch}/body.json", "rb")\n'
                "wrk.body = f:read('*a')\nf:close()\n"
                + ("" if rotate is None else
                   "local values = {" + ", ".join(f'"{value}"' for value in rotate[1]) + "}\n"
                   "local sent = 0\n"
                   "request = function()\n"
                   "  sent = sent + 1\n"
                   f'  wrk.headers["{rotate[0]}"] = values[sent % #values + 1]\n'
                   "  return wrk.format()\nend\n")
            )
            args += ["-s", f"{scratch}/post.lua"]
        out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"wrk saw {non2xx.group(1)} error responses from {url}:\n{out}")

    def millis(quantile: str) -> float:
        value, unit = re.search(rf"^\s+{quantile}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": millis("50"),
        "p99_ms": millis("99"),
    }


def in_rounds(urls: dict, body: bytes, connections: int, rotate: dict | None = None) -> dict:
    """{name: [each round's wrk result]}: `body` posted to each of `urls` (name: url) for a
    turn of ROUND_SECONDS, ROUNDS times; `rotate` (name: wrk's rotate) for the servers that
    take it."""
    results = {name: [] for name in urls}
    order = list(urls)
    for _ in range(ROUNDS):
        for name in order:
            results[name].append(wrk(urls[name], body, ROUND_SECONDS, connections,
                                     rotate=(rotate or {}).get(name)))
        order.reverse()
    return results


def rate_ratio(results: dict, top: str, bottom: str) -> float:
    """The median over the rounds of top's requests/s over bottom's in the same round."""
    return statistics.median(
        over["requests_per_second"] / under["requests_per_second"]
        for over, under in zip(results[top], results[bottom], strict=True))


def rates(results: dict) -> dict:
    return {name: [turn["requests_per_second"] for turn in turns]
            for name, turns in results.items()}


def cold_start(client, model_dir: Path, runs: int = 5) -> list[float]:
    """Seconds from `docker run ... serve` to the first successful /invocations."""
    body = json.dumps(RECORD)
    times = []
    for _ in range(runs):
        started = time.monotonic()
        server = Endpoint(client, model_dir)
        try:
            while time.monotonic() - started < 60:
                try:
                    reply = requests.post(f"{server.url}/invocations", data=body, timeout=2,
                                          headers={"Content-Type": "application/json"})
                    if reply.status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.01)
            else:
                sys.exit(f"the endpoint never answered:\n{server.logs()}")
            times.append(time.monotonic() - started)
        finally:
            server.remove()
    return times


def worker_rss_mb(server: Endpoint) -> list[float]:
    processes = server.container.top(ps_args="-eo pid,ppid,rss,args")["Processes"]
    masters = {p[0] for p in processes if MODEL_SERVER in p[3]}
    return [int(p[2]) / 1024 for p in processes if MODEL_SERVER in p[3] and p[1] in masters]


def in_process(model_dir: Path, processed: Path) -> dict:
    """Per-record cost of our inference path against pandas -> ColumnTransformer -> Keras."""
    import joblib
    import keras
    import numpy as np
    import pandas as pd

    from serving import model as serving_model
    from training.workloads.penguins import data as penguins_data

    raw = pd.read_csv(processed / "processing" / "baseline" / "test-baseline.csv")
    records = json.loads(raw.drop(columns=["species"]).to_json(orient="records"))
    features = joblib.load(model_dir / "features.joblib")
    network = keras.models.load_model(model_dir / "model.keras")
    ours = serving_model.load(model_dir)
    labels = list(ours.labels)

    def naive(record):
        frame = penguins_data.marked(pd.DataFrame([record]))
        return network.predict(features.transform(frame), verbose=0)[0]

    naive(records[0])
    serving_model.predict(ours, records[:1])
    naive_n = min(40, len(records))
    started = time.perf_counter()
    for record in records[:naive_n]:
        naive(record)
    naive_seconds = (time.perf_counter() - started) / naive_n
    repeat = 20
    started = time.perf_counter()
    for _ in range(repeat):
        for record in records:
            serving_model.predict(ours, [record])
    ours_seconds = (time.perf_counter() - started) / (repeat * len(records))

    expected = network.predict(features.transform(penguins_data.marked(raw)), verbose=0)
    one_by_one = [serving_model.predict(ours, [record])[0] for record in records]
    same = all(
        r["prediction"] == labels[int(np.argmax(p))]
        and abs(r["confidence"] - float(p.max())) < 1e-5
        for results in (one_by_one, serving_model.predict(ours, records))
        for r, p in zip(results, expected, strict=True)
    )
    return {"naive_us_per_record": naive_seconds * 1e6, "ours_us_per_record": ours_seconds * 1e6,
            "speedup": naive_seconds / ours_seconds, "identical_on_test_split": same,
            "test_records": len(records)}


def csv_body(records: list[dict]) -> bytes:
    """Headerless CSV rows of the records, in RECORD's field order (null: an empty value)."""
    return "".join(",".join("" if r[name] is None else str(r[name]) for name in RECORD) + "\n"
                   for r in records).encode()


def one_cpu(client, model_dir: Path, seconds: int) -> dict:
    """The container limited to one CPU (`--cpus 1`, so one worker), wrk -t1 -c8: /ping, one
    record, and 100- and 1,000-record CSV and JSON bodies (issue 24's peer comparison)."""
    server = Endpoint(client, model_dir, nano_cpus=1_000_000_000)
    url = f"{server.url}/invocations"
    csv_headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    found = {}
    try:
        server.wait_ready()
        found["ping"] = wrk(f"{server.url}/ping", None, seconds, 8, threads=1)
        found["single"] = wrk(url, json.dumps(RECORD).encode(), seconds, 8, threads=1)
        for count in (100, 1000):
            records = distinct_records(count)
            found[f"csv_{count}"] = wrk(url, csv_body(records), seconds, 8, threads=1,
                                        headers=csv_headers)
            found[f"json_{count}"] = wrk(url, json.dumps(records).encode(), seconds, 8,
                                         threads=1)
    finally:
        server.remove()
    return found


def digit_images(processed: Path, count: int) -> list[dict]:
    """The first `count` test images of the Digits processing run, as {"pixels": rows}."""
    facts = json.loads((processed / "processing" / "pipeline" / "workload.json").read_text())
    height, width = facts["height"], facts["width"]
    images = []
    for line in (processed / "processing" / "test" / "test.csv").read_text().splitlines():
        values = [float(v) for v in line.split(",")[1:]]
        images.append({"pixels": [values[r * width:(r + 1) * width] for r in range(height)]})
    return (images * (count // len(images) + 1))[:count]


def digits(client, work: Path, seconds: int, connections: int) -> dict:
    """Images per second through the endpoint: one image a request, and 100 a request."""
    model_dir, processed = train_model(client, work, "--workload", "digits")
    server = Endpoint(client, model_dir)
    try:
        server.wait_ready()
        single = wrk(f"{server.url}/invocations", json.dumps(digit_images(processed, 1)[0])
                     .encode(), seconds, connections)
        batch = wrk(f"{server.url}/invocations", json.dumps(digit_images(processed, 100))
                    .encode(), seconds, 4)
    finally:
        server.remove()
    return {"single": single, "batch_100": batch}


def capture_ratio(client, model_dir: Path, work: Path, connections: int) -> dict:
    """Invocations per second with Data Capture at 100 % against capture off: two servers,
    measured in rounds (in_rounds) so a change in the machine's load hits both."""
    import docker as sdk

    folder = work / "capture"
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # the workers are not root
    servers = {"off": Endpoint(client, model_dir), "on": Endpoint(
        client, model_dir, environment={"DATA_CAPTURE_DESTINATION": "/opt/ml/capture",
                                        "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100"},
        mounts=[sdk.types.Mount("/opt/ml/capture", str(folder), type="bind")])}
    body = json.dumps(RECORD).encode()
    try:
        for server in servers.values():
            server.wait_ready()
        results = in_rounds({name: f"{server.url}/invocations"
                             for name, server in servers.items()}, body, connections)
        servers["on"].container.stop(timeout=30)  # the writers drain on SIGTERM
        logs = servers["on"].logs()
    finally:
        for server in servers.values():
            server.remove()
    counts = [tuple(map(int, found)) for found in re.findall(
        r"data capture stopped: (\d+) captured, (\d+) dropped, (\d+) failed", logs)]
    return {"requests_per_second": rates(results), "ratio": rate_ratio(results, "on", "off"),
            "captured_lines": sum(len(path.read_text().splitlines())
                                  for path in folder.rglob("*.jsonl")),
            "captured_dropped_failed": [sum(column) for column in zip(*counts, strict=True)]
            or None}


def served_endpoints(archive: Path, work: Path, connections: int,
                     client) -> dict:
    """Single-record invocations/s on the port users get (make serve: the router, keep-alive),
    with the router's metrics on and off, beside the colour measured directly with the same
    Data Capture (100 %); in rounds (in_rounds) so the machine's load hits all."""
    import docker as sdk
    from keepalive import compose_down

    from harness import free_port

    folder = work / "capture"
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # the workers are not root
    ports = {"on": free_port(), "off": free_port()}
    settings = {name: [f"LOCAL_DIR={work / name}", f"COMPOSE_PROJECT=penguinsbench{name}",
                       f"ENDPOINT_PORT={port}", f"ROUTER_METRICS={int(name == 'on')}"]
                for name, port in ports.items()}
    colour = Endpoint(client, served_model(archive, work / "model"), environment={
        "DATA_CAPTURE_DESTINATION": "/opt/ml/capture", "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100"},
        mounts=[sdk.types.Mount("/opt/ml/capture", str(folder), type="bind")])
    urls = {"colour": f"{colour.url}/invocations",
            **{name: f"http://127.0.0.1:{port}/invocations" for name, port in ports.items()}}
    body = json.dumps(RECORD).encode()
    try:
        for name in ports:
            done = subprocess.run(["make", "--no-print-directory", "serve", *settings[name],
                                   f"MODEL_TAR={archive}"], cwd=REPO, capture_output=True,
                                  text=True)
            if done.returncode:
                sys.exit(f"make serve failed:\n{done.stdout}{done.stderr}")
        colour.wait_ready()
        results = in_rounds(urls, body, connections)
    finally:
        colour.remove()
        for name in ports:
            subprocess.run(["make", "--no-print-directory", "stop", *settings[name]], cwd=REPO,
                           capture_output=True)
            compose_down(f"penguinsbench{name}")  # its networks too
    return {"requests_per_second": rates(results),
            "router_colour_ratio": rate_ratio(results, "on", "colour"),
            "metrics_on_off_ratio": rate_ratio(results, "on", "off")}


def multi_model(client, model_dir: Path, work: Path, connections: int) -> dict:
    """Single-record invocations/s of a multi-model endpoint with two models in its cache (two
    archives of the model, requests alternating between them by TargetModel) against the
    single-model endpoint of the model; in rounds (in_rounds), no capture on either."""
    from multi_model_cases import lay_out

    targets = ["penguins/1.tar.gz", "penguins/2.tar.gz"]
    for target in targets:
        lay_out(work / "models", target, model_dir)
    servers = {"single": Endpoint(client, model_dir),
               "multi": Endpoint(client, work / "models", mount="/opt/ml/models",
                                 environment={"SAGEMAKER_MULTI_MODEL": "true"})}
    rotate = {"single": None, "multi": ("X-Amzn-SageMaker-Target-Model", targets)}
    body = json.dumps(RECORD).encode()
    try:
        for server in servers.values():
            server.wait_ready()
        # Every worker loads both models before the clock starts: a load is not the figure.
        wrk(f"{servers['multi'].url}/invocations", body, 2, connections, rotate=rotate["multi"])
        results = in_rounds({name: f"{server.url}/invocations"
                             for name, server in servers.items()}, body, connections, rotate)
        cached = requests.get(f"{servers['multi'].url}/models", timeout=10).json()["models"]
    finally:
        for server in servers.values():
            server.remove()
    return {"requests_per_second": rates(results), "models_in_cache": sorted(
        {model["modelName"] for model in cached}),
        "ratio": rate_ratio(results, "multi", "single")}


def monitor_data(client, work: Path, count: int = 1_000_000, files: int = 100,
                 invented: int = 0) -> dict:
    """Seconds of a data-quality monitoring job (the training image's `monitor`, container start
    to exit) over `count` captured requests, against a baseline of the same distribution; with
    `invented`, ten more requests each carrying that many field names a client made up."""
    import monitor_cases

    from training.monitor import baseline

    capture, root, stored = work / "capture", work / "ml", work / "baseline"
    monitor_cases.bulk(capture, count, files)
    if invented:
        records = monitor_cases.penguins(10, 5)
        for record in records:
            record.update({f"invented_{n:04d}": n for n in range(invented)})
        monitor_cases.write(capture, monitor_cases.json_lines(records), files=1)
    data = baseline.read_dataset(_written(work / "dataset", monitor_cases.baseline_csv(
        monitor_cases.penguins(2000, 1))), {"csv": {"header": True}}, False)
    for name, content in zip(("statistics.json", "constraints.json"), baseline.baseline(data),
                             strict=True):
        _written(stored, json.dumps(content), name)
    for name in ("output", "processing/resultdata"):
        (root / name).mkdir(parents=True)
    result = run_job(client, TRAINING_IMAGE, ["--workload", "penguins"],
                     {root: ("/opt/ml", "rw"), capture: ("/opt/ml/processing/input/endpoint", "ro"),
                      stored: ("/opt/ml/processing/baseline", "ro")},
                     entrypoint=["/usr/bin/tini", "--", "monitor"], timeout=600)
    if result.exit_code:
        sys.exit(f"the monitoring job failed:\n{result.logs}")
    found = json.loads((root / "processing" / "resultdata" / "constraint_violations.json")
                       .read_text())["violations"]
    return {"seconds": result.seconds, "records": count, "files": files,
            "violations": len(found), "log": result.logs.strip().splitlines()}


def monitor_invented(client, work: Path, clean: dict, names: int = 1000) -> dict:
    """The monitor over the clean run's window plus requests with `names` invented field names:
    seconds, and their ratio to the clean run's (a client's names must not cost the monitor)."""
    found = monitor_data(client, work, clean["records"], clean["files"], invented=names)
    return {**found, "invented_names": names, "ratio": found["seconds"] / clean["seconds"]}


def multihost(client, work: Path, processed: Path, epochs: int = 10) -> dict:
    """Digits training epochs per second on 1 and 2 hosts, from the chief's timestamped epoch
    lines (start-up, joining and export left out)."""
    from datetime import datetime

    from test_distributed import HOSTS, Cluster

    found = {}
    for count in (1, 2):
        cluster = Cluster(client, work / str(count), processed, {"epochs": str(epochs)},
                          hosts=HOSTS[:count])
        try:
            codes = cluster.wait(timeout=1800)
            if any(codes.values()):
                sys.exit(f"training on {count} host(s) failed:\n{cluster.logs('algo-1')}")
            lines = cluster.containers["algo-1"].logs(timestamps=True).decode().splitlines()
        finally:
            cluster.remove()
        # Docker's stamps have nanoseconds; fromisoformat takes microseconds.
        stamps = [datetime.fromisoformat(line.split()[0][:26]).timestamp()
                  for line in lines if " epoch=" in line]
        found[count] = {"epochs": len(stamps),
                        "epochs_per_second": (len(stamps) - 1) / (stamps[-1] - stamps[0])}
    return found


# A toolkit-style code/inference.py doing what the fast path does for one JSON record: the
# record's fields as the graph's [1, 1] inputs, the graph run, the probabilities as JSON.
BENCH_HANDLER = """
import json, os
import numpy as np, onnxruntime

def model_fn(model_dir):
    return onnxruntime.InferenceSession(os.path.join(model_dir, "model.onnx"),
                                        providers=["CPUExecutionProvider"])

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(record, session):
    feeds = {node.name: np.array([[record[node.name]]],
                                 object if node.type == "tensor(string)" else np.float32)
             for node in session.get_inputs()}
    return session.run(None, feeds)[0][0]

def output_fn(probabilities, accept):
    return json.dumps({"probabilities": probabilities.tolist()}), "application/json"
"""


def handler_vs_fast_path(client, model_dir: Path, work: Path, connections: int) -> dict:
    """Single-record throughput of one graph served by the fast path (its signature) and by a
    code/inference.py around it: the handler path's own cost per request."""
    import shutil

    handler_dir = work / "handler-model"
    shutil.copytree(model_dir, handler_dir)
    (handler_dir / "code").mkdir()
    (handler_dir / "code" / "inference.py").write_text(BENCH_HANDLER)
    for path in [handler_dir, *handler_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    body = json.dumps(RECORD).encode()
    servers = {"fast_path": Endpoint(client, model_dir), "handler": Endpoint(client, handler_dir)}
    try:
        for name, server in servers.items():
            server.wait_ready()
            reply = requests.post(f"{server.url}/invocations", data=body, timeout=10,
                                  headers={"Content-Type": "application/json"})
            if reply.status_code != 200:
                sys.exit(f"{name}: {reply.status_code} {reply.text}\n{server.logs()}")
        results = in_rounds({name: f"{server.url}/invocations"
                             for name, server in servers.items()}, body, connections)
    finally:
        for server in servers.values():
            server.remove()
    middle = {name: {figure: statistics.median(turn[figure] for turn in turns)
                     for figure in ("requests_per_second", "p50_ms")}
              for name, turns in results.items()}
    fast, handler = middle["fast_path"], middle["handler"]
    return {**middle, "requests_per_second": rates(results),
            "ratio": rate_ratio(results, "handler", "fast_path"),
            # Server time per request (the cores saturated by wrk) the handler path adds.
            "handler_cost_us": 1e6 * (1 / handler["requests_per_second"] -
                                      1 / fast["requests_per_second"]),
            "p50_added_ms": handler["p50_ms"] - fast["p50_ms"]}


def pipeline_overhead(work: Path, width: int = 10, depth: int = 10) -> dict:
    """Seconds the pipeline executor spends a step of its own: `depth` layers of `width` no-op
    Processing steps, each reading a property of one step of the layer before, then a condition
    and a Fail-free branch; records, cache checks and expressions included, no container."""
    from pipeline.workflow import definition
    from pipeline.workflow.executor import Executor

    steps = []
    for layer in range(depth):
        for column in range(width):
            arguments = {} if layer == 0 else {"In": {
                "Get": f"Steps.s{layer - 1}-{column}.ProcessingOutputConfig.Outputs['out']"
                       ".S3Output.S3Uri"}}
            steps.append({"Name": f"s{layer}-{column}", "Type": "Processing",
                          "Arguments": arguments,
                          "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"}})
    last = [step["Name"] for step in steps[-width:]]
    steps.append({"Name": "check", "Type": "Condition", "DependsOn": last, "Arguments": {
        "Conditions": [{"Type": "GreaterThan", "LeftValue": 1, "RightValue": 0}],
        "IfSteps": [], "ElseSteps": []}})

    def no_op(request):
        return {"ProcessingJobArn": request.job_name, "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "out", "S3Output": {"S3Uri": f"s3://b/{request.job_name}"}}]}}

    parsed = definition.parse({"Version": "2020-12-01", "Steps": steps})
    started = time.perf_counter()
    execution = Executor(parsed, {"Processing": no_op}, work, "bench").run()
    seconds = time.perf_counter() - started
    assert execution.record["PipelineExecutionStatus"] == "Succeeded", execution.record
    return {"steps": len(parsed.steps), "seconds": seconds,
            "seconds_per_step": seconds / len(parsed.steps)}


def _written(folder: Path, text: str, name: str = "train.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def report_targets(figures: dict) -> list[str]:
    """Print each figure against its target; the names of those missed (make bench fails)."""
    missed = []
    print(f"\n{'figure':<34}{'value':>14}  target")
    for name, value in figures.items():
        op, target = TARGETS[name]
        met = value >= target if op == ">=" else value <= target
        missed += [] if met else [name]
        print(f"{name:<34}{value:>14.3f}  {op} {target}  {'ok' if met else 'MISSED'}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    client = docker.from_env()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="penguins-bench-") as scratch:
        Path(scratch).chmod(0o755)
        model_dir, processed = train_model(client, Path(scratch))
        server = Endpoint(client, model_dir)
        try:
            server.wait_ready()
            ping = wrk(f"{server.url}/ping", None, args.seconds, args.connections)
            single = wrk(f"{server.url}/invocations", json.dumps(RECORD).encode(), args.seconds,
                         args.connections)
            batch = wrk(f"{server.url}/invocations", json.dumps(distinct_records(1000)).encode(),
                        args.seconds, 4)
            rss = worker_rss_mb(server)
        finally:
            server.remove()
        handler = handler_vs_fast_path(client, model_dir, Path(scratch), args.connections)
        cpu1 = one_cpu(client, model_dir, args.seconds)
        starts = cold_start(client, model_dir)
        inproc = in_process(model_dir, processed)
        digit = digits(client, Path(scratch) / "digits", args.seconds, args.connections)
        captured = capture_ratio(client, model_dir, Path(scratch) / "capture", args.connections)
        monitored = monitor_data(client, Path(scratch) / "monitor")
        invented = monitor_invented(client, Path(scratch) / "invented", monitored)
        routed = served_endpoints(Path(scratch) / "training" / "output" / "model.tar.gz",
                                  Path(scratch) / "router", args.connections, client)
        multi = multi_model(client, model_dir, Path(scratch) / "multi", args.connections)
        hosts = multihost(client, Path(scratch) / "hosts", Path(scratch) / "digits" / "processing")
        executor = pipeline_overhead(Path(scratch) / "executor")
    size_mb = client.images.get(SERVING_IMAGE).attrs["Size"] / 1e6
    figures = {
        "invocations_ping_ratio": single["requests_per_second"] / ping["requests_per_second"],
        "inprocess_speedup": inproc["speedup"],
        "batch_records_per_second": batch["requests_per_second"] * 1000,
        "cpu1_csv100_requests_per_second": cpu1["csv_100"]["requests_per_second"],
        "cpu1_json100_requests_per_second": cpu1["json_100"]["requests_per_second"],
        "cpu1_csv1000_records_per_second": cpu1["csv_1000"]["requests_per_second"] * 1000,
        "cpu1_json1000_records_per_second": cpu1["json_1000"]["requests_per_second"] * 1000,
        "cpu1_invocations_ping_ratio": (cpu1["single"]["requests_per_second"]
                                        / cpu1["ping"]["requests_per_second"]),
        "cold_start_seconds": statistics.median(starts),
        "serving_image_mb": size_mb,
        "worker_rss_mb": max(rss),
        "digits_single_images_per_second": digit["single"]["requests_per_second"],
        "digits_batch100_images_per_second": digit["batch_100"]["requests_per_second"] * 100,
        "capture_on_off_ratio": captured["ratio"],
        "monitor_data_seconds_1m": monitored["seconds"],
        "monitor_invented_fields_ratio": invented["ratio"],
        "digits_epochs_per_second_1_host": hosts[1]["epochs_per_second"],
        "digits_epochs_per_second_2_hosts": hosts[2]["epochs_per_second"],
        "handler_single_records_per_second": handler["handler"]["requests_per_second"],
        "handler_fast_path_ratio": handler["ratio"],
        "pipeline_step_overhead_seconds": executor["seconds_per_step"],
        "router_colour_ratio": routed["router_colour_ratio"],
        "metrics_on_off_ratio": routed["metrics_on_off_ratio"],
        "multi_model_single_ratio": multi["ratio"],
    }
    report = {
        "figures": figures,
        "ping": ping, "invocations": single, "batch_1000": batch, "one_cpu": cpu1,
        "cold_starts_seconds": starts, "in_process": inproc, "worker_rss_mb": rss,
        "digits": digit, "data_capture": captured, "monitor_data": monitored,
        "monitor_invented_fields": invented,
        "digits_training_hosts": hosts, "handler_vs_fast_path": handler,
        "pipeline_executor": executor, "router": routed, "multi_model": multi,
        "load_average_before": load, "connections": args.connections, "seconds": args.seconds,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    missed = report_targets(figures)
    print(f"ping {ping['requests_per_second']:.0f} req/s p50 {ping['p50_ms']:.2f} ms "
          f"p99 {ping['p99_ms']:.2f} ms; invocations {single['requests_per_second']:.0f} req/s "
          f"p50 {single['p50_ms']:.2f} ms p99 {single['p99_ms']:.2f} ms")
    print(f"in-process: naive {inproc['naive_us_per_record']:.0f} us/record, ours "
          f"{inproc['ours_us_per_record']:.1f} us/record; identical on the test split: "
          f"{inproc['identical_on_test_split']}")
    print(f"load average before: {load}; figures written to {args.out}")
    if missed:
        print(f"MISSED: {', '.join(missed)}")
    return 0 if inproc["identical_on_test_split"] and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
