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
import datetime
import math
import os
import sys
import time

import numpy as onp
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from .. import checks
from ..defaults import BOOK
from ..experiments import non_finite_error

__all__ = ['setup', 'cleanup', 'train_ddp', 'main', 'world', 'DEFAULT_ADDR', 'DEFAULT_PORT',
           'DEFAULT_TIMEOUT', 'PROG']

DEFAULT_ADDR, DEFAULT_PORT = '127.0.0.1', 29500
DEFAULT_TIMEOUT = 300.   # seconds every process waits for the others to join
PROG = 'd2l-recsys distributed'


def world(environ=None):
    """``(rank, world_size, local_rank)`` from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
    (what ``torchrun`` sets; unset: one process), checked: a one-line
    :class:`~d2l_recsys.checks.UsageError` naming the variable otherwise."""
    env = os.environ if environ is None else environ
    try:
        world_size = checks.env_int('WORLD_SIZE', 1, 1, environ=env)
        rank = checks.env_int('RANK', 0, 0, environ=env)
        local_rank = checks.env_int('LOCAL_RANK', 0, 0, environ=env)
        checks.env_int('MASTER_PORT', DEFAULT_PORT, 1, 65535, environ=env)
    except ValueError as e:
        raise checks.UsageError(str(e)) from None
    if rank >= world_size:
        raise checks.UsageError(f'RANK must be below WORLD_SIZE ({world_size}): the ranks are '
                                f'0..{world_size - 1}, got {rank}')
    return rank, world_size, local_rank


def _store(rank, world_size, timeout):
    """The rendezvous: a TCP store at ``MASTER_ADDR:MASTER_PORT`` (rank 0 serves it, or
    ``torchrun``'s agent does), where every process says it has come; each waits at most
    ``timeout`` seconds for the others, and a missing rank is named instead of waiting
    forever."""
    addr, port = os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT'])
    delta = datetime.timedelta(seconds=timeout)
    where = f'{addr}:{port}'
    try:
        if os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True':   # torchrun's agent
            store, _, _ = next(dist.rendezvous('env://', rank, world_size, timeout=delta))
        else:
            store = dist.TCPStore(addr, port, world_size, is_master=rank == 0, timeout=delta,
                                  wait_for_workers=False, multi_tenant=True)
    except (RuntimeError, OSError, ValueError) as e:
        text = str(e)
        if 'EADDRINUSE' in text or 'address already in use' in text.lower():
            raise RuntimeError(f'MASTER_PORT {port}: the port is in use on {addr}; give a free '
                               'one (MASTER_PORT=..., or torchrun --master-port ...)') from None
        if rank:
            raise RuntimeError(f'rank 0 (of {world_size}) is missing: nothing answered at '
                               f'{where} (MASTER_ADDR:MASTER_PORT) within {timeout:g} s') \
                from None
        raise RuntimeError(f'rank 0 cannot serve the rendezvous at {where}: '
                           f'{text.strip().splitlines()[-1] if text.strip() else e!r}'[:300]) \
            from None
    key = 'd2l-recsys/joined/{}'.format
    store.set(key(rank), '1')
    deadline = time.monotonic() + timeout
    while True:
        missing = [r for r in range(world_size) if not store.check([key(r)])]
        if not missing:
            return store
        if time.monotonic() > deadline:
            names = ', '.join(map(str, missing))
            raise RuntimeError(f'rank{"s" * (len(missing) > 1)} {names} (of {world_size}) '
                               f'did not join the rendezvous at {where} within '
                               f'{timeout:g} s (start every rank with the same MASTER_ADDR, '
                               'MASTER_PORT and WORLD_SIZE, or use torchrun)')
        time.sleep(0.05)


def setup(backend=None, device=None, timeout=DEFAULT_TIMEOUT):
    """Join the process group ``torchrun`` describes (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``; without them: one process, which needs
    no port). Returns ``(rank, world_size, device)``: ``cuda:LOCAL_RANK`` with ``nccl``
    where PyTorch sees GPUs, else the CPU with ``gloo``. Every process waits at most
    ``timeout`` seconds for the others, then stops with one line naming the missing ranks;
    a port in use is named too."""
    os.environ.setdefault('MASTER_ADDR', DEFAULT_ADDR)
    os.environ.setdefault('MASTER_PORT', str(DEFAULT_PORT))
    if os.environ['MASTER_ADDR'] in ('127.0.0.1', 'localhost') and sys.platform != 'win32':
        # Keep gloo on the loopback interface too (it otherwise picks the hostname's address).
        os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo0' if sys.platform == 'darwin' else 'lo')
    rank, world_size, local_rank = world()
    if device is None:
        device = (torch.device(f'cuda:{local_rank}') if torch.cuda.is_available()
                  else torch.device('cpu'))
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    if backend is None:
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
    if not dist.is_initialized():
        # One process has no one to meet: an in-memory store, no port.
        store = (dist.HashStore() if world_size == 1 else
                 _store(rank, world_size, timeout))
        dist.init_process_group(backend, store=dist.PrefixStore('default_pg', store),
                                rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=max(timeout, 600)))
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
        train_loss = float(totals[0] / max(float(totals[1]), 1.0))
        if not math.isfinite(train_loss):   # the same sum on every rank: all stop together
            raise non_finite_error('loss', train_loss, epoch, trainer.param_groups[0]['lr'])
        history['epoch'].append(epoch + 1)
        history['train_loss'].append(train_loss)
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
    p = checks.OneLineParser(
        prog='torchrun ... -m d2l_recsys.torch.distributed',
        description='Train MF or AutoRec data-parallel with torch.distributed (DDP).')
    p.add_argument('model', choices=['mf', 'autorec'])
    mf, ar = BOOK['mf'], BOOK['autorec']
    p.add_argument('--epochs', type=checks.arg_positive_int, default=None,
                   help=f"MF {mf['num_epochs']}, AutoRec {ar['num_epochs']}")
    p.add_argument('--batch-size', type=checks.arg_positive_int, default=None,
                   help=f"global batch, a multiple of the number of processes: MF "
                        f"{mf['batch_size']}, AutoRec {ar['batch_size']}")
    p.add_argument('--lr', type=checks.arg_positive_float, default=None,
                   help=f"Adam ({mf['lr']})")
    p.add_argument('--wd', type=checks.arg_nonneg_float, default=None,
                   help=f"weight decay ({mf['wd']})")
    p.add_argument('--split', choices=['random', 'seq-aware'], default=None,
                   help=f"MF {mf['split_mode']}, AutoRec {ar['split_mode']}")
    p.add_argument('--seed', type=checks.arg_seed, default=0,
                   help='the same on every process (0)')
    p.add_argument('--dropout', type=checks.arg_fraction, default=None,
                   help=f"AutoRec dropout ({ar['dropout']})")
    p.add_argument('--data', default=None, metavar='DIR', help='folder with u.data')
    p.add_argument('--out', default=None, metavar='DIR',
                   help='rank 0 writes the model folder and history.json here')
    p.add_argument('--optimizer', choices=['adam', 'sgd'], default='adam',
                   help="adam (the book's) or sgd")
    p.add_argument('--backend', choices=['gloo', 'nccl'], default=None)
    p.add_argument('--cpu', action='store_true', help='train on the CPU even with GPUs')
    p.add_argument('--timeout', type=checks.arg_positive_float, default=DEFAULT_TIMEOUT,
                   metavar='SECONDS', help='how long each process waits for the others to '
                   f'join before it names the missing ones ({DEFAULT_TIMEOUT:g})')
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
    """Entry point of ``python -m d2l_recsys.torch.distributed`` under ``torchrun``: returns
    the exit status (0 done, 1 a failure, 2 a bad argument or environment variable), each
    failure in one line naming the rank when there are several."""
    from ..cli import error_line
    try:   # which process speaks, when there are several
        rank, size, _ = world()
        prefix = f'{PROG}: ' + (f'rank {rank}: ' if size > 1 else '')
    except checks.UsageError:
        prefix = f'{PROG}: '
    try:
        return _main(argv)
    except checks.UsageError as e:
        print(f'{prefix}error: {e}', file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f'{prefix}interrupted', file=sys.stderr, flush=True)
        return 130
    except (ValueError, RuntimeError, OSError, KeyError, ArithmeticError, MemoryError) as e:
        print(f'{prefix}error: {error_line(e)}', file=sys.stderr, flush=True)
        return 1


def _main(argv):
    from ..experiments import check_batch_size, check_settings
    from ..scratch import sweep
    from ..store import check_output_folder
    args = _parser().parse_args(argv)
    sweep()
    rank, world_size, _ = world()   # before anything: the variables torchrun sets
    # Everything that can be checked alone is checked before the rendezvous.
    settings = check_settings(args.model, num_epochs=args.epochs, batch_size=args.batch_size,
                              lr=args.lr, wd=args.wd, split_mode=args.split,
                              **({'dropout': args.dropout} if args.model == 'autorec' else {}))
    epochs, batch_size = settings['num_epochs'], settings['batch_size']
    if batch_size % world_size:
        raise checks.UsageError(f'--batch-size {batch_size} must be a multiple of the number of '
                                f'processes (WORLD_SIZE={world_size})')
    if args.out and rank == 0:
        check_output_folder(args.out)
    net, train_set, loss, evaluate_on, record = prepare(
        args.model, data_dir=args.data, split_mode=args.split, seed=args.seed,
        dropout=args.dropout)
    check_batch_size(batch_size, len(train_set),
                     'ratings' if args.model == 'mf' else 'rows of the rating matrix')
    rank, world_size, device = setup(args.backend, 'cpu' if args.cpu else None, args.timeout)
    try:
        lr, wd = settings['lr'], settings['wd']
        make = torch.optim.Adam if args.optimizer == 'adam' else torch.optim.SGD
        history = train_ddp(net, train_set, loss,
                            lambda p: make(p, lr=lr, weight_decay=wd),
                            epochs, batch_size, seed=args.seed, device=device,
                            drop_last=args.model == 'autorec', evaluate=evaluate_on(device))
        failed = None
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
                try:
                    save_model(net, args.out, model=args.model, hparams=record['hparams'],
                               num_users=record['num_users'], num_items=record['num_items'],
                               train_interactions=interactions, extra={'info': record},
                               history={'history': history, 'info': record})
                except Exception as e:
                    failed = e
        # Leave together, and fail together: the others learn that rank 0 could not save.
        # (A rank that tears gloo down while another still holds the connection can abort
        # at exit: "terminate called without an active exception".)
        status = torch.tensor([int(failed is not None)])
        dist.all_reduce(status)
        if failed is not None:
            raise failed
        if int(status):
            raise RuntimeError('rank 0 could not save the model (its line says why)')
    finally:
        cleanup()
    return 0


if __name__ == '__main__':
    code = main()
    # Done and saved: leave without running the interpreter's finalisation, where gloo's
    # worker threads, still owned by objects freed only then, can abort the process now and
    # then ("terminate called without an active exception", exit -6) after a good run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
