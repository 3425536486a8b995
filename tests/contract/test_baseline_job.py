"""The baseline job with the real training image, as a processing job: data quality, and model
quality of each problem type."""

import csv
import json

import pytest

from harness import PROCESSING_IMAGE, run_job

ENTRYPOINT = ["/usr/bin/tini", "--", "baseline"]


def run_baseline(client, root, dataset, environment=None, args=()):
    (root / "output").mkdir(parents=True, exist_ok=True)
    (root / "processing" / "output").mkdir(parents=True, exist_ok=True)
    return run_job(client, PROCESSING_IMAGE, list(args),
                   {root: ("/opt/ml", "rw"),
                    dataset: ("/opt/ml/processing/input/baseline_dataset_input", "ro")},
                   environment=environment, entrypoint=ENTRYPOINT)


def test_the_baseline_of_train_baseline_csv_is_sagemakers_statistics_and_constraints(
        docker_client, processed, tmp_path):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    source = processed / "processing" / "baseline" / "train-baseline.csv"
    (dataset / "train-baseline.csv").write_bytes(source.read_bytes())
    result = run_baseline(docker_client, tmp_path / "ml", dataset)
    assert result.exit_code == 0, result.logs
    output = tmp_path / "ml" / "processing" / "output"
    statistics = json.loads((output / "statistics.json").read_text())
    constraints = json.loads((output / "constraints.json").read_text())
    with source.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert statistics["dataset"]["item_count"] == len(rows)
    assert [f["name"] for f in statistics["features"]] == list(rows[0])
    types = {f["name"]: f["inferred_type"] for f in constraints["features"]}
    assert types["island"] == types["sex"] == "String"
    assert {types[name] for name in ("bill_length_mm", "body_mass_g")} <= {"Integral",
                                                                          "Fractional"}
    island = next(f for f in constraints["features"] if f["name"] == "island")
    assert sorted(island["string_constraints"]["domains"]) == sorted(
        {row["island"] for row in rows})
    body = next(f for f in statistics["features"] if f["name"] == "body_mass_g")
    numbers = [float(row["body_mass_g"]) for row in rows if row["body_mass_g"]]
    stats = body["numerical_statistics"]
    assert stats["common"]["num_present"] == len(numbers)
    assert (stats["min"], stats["max"]) == (min(numbers), max(numbers))
    assert sum(b["count"] for b in stats["distribution"]["kll"]["buckets"]) == len(numbers)
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] \
        == 0.1


def test_headerless_digits_like_input_drops_the_label_and_names_columns_by_position(
        docker_client, tmp_path):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "train.csv").write_text("3,0,16,4\n7,2,0,4\n")
    result = run_baseline(docker_client, tmp_path / "ml", dataset,
                          {"dataset_format": '{"csv": {"header": false}}'},
                          ["--drop-first-column"])
    assert result.exit_code == 0, result.logs
    statistics = json.loads(
        (tmp_path / "ml" / "processing" / "output" / "statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == ["_c0", "_c1", "_c2"]
    assert statistics["features"][0]["numerical_statistics"]["sum"] == 2.0


def test_a_bad_dataset_format_fails_the_job_with_its_message(docker_client, tmp_path):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "x.csv").write_text("a\n1\n")
    result = run_baseline(docker_client, tmp_path / "ml", dataset,
                          {"dataset_format": '{"parquet": {}}'})
    assert result.exit_code == 1
    message = (tmp_path / "ml" / "output" / "message").read_text()
    assert message.startswith('dataset_format {"parquet": {}}: use')
    assert not (tmp_path / "ml" / "processing" / "output" / "statistics.json").exists()


def test_the_model_quality_baseline_of_a_joined_transform_matches_its_lines(
        docker_client, trained, processed, tmp_path, compose_project):
    from test_transform_job import out_lines, program, run_transform, split_rows, write_csv

    data = write_csv(tmp_path / "input" / "test.csv", split_rows(processed))
    run = run_transform(compose_project, tmp_path / "local", trained,
                        *program("--input", str(data)))
    lines = [line.split(",") for line in out_lines(run, "test.csv")]
    result = run_baseline(docker_client, tmp_path / "ml", run.folder / "output", {
        "analysis_type": "MODEL_QUALITY", "problem_type": "MulticlassClassification",
        "dataset_format": '{"csv": {"header": false}}', "ground_truth_attribute": "_c0",
        "inference_attribute": "_c1"})
    assert result.exit_code == 0, result.logs
    output = tmp_path / "ml" / "processing" / "output"
    metrics = json.loads((output / "statistics.json").read_text())[
        "multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == sum(a == b for a, b in lines) / len(lines)
    matrix = metrics["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == len(lines)
    assert matrix["Gentoo"]["Gentoo"] == sum(a == b == "Gentoo" for a, b in lines)
    rules = json.loads((output / "constraints.json").read_text())[
        "multiclass_classification_constraints"]
    assert rules["accuracy"] == {"threshold": metrics["accuracy"]["value"],
                                 "comparison_operator": "LessThanThreshold"}


# Model-quality baselines of joined ground truth and predictions the real image computes for
# each problem type beyond the built-in workloads' (whose transform run is the case above):
# (problem_type, dataset, the analyzer's attributes, the statistics key, the expected metrics,
# the constraints key, the comparison operator of each constraint).
MODEL_QUALITY_CASES = {
    "binary": ("BinaryClassification", "label,prediction,probability\n0,0,0.1\n0,1,0.8\n"
               "0,1,0.7\n1,1,0.9\n",
               {"ground_truth_attribute": "label", "inference_attribute": "prediction",
                "probability_attribute": "probability"},
               "binary_classification_metrics",
               {"recall": 1.0, "precision": 1 / 3, "accuracy": 0.5, "false_positive_rate": 2 / 3,
                "f1": 0.5, "auc": 1.0},
               "binary_classification_constraints",
               {"recall": "LessThanThreshold", "false_positive_rate": "GreaterThanThreshold",
                "auc": "LessThanThreshold"}),
    "regression": ("Regression", "y,p\n1,1.5\n2,2\n3,2.5\n4,5\n",
                   {"ground_truth_attribute": "y", "inference_attribute": "p"},
                   "regression_metrics", {"mae": 0.5, "mse": 0.375, "r2": 0.7},
                   "regression_constraints",
                   {"mae": "GreaterThanThreshold", "rmse": "GreaterThanThreshold",
                    "r2": "LessThanThreshold"}),
}


@pytest.mark.parametrize("case", list(MODEL_QUALITY_CASES))
def test_the_model_quality_baseline_of_each_problem_type_is_sagemakers(docker_client, tmp_path,
                                                                      case):
    problem, text, attributes, metrics_key, expected, rules_key, operators = \
        MODEL_QUALITY_CASES[case]
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "joined.csv").write_text(text)
    result = run_baseline(docker_client, tmp_path / "ml", dataset, {
        "analysis_type": "MODEL_QUALITY", "problem_type": problem,
        "dataset_format": '{"csv": {"header": true}}', **attributes})
    assert result.exit_code == 0, result.logs
    output = tmp_path / "ml" / "processing" / "output"
    metrics = json.loads((output / "statistics.json").read_text())[metrics_key]
    for name, value in expected.items():
        assert metrics[name] == {"value": pytest.approx(value), "standard_deviation": "NaN"}
    rules = json.loads((output / "constraints.json").read_text())[rules_key]
    for name, operator in operators.items():
        assert rules[name] == {"threshold": metrics[name]["value"],
                               "comparison_operator": operator}
