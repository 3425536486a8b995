"""The endpoint's deployment history, <endpoint>/deployments.json: which model is live, and on
which colour, and what was live before it, so a rollback can go back one deployment at a time.

{"live": 2, "deployments": [{"id": 1, "action": "serve", "colour": "blue", "version": 1,
  "archive": ".../registry/penguins/1/model.tar.gz", "sha256": "…", "at": "…", "previous": null},
  {"id": 2, "action": "deploy", "colour": "green", "version": 2, …, "previous": 1}]}

A config of several production variants is one deployment with "colour": "variants" and
"variants": [{"VariantName", "Weight", "Instances", "version", "archive", "sha256"}, …]; a
weight change (make weights) is another, action "weights". "live" is null once the endpoint is
stopped. Standard library only.
"""

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from pipeline.registry.models import now
from pipeline.runs import files

FILE = "deployments.json"
COLOURS = ("blue", "green")


class HistoryError(Exception):
    """The history cannot be read, or has nothing to go back to; the reason for the user."""


def load(endpoint_dir: Path) -> dict:
    path = endpoint_dir / FILE
    if not path.exists():
        return {"live": None, "deployments": []}
    try:
        history = json.loads(path.read_text())
        if not isinstance(history.get("deployments"), list):
            raise ValueError("no deployments list")
        return history
    except (OSError, ValueError, AttributeError) as error:
        raise HistoryError(f"{path}: cannot read the deployment history ({error}); "
                           "move it away and start again with make serve") from error


def save(endpoint_dir: Path, history: dict) -> None:
    files.write_json(endpoint_dir / FILE, history)


def entry(history: dict, number: int | None) -> dict | None:
    return next((item for item in history["deployments"] if item["id"] == number), None)


def live(history: dict) -> dict | None:
    return entry(history, history.get("live"))


def latest(history: dict) -> dict | None:
    """The last deployment that went live, whether or not the endpoint still runs."""
    return history["deployments"][-1] if history["deployments"] else None


def idle_colour(current: dict | None) -> str:
    if current is None:
        return COLOURS[0]
    return COLOURS[1] if current["colour"] == COLOURS[0] else COLOURS[0]


def record(history: dict, action: str, colour: str, model: dict, previous: int | None) -> dict:
    """Append a deployment that has just gone live and make it the live one."""
    item = {"id": len(history["deployments"]) + 1, "action": action, "colour": colour,
            **model, "at": now(), "previous": previous}
    history["deployments"].append(item)
    history["live"] = item["id"]
    return item


def rollback_target(history: dict) -> dict:
    """The deployment that was live before the live one (skipping any of the same archive)."""
    current = live(history)
    if current is None:
        raise HistoryError("no deployment is live")
    if "variants" in current:
        raise HistoryError("the live deployment serves variants; serve the config you want "
                           "with make serve VARIANTS=…")
    target = entry(history, current["previous"])
    while target is not None and target.get("sha256") == current["sha256"]:
        target = entry(history, target["previous"])
    if target is not None and "variants" in target:
        raise HistoryError(f"the deployment before {describe(current)} served variants; serve "
                           "them again with make serve VARIANTS=…")
    if target is None:
        raise HistoryError(f"nothing to roll back to: no deployment before {describe(current)} "
                           "served another model")
    return target


def describe(item: dict) -> str:
    if "variants" in item:
        return "variants " + ", ".join(
            f"{variant['VariantName']} (weight {variant['Weight']:g})"
            for variant in item["variants"])
    if item.get("version") is not None:
        return f"version {item['version']}"
    return f"MODEL_TAR={item['archive']}"


@contextlib.contextmanager
def locked(endpoint_dir: Path) -> Iterator[None]:
    """One serve, deploy, rollback or stop at a time on this endpoint."""
    endpoint_dir.mkdir(parents=True, exist_ok=True)
    with (endpoint_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
