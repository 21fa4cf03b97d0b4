"""The PyTorch tab's models, evaluators, training loop and saving, against the AutoRec
deck's module and the MXNet tab's (the book's) functions."""
import numpy as onp
import pytest

torch = pytest.importorskip('torch')
from torch import nn  # noqa: E402

from d2l_recsys import torch as tt  # noqa: E402
from d2l_recsys.torch import predict  # noqa: E402


class DeckAutoRec(nn.Module):
    """The PyTorch AutoRec deck's module, verbatim."""
    def __init__(self, num_hidden, num_users, dropout=0.05):
        super().__init__()
        self.encoder = nn.Linear(num_users, num_hidden)
        self.decoder = nn.Linear(num_hidden, num_users)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input):
        hidden = self.dropout(torch.sigmoid(self.encoder(input)))
        pred = self.decoder(hidden)
        if self.training:  # Mask the gradient during training
            return pred * torch.sign(input)
        else:
            return pred


def _rows(n=16, cols=30, seed=0):
    rng = onp.random.RandomState(seed)
    return torch.tensor((rng.randint(1, 6, (n, cols)) * (rng.uniform(size=(n, cols)) < 0.3))
                        .astype(onp.float32))


def test_autorec_defaults_are_the_deck_module():
    torch.manual_seed(0)
    deck = DeckAutoRec(12, 30)
    torch.manual_seed(0)
    ours = tt.AutoRec(12, 30)
    assert list(ours.state_dict()) == list(deck.state_dict())
    for a, b in zip(ours.state_dict().values(), deck.state_dict().values()):
        assert torch.equal(a, b)      # same shapes, same default initialisation draws
    x = _rows()
    for mode in ('train', 'eval'):
        getattr(ours, mode)(), getattr(deck, mode)()
        torch.manual_seed(1)
        out = ours(x)
        torch.manual_seed(1)          # the same dropout masks
        assert torch.equal(out, deck(x)), mode
    ours.train()
    assert (ours(x)[x == 0] == 0).all()


def test_autorec_extras():
    net = tt.AutoRec(12, 30, dropout=0.0, hidden_layers=(7, 5), encoder_activation='relu',
                     decoder_activation='sigmoid', hidden_activation='tanh')
    assert [tuple(layer[0].weight.shape) for layer in net.hidden] == [(7, 12), (5, 7)]
    assert tuple(net.decoder.weight.shape) == (30, 5)
    net.eval()
    out = net(_rows())
    assert out.shape == (16, 30) and ((out > 0) & (out < 1)).all()   # sigmoid decoder
    with torch.no_grad():
        h = torch.relu(net.encoder(_rows()))
        h = torch.tanh(net.hidden[1][0](torch.tanh(net.hidden[0][0](h))))
        assert torch.allclose(out, torch.sigmoid(net.decoder(h)))
    with pytest.raises(ValueError, match="encoder_activation='gelu'"):
        tt.AutoRec(12, 30, encoder_activation='gelu')
    with pytest.raises(ValueError, match='positive'):
        tt.AutoRec(12, 30, hidden_layers=(0,))
    user_based = tt.user_based_autorec(12, 40)
    assert tuple(user_based.encoder.weight.shape) == (12, 40)
    assert tt.user_based_matrix(onp.zeros((40, 30))).shape == (30, 40)


def test_mf_initialisation_and_shapes():
    torch.manual_seed(0)
    net = tt.MF(30, 400, 500)
    for name in ('P', 'Q', 'user_bias', 'item_bias'):
        w = getattr(net, name).weight.detach()
        assert abs(float(w.std()) - 0.01) < 0.001 and abs(float(w.mean())) < 0.001, name
    out = net(torch.tensor([20]), torch.tensor([30]))   # the book's last MF cell
    assert out.shape == (1,)
    expected = (net.P.weight[20] @ net.Q.weight[30] + net.user_bias.weight[20, 0]
                + net.item_bias.weight[30, 0])
    assert torch.allclose(out[0], expected)


def test_l2loss_is_gluons():
    mx = pytest.importorskip('mxnet')
    from mxnet import gluon, npx
    npx.set_np()   # the book's cells start with it
    rng = onp.random.RandomState(0)
    for shape in ((7,), (5, 9)):
        p, y = rng.normal(size=shape).astype('f'), rng.normal(size=shape).astype('f')
        ours = tt.L2Loss()(torch.from_numpy(p), torch.from_numpy(y)).numpy()
        book = gluon.loss.L2Loss()(mx.np.array(p), mx.np.array(y)).asnumpy()
        onp.testing.assert_allclose(ours, book, rtol=1e-6)


# --- against the MXNet tab's (the book's) evaluators and loop ------------------------------

def _mf_case(seed=0, n=203, users=25, items=18):
    rng = onp.random.RandomState(seed)
    u, i = rng.randint(0, users, n), rng.randint(0, items, n)
    r = rng.randint(1, 6, n).astype(onp.float32)
    weights = {k: rng.normal(0, 0.5, shape).astype(onp.float32) for k, shape in
               (('P', (users, 4)), ('Q', (items, 4)), ('user_bias', (users, 1)),
                ('item_bias', (items, 1)))}
    return u, i, r, weights


def _both_mf(weights, ctx=None):
    mx = pytest.importorskip('mxnet')
    from d2l_recsys.mxnet.mf import MF as MxMF
    users, items = weights['P'].shape[0], weights['Q'].shape[0]
    mxnet_net = MxMF(4, users, items)
    mxnet_net.initialize(ctx=ctx)
    torch_net = tt.MF(4, users, items)
    for name, w in weights.items():
        getattr(mxnet_net, name).weight.set_data(mx.np.array(w))
        with torch.no_grad():
            getattr(torch_net, name).weight.copy_(torch.from_numpy(w))
    return mxnet_net, torch_net


def _loaders(u, i, r, batch_size, shuffle=False):
    mx = pytest.importorskip('mxnet')
    from mxnet import gluon
    mx_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(
        mx.np.array(u), mx.np.array(i), mx.np.array(r)), batch_size=batch_size,
        shuffle=shuffle)
    t_iter = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(u), torch.from_numpy(i),
                                       torch.from_numpy(r)), batch_size=batch_size)
    return mx_iter, t_iter


@pytest.mark.parametrize('num_devices', [1, 2, 3])
def test_mf_evaluators_match_the_books(num_devices):
    mx = pytest.importorskip('mxnet')
    from d2l_recsys.mxnet import mf as book
    u, i, r, weights = _mf_case()
    mx_devices = [mx.cpu(k) for k in range(num_devices)]
    mxnet_net, torch_net = _both_mf(weights, mx_devices)
    mx_iter, t_iter = _loaders(u, i, r, batch_size=50)   # 203: a short last batch
    # The shards are cut as MXNet cuts them; the model runs on one device here.
    t_devices = [torch.device('cpu')] * num_devices
    running = tt.evaluator(torch_net, t_iter, t_devices)
    assert running == pytest.approx(book.evaluator(mxnet_net, mx_iter, mx_devices), rel=1e-5)
    exact = tt.rmse_exact(torch_net, t_iter, t_devices[:1])
    assert exact == pytest.approx(book.rmse_exact(mxnet_net, mx_iter, mx_devices[:1]),
                                  rel=1e-6)
    assert abs(running - exact) > 1e-4     # the book's number is not the test-set RMSE


def test_train_recsys_rating_is_the_books_loop(capsys):
    """Same weights, same batches (no shuffling), Adam with an epsilon too small to matter:
    the PyTorch loop reports what the book's MXNet loop reports, epoch by epoch."""
    mx = pytest.importorskip('mxnet')
    from mxnet import gluon
    from d2l_recsys.mxnet import mf as book_mf
    u, i, r, weights = _mf_case(n=300)
    test = _mf_case(seed=1, n=120)
    mxnet_net, torch_net = _both_mf(weights)
    mx_train, t_train = _loaders(u, i, r, batch_size=64)
    mx_test, t_test = _loaders(*test[:3], batch_size=64)
    trainer = gluon.Trainer(mxnet_net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5, 'epsilon': 1e-30})
    book = book_mf.train_recsys_rating(mxnet_net, mx_train, mx_test, gluon.loss.L2Loss(),
                                       trainer, 3, [mx.cpu()], book_mf.evaluator,
                                       plot=False, progress=False)
    book_lines = capsys.readouterr().out.splitlines()
    optimizer = torch.optim.Adam(torch_net.parameters(), lr=0.01, weight_decay=1e-5, eps=1e-30)
    ours = tt.train_recsys_rating(torch_net, t_train, t_test, tt.L2Loss(), optimizer, 3,
                                  [torch.device('cpu')], tt.evaluator, plot=False,
                                  progress=False)
    our_lines = capsys.readouterr().out.splitlines()
    for key in ('train_loss', 'test_rmse'):
        onp.testing.assert_allclose(ours[key], book[key], rtol=1e-4, err_msg=key)
    assert ours['printed_train_loss'] == pytest.approx(book['printed_train_loss'], rel=1e-4)
    assert our_lines[0] == book_lines[0]      # 'train loss ..., test RMSE ...'
    assert set(ours) == set(book)


def test_train_recsys_rating_summed_loss_reports_per_row():
    x = _rows(n=24)
    net = tt.AutoRec(8, 30, dropout=0.0)
    loader = torch.utils.data.DataLoader(x, batch_size=8)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.002, weight_decay=1e-5)
    with torch.no_grad():
        net.train()
        expected = float(nn.MSELoss(reduction='sum')(net(x), x)) / len(x)
    history = tt.train_recsys_rating(net, loader, loader, nn.MSELoss(reduction='sum'),
                                     optimizer, 1, [torch.device('cpu')], tt.autorec_evaluator,
                                     inter_mat=x.numpy(), plot=False, progress=False)
    # Adam's first steps barely change it: the deck's per-row loss, not 8 rows' sum.
    assert history['train_loss'][0] == pytest.approx(expected, rel=0.05)
    with pytest.raises(TypeError, match='inter_mat'):
        tt.train_recsys_rating(net, loader, loader, None, optimizer, 1, evaluator=len,
                               mat=1)


def test_parse_devices():
    assert tt.parse_devices('cpu') == [torch.device('cpu')]
    assert tt.parse_devices(None) == tt.try_all_gpus()
    assert tt.try_gpu() == (torch.device('cuda:0') if torch.cuda.is_available()
                            else torch.device('cpu'))
    for bad, message in (('cpu:1', 'one CPU device'), ('tpu', 'unknown device'),
                         ('cuda:x', 'bad device index'), ('cpu,cpu', 'twice')):
        with pytest.raises(ValueError, match=message):
            tt.parse_devices(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='sees no GPU'):
            tt.parse_devices('cuda:0')
    assert 1 <= tt.get_dataloader_workers() <= 4


# --- saving and loading ------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = tt.AutoRec(9, 30, hidden_layers=(5,), encoder_activation='tanh')
    inter = {'users': onp.array([0, 3]), 'items': onp.array([2, 1]),
             'ratings': onp.array([4.0, 5.0], dtype=onp.float32)}
    hparams = {'num_hidden': 9, 'dropout': 0.05, 'hidden_layers': [5],
               'encoder_activation': 'tanh'}
    predict.save_model(net, tmp_path / 'm', model='autorec', hparams=hparams, num_users=30,
                       num_items=20, train_interactions=inter)
    loaded, meta, got = predict.load_model(str(tmp_path / 'm'))
    assert meta['framework'] == 'torch' and not loaded.training
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert (got['items'] == inter['items']).all()
    matrix = predict.interaction_matrix(got, 30, 20)
    assert matrix.shape == (20, 30) and float(matrix[2, 0]) == 4.0
    rows = predict.top_k(loaded, 3, 5, inter_mat=matrix)
    assert len(rows) == 5 and 1 not in [r['item_index'] for r in rows]   # item 1 is seen


def test_load_refuses_other_shapes_and_frameworks(tmp_path):
    net = tt.MF(4, 10, 12)
    predict.save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 4},
                       num_users=10, num_items=12)
    meta_path = tmp_path / 'm' / 'model.json'
    meta = meta_path.read_text()
    meta_path.write_text(meta.replace('"num_items": 12', '"num_items": 13'))
    with pytest.raises(ValueError, match=r'Q.weight is \(12, 4\) in the file but \(13, 4\)'):
        predict.load_model(str(tmp_path / 'm'))
    meta_path.write_text(meta.replace('"framework": "torch"', '"framework": "mxnet"'))
    with pytest.raises(ValueError, match="a 'mxnet' model: load it with that framework's tab"):
        predict.load_model(str(tmp_path / 'm'))
    meta_path.write_text(meta)
    net.eval()
    with torch.no_grad():
        net.P.weight[0, 0] = float('nan')
    with pytest.raises(ValueError, match='save_model: P.weight holds NaN'):
        predict.save_model(net, tmp_path / 'm', model='mf', hparams={'num_factors': 4},
                           num_users=10, num_items=12)
    from d2l_recsys import store   # a folder written some other way is refused on loading
    state = net.state_dict()
    store.save_model_folder(tmp_path / 'm', meta=store.model_meta(
        'torch', 'model.pt', model='mf', hparams={'num_factors': 4}, num_users=10,
        num_items=12), write_params=lambda path: torch.save(state, path))
    with pytest.raises(ValueError, match='P.weight holds NaN'):
        predict.load_model(str(tmp_path / 'm'))
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a file torch can read')
    with pytest.raises(ValueError, match='not a parameter file PyTorch can read'):
        predict.load_state_checked(tt.MF(4, 10, 12), str(bad))
    with pytest.raises(FileNotFoundError, match='no model.json'):
        predict.load_model(str(tmp_path / 'nothing'))
