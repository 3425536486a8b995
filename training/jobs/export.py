"""model.onnx beside the model a user's script saved, so that our serving image serves it.

Asked for by the hyperparameter sagemaker_export_onnx=true (the toolkit keeps sagemaker_*
hyperparameters away from the script's arguments) or SAGEMAKER_EXPORT_ONNX=1. What the script
left in the model folder is found and converted:
- a TensorFlow SavedModel (saved_model.pb) at the folder's root or in numbered version folders
  (model_dir/001, TensorFlow Serving's layout; the highest number, as TF Serving serves it):
  tf2onnx from its serving signature;
- a Keras file (.keras, .h5): loaded, written as a SavedModel, and converted the same way;
- a scikit-learn estimator (.joblib, .pkl, .pickle): skl2onnx, one float input of its
  n_features_in_ columns (classifiers: label and probabilities as plain tensors).
model.onnx is then checked against the framework's own predictions on zeros and random inputs
of the right shapes (AGREEMENT) and the result logged. The script's files stay as they were, so
the archive still deploys to SageMaker's framework containers. Any failure is a JobError that
names the file and the reason; model.onnx is written only when the check has passed.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from training.contract.jobio import JobError, atomic_write

HYPERPARAMETER = "sagemaker_export_onnx"
VARIABLE = HYPERPARAMETER.upper()
ONNX = "model.onnx"
SIGNATURE = "serving_default"
AGREEMENT = 1e-5  # absolute and relative: float32 round-off, no more
BATCH = 4  # rows per check input (free dimensions)
KERAS_FILES = (".keras", ".h5")
PICKLES = (".joblib", ".pkl", ".pickle")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def requested(hyperparameters: dict, environ=os.environ) -> bool:
    """Whether the job asks for model.onnx (the variable over the hyperparameter); JobError for
    a value that is neither yes nor no."""
    for name, value in ((VARIABLE, environ.get(VARIABLE)),
                        (HYPERPARAMETER, hyperparameters.get(HYPERPARAMETER))):
        if value is None:
            continue
        text = str(value).strip().strip('"').lower()  # the SDK may send it JSON-encoded
        if text not in TRUE + FALSE:
            raise JobError(f"{name}={value!r}: give true or false")
        return text in TRUE
    return False


def find(model_dir: Path) -> tuple[str, Path]:
    """(kind, path) of the one model the folder holds: "savedmodel", "keras" or "sklearn"."""
    if (model_dir / "saved_model.pb").is_file():
        return "savedmodel", model_dir
    versions = [p for p in model_dir.iterdir() if p.name.isdigit() and
                (p / "saved_model.pb").is_file()]
    if versions:
        return "savedmodel", max(versions, key=lambda p: int(p.name))
    found = [(kind, p) for p in sorted(model_dir.iterdir()) if p.is_file()
             for kind, suffixes in (("keras", KERAS_FILES), ("sklearn", PICKLES))
             if p.suffix.lower() in suffixes]
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.name for p in sorted(model_dir.iterdir())) or "nothing"
    if found:
        raise JobError(f"{HYPERPARAMETER}: {model_dir} holds several models "
                       f"({', '.join(p.name for _, p in found)}); keep one, or convert it in "
                       "the script")
    raise JobError(f"{HYPERPARAMETER}: no model to convert in {model_dir} (found: {names}); "
                   "converted are a SavedModel (saved_model.pb, also in a version folder such "
                   f"as 001/), a Keras file ({', '.join(KERAS_FILES)}) or a scikit-learn "
                   f"estimator ({', '.join(PICKLES)})")


def close(name: str, expected, got) -> None:
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        raise JobError(f"{HYPERPARAMETER}: output {name!r} of model.onnx has shape "
                       f"{list(got.shape)}, the framework's {list(expected.shape)}")
    if expected.dtype.kind in "fc":
        gap = float(np.max(np.abs(expected - got) - AGREEMENT * np.abs(expected), initial=0))
        if gap > AGREEMENT or not np.array_equal(np.isnan(expected), np.isnan(got)):
            raise JobError(f"{HYPERPARAMETER}: output {name!r} of model.onnx differs from the "
                           f"framework's by more than {AGREEMENT} (by {gap + AGREEMENT:.3g})")
    elif not np.array_equal(expected, got):
        raise JobError(f"{HYPERPARAMETER}: output {name!r} of model.onnx differs from the "
                       "framework's")


def check_inputs(specs: dict, rng) -> list[dict]:
    """Zeros and random values for each input: name -> (shape with None free, numpy dtype)."""
    batches = [{}, {}]
    for name, (shape, dtype) in specs.items():
        shape = tuple(BATCH if d is None else d for d in shape)
        if np.dtype(dtype).kind not in "fiub":
            raise JobError(f"{HYPERPARAMETER}: input {name!r} is {np.dtype(dtype)}; only "
                           "numeric inputs can be checked")
        batches[0][name] = np.zeros(shape, dtype)
        random = rng.standard_normal(shape) * (1 if np.dtype(dtype).kind == "f" else 5)
        batches[1][name] = random.astype(dtype)
    return batches


def session(onnx_bytes: bytes):
    import onnxruntime

    return onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])


def savedmodel_onnx(folder: Path) -> bytes:
    """tf2onnx's conversion of the serving signature (its command line, as documented)."""
    with tempfile.TemporaryDirectory(prefix="onnx-") as scratch:
        out = Path(scratch) / ONNX
        done = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model",
                               str(folder), "--signature_def", SIGNATURE, "--output", str(out)],
                              capture_output=True, text=True)
        if done.returncode or not out.is_file():
            last = " ".join(done.stderr.strip().splitlines()[-3:])
            raise JobError(f"{HYPERPARAMETER}: tf2onnx cannot convert {folder}: {last}")
        return out.read_bytes()


def check_savedmodel(folder: Path, onnx_bytes: bytes) -> int:
    """model.onnx against the SavedModel's serving signature; the number of inputs checked."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    if SIGNATURE not in loaded.signatures:
        raise JobError(f"{HYPERPARAMETER}: {folder} has no {SIGNATURE!r} signature (it has "
                       f"{', '.join(loaded.signatures) or 'none'})")
    signature = loaded.signatures[SIGNATURE]
    _, named = signature.structured_input_signature
    specs = {name: (tuple(spec.shape.as_list()), spec.dtype.as_numpy_dtype)
             for name, spec in named.items()}
    graph = session(onnx_bytes)
    onnx_names = {node.name for node in graph.get_inputs()}
    if onnx_names != set(specs):
        raise JobError(f"{HYPERPARAMETER}: model.onnx takes {sorted(onnx_names)}, the "
                       f"signature {sorted(specs)}")
    outputs = [node.name for node in graph.get_outputs()]
    batches = check_inputs(specs, np.random.default_rng(0))
    for feeds in batches:
        expected = {k: v.numpy() for k, v in signature(**{k: tf.constant(v)
                                                          for k, v in feeds.items()}).items()}
        for name, got in zip(outputs, graph.run(outputs, feeds), strict=True):
            if name not in expected:
                raise JobError(f"{HYPERPARAMETER}: model.onnx output {name!r} is not one of "
                               f"the signature's ({', '.join(expected)})")
            close(name, expected[name], got)
    return sum(len(next(iter(f.values()))) for f in batches)


def keras_to_savedmodel(path: Path, folder: Path) -> None:
    """A Keras file as a SavedModel: Keras 3 when it reads the file, else Keras 2 (tf_keras)."""
    errors = []
    try:
        import keras

        keras.models.load_model(path, compile=False).export(str(folder), verbose=False)
        return
    except Exception as error:  # noqa: BLE001 - Keras 3 reads only its own files
        errors.append(f"Keras 3: {error}")
    try:
        import tf_keras

        tf_keras.models.load_model(path, compile=False).save(str(folder), save_format="tf")
        return
    except Exception as error:  # noqa: BLE001
        errors.append(f"Keras 2: {error}")
    raise JobError(f"{HYPERPARAMETER}: cannot load {path.name}: " + "; ".join(errors))


def sklearn_onnx(path: Path) -> tuple[bytes, int]:
    """skl2onnx's conversion of a pickled estimator, checked against predict/predict_proba."""
    import joblib
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    try:
        estimator = joblib.load(path)
    except Exception as error:  # noqa: BLE001 - any unpickling error names the file
        raise JobError(f"{HYPERPARAMETER}: cannot load {path.name}: {error}") from None
    columns = getattr(estimator, "n_features_in_", None)
    if not hasattr(estimator, "predict") or not isinstance(columns, int):
        raise JobError(f"{HYPERPARAMETER}: {path.name} holds a {type(estimator).__name__}, not "
                       "a fitted scikit-learn estimator")
    classifier = hasattr(estimator, "predict_proba")
    try:
        onnx_model = to_onnx(estimator, initial_types=[("input", FloatTensorType([None, columns]))],
                             options={"zipmap": False} if classifier else None)
    except Exception as error:  # noqa: BLE001 - skl2onnx names the unsupported part
        raise JobError(f"{HYPERPARAMETER}: skl2onnx cannot convert {path.name} "
                       f"({type(estimator).__name__}): {error}") from None
    onnx_bytes = onnx_model.SerializeToString()
    graph = session(onnx_bytes)
    outputs = [node.name for node in graph.get_outputs()]
    batches = check_inputs({"input": ((None, columns), np.float32)}, np.random.default_rng(0))
    for feeds in batches:
        x = feeds["input"]
        expected = [estimator.predict(x)] + ([estimator.predict_proba(x)] if classifier else [])
        for name, want, got in zip(outputs, expected, graph.run(outputs, feeds), strict=True):
            want = np.asarray(want)  # a regressor's (n,) is skl2onnx's (n, 1)
            close(name, want.reshape(got.shape) if want.size == got.size else want, got)
    return onnx_bytes, BATCH * len(batches)


def export(model_dir: Path) -> str:
    """Write model_dir/model.onnx for the model the script saved; the log line saying so."""
    target = model_dir / ONNX
    if target.exists():
        return f"{HYPERPARAMETER}: {target} was written by the script; left as it is"
    kind, path = find(model_dir)
    if kind == "sklearn":
        onnx_bytes, rows = sklearn_onnx(path)
        how = "skl2onnx"
    elif kind == "savedmodel":
        onnx_bytes = savedmodel_onnx(path)
        rows, how = check_savedmodel(path, onnx_bytes), "tf2onnx, serving signature"
    else:
        with tempfile.TemporaryDirectory(prefix="savedmodel-") as scratch:
            keras_to_savedmodel(path, Path(scratch) / "1")
            onnx_bytes = savedmodel_onnx(Path(scratch) / "1")
            rows = check_savedmodel(Path(scratch) / "1", onnx_bytes)
        how = "tf2onnx, through a SavedModel"
    atomic_write(target, onnx_bytes)
    where = path.relative_to(model_dir) if path != model_dir else Path(".")
    return (f"{HYPERPARAMETER}: wrote {target} from {where} ({how}); it agrees with the "
            f"framework's own predictions within {AGREEMENT} on {rows} rows of zeros and "
            "random inputs")
