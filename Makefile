# shegong — one entry point for people and CI.  `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
SHEGONG := $(VENV)/bin/shegong
HASH := $(shell cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-16)
STAMP := $(VENV)/.setup-$(HASH)
PYTEST_ARGS ?=

.PHONY: setup setup-browser run test lint bench bench-embed eval clean help

help:
	@echo "make run    set up, ingest the default knowledge base if needed, serve on http://127.0.0.1:8000"
	@echo "make test   set up and run the test suite (what CI runs)"
	@echo "make lint   ruff + mypy"
	@echo "make bench  speed and memory figures"
	@echo "make eval   evaluation report"

setup: $(STAMP)

# Idempotent and fast when nothing changed: the stamp names the hash of the dependency files.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"
	$(PIP) install torch==2.13.0
	$(PIP) install -c requirements.lock -e '.[dev]'
	@rm -f $(VENV)/.setup-*
	@touch $@
	$(SHEGONG) setup-model

run: setup
	SHEGONG_AUTH=$${SHEGONG_AUTH:-off} $(SHEGONG) serve --ingest-default

# The UI tests drive Debian's chromium (no browser download) with a CJK font, installed once here.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser:
	@if [ ! -x $(CHROMIUM) ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		echo "installing Debian chromium and fonts-noto-cjk for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			--no-install-recommends chromium fonts-noto-cjk >/dev/null; \
	fi

test: setup setup-browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check app ingest eval tests
	$(VENV)/bin/mypy app ingest eval

bench: setup
	$(PY) -m eval.bench

# A study, not part of every bench: embedding backends side by side (about 35 min on 2 quiet cores).
# ONNX/OpenVINO rows need a separate venv, since their exporters pin other transformers versions.
STUDY_VENV ?= ../study-venv
bench-embed: setup
	@test -x $(STUDY_VENV)/bin/python || python3 -m venv $(STUDY_VENV)
	$(STUDY_VENV)/bin/python -m pip -q install torch==2.13.0
	$(STUDY_VENV)/bin/python -m pip -q install -c requirements.lock -e .
	$(STUDY_VENV)/bin/python -m pip -q install -c requirements.lock -r eval/bench_embed_requirements.txt
	$(PY) -m eval.bench_embed --study-python $(STUDY_VENV)/bin/python --json data/bench_embed.json

# The starter set and the four external sets, each beside the naive reference; reports in
# data/eval/runs/, an index in data/eval/index.html. External sets reuse data/ext/NAME when present.
eval: setup
	$(PY) -m eval.make_eval $(EVAL_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
