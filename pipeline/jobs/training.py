"""The training step: one host, or several as SageMaker's instance_count (INSTANCES).

Each host gets SageMaker's /opt/ml layout: algo-1's is the run folder, the others' are
<run>/hosts/<host>/ (only algo-1's is output). Standard library only.
"""

import json
import shlex
import threading
from pathlib import Path

from pipeline.jobs import scripts
from pipeline.runs import jobrun
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

# The metric `make jobs` shows for a training run: SageMaker's validation:accuracy definition.
KEY_METRIC = ("validation:accuracy", r"val_accuracy=([0-9\.]+)")

CHANNELS = ("train", "validation", "pipeline")

# Multi-host training: docker-compose.yml's host services; algo-1's /opt/ml is the run folder,
# the others' <run>/hosts/<host>/ (SageMaker gives each host its own; only algo-1's is output).
# More hosts are generated into <run>/hosts/compose.yml, each extending algo-1.
HOSTS = ("algo-1", "algo-2")


def hyperparameters(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        values[name] = value  # strings, as SageMaker writes hyperparameters.json
    return values


def instance_count(text: str) -> int:
    """INSTANCES as a number of hosts, or RunError before any run starts."""
    count = int(text) if text.strip().isdigit() else 0
    if count < 1:
        raise RunError(f"INSTANCES={text!r}: give the number of training hosts, a whole "
                       "number from 1 (1 = one host, no distribution)")
    return count


def train(args) -> int:
    instances = instance_count(str(args.instances))
    source = runs.take(args.local, "processing", args.processing_job, args.workload)
    jobrun.say(f"training on processing run {source.name}")
    paths = training_paths(source)
    hps = hyperparameters(args.hyperparameter)
    inputs = {name: {"run": source.name, "path": str(path)} for name, path in paths.items()}
    source_dir = None
    if getattr(args, "entry_point", None):  # script mode: the user's code, not a workload
        name, source_dir = scripts.entry_point(args.entry_point, args.source_dir)
        hps |= scripts.program_hyperparameters(name)
        inputs["code"] = {"path": str(source_dir.resolve())}
    run = jobrun.start(args, "training", hyperparameters=hps, inputs=inputs)
    if instances > 1:
        code = train_hosts(args, run, paths, hps, instances, source_dir)
    else:
        mounts = training_folders(run, paths, hps, code=source_dir)
        code = jobrun.compose_run(args.compose, "training", [], mounts, run.folder / runs.LOGS)
    logs = (run.folder / runs.LOGS).read_text(errors="replace")
    return jobrun.end(args, run, code, runs.last_metric(logs, *KEY_METRIC))


def train_hosts(args, run: runs.Run, paths: dict, hps: dict, instances: int,
                code: Path | None = None) -> int:
    """Every host's job at once, as SageMaker's instance_count; the chief's log is the run's."""
    hosts, codes = host_names(instances), {}
    compose = args.compose
    extra = hosts_compose(hosts, jobrun.compose_files(compose), run.folder / "hosts")
    if extra is not None:
        compose = f"{compose} -f {shlex.quote(str(extra))}"

    def host_job(host: str) -> None:
        root = run.folder if host == hosts[0] else run.folder / "hosts" / host
        mounts = training_folders(run, paths, hps, host, hosts, root, code)
        mounts["HOST_DIR"] = mounts.pop("JOB_DIR")
        codes[host] = jobrun.compose_run(compose, host, [], mounts, root / runs.LOGS,
                                         options=("--use-aliases",), echo=host == hosts[0])

    jobrun.host_network(args.docker, compose)
    threads = [threading.Thread(target=host_job, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The chief's failure names a failed peer; that host's own failure says why.
    for host in hosts[1:]:
        failure = run.folder / "hosts" / host / "output" / "failure"
        if codes[host] and failure.is_file():
            jobrun.say(f"{host} failed: {failure.read_text().strip()}")
    return next((codes[host] for host in hosts if codes[host]), 0)


def host_names(instances: int) -> tuple:
    """algo-1 … algo-N, as SageMaker names the hosts of instance_count=N."""
    return tuple(f"algo-{number}" for number in range(1, instances + 1))


def hosts_compose(hosts: tuple, files: list[Path], folder: Path) -> Path | None:
    """A compose file with the hosts docker-compose.yml lacks (algo-3 …), each extending its
    algo-1; None when it has them all."""
    missing = [host for host in hosts if host not in HOSTS]
    if not missing:
        return None
    base = next((path for path in files if path.name == "docker-compose.yml"), files[0])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compose.yml"
    # JSON is YAML: no YAML library needed on the host.
    path.write_text(json.dumps({"services": {host: {"extends": {
        "file": str(base), "service": HOSTS[0]}} for host in missing}}, indent=2) + "\n")
    return path


def training_paths(source: runs.Run) -> dict:
    """The channels a training run mounts from a processing run."""
    return {name: source.folder / "processing" / name for name in CHANNELS}


def training_folders(run: runs.Run, paths: dict, hps: dict, host: str = "algo-1",
                     hosts: tuple = ("algo-1",), root: Path | None = None,
                     code: Path | None = None) -> dict:
    """A training run's /opt/ml (one host's: root) as SageMaker lays it out, with the source
    dir of a script-mode job (code) packed in its code channel; returns the compose mounts."""
    root = root or run.folder
    if code is not None:
        scripts.stage_code(root, code)
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)  # a resumed tuning trial has them already
    for name in ("model", "checkpoints", "output/data", *(f"input/data/{c}" for c in CHANNELS)):
        (root / name).mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hps) + "\n")
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": host, "hosts": list(hosts), "network_interface_name": "eth0"}) + "\n")
    (config / "inputdataconfig.json").write_text(json.dumps({
        name: {"ContentType": "text/csv", "TrainingInputMode": "File",
               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name in CHANNELS}) + "\n")
    return {"JOB_DIR": root} | {f"CHANNEL_{n.upper()}": p for n, p in paths.items()}
