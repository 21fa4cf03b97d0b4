"""The chapters' two experiments in PyTorch, with the book's settings as defaults.

The same functions, keyword arguments and return values as the MXNet tab's
``experiments.train_mf`` / ``train_autorec``: ``(net, history, info)``, ``history`` from
:func:`~d2l_recsys.torch.training.train_recsys_rating` plus ``test_rmse_exact`` and
``test_rmse_kind``, ``info`` the run's record (``framework: 'torch'``) with the training
triples in ``train_interactions``.

* MF translates the book's MXNet cell (:numref:`sec_mf`): four embeddings from
  :math:`\\mathcal{N}(0, 0.01^2)`, half the squared error averaged over the batch (Gluon's
  ``L2Loss`` with ``trainer.step(batch_size)``), Adam with lr 0.002 and weight decay 1e-5 added
  to the gradient (``torch.optim.Adam``'s ``weight_decay`` is MXNet Adam's ``wd``), batch
  512, 20 epochs, seq-aware split.
* AutoRec is the PyTorch AutoRec deck's cell: weights from :math:`\\mathcal{N}(0, 0.01^2)`
  (biases as PyTorch initialises them), ``MSELoss(reduction='sum')``, Adam lr 0.002, weight
  decay 1e-5, batch 256 with the last short batch dropped, 25 epochs, random split; its
  ``train_loss`` is the deck's (summed squared error per row, about 40).
"""
import os
import random

import numpy as onp
import torch
from torch import nn

from .data import (load_data_ml100k_fast, rating_dataset, read_data_ml100k,
                   split_data_ml100k_fast)
from .evaluation import autorec_evaluator, autorec_rmse_exact, evaluator, rmse_exact
from .models import AutoRec, L2Loss, MF
from .training import parse_devices, train_recsys_rating

__all__ = ['set_seed', 'train_mf', 'train_autorec', 'load_mf_data', 'load_autorec_data',
           'read_split_load']

RUNNING_MEAN = ('book evaluator: mean over test batches of the running RMSE '
                '(not the test-set RMSE; see test_rmse_exact)')
EXACT = 'book evaluator: RMSE over all observed test ratings (exact)'


def set_seed(seed):
    """Seed PyTorch (CPU and every GPU), NumPy and Python's ``random`` with one number.

    NumPy's generator draws the random split; PyTorch's the initial weights, the DataLoaders'
    shuffling and the dropout masks.
    """
    seed = int(seed)
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f'seed must be in [0, 2**32), got {seed}')
    torch.manual_seed(seed)
    onp.random.seed(seed)
    random.seed(seed)


def _check(name, value, ok, what):
    if not ok:
        raise ValueError(f'{name} must be {what}, got {value!r}')


def _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed, fast):
    if fast:
        raise ValueError('fast=True is an MXNet path; the PyTorch tab has one path')
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
    if seed is not None:
        set_seed(seed)
    return devices


def read_split_load(data_dir, split_mode, test_ratio):
    """Read, split (NumPy's generator) and load the explicit ratings of a run: ``(folder,
    num_users, num_items, train, test)``, ``train``/``test`` being ``load_data_ml100k``'s
    ``(users, items, scores, inter_mat)``."""
    if data_dir is None:
        from d2l_recsys import fetch
        data_dir = fetch.ml100k_dir()
    folder = os.path.abspath(os.fspath(data_dir))
    df, num_users, num_items = read_data_ml100k(folder)
    train_data, test_data = split_data_ml100k_fast(df, num_users, num_items, split_mode,
                                                   test_ratio)
    train = load_data_ml100k_fast(train_data, num_users, num_items, 'explicit')
    test = load_data_ml100k_fast(test_data, num_users, num_items, 'explicit')
    return folder, num_users, num_items, train, test


def _data_info(folder, train, test):
    u, i, r = train[:3]
    return {'data_dir': folder, 'train_size': len(u), 'test_size': len(test[0]),
            'train_interactions': {'users': onp.asarray(u, dtype=onp.int64),
                                   'items': onp.asarray(i, dtype=onp.int64),
                                   'ratings': onp.asarray(r, dtype=onp.float32)}}


def _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio):
    return dict(lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs, optimizer='adam',
                split_mode=split_mode, test_ratio=test_ratio)


def load_mf_data(*, split_mode='seq-aware', test_ratio=0.1, batch_size=512, data_dir=None):
    """``split_and_load_ml100k`` (explicit feedback), keeping the training triples.

    Returns ``(num_users, num_items, train_iter, test_iter, extra)``; ``extra`` has the data
    folder, the split sizes and ``train_interactions``.
    """
    folder, num_users, num_items, train, test = read_split_load(
        data_dir, split_mode, test_ratio)
    train_iter = torch.utils.data.DataLoader(rating_dataset(*train[:3]), shuffle=True,
                                             batch_size=batch_size)
    test_iter = torch.utils.data.DataLoader(rating_dataset(*test[:3]), batch_size=batch_size)
    return num_users, num_items, train_iter, test_iter, _data_info(folder, train, test)


def load_autorec_data(*, split_mode='random', test_ratio=0.1, batch_size=256, data_dir=None,
                      user_based=False, num_workers=0):
    """The data part of the PyTorch AutoRec deck's cell.

    Returns ``(num_users, num_items, train_iter, test_iter, test_inter_mat, extra)``:
    ``train_iter`` shuffles the rows of the training matrix (float32 tensor) and drops the last
    short batch, ``test_iter`` reads them in order, 1024 at a time, and ``test_inter_mat`` is
    the NumPy test matrix. ``user_based=True`` transposes both matrices (rows are users).
    ``num_workers=0`` instead of the deck's ``d2l.get_dataloader_workers()``: the same
    batches in the same order (the sampler runs in the main process), without forking worker
    processes to slice a matrix already in memory.
    """
    folder, num_users, num_items, train, test = read_split_load(
        data_dir, split_mode, test_ratio)
    train_inter_mat, test_inter_mat = train[3], test[3]
    if user_based:
        train_inter_mat, test_inter_mat = train_inter_mat.T, test_inter_mat.T
    train_inter_mat_t = torch.tensor(train_inter_mat, dtype=torch.float32)
    test_inter_mat_np = onp.array(test_inter_mat)
    train_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=True,
                                             drop_last=True, batch_size=batch_size,
                                             num_workers=num_workers)
    test_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=False,
                                            batch_size=1024, num_workers=num_workers)
    return (num_users, num_items, train_iter, test_iter, test_inter_mat_np,
            _data_info(folder, train, test))


def train_mf(*, num_factors=30, lr=0.002, wd=1e-5, batch_size=512, num_epochs=20,
             split_mode='seq-aware', test_ratio=0.1, devices=None, seed=None, data_dir=None,
             fast=False, plot=None, figure_path=None, progress=None):
    """The book's MF experiment (:numref:`sec_mf`) in PyTorch: 30 factors, Adam, lr 0.002,
    weight decay 1e-5, batch 512, 20 epochs, seq-aware split with 10% test.

    ``devices``: a list of ``torch.device`` or a string for
    :func:`~d2l_recsys.torch.training.parse_devices` (None: every GPU, else the CPU);
    ``seed``: :func:`set_seed` first; ``plot``, ``figure_path``, ``progress`` as in
    ``train_recsys_rating``. ``fast`` exists for the MXNet tab's signature and must stay
    False. Returns ``(net, history, info)``.
    """
    _check('num_factors', num_factors, int(num_factors) == num_factors and num_factors >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed,
                       fast)
    num_users, num_items, train_iter, test_iter, extra = load_mf_data(
        split_mode=split_mode, test_ratio=test_ratio, batch_size=batch_size,
        data_dir=data_dir)
    net = MF(num_factors, num_users, num_items)   # N(0, 0.01^2), the book's init
    loss = L2Loss()
    trainer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, evaluator, plot=plot, figure_path=figure_path,
                                  progress=progress)
    history['test_rmse_exact'] = rmse_exact(net, test_iter, devices)
    history['test_rmse_kind'] = RUNNING_MEAN
    info = {'model': 'mf', 'framework': 'torch', 'num_users': num_users,
            'num_items': num_items, 'hparams': {'num_factors': int(num_factors)},
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': False, **extra}
    return net, history, info


def train_autorec(*, num_hidden=500, lr=0.002, wd=1e-5, batch_size=256, num_epochs=25,
                  split_mode='random', test_ratio=0.1, user_based=False, devices=None,
                  seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                  progress=None):
    """The PyTorch AutoRec deck's experiment: item-based, 500 hidden units, dropout 0.05,
    Adam, lr 0.002, weight decay 1e-5, batch 256, 25 epochs, random split with 10% test.

    ``user_based=True`` trains the paper's user-based variant (rows are users,
    ``AutoRec(num_hidden, num_items)``). Other arguments as :func:`train_mf`.
    """
    _check('num_hidden', num_hidden, int(num_hidden) == num_hidden and num_hidden >= 1,
           'a positive integer')
    devices = _prepare(lr, wd, batch_size, num_epochs, split_mode, test_ratio, devices, seed,
                       fast)
    num_users, num_items, train_iter, test_iter, test_inter_mat, extra = load_autorec_data(
        split_mode=split_mode, test_ratio=test_ratio, batch_size=batch_size,
        data_dir=data_dir, user_based=user_based)
    if len(train_iter) == 0:
        raise ValueError(f'batch_size {batch_size} is larger than the {len(train_iter.dataset)} '
                         'rows of the training matrix (the last short batch is dropped)')
    net = AutoRec(num_hidden, num_items if user_based else num_users)
    nn.init.normal_(net.encoder.weight, std=0.01)
    nn.init.normal_(net.decoder.weight, std=0.01)
    loss = nn.MSELoss(reduction='sum')
    trainer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                                  devices, autorec_evaluator, inter_mat=test_inter_mat,
                                  plot=plot, figure_path=figure_path, progress=progress)
    history['test_rmse_exact'] = autorec_rmse_exact(net, test_iter, test_inter_mat, devices)
    history['test_rmse_kind'] = EXACT
    info = {'model': 'autorec', 'framework': 'torch', 'num_users': num_users,
            'num_items': num_items, 'hparams': {'num_hidden': int(num_hidden), 'dropout': 0.05},
            'user_based': bool(user_based),
            'train': _train_info(lr, wd, batch_size, num_epochs, split_mode, test_ratio),
            'seed': seed, 'fast': False, **extra}
    return net, history, info
