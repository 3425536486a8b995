"""The Keras side of training: the Penguins network, per-epoch logs, checkpoints, saving.

Imported only once the inputs are validated: TensorFlow takes about 2 s to import.
"""

import json
import os
import sys
from pathlib import Path

# TensorFlow's start-up notices stay out of job logs. The oneDNN one is printed before absl's
# logging starts, whatever TF_CPP_MIN_LOG_LEVEL says; only turning oneDNN's custom operations
# off silences it, and for a 10-8-3 network they change nothing but float round-off.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from training.jobio import JobError, atomic_write  # noqa: E402

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"


def build(n_features: int, classes: int, learning_rate: float) -> keras.Model:
    model = keras.Sequential([
        keras.Input((n_features,)),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class WholeEpochs(keras.callbacks.Callback):
    """Calls on_whole_epoch_end only for epochs whose every batch ran.

    Keras ends an epoch cut short by stop_training (SIGTERM) with on_epoch_end all the same;
    logging or checkpointing it would count a half-trained epoch as done, so a resumed job
    would skip the rest of it.
    """

    batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches = batch + 1  # with steps_per_execution > 1, batch is the last step run

    def on_epoch_end(self, epoch, logs=None):
        steps = (self.params or {}).get("steps")
        if steps is None or self.batches >= steps:
            self.on_whole_epoch_end(epoch, logs)

    def on_whole_epoch_end(self, epoch, logs=None):
        raise NotImplementedError


class EpochLog(WholeEpochs):
    """One stable line per finished epoch, for SageMaker metric_definitions regexes."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.last: dict = {}

    def on_whole_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        names = (("train_loss", "loss"), ("train_accuracy", "accuracy"),
                 ("val_loss", "val_loss"), ("val_accuracy", "val_accuracy"))
        self.last = {label: float(logs[key]) for label, key in names if key in logs}
        fields = " ".join(f"{label}={value:.6f}" for label, value in self.last.items())
        print(f"epoch={epoch + 1}/{self.epochs} {fields}", flush=True)


class Checkpoint(WholeEpochs):
    """The model and the number of finished epochs, every epoch, each file written atomically."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.done = 0

    def on_whole_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".{CHECKPOINT}.tmp.keras"
        self.model.save(temp)
        os.replace(temp, self.folder / CHECKPOINT)
        self.done = epoch + 1
        atomic_write(self.folder / STATE, json.dumps({"epoch": self.done}) + "\n")


class StopOnSignal(keras.callbacks.Callback):
    """Ends training at the next batch (or epoch end) once SIGTERM arrived."""

    def __init__(self, stop: list):
        super().__init__()
        self.stop = stop

    def on_train_batch_end(self, batch, logs=None):
        if self.stop:
            self.model.stop_training = True

    on_epoch_end = on_train_batch_end  # a SIGTERM during validation: start no further epoch


def resume(folder: Path):
    """(model, finished epochs) from a checkpoint, or (None, 0)."""
    state, saved = folder / STATE, folder / CHECKPOINT
    if not (state.is_file() and saved.is_file()):
        return None, 0
    try:
        epoch = int(json.loads(state.read_text())["epoch"])
        model = keras.models.load_model(saved)
    except Exception as error:  # a damaged checkpoint is worth a clear message
        raise JobError(f"cannot resume from {saved}: {error}") from None
    print(f"resuming from checkpoint at epoch {epoch}", flush=True)
    return model, epoch


def fit(hps, x, y, validation, build, checkpoints: Path, stop: list):
    """Train (resuming from checkpoints if any); returns (model, last metrics, epochs done).

    x is any array Keras takes (rows of features, or images [N, H, W]); build() gives the
    compiled, unfitted network when there is no checkpoint to resume from.
    """
    keras.utils.set_random_seed(hps.seed)
    model, done = resume(checkpoints)
    if model is None:
        model = build()
    log, checkpoint = EpochLog(hps.epochs), Checkpoint(checkpoints)
    checkpoint.done = done
    if done == 0:
        # The untrained starting point, saved before any batch: a job stopped within its first
        # epoch still leaves a checkpoint, and not one of a half-trained epoch.
        checkpoint.set_model(model)
        checkpoint.on_whole_epoch_end(-1)
    if not stop and done < hps.epochs:
        model.fit(x, y, validation_data=validation, epochs=hps.epochs, initial_epoch=done,
                  batch_size=hps.batch_size, shuffle=True, verbose=0,
                  callbacks=[log, checkpoint, StopOnSignal(stop)])
    return model, log.last, checkpoint.done


def save(model: keras.Model, folder: Path) -> None:
    """model.keras (evaluation reads it); model.onnx is train.write_graph's."""
    model.save(folder / "model.keras")


def versions() -> dict:
    import onnxruntime
    import sklearn
    import tensorflow

    return {"tensorflow": tensorflow.__version__, "keras": keras.__version__,
            "scikit-learn": sklearn.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}
