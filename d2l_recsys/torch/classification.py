"""The computer-vision chapter's trainer that the FM and DeepFM sections call, in PyTorch, and
its fast twin.

d2l 1.0.3's ``d2l/torch.py`` functions of the book's PyTorch tabs, as they are there:
``accuracy`` (:numref:`sec_utils`), ``evaluate_accuracy_gpu`` (:numref:`sec_utils`; also
under the MXNet tab's name ``evaluate_accuracy_gpus``), ``train_batch_ch13`` and
``train_ch13`` (:numref:`sec_image_augmentation`). As in the MXNet tab
(:mod:`d2l_recsys.mxnet.classification`), for FM and DeepFM the printed loss is the book's
sigmoid-twice loss and the accuracy counts probabilities *equal* to the labels; the experiment
functions print the exact numbers beside them.

Changes that keep the book's numbers: ``devices=None`` means :func:`try_all_gpus` at call time
(falling back to the CPU); the model is wrapped in ``nn.DataParallel`` only for several GPUs
(d2l wraps it always); the plot's step is at least 1 batch; the plot works headless; extras
are keyword-only and ``train_ch13`` returns its history.

:func:`train_ch13_fast` trains on the same batches with the same numbers, sooner: the
examples sit on the device as two tensors, each epoch's batches are those the book's
``DataLoader(shuffle=True)`` draws (:class:`~d2l_recsys.torch.fast.ShuffledBatches`, the same
draws from PyTorch's generator), and the losses and counts stay on the device until the epoch
ends; one intra-op thread on a CPU (the operators are small).
"""
import time

import numpy as onp
import torch
from torch import nn

from ..ctr_runs import finish_click_history, new_click_history, record_click_epoch
from ..plotting import Animator, in_notebook
from ..utils import Accumulator, Timer
from .fast import ShuffledBatches, loader_draw, threads
from .devices import parse_devices

__all__ = ['accuracy', 'evaluate_accuracy_gpu', 'evaluate_accuracy_gpus', 'train_batch_ch13',
           'train_ch13', 'train_ch13_fast', 'predict_clicks', 'click_animator', 'THREADS']

# The fast path's intra-op threads on a CPU (None: PyTorch's default): the models' operators
# are small, and a second thread that waits for the first at every one does not pay.
THREADS = 1


def accuracy(y_hat, y):
    """Compute the number of correct predictions.

    Defined in :numref:`sec_utils`"""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """Compute the accuracy for a model on a dataset using a GPU.

    Defined in :numref:`sec_utils`"""
    if isinstance(net, nn.Module):
        net.eval()  # Set the model to evaluation mode
        if not device:
            device = next(iter(net.parameters())).device
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)

    with torch.no_grad():
        for X, y in data_iter:
            if isinstance(X, list):
                # Required for BERT Fine-tuning (to be covered later)
                X = [x.to(device) for x in X]
            else:
                X = X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


evaluate_accuracy_gpus = evaluate_accuracy_gpu   # the MXNet tab's name


def train_batch_ch13(net, X, y, loss, trainer, devices):
    """Train for a minibatch with multiple GPUs (defined in Chapter 13).

    Defined in :numref:`sec_image_augmentation`"""
    if isinstance(X, list):
        # Required for BERT fine-tuning (to be covered later)
        X = [x.to(devices[0]) for x in X]
    else:
        X = X.to(devices[0])
    y = y.to(devices[0])
    net.train()
    trainer.zero_grad()
    pred = net(X)
    l = loss(pred, y)
    l.sum().backward()
    trainer.step()
    train_loss_sum = l.sum().detach()   # d2l: l.sum(), which PyTorch warns about as a number
    train_acc_sum = accuracy(pred, y)
    return train_loss_sum, train_acc_sum


def click_animator(plot, num_epochs):
    """``train_ch13``'s plot (train loss, train acc, test acc); see the MXNet tab's."""
    if hasattr(plot, 'add'):   # an Animator, or anything that records points as it does
        return plot
    return Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 1],
                    legend=['train loss', 'train acc', 'test acc'], live=plot)


def train_ch13(net, train_iter, test_iter, loss, trainer, num_epochs,
               devices=None, *, plot=None, progress=None, figure_path=None, on_epoch=None):
    """Train a model with multiple GPUs (defined in Chapter 13).

    Defined in :numref:`sec_image_augmentation`. ``loss`` returns one value per example
    (``reduction='none'``). Extras and the returned history as the MXNet tab's
    :func:`d2l_recsys.mxnet.classification.train_ch13`.
    """
    devices = parse_devices(devices)
    if progress is None:
        progress = not in_notebook()
    timer, num_batches = Timer(), len(train_iter)
    animator = click_animator(plot, num_epochs)
    history = new_click_history()
    net.to(devices[0])
    model = nn.DataParallel(net, device_ids=devices) if len(devices) > 1 else net
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        # Sum of training loss, sum of training accuracy, no. of examples,
        # no. of predictions
        metric = Accumulator(4)
        for i, (features, labels) in enumerate(train_iter):
            timer.start()
            l, acc = train_batch_ch13(
                model, features, labels, loss, trainer, devices)
            metric.add(l, acc, labels.shape[0], labels.numel())
            timer.stop()
            if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches,
                             (metric[0] / metric[2], metric[1] / metric[3],
                              None))
        if metric[2] == 0:
            raise ValueError(f'train_ch13: train_iter yielded no batch in epoch {epoch + 1}')
        test_acc = evaluate_accuracy_gpu(model, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))
        record_click_epoch(history, epoch, num_epochs, metric[0] / metric[2],
                           metric[1] / metric[3], test_acc, tic, timer.sum() - train_before,
                           progress, on_epoch,
                           trainer.param_groups[0]['lr'])
    return finish_click_history(history, metric[0] / metric[2], metric[1] / metric[3],
                                test_acc, metric[2] * num_epochs / timer.sum(), devices,
                                animator=animator, figure_path=figure_path)


# ----------------------------------------------------------------------------- the fast path

def predict_clicks(net, features, devices=None, batch_size=2048):
    """The model's probabilities (a host float32 vector) for the rows of ``features`` (int64
    host array (n, num_feat), offsets added), in order, ``batch_size`` rows at a time, in
    evaluation mode (dropout off) where the model is (or on ``devices[0]``)."""
    device = devices[0] if devices else next(net.parameters()).device
    net.eval()
    x = torch.as_tensor(onp.asarray(features, dtype=onp.int64))
    with torch.no_grad():
        out = [net(x[a:a + batch_size].to(device)).reshape(-1).cpu()
               for a in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else onp.zeros(0, onp.float32)


def _sums(values):
    """Device scalars, one per batch, as host floats (one copy)."""
    return torch.stack(values).cpu().tolist() if values else []


def train_ch13_fast(net, train_data, test_data, loss, trainer, num_epochs, devices=None, *,
                    batch_size, plot=None, progress=None, figure_path=None, on_epoch=None,
                    verbose=True, after_epoch=None):
    """:func:`train_ch13` over the loaders ``DataLoader(train_data, batch_size, shuffle=True)``
    and ``DataLoader(test_data, batch_size)``, with the same batches and the same numbers,
    sooner (one device).

    ``train_data``/``test_data``: :class:`~d2l_recsys.torch.ctr.CTRDatasetFast` (``features``
    and ``labels`` host arrays). PyTorch's generator draws the shuffles as the loaders do
    (each loader's iterator takes one number, the sampler another), so the same seed gives the
    same batches and dropout masks. Other arguments and the history as :func:`train_ch13`;
    ``verbose`` and ``after_epoch`` as the MXNet tab's ``train_ch13_fast``.
    """
    devices = parse_devices(devices)
    if len(devices) != 1:
        raise ValueError(f'train_ch13_fast trains on one device, got {len(devices)}; use '
                         'train_ch13 for several GPUs')
    device = devices[0]
    if progress is None:
        progress = not in_notebook()
    net.to(device)
    x = torch.as_tensor(onp.asarray(train_data.features, dtype=onp.int64), device=device)
    y = torch.as_tensor(onp.asarray(train_data.labels, dtype=onp.float32), device=device)
    tx = torch.as_tensor(onp.asarray(test_data.features, dtype=onp.int64), device=device)
    ty = torch.as_tensor(onp.asarray(test_data.labels, dtype=onp.float32), device=device)
    batches = ShuffledBatches(len(x), batch_size)
    num_batches = -(-len(x) // batch_size)   # len(train_iter), the last batch kept
    animator = click_animator(plot, num_epochs)
    history = new_click_history()
    train_seconds = 0.
    with threads(THREADS if device.type == 'cpu' else None):
        for epoch in range(num_epochs):
            tic = time.time()
            perm, bounds = batches.epoch()
            perm = perm.to(device)
            losses, accs, sizes = [], [], []
            net.train()
            for start, stop in bounds:
                X, Y = x[perm[start:stop]], y[perm[start:stop]]
                trainer.zero_grad()
                pred = net(X)
                l = loss(pred, Y)
                l.sum().backward()
                trainer.step()
                losses.append(l.detach().sum())
                accs.append((pred.detach() == Y).type(Y.dtype).sum())
                sizes.append(stop - start)
            metric = Accumulator(4)
            for i, (l, acc, n) in enumerate(zip(_sums(losses), _sums(accs), sizes)):
                metric.add(l, acc, n, n)
                if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                    animator.add(epoch + (i + 1) / num_batches,
                                 (metric[0] / metric[2], metric[1] / metric[3], None))
            seconds = time.time() - tic
            train_seconds += seconds
            loader_draw()   # the test loader's iterator draws one number too
            net.eval()
            with torch.no_grad():
                correct = [(net(tx[a:a + batch_size]) == ty[a:a + batch_size]).float().sum()
                           for a in range(0, len(tx), batch_size)]
            test_acc = sum(_sums(correct)) / len(tx)
            animator.add(epoch + 1, (None, None, test_acc))
            record_click_epoch(history, epoch, num_epochs, metric[0] / metric[2],
                               metric[1] / metric[3], test_acc, tic, seconds, progress,
                               on_epoch,
                               trainer.param_groups[0]['lr'])
            if after_epoch is not None and after_epoch(epoch + 1, history):
                break
    return finish_click_history(history, metric[0] / metric[2], metric[1] / metric[3],
                                test_acc, metric[2] * len(history['epoch']) / train_seconds,
                                devices,
                                animator=animator, figure_path=figure_path, verbose=verbose)
