# The two commands a newcomer needs: `make up` (run the platform) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test install system-deps lint manifests pipeline bench fuzz clean help

help:
	@echo "make up        install what is missing and run the whole platform locally"
	@echo "make test      install everything and run the whole test suite"
	@echo "make pipeline  run the data job, training and promotion now (platform running)"
	@echo "make lint      ruff, hadolint, shellcheck, manifest and workflow validation"
	@echo "make manifests regenerate the training CronJobs after adding or removing a model folder"
	@echo "make bench     run the benchmarks in bench/ (minutes; results in docs)"
	@echo "make fuzz      schemathesis, every check, long run on throwaway mlapp and dbapp"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -c "from local_runner.mlflow_store import ensure_template; ensure_template()"
	touch $@

install: $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

up: install
	$(BIN)/python -m local_runner up

pipeline: install
	$(BIN)/python -m local_runner pipeline

test: install system-deps
	bash scripts/run-tests.sh

lint: install
	BIN=$(BIN) bash deploy/lint.sh

manifests: install
	$(BIN)/python -m deploy.gen_model_cronjobs

bench: install
	$(BIN)/python bench/data_job.py
	$(BIN)/python bench/model_quality.py
	$(BIN)/python bench/mlapp_serving.py
	$(BIN)/python bench/first_prediction.py
	$(BIN)/python bench/validation.py

fuzz: install
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf .data test-artifacts .pytest_cache
