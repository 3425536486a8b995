##@ Capture and monitor

baseline: build-training ## Data-quality baseline job: statistics.json, constraints.json of the processing run's training data (PROCESSING_JOB)
	@$(PYTHON) -m pipeline.monitoring.baseline --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB))

model-baseline: build-training ## Model-quality baseline job on a transform run's joined ground truth and predictions (TRANSFORM_JOB, PROBLEM_TYPE)
	@$(PYTHON) -m pipeline.monitoring.baseline --model-quality --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  $(if $(TRANSFORM_JOB),--transform-job $(TRANSFORM_JOB)) $(if $(PROBLEM_TYPE),--problem-type $(PROBLEM_TYPE))

# Data-quality monitoring (pipeline/monitoring/dataquality.py): the capture folder of the endpoint, a window
# START/END (ISO 8601, default the last hour), BASELINE_JOB (default: the served version's
# baseline, else the newest), PREPROCESSOR (a record preprocessor script).
CAPTURE_DIR ?= $(LOCAL_DIR)/capture/$(WORKLOAD)
# Monitor alarms (pipeline/monitoring/alarms.py, docs/monitoring.md): a monitoring run that ends
# with violations runs ON_VIOLATION (a shell command, or an http(s) URL on 127.0.0.1 that gets
# the alarm event as a POST); RETRAIN_ON_VIOLATION=1 then runs make pipeline on the newest data,
# whose version is registered PendingManualApproval. Passed through the environment, so any
# quoting in the command survives.
ON_VIOLATION ?=
RETRAIN_ON_VIOLATION ?=
export ON_VIOLATION
ALARMS = $(if $(ON_VIOLATION),--on-violation "$$ON_VIOLATION") \
  $(if $(filter 1,$(RETRAIN_ON_VIOLATION)),--retrain-command "$(MAKE) --no-print-directory pipeline")
MONITORING = $(PYTHON) -m pipeline.monitoring.dataquality --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS)

monitor-data: build-training ## Data-quality monitoring job over captured traffic, one run per variant (CAPTURE_DIR, START, END, VARIANT, BASELINE_JOB, PREPROCESSOR; ON_VIOLATION, RETRAIN_ON_VIOLATION=1)
	@$(MONITORING) run --capture $(CAPTURE_DIR) --registry $(MODEL_REGISTRY) $(ALARMS) \
	  --endpoint-dir $(ENDPOINT_DIR) $(if $(START),--start $(START)) $(if $(END),--end $(END)) \
	  $(if $(BASELINE_JOB),--baseline-job $(BASELINE_JOB)) $(if $(VARIANT),--variant $(VARIANT)) \
	  $(if $(PREPROCESSOR),--preprocessor $(PREPROCESSOR))

monitoring: ## List monitoring runs with their violation counts
	@$(MONITORING) list

# Model quality (pipeline/monitoring/groundtruth.py, pipeline/monitoring/modelquality.py): ground truth for captured
# requests in GROUND_TRUTH_DIR (TRAFFIC_RUN's true labels; RANDOM=1 random, WRONG=1 wrong ones),
# merged with the captured predictions against a model-quality baseline (BASELINE_JOB, else the
# served version's, else the newest make model-baseline run).
GROUND_TRUTH_DIR ?= $(LOCAL_DIR)/ground-truth/$(WORKLOAD)
ground-truth: ## Ground truth for captured requests (TRAFFIC_RUN; RANDOM=1 random labels, WRONG=1 wrong ones)
	@$(PYTHON) -m pipeline.monitoring.groundtruth --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --out $(GROUND_TRUTH_DIR) --capture $(CAPTURE_DIR) $(if $(TRAFFIC_RUN),--traffic-run $(TRAFFIC_RUN)) \
	  $(if $(filter 1,$(RANDOM)),--random) $(if $(filter 1,$(WRONG)),--wrong)

monitor-model: build-training ## Model-quality monitoring job: captured predictions with ground truth, one run per variant (START, END, VARIANT, BASELINE_JOB; ON_VIOLATION, RETRAIN_ON_VIOLATION=1)
	@$(PYTHON) -m pipeline.monitoring.modelquality --local $(LOCAL_DIR) --workload $(WORKLOAD) $(ALARMS) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  --capture $(CAPTURE_DIR) --ground-truth $(GROUND_TRUTH_DIR) --registry $(MODEL_REGISTRY) \
	  --endpoint-dir $(ENDPOINT_DIR) $(if $(START),--start $(START)) $(if $(END),--end $(END)) \
	  $(if $(BASELINE_JOB),--baseline-job $(BASELINE_JOB)) $(if $(VARIANT),--variant $(VARIANT))

# Monitoring schedules (pipeline/monitoring/schedule.py): CreateMonitoringSchedule requests, each
# schedule its MonitoringScheduleName with a host process of its own,
# make's own for both monitors (hourly; MONITOR_INTERVAL seconds, over the window just ended,
# MONITOR_WINDOW seconds, each execution at most MONITOR_MAX_RUNTIME seconds, default the
# interval) or REQUEST's files (a CreateMonitoringSchedule body each, with the
# Create*JobDefinition bodies it names); a host process (pipeline/monitoring/executions.py) runs
# each execution as a processing job through the job runner. docs/monitoring.md.
MONITOR_INTERVAL ?=
MONITOR_WINDOW ?=
MONITOR_MAX_RUNTIME ?=
# The venv's python when there is one: s3:// baselines, ground truth and outputs (the local S3:
# make s3, then eval "$$(make -s env)") need its boto3.
SCHEDULE_PYTHON = $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON))
SCHEDULE = $(SCHEDULE_PYTHON) -m pipeline.monitoring.schedule --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS)

monitor-schedule: build-training ## CreateMonitoringSchedule: make's own two, both monitors hourly (MONITOR_INTERVAL s; a new start replaces them), or REQUEST="schedule.json [definition.json]" beside any others; ON_VIOLATION, RETRAIN_ON_VIOLATION=1: a host-side alarm watcher
	@$(SCHEDULE) start --capture $(CAPTURE_DIR) --ground-truth $(GROUND_TRUTH_DIR) $(ALARMS) \
	  --registry $(MODEL_REGISTRY) --endpoint-dir $(ENDPOINT_DIR) \
	  $(foreach file,$(REQUEST),--request $(file)) \
	  $(if $(MONITOR_INTERVAL),--interval $(MONITOR_INTERVAL)) \
	  $(if $(MONITOR_WINDOW),--window $(MONITOR_WINDOW)) \
	  $(if $(MONITOR_MAX_RUNTIME),--max-runtime $(MONITOR_MAX_RUNTIME))

monitor-schedule-stop: ## Stop every monitoring schedule of the workload (their executions stay listed by make monitoring)
	@$(SCHEDULE) stop

update-schedule: build-training ## UpdateMonitoringSchedule: REQUEST="update.json [definition.json]" replaces a schedule's request
	@$(SCHEDULE) update --capture $(CAPTURE_DIR) --ground-truth $(GROUND_TRUTH_DIR) \
	  --registry $(MODEL_REGISTRY) --endpoint-dir $(ENDPOINT_DIR) \
	  $(foreach file,$(REQUEST),--request $(file)) \
	  $(if $(MONITOR_INTERVAL),--interval $(MONITOR_INTERVAL)) \
	  $(if $(MONITOR_WINDOW),--window $(MONITOR_WINDOW))

# A schedule's life after it is created (pipeline/monitoring/lifecycle.py), SageMaker's answers
# printed as JSON: NAME is its MonitoringScheduleName; the lists take SageMaker's filters as make
# variables (or BODY='{...}', the request's whole JSON body): NAME_CONTAINS, STATUS,
# ENDPOINT_NAME, MONITORING_TYPE, SORT_BY, SORT_ORDER, MAX_RESULTS (default 100 here; SageMaker's
# 10), NEXT_TOKEN; the executions also SCHEDULED_AFTER/SCHEDULED_BEFORE, CREATED_AFTER/
# CREATED_BEFORE (ISO 8601).
NAME ?=
BODY ?=
MAX_RESULTS ?= 100
LIFECYCLE = $(SCHEDULE_PYTHON) -m pipeline.monitoring.lifecycle --local $(LOCAL_DIR) --workload $(WORKLOAD) \
  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
  $(if $(BODY),--body '$(BODY)')
LIST_FIELDS = --field "EndpointName=$(ENDPOINT_NAME)" --field "StatusEquals=$(STATUS)" \
  --field "MonitoringTypeEquals=$(MONITORING_TYPE)" --field "SortBy=$(SORT_BY)" \
  --field "SortOrder=$(SORT_ORDER)" --field "MaxResults=$(MAX_RESULTS)" --field "NextToken=$(NEXT_TOKEN)" \
  --field "CreationTimeAfter=$(CREATED_AFTER)" --field "CreationTimeBefore=$(CREATED_BEFORE)"

schedules: ## ListMonitoringSchedules (NAME_CONTAINS, STATUS, ENDPOINT_NAME, MONITORING_TYPE, SORT_BY, SORT_ORDER)
	@$(LIFECYCLE) list $(LIST_FIELDS) --field "NameContains=$(NAME_CONTAINS)"

describe-schedule: ## DescribeMonitoringSchedule NAME=...
	@$(LIFECYCLE) describe --field "MonitoringScheduleName=$(NAME)"

stop-schedule: ## StopMonitoringSchedule NAME=... (a running execution is stopped too)
	@$(LIFECYCLE) stop --field "MonitoringScheduleName=$(NAME)"

start-schedule: build-training ## StartMonitoringSchedule NAME=...: a stopped schedule runs again
	@$(LIFECYCLE) start --field "MonitoringScheduleName=$(NAME)"

delete-schedule: ## DeleteMonitoringSchedule NAME=... (its executions stay)
	@$(LIFECYCLE) delete --field "MonitoringScheduleName=$(NAME)"

schedule-executions: ## ListMonitoringExecutions (NAME, STATUS, SCHEDULED_AFTER, SCHEDULED_BEFORE, CREATED_AFTER, ...)
	@$(LIFECYCLE) executions $(LIST_FIELDS) --field "MonitoringScheduleName=$(NAME)" \
	  --field "ScheduledTimeAfter=$(SCHEDULED_AFTER)" --field "ScheduledTimeBefore=$(SCHEDULED_BEFORE)"

# Traffic for the monitors (pipeline/monitoring/traffic.py): N real records of the newest Completed
# processing run's test split (PROCESSING_JOB) to the running endpoint, each with an inference id;
# SHIFT="feature=+amount,feature=*factor" moves numeric features (Digits: pixels=*0.5) for drift.
N ?= 100
SHIFT ?=
traffic: ## Send N real test-split requests to the endpoint with inference ids (SHIFT: drift)
	@$(PYTHON) -m pipeline.monitoring.traffic --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --port $(ENDPOINT_PORT) --count "$(N)" --keep $(KEEP_RUNS) \
	  $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB)) $(if $(SHIFT),--shift '$(SHIFT)')
