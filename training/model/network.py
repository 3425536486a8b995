"""The Keras side of training: the Penguins network, per-epoch logs, checkpoints, saving.

Imported only once the inputs are validated: TensorFlow takes about 2 s to import.
"""

import json
import os
import sys
from pathlib import Path

# Before keras: TensorFlow's quiet start-up.
from training.model import tfenv  # noqa: F401

# isort: split
import keras
import numpy as np

from training.contract.jobio import JobError, atomic_write

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

    def __init__(self, epochs: int, echo: bool = True):
        super().__init__()
        self.epochs = epochs
        self.echo = echo  # only the chief of several hosts prints them
        self.last: dict = {}

    def on_whole_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        names = (("train_loss", "loss"), ("train_accuracy", "accuracy"),
                 ("val_loss", "val_loss"), ("val_accuracy", "val_accuracy"))
        self.last = {label: float(logs[key]) for label, key in names if key in logs}
        fields = " ".join(f"{label}={value:.6f}" for label, value in self.last.items())
        if self.echo:
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


def fit_distributed(hps, x, y, validation, build, checkpoints: Path, stop: list, cluster,
                    strategy):
    """fit() across the cluster's hosts under MultiWorkerMirroredStrategy.

    Each host trains on its 1/N shard of the rows (distributed.shard) in batches of
    batch_size (per host: a step's global batch is batch_size x hosts), the gradients averaged
    by all-reduce. Only the chief prints the epoch lines and keeps checkpoints; the others
    save theirs to a temporary folder, as Keras asks every worker to save. No resuming: hosts
    must agree on the epoch to start from. SIGTERM is honoured at epoch ends only, since a
    host stopping mid-epoch would leave its peers waiting in a collective op.
    """
    import shutil
    import tempfile

    import tensorflow as tf

    from training.model import distributed

    keras.utils.set_random_seed(hps.seed)
    index, workers = cluster.index, len(cluster.hosts)

    def dataset(features, labels, shuffle: bool):
        rows = distributed.shard(len(labels), index, workers)

        def make(_context):
            data = tf.data.Dataset.from_tensor_slices((features[rows], labels[rows]))
            if shuffle:
                data = data.shuffle(len(labels), seed=hps.seed + index)
            return data.batch(hps.batch_size)

        return strategy.distribute_datasets_from_function(make)

    with strategy.scope():
        model = build()
    _keras_multi_worker(model, (x[:1], y[:1]))
    folder = checkpoints if cluster.chief else Path(tempfile.mkdtemp(prefix="checkpoints-"))
    log, checkpoint = EpochLog(hps.epochs, echo=cluster.chief), Checkpoint(folder)
    try:
        checkpoint.set_model(model)
        checkpoint.on_whole_epoch_end(-1)
        if not stop:
            # shuffle=False: the dataset shuffles itself (Keras would warn it cannot).
            model.fit(dataset(x, y, True), epochs=hps.epochs, verbose=0, shuffle=False,
                      validation_data=None if validation is None
                      else dataset(*validation, False),
                      callbacks=[log, checkpoint, StopAtEpochEnd(stop)])
    finally:
        if not cluster.chief:
            shutil.rmtree(folder, ignore_errors=True)
    return model, log.last, checkpoint.done


class StopAtEpochEnd(StopOnSignal):
    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end


def _keras_multi_worker(model, sample) -> None:
    """Work around Keras 3's model.fit under MultiWorkerMirroredStrategy (keras-team/keras
    #20585): it all-reduces a whole (x, y) batch only to learn shapes, and averages scalar
    metrics along an axis they do not have. Both are private internals: the image pins Keras.
    """
    from keras.src.backend.tensorflow import trainer

    build = model._maybe_symbolic_build
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: build(data_batch=sample)
    if getattr(trainer.reduce_per_replica, "patched", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
            # Every host's shard has the same size: the mean of means is the global mean.
            return keras.tree.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.patched = True
    trainer.reduce_per_replica = reduce_per_replica


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
