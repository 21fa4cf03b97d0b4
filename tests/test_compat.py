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


MXNET_FIRST = """
import warnings
warnings.simplefilter('always')
try:
    import mxnet as mx
    from mxnet import np, npx
except AttributeError as e:
    print('failed:', str(e).splitlines()[0])
with warnings.catch_warnings(record=True) as caught:
    from d2l_recsys import mxnet as d2l
print('warned:', [str(w.message) for w in caught if w.category is UserWarning])
import mxnet as mx
print(mx.np.array([1, 0]).astype(bool).asnumpy().tolist())
"""


@pytest.mark.skipif(not HAVE_MXNET, reason='MXNet is not installed here')
def test_import_mxnet_first_in_a_fresh_interpreter():
    """A student's cell that starts with `import mxnet`. With NumPy < 1.24 (what the cpu and
    gpu extras install on Python 3.8-3.11) it works and the tab says nothing. With NumPy
    1.24-1.26 (Python 3.12) it fails; importing the tab then recovers, and says in one line
    which order to use."""
    proc = python(MXNET_FIRST)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == '[True, False]'
    if not NEW_NUMPY_1:
        assert lines == ['warned: []', '[True, False]']
        return
    assert lines[0] == "failed: module 'numpy' has no attribute 'bool'."
    warned = eval(lines[1][len('warned: '):])
    assert len(warned) == 1 and '\n' not in warned[0]
    assert warned[0].startswith('`import mxnet` failed before the MXNet tab was imported')
    assert 'import the tab first (`from d2l_recsys import mxnet as d2l`), then `import mxnet`' \
        in warned[0]


def test_mxnet_extras_keep_numpy_below_1_24_where_python_allows():
    """The cpu and gpu extras' NumPy, per Python: below 1.24 on 3.8-3.11 (MXNet imports in
    any order), 1.26 on 3.12 (no older wheels there), nothing on 3.13."""
    from packaging.requirements import Requirement
    extras = setup_keywords()['extras_require']
    for extra in ('cpu', 'gpu'):
        for python, allowed, refused in (('3.8', '1.23.5', '1.24.0'),
                                         ('3.11', '1.23.5', '1.24.0'),
                                         ('3.12', '1.26.4', '1.25.2'),
                                         ('3.13', None, None)):
            env = {'python_version': python, 'python_full_version': python + '.0'}
            numpy_reqs = [r for r in map(Requirement, extras[extra])
                          if r.name == 'numpy' and (r.marker is None or r.marker.evaluate(env))]
            if allowed is None:
                assert numpy_reqs == [], (extra, python)
                continue
            assert len(numpy_reqs) == 1, (extra, python, numpy_reqs)
            spec = numpy_reqs[0].specifier
            assert spec.contains(allowed) and not spec.contains(refused), (extra, python, spec)
            assert not spec.contains('2.0.0')


def setup_keywords():
    """What setup.py passes to setuptools.setup, without running setuptools."""
    import setuptools
    captured = {}
    real = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        path = os.path.join(ROOT, 'setup.py')
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            with open(path, encoding='utf-8') as f:
                exec(compile(f.read(), path, 'exec'), {'__name__': '__main__', '__file__': path})
        finally:
            os.chdir(cwd)
    finally:
        setuptools.setup = real
    return captured
