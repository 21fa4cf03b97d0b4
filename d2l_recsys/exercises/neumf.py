"""The exercises of the section "Neural Collaborative Filtering for Personalized Ranking": the
size of the latent factors (``neumf-factors``), the MLP's architecture (``neumf-mlp``),
optimizers, learning rates and weight decays (``neumf-optimizers``), and the hinge loss
against BPR (``neumf-hinge``). Each run is judged by its exact test HR@10 after the book's 10
epochs (every item the user has not trained on ranked, ties at their mean), its AUC beside.

With the book's weight decay (1e-5) NeuMF learns nothing: after training every score is
exactly 0.5 (Adam turns the decay, larger than the data's first gradients, into full-size
steps towards zero: docs/ranking-presets.md), so every point scores HR@10 0.006 and AUC 0.500
whatever the exercise varies. The sweeps vary what the exercise asks with the book's settings,
and again with ``wd = 0`` where that answers the question; ``neumf-optimizers`` shows which
weight decays let NeuMF learn.
"""
import math

from ..defaults import BOOK
from .sweep import HR10, best, best_index, errorbar, figure, shape

__all__ = ['EXERCISES', 'METRIC', 'NEUMF_OPTIMIZERS', 'collapsed']

METRIC = HR10
BOOK_WD = BOOK['neumf']['wd']
WDS = (BOOK_WD, 0.0)   # the book's weight decay, and none


def collapsed(row):
    """Whether a summary row's model learned nothing: its exact AUC is 0.5 (to 0.005), what a
    model that scores every item alike gets."""
    return math.isfinite(row['auc_mean']) and abs(row['auc_mean'] - 0.5) <= 0.005


def _wd_label(wd):
    return f"wd {wd:g} (the book's)" if wd == BOOK_WD else f'wd {wd:g}'


def _point(row, key):
    return f'{key} {row[key]} (HR@10 {row["hr10_mean"]:.3f}, AUC {row["auc_mean"]:.3f})'


def _book_words(rows, key):
    """What the sweep's points with the book's weight decay show: the collapse, or a best."""
    dead = [r for r in rows if collapsed(r)]
    if rows and len(dead) == len(rows):
        return (f"With the book's wd {BOOK_WD:g} every {key} tried "
                f"({', '.join(str(r[key]) for r in rows)}) scores HR@10 "
                f"{rows[0]['hr10_mean']:.3f} and AUC {rows[0]['auc_mean']:.3f}: NeuMF learned "
                'nothing (every score the same), so at the book\'s settings this sweep cannot '
                'answer the exercise; neumf-optimizers shows the weight decays that let it '
                'learn.')
    words = f"With the book's wd {BOOK_WD:g}: best {_point(rows[best_index(rows, 'hr10', True)], key)}"
    if dead:
        words += f'; {len(dead)} of {len(rows)} points learned nothing (AUC 0.500)'
    return words + '.'


def _free_words(rows, key):
    """What the points with ``wd = 0`` show."""
    if not rows:
        return ''
    learned = [r for r in rows if not collapsed(r)]
    verb = ('it learns' if len(learned) == len(rows) else
            f'{len(learned)} of {len(rows)} points learn' if learned else 'it learns nothing')
    return (f' With wd 0 {verb}: best {_point(rows[best_index(rows, "hr10", True)], key)}.'
            + shape(rows, key, 'hr10', True).replace('hr10', 'HR@10'))


def _two_series(sweep, quick, key, values, option, label=str):
    """``option`` (a keyword of ``train_neumf``) over ``values`` (shown as ``label(value)``
    under ``key``), with the book's weight decay and with none."""
    configs = [({'wd': wd, key: label(v)}, {'wd': wd, option: v})
               for wd in WDS for v in values]
    return sweep.ranking_grid('neumf', quick, configs, ['wd', key])


def _hr_auc_axes(axes, xlabel, xscale='linear'):
    (ax, ax2) = axes
    ax.set(xscale=xscale, xlabel=xlabel, ylabel='exact test HR@10')
    ax2.set(xscale=xscale, xlabel=xlabel, ylabel='exact test AUC', ylim=(0.45, 1.0))
    ax.legend(fontsize=7)
    ax2.legend(fontsize=7)


def neumf_factors(sweep, quick):
    """Vary the number of latent factors (the book: 10), with the book's wd and with none."""
    sizes = (5, 10) if quick else (5, 10, 20, 40, 80)
    rows = _two_series(sweep, quick, 'num_factors', sizes, 'num_factors')
    fig, axes = figure(2)
    for wd in WDS:
        part = [r for r in rows if r['wd'] == wd]
        errorbar(axes[0], part, 'num_factors', label=_wd_label(wd), metric='hr10')
        axes[1].plot([r['num_factors'] for r in part], [r['auc_mean'] for r in part], 'o-',
                     label=_wd_label(wd))
    _hr_auc_axes(axes, 'latent factors', 'log')
    line = (_book_words([r for r in rows if r['wd'] == BOOK_WD], 'num_factors')
            + _free_words([r for r in rows if r['wd'] == 0.0], 'num_factors'))
    return rows, fig, line


ARCHITECTURES = ((10,), (10, 10), (10, 10, 10), (32, 16, 8), (64, 32, 16, 8))


def _arch(layers):
    return '-'.join(map(str, layers))


def neumf_mlp(sweep, quick):
    """The MLP's layers and units (the book: 10-10-10), with the book's wd and with none."""
    archs = ((10,), (10, 10, 10)) if quick else ARCHITECTURES
    rows = _two_series(sweep, quick, 'mlp', archs, 'nums_hiddens', _arch)
    fig, axes = figure(2)
    names = [_arch(a) for a in archs]
    for k, wd in enumerate(WDS):
        part = {r['mlp']: r for r in rows if r['wd'] == wd}
        xs = [j + 0.1 * k for j in range(len(names))]
        axes[0].errorbar(xs, [part[n]['hr10_mean'] for n in names],
                         yerr=[part[n]['hr10_std'] for n in names], fmt='o', capsize=3,
                         label=_wd_label(wd))
        axes[1].plot(xs, [part[n]['auc_mean'] for n in names], 'o', label=_wd_label(wd))
    for ax in axes:
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20, fontsize=7)
    _hr_auc_axes(axes, 'MLP layer widths')
    line = (_book_words([r for r in rows if r['wd'] == BOOK_WD], 'mlp')
            + _free_words([r for r in rows if r['wd'] == 0.0], 'mlp'))
    return rows, fig, line


# Each optimizer over learning rates around its usual ones (the book: Adam, lr 0.01), and
# weight decays from the book's down to none.
NEUMF_OPTIMIZERS = {'adam': (0.001, 0.003, 0.01), 'rmsprop': (0.001, 0.003, 0.01),
                    'adagrad': (0.01, 0.03, 0.1), 'sgd': (1.0, 10.0, 100.0)}
NEUMF_WDS = (BOOK_WD, 1e-6, 0.0)


def neumf_optimizers(sweep, quick):
    """Optimizers x learning rates x weight decays (the book: Adam, lr 0.01, wd 1e-5)."""
    grid = {'adam': (0.01,), 'sgd': (10.0,)} if quick else NEUMF_OPTIMIZERS
    wds = WDS if quick else NEUMF_WDS
    configs = [({'optimizer': opt, 'lr': lr, 'wd': wd}, {'optimizer': opt, 'lr': lr, 'wd': wd})
               for wd in wds for opt, lrs in grid.items() for lr in lrs]
    rows = sweep.ranking_grid('neumf', quick, configs, ['optimizer', 'lr', 'wd'])
    fig, axes = figure(len(wds))
    for ax, wd in zip(axes, wds):
        for opt in grid:
            errorbar(ax, [r for r in rows if r['optimizer'] == opt and r['wd'] == wd], 'lr',
                     label=opt, metric='hr10')
        ax.set(xscale='log', xlabel='learning rate', ylabel='exact test HR@10',
               title=_wd_label(wd))
        ax.legend(fontsize=7)
    book = [r for r in rows if r['optimizer'] == 'adam' and r['lr'] == 0.01
            and r['wd'] == BOOK_WD]
    per_wd = '; '.join(
        f'wd {wd:g}: {sum(not collapsed(r) for r in part)} of {len(part)} settings learn'
        + (f', best {best(part, ["optimizer", "lr"], "hr10", True)}'
           if any(not collapsed(r) for r in part) else '')
        for wd in wds for part in [[r for r in rows if r['wd'] == wd]])
    top = rows[best_index(rows, 'hr10', True)]
    line = (f'Best {best(rows, ["optimizer", "lr", "wd"], "hr10", True)} (AUC '
            f'{top["auc_mean"]:.3f}) against the book\'s Adam, lr 0.01, wd {BOOK_WD:g} (HR@10 '
            f'{book[0]["hr10_mean"]:.3f}, AUC {book[0]["auc_mean"]:.3f}'
            + (': learned nothing' if collapsed(book[0]) else '') + f'). {per_wd}. A setting '
            'learns when the weight decay no longer outweighs the data\'s first gradients: '
            'the book\'s wd collapses NeuMF under Adam (a weight with AUC 0.500 scores every '
            'item alike).')
    return rows, fig, line


def neumf_hinge(sweep, quick):
    """The hinge loss against the book's BPR, with the book's wd and with none."""
    rows = _two_series(sweep, quick, 'loss', ('bpr', 'hinge'), 'loss')
    fig, axes = figure(2)
    for k, wd in enumerate(WDS):
        part = [r for r in rows if r['wd'] == wd]
        xs = [j + 0.38 * k for j in range(len(part))]
        axes[0].bar(xs, [r['hr10_mean'] for r in part], 0.36,
                    yerr=[r['hr10_std'] for r in part], capsize=3, label=_wd_label(wd))
        axes[1].bar(xs, [r['auc_mean'] for r in part], 0.36, label=_wd_label(wd))
    for ax in axes:
        ax.set_xticks([0.19, 1.19])
        ax.set_xticklabels(['BPR (the book)', 'hinge'])
    _hr_auc_axes(axes, 'loss')
    get = {(r['wd'], r['loss']): r for r in rows}
    words = '; '.join(
        f'{_wd_label(wd)}: BPR {get[wd, "bpr"]["hr10_mean"]:.3f} (AUC '
        f'{get[wd, "bpr"]["auc_mean"]:.3f}), hinge {get[wd, "hinge"]["hr10_mean"]:.3f} (AUC '
        f'{get[wd, "hinge"]["auc_mean"]:.3f})' for wd in WDS)
    dead = [f'{r["loss"]} at {_wd_label(r["wd"])}' for r in rows if collapsed(r)]
    line = (f'Exact HR@10 by loss: {words}.'
            + (f' Learned nothing (AUC 0.500): {", ".join(dead)}.' if dead else ''))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'neumf-factors': ('NeuMF', 'Vary the size of the latent factors', neumf_factors, 2),
    'neumf-mlp': ('NeuMF', "Vary the MLP's architecture (layers and units)", neumf_mlp, 2),
    'neumf-optimizers': ('NeuMF', 'Other optimizers, learning rates and weight decays',
                         neumf_optimizers, 1),
    'neumf-hinge': ('NeuMF', 'The hinge loss against BPR', neumf_hinge, 3),
}
