"""``make reproduce``: run the chapter notebooks with the book's settings and regenerate every
figure and RMSE table, compared with the published numbers.

    python -m d2l_recsys.reproduce            # the full run (results/, notebooks/executed/)
    python -m d2l_recsys.reproduce --quick    # 2 epochs, fewer seeds: checks the plumbing

What it does:

1. gets MovieLens 100K if needed (:func:`d2l_recsys.fetch.ml100k_dir`);
2. executes ``notebooks/{movielens,mf,autorec}.ipynb`` with nbclient, seed 0 and the book's
   settings, and keeps the executed copies in ``notebooks/executed/``; the MF and AutoRec
   notebooks' training runs (the book's cells) are seed 0 of the tables below;
3. trains seeds 1..4 of MF (seq-aware split) and AutoRec (random split) with
   :mod:`d2l_recsys.experiments`, and the apples-to-apples grid (MF, item-based and user-based
   AutoRec on both splits). the fast path (``d2l_recsys.mxnet.fast``) is used for these extra runs only where, on
   seed 0, it gives the same RMSE as the book's code (checked here, reported per number);
4. writes ``results/``: figures as PNG and SVG, ``rmse.md``, ``rmse.csv``, ``rmse.json``, one
   log per training run in ``results/logs/``; every file is written to a temporary name and
   renamed.

Exit status 1 when a reproduced figure is outside its tolerance (AutoRec random split
0.90 +- 0.02, MF seq-aware 1.05 +- 0.03; the mean of the book's metric over the seeds), 2 on
usage errors, and the notebook's error when a notebook fails.
"""
import argparse
import contextlib
import csv
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time

from .atomic import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ('movielens.ipynb', 'mf.ipynb', 'autorec.ipynb')

# Tolerances of the reproduced figures (issue 4): (model key, split) -> (target, tolerance).
TOLERANCES = {
    ('autorec', 'random'): (0.90, 0.02),
    ('mf', 'seq-aware'): (1.05, 0.03),
}
# A fast path counts as giving "the same RMSE" when seed 0 agrees to this (absolute).
FAST_TOLERANCE = 1e-3

MODELS = {   # key -> (label, experiments function, extra kwargs)
    'mf': ('MF', 'train_mf', {}),
    'autorec': ('AutoRec (item-based)', 'train_autorec', {}),
    'autorec-user': ('AutoRec (user-based)', 'train_autorec', {'user_based': True}),
}
SPLITS = ('random', 'seq-aware')
BOOK_SPLIT = {'mf': 'seq-aware', 'autorec': 'random'}
EPOCHS = {'mf': 20, 'autorec': 25, 'autorec-user': 25}

# The documents' values and what we can say about them.
PUBLISHED = {
    ('autorec', 'random'): {
        'value': 0.898,
        'source': 'the book, AutoRec section (MXNet, 2 GPUs): "train loss 0.000, test RMSE '
                  '0.898"',
    },
    ('mf', 'seq-aware'): {
        'value': None,
        'source': 'none printed in the documents at hand; the book\'s code measured on this '
                  'kind of machine (CPU) gives 1.048 to 1.060 (issue 3), which is the figure '
                  'checked here (1.05 +- 0.03)',
    },
}
def not_reproduced(book_table, apples_table):
    """(value in a document, why we do not reproduce it) pairs, with our numbers filled in."""
    book = {(r['model'], r['split']): r for r in book_table}
    apples = {(r['model'], r['split']): r for r in apples_table}
    mf = book.get(('mf', 'seq-aware'))
    mf_random = apples.get(('mf', 'random'))
    printed = [r.get('printed_train_loss') for r in (mf or {}).get('runs', [])]
    printed = [p for p in printed if p is not None]
    ours = (f'{fmt(mf["book_mean"])} +- {fmt(mf["book_std"])} (exact {fmt(mf["exact_mean"])})'
            if mf else 'about 1.05')
    also = (f'; on the random split it gives {fmt(mf_random["exact_mean"])} (exact RMSE, '
            f'{mf_random["n_seeds"]} seeds), so 0.945 matches neither split' if mf_random
            else '')
    loss = f'about {statistics.mean(printed):.3f}' if printed else 'about 0.06'
    ar = book.get(('autorec', 'random'))
    ar_printed = [r.get('printed_train_loss') for r in (ar or {}).get('runs', [])]
    ar_printed = [p for p in ar_printed if p is not None]
    ar_loss = (f'ours prints {max(ar_printed):.3f} on every seed' if ar_printed and
               all(f'{p:.3f}' == f'{ar_printed[0]:.3f}' for p in ar_printed)
               else f'ours prints {", ".join(f"{p:.3f}" for p in ar_printed)}' if ar_printed
               else 'ours prints the same')
    return [
        ('MF, "train loss 0.123, test RMSE 0.945" (a third-party MF guide among the seed texts)',
         'not the book\'s output: the guide shows it as an example of what training prints, '
         'with a 2-GPU device list. With the book\'s settings (30 factors, Adam, lr 0.002, wd '
         f'1e-5, batch 512, 20 epochs, seq-aware split) the book\'s code gives {ours}{also}, '
         f'and the printed train loss (the book\'s accounting) is {loss}.'),
        ('AutoRec, "train loss 39.877, test RMSE 0.906" (a PyTorch slide deck among the seed '
         'texts)',
         'a PyTorch port with MSELoss(reduction="sum") and drop_last batches: another loss '
         'scale and other random streams, so its train loss is not comparable with the MXNet '
         'code\'s; its RMSE lies within the AutoRec tolerance.'),
        ('AutoRec, the book\'s printed "train loss 0.000"',
         f'reproduced ({ar_loss}), but it is not a training loss: the book\'s loop divides a sum '
         'of running sums of per-row L2 losses (each a mean over all entries of a row, most of '
         'them masked to 0) by the number of rows. The curves plot the per-epoch mean instead.'),
        ('examples/sec of the book (12540.7 for MF, 26944453.6 for AutoRec, on 2 GPUs)',
         'hardware-specific; ours, for this machine\'s CPU, are in the table.'),
    ]


# ---------------------------------------------------------------------------- small helpers
def save_figure(fig, stem):
    """Write ``stem.png`` and ``stem.svg`` atomically; returns both paths."""
    from .plotting import save_figure as save
    return save(fig, stem, dpi=150)


def new_figure(figsize=(4.5, 3.2)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def versions():
    import importlib.metadata
    import numpy
    import pandas
    out = {'python': platform.python_version(), 'numpy': numpy.__version__,
           'pandas': pandas.__version__}
    for name in ('mxnet', 'torch', 'd2l'):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    from . import __version__
    out['d2l_recsys'] = __version__
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform()}


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], None
    return statistics.mean(values), statistics.stdev(values)


def fmt(value, digits=3):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def say(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------- notebooks
EXTRACT = {
    'movielens.ipynb': '''
import json as _json
_out = {'num_users': int(num_users), 'num_items': int(num_items), 'num_ratings': len(data),
        'sparsity': float(sparsity),
        'rating_counts': {int(k): int(v) for k, v in data['rating'].value_counts().items()}}
with open(_RESULT_PATH, 'w') as _f:
    _json.dump(_out, _f)
''',
    'mf.ipynb': '''
import json as _json
from d2l_recsys.mxnet.evaluation import rmse_exact as _rmse_exact
_out = {'history': history, 'test_rmse_exact': _rmse_exact(net, test_iter, devices),
        'prediction_user20_item30': float(scores[0]),
        'train_size': len(train_iter._dataset), 'test_size': len(test_iter._dataset)}
with open(_RESULT_PATH, 'w') as _f:
    _json.dump(_out, _f, default=float)
''',
    'autorec.ipynb': '''
import json as _json
from d2l_recsys.mxnet.evaluation import autorec_rmse_exact as _exact
_out = {'history': history,
        'test_rmse_exact': _exact(net, test_iter, test_inter_mat, devices),
        'user_history': user_history,
        'user_test_rmse_exact': _exact(user_net, user_test_iter, test_inter_mat.T, devices),
        'test_size': int((test_inter_mat > 0).sum())}
with open(_RESULT_PATH, 'w') as _f:
    _json.dump(_out, _f, default=float)
''',
}


def run_notebook(name, executed_dir, *, short, seed, data_dir, timeout=3600):
    """Execute ``notebooks/name`` in a fresh kernel; returns (values read from the kernel,
    seconds). The executed copy (without our extraction cell) goes to ``executed_dir``."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(os.path.join(ROOT, 'notebooks', name), as_version=4)
    fd, result_path = tempfile.mkstemp(prefix='reproduce-', suffix='.json')
    os.close(fd)
    extract = f'_RESULT_PATH = {result_path!r}\n' + EXTRACT[name].lstrip()
    nb.cells.append(nbformat.v4.new_code_cell(extract))
    env = {'D2L_RECSYS_SHORT': '1' if short else '0', 'D2L_RECSYS_SEED': str(seed),
           'D2L_RECSYS_DATA': data_dir}
    saved = {k: os.environ.get(k) for k in list(env) + ['MPLBACKEND']}
    os.environ.update(env)
    os.environ.pop('MPLBACKEND', None)   # the kernel draws inline, as in Jupyter
    tic = time.time()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name='python3',
                                resources={'metadata': {'path': os.path.join(ROOT,
                                                                             'notebooks')}})
        try:
            client.execute()
        finally:
            nb.cells.pop()   # our extraction cell is not part of the executed copy
            executed = os.path.join(executed_dir, name)
            atomic_write_text(executed, nbformat.writes(nb))
        with open(result_path) as f:
            values = json.load(f)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.remove(result_path)
    return values, time.time() - tic


# ---------------------------------------------------------------------------- training runs
def run_record(history, *, model, split, seed, path, exact, sizes=None):
    """One training run, as stored in rmse.json."""
    train_seconds = sum(history.get('train_seconds') or [])
    return {
        'model': model, 'split': split, 'seed': seed, 'path': path,
        'epochs': len(history['epoch']),
        'test_rmse_book': history['test_rmse'][-1],
        'test_rmse_exact': exact,
        'train_loss_curve': history['train_loss'], 'test_rmse_curve': history['test_rmse'],
        'printed_train_loss': history.get('printed_train_loss'),
        'seconds': sum(history['seconds']), 'train_seconds': train_seconds,
        'examples_per_sec': history.get('examples_per_sec'),
        'devices': history.get('devices'), **(sizes or {}),
    }


def train_run(key, split, seed, *, fast, epochs, log_dir):
    """Train one configuration with :mod:`d2l_recsys.experiments`; its console output goes
    to ``log_dir/<key>_<split>_seed<seed>.log``."""
    from .mxnet import experiments
    _, fn_name, extra = MODELS[key]
    fn = getattr(experiments, fn_name)
    log_path = os.path.join(log_dir, f'{key}_{split}_seed{seed}{"_fast" if fast else ""}.log')
    buf = io.StringIO()
    tic = time.time()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            _, history, info = fn(split_mode=split, seed=seed, num_epochs=epochs, fast=fast,
                                  plot=False, **extra)
        finally:
            atomic_write_text(log_path, buf.getvalue())
    wall = time.time() - tic
    path = (f'd2l_recsys.mxnet.{fn_name}(fast=True)' if fast
            else f'd2l_recsys.mxnet.{fn_name} (book code)')
    rec = run_record(history, model=key, split=split, seed=seed, path=path,
                     exact=history.get('test_rmse_exact'),
                     sizes={'train_size': info.get('train_size'),
                            'test_size': info.get('test_size')})
    rec['wall_seconds'] = wall
    return rec


def fast_available():
    try:
        from .mxnet import fast
    except Exception as e:   # noqa: BLE001 - any import failure means "not available"
        return False, f'd2l_recsys.mxnet.fast cannot be imported ({type(e).__name__}: {e})'
    return True, 'd2l_recsys.mxnet.fast imported'


# ---------------------------------------------------------------------------- figures
def figure_histogram(counts, out_dir):
    fig = new_figure((4.5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ratings = sorted(counts)
    ax.bar(ratings, [counts[r] for r in ratings], width=0.8, edgecolor='black')
    ax.set_xlabel('Rating')
    ax.set_ylabel('Count')
    ax.set_title('Distribution of Ratings in MovieLens 100K')
    ax.set_xticks(ratings)
    return save_figure(fig, os.path.join(out_dir, 'rating_histogram'))


def figure_curves(runs, title, stem, num_epochs):
    """The book's plot (epoch vs train loss and test RMSE, y in [0, 2]): seed 0 bold, the
    other seeds thin."""
    fig = new_figure((4.5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for k, run in enumerate(sorted(runs, key=lambda r: r['seed'])):
        epochs = list(range(1, len(run['train_loss_curve']) + 1))
        main = k == 0
        kw = dict(linewidth=1.8 if main else 0.7, alpha=1.0 if main else 0.5)
        ax.plot(epochs, run['train_loss_curve'], '-', color='C0',
                label='train loss' if main else None, **kw)
        ax.plot(epochs, run['test_rmse_curve'], '--', color='m',
                label='test RMSE' if main else None, **kw)
    ax.set_xlabel('epoch')
    ax.set_xlim([1, max(num_epochs, 2)])
    ax.set_ylim([0, 2])
    ax.grid(True)
    ax.legend()
    ax.set_title(title, fontsize=9)
    return save_figure(fig, stem)


def figure_apples(rows, stem):
    fig = new_figure((5.5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    keys = list(MODELS)
    width = 0.38
    for s, split in enumerate(SPLITS):
        means, stds = [], []
        for key in keys:
            row = rows.get((key, split))
            means.append(row['exact_mean'] if row else float('nan'))
            stds.append((row['exact_std'] or 0.0) if row else 0.0)
        xs = [k + (s - 0.5) * width for k in range(len(keys))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=f'{split} split',
               color='C0' if s == 0 else 'C1')
        for x, mean in zip(xs, means):
            if not math.isnan(mean):
                ax.annotate(f'{mean:.3f}', (x, mean), textcoords='offset points',
                            xytext=(0, 4), ha='center', fontsize=7)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([MODELS[k][0] for k in keys], fontsize=8)
    ax.set_ylabel('exact test RMSE')
    values = [r['exact_mean'] for r in rows.values() if r and r['exact_mean'] is not None]
    if values:   # bars start near the smallest value so that differences are visible
        ax.set_ylim([max(0.0, math.floor(min(values) * 10 - 1) / 10), max(values) + 0.08])
    ax.legend(fontsize=8)
    ax.set_title('Same split for every model (mean +- std over seeds)', fontsize=9)
    return save_figure(fig, stem)


# ---------------------------------------------------------------------------- tables
def summarise(runs):
    book_mean, book_std = mean_std([r['test_rmse_book'] for r in runs])
    exact_mean, exact_std = mean_std([r['test_rmse_exact'] for r in runs])
    sec_mean, _ = mean_std([r['seconds'] for r in runs])
    eps_mean, _ = mean_std([r['examples_per_sec'] for r in runs])
    paths = sorted({r['path'] for r in runs})
    # Speed depends on the path (book code or fast), so it is also given per path.
    speed = {}
    for kind in ('book code', 'fast'):
        mine = [r for r in runs if _kind(r['path']) == kind]
        if mine:
            speed[kind] = {'n': len(mine),
                           'seconds_mean': mean_std([r['seconds'] for r in mine])[0],
                           'examples_per_sec_mean':
                               mean_std([r['examples_per_sec'] for r in mine])[0]}
    return {
        'n_seeds': len(runs), 'seeds': sorted(r['seed'] for r in runs),
        'book_mean': book_mean, 'book_std': book_std,
        'book_min': min(r['test_rmse_book'] for r in runs),
        'book_max': max(r['test_rmse_book'] for r in runs),
        'exact_mean': exact_mean, 'exact_std': exact_std,
        'seconds_mean': sec_mean, 'examples_per_sec_mean': eps_mean,
        'paths': paths, 'speed_by_path': speed,
        'devices': sorted({', '.join(r['devices'] or []) for r in runs}),
    }


def make_tables(runs, n_seeds, n_apples):
    """The book table (with the tolerance check), the apples-to-apples table and the list of
    failures, from ``runs``: {(model key, split): [run records]}. The first ``n_seeds`` /
    ``n_apples`` seeds of each configuration are used."""
    book_table, failures = [], []
    for key, split in (('mf', 'seq-aware'), ('autorec', 'random')):
        chosen = sorted(runs[(key, split)], key=lambda r: r['seed'])[:n_seeds]
        row = {'model': key, 'split': split, 'rmse_kind': RMSE_KIND[key], 'runs': chosen,
               **summarise(chosen)}
        pub = PUBLISHED[(key, split)]
        target, tol = TOLERANCES[(key, split)]
        # Rounded first: a mean of 0.92 printed as "0.920" must not fail on float noise.
        row.update(published=pub['value'], published_source=pub['source'], target=target,
                   tolerance=tol, within=round(abs(row['book_mean'] - target), 9) <= tol)
        if not row['within']:
            failures.append(f'{MODELS[key][0]} on the {split} split: mean test RMSE '
                            f'{row["book_mean"]:.3f} over {row["n_seeds"]} seeds is outside '
                            f'{target:.2f} +- {tol:.2f}')
        book_table.append(row)
    apples_table = []
    for split in SPLITS:
        for key in MODELS:
            chosen = sorted(runs.get((key, split), []), key=lambda r: r['seed'])[:n_apples]
            if chosen:
                apples_table.append({'model': key, 'split': split, 'rmse_kind': RMSE_KIND[key],
                                     'runs': chosen, **summarise(chosen)})
    return book_table, apples_table, failures


RMSE_KIND = {
    'mf': "book's MF evaluator: mean over test batches of the running RMSE (not the test-set "
          'RMSE)',
    'autorec': "book's AutoRec evaluator: RMSE over all test ratings (exact)",
    'autorec-user': "book's AutoRec evaluator on the transposed matrices (exact)",
}


def write_tables(report, out_dir):
    paths = []
    # JSON: everything.
    paths.append(atomic_write_text(os.path.join(out_dir, 'rmse.json'),
                                   json.dumps(report, indent=1, sort_keys=True) + '\n'))
    # CSV: one row per (table, model, split).
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator='\n')
    w.writerow(['table', 'model', 'split', 'published', 'book_metric_mean', 'book_metric_std',
                'book_metric_min', 'book_metric_max', 'exact_rmse_mean', 'exact_rmse_std',
                'n_seeds', 'target', 'tolerance', 'within_tolerance',
                'seconds_per_run_book_code', 'examples_per_sec_book_code',
                'seconds_per_run_fast', 'examples_per_sec_fast', 'device', 'paths', 'mxnet',
                'd2l', 'numpy'])
    v = report['versions']
    for table, rows in (('book', report['book_table']), ('apples', report['apples_table'])):
        for row in rows:
            w.writerow([table, row['model'], row['split'],
                        '' if row.get('published') is None else row['published'],
                        fmt(row['book_mean'], 4), fmt(row['book_std'], 4),
                        fmt(row['book_min'], 4), fmt(row['book_max'], 4),
                        fmt(row['exact_mean'], 4), fmt(row['exact_std'], 4), row['n_seeds'],
                        '' if row.get('target') is None else row['target'],
                        '' if row.get('tolerance') is None else row['tolerance'],
                        '' if row.get('within') is None else row['within'],
                        *[fmt(row['speed_by_path'].get(kind, {}).get(k), digits)
                          for kind in ('book code', 'fast')
                          for k, digits in (('seconds_mean', 1),
                                            ('examples_per_sec_mean', 0))],
                        '; '.join(row['devices']), '; '.join(row['paths']),
                        v['mxnet'], v['d2l'], v['numpy']])
    paths.append(atomic_write_text(os.path.join(out_dir, 'rmse.csv'), buf.getvalue()))
    paths.append(atomic_write_text(os.path.join(out_dir, 'rmse.md'), markdown(report)))
    return paths


def _pm(mean, std, digits=3):
    if mean is None:
        return '-'
    return fmt(mean, digits) + ('' if std is None else f' +- {fmt(std, digits)}')


def markdown(report):
    v, m = report['versions'], report['machine']
    quick = report['quick']
    lines = ['# Reproduced RMSE figures', '']
    if quick:
        lines += ['**QUICK RUN** (`--quick`: 2 epochs, few seeds). These numbers only check '
                  'the plumbing; they are not comparable with the book. Run '
                  '`make reproduce` for the real figures.', '']
    lines += [
        f'Generated by `python -m d2l_recsys.reproduce` on {report["date"]} in '
        f'{report["total_seconds"] / 60:.1f} min ({m["cores"]} CPU cores, {m["cpu"]}; '
        'shared with other work, so times are indicative).',
        f'Versions: MXNet {v["mxnet"]}, d2l {v["d2l"]}, NumPy {v["numpy"]}, pandas '
        f'{v["pandas"]}, Python {v["python"]}, d2l-recsys {v["d2l_recsys"]}. '
        f'Devices: {", ".join(report["devices"])}.',
        '',
        'Two RMSEs are shown. **book metric** is what the book prints and plots: for AutoRec '
        'it is the RMSE over all test ratings, but the book\'s MF evaluator averages the '
        '*running* RMSE over the test batches, which is not the test-set RMSE. **exact** is '
        'the RMSE over all test ratings for every model. Seed 0 of each book row is the '
        'notebook\'s own run of the book\'s cells. Examples/s is the book\'s training '
        'throughput; for AutoRec the book counts matrix entries (rows x users), not ratings.',
        '',
        '## The book\'s experiments',
        '',
        '| model | split | published | book metric, mean +- std | min - max | exact RMSE, '
        'mean +- std | seeds | tolerance | time per run, examples/s (training) |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for row in report['book_table']:
        pub = '-' if row['published'] is None else f'{row["published"]:.3f}'
        tol = f'{row["target"]:.2f} +- {row["tolerance"]:.2f}: ' + (
            'ok' if row['within'] else '**OUTSIDE**')
        lines.append(
            f'| {MODELS[row["model"]][0]} | {row["split"]} | {pub} | '
            f'{_pm(row["book_mean"], row["book_std"])} | {fmt(row["book_min"])} - '
            f'{fmt(row["book_max"])} | {_pm(row["exact_mean"], row["exact_std"])} | '
            f'{row["n_seeds"]} | {tol} | {_speed(row)} |')
    lines += ['', 'Per seed (book metric / exact):', '']
    for row in report['book_table']:
        per = ', '.join(f'seed {r["seed"]}: {fmt(r["test_rmse_book"])} / '
                        f'{fmt(r["test_rmse_exact"])} ({_short_path(r["path"])})'
                        for r in sorted(row['runs'], key=lambda r: r['seed']))
        lines.append(f'* {MODELS[row["model"]][0]}, {row["split"]}: {per}')
    lines += ['', 'Where the published figures come from:', '']
    for row in report['book_table']:
        lines.append(f'* {MODELS[row["model"]][0]}, {row["split"]}: {row["published_source"]}')
    lines += ['', '## Apples to apples: every model on the same split', '',
              'The book tests MF on the seq-aware split (each user\'s latest rating) and '
              'AutoRec on the random split (10% of all ratings), so its two numbers are not '
              'comparable. Here every model is trained and tested on the same split, with the '
              'book\'s settings for each model; exact test RMSE, mean +- std over seeds.', '',
              '| model | ' + ' | '.join(f'{s} split' for s in SPLITS) + ' |',
              '|---|' + '---|' * len(SPLITS)]
    apples = {(r['model'], r['split']): r for r in report['apples_table']}
    for key in MODELS:
        cells = []
        for split in SPLITS:
            row = apples.get((key, split))
            cells.append('-' if row is None else
                         f'{_pm(row["exact_mean"], row["exact_std"])} (n={row["n_seeds"]})')
        lines.append(f'| {MODELS[key][0]} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'How each number was produced:', '']
    for row in report['apples_table']:
        lines.append(f'* {MODELS[row["model"]][0]}, {row["split"]}: '
                     + '; '.join(sorted({f'seed {r["seed"]}: {_short_path(r["path"])}'
                                         for r in row['runs']},
                                        key=lambda s: int(s.split(':')[0][5:]))))
    fast = report['fast']
    lines += ['', '## Fast path', '', f'{fast["status"]}.', '']
    for key, check in fast.get('checks', {}).items():
        lines.append(f'* {MODELS[key][0]} ({check["split"]}, seed 0): book code '
                     f'{fmt(check["book"], 5)}, fast path {fmt(check["fast"], 5)} (book metric; '
                     f'exact {fmt(check["book_exact"], 5)} vs {fmt(check["fast_exact"], 5)}); '
                     f'|difference| {check["diff"]:.2e} -> '
                     f'{"used for the extra runs" if check["used"] else "not used"}; '
                     f'{fmt(check["book_seconds"], 1)} s vs {fmt(check["fast_seconds"], 1)} s.')
    lines += ['', '## Other values in the documents: reproduced or not, and why', '']
    for item in report['not_reproduced']:
        lines.append(f'* {item["value"]}: {item["why"]}')
    ml = report.get('movielens') or {}
    if ml:
        lines += ['', '## Data', '',
                  f'MovieLens 100K from {report["data_dir"]}: {ml["num_ratings"]:,} ratings, '
                  f'{ml["num_users"]} users, {ml["num_items"]} items, sparsity '
                  f'{ml["sparsity"]:.6f} (book: 0.936953).']
    lines += ['', '## Files', '']
    lines += [f'* `{p}`' for p in report['files']]
    lines += ['', '## Time', '']
    lines += [f'* {name}: {sec:.0f} s' for name, sec in report['phase_seconds'].items()]
    lines.append(f'* total: {report["total_seconds"]:.0f} s')
    return '\n'.join(lines) + '\n'


def _short_path(path):
    if path.startswith('notebook'):
        return 'notebook'
    return _kind(path)


def _kind(path):
    return 'fast' if 'fast=True' in path else 'book code'


def _speed(row):
    return '; '.join(f'{kind}: {fmt(v["seconds_mean"], 1)} s, '
                     f'{v["examples_per_sec_mean"]:,.0f}/s (n={v["n"]})'
                     for kind, v in row['speed_by_path'].items())


# ---------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(prog='python -m d2l_recsys.reproduce',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='2 epochs, 2 seeds, 1 seed for the apples-to-apples table, notebooks '
                        'in short mode; output to results/quick; no tolerance check')
    p.add_argument('--seeds', type=int, default=None,
                   help='seeds of the book table (default 5; --quick 2)')
    p.add_argument('--apples-seeds', type=int, default=None,
                   help='seeds of the apples-to-apples table (default 5 when the fast path '
                        'is used, 3 otherwise; --quick 1)')
    p.add_argument('--no-fast', action='store_true',
                   help="never use the fast path; every run is the book's code")
    p.add_argument('--out', default=None, help='results folder (default results/, --quick '
                                              'results/quick/)')
    p.add_argument('--data', default=None, metavar='DIR',
                   help='MovieLens 100K folder (default: $D2L_RECSYS_DATA, the cache, or '
                        'download)')
    args = p.parse_args(argv)
    for name in ('seeds', 'apples_seeds'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f'--{name.replace("_", "-")} must be at least 1, got {value}')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    quick = args.quick
    out_dir = os.path.abspath(args.out or os.path.join(ROOT, 'results', 'quick' if quick
                                                       else ''))
    executed_dir = os.path.join(ROOT, 'notebooks', 'executed', *(['quick'] if quick else []))
    log_dir = os.path.join(out_dir, 'logs')
    n_seeds = args.seeds or (2 if quick else 5)
    start = time.time()
    phases = {}

    from . import fetch
    from .mxnet import try_all_gpus
    data_dir = fetch.ml100k_dir(args.data)
    devices = [str(d) for d in try_all_gpus()]
    say(f'reproduce: data in {data_dir}; devices {devices}; results to {out_dir}')

    # 1. The notebooks (seed 0 of the book's experiments).
    nb_values = {}
    for name in NOTEBOOKS:
        say(f'reproduce: running notebooks/{name} '
            f'({"short mode" if quick else "book settings"}) ...')
        nb_values[name], sec = run_notebook(name, executed_dir, short=quick, seed=0,
                                            data_dir=data_dir)
        phases[f'notebook {name}'] = sec
        say(f'reproduce:   done in {sec:.0f} s -> {os.path.relpath(executed_dir, ROOT)}/{name}')
    mf_nb, ar_nb = nb_values['mf.ipynb'], nb_values['autorec.ipynb']
    nb_path = 'notebook (book cells, {})'
    runs = {
        ('mf', 'seq-aware'): [run_record(
            mf_nb['history'], model='mf', split='seq-aware', seed=0,
            path=nb_path.format('mf.ipynb'), exact=mf_nb['test_rmse_exact'],
            sizes={'train_size': mf_nb['train_size'], 'test_size': mf_nb['test_size']})],
        ('autorec', 'random'): [run_record(
            ar_nb['history'], model='autorec', split='random', seed=0,
            path=nb_path.format('autorec.ipynb'), exact=ar_nb['test_rmse_exact'],
            sizes={'test_size': ar_nb['test_size']})],
        ('autorec-user', 'random'): [run_record(
            ar_nb['user_history'], model='autorec-user', split='random', seed=0,
            path=nb_path.format('autorec.ipynb'), exact=ar_nb['user_test_rmse_exact'],
            sizes={'test_size': ar_nb['test_size']})],
    }
    epochs = {k: (2 if quick else e) for k, e in EPOCHS.items()}

    # 2. Is the fast path usable? Seed 0 of each model against the notebook's run.
    tic = time.time()
    use_fast, fast_checks = {}, {}
    ok, status = (False, 'not tried (--no-fast)') if args.no_fast else fast_available()
    if ok:
        for key, split in (('mf', 'seq-aware'), ('autorec', 'random'),
                           ('autorec-user', 'random')):
            book = runs[(key, split)][0]
            say(f'reproduce: checking the fast path for {MODELS[key][0]} ({split}, seed 0) ...')
            try:
                rec = train_run(key, split, 0, fast=True, epochs=epochs[key], log_dir=log_dir)
            except Exception as e:   # noqa: BLE001 - a broken fast path is reported, not fatal
                say(f'reproduce:   fast path failed: {type(e).__name__}: {e}')
                fast_checks[key] = {'split': split, 'book': book['test_rmse_book'],
                                    'fast': None, 'book_exact': book['test_rmse_exact'],
                                    'fast_exact': None, 'diff': float('inf'), 'used': False,
                                    'book_seconds': book['seconds'], 'fast_seconds': None,
                                    'error': f'{type(e).__name__}: {e}'}
                use_fast[key] = False
                continue
            diff = max(abs(rec['test_rmse_book'] - book['test_rmse_book']),
                       abs((rec['test_rmse_exact'] or math.inf)
                           - (book['test_rmse_exact'] or -math.inf)))
            use_fast[key] = diff <= FAST_TOLERANCE
            fast_checks[key] = {'split': split, 'book': book['test_rmse_book'],
                                'fast': rec['test_rmse_book'],
                                'book_exact': book['test_rmse_exact'],
                                'fast_exact': rec['test_rmse_exact'], 'diff': diff,
                                'used': use_fast[key], 'book_seconds': book['seconds'],
                                'fast_seconds': rec['seconds']}
            say(f'reproduce:   book {book["test_rmse_book"]:.5f}, fast '
                f'{rec["test_rmse_book"]:.5f}: '
                f'{"same RMSE, fast path used" if use_fast[key] else "differs, not used"}')
        status = (f'the fast path was checked against the book\'s code on seed 0 (same '
                  f'RMSE = within {FAST_TOLERANCE:g}) and used only where it passed')
    phases['fast-path check'] = time.time() - tic
    n_apples = args.apples_seeds or (1 if quick else (5 if any(use_fast.values()) else 3))

    # 3. The extra seeds of the book's two experiments, then the apples-to-apples grid.
    tic = time.time()
    todo = [(key, split, n_seeds) for key, split in (('mf', 'seq-aware'), ('autorec', 'random'))]
    todo += [(key, split, n_apples) for split in SPLITS for key in MODELS]
    for key, split, n in todo:
        have = {r['seed'] for r in runs.setdefault((key, split), [])}
        for seed in range(n):
            if seed in have:
                continue
            fast = use_fast.get(key, False)
            say(f'reproduce: {MODELS[key][0]}, {split} split, seed {seed} '
                f'({"fast path" if fast else "book code"}) ...')
            rec = train_run(key, split, seed, fast=fast, epochs=epochs[key], log_dir=log_dir)
            runs[(key, split)].append(rec)
            have.add(seed)
            say(f'reproduce:   test RMSE {rec["test_rmse_book"]:.4f} (book metric), exact '
                f'{rec["test_rmse_exact"]:.4f}, {rec["wall_seconds"]:.0f} s')
    phases['extra seeds and apples-to-apples runs'] = time.time() - tic

    # 4. Tables and figures.
    book_table, apples_table, failures = make_tables(runs, n_seeds, n_apples)

    files = []
    ml = nb_values['movielens.ipynb']
    files += figure_histogram(ml['rating_counts'], out_dir)
    for key, split in (('mf', 'seq-aware'), ('autorec', 'random')):
        others = {1: '', 2: ', seed 1 thin'}.get(n_seeds, f', seeds 1-{n_seeds - 1} thin')
        title = f'{MODELS[key][0]}, {split} split: seed 0 bold{others}'
        files += figure_curves(next(r for r in book_table if r['model'] == key)['runs'], title,
                               os.path.join(out_dir, f'{key}_{split}_curves'), epochs[key])
    files += figure_apples({(r['model'], r['split']): r for r in apples_table},
                           os.path.join(out_dir, 'apples_to_apples'))
    files = [os.path.relpath(p, ROOT) for p in files]
    files += [os.path.relpath(os.path.join(out_dir, n), ROOT)
              for n in ('rmse.md', 'rmse.csv', 'rmse.json')]
    files += [os.path.relpath(os.path.join(executed_dir, n), ROOT) for n in NOTEBOOKS]
    files.append(os.path.relpath(log_dir, ROOT) + '/')

    total = time.time() - start
    report = {
        'quick': quick, 'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        'total_seconds': total, 'phase_seconds': phases, 'versions': versions(),
        'machine': machine(), 'devices': devices, 'data_dir': data_dir,
        'movielens': {k: ml[k] for k in ('num_users', 'num_items', 'num_ratings', 'sparsity',
                                          'rating_counts')},
        'mf_prediction_user20_item30': mf_nb.get('prediction_user20_item30'),
        'book_table': book_table, 'apples_table': apples_table,
        'fast': {'status': status, 'checks': fast_checks, 'tolerance': FAST_TOLERANCE},
        'tolerances': {f'{k[0]}/{k[1]}': v for k, v in TOLERANCES.items()},
        'not_reproduced': [{'value': w, 'why': y}
                           for w, y in not_reproduced(book_table, apples_table)],
        'files': files, 'failures': failures,
    }
    write_tables(report, out_dir)

    say('')
    say(f'reproduce: finished in {total / 60:.1f} min; results in '
        f'{os.path.relpath(out_dir, ROOT)}/ (rmse.md, rmse.csv, rmse.json, figures)')
    for row in book_table:
        say(f'  {MODELS[row["model"]][0]:22s} {row["split"]:9s}  book metric '
            f'{_pm(row["book_mean"], row["book_std"])}  exact '
            f'{_pm(row["exact_mean"], row["exact_std"])}  (target {row["target"]:.2f} +- '
            f'{row["tolerance"]:.2f}: {"ok" if row["within"] else "OUTSIDE"})')
    for row in apples_table:
        say(f'  apples: {MODELS[row["model"]][0]:22s} {row["split"]:9s}  exact '
            f'{_pm(row["exact_mean"], row["exact_std"])} (n={row["n_seeds"]})')
    if quick:
        say('reproduce: --quick: numbers from 2 epochs; tolerances not checked')
        return 0
    if failures:
        for f in failures:
            say(f'reproduce: OUTSIDE TOLERANCE: {f}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
