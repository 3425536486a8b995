"""Penguins training for the pipeline in examples/penguins_pipeline.py, script mode: a Keras
network on the processing step's splits, saved twice in model_dir: as a SavedModel in 001/ (what
TensorFlow Serving and the evaluation script load) and converted to model.onnx with tf2onnx
(what the serving image loads, so the registered model can be deployed here).
"""

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
import tf2onnx
from tensorflow import keras


def read_split(channel: str) -> tuple[np.ndarray, np.ndarray]:
    frames = [pd.read_csv(path, header=None) for path in sorted(Path(channel).glob("*.csv"))]
    data = pd.concat(frames).to_numpy("float32")
    return data[:, 1:], data[:, 0].astype("int64")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    args, _ = parser.parse_known_args()
    model_dir = Path(os.environ["SM_MODEL_DIR"])

    keras.utils.set_random_seed(args.seed)
    x_train, y_train = read_split(os.environ["SM_CHANNEL_TRAIN"])
    x_val, y_val = read_split(os.environ["SM_CHANNEL_VALIDATION"])
    model = keras.Sequential([
        keras.layers.Dense(10, input_shape=(x_train.shape[1],), activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
              batch_size=args.batch_size, verbose=2)
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(f"val_loss={loss:.4f} val_accuracy={accuracy:.4f}")

    model.save(model_dir / "001")
    signature = (tf.TensorSpec((None, x_train.shape[1]), tf.float32, name="features"),)
    tf2onnx.convert.from_keras(model, input_signature=signature,
                               output_path=str(model_dir / "model.onnx"))


if __name__ == "__main__":
    main()
