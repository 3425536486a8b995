"""The registry's SageMaker requests through `make job`'s command, in-process: CreateModelPackage,
UpdateModelPackage (make approve's path, ON_APPROVE included), CreateModel, and `make describe`
answering DescribeModelPackage and DescribeModel; every mistake named by its JSON path, with
nothing written."""

import copy
import io
import json
import shlex
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline.jobs import requests as command
from pipeline.registry import models as registry

pytestmark = pytest.mark.pipeline
PY = shlex.quote(sys.executable)


@pytest.fixture
def files(tmp_path) -> dict:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("model.onnx"), io.BytesIO(b""))
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"multiclass_classification_metrics": {
        "accuracy": {"value": 0.875}}}))
    return {"archive": archive, "evaluation": evaluation}


def package(files: dict, **fields) -> dict:
    return {"ModelPackageGroupName": "penguins",
            "ModelPackageDescription": "from a request",
            "InferenceSpecification": {
                "Containers": [{"Image": "penguins-serving:latest",
                                "ModelDataUrl": f"file://{files['archive']}"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"]},
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json",
                "S3Uri": f"file://{files['evaluation']}"}}},
            "Tags": [{"Key": "team", "Value": "ml"}],
            **fields}


def run(tmp_path: Path, body: dict, *options: str) -> int:
    path = tmp_path / f"request-{len(list(tmp_path.glob('request-*')))}.json"
    path.write_text(json.dumps(body))
    return command.main(["--local", str(tmp_path / "local"), *options, "job", str(path)])


def described(tmp_path: Path, name: str, capsys) -> dict:
    capsys.readouterr()
    assert command.main(["--local", str(tmp_path / "local"), "describe", name]) == 0
    return json.loads(capsys.readouterr().out)


def group(tmp_path: Path) -> Path:
    return tmp_path / "local" / "registry" / "penguins"


def test_a_create_model_package_request_adds_the_groups_next_version(tmp_path, files, capsys):
    assert run(tmp_path, package(files)) == 0
    group_arn = "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/penguins"
    assert run(tmp_path, package(files, ModelPackageGroupName=group_arn,
                                 ModelApprovalStatus="Approved")) == 0
    out = capsys.readouterr().out
    assert "CreateModelPackage: version 2 of penguins, Approved" in out
    first, second = registry.versions(group(tmp_path))
    assert (first["approval_status"], second["approval_status"]) == (
        "PendingManualApproval", "Approved")
    assert first["accuracy"] == 0.875
    assert registry.sha256(group(tmp_path) / "1" / "model.tar.gz") == \
        registry.sha256(files["archive"])
    answer = described(tmp_path, "penguins/1", capsys)
    assert answer["ModelPackageArn"].endswith(":000000000000:model-package/penguins/1")
    assert answer["ModelPackageGroupName"] == "penguins"
    assert answer["ModelPackageVersion"] == 1
    assert answer["ModelApprovalStatus"] == "PendingManualApproval"
    assert answer["ModelPackageStatus"] == "Completed"
    assert answer["ModelPackageDescription"] == "from a request"
    assert answer["InferenceSpecification"]["SupportedContentTypes"] == ["application/json"]
    assert "Tags" not in answer  # DescribeModelPackage gives no tags back
    assert described(tmp_path, answer["ModelPackageArn"], capsys) == answer


def change(path: str, value):
    """A function that sets (or, with value None, removes) the field at a dotted path."""
    def apply(body: dict) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return apply


CREATE_MISTAKES = [
    ("a typo", change("ModelPackageDescriptoin", "x"),
     "ModelPackageDescriptoin: unknown field (known: "),
    ("an unversioned package", change("ModelPackageName", "mine"),
     "ModelPackageName: an unversioned model package has no place here"),
    ("a Marketplace algorithm", change("SourceAlgorithmSpecification", {}),
     "SourceAlgorithmSpecification: Marketplace algorithms do not run locally"),
    ("no group", change("ModelPackageGroupName", None), "ModelPackageGroupName: missing"),
    ("a bad group", change("ModelPackageGroupName", "pen guins"),
     "ModelPackageGroupName: \"pen guins\" is not a model package group's name"),
    ("no containers", change("InferenceSpecification.Containers", []),
     "InferenceSpecification.Containers: give at least one container"),
    ("no archive", change("InferenceSpecification.Containers.0.ModelDataUrl", None),
     "InferenceSpecification.Containers[0].ModelDataUrl: missing (required)"),
    ("an archive that is not there",
     change("InferenceSpecification.Containers.0.ModelDataUrl", "file:///nowhere/m.tar.gz"),
     "InferenceSpecification.Containers[0].ModelDataUrl: cannot read file:///nowhere/m.tar.gz"),
    ("no metrics", change("ModelMetrics", None),
     "ModelMetrics: missing (required here: the local registry keeps each version's accuracy"),
    ("no statistics", change("ModelMetrics.ModelQuality.Statistics", None),
     "ModelMetrics.ModelQuality.Statistics: missing (required)"),
    ("a bad status", change("ModelApprovalStatus", "Maybe"),
     "ModelApprovalStatus: \"Maybe\" is not one of Approved, Rejected, PendingManualApproval"),
    ("metadata that is not a string", change("CustomerMetadataProperties", {"n": 3}),
     "CustomerMetadataProperties.n: 3 is not a string"),
]


@pytest.mark.parametrize("mistake,message", [case[1:] for case in CREATE_MISTAKES],
                         ids=[case[0] for case in CREATE_MISTAKES])
def test_a_create_model_package_mistake_is_named_and_registers_nothing(
        tmp_path, files, capsys, mistake, message):
    body = package(files)
    mistake(body)
    assert run(tmp_path, body) == 2
    assert message in capsys.readouterr().err
    assert registry.numbered(group(tmp_path)) == []


def test_statistics_without_an_accuracy_are_named_by_their_uri(tmp_path, files, capsys):
    files["evaluation"].write_text(json.dumps({"regression_metrics": {}}))
    assert run(tmp_path, package(files)) == 1
    assert (f"ModelMetrics.ModelQuality.Statistics.S3Uri: file://{files['evaluation']} has no "
            "multiclass_classification_metrics.accuracy.value") in capsys.readouterr().err
    assert registry.numbered(group(tmp_path)) == []


def approval(arn: str, status="Approved", **fields) -> dict:
    return {"ModelPackageArn": arn, "ModelApprovalStatus": status, **fields}


def test_update_model_package_approves_as_make_approve_does_and_fires_on_approve(
        tmp_path, files, capsys):
    assert run(tmp_path, package(files)) == 0
    arn = described(tmp_path, "penguins/1", capsys)["ModelPackageArn"]
    seen = tmp_path / "seen.txt"
    hook = f"echo \"$MODEL_VERSION $MODEL_APPROVAL_STATUS\" > {shlex.quote(str(seen))}"
    assert run(tmp_path, approval(arn, ApprovalDescription="good enough"), "--by", "ana",
               "--on-approve", hook) == 0
    assert seen.read_text().split() == ["1", "Approved"]
    meta = registry.read_metadata(group(tmp_path) / "1", 1)
    entry = meta["approval_history"][-1]
    assert (meta["approval_status"], entry["by"], entry["description"]) == (
        "Approved", "ana", "good enough")
    assert entry["on_approve"]["ok"]
    answer = described(tmp_path, "penguins/1", capsys)
    assert (answer["ModelApprovalStatus"], answer["ApprovalDescription"]) == (
        "Approved", "good enough")
    assert answer["LastModifiedBy"] == {"UserProfileName": "ana"}
    # The same status again changes nothing and fires nothing, as make approve.
    assert run(tmp_path, approval("penguins/1"), "--on-approve", "exit 7") == 0
    assert "already Approved; nothing changed; ON_APPROVE not run" in capsys.readouterr().out


def test_update_model_package_rejects_by_name_and_runs_no_hook(tmp_path, files, capsys):
    assert run(tmp_path, package(files)) == 0
    assert run(tmp_path, approval("penguins/1", "Rejected"), "--on-approve", "exit 7") == 0
    assert registry.read_metadata(group(tmp_path) / "1", 1)["approval_status"] == "Rejected"
    assert "version 1 is now Rejected" in capsys.readouterr().out


def test_a_failed_on_approve_fails_the_request_and_the_approval_stays(tmp_path, files, capsys):
    assert run(tmp_path, package(files)) == 0
    assert run(tmp_path, approval("penguins/1"), "--on-approve", "exit 5") == 1
    assert "exited with code 5" in capsys.readouterr().err
    assert registry.read_metadata(group(tmp_path) / "1", 1)["approval_status"] == "Approved"


UPDATE_MISTAKES = [
    ("a field not honoured", {"CustomerMetadataProperties": {"a": "b"}}, 2,
     "CustomerMetadataProperties: not changed here; UpdateModelPackage changes a version's "
     "ModelApprovalStatus"),
    ("a typo", {"ApprovalDescriptoin": "x"}, 2, "ApprovalDescriptoin: unknown field"),
    ("no status", {"ModelApprovalStatus": None}, 2, "ModelApprovalStatus: missing"),
    ("a bad status", {"ModelApprovalStatus": "Yes"}, 2,
     "ModelApprovalStatus: \"Yes\" is not one of"),
    ("not a version", {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model/penguins"}, 2,
     "ModelPackageArn: \"arn:aws:sagemaker:us-east-1:1:model/penguins\" is not a model "
     "package version's ARN"),
    ("an unknown group", {"ModelPackageArn": "digits/1"}, 1,
     "ModelPackageArn: no model package group 'digits'"),
    ("an unknown version", {"ModelPackageArn": "penguins/4"}, 1,
     "no version 4 (registered versions: 1)"),
]


@pytest.mark.parametrize("fields,code,message", [case[1:] for case in UPDATE_MISTAKES],
                         ids=[case[0] for case in UPDATE_MISTAKES])
def test_an_update_model_package_mistake_is_named_and_changes_nothing(
        tmp_path, files, capsys, fields, code, message):
    assert run(tmp_path, package(files)) == 0
    body = {key: value for key, value in {**approval("penguins/1"), **fields}.items()
            if value is not None}
    assert run(tmp_path, body) == code
    assert message in capsys.readouterr().err
    assert registry.read_metadata(group(tmp_path) / "1", 1)["approval_status"] == \
        "PendingManualApproval"


def test_a_hook_url_off_this_machine_changes_nothing(tmp_path, files, capsys):
    assert run(tmp_path, package(files)) == 0
    assert run(tmp_path, approval("penguins/1"), "--on-approve", "http://192.0.2.1/x") == 1
    assert "must be on this machine" in capsys.readouterr().err
    assert registry.read_metadata(group(tmp_path) / "1", 1)["approval_status"] == \
        "PendingManualApproval"


MODEL = {"ModelName": "tiny-model", "ExecutionRoleArn": "arn:aws:iam::000000000000:role/x",
         "PrimaryContainer": {"Image": "tiny:1", "ModelDataUrl": "file:///models/m.tar.gz",
                              "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}},
         "Tags": [{"Key": "team", "Value": "ml"}]}


def test_a_create_model_request_is_kept_where_a_transform_job_reads_it(tmp_path, capsys):
    from pipeline.transform.request import model_of

    assert run(tmp_path, MODEL) == 0
    assert model_of(tmp_path / "local", "tiny-model")["Image"] == "tiny:1"
    answer = described(tmp_path, "tiny-model", capsys)
    assert answer["ModelArn"].endswith(":000000000000:model/tiny-model")
    assert answer["PrimaryContainer"]["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py"}
    assert answer["ExecutionRoleArn"] and "CreationTime" in answer and "Tags" not in answer
    assert described(tmp_path, answer["ModelArn"], capsys) == answer
    # SageMaker's model names are unique: the same name again is refused, the first stays.
    assert run(tmp_path, {**MODEL, "PrimaryContainer": {"Image": "other:2"}}) == 2
    assert "ModelName: a model named tiny-model exists already" in capsys.readouterr().err
    assert model_of(tmp_path / "local", "tiny-model")["Image"] == "tiny:1"


def model_with(path: str, value) -> dict:
    body = copy.deepcopy(MODEL)
    change(path, value)(body)
    return body


MODEL_MISTAKES = [
    ("an inference pipeline", model_with("Containers", []),
     "Containers: an inference pipeline of several containers does not run here"),
    ("a model package and an image", model_with("PrimaryContainer.ModelPackageName",
                                                 "penguins/1"),
     "PrimaryContainer.Image: a model of a model package takes its image and archive from "
     "the package"),
    ("no image", model_with("PrimaryContainer.Image", None), "PrimaryContainer.Image: missing"),
    ("a path for a URI", model_with("PrimaryContainer.ModelDataUrl", "models/m.tar.gz"),
     "PrimaryContainer.ModelDataUrl: \"models/m.tar.gz\" is not an s3:// or file:// URI"),
    ("a number in the environment", model_with("PrimaryContainer.Environment", {"N": 1}),
     "PrimaryContainer.Environment.N: 1 is not a string"),
    ("a bad name", model_with("ModelName", "tiny_model"),
     "ModelName: \"tiny_model\" is not a model name"),
    ("a typo", model_with("PrimaryContainer.Imgae", "x"), "PrimaryContainer.Imgae: unknown"),
]


@pytest.mark.parametrize("body,message", [case[1:] for case in MODEL_MISTAKES],
                         ids=[case[0] for case in MODEL_MISTAKES])
def test_a_create_model_mistake_is_named_and_keeps_nothing(tmp_path, capsys, body, message):
    assert run(tmp_path, body) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "local" / "models").exists()


def test_a_model_of_a_model_package_names_a_registered_version(tmp_path, files, capsys):
    body = {"ModelName": "penguins-v1", "PrimaryContainer": {
        "ModelPackageName": "arn:aws:sagemaker:us-east-1:000000000000:model-package/penguins/1"}}
    assert run(tmp_path, body) == 1  # no registry yet: nothing is kept
    assert "no model package group 'penguins'" in capsys.readouterr().err
    assert not (tmp_path / "local" / "models").exists()
    assert run(tmp_path, package(files)) == 0
    assert run(tmp_path, {**body, "ModelName": "penguins-v2", "PrimaryContainer": {
        "ModelPackageName": "penguins/2"}}) == 1
    assert "no version 2 (registered versions: 1)" in capsys.readouterr().err
    assert run(tmp_path, body) == 0
    assert described(tmp_path, "penguins-v1", capsys)["PrimaryContainer"] == \
        body["PrimaryContainer"]


def test_describe_names_what_it_looked_for_when_nothing_has_the_name(tmp_path, capsys):
    local = str(tmp_path / "local")
    assert command.main(["--local", local, "describe", "nothing-here"]) == 2
    err = capsys.readouterr().err
    assert "no job named nothing-here" in err
    assert "no model, endpoint or endpoint config nothing-here is kept either" in err
    assert command.main(["--local", local, "describe", "penguins/1"]) == 1
    assert "no model package group 'penguins'" in capsys.readouterr().err


def test_a_version_make_register_made_is_described_with_the_registrys_archive(
        tmp_path, files, capsys):
    registry.register(group(tmp_path), files["archive"], files["evaluation"], {}, 0.7, 0.5,
                      lineage={"training": "penguins-train-1"})
    answer = described(tmp_path, "penguins/1", capsys)
    assert answer["ModelApprovalStatus"] == "Approved"  # 0.875 is above make's 0.7
    archive = group(tmp_path) / "1" / "model.tar.gz"
    assert answer["InferenceSpecification"] == {"Containers": [
        {"ModelDataUrl": f"file://{archive.absolute()}"}]}
    assert json.loads(answer["CustomerMetadataProperties"]["lineage"]) == {
        "training": "penguins-train-1"}


def test_a_transform_request_without_its_name_is_named_as_a_transform_not_a_model(tmp_path,
                                                                                  capsys):
    body = {"ModelName": "tiny-model", "TransformInput": {}, "TransformOutput": {},
            "TransformResources": {"InstanceCount": 1}}
    assert run(tmp_path, body) == 2
    assert "TransformJobName: missing (required)" in capsys.readouterr().err
    assert not (tmp_path / "local" / "models").exists()
