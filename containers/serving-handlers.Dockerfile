# The handler flavour of the serving image: the lean image plus what inference handlers written
# for SageMaker's framework containers commonly import (pandas, scikit-learn, boto3, requests),
# kept apart so the lean image stays under its 500 MB bound. Built FROM the lean image, as a
# user's own image with their packages would be.
ARG SERVING_IMAGE=penguins-serving:latest
FROM ${SERVING_IMAGE}
COPY containers/requirements-handlers.txt .build/ca-bundle.pe[m] /tmp/build/
RUN if [ -s /tmp/build/ca-bundle.pem ]; then export PIP_CERT=/tmp/build/ca-bundle.pem; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /tmp/build/requirements-handlers.txt \
 && rm -rf /tmp/build
