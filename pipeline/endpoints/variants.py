"""Production variants: an endpoint config as CreateEndpointConfig takes it, new weights as
UpdateEndpointWeightsAndCapacities takes them, and the router's split they become.

An endpoint config is {"EndpointConfigName": …, "ProductionVariants": [{"VariantName": "v3",
"ModelName": "3", "InitialVariantWeight": 90, "InitialInstanceCount": 1}, …]}; `make serve
VARIANTS="v3:90 v4:10:2"` is the same in short (model version 3 weighs 90 on one instance,
version 4 weighs 10 on two). ModelName is a registered version ("3" or "v3") or the path of a
model archive. A variant's share of the traffic is its weight over the sum of the weights, as on
SageMaker; a caller's X-Amzn-SageMaker-Target-Variant overrides it. Pure functions, standard
library only: the tests read them as tables.
"""

import math
import re

# SageMaker's pattern for VariantName and EndpointConfigName.
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_VARIANTS = 10  # SageMaker's limit on ProductionVariants
# Instances are containers on this machine: a bound well short of what would starve it.
MAX_INSTANCES = 8
DEFAULT_VARIANT = "AllTraffic"  # what the SDK names the one variant of a deploy()
VARIANT_FIELDS = {"VariantName", "ModelName", "InitialInstanceCount", "InitialVariantWeight",
                  "InstanceType"}  # InstanceType is taken and has no effect here
CONFIG_FIELDS = {"EndpointConfigName", "ProductionVariants", "Tags"}
PORT = 8080
# Kept connections from each split worker to each variant's instances.
KEEPALIVE = 32


class VariantError(ValueError):
    """A config or weight that cannot be used, naming the field or token."""


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise VariantError(f"{where}: {value!r} is not a weight (a number, 0 or more)")
    return float(value)


def _count(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_INSTANCES:
        raise VariantError(f"{where}: {value!r} is not an instance count (1 to "
                           f"{MAX_INSTANCES} on this machine)")
    return value


def model_reference(value, where: str) -> dict:
    """{"version": n} for "3" or "v3", {"archive": path} for a model archive's path."""
    if not isinstance(value, str) or not value.strip():
        raise VariantError(f"{where}: give a registered version (3 or v3) or a model "
                           "archive's path")
    text = value.strip()
    digits = text[1:] if text[:1] in "vV" else text
    if digits.isascii() and digits.isdigit():
        return {"version": int(digits)}
    if text.endswith(".tar.gz"):
        return {"archive": text}
    raise VariantError(f"{where}: {value!r} is neither a registered version (3 or v3) nor a "
                       "model archive's path (…/model.tar.gz)")


def endpoint_config(config) -> list[dict]:
    """The variants of a CreateEndpointConfig body: [{"VariantName", "Model", "Weight",
    "Instances"}]; VariantError names the JSON path of the first thing wrong."""
    if not isinstance(config, dict):
        raise VariantError("the endpoint config is not a JSON object")
    unknown = sorted(set(config) - CONFIG_FIELDS)
    if unknown:
        raise VariantError(f"{unknown[0]}: not a field of an endpoint config here (it takes "
                           f"{', '.join(sorted(CONFIG_FIELDS))})")
    items = config.get("ProductionVariants")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_VARIANTS:
        raise VariantError(f"ProductionVariants: give a list of 1 to {MAX_VARIANTS} variants")
    variants = []
    for index, item in enumerate(items):
        where = f"ProductionVariants[{index}]"
        if not isinstance(item, dict):
            raise VariantError(f"{where}: not a JSON object")
        unknown = sorted(set(item) - VARIANT_FIELDS)
        if unknown:
            raise VariantError(f"{where}.{unknown[0]}: not a field of a production variant "
                               f"here (it takes {', '.join(sorted(VARIANT_FIELDS))})")
        name = item.get("VariantName")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise VariantError(f"{where}.VariantName: {name!r} is not a SageMaker name "
                               "(letters, digits and hyphens, at most 63)")
        variants.append({
            "VariantName": name,
            "Model": model_reference(item.get("ModelName"), f"{where}.ModelName"),
            "Weight": _number(item.get("InitialVariantWeight", 1.0),
                              f"{where}.InitialVariantWeight"),
            "Instances": _count(item.get("InitialInstanceCount", 1),
                                f"{where}.InitialInstanceCount"),
        })
    return checked(variants)


def checked(variants: list[dict]) -> list[dict]:
    """Names unique (as hosts, whatever their case) and some weight to share."""
    seen = {}
    for variant in variants:
        key = variant["VariantName"].lower()
        if key in seen:
            raise VariantError(f"VariantName {variant['VariantName']!r} is given twice "
                               f"(as {seen[key]!r}); each variant needs a name of its own")
        seen[key] = variant["VariantName"]
    if not any(variant["Weight"] > 0 for variant in variants):
        raise VariantError("every variant weighs 0: give at least one a weight above 0")
    return variants


def shorthand(text: str) -> list[dict]:
    """VARIANTS="v3:90 v4:10:2" as the endpoint config it stands for."""
    tokens = text.split()
    if not tokens:
        raise VariantError('VARIANTS is empty; e.g. VARIANTS="v3:90 v4:10"')
    items = []
    for token in tokens:
        parts = token.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise VariantError(f"VARIANTS: {token!r} is not version:weight[:instances], "
                               "e.g. v3:90 or v3:90:2")
        item = {"VariantName": parts[0] if parts[0][:1] in "vV" else f"v{parts[0]}",
                "ModelName": parts[0],
                "InitialVariantWeight": _parsed(parts[1], float, token, "a weight")}
        if len(parts) == 3:
            item["InitialInstanceCount"] = _parsed(parts[2], int, token, "an instance count")
        items.append(item)
    return endpoint_config({"ProductionVariants": items})


def _parsed(raw: str, kind, token: str, what: str):
    try:
        return kind(raw)
    except ValueError:
        raise VariantError(f"VARIANTS: {token!r}: {raw!r} is not {what}") from None


def new_weights(text: str, variants: list[dict]) -> list[dict]:
    """UpdateEndpointWeightsAndCapacities: `name:weight[:instances]` tokens (DesiredWeight,
    DesiredInstanceCount) for some of the variants; the variants as they become (the others
    keep theirs)."""
    tokens = text.split()
    if not tokens:
        raise VariantError('VARIANTS is empty; e.g. VARIANTS="v3:50 v4:50"')
    by_name = {variant["VariantName"]: dict(variant) for variant in variants}
    for token in tokens:
        name, _, raw = token.partition(":")
        if name not in by_name:
            raise VariantError(f"VARIANTS: {token!r}: the endpoint has no variant {name!r}; "
                               f"it has {', '.join(by_name)}")
        parts = raw.split(":")
        if not raw or len(parts) > 2 or not all(parts):
            raise VariantError(f"VARIANTS: {token!r} is not variant:weight[:instances], "
                               "e.g. v3:50 or v3:50:2")
        by_name[name]["Weight"] = _number(_parsed(parts[0], float, token, "a weight"),
                                          f"VARIANTS: {token!r}")
        if len(parts) == 2:
            by_name[name]["Instances"] = _count(_parsed(parts[1], int, token, "an instance count"),
                                                f"VARIANTS: {token!r}")
    return checked(list(by_name.values()))


def route(variant: dict) -> str:
    """The split's name for a group of hosts: the variant's, or its colour's while a deploy
    shifts a variant's traffic from one colour to the other."""
    return variant.get("Route", variant["VariantName"])


def shares(variants: list[dict], name=lambda variant: variant["VariantName"]) \
        -> list[tuple[str, str]]:
    """split_clients' entries: each variant with weight its percentage, floored to nginx's
    hundredths, the last one `*` (the rest); variants of weight 0 get none."""
    weighted = [variant for variant in variants if variant["Weight"] > 0]
    total = sum(variant["Weight"] for variant in weighted)
    entries = []
    for variant in weighted[:-1]:
        percent = math.floor(variant["Weight"] / total * 10_000) / 100
        if percent > 0:
            entries.append((f"{percent:.2f}%", name(variant)))
    entries.append(("*", name(weighted[-1])))
    return entries


def upstream_conf(variants: list[dict]) -> str:
    """The split's include (nginx/split.conf): each route's upstream over its hosts, the
    weighted split, the caller's target variant, and the variant each route answers as."""
    lines = []
    for variant in variants:
        lines.append(f"upstream route_{route(variant)} {{")
        lines += [f"    server {host}:{PORT};" for host in variant["Hosts"]]
        lines += [f"    keepalive {KEEPALIVE};", "}"]
    lines.append('split_clients "${request_id}" $weighted_route {')
    lines += [f"    {share} {name};" for share, name in shares(variants, route)]
    lines.append("}")
    routes: dict[str, list[dict]] = {}
    for variant in variants:
        routes.setdefault(variant["VariantName"], []).append(variant)
    # A variant on two routes (a deploy shifting it) is split by weight between them, for a
    # caller who targets it too (nginx's variable names take no hyphen: numbered).
    targets = {}
    for number, (name, found) in enumerate(routes.items()):
        if len(found) == 1:
            targets[name] = route(found[0])
            continue
        targets[name] = f"$variant_split_{number}"
        lines.append(f'split_clients "${{request_id}}" $variant_split_{number} {{')
        # Within the variant by each route's Share of it (a variant of weight 0 has one).
        lines += [f"    {share} {target};" for share, target in shares(
            [{**item, "Weight": item.get("Share", item["Weight"])} for item in found], route)]
        lines.append("}")
    lines.append("map $http_x_amzn_sagemaker_target_variant $route {")
    lines.append('    "" $weighted_route;')
    lines += [f"    {name} {target};" for name, target in targets.items()]
    lines += ['    default "";', "}"]
    lines.append("map $route $variant {")
    lines += [f"    {route(variant)} {variant['VariantName']};" for variant in variants]
    lines += ['    default "";', "}"]
    lines += ["map $host $endpoint_variants {", f'    default "{", ".join(routes)}";', "}"]
    return "\n".join(lines) + "\n"


def service(name: str) -> str:
    """The compose service (and host name) of a variant's instances."""
    return f"variant-{name.lower()}"


def service_of(variant: dict) -> str:
    """The compose service of a variant's instances now: its name's, or, once a deploy has
    replaced its model, that deploy's generation's (an underscore no variant name has)."""
    number = variant.get("Generation", 0)
    return f"{service(variant['VariantName'])}_{number}" if number else \
        service(variant["VariantName"])


def place_of(variant: dict) -> str:
    """The variant's folder in the endpoint's, whose model/ its instances serve."""
    number = variant.get("Generation", 0)
    return f"variants/{variant['VariantName']}" + (f"_{number}" if number else "")
