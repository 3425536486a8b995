# Build, run and test the Penguins SageMaker containers locally. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

IMAGE_TAG ?= latest
TRAINING_IMAGE ?= penguins-training:$(IMAGE_TAG)
PROCESSING_IMAGE ?= $(TRAINING_IMAGE)
SERVING_IMAGE ?= penguins-serving:$(IMAGE_TAG)
BASE_IMAGE ?= python:3.11-slim-bookworm
# A CA bundle for pip inside builds, for networks that re-sign TLS (corporate proxies).
CA_BUNDLE ?= $(or $(PIP_CERT),$(SSL_CERT_FILE))
DOCKER ?= docker
# Compose v2 where the plugin exists, else the v1 docker-compose binary.
DOCKER_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_PROJECT ?= penguins
LOCAL_DIR ?= $(CURDIR)/local
ENDPOINT_PORT ?= 8080
PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
# Length of the endpoint soak test, in seconds.
SOAK_SECONDS ?= 60

# Hyperparameters of `make train` / `make pipeline`.
EPOCHS ?= 50
BATCH_SIZE ?= 32
LEARNING_RATE ?= 0.01
SEED ?= 42

BUILD_DIR := .build
COMPOSE = $(DOCKER_COMPOSE) -p $(COMPOSE_PROJECT) -f docker-compose.yml
export TRAINING_IMAGE PROCESSING_IMAGE SERVING_IMAGE LOCAL_DIR ENDPOINT_PORT SOAK_SECONDS
export HOST_UID := $(shell id -u)
export HOST_GID := $(shell id -g)

# Thresholds of the pipeline's condition step on the evaluation accuracy.
ACCURACY_THRESHOLD ?= 0.70
PENDING_THRESHOLD ?= 0.50
MODEL_GROUP ?= penguins
# `make serve MODEL_VERSION=3` serves that registry version; MODEL_TAR=path serves an archive.
MODEL_VERSION ?=
MODEL_TAR ?=
PING_DEADLINE_SECONDS ?= 60

PROC := $(LOCAL_DIR)/processing
TRAIN := $(LOCAL_DIR)/training
EVAL := $(LOCAL_DIR)/evaluation
ENDPOINT := $(LOCAL_DIR)/endpoint
# The local model registry (a folder); REGISTRY is the image registry of `make push`.
MODEL_REGISTRY := $(LOCAL_DIR)/registry/$(MODEL_GROUP)
ENDPOINT_URL := http://localhost:$(ENDPOINT_PORT)

.PHONY: help setup build build-training build-serving test test-unit test-contract \
        test-clean lint clean data process train evaluate register pipeline serve stop \
        invoke demo models push require-registry test-deps bench

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*## "} {printf "  make %-16s %s\n", $$1, $$2}'

setup: ## Docker engine and base image (installs them where it can; fast when done)
	@containers/setup.sh engine
	@containers/setup.sh base $(BASE_IMAGE) $(BUILD_DIR)/base-image
	@if [ -n "$(CA_BUNDLE)" ] && [ -s "$(CA_BUNDLE)" ]; then \
	   cmp -s "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem || cp "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem; \
	 else : > $(BUILD_DIR)/ca-bundle.pem; fi

build: build-training build-serving ## Build the training/processing and serving images

# Build logs go to a file (printed on failure) so the job output stays readable.
build-training: setup
	@$(DOCKER) build -f containers/training.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(TRAINING_IMAGE) . \
	  > $(BUILD_DIR)/build-training.log 2>&1 \
	  || { tail -n 40 $(BUILD_DIR)/build-training.log; exit 1; }
	@if [ "$(PROCESSING_IMAGE)" != "$(TRAINING_IMAGE)" ]; then \
	   $(DOCKER) tag $(TRAINING_IMAGE) $(PROCESSING_IMAGE); fi
	@echo "built $(TRAINING_IMAGE) (processing: $(PROCESSING_IMAGE))"

build-serving: setup
	@$(DOCKER) build -f containers/serving.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(SERVING_IMAGE) . \
	  > $(BUILD_DIR)/build-serving.log 2>&1 \
	  || { tail -n 40 $(BUILD_DIR)/build-serving.log; exit 1; }
	@echo "built $(SERVING_IMAGE)"

data: build-training ## Put the palmerpenguins dataset in the processing input (if none there)
	@mkdir -p $(PROC)/processing/input $(PROC)/output
	@$(COMPOSE) run --rm --entrypoint python processing -m training.dataset /opt/ml/processing/input

process: data ## Processing job: split, fit the feature transformers
	@mkdir -p $(PROC)/processing/{train,validation,test,pipeline,baseline} $(PROC)/output
	@rm -f $(PROC)/output/message
	$(COMPOSE) run --rm processing --seed $(SEED)
	@echo "processing outputs: $(PROC)/processing/{train,validation,test,pipeline,baseline}"

# SageMaker gives every training job an empty /opt/ml/model and no checkpoints unless asked.
train: build-training ## Training job (EPOCHS, BATCH_SIZE, LEARNING_RATE, SEED)
	@test -n "$$(ls $(PROC)/processing/train/*.csv 2>/dev/null)" \
	  || { echo "no training data in $(PROC)/processing/train: run make process first" >&2; exit 1; }
	@rm -rf $(TRAIN)/model $(TRAIN)/checkpoints $(TRAIN)/output/failure
	@mkdir -p $(TRAIN)/input/config $(TRAIN)/input/data/{train,validation,pipeline} \
	  $(TRAIN)/model $(TRAIN)/checkpoints $(TRAIN)/output/data
	@printf '{"epochs": "%s", "batch_size": "%s", "learning_rate": "%s", "seed": "%s"}\n' \
	  '$(EPOCHS)' '$(BATCH_SIZE)' '$(LEARNING_RATE)' '$(SEED)' \
	  > $(TRAIN)/input/config/hyperparameters.json
	@printf '{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}\n' \
	  > $(TRAIN)/input/config/resourceconfig.json
	@printf '{"%s": {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}' \
	  train validation pipeline | sed 's/}}{/}, /g' > $(TRAIN)/input/config/inputdataconfig.json
	$(COMPOSE) run --rm training
	@echo "model: $(TRAIN)/output/model.tar.gz (contents: $(TRAIN)/model)"

evaluate: build-training ## Evaluation job on the test split and the trained model
	@test -f $(TRAIN)/output/model.tar.gz \
	  || { echo "no $(TRAIN)/output/model.tar.gz: run make train first" >&2; exit 1; }
	@mkdir -p $(EVAL)/processing/{test,model,evaluation} $(EVAL)/output
	@rm -f $(EVAL)/output/message
	$(COMPOSE) run --rm evaluation
	@echo "evaluation: $(EVAL)/processing/evaluation/evaluation.json and confusion-matrix.png"

register: ## Condition + register the evaluated model (ACCURACY_THRESHOLD, PENDING_THRESHOLD)
	@$(PYTHON) training/registry.py --group-dir $(MODEL_REGISTRY) register \
	  --model $(TRAIN)/output/model.tar.gz \
	  --evaluation $(EVAL)/processing/evaluation/evaluation.json \
	  --hyperparameters $(TRAIN)/input/config/hyperparameters.json \
	  --approve-at $(ACCURACY_THRESHOLD) --pending-at $(PENDING_THRESHOLD)

models: ## List the registered model versions
	@$(PYTHON) training/registry.py --group-dir $(MODEL_REGISTRY) list

pipeline: ## process -> train -> evaluate -> condition -> register
	@$(MAKE) --no-print-directory process
	@$(MAKE) --no-print-directory train
	@$(MAKE) --no-print-directory evaluate
	@$(MAKE) --no-print-directory register

serve: build-serving ## Endpoint on localhost:ENDPOINT_PORT (latest Approved version)
	@tar=$(MODEL_TAR); \
	 if [ -z "$$tar" ]; then \
	   tar=$$($(PYTHON) training/registry.py --group-dir $(MODEL_REGISTRY) resolve \
	     $(if $(MODEL_VERSION),--version $(MODEL_VERSION))) || exit 1; \
	 fi; \
	 test -f "$$tar" || { echo "no model archive $$tar" >&2; exit 1; }; \
	 rm -rf $(ENDPOINT)/model && mkdir -p $(ENDPOINT)/model && tar -xzf "$$tar" -C $(ENDPOINT)/model \
	 && echo "serving $$tar (extracted into $(ENDPOINT)/model)"
	@$(COMPOSE) up -d --force-recreate endpoint
	@deadline=$$((SECONDS + $(PING_DEADLINE_SECONDS))); \
	 until [ "$$(curl -s -o /dev/null -w '%{http_code}' $(ENDPOINT_URL)/ping)" = 200 ]; do \
	   if [ $$SECONDS -ge $$deadline ] || [ -z "$$($(COMPOSE) ps -q endpoint)" ]; then \
	     echo "the endpoint did not become healthy within $(PING_DEADLINE_SECONDS)s:" >&2; \
	     $(COMPOSE) logs --tail 20 endpoint >&2; exit 1; fi; \
	   sleep 0.2; done
	@echo "endpoint ready: $(ENDPOINT_URL)/invocations (make invoke; make stop)"

stop: ## Stop the endpoint
	$(COMPOSE) down --remove-orphans

invoke: ## POST a sample penguin to the running endpoint
	@curl -sS --fail-with-body -X POST $(ENDPOINT_URL)/invocations \
	  -H 'Content-Type: application/json' -H 'Accept: application/json' \
	  -d '{"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0, "flipper_length_mm": 230, "body_mass_g": 5800, "sex": "male"}'
	@echo

demo: ## The whole job: pipeline, serve, then a real prediction
	@$(MAKE) --no-print-directory pipeline
	@$(MAKE) --no-print-directory serve
	@echo "prediction for a Gentoo-like penguin from Biscoe:"
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

$(VENV)/.installed: requirements-dev.txt containers/requirements-training.txt containers/requirements-serving.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The push test needs a real registry on localhost: Debian's docker-registry, where apt can.
test-deps:
	@containers/setup.sh test-deps

test: build test-deps $(VENV)/.installed ## Unit tests, then contract tests against the freshly built images
	@status=0; \
	 $(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests/unit tests/contract || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

test-unit: $(VENV)/.installed ## Only the in-process tests (no Docker)
	$(VENV)/bin/python -m pytest -m "unit or training" $(PYTEST_ARGS) tests

test-contract: build test-deps $(VENV)/.installed ## Only the contract tests against the images
	@status=0; \
	 $(VENV)/bin/python -m pytest -m contract $(PYTEST_ARGS) tests || status=$$?; \
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

lint: $(VENV)/.installed ## ruff over the Python code
	$(VENV)/bin/ruff check training serving tests

clean: ## Remove the project's containers and local job folders (not your data or other images)
	-@$(COMPOSE) down --remove-orphans >/dev/null 2>&1
	@$(MAKE) --no-print-directory test-clean
	rm -rf $(LOCAL_DIR)/processing/processing/{train,validation,test,pipeline,baseline} \
	  $(LOCAL_DIR)/processing/output $(LOCAL_DIR)/training $(LOCAL_DIR)/evaluation \
	  $(LOCAL_DIR)/endpoint $(LOCAL_DIR)/bench.json $(BUILD_DIR)
	@echo "removed containers and job outputs under $(LOCAL_DIR); kept $(LOCAL_DIR)/processing/processing/input and $(LOCAL_DIR)/registry"
