"""The monitoring schedule's requests: what `make monitor-schedule` sends for the built-in monitors,
how a request becomes the plan its host process runs, and the DescribeMonitoringSchedule record.

For the built-in workload each monitor with a baseline is what the SDK's DefaultModelMonitor and
ModelQualityMonitor send: a Create{DataQuality,ModelQuality}JobDefinition request and a
CreateMonitoringSchedule naming it. MONITOR_INTERVAL, MONITOR_WINDOW and MONITOR_MAX_RUNTIME are
written into the request where SageMaker's rules allow them (an interval of whole hours that
divides a day is a cron expression, a window up to 24 hours the DataAnalysisStartTime offset);
beyond them (a 3-second interval, a window of years, which tests use) they are this machine's
overrides, kept in schedule.json and said, never in request.json. Each schedule's folder,
<LOCAL_DIR>/schedules/<workload>/<MonitoringScheduleName>/, keeps request.json (and
job-definition.json), describe.json and its baseline (pipeline/monitoring/schedulerecords.py).
Standard library only.
"""

import json
import re
import shutil
import tempfile
from pathlib import Path

from pipeline.api import schedules, storage
from pipeline.api.monitoringjobs import MAX_RUNTIME, MonitoringJob
from pipeline.api.requests import RequestError
from pipeline.api.submit import INSTANCE_TYPE, uri
from pipeline.monitoring import requests
from pipeline.monitoring import schedulerecords as records
from pipeline.runs.records import RunError

KINDS = {"DATA_QUALITY": "DataQuality", "MODEL_QUALITY": "ModelQuality"}
# SageMaker's own analyzer image: the training image implements its contract here.
ANALYZER = re.compile(r"^\d+\.dkr\.ecr\.[^/]+/sagemaker-model-monitor-analyzer(:.*)?$")
REQUEST, DEFINITION = "request.json", "job-definition.json"


def expression(interval: int | None) -> str | None:
    """MONITOR_INTERVAL as Model Monitor's cron expression, None when it has none."""
    if interval is None or interval == 3600:
        return schedules.HOURLY
    hours, rest = divmod(interval, 3600)
    if rest or not 1 < hours <= 24 or 24 % hours:
        return None
    return "cron(0 0 ? * * *)" if hours == 24 else f"cron(0 0/{hours} ? * * *)"


def builtin(args, chosen: dict) -> tuple[list, dict]:
    """(the requests, the local overrides) of make monitor-schedule: per analysis in `chosen`
    ({analysis: (what, {"statistics": path, "constraints": path})}) a job definition and a
    schedule naming it."""
    cron = expression(args.interval)
    overrides = {} if cron else {"interval": args.interval}
    config = {"ScheduleExpression": cron or schedules.HOURLY}
    if args.window and args.window <= schedules.WINDOW_LIMIT:
        config["DataAnalysisStartTime"] = f"-PT{args.window}S"
    elif args.window:
        overrides["window"] = args.window
    app = {"ImageUri": args.image, "ContainerEntrypoint": ["monitor"],
           "ContainerArguments": ["--workload", args.workload]}
    found = {analysis: {key: uri(path) for key, path in files.items()}
             for analysis, (_, files) in chosen.items()}
    model = chosen.get("MODEL_QUALITY")
    return monitors(args.workload, f"{args.workload}-endpoint", app, found,
                    uri(args.ground_truth), uri(args.local / "monitoring-reports"), config,
                    args.max_runtime or min(args.interval or 3600, MAX_RUNTIME),
                    requests.problem_type(model[1]["constraints"]) if model else None), \
        overrides


def monitors(prefix: str, endpoint: str, app: dict, baselines: dict, ground_truth: str,
             output: str, config: dict, runtime: int, problem_type: str | None = None) -> list:
    """The requests the SDK's DefaultModelMonitor and ModelQualityMonitor send for `endpoint`:
    per analysis in `baselines` ({analysis: {"statistics": URI, "constraints": URI}}) a
    Create*JobDefinition named <prefix>-<data|model>-quality and a CreateMonitoringSchedule
    naming it (<that>-schedule), run by `app` (ImageUri, and maybe ContainerEntrypoint...);
    model quality's ProblemType `problem_type` (default MulticlassClassification, the built-in
    workloads')."""
    bodies = []
    for analysis, files in baselines.items():
        kind = KINDS[analysis]
        name = f"{prefix}-{kind.replace('Quality', '-quality').lower()}"
        endpoint_input = {"EndpointName": endpoint, "LocalPath": requests.ENDPOINT,
                          "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
        spec = {**app, "Environment": {"publish_cloudwatch_metrics": "Disabled"}}
        job_input = {"EndpointInput": endpoint_input}
        baseline = {"ConstraintsResource": {"S3Uri": files["constraints"]}}
        if analysis == "MODEL_QUALITY":
            spec["ProblemType"] = problem_type or "MulticlassClassification"
            endpoint_input.update(InferenceAttribute="prediction",
                                  ProbabilityAttribute="confidence")
            job_input["GroundTruthS3Input"] = {"S3Uri": ground_truth}
        else:
            baseline["StatisticsResource"] = {"S3Uri": files["statistics"]}
        bodies.append({
            "JobDefinitionName": name, f"{kind}AppSpecification": spec,
            f"{kind}BaselineConfig": baseline, f"{kind}JobInput": job_input,
            f"{kind}JobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": output, "LocalPath": requests.RESULTS, "S3UploadMode": "EndOfJob"}}]},
            "JobResources": {"ClusterConfig": {"InstanceCount": 1,
                                               "InstanceType": INSTANCE_TYPE,
                                               "VolumeSizeInGB": 1}},
            "StoppingCondition": {"MaxRuntimeInSeconds": runtime}})
        bodies.append({"MonitoringScheduleName": f"{name}-schedule", "MonitoringScheduleConfig": {
            "MonitoringJobDefinitionName": name, "MonitoringType": kind,
            "ScheduleConfig": config}})
    return bodies


def parsed(bodies: list) -> list[tuple[schedules.Schedule, MonitoringJob]]:
    definitions = {}
    for body in bodies:
        if "JobDefinitionName" in body:
            job = schedules.definition(body)
            definitions[job.name] = job
    found = [schedules.parse(body) for body in bodies if "JobDefinitionName" not in body]
    return [(schedule, schedules.resolve(schedule, definitions)) for schedule in found]


def baseline_file(resource: str, target: Path) -> None:
    """A baseline file, file:// or s3:// (through the local S3), copied to `target`. An S3 URI
    is fetched as a prefix: the object it names lands by its name, beside any other key it
    begins (constraints.json.old), which is not taken."""
    with tempfile.TemporaryDirectory() as scratch:
        storage.from_environment().fetch(resource, Path(scratch))
        named = Path(scratch) / resource.rstrip("/").rsplit("/", 1)[-1]
        found = [path for path in Path(scratch).rglob("*") if path.is_file()]
        if not named.is_file() and len(found) != 1:
            raise storage.StorageError(f"{resource}: not one file")
        shutil.copyfile(named if named.is_file() else found[0], target)


def entry(args, own: Path, schedule: schedules.Schedule, job: MonitoringJob,
          before: dict | None = None) -> dict:
    """A schedule's part of its schedule.json; its baseline copied into `own`/baseline/ (a
    schedule compares with what it was created with), its request and Describe record (Pending;
    `before`: the one it updates) written in `own`, the folder it is being made in."""
    if not job.constraints:
        raise RunError(f"{schedule.name}: its job has no ConstraintsResource: nothing to "
                       "compare with (run a baseline job and name its constraints.json)")
    target = own / records.BASELINE
    target.mkdir(parents=True)
    for key in ("statistics", "constraints"):
        resource = getattr(job, key)
        if resource:
            try:
                baseline_file(resource, target / f"{key}.json")
            except storage.StorageError as error:
                raise RunError(f"{schedule.name}: baseline {key}: {error}") from None
    (own / REQUEST).write_text(json.dumps(schedule.body, indent=2) + "\n")
    if job.name:
        (own / DEFINITION).write_text(json.dumps(job.body, indent=2) + "\n")
    records.describe(own, schedule, job, "Pending", before)
    image = args.image if ANALYZER.match(job.image) else job.image
    # Model quality's EndpointInput offsets (labels come late) when the schedule has none.
    start, end = (job.offsets.get(key) if offset is None else offset for key, offset in (
        ("StartTimeOffset", schedule.start_offset), ("EndTimeOffset", schedule.end_offset)))
    return {"MonitoringScheduleName": schedule.name, "expression": schedule.expression,
            "hours": schedule.hours, "start_offset": start, "end_offset": end,
            "max_runtime": job.max_runtime, "image": image,
            "entrypoint": job.entrypoint or ["monitor"],
            "arguments": job.arguments or ["--workload", args.workload],
            "environment": {**job.environment, **job.attributes,
                            **({"problem_type": job.problem_type} if job.problem_type else {})},
            "endpoint": job.endpoint, "definition": job.name,
            "ground_truth": job.ground_truth, "preprocessor": job.preprocessor,
            "output": job.output_uri}


def load(paths: list, update: bool = False) -> list:
    """The (schedule, job) pairs of REQUEST's files (`update`: UpdateMonitoringSchedule
    bodies), RunError naming the file and field."""
    try:
        definitions, found = schedules.load(paths, update)
        return [(schedule, schedules.resolve(schedule, definitions)) for schedule in found]
    except RequestError as error:
        raise RunError(str(error)) from None
