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

.PHONY: setup demo origin results-toy study-gpu study-cpu results-cpu test test-integration test-slow test-all bench bench-cpu figures lock clean-cache

# torch first (TORCH_SPEC; the lock does not pin it), then the project under the lock, which pins every other
# package of the resolved set, torch's own dependencies included.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	@if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q -c requirements.lock "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	$(PY) -m pip check
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m interp.study --out out/demo

# The origin sweep (issue 17): organisms whose pretraining teaches negation, the belief study on each, the map in
# results/origin (organisms.csv, organisms.md, origin_map.png, sweep.json). Separate from the demo: it builds eleven
# organisms (4-12 min each on one core), two at a time.
origin: $(STAMP)
	$(PY) -m interp.study.origin sweep --grid small --out results/origin --claims toy:2 --seeds 0,1 --jobs 2

# The demo, published as the lab's committed toy results (results/toy) with the README's toy table generated from it.
results-toy: demo
	$(PY) -m interp.study.publish out/demo results/toy --readme README.md --section toy

# The same study on SmolLM2-135M-Instruct and the six paper claims (LoRA, bf16 + torch.compile on CUDA). On a GPU box:
# `make TORCH_SPEC= study-gpu`.
study-gpu: $(STAMP)
	$(PY) -m interp.study --preset gpu --out out/study-smollm2

# SmolLM2-135M-Instruct on two CPU cores (issue 18): two paper claims, short documents, LoRA, an lr pilot, belief per
# channel; <= 90 min on 2 cores. `make results-cpu` publishes it as results/smollm2-cpu.
study-cpu: $(STAMP)
	$(PY) -m interp.study --preset cpu --out out/study-cpu

results-cpu: study-cpu
	$(PY) -m interp.study.publish out/study-cpu results/smollm2-cpu --readme README.md --section smollm2-cpu

# The fast tier: CPU, offline (tests/conftest.py fails a test that reaches for the network), no outside data.
# The layer contract first (pyproject [tool.importlinter]): an upward import or a cycle fails before any test runs.
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow and not integration" -q

# The whole study and the notebooks end to end (CI runs this tier after `make test`).
test-integration: $(STAMP)
	$(PY) -m pytest -m "integration and not slow" -q

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

# Issue 18's CPU matrix on SmolLM2 LoRA: ours vs HF Trainer + peft, fp32 and bf16, tok/s and peak RSS per arm (one
# fresh process each), plus peak RSS at seq 1024 x micro-batch 4 with and without the chunked loss (~10 min on 2 cores).
bench-cpu: $(STAMP)
	$(PY) bench/train_throughput.py --matrix --model smollm2-135m --mode lora --device cpu --docs 32 --seq-len 256 \
		--batch-size 4 --micro-batch-size 4 --warmup-steps 1 --out out/bench-cpu.json

# Re-resolve requirements.lock with pip-compile (pip-tools, in a tools venv of its own) from pyproject.toml and the
# dev extra, keeping the current pins where they still fit. torch is left out (TORCH_SPEC installs it; it only
# constrains the resolution, so that torch's own dependencies are those of the CPU build, with no nvidia-*/triton).
TOOLS_VENV ?= $(VENV)/tools
lock:
	test -x $(TOOLS_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(TOOLS_VENV) && $(TOOLS_VENV)/bin/pip install -q pip-tools; }
	echo "$(TORCH_SPEC)" > $(TOOLS_VENV)/torch-constraint.txt
	grep -v '^#' requirements.lock > $(TOOLS_VENV)/requirements.lock.txt || true
	CUSTOM_COMPILE_COMMAND="make lock" $(TOOLS_VENV)/bin/pip-compile --quiet --extra dev --strip-extras \
	  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --unsafe-package torch --unsafe-package pip \
	  --constraint $(TOOLS_VENV)/torch-constraint.txt --output-file $(TOOLS_VENV)/requirements.lock.txt pyproject.toml
	{ printf '%s\n' "# The whole resolved set of neglect-lab (dependencies + the dev extra), every transitive package pinned;" \
	    "# used as pip constraints by the Makefile. torch is not pinned: the Makefile installs it first (TORCH_SPEC," \
	    "# torch==2.13.0, the CPU build here) so a GPU user keeps their CUDA build. Regenerate with \`make lock\`."; \
	  cat $(TOOLS_VENV)/requirements.lock.txt; } > requirements.lock
