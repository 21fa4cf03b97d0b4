"""Test RMSE of the rating models: the book's two evaluators and exact versions beside them.

Book: :numref:`sec_mf` (``evaluator``) and :numref:`sec_autorec` (its AutoRec evaluator, here
``autorec_evaluator`` because both live in one module). Reports name which one a figure is.
"""
import math

import mxnet as mx
import numpy as onp
from mxnet import npx, gluon, np

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['evaluator', 'autorec_evaluator', 'rmse_exact', 'autorec_rmse_exact']


def evaluator(net, test_iter, devices):
    """The book's MF evaluator (:numref:`sec_mf`), unchanged.

    Not the RMSE of the test set: ``mx.metric.RMSE`` averages the RMSE of each device shard
    seen so far, and this function then averages those running values over the batches, so
    early batches weigh more and a batch of 3 counts like one of 512. It is kept because the
    book's figures and its printed "test RMSE" are this number; :func:`rmse_exact` gives the
    square root of the mean squared error over all test ratings.
    """
    rmse = mx.metric.RMSE()  # Get the RMSE
    rmse_list = []
    for idx, (users, items, ratings) in enumerate(test_iter):
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r_ui = gluon.utils.split_and_load(ratings, devices, even_split=False)
        r_hat = [net(u, i) for u, i in zip(u, i)]
        rmse.update(labels=r_ui, preds=r_hat)
        rmse_list.append(rmse.get()[1])
    return float(np.mean(np.array(rmse_list)))


def autorec_evaluator(network, inter_matrix, test_data, devices):
    """The book's AutoRec evaluator (:numref:`sec_autorec`, there named ``evaluator``).

    ``inter_matrix`` iterates over the *training* interaction matrix in order (the book passes a
    non-shuffled DataLoader as ``test_iter``), the network reconstructs every row, and the RMSE
    is taken over the observed entries of ``test_data`` (the test interaction matrix). This one
    is already the exact test RMSE.
    """
    scores = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        scores.extend([network(i).asnumpy() for i in feat])
    recons = np.array([item for sublist in scores for item in sublist])
    # Calculate the test RMSE
    rmse = np.sqrt(np.sum(np.square(test_data - np.sign(test_data) * recons))
                   / np.sum(np.sign(test_data)))
    return float(rmse)


def rmse_exact(net, test_iter, devices):
    r"""Exact test RMSE of an MF-style model: :math:`\sqrt{\frac{1}{|T|}\sum_{(u,i)\in T}
    (R_{ui} - \hat R_{ui})^2}` over every (user, item, rating) triple ``test_iter`` yields.

    Same inputs as :func:`evaluator`; sums in float64 on the host.
    """
    sse, count = 0.0, 0
    for users, items, ratings in test_iter:
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r = gluon.utils.split_and_load(ratings, devices, even_split=False)
        for u_, i_, r_ in zip(u, i, r):
            diff = r_.asnumpy().astype(onp.float64) - net(u_, i_).asnumpy().astype(onp.float64)
            sse += float((diff * diff).sum())
            count += diff.size
    if count == 0:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return math.sqrt(sse / count)


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec, same inputs as :func:`autorec_evaluator`.

    The book's AutoRec evaluator is already exact; this twin sums in float64 with host NumPy
    (no per-row Python list) and checks that the reconstruction has ``test_data``'s shape.
    ``inter_matrix`` may be a DataLoader/iterable of row batches or a whole matrix.
    """
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [inter_matrix]
    parts = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        parts.extend(network(x).asnumpy() for x in feat)
    recons = onp.concatenate(parts).astype(onp.float64)
    test = test_data.asnumpy() if hasattr(test_data, 'asnumpy') else onp.asarray(test_data)
    test = test.astype(onp.float64)
    if recons.shape != test.shape:
        raise ValueError(f'autorec_rmse_exact: reconstruction has shape {recons.shape} but '
                         f'test_data has {test.shape}; pass the training matrix in row order')
    observed = test != 0
    n = int(observed.sum())
    if n == 0:
        raise ValueError('autorec_rmse_exact: test_data has no observed ratings')
    return math.sqrt(float(((test - recons)[observed] ** 2).sum()) / n)
