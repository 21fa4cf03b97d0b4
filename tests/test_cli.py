"""The command line, as a person runs it: subprocesses, tiny data, one or two epochs."""
import json
import os
import subprocess
import sys

import pytest

import synthetic

ENV = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore')


def run(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'd2l_recsys', *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=ENV, cwd=cwd)


def one_line_error(proc, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, proc
    assert 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('d2l-recsys: error: ')
    return lines[0]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return synthetic.write_ml100k(tmp_path_factory.mktemp('cli-data'), num_users=30,
                                  num_items=40, density=0.5, seed=1)


@pytest.fixture(scope='module')
def mf_model(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp('mf-model')
    proc = run('train', 'mf', '--epochs', 2, '--factors', 4, '--batch-size', 64, '--lr', 0.01,
               '--seed', 0, '--devices', 'cpu:0,cpu:1', '--data', tiny, '--out', out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_writes_history_curve_and_model(mf_model):
    out, proc = mf_model
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('train loss ') and ', test RMSE ' in lines[0]
    assert lines[1].endswith('examples/sec on [cpu(0), cpu(1)]')
    assert lines[2].startswith('exact test RMSE ')
    assert proc.stderr.count('epoch ') == 2   # one progress line per epoch
    for name in ('history.json', 'curve.png', 'curve.svg', 'model.params', 'model.json',
                 'train_interactions.npz'):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / 'history.json').read_text())
    history, info = saved['history'], saved['info']
    assert history['epoch'] == [1, 2] and len(history['test_rmse']) == 2
    assert history['devices'] == ['cpu(0)', 'cpu(1)']
    assert 'not the test-set RMSE' in history['test_rmse_kind']
    assert info['seed'] == 0 and info['train']['num_epochs'] == 2
    assert info['train']['split_mode'] == 'seq-aware' and info['train']['lr'] == 0.01
    assert info['hparams'] == {'num_factors': 4} and info['num_users'] == 30
    meta = json.loads((out / 'model.json').read_text())
    assert meta['model'] == 'mf' and meta['hparams'] == {'num_factors': 4}


def test_recommend_prints_a_table_with_titles(mf_model):
    out, _ = mf_model
    proc = run('recommend', '--model', out, '--user', 20, '-k', 4)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('top 4 unseen items for user 20 (mf')
    assert lines[1].split() == ['rank', 'item', 'score', 'title']
    assert len(lines) == 6
    for rank, line in enumerate(lines[2:], 1):
        fields = line.split()
        assert int(fields[0]) == rank
        assert line.endswith(f'Movie {int(fields[1])} (1995)')
    proc = run('recommend', '--model', out, '--user', 20, '-k', 4, '--json')
    rows = json.loads(proc.stdout)
    assert [r['rank'] for r in rows] == [1, 2, 3, 4]
    assert [str(r['item_id']) for r in rows] == [line.split()[1] for line in lines[2:]]


def test_autorec_user_based_trains_and_recommends(tiny, tmp_path):
    proc = run('train', 'autorec', '--user-based', '--epochs', 1, '--hidden', 8,
               '--batch-size', 8, '--split', 'seq-aware', '--devices', 'cpu', '--data', tiny,
               '--out', tmp_path)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / 'model.json').read_text())
    assert meta['model'] == 'autorec' and meta['user_based'] is True
    assert meta['hparams']['num_hidden'] == 8
    proc = run('recommend', '--model', tmp_path, '--user', 1, '-k', 3)
    assert proc.returncode == 0, proc.stderr
    assert 'top 3 unseen items for user 1 (autorec' in proc.stdout


@pytest.mark.parametrize('args, code, words', [
    (['train', 'mf', '--epochs', '-1'], 2, 'argument --epochs: must be a positive integer'),
    (['train', 'mf', '--epochs', 'x'], 2, "'x' is not an integer"),
    (['train', 'mf', '--lr', '0'], 2, 'argument --lr: must be positive'),
    (['train', 'svd'], 2, "invalid choice: 'svd'"),
    (['train', 'mf', '--hidden', '5'], 2, 'AutoRec options'),
    (['train', 'mf', '--devices', 'tpu:0'], 1, "unknown device 'tpu:0'"),
    (['train', 'mf', '--devices', 'gpu:0'], 1, "'gpu:0' requested but MXNet sees no GPU"),
    (['recommend', '--model', 'nowhere', '--user', '1'], 1, 'no model.json'),
    (['data', '--path', 'nowhere'], 1, 'nowhere'),
    ([], 2, 'required'),
])
def test_wrong_arguments_get_one_line_and_nonzero_exit(args, code, words, tmp_path):
    line = one_line_error(run(*args, cwd=tmp_path), code)
    assert words in line


def test_unknown_user_and_wrong_batch_size(mf_model, tiny, tmp_path):
    out, _ = mf_model
    line = one_line_error(run('recommend', '--model', out, '--user', 31), 1)
    assert 'unknown user id 31: the model knows users 1..30' in line
    line = one_line_error(run('recommend', '--model', out, '--user', 0), 1)
    assert 'unknown user id 0' in line
    line = one_line_error(run('train', 'mf', '--batch-size', 7, '--devices', 'cpu:0,cpu:1',
                              '--data', tiny, '--out', tmp_path), 1)
    assert 'multiple of the number of devices' in line


def test_data_rejects_what_is_not_ml100k(tiny):
    line = one_line_error(run('data', '--path', tiny), 1)
    assert 'not the full MovieLens 100K' in line


def test_help_works():
    proc = run('train', '--help')
    assert proc.returncode == 0 and '--factors' in proc.stdout and '--devices' in proc.stdout


def _cached_ml100k():
    from d2l_recsys import fetch
    folder = os.path.join(fetch.cache_root(), 'ml-100k')
    return folder if os.path.isfile(os.path.join(folder, 'u.data')) else None


@pytest.mark.skipif(_cached_ml100k() is None, reason='ML-100K is not in the cache '
                    '(`make data` puts it there)')
def test_data_prints_the_folder():
    proc = run('data')
    assert proc.returncode == 0, proc.stderr
    folder = proc.stdout.strip().splitlines()[-1]
    assert os.path.isfile(os.path.join(folder, 'u.data'))
