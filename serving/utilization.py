"""CPUUtilization and MemoryUtilization of each instance, as `docker stats` computes them.

An instance answers GET /utilization with its container's counters (`read`: the cgroup's CPU
time and memory, v2 or v1); the router polls every instance of every variant (`Poller`) and
turns two readings into CloudWatch's units (`percentages`): CPU as the sum over cores (so up to
100 x cores %), memory as a percent of the container's limit (the host's memory when it has
none), page cache that can be dropped not counted. Standard library only.
"""

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
PATH = "/utilization"
PORT = 8080
SECONDS = 5  # between polls: a one-minute period gets about twelve readings
UNLIMITED = 1 << 60  # a cgroup v1 limit above this is "no limit"


def _number(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat(path: Path, key: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    found = (line.split() for line in lines)
    return next((int(parts[1]) for parts in found if len(parts) >= 2 and parts[0] == key), 0)


def _host_memory(meminfo: Path) -> int | None:
    kilobytes = _stat(meminfo, "MemTotal:")
    return kilobytes * 1024 or None


def read(root: Path | None = None, meminfo: Path | None = None, clock=time.monotonic) -> dict:
    """This container's counters now: {"Seconds", "CpuSeconds", "MemoryBytes",
    "MemoryLimitBytes"}; a counter the cgroup does not show is None."""
    root, meminfo, now = root or CGROUP, meminfo or MEMINFO, clock()
    if (root / "cpu.stat").is_file():  # cgroup v2
        usage = _stat(root / "cpu.stat", "usage_usec")
        cpu = usage / 1e6 if usage else None
        current = _number(root / "memory.current")
        inactive = _stat(root / "memory.stat", "inactive_file")
        limit = _number(root / "memory.max")  # "max" is no limit: None
    else:
        nanoseconds = _number(root / "cpuacct" / "cpuacct.usage")
        cpu = nanoseconds / 1e9 if nanoseconds is not None else None
        current = _number(root / "memory" / "memory.usage_in_bytes")
        inactive = _stat(root / "memory" / "memory.stat", "total_inactive_file")
        limit = _number(root / "memory" / "memory.limit_in_bytes")
        limit = limit if limit is not None and limit < UNLIMITED else None
    host = _host_memory(meminfo)
    if limit is None or (host is not None and host < limit):
        limit = host
    memory = max(0, current - inactive) if current is not None else None
    return {"Seconds": now, "CpuSeconds": cpu, "MemoryBytes": memory, "MemoryLimitBytes": limit}


def percentages(before: dict, after: dict) -> dict:
    """CPUUtilization between two readings and MemoryUtilization at the second, in percent;
    a metric the readings cannot give is left out."""
    found = {}
    elapsed = after["Seconds"] - before["Seconds"]
    if elapsed > 0 and after["CpuSeconds"] is not None and before["CpuSeconds"] is not None:
        found["CPUUtilization"] = max(0.0, after["CpuSeconds"] - before["CpuSeconds"]) \
            / elapsed * 100
    if after["MemoryBytes"] is not None and after["MemoryLimitBytes"]:
        found["MemoryUtilization"] = after["MemoryBytes"] / after["MemoryLimitBytes"] * 100
    return found


def average(readings: list[dict]) -> dict:
    """Each metric's average over a variant's instances (CloudWatch's Average statistic)."""
    found = {}
    for name in ("CPUUtilization", "MemoryUtilization"):
        values = [reading[name] for reading in readings if name in reading]
        if values:
            found[name] = sum(values) / len(values)
    return found


def addresses(host: str) -> list[str]:
    """Every address Docker's DNS gives a host: a service's name gives all its instances."""
    try:
        found = socket.getaddrinfo(host, PORT, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({item[4][0] for item in found})


def fetch(address: str) -> dict | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}:{PORT}{PATH}", timeout=2) as reply:
            found = json.loads(reply.read())
    except (OSError, ValueError):
        return None  # an instance starting, stopping or too busy to answer: no reading
    return found if isinstance(found, dict) and "Seconds" in found else None


class Poller:
    """Every SECONDS, each variant's instances' readings, averaged, into `record(variant,
    {"CPUUtilization": …, "MemoryUtilization": …})`; `hosts()` gives {variant: [host, …]}."""

    def __init__(self, hosts, record, seconds: float = SECONDS, resolve=addresses, read=fetch):
        self.hosts, self.record, self.seconds = hosts, record, seconds
        self.resolve, self.read = resolve, read
        self.last: dict[str, dict] = {}

    def once(self) -> None:
        seen = {}
        for variant, names in self.hosts().items():
            readings = []
            for address in sorted({found for name in names for found in self.resolve(name)}):
                now = self.read(address)
                if now is None:
                    continue
                seen[address] = now
                if address in self.last:
                    readings.append(percentages(self.last[address], now))
            found = average(readings)
            if found:
                self.record(variant, found)
        self.last = seen  # an instance gone is forgotten; a new one counts from its second

    def run(self) -> None:
        while True:
            self.once()
            time.sleep(self.seconds)

    def start(self) -> None:
        threading.Thread(target=self.run, name="utilization", daemon=True).start()
