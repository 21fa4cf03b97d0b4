"""d2l-recsys: the recommender-systems chapters of *Dive into Deep Learning*, runnable.

One framework-free data layer (:mod:`data`, :mod:`fetch`) and one tab per framework, each a
namespace with the book's names: ``from d2l_recsys import mxnet as d2l`` (the book's MXNet
Gluon code) or ``from d2l_recsys import torch as d2l`` (PyTorch). Importing this package
imports neither framework.
"""
__version__ = "0.1.0"


def fast_path_threads(model):
    """Give the fast AutoRec path every CPU core; call before MXNet is imported.

    MXNet 1.9 reads ``OMP_NUM_THREADS`` once, at import, and without it gives its operators
    half the cores (it assumes hyper-threading): one core of a 2-core laptop. AutoRec's large
    dense products run about 1.5x sooner on all cores; MF's many small operators run slower
    (threading overhead), so MF keeps the default. A value the user set is left alone.
    Returns the value set, or None when nothing was changed.
    """
    import os
    import sys
    if model != 'autorec' or 'OMP_NUM_THREADS' in os.environ or 'mxnet' in sys.modules:
        return None
    os.environ['OMP_NUM_THREADS'] = str(os.cpu_count() or 1)
    return os.environ['OMP_NUM_THREADS']
