##@ Test and measure

# The push test needs a real registry on localhost: Debian's docker-registry, where apt can.
test-deps:
	@containers/setup.sh test-deps

# make test runs three pytest runs, and fails with the first failure's code:
# 1. tests/contract in two lanes, each its modules in an order shuffled with TEST_ORDER_SEED
#    (printed in the header: every module passes alone and after any other; give the seed to
#    repeat an order): the job modules (TensorFlow jobs, pipelines, SDK local mode) one at a
#    time, and beside them a second pytest process with the modules that serve (BESIDE_MODULES:
#    endpoints, monitors, transforms, whose containers mostly wait on HTTP; and test_images,
#    which mostly reads image layers), then tests/unit, then tests/sdk3 (SDK 3.x, in its own
#    venv), their output in $(BESIDE_LOG) and $(SDK3_LOG), printed when the lane ends. sdk3
#    goes in the lane that ends first without it (measured 2026-12-04: job modules 700 s,
#    the other 663 s). Two job modules at once starved each other's containers on this 2-core
#    machine; a job module beside an endpoint module does not, and the lanes overlap the time
#    both spend waiting;
# 2. the load and timed tests (marker serial) alone on the machine.
# The session's processing and training runs are made once for all of them (PENGUINS_TEST_SHARED).
# A run's exit 5 (no test selected) fails too, unless PYTEST_ARGS (-k ...) selected elsewhere.
TEST_ORDER_SEED ?= 21
SHUFFLED = --shuffle-modules $(TEST_ORDER_SEED)
BESIDE_LOG = $(BUILD_DIR)/test-beside.log
SDK3_LOG = $(BUILD_DIR)/test-sdk3.log
BESIDE_MODULES = $(foreach name,any_onnx_endpoint autoscaling baseline_job conformance \
  data_capture deploy endpoint guardrails handlers_endpoint images model_monitor monitor_job multi_model \
  openapi published_port push router_keepalive s3 sdk_handlers transform_job transform_parity \
  update_endpoint variants,tests/contract/test_$(name).py)
JOB_MODULES = $(filter-out $(BESIDE_MODULES),$(wildcard tests/contract/test_*.py))
THEN_PYTEST = $(1) || { code=$$?; if [ $$code -ne 5 ] || [ -z "$(strip $(PYTEST_ARGS))" ]; then \
         [ $$status -ne 0 ] || status=$$code; fi; }
# A pytest run into a log ($(2)), its exit code into the log's .rc; then the log printed and the
# code taken as THEN_PYTEST takes it.
LOGGED = $(1) > $(2) 2>&1; echo $$? > $(2).rc
PRINTED = echo "== $(1)"; cat $(1); $(call THEN_PYTEST,(exit $$(cat $(1).rc)))
# $(1): the markers of the contract and unit runs; $(2): the tests of the first lane; $(3): the
# tests of the lane beside it; $(4): the markers of the SDK 3.x run, at the end of the second.
TEST_RUNS = status=0; shared=$$(mktemp -d); export PENGUINS_TEST_SHARED=$$shared; mkdir -p $(BUILD_DIR); \
  echo "the second lane (BESIDE_MODULES, then tests/unit, then tests/sdk3): $(BESIDE_LOG), $(SDK3_LOG)"; \
  { $(call LOGGED,$(VENV)/bin/python -m pytest -p no:cacheprovider $(SHUFFLED) -m "$(1)" \
        $(PYTEST_ARGS) $(3),$(BESIDE_LOG)); \
    $(call LOGGED,$(SDK3_VENV)/bin/python -m pytest $(4) $(PYTEST_ARGS) tests/sdk3,$(SDK3_LOG)); } & \
  beside=$$!; \
  $(call THEN_PYTEST,$(VENV)/bin/python -m pytest $(SHUFFLED) -m "$(1)" $(PYTEST_ARGS) $(2)); \
  wait $$beside; $(call PRINTED,$(BESIDE_LOG)); $(call PRINTED,$(SDK3_LOG)); \
  $(call THEN_PYTEST,$(VENV)/bin/python -m pytest -m serial $(PYTEST_ARGS) tests/contract); \
  rm -rf "$$shared" 2>/dev/null; \
  $(MAKE) --no-print-directory test-clean

test: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Contract tests in two lanes (unit tests, then SDK 3.x tests, in the second), then the load tests alone (TEST_ORDER_SEED)
	@$(call TEST_RUNS,not serial,$(JOB_MODULES),$(BESIDE_MODULES) tests/unit,); \
	 exit $$status

test-unit: $(VENV)/.installed ## Only the in-process tests (no Docker)
	$(VENV)/bin/python -m pytest -m "unit or training or pipeline" $(PYTEST_ARGS) tests

test-contract: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Only the contract tests against the images
	@$(call TEST_RUNS,contract and not serial,$(JOB_MODULES),$(BESIDE_MODULES),-m contract); \
	 exit $$status

# Your own image and model, before you push them: the workload-independent hosting checks of
# tests/contract/test_conformance.py (ping = ready, a sample invocation, JSON 4xx on junk,
# /execution-parameters, SIGTERM drain, no worker running as root).
SAMPLE ?=
SAMPLE_CONTENT_TYPE ?= application/json
conformance: test-deps $(VENV)/.installed ## Check SERVING_IMAGE with MODEL_TAR against the hosting contract (SAMPLE=file)
	@test -n "$(MODEL_TAR)" || { echo "usage: make conformance SERVING_IMAGE=image MODEL_TAR=path/model.tar.gz [SAMPLE=request-body-file SAMPLE_CONTENT_TYPE=type]" >&2; exit 1; }
	@test -f "$(MODEL_TAR)" || { echo "MODEL_TAR=$(MODEL_TAR): no such file" >&2; exit 1; }
	@$(DOCKER) image inspect $(SERVING_IMAGE) >/dev/null 2>&1 \
	  || { echo "SERVING_IMAGE=$(SERVING_IMAGE): no such image here; build or pull it first" >&2; exit 1; }
	@status=0; \
	 CONFORMANCE_MODEL_TAR=$(abspath $(MODEL_TAR)) CONFORMANCE_SAMPLE=$(if $(SAMPLE),$(abspath $(SAMPLE))) \
	 CONFORMANCE_SAMPLE_CONTENT_TYPE="$(SAMPLE_CONTENT_TYPE)" \
	   $(VENV)/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests/contract/test_conformance.py \
	   || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

# Removes only what tests started: containers labelled by the test suite, the compose projects
# of the tests (each module its own, named penguinstest-<module>-<pid>), what SDK local mode
# started from a pytest folder, and the SDK's network.
TEST_PROJECTS = $(DOCKER) $(1) --format '{{.ID}} {{.Label "com.docker.compose.project"}} \
  {{.Label "com.docker.compose.project.working_dir"}}' | awk '$$2 ~ /^penguinstest/ || $$3 ~ /\/pytest-of-/ {print $$1}'
test-clean:
	@ids=$$($(DOCKER) ps -aq --filter label=penguins.test; $(call TEST_PROJECTS,ps -a)); \
	 if [ -n "$$ids" ]; then $(DOCKER) rm -f $$ids >/dev/null; fi
	@nets=$$($(DOCKER) network ls -q --filter label=penguins.test; $(call TEST_PROJECTS,network ls); \
	   $(DOCKER) network ls -q --filter name=^sagemaker-local$$); \
	 if [ -n "$$nets" ]; then $(DOCKER) network rm $$nets >/dev/null || true; fi

bench: build test-deps $(VENV)/.installed ## Endpoint speed, cold start, size, memory -> local/bench.json
	@status=0; \
	 $(VENV)/bin/python tests/bench.py --out $(LOCAL_DIR)/bench.json || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status
