"""Predictions, top-k recommendations, and saving/loading models."""
import json
import os

import mxnet as mx
import numpy as onp
import pytest
from mxnet import np, npx

from d2l_recsys.mxnet import predict
from d2l_recsys.atomic import atomic_write
from d2l_recsys.mxnet.models import MF, AutoRec
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
    (tmp_path / 'model.params').write_bytes(b'not parameters')
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
