"""Test RMSE of the rating models in PyTorch: the book's two evaluators and exact RMSEs.

``evaluator`` translates the book's MF evaluator (:numref:`sec_mf`), running mean and all, so
that the PyTorch tab prints the number the book's figures show; ``autorec_evaluator`` is the
PyTorch AutoRec deck's evaluator. ``rmse_exact`` and ``autorec_rmse_exact`` are the RMSE over
all test ratings, for reports.
"""
import numpy as onp
import torch

from .. import metrics

__all__ = ['evaluator', 'autorec_evaluator', 'rmse_exact', 'autorec_rmse_exact']


def evaluator(net, test_iter, devices):
    """The book's MF evaluator (:numref:`sec_mf`), translated from MXNet.

    Not the RMSE of the test set: the book's ``mx.metric.RMSE`` averages the RMSE of every
    device shard seen so far, and the evaluator then averages those running values over the
    batches (early batches weigh more, a batch of 3 counts like one of 512). The shards are
    cut as the book's ``split_and_load`` cuts them (:func:`d2l_recsys.metrics.shard_sizes`;
    empty ones, where a batch is smaller than the number of devices, are left out), so the
    number is the MXNet tab's for the same predictions and devices. :func:`rmse_exact` is the
    test-set RMSE.
    """
    net.eval()
    sum_metric, num_inst = 0.0, 0   # mx.metric.RMSE's state
    rmse_list = []
    with torch.no_grad():
        for idx, (users, items, ratings) in enumerate(test_iter):
            r_hat = net(users.to(devices[0]), items.to(devices[0])).cpu()
            sizes = [n for n in metrics.shard_sizes(len(ratings), len(devices)) if n]
            for r, p in zip(torch.split(ratings, sizes), torch.split(r_hat, sizes)):
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


def _predict_mf(net, test_iter, devices):
    net.eval()
    preds, labels = [], []
    with torch.no_grad():
        for users, items, ratings in test_iter:
            preds.append(net(users.to(devices[0]), items.to(devices[0])).cpu().numpy())
            labels.append(ratings.numpy())
    if not preds:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return onp.concatenate(preds), onp.concatenate(labels)


def rmse_exact(net, test_iter, devices):
    """Exact test RMSE of an MF-style model over every (user, item, rating) ``test_iter``
    yields (:func:`d2l_recsys.metrics.rmse`, float64)."""
    return metrics.rmse(*_predict_mf(net, test_iter, devices))


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec, same inputs as :func:`autorec_evaluator` (which is already
    exact): :func:`d2l_recsys.metrics.masked_rmse` of the reconstruction, float64.
    ``inter_matrix`` may be a DataLoader of row batches or a whole matrix."""
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [torch.as_tensor(onp.asarray(inter_matrix), dtype=torch.float32)]
    network.eval()
    parts = []
    with torch.no_grad():
        for values in inter_matrix:
            parts.append(network(values.to(devices[0])).cpu().numpy())
    return metrics.masked_rmse(onp.concatenate(parts), test_data)
