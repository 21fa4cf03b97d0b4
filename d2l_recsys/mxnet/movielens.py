"""The MovieLens Dataset, the chapter's second section, in the MXNet tab.

Book: "The MovieLens Dataset", https://d2l.ai/chapter_recommender-systems/movielens.html. The
section's four functions, as the book's cells call them: ``read_data_ml100k``,
:func:`split_data_ml100k`, :func:`load_data_ml100k` and :func:`split_and_load_ml100k` (with
``read_item_titles`` and the vectorised twins :func:`split_data_ml100k_fast`,
:func:`load_data_ml100k_fast`). The reading, splitting and loading are
:mod:`d2l_recsys.data`'s (framework-free); here they draw from and build with MXNet's ``np``,
as the book's code does, so that a split made after ``mx.random.seed(s)`` is the one ``d2l``
makes. :func:`split_and_load_ml100k` returns Gluon ``DataLoader``s.
"""
from mxnet import gluon, np

from .. import data as movielens
from ..data import read_data_ml100k, read_item_titles

__all__ = ['read_data_ml100k', 'read_item_titles', 'split_data_ml100k', 'load_data_ml100k',
           'split_data_ml100k_fast', 'load_data_ml100k_fast', 'split_and_load_ml100k']


def split_data_ml100k(data, num_users, num_items, split_mode='random', test_ratio=0.1):
    """The book's split, drawing from MXNet's ``np.random`` (``mx.random.seed`` fixes it)."""
    return movielens.split_data_ml100k(data, num_users, num_items, split_mode, test_ratio,
                                       xp=np)


def load_data_ml100k(data, num_users, num_items, feedback='explicit'):
    """The book's loader; the explicit interaction matrix is an MXNet array, as the book's."""
    return movielens.load_data_ml100k(data, num_users, num_items, feedback, xp=np)


def split_data_ml100k_fast(data, num_users, num_items, split_mode='random', test_ratio=0.1):
    """:func:`split_data_ml100k` vectorised: identical output, the same MXNet random draws."""
    return movielens.split_data_ml100k_fast(data, num_users, num_items, split_mode, test_ratio,
                                            xp=np)


def load_data_ml100k_fast(data, num_users, num_items, feedback='explicit'):
    """:func:`load_data_ml100k` vectorised: identical output (lists, MXNet array or dict)."""
    return movielens.load_data_ml100k_fast(data, num_users, num_items, feedback, xp=np)


def split_and_load_ml100k(split_mode='seq-aware', feedback='explicit',
                          test_ratio=0.1, batch_size=256, *, data_dir=None, fast=True):
    """Read, split and load MovieLens 100K into Gluon DataLoaders, as the book.

    Returns ``num_users, num_items, train_iter, test_iter``. ``data_dir`` as in
    :func:`~d2l_recsys.data.read_data_ml100k`; ``fast`` uses the vectorised twins (identical
    data, the same random draws).
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
