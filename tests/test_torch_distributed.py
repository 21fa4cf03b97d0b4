"""Data parallelism with torch.distributed: two CPU processes over gloo on 127.0.0.1,
launched by torchrun, end with the parameters of one process trained on the same global
batches (MF with the book's per-example loss, AutoRec with the deck's summed loss)."""
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip('torch')

from synthetic import write_ml100k  # noqa: E402

from d2l_recsys.torch import distributed  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS, SEED = 2, 0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _one_process(model, data_dir, batch_size, drop_last, optimizer, lr):
    """The reference: the same data and initial weights, one process, the global batches
    DistributedSampler draws (chunks of randperm seeded with seed + epoch), plain Adam."""
    net, train_set, loss, _, _ = distributed.prepare(model, data_dir=data_dir, seed=SEED,
                                                     dropout=0.0)
    make = torch.optim.Adam if optimizer == 'adam' else torch.optim.SGD
    optimizer = make(net.parameters(), lr=lr, weight_decay=1e-5)
    n = len(train_set)
    assert n % 2 == 0, 'pick data with an even number of training examples'
    net.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(SEED + epoch))
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            batch = train_set[idx]
            values = list(batch) if isinstance(batch, (list, tuple)) else [batch]
            feat = values[:-1] if len(values) > 1 else values
            optimizer.zero_grad()
            ls = loss(net(*feat), values[-1])
            (ls.mean() if ls.dim() else ls).backward()
            optimizer.step()
    return net.state_dict()


# SGD's step is proportional to the gradient (Adam's hardly depends on its scale), so the
# AutoRec run also checks that a summed loss is scaled right across processes.
@pytest.mark.parametrize('model,batch_size,optimizer,lr', [('mf', 64, 'adam', 0.002),
                                                           ('autorec', 32, 'sgd', 1e-4)])
def test_two_processes_match_one(tmp_path, model, batch_size, optimizer, lr):
    data_dir = write_ml100k(str(tmp_path / 'data'), num_users=60, num_items=150,
                            density=0.15, seed=4)   # 1,560 ratings: 1,500 to train, 150 rows: even
    out = str(tmp_path / 'ddp')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('D2L_RECSYS_', 'MASTER_', 'RANK', 'WORLD_', 'LOCAL_'))}
    env.update(OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1',
           '--nproc-per-node', '2', '--master-addr', '127.0.0.1',
           '--master-port', str(_free_port()),
           '-m', 'd2l_recsys.torch.distributed', model, '--cpu', '--data', data_dir,
           '--epochs', str(EPOCHS), '--batch-size', str(batch_size), '--seed', str(SEED),
           '--dropout', '0', '--optimizer', optimizer, '--lr', str(lr), '--out', out]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '(2 processes' in run.stderr
    saved = torch.load(os.path.join(out, 'model.pt'), weights_only=True)
    reference = _one_process(model, data_dir, batch_size, model == 'autorec', optimizer, lr)
    start, _, _, _, _ = distributed.prepare(model, data_dir=data_dir, seed=SEED, dropout=0.0)
    assert set(saved) == set(reference)
    for name, value in reference.items():
        assert not torch.allclose(value, start.state_dict()[name])   # training moved it
        torch.testing.assert_close(saved[name], value, rtol=1e-4, atol=1e-6, msg=name)
