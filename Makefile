# Every target runs tools from .venv, built from pyproject.toml with the exact pins in constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help venv hooks report test lint export lab ui bench clean

help: ## List the targets
	@echo "Usage: make <target>"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create .venv and install mlproj[dev] with the pins in constraints.txt

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	touch $@

hooks: venv ## Once per clone: clean notebooks on save; git notebook merge/diff drivers (run from .venv)
	$(BIN)/nbdev-install-hooks
	git checkout -- .gitconfig .gitattributes  # nbdev writes bare command names; ours name .venv/bin
	printf '#!/bin/sh\nexec "$$(git rev-parse --show-toplevel)/.venv/bin/nbdev-trust"\n' > .git/hooks/post-merge

report: venv ## Run the model report; prints where its HTML is
	$(BIN)/mlproj report

test: venv ## Run the test suite (notebooks, layer contract, reports, CLI)
	$(BIN)/python -m pytest

lint: venv ## Check formatting, lint rules and the layer contract
	$(BIN)/ruff format --check nbs
	$(BIN)/ruff check nbs
	$(BIN)/lint-imports

export: venv ## Export nbs/ to mlproj/, then clean the notebooks and report templates
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-clean --fname mlproj/templates

lab: venv ## Start JupyterLab on nbs/ (adds --allow-root when run as root, e.g. in a container)
	$(BIN)/jupyter lab nbs $(if $(filter 0,$(shell id -u)),--allow-root)

ui: venv ## Browse the project's MLflow runs and models (http://127.0.0.1:5000)
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns.db --default-artifact-root ./mlartifacts --host 127.0.0.1

bench: venv ## Run the benchmarks (serve.py needs wrk: apt-get install wrk)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/serve.py

clean: ## Remove .venv, build artefacts and caches
	rm -rf $(VENV) build dist *.egg-info .cache _proc _docs .pytest_cache .ruff_cache
	@echo 'kept mlruns.db and mlartifacts/ (your MLflow runs and models); remove them by hand'
