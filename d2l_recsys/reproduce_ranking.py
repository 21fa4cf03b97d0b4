"""The ranking half of ``make reproduce``: NeuMF and Caser with the book's settings, over
seeds, in both tabs, and every ranking model on one protocol.

    python -m d2l_recsys.reproduce --parts ranking            # this part alone
    python -m d2l_recsys.reproduce --quick --parts ranking    # 2 epochs, 2 seeds: plumbing

:data:`d2l_recsys.reproduce.PARTS` runs :func:`run` after the rating part. Its phases:

1. :func:`run_notebooks` executes the MXNet tab's ranking notebooks (``05-ranking``,
   ``06-neumf``, ``07-seqrec``; executed copies in ``notebooks/executed/``) and reads the
   records their last cells write; the NeuMF and Caser notebooks' runs of the book's cells are
   seed 0 of the MXNet rows when they ran the book's settings (:func:`notebook_runs`).
2. :func:`train_seeds` trains the other seeds with each tab's ``train_neumf`` and
   ``train_caser`` (the fast paths, which give the book's numbers: docs/ranking.md), and
   ``train_mf_ranking`` (the book's MF class trained with the same loop) for the
   same-protocol table; :func:`popularity_row` scores the popularity baseline (no learning,
   no framework).
3. :func:`make_tables` summarises them: the book's metric (hits at 50 and AUC among the items
   below the number of users, ties in a set's order) and the exact one (HR@10, HR@50,
   NDCG@10, AUC over every unseen item, ties at their expectation), mean and standard
   deviation over seeds, against the printed figure where there is one.
4. :func:`make_figures` draws the curves per epoch (both metrics) and the same-protocol bars;
   :func:`d2l_recsys.ranking_tables.write_tables` writes ``ranking.md``, ``ranking.csv`` and
   ``ranking.json``.

The check: the book prints NeuMF's "test hit rate 0.075, test AUC 0.531". With its settings
NeuMF learns nothing (every score ends exactly 0.5, on every seed, in both tabs), so the book's
evaluator returns the hits of its list's order, the same on every seed: the seeds' standard
deviation is 0, and the tolerance is the book's rounding to three decimals, +- 0.0005
(:data:`TOLERANCES`). The book prints nothing for Caser (its training call is commented
out): its rows are numbers, with no tolerance.
"""
import contextlib
import io
import os
import time

from .atomic import atomic_write_text
from .defaults import BOOK
from .rank_metrics import book_hit_and_auc, exact_ranking_metrics
from .rank_scores import popularity_score_matrix
from .ranking_tables import EXACT, LABELS, write_tables
from .records import RecordError
from .reporting import ROOT, machine, mean_std, new_figure, save_figure, say, versions, within
from .rmse_tables import FRAMEWORKS, fmt, plus_minus

__all__ = ['run', 'NOTEBOOKS', 'RUN_NOTEBOOKS', 'MODELS', 'TOLERANCES', 'PUBLISHED',
           'TUNED_RANKING', 'TUNED_SEEDS', 'tuned_column', 'run_notebooks', 'notebook_runs',
           'train_seeds', 'ranking_run', 'popularity_row', 'make_tables', 'make_figures']

# Each notebook, the record its last cell writes, and what this part reads from it.
NOTEBOOKS = {
    '05-ranking-mxnet.ipynb': ('ranking', ('bpr', 'hinge')),
    '06-neumf-mxnet.ipynb': ('neumf', ('short', 'seed', 'history', 'fast_history',
                                       'book_settings', 'unreachable_users')),
    '07-seqrec-mxnet.ipynb': ('seqrec', ('short', 'seed', 'history', 'fast_history',
                                         'book_settings', 'unreachable_users')),
}
# Whether phase 1 runs the notebooks (else the part trains seed 0 of the MXNet rows itself).
RUN_NOTEBOOKS = True

# model key: (the tab's function, the book's settings in defaults.BOOK or None, in the book
# table). 'mf' is the book's MF class trained with the ranking loop (NeuMF's cell's settings).
MODELS = {'neumf': ('train_neumf', 'neumf', True),
          'caser': ('train_caser', 'caser', True),
          'mf': ('train_mf_ranking', None, False)}
# The same-protocol table's order (after the popularity baseline).
SAME_PROTOCOL = ('mf', 'neumf', 'caser')
EPOCHS = {'neumf': BOOK['neumf']['num_epochs'], 'caser': BOOK['caser']['num_epochs'],
          'mf': BOOK['neumf']['num_epochs']}

# The printed figures: (framework, model) -> the book's hit rate and AUC, where they come from.
PUBLISHED = {
    ('mxnet', 'neumf'): {
        'hit_rate': 0.075, 'auc': 0.531,
        'source': 'the book, NeuMF section (MXNet): "test hit rate 0.075, test AUC 0.531"'},
    ('torch', 'neumf'): {
        'hit_rate': 0.075, 'auc': 0.531,
        'source': 'no PyTorch result is printed for NeuMF (the book has no PyTorch tab for this '
                  "section); the PyTorch tab collapses as the MXNet code does, so the book's "
                  'figure is checked'},
    ('mxnet', 'caser'): {
        'hit_rate': None, 'auc': None,
        'source': 'the book prints nothing for Caser: its training call is commented out '
                  '("Running takes > 1h")'},
    ('torch', 'caser'): {
        'hit_rate': None, 'auc': None,
        'source': 'nothing printed (the book has no PyTorch tab for this section)'},
}
# (model) -> the tolerance of the mean over seeds of the book's hit rate and AUC. NeuMF's
# figures are the collapse's: every seed gives the same numbers (standard deviation 0 over the
# seeds, measured), so only the book's rounding to 3 decimals is left: +- 0.0005.
TOLERANCES = {'neumf': 0.0005}
# A model "learned nothing" when its exact AUC is this close to 0.5 (one that scores every
# item alike gets exactly 0.5; the book's cell gives 0.500 on every seed).
NOTHING_LEARNED_AUC = 0.005

# The seeds of the tuned column: the research's report on seeds used in no choice of the
# presets' settings (the choices used seeds among 0-4, on the validation split; see
# d2l_recsys.rank_evidence, which also records seeds 0-4's test numbers).
TUNED_SEEDS = (5, 6, 7, 8, 9)


def _tuned_from_evidence():
    """:data:`TUNED_RANKING` from :data:`d2l_recsys.rank_evidence.RANKING_EVIDENCE`: each
    tuned preset's exact test metrics over :data:`TUNED_SEEDS`, under the tab that measured
    them, with the words that say how."""
    from .rank_evidence import RANKING_EVIDENCE, tuned_column as evidence_column
    out = {}
    for framework in FRAMEWORKS:
        for (model, _), metrics in evidence_column(TUNED_SEEDS, framework=framework).items():
            evidence = RANKING_EVIDENCE[(model, 'seq-aware')]
            preset = ', '.join(f'{k} {v}' for k, v in evidence['preset'].items())
            run = next(r for r in evidence['evaluations'] if r['preset'] == 'tuned'
                       and r['framework'] == framework and r['seeds'] == list(TUNED_SEEDS))
            out[(framework, model)] = {
                'settings': f'the tuned preset ({preset}) trained by {run["source"]} on seeds '
                            f'{TUNED_SEEDS[0]}-{TUNED_SEEDS[-1]}, used in no choice of its '
                            f'settings (chosen on the validation items with seed'
                            f'{"s" if len(evidence["choice_seeds"]) > 1 else ""} '
                            f'{", ".join(map(str, evidence["choice_seeds"]))}); '
                            'docs/ranking-presets.md',
                **metrics}
    return out


# The tuned presets' recorded test numbers on this protocol, the same-protocol table's "tuned"
# column: {(framework, model): {'settings': words, 'hr@10': (mean, std, n), 'ndcg@10': ...,
# 'auc': ...}} (as many of the exact metrics as were recorded), from the ranking presets'
# evidence (d2l_recsys.rank_evidence). Empty: the column shows '-'.
TUNED_RANKING = _tuned_from_evidence()


def tuned_column():
    """The tuned presets' recorded exact test metrics, ``{'framework model': {...}}`` from
    :data:`TUNED_RANKING` (empty when none are recorded)."""
    return {f'{fw} {model}': dict(value) for (fw, model), value in TUNED_RANKING.items()}


# ---------------------------------------------------------------------------- 1. notebooks
def run_notebooks(ctx, names=tuple(NOTEBOOKS)):
    """Phase 1: run the MXNet ranking notebooks (short mode with ``--quick``) and read their
    records: ``({notebook: record}, {notebook: seconds})``; RecordError (one line) when one
    wrote no usable record."""
    from . import reproduce
    return reproduce.run_notebooks(ctx.executed_dir, short=ctx.quick, data_dir=ctx.data_dir,
                                   names=names, notebooks=NOTEBOOKS)


def notebook_runs(records):
    """Seed 0 of the MXNet NeuMF and Caser rows from the notebooks' records, where a notebook
    ran the book's settings in full (seed 0, not short mode, the book's epochs): ``{(framework,
    model): [run record]}``."""
    runs = {}
    for name, model in (('06-neumf-mxnet.ipynb', 'neumf'), ('07-seqrec-mxnet.ipynb', 'caser')):
        record = records.get(name)
        if not record or record.get('short') or record.get('seed') != 0:
            continue
        source = (record.get('book_settings') or {}).get('source', 'book loop')
        history = record['history'] if source == 'book loop' else record.get('fast_history')
        if not history or len(history['epoch']) != EPOCHS[model] or not history['exact']:
            continue
        code = "the book's loop" if source == 'book loop' else 'the fast path'
        runs[('mxnet', model)] = [ranking_run(
            history, framework='mxnet', model=model, seed=0, kind='notebook',
            path=f'notebooks/{name} ({code}, seed 0)')]
    return runs


# ---------------------------------------------------------------------------- 2. training
def ranking_run(history, *, framework, model, seed, path, kind):
    """One ranking run as ranking.json keeps it: the last evaluation's book metric and exact
    metrics, the curves per epoch, time and devices. ``kind``: the code that produced it
    ('notebook', 'fast path', 'book code' or 'PyTorch tab'), ``path`` its full name."""
    last = history['exact'][-1]
    return {
        'framework': framework, 'model': model, 'seed': seed, 'path': path, 'kind': kind,
        'epochs': len(history['epoch']),
        'hit_rate': float(history['hit_rate'][-1]), 'auc': float(history['auc'][-1]),
        'exact': {k: float(last[k]) for k in EXACT + ('mean_rank',)},
        'eval_epoch': list(history['eval_epoch']),
        'hit_rate_curve': [float(v) for v in history['hit_rate']],
        'auc_curve': [float(v) for v in history['auc']],
        'exact_curve': {k: [float(e[k]) for e in history['exact']] for k in EXACT},
        'train_loss_curve': list(history['train_loss']),
        'printed_train_loss': history.get('printed_train_loss'),
        'seconds': float(sum(history['seconds'])),
        'examples_per_sec': history.get('examples_per_sec'),
        'devices': history.get('devices'),
    }


def train_run(tab, framework, model, seed, *, fast, epochs, data_dir, log_dir):
    """Train ``model`` with ``seed`` with the tab's function (its console output to
    ``log_dir/ranking_<framework>_<model>_seed<seed>.log``); the run record, with the wall
    clock as ``wall_seconds``."""
    fn_name = MODELS[model][0]
    log_path = os.path.join(log_dir, f'ranking_{framework}_{model}_seed{seed}.log')
    buf = io.StringIO()
    tic = time.time()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            _, history, _ = getattr(tab, fn_name)(seed=seed, fast=fast, num_epochs=epochs,
                                                  data_dir=data_dir, plot=False,
                                                  progress=False)
        finally:
            atomic_write_text(log_path, buf.getvalue())
    module = 'mxnet' if framework == 'mxnet' else 'torch'
    path = f'd2l_recsys.{module}.{fn_name}({"fast=True" if fast else "book code"})'
    kind = 'fast path' if fast else ('book code' if framework == 'mxnet' else 'PyTorch tab')
    rec = ranking_run(history, framework=framework, model=model, seed=seed, path=path,
                      kind=kind)
    rec['wall_seconds'] = time.time() - tic
    return rec


def train_seeds(runs, tabs, *, n_seeds, fast, epochs, data_dir, log_dir):
    """Phase 2: train every (framework, model, seed < ``n_seeds``) that ``runs`` lacks, adding
    the records to ``runs`` (``{(framework, model): [run record]}``)."""
    for fw, tab in tabs.items():
        for model in MODELS:
            have = {r['seed'] for r in runs.setdefault((fw, model), [])}
            for seed in range(n_seeds):
                if seed in have:
                    continue
                say(f'reproduce: {FRAMEWORKS[fw]} {LABELS[model]}, seed {seed} '
                    f'({"fast path" if fast else "book code"}) ...')
                rec = train_run(tab, fw, model, seed, fast=fast, epochs=epochs[model],
                                data_dir=data_dir, log_dir=log_dir)
                runs[(fw, model)].append(rec)
                say(f"reproduce:   book's hit rate {rec['hit_rate']:.4f}, AUC {rec['auc']:.4f}; "
                    f"exact HR@10 {rec['exact']['hr@10']:.4f}, AUC {rec['exact']['auc']:.4f}, "
                    f"{rec['wall_seconds']:.0f} s")
    return runs


def popularity_row(data_dir):
    """The popularity baseline (every user's score of an item: its number of training
    interactions; :func:`d2l_recsys.rank_scores.popularity_score_matrix`) on the book's
    seq-aware split, both evaluators: no learning, no framework, no seed."""
    from .rank_data import read_rank_data
    data = read_rank_data(data_dir)
    scores = popularity_score_matrix(data.users, data.items, data.num_users, data.num_items)
    hit_rate, auc, _ = book_hit_and_auc(scores, data.test_items, data.candidates,
                                        data.num_users)
    exact = exact_ranking_metrics(scores, data.candidates, data.test_items)
    return {'model': 'popularity', 'hit_rate': hit_rate, 'auc': auc,
            'exact': {k: exact[k] for k in EXACT + ('mean_rank',)},
            'path': 'd2l_recsys.rank_scores.popularity_score_matrix (no training)'}


# ---------------------------------------------------------------------------- 3. tables
def summarise(runs):
    """Mean and standard deviation over the runs of both metrics, and where they came from."""
    out = {'n_seeds': len(runs), 'seeds': sorted(r['seed'] for r in runs)}
    for key in ('hit_rate', 'auc'):
        out[f'{key}_mean'], out[f'{key}_std'] = mean_std([r[key] for r in runs])
    out['exact_mean'], out['exact_std'] = {}, {}
    for key in EXACT:
        out['exact_mean'][key], out['exact_std'][key] = mean_std(
            [r['exact'][key] for r in runs])
    out['seconds_mean'] = mean_std([r['seconds'] for r in runs])[0]
    out['paths'] = sorted({r['path'] for r in runs})
    out['kinds'] = sorted({r['kind'] for r in runs})
    out['devices'] = sorted({', '.join(r['devices'] or []) for r in runs})
    return out


def learned_nothing(row):
    """Whether a row's exact AUC says its model scores every item alike (0.5 +- a hair)."""
    auc = row['exact_mean']['auc']
    return auc is not None and within(auc, 0.5, NOTHING_LEARNED_AUC)


def make_tables(runs, n_seeds, popularity=None):
    """The book table (with the checks), the same-protocol table and the failures.

    ``runs``: ``{(framework, model): [run record]}``; the first ``n_seeds`` seeds of each are
    used. ``popularity``: :func:`popularity_row`'s result, the same-protocol table's first
    row. Each failure is one line naming the figure."""
    frameworks = [fw for fw in FRAMEWORKS if any(k[0] == fw for k in runs)]
    rows = {}
    for fw in frameworks:
        for model in MODELS:
            chosen = sorted(runs.get((fw, model), []), key=lambda r: r['seed'])[:n_seeds]
            if chosen:
                rows[(fw, model)] = {'framework': fw, 'model': model, 'runs': chosen,
                                     **summarise(chosen)}
    # The same-protocol table from the simplest model up, each in both tabs.
    same_table = [rows[(fw, model)] for model in SAME_PROTOCOL for fw in frameworks
                  if (fw, model) in rows]
    book_table, failures = [], []
    for fw in frameworks:
        for model in [m for m, (_, _, in_book) in MODELS.items() if in_book]:
            if (fw, model) not in rows:
                continue
            row = dict(rows[(fw, model)])
            pub = PUBLISHED[(fw, model)]
            row.update(published_hit_rate=pub['hit_rate'], published_auc=pub['auc'],
                       published_source=pub['source'], tolerance=TOLERANCES.get(model),
                       learned_nothing=learned_nothing(row))
            if pub['hit_rate'] is not None:
                tol = TOLERANCES[model]
                ok = {k: within(row[f'{k}_mean'], pub[k], tol) for k in ('hit_rate', 'auc')}
                row['within'] = all(ok.values())
                for key, good in ok.items():
                    if not good:
                        name = "book's hit rate" if key == 'hit_rate' else "book's AUC"
                        failures.append(
                            f'{FRAMEWORKS[fw]} {LABELS[model]}: mean {name} '
                            f'{fmt(row[f"{key}_mean"], 4)} over {row["n_seeds"]} seeds is '
                            f'outside {pub[key]:.3f} +- {tol}')
            book_table.append(row)
    if popularity is not None:
        same_table.insert(0, {'framework': None, 'model': 'popularity', 'runs': [],
                              'n_seeds': 0, 'seeds': [], 'hit_rate_mean': popularity['hit_rate'],
                              'hit_rate_std': None, 'auc_mean': popularity['auc'],
                              'auc_std': None, 'exact_mean': dict(popularity['exact']),
                              'exact_std': {k: None for k in EXACT},
                              'paths': [popularity['path']], 'kinds': ['no training'],
                              'seconds_mean': None, 'devices': []})
    return book_table, same_table, failures


# ---------------------------------------------------------------------------- 4. figures
def draw_ranking_curves(axes, runs, epochs):
    """The book's metric (left: hit rate at 50, AUC) and the exact one (right: HR@10, AUC)
    per epoch on ``axes``: seed 0 bold, the other seeds thin."""
    from matplotlib.ticker import MaxNLocator
    book_ax, exact_ax = axes
    for k, run in enumerate(sorted(runs, key=lambda r: r['seed'])):
        main = k == 0
        kw = dict(linewidth=1.8 if main else 0.7, alpha=1.0 if main else 0.5)
        x = run['eval_epoch']
        book_ax.plot(x, run['hit_rate_curve'], '-', color='C0',
                     label='hit rate at 50' if main else None, **kw)
        book_ax.plot(x, run['auc_curve'], '--', color='m', label='AUC' if main else None, **kw)
        exact_ax.plot(x, run['exact_curve']['hr@10'], '-', color='C0',
                      label='HR@10' if main else None, **kw)
        exact_ax.plot(x, run['exact_curve']['auc'], '--', color='m',
                      label='AUC' if main else None, **kw)
    for ax, title in ((book_ax, "book's evaluator (items below the number of users)"),
                      (exact_ax, 'exact (every unseen item, ties at their mean)')):
        ax.set_xlabel('epoch')
        ax.set_xlim([1, max(epochs, 2)])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim([0, 1])
        ax.grid(True)
        ax.legend(fontsize=7)
        ax.set_title(title, fontsize=8)


def curves_stem(out_dir, framework, model):
    """``neumf_curves`` for MXNet (the book's framework), ``torch_neumf_curves`` for PyTorch."""
    prefix = '' if framework == 'mxnet' else f'{framework}_'
    return os.path.join(out_dir, f'{prefix}{model}_curves')


def figure_curves(row, out_dir, epochs):
    n = row['n_seeds']
    others = {1: '', 2: ', seed 1 thin'}.get(n, f', seeds 1-{n - 1} thin')
    fig = new_figure((8.4, 3.2))
    draw_ranking_curves([fig.add_subplot(1, 2, k) for k in (1, 2)], row['runs'], epochs)
    fig.suptitle(f'{FRAMEWORKS[row["framework"]]} {LABELS[row["model"]]}, the book\'s '
                 f'settings: seed 0 bold{others}', fontsize=9)
    fig.tight_layout()
    return save_figure(fig, curves_stem(out_dir, row['framework'], row['model']))


def figure_same_protocol(same_table, stem):
    """Exact HR@10 and AUC of every model of the same-protocol table (mean +- std)."""
    fig = new_figure((8.4, 3.4))
    labels = [LABELS[r['model']] + ('' if r['framework'] is None else
                                    f'\n{FRAMEWORKS[r["framework"]]}') for r in same_table]
    for k, (key, name) in enumerate((('hr@10', 'exact HR@10'), ('auc', 'exact AUC'))):
        ax = fig.add_subplot(1, 2, k + 1)
        means = [r['exact_mean'][key] for r in same_table]
        stds = [r['exact_std'][key] or 0.0 for r in same_table]
        ax.bar(range(len(means)), means, 0.7, yerr=stds, capsize=2,
               color=[f'C{j % 10}' for j in range(len(means))])
        for x, mean in enumerate(means):
            ax.annotate(f'{mean:.3f}', (x, mean), textcoords='offset points', xytext=(0, 3),
                        ha='center', fontsize=6)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=6)
        ax.set_ylabel(name)
        ax.set_ylim([0.4 if key == 'auc' else 0, 1 if key == 'auc' else
                     max([0.05] + [m * 1.25 for m in means])])
    fig.suptitle('Every ranking model on the same protocol (seq-aware split, every unseen '
                 'item)', fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem)


def make_figures(book_table, same_table, out_dir, epochs):
    """Phase 4a: the curves of every book-table row and the same-protocol bars, each as PNG
    and SVG; returns the paths written."""
    files = []
    for row in book_table:
        files += figure_curves(row, out_dir, epochs[row['model']])
    if same_table:
        files += figure_same_protocol(same_table, os.path.join(out_dir, 'ranking_same_protocol'))
    return files


# ---------------------------------------------------------------------------- the part
def _summary(report, out_dir):
    say(f'reproduce: ranking part in {report["total_seconds"] / 60:.1f} min; results in '
        f'{os.path.relpath(out_dir, ROOT)}/ (ranking.md, ranking.csv, ranking.json, figures)')
    for row in report['book_table']:
        check = ('' if row['published_hit_rate'] is None else
                 f"  (book: {row['published_hit_rate']:.3f} / {row['published_auc']:.3f} +- "
                 f"{row['tolerance']}: {'ok' if row['within'] else 'OUTSIDE'})")
        say(f"  {FRAMEWORKS[row['framework']]:7s} {LABELS[row['model']]:6s} book's hit rate "
            f"{plus_minus(row['hit_rate_mean'], row['hit_rate_std'])}, AUC "
            f"{plus_minus(row['auc_mean'], row['auc_std'])}; exact HR@10 "
            f"{plus_minus(row['exact_mean']['hr@10'], row['exact_std']['hr@10'])}, AUC "
            f"{plus_minus(row['exact_mean']['auc'], row['exact_std']['auc'])}{check}")
    for row in report['same_table']:
        who = LABELS[row['model']] + ('' if row['framework'] is None else
                                      f', {FRAMEWORKS[row["framework"]]}')
        say(f"  same protocol: {who:22s} exact HR@10 {fmt(row['exact_mean']['hr@10'])}, "
            f"NDCG@10 {fmt(row['exact_mean']['ndcg@10'])}, AUC {fmt(row['exact_mean']['auc'])}"
            f" (n={row['n_seeds'] or '-'})")


def run(ctx):
    """The ranking part (see the module's docstring); ``ctx``:
    :func:`d2l_recsys.reproduce.run_parts`'s. Returns ``{'failures', 'errors', 'files'}``."""
    start, phases = time.time(), {}
    epochs = {m: (2 if ctx.quick else e) for m, e in EPOCHS.items()}
    records, runs = {}, {}
    if RUN_NOTEBOOKS:
        try:
            records, seconds = run_notebooks(ctx)
        except RecordError as e:
            return {'errors': [str(e)]}
        phases.update({f'notebook {name}': sec for name, sec in seconds.items()})
        runs = notebook_runs(records)
    tic = time.time()
    runs = train_seeds(runs, ctx.tabs, n_seeds=ctx.n_seeds, fast=ctx.fast, epochs=epochs,
                       data_dir=ctx.data_dir, log_dir=ctx.log_dir)
    phases['NeuMF, Caser and MF runs'] = time.time() - tic
    popularity = popularity_row(ctx.data_dir)
    book_table, same_table, failures = make_tables(runs, ctx.n_seeds, popularity)
    files = make_figures(book_table, same_table, ctx.out_dir, epochs)
    neumf = records.get('06-neumf-mxnet.ipynb') or {}
    report = {
        'quick': ctx.quick, 'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        'total_seconds': time.time() - start, 'phase_seconds': phases,
        'versions': versions(), 'machine': machine(), 'devices': ctx.devices,
        'data_dir': ctx.data_dir, 'frameworks': list(ctx.tabs), 'torch_note': ctx.torch_note,
        'fast_path': ctx.fast, 'epochs': epochs, 'notebooks_run': bool(RUN_NOTEBOOKS),
        'notebooks': sorted(records), 'unreachable_users': neumf.get('unreachable_users'),
        'book_table': book_table, 'same_table': same_table, 'tuned': tuned_column(),
        'tolerances': dict(TOLERANCES), 'failures': failures,
        'files': [os.path.relpath(p, ROOT) for p in files],
    }
    report['files'] += [os.path.relpath(os.path.join(ctx.out_dir, n), ROOT)
                        for n in ('ranking.md', 'ranking.csv', 'ranking.json')]
    report['files'] += [os.path.relpath(os.path.join(ctx.executed_dir, n), ROOT)
                        for n in sorted(records)]
    write_tables(report, ctx.out_dir)
    _summary(report, ctx.out_dir)
    return {'failures': failures, 'errors': [], 'files': report['files']}
