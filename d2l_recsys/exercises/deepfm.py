"""The exercise of the section "Deep Factorization Machines": the structure of the MLP
(``deepfm-mlp``: its depth and widths, the book's 30-20-10 among them). The section's other
exercise, DeepFM against the original FM, is ``fm-vs-deepfm``
(:mod:`~d2l_recsys.exercises.fm`; Criteo cannot be fetched everywhere, so both run on
MovieLens 100K as click data). Runs are judged by the exact test AUC after the book's epochs,
with the log loss beside (:func:`~d2l_recsys.exercises.fm.click_run`).
"""
import math

from .fm import add_click_run, click_run, click_summary
from .sweep import best, figure

__all__ = ['EXERCISES', 'MLP_STRUCTURES', 'BOOK_MLP']

BOOK_MLP = '30-20-10'
# One layer narrow and wide, the book's funnel, a wider funnel, and a deep constant stack.
MLP_STRUCTURES = ('10', '30', BOOK_MLP, '100-50', '200-100-50', '30-30-30-30-30')


def deepfm_mlp(sweep, quick):
    """Vary DeepFM's hidden layers (the book: 30-20-10, dropout 0.1 after each)."""
    structures = ('30', BOOK_MLP) if quick else MLP_STRUCTURES
    for mlp in structures:
        dims = tuple(int(d) for d in mlp.split('-'))
        for seed in sweep.seeds:
            h = click_run(sweep, 'deepfm', seed, quick, mlp_dims=dims)
            add_click_run(sweep, {'mlp': mlp, 'layers': len(dims),
                                  'hidden_units': sum(dims)}, seed, h)
    rows = click_summary(sweep, ['mlp', 'layers', 'hidden_units'])
    fig, (ax, ax2) = figure(2)
    xs = range(len(rows))
    ax.errorbar(xs, [r['test_auc_mean'] for r in rows], yerr=[r['test_auc_std'] for r in rows],
                fmt='o', capsize=3)
    ax.set(xlabel='hidden layer widths', ylabel='exact test AUC (higher: better)')
    ax2.errorbar(xs, [r['test_log_loss_mean'] for r in rows],
                 yerr=[r['test_log_loss_std'] for r in rows], fmt='rs', capsize=3)
    ax2.set(xlabel='hidden layer widths', ylabel='exact test log loss')
    for a in (ax, ax2):
        a.set_xticks(list(xs))
        a.set_xticklabels([r['mlp'] for r in rows], rotation=25, fontsize=7)
        a.grid(True, axis='y')
    fig.tight_layout()
    book = next(r for r in rows if r['mlp'] == BOOK_MLP)
    aucs = [r['test_auc_mean'] for r in rows if math.isfinite(r['test_auc_mean'])]
    spread = max(aucs) - min(aucs) if aucs else math.nan
    noise = max((r['test_auc_std'] for r in rows if math.isfinite(r['test_auc_std'])),
                default=0.0)
    line = (f'Best {best(rows, ["mlp"], "test_auc", True)} against the book\'s {BOOK_MLP} '
            f'({book["test_auc_mean"]:.3f}, log loss {book["test_log_loss_mean"]:.2f}); the '
            f'structures span {spread:.3f} of AUC, the seeds\' std is up to {noise:.3f}: '
            + ('the MLP\'s structure matters little here.' if spread <= 2 * noise else
               'the structure matters.'))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'deepfm-mlp': ('DeepFM', 'Vary the structure of the MLP', deepfm_mlp, 2),
}
