"""`python -m pipeline.endpoints.commands serve|deploy|rollback|stop|invoke`: the endpoint, updated
as SageMaker updates one, blue/green, with no failed request.

`serve` starts the router and one colour with a model; `deploy` puts the newest Approved version
on the idle colour and switches to it (pipeline/endpoints/bluegreen.py); `rollback` goes back to the
model that was live before, the same way (pipeline/endpoints/deployments.py keeps the history).
Standard library only: make runs it with the host's python3.
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from pipeline.endpoints import deployments, guardrails, variants
from pipeline.endpoints.bluegreen import (
    ROUTER,
    Endpoint,
    EndpointError,
    colour_variants,
    endpoint_options,
    request,
    say,
)
from pipeline.endpoints.metrics import published_port
from pipeline.registry import models as registry

# The router writes its metrics lines at least this often (serving/router.py).
FLUSH_SECONDS = 1.0
# A real record of the model's own test split, which the training job ships in the archive.
SAMPLE = "sample.json"


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
        return [variants.service(variant["VariantName"]) for variant in item["variants"]]
    return [item["colour"]]


def routed(item: dict) -> list[dict]:
    """A deployment's variants as the router splits them."""
    if "variants" not in item:
        return colour_variants(item["colour"])
    return [{**variant, "Hosts": [variants.service(variant["VariantName"])]}
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


def serve(endpoint: Endpoint, args) -> None:
    if args.variants or args.endpoint_config:
        serve_variants(endpoint, args)
        return
    if args.model_tar:
        model = archive_model(Path(args.model_tar), f"MODEL_TAR={args.model_tar}", None)
    else:
        if args.version is not None and not (args.version.isascii() and args.version.isdigit()):
            raise EndpointError(f"MODEL_VERSION={args.version}: not a whole number, e.g. "
                                "MODEL_VERSION=3 (make models lists them)")
        model = registered(args.registry, None if args.version is None else int(args.version))
    colour = deployments.COLOURS[0]
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        endpoint.stage(colour, model)
        say(f"serving {model['label']} on {colour}")
        remove_all(endpoint)
        endpoint.overrides.unlink(missing_ok=True)
        previous = deployments.latest(history)
        history["live"] = None
        deployments.save(endpoint.folder, history)
        endpoint.start(colour)
        start_router(endpoint, {"colour": colour})
        deployments.record(history, "serve", colour, kept(model), previous and previous["id"])
        deployments.save(endpoint.folder, history)
    say(f"endpoint ready: http://localhost:{endpoint.port}/invocations "
        "(make invoke; make deploy; make stop)")


def config_of(args) -> list[dict]:
    """The variants of VARIANTS= or ENDPOINT_CONFIG=, each with its model found."""
    try:
        if args.endpoint_config:
            path = Path(args.endpoint_config)
            try:
                config = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise EndpointError(f"ENDPOINT_CONFIG={path}: cannot read it as JSON "
                                    f"({error})") from None
            found = variants.endpoint_config(config)
        else:
            found = variants.shorthand(args.variants)
    except variants.VariantError as error:
        where = f"ENDPOINT_CONFIG={args.endpoint_config}: " if args.endpoint_config else ""
        raise EndpointError(f"{where}{error}") from None
    for variant in found:
        reference = variant.pop("Model")
        if "version" in reference:
            variant["model"] = registered(args.registry, reference["version"])
        else:
            variant["model"] = archive_model(Path(reference["archive"]),
                                             f"ModelName={reference['archive']}", None)
    return found


def serve_variants(endpoint: Endpoint, args) -> None:
    """CreateEndpoint with a config of several production variants."""
    found = config_of(args)
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        for variant in found:
            endpoint.stage(f"variants/{variant['VariantName']}", variant["model"])
        remove_all(endpoint)
        previous = deployments.latest(history)
        history["live"] = None
        deployments.save(endpoint.folder, history)
        endpoint.write_variants(found)
        for variant in found:
            name = variant["VariantName"]
            say(f"variant {name}: {variant['model']['label']} on {variant['Instances']} "
                f"instance(s), weight {variant['Weight']:g}")
            endpoint.start(f"variants/{name}", variants.service(name), variant["Instances"])
        item = {"variants": [{"VariantName": variant["VariantName"], "Weight": variant["Weight"],
                              "Instances": variant["Instances"], **kept(variant["model"])}
                             for variant in found]}
        start_router(endpoint, item)
        deployments.record(history, "serve", "variants", item, previous and previous["id"])
        deployments.save(endpoint.folder, history)
    say(f"endpoint ready: http://localhost:{endpoint.port}/invocations, variants "
        + ", ".join(f"{share} {name}" for share, name in variants.shares(found))
        + " (make weights; make metrics; make stop)")


def instances(first: int, last: int) -> str:
    return f"instance {first}" if first == last else f"instances {first} to {last}"


def weights(endpoint: Endpoint, args) -> None:
    """UpdateEndpointWeightsAndCapacities: new weights, no container changed, no request lost."""
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        if "variants" not in current:
            raise EndpointError("this endpoint serves one model (variant AllTraffic); serve "
                                'variants first, e.g. make serve VARIANTS="v3:90 v4:10"')
        try:
            changed = variants.new_weights(args.variants or "", current["variants"])
        except variants.VariantError as error:
            raise EndpointError(str(error)) from None
        reshape(endpoint, history, current, changed, "weights")
    say("weights now " + ", ".join(f"{share} {name}" for share, name in variants.shares(changed))
        + "; instances " + ", ".join(f"{variant['VariantName']} {variant['Instances']}"
                                      for variant in changed))


def reshape(endpoint: Endpoint, history: dict, current: dict, changed: list[dict],
            action: str) -> dict:
    """Variants to new weights and instance counts, no request lost: new instances answer
    /ping before the split names them; instances that go leave the split first, then stop
    once drained. Records the deployment (under the caller's lock)."""
    before = {variant["VariantName"]: variant["Instances"] for variant in current["variants"]}
    item = {"variants": changed}
    split = routed(item)
    for variant in split:
        name, count = variant["VariantName"], variant["Instances"]
        service = variants.service(name)
        if count > before[name]:
            say(f"variant {name}: starting {instances(before[name] + 1, count)}")
            endpoint.scale_up(service, before[name], count)
        elif count < before[name]:
            # Only the instances that stay, until the others have no request left.
            variant["Hosts"] = endpoint.instance_hosts(service, count)
    endpoint.reload(split, routed(current))
    for variant in changed:
        name, count = variant["VariantName"], variant["Instances"]
        if count < before[name]:
            say(f"variant {name}: stopping {instances(count + 1, before[name])}")
            endpoint.scale_down(variants.service(name), count)
    if split != routed(item):
        endpoint.point_router(routed(item))  # the service's name: every instance left
    recorded = deployments.record(history, action, "variants", item, current["id"])
    deployments.save(endpoint.folder, history)
    return recorded


def update(endpoint: Endpoint, history: dict, current: dict, model: dict, action: str,
           previous: int | None, plan: dict | None = None) -> None:
    """Blue/green: start the idle colour with the model, shift the traffic to it (all at once,
    or in a canary's or linear steps, rolling back if an alarm fires), stop the old colour."""
    old, new = current["colour"], deployments.idle_colour(current)
    plan = plan or guardrails.deployment_config({})
    watch = Watch(endpoint) if plan["alarms"] else None
    endpoint.stage(new, model)
    say(f"{action}: starting {model['label']} on {new}; {deployments.describe(current)} "
        f"stays live on {old} until it answers")
    endpoint.start(new)
    if plan["type"] == "ALL_AT_ONCE" and watch is None:
        endpoint.switch(old, new)
    else:
        for share in guardrails.steps(plan):
            routes = colour_variants(new) if share >= 100 else \
                colour_variants(old, 100 - share) + colour_variants(new, share)
            try:
                endpoint.reload(routes, colour_variants(old))
            except EndpointError:
                endpoint.remove(new)
                raise
            say(f"{action}: {share:g}% of the traffic on {new}")
            if share < 100 and watch is not None:
                breach = watch.bake(plan["wait"], plan["alarms"])
                if breach is not None:
                    endpoint.reload(colour_variants(old), None)
                    endpoint.remove(new)
                    alarm, value = breach
                    raise EndpointError(
                        f"{action} rolled back: alarm {alarm['AlarmName']} fired "
                        f"({alarm['MetricName']} {value:g}, {alarm['ComparisonOperator']} "
                        f"{alarm['Threshold']:g}) with {share:g}% of the traffic on {new}; "
                        f"{deployments.describe(current)} is live on {old} again")
            elif share < 100:
                time.sleep(plan["wait"])
    item = deployments.record(history, action, new, kept(model), previous)
    deployments.save(endpoint.folder, history)
    endpoint.remove(old)
    say(f"{deployments.describe(item)} is live on {new} (port {endpoint.port}); "
        f"stopped {old}, which served {deployments.describe(current)}")


class Watch:
    """The router's metrics, scraped from its published port, for the alarms."""

    def __init__(self, endpoint: Endpoint):
        self.port = published_port(shlex.join(endpoint.compose))
        if self.port is None:
            raise EndpointError("the alarms need the router's metrics, and it publishes none "
                                "(ROUTER_METRICS=0?); serve again with them on")

    def scrape(self) -> str:
        return request("GET", f"http://127.0.0.1:{self.port}/metrics", None, self.port).decode()

    def bake(self, seconds: float, alarms: list[dict]) -> tuple[dict, float] | None:
        """Watch the alarms for `seconds` (and the router's last second of lines after)."""
        before = self.scrape()
        deadline = time.monotonic() + seconds + FLUSH_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.5)
            breach = guardrails.fired(alarms, before, self.scrape())
            if breach is not None:
                return breach
        return None


def one_model(current: dict, action: str) -> None:
    if "variants" in current:
        raise EndpointError(f"make {action} updates an endpoint of one model; this one serves "
                            "variants: change their weights with make weights, or serve a new "
                            "config with make serve VARIANTS=…")


def deployment_plan(args) -> dict:
    if not args.deployment_config:
        return guardrails.deployment_config({})
    path = Path(args.deployment_config)
    try:
        return guardrails.deployment_config(json.loads(path.read_text()))
    except (OSError, ValueError) as error:
        raise EndpointError(f"DEPLOYMENT_CONFIG={path}: {error}") from None


def deploy(endpoint: Endpoint, args) -> None:
    plan = deployment_plan(args)
    model = registered(args.registry, None)
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        one_model(current, "deploy")
        if current["sha256"] == model["sha256"]:
            say(f"{model['label']} is already live on port {endpoint.port}; nothing to do")
            return
        update(endpoint, history, current, model, "deploy", current["id"], plan)


def rollback(endpoint: Endpoint, args) -> None:
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        one_model(current, "rollback")
        target = deployments.rollback_target(history)
        label = deployments.describe(target)
        if target.get("version") is not None:
            label += f" ({target['archive']})"
        model = archive_model(Path(target["archive"]), label, target.get("version"))
        if model["sha256"] != target["sha256"]:
            raise EndpointError(f"{target['archive']} has changed since it was deployed; "
                                "cannot roll back to it")
        update(endpoint, history, current, model, "rollback", target["previous"])


def stop(endpoint: Endpoint, args) -> None:
    with deployments.locked(endpoint.folder):
        remove_all(endpoint)
        try:
            history = deployments.load(endpoint.folder)
        except deployments.HistoryError:
            history = None  # nothing to record; the services are stopped all the same
        if history and history["live"] is not None:
            history["live"] = None
            deployments.save(endpoint.folder, history)
    say(f"stopped the endpoint on port {endpoint.port}")


def invoke(endpoint: Endpoint, args) -> None:
    url = f"http://localhost:{endpoint.port}/invocations"
    try:
        current = deployments.live(deployments.load(endpoint.folder))
    except deployments.HistoryError:
        current = None
    if current is None:
        raise EndpointError(f"no endpoint on port {endpoint.port}; start one with make serve")
    place = f"variants/{current['variants'][0]['VariantName']}" if "variants" in current \
        else current["colour"]
    sample = endpoint.folder / place / "model" / SAMPLE
    if not sample.is_file():
        raise EndpointError(f"the served model has no {SAMPLE} to send; POST a record of your "
                            f"own to {url}")
    print(request("POST", url, sample.read_bytes(), endpoint.port)
          .decode("utf-8", "replace").strip())


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="endpoint", description=__doc__.splitlines()[0])
    endpoint_options(cli)
    cli.add_argument("--registry", type=Path, required=True, help="the model group's folder")
    commands = cli.add_subparsers(dest="command", required=True)
    first = commands.add_parser("serve", help="start the endpoint with one model")
    first.add_argument("--model-tar")
    first.add_argument("--version")
    first.add_argument("--variants", help='VARIANTS="v3:90 v4:10[:instances]"')
    first.add_argument("--endpoint-config", help="a CreateEndpointConfig JSON file")
    change = commands.add_parser("weights", help="new variant weights, no failed request")
    change.add_argument("--variants", help='VARIANTS="v3:50 v4:50"')
    shift = commands.add_parser("deploy", help="the newest Approved version, blue/green")
    shift.add_argument("--deployment-config", help="UpdateEndpoint's DeploymentConfig, a JSON "
                       "file (canary or linear traffic shifting, alarms)")
    commands.add_parser("rollback", help="the version deployed before, blue/green")
    commands.add_parser("stop", help="stop the router and both colours")
    commands.add_parser("invoke", help="POST the served model's own sample record")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = {"serve": serve, "deploy": deploy, "rollback": rollback, "stop": stop,
               "invoke": invoke, "weights": weights}[args.command]
    try:
        command(Endpoint(args), args)
    except (EndpointError, registry.RegistryError, deployments.HistoryError) as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
