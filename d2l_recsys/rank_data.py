r"""Implicit feedback for the ranking half, framework-free: the book's data, vectorised.

The sections "Neural Collaborative Filtering for Personalized Ranking" and "Sequence-Aware
Recommender Systems" read MovieLens 100K, split it in seq-aware mode (each user's latest rating
held out) and load it as implicit feedback: ``candidates = {u: [items u trained on]}`` and
``test_iter = {u: [u's held-out item]}``. Their datasets then draw negatives and cut sequence
windows one example at a time, in Python; here the same data comes as arrays:

* :func:`read_rank_data`: the book's reading, split and implicit loading (:class:`RankData`),
  through the checked data layer (:mod:`d2l_recsys.fetch`, :mod:`d2l_recsys.data`); with
  ``validation=True``, the validation data that tuning reads instead: the same split applied
  again to the training part, each user's second-latest item held out, the test items
  dropped.
* :class:`NegativeSampler`: **the same negatives as the book's** ``PRDataset`` and
  ``SeqDataset`` **for the same random draws**. The book's ``__getitem__`` computes
  ``neg = list(all_items - set(candidates[u]))`` (a set difference over all items, per
  example) and returns ``neg[random.randint(0, len(neg) - 1)]``. The lists depend only on the
  user, so they are computed once, in the book's order (that of the Python set the book
  builds); every example still takes its ``random.randint`` from Python's global generator,
  in the order the book's DataLoader asks for examples (one worker: ``num_workers=0``), so
  with the same state of ``random`` the negatives are element for element the book's.
* :func:`seq_windows`: the arrays of the book's ``SeqDataset`` (``seq_users``,
  ``seq_items``, ``seq_tgt``, ``test_seq``), element for element, without a Python loop over
  windows. A user with ``c`` training items gives ``c - L`` windows of ``L`` items and their
  next item, latest first, when ``c > L``; a user with exactly ``L`` or one item gives one
  window (the book's broadcasting); a user with 2 to ``L - 1`` items makes the book's code
  fail (a window of ``c`` items does not fit the ``L`` slots), and is refused here in one
  line.
"""
import dataclasses
import os
import random
import sys

import numpy

from . import data, fetch

__all__ = ['RankData', 'read_rank_data', 'negative_lists', 'NegativeSampler', 'SeqWindows',
           'seq_windows', 'check_windows', 'last_items']


@dataclasses.dataclass
class RankData:
    """One run's implicit data: where it came from, its sizes, the training interactions
    (``users``, ``items``: the book's ``users_train``, ``items_train``, 0-based lists, in the
    seq-aware split's order: users in turn, each by time), ``candidates`` (``{u: [items]}``)
    and ``test_items`` (``{u: [held-out item]}``, the book's ``test_iter``). ``held_out``:
    what ``test_items`` are, ``'test'`` (each user's latest item) or ``'validation'`` (each
    user's second-latest: the training part split again)."""
    folder: str
    num_users: int
    num_items: int
    users: list
    items: list
    candidates: dict
    test_items: dict
    held_out: str = 'test'

    def info(self):
        """The data part of a run's ``info``: folder, sizes, the training interactions as
        NumPy arrays (``ratings`` all 1: implicit feedback)."""
        users = numpy.asarray(self.users, dtype=numpy.int64)
        return {'data_dir': self.folder, 'train_size': len(self.users),
                'test_size': sum(len(v) for v in self.test_items.values()),
                'train_interactions': {'users': users,
                                       'items': numpy.asarray(self.items, dtype=numpy.int64),
                                       'ratings': numpy.ones(len(users), numpy.float32)}}


def _log(message):
    fetch.print_once(message, file=sys.stderr)


def read_rank_data(data_dir=None, *, validation=False):
    """The data part of the book's NeuMF and Caser cells: read MovieLens 100K, split it in
    seq-aware mode, load both parts as implicit feedback. Returns a :class:`RankData`.

    ``data_dir`` as for :func:`d2l_recsys.experiments.read_split_load` (the same checks for
    every way in; data other than the full ML-100K is used with a note). The seq-aware split
    draws no random numbers, so it is the same in both tabs. ``validation=True``: the
    training part is split again the same way, and what is returned holds the rest for
    training and each user's latest training item (the second-latest of all) as
    ``test_items``; the test items are dropped before anything else is made.
    """
    folder = os.path.abspath(fetch.ml100k_dir(data_dir, log=_log, allow_subset=True))
    df, num_users, num_items = data.read_data_ml100k(folder)
    train_data, test_data = data.split_data_ml100k_fast(df, num_users, num_items, 'seq-aware')
    if validation:
        del test_data   # never read while choosing settings
        _check_each_user(train_data, num_users, 'the validation split needs two')
        train_data, test_data = data.split_data_ml100k_fast(train_data, num_users, num_items,
                                                            'seq-aware')
    if len(train_data) == 0:
        raise ValueError(f'the seq-aware split leaves no training interactions (of '
                         f'{len(df):,}): every user has a single rating')
    users, items, _, candidates = data.load_data_ml100k_fast(train_data, num_users,
                                                             num_items, 'implicit')
    _, _, _, test_items = data.load_data_ml100k_fast(test_data, num_users, num_items,
                                                     'implicit')
    return RankData(folder, num_users, num_items, users, items, candidates, test_items,
                    'validation' if validation else 'test')


def _check_each_user(train_data, num_users, why):
    # The seq-aware split needs every user among the rows it splits.
    users = set(numpy.asarray(train_data.iloc[:, 0]).tolist()) if len(train_data) else set()
    missing = sorted(set(range(1, num_users + 1)) - users)
    if missing:
        raise ValueError(f'user {missing[0]} has a single rating: {why} per user (the latest '
                         f'for the test, the second-latest for validation)')


def negative_lists(candidates, num_users, num_items):
    """Per user, the book's list of items to draw a negative from, as one padded table.

    ``list(all_items - set(candidates[u]))`` with ``all_items = set([i for i in
    range(num_items)])``, exactly as ``PRDataset``/``SeqDataset`` compute it (so in the same
    order). Returns ``(table, lengths)``: ``table[u, :lengths[u]]`` is user ``u``'s list
    (int64; users without training items get an empty one).
    """
    all_items = set([i for i in range(num_items)])
    lists = [list(all_items - set(candidates[u])) if u in candidates else []
             for u in range(num_users)]
    lengths = numpy.array([len(x) for x in lists], dtype=numpy.int64)
    table = numpy.zeros((num_users, max(1, int(lengths.max(initial=0)))), dtype=numpy.int64)
    for u, x in enumerate(lists):
        table[u, :len(x)] = x
    return table, lengths


class NegativeSampler:
    """The book's negative sampling, one draw per example, without the per-example set.

    ``sample(users)`` returns, for each user of ``users`` in order, the item the book's
    ``__getitem__`` returns for it: ``neg[random.randint(0, len(neg) - 1)]``, ``neg`` the
    user's list of :func:`negative_lists`, the draw from Python's global ``random`` (the
    generator the book's datasets use). Same state of ``random``, same negatives.
    """
    def __init__(self, candidates, num_users, num_items):
        self.table, self.lengths = negative_lists(candidates, num_users, num_items)

    def sample(self, users):
        users = numpy.asarray(users, dtype=numpy.int64).reshape(-1)
        lengths = self.lengths[users]
        if len(users) and lengths.min() == 0:
            u = int(users[numpy.argmin(lengths)])
            raise ValueError(f'user {u} has no item to draw a negative from (none, or '
                             'every item, in training)')
        randint = random.randint
        draws = numpy.fromiter((randint(0, n - 1) for n in lengths.tolist()),
                               dtype=numpy.int64, count=len(users))
        return self.table[users, draws]


@dataclasses.dataclass
class SeqWindows:
    """The arrays of the book's ``SeqDataset``, as host NumPy arrays of its dtypes:
    ``users`` (``seq_users``, int32), ``items`` (``seq_items``, ``(n, L)`` float32),
    ``targets`` (``seq_tgt``, ``(n, 1)`` float32) and ``test_seq`` (``(num_users, L)``
    float32: each user's last ``L`` training items, the input when predicting the held-out
    one; zeros for a user without training items)."""
    users: numpy.ndarray
    items: numpy.ndarray
    targets: numpy.ndarray
    test_seq: numpy.ndarray

    def __len__(self):
        return len(self.users)


def _blocks(user_ids, item_ids):
    """Training items grouped by user (stable: the split's time order kept), and each user's
    ``(user, start, count)`` in ascending user order."""
    user_ids = numpy.asarray(user_ids, dtype=numpy.int64).reshape(-1)
    item_ids = numpy.asarray(item_ids).reshape(-1)
    order = numpy.argsort(user_ids, kind='stable')
    u, i = user_ids[order], item_ids[order]
    uniq, start, count = numpy.unique(u, return_index=True, return_counts=True)
    return i, uniq, start, count


def check_windows(user_ids, item_ids, L):
    """ValueError (one line) for a user with 2 to ``L - 1`` training items, which the book's
    ``SeqDataset`` cannot put in a window of ``L``."""
    _, uniq, _, count = _blocks(user_ids, item_ids)
    bad = (count >= 2) & (count < L)
    if bad.any():
        k = int(numpy.argmax(bad))
        raise ValueError(f'user {int(uniq[k])} has {int(count[k])} training items: the book\'s '
                         f'SeqDataset needs more than L = {L} (or exactly L, or one) per user; '
                         f'{int(bad.sum())} user(s) have 2 to {L - 1}. Choose a smaller L')


def seq_windows(user_ids, item_ids, L, num_users):
    """The book's ``SeqDataset`` arrays (:class:`SeqWindows`), element for element.

    ``user_ids``, ``item_ids``: the training interactions (0-based), in the split's order.
    Users in ascending order; each user's windows from the latest to the earliest: window
    ``k`` of a user with ``c > L`` items is items ``c-k-L-1 .. c-k-2`` and target
    ``c-k-1``. See the module's docstring for users with ``L`` items or fewer.
    """
    L = int(L)
    check_windows(user_ids, item_ids, L)
    items, uniq, start, count = _blocks(user_ids, item_ids)
    items = items.astype(numpy.float32)
    long = count > L
    per_user = numpy.where(long, count - L, 1)
    n = int(per_user.sum())
    owner = numpy.repeat(numpy.arange(len(uniq)), per_user)
    k = numpy.arange(n) - numpy.repeat(numpy.cumsum(per_user) - per_user, per_user)
    # Long users: the window ends at c - k (exclusive) and starts L + 1 before it.
    first = start[owner] + count[owner] - k - L - 1
    offsets = numpy.arange(L)
    seq_items = numpy.empty((n, L), dtype=numpy.float32)
    targets = numpy.empty((n, 1), dtype=numpy.float32)
    lo = long[owner]
    seq_items[lo] = items[first[lo, None] + offsets]
    targets[lo, 0] = items[first[lo] + L]
    # Short users (exactly L items, or one): the whole block is the window, broadcast to L.
    sh = ~lo
    if sh.any():
        s0, c0 = start[owner[sh]], count[owner[sh]]
        seq_items[sh] = items[s0[:, None] + numpy.minimum(offsets, c0[:, None] - 1)]
        targets[sh, 0] = items[s0 + c0 - 1]
    test_seq = numpy.zeros((num_users, L), dtype=numpy.float32)
    last = start + count   # each user's latest window is their last L (or all) items
    test_seq[uniq] = items[numpy.maximum(last[:, None] - L + offsets, start[:, None])]
    return SeqWindows(uniq[owner].astype(numpy.int32), seq_items, targets, test_seq)


def last_items(windows_or_test_seq):
    """Each user's last ``L`` training items as int64 (``test_seq``): what Caser reads to
    recommend, saved with a trained model."""
    test_seq = getattr(windows_or_test_seq, 'test_seq', windows_or_test_seq)
    return numpy.asarray(test_seq).astype(numpy.int64)
