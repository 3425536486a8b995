"""The data-quality monitor (training/monitor/analyzer.py) in-process, on capture files in
SageMaker's
record format against baselines the baseline job computes."""

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import monitor_cases as cases
import pytest

from training.monitor import analyzer as monitor
from training.monitor import baseline as baseline_job

pytestmark = pytest.mark.training


def make_baseline(tmp_path, monkeypatch, text: str, dataset_format: str, *args) -> dict:
    """The baseline job's outputs for a dataset: {"statistics": path, "constraints": path}."""
    source, output = tmp_path / "dataset", tmp_path / "baseline"
    source.mkdir()
    (source / "train.csv").write_text(text)
    monkeypatch.setenv("dataset_source", str(source))
    monkeypatch.setenv("dataset_format", dataset_format)
    monkeypatch.setenv("output_path", str(output))
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "opt"))
    assert baseline_job.main(list(args)) == 0
    for name in ("dataset_source", "dataset_format", "output_path"):
        monkeypatch.delenv(name)
    return {"statistics": output / "statistics.json", "constraints": output / "constraints.json"}


@pytest.fixture
def penguins_baseline(tmp_path, monkeypatch):
    return make_baseline(tmp_path, monkeypatch, cases.baseline_csv(cases.penguins(2000, 1)),
                         '{"csv": {"header": true}}', "--workload", "penguins")


def analyse(tmp_path, monkeypatch, lines, baseline, workload="penguins", **env):
    """Run the job on the lines; (exit code, violations, statistics, output folder)."""
    capture = tmp_path / "capture"
    if lines:
        cases.write(capture, lines)
    capture.mkdir(exist_ok=True)
    output = tmp_path / "result"
    monkeypatch.setenv("dataset_source", str(capture))
    monkeypatch.setenv("output_path", str(output))
    monkeypatch.setenv("baseline_statistics", str(baseline["statistics"]))
    monkeypatch.setenv("baseline_constraints", str(baseline["constraints"]))
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "opt"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = monitor.main(["--workload", workload])
    if code:
        return code, None, None, tmp_path / "opt" / "output" / "message"
    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    statistics = json.loads((output / "statistics.json").read_text())
    return code, violations, statistics, output


def kinds(violations) -> set:
    return {(v["feature_name"], v["constraint_check_type"]) for v in violations}


def test_clean_traffic_against_its_own_baseline_has_no_violations(
        tmp_path, monkeypatch, penguins_baseline):
    code, violations, statistics, output = analyse(
        tmp_path, monkeypatch, cases.json_lines(cases.penguins(3000, 2)), penguins_baseline)
    assert code == 0
    assert violations == []
    assert statistics["dataset"]["item_count"] == 3000
    assert [f["name"] for f in statistics["features"]] == list(cases.FIELDS)
    report = (output / "report.html").read_text()
    assert "no violations" in report and report.count("data:image/png;base64,") == 6
    assert (output / "report.png").read_bytes().startswith(b"\x89PNG")


def test_csv_bodies_with_several_rows_are_read_as_records_by_the_baselines_column_names(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(1500, 3)
    rows = ["\n".join(",".join(str(r[f]) for f in cases.FIELDS) for r in records[i:i + 3])
            for i in range(0, len(records), 3)]
    lines = [cases.line(body, "text/csv", "CSV") for body in rows]
    code, violations, statistics, _ = analyse(tmp_path, monkeypatch, lines, penguins_baseline)
    assert (code, violations) == (0, [])
    assert statistics["dataset"]["item_count"] == 1500


def test_every_body_the_endpoint_takes_is_read_as_its_records_and_base64_is_left_out(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(3000, 2)
    lines = [cases.line(json.dumps(records[i:i + 2])) for i in range(0, 1000, 2)]
    lines += [cases.line(json.dumps({"instances": records[i:i + 4]}))
              for i in range(1000, 2000, 4)]
    lines += [cases.line("\n".join(json.dumps(r) for r in records[i:i + 5]),
                         "application/jsonlines") for i in range(2000, 3000, 5)]
    lines += [cases.line("AAEC", "application/x-npy", "BASE64")] * 7
    code, violations, statistics, _ = analyse(tmp_path, monkeypatch, lines, penguins_baseline)
    assert (code, violations) == (0, [])
    assert statistics["dataset"]["item_count"] == 3000


def test_shifted_values_drift_on_exactly_the_shifted_features(
        tmp_path, monkeypatch, penguins_baseline):
    shifted = cases.penguins(3000, 2, {"bill_length_mm": 1.4, "body_mass_g": 0.6})
    code, violations, _, output = analyse(tmp_path, monkeypatch, cases.json_lines(shifted),
                                          penguins_baseline)
    assert code == 0
    assert kinds(violations) == {("bill_length_mm", "baseline_drift_check"),
                                 ("body_mass_g", "baseline_drift_check")}
    description = violations[0]["description"]
    assert description.startswith("Baseline drift distance: ")
    assert description.endswith(" exceeds threshold: 0.1")
    assert "2 violation(s) in 2 feature(s)" in (output / "report.html").read_text()


def test_a_field_missing_from_some_records_fails_the_completeness_check(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(3000, 2)
    for record in records[::10]:
        del record["sex"]
    code, violations, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                     penguins_baseline)
    assert code == 0
    assert kinds(violations) == {("sex", "completeness_check")}
    assert violations[0]["description"] == (
        "Data completeness requirement is not met. Expected completeness: 100.0%. Observed: "
        "Only 90.0% of data is complete.")


def test_a_field_no_record_has_is_a_missing_column_and_a_new_one_an_extra_column(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(3000, 2)
    for record in records:
        record["colour"] = record.pop("sex").lower()
    code, violations, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                     penguins_baseline)
    assert code == 0
    assert kinds(violations) == {("sex", "missing_column_check"),
                                 ("colour", "extra_column_check")}


def invented(records: list, names: int, every: int = 1) -> list:
    """The records, every `every`-th carrying `names` field names a client made up."""
    for record in records[::every]:
        record.update({f"x{n:04d}": n for n in range(names)})
    return records


def test_invented_field_names_are_counted_and_at_most_ten_analysed(
        tmp_path, monkeypatch, penguins_baseline, capsys):
    """40 invented names: 10 analysed (the most frequent, then by name), 30 counted."""
    records = invented(cases.penguins(3000, 2), 40, every=100)
    for record in records[::50]:
        record["x0039"] = 1  # the most frequent invented name
    code, violations, statistics, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                              penguins_baseline)
    assert code == 0
    extra = [v for v in violations if v["constraint_check_type"] == "extra_column_check"]
    assert [v["feature_name"] for v in extra] == [
        "x0039", *(f"x{n:04d}" for n in range(9)), "(30 more)"]
    assert "Number of columns in current dataset: 46, Number of columns in baseline " \
           "constraints: 6" in extra[0]["description"]
    assert "30 more extra column(s) were counted, not analysed" in extra[-1]["description"]
    assert [f["name"] for f in statistics["features"]] == [
        *cases.FIELDS, "x0039", *(f"x{n:04d}" for n in range(9))]
    assert "40 field name(s) beyond the baseline's, 10 analysed" in capsys.readouterr().out


def records_table(lines: list) -> object:
    import duckdb

    from training.monitor import records as monitor_records

    folder = Path(tempfile.mkdtemp())
    path = folder / "capture.jsonl"
    path.write_text("\n".join(lines) + "\n")
    con = duckdb.connect()
    monitor_records.load(con, [path], None, None)
    return con


@pytest.mark.parametrize("lines, count", [
    (lambda: cases.json_lines(invented(cases.penguins(20, 2), 1000)), 1000),
    (lambda: [cases.line(",".join(["1.0"] * 500), content_type="text/csv", encoding="CSV")],
     500 - len(cases.FIELDS)),
], ids=["json fields", "csv columns"])
def test_the_frame_the_checks_get_has_at_most_ten_columns_beyond_the_baselines(lines, count):
    from training.monitor import records as monitor_records

    data = monitor_records.input_fields(records_table(lines()), list(cases.FIELDS))
    assert data.shape[1] == len(cases.FIELDS) + monitor_records.EXTRA_MAX
    assert data.attrs["extra_fields"]["count"] == count


def test_any_hooks_frame_is_capped_the_same_way():
    import pandas as pd

    from training.monitor import records as monitor_records

    frame = pd.DataFrame({name: ["1"] for name in [*cases.FIELDS, *(f"y{n}" for n in range(25))]})
    capped = monitor_records.cap_extra(frame, list(cases.FIELDS))
    assert list(capped.columns) == [*cases.FIELDS, *(f"y{n}" for n in range(10))]
    assert capped.attrs["extra_fields"] == {"count": 25, "analysed": [f"y{n}" for n in range(10)]}


def test_a_new_category_fails_the_categorical_values_check(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(3000, 2)
    for record in records[::20]:
        record["island"] = "Anvers"
    code, violations, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                     penguins_baseline)
    assert code == 0
    assert kinds(violations) == {("island", "categorical_values_check")}
    assert violations[0]["description"] == (
        "Categorical value match requirement is not met. Expected match: 100.0%. Observed: "
        "95.0% of the values match the known values.")


def test_numbers_where_the_baseline_has_strings_fail_the_data_type_check(
        tmp_path, monkeypatch, penguins_baseline):
    records = cases.penguins(3000, 2)
    for record in records:
        record["island"] = 7
    _, violations, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                  penguins_baseline)
    assert ("island", "data_type_check") in kinds(violations)
    assert ("Data type match requirement is not met. Expected data type: String, Expected "
            "match: 100.0%. Observed: Only 0.0% of data is String.") in [
                v["description"] for v in violations]


@pytest.mark.parametrize("edit, expected", [
    # A looser drift threshold lets the shift pass...
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(
        comparison_threshold=0.9), {("sex", "completeness_check")}),
    # ...so does a disabled comparison...
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(
        perform_comparison="Disabled"), {("sex", "completeness_check")}),
    # ...and a completeness the user lowered accepts the gap; the drift stays.
    (lambda c: [f.update(completeness=0.5) for f in c["features"]],
     {("bill_length_mm", "baseline_drift_check")}),
], ids=["comparison_threshold", "perform_comparison", "completeness"])
def test_thresholds_edited_in_constraints_json_change_the_result(
        tmp_path, monkeypatch, penguins_baseline, edit, expected):
    records = cases.penguins(3000, 2, {"bill_length_mm": 1.4})
    for record in records[::10]:
        del record["sex"]
    _, before, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                              penguins_baseline)
    assert kinds(before) == {("bill_length_mm", "baseline_drift_check"),
                             ("sex", "completeness_check")}
    constraints = json.loads(penguins_baseline["constraints"].read_text())
    edit(constraints)
    penguins_baseline["constraints"].write_text(json.dumps(constraints))
    _, after, _, _ = analyse(tmp_path, monkeypatch, [], penguins_baseline)
    assert kinds(after) == expected


def override(baseline: dict, feature: str, overrides) -> None:
    constraints = json.loads(baseline["constraints"].read_text())
    for rule in constraints["features"]:
        if rule["name"] == feature:
            rule["monitoringConfigOverrides"] = overrides
    baseline["constraints"].write_text(json.dumps(constraints))


@pytest.mark.parametrize("feature, overrides, expected", [
    # One feature's thresholds loosened: its own violation goes, the other stays.
    ("island", {"domain_content_threshold": 0.9}, {("bill_length_mm", "baseline_drift_check")}),
    ("bill_length_mm", {"distribution_constraints": {"comparison_threshold": 0.9}},
     {("island", "categorical_values_check")}),
    # One feature left unchecked.
    ("island", {"evaluate_constraints": "Disabled"}, {("bill_length_mm", "baseline_drift_check")}),
    # Another feature's override changes nothing here.
    ("sex", {"evaluate_constraints": "Disabled"}, {("island", "categorical_values_check"),
                                                   ("bill_length_mm", "baseline_drift_check")}),
], ids=["domain_content_threshold", "comparison_threshold", "evaluate_constraints", "elsewhere"])
def test_a_features_monitoring_config_overrides_replace_the_files_for_that_feature(
        tmp_path, monkeypatch, penguins_baseline, feature, overrides, expected):
    records = cases.penguins(3000, 2, {"bill_length_mm": 1.4})
    for record in records[::20]:
        record["island"] = "Anvers"
    override(penguins_baseline, feature, overrides)
    code, violations, _, _ = analyse(tmp_path, monkeypatch, cases.json_lines(records),
                                     penguins_baseline)
    assert code == 0
    assert kinds(violations) == expected


@pytest.mark.parametrize("overrides, words", [
    ({"domain_threshold": 0.5}, "features['island'].monitoringConfigOverrides.domain_threshold: "
                                "not a monitoring_config key"),
    ([0.5], "features['island'].monitoringConfigOverrides: a JSON object"),
])
def test_a_bad_override_is_named_by_its_json_path(tmp_path, monkeypatch, penguins_baseline,
                                                   overrides, words):
    override(penguins_baseline, "island", overrides)
    code, _, _, message = analyse(tmp_path, monkeypatch, cases.json_lines(cases.penguins(50, 2)),
                                  penguins_baseline)
    assert code == 1
    assert words in message.read_text()


def test_robust_comparison_allows_for_a_small_sample_that_simple_flags_as_drift(
        tmp_path, monkeypatch, penguins_baseline):
    """30 records of the baseline's own distribution: Deequ's linf_robust (the default) sees
    sampling noise, the Simple distance of the same data crosses 0.1 on several features."""
    lines = cases.json_lines(cases.penguins(30, 9))
    _, robust, _, _ = analyse(tmp_path, monkeypatch, lines, penguins_baseline)
    assert robust == []
    constraints = json.loads(penguins_baseline["constraints"].read_text())
    assert constraints["monitoring_config"]["distribution_constraints"][
        "comparison_method"] == "Robust"
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    penguins_baseline["constraints"].write_text(json.dumps(constraints))
    _, simple, _, _ = analyse(tmp_path, monkeypatch, [], penguins_baseline)
    assert len(simple) >= 3
    assert {v["constraint_check_type"] for v in simple} == {"baseline_drift_check"}


def with_drift_method(baseline: dict, method: str) -> None:
    constraints = json.loads(baseline["constraints"].read_text())
    constraints["monitoring_config"]["distribution_constraints"][
        "categorical_drift_method"] = method
    baseline["constraints"].write_text(json.dumps(constraints))


def test_chi_squared_flags_a_category_shift_that_linfinity_s_threshold_lets_pass(
        tmp_path, monkeypatch, penguins_baseline):
    """One record in eight moved to Biscoe: a share change of about 0.08, under LInfinity's
    0.1, and far beyond chance for a chi-square test over 3,000 records."""
    records = cases.penguins(3000, 2)
    for record in records[::8]:
        record["island"] = "Biscoe"
    lines = cases.json_lines(records)
    _, linfinity, _, _ = analyse(tmp_path, monkeypatch, lines, penguins_baseline)
    assert linfinity == []
    with_drift_method(penguins_baseline, "ChiSquared")
    _, chi_squared, _, _ = analyse(tmp_path, monkeypatch, [], penguins_baseline)
    assert kinds(chi_squared) == {("island", "baseline_drift_check")}
    assert chi_squared[0]["description"].startswith("Baseline drift chi-square p-value: ")
    assert chi_squared[0]["description"].endswith(" is below threshold: 0.1")


def test_chi_squared_passes_traffic_of_the_baseline_s_own_distribution(
        tmp_path, monkeypatch, penguins_baseline):
    with_drift_method(penguins_baseline, "ChiSquared")
    _, violations, _, _ = analyse(tmp_path, monkeypatch,
                                  cases.json_lines(cases.penguins(3000, 2)), penguins_baseline)
    assert violations == []


def test_an_unknown_categorical_drift_method_is_named(tmp_path, monkeypatch, penguins_baseline):
    with_drift_method(penguins_baseline, "Hellinger")
    code, _, _, message = analyse(tmp_path, monkeypatch,
                                  cases.json_lines(cases.penguins(300, 2)), penguins_baseline)
    assert code != 0
    assert ("categorical_drift_method='Hellinger': use LInfinity or ChiSquared"
            in message.read_text())


def categorical(**values) -> dict:
    return {"distribution": {"categorical": {"buckets": [
        {"value": value, "count": count} for value, count in values.items()]}}}


def test_chi_square_merges_small_expected_categories_before_the_test():
    from scipy.stats import chisquare

    from training.monitor.checks import chi_square_p_value

    # Expected of 100 current values: a 50, b 45, c 3, d 2; two of four are below 5, so d
    # merges into c (5); "new" is no baseline category and stays out.
    got = chi_square_p_value(categorical(a=500, b=450, c=30, d=20),
                             categorical(a=40, b=50, c=6, d=4, new=9))
    assert got == pytest.approx(chisquare([40, 50, 10], [50, 45, 5]).pvalue)


def test_chi_square_needs_two_categories_after_merging():
    import math

    from training.monitor.checks import chi_square_p_value

    assert math.isnan(chi_square_p_value(categorical(a=10), categorical(a=3)))
    # Two categories, one expected below 10: they merge into one, no test.
    assert math.isnan(chi_square_p_value(categorical(a=95, b=5), categorical(a=50, b=50)))
    assert math.isnan(chi_square_p_value(categorical(a=95, b=5), categorical(new=9)))


def test_only_files_of_hours_in_the_window_and_records_in_it_are_analysed(
        tmp_path, monkeypatch, penguins_baseline):
    capture = tmp_path / "capture"
    early = cases.HOUR - timedelta(hours=2)
    cases.write(capture, cases.json_lines(cases.penguins(500, 5), when=early), hour=early)
    code, _, statistics, _ = analyse(
        tmp_path, monkeypatch, cases.json_lines(cases.penguins(1200, 2)), penguins_baseline,
        start_time=cases.HOUR.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_time=(cases.HOUR + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert code == 0
    assert statistics["dataset"]["item_count"] == 600  # one a second, the first ten minutes


def test_an_empty_window_fails_with_a_line_that_says_what_to_do(
        tmp_path, monkeypatch, penguins_baseline):
    code, _, _, message = analyse(
        tmp_path, monkeypatch, cases.json_lines(cases.penguins(10, 2)), penguins_baseline,
        start_time="2020-01-01T00:00:00Z", end_time="2020-01-01T01:00:00Z")
    assert code == 1
    assert "no capture file (*.jsonl)" in message.read_text()
    assert "make traffic" in message.read_text()


@pytest.mark.parametrize("env, words", [
    ({"start_time": "yesterday"}, "start_time='yesterday' is not an ISO 8601 time"),
    ({"dataset_format": '{"csv": {"header": true}}'}, "this job reads captured traffic"),
    ({"record_preprocessor_script": "/nowhere.py"}, "record_preprocessor_script /nowhere.py"),
])
def test_bad_settings_fail_with_one_line_naming_the_setting(
        tmp_path, monkeypatch, penguins_baseline, env, words):
    code, _, _, message = analyse(tmp_path, monkeypatch, cases.json_lines(cases.penguins(5, 2)),
                                  penguins_baseline, **env)
    assert code == 1
    assert words in message.read_text()


def test_a_record_preprocessor_script_maps_each_record_as_sagemakers_custom_script(
        tmp_path, monkeypatch, penguins_baseline):
    script = tmp_path / "preprocessor.py"
    script.write_text(
        "import json\n"
        "def preprocess_handler(inference_record, logger):\n"
        "    record = json.loads(inference_record.endpoint_input.data)\n"
        "    if inference_record.event_metadata.inference_id == '0':\n"
        "        return None  # left out\n"
        "    record['island'] = 'Anvers'\n"
        "    return record\n")
    code, violations, statistics, _ = analyse(
        tmp_path, monkeypatch, cases.json_lines(cases.penguins(3000, 2)), penguins_baseline,
        record_preprocessor_script=str(script))
    assert code == 0
    assert statistics["dataset"]["item_count"] == 2999
    assert ("island", "categorical_values_check") in kinds(violations)


def test_a_failing_preprocessor_script_names_the_request(tmp_path, monkeypatch,
                                                         penguins_baseline):
    script = tmp_path / "preprocessor.py"
    script.write_text("def preprocess_handler(inference_record):\n    return 1 / 0\n")
    code, _, _, message = analyse(tmp_path, monkeypatch, cases.json_lines(cases.penguins(5, 2)),
                                  penguins_baseline, record_preprocessor_script=str(script))
    assert code == 1
    assert "failed on captured request 1" in message.read_text()
    assert "ZeroDivisionError" in message.read_text()


# Digits: the baseline and the monitor both over the hook's pixel statistics.

@pytest.fixture
def digits_split():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return images[:900], labels[:900], images[900:]


@pytest.fixture
def digits_baseline(tmp_path, monkeypatch, digits_split):
    images, labels, _ = digits_split
    text = "".join(",".join([str(int(y)), *(str(int(v)) for v in x)]) + "\n"
                   for x, y in zip(images, labels, strict=True))
    return make_baseline(tmp_path, monkeypatch, text, '{"csv": {"header": false}}',
                         "--drop-first-column", "--workload", "digits")


def digits_lines(images, scale=1.0):
    return [cases.line(json.dumps({"pixels": (x.reshape(8, 8) * scale).tolist()}),
                       inference_id=str(i)) for i, x in enumerate(images)]


def test_digits_is_baselined_and_monitored_over_the_same_pixel_statistics(
        tmp_path, monkeypatch, digits_baseline, digits_split):
    baseline = json.loads(digits_baseline["statistics"].read_text())
    names = [f["name"] for f in baseline["features"]]
    assert names == ["mean_intensity", "ink_fraction", "centre_row", "centre_col"]
    code, violations, statistics, _ = analyse(
        tmp_path, monkeypatch, digits_lines(digits_split[2]), digits_baseline, "digits")
    assert code == 0
    assert violations == []
    assert [f["name"] for f in statistics["features"]] == names


def test_digits_sent_in_another_pixel_range_drift_on_intensity_only(
        tmp_path, monkeypatch, digits_baseline, digits_split):
    code, violations, _, _ = analyse(tmp_path, monkeypatch,
                                     digits_lines(digits_split[2], 1 / 16), digits_baseline,
                                     "digits")
    assert code == 0
    assert kinds(violations) == {("mean_intensity", "baseline_drift_check")}


def test_digits_csv_rows_with_a_leading_label_give_the_same_statistics_as_json(
        tmp_path, monkeypatch, digits_baseline, digits_split):
    images = digits_split[2][:300]
    rows = [cases.line(",".join(["3", *(str(int(v)) for v in x)]), "text/csv", "CSV")
            for x in images]
    _, _, from_csv, _ = analyse(tmp_path, monkeypatch, rows, digits_baseline, "digits")
    (tmp_path / "capture").rename(tmp_path / "capture-csv")
    _, _, from_json, _ = analyse(tmp_path, monkeypatch, digits_lines(images), digits_baseline,
                                 "digits")
    means = [{f["name"]: f["numerical_statistics"]["mean"] for f in s["features"]}
             for s in (from_csv, from_json)]
    assert means[0] == pytest.approx(means[1])
