"""Penguins evaluation, as a SageMaker user writes it for a processing job: the training job's
model.tar.gz in /opt/ml/processing/model, the test split in /opt/ml/processing/test, the report
in /opt/ml/processing/evaluation/evaluation.json in the model-quality format the SageMaker Model
Registry shows (multiclass_classification_metrics).
"""

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
from tensorflow import keras

BASE = Path("/opt/ml/processing")


def main() -> None:
    with tarfile.open(BASE / "model" / "model.tar.gz") as archive:
        archive.extractall(BASE / "unpacked")
    model = keras.models.load_model(BASE / "unpacked" / "001")

    files = sorted((BASE / "test").glob("*.csv"))
    data = pd.concat([pd.read_csv(path, header=None) for path in files]).to_numpy("float32")
    x_test, y_test = data[:, 1:], data[:, 0].astype("int64")
    predictions = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    accuracy = float((predictions == y_test).mean())
    print(f"test accuracy: {accuracy:.4f}")

    report = {"multiclass_classification_metrics": {
        "accuracy": {"value": accuracy, "standard_deviation": "NaN"}}}
    folder = BASE / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evaluation.json").write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
