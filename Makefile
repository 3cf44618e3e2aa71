# One command serves, one command tests; each sets itself up on first use.
#   make serve   – runtime virtualenv (no TensorFlow) + the service on :8000
#   make test    – full virtualenv + system tools, then lint, types and the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt

.DEFAULT_GOAL := help
.PHONY: help lock serve test test-fast lint typecheck pytest system-deps train evaluate export bench bench-smoke reliability image image-test image-multiarch arm64-test predict clean

help:  ## list the targets (a bare `make` does this and installs nothing)
	@echo "usage: make TARGET [ARGS=...]"
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  \1\t\2/' | expand -t 20

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The runtime set only: what the service and the container need.
$(VENV)/.runtime: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -c $(CONSTRAINTS) -e .
	touch $@

# Runtime + training/export + benchmarks + dev tools.
$(VENV)/.dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -c $(CONSTRAINTS) -e '.[train,bench,dev]'
	touch $@ $(VENV)/.runtime

# Both lock files come from pyproject.toml through uv, never by hand: constraints.txt pins every package of
# every extra (what `make test` installs); runtime.lock.txt is the runtime set only, at the same versions,
# with the sha256 of every wheel (the image installs it with --require-hashes, on amd64 and arm64).
# Existing pins are kept; `make lock UPGRADE=1` moves every unpinned dependency to its newest release.
# The runtime lock is rebuilt from scratch each time (uv would otherwise keep a stale file's hash list).
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --quiet --custom-compile-command "make lock"
lock: $(VENV)/.dev  ## rewrite requirements/*.txt from pyproject.toml with uv (UPGRADE=1: newest releases)
	$(UV_COMPILE) --all-extras $(if $(UPGRADE),--upgrade) -o $(CONSTRAINTS)
	rm -f requirements/runtime.lock.txt
	$(UV_COMPILE) --generate-hashes -c $(CONSTRAINTS) -o requirements/runtime.lock.txt

serve: $(VENV)/.runtime  ## runtime virtualenv (no TensorFlow), then serve the committed model on 127.0.0.1:8000
	$(BIN)/python -m service $(ARGS)

predict: $(VENV)/.runtime  ## the offline classifier: make predict ARGS='photos/'
	$(BIN)/python -m service.offline $(ARGS)

system-deps:  ## apt: chromium, hey and wrk (what the browser tests and the load tests use)
	@bash scripts/system-deps.sh

lint: $(VENV)/.dev  ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev  ## mypy, strict
	$(BIN)/mypy

pytest: $(VENV)/.dev  ## the whole test suite (PYTEST_ARGS=... to pass flags)
	$(BIN)/python -m pytest --durations=15 $(PYTEST_ARGS)

# The inner loop: unit tests only (no servers, browser, containers, emulation or slow runs), well under a minute.
FAST_TESTS := not server and not browser and not container and not emulation and not slow
test-fast: $(VENV)/.dev  ## unit tests only, spread over the CPUs: no servers, browser, containers or emulation
	$(BIN)/python -m pytest -q -n auto -m "$(FAST_TESTS)" $(PYTEST_ARGS)

test: system-deps lint typecheck pytest  ## what CI runs: system-deps, lint, typecheck and the whole test suite

train: $(VENV)/.dev  ## train the CNN (TensorFlow; ~20 min on 2 cores)
	$(BIN)/python -m training.train $(ARGS)

evaluate: $(VENV)/.dev  ## evaluation report of models/best_model.keras
	$(BIN)/python -m training.evaluate $(ARGS)

export: $(VENV)/.dev  ## Keras -> ONNX FP32 + INT8, parity, manifest
	$(BIN)/python -m export $(ARGS)

bench: $(VENV)/.dev system-deps  ## full benchmarks into a run folder (ARGS=--publish to rewrite benchmarks/RESULTS.md)
	$(BIN)/python -m benchmarks $(ARGS)

bench-smoke: $(VENV)/.dev system-deps  ## the benchmarks in smoke mode (tiny figures, verdicts marked not measured)
	$(BIN)/python -m benchmarks --smoke $(ARGS)

reliability: $(VENV)/.dev system-deps  ## the reliability suite into a run folder (ARGS=--publish to rewrite RELIABILITY.md)
	$(BIN)/python -m reliability $(ARGS)

# Container images: docker when a Docker engine answers, else buildah + podman (../shared/tools/container-env.sh).
# ARCH=amd64|arm64, default this machine's; another architecture builds and runs under qemu-user (binfmt_misc).
# None of them needs the virtualenv or the test tools (chromium, hey).
image:  ## build the runtime image (ARCH=amd64|arm64)
	bash scripts/image-test.sh --build-only $(if $(ARCH),--arch $(ARCH))

image-test:  ## build, run and check the runtime image (ARCH=amd64|arm64)
	bash scripts/image-test.sh $(if $(ARCH),--arch $(ARCH))

# amd64 + arm64 under one manifest-list name (cifar10-serving:1.0.0), proven through a local registry.
image-multiarch:  ## amd64 + arm64 under one manifest-list name
	bash scripts/multiarch.sh

# The arm64 image run for real under qemu-user, the same answers as amd64, both under one name.
arm64-test:  ## the arm64 image run for real under qemu-user, answers compared with amd64
	bash scripts/multiarch.sh --check

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
