"""What every run of the FM and DeepFM experiments shares, whatever the framework or path.

Each tab's ``train_fm``/``train_deepfm`` start here, in this order, on both paths: the checks
(:func:`d2l_recsys.experiments.check_click_settings`), the tab's seed, then
:func:`read_click_data` (the data set's folder from the hub, its two files as the arrays
``CTRDataset``'s items hold, the training file's feature mapper). The faithful path trains with
the tab's ``train_ch13`` (the book's loop over the book's ``DataLoader``s), the fast path with
its ``train_ch13_fast`` (the same batches, the same numbers, sooner); both keep their history
with :func:`new_click_history`, :func:`record_click_epoch` and :func:`finish_click_history`
and end with :func:`click_run_info`, the record saved beside a model. A run returns
``(net, history, info)``:

* ``history``, per epoch: the book's numbers as its code computes them, ``train_loss`` (the
  book's ``SigmoidBinaryCrossEntropyLoss`` of a probability: a second sigmoid), ``train_acc``
  and ``test_acc`` (the share of probabilities *equal* to the 0/1 label: only saturated
  predictions count, see :data:`BOOK_ACCURACY`); beside them the exact ones on the whole test
  set from the model's own probability, ``test_auc``, ``test_log_loss``, ``test_accuracy``
  (at 0.5) (:func:`d2l_recsys.clicks.click_metrics`); then ``test_exact`` (the last epoch's, with
  the test set's size and click rate), ``examples_per_sec``, ``devices`` and ``kinds`` (what
  each number is).
* ``info``: framework, model, hyper-parameters (``field_dims`` included), the data set, its
  feature mapper (``features``: what a saved model needs to turn a line into indices), sizes,
  seed, and for MovieLens ``train_interactions`` (the training lines' 0-based users, items and
  labels as NumPy arrays, to skip the films a user rated when recommending).
"""
import dataclasses
import os
import sys
import time

import numpy

from . import clicks, fetch
from .defaults import CLICK_DATASETS
from .experiments import check, non_finite_error
from .hub import ctr_dir
from .ml100k_ctr import TEST_SHARE, latest_training_lines, ml100k_ctr_dir, read_catalog

__all__ = ['BOOK_LOSS', 'BOOK_ACCURACY', 'EXACT', 'ClickData', 'read_click_data',
           'ClickHoldout', 'read_click_holdout', 'read_click_test', 'click_stopping',
           'finish_click_stopping', 'check_click_sizes', 'new_click_history', 'record_click_epoch',
           'finish_click_history', 'exact_metrics', 'exact_line', 'click_run_info',
           'click_features', 'FEATURES', 'CATALOG', 'read_click_model_files',
           'score_user']

BOOK_LOSS = ("the book's loss: SigmoidBinaryCrossEntropyLoss (from_sigmoid=False) of the "
             "model's probability, which applies a second sigmoid; summed over the epoch's "
             'examples, divided by their number')
BOOK_ACCURACY = ("the book's accuracy (d2l.accuracy on a one-column output): the share of "
                 'predicted probabilities equal to the 0/1 label, which counts only '
                 'predictions saturated to exactly 0 or 1; train: over the epoch, test: over '
                 "the test DataLoader's batches")
EXACT = ("exact: over the whole test set, from the model's own probability (AUC; log loss, "
         'probabilities clipped to [1e-7, 1 - 1e-7]; accuracy of probability > 0.5)')
FEATURES, CATALOG = 'features.json', 'catalog.json'


def _log(message):
    fetch.print_once(message, file=sys.stderr)


@dataclasses.dataclass
class ClickData:
    """One run's click data: the data set's name and folder, its number of fields, the two
    files as :class:`d2l_recsys.clicks.CTRArrays` (the test file mapped with the training file's
    mapper) and, for MovieLens, its catalog (every user's and film's field values, titles)."""
    dataset: str
    folder: str
    num_feat: int
    train: object
    test: object
    catalog: dict = None
    order: str = 'stable'

    def features(self):
        """What turns a line into the model's indices: ``feat_mapper``, ``defaults``,
        ``field_dims``, ``num_feat`` and the fields' names (JSON-able)."""
        t = self.train
        return {'num_feat': self.num_feat, 'field_dims': [int(d) for d in t.field_dims],
                'feat_mapper': {str(i): m for i, m in t.feat_mapper.items()},
                'defaults': {str(i): int(d) for i, d in t.defaults.items()},
                'fields': list(self.catalog['fields']) if self.catalog else None}

    def interactions(self):
        """The training lines' (user, item, label) as 0-based int64, int64, float32 arrays,
        and the numbers of users and items, or None when the data has no users (the book's
        advertising data)."""
        if not self.catalog:
            return None
        labels, values, _ = clicks.read_ctr_lines(os.path.join(self.folder, 'train.csv'),
                                               self.num_feat)
        fields = self.catalog['fields']
        users = values[:, fields.index('user_id')].astype(numpy.int64) - 1
        items = values[:, fields.index('item_id')].astype(numpy.int64) - 1
        return ({'users': users, 'items': items, 'ratings': labels.astype(numpy.float32)},
                max(map(int, self.catalog['users'])), max(map(int, self.catalog['items'])))

    def info(self):
        """The data part of a run's ``info``."""
        test = self.test
        return {'dataset': self.dataset, 'data_dir': self.folder, 'num_feat': self.num_feat,
                'feature_order': self.order, 'train_size': self.train.count,
                'test_size': None if test is None else test.count,
                'skipped_lines': {'train': self.train.skipped,
                                  'test': None if test is None else test.skipped}}


def read_click_data(dataset='ml100k-ctr', data_dir=None, num_feat=None, *, order='stable',
                    min_threshold=clicks.MIN_THRESHOLD):
    """The data set ``dataset`` (``'ml100k-ctr'`` or ``'ctr'``) read as the book's two
    ``CTRDataset``s would read it, as arrays (:class:`ClickData`).

    ``data_dir``: for ``'ml100k-ctr'`` the MovieLens 100K to build from (else the cache's), for
    ``'ctr'`` a copy of the book's advertising data (a folder with ``train.csv`` and
    ``test.csv``, or ``ctr.zip``; else the cache's, then the book's server). ``num_feat``:
    ``CTRDataset``'s number of fields (default: the data set's, 8 or 34). ``order``: how the
    training file's kept values are numbered, ``'stable'`` (first appearance: the same in every
    process) or ``'book'`` (the book's set order, which changes from process to process).
    """
    check('dataset', dataset, dataset in CLICK_DATASETS,
          ' or '.join(repr(d) for d in CLICK_DATASETS))
    check('order', order, order in ('stable', 'book'), "'stable' or 'book'")
    if num_feat is None:
        num_feat = CLICK_DATASETS[dataset]
    check('num_feat', num_feat, isinstance(num_feat, (int, numpy.integer))
          and not isinstance(num_feat, bool) and num_feat >= 1, 'a positive integer')
    catalog = None
    if dataset == 'ml100k-ctr':
        folder = ml100k_ctr_dir(data_dir, log=_log)
        catalog = read_catalog(os.path.join(folder, 'catalog.json'))
        fields = len(catalog['fields'])
        check('num_feat', num_feat, num_feat == fields,
              f"{fields}, the number of fields of 'ml100k-ctr'")
    else:
        folder = ctr_dir(data_dir, num_feat=num_feat, log=_log)
    path = os.path.join(folder, 'train.csv')
    train = clicks.read_ctr_arrays(path, num_feat=num_feat, order=order,
                                min_threshold=min_threshold)
    if train.count == 0:
        raise ValueError(f'{path}: no line of a label and {num_feat} tab-separated fields '
                         f'(num_feat={num_feat})')
    return read_click_test(ClickData(dataset, os.path.abspath(folder), int(num_feat), train,
                                     None, catalog, order))


def read_click_test(data):
    """``data`` (:class:`ClickData`) with its ``test``: the folder's ``test.csv`` mapped with
    ``data.train``'s feature mapper, as the book maps its test file."""
    path = os.path.join(data.folder, 'test.csv')
    test = clicks.read_ctr_arrays(path, data.train.feat_mapper, data.train.defaults,
                                  num_feat=data.num_feat)
    if test.count == 0:
        raise ValueError(f'{path}: no line of a label and {data.num_feat} tab-separated fields')
    return dataclasses.replace(data, test=test)


@dataclasses.dataclass
class ClickHoldout:
    """The training file of the MovieLens click data with a validation set cut from it, for
    tuning; ``test.csv`` is not read. ``fit``: the :class:`ClickData` a model is tuned on, its
    ``train`` the training lines less the validation lines (the feature mapper built from
    them), its ``test`` the validation lines (mapped with that mapper, as ``test.csv`` is mapped
    with the training file's). ``whole``: the whole training file (its own mapper, as every
    other run builds it), its ``test`` the validation lines mapped with that mapper (they are
    training lines there: what a run on it evaluates is a training fit); ``test.csv`` comes
    with :func:`read_click_test`, after training. ``val_mask``: which training lines are the
    validation set."""
    fit: ClickData
    whole: ClickData
    val_mask: numpy.ndarray


def read_click_holdout(data_dir=None, *, val_ratio=TEST_SHARE, order='stable',
                       min_threshold=clicks.MIN_THRESHOLD):
    """The MovieLens click data's training file and a validation set cut from it the way
    ``test.csv`` was cut from all the ratings: each user's latest ``val_ratio`` of their training
    lines (:func:`d2l_recsys.ml100k_ctr.latest_training_lines`, from ``u.data``'s timestamps), so
    that validation looks like test (:class:`ClickHoldout`). ``data_dir``: the ML-100K to build
    from, as :func:`read_click_data`. ``test.csv`` is not read."""
    check('val_ratio', val_ratio, isinstance(val_ratio, (int, float)) and
          not isinstance(val_ratio, bool) and 0 < val_ratio < 1, 'a number in (0, 1)')
    check('order', order, order in ('stable', 'book'), "'stable' or 'book'")
    folder = os.path.abspath(ml100k_ctr_dir(data_dir, log=_log))
    catalog = read_catalog(os.path.join(folder, 'catalog.json'))
    num_feat = len(catalog['fields'])
    path = os.path.join(folder, 'train.csv')
    labels, values, skipped = clicks.read_ctr_lines(path, num_feat)
    ml_dir = fetch.ml100k_dir(data_dir, log=_log, allow_subset=True)
    mask, ratings = latest_training_lines(ml_dir, val_ratio)
    fields = catalog['fields']
    same = len(labels) == len(ratings) and all(
        numpy.array_equal(values[:, fields.index(name)].astype(numpy.int64),
                          ratings[name].to_numpy()) for name in ('user_id', 'item_id'))
    if not same:
        raise ValueError(f'{path}: its lines are not the training ratings of '
                         f'{os.path.join(ml_dir, "u.data")} (the validation set is cut by their '
                         'timestamps); build the click data again from that folder')
    settings = dict(num_feat=num_feat, min_threshold=min_threshold)
    whole = clicks.ctr_arrays(labels, values, order=order, skipped=skipped, where=path,
                              **settings)
    fit = clicks.ctr_arrays(labels[~mask], values[~mask], order=order, where=path, **settings)
    val = clicks.ctr_arrays(labels[mask], values[mask], fit.feat_mapper, fit.defaults,
                            where=path, **settings)
    if fit.count == 0 or val.count == 0:
        raise ValueError(f'{path}: no line to train on or to validate with '
                         f'({fit.count} and {val.count})')
    whole_val = clicks.ctr_arrays(labels[mask], values[mask], whole.feat_mapper,
                                  whole.defaults, where=path, **settings)

    def data(train, test):
        return ClickData('ml100k-ctr', folder, num_feat, train, test, catalog, order)
    return ClickHoldout(fit=data(fit, val), whole=data(whole, whole_val), val_mask=mask)


def click_stopping(stopper, on_epoch=None):
    """The fast trainer's ``after_epoch(epoch, history)`` for early stopping on the exact AUC
    of the set a run is judged on (``history['test_auc']``, the validation lines while
    tuning): ``stopper`` (a tab's :class:`~d2l_recsys.stopping.EarlyStopping`, or None) keeps
    the best epoch's parameters (a lower ``-AUC``; a NaN AUC stops at once), then
    ``on_epoch(epoch, auc)`` (e.g. a search's pruning, which may raise). True: stop."""
    def after_epoch(epoch, history):
        auc = history['test_auc'][-1]
        stop = stopper.update(epoch, -auc) if stopper is not None else False
        if on_epoch is not None:
            on_epoch(epoch, auc)
        return stop
    return after_epoch


def finish_click_stopping(stopper, history):
    """After a run with early stopping: the best epoch's parameters back, and
    ``best_epoch``, ``best_auc``, ``stopped_epoch`` in ``history``."""
    if stopper is not None:
        history['best_epoch'] = stopper.restore()
        history['best_auc'] = -stopper.best
        history['stopped_epoch'] = history['epoch'][-1]
    return history


def check_click_sizes(settings, data, num_devices=1):
    """ValueError before training: the book's loaders keep only full batches (``last_batch=
    'rollover'``, its test loader too), so one must fit in the training lines and in the test
    lines; MXNet's ``split_and_load`` needs a batch that the devices share evenly."""
    batch_size = settings['batch_size']
    for rows, what in ((data.train.count, 'training'), (data.test.count, 'test')):
        if batch_size > rows:
            raise ValueError(f'batch_size {batch_size} is larger than the {rows:,} {what} '
                             "lines; the book's loaders keep only full batches (last_batch="
                             f"'rollover'): use at most "
                             f'{min(data.train.count, data.test.count):,}')
    if batch_size % num_devices:
        raise ValueError(f'batch_size {batch_size} must be a multiple of the number of devices '
                         f'({num_devices})')


def new_click_history():
    """An empty history of a click model's training: the per-epoch lists of the book's numbers
    (:func:`record_click_epoch` fills them, and the exact ones beside)."""
    return {'epoch': [], 'train_loss': [], 'train_acc': [], 'test_acc': [], 'seconds': [],
            'train_seconds': []}


def record_click_epoch(history, epoch, num_epochs, train_loss, train_acc, test_acc, tic,
                       train_seconds, progress, on_epoch=None, lr=None):
    """Record epoch ``epoch`` (from 0): the book's ``train_loss``, ``train_acc`` and
    ``test_acc``, the wall clock since ``tic``, the training seconds, and the numbers of the
    dict ``on_epoch(epoch)`` returns (``test_auc``, ... lists); with ``progress``, one line on
    stderr. FloatingPointError when the loss is not finite (the learning rate ``lr`` is
    named), before ``on_epoch`` is called."""
    if not numpy.isfinite(train_loss):
        raise non_finite_error('loss', train_loss, epoch, lr)
    exact = on_epoch(epoch) if on_epoch is not None else None
    history['epoch'].append(epoch + 1)
    history['train_loss'].append(float(train_loss))
    history['train_acc'].append(float(train_acc))
    history['test_acc'].append(float(test_acc))
    history['seconds'].append(time.time() - tic)
    history['train_seconds'].append(train_seconds)
    for key, value in (exact or {}).items():
        history.setdefault(key, []).append(value)
    if progress:
        extra = (f'; exact test AUC {exact["test_auc"]:.3f}, log loss '
                 f'{exact["test_log_loss"]:.3f}, accuracy {exact["test_accuracy"]:.3f}'
                 if exact else '')
        print(f'epoch {epoch + 1}/{num_epochs}: loss {train_loss:.3f}, train acc '
              f'{train_acc:.3f}, test acc {test_acc:.3f}{extra}, '
              f'{history["seconds"][-1]:.1f} s', file=sys.stderr, flush=True)


def finish_click_history(history, train_loss, train_acc, test_acc, examples_per_sec, devices,
                         *, animator=None, figure_path=None, verbose=True):
    """End a training loop as the book's ``train_ch13`` does: its two printed lines (left out
    when not ``verbose``), kept in ``history`` with the devices as strings, and the curve
    saved to ``figure_path`` (``.png`` and ``.svg``) when given. Returns ``history``."""
    if verbose:
        print(f'loss {train_loss:.3f}, train acc '
              f'{train_acc:.3f}, test acc {test_acc:.3f}')
        print(f'{examples_per_sec:.1f} examples/sec on '
              f'{str(devices)}')
    history['examples_per_sec'] = examples_per_sec
    history['devices'] = [str(d) for d in devices]
    if figure_path is not None:
        history['figure'] = animator.save(figure_path)
    return history


def exact_metrics(probs, labels):
    """The exact numbers of one evaluation, as the history's keys: ``test_auc``,
    ``test_log_loss``, ``test_accuracy`` (:func:`d2l_recsys.clicks.click_metrics`)."""
    m = clicks.click_metrics(probs, labels)
    return {'test_auc': m['auc'], 'test_log_loss': m['log_loss'],
            'test_accuracy': m['accuracy']}


def exact_line(history, labels):
    """The line the experiment functions print after the book's two: the exact test numbers
    of the trained model. Also stores them in ``history['test_exact']`` with the kinds."""
    y = numpy.asarray(labels).reshape(-1)
    exact = {'auc': history['test_auc'][-1], 'log_loss': history['test_log_loss'][-1],
             'accuracy': history['test_accuracy'][-1], 'count': int(y.size),
             'click_rate': float((y > 0.5).mean())}
    history['test_exact'] = exact
    history['kinds'] = {'train_loss': BOOK_LOSS, 'train_acc': BOOK_ACCURACY,
                        'test_acc': BOOK_ACCURACY, 'test_auc': EXACT, 'test_log_loss': EXACT,
                        'test_accuracy': EXACT}
    return (f'exact, whole test set ({exact["count"]:,} lines, click rate '
            f'{exact["click_rate"]:.3f}), the model\'s own probability: AUC '
            f'{exact["auc"]:.3f}, log loss {exact["log_loss"]:.3f}, accuracy at 0.5 '
            f'{exact["accuracy"]:.3f}')


def click_run_info(model, settings, data, *, framework, seed, fast):
    """The record of one click run (``info``): what was trained, how, on what; the feature
    mapper (``features``) and, for MovieLens, ``train_interactions`` (NumPy arrays) with the
    numbers of users and items."""
    hparams = {'field_dims': [int(d) for d in data.train.field_dims],
               'num_factors': settings['num_factors']}
    if model == 'deepfm':
        hparams.update(mlp_dims=list(settings['mlp_dims']), drop_rate=settings['drop_rate'])
    info = {'framework': framework, 'model': model, 'hparams': hparams,
            'train': dict(lr=settings['lr'], batch_size=settings['batch_size'],
                          num_epochs=settings['num_epochs'], optimizer='adam',
                          init='Xavier', loss='SigmoidBinaryCrossEntropyLoss (the book\'s)'),
            'seed': seed, 'fast': bool(fast), **data.info(), 'features': data.features()}
    pairs = data.interactions()
    if pairs is not None:
        info['train_interactions'], info['num_users'], info['num_items'] = pairs
    return info


def click_features(features, catalog, user_id, item_ids):
    """The model's input for user ``user_id`` and each film of ``item_ids`` (MovieLens ids):
    (len(item_ids), num_feat) int64 indices with the fields' offsets added, mapped as the
    training file was (``features``: :meth:`ClickData.features`, checked)."""
    from .ml100k_ctr import catalog_features
    values = catalog_features(catalog, user_id, item_ids)
    mapper, defaults = clicks.check_feat_mapper(features['feat_mapper'], features['defaults'],
                                             features['field_dims'])
    _, offsets = clicks.field_dims_and_offsets(mapper, features['num_feat'])
    return clicks.map_features(values, mapper, defaults) + offsets


def read_click_model_files(directory, meta):
    """A saved click model's ``features.json`` (checked: the mapper numbers every field's
    values once, its ``field_dims`` are the model's) and ``catalog.json`` (None when the model
    was trained on data without users and films). ``meta``: the folder's checked
    ``model.json`` (:func:`d2l_recsys.store.load_model_folder` checked both files' sizes and
    SHA-256). ValueError naming the file otherwise."""
    import json
    listed = meta.get('files') or {}
    path = os.path.join(directory, FEATURES)
    if FEATURES not in listed:
        raise ValueError(f'{directory}: model.json lists no {FEATURES}; a {meta["model"]} '
                         'model needs its feature mapper to turn a line into indices')
    try:
        with open(path, encoding='utf-8') as f:
            features = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f'{path}: not valid JSON ({e})'[:300]) from None
    if not isinstance(features, dict) or not {'num_feat', 'field_dims', 'feat_mapper',
                                              'defaults'} <= set(features):
        raise ValueError(f'{path}: expected num_feat, field_dims, feat_mapper and defaults')
    if features['field_dims'] != meta['hparams'].get('field_dims'):
        raise ValueError(f'{path}: field_dims differ from the model\'s (model.json)')
    if features['num_feat'] != len(features['field_dims']):
        raise ValueError(f'{path}: num_feat {features["num_feat"]!r} is not the number of '
                         f'fields ({len(features["field_dims"])})')
    clicks.check_feat_mapper(features['feat_mapper'], features['defaults'],
                          features['field_dims'], where=path)
    catalog = None
    if CATALOG in listed:
        catalog = read_catalog(os.path.join(directory, CATALOG))
        if len(catalog['fields']) != features['num_feat']:
            raise ValueError(f'{directory}: {CATALOG} has {len(catalog["fields"])} fields, '
                             f'the model {features["num_feat"]}')
    return features, catalog


def score_user(predict, features, catalog, user_id):
    """A click model's probability that user ``user_id`` likes each film of the catalog:
    ``(item_ids, scores)``, films in id order. ``predict(indices)``: the tab's
    ``predict_clicks`` for the model."""
    item_ids = sorted(int(i) for i in catalog['items'])
    x = click_features(features, catalog, user_id, item_ids)
    return numpy.array(item_ids), numpy.asarray(predict(x), dtype=numpy.float64)
