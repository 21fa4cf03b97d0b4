"""The feature-rich sections in the PyTorch tab: CTRDataset as the book's (and the MXNet
tab's) on the same file, FM and DeepFM giving the MXNet models' outputs, losses and Adam steps
for the same weights, train_ch13 as d2l's PyTorch one, the fast path's same numbers, and the
sections' cells translated to the tab."""
import contextlib
import io
import os
import re

import numpy as onp
import pytest

from conftest import needs_mxnet, own_cache

torch = pytest.importorskip('torch')

import book_ctr_cells  # noqa: E402
import ctr_files  # noqa: E402
import synthetic  # noqa: E402
from d2l_recsys import clicks, fetch  # noqa: E402
from d2l_recsys import torch as tt  # noqa: E402
from d2l_recsys.torch import classification  # noqa: E402


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    own_cache(tmp_path, monkeypatch)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('ctr'))
    return (ctr_files.write_ctr(os.path.join(folder, 'train.csv'), 500, seed=0),
            ctr_files.write_ctr(os.path.join(folder, 'test.csv'), 150, seed=1))


@pytest.mark.parametrize('cls', [tt.CTRDataset, tt.CTRDatasetFast])
def test_ctr_dataset_items_are_the_books(files, cls):
    book = clicks.read_ctr_book(files[0])
    data = cls(files[0])
    assert data.feat_mapper == book.feat_mapper and data.defaults == book.defaults
    assert (data.field_dims == book.field_dims).all() and (data.offsets == book.offsets).all()
    assert len(data) == book.count == 500
    for i in range(book.count):
        x, y = data[i]
        expect = [book.feat_mapper[j + 1].get(v, book.defaults[j + 1])
                  for j, v in enumerate(book.data[i]['x'])] + book.offsets
        assert x.dtype == torch.int64 and (x.numpy() == expect).all()
        assert y.dtype == torch.float32 and y.tolist() == book.data[i]['y']
    test = cls(files[1], feat_mapper=data.feat_mapper, defaults=data.defaults)
    assert len(test) == 150
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    x, y = next(iter(loader))
    assert x.shape == (64, 34) and y.shape == (64, 1)


def test_the_same_items_as_the_mxnet_tab(files):
    mx_ctr = pytest.importorskip('d2l_recsys.mxnet.ctr', exc_type=ImportError)
    a, b = tt.CTRDatasetFast(files[0]), mx_ctr.CTRDatasetFast(files[0])
    assert a.feat_mapper == b.feat_mapper
    assert (a.features == b.features).all() and (a.labels == b.labels).all()


def test_fast_dataset_batches_as_the_per_item_one(files):
    batches = []
    for data in (tt.CTRDataset(files[0]), tt.CTRDatasetFast(files[0])):
        torch.manual_seed(2)
        batches.append(list(torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)))
    for (xa, ya), (xb, yb) in zip(*batches):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_xavier_init_matches_gluons_bounds():
    net = tt.DeepFM([50, 30], num_factors=8, mlp_dims=[16])
    net.apply(tt.xavier_init)
    assert net.embedding.weight.abs().max() <= (6 / (80 + 8)) ** 0.5
    assert net.mlp[0].weight.abs().max() <= (6 / (16 + 16)) ** 0.5
    assert float(net.mlp[0].bias.detach().abs().max()) == 0
    assert float(net.linear_layer.bias.detach()) == 0
    names = [k for k, _ in net.named_parameters()]
    assert names == ['embedding.weight', 'fc.weight', 'linear_layer.weight',
                     'linear_layer.bias', 'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight',
                     'mlp.2.bias']


# --- the same weights in both frameworks ---------------------------------------------------


def _mxnet():
    return pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)


def _pair(model, field_dims, seed=0):
    """An MXNet model and a PyTorch one holding the same weights (the MXNet one's)."""
    d2l = _mxnet()
    import mxnet as mxn
    from mxnet import init
    mxn.random.seed(seed)
    if model == 'fm':
        m, t = d2l.FM(field_dims, 4), tt.FM(field_dims, 4)
    else:
        m, t = d2l.DeepFM(field_dims, 4, [6, 5], 0.0), tt.DeepFM(field_dims, 4, [6, 5], 0.0)
    m.initialize(init.Xavier())
    m(mxn.np.zeros((2, len(field_dims))))   # the deferred linear layer's shape
    state = {k: torch.from_numpy(v.data().asnumpy()) for k, v in
             m._collect_params_with_prefix().items()}
    t.load_state_dict(state)
    return m, t


def _batch(field_dims, n=32, seed=1):
    rng = onp.random.RandomState(seed)
    offsets = onp.concatenate([[0], onp.cumsum(field_dims)[:-1]])
    x = rng.randint(0, min(field_dims), (n, len(field_dims))) + offsets
    return x, rng.randint(0, 2, (n, 1)).astype(onp.float32)


@needs_mxnet   # the same weights in both tabs
@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_same_weights_same_outputs_and_losses(model):
    import mxnet as mxn
    from mxnet import gluon
    dims = [7, 5, 9]
    m, t = _pair(model, dims)
    x, y = _batch(dims)
    p_mx = m(mxn.np.array(x, dtype='float32'))
    t.eval()
    with torch.no_grad():
        p_t = t(torch.from_numpy(x))
    onp.testing.assert_allclose(p_t.numpy(), p_mx.asnumpy(), rtol=1e-5, atol=1e-7)
    l_mx = gluon.loss.SigmoidBinaryCrossEntropyLoss()(p_mx, mxn.np.array(y))
    l_t = torch.nn.BCEWithLogitsLoss(reduction='none')(p_t, torch.from_numpy(y))
    onp.testing.assert_allclose(l_t.numpy().reshape(-1), l_mx.asnumpy(), rtol=1e-5)


@needs_mxnet   # the same weights in both tabs
@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_same_parameters_after_adam_steps_of_the_books_loops(model):
    """MXNet: l.backward() on the per-example losses and trainer.step(batch) (the mean's
    gradient); PyTorch: l.sum().backward() as d2l's PyTorch train_batch_ch13. Adam does not
    see the factor between them but through epsilon, which is set too small to matter."""
    import mxnet as mxn
    from mxnet import autograd, gluon
    dims = [7, 5, 9]
    m, t = _pair(model, dims)
    trainer = gluon.Trainer(m.collect_params(), 'adam', {'learning_rate': 0.01,
                                                          'epsilon': 1e-30})
    opt = torch.optim.Adam(t.parameters(), lr=0.01, eps=1e-30)
    before = {k: v.detach().clone() for k, v in t.named_parameters()}
    for s in range(5):
        x, y = _batch(dims, seed=s)
        with autograd.record():
            l = gluon.loss.SigmoidBinaryCrossEntropyLoss()(m(mxn.np.array(x, dtype='float32')),
                                                           mxn.np.array(y))
        l.backward()
        trainer.step(len(x))
        opt.zero_grad()
        lt = torch.nn.BCEWithLogitsLoss(reduction='none')(t(torch.from_numpy(x)),
                                                          torch.from_numpy(y))
        lt.sum().backward()
        opt.step()
    params = {k: v.data().asnumpy() for k, v in m._collect_params_with_prefix().items()}
    for k, v in t.named_parameters():
        if not torch.equal(v, before[k]):   # rows never looked up move in neither
            onp.testing.assert_allclose(v.detach().numpy(), params[k], rtol=2e-4, atol=1e-6,
                                        err_msg=k)
    assert any(not torch.equal(v, before[k]) for k, v in t.named_parameters())


# --- train_ch13 (d2l's PyTorch one) and the fast path --------------------------------------------

D2L_TORCH_TRAIN_CH13 = '''
def train_batch_ch13(net, X, y, loss, trainer, devices):
    if isinstance(X, list):
        X = [x.to(devices[0]) for x in X]
    else:
        X = X.to(devices[0])
    y = y.to(devices[0])
    net.train()
    trainer.zero_grad()
    pred = net(X)
    l = loss(pred, y)
    l.sum().backward()
    trainer.step()
    train_loss_sum = l.sum()
    train_acc_sum = d2l.accuracy(pred, y)
    return train_loss_sum, train_acc_sum
'''


def test_train_batch_ch13_is_d2ls_pytorch_one(files):
    """d2l 1.0.3's PyTorch train_batch_ch13 (copied from d2l/torch.py; only its module is
    this tab) gives the loss, the count and the weights ours gives."""
    namespace = {'d2l': tt, 'nn': torch.nn}
    exec(D2L_TORCH_TRAIN_CH13, namespace)
    data = tt.CTRDatasetFast(files[0])
    x, y = torch.from_numpy(data.features[:64]), torch.from_numpy(data.labels[:64])
    results = []
    for fn in (namespace['train_batch_ch13'], classification.train_batch_ch13):
        torch.manual_seed(0)
        net = tt.FM(data.field_dims, 4)
        net.apply(tt.xavier_init)
        opt = torch.optim.Adam(net.parameters(), lr=0.02)
        l, acc = fn(net, x, y, torch.nn.BCEWithLogitsLoss(reduction='none'), opt,
                    [torch.device('cpu')])
        results.append((float(l.detach()), acc,
                        [p.detach().clone() for p in net.parameters()]))
    assert results[0][:2] == results[1][:2]
    assert all(torch.equal(a, b) for a, b in zip(results[0][2], results[1][2]))


@pytest.fixture(scope='module')
def movielens(tmp_path_factory):
    folder = synthetic.write_ml100k(str(tmp_path_factory.mktemp('ml')), num_users=40,
                                    num_items=30, density=0.6, seed=4)
    ctr_files.write_side_files(folder, 40, 30, seed=4)
    return folder


def _run(model, fast, movielens, epochs=3, **kwargs):
    train = tt.train_fm if model == 'fm' else tt.train_deepfm
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        net, history, info = train(seed=5, fast=fast, data_dir=movielens, num_epochs=epochs,
                                   batch_size=64, plot=False, progress=False, **kwargs)
    return net, history, info, out.getvalue().splitlines()


@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_fast_path_gives_the_same_numbers(movielens, model):
    faithful, fast = _run(model, False, movielens), _run(model, True, movielens)
    for key in ('train_loss', 'train_acc', 'test_acc', 'test_auc', 'test_log_loss',
                'test_accuracy'):
        assert faithful[1][key] == fast[1][key], key
    assert faithful[3][0] == fast[3][0] and faithful[3][2] == fast[3][2]
    for (k, a), b in zip(faithful[0].state_dict().items(), fast[0].state_dict().values()):
        assert torch.equal(a, b), k
    assert re.fullmatch(r"exact, whole test set \([0-9,]+ lines, click rate [0-9.]+\), the "
                        r"model's own probability: AUC [0-9.]+, log loss [0-9.]+, accuracy at "
                        r'0.5 [0-9.]+', fast[3][2])
    assert fast[2]['framework'] == 'torch' and fast[2]['model'] == model


def test_torch_bad_settings_and_devices(movielens):
    with pytest.raises(ValueError, match='drop_rate must be a number in'):
        tt.train_deepfm(drop_rate=1.5, data_dir=movielens)
    # Two devices on a CPU machine can only be the CPU twice, which the device check refuses
    # before the fast path's own one-device rule is reached.
    with pytest.raises(ValueError, match='names a device twice'):
        tt.train_fm(fast=True, devices=[torch.device('cpu')] * 2, data_dir=movielens)


@pytest.mark.parametrize('section', ['CTR', 'FM', 'DEEPFM'])
def test_the_sections_cells_in_the_pytorch_tab(tmp_path, monkeypatch, section):
    """The PyTorch notebooks' translation of the book's cells (``book_ctr_cells.TORCH_*``), on
    MovieLens click data, with the tab's classes where the notebooks show them; the book's 30
    epochs are cut to 2 (the calls are recorded)."""
    folder = synthetic.write_ml100k(str(tmp_path / 'ml'), num_users=40, num_items=30,
                                    density=0.6, seed=4)
    ctr_files.write_side_files(folder, 40, 30, seed=4)
    monkeypatch.setenv(fetch.ENV_DATA, folder)
    calls = []

    def two_epochs(net, train_iter, test_iter, loss, trainer, num_epochs, *args, **kwargs):
        calls.append(num_epochs)
        return classification.train_ch13(net, train_iter, test_iter, loss, trainer, 2, *args,
                                         progress=False, plot=False, **kwargs)
    monkeypatch.setattr(tt, 'train_ch13', two_epochs)
    namespace = {'CTRDataset': tt.CTRDataset, 'FM': tt.FM, 'DeepFM': tt.DeepFM}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in book_ctr_cells.on_movielens(getattr(book_ctr_cells, 'TORCH_' + section)):
            exec(compile(cell, '<cell>', 'exec'), namespace)
    lines = out.getvalue().splitlines()
    if section == 'CTR':
        features, label = namespace['train_data'][0]
        assert features.dtype == torch.int64 and features.shape == (8,) and label.shape == (1,)
        assert calls == []
        return
    assert re.fullmatch(r'loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+', lines[-2])
    assert "examples/sec on [device(type='cpu')]" in lines[-1]
    assert calls == [30] and len(namespace['train_data'].field_dims) == 8
    assert isinstance(namespace['net'], tt.FM if section == 'FM' else tt.DeepFM)
