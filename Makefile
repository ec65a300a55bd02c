# School Social Monitor: the two commands.
#   make demo   sets up .venv and runs the whole job on the embedded defaults
#   make test   sets up .venv (with the dev and detoxify extras) and runs the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
OUT    ?= demo-out

.PHONY: demo test venv venv-dev bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

# torch is installed first, pinned, so nothing ever pulls an unpinned (CUDA) build.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev,detoxify]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/school-monitor demo --out $(OUT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
