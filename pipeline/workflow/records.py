"""An execution kept like a job run: `<local>/executions/<pipeline>-<id>/` holds the definition
it ran, `execution.json` (DescribePipelineExecution's fields), `steps.json`
(ListPipelineExecutionSteps' answer: StepName, StepStatus, StartTime, EndTime, AttemptCount,
Metadata with the job ARNs, FailureReason, CacheHitResult; newest first) and
`properties/<step>.json` (what each step produced, which later executions' caches read).
"""

import hashlib
import json
import re
import secrets
import string
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.api.describe import resource_arn as arn
from pipeline.runs import files

EXECUTIONS = "executions"
EXECUTION, STEPS, PROPERTIES = "execution.json", "steps.json", "properties"
# <local>/executions/.cache/<pipeline>/<cache key>.json: the newest successful run of that work.
CACHE = ".cache"
# ISO 8601 durations as CacheConfig's ExpireAfter writes them (P30D, PT1H, P1Y2M...).
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                      r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_id() -> str:
    """A 12-character execution id, as SageMaker's."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def duration(text: str) -> timedelta:
    match = DURATION.match(text or "")
    if not match or not any(match.groups()):
        raise ValueError(f"ExpireAfter {text!r} is not an ISO 8601 duration such as P30D or PT1H")
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=365 * years + 30 * months + 7 * weeks + days, hours=hours,
                     minutes=minutes, seconds=seconds)


# The attributes SageMaker's cache compares, by step type (its "default cache key attributes");
# a change anywhere else (an output path with the execution id in it) is still a hit. Types it
# does not list compare their whole resolved step.
CACHE_KEYS = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "QualityCheck": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig",
                 "DebugRuleConfigurations", "Environment", "HyperParameters",
                 "InputDataConfig"),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition",
               "TrainingJobDefinitions"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}
TUNING_DEFINITION_KEYS = ("AlgorithmSpecification", "HyperParameterRanges", "InputDataConfig",
                          "StaticHyperParameters", "TuningObjective")
STEP_FIELDS = ("Name", "DependsOn", "CacheConfig", "RetryPolicies", "DisplayName", "Description",
               "Arguments", "PropertyFiles")


def cache_key(step_type: str, resolved: dict) -> str:
    """The same step type with the same key attributes is the same work, whatever its name."""
    arguments = resolved.get("Arguments", {})
    if step_type in CACHE_KEYS:
        kept = {key: arguments.get(key) for key in CACHE_KEYS[step_type]}
        definition = kept.get("TrainingJobDefinition")
        if step_type == "Tuning" and isinstance(definition, dict):
            kept["TrainingJobDefinition"] = {key: definition.get(key)
                                             for key in TUNING_DEFINITION_KEYS}
    else:
        kept = {"Arguments": arguments}
    kept.update({key: value for key, value in resolved.items() if key not in STEP_FIELDS})
    text = json.dumps({"Type": step_type, **kept}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Execution:
    """One execution's folder; steps start in worker threads, so its writes take a lock."""

    def __init__(self, local: Path, pipeline: str, definition: dict, parameters: dict,
                 execution_id: str | None = None):
        self.pipeline, self.id = pipeline, execution_id or new_id()
        self.folder = Path(local) / EXECUTIONS / f"{pipeline}-{self.id}"
        self.folder.mkdir(parents=True)
        (self.folder / PROPERTIES).mkdir()
        files.write_json(self.folder / "definition.json", definition)
        self.started = now()
        self.pipeline_arn = arn("pipeline", pipeline)
        self.arn = f"{self.pipeline_arn}/execution/{self.id}"
        self.record = {
            "PipelineName": pipeline, "PipelineArn": self.pipeline_arn,
            "PipelineExecutionArn": self.arn,
            "PipelineExecutionDisplayName": f"execution-{self.id}",
            "PipelineExecutionStatus": "Executing", "CreationTime": iso(self.started),
            "LastModifiedTime": iso(self.started),
            "PipelineParameters": [{"Name": name, "Value": _text(value)}
                                   for name, value in parameters.items()],
        }
        self.steps: dict = {}
        self.lock = threading.Lock()
        self.save()

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        self.record["LastModifiedTime"] = iso(now())
        files.write_json(self.folder / EXECUTION, self.record)
        listed = sorted(self.steps.values(), key=lambda step: step["StartTime"], reverse=True)
        files.write_json(self.folder / STEPS, {"PipelineExecutionSteps": listed})

    def step(self, name: str, **fields) -> dict:
        with self.lock:
            record = self.steps.setdefault(name, {"StepName": name})
            record.update({key: value for key, value in fields.items() if value is not None})
            self._save()
        return record

    def keep_properties(self, name: str, kind: str, key: str, properties: dict,
                        metadata: dict) -> None:
        kept = {"StepType": kind, "CacheKey": key, "Properties": properties,
                "Metadata": metadata, "EndTime": iso(now()), "PipelineExecutionArn": self.arn}
        files.write_json(self.folder / PROPERTIES / f"{name}.json", kept)
        index = self.folder.parent / CACHE / self.pipeline
        index.mkdir(parents=True, exist_ok=True)
        files.write_json(index / f"{key}.json", kept)

    def finish(self, status: str, reason: str | None = None) -> None:
        self.record["PipelineExecutionStatus"] = status
        if reason:
            self.record["FailureReason"] = reason
        self.save()


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cached(local: Path, pipeline: str, key: str, expire_after: str | None) -> dict | None:
    """The newest earlier successful run of the same work in this pipeline, if not expired."""
    try:
        kept = json.loads((Path(local) / EXECUTIONS / CACHE / pipeline / f"{key}.json")
                          .read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if expire_after and parse_time(kept["EndTime"]) < now() - duration(expire_after):
        return None
    return kept


def executions(local: Path) -> list[dict]:
    """Every execution's record with its steps' statuses, newest first."""
    found = []
    for folder in (Path(local) / EXECUTIONS).glob("*/"):
        try:
            record = json.loads((folder / EXECUTION).read_text())
            steps = json.loads((folder / STEPS).read_text())["PipelineExecutionSteps"]
        except (OSError, json.JSONDecodeError, KeyError):
            continue
        found.append({**record, "Folder": str(folder), "Steps": steps})
    return sorted(found, key=lambda record: record["CreationTime"], reverse=True)
