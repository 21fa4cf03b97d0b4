"""The ranking half in the PyTorch tab: the same weights in MXNet's and PyTorch's NeuMF and
Caser give the same scores and the same losses; the tab's datasets give the MXNet tab's (the
book's) samples; its evaluator and loop behave as the book's; its fast path gives its
faithful path's numbers. Tiny data, on the CPU."""
import os
import random
import re

import numpy as onp
import pytest

torch = pytest.importorskip('torch')

from conftest import NO_MXNET, make_ratings, write_u_data  # noqa: E402
from d2l_recsys import rank_data, rank_metrics  # noqa: E402
from d2l_recsys import torch as tt  # noqa: E402
from d2l_recsys.torch import experiments, fast_ranking  # noqa: E402

needs_mxnet = pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')


@pytest.fixture(scope='module')
def implicit_data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('implicit-torch'))
    write_u_data(folder, make_ratings(20, 60, seed=1, per_user=(8, 30)))
    return folder, rank_data.read_rank_data(folder)


@pytest.fixture(scope='module')
def rank_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('rank-torch'))
    write_u_data(folder, make_ratings(20, 150, seed=0, per_user=(100, 130)))
    return folder


def _mx():
    from d2l_recsys import mxnet as mt
    import mxnet as mx
    return mt, mx


def _to_torch(mx_net, torch_net):
    """Copy an MXNet block's parameters into a PyTorch module of the same names."""
    state = {k: torch.from_numpy(v.data().asnumpy())
             for k, v in mx_net._collect_params_with_prefix().items()}
    missing = torch_net.load_state_dict(state, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys


def _batch(num_users, num_items, n=32, L=None, seed=0):
    rng = onp.random.RandomState(seed)
    u = rng.randint(0, num_users, n)
    i = rng.randint(0, num_items, n)
    j = rng.randint(0, num_items, n)
    seq = None if L is None else rng.randint(0, num_items, (n, L))
    return u, i, j, seq


@needs_mxnet
def test_neumf_same_weights_same_scores_and_losses():
    mt, mx = _mx()
    mx.random.seed(0)
    mx_net = mt.NeuMF(6, 15, 25, nums_hiddens=[8, 4])
    mx_net.initialize(init=mx.init.Normal(0.5))
    u, i, j, _ = _batch(15, 25)
    m_pos = mx_net(mx.np.array(u), mx.np.array(i))   # finishes the deferred initialisation
    m_neg = mx_net(mx.np.array(u), mx.np.array(j))
    t_net = tt.NeuMF(6, 15, 25, nums_hiddens=[8, 4])
    _to_torch(mx_net, t_net)
    with torch.no_grad():
        t_pos = t_net(torch.from_numpy(u), torch.from_numpy(i))
        t_neg = t_net(torch.from_numpy(u), torch.from_numpy(j))
    assert t_pos.shape == (32, 1)
    onp.testing.assert_allclose(t_pos.numpy(), m_pos.asnumpy(), rtol=1e-5, atol=1e-7)
    for mx_loss, t_loss in ((mt.BPRLoss(), tt.BPRLoss()),
                            (mt.HingeLossbRec(), tt.HingeLossbRec())):
        m, t = mx_loss(m_pos, m_neg).asnumpy(), t_loss(t_pos, t_neg).numpy()
        assert m.shape == t.shape
        onp.testing.assert_allclose(t, m, rtol=1e-5)


@needs_mxnet
def test_caser_same_weights_same_scores_and_losses():
    mt, mx = _mx()
    mx.random.seed(1)
    mx_net = mt.Caser(6, 15, 25, L=4, d=5, d_prime=3)
    mx_net.initialize(init=mx.init.Normal(0.3))
    t_net = tt.Caser(6, 15, 25, L=4, d=5, d_prime=3)
    _to_torch(mx_net, t_net)
    t_net.eval()
    u, i, j, seq = _batch(15, 25, L=4)
    m_pos = mx_net(mx.np.array(u), mx.np.array(seq), mx.np.array(i.reshape(-1, 1)))
    m_neg = mx_net(mx.np.array(u), mx.np.array(seq), mx.np.array(j))
    with torch.no_grad():
        t_pos = t_net(torch.from_numpy(u), torch.from_numpy(seq),
                      torch.from_numpy(i.reshape(-1, 1)))
        t_neg = t_net(torch.from_numpy(u), torch.from_numpy(seq), torch.from_numpy(j))
        t_fast = fast_ranking.caser_features(t_net, torch.from_numpy(seq))
        onp.testing.assert_allclose(t_fast.numpy(), t_net.features(torch.from_numpy(seq)),
                                    rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(t_pos.numpy(), m_pos.asnumpy(), rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(t_neg.numpy(), m_neg.asnumpy(), rtol=1e-5, atol=1e-6)
    m = mt.BPRLoss()(m_pos, m_neg).asnumpy()
    onp.testing.assert_allclose(tt.BPRLoss()(t_pos, t_neg).numpy(), m, rtol=1e-5)
    # Every user's score of every item, from the parts, in both frameworks.
    test_seq = onp.random.RandomState(2).randint(0, 25, (15, 4))
    onp.testing.assert_allclose(fast_ranking.caser_scores(t_net, test_seq),
                                mt.score_matrix(mx_net, 15, 25, [mx.cpu()],
                                                seq=test_seq.astype('float32')),
                                rtol=1e-5, atol=1e-5)


@needs_mxnet
@pytest.mark.parametrize('fast', [False, True])
def test_neumf_logit_output_same_weights_same_scores_and_losses(fast):
    # NeuMF(output='logit'), not the book's: the prediction layer without its sigmoid, in the
    # book's class and the fast path's (MXNet) and in the PyTorch tab.
    mt, mx = _mx()
    from d2l_recsys.mxnet import fast_ranking as mx_fast
    mx.random.seed(0)
    mx_net = (mx_fast.NeuMF if fast else mt.NeuMF)(6, 15, 25, nums_hiddens=[8, 4],
                                                   output='logit')
    mx_net.initialize(init=mx.init.Normal(0.5))
    u, i, j, _ = _batch(15, 25)
    m_pos = mx_net(mx.np.array(u), mx.np.array(i))
    m_neg = mx_net(mx.np.array(u), mx.np.array(j))
    t_net = tt.NeuMF(6, 15, 25, nums_hiddens=[8, 4], output='logit')
    _to_torch(mx_net, t_net)
    book = tt.NeuMF(6, 15, 25, nums_hiddens=[8, 4])   # the book's sigmoid, same weights
    book.load_state_dict(t_net.state_dict())
    with torch.no_grad():
        t_pos = t_net(torch.from_numpy(u), torch.from_numpy(i))
        t_neg = t_net(torch.from_numpy(u), torch.from_numpy(j))
        onp.testing.assert_allclose(torch.sigmoid(t_pos).numpy(),
                                    book(torch.from_numpy(u), torch.from_numpy(i)).numpy(),
                                    rtol=1e-6)
        every = t_net(torch.arange(15).repeat_interleave(25), torch.arange(25).repeat(15))
    assert t_pos.shape == (32, 1) and (t_pos < 0).any() and (t_pos > 1).any()
    onp.testing.assert_allclose(t_pos.numpy(), m_pos.asnumpy(), rtol=1e-5, atol=1e-6)
    for mx_loss, t_loss in ((mt.BPRLoss(), tt.BPRLoss()),
                            (mt.HingeLossbRec(), tt.HingeLossbRec())):
        onp.testing.assert_allclose(t_loss(t_pos, t_neg).numpy(),
                                    mx_loss(m_pos, m_neg).asnumpy(), rtol=1e-5)
    # every user's score of every item from the parts: the logits, in both tabs
    onp.testing.assert_allclose(fast_ranking.neumf_scores(t_net),
                                every.numpy().reshape(15, 25), rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(mx_fast.neumf_scores(mx_net), every.numpy().reshape(15, 25),
                                rtol=1e-5, atol=1e-5)


@needs_mxnet
def test_caser_softmax_loss_same_weights_same_loss_and_gradients():
    # Caser's softmax loss, not the book's: the next item's cross-entropy among the scores the
    # book's forward gives every item, in both tabs' fast paths.
    mt, mx = _mx()
    from mxnet import autograd
    from d2l_recsys.mxnet import fast_ranking as mx_fast
    mx.random.seed(1)
    mx_net = mx_fast.Caser(6, 15, 25, L=4, d=5, d_prime=3, drop_ratio=0.3)
    mx_net.initialize(init=mx.init.Normal(0.3))
    loss = mx_fast._CaserSoftmaxLoss(mx_net, 25)
    loss.every.initialize()
    u, i, _, seq = _batch(15, 25, L=4)
    with autograd.record(train_mode=False):   # no dropout: the same values in both
        m = loss(mx.np.array(u), mx.np.array(seq), mx.np.array(i))
    m.backward()
    t_net = tt.Caser(6, 15, 25, L=4, d=5, d_prime=3, drop_ratio=0.3)
    _to_torch(mx_net, t_net)
    t_net.eval()
    t = fast_ranking.caser_softmax_loss(t_net, torch.from_numpy(u), torch.from_numpy(seq),
                                        torch.from_numpy(i))
    t.backward()
    with torch.no_grad():   # the book's forward, window by window, over every item
        ref = 0.
        for k in range(len(u)):
            s = t_net(torch.full((25,), int(u[k])), torch.from_numpy(seq[k]).repeat(25, 1),
                      torch.arange(25)).double()
            ref += float(torch.logsumexp(s, 0) - s[int(i[k])])
    assert t.item() == pytest.approx(ref, rel=1e-5)
    assert float(m) == pytest.approx(t.item(), rel=1e-5)
    grads = {k: v.grad().asnumpy() for k, v in mx_net._collect_params_with_prefix().items()}
    for name, p in t_net.named_parameters():
        onp.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-4, atol=1e-6,
                                    err_msg=name)


@needs_mxnet
def test_evaluate_ranking_is_the_mxnet_tabs(implicit_data):
    mt, mx = _mx()
    _, data = implicit_data
    mx.random.seed(2)
    mx_net = mt.NeuMF(4, data.num_users, data.num_items, [5])
    mx_net.initialize(init=mx.init.Normal(0.5))
    args = (data.test_items, None, data.candidates, data.num_users, data.num_items)
    hit, auc = mt.evaluate_ranking(mx_net, *args, [mx.cpu()])
    t_net = tt.NeuMF(4, data.num_users, data.num_items, [5])
    _to_torch(mx_net, t_net)
    t_hit, t_auc = tt.evaluate_ranking(t_net, *args, [torch.device('cpu')])
    assert float(t_hit) == pytest.approx(float(hit), rel=1e-6)
    assert float(t_auc) == pytest.approx(float(auc), rel=1e-6)
    assert fast_ranking.evaluate_ranking(t_net, *args, None) == pytest.approx(
        (float(t_hit), float(t_auc)), rel=1e-6)
    onp.testing.assert_allclose(fast_ranking.neumf_scores(t_net),
                                tt.score_matrix(t_net, data.num_users, data.num_items),
                                rtol=1e-5, atol=1e-6)


@needs_mxnet
def test_the_datasets_give_the_mxnet_tabs_samples(implicit_data):
    mt, _ = _mx()
    _, data = implicit_data
    args = (data.users, data.items, data.candidates, data.num_items)
    random.seed(4)
    book = [mt.PRDataset(*args)[k] for k in range(len(data.users))]
    random.seed(4)
    ours = [tt.PRDataset(*args)[k] for k in range(len(data.users))]
    assert ours == book
    L = 3
    mx_seq = mt.SeqDataset(data.users, data.items, L, data.num_users, data.num_items,
                           data.candidates)
    t_seq = tt.SeqDataset(data.users, data.items, L, data.num_users, data.num_items,
                          data.candidates)
    assert len(t_seq) == len(mx_seq)
    for attr in ('seq_users', 'seq_items', 'seq_tgt', 'test_seq'):
        assert onp.array_equal(getattr(t_seq, attr), getattr(mx_seq, attr).asnumpy()), attr
        assert getattr(t_seq, attr).dtype == onp.int64
    random.seed(6)
    a = [mx_seq[k][3] for k in range(len(mx_seq))]
    random.seed(6)
    assert [t_seq[k][3] for k in range(len(t_seq))] == a


def test_train_ranking_prints_the_books_lines(implicit_data, capsys):
    _, data = implicit_data
    torch.manual_seed(0)
    random.seed(0)
    net = tt.NeuMF(4, data.num_users, data.num_items, [5])
    train_iter = torch.utils.data.DataLoader(
        tt.PRDataset(data.users, data.items, data.candidates, data.num_items), 64,
        shuffle=True)
    trainer = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-5)
    history = tt.train_ranking(net, train_iter, data.test_items, tt.BPRLoss(), trainer, None,
                               data.num_users, data.num_items, 2, [torch.device('cpu')],
                               tt.evaluate_ranking, data.candidates, exact=True,
                               progress=False, plot=False)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r'train loss [0-9.]+, test hit rate [0-9.]+, test AUC [0-9.]+', out[0])
    assert out[1].endswith(" examples/sec on [device(type='cpu')]") and len(out) == 2
    assert f'test hit rate {history["hit_rate"][-1]:.3f}' in out[0]
    assert f'train loss {history["printed_train_loss"]:.3f}' in out[0]
    # The book's printed loss is a sum of running sums over the examples: far above the mean.
    assert history['printed_train_loss'] > 2 * history['train_loss'][-1]
    assert len(history['exact']) == 2 and history['exact'][0]['pairs'] == data.num_users


def test_fast_paths_give_the_faithful_numbers(rank_dir, capsys):
    for train, epochs in ((experiments.train_neumf, 3), (experiments.train_caser, 2)):
        runs = [train(seed=3, fast=fast, devices='cpu', data_dir=rank_dir, batch_size=256,
                      num_epochs=epochs, progress=False, plot=False)
                for fast in (False, True)]
        (net, h, info), (fast_net, fh, _) = runs
        assert fh['train_loss'] == pytest.approx(h['train_loss'], rel=1e-5)
        assert fh['hit_rate'] == pytest.approx(h['hit_rate'], abs=0.051)
        assert fh['exact'][-1]['auc'] == pytest.approx(h['exact'][-1]['auc'], abs=0.02)
        assert info['framework'] == 'torch'
    out = capsys.readouterr().out
    assert out.count('exact (all unseen items, ties at their mean): HR@10 ') == 4


def test_ranking_settings_are_checked_in_the_torch_tab_too(rank_dir):
    with pytest.raises(ValueError, match='nums_hiddens must be one or more positive integers'):
        experiments.train_neumf(data_dir=rank_dir, devices='cpu', nums_hiddens=[0])
    with pytest.raises(ValueError, match=r'user \d+ has \d+ training items.*L = 150'):
        experiments.train_caser(data_dir=rank_dir, devices='cpu', L=150)
    with pytest.raises(ValueError, match='the fast path trains on one device'):
        fast_ranking._check_device([torch.device('cpu'), torch.device('cpu')])
