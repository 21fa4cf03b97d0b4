"""The MovieLens 100K data set: reading, splitting and loading it.

Mirrors the book's section "The MovieLens Dataset"
(https://d2l.ai/chapter_recommender-systems/movielens.html). The four book functions keep the
book's names, signatures and bodies; ``*_fast`` twins beside them return identical output,
vectorised. Getting the files (cache, GroupLens, PyPI mirror) lives in :mod:`d2l_recsys.fetch`.
"""
import os
import re

import numpy as onp
import pandas as pd
from mxnet import gluon, np

__all__ = ['read_u_data', 'read_data_ml100k', 'split_data_ml100k', 'load_data_ml100k',
           'split_data_ml100k_fast', 'load_data_ml100k_fast', 'split_and_load_ml100k']

COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']
_INT = re.compile(r'[+-]?[0-9]{1,18}\Z')
_ROW = r'[0-9]{1,18}\t[0-9]{1,18}\t[1-5]\t[0-9]{1,18}'
_CLEAN = re.compile(f'(?:{_ROW}\n)*{_ROW}\n?')


def _fail(path, lineno, what):
    return ValueError(f'{path} line {lineno}: {what}')


def read_u_data(path):
    """Read a MovieLens ``u.data`` file (``user_id\\titem_id\\trating\\ttimestamp``) strictly.

    Returns the DataFrame ``d2l.read_data_ml100k`` would build from the same file (int64
    columns user_id, item_id, rating, timestamp, file order). Any bad row raises ValueError
    naming the file and the line; so do an empty file and ids with gaps (the book indexes
    matrices by ``id - 1``, so ids must run 1..N).
    """
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8', errors='replace')
    if _CLEAN.fullmatch(text):
        # Well-formed: parse in C. The loop below is the reference; it also finds the line.
        values = onp.fromstring(text, dtype=onp.int64, sep=' ').reshape(-1, 4)
        if values[:, :2].min() >= 1:
            data = pd.DataFrame({name: values[:, k].copy() for k, name in enumerate(COLUMNS)})
            return _check_ids(data, path)
    lines = text.split('\n')
    while lines and not lines[-1].strip():   # a final newline (or a few) is not a row
        lines.pop()
    if not lines:
        raise ValueError(f'{path}: empty file; expected rows of user_id<TAB>item_id<TAB>'
                         f'rating<TAB>timestamp')
    cols = ([], [], [], [])
    for n, line in enumerate(lines, 1):
        fields = line.rstrip('\r').split('\t')
        if len(fields) != 4:
            raise _fail(path, n, f'expected 4 tab-separated fields (user_id, item_id, rating, '
                                 f'timestamp), found {len(fields)}: {line[:80]!r}')
        for name, field, col in zip(COLUMNS, fields, cols):
            if not _INT.match(field):
                raise _fail(path, n, f'{name} {field[:40]!r} is not an integer'
                                     + (' (or too long)' if len(field) > 18 else ''))
            col.append(int(field))
        if cols[0][-1] < 1 or cols[1][-1] < 1:
            name = 'user_id' if cols[0][-1] < 1 else 'item_id'
            raise _fail(path, n, f'{name} {fields[COLUMNS.index(name)]} is below 1 '
                                 f'(MovieLens ids start at 1)')
        if not 1 <= cols[2][-1] <= 5:
            raise _fail(path, n, f'rating {fields[2]} is outside 1..5')
    data = pd.DataFrame({name: onp.array(col, dtype=onp.int64)
                         for name, col in zip(COLUMNS, cols)})
    return _check_ids(data, path)


def _check_ids(data, path):
    for name in ('user_id', 'item_id'):
        ids = data[name].to_numpy()
        count, largest = len(onp.unique(ids)), int(ids.max())
        if count != largest:
            line = int(onp.argmax(ids)) + 1
            raise ValueError(f'{path}: {name}s must run 1..N without gaps (the book indexes '
                             f'by id - 1), but there are {count} distinct ids and the largest '
                             f'is {largest} (line {line})')
    return data


def read_data_ml100k(data_dir=None):
    """Read MovieLens 100K's ``u.data``: (DataFrame, num_users, num_items), as the book.

    ``data_dir``: a folder holding ``u.data``, that file, or an ``ml-100k.zip``; ``None``
    finds the real data set with :func:`d2l_recsys.fetch.ml100k_dir` (argument/env var,
    cache, GroupLens, PyPI mirror). Zips and ``None`` also get the full ML-100K checks. See
    https://d2l.ai/chapter_recommender-systems/movielens.html
    """
    if data_dir is None or str(data_dir).endswith('.zip'):
        from d2l_recsys.fetch import ml100k_dir  # absolute: this code also runs in a notebook
        data_dir = ml100k_dir(data_dir)   # a zip is checked and extracted into the cache
    path = data_dir if os.path.isfile(data_dir) else os.path.join(data_dir, 'u.data')
    data = read_u_data(path)
    num_users = data.user_id.unique().shape[0]
    num_items = data.item_id.unique().shape[0]
    return data, num_users, num_items


def split_data_ml100k(data, num_users, num_items,
                      split_mode='random', test_ratio=0.1):
    """Split the dataset in random mode or seq-aware mode.

    The book's code (https://d2l.ai/chapter_recommender-systems/movielens.html): 'seq-aware'
    holds out each user's latest rating; otherwise each row goes to test with probability
    ``test_ratio``, drawn from MXNet's ``np.random`` (so ``mx.random.seed`` fixes it).
    """
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


def load_data_ml100k(data, num_users, num_items, feedback='explicit'):
    """Turn ratings into index lists and an interaction matrix (explicit) or dict (implicit).

    The book's code (https://d2l.ai/chapter_recommender-systems/movielens.html): returns
    ``users, items, scores`` (0-based ids, Python lists) and ``inter``: an MXNet
    ``(num_items, num_users)`` array of ratings, or ``{user_index: [item_index, ...]}``.
    """
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
                           split_mode='random', test_ratio=0.1):
    """:func:`split_data_ml100k` vectorised; identical output, same MXNet random draws.

    seq-aware: a user's test row is the first of their rows with their latest timestamp
    (users in order of first appearance); train is users 1..num_users in turn, each by time
    (ties in file order), minus every row equal to its user's test row, as the book's
    ``item not in test_data`` does.
    """
    if split_mode == 'seq-aware':
        u, i, r, t = _columns(data)
        rows = onp.arange(len(u))
        uniq, first_row = onp.unique(u, return_index=True)
        missing = onp.setdiff1d(onp.arange(1, num_users + 1), uniq)
        if len(missing):
            raise KeyError(int(missing[0]))   # the book fails at train_items[u] too
        if len(u) == 0:
            return pd.DataFrame([]), pd.DataFrame([])
        # Sorted by user, latest time first, then file order: the head of each user's block
        # is the row the book keeps (it only replaces on a strictly later time).
        order = onp.lexsort((rows, -t, u))
        heads = order[onp.flatnonzero(onp.r_[True, u[order][1:] != u[order][:-1]])]
        test_rows = heads[onp.argsort(first_row, kind='stable')]   # dict insertion order
        train = onp.lexsort((rows, t, u))        # stable sort by time within each user
        train = train[(u[train] >= 1) & (u[train] <= num_users)]
        slot = heads[onp.searchsorted(uniq, u[train])]
        train = train[~((i[train] == i[slot]) & (r[train] == r[slot]) & (t[train] == t[slot]))]
        return (_frame([a[train] for a in (u, i, r, t)]),
                _frame([a[test_rows] for a in (u, i, r, t)]))
    mask = (np.random.uniform(0, 1, (len(data))) < 1 - test_ratio).asnumpy().astype(bool)
    return data[mask], data[~mask]


def load_data_ml100k_fast(data, num_users, num_items, feedback='explicit'):
    """:func:`load_data_ml100k` vectorised; identical output (lists, MXNet array or dict)."""
    u, i, r, _ = _columns(data)
    user_index = (u - 1).astype(onp.int64)
    item_index = (i - 1).astype(onp.int64)
    users, items = user_index.tolist(), item_index.tolist()
    if feedback == 'explicit':
        score = r.astype(onp.int64)
        inter = onp.zeros((num_items, num_users), dtype=np.zeros((1,)).dtype)
        if len(users):
            # The book assigns row by row, so for a repeated (item, user) the last row wins.
            key = (item_index * num_users + user_index)[::-1]
            _, from_end = onp.unique(key, return_index=True)
            last = len(users) - 1 - from_end
            inter[item_index[last], user_index[last]] = score[last]
        return users, items, score.tolist(), np.array(inter, dtype=inter.dtype)
    scores = [1] * len(users)
    inter = {}
    if feedback == 'implicit':
        if len(users):
            order = onp.argsort(user_index, kind='stable')
            grouped = user_index[order]
            starts = onp.flatnonzero(onp.r_[True, grouped[1:] != grouped[:-1]])
            chunks = onp.split(item_index[order], starts[1:])
            # order[starts] is each user's first row: the book's key order.
            for k in onp.argsort(order[starts], kind='stable'):
                inter[int(grouped[starts[k]])] = chunks[k].tolist()
        return users, items, scores, inter
    for key in zip(items, users):   # any other feedback: the book's dict keyed (item, user)
        inter[key] = 1
    return users, items, scores, inter


def split_and_load_ml100k(split_mode='seq-aware', feedback='explicit',
                          test_ratio=0.1, batch_size=256, *, data_dir=None, fast=True):
    """Read, split and load MovieLens 100K into Gluon DataLoaders, as the book.

    Returns ``num_users, num_items, train_iter, test_iter``
    (https://d2l.ai/chapter_recommender-systems/movielens.html). ``data_dir`` as in
    :func:`read_data_ml100k`; ``fast`` uses the vectorised twins (identical data).
    """
    split = split_data_ml100k_fast if fast else split_data_ml100k
    load = load_data_ml100k_fast if fast else load_data_ml100k
    data, num_users, num_items = read_data_ml100k(data_dir)
    train_data, test_data = split(
        data, num_users, num_items, split_mode, test_ratio)
    train_u, train_i, train_r, _ = load(
        train_data, num_users, num_items, feedback)
    test_u, test_i, test_r, _ = load(
        test_data, num_users, num_items, feedback)
    train_set = gluon.data.ArrayDataset(
        np.array(train_u), np.array(train_i), np.array(train_r))
    test_set = gluon.data.ArrayDataset(
        np.array(test_u), np.array(test_i), np.array(test_r))
    train_iter = gluon.data.DataLoader(
        train_set, shuffle=True, last_batch='rollover',
        batch_size=batch_size)
    test_iter = gluon.data.DataLoader(
        test_set, batch_size=batch_size)
    return num_users, num_items, train_iter, test_iter
