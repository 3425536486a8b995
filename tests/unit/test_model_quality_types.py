"""Model quality of ProblemType BinaryClassification and Regression, in-process: the baseline job
(training/monitor/baseline.py) and the monitoring job (training/monitor/modelquality.py) given
the problem type and attributes in their environment, as SageMaker's container is."""

import json

import model_cases as mc
import pytest

from training.monitor import baseline, binary, regression
from training.monitor import modelquality as monitor_model

pytestmark = pytest.mark.training

BINARY, REGRESSION = "BinaryClassification", "Regression"
# SageMaker's documented binary example: truth 0 predicted 0 once and 1 twice, truth 1 predicted
# 1 once (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html).
DOCUMENTED = "label,prediction\n0,0\n0,1\n0,1\n1,1\n"
DOCUMENTED_VALUES = {
    "recall": 1.0, "precision": 1 / 3, "accuracy": 0.5, "recall_best_constant_classifier": 1.0,
    "precision_best_constant_classifier": 0.25, "accuracy_best_constant_classifier": 0.25,
    "true_positive_rate": 1.0, "true_negative_rate": 0.33333333333333337,
    "false_positive_rate": 2 / 3, "false_negative_rate": 0.0, "f0_5": 0.3846153846153846,
    "f1": 0.5, "f2": 0.7142857142857143, "f0_5_best_constant_classifier": 0.29411764705882354,
    "f1_best_constant_classifier": 0.4, "f2_best_constant_classifier": 0.625}


def run_baseline(tmp_path, monkeypatch, text, problem, dataset_format='{"csv": {"header": true}}',
                 name="joined.csv", **attributes):
    """The baseline job on one dataset file; (exit code, statistics or the failure message,
    constraints)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_text(text)
    for key, value in {"SAGEMAKER_BASE_DIR": tmp_path / "ml", "dataset_source": tmp_path / "in",
                       "output_path": tmp_path / "out", "analysis_type": "MODEL_QUALITY",
                       "problem_type": problem, "dataset_format": dataset_format,
                       **attributes}.items():
        monkeypatch.setenv(key, str(value))
    code = baseline.main([])
    if code:
        return code, (tmp_path / "ml" / "output" / "message").read_text(), None
    return (code, json.loads((tmp_path / "out" / "statistics.json").read_text()),
            json.loads((tmp_path / "out" / "constraints.json").read_text()))


def test_a_binary_baseline_reproduces_sagemakers_documented_example(tmp_path, monkeypatch):
    code, statistics, constraints = run_baseline(
        tmp_path, monkeypatch, DOCUMENTED, BINARY, ground_truth_attribute="label",
        inference_attribute="prediction")
    assert code == 0
    metrics = statistics["binary_classification_metrics"]
    assert list(metrics) == ["confusion_matrix", *binary.NAMES[:10],
                             "receiver_operating_characteristic_curve",
                             "precision_recall_curve", *binary.NAMES[10:]]
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    for name, value in DOCUMENTED_VALUES.items():
        assert metrics[name] == {"value": pytest.approx(value), "standard_deviation": "NaN"}
    rules = constraints["binary_classification_constraints"]
    assert list(rules) == [name for name in binary.NAMES if "best_constant" not in name]
    assert {name for name, rule in rules.items()
            if rule["comparison_operator"] == "GreaterThanThreshold"} == {
        "false_positive_rate", "false_negative_rate"}
    assert rules["f1"] == {"threshold": 0.5, "comparison_operator": "LessThanThreshold"}


def test_binary_curves_rank_the_records_by_probability_and_auc_is_the_area_under_roc():
    """Scores 0.9 (1), 0.8 (0), 0.8 (1), 0.3 (0): thresholds 0.9, 0.8, 0.3 give (fpr, tpr)
    (0, .5), (.5, 1), (1, 1); area .5 * .5 / 2 + .5 * .75 ... = 0.75 by trapezoids."""
    import numpy as np

    truth, scores = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.8, 0.3])
    fpr, tpr, precisions, recalls = binary.curves(truth, scores)
    assert fpr == [0.0, 0.0, 0.5, 1.0, 1.0] and tpr == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert precisions == [1.0, 1.0, 2 / 3, 0.5] and recalls == [0.0, 0.5, 1.0, 1.0]
    assert binary.auc(fpr, tpr) == pytest.approx(0.5 * 0.75 + 0.5 * 1.0)


def test_without_inference_attribute_the_binary_label_is_the_probability_at_the_threshold(
        tmp_path, monkeypatch):
    text = "label,p\n1,0.9\n0,0.7\n1,0.6\n0,0.2\n"
    code, statistics, _ = run_baseline(tmp_path, monkeypatch, text, BINARY,
                                       ground_truth_attribute="label", probability_attribute="p",
                                       probability_threshold_attribute="0.65")
    assert code == 0
    metrics = statistics["binary_classification_metrics"]
    # predicted 1, 1, 0, 0 at 0.65: one of each cell.
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 1}, "1": {"0": 1, "1": 1}}
    assert metrics["auc"]["value"] == 0.75


def test_a_regression_baseline_writes_the_four_errors_with_sagemakers_operators(
        tmp_path, monkeypatch):
    lines = "\n".join(json.dumps({"y": y, "out": {"score": p}})
                      for y, p in ((1, 1.5), (2, 2), (3, 2.5), (4, 5)))
    code, statistics, constraints = run_baseline(
        tmp_path, monkeypatch, lines + "\n", REGRESSION, '{"json": {"lines": true}}',
        "joined.jsonl", ground_truth_attribute="y", inference_attribute="out.score")
    assert code == 0
    metrics = statistics["regression_metrics"]
    assert list(metrics) == list(regression.NAMES)
    # errors .5, 0, -.5, 1: mae .5, mse 1.5 / 4; SS_tot 5, so r2 = 1 - 1.5 / 5.
    expected = {"mae": 0.5, "mse": 0.375, "rmse": 0.375 ** 0.5, "r2": 0.7}
    for name, value in expected.items():
        assert metrics[name]["value"] == pytest.approx(value)
    assert constraints == {"version": 0.0, "regression_constraints": {
        name: {"threshold": metrics[name]["value"], "comparison_operator": operator}
        for name, operator in (("mae", "GreaterThanThreshold"), ("mse", "GreaterThanThreshold"),
                               ("rmse", "GreaterThanThreshold"), ("r2", "LessThanThreshold"))}}


def test_a_regression_drift_check_flags_errors_that_grew_past_their_thresholds(
        tmp_path, monkeypatch):
    limits = tmp_path / "constraints.json"
    limits.write_text(json.dumps({"version": 0.0, "regression_constraints": {
        "mae": {"threshold": 0.4, "comparison_operator": "GreaterThanThreshold"},
        "rmse": {"threshold": 0.9, "comparison_operator": "GreaterThanThreshold"},
        "r2": {"threshold": 0.5, "comparison_operator": "LessThanThreshold"}}}))
    monkeypatch.setenv("baseline_constraints", str(limits))
    code, _, _ = run_baseline(tmp_path, monkeypatch, "y,p\n1,1.5\n2,2\n3,2.5\n4,5\n",
                              REGRESSION, ground_truth_attribute="y", inference_attribute="p")
    assert code == 0
    found = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert found == {"violations": [{
        "metric_name": "mae", "constraint_check_type": "GreaterThanThreshold",
        "description": "Metric mae with 0.5 +/- NaN was GreaterThanThreshold '0.4'"}]}


@pytest.mark.parametrize(("problem", "text", "attributes", "message"), [
    (REGRESSION, "y,p\n1,2\n2,x\n", {"inference_attribute": "p"},
     "record 2: inference_attribute='p' is 'x', not a number"),
    (REGRESSION, "y,p\n1,2\n,3\n", {"inference_attribute": "p"},
     "record 2 has no ground_truth_attribute='y'"),
    (BINARY, "y,p\n1,1\n0,yes\n", {"inference_attribute": "p"},
     "record 2: inference_attribute='p' is 'yes', not a binary label"),
    (BINARY, "y,p\n1,0.9\n0,high\n", {"probability_attribute": "p"},
     "record 2: probability_attribute='p' is 'high', not a number"),
    (BINARY, "y,p\n1,1\n", {}, "neither inference_attribute nor probability_attribute is set"),
    (BINARY, "y,p\n1,0.9\n", {"probability_attribute": "p",
                              "probability_threshold_attribute": "half"},
     "probability_threshold_attribute='half': not a number"),
    ("Ranking", "y,p\n1,1\n", {"inference_attribute": "p"},
     "problem_type='Ranking': use one of BinaryClassification, MulticlassClassification, "
     "Regression"),
])
def test_a_record_or_setting_the_metrics_cannot_use_fails_the_baseline_naming_it(
        tmp_path, monkeypatch, problem, text, attributes, message):
    code, said, _ = run_baseline(tmp_path, monkeypatch, text, problem,
                                 ground_truth_attribute="y", **attributes)
    assert code == 1
    assert said.startswith(message)
    assert not (tmp_path / "out" / "statistics.json").exists()


def test_a_json_record_without_the_nested_field_is_named(tmp_path, monkeypatch):
    lines = '{"y": 1, "out": {"score": 2}}\n{"y": 2, "out": {}}\n'
    code, said, _ = run_baseline(tmp_path, monkeypatch, lines, REGRESSION,
                                 '{"json": {"lines": true}}', "joined.jsonl",
                                 ground_truth_attribute="y", inference_attribute="out.score")
    assert code == 1
    assert said.startswith("record 2 has no inference_attribute='out.score'")


def monitor(tmp_path, monkeypatch, answers: list[str], labels: list[str], constraints: dict,
            **env):
    """The monitoring job over one captured request per answer (ids "0", "1", ...) and a label
    each; (exit code, violations or the failure message, statistics)."""
    import monitor_cases as cases

    ids = [str(n) for n in range(len(answers))]
    capture, truth, output = tmp_path / "capture", tmp_path / "truth", tmp_path / "result"
    cases.write(capture, mc.captured(answers, ids, output=lambda answer: answer), files=1)
    mc.write_truth(truth, [mc.truth_line(key, label)
                           for key, label in zip(ids, labels, strict=True)])
    limits = tmp_path / "constraints.json"
    limits.write_text(json.dumps(constraints))
    for key, value in {"dataset_source": capture, "ground_truth_source": truth,
                       "output_path": output, "baseline_constraints": limits,
                       "SAGEMAKER_BASE_DIR": tmp_path / "opt", **env}.items():
        monkeypatch.setenv(key, str(value))
    code = monitor_model.main([])
    if code:
        return code, (tmp_path / "opt" / "output" / "message").read_text(), None
    return (code, json.loads((output / "constraint_violations.json").read_text())["violations"],
            json.loads((output / "statistics.json").read_text()))


def test_a_binary_monitor_flags_a_false_positive_rate_above_its_threshold(tmp_path, monkeypatch):
    """Only the endpoint's probability is captured: labels at 0.5 are 1, 1, 0, 0 against truth
    1, 0, 0, 0, so the false positive rate is 1/3."""
    answers = [json.dumps({"score": score}) for score in (0.9, 0.6, 0.4, 0.1)]
    code, violations, statistics = monitor(
        tmp_path, monkeypatch, answers, ["1", "0", "0", "0"],
        {"version": 0.0, "binary_classification_constraints": {
            "false_positive_rate": {"threshold": 0.1, "comparison_operator":
                                    "GreaterThanThreshold"},
            "recall": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"}}},
        problem_type=BINARY, probability_attribute="score",
        probability_threshold_attribute="0.5")
    assert code == 0
    metrics = statistics["binary_classification_metrics"]
    assert metrics["confusion_matrix"] == {"0": {"0": 2, "1": 1}, "1": {"0": 0, "1": 1}}
    assert metrics["auc"]["value"] == 1.0
    assert violations == [{"metric_name": "false_positive_rate",
                           "constraint_check_type": "GreaterThanThreshold",
                           "description": "Metric false_positive_rate with 0.3333333333333333 "
                                          "+/- NaN was GreaterThanThreshold '0.1'"}]
    assert (tmp_path / "result" / "report.html").is_file()


def test_a_regression_monitor_compares_captured_numbers_with_their_ground_truth(
        tmp_path, monkeypatch):
    answers = [json.dumps({"prediction": value}) for value in (1.0, 2.5, 2.0)]
    code, violations, statistics = monitor(
        tmp_path, monkeypatch, answers, ["1", "2", "4"],
        {"version": 0.0, "regression_constraints": {
            "mae": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"}}},
        problem_type=REGRESSION)
    assert code == 0
    assert statistics["regression_metrics"]["mae"]["value"] == pytest.approx(2.5 / 3)
    assert [v["metric_name"] for v in violations] == ["mae"]
    report = (tmp_path / "result" / "report.html").read_text()
    assert "1 violation(s)" in report and "Confusion matrix" not in report


def test_a_captured_answer_that_is_not_a_number_is_named_by_its_inference_id(
        tmp_path, monkeypatch):
    answers = [json.dumps({"prediction": value}) for value in (1.0, "high")]
    code, said, _ = monitor(tmp_path, monkeypatch, answers, ["1", "2"],
                            {"regression_constraints": {"mae": {
                                "threshold": 1, "comparison_operator": "GreaterThanThreshold"}}},
                            problem_type=REGRESSION)
    assert code == 1
    assert said.startswith("captured record '1': inference_attribute='prediction' is 'high'")


def test_a_baseline_of_another_problem_type_is_refused_naming_both(tmp_path, monkeypatch):
    code, said, _ = monitor(tmp_path, monkeypatch, [json.dumps({"prediction": 1.0})], ["1"],
                            mc.constraints({"accuracy": 0.5}), problem_type=REGRESSION)
    assert code == 1
    assert ('no "regression_constraints" object (it has "multiclass_classification_constraints"'
            ": a baseline of problem_type MulticlassClassification, not Regression)") in said
