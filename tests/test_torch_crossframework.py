"""The same model in both frameworks: one set of weights in MXNet's and PyTorch's MF and
AutoRec gives the same predictions, and the same parameters after several Adam steps on the
same batches.

What makes the steps equal (MXNet 1.9's ``Adam.update`` and ``adam_update`` against
``torch.optim.Adam``):

* the loss: Gluon's ``L2Loss`` summed by ``backward()`` and ``trainer.step(batch_size)``
  (``rescale_grad = 1 / batch_size``) is the gradient of the batch mean of
  ``d2l_recsys.torch.L2Loss``; the AutoRec deck's ``MSELoss(reduction='sum')`` is MXNet's
  summed squared error with ``trainer.step(1)``;
* weight decay: both add ``wd * weight`` to the (rescaled) gradient before the moments;
* bias correction: MXNet folds it into the learning rate, ``lr * sqrt(1 - b2^t) / (1 - b1^t)``
  with ``weight -= lr_t * m / (sqrt(v) + eps)``; PyTorch divides ``m`` by ``1 - b1^t`` and
  ``sqrt(v)`` by ``sqrt(1 - b2^t)`` and then adds ``eps``. Both are the same step except for
  where ``eps`` enters: MXNet's ``eps`` is PyTorch's ``eps / sqrt(1 - b2^t)``.

So the long tests use an ``eps`` too small to matter (the weights that get only weight decay
have gradients near 1e-7, where 1e-8 does matter), and one test shows the ``eps`` placement
itself at step 1.
"""
import numpy as onp
import pytest

torch = pytest.importorskip('torch')
mx = pytest.importorskip('mxnet')

from mxnet import autograd, gluon  # noqa: E402

from d2l_recsys import torch as tt  # noqa: E402
from d2l_recsys.mxnet.mf import MF as MxMF
from d2l_recsys.mxnet.autorec import AutoRec as MxAutoRec  # noqa: E402

LR, WD, TINY_EPS = 0.002, 1e-5, 1e-30
NUM_USERS, NUM_ITEMS, FACTORS = 20, 15, 4


def _mf_pair(seed=0):
    rng = onp.random.RandomState(seed)
    weights = {'P': rng.normal(0, 0.01, (NUM_USERS, FACTORS)),
               'Q': rng.normal(0, 0.01, (NUM_ITEMS, FACTORS)),
               'user_bias': rng.normal(0, 0.01, (NUM_USERS, 1)),
               'item_bias': rng.normal(0, 0.01, (NUM_ITEMS, 1))}
    weights = {k: v.astype(onp.float32) for k, v in weights.items()}
    mxnet_net = MxMF(FACTORS, NUM_USERS, NUM_ITEMS)
    mxnet_net.initialize(init=mx.init.Normal(0.01))
    torch_net = tt.MF(FACTORS, NUM_USERS, NUM_ITEMS)
    for name, w in weights.items():
        getattr(mxnet_net, name).weight.set_data(mx.np.array(w))
        with torch.no_grad():
            getattr(torch_net, name).weight.copy_(torch.from_numpy(w))
    return mxnet_net, torch_net


def _mf_batches(n_batches=6, batch_size=32, seed=1):
    rng = onp.random.RandomState(seed)
    return [(rng.randint(0, NUM_USERS, batch_size), rng.randint(0, NUM_ITEMS, batch_size),
             rng.randint(1, 6, batch_size).astype(onp.float32)) for _ in range(n_batches)]


def _mf_params(mxnet_net, torch_net):
    for name in ('P', 'Q', 'user_bias', 'item_bias'):
        yield (name, getattr(mxnet_net, name).weight.data().asnumpy(),
               getattr(torch_net, name).weight.detach().numpy())


def _train_mf(mxnet_net, torch_net, batches, mxnet_eps, torch_eps):
    trainer = gluon.Trainer(mxnet_net.collect_params(), 'adam',
                            {'learning_rate': LR, 'wd': WD, 'epsilon': mxnet_eps})
    mx_loss, t_loss = gluon.loss.L2Loss(), tt.L2Loss()
    optimizer = torch.optim.Adam(torch_net.parameters(), lr=LR, weight_decay=WD, eps=torch_eps)
    for u, i, r in batches:
        with autograd.record():
            l = mx_loss(mxnet_net(mx.np.array(u, dtype='int64'), mx.np.array(i, dtype='int64')),
                        mx.np.array(r))
        l.backward()
        trainer.step(len(u))
        optimizer.zero_grad()
        ls = t_loss(torch_net(torch.from_numpy(u), torch.from_numpy(i)), torch.from_numpy(r))
        (ls.sum() / len(u)).backward()     # what train_recsys_rating back-propagates
        optimizer.step()


def test_mf_same_predictions():
    mxnet_net, torch_net = _mf_pair()
    u, i, _ = _mf_batches(1)[0]
    mx_pred = mxnet_net(mx.np.array(u, dtype='int64'), mx.np.array(i, dtype='int64'))
    with torch.no_grad():
        t_pred = torch_net(torch.from_numpy(u), torch.from_numpy(i))
    assert t_pred.shape == (len(u),)
    onp.testing.assert_allclose(t_pred.numpy(), mx_pred.asnumpy(), rtol=1e-5, atol=1e-8)


def test_mf_same_parameters_after_adam_steps():
    mxnet_net, torch_net = _mf_pair()
    before = {name: t.copy() for name, _, t in _mf_params(mxnet_net, torch_net)}
    _train_mf(mxnet_net, torch_net, _mf_batches(), TINY_EPS, TINY_EPS)
    for name, m, t in _mf_params(mxnet_net, torch_net):
        assert not onp.allclose(t, before[name])     # the steps did move every weight
        onp.testing.assert_allclose(t, m, rtol=1e-4, atol=2e-7, err_msg=name)


def test_adam_epsilon_placement():
    """At step 1, MXNet's eps equals PyTorch's eps / sqrt(1 - beta2); the same eps in both
    moves the weights that get only weight decay by different amounts."""
    batch = _mf_batches(1)
    mxnet_net, torch_net = _mf_pair()
    _train_mf(mxnet_net, torch_net, batch, 1e-8, 1e-8 / onp.sqrt(1 - 0.999))
    for name, m, t in _mf_params(mxnet_net, torch_net):
        onp.testing.assert_allclose(t, m, rtol=1e-4, atol=2e-7, err_msg=name)
    mxnet_net, torch_net = _mf_pair()
    _train_mf(mxnet_net, torch_net, batch, 1e-8, 1e-8)
    u = batch[0][0]
    untouched = onp.setdiff1d(onp.arange(NUM_USERS), u)
    assert len(untouched)
    m, t = mxnet_net.P.weight.data().asnumpy(), torch_net.P.weight.detach().numpy()
    assert not onp.allclose(t[untouched], m[untouched], rtol=1e-4, atol=2e-7)


ROWS, COLS, HIDDEN = 12, 20, 8


def _autorec_pair(seed=0):
    rng = onp.random.RandomState(seed)
    w = {'encoder.weight': rng.normal(0, 0.01, (HIDDEN, COLS)),
         'encoder.bias': rng.normal(0, 0.01, HIDDEN),
         'decoder.weight': rng.normal(0, 0.01, (COLS, HIDDEN)),
         'decoder.bias': rng.normal(0, 0.01, COLS)}
    w = {k: v.astype(onp.float32) for k, v in w.items()}
    mxnet_net = MxAutoRec(HIDDEN, COLS, dropout=0.0)
    mxnet_net.initialize(init=mx.init.Normal(0.01))
    mxnet_net(mx.np.zeros((1, COLS)))   # Gluon infers the encoder's input size here
    torch_net = tt.AutoRec(HIDDEN, COLS, dropout=0.0)
    for name, value in w.items():
        layer, kind = name.split('.')
        getattr(getattr(mxnet_net, layer), kind).set_data(mx.np.array(value))
    torch_net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    return mxnet_net, torch_net


def _matrix(seed=2):
    rng = onp.random.RandomState(seed)
    observed = rng.uniform(size=(ROWS, COLS)) < 0.3
    return (rng.randint(1, 6, (ROWS, COLS)) * observed).astype(onp.float32)


def _autorec_params(mxnet_net, torch_net):
    state = torch_net.state_dict()
    for name in ('encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias'):
        layer, kind = name.split('.')
        yield name, getattr(getattr(mxnet_net, layer), kind).data().asnumpy(), \
            state[name].numpy()


def test_autorec_same_predictions_and_mask():
    mxnet_net, torch_net = _autorec_pair()
    x = _matrix()
    torch_net.eval()
    with torch.no_grad():
        t_pred = torch_net(torch.from_numpy(x)).numpy()
    onp.testing.assert_allclose(t_pred, mxnet_net(mx.np.array(x)).asnumpy(), rtol=1e-5,
                                atol=1e-8)
    torch_net.train()
    with autograd.record():   # training mode: the output is masked by sign(input)
        mx_masked = mxnet_net(mx.np.array(x)).asnumpy()
    t_masked = torch_net(torch.from_numpy(x)).detach().numpy()
    assert (t_masked[x == 0] == 0).all() and (t_masked[x != 0] != 0).all()
    onp.testing.assert_allclose(t_masked, mx_masked, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('loss_kind', ['gluon-l2', 'deck-sum'])
def test_autorec_same_parameters_after_adam_steps(loss_kind):
    mxnet_net, torch_net = _autorec_pair()
    x = _matrix()
    batch_size = 4
    batches = [x[onp.random.RandomState(s).permutation(ROWS)[:batch_size]] for s in range(6)]
    trainer = gluon.Trainer(mxnet_net.collect_params(), 'adam',
                            {'learning_rate': LR, 'wd': WD, 'epsilon': TINY_EPS})
    optimizer = torch.optim.Adam(torch_net.parameters(), lr=LR, weight_decay=WD, eps=TINY_EPS)
    torch_net.train()
    if loss_kind == 'gluon-l2':     # the book's MXNet AutoRec
        mx_loss, step_size, t_loss = gluon.loss.L2Loss(), batch_size, tt.L2Loss()
    else:                           # the PyTorch AutoRec deck's loss
        mx_loss, step_size = (lambda p, y: ((p - y) ** 2).sum()), 1
        t_loss = torch.nn.MSELoss(reduction='sum')
    before = {name: t.copy() for name, _, t in _autorec_params(mxnet_net, torch_net)}
    for values in batches:
        xv = mx.np.array(values)
        with autograd.record():
            l = mx_loss(mxnet_net(xv), xv)
        l.backward()
        trainer.step(step_size)
        optimizer.zero_grad()
        tv = torch.from_numpy(values)
        ls = t_loss(torch_net(tv), tv)
        (ls.sum() / batch_size if ls.dim() else ls).backward()
        optimizer.step()
    for name, m, t in _autorec_params(mxnet_net, torch_net):
        assert not onp.allclose(t, before[name])
        onp.testing.assert_allclose(t, m, rtol=1e-4, atol=2e-7, err_msg=name)
