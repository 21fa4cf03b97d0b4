"""The ranking half in the MXNet tab against the book: the ``#@save`` functions against d2l
1.0.3 (the oracle), NeuMF, PRDataset, Caser and SeqDataset against the book's cells (held in
tests/ranking_cells.py), the vectorised data layer (d2l_recsys.rank_data) against the book's
datasets, and the fast path (d2l_recsys.mxnet.fast_ranking) against the faithful one."""
import os
import random

import numpy as onp
import pytest

pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, np, npx  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

import ranking_cells as cells  # noqa: E402
from conftest import book_d2l, make_ratings, needs_d2l, write_u_data  # noqa: E402
from d2l_recsys import rank_data, rank_metrics  # noqa: E402
from d2l_recsys import mxnet as tab  # noqa: E402
from d2l_recsys.mxnet import experiments, fast_ranking  # noqa: E402

npx.set_np()
d2l = book_d2l()


def _book(cell_list):
    """The names the book's cells define (NeuMF, PRDataset, ..., Caser, SeqDataset)."""
    ns = {'nn': nn, 'np': np, 'npx': npx, 'gluon': gluon, 'autograd': autograd,
          'random': random, 'mx': mx, 'd2l': tab}
    for cell in cell_list:
        if 'import' not in cell.split('\n')[0]:
            exec(cell, ns)
    return ns


BOOK = {**_book(cells.NEUMF_CELLS[1:6]), **_book(cells.SEQREC_CELLS[1:3])}


@pytest.fixture(scope='module')
def implicit_data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('implicit'))
    write_u_data(folder, make_ratings(20, 60, seed=1, per_user=(8, 30)))
    return folder, rank_data.read_rank_data(folder)


def _params(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def _copy(src, dst, tmp_path):
    path = os.path.join(str(tmp_path), 'params')
    src.save_parameters(path)
    dst.load_parameters(path)


# --------------------------------------------------------------- the #@save code, against d2l
@needs_d2l
def test_losses_are_d2ls():
    rng = onp.random.RandomState(0)
    pos, neg = (np.array(rng.normal(size=(7, 1)).astype('f4')) for _ in range(2))
    for ours, book in ((tab.BPRLoss(), d2l.BPRLoss()),
                       (tab.HingeLossbRec(), d2l.HingeLossbRec())):
        assert onp.array_equal(ours(pos, neg).asnumpy(), book(pos, neg).asnumpy())
    d = (pos - neg).asnumpy()
    assert tab.BPRLoss()(pos, neg).shape == (1, 1)
    assert float(tab.BPRLoss()(pos, neg)) == pytest.approx(-onp.log(1 / (1 + onp.exp(-d))).sum(),
                                                         rel=1e-5)
    assert float(tab.HingeLossbRec()(pos, neg)) == pytest.approx(onp.maximum(1 - d, 0).sum(),
                                                               rel=1e-5)


@needs_d2l
def test_hit_and_auc_and_evaluate_ranking_are_d2ls(implicit_data):
    _, data = implicit_data
    rng = onp.random.RandomState(1)
    for _ in range(20):
        ranked = rng.permutation(40).tolist()
        test = rng.choice(45, rng.randint(1, 3), replace=False).tolist()
        k = int(rng.randint(1, 45))
        assert tab.hit_and_auc(ranked, test, k) == d2l.hit_and_auc(ranked, test, k)
    mx.random.seed(0)
    net = tab.NeuMF(4, data.num_users, data.num_items, [5])
    net.initialize(init=mx.init.Normal(0.5))
    args = (net, data.test_items, None, data.candidates, data.num_users, data.num_items,
            [mx.cpu()])
    ours, book = tab.evaluate_ranking(*args), d2l.evaluate_ranking(*args)
    assert float(ours[0]) == float(book[0]) and float(ours[1]) == float(book[1])


# ------------------------------------------------------------ the classes, against the cells
def test_neumf_is_the_books(tmp_path):
    mx.random.seed(3)
    book = BOOK['NeuMF'](4, 9, 12, nums_hiddens=[6, 5])
    book.initialize(init=mx.init.Normal(0.3))
    u, i = np.array([0, 3, 8, 8]), np.array([11, 0, 5, 6])
    book(u, i)
    ours = tab.NeuMF(4, 9, 12, nums_hiddens=[6, 5])
    _copy(book, ours, tmp_path)
    assert sorted(_params(ours)) == sorted(_params(book))
    assert onp.array_equal(ours(u, i).asnumpy(), book(u, i).asnumpy())
    assert ours(u, i).shape == (4, 1)


def test_caser_is_the_books(tmp_path):
    mx.random.seed(4)
    book = BOOK['Caser'](6, 9, 12, L=3, d=4, d_prime=2, drop_ratio=0.3)
    book.initialize(init=mx.init.Normal(0.3))
    ours = tab.Caser(6, 9, 12, L=3, d=4, d_prime=2, drop_ratio=0.3)
    _copy(book, ours, tmp_path)
    rng = onp.random.RandomState(0)
    u = np.array(rng.randint(0, 9, 8))
    seq = np.array(rng.randint(0, 12, (8, 3)).astype('f4'))
    i = np.array(rng.randint(0, 12, 8))
    assert onp.array_equal(ours(u, seq, i).asnumpy(), book(u, seq, i).asnumpy())
    with autograd.record():   # dropout: the same masks from the same draws
        mx.random.seed(9)
        a = book(u, seq, i)
        mx.random.seed(9)
        b = ours(u, seq, i)
    assert onp.array_equal(a.asnumpy(), b.asnumpy())


def test_pr_dataset_is_the_books_and_the_sampler_draws_its_negatives(implicit_data):
    _, data = implicit_data
    args = (data.users, data.items, data.candidates, data.num_items)
    order = onp.random.RandomState(0).permutation(len(data.users))
    random.seed(5)
    book = [BOOK['PRDataset'](*args)[int(k)] for k in order]
    after = random.random()
    random.seed(5)
    ours = [tab.PRDataset(*args)[int(k)] for k in order]
    assert ours == book
    random.seed(5)
    sampler = rank_data.NegativeSampler(data.candidates, data.num_users, data.num_items)
    negatives = sampler.sample(onp.asarray(data.users)[order])
    assert negatives.tolist() == [b[2] for b in book]           # element for element
    assert random.random() == after                             # the same draws consumed
    for u, j in zip(onp.asarray(data.users)[order], negatives):
        assert j not in data.candidates[int(u)]


def _seq_frame(counts, seed=0):
    """Training interactions with the given number of items per user, in time order."""
    rng = onp.random.RandomState(seed)
    users, items = [], []
    for u, c in enumerate(counts):
        users += [u] * c
        items += rng.choice(30, c, replace=False).tolist()
    return users, items


@pytest.mark.parametrize('counts, L', [([9, 6, 12, 7], 5), ([5, 1, 8, 5], 5), ([3, 4], 2),
                                       ([1, 2, 1], 1)])
def test_seq_windows_are_the_books_seq_dataset(counts, L):
    users, items = _seq_frame(counts)
    candidates = {}
    for u, i in zip(users, items):
        candidates.setdefault(u, []).append(i)
    book = BOOK['SeqDataset'](users, items, L, len(counts) + 1, 30, candidates)
    ours = tab.SeqDataset(users, items, L, len(counts) + 1, 30, candidates)
    w = rank_data.seq_windows(users, items, L, len(counts) + 1)
    for name, attr in (('users', 'seq_users'), ('items', 'seq_items'),
                       ('targets', 'seq_tgt'), ('test_seq', 'test_seq')):
        expected = getattr(book, attr).asnumpy()
        assert onp.array_equal(getattr(ours, attr).asnumpy(), expected), name
        assert onp.array_equal(getattr(w, name), expected), name
        assert getattr(w, name).dtype == expected.dtype, name
    random.seed(2)
    a = [book[k][3] for k in range(len(book))]
    random.seed(2)
    b = rank_data.NegativeSampler(candidates, len(counts) + 1, 30).sample(w.users)
    assert a == b.tolist()


def test_a_user_with_2_to_l_minus_1_items_fails_in_the_book_and_is_refused_here():
    users, items = _seq_frame([8, 3])
    candidates = {0: items[:8], 1: items[8:]}
    with pytest.raises(Exception):
        BOOK['SeqDataset'](users, items, 5, 2, 30, candidates)
    with pytest.raises(ValueError, match=r'user 1 has 3 training items.*L = 5'):
        rank_data.seq_windows(users, items, 5, 2)


# ------------------------------------------------------------------------------ the fast path
def test_fast_neumf_draws_the_books_weights_and_gives_its_scores(tmp_path):
    mx.random.seed(7)
    book = tab.NeuMF(5, 9, 14, nums_hiddens=[6, 4])
    book.initialize(init=mx.init.Normal(0.01))
    u, i = np.array(onp.arange(9) % 9), np.array(onp.arange(9) + 2)
    book(u, i)   # the book's deferred initialisation happens here
    mx.random.seed(7)
    twin = fast_ranking.NeuMF(5, 9, 14, nums_hiddens=[6, 4])
    twin.initialize(init=mx.init.Normal(0.01))
    pb, pt = _params(book), _params(twin)
    assert sorted(pb) == sorted(pt)
    assert all(onp.array_equal(pb[k], pt[k]) for k in pb)
    twin.hybridize(**fast_ranking.HYBRID_FLAGS)
    assert onp.array_equal(twin(u, i).asnumpy(), book(u, i).asnumpy())
    # Every user's score of every item, from the model's parts, as the per-pair passes.
    mx.random.seed(1)
    big = tab.NeuMF(5, 9, 14, nums_hiddens=[6, 4])
    big.initialize(init=mx.init.Normal(1.0))
    expected = tab.score_matrix(big, 9, 14, [mx.cpu()])
    onp.testing.assert_allclose(fast_ranking.neumf_scores(big), expected, rtol=1e-5, atol=1e-6)
    flat = tab.NeuMF(5, 9, 14, nums_hiddens=[])
    flat.initialize(init=mx.init.Normal(1.0))
    flat(u, i)
    onp.testing.assert_allclose(fast_ranking.neumf_scores(flat),
                                tab.score_matrix(flat, 9, 14, [mx.cpu()]), rtol=1e-5,
                                atol=1e-6)


def test_fast_caser_has_the_books_parameters_and_scores(tmp_path):
    mx.random.seed(8)
    book = tab.Caser(6, 9, 20, L=4, d=3, d_prime=2)
    book.initialize(init=mx.init.Normal(0.3))
    mx.random.seed(8)
    twin = fast_ranking.Caser(6, 9, 20, L=4, d=3, d_prime=2)
    twin.initialize(init=mx.init.Normal(0.3))
    pb, pt = _params(book), _params(twin)
    assert sorted(pb) == sorted(pt) and all(onp.array_equal(pb[k], pt[k]) for k in pb)
    twin.hybridize(**fast_ranking.HYBRID_FLAGS)
    rng = onp.random.RandomState(1)
    u = np.array(rng.randint(0, 9, 16).astype('f4'))
    seq = np.array(rng.randint(0, 20, (16, 4)).astype('f4'))
    i = np.array(rng.randint(0, 20, 16).astype('f4'))
    onp.testing.assert_allclose(twin(u, seq, i).asnumpy(), book(u, seq, i).asnumpy(),
                                rtol=1e-5, atol=1e-6)
    test_seq = rng.randint(0, 20, (9, 4)).astype('f4')
    expected = tab.score_matrix(book, 9, 20, [mx.cpu()], seq=test_seq)
    for net in (book, twin):
        onp.testing.assert_allclose(fast_ranking.caser_scores(net, test_seq), expected,
                                    rtol=1e-5, atol=1e-5)
    _copy(twin, book, tmp_path)   # parameter files interchange


def test_fast_evaluator_is_the_books(implicit_data):
    _, data = implicit_data
    mx.random.seed(2)
    net = tab.NeuMF(4, data.num_users, data.num_items, [5])
    net.initialize(init=mx.init.Normal(0.5))
    args = (net, data.test_items, None, data.candidates, data.num_users, data.num_items,
            [mx.cpu()])
    hit, auc = tab.evaluate_ranking(*args)
    assert fast_ranking.evaluate_ranking(*args) == pytest.approx((float(hit), float(auc)),
                                                                 rel=1e-6)


@pytest.fixture(scope='module')
def rank_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('rank-fast'))
    write_u_data(folder, make_ratings(20, 150, seed=0, per_user=(100, 130)))
    return folder


def _quiet_gc(monkeypatch):
    # The faithful evaluator makes a DataLoader per user, and each one a full collection.
    import gc
    monkeypatch.setattr(gc, 'collect', lambda *a, **k: 0)


def test_fast_neumf_trains_on_the_books_numbers(monkeypatch, rank_dir, capsys):
    _quiet_gc(monkeypatch)
    runs = [experiments.train_neumf(seed=3, fast=fast, devices='cpu', data_dir=rank_dir,
                                    batch_size=256, num_epochs=3, progress=False, plot=False)
            for fast in (False, True)]
    (net, h, info), (fast_net, fh, fast_info) = runs
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[3] and out[0].startswith('train loss ')
    assert out[2] == out[5] and out[2].startswith('exact (all unseen items')
    assert fh['train_loss'] == pytest.approx(h['train_loss'], rel=1e-9)
    assert fh['hit_rate'] == pytest.approx(h['hit_rate'], rel=1e-6)
    assert fh['auc'] == pytest.approx(h['auc'], rel=1e-6)
    for a, b in zip(h['exact'], fh['exact']):
        assert b == pytest.approx(a, rel=1e-9)
    # One cached graph: the same sums in another order. Adam's steps are about lr * sign(g) for
    # a gradient far above its epsilon, so a rounding difference in a gradient near zero can
    # move a weight by much more than the rounding itself; the losses agree to 1e-9.
    for k, v in _params(net).items():
        onp.testing.assert_allclose(_params(fast_net)[k], v, rtol=0, atol=1e-3, err_msg=k)
    assert info['hparams'] == {'num_factors': 10, 'nums_hiddens': [10, 10, 10]}
    assert info['train']['batch_size'] == 256 and fast_info['fast'] is True
    assert info['train_interactions']['users'].shape == (len(info['train_interactions']
                                                             ['items']),)


def test_fast_caser_trains_on_the_books_numbers_to_rounding(monkeypatch, rank_dir, capsys):
    _quiet_gc(monkeypatch)
    runs = [experiments.train_caser(seed=3, fast=fast, devices='cpu', data_dir=rank_dir,
                                    batch_size=256, num_epochs=2, progress=False, plot=False)
            for fast in (False, True)]
    (_, h, info), (_, fh, _) = runs
    assert fh['train_loss'] == pytest.approx(h['train_loss'], rel=1e-5)
    assert fh['hit_rate'] == pytest.approx(h['hit_rate'], abs=0.051)
    assert fh['exact'][-1]['auc'] == pytest.approx(h['exact'][-1]['auc'], abs=0.02)
    assert info['test_seq'].shape == (20, 5) and info['test_seq'].dtype == onp.int64
    assert info['hparams'] == {'num_factors': 10, 'L': 5, 'd': 16, 'd_prime': 4,
                               'drop_ratio': 0.05}


@pytest.mark.parametrize('kwargs, message', [
    (dict(nums_hiddens=[10, 0]), 'nums_hiddens must be one or more positive integers'),
    (dict(nums_hiddens='10,x'), 'nums_hiddens must be one or more positive integers'),
    (dict(loss='square'), "loss must be 'bpr' or 'hinge'"),
    (dict(lr=float('nan')), 'lr must be a finite positive number'),
    (dict(batch_size=10 ** 7), r'batch_size 10000000 is larger than the [\d,]+ training rows'),
])
def test_neumf_settings_are_checked_before_training(rank_dir, kwargs, message, capsys):
    with pytest.raises(ValueError, match=message):
        experiments.train_neumf(data_dir=rank_dir, devices='cpu', fast=True, plot=False,
                                **kwargs)
    assert 'epoch 1/' not in capsys.readouterr().err


def test_caser_settings_are_checked_before_the_windows(rank_dir):
    for kwargs, message in ((dict(L=200), r'user \d+ has \d+ training items.*L = 200'),
                            (dict(d=0), 'd must be a positive integer'),
                            (dict(drop_ratio=1.0), r'drop_ratio must be a number in \[0, 1\)')):
        with pytest.raises(ValueError, match=message):
            experiments.train_caser(data_dir=rank_dir, devices='cpu', plot=False, **kwargs)
    with pytest.raises(TypeError, match='caser has no setting nums_hiddens'):
        experiments.runs.check_settings('caser', nums_hiddens=(3,))


def test_a_diverging_ranking_run_stops_at_the_first_non_finite_loss(rank_dir, monkeypatch):
    _quiet_gc(monkeypatch)
    for fast in (True, False):
        with pytest.raises(FloatingPointError, match='training stopped in epoch 1: the loss'):
            experiments.train_caser(data_dir=rank_dir, devices='cpu', lr=1e30, batch_size=256,
                                    num_epochs=2, seed=0, fast=fast, plot=False,
                                    progress=False)


def test_the_book_metric_and_the_exact_one_are_recorded_every_epoch(rank_dir):
    _, h, _ = experiments.train_neumf(data_dir=rank_dir, devices='cpu', fast=True, seed=0,
                                      num_epochs=2, batch_size=512, progress=False)
    assert h['eval_epoch'] == [1, 2] and len(h['exact']) == 2
    assert set(h['exact'][0]) == set(rank_metrics.EXACT_KEYS) | {'pairs', 'candidates'}
    assert h['exact'][0]['pairs'] == 20
    assert h['metric_kind'].startswith('book evaluator: hits in the top 50')
