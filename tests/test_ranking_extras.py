"""What the ranking half adds for ``make reproduce`` and the exercises, in both tabs: the book's
MF trained with the ranking loop (fast path against the faithful one, its scores from its
parts), NeuMF's optimizer option, and Caser without its horizontal or vertical convolutions
(the features of the book's model less the removed ones, the same scores in both frameworks,
saved and loaded as a model folder). Tiny data, on the CPU."""
import numpy as onp
import pytest

from conftest import NO_MXNET, make_ratings, write_u_data
from d2l_recsys import rank_scores, store
from d2l_recsys.rank_runs import MF_RANKING, check_mf_ranking

torch = pytest.importorskip('torch')
from d2l_recsys import torch as tt  # noqa: E402
from d2l_recsys.torch import experiments as t_experiments  # noqa: E402
from d2l_recsys.torch import fast_ranking as t_fast  # noqa: E402

needs_mxnet = pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')
FRAMEWORKS = [pytest.param('mxnet', marks=needs_mxnet), 'torch']


@pytest.fixture(scope='module')
def rank_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('rank-extras'))
    write_u_data(folder, make_ratings(20, 150, seed=0, per_user=(100, 130)))
    return folder


def _experiments(framework):
    if framework == 'torch':
        return t_experiments
    from d2l_recsys.mxnet import experiments
    return experiments


def _quiet_gc(monkeypatch):
    # The book's evaluator makes a DataLoader per user, and each one a full collection.
    import gc
    monkeypatch.setattr(gc, 'collect', lambda *a, **k: 0)


# ---------------------------------------------------------------- MF trained for ranking
@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_mf_ranking_fast_path_gives_the_book_loops_numbers(framework, rank_dir, monkeypatch,
                                                           capsys):
    _quiet_gc(monkeypatch)
    tab = _experiments(framework)
    runs = [tab.train_mf_ranking(seed=3, fast=fast, devices='cpu', data_dir=rank_dir,
                                 batch_size=256, num_epochs=3, progress=False, plot=False)
            for fast in (False, True)]
    (net, h, info), (_, fh, fast_info) = runs
    assert type(net).__module__.endswith('.mf') and type(net).__name__ == 'MF'   # the book's
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[3] and out[0].startswith('train loss ')
    assert fh['train_loss'] == pytest.approx(h['train_loss'], rel=1e-6)
    assert fh['hit_rate'] == pytest.approx(h['hit_rate'], rel=1e-6)
    for a, b in zip(h['exact'], fh['exact']):
        assert b == pytest.approx(a, rel=1e-6)
    assert h['train_loss'][-1] < h['train_loss'][0] < 0.6932   # it learns (unlike NeuMF)
    assert info['model'] == 'mf' and info['hparams'] == {'num_factors': 10}
    assert info['train']['loss'] == 'bpr' and info['train']['feedback'] == 'implicit'
    assert fast_info['fast'] is True and info['train']['lr'] == MF_RANKING['lr']


def test_mf_ranking_settings_are_neumfs_cell_checked():
    s = check_mf_ranking(num_factors=4)
    assert s == dict(MF_RANKING, num_factors=4)
    with pytest.raises(TypeError, match='MF trained for ranking has no setting nums_hiddens'):
        check_mf_ranking(nums_hiddens=(3,))
    with pytest.raises(ValueError, match="loss must be 'bpr' or 'hinge'"):
        check_mf_ranking(loss='square')


def test_mf_scores_from_its_parts_are_the_forward_passes():
    torch.manual_seed(0)
    net = tt.MF(4, 7, 11)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 1)
    expected = tt.score_matrix(net, 7, 11)   # a forward pass per pair
    onp.testing.assert_allclose(t_fast.user_item_scores(net), expected, rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(tt.score_matrix(net, 7, 11, structure=True), expected,
                                rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- NeuMF's optimizer
@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_neumf_takes_another_optimizer_and_records_it(framework, rank_dir, capsys):
    tab = _experiments(framework)
    kw = dict(seed=0, fast=True, devices='cpu', data_dir=rank_dir, batch_size=256,
              num_epochs=2, wd=0, progress=False, plot=False)
    _, adam, info = tab.train_neumf(**kw)
    _, sgd, sgd_info = tab.train_neumf(optimizer='sgd', lr=1.0, **kw)
    assert info['train']['optimizer'] == 'adam' and sgd_info['train']['optimizer'] == 'sgd'
    assert sgd['train_loss'] != adam['train_loss']
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'rmsprop', "
                                         "'adagrad', 'sgd', got 'adamw'"):
        tab.train_neumf(optimizer='adamw', **kw)


# ---------------------------------------------------------------- Caser's ablation
def _torch_pair(**ablation):
    """The book's Caser and an ablated one with the same weights where both have them."""
    torch.manual_seed(0)
    full = tt.Caser(6, 9, 20, L=4, d=3, d_prime=2)
    part = tt.Caser(6, 9, 20, L=4, d=3, d_prime=2, **ablation)
    shared = {k: v for k, v in full.state_dict().items() if not k.startswith('fc.')}
    result = part.load_state_dict(shared, strict=False)
    assert result.missing_keys == ['fc.weight', 'fc.bias']
    return full, part


@pytest.mark.parametrize('ablation, columns', [({'horizontal': False}, slice(0, 12)),
                                               ({'vertical': False}, slice(12, None))])
def test_ablated_caser_features_are_the_books_without_the_removed_ones(ablation, columns):
    full, part = _torch_pair(**ablation)
    names = {k.split('.')[0] for k in part.state_dict()}
    assert ('conv_h' in names) == ablation.get('horizontal', True)
    assert ('conv_v' in names) == ablation.get('vertical', True)
    seq = torch.from_numpy(onp.random.RandomState(0).randint(0, 20, (5, 4)))
    with torch.no_grad():
        expected = full.features(seq)[:, columns]   # vertical: d' x k = 12 columns first
        assert part.features(seq).shape == expected.shape == (5, part.fc.in_features)
        onp.testing.assert_allclose(part.features(seq), expected, rtol=1e-6)
        onp.testing.assert_allclose(t_fast.caser_features(part, seq), expected, rtol=1e-5,
                                    atol=1e-6)
    test_seq = onp.random.RandomState(1).randint(0, 20, (9, 4))
    onp.testing.assert_allclose(t_fast.caser_scores(part, test_seq),
                                tt.score_matrix(part, 9, 20, seq=test_seq), rtol=1e-5,
                                atol=1e-5)
    # The saved description counts the parameters the ablated model has.
    count = store.parameter_count({'model': 'caser', 'num_users': 9, 'num_items': 20,
                                   'user_based': False,
                                   'hparams': {'num_factors': 6, 'L': 4, 'd': 3, 'd_prime': 2,
                                               'drop_ratio': 0.05, **ablation}})
    assert count == sum(p.numel() for p in part.parameters())


@needs_mxnet
@pytest.mark.parametrize('ablation', [{'horizontal': False}, {'vertical': False}])
def test_ablated_caser_gives_the_same_scores_in_both_frameworks(ablation):
    import mxnet as mx
    from d2l_recsys.mxnet import fast_ranking as m_fast
    mx.random.seed(1)
    m_net = m_fast.Caser(6, 9, 20, L=4, d=3, d_prime=2, **ablation)
    m_net.initialize(init=mx.init.Normal(0.3))
    t_net = tt.Caser(6, 9, 20, L=4, d=3, d_prime=2, **ablation)
    state = {k: torch.from_numpy(v.data().asnumpy())
             for k, v in m_net._collect_params_with_prefix().items()}
    result = t_net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    test_seq = onp.random.RandomState(2).randint(0, 20, (9, 4))
    onp.testing.assert_allclose(t_fast.caser_scores(t_net, test_seq),
                                m_fast.caser_scores(m_net, test_seq.astype('float32')),
                                rtol=1e-5, atol=1e-5)


def test_caser_needs_one_of_its_convolutions():
    with pytest.raises(ValueError, match='Caser needs one of its convolutions'):
        tt.Caser(6, 9, 20, horizontal=False, vertical=False)
    with pytest.raises(ValueError, match='horizontal must be True or False'):
        tt.Caser(6, 9, 20, horizontal=0)


@needs_mxnet
def test_the_books_mxnet_block_cannot_be_ablated_and_says_so(rank_dir):
    from d2l_recsys.mxnet import experiments, fast_ranking
    with pytest.raises(ValueError, match="the book's Caser block has both convolutions"):
        experiments.train_caser(fast=False, horizontal=False, data_dir=rank_dir, plot=False)
    with pytest.raises(ValueError, match='Caser needs one of its convolutions'):
        fast_ranking.Caser(6, 9, 20, horizontal=False, vertical=False)


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_an_ablated_caser_is_saved_and_loaded_as_it_was_trained(framework, rank_dir,
                                                                 tmp_path):
    tab = _experiments(framework)
    namespace = tt if framework == 'torch' else __import__('d2l_recsys.mxnet').mxnet
    net, _, info = tab.train_caser(seed=0, fast=True, devices='cpu', data_dir=rank_dir,
                                   batch_size=256, num_epochs=1, vertical=False,
                                   progress=False, plot=False)
    assert info['hparams']['vertical'] is False and info['hparams']['horizontal'] is True
    folder = tmp_path / 'caser'
    namespace.save_model(net, str(folder), model='caser', hparams=info['hparams'],
                         num_users=info['num_users'], num_items=info['num_items'],
                         train_interactions=info['train_interactions'],
                         last_items=info['test_seq'])
    loaded, meta, _ = namespace.load_model(str(folder))
    assert meta['hparams']['vertical'] is False and loaded.conv_v is None
    scores = (t_fast if framework == 'torch' else
              __import__('d2l_recsys.mxnet.fast_ranking').mxnet.fast_ranking).caser_scores
    onp.testing.assert_allclose(scores(loaded, info['test_seq']),
                                scores(net, info['test_seq']), rtol=1e-6)


def test_popularity_and_mf_score_matrices_are_their_formulas():
    rng = onp.random.RandomState(0)
    P, Q, bu, bi = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=3), \
        rng.normal(size=4)
    expected = [[P[u] @ Q[i] + bu[u] + bi[i] for i in range(4)] for u in range(3)]
    onp.testing.assert_allclose(rank_scores.mf_score_matrix(P, Q, bu, bi), expected, rtol=1e-5)
    pop = rank_scores.popularity_score_matrix([0, 1, 1, 2], [3, 3, 0, 3], 3, 4)
    assert pop.tolist() == [[1, 0, 0, 3]] * 3
