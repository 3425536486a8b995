"""Penguins training, as a SageMaker user writes it for the TensorFlow 2.x framework container in
script mode (Estimator or TensorFlow(entry_point="train.py", source_dir=...)).

Hyperparameters arrive as command-line arguments; the channels and the model folder as SM_*
variables. The model is saved as a Keras 2 SavedModel in model_dir/001, the folder layout
TensorFlow Serving loads.
"""

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tensorflow import keras


def read_split(channel: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(Path(channel).glob("*.csv"))
    data = pd.concat([pd.read_csv(path, header=None) for path in files]).to_numpy("float32")
    return data[:, 1:], data[:, 0].astype("int64")


def build(features: int, classes: int, learning_rate: float) -> keras.Model:
    model = keras.Sequential([
        keras.layers.Dense(10, input_shape=(features,), activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model_dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args, _ = parser.parse_known_args()

    keras.utils.set_random_seed(args.seed)
    x_train, y_train = read_split(args.train)
    x_val, y_val = read_split(args.validation)
    model = build(x_train.shape[1], 3, args.learning_rate)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
              batch_size=args.batch_size, verbose=2)
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(f"val_loss={loss:.4f} val_accuracy={accuracy:.4f}")
    # Keras 2: a path without an extension is written as a TensorFlow SavedModel.
    model.save(Path(os.environ.get("SM_MODEL_DIR", args.model_dir)) / "001")


if __name__ == "__main__":
    main()
