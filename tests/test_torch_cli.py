"""The command line with ``--framework torch``: train, the saved model's framework,
recommend, devices and seeds; subprocesses on tiny data, two epochs."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip('torch')

import synthetic  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith('D2L_RECSYS_')}
ENV.update(MPLBACKEND='Agg', PYTHONWARNINGS='ignore')


def run(*args):
    return subprocess.run([sys.executable, '-m', 'd2l_recsys', *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=ENV)


def one_line_error(proc, code):
    assert proc.returncode == code, proc
    assert 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('d2l-recsys: error: '), proc.stderr
    return lines[0]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return synthetic.write_ml100k(tmp_path_factory.mktemp('torch-cli-data'), num_users=30,
                                  num_items=40, density=0.5, seed=1)


def train(tiny, out, model='mf', *extra):
    size = ('--factors', 4, '--batch-size', 64) if model == 'mf' else \
        ('--hidden', 16, '--batch-size', 8)
    return run('train', model, '--framework', 'torch', '--epochs', 2, *size, '--seed', 0,
               '--devices', 'cpu', '--data', tiny, '--out', out, *extra)


@pytest.fixture(scope='module')
def mf_model(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp('torch-mf')
    proc = train(tiny, out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_torch_writes_a_torch_model(mf_model):
    out, proc = mf_model
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('train loss ') and ', test RMSE ' in lines[0]
    assert lines[1].endswith("examples/sec on [device(type='cpu')]")
    assert lines[2].startswith('exact test RMSE ')
    for name in ('history.json', 'curve.png', 'curve.svg', 'model.pt', 'model.json',
                 'train_interactions.npz'):
        assert (out / name).stat().st_size > 0, name
    assert not (out / 'model.params').exists()
    meta = json.loads((out / 'model.json').read_text())
    assert meta['framework'] == 'torch' and meta['params'] == 'model.pt'
    assert meta['hparams'] == {'num_factors': 4}
    saved = json.loads((out / 'history.json').read_text())
    assert saved['info']['framework'] == 'torch' and saved['info']['seed'] == 0
    assert saved['info']['train']['split_mode'] == 'seq-aware'
    assert saved['history']['devices'] == ['cpu'] and saved['history']['epoch'] == [1, 2]


def test_same_seed_same_rmse(tiny, mf_model, tmp_path):
    out, first = mf_model
    again = train(tiny, tmp_path / 'again')
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]
    a = json.loads((out / 'history.json').read_text())['history']
    b = json.loads((tmp_path / 'again' / 'history.json').read_text())['history']
    assert a['test_rmse'] == b['test_rmse'] and a['test_rmse_exact'] == b['test_rmse_exact']
    other = train(tiny, tmp_path / 'other', 'mf', '--seed', 1)
    assert other.returncode == 0, other.stderr
    c = json.loads((tmp_path / 'other' / 'history.json').read_text())['history']
    assert c['test_rmse_exact'] != a['test_rmse_exact']


def test_recommend_reads_the_torch_model(mf_model):
    out, _ = mf_model
    proc = run('recommend', '--model', out, '--user', 3, '-k', 4, '--json')
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r['rank'] for r in rows] == [1, 2, 3, 4]
    assert all(r['title'].startswith('Movie ') for r in rows)
    scores = [r['score'] for r in rows]
    assert scores == sorted(scores, reverse=True)
    # The same top items as the model itself, loaded through the PyTorch tab.
    import numpy as onp
    from d2l_recsys.torch.predict import load_model, score_items
    net, meta, interactions = load_model(str(out))
    seen = set(interactions['items'][interactions['users'] == 2].tolist())
    assert not seen & {r['item_index'] for r in rows}
    all_scores = score_items(net, 2)
    best = [j for j in onp.argsort(-all_scores, kind='stable') if j not in seen][:4]
    assert [r['item_index'] for r in rows] == best


def test_autorec_torch_train_and_recommend(tiny, tmp_path):
    out = tmp_path / 'ar'
    proc = train(tiny, out, 'autorec')
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / 'history.json').read_text())['info']
    assert info['framework'] == 'torch' and info['train']['split_mode'] == 'random'
    assert info['hparams'] == {'num_hidden': 16, 'dropout': 0.05}
    proc = run('recommend', '--model', out, '--user', 5, '-k', 3)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith('top 3 unseen items for user 5 (autorec')


def test_torch_bad_devices_and_fast(tiny, tmp_path):
    line = one_line_error(train(tiny, tmp_path / 'x', 'mf', '--devices', 'cpu:1'), 1)
    assert 'one CPU device' in line
    line = one_line_error(train(tiny, tmp_path / 'y', 'mf', '--devices', 'tpu'), 1)
    assert "unknown device 'tpu'" in line
    assert not (tmp_path / 'x').exists() and not (tmp_path / 'y').exists()


def test_torch_fast_gives_the_same_run(mf_model, tiny, tmp_path):
    # --fast with --framework torch: the same seed gives the same curve and printed lines.
    out, proc = mf_model
    fast = train(tiny, tmp_path / 'fast', 'mf', '--fast')
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout.splitlines()[0] == proc.stdout.splitlines()[0]   # train loss, RMSE
    faithful = json.loads((out / 'history.json').read_text())
    quick = json.loads((tmp_path / 'fast' / 'history.json').read_text())
    assert quick['info']['fast'] is True and faithful['info']['fast'] is False
    # Same batches; Adam's fused kernel on the fast path: equal to float32 rounding.
    assert quick['history']['train_loss'] == pytest.approx(faithful['history']['train_loss'],
                                                           rel=1e-5)
    assert quick['history']['test_rmse'] == pytest.approx(faithful['history']['test_rmse'],
                                                          rel=1e-5)
