# MLB-STS: every target installs what is missing first (idempotent, fast the second time).
# The virtual environment lives at .venv/ (contract); `mlbsts` is its console script.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help install promtool chromium demo test test-unit test-flow test-integration test-e2e lint format bench soak faults stack-up stack-down stack-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing MLB-STS and its pinned dependencies into $(VENV)/ ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv/ and install the project (idempotent)

# promtool (tests/unit/test_alert_rules.py): a system one if present, else the binary alone
# from Debian's `prometheus` package, unpacked into .venv/bin/. Installing that package would
# start a Prometheus daemon (its postinst runs `invoke-rc.d prometheus start`), so it is not.
PROMTOOL_DEB_DIR := $(VENV)/.promtool-deb
promtool: install ## promtool for the alert-rule tests (Debian's prometheus package, no daemon)
	@if command -v promtool >/dev/null || test -x $(BIN)/promtool; then exit 0; fi; \
	echo "installing promtool from Debian's prometheus package into $(BIN)/ ..."; \
	rm -rf $(PROMTOOL_DEB_DIR); mkdir -p $(PROMTOOL_DEB_DIR); chmod 777 $(PROMTOOL_DEB_DIR); \
	( cd $(PROMTOOL_DEB_DIR) && { apt-get download -qq prometheus 2>/dev/null \
	  || { apt-get update -qq && apt-get download -qq prometheus; }; } ); \
	dpkg-deb --fsys-tarfile $(PROMTOOL_DEB_DIR)/prometheus_*.deb \
	  | tar -xO ./usr/bin/promtool > $(BIN)/promtool.part; \
	chmod 755 $(BIN)/promtool.part; mv $(BIN)/promtool.part $(BIN)/promtool; \
	rm -rf $(PROMTOOL_DEB_DIR); $(BIN)/promtool --version | head -1

# Chromium and its WebDriver for the live page's browser tests (tests/integration/
# test_live_page.py), from Debian's packages; the package lists are refreshed only if needed.
chromium: ## Debian's chromium and chromium-driver for the live page's browser tests
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	echo "installing chromium and chromium-driver from Debian ..."; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq chromium chromium-driver >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; \
	chromium --version

demo: install ## start the local stack and run the main job on a real recorded game
	$(BIN)/mlbsts demo

stack-up: install ## start the embedded local stack (Kafka protocol, S3, PostgreSQL, Redis)
	$(BIN)/mlbsts stack up

stack-down: install ## stop every process the local stack started
	$(BIN)/mlbsts stack down

stack-status: install ## health of each local stack component
	$(BIN)/mlbsts stack status

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-unit: install promtool ## pure logic only, no servers
	$(PYTEST) -m "unit" -q

test-flow: install ## Bytewax dataflows in-process (1 and 2 workers)
	$(PYTEST) -m "flow" -q

# Integration and e2e tiers need the local stack: started if it is not running, and stopped
# again afterwards only if this target started it.
test-integration test-e2e: test-%: install chromium
	@if $(BIN)/mlbsts stack status >/dev/null 2>&1; then started=0; else started=1; $(BIN)/mlbsts stack up; fi; \
	rc=0; $(PYTEST) -m "$*" -q || rc=$$?; \
	if [ $$started = 1 ]; then $(BIN)/mlbsts stack down; fi; exit $$rc

test: install promtool chromium lint ## lint, then every tier (unit, flow, integration, e2e) on the real local stack
	@if $(BIN)/mlbsts stack status >/dev/null 2>&1; then started=0; else started=1; $(BIN)/mlbsts stack up; fi; \
	rc=0; $(PYTEST) -q || rc=$$?; \
	if [ $$started = 1 ]; then $(BIN)/mlbsts stack down; fi; exit $$rc

bench: install ## benchmarks; writes bench/report.md
	$(BIN)/python -m bench

soak: install ## soak: the poller follows 3 synthetic days (~6 min); writes bench/soak-report.md
	$(BIN)/python -m bench.soak

faults: install ## fault suite on a private stack (~10 min); writes bench/fault-report.md
	MLBSTS_FAULT_REPORT=bench/fault-report.md $(PYTEST) -m faults -q tests/e2e/test_faults.py

clean: ## remove the local stack's data (stops it first) and caches
	-$(BIN)/mlbsts stack down --purge
	rm -rf .mlbsts .pytest_cache .mypy_cache .ruff_cache .hypothesis
