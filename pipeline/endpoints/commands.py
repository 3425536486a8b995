"""`python -m pipeline.endpoints.commands serve|deploy|rollback|weights|stop|invoke`: the endpoint,
updated as SageMaker updates one, blue/green, with no failed request.

`serve` starts the router and one colour with a model (or production variants:
pipeline/endpoints/fleet.py, which also changes their weights); `deploy` puts the newest Approved
version on the idle colour and shifts the traffic to it (pipeline/endpoints/shifting.py);
`rollback` goes back to the model that was live before, the same way
(pipeline/endpoints/deployments.py keeps the history). `serve` on a running endpoint is
UpdateEndpoint with a new config (pipeline/endpoints/reconfigure.py). On an endpoint of
variants, `deploy --variant` replaces one variant's model and `rollback` puts back the models
before (pipeline/endpoints/updates.py).
Standard library only: make runs it with the host's python3.
"""

import argparse
import sys
from pathlib import Path

from pipeline.endpoints import deployments, variants
from pipeline.endpoints.bluegreen import Endpoint, EndpointError, endpoint_options, request, say
from pipeline.endpoints.fleet import deployment_plan, serve_variants, weights
from pipeline.endpoints.reconfigure import running_live, update_endpoint
from pipeline.endpoints.served import (
    archive_model,
    kept,
    live_or_fail,
    registered,
    remove_all,
    start_router,
)
from pipeline.endpoints.shifting import update
from pipeline.endpoints.updates import chosen_variant, deploy_variant, rollback_variants
from pipeline.registry import models as registry

# A real record of the model's own test split, which the training job ships in the archive.
SAMPLE = "sample.json"


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
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = running_live(endpoint, history, args.metrics_port)
        if current is not None:
            colour = deployments.idle_colour(current)
            update_endpoint(endpoint, history, current, {"colour": colour, **kept(model)},
                            {colour: model})
            say(f"endpoint updated: {model['label']} on {colour}, "
                f"http://localhost:{endpoint.port}/invocations (make invoke; make deploy; "
                "make stop)")
            return
        colour = deployments.COLOURS[0]
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


def deploy(endpoint: Endpoint, args) -> None:
    plan = deployment_plan(args)
    model = registered(args.registry, None)
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        name = chosen_variant(current, args.variant, "deploy")
        if name is not None:
            deploy_variant(endpoint, history, current, name, model, plan)
            return
        if current["sha256"] == model["sha256"]:
            say(f"{model['label']} is already live on port {endpoint.port}; nothing to do")
            return
        update(endpoint, history, current, model, "deploy", current["id"], plan)


def rollback(endpoint: Endpoint, args) -> None:
    with deployments.locked(endpoint.folder):
        history = deployments.load(endpoint.folder)
        current = live_or_fail(endpoint, history)
        if "variants" in current:
            rollback_variants(endpoint, history, current)
            return
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
    place = variants.place_of(current["variants"][0]) if "variants" in current \
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
    first.add_argument("--deployment-config", help="UpdateEndpoint's DeploymentConfig: how a "
                       "running endpoint moves to the --endpoint-config of one variant")
    change = commands.add_parser("weights", help="new variant weights, no failed request")
    change.add_argument("--variants", help='VARIANTS="v3:50 v4:50"')
    shift = commands.add_parser("deploy", help="the newest Approved version, blue/green")
    shift.add_argument("--deployment-config", help="UpdateEndpoint's DeploymentConfig, a JSON "
                       "file (canary or linear traffic shifting, alarms)")
    shift.add_argument("--variant", help="VARIANT: the production variant whose model it "
                       "replaces, on an endpoint of variants")
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
