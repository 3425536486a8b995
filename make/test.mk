##@ Test and measure

# The push test needs a real registry on localhost: Debian's docker-registry, where apt can.
test-deps:
	@containers/setup.sh test-deps

# make test runs three pytest runs, and fails with the first failure's code:
# 1. tests/unit and tests/contract on TEST_WORKERS pytest-xdist workers, each contract module
#    whole on one worker (--dist loadgroup), the modules in an order shuffled with TEST_ORDER_SEED
#    (printed in the header: every module passes alone and after any other; give the seed to
#    repeat an order);
# 2. the load and timed tests (marker serial) alone on the machine;
# 3. tests/sdk3 (SDK 3.x) in their own venv.
# The session's processing and training runs are made once for all of them (PENGUINS_TEST_SHARED).
# A run's exit 5 (no test selected) fails too, unless PYTEST_ARGS (-k ...) selected elsewhere.
# One worker by default: on this 2-core machine two workers, each starting several containers
# (multi-host training, SDK local mode, endpoint variants), starved each other's containers
# past their deadlines (a /ping not answered in 60 s, compose's own API time-out) in a
# measured run; TEST_WORKERS=2 is there for a machine with more cores.
TEST_WORKERS ?= 1
TEST_ORDER_SEED ?= 21
PARALLEL_TESTS = -n $(TEST_WORKERS) --dist loadgroup --shuffle-modules $(TEST_ORDER_SEED)
THEN_PYTEST = $(1) || { code=$$?; if [ $$code -ne 5 ] || [ -z "$(strip $(PYTEST_ARGS))" ]; then \
         [ $$status -ne 0 ] || status=$$code; fi; }
SDK3_TESTS = $(call THEN_PYTEST,$(SDK3_VENV)/bin/python -m pytest $(1) $(PYTEST_ARGS) tests/sdk3)
# $(1): the markers of the parallel run; $(2): what the runs collect.
TEST_RUNS = status=0; shared=$$(mktemp -d); export PENGUINS_TEST_SHARED=$$shared; \
  $(call THEN_PYTEST,$(VENV)/bin/python -m pytest $(PARALLEL_TESTS) -m "$(1)" $(PYTEST_ARGS) $(2)); \
  $(call THEN_PYTEST,$(VENV)/bin/python -m pytest -m serial $(PYTEST_ARGS) tests/contract)

test: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Unit and contract tests in parallel, the load tests alone, then SDK 3.x (TEST_WORKERS, TEST_ORDER_SEED)
	@$(call TEST_RUNS,not serial,tests/unit tests/contract); \
	 $(call SDK3_TESTS); \
	 rm -rf "$$shared" 2>/dev/null; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

test-unit: $(VENV)/.installed ## Only the in-process tests (no Docker)
	$(VENV)/bin/python -m pytest -m "unit or training or pipeline" $(PYTEST_ARGS) tests

test-contract: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Only the contract tests against the images
	@$(call TEST_RUNS,contract and not serial,tests/contract); \
	 $(call SDK3_TESTS,-m contract); \
	 rm -rf "$$shared" 2>/dev/null; \
	 $(MAKE) --no-print-directory test-clean; \
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
