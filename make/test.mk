##@ Test and measure

# The push test needs a real registry on localhost: Debian's docker-registry, where apt can.
test-deps:
	@containers/setup.sh test-deps

# tests/sdk3 (SDK 3.x) run after the rest in their own venv; the first failure's code is kept.
# Its exit 5 (no test selected) fails too, unless PYTEST_ARGS (-k ...) selected elsewhere.
SDK3_TESTS = $(SDK3_VENV)/bin/python -m pytest $(1) $(PYTEST_ARGS) tests/sdk3 \
  || { code=$$?; if [ $$code -ne 5 ] || [ -z "$(strip $(PYTEST_ARGS))" ]; then \
         [ $$status -ne 0 ] || status=$$code; fi; }

test: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Unit tests, then contract tests against the freshly built images (SDK 2.x, then SDK 3.x)
	@status=0; \
	 $(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests/unit tests/contract || status=$$?; \
	 $(call SDK3_TESTS); \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status

test-unit: $(VENV)/.installed ## Only the in-process tests (no Docker)
	$(VENV)/bin/python -m pytest -m "unit or training or pipeline" $(PYTEST_ARGS) tests

test-contract: build test-deps $(VENV)/.installed $(SDK3_VENV)/.installed ## Only the contract tests against the images
	@status=0; \
	 $(VENV)/bin/python -m pytest -m contract $(PYTEST_ARGS) tests || status=$$?; \
	 $(call SDK3_TESTS,-m contract); \
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

# Removes only what tests started: containers labelled by the test suite, the compose project
# of the make-target tests, and the SDK's network.
TEST_COMPOSE_PROJECT := penguinstest
test-clean:
	@ids=$$($(DOCKER) ps -aq --filter label=penguins.test; \
	   $(DOCKER) ps -aq --filter label=com.docker.compose.project=$(TEST_COMPOSE_PROJECT)); \
	 if [ -n "$$ids" ]; then $(DOCKER) rm -f $$ids >/dev/null; fi
	@nets=$$($(DOCKER) network ls -q --filter label=penguins.test; \
	   $(DOCKER) network ls -q --filter label=com.docker.compose.project=$(TEST_COMPOSE_PROJECT); \
	   $(DOCKER) network ls -q --filter name=^sagemaker-local$$); \
	 if [ -n "$$nets" ]; then $(DOCKER) network rm $$nets >/dev/null || true; fi

bench: build test-deps $(VENV)/.installed ## Endpoint speed, cold start, size, memory -> local/bench.json
	@status=0; \
	 $(VENV)/bin/python tests/bench.py --out $(LOCAL_DIR)/bench.json || status=$$?; \
	 $(MAKE) --no-print-directory test-clean; \
	 exit $$status
