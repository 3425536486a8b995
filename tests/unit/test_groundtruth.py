"""Ground truth (pipeline/monitoring/groundtruth.py), the model-quality run's baseline choice
(pipeline/monitoring/modelquality.py) and one scheduled execution (training/monitor/schedule.py),
in-process."""

import json
from argparse import Namespace
from pathlib import Path

import model_cases as mc
import monitor_cases as cases
import pytest

from pipeline.monitoring import dataquality as monitoring
from pipeline.monitoring import groundtruth
from pipeline.monitoring import modelquality as modelmonitor
from pipeline.runs import records as runs
from pipeline.runs.records import RunError
from training.monitor import schedule

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


def test_a_scheduled_execution_is_a_monitoring_run_make_monitoring_lists(tmp_path, monkeypatch):
    """The container writes run.json without pipeline/: runs.load and the listing read it."""
    capture, truth = tmp_path / "capture", tmp_path / "truth"
    ids = [str(n) for n in range(len(mc.PAIRS))]
    cases.write(capture, mc.captured([p for _, p in mc.PAIRS], ids))
    mc.write_truth(truth, [mc.truth_line(k, t) for k, (t, _) in zip(ids, mc.PAIRS, strict=True)])
    folder = tmp_path / "schedule" / "model-quality"
    folder.mkdir(parents=True)
    (folder / "statistics.json").write_text("{}")
    (folder / "constraints.json").write_text(json.dumps(mc.constraints({"accuracy": 0.8})))
    local = tmp_path / "local"
    monkeypatch.setattr(schedule, "SCHEDULE", tmp_path / "schedule")
    monkeypatch.setattr(schedule, "MONITORING", local / "monitoring")
    monkeypatch.setattr(schedule, "CAPTURE", str(capture))
    monkeypatch.setattr(schedule, "TRUTH", str(truth))
    plan = {"name": "penguins-monitoring-schedule", "workload": "penguins",
            "baselines": {"MODEL_QUALITY": {"from": "baseline run x"}}}
    record = schedule.execute(plan, "MODEL_QUALITY", cases.HOUR, cases.HOUR.replace(hour=22))
    assert record["status"] == "Completed", (local / "monitoring" / record["name"] / "logs.txt"
                                             ).read_text()
    run = runs.load(local / "monitoring" / record["name"])
    assert run.status == "Completed" and run.record["kind"] == "monitoring"
    assert run.record["metric"] == {"name": "violations", "value": 1.0}
    assert runs.take(local, "monitoring", record["name"], "penguins").name == record["name"]
    row = monitoring.table([run]).splitlines()[1].split()
    assert row[1:4] == ["MODEL_QUALITY", "-", "Completed"]
    assert row[-2:] == ["1", "LessThanThreshold"]


@pytest.fixture
def one_execution(tmp_path, monkeypatch):
    """A schedule with a model-quality baseline over one captured request; runs execute()."""
    capture = tmp_path / "capture"
    cases.write(capture, mc.captured(["A"], ["1"]))
    monkeypatch.setattr(schedule, "SCHEDULE", tmp_path / "schedule")
    monkeypatch.setattr(schedule, "MONITORING", tmp_path / "monitoring")
    monkeypatch.setattr(schedule, "CAPTURE", str(capture))
    (tmp_path / "schedule" / "model-quality").mkdir(parents=True)
    for name in ("statistics.json", "constraints.json"):
        (tmp_path / "schedule" / "model-quality" / name).write_text("{}")

    def execute(**options) -> dict:
        plan = {"name": "s", "workload": "penguins", "baselines": {"MODEL_QUALITY": {}},
                **options}
        return schedule.execute(plan, "MODEL_QUALITY", cases.HOUR, cases.HOUR.replace(hour=22))

    return execute


def test_an_execution_longer_than_the_max_runtime_is_ended_and_recorded_failed(one_execution):
    record = one_execution(max_runtime=0.01)
    assert record["status"] == "Failed"
    assert record["failure_reason"] == ("the execution ran longer than MONITOR_MAX_RUNTIME=0.01 s "
                                        "(MaxRuntimeInSeconds)")


def test_an_execution_the_schedule_stops_under_is_recorded_stopped(one_execution):
    schedule.stopping.set()  # SIGTERM's handler
    try:
        record = one_execution()
    finally:
        schedule.stopping.clear()
    assert (record["status"], record["exit_code"]) == ("Stopped", 143)


def test_a_schedule_runs_one_execution_per_variant_against_its_own_baseline(tmp_path,
                                                                            monkeypatch):
    capture, truth = tmp_path / "capture", tmp_path / "truth"
    ids = [str(n) for n in range(len(mc.PAIRS))]
    for variant in ("v1", "v2"):
        cases.write(capture, mc.captured([p for _, p in mc.PAIRS], ids), variant=variant)
    cases.write(capture, mc.captured(["A"], ["x"]), variant="old",
                hour=cases.HOUR.replace(day=1))  # a variant of an earlier config
    mc.write_truth(truth, [mc.truth_line(k, t) for k, (t, _) in zip(ids, mc.PAIRS, strict=True)])
    folder = tmp_path / "schedule" / "model-quality"
    (folder / "v2").mkdir(parents=True)
    for place, accuracy in ((folder, 0.0), (folder / "v2", 0.99)):
        (place / "statistics.json").write_text("{}")
        (place / "constraints.json").write_text(json.dumps(mc.constraints(
            {"accuracy": accuracy})))
    local = tmp_path / "local"
    monkeypatch.setattr(schedule, "SCHEDULE", tmp_path / "schedule")
    monkeypatch.setattr(schedule, "MONITORING", local / "monitoring")
    monkeypatch.setattr(schedule, "CAPTURE", str(capture))
    monkeypatch.setattr(schedule, "TRUTH", str(truth))
    end = cases.HOUR.replace(hour=22)
    found = schedule.captured(capture, cases.HOUR, end)
    assert found == [("penguins-endpoint", "v1"), ("penguins-endpoint", "v2")]
    plan = {"name": "s", "workload": "penguins", "capture": "/host/capture",
            "baselines": {"MODEL_QUALITY": {"from": "baseline run x"}},
            "variant_baselines": {"MODEL_QUALITY": {"v2": {"from": "registry version 2"}}}}
    records = {variant: schedule.execute(plan, "MODEL_QUALITY", cases.HOUR, end,
                                         (endpoint, variant))
               for endpoint, variant in found}
    for variant, record in records.items():
        assert record["status"] == "Completed"
        assert (record["endpoint"], record["variant"]) == ("penguins-endpoint", variant)
        assert record["inputs"]["endpoint"]["path"] == f"/host/capture/penguins-endpoint/{variant}"
    # v1 against the schedule's baseline (no threshold to miss), v2 against its own.
    assert records["v1"]["inputs"]["baseline"] == {"from": "baseline run x"}
    assert records["v2"]["inputs"]["baseline"] == {"from": "registry version 2"}
    assert (records["v1"]["metric"]["value"], records["v2"]["metric"]["value"]) == (0.0, 1.0)
