##@ Local S3

# The local S3 (pipeline/s3): s3://bucket/key is the plain file S3_DIR/bucket/key.
S3_DIR ?= $(LOCAL_DIR)/s3
S3_PORT ?= 9000
# Addresses it listens on; add the Docker bridge's gateway (e.g. 172.17.0.1) for containers.
S3_HOSTS ?= 127.0.0.1
S3_CLI = -m pipeline.s3.service --root "$(S3_DIR)" --port $(S3_PORT)

s3: $(VENV)/.installed ## Start the local S3 on S3_PORT (objects are files in LOCAL_DIR/s3/<bucket>/<key>)
	@$(VENV)/bin/python $(S3_CLI) start $(foreach host,$(S3_HOSTS),--host $(host))

s3-stop: ## Stop the local S3 (its objects stay)
	@$(PYTHON) $(S3_CLI) stop

env: ## Print the exports that point boto3 and both SDKs at the local S3: eval "$(make -s env)"
	@$(PYTHON) $(S3_CLI) env
