# Processing, training and evaluation jobs: `train` (the default), `process`, `evaluate`.
# BASE_IMAGE is python:3.11-slim-bookworm or an equivalent Debian bookworm with python3-venv.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# sagemaker-training ships as an sdist with a C extension: the builder needs a compiler and
# Python's headers (Debian's python3-dev only where the base's own Python has none).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
 && include=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])') \
 && if [ ! -f "$include/Python.h" ]; then \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-dev; fi \
 && rm -rf /var/lib/apt/lists/*
# The optional CA bundle (for TLS-re-signing proxies) exists only in this stage; the final
# stage copies the virtualenv alone, so no layer of the image carries it.
# The lock (`make lock`) pins every package with hashes; pip refuses anything else. Only the
# sdist's build requirements (setuptools, wheel, in pip's isolated build env) are not hashed.
COPY containers/requirements-training.txt .build/ca-bundle.pe[m] /tmp/build/
RUN python3 -m venv /opt/venv \
 && if [ -s /tmp/build/ca-bundle.pem ]; then export PIP_CERT=/tmp/build/ca-bundle.pem; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /tmp/build/requirements-training.txt \
 && find /opt/venv -depth -type d -name tests -path '*/site-packages/*/tests' -exec rm -rf {} + \
 && rm -f /opt/venv/bin/train
# Keras 2 for users' scripts (containers/requirements-legacy-keras.in says why --no-deps).
COPY containers/requirements-legacy-keras.txt /tmp/build/
RUN if [ -s /tmp/build/ca-bundle.pem ]; then export PIP_CERT=/tmp/build/ca-bundle.pem; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        --require-hashes -r /tmp/build/requirements-legacy-keras.txt

FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
# Our entrypoints first: sagemaker-training installs a `train` of its own (removed above).
# TF_USE_LEGACY_KERAS=1: tf.keras is Keras 2 (tf_keras) for users' scripts, however they are
# started (our script mode, SDK 3.x's own driver, a processing command); the built-in jobs set it
# back to 0 (training/model/tfenv.py) and keep Keras 3.
# onnxruntime >= 1.29 keeps a device id and uploads usage telemetry unless told not to;
# endpoints and jobs here are offline and often network-isolated.
ENV PATH=/opt/program/bin:/opt/venv/bin:$PATH \
    ORT_DISABLE_TELEMETRY=1 \
    PYTHONPATH=/opt/program \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    TF_USE_LEGACY_KERAS=1
COPY containers/bin/training/ /opt/program/bin/
COPY training/ /opt/program/training/
# tini forwards SIGTERM to the job (which checkpoints) and reaps children.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["train"]
