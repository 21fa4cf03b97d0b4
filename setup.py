"""d2l-recsys: the recommender-systems chapters of Dive into Deep Learning, MXNet and PyTorch tabs.

The package itself needs only NumPy, pandas and matplotlib; each tab's framework is an extra,
so that a CPU and a CUDA build are a choice, not a clash:

- ``cpu`` / ``gpu``: the MXNet tab. MXNet 1.9.1 (the last release) runs on Python 3.8-3.12 with
  NumPy < 2. It reads ``numpy.bool``, which NumPy 1.24 removed: on Python 3.8-3.11 these extras
  keep NumPy below 1.24 (1.23.5, the release ``d2l`` 1.0.3 pins too), so ``import mxnet`` works
  in any order. Python 3.12 has no wheels older than NumPy 1.26: there the MXNet tab puts the
  alias back (``d2l_recsys/compat.py``), so it must be imported before ``mxnet``, and MXNet's
  ``import distutils`` needs setuptools. The markers keep these extras from offering MXNet
  where it cannot run (Python 3.13 and later): there they install nothing, and the MXNet tab
  says in one line what to do when it is imported.
- ``torch``: the PyTorch tab, any NumPy, Python 3.8-3.13 (whatever PyTorch has wheels for).
- ``dev``: what the tests and the notebook runner need.
- ``docs``: ``make docs``, the static site built from ``docs/`` and the executed notebooks
  (Sphinx, MyST-NB, sphinx-book-theme; Python 3.11 or newer).
- ``baselines``: ``tools/click_baselines.py`` (scikit-learn, LightGBM), docs/ctr.md's comparison.
- ``oracle``: what ``d2l`` 1.0.3 imports at import time. The tests compare the book's functions
  with d2l's own; d2l itself is installed with ``pip install --no-deps d2l==1.0.3`` (``make
  install`` does it), because its metadata pins numpy 1.23.5, pandas 2.0.3 and matplotlib
  3.7.2, which have no wheels past Python 3.11.
"""
from setuptools import find_packages, setup

MXNET = 'python_version < "3.13"'   # the Pythons with NumPy < 2 wheels
MXNET_NEEDS = [
    # NumPy 1.23 still has numpy.bool, which MXNet 1.9.1 reads: `import mxnet` works first.
    'numpy>=1.17,<1.24; python_version < "3.12"',
    # Python 3.12's oldest NumPy is 1.26: the MXNet tab restores numpy.bool (compat.py).
    f'numpy>=1.26,<2; python_version >= "3.12" and {MXNET}',
    # Python 3.12 has no distutils, which MXNet imports; setuptools provides it.
    f'setuptools; python_version >= "3.12" and {MXNET}',
]

setup(
    name="d2l-recsys",
    version="0.1.0",
    description="A runnable port of D2L's recommender-systems chapters (MovieLens 100K, "
                "matrix factorization, AutoRec), MXNet Gluon and PyTorch tabs.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # Where the repository is hosted: the only place it is set by hand. The README's "Open in
    # Colab" links and the notebooks' Colab install line are made from it or checked against
    # it. OWNER stands for the account that hosts it; a fork sets its own with
    # `python tools/docs.py repository https://github.com/NAME/d2l-recsys` (docs/install.md).
    url="https://github.com/OWNER/d2l-recsys",
    packages=find_packages(include=["d2l_recsys", "d2l_recsys.*"]),
    python_requires=">=3.8",
    install_requires=[
        "numpy>=1.17",
        "pandas>=1.1",
        "matplotlib>=3.3",
        "requests>=2.20",   # the GroupLens download, when the data is not cached
    ],
    extras_require={
        "cpu": [f"mxnet==1.9.1; {MXNET}"] + MXNET_NEEDS,
        # CUDA 11.2 build: kernels for compute capability 5.0-8.6 (Maxwell to Ampere);
        # it cannot run on Hopper (H100/H200).
        "gpu": [f"mxnet-cu112==1.9.1; {MXNET}"] + MXNET_NEEDS,
        # No upper bound for users: pip takes the newest PyTorch for their Python. `make
        # install` and CI hold it to the version they test with (constraints.txt).
        "torch": ["torch>=2.0"],
        "dev": ["pytest>=8.2", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6",
                "jupyterlab>=4",     # make lab, and the browser test that starts it
                "jupytext>=1.16",    # notebooks/src/*.md -> notebooks/*.ipynb (make notebooks)
                "optuna>=3.6,<6"],   # `tune` searches with Optuna; the tests exercise it
        # make browser-test: drives Debian's Chromium (not Playwright's own download).
        "browser": ["playwright>=1.40"],
        # make docs: the site (docs/ and the executed notebooks), versions as tested.
        "docs": ["sphinx~=9.0", "myst-nb~=1.4", "sphinx-book-theme~=1.4",
                 "sphinx-mathjax-offline~=0.0.2"],   # MathJax in the site, not from a CDN
        # python -m d2l_recsys tune
        "tune": ["optuna>=3.6,<6"],
        # python tools/click_baselines.py: logistic regression and LightGBM on the click data,
        # measured with scikit-learn 1.3.2 and LightGBM 4.6.0 (Optuna searches LightGBM's).
        "baselines": ["scikit-learn>=1.3", "lightgbm>=4", "optuna>=3.6,<6"],
        # d2l 1.0.3 imports these at import time (d2l.Animator needs IPython < 9's
        # backend2gui); d2l itself: `pip install --no-deps d2l==1.0.3`.
        "oracle": ["ipython>=7.23,<9", "matplotlib-inline", "requests"],
    },
    entry_points={"console_scripts": ["d2l-recsys=d2l_recsys.cli:main"]},
)
