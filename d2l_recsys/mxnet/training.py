"""The book's training loop for rating prediction, and the devices it runs on (MXNet).

Book: ``train_recsys_rating`` of :numref:`sec_mf` (also used by AutoRec, :numref:`sec_autorec`),
and the device helpers of d2l it calls (``try_all_gpus``, ``get_dataloader_workers``).
"""
import math
import subprocess
import sys
import time

import mxnet as mx
from mxnet import npx, autograd, gluon

from ..experiments import finish_history, new_history, non_finite_error, record_epoch
from ..plotting import in_notebook, training_animator
from ..utils import Accumulator, Timer

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['train_recsys_rating', 'try_all_gpus', 'parse_devices',
           'check_gpu', 'get_dataloader_workers', 'SUPPORTED_COMPUTE_CAPABILITIES']

# Compute capabilities that mxnet-cu112 1.9.1 ships kernels for. It ships no PTX, so a GPU
# outside this list (Hopper H100/H200 is 9.0) cannot JIT them and fails at the first operator.
SUPPORTED_COMPUTE_CAPABILITIES = ('5.0', '6.0', '7.0', '8.0', '8.6')
_GPU_RANGE = ('mxnet-cu112 1.9.1 ships GPU kernels for compute capability '
              '5.0, 6.0, 7.0, 8.0 and 8.6 only (Maxwell to Ampere, no PTX), so it cannot run on '
              'newer GPUs such as Hopper (H100/H200, 9.0)')


def _compute_capability(index):
    """Compute capability of GPU ``index`` as reported by nvidia-smi, or None."""
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=name,compute_cap',
                              '--format=csv,noheader', '-i', str(index)],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()
    return line[0].strip() if out.returncode == 0 and line else None


def _probe(ctx):
    """Run one tiny operator on ``ctx`` and bring the result back (raises if it cannot)."""
    x = mx.np.ones((4,), ctx=ctx)
    return float((x * 2).sum().asnumpy())


def check_gpu(ctx):
    """Make sure MXNet can run kernels on GPU ``ctx``; raise a plain RuntimeError if not.

    A GPU whose architecture the installed MXNet has no kernels for fails at the first
    operator with a CUDA error deep in a traceback; this turns it into one sentence that names
    the supported range (:data:`SUPPORTED_COMPUTE_CAPABILITIES`).
    """
    try:
        _probe(ctx)
    except mx.base.MXNetError as e:
        first = (str(e).strip().splitlines() or ['unknown error'])[0]
        cc = _compute_capability(ctx.device_id)
        seen = f' (nvidia-smi: {cc})' if cc else ''
        raise RuntimeError(
            f'cannot run MXNet on {ctx}{seen}: {first[:200]}. {_GPU_RANGE}. '
            'Train on the CPU instead (--devices cpu, or devices=[mx.cpu()]).') from None
    return ctx


def get_dataloader_workers():
    """Use 4 processes to read the data except for Windows (``d2l.get_dataloader_workers``)."""
    return 0 if sys.platform.startswith('win') else 4


def try_all_gpus():
    """Return all available GPUs, or ``[mx.cpu()]`` if no GPU exists.

    The book's ``d2l.try_all_gpus`` (:numref:`sec_use_gpu`) says so in its docstring but returns
    ``[]`` on a machine without a GPU, which makes ``split_and_load`` fail; this one falls back
    to the CPU. Each GPU found is checked with :func:`check_gpu`.
    """
    devices = [mx.gpu(i) for i in range(mx.context.num_gpus())]
    if not devices:
        return [mx.cpu()]
    return [check_gpu(d) for d in devices]



def parse_devices(spec):
    """Devices from a string such as ``'cpu:0,cpu:1'``, ``'gpu:0,gpu:1'``, ``'cpu'``, ``'gpu'``
    (every GPU) or ``'auto'`` (:func:`try_all_gpus`); a list of contexts passes through.

    Raises ValueError naming the bad item; GPUs are checked with :func:`check_gpu`.
    """
    if spec is None:
        return try_all_gpus()
    if isinstance(spec, (list, tuple)) and all(isinstance(d, mx.Context) for d in spec):
        if not spec:
            raise ValueError('devices: the list is empty')
        return list(spec)
    if not isinstance(spec, str):
        raise ValueError(f'devices: expected a string like "cpu:0,cpu:1", got {spec!r}')
    text = spec.strip().lower()
    if text in ('', 'auto'):
        return try_all_gpus()
    devices = []
    for item in text.split(','):
        item = item.strip()
        kind, sep, index = item.partition(':')
        if kind not in ('cpu', 'gpu'):
            raise ValueError(f'devices: unknown device {item!r} in {spec!r}; '
                             'use cpu, cpu:N, gpu, gpu:N or auto, comma-separated')
        if sep and not index.isdigit():
            raise ValueError(f'devices: bad device index in {item!r}; expected e.g. '
                             f'{kind}:0')
        if kind == 'cpu':
            devices.append(mx.cpu(int(index) if sep else 0))
            continue
        n = mx.context.num_gpus()
        if n == 0:
            has_cuda = mx.runtime.Features().is_enabled('CUDA')
            why = ('no GPU is visible to it' if has_cuda else
                   'this MXNet build has no CUDA support (install the GPU build: '
                   'make install GPU=1)')
            raise ValueError(f'devices: {item!r} requested but MXNet sees no GPU: {why}')
        wanted = [int(index)] if sep else list(range(n))
        for k in wanted:
            if k >= n:
                raise ValueError(f'devices: {item!r} requested but MXNet sees {n} GPU(s) '
                                 f'(gpu:0 to gpu:{n - 1})')
            devices.append(check_gpu(mx.gpu(k)))
    if len(set(devices)) != len(devices):
        raise ValueError(f'devices: {spec!r} names a device twice')
    return devices


def batch_hint(train_iter):
    """``' (batch size B, N training rows)'`` for the error of a loader that yields no batch,
    or ``''`` (Gluon's DataLoader keeps both in private fields: best effort)."""
    try:
        n = len(train_iter._dataset)
        size = train_iter._batch_sampler._batch_size
    except (AttributeError, TypeError):
        return ''
    return f' (batch size {size}, {n} training rows)'


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, *, plot=None, progress=None,
                        figure_path=None, **kwargs):
    """The book's training loop (:numref:`sec_mf`), on one device or several.

    Each batch is split over ``devices`` with ``split_and_load`` (so its size must be a
    multiple of the number of devices), the losses are back-propagated on every device and
    ``trainer.step`` aggregates the gradients. ``evaluator(net, test_iter, devices)`` is called
    after every epoch, or ``evaluator(net, test_iter, inter_mat, devices)`` when the book's
    ``inter_mat=`` keyword is given (AutoRec). It prints the book's two lines, including its
    loss accounting: the printed "train loss" divides a sum of running sums by the number of
    examples, so it is not the mean training loss (``history['train_loss']`` is, per epoch,
    the mean over batches of the per-example loss that the book plots).

    Extras (keyword only): ``devices=None`` means :func:`try_all_gpus`; ``plot`` (None:
    live in Jupyter only; True/False; or a :class:`~d2l_recsys.plotting.Animator`);
    ``progress`` (None: one line per epoch on stderr outside Jupyter); ``figure_path`` (save
    the curve as ``.png`` and ``.svg``). Returns a history dict: ``epoch``, ``train_loss``,
    ``test_rmse``, ``seconds`` (wall clock per epoch, evaluation included),
    ``train_seconds``, ``examples_per_sec`` and ``devices`` as printed, ``printed_train_loss``.
    """
    unknown = set(kwargs) - {'inter_mat'}
    if unknown:
        raise TypeError('train_recsys_rating got unexpected keyword argument(s) '
                        f'{sorted(unknown)}; the book passes only inter_mat=')
    if devices is None:
        devices = try_all_gpus()
    if len(devices) == 0:
        raise ValueError('train_recsys_rating: devices is empty; give at least one context, '
                         'e.g. [mx.cpu()] (try_all_gpus() falls back to the CPU)')
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'd2l_recsys.mxnet.evaluator for MF')
    if num_epochs < 1:
        raise ValueError(f'num_epochs must be at least 1, got {num_epochs}')
    if progress is None:
        progress = not in_notebook()
    history = new_history()
    timer = Timer()
    animator = training_animator(plot, num_epochs)
    for epoch in range(num_epochs):
        tic, train_before = time.time(), timer.sum()
        metric, l, i = Accumulator(3), 0., -1
        for i, values in enumerate(train_iter):
            timer.start()
            input_data = []
            values = values if isinstance(values, list) else [values]
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            train_feat = input_data[:-1] if len(values) > 1 else input_data
            train_label = input_data[-1]
            with autograd.record():
                preds = [net(*t) for t in zip(*train_feat)]
                ls = [loss(p, s) for p, s in zip(preds, train_label)]
            [l.backward() for l in ls]
            l += sum([l.asnumpy() for l in ls]).mean() / len(devices)
            if not math.isfinite(l):
                raise non_finite_error('loss', l, epoch, trainer.learning_rate)
            trainer.step(values[0].shape[0])
            metric.add(l, values[0].shape[0], values[0].size)
            timer.stop()
        if i < 0:
            raise ValueError('train_recsys_rating: train_iter yielded no batch'
                             + batch_hint(train_iter))
        if len(kwargs) > 0:  # It will be used in section AutoRec
            test_rmse = evaluator(net, test_iter, kwargs['inter_mat'], devices)
        else:
            test_rmse = evaluator(net, test_iter, devices)
        if not math.isfinite(test_rmse):
            raise non_finite_error('test RMSE', test_rmse, epoch, trainer.learning_rate)
        train_l = l / (i + 1)
        animator.add(epoch + 1, (train_l, test_rmse))
        record_epoch(history, epoch, num_epochs, train_l, test_rmse, tic,
                     timer.sum() - train_before, progress)
    # The book's two closing lines: train loss, test RMSE; examples/sec on the devices.
    return finish_history(history, metric[0] / metric[1], test_rmse,
                          metric[2] * num_epochs / timer.sum(), devices,
                          animator=animator, figure_path=figure_path)
