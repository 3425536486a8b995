"""Each host of a job: its /opt/ml as SageMaker lays it out, its container, the stopping condition.

Hosts are algo-1 … algo-N, as SageMaker names the hosts of InstanceCount=N; algo-1's /opt/ml is
the run folder, the others' <run>/hosts/algo-N/. The containers are written into the run as the
services of a compose file (compose.json: JSON is YAML; `docker compose -f compose.json run
algo-1` runs a host again) and started with `docker run`, each host as its service would be,
under compose's labels for one project a job (a compose v1 client costs half a second of CPU a
container). Several hosts share an internal network where each is reachable by its name; one
host has no network, as a job with network isolation. Standard library only.
"""

import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

from pipeline.api import describe, sourcedir
from pipeline.api import requests as api
from pipeline.api.requests import JobRequest
from pipeline.runs import files, jobrun
from pipeline.runs import records as runs

COMPOSE = "compose.json"
# SageMaker's SIGTERM-to-SIGKILL time for a stopped training job: time to checkpoint.
STOP_GRACE_SECONDS = 120


def names(count: int) -> tuple:
    return tuple(f"algo-{number}" for number in range(1, count + 1))


def host_root(run: runs.Run, hosts: tuple, host: str) -> Path:
    return run.folder if host == hosts[0] else run.folder / "hosts" / host


def layout(job: JobRequest, root: Path, host: str, hosts: tuple) -> None:
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


def container_names(engine, job_name: str, hosts: tuple) -> dict:
    """Each host's container name: the job's compose project and the host."""
    project = f"{engine.project}-{job_name}".lower()
    return {host: f"{project}-{host}" for host in hosts}


def stop(engine, job_name: str, hosts: tuple) -> bool:
    """SageMaker's StopTrainingJob on a job's hosts: SIGTERM, STOP_GRACE_SECONDS to checkpoint,
    then SIGKILL; whether any of its containers was there to stop."""
    stopped = False
    for name in container_names(engine, job_name, hosts).values():
        done = subprocess.run([*shlex.split(engine.docker), "stop", "-t",
                               str(STOP_GRACE_SECONDS), name], capture_output=True)
        stopped = stopped or done.returncode == 0
    return stopped


def escape(value):
    """Compose reads $ as the start of a variable; a request's $ is the job's own."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape(item) for item in value]
    if isinstance(value, dict):
        return {key: escape(item) for key, item in value.items()}
    return value


def nesting(job: JobRequest) -> set[str]:
    """The inputs another input's LocalPath lies under (the SDK puts a processing job's code at
    /opt/ml/processing/input/code, inside its data input's /opt/ml/processing/input)."""
    paths = [item.local_path.rstrip("/") for item in job.inputs]
    return {item.name for item in job.inputs
            if any(other.startswith(item.local_path.rstrip("/") + "/") for other in paths)}


def service(job: JobRequest, engine, root: Path, sources: dict, several: bool,
            code: Path | None = None) -> dict:
    volumes = [f"{root}:/opt/ml"]
    if code is not None:  # script mode's code, fetched by the host (sourcedir.py)
        volumes.append(f"{code}:{sourcedir.CODE_FOLDER}:ro")
    parents = nesting(job)
    for item in job.inputs:
        source = sources[item.name]
        if item.name in parents or not source.is_dir():
            # The job gets its own copy, as SageMaker downloads every input into the
            # container's volume: a read-only mount could hold no mount point for an input
            # inside it (making one would write into the user's folder), and a file's mount
            # point would be left in the run as an empty file of root's. A file is small
            # (a script, a model archive) and the run keeps what its job read.
            staged = root / item.local_path.removeprefix("/opt/ml/")
            if source.is_dir():
                shutil.copytree(source, staged, dirs_exist_ok=True)
            else:
                staged.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, staged / source.name)
            continue
        volumes.append(f"{source}:{item.local_path}:ro")
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
    return service


def docker_run(docker: str, service: dict, name: str, project: str, host: str,
               network: str | None) -> list[str]:
    """The `docker run` of one host's service, with the labels compose gives a one-off run of
    it (so make test-clean and compose see it as the project's)."""
    words = [*shlex.split(docker), "run", "--rm", "--name", name, "--hostname", host,
             "--user", service["user"], "--stop-timeout", str(STOP_GRACE_SECONDS),
             "--label", f"com.docker.compose.project={project}",
             "--label", f"com.docker.compose.service={host}",
             "--label", "com.docker.compose.oneoff=True"]
    if service.get("init"):
        words.append("--init")
    if network:
        words += ["--network", network, "--network-alias", host]
    else:
        words += ["--network", "none"]
    for volume in service["volumes"]:
        words += ["--volume", volume]
    for key, value in service["environment"].items():
        words += ["--env", f"{key}={value}"]
    entrypoint = service.get("entrypoint") or []
    if entrypoint:  # docker run takes the executable alone; the rest go before the command
        words += ["--entrypoint", entrypoint[0]]
    return [*words, service["image"], *entrypoint[1:], *service.get("command", [])]


def host_network(docker: str, project: str, network: str = "hosts") -> str:
    """The internal network a job's hosts share, made before they start (`docker run` joins a
    network, it makes none); its name. Twins of that name, which compose runs starting at once
    could leave, are removed first: no container can join either ("network … is ambiguous")."""
    name, docker = f"{project}_{network}", shlex.split(docker)
    found = subprocess.run([*docker, "network", "ls", "-q", "--filter", f"name=^{name}$"],
                           capture_output=True, text=True).stdout.split()
    if len(found) > 1:
        subprocess.run([*docker, "network", "rm", *found], capture_output=True)
    if len(found) != 1:
        # Compose's labels, so that make test-clean and compose itself know it as the project's.
        subprocess.run([*docker, "network", "create", "--internal",
                        "--label", f"com.docker.compose.project={project}",
                        "--label", f"com.docker.compose.network={network}", name],
                       capture_output=True)
    return name


def remove_network(docker: str, network: str, seconds: float = 30) -> None:
    """The hosts' network once their containers are gone: `docker run --rm` returns when the
    container exits, and the engine removes it (and its endpoint on the network) just after."""
    deadline = time.monotonic() + seconds
    while subprocess.run([*shlex.split(docker), "network", "rm", network],
                         capture_output=True).returncode != 0:
        gone = subprocess.run([*shlex.split(docker), "network", "inspect", network],
                              capture_output=True).returncode != 0
        if gone or time.monotonic() > deadline:
            return  # else make test-clean removes it, by its project label
        time.sleep(0.2)


def run_hosts(job: JobRequest, engine, run: runs.Run, hosts: tuple, sources: dict,
              code: Path | None = None, on_line=None, resumed: bool = False) -> tuple[int, bool]:
    """Every host's container at once; (the first failing host's exit code or 0, whether
    MaxRuntimeInSeconds stopped them). `on_line` sees each line of algo-1's log as it is
    written (a tuning job's pruner); a resumed run appends to its hosts' logs."""
    several = len(hosts) > 1
    services = {}
    for host in hosts:
        root = host_root(run, hosts, host)
        layout(job, root, host, hosts)
        services[host] = service(job, engine, root, sources, several, code)
    spec = {"services": services}
    if several:  # the hosts reach each other, nothing else reaches them or the outside
        spec["networks"] = {"hosts": {"internal": True}}
    files.write_json(run.folder / COMPOSE, escape(spec))
    project = f"{engine.project}-{job.name}".lower()
    names = container_names(engine, job.name, hosts)
    network = host_network(engine.docker, project) if several else None
    commands = {host: docker_run(engine.docker, services[host], names[host], project, host,
                                 network) for host in hosts}
    codes, stopped = {}, threading.Event()
    if resumed:  # a container an earlier attempt's killed runner left holds the name
        subprocess.run([*shlex.split(engine.docker), "rm", "-f", *names.values()],
                       capture_output=True)

    def halt() -> None:
        stop(engine, job.name, hosts)

    def time_out() -> None:
        stopped.set()
        jobrun.say(f"{job.name}: MaxRuntimeInSeconds={job.max_runtime} reached, stopping")
        halt()

    def host_job(host: str) -> None:
        codes[host] = jobrun.container_run(
            commands[host], host_root(run, hosts, host) / runs.LOGS,
            echo=engine.echo and host == hosts[0], append=resumed,
            on_line=on_line if host == hosts[0] else None)

    timer = threading.Timer(job.max_runtime, time_out) if job.max_runtime else None
    threads = [threading.Thread(target=host_job, args=(host,)) for host in hosts]
    if timer:
        timer.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:  # Ctrl-C: the job is stopped as StopTrainingJob stops one
        jobrun.say(f"{job.name}: interrupted, stopping")
        halt()
        for thread in threads:
            thread.join()
        codes = {host: codes.get(host) or runs.STOPPED_CODES[-1] for host in hosts}
    finally:
        if timer:
            timer.cancel()
        if network:
            remove_network(engine.docker, network)
    return next((codes[host] for host in hosts if codes.get(host)), 0), stopped.is_set()
