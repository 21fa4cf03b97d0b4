"""The model folder as input, framework-free (d2l_recsys.store): nothing outside it is read,
no file in it can make a read hang, what model.json describes is checked before anything is
allocated, and what a killed save leaves is swept by the next run. The tabs' loaders start
with these checks (tests/test_predict.py, the PyTorch tab's tests)."""
import json
import os
import subprocess
import sys

import numpy as onp
import pytest

from d2l_recsys import scratch, store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = dict(framework='torch', model='mf', hparams={'num_factors': 2}, num_users=5,
            num_items=6, user_based=False, params='model.pt')
PARAMS = 4 * (5 + 6) * (2 + 1)   # bytes of MF's float32 parameters


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(scratch.ENV_CACHE, str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def _interactions(ratings=(4., 5., 1.)):
    return {'users': onp.array([0, 1, 4]), 'items': onp.array([3, 5, 0]),
            'ratings': onp.array(ratings, dtype=onp.float32)}


def save(folder, meta=None, params=PARAMS, files=None, **kwargs):
    def write_params(path):
        with open(path, 'wb') as f:
            f.write(b'\0' * params)
    return store.save_model_folder(folder, meta=dict(meta or META), write_params=write_params,
                                   interactions=_interactions(), files=files, **kwargs)


def edit_meta(folder, **changes):
    path = os.path.join(folder, 'model.json')
    with open(path) as f:
        meta = json.load(f)
    meta.update(changes)
    with open(path, 'w') as f:
        json.dump(meta, f)


def test_a_saved_folder_reads_back(tmp_path):
    folder = save(tmp_path / 'm', files={'u.item': lambda p: open(p, 'w').write('1|A|\n')})
    got = store.load_model_folder(folder)
    assert got.meta['hparams'] == {'num_factors': 2}
    assert got.interactions['ratings'].tolist() == [4., 5., 1.]
    assert store.read_listed(folder, 'u.item', got.meta) == b'1|A|\n'


def test_an_unlisted_u_item_linked_elsewhere_is_never_read(tmp_path):
    folder = save(tmp_path / 'm')
    secret = tmp_path / 'secret.txt'
    secret.write_text('1|the first line of a file outside the folder|\n')
    os.symlink(secret, os.path.join(folder, 'u.item'))
    meta = store.load_model_folder(folder).meta   # the folder itself is fine
    with pytest.raises(ValueError, match=r'u.item: not listed in model.json'):
        store.read_listed(folder, 'u.item', meta)


def test_a_listed_u_item_replaced_by_a_link_is_refused(tmp_path):
    folder = save(tmp_path / 'm', files={'u.item': lambda p: open(p, 'w').write('1|A|\n')})
    outside = tmp_path / 'outside'
    outside.write_text('1|A|\n')   # the same bytes: only the link gives it away
    os.remove(os.path.join(folder, 'u.item'))
    os.symlink(outside, os.path.join(folder, 'u.item'))
    with pytest.raises(ValueError, match='a link that leads outside the model folder'):
        store.load_model_folder(folder)


@pytest.mark.parametrize('name', ['model.json', 'model.pt', 'train_interactions.npz',
                                  'history.json', 'u.item'])
def test_a_fifo_in_the_folder_is_named_not_read(tmp_path, name):
    folder = save(tmp_path / 'm', history={'h': 1},
                  files={'u.item': lambda p: open(p, 'w').write('1|A|\n')})
    os.remove(os.path.join(folder, name))
    os.mkfifo(os.path.join(folder, name))
    # In a child with a deadline: a read that blocks would hang the test, not fail it.
    code = ('import sys; from d2l_recsys import store\n'
            'try:\n    store.load_model_folder(sys.argv[1])\n'
            'except ValueError as e:\n    print(e)\n')
    proc = subprocess.run([sys.executable, '-c', code, folder], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert f'{name}: a FIFO, not a regular file' in proc.stdout, proc.stderr


def test_an_unlisted_fifo_of_training_ratings_is_named(tmp_path):
    folder = save(tmp_path / 'm')
    edit_meta(folder, files=None)   # a folder without a manifest
    os.remove(os.path.join(folder, 'train_interactions.npz'))
    os.mkfifo(os.path.join(folder, 'train_interactions.npz'))
    with pytest.raises(ValueError, match='train_interactions.npz: a FIFO'):
        store.load_model_folder(folder)


def test_a_folder_whose_model_json_is_a_fifo_can_be_replaced(tmp_path):
    # (train's own files, u.item included, are known without the unreadable model.json)
    folder = save(tmp_path / 'm', files={'u.item': lambda p: open(p, 'w').write('1|A|\n'),
                                         'curve.png': lambda p: open(p, 'w').write('png')})
    os.remove(os.path.join(folder, 'model.json'))
    os.mkfifo(os.path.join(folder, 'model.json'))
    assert store.check_output_folder(folder) == str(folder)   # returns: no blocking read
    save(folder)
    assert os.path.isfile(os.path.join(folder, 'model.json'))


def test_a_deeply_nested_model_json_names_the_file(tmp_path):
    folder = save(tmp_path / 'm')
    with open(os.path.join(folder, 'model.json'), 'w') as f:
        f.write('[' * 200_000 + ']' * 200_000)
    with pytest.raises(ValueError, match=r'model.json: nested too deeply to be a model '
                                         r'description'):
        store.load_model_folder(folder)


@pytest.mark.parametrize('ratings, words', [((4., 99., 1.), 'rating 99 is outside the rating '
                                                             'scale, 1 to 5'),
                                            ((0., 5., 1.), 'rating 0 is outside'),
                                            ((4., -3., 1.), 'rating -3 is outside')])
def test_training_ratings_off_the_scale_are_refused(tmp_path, ratings, words):
    folder = save(tmp_path / 'm')
    edit_meta(folder, files=None)
    with open(os.path.join(folder, 'train_interactions.npz'), 'wb') as f:
        onp.savez_compressed(f, **_interactions(ratings))
    with pytest.raises(ValueError, match=f'train_interactions.npz: {words}'):
        store.load_model_folder(folder)
    with pytest.raises(ValueError, match=words):   # and they are never saved either
        store.save_model_folder(tmp_path / 'n', meta=META, write_params=lambda p: None,
                                interactions=_interactions(ratings))
    assert not (tmp_path / 'n').exists()


@pytest.mark.parametrize('hparams, sizes, words', [
    ({'num_factors': 300_000}, {}, r'describes 3,300,011 parameters \(12.6 MiB as float32\), '
                                   r'but model.pt holds 132 bytes'),
    ({'num_factors': 2}, {'num_users': 10 ** 8}, 'describes 300,000,018 parameters'),
    ({'num_factors': 2.5}, {}, r'mf hparams .* are not usable \(num_factors must be a '
                               r'positive integer, got 2.5\)'),
    ({'num_factors': 'x'}, {}, 'are not usable'),
    ({}, {}, "lacks 'num_factors'"),
])
def test_sizes_are_checked_against_the_parameter_file_before_anything_is_built(
        tmp_path, hparams, sizes, words):
    folder = save(tmp_path / 'm')
    edit_meta(folder, files=None, hparams=hparams, **sizes)
    with pytest.raises(ValueError, match=words):
        store.load_model_folder(folder)


def test_autorec_sizes_count_every_layer():
    meta = dict(model='autorec', hparams={'num_hidden': 3, 'hidden_layers': [2]},
                num_users=4, num_items=7, user_based=False)
    # encoder 4x3+3, hidden 3x2+2, decoder 2x4+4
    assert store.parameter_count(meta) == 15 + 8 + 12
    assert store.parameter_count(dict(meta, user_based=True)) == 7 * 3 + 3 + 8 + 2 * 7 + 7
    assert store.parameter_count(dict(meta, model='jukebox')) is None   # not known here
    with pytest.raises(ValueError, match='hidden_layers must be a positive integer'):
        store.parameter_count(dict(meta, hparams={'num_hidden': 3, 'hidden_layers': [0]}))


# Every model of every tab, built small: what model.json says it holds must be what it holds.
SMALL = {
    'mf': ({'num_factors': 3}, 5, 7),
    'autorec': ({'num_hidden': 4, 'hidden_layers': [3]}, 5, 7),
    'neumf': ({'num_factors': 3, 'nums_hiddens': [4, 2]}, 5, 7),
    'caser': ({'num_factors': 3, 'L': 4, 'd': 2, 'd_prime': 3, 'drop_ratio': 0.1}, 5, 7),
    'fm': ({'field_dims': [3, 4, 2], 'num_factors': 3}, None, None),
    'deepfm': ({'field_dims': [3, 4, 2], 'num_factors': 3, 'mlp_dims': [5, 2],
                'drop_rate': 0.1}, None, None),
}


def _tab_parameters(framework, meta):
    """How many numbers the tab's model for ``meta`` holds, once built and initialised."""
    if framework == 'torch':
        predict = pytest.importorskip('d2l_recsys.torch.predict', exc_type=ImportError)
        return sum(p.numel() for p in predict.build_model(meta).parameters())
    predict = pytest.importorskip('d2l_recsys.mxnet.predict', exc_type=ImportError)
    import mxnet as mx
    from mxnet import np
    net = predict.build_model(meta)
    net.initialize(mx.init.Normal(0.01))
    model = meta['model']
    users, items = np.array([0, 1]), np.array([1, 2])
    if model == 'caser':
        net(users, np.array([[0, 1, 2, 3], [1, 2, 3, 4]]), items)
    elif model in ('fm', 'deepfm'):
        net(np.array([[0, 3, 7], [1, 4, 8]]))
    elif model == 'autorec':
        net(np.ones((2, meta['num_users'])))
    else:
        net(users, items)
    return sum(p.data().size for p in net.collect_params().values())


@pytest.mark.parametrize('framework', ['mxnet', 'torch'])
@pytest.mark.parametrize('model', list(SMALL))
def test_parameter_count_is_what_each_tabs_model_holds(framework, model):
    assert set(SMALL) == set(store.MODELS) == set(store.PARAMETER_COUNTS)
    hparams, num_users, num_items = SMALL[model]
    meta = dict(framework=framework, model=model, hparams=hparams, num_users=num_users,
                num_items=num_items, user_based=False)
    assert store.parameter_count(meta) == _tab_parameters(framework, meta)


KILLED_SAVE = '''
import os, sys
from d2l_recsys import store
meta = dict(framework='torch', model='mf', hparams={'num_factors': 2}, num_users=5,
            num_items=6, user_based=False, params='model.pt')
def write_params(path):
    open(path, 'wb').write(b'\\0' * 132)
    print('staged', flush=True)
    os.kill(os.getpid(), 9)   # killed outright halfway through the save
store.save_model_folder(sys.argv[1], meta=meta, write_params=write_params)
'''


def test_a_killed_save_is_swept_by_the_next_run_of_any_command(tmp_path, cache):
    out = tmp_path / 'runs' / 'mf'
    env = dict(os.environ, PYTHONPATH=ROOT, D2L_RECSYS_CACHE=str(cache))
    proc = subprocess.run([sys.executable, '-c', KILLED_SAVE, out], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9 and 'staged' in proc.stdout
    left = os.listdir(tmp_path / 'runs')
    assert len(left) == 1 and left[0].startswith('.mf.tmp-') and not out.exists()
    # Any command sweeps it (here one that fails at once, on another folder).
    run = subprocess.run([sys.executable, '-m', 'd2l_recsys', 'recommend', '--model',
                          tmp_path / 'nowhere', '--user', '1'], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and 'no model.json' in run.stderr
    assert os.listdir(tmp_path / 'runs') == [] and not (cache / scratch.PENDING).exists()
