"""Tuning FM and DeepFM on the MovieLens click data without looking at its test file.

``python -m d2l_recsys tune fm|deepfm`` and ``train fm|deepfm --preset tuned``. The rating
models' tuning (:mod:`d2l_recsys.tuning`) cuts its validation set the way the book splits the
ratings; here the test file is each user's latest 10% of their ratings, so:

1. :func:`d2l_recsys.ctr_runs.read_click_holdout` cuts a **validation set** from the training
   file the same way (each user's latest 10% of their training lines, by ``u.data``'s
   timestamps), so that validation looks like test; the feature mapper is built from the
   remaining lines and maps the validation lines, as the training file's maps the test file.
   ``test.csv`` is not read.
2. Every run trains on the fast path with **early stopping** on the validation AUC (the
   model's own probability) and keeps its best epoch.
3. :func:`search`: an Optuna study (TPE, median pruning) over the embedding size, the learning
   rate, the weight decay, the batch size, DeepFM's MLP and dropout, and ``from_sigmoid``:
   whether the loss takes the model's output as the probability it is. The book's cells apply
   a sigmoid twice (the model ends with one, ``SigmoidBinaryCrossEntropyLoss()`` adds another),
   a training defect that saturates the outputs; a preset may fix it, and says so.
4. :func:`train_preset` trains a preset with early stopping, then (``refit``) again on the
   whole training file for the chosen epochs, and only then reads ``test.csv``:
   :func:`evaluate` does that per seed (a seed changes the initialisation, the shuffles and
   the dropout masks; the split is fixed by time).

Framework-free: each function takes the tab's experiments module (``tab``; e.g.
:mod:`d2l_recsys.mxnet.experiments`), which provides ``set_seed``, ``fit_clicks``,
``predict_clicks`` and ``click_run_info``.
"""
import math
import sys
import time

from . import checks, clicks, ctr_runs
from .defaults import BOOK, CLICK_DATASET, MAX_EPOCHS, PATIENCE, SPACES, preset
from .tuning import (Interrupted, evaluation_line, optimize, search_line, seeds_mean,
                     study_record, suggest)

__all__ = ['OPTIONS', 'click_settings', 'search', 'train_preset', 'evaluate', 'search_line',
           'evaluation_line', 'preset_lines', 'Interrupted', 'METRICS']

# Settings beyond the book's cells that a preset or a search may set: Adam's weight decay and
# whether the loss takes the model's output as a probability (False: the book's second
# sigmoid). Both act in training only: a saved model is the book's model.
OPTIONS = ('wd', 'from_sigmoid')
OPTIONS_OFF = {'wd': 0.0, 'from_sigmoid': False}
# What the evidence records per seed, each on the validation and the test lines.
METRICS = ('auc', 'log_loss', 'accuracy')


def _log(message):
    print(message, file=sys.stderr, flush=True)


def click_settings(model, values):
    """``(settings, options)`` from a preset's or a trial's values: the book-shaped settings
    checked as ``train_fm``/``train_deepfm`` check them (``mlp_dims`` may be a string such as
    ``'64,32'``, as a search space names it) and the :data:`OPTIONS` (``wd`` a finite number
    >= 0, ``from_sigmoid`` True or False)."""
    values = dict(values)
    unknown = set(values) - set(BOOK[model]) - set(OPTIONS)
    if unknown:
        raise ValueError(f'{model} preset: unknown setting {", ".join(sorted(unknown))}')
    if model == 'deepfm' and 'mlp_dims' in values:
        values['mlp_dims'] = checks.check_mlp_dims(values['mlp_dims'])
    settings = checks.check_click_settings(
        model, **{k: v for k, v in values.items() if k in BOOK[model]})
    options = dict(OPTIONS_OFF, **{k: v for k, v in values.items() if k in OPTIONS})
    options['wd'] = checks.number('wd', options['wd'], lambda v: v >= 0,
                                  'a finite number >= 0')
    options['from_sigmoid'] = checks.flag('from_sigmoid', options['from_sigmoid'])
    return settings, options


def _check_dataset(dataset):
    if dataset != CLICK_DATASET:
        raise ValueError(f'the click presets are tuned on {CLICK_DATASET!r}, whose test file is '
                         "each user's latest ratings (a validation set is cut the same way); "
                         f'not {dataset!r}')


def search(model, dataset=CLICK_DATASET, *, tab, trials=30, seed=0, data_dir=None,
           devices=None, max_epochs=None, patience=None, val_ratio=None, space=None, log=None,
           seeds=None, start=(), fixed=None):
    """Search ``SPACES[model]`` on the validation lines only; ``test.csv`` is never read.

    Each trial trains once per seed of ``seeds`` (default: ``seed`` alone), each run seeded
    with its seed, with early stopping on the validation AUC (at most ``max_epochs``,
    ``patience``); the trial's value is the mean of the best epochs' validation AUCs (higher
    is better). Optuna's median rule abandons a trial whose first seed is behind the median
    of the earlier trials at the same epoch. ``start``: points tried first (dicts of
    ``space``'s names); ``fixed``: :data:`OPTIONS` every trial uses, kept in the preset.
    ``seed`` also seeds the sampler. Returns a JSON-ready record (the best preset, with its
    epochs; every trial; seconds). An interrupt (or SIGTERM) raises
    :class:`~d2l_recsys.tuning.Interrupted` with the record of the finished trials.
    """
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _check_dataset(dataset)
    max_epochs = max_epochs or MAX_EPOCHS[model]
    patience = patience or PATIENCE[model]
    val_ratio = ctr_runs.TEST_SHARE if val_ratio is None else val_ratio
    seeds = [seed] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError('search: seeds must name at least one seed')
    fixed = dict(fixed or {})
    if set(fixed) - set(OPTIONS):
        raise ValueError(f'search: {model} fixes only {", ".join(OPTIONS)}; not '
                         f'{", ".join(sorted(set(fixed) - set(OPTIONS)))}')
    # Only the training file is read: its validation lines judge every trial.
    held = ctr_runs.read_click_holdout(data_dir, val_ratio=val_ratio)
    tic = time.time()

    def objective(trial):
        values = dict(suggest(trial, space or SPACES[model]), num_epochs=max_epochs, **fixed)
        settings, options = click_settings(model, values)

        def fit_one(s, on_epoch):
            return tab.fit_clicks(model, settings, held.fit, devices=devices,
                                  patience=patience, on_epoch=on_epoch, **options)[1]
        return seeds_mean(trial, seeds, tab.set_seed, 'best_auc', fit_one)

    run = dict(model=model, dataset=dataset, seed=seed, trials=trials, seeds=seeds,
               fixed=fixed, max_epochs=max_epochs, patience=patience, val_ratio=val_ratio,
               tic=tic, metric='auc')
    return optimize(objective, run, study_record, direction='maximize', warmup=2, start=start,
                    log=log, metric='validation AUC')


def preset_lines(history):
    """What ``train fm|deepfm --preset tuned`` prints after training: the best validation
    epoch, the refit, and the exact numbers on the test file."""
    v, t = history['validation'], history['test_exact']
    lines = [f'best epoch {v["epoch"]} of {history["epoch"][-1]}: validation AUC {v["auc"]:.3f}, '
             f'log loss {v["log_loss"]:.3f}, accuracy at 0.5 {v["accuracy"]:.3f} '
             f'({v["count"]:,} lines)']
    if history.get('refit'):
        lines.append(f'trained again on the whole training file for {history["refit"]["epochs"]} '
                     'epochs')
    lines.append(f'exact, whole test set ({t["count"]:,} lines, click rate {t["click_rate"]:.3f}), '
                 f'the model\'s own probability: AUC {t["auc"]:.3f}, log loss '
                 f'{t["log_loss"]:.3f}, accuracy at 0.5 {t["accuracy"]:.3f}')
    return lines


def _at(history, epoch):
    """The exact numbers of ``history``'s epoch ``epoch`` (1-based) as click metrics."""
    i = history['epoch'].index(epoch)
    return {m: history[f'test_{m}'][i] for m in METRICS}


def train_preset(model, dataset=CLICK_DATASET, *, tab, name='tuned', seed=0, data_dir=None,
                 devices=None, values=None, progress=False, figure_path=None):
    """Train a preset (``TUNED[(model, dataset)]`` or ``values``) with early stopping on its
    validation lines, then (``refit``) again from scratch on the whole training file for the
    chosen number of epochs, then read ``test.csv``, once. Returns ``(net, history, info)``
    as ``train_fm``/``train_deepfm``: ``history['validation']`` and ``history['test_exact']``
    hold the AUC, log loss and accuracy at 0.5 of the model's own probability on the
    validation lines (the best epoch's model) and on the test lines (the final model).
    ``seed=None`` leaves the random state as it is. ``progress``: a line per epoch on stderr;
    ``figure_path``: the curve (train loss and validation AUC per epoch, the best epoch
    marked) as PNG and SVG.
    """
    _check_dataset(dataset)
    values = dict(preset(model, dataset, name) if values is None else values)
    values.pop('dataset', None)
    patience = values.pop('patience', None)
    val_ratio = values.pop('val_ratio', ctr_runs.TEST_SHARE)
    refit = bool(values.pop('refit', False))
    settings, options = click_settings(model, values)
    if refit and not patience:
        raise ValueError(f'{model} preset: refit needs patience (the epochs come from early '
                         'stopping on the validation lines)')
    if seed is not None:
        tab.set_seed(seed)
    held = ctr_runs.read_click_holdout(data_dir, val_ratio=val_ratio)
    tic = time.time()
    net, history = tab.fit_clicks(model, settings, held.fit, devices=devices,
                                  patience=patience, progress=progress, **options)
    best = history.get('best_epoch', history['epoch'][-1])
    history['validation'] = dict(_at(history, best), count=held.fit.test.count,
                                 click_rate=float((held.fit.test.labels > 0.5).mean()),
                                 epoch=best)
    data = held.fit
    if refit:
        # The epochs are chosen; train again from scratch on the whole training file (the
        # validation lines included, its own feature mapper) for that many epochs. What it
        # records per epoch is on the validation lines, now training lines: read by nothing.
        if progress:
            _log(f'training again on the whole training file for {best} epochs ...')
        data = held.whole
        net, again = tab.fit_clicks(model, dict(settings, num_epochs=best), data,
                                    devices=devices, progress=progress, **options)
        history['refit'] = {'epochs': best, 'train_loss': again['train_loss']}
    history['train_total_seconds'] = time.time() - tic
    # The only place the test file is read: after training, once.
    data = ctr_runs.read_click_test(data)
    probs = tab.predict_clicks(net, data.test.features, devices, settings['batch_size'])
    history['test_exact'] = clicks.click_metrics(probs, data.test.labels)
    history['test_kind'] = (
        "exact, the model's own probability, whole test file; the model trained again on the "
        "whole training file for the best validation epoch's number of epochs" if refit else
        "exact, the model's own probability, whole test file; the best validation epoch's "
        'model')
    history['validation_auc'] = history.pop('test_auc')
    history['validation_log_loss'] = history.pop('test_log_loss')
    history['validation_accuracy'] = history.pop('test_accuracy')
    if figure_path is not None:
        history['figure'] = _curve(history, figure_path)
    info = tab.click_run_info(model, settings, data, seed=seed)
    info['train'].update(options, loss=(
        'binary cross-entropy of the model\'s probability (from_sigmoid=True: no second '
        'sigmoid, a change from the book\'s cell)' if options['from_sigmoid'] else
        "SigmoidBinaryCrossEntropyLoss (the book's: a second sigmoid)"))
    info.update(preset=name, patience=patience, val_ratio=val_ratio, refit=refit,
                validation_size=held.fit.test.count, test_size=data.test.count)
    return net, history, info


def _curve(history, path):
    from .plotting import Animator
    animator = Animator(xlabel='epoch', xlim=[1, max(history['epoch'])], ylim=[0, 1],
                        legend=['train loss', 'validation AUC', 'best epoch'], live=False)
    for epoch, loss, auc in zip(history['epoch'], history['train_loss'],
                                history['validation_auc']):
        animator.add(epoch, (loss, auc, None))
    if history.get('best_epoch'):
        animator.X[2], animator.Y[2] = [history['best_epoch']] * 2, [0, 1]
    return animator.save(path)


def evaluate(model, dataset=CLICK_DATASET, *, tab, seeds=(0, 1, 2, 3, 4), name='tuned',
             values=None, data_dir=None, devices=None, log=None):
    """Train a preset once per seed (:func:`train_preset`): per seed the validation and test
    AUC, log loss and accuracy at 0.5, the best epoch and the seconds; their means and
    standard deviations. Used for the presets' evidence."""
    rows = []
    for seed in seeds:
        _, history, _ = train_preset(model, dataset, tab=tab, name=name, seed=seed,
                                     data_dir=data_dir, devices=devices, values=values)
        row = {'seed': seed, 'best_epoch': history.get('best_epoch'),
               'seconds': history['train_total_seconds']}
        for m in METRICS:
            row[f'val_{m}'] = history['validation'][m]
            row[f'test_{m}'] = history['test_exact'][m]
        rows.append(row)
        if log is not None:
            log(f'{model}, seed {seed}: validation AUC {row["val_auc"]:.4f}, test AUC '
                f'{row["test_auc"]:.4f}, log loss {row["test_log_loss"]:.4f}, accuracy '
                f'{row["test_accuracy"]:.4f} (epoch {row["best_epoch"]})')
    out = {'model': model, 'dataset': dataset, 'preset': name, 'seeds': list(seeds),
           'per_seed': rows}
    for key in [f'{part}_{m}' for m in METRICS for part in ('val', 'test')]:
        mean, std = _mean_std([r[key] for r in rows])
        out[f'{key}_mean'], out[f'{key}_std'] = mean, std
    return out


def _mean_std(values):
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / max(n - 1, 1))
