"""``train fm|deepfm`` and ``recommend`` for a click model, as a person runs them (both tabs,
tiny MovieLens files), saved click models read back as checked input, and bad flags refused in
one line."""
import json
import os
import subprocess
import sys

import pytest

import ctr_files
import synthetic
from conftest import NO_MXNET

ENV = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore')


def run(*args, env=None):
    return subprocess.run([sys.executable, '-m', 'd2l_recsys', *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env or ENV)


def error_line(proc, code):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert 'Traceback' not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('d2l-recsys: error: ')
    return line


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    """An own cache, and a small MovieLens (with u.user and u.item) given as the data."""
    folder = synthetic.write_ml100k(str(tmp_path_factory.mktemp('ml')), num_users=40,
                                    num_items=30, density=0.6, seed=4)
    ctr_files.write_side_files(folder, 40, 30, seed=4)
    cache = str(tmp_path_factory.mktemp('cache'))
    return dict(ENV, D2L_RECSYS_CACHE=cache, D2L_RECSYS_DATA=folder)


def framework_params():
    out = []
    if NO_MXNET is None:
        out.append(('mxnet', 'model.params'))
    try:
        import torch  # noqa: F401
        out.append(('torch', 'model.pt'))
    except ImportError:
        pass
    return out


@pytest.fixture(scope='module', params=framework_params(), ids=lambda p: p[0])
def fm_model(request, env, tmp_path_factory):
    framework, params = request.param
    out = tmp_path_factory.mktemp(f'fm-{framework}')
    proc = run('train', 'fm', '--framework', framework, '--epochs', 2, '--batch-size', 64,
               '--factors', 4, '--seed', 0, '--fast', '--out', out, env=env)
    assert proc.returncode == 0, proc.stderr
    return framework, params, out, proc


def test_train_fm_writes_a_click_model(fm_model):
    framework, params, out, proc = fm_model
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('loss ') and ', train acc ' in lines[0]
    assert 'examples/sec on' in lines[1]
    assert lines[2].startswith('exact, whole test set (') and 'AUC' in lines[2]
    assert lines[3].startswith(f'wrote {out}: ') and 'features.json, catalog.json' in lines[3]
    assert proc.stderr.count('\nepoch ') + proc.stderr.startswith('epoch ') == 2
    for name in ('history.json', 'curve.png', params, 'model.json', 'features.json',
                 'catalog.json', 'train_interactions.npz'):
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / 'model.json').read_text())
    assert meta['model'] == 'fm' and meta['framework'] == framework
    assert meta['hparams']['num_factors'] == 4 and len(meta['hparams']['field_dims']) == 8
    assert meta['num_users'] == 40 and meta['num_items'] == 30
    saved = json.loads((out / 'history.json').read_text())
    assert saved['history']['epoch'] == [1, 2] and len(saved['history']['test_auc']) == 2
    assert saved['info']['dataset'] == 'ml100k-ctr' and 'features' not in saved['info']
    features = json.loads((out / 'features.json').read_text())
    assert features['field_dims'] == meta['hparams']['field_dims']


def test_recommend_scores_the_users_unseen_films(fm_model):
    framework, _, out, _ = fm_model
    proc = run('recommend', '--model', out, '--user', 7, '-k', 5)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('top 5 unseen films for user 7 (fm: the probability of a '
                               'rating of 4 or 5;')
    assert len(lines) == 7
    rows = json.loads(run('recommend', '--model', out, '--user', 7, '-k', 30,
                          '--json').stdout)
    import numpy as onp
    z = onp.load(out / 'train_interactions.npz')
    seen = set(z['items'][z['users'] == 6] + 1)
    assert rows and not seen & {r['item_id'] for r in rows}
    assert len(rows) == 30 - len(seen)
    scores = [r['score'] for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert rows[0]['title'].startswith('Movie ') or rows[0]['title'] == 'unknown'
    line = error_line(run('recommend', '--model', out, '--user', 99), 1)
    assert 'unknown user id 99' in line


def test_a_tampered_feature_file_is_refused(fm_model, tmp_path):
    import shutil
    _, _, out, _ = fm_model
    copy = tmp_path / 'copy'
    shutil.copytree(out, copy)
    features = json.loads((copy / 'features.json').read_text())
    features['feat_mapper']['1'] = {'x': 0}
    (copy / 'features.json').write_text(json.dumps(features))
    line = error_line(run('recommend', '--model', copy, '--user', 1), 1)
    assert 'features.json: does not match the size and SHA-256' in line


@pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')
def test_deepfm_faithful_trains_and_recommends(env, tmp_path):
    out = tmp_path / 'deepfm'
    proc = run('train', 'deepfm', '--epochs', 1, '--batch-size', 64, '--mlp', '8,4',
               '--drop-rate', 0.2, '--seed', 1, '--out', out, env=env)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / 'model.json').read_text())
    assert meta['hparams']['mlp_dims'] == [8, 4] and meta['hparams']['drop_rate'] == 0.2
    assert run('recommend', '--model', out, '--user', 3).returncode == 0


@pytest.mark.parametrize('args, code, words', [
    (['train', 'fm', '--wd', '0.1'], 2, "--wd is an MF, AutoRec, NeuMF and Caser option, not "
                                        "FM's (the book trains FM and DeepFM with Adam without "
                                        'weight decay)'),
    (['train', 'fm', '--mlp', '3'], 2, "--mlp is a NeuMF and DeepFM option, not FM's"),
    (['train', 'deepfm', '--split', 'random'], 2, "--split is an MF and AutoRec option, not "
                                                  "DeepFM's"),
    (['train', 'neumf', '--preset', 'tuned', '--mlp', '8'], 2,
     '--preset tuned sets the hyper-parameters itself; drop --mlp'),
    (['train', 'fm', '--preset', 'tuned', '--factors', '3'], 2,
     '--preset tuned sets the hyper-parameters itself; drop --factors'),
    (['train', 'mf', '--dataset', 'ctr'], 2, "--dataset is an FM and DeepFM option, not MF's"),
    (['train', 'deepfm', '--mlp', '3,x'], 2, 'argument --mlp: must be one or more positive'),
    (['train', 'deepfm', '--drop-rate', '1.5'], 2, 'argument --drop-rate: must be in [0, 1)'),
    (['train', 'fm', '--dataset', 'criteo'], 2, "invalid choice: 'criteo'"),
    (['train', 'fm', '--batch-size', '100000'], 1, 'batch_size 100000 is larger than the'),
])
def test_bad_flags_are_one_line(env, tmp_path, args, code, words):
    if args[0] == 'train' and '--framework' not in args:   # a tab this machine has
        args = [*args, '--framework', framework_params()[0][0]]
    line = error_line(run(*args, '--out', tmp_path / 'o', env=env), code)
    assert words in line
    assert not (tmp_path / 'o').exists()


def test_the_books_ad_data_unreachable_is_one_line(env, tmp_path):
    offline = dict(env)
    offline.pop('D2L_RECSYS_DATA')
    line = error_line(run('train', 'fm', '--dataset', 'ctr', '--framework',
                          framework_params()[0][0], '--out', tmp_path / 'o', env=offline), 1)
    assert "could not get the book's advertising data 'ctr'" in line
    assert 'ctr.zip' in line and 'D2L_RECSYS_CTR' in line


def test_a_model_of_the_ad_data_has_nothing_to_recommend(env, tmp_path):
    folder = ctr_files.write_ctr_folder(str(tmp_path / 'ctr'), n_train=300, n_test=100)
    framework = framework_params()[0][0]
    out = tmp_path / 'fm-ctr'
    proc = run('train', 'fm', '--framework', framework, '--dataset', 'ctr', '--data', folder,
               '--epochs', 1, '--batch-size', 50, '--fast', '--out', out, env=env)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / 'model.json').read_text())
    assert meta['num_users'] is None and len(meta['hparams']['field_dims']) == 34
    assert not (out / 'catalog.json').exists() and not (out / 'train_interactions.npz').exists()
    line = error_line(run('recommend', '--model', out, '--user', 1), 1)
    assert 'data without users and films' in line


# --- the model folder, read as checked input ---------------------------------------------------

def test_click_hparams_are_checked_when_a_model_is_built():
    from d2l_recsys.store import model_from_meta
    build = dict(framework='mxnet', tab='MXNet', mf=None, autorec=None,
                 fm=lambda d, k: ('fm', d, k), deepfm=lambda d, k, m, r: ('deepfm', d, k, m, r))
    meta = {'framework': 'mxnet', 'model': 'fm', 'hparams': {'field_dims': [3, 4],
                                                             'num_factors': 2}}
    assert model_from_meta(meta, **build) == ('fm', [3, 4], 2)
    meta = dict(meta, model='deepfm', hparams=dict(meta['hparams'], mlp_dims=[4, 2],
                                                   drop_rate=0.1))
    assert model_from_meta(meta, **build) == ('deepfm', [3, 4], 2, [4, 2], 0.1)
    for kind, hparams, words in (
            ('fm', {'field_dims': [3, -1], 'num_factors': 2}, 'field_dims must be'),
            ('fm', {'field_dims': [3], 'num_factors': 0}, 'num_factors must be'),
            ('deepfm', {'field_dims': [3], 'num_factors': 2, 'mlp_dims': [4]},
             "lacks 'drop_rate'"),
            ('deepfm', {'field_dims': [3], 'num_factors': 2, 'mlp_dims': [4],
                        'drop_rate': 1}, 'drop_rate must be a number in')):
        with pytest.raises(ValueError, match=words):
            model_from_meta(dict(meta, model=kind, hparams=hparams), **build)
