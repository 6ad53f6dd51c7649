# NTPT Workbench: the README's commands.
#   make test    set up .venv (first run only) and run the test suite (PYTEST_ARGS="..." passes through)
#   make demo    run the command-line demo
#   make lab     start JupyterLab with the workbench extension
#   make lint    ruff
#   make bench   the benchmark scripts
#   make reproduce  the paper's experiments at full size -> docs/results (hours; EXPERIMENTS="math path_len" picks some)
#   make reproduce-quick  the same at smoke-test size -> out/reproduce-quick (minutes)
#                  both take EXECUTOR=inline|processes|ray (WORKERS=N, RAY=local|ADDRESS): where restart shards run
#   make clean   remove out/ and caches (keeps .venv)
# Needs only python3 (>= 3.10) and pip; node is needed only to rebuild the JupyterLab extension.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.stamp
TORCH_PIN      ?= torch==2.13.0
TORCH_FALLBACK ?= torch>=2.4
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup venv test demo lab lint bench reproduce reproduce-quick clean

help:
	@sed -n 's/^#   make /  make /p' Makefile

setup: venv
venv: $(STAMP)

# Rebuilt when pyproject.toml changes or the venv is missing; otherwise a no-op.
# torch comes first: a bare `torch` requirement with nothing installed would pull a multi-GB
# CUDA build, so we install the CPU wheel ourselves before the project asks for `torch>=2.4`.
$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	    echo ">> creating $(VENV) with $(PYTHON)"; \
	    $(PYTHON) -m venv $(VENV) || { \
	        rm -rf $(VENV); echo ">> '$(PYTHON) -m venv' failed (no ensurepip?); trying alternatives"; \
	        if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } || true; \
	        fi; \
	        $(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m virtualenv $(VENV) 2>/dev/null; } || \
	        { rm -rf $(VENV); PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip install --user -q virtualenv && \
	          $(PYTHON) -m virtualenv $(VENV); }; }; \
	fi; \
	[ -x $(PY) ] || { echo "ERROR: could not create $(VENV); install python3-venv (or virtualenv) and retry" >&2; exit 1; }
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	    echo ">> installing torch (CPU)"; \
	    $(PIP) install "$(TORCH_PIN)" || \
	    { echo ">> $(TORCH_PIN) unavailable; trying the CPU index"; \
	      $(PIP) install "$(TORCH_FALLBACK)" --index-url $(TORCH_CPU_INDEX); } || \
	    { echo ">> CPU index unavailable; trying plain pip"; $(PIP) install "$(TORCH_FALLBACK)"; }; \
	fi
	$(PIP) install -e '.[test]'
	@if ! command -v dot >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo ">> installing graphviz (the 'dot' program) with apt-get"; \
	        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; } || \
	        echo "WARNING: could not install graphviz; program graphs will not render (everything else works)"; \
	    else \
	        echo "WARNING: 'dot' (graphviz) not found; install it (apt-get install graphviz / brew install graphviz)" \
	             "to render program graphs. Everything else works without it."; \
	    fi; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo ">> installing chromium (for the JupyterLab browser tests) with apt-get"; \
	        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	        echo "WARNING: could not install chromium; the browser tests will be skipped"; \
	    else \
	        echo "WARNING: /usr/bin/chromium not found; the JupyterLab browser tests will be skipped" \
	             "(apt-get install chromium chromium-driver)."; \
	    fi; \
	fi
	@touch $(STAMP)

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: venv
	$(PY) -m workbench.demo

# JupyterLab on 127.0.0.1 with the workbench extension, notebooks/ as its root, and the library
# out/demo/library (seeded with a small digit net when empty). Kernels inherit WORKBENCH_LIBRARY,
# so `Library()` in a notebook is the panel's library.
lab: venv
	$(PY) -m workbench.seed out/demo/library
	WORKBENCH_LIBRARY="$(CURDIR)/out/demo/library" $(VENV)/bin/jupyter lab --ip=127.0.0.1 \
	    --ServerApp.root_dir="$(CURDIR)/notebooks" --NTPTWorkbench.library="$(CURDIR)/out/demo/library" \
	    $$([ "$$(id -u)" = 0 ] && echo --allow-root)

lint: venv
	$(VENV)/bin/ruff check workbench tests benchmarks

EXPERIMENTS ?= all
EXECUTOR ?=
WORKERS ?=
RAY ?=
EXECUTOR_ARGS := $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(RAY),--ray $(RAY))
reproduce: venv
	for e in $(EXPERIMENTS); do $(PY) -m workbench.cli reproduce $$e $(EXECUTOR_ARGS) || exit 1; done

reproduce-quick: venv
	for e in $(EXPERIMENTS); do $(PY) -m workbench.cli reproduce $$e --quick $(EXECUTOR_ARGS) || exit 1; done

bench: venv
	mkdir -p out/bench/make
	$(PY) benchmarks/restarts.py --repeats 3 --inits normal --restarts 1 8 64 256 --json out/bench/make/restarts.json
	$(PY) benchmarks/overhead.py --archs lenet --repeats 3 --json out/bench/make/overhead.json
	$(PY) benchmarks/scaling.py --json out/bench/make/scaling.json --plots out/bench/make/plots
	$(PY) benchmarks/mnist_addition.py --n 1 --learned-variants shared --json out/bench/make/mnist_addition.json
	$(PY) benchmarks/deepproblog_side_by_side.py --n 1 --quick --iterations 600 --json out/bench/make/dpl_n1_quick.json
	$(PY) benchmarks/lifelong_add2x2.py --quick --json out/bench/make/lifelong_quick.json

clean:
	rm -rf out .pytest_cache .ruff_cache build dist
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
	    \( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -type d -prune -print \
	    | xargs rm -rf
