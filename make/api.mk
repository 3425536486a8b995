##@ Any job from SageMaker's request

# REQUEST is a CreateProcessingJob, CreateTrainingJob or CreateTransformJob body (JSON) for any
# image; the run is LOCAL_DIR/<processing|training|transform>/<its job name>/ (pipeline/api's
# runner, or the batch transform engine for a transform: pipeline/jobs/requests.py chooses).
# It may be the registry's request too: CreateModelPackage (the group's next version in
# LOCAL_DIR/registry/<group>/), UpdateModelPackage (make approve/reject's path: APPROVER is
# recorded, ON_APPROVE runs after an approval), CreateModel (LOCAL_DIR/models/<name>.json).
# And the endpoint's: CreateEndpointConfig (LOCAL_DIR/endpoint-configs/<name>.json), CreateEndpoint
# and UpdateEndpoint (make serve ENDPOINT_CONFIG= with the variables of this make, DEPLOYMENT_CONFIG
# from the request's DeploymentConfig; LOCAL_DIR/endpoints/<name>.json).
REQUEST ?=
JOB ?=
# The venv's python when there is one: s3:// URIs (the local S3: make s3, then eval
# "$$(make -s env)") need its boto3; file:// needs nothing but the standard library.
API = $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON)) -m pipeline.jobs.requests --local $(LOCAL_DIR) --project $(COMPOSE_PROJECT) \
  --docker "$(DOCKER)" $(if $(APPROVER),--by "$(APPROVER)") $(if $(ON_APPROVE),--on-approve "$$ON_APPROVE")

job: ## Run SageMaker's request for any image (REQUEST=file.json): CreateProcessingJob/TrainingJob/TransformJob, CreateModel, CreateModelPackage, UpdateModelPackage (APPROVER, ON_APPROVE), CreateEndpointConfig, CreateEndpoint, UpdateEndpoint
	@test -n "$(REQUEST)" || { echo "job: give REQUEST=file.json (a CreateProcessingJob, CreateTrainingJob, CreateTransformJob, CreateModel, CreateModelPackage, UpdateModelPackage, CreateEndpointConfig, CreateEndpoint or UpdateEndpoint body)" >&2; exit 2; }
	@$(API) job $(REQUEST)

describe: ## Print a Describe answer: a job's (JOB=name), a model package version's (JOB=<group>/<version> or its ARN), a model's, an endpoint's or an endpoint config's (JOB=its name or ARN)
	@test -n "$(JOB)" || { echo "describe: give JOB=name (make jobs lists the jobs, make models the versions)" >&2; exit 2; }
	@$(API) describe $(JOB)
