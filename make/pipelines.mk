##@ SDK pipelines (docs/pipelines.md)

# A SageMaker Pipeline run here: PIPELINE is a .py whose get_pipeline() returns an SDK Pipeline,
# or a definition .json; PARAMETERS="Name=Value ..." overrides its parameters; LAMBDAS maps
# Lambda steps' function ARNs to local handlers; SDK=3 builds the definition with SDK 3.x.
# The local S3 is started first and the run (the SDK's uploads too) points at it; PIPELINE_DATA
# (FOLDER=s3://bucket/prefix) is uploaded when that prefix is empty: the example's input data.
PIPELINE ?= examples/penguins_pipeline.py
PARAMETERS ?=
LAMBDAS ?= pipeline/workflow/lambdas.json
PIPELINE_PARALLEL ?= 2
SDK ?= 2
EXECUTION ?=
PIPELINE_DATA ?= $(if $(filter examples/penguins_pipeline%,$(PIPELINE)),$(DATA_DIR)=s3://penguins/data)
WORKFLOW = $(VENV)/bin/python -m pipeline.workflow.command --local $(LOCAL_DIR)
RUN_OPTIONS = --parameter "$(PARAMETERS)" --lambdas $(LAMBDAS) --parallel $(PIPELINE_PARALLEL) \
  --docker "$(DOCKER)" --project $(COMPOSE_PROJECT) $(if $(PIPELINE_DATA),--upload "$(PIPELINE_DATA)")
WITH_S3 = eval "$$($(PYTHON) $(S3_CLI) env)" &&

sdk-pipeline: $(VENV)/.installed $(if $(filter 3,$(SDK)),$(SDK3_VENV)/.installed) $(if $(filter examples/penguins_pipeline%,$(PIPELINE)),data) ## Run a SageMaker Pipeline here (PIPELINE=file.py|.json, PARAMETERS="A=1 B=x", LAMBDAS, SDK=3)
	@$(VENV)/bin/python $(S3_CLI) start >/dev/null
ifeq ($(SDK),3)
	@mkdir -p $(LOCAL_DIR)/executions
	@$(WITH_S3) $(SDK3_VENV)/bin/python -m pipeline.workflow.command --local $(LOCAL_DIR) \
	  definition $(PIPELINE) --request --out $(LOCAL_DIR)/executions/.sdk3-pipeline.json
	@$(WITH_S3) $(WORKFLOW) run $(LOCAL_DIR)/executions/.sdk3-pipeline.json $(RUN_OPTIONS)
else
	@$(WITH_S3) $(WORKFLOW) run $(PIPELINE) $(RUN_OPTIONS)
endif

executions: ## List the SDK pipeline executions, newest first (EXECUTION=id: that one's steps)
	@$(if $(EXECUTION),$(WORKFLOW) show $(EXECUTION),$(WORKFLOW) list)
