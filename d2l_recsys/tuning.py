"""Choosing hyper-parameters without looking at the test set: a validation set, early stopping
on it, a search with Optuna, and the test split read only for the final report.

The chapter trains with fixed settings and reports the test RMSE of the last epoch; choosing
settings or epochs by that number would tune on the test set. Here:

1. :func:`read_holdout` splits the data as the book does (the same random draw, so the same
   test split as every other run with that seed), then cuts a **validation set** out of the
   training split *the same way*: a random share of it on the random split, each user's
   latest training rating on the seq-aware split (the book's own split function, applied to
   the training ratings). The model trains on the rest.
2. Every run trains with **early stopping** on the exact validation RMSE and restores the
   parameters of its best epoch, so the number of epochs is chosen on the validation set.
3. :func:`search` runs an Optuna study (TPE sampler, median pruning of runs that fall behind)
   over learning rate, weight decay, size, batch size and (AutoRec) dropout; it is given only
   the training part and the validation set.
4. :func:`evaluate` trains the chosen preset once per seed (each seed its own split and its
   own validation set) and only then reads the test split: the exact test RMSE per seed.

Framework-free: each function takes the tab's experiments module (``tab``; e.g.
:mod:`d2l_recsys.mxnet.experiments`), which provides ``set_seed``, ``read_holdout``,
``fit`` and ``test_rmse``.
"""
import dataclasses
import math
import os
import sys
import time

from . import data, fetch
from .defaults import BOOK, MAX_EPOCHS, OPTIONS_OFF, PATIENCE, SPACES, preset
from .experiments import RunData, check_settings
from .store import AUTOREC_EXTRAS

__all__ = ['Holdout', 'read_holdout', 'SPACES', 'suggest', 'search', 'train_preset',
           'evaluate', 'Interrupted', 'search_line', 'evaluation_line', 'optimize',
           'study_record', 'add_trials', 'seeds_mean']


class Interrupted(Exception):
    """A search stopped by an interrupt (or SIGTERM): ``record`` is :func:`search`'s record of
    the trials that finished (``"interrupted": true``), ``cause`` what stopped it."""

    def __init__(self, record, cause):
        super().__init__(f'interrupted after {record["finished"]} finished trial(s)')
        self.record, self.cause = record, cause


@dataclasses.dataclass
class Holdout:
    """One seed's data for tuning: ``fit`` trains (its ``test`` is the validation set, cut
    from the training split), ``full`` is the book's split (its ``test`` is the test split,
    for the final report only)."""
    fit: RunData
    full: RunData


def read_holdout(data_dir, split_mode, test_ratio, val_ratio, *, xp=None):
    """The book's train/test split, and a validation set cut from its training part.

    The test split is drawn exactly as in every other run (:func:`~d2l_recsys.data.
    split_data_ml100k_fast` on all ratings, from ``xp``'s generator); then the same function
    on the training ratings cuts the validation set: each user's latest training rating
    ('seq-aware'), or each training rating with probability ``val_ratio`` ('random').
    """
    # The same checks and notes as every other run's read_split_load.
    data_dir = os.path.abspath(fetch.ml100k_dir(data_dir, log=_log, allow_subset=True))
    df, num_users, num_items = data.read_data_ml100k(data_dir)
    train_df, test_df = data.split_data_ml100k_fast(df, num_users, num_items, split_mode,
                                                    test_ratio, xp=xp)
    fit_df, val_df = data.split_data_ml100k_fast(train_df, num_users, num_items, split_mode,
                                                 val_ratio, xp=xp)

    def load(frame):
        return data.load_data_ml100k_fast(frame, num_users, num_items, 'explicit', xp=xp)
    folder = str(data_dir)
    train = load(train_df)
    return Holdout(fit=RunData(folder, num_users, num_items, load(fit_df), load(val_df)),
                   full=RunData(folder, num_users, num_items, train, load(test_df)))


def suggest(trial, space):
    """One point of ``space`` (as :data:`SPACES`' entries) from an Optuna trial."""
    chosen = {}
    for name, spec in space.items():
        if spec[0] == 'log':
            chosen[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        elif spec[0] == 'float':
            chosen[name] = trial.suggest_float(name, spec[1], spec[2])
        elif spec[0] == 'int-log':
            chosen[name] = trial.suggest_int(name, spec[1], spec[2], log=True)
        else:
            chosen[name] = trial.suggest_categorical(name, list(spec))
    return chosen


def _log(message):
    print(message, file=sys.stderr, flush=True)


# Settings beyond the book's that a preset or a search may set, passed to the tab's ``fit``.
OPTIONS = {'mf': ('reg', 'lr_decay'),
           'autorec': ('lr_decay', 'decoder_activation', 'input_dropout', 'clip')}


def _settings(model, split_mode, values):
    """``(settings, options)``: checked book-shaped settings for ``model`` from a preset or a
    trial's values, and the :data:`OPTIONS` among them."""
    keys = set(BOOK[model])
    unknown = set(values) - keys - set(OPTIONS[model])
    if unknown:
        raise ValueError(f'{model} preset: unknown setting {", ".join(sorted(unknown))}')
    settings = check_settings(model, split_mode=split_mode,
                              **{k: v for k, v in values.items() if k in keys})
    return settings, {k: v for k, v in values.items() if k in OPTIONS[model]}


def search(model, split_mode, *, tab, trials=30, seed=0, data_dir=None, devices=None,
           max_epochs=None, patience=None, val_ratio=None, space=None, log=None,
           seeds=None, start=(), fixed=None):
    """Search ``SPACES[model]`` on validation sets only; the test split is never read.

    Each trial trains once per seed of ``seeds`` (default: ``seed`` alone), each run seeded
    with its seed (its own split and validation set; the same initialisation and batches for
    every trial), with early stopping on the validation RMSE (at most ``max_epochs``,
    ``patience``); the trial's value is the mean over the seeds of the best epoch's
    validation RMSE. Near the optimum, trials differ by less than one seed's validation set
    can tell apart, so judging on two or three seeds makes the choice less of a draw.
    Optuna's median rule abandons a trial whose first seed is behind the median of the
    earlier trials at the same epoch. ``space``: the search space (default
    ``SPACES[model]``); ``start``: points (dicts of ``space``'s names) tried first, e.g. an
    earlier preset. ``fixed``: options of :data:`OPTIONS` that every trial uses, not searched
    (e.g. ``{'clip': True}``), kept in the chosen preset. ``seed`` also seeds the sampler.
    Returns a JSON-ready record: the best preset (with its epochs), every trial, and the
    seconds it took. An interrupt (or SIGTERM) during the search raises :class:`Interrupted`,
    which carries the record of the trials finished so far.
    """
    import optuna
    # Errors end the search and are reported by the caller in one line; Optuna's own warning
    # for a failed trial would add its traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    max_epochs = max_epochs or MAX_EPOCHS[model]
    patience = patience or PATIENCE[model]
    val_ratio = BOOK[model]['test_ratio'] if val_ratio is None else val_ratio
    seeds = [seed] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError('search: seeds must name at least one seed')
    fixed = dict(fixed or {})
    if set(fixed) - set(OPTIONS[model]):
        raise ValueError(f'search: {model} fixes only {", ".join(OPTIONS[model])}; not '
                         f'{", ".join(sorted(set(fixed) - set(OPTIONS[model])))}')
    fit_data = {}
    for s in seeds:
        tab.set_seed(s)
        # Only the training part and the validation set go on; the test split is dropped.
        fit_data[s] = tab.read_holdout(data_dir, split_mode, BOOK[model]['test_ratio'],
                                       val_ratio).fit
    tic = time.time()

    def objective(trial):
        values = suggest(trial, space or SPACES[model])
        settings, options = _settings(model, split_mode, dict(values, num_epochs=max_epochs,
                                                              **fixed))

        def fit_one(s, on_epoch):
            return tab.fit(model, settings, fit_data[s], devices=devices, patience=patience,
                           on_epoch=on_epoch, verbose=False, **options)[1]
        return seeds_mean(trial, seeds, tab.set_seed, 'best_rmse', fit_one)

    run = dict(model=model, split_mode=split_mode, seed=seed, trials=trials, seeds=seeds,
               fixed=fixed, max_epochs=max_epochs, patience=patience, val_ratio=val_ratio,
               tic=tic)
    return optimize(objective, run, study_record, direction='minimize', warmup=5, start=start,
                    log=log, metric='validation RMSE')


def optimize(objective, run, record, *, direction, warmup, start=(), log=None, metric,
             describe=None):
    """The study of a search (:func:`search`, :func:`d2l_recsys.rank_tuning.search`,
    :func:`d2l_recsys.click_tuning.search`): TPE seeded with ``run['seed']``, Optuna's median
    pruning after ``warmup`` epochs (5 startup trials), ``start`` points first,
    ``run['trials']`` trials, a line per trial to ``log`` (``metric`` names the value;
    ``describe(trial)``: words after it). Returns ``record(study, run)``; an interrupt (or
    SIGTERM) raises :class:`Interrupted` with ``record(study, run, interrupted=True)``; no
    finished trial raises ValueError."""
    import optuna
    trials, better = run['trials'], max if direction == 'maximize' else min
    study = optuna.create_study(
        direction=direction, sampler=optuna.samplers.TPESampler(seed=run['seed']),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup))
    for point in start:
        study.enqueue_trial(dict(point))
    callbacks = []
    if log is not None:
        def say(study, trial):
            value = 'pruned' if trial.value is None else f'{trial.value:.4f}'
            done = [t.value for t in study.trials if t.state.name == 'COMPLETE']
            best = f'{better(done):.4f}' if done else 'none yet'
            more = describe(trial) if describe is not None else ''
            log(f'trial {trial.number + 1}/{trials}: {metric} {value}{more} '
                f'{_brief(trial.params)} (best {best})')
        callbacks.append(say)
    try:
        study.optimize(objective, n_trials=trials, callbacks=callbacks)
    except (KeyboardInterrupt, SystemExit) as e:
        raise Interrupted(record(study, run, interrupted=True), e) from None
    if not any(t.state.name == 'COMPLETE' for t in study.trials):
        raise ValueError(f'search: none of the {trials} trials finished (each diverged or was '
                         'pruned); try a smaller learning rate or --start points')
    return record(study, run)


def seeds_mean(trial, seeds, set_seed, key, fit_one):
    """A search trial's value: the mean over ``seeds`` of ``history[key]`` (the best epoch's
    validation metric), where ``fit_one(seed, on_epoch)`` trains one run and returns its
    history. The first seed's epochs are reported to the pruner; a loss that diverges
    (FloatingPointError) or a metric that is not finite prunes the trial: a bad point, not a
    failed search. The per-seed values and best epochs are kept as the trial's attributes."""
    import optuna

    def on_epoch(epoch, value):
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    best, epochs = [], []
    for i, s in enumerate(seeds):
        set_seed(s)
        try:
            history = fit_one(s, on_epoch if i == 0 else None)
        except FloatingPointError:
            raise optuna.TrialPruned() from None
        if not math.isfinite(history.get(key, math.nan)):
            raise optuna.TrialPruned()
        best.append(history[key])
        epochs.append(history['best_epoch'])
    trial.set_user_attr('best_epoch', epochs[0])
    trial.set_user_attr('per_seed', best)
    trial.set_user_attr('best_epochs', epochs)
    return sum(best) / len(best)


def study_record(study, run, interrupted=False):
    """The JSON-ready record of ``study`` (every trial; the best finished one's preset).
    ``run['metric']``: 'rmse' (lower is better; the default) or 'auc' (higher), which names
    ``best_validation_<metric>``; ``run`` names the data by ``split_mode`` (kept in the preset)
    or ``dataset``."""
    metric = run.get('metric', 'rmse')
    done = [t for t in study.trials if t.state.name == 'COMPLETE']
    best = (max if metric == 'auc' else min)(done, key=lambda t: t.value) if done else None
    split = {'split_mode': run['split_mode']} if 'split_mode' in run else {}
    chosen = None if best is None else dict(
        best.params, **run['fixed'], num_epochs=run['max_epochs'], patience=run['patience'],
        val_ratio=run['val_ratio'], **split)
    record = {
        'model': run['model'], **{k: run[k] for k in ('split_mode', 'dataset') if k in run},
        'seed': run['seed'], 'trials': run['trials'], 'validation_seeds': run['seeds'],
        'search_seconds': time.time() - run['tic'],
        f'best_validation_{metric}': None if best is None else best.value,
        'best_epoch': None if best is None else best.user_attrs.get('best_epoch'),
        'preset': chosen,
    }
    return add_trials(record, study, interrupted)


def add_trials(record, study, interrupted=False, epoch_key='best_epoch'):
    """``record`` (a search's) with ``history``, every trial of ``study`` (its number, state,
    value, values, ``epoch_key`` and per-seed values), and for an interrupted search
    ``interrupted`` and how many trials ``finished``."""
    record['history'] = [{'number': t.number, 'state': t.state.name, 'value': t.value,
                          'params': t.params, epoch_key: t.user_attrs.get(epoch_key),
                          'per_seed': t.user_attrs.get('per_seed')} for t in study.trials]
    if interrupted:
        record.update(interrupted=True,
                      finished=sum(t.state.name == 'COMPLETE' for t in study.trials))
    return record


def search_line(record):
    """What ``tune`` prints after a search (the validation RMSE, or AUC for FM and DeepFM)."""
    metric = 'auc' if 'best_validation_auc' in record else 'rmse'
    return (f'best validation {metric.upper()} {record[f"best_validation_{metric}"]:.4f} at '
            f'epoch {record["best_epoch"]} after {record["trials"]} trials '
            f'({record["search_seconds"]:.0f} s): {record["preset"]}')


def evaluation_line(evaluation):
    """What ``tune`` prints after the chosen preset's runs on the test split."""
    e = evaluation
    metric = 'auc' if 'test_auc_mean' in e else 'rmse'
    return (f'exact test {metric.upper()} {e[f"test_{metric}_mean"]:.4f} +- '
            f'{e[f"test_{metric}_std"]:.4f} (validation {e[f"val_{metric}_mean"]:.4f}) over '
            f'seeds {e["seeds"]}')


def _brief(params):
    return ', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}'
                     for k, v in params.items())


def train_preset(model, split_mode='random', *, tab, name='tuned', seed=0, data_dir=None,
                 devices=None, values=None, progress=False, figure_path=None):
    """Train a preset (``TUNED[(model, split_mode)]`` or ``values``) with early stopping on
    its own validation set, then report on the test split. Returns ``(net, history, info)``
    as the tab's ``train_mf``/``train_autorec``; ``history['test_rmse_exact']`` is the exact
    test RMSE of the best epoch's parameters, ``history['val_rmse']`` its validation RMSE.
    ``seed=None`` leaves the random state as it is. ``progress``: one line on stderr per
    epoch with its validation RMSE (the fits' own lines would call it a test RMSE), and one
    before the refit. ``figure_path``: the curve (train loss and validation RMSE per epoch,
    the best epoch marked) as PNG and SVG.
    """
    values = dict(preset(model, split_mode, name) if values is None else values)
    values.pop('split_mode', None)   # the split is the argument's
    patience = values.pop('patience', None)
    val_ratio = values.pop('val_ratio', BOOK[model]['test_ratio'])
    refit = bool(values.pop('refit', False))
    settings, options = _settings(model, split_mode, values)
    if refit and not patience:
        raise ValueError(f'{model} preset: refit needs patience (the epochs come from early '
                         f'stopping on the validation set)')
    if seed is not None:
        tab.set_seed(seed)
    holdout = tab.read_holdout(data_dir, split_mode, settings['test_ratio'], val_ratio)
    tic = time.time()

    def say_epoch(epoch, rmse):
        _log(f'epoch {epoch}/{settings["num_epochs"]}: validation RMSE {rmse:.3f}')
    net, history = tab.fit(model, settings, holdout.fit, devices=devices, patience=patience,
                           on_epoch=say_epoch if progress else None, verbose=False, **options)
    history['val_rmse'] = history.get('best_rmse', history['test_rmse_exact'])
    if refit:
        # The epochs are chosen; train again from scratch on the whole training split (the
        # validation ratings included) for that many epochs. Its per-epoch RMSE is on the
        # validation set, now part of the training data: a training fit, read by nothing.
        chosen = dict(settings, num_epochs=history['best_epoch'])
        whole = dataclasses.replace(holdout.full, test=holdout.fit.test)
        # The same learning rates: a decay happens after the same epochs as in the first run.
        decay_at = [e for e in history.get('lr_decayed_at', []) if e < chosen['num_epochs']]
        if progress:
            _log(f'training again on the whole training split for {chosen["num_epochs"]} '
                 'epochs ...')
        net, again = tab.fit(model, chosen, whole, devices=devices, verbose=False,
                             decay_at=decay_at, **options)
        history['refit'] = {'epochs': chosen['num_epochs'], 'train_loss': again['train_loss'],
                            'lr_decayed_at': decay_at}
    history['train_total_seconds'] = time.time() - tic
    # The only place the test split is read: after training, once.
    history['test_rmse_exact'] = tab.test_rmse(model, net, holdout.full, devices=devices)
    history['test_rmse_kind'] = (
        'exact test RMSE after training again on the whole training split for the best '
        'validation epoch\'s number of epochs' if refit else
        'exact test RMSE of the best validation epoch' if patience
        else 'exact test RMSE after the last epoch')
    history['validation_rmse'] = history.pop('test_rmse_exact_per_epoch', None)
    if figure_path is not None:
        history['figure'] = _curve(history, figure_path)
    info = tab.run_info(model, settings, holdout.fit, seed=seed)
    # What rebuilds the net (a saved model's hparams): the options a model folder keeps
    # (``input_dropout`` acts in training only, so a saved model does without it), when on.
    layers = {k: v for k, v in options.items()
              if k in AUTOREC_EXTRAS and v != OPTIONS_OFF.get(k)}
    if layers:
        info['hparams'] = dict(info['hparams'], **layers)
    info.update(preset=name, patience=patience, val_ratio=val_ratio, options=options,
                refit=refit,
                validation_size=len(holdout.fit.test[0]), test_size=len(holdout.full.test[0]))
    return net, history, info


def _curve(history, path):
    from .plotting import Animator
    animator = Animator(xlabel='epoch', xlim=[1, max(history['epoch'])], ylim=[0, 2],
                        legend=['train loss', 'validation RMSE', 'best epoch'], live=False)
    for epoch, loss, rmse in zip(history['epoch'], history['train_loss'],
                                 history['validation_rmse'] or history['test_rmse']):
        animator.add(epoch, (loss, rmse, None))
    if history.get('best_epoch'):
        animator.X[2], animator.Y[2] = [history['best_epoch']] * 2, [0, 2]
    return animator.save(path)


def evaluate(model, split_mode, *, tab, seeds=(0, 1, 2, 3, 4), name='tuned', values=None,
             data_dir=None, devices=None, log=None):
    """Train a preset once per seed (:func:`train_preset`): validation and test RMSE, best
    epoch and seconds per seed, and their means. Used for the presets' evidence."""
    rows = []
    for seed in seeds:
        _, history, _ = train_preset(model, split_mode, tab=tab, name=name, seed=seed,
                                     data_dir=data_dir, devices=devices, values=values)
        rows.append({'seed': seed, 'val_rmse': history['val_rmse'],
                     'test_rmse': history['test_rmse_exact'],
                     'best_epoch': history.get('best_epoch'),
                     'seconds': history['train_total_seconds']})
        if log is not None:
            log(f'{model}, {split_mode}, seed {seed}: validation RMSE {rows[-1]["val_rmse"]:.4f}'
                f', test RMSE {rows[-1]["test_rmse"]:.4f} (epoch {rows[-1]["best_epoch"]})')
    n = len(rows)

    def mean_std(key):
        values = [r[key] for r in rows]
        mean = sum(values) / n
        return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / max(n - 1, 1))
    val, test = mean_std('val_rmse'), mean_std('test_rmse')
    return {'model': model, 'split_mode': split_mode, 'preset': name, 'seeds': list(seeds),
            'per_seed': rows, 'val_rmse_mean': val[0], 'val_rmse_std': val[1],
            'test_rmse_mean': test[0], 'test_rmse_std': test[1]}
