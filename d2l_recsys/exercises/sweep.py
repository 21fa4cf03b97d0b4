"""What every exercise's sweep shares: the runs and their means over seeds (:class:`Sweep`),
the figure, the table files (:func:`write`), and the words on the best point.

Framework-free: a sweep calls the tab's experiments module (``sweep.tab``), so another tab runs
the same sweeps.
"""
import contextlib
import csv
import io
import math
import os
import time

from ..atomic import atomic_write_text
from ..plotting import save_figure

__all__ = ['OUT', 'HR10', 'Sweep', 'mean_std', 'figure', 'fmt', 'write', 'errorbar', 'shape',
           'best_index', 'best']

OUT = os.path.join('results', 'exercises')
# What the ranking sections' runs are judged by (:data:`d2l_recsys.exercises.METRICS`): the
# exact test HR@10 (every unseen item ranked, ties at their mean), higher is better.
HR10 = {'metric': 'hr10', 'higher': True}


def mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


class Sweep:
    """Runs of one exercise: a row per (configuration, seed); means over seeds.

    ``metric`` names what each run is judged by (the rating sections' exact test RMSE by
    default), ``higher`` whether more of it is better; :meth:`summary` gives
    ``<metric>_mean`` and ``<metric>_std``."""

    def __init__(self, tab, data_dir, seeds, log, *, metric='test_rmse', higher=False):
        self.tab, self.data_dir, self.seeds, self.log = tab, data_dir, list(seeds), log
        self.metric, self.higher = metric, higher
        self.rows = []

    def train(self, model, seed, *, settings=None, user_based=False, **options):
        """One fast-path run with the book's settings overridden by ``settings``; returns
        ``(net, run_data, history)`` with the exact test RMSE after the last epoch."""
        from ..experiments import check_settings
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

    def train_ranking(self, model, seed, quick=False, **options):
        """One fast-path run of a ranking model (``'neumf'``, ``'caser'``: the tab's
        ``train_neumf``, ``train_caser``) with the book's settings and ``options`` over them
        (its keywords; ``quick``: 2 epochs); returns its history with ``hr10``, ``ndcg10``
        and ``auc``, the exact test metrics after the last epoch (NaN where it diverged), and
        ``total_seconds``. The book's printed lines are left out."""
        tic = time.time()
        if quick:
            options['num_epochs'] = 2
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                _, history, _ = getattr(self.tab, f'train_{model}')(
                    seed=seed, fast=True, data_dir=self.data_dir, plot=False, progress=False,
                    **options)
            last = history['exact'][-1]
            history.update(hr10=last['hr@10'], ndcg10=last['ndcg@10'], auc=last['auc'])
        except FloatingPointError as e:   # a diverging setting is an answer too: NaN
            if self.log:
                self.log(f'  diverged: {e}')
            history = {'hr10': math.nan, 'ndcg10': math.nan, 'auc': math.nan}
        history['total_seconds'] = time.time() - tic
        return history

    def ranking_grid(self, model, quick, configs, keys):
        """Every ``(config, options)`` of ``configs`` over the seeds
        (:meth:`train_ranking`; ``config``: what the tables show, ``options``: the keywords
        of the tab's ``train_<model>``), each judged by its exact HR@10 with its AUC and
        NDCG@10 beside; returns :meth:`summary` over ``keys`` (with ``auc_mean`` and
        ``ndcg10_mean``)."""
        for config, options in configs:
            for seed in self.seeds:
                h = self.train_ranking(model, seed, quick, **options)
                self.add(config, seed, h['hr10'], h['total_seconds'], auc=h['auc'],
                         ndcg10=h['ndcg10'])
        return self.summary(keys, extra=('auc', 'ndcg10'))

    def add(self, config, seed, value, seconds, **extra):
        """One run of ``config`` with ``seed``: its ``metric`` value, seconds and any extra
        numbers."""
        row = dict(config, seed=seed, **{self.metric: value}, seconds=seconds, **extra)
        self.rows.append(row)
        if self.log:
            shown = ', '.join(f'{k}={v}' for k, v in config.items())
            more = ''.join(f', {k} {v:.4f}' for k, v in extra.items() if isinstance(v, float))
            what = 'test RMSE' if self.metric == 'test_rmse' else self.metric
            self.log(f'  {shown}, seed {seed}: {what} {value:.4f}{more} ({seconds:.1f} s)')

    def summary(self, keys, extra=()):
        """One row per configuration (``keys`` identify it): mean and std over seeds, and the
        means of the ``extra`` numbers each run added (``<name>_mean``)."""
        groups = {}
        for row in self.rows:
            groups.setdefault(tuple(row[k] for k in keys), []).append(row)
        out = []
        for key, rows in groups.items():
            mean, std = mean_std([r[self.metric] for r in rows])
            out.append(dict(zip(keys, key), **{f'{self.metric}_mean': mean,
                                               f'{self.metric}_std': std},
                            **{f'{name}_mean': mean_std([r[name] for r in rows])[0]
                               for name in extra},
                            seconds_mean=mean_std([r['seconds'] for r in rows])[0],
                            seeds=len(rows)))
        return out


def figure(ncols=1, width=4.5, height=3.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width * ncols, height))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def fmt(value):
    if isinstance(value, float):
        if value and abs(value) < 1e-3:   # a weight decay: 1e-05, not 0.0000
            return f'{value:g}'
        return f'{value:.4f}' if abs(value) < 100 else f'{value:.1f}'
    return '' if value is None else str(value)


def write(out, name, title, summary_rows, runs, figure, line, notes=''):
    """Write NAME.png/.svg, NAME.md (title, line, summary table, notes), NAME.csv (runs)."""
    os.makedirs(out, exist_ok=True)
    paths = save_figure(figure, os.path.join(out, name))
    keys = list(summary_rows[0]) if summary_rows else []
    md = [f'# {title}', '', line, '', '| ' + ' | '.join(keys) + ' |',
          '|' + '---|' * len(keys)]
    md += ['| ' + ' | '.join(fmt(r[k]) for k in keys) + ' |' for r in summary_rows]
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


def errorbar(ax, rows, x, label=None, fmt='o-', metric='test_rmse'):
    """Mean and std over seeds of ``metric`` against ``x``, one point per row."""
    xs = [r[x] for r in rows]
    ax.errorbar(xs, [r[f'{metric}_mean'] for r in rows],
                yerr=[r[f'{metric}_std'] for r in rows], fmt=fmt, capsize=3, label=label)


def shape(rows, key, metric='test_rmse', higher=False):
    """A few words on where the best point of a one-dimensional sweep lies."""
    k = best_index(rows, metric, higher)
    if len(rows) < 3:
        return ''
    if k == 0:
        return f' The smallest {key} is best here: larger ones over-fit in the book\'s epochs.'
    if k == len(rows) - 1:
        return f' The largest {key} is best: more capacity still helps.'
    name = 'RMSE' if metric == 'test_rmse' else metric
    return (f' The {name} {"rises" if higher else "falls"} up to {rows[k][key]} and '
            f'{"falls" if higher else "rises"} after it (under- then over-fitting).')


def best_index(rows, metric='test_rmse', higher=False):
    """The index of the row with the best mean ``metric`` (NaN, a diverged run, never)."""
    values = [r[f'{metric}_mean'] for r in rows]
    order = [j for j in range(len(rows)) if math.isfinite(values[j])] or list(range(len(rows)))
    return (max if higher else min)(order, key=lambda j: values[j])


def best(rows, keys, metric='test_rmse', higher=False):
    """'num_factors 30 (0.912)': the best row's ``keys`` and its mean ``metric``."""
    row = rows[best_index(rows, metric, higher)]
    return ', '.join(f'{k} {row[k]}' for k in keys) + f' ({row[f"{metric}_mean"]:.3f})'
