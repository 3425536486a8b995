"""SageMaker's endpoint requests, as `make job REQUEST=…` takes them: CreateEndpointConfig (kept
as LOCAL_DIR/endpoint-configs/<name>.json), CreateEndpoint (the config served: `make serve
ENDPOINT_CONFIG=`'s own path), UpdateEndpoint (the running endpoint moved to a new config, as
`make serve` on a running endpoint does, with its DeploymentConfig as `make deploy` honours
one), and their Describe answers.

The endpoint is the workload's, as make runs it (ENDPOINT_PORT, LOCAL_DIR/endpoint/<workload>):
EndpointName names it in the requests and in LOCAL_DIR/endpoints/<name>.json, DescribeEndpoint's
record. A variant's ModelName is a registered version ("3" or "v3"), a model archive's path, or
a model a CreateModel request kept (its file:// ModelDataUrl is the archive served; a model of
a model package, its version's archive in the registry). Every body
is checked whole, each mistake named by its JSON path, before anything changes. Standard
library only.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from pipeline.api import models
from pipeline.api.describe import resource_arn as arn
from pipeline.api.requests import (
    NAME_PATTERN,
    RequestError,
    check_known,
    checked_name,
    get_field,
)
from pipeline.api.storage import file_path
from pipeline.endpoints import deployments, guardrails, variants
from pipeline.registry import models as registry
from pipeline.registry import packages
from pipeline.runs import files
from pipeline.runs import records as runs

REPO = Path(__file__).resolve().parents[2]
CONFIGS, ENDPOINTS = "endpoint-configs", "endpoints"
CONFIG_FIELDS = {"EndpointConfigName", "ProductionVariants", "Tags", "KmsKeyId",
                 "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation"}
# CreateEndpointConfig's fields that need what this endpoint does not have: refused by name.
CONFIG_REFUSED = {
    "DataCaptureConfig": "data capture is the endpoint's own here (make serve captures; "
                         "docs/monitoring.md)",
    "AsyncInferenceConfig": "asynchronous inference does not run here",
    "ExplainerConfig": "SageMaker Clarify's explainer does not run here",
    "ShadowProductionVariants": "shadow variants do not run here; give ProductionVariants",
}
CREATE_FIELDS = {"EndpointName", "EndpointConfigName", "DeploymentConfig", "Tags"}
UPDATE_FIELDS = {"EndpointName", "EndpointConfigName", "DeploymentConfig",
                 "RetainAllVariantProperties", "ExcludeRetainedVariantProperties",
                 "RetainDeploymentConfig"}


def _name(body: dict, key: str) -> str:
    return checked_name(body, key, "SageMaker name")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RequestError(f"{path}: cannot read it ({error})") from None


def served_config(local: Path, config: dict) -> dict:
    """The config as `make serve ENDPOINT_CONFIG=` takes it: a ModelName that names a kept
    CreateModel becomes its archive's path."""
    served = {key: config[key] for key in ("EndpointConfigName", "ProductionVariants")
              if key in config}
    items = config.get("ProductionVariants")
    if isinstance(items, list):
        served["ProductionVariants"] = [dict(item) if isinstance(item, dict) else item
                                        for item in items]
    for index, item in enumerate(served.get("ProductionVariants") or []):
        name = item.get("ModelName") if isinstance(item, dict) else None
        kept = models.describe(local, name) if isinstance(name, str) and \
            NAME_PATTERN.fullmatch(name) else None
        if kept is None:
            continue
        package = kept.get("PrimaryContainer", {}).get("ModelPackageName")
        if package:
            where = f"ProductionVariants[{index}].ModelName: model {name}'s ModelPackageName"
            try:
                folder = registry.version_folder(*packages.version_of(local, package, where))
            except registry.RegistryError as error:
                raise RequestError(str(error)) from None
            item["ModelName"] = str(folder / registry.ARCHIVE)
            continue
        url = kept.get("PrimaryContainer", {}).get("ModelDataUrl", "")
        path = file_path(url)
        if path is None or not path.name.endswith(".tar.gz"):
            raise RequestError(f"ProductionVariants[{index}].ModelName: model {name}'s "
                               f"ModelDataUrl {url!r} is not a file:// model.tar.gz, which "
                               "the endpoint serves here")
        item["ModelName"] = str(path)
    return served


def create_config(local: Path, body) -> dict:
    """CreateEndpointConfig: checked whole, then kept; a name kept already is refused."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, CONFIG_FIELDS, "", CONFIG_REFUSED)
    name = _name(body, "EndpointConfigName")
    try:
        variants.endpoint_config(served_config(local, body))
    except variants.VariantError as error:
        raise RequestError(str(error)) from None
    path = Path(local) / CONFIGS / f"{name}.json"
    if path.exists():
        raise RequestError(f"EndpointConfigName: an endpoint config named {name} exists "
                           f"already ({path}); SageMaker's names are unique: give another")
    record = {**{key: value for key, value in body.items() if key != "Tags"},
              "EndpointConfigArn": arn("endpoint-config", name),
              "CreationTime": runs.iso(runs.now())}
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, record)
    return record


def describe_config(local: Path, name: str) -> dict | None:
    return _read(Path(local) / CONFIGS / f"{name}.json")


def _config_of(local: Path, body: dict) -> tuple[str, dict]:
    name = _name(body, "EndpointConfigName")
    config = describe_config(local, name)
    if config is None:
        raise RequestError(f"EndpointConfigName: no endpoint config {name} (CreateEndpointConfig "
                           f"keeps one in {Path(local) / CONFIGS})")
    return name, served_config(local, config)


def _plan(body: dict) -> dict | None:
    given = body.get("DeploymentConfig")
    if given is None:
        return None
    try:
        guardrails.deployment_config(given)
    except guardrails.GuardrailError as error:
        text = str(error)
        raise RequestError(text if text.startswith("DeploymentConfig")
                           else f"DeploymentConfig.{text}") from None
    return given


class ServeFailed(Exception):
    """make serve ended with an error; its own lines said why."""


def make(*arguments: str) -> None:
    """A make target of this repository, with the caller's make variables (MAKEFLAGS)."""
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *arguments])
    if done.returncode != 0:
        raise ServeFailed(f"make {' '.join(arguments)} failed (exit {done.returncode}); its "
                          "lines above say why, and the endpoint is as it was")


def _serve(config: dict, plan: dict | None, run=None) -> None:
    """`make serve ENDPOINT_CONFIG=` (and DEPLOYMENT_CONFIG=) with the config as a file."""
    with tempfile.TemporaryDirectory(prefix="endpoint-request-") as folder:
        path = Path(folder) / "endpoint-config.json"
        path.write_text(json.dumps(config))
        arguments = ["serve", f"ENDPOINT_CONFIG={path}"]
        if plan is not None:
            (Path(folder) / "deployment-config.json").write_text(json.dumps(plan))
            arguments.append(f"DEPLOYMENT_CONFIG={Path(folder) / 'deployment-config.json'}")
        (run or make)(*arguments)  # make looked up now, so a test can stand in for it


def endpoint_path(local: Path, name: str) -> Path:
    return Path(local) / ENDPOINTS / f"{name}.json"


def create_endpoint(local: Path, body, run=None) -> dict:
    """CreateEndpoint: the named config served on the workload's endpoint."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, CREATE_FIELDS, "")
    name = _name(body, "EndpointName")
    config_name, config = _config_of(local, body)
    _plan(body)  # checked now; it shapes the updates that follow on SageMaker, none here
    path = endpoint_path(local, name)
    if path.exists():
        raise RequestError(f"EndpointName: an endpoint named {name} exists already ({path}); "
                           "send UpdateEndpoint to give it a new config")
    at = runs.iso(runs.now())
    record = {"EndpointName": name, "EndpointArn": arn("endpoint", name),
              "EndpointConfigName": config_name, "CreationTime": at, "LastModifiedTime": at,
              "endpoint_dir": os.environ.get("ENDPOINT_DIR", "")}
    _serve(config, None, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, record)
    return describe_endpoint(local, name)


def update_endpoint(local: Path, body, run=None) -> dict:
    """UpdateEndpoint: the running endpoint moved to the named config, blue/green, the
    DeploymentConfig's canary or linear shifting honoured as make deploy honours it."""
    if not isinstance(body, dict):
        raise RequestError("the request is not a JSON object")
    check_known(body, UPDATE_FIELDS, "")
    for key in ("RetainAllVariantProperties", "RetainDeploymentConfig"):
        if get_field(body, key, "", bool, required=False):
            raise RequestError(f"{key}: nothing is retained here; the new config's weights "
                               "and counts are served, and a DeploymentConfig is given each "
                               "time")
    name = _name(body, "EndpointName")
    config_name, config = _config_of(local, body)
    plan = _plan(body)
    path = endpoint_path(local, name)
    record = _read(path)
    if record is None:
        raise RequestError(f"EndpointName: no endpoint named {name} (CreateEndpoint makes "
                           f"one; {path.parent} keeps them)")
    _serve(config, plan, run)
    record.update(EndpointConfigName=config_name, LastModifiedTime=runs.iso(runs.now()))
    files.write_json(path, record)
    return describe_endpoint(local, name)


def describe_endpoint(local: Path, name: str) -> dict | None:
    """DescribeEndpoint: InService while the workload's endpoint is live, else OutOfService;
    the variants as its config gives them."""
    record = _read(endpoint_path(local, name))
    if record is None:
        return None
    folder = record.pop("endpoint_dir", "")
    try:
        live = folder and deployments.live(deployments.load(Path(folder))) is not None
    except deployments.HistoryError:
        live = False
    config = describe_config(local, record["EndpointConfigName"]) or {}
    record["EndpointStatus"] = "InService" if live else "OutOfService"
    record["ProductionVariants"] = [
        {"VariantName": item.get("VariantName"),
         "CurrentWeight": item.get("InitialVariantWeight", 1.0),
         "DesiredWeight": item.get("InitialVariantWeight", 1.0),
         "CurrentInstanceCount": item.get("InitialInstanceCount", 1),
         "DesiredInstanceCount": item.get("InitialInstanceCount", 1)}
        for item in config.get("ProductionVariants", []) if isinstance(item, dict)]
    return record
