"""The chapters' experiments in the MXNet tab, as functions with the book's settings.

:func:`train_mf` is the book's cell of :numref:`sec_mf`, :func:`train_autorec` the one of
:numref:`sec_autorec`, :func:`train_neumf` and :func:`train_caser` the training cells of the
sections on NeuMF and Caser, :func:`train_fm` and :func:`train_deepfm` those of the FM and
DeepFM sections, with the data, the seed and the devices as arguments. All return
``(net, history, info)`` (see :mod:`d2l_recsys.experiments` and, for the ranking models,
:mod:`d2l_recsys.rank_runs`, for the click models :mod:`d2l_recsys.ctr_runs`). ``fast=True``
trains the same model on the same batches with :mod:`d2l_recsys.mxnet.fast` (NeuMF and Caser:
:mod:`d2l_recsys.mxnet.fast_ranking`; FM and DeepFM:
:func:`~d2l_recsys.mxnet.classification.train_ch13_fast`); the checks, the seed, the data and
the record are the same code on both paths (here and in :mod:`d2l_recsys.experiments`).
"""
import functools

import mxnet as mx
from mxnet import gluon, init, np

from .. import ctr_runs
from .. import experiments as runs
from .. import rank_data as implicit
from .. import checks, rank_metrics, rank_runs
from ..defaults import BOOK, CLICK_DATASET, OPTIMIZERS
from ..plotting import in_notebook, training_animator
from . import fast as fast_path
from . import fast_ranking
from .autorec import AutoRec, autorec_evaluator, autorec_rmse_exact
from .devices import parse_devices
from .mf import MF, evaluator, rmse_exact, train_recsys_rating
from .neumf import NeuMF, PRDataset, evaluate_ranking, train_ranking
from .ranking import BPRLoss, HingeLossbRec
from .seqrec import Caser, SeqDataset
from .classification import predict_clicks, train_ch13, train_ch13_fast
from .ctr import CTRDatasetFast
from .deepfm import DeepFM, HybridDeepFM
from .fm import FM, HybridFM

__all__ = ['set_seed', 'train_mf', 'train_autorec', 'load_mf_data', 'load_autorec_data',
           'read_holdout', 'read_run_data', 'fit', 'test_rmse', 'run_info', 'predict',
           'user_bias', 'train_neumf', 'train_caser', 'load_neumf_data', 'load_caser_data',
           'fit_ranking', 'train_fm', 'train_deepfm', 'load_ctr_data', 'train_mf_ranking',
           'fit_clicks', 'click_run_info']

MF_BOOK, AUTOREC_BOOK = BOOK['mf'], BOOK['autorec']
NEUMF_BOOK, CASER_BOOK = BOOK['neumf'], BOOK['caser']


def set_seed(seed):
    """Seed MXNet (every device), NumPy and Python's ``random`` with one number.

    MXNet's generator draws the random split, the initial weights and the dropout masks;
    NumPy's the DataLoader's shuffling; Python's is seeded for anything else that uses it.
    """
    seed = runs.check_seed(seed)
    mx.random.seed(seed)
    runs.seed_host(seed)


def _prepare(model, settings, devices, seed, check=None):
    """The checks (``check(**settings)``; default the model's
    :func:`~d2l_recsys.experiments.check_settings`), then the seed, then the data: in this
    order on both paths, so that both make the same random draws. Returns ``(settings,
    devices)``."""
    settings = (check or functools.partial(runs.check_settings, model))(**settings)
    devices = parse_devices(devices)
    if settings['batch_size'] % len(devices):
        # split_and_load(even_split=True) in the book's loop needs equal shards.
        raise ValueError(f'batch_size {settings["batch_size"]} must be a multiple of the '
                         f'number of devices ({len(devices)}: {devices})')
    if seed is not None:
        set_seed(seed)
    return settings, devices


def load_mf_data(*, split_mode=MF_BOOK['split_mode'], test_ratio=MF_BOOK['test_ratio'],
                 batch_size=MF_BOOK['batch_size'], data_dir=None):
    """The body of ``split_and_load_ml100k`` (explicit feedback), keeping the run's data.

    Returns ``(num_users, num_items, train_iter, test_iter, run_data)``; same random draws, in
    the same order, as ``split_and_load_ml100k``.
    """
    run_data = runs.read_split_load(data_dir, split_mode, test_ratio, xp=np)
    train_u, train_i, train_r, _ = run_data.train
    test_u, test_i, test_r, _ = run_data.test
    train_set = gluon.data.ArrayDataset(
        np.array(train_u), np.array(train_i), np.array(train_r))
    test_set = gluon.data.ArrayDataset(
        np.array(test_u), np.array(test_i), np.array(test_r))
    train_iter = gluon.data.DataLoader(
        train_set, shuffle=True, last_batch='rollover',
        batch_size=batch_size)
    test_iter = gluon.data.DataLoader(
        test_set, batch_size=batch_size)
    return run_data.num_users, run_data.num_items, train_iter, test_iter, run_data


def load_autorec_data(*, split_mode=AUTOREC_BOOK['split_mode'],
                      test_ratio=AUTOREC_BOOK['test_ratio'],
                      batch_size=AUTOREC_BOOK['batch_size'], data_dir=None, user_based=False,
                      num_workers=0):
    """The data part of the book's AutoRec cell.

    Returns ``(num_users, num_items, train_iter, test_iter, test_inter_mat, run_data)``. With
    ``user_based=True`` the matrices are transposed (rows are users). ``num_workers=0``
    instead of the book's ``d2l.get_dataloader_workers()``: the batches and their order are
    the same (shuffling happens in the main process), without forking worker processes that
    slicing a dense matrix does not need.
    """
    run_data = runs.read_split_load(data_dir, split_mode, test_ratio, xp=np)
    train_inter_mat, test_inter_mat = run_data.train[3], run_data.test[3]
    if user_based:
        train_inter_mat, test_inter_mat = train_inter_mat.T, test_inter_mat.T
    train_iter = gluon.data.DataLoader(train_inter_mat, shuffle=True,
                                       last_batch="rollover", batch_size=batch_size,
                                       num_workers=num_workers)
    test_iter = gluon.data.DataLoader(np.array(train_inter_mat), shuffle=False,
                                      last_batch="keep", batch_size=1024,
                                      num_workers=num_workers)
    return (run_data.num_users, run_data.num_items, train_iter, test_iter, test_inter_mat,
            run_data)


def _animator(plot, figure_path, num_epochs, fast):
    # The fast path skips the plot where nobody sees or saves it.
    if fast and plot is None and figure_path is None and not in_notebook():
        return None
    return training_animator(plot, num_epochs)


def _finish(history, animator, figure_path, kind):
    history['test_rmse_kind'] = kind
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    return history


def train_mf(*, num_factors=MF_BOOK['num_factors'], lr=MF_BOOK['lr'], wd=MF_BOOK['wd'],
             batch_size=MF_BOOK['batch_size'], num_epochs=MF_BOOK['num_epochs'],
             split_mode=MF_BOOK['split_mode'], test_ratio=MF_BOOK['test_ratio'],
             devices=None, seed=None, data_dir=None, fast=False, plot=None,
             figure_path=None, progress=None):
    """The book's MF experiment (:numref:`sec_mf`): 30 factors, Adam, lr 0.002, wd 1e-5,
    batch 512, 20 epochs, seq-aware split with 10% test, ``Normal(0.01)`` initialisation.

    ``devices``: list of contexts or a string for :func:`~d2l_recsys.mxnet.parse_devices`
    (None: GPUs if any, else the CPU). ``seed``: :func:`set_seed` first. ``plot``,
    ``figure_path``, ``progress``: as in :func:`~d2l_recsys.mxnet.train_recsys_rating`
    (``progress=None``: a line per epoch on stderr outside Jupyter). ``fast=True`` trains on
    :mod:`~d2l_recsys.mxnet.fast` (same model, batches and numbers, sooner).
    """
    settings, devices = _prepare('mf', dict(
        num_factors=num_factors, lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs,
        split_mode=split_mode, test_ratio=test_ratio), devices, seed)
    s = settings
    animator = _animator(plot, figure_path, s['num_epochs'], fast)
    if fast:
        run_data = runs.read_split_load(data_dir, s['split_mode'], s['test_ratio'], xp=np)
        runs.check_run_sizes('mf', s, run_data, on_cpu=_on_cpu(devices))
        net, history = fast_path.fit_mf(s, run_data, devices, animator=animator,
                                        progress=progress)
    else:
        num_users, num_items, train_iter, test_iter, run_data = load_mf_data(
            split_mode=s['split_mode'], test_ratio=s['test_ratio'],
            batch_size=s['batch_size'], data_dir=data_dir)
        runs.check_run_sizes('mf', s, run_data, on_cpu=_on_cpu(devices))
        net = MF(s['num_factors'], num_users, num_items)
        net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
        loss = gluon.loss.L2Loss()
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {"learning_rate": s['lr'], 'wd': s['wd']})
        history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                      s['num_epochs'], devices, evaluator, plot=animator,
                                      progress=progress)
        history['test_rmse_exact'] = rmse_exact(net, test_iter, devices)
    history = _finish(history, animator, figure_path, runs.RUNNING_MEAN)
    info = runs.run_info('mf', s, run_data, framework='mxnet', seed=seed, fast=fast)
    return net, history, info


def _on_cpu(devices):
    return all(d.device_type == 'cpu' for d in devices)


def train_autorec(*, num_hidden=AUTOREC_BOOK['num_hidden'], lr=AUTOREC_BOOK['lr'],
                  wd=AUTOREC_BOOK['wd'], batch_size=AUTOREC_BOOK['batch_size'],
                  num_epochs=AUTOREC_BOOK['num_epochs'], split_mode=AUTOREC_BOOK['split_mode'],
                  test_ratio=AUTOREC_BOOK['test_ratio'], dropout=AUTOREC_BOOK['dropout'],
                  user_based=False, devices=None, seed=None, data_dir=None, fast=False,
                  plot=None, figure_path=None, progress=None):
    """The book's AutoRec experiment (:numref:`sec_autorec`): item-based, 500 hidden units,
    dropout 0.05, Adam, lr 0.002, wd 1e-5, batch 256, 25 epochs, random split with 10% test.

    ``user_based=True`` trains the paper's user-based variant (rows are users,
    ``AutoRec(num_hidden, num_items)``). Other arguments as :func:`train_mf`.
    """
    settings, devices = _prepare('autorec', dict(
        num_hidden=num_hidden, lr=lr, wd=wd, batch_size=batch_size, num_epochs=num_epochs,
        split_mode=split_mode, test_ratio=test_ratio, dropout=dropout), devices, seed)
    s = settings
    animator = _animator(plot, figure_path, s['num_epochs'], fast)
    if fast:
        run_data = runs.read_split_load(data_dir, s['split_mode'], s['test_ratio'], xp=np)
        runs.check_run_sizes('autorec', s, run_data, on_cpu=_on_cpu(devices),
                             user_based=user_based)
        net, history = fast_path.fit_autorec(s, run_data, devices, user_based=user_based,
                                             animator=animator, progress=progress)
    else:
        num_users, num_items, train_iter, test_iter, test_inter_mat, run_data = \
            load_autorec_data(split_mode=s['split_mode'], test_ratio=s['test_ratio'],
                              batch_size=s['batch_size'], data_dir=data_dir,
                              user_based=user_based)
        runs.check_run_sizes('autorec', s, run_data, on_cpu=_on_cpu(devices),
                             user_based=user_based)
        net = AutoRec(s['num_hidden'], num_items if user_based else num_users, s['dropout'])
        net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
        loss = gluon.loss.L2Loss()
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {"learning_rate": s['lr'], 'wd': s['wd']})
        history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                      s['num_epochs'], devices, autorec_evaluator,
                                      inter_mat=test_inter_mat, plot=animator,
                                      progress=progress)
        history['test_rmse_exact'] = autorec_rmse_exact(net, test_iter, test_inter_mat,
                                                        devices)
    history = _finish(history, animator, figure_path, runs.EXACT)
    info = runs.run_info('autorec', s, run_data, framework='mxnet', seed=seed, fast=fast,
                         user_based=user_based)
    return net, history, info


# --------------------------------------------------------------- tuning and the exercises
# What :mod:`d2l_recsys.tuning` and :mod:`d2l_recsys.exercises` call on a tab: the fast path
# on data that is already split, so that the caller decides what the model may see.

def read_holdout(data_dir, split_mode, test_ratio, val_ratio):
    """:func:`d2l_recsys.tuning.read_holdout` drawing from MXNet's generator, as the book's
    split does (seed first with :func:`set_seed`)."""
    from ..tuning import read_holdout as holdout
    return holdout(data_dir, split_mode, test_ratio, val_ratio, xp=np)


def read_run_data(data_dir, split_mode, test_ratio):
    """:func:`d2l_recsys.experiments.read_split_load` drawing from MXNet's generator, as
    ``train_mf``/``train_autorec`` do (seed first with :func:`set_seed`)."""
    return runs.read_split_load(data_dir, split_mode, test_ratio, xp=np)


def fit(model, settings, run_data, *, devices=None, user_based=False, progress=False,
        **options):
    """Train ``model`` ('mf' or 'autorec') on the fast path with checked ``settings`` on
    ``run_data`` (its ``test`` is whatever set the run is judged on: a validation set while
    tuning). ``options``: :func:`~d2l_recsys.mxnet.fast.fit_mf`'s ``optimizer``,
    ``patience``, ``on_epoch``, ``verbose``, and for AutoRec the layers of the exercises.
    Returns ``(net, history)``. The sizes are checked first, as for ``train_mf`` and
    ``train_autorec`` (:func:`d2l_recsys.experiments.check_run_sizes`)."""
    devices = parse_devices(devices)
    runs.check_run_sizes(model, settings, run_data, on_cpu=_on_cpu(devices),
                         user_based=user_based)
    if model == 'mf':
        return fast_path.fit_mf(settings, run_data, devices, progress=progress, **options)
    return fast_path.fit_autorec(settings, run_data, devices, user_based=user_based,
                                 progress=progress, **options)


def test_rmse(model, net, run_data, *, devices=None, user_based=False):
    """The exact RMSE of a trained ``net`` on ``run_data.test``; AutoRec reconstructs
    ``run_data.train``'s matrix (all the ratings known at prediction time)."""
    devices = parse_devices(devices)
    if model == 'mf':
        return fast_path.mf_test_rmse(net, *run_data.test[:3], devices)[1]
    train_mat, test_mat = run_data.train[3], run_data.test[3]
    if user_based:
        train_mat, test_mat = train_mat.T, test_mat.T
    return fast_path.autorec_rmse_exact(net, train_mat, test_mat, devices)


def run_info(model, settings, run_data, *, seed, user_based=False):
    """:func:`d2l_recsys.experiments.run_info` for a fast-path run of this tab."""
    return runs.run_info(model, settings, run_data, framework='mxnet', seed=seed, fast=True,
                         user_based=user_based)


def predict(net, users, items, *, devices=None):
    """An MF's predicted ratings for 0-based ``users`` and ``items`` (host arrays), as NumPy."""
    import numpy
    preds, devices = [], parse_devices(devices)
    users = numpy.asarray(users, dtype=numpy.float32)
    items = numpy.asarray(items, dtype=numpy.float32)
    for a in range(0, len(users), 65536):
        out = net(np.array(users[a:a + 65536], ctx=devices[0]),
                  np.array(items[a:a + 65536], ctx=devices[0]))
        preds.append(out.asnumpy().reshape(-1))
    return numpy.concatenate(preds) if preds else numpy.zeros(0, numpy.float32)


def user_bias(net):
    """An MF's learned user biases :math:`b_u` as a NumPy vector (0-based users)."""
    return net.user_bias.weight.data().asnumpy().reshape(-1)


# ------------------------------------------------------------------------ the ranking half
# The training cells of "Neural Collaborative Filtering for Personalized Ranking" and
# "Sequence-Aware Recommender Systems": implicit feedback on the seq-aware split, a pairwise
# loss, the book's hit rate and AUC printed, the exact metrics beside them.

def load_neumf_data(*, batch_size=NEUMF_BOOK['batch_size'], data_dir=None, num_workers=0):
    """The data part of the book's NeuMF cell: ``(num_users, num_items, train_iter,
    test_iter, candidates, rank_data)``, ``train_iter`` a ``DataLoader`` of the book's
    ``PRDataset`` (shuffled, ``last_batch='rollover'``) and ``test_iter`` the book's
    ``{user: [held-out item]}``. ``num_workers=0`` instead of the book's
    ``d2l.get_dataloader_workers()``: the negatives are then drawn in this process, from
    Python's ``random`` that :func:`set_seed` seeds (worker processes reseed it from the
    operating system, so no seed fixes the book's draws)."""
    data = implicit.read_rank_data(data_dir)
    train_iter = gluon.data.DataLoader(
        PRDataset(data.users, data.items, data.candidates, data.num_items), batch_size,
        True, last_batch="rollover", num_workers=num_workers)
    return data.num_users, data.num_items, train_iter, data.test_items, data.candidates, data


def load_caser_data(*, L=CASER_BOOK['L'], batch_size=CASER_BOOK['batch_size'], data_dir=None,
                    num_workers=0, fast=False):
    """The data part of the book's Caser cell: ``(num_users, num_items, train_iter,
    test_iter, test_seq_iter, candidates, rank_data, windows)``, ``train_iter`` a
    ``DataLoader`` of the book's ``SeqDataset`` and ``test_seq_iter`` its ``test_seq``.
    ``fast=True`` builds no ``SeqDataset`` (minutes on MovieLens 100K) and returns
    ``train_iter=None``; ``windows`` (:func:`d2l_recsys.rank_data.seq_windows`, the same
    arrays) are returned either way. ``num_workers`` as in :func:`load_neumf_data`."""
    data = implicit.read_rank_data(data_dir)
    windows = implicit.seq_windows(data.users, data.items, L, data.num_users)
    train_iter, test_seq_iter = None, np.array(windows.test_seq)
    if not fast:
        train_seq_data = SeqDataset(data.users, data.items, L, data.num_users,
                                    data.num_items, data.candidates)
        train_iter = gluon.data.DataLoader(train_seq_data, batch_size, True,
                                           last_batch="rollover", num_workers=num_workers)
        test_seq_iter = train_seq_data.test_seq
    return (data.num_users, data.num_items, train_iter, data.test_items, test_seq_iter,
            data.candidates, data, windows)


def _ranking_loss(name):
    return BPRLoss() if name == 'bpr' else HingeLossbRec()


def _check_ranking_sizes(model, settings, examples, rank_data, devices):
    # Before the model is built: a batch no loader can fill, a model the memory cannot hold.
    runs.check_batch_size(settings['batch_size'], examples, 'training examples')
    if _on_cpu(devices):
        runs.check_model_memory(model, settings, rank_data.num_users, rank_data.num_items)


def _say_exact(history):
    # After the book's two lines: the exact metrics of the last evaluation.
    if history['exact']:
        print(rank_metrics.format_exact(history['exact'][-1]))


def train_neumf(*, num_factors=NEUMF_BOOK['num_factors'],
                nums_hiddens=NEUMF_BOOK['nums_hiddens'], lr=NEUMF_BOOK['lr'],
                wd=NEUMF_BOOK['wd'], batch_size=NEUMF_BOOK['batch_size'],
                num_epochs=NEUMF_BOOK['num_epochs'], loss=NEUMF_BOOK['loss'], devices=None,
                seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                progress=None, optimizer='adam', output='sigmoid'):
    """The book's NeuMF experiment: 10 factors, an MLP of 10, 10, 10 units, BPR loss, Adam
    with lr 0.01 and wd 1e-5, batch 1024, 10 epochs, seq-aware split, implicit feedback,
    ``Normal(0.01)`` initialisation, the hit rate and AUC evaluated every epoch.
    ``optimizer``: another of Gluon's optimizers by name (one of
    :data:`~d2l_recsys.defaults.OPTIMIZERS`; the book's is ``'adam'``), as the section's
    exercises ask.

    Prints the book's two lines, then the exact metrics of the last epoch
    (:func:`d2l_recsys.rank_metrics.format_exact`). Returns ``(net, history, info)``
    (:mod:`d2l_recsys.rank_runs`; ``history['exact']`` holds the exact metrics of every
    epoch). ``loss='hinge'``: the section "Personalized Ranking"'s hinge loss instead.
    ``devices``, ``seed``, ``plot``, ``figure_path``, ``progress``: as :func:`train_mf`.
    ``fast=True`` trains on :mod:`~d2l_recsys.mxnet.fast_ranking` (same model, batches and
    negatives; seconds instead of the book's 2 minutes per evaluation). ``output='logit'``
    (not the book's): the prediction layer without its sigmoid, on both paths.
    """
    checks.choice('optimizer', optimizer, OPTIMIZERS)
    options = rank_runs.model_options('neumf', output=output)
    s, devices = _prepare('neumf', dict(
        num_factors=num_factors, nums_hiddens=nums_hiddens, lr=lr, wd=wd,
        batch_size=batch_size, num_epochs=num_epochs, loss=loss), devices, seed)
    return _train_pairs('neumf', s, devices, seed=seed, data_dir=data_dir, fast=fast,
                        plot=plot, figure_path=figure_path, progress=progress,
                        optimizer=optimizer, options=options)


def _train_pairs(model, s, devices, *, seed, data_dir, fast, plot, figure_path, progress,
                 optimizer, options=None):
    # NeuMF's cell, for NeuMF or (model='mf') the book's MF in its place.
    options = options or {}
    animator = _ranking_plot(plot, figure_path, s['num_epochs'], fast)
    if fast:
        data = implicit.read_rank_data(data_dir)
        net, history = fit_ranking(model, s, data, devices=devices, options=options,
                                   optimizer=optimizer, animator=animator, progress=progress,
                                   verbose=True)
    else:
        num_users, num_items, train_iter, test_iter, candidates, data = load_neumf_data(
            batch_size=s['batch_size'], data_dir=data_dir)
        _check_ranking_sizes(model, s, len(data.users), data, devices)
        if model == 'neumf':
            net = NeuMF(s['num_factors'], num_users, num_items,
                        nums_hiddens=list(s['nums_hiddens']), **options)
        else:
            net = MF(s['num_factors'], num_users, num_items)
        net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
        trainer = gluon.Trainer(net.collect_params(), optimizer,
                                {"learning_rate": s['lr'], 'wd': s['wd']})
        history = train_ranking(net, train_iter, test_iter, _ranking_loss(s['loss']), trainer,
                                None, num_users, num_items, s['num_epochs'], devices,
                                evaluate_ranking, candidates, exact=True, plot=animator,
                                progress=progress)
    _say_exact(history)
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    info = rank_runs.ranking_run_info(model, s, data, framework='mxnet', seed=seed,
                                      fast=fast, optimizer=optimizer, options=options)
    return net, history, info


def train_mf_ranking(*, num_factors=rank_runs.MF_RANKING['num_factors'],
                     lr=rank_runs.MF_RANKING['lr'], wd=rank_runs.MF_RANKING['wd'],
                     batch_size=rank_runs.MF_RANKING['batch_size'],
                     num_epochs=rank_runs.MF_RANKING['num_epochs'],
                     loss=rank_runs.MF_RANKING['loss'], devices=None, seed=None,
                     data_dir=None, fast=False, plot=None, figure_path=None, progress=None,
                     optimizer='adam'):
    """The book's MF class (:numref:`sec_mf`) trained as a ranking model on implicit
    feedback: the NeuMF cell with MF in NeuMF's place (:data:`d2l_recsys.rank_runs.
    MF_RANKING`: 10 factors, BPR, Adam with lr 0.01 and wd 1e-5, batch 1024, 10 epochs,
    ``Normal(0.01)``), the book's ``train_ranking`` (``fast=True``: the fast path's loop), the
    same negatives, batches and metrics. A baseline for NeuMF: what the MLP adds to a dot
    product. Other arguments and the return value as :func:`train_neumf`.
    """
    checks.choice('optimizer', optimizer, OPTIMIZERS)
    s, devices = _prepare('mf', dict(num_factors=num_factors, lr=lr, wd=wd,
                                     batch_size=batch_size, num_epochs=num_epochs, loss=loss),
                          devices, seed, check=rank_runs.check_mf_ranking)
    return _train_pairs('mf', s, devices, seed=seed, data_dir=data_dir, fast=fast, plot=plot,
                        figure_path=figure_path, progress=progress, optimizer=optimizer)


def train_caser(*, num_factors=CASER_BOOK['num_factors'], L=CASER_BOOK['L'], d=CASER_BOOK['d'],
                d_prime=CASER_BOOK['d_prime'], drop_ratio=CASER_BOOK['drop_ratio'],
                lr=CASER_BOOK['lr'], wd=CASER_BOOK['wd'], batch_size=CASER_BOOK['batch_size'],
                num_epochs=CASER_BOOK['num_epochs'], loss=CASER_BOOK['loss'], devices=None,
                seed=None, data_dir=None, fast=False, plot=None, figure_path=None,
                progress=None, horizontal=True, vertical=True):
    """The book's Caser experiment, with its training call run (the book leaves it commented
    out): 10 factors, windows of L = 5 items, 16 horizontal and 4 vertical filters, dropout
    0.05, BPR loss, Adam with lr 0.04 and wd 1e-5, batch 4096, 8 epochs, evaluated every
    epoch. ``info['test_seq']`` holds each user's last ``L`` training items (int64), Caser's
    input when recommending. ``horizontal=False`` or ``vertical=False``: the section's
    ablation, without that convolution (fast path only: the book's block has no such option,
    see :class:`~d2l_recsys.mxnet.fast_ranking.Caser`). ``loss='softmax'`` (not the book's;
    the fast path only): the cross-entropy of the next item among every item's score. Other
    arguments and the return value as :func:`train_neumf`.
    """
    ablation = rank_runs.model_options('caser', horizontal=horizontal, vertical=vertical)
    if ablation and not fast:
        raise ValueError("the book's Caser block has both convolutions (its forward "
                         'concatenates them); train without one with fast=True (--fast)')
    s, devices = _prepare('caser', dict(
        num_factors=num_factors, L=L, d=d, d_prime=d_prime, drop_ratio=drop_ratio, lr=lr,
        wd=wd, batch_size=batch_size, num_epochs=num_epochs, loss=loss), devices, seed)
    runs.check_caser_path(s, fast)
    animator = _ranking_plot(plot, figure_path, s['num_epochs'], fast)
    data = implicit.read_rank_data(data_dir)
    implicit.check_windows(data.users, data.items, s['L'])   # before the slow SeqDataset
    if fast:
        windows = implicit.seq_windows(data.users, data.items, s['L'], data.num_users)
        net, history = fit_ranking('caser', s, data, devices=devices, options=ablation,
                                   windows=windows, animator=animator, progress=progress,
                                   verbose=True)
    else:
        num_users, num_items, train_iter, test_iter, test_seq_iter, candidates, data, \
            windows = load_caser_data(L=s['L'], batch_size=s['batch_size'],
                                      data_dir=data_dir)
        _check_ranking_sizes('caser', s, len(windows), data, devices)
        net = Caser(s['num_factors'], num_users, num_items, s['L'], s['d'], s['d_prime'],
                    s['drop_ratio'])
        net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {"learning_rate": s['lr'], 'wd': s['wd']})
        history = train_ranking(net, train_iter, test_iter, _ranking_loss(s['loss']), trainer,
                                test_seq_iter, num_users, num_items, s['num_epochs'],
                                devices, evaluate_ranking, candidates, eval_step=1,
                                exact=True, plot=animator, progress=progress)
    _say_exact(history)
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    info = rank_runs.ranking_run_info('caser', s, data, framework='mxnet', seed=seed,
                                      fast=fast, options=ablation)
    info['test_seq'] = implicit.last_items(windows)
    return net, history, info


def fit_ranking(model, settings, rank_data, *, devices=None, options=None, optimizer='adam',
                patience=None, on_epoch=None, windows=None, animator=None, progress=False,
                verbose=False):
    """Train ``model`` ('neumf', 'caser' or 'mf', the book's MF as a ranking model) on the
    fast path with checked ``settings`` on ``rank_data``
    (:class:`d2l_recsys.rank_data.RankData`; its ``test_items`` are whatever the run is judged
    on: the validation items while tuning), as ``train_neumf``/``train_caser``/
    ``train_mf_ranking`` with ``fast=True`` train; returns ``(net, history)``.

    ``options``: the model's constructor options beyond the book's
    (:func:`d2l_recsys.rank_runs.model_options`: NeuMF's ``output``, Caser's ``horizontal``,
    ``vertical``); ``optimizer``: Gluon's name (the book's ``'adam'``); ``patience``: early
    stopping on the held-out items' exact HR@10, the best epoch's parameters given back
    (``history['best_epoch']``, ``history['best_hr10']``); ``on_epoch(epoch, hr10)`` after each
    evaluation; ``windows``: Caser's (:func:`d2l_recsys.rank_data.seq_windows`; made here when
    None). The sizes are checked first, as in ``train_neumf``/``train_caser``.
    """
    devices = parse_devices(devices)
    options = rank_runs.model_options(model, **(options or {}))
    loop = dict(optimizer=optimizer, patience=patience, on_epoch=on_epoch, animator=animator,
                progress=progress, verbose=verbose)
    if model != 'caser':
        _check_ranking_sizes(model, settings, len(rank_data.users), rank_data, devices)
        fit = fast_ranking.fit_neumf if model == 'neumf' else fast_ranking.fit_mf_ranking
        return fit(settings, rank_data, devices, **options, **loop)
    if windows is None:
        windows = implicit.seq_windows(rank_data.users, rank_data.items, settings['L'],
                                       rank_data.num_users)
    _check_ranking_sizes('caser', settings, len(windows), rank_data, devices)
    return fast_ranking.fit_caser(settings, rank_data, windows, devices, **options, **loop)


def _ranking_plot(plot, figure_path, num_epochs, fast):
    # As for MF: the fast path skips the plot where nobody sees or saves it.
    if fast and plot is None and figure_path is None and not in_notebook():
        return None
    return rank_runs.ranking_animator(plot, num_epochs)


# --------------------------------------------------------------- FM and DeepFM (click models)
# The cells of the FM and DeepFM sections as functions. The checks, the seed, the data and the
# record are the same code on both paths (here and in d2l_recsys.ctr_runs).

FM_BOOK, DEEPFM_BOOK = BOOK['fm'], BOOK['deepfm']


def load_ctr_data(*, dataset=CLICK_DATASET, data_dir=None, num_feat=None,
                  batch_size=FM_BOOK['batch_size'], order='stable', num_workers=0):
    """The data cell of the FM and DeepFM sections: the two ``CTRDataset``s (the vectorised
    :class:`~d2l_recsys.mxnet.ctr.CTRDatasetFast`: the same items) and their loaders.

    Returns ``(train_data, test_data, train_iter, test_iter, click_data)``
    (:class:`d2l_recsys.ctr_runs.ClickData`). ``dataset``: ``'ml100k-ctr'`` (default) or the
    book's ``'ctr'``; ``data_dir``: a copy to use (see
    :func:`~d2l_recsys.ctr_runs.read_click_data`); ``num_feat``: the data set's by default;
    ``order='stable'``: the training file's values numbered in order of first appearance (the
    same in every process; ``'book'``: the book's set order). ``num_workers=0`` instead of the
    book's ``d2l.get_dataloader_workers()``: the same batches in the same order (the sampler
    runs in the main process), without forking worker processes.
    """
    data = ctr_runs.read_click_data(dataset, data_dir, num_feat, order=order)
    train_data = CTRDatasetFast.from_arrays(data.train)
    test_data = CTRDatasetFast.from_arrays(data.test)
    train_iter = gluon.data.DataLoader(
        train_data, shuffle=True, last_batch='rollover', batch_size=batch_size,
        num_workers=num_workers)
    test_iter = gluon.data.DataLoader(
        test_data, shuffle=False, last_batch='rollover', batch_size=batch_size,
        num_workers=num_workers)
    return train_data, test_data, train_iter, test_iter, data


def _click_net(model, settings, field_dims, fast):
    """The section's model, the book's ``Block`` or (``fast``) its ``HybridBlock`` twin."""
    if model == 'fm':
        return (HybridFM if fast else FM)(field_dims, num_factors=settings['num_factors'])
    return (HybridDeepFM if fast else DeepFM)(field_dims, num_factors=settings['num_factors'],
                                              mlp_dims=list(settings['mlp_dims']),
                                              drop_rate=settings['drop_rate'])


def _click_parts(model, s, data, devices, fast, *, from_sigmoid=False, wd=0.):
    """The cells' model (Xavier), Adam and loss, and the exact evaluation of ``data.test``
    (the model's own probability, every line) that every epoch records. ``from_sigmoid`` and
    ``wd`` (a tuned preset's): the loss takes the model's output as the probability it is (no
    second sigmoid), Adam decays the weights; off, they are the book's cells."""
    net = _click_net(model, s, data.train.field_dims, fast)
    net.initialize(init.Xavier(), ctx=devices)
    adam = {'learning_rate': s['lr']}
    if wd:
        adam['wd'] = wd
    trainer = gluon.Trainer(net.collect_params(), 'adam', adam)
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=from_sigmoid)

    def exact(epoch):   # the whole test set, the model's own probability
        probs = predict_clicks(net, data.test.features, devices, s['batch_size'])
        return ctr_runs.exact_metrics(probs, data.test.labels)
    return net, loss, trainer, exact


def _train_click(model, settings, *, dataset, data_dir, num_feat, devices, seed, fast, plot,
                 figure_path, progress, order):
    s = runs.check_settings(model, **settings)
    devices = parse_devices(devices)
    if seed is not None:
        set_seed(seed)
    data = ctr_runs.read_click_data(dataset, data_dir, num_feat, order=order)
    ctr_runs.check_click_sizes(s, data, len(devices))
    net, loss, trainer, exact = _click_parts(model, s, data, devices, fast)
    options = dict(plot=plot, progress=progress, figure_path=figure_path, on_epoch=exact)
    if fast:
        train_data = CTRDatasetFast.from_arrays(data.train)
        test_data = CTRDatasetFast.from_arrays(data.test)
        history = train_ch13_fast(net, train_data, test_data, loss, trainer, s['num_epochs'],
                                  devices, batch_size=s['batch_size'], **options)
    else:
        train_data = CTRDatasetFast.from_arrays(data.train)
        test_data = CTRDatasetFast.from_arrays(data.test)
        train_iter = gluon.data.DataLoader(
            train_data, shuffle=True, last_batch='rollover', batch_size=s['batch_size'])
        test_iter = gluon.data.DataLoader(
            test_data, shuffle=False, last_batch='rollover', batch_size=s['batch_size'])
        history = train_ch13(net, train_iter, test_iter, loss, trainer, s['num_epochs'],
                             devices, **options)
    print(ctr_runs.exact_line(history, data.test.labels))
    info = ctr_runs.click_run_info(model, s, data, framework='mxnet', seed=seed, fast=fast)
    return net, history, info


def fit_clicks(model, settings, data, *, devices=None, patience=None, on_epoch=None,
               from_sigmoid=False, wd=0., progress=False):
    """Train ``model`` ('fm' or 'deepfm') on the fast path with ``settings`` on ``data``
    (:class:`~d2l_recsys.ctr_runs.ClickData`; its ``test`` is whatever set the run is judged
    on: the validation lines while tuning), the model built as ``train_fm``/``train_deepfm``
    build it; every epoch records the exact AUC, log loss and accuracy of ``data.test``.
    ``patience``: early stopping on that AUC, the best epoch's parameters restored
    (``history['best_epoch']``, ``best_auc``); ``on_epoch(epoch, auc)`` after each epoch (a
    search's pruning); ``from_sigmoid``, ``wd``: the loss and Adam's weight decay (see
    :func:`_click_parts`). Returns ``(net, history)``."""
    s = runs.check_settings(model, **settings)
    devices = parse_devices(devices)
    ctr_runs.check_click_sizes(s, data, len(devices))
    net, loss, trainer, exact = _click_parts(model, s, data, devices, True,
                                             from_sigmoid=from_sigmoid, wd=wd)
    stopper = fast_path.EarlyStopping(net, patience) if patience else None
    history = train_ch13_fast(net, CTRDatasetFast.from_arrays(data.train),
                              CTRDatasetFast.from_arrays(data.test), loss, trainer,
                              s['num_epochs'], devices, batch_size=s['batch_size'], plot=False,
                              progress=progress, on_epoch=exact, verbose=False,
                              after_epoch=ctr_runs.click_stopping(stopper, on_epoch))
    return net, ctr_runs.finish_click_stopping(stopper, history)


def click_run_info(model, settings, data, *, seed):
    """:func:`d2l_recsys.ctr_runs.click_run_info` for a fast-path run of this tab."""
    return ctr_runs.click_run_info(model, settings, data, framework='mxnet', seed=seed,
                                   fast=True)


def train_fm(*, num_factors=FM_BOOK['num_factors'], lr=FM_BOOK['lr'],
             batch_size=FM_BOOK['batch_size'], num_epochs=FM_BOOK['num_epochs'],
             dataset=CLICK_DATASET, data_dir=None, num_feat=None, devices=None, seed=None,
             fast=False, plot=None, figure_path=None, progress=None, order='stable'):
    """The book's FM experiment (the FM section's cells): 20 factors, Xavier initialisation,
    Adam with lr 0.02, the book's ``SigmoidBinaryCrossEntropyLoss``, batch 2048, 30 epochs,
    ``train_ch13``; on MovieLens 100K as click data unless ``dataset='ctr'``.

    Prints the book's two lines, then the exact test numbers (AUC, log loss, accuracy at 0.5)
    beside them. ``data_dir``, ``num_feat``, ``order``: as
    :func:`~d2l_recsys.ctr_runs.read_click_data`. ``devices``, ``seed``, ``plot``,
    ``figure_path``, ``progress``: as :func:`train_mf`. ``fast=True`` trains the same model
    (:class:`~d2l_recsys.mxnet.fm.HybridFM`) on the same batches with
    :func:`~d2l_recsys.mxnet.classification.train_ch13_fast` (the same numbers, sooner).
    Returns ``(net, history, info)`` (:mod:`d2l_recsys.ctr_runs`).
    """
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
    """The book's DeepFM experiment (the DeepFM section's cell): 10 factors, an MLP of
    30-20-10 ReLU units with dropout 0.1, Xavier initialisation, Adam with lr 0.01, the book's
    loss, batch 2048, 30 epochs. Other arguments and the result as :func:`train_fm`
    (``fast=True``: :class:`~d2l_recsys.mxnet.deepfm.HybridDeepFM`)."""
    return _train_click('deepfm', dict(num_factors=num_factors, mlp_dims=mlp_dims,
                                       drop_rate=drop_rate, lr=lr, batch_size=batch_size,
                                       num_epochs=num_epochs),
                        dataset=dataset, data_dir=data_dir, num_feat=num_feat, devices=devices,
                        seed=seed, fast=fast, plot=plot, figure_path=figure_path,
                        progress=progress, order=order)
