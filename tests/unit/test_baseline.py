"""The data-quality baseline in-process: SageMaker's statistics and constraints of known frames."""

import json

import pytest

from training.monitor import baseline

pytestmark = pytest.mark.training

CSV = ("island,bill_length_mm,flipper_length_mm,delta,sex\n"
       "Biscoe,40.5,180,-1,male\n"
       "Dream,39.5,190,2,\n"
       "Biscoe,NA,200,3,female\n"
       "Torgersen,41.0,210,4,male\n")


def compute(tmp_path, text=CSV, dataset_format=None, drop_first=False):
    (tmp_path / "data.csv").write_text(text)
    data = baseline.read_dataset(tmp_path, dataset_format or {"csv": {"header": True}},
                                 drop_first)
    return baseline.baseline(data)


def by_name(document):
    return {feature["name"]: feature for feature in document["features"]}


def test_types_are_inferred_as_sagemaker_names_them(tmp_path):
    statistics, constraints = compute(tmp_path)
    types = {name: f["inferred_type"] for name, f in by_name(statistics).items()}
    assert types == {"island": "String", "bill_length_mm": "Fractional",
                     "flipper_length_mm": "Integral", "delta": "Integral", "sex": "String"}
    assert [f["inferred_type"] for f in constraints["features"]] == list(types.values())


def test_numerical_statistics_are_exact_over_the_present_values(tmp_path):
    statistics, _ = compute(tmp_path)
    bill = by_name(statistics)["bill_length_mm"]["numerical_statistics"]
    assert bill["common"] == {"num_present": 3, "num_missing": 1}
    assert bill["sum"] == pytest.approx(121.0)
    assert bill["mean"] == pytest.approx(121.0 / 3)
    assert bill["std_dev"] == pytest.approx(((0.16667 ** 2 + 0.83333 ** 2 + 0.66667 ** 2) / 3)
                                            ** 0.5, rel=1e-3)
    assert (bill["min"], bill["max"]) == (39.5, 41.0)
    assert statistics["dataset"] == {"item_count": 4}


def test_kll_buckets_are_ten_equal_widths_from_min_to_max_counting_every_value(tmp_path):
    statistics, _ = compute(tmp_path)
    kll = by_name(statistics)["flipper_length_mm"]["numerical_statistics"]["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert kll["buckets"][0] == {"lower_bound": 180.0, "upper_bound": 183.0, "count": 1}
    assert kll["buckets"][-1] == {"lower_bound": 207.0, "upper_bound": 210.0, "count": 1}
    assert sum(b["count"] for b in kll["buckets"]) == 4
    assert kll["sketch"] == {"parameters": {"c": 0.64, "k": 2048},
                             "data": [[180.0, 190.0, 200.0, 210.0]]}


def test_a_large_column_is_compacted_into_kll_levels_that_keep_its_quantiles():
    values = [float(v) for v in range(10000)]
    levels = baseline.kll_sketch(values)
    assert len(levels) > 1
    assert all(len(level) <= 2048 for level in levels)
    # Each item of level h stands for 2**h values: the weights add up to about n.
    weight = sum(len(level) * 2 ** h for h, level in enumerate(levels))
    assert abs(weight - len(values)) <= 2 ** len(levels)


def test_string_statistics_count_categories_in_first_seen_order(tmp_path):
    statistics, constraints = compute(tmp_path)
    island = by_name(statistics)["island"]["string_statistics"]
    assert island["distinct_count"] == 3
    assert island["distribution"]["categorical"]["buckets"] == [
        {"value": "Biscoe", "count": 2}, {"value": "Dream", "count": 1},
        {"value": "Torgersen", "count": 1}]
    # Two of three categories seen once: Deequ's categorical range rule suggests no domains.
    assert "string_constraints" not in by_name(constraints)["island"]


def domains_of(values: list):
    import pandas as pd

    column = pd.Series(values, dtype="string")
    _, constraints = baseline.feature("f", column, len(column))
    return constraints.get("string_constraints", {}).get("domains")


def labels(count: int, times: int = 2) -> list:
    return [f"v{n:03d}" for n in range(count) for _ in range(times)]


@pytest.mark.parametrize("values, expected", [
    # A histogram holds at most 120 distinct values.
    (labels(120), [f"v{n:03d}" for n in range(120)]),
    (labels(121), None),
    # At most 10 % of the histogram's entries seen once...
    (labels(18) + ["s0", "s1"], [f"v{n:03d}" for n in range(18)] + ["s0", "s1"]),
    (labels(17) + ["x", "y", "z"], None),
    # ...missing values being one more entry.
    (labels(9) + [None], [f"v{n:03d}" for n in range(9)]),
    (labels(9) + ["once", None], None),
], ids=["120 distinct", "121 distinct", "10% singletons", "15% singletons",
        "missing seen once", "missing and a category seen once"])
def test_domains_follow_deequs_categorical_range_rule(values, expected):
    found = domains_of(values)
    if expected is None:
        assert found is None
    else:
        assert sorted(found) == sorted(set(expected))


def test_domains_list_the_most_frequent_category_first():
    assert domains_of(["b"] * 2 + ["a"] * 5 + ["c"] * 3 + ["b"] * 2) == ["a", "b", "c"]


def test_constraints_hold_completeness_and_non_negativity(tmp_path):
    _, constraints = compute(tmp_path)
    features = by_name(constraints)
    assert features["sex"]["completeness"] == 0.75
    assert features["island"]["completeness"] == 1.0
    assert features["delta"]["num_constraints"] == {"is_non_negative": False}
    assert features["flipper_length_mm"]["num_constraints"] == {"is_non_negative": True}
    assert "num_constraints" not in features["sex"]


def test_the_files_follow_sagemakers_layout_and_monitoring_config(tmp_path):
    statistics, constraints = compute(tmp_path)
    assert list(statistics) == ["version", "dataset", "features"]
    assert list(constraints) == ["version", "features", "monitoring_config"]
    assert json.dumps(statistics["version"]) == "0.0"
    assert constraints["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.1,
        "comparison_method": "Robust", "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity"}
    numerical = by_name(statistics)["delta"]["numerical_statistics"]
    assert list(numerical) == ["common", "mean", "sum", "std_dev", "min", "max", "distribution"]


def test_headerless_csv_columns_are_named_as_sagemaker_names_them(tmp_path):
    statistics, _ = compute(tmp_path, "7,0,16\n3,4,0\n", {"csv": {"header": False}},
                            drop_first=True)
    assert [f["name"] for f in statistics["features"]] == ["_c0", "_c1"]
    assert by_name(statistics)["_c0"]["numerical_statistics"]["sum"] == 4.0


def test_json_lines_are_read_as_records(tmp_path):
    statistics, _ = compute(tmp_path, '{"a": 1, "b": "x"}\n{"a": 2.5, "b": null}\n',
                            {"json": {"lines": True}})
    features = by_name(statistics)
    assert features["a"]["inferred_type"] == "Fractional"
    assert features["b"]["string_statistics"]["common"] == {"num_present": 1, "num_missing": 1}


def test_the_job_fails_naming_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    monkeypatch.setenv("dataset_source", str(tmp_path / "empty"))
    monkeypatch.setenv("output_path", str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    assert baseline.main([]) == 1
    message = (tmp_path / "ml" / "output" / "message").read_text()
    assert message.startswith(f"dataset_source {tmp_path / 'empty'}: no file to baseline")
    assert not (tmp_path / "out").exists()


def test_the_job_writes_both_files(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train-baseline.csv").write_text(CSV)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    monkeypatch.setenv("dataset_source", str(tmp_path / "in"))
    monkeypatch.setenv("output_path", str(tmp_path / "out"))
    assert baseline.main([]) == 0
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert statistics["dataset"]["item_count"] == 4
    assert len(constraints["features"]) == 5


def drift_check(tmp_path, monkeypatch, current: str) -> tuple[int, list | str]:
    """The job over `current` with the baseline of CSV named as a drift check names it: (exit
    code, the violations list or the failure message)."""
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "data.csv").write_text(CSV)
    statistics, constraints = baseline.baseline(baseline.read_dataset(
        tmp_path / "given", {"csv": {"header": True}}, False))
    (tmp_path / "statistics.json").write_text(json.dumps(statistics))
    (tmp_path / "constraints.json").write_text(json.dumps(constraints))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text(current)
    for name, value in {"SAGEMAKER_BASE_DIR": tmp_path / "ml", "dataset_source": tmp_path / "in",
                        "output_path": tmp_path / "out",
                        "baseline_statistics": tmp_path / "statistics.json",
                        "baseline_constraints": tmp_path / "constraints.json"}.items():
        monkeypatch.setenv(name, str(value))
    code = baseline.main([])
    if code:
        return code, (tmp_path / "ml" / "output" / "message").read_text()
    assert (tmp_path / "out" / "statistics.json").is_file()
    return code, json.loads((tmp_path / "out" / "constraint_violations.json").read_text())[
        "violations"]


def test_a_baseline_job_without_a_baseline_to_check_writes_no_violations(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text(CSV)
    for name, value in {"SAGEMAKER_BASE_DIR": tmp_path / "ml", "dataset_source": tmp_path / "in",
                        "output_path": tmp_path / "out"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("baseline_constraints", raising=False)
    assert baseline.main([]) == 0
    assert not (tmp_path / "out" / "constraint_violations.json").exists()


def test_data_within_the_baselines_constraints_has_no_violations(tmp_path, monkeypatch):
    assert drift_check(tmp_path, monkeypatch, CSV) == (0, [])


def test_a_column_that_breaks_its_type_and_completeness_is_a_named_violation(tmp_path,
                                                                              monkeypatch):
    broken = CSV.replace("180,", "tall,").replace("200,", ",").replace("210,", "short,")
    code, violations = drift_check(tmp_path, monkeypatch, broken)
    assert code == 0
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert {("flipper_length_mm", "data_type_check"),
            ("flipper_length_mm", "completeness_check")} <= found
    assert {name for name, _ in found} == {"flipper_length_mm"}
    completeness = next(v for v in violations if v["constraint_check_type"]
                        == "completeness_check")
    assert completeness["description"].startswith(
        "Data completeness requirement is not met. Expected completeness: 100.0%. Observed: "
        "Only 75.0% of data is complete.")


def test_a_drift_check_names_a_baseline_file_it_cannot_read(tmp_path, monkeypatch):
    (tmp_path / "constraints.json").write_text("{}")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text(CSV)
    for name, value in {"SAGEMAKER_BASE_DIR": tmp_path / "ml", "dataset_source": tmp_path / "in",
                        "output_path": tmp_path / "out",
                        "baseline_constraints": tmp_path / "constraints.json"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("baseline_statistics", raising=False)
    assert baseline.main([]) == 1
    assert (tmp_path / "ml" / "output" / "message").read_text().startswith(
        f"baseline_constraints {tmp_path / 'constraints.json'}: no \"features\" list")
    assert not (tmp_path / "out" / "constraint_violations.json").exists()


def model_quality_files(tmp_path, monkeypatch, text, dataset_format, truth, inference):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "joined.out").write_text(text)
    for name, value in {"SAGEMAKER_BASE_DIR": tmp_path / "ml", "dataset_source": tmp_path / "in",
                        "output_path": tmp_path / "out", "analysis_type": "MODEL_QUALITY",
                        "problem_type": "MulticlassClassification",
                        "dataset_format": dataset_format, "ground_truth_attribute": truth,
                        "inference_attribute": inference}.items():
        monkeypatch.setenv(name, str(value))
    code = baseline.main([])
    if code:
        return code, (tmp_path / "ml" / "output" / "message").read_text(), None
    return (code, json.loads((tmp_path / "out" / "statistics.json").read_text()),
            json.loads((tmp_path / "out" / "constraints.json").read_text()))


def test_model_quality_metrics_of_joined_ground_truth_and_predictions(tmp_path, monkeypatch):
    code, statistics, constraints = model_quality_files(
        tmp_path, monkeypatch, "A,A\nA,B\nB,B\nB,B\n", '{"csv": {"header": false}}', "_c0",
        "_c1")
    assert code == 0
    metrics = statistics["multiclass_classification_metrics"]
    assert metrics["confusion_matrix"] == {"A": {"A": 1, "B": 1}, "B": {"A": 0, "B": 2}}
    assert metrics["accuracy"]["value"] == 0.75
    assert metrics["weighted_recall"]["value"] == 0.75
    assert metrics["weighted_precision"]["value"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["weighted_f1"]["value"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert metrics["accuracy"]["standard_deviation"] == "NaN"  # 4 records: under 200
    assert statistics["dataset"]["item_count"] == 4
    rules = constraints["multiclass_classification_constraints"]
    assert list(rules) == ["accuracy", "weighted_recall", "weighted_precision", "weighted_f0_5",
                           "weighted_f1", "weighted_f2"]
    assert rules["accuracy"] == {"threshold": 0.75, "comparison_operator": "LessThanThreshold"}
    assert rules["weighted_f2"]["threshold"] == metrics["weighted_f2"]["value"]


@pytest.mark.parametrize("threshold,operator,broken", [
    (0.9, "LessThanThreshold", True), (0.5, "LessThanThreshold", False),
    (0.75, "LessThanOrEqualToThreshold", True)])
def test_a_model_quality_drift_check_compares_each_metric_with_its_threshold(
        tmp_path, monkeypatch, threshold, operator, broken):
    constraints = tmp_path / "constraints.json"
    constraints.write_text(json.dumps({"version": 0.0, "multiclass_classification_constraints": {
        "accuracy": {"threshold": threshold, "comparison_operator": operator}}}))
    monkeypatch.setenv("baseline_constraints", str(constraints))
    code, _, _ = model_quality_files(tmp_path, monkeypatch, "A,A\nA,B\nB,B\nB,B\n",
                                     '{"csv": {"header": false}}', "_c0", "_c1")
    assert code == 0
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert violations == {"violations": [{
        "metric_name": "accuracy", "constraint_check_type": operator,
        "description": f"Metric accuracy with 0.75 +/- NaN was {operator} '{threshold}'"}]
        if broken else []}


def test_model_quality_reads_nested_json_attributes(tmp_path, monkeypatch):
    lines = ('{"groundtruth": "A", "SageMakerOutput": {"prediction": "A"}}\n'
             '{"groundtruth": "B", "SageMakerOutput": {"prediction": "A"}}\n')
    code, statistics, _ = model_quality_files(tmp_path, monkeypatch, lines,
                                              '{"json": {"lines": true}}', "groundtruth",
                                              "SageMakerOutput.prediction")
    assert code == 0
    assert statistics["multiclass_classification_metrics"]["accuracy"]["value"] == 0.5


def test_model_quality_names_a_missing_attribute(tmp_path, monkeypatch):
    code, message, _ = model_quality_files(tmp_path, monkeypatch, "A,A\n",
                                           '{"csv": {"header": false}}', "_c0", "label")
    assert code == 1
    assert message.startswith("inference_attribute='label': no such column or field")


def joined(truth: list, predicted: list):
    import pandas as pd

    return pd.DataFrame({"truth": truth, "predicted": predicted})


def test_the_best_constant_classifier_predicts_the_most_frequent_label():
    """Truth A 6x, B 3x, C 1x: the constant A has accuracy and weighted recall 0.6, precision
    0.6 on A's 60 % (0.36 weighted), F-beta of A (1 + b2) p / (b2 p + 1) weighted by 0.6."""
    from training.monitor import multiclass, quality

    truth = ["A"] * 6 + ["B"] * 3 + ["C"]
    statistics, constraints = quality.model_quality(
        joined(truth, ["B", "C", "A", "A", "A", "A", "B", "B", "C", "C"]), "truth", "predicted")
    metrics = statistics["multiclass_classification_metrics"]
    names = list(metrics)
    assert names == ["confusion_matrix", *multiclass.METRICS, *(
        f"{name}_best_constant_classifier" for name in multiclass.METRICS)]
    expected = {"accuracy": 0.6, "weighted_recall": 0.6, "weighted_precision": 0.36,
                "weighted_f0_5": 0.6 * 1.25 * 0.6 / (0.25 * 0.6 + 1),
                "weighted_f1": 0.6 * 2 * 0.6 / 1.6, "weighted_f2": 0.6 * 5 * 0.6 / (4 * 0.6 + 1)}
    for name, value in expected.items():
        assert metrics[f"{name}_best_constant_classifier"]["value"] == pytest.approx(value)
    # Constraints stay SageMaker's six.
    assert list(constraints["multiclass_classification_constraints"]) == list(multiclass.METRICS)


@pytest.mark.parametrize("count", [52, 199])
def test_deviations_are_nan_under_200_records(count):
    from training.monitor import quality

    truth = (["A", "B", "C"] * count)[:count]
    statistics, _ = quality.model_quality(joined(truth, truth[1:] + truth[:1]), "truth",
                                          "predicted")
    metrics = statistics["multiclass_classification_metrics"]
    assert {metrics[name]["standard_deviation"] for name in metrics
            if name != "confusion_matrix"} == {"NaN"}


def test_deviations_from_200_records_are_of_five_80_percent_subsamples():
    import numpy as np

    from training.monitor import quality

    rng = np.random.default_rng(3)
    truth = rng.choice(["A", "B", "C"], 2000, p=[0.5, 0.3, 0.2])
    predicted = np.where(rng.random(2000) < 0.7, truth, rng.choice(["A", "B", "C"], 2000))
    picks = quality.subsamples(2000)
    assert len(picks) == 5
    assert all(len(pick) == 1600 and len(set(pick.tolist())) == 1600 for pick in picks)
    assert len({tuple(pick.tolist()) for pick in picks}) == 5
    statistics, _ = quality.model_quality(joined(truth, predicted), "truth", "predicted")
    metrics = statistics["multiclass_classification_metrics"]
    accuracies = [float((truth[pick] == predicted[pick]).mean()) for pick in picks]
    assert metrics["accuracy"]["standard_deviation"] == pytest.approx(np.std(accuracies, ddof=1))
    assert all(isinstance(metrics[name]["standard_deviation"], float) for name in metrics
               if name != "confusion_matrix")
    assert quality.subsamples(199) == [] and len(quality.subsamples(200)) == 5
