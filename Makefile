# The two commands that are the contract: `make demo` and `make test`, on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: all venv demo test lint unit fmt clean iam-examples

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

demo: venv
	$(VENV)/bin/awsfailover demo

lint: venv
	$(VENV)/bin/ruff check awsfailover tests bench
	$(VENV)/bin/ruff format --check awsfailover tests bench
	$(VENV)/bin/mypy

unit: venv
	$(VENV)/bin/pytest -q

test: lint unit

fmt: venv
	$(VENV)/bin/ruff format awsfailover tests bench
	$(VENV)/bin/ruff check --fix awsfailover tests bench

# Regenerate iam/examples/*.json from their .args (a test fails when they drift).
iam-examples: venv
	for f in iam/examples/*.args; do \
	  grep -v '^#' $$f | AWSFAILOVER_CONFIG=/nonexistent xargs $(VENV)/bin/awsfailover iam-policy > $${f%.args}.json || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
