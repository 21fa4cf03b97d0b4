r"""Ranking metrics from a score matrix, framework-free: the book's evaluator and an exact one.

Both take ``scores``, a ``(num_users, num_items)`` array whose entry ``[u, i]`` is the model's
score of item ``i`` for user ``u`` (0-based), computed by either tab on its devices.

**The book's evaluator** (``evaluate_ranking`` and ``hit_and_auc`` of the section "Neural
Collaborative Filtering for Personalized Ranking"), :func:`book_hit_and_auc`: for every user
it ranks ``list(set(range(num_users)) - set(candidates[u]))``, the items with an index below
the *number of users* that the user has not trained on (943 of MovieLens' 1,682 items: a
held-out item with a larger index can never be found, and counts as a miss), sorted by score
with Python's stable ``sorted(..., reverse=True)``, so that tied items keep the order of that
list (the iteration order of a Python set). ``hit_and_auc`` then counts the held-out items in
the first ``k = 50`` (the text says :math:`\textrm{Hit}@\ell`; the code's :math:`\ell` is 50),
and the AUC is :math:`(n - 1 - p) / (n - 1)` with :math:`p` the 0-based position of the first
held-out item among the :math:`n` ranked ones (0 when none is there). A model that scores every
item alike therefore gets the numbers of the list's order; NeuMF's cell, as printed, is such a
model (every score exactly 0.5). The function reproduces the book's per-user hits and AUCs
exactly for the same scores (same tie order), and their means (the book takes the means in
float32 with MXNet; here in float64, which can differ in the 7th digit).

**The exact evaluator**, :func:`exact_ranking_metrics`: for every held-out pair :math:`(u, g)`
the candidates :math:`C` are *all* items the user has not trained on (the held-out item among
them; the user's other held-out items, where there are several, are left out), and ties count
at their expectation under a uniformly random order of the tied items, computed exactly. With
:math:`a = |\{j \in C : s_j > s_g\}|` items ahead and :math:`t = |\{j \in C \setminus \{g\} :
s_j = s_g\}|` tied, the position :math:`P` of :math:`g` is uniform on :math:`a+1, \dots,
a+t+1`, and

.. math::

    \textrm{HR}@k = \Pr(P \le k) = \frac{\min(\max(k - a, 0), t + 1)}{t + 1}, \qquad
    \textrm{NDCG}@k = \operatorname{E}\Big[\frac{\mathbf{1}(P \le k)}{\log_2(P + 1)}\Big]
    = \frac{1}{t + 1} \sum_{p = a + 1}^{\min(a + t + 1, k)} \frac{1}{\log_2(p + 1)},

    \textrm{AUC} = \frac{|\{j \in C : s_j < s_g\}| + t / 2}{|C| - 1},

averaged over the held-out pairs (one per user on the seq-aware split). So a model that scores
every item alike gets :math:`\textrm{HR}@10 = 10 / |C|` and AUC 1/2, and a sparse score vector
whose held-out item sits among many zeros gets the credit of the middle of the zeros, not of
their first place. ``mean_rank`` is :math:`\operatorname{E}[P] = a + 1 + t/2`.
"""
import numpy

__all__ = ['hit_and_auc', 'book_item_order', 'book_hit_and_auc', 'exact_ranking_metrics',
           'test_pairs', 'seen_mask', 'format_exact', 'EXACT_KEYS']

EXACT_KEYS = ('hr@10', 'hr@50', 'ndcg@10', 'auc', 'mean_rank')


def _host(a):
    return a.asnumpy() if hasattr(a, 'asnumpy') else numpy.asarray(a)


def hit_and_auc(rankedlist, test_matrix, k):
    """The book's ``#@save`` function, unchanged: the number of ``test_matrix``'s items in the
    first ``k`` of ``rankedlist``, and the AUC of the first one found, ``(n-1-p)/(n-1)``."""
    hits_k = [(idx, val) for idx, val in enumerate(rankedlist[:k])
              if val in set(test_matrix)]
    hits_all = [(idx, val) for idx, val in enumerate(rankedlist)
                if val in set(test_matrix)]
    max = len(rankedlist) - 1
    auc = 1.0 * (max - hits_all[0][0]) / max if len(hits_all) > 0 else 0
    return len(hits_k), auc


def book_item_order(candidates, num_users):
    """Per user, the items the book's ``evaluate_ranking`` ranks, in its list order.

    ``list(all_items - set(candidates[u]))`` with ``all_items = set(range(num_users))``, as
    the book computes it (the order of a Python set, which decides how ties fall). Returns a
    list over users ``0 .. num_users - 1`` of int64 arrays.
    """
    all_items = set([i for i in range(num_users)])
    return [numpy.asarray(list(all_items - set(candidates[int(u)])), dtype=numpy.int64)
            for u in range(num_users)]


def book_hit_and_auc(scores, test_input, candidates, num_users, k=50, *, orders=None):
    """The book's ``evaluate_ranking`` from a score matrix: ``(hit_rate, auc, per_user)``.

    ``scores[u, i]``: user ``u``'s score of item ``i`` (at least the first ``num_users``
    columns are read); ``test_input``: ``{u: [held-out items]}`` (the book's ``test_iter``);
    ``candidates``: ``{u: [training items]}``; ``k``: the cut-off of the hit count (the book
    passes 50). ``orders``: :func:`book_item_order`'s lists, when already computed. Returns the
    means of the per-user hits and AUCs, and ``per_user = {'hits': int array, 'auc': float
    array}`` (each user's ``hit_and_auc``). Same numbers as the book's functions given the
    same scores, for all users at once instead of a DataLoader and a sort per user: the
    position of an item in the book's stable descending sort is the number of items with a
    larger score plus the number of items with an equal score earlier in the list.
    """
    scores = _host(scores)
    if scores.ndim != 2 or scores.shape[0] < num_users or scores.shape[1] < num_users:
        raise ValueError(f'book_hit_and_auc: scores must have at least {num_users} rows and '
                         f'{num_users} columns, got shape {scores.shape}')
    if orders is None:
        orders = book_item_order(candidates, num_users)
    lengths = numpy.array([len(o) for o in orders], dtype=numpy.int64)
    width = max(1, int(lengths.max(initial=0)))
    table = numpy.zeros((num_users, width), dtype=numpy.int64)
    valid = numpy.arange(width)[None, :] < lengths[:, None]
    table[valid] = numpy.concatenate(orders) if len(orders) else []
    ranked = numpy.where(valid, scores[numpy.arange(num_users)[:, None], table], numpy.nan)
    # Every (user, position) of a held-out item in the user's list.
    users, positions = [], []
    for u in range(num_users):
        where = numpy.flatnonzero(numpy.isin(orders[u], list(test_input[u])))
        users.extend([u] * len(where))
        positions.extend(where.tolist())
    users = numpy.asarray(users, dtype=numpy.int64)
    positions = numpy.asarray(positions, dtype=numpy.int64)
    rows = ranked[users]                                     # (pairs, width)
    value = rows[numpy.arange(len(users)), positions][:, None]
    earlier = numpy.arange(width)[None, :] < positions[:, None]
    place = ((rows > value).sum(axis=1) + ((rows == value) & earlier).sum(axis=1))
    hits = numpy.zeros(num_users, dtype=numpy.int64)
    numpy.add.at(hits, users, (place < k).astype(numpy.int64))
    first = numpy.full(num_users, width + 1, dtype=numpy.int64)
    numpy.minimum.at(first, users, place)
    top = (lengths - 1).astype(numpy.float64)              # the book's ``max``
    found = first <= width
    auc = numpy.zeros(num_users, dtype=numpy.float64)
    auc[found] = 1.0 * (top[found] - first[found]) / top[found]
    return float(hits.mean()), float(auc.mean()), {'hits': hits, 'auc': auc}


def seen_mask(items_by_user, num_users, num_items):
    """A ``(num_users, num_items)`` boolean matrix, True where ``items_by_user[u]`` (a dict
    or a sequence over users of item lists) holds the item."""
    mask = numpy.zeros((num_users, num_items), dtype=bool)
    keys = items_by_user.keys() if hasattr(items_by_user, 'keys') else range(len(items_by_user))
    for u in keys:
        items = numpy.asarray(list(items_by_user[u]), dtype=numpy.int64)
        if len(items) and (items.min() < 0 or items.max() >= num_items):
            raise ValueError(f'user {u}: item index out of range 0..{num_items - 1}')
        if not 0 <= int(u) < num_users:
            raise ValueError(f'user index {u} out of range 0..{num_users - 1}')
        mask[int(u), items] = True
    return mask


def test_pairs(test_items):
    """The held-out ``(user, item)`` pairs of ``{u: [items]}``, as two int64 arrays."""
    users, items = [], []
    for u in sorted(test_items):
        for i in test_items[u]:
            users.append(int(u))
            items.append(int(i))
    return numpy.asarray(users, dtype=numpy.int64), numpy.asarray(items, dtype=numpy.int64)


def _discount_sums(n):
    """``D[p] = sum_{q=1..p} 1 / log2(q + 1)`` for p = 0..n (``D[0] = 0``)."""
    return numpy.concatenate([[0.], numpy.cumsum(1.0 / numpy.log2(numpy.arange(2, n + 2)))])


def exact_ranking_metrics(scores, train_items, test_items, *, ks=(10, 50), ndcg_k=10,
                          chunk=1024):
    """HR@k, NDCG@k, AUC and the mean rank over all unseen items, ties at their expectation.

    ``scores``: ``(num_users, num_items)``; ``train_items``: ``{u: [items]}`` (the book's
    ``candidates``) or a boolean ``(num_users, num_items)`` matrix of what each user trained
    on; ``test_items``: ``{u: [held-out items]}``. Returns a dict with ``hr@K`` for each K
    of ``ks``, ``ndcg@<ndcg_k>``, ``auc``, ``mean_rank`` (means over the held-out pairs),
    ``pairs`` (their number) and ``candidates`` (the mean number of items ranked per pair).
    See the module's docstring for the formulas. Scores that are NaN are refused.
    """
    scores = _host(scores)
    if scores.ndim != 2:
        raise ValueError(f'exact_ranking_metrics: scores must be a matrix, got shape '
                         f'{scores.shape}')
    num_users, num_items = scores.shape
    if numpy.isnan(scores).any():
        raise ValueError('exact_ranking_metrics: the scores hold NaN')
    if hasattr(train_items, 'shape'):
        seen = numpy.asarray(train_items, dtype=bool)
        if seen.shape != scores.shape:
            raise ValueError(f'exact_ranking_metrics: the training mask has shape '
                             f'{seen.shape}, the scores {scores.shape}')
    else:
        seen = seen_mask(train_items, num_users, num_items)
    held = seen_mask(test_items, num_users, num_items)
    users, items = test_pairs(test_items)
    if len(users) == 0:
        raise ValueError('exact_ranking_metrics: no held-out items')
    ks = tuple(int(k) for k in ks)
    discount = _discount_sums(num_items)
    ahead = numpy.empty(len(users), dtype=numpy.int64)
    tied = numpy.empty(len(users), dtype=numpy.int64)
    size = numpy.empty(len(users), dtype=numpy.int64)
    for a in range(0, len(users), chunk):
        u, g = users[a:a + chunk], items[a:a + chunk]
        rows = numpy.arange(len(u))
        candidate = ~(seen[u] | held[u])
        candidate[rows, g] = True          # the held-out item itself, among the candidates
        s = scores[u]
        sg = s[rows, g][:, None]
        ahead[a:a + chunk] = ((s > sg) & candidate).sum(axis=1)
        tied[a:a + chunk] = ((s == sg) & candidate).sum(axis=1) - 1
        size[a:a + chunk] = candidate.sum(axis=1)
    behind = size - 1 - ahead - tied
    out = {}
    for k in ks:
        out[f'hr@{k}'] = float(numpy.mean(numpy.clip(k - ahead, 0, tied + 1) / (tied + 1)))
    top = numpy.minimum(ahead + tied + 1, ndcg_k)
    low = numpy.minimum(ahead, ndcg_k)
    out[f'ndcg@{ndcg_k}'] = float(numpy.mean((discount[top] - discount[low]) / (tied + 1)))
    with numpy.errstate(invalid='ignore', divide='ignore'):
        auc = numpy.where(size > 1, (behind + tied / 2) / (size - 1), 0.5)
    out['auc'] = float(numpy.mean(auc))
    out['mean_rank'] = float(numpy.mean(ahead + 1 + tied / 2))
    out['pairs'] = int(len(users))
    out['candidates'] = float(numpy.mean(size))
    return out


def format_exact(metrics):
    """One line of the exact metrics: ``HR@10 0.xxx, HR@50 0.xxx, NDCG@10 0.xxx, AUC
    0.xxx``, as the experiments print it under the book's line."""
    parts = [f'{k.upper()} {v:.3f}' for k, v in metrics.items()
             if k.startswith(('hr@', 'ndcg@'))]
    parts.append(f'AUC {metrics["auc"]:.3f}')
    return 'exact (all unseen items, ties at their mean): ' + ', '.join(parts)

