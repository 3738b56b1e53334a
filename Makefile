# The two commands that are the contract: `make demo` and `make test`, on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# checkov pins much of its own dependency tree: it gets its own venv so it cannot move ours.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
CHECKOV_VERSION := 3.3.30
# The AWS provider comes from a local filesystem mirror (no registry access): the first of
# these that holds hashicorp/aws, unless TF_PLUGIN_DIR is given.
TF_PLUGIN_DIR ?= $(firstword $(foreach d,/opt/tf-plugins /usr/share/terraform/plugins $(HOME)/.terraform.d/plugins,$(if $(wildcard $(d)/registry.terraform.io/hashicorp/aws),$(d))))
export TF_PLUGIN_DIR

.PHONY: all venv deps demo test lint suite unit fmt clean iam-examples checkov terraform-check bench

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

checkov: $(CHECKOV_STAMP)

demo: venv
	$(VENV)/bin/awsfailover demo

lint: venv
	$(VENV)/bin/ruff check awsfailover tests bench .ci
	$(VENV)/bin/ruff format --check awsfailover tests bench .ci
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) .ci/check_sizes.py

# Tests by kind: tests/unit (pure, no endpoint), tests/functional/<feature> (the CLI, the agent
# and the engine against the local endpoint), tests/terraform, tests/e2e (the keepalived lab).
# Two workers for everything but the lab (tests/conftest.py keeps Terraform and the race test
# each on one worker); then the lab alone, because it measures VRRP timings that a busy CPU
# would distort. PYTEST_WORKERS=0 runs the first part in this process.
PYTEST_WORKERS ?= 2
LAB_TESTS := tests/e2e
suite: venv checkov
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 --ignore=$(LAB_TESTS)
	$(VENV)/bin/pytest -q $(LAB_TESTS)

# The pure tests only: seconds, no endpoint, no system package.
unit: venv
	$(VENV)/bin/pytest -q tests/unit

# Only the Terraform part (fmt, validate, checkov, apply/fail over/plan/destroy per example).
terraform-check: venv checkov
	$(VENV)/bin/pytest -q -s tests/terraform

# System packages the end-to-end tests run for real (keepalived, iproute2's ip). As root with
# apt-get they are installed; otherwise make stops with the one command to run.
DEPS_CMDS := keepalived:keepalived ip:iproute2
deps:
	@missing=""; for pair in $(DEPS_CMDS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
	  echo "make deps: missing$$missing; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	fi

test: deps lint suite

fmt: venv
	$(VENV)/bin/ruff format awsfailover tests bench
	$(VENV)/bin/ruff check --fix awsfailover tests bench

# Benchmarks: a script that prints ratios measured in one run (not timed tests). awscli is
# the baseline of row 1: the one on PATH, else its own venv (it pins botocore).
AWSCLI_VENV := .venv-awscli
bench: venv
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@command -v aws >/dev/null || [ -x $(AWSCLI_VENV)/bin/aws ] || \
	  ( $(PYTHON) -m venv $(AWSCLI_VENV) && $(AWSCLI_VENV)/bin/pip install --quiet awscli )
	PATH="$$PATH:$(CURDIR)/$(AWSCLI_VENV)/bin" $(PY) bench/run.py

# Regenerate iam/examples/*.json from their .args (a test fails when they drift).
iam-examples: venv
	for f in iam/examples/*.args; do \
	  grep -v '^#' $$f | AWSFAILOVER_CONFIG=/nonexistent xargs $(VENV)/bin/awsfailover iam-policy > $${f%.args}.json || exit 1; \
	done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(AWSCLI_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
