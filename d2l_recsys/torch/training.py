"""The book's training loop for rating prediction in PyTorch, and the devices it runs on.

Book: ``train_recsys_rating`` of :numref:`sec_mf` (also used by AutoRec, :numref:`sec_autorec`),
translated from Gluon. Several GPUs are used as the book's PyTorch tabs use them
(:numref:`sec_multi_gpu_concise`): the model is wrapped in ``nn.DataParallel``, which splits
each batch over the devices and gathers the outputs on the first. Data parallelism across
processes or machines is :mod:`d2l_recsys.torch.distributed`.
"""
import math
import os
import sys
import time

import torch
from torch import nn

from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook, training_animator
from ..utils import Accumulator, Timer

__all__ = ['train_recsys_rating', 'try_gpu', 'try_all_gpus', 'parse_devices',
           'get_dataloader_workers']


def try_gpu(i=0):
    """Return gpu(i) if exists, otherwise return cpu() (``d2l.try_gpu``)."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f'cuda:{i}')
    return torch.device('cpu')


def try_all_gpus():
    """Return all available GPUs, or ``[cpu()]`` if there is no GPU.

    ``d2l.try_all_gpus`` of the book's PyTorch tab, except that it falls back to the CPU (the
    book's returns ``[]`` there, and the AutoRec deck's ``devices[0]`` would fail)."""
    devices = [torch.device(f'cuda:{i}') for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device('cpu')]


def get_dataloader_workers():
    """Use 4 processes to read the data except for Windows (``d2l.get_dataloader_workers``),
    and no more than the CPUs this process may use (PyTorch warns beyond that; the batches
    are the same whatever the number)."""
    if sys.platform.startswith('win'):
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def parse_devices(spec):
    """Devices from a string: ``'cpu'``, ``'cuda'`` (every GPU), ``'cuda:0,cuda:1'`` (``gpu``
    is read as ``cuda``) or ``'auto'``/``None`` (:func:`try_all_gpus`); a list of
    ``torch.device`` passes through. Raises ValueError naming the bad item."""
    if spec is None:
        return try_all_gpus()
    if isinstance(spec, (list, tuple)) and all(isinstance(d, torch.device) for d in spec):
        if not spec:
            raise ValueError('devices: the list is empty')
        return list(spec)
    if not isinstance(spec, str):
        raise ValueError(f'devices: expected a string like "cuda:0,cuda:1", got {spec!r}')
    text = spec.strip().lower()
    if text in ('', 'auto'):
        return try_all_gpus()
    devices = []
    for item in text.split(','):
        item = item.strip()
        kind, sep, index = item.partition(':')
        kind = 'cuda' if kind == 'gpu' else kind
        if kind not in ('cpu', 'cuda'):
            raise ValueError(f'devices: unknown device {item!r} in {spec!r}; use cpu, cuda, '
                             'cuda:N or auto, comma-separated')
        if sep and not index.isdigit():
            raise ValueError(f'devices: bad device index in {item!r}; expected e.g. {kind}:0')
        if kind == 'cpu':
            if sep and index != '0':
                raise ValueError(f'devices: {item!r}: PyTorch has one CPU device, cpu')
            devices.append(torch.device('cpu'))
            continue
        n = torch.cuda.device_count()
        if n == 0:
            why = ('no GPU is visible to it' if torch.version.cuda else
                   'this PyTorch build has no CUDA support (install a CUDA build of PyTorch)')
            raise ValueError(f'devices: {item!r} requested but PyTorch sees no GPU: {why}')
        wanted = [int(index)] if sep else list(range(n))
        for k in wanted:
            if k >= n:
                raise ValueError(f'devices: {item!r} requested but PyTorch sees {n} GPU(s) '
                                 f'(cuda:0 to cuda:{n - 1})')
            devices.append(torch.device(f'cuda:{k}'))
    if len(set(devices)) != len(devices):
        raise ValueError(f'devices: {spec!r} names a device twice')
    if len(devices) > 1 and any(d.type != 'cuda' for d in devices):
        raise ValueError(f'devices: {spec!r}: several devices must all be GPUs')
    return devices


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, *, plot=None, progress=None,
                        figure_path=None, **kwargs):
    """The book's training loop (:numref:`sec_mf`) in PyTorch, on one device or several GPUs.

    ``trainer`` is a ``torch.optim`` optimizer over ``net``'s parameters. A ``loss`` that
    returns one value per example (:class:`~d2l_recsys.torch.models.L2Loss`, as Gluon's) is
    back-propagated as their mean, the gradient the book's ``l.backward()`` and
    ``trainer.step(batch_size)`` give; a loss that returns a scalar (the AutoRec deck's
    ``MSELoss(reduction='sum')``) is back-propagated as it is and reported per example (the
    deck's ``total_loss / n``). With several devices ``net`` is
    wrapped in ``nn.DataParallel`` (the book's PyTorch multi-GPU way); the evaluators get the
    wrapped model. ``evaluator(net, test_iter, devices)`` runs after every epoch, or
    ``evaluator(net, test_iter, inter_mat, devices)`` with the book's ``inter_mat=`` (AutoRec).
    The two printed lines are the book's, including its loss accounting (the printed "train
    loss" divides a sum of running sums by the number of examples); ``history['train_loss']``
    is, per epoch, the mean over batches of the per-example loss the book plots.

    Extras (keyword only) and the returned history are those of the MXNet tab's
    ``train_recsys_rating``: ``devices=None`` means :func:`try_all_gpus`; ``plot``,
    ``progress``, ``figure_path``; keys ``epoch``, ``train_loss``, ``test_rmse``, ``seconds``,
    ``train_seconds``, ``printed_train_loss``, ``examples_per_sec``, ``devices``.
    """
    unknown = set(kwargs) - {'inter_mat'}
    if unknown:
        raise TypeError('train_recsys_rating got unexpected keyword argument(s) '
                        f'{sorted(unknown)}; the book passes only inter_mat=')
    devices = parse_devices(devices)
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'd2l_recsys.torch.evaluator for MF')
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    net.to(devices[0])
    model = nn.DataParallel(net, device_ids=devices) if len(devices) > 1 else net
    history = new_history()
    timer = Timer()
    animator = training_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        model.train()
        metric, l, i = Accumulator(3), 0., -1
        for i, values in enumerate(train_iter):
            timer.start()
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            input_data = [v.to(devices[0]) for v in values]
            train_feat = input_data[:-1] if len(values) > 1 else input_data
            train_label = input_data[-1]
            trainer.zero_grad()
            preds = model(*train_feat)
            ls = loss(preds, train_label)
            # Gluon: ls.backward() sums the per-example losses, trainer.step(batch_size)
            # divides the gradient by the batch size.
            (ls.sum() / values[0].shape[0] if ls.dim() else ls).backward()
            # The book's per-example mean loss of the batch (a summed loss: per row).
            l += float(ls.detach().mean() if ls.dim() else ls.detach() / values[0].shape[0])
            if not math.isfinite(l):
                raise non_finite_error('loss', l, epoch, trainer.param_groups[0]['lr'])
            trainer.step()
            metric.add(l, values[0].shape[0], values[0].numel())
            timer.stop()
        if i < 0:
            raise ValueError('train_recsys_rating: train_iter yielded no batch')
        if len(kwargs) > 0:  # It will be used in section AutoRec
            test_rmse = evaluator(model, test_iter, kwargs['inter_mat'], devices)
        else:
            test_rmse = evaluator(model, test_iter, devices)
        if not math.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, trainer.param_groups[0]['lr'])
        train_l = l / (i + 1)
        animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic,
                     timer.sum() - train_before, progress)
    # The book's two closing lines: train loss, test RMSE; examples/sec on the devices.
    return finish_history(history, metric[0] / metric[1], test_rmse,
                          metric[2] * num_epochs / timer.sum(), devices,
                          animator=animator, figure_path=figure_path)
