"""Top-k recommendations from predicted scores, framework-free.

Both tabs' ``top_k`` predict a user's score for every item on their devices, then rank here:
the items the user has not rated, highest score first, ties in item order so that results are
reproducible.
"""
import numpy

__all__ = ['rank_unseen']


def rank_unseen(scores, k, *, seen=None, titles=None):
    """The ``k`` best of ``scores`` (one per item, 0-based) skipping the indices in ``seen``.

    ``titles``: ``{item_id: title}`` (MovieLens ids, 1-based). Returns dicts with ``rank``,
    ``item_index``, ``item_id``, ``score``, ``title``.
    """
    if int(k) < 1:
        raise ValueError(f'k must be at least 1, got {k}')
    scores = numpy.asarray(scores)
    mask = numpy.ones(len(scores), dtype=bool)
    if seen is not None:
        mask[numpy.asarray(list(seen), dtype=numpy.int64)] = False
    candidates = numpy.flatnonzero(mask)
    # Stable sort on -score: equal scores keep item order, so results are reproducible.
    best = candidates[numpy.argsort(-scores[candidates], kind='stable')[:int(k)]]
    titles = titles or {}
    return [{'rank': r + 1, 'item_index': int(j), 'item_id': int(j) + 1,
             'score': float(scores[j]), 'title': titles.get(int(j) + 1, '')}
            for r, j in enumerate(best)]
