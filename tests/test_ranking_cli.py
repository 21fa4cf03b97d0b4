"""`train neumf|caser` and `recommend` from a ranking model, in both tabs, as a person runs
them (subprocesses, tiny data, two epochs); the model folder's Caser input checked on load."""
import json
import os
import shutil

import numpy as onp
import pytest

from conftest import NO_MXNET, make_ratings, write_u_data
from test_cli import one_line_error, run

FRAMEWORKS = [pytest.param('mxnet', marks=pytest.mark.skipif(NO_MXNET is not None,
                                                              reason=NO_MXNET or '')),
              'torch']


@pytest.fixture(scope='module')
def rank_data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('rank-cli')
    write_u_data(str(folder), make_ratings(20, 150, seed=0, per_user=(100, 130)))
    with open(folder / 'u.item', 'w', encoding='latin-1') as f:
        for i in range(1, 151):
            f.write(f'{i}|Film {i} (1996)|01-Jan-1996||x' + '|0' * 19 + '\n')
    return folder


@pytest.fixture(scope='module')
def trained(rank_data_dir, tmp_path_factory):
    """{(model, framework): (folder, completed process)}, trained on first use."""
    cache = {}

    def get(model, framework):
        if framework == 'torch':
            pytest.importorskip('torch')
        if (model, framework) not in cache:
            out = tmp_path_factory.mktemp(f'{model}-{framework}')
            proc = run('train', model, '--framework', framework, '--fast', '--epochs', 2,
                       '--batch-size', 256, '--seed', 0, '--devices', 'cpu',
                       '--data', rank_data_dir, '--out', out)
            assert proc.returncode == 0, proc.stderr
            cache[model, framework] = out, proc
        return cache[model, framework]
    return get


@pytest.mark.parametrize('framework', FRAMEWORKS)
@pytest.mark.parametrize('model', ['neumf', 'caser'])
def test_train_prints_the_books_lines_and_the_exact_metrics(trained, model, framework):
    out, proc = trained(model, framework)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('train loss ') and ', test hit rate ' in lines[0]
    assert ', test AUC ' in lines[0] and ' examples/sec on ' in lines[1]
    assert lines[2].startswith('exact (all unseen items, ties at their mean): HR@10 ')
    assert lines[3].startswith(f'wrote {out}: ')
    assert proc.stderr.count('epoch ') == 2
    saved = json.loads((out / 'history.json').read_text())
    history, info = saved['history'], saved['info']
    assert history['eval_epoch'] == [1, 2] and len(history['exact']) == 2
    assert info['framework'] == framework and info['train']['split_mode'] == 'seq-aware'
    assert 'test_seq' not in info   # Caser's last items have their own file
    meta = json.loads((out / 'model.json').read_text())
    assert meta['model'] == model
    assert (out / 'last_items.npz').exists() == (model == 'caser')
    if model == 'neumf':
        assert meta['hparams'] == {'num_factors': 10, 'nums_hiddens': [10, 10, 10]}
    else:
        assert meta['hparams']['L'] == 5 and 'last_items.npz' in meta['files']


@pytest.mark.parametrize('framework', FRAMEWORKS)
@pytest.mark.parametrize('model', ['neumf', 'caser'])
def test_recommend_gives_unseen_titles_from_a_ranking_model(trained, model, framework):
    out, _ = trained(model, framework)
    proc = run('recommend', '--model', out, '--user', 4, '-k', 5, '--json')
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r['rank'] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r['title'] == f'Film {r["item_id"]} (1996)' for r in rows)
    interactions = onp.load(out / 'train_interactions.npz')
    seen = set(interactions['items'][interactions['users'] == 3].tolist())
    assert not seen & {r['item_index'] for r in rows}
    scores = [r['score'] for r in rows]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_a_caser_folder_whose_last_items_do_not_fit_is_refused(trained, framework, tmp_path):
    out, _ = trained('caser', framework)
    bad = tmp_path / 'bad'
    shutil.copytree(out, bad)
    os.remove(bad / 'last_items.npz')
    line = one_line_error(run('recommend', '--model', bad, '--user', 1), 1)
    assert 'last_items.npz' in line   # listed in model.json, now missing
    # A well-formed file from another run: the checksum catches it first; rewritten
    # consistently (the SHA-256 updated), the check against the training items does.
    from d2l_recsys import store
    arrays = dict(onp.load(out / 'last_items.npz'))
    arrays['test_seq'] = arrays['test_seq'][:, ::-1].copy()
    with open(bad / 'last_items.npz', 'wb') as f:
        onp.savez_compressed(f, **arrays)
    meta = json.loads((bad / 'model.json').read_text())
    from d2l_recsys.atomic import file_digest
    meta['files']['last_items.npz'] = {'bytes': (bad / 'last_items.npz').stat().st_size,
                                       'sha256': file_digest(str(bad / 'last_items.npz'))}
    (bad / 'model.json').write_text(json.dumps(meta))
    with pytest.raises(store.ModelFolderError, match='not the last 5 training items'):
        store.load_model_folder(str(bad))
    line = one_line_error(run('recommend', '--model', bad, '--user', 1), 1)
    assert 'not the last 5 training items of every user' in line


def test_store_checks_the_last_items_it_is_given(tmp_path):
    from d2l_recsys import store
    meta = {'framework': 'torch', 'model': 'caser', 'hparams': {'L': 2}, 'num_users': 2,
            'num_items': 5, 'user_based': False, 'params': 'model.pt'}
    write = (lambda path: open(path, 'wb').close())
    with pytest.raises(store.ModelFolderError, match='needs its users'):
        store.save_model_folder(tmp_path / 'a', meta=meta, write_params=write)
    with pytest.raises(store.ModelFolderError, match=r'shape \(2, 3\), expected \(2, 2\)'):
        store.save_model_folder(tmp_path / 'b', meta=meta, write_params=write,
                                last_items=onp.zeros((2, 3), onp.int64))
    with pytest.raises(store.ModelFolderError, match='outside 0..4'):
        store.save_model_folder(tmp_path / 'c', meta=meta, write_params=write,
                                last_items=onp.full((2, 2), 5))
    assert not any(tmp_path.iterdir())   # nothing half-written


@pytest.mark.parametrize('args, words', [
    (['train', 'neumf', '--hidden', '5'], '--hidden is an AutoRec option, not NeuMF\'s'),
    (['train', 'caser', '--mlp', '4,4'], '--mlp is a NeuMF and DeepFM option, not Caser\'s'),
    (['train', 'neumf', '--split', 'random'], 'the ranking half uses the seq-aware split'),
    (['train', 'mf', '--loss', 'hinge'], '--loss is a NeuMF and Caser option, not MF\'s'),
    (['train', 'autorec', '--L', '3'], '--L is a Caser option, not AutoRec\'s'),
    (['train', 'neumf', '--mlp', '4,x'], 'argument --mlp: must be one or more positive integers'),
    (['train', 'neumf', '--mlp', ','], 'argument --mlp: must be one or more positive integers'),
    (['train', 'caser', '--drop-ratio', '1'], 'argument --drop-ratio: must be in [0, 1)'),
    (['train', 'caser', '--output', 'logit'], "--output is a NeuMF option, not Caser's"),
    (['train', 'neumf', '--loss', 'softmax', '--fast'], "--loss softmax is Caser's; NeuMF "
                                                        'takes bpr or hinge'),
    (['train', 'caser', '--loss', 'softmax'], '--loss softmax trains on the fast path only: '
                                              'add --fast'),
    (['train', 'neumf', '--preset', 'tuned', '--output', 'sigmoid'],
     '--preset tuned sets the hyper-parameters itself; drop --output'),
])
def test_wrong_ranking_options_get_one_line(args, words, tmp_path):
    line = one_line_error(run(*args, cwd=tmp_path), 2)
    assert words in line
