"""Batch transform jobs with the real serving image and a really trained model."""

import csv
import json
import shutil
from pathlib import Path

from pipeline.runs import records as runs
from pipeline.transform import job as transform

from harness import SERVING_IMAGE

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


def split_rows(processed) -> list[list[str]]:
    """The test split's raw rows, label first, as the processing job wrote them."""
    with (processed / "processing" / "baseline" / "test-baseline.csv").open(newline="") as file:
        return list(csv.reader(file))[1:]


def write_csv(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)
    return path


def run_transform(project: str, local: Path, trained: Path, *args: str) -> runs.Run:
    """A transform job through compose project `project` (the compose_project fixture's)."""
    code = transform.main(["--local", str(local), "--model-tar",
                           str(trained / "output" / "model.tar.gz"), "--image", SERVING_IMAGE,
                           "--label", "penguins.test=1", "--compose-project", project, *args])
    run = runs.runs(local, "transform")[0]
    assert (code == 0) == (run.status == runs.COMPLETED), run.record
    return run


def program(*args: str) -> list[str]:
    return ["--input-filter", "$[1:]", "--join-source", "Input", "--output-filter", "$[0,-2]",
            *args]


def out_lines(run: runs.Run, name: str) -> list[str]:
    return (run.folder / "output" / f"{name}.out").read_text().splitlines()


def test_multi_and_single_record_give_the_same_out_files_one_line_per_record_in_order(
        trained, processed, tmp_path, compose_project):
    rows = split_rows(processed)
    data = tmp_path / "input"
    write_csv(data / "first.csv", rows[:30])
    write_csv(data / "more" / "second.csv", rows[30:])
    multi = run_transform(compose_project, tmp_path / "local", trained, *program(
        "--input", str(data), "--batch-strategy", "MultiRecord", "--max-concurrent", "1"))
    single = run_transform(compose_project, tmp_path / "local", trained, *program(
        "--input", str(data), "--batch-strategy", "SingleRecord", "--max-concurrent", "4"))
    assert multi.status == single.status == runs.COMPLETED
    for name, part in (("first.csv", rows[:30]), ("more/second.csv", rows[30:])):
        lines = out_lines(multi, name)
        assert lines == out_lines(single, name)
        # The join kept each record's own label: the lines are the input's, in order.
        assert [line.split(",")[0] for line in lines] == [row[0] for row in part]
        assert {line.split(",")[1] for line in lines} <= SPECIES
    correct = sum(a == b for a, b in (line.split(",") for line in out_lines(multi, "first.csv")))
    assert correct >= 0.7 * 30
    assert multi.record["transform"]["mini_batches"] == 2  # one request per file
    assert single.record["transform"]["mini_batches"] == len(rows)
    assert 2 <= single.record["transform"]["max_in_flight"] <= 4
    assert single.record["transform"]["settings"]["MaxConcurrentTransforms"] == 4


def test_mini_batches_never_exceed_max_payload_and_the_answers_are_the_same(
        trained, processed, tmp_path, compose_project):
    rows = split_rows(processed)
    many = (rows * (30000 // len(rows) + 1))[:30000]  # a bit over 1 MB without the labels
    data = write_csv(tmp_path / "big.csv", many)
    run = run_transform(compose_project, tmp_path / "local", trained, *program(
        "--input", str(data), "--max-payload-mb", "1"))
    assert run.status == runs.COMPLETED, run.record
    figures = run.record["transform"]
    assert figures["mini_batches"] >= 2
    assert figures["largest_payload_bytes"] <= 1024 * 1024
    lines = out_lines(run, "big.csv")
    assert [line.split(",")[0] for line in lines] == [row[0] for row in many]
    small = run_transform(compose_project, tmp_path / "local", trained, *program(
        "--input", str(write_csv(tmp_path / "small" / "big.csv", rows))))
    assert lines[: len(rows)] == out_lines(small, "big.csv")


def test_json_lines_are_joined_under_sagemakeroutput_and_filtered(trained, processed,
                                                                   tmp_path, compose_project):
    rows = split_rows(processed)[:10]
    names = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
             "sex"]
    records = [{"id": i, "groundtruth": row[0], **dict(zip(names, row[1:], strict=True))}
               for i, row in enumerate(rows)]
    data = tmp_path / "records.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    run = run_transform(compose_project, tmp_path / "local", trained, "--input", str(data),
                        "--content-type", "application/jsonlines",
                        "--accept", "application/jsonlines", "--join-source", "Input",
                        "--output-filter", "$['id','groundtruth','SageMakerOutput']")
    assert run.status == runs.COMPLETED, run.record
    lines = [json.loads(line) for line in out_lines(run, "records.jsonl")]
    assert [line["id"] for line in lines] == list(range(10))
    assert [line["groundtruth"] for line in lines] == [row[0] for row in rows]
    assert all(line["SageMakerOutput"]["prediction"] in SPECIES for line in lines)
    assert all(set(line) == {"id", "groundtruth", "SageMakerOutput"} for line in lines)


def test_a_refused_record_fails_the_job_naming_file_and_line_and_leaves_no_out(
        trained, processed, tmp_path, compose_project):
    rows = split_rows(processed)[:20]
    rows[12] = rows[12][:3]  # a record with too few columns: the endpoint answers 400
    data = write_csv(tmp_path / "input" / "broken.csv", rows)
    run = run_transform(compose_project, tmp_path / "local", trained,
                        *program("--input", str(data.parent)))
    assert run.status == runs.FAILED
    assert run.record["failure_reason"].startswith(
        "broken.csv line 13: the endpoint refused the record with 400")
    assert not any((run.folder / "output").rglob("*.out*"))
    assert "broken.csv line 13" in (run.folder / runs.LOGS).read_text()


def test_the_default_input_is_the_newest_processing_runs_test_split(trained, processed,
                                                                    tmp_path, compose_project):
    local = tmp_path / "local"
    source = runs.create(local, "processing", "penguins")
    shutil.copytree(processed / "processing" / "baseline",
                    source.folder / "processing" / "baseline")
    runs.finish(source, 0)
    code = transform.main(["--local", str(local), "--model-tar",
                           str(trained / "output" / "model.tar.gz"), "--image", SERVING_IMAGE,
                           "--label", "penguins.test=1", "--compose-project", compose_project])
    run = runs.runs(local, "transform")[0]
    assert code == 0, run.record
    assert run.record["inputs"]["data"]["run"] == source.name
    assert run.record["parameters"]["DataProcessing"] == {
        "InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2]"}
    lines = out_lines(run, "test-baseline.csv")
    assert [line.split(",")[0] for line in lines] == [row[0] for row in split_rows(processed)]


def test_a_createtransformjob_request_runs_through_make_jobs_dispatcher(
        trained, processed, tmp_path, compose_project, capsys):
    """`make job REQUEST=…` with a CreateTransformJob body: the model a CreateModel request
    kept, file:// input and output, the same engine as make transform; make describe answers
    DescribeTransformJob."""
    from pipeline.jobs import requests

    rows = split_rows(processed)
    write_csv(tmp_path / "input" / "rows.csv", rows[:20])
    local = tmp_path / "local"
    (local / "models").mkdir(parents=True)
    (local / "models" / "penguins.json").write_text(json.dumps({"PrimaryContainer": {
        "Image": SERVING_IMAGE,
        "ModelDataUrl": f"file://{trained / 'output' / 'model.tar.gz'}"}}))
    body = {"TransformJobName": "penguins-batch", "ModelName": "penguins",
            "TransformInput": {"ContentType": "text/csv", "SplitType": "Line", "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix",
                                 "S3Uri": f"file://{tmp_path / 'input'}"}}},
            "TransformOutput": {"S3OutputPath": f"file://{tmp_path / 'output'}",
                                "Accept": "text/csv", "AssembleWith": "Line"},
            "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
            "BatchStrategy": "MultiRecord",
            "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input",
                               "OutputFilter": "$[0,-2]"}}
    (tmp_path / "request.json").write_text(json.dumps(body))
    settings = ["--local", str(local), "--project", compose_project]
    assert requests.main([*settings, "job", str(tmp_path / "request.json")]) == 0
    lines = (tmp_path / "output" / "rows.csv.out").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == [row[0] for row in rows[:20]]
    assert {line.split(",")[1] for line in lines} <= SPECIES
    capsys.readouterr()
    assert requests.main([*settings, "describe", "penguins-batch"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["TransformJobStatus"] == "Completed"
    assert described["TransformJobArn"].endswith(":transform-job/penguins-batch")
    assert described["ModelName"] == "penguins" and "TransformEndTime" in described
