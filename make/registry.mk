##@ Register and deploy

# ON_APPROVE (docs/registry-and-deploys.md): a shell command, or an http(s) URL on 127.0.0.1, run
# after make approve changes a version to Approved (e.g. ON_APPROVE="make deploy"); default off.
# RETRAIN_TRIGGER (set by a monitor alarm's retrain) registers PendingManualApproval only.
ON_APPROVE ?=
export ON_APPROVE

register: ## Condition + register an evaluated model (ACCURACY_THRESHOLD, PENDING_THRESHOLD; EVALUATION_JOB)
	@$(JOBS) register --registry $(MODEL_REGISTRY) \
	  $(if $(EVALUATION_JOB),--evaluation-job $(EVALUATION_JOB)) \
	  --approve-at $(ACCURACY_THRESHOLD) --pending-at $(PENDING_THRESHOLD) \
	  $(if $(RETRAIN_TRIGGER),--triggered-by "$(RETRAIN_TRIGGER)")

models: ## List the registered model versions (status, accuracy, training run)
	@$(REGISTRY_CLI) list

approve: ## Approve a registered version: make approve VERSION=N (APPROVER: who, default you; ON_APPROVE: then run this)
	@test -n "$(VERSION)" || { echo "usage: make approve VERSION=N" >&2; exit 1; }
	@$(REGISTRY_CLI) approve --version "$(VERSION)" $(if $(APPROVER),--by "$(APPROVER)") \
	  $(if $(ON_APPROVE),--on-approve "$$ON_APPROVE")

reject: ## Reject a registered version: make reject VERSION=N (APPROVER: who, default you)
	@test -n "$(VERSION)" || { echo "usage: make reject VERSION=N" >&2; exit 1; }
	@$(REGISTRY_CLI) reject --version "$(VERSION)" $(if $(APPROVER),--by "$(APPROVER)")

# The router's metrics (/metrics, /minutes) on 127.0.0.1:METRICS_PORT; unset, a free port that
# make serve prints and make metrics finds.
ENDPOINT_CLI += $(if $(METRICS_PORT),--metrics-port $(METRICS_PORT))

serve: build-serving ## Endpoint on localhost:ENDPOINT_PORT (latest Approved version; MODEL_VERSION, MODEL_TAR; VARIANTS="v3:90 v4:10", ENDPOINT_CONFIG=file.json, with DEPLOYMENT_CONFIG on a running endpoint)
	@$(ENDPOINT_CLI) serve $(if $(MODEL_TAR),--model-tar "$(MODEL_TAR)") \
	  $(if $(MODEL_VERSION),--version "$(MODEL_VERSION)") \
	  $(if $(VARIANTS),--variants "$(VARIANTS)") \
	  $(if $(ENDPOINT_CONFIG),--endpoint-config "$(ENDPOINT_CONFIG)") \
	  $(if $(and $(ENDPOINT_CONFIG),$(DEPLOYMENT_CONFIG)),--deployment-config "$(DEPLOYMENT_CONFIG)")

weights: ## New production-variant weights, no failed request: make weights VARIANTS="v3:50 v4:50"
	@test -n "$(VARIANTS)" || { echo 'usage: make weights VARIANTS="v3:50 v4:50"' >&2; exit 1; }
	@$(ENDPOINT_CLI) weights --variants "$(VARIANTS)"

autoscale: ## Target tracking on InvocationsPerInstance for a variant: make autoscale SCALING_POLICY=file.json (AUTOSCALE_SECONDS; Ctrl-C stops)
	@test -n "$(SCALING_POLICY)" || { echo "usage: make autoscale SCALING_POLICY=file.json" >&2; exit 1; }
	@$(subst pipeline.endpoints.commands,pipeline.endpoints.autoscaling,$(ENDPOINT_CLI)) \
	  --policy "$(SCALING_POLICY)" $(if $(AUTOSCALE_SECONDS),--seconds $(AUTOSCALE_SECONDS))

metrics: ## The endpoint's metrics per variant and minute, CloudWatch's names (METRICS_PORT; PNG=file.png draws the last hour)
	@$(PYTHON) -m pipeline.endpoints.metrics --compose "$(COMPOSE)" --docker "$(DOCKER)" \
	  $(if $(METRICS_PORT),--port $(METRICS_PORT)) \
	  $(if $(PNG),--png "$(PNG)" --image $(TRAINING_IMAGE))

deploy: ## Blue/green: the newest Approved version onto the running endpoint, no failed request (DEPLOYMENT_CONFIG=file.json: canary, linear, alarms; VARIANT=v2: onto that variant of an endpoint of variants)
	@$(ENDPOINT_CLI) deploy $(if $(DEPLOYMENT_CONFIG),--deployment-config "$(DEPLOYMENT_CONFIG)") \
	  $(if $(VARIANT),--variant "$(VARIANT)")

rollback: ## Blue/green back to the version (or the variants' models) deployed before
	@$(ENDPOINT_CLI) rollback

stop: ## Stop the endpoint
	@$(ENDPOINT_CLI) stop

invoke: ## POST the served model's sample (a real test record, sample.json) to the endpoint
	@$(ENDPOINT_CLI) invoke

# The multi-model endpoint (docs/endpoint-models.md): its own compose project and port.
MULTI_MODEL_PORT ?= 8090
MULTI_MODEL_PROJECT ?= multi-model
MULTI_MODEL_MEMORY_MB ?= 1024
MULTI_MODEL_DIR := $(LOCAL_DIR)/endpoint/multi/models
MULTI_COMPOSE = MULTI_MODEL_PORT=$(MULTI_MODEL_PORT) MULTI_MODEL_DIR=$(MULTI_MODEL_DIR) \
  MULTI_MODEL_MEMORY_MB=$(MULTI_MODEL_MEMORY_MB) \
  $(DOCKER_COMPOSE) -p $(MULTI_MODEL_PROJECT) -f docker-compose.yml

.PHONY: serve-multi stop-multi
serve-multi: build-serving ## Multi-model endpoint on localhost:MULTI_MODEL_PORT: every registered version of every workload (X-Amzn-SageMaker-Target-Model: <workload>/<version>.tar.gz)
	@mkdir -p "$(MULTI_MODEL_DIR)" && chmod 755 "$(MULTI_MODEL_DIR)"
	@# Added, never removed: a running endpoint serves each archive as soon as it is there.
	@for archive in $(LOCAL_DIR)/registry/*/*/model.tar.gz; do \
	  [ -f "$$archive" ] || continue; \
	  version=$$(basename $$(dirname "$$archive")); group=$$(basename $$(dirname $$(dirname "$$archive"))); \
	  target="$(MULTI_MODEL_DIR)/$$group/$$version.tar.gz"; \
	  [ -f "$$target" ] && cmp -s "$$archive" "$$target" && continue; \
	  mkdir -p "$(MULTI_MODEL_DIR)/$$group" && chmod 755 "$(MULTI_MODEL_DIR)/$$group"; \
	  cp "$$archive" "$$target.tmp" && chmod 644 "$$target.tmp" && mv "$$target.tmp" "$$target"; \
	  echo "serve-multi: $$group/$$version.tar.gz"; \
	done
	@$(MULTI_COMPOSE) up -d multi
	@deadline=$$(( $$(date +%s) + $(PING_DEADLINE_SECONDS) )); \
	until curl -fs -o /dev/null "http://127.0.0.1:$(MULTI_MODEL_PORT)/ping"; do \
	  [ $$(date +%s) -lt $$deadline ] || { echo "serve-multi: no answer to /ping on port $(MULTI_MODEL_PORT)" >&2; $(MULTI_COMPOSE) logs multi >&2; exit 1; }; \
	  sleep 0.5; \
	done; echo "serve-multi: http://127.0.0.1:$(MULTI_MODEL_PORT)/invocations (X-Amzn-SageMaker-Target-Model: <workload>/<version>.tar.gz)"

stop-multi: ## Stop the multi-model endpoint
	@$(MULTI_COMPOSE) down
