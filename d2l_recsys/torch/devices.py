"""The devices the chapter's PyTorch code runs on, shared by its sections.

Book: d2l's device helpers that the recommender sections call, ``try_gpu`` and
``try_all_gpus`` (https://d2l.ai/chapter_builders-guide/use-gpu.html) and
``get_dataloader_workers``, with :func:`parse_devices` (devices from a command-line string).
"""
import os
import sys

import torch

from ..checks import gpu_index

__all__ = ['try_gpu', 'try_all_gpus', 'parse_devices', 'get_dataloader_workers']

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
    ``torch.device`` is checked the same way (``torch.device('cuda')`` is the first GPU).
    Raises ValueError naming the bad item."""
    if spec is None:
        return try_all_gpus()
    if isinstance(spec, (list, tuple)) and all(isinstance(d, torch.device) for d in spec):
        if not spec:
            raise ValueError('devices: the list is empty')
        for d in spec:
            if d.type not in ('cpu', 'cuda'):
                raise ValueError(f'devices: unknown device {str(d)!r}; use cpu or cuda:N')
            if d.type == 'cuda':
                _check_gpu_index(str(d), d.index or 0)
        devices = [torch.device('cuda', d.index or 0) if d.type == 'cuda' else d
                   for d in spec]
        return _distinct(devices, spec)
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
        n = _check_gpu_index(item, int(index) if sep else 0)
        for k in [int(index)] if sep else range(n):
            devices.append(torch.device(f'cuda:{k}'))
    return _distinct(devices, spec)


def _check_gpu_index(item, index):
    """The number of GPUs PyTorch sees, after checking that GPU ``index`` is one of them."""
    why = ('no GPU is visible to it' if torch.version.cuda else
           'this PyTorch build has no CUDA support (install a CUDA build of PyTorch)')
    return gpu_index(item, index, torch.cuda.device_count(), 'PyTorch', why, 'cuda')


def _distinct(devices, spec):
    if len(set(devices)) != len(devices):
        raise ValueError(f'devices: {spec!r} names a device twice')
    if len(devices) > 1 and any(d.type != 'cuda' for d in devices):
        raise ValueError(f'devices: {spec!r}: several devices must all be GPUs')
    return devices
