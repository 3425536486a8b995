"""A small servable model folder, as the training job writes it, for the in-process tests."""

import json
from pathlib import Path

LABELS = ["Adelie", "Chinstrap", "Gentoo"]
# Every fill differs from its mean (as a median imputer's would), and no categorical fill is
# the first category: a transform that used one for the other fails a test.
FEATURES = {
    "numeric": [
        {"name": "bill_length_mm", "fill": 44.45, "mean": 43.9, "scale": 5.46},
        {"name": "bill_depth_mm", "fill": 17.3, "mean": 17.2, "scale": 1.97},
        {"name": "flipper_length_mm", "fill": 197.0, "mean": 200.9, "scale": 14.0},
        {"name": "body_mass_g", "fill": 4050.0, "mean": 4201.8, "scale": 801.0},
    ],
    "categorical": [
        {"name": "island", "fill": "Dream", "categories": ["Biscoe", "Dream", "Torgersen"]},
        {"name": "sex", "fill": "male", "categories": ["female", "male"]},
    ],
}


def build(path: Path) -> Path:
    """A seeded Keras network exported to ONNX and network.json, with labels and features."""
    import keras

    from training.export import network_spec

    keras.utils.set_random_seed(7)
    network = keras.Sequential([
        keras.Input((9,)),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    network(keras.ops.zeros((1, 9)))
    network.export(str(path / "model.onnx"), format="onnx", verbose=False)
    network.save(path / "model.keras")
    (path / "network.json").write_text(json.dumps(network_spec(network)))
    (path / "labels.json").write_text(json.dumps(LABELS))
    (path / "features.json").write_text(json.dumps(FEATURES))
    return path
