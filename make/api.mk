##@ Any job from SageMaker's request

# REQUEST is a CreateProcessingJob, CreateTrainingJob or CreateTransformJob body (JSON) for any
# image; the run is LOCAL_DIR/<processing|training|transform>/<its job name>/ (pipeline/api's
# runner, or the batch transform engine for a transform: pipeline/jobs/requests.py chooses).
REQUEST ?=
JOB ?=
# The venv's python when there is one: s3:// URIs (the local S3: make s3, then eval
# "$$(make -s env)") need its boto3; file:// needs nothing but the standard library.
API = $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON)) -m pipeline.jobs.requests --local $(LOCAL_DIR) --project $(COMPOSE_PROJECT) \
  --docker "$(DOCKER)"

job: ## Run a CreateProcessingJob/CreateTrainingJob/CreateTransformJob request for any image (REQUEST=file.json)
	@test -n "$(REQUEST)" || { echo "job: give REQUEST=file.json (a CreateProcessingJob, CreateTrainingJob or CreateTransformJob body)" >&2; exit 2; }
	@$(API) job $(REQUEST)

describe: ## Print a job's DescribeTrainingJob/DescribeProcessingJob/DescribeTransformJob answer (JOB=name)
	@test -n "$(JOB)" || { echo "describe: give JOB=name (make jobs lists them)" >&2; exit 2; }
	@$(API) describe $(JOB)
