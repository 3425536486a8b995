"""`python -m pipeline.jobs STEP`: run a pipeline step as a named job through docker-compose.

Each step says which run it took its input from, runs the job's container with that run's
folders mounted, streams the job's log (and keeps it in the run's logs.txt), and records how
the run ended. Standard library only: make runs it with the host's python3.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

from pipeline import runs
from pipeline.runs import RunError

# What the evaluation step reads and the registry's lineage names.
EVALUATION_JSON = "processing/evaluation/evaluation.json"
MODEL_TAR = "output/model.tar.gz"
# The metric `make jobs` shows for a training run: SageMaker's validation:accuracy definition.
KEY_METRIC = ("validation:accuracy", r"val_accuracy=([0-9\.]+)")
CHANNELS = ("train", "validation", "pipeline")
# Multi-host training: docker-compose.yml's host services; algo-1's /opt/ml is the run folder,
# the others' <run>/hosts/<host>/ (SageMaker gives each host its own; only algo-1's is output).
# More hosts are generated into <run>/hosts/compose.yml, each extending algo-1.
HOSTS = ("algo-1", "algo-2")
# Compose's own progress lines (v1 "Creating x ... done", v2 "Container x Creating"): not the job's.
COMPOSE_NOISE = ("Creating ", "Starting ", "Removing ", "Stopping ", "Recreating ",
                 "Network ", "Container ")


def say(message: str) -> None:
    print(message, flush=True)


def image_digest(docker: str, image: str) -> str | None:
    done = subprocess.run([*shlex.split(docker), "image", "inspect", "-f", "{{.Id}}", image],
                          capture_output=True, text=True)
    return done.stdout.strip() or None


def compose_run(compose: str, service: str, args: list[str], mounts: dict, log: Path,
                options: tuple = (), echo: bool = True, on_line=None, append: bool = False) -> int:
    """Run one job container; its output goes to the terminal and to the run's log.

    Tuning trials run several at once: they keep their output in the log only (echo=False),
    name their container (options, e.g. --name) so it can be stopped, watch each line
    (on_line) and append to the log of an interrupted attempt.
    """
    environ = {**os.environ, **{name: str(path) for name, path in mounts.items()}}
    command = [*shlex.split(compose), "run", "--rm", "-T", *options, service, *args]

    def _show(line: str, kept) -> None:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        kept.write(line)
        kept.flush()
        if on_line is not None:
            on_line(line)

    # A trial's compose client is kept out of the terminal's Ctrl-C: the tuner stops its
    # container as SageMaker stops a job (SIGTERM), not with a SIGINT the job does not handle.
    with log.open("a" if append else "w") as kept, subprocess.Popen(
            command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=not echo) as job:
        held = None  # a bare number may be compose v1 echoing the exit code: decided at the end
        try:
            for line in job.stdout:
                if line.lstrip().startswith(COMPOSE_NOISE):
                    continue
                if held is not None:
                    _show(held, kept)
                    held = None
                if line.strip().isdigit():
                    held = line
                    continue
                _show(line, kept)
            code = job.wait()
            if held is not None and held.strip() != str(code):
                _show(held, kept)
            return code
        except KeyboardInterrupt:
            job.terminate()
            job.wait()
            return 143


def start(args, kind: str, **fields) -> runs.Run:
    return runs.create(args.local, kind, args.workload, image=args.image,
                       image_digest=image_digest(args.docker, args.image), **fields)


def end(args, run: runs.Run, code: int, metric: dict | None = None) -> int:
    """Record the end, keep at most KEEP_RUNS runs of the kind, and say how it went."""
    runs.finish(run, code, metric)
    removed = runs.prune(args.local, run.record["kind"], args.keep, args.workload)
    if removed:
        say(f"removed {len(removed)} old {run.record['kind']} run(s) beyond KEEP_RUNS={args.keep}")
    if run.status == runs.COMPLETED:
        say(f"{run.record['kind']} run {run.name} Completed in {runs.duration(run.record)}: "
            f"{run.folder}")
        return 0
    print(f"{run.record['kind']} run {run.name} {run.status}: {run.record['failure_reason']} "
          f"(log: {run.folder / runs.LOGS})", file=sys.stderr, flush=True)
    return 1


def process(args) -> int:
    data = Path(args.data)
    if not data.is_dir():
        raise RunError(f"no input folder {data}: run make data, or put your raw files there")
    arguments = ["--workload", args.workload, "--seed", str(args.seed)]
    run = start(args, "processing", arguments=arguments, inputs={"input": {"path": str(data)}})
    for name in ("input", "train", "validation", "test", "pipeline", "baseline"):
        (run.folder / "processing" / name).mkdir(parents=True)
    (run.folder / "output").mkdir()
    code = compose_run(args.compose, "processing", arguments,
                       {"JOB_DIR": run.folder, "DATA_DIR": data}, run.folder / runs.LOGS)
    return end(args, run, code)


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
    say(f"training on processing run {source.name}")
    paths = training_paths(source)
    hps = hyperparameters(args.hyperparameter)
    run = start(args, "training", hyperparameters=hps,
                inputs={name: {"run": source.name, "path": str(path)}
                        for name, path in paths.items()})
    if instances > 1:
        code = train_hosts(args, run, paths, hps, instances)
    else:
        mounts = training_folders(run, paths, hps)
        code = compose_run(args.compose, "training", [], mounts, run.folder / runs.LOGS)
    logs = (run.folder / runs.LOGS).read_text(errors="replace")
    return end(args, run, code, runs.last_metric(logs, *KEY_METRIC))


def train_hosts(args, run: runs.Run, paths: dict, hps: dict, instances: int) -> int:
    """Every host's job at once, as SageMaker's instance_count; the chief's log is the run's."""
    hosts, codes = host_names(instances), {}
    compose = args.compose
    extra = hosts_compose(hosts, compose_files(compose), run.folder / "hosts")
    if extra is not None:
        compose = f"{compose} -f {shlex.quote(str(extra))}"

    def host_job(host: str) -> None:
        root = run.folder if host == hosts[0] else run.folder / "hosts" / host
        mounts = training_folders(run, paths, hps, host, hosts, root)
        mounts["HOST_DIR"] = mounts.pop("JOB_DIR")
        codes[host] = compose_run(compose, host, [], mounts, root / runs.LOGS,
                                  options=("--use-aliases",), echo=host == hosts[0])

    threads = [threading.Thread(target=host_job, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The chief's failure names a failed peer; that host's own failure says why.
    for host in hosts[1:]:
        failure = run.folder / "hosts" / host / "output" / "failure"
        if codes[host] and failure.is_file():
            say(f"{host} failed: {failure.read_text().strip()}")
    return next((codes[host] for host in hosts if codes[host]), 0)


def host_names(instances: int) -> tuple:
    """algo-1 … algo-N, as SageMaker names the hosts of instance_count=N."""
    return tuple(f"algo-{number}" for number in range(1, instances + 1))


def compose_files(compose: str) -> list[Path]:
    """The -f files of a compose command, else compose's default file."""
    words = shlex.split(compose)
    files = [Path(words[i + 1]) for i, word in enumerate(words[:-1]) if word in ("-f", "--file")]
    return [path.resolve() for path in files or [Path("docker-compose.yml")]]


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
                     hosts: tuple = ("algo-1",), root: Path | None = None) -> dict:
    """A training run's /opt/ml (one host's: root) as SageMaker lays it out; returns the
    compose mounts."""
    root = root or run.folder
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


def evaluate(args) -> int:
    trained = runs.take(args.local, "training", args.training_job, args.workload)
    processed = trained.record["inputs"]["train"]["run"]
    test = args.local / "processing" / processed / "processing" / "test"
    if not test.is_dir():
        raise RunError(f"the test split of processing run {processed} is gone from {test} "
                       "(removed by KEEP_RUNS or by hand): run make pipeline again")
    say(f"evaluating the model of training run {trained.name} on the test split of {processed}")
    run = start(args, "evaluation", inputs={
        "model": {"run": trained.name, "path": str(trained.folder / MODEL_TAR)},
        "test": {"run": processed, "path": str(test)}})
    for name in ("processing/test", "processing/model", "processing/evaluation", "output"):
        (run.folder / name).mkdir(parents=True)
    code = compose_run(args.compose, "evaluation", [],
                       {"JOB_DIR": run.folder, "TEST_DIR": test,
                        "MODEL_DIR": trained.folder / "output"}, run.folder / runs.LOGS)
    metric = None
    if code == 0:
        report = json.loads((run.folder / EVALUATION_JSON).read_text())
        accuracy = report["multiclass_classification_metrics"]["accuracy"]["value"]
        metric = {"name": "test:accuracy", "value": accuracy}
    return end(args, run, code, metric)


def register(args) -> int:
    from pipeline import registry

    evaluated = runs.take(args.local, "evaluation", args.evaluation_job, args.workload)
    trained_name = evaluated.record["inputs"]["model"]["run"]
    trained = runs.load(args.local / "training" / trained_name)
    if trained is None:
        raise RunError(f"training run {trained_name} (evaluated by {evaluated.name}) is gone "
                       f"from {args.local / 'training'}: run make pipeline again")
    say(f"registering the model of training run {trained.name}, evaluated by {evaluated.name}")
    lineage = {"processing": trained.record["inputs"]["train"]["run"],
               "training": trained.name, "evaluation": evaluated.name}
    if trained.record.get("tuning_job"):
        lineage["tuning"] = trained.record["tuning_job"]  # a trial of a tuning job
    found = baselines_of(args, lineage, trained.name)
    try:
        meta = registry.register(args.registry, trained.folder / MODEL_TAR,
                                 evaluated.folder / EVALUATION_JSON,
                                 trained.record.get("hyperparameters", {}),
                                 args.approve_at, args.pending_at, lineage=lineage,
                                 baselines=found)
    except registry.RegistryError as error:
        raise RunError(str(error)) from None
    say(f"registered version {meta['version']} as {meta['approval_status']} "
        f"(accuracy {meta['accuracy']:.4f}) in {args.registry / str(meta['version'])}")
    return 0


def baselines_of(args, lineage: dict, trained: str) -> dict:
    """The version's Model Monitor baselines, if made: data quality from its processing run,
    model quality from a transform run of its model; their runs go into lineage."""
    from pipeline import baseline

    found = {}
    data = baseline.lineage(args.local, lineage["processing"], args.workload)
    if data:
        lineage["baseline"], found["data_quality"] = data
    transformed = next((run for run in runs.runs(args.local, "transform")
                        if run.status == runs.COMPLETED
                        and run.record.get("inputs", {}).get("model", {}).get("run") == trained),
                       None)
    if transformed:
        lineage["transform"] = transformed.name
        model = baseline.lineage(args.local, transformed.name, args.workload, "MODEL_QUALITY")
        if model:
            lineage["model_baseline"], found["model_quality"] = model
    return found


def jobs(args) -> int:
    found = runs.runs(args.local)
    say(runs.table(found) if found else f"no job runs yet in {args.local}")
    return 0


def clean(args) -> int:
    # Only folders with a run record: anything else a user keeps there is left alone.
    removed = sum(len(runs.prune(args.local, kind, 0)) for kind in runs.KINDS)
    say(f"removed {removed} job run(s) from {args.local}")
    return 0


STEPS = {"process": process, "train": train, "evaluate": evaluate, "register": register,
         "list": jobs, "clean": clean}


def common_arguments(top: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What every command that starts job runs is told by make."""
    top.add_argument("--local", type=Path, required=True, help="LOCAL_DIR")
    top.add_argument("--workload", default="penguins")
    top.add_argument("--compose", default="docker-compose -f docker-compose.yml")
    top.add_argument("--docker", default="docker")
    top.add_argument("--image", default="penguins-training:latest")
    top.add_argument("--keep", type=int, default=20, help="KEEP_RUNS")
    return top


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pipeline.jobs", description=__doc__.splitlines()[0])
    top.add_argument("step", choices=STEPS)
    common_arguments(top)
    top.add_argument("--data", help="the processing input folder")
    top.add_argument("--seed", type=int, default=42)
    top.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE")
    top.add_argument("--instances", default="1", help="INSTANCES: training hosts")
    top.add_argument("--processing-job")
    top.add_argument("--training-job")
    top.add_argument("--evaluation-job")
    top.add_argument("--registry", type=Path, help="MODEL_REGISTRY")
    top.add_argument("--approve-at", type=float, default=0.70)
    top.add_argument("--pending-at", type=float, default=0.50)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.keep < 1 and args.step != "clean":
        print(f"KEEP_RUNS={args.keep}: keep at least 1 run of each kind", file=sys.stderr)
        return 2
    try:
        return STEPS[args.step](args)
    except RunError as error:
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
