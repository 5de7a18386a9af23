# Neglect Lab: `make demo` runs the study on the embedded toy organism; `make test` runs the test suite.
# Both create the virtual environment on first use. TORCH_SPEC installs torch first so that pip does not pull a
# CUDA build on CPU machines (here torch==2.13.0 resolves to the local CPU wheel); on a GPU box keep your own
# torch with `make TORCH_SPEC= test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.neglect-lab-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export WANDB_MODE := disabled
export TOKENIZERS_PARALLELISM := false
export PYTHONUNBUFFERED := 1

.PHONY: setup demo study-gpu test test-slow test-all bench figures clean-cache

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	@if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m interp.study --out out/demo

# The same study on SmolLM2-135M-Instruct and the six paper claims (LoRA, bf16 + torch.compile on CUDA). On a GPU box:
# `make TORCH_SPEC= study-gpu`.
study-gpu: $(STAMP)
	$(PY) -m interp.study --preset gpu --out out/study-smollm2

# The layer contract first (pyproject [tool.importlinter]): an upward import or a cycle fails before any test runs.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

test-all: $(STAMP)
	$(PY) -m pytest -q

figures: $(STAMP)
	$(PY) -m figures --out figures/out

bench: $(STAMP)
	$(PY) bench/train_throughput.py
	$(PY) bench/probe_fit.py
	$(PY) bench/organism_build.py
