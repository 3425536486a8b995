"""Production variants on the running endpoint: `make serve VARIANTS=…|ENDPOINT_CONFIG=…`
(CreateEndpointConfig and CreateEndpoint, or UpdateEndpoint on a running endpoint) and `make
weights` (UpdateEndpointWeightsAndCapacities), every change with no request lost.
Standard library only.
"""

import json
from pathlib import Path

from pipeline.endpoints import deployments, guardrails, variants
from pipeline.endpoints.bluegreen import Endpoint, EndpointError, say
from pipeline.endpoints.reconfigure import generations, running_live, update_endpoint
from pipeline.endpoints.served import (
    archive_model,
    kept,
    live_or_fail,
    registered,
    remove_all,
    routed,
    start_router,
)
from pipeline.endpoints.shifting import update
from pipeline.endpoints.updates import deploy_variant


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
        current = running_live(endpoint, history, args.metrics_port)
        plan = deployment_plan(args)
        if current is not None and (plan["type"] != "ALL_AT_ONCE" or plan["alarms"]):
            shift_to(endpoint, history, current, found, plan)
            return
        if current is not None:
            found = generations(current, found)
            item = {"variants": [described(variant) for variant in found]}
            update_endpoint(endpoint, history, current, item,
                            {variant["VariantName"]: variant["model"] for variant in found})
            say("endpoint updated: variants " + ", ".join(
                f"{share} {name}" for share, name in variants.shares(found)))
            return
        for variant in found:
            endpoint.stage(variants.place_of(variant), variant["model"])
        remove_all(endpoint)
        previous = deployments.latest(history)
        history["live"] = None
        deployments.save(endpoint.folder, history)
        endpoint.write_variants(found)
        for variant in found:
            name = variant["VariantName"]
            say(f"variant {name}: {variant['model']['label']} on {variant['Instances']} "
                f"instance(s), weight {variant['Weight']:g}")
            endpoint.start(variants.place_of(variant), variants.service_of(variant),
                           variant["Instances"])
        item = {"variants": [described(variant) for variant in found]}
        start_router(endpoint, item)
        deployments.record(history, "serve", "variants", item, previous and previous["id"])
        deployments.save(endpoint.folder, history)
    say(f"endpoint ready: http://localhost:{endpoint.port}/invocations, variants "
        + ", ".join(f"{share} {name}" for share, name in variants.shares(found))
        + " (make weights; make metrics; make stop)")


def deployment_plan(args) -> dict:
    """DEPLOYMENT_CONFIG= (UpdateEndpoint's DeploymentConfig) read and checked; all at once
    when none is given."""
    if not getattr(args, "deployment_config", None):
        return guardrails.deployment_config({})
    path = Path(args.deployment_config)
    try:
        return guardrails.deployment_config(json.loads(path.read_text()))
    except (OSError, ValueError) as error:
        raise EndpointError(f"DEPLOYMENT_CONFIG={path}: {error}") from None


def shift_to(endpoint: Endpoint, history: dict, current: dict, found: list[dict],
             plan: dict) -> None:
    """UpdateEndpoint to a config of one variant with a canary or linear DeploymentConfig (or
    alarms): make deploy's own shifting, onto the one model or the one variant of that name
    that is live, so no variant is left out of the new config."""
    live = [item["VariantName"] for item in current.get("variants", [])]
    if len(found) != 1 or (live and live != [found[0]["VariantName"]]):
        raise EndpointError(
            "DEPLOYMENT_CONFIG: canary and linear shifting (and alarms) move one model here: "
            "give a config of one variant onto an endpoint of one model, or of that one "
            f"variant (live: {', '.join(live) or 'one model'}); without DeploymentConfig any "
            "config moves all at once")
    variant = found[0]
    if live:
        deploy_variant(endpoint, history, current, variant["VariantName"], variant["model"],
                       plan)
    elif current["sha256"] == variant["model"]["sha256"]:
        say(f"{variant['model']['label']} is already live on port {endpoint.port}; nothing "
            "to do")
    else:
        update(endpoint, history, current, variant["model"], "deploy", current["id"], plan)


def described(variant: dict) -> dict:
    """A config's variant as a deployment records it."""
    return {key: variant[key] for key in ("VariantName", "Weight", "Instances", "Generation")
            if key in variant} | kept(variant["model"])


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
        service = variants.service_of(variant)
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
            endpoint.scale_down(variants.service_of(variant), count)
    if split != routed(item):
        endpoint.point_router(routed(item))  # the service's name: every instance left
    recorded = deployments.record(history, action, "variants", item, current["id"])
    deployments.save(endpoint.folder, history)
    return recorded
