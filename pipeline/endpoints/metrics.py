"""`python -m pipeline.endpoints.metrics --port N` (make metrics): the endpoint's metrics of the
last hour, one row per minute and variant, under CloudWatch's names, as the router counts them
(serving/metrics.py; the router serves them on 127.0.0.1:METRICS_PORT). Standard library only.
"""

import argparse
import json
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

COLUMNS = (("Timestamp", "minute (UTC)", 20), ("VariantName", "variant", 12),
           ("Invocations", "Invocations", 12), ("InvocationsPerInstance", "PerInstance", 12),
           ("Invocation4XXErrors", "4XXErrors", 10), ("Invocation5XXErrors", "5XXErrors", 10),
           ("ModelLatency", "ModelLatency", 13), ("ModelLatencyMaximum", "(max)", 10),
           ("OverheadLatency", "OverheadLat.", 13))


# The router's metrics port inside its container (serving/router.py).
INSIDE = "9100"


def published_port(compose: str) -> int | None:
    """The host port compose published the router's metrics on, or None (no router)."""
    try:
        done = subprocess.run([*shlex.split(compose), "port", "router", INSIDE],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    port = done.stdout.strip().rpartition(":")[2]
    return int(port) if done.returncode == 0 and port.isdigit() and int(port) else None


def fetch(port: int) -> list[dict]:
    url = f"http://127.0.0.1:{port}/minutes"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise SystemExit(f"no metrics on port {port} ({getattr(error, 'reason', error)}); is "
                         "the endpoint running? start one with make serve") from None


def cell(value, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:,.0f}" if value >= 100 or value.is_integer() else f"{value:.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text.rjust(width) if isinstance(value, (int, float)) else text.ljust(width)


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width table; latencies are averages in microseconds."""
    if not rows:
        return "no invocations in the last hour"
    name = rows[0]["EndpointName"]
    lines = [f"endpoint {name}: one-minute sums; latencies in microseconds (average, maximum)",
             " ".join(title.ljust(width) if key in ("Timestamp", "VariantName")
                      else title.rjust(width) for key, title, width in COLUMNS)]
    lines += [" ".join(cell(row.get(key), width) for key, _, width in COLUMNS) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="metrics", description=__doc__.splitlines()[0])
    cli.add_argument("--port", type=int, help="METRICS_PORT (else compose's port of the router)")
    cli.add_argument("--compose", help="the compose command, to find the router's port")
    cli.add_argument("--json", action="store_true", help="the rows as JSON")
    args = cli.parse_args(argv)
    port = args.port or (args.compose and published_port(args.compose))
    if not port:
        print("no endpoint is running; start one with make serve", file=sys.stderr)
        return 1
    rows = fetch(port)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
