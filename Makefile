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
	SHEGONG_AUTH=$${SHEGONG_AUTH:-off} SHEGONG_VISIT_DEMO=$${SHEGONG_VISIT_DEMO:-on} $(SHEGONG) serve --ingest-default

# The UI tests drive Debian's chromium (no browser download) with a CJK font, installed once here.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser:
	@if [ ! -x $(CHROMIUM) ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! fc-list 2>/dev/null | grep -qi "Noto Color Emoji"; then \
		echo "installing Debian chromium, fonts-noto-cjk and fonts-noto-color-emoji for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			--no-install-recommends chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null; \
	fi

test: setup setup-browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check app ingest eval tests
	$(VENV)/bin/mypy app ingest eval
	$(VENV)/bin/lint-imports

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

# Opt-in, never part of `make test` or CI: the LLM answer path against a real small model
# (Qwen2.5-Coder 0.5B Instruct Q4_K_M, served by llama.cpp's OpenAI-compatible server).
# The first run builds llama-cpp-python from source into its own venv (about 10 min on 2 cores) and
# assembles the test-only model (491 MB, sha256-pinned) in data/llm/; later runs take a few minutes.
# `serve` waits for /v1/models before it writes the URL; the trap stops the server however pytest ends.
LLM_VENV ?= ../llm-venv
LLM_PY = $(LLM_VENV)/bin/python
LLAMA_CPP_PKG := llama-cpp-python[server]==0.3.36
LLAMA_CPP_CMAKE_ARGS := -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF -DGGML_NATIVE=OFF \
	-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF
LLM_URL_FILE := data/llm/server.url

.PHONY: test-llm
test-llm: setup
	@test -x $(LLM_PY) || python3 -m venv $(LLM_VENV)
	@$(LLM_PY) -c 'import llama_cpp, llama_cpp.server.app; assert llama_cpp.__version__ == "0.3.36"' 2>/dev/null || { \
		echo "building $(LLAMA_CPP_PKG) from source into $(LLM_VENV) (about 10 minutes on 2 cores)"; \
		CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" $(LLM_PY) -m pip -q --disable-pip-version-check install \
			--no-binary llama-cpp-python "$(LLAMA_CPP_PKG)"; }
	$(PY) -m tests.llm.real_llm fetch
	@rm -f $(LLM_URL_FILE); \
	$(PY) -m tests.llm.real_llm serve --python $(LLM_PY) --url-file $(LLM_URL_FILE) & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null; rm -f $(LLM_URL_FILE)' EXIT; \
	until [ -s $(LLM_URL_FILE) ]; do kill -0 $$server 2>/dev/null || exit 1; sleep 1; done; \
	SHEGONG_TEST_LLM_URL=$$(cat $(LLM_URL_FILE)) $(PY) -m pytest -m llm tests/llm -s
