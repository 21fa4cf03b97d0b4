"""Predictions, top-k recommendations, and saving/loading models."""
import json
import os

import numpy as onp
import pytest

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import np, npx

from d2l_recsys.mxnet import predict
from d2l_recsys.atomic import atomic_write
from d2l_recsys.mxnet.mf import MF
from d2l_recsys.mxnet.autorec import AutoRec
from d2l_recsys.mxnet.predict import (interaction_matrix, load_model, load_parameters_checked,
                                predict_rating, save_model, score_items, top_k)

npx.set_np()


def _mf(num_users=40, num_items=50, factors=4, seed=0):
    mx.random.seed(seed)
    net = MF(factors, num_users, num_items)
    net.initialize(init=mx.init.Normal(0.5))
    return net


def _interactions(num_users=40, num_items=50, seed=0):
    rng = onp.random.RandomState(seed)
    pairs = {(int(u), int(i)) for u, i in zip(rng.randint(0, num_users, 400),
                                              rng.randint(0, num_items, 400))}
    users, items = map(onp.array, zip(*sorted(pairs)))
    return {'users': users, 'items': items,
            'ratings': rng.randint(1, 6, len(users)).astype(onp.float32)}


def test_predict_rating_is_the_books_example():
    net = _mf()
    book = net(np.array([20], dtype='int', ctx=mx.cpu()), np.array([30], dtype='int',
                                                                   ctx=mx.cpu()))
    assert predict_rating(net, 20, 30) == pytest.approx(float(book[0]), rel=1e-6)


def test_top_k_skips_seen_items_and_sorts_by_score():
    net = _mf()
    scores = score_items(net, 20)
    assert scores.shape == (50,)
    assert scores[30] == pytest.approx(predict_rating(net, 20, 30), rel=1e-6)
    seen = {int(onp.argmax(scores)), 3, 4}
    titles = {i: f'Film {i}' for i in range(1, 51)}
    rows = top_k(net, 20, 5, seen=seen, titles=titles)
    assert [r['rank'] for r in rows] == [1, 2, 3, 4, 5]
    assert not seen & {r['item_index'] for r in rows}
    got = [r['score'] for r in rows]
    assert got == sorted(got, reverse=True)
    expected = [j for j in onp.argsort(-scores, kind='stable') if j not in seen][:5]
    assert [r['item_index'] for r in rows] == [int(j) for j in expected]
    assert all(r['item_id'] == r['item_index'] + 1 for r in rows)
    assert rows[0]['title'] == f"Film {rows[0]['item_id']}"
    assert len(top_k(net, 20, 500, seen=seen)) == 47   # k larger than what is left
    with pytest.raises(ValueError, match='user 40 is out of range'):
        top_k(net, 40, 5)
    with pytest.raises(ValueError, match='k must be'):
        top_k(net, 1, 0)


@pytest.mark.parametrize('user_based', [False, True])
def test_autorec_predictions_come_from_the_interaction_matrix(user_based):
    inter = _interactions()
    mat = interaction_matrix(inter, 40, 50, user_based=user_based)
    assert mat.shape == ((40, 50) if user_based else (50, 40))
    mx.random.seed(0)
    net = AutoRec(6, 50 if user_based else 40)
    net.initialize(init=mx.init.Normal(0.3))
    recon = net(mat).asnumpy()   # rows: users (user-based) or items (item-based)
    user_scores = recon[7] if user_based else recon[:, 7]
    assert onp.allclose(score_items(net, 7, inter_mat=mat, user_based=user_based),
                        user_scores, rtol=1e-5, atol=1e-6)
    assert predict_rating(net, 7, 9, inter_mat=mat, user_based=user_based) == \
        pytest.approx(float(user_scores[9]), rel=1e-5)
    rows = top_k(net, 7, 5, inter_mat=mat, user_based=user_based)
    rated = set(inter['items'][inter['users'] == 7].tolist())
    assert rated and not rated & {r['item_index'] for r in rows}
    with pytest.raises(ValueError, match='inter_mat'):
        predict_rating(net, 7, 9)


def test_json_default_writes_numpy_values_and_falls_back_only_when_asked():
    from d2l_recsys.store import json_default
    values = {'n': onp.int64(3), 'x': onp.float32(0.5), 'a': onp.arange(3)}
    assert json.loads(json.dumps(values, default=json_default)) == \
        {'n': 3, 'x': 0.5, 'a': [0, 1, 2]}
    with pytest.raises(TypeError, match='object is not JSON serialisable'):
        json.dumps({'o': object()}, default=json_default)
    assert json.dumps([object], default=lambda o: json_default(o, fallback=str)) == \
        '["<class \'object\'>"]'


def test_save_and_load_round_trip(tmp_path):
    net = _mf()
    inter = _interactions()
    save_model(net, tmp_path, model='mf', hparams={'num_factors': 4}, num_users=40,
               num_items=50, train_interactions=inter, extra={'seed': 3})
    meta = json.loads((tmp_path / 'model.json').read_text())
    assert meta['model'] == 'mf' and meta['hparams'] == {'num_factors': 4}
    assert meta['num_users'] == 40 and meta['extra'] == {'seed': 3}
    loaded, meta2, inter2 = load_model(tmp_path)
    assert meta2 == meta
    assert onp.array_equal(score_items(loaded, 20), score_items(net, 20))
    for key in inter:
        assert onp.array_equal(inter2[key], inter[key])
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]


def test_save_and_load_autorec_with_extras(tmp_path):
    net = AutoRec(6, 40, hidden_layers=(3,), encoder_activation='tanh')
    net.initialize(init=mx.init.Normal(0.3))
    mat = interaction_matrix(_interactions(), 40, 50)
    before = net(mat).asnumpy()
    save_model(net, tmp_path, model='autorec', num_users=40, num_items=50,
               hparams={'num_hidden': 6, 'dropout': 0.05, 'hidden_layers': [3],
                        'encoder_activation': 'tanh'})
    loaded, meta, inter = load_model(tmp_path)
    assert inter is None
    assert onp.allclose(loaded(mat).asnumpy(), before, rtol=1e-6)
    _edit_meta(tmp_path, hparams=dict(meta['hparams'], clip='yes'))
    with pytest.raises(ValueError, match='"clip" must be true or false, got \'yes\''):
        load_model(tmp_path)


def test_wrong_shape_says_so(tmp_path):
    net = _mf(num_users=40, num_items=50, factors=4)
    path = str(tmp_path / 'mf.params')
    net.save_parameters(path)
    other = MF(8, 40, 60)
    with pytest.raises(ValueError) as e:
        load_parameters_checked(other, path)
    text = str(e.value)
    assert 'does not fit this MF' in text
    assert 'P.weight is (40, 4) in the file but (40, 8) in the model' in text
    assert 'Q.weight is (50, 4) in the file but (60, 8) in the model' in text
    with pytest.raises(ValueError, match='missing in the file: decoder.bias'):
        load_parameters_checked(AutoRec(4, 40), path)
    # AutoRec's input size is inferred at the first call: unknown dims are shown as '?'.
    auto = AutoRec(5, 40)
    auto.initialize()
    auto(np.ones((2, 50)))
    auto_path = str(tmp_path / 'autorec.params')
    auto.save_parameters(auto_path)
    with pytest.raises(ValueError, match=r'decoder.weight is \(40, 5\) in the file but '
                                         r'\(943, \?\)'):
        load_parameters_checked(AutoRec(5, 943), auto_path)
    load_parameters_checked(AutoRec(5, 40), auto_path)   # the right shape loads


def test_load_model_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='no model.json'):
        load_model(tmp_path)
    (tmp_path / 'model.json').write_text('{"format": ')
    with pytest.raises(ValueError, match='line 1: not valid JSON'):
        load_model(tmp_path)
    (tmp_path / 'model.json').write_text(json.dumps({'format': predict.FORMAT, 'model': 'mf',
                                                     'hparams': {'num_factors': 2},
                                                     'num_users': 3, 'num_items': 4,
                                                     'user_based': False}))
    with pytest.raises(FileNotFoundError, match='no such parameter file'):
        load_model(tmp_path)
    (tmp_path / 'model.params').write_bytes(b'not parameters')   # 14 bytes: too small
    with pytest.raises(ValueError, match=r'describes 21 parameters .* model.params holds 14 '
                                         'bytes'):
        load_model(tmp_path)
    (tmp_path / 'model.params').write_bytes(b'not parameters' * 10)   # room for 21 floats
    with pytest.raises(ValueError, match='not a parameter file'):
        load_model(tmp_path)


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = tmp_path / 'f.txt'
    target.write_text('old')

    def fail(tmp):
        with open(tmp, 'w') as f:
            f.write('half')
        raise OSError('disk full')
    with pytest.raises(OSError, match='disk full'):
        atomic_write(target, fail)
    assert target.read_text() == 'old'
    assert os.listdir(tmp_path) == ['f.txt']


# --- a model folder is input: checked before anything is built from it ----------------------

def _saved_mf(folder, **kwargs):
    net = _mf()
    save_model(net, folder, model='mf', hparams={'num_factors': 4}, num_users=40,
               num_items=50, train_interactions=_interactions(), **kwargs)
    return net


def _edit_meta(folder, **changes):
    path = folder / 'model.json'
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize('name', ['../other/model.params', '/etc/passwd', 'sub/model.params',
                                  '..', ''])
def test_model_json_cannot_name_a_file_outside_the_folder(tmp_path, name):
    other = tmp_path / 'other'
    _saved_mf(other)   # a valid parameter file one folder up: it must not be opened
    model = tmp_path / 'model'
    _saved_mf(model)
    _edit_meta(model, params=name, files=None)
    with pytest.raises(ValueError, match=r'model.json "params": .* is not a plain file name'):
        load_model(model)


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    _saved_mf(tmp_path / 'other')
    model = tmp_path / 'model'
    _saved_mf(model)
    _edit_meta(model, files=None)
    os.remove(model / 'model.params')
    os.symlink(tmp_path / 'other' / 'model.params', model / 'model.params')
    with pytest.raises(ValueError, match='a link that leads outside the model folder'):
        load_model(model)


@pytest.mark.parametrize('text, words', [
    ('[]', 'expected a JSON object, found list'),
    ('"x"', 'expected a JSON object, found str'),
    ('null', 'expected a JSON object, found NoneType'),
])
def test_model_json_that_is_not_an_object(tmp_path, text, words):
    _saved_mf(tmp_path)
    (tmp_path / 'model.json').write_text(text)
    with pytest.raises(ValueError, match=f'model.json: {words}'):
        load_model(tmp_path)


@pytest.mark.parametrize('changes, words', [
    ({'hparams': [1]}, '"hparams" must be an object'),
    ({'hparams': {'num_factors': 'x'}}, 'hparams .* are not usable'),
    ({'hparams': {'num_factors': 0}}, 'hparams .* are not usable'),
    ({'num_users': '40'}, "'num_users' must be an integer"),
    ({'num_items': True}, "'num_items' must be an integer"),
    ({'num_items': -1}, "'num_items' must be an integer"),
    ({'user_based': 'no'}, '"user_based" must be true or false'),
    ({'model': 7}, "'model' must be a non-empty string"),
    ({'format': 'other/9'}, 'unknown format'),
])
def test_model_json_fields_are_checked(tmp_path, changes, words):
    _saved_mf(tmp_path)
    _edit_meta(tmp_path, **changes)
    with pytest.raises(ValueError, match=words):
        load_model(tmp_path)


def _write_npz(path, **arrays):
    with open(path, 'wb') as f:
        onp.savez_compressed(f, **arrays)


@pytest.mark.parametrize('arrays, words', [
    (dict(users=[0, 1], items=[3, 5000], ratings=[4., 5.]),
     'item index 5000 is out of range: the model knows 0..49'),
    (dict(users=[-1, 1], items=[3, 4], ratings=[4., 5.]),
     'user index -1 is out of range'),
    (dict(users=[0, 1, 2], items=[3, 4], ratings=[4., 5.]), 'arrays of unequal length'),
    (dict(users=[0, 1], items=[3, 4]), "no array 'ratings'"),
    (dict(users=[0.5, 1], items=[3, 4], ratings=[4., 5.]), 'users are float64, not integers'),
    (dict(users=[0, 1], items=[3, 4], ratings=[onp.nan, 5.]), 'ratings hold non-finite'),
])
def test_training_ratings_are_checked(tmp_path, arrays, words):
    _saved_mf(tmp_path)
    _edit_meta(tmp_path, files=None)   # as a folder without checksums would be
    _write_npz(tmp_path / 'train_interactions.npz',
               **{k: onp.asarray(v) for k, v in arrays.items()})
    with pytest.raises(ValueError, match=r'train_interactions.npz: ' + words):
        load_model(tmp_path)


def test_truncated_training_ratings(tmp_path):
    _saved_mf(tmp_path)
    _edit_meta(tmp_path, files=None)
    path = tmp_path / 'train_interactions.npz'
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r'train_interactions.npz: not a readable .npz .*'
                                         r'BadZipFile'):
        load_model(tmp_path)


def test_files_from_another_run_are_detected(tmp_path):
    _saved_mf(tmp_path / 'a')
    b = tmp_path / 'b'
    mx.random.seed(1)
    save_model(_mf(seed=1), b, model='mf', hparams={'num_factors': 4}, num_users=40,
               num_items=50, train_interactions=_interactions(seed=1))
    for name in ('train_interactions.npz', 'model.params'):
        os.replace(b / name, tmp_path / 'a' / name)
        with pytest.raises(ValueError, match=f'{name}: does not match the size and SHA-256 '
                                             'that model.json records'):
            load_model(tmp_path / 'a')
        _saved_mf(tmp_path / 'a')


def test_non_finite_parameters_are_refused(tmp_path):
    from d2l_recsys import store
    net = _mf()
    net.P.weight.set_data(net.P.weight.data() * onp.nan)
    with pytest.raises(ValueError, match='save_model: P.weight holds NaN or infinite values'):
        save_model(net, tmp_path, model='mf', hparams={'num_factors': 4}, num_users=40,
                   num_items=50)
    # A folder written some other way is still refused when loaded.
    meta = store.model_meta('mxnet', 'model.params', model='mf', hparams={'num_factors': 4},
                            num_users=40, num_items=50)
    store.save_model_folder(tmp_path, meta=meta, write_params=net.save_parameters)
    with pytest.raises(ValueError, match='P.weight holds NaN or infinite values'):
        load_model(tmp_path)


def test_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match=r'holds no model \(notes.txt\)'):
        _saved_mf(tmp_path)
    assert os.listdir(tmp_path) == ['notes.txt']
    _saved_mf(tmp_path / 'm')
    (tmp_path / 'm' / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match=r'not part of a model \(notes.txt\)'):
        _saved_mf(tmp_path / 'm')


def test_failed_save_keeps_the_old_model_and_leaves_nothing(tmp_path):
    model = tmp_path / 'model'
    old = _saved_mf(model)
    before = {p: (model / p).read_bytes() for p in os.listdir(model)}

    def broken(path):
        with open(path, 'wb') as f:
            f.write(b'half')
        raise OSError('disk full')
    net = _mf(seed=5)
    net.save_parameters = broken
    with pytest.raises(OSError, match='disk full'):
        save_model(net, model, model='mf', hparams={'num_factors': 4}, num_users=40,
                   num_items=50, train_interactions=_interactions(seed=5))
    assert {p: (model / p).read_bytes() for p in os.listdir(model)} == before
    assert os.listdir(tmp_path) == ['model']
    loaded, _, _ = load_model(model)
    assert onp.array_equal(score_items(loaded, 3), score_items(old, 3))


KILLED_SAVE = r'''
import os, sys, time
import numpy as onp
sys.path.insert(0, sys.argv[3])
import test_predict as t
from d2l_recsys.mxnet import predict
real = onp.savez_compressed

def slow(*args, **kwargs):   # the parameters are written; stop before the rest
    open(sys.argv[2], 'w').close()
    time.sleep(120)
onp.savez_compressed = slow
predict.save_model(t._mf(seed=7), sys.argv[1], model='mf', hparams={'num_factors': 4},
                   num_users=40, num_items=50, train_interactions=t._interactions(seed=7))
'''


def test_sigkill_while_replacing_leaves_the_old_model_whole(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    model = tmp_path / 'model'
    old = _saved_mf(model)
    before = {p: (model / p).read_bytes() for p in os.listdir(model)}
    marker = tmp_path / 'marker'
    proc = subprocess.Popen([sys.executable, '-c', KILLED_SAVE, str(model), str(marker),
                             os.path.dirname(__file__)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, 'the saving process ended early'
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert {p: (model / p).read_bytes() for p in os.listdir(model)} == before
    loaded, _, _ = load_model(model)
    assert onp.array_equal(score_items(loaded, 3), score_items(old, 3))
    # The killed run's staging folder is a sibling, never inside the model; the next save
    # clears it away.
    _saved_mf(model)
    assert sorted(os.listdir(tmp_path)) == ['marker', 'model']


# --- API edges -------------------------------------------------------------------------------

@pytest.mark.parametrize('user, item, words', [(5000, 3, 'user 5000'), (-1, 3, 'user -1'),
                                               (3, 50, 'item 50'), (3, -1, 'item -1')])
def test_predict_rating_checks_the_indices(user, item, words):
    with pytest.raises(ValueError, match=f'{words} is out of range'):
        predict_rating(_mf(), user, item)



def test_autorec_cell_is_the_item_row_and_user_column_unless_user_based():
    from d2l_recsys.topk import autorec_cell
    shape = (50, 40)     # the book's item-based matrix: 50 items, 40 users
    assert autorec_cell(3, 7, shape) == (7, 3)
    assert autorec_cell(3, 7, (40, 50), user_based=True) == (3, 7)
    with pytest.raises(ValueError, match='user 40 is out of range: the model knows 0..39'):
        autorec_cell(40, 7, shape)
    with pytest.raises(ValueError, match='item 50 is out of range'):
        autorec_cell(3, 50, (40, 50), user_based=True)


@pytest.mark.parametrize('args, words', [((0, 40, 50), 'num_factors must be a positive'),
                                         ((4, 0, 50), 'num_users must be a positive'),
                                         ((4, 40, -2), 'num_items must be a positive'),
                                         ((2.5, 40, 50), 'num_factors must be a positive')])
def test_mf_sizes_are_checked_at_construction(args, words):
    with pytest.raises(ValueError, match=words):
        MF(*args)


@pytest.mark.parametrize('dropout', [1.5, 1, -0.1, float('nan')])
def test_autorec_dropout_is_checked_at_construction(dropout):
    with pytest.raises(ValueError, match=r'dropout must be a number in \[0, 1\)'):
        AutoRec(4, 10, dropout)


def test_an_unwritable_place_is_named_before_anything_is_written(tmp_path, monkeypatch):
    from d2l_recsys import store

    def denied(*args, **kwargs):   # what a read-only folder does to a non-root user
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(store.tempfile, 'mkdtemp', denied)
    with pytest.raises(ValueError, match=rf'{tmp_path}/out/mf: cannot write in {tmp_path} '
                                         r'\(Permission denied\)'):
        store.check_output_folder(tmp_path / 'out' / 'mf')
    assert os.listdir(tmp_path) == []


def test_replacing_without_an_atomic_swap_keeps_the_old_model_on_failure(tmp_path,
                                                                         monkeypatch):
    from d2l_recsys import store
    model = tmp_path / 'model'
    old = _saved_mf(model)
    before = {p: (model / p).read_bytes() for p in os.listdir(model)}
    monkeypatch.setattr(store, '_rename_exchange', lambda a, b: False)   # e.g. not Linux
    real = os.replace

    def second_rename_fails(src, dst):
        if os.path.basename(str(src)).startswith('.model.tmp-') and str(dst) == str(model):
            raise OSError('disk on fire')
        return real(src, dst)
    monkeypatch.setattr(store.os, 'replace', second_rename_fails)
    with pytest.raises(OSError, match='disk on fire'):
        _saved_mf(model)
    monkeypatch.setattr(store.os, 'replace', real)
    assert {p: (model / p).read_bytes() for p in os.listdir(model)} == before
    assert os.listdir(tmp_path) == ['model']
    new = _mf(seed=9)
    save_model(new, model, model='mf', hparams={'num_factors': 4}, num_users=40, num_items=50)
    loaded, _, _ = load_model(model)
    assert onp.array_equal(score_items(loaded, 3), score_items(new, 3))
    assert not onp.array_equal(score_items(loaded, 3), score_items(old, 3))
