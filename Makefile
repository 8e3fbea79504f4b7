# Quick start: `make demo` (the whole pipeline on CPU) and `make test` (ruff + pytest).
# The venv is created on first use; a stamp file keyed on pyproject.toml makes later calls install nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS ?= swift,teacher,eval,density,real,dev
# "bc": installs made with --compile-bytecode (below); a venv from before it is installed again once.
STAMP := $(VENV)/.installed-bc-$(shell echo "$(EXTRAS)" | tr ',' '-')
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv test test-slow lint demo demo-real bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch comes through pip (which finds the local CPU wheel); the rest through uv, which resolves and installs
# the ~250 packages in about a third of pip's time. uv keeps the installed torch since it satisfies every pin.
# --compile-bytecode writes every installed module's .pyc once (torch's included): where PYTHONDONTWRITEBYTECODE
# is set, as on the CI machines, Python otherwise compiles ms-swift, transformers and torch from source in every
# process, ~10 s per training or eval process (docs/bench_demo.md, round 10).
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q "uv>=0.13" torch==2.13.0
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/uv pip install -q --compile-bytecode -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts tools bench

test: lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	bash scripts/demo.sh

# The base real judge (SmolLM2-135M-Instruct, from the `real` extra) on 100 real HH-RLHF pairs read from
# ../shared/data/hh-rlhf; a few minutes. See docs/real_models.md.
demo-real: $(STAMP)
	bash scripts/demo_real.sh

clean:
	rm -rf $(VENV) outputs
