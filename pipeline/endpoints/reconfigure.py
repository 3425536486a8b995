"""UpdateEndpoint with a new EndpointConfig: `make serve` on a running endpoint moves it to the
new config, whatever its variants (added, removed, renamed, or one model, AllTraffic), with no
request lost. Standard library only.

As SageMaker does, the new config's instances start beside the live ones; once each answers
/ping the split sends the traffic as the new config says, and the old services stop when the
split's old workers have finished their requests. The router and the clients' connections to it
stay. A variant whose service name the live config already uses gets a new generation of it
(variant-<name>_<n>), so the two never share a container or a model folder. An endpoint that is
not running whole on this port (stopped, a service missing, or another ENDPOINT_PORT or
METRICS_PORT asked for) is started afresh instead, as before.
"""

import shlex

from pipeline.endpoints import deployments, variants
from pipeline.endpoints.bluegreen import ROUTER, Endpoint, EndpointError, say
from pipeline.endpoints.metrics import published_port
from pipeline.endpoints.served import routed, services

# The router's port inside its container (nginx/router.conf's front).
FRONT = "8080"


def running_live(endpoint: Endpoint, history: dict, metrics_port: int | None) -> dict | None:
    """The live deployment when the endpoint runs whole on the port asked for (so it can be
    updated in place), else None."""
    current = deployments.live(history)
    if current is None:
        return None
    running = endpoint.running()
    if any(name not in running for name in (ROUTER, *services(current))):
        return None
    compose = shlex.join(endpoint.compose)
    if published_port(compose, FRONT) != endpoint.port:
        return None
    if metrics_port and published_port(compose) != metrics_port:
        return None
    return current


def generations(current: dict, found: list[dict]) -> list[dict]:
    """The new config's variants, each on a service (and model folder) the live config does not
    use: the lowest generation free."""
    taken = set(services(current))
    placed = []
    for variant in found:
        number = 0
        while variants.service_of({**variant, "Generation": number}) in taken:
            number += 1
        placed.append({**variant, "Generation": number} if number else dict(variant))
    return placed


def update_endpoint(endpoint: Endpoint, history: dict, current: dict, item: dict,
                    models: dict[str, dict]) -> dict:
    """Move the live endpoint to `item` ({"colour": …, model} or {"variants": […]}, each
    variant's model in `models` by name, a colour's under its colour) with no request lost;
    record it as a serve (under the caller's lock)."""
    old = current.get("variants", [])
    new = item.get("variants", [])
    starts = [(variants.place_of(variant), variants.service_of(variant), variant["Instances"],
               models[variant["VariantName"]]) for variant in new] or \
        [(item["colour"], item["colour"], 1, models[item["colour"]])]
    for place, _, _, model in starts:
        endpoint.stage(place, model)  # every archive first: a bad one changes nothing
    if old or new:
        endpoint.write_variants(old + new)  # compose knows both sets during the switch
    started = []

    def undo() -> None:
        if started:  # compose rm of no service would stop them all
            endpoint.remove(*started)
        if old:
            endpoint.write_variants(old)
        else:
            endpoint.overrides.unlink(missing_ok=True)

    try:
        for place, service, count, model in starts:
            say(f"UpdateEndpoint: {model['label']} on {count} new instance(s) ({service}); "
                f"{deployments.describe(current)} stays live until it answers")
            started.append(service)
            endpoint.start(place, service, count)
        endpoint.reload(routed(item), routed(current))
    except EndpointError:
        undo()
        raise
    gone = services(current)
    say(f"UpdateEndpoint: the new config takes the traffic; stopping {', '.join(gone)}")
    endpoint.remove(*gone)
    if new:
        endpoint.write_variants(new)
    else:
        endpoint.overrides.unlink(missing_ok=True)
    recorded = deployments.record(history, "serve", item.get("colour", "variants"),
                                  {key: value for key, value in item.items() if key != "colour"},
                                  current["id"])
    deployments.save(endpoint.folder, history)
    return recorded
