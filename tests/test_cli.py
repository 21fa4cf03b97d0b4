"""The command line, as a person runs it: subprocesses, tiny data, one or two epochs."""
import json
import os
import subprocess
import sys

import pytest

import synthetic
from conftest import NO_MXNET, needs_mxnet

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
    if NO_MXNET:
        pytest.skip(NO_MXNET)
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


@needs_mxnet
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
    pytest.param(['train', 'mf', '--devices', 'tpu:0'], 1, "unknown device 'tpu:0'",
                 marks=needs_mxnet),
    pytest.param(['train', 'mf', '--devices', 'gpu:0'], 1,
                 "'gpu:0' requested but MXNet sees no GPU", marks=needs_mxnet),
    pytest.param(['recommend', '--model', 'nowhere', '--user', '1'], 1, 'no model.json',
                 marks=needs_mxnet),
    (['data', '--path', 'nowhere'], 1, 'nowhere'),
    ([], 2, 'required'),
])
def test_wrong_arguments_get_one_line_and_nonzero_exit(args, code, words, tmp_path):
    line = one_line_error(run(*args, cwd=tmp_path), code)
    assert words in line


@pytest.mark.skipif(NO_MXNET is None, reason='the MXNet tab runs here')
def test_train_where_mxnet_cannot_run_says_so_in_one_line(tiny, tmp_path):
    line = one_line_error(run('train', 'mf', '--data', tiny, '--out', tmp_path), 1)
    assert 'The MXNet tab needs MXNet 1.9.1' in line and 'PyTorch tab' in line
    assert not any(tmp_path.iterdir())   # nothing written


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


# --- reliability: every case ends in one line, before work where it can, leaving nothing ----
def clean_env(**extra):
    env = {k: v for k, v in ENV.items() if k not in ('D2L_RECSYS_DATA', 'D2L_RECSYS_CACHE')}
    env.update(extra)
    return env


def run_env(env, *args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'd2l_recsys', *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def last_line_error(proc, code=1):
    """The run failed with ``code`` and its last stderr line is the error (progress and data
    notes may come before it); no traceback anywhere."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith('d2l-recsys: error: ')
    assert sum(line.startswith('d2l-recsys: error: ') for line in lines) == 1
    return lines[-1]


@pytest.mark.parametrize('option, value', [('--lr', 'inf'), ('--lr', 'nan'), ('--wd', 'inf'),
                                           ('--lr', '-inf'), ('--test-ratio', 'nan')])
def test_non_finite_arguments_are_usage_errors(option, value, tmp_path):
    line = one_line_error(run('train', 'mf', f'{option}={value}', cwd=tmp_path), 2)
    assert f'argument {option}: must be a finite number, got {value}' in line


def test_a_diverging_run_saves_nothing_and_keeps_the_old_model(tiny, mf_model, tmp_path):
    import shutil
    out = tmp_path / 'model'
    shutil.copytree(mf_model[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for extra in ([], ['--fast']):
        proc = run_env(clean_env(), 'train', 'mf', '--epochs', 2, '--factors', 4,
                       '--batch-size', 64, '--lr', '1e30', '--devices', 'cpu', '--data', tiny,
                       '--out', out, *extra)
        line = last_line_error(proc)
        assert 'training stopped in epoch 1: the loss is' in line and '1e+30' in line
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert os.listdir(tmp_path) == ['model']


@pytest.mark.parametrize('setup, words', [
    ('file', 'is a file, not a folder'),
    ('under a file', 'which is a file'),
    ('foreign folder', 'holds no model (notes.txt)'),
])
def test_a_bad_out_fails_before_training(tiny, tmp_path, setup, words):
    (tmp_path / 'taken').write_text('')
    out = {'file': tmp_path / 'taken', 'under a file': tmp_path / 'taken' / 'mf',
           'foreign folder': tmp_path / 'mine'}[setup]
    if setup == 'foreign folder':
        out.mkdir()
        (out / 'notes.txt').write_text('mine')
    proc = run_env(clean_env(), 'train', 'mf', '--epochs', 1, '--devices', 'cpu', '--data',
                   tiny, '--out', out)
    assert words in one_line_error(proc, 1)   # one line: no data note, no epoch: nothing ran


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_an_unwritable_out_fails_before_training(tiny, tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = run_env(clean_env(), 'train', 'mf', '--epochs', 1, '--devices', 'cpu',
                       '--data', tiny, '--out', locked / 'mf')
    finally:
        locked.chmod(0o755)
    assert 'cannot write in' in one_line_error(proc, 1)


@needs_mxnet
@pytest.mark.parametrize('args, words', [
    (['--batch-size', 1000000], r'batch_size 1000000 is larger than the [\d,]+ training rows'),
    (['--test-ratio', 1e-9, '--split', 'random'], 'leaves no test ratings'),
])
def test_impossible_sizes_fail_before_the_first_epoch(tiny, tmp_path, args, words):
    import re
    proc = run_env(clean_env(), 'train', 'mf', '--devices', 'cpu', '--data', tiny,
                   '--out', tmp_path / 'out', *args)
    assert re.search(words, last_line_error(proc))
    assert 'epoch 1/' not in proc.stderr and not (tmp_path / 'out').exists()


@needs_mxnet
def test_training_data_is_checked_as_data_checks_it(tiny, tmp_path):
    import shutil
    import zipfile
    dup = tmp_path / 'dup'
    shutil.copytree(tiny, dup)
    with open(dup / 'u.data') as f:
        first = f.readline()
    with open(dup / 'u.data', 'a') as f:
        f.write(first)
    other = tmp_path / 'ratings.tsv'
    shutil.copy(os.path.join(tiny, 'u.data'), other)
    for path, words in ((dup, 'twice'), (other, 'neither a zip archive nor a file named')):
        line = last_line_error(run_env(clean_env(), 'data', '--path', path))
        assert words in line or 'not the full MovieLens 100K' in line
        proc = run_env(clean_env(), 'train', 'mf', '--devices', 'cpu', '--data', path,
                       '--out', tmp_path / 'never')
        assert words in last_line_error(proc) and 'epoch' not in proc.stderr
    assert not (tmp_path / 'never').exists()
    # A folder with only ml-100k.zip trains through --data, as data --path finds it; the
    # environment variable is the same way in. Small data is used with a note.
    zipped = tmp_path / 'zipped'
    zipped.mkdir()
    with zipfile.ZipFile(zipped / 'ml-100k.zip', 'w') as zf:
        zf.write(os.path.join(tiny, 'u.data'), 'ml-100k/u.data')
    cache = tmp_path / 'cache'
    for env, extra in ((clean_env(D2L_RECSYS_CACHE=str(cache)), ['--data', zipped]),
                       (clean_env(D2L_RECSYS_DATA=str(tiny)), [])):
        proc = run_env(env, 'train', 'mf', '--epochs', 1, '--factors', 2, '--batch-size', 64,
                       '--devices', 'cpu', '--out', tmp_path / 'm', *extra)
        assert proc.returncode == 0, proc.stderr
        assert 'not the full MovieLens 100K (' in proc.stderr
    assert os.listdir(cache) == ['user-data']


def _tampered(mf_model, tmp_path, how):
    import shutil
    out = tmp_path / 'model'
    shutil.copytree(mf_model[0], out)
    meta = json.loads((out / 'model.json').read_text())
    if how == 'params outside':
        meta['params'] = '../../other/model.params'
    elif how == 'absolute params':
        meta['params'] = '/etc/passwd'
    elif how == 'hparams list':
        meta['hparams'] = [1]
    elif how == 'not an object':
        meta = []
    elif how == 'truncated npz':
        path = out / 'train_interactions.npz'
        path.write_bytes(path.read_bytes()[:64])
    elif how == 'item 5000':
        with open(out / 'train_interactions.npz', 'wb') as f:
            import numpy as onp
            onp.savez_compressed(f, users=onp.array([0]), items=onp.array([5000]),
                                 ratings=onp.array([3.], dtype='float32'))
    (out / 'model.json').write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize('how, words', [
    ('params outside', 'is not a plain file name'),
    ('absolute params', 'is not a plain file name'),
    ('hparams list', '"hparams" must be an object'),
    ('not an object', 'expected a JSON object, found list'),
    ('truncated npz', 'train_interactions.npz: does not match the size and SHA-256'),
    ('item 5000', 'train_interactions.npz: does not match the size and SHA-256'),
])
def test_recommend_checks_the_model_folder(mf_model, tmp_path, how, words):
    out = _tampered(mf_model, tmp_path, how)
    line = one_line_error(run('recommend', '--model', out, '--user', 1), 1)
    assert words in line


@needs_mxnet
def test_recommend_refuses_a_nan_model(tmp_path):
    import mxnet as mx
    import numpy as onp
    from d2l_recsys import store
    from d2l_recsys.mxnet.mf import MF
    net = MF(2, 5, 6)
    net.initialize(init=mx.init.Normal(0.1))
    net.Q.weight.set_data(net.Q.weight.data() * onp.nan)
    # (the tab's save_model refuses such a model; a folder written some other way)
    meta = store.model_meta('mxnet', 'model.params', model='mf', hparams={'num_factors': 2},
                            num_users=5, num_items=6)
    store.save_model_folder(tmp_path / 'm', meta=meta, write_params=net.save_parameters)
    line = one_line_error(run('recommend', '--model', tmp_path / 'm', '--user', 1), 1)
    assert 'Q.weight holds NaN or infinite values' in line


@needs_mxnet
def test_recommend_says_why_titles_are_missing(tmp_path):
    import mxnet as mx
    from d2l_recsys.mxnet.mf import MF
    from d2l_recsys.mxnet.predict import save_model
    data = tmp_path / 'data'
    synthetic.write_ml100k(data, titles=False, num_users=5, num_items=6)
    net = MF(2, 5, 6)
    net.initialize(init=mx.init.Normal(0.1))
    save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 2}, num_users=5,
               num_items=6, extra={'info': {'data_dir': str(data)}})
    proc = run('recommend', '--model', tmp_path / 'm', '--user', 1, '-k', 2)
    assert proc.returncode == 0, proc.stderr
    assert f'titles unavailable: no u.item in {tmp_path / "m"}' in proc.stderr
    proc = run('recommend', '--model', tmp_path / 'm', '--user', 1, '-k', 2, '--data', data)
    assert proc.returncode == 0, proc.stderr
    assert f'titles unavailable: no u.item in {data}' in proc.stderr


@needs_mxnet
def test_recommend_reads_titles_only_from_the_model_folder_or_data(tmp_path, mf_model):
    # A data folder recorded in model.json is not followed: the titles come from the
    # u.item train copied into the model folder (checked by its SHA-256), or from --data.
    import mxnet as mx
    from d2l_recsys.mxnet.mf import MF
    from d2l_recsys.mxnet.predict import save_model
    out, _ = mf_model
    assert os.path.isfile(os.path.join(out, 'u.item'))
    elsewhere = tmp_path / 'elsewhere'
    synthetic.write_ml100k(elsewhere, num_users=5, num_items=6)
    net = MF(2, 5, 6)
    net.initialize(init=mx.init.Normal(0.1))
    save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 2}, num_users=5,
               num_items=6, extra={'info': {'data_dir': str(elsewhere)}})
    proc = run('recommend', '--model', tmp_path / 'm', '--user', 1, '-k', 2, '--json')
    assert proc.returncode == 0, proc.stderr
    assert [row['title'] for row in json.loads(proc.stdout)] == ['', '']
    assert 'titles unavailable' in proc.stderr


@needs_mxnet
def test_mxnet_errors_show_their_reason_not_the_traceback_header(tiny, tmp_path, monkeypatch,
                                                                  capsys):
    import mxnet as mx
    from d2l_recsys import cli
    from d2l_recsys import mxnet as tab

    def out_of_memory(**kwargs):
        raise mx.base.MXNetError('Traceback (most recent call last):\n'
                                 '  File "../src/storage/./cpu_device_storage.h", line 72\n'
                                 'MXNetError: Failed to allocate CPU Memory')
    monkeypatch.setattr(tab, 'train_mf', out_of_memory)
    assert cli.main(['train', 'mf', '--factors', '100000000', '--devices', 'cpu', '--data',
                     tiny, '--out', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['d2l-recsys: error: MXNetError: Failed to allocate CPU Memory']
    assert not (tmp_path / 'out').exists()


def test_an_unusable_cache_is_named(tmp_path):
    blocker = tmp_path / 'blocker'
    blocker.write_text('')
    proc = run_env(clean_env(D2L_RECSYS_CACHE=str(blocker)), 'data')
    line = last_line_error(proc)
    assert f'the cache folder {blocker} is a file, not a folder' in line


@needs_mxnet
@pytest.mark.parametrize('target', ['titles', 'not titles'])
def test_recommend_never_reads_an_unlisted_u_item_linked_outside(tmp_path, mf_model, target):
    # model.json leaves u.item out, and u.item is a link to a file elsewhere: neither its
    # lines (as titles) nor its first line (in a note) may come out.
    import shutil
    out, _ = mf_model
    model = tmp_path / 'model'
    shutil.copytree(out, model)
    meta = json.loads((model / 'model.json').read_text())
    del meta['files']['u.item']
    (model / 'model.json').write_text(json.dumps(meta))
    secret = tmp_path / 'secret'
    secret.write_text('1|SECRET first line|\n2|SECRET second line|\n' if target == 'titles'
                      else 'SECRET first line, not u.item\n')
    (model / 'u.item').unlink()
    (model / 'u.item').symlink_to(secret)
    proc = run('recommend', '--model', model, '--user', 1, '-k', 3, '--json')
    assert proc.returncode == 0, proc.stderr
    assert 'SECRET' not in proc.stdout + proc.stderr
    assert [row['title'] for row in json.loads(proc.stdout)] == [''] * 3
    assert 'u.item in' in proc.stderr and 'is not listed in its model.json' in proc.stderr
