"""Job requests in-process: CreateProcessingJob/CreateTrainingJob bodies checked with their JSON
paths, the hosts' containers as compose services, the Describe*Job record and file:// storage
(no Docker; tests/contract/test_job_requests.py runs them)."""

import copy
import json
from pathlib import Path

import pytest

from pipeline.api import describe, hosts, runner
from pipeline.api import requests as api
from pipeline.api.storage import NoLocalS3, Storage, StorageError
from pipeline.runs import records as runs

pytestmark = pytest.mark.unit

TRAINING = {
    "TrainingJobName": "tiny-training",
    "AlgorithmSpecification": {"TrainingImage": "tiny:1", "TrainingInputMode": "File",
                               "MetricDefinitions": [{"Name": "score",
                                                      "Regex": "score=([0-9.]+)"}]},
    "RoleArn": "arn:aws:iam::000000000000:role/local",
    "HyperParameters": {"epochs": "2"},
    "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "file:///data/train"}}}],
    "OutputDataConfig": {"S3OutputPath": "file:///models"},
    "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    "Tags": [{"Key": "team", "Value": "ml"}],
}
PROCESSING = {
    "ProcessingJobName": "tiny-processing",
    "AppSpecification": {"ImageUri": "tiny:1", "ContainerEntrypoint": ["python3", "x.py"],
                         "ContainerArguments": ["--seed", "42"]},
    "Environment": {"GREETING": "hi"},
    "ProcessingInputs": [{"InputName": "data", "S3Input": {
        "S3Uri": "file:///data", "LocalPath": "/opt/ml/processing/input",
        "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
    "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {
        "S3Uri": "s3://bucket/train", "LocalPath": "/opt/ml/processing/train",
        "S3UploadMode": "EndOfJob"}}]},
    "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                              "InstanceType": "ml.t3.medium"}},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}


def changed(body: dict, path: str, value) -> dict:
    """A copy of body with the field at a dotted path (list items as [i]) set, or removed
    when value is REMOVE."""
    body = copy.deepcopy(body)
    *parents, last = path.replace("[", ".[").split(".")
    node = body
    for part in parents:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    key = int(last[1:-1]) if last.startswith("[") else last
    if value is REMOVE:
        del node[key]
    else:
        node[key] = value
    return body


class Removed:
    """A case's value that removes the key; its repr is its name, so test ids are the same in
    every pytest-xdist worker (an object()'s address differs, and xdist refuses to start)."""

    def __repr__(self) -> str:
        return "REMOVE"


REMOVE = Removed()
# (request, field path, new value, what the error names)
BAD = [
    (TRAINING, "TrainingJobName", "bad_name", "TrainingJobName: \"bad_name\" is not a job name"),
    (TRAINING, "TrainingJobName", REMOVE, "neither ProcessingJobName"),
    (TRAINING, "AlgorithmSpecification.TrainingImage", REMOVE,
     "AlgorithmSpecification.TrainingImage: missing (required)"),
    (TRAINING, "AlgorithmSpecification.AlgorithmName", "xgb",
     "AlgorithmSpecification.AlgorithmName: Marketplace algorithms"),
    (TRAINING, "AlgorithmSpecification.MetricDefinitions[0].Regex", "(",
     "AlgorithmSpecification.MetricDefinitions[0].Regex: not a regular expression"),
    (TRAINING, "HyperParameters.epochs", 2, "HyperParameters.epochs: 2 is not a string"),
    (TRAINING, "InputDataConfig[0].DataSource.S3DataSource.S3Uri", "/data/train",
     "InputDataConfig[0].DataSource.S3DataSource.S3Uri: \"/data/train\" is not an s3:// or "
     "file:// URI"),
    (TRAINING, "InputDataConfig[0].ChannelName", "a channel",
     "InputDataConfig[0].ChannelName: \"a channel\" is not a channel name"),
    (TRAINING, "InputDataConfig[0].InputMode", "Pipe", "InputDataConfig[0].InputMode: Pipe"),
    (TRAINING, "InputDataConfig", TRAINING["InputDataConfig"] * 2,
     "InputDataConfig: ChannelName \"train\" is given twice"),
    (TRAINING, "OutputDataConfig", {}, "OutputDataConfig.S3OutputPath: null is not an s3://"),
    (TRAINING, "ResourceConfig.InstanceCount", 0, "ResourceConfig.InstanceCount: 0 is below 1"),
    (TRAINING, "ResourceConfig.InstanceCount", "2",
     "ResourceConfig.InstanceCount: \"2\" is not a whole number"),
    (TRAINING, "StoppingCondition.MaxRuntimeInSeconds", 0,
     "StoppingCondition.MaxRuntimeInSeconds: 0 is outside 1..2419200"),
    (TRAINING, "HyperParameter", {}, "HyperParameter: unknown field"),
    (PROCESSING, "AppSpecification.ImageUri", REMOVE,
     "AppSpecification.ImageUri: missing (required)"),
    (PROCESSING, "AppSpecification.ContainerArguments", ["--seed", 42],
     "AppSpecification.ContainerArguments[1]: 42 is not a string"),
    (PROCESSING, "ProcessingInputs[0].S3Input.LocalPath", "/data",
     "ProcessingInputs[0].S3Input.LocalPath: \"/data\" is not under /opt/ml/processing/"),
    (PROCESSING, "ProcessingInputs[0].S3Input.LocalPath", "/opt/ml/processing/../model",
     "ProcessingInputs[0].S3Input.LocalPath"),
    (PROCESSING, "ProcessingInputs[0].S3Input.S3InputMode", "Pipe",
     "ProcessingInputs[0].S3Input.S3InputMode: only File"),
    (PROCESSING, "ProcessingInputs[0].DatasetDefinition", {},
     "ProcessingInputs[0].DatasetDefinition: Athena and Redshift"),
    (PROCESSING, "ProcessingOutputConfig.Outputs[0].S3Output.S3Uri", "bucket/train",
     "ProcessingOutputConfig.Outputs[0].S3Output.S3Uri: \"bucket/train\" is not an s3://"),
    (PROCESSING, "ProcessingResources.ClusterConfig", REMOVE,
     "ProcessingResources.ClusterConfig: missing (required)"),
    (PROCESSING, "StoppingCondition.MaxRuntimeInSeconds", REMOVE,
     "StoppingCondition.MaxRuntimeInSeconds: missing (required)"),
    (PROCESSING, "StoppingCondition.MaxRuntimeInSeconds", 777601,
     "StoppingCondition.MaxRuntimeInSeconds: 777601 is outside 1..777600"),
    (PROCESSING, "Environment.GREETING", ["hi"], "Environment.GREETING: [\"hi\"] is not a string"),
]


@pytest.mark.parametrize(("body", "path", "value", "named"), BAD,
                         ids=[f"{case[1]}={case[2]!r}"[:60] for case in BAD])
def test_a_wrong_request_is_refused_naming_its_json_path(body, path, value, named):
    with pytest.raises(api.RequestError) as error:
        api.parse(changed(body, path, value))
    assert named in str(error.value)


def test_a_training_request_reads_as_sagemaker_runs_it():
    job = api.parse(TRAINING)
    assert (job.kind, job.name, job.image, job.instance_count) == ("training", "tiny-training",
                                                                   "tiny:1", 2)
    assert job.hyperparameters == {"epochs": "2"} and job.max_runtime == 600
    assert job.inputs[0].local_path == "/opt/ml/input/data/train"
    assert job.inputs[0].config == {"TrainingInputMode": "File", "ContentType": "text/csv",
                                    "S3DistributionType": "FullyReplicated",
                                    "RecordWrapperType": "None"}
    assert job.output_path == "file:///models"


def test_a_training_request_without_a_stopping_condition_gets_sagemakers_day():
    assert api.parse(changed(TRAINING, "StoppingCondition", REMOVE)).max_runtime == 86400


def test_a_processing_request_reads_its_inputs_and_outputs():
    job = api.parse(PROCESSING)
    assert job.entrypoint == ("python3", "x.py") and job.arguments == ("--seed", "42")
    assert [(i.name, i.uri, i.local_path) for i in job.inputs] == [
        ("data", "file:///data", "/opt/ml/processing/input")]
    assert [(o.name, o.local_path, o.uri) for o in job.outputs] == [
        ("train", "/opt/ml/processing/train", "s3://bucket/train")]


def test_a_request_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "request.json"
    path.write_text("{not json")
    with pytest.raises(api.RequestError, match="request.json: not JSON"):
        api.load(path)


# How SageMaker starts the image: (request change, entrypoint, command)
STARTS = [
    (TRAINING, {}, None, ["train"]),
    (TRAINING, {"ContainerEntrypoint": ["python3", "t.py"]}, ["python3", "t.py"], None),
    (TRAINING, {"ContainerEntrypoint": ["sh"], "ContainerArguments": ["-c", "echo $HOME"]},
     ["sh"], ["-c", "echo $HOME"]),
    (PROCESSING, {"ContainerEntrypoint": REMOVE, "ContainerArguments": REMOVE}, None, None),
    (PROCESSING, {}, ["python3", "x.py"], ["--seed", "42"]),
]


@pytest.mark.parametrize(("body", "change", "entrypoint", "command"), STARTS)
def test_the_container_starts_as_sagemaker_starts_it(body, change, entrypoint, command,
                                                     tmp_path):
    key = "AlgorithmSpecification" if body is TRAINING else "AppSpecification"
    for name, value in change.items():
        body = changed(body, f"{key}.{name}", value)
    job = api.parse(body)
    engine = runner.Engine(tmp_path, user="1000:1000")
    sources = {item.name: tmp_path for item in job.inputs}
    service = hosts.service(job, engine, tmp_path / "ml", sources, several=False)
    assert service.get("entrypoint") == entrypoint
    assert service.get("command") == command
    assert service["network_mode"] == "none" and service["user"] == "1000:1000"
    assert f"{tmp_path}/ml:/opt/ml" in service["volumes"]
    # docker run takes the entrypoint's executable alone, the rest of it before the arguments.
    words = hosts.docker_run("docker", service, "c", "p", "algo-1", None)
    image = words.index(job.image)
    assert words[image + 1:] == [*(entrypoint or [])[1:], *(command or [])]
    assert (words[words.index("--entrypoint") + 1] == entrypoint[0] if entrypoint
            else "--entrypoint" not in words)
    assert words[words.index("--network") + 1] == "none"


def test_the_written_compose_file_keeps_a_requests_dollar_signs_the_jobs_own():
    assert hosts.escape({"command": ["-c", "echo $HOME"], "n": 1}) == {
        "command": ["-c", "echo $$HOME"], "n": 1}


def service_with_a_code_input(tmp_path, uri: str, local_path: str, sources: dict) -> dict:
    """The compose service of PROCESSING with one more input, "code" (uri at local_path), on
    the host folders sources names, its /opt/ml laid out in tmp_path/ml."""
    job = api.parse(changed(PROCESSING, "ProcessingInputs", [
        *PROCESSING["ProcessingInputs"],
        {"InputName": "code", "S3Input": {"S3Uri": uri, "LocalPath": local_path,
                                          "S3DataType": "S3Prefix", "S3InputMode": "File"}}]))
    engine = runner.Engine(tmp_path, user="1000:1000")
    hosts.layout(job, tmp_path / "ml", "algo-1", hosts.names(1))
    return hosts.service(job, engine, tmp_path / "ml", sources, several=False)


def test_an_input_inside_another_inputs_folder_gets_a_copy_of_the_outer_one(tmp_path):
    """The SDK's processing code input sits inside its data input: the outer input is copied
    into the job's own /opt/ml (the user's folder gets no mount point), the inner one mounted."""
    data, code = tmp_path / "data", tmp_path / "code"
    data.mkdir()
    (data / "penguins.csv").write_text("species\n")
    code.mkdir()
    service = service_with_a_code_input(tmp_path, "file:///code", "/opt/ml/processing/input/code",
                                        {"data": data, "code": code})
    assert service["volumes"] == [f"{tmp_path}/ml:/opt/ml",
                                  f"{code}:/opt/ml/processing/input/code:ro"]
    assert (tmp_path / "ml" / "processing" / "input" / "penguins.csv").read_text() == "species\n"
    assert sorted(p.name for p in data.iterdir()) == ["penguins.csv"]  # the user's, untouched


def test_a_file_input_is_copied_into_the_job_not_mounted(tmp_path):
    """A file:// file (make process's SCRIPT) lands in the job's own /opt/ml, where the run
    keeps it: a mount would leave an empty mount point of root's in the run."""
    data, script = tmp_path / "data", tmp_path / "prep.py"
    data.mkdir()
    script.write_text("print(1)\n")
    service = service_with_a_code_input(tmp_path, "file:///code/prep.py",
                                        "/opt/ml/processing/code", {"data": data, "code": script})
    assert service["volumes"] == [f"{tmp_path}/ml:/opt/ml",
                                  f"{data}:/opt/ml/processing/input:ro"]
    assert (tmp_path / "ml" / "processing" / "code" / "prep.py").read_text() == "print(1)\n"


def test_each_host_gets_sagemakers_config_files(tmp_path):
    job = api.parse(TRAINING)
    for host in hosts.names(2):
        hosts.layout(job, tmp_path / host, host, hosts.names(2))
    config = tmp_path / "algo-2" / "input" / "config"
    assert json.loads((config / "resourceconfig.json").read_text()) == {
        "current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"}
    assert json.loads((config / "hyperparameters.json").read_text()) == {"epochs": "2"}
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train"}
    assert (tmp_path / "algo-1" / "input" / "data" / "train").is_dir()
    processing = api.parse(PROCESSING)
    hosts.layout(processing, tmp_path / "p", "algo-1", ("algo-1",))
    assert json.loads((tmp_path / "p" / "config" / "processingjobconfig.json").read_text())[
        "ProcessingJobArn"].endswith(":processing-job/tiny-processing")
    assert (tmp_path / "p" / "processing" / "train").is_dir()


# (status, exit code, stopped by MaxRuntimeInSeconds, TrainingJobStatus, SecondaryStatus)
ENDINGS = [
    (0, False, "Completed", "Completed"),
    (2, False, "Failed", "Failed"),
    (143, False, "Stopped", "Stopped"),
    (0, True, "Stopped", "MaxRuntimeExceeded"),
    (137, True, "Stopped", "MaxRuntimeExceeded"),
]


@pytest.mark.parametrize(("code", "stopped", "status", "secondary"), ENDINGS)
def test_a_training_job_ends_with_sagemakers_statuses(code, stopped, status, secondary):
    job = api.parse(TRAINING)
    record = describe.started(job, "2026-01-01T00:00:00.000000Z")
    assert record["TrainingJobStatus"] == "InProgress" and "Tags" not in record
    describe.transition(record, "Training", "2026-01-01T00:00:01.000000Z")
    found = runner._status(code, stopped, None)
    describe.ended(record, job, found, "2026-01-01T00:00:11.000000Z", reason="boom",
                   max_runtime_exceeded=stopped, metrics=(("score", 0.5),))
    assert (record["TrainingJobStatus"], record["SecondaryStatus"]) == (status, secondary)
    assert ("FailureReason" in record) == (status == "Failed")
    assert record["TrainingTimeInSeconds"] == 11
    assert [step["Status"] for step in record["SecondaryStatusTransitions"]] == [
        "Starting", "Training", secondary]
    assert all("EndTime" in step for step in record["SecondaryStatusTransitions"])
    assert record["FinalMetricDataList"][0] == {"MetricName": "score", "Value": 0.5,
                                                "Timestamp": "2026-01-01T00:00:11.000000Z"}


def test_a_processing_job_keeps_its_exit_message():
    job = api.parse(PROCESSING)
    record = describe.started(job, "2026-01-01T00:00:00.000000Z")
    describe.ended(record, job, "Failed", "2026-01-01T00:00:05.000000Z",
                   reason="AlgorithmError: no rows", exit_message="no rows " * 200)
    assert record["ProcessingJobStatus"] == "Failed"
    assert len(record["ExitMessage"]) == 1024
    assert record["ProcessingEndTime"] == "2026-01-01T00:00:05.000000Z"
    assert describe.answer({"name": "x", "status": "Failed", **record}) == record


def test_the_metrics_are_each_definitions_last_value():
    job = api.parse(changed(TRAINING, "AlgorithmSpecification.MetricDefinitions",
                            [{"Name": "a", "Regex": "a=([0-9.]+)"},
                             {"Name": "validation:accuracy", "Regex": "acc=([0-9.]+)"},
                             {"Name": "never", "Regex": "never=([0-9.]+)"}]))
    metrics = describe.final_metrics(job, "a=1 acc=0.5\na=2 acc=0.75\n")
    assert metrics == (("a", 2.0), ("validation:accuracy", 0.75))
    assert describe.key_metric(metrics) == {"name": "validation:accuracy", "value": 0.75}


def test_describe_finds_a_run_by_name_and_names_a_missing_one(tmp_path):
    job = api.parse(TRAINING)
    runs.create(tmp_path, "training", None, name=job.name, **describe.started(job, "t"))
    assert runner.describe_job(tmp_path, job.name)["TrainingJobName"] == job.name
    # make evaluate's processing job, filed under evaluation/
    evaluation = api.parse(PROCESSING)
    runs.create(tmp_path, "evaluation", "penguins", name="evaluated",
                **describe.started(evaluation, "t"))
    assert "ProcessingJobStatus" in runner.describe_job(tmp_path, "evaluated")
    with pytest.raises(api.RequestError, match="no job named nothing"):
        runner.describe_job(tmp_path, "nothing")


def test_file_outputs_are_copied_where_an_upload_puts_them(tmp_path):
    source = tmp_path / "out"
    (source / "nested").mkdir(parents=True)
    (source / "nested" / "a.csv").write_text("1\n")
    (source / "link.csv").symlink_to(source / "nested" / "a.csv")
    Storage().store(source, f"file://{tmp_path}/bucket/prefix")
    written = sorted(str(p.relative_to(tmp_path / "bucket")) for p in
                     (tmp_path / "bucket").rglob("*") if p.is_file())
    assert written == ["prefix/nested/a.csv"]  # links are not followed, as SageMaker's upload
    Storage().store(source / "nested" / "a.csv", f"file://{source}/nested/a.csv")  # itself


def test_s3_without_a_local_s3_is_refused_by_name():
    with pytest.raises(NoLocalS3, match="no local S3 is configured"):
        Storage().check("s3://bucket/train", "InputDataConfig[0]", reading=True)
    with pytest.raises(StorageError, match=r"InputDataConfig\[0\]: file:///nowhere/at/all: no "
                                           "such file or folder"):
        Storage().check("file:///nowhere/at/all", "InputDataConfig[0]", reading=True)
    Storage().check("file:///nowhere/at/all", "OutputDataConfig.S3OutputPath")  # made at the end


class FakeS3:
    def __init__(self):
        self.calls = []

    def fetch(self, uri: str, folder: Path) -> None:
        self.calls.append(("fetch", uri, folder))

    def store(self, path: Path, uri: str) -> None:
        self.calls.append(("store", path, uri))


def test_s3_goes_through_the_local_s3_when_one_is_given(tmp_path):
    s3 = FakeS3()
    storage = Storage(s3)
    storage.check("s3://bucket/train", "InputDataConfig[0]", reading=True)
    storage.fetch("s3://bucket/train", tmp_path / "train")
    storage.store(tmp_path, "s3://bucket/out")
    assert s3.calls == [("fetch", "s3://bucket/train", tmp_path / "train"),
                        ("store", tmp_path, "s3://bucket/out")]


def test_a_job_name_is_used_once(tmp_path):
    job = api.parse(TRAINING)
    (tmp_path / "training" / job.name).mkdir(parents=True)
    with pytest.raises(api.RequestError, match="TrainingJobName: a training job named "
                                               "tiny-training exists already"):
        runner.run_job(changed(TRAINING, "InputDataConfig", []), tmp_path, docker="true")


def test_a_container_that_says_nothing_fails_with_its_last_log_lines(tmp_path):
    """No output/failure file: the reason carries the log's last lines (what a user reads
    first), with the log's path; the docker here is a shell whose `run` prints and exits 4."""
    body = changed(changed(TRAINING, "InputDataConfig", []), "ResourceConfig.InstanceCount", 1)
    body["OutputDataConfig"]["S3OutputPath"] = f"file://{tmp_path}/models"
    docker = ("sh -c '[ $1 = run ] || exit 0; for n in 1 2 3 4 5 6; do echo line $n; done; "
              "exit 4' --")
    answer = runner.run_job(body, tmp_path / "local", docker=docker)
    assert answer["TrainingJobStatus"] == "Failed"
    assert answer["FailureReason"].startswith(
        "AlgorithmError: the container exited with code 4: line 2 | line 3 | line 4 | line 5 | "
        "line 6; see ")
    # The run's own failure_reason (make jobs, make's steps) is the reason without the prefix.
    record = json.loads(next((tmp_path / "local" / "training").glob("*/run.json")).read_text())
    assert record["failure_reason"] == answer["FailureReason"].removeprefix("AlgorithmError: ")


def test_file_inputs_are_fetched_as_s3_prefixes_are(tmp_path):
    """A file:// folder's files into the target, a file:// file by its name (script mode's
    code and a transform's model archive come this way)."""
    (tmp_path / "code" / "lib").mkdir(parents=True)
    (tmp_path / "code" / "lib" / "a.py").write_text("a")
    (tmp_path / "model.tar.gz").write_bytes(b"m")
    Storage().fetch(f"file://{tmp_path}/code", tmp_path / "one")
    Storage().fetch(f"file://{tmp_path}/model.tar.gz", tmp_path / "two")
    assert (tmp_path / "one" / "lib" / "a.py").read_text() == "a"
    assert (tmp_path / "two" / "model.tar.gz").read_bytes() == b"m"
    with pytest.raises(StorageError, match="cannot read file:///nowhere"):
        Storage().fetch("file:///nowhere", tmp_path / "three")


TRANSFORM = {
    "TransformJobName": "tiny-transform", "ModelName": "tiny",
    "TransformInput": {"ContentType": "text/csv", "SplitType": "Line", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "file:///data"}}},
    "TransformOutput": {"S3OutputPath": "file:///out", "Accept": "text/csv"},
    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
}
TRANSFORM_MISTAKES = [
    ("TransformInput.DataSource.S3DataSource.S3Uri", "/data",
     'TransformInput.DataSource.S3DataSource.S3Uri: "/data" is not an s3:// or file:// URI'),
    ("BatchStrategy", "Batch", "BatchStrategy: 'Batch' is not one of SingleRecord, MultiRecord"),
    ("MaxPayloadInMB", 101, "MaxPayloadInMB: 101 is outside 0..100"),
    ("TransformResources.InstanceCount", 0, "TransformResources.InstanceCount: 0 is below 1"),
    ("TransformOutput.Acept", "text/csv", "TransformOutput.Acept: unknown field"),
    ("ModelName", REMOVE, "ModelName: missing (required)"),
]


@pytest.mark.parametrize(("path", "value", "named"), TRANSFORM_MISTAKES)
def test_a_wrong_transform_request_is_refused_naming_its_json_path(path, value, named):
    from pipeline.api.transforms import transform

    with pytest.raises(api.RequestError) as refused:
        transform(changed(TRANSFORM, path, value))
    assert str(refused.value).startswith(named)


def test_make_job_refuses_a_transform_of_a_model_it_does_not_know(tmp_path, capsys):
    """make job's dispatcher hands a CreateTransformJob to the batch engine, which refuses an
    unknown ModelName before any run, as CreateTransformJob does."""
    from pipeline.jobs import requests

    (tmp_path / "request.json").write_text(json.dumps(TRANSFORM))
    code = requests.main(["--local", str(tmp_path / "local"), "--docker", "true", "job",
                          str(tmp_path / "request.json")])
    assert code == 2
    assert "job: ModelName: no model 'tiny'" in capsys.readouterr().err
    assert not (tmp_path / "local" / "transform").exists()
