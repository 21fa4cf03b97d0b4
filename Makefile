# d2l-recsys: `make reproduce` regenerates every figure and RMSE table; `make test` runs the tests.
# Both install into .venv first when needed: both tabs' CPU builds (MXNet on Python 3.8-3.12,
# PyTorch on 3.8-3.13; tools/python_tabs.py decides), the test tools and d2l 1.0.3 for the tests'
# comparisons. GPU=1 installs the CUDA builds instead. PY=python3.12 builds the venv there.
PY      ?= $(shell command -v python3.11 2>/dev/null || echo python3)
GPU     ?= 0
TORCH   ?= 1
VENV    := .venv
BIN     := $(VENV)/bin
EXTRA   := $(if $(filter 1,$(GPU)),gpu,cpu)
STAMP   := $(VENV)/.installed-$(EXTRA)
# Where the PyTorch CPU build comes from: PyPI's Linux wheels are CUDA builds of several GB.
# GPU=1 takes PyPI's. Set TORCH_INDEX= (empty) to use only PyPI; TORCH=0 leaves PyTorch out.
# CI (CI set) uses only the package registry: constraints.txt pins the CPU build it serves.
TORCH_INDEX ?= $(if $(CI)$(filter 1,$(GPU)),,$(if $(filter Linux,$(shell uname -s)),https://download.pytorch.org/whl/cpu))
PIP     := $(BIN)/python -m pip install --quiet -c constraints.txt

.PHONY: install data test bench reproduce exercises notebooks lab browser-test docs clean

install: $(STAMP)

$(STAMP): setup.py constraints.txt tools/python_tabs.py
	@$(PY) tools/python_tabs.py $(EXTRA) $(TORCH) >/dev/null
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" setuptools wheel
	extras=$$($(BIN)/python tools/python_tabs.py $(EXTRA) $(TORCH) 2>/dev/null) && \
	if [ -n "$(TORCH_INDEX)" ] && [ "$(TORCH)" != 0 ]; then \
	  $(PIP) --no-deps --retries 1 --extra-index-url "$(TORCH_INDEX)" torch; fi && \
	$(PIP) -e ".[$$extras]" && \
	case "$$extras" in *oracle*) $(PIP) --no-deps "d2l==1.0.3";; esac
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
# As root (a container, a cloud VM's default user) JupyterLab refuses to start without
# --allow-root; everyone else starts it as it is.
lab: install
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# The site: README.md, docs/ and the notebooks with the outputs of their last run (make
# reproduce's copies in notebooks/executed/, else make test's short-mode runs), as static HTML
# in build/docs/html (Sphinx with MyST-NB; no notebook is run, no network is needed).
docs: $(VENV)/.installed-docs
	$(BIN)/python tools/docs.py

$(VENV)/.installed-docs: $(STAMP)
	$(PIP) -e ".[$(EXTRA),dev,docs]"
	touch $@

# The MF notebook run in JupyterLab (started as `make lab` does) in Chromium, driven by
# Playwright, and the site's MF page: needs /usr/bin/chromium (apt-get install chromium;
# .ci/browser does both).
browser-test: install data docs $(VENV)/.installed-browser
	$(BIN)/python -m pytest -q --browser tests/test_browser.py

$(VENV)/.installed-browser: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRA),dev,browser]"
	touch $@

clean:
	rm -rf $(VENV) results notebooks/executed build/browser-test build/docs build/notebooks
