"""The MovieLens 100K data set: reading, splitting and loading it, framework-free.

Mirrors the book's section "The MovieLens Dataset"
(https://d2l.ai/chapter_recommender-systems/movielens.html). The four book functions keep the
book's names, signatures and bodies; ``*_fast`` twins beside them return identical output,
vectorised. The book's code writes ``np`` for MXNet's NumPy; here it is the keyword ``xp``, the
array module to draw from and build with: NumPy by default, ``mxnet.np`` in the MXNet tab
(:mod:`d2l_recsys.mxnet`), so that its random split is the book's draw from MXNet's generator.
Getting and checking the files lives in :mod:`d2l_recsys.fetch`; the DataLoaders of
``split_and_load_ml100k`` live in each framework's tab.
"""
import os

import numpy
import pandas as pd

from . import fetch
from .fetch import read_item_titles, read_u_data

__all__ = ['read_u_data', 'read_item_titles', 'read_data_ml100k', 'split_data_ml100k',
           'load_data_ml100k', 'split_data_ml100k_fast', 'load_data_ml100k_fast']


def _host(a):
    """A host NumPy array of ``a`` (NumPy, MXNet or anything array-like)."""
    return a.asnumpy() if hasattr(a, 'asnumpy') else numpy.asarray(a)


def read_data_ml100k(data_dir=None):
    """Read MovieLens 100K's ``u.data``: (DataFrame, num_users, num_items), as the book.

    ``data_dir``: a folder holding ``u.data``, that file, or an ``ml-100k.zip``; ``None``
    finds the real data set with :func:`~d2l_recsys.fetch.ml100k_dir` (argument/env var,
    cache, GroupLens, PyPI mirror). Zips and ``None`` also get the full ML-100K checks. See
    https://d2l.ai/chapter_recommender-systems/movielens.html
    """
    if data_dir is None or str(data_dir).endswith('.zip'):
        data_dir = fetch.ml100k_dir(data_dir)   # a zip is checked and extracted into the cache
    path = data_dir if os.path.isfile(data_dir) else os.path.join(data_dir, 'u.data')
    data = read_u_data(path)
    num_users = data.user_id.unique().shape[0]
    num_items = data.item_id.unique().shape[0]
    return data, num_users, num_items


def split_data_ml100k(data, num_users, num_items,
                      split_mode='random', test_ratio=0.1, *, xp=None):
    """Split the dataset in random mode or seq-aware mode.

    The book's code (https://d2l.ai/chapter_recommender-systems/movielens.html): 'seq-aware'
    holds out each user's latest rating; otherwise each row goes to test with probability
    ``test_ratio``, drawn from ``xp.random`` (the book's MXNet ``np.random``; NumPy's global
    generator by default).
    """
    np = numpy if xp is None else xp
    if split_mode == 'seq-aware':
        train_items, test_items, train_list = {}, {}, []
        for line in data.itertuples():
            u, i, rating, time = line[1], line[2], line[3], line[4]
            train_items.setdefault(u, []).append((u, i, rating, time))
            if u not in test_items or test_items[u][-1] < time:
                test_items[u] = (i, rating, time)
        for u in range(1, num_users + 1):
            train_list.extend(sorted(train_items[u], key=lambda k: k[3]))
        test_data = [(key, *value) for key, value in test_items.items()]
        train_data = [item for item in train_list if item not in test_data]
        train_data = pd.DataFrame(train_data)
        test_data = pd.DataFrame(test_data)
    else:
        mask = [True if x == 1 else False for x in np.random.uniform(
            0, 1, (len(data))) < 1 - test_ratio]
        neg_mask = [not x for x in mask]
        train_data, test_data = data[mask], data[neg_mask]
    return train_data, test_data


def load_data_ml100k(data, num_users, num_items, feedback='explicit', *, xp=None):
    """Turn ratings into index lists and an interaction matrix (explicit) or dict (implicit).

    The book's code (https://d2l.ai/chapter_recommender-systems/movielens.html): returns
    ``users, items, scores`` (0-based ids, Python lists) and ``inter``: an ``xp`` array (the
    book's MXNet one; NumPy by default) of shape ``(num_items, num_users)`` holding the
    ratings, or ``{user_index: [item_index, ...]}``.
    """
    np = numpy if xp is None else xp
    users, items, scores = [], [], []
    inter = np.zeros((num_items, num_users)) if feedback == 'explicit' else {}
    for line in data.itertuples():
        user_index, item_index = int(line[1] - 1), int(line[2] - 1)
        score = int(line[3]) if feedback == 'explicit' else 1
        users.append(user_index)
        items.append(item_index)
        scores.append(score)
        if feedback == 'implicit':
            inter.setdefault(user_index, []).append(item_index)
        else:
            inter[item_index, user_index] = score
    return users, items, scores, inter


def _columns(data):
    # The book reads rows positionally (line[1..4] of itertuples), so do we.
    return [data.iloc[:, k].to_numpy() for k in range(4)]


def _frame(arrays):
    # pd.DataFrame(list_of_tuples) labels columns 0..3 and rows 0..n-1: keep both.
    if len(arrays[0]) == 0:
        return pd.DataFrame([])
    frame = pd.DataFrame({k: a for k, a in enumerate(arrays)})
    frame.columns = pd.RangeIndex(len(arrays))
    return frame


def split_data_ml100k_fast(data, num_users, num_items,
                           split_mode='random', test_ratio=0.1, *, xp=None):
    """:func:`split_data_ml100k` vectorised; identical output, the same random draws.

    seq-aware: a user's test row is the first of their rows with their latest timestamp
    (users in order of first appearance); train is users 1..num_users in turn, each by time
    (ties in file order), minus every row equal to its user's test row, as the book's
    ``item not in test_data`` does.
    """
    if split_mode == 'seq-aware':
        u, i, r, t = _columns(data)
        rows = numpy.arange(len(u))
        uniq, first_row = numpy.unique(u, return_index=True)
        missing = numpy.setdiff1d(numpy.arange(1, num_users + 1), uniq)
        if len(missing):
            raise KeyError(int(missing[0]))   # the book fails at train_items[u] too
        if len(u) == 0:
            return pd.DataFrame([]), pd.DataFrame([])
        # Sorted by user, latest time first, then file order: the head of each user's block
        # is the row the book keeps (it only replaces on a strictly later time).
        order = numpy.lexsort((rows, -t, u))
        heads = order[numpy.flatnonzero(numpy.r_[True, u[order][1:] != u[order][:-1]])]
        test_rows = heads[numpy.argsort(first_row, kind='stable')]   # dict insertion order
        train = numpy.lexsort((rows, t, u))        # stable sort by time within each user
        train = train[(u[train] >= 1) & (u[train] <= num_users)]
        slot = heads[numpy.searchsorted(uniq, u[train])]
        train = train[~((i[train] == i[slot]) & (r[train] == r[slot]) & (t[train] == t[slot]))]
        return (_frame([a[train] for a in (u, i, r, t)]),
                _frame([a[test_rows] for a in (u, i, r, t)]))
    np = numpy if xp is None else xp
    mask = _host(np.random.uniform(0, 1, (len(data))) < 1 - test_ratio).astype(bool)
    return data[mask], data[~mask]


def load_data_ml100k_fast(data, num_users, num_items, feedback='explicit', *, xp=None):
    """:func:`load_data_ml100k` vectorised; identical output (lists, ``xp`` array or dict)."""
    np = numpy if xp is None else xp
    u, i, r, _ = _columns(data)
    user_index = (u - 1).astype(numpy.int64)
    item_index = (i - 1).astype(numpy.int64)
    users, items = user_index.tolist(), item_index.tolist()
    if feedback == 'explicit':
        score = r.astype(numpy.int64)
        inter = numpy.zeros((num_items, num_users), dtype=_host(np.zeros((1,))).dtype)
        if len(users):
            # The book assigns row by row, so for a repeated (item, user) the last row wins.
            key = (item_index * num_users + user_index)[::-1]
            _, from_end = numpy.unique(key, return_index=True)
            last = len(users) - 1 - from_end
            inter[item_index[last], user_index[last]] = score[last]
        return users, items, score.tolist(), np.array(inter, dtype=inter.dtype)
    scores = [1] * len(users)
    inter = {}
    if feedback == 'implicit':
        if len(users):
            order = numpy.argsort(user_index, kind='stable')
            grouped = user_index[order]
            starts = numpy.flatnonzero(numpy.r_[True, grouped[1:] != grouped[:-1]])
            chunks = numpy.split(item_index[order], starts[1:])
            # order[starts] is each user's first row: the book's key order.
            for k in numpy.argsort(order[starts], kind='stable'):
                inter[int(grouped[starts[k]])] = chunks[k].tolist()
        return users, items, scores, inter
    for key in zip(items, users):   # any other feedback: the book's dict keyed (item, user)
        inter[key] = 1
    return users, items, scores, inter
