##@ Tune

tune: build-training $(VENV)/.installed ## Hyperparameter tuning job (TUNING_CONFIG, default pipeline/tuning/configs/WORKLOAD.json; TUNING_JOB: name or continue one; PROCESSING_JOB)
	@$(TUNING) tune --config $(TUNING_CONFIG) $(if $(PROCESSING_JOB),--processing-job $(PROCESSING_JOB))

# The same trials (the default file, Random with one seed) one at a time, then two at a time.
bench-tune: build-training $(VENV)/.installed ## Wall time of the tuning job (TUNING_CONFIG) with 1 and 2 parallel trials -> local/bench-tune.json
	@$(MAKE) --no-print-directory process
	@$(VENV)/bin/python -m pipeline.tuning.bench --local $(LOCAL_DIR) --workload $(WORKLOAD) \
	  --compose "$(COMPOSE)" --docker "$(DOCKER)" --image $(TRAINING_IMAGE) --keep $(KEEP_RUNS) \
	  --config $(TUNING_CONFIG) --out $(LOCAL_DIR)/bench-tune.json
