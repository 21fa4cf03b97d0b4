"""d2l-recsys: the recommender-systems chapters of Dive into Deep Learning, in MXNet Gluon."""
import sys

# numpy 1.23.5 (pinned by d2l 1.0.3) has no wheels past Python 3.11 and MXNet 1.9.1
# does not import with a newer numpy: fail here with words, not in a compiler later.
if not ((3, 8) <= sys.version_info[:2] <= (3, 11)):
    sys.exit(
        "d2l-recsys needs Python 3.8 to 3.11 (found %d.%d): d2l 1.0.3 pins numpy 1.23.5, "
        "which has no wheels for newer Pythons, and MXNet 1.9.1 needs numpy < 1.24. "
        "Create the environment with python3.11, e.g. `make install PY=python3.11`."
        % sys.version_info[:2])

from setuptools import find_packages, setup

setup(
    name="d2l-recsys",
    version="0.1.0",
    description="A runnable MXNet Gluon port of D2L's recommender-systems chapters "
                "(MovieLens 100K, matrix factorization, AutoRec).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["d2l_recsys", "d2l_recsys.*"]),
    python_requires=">=3.8,<3.12",
    install_requires=[
        "d2l==1.0.3",          # brings numpy 1.23.5, pandas 2.0.3, matplotlib 3.7.2
        # d2l.Animator imports IPython's backend2gui, which IPython 9 removed:
        # with IPython 9 the book's plotting fails outside (and inside) Jupyter.
        "ipython>=7.23,<9",
    ],
    extras_require={
        # MXNet is an extra so that the CPU and the CUDA build are a choice, not a clash.
        "cpu": ["mxnet==1.9.1"],
        # CUDA 11.2 build: kernels for compute capability 5.0-8.6 (Maxwell to Ampere);
        # it cannot run on Hopper (H100/H200).
        "gpu": ["mxnet-cu112==1.9.1"],
        "dev": ["pytest>=7", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6",
                "jupytext>=1.16",    # notebooks/*.md -> *.ipynb (make notebooks)
                "optuna>=3.6,<6"],   # `tune` searches with Optuna; the tests exercise it
        # make browser-test: drives Debian's Chromium (not Playwright's own download).
        "browser": ["playwright>=1.40"],
        # python -m d2l_recsys tune
        "tune": ["optuna>=3.6,<6"],
    },
    entry_points={"console_scripts": ["d2l-recsys=d2l_recsys.cli:main"]},
)
