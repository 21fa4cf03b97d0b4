"""The computer-vision chapter's trainer that the FM and DeepFM sections call (MXNet), and its
fast twin.

The book trains FM and DeepFM with ``d2l.train_ch13`` (:numref:`sec_image_augmentation`),
which calls ``train_batch_ch13``, ``evaluate_accuracy_gpus`` (:numref:`sec_multi_gpu_concise`),
``split_batch`` (:numref:`sec_multi_gpu`) and ``accuracy`` (:numref:`sec_utils`). They are here
as d2l 1.0.3 has them, so that they print and compute what the book's cells print and compute.
For the click models two of those numbers are not what their names say: ``train_ch13``'s loss is
the book's ``SigmoidBinaryCrossEntropyLoss`` of a model that already ends with a sigmoid (a
sigmoid applied twice), and ``accuracy`` on a one-column output compares the predicted
probability with the 0/1 label for equality, so it counts only predictions that have
saturated to exactly 0.0 or 1.0. The experiment functions print the exact numbers beside them
(:mod:`d2l_recsys.ctr_runs`).

Changes that keep the book's numbers: ``devices=None`` means :func:`try_all_gpus` at call time
(d2l evaluates ``d2l.try_all_gpus()`` once, at import, and gets ``[]`` on a machine without a
GPU); the progress plot's step, ``num_batches // 5``, is at least 1 (d2l divides by zero with
fewer than 5 batches); the plot works headless; ``train_ch13`` returns a history (the per-epoch
numbers it computes) and takes keyword-only extras.

:func:`train_ch13_fast` trains on the same batches with the same numbers, sooner: the examples
sit on every device from the start, each epoch's batches are those the book's
``DataLoader(shuffle=True, last_batch='rollover')`` draws (:class:`~d2l_recsys.mxnet.fast.
RolloverBatches`), the model and loss are one cached graph per batch, and the losses and
accuracy counts stay on the devices until the epoch ends.
"""
import contextlib
import math
import os
import time

import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from ..ctr_runs import finish_click_history, new_click_history, record_click_epoch
from ..plotting import Animator, in_notebook
from ..utils import Accumulator, Timer
from .fast import RolloverBatches, sync_losses
from .devices import try_all_gpus
from .mf import batch_hint

npx.set_np()

__all__ = ['accuracy', 'split_batch', 'evaluate_accuracy_gpus', 'train_batch_ch13',
           'train_ch13', 'train_ch13_fast', 'predict_clicks', 'click_animator']

HYBRID_FLAGS = dict(static_alloc=True, static_shape=True)


def accuracy(y_hat, y):
    """Compute the number of correct predictions.

    Defined in :numref:`sec_utils`"""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.astype(y.dtype) == y
    return float(cmp.astype(y.dtype).sum())


def split_batch(X, y, devices):
    """Split `X` and `y` into multiple devices.

    Defined in :numref:`sec_multi_gpu`"""
    assert X.shape[0] == y.shape[0]
    return (gluon.utils.split_and_load(X, devices),
            gluon.utils.split_and_load(y, devices))


def evaluate_accuracy_gpus(net, data_iter, split_f=split_batch):
    """Compute the accuracy for a model on a dataset using multiple GPUs.

    Defined in :numref:`sec_multi_gpu_concise`"""
    # Query the list of devices
    devices = list(net.collect_params().values())[0].list_ctx()
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)
    for features, labels in data_iter:
        X_shards, y_shards = split_f(features, labels, devices)
        # Run in parallel
        pred_shards = [net(X_shard) for X_shard in X_shards]
        metric.add(sum(float(accuracy(pred_shard, y_shard)) for
                       pred_shard, y_shard in zip(
                           pred_shards, y_shards)), labels.size)
    return metric[0] / metric[1]


def train_batch_ch13(net, features, labels, loss, trainer, devices,
                     split_f=split_batch):
    """Train for a minibatch with multiple GPUs (defined in Chapter 13).

    Defined in :numref:`sec_image_augmentation`"""
    X_shards, y_shards = split_f(features, labels, devices)
    with autograd.record():
        pred_shards = [net(X_shard) for X_shard in X_shards]
        ls = [loss(pred_shard, y_shard) for pred_shard, y_shard
              in zip(pred_shards, y_shards)]
    for l in ls:
        l.backward()
    # The `True` flag allows parameters with stale gradients, which is useful
    # later (e.g., in fine-tuning BERT)
    trainer.step(labels.shape[0], ignore_stale_grad=True)
    train_loss_sum = sum([float(l.sum()) for l in ls])
    train_acc_sum = sum(accuracy(pred_shard, y_shard)
                        for pred_shard, y_shard in zip(pred_shards, y_shards))
    return train_loss_sum, train_acc_sum


def click_animator(plot, num_epochs):
    """``train_ch13``'s plot: train loss, train acc and test acc over epochs in [0, 1].
    ``plot``: an :class:`~d2l_recsys.plotting.Animator` (or any object with its ``add``),
    returned as it is, or its ``live``
    argument (None: live in Jupyter only)."""
    if hasattr(plot, 'add'):   # an Animator, or anything that records points as it does
        return plot
    return Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 1],
                    legend=['train loss', 'train acc', 'test acc'], live=plot)


def train_ch13(net, train_iter, test_iter, loss, trainer, num_epochs,
               devices=None, split_f=split_batch, *, plot=None, progress=None,
               figure_path=None, on_epoch=None):
    """Train a model with multiple GPUs (defined in Chapter 13).

    Defined in :numref:`sec_image_augmentation`. The book's loop, lines and plot; see the
    module's docstring for what differs. Extras (keyword only): ``plot`` (None: live in
    Jupyter only; True/False; or an Animator), ``progress`` (None: one line per epoch on
    stderr outside Jupyter), ``figure_path`` (save the plot as ``.png`` and ``.svg``),
    ``on_epoch(epoch)`` (called after each epoch's test accuracy; a dict it returns is
    recorded per epoch, e.g. the exact test metrics). Returns the history: ``epoch``,
    ``train_loss``, ``train_acc``, ``test_acc`` (the printed numbers, every epoch),
    ``seconds``, ``train_seconds``, ``examples_per_sec``, ``devices``.
    """
    if devices is None:
        devices = try_all_gpus()
    if progress is None:
        progress = not in_notebook()
    timer, num_batches = Timer(), len(train_iter)
    animator = click_animator(plot, num_epochs)
    history = new_click_history()
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        # Sum of training loss, sum of training accuracy, no. of examples,
        # no. of predictions
        metric = Accumulator(4)
        for i, (features, labels) in enumerate(train_iter):
            timer.start()
            l, acc = train_batch_ch13(
                net, features, labels, loss, trainer, devices, split_f)
            metric.add(l, acc, labels.shape[0], labels.size)
            timer.stop()
            if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches,
                             (metric[0] / metric[2], metric[1] / metric[3],
                              None))
        if metric[2] == 0:
            raise ValueError(f'train_ch13: train_iter yielded no batch in epoch {epoch + 1}'
                             + batch_hint(train_iter))
        test_acc = evaluate_accuracy_gpus(net, test_iter, split_f)
        animator.add(epoch + 1, (None, None, test_acc))
        record_click_epoch(history, epoch, num_epochs, metric[0] / metric[2],
                           metric[1] / metric[3], test_acc, tic, timer.sum() - train_before,
                           progress, on_epoch,
                           trainer.learning_rate)
    return finish_click_history(history, metric[0] / metric[2], metric[1] / metric[3],
                                test_acc, metric[2] * num_epochs / timer.sum(), devices,
                                animator=animator, figure_path=figure_path)


# ----------------------------------------------------------------------------- the fast path

def predict_clicks(net, features, devices=None, batch_size=2048):
    """The model's probabilities (a host float32 vector) for the rows of ``features`` (host
    array (n, num_feat), offsets added), in order, ``batch_size`` rows at a time on the first
    device (outside ``autograd.record``: dropout is off)."""
    ctx = (devices or list(net.collect_params().values())[0].list_ctx())[0]
    features = onp.asarray(features, dtype=onp.float32)
    out = [net(np.array(features[a:a + batch_size], ctx=ctx)).asnumpy().reshape(-1)
           for a in range(0, len(features), batch_size)]
    return onp.concatenate(out) if out else onp.zeros(0, onp.float32)


@contextlib.contextmanager
def _common_expr_kept():
    """MXNet merges identical nodes when it builds a hybridized graph
    (``MXNET_ELIMINATE_COMMON_EXPR``, read then): the book's FM looks the embedding up twice,
    and merged into one lookup the two gradients are added in another order than the
    ``Block`` adds them (the results then differ in the last bits). Off while the graph is
    built, so that the cached graph computes what the book's block computes."""
    key = 'MXNET_ELIMINATE_COMMON_EXPR'
    before = os.environ.get(key)
    os.environ[key] = '0'
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


class _ClickStep(nn.HybridBlock):
    """One shard's forward in ``train_batch_ch13``, as one graph: the summed loss (what the
    book's ``l.backward()`` back-propagates and ``float(l.sum())`` reports) and the book's
    accuracy count (``accuracy``: predictions equal to the labels)."""
    def __init__(self, net, loss):
        super(_ClickStep, self).__init__()
        self.net = net
        self.loss = loss

    def hybrid_forward(self, F, x, y):
        pred = self.net(x)
        return self.loss(pred, y).sum(), F.np.equal(pred, y).astype('float32').sum()


class _Resident:
    """Examples and labels held on every device; a batch's shards are gathered there."""
    def __init__(self, features, labels, devices):
        self.devices = list(devices)
        self.x = [np.array(features, dtype='float32', ctx=d) for d in self.devices]
        self.y = [np.array(labels, dtype='float32', ctx=d) for d in self.devices]

    def shards(self, index_batches):
        """Per batch, per device: the ``(X_shard, y_shard)`` that ``split_batch`` would give
        (equal parts of the batch, in device order)."""
        k, size = index_batches.shape
        n = len(self.devices)
        if size % n:
            raise ValueError(f'batch size {size} must be a multiple of the number of devices '
                             f'({n}): split_and_load splits batches evenly')
        part = size // n
        per_device = []
        for j, (x, y) in enumerate(zip(self.x, self.y)):
            idx = np.array(index_batches[:, j * part:(j + 1) * part].reshape(-1),
                           dtype='int32', ctx=self.devices[j])
            xs, ys = x.take(idx, axis=0), y.take(idx, axis=0)
            per_device.append([(xs[b * part:(b + 1) * part], ys[b * part:(b + 1) * part])
                               for b in range(k)])
        return list(zip(*per_device))


def _batch_sums(values):
    """Per batch, the devices' float32 scalars added on the host in device order (from 0.), as
    the book's ``sum([float(l.sum()) for l in ls])`` adds them: one host float per batch."""
    return sync_losses(values).tolist()


class _TestRollover:
    """The batches of the book's ``DataLoader(test_data, shuffle=False, last_batch=
    'rollover')``: the rows left from the last pass first, then all rows in order, cut into
    full batches; the rest waits for the next pass."""
    def __init__(self, n, batch_size):
        self.n, self.batch_size = n, batch_size
        self._prev = onp.zeros(0, dtype=onp.int64)

    def epoch(self):
        seq = onp.concatenate([self._prev, onp.arange(self.n)])
        k = len(seq) // self.batch_size
        self._prev = seq[k * self.batch_size:]
        return seq[:k * self.batch_size].reshape(k, self.batch_size)


def train_ch13_fast(net, train_data, test_data, loss, trainer, num_epochs, devices=None, *,
                    batch_size, plot=None, progress=None, figure_path=None, on_epoch=None,
                    verbose=True, after_epoch=None):
    """:func:`train_ch13` over the book's loaders of ``train_data`` and ``test_data``
    (``DataLoader(..., shuffle=True / False, last_batch='rollover', batch_size=batch_size)``),
    with the same batches and the same numbers, sooner.

    ``train_data``/``test_data``: :class:`~d2l_recsys.mxnet.ctr.CTRDatasetFast` (or anything
    with ``features`` (n, num_feat) and ``labels`` (n, 1) host arrays). ``net``: a
    ``HybridBlock`` (:class:`~d2l_recsys.mxnet.fm.HybridFM`, ...), hybridized here together
    with the loss. NumPy's generator draws the shuffles as the book's ``RandomSampler`` does,
    so the same seed gives the book's batches; the per-batch sums come back once an epoch and
    are added on the host in the book's order, so the printed and recorded numbers are those
    :func:`train_ch13` computes. Other arguments and the history as :func:`train_ch13`;
    ``verbose=False`` leaves out the two printed lines; ``after_epoch(epoch, history)``, called
    after each epoch is recorded, ends training when it returns True (early stopping:
    :func:`d2l_recsys.ctr_runs.click_stopping`).
    """
    if not isinstance(net, nn.HybridBlock):
        raise TypeError(f'train_ch13_fast needs a HybridBlock (e.g. HybridFM), got '
                        f'{type(net).__name__}; train the book\'s Block with train_ch13')
    if devices is None:
        devices = try_all_gpus()
    if progress is None:
        progress = not in_notebook()
    step = _ClickStep(net, loss)
    step.hybridize(**HYBRID_FLAGS)
    train = _Resident(train_data.features, train_data.labels, devices)
    test = _Resident(test_data.features, test_data.labels, devices)
    sampler = RolloverBatches(len(train_data.features), batch_size)
    test_sampler = _TestRollover(len(test_data.features), batch_size)
    num_batches = len(train_data.features) // batch_size   # len(train_iter), as the book
    animator = click_animator(plot, num_epochs)
    history = new_click_history()
    train_seconds = 0.
    for epoch in range(num_epochs):
        tic = time.time()
        index_batches = sampler.epoch()
        if len(index_batches) == 0:
            raise ValueError(f'train_ch13_fast: no full batch of {batch_size} in epoch '
                             f'{epoch + 1} ({len(train_data.features)} training rows)')
        losses, accs = [], []
        for shards in train.shards(index_batches):
            with autograd.record(), _common_expr_kept() if epoch == 0 else \
                    contextlib.nullcontext():
                outs = [step(x, y) for x, y in shards]
            for lsum, _ in outs:
                lsum.backward()
            trainer.step(batch_size, ignore_stale_grad=True)
            losses.append([o[0] for o in outs])
            accs.append([o[1] for o in outs])
        # The book's Accumulator(4), batch by batch, in its order.
        metric = Accumulator(4)
        for i, (l, acc) in enumerate(zip(_batch_sums(losses), _batch_sums(accs))):
            metric.add(l, acc, batch_size, batch_size)
            if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches,
                             (metric[0] / metric[2], metric[1] / metric[3], None))
        seconds = time.time() - tic
        train_seconds += seconds
        correct = _batch_sums([[net_acc for _, net_acc in (step(x, y) for x, y in shards)]
                              for shards in test.shards(test_sampler.epoch())])
        test_acc = sum(correct) / (len(correct) * batch_size) if correct else math.nan
        animator.add(epoch + 1, (None, None, test_acc))
        record_click_epoch(history, epoch, num_epochs, metric[0] / metric[2],
                           metric[1] / metric[3], test_acc, tic, seconds, progress,
                           on_epoch, trainer.learning_rate)
        if after_epoch is not None and after_epoch(epoch + 1, history):
            break
    return finish_click_history(history, metric[0] / metric[2], metric[1] / metric[3],
                                test_acc, metric[2] * len(history['epoch']) / train_seconds,
                                devices,
                                animator=animator, figure_path=figure_path, verbose=verbose)
