"""What the endpoint serves and runs on: model archives as deployments record them, the
compose services of the live deployment and the router's split of it, checked to be running.
Standard library only.
"""

import shlex
from pathlib import Path

from pipeline.endpoints import deployments, variants
from pipeline.endpoints.bluegreen import ROUTER, Endpoint, EndpointError, colour_variants, say
from pipeline.endpoints.metrics import published_port
from pipeline.registry import models as registry


def archive_model(path: Path, label: str, version: int | None) -> dict:
    """What a deployment records of a model archive; EndpointError if there is no such file."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise EndpointError(f"{label}: {what}; give a model archive (a training job's "
                            "output/model.tar.gz)")
    return {"label": label, "archive": str(path.absolute()), "version": version,
            "sha256": registry.sha256(path)}


def registered(group_dir: Path, version: int | None) -> dict:
    """A registered version, or the newest Approved one."""
    path = registry.resolve(group_dir, version)
    number = int(path.parent.name)
    return archive_model(path, f"version {number} ({path})", number)


def kept(model: dict) -> dict:
    return {key: model[key] for key in ("version", "archive", "sha256")}


def live_or_fail(endpoint: Endpoint, history: dict) -> dict:
    current = deployments.live(history)
    running = endpoint.running()
    if current is None or not running:
        raise EndpointError(f"no endpoint is running on port {endpoint.port}; "
                            "start one with make serve")
    missing = [name for name in (ROUTER, *services(current)) if name not in running]
    if missing:
        raise EndpointError(f"the endpoint on port {endpoint.port} is not whole: "
                            f"{', '.join(missing)} not running; start it again with make serve")
    return current


def services(item: dict) -> list[str]:
    """The compose services a live deployment runs on."""
    if "variants" in item:
        return [variants.service_of(variant) for variant in item["variants"]]
    return [item["colour"]]


def routed(item: dict) -> list[dict]:
    """A deployment's variants as the router splits them."""
    if "variants" not in item:
        return colour_variants(item["colour"])
    return [{**variant, "Hosts": [variants.service_of(variant)]}
            for variant in item["variants"]]


def remove_all(endpoint: Endpoint) -> None:
    endpoint.remove(ROUTER, *deployments.COLOURS, *endpoint.variant_services())


def start_router(endpoint: Endpoint, item: dict) -> None:
    endpoint.point_router(routed(item))
    endpoint.run("up", "-d", "--no-deps", "--force-recreate", ROUTER)
    endpoint.wait_router()
    port = published_port(shlex.join(endpoint.compose))
    if port:
        say(f"metrics: http://127.0.0.1:{port}/metrics (make metrics)")
