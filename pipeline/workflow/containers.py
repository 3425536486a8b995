"""A pipeline's Processing and Training steps as containers: the CreateProcessingJob or
CreateTrainingJob request the step holds, run with `docker run` for any image, its S3 inputs
downloaded into the paths the container contract names and its outputs uploaded where
SageMaker puts them; the answer is DescribeProcessingJob's or DescribeTrainingJob's.

Each job's folder is <execution>/jobs/<job name>/ (its /opt/ml, logs.txt, request.json). The
container gets no network: every byte it reads or writes goes through the host, so a job runs
the same against the local S3 or AWS. This is the executor's own path until the job runner
(`make job`) lands; its Describe answers are the same shape.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipeline.workflow import records
from pipeline.workflow.executor import StepFailed
from training.contract import archive

SUBMIT_DIRECTORY, CODE_ARCHIVE = "sagemaker_submit_directory", "/opt/ml/input/data/code"
LOG_TAIL = 5


def user() -> str:
    return f"{os.environ.get('HOST_UID', os.getuid())}:{os.environ.get('HOST_GID', os.getgid())}"


def fetch(uri: str, folder: Path) -> None:
    """An S3Prefix (or file:// / path) into `folder`, as SageMaker fills a channel."""
    folder.mkdir(parents=True, exist_ok=True)
    if uri.startswith("s3://"):
        from pipeline.s3 import transfer

        if not transfer.download_prefix(transfer.client(), uri, folder):
            raise StepFailed(f"{uri}: no object has that prefix")
        return
    source = Path(unquote(urlparse(uri).path) if uri.startswith("file://") else uri)
    if source.is_dir():
        shutil.copytree(source, folder, dirs_exist_ok=True)
    elif source.is_file():
        shutil.copy2(source, folder / source.name)
    else:
        raise StepFailed(f"{uri}: no such file or folder")


def put(folder: Path, uri: str) -> None:
    """A finished job's folder to its S3Uri (or file:// / path)."""
    if uri.startswith("s3://"):
        from pipeline.s3 import transfer

        transfer.upload_folder(transfer.client(), folder, uri)
        return
    target = Path(unquote(urlparse(uri).path) if uri.startswith("file://") else uri)
    shutil.copytree(folder, target, dirs_exist_ok=True)


def run_container(docker: str, image: str, mounts: dict, log: Path, name: str,
                  entrypoint: list | None = None, arguments: list | None = None,
                  environment: dict | None = None, max_seconds: int | None = None) -> int:
    """`docker run` of one job; its output in `log`. A job past MaxRuntimeInSeconds is stopped
    (SIGTERM, then SIGKILL) and answers 143."""
    command = [*shlex.split(docker), "run", "--rm", "--name", name, "--network", "none",
               "--user", user()]
    for host, inside in mounts.items():
        command += ["-v", f"{host}:{inside}"]
    for key, value in (environment or {}).items():
        command += ["-e", f"{key}={value}"]
    if entrypoint:
        command += ["--entrypoint", entrypoint[0], image, *entrypoint[1:]]
    else:
        command.append(image)
    command += list(arguments or [])
    with log.open("w") as output:
        job = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            return job.wait(timeout=max_seconds)
        except subprocess.TimeoutExpired:
            subprocess.run([*shlex.split(docker), "stop", "-t", "10", name],
                           capture_output=True)
            job.wait()
            return 143


def failure(code: int, log: Path, message: Path | None = None) -> str:
    if code == 143:
        return "Stopped: the job ran past StoppingCondition.MaxRuntimeInSeconds"
    if message is not None and message.is_file() and message.read_text().strip():
        return f"AlgorithmError: {message.read_text().strip()[:900]}"
    tail = log.read_text(errors="replace").strip().splitlines()[-LOG_TAIL:]
    return f"AlgorithmError: exit code {code}: " + " | ".join(tail)[:900]


def processing(local: Path, docker: str):
    def run(request) -> dict:
        job = request.arguments
        app = job.get("AppSpecification", {})
        if not app.get("ImageUri"):
            raise StepFailed(f"Processing {request.name}: AppSpecification.ImageUri is missing")
        folder = request.folder / "jobs" / request.job_name
        folder.mkdir(parents=True)
        (folder / "request.json").write_text(json.dumps(job, indent=2))
        mounts = {folder / "request.json": "/opt/ml/config/processingjobconfig.json"}
        started = records.now()
        for item in job.get("ProcessingInputs", []):
            if "S3Input" not in item:
                raise StepFailed(f"input {item.get('InputName')}: only S3Input runs here")
            host = folder / "inputs" / item["InputName"]
            fetch(item["S3Input"]["S3Uri"], host)
            mounts[host] = item["S3Input"]["LocalPath"]
        outputs = []
        for item in job.get("ProcessingOutputConfig", {}).get("Outputs", []):
            host = folder / "outputs" / item["OutputName"]
            host.mkdir(parents=True)
            mounts[host] = item["S3Output"]["LocalPath"]
            outputs.append((host, item["S3Output"]["S3Uri"]))
        code = run_container(docker, app["ImageUri"], mounts, folder / "logs.txt",
                             request.job_name, app.get("ContainerEntrypoint"),
                             app.get("ContainerArguments"), job.get("Environment"),
                             job.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"))
        if code != 0:
            raise StepFailed(failure(code, folder / "logs.txt"))
        for host, uri in outputs:
            put(host, uri)
        return {**job, "ProcessingJobName": request.job_name,
                "ProcessingJobArn": records.arn("processing-job", request.job_name),
                "ProcessingJobStatus": "Completed", "ExitMessage": "",
                "ProcessingStartTime": records.iso(started),
                "ProcessingEndTime": records.iso(records.now())}

    return run


def _code_locally(hyperparameters: dict, folder: Path) -> dict:
    """A script-mode job's sagemaker_submit_directory fetched by the host (the container has no
    network, as a network-isolated job) and named by its path in the container."""
    value = hyperparameters.get(SUBMIT_DIRECTORY)
    if value is None:
        return hyperparameters
    try:
        uri = json.loads(value)
    except (TypeError, ValueError):
        uri = value
    if not str(uri).startswith(("s3://", "file://")):
        return hyperparameters
    fetch(uri, folder / "input" / "data" / "code")
    name = Path(urlparse(uri).path).name
    return {**hyperparameters, SUBMIT_DIRECTORY: json.dumps(f"{CODE_ARCHIVE}/{name}")}


def metrics(definitions: list, log_text: str) -> list:
    found = []
    for item in definitions or []:
        values = re.findall(item["Regex"], log_text)
        if values:
            value = values[-1][0] if isinstance(values[-1], tuple) else values[-1]
            try:
                found.append({"MetricName": item["Name"], "Value": float(value),
                              "Timestamp": records.iso(records.now())})
            except ValueError:
                continue
    return found


def training(local: Path, docker: str):
    def run(request) -> dict:
        job = request.arguments
        algorithm = job.get("AlgorithmSpecification", {})
        image = algorithm.get("TrainingImage")
        if not image:
            raise StepFailed(f"Training {request.name}: AlgorithmSpecification.TrainingImage "
                             "is missing (algorithm names do not run here)")
        folder = request.folder / "jobs" / request.job_name
        ml = folder / "ml"
        config = ml / "input" / "config"
        config.mkdir(parents=True)
        for name in ("model", "output/data", "checkpoints"):
            (ml / name).mkdir(parents=True)
        started = records.now()
        channels = {}
        for channel in job.get("InputDataConfig", []):
            source = channel.get("DataSource", {}).get("S3DataSource")
            if source is None:
                raise StepFailed(f"channel {channel.get('ChannelName')}: only S3DataSource "
                                 "runs here")
            fetch(source["S3Uri"], ml / "input" / "data" / channel["ChannelName"])
            channels[channel["ChannelName"]] = {
                "ContentType": channel.get("ContentType", ""),
                "TrainingInputMode": algorithm.get("TrainingInputMode", "File"),
                "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None")}
        hyperparameters = _code_locally(job.get("HyperParameters", {}), ml)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        (config / "resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
        code = run_container(docker, image, {ml: "/opt/ml"}, folder / "logs.txt",
                             request.job_name, algorithm.get("ContainerEntrypoint"),
                             algorithm.get("ContainerArguments") or ["train"],
                             job.get("Environment"),
                             job.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"))
        log_text = (folder / "logs.txt").read_text(errors="replace")
        if code != 0:
            raise StepFailed(failure(code, folder / "logs.txt", ml / "output" / "failure"))
        output = job.get("OutputDataConfig", {}).get("S3OutputPath", "").rstrip("/")
        if not output:
            raise StepFailed(f"Training {request.name}: OutputDataConfig.S3OutputPath is missing")
        model = f"{output}/{request.job_name}/output/model.tar.gz"
        with tempfile.TemporaryDirectory() as packed:
            archive.pack(ml / "model", Path(packed) / "model.tar.gz")
            if any((ml / "output" / "data").iterdir()):
                archive.pack(ml / "output" / "data", Path(packed) / "output.tar.gz")
            put(Path(packed), f"{output}/{request.job_name}/output")
        ended = records.now()
        return {**job, "TrainingJobName": request.job_name,
                "TrainingJobArn": records.arn("training-job", request.job_name),
                "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
                "ModelArtifacts": {"S3ModelArtifacts": model},
                "FinalMetricDataList": metrics(algorithm.get("MetricDefinitions"), log_text),
                "TrainingStartTime": records.iso(started), "TrainingEndTime": records.iso(ended),
                "TrainingTimeInSeconds": int(time.mktime(ended.timetuple())
                                             - time.mktime(started.timetuple()))}

    return run
