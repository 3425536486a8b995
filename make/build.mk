##@ Set up and build

# A sub-make of pipeline or demo gets IMAGES_BUILT=1: its parent already set up and built, so
# the build targets print nothing more.
setup: ## Docker engine and base image (installs them where it can; fast when done)
ifeq ($(IMAGES_BUILT),)
	@containers/setup.sh engine
	@containers/setup.sh base $(BASE_IMAGE) $(BUILD_DIR)/base-image
	@if [ -n "$(CA_BUNDLE)" ] && [ -s "$(CA_BUNDLE)" ]; then \
	   cmp -s "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem || cp "$(CA_BUNDLE)" $(BUILD_DIR)/ca-bundle.pem; \
	 else : > $(BUILD_DIR)/ca-bundle.pem; fi
endif

build: build-training build-serving build-serving-handlers ## Build the training/processing and serving images

# Build logs go to a file (its end printed on failure) so the job output stays readable;
# progress.sh prints each build step as it starts, with the seconds since the build began.
build-training: setup
ifeq ($(IMAGES_BUILT),)
	@containers/progress.sh $(BUILD_DIR)/build-training.log $(TRAINING_IMAGE) \
	  $(DOCKER) build -f containers/training.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(TRAINING_IMAGE) .
	@if [ "$(PROCESSING_IMAGE)" != "$(TRAINING_IMAGE)" ]; then \
	   $(DOCKER) tag $(TRAINING_IMAGE) $(PROCESSING_IMAGE) && echo "tagged $(PROCESSING_IMAGE)"; fi
endif

build-serving: setup
ifeq ($(IMAGES_BUILT),)
	@containers/progress.sh $(BUILD_DIR)/build-serving.log $(SERVING_IMAGE) \
	  $(DOCKER) build -f containers/serving.Dockerfile \
	  --build-arg BASE_IMAGE=$$(cat $(BUILD_DIR)/base-image) -t $(SERVING_IMAGE) .
endif

build-serving-handlers: build-serving ## The serving image's handler flavour (HANDLERS_IMAGE)
ifeq ($(IMAGES_BUILT),)
	@containers/progress.sh $(BUILD_DIR)/build-serving-handlers.log $(HANDLERS_IMAGE) \
	  $(DOCKER) build -f containers/serving-handlers.Dockerfile \
	  --build-arg SERVING_IMAGE=$(SERVING_IMAGE) -t $(HANDLERS_IMAGE) .
endif

# ECR: <account>.dkr.ecr.<region>.amazonaws.com[/prefix]; anything else is a plain registry.
REGISTRY ?=
ECR_PATTERN := ^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com
repository = $(firstword $(subst :, ,$(1)))

require-registry:
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host[:port][/prefix]" >&2; exit 1; }

push: require-registry build ## Tag and push the images to REGISTRY (ECR: logs in, creates repositories)
	@host=$$(echo "$(REGISTRY)" | cut -d/ -f1); \
	 if echo "$$host" | grep -Eq '$(ECR_PATTERN)'; then \
	   region=$$(echo "$$host" | cut -d. -f4); \
	   command -v aws >/dev/null || { echo "pushing to ECR needs the AWS CLI (aws)" >&2; exit 1; }; \
	   aws ecr get-login-password --region $$region \
	     | $(DOCKER) login --username AWS --password-stdin $$host || exit 1; \
	   prefix=$$(echo "$(REGISTRY)" | cut -s -d/ -f2-); \
	   for image in $(call repository,$(TRAINING_IMAGE)) $(call repository,$(SERVING_IMAGE)); do \
	     repo=$${prefix:+$$prefix/}$$image; \
	     aws ecr describe-repositories --region $$region --repository-names $$repo >/dev/null 2>&1 \
	       || aws ecr create-repository --region $$region --repository-name $$repo >/dev/null \
	       || exit 1; \
	   done; \
	 fi
	@for image in $(TRAINING_IMAGE) $(SERVING_IMAGE); do \
	   remote=$(REGISTRY)/$$image; \
	   $(DOCKER) tag $$image $$remote && $(DOCKER) push -q $$remote >/dev/null || exit 1; \
	   echo "pushed $$remote"; \
	 done

# The test environment is the dev lock, which holds every package of both images too.
# uv installs a lock in seconds where pip takes minutes (measured: 10 s against 115 s for the dev
# lock, cache cold); pip stays the fallback for a machine where only pip's own index settings
# reach the packages (uv reads no pip configuration).
VENV_INSTALL = $(PYTHON) -m venv $(1) && { \
  { [ -x $(LOCK_VENV)/bin/uv ] || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install \
      --quiet --disable-pip-version-check uv==$(UV_VERSION); } >/dev/null 2>&1; } \
  && $(if $(CA_BUNDLE),SSL_CERT_FILE=$(CA_BUNDLE)) $(LOCK_VENV)/bin/uv pip install --quiet \
       --no-config --python $(1)/bin/python --require-hashes -r $(2) \
  || { echo "uv could not install $(2); pip instead"; \
       $(1)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r $(2); }; }

$(VENV)/.installed: requirements-dev.txt
	@echo "installing $< into $(VENV)"
	@$(call VENV_INSTALL,$(VENV),requirements-dev.txt)
	@touch $@

# SDK 3.x cannot share the test venv with SDK 2.x (tests/sdk3 run in this one, after the rest).
$(SDK3_VENV)/.installed: requirements-sdk3.txt
	@echo "installing $< into $(SDK3_VENV)"
	@$(call VENV_INSTALL,$(SDK3_VENV),requirements-sdk3.txt)
	@touch $@

# Locks: every package pinned with hashes, resolved for the images' platform (Linux x86_64,
# CPython 3.11 of Debian bookworm) from PyPI only (uv reads no pip configuration). The dev lock
# is resolved first and constrains the image locks, so tests run the images' versions.
# LOCK_ARGS=--upgrade re-resolves everything; --upgrade-package NAME one package.
UV_VERSION := 0.13.8
LOCK_VENV := $(BUILD_DIR)/lock-venv
LOCK_ARGS ?=
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --no-config --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 $(LOCK_ARGS)

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

lock: $(LOCK_VENV)/bin/uv ## Pin every dependency with hashes from the .in files (LOCK_ARGS=--upgrade)
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) containers/requirements-training.in -c requirements-dev.txt \
	  -o containers/requirements-training.txt
	$(UV_COMPILE) containers/requirements-serving.in -c requirements-dev.txt \
	  -o containers/requirements-serving.txt
	$(UV_COMPILE) --no-deps containers/requirements-legacy-keras.in \
	  -o containers/requirements-legacy-keras.txt
	$(UV_COMPILE) containers/requirements-handlers.in -c containers/requirements-serving.txt \
	  -c requirements-dev.txt -o containers/requirements-handlers.txt
	$(UV_COMPILE) requirements-sdk3.in -o requirements-sdk3.txt

lint: $(VENV)/.installed ## ruff over the Python code
	$(VENV)/bin/ruff check training serving pipeline tests examples

clean: ## Remove the project's containers, every job run, the endpoint's model and .build (keeps data and registry)
	-@$(COMPOSE) down --remove-orphans >/dev/null 2>&1
	-@$(SCHEDULE) stop >/dev/null 2>&1
	@$(MAKE) --no-print-directory test-clean
	@$(JOBS) clean
	rm -rf $(LOCAL_DIR)/endpoint $(LOCAL_DIR)/bench.json $(BUILD_DIR)
	@echo "removed containers, job runs and the endpoint's model under $(LOCAL_DIR); kept $(LOCAL_DIR)/data and $(LOCAL_DIR)/registry"
