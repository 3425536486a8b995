##@ Batch transform

# Batch transform (pipeline/transform/job.py, the venv's python for jsonpath-ng): a CreateTransformJob
# request (and its CreateModel, LOCAL_DIR/models/) run as make job runs one; unset values are
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
