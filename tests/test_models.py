"""MF and AutoRec against the book's classes (the oracle), their extras, and the evaluators."""
import math

import numpy as onp
import pytest

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from d2l_recsys.mxnet.autorec import (AutoRec, autorec_evaluator, autorec_rmse_exact,
                                      user_based_autorec, user_based_matrix)
from d2l_recsys.mxnet.mf import MF, evaluator, rmse_exact

npx.set_np()


# --- the book's classes, verbatim (:numref:`sec_mf`, :numref:`sec_autorec`) ---------------
class BookMF(nn.Block):
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super(BookMF, self).__init__(**kwargs)
        self.P = nn.Embedding(input_dim=num_users, output_dim=num_factors)
        self.Q = nn.Embedding(input_dim=num_items, output_dim=num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def forward(self, user_id, item_id):
        P_u = self.P(user_id)
        Q_i = self.Q(item_id)
        b_u = self.user_bias(user_id)
        b_i = self.item_bias(item_id)
        outputs = (P_u * Q_i).sum(axis=1) + np.squeeze(b_u) + np.squeeze(b_i)
        return outputs.flatten()


class BookAutoRec(nn.Block):
    def __init__(self, num_hidden, num_users, dropout=0.05):
        super(BookAutoRec, self).__init__()
        self.encoder = nn.Dense(num_hidden, activation='sigmoid',
                                use_bias=True)
        self.decoder = nn.Dense(num_users, use_bias=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input):
        hidden = self.dropout(self.encoder(input))
        pred = self.decoder(hidden)
        if autograd.is_training():  # Mask the gradient during training
            return pred * np.sign(input)
        else:
            return pred


def book_evaluator(net, test_iter, devices):
    rmse = mx.metric.RMSE()  # Get the RMSE
    rmse_list = []
    for idx, (users, items, ratings) in enumerate(test_iter):
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r_ui = gluon.utils.split_and_load(ratings, devices, even_split=False)
        r_hat = [net(u, i) for u, i in zip(u, i)]
        rmse.update(labels=r_ui, preds=r_hat)
        rmse_list.append(rmse.get()[1])
    return float(np.mean(np.array(rmse_list)))


def book_autorec_evaluator(network, inter_matrix, test_data, devices):
    scores = []
    for values in inter_matrix:
        feat = gluon.utils.split_and_load(values, devices, even_split=False)
        scores.extend([network(i).asnumpy() for i in feat])
    recons = np.array([item for sublist in scores for item in sublist])
    # Calculate the test RMSE
    rmse = np.sqrt(np.sum(np.square(test_data - np.sign(test_data) * recons))
                   / np.sum(np.sign(test_data)))
    return float(rmse)


def _sparse_matrix(rows, cols, density=0.4, seed=0):
    rng = onp.random.RandomState(seed)
    m = rng.randint(1, 6, (rows, cols)).astype(onp.float32)
    m[rng.uniform(size=(rows, cols)) > density] = 0
    return m


def test_mf_same_parameters_and_outputs_as_the_book(tmp_path):
    mx.random.seed(0)
    book = BookMF(4, 10, 12)
    book.initialize(init=mx.init.Normal(0.01))
    path = str(tmp_path / 'book.params')
    book.save_parameters(path)
    ours = MF(4, 10, 12)
    ours.load_parameters(path)   # same child names -> the book's files load
    assert sorted(ours._collect_params_with_prefix()) == sorted(
        book._collect_params_with_prefix())
    u, i = np.array([0, 3, 9, 3]), np.array([11, 0, 5, 5])
    assert onp.array_equal(ours(u, i).asnumpy(), book(u, i).asnumpy())
    assert ours(u, i).shape == (4,)


def test_mf_prediction_is_dot_product_plus_biases():
    net = MF(3, 5, 6)
    net.initialize(init=mx.init.Normal(1.0))
    P, Q = net.P.weight.data().asnumpy(), net.Q.weight.data().asnumpy()
    bu, bi = net.user_bias.weight.data().asnumpy(), net.item_bias.weight.data().asnumpy()
    got = float(net(np.array([2]), np.array([4]))[0])
    assert got == pytest.approx(float(P[2] @ Q[4] + bu[2, 0] + bi[4, 0]), rel=1e-5)


def test_autorec_defaults_are_the_book_model(tmp_path):
    mx.random.seed(1)
    book = BookAutoRec(7, 9)
    book.initialize(init=mx.init.Normal(0.01))
    x = np.array(_sparse_matrix(5, 9))
    book(x)
    path = str(tmp_path / 'book.params')
    book.save_parameters(path)
    ours = AutoRec(7, 9)
    ours.load_parameters(path)
    assert sorted(ours._collect_params_with_prefix()) == [
        'decoder.bias', 'decoder.weight', 'encoder.bias', 'encoder.weight']
    assert onp.allclose(ours(x).asnumpy(), book(x).asnumpy(), rtol=0, atol=0)
    with autograd.record():  # training mode: dropout and the mask
        mx.random.seed(5)
        a = book(x)
        mx.random.seed(5)
        b = ours(x)
    assert onp.array_equal(a.asnumpy(), b.asnumpy())
    assert ours.dropout._rate == 0.05


def test_autorec_masks_unobserved_entries_when_training():
    net = AutoRec(6, 8, dropout=0.0)
    net.initialize(init=mx.init.Normal(0.1))
    m = _sparse_matrix(4, 8, density=0.5, seed=3)
    m[:, 2] = 0   # nobody observed column 2
    x = np.array(m)
    with autograd.record():
        out = net(x)
        loss = gluon.loss.L2Loss()(out, x).sum()
    loss.backward()
    assert onp.all(out.asnumpy()[m == 0] == 0)
    assert net.decoder.bias.grad().asnumpy()[2] == 0       # no gradient from unobserved
    assert onp.all(net.decoder.weight.grad().asnumpy()[2] == 0)
    assert onp.any(net.decoder.bias.grad().asnumpy() != 0)
    assert onp.any(net(x).asnumpy()[m == 0] != 0)          # predicting: no mask


def test_autorec_extra_layers_and_activations():
    net = AutoRec(6, 8, hidden_layers=(5, 4), encoder_activation='relu',
                  decoder_activation='sigmoid')
    net.initialize()
    out = net(np.ones((3, 8)))
    assert out.shape == (3, 8)
    assert onp.all((out.asnumpy() > 0) & (out.asnumpy() < 1))   # sigmoid output
    names = sorted(net._collect_params_with_prefix())
    assert names == ['decoder.bias', 'decoder.weight', 'encoder.bias', 'encoder.weight',
                     'hidden0.bias', 'hidden0.weight', 'hidden1.bias', 'hidden1.weight']
    assert net.hidden0.weight.shape == (5, 6) and net.hidden1.weight.shape == (4, 5)
    assert net.decoder.weight.shape == (8, 4)
    assert net.encoder.act is not None and net.encoder.act._act_type == 'relu'
    assert net.hidden0.act._act_type == 'relu'   # hidden layers follow the encoder


def test_autorec_rejects_unknown_activation_and_bad_sizes():
    with pytest.raises(ValueError, match="encoder_activation='gelu'.*sigmoid"):
        AutoRec(6, 8, encoder_activation='gelu')
    with pytest.raises(ValueError, match='positive'):
        AutoRec(0, 8)
    with pytest.raises(ValueError, match='positive'):
        AutoRec(6, 8, hidden_layers=(3, 0))


def test_user_based_variant_is_the_same_block_on_rows_of_users():
    items_by_users = np.array(_sparse_matrix(12, 5))   # book layout: (num_items, num_users)
    users_by_items = user_based_matrix(items_by_users)
    assert users_by_items.shape == (5, 12)
    net = user_based_autorec(4, 12)
    assert isinstance(net, AutoRec)
    net.initialize()
    assert net(users_by_items).shape == (5, 12)


def _mf_test_iter(n=37, batch_size=10, seed=0):
    rng = onp.random.RandomState(seed)
    users = np.array(rng.randint(0, 6, n))
    items = np.array(rng.randint(0, 7, n))
    ratings = np.array(rng.randint(1, 6, n).astype(onp.float32))
    return gluon.data.DataLoader(gluon.data.ArrayDataset(users, items, ratings),
                                 batch_size=batch_size)


@pytest.mark.parametrize('devices', [[mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]])
def test_evaluators_match_the_book_and_exact_rmse_is_exact(devices):
    net = MF(3, 6, 7)
    net.initialize(ctx=devices, init=mx.init.Normal(0.5))
    test_iter = _mf_test_iter()
    assert evaluator(net, test_iter, devices) == book_evaluator(net, test_iter, devices)
    # Exact: over every rating at once.
    users, items, ratings = [np.concatenate(a) for a in zip(*test_iter)]
    pred = net(users.as_in_ctx(devices[0]), items.as_in_ctx(devices[0])).asnumpy()
    expected = math.sqrt(float(((ratings.asnumpy() - pred) ** 2).mean()))
    assert rmse_exact(net, test_iter, devices) == pytest.approx(expected, rel=1e-6)
    # The book's number is a mean of running RMSEs: not the same as the exact one here.
    assert abs(evaluator(net, test_iter, devices) - expected) > 1e-4


@pytest.mark.parametrize('devices', [[mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]])
def test_autorec_evaluators_match_the_book(devices):
    net = AutoRec(5, 6)
    net.initialize(ctx=devices, init=mx.init.Normal(0.3))
    train = np.array(_sparse_matrix(23, 6, seed=1))
    test = np.array(_sparse_matrix(23, 6, density=0.2, seed=2))
    it = gluon.data.DataLoader(train, shuffle=False, last_batch='keep', batch_size=10)
    book = book_autorec_evaluator(net, it, test, devices)
    assert autorec_evaluator(net, it, test, devices) == book
    assert autorec_rmse_exact(net, it, test, devices) == pytest.approx(book, rel=1e-5)
    recon = net(train.as_in_ctx(devices[0])).asnumpy()
    t = test.asnumpy()
    manual = math.sqrt(((t - recon)[t != 0] ** 2).mean())
    assert autorec_rmse_exact(net, train, test, devices) == pytest.approx(manual, rel=1e-6)
    with pytest.raises(ValueError, match='shape'):
        autorec_rmse_exact(net, train[:5], test, devices)
