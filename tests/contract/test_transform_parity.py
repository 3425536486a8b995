"""`make transform` and the SDK's local-mode Transformer write the same .out files, byte for byte.

Same serving image, same model archive (a tiny model of each workload), same input folder, no
join and no filter: both pass each mini-batch's answer through as the container wrote it, with
one newline after it (AssembleWith=Line). CSV answers and JSON answers (one array per
mini-batch) both.
"""

import csv

import pytest
from sagemaker.local import LocalSession
from sagemaker.model import Model

from pipeline.runs import records as runs
from pipeline.transform import job as transform
from training.contract.archive import pack

import tiny_model
from harness import SERVING_IMAGE, free_port, local_status, remove_compose_files_containers

pytestmark = pytest.mark.sdk
ROLE = "arn:aws:iam::111111111111:role/service-role/LocalSageMakerRole"


@pytest.fixture
def session(docker_client, monkeypatch, tmp_path_factory):
    """One local session per test, its containers removed after it: local mode leaves them
    stopped, and its container names come from `random`, which the tiny model's seeding
    makes the same in every test. Its compose files go to a folder of the test's, so the
    teardown removes its containers and nobody else's."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    root = tmp_path_factory.mktemp("local-mode")
    local = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    })
    local.config = {"local": {"local_code": True, "container_root": str(root)}}
    try:
        yield local
    finally:
        remove_compose_files_containers(root)


def penguins_rows() -> list[list[str]]:
    frame = tiny_model.penguins_frame(90).dropna()
    return [[str(value) for value in row] for row in frame.itertuples(index=False)]


def digits_rows() -> list[list[str]]:
    return [[str((row * 7 + column * 3) % 17) for column in range(64)] for row in range(40)]


WORKLOADS = {"penguins": (tiny_model.build, penguins_rows),
             "digits": (tiny_model.build_image, digits_rows)}


def model_archive(folder, build) -> str:
    """The tiny model as model.tar.gz, readable by the container's workers."""
    (folder / "model").mkdir()
    model = build(folder / "model")
    for path in [model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(pack(model, folder / "model.tar.gz"))


def input_folder(folder, rows):
    """Two files (local mode reads no sub-folder, where SageMaker reads every key under the
    prefix, as make transform does)."""
    folder.mkdir()
    for name, part in (("first.csv", rows[: len(rows) // 3]),
                       ("second.csv", rows[len(rows) // 3:])):
        path = folder / name
        with path.open("w", newline="") as file:
            csv.writer(file, lineterminator="\n").writerows(part)
    return folder


@pytest.mark.parametrize("accept", ["text/csv", "application/json"])
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_make_transform_and_sdk_local_mode_write_byte_identical_out_files(
        session, tmp_path, compose_project, workload, accept):
    build, rows = WORKLOADS[workload]
    archive = model_archive(tmp_path, build)
    data = input_folder(tmp_path / "input", rows())
    # A serving port of its own each time: local mode's 8080 may be a user's endpoint (which
    # would answer), and the last test's container may still hold the one before.
    session.config = {"local": {**session.config["local"], "serving_port": free_port()}}

    transformer = Model(image_uri=SERVING_IMAGE, model_data=f"file://{archive}", role=ROLE,
                        sagemaker_session=session).transformer(
        instance_count=1, instance_type="local", strategy="MultiRecord", assemble_with="Line",
        accept=accept, output_path=f"file://{tmp_path / 'sdk'}")
    transformer.transform(f"file://{data}", content_type="text/csv", split_type="Line",
                          wait=False, logs=False)
    assert local_status(transformer.latest_transform_job, "Transform") == "Completed"

    local = tmp_path / "local"
    code = transform.main(["--local", str(local), "--workload", workload, "--model-tar", archive,
                           "--input", str(data), "--image", SERVING_IMAGE,
                           "--batch-strategy", "MultiRecord", "--accept", accept,
                           "--label", "penguins.test=1", "--compose-project", compose_project])
    run = runs.runs(local, "transform")[0]
    assert code == 0, run.record

    ours = run.folder / "output"
    for name in ("first.csv.out", "second.csv.out"):
        sdk_bytes = (tmp_path / "sdk" / name).read_bytes()
        assert (ours / name).read_bytes() == sdk_bytes, name
        assert sdk_bytes.endswith(b"\n")
    if accept == "application/json":  # one JSON document per mini-batch, not one per record
        assert (ours / "first.csv.out").read_bytes().count(b"\n") < len(rows()) // 3
