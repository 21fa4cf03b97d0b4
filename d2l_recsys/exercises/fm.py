"""The exercises of the section "Factorization Machines": the embedding size against MF's number
of latent factors (``fm-factors``: "can you observe a similar pattern as that of matrix
factorization?"), and FM against DeepFM on the same data (``fm-vs-deepfm``: the section's
"test FM on MovieLens", and the DeepFM section's "compare it with the original FM model").

The runs use MovieLens 100K as click data (``ml100k-ctr``; the book's advertising data, Avazu
and Criteo cannot be fetched everywhere) and are judged by the exact test AUC of the model's
own probability after the book's epochs (higher is better), with its log loss beside:
the book's printed accuracy counts only saturated outputs (docs/ctr.md). :func:`click_run` is
one run; :mod:`~d2l_recsys.exercises.deepfm` uses it too.
"""
import contextlib
import io
import math
import time

from .sweep import best, best_index, errorbar, figure, mean_std

__all__ = ['EXERCISES', 'METRIC', 'click_run', 'click_summary', 'where_best']

# How the click sections' runs are judged (exercises.METRICS): the exact test AUC.
METRIC = {'metric': 'test_auc', 'higher': True}
QUICK_EPOCHS = 2


def click_run(sweep, model, seed, quick, **settings):
    """One fast-path run of the tab's ``train_fm``/``train_deepfm`` with the book's settings
    overridden by ``settings`` (2 epochs when ``quick``), on the click data built from
    ``sweep.data_dir``; its printed lines are dropped. Returns the history (``test_auc``,
    ``test_log_loss``, ... per epoch) with ``total_seconds``; a run whose loss diverges has a
    NaN AUC and log loss."""
    train = getattr(sweep.tab, f'train_{model}')
    tic = time.time()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, history, _ = train(seed=seed, fast=True, plot=False, progress=False,
                                  data_dir=sweep.data_dir,
                                  num_epochs=QUICK_EPOCHS if quick else None, **settings)
    except FloatingPointError as e:   # a diverging setting is an answer too: NaN
        if sweep.log:
            sweep.log(f'  diverged: {e}')
        history = {key: [math.nan] for key in ('test_auc', 'test_log_loss', 'test_accuracy',
                                                'test_acc')}
    history['total_seconds'] = time.time() - tic
    return history


def add_click_run(sweep, config, seed, history):
    """Record one run: its exact test AUC (the sweep's metric), log loss and accuracy at 0.5,
    and the book's test accuracy beside them."""
    sweep.add(config, seed, history['test_auc'][-1], history['total_seconds'],
              test_log_loss=history['test_log_loss'][-1],
              test_accuracy=history['test_accuracy'][-1], book_test_acc=history['test_acc'][-1])


def click_summary(sweep, keys):
    """:meth:`Sweep.summary` with the mean and std of the log loss beside the AUC's."""
    rows = sweep.summary(keys)
    for row in rows:
        runs = [r for r in sweep.rows if all(r.get(k) == row[k] for k in keys)]
        row['test_log_loss_mean'], row['test_log_loss_std'] = mean_std(
            [r['test_log_loss'] for r in runs])
    return rows


def where_best(rows, metric, higher):
    """'the smallest', 'the largest' or 'a middle' (point of a sweep over sizes)."""
    k = best_index(rows, metric, higher)
    return 'the smallest' if k == 0 else 'the largest' if k == len(rows) - 1 else 'a middle'


def fm_factors(sweep, quick):
    """Vary FM's embedding size (the book: 20), and MF's number of latent factors beside it."""
    sizes = (5, 20) if quick else (5, 10, 20, 50, 100)
    for k in sizes:
        for seed in sweep.seeds:
            h = click_run(sweep, 'fm', seed, quick, num_factors=k)
            add_click_run(sweep, {'model': 'FM', 'num_factors': k}, seed, h)
    rows = [dict(r, test_rmse_mean=None, test_rmse_std=None)
            for r in click_summary(sweep, ['model', 'num_factors'])]
    mf = []   # MF on the rating data: the book's settings but the factors, its exact RMSE
    for k in sizes:
        runs = []
        for seed in sweep.seeds:
            _, _, h = sweep.train('mf', seed, settings=dict(
                num_factors=k, num_epochs=QUICK_EPOCHS if quick else None))
            runs.append({'model': 'MF', 'num_factors': k, 'seed': seed,
                         'test_rmse': h['test_rmse_exact'], 'seconds': h['total_seconds']})
            if sweep.log:
                sweep.log(f'  MF, num_factors={k}, seed {seed}: exact test RMSE '
                          f'{h["test_rmse_exact"]:.4f} ({h["total_seconds"]:.1f} s)')
        sweep.rows += runs
        mean, std = mean_std([r['test_rmse'] for r in runs])
        mf.append(dict.fromkeys(rows[0]) | {
            'model': 'MF', 'num_factors': k, 'test_rmse_mean': mean, 'test_rmse_std': std,
            'seconds_mean': mean_std([r['seconds'] for r in runs])[0], 'seeds': len(runs)})
    fig, (ax, ax2, ax3) = figure(3, width=3.6)
    errorbar(ax, rows, 'num_factors', metric='test_auc')
    ax.set(xscale='log', xlabel='embedding size k', ylabel='exact test AUC (higher: better)',
           title='FM (ml100k-ctr)')
    errorbar(ax2, rows, 'num_factors', metric='test_log_loss', fmt='rs-')
    ax2.set(xscale='log', xlabel='embedding size k', ylabel='exact test log loss',
            title='FM: its own probability')
    errorbar(ax3, mf, 'num_factors')
    ax3.set(xscale='log', xlabel='latent factors k', ylabel='exact test RMSE (lower: better)',
            title='MF (ratings, seq-aware split)')
    fig.tight_layout()
    fm_at, mf_at = where_best(rows, 'test_auc', True), where_best(mf, 'test_rmse', False)
    first, last = rows[0], rows[-1]
    line = (f'FM: best {best(rows, ["num_factors"], "test_auc", True)} by the exact test AUC; '
            f'{first["num_factors"]} factors give {first["test_auc_mean"]:.3f} (log loss '
            f'{first["test_log_loss_mean"]:.2f}), {last["num_factors"]} give '
            f'{last["test_auc_mean"]:.3f} ({last["test_log_loss_mean"]:.2f}), a run '
            f'{first["seconds_mean"]:.0f} s and {last["seconds_mean"]:.0f} s. MF (exact RMSE, '
            f'same sizes): best {best(mf, ["num_factors"])}. FM is best at {fm_at} size, '
            f'MF at {mf_at}: '
            + ('two sizes and two epochs show no pattern.' if quick else
               'a similar pattern.' if fm_at == mf_at else 'not the same pattern.'))
    return rows + mf, fig, line


def fm_vs_deepfm(sweep, quick):
    """FM and DeepFM, each with the book's settings, on the same click data; the exact test
    AUC per epoch beside the final numbers."""
    curves = {}
    for model in ('fm', 'deepfm'):
        for seed in sweep.seeds:
            h = click_run(sweep, model, seed, quick)
            add_click_run(sweep, {'model': model}, seed, h)
            curves.setdefault(model, []).append(h['test_auc'])
    rows = click_summary(sweep, ['model'])
    get = {r['model']: r for r in rows}
    names = {'fm': 'FM', 'deepfm': 'DeepFM'}
    fig, (ax, ax2) = figure(2)
    for k, r in enumerate(rows):
        ax.bar(k, r['test_auc_mean'], 0.6, yerr=r['test_auc_std'], capsize=3,
               color=f'C{k}')
        ax.annotate(f'{r["test_auc_mean"]:.3f}\nlog loss {r["test_log_loss_mean"]:.2f}',
                    (k, r['test_auc_mean']), textcoords='offset points', xytext=(0, 6),
                    ha='center', fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([names[r['model']] for r in rows])
    ax.set(ylabel='exact test AUC', ylim=(0.5, 0.85), title='after the book\'s epochs')
    peaks = {}
    for k, (model, runs) in enumerate(curves.items()):
        width = min(len(c) for c in runs)
        mean = [sum(c[e] for c in runs) / len(runs) for e in range(width)]
        ax2.plot(range(1, width + 1), mean, '-', color=f'C{k}', label=names[model])
        top = max(range(width), key=lambda e: mean[e] if math.isfinite(mean[e]) else -1)
        peaks[model] = (top + 1, mean[top])
    ax2.set(xlabel='epoch', ylabel='exact test AUC (mean over seeds)', title='per epoch')
    ax2.legend()
    fig.tight_layout()
    fm, deep = get['fm'], get['deepfm']
    ahead = 'DeepFM' if deep['test_auc_mean'] > fm['test_auc_mean'] else 'FM'
    line = (f'Exact test AUC: DeepFM {deep["test_auc_mean"]:.3f}, FM {fm["test_auc_mean"]:.3f} '
            f'({ahead} ahead by {abs(deep["test_auc_mean"] - fm["test_auc_mean"]):.3f}); log '
            f'loss {deep["test_log_loss_mean"]:.2f} and {fm["test_log_loss_mean"]:.2f}. Their '
            f'AUC peaks at epoch {peaks["deepfm"][0]} ({peaks["deepfm"][1]:.3f}) and '
            f'{peaks["fm"][0]} ({peaks["fm"][1]:.3f})'
            + (': both end below their peak, as the double sigmoid keeps pushing the outputs '
               'to 0 and 1.' if not quick and all(p[0] < len(curves[m][0])
                                                 for m, p in peaks.items()) else '.'))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'fm-factors': ('FM', 'Vary the embedding size (and MF\'s latent factors beside it)',
                   fm_factors, 2),
    'fm-vs-deepfm': ('FM', 'FM against DeepFM on the same click data', fm_vs_deepfm, 3),
}
