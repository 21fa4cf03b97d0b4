r"""Test RMSE from predictions, framework-free: one exact RMSE per model, and the book's MF figure.

Every path of both tabs computes its predictions on its devices and hands them here as host
arrays, so "exact test RMSE" means one formula everywhere, summed in float64:

* MF: :math:`\sqrt{\frac{1}{|T|}\sum_{(u,i)\in T} (R_{ui} - \hat R_{ui})^2}` over the test
  triples (:func:`rmse`);
* AutoRec: the same over the observed (non-zero) entries of the test interaction matrix, the
  reconstruction read at those entries (:func:`masked_rmse`), which is what the book's AutoRec
  evaluator computes.

The book's MF evaluator is not the test-set RMSE: it averages running RMSEs over test batches
and device shards; :func:`book_running_rmse` recomputes that number from the same predictions.
"""
import math

import numpy

__all__ = ['rmse', 'masked_rmse', 'book_running_rmse', 'shard_sizes']


def _host(a):
    return a.asnumpy() if hasattr(a, 'asnumpy') else numpy.asarray(a)


def rmse(predictions, ratings):
    """Exact RMSE of predicted against true ratings (any array-likes of equal length)."""
    p = _host(predictions).astype(numpy.float64).reshape(-1)
    r = _host(ratings).astype(numpy.float64).reshape(-1)
    if p.shape != r.shape:
        raise ValueError(f'rmse: {p.size} predictions for {r.size} ratings')
    if r.size == 0:
        raise ValueError('rmse: no test ratings')
    return math.sqrt(float(((r - p) ** 2).mean()))


def masked_rmse(reconstruction, test_matrix):
    """Exact RMSE over the observed (non-zero) entries of ``test_matrix``.

    ``reconstruction`` has the test matrix's shape (rows as the model reconstructs them).
    """
    recons = _host(reconstruction).astype(numpy.float64)
    test = _host(test_matrix).astype(numpy.float64)
    if recons.shape != test.shape:
        raise ValueError(f'masked_rmse: reconstruction has shape {recons.shape} but the test '
                         f'matrix {test.shape}; reconstruct the training matrix in row order')
    observed = test != 0
    n = int(observed.sum())
    if n == 0:
        raise ValueError('masked_rmse: the test matrix has no observed ratings')
    return math.sqrt(float(((test - recons)[observed] ** 2).sum()) / n)


def shard_sizes(n, num_devices):
    """Sizes of the parts ``split_and_load`` cuts ``n`` rows into (the first ones larger)."""
    each, extras = divmod(n, num_devices)
    return [each + 1] * extras + [each] * (num_devices - extras)


def book_running_rmse(preds, labels, batch_size, num_devices):
    """The book's MF evaluator computed from all the test predictions at once.

    The book iterates the test set in batches of ``batch_size`` (the last one smaller), splits
    each over the devices (``even_split=False``), adds the RMSE of every shard to an
    ``mx.metric.RMSE`` (a mean of shard RMSEs) and returns the mean, over batches, of the
    metric's running value. Same arithmetic here (float32 per shard, as the metric's NumPy).
    """
    preds = _host(preds).astype(numpy.float32).reshape(-1)
    labels = _host(labels).astype(numpy.float32).reshape(-1)
    total, count, running = 0., 0, []
    for start in range(0, len(labels), batch_size):
        p, r = preds[start:start + batch_size], labels[start:start + batch_size]
        bounds = numpy.cumsum([0] + shard_sizes(len(r), num_devices))
        for a, b in zip(bounds[:-1], bounds[1:]):
            total += float(numpy.sqrt(((r[a:b] - p[a:b]) ** 2.0).mean()))
            count += 1
        running.append(total / count)
    return float(numpy.mean(numpy.array(running, dtype=numpy.float32)))
