# SessionGuard developer commands. Every target but `install` uses the project's .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13: python3.13 from PATH, else the newest 3.13 that pyenv installed (machines like CI's).
PYTHON ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ENV ?= default
# sam build needs python3.13 on PATH; the venv provides it. No telemetry from CI or laptops.
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help install lock lint typecheck lint-iac build test unit browser bench eval demo deploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv (Python 3.13) with the project and its pinned dev tools

$(STAMP): requirements-dev.lock layers/sessionguard/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install python3.13 or pyenv's 3.13" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

lock: ## Re-resolve requirements-dev.in into requirements-dev.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements-dev.in
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^sessionguard' > requirements-dev.lock
	rm -rf .lock-venv

lint: $(STAMP) ## ruff (lint and format check) and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: lint

lint-iac: $(STAMP) ## sam validate --lint on template.yaml; cfn-lint and checkov on it and central/template.yaml
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml central/template.yaml
	$(BIN)/checkov --quiet --compact --skip-download --framework cloudformation \
		--file template.yaml --file central/template.yaml

build: $(STAMP) ## sam build (functions and the sessionguard layer, arm64)
	$(BIN)/sam build --template template.yaml

unit: $(STAMP) browser ## pytest only
	$(BIN)/pytest -q

# Headless Chromium for tests/e2e/test_replay_browser.py (Debian's package; CI runs as root).
browser: ## Install Debian's chromium when it is missing (the replay page's browser test)
	@command -v chromium >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium; }

test: lint lint-iac build unit ## Everything CI runs

bench: $(STAMP) ## Engine throughput against the JSON floor; last line is JSON
	$(BIN)/python benchmarks/bench_engine.py

eval: $(STAMP) ## Detection (Linux, Windows) and masking on the public corpora in evaluation/; last line is JSON
	$(BIN)/python -m evaluation

demo: $(STAMP) ## The whole pipeline on the embedded AWS emulator
	$(BIN)/python -m demo $(if $(SESSION),--session $(SESSION))

deploy: build ## sam deploy with the samconfig environment ENV (default, prod)
	$(BIN)/sam deploy --config-env $(ENV)

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .demo
