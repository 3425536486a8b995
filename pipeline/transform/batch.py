"""The batch transform engine, talking to a running serving container as SageMaker does.

/execution-parameters fills what the job leaves unset, each input file is split into records
(SplitType=Line), records go in mini-batches (BatchStrategy, MaxPayloadInMB; 0 is one
chunked request per file) over MaxConcurrentTransforms connections, and each file's answers
are assembled in input order into `<file>.out`. AssembleWith=Line as SageMaker and SDK local
mode do it: each answer as the container wrote it, then a newline; answers are split into one
output per record only when JoinSource or OutputFilter needs records. A record the endpoint
refuses fails the job naming the file and line; a .out is written whole (temporary file, then
rename) or not at all. Record logic: dataprocessing.py.
"""

import http.client
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.runs import files
from pipeline.transform import dataprocessing as dp
from pipeline.transform.dataprocessing import TransformError

MB = 1024 * 1024
# What SageMaker assumes when the container has no /execution-parameters.
DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
STRATEGIES = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}
# SageMaker's bounds: MaxPayloadInMB <= 100, and MaxConcurrentTransforms x MaxPayloadInMB too.
MAX_PAYLOAD_MB = 100
PING_EVERY = 0.2


@dataclass
class Job:
    """A CreateTransformJob request, by SageMaker's names (None: the container's default)."""

    input: Path
    output: Path
    content_type: str = dp.CSV
    accept: str = dp.CSV
    batch_strategy: str | None = None
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    input_filter: str = "$"
    join_source: str = "None"
    output_filter: str = "$"
    environment: dict = field(default_factory=dict)


@dataclass
class Stats:
    records: int = 0
    mini_batches: int = 0
    largest_payload_bytes: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self) -> dict:
        return {name: getattr(self, name) for name in
                ("records", "mini_batches", "largest_payload_bytes", "max_in_flight")}


class Client:
    """One keep-alive HTTP connection per worker thread to the container on localhost."""

    def __init__(self, port: int, timeout: float = 600):
        self.port, self.timeout, self.local = port, timeout, threading.local()

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict | None = None, chunked: bool = False) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a kept connection the server closed gets one fresh retry
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                        timeout=self.timeout)
                self.local.connection = connection
            try:
                if chunked:  # MaxPayloadInMB=0: HTTP chunked encoding, no Content-Length
                    connection.request(method, path, body=iter([data]), headers=headers or {},
                                       encode_chunked=True)
                else:
                    connection.request(method, path, body=data, headers=headers or {})
                answer = connection.getresponse()
                return answer.status, answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self.local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def settings(job: Job, client: Client) -> dict:
    """The job's values, else /execution-parameters', else SageMaker's defaults."""
    try:
        status, answer = client.request("GET", "/execution-parameters")
        offered = json.loads(answer) if status == 200 else {}
    except (OSError, ValueError, http.client.HTTPException):
        offered = {}
    chosen = {**DEFAULTS, **{k: v for k, v in offered.items() if k in DEFAULTS}}
    if job.batch_strategy:
        chosen["BatchStrategy"] = STRATEGIES[job.batch_strategy]
    if job.max_payload_mb is not None:
        chosen["MaxPayloadInMB"] = job.max_payload_mb
    if job.max_concurrent:  # 0, as unset: the container's /execution-parameters decide
        chosen["MaxConcurrentTransforms"] = job.max_concurrent
    return chosen


def check(job: Job) -> None:
    """Refuse a request SageMaker's API would refuse, before anything starts."""
    if job.batch_strategy not in (None, *STRATEGIES):
        raise TransformError(f"BatchStrategy={job.batch_strategy!r}: use MultiRecord or "
                             "SingleRecord")
    if job.max_payload_mb is not None and not 0 <= job.max_payload_mb <= MAX_PAYLOAD_MB:
        raise TransformError(f"MaxPayloadInMB={job.max_payload_mb}: give 0 (chunked) to "
                             f"{MAX_PAYLOAD_MB}")
    if job.max_concurrent is not None and job.max_concurrent < 0:
        raise TransformError(f"MaxConcurrentTransforms={job.max_concurrent}: give 0 (the "
                             "container's /execution-parameters) or more")
    payload = DEFAULTS["MaxPayloadInMB"] if job.max_payload_mb is None else job.max_payload_mb
    if job.max_concurrent and job.max_concurrent * payload > MAX_PAYLOAD_MB:
        raise TransformError(f"MaxConcurrentTransforms={job.max_concurrent} x MaxPayloadInMB="
                             f"{payload} is {job.max_concurrent * payload} MB; SageMaker "
                             f"allows at most {MAX_PAYLOAD_MB}")
    if job.join_source not in ("None", "Input"):
        raise TransformError(f"JoinSource={job.join_source!r}: use None or Input")
    if not job.input.exists():
        raise TransformError(f"{job.input}: no such input file or folder")


def input_files(root: Path) -> list[tuple[Path, str]]:
    """(file, name relative to the input) of every input file, as an S3 prefix lists them."""
    if root.is_file():
        return [(root, root.name)]
    found = sorted(path for path in root.rglob("*") if path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(root).parts))
    if not found:
        raise TransformError(f"{root}: no input file in this folder")
    return [(path, str(path.relative_to(root))) for path in found]


def send(client: Client, batch: list, job: Job, stats: Stats, label: str,
         chunked: bool = False) -> bytes:
    """One mini-batch's answer; a refused one fails naming the first refused line."""
    data = dp.body(batch)
    headers = {"Content-Type": job.content_type, "Accept": job.accept}
    with stats.lock:
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        stats.mini_batches += 1
        stats.largest_payload_bytes = max(stats.largest_payload_bytes, len(data))
    first, last = batch[0].number, batch[-1].number
    lines = dp.lines_text(batch)
    try:
        status, answer = client.request("POST", "/invocations", data, headers, chunked)
    except (OSError, http.client.HTTPException) as error:
        raise TransformError(f"{label} {lines}: no answer from the container "
                             f"({type(error).__name__}: {error})") from None
    finally:
        with stats.lock:
            stats.in_flight -= 1
    if status != 200:
        reason = answer.decode("utf-8", "replace").strip()[:300]
        if len(batch) > 1 and 400 <= status < 500:
            for record in batch:  # which record: each alone, in order
                send(client, [record], job, stats, label, chunked)
        raise TransformError(f"{label} {lines}: the endpoint refused the record"
                             f"{'s' if first != last else ''} with {status}: {reason}")
    return answer


def transform_file(path: Path, label: str, target: Path, job: Job, chosen: dict,
                   client: Client, pool: ThreadPoolExecutor, stats: Stats) -> int:
    """One input file into target (its .out), written whole or not at all."""
    input_filter = dp.Filter(job.input_filter, "InputFilter")
    output_filter = dp.Filter(job.output_filter, "OutputFilter")
    records = dp.prepare(dp.read_lines(path, label), job.content_type, input_filter, label)
    chunked = chosen["MaxPayloadInMB"] == 0
    batches = dp.mini_batches(records, chosen["BatchStrategy"] == "MULTI_RECORD",
                              None if chunked else chosen["MaxPayloadInMB"] * MB, label,
                              f"MaxPayloadInMB={chosen['MaxPayloadInMB']}")
    futures = [pool.submit(send, client, batch, job, stats, label, chunked)
               for batch in batches]
    join = job.join_source == "Input"
    parts = []
    try:
        for batch, future in zip(batches, futures, strict=True):
            answer = future.result()
            if not join and output_filter.identity:
                parts.append(answer + b"\n")
                continue
            where = f"{label} {dp.lines_text(batch)}"
            outputs = dp.split_answer(answer, len(batch), job.accept, where)
            parts += [dp.assemble(record, output, job.content_type, job.accept, join,
                                  output_filter, f"{label} line {record.number}")
                      .encode() + b"\n" for record, output in zip(batch, outputs, strict=True)]
    finally:
        for future in futures:
            future.cancel()
    target.parent.mkdir(parents=True, exist_ok=True)
    files.write_whole(target, b"".join(parts))
    with stats.lock:
        stats.records += len(records)
    return len(records)


def run(job: Job, port: int, say=print) -> dict:
    """Transform every input file through the container on `port`; the settings and figures."""
    check(job)
    files = input_files(job.input)
    client = Client(port)
    chosen = settings(job, client)
    say(f"BatchStrategy={chosen['BatchStrategy']} MaxPayloadInMB={chosen['MaxPayloadInMB']} "
        f"MaxConcurrentTransforms={chosen['MaxConcurrentTransforms']} "
        f"ContentType={job.content_type} Accept={job.accept} InputFilter={job.input_filter} "
        f"JoinSource={job.join_source} OutputFilter={job.output_filter}")
    stats = Stats()
    with ThreadPoolExecutor(max_workers=chosen["MaxConcurrentTransforms"]) as pool:
        for path, name in files:
            count = transform_file(path, name, job.output / f"{name}.out", job, chosen,
                                   client, pool, stats)
            say(f"{name}: {count} records -> {job.output / (name + '.out')}")
    return {"settings": chosen, **stats.report()}


def wait_ping(port: int, container: str, docker: list[str], deadline: float) -> None:
    """Poll /ping until 200, failing early if the container exits."""
    client = Client(port, timeout=2)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if client.request("GET", "/ping")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        state = subprocess.run([*docker, "inspect", "-f", "{{.State.Running}}", container],
                               capture_output=True, text=True).stdout.strip()
        if state != "true":
            raise TransformError("the serving container exited before /ping answered 200 "
                                 "(its log is in the run's logs.txt)")
        time.sleep(PING_EVERY)
    raise TransformError(f"the serving container did not answer /ping within {deadline:.0f} s")
