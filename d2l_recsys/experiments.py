"""The chapters' two experiments as functions, with the book's settings as defaults.

Used by the command line, the reproduction script and the benchmarks. Each function is the
book's cell (:numref:`sec_mf`, :numref:`sec_autorec`) with the data path, the seed and the
devices as arguments, and returns ``(net, history, info)``:

* ``history``: what :func:`~d2l_recsys.training.train_recsys_rating` returns, plus
  ``test_rmse_exact`` (the RMSE over the whole test set after the last epoch) and
  ``test_rmse_kind`` (what the per-epoch ``test_rmse`` is: the book's MF evaluator is a mean
  of running RMSEs, not the test-set RMSE).
* ``info``: model name, hyper-parameters, seed, sizes, and ``train_interactions`` (0-based
  ``users``, ``items``, ``ratings`` of the training split, as NumPy arrays; used to skip seen
  items when recommending and, for AutoRec, as the model's input). Everything else in
  ``info`` is JSON-serialisable.
"""
import os
import random

import mxnet as mx
import numpy as onp
from mxnet import gluon, np

from .evaluation import autorec_evaluator, autorec_rmse_exact, evaluator, rmse_exact
from .models import AutoRec, MF
from .training import parse_devices, train_recsys_rating

__all__ = ['set_seed', 'train_mf', 'train_autorec', 'load_mf_data', 'load_autorec_data',
           'MF_DEFAULTS', 'AUTOREC_DEFAULTS']

MF_DEFAULTS = dict(num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
                   split_mode='seq-aware', test_ratio=0.1)
AUTOREC_DEFAULTS = dict(num_hidden=500, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
                        split_mode='random', test_ratio=0.1)

RUNNING_MEAN = ('book evaluator: mean over test batches of the running RMSE '
                '(not the test-set RMSE; see test_rmse_exact)')
EXACT = 'book evaluator: RMSE over all observed test ratings (exact)'


def set_seed(seed):
    """Seed MXNet (every device), NumPy and Python's ``random`` with one number.

    MXNet's generator draws the random split and the initial weights and dropout masks; NumPy's
    the DataLoader's shuffling; Python's is seeded for anything else that uses it.
    """
    seed = int(seed)
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f'seed must be in [0, 2**32), got {seed}')
    mx.random.seed(seed)
    onp.random.seed(seed)
    random.seed(seed)


def _check(name, value, ok, what):
    if not ok:
        raise ValueError(f'{name} must be {what}, got {value!r}')


def _check_common(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices):
    _check('lr', lr, lr > 0, 'positive')
    _check('wd', wd, wd >= 0, 'zero or positive')
    _check('batch_size', batch_size, int(batch_size) == batch_size and batch_size >= 1,
           'a positive integer')
    _check('num_epochs', num_epochs, int(num_epochs) == num_epochs and num_epochs >= 1,
           'a positive integer')
    _check('split_mode', split_mode, split_mode in ('random', 'seq-aware'),
           "'random' or 'seq-aware'")
    _check('test_ratio', test_ratio, 0 < test_ratio < 1, 'between 0 and 1')
    devices = parse_devices(devices)
    if batch_size % len(devices):
        # split_and_load(even_split=True) in the book's loop needs equal shards.
        raise ValueError(f'batch_size {batch_size} must be a multiple of the number of '
                         f'devices ({len(devices)}: {devices})')
    return devices


def _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed):
    """The checks, then the seed: shared by the faithful and the fast path, in this order, so
    that both make the same random draws after it. Returns the devices."""
    devices = _check_common(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices)
    if seed is not None:
        set_seed(seed)
    return devices


def _read_split_load(data_dir, split_mode, test_ratio):
    """Read, split and load (explicit feedback) as ``split_and_load_ml100k`` does.

    Returns ``(folder, num_users, num_items, train, test)``, ``train`` and ``test`` being
    ``load_data_ml100k``'s ``(users, items, scores, inter_mat)``. Both the faithful and the
    fast path read their data here, so they get the same split from the same seed.
    """
    from . import data
    if data_dir is None:
        # Resolve the folder here (not inside read_data_ml100k) to record where it came from.
        from . import fetch
        data_dir = fetch.ml100k_dir()
    folder = os.path.abspath(os.fspath(data_dir))
    df, num_users, num_items = data.read_data_ml100k(folder)
    # The vectorised twins: same output and same MXNet random draws as the book's, but the
    # seq-aware split does not scan a list of test tuples for every training row, and the
    # loader does not set 100,000 MXNet entries one at a time.
    train_data, test_data = data.split_data_ml100k_fast(df, num_users, num_items, split_mode,
                                                        test_ratio)
    train = data.load_data_ml100k_fast(train_data, num_users, num_items, 'explicit')
    test = data.load_data_ml100k_fast(test_data, num_users, num_items, 'explicit')
    return folder, num_users, num_items, train, test


def _data_info(folder, train, test):
    """The data part of ``info``: folder, split sizes, the training triples (0-based)."""
    u, i, r = train[:3]
    return {'data_dir': folder, 'train_size': len(u), 'test_size': len(test[0]),
            'train_interactions': {'users': onp.asarray(u, dtype=onp.int64),
                                   'items': onp.asarray(i, dtype=onp.int64),
                                   'ratings': onp.asarray(r, dtype=onp.float32)}}


def _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio):
    """The training settings part of ``info``."""
    return dict(lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs, optimizer='adam',
                split_mode=split_mode, test_ratio=test_ratio)


def load_mf_data(*, split_mode='seq-aware', test_ratio=0.1, batch_size=512, data_dir=None):
    """The body of ``split_and_load_ml100k`` (explicit feedback), keeping the training triples.

    Returns ``(num_users, num_items, train_iter, test_iter, extra)`` where ``extra`` has the
    data folder, the split sizes and ``train_interactions``. Same random draws, in the same
    order, as ``data.split_and_load_ml100k`` (the vectorised loaders give identical output).
    """
    folder, num_users, num_items, train, test = _read_split_load(
        data_dir, split_mode, test_ratio)
    train_u, train_i, train_r, _ = train
    test_u, test_i, test_r, _ = test
    train_set = gluon.data.ArrayDataset(
        np.array(train_u), np.array(train_i), np.array(train_r))
    test_set = gluon.data.ArrayDataset(
        np.array(test_u), np.array(test_i), np.array(test_r))
    train_iter = gluon.data.DataLoader(
        train_set, shuffle=True, last_batch='rollover',
        batch_size=batch_size)
    test_iter = gluon.data.DataLoader(
        test_set, batch_size=batch_size)
    return num_users, num_items, train_iter, test_iter, _data_info(folder, train, test)


def load_autorec_data(*, split_mode='random', test_ratio=0.1, batch_size=256, data_dir=None,
                      user_based=False, num_workers=0):
    """The data part of the book's AutoRec cell.

    Returns ``(num_users, num_items, train_iter, test_iter, test_inter_mat, extra)``. With
    ``user_based=True`` the matrices are transposed (rows are users). ``num_workers=0``
    instead of the book's ``d2l.get_dataloader_workers()``: the batches and their order are
    the same (shuffling happens in the main process), without forking worker processes that
    slicing a dense matrix does not need.
    """
    folder, num_users, num_items, train, test = _read_split_load(
        data_dir, split_mode, test_ratio)
    train_inter_mat, test_inter_mat = train[3], test[3]
    if user_based:
        train_inter_mat, test_inter_mat = train_inter_mat.T, test_inter_mat.T
    train_iter = gluon.data.DataLoader(train_inter_mat, shuffle=True,
                                       last_batch="rollover", batch_size=batch_size,
                                       num_workers=num_workers)
    test_iter = gluon.data.DataLoader(np.array(train_inter_mat), shuffle=False,
                                      last_batch="keep", batch_size=1024,
                                      num_workers=num_workers)
    return (num_users, num_items, train_iter, test_iter, test_inter_mat,
            _data_info(folder, train, test))


def _dispatch_fast(name, kwargs):
    try:
        from . import fast as fast_module
    except ImportError as e:
        raise RuntimeError(f'fast=True needs d2l_recsys.fast, which cannot be imported: {e}')
    return getattr(fast_module, name)(**kwargs)


def train_mf(*, num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
             split_mode='seq-aware', test_ratio=0.1, devices=None, seed=None, data_dir=None,
             fast=False, plot=None, figure_path=None, progress=None):
    """The book's MF experiment (:numref:`sec_mf`): 30 factors, Adam, lr 0.002, wd 1e-5,
    batch 512, 20 epochs, seq-aware split with 10% test, ``Normal(0.01)`` initialisation.

    ``devices``: list of contexts or a string for :func:`~d2l_recsys.training.parse_devices`
    (None: GPUs if any, else the CPU). ``seed``: :func:`set_seed` first. ``plot``,
    ``figure_path``, ``progress``: as in :func:`~d2l_recsys.training.train_recsys_rating`
    (``progress=None``: a line per epoch on stderr outside Jupyter). ``fast=True`` runs
    ``d2l_recsys.fast.train_mf_fast`` with the same arguments. Returns ``(net, history, info)``
    (see the module docstring).
    """
    kwargs = dict(num_factors=num_factors, lr=lr, wd=wd, batch_size=batch_size,
                  num_epochs=num_epochs, split_mode=split_mode, test_ratio=test_ratio,
                  devices=devices, seed=seed, data_dir=data_dir, plot=plot,
                  figure_path=figure_path, progress=progress)
    if fast:
        return _dispatch_fast('train_mf_fast', kwargs)
    _check('num_factors', num_factors, int(num_factors) == num_factors and num_factors >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed)
    num_users, num_items, train_iter, test_iter, extra = load_mf_data(
        split_mode=split_mode, test_ratio=test_ratio, batch_size=batch_size,
        data_dir=data_dir)
    net = MF(num_factors, num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {"learning_rate": lr, 'wd': wd})
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, evaluator, plot=plot, figure_path=figure_path,
                                  progress=progress)
    history['test_rmse_exact'] = rmse_exact(net, test_iter, devices)
    history['test_rmse_kind'] = RUNNING_MEAN
    info = {'model': 'mf', 'num_users': num_users, 'num_items': num_items,
            'hparams': {'num_factors': int(num_factors)},
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': False, **extra}
    return net, history, info


def train_autorec(*, num_hidden=500, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
                  split_mode='random', test_ratio=0.1, user_based=False, devices=None,
                  seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                  progress=None):
    """The book's AutoRec experiment (:numref:`sec_autorec`): item-based, 500 hidden units,
    dropout 0.05, Adam, lr 0.002, wd 1e-5, batch 256, 25 epochs, random split with 10% test.

    ``user_based=True`` trains the paper's user-based variant (rows are users,
    ``AutoRec(num_hidden, num_items)``). Other arguments as :func:`train_mf`.
    """
    kwargs = dict(num_hidden=num_hidden, lr=lr, wd=wd, batch_size=batch_size,
                  num_epochs=num_epochs, split_mode=split_mode, test_ratio=test_ratio,
                  user_based=user_based, devices=devices, seed=seed, data_dir=data_dir,
                  plot=plot, figure_path=figure_path, progress=progress)
    if fast:
        return _dispatch_fast('train_autorec_fast', kwargs)
    _check('num_hidden', num_hidden, int(num_hidden) == num_hidden and num_hidden >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed)
    num_users, num_items, train_iter, test_iter, test_inter_mat, extra = load_autorec_data(
        split_mode=split_mode, test_ratio=test_ratio, batch_size=batch_size,
        data_dir=data_dir, user_based=user_based)
    net = AutoRec(num_hidden, num_items if user_based else num_users)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {"learning_rate": lr, 'wd': wd})
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, autorec_evaluator, inter_mat=test_inter_mat,
                                  plot=plot, figure_path=figure_path, progress=progress)
    history['test_rmse_exact'] = autorec_rmse_exact(net, test_iter, test_inter_mat, devices)
    history['test_rmse_kind'] = EXACT
    info = {'model': 'autorec', 'num_users': num_users, 'num_items': num_items,
            'hparams': {'num_hidden': int(num_hidden), 'dropout': 0.05},
            'user_based': bool(user_based),
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': False, **extra}
    return net, history, info
