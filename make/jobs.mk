##@ Process, train, evaluate

data: build-training ## Put the workload's offline data in DATA_DIR (penguins: palmerpenguins' CSV)
	@mkdir -p $(DATA_DIR)
	@$(DOCKER) run --rm --network none --user $(HOST_UID):$(HOST_GID) -v $(DATA_DIR):/data \
	  --entrypoint python $(PROCESSING_IMAGE) -m training.jobs.dataset --workload $(WORKLOAD) /data

# Every job run gets its own name and folder under LOCAL_DIR/<kind>/ (see pipeline/jobs/steps.py);
# a step takes the newest Completed run of the step before, or the one named.
# Script mode (docs/jobs.md): your own processing or evaluation script (SCRIPT, EVALUATION_SCRIPT,
# with ARGUMENTS) or training entry point (ENTRY_POINT in SOURCE_DIR) in place of the built-ins.
SCRIPT ?=
EVALUATION_SCRIPT ?=
ARGUMENTS ?=
ENTRY_POINT ?=
SOURCE_DIR ?=
# EXPORT_ONNX=true: model.onnx beside the model the entry point saved (docs/jobs.md).
EXPORT_ONNX ?=

process: data ## Processing job on DATA_DIR: split, fit the feature transformers (SEED; SCRIPT=yours, ARGUMENTS)
	@$(JOBS) process --data $(DATA_DIR) --seed $(SEED) \
	  $(if $(SCRIPT),--script $(SCRIPT) --arguments="$(ARGUMENTS)")

train: build-training ## Training job (EPOCHS, BATCH_SIZE, LEARNING_RATE, SEED; PROCESSING_JOB; INSTANCES hosts; ENTRY_POINT=yours, SOURCE_DIR, EXPORT_ONNX)
	@$(JOBS) train $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB)) \
	  --hyperparameter epochs=$(EPOCHS) --hyperparameter batch_size=$(BATCH_SIZE) \
	  --hyperparameter learning_rate=$(LEARNING_RATE) --hyperparameter seed=$(SEED) \
	  --instances="$(INSTANCES)" \
	  $(if $(ENTRY_POINT),--entry-point $(ENTRY_POINT) $(if $(SOURCE_DIR),--source-dir $(SOURCE_DIR))) \
	  $(if $(EXPORT_ONNX),--hyperparameter sagemaker_export_onnx=$(EXPORT_ONNX))

evaluate: build-training ## Evaluation job on the test split (TRAINING_JOB: which model; EVALUATION_SCRIPT=yours)
	@$(JOBS) evaluate $(if $(TRAINING_JOB),--training-job $(TRAINING_JOB)) \
	  $(if $(EVALUATION_SCRIPT),--script $(EVALUATION_SCRIPT) --arguments="$(ARGUMENTS)")

jobs: ## List the job runs, newest first (name, kind, status, duration, key metric)
	@$(JOBS) list

# pipeline and demo keep each job's own lines in its logs.txt and print one line at its start
# and end (JOB_OUTPUT=all: every line, as make train prints them).
pipeline demo: export JOB_OUTPUT ?= brief

pipeline: build-training build-serving ## process -> train (TUNE=1: tune, evaluate the 2 best) -> evaluate -> baselines (data; transform -> model quality) -> condition -> register
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 process
ifeq ($(TUNE),)
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 train
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 evaluate
else
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 tune
	@$(TUNING) evaluate-best
endif
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 baseline
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 transform TRANSFORM_FROM_TRAINING=1 \
	  $(if $(TUNE),TRAINING_JOB=$$($(TUNING) chosen --field training))
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 model-baseline
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 register \
	  $(if $(TUNE),EVALUATION_JOB=$$($(TUNING) chosen --field evaluation))

demo: build-training build-serving ## The whole job: pipeline, serve, then a real prediction
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 pipeline
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 serve
	@echo "prediction for the model's sample, a real record of its test split:"
	@$(MAKE) --no-print-directory IMAGES_BUILT=1 invoke
