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
import shlex
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.api import describe
from pipeline.api import requests as api
from pipeline.api.requests import JobRequest, RequestError
from pipeline.api.storage import Storage, StorageError, file_path, join
from pipeline.runs import files, jobrun
from pipeline.runs import records as runs
from training.contract.archive import pack

REQUEST = "request.json"
COMPOSE = "compose.json"
# SageMaker's SIGTERM-to-SIGKILL time for a stopped training job: time to checkpoint.
STOP_GRACE_SECONDS = 120
NAME_FIELD = {api.PROCESSING: "ProcessingJobName", api.TRAINING: "TrainingJobName"}
MESSAGE_FILE = {api.PROCESSING: "output/message", api.TRAINING: "output/failure"}


def default_compose() -> str:
    """Compose v2 where the plugin exists, else the v1 docker-compose binary (as the Makefile)."""
    done = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return "docker compose" if done.returncode == 0 else "docker-compose"


@dataclass
class Engine:
    """Where runs live and how containers start; what make and a pipeline executor set."""
    local: Path
    project: str = "penguins"
    compose: str = field(default_factory=default_compose)
    docker: str = "docker"
    storage: Storage = field(default_factory=Storage)
    workload: str | None = None  # a make step's runs carry it; a request's own runs do not
    user: str = f"{os.getuid()}:{os.getgid()}"


def run_job(request: dict | JobRequest, local: Path, **settings) -> dict:
    """Run either request; returns its Describe*Job answer (RequestError before any run when
    the request is wrong)."""
    job = request if isinstance(request, JobRequest) else api.parse(request)
    return _run(job, Engine(Path(local), **settings))


def run_processing(request: dict, local: Path, **settings) -> dict:
    return run_job(api.processing(request), local, **settings)


def run_training(request: dict, local: Path, **settings) -> dict:
    return run_job(api.training(request), local, **settings)


def _check(job: JobRequest, engine: Engine) -> None:
    where = "ProcessingInputs" if job.kind == api.PROCESSING else "InputDataConfig"
    for index, item in enumerate(job.inputs):
        engine.storage.check(item.uri, f"{where}[{index}] input")
    for index, item in enumerate(job.outputs):
        engine.storage.check(item.uri, f"ProcessingOutputConfig.Outputs[{index}] output")
    if job.output_path:
        engine.storage.check(job.output_path, "OutputDataConfig.S3OutputPath output")


def _run(job: JobRequest, engine: Engine) -> dict:
    try:
        _check(job, engine)
    except StorageError as error:
        raise RequestError(str(error)) from None
    at = runs.iso(runs.now())
    fields = describe.started(job, at)
    if job.kind == api.TRAINING:
        fields["hyperparameters"] = job.hyperparameters
    try:
        run = runs.create(engine.local, job.kind, engine.workload, name=job.name,
                          image=job.image, image_digest=jobrun.image_digest(engine.docker,
                                                                            job.image),
                          inputs={item.name: {"uri": item.uri} for item in job.inputs}, **fields)
    except FileExistsError:
        raise RequestError(f"{NAME_FIELD[job.kind]}: a {job.kind} job named {job.name} exists "
                           f"already ({engine.local / job.kind / job.name}); job names are "
                           "unique, as on SageMaker: pick another") from None
    files.write_json(run.folder / REQUEST, job.body)
    jobrun.say(f"{job.kind} job {job.name}: {job.image} on {job.instance_count} host(s)")
    hosts = tuple(f"algo-{number}" for number in range(1, job.instance_count + 1))
    code, stopped, reason = 1, False, None
    try:
        sources = _inputs(job, engine, run)
        if job.kind == api.TRAINING:
            describe.transition(run.record, "Training", runs.iso(runs.now()))
            runs.write_record(run.folder, run.record)
        code, stopped = _containers(job, engine, run, hosts, sources)
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


def _host_root(run: runs.Run, hosts: tuple, host: str) -> Path:
    return run.folder if host == hosts[0] else run.folder / "hosts" / host


def _layout(job: JobRequest, run: runs.Run, root: Path, host: str, hosts: tuple) -> None:
    """One host's /opt/ml as SageMaker lays it out before the container starts."""
    resource = {"current_host": host, "hosts": list(hosts), "network_interface_name": "eth0"}
    if job.kind == api.TRAINING:
        config = root / "input" / "config"
        for name in ("model", "output/data", "checkpoints", *(f"input/data/{item.name}"
                                                              for item in job.inputs)):
            (root / name).mkdir(parents=True, exist_ok=True)
        config.mkdir(parents=True, exist_ok=True)
        files.write_json(config / "hyperparameters.json", job.hyperparameters)
        files.write_json(config / "resourceconfig.json", resource)
        files.write_json(config / "inputdataconfig.json",
                         {item.name: item.config for item in job.inputs})
        return
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "output").mkdir(exist_ok=True)
    for item in (*job.inputs, *job.outputs):
        (root / item.local_path.removeprefix("/opt/ml/")).mkdir(parents=True, exist_ok=True)
    files.write_json(root / "config" / "processingjobconfig.json",
                     {**job.body, "ProcessingJobArn": describe.arn(job.kind, job.name)})
    files.write_json(root / "config" / "resourceconfig.json",
                     {"current_host": host, "hosts": list(hosts)})


def _escape(value):
    """Compose reads $ as the start of a variable; a request's $ is the job's own."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape(item) for item in value]
    if isinstance(value, dict):
        return {key: _escape(item) for key, item in value.items()}
    return value


def _service(job: JobRequest, engine: Engine, root: Path, sources: dict, several: bool) -> dict:
    volumes = [f"{root}:/opt/ml"]
    for item in job.inputs:
        source = sources[item.name]
        target = item.local_path if source.is_dir() else f"{item.local_path}/{source.name}"
        volumes.append(f"{source}:{target}:ro")
    environment = dict(job.environment)
    if job.kind == api.TRAINING:
        environment.update(TRAINING_JOB_NAME=job.name,
                           TRAINING_JOB_ARN=describe.arn(job.kind, job.name))
    service = {"image": job.image, "user": engine.user, "init": True, "volumes": volumes,
               "environment": environment, "stop_grace_period": f"{STOP_GRACE_SECONDS}s"}
    if job.entrypoint:
        service["entrypoint"] = list(job.entrypoint)
    if job.arguments is not None:
        service["command"] = list(job.arguments)
    elif job.kind == api.TRAINING and not job.entrypoint:
        service["command"] = ["train"]  # how SageMaker starts a training image
    if several:
        service["networks"] = ["hosts"]
    else:
        service["network_mode"] = "none"
    return _escape(service)


def _containers(job: JobRequest, engine: Engine, run: runs.Run, hosts: tuple,
                sources: dict) -> tuple[int, bool]:
    """Every host's container at once; (the first failing host's exit code or 0, whether
    MaxRuntimeInSeconds stopped them)."""
    several = len(hosts) > 1
    services = {}
    for host in hosts:
        root = _host_root(run, hosts, host)
        _layout(job, run, root, host, hosts)
        services[host] = _service(job, engine, root, sources, several)
    spec = {"services": services}
    if several:  # the hosts reach each other, nothing else reaches them or the outside
        spec["networks"] = {"hosts": {"internal": True}}
    files.write_json(run.folder / COMPOSE, spec)
    project = f"{engine.project}-{job.name}".lower()
    compose = f"{engine.compose} -p {project} -f {shlex.quote(str(run.folder / COMPOSE))}"
    names = {host: f"{project}-{host}" for host in hosts}
    codes, stopped = {}, threading.Event()

    def stop() -> None:
        stopped.set()
        jobrun.say(f"{job.name}: MaxRuntimeInSeconds={job.max_runtime} reached, stopping")
        for name in names.values():
            subprocess.run([*shlex.split(engine.docker), "stop", "-t", str(STOP_GRACE_SECONDS),
                            name], capture_output=True)

    def host_job(host: str) -> None:
        codes[host] = jobrun.compose_run(
            compose, host, [], {}, _host_root(run, hosts, host) / runs.LOGS,
            options=("--name", names[host], *(("--use-aliases",) if several else ())),
            echo=host == hosts[0])

    timer = threading.Timer(job.max_runtime, stop) if job.max_runtime else None
    threads = [threading.Thread(target=host_job, args=(host,)) for host in hosts]
    if timer:
        timer.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        if timer:
            timer.cancel()
        if several:
            subprocess.run([*shlex.split(compose), "down", "--remove-orphans"],
                           capture_output=True)
    return next((codes[host] for host in hosts if codes.get(host)), 0), stopped.is_set()


def _status(code: int, stopped: bool, reason: str | None) -> str:
    if reason:
        return runs.FAILED
    if stopped or code in runs.STOPPED_CODES:
        return runs.STOPPED
    return runs.COMPLETED if code == 0 else runs.FAILED


def _message(root: Path, kind: str) -> str:
    path = root / MESSAGE_FILE[kind]
    return path.read_text(errors="replace").strip()[:1024] if path.is_file() else ""


def _upload(job: JobRequest, engine: Engine, run: runs.Run, hosts: tuple, status: str) -> str:
    """SageMaker's uploads at the end; returns the model's URI (training), else ''."""
    if job.kind == api.PROCESSING:
        if status == runs.COMPLETED:
            for host in hosts:
                root = _host_root(run, hosts, host)
                for item in job.outputs:
                    engine.storage.store(root / item.local_path.removeprefix("/opt/ml/"),
                                         item.uri)
        return ""
    if status == runs.FAILED:
        return ""  # a failed training job has no model
    describe.transition(run.record, "Uploading", runs.iso(runs.now()))
    output = join(job.output_path, job.name, "output")
    model = pack(run.folder / "model", run.folder / "output" / "model.tar.gz")
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
                     if (text := _message(_host_root(run, hosts, host), job.kind))), "")
        reason = "AlgorithmError: " + (said or f"the container exited with code {code}; "
                                       f"see {run.folder / runs.LOGS}")
    logs = run.folder / runs.LOGS
    metrics = describe.final_metrics(job, logs.read_text(errors="replace")
                                     if logs.is_file() else "")
    runs.finish(run, 0 if status == runs.COMPLETED else code or 1, describe.key_metric(metrics))
    at = run.record["end"]
    run.record.update(status=status)
    if status == runs.COMPLETED:
        run.record.pop("failure_reason", None)
    elif status == runs.FAILED:
        run.record["failure_reason"] = reason
    else:
        run.record["failure_reason"] = ("MaxRuntimeInSeconds reached" if stopped
                                        else "stopped")
    describe.ended(run.record, job, status, at, reason=reason,
                   exit_message=message if job.kind == api.PROCESSING else None,
                   model=model or None, max_runtime_exceeded=stopped, metrics=metrics)
    runs.write_record(run.folder, run.record)
    jobrun.say(f"{job.kind} job {job.name} {status} in {runs.duration(run.record)}"
               + (f": {reason}" if reason else f" ({run.folder})"))
    return describe.answer(run.record)


def describe_job(local: Path, name: str) -> dict:
    """The Describe*Job answer of a job run by name (any kind); RequestError if none."""
    for kind in (api.TRAINING, api.PROCESSING):
        run = runs.load(Path(local) / kind / name)
        if run is not None and describe.STATUS[kind] in run.record:
            return describe.answer(run.record)
    raise RequestError(f"no job named {name} in {local}/training or {local}/processing "
                       "(make jobs lists the runs)")

