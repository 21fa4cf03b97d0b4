"""What every run of the ranking half shares, whatever the framework or path (framework-free).

Both tabs' ``train_ranking`` (the book's loop) and their fast loops keep their history with
:func:`new_ranking_history`, :func:`record_ranking_epoch` and :func:`finish_ranking_history`,
so that every path prints and records the same; both tabs' ``train_neumf``/``train_caser``
end with :func:`ranking_run_info`, the record saved beside a model. A run returns
``(net, history, info)``:

* ``history``: per epoch ``epoch``, ``train_loss`` (the mean loss per training example: the
  loss summed over the epoch's examples, over their number; None for an epoch without a
  batch, where ``last_batch='rollover'`` carried every example on), ``seconds`` (wall clock, the
  evaluation included) and ``train_seconds``; per evaluation ``eval_epoch``, ``hit_rate``
  and ``auc`` (the book's evaluator: hits at 50 among the first ``num_users`` items) and,
  where asked for, ``exact`` (:func:`d2l_recsys.rank_metrics.exact_ranking_metrics`: HR@10,
  HR@50, NDCG@10, AUC over all unseen items); then the book's printed numbers
  (``printed_train_loss``, ``printed_examples_per_sec``), the measured ``examples_per_sec``
  and the ``devices``.
* ``info``: framework, model, hyper-parameters, training settings, seed, sizes and
  ``train_interactions`` (:meth:`d2l_recsys.rank_data.RankData.info`).

The book's MF trains with the same loop as a ranking model (both tabs' ``train_mf_ranking``):
:data:`MF_RANKING` holds its settings, the NeuMF cell's, checked by
:func:`check_mf_ranking`.
"""
import sys
import time
import types

from . import checks, rank_metrics
from .defaults import BOOK, NEUMF_OUTPUTS
from .experiments import check_settings
from .plotting import Animator
from .rank_metrics import format_exact

__all__ = ['new_ranking_history', 'record_ranking_epoch', 'finish_ranking_history',
           'ranking_animator', 'ranking_evaluator', 'ranking_hparams', 'ranking_run_info',
           'metrics_table', 'MF_RANKING', 'check_mf_ranking', 'BOOK_METRIC', 'neumf_output',
           'model_options', 'early_stopping_hook', 'finish_early_stopping', 'STOP_METRIC']

BOOK_METRIC = ("book evaluator: hits in the top 50 and AUC among the items with an index "
               "below the number of users (see 'exact' for all unseen items)")

# What each ranking model's constructor takes besides the sizes (in BOOK's names).
_HPARAMS = {'neumf': ('num_factors', 'nums_hiddens'),
            'caser': ('num_factors', 'L', 'd', 'd_prime', 'drop_ratio'),
            'mf': ('num_factors',)}
# What early stopping watches: the exact HR@10 on the held-out items (higher is better).
STOP_METRIC = 'hr@10'

# The book's MF class trained as a ranking model, with the NeuMF cell's settings (10 factors,
# as NeuMF's GMF part; BPR, Adam with lr 0.01 and wd 1e-5, batch 1024, 10 epochs): the same
# loop, loss, negatives and batches, MF in NeuMF's place.
MF_RANKING = types.MappingProxyType({k: v for k, v in BOOK['neumf'].items()
                                     if k != 'nums_hiddens'})


def check_mf_ranking(**settings):
    """:data:`MF_RANKING` with ``settings`` over them, checked as NeuMF's are
    (:func:`d2l_recsys.experiments.check_settings`); TypeError for a key it does not have."""
    unknown = set(settings) - set(MF_RANKING)
    if unknown:
        raise TypeError(f'MF trained for ranking has no setting {", ".join(sorted(unknown))}')
    s = check_settings('neumf', **{**MF_RANKING, **{k: v for k, v in settings.items()
                                                   if v is not None}})
    del s['nums_hiddens']
    return s


def neumf_output(value):
    """NeuMF's prediction layer, checked: ``'sigmoid'`` (the book's ``Dense(1,
    activation='sigmoid', use_bias=False)``) or ``'logit'`` (the same layer without the
    sigmoid; see :mod:`d2l_recsys.rank_tuning` for why the book's NeuMF learns nothing and what
    this changes)."""
    return checks.choice('output', value, NEUMF_OUTPUTS)


# Each ranking model's constructor options beyond the book's, with the book's values.
_OPTIONS = {'neumf': {'output': 'sigmoid'}, 'caser': {'horizontal': True, 'vertical': True},
            'mf': {}}


def model_options(model, **options):
    """A ranking model's constructor ``options`` beyond the book's, checked, as
    :func:`ranking_run_info` records them and ``fit_ranking`` builds the model with them:
    NeuMF's ``output`` (:func:`neumf_output`), Caser's ``horizontal`` and ``vertical`` (the
    section's ablation, :func:`d2l_recsys.checks.caser_convolutions`). Returns ``{}`` for the
    book's model, else all of the model's options (Caser's two flags together); TypeError for
    an option the model does not have."""
    unknown = set(options) - set(_OPTIONS[model])
    if unknown:
        raise TypeError(f'{model} has no option {", ".join(sorted(unknown))}')
    values = {**_OPTIONS[model], **options}
    if model == 'neumf':
        values['output'] = neumf_output(values['output'])
    elif model == 'caser':
        values['horizontal'], values['vertical'] = checks.caser_convolutions(
            values['horizontal'], values['vertical'])
    return {} if values == _OPTIONS[model] else values


def new_ranking_history():
    """An empty history of a ranking run (see the module's docstring)."""
    return {'epoch': [], 'train_loss': [], 'seconds': [], 'train_seconds': [],
            'eval_epoch': [], 'hit_rate': [], 'auc': [], 'exact': []}


def record_ranking_epoch(history, epoch, num_epochs, train_loss, measured, tic, train_seconds,
                         progress):
    """Record epoch ``epoch`` (counted from 0); ``measured``: None (no evaluation this epoch),
    ``(hit_rate, auc)`` or ``(hit_rate, auc, exact_metrics)``. With ``progress``, one line on
    stderr. ``seconds``: wall clock since ``tic``, taken here (the evaluation included)."""
    history['epoch'].append(epoch + 1)
    history['train_loss'].append(None if train_loss is None else float(train_loss))
    history['seconds'].append(time.time() - tic)
    history['train_seconds'].append(float(train_seconds))
    text = ''
    if measured is not None:
        history['eval_epoch'].append(epoch + 1)
        history['hit_rate'].append(float(measured[0]))
        history['auc'].append(float(measured[1]))
        text = f', test hit rate {measured[0]:.3f}, test AUC {measured[1]:.3f}'
        if len(measured) > 2:
            history['exact'].append(measured[2])
            text += '; ' + format_exact(measured[2])
    if progress:
        loss = 'no batch' if train_loss is None else f'train loss {float(train_loss):.3f}'
        print(f'epoch {epoch + 1}/{num_epochs}: {loss}{text}, '
              f'{history["seconds"][-1]:.1f} s', file=sys.stderr, flush=True)


def finish_ranking_history(history, *, printed_train_loss, printed_examples_per_sec,
                           examples_per_sec, devices, animator=None, figure_path=None,
                           verbose=True):
    """End a ranking loop as the book's ``train_ranking`` does: its two printed lines (the
    last evaluation's hit rate and AUC, 0 where none ran), kept in ``history`` with the
    devices as strings, and the curve saved to ``figure_path`` when given."""
    hit_rate = history['hit_rate'][-1] if history['hit_rate'] else 0
    auc = history['auc'][-1] if history['auc'] else 0
    if verbose:
        print(f'train loss {printed_train_loss:.3f}, '
              f'test hit rate {float(hit_rate):.3f}, test AUC {float(auc):.3f}')
        print(f'{printed_examples_per_sec:.1f} examples/sec '
              f'on {str(devices)}')
    history['printed_train_loss'] = float(printed_train_loss)
    history['printed_examples_per_sec'] = float(printed_examples_per_sec)
    history['examples_per_sec'] = float(examples_per_sec)
    history['devices'] = [str(d) for d in devices]
    history['metric_kind'] = BOOK_METRIC
    if figure_path is not None and animator is not None:
        history['figure'] = animator.save(figure_path)
    return history


def ranking_animator(plot, num_epochs):
    """The book's plot of ``train_ranking``: test hit rate and AUC per epoch in [0, 1].
    ``plot``: an :class:`~d2l_recsys.plotting.Animator` (returned as it is), or its ``live``
    argument (None: live in Jupyter only)."""
    if isinstance(plot, Animator):
        return plot
    return Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 1],
                    legend=['test hit rate', 'test AUC'], live=plot)


def ranking_evaluator(scores_of, rank_data):
    """``evaluate()`` of both tabs' fast loops: ``scores_of()`` (every user's score of every
    item), then the book's hit rate and AUC
    (:func:`~d2l_recsys.rank_metrics.book_hit_and_auc`) and the exact metrics
    (:func:`~d2l_recsys.rank_metrics.exact_ranking_metrics`) from it:
    ``(hit_rate, auc, exact)``."""
    orders = rank_metrics.book_item_order(rank_data.candidates, rank_data.num_users)

    def evaluate():
        scores = scores_of()
        hit_rate, auc, _ = rank_metrics.book_hit_and_auc(
            scores, rank_data.test_items, rank_data.candidates, rank_data.num_users,
            orders=orders)
        exact = rank_metrics.exact_ranking_metrics(scores, rank_data.candidates,
                                                   rank_data.test_items)
        return hit_rate, auc, exact
    return evaluate


def early_stopping_hook(stopper, on_epoch=None):
    """``after_eval(epoch, exact)`` of both tabs' fast loops: returns True to stop.

    ``exact``: the epoch's exact metrics on the held-out items (the validation items while
    tuning). ``stopper``: the tab's :class:`~d2l_recsys.stopping.EarlyStopping` (None: never
    stop), which keeps the parameters of the epoch with the highest HR@10 (it minimises, so it
    is given ``-HR@10``); then ``on_epoch(epoch, hr10)`` (a search's pruning, which may raise
    to abandon the run)."""
    def after_eval(epoch, exact):
        value = float(exact[STOP_METRIC])
        stop = stopper.update(epoch, -value) if stopper is not None else False
        if on_epoch is not None:
            on_epoch(epoch, value)
        return stop
    return after_eval


def finish_early_stopping(stopper, history):
    """After a loop with early stopping: the best epoch's parameters back, and
    ``best_epoch``, ``best_hr10`` (its held-out HR@10) and ``stopped_epoch`` in ``history``."""
    if stopper is not None:
        history['best_epoch'] = stopper.restore()
        history['best_hr10'] = -stopper.best
        history['stopped_epoch'] = history['epoch'][-1]
    return history


def ranking_hparams(model, settings):
    """What rebuilds a ranking model: its constructor's settings (lists, not tuples)."""
    out = {}
    for key in _HPARAMS[model]:
        value = settings[key]
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def ranking_run_info(model, settings, rank_data, *, framework, seed, fast, optimizer='adam',
                     options=None):
    """The record of one ranking run (``info``): what was trained, how, on what.
    ``options``: the model's constructor options beyond the book's (:func:`model_options`:
    NeuMF's ``output``, Caser's ablation), kept with its hyper-parameters so that a saved model
    is rebuilt as it was trained."""
    info = {'framework': framework, 'model': model, 'num_users': rank_data.num_users,
            'num_items': rank_data.num_items,
            'hparams': {**ranking_hparams(model, settings), **(options or {})},
            'train': dict(lr=settings['lr'], wd=settings['wd'],
                          batch_size=settings['batch_size'],
                          num_epochs=settings['num_epochs'], optimizer=optimizer,
                          loss=settings['loss'], split_mode='seq-aware',
                          feedback='implicit'),
            'seed': seed, 'fast': bool(fast)}
    info.update(rank_data.info())
    return info


def metrics_table(runs):
    """The last evaluation of each run beside the others, as text: ``runs`` is a list of
    ``(label, history)``; a row per run gives the epochs trained, the book's hit rate (hits in
    the top 50 among the items below the number of users) and AUC, then the exact HR@10,
    HR@50, NDCG@10 and AUC over all unseen items (blank where the run did not record them)."""
    width = max([len(label) for label, _ in runs] + [len('run')])
    lines = [f'{"run":<{width}}  epochs | book: hit@50    AUC | exact: HR@10  HR@50 '
             f'NDCG@10    AUC']
    for label, history in runs:
        if not history['eval_epoch']:
            raise ValueError(f'metrics_table: {label!r} has no evaluation')
        row = (f'{label:<{width}}  {history["epoch"][-1]:>6} |      '
               f'{history["hit_rate"][-1]:>7.3f} {history["auc"][-1]:>6.3f} |')
        if history['exact']:
            e = history['exact'][-1]
            row += (f'        {e["hr@10"]:>5.3f}  {e["hr@50"]:>5.3f}   {e["ndcg@10"]:>5.3f}  '
                    f'{e["auc"]:>5.3f}')
        lines.append(row)
    return '\n'.join(lines)
