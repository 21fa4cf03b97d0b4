r"""Tuned presets for the ranking half (NeuMF, Caser), chosen on a validation set cut from the
training data, never on the test items, as :mod:`d2l_recsys.tuning` chooses the rating ones.

**Why the book's NeuMF learns nothing.** Run as printed (Adam, lr 0.01, weight decay 1e-5,
``Normal(0.01)`` weights, a sigmoid output, BPR), every score is exactly 0.5 after training.
MXNet's Adam adds the weight decay to the gradient (:math:`g + \lambda w`, coupled L2) and then
divides by the running RMS of that sum, so a step is about ``lr`` in the direction of whichever
term dominates, however small both are. Here the data's gradient of a weight is a product of
small factors (BPR's slope 0.5 at a zero margin, the output sigmoid's slope 0.25, weights of
about 0.01 on the way, and about one example in a thousand touching a given user's row), far
below :math:`\lambda w = 10^{-5} \times 0.01`: the decay term dominates 94-100% of the entries
at the first step, every weight is pulled to zero at full speed (lr is as large as the weights
themselves), and the data's gradients, products of weights, shrink faster still. The
parameter norms fall about 150x an epoch; once every logit is below about 1e-7, the float32
sigmoid rounds it to exactly 0.5 and the ranking is the order of a Python set (the book's
printed hit rate 0.075 and AUC 0.531; exact HR@10 0.006, AUC 0.500). docs/ranking-presets.md
has the measurements.

**The change that makes it learn.** Any change that keeps the decay term from dominating the
first steps: weight decay 0 (``wd=0``, one number in the book's cell), 10x smaller, decoupled,
or logits without the output sigmoid (4x larger gradients). The NeuMF preset changes the
weight decay to 0 and drops the sigmoid (``output='logit'``): the loss then reads the logit
difference, whose scale the sigmoid no longer caps. The Caser preset trains on the softmax loss
(``loss='softmax'``: the next item's cross-entropy among every item's score, no sampled
negative) with the Caser paper's size and regularisation. Both presets' other settings are the
book's where they do not say otherwise (:data:`d2l_recsys.defaults.TUNED`).

**The method.**

1. **Validation** (:func:`validation_data`): the book's seq-aware split applied again to its
   training part: each user's second-latest item is held out and the model trains on the rest;
   the test items are dropped before anything is made from the data. The split draws no random
   numbers, so every seed and both tabs see the same validation set.
2. **Early stopping** on the exact validation HR@10 (every unseen item ranked, ties at their
   expectation: :func:`d2l_recsys.rank_metrics.exact_ranking_metrics`), keeping the best
   epoch's parameters: it chooses the number of epochs.
3. **Search** (:func:`search`): an Optuna study (TPE, median pruning) over
   :data:`d2l_recsys.defaults.SPACES` ``['neumf']``/``['caser']``; each trial is judged by the
   mean of its best validation HR@10 over the search seeds, and the preset keeps the mean of
   its best epochs as its fixed number of epochs.
4. **Report** (:func:`evaluate`): the preset trained for its fixed epochs once per seed, on the
   validation split (its validation metrics) and on the whole training split, which is then
   scored on the test items: the only place they are read. ``train --preset tuned --seed S``
   repeats seed S's test run.

Framework-free: each function takes the tab's experiments module (``tab``), which provides
``set_seed`` and ``fit_ranking``.
"""
import math
import time

from . import rank_data
from .defaults import BOOK, MAX_EPOCHS, PATIENCE, RANKING_MODELS, SPACES, preset
from .experiments import check_settings
from .rank_runs import model_options
from .tuning import add_trials, optimize, seeds_mean, suggest

__all__ = ['SPLIT', 'OPTIONS', 'METRICS', 'validation_data', 'preset_settings', 'search',
           'train_preset', 'evaluate', 'search_line', 'evaluation_line']

# The ranking half has one split: the book's seq-aware one (each user's latest item held out).
SPLIT = 'seq-aware'
# Settings beyond the book's constructor and training settings that a preset or a search may
# set: NeuMF's prediction layer (Caser's softmax loss is a value of its ``loss`` setting).
OPTIONS = {'neumf': ('output',), 'caser': ()}
# The exact metrics a report keeps, per seed and stage.
METRICS = ('hr@10', 'hr@50', 'ndcg@10', 'auc')


def validation_data(data_dir=None):
    """The data every trial trains and is judged on: the training part of the book's split,
    split again (:func:`d2l_recsys.rank_data.read_rank_data` with ``validation=True``)."""
    return rank_data.read_rank_data(data_dir, validation=True)


def preset_settings(model, values):
    """``(settings, options)``: checked settings for ``model`` from a preset's or a trial's
    ``values`` (the book's where they say nothing), and the :data:`OPTIONS` among them that
    differ from the book's (:func:`d2l_recsys.rank_runs.model_options`)."""
    if model not in RANKING_MODELS:
        raise ValueError(f"model must be one of {', '.join(RANKING_MODELS)}, got {model!r}")
    keys = set(BOOK[model])
    unknown = set(values) - keys - set(OPTIONS[model])
    if unknown:
        raise ValueError(f'{model} preset: unknown setting {", ".join(sorted(unknown))}')
    settings = check_settings(model, **{k: v for k, v in values.items() if k in keys})
    options = model_options(model, **{k: v for k, v in values.items() if k in OPTIONS[model]})
    return settings, options


def _check_split(split_mode):
    if split_mode != SPLIT:
        raise ValueError(f"the ranking half uses the seq-aware split (each user's latest item "
                         f'held out), got {split_mode!r}')


def search(model, split_mode=SPLIT, *, tab, trials=30, seed=0, data_dir=None, devices=None,
           max_epochs=None, patience=None, space=None, log=None, seeds=None, start=(),
           fixed=None):
    """Search ``SPACES[model]`` on the validation set only; the test items are never read.

    Each trial trains once per seed of ``seeds`` (default: ``seed`` alone), each run seeded
    with its seed (the same initialisation, batches and negatives for every trial), with early
    stopping on the exact validation HR@10 (at most ``max_epochs``, ``patience``); the trial's
    value is the mean over the seeds of the best epoch's HR@10, and its epochs the mean of
    their best epochs. Optuna's median rule abandons a trial whose first seed is behind the
    median of the earlier trials at the same epoch. ``start``: points tried first (dicts of
    ``space``'s names); ``fixed``: :data:`OPTIONS` every trial uses; ``seed`` also seeds the
    sampler. Returns a JSON-ready record (the best preset with its epochs, every trial, the
    seconds); an interrupt (or SIGTERM) raises :class:`~d2l_recsys.tuning.Interrupted` with
    the record of the trials finished so far. ``split_mode`` must be the seq-aware split.
    """
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _check_split(split_mode)
    if model not in RANKING_MODELS:
        raise ValueError(f"model must be one of {', '.join(RANKING_MODELS)}, got {model!r}")
    max_epochs = max_epochs or MAX_EPOCHS[model]
    patience = patience or PATIENCE[model]
    space = space or SPACES[model]
    seeds = [seed] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError('search: seeds must name at least one seed')
    fixed = dict(fixed or {})
    if set(fixed) - set(OPTIONS[model]):
        raise ValueError(f'search: {model} fixes only {", ".join(OPTIONS[model]) or "nothing"}; '
                         f'not {", ".join(sorted(set(fixed) - set(OPTIONS[model])))}')
    data = validation_data(data_dir)   # the only data the search reads
    tic = time.time()

    def objective(trial):
        values = suggest(trial, space)
        settings, options = preset_settings(model, dict(values, num_epochs=max_epochs,
                                                        **fixed))

        def fit_one(s, on_epoch):
            return tab.fit_ranking(model, settings, data, devices=devices, options=options,
                                   patience=patience, on_epoch=on_epoch)[1]
        return seeds_mean(trial, seeds, tab.set_seed, 'best_hr10', fit_one)

    run = dict(model=model, seed=seed, trials=trials, seeds=seeds, fixed=fixed,
               max_epochs=max_epochs, patience=patience, tic=tic)

    def describe(trial):
        epochs = trial.user_attrs.get('best_epochs')
        return f' (epochs {epochs})' if epochs else ''
    return optimize(objective, run, _record, direction='maximize', warmup=3, start=start,
                    log=log, metric='validation HR@10', describe=describe)


def _epochs(trial):
    """A trial's fixed number of epochs: the mean of its seeds' best epochs, rounded."""
    epochs = trial.user_attrs['best_epochs']
    return max(1, int(sum(epochs) / len(epochs) + 0.5))


def _record(study, run, interrupted=False):
    """The JSON-ready record of ``study``: every trial, and the best finished one's preset
    (its values, the fixed options and its epochs)."""
    done = [t for t in study.trials if t.state.name == 'COMPLETE']
    best = max(done, key=lambda t: t.value) if done else None
    chosen = None if best is None else dict(best.params, **run['fixed'],
                                            num_epochs=_epochs(best))
    record = {
        'model': run['model'], 'split_mode': SPLIT, 'seed': run['seed'],
        'trials': run['trials'], 'validation_seeds': run['seeds'],
        'max_epochs': run['max_epochs'], 'patience': run['patience'],
        'search_seconds': time.time() - run['tic'],
        'best_validation_hr10': None if best is None else best.value,
        'best_epochs': None if best is None else best.user_attrs['best_epochs'],
        'preset': chosen,
    }
    return add_trials(record, study, interrupted, epoch_key='best_epochs')


def _values(model, name, values):
    if values is not None:
        return dict(values)
    if name == 'book':
        return dict(BOOK[model])
    out = preset(model, SPLIT, name)
    out.pop('split_mode')
    return out


def train_preset(model, *, tab, name='tuned', values=None, seed=0, data_dir=None,
                 devices=None, validation=False, progress=False, verbose=False):
    """Train a preset (``TUNED[(model, 'seq-aware')]``, the book's settings with
    ``name='book'``, or ``values``) for its fixed number of epochs, seeded with ``seed`` (None:
    the random state as it is), on the whole training split and scored on the test items, or
    with ``validation=True`` on the validation split and scored on the validation items.
    Returns ``(net, history)`` (``history['exact'][-1]``: the last epoch's exact metrics)."""
    settings, options = preset_settings(model, _values(model, name, values))
    if seed is not None:
        tab.set_seed(seed)
    data = validation_data(data_dir) if validation else rank_data.read_rank_data(data_dir)
    return tab.fit_ranking(model, settings, data, devices=devices, options=options,
                           progress=progress, verbose=verbose)


def _mean_std(values):
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / max(n - 1, 1))


def evaluate(model, split_mode=SPLIT, *, tab, seeds=(0, 1, 2, 3, 4), name='tuned',
             values=None, data_dir=None, devices=None, log=None,
             stages=('validation', 'test'), choice_seeds=None):
    """Train a preset once per seed on the validation split and once on the whole training
    split (:func:`train_preset`), each for the preset's epochs: the exact validation and test
    :data:`METRICS` and the seconds per seed, and their means and standard deviations. Used
    for the presets' evidence (:mod:`d2l_recsys.rank_evidence`). ``stages``: which of the two
    runs (``('test',)``: the test run alone, for seeds used in no choice).
    ``choice_seeds``: the seeds whose validation runs chose the preset; the record then says
    which of ``seeds`` were among them (``seeds_in_choice``)."""
    _check_split(split_mode)
    if not stages or set(stages) - {'validation', 'test'}:
        raise ValueError(f"stages must name 'validation', 'test' or both, got {stages!r}")
    values = _values(model, name, values)
    rows = []
    for seed in seeds:
        row = {'seed': seed}
        for stage in stages:
            tic = time.time()
            _, history = train_preset(model, tab=tab, values=values, seed=seed,
                                      data_dir=data_dir, devices=devices,
                                      validation=stage == 'validation')
            row[stage] = {k: float(history['exact'][-1][k]) for k in METRICS}
            row[f'{stage}_seconds'] = time.time() - tic
        rows.append(row)
        if log is not None:
            log(f'{model}, seed {seed}: ' + '; '.join(
                f'{stage} HR@10 {row[stage]["hr@10"]:.4f}, AUC {row[stage]["auc"]:.4f}'
                for stage in stages))
    out = {'model': model, 'split_mode': SPLIT, 'preset': name, 'values': values,
           'framework': tab.__name__.split('.')[-2],
           'seeds': list(seeds), 'per_seed': rows}
    if choice_seeds is not None:   # which of the reported seeds chose the preset
        out['seeds_in_choice'] = sorted(set(seeds) & {int(s) for s in choice_seeds})
    for stage in stages:
        stats = {k: _mean_std([r[stage][k] for r in rows]) for k in METRICS}
        out[f'{stage}_mean'] = {k: v[0] for k, v in stats.items()}
        out[f'{stage}_std'] = {k: v[1] for k, v in stats.items()}
    return out


def search_line(record):
    """What ``tune`` prints after a ranking search."""
    return (f'best validation HR@10 {record["best_validation_hr10"]:.4f} (epochs '
            f'{record["best_epochs"]}) after {record["trials"]} trials '
            f'({record["search_seconds"]:.0f} s): {record["preset"]}')


def evaluation_line(e):
    """What ``tune`` prints after the chosen preset's report."""
    parts = []
    for stage in ('test', 'validation'):
        if f'{stage}_mean' in e:
            m, sd = e[f'{stage}_mean'], e[f'{stage}_std']
            parts.append(f'{stage} HR@10 {m["hr@10"]:.4f} +- {sd["hr@10"]:.4f}, AUC '
                         f'{m["auc"]:.4f} +- {sd["auc"]:.4f}')
    used = e.get('seeds_in_choice')
    note = '' if used is None else (f' (seeds {used} also chose the preset; report on seeds '
                                    'used in no choice)' if used else
                                    ' (seeds used in no choice)')
    return f'exact {"; ".join(parts)} over seeds {e["seeds"]}{note}'
