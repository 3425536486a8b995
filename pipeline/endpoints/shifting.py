"""Blue/green updates of a one-model endpoint: all at once, or in a canary's or linear steps
whose alarms roll the update back (pipeline/endpoints/guardrails.py). Standard library only.
"""

import shlex
import time

from pipeline.endpoints import deployments, guardrails
from pipeline.endpoints.bluegreen import Endpoint, EndpointError, colour_variants, request, say
from pipeline.endpoints.metrics import published_port
from pipeline.endpoints.served import kept

# The router writes its metrics lines at least this often (serving/router.py).
FLUSH_SECONDS = 1.0


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
        breach = shift(endpoint, plan, watch, lambda share: colour_variants(new) if share >= 100
                       else colour_variants(old, 100 - share) + colour_variants(new, share),
                       colour_variants(old), lambda: endpoint.remove(new),
                       lambda share: f"{action}: {share:g}% of the traffic on {new}")
        if breach is not None:
            raise EndpointError(f"{action} rolled back: {fired(breach)} with {breach[2]:g}% of "
                                f"the traffic on {new}; {deployments.describe(current)} is "
                                f"live on {old} again")
    item = deployments.record(history, action, new, kept(model), previous)
    deployments.save(endpoint.folder, history)
    endpoint.remove(old)
    say(f"{deployments.describe(item)} is live on {new} (port {endpoint.port}); "
        f"stopped {old}, which served {deployments.describe(current)}")


def shift(endpoint: Endpoint, plan: dict, watch: "Watch | None", routes_at, back: list[dict],
          undo, said) -> tuple[dict, float, float] | None:
    """Route as routes_at(share) says at each of the plan's steps, each baking its wait; when
    an alarm fires, route as `back` again, undo() and return (alarm, value, share)."""
    for share in guardrails.steps(plan):
        try:
            endpoint.reload(routes_at(share), back)
        except EndpointError:
            undo()
            raise
        say(said(share))
        if share >= 100:
            continue
        if watch is None:
            time.sleep(plan["wait"])
            continue
        breach = watch.bake(plan["wait"], plan["alarms"])
        if breach is not None:
            endpoint.reload(back, None)
            undo()
            return (*breach, share)
    return None


def fired(breach: tuple[dict, float, float]) -> str:
    alarm, value, _ = breach
    return (f"alarm {alarm['AlarmName']} fired ({alarm['MetricName']} {value:g}, "
            f"{alarm['ComparisonOperator']} {alarm['Threshold']:g})")


class Watch:
    """The router's metrics, scraped from its published port, for the alarms."""

    def __init__(self, endpoint: Endpoint, variant: str | None = None):
        self.variant = variant  # the alarms watch this variant's metrics only, if given
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
            breach = guardrails.fired(alarms, before, self.scrape(), self.variant)
            if breach is not None:
                return breach
        return None
