"""Data parallelism across processes or machines: the PyTorch tab with ``torch.distributed``.

Each process (one per GPU, or several on a CPU) holds a replica of the model wrapped in
``DistributedDataParallel``; every global batch of ``batch_size`` examples is cut into
``world_size`` equal shards by ``DistributedSampler``, each process computes the gradient of
its shard, DDP averages the gradients over the processes (all-reduce) and every replica takes
the same optimizer step. Losses are scaled so that the averaged gradient is the gradient of the
whole global batch: a per-example loss (:class:`~d2l_recsys.torch.mf.L2Loss`) is averaged
over the shard, a summed loss (the AutoRec deck's ``MSELoss(reduction='sum')``) is multiplied
by ``world_size``. The parameters after each step are therefore those of one process training
on the same global batches (up to float rounding), whenever the number of training examples is
a multiple of ``world_size`` (``DistributedSampler`` otherwise repeats a few examples to even
out the shards).

Backends: ``gloo`` on CPUs, ``nccl`` on GPUs (one GPU per process, ``cuda:LOCAL_RANK``).
Launch with ``torchrun``; the address and port default to this machine's loopback::

    torchrun --standalone --nproc-per-node 2 -m d2l_recsys.torch.distributed autorec --seed 0
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 --master-addr HOST --master-port 29500 \\
        -m d2l_recsys.torch.distributed mf --out runs/mf-ddp      # on each machine, its rank

Run without ``torchrun`` it is one process (world size 1) on 127.0.0.1.
"""
import argparse
import os
import sys
import time

import numpy as onp
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..defaults import BOOK

__all__ = ['setup', 'cleanup', 'train_ddp', 'main', 'DEFAULT_ADDR', 'DEFAULT_PORT']

DEFAULT_ADDR, DEFAULT_PORT = '127.0.0.1', 29500


def setup(backend=None, device=None):
    """Join the process group ``torchrun`` describes (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``; without them: one process on
    127.0.0.1:29500). Returns ``(rank, world_size, device)``: ``cuda:LOCAL_RANK`` with
    ``nccl`` where PyTorch sees GPUs, else the CPU with ``gloo``."""
    os.environ.setdefault('MASTER_ADDR', DEFAULT_ADDR)
    os.environ.setdefault('MASTER_PORT', str(DEFAULT_PORT))
    if os.environ['MASTER_ADDR'] in ('127.0.0.1', 'localhost') and sys.platform != 'win32':
        # Keep gloo on the loopback interface too (it otherwise picks the hostname's address).
        os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo0' if sys.platform == 'darwin' else 'lo')
    rank = int(os.environ.get('RANK', 0))
    world_size = int(os.environ.get('WORLD_SIZE', 1))
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if device is None:
        device = (torch.device(f'cuda:{local_rank}') if torch.cuda.is_available()
                  else torch.device('cpu'))
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    if backend is None:
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    return rank, world_size, device


def cleanup():
    """Leave the process group."""
    if dist.is_initialized():
        dist.destroy_process_group()


def train_ddp(net, train_set, loss, optimizer, num_epochs, batch_size, *, seed=0,
              device=None, drop_last=False, evaluate=None, progress=True):
    """Train ``net`` data-parallel over the process group with the book's loop.

    ``train_set``: a Dataset of ``(features..., label)`` tuples (MF) or of rows whose label is
    the row itself (AutoRec). ``batch_size`` is the global batch, a multiple of the world size.
    The global batches of epoch ``e`` are consecutive ``batch_size`` chunks of
    ``torch.randperm(len(train_set))`` drawn from a generator seeded with ``seed + e`` (what
    ``DistributedSampler`` draws). ``optimizer``: a function of the parameters, e.g.
    ``lambda p: torch.optim.Adam(p, lr=0.002, weight_decay=1e-5)``. ``evaluate(net)`` runs
    on rank 0 after each epoch (returns the test RMSE). Returns the history on every rank
    (``train_loss``: mean per-example loss of each epoch over all processes; ``test_rmse`` on
    rank 0 only).
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if batch_size % world_size:
        raise ValueError(f'batch_size {batch_size} must be a multiple of the number of '
                         f'processes ({world_size})')
    device = torch.device(device or 'cpu')
    net.to(device)
    model = DistributedDataParallel(net, device_ids=[device] if device.type == 'cuda' else None)
    trainer = optimizer(model.parameters())
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed)
    loader = DataLoader(train_set, batch_size=batch_size // world_size, sampler=sampler,
                        drop_last=drop_last)
    history = {'epoch': [], 'train_loss': [], 'test_rmse': [], 'seconds': []}
    for epoch in range(num_epochs):
        tic = time.time()
        sampler.set_epoch(epoch)
        model.train()
        totals = torch.zeros(2, dtype=torch.float64, device=device)   # loss sum, examples
        for values in loader:
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            values = [v.to(device) for v in values]
            feat = values[:-1] if len(values) > 1 else values
            trainer.zero_grad()
            ls = loss(model(*feat), values[-1])
            n = values[0].shape[0]
            # DDP averages the shards' gradients: per-example losses by their shard mean,
            # summed losses times the world size, give the whole global batch's gradient.
            (ls.mean() if ls.dim() else ls * world_size).backward()
            trainer.step()
            totals += torch.tensor([float(ls.detach().sum()), n], dtype=torch.float64,
                                   device=device)
        dist.all_reduce(totals)
        history['epoch'].append(epoch + 1)
        history['train_loss'].append(float(totals[0] / max(float(totals[1]), 1.0)))
        if rank == 0 and evaluate is not None:
            history['test_rmse'].append(float(evaluate(net)))
        history['seconds'].append(time.time() - tic)
        if progress and rank == 0:
            rmse = f', test RMSE {history["test_rmse"][-1]:.3f}' if history['test_rmse'] else ''
            print(f'epoch {epoch + 1}/{num_epochs}: train loss '
                  f'{history["train_loss"][-1]:.3f}{rmse}, {history["seconds"][-1]:.1f} s '
                  f'({world_size} processes)', file=sys.stderr, flush=True)
    return history


def _parser():
    p = argparse.ArgumentParser(
        prog='torchrun ... -m d2l_recsys.torch.distributed',
        description='Train MF or AutoRec data-parallel with torch.distributed (DDP).')
    p.add_argument('model', choices=['mf', 'autorec'])
    mf, ar = BOOK['mf'], BOOK['autorec']
    p.add_argument('--epochs', type=int, default=None,
                   help=f"MF {mf['num_epochs']}, AutoRec {ar['num_epochs']}")
    p.add_argument('--batch-size', type=int, default=None,
                   help=f"global batch: MF {mf['batch_size']}, AutoRec {ar['batch_size']}")
    p.add_argument('--lr', type=float, default=None, help=f"Adam ({mf['lr']})")
    p.add_argument('--wd', type=float, default=None, help=f"weight decay ({mf['wd']})")
    p.add_argument('--split', choices=['random', 'seq-aware'], default=None,
                   help=f"MF {mf['split_mode']}, AutoRec {ar['split_mode']}")
    p.add_argument('--seed', type=int, default=0, help='the same on every process (0)')
    p.add_argument('--dropout', type=float, default=None,
                   help=f"AutoRec dropout ({ar['dropout']})")
    p.add_argument('--data', default=None, metavar='DIR', help='folder with u.data')
    p.add_argument('--out', default=None, metavar='DIR',
                   help='rank 0 writes the model folder and history.json here')
    p.add_argument('--optimizer', choices=['adam', 'sgd'], default='adam',
                   help="adam (the book's) or sgd")
    p.add_argument('--backend', choices=['gloo', 'nccl'], default=None)
    p.add_argument('--cpu', action='store_true', help='train on the CPU even with GPUs')
    return p


def prepare(model, *, data_dir=None, split_mode=None, seed=0, dropout=None):
    """Data and model of a run, the same on every process: ``(net, train_set, loss,
    evaluate_on(device), record)``, with the book's settings (:mod:`d2l_recsys.defaults`).
    MF is the book's (``L2Loss``), AutoRec the deck's (``MSELoss(reduction='sum')``, weights
    from N(0, 0.01^2)); the split is drawn with ``seed``, then the weights. ``evaluate_on``
    gives the exact test RMSE."""
    from ..experiments import read_split_load
    from .autorec import AutoRec, autorec_rmse_exact
    from .experiments import set_seed
    from .mf import L2Loss, MF, rmse_exact
    from .movielens import rating_dataset
    book = BOOK[model]
    split_mode = split_mode or book['split_mode']
    set_seed(seed)
    run_data = read_split_load(data_dir, split_mode, book['test_ratio'])
    folder, num_users, num_items = run_data.folder, run_data.num_users, run_data.num_items
    train, test = run_data.train, run_data.test
    record = {'model': model, 'num_users': num_users, 'num_items': num_items,
              'split_mode': split_mode, 'seed': seed, 'data_dir': folder,
              'train_interactions': {'users': onp.asarray(train[0], dtype=onp.int64),
                                     'items': onp.asarray(train[1], dtype=onp.int64),
                                     'ratings': onp.asarray(train[2], dtype=onp.float32)}}
    if model == 'mf':
        net = MF(book['num_factors'], num_users, num_items)
        train_set, test_set = rating_dataset(*train[:3]), rating_dataset(*test[:3])
        record['hparams'] = {'num_factors': book['num_factors']}

        def evaluate_on(device):
            return lambda net: rmse_exact(net, DataLoader(test_set, batch_size=1024), [device])
        return net, train_set, L2Loss(), evaluate_on, record
    dropout = book['dropout'] if dropout is None else dropout
    net = AutoRec(book['num_hidden'], num_users, dropout)
    nn.init.normal_(net.encoder.weight, std=0.01)
    nn.init.normal_(net.decoder.weight, std=0.01)
    train_set = torch.tensor(train[3], dtype=torch.float32)
    record['hparams'] = {'num_hidden': book['num_hidden'], 'dropout': dropout}

    def evaluate_on(device):
        return lambda net: autorec_rmse_exact(net, DataLoader(train_set, batch_size=1024),
                                              test[3], [device])
    return net, train_set, nn.MSELoss(reduction='sum'), evaluate_on, record


def main(argv=None):
    """Entry point of ``python -m d2l_recsys.torch.distributed`` under ``torchrun``."""
    args = _parser().parse_args(argv)
    book = BOOK[args.model]
    epochs = args.epochs or book['num_epochs']
    batch_size = args.batch_size or book['batch_size']
    rank, world_size, device = setup(args.backend, 'cpu' if args.cpu else None)
    try:
        net, train_set, loss, evaluate_on, record = prepare(
            args.model, data_dir=args.data, split_mode=args.split, seed=args.seed,
            dropout=args.dropout)
        lr = book['lr'] if args.lr is None else args.lr
        wd = book['wd'] if args.wd is None else args.wd
        make = torch.optim.Adam if args.optimizer == 'adam' else torch.optim.SGD
        history = train_ddp(net, train_set, loss,
                            lambda p: make(p, lr=lr, weight_decay=wd),
                            epochs, batch_size, seed=args.seed, device=device,
                            drop_last=args.model == 'autorec', evaluate=evaluate_on(device))
        if rank == 0:
            if history['test_rmse']:
                print(f'train loss {history["train_loss"][-1]:.3f}, '
                      f'test RMSE {history["test_rmse"][-1]:.3f} ({world_size} processes, '
                      f'{device})')
            if args.out:
                from .predict import save_model
                interactions = record.pop('train_interactions')
                record.update(world_size=world_size, device=str(device), lr=lr, wd=wd,
                              optimizer=args.optimizer,
                              batch_size=batch_size, num_epochs=epochs)
                save_model(net, args.out, model=args.model, hparams=record['hparams'],
                           num_users=record['num_users'], num_items=record['num_items'],
                           train_interactions=interactions, extra={'info': record},
                           history={'history': history, 'info': record})
        # Leave together: a rank that tears gloo down while another still holds the
        # connection can abort at exit ("terminate called without an active exception").
        dist.barrier()
    finally:
        cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
