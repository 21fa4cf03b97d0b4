"""Makes MXNet 1.9.1 importable with NumPy 1.24-1.26; import it before ``import mxnet``.

MXNet 1.9.1, the last MXNet release, reads ``numpy.bool`` when it is imported
(``mxnet/numpy/utils.py`` has ``bool = onp.bool``) and when it builds boolean arrays. That name
was an alias of the builtin ``bool``, which NumPy 1.24 removed, so ``import mxnet`` fails with
NumPy 1.24 and later. On Python 3.8-3.11 the ``cpu`` and ``gpu`` extras keep NumPy below 1.24,
where this module changes nothing and ``import mxnet`` works in any order. NumPy 1.26 is the
newest release MXNet can use and the oldest with wheels for Python 3.12: restoring this one
alias, and nothing else, is what lets the MXNet tab run there. (On Python 3.12, MXNet's ``import distutils`` is served by setuptools, a dependency
of the ``cpu`` and ``gpu`` extras there.)

Where the MXNet tab cannot run at all, importing this module raises an ``ImportError`` whose
message is one line saying what to do: NumPy 2 (MXNet reads names such as ``numpy.PZERO`` that
NumPy 2 removed, and pip's metadata for MXNet asks for NumPy < 2), Python 3.13 and later (no
NumPy < 2 wheels) and an environment without MXNet.

If a notebook runs ``import mxnet`` before importing the MXNet tab, NumPy 1.24-1.26 make that
import fail (``module 'numpy' has no attribute 'bool'``, with NumPy's advice to write ``bool``,
which is no help there); importing the tab first, then ``mxnet``, works, and so does importing
the tab after the failure and ``mxnet`` again: the tab then warns, in one line, with the order.
"""
import importlib.util
import sys
import warnings

import numpy

__all__ = ['NUMPY_VERSION']

NUMPY_VERSION = tuple(int(p) for p in numpy.__version__.split('.')[:2])

_USE = ("use the PyTorch tab (`from d2l_recsys import torch as d2l`, "
        "`pip install 'd2l-recsys[torch]'`), or a Python 3.8-3.12 environment with "
        "`pip install 'd2l-recsys[cpu]'`")


def _unusable():
    """Why the MXNet tab cannot run in this interpreter, as one line; None when it can."""
    python = '%d.%d' % sys.version_info[:2]
    if sys.version_info >= (3, 13):
        return (f'The MXNet tab needs MXNet 1.9.1, which runs on Python 3.8-3.12 only '
                f'(this is Python {python}): {_USE}.')
    if 'mxnet' not in sys.modules and importlib.util.find_spec('mxnet') is None:
        return (f'The MXNet tab needs MXNet 1.9.1, which is not installed in this Python '
                f'{python} environment: `pip install \'d2l-recsys[cpu]\'` (or `[gpu]` for the '
                f'CUDA 11.2 build), or use the PyTorch tab (`from d2l_recsys import torch as d2l`).')
    if NUMPY_VERSION >= (2, 0):
        return (f'The MXNet tab needs MXNet 1.9.1, which does not run with NumPy 2 (this is '
                f'NumPy {numpy.__version__}): `pip install \'numpy<2\'` in this environment, '
                f'or {_USE}.')
    return None


_why = _unusable()
if _why is not None:
    raise ImportError(_why)

if (1, 24) <= NUMPY_VERSION and 'bool' not in vars(numpy):
    # The alias NumPy 1.20 deprecated and 1.24 removed: the builtin, as MXNet expects.
    numpy.bool = bool
    # A failed `import mxnet` leaves the submodules it had loaded, not `mxnet` itself.
    if 'mxnet' not in sys.modules and any(m.startswith('mxnet.') for m in sys.modules):
        warnings.warn(
            f'`import mxnet` failed before the MXNet tab was imported: with NumPy '
            f'{numpy.__version__}, import the tab first (`from d2l_recsys import mxnet as d2l`), '
            f'then `import mxnet`, which works now.', UserWarning, stacklevel=2)
