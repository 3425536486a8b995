"""The data-quality monitoring job with the real training image, as SageMaker runs its analyzer:
captured traffic of the processing job's real records against the baseline job's files, and
`make monitor-data` / `make monitoring` on a LOCAL_DIR of the test's own."""

import csv
import json
import shutil
import subprocess
from pathlib import Path

import monitor_cases as cases
import pytest

from harness import PROCESSING_IMAGE, run_job

REPO = Path(__file__).resolve().parents[2]
BASELINE = ["/usr/bin/tini", "--", "baseline"]
MONITOR = ["/usr/bin/tini", "--", "monitor"]
CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", ' \
                 '"endpointOutput"]}}'


def train_rows(processed: Path) -> list[dict]:
    with (processed / "processing" / "baseline" / "train-baseline.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def as_request(row: dict) -> dict:
    """A CSV row as a client's JSON record: numbers as numbers, an empty field left out."""
    record = {}
    for name, value in row.items():
        if value != "":
            record[name] = value if name in ("island", "sex") else float(value)
    return record


@pytest.fixture(scope="module")
def baseline_files(docker_client, processed, tmp_path_factory) -> Path:
    """The baseline job's statistics.json and constraints.json of the real train-baseline.csv."""
    root = tmp_path_factory.mktemp("baseline")
    dataset = root / "dataset"
    dataset.mkdir()
    source = processed / "processing" / "baseline" / "train-baseline.csv"
    (dataset / source.name).write_bytes(source.read_bytes())
    for name in ("output", "processing/output"):
        (root / "ml" / name).mkdir(parents=True)
    result = run_job(docker_client, PROCESSING_IMAGE, ["--workload", "penguins"],
                     {root / "ml": ("/opt/ml", "rw"),
                      dataset: ("/opt/ml/processing/input/baseline_dataset_input", "ro")},
                     entrypoint=BASELINE)
    assert result.exit_code == 0, result.logs
    return root / "ml" / "processing" / "output"


def run_monitor(client, root: Path, capture: Path, baseline: Path, environment=None,
                workload: str = "penguins"):
    for name in ("output", "processing/resultdata"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return run_job(client, PROCESSING_IMAGE, ["--workload", workload],
                   {root: ("/opt/ml", "rw"),
                    capture: ("/opt/ml/processing/input/endpoint", "ro"),
                    baseline: ("/opt/ml/processing/baseline", "ro")},
                   environment={"dataset_format": CAPTURE_FORMAT, **(environment or {})},
                   entrypoint=MONITOR)


def results(root: Path) -> tuple[list, dict]:
    folder = root / "processing" / "resultdata"
    return (json.loads((folder / "constraint_violations.json").read_text())["violations"],
            json.loads((folder / "statistics.json").read_text()))


def test_the_training_records_as_traffic_have_no_violations(
        docker_client, processed, baseline_files, tmp_path):
    records = [as_request(row) for row in train_rows(processed)]
    cases.write(tmp_path / "capture", cases.json_lines(records))
    result = run_monitor(docker_client, tmp_path / "ml", tmp_path / "capture", baseline_files)
    assert result.exit_code == 0, result.logs
    violations, statistics = results(tmp_path / "ml")
    assert violations == []
    assert statistics["dataset"]["item_count"] == len(records)
    assert (tmp_path / "ml" / "processing" / "resultdata" / "report.html").stat().st_size > 10_000


def test_shifted_traffic_drifts_on_exactly_the_shifted_feature_and_a_new_island_is_caught(
        docker_client, processed, baseline_files, tmp_path):
    records = [as_request(row) for row in train_rows(processed)]
    for number, record in enumerate(records):
        if "bill_length_mm" in record:
            record["bill_length_mm"] = round(record["bill_length_mm"] * 1.3, 1)
        if number % 10 == 0:
            record["island"] = "Anvers"
    cases.write(tmp_path / "capture", cases.csv_lines(
        [{**{f: "" for f in cases.FIELDS}, **r} for r in records]))
    result = run_monitor(docker_client, tmp_path / "ml", tmp_path / "capture", baseline_files)
    assert result.exit_code == 0, result.logs
    violations, _ = results(tmp_path / "ml")
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert ("bill_length_mm", "baseline_drift_check") in found
    assert ("island", "categorical_values_check") in found
    assert {name for name, check in found if check == "baseline_drift_check"} <= {
        "bill_length_mm", "island"}  # the island shares moved by 10 %, the threshold's size


def test_a_field_left_out_of_a_third_of_the_traffic_fails_only_its_completeness_check(
        docker_client, processed, baseline_files, tmp_path):
    records = [as_request(row) for row in train_rows(processed)]
    for record in records[::3]:
        record.pop("body_mass_g", None)
    cases.write(tmp_path / "capture", cases.json_lines(records))
    result = run_monitor(docker_client, tmp_path / "ml", tmp_path / "capture", baseline_files)
    assert result.exit_code == 0, result.logs
    violations, _ = results(tmp_path / "ml")
    assert {(v["feature_name"], v["constraint_check_type"]) for v in violations} == {
        ("body_mass_g", "completeness_check")}


def test_chi_squared_flags_island_shares_moved_by_a_quarter_of_the_traffic(
        docker_client, processed, baseline_files, tmp_path):
    baseline = tmp_path / "baseline"
    shutil.copytree(baseline_files, baseline)
    constraints = json.loads((baseline / "constraints.json").read_text())
    constraints["monitoring_config"]["distribution_constraints"][
        "categorical_drift_method"] = "ChiSquared"
    (baseline / "constraints.json").write_text(json.dumps(constraints))
    records = [as_request(row) for row in train_rows(processed)]
    for record in records[::4]:
        record["island"] = "Biscoe"
    cases.write(tmp_path / "capture", cases.json_lines(records))
    result = run_monitor(docker_client, tmp_path / "ml", tmp_path / "capture", baseline)
    assert result.exit_code == 0, result.logs
    violations, _ = results(tmp_path / "ml")
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("island", "baseline_drift_check")]
    assert violations[0]["description"].startswith("Baseline drift chi-square p-value: ")


def test_no_traffic_in_the_window_fails_the_job_with_its_message(
        docker_client, processed, baseline_files, tmp_path):
    cases.write(tmp_path / "capture", cases.json_lines([as_request(train_rows(processed)[0])]))
    result = run_monitor(docker_client, tmp_path / "ml", tmp_path / "capture", baseline_files,
                         {"start_time": "2020-01-01T00:00:00Z", "end_time": "2020-01-01T01:00:00Z"})
    assert result.exit_code == 1
    assert "no capture file (*.jsonl)" in (tmp_path / "ml" / "output" / "message").read_text()
    assert not (tmp_path / "ml" / "processing" / "resultdata" / "statistics.json").exists()


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)


def test_make_monitor_data_runs_a_monitoring_run_that_make_monitoring_lists(
        processed, baseline_files, tmp_path):
    local = tmp_path / "local"
    # A Completed data-quality baseline run, as make baseline leaves one.
    run = local / "baseline" / "penguins-baseline-2026-11-23-20-00-00-000"
    (run / "processing" / "output").mkdir(parents=True)
    for name in ("statistics.json", "constraints.json"):
        (run / "processing" / "output" / name).write_bytes((baseline_files / name).read_bytes())
    (run / "run.json").write_text(json.dumps({
        "name": run.name, "kind": "baseline", "workload": "penguins", "status": "Completed",
        "start": "2026-11-23T20:00:00.000000Z", "end": "2026-11-23T20:00:05.000000Z",
        "analysis_type": "DATA_QUALITY"}))
    records = [as_request(row) for row in train_rows(processed)]
    records[0]["bill_length_mm"] = "long"  # one value of the wrong type: data_type_check
    capture = local / "capture" / "penguins"
    cases.write(capture, cases.json_lines(records))
    window = [f"START={cases.HOUR:%Y-%m-%dT%H:%M:%SZ}", "END=2026-11-23T22:00:00Z"]
    done = make("monitor-data", f"LOCAL_DIR={local}", *window)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"against baseline run {run.name}" in done.stdout
    monitored = [json.loads(p.read_text()) for p in (local / "monitoring").glob("*/run.json")]
    assert [r["status"] for r in monitored] == ["Completed"]
    folder = local / "monitoring" / monitored[0]["name"]
    violations = json.loads((folder / "processing" / "resultdata" /
                             "constraint_violations.json").read_text())["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("bill_length_mm", "data_type_check")]
    assert (folder / "processing" / "baseline" / "constraints.json").is_file()
    listed = make("monitoring", f"LOCAL_DIR={local}")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if monitored[0]["name"] in line)
    assert row.split()[1:4] == ["DATA_QUALITY", "AllTraffic", "Completed"]  # default variant
    assert row.split()[-2:] == ["1", "data_type_check"]


def test_digits_are_baselined_and_monitored_over_pixel_statistics_and_a_rescale_drifts(
        docker_client, processed_digits, tmp_path):
    """The baseline job and the monitor agree on Digits' features: the train images as traffic
    match their own baseline; the same images sent in 0..1 drift on intensity alone."""
    train = processed_digits / "processing" / "train"
    root = tmp_path / "baseline"
    for name in ("output", "processing/output"):
        (root / name).mkdir(parents=True)
    result = run_job(docker_client, PROCESSING_IMAGE,
                     ["--drop-first-column", "--workload", "digits"],
                     {root: ("/opt/ml", "rw"),
                      train: ("/opt/ml/processing/input/baseline_dataset_input", "ro")},
                     environment={"dataset_format": '{"csv": {"header": false}}'},
                     entrypoint=BASELINE)
    assert result.exit_code == 0, result.logs
    baseline = root / "processing" / "output"
    facts = json.loads((processed_digits / "processing" / "pipeline" / "workload.json")
                       .read_text())
    rows = [[float(v) for v in line.split(",")[1:]]
            for path in sorted(train.glob("*.csv")) for line in path.read_text().splitlines()]
    width, top = facts["width"], facts["pixel_max"]

    def requests(scale: float) -> list[str]:
        return cases.json_lines([{"pixels": [[v * scale for v in row[r:r + width]]
                                             for r in range(0, len(row), width)]} for row in rows])

    found = {}
    for scale in (1.0, 1 / top):
        work = tmp_path / f"scale-{scale:g}"
        cases.write(work / "capture", requests(scale), endpoint="digits-endpoint")
        result = run_monitor(docker_client, work / "ml", work / "capture", baseline,
                             workload="digits")
        assert result.exit_code == 0, result.logs
        violations, statistics = results(work / "ml")
        assert statistics["dataset"]["item_count"] == len(rows)
        found[scale] = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert found == {1.0: set(), 1 / top: {("mean_intensity", "baseline_drift_check")}}


def test_traffic_captured_by_the_real_endpoint_is_monitored_end_to_end(
        docker_client, processed, model_dir, baseline_files, tmp_path):
    """The serving image's own capture files (capture on at 100 %) are what the job reads:
    the training rows sent back match their baseline; the run counts every request."""
    import docker
    import requests

    from harness import Endpoint

    capture = tmp_path / "capture"
    capture.mkdir()
    capture.chmod(0o777)  # the endpoint's workers are not root
    server = Endpoint(docker_client, model_dir, environment={
        "DATA_CAPTURE_DESTINATION": "/opt/ml/capture", "DATA_CAPTURE_SAMPLING_PERCENTAGE": "100",
        "DATA_CAPTURE_ENDPOINT_NAME": "penguins-endpoint"},
        mounts=[docker.types.Mount("/opt/ml/capture", str(capture), type="bind")])
    records = [as_request(row) for row in train_rows(processed)]
    try:
        server.wait_ready()
        for number, record in enumerate(records):
            reply = requests.post(f"{server.url}/invocations", json=record, timeout=10,
                                  headers={"X-Amzn-SageMaker-Inference-Id": str(number)})
            assert reply.status_code == 200, reply.text
        server.container.stop(timeout=30)  # SIGTERM: the capture writer drains first
    finally:
        server.remove()
    files = sorted(capture.rglob("*.jsonl"))
    assert files and all(f.relative_to(capture).parts[:2] == ("penguins-endpoint", "AllTraffic")
                         for f in files)
    result = run_monitor(docker_client, tmp_path / "ml", capture, baseline_files)
    assert result.exit_code == 0, result.logs
    violations, statistics = results(tmp_path / "ml")
    assert violations == []
    assert statistics["dataset"]["item_count"] == len(records)
