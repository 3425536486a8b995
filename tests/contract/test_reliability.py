"""Load and faults against the running serving image: a slow client, a soak, a worker killed
under load. Hostile input is test_hostile_input.py's."""

import json
import os
import socket
import statistics
import threading
import time

import pytest
import requests

from endpoint_cases import RECORD, distinct_records
from harness import MODEL_SERVER, Endpoint

pytestmark = pytest.mark.serial  # load, latency and memory figures: alone on the machine
SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "60"))


def test_slow_client_does_not_block_others(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    try:
        server.wait_ready()
        body = json.dumps(RECORD).encode()
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        latencies = []
        for byte in body[:40]:
            slow.sendall(bytes([byte]))
            started = time.monotonic()
            reply = requests.post(f"{server.url}/invocations", json=RECORD, timeout=5)
            latencies.append(time.monotonic() - started)
            assert reply.status_code == 200
            time.sleep(0.05)
        slow.sendall(body[40:])
        assert b" 200 " in slow.recv(4096)
        slow.close()
        # One worker, yet every other request was answered while the slow body trickled in.
        assert max(latencies) < 1.0, latencies
    finally:
        server.remove()


def load(url: str, seconds: float, clients: int, outcome: dict):
    """Concurrent clients posting records until the time is up; counts statuses."""
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index):
        session = requests.Session()
        body = json.dumps(distinct_records(5)[index % 5])
        while time.monotonic() < stop:
            try:
                code = session.post(url, data=body, timeout=10,
                                    headers={"Content-Type": "application/json"}).status_code
            except requests.RequestException:
                code = "error"
            with lock:
                outcome[code] = outcome.get(code, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def test_soak_has_no_errors_and_no_memory_growth(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir)
    try:
        server.wait_ready()
        outcome: dict = {}
        threads = load(f"{server.url}/invocations", SOAK_SECONDS, 4, outcome)
        samples = []
        started = time.monotonic()
        while any(t.is_alive() for t in threads):
            rss = sum(kb for _, kb in server.workers().values())
            samples.append((time.monotonic() - started, rss))
            time.sleep(1)
        first = [rss for at, rss in samples if at <= 10]
        last = [rss for at, rss in samples if at >= SOAK_SECONDS - 10]
        total = sum(outcome.values())
        print(f"\nsoak: {total} requests in {SOAK_SECONDS}s ({total / SOAK_SECONDS:.0f}/s), "
              f"RSS of all workers {statistics.mean(first) / 1024:.1f} -> "
              f"{statistics.mean(last) / 1024:.1f} MB")
        assert set(outcome) == {200}, outcome
        assert statistics.mean(last) <= 1.10 * statistics.mean(first)
    finally:
        server.remove()


def test_killed_worker_is_replaced_under_load(docker_client, model_dir):
    server = Endpoint(docker_client, model_dir, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    try:
        server.wait_ready()
        outcome: dict = {}
        threads = load(f"{server.url}/invocations", 10, 4, outcome)
        # The kill must land under load: wait for answers to flow, not for a fixed time.
        deadline = time.monotonic() + 5
        while outcome.get(200, 0) < 100:
            assert time.monotonic() < deadline, outcome
            time.sleep(0.05)
        before = set(server.wait_workers(2))
        # Container PIDs differ from the host's that `top` shows: pick the victim inside, a
        # model server process whose parent is one (the master runs as nobody too).
        kill_one_worker = (f"for d in /proc/[0-9]*; do grep -q {MODEL_SERVER} $d/cmdline "
                           "2>/dev/null && parent=$(awk '/^PPid:/ {print $2}' $d/status) "
                           f"&& grep -q {MODEL_SERVER} /proc/$parent/cmdline "
                           "&& kill -9 ${d#/proc/} && echo ${d#/proc/} && break; done")
        assert server.container.exec_run(["sh", "-c", kill_one_worker]).output.strip()
        killed = time.monotonic()
        while requests.get(f"{server.url}/ping", timeout=2).status_code != 200:
            assert time.monotonic() - killed < 5
            time.sleep(0.05)
        back = time.monotonic() - killed
        for thread in threads:
            thread.join()
        failed = sum(count for code, count in outcome.items() if code != 200)
        total = sum(outcome.values())
        print(f"\nworker kill: {failed} of {total} requests failed, ping 200 after {back:.2f}s")
        assert failed <= 0.01 * total, outcome
        now = server.wait_workers(2)
        assert len(before - set(now)) == 1  # one worker replaced
    finally:
        server.remove()
