"""The chapters' two experiments in the MXNet tab, as functions with the book's settings.

:func:`train_mf` is the book's cell of :numref:`sec_mf`, :func:`train_autorec` the one of
:numref:`sec_autorec`, with the data path, the seed and the devices as arguments. Both return
``(net, history, info)`` (see :mod:`d2l_recsys.experiments`). ``fast=True`` trains the same
model on the same batches with :mod:`d2l_recsys.mxnet.fast`; the checks, the seed, the data
and the record are the same code on both paths (here and in :mod:`d2l_recsys.experiments`).
"""
import mxnet as mx
from mxnet import gluon, np

from .. import experiments as runs
from ..defaults import BOOK
from ..plotting import in_notebook, training_animator
from . import fast as fast_path
from .autorec import AutoRec, autorec_evaluator, autorec_rmse_exact
from .devices import parse_devices
from .mf import MF, evaluator, rmse_exact, train_recsys_rating

__all__ = ['set_seed', 'train_mf', 'train_autorec', 'load_mf_data', 'load_autorec_data',
           'read_holdout', 'read_run_data', 'fit', 'test_rmse', 'run_info', 'predict',
           'user_bias']

MF_BOOK, AUTOREC_BOOK = BOOK['mf'], BOOK['autorec']


def set_seed(seed):
    """Seed MXNet (every device), NumPy and Python's ``random`` with one number.

    MXNet's generator draws the random split, the initial weights and the dropout masks;
    NumPy's the DataLoader's shuffling; Python's is seeded for anything else that uses it.
    """
    seed = runs.check_seed(seed)
    mx.random.seed(seed)
    runs.seed_host(seed)


def _prepare(model, settings, devices, seed):
    """The checks, then the seed, then the data: in this order on both paths, so that both
    make the same random draws. Returns ``(settings, devices, run_data)``."""
    settings = runs.check_settings(model, **settings)
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
