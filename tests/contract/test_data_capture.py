"""Data Capture with the real serving image: `make traffic` against the compose endpoint, files in
SageMaker's layout and record format, sampling, SIGTERM under load, an unwritable folder."""

import json
import math
import re
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import docker
import requests

from pipeline.runs import records as runs

from harness import Endpoint, filed_runs, free_port

REPO = Path(__file__).resolve().parents[2]
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
DESTINATION = "/opt/ml/capture"
LAYOUT = re.compile(r"(?P<endpoint>[^/]+)/AllTraffic/(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/"
                    r"\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl")
# The key order of a SageMaker capture record (sagemaker-examples/capture-record.jsonl).
KEYS = {"": ["captureData", "eventMetadata", "eventVersion"],
        "captureData": ["endpointInput", "endpointOutput"],
        "side": ["observedContentType", "mode", "data", "encoding"],
        "eventMetadata": ["eventId", "inferenceId", "inferenceTime"]}


def make(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def captured(root: Path) -> list[tuple[str, dict]]:
    """(path below root, record) of every captured line."""
    return [(path.relative_to(root).as_posix(), json.loads(line))
            for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def sent(local: Path) -> list[dict]:
    folder = runs.runs(local, "traffic")[0].folder
    return [json.loads(line) for line in (folder / "sent.jsonl").read_text().splitlines()]


def capturing(client, model_dir: Path, folder: Path, **environment) -> Endpoint:
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # the server's workers are not root
    return Endpoint(client, model_dir, environment={
        "DATA_CAPTURE_DESTINATION": DESTINATION, "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100",
        **environment}, mounts=[docker.types.Mount(DESTINATION, str(folder), type="bind")])


def test_make_traffic_is_captured_by_the_compose_endpoint_as_sagemaker_captures_it(
        processed, trained, endpoint, tmp_path, compose_project):
    local = tmp_path / "local"
    filed_runs(local, processed)
    settings = [f"LOCAL_DIR={local}", f"COMPOSE_PROJECT={compose_project}",
                f"ENDPOINT_PORT={free_port()}"]
    try:
        served = make("serve", *settings, f"MODEL_TAR={trained / 'output' / 'model.tar.gz'}")
        assert served.returncode == 0, served.stdout[-2000:] + served.stderr[-2000:]
        done = make("traffic", *settings, "N=60")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        stopped = make("stop", *settings)  # SIGTERM: the workers write what is pending
    assert stopped.returncode == 0, stopped.stderr
    lines = captured(local / "capture" / "penguins")
    ids = [line["inferenceId"] for line in sent(local)]
    assert len(ids) == 60 and sorted(r["eventMetadata"]["inferenceId"] for _, r in lines) == \
        sorted(ids)
    for path, record in lines:
        where = LAYOUT.fullmatch(path)
        assert where and where["endpoint"] == "penguins-endpoint", path
        moment = datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert where["hour"] == moment.strftime("%Y/%m/%d/%H")
        assert list(record) == KEYS[""] and list(record["captureData"]) == KEYS["captureData"]
        assert list(record["eventMetadata"]) == KEYS["eventMetadata"]
        for side, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
            entry = record["captureData"][side]
            assert list(entry) == KEYS["side"]
            assert (entry["observedContentType"], entry["mode"], entry["encoding"]) == \
                ("application/json", mode, "JSON")
        # The answer captured is the answer an endpoint without capture gives the same body.
        body = record["captureData"]["endpointInput"]["data"]
        again = requests.post(f"{endpoint.url}/invocations", data=body, timeout=10,
                              headers={"Content-Type": "application/json"})
        assert again.text == record["captureData"]["endpointOutput"]["data"]
    nobody = make("traffic", *settings, "N=1")
    assert nobody.returncode != 0 and "no endpoint answers on" in nobody.stderr
    assert "start one with make serve" in nobody.stderr


def test_digits_pixels_are_captured_as_json_and_shift_darkens_them(
        docker_client, processed_digits, trained_digits, tmp_path):
    from harness import served_model

    local = tmp_path / "local"
    filed_runs(local, processed_digits, workload="digits")
    model = served_model(trained_digits / "output" / "model.tar.gz", tmp_path / "model")
    server = capturing(docker_client, model, tmp_path / "capture",
                       DATA_CAPTURE_ENDPOINT_NAME="digits-endpoint")
    try:
        server.wait_ready()
        done = make("traffic", f"LOCAL_DIR={local}", "WORKLOAD=digits",
                    f"ENDPOINT_PORT={server.port}", "N=12", "SHIFT=pixels=*0.5")
        assert done.returncode == 0, done.stdout + done.stderr
        server.container.stop(timeout=30)
    finally:
        server.remove()
    rows = (processed_digits / "processing" / "test").glob("*.csv")
    test = [[float(v) for v in line.split(",")[1:]] for path in rows
            for line in path.read_text().splitlines()][:12]
    lines = captured(tmp_path / "capture")
    by_id = {r["eventMetadata"]["inferenceId"]: r for _, r in lines}
    assert [line["inferenceId"] for line in sent(local)] == sorted(by_id, key=lambda i: int(
        i.rsplit("-", 1)[1]))
    for number, line in enumerate(sent(local)):
        entry = by_id[line["inferenceId"]]["captureData"]["endpointInput"]
        assert entry["encoding"] == "JSON"
        pixels = json.loads(entry["data"])["pixels"]
        assert [value for row in pixels for value in row] == [v * 0.5 for v in test[number]]
    assert {LAYOUT.fullmatch(path)["endpoint"] for path, _ in lines} == {"digits-endpoint"}


def test_sigterm_under_load_loses_no_captured_record(docker_client, model_dir, tmp_path):
    server = capturing(docker_client, model_dir, tmp_path / "capture",
                       SAGEMAKER_MODEL_SERVER_WORKERS="2")
    record = {"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0,
              "flipper_length_mm": 230.0, "body_mass_g": 5800.0, "sex": "MALE"}
    answered, lock = [], threading.Lock()

    def load(client: int):
        with requests.Session() as session:
            for number in range(100_000):
                name = f"{client}-{number}"
                try:
                    reply = session.post(f"{server.url}/invocations", json=record, timeout=30,
                                         headers={INFERENCE_ID: name})
                except requests.RequestException:
                    return  # the server has stopped listening
                if reply.status_code == 200:
                    with lock:
                        answered.append(name)

    try:
        server.wait_ready()
        clients = [threading.Thread(target=load, args=(n,)) for n in range(4)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 30
        while len(answered) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.container.stop(timeout=30)  # SIGTERM while the clients keep sending
        for client in clients:
            client.join(60)
        logs = server.logs()
    finally:
        server.remove()
    ids = [record["eventMetadata"]["inferenceId"] for _, record in captured(tmp_path / "capture")]
    assert len(answered) >= 300, logs[-2000:]
    assert sorted(ids) == sorted(answered), logs[-2000:]
    assert not list((tmp_path / "capture").rglob(".*")), "a hidden temporary file was left"


def test_the_sampling_percentage_is_honoured(docker_client, model_dir, tmp_path):
    server = capturing(docker_client, model_dir, tmp_path / "capture",
                       DATA_CAPTURE_SAMPLING_PERCENTAGE="30")
    sent_count = 600
    try:
        server.wait_ready()
        with requests.Session() as session:
            for number in range(sent_count):
                reply = session.post(f"{server.url}/invocations", data="Biscoe,48.6,16.0,230.0,"
                                     "5800.0,MALE", headers={"Content-Type": "text/csv",
                                                             INFERENCE_ID: str(number)})
                assert reply.status_code == 200, reply.text
        server.container.stop(timeout=30)
    finally:
        server.remove()
    lines = captured(tmp_path / "capture")
    bound = 5 * math.sqrt(sent_count * 0.3 * 0.7)  # five standard deviations
    assert abs(len(lines) - 0.3 * sent_count) < bound, len(lines)
    assert {r["captureData"]["endpointInput"]["encoding"] for _, r in lines} == {"CSV"}
    assert len({r["eventMetadata"]["inferenceId"] for _, r in lines}) == len(lines)


def test_an_unwritable_capture_folder_leaves_every_answer_200(docker_client, model_dir,
                                                              tmp_path):
    folder = tmp_path / "capture"
    folder.mkdir()
    folder.chmod(0o755)  # root's: the unprivileged workers cannot write here
    server = Endpoint(docker_client, model_dir, environment={
        "DATA_CAPTURE_DESTINATION": DESTINATION, "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100"},
        mounts=[docker.types.Mount(DESTINATION, str(folder), type="bind")])
    try:
        server.wait_ready()
        statuses = [requests.post(f"{server.url}/invocations", timeout=10, json={
            "island": "Dream", "bill_length_mm": 46.4, "bill_depth_mm": 18.6,
            "flipper_length_mm": 190.0, "body_mass_g": 3450.0, "sex": "FEMALE"}).status_code
            for _ in range(20)]
        server.container.stop(timeout=30)
        logs = server.logs()
    finally:
        server.remove()
    assert statuses == [200] * 20
    assert "cannot write" in logs and "Permission denied" in logs
    assert list(folder.iterdir()) == []


def test_a_request_without_an_inference_id_is_captured_without_one(docker_client, model_dir,
                                                                    tmp_path):
    server = capturing(docker_client, model_dir, tmp_path / "capture")
    try:
        server.wait_ready()
        with requests.Session() as session:
            given = session.post(f"{server.url}/invocations", data="Biscoe,48.6,16.0,230.0,5800.0,"
                                 "MALE", headers={"Content-Type": "text/csv", INFERENCE_ID: "mine"})
            none = session.post(f"{server.url}/invocations", data="Dream,46.4,18.6,190.0,3450.0,"
                                "FEMALE", headers={"Content-Type": "text/csv"})
        server.container.stop(timeout=30)
    finally:
        server.remove()
    assert given.status_code == none.status_code == 200
    # Every answer names its request; only the caller's own id is captured as inferenceId.
    assert given.headers[INFERENCE_ID] == "mine" and none.headers[INFERENCE_ID]
    by_data = {r["captureData"]["endpointInput"]["data"]: r["eventMetadata"]
               for _, r in captured(tmp_path / "capture")}
    assert by_data["Biscoe,48.6,16.0,230.0,5800.0,MALE"]["inferenceId"] == "mine"
    assert "inferenceId" not in by_data["Dream,46.4,18.6,190.0,3450.0,FEMALE"]
