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
ENDPOINT_CLI = $(PYTHON) -m pipeline.endpoints.commands --compose "$(COMPOSE)" --endpoint-dir $(ENDPOINT) \
  --port $(ENDPOINT_PORT) --registry $(MODEL_REGISTRY) --ping-deadline $(PING_DEADLINE_SECONDS) \
  --capture-dir $(CAPTURE_DIR) --endpoint-name $(WORKLOAD)-endpoint
JOBS = $(PYTHON) -m pipeline.jobs.steps --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS)
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
        jobs lock conformance transform baseline model-baseline tune bench-tune \
        monitor-data monitoring traffic ground-truth monitor-model monitor-schedule \
        monitor-schedule-stop

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*## "} {printf "  make %-16s %s\n", $$1, $$2}'

setup: ## Docker engine and base image (installs them where it can; fast when done)
	@containers/setup.sh engine
	@containers/setup.sh base $(BASE_IMAGE) $(BUILD_DIR)/base-image
	@if [ -n "$(CA_BUNDLE)" ] && [ -s "$(CA_BUNDLE)" ]; then \
	   cmp -s "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem || cp "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem; \
	 else : > $(BUILD_DIR)/ca-bundle.pem; fi

build: build-training build-serving build-serving-handlers ## Build the training/processing and serving images

# Build logs go to a file (its end printed on failure) so the job output stays readable;
# progress.sh prints each build step as it starts, with the seconds since the build began.
build-training: setup
	@containers/progress.sh $(BUILD_DIR)/build-training.log $(TRAINING_IMAGE) \
	  $(DOCKER) build -f containers/training.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(TRAINING_IMAGE) .
	@if [ "$(PROCESSING_IMAGE)" != "$(TRAINING_IMAGE)" ]; then \
	   $(DOCKER) tag $(TRAINING_IMAGE) $(PROCESSING_IMAGE) && echo "tagged $(PROCESSING_IMAGE)"; fi

build-serving: setup
	@containers/progress.sh $(BUILD_DIR)/build-serving.log $(SERVING_IMAGE) \
	  $(DOCKER) build -f containers/serving.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(SERVING_IMAGE) .

build-serving-handlers: build-serving ## The serving image's handler flavour (HANDLERS_IMAGE)
	@containers/progress.sh $(BUILD_DIR)/build-serving-handlers.log $(HANDLERS_IMAGE) \
	  $(DOCKER) build -f containers/serving-handlers.Dockerfile \
	  --build-arg SERVING_IMAGE=$(SERVING_IMAGE) -t $(HANDLERS_IMAGE) .

data: build-training ## Put the workload's offline data in DATA_DIR (penguins: palmerpenguins' CSV)
	@mkdir -p $(DATA_DIR)
	@$(DOCKER) run --rm --network none --user $(HOST_UID):$(HOST_GID) -v $(DATA_DIR):/data \
	  --entrypoint python $(PROCESSING_IMAGE) -m training.jobs.dataset --workload $(WORKLOAD) /data

# Every job run gets its own name and folder under LOCAL_DIR/<kind>/ (see pipeline/jobs/steps.py);
# a step takes the newest Completed run of the step before, or the one named.
process: data ## Processing job on DATA_DIR: split, fit the feature transformers (SEED)
	@$(JOBS) process --data $(DATA_DIR) --seed $(SEED)

train: build-training ## Training job (EPOCHS, BATCH_SIZE, LEARNING_RATE, SEED; PROCESSING_JOB; INSTANCES hosts)
	@$(JOBS) train $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB)) \
	  --hyperparameter epochs=$(EPOCHS) --hyperparameter batch_size=$(BATCH_SIZE) \
	  --hyperparameter learning_rate=$(LEARNING_RATE) --hyperparameter seed=$(SEED) \
	  --instances="$(INSTANCES)"

evaluate: build-training ## Evaluation job on the test split (TRAINING_JOB: which model)
	@$(JOBS) evaluate $(if $(TRAINING_JOB),--training-job $(TRAINING_JOB))

baseline: build-training ## Data-quality baseline job: statistics.json, constraints.json of the processing run's training data (PROCESSING_JOB)
	@$(PYTHON) -m pipeline.monitoring.baseline --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB))

model-baseline: build-training ## Model-quality baseline job on a transform run's joined ground truth and predictions (TRANSFORM_JOB)
	@$(PYTHON) -m pipeline.monitoring.baseline --model-quality --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  $(if $(TRANSFORM_JOB),--transform-job $(TRANSFORM_JOB))

# Data-quality monitoring (pipeline/monitoring/dataquality.py): the capture folder of the endpoint, a window
# START/END (ISO 8601, default the last hour), BASELINE_JOB (default: the served version's
# baseline, else the newest), PREPROCESSOR (a record preprocessor script).
CAPTURE_DIR ?= $(LOCAL_DIR)/capture/$(WORKLOAD)
MONITORING = $(PYTHON) -m pipeline.monitoring.dataquality --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS)

monitor-data: build-training ## Data-quality monitoring job over captured traffic (CAPTURE_DIR, START, END, BASELINE_JOB, PREPROCESSOR)
	@$(MONITORING) run --capture $(CAPTURE_DIR) --registry $(MODEL_REGISTRY) \
	  --endpoint-dir $(ENDPOINT_DIR) $(if $(START),--start $(START)) $(if $(END),--end $(END)) \
	  $(if $(BASELINE_JOB),--baseline-job $(BASELINE_JOB)) \
	  $(if $(PREPROCESSOR),--preprocessor $(PREPROCESSOR))

monitoring: ## List monitoring runs with their violation counts
	@$(MONITORING) list

# Model quality (pipeline/monitoring/groundtruth.py, pipeline/monitoring/modelquality.py): ground truth for captured
# requests in GROUND_TRUTH_DIR (TRAFFIC_RUN's true labels; RANDOM=1 random, WRONG=1 wrong ones),
# merged with the captured predictions against a model-quality baseline (BASELINE_JOB, else the
# served version's, else the newest make model-baseline run).
GROUND_TRUTH_DIR ?= $(LOCAL_DIR)/ground-truth/$(WORKLOAD)
ground-truth: ## Ground truth for captured requests (TRAFFIC_RUN; RANDOM=1 random labels, WRONG=1 wrong ones)
	@$(PYTHON) -m pipeline.monitoring.groundtruth --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --out $(GROUND_TRUTH_DIR) --capture $(CAPTURE_DIR) $(if $(TRAFFIC_RUN),--traffic-run $(TRAFFIC_RUN)) \
	  $(if $(filter 1,$(RANDOM)),--random) $(if $(filter 1,$(WRONG)),--wrong)

monitor-model: build-training ## Model-quality monitoring job: captured predictions with ground truth (START, END, BASELINE_JOB)
	@$(PYTHON) -m pipeline.monitoring.modelquality --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  --capture $(CAPTURE_DIR) --ground-truth $(GROUND_TRUTH_DIR) --registry $(MODEL_REGISTRY) \
	  --endpoint-dir $(ENDPOINT_DIR) $(if $(START),--start $(START)) $(if $(END),--end $(END)) \
	  $(if $(BASELINE_JOB),--baseline-job $(BASELINE_JOB))

# The monitoring schedule (pipeline/monitoring/schedule.py): the compose `monitor` service runs both
# monitors every MONITOR_INTERVAL seconds over the window just ended (MONITOR_WINDOW seconds).
MONITOR_INTERVAL ?= 3600
MONITOR_WINDOW ?=
SCHEDULE = $(PYTHON) -m pipeline.monitoring.schedule --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS)

monitor-schedule: build-training ## Start the monitoring schedule: both monitors every MONITOR_INTERVAL s (default hourly)
	@$(SCHEDULE) start --capture $(CAPTURE_DIR) --ground-truth $(GROUND_TRUTH_DIR) \
	  --registry $(MODEL_REGISTRY) --endpoint-dir $(ENDPOINT_DIR) --interval $(MONITOR_INTERVAL) \
	  $(if $(MONITOR_WINDOW),--window $(MONITOR_WINDOW))

monitor-schedule-stop: ## Stop the monitoring schedule (its executions stay listed by make monitoring)
	@$(SCHEDULE) stop

# Traffic for the monitors (pipeline/monitoring/traffic.py): N real records of the newest Completed
# processing run's test split (PROCESSING_JOB) to the running endpoint, each with an inference id;
# SHIFT="feature=+amount,feature=*factor" moves numeric features (Digits: pixels=*0.5) for drift.
N ?= 100
SHIFT ?=
traffic: ## Send N real test-split requests to the endpoint with inference ids (SHIFT: drift)
	@$(PYTHON) -m pipeline.monitoring.traffic --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --port $(ENDPOINT_PORT) --count "$(N)" --keep $(KEEP_RUNS) \
	  $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB)) $(if $(SHIFT),--shift '$(SHIFT)')

tune: build-training $(VENV)/.installed ## Hyperparameter tuning job (TUNING_CONFIG, default pipeline/tuning/configs/WORKLOAD.json; TUNING_JOB: name or continue one; PROCESSING_JOB)
	@$(TUNING) tune --config $(TUNING_CONFIG) $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB))

register: ## Condition + register an evaluated model (ACCURACY_THRESHOLD, PENDING_THRESHOLD; EVALUATION_JOB)
	@$(JOBS) register --registry $(MODEL_REGISTRY) \
	  $(if $(EVALUATION_JOB),--evaluation-job $(EVALUATION_JOB)) \
	  --approve-at $(ACCURACY_THRESHOLD) --pending-at $(PENDING_THRESHOLD)

# Batch transform (pipeline/transform/job.py, the venv's python for jsonpath-ng): unset values are
# the container's /execution-parameters; the DataProcessing defaults are the program's for the
# default input (the test split), SageMaker's ($, None, $) for a TRANSFORM_INPUT you give.
TRANSFORM_INPUT ?=
TRANSFORM_CONTENT_TYPE ?= text/csv
TRANSFORM_ACCEPT ?= text/csv
TRANSFORM_BATCH_STRATEGY ?=
TRANSFORM_MAX_PAYLOAD_MB ?=
TRANSFORM_MAX_CONCURRENT ?=
TRANSFORM_INPUT_FILTER ?=
TRANSFORM_JOIN_SOURCE ?=
TRANSFORM_OUTPUT_FILTER ?=
# 1: the model of the newest Completed training run (TRAINING_JOB), as make pipeline does.
TRANSFORM_FROM_TRAINING ?=
transform: build-serving $(VENV)/.installed ## Batch transform job: the test split (or TRANSFORM_INPUT) through the model (MODEL_VERSION, MODEL_TAR)
	@$(VENV)/bin/python -m pipeline.transform.job --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --registry $(MODEL_REGISTRY) --image $(SERVING_IMAGE) --docker "$(DOCKER)" \
	  --compose-project $(COMPOSE_PROJECT) --keep $(KEEP_RUNS) --ping-deadline $(PING_DEADLINE_SECONDS) \
	  --content-type '$(TRANSFORM_CONTENT_TYPE)' --accept '$(TRANSFORM_ACCEPT)' \
	  $(if $(MODEL_TAR),--model-tar "$(MODEL_TAR)") $(if $(MODEL_VERSION),--model-version "$(MODEL_VERSION)") \
	  $(if $(TRANSFORM_INPUT),--input "$(TRANSFORM_INPUT)") $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB)) \
	  $(if $(TRANSFORM_FROM_TRAINING),--from-training $(if $(TRAINING_JOB),--training-job $(TRAINING_JOB))) \
	  $(if $(TRANSFORM_BATCH_STRATEGY),--batch-strategy $(TRANSFORM_BATCH_STRATEGY)) \
	  $(if $(TRANSFORM_MAX_PAYLOAD_MB),--max-payload-mb $(TRANSFORM_MAX_PAYLOAD_MB)) \
	  $(if $(TRANSFORM_MAX_CONCURRENT),--max-concurrent $(TRANSFORM_MAX_CONCURRENT)) \
	  $(if $(value TRANSFORM_INPUT_FILTER),--input-filter '$(value TRANSFORM_INPUT_FILTER)') \
	  $(if $(TRANSFORM_JOIN_SOURCE),--join-source $(TRANSFORM_JOIN_SOURCE)) \
	  $(if $(value TRANSFORM_OUTPUT_FILTER),--output-filter '$(value TRANSFORM_OUTPUT_FILTER)')

jobs: ## List the job runs, newest first (name, kind, status, duration, key metric)
	@$(JOBS) list

models: ## List the registered model versions (status, accuracy, training run)
	@$(REGISTRY_CLI) list

approve: ## Approve a registered version: make approve VERSION=N (APPROVER: who, default you)
	@test -n "$(VERSION)" || { echo "usage: make approve VERSION=N" >&2; exit 1; }
	@$(REGISTRY_CLI) approve --version "$(VERSION)" $(if $(APPROVER),--by "$(APPROVER)")

reject: ## Reject a registered version: make reject VERSION=N (APPROVER: who, default you)
	@test -n "$(VERSION)" || { echo "usage: make reject VERSION=N" >&2; exit 1; }
	@$(REGISTRY_CLI) reject --version "$(VERSION)" $(if $(APPROVER),--by "$(APPROVER)")

pipeline: ## process -> train (TUNE=1: tune, evaluate the 2 best) -> evaluate -> baselines (data; transform -> model quality) -> condition -> register
	@$(MAKE) --no-print-directory process
ifeq ($(TUNE),)
	@$(MAKE) --no-print-directory train
	@$(MAKE) --no-print-directory evaluate
else
	@$(MAKE) --no-print-directory tune
	@$(TUNING) evaluate-best
endif
	@$(MAKE) --no-print-directory baseline
	@$(MAKE) --no-print-directory transform TRANSFORM_FROM_TRAINING=1 \
	  $(if $(TUNE),TRAINING_JOB=$$($(TUNING) chosen --field training))
	@$(MAKE) --no-print-directory model-baseline
	@$(MAKE) --no-print-directory register \
	  $(if $(TUNE),EVALUATION_JOB=$$($(TUNING) chosen --field evaluation))

serve: build-serving ## Endpoint on localhost:ENDPOINT_PORT (latest Approved version; MODEL_VERSION, MODEL_TAR)
	@$(ENDPOINT_CLI) serve $(if $(MODEL_TAR),--model-tar "$(MODEL_TAR)") \
	  $(if $(MODEL_VERSION),--version "$(MODEL_VERSION)")

deploy: ## Blue/green: the newest Approved version onto the running endpoint, no failed request
	@$(ENDPOINT_CLI) deploy

rollback: ## Blue/green back to the version deployed before
	@$(ENDPOINT_CLI) rollback

stop: ## Stop the endpoint
	@$(ENDPOINT_CLI) stop

invoke: ## POST the served model's sample (a real test record, sample.json) to the endpoint
	@$(ENDPOINT_CLI) invoke

demo: ## The whole job: pipeline, serve, then a real prediction
	@$(MAKE) --no-print-directory pipeline
	@$(MAKE) --no-print-directory serve
	@echo "prediction for the model's sample, a real record of its test split:"
	@$(MAKE) --no-print-directory invoke

# ECR: <account>.dkr.ecr.<region>.amazonaws.com[/prefix]; anything else is a plain registry.
REGISTRY ?=
ECR_PATTERN := ^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com
repository = $(firstword $(subst :, ,$(1)))

require-registry:
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host[:port][/prefix]" >&2; exit 1; }

push: require-registry build ## Tag and push the images to REGISTRY (ECR: logs in, creates repositories)
	@host=$$(echo "$(REGISTRY)" | cut -d/ -f1); \
	 if echo "$$host" | grep -Eq '$(ECR_PATTERN)'; then \
	   region=$$(echo "$$host" | cut -d. -f4); \
	   command -v aws >/dev/null || { echo "pushing to ECR needs the AWS CLI (aws)" >&2; exit 1; }; \
	   aws ecr get-login-password --region $$region \
	     | $(DOCKER) login --username AWS --password-stdin $$host || exit 1; \
	   prefix=$$(echo "$(REGISTRY)" | cut -s -d/ -f2-); \
	   for image in $(call repository,$(TRAINING_IMAGE)) $(call repository,$(SERVING_IMAGE)); do \
	     repo=$${prefix:+$$prefix/}$$image; \
	     aws ecr describe-repositories --region $$region --repository-names $$repo >/dev/null 2>&1 \
	       || aws ecr create-repository --region $$region --repository-name $$repo >/dev/null \
	       || exit 1; \
	   done; \
	 fi
	@for image in $(TRAINING_IMAGE) $(SERVING_IMAGE); do \
	   remote=$(REGISTRY)/$$image; \
	   $(DOCKER) tag $$image $$remote && $(DOCKER) push -q $$remote >/dev/null || exit 1; \
	   echo "pushed $$remote"; \
	 done

# The test environment is the dev lock, which holds every package of both images too.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

# SDK 3.x cannot share the test venv with SDK 2.x (tests/sdk3 run in this one, after the rest).
$(SDK3_VENV)/.installed: requirements-sdk3.txt
	$(PYTHON) -m venv $(SDK3_VENV)
	$(SDK3_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-sdk3.txt
	touch $@

# Locks: every package pinned with hashes, resolved for the images' platform (Linux x86_64,
# CPython 3.11 of Debian bookworm) from PyPI only (uv reads no pip configuration). The dev lock
# is resolved first and constrains the image locks, so tests run the images' versions.
# LOCK_ARGS=--upgrade re-resolves everything; --upgrade-package NAME one package.
UV_VERSION := 0.13.8
LOCK_VENV := $(BUILD_DIR)/lock-venv
LOCK_ARGS ?=
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --no-config --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 $(LOCK_ARGS)

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

lock: $(LOCK_VENV)/bin/uv ## Pin every dependency with hashes from the .in files (LOCK_ARGS=--upgrade)
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) containers/requirements-training.in -c requirements-dev.txt \
	  -o containers/requirements-training.txt
	$(UV_COMPILE) containers/requirements-serving.in -c requirements-dev.txt \
	  -o containers/requirements-serving.txt
	$(UV_COMPILE) containers/requirements-handlers.in -c containers/requirements-serving.txt \
	  -c requirements-dev.txt -o containers/requirements-handlers.txt
	$(UV_COMPILE) requirements-sdk3.in -o requirements-sdk3.txt

# The push test needs a real registry on localhost: Debian's docker-registry, where apt can.
test-deps:
	@containers/setup.sh test-deps

# tests/sdk3 (SDK 3.x) run after the rest in their own venv; the first failure's code is kept.
# Its exit 5 (no test selected) fails too, unless PYTEST_ARGS (-k ...) selected elsewhere.
SDK3_TESTS = $(SDK3_VENV)/bin/python -m pytest $(1) $(PYTEST_ARGS) tests/sdk3 \
  || { code=$$?; if [ $$code -ne 5 ] || [ -z "$(strip $(PYTEST_ARGS))" ]; then \
         [ $$status -ne 0 ] || status=$$code; fi; }

test: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Unit tests, then contract tests against the freshly built images (SDK 2.x, then SDK 3.x)
	@status=0; \
	 $(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests/unit tests/contract || status=$$?; \
	 $(call SDK3_TESTS); \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

test-unit: $(VENV)/.installed ## Only the in-process tests (no Docker)
	$(VENV)/bin/python -m pytest -m "unit or training or pipeline" $(PYTEST_ARGS) tests

test-contract: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Only the contract tests against the images
	@status=0; \
	 $(VENV)/bin/python -m pytest -m contract $(PYTEST_ARGS) tests || status=$$?; \
	 $(call SDK3_TESTS,-m contract); \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

# Your own image and model, before you push them: the workload-independent hosting checks of
# tests/contract/test_conformance.py (ping = ready, a sample invocation, JSON 4xx on junk,
# /execution-parameters, SIGTERM drain, no worker running as root).
SAMPLE ?=
SAMPLE_CONTENT_TYPE ?= application/json
conformance: test-deps $(VENV)/.installed ## Check SERVING_IMAGE with MODEL_TAR against the hosting contract (SAMPLE=file)
	@test -n "$(MODEL_TAR)" || { echo "usage: make conformance SERVING_IMAGE=image MODEL_TAR=path/model.tar.gz [SAMPLE=request-body-file SAMPLE_CONTENT_TYPE=type]" >&2; exit 1; }
	@test -f "$(MODEL_TAR)" || { echo "MODEL_TAR=$(MODEL_TAR): no such file" >&2; exit 1; }
	@$(DOCKER) image inspect $(SERVING_IMAGE) >/dev/null 2>&1 \
	  || { echo "SERVING_IMAGE=$(SERVING_IMAGE): no such image here; build or pull it first" >&2; exit 1; }
	@status=0; \
	 CONFORMANCE_MODEL_TAR=$(abspath $(MODEL_TAR)) CONFORMANCE_SAMPLE=$(if $(SAMPLE),$(abspath $(SAMPLE))) \
	 CONFORMANCE_SAMPLE_CONTENT_TYPE="$(SAMPLE_CONTENT_TYPE)" \
	   $(VENV)/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests/contract/test_conformance.py \
	   || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

# Removes only what tests started: containers labelled by the test suite, the compose project
# of the make-target tests, and the SDK's network.
TEST_COMPOSE_PROJECT := penguinstest
test-clean:
	@ids=$$($(DOCKER) ps -aq --filter label=penguins.test; \
	   $(DOCKER) ps -aq --filter label=com.docker.compose.project=$(TEST_COMPOSE_PROJECT)); \
	 if [ -n "$$ids" ]; then $(DOCKER) rm -f $$ids >/dev/null; fi
	@nets=$$($(DOCKER) network ls -q --filter label=penguins.test; \
	   $(DOCKER) network ls -q --filter label=com.docker.compose.project=$(TEST_COMPOSE_PROJECT); \
	   $(DOCKER) network ls -q --filter name=^sagemaker-local$$); \
	 if [ -n "$$nets" ]; then $(DOCKER) network rm $$nets >/dev/null || true; fi

bench: build test-deps $(VENV)/.installed ## Endpoint speed, cold start, size, memory -> local/bench.json
	@status=0; \
	 $(VENV)/bin/python tests/bench.py --out $(LOCAL_DIR)/bench.json || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

# The same trials (the default file, Random with one seed) one at a time, then two at a time.
bench-tune: build-training $(VENV)/.installed ## Wall time of the tuning job (TUNING_CONFIG) with 1 and 2 parallel trials -> local/bench-tune.json
	@$(MAKE) --no-print-directory process
	@$(VENV)/bin/python -m pipeline.tuning.bench --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  --config $(TUNING_CONFIG) --out $(LOCAL_DIR)/bench-tune.json

lint: $(VENV)/.installed ## ruff over the Python code
	$(VENV)/bin/ruff check training serving pipeline tests

clean: ## Remove the project's containers, every job run, the endpoint's model and .build (keeps data and registry)
	-@$(COMPOSE) down --remove-orphans >/dev/null 2>&1
	@$(MAKE) --no-print-directory test-clean
	@$(JOBS) clean
	rm -rf $(LOCAL_DIR)/endpoint $(LOCAL_DIR)/bench.json $(BUILD_DIR)
	@echo "removed containers, job runs and the endpoint's model under $(LOCAL_DIR); kept $(LOCAL_DIR)/data and $(LOCAL_DIR)/registry"
