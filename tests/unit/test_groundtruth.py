"""Ground truth (pipeline/monitoring/groundtruth.py) and the model-quality run's baseline choice
(pipeline/monitoring/modelquality.py), in-process; the schedule's executions are
test_schedule_executions.py's."""

import json
from argparse import Namespace
from pathlib import Path

import model_cases as mc
import monitor_cases as cases
import pytest

from pipeline.monitoring import groundtruth
from pipeline.monitoring import modelquality as modelmonitor
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

pytestmark = pytest.mark.pipeline


def traffic_run(local, labels: list[str], workload="penguins"):
    run = runs.create(local, "traffic", workload)
    (run.folder / "sent.jsonl").write_text("".join(
        json.dumps({"inferenceId": f"{run.name}-{n}", "label": label,
                    "time": "2026-11-23T21:00:00Z"}) + "\n" for n, label in enumerate(labels)))
    runs.finish(run, 0)
    return run


def written(local, *options) -> list[dict]:
    out = local / "ground-truth" / "penguins"
    assert groundtruth.main(["--local", str(local), *options]) == 0
    files = sorted(out.rglob("*.jsonl"))
    assert len(files) == 1 and len(files[0].relative_to(out).parts) == 5  # yyyy/mm/dd/hh/name
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def test_the_newest_traffic_runs_true_labels_are_written_in_sagemakers_format(tmp_path):
    traffic_run(tmp_path, ["Gentoo"])
    newest = traffic_run(tmp_path, ["Adelie", "Chinstrap"])
    lines = written(tmp_path)
    assert lines == [{"groundTruthData": {"data": label, "encoding": "CSV"},
                      "eventMetadata": {"eventId": f"{newest.name}-{n}"}, "eventVersion": "0"}
                     for n, label in enumerate(["Adelie", "Chinstrap"])]


def test_wrong_labels_are_never_the_true_one(tmp_path):
    true = ["Adelie", "Chinstrap", "Gentoo", "Adelie"]
    traffic_run(tmp_path, true)
    labels = [line["groundTruthData"]["data"] for line in written(tmp_path, "--wrong")]
    assert all(wrong != right for wrong, right in zip(labels, true, strict=True))
    assert set(labels) <= set(true)


def test_wrong_labels_need_two_classes(tmp_path, capsys):
    traffic_run(tmp_path, ["Adelie", "Adelie"])
    assert groundtruth.main(["--local", str(tmp_path), "--wrong"]) == 1
    assert "WRONG=1 needs two classes" in capsys.readouterr().err


def test_random_labels_cover_every_captured_request_seeded_by_its_id(tmp_path):
    lines = mc.captured(["A", "B", "C"], ["1", "2", None])
    cases.write(tmp_path / "capture" / "penguins", lines, files=1)
    first = written(tmp_path, "--random")
    keys = [line["eventMetadata"]["eventId"] for line in first]
    assert keys == ["1", "2", mc.event_id(lines[2])]
    assert {line["groundTruthData"]["data"] for line in first} <= {"A", "B", "C"}
    for path in (tmp_path / "ground-truth").rglob("*.jsonl"):
        path.unlink()
    assert written(tmp_path, "--random") == first  # the same id, the same label


def test_no_traffic_run_is_refused_with_what_to_do(tmp_path, capsys):
    assert groundtruth.main(["--local", str(tmp_path)]) == 1
    assert "run make traffic first" in capsys.readouterr().err
    assert not (tmp_path / "ground-truth").exists()


def baseline_run(local, analysis, workload="penguins"):
    run = runs.create(local, "baseline", workload, analysis_type=analysis)
    (run.folder / "processing" / "output").mkdir(parents=True)
    for name in ("statistics.json", "constraints.json"):
        (run.folder / "processing" / "output" / name).write_text(json.dumps({"run": run.name}))
    runs.finish(run, 0)
    return run


def arguments(local, **overrides) -> Namespace:
    return Namespace(**{"local": local, "workload": "penguins", "baseline_job": None,
                        "registry": None, "endpoint_dir": None, **overrides})


def test_the_newest_model_quality_baseline_is_taken_and_a_data_quality_one_refused(tmp_path):
    wanted = baseline_run(tmp_path, "MODEL_QUALITY")
    data = baseline_run(tmp_path, "DATA_QUALITY")
    what, files = modelmonitor.choose_baseline(arguments(tmp_path))
    assert what == f"baseline run {wanted.name}"
    assert json.loads(Path(files["constraints"]).read_text())["run"] == wanted.name
    with pytest.raises(RunError, match="is a data-quality baseline"):
        modelmonitor.choose_baseline(arguments(tmp_path, baseline_job=data.name))


def test_the_served_versions_model_baseline_comes_first(tmp_path):
    recorded = baseline_run(tmp_path, "MODEL_QUALITY")
    baseline_run(tmp_path, "MODEL_QUALITY")
    registry, endpoint = tmp_path / "registry", tmp_path / "endpoint"
    (registry / "2").mkdir(parents=True)
    endpoint.mkdir()
    files = {key: str(recorded.folder / "processing" / "output" / f"{key}.json")
             for key in ("statistics", "constraints")}
    (registry / "2" / "metadata.json").write_text(json.dumps(
        {"baselines": {"model_quality": files}}))
    (endpoint / "deployments.json").write_text(json.dumps(
        {"live": 1, "deployments": [{"id": 1, "version": 2}]}))
    assert modelmonitor.choose_baseline(arguments(
        tmp_path, registry=registry, endpoint_dir=endpoint)) == ("registry version 2", files)
