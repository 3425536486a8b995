"""The program's Lambda functions, as local handlers (pipeline/workflow/lambdas.json maps their
ARNs here): `deploy` puts a registered model package on the endpoint, `schedule_monitors`
starts the monitoring schedule. Each sends the requests the Lambda sends on AWS (CreateModel of
the package, CreateEndpointConfig and CreateEndpoint or UpdateEndpoint; Create*JobDefinition and
CreateMonitoringSchedule), through the make target that takes them here (`make job`, `make
monitor-schedule`), so the endpoint and schedule are the same ones `make serve`/`make
deploy`/`make monitor-schedule` manage (a schedule the pipeline made before is updated: `make
update-schedule`). make's own variables (IMAGE_TAG, ENDPOINT_PORT...) reach it through
MAKEFLAGS.
"""

import json
import os
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pipeline.api import schedules
from pipeline.jobs import resources
from pipeline.monitoring import schedulerecords, schedulerequests

REPO = Path(__file__).resolve().parents[2]
PACKAGE = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:model-package/([^/]+)/(\d+)$")


def make(*arguments: str) -> None:
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *arguments],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"make {' '.join(arguments)} failed: {' | '.join(tail)}")


def local_dir() -> Path:
    return Path(os.environ.get("LOCAL_DIR", str(REPO / "local")))


def deployment_requests(event: dict, stamp: str) -> list[dict]:
    """CreateModel of the event's model package, CreateEndpointConfig of one variant serving
    it, and the CreateEndpoint/UpdateEndpoint of endpoint_name, as the program's Lambda sends
    them; names made unique by `stamp`, as SageMaker's must be."""
    arn = str(event.get("model_package_arn", ""))
    match = PACKAGE.match(arn)
    if not match:
        raise ValueError(f"model_package_arn {arn!r} is not a model package version's ARN "
                         "(…:model-package/<group>/<version>)")
    group, version = match.groups()
    endpoint = event.get("endpoint_name", "penguins-endpoint")
    model = {"ModelName": f"{group}-v{version}-{stamp}",
             "PrimaryContainer": {"ModelPackageName": arn}}
    if event.get("role"):
        model["ExecutionRoleArn"] = event["role"]
    config = {"EndpointConfigName": f"{endpoint[:38]}-config-{stamp}", "ProductionVariants": [{
        "VariantName": "AllTraffic", "ModelName": model["ModelName"],
        "InitialInstanceCount": int(event.get("instance_count", 1)),
        "InstanceType": event.get("instance_type", "ml.m5.xlarge"),
        "InitialVariantWeight": 1.0}]}
    return [model, config, {"EndpointName": endpoint,
                            "EndpointConfigName": config["EndpointConfigName"]}]


def deploy(event: dict, context) -> dict:
    """The package's version on the endpoint: CreateEndpoint when this folder keeps no endpoint
    of that name, else UpdateEndpoint (blue/green, as make deploy moves it)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
    model, config, endpoint = deployment_requests(event, stamp)
    action = resources.endpoint_kind(local_dir(), endpoint)
    with tempfile.TemporaryDirectory(prefix="deploy-requests-") as folder:
        for index, body in enumerate((model, config, endpoint)):
            path = Path(folder) / f"{index}.json"
            path.write_text(json.dumps(body, indent=2))
            make("job", f"REQUEST={path}")
    return {"endpoint_name": endpoint["EndpointName"], "action": action,
            "model_package_version":
                model["PrimaryContainer"]["ModelPackageName"].rsplit("/", 1)[1],
            "endpoint_config_name": config["EndpointConfigName"]}


# SageMaker's Model Monitor analyzer, the image the program's Lambda names: the training image
# implements its contract here (pipeline/monitoring/schedulerequests.py maps it).
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
BASELINES = {"DATA_QUALITY": ("data_quality_statistics", "data_quality_constraints"),
             "MODEL_QUALITY": (None, "model_quality_constraints")}


def monitor_requests(event: dict) -> list:
    """The CreateModelQualityJobDefinition/CreateDataQualityJobDefinition and
    CreateMonitoringSchedule requests of the event: a monitor for each baseline it names
    (data_quality_statistics and data_quality_constraints; model_quality_constraints, with
    ground_truth_s3_uri, and problem_type, default MulticlassClassification), on endpoint_name,
    every schedule_expression (hourly)."""
    workload = event.get("workload", "penguins")
    local = str(local_dir())
    baselines = {}
    for analysis, (statistics, constraints) in BASELINES.items():
        if event.get(constraints) and (statistics is None or event.get(statistics)):
            baselines[analysis] = {"constraints": event[constraints]}
            if statistics:
                baselines[analysis]["statistics"] = event[statistics]
    config = {"ScheduleExpression": event.get("schedule_expression", schedules.HOURLY)}
    config.update({key: event[name] for key, name in (
        ("DataAnalysisStartTime", "data_analysis_start_time"),
        ("DataAnalysisEndTime", "data_analysis_end_time")) if event.get(name)})
    endpoint = event.get("endpoint_name", f"{workload}-endpoint")
    return schedulerequests.monitors(
        endpoint, endpoint, {"ImageUri": event.get("image_uri", ANALYZER)}, baselines,
        event.get("ground_truth_s3_uri", f"file://{local}/ground-truth/{workload}"),
        event.get("output_s3_uri", f"file://{local}/monitoring-reports"), config,
        int(event.get("max_runtime_in_seconds", 3600)), event.get("problem_type"))


def schedule_monitors(event: dict, context) -> dict:
    """CreateMonitoringSchedule for the endpoint's data (and model) quality: the requests of the
    event's baselines through make monitor-schedule REQUEST=; an event that names none leaves
    the choice to make monitor-schedule, whose own requests take the served version's."""
    bodies = monitor_requests(event)
    if not bodies:
        make("monitor-schedule")
        return {"schedule": "started", "endpoint_name": event.get("endpoint_name", ""),
                "schedules": "make's own"}
    local = local_dir()
    names = [body["MonitoringScheduleName"] for body in bodies if "MonitoringScheduleName" in body]
    # A schedule the pipeline made before is updated, as a Lambda that runs at each execution
    # must: CreateMonitoringSchedule refuses a name in use.
    existing = {name for name in names if schedulerecords.find(local, name)}
    with tempfile.TemporaryDirectory(prefix="monitor-requests-") as folder:
        definitions, created, updated = [], [], []
        for index, body in enumerate(bodies):
            path = Path(folder) / f"{index}.json"
            path.write_text(json.dumps(body, indent=2))
            name = body.get("MonitoringScheduleName")
            (definitions if name is None else updated if name in existing else created).append(
                str(path))
        for target, files in (("monitor-schedule", created), ("update-schedule", updated)):
            if files:
                make(target, f"REQUEST={' '.join(definitions + files)}")
    return {"schedule": "started", "endpoint_name": event.get("endpoint_name", ""),
            "schedules": ",".join(names)}
