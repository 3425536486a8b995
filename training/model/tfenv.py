"""TensorFlow's quiet start-up: import this module before TensorFlow is first imported.

TensorFlow's start-up notices stay out of job logs. The oneDNN one is printed before absl's
logging starts, whatever TF_CPP_MIN_LOG_LEVEL says; only turning oneDNN's custom operations
off silences it, and for a 10-8-3 network they change nothing but float round-off.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
