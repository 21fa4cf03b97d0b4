"""The fast paths (d2l_recsys.fast) against the faithful ones: same outputs, gradients, batches,
evaluator numbers and training results. Tiny data; no timing (speed is `make bench`'s)."""
import os

import numpy as onp
import pytest

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, np, npx

from d2l_recsys.mxnet import autorec, experiments, fast, mf

import synthetic

npx.set_np()

TWO_CPUS = [mx.cpu(0), mx.cpu(1)]
HYB = dict(static_alloc=True, static_shape=True)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return synthetic.write_ml100k(tmp_path_factory.mktemp('tiny-fast'), num_users=40,
                                  num_items=30, density=0.5)


@pytest.fixture(scope='module')
def tiny_autorec(tmp_path_factory):
    # Enough items for a few AutoRec batches of 16 rows.
    return synthetic.write_ml100k(tmp_path_factory.mktemp('tiny-fast-ar'), num_users=30,
                                  num_items=90, density=0.3)


def _copy_params(src, dst, tmp_path):
    path = os.path.join(str(tmp_path), 'params')
    src.save_parameters(path)
    dst.load_parameters(path)


def _grads(net):
    return {k: p.grad().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def _same_keys(a, b):
    # Parameter names (as save_parameters writes them) must be the same in both blocks.
    return sorted(a._collect_params_with_prefix()) == sorted(b._collect_params_with_prefix())


# ------------------------------------------------------------------ models: outputs, gradients

@pytest.mark.parametrize('hybridize', [True, False])
def test_mf_same_outputs_and_gradients(tmp_path, hybridize):
    book = mf.MF(4, 9, 7)
    book.initialize(init=mx.init.Normal(0.3))
    mine = fast.MF(4, 9, 7)
    assert _same_keys(book, mine)
    _copy_params(book, mine, tmp_path)
    if hybridize:
        mine.hybridize(**HYB)
    rng = onp.random.RandomState(0)
    u = np.array(rng.randint(0, 9, 32).astype('float32'))
    i = np.array(rng.randint(0, 7, 32).astype('float32'))
    r = np.array(rng.randint(1, 6, 32).astype('float32'))
    loss = gluon.loss.L2Loss()
    outs = []
    for net in (book, mine):
        with autograd.record():
            out = net(u, i)
            l = loss(out, r)
        l.backward()
        outs.append((out.asnumpy(), _grads(net)))
    onp.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6, atol=1e-6)
    for k in outs[0][1]:
        onp.testing.assert_allclose(outs[0][1][k], outs[1][1][k], rtol=1e-5, atol=1e-7)
    # The book's single prediction (one user, one item) has the book's shape.
    assert mine(np.array([2.]), np.array([3.])).shape == book(np.array([2.]), np.array([3.])).shape


@pytest.mark.parametrize('hybridize', [True, False])
def test_autorec_same_outputs_and_gradients_with_masking_and_dropout(tmp_path, hybridize):
    rng = onp.random.RandomState(1)
    x = onp.where(rng.rand(16, 11) < 0.3, rng.randint(1, 6, (16, 11)), 0).astype('float32')
    x[0] = 0  # an item nobody rated
    X = np.array(x)
    book = autorec.AutoRec(6, 11, dropout=0.3)
    book.initialize(init=mx.init.Normal(0.3))
    book(X)  # deferred shapes
    mine = fast.AutoRec(6, 11, dropout=0.3)
    assert _same_keys(book, mine)
    _copy_params(book, mine, tmp_path)
    if hybridize:
        mine.hybridize(**HYB)
    loss = gluon.loss.L2Loss()
    results = []
    for net in (book, mine):
        mx.random.seed(5)  # the same dropout mask in both
        with autograd.record():
            out = net(X)
            l = loss(out, X)
        l.backward()
        results.append((out.asnumpy(), l.asnumpy(), _grads(net)))
    (o1, l1, g1), (o2, l2, g2) = results
    assert (o2[x == 0] == 0).all(), 'training output must be masked where the input is 0'
    onp.testing.assert_allclose(o1, o2, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(l1, l2, rtol=1e-5, atol=1e-7)
    for k in g1:
        onp.testing.assert_allclose(g1[k], g2[k], rtol=1e-4, atol=1e-7)
    # Prediction mode: unmasked, no dropout, and the hybridized block switches back.
    p1, p2 = book(X).asnumpy(), mine(X).asnumpy()
    assert (p2[x == 0] != 0).any()
    onp.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)
    with autograd.record():
        again = mine(X).asnumpy()
    assert (again[x == 0] == 0).all()


def test_parameter_files_interchange_both_ways(tmp_path):
    book = autorec.AutoRec(5, 8)
    book.initialize(init=mx.init.Normal(0.1))
    book(np.ones((2, 8)))
    mine = fast.AutoRec(5, 8, in_units=8)
    mine.initialize(init=mx.init.Normal(0.1))
    _copy_params(mine, book, tmp_path)
    x = np.array(onp.random.RandomState(0).randint(0, 6, (3, 8)).astype('float32'))
    onp.testing.assert_allclose(book(x).asnumpy(), mine(x).asnumpy(), rtol=1e-6)
    mf_book, mf_mine = mf.MF(3, 5, 4), fast.MF(3, 5, 4)
    mf_mine.initialize(init=mx.init.Normal(0.1))
    _copy_params(mf_mine, mf_book, tmp_path)
    u, i = np.array([0., 4.]), np.array([3., 1.])
    onp.testing.assert_allclose(mf_book(u, i).asnumpy(), mf_mine(u, i).asnumpy(), rtol=1e-6)


@pytest.mark.parametrize('argument', ['encoder_activation', 'decoder_activation',
                                      'hidden_activation'])
def test_autorec_rejects_an_unknown_activation_as_the_faithful_class(argument):
    errors = []
    for cls in (autorec.AutoRec, fast.AutoRec):
        with pytest.raises(ValueError) as e:
            cls(5, 8, hidden_layers=(4,), **{argument: 'gelu'})
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(f"{argument}='gelu' is not an activation")


# ------------------------------------------------------------------ batches and evaluators

@pytest.mark.parametrize('n,batch_size', [(23, 5), (20, 5), (7, 3), (3, 5)])
def test_rollover_batches_are_the_dataloaders(n, batch_size):
    onp.random.seed(11)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(np.arange(n)), shuffle=True,
                                   last_batch='rollover', batch_size=batch_size)
    expected = [[b.asnumpy().astype(int).tolist() for b in loader] for _ in range(4)]
    onp.random.seed(11)
    sampler = fast.RolloverBatches(n, batch_size)
    got = [sampler.epoch().tolist() for _ in range(4)]
    assert got == expected


@pytest.mark.parametrize('devices', [[mx.cpu()], TWO_CPUS])
@pytest.mark.parametrize('n,batch_size', [(23, 8), (16, 8), (5, 512)])
def test_book_running_rmse_is_the_books_evaluator(devices, n, batch_size):
    rng = onp.random.RandomState(n)
    net = mf.MF(3, 6, 5)
    net.initialize(ctx=devices, init=mx.init.Normal(0.5))
    u = rng.randint(0, 6, n)
    i = rng.randint(0, 5, n)
    r = rng.randint(1, 6, n).astype('float32')
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(
        np.array(u), np.array(i), np.array(r)), batch_size=batch_size)
    book = mf.evaluator(net, loader, devices)
    mine, exact = fast.mf_test_rmse(net, u, i, r, devices, batch_size=batch_size,
                                    eval_batch_size=7)
    assert mine == pytest.approx(book, rel=1e-6)
    assert exact == pytest.approx(mf.rmse_exact(net, loader, devices), rel=1e-6)


@pytest.mark.parametrize('devices', [[mx.cpu()], TWO_CPUS])
def test_autorec_test_rmse_is_the_books_evaluator(devices):
    rng = onp.random.RandomState(3)
    train = onp.where(rng.rand(37, 9) < 0.4, rng.randint(1, 6, (37, 9)), 0).astype('float32')
    test = onp.where((rng.rand(37, 9) < 0.2) & (train == 0), 3, 0).astype('float32')
    test[[0, 5, 36]] = 0  # rows without test entries (the fast evaluator skips them)
    net = autorec.AutoRec(4, 9)
    net.initialize(ctx=devices, init=mx.init.Normal(0.3))
    loader = gluon.data.DataLoader(np.array(train), shuffle=False, last_batch='keep',
                                   batch_size=10)
    book = autorec.autorec_evaluator(net, loader, np.array(test), devices)
    assert fast.autorec_test_rmse(net, train, test, devices, eval_batch_size=8) == \
        pytest.approx(book, rel=1e-5)
    with pytest.raises(ValueError, match='shape'):
        fast.autorec_test_rmse(net, train, test[:, :5], devices)
    with pytest.raises(ValueError, match='no observed'):
        fast.autorec_test_rmse(net, train, onp.zeros_like(test), devices)


# ------------------------------------------------------------------ training

def _mf_kwargs(data_dir, devices, **extra):
    kw = dict(num_factors=5, lr=0.02, batch_size=32, num_epochs=4, devices=devices, seed=3,
              data_dir=data_dir, plot=False)
    kw.update(extra)
    return kw


@pytest.mark.parametrize('devices', [[mx.cpu()], TWO_CPUS])
@pytest.mark.parametrize('split_mode', ['seq-aware', 'random'])
def test_mf_fast_trains_as_the_faithful_path(tiny, devices, split_mode, capsys):
    """Same seed: same split, initial weights and batches, so the same training run."""
    kw = _mf_kwargs(tiny, devices, split_mode=split_mode)
    net_b, hist_b, info_b = experiments.train_mf(**kw)
    net_f, hist_f, info_f = experiments.train_mf(fast=True, **kw)
    assert hist_f['epoch'] == hist_b['epoch']
    assert hist_f['devices'] == hist_b['devices']
    assert info_f['train_size'] == info_b['train_size']
    assert info_f['test_size'] == info_b['test_size']
    onp.testing.assert_allclose(hist_f['train_loss'], hist_b['train_loss'], rtol=1e-4)
    onp.testing.assert_allclose(hist_f['test_rmse'], hist_b['test_rmse'], rtol=1e-4)
    assert hist_f['test_rmse_exact'] == pytest.approx(hist_b['test_rmse_exact'], rel=1e-4)
    assert hist_f['printed_train_loss'] == pytest.approx(hist_b['printed_train_loss'],
                                                          rel=1e-4)
    params_f = net_f._collect_params_with_prefix()
    for k, a in net_b._collect_params_with_prefix().items():
        b = params_f[k]
        for ctx in devices:
            onp.testing.assert_allclose(a.data(ctx).asnumpy(), b.data(ctx).asnumpy(),
                                        rtol=1e-3, atol=1e-5)
    assert hist_f['train_loss'][-1] < hist_f['train_loss'][0]
    assert set(hist_f) >= {'epoch', 'train_loss', 'test_rmse', 'seconds', 'examples_per_sec',
                           'devices', 'test_rmse_exact'}
    assert 'examples/sec on' in capsys.readouterr().out


@pytest.mark.parametrize('devices', [[mx.cpu()], TWO_CPUS])
def test_autorec_fast_learns(tiny_autorec, devices, capsys):
    kw = dict(num_hidden=20, lr=0.01, batch_size=16, num_epochs=6, devices=devices, seed=2,
              data_dir=tiny_autorec, plot=False)
    net, hist, info = experiments.train_autorec(fast=True, **kw)
    assert hist['train_loss'][-1] < 0.7 * hist['train_loss'][0]
    assert hist['test_rmse'][-1] < hist['test_rmse'][0]
    assert hist['test_rmse_exact'] == pytest.approx(hist['test_rmse'][-1], rel=1e-5)
    assert hist['devices'] == [str(d) for d in devices]
    assert info['fast'] is True and info['num_items'] == 90
    # Its number is what the book's evaluator says about the returned net (same seed: same
    # split as experiments.load_autorec_data draws).
    experiments.set_seed(2)
    _, _, _, test_iter, test_inter_mat, _ = experiments.load_autorec_data(
        batch_size=16, data_dir=tiny_autorec)
    book = autorec.autorec_evaluator(net, test_iter, test_inter_mat, devices)
    assert hist['test_rmse'][-1] == pytest.approx(book, rel=1e-5)


@pytest.mark.parametrize('devices', [[mx.cpu()], TWO_CPUS])
@pytest.mark.parametrize('user_based', [False, True])
def test_autorec_fast_trains_as_the_faithful_path(tiny_autorec, devices, user_based, capsys):
    """Same seed: same split, weights, batches and even dropout masks (MXNet draws them from
    the same generator in the same order), so the same run up to float rounding."""
    kw = dict(num_hidden=12, lr=0.01, batch_size=16, num_epochs=3, devices=devices, seed=4,
              data_dir=tiny_autorec, plot=False, user_based=user_based)
    net_b, hist_b, info_b = experiments.train_autorec(**kw)
    net_f, hist_f, info_f = experiments.train_autorec(fast=True, **kw)
    assert info_f['train_size'] == info_b['train_size']
    onp.testing.assert_allclose(hist_f['train_loss'], hist_b['train_loss'], rtol=1e-4)
    onp.testing.assert_allclose(hist_f['test_rmse'], hist_b['test_rmse'], rtol=1e-4)
    assert hist_f['test_rmse_exact'] == pytest.approx(hist_b['test_rmse_exact'], rel=1e-4)
    params_f = net_f._collect_params_with_prefix()
    for k, a in net_b._collect_params_with_prefix().items():
        onp.testing.assert_allclose(a.data(devices[-1]).asnumpy(),
                                    params_f[k].data(devices[-1]).asnumpy(),
                                    rtol=1e-3, atol=1e-5)


def test_user_based_autorec_fast(tiny_autorec, capsys):
    net, hist, info = experiments.train_autorec(fast=True, num_hidden=8, batch_size=10, num_epochs=2,
                                              user_based=True, data_dir=tiny_autorec, seed=1,
                                              devices=[mx.cpu()], plot=False)
    assert net.decoder.weight.shape[0] == info['num_items']
    assert info['user_based'] is True


def test_experiments_fast_switch_uses_this_module(tiny, capsys):
    net, hist, info = experiments.train_mf(**_mf_kwargs(tiny, [mx.cpu()], fast=True))
    assert isinstance(net, fast.MF) and info['fast'] is True


def test_bad_arguments_are_named(tiny):
    with pytest.raises(ValueError, match='num_epochs'):
        experiments.train_mf(fast=True, **_mf_kwargs(tiny, [mx.cpu()], num_epochs=0))
    with pytest.raises(ValueError, match='batch_size'):
        experiments.train_mf(fast=True, **_mf_kwargs(tiny, TWO_CPUS, batch_size=33))
    with pytest.raises(ValueError, match='full batch'):
        experiments.train_mf(fast=True, **_mf_kwargs(tiny, [mx.cpu()], batch_size=100000))
