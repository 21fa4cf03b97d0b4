"""The MovieLens Dataset, the chapter's second section, in the PyTorch tab.

Book: "The MovieLens Dataset", https://d2l.ai/chapter_recommender-systems/movielens.html. The
section's four functions, ``read_data_ml100k``, ``split_data_ml100k``, ``load_data_ml100k`` and
:func:`split_and_load_ml100k` (with ``read_item_titles``, the vectorised twins
``split_data_ml100k_fast``, ``load_data_ml100k_fast``, and :func:`rating_dataset`). Reading,
splitting and loading are the framework-free functions of :mod:`d2l_recsys.data` with NumPy as
the book's ``np``: the random split draws from NumPy's global generator (which
:func:`d2l_recsys.torch.experiments.set_seed` seeds) and ``load_data_ml100k`` returns its
interaction matrix as a NumPy array, as the PyTorch AutoRec deck expects.
``split_and_load_ml100k`` is the book's function with PyTorch ``DataLoader``s.
"""
import numpy as onp
import torch

from ..data import (load_data_ml100k, load_data_ml100k_fast, read_data_ml100k,
                    read_item_titles, split_data_ml100k, split_data_ml100k_fast)

__all__ = ['read_data_ml100k', 'read_item_titles', 'split_data_ml100k', 'load_data_ml100k',
           'split_data_ml100k_fast', 'load_data_ml100k_fast', 'split_and_load_ml100k',
           'rating_dataset']


def rating_dataset(users, items, scores):
    """A ``TensorDataset`` of (user, item, rating): int64 indices (what ``nn.Embedding``
    takes) and float32 ratings; the book's ``gluon.data.ArrayDataset`` of the three lists."""
    return torch.utils.data.TensorDataset(
        torch.as_tensor(onp.asarray(users, dtype=onp.int64)),
        torch.as_tensor(onp.asarray(items, dtype=onp.int64)),
        torch.as_tensor(onp.asarray(scores, dtype=onp.float32)))


def split_and_load_ml100k(split_mode='seq-aware', feedback='explicit',
                          test_ratio=0.1, batch_size=256, *, data_dir=None, fast=True):
    """Read, split and load MovieLens 100K into PyTorch DataLoaders, as the book.

    Returns ``num_users, num_items, train_iter, test_iter``
    (https://d2l.ai/chapter_recommender-systems/movielens.html). The training loader
    shuffles; its last batch may be short (Gluon's ``last_batch='rollover'``, which carries
    the rest into the next epoch, has no PyTorch counterpart). ``data_dir`` as in
    ``read_data_ml100k``; ``fast`` uses the vectorised twins (identical data).
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
    train_set = rating_dataset(train_u, train_i, train_r)
    test_set = rating_dataset(test_u, test_i, test_r)
    train_iter = torch.utils.data.DataLoader(
        train_set, shuffle=True, batch_size=batch_size)
    test_iter = torch.utils.data.DataLoader(
        test_set, batch_size=batch_size)
    return num_users, num_items, train_iter, test_iter
