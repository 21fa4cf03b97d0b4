"""The exercises of the section "Sequence-Aware Recommender Systems": the number of previous
items Caser reads, ``L`` (``caser-l``), and the model without its horizontal or its vertical
convolutions (``caser-convolutions``, an ablation: the keyword options ``horizontal`` and
``vertical`` of the tabs' Caser, which the book's block, as printed, cannot run with ``d = 0``
or ``d_prime = 0``). Each run is judged by its exact test HR@10 after the book's 8 epochs
(every item the user has not trained on ranked, ties at their mean), its AUC beside.
"""
from .sweep import HR10, best, best_index, errorbar, figure, shape

__all__ = ['EXERCISES', 'METRIC', 'CONVOLUTIONS']

METRIC = HR10


def caser_l(sweep, quick):
    """Vary L, the previous items of a window (the book: 5)."""
    sizes = (3, 5) if quick else (1, 2, 3, 5, 8, 10)
    rows = sweep.ranking_grid('caser', quick, [({'L': L}, {'L': L}) for L in sizes], ['L'])
    fig, (ax, ax2) = figure(2)
    errorbar(ax, rows, 'L', metric='hr10')
    ax.set(xlabel='L (previous items)', ylabel='exact test HR@10')
    ax2.plot([r['L'] for r in rows], [r['auc_mean'] for r in rows], 'o-')
    ax2.set(xlabel='L (previous items)', ylabel='exact test AUC')
    book = next(r for r in rows if r['L'] == 5)
    top = rows[best_index(rows, 'hr10', True)]
    line = (f'Best {best(rows, ["L"], "hr10", True)} (AUC {top["auc_mean"]:.3f}) against the '
            f'book\'s L = 5 (HR@10 {book["hr10_mean"]:.3f}, AUC {book["auc_mean"]:.3f}).'
            + shape(rows, 'L', 'hr10', True).replace('hr10', 'HR@10'))
    return rows, fig, line


# label: the options of train_caser (the book's model has both convolutions).
CONVOLUTIONS = {'both (the book)': {}, 'horizontal only': {'vertical': False},
                'vertical only': {'horizontal': False}}


def caser_convolutions(sweep, quick):
    """Caser with both convolutions (the book's), without the vertical one, and without the
    horizontal ones."""
    configs = [({'convolutions': label}, options) for label, options in CONVOLUTIONS.items()]
    rows = sweep.ranking_grid('caser', quick, configs, ['convolutions'])
    fig, (ax, ax2) = figure(2)
    xs = range(len(rows))
    ax.bar(xs, [r['hr10_mean'] for r in rows], 0.6, yerr=[r['hr10_std'] for r in rows],
           capsize=3)
    ax.set(ylabel='exact test HR@10')
    ax2.bar(xs, [r['auc_mean'] for r in rows], 0.6)
    ax2.set(ylabel='exact test AUC', ylim=(0.45, 1.0))
    for a in (ax, ax2):
        a.set_xticks(list(xs))
        a.set_xticklabels([r['convolutions'] for r in rows], fontsize=7)
    get = {r['convolutions']: r for r in rows}
    both = get['both (the book)']
    parts = '; '.join(f'{label} {r["hr10_mean"]:.3f} (AUC {r["auc_mean"]:.3f})'
                      for label, r in get.items())
    alone = max((get['horizontal only'], get['vertical only']), key=lambda r: r['hr10_mean'])
    line = (f'Exact HR@10: {parts}. '
            + (f'{alone["convolutions"].capitalize()} does as well as both or better: the '
               'other convolution adds nothing here in the book\'s epochs.'
               if alone['hr10_mean'] >= both['hr10_mean'] else
               f'Both together beat either alone; {alone["convolutions"]} comes closest.'))
    return rows, fig, line


# name: (section, title, function, seeds for the full run)
EXERCISES = {
    'caser-l': ('Caser', 'Vary L, the number of previous items', caser_l, 2),
    'caser-convolutions': ('Caser', 'Remove the horizontal or the vertical convolutions',
                           caser_convolutions, 3),
}
