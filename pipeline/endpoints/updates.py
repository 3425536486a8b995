"""UpdateEndpoint on an endpoint of production variants: `make deploy VARIANT=v2` puts a model
version on one variant, `make rollback` puts back the models of the deployment before, each
variant's change blue/green, with no request lost. Standard library only.

SageMaker's UpdateEndpoint takes a whole new EndpointConfig; a deploy of one model version says
which variant it replaces (VARIANT=), and the others keep their models, weights and instances.
A variant's new model runs on a new generation of its instances (compose service
variant-<name>_<n>, folder variants/<name>_<n>), as many as it has, beside the old ones; once
each answers /ping the split sends the variant's traffic to them, and the old ones stop when the
split's old workers have finished. They capture into the same <endpoint>/<variant>/ folder.
"""

from pathlib import Path

from pipeline.endpoints import deployments, variants
from pipeline.endpoints.bluegreen import Endpoint, EndpointError, say
from pipeline.endpoints.served import archive_model, kept, routed
from pipeline.endpoints.shifting import Watch, fired, shift


def chosen_variant(current: dict, name: str | None, action: str) -> str | None:
    """The variant a deploy replaces: None for an endpoint of one model (AllTraffic); for an
    endpoint of variants VARIANT=, or EndpointError naming them."""
    if "variants" not in current:
        if name and name != variants.DEFAULT_VARIANT:
            raise EndpointError(f"VARIANT={name}: this endpoint serves one model, variant "
                                f"{variants.DEFAULT_VARIANT}; leave VARIANT= out")
        return None
    names = [variant["VariantName"] for variant in current["variants"]]
    if not name:
        raise EndpointError(f"make {action} on an endpoint of variants ({', '.join(names)}) "
                            f"updates one variant's model: name it, e.g. make {action} "
                            f"VARIANT={names[-1]}; or serve a new config with make serve "
                            "VARIANTS=…")
    if name not in names:
        raise EndpointError(f"VARIANT={name}: the endpoint has no variant {name!r}; it has "
                            f"{', '.join(names)}")
    return name


def replace(endpoint: Endpoint, current: dict, models: dict[str, dict],
            plan: dict | None = None, watch: Watch | None = None) -> list[dict]:
    """The variants of `current` with `models` ({variant: model}) each on a new generation of
    instances, switched to with no request lost (all at once, or, for one variant, in a plan's
    canary or linear steps, rolled back when an alarm fires); the variants as they now are."""
    after = []
    for variant in current["variants"]:
        model = models.get(variant["VariantName"])
        after.append(variant if model is None else {
            **variant, **kept(model), "Generation": variant.get("Generation", 0) + 1})
    new = [variant for variant in after if variant["VariantName"] in models]
    endpoint.write_variants(current["variants"] + new)  # old and new, for the switch

    def undo() -> None:
        endpoint.remove(*(variants.service_of(item) for item in new))
        endpoint.write_variants(current["variants"])

    for variant in new:
        name = variant["VariantName"]
        endpoint.stage(variants.place_of(variant), models[name])
        say(f"variant {name}: {models[name]['label']} on {variant['Instances']} new "
            "instance(s)")
        try:
            endpoint.start(variants.place_of(variant), variants.service_of(variant),
                           variant["Instances"])
        except EndpointError:
            undo()
            raise
    if plan is None or (plan["type"] == "ALL_AT_ONCE" and watch is None):
        endpoint.reload(routed({"variants": after}), routed(current))
    else:
        name = new[0]["VariantName"]
        breach = shift(endpoint, plan, watch, lambda share: shifted(current, after, name, share),
                       routed(current), undo,
                       lambda share: f"deploy: {share:g}% of variant {name}'s traffic on its "
                                     "new instances")
        if breach is not None:
            before = next(item for item in current["variants"] if item["VariantName"] == name)
            raise EndpointError(f"deploy rolled back: {fired(breach)} with {breach[2]:g}% of "
                                f"variant {name}'s traffic on {models[name]['label']}; "
                                f"{deployments.describe(before)} is live on variant {name} "
                                "again")
    old = [variants.service_of(variant) for variant in current["variants"]
           if variant["VariantName"] in models]
    say(f"stopping the old instances ({', '.join(old)})")
    endpoint.remove(*old)
    endpoint.write_variants(after)
    return after


def shifted(current: dict, after: list[dict], name: str, share: float) -> list[dict]:
    """The split with `share` percent of variant `name`'s traffic on its new instances (a
    route of their own), the rest on its old ones; the other variants as they are."""
    if share >= 100:
        return routed({"variants": after})
    routes = []
    for old, new in zip(routed(current), routed({"variants": after}), strict=True):
        if old["VariantName"] != name:
            routes.append(old)
            continue
        routes.append({**old, "Weight": old["Weight"] * (100 - share) / 100,
                       "Share": 100 - share})
        routes.append({**new, "Route": f"{name}_{new['Generation']}",
                       "Weight": new["Weight"] * share / 100, "Share": share})
    return routes


def deploy_variant(endpoint: Endpoint, history: dict, current: dict, name: str,
                   model: dict, plan: dict | None = None) -> None:
    """UpdateEndpoint: `model` on variant `name` (under the caller's lock), all at once or as
    the plan's DeploymentConfig shifts it, its alarms on the variant's metrics."""
    variant = next(item for item in current["variants"] if item["VariantName"] == name)
    if variant["sha256"] == model["sha256"]:
        say(f"{model['label']} is already live on variant {name}; nothing to do")
        return
    watch = Watch(endpoint, name) if plan and plan["alarms"] else None
    after = replace(endpoint, current, {name: model}, plan, watch)
    deployments.record(history, "deploy", "variants", {"variants": after}, current["id"])
    deployments.save(endpoint.folder, history)
    say(f"variant {name} now serves {model['label']} (make rollback goes back)")


def models_of(item: dict) -> dict[str, str]:
    return {variant["VariantName"]: variant["sha256"] for variant in item["variants"]}


def rollback_target(history: dict, current: dict) -> dict:
    """The deployment before the live one whose variants served other models; the same
    variants, or EndpointError saying to serve that config again."""
    target = deployments.entry(history, current["previous"])
    while target is not None and "variants" in target and \
            models_of(target) == models_of(current):
        target = deployments.entry(history, target["previous"])  # weights, scaling
    if target is None:
        raise EndpointError(f"nothing to roll back to: no deployment before "
                            f"{deployments.describe(current)} served other models")
    if "variants" not in target or set(models_of(target)) != set(models_of(current)):
        raise EndpointError(f"the deployment before ({deployments.describe(target)}) is not "
                            "these variants; serve it again with make serve")
    return target


def rollback_variants(endpoint: Endpoint, history: dict, current: dict) -> None:
    """Each variant whose model the deployment before had another of gets that one back,
    keeping today's weights and instances (under the caller's lock)."""
    target = rollback_target(history, current)
    now = models_of(current)
    models = {}
    for variant in target["variants"]:
        name = variant["VariantName"]
        if variant["sha256"] == now[name]:
            continue
        label = f"variant {name}'s earlier model ({variant['archive']})"
        model = archive_model(Path(variant["archive"]), label, variant.get("version"))
        if model["sha256"] != variant["sha256"]:
            raise EndpointError(f"{variant['archive']} has changed since it was deployed; "
                                "cannot roll back to it")
        models[name] = model
    after = replace(endpoint, current, models)
    deployments.record(history, "rollback", "variants", {"variants": after},
                       target["previous"])
    deployments.save(endpoint.folder, history)
    say("rolled back: " + ", ".join(f"variant {name} serves {models[name]['label']}"
                                    for name in models))
