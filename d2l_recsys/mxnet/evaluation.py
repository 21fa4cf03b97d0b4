"""Test RMSE of the rating models: the book's two evaluators and exact versions beside them.

Book: :numref:`sec_mf` (``evaluator``) and :numref:`sec_autorec` (its AutoRec evaluator, here
``autorec_evaluator`` because both live in one module). Reports name which one a figure is.
"""
import mxnet as mx
import numpy as onp
from mxnet import npx, gluon, np

from .. import metrics

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
    """Exact test RMSE of an MF-style model (:func:`d2l_recsys.metrics.rmse`) over every
    (user, item, rating) triple ``test_iter`` yields; same inputs as :func:`evaluator`."""
    preds, labels = [], []
    for users, items, ratings in test_iter:
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r = gluon.utils.split_and_load(ratings, devices, even_split=False)
        for u_, i_, r_ in zip(u, i, r):
            preds.append(net(u_, i_).asnumpy().reshape(-1))
            labels.append(r_.asnumpy().reshape(-1))
    if not labels:
        raise ValueError('rmse_exact: the test iterator yielded no ratings')
    return metrics.rmse(onp.concatenate(preds), onp.concatenate(labels))


def autorec_rmse_exact(network, inter_matrix, test_data, devices):
    """Exact test RMSE of AutoRec (:func:`d2l_recsys.metrics.masked_rmse`), same inputs as
    :func:`autorec_evaluator`; ``inter_matrix`` may also be a whole matrix instead of an
    iterable of row batches."""
    if hasattr(inter_matrix, 'shape'):
        inter_matrix = [inter_matrix]
    parts = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        parts.extend(network(x).asnumpy() for x in feat)
    return metrics.masked_rmse(onp.concatenate(parts), test_data)
