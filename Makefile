# Build, run and test the Penguins SageMaker containers locally. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

IMAGE_TAG ?= latest
TRAINING_IMAGE ?= penguins-training:$(IMAGE_TAG)
PROCESSING_IMAGE ?= $(TRAINING_IMAGE)
SERVING_IMAGE ?= penguins-serving:$(IMAGE_TAG)
# The serving image with pandas, scikit-learn, boto3 and requests for inference handlers.
HANDLERS_IMAGE ?= penguins-serving-handlers:$(IMAGE_TAG)
BASE_IMAGE ?= python:3.11-slim-bookworm
# A CA bundle for pip inside builds, for networks that re-sign TLS (corporate proxies).
CA_BUNDLE ?= $(or $(PIP_CERT),$(SSL_CERT_FILE))
DOCKER ?= docker
# Compose v2 where the plugin exists, else the v1 docker-compose binary.
DOCKER_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# The workload: penguins (default) or digits; each has its own data, runs, registry group,
# compose project and endpoint port, so both can run side by side.
WORKLOAD ?= penguins
COMPOSE_PROJECT ?= $(WORKLOAD)
LOCAL_DIR ?= $(CURDIR)/local
PORT_penguins := 8080
PORT_digits := 8081
ENDPOINT_PORT ?= $(or $(PORT_$(WORKLOAD)),8080)
PYTHON ?= python3
VENV ?= .venv
SDK3_VENV ?= .venv-sdk3
PYTEST_ARGS ?=
# Length of the endpoint soak test, in seconds.
SOAK_SECONDS ?= 60

# Hyperparameters of `make train` / `make pipeline`.
EPOCHS ?= 50
BATCH_SIZE ?= 32
LEARNING_RATE ?= 0.01
SEED ?= 42
# Training hosts algo-1 … algo-N: 2 or more train under MultiWorkerMirroredStrategy (README).
INSTANCES ?= 1

BUILD_DIR := .build
COMPOSE = $(DOCKER_COMPOSE) -p $(COMPOSE_PROJECT) -f docker-compose.yml
export TRAINING_IMAGE PROCESSING_IMAGE SERVING_IMAGE HANDLERS_IMAGE LOCAL_DIR ENDPOINT_PORT SOAK_SECONDS
export HOST_UID := $(shell id -u)
export HOST_GID := $(shell id -g)

# Thresholds of the pipeline's condition step on the evaluation accuracy.
ACCURACY_THRESHOLD ?= 0.70
PENDING_THRESHOLD ?= 0.50
MODEL_GROUP ?= $(WORKLOAD)
# `make serve MODEL_VERSION=3` serves that registry version; MODEL_TAR=path serves an archive.
MODEL_VERSION ?=
MODEL_TAR ?=
PING_DEADLINE_SECONDS ?= 60

# The raw input of processing jobs; job runs live in LOCAL_DIR/{processing,training,evaluation}.
DATA_DIR ?= $(LOCAL_DIR)/data/$(WORKLOAD)
# How many runs of each kind are kept; older ones are removed, oldest first.
KEEP_RUNS ?= 20
# Name a run to take as a step's input instead of the newest Completed one.
PROCESSING_JOB ?=
TRAINING_JOB ?=
EVALUATION_JOB ?=
export ENDPOINT_DIR := $(LOCAL_DIR)/endpoint/$(WORKLOAD)
ENDPOINT := $(ENDPOINT_DIR)
# The local model registry (a folder); REGISTRY is the image registry of `make push`.
MODEL_REGISTRY := $(LOCAL_DIR)/registry/$(MODEL_GROUP)
REGISTRY_CLI = $(PYTHON) -m pipeline.registry.models --group-dir $(MODEL_REGISTRY)
# `make approve VERSION=3` / `make reject VERSION=3`; APPROVER is recorded (default: your login).
VERSION ?=
APPROVER ?=
# The endpoint's router and its blue/green colours (pipeline/endpoints/commands.py).
ENDPOINT_CLI = $(PYTHON) -m pipeline.endpoints.commands --compose "$(COMPOSE)" --docker "$(DOCKER)" --endpoint-dir $(ENDPOINT) \
  --port $(ENDPOINT_PORT) --registry $(MODEL_REGISTRY) --ping-deadline $(PING_DEADLINE_SECONDS) \
  --capture-dir $(CAPTURE_DIR) --endpoint-name $(WORKLOAD)-endpoint
# process, train and evaluate build their job's SageMaker request and hand it to the job runner
# (pipeline/jobs/builtin.py, pipeline/api/runner.py): the same path as make job's requests.
JOBS = $(PYTHON) -m pipeline.jobs.steps --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) \
  --processing-image $(PROCESSING_IMAGE) --keep $(KEEP_RUNS)
# Hyperparameter tuning jobs (pipeline/tuning/job.py, Optuna: the test venv's python). TUNING_CONFIG
# is a CreateHyperParameterTuningJob file; TUNING_JOB names a new job or continues a stopped one;
# `make pipeline TUNE=1` tunes in place of the single training job.
TUNING_CONFIG ?= pipeline/tuning/configs/$(WORKLOAD).json
TUNING_JOB ?=
TUNE ?=
TUNING = $(VENV)/bin/python -m pipeline.tuning.job --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
  $(if $(TUNING_JOB),--tuning-job $(TUNING_JOB))

.PHONY: help setup build build-training build-serving build-serving-handlers test test-unit test-contract \
        test-clean lint clean data process train evaluate register pipeline serve stop \
        deploy rollback invoke demo models approve reject push require-registry test-deps bench \
        jobs job describe lock conformance transform baseline model-baseline tune bench-tune \
        monitor-data monitoring traffic ground-truth monitor-model monitor-schedule \
        monitor-schedule-stop update-schedule schedules describe-schedule stop-schedule \
        start-schedule delete-schedule schedule-executions s3 s3-stop env sdk-pipeline executions

help: ## List the targets, by lifecycle stage
	@awk '/^##@ / {printf "\n%s:\n", substr($$0, 5); next} \
	  /^[a-z0-9-]+:.*## / {split($$0, part, ":.*## "); printf "  make %-22s %s\n", part[1], part[2]}' \
	  $(MAKEFILE_LIST)

# One file a lifecycle stage, in the order `make help` lists them.
include make/build.mk
include make/jobs.mk
include make/api.mk
include make/tuning.mk
include make/s3.mk
include make/registry.mk
include make/transform.mk
include make/monitoring.mk
include make/pipelines.mk
include make/test.mk
