"""Run a CreateProcessingJob or CreateTrainingJob request, for any image, as SageMaker runs it.

A run of its kind named as the request names the job, under <local>/<kind>/<name>/: algo-1's
/opt/ml (the other hosts' under hosts/algo-N/), request.json, compose.json (the hosts'
containers) and run.json (the run's record and the Describe*Job answer). Each host gets
SageMaker's layout: training's input/config/*.json and channels at /opt/ml/input/data/<channel>,
processing's /opt/ml/config/*.json and inputs at their LocalPath; the image runs with the
request's entrypoint, arguments and environment (training: the image's own entrypoint with
`train` unless ContainerEntrypoint is given). MaxRuntimeInSeconds stops every host with SIGTERM
(SIGKILL 120 s later) and the job ends Stopped. At the end the model is packed and uploaded to
S3OutputPath/<job>/output/model.tar.gz (also when stopped, as SageMaker does), and processing
outputs are uploaded from their LocalPath to their S3Uri.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.api import describe, sourcedir
from pipeline.api import hosts as machines
from pipeline.api import requests as api
from pipeline.api.requests import JobRequest, RequestError
from pipeline.api.storage import Storage, StorageError, file_path, join
from pipeline.runs import files, jobrun
from pipeline.runs import records as runs
from training.contract.archive import pack

REQUEST = "request.json"
NAME_FIELD = {api.PROCESSING: "ProcessingJobName", api.TRAINING: "TrainingJobName"}
# Where jobs' runs are filed: their kind's folder, and the processing jobs of make evaluate,
# the baselines and the monitors.
FOLDERS = (api.TRAINING, api.PROCESSING, "transform", "evaluation", "baseline", "monitoring")
MESSAGE_FILE = {api.PROCESSING: "output/message", api.TRAINING: "output/failure"}
ALGORITHM_ERROR = "AlgorithmError: "
TAIL, LINE = 5, 200  # a failure reason's last log lines, each cut at LINE characters


@dataclass
class Engine:
    """Where runs live and how containers start; what make and a pipeline executor set."""
    local: Path
    project: str = "penguins"
    docker: str = "docker"
    storage: Storage = field(default_factory=Storage)
    workload: str | None = None  # a make step's runs carry it; a request's own runs do not
    # algo-1's output on the terminal too; a pipeline's steps, run side by side, keep theirs
    # in each run's logs.txt only.
    echo: bool = True
    # The host's user, as make's jobs run: the run's files stay the user's own.
    user: str = field(default_factory=lambda: f"{os.getuid()}:{os.getgid()}")
    # The runner's own line at a job's start and end; make's steps say their own.
    announce: bool = True


def run_job(request: dict | JobRequest, local: Path, **settings) -> dict:
    """Run either request; returns its Describe*Job answer (RequestError before any run when
    the request is wrong)."""
    job = request if isinstance(request, JobRequest) else api.parse(request)
    return run(job, Engine(Path(local), **settings))


def run_processing(request: dict, local: Path, **settings) -> dict:
    return run_job(api.processing(request), local, **settings)


def run_training(request: dict, local: Path, **settings) -> dict:
    return run_job(api.training(request), local, **settings)


def _check(job: JobRequest, engine: Engine) -> None:
    where = "ProcessingInputs" if job.kind == api.PROCESSING else "InputDataConfig"
    for index, item in enumerate(job.inputs):
        engine.storage.check(item.uri, f"{where}[{index}]", reading=True)
    for index, item in enumerate(job.outputs):
        engine.storage.check(item.uri, f"ProcessingOutputConfig.Outputs[{index}]")
    if job.output_path:
        engine.storage.check(job.output_path, "OutputDataConfig.S3OutputPath")


def open_run(engine: Engine, kind: str, name: str, field: str, body: dict,
             resume: bool = False, **fields) -> runs.Run:
    """A job's run record under its own name, with its request beside it; RequestError naming
    the name's field when a job of that name exists (every job kind's one check), unless
    `resume`: then an earlier attempt's run goes on in its folder (a continued tuning job's
    cut trial, from its checkpoints)."""
    if resume and (found := runs.load(engine.local / kind / name)) is not None:
        return _resumed(found, body, fields)
    try:
        run = runs.create(engine.local, kind, engine.workload, name=name, **fields)
    except FileExistsError:
        raise RequestError(f"{field}: a {kind} job named {name} exists already "
                           f"({engine.local / kind / name}); job names are unique, as on "
                           "SageMaker: pick another") from None
    files.write_json(run.folder / REQUEST, body)
    return run


def _resumed(run: runs.Run, body: dict, fields: dict) -> runs.Run:
    """The run of an interrupted attempt, InProgress again with a new attempt's fields; its
    start, folder, checkpoints and log (appended to) kept."""
    kept = {key: run.record[key] for key in ("name", "kind", "workload", "start")}
    run.record = {**kept, "status": runs.IN_PROGRESS, "end": None, **fields,
                  "attempts": run.record.get("attempts", 1) + 1}
    (run.folder / runs.FAILURE_FILES[run.record["kind"]]).unlink(missing_ok=True)
    runs.write_record(run.folder, run.record)
    files.write_json(run.folder / REQUEST, body)
    return run


def stop(engine: Engine, name: str, instance_count: int = 1) -> bool:
    """StopTrainingJob: SIGTERM to the named job's hosts (SIGKILL 120 s later); False when none
    of its containers runs (not started yet, or ended). The job then ends Stopped."""
    return machines.stop(engine, name, machines.names(instance_count))


def run(job: JobRequest, engine: Engine, kind: str | None = None, on_line=None,
        resume: bool = False, **record) -> dict:
    """A parsed request on `engine`: what a caller with its own settings (a pipeline's steps,
    make's) calls; the Describe*Job answer. `kind` files the run under another kind than the
    job's (make evaluate's processing job is an evaluation run); `record` adds to or takes the
    place of the run record's own fields (make's steps name the runs their inputs came from).
    `on_line` is called with each line of algo-1's log as the job writes it; `resume` lets a
    job of an existing run's name go on in that run (open_run)."""
    try:
        _check(job, engine)
    except StorageError as error:
        raise RequestError(str(error)) from None
    at = runs.iso(runs.now())
    fields = describe.started(job, at)
    if job.kind == api.TRAINING:
        fields["hyperparameters"] = job.hyperparameters
    fields = {"image": job.image, "image_digest": jobrun.image_digest(engine.docker, job.image),
              "inputs": {item.name: {"uri": item.uri} for item in job.inputs}, **fields, **record}
    run = open_run(engine, kind or job.kind, job.name, NAME_FIELD[job.kind], job.body, resume,
                   **fields)
    if engine.announce:
        jobrun.say(f"{job.kind} job {job.name}: {job.image} on {job.instance_count} host(s)")
    hosts = machines.names(job.instance_count)
    code, stopped, reason = 1, False, None
    try:
        sources = _inputs(job, engine, run)
        job, submitted = sourcedir.stage(job, engine.storage, run.folder / "input-code")
        if job.kind == api.TRAINING:
            describe.transition(run.record, "Training", runs.iso(runs.now()))
            runs.write_record(run.folder, run.record)
        code, stopped = machines.run_hosts(job, engine, run, hosts, sources, submitted,
                                           on_line, run.record.get("attempts", 1) > 1)
    except StorageError as error:
        reason = f"ClientError: {error}"
    return _finish(job, engine, run, hosts, code, stopped, reason)


def _inputs(job: JobRequest, engine: Engine, run: runs.Run) -> dict:
    """Each input's host path: a file:// path as it is, an s3:// prefix fetched into algo-1's
    /opt/ml where the job reads it."""
    sources = {}
    for item in job.inputs:
        path = file_path(item.uri)
        if path is None:
            if job.kind == api.TRAINING and run.record["SecondaryStatus"] != "Downloading":
                describe.transition(run.record, "Downloading", runs.iso(runs.now()))
            path = run.folder / "input-data" / item.name
            engine.storage.fetch(item.uri, path)
        sources[item.name] = path
    return sources


def _status(code: int, stopped: bool, reason: str | None) -> str:
    if reason:
        return runs.FAILED
    if stopped or code in runs.STOPPED_CODES:
        return runs.STOPPED
    return runs.COMPLETED if code == 0 else runs.FAILED


def _message(root: Path, kind: str) -> str:
    path = root / MESSAGE_FILE[kind]
    return path.read_text(errors="replace").strip()[:1024] if path.is_file() else ""


def _tail(log: Path) -> str:
    """The log's last lines, for a container that said nothing in its failure file: what a
    user reads first in CloudWatch."""
    if not log.is_file():
        return ""
    lines = [line.strip()[:LINE] for line in log.read_text(errors="replace").splitlines()
             if line.strip()]
    return f": {' | '.join(lines[-TAIL:])}" if lines else ""


def _upload(job: JobRequest, engine: Engine, run: runs.Run, hosts: tuple, status: str) -> str:
    """SageMaker's uploads at the end; returns the model's URI (training), else ''."""
    if job.kind == api.PROCESSING:
        if status == runs.COMPLETED:
            for host in hosts:
                root = machines.host_root(run, hosts, host)
                for item in job.outputs:
                    engine.storage.store(root / item.local_path.removeprefix("/opt/ml/"),
                                         item.uri)
        return ""
    model = run.folder / "model"
    if status == runs.FAILED or (status == runs.STOPPED and not any(model.iterdir())):
        return ""  # a failed job has no model, nor a stopped one that saved none
    describe.transition(run.record, "Uploading", runs.iso(runs.now()))
    output = join(job.output_path, job.name, "output")
    model = pack(model, run.folder / "output" / "model.tar.gz")
    engine.storage.store(model, join(output, "model.tar.gz"))
    data = run.folder / "output" / "data"
    if data.is_dir() and any(data.iterdir()):
        engine.storage.store(pack(data, run.folder / "output" / "output.tar.gz"),
                             join(output, "output.tar.gz"))
    return join(output, "model.tar.gz")


def _finish(job: JobRequest, engine: Engine, run: runs.Run, hosts: tuple, code: int,
            stopped: bool, reason: str | None) -> dict:
    status = _status(code, stopped, reason)
    model = ""
    try:
        model = _upload(job, engine, run, hosts, status)
    except (StorageError, OSError) as error:
        status, reason = runs.FAILED, f"ClientError: cannot upload the job's output: {error}"
    message = _message(run.folder, job.kind)
    if status == runs.FAILED and reason is None:
        # The first host that says why; a chief that names a failed peer comes first.
        said = next((text for host in hosts
                     if (text := _message(machines.host_root(run, hosts, host), job.kind))), "")
        reason = ALGORITHM_ERROR + (said or f"the container exited with code {code}"
                                    f"{_tail(run.folder / runs.LOGS)}; see "
                                    f"{run.folder / runs.LOGS}")
    logs = run.folder / runs.LOGS
    metrics = describe.final_metrics(job, logs.read_text(errors="replace")
                                     if logs.is_file() else "")
    runs.finish(run, 0 if status == runs.COMPLETED else code or 1, describe.key_metric(metrics))
    at = run.record["end"]
    run.record.update(status=status)
    if status == runs.COMPLETED:
        run.record.pop("failure_reason", None)
    elif status == runs.FAILED:
        # The run's own field says what the job said; FailureReason has SageMaker's prefix.
        run.record["failure_reason"] = reason.removeprefix(ALGORITHM_ERROR)
    else:
        run.record["failure_reason"] = ("MaxRuntimeInSeconds reached" if stopped
                                        else "stopped")
    describe.ended(run.record, job, status, at, reason=reason,
                   exit_message=message if job.kind == api.PROCESSING else None,
                   model=model or None, max_runtime_exceeded=stopped, metrics=metrics)
    runs.write_record(run.folder, run.record)
    if engine.announce:
        jobrun.say(f"{job.kind} job {job.name} {status} in {runs.duration(run.record)}"
                   + (f": {reason}" if reason else f" ({run.folder})"))
    return describe.answer(run.record)


def describe_job(local: Path, name: str) -> dict:
    """The Describe*Job answer of a job run by name (any kind); RequestError if none."""
    for kind in FOLDERS:
        run = runs.load(Path(local) / kind / name)
        if run is not None and any(status in run.record for status in describe.STATUS.values()):
            return describe.answer(run.record)
    raise RequestError(f"no job named {name} in {', '.join(f'{local}/{k}' for k in FOLDERS)} "
                       "(make jobs lists the runs)")

