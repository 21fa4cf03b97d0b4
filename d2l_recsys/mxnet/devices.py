"""The devices the chapter's MXNet code runs on, shared by its sections.

Book: d2l's device helpers that the recommender sections call, ``try_all_gpus``
(https://d2l.ai/chapter_builders-guide/use-gpu.html) and ``get_dataloader_workers``, with
:func:`parse_devices` (devices from a command-line string) and :func:`check_gpu` (one plain
error where the installed MXNet has no kernels for a GPU,
:data:`SUPPORTED_COMPUTE_CAPABILITIES`).
"""
import subprocess
import sys

import mxnet as mx
from mxnet import npx

from ..checks import gpu_index

# Every cell of the book starts with npx.set_np(); the code here assumes it as well.
npx.set_np()

__all__ = ['try_all_gpus', 'parse_devices', 'check_gpu', 'get_dataloader_workers',
           'SUPPORTED_COMPUTE_CAPABILITIES']

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


def _check_gpu_index(item, index):
    """The number of GPUs MXNet sees, after checking that GPU ``index`` is one of them."""
    n = mx.context.num_gpus()
    why = ('no GPU is visible to it' if n or mx.runtime.Features().is_enabled('CUDA') else
           'this MXNet build has no CUDA support (install the GPU build: make install GPU=1)')
    return gpu_index(item, index, n, 'MXNet', why)


def parse_devices(spec):
    """Devices from a string such as ``'cpu:0,cpu:1'``, ``'gpu:0,gpu:1'``, ``'cpu'``, ``'gpu'``
    (every GPU) or ``'auto'`` (:func:`try_all_gpus`); a list of contexts is checked the same
    way (a GPU context must name a GPU MXNet sees).

    Raises ValueError naming the bad item; GPUs are checked with :func:`check_gpu`.
    """
    if spec is None:
        return try_all_gpus()
    if isinstance(spec, (list, tuple)) and all(isinstance(d, mx.Context) for d in spec):
        if not spec:
            raise ValueError('devices: the list is empty')
        for ctx in spec:
            if ctx.device_type == 'gpu':
                _check_gpu_index(str(ctx), ctx.device_id)
                check_gpu(ctx)
        if len(set(spec)) != len(spec):
            raise ValueError(f'devices: {list(spec)!r} names a device twice')
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
        n = _check_gpu_index(item, int(index) if sep else 0)
        for k in [int(index)] if sep else range(n):
            devices.append(check_gpu(mx.gpu(k)))
    if len(set(devices)) != len(devices):
        raise ValueError(f'devices: {spec!r} names a device twice')
    return devices
