# d2l-recsys: `make reproduce` regenerates every figure and RMSE table; `make test` runs the tests.
# Both install into .venv first when needed. GPU=1 installs the CUDA 11.2 build of MXNet.
# Prefer python3.11 where it exists: newer Pythons cannot install numpy 1.23.5 (d2l 1.0.3's pin).
PY      ?= $(shell command -v python3.11 2>/dev/null || echo python3)
GPU     ?= 0
VENV    := .venv
BIN     := $(VENV)/bin
EXTRA   := $(if $(filter 1,$(GPU)),gpu,cpu)
STAMP   := $(VENV)/.installed-$(EXTRA)

.PHONY: install data test bench reproduce exercises notebooks lab browser-test clean

install: $(STAMP)

$(STAMP): setup.py
	@$(PY) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 8) <= v <= (3, 11) else \
	  "d2l-recsys needs Python 3.8 to 3.11 (d2l 1.0.3 pins numpy 1.23.5; MXNet 1.9.1 needs numpy < 1.24); " \
	  "$(PY) is %d.%d. Run: make install PY=python3.11" % v)'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRA),dev]"
	rm -f $(VENV)/.installed-*
	touch $@

data: install
	$(BIN)/python -m d2l_recsys data

test: install data
	$(BIN)/python -m pytest -q tests

bench: install data
	$(BIN)/python benchmarks/bench.py

reproduce: install data
	$(BIN)/python -m d2l_recsys.reproduce

exercises: install data
	$(BIN)/python -m d2l_recsys exercises

notebooks: install
	$(BIN)/python tools/notebooks.py

# No MPLBACKEND here or anywhere in this file: exported, it reaches the Jupyter kernels and
# stops ipykernel from drawing figures inline. The headless scripts need none: the package
# draws its curves on an Agg canvas of its own, and reproduce and bench set it themselves.
lab: install
	$(BIN)/jupyter lab notebooks/

# The MF notebook run in JupyterLab (started as `make lab` does) in Chromium, driven by
# Playwright: needs /usr/bin/chromium (apt-get install chromium; .ci/browser does both).
browser-test: install data $(VENV)/.installed-browser
	$(BIN)/python -m pytest -q --browser tests/test_browser.py

$(VENV)/.installed-browser: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRA),dev,browser]"
	touch $@

clean:
	rm -rf $(VENV) results notebooks/executed build/browser-test
