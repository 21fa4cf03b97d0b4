"""What every run of the chapters' two experiments shares, whatever the framework or path.

Each tab's ``experiments`` module (``d2l_recsys.mxnet.experiments``, ``d2l_recsys.torch``'s)
trains the book's cells; the faithful path and the fast path of a tab both start here, in this
order: :func:`check_settings` (the book's settings from :mod:`d2l_recsys.defaults`, overridden
and checked), the tab's seed, then :func:`read_split_load` (the same split from the same seed on
both paths), and both end with :func:`run_info`, the record saved beside a model and read by
``make reproduce``. Both tabs' ``train_recsys_rating`` and their fast paths' loops keep their
history with :func:`new_history`, :func:`record_epoch` and :func:`finish_history`, so that
every path prints and records the same. A run returns ``(net, history, info)``:

* ``history``: the training loop's per-epoch record, plus ``test_rmse_exact`` (the RMSE over the
  whole test set after the last epoch, :mod:`d2l_recsys.metrics`) and ``test_rmse_kind`` (what
  the per-epoch ``test_rmse`` is: the book's MF evaluator is a mean of running RMSEs).
* ``info``: framework, model, hyper-parameters, seed, sizes, and ``train_interactions``
  (0-based ``users``, ``items``, ``ratings`` of the training split as NumPy arrays; used to skip
  seen items when recommending and, for AutoRec, as the model's input). Everything else in
  ``info`` is JSON-serialisable.
"""
import dataclasses
import os
import random
import sys
import time

import numpy

from . import checks, data, fetch
from .checks import check, check_click_settings, check_mlp_dims, check_seed
from .defaults import BOOK, CASER_LOSSES, CLICK_MODELS, RANKING_LOSSES, RANKING_MODELS, SPLITS
from .store import parameter_count

__all__ = ['RUNNING_MEAN', 'EXACT', 'check', 'check_settings', 'check_seed', 'seed_host',
           'RunData', 'read_split_load', 'check_batch_size', 'check_model_memory',
           'check_run_sizes', 'non_finite_error', 'new_history', 'record_epoch',
           'finish_history', 'run_info', 'check_click_settings', 'check_mlp_dims',
           'check_caser_path']

RUNNING_MEAN = ('book evaluator: mean over test batches of the running RMSE '
                '(not the test-set RMSE; see test_rmse_exact)')
EXACT = 'book evaluator: RMSE over all observed test ratings (exact)'

# What a size-like setting must be, and what the model calls it.
_SIZES = {'mf': 'num_factors', 'autorec': 'num_hidden', 'neumf': 'num_factors',
          'caser': 'num_factors'}


def check_settings(model, **settings):
    """The book's settings for ``model`` with ``settings`` over them, checked.

    Returns the full dict (``BOOK[model]``'s keys). A bad value raises ValueError naming the
    argument; an unknown key raises TypeError. ``model``: a key of
    :data:`~d2l_recsys.defaults.BOOK` (the ranking models' own settings, ``nums_hiddens``,
    ``L``, ``d``, ``d_prime``, ``drop_ratio`` and ``loss``, are checked here too); FM and
    DeepFM: :func:`check_click_settings`.
    """
    if model in CLICK_MODELS:
        return check_click_settings(model, **settings)
    if model not in BOOK:
        raise ValueError(f"model must be one of {', '.join(BOOK)}, got {model!r}")
    unknown = set(settings) - set(BOOK[model])
    if unknown:
        raise TypeError(f'{model} has no setting {", ".join(sorted(unknown))}')
    s = {**BOOK[model], **{k: v for k, v in settings.items() if v is not None}}
    s[_SIZES[model]] = checks.positive_int(_SIZES[model], s[_SIZES[model]])
    s['lr'] = checks.number('lr', s['lr'], lambda v: v > 0, 'a finite positive number')
    s['wd'] = checks.number('wd', s['wd'], lambda v: v >= 0, 'a finite number, zero or positive')
    s['batch_size'] = checks.positive_int('batch_size', s['batch_size'])
    s['num_epochs'] = checks.positive_int('num_epochs', s['num_epochs'])
    if 'split_mode' in s:
        check('split_mode', s['split_mode'], s['split_mode'] in SPLITS,
              "'random' or 'seq-aware'")
    if 'test_ratio' in s:
        s['test_ratio'] = checks.number('test_ratio', s['test_ratio'], lambda v: 0 < v < 1,
                                        'between 0 and 1')
    if 'dropout' in s:
        s['dropout'] = checks.fraction('dropout', s['dropout'])
    if model in RANKING_MODELS:
        _check_ranking(model, s)
    return s


def _check_ranking(model, s):
    """The ranking models' own settings (NeuMF's MLP, Caser's windows and filters, the loss:
    the book's pairwise ones, and for Caser the softmax too), in place."""
    losses = CASER_LOSSES if model == 'caser' else RANKING_LOSSES
    check('loss', s['loss'], s['loss'] in losses, ' or '.join(repr(x) for x in losses)
          + ('' if model == 'caser' else " (softmax is Caser's)"))
    if 'nums_hiddens' in s:
        s['nums_hiddens'] = checks.int_list('nums_hiddens', s['nums_hiddens'])
    for key in ('L', 'd', 'd_prime'):
        if key in s:
            # The book's Caser concatenates both convolutions' outputs: neither may be empty.
            s[key] = checks.positive_int(key, s[key])
    if 'drop_ratio' in s:
        s['drop_ratio'] = checks.fraction('drop_ratio', s['drop_ratio'])


def check_caser_path(settings, fast):
    """ValueError for Caser's softmax loss off the fast path (both tabs' ``train_caser``):
    the book's ``train_ranking`` scores a positive and a sampled negative per example."""
    if settings['loss'] == 'softmax' and not fast:
        raise ValueError("Caser's softmax loss trains on the fast path only (fast=True, "
                         "--fast): the book's train_ranking takes a pairwise loss")


def seed_host(seed):
    """Seed NumPy's and Python's global generators (each tab also seeds its framework).

    NumPy's generator shuffles the DataLoaders' batches (and draws the split where no
    framework generator is given); Python's is seeded for anything else that uses it.
    """
    seed = check_seed(seed)
    numpy.random.seed(seed)
    random.seed(seed)
    return seed


@dataclasses.dataclass
class RunData:
    """One run's data: where it came from, its sizes, and the loaded train and test splits.

    ``train`` and ``test`` are ``load_data_ml100k``'s ``(users, items, scores, inter_mat)``.
    """
    folder: str
    num_users: int
    num_items: int
    train: tuple
    test: tuple

    def info(self):
        """The data part of a run's ``info``: folder, split sizes, the training triples."""
        u, i, r = self.train[:3]
        return {'data_dir': self.folder, 'train_size': len(u), 'test_size': len(self.test[0]),
                'train_interactions': {'users': numpy.asarray(u, dtype=numpy.int64),
                                       'items': numpy.asarray(i, dtype=numpy.int64),
                                       'ratings': numpy.asarray(r, dtype=numpy.float32)}}


def read_split_load(data_dir, split_mode, test_ratio, *, xp=None):
    """Read, split and load (explicit feedback) as the book's ``split_and_load_ml100k`` does.

    ``xp``: the array module the split draws from and the matrices are built with (see
    :mod:`d2l_recsys.data`). Uses the vectorised twins: the same output and the same random
    draws as the book's functions, without scanning a list of test tuples for every training
    row or setting 100,000 entries one at a time.
    """
    # Every way in (data_dir, $D2L_RECSYS_DATA, the cache, a download) gets the same checks;
    # data other than the full ML-100K (the tests' small sets) is used with a note.
    folder = os.path.abspath(fetch.ml100k_dir(data_dir, log=_log, allow_subset=True))
    df, num_users, num_items = data.read_data_ml100k(folder)
    train_data, test_data = data.split_data_ml100k_fast(df, num_users, num_items, split_mode,
                                                        test_ratio, xp=xp)
    for part, name in ((train_data, 'training'), (test_data, 'test')):
        if len(part) == 0:
            raise ValueError(f'the {split_mode} split with test_ratio {test_ratio} leaves no '
                             f'{name} ratings (of {len(df):,}); choose another test_ratio')
    train = data.load_data_ml100k_fast(train_data, num_users, num_items, 'explicit', xp=xp)
    test = data.load_data_ml100k_fast(test_data, num_users, num_items, 'explicit', xp=xp)
    return RunData(folder, num_users, num_items, train, test)


def _log(message):
    # Once per process, as the book's data functions say it (a notebook that reads the data
    # and then calls train_mf shows the line once).
    fetch.print_once(message, file=sys.stderr)


def check_batch_size(batch_size, rows, what):
    """ValueError unless one full batch fits in the ``rows`` training rows (the loaders drop
    an incomplete last batch: ``last_batch='rollover'``), before the first epoch."""
    if batch_size > rows:
        raise ValueError(f'batch_size {batch_size} is larger than the {rows:,} training rows '
                         f'({what}); no full batch can be formed: use at most {rows:,}')


def check_run_sizes(model, settings, run_data, *, on_cpu, user_based=False):
    """Before a model is built, in every tab and path (``train_mf``, ``train_autorec``,
    ``fit``): a batch no loader can fill (:func:`check_batch_size`: MF's rows are ratings,
    AutoRec's items, or users when ``user_based``) and, on the CPU (``on_cpu``), a model the
    memory cannot hold (:func:`check_model_memory`)."""
    if model == 'mf':
        rows, what = len(run_data.train[0]), 'ratings'
    else:
        rows, what = ((run_data.num_users, 'users') if user_based else
                      (run_data.num_items, 'items'))
    check_batch_size(settings['batch_size'], rows, what)
    if on_cpu:
        check_model_memory(model, settings, run_data.num_users, run_data.num_items,
                           user_based)


def check_model_memory(model, settings, num_users, num_items, user_based=False):
    """ValueError when the model's weights, gradients and Adam's two moments (4 float32 copies)
    would not fit in this machine's memory: say so before allocating, not after MXNet or the
    kernel gives up. Only meaningful for training on the CPU. The count is the one a saved
    model's description is checked with (:func:`d2l_recsys.store.parameter_count`)."""
    count = parameter_count({'model': model, 'hparams': settings, 'num_users': num_users,
                             'num_items': num_items, 'user_based': user_based})
    size = settings[_SIZES[model]]
    checks.check_memory(count, f'{_SIZES[model]} {size:,}', bytes_per=4, copies=4,
                        detail=' for the weights, gradients and Adam state')


def non_finite_error(what, value, epoch, lr=None):
    """The error that stops training when the loss or the test RMSE is NaN or infinite
    (epoch counted from 0), for every loop: nothing trained on from there is worth saving."""
    lr = f' ({lr:g})' if isinstance(lr, (int, float)) else ''
    return FloatingPointError(f'training stopped in epoch {epoch + 1}: the {what} is '
                              f'{float(value)}, not a finite number; the learning rate{lr} '
                              'or the weight decay is too large for this model')


def new_history():
    """An empty training history: the per-epoch lists that :func:`record_epoch` fills."""
    return {'epoch': [], 'train_loss': [], 'test_rmse': [], 'seconds': [], 'train_seconds': []}


def record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic, train_seconds, progress,
                 *, digits=1):
    """Record epoch ``epoch`` (counted from 0) in ``history`` and, when ``progress``, say it in
    one line on stderr (seconds with ``digits`` decimals).

    ``seconds`` is the wall clock since ``tic``, taken here: after the epoch's evaluation and
    plotting, which it includes; ``train_seconds`` is the loop's own count of training time.
    """
    history['epoch'].append(epoch + 1)
    history['train_loss'].append(float(train_l))
    history['test_rmse'].append(float(test_rmse))
    history['seconds'].append(time.time() - tic)
    history['train_seconds'].append(train_seconds)
    if progress:
        print(f'epoch {epoch + 1}/{num_epochs}: train loss {float(train_l):.3f}, '
              f'test RMSE {test_rmse:.3f}, {history["seconds"][-1]:.{digits}f} s',
              file=sys.stderr, flush=True)


def finish_history(history, printed_train_loss, test_rmse, examples_per_sec, devices, *,
                   animator=None, figure_path=None, verbose=True):
    """End a training loop as the book's does: its two printed lines (left out when not
    ``verbose``), kept in ``history`` with the devices as strings, and the curve saved to
    ``figure_path`` (``.png`` and ``.svg``) when given. Returns ``history``.
    """
    if verbose:
        print(f'train loss {printed_train_loss:.3f}, '
              f'test RMSE {test_rmse:.3f}')
        print(f'{examples_per_sec:.1f} examples/sec '
              f'on {str(devices)}')
    history['printed_train_loss'] = printed_train_loss
    history['examples_per_sec'] = examples_per_sec
    history['devices'] = [str(d) for d in devices]
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    return history


def run_info(model, settings, run_data, *, framework, seed, fast, user_based=False):
    """The record of one run (``info``): what was trained, how, on what."""
    size = _SIZES[model]
    hparams = {size: settings[size]}
    info = {'framework': framework, 'model': model, 'num_users': run_data.num_users,
            'num_items': run_data.num_items, 'hparams': hparams}
    if model == 'autorec':
        hparams['dropout'] = settings['dropout']
        info['user_based'] = bool(user_based)
    info['train'] = dict(lr=settings['lr'], wd=settings['wd'],
                         batch_size=settings['batch_size'], num_epochs=settings['num_epochs'],
                         optimizer='adam', split_mode=settings['split_mode'],
                         test_ratio=settings['test_ratio'])
    info.update(seed=seed, fast=bool(fast), **run_data.info())
    return info
