"""Top-k recommendations from predicted scores, and the index checks, framework-free.

Both tabs' ``top_k`` predict a user's score for every item on their devices, then rank here:
the items the user has not rated, highest score first, ties in item order so that results are
reproducible. Both tabs' ``predict_rating`` and ``score_items`` check indices here.
"""
import numpy

from . import checks

__all__ = ['rank_unseen', 'check_index', 'autorec_cell']


def rank_unseen(scores, k, *, seen=None, titles=None):
    """The ``k`` best of ``scores`` (one per item, 0-based) skipping the indices in ``seen``.

    ``titles``: ``{item_id: title}`` (MovieLens ids, 1-based). Returns dicts with ``rank``,
    ``item_index``, ``item_id``, ``score``, ``title``.
    """
    k = checks.positive_int('k', k)
    scores = numpy.asarray(scores)
    mask = numpy.ones(len(scores), dtype=bool)
    if seen is not None:   # -1 is not the last item, 99999 not an item at all
        mask[checks.indices('seen', seen, len(scores))] = False
    candidates = numpy.flatnonzero(mask)
    # Stable sort on -score: equal scores keep item order, so results are reproducible.
    best = candidates[numpy.argsort(-scores[candidates], kind='stable')[:int(k)]]
    titles = titles or {}
    return [{'rank': r + 1, 'item_index': int(j), 'item_id': int(j) + 1,
             'score': float(scores[j]), 'title': titles.get(int(j) + 1, '')}
            for r, j in enumerate(best)]


def check_index(name, value, n):
    """``value`` as an int if it is a 0-based index below ``n`` (2.7 is not user 2); else a
    one-line error (:func:`d2l_recsys.checks.index`)."""
    return checks.index(name, value, n)


def autorec_cell(user_index, item_index, shape, user_based=False):
    """``(row, col)`` of a user's rating of an item in AutoRec's matrix of ``shape``: item rows
    and user columns (the book's item-based model), or the other way round, both checked."""
    row, col = (user_index, item_index) if user_based else (item_index, user_index)
    row = check_index('user' if user_based else 'item', row, shape[0])
    return row, check_index('item' if user_based else 'user', col, shape[1])
