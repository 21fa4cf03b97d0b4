"""Data parallelism with torch.distributed: two CPU processes over gloo on 127.0.0.1,
launched by torchrun, end with the parameters of one process trained on the same global
batches (MF with the book's per-example loss, AutoRec with the deck's summed loss)."""
import json
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


# --- the entry checks its arguments and environment before the rendezvous, and times it out --
@pytest.fixture
def tiny(tmp_path_factory):
    return write_ml100k(str(tmp_path_factory.mktemp('ddp-data')), num_users=30, num_items=40,
                        density=0.5, seed=1)


@pytest.fixture
def alone(monkeypatch, tmp_path):
    """One process, as without torchrun; a cache of its own."""
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT',
                 'TORCHELASTIC_USE_AGENT_STORE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('D2L_RECSYS_CACHE', str(tmp_path / 'cache'))
    hook = sys.excepthook   # init_process_group installs its own
    yield monkeypatch
    sys.excepthook = hook


def one_line(capsys, code, result):
    assert result == code
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith('d2l-recsys distributed: ')]
    assert len(errors) == 1 and errors[0] == err[-1], err
    return err[-1]


@pytest.mark.parametrize('args, words', [
    (['--epochs', '0'], 'argument --epochs: must be a positive integer, got 0'),
    (['--epochs', '-2'], 'argument --epochs: must be a positive integer, got -2'),
    (['--batch-size', '0'], 'argument --batch-size: must be a positive integer, got 0'),
    (['--lr', 'nan'], 'argument --lr: must be a finite number, got nan'),
    (['--lr', '-1'], 'argument --lr: must be positive, got -1'),
    (['--wd', 'inf'], 'argument --wd: must be a finite number, got inf'),
    (['--dropout', '1.5'], 'argument --dropout: must be in [0, 1), got 1.5'),
    (['--seed', '-1'], 'argument --seed: must be an integer in [0, 2**32), got -1'),
    (['--timeout', '0'], 'argument --timeout: must be positive, got 0'),
    (['--epochs', 'two'], "argument --epochs: 'two' is not an integer"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, words, alone, capsys, tiny):
    line = one_line(capsys, 2, distributed.main(['autorec', '--cpu', '--data', tiny, *args]))
    assert line == f'd2l-recsys distributed: error: {words}'


@pytest.mark.parametrize('env, words', [
    ({'WORLD_SIZE': 'abc'}, "WORLD_SIZE must be an integer, got 'abc'"),
    ({'WORLD_SIZE': '0'}, 'WORLD_SIZE must be an integer of at least 1, got 0'),
    ({'WORLD_SIZE': '2', 'RANK': '5'},
     'error: RANK must be below WORLD_SIZE (2): the ranks are 0..1, got 5'),
    ({'WORLD_SIZE': '2', 'RANK': '-1'}, 'RANK must be an integer of at least 0, got -1'),
    ({'MASTER_PORT': '99999'}, 'MASTER_PORT must be an integer in [1, 65535], got 99999'),
    ({'WORLD_SIZE': '3', 'RANK': '1'},
     'rank 1: error: --batch-size 64 must be a multiple of the number of processes '
     '(WORLD_SIZE=3)'),
])
def test_bad_environment_is_named_before_the_rendezvous(env, words, alone, capsys, tiny):
    for name, value in env.items():
        alone.setenv(name, value)
    line = one_line(capsys, 2, distributed.main(['mf', '--cpu', '--data', tiny,
                                                 '--batch-size', '64']))
    assert line.endswith(words) and 'd2l-recsys distributed: ' in line


def test_bad_input_fails_before_training(alone, capsys, tiny, tmp_path):
    (tmp_path / 'file').write_text('')
    line = one_line(capsys, 1, distributed.main(['mf', '--cpu', '--data', tiny,
                                                 '--out', str(tmp_path / 'file')]))
    assert line.endswith('file is a file, not a folder')
    line = one_line(capsys, 1, distributed.main(['mf', '--cpu', '--data',
                                                 str(tmp_path / 'nowhere')]))
    assert 'nowhere' in line and 'no such file or folder' in line
    line = one_line(capsys, 1, distributed.main(['mf', '--cpu', '--data', tiny,
                                                 '--batch-size', '1000000']))
    assert 'batch_size 1000000 is larger than the' in line


def test_a_diverging_run_stops_on_every_rank_and_saves_nothing(alone, capsys, tiny, tmp_path):
    line = one_line(capsys, 1, distributed.main(['mf', '--cpu', '--data', tiny, '--epochs',
                                                 '3', '--batch-size', '64', '--lr', '1e30',
                                                 '--out', str(tmp_path / 'm')]))
    assert 'training stopped in epoch 1: the loss is' in line
    assert not (tmp_path / 'm').exists() and not torch.distributed.is_initialized()


def _rank(rank, world_size, port, data, timeout, *extra, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('MASTER_', 'RANK', 'WORLD_', 'LOCAL_', 'TORCHELASTIC'))}
    env.update(OMP_NUM_THREADS='1', PYTHONPATH=REPO, RANK=str(rank),
               WORLD_SIZE=str(world_size), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
               **(env_extra or {}))
    return subprocess.Popen([sys.executable, '-m', 'd2l_recsys.torch.distributed', 'mf',
                             '--cpu', '--data', data, '--epochs', '1', '--batch-size', '64',
                             '--timeout', str(timeout), *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=180)
    assert 'Traceback' not in err, err
    return proc.returncode, err.strip().splitlines()[-1]


def test_a_missing_rank_is_named_when_the_rendezvous_times_out(tiny, tmp_path):
    port = _free_port()
    tic = __import__('time').monotonic()
    code, line = _finish(_rank(0, 2, port, tiny, 2))
    assert code == 1 and line.startswith('d2l-recsys distributed: rank 0: error: rank 1 (of 2) '
                                         f'did not join the rendezvous at 127.0.0.1:{port} '
                                         'within 2 s')
    code, line = _finish(_rank(1, 2, _free_port(), tiny, 2))
    assert code == 1 and line.startswith('d2l-recsys distributed: rank 1: error: rank 0 (of 2) '
                                         'is missing: nothing answered at 127.0.0.1:')
    assert __import__('time').monotonic() - tic < 150   # seconds, not gloo's 30 minutes


def test_a_busy_port_is_named_and_one_process_needs_none(tiny, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, line = _finish(_rank(0, 2, port, tiny, 2))
        assert code == 1 and line == (f'd2l-recsys distributed: rank 0: error: MASTER_PORT '
                                      f'{port}: the port is in use on 127.0.0.1; give a free '
                                      'one (MASTER_PORT=..., or torchrun --master-port ...)')
        code, line = _finish(_rank(0, 1, port, tiny, 2, '--out', str(tmp_path / 'one')))
        assert code == 0 and (tmp_path / 'one' / 'model.pt').is_file()


def test_two_processes_started_by_hand_meet_and_train(tiny, tmp_path):
    port = _free_port()
    first = _rank(0, 2, port, tiny, 60, '--out', str(tmp_path / 'two'))
    second = _rank(1, 2, port, tiny, 60)
    assert _finish(second)[0] == 0
    code, _ = _finish(first)
    assert code == 0 and (tmp_path / 'two' / 'model.pt').is_file()
    info = json.loads((tmp_path / 'two' / 'model.json').read_text())['extra']['info']
    assert info['world_size'] == 2
