"""The endpoint's metrics, per endpoint and production variant, under CloudWatch's names.

The router's front nginx writes one line per invocation (nginx/router.conf's `metrics` format:
variant, status, its time and the model's, in seconds); `Metrics.add` counts it. What SageMaker
publishes in the AWS/SageMaker namespace, and what it is here:

- Invocations: invocations a variant answered, whatever the status;
- InvocationsPerInstance: Invocations divided by the variant's instance count;
- Invocation4XXErrors, Invocation5XXErrors: those answered 4xx, 5xx;
- ModelLatency: the time the variant's container took, as the router saw it (microseconds);
- OverheadLatency: the router's time less ModelLatency (microseconds);
- CPUUtilization, MemoryUtilization: the variant's instances' CPU (percent, summed over cores)
  and memory (percent of the container's limit), averaged over them, as the router polls them
  (serving/utilization.py; `observe`).

`prometheus` writes them as Prometheus text (sagemaker_invocations_total{endpoint,variant} …);
`minutes` gives CloudWatch's one-minute periods of the last hour. nginx times to the
millisecond, so latencies are multiples of 1,000 µs. Standard library only.
"""

import bisect
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# Histogram bounds, microseconds: p99 within a bucket's width.
BUCKETS = (250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
           1_000_000, 2_500_000, 5_000_000, 10_000_000, 60_000_000)
KEEP_MINUTES = 60
COUNTS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
LATENCIES = ("ModelLatency", "OverheadLatency")
UTILIZATIONS = ("CPUUtilization", "MemoryUtilization")
# CloudWatch's metric name -> the Prometheus name it is published under here.
NAMES = {
    "Invocations": "sagemaker_invocations_total",
    "InvocationsPerInstance": "sagemaker_invocations_per_instance_total",
    "Invocation4XXErrors": "sagemaker_invocation_4xx_errors_total",
    "Invocation5XXErrors": "sagemaker_invocation_5xx_errors_total",
    "ModelLatency": "sagemaker_model_latency_microseconds",
    "OverheadLatency": "sagemaker_overhead_latency_microseconds",
    "CPUUtilization": "sagemaker_cpu_utilization_percent",
    "MemoryUtilization": "sagemaker_memory_utilization_percent",
}


def microseconds(raw: str) -> int | None:
    """nginx's seconds ("0.004"; "0.001, 0.002" after a retry: the last) as µs, or None."""
    last = raw.rsplit(",", 1)[-1].strip()
    try:
        value = float(last)
    except ValueError:
        return None
    return round(value * 1_000_000) if math.isfinite(value) and value >= 0 else None


def parse(line: str) -> tuple[str, int, int | None, int | None] | None:
    """(variant, status, model µs, overhead µs) of one log line; None for a line that is not
    one invocation a variant answered (the router's own errors name no variant)."""
    parts = line.split(" ", 3)
    if len(parts) != 4 or parts[0] in ("", "-") or not parts[1].isdigit():
        return None
    total, model = microseconds(parts[2]), microseconds(parts[3])
    overhead = None if total is None or model is None else max(0, total - model)
    return parts[0], int(parts[1]), model, overhead


def _empty() -> dict:
    return {**{name: 0 for name in COUNTS},
            **{name: {"sum": 0, "count": 0, "max": 0, "buckets": [0] * len(BUCKETS)}
               for name in LATENCIES},
            **{name: {"sum": 0.0, "count": 0, "max": 0.0} for name in UTILIZATIONS}}


def _count(row: dict, status: int, latencies: dict, times: int = 1) -> None:
    """`times` invocations alike: the same variant, status and latencies."""
    row["Invocations"] += times
    if 400 <= status < 500:
        row["Invocation4XXErrors"] += times
    elif status >= 500:
        row["Invocation5XXErrors"] += times
    for name, value in latencies.items():
        if value is None:
            continue
        stats = row[name]
        stats["sum"] += value * times
        stats["count"] += times
        stats["max"] = max(stats["max"], value)
        index = bisect.bisect_left(BUCKETS, value)
        if index < len(BUCKETS):
            stats["buckets"][index] += times


class Metrics:
    """Totals since the router started, and one-minute rows of the last hour, per variant."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.totals: dict[str, dict] = {}
        self.by_minute: dict[int, dict[str, dict]] = {}
        self.utilization: dict[str, dict] = {}  # the latest reading, per variant
        self.lock = threading.Lock()

    def add(self, lines: Iterable[str]) -> None:
        # nginx times to the millisecond, so a busy endpoint's lines repeat: each distinct one
        # is parsed and counted once, times its number (the router's CPU a request, halved).
        tally = Counter(lines)
        minute = int(self.clock()) // 60 * 60
        with self.lock:
            for line, times in tally.items():
                found = parse(line)
                if found is None:
                    continue
                variant, status, model, overhead = found
                latencies = {"ModelLatency": model, "OverheadLatency": overhead}
                _count(self.totals.setdefault(variant, _empty()), status, latencies, times)
                rows = self.by_minute.setdefault(minute, {})
                _count(rows.setdefault(variant, _empty()), status, latencies, times)
            self._forget(minute)

    def observe(self, variant: str, found: dict) -> None:
        """A reading of the variant's CPUUtilization and MemoryUtilization (percent)."""
        minute = int(self.clock()) // 60 * 60
        with self.lock:
            self.utilization[variant] = dict(found)
            row = self.by_minute.setdefault(minute, {}).setdefault(variant, _empty())
            for name, value in found.items():
                stats = row[name]
                stats["sum"] += value
                stats["count"] += 1
                stats["max"] = max(stats["max"], value)
            self._forget(minute)

    def _forget(self, minute: int) -> None:
        for old in [key for key in self.by_minute if key <= minute - KEEP_MINUTES * 60]:
            del self.by_minute[old]

    def prometheus(self, endpoint: dict) -> str:
        """Prometheus text; `endpoint` is {"EndpointName": …, "Variants": {name: instances}}."""
        name = endpoint.get("EndpointName", "endpoint")
        instances = endpoint.get("Variants", {})
        with self.lock:
            totals = {variant: json.loads(json.dumps(row)) for variant, row in self.totals.items()}
            now = {variant: dict(found) for variant, found in self.utilization.items()}
        for variant in instances:
            totals.setdefault(variant, _empty())
        lines = []
        for metric in ("Invocations", "InvocationsPerInstance", *COUNTS[1:]):
            kind = NAMES[metric]
            lines += [f"# HELP {kind} CloudWatch's {metric}, per endpoint and variant",
                      f"# TYPE {kind} counter"]
            for variant, row in sorted(totals.items()):
                value = row["Invocations"] / max(1, instances.get(variant, 1)) \
                    if metric == "InvocationsPerInstance" else row[metric]
                lines.append(f"{kind}{_labels(name, variant)} {_number(value)}")
        for metric in LATENCIES:
            kind = NAMES[metric]
            lines += [f"# HELP {kind} CloudWatch's {metric}, per endpoint and variant",
                      f"# TYPE {kind} histogram"]
            for variant, row in sorted(totals.items()):
                stats, running = row[metric], 0
                for bound, count in zip(BUCKETS, stats["buckets"], strict=True):
                    running += count
                    lines.append(f"{kind}_bucket{_labels(name, variant, le=str(bound))} {running}")
                lines.append(f"{kind}_bucket{_labels(name, variant, le='+Inf')} {stats['count']}")
                lines.append(f"{kind}_sum{_labels(name, variant)} {stats['sum']}")
                lines.append(f"{kind}_count{_labels(name, variant)} {stats['count']}")
        for metric in UTILIZATIONS:
            kind = NAMES[metric]
            lines += [f"# HELP {kind} CloudWatch's {metric}, per endpoint and variant: the "
                      "latest reading, averaged over the variant's instances",
                      f"# TYPE {kind} gauge"]
            lines += [f"{kind}{_labels(name, variant)} {_number(round(found[metric], 3))}"
                      for variant, found in sorted(now.items()) if metric in found]
        return "\n".join(lines) + "\n"

    def minutes(self, endpoint: dict) -> list[dict]:
        """CloudWatch's one-minute periods, oldest first: sums, and latency and utilization
        averages and maxima, one row per minute and variant with traffic or a reading."""
        name = endpoint.get("EndpointName", "endpoint")
        instances = endpoint.get("Variants", {})
        rows = []
        with self.lock:
            for minute, variants in sorted(self.by_minute.items()):
                for variant, row in sorted(variants.items()):
                    found = {"Timestamp": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(minute)),
                             "EndpointName": name, "VariantName": variant,
                             **{metric: row[metric] for metric in COUNTS},
                             "InvocationsPerInstance": row["Invocations"]
                             / max(1, instances.get(variant, 1))}
                    for metric in (*LATENCIES, *UTILIZATIONS):
                        stats = row[metric]
                        found[metric] = stats["sum"] / stats["count"] if stats["count"] else None
                        found[f"{metric}Maximum"] = stats["max"] if stats["count"] else None
                    rows.append(found)
        return rows


def _labels(endpoint: str, variant: str, **extra: str) -> str:
    pairs = {"endpoint": endpoint, "variant": variant, **extra}
    return "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in pairs.items()) + "}"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def endpoint_facts(path: Path) -> dict:
    """The endpoint's name and each variant's instance count, as the pipeline wrote them; {}
    when they cannot be read (the metrics still count, under the default name)."""
    try:
        facts = json.loads(path.read_text())
        return facts if isinstance(facts, dict) else {}
    except (OSError, ValueError):
        return {}
