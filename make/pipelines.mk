##@ SDK pipelines (docs/pipelines.md)

# A SageMaker Pipeline run here: PIPELINE is a .py whose get_pipeline() returns an SDK Pipeline,
# or a definition .json; PARAMETERS="Name=Value ..." overrides its parameters; LAMBDAS maps
# Lambda steps' function ARNs to local handlers; SDK=3 builds the definition with SDK 3.x.
PIPELINE ?= examples/penguins_pipeline.py
PARAMETERS ?=
LAMBDAS ?= pipeline/workflow/lambdas.json
PIPELINE_PARALLEL ?= 2
SDK ?= 2
EXECUTION ?=
WORKFLOW = $(VENV)/bin/python -m pipeline.workflow.command --local $(LOCAL_DIR)
RUN_OPTIONS = --parameter "$(PARAMETERS)" --lambdas $(LAMBDAS) --parallel $(PIPELINE_PARALLEL) \
  --docker "$(DOCKER)"

sdk-pipeline: $(VENV)/.installed ## Run a SageMaker Pipeline here (PIPELINE=file.py|.json, PARAMETERS="A=1 B=x", LAMBDAS, SDK=3)
ifeq ($(SDK),3)
	@mkdir -p $(LOCAL_DIR)/executions
	@$(SDK3_VENV)/bin/python -m pipeline.workflow.command --local $(LOCAL_DIR) definition \
	  $(PIPELINE) --request --out $(LOCAL_DIR)/executions/.sdk3-pipeline.json
	@$(WORKFLOW) run $(LOCAL_DIR)/executions/.sdk3-pipeline.json $(RUN_OPTIONS)
else
	@$(WORKFLOW) run $(PIPELINE) $(RUN_OPTIONS)
endif

executions: ## List the SDK pipeline executions, newest first (EXECUTION=id: that one's steps)
	@$(if $(EXECUTION),$(WORKFLOW) show $(EXECUTION),$(WORKFLOW) list)
