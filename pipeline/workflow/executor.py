"""One execution of a definition: each step started when every step it waits for has
Succeeded, at most `parallel` at once; a condition's untaken branch and everything after it not
run; on a failure no new step starts, the running ones finish, and the execution is Failed with
the step's reason. A step with CacheConfig reuses an earlier run of the same work; a step with
RetryPolicies is tried again on the exception types they name.

Runners are a table: step type -> callable(StepRequest) returning the step's properties (the
Describe*-shaped dict that `Get` expressions read) or a StepResult with its own Metadata.
"""

import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.workflow import conditions, records
from pipeline.workflow.definition import Definition, Step
from pipeline.workflow.expressions import ExpressionError, Resolver, Scope, walk

SUCCEEDED, FAILED, EXECUTING, NOT_RUN = "Succeeded", "Failed", "Executing", "NotRun"
SERVICE_FAULT = "Step.SERVICE_FAULT"
# step type -> (Metadata key, the property holding the ARN of what it made)
METADATA = {"Processing": ("ProcessingJob", "ProcessingJobArn"),
            "Training": ("TrainingJob", "TrainingJobArn"),
            "Tuning": ("TuningJob", "HyperParameterTuningJobArn"),
            "Transform": ("TransformJob", "TransformJobArn"),
            "Model": ("Model", "ModelArn"),
            "RegisterModel": ("RegisterModel", "ModelPackageArn")}
# Step types that get a job name (ExecutionVariables.TrainingJobName / ProcessingJobName).
JOB_VARIABLES = {"Processing": "ProcessingJobName", "Training": "TrainingJobName"}


class StepFailed(Exception):
    """A step that ended Failed: its reason, the exception type a RetryPolicy can name (None: a
    failure of the work itself, which SageMaker does not retry), and the step's metadata when a
    failed step still has some (a QualityCheck's ViolationReport)."""

    def __init__(self, reason: str, exception_type: str | None = None,
                 metadata: dict | None = None):
        super().__init__(reason)
        self.reason, self.exception_type, self.metadata = reason, exception_type, metadata


@dataclass
class StepRequest:
    name: str
    type: str
    arguments: dict  # resolved
    step: dict  # the whole step, resolved (FunctionArn, PropertyFiles, CheckType...)
    job_name: str
    execution: dict  # the execution variables
    folder: Path  # the execution's folder
    local: Path


@dataclass
class StepResult:
    properties: dict
    metadata: dict = field(default_factory=dict)


def job_name(execution_id: str, step: str) -> str:
    """SageMaker names a pipeline's jobs pipelines-<execution id>-<step>-<suffix>; 63 at most."""
    clean = "".join(c if c.isalnum() or c == "-" else "-" for c in step)[:33].strip("-")
    return f"pipelines-{execution_id}-{clean}-{records.new_id()[:6]}"


def parameter_values(definition: Definition, overrides: dict) -> dict:
    """Each parameter's value: the override (cast to its Type) or its default."""
    unknown = sorted(set(overrides) - set(definition.parameters))
    if unknown:
        raise ValueError(f"parameter {unknown[0]!r} is not in the definition (it has: "
                         f"{', '.join(definition.parameters) or 'none'})")
    values = {}
    for name, spec in definition.parameters.items():
        if name in overrides:
            values[name] = cast(name, spec["Type"], overrides[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise ValueError(f"parameter {name} has no default: give it a value ({name}=...)")
        allowed = spec.get("EnumValues")
        if allowed and values[name] not in allowed:
            raise ValueError(f"parameter {name}: {values[name]!r} is not one of {allowed}")
    return values


def cast(name: str, kind: str, value):
    if not isinstance(value, str):
        return value
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
    except ValueError:
        raise ValueError(f"parameter {name}: {value!r} is not a {kind}") from None
    if kind == "Boolean":
        if value.lower() not in ("true", "false"):
            raise ValueError(f"parameter {name}: {value!r} is not a Boolean (true or false)")
        return value.lower() == "true"
    return value


class Executor:
    def __init__(self, definition: Definition, runners: dict, local: Path, pipeline: str,
                 overrides: dict | None = None, parallel: int = 2,
                 read: Callable[[str], bytes] | None = None, sleep=time.sleep,
                 report: Callable[[str], None] = lambda line: None):
        self.definition, self.runners, self.local = definition, runners, Path(local)
        self.pipeline, self.parallel, self.sleep, self.report = pipeline, parallel, sleep, report
        self.values = parameter_values(definition, overrides or {})
        self.read = read or _no_reader
        self.properties: dict = {}
        self.status: dict = {}
        self.property_files: dict = {}

    # What expressions read ------------------------------------------------------------------
    def step_properties(self, name: str) -> dict:
        if self.status.get(name) != SUCCEEDED:
            raise ExpressionError(f"step {name} has not succeeded, so its properties are unknown")
        return self.properties[name]

    def property_file(self, step_name: str, file_name: str):
        if (step_name, file_name) in self.property_files:
            return self.property_files[step_name, file_name]
        step = self.definition.steps[step_name]
        declared = {spec.get("PropertyFileName"): spec
                    for spec in step.raw.get("PropertyFiles", [])}
        if file_name not in declared:
            raise ExpressionError(f"step {step_name} declares no property file {file_name!r} "
                                  f"(it has: {', '.join(map(str, declared)) or 'none'})")
        spec = declared[file_name]
        output = walk(self.step_properties(step_name),
                      ["ProcessingOutputConfig", "Outputs", spec["OutputName"], "S3Output",
                       "S3Uri"], f"property file {file_name} of step {step_name}")
        uri = f"{output.rstrip('/')}/{spec['FilePath']}"
        try:
            document = json.loads(self.read(uri))
        except (OSError, ValueError) as error:
            raise ExpressionError(f"property file {file_name} of step {step_name}: cannot read "
                                  f"{uri} as JSON ({error})") from None
        self.property_files[step_name, file_name] = document
        return document

    # The run ---------------------------------------------------------------------------------
    def run(self, execution_id: str | None = None) -> records.Execution:
        self.execution = records.Execution(self.local, self.pipeline, self.definition.raw,
                                           self.values, execution_id)
        started = records.iso(self.execution.started)
        variables = {"PipelineName": self.pipeline, "PipelineArn": self.execution.pipeline_arn,
                     "PipelineExecutionId": self.execution.id,
                     "PipelineExecutionArn": self.execution.arn, "StartDateTime": started}
        self.scope = Scope(self.values, variables, self.step_properties, self.property_file,
                           self.read, {"ExperimentName": self.pipeline,
                                       "TrialName": self.execution.id})
        self.report(f"execution {self.execution.id} of {self.pipeline}: {self.execution.folder}")
        try:
            failure = self._loop()
        except KeyboardInterrupt:
            self.execution.finish("Stopped", "stopped by the user (Ctrl-C)")
            raise
        if failure:
            self.execution.finish(FAILED, failure)
        else:
            self.execution.finish(SUCCEEDED)
        status = self.execution.record["PipelineExecutionStatus"]
        self.report(f"execution {self.execution.id}: {status}"
                    + (f" ({failure})" if failure else ""))
        return self.execution

    def _loop(self) -> str | None:
        """Start what is ready, wait for a step to end, record it; the first failure's reason."""
        failure, pending = None, list(self.definition.steps)
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            running = {}
            while True:
                for name in list(pending):
                    state = self._readiness(self.definition.steps[name])
                    if state == NOT_RUN:
                        self.status[name] = NOT_RUN
                        pending.remove(name)
                    elif state == "ready" and failure is None and len(running) < self.parallel:
                        pending.remove(name)
                        running[pool.submit(self._attempts, self.definition.steps[name])] = name
                        self.status[name] = EXECUTING
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    reason = self._finish(self.definition.steps[name], *future.result())
                    failure = failure or reason
        return failure

    def _readiness(self, step: Step) -> str:
        if step.branch_of:
            condition, side = step.branch_of
            if self.status.get(condition) == SUCCEEDED:
                taken = "IfSteps" if self.properties[condition]["Outcome"] else "ElseSteps"
                if side != taken:
                    return NOT_RUN
        states = [self.status.get(other) for other in step.depends_on]
        if any(state in (FAILED, NOT_RUN) for state in states):
            return NOT_RUN
        return "ready" if all(state == SUCCEEDED for state in states) else "waiting"

    def _attempts(self, step: Step):
        """Runs in a worker thread: the step, tried again as its RetryPolicies allow."""
        start = records.now()
        self.execution.step(step.name, StepStatus="Starting", StartTime=records.iso(start))
        attempts = 0
        while True:
            attempts += 1
            try:
                return start, attempts, self._once(step), None
            except Exception as caught:  # noqa: BLE001 - any end of a step is recorded
                error = caught if isinstance(caught, StepFailed) else StepFailed(
                    f"{type(caught).__name__}: {caught}", SERVICE_FAULT)
                wait_seconds = self._retry_after(step, error.exception_type, attempts, start)
                if wait_seconds is None:
                    return start, attempts, None, error
                self.report(f"step {step.name}: {error.reason}; retrying in {wait_seconds:g} s")
                self.sleep(wait_seconds)

    def _retry_after(self, step: Step, exception_type, attempts: int, start) -> float | None:
        for policy in step.raw.get("RetryPolicies", []):
            if exception_type is None or exception_type not in policy.get("ExceptionType", []):
                continue
            retries = policy.get("MaxAttempts")
            expire = policy.get("ExpireAfterMin")
            if retries is not None and attempts > retries:
                return None
            if expire is not None and (records.now() - start).total_seconds() > 60 * expire:
                return None
            backoff = policy.get("BackoffRate", 2.0) ** (attempts - 1)
            return policy.get("IntervalSeconds", 1) * backoff
        return None

    def _once(self, step: Step):
        """(properties, metadata, cache hit) of one attempt; StepFailed when it fails."""
        name = job_name(self.execution.id, step.name)
        extra = {"CurrentDateTime": records.iso(records.now())}
        if step.type in JOB_VARIABLES:
            extra[JOB_VARIABLES[step.type]] = name
        resolver = Resolver(self.scope, extra)
        try:
            if step.type == "Condition":
                outcome = conditions.all_hold(step.arguments["Conditions"], resolver.resolve)
                return ({"Outcome": outcome}, {"Condition": {"Outcome": str(outcome)}}, None)
            resolved = resolver.resolve(step.raw)
        except (ExpressionError, conditions.ConditionError) as error:
            raise StepFailed(str(error)) from None
        if step.type == "Fail":
            message = records._text(resolved.get("Arguments", {}).get("ErrorMessage", ""))
            raise StepFailed(message or "a Fail step was reached")
        cache = step.raw.get("CacheConfig") or {}
        key = records.cache_key(step.type, resolved)
        if cache.get("Enabled"):
            earlier = records.cached(self.local, self.pipeline, key, cache.get("ExpireAfter"))
            if earlier:
                return earlier["Properties"], earlier["Metadata"], earlier["PipelineExecutionArn"]
        runner = self.runners.get(step.type)
        if runner is None:
            raise StepFailed(f"step type {step.type} does not run here (runs: "
                             f"{', '.join(sorted({*self.runners, 'Condition', 'Fail'}))})")
        request = StepRequest(step.name, step.type, resolved.get("Arguments", {}), resolved, name,
                              resolver.execution, self.execution.folder, self.local)
        try:
            result = runner(request)
        except StepFailed:
            raise
        except Exception as error:  # noqa: BLE001 - the runner's own fault is the step's reason
            raise StepFailed(f"{type(error).__name__}: {error}", SERVICE_FAULT) from error
        if not isinstance(result, StepResult):
            result = StepResult(result or {})
        metadata = result.metadata or _metadata(step.type, result.properties)
        self.execution.keep_properties(step.name, step.type, key, result.properties, metadata)
        return result.properties, metadata, None

    def _finish(self, step: Step, start, attempts, outcome, error) -> str | None:
        """Record a step's end (on the executor's thread); the execution's failure reason if
        it failed."""
        fields = {"StartTime": records.iso(start), "EndTime": records.iso(records.now()),
                  "AttemptCount": attempts}
        if error is not None:
            self.status[step.name] = FAILED
            metadata = {"Fail": {"ErrorMessage": error.reason}} if step.type == "Fail" \
                else error.metadata
            self.execution.step(step.name, StepStatus=FAILED, FailureReason=error.reason,
                                Metadata=metadata, **fields)
            self.report(f"step {step.name}: Failed: {error.reason}")
            return f"Step {step.name} failed: {error.reason}"
        properties, metadata, source = outcome
        self.properties[step.name] = properties
        self.status[step.name] = SUCCEEDED
        hit = {"SourcePipelineExecutionArn": source} if source else None
        self.execution.step(step.name, StepStatus=SUCCEEDED, Metadata=metadata,
                            CacheHitResult=hit, **fields)
        self.report(f"step {step.name}: Succeeded" + (" (cache hit)" if source else ""))
        return None


def _metadata(kind: str, properties: dict) -> dict:
    if kind in METADATA and METADATA[kind][1] in properties:
        key, field_name = METADATA[kind]
        return {key: {"Arn": properties[field_name]}}
    return {}


def _no_reader(uri: str) -> bytes:
    raise OSError(f"no reader for {uri}")
