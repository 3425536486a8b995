"""TensorFlow's quiet start-up: import this module before TensorFlow is first imported.

TensorFlow's start-up notices stay out of job logs. The oneDNN one is printed before absl's
logging starts, whatever TF_CPP_MIN_LOG_LEVEL says; only turning oneDNN's custom operations
off silences it, and for a 10-8-3 network they change nothing but float round-off.

The image sets TF_USE_LEGACY_KERAS=1 for users' scripts (Keras 2 as tf.keras); the built-in
jobs are written for Keras 3, so they set it back before TensorFlow reads it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ["TF_USE_LEGACY_KERAS"] = "0"
