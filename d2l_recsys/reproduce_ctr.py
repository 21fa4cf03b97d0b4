"""``make reproduce``'s part for the feature-rich sections: FM and DeepFM on MovieLens 100K as
click data, in both tabs, over several seeds, the book's numbers beside the exact ones.

    python -m d2l_recsys.reproduce --parts ctr            # this part alone (results/ctr.md)
    python -m d2l_recsys.reproduce --quick --parts ctr    # 1 epoch, 2 seeds: the plumbing

The book trains FM and DeepFM with ``d2l.train_ch13`` on its advertising data (``ctr``), and
prints that run's loss and accuracies; it publishes no number for MovieLens. This part runs the
book's two experiments, with the book's settings (``defaults.BOOK['fm']``, ``['deepfm']``),
on MovieLens 100K as click data (``ml100k-ctr``: docs/ctr.md), in four phases:

1. :func:`run_notebooks` executes the MXNet tab's ``notebooks/08-ctr-mxnet.ipynb``,
   ``09-fm-mxnet.ipynb`` and ``10-deepfm-mxnet.ipynb`` (:data:`NOTEBOOKS`) as the rating part
   runs its own, each writing its results record; the FM and DeepFM notebooks' runs of the
   book's cells are seed 0 of the MXNet rows when they ran the book's settings
   (:func:`notebook_runs`). With :data:`RUN_NOTEBOOKS` off, the MXNet rows' seed 0 is trained
   like the others, which the report says.
2. :func:`train_seeds` trains the other seeds with each tab's ``train_fm``/``train_deepfm``
   (on the fast path unless ``--no-fast``: the tests show it prints and records the book
   code's numbers, seed for seed, in both tabs), one log per run in ``results/logs/``.
3. :func:`make_table` summarises each tab and model over the seeds: the book's numbers as its
   code computes them (the loss of a second sigmoid, accuracies that compare probabilities
   with labels for equality) and the exact ones of the model's own probability (test AUC, log
   loss, accuracy at 0.5), and checks what can be checked without published numbers
   (:data:`CHECKS`); the "tuned" column reads :data:`TUNED`.
4. :func:`make_figures` draws the per-epoch curves (the book's plot and the exact numbers,
   seed 0 bold) and the book's accuracy beside the exact numbers;
   :func:`~d2l_recsys.ctr_tables.write_tables` writes ``ctr.md``, ``ctr.csv``, ``ctr.json``.

Imports no framework until a tab trains.
"""
import math
import os
import time

from .click_evidence import CLICK_EVIDENCE
from .ctr_tables import DATASET, FRAMEWORKS, MODEL_LABELS, SUMMARISED, write_tables
from .defaults import BOOK
from .records import RecordError
from .reporting import (ROOT, logged_call, machine, mean_std, new_figure, run_notebook,
                        run_record_notebooks, save_figure, say, versions)

__all__ = ['NOTEBOOKS', 'RUN_NOTEBOOKS', 'MODELS', 'CHECKS', 'TUNED', 'run', 'run_notebooks',
           'notebook_runs', 'notebook_findings', 'train_seeds', 'make_table', 'make_figures',
           'loss_floor', 'tuned_column', 'tuned_key']

# Each notebook, the record its last cell writes, and the values this part reads from it.
RUN_VALUES = ('settings', 'history', 'test_auc', 'test_log_loss', 'test_accuracy')
NOTEBOOKS = {
    '08-ctr-mxnet.ipynb': ('ctr', ('train_size', 'test_size', 'train_click_rate',
                                   'test_click_rate', 'field_dims')),
    '09-fm-mxnet.ipynb': ('fm', RUN_VALUES),
    '10-deepfm-mxnet.ipynb': ('deepfm', RUN_VALUES),
}
NOTEBOOK_OF = {'fm': '09-fm-mxnet.ipynb', 'deepfm': '10-deepfm-mxnet.ipynb'}
# Whether phase 1 runs the notebooks (else seed 0 of the MXNet rows is trained like the others).
RUN_NOTEBOOKS = True

MODELS = MODEL_LABELS
QUICK_EPOCHS = 1   # as the FM and DeepFM notebooks' short mode, whose runs are seed 0

# ---------------------------------------------------------------------------- the checks
# The book publishes no number for this data, so nothing is compared with a published figure.
# What is checked instead, on the means over the seeds of each tab and model, is what the
# book's code shows on click data it learns from; each threshold is set from the spread over
# five seeds measured here with the book's settings in both tabs (``why``, shown in ctr.md;
# docs/results.md has the table).
AUC_FLOOR = 0.70
SATURATION_GAP = 0.15
LOG_LOSS_FLOOR = 1.0
LOSS_FLOOR_SLACK = 0.005   # an epoch's rollover batches hold another share of clicks
CHECKS = {
    'auc': {
        'rule': f'the exact test AUC is at least {AUC_FLOOR:.2f}: the model learned to rank '
                '(0.5: it did not)',
        'why': 'Five seeds gave row means of 0.762 to 0.764 (single runs 0.759 to 0.768), '
               f'each row with a std of at most 0.0032: {AUC_FLOOR:.2f} is 18 of those below '
               'the lowest run, and far above what a model that learned nothing, or a '
               'scrambled feature mapping, gives.'},
    'saturation': {
        'rule': f"the accuracy at 0.5 is at least {SATURATION_GAP:.2f} above the book's test "
                'accuracy, which counts only outputs saturated to exactly 0 or 1',
        'why': "Five seeds gave gaps of 0.30 to 0.54 per row (the book's accuracy varies most "
               f'from seed to seed, std up to 0.034): {SATURATION_GAP:.2f} leaves several '
               'of those.'},
    'log_loss': {
        'rule': "the log loss of the model's own probability is at least "
                f'{LOG_LOSS_FLOOR:.1f}: the double sigmoid drives the outputs to 0 and 1 and the '
                'model is overconfident (a constant 0.5 gives log 2 = 0.693; a calibrated '
                'model less)',
        'why': f'Five seeds gave 3.0 to 3.8 per row (std up to 0.11): {LOG_LOSS_FLOOR:.1f} '
               'leaves a wide margin on both sides.'},
    'loss_floor': {
        'rule': "the book's train loss stays above the floor the second sigmoid sets",
        'why': 'A click costs at least log(1 + e^-1) = 0.313 and a non-click log 2 = 0.693, '
               'whatever the model outputs; the floor is exact up to the share of clicks in '
               f"an epoch's batches ({LOSS_FLOOR_SLACK} allowed)."},
}


def loss_floor(click_rate):
    """The least value of the book's loss on data with this share of clicks.

    The model outputs a probability ``p`` in [0, 1] and the book's
    ``SigmoidBinaryCrossEntropyLoss`` treats it as a logit: a click costs
    ``log(1 + exp(-p))``, at least ``log(1 + e^-1) = 0.313`` (at ``p = 1``), a non-click
    ``log(1 + exp(p))``, at least ``log 2 = 0.693`` (at ``p = 0``).
    """
    return click_rate * math.log1p(math.exp(-1.0)) + (1.0 - click_rate) * math.log(2.0)


# ---------------------------------------------------------------------------- tuned presets
# The tuned presets' recorded exact test numbers, read for the "tuned" column (settings chosen
# on a validation split cut from the training file, the test file read once after training).
# A key is the model (the MXNet tab), ``(framework, model)`` or ``(model, data set)`` as the
# presets are keyed (the MXNet tab; a data set other than ``ml100k-ctr`` is not this table's);
# a value is an evaluation record, ``{'per_seed': [{'seed', 'test_auc', 'test_log_loss', ...},
# ...], ...}``, or its means alone, ``{'test_auc_mean', 'test_auc_std', 'test_log_loss_mean',
# 'test_log_loss_std', 'n'}``. Empty: the column shows '-'. Filled from the presets' evidence
# (:mod:`d2l_recsys.click_evidence`: seeds no choice used), under the tab that measured it.
TUNED = {(e.get('framework', 'mxnet'), model): e
         for (model, dataset), e in CLICK_EVIDENCE.items() if dataset == DATASET}


def tuned_key(key):
    """``(framework, model)`` of a :data:`TUNED` key, or None for another data set's."""
    if not isinstance(key, tuple):
        return 'mxnet', key
    first, second = key
    if first in FRAMEWORKS:
        return first, second
    if first in MODELS:
        return ('mxnet', first) if second == DATASET else None
    raise ValueError(f'reproduce_ctr.TUNED: key {key!r} is neither (framework, model) nor '
                     f'(model, data set)')


def tuned_column(record=None):
    """``{(framework, model): {'auc': (mean, std), 'log_loss': (mean, std), 'n': seeds}}``
    from :data:`TUNED` (or ``record``)."""
    out = {}
    for key, e in (TUNED if record is None else record).items():
        fw_model = tuned_key(key)
        if fw_model is None:
            continue
        if 'per_seed' in e:
            runs = e['per_seed']
            out[fw_model] = {'auc': mean_std([r.get('test_auc') for r in runs]),
                             'log_loss': mean_std([r.get('test_log_loss') for r in runs]),
                             'n': len(runs)}
        else:
            out[fw_model] = {'auc': (e.get('test_auc_mean'), e.get('test_auc_std')),
                             'log_loss': (e.get('test_log_loss_mean'),
                                          e.get('test_log_loss_std')),
                             'n': e.get('n')}
    return out


# ---------------------------------------------------------------------------- run records
CURVES = ('train_loss', 'train_acc', 'test_acc', 'test_auc', 'test_log_loss', 'test_accuracy')


def run_record(history, *, framework, model, seed, path, kind, exact=None, settings=None):
    """One training run as ``ctr.json`` keeps it: the last epoch's book numbers (``train_loss``,
    ``train_acc``, ``test_acc``) and exact ones (``test_auc``, ``test_log_loss``,
    ``test_accuracy``: ``exact``, else the history's ``test_exact``, else its last epoch),
    every per-epoch curve the history has, time and speed. ``kind``: the code that produced
    it ('notebook', 'book code', 'fast path', 'PyTorch tab', ...), ``path`` its full name."""
    exact = exact or history.get('test_exact') or {}
    rec = {'framework': framework, 'model': model, 'seed': seed, 'path': path, 'kind': kind,
           'epochs': len(history['epoch']), 'settings': settings}
    for key in ('train_loss', 'train_acc', 'test_acc'):
        rec[key] = history[key][-1]
    for key, short in (('test_auc', 'auc'), ('test_log_loss', 'log_loss'),
                       ('test_accuracy', 'accuracy')):
        value = exact.get(short, exact.get(key))
        if value is None and history.get(key):
            value = history[key][-1]
        rec[key] = value
    for key in CURVES:
        rec[f'{key}_curve'] = list(history.get(key) or [])
    rec.update(seconds=sum(history.get('seconds') or []),
               train_seconds=sum(history.get('train_seconds') or []),
               examples_per_sec=history.get('examples_per_sec'),
               devices=history.get('devices'))
    return rec


# ---------------------------------------------------------------------------- 1. notebooks
def run_notebooks(executed_dir, *, short, data_dir, names=tuple(NOTEBOOKS)):
    """Phase 1: run each notebook and read the record it wrote: ``({notebook: values},
    {notebook: seconds})``; :class:`~d2l_recsys.records.RecordError` (one line) when a
    notebook wrote no record or one without a value this part reads."""
    return run_record_notebooks({name: NOTEBOOKS[name] for name in names}, executed_dir,
                                short=short, data_dir=data_dir, runner=run_notebook)


def book_settings(model, epochs):
    """The book's settings of ``model`` with ``epochs`` epochs, as JSON keeps them."""
    s = dict(BOOK[model], num_epochs=epochs)
    if 'mlp_dims' in s:
        s['mlp_dims'] = list(s['mlp_dims'])
    return s


def notebook_runs(records, epochs):
    """Seed 0 of the MXNet rows from the FM and DeepFM notebooks' records, where they ran the
    book's settings for ``epochs`` epochs: ``({(framework, model): [run record]}, notes)``,
    a note per notebook left out, saying why."""
    runs, notes = {}, []
    for model, name in NOTEBOOK_OF.items():
        values = records.get(name)
        if values is None:
            continue
        history = values['history']
        want = dict(book_settings(model, epochs), seed=0)
        given = values.get('settings')
        ran = len(history.get('epoch') or [])
        differs = ({k: v for k, v in given.items()
                    if k in want and want[k] != (list(v) if isinstance(v, tuple) else v)}
                   if isinstance(given, dict) else {})
        if ran != epochs or differs:
            why = (f'{ran} epochs, not {epochs}' if ran != epochs else
                   ', '.join(f'{k} {v}' for k, v in differs.items()))
            notes.append(f'notebooks/{name} ran other settings than this run ({why}); seed 0 '
                         'of its MXNet row was trained like the other seeds')
            continue
        exact = {'auc': values['test_auc'], 'log_loss': values['test_log_loss'],
                 'accuracy': values['test_accuracy']}
        runs[('mxnet', model)] = [run_record(
            history, framework='mxnet', model=model, seed=0,
            path=f'notebook (book cells, {name})', kind='notebook', exact=exact,
            settings=book_settings(model, epochs))]
    return runs, notes


def notebook_findings(records, data):
    """What the notebooks add to the tables: the feature-rich notebook's count of the data
    (and a note where it differs from what the runs read), and for FM and DeepFM the share of
    saturated test outputs and their comparison of the book's loss with the loss on the
    model's own probability (``from_sigmoid=True``): ``(findings, notes)``."""
    findings, notes = {}, []
    ctr = records.get('08-ctr-mxnet.ipynb')
    if ctr:
        counted = {'train_lines': ctr['train_size'], 'test_lines': ctr['test_size'],
                   'field_dims': [int(d) for d in ctr['field_dims']]}
        findings['data'] = dict(counted, train_click_rate=ctr['train_click_rate'],
                                test_click_rate=ctr['test_click_rate'])
        differs = [k for k, v in counted.items() if data.get(k) != v]
        if differs:
            notes.append('notebooks/08-ctr-mxnet.ipynb counted other data than the runs read '
                         f'({", ".join(differs)} differ)')
    for model, name in NOTEBOOK_OF.items():
        values = records.get(name)
        if not values:
            continue
        found = {'saturated': values.get('saturated')}
        comparison = values.get('loss_comparison') or {}
        for key in ('book_loss', 'from_sigmoid'):
            h = comparison.get(key) or {}
            if h.get('test_auc'):
                found[key] = {'epochs': len(h['test_auc']), 'test_auc': h['test_auc'][-1],
                              'test_log_loss': h['test_log_loss'][-1],
                              'test_accuracy': h['test_accuracy'][-1],
                              'test_acc': h['test_acc'][-1]}
        findings[model] = found
    return findings, notes


# ---------------------------------------------------------------------------- 2. training
def train_run(tab, framework, model, seed, *, fast, epochs, data_dir, log_dir):
    """Train ``model`` with the tab's ``train_fm``/``train_deepfm`` (the book's settings,
    ``epochs`` epochs); its console output goes to
    ``log_dir/<framework>_<model>_seed<seed>[_fast].log``. Returns the run record with the
    training run's wall seconds."""
    fn_name = f'train_{model}'
    log_path = os.path.join(log_dir, f'{framework}_{model}_seed{seed}'
                                     f'{"_fast" if fast else ""}.log')
    tic = time.time()
    _, history, _ = logged_call(log_path, getattr(tab, fn_name), seed=seed, num_epochs=epochs,
                                fast=fast, plot=False, progress=True, data_dir=data_dir)
    if framework == 'torch':
        path = f'd2l_recsys.torch.{fn_name}' + ('(fast=True)' if fast else '')
        kind = 'PyTorch tab' + (', fast path' if fast else '')
    elif fast:
        path, kind = f'd2l_recsys.mxnet.{fn_name}(fast=True)', 'fast path'
    else:
        path, kind = f'd2l_recsys.mxnet.{fn_name} (book code)', 'book code'
    rec = run_record(history, framework=framework, model=model, seed=seed, path=path,
                     kind=kind, settings=book_settings(model, epochs))
    rec['wall_seconds'] = time.time() - tic
    return rec


def train_seeds(runs, tabs, *, n_seeds, fast, epochs, data_dir, log_dir):
    """Phase 2: train every (framework, model, seed) below ``n_seeds`` that ``runs``
    (``{(framework, model): [run record]}``) lacks, adding the records to it."""
    for fw, tab in tabs.items():
        for model in MODELS:
            have = {r['seed'] for r in runs.setdefault((fw, model), [])}
            for seed in range(n_seeds):
                if seed in have:
                    continue
                code = 'fast path' if fast else 'book code'
                say(f'reproduce: {FRAMEWORKS[fw]} {MODELS[model]}, seed {seed} '
                    f'({"PyTorch tab, " + code if fw == "torch" else code}) ...')
                rec = train_run(tab, fw, model, seed, fast=fast, epochs=epochs,
                                data_dir=data_dir, log_dir=log_dir)
                runs[(fw, model)].append(rec)
                say(f"reproduce:   book's loss {rec['train_loss']:.3f}, test acc "
                    f"{rec['test_acc']:.3f}; exact test AUC {rec['test_auc']:.4f}, log loss "
                    f"{rec['test_log_loss']:.3f}, accuracy {rec['test_accuracy']:.3f}, "
                    f"{rec['wall_seconds']:.0f} s")
    return runs


# ---------------------------------------------------------------------------- 3. the table
def summarise(runs):
    """Mean and std over seeds of every number of the table, time and speed."""
    row = {'n_seeds': len(runs), 'seeds': sorted(r['seed'] for r in runs)}
    for name, key in SUMMARISED.items():
        row[f'{name}_mean'], row[f'{name}_std'] = mean_std([r[key] for r in runs])
        values = [r[key] for r in runs if r[key] is not None]
        row[f'{name}_min'] = min(values) if values else None
        row[f'{name}_max'] = max(values) if values else None
    row['seconds_mean'] = mean_std([r['seconds'] for r in runs])[0]
    row['examples_per_sec_mean'] = mean_std([r['examples_per_sec'] for r in runs])[0]
    row['paths'] = sorted({r['path'] for r in runs})
    row['kinds'] = sorted({r['kind'] for r in runs})
    row['devices'] = sorted({', '.join(r['devices'] or []) for r in runs})
    return row


def check_row(row, click_rate):
    """``{check: (passed, what was measured)}`` for one row (:data:`CHECKS`)."""
    floor = loss_floor(click_rate)
    auc, acc, book_acc = row['auc_mean'], row['accuracy_mean'], row['book_test_acc_mean']
    log_loss, loss_min = row['log_loss_mean'], row['book_loss_min']
    gap = None if acc is None or book_acc is None else acc - book_acc
    return {
        'auc': (auc is not None and auc >= AUC_FLOOR, f'mean exact test AUC {_f(auc, 4)}'),
        'saturation': (gap is not None and gap >= SATURATION_GAP,
                       f"accuracy at 0.5 {_f(acc)}, the book's {_f(book_acc)}: gap "
                       f'{_f(gap)}'),
        'log_loss': (log_loss is not None and log_loss >= LOG_LOSS_FLOOR,
                     f'mean log loss {_f(log_loss)}'),
        'loss_floor': (loss_min is not None and loss_min >= floor - LOSS_FLOOR_SLACK,
                       f"lowest book's loss {_f(loss_min)}, floor {floor:.3f} at a click "
                       f'rate of {click_rate:.3f}'),
    }


def _f(value, digits=3):
    return '-' if value is None else f'{value:.{digits}f}'


def make_table(runs, n_seeds, click_rate, tuned=None):
    """The table (a row per tab and model, the first ``n_seeds`` seeds, with the checks and
    the tuned column) and the failures, one line each naming the row and the check."""
    tuned = tuned_column() if tuned is None else tuned
    table, failures = [], []
    for fw in FRAMEWORKS:
        for model in MODELS:
            chosen = sorted(runs.get((fw, model), []), key=lambda r: r['seed'])[:n_seeds]
            if not chosen:
                continue
            row = {'framework': fw, 'model': model, 'runs': chosen, **summarise(chosen)}
            row['checks'] = {k: {'passed': ok, 'measured': text}
                             for k, (ok, text) in check_row(row, click_rate).items()}
            t = tuned.get((fw, model))
            row['tuned'] = (None if t is None else
                            {'auc_mean': t['auc'][0], 'auc_std': t['auc'][1],
                             'log_loss_mean': t['log_loss'][0],
                             'log_loss_std': t['log_loss'][1], 'n': t['n']})
            for name, c in row['checks'].items():
                if not c['passed']:
                    failures.append(f'{FRAMEWORKS[fw]} {MODELS[model]} on {DATASET} '
                                    f'({row["n_seeds"]} seeds): {c["measured"]}; expected '
                                    f'{CHECKS[name]["rule"]}')
            table.append(row)
    return table, failures


# ---------------------------------------------------------------------------- 4. figures
def draw_click_curves(ax_book, ax_exact, runs, num_epochs):
    """The book's plot (train loss, train acc, test acc per epoch: ``train_ch13``'s) on
    ``ax_book``, the exact test AUC and accuracy at 0.5 (and the log loss on an axis of its
    own) on ``ax_exact``; seed 0 bold, the other seeds thin."""
    ax_loss = ax_exact.twinx()
    for k, run in enumerate(sorted(runs, key=lambda r: r['seed'])):
        kw = dict(linewidth=1.8 if k == 0 else 0.7, alpha=1.0 if k == 0 else 0.45)
        for ax, key, fmt, name in (
                (ax_book, 'train_loss', '-', 'train loss'),
                (ax_book, 'train_acc', 'm--', 'train acc'),
                (ax_book, 'test_acc', 'g-.', 'test acc'),
                (ax_exact, 'test_auc', '-', 'test AUC'),
                (ax_exact, 'test_accuracy', 'm--', 'accuracy at 0.5'),
                (ax_loss, 'test_log_loss', 'r:', 'log loss (right)')):
            curve = run[f'{key}_curve']
            if curve:
                ax.plot(range(1, len(curve) + 1), curve, fmt, label=name if k == 0 else None,
                        **kw)
    for ax, title in ((ax_book, "the book's numbers"),
                      (ax_exact, "exact, the model's own probability")):
        ax.set_xlabel('epoch')
        ax.set_xlim([1, max(num_epochs, 2)])
        ax.grid(True)
        ax.set_title(title, fontsize=9)
    ax_book.set_ylim([0, 1])
    ax_exact.set_ylim([0.4, 1])
    ax_loss.set_ylim(bottom=0)
    ax_loss.set_ylabel('test log loss', color='r')
    ax_book.legend(fontsize=7)
    handles, labels = ax_exact.get_legend_handles_labels()
    more = ax_loss.get_legend_handles_labels()
    ax_exact.legend(handles + more[0], labels + more[1], fontsize=7, loc='lower left')


def curves_stem(out_dir, framework, model):
    """``fm_curves`` for MXNet (the book's framework), ``torch_fm_curves`` for PyTorch."""
    prefix = '' if framework == 'mxnet' else f'{framework}_'
    return os.path.join(out_dir, f'{prefix}{model}_curves')


def figure_curves(row, out_dir, num_epochs):
    fig = new_figure((9.0, 3.2))
    ax_book, ax_exact = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    draw_click_curves(ax_book, ax_exact, row['runs'], num_epochs)
    n = row['n_seeds']
    others = {1: '', 2: ', seed 1 thin'}.get(n, f', seeds 1-{n - 1} thin')
    fig.suptitle(f'{FRAMEWORKS[row["framework"]]} {MODELS[row["model"]]} on {DATASET}: '
                 f'seed 0 bold{others}', fontsize=9)
    fig.tight_layout()
    return save_figure(fig, curves_stem(out_dir, row['framework'], row['model']))


def figure_book_vs_exact(table, stem):
    """Per tab and model: the book's test accuracy, the accuracy at 0.5 and the test AUC of
    the same runs (mean +- std over seeds)."""
    fig = new_figure((6.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    bars = (('book_test_acc', "book's test acc (equality)"),
            ('accuracy', 'accuracy at 0.5'), ('auc', 'test AUC'))
    width = 0.8 / len(bars)
    for g, (key, name) in enumerate(bars):
        xs = [k + (g - (len(bars) - 1) / 2) * width for k in range(len(table))]
        means = [r[f'{key}_mean'] for r in table]
        ax.bar(xs, means, width, yerr=[r[f'{key}_std'] or 0.0 for r in table], capsize=2,
               label=name, color=f'C{g}')
        for x, mean in zip(xs, means):
            ax.annotate(f'{mean:.2f}', (x, mean), textcoords='offset points', xytext=(0, 3),
                        ha='center', fontsize=6)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels([f'{FRAMEWORKS[r["framework"]]}\n{MODELS[r["model"]]}' for r in table],
                       fontsize=8)
    ax.set_ylim([0, 1.15])
    ax.legend(fontsize=7, loc='upper left', ncol=3)
    ax.set_title(f"The book's accuracy and the exact numbers ({DATASET}, mean +- std over "
                 'seeds)', fontsize=9)
    return save_figure(fig, stem)


def make_figures(table, out_dir, num_epochs):
    """Phase 4a: every figure as PNG and SVG; returns the paths written."""
    files = []
    for row in table:
        files += figure_curves(row, out_dir, num_epochs)
    if table:
        files += figure_book_vs_exact(table, os.path.join(out_dir, 'ctr_book_vs_exact'))
    return files


# ---------------------------------------------------------------------------- the part
def data_summary(data_dir):
    """The click data's sizes, click rates and field dims (``ml100k-ctr`` built from
    ``data_dir``, as every run reads it)."""
    from .ctr_runs import read_click_data
    data = read_click_data(DATASET, data_dir)
    rate = {name: float((arrays.labels > 0.5).mean())
            for name, arrays in (('train', data.train), ('test', data.test))}
    return {'dataset': DATASET, 'folder': data.folder, 'num_feat': data.num_feat,
            'train_lines': int(data.train.count), 'test_lines': int(data.test.count),
            'train_click_rate': rate['train'], 'test_click_rate': rate['test'],
            'field_dims': [int(d) for d in data.train.field_dims],
            'fields': list(data.catalog['fields']) if data.catalog else None}


def print_summary(report, out_dir):
    say('')
    say(f'reproduce: CTR part finished in {report["total_seconds"] / 60:.1f} min; results in '
        f'{os.path.relpath(out_dir, ROOT)}/ (ctr.md, ctr.csv, ctr.json, figures)')
    for row in report['table']:
        checks = row['checks']
        failed = [k for k, c in checks.items() if not c['passed']]
        name = f"{FRAMEWORKS[row['framework']]} {MODELS[row['model']]}"
        say(f"  {name:15s} book's loss "
            f"{_pm(row, 'book_loss')}, test acc {_pm(row, 'book_test_acc')}; exact test AUC "
            f"{_pm(row, 'auc', 4)}, log loss {_pm(row, 'log_loss')}, accuracy "
            f"{_pm(row, 'accuracy')} (n={row['n_seeds']}; checks: "
            f"{'ok' if not failed else 'FAILED ' + ', '.join(failed)})")


def _pm(row, name, digits=3):
    mean, std = row[f'{name}_mean'], row[f'{name}_std']
    return _f(mean, digits) + ('' if std is None else f' +- {std:.{digits}f}')


def run(ctx):
    """The part (see :mod:`d2l_recsys.reproduce`'s ``PARTS``): phases 1 to 4 above."""
    start = time.time()
    epochs = QUICK_EPOCHS if ctx.quick else BOOK['fm']['num_epochs']
    if BOOK['deepfm']['num_epochs'] != BOOK['fm']['num_epochs']:   # one x axis for both
        raise ValueError('the FM and DeepFM sections train for different numbers of epochs')
    phases, notes, records = {}, [], {}
    if RUN_NOTEBOOKS:   # 1. the notebooks, each writing its record
        try:
            records, seconds = run_notebooks(ctx.executed_dir, short=ctx.quick,
                                             data_dir=ctx.data_dir)
        except RecordError as e:
            return {'errors': [str(e)]}
        phases.update({f'notebook {name}': sec for name, sec in seconds.items()})
        runs, notes = notebook_runs(records, epochs)
    else:
        runs = {}
        notes.append('the CTR notebooks were not run (this part runs them once the chapter '
                     "has them); every seed, 0 included, was trained by the tabs' functions")
    tic = time.time()
    data = data_summary(ctx.data_dir)
    phases['click data'] = time.time() - tic
    findings, more = notebook_findings(records, data)
    notes += more
    for note in notes:
        say(f'reproduce: {note}')
    tic = time.time()   # 2. the seeds
    train_seeds(runs, ctx.tabs, n_seeds=ctx.n_seeds, fast=ctx.fast, epochs=epochs,
                data_dir=ctx.data_dir, log_dir=ctx.log_dir)
    phases['training runs'] = time.time() - tic
    table, failures = make_table(runs, ctx.n_seeds, data['train_click_rate'])   # 3.
    figures = make_figures(table, ctx.out_dir, epochs)   # 4.
    report = {
        'quick': ctx.quick, 'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        'total_seconds': time.time() - start, 'phase_seconds': phases,
        'versions': versions(), 'machine': machine(), 'devices': ctx.devices,
        'data_dir': ctx.data_dir, 'data': data, 'frameworks': list(ctx.tabs),
        'torch_note': ctx.torch_note, 'fast_path': ctx.fast, 'epochs': epochs,
        'settings': {m: book_settings(m, epochs) for m in MODELS},
        'notebooks_run': bool(RUN_NOTEBOOKS), 'notes': notes,
        'notebook_records': {name: sorted(values) for name, values in records.items()},
        'notebook_findings': findings,
        'table': table, 'loss_floor': loss_floor(data['train_click_rate']),
        'checks': CHECKS, 'failures': failures,
        'files': [os.path.relpath(p, ROOT) for p in figures],
    }
    report['files'] += [os.path.relpath(os.path.join(ctx.out_dir, n), ROOT)
                        for n in ('ctr.md', 'ctr.csv', 'ctr.json')]
    if RUN_NOTEBOOKS:
        report['files'] += [os.path.relpath(os.path.join(ctx.executed_dir, n), ROOT)
                            for n in NOTEBOOKS]
    report['files'].append(os.path.relpath(ctx.log_dir, ROOT) + '/')
    write_tables(report, ctx.out_dir)
    print_summary(report, ctx.out_dir)
    return {'failures': failures, 'files': report['files']}
