"""The chapters' experiments in PyTorch, with the book's settings as defaults.

The same functions, keyword arguments and return values as the MXNet tab's
``experiments.train_mf`` / ``train_autorec`` (and ``train_fm`` / ``train_deepfm``, at the end of
this module): ``(net, history, info)``, ``history`` from
:func:`~d2l_recsys.torch.mf.train_recsys_rating` plus ``test_rmse_exact`` and
``test_rmse_kind``, ``info`` the run's record (:func:`d2l_recsys.experiments.run_info`,
``framework: 'torch'``). The checks, the host seeds, the data and the record are the shared
code of :mod:`d2l_recsys.experiments`, as in the MXNet tab. ``fast=True`` builds the same model
with the same calls and trains it on :mod:`d2l_recsys.torch.fast` (same batches and dropout
masks, Adam's fused kernel, the same numbers to float rounding, sooner; one device).

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
import functools

import numpy as onp
import torch
from torch import nn

from .. import ctr_runs
from .. import experiments as runs
from .. import rank_data as implicit
from .. import checks, rank_metrics, rank_runs
from ..defaults import BOOK, CLICK_DATASET, OPTIMIZERS
from . import fast as fast_path
from . import fast_ranking
from .autorec import AutoRec, autorec_evaluator, autorec_rmse_exact
from .devices import parse_devices
from .mf import L2Loss, MF, evaluator, rmse_exact, train_recsys_rating
from .movielens import rating_dataset
from .neumf import NeuMF, PRDataset, evaluate_ranking, train_ranking
from .ranking import BPRLoss, HingeLossbRec
from .seqrec import Caser, SeqDataset
from .classification import THREADS as CLICK_THREADS
from .classification import predict_clicks, train_ch13, train_ch13_fast
from .ctr import CTRDatasetFast
from .deepfm import DeepFM
from .fm import FM, xavier_init

__all__ = ['set_seed', 'train_mf', 'train_autorec', 'load_mf_data', 'load_autorec_data',
           'read_holdout', 'read_run_data', 'fit', 'test_rmse', 'run_info', 'predict',
           'user_bias', 'train_neumf', 'train_caser', 'load_neumf_data', 'load_caser_data',
           'fit_ranking', 'train_fm', 'train_deepfm', 'load_ctr_data', 'train_mf_ranking',
           'fit_clicks', 'click_run_info']

MF_BOOK, AUTOREC_BOOK = BOOK['mf'], BOOK['autorec']
NEUMF_BOOK, CASER_BOOK = BOOK['neumf'], BOOK['caser']


def set_seed(seed):
    """Seed PyTorch (CPU and every GPU), NumPy and Python's ``random`` with one number.

    NumPy's generator draws the random split; PyTorch's the initial weights, the DataLoaders'
    shuffling and the dropout masks.
    """
    seed = runs.check_seed(seed)
    torch.manual_seed(seed)
    runs.seed_host(seed)


def _prepare(model, settings, devices, seed, fast, check=None):
    """The checks (``check(**settings)``; default the model's
    :func:`~d2l_recsys.experiments.check_settings`), then the seed (the data is read after
    it): ``(settings, devices)``."""
    settings = (check or functools.partial(runs.check_settings, model))(**settings)
    devices = parse_devices(devices)
    if fast and len(devices) != 1:
        raise ValueError(f'the fast path trains on one device, got {len(devices)} '
                         f'({", ".join(map(str, devices))}); use fast=False for several GPUs')
    if seed is not None:
        set_seed(seed)
    return settings, devices


def _on_cpu(devices):
    return all(d.type == 'cpu' for d in devices)


def load_mf_data(*, split_mode=MF_BOOK['split_mode'], test_ratio=MF_BOOK['test_ratio'],
                 batch_size=MF_BOOK['batch_size'], data_dir=None):
    """``split_and_load_ml100k`` (explicit feedback), keeping the run's data.

    Returns ``(num_users, num_items, train_iter, test_iter, run_data)``
    (:class:`d2l_recsys.experiments.RunData`).
    """
    run_data = runs.read_split_load(data_dir, split_mode, test_ratio)
    train_iter = torch.utils.data.DataLoader(rating_dataset(*run_data.train[:3]),
                                             shuffle=True, batch_size=batch_size)
    test_iter = torch.utils.data.DataLoader(rating_dataset(*run_data.test[:3]),
                                            batch_size=batch_size)
    return run_data.num_users, run_data.num_items, train_iter, test_iter, run_data


def load_autorec_data(*, split_mode=AUTOREC_BOOK['split_mode'],
                      test_ratio=AUTOREC_BOOK['test_ratio'],
                      batch_size=AUTOREC_BOOK['batch_size'], data_dir=None, user_based=False,
                      num_workers=0):
    """The data part of the PyTorch AutoRec deck's cell.

    Returns ``(num_users, num_items, train_iter, test_iter, test_inter_mat, run_data)``:
    ``train_iter`` shuffles the rows of the training matrix (float32 tensor) and drops the last
    short batch, ``test_iter`` reads them in order, 1024 at a time, and ``test_inter_mat`` is
    the NumPy test matrix. ``user_based=True`` transposes both matrices (rows are users).
    ``num_workers=0`` instead of the deck's ``d2l.get_dataloader_workers()``: the same
    batches in the same order (the sampler runs in the main process), without forking worker
    processes to slice a matrix already in memory.
    """
    run_data = runs.read_split_load(data_dir, split_mode, test_ratio)
    train_inter_mat, test_inter_mat = run_data.train[3], run_data.test[3]
    if user_based:
        train_inter_mat, test_inter_mat = train_inter_mat.T, test_inter_mat.T
    train_inter_mat_t = torch.tensor(train_inter_mat, dtype=torch.float32)
    test_inter_mat_np = onp.array(test_inter_mat)
    train_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=True,
                                             drop_last=True, batch_size=batch_size,
                                             num_workers=num_workers)
    test_iter = torch.utils.data.DataLoader(train_inter_mat_t, shuffle=False,
                                            batch_size=1024, num_workers=num_workers)
    return (run_data.num_users, run_data.num_items, train_iter, test_iter, test_inter_mat_np,
            run_data)


def train_mf(*, num_factors=MF_BOOK['num_factors'], lr=MF_BOOK['lr'], wd=MF_BOOK['wd'],
             batch_size=MF_BOOK['batch_size'], num_epochs=MF_BOOK['num_epochs'],
             split_mode=MF_BOOK['split_mode'], test_ratio=MF_BOOK['test_ratio'],
             devices=None, seed=None, data_dir=None, fast=False, plot=None,
             figure_path=None, progress=None):
    """The book's MF experiment (:numref:`sec_mf`) in PyTorch: 30 factors, Adam, lr 0.002,
    weight decay 1e-5, batch 512, 20 epochs, seq-aware split with 10% test.

    ``devices``: a list of ``torch.device`` or a string for
    :func:`~d2l_recsys.torch.devices.parse_devices` (None: every GPU, else the CPU);
    ``seed``: :func:`set_seed` first; ``plot``, ``figure_path``, ``progress`` as in
    ``train_recsys_rating``. ``fast=True`` trains on :mod:`~d2l_recsys.torch.fast` (same
    model, batches and numbers, sooner; one device). Returns ``(net, history, info)``.
    """
    s, devices = _prepare('mf', dict(
        num_factors=num_factors, lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs,
        split_mode=split_mode, test_ratio=test_ratio), devices, seed, fast)
    num_users, num_items, train_iter, test_iter, run_data = load_mf_data(
        split_mode=s['split_mode'], test_ratio=s['test_ratio'], batch_size=s['batch_size'],
        data_dir=data_dir)
    runs.check_run_sizes('mf', s, run_data, on_cpu=_on_cpu(devices))
    net = MF(s['num_factors'], num_users, num_items)   # N(0, 0.01^2), the book's init
    loss = L2Loss()
    trainer = torch.optim.Adam(net.parameters(), lr=s['lr'], weight_decay=s['wd'],
                               **({'fused': True} if fast else {}))
    if fast:
        with fast_path.threads(fast_path.num_threads('mf', devices)):
            history = fast_path.fit_mf(net, loss, trainer, run_data, s, devices, plot=plot,
                                       figure_path=figure_path, progress=progress)
    else:
        history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                      s['num_epochs'], devices, evaluator, plot=plot,
                                      figure_path=figure_path, progress=progress)
        history['test_rmse_exact'] = rmse_exact(net, test_iter, devices)
    history['test_rmse_kind'] = runs.RUNNING_MEAN
    info = runs.run_info('mf', s, run_data, framework='torch', seed=seed, fast=fast)
    return net, history, info


def _autorec(settings, width, **layers):
    """The deck's AutoRec for rows of ``width`` ratings, initialised as the deck's cell does:
    the weights from N(0, 0.01^2), the biases as PyTorch initialises them. ``layers``: the
    exercises' extras (:class:`~d2l_recsys.torch.autorec.AutoRec`); their hidden layers'
    weights start as the encoder's, after it and the decoder (so the deck's draws come first)."""
    net = AutoRec(settings['num_hidden'], width, settings['dropout'], **layers)
    nn.init.normal_(net.encoder.weight, std=0.01)
    nn.init.normal_(net.decoder.weight, std=0.01)
    for layer in net.hidden:
        nn.init.normal_(layer[0].weight, std=0.01)
    return net


def train_autorec(*, num_hidden=AUTOREC_BOOK['num_hidden'], lr=AUTOREC_BOOK['lr'],
                  wd=AUTOREC_BOOK['wd'], batch_size=AUTOREC_BOOK['batch_size'],
                  num_epochs=AUTOREC_BOOK['num_epochs'], split_mode=AUTOREC_BOOK['split_mode'],
                  test_ratio=AUTOREC_BOOK['test_ratio'], dropout=AUTOREC_BOOK['dropout'],
                  user_based=False, devices=None, seed=None, data_dir=None, fast=False,
                  plot=None, figure_path=None, progress=None):
    """The PyTorch AutoRec deck's experiment: item-based, 500 hidden units, dropout 0.05,
    Adam, lr 0.002, weight decay 1e-5, batch 256, 25 epochs, random split with 10% test.

    ``user_based=True`` trains the paper's user-based variant (rows are users,
    ``AutoRec(num_hidden, num_items)``). Other arguments as :func:`train_mf`.
    """
    s, devices = _prepare('autorec', dict(
        num_hidden=num_hidden, lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs,
        split_mode=split_mode, test_ratio=test_ratio, dropout=dropout), devices, seed, fast)
    num_users, num_items, train_iter, test_iter, test_inter_mat, run_data = load_autorec_data(
        split_mode=s['split_mode'], test_ratio=s['test_ratio'], batch_size=s['batch_size'],
        data_dir=data_dir, user_based=user_based)
    runs.check_run_sizes('autorec', s, run_data, on_cpu=_on_cpu(devices),
                         user_based=user_based)
    net = _autorec(s, num_items if user_based else num_users)
    loss = nn.MSELoss(reduction='sum')
    trainer = torch.optim.Adam(net.parameters(), lr=s['lr'], weight_decay=s['wd'],
                               **({'fused': True} if fast else {}))
    if fast:
        with fast_path.threads(fast_path.num_threads('autorec', devices)):
            history = fast_path.fit_autorec(net, loss, trainer, train_iter.dataset.numpy(),
                                            test_inter_mat, s, devices, plot=plot,
                                            figure_path=figure_path, progress=progress)
    else:
        history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                      s['num_epochs'], devices, autorec_evaluator,
                                      inter_mat=test_inter_mat, plot=plot,
                                      figure_path=figure_path, progress=progress)
        history['test_rmse_exact'] = autorec_rmse_exact(net, test_iter, test_inter_mat,
                                                        devices)
    history['test_rmse_kind'] = runs.EXACT
    info = runs.run_info('autorec', s, run_data, framework='torch', seed=seed, fast=fast,
                         user_based=user_based)
    return net, history, info


# --------------------------------------------------------------- tuning and the exercises
# What :mod:`d2l_recsys.tuning` and :mod:`d2l_recsys.exercises` call on a tab (the MXNet tab's
# functions of the same names, the same meanings): the fast path on data that is already
# split, so that the caller decides what the model may see.

def read_holdout(data_dir, split_mode, test_ratio, val_ratio):
    """:func:`d2l_recsys.tuning.read_holdout` drawing from NumPy's generator, as this tab's
    split does (seed first with :func:`set_seed`)."""
    from ..tuning import read_holdout as holdout
    return holdout(data_dir, split_mode, test_ratio, val_ratio)


def read_run_data(data_dir, split_mode, test_ratio):
    """:func:`d2l_recsys.experiments.read_split_load` as ``train_mf``/``train_autorec`` call
    it (seed first with :func:`set_seed`)."""
    return runs.read_split_load(data_dir, split_mode, test_ratio)


def _matrices(run_data, user_based):
    train_mat, test_mat = run_data.train[3], run_data.test[3]
    if user_based:
        return onp.ascontiguousarray(train_mat.T), onp.ascontiguousarray(test_mat.T)
    return train_mat, test_mat


def fit(model, settings, run_data, *, devices=None, user_based=False, progress=False,
        optimizer='adam', patience=None, on_epoch=None, verbose=True, lr_decay=None,
        decay_at=None, reg=0., **layers):
    """Train ``model`` ('mf' or 'autorec') on the fast path with checked ``settings`` on
    ``run_data`` (its ``test`` is whatever set the run is judged on: a validation set while
    tuning); the model built and initialised as ``train_mf``/``train_autorec`` build it, so
    with the book's settings and options it is their ``fast=True`` run. Returns
    ``(net, history)``.

    The options of the MXNet tab's ``fit``, the same meanings: ``optimizer`` (a name of
    :data:`~d2l_recsys.torch.fast.OPTIMIZERS`), ``patience``, ``on_epoch``, ``verbose``,
    ``lr_decay``, ``decay_at`` (:func:`~d2l_recsys.torch.fast.fit_mf`), MF's ``reg``; the rest
    (``layers``) are AutoRec's extras (``hidden_layers``, ``encoder_activation``,
    ``decoder_activation``, ``hidden_activation``, ``input_dropout``, ``clip``:
    :class:`~d2l_recsys.torch.autorec.AutoRec`'s keyword arguments, passed on as they are).
    An option the MXNet tab's presets gain (:data:`d2l_recsys.tuning.OPTIONS`) comes here
    too: a layer's as a keyword argument of ``AutoRec`` (and of ``store.AUTOREC_EXTRAS``, to
    be saved with the model), a training one as a keyword argument here and of the fast
    path's ``fit_mf``/``fit_autorec``. The sizes are checked first, as in the MXNet tab's
    ``fit`` (:func:`d2l_recsys.experiments.check_run_sizes`): a batch larger than the training
    rows is refused, never trained on as a partial batch.
    """
    devices = parse_devices(devices)
    if model == 'mf' and layers:
        raise TypeError(f'MF has no option {", ".join(sorted(layers))}')
    if model != 'mf' and reg:
        raise TypeError('reg is an MF option; AutoRec has none')
    runs.check_run_sizes(model, settings, run_data, on_cpu=_on_cpu(devices),
                         user_based=user_based)
    options = dict(plot=False, progress=progress, patience=patience, on_epoch=on_epoch,
                   verbose=verbose, lr_decay=lr_decay, decay_at=decay_at)
    if model == 'mf':
        net = MF(settings['num_factors'], run_data.num_users, run_data.num_items)
        trainer = fast_path.make_optimizer(optimizer, net.parameters(), settings['lr'],
                                           settings['wd'])
        with fast_path.threads(fast_path.num_threads('mf', devices)):
            history = fast_path.fit_mf(net, L2Loss(), trainer, run_data, settings, devices,
                                       reg=reg, **options)
        return net, history
    train_mat, test_mat = _matrices(run_data, user_based)
    net = _autorec(settings, train_mat.shape[1], **layers)
    trainer = fast_path.make_optimizer(optimizer, net.parameters(), settings['lr'],
                                       settings['wd'])
    with fast_path.threads(fast_path.num_threads('autorec', devices)):
        history = fast_path.fit_autorec(net, nn.MSELoss(reduction='sum'), trainer, train_mat,
                                        test_mat, settings, devices, **options)
    return net, history


def test_rmse(model, net, run_data, *, devices=None, user_based=False):
    """The exact RMSE of a trained ``net`` on ``run_data.test``; AutoRec reconstructs
    ``run_data.train``'s matrix (all the ratings known at prediction time). The net is
    evaluated where it is (``devices`` is accepted as in the MXNet tab)."""
    if model == 'mf':
        return fast_path.mf_rmse_exact(net, *run_data.test[:3])
    return fast_path.autorec_rmse_exact(net, *_matrices(run_data, user_based))


def run_info(model, settings, run_data, *, seed, user_based=False):
    """:func:`d2l_recsys.experiments.run_info` for a fast-path run of this tab."""
    return runs.run_info(model, settings, run_data, framework='torch', seed=seed, fast=True,
                         user_based=user_based)


def predict(net, users, items, *, devices=None):
    """An MF's predicted ratings for 0-based ``users`` and ``items`` (host arrays), as NumPy
    (evaluated where the net is)."""
    device = next(net.parameters()).device
    users = torch.as_tensor(onp.asarray(users, dtype=onp.int64), device=device)
    items = torch.as_tensor(onp.asarray(items, dtype=onp.int64), device=device)
    return fast_path.mf_predict(net, users, items).cpu().numpy()


def user_bias(net):
    """An MF's learned user biases :math:`b_u` as a NumPy vector (0-based users)."""
    return net.user_bias.weight.detach().cpu().numpy().reshape(-1)


# ------------------------------------------------------------------------ the ranking half
# The MXNet tab's train_neumf / train_caser (the book's NeuMF and Caser cells), the same
# arguments and return values; the modules of d2l_recsys.torch.neumf and .seqrec.

def load_neumf_data(*, batch_size=NEUMF_BOOK['batch_size'], data_dir=None, num_workers=0):
    """The data part of the NeuMF cell: ``(num_users, num_items, train_iter, test_iter,
    candidates, rank_data)``; ``train_iter`` a shuffled ``DataLoader`` of ``PRDataset`` (its
    last batch may be short: Gluon's ``last_batch='rollover'`` has no PyTorch counterpart).
    ``num_workers=0`` (the book's is ``d2l.get_dataloader_workers()``): the negatives are then
    drawn in this process, from the ``random`` that :func:`set_seed` seeds."""
    data = implicit.read_rank_data(data_dir)
    train_iter = torch.utils.data.DataLoader(
        PRDataset(data.users, data.items, data.candidates, data.num_items), batch_size,
        shuffle=True, num_workers=num_workers)
    return data.num_users, data.num_items, train_iter, data.test_items, data.candidates, data


def load_caser_data(*, L=CASER_BOOK['L'], batch_size=CASER_BOOK['batch_size'], data_dir=None,
                    num_workers=0):
    """The data part of the Caser cell: ``(num_users, num_items, train_iter, test_iter,
    test_seq_iter, candidates, rank_data, windows)`` as the MXNet tab's
    ``load_caser_data``."""
    data = implicit.read_rank_data(data_dir)
    windows = implicit.seq_windows(data.users, data.items, L, data.num_users)
    train_seq_data = SeqDataset(data.users, data.items, L, data.num_users, data.num_items,
                                data.candidates)
    train_iter = torch.utils.data.DataLoader(train_seq_data, batch_size, shuffle=True,
                                             num_workers=num_workers)
    return (data.num_users, data.num_items, train_iter, data.test_items,
            train_seq_data.test_seq, data.candidates, data, windows)


def _ranking_loss(name):
    return BPRLoss() if name == 'bpr' else HingeLossbRec()


def _check_ranking(model, s, examples, data, devices):
    # Before the model is built: a batch no loader can fill, a model the memory cannot hold.
    runs.check_batch_size(s['batch_size'], examples, 'training examples')
    if all(d.type == 'cpu' for d in devices):
        runs.check_model_memory(model, s, data.num_users, data.num_items)


def _ranking_trainer(net, s, fast, optimizer='adam'):
    if optimizer != 'adam':   # another optimizer, by Gluon's name (fast.OPTIMIZERS)
        return fast_path.make_optimizer(optimizer, net.parameters(), s['lr'], s['wd'])
    return torch.optim.Adam(net.parameters(), lr=s['lr'], weight_decay=s['wd'],
                            **({'fused': True} if fast else {}))


def _ranking_net(model, s, data, options=None):
    # Built (and initialised: the draws from PyTorch's generator) in the same order on both
    # paths: after the seed and the data, before the optimizer. ``options``:
    # rank_runs.model_options (NeuMF's output, Caser's ablation).
    options = options or {}
    if model == 'neumf':
        return NeuMF(s['num_factors'], data.num_users, data.num_items,
                     nums_hiddens=list(s['nums_hiddens']), **options)
    if model == 'mf':
        return MF(s['num_factors'], data.num_users, data.num_items)
    return Caser(s['num_factors'], data.num_users, data.num_items, s['L'], s['d'],
                 s['d_prime'], s['drop_ratio'], **options)


def fit_ranking(model, settings, rank_data, *, devices=None, options=None, optimizer='adam',
                patience=None, on_epoch=None, windows=None, plot=False, progress=False,
                verbose=False, figure_path=None):
    """The MXNet tab's ``fit_ranking``: ``model`` ('neumf', 'caser' or 'mf') built,
    initialised and trained on the fast path as ``train_neumf``/``train_caser``/
    ``train_mf_ranking`` with ``fast=True`` do, on ``rank_data`` (its ``test_items``: the
    validation items while tuning); returns ``(net, history)``. ``options``, ``optimizer``,
    ``patience``, ``on_epoch``, ``windows``: as there."""
    devices = parse_devices(devices)
    options = rank_runs.model_options(model, **(options or {}))
    if model == 'caser' and windows is None:
        windows = implicit.seq_windows(rank_data.users, rank_data.items, settings['L'],
                                       rank_data.num_users)
    _check_ranking(model, settings, len(windows) if model == 'caser' else len(rank_data.users),
                   rank_data, devices)
    net = _ranking_net(model, settings, rank_data, options)
    trainer = _ranking_trainer(net, settings, True, optimizer)
    loop = dict(plot=plot, progress=progress, figure_path=figure_path, verbose=verbose,
                patience=patience, on_epoch=on_epoch)
    loss = None if settings['loss'] == 'softmax' else _ranking_loss(settings['loss'])
    if model == 'caser':
        history = fast_ranking.fit_caser(net, loss, trainer, rank_data, windows, settings,
                                         devices, **loop)
    else:   # NeuMF, or any model called net(users, items): the book's MF too
        history = fast_ranking.fit_neumf(net, loss, trainer, rank_data, settings, devices,
                                         **loop)
    return net, history


def _say_exact(history):
    if history['exact']:
        print(rank_metrics.format_exact(history['exact'][-1]))


def train_neumf(*, num_factors=NEUMF_BOOK['num_factors'],
                nums_hiddens=NEUMF_BOOK['nums_hiddens'], lr=NEUMF_BOOK['lr'],
                wd=NEUMF_BOOK['wd'], batch_size=NEUMF_BOOK['batch_size'],
                num_epochs=NEUMF_BOOK['num_epochs'], loss=NEUMF_BOOK['loss'], devices=None,
                seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                progress=None, optimizer='adam', output='sigmoid'):
    """The book's NeuMF experiment in PyTorch (10 factors, an MLP of 10, 10, 10 units, BPR
    loss, Adam with lr 0.01 and weight decay 1e-5, batch 1024, 10 epochs, seq-aware split),
    with the arguments (``output`` included), printed lines and return value of the MXNet
    tab's ``train_neumf``. ``fast=True`` trains on :mod:`d2l_recsys.torch.fast_ranking` (one
    device). ``optimizer``: as the MXNet tab's (:data:`d2l_recsys.torch.fast.OPTIMIZERS` maps
    Gluon's names to ``torch.optim``'s)."""
    checks.choice('optimizer', optimizer, OPTIMIZERS)
    options = rank_runs.model_options('neumf', output=output)
    s, devices = _prepare('neumf', dict(
        num_factors=num_factors, nums_hiddens=nums_hiddens, lr=lr, wd=wd,
        batch_size=batch_size, num_epochs=num_epochs, loss=loss), devices, seed, fast)
    return _train_pairs('neumf', s, devices, seed=seed, data_dir=data_dir, fast=fast,
                        plot=plot, figure_path=figure_path, progress=progress,
                        optimizer=optimizer, options=options)


def train_mf_ranking(*, num_factors=rank_runs.MF_RANKING['num_factors'],
                     lr=rank_runs.MF_RANKING['lr'], wd=rank_runs.MF_RANKING['wd'],
                     batch_size=rank_runs.MF_RANKING['batch_size'],
                     num_epochs=rank_runs.MF_RANKING['num_epochs'],
                     loss=rank_runs.MF_RANKING['loss'], devices=None, seed=None,
                     data_dir=None, fast=False, plot=None, figure_path=None, progress=None,
                     optimizer='adam'):
    """The book's MF class trained as a ranking model, as the MXNet tab's
    ``train_mf_ranking``: the NeuMF cell (:data:`d2l_recsys.rank_runs.MF_RANKING`) with this
    tab's :class:`~d2l_recsys.torch.mf.MF` in NeuMF's place, on either path."""
    checks.choice('optimizer', optimizer, OPTIMIZERS)
    s, devices = _prepare('mf', dict(num_factors=num_factors, lr=lr, wd=wd,
                                     batch_size=batch_size, num_epochs=num_epochs, loss=loss),
                          devices, seed, fast, check=rank_runs.check_mf_ranking)
    return _train_pairs('mf', s, devices, seed=seed, data_dir=data_dir, fast=fast, plot=plot,
                        figure_path=figure_path, progress=progress, optimizer=optimizer)


def _train_pairs(model, s, devices, *, seed, data_dir, fast, plot, figure_path, progress,
                 optimizer, options=None):
    # NeuMF's cell, for NeuMF or (model='mf') the book's MF in its place.
    options = options or {}
    if fast:
        data = implicit.read_rank_data(data_dir)
        net, history = fit_ranking(model, s, data, devices=devices, options=options,
                                   optimizer=optimizer, plot=plot, progress=progress,
                                   figure_path=figure_path, verbose=True)
    else:
        num_users, num_items, train_iter, test_iter, candidates, data = load_neumf_data(
            batch_size=s['batch_size'], data_dir=data_dir)
        _check_ranking(model, s, len(data.users), data, devices)
        net = _ranking_net(model, s, data, options)
        trainer = _ranking_trainer(net, s, fast, optimizer)
        history = train_ranking(net, train_iter, test_iter, _ranking_loss(s['loss']), trainer,
                                None, num_users, num_items, s['num_epochs'], devices,
                                evaluate_ranking, candidates, exact=True, plot=plot,
                                progress=progress, figure_path=figure_path)
    _say_exact(history)
    info = rank_runs.ranking_run_info(model, s, data, framework='torch', seed=seed,
                                      fast=fast, optimizer=optimizer, options=options)
    return net, history, info


def train_caser(*, num_factors=CASER_BOOK['num_factors'], L=CASER_BOOK['L'], d=CASER_BOOK['d'],
                d_prime=CASER_BOOK['d_prime'], drop_ratio=CASER_BOOK['drop_ratio'],
                lr=CASER_BOOK['lr'], wd=CASER_BOOK['wd'], batch_size=CASER_BOOK['batch_size'],
                num_epochs=CASER_BOOK['num_epochs'], loss=CASER_BOOK['loss'], devices=None,
                seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                progress=None, horizontal=True, vertical=True):
    """The book's Caser experiment in PyTorch, its training call run (L = 5, 16 horizontal
    and 4 vertical filters, dropout 0.05, BPR loss, Adam with lr 0.04 and weight decay 1e-5,
    batch 4096, 8 epochs), with the arguments (the softmax loss on the fast path included),
    printed lines and return value (including ``info['test_seq']``) of the MXNet tab's
    ``train_caser``. ``horizontal=False`` or ``vertical=False``:
    :class:`~d2l_recsys.torch.seqrec.Caser`'s ablation, on either path."""
    ablation = rank_runs.model_options('caser', horizontal=horizontal, vertical=vertical)
    s, devices = _prepare('caser', dict(
        num_factors=num_factors, L=L, d=d, d_prime=d_prime, drop_ratio=drop_ratio, lr=lr,
        wd=wd, batch_size=batch_size, num_epochs=num_epochs, loss=loss), devices, seed, fast)
    runs.check_caser_path(s, fast)
    data = implicit.read_rank_data(data_dir)
    implicit.check_windows(data.users, data.items, s['L'])
    windows = implicit.seq_windows(data.users, data.items, s['L'], data.num_users)
    if fast:
        net, history = fit_ranking('caser', s, data, devices=devices, options=ablation,
                                   windows=windows, plot=plot, progress=progress,
                                   figure_path=figure_path, verbose=True)
    else:
        _check_ranking('caser', s, len(windows), data, devices)
        net = _ranking_net('caser', s, data, ablation)
        trainer = _ranking_trainer(net, s, fast)
        train_seq_data = SeqDataset(data.users, data.items, s['L'], data.num_users,
                                    data.num_items, data.candidates)
        train_iter = torch.utils.data.DataLoader(train_seq_data, s['batch_size'],
                                                 shuffle=True)
        history = train_ranking(net, train_iter, data.test_items, _ranking_loss(s['loss']),
                                trainer, train_seq_data.test_seq, data.num_users,
                                data.num_items, s['num_epochs'], devices, evaluate_ranking,
                                data.candidates, eval_step=1, exact=True, plot=plot,
                                progress=progress, figure_path=figure_path)
    _say_exact(history)
    info = rank_runs.ranking_run_info('caser', s, data, framework='torch', seed=seed,
                                      fast=fast, options=ablation)
    info['test_seq'] = implicit.last_items(windows)
    return net, history, info


# --------------------------------------------------------------- FM and DeepFM (click models)
# The MXNet tab's train_fm / train_deepfm in PyTorch: the same arguments, checks, data, record
# and printed lines (d2l_recsys.ctr_runs). The loss is the book's, translated:
# nn.BCEWithLogitsLoss(reduction='none') on the model's probability is Gluon's
# SigmoidBinaryCrossEntropyLoss() (a second sigmoid); Xavier initialisation as Gluon's
# (xavier_init); torch.optim.Adam with the book's learning rate.

FM_BOOK, DEEPFM_BOOK = BOOK['fm'], BOOK['deepfm']


def load_ctr_data(*, dataset=CLICK_DATASET, data_dir=None, num_feat=None,
                  batch_size=FM_BOOK['batch_size'], order='stable', num_workers=0):
    """The data cell of the FM and DeepFM sections in PyTorch: the two ``CTRDataset``s (the
    vectorised :class:`~d2l_recsys.torch.ctr.CTRDatasetFast`: the same items) and their
    ``DataLoader``s (training shuffled, the last short batch kept as PyTorch does; Gluon's
    ``last_batch='rollover'`` has no PyTorch counterpart). Returns ``(train_data, test_data,
    train_iter, test_iter, click_data)``; arguments as the MXNet tab's ``load_ctr_data``."""
    data = ctr_runs.read_click_data(dataset, data_dir, num_feat, order=order)
    train_data = CTRDatasetFast.from_arrays(data.train)
    test_data = CTRDatasetFast.from_arrays(data.test)
    train_iter = torch.utils.data.DataLoader(
        train_data, shuffle=True, batch_size=batch_size, num_workers=num_workers)
    test_iter = torch.utils.data.DataLoader(
        test_data, shuffle=False, batch_size=batch_size, num_workers=num_workers)
    return train_data, test_data, train_iter, test_iter, data


def _click_net(model, settings, field_dims):
    """The section's model, initialised as the book's ``net.initialize(init.Xavier())``."""
    if model == 'fm':
        net = FM(field_dims, num_factors=settings['num_factors'])
    else:
        net = DeepFM(field_dims, num_factors=settings['num_factors'],
                     mlp_dims=list(settings['mlp_dims']), drop_rate=settings['drop_rate'])
    net.apply(xavier_init)
    return net


def _click_parts(model, s, data, devices, *, from_sigmoid=False, wd=0.):
    """The model (Xavier, on the device), Adam and loss, and the exact evaluation of
    ``data.test`` that every epoch records, as the MXNet tab's ``_click_parts``.
    ``from_sigmoid``: ``BCELoss`` of the model's probability (Gluon's ``from_sigmoid=True``)
    instead of the book's second sigmoid. ``wd``: the MXNet tab's weight decay, which adds
    ``wd * w`` to the gradient of the batch's *mean* loss (``trainer.step(batch_size)``); this
    tab back-propagates the batch's *summed* loss, as d2l's PyTorch ``train_batch_ch13`` does,
    so the same decay is ``wd * batch_size`` here (Adam's steps are the same for any scale of
    the loss, up to its epsilon)."""
    net = _click_net(model, s, data.train.field_dims).to(devices[0])
    trainer = torch.optim.Adam(net.parameters(), lr=s['lr'],
                               **({'weight_decay': wd * s['batch_size']} if wd else {}))
    loss = nn.BCELoss(reduction='none') if from_sigmoid else \
        nn.BCEWithLogitsLoss(reduction='none')

    def exact(epoch):   # the whole test set, the model's own probability
        probs = predict_clicks(net, data.test.features, devices, s['batch_size'])
        return ctr_runs.exact_metrics(probs, data.test.labels)
    return net, loss, trainer, exact


def _train_click(model, settings, *, dataset, data_dir, num_feat, devices, seed, fast, plot,
                 figure_path, progress, order):
    s, devices = _prepare(model, settings, devices, seed, fast)
    data = ctr_runs.read_click_data(dataset, data_dir, num_feat, order=order)
    ctr_runs.check_click_sizes(s, data)
    net, loss, trainer, exact = _click_parts(model, s, data, devices)
    options = dict(plot=plot, progress=progress, figure_path=figure_path, on_epoch=exact)
    train_data = CTRDatasetFast.from_arrays(data.train)
    test_data = CTRDatasetFast.from_arrays(data.test)
    # Both paths on the fast path's intra-op threads on a CPU: PyTorch sums DeepFM's products
    # in an order that depends on the thread count, so the two paths then give one run.
    with fast_path.threads(CLICK_THREADS if devices[0].type == 'cpu' else None):
        if fast:
            history = train_ch13_fast(net, train_data, test_data, loss, trainer,
                                      s['num_epochs'], devices, batch_size=s['batch_size'],
                                      **options)
        else:
            train_iter = torch.utils.data.DataLoader(
                train_data, shuffle=True, batch_size=s['batch_size'])
            test_iter = torch.utils.data.DataLoader(
                test_data, shuffle=False, batch_size=s['batch_size'])
            history = train_ch13(net, train_iter, test_iter, loss, trainer, s['num_epochs'],
                                 devices, **options)
    print(ctr_runs.exact_line(history, data.test.labels))
    info = ctr_runs.click_run_info(model, s, data, framework='torch', seed=seed, fast=fast)
    return net, history, info


def fit_clicks(model, settings, data, *, devices=None, patience=None, on_epoch=None,
               from_sigmoid=False, wd=0., progress=False):
    """The MXNet tab's ``fit_clicks`` (the same arguments, history and meanings) on this tab's
    fast path, one device, on the fast path's threads on a CPU. Returns ``(net, history)``."""
    s, devices = _prepare(model, settings, devices, None, True)
    ctr_runs.check_click_sizes(s, data)
    net, loss, trainer, exact = _click_parts(model, s, data, devices,
                                             from_sigmoid=from_sigmoid, wd=wd)
    stopper = fast_path.EarlyStopping(net, patience) if patience else None
    with fast_path.threads(CLICK_THREADS if devices[0].type == 'cpu' else None):
        history = train_ch13_fast(net, CTRDatasetFast.from_arrays(data.train),
                                  CTRDatasetFast.from_arrays(data.test), loss, trainer,
                                  s['num_epochs'], devices, batch_size=s['batch_size'],
                                  plot=False, progress=progress, on_epoch=exact,
                                  verbose=False,
                                  after_epoch=ctr_runs.click_stopping(stopper, on_epoch))
    return net, ctr_runs.finish_click_stopping(stopper, history)


def click_run_info(model, settings, data, *, seed):
    """:func:`d2l_recsys.ctr_runs.click_run_info` for a fast-path run of this tab."""
    return ctr_runs.click_run_info(model, settings, data, framework='torch', seed=seed,
                                   fast=True)


def train_fm(*, num_factors=FM_BOOK['num_factors'], lr=FM_BOOK['lr'],
             batch_size=FM_BOOK['batch_size'], num_epochs=FM_BOOK['num_epochs'],
             dataset=CLICK_DATASET, data_dir=None, num_feat=None, devices=None, seed=None,
             fast=False, plot=None, figure_path=None, progress=None, order='stable'):
    """The book's FM experiment in PyTorch (the MXNet tab's ``train_fm``: the same arguments,
    settings, printed lines and result). ``fast=True``:
    :func:`~d2l_recsys.torch.classification.train_ch13_fast` (the same batches and numbers,
    sooner; one device)."""
    return _train_click('fm', dict(num_factors=num_factors, lr=lr, batch_size=batch_size,
                                   num_epochs=num_epochs),
                        dataset=dataset, data_dir=data_dir, num_feat=num_feat, devices=devices,
                        seed=seed, fast=fast, plot=plot, figure_path=figure_path,
                        progress=progress, order=order)


def train_deepfm(*, num_factors=DEEPFM_BOOK['num_factors'], mlp_dims=DEEPFM_BOOK['mlp_dims'],
                 drop_rate=DEEPFM_BOOK['drop_rate'], lr=DEEPFM_BOOK['lr'],
                 batch_size=DEEPFM_BOOK['batch_size'], num_epochs=DEEPFM_BOOK['num_epochs'],
                 dataset=CLICK_DATASET, data_dir=None, num_feat=None, devices=None, seed=None,
                 fast=False, plot=None, figure_path=None, progress=None, order='stable'):
    """The book's DeepFM experiment in PyTorch (the MXNet tab's ``train_deepfm``)."""
    return _train_click('deepfm', dict(num_factors=num_factors, mlp_dims=mlp_dims,
                                       drop_rate=drop_rate, lr=lr, batch_size=batch_size,
                                       num_epochs=num_epochs),
                        dataset=dataset, data_dir=data_dir, num_feat=num_feat, devices=devices,
                        seed=seed, fast=fast, plot=plot, figure_path=figure_path,
                        progress=progress, order=order)
