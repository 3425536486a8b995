##@ Any job from SageMaker's request

# REQUEST is a CreateProcessingJob or CreateTrainingJob body (JSON) for any image; the run is
# LOCAL_DIR/<processing|training>/<its job name>/ (pipeline/api/runner.py).
REQUEST ?=
JOB ?=
# The venv's python when there is one: s3:// URIs (the local S3: make s3, then eval
# "$$(make -s env)") need its boto3; file:// needs nothing but the standard library.
API = $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON)) -m pipeline.api.cli --local $(LOCAL_DIR) --project $(COMPOSE_PROJECT) \
  --compose "$(DOCKER_COMPOSE)" --docker "$(DOCKER)"

job: ## Run a CreateProcessingJob/CreateTrainingJob request for any image (REQUEST=file.json)
	@test -n "$(REQUEST)" || { echo "job: give REQUEST=file.json (a CreateProcessingJob or CreateTrainingJob body)" >&2; exit 2; }
	@$(API) job $(REQUEST)

describe: ## Print a job's DescribeTrainingJob/DescribeProcessingJob answer (JOB=name)
	@test -n "$(JOB)" || { echo "describe: give JOB=name (make jobs lists them)" >&2; exit 2; }
	@$(API) describe $(JOB)
