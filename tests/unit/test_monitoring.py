"""pipeline/monitoring/dataquality.py in-process: which baseline a monitoring run takes, what it
refuses
before it starts, and the listing of monitoring runs of any analysis."""

import json
from argparse import Namespace
from pathlib import Path

import pytest

from pipeline.monitoring import dataquality as monitoring
from pipeline.runs import records as runs
from pipeline.runs.records import RunError

pytestmark = pytest.mark.pipeline


def baseline_run(local, analysis="DATA_QUALITY", workload="penguins", status=0):
    run = runs.create(local, "baseline", workload, analysis_type=analysis)
    output = run.folder / "processing" / "output"
    output.mkdir(parents=True)
    for name in monitoring.BASELINE_FILES:
        (output / name).write_text(json.dumps({"run": run.name, "features": []}))
    runs.finish(run, status)
    return run


def arguments(local, **overrides) -> Namespace:
    values = {"local": local, "workload": "penguins", "baseline_job": None, "registry": None,
              "endpoint_dir": None, "capture": local / "capture", "start": None, "end": None,
              "preprocessor": None, "compose": "false", "docker": "false", "image": "x",
              "keep": 20}
    return Namespace(**{**values, **overrides})


def test_the_newest_data_quality_baseline_is_taken_not_a_newer_model_quality_one(tmp_path):
    wanted = baseline_run(tmp_path)
    baseline_run(tmp_path, "MODEL_QUALITY")
    baseline_run(tmp_path, workload="digits")
    what, files = monitoring.choose_baseline(arguments(tmp_path))
    assert what == f"baseline run {wanted.name}"
    assert json.loads(Path(files["statistics"]).read_text())["run"] == wanted.name


def test_a_named_baseline_job_wins_and_a_model_quality_one_is_refused(tmp_path):
    named = baseline_run(tmp_path)
    baseline_run(tmp_path)
    model = baseline_run(tmp_path, "MODEL_QUALITY")
    assert monitoring.choose_baseline(arguments(tmp_path, baseline_job=named.name))[0] \
        == f"baseline run {named.name}"
    with pytest.raises(RunError, match="is a model-quality baseline"):
        monitoring.choose_baseline(arguments(tmp_path, baseline_job=model.name))


def test_the_served_registry_versions_baseline_comes_before_the_newest_run(tmp_path):
    recorded = baseline_run(tmp_path)
    baseline_run(tmp_path)
    registry, endpoint = tmp_path / "registry", tmp_path / "endpoint"
    (registry / "3").mkdir(parents=True)
    endpoint.mkdir()
    files = {name.split(".")[0]: str(recorded.folder / "processing/output" / name)
             for name in monitoring.BASELINE_FILES}
    (registry / "3" / "metadata.json").write_text(json.dumps(
        {"version": 3, "baselines": {"data_quality": files}}))
    (endpoint / "deployments.json").write_text(json.dumps(
        {"live": 1, "deployments": [{"id": 1, "version": 3}]}))
    what, chosen = monitoring.choose_baseline(
        arguments(tmp_path, registry=registry, endpoint_dir=endpoint))
    assert (what, chosen) == ("registry version 3", files)


def test_no_baseline_says_to_run_make_baseline(tmp_path):
    baseline_run(tmp_path, status=1)
    with pytest.raises(RunError, match="run make baseline first"):
        monitoring.choose_baseline(arguments(tmp_path))


@pytest.mark.parametrize("overrides, words", [
    ({"start": "noon"}, "START='noon' is not an ISO 8601 time"),
    ({"start": "2026-11-23T22:00:00Z", "end": "2026-11-23T21:00:00Z"}, "is not before END"),
    ({}, "no capture folder yet"),
])
def test_a_run_that_cannot_start_says_why_and_leaves_no_run(tmp_path, overrides, words):
    with pytest.raises(RunError, match=words):
        monitoring.monitor(arguments(tmp_path, **overrides))
    assert not (tmp_path / "monitoring").exists()


def test_the_listing_counts_violations_wherever_a_run_wrote_them(tmp_path):
    data = runs.create(tmp_path, "monitoring", "penguins", analysis_type="DATA_QUALITY",
                       window={"start": "2026-11-23T21:00:00Z", "end": "2026-11-23T22:00:00Z"},
                       endpoint="penguins-endpoint", variant="v2")
    (data.folder / monitoring.RESULTS).mkdir(parents=True)
    (data.folder / monitoring.RESULTS / monitoring.VIOLATIONS).write_text(json.dumps(
        {"violations": [{"feature_name": "sex", "constraint_check_type": "completeness_check"},
                        {"feature_name": "island",
                         "constraint_check_type": "categorical_values_check"}]}))
    runs.finish(data, 0)
    model = runs.create(tmp_path, "monitoring", "penguins", analysis_type="MODEL_QUALITY")
    (model.folder / "elsewhere").mkdir()
    (model.folder / "elsewhere" / monitoring.VIOLATIONS).write_text(json.dumps(
        {"violations": [{"metric_name": "accuracy",
                         "constraint_check_type": "LessThanThreshold"}]}))
    runs.finish(model, 0)
    failed = runs.create(tmp_path, "monitoring", "penguins", analysis_type="DATA_QUALITY")
    runs.finish(failed, 1)
    lines = monitoring.table(runs.runs(tmp_path, "monitoring")).splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert lines[0].split() == ["NAME", "ANALYSIS", "VARIANT", "STATUS", "WINDOW", "VIOLATIONS",
                                "CHECKS"]
    assert rows[data.name][1:] == ["DATA_QUALITY", "v2", "Completed",
                                   "2026-11-23T21:00:00Z..2026-11-23T22:00:00Z", "2",
                                   "categorical_values_check,completeness_check"]
    assert rows[model.name][-2:] == ["1", "LessThanThreshold"]
    assert rows[failed.name][2:] == ["-", "Failed", "-", "-", "-"]


def capture_file(capture: Path, endpoint: str, variant: str, hour: str) -> None:
    folder = capture / endpoint / variant / hour.replace("-", "/").replace("T", "/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text("{}\n")


def test_each_variant_with_capture_in_the_window_is_a_run_of_its_own(tmp_path):
    from datetime import UTC, datetime

    from pipeline.monitoring import variants

    capture = tmp_path / "capture"
    capture_file(capture, "ep", "v1", "2026-12-03T10")
    capture_file(capture, "ep", "v2", "2026-12-03T11")
    capture_file(capture, "ep", "old", "2026-12-01T10")  # a variant served days ago
    (capture / "ep" / "v3" / "2026").mkdir(parents=True)  # nothing captured yet
    start, end = datetime(2026, 12, 3, 10, 30, tzinfo=UTC), datetime(2026, 12, 3, 11, 30,
                                                                      tzinfo=UTC)
    found = variants.captured(capture, start, end)
    assert [(item.endpoint, item.variant, item.folder) for item in found] == [
        ("ep", "v1", capture / "ep" / "v1"), ("ep", "v2", capture / "ep" / "v2")]
    assert [item.variant for item in variants.captured(capture, start, end, "v2")] == ["v2"]
    with pytest.raises(RunError, match=r"VARIANT=v9: .* \(variants with capture there: v1, v2\)"):
        variants.captured(capture, start, end, "v9")
    # A folder not laid out by variant (CAPTURE_DIR pointed at one variant's) is one input.
    assert variants.captured(capture / "ep" / "v1", start, end) == [
        variants.Captured(None, None, capture / "ep" / "v1")]


def test_each_variant_is_compared_with_its_own_versions_baseline(tmp_path):
    registry, endpoint = tmp_path / "registry", tmp_path / "endpoint"
    endpoint.mkdir()
    recorded = {}
    for version in (3, 4):
        run = baseline_run(tmp_path)
        files = {name.split(".")[0]: str(run.folder / "processing/output" / name)
                 for name in monitoring.BASELINE_FILES}
        (registry / str(version)).mkdir(parents=True)
        (registry / str(version) / "metadata.json").write_text(json.dumps(
            {"version": version, "baselines": {"data_quality": files}}))
        recorded[version] = files
    (endpoint / "deployments.json").write_text(json.dumps({"live": 1, "deployments": [
        {"id": 1, "variants": [{"VariantName": "v3", "version": 3},
                               {"VariantName": "v4", "version": 4},
                               {"VariantName": "v9", "version": None}]}]}))
    args = arguments(tmp_path, registry=registry, endpoint_dir=endpoint)
    assert monitoring.choose_baseline(args, variant="v4") == ("registry version 4", recorded[4])
    assert monitoring.choose_baseline(args, variant="v3") == ("registry version 3", recorded[3])
    # An archive's variant (no registered version) takes the newest baseline run.
    assert monitoring.choose_baseline(args, variant="v9")[0].startswith("baseline run ")
