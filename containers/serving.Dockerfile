# The endpoint: nginx -> uWSGI (pyuwsgi) -> the WSGI app (serving/app.py), started by `serve`. No TensorFlow, no compilers.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# The optional CA bundle exists only in this stage (see training.Dockerfile); the lock pins
# every package with hashes (`make lock`).
COPY containers/requirements-serving.txt .build/ca-bundle.pe[m] /tmp/build/
RUN python3 -m venv /opt/venv \
 && if [ -s /tmp/build/ca-bundle.pem ]; then export PIP_CERT=/tmp/build/ca-bundle.pem; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /tmp/build/requirements-serving.txt \
 && /opt/venv/bin/pip uninstall -y setuptools >/dev/null 2>&1 || true
# pip stays: `serve` installs an inference handler's code/requirements.txt at start.

FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light tini \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
COPY --from=builder /opt/venv /opt/venv
# onnxruntime >= 1.29 keeps a device id and uploads usage telemetry unless told not to;
# endpoints and jobs here are offline and often network-isolated.
ENV PATH=/opt/program/bin:/opt/venv/bin:$PATH \
    ORT_DISABLE_TELEMETRY=1 \
    PYTHONPATH=/opt/program \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
EXPOSE 8080
COPY containers/bin/serving/ /opt/program/bin/
COPY nginx/ /opt/program/nginx/
COPY serving/ /opt/program/serving/
# The one tar extraction, for the multi-model endpoint's archives (it imports only the stdlib).
COPY training/__init__.py /opt/program/training/
COPY training/contract/__init__.py training/contract/archive.py /opt/program/training/contract/
ENTRYPOINT ["/opt/program/bin/entrypoint"]
CMD ["serve"]
