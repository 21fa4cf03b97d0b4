"""The exercises of the MF and AutoRec sections, each as a sweep with a figure and a table.

``python -m d2l_recsys exercises [NAME] [--quick]`` (``make exercises``) runs them on the fast
path with the book's settings except for what the exercise varies, over several seeds, and
writes to ``results/exercises/``: ``NAME.png``/``.svg`` (the figure that answers it),
``NAME.md`` and ``NAME.csv`` (mean and standard deviation over seeds, and every run), and
``summary.md`` with one line per exercise saying what the sweep shows. As in the book's
exercises, the runs are judged by the test RMSE after the book's number of epochs (exact, over
the whole test split); choosing settings by it would be tuning on the test set, which is what
``python -m d2l_recsys tune`` avoids.

Framework-free: the sweeps call the tab's experiments module (``tab``: ``set_seed``,
``read_run_data``, ``fit``, ``test_rmse``), so another tab runs the same sweeps.

MF (:numref:`sec_mf`): ``mf-factors`` (the number of latent factors), ``mf-optimizers``
(optimizers, learning rates and weight decays), ``mf-predictions`` (one film's predicted
rating across users, against their biases), ``mf-running-rmse`` (the book's evaluator against
the exact RMSE as the test batch size changes). AutoRec (:numref:`sec_autorec`):
``autorec-hidden`` (the hidden dimension), ``autorec-layers`` (more hidden layers),
``autorec-activations`` (encoder and decoder activations), ``autorec-seq-aware`` (AutoRec
against MF on both splits).
"""
import csv
import io
import math
import os
import re
import time

import numpy

from . import metrics
from .atomic import atomic_write_text, check_output_dir, read_regular
from .defaults import BOOK
from .plotting import save_figure

__all__ = ['EXERCISES', 'run', 'run_all']

OUT = os.path.join('results', 'exercises')


def _mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


class Sweep:
    """Runs of one exercise: a row per (configuration, seed); means over seeds."""

    def __init__(self, tab, data_dir, seeds, log):
        self.tab, self.data_dir, self.seeds, self.log = tab, data_dir, list(seeds), log
        self.rows = []

    def train(self, model, seed, *, settings=None, user_based=False, **options):
        """One fast-path run with the book's settings overridden by ``settings``; returns
        ``(net, run_data, history)`` with the exact test RMSE after the last epoch."""
        from .experiments import check_settings
        s = check_settings(model, **(settings or {}))
        self.tab.set_seed(seed)
        run_data = self.tab.read_run_data(self.data_dir, s['split_mode'], s['test_ratio'])
        tic = time.time()
        try:
            net, history = self.tab.fit(model, s, run_data, user_based=user_based,
                                        verbose=False, **options)
        except FloatingPointError as e:   # a diverging setting is an answer too: NaN
            if self.log:
                self.log(f'  diverged: {e}')
            net, history = None, {'test_rmse_exact': math.nan}
        history['total_seconds'] = time.time() - tic
        return net, run_data, history

    def add(self, config, seed, rmse, seconds, **extra):
        row = dict(config, seed=seed, test_rmse=rmse, seconds=seconds, **extra)
        self.rows.append(row)
        if self.log:
            shown = ', '.join(f'{k}={v}' for k, v in config.items())
            more = ''.join(f', {k} {v:.4f}' for k, v in extra.items() if isinstance(v, float))
            self.log(f'  {shown}, seed {seed}: test RMSE {rmse:.4f}{more} ({seconds:.1f} s)')

    def summary(self, keys):
        """One row per configuration (``keys`` identify it): mean and std over seeds."""
        groups = {}
        for row in self.rows:
            groups.setdefault(tuple(row[k] for k in keys), []).append(row)
        out = []
        for key, rows in groups.items():
            mean, std = _mean_std([r['test_rmse'] for r in rows])
            out.append(dict(zip(keys, key), test_rmse_mean=mean, test_rmse_std=std,
                            seconds_mean=_mean_std([r['seconds'] for r in rows])[0],
                            seeds=len(rows)))
        return out


def _figure(ncols=1, width=4.5, height=3.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width * ncols, height))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def _fmt(value):
    if isinstance(value, float):
        return f'{value:.4f}' if abs(value) < 100 else f'{value:.1f}'
    return '' if value is None else str(value)


def _write(out, name, title, summary_rows, runs, figure, line, notes=''):
    """Write NAME.png/.svg, NAME.md (title, line, summary table, notes), NAME.csv (runs)."""
    os.makedirs(out, exist_ok=True)
    paths = save_figure(figure, os.path.join(out, name))
    keys = list(summary_rows[0]) if summary_rows else []
    md = [f'# {title}', '', line, '', '| ' + ' | '.join(keys) + ' |',
          '|' + '---|' * len(keys)]
    md += ['| ' + ' | '.join(_fmt(r[k]) for k in keys) + ' |' for r in summary_rows]
    if notes:
        md += ['', notes]
    md += ['', f'Figure: `{name}.png`, `{name}.svg`; every run: `{name}.csv`.', '']
    atomic_write_text(os.path.join(out, f'{name}.md'), '\n'.join(md))
    buf = io.StringIO()
    if runs:
        fields = list(dict.fromkeys(k for r in runs for k in r))
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(runs)
    atomic_write_text(os.path.join(out, f'{name}.csv'), buf.getvalue())
    return paths + [os.path.join(out, f'{name}.md'), os.path.join(out, f'{name}.csv')]


def _errorbar(ax, rows, x, label=None, fmt='o-'):
    xs = [r[x] for r in rows]
    ax.errorbar(xs, [r['test_rmse_mean'] for r in rows], yerr=[r['test_rmse_std'] for r in rows],
                fmt=fmt, capsize=3, label=label)


def _shape(rows, key):
    """A few words on where the best point of a one-dimensional sweep lies."""
    k = min(range(len(rows)), key=lambda j: rows[j]['test_rmse_mean'])
    if len(rows) < 3:
        return ''
    if k == 0:
        return f' The smallest {key} is best here: larger ones over-fit in the book\'s epochs.'
    if k == len(rows) - 1:
        return f' The largest {key} is best: more capacity still helps.'
    return (f' The RMSE falls up to {rows[k][key]} and rises after it (under- then '
            f'over-fitting).')


def _best(rows, keys):
    best = min(rows, key=lambda r: r['test_rmse_mean'])
    return ', '.join(f'{k} {best[k]}' for k in keys) + f' ({best["test_rmse_mean"]:.3f})'


# ----------------------------------------------------------------------------- MF

def mf_factors(sweep, quick):
    """Vary the number of latent factors (book settings otherwise, seq-aware split)."""
    sizes = (5, 30) if quick else (5, 10, 20, 30, 50, 100)
    for k in sizes:
        for seed in sweep.seeds:
            _, _, h = sweep.train('mf', seed, settings=dict(num_factors=k,
                                                            num_epochs=2 if quick else None))
            sweep.add({'num_factors': k}, seed, h['test_rmse_exact'], h['total_seconds'])
    rows = sweep.summary(['num_factors'])
    fig, (ax, ax2) = _figure(2)
    _errorbar(ax, rows, 'num_factors')
    ax.set(xscale='log', xlabel='latent factors k', ylabel='exact test RMSE')
    ax2.plot([r['num_factors'] for r in rows], [r['seconds_mean'] for r in rows], 'o-')
    ax2.set(xscale='log', xlabel='latent factors k', ylabel='seconds per run')
    first, last = rows[0], rows[-1]
    line = (f'Best {_best(rows, ["num_factors"])}; {first["num_factors"]} factors give '
            f'{first["test_rmse_mean"]:.3f}, {last["num_factors"]} give '
            f'{last["test_rmse_mean"]:.3f}; a run takes {first["seconds_mean"]:.1f} s and '
            f'{last["seconds_mean"]:.1f} s.' + _shape(rows, 'num_factors'))
    return rows, fig, line


MF_OPTIMIZERS = {'adam': (0.0005, 0.002, 0.008), 'rmsprop': (0.0005, 0.002, 0.008),
                 'adagrad': (0.01, 0.04, 0.16), 'sgd': (2.0, 8.0, 32.0)}


def mf_optimizers(sweep, quick):
    """Optimizers x learning rates x weight decays (the book: Adam, lr 0.002, wd 1e-5)."""
    grid = {'adam': (0.002,), 'sgd': (8.0,)} if quick else MF_OPTIMIZERS
    wds = (1e-5,) if quick else (1e-5, 1e-4)
    for wd in wds:
        for opt, lrs in grid.items():
            for lr in lrs:
                for seed in sweep.seeds:
                    _, _, h = sweep.train('mf', seed, optimizer=opt, settings=dict(
                        lr=lr, wd=wd, num_epochs=2 if quick else None))
                    sweep.add({'optimizer': opt, 'lr': lr, 'wd': wd}, seed,
                              h['test_rmse_exact'], h['total_seconds'])
    rows = sweep.summary(['optimizer', 'lr', 'wd'])
    fig, axes = _figure(len(wds))
    for ax, wd in zip(axes, wds):
        for opt in grid:
            _errorbar(ax, [r for r in rows if r['optimizer'] == opt and r['wd'] == wd], 'lr',
                      label=opt)
        ax.set(xscale='log', xlabel='learning rate', ylabel='exact test RMSE',
               title=f'weight decay {wd:g}')
        ax.set_ylim(top=min(ax.get_ylim()[1], 2.0))
        ax.legend()
    book = [r for r in rows if r['optimizer'] == 'adam' and r['lr'] == 0.002 and r['wd'] == 1e-5]
    per_opt = '; '.join(
        f'{opt} {_best([r for r in rows if r["optimizer"] == opt], ["lr", "wd"])}'
        for opt in grid)
    line = (f'Best {_best(rows, ["optimizer", "lr", "wd"])} against the book\'s Adam, lr '
            f'0.002, wd 1e-5 ({book[0]["test_rmse_mean"]:.3f}). Best per optimizer: {per_opt}. '
            'Each optimizer has its own learning-rate grid (' + ', '.join(
                f'{opt} {min(lrs):g}-{max(lrs):g}' for opt, lrs in grid.items()) + ').')
    return rows, fig, line


def mf_predictions(sweep, quick):
    """One film's predicted rating for every user, against the users' learned biases."""
    seed = sweep.seeds[0]
    net, run_data, h = sweep.train('mf', seed, settings=dict(num_epochs=2 if quick else None))
    users, items, ratings = (numpy.asarray(a) for a in run_data.train[:3])
    counts = numpy.bincount(items, minlength=run_data.num_items)
    film = int(counts.argmax())    # the film with most training ratings
    all_users = numpy.arange(run_data.num_users)
    pred = sweep.tab.predict(net, all_users, numpy.full_like(all_users, film))
    bias = sweep.tab.user_bias(net)
    rated = {int(u): float(r) for u, i, r in zip(users, items, ratings) if i == film}
    for u in all_users:
        sweep.rows.append({'user_id': int(u) + 1, 'item_id': film + 1,
                           'predicted': float(pred[u]), 'user_bias': float(bias[u]),
                           'rated_in_training': rated.get(int(u))})
    corr = float(numpy.corrcoef(pred, bias)[0, 1])
    seen = numpy.array(sorted(rated))
    fig, (ax, ax2) = _figure(2)
    ax.hist(pred, bins=30)
    ax.set(xlabel=f'predicted rating of item {film + 1}', ylabel='users')
    ax2.scatter(bias, pred, s=4, alpha=0.5, label='all users')
    ax2.scatter(bias[seen], [rated[u] for u in seen], s=4, alpha=0.5, label='their rating')
    ax2.set(xlabel='user bias $b_u$', ylabel='rating')
    ax2.legend()
    rows = [{'item_id': film + 1, 'users': run_data.num_users,
             'rated_in_training': len(rated), 'predicted_mean': float(pred.mean()),
             'predicted_std': float(pred.std()), 'predicted_min': float(pred.min()),
             'predicted_max': float(pred.max()), 'corr_with_user_bias': corr,
             'train_mean_rating': float(numpy.mean(list(rated.values())))}]
    line = (f'Item {film + 1} (most rated): predictions for the {run_data.num_users} users '
            f'span {pred.min():.2f} to {pred.max():.2f} (mean {pred.mean():.2f}, its training '
            f'mean {rows[0]["train_mean_rating"]:.2f}); their correlation with the user bias '
            f'b_u is {corr:.2f}' + (': users who rate high get a higher prediction.'
                                    if corr > 0.5 else '.'))
    return rows, fig, line


def mf_running_rmse(sweep, quick):
    """The book's MF evaluator (mean of running RMSEs) against the exact test RMSE."""
    sizes = (1, 64, 512, 4096) if quick else (1, 16, 64, 256, 512, 1024, 4096, 100000)
    for seed in sweep.seeds:
        net, run_data, _ = sweep.train('mf', seed, settings=dict(
            num_epochs=2 if quick else None))
        u, i, r = (numpy.asarray(a) for a in run_data.test[:3])
        pred = sweep.tab.predict(net, u, i)
        exact = metrics.rmse(pred, r)
        for b in sizes:
            book = metrics.book_running_rmse(pred, r, b, 1)
            sweep.add({'test_batch_size': b}, seed, exact, 0., book_rmse=book,
                      difference=book - exact)
    rows = []
    for b in sizes:
        runs = [x for x in sweep.rows if x['test_batch_size'] == b]
        rows.append({'test_batch_size': b,
                     'book_rmse_mean': _mean_std([x['book_rmse'] for x in runs])[0],
                     'exact_rmse_mean': _mean_std([x['test_rmse'] for x in runs])[0],
                     'difference_mean': _mean_std([x['difference'] for x in runs])[0]})
    fig, (ax,) = _figure()
    ax.plot(sizes, [r['book_rmse_mean'] for r in rows], 'o-', label="book's evaluator")
    ax.plot(sizes, [r['exact_rmse_mean'] for r in rows], 'k--', label='exact RMSE')
    ax.set(xscale='log', xlabel='test batch size', ylabel='test RMSE')
    ax.legend()
    n = len(run_data.test[0])
    line = (f'The book\'s number is a mean of running batch RMSEs: it is {rows[0]["difference_mean"]:+.3f} '
            f'off the exact RMSE with batches of {sizes[0]}, and equal to it once one batch '
            f'holds all {n} test ratings.')
    return rows, fig, line


# ----------------------------------------------------------------------------- AutoRec

def _autorec_sweep(sweep, quick, configs, key):
    for label, settings, layers in configs:
        for seed in sweep.seeds:
            s = dict(settings, num_epochs=2 if quick else None)
            _, _, h = sweep.train('autorec', seed, settings=s, **layers)
            sweep.add({key: label}, seed, h['test_rmse_exact'], h['total_seconds'])
    return sweep.summary([key])


def autorec_hidden(sweep, quick):
    """Vary the hidden dimension (book settings otherwise, random split)."""
    sizes = (100, 500) if quick else (50, 100, 200, 500, 1000)
    rows = _autorec_sweep(sweep, quick, [(k, {'num_hidden': k}, {}) for k in sizes],
                          'num_hidden')
    fig, (ax, ax2) = _figure(2)
    _errorbar(ax, rows, 'num_hidden')
    ax.set(xscale='log', xlabel='hidden units', ylabel='exact test RMSE')
    ax2.plot(sizes, [r['seconds_mean'] for r in rows], 'o-')
    ax2.set(xscale='log', xlabel='hidden units', ylabel='seconds per run')
    line = (f'Best {_best(rows, ["num_hidden"])}, the book\'s 500: '
            f'{[r for r in rows if r["num_hidden"] == 500][0]["test_rmse_mean"]:.3f}; a run '
            f'takes {rows[0]["seconds_mean"]:.1f} s at {sizes[0]} units and '
            f'{rows[-1]["seconds_mean"]:.1f} s at {sizes[-1]}.' + _shape(rows, 'num_hidden'))
    return rows, fig, line


def autorec_layers(sweep, quick):
    """More hidden layers between the encoder and the decoder."""
    stacks = [(), (500,)] if quick else [(), (100,), (250,), (500,), (500, 500)]
    configs = [('500' + ''.join(f'-{h}' for h in st), {}, {'hidden_layers': st})
               for st in stacks]
    rows = _autorec_sweep(sweep, quick, configs, 'layers')
    fig, (ax,) = _figure()
    ax.errorbar(range(len(rows)), [r['test_rmse_mean'] for r in rows],
                yerr=[r['test_rmse_std'] for r in rows], fmt='o', capsize=3)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r['layers'] for r in rows], rotation=20)
    ax.set(xlabel='hidden layer sizes', ylabel='exact test RMSE')
    base = rows[0]['test_rmse_mean']
    best = min(rows, key=lambda r: r['test_rmse_mean'])
    line = (f'One hidden layer (the book\'s 500) gives {base:.3f}; the best stack is '
            f'{best["layers"]} ({best["test_rmse_mean"]:.3f}): with 1,682 item rows to learn '
            f'from, extra '
            + ('layers help a little.' if best['test_rmse_mean'] < base - 0.005 else
               'layers do not help.'))
    return rows, fig, line


ENCODERS = ('sigmoid', 'tanh', 'relu', 'softrelu')
DECODERS = (None, 'relu', 'softrelu', 'sigmoid')


def autorec_activations(sweep, quick):
    """Encoder x decoder activations (the book: sigmoid encoder, identity decoder)."""
    encs, decs = (('sigmoid', 'relu'), (None, 'sigmoid')) if quick else (ENCODERS, DECODERS)
    configs = [(f'{e}/{d or "identity"}', {},
                {'encoder_activation': e, 'decoder_activation': d})
               for e in encs for d in decs]
    rows = _autorec_sweep(sweep, quick, configs, 'encoder/decoder')
    grid = numpy.array([[r['test_rmse_mean'] for r in rows[k * len(decs):(k + 1) * len(decs)]]
                        for k in range(len(encs))])
    fig, (ax,) = _figure(width=5, height=3.8)
    shown = numpy.minimum(grid, 1.5)
    im = ax.imshow(shown, cmap='viridis_r')
    for a in range(len(encs)):
        for b in range(len(decs)):
            ax.text(b, a, f'{grid[a, b]:.3f}', ha='center', va='center', fontsize=8,
                    color='w' if shown[a, b] > shown.mean() else 'k')
    ax.set_xticks(range(len(decs)))
    ax.set_xticklabels([d or 'identity' for d in decs])
    ax.set_yticks(range(len(encs)))
    ax.set_yticklabels(encs)
    ax.set(xlabel='decoder activation', ylabel='encoder activation')
    fig.colorbar(im, ax=ax, label='exact test RMSE (capped at 1.5)')
    book = grid[list(encs).index('sigmoid'), list(decs).index(None)]
    line = (f'Best {_best(rows, ["encoder/decoder"])} against the book\'s sigmoid/identity '
            f'({book:.3f}); a sigmoid decoder cannot output ratings above 1, so it fails; '
            f'unbounded decoders (identity, relu, softrelu) can reach 1 to 5.')
    return rows, fig, line


def autorec_seq_aware(sweep, quick):
    """Item-based AutoRec and MF, book settings, on both splits."""
    for model in ('mf', 'autorec'):
        for split in ('random', 'seq-aware'):
            for seed in sweep.seeds:
                _, _, h = sweep.train(model, seed, settings=dict(
                    split_mode=split, num_epochs=2 if quick else None))
                sweep.add({'model': model, 'split': split}, seed, h['test_rmse_exact'],
                          h['total_seconds'])
    rows = sweep.summary(['model', 'split'])
    fig, (ax,) = _figure()
    for k, model in enumerate(('mf', 'autorec')):
        part = [r for r in rows if r['model'] == model]
        ax.bar([j + 0.38 * k for j in range(len(part))], [r['test_rmse_mean'] for r in part],
               0.36, yerr=[r['test_rmse_std'] for r in part], capsize=3,
               label={'mf': 'MF', 'autorec': 'AutoRec (item-based)'}[model])
    ax.set_xticks([0.19, 1.19])
    ax.set_xticklabels(['random split', 'seq-aware split'])
    ax.set(ylabel='exact test RMSE', ylim=(0.8, 1.15))
    ax.legend()
    get = {(r['model'], r['split']): r['test_rmse_mean'] for r in rows}
    line = (f'Random split: AutoRec {get["autorec", "random"]:.3f}, MF {get["mf", "random"]:.3f}; '
            f'seq-aware: AutoRec {get["autorec", "seq-aware"]:.3f}, MF '
            f'{get["mf", "seq-aware"]:.3f}. Predicting each user\'s latest rating is harder '
            f'for both; the ranking of the two models '
            + ('stays the same.' if (get['autorec', 'random'] < get['mf', 'random']) ==
               (get['autorec', 'seq-aware'] < get['mf', 'seq-aware']) else 'changes.'))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'mf-factors': ('MF', 'Vary the number of latent factors', mf_factors, 3),
    'mf-optimizers': ('MF', 'Other optimizers, learning rates and weight decays',
                      mf_optimizers, 2),
    'mf-predictions': ('MF', 'Predicted ratings of one movie for other users', mf_predictions,
                       1),
    'mf-running-rmse': ("MF", "The book's evaluator against the exact RMSE", mf_running_rmse,
                        3),
    'autorec-hidden': ('AutoRec', 'Vary the hidden dimension', autorec_hidden, 3),
    'autorec-layers': ('AutoRec', 'Add hidden layers', autorec_layers, 3),
    'autorec-activations': ('AutoRec', 'A better pair of encoder and decoder activations',
                            autorec_activations, 2),
    'autorec-seq-aware': ('AutoRec', 'AutoRec against MF on the seq-aware split',
                          autorec_seq_aware, 3),
}


def run(name, *, tab, quick=False, seeds=None, data_dir=None, out=OUT, log=None):
    """Run exercise ``name``; write its figure and table to ``out``; return its summary line."""
    if name not in EXERCISES:
        raise ValueError(f'unknown exercise {name!r}; one of {", ".join(EXERCISES)}')
    section, title, function, n_seeds = EXERCISES[name]
    if seeds is None:
        seeds = range(1 if quick else n_seeds)
    sweep = Sweep(tab, data_dir, seeds, log)
    if log:
        log(f'{name}: {title} (seeds {list(sweep.seeds)})')
    tic = time.time()
    rows, fig, line = function(sweep, quick)
    seconds = time.time() - tic
    notes = (f'{section} section exercise; book settings except what is varied; seeds '
             f'{list(sweep.seeds)}; fast path, {seconds:.0f} s'
             + (' (quick: 2 epochs, fewer points; not a result)' if quick else '') + '.')
    paths = _write(out, name, title, rows, sweep.rows, fig, line, notes)
    return {'name': name, 'section': section, 'title': title, 'line': line,
            'seconds': seconds, 'files': paths}


SUMMARY = 'summary.md'
_SUMMARY_LINE = re.compile(r'- \*\*(?P<name>[a-z0-9-]+)\*\* ')


def _summary_lines(path):
    """``{name: line}`` of an earlier ``summary.md`` (only exercises that still exist), so
    that rerunning some exercises keeps the others' lines; {} when there is none."""
    try:
        text = read_regular(path, limit=1 << 20).decode('utf-8')
    except (OSError, ValueError):
        return {}
    lines = {}
    for line in text.splitlines():
        m = _SUMMARY_LINE.match(line)
        if m and m['name'] in EXERCISES:
            lines[m['name']] = line
    return lines


def run_all(names=None, *, tab, quick=False, data_dir=None, out=OUT, log=None):
    """Run the exercises ``names`` (default: all) and write ``out/summary.md``: their lines,
    and the lines an earlier run there wrote for the others (a quick run's marked as such).
    ``out`` is checked before the first sweep."""
    check_output_dir(out, 'exercises: out')
    done = [run(n, tab=tab, quick=quick, data_dir=data_dir, out=out, log=log)
            for n in (names or list(EXERCISES))]
    lines = _summary_lines(os.path.join(out, SUMMARY))
    mark = '; quick: plumbing only, not a result' if quick else ''
    lines.update({d['name']: f'- **{d["name"]}** ({d["title"]}, {d["seconds"]:.0f} s{mark}): '
                             f'{d["line"]}' for d in done})
    text = ['# The exercises of the MF and AutoRec sections', '',
            'One line per exercise: what its sweep shows (`python -m d2l_recsys exercises '
            'NAME` reruns one, and keeps the other lines).', '']
    text += [lines[name] for name in EXERCISES if name in lines]
    atomic_write_text(os.path.join(out, SUMMARY), '\n'.join(text) + '\n')
    return done
