"""Evaluation: the model's accuracy into evaluation.json, the model-quality format."""
import json
import pathlib
import tarfile

base = pathlib.Path("/opt/ml/processing")
with tarfile.open(base / "model" / "model.tar.gz") as archive:
    model = json.load(archive.extractfile("model.json"))
(base / "evaluation").mkdir(parents=True, exist_ok=True)
(base / "evaluation" / "evaluation.json").write_text(json.dumps(
    {"multiclass_classification_metrics": {"accuracy": {"value": model["accuracy"]}}}))
