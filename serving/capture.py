"""SageMaker Data Capture: sampled requests and answers as JSON Lines, written off the request path.

A worker's requests only sample and append to a bounded list (`Capture.submit`); one background
thread per worker turns what is pending into records every FLUSH_SECONDS (sooner once BATCH
records wait) and writes them as a new file per flush and hour, in SageMaker's layout:
`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl` (UTC). A file is
written under a hidden name and renamed whole, so a reader globbing `*.jsonl` never sees half of
one, and its uuid keeps two workers out of each other's files. A full list drops the record and
a failed write loses its batch: both are counted and logged, and the request never notices.
`stop` (atexit: a stopping uWSGI worker finalizes Python, which runs it) writes what is pending.

Unlike SageMaker's, the disk here is the user's: a record whose request and answer together
pass max_record_bytes is skipped whole (SageMaker truncates nothing, so neither is it cut
here), and once the variant's files pass max_total_bytes the oldest are removed; both are
counted and logged. Folders are made 0700 and files 0600: the capture is its writer's alone.
"""

import atexit
import base64
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

log = logging.getLogger("serving.capture")
FLUSH_SECONDS = 1.0
BATCH = 1000  # pending records that wake the writer before its second is up
MAX_PENDING = 10_000  # records waiting for the writer; beyond, requests are dropped
MAX_PENDING_BYTES = 64 * 1024 * 1024  # bodies and answers waiting, together
STOP_SECONDS = 5.0  # uWSGI kills a stopping worker after its mercy (serve's 8 s)
LOG_EVERY_SECONDS = 60.0  # at most one warning a minute per kind of loss
MB = 1024 * 1024
# The variant's files are counted this often, and whenever this worker's writes since the last
# count bring it over the quota; then the oldest go until an eighth of the quota is free, so
# the next count is an eighth of the quota away. Other workers' files count when counted.
QUOTA_CHECK_SECONDS = 60.0
FOLDER_MODE, FILE_MODE = 0o700, 0o600
EVENT_VERSION = "0"
# The endpoint reads a body sent without a type as JSON, so that is the type it observed.
UNTYPED = "application/json"


@dataclass(frozen=True)
class Settings:
    """DataCaptureConfig's fields, as config.py reads them from DATA_CAPTURE_* variables."""

    destination: Path
    sampling_percentage: float = 20.0  # the SDK's default
    capture_input: bool = True
    capture_output: bool = True
    json_types: frozenset = frozenset({"application/json"})
    csv_types: frozenset = frozenset({"text/csv"})
    endpoint: str = "endpoint"
    variant: str = "AllTraffic"
    # A SageMaker endpoint takes 6 MB requests and gives 6 MB answers: twice that by default.
    max_record_bytes: int = 12 * MB
    max_total_bytes: int = 1024 * MB  # 0: no quota


def media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


# RFC 4122's variant bits (10xx) on the first hex digit of the fourth group.
VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
MAX_CACHED = 4096  # content types and seconds an Encoder remembers before it starts again


def event_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs from one read of the system's random source: uuid4()
    reads it once per id, a third of a record's cost when thousands are written at a time."""
    raw = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = raw[start:start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


class Encoder:
    """Pending items into SageMaker's JSON lines. What repeats from record to record (a content
    type's encoding, the second's timestamp) is worked out once; the capture's writer keeps one
    for its life, so both memories are bounded."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._encodings: dict[str, str] = {}
        self._stamps: dict[int, str] = {}

    def encoding(self, content_type: str) -> str:
        found = self._encodings.get(content_type)
        if found is None:
            if len(self._encodings) >= MAX_CACHED:
                self._encodings.clear()
            kind = media_type(content_type)
            found = self._encodings[content_type] = \
                "JSON" if kind in self.settings.json_types else \
                "CSV" if kind in self.settings.csv_types else "BASE64"
        return found

    def stamp(self, moment: float) -> str:
        second = int(moment)
        found = self._stamps.get(second)
        if found is None:
            if len(self._stamps) >= MAX_CACHED:
                self._stamps.clear()
            found = self._stamps[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                         time.gmtime(second))
        return found

    def payload(self, content_type: str, data: bytes, mode: str) -> dict:
        """One side of captureData: text for the JSON and CSV types, base64 for the others."""
        encoding = self.encoding(content_type)
        if encoding != "BASE64":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "BASE64"
        if encoding == "BASE64":
            text = base64.b64encode(data).decode("ascii")
        return {"observedContentType": content_type, "mode": mode, "data": text,
                "encoding": encoding}

    def record(self, item: tuple, event_id: str) -> dict:
        """The JSON line of one pending item (Capture.submit), field for field as SageMaker's."""
        moment, body, content_type, answer, accept, inference_id = item
        data = {}
        if self.settings.capture_input:
            data["endpointInput"] = self.payload(content_type or UNTYPED, body, "INPUT")
        if self.settings.capture_output:
            data["endpointOutput"] = self.payload(accept, answer, "OUTPUT")
        metadata = {"eventId": event_id}
        if inference_id is not None:
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = self.stamp(moment)
        return {"captureData": data, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}

    def lines(self, items: list) -> bytes:
        dumps, record = orjson.dumps, self.record
        return b"".join([dumps(record(item, event_id)) + b"\n"
                         for item, event_id in zip(items, event_ids(len(items)), strict=True)])


def record(settings: Settings, item: tuple) -> dict:
    """The JSON line of one pending item, on its own."""
    return Encoder(settings).record(item, event_ids(1)[0])


class Capture:
    """The capture of one worker process: a bounded pending list and its writer thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.destination / settings.endpoint / settings.variant
        self.counts = {"captured": 0, "dropped": 0, "failed": 0, "skipped": 0, "removed": 0}
        self._pending: list = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._warned = {}
        self._total = 0  # the variant's bytes when last counted, and this worker's since
        self._quota_checked = -QUOTA_CHECK_SECONDS
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._encoder = Encoder(settings)

    def start(self) -> "Capture":
        self._thread.start()
        atexit.register(self.stop)
        return self

    def submit(self, body: bytes, content_type: str | None, answer: bytes, accept: str,
               inference_id: str | None) -> None:
        """Called by a request: sample, then queue the raw pieces; never blocks on the disk."""
        percentage = self.settings.sampling_percentage
        if percentage < 100 and random.random() * 100 >= percentage:
            return
        size = len(body) * self.settings.capture_input + len(answer) * self.settings.capture_output
        if size > self.settings.max_record_bytes:
            with self._lock:
                self.counts["skipped"] += 1
            self._warn("skipped", f"skipped capturing a record of {size} bytes (request and "
                                  f"answer), over the {self.settings.max_record_bytes} of "
                                  "DATA_CAPTURE_MAX_RECORD_MB")
            return
        with self._lock:
            if len(self._pending) >= MAX_PENDING or \
                    self._pending_bytes + size > MAX_PENDING_BYTES:
                self.counts["dropped"] += 1
                dropped = True
            else:
                self._pending.append((time.time(), body, content_type, answer, accept,
                                      inference_id))
                self._pending_bytes += size
                dropped = False
                if len(self._pending) >= BATCH:
                    self._wake.set()
        if dropped:
            self._warn("dropped", "capture queue full; dropped a record")

    def stop(self) -> None:
        """Write what is pending and end the writer (idempotent)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS)
            counts = ", ".join(f"{value} {name}" for name, value in self.counts.items())
            log.info("data capture stopped: %s", counts)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every pending item: one new file per hour they fall in."""
        with self._lock:
            items, self._pending, self._pending_bytes = self._pending, [], 0
        hours: dict[int, list] = {}
        for item in items:
            hours.setdefault(int(item[0]) // 3600, []).append(item)
        for group in hours.values():
            try:
                written = self._write(group)
                self.counts["captured"] += len(group)
            except OSError as error:
                self.counts["failed"] += len(group)
                self._warn("failed", f"cannot write {len(group)} captured record(s) under "
                                     f"{self.root}: {error}")
                continue
            try:
                self._keep_quota(written)
            except OSError as error:
                self._warn("removed", f"cannot keep {self.root} under its quota: {error}")

    def _write(self, group: list) -> int:
        first = datetime.fromtimestamp(group[0][0], UTC)  # the group's hour is its first's
        folder = self.root / f"{first:%Y/%m/%d/%H}"
        if not folder.is_dir():
            self._make(folder)
        name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{event_ids(1)[0]}.jsonl"
        lines = self._encoder.lines(group)
        hidden = folder / f".{name}.tmp"
        try:
            descriptor = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with open(descriptor, "wb") as stream:
                stream.write(lines)
            os.rename(hidden, folder / name)
        except OSError:
            hidden.unlink(missing_ok=True)
            raise
        return len(lines)

    def _make(self, folder: Path) -> None:
        """The folders below the destination, owner-only (whatever the umask)."""
        missing = []
        while folder != self.settings.destination and not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir(mode=FOLDER_MODE)
            except FileExistsError:
                continue  # another worker made it
            path.chmod(FOLDER_MODE)

    def _keep_quota(self, written: int) -> None:
        """Remove the variant's oldest files once they pass max_total_bytes together."""
        quota = self.settings.max_total_bytes
        self._total += written
        now = time.monotonic()
        if not quota or (self._total <= quota and now - self._quota_checked < QUOTA_CHECK_SECONDS):
            return
        self._quota_checked = now
        files = []
        # yyyy/mm/dd/hh/mm-ss-mmm-uuid.jsonl: the order of the names is the order of time.
        for path in sorted(self.root.glob("*/*/*/*/*.jsonl")):
            try:
                files.append((path, path.stat().st_size))
            except FileNotFoundError:
                continue  # another worker removed it
        total = sum(size for _path, size in files)
        removed = 0
        for path, size in files:
            if total <= quota - quota // 8 or (total <= quota and not removed):
                break
            path.unlink(missing_ok=True)  # its folder stays: a worker may be writing there
            total -= size
            removed += 1
        self._total = total
        if removed:
            self.counts["removed"] += removed
            self._warn("removed", f"removed the {removed} oldest capture file(s) to keep "
                                  f"{self.root} under the {quota} bytes of "
                                  "DATA_CAPTURE_MAX_TOTAL_MB")

    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self._warned[kind] = now
            log.warning("%s (%s so far)", message, self.counts[kind])
