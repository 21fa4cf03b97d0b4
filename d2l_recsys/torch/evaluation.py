"""Test RMSE of the rating models in PyTorch: the book's two evaluators and exact RMSEs.

``evaluator`` translates the book's MF evaluator (:numref:`sec_mf`), running mean and all, so
that the PyTorch tab prints the number the book's figures show; ``autorec_evaluator`` is the
PyTorch AutoRec deck's evaluator. ``rmse_exact`` and ``autorec_rmse_exact`` are the RMSE over
all test ratings, for reports.
"""
import math

import numpy as onp
import torch

__all__ = ['evaluator', 'autorec_evaluator', 'rmse_exact', 'autorec_rmse_exact',
           'split_sizes']


def split_sizes(size, num_slices):
    """Shard sizes of a batch of ``size`` over ``num_slices`` devices, as MXNet 1.9's
    ``gluon.utils.split_and_load(..., even_split=False)`` cuts it: ``size // num_slices``
    each, the first ``size % num_slices`` shards one more. (Where MXNet would make empty
    shards, a batch smaller than the number of devices, they are left out.)"""
    each, extras = divmod(size, num_slices)
    sizes = [each + 1] * extras + [each] * (num_slices - extras)
    return [s for s in sizes if s > 0]


def evaluator(net, test_iter, devices):
    """The book's MF evaluator (:numref:`sec_mf`), translated from MXNet.

    Not the RMSE of the test set: the book's ``mx.metric.RMSE`` averages the RMSE of every
    device shard seen so far, and the evaluator then averages those running values over the
    batches (early batches weigh more, a batch of 3 counts like one of 512). Shards are cut as
    the book's ``split_and_load`` cuts them, so the number is the MXNet tab's for the same
    predictions and devices. :func:`rmse_exact` is the test-set RMSE.
    """
    net.eval()
    sum_metric, num_inst = 0.0, 0   # mx.metric.RMSE's state
    rmse_list = []
    with torch.no_grad():
        for idx, (users, items, ratings) in enumerate(test_iter):
            r_hat = net(users.to(devices[0]), items.to(devices[0])).cpu()
            for r, p in zip(torch.split(ratings, split_sizes(len(ratings), len(devices))),
                            torch.split(r_hat, split_sizes(len(ratings), len(devices)))):
                sum_metric += float(torch.sqrt(torch.mean(
                    torch.square(r.reshape(p.shape).float() - p))))
                num_inst += 1
            rmse_list.append(sum_metric / num_inst)
    return float(onp.mean(onp.array(rmse_list, dtype=onp.float32)))


def autorec_evaluator(network, inter_matrix, test_data, devices):
    """The PyTorch AutoRec deck's evaluator (there named ``evaluator``).

    ``inter_matrix`` iterates over the *training* interaction matrix in row order (the deck
    passes a non-shuffled DataLoader as ``test_iter``); the network reconstructs every row and
    the RMSE is taken over the observed entries of ``test_data`` (the test interaction matrix,
    NumPy): already the exact test RMSE.
    """
    network.eval()
    scores = []
    with torch.no_grad():
        for values in inter_matrix:
            values = values.to(devices[0])
            scores.append(network(values).cpu().numpy())
    recons = onp.concatenate(scores, axis=0)
    # Calculate the test RMSE
    rmse = onp.sqrt(
        onp.sum(onp.square(test_data - onp.sign(test_data) * recons))
        / onp.sum(onp.sign(test_data)))
    return float(rmse)


def rmse_exact(net, test_iter, devices):
    r"""Exact test RMSE of an MF-style model: :math:`\sqrt{\frac{1}{|T|}\sum_{(u,i)\in T}
    (R_{ui} - \hat R_{ui})^2}` over every (user, item, rating) ``test_iter`` yields; float64."""
    net.eval()
    sse, count = 0.0, 0
    with torch.no_grad():
        for users, items, ratings in test_iter:
            pred = net(users.to(devices[0]), items.to(devices[0])).cpu().double()
            diff = ratings.double().reshape(pred.shape) - pred
            sse += float((diff * diff).sum())
            count += diff.numel()
    if count == 0:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return math.sqrt(sse / count)


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec, same inputs as :func:`autorec_evaluator` (which is already
    exact); sums in float64 and checks that the reconstruction has ``test_data``'s shape.
    ``inter_matrix`` may be a DataLoader of row batches or a whole matrix."""
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [torch.as_tensor(onp.asarray(inter_matrix), dtype=torch.float32)]
    network.eval()
    parts = []
    with torch.no_grad():
        for values in inter_matrix:
            parts.append(network(values.to(devices[0])).cpu().numpy())
    recons = onp.concatenate(parts).astype(onp.float64)
    test = onp.asarray(test_data, dtype=onp.float64)
    if recons.shape != test.shape:
        raise ValueError(f'autorec_rmse_exact: reconstruction has shape {recons.shape} but '
                         f'test_data has {test.shape}; pass the training matrix in row order')
    observed = test != 0
    n = int(observed.sum())
    if n == 0:
        raise ValueError('autorec_rmse_exact: test_data has no observed ratings')
    return math.sqrt(float(((test - recons)[observed] ** 2).sum()) / n)
