"""d2l_recsys/compat.py: MXNet 1.9.1 with NumPy 1.24-1.26, and one line where it cannot run.

Each case runs in a fresh interpreter (what it tests happens once, at import). Python 3.13 and
NumPy 2 are simulated by setting ``sys.version_info`` / ``numpy.__version__`` before importing
the tab (after NumPy itself): compat reads nothing else to decide.
"""
import importlib.util
import os
import subprocess
import sys

import numpy
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_MXNET = importlib.util.find_spec('mxnet') is not None
NEW_NUMPY_1 = (1, 24) <= tuple(int(p) for p in numpy.__version__.split('.')[:2]) < (2, 0)


def python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT,
                          env={'PYTHONWARNINGS': 'ignore', 'PATH': os.defpath})


def one_line_import_error(code):
    proc = python(code + '\ntry:\n    import d2l_recsys.mxnet\nexcept ImportError as e:\n'
                  '    print(e)\nelse:\n    print("imported")')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return lines[0]


def test_python_3_13_gets_one_line_pointing_to_the_pytorch_tab():
    line = one_line_import_error("import numpy, pandas, sys\n"   # imported as 3.11 is
                                 "sys.version_info = (3, 13, 0, 'final', 0)")
    assert line.startswith('The MXNet tab needs MXNet 1.9.1, which runs on Python 3.8-3.12 only')
    assert 'this is Python 3.13' in line and 'from d2l_recsys import torch as d2l' in line


@pytest.mark.skipif(not HAVE_MXNET, reason='MXNet is not installed here')
def test_numpy_2_gets_one_line_with_what_to_do():
    line = one_line_import_error("import numpy; numpy.__version__ = '2.1.0'")
    assert 'does not run with NumPy 2 (this is NumPy 2.1.0)' in line
    assert "pip install 'numpy<2'" in line and 'PyTorch tab' in line


@pytest.mark.skipif(HAVE_MXNET, reason='MXNet is installed here')
def test_missing_mxnet_gets_one_line_with_the_extra():
    line = one_line_import_error('')
    assert 'which is not installed' in line and "pip install 'd2l-recsys[cpu]'" in line


@pytest.mark.skipif(not (HAVE_MXNET and NEW_NUMPY_1), reason='needs MXNet with NumPy 1.24-1.26')
def test_mxnet_imports_after_compat_and_only_numpy_bool_is_restored():
    before = set(vars(numpy))
    proc = python('import numpy\nbefore = set(vars(numpy))\nimport d2l_recsys.compat\n'
                  'print(sorted(set(vars(numpy)) - before), numpy.bool is bool)\n'
                  'import mxnet as mx\n'
                  'print(mx.np.array([1, 0]).astype(bool).asnumpy().tolist())')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['bool'] True", '[True, False]']
    assert set(vars(numpy)) == before   # this process is left as it was


@pytest.mark.skipif(not (HAVE_MXNET and NEW_NUMPY_1), reason='needs MXNet with NumPy 1.24-1.26')
def test_import_order_the_readme_gives():
    # mxnet first fails on NumPy 1.24-1.26; the tab, then mxnet again, recovers.
    proc = python('try:\n    import mxnet\nexcept AttributeError as e:\n    print("failed:", e)\n'
                  'from d2l_recsys import mxnet as d2l\nimport mxnet as mx\n'
                  'print(mx.np.ones(2).sum().item())')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("failed: module 'numpy' has no attribute 'bool'")
    assert lines[-1] == '2.0'
