"""The model-quality monitor (training/monitor/modelquality.py) in-process: captured answers merged
with ground truth by inferenceId else eventId, metrics on a hand-checked confusion matrix, and the
baseline's thresholds as the user left them."""

import json
from datetime import timedelta

import model_cases as mc
import monitor_cases as cases
import pytest

from training.monitor import modelquality as monitor_model
from training.monitor import multiclass

pytestmark = pytest.mark.training


def analyse(tmp_path, monkeypatch, capture_lines, truth_lines, thresholds=None, job=None, **env):
    """Run the job (monitor_model.main, or `job`); (exit code, violations, statistics, stdout-free
    message or output folder)."""
    capture, truth, output = tmp_path / "capture", tmp_path / "truth", tmp_path / "result"
    cases.write(capture, capture_lines, files=2)
    mc.write_truth(truth, truth_lines)
    baseline = tmp_path / "constraints.json"
    baseline.write_text(json.dumps(mc.constraints(thresholds or {"accuracy": 0.5})))
    for name, value in {"dataset_source": capture, "ground_truth_source": truth,
                        "output_path": output, "baseline_constraints": baseline,
                        "SAGEMAKER_BASE_DIR": tmp_path / "opt", **env}.items():
        monkeypatch.setenv(name, str(value))
    code = (job or monitor_model.main)([])
    if code:
        return code, None, None, (tmp_path / "opt" / "output" / "message").read_text()
    return (code, json.loads((output / "constraint_violations.json").read_text())["violations"],
            json.loads((output / "statistics.json").read_text()), output)


def test_metrics_and_confusion_matrix_match_the_hand_checked_case(tmp_path, monkeypatch):
    ids = [str(n) for n in range(len(mc.PAIRS))]
    code, violations, statistics, output = analyse(
        tmp_path, monkeypatch, mc.captured([p for _, p in mc.PAIRS], ids),
        [mc.truth_line(key, truth) for key, (truth, _) in zip(ids, mc.PAIRS, strict=True)])
    assert code == 0
    metrics = statistics["multiclass_classification_metrics"]
    assert metrics["confusion_matrix"] == mc.MATRIX
    for name, value in mc.EXPECTED.items():
        assert metrics[name]["value"] == pytest.approx(value)
    assert statistics["dataset"]["item_count"] == len(mc.PAIRS)
    assert violations == []
    report = (output / "report.html").read_text()
    assert "no violations" in report and report.count("data:image/png;base64,") == 2


def test_the_one_monitor_entrypoint_runs_model_quality_when_analysis_type_says_so(
        tmp_path, monkeypatch):
    from training.monitor import analyzer as monitor

    ids = [str(n) for n in range(len(mc.PAIRS))]
    code, _, statistics, _ = analyse(
        tmp_path, monkeypatch, mc.captured([p for _, p in mc.PAIRS], ids),
        [mc.truth_line(key, truth) for key, (truth, _) in zip(ids, mc.PAIRS, strict=True)],
        job=monitor.main, analysis_type="MODEL_QUALITY")
    assert code == 0
    assert statistics["multiclass_classification_metrics"]["confusion_matrix"] == mc.MATRIX


def test_requests_join_on_inference_id_else_event_id_and_unmatched_records_are_left_out(
        tmp_path, monkeypatch, capsys):
    # Two requests with an inferenceId, one without (its eventId is its key), one never labelled.
    lines = mc.captured(["A", "B", "C", "A"], ["7", "8", None, "9"])
    truth = [mc.truth_line("7", "A"), mc.truth_line("8", "A"),
             mc.truth_line(mc.event_id(lines[2]), "C"),
             mc.truth_line(mc.event_id(lines[0]), "B"),  # an eventId of a request with an id
             mc.truth_line("unknown", "A")]
    code, _, statistics, _ = analyse(tmp_path, monkeypatch, lines, truth)
    assert code == 0
    assert statistics["dataset"]["item_count"] == 3
    assert statistics["multiclass_classification_metrics"]["confusion_matrix"] == {
        "A": {"A": 1, "B": 1, "C": 0}, "B": {"A": 0, "B": 0, "C": 0},
        "C": {"A": 0, "B": 0, "C": 1}}
    said = capsys.readouterr().out
    assert "merged 3 of 4 captured predictions" in said
    assert "1 predictions without a label and 2 labels without a prediction" in said


def test_a_threshold_edited_in_constraints_json_decides_the_violation(tmp_path, monkeypatch):
    ids = [str(n) for n in range(len(mc.PAIRS))]
    lines = mc.captured([p for _, p in mc.PAIRS], ids)
    truth = [mc.truth_line(key, t) for key, (t, _) in zip(ids, mc.PAIRS, strict=True)]
    found = {}
    for threshold in (0.74, 0.76):
        work = tmp_path / str(threshold)
        code, violations, _, _ = analyse(work, monkeypatch, lines, truth,
                                         {"accuracy": threshold, "weighted_f1": 0.5})
        assert code == 0
        found[threshold] = violations
    assert found[0.74] == []
    assert found[0.76] == [{
        "metric_name": "accuracy", "constraint_check_type": "LessThanThreshold",
        "description": found[0.76][0]["description"]}]
    assert found[0.76][0]["description"].startswith("Metric accuracy with 0.75 +/- ")
    assert found[0.76][0]["description"].endswith("was LessThanThreshold '0.76'")


def test_wrong_labels_break_accuracy_and_every_weighted_metric(tmp_path, monkeypatch):
    ids = [str(n) for n in range(30)]
    predictions = ["A", "B", "C"] * 10
    wrong = {"A": "B", "B": "C", "C": "A"}
    code, violations, statistics, output = analyse(
        tmp_path, monkeypatch, mc.captured(predictions, ids),
        [mc.truth_line(key, wrong[p]) for key, p in zip(ids, predictions, strict=True)],
        dict.fromkeys(multiclass.METRICS, 0.8))
    assert code == 0
    assert [v["metric_name"] for v in violations] == list(multiclass.METRICS)
    assert statistics["multiclass_classification_metrics"]["accuracy"]["value"] == 0.0
    assert "6 violation(s)" in (output / "report.html").read_text()


def test_only_requests_inside_the_window_count(tmp_path, monkeypatch):
    inside = mc.captured(["A", "A"], ["1", "2"])
    before = mc.captured(["B"], ["3"], when=cases.HOUR - timedelta(minutes=5))
    truth = [mc.truth_line(k, "A") for k in ("1", "2", "3")]
    code, _, statistics, _ = analyse(tmp_path, monkeypatch, inside + before, truth,
                                     start_time="2026-11-23T21:00:00Z",
                                     end_time="2026-11-23T22:00:00Z")
    assert code == 0
    assert statistics["dataset"]["item_count"] == 2


def test_a_later_ground_truth_file_corrects_an_earlier_one(tmp_path, monkeypatch):
    lines = mc.captured(["A", "B"], ["1", "2"])
    mc.write_truth(tmp_path / "truth", [mc.truth_line("1", "C")],
                   hour=cases.HOUR + timedelta(hours=1), name="59-59-999")
    code, _, statistics, _ = analyse(tmp_path, monkeypatch, lines,
                                     [mc.truth_line("1", "B"), mc.truth_line("2", "B")])
    assert code == 0
    assert statistics["multiclass_classification_metrics"]["confusion_matrix"]["C"]["A"] == 1


def test_csv_answers_json_labels_and_multi_record_requests_are_read(tmp_path, monkeypatch):
    csv_answer = cases.line("1,2", "text/csv", "CSV", inference_id="1", output="B,0.9")
    lines = [csv_answer.replace('"endpointOutput":{"observedContentType":"application/json",'
                                '"mode":"OUTPUT","data":"B,0.9","encoding":"JSON"}',
                                '"endpointOutput":{"observedContentType":"text/csv",'
                                '"mode":"OUTPUT","data":"B,0.9\\n","encoding":"CSV"}'),
             cases.line("[{}, {}]", inference_id="2", output=json.dumps(
                 [{"prediction": "A"}, {"prediction": "C"}]))]
    assert '"encoding":"CSV"}},' in lines[0]
    truth = [mc.truth_line("1", '"B"', "JSON"), mc.truth_line("2", "A\nC")]
    code, _, statistics, _ = analyse(tmp_path, monkeypatch, lines, truth)
    assert code == 0
    assert statistics["dataset"]["item_count"] == 3
    assert statistics["multiclass_classification_metrics"]["accuracy"]["value"] == 1.0


@pytest.mark.parametrize(("constraints", "message"), [
    ({"features": []}, 'no "multiclass_classification_constraints" object'),
    (mc.constraints({"accuracy": "high"}),
     "$.multiclass_classification_constraints.accuracy.threshold='high'"),
    (mc.constraints({"auc": 0.5}), "$.multiclass_classification_constraints.auc: unknown metric"),
])
def test_a_broken_baseline_fails_naming_the_json_path(tmp_path, monkeypatch, constraints,
                                                      message):
    baseline = tmp_path / "broken.json"
    baseline.write_text(json.dumps(constraints))
    code, _, _, said = analyse(tmp_path, monkeypatch, mc.captured(["A"], ["1"]),
                               [mc.truth_line("1", "A")], baseline_constraints=baseline)
    assert code == 1
    assert message in said


def test_no_ground_truth_for_any_captured_request_fails_with_what_to_do(tmp_path, monkeypatch):
    code, _, _, said = analyse(tmp_path, monkeypatch, mc.captured(["A"], ["1"]),
                               [mc.truth_line("2", "A")])
    assert code == 1
    assert "no captured prediction has ground truth" in said and "make ground-truth" in said
    assert not (tmp_path / "result" / "statistics.json").exists()


def test_digit_classes_answered_as_numbers_meet_labels_written_as_text(tmp_path, monkeypatch):
    """Digits' classes are digits: an answer's 7 and a label's "7" are the same class."""
    lines = mc.captured(["7", "1", "7"], ["a", "b", "c"],
                        output=lambda p: json.dumps({"prediction": int(p), "confidence": 0.9}))
    code, _, statistics, _ = analyse(tmp_path, monkeypatch, lines,
                                     [mc.truth_line("a", "7"), mc.truth_line("b", "7"),
                                      mc.truth_line("c", "7")])
    assert code == 0
    assert statistics["multiclass_classification_metrics"]["confusion_matrix"] == {
        "1": {"1": 0, "7": 0}, "7": {"1": 1, "7": 2}}
