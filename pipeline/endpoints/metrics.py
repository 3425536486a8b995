"""`python -m pipeline.endpoints.metrics --port N` (make metrics): the endpoint's metrics of the
last hour, one row per minute and variant, under CloudWatch's names, as the router counts them
and polls its instances' CPU and memory (serving/metrics.py, serving/utilization.py; the router
serves them on 127.0.0.1:METRICS_PORT). Standard library only.
"""

import argparse
import json
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

COLUMNS = (("Timestamp", "minute (UTC)", 20), ("VariantName", "variant", 12),
           ("Invocations", "Invocations", 12), ("InvocationsPerInstance", "PerInstance", 12),
           ("Invocation4XXErrors", "4XXErrors", 10), ("Invocation5XXErrors", "5XXErrors", 10),
           ("ModelLatency", "ModelLatency", 13), ("ModelLatencyMaximum", "(max)", 10),
           ("OverheadLatency", "OverheadLat.", 13), ("CPUUtilization", "CPU %", 8),
           ("MemoryUtilization", "Memory %", 9))


# The router's metrics port inside its container (serving/router.py).
INSIDE = "9100"


def published_port(compose: str, inside: str = INSIDE) -> int | None:
    """The host port compose published the router's port `inside` on (its metrics unless
    told), or None (no router)."""
    try:
        done = subprocess.run([*shlex.split(compose), "port", "router", inside],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    port = done.stdout.strip().rpartition(":")[2]
    return int(port) if done.returncode == 0 and port.isdigit() and int(port) else None


# Run in the training image (it has matplotlib; the host's python3 need not): rows on stdin,
# the PNG on stdout.
PLOT_INSIDE = """
import io, json, sys
from datetime import datetime
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = json.load(sys.stdin)
panels = (("Invocations", "Invocations a minute"),
          ("Errors", "Invocation4XXErrors + 5XXErrors a minute"),
          ("ModelLatency", "ModelLatency, average (µs)"))
figure, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
for variant in sorted({row["VariantName"] for row in rows}):
    mine = [row for row in rows if row["VariantName"] == variant]
    times = [datetime.strptime(row["Timestamp"], "%Y-%m-%dT%H:%M:%SZ") for row in mine]
    for axis, (key, title) in zip(axes, panels):
        values = [row["Invocation4XXErrors"] + row["Invocation5XXErrors"] if key == "Errors"
                  else row[key] for row in mine]
        axis.plot(times, values, marker="o", label=variant)
        axis.set_title(title, fontsize=9)
axes[0].legend(fontsize=8)
figure.suptitle(rows[0]["EndpointName"] + ": the last hour, one-minute periods (UTC)")
figure.autofmt_xdate()
out = io.BytesIO()
figure.savefig(out, format="png", dpi=90)
sys.stdout.buffer.write(out.getvalue())
"""


def plot(rows: list[dict], path: Path, docker: str, image: str) -> None:
    """The rows as a PNG at `path`, drawn by matplotlib in the training image."""
    done = subprocess.run([*shlex.split(docker), "run", "--rm", "-i", "--network", "none",
                           "--entrypoint", "python", image, "-c", PLOT_INSIDE],
                          input=json.dumps(rows).encode(), capture_output=True, timeout=300)
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        raise SystemExit(f"could not draw {path}: "
                         f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    path.write_bytes(done.stdout)


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
    """The rows as a fixed-width table; latencies are averages in microseconds, utilizations
    averages in percent."""
    if not rows:
        return "no invocations in the last hour"
    name = rows[0]["EndpointName"]
    lines = [f"endpoint {name}: one-minute sums; latencies in microseconds (average, maximum); "
             "CPU and memory in percent (average; CPU summed over cores)",
             " ".join(title.ljust(width) if key in ("Timestamp", "VariantName")
                      else title.rjust(width) for key, title, width in COLUMNS)]
    lines += [" ".join(cell(row.get(key), width) for key, _, width in COLUMNS) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="metrics", description=__doc__.splitlines()[0])
    cli.add_argument("--port", type=int, help="METRICS_PORT (else compose's port of the router)")
    cli.add_argument("--compose", help="the compose command, to find the router's port")
    cli.add_argument("--docker", default="docker", help="the docker command, for --png")
    cli.add_argument("--json", action="store_true", help="the rows as JSON")
    cli.add_argument("--png", type=Path, help="also draw the last hour into this PNG")
    cli.add_argument("--image", default="penguins-training:latest", help="an image with "
                     "matplotlib, for --png (TRAINING_IMAGE)")
    args = cli.parse_args(argv)
    port = args.port or (args.compose and published_port(args.compose))
    if not port:
        print("no endpoint is running; start one with make serve", file=sys.stderr)
        return 1
    rows = fetch(port)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(rows))
    if args.png and rows:
        plot(rows, args.png, args.docker, args.image)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
