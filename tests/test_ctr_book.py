"""The feature-rich sections in the MXNet tab against the book: ``CTRDataset`` and
``train_ch13`` with its helpers against d2l 1.0.3's (the oracle), ``FM``/``DeepFM`` as the
book prints them, the fast twins giving the same numbers on the same batches, and the book's
cells running with only their import line changed (on generated files)."""
import ast
import contextlib
import inspect
import io
import os
import re
import textwrap

import numpy as onp
import pytest

pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, init, np  # noqa: E402

import book_ctr_cells  # noqa: E402
import ctr_files  # noqa: E402
import synthetic  # noqa: E402
from conftest import book_d2l, needs_d2l, own_cache  # noqa: E402
from d2l_recsys import ctr_runs, fetch, hub  # noqa: E402
from d2l_recsys import mxnet as ours  # noqa: E402
from d2l_recsys.mxnet import classification, ctr as ctr_tab  # noqa: E402


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    own_cache(tmp_path, monkeypatch)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('ctr'))
    return (ctr_files.write_ctr(os.path.join(folder, 'train.csv'), 700, seed=0),
            ctr_files.write_ctr(os.path.join(folder, 'test.csv'), 200, seed=1))


def tree(source):
    return ast.dump(ast.parse(textwrap.dedent(source)))


# --- the book's code, verbatim -----------------------------------------------------------------

@needs_d2l
def test_ctr_dataset_is_the_books_code():
    d2l = book_d2l()
    assert tree(inspect.getsource(ctr_tab.CTRDataset)) == tree(inspect.getsource(d2l.CTRDataset))


@pytest.mark.parametrize('name, cell', [('FM', book_ctr_cells.FM[1]),
                                        ('DeepFM', book_ctr_cells.DEEPFM[1])])
def test_models_are_the_books_cells(name, cell):
    """The book's cell, and one line of the package's: the constructor's argument check."""
    book, checks = book_ctr_cells.without_package_check(inspect.getsource(getattr(ours, name)))
    assert checks == 1
    assert tree(book) == tree(cell)


@needs_d2l
def test_data_hub_entry_is_the_books():
    assert ours.DATA_HUB['ctr'] == book_d2l().DATA_HUB['ctr']


# --- CTRDataset equals d2l's -------------------------------------------------------------------

def _assert_same_dataset(a, b):
    assert a.count == b.count == len(a) == len(b)
    assert a.feat_mapper == b.feat_mapper and a.defaults == b.defaults
    assert [list(m) for m in a.feat_mapper.values()] == [list(m) for m in b.feat_mapper.values()]
    assert a.field_dims.dtype == b.field_dims.dtype
    assert (a.field_dims.asnumpy() == b.field_dims.asnumpy()).all()
    assert a.offsets.dtype == b.offsets.dtype
    assert (a.offsets.asnumpy() == b.offsets.asnumpy()).all()
    for i in range(a.count):
        (xa, ya), (xb, yb) = a[i], b[i]
        xa = xa.asnumpy() if hasattr(xa, 'asnumpy') else xa
        assert xa.dtype == xb.dtype and (xa == xb.asnumpy()).all(), i
        assert ya == yb and type(ya[0]) is type(yb[0]), i


@needs_d2l
@pytest.mark.parametrize('cls', [ctr_tab.CTRDataset, ctr_tab.CTRDatasetFast])
def test_ctr_dataset_equals_d2ls(files, cls):
    d2l = book_d2l()
    train, test = files
    book = d2l.CTRDataset(train)
    mine = cls(train)
    _assert_same_dataset(mine, book)
    book_test = d2l.CTRDataset(test, feat_mapper=book.feat_mapper, defaults=book.defaults)
    mine_test = cls(test, feat_mapper=mine.feat_mapper, defaults=mine.defaults)
    _assert_same_dataset(mine_test, book_test)
    small = cls(train, min_threshold=30, num_feat=34)
    assert (small.field_dims.asnumpy() <= mine.field_dims.asnumpy()).all()
    _assert_same_dataset(small, d2l.CTRDataset(train, min_threshold=30))


def test_fast_dataset_batches_as_the_books(files):
    book, fast = ctr_tab.CTRDataset(files[0]), ctr_tab.CTRDatasetFast(files[0])
    assert fast.features.shape == (700, 34) and fast.labels.shape == (700, 1)
    batches = []
    for data in (book, fast):
        onp.random.seed(3)
        batches.append(list(gluon.data.DataLoader(data, shuffle=True, last_batch='rollover',
                                                  batch_size=64)))
    assert len(batches[0]) == len(batches[1]) == 700 // 64
    for (xa, ya), (xb, yb) in zip(*batches):
        assert type(xa) is type(xb) and xa.dtype == xb.dtype and ya.shape == yb.shape == (64, 1)
        assert (xa.asnumpy() == xb.asnumpy()).all() and (ya.asnumpy() == yb.asnumpy()).all()


# --- train_ch13 and its helpers equal d2l's ------------------------------------------------------

@needs_d2l
def test_accuracy_and_evaluation_equal_d2ls():
    d2l = book_d2l()
    y = np.array([[1.], [0.], [1.], [0.]])
    p = np.array([[1.], [0.2], [0.7], [0.]])
    assert ours.accuracy(p, y) == d2l.accuracy(p, y) == 2.0     # equality, not p > 0.5
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = np.array([1, 1, 1])
    assert ours.accuracy(logits, labels) == d2l.accuracy(logits, labels) == 2.0
    net = ours.FM([3, 4], 2)
    net.initialize(init.Xavier(), ctx=[mx.cpu(0), mx.cpu(1)])
    x = np.array(onp.random.RandomState(0).randint(0, 7, (10, 2)).astype('float32'))
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(x, np.ones((10, 1))), batch_size=4,
                                 last_batch='discard')
    assert ours.evaluate_accuracy_gpus(net, data) == d2l.evaluate_accuracy_gpus(net, data)


class Recorder:
    """Stands in for d2l's Animator (which draws with IPython): the points only."""
    def __init__(self, *args, **kwargs):
        self.points = []

    def add(self, x, y):
        self.points.append((x, tuple(y)))


def _fm_run(train_fn, files, devices, epochs=3, **kwargs):
    d2l = book_d2l()
    train = ctr_tab.CTRDatasetFast(files[0], order='stable')
    test = ctr_tab.CTRDatasetFast(files[1], train.feat_mapper, train.defaults)
    mx.random.seed(7)
    onp.random.seed(7)
    net = ours.FM(train.field_dims, num_factors=4)
    net.initialize(init.Xavier(), ctx=devices)
    train_iter = gluon.data.DataLoader(train, shuffle=True, last_batch='rollover',
                                       batch_size=64)
    test_iter = gluon.data.DataLoader(test, shuffle=False, last_batch='rollover', batch_size=64)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.02})
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = train_fn(net, train_iter, test_iter, loss, trainer, epochs, devices, **kwargs)
    params = {k: v.data(devices[0]).asnumpy() for k, v in
              net._collect_params_with_prefix().items()}
    return out.getvalue().splitlines(), params, result


@needs_d2l
@pytest.mark.parametrize('devices', [[mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]])
def test_train_ch13_equals_d2ls(files, devices, monkeypatch):
    d2l = book_d2l()
    monkeypatch.setattr(d2l, 'Animator', Recorder)
    animators = []
    monkeypatch.setattr(d2l, 'Animator', lambda *a, **k: animators.append(Recorder()) or
                        animators[-1])
    book_lines, book_params, _ = _fm_run(d2l.train_ch13, files, devices)
    mine = Recorder()
    lines, params, history = _fm_run(classification.train_ch13, files, devices, plot=mine,
                                     progress=False)
    assert lines[0] == book_lines[0] and lines[0].startswith('loss ')
    assert lines[1].endswith(f'examples/sec on {devices}')
    assert book_lines[1].endswith(f'examples/sec on {devices}')
    assert mine.points == animators[0].points and len(mine.points) > 3
    for k in book_params:
        assert (params[k] == book_params[k]).all(), k
    assert len(history['train_loss']) == 3
    assert f'{history["train_loss"][-1]:.3f}' in lines[0]


def test_train_ch13_with_fewer_than_five_batches_and_no_batch(files):
    lines, _, history = _fm_run(classification.train_ch13, files, [mx.cpu()], epochs=1,
                                plot=False, progress=False)
    assert history['epoch'] == [1]
    train = ctr_tab.CTRDatasetFast(files[0])
    net = ours.FM(train.field_dims, 2)
    net.initialize()
    empty = gluon.data.DataLoader(train, batch_size=1000, last_batch='rollover')
    with pytest.raises(ValueError, match='train_iter yielded no batch in epoch 1'):
        classification.train_ch13(net, empty, empty, gluon.loss.SigmoidBinaryCrossEntropyLoss(),
                                  gluon.Trainer(net.collect_params(), 'adam'), 1, [mx.cpu()],
                                  plot=False, progress=False)


# --- the fast path: the same numbers on the same batches ------------------------------------

def _run_model(model, fast, movielens, devices='cpu', epochs=3, **kwargs):
    train = ours.train_fm if model == 'fm' else ours.train_deepfm
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        net, history, info = train(seed=5, fast=fast, data_dir=movielens, num_epochs=epochs,
                                   batch_size=64, devices=devices, plot=False, progress=False,
                                   **kwargs)
    return net, history, info, out.getvalue().splitlines()


@pytest.fixture(scope='module')
def movielens(tmp_path_factory):
    folder = synthetic.write_ml100k(str(tmp_path_factory.mktemp('ml')), num_users=40,
                                    num_items=30, density=0.6, seed=4)
    ctr_files.write_side_files(folder, 40, 30, seed=4)
    return folder


@pytest.mark.parametrize('model', ['fm', 'deepfm'])
@pytest.mark.parametrize('devices', ['cpu', 'cpu:0,cpu:1'])
def test_fast_path_gives_the_same_numbers(movielens, model, devices):
    faithful = _run_model(model, False, movielens, devices)
    fast = _run_model(model, True, movielens, devices)
    for key in ('train_loss', 'train_acc', 'test_acc', 'test_auc', 'test_log_loss',
                'test_accuracy'):
        assert faithful[1][key] == fast[1][key], key
    assert faithful[3][0] == fast[3][0] and faithful[3][2] == fast[3][2]
    for (k, a), b in zip(faithful[0]._collect_params_with_prefix().items(),
                         fast[0]._collect_params_with_prefix().values()):
        assert (a.data().asnumpy() == b.data().asnumpy()).all(), k
    assert type(fast[0]).__name__ == ('HybridFM' if model == 'fm' else 'HybridDeepFM')


def test_experiment_prints_the_books_lines_and_the_exact_ones(movielens):
    net, history, info, lines = _run_model('fm', True, movielens)
    assert re.fullmatch(r'loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+', lines[0])
    assert re.fullmatch(r'[0-9.]+ examples/sec on \[cpu\(0\)\]', lines[1])
    assert re.fullmatch(r"exact, whole test set \([0-9,]+ lines, click rate [0-9.]+\), the "
                        r"model's own probability: AUC [0-9.]+, log loss [0-9.]+, accuracy at "
                        r'0.5 [0-9.]+', lines[2])
    assert history['test_exact']['auc'] == history['test_auc'][-1]
    assert 'second sigmoid' in history['kinds']['train_loss']
    assert info['model'] == 'fm' and info['hparams']['num_factors'] == 20
    assert info['hparams']['field_dims'] == [int(d) for d in net.embedding.weight.shape[:1]] \
        or sum(info['hparams']['field_dims']) == net.embedding.weight.shape[0]
    assert info['num_users'] == 40 and len(info['train_interactions']['users']) == \
        info['train_size']
    # The exact numbers are those of the model's own probabilities on the whole test set.
    data = ctr_runs.read_click_data('ml100k-ctr', movielens)
    probs = classification.predict_clicks(net, data.test.features)
    assert ctr_runs.exact_metrics(probs, data.test.labels)['test_auc'] == \
        history['test_auc'][-1]


def test_the_same_seed_gives_the_same_run_and_order_book_works(movielens):
    a = _run_model('deepfm', True, movielens, epochs=2)[1]
    b = _run_model('deepfm', True, movielens, epochs=2)[1]
    assert a['train_loss'] == b['train_loss'] and a['test_auc'] == b['test_auc']
    c = _run_model('fm', True, movielens, epochs=1, order='book')[2]
    assert c['feature_order'] == 'book'


@pytest.mark.parametrize('kwargs, words', [
    (dict(lr=0), 'lr must be a finite positive number'),
    (dict(num_factors=0), 'num_factors must be a positive integer'),
    (dict(batch_size=10 ** 6), 'batch_size 1000000 is larger than the'),
    (dict(dataset='criteo'), "dataset must be 'ml100k-ctr' or 'ctr'"),
    (dict(num_feat=3), "num_feat must be 8"),
])
def test_bad_settings_are_refused_before_training(movielens, kwargs, words):
    args = dict(seed=0, data_dir=movielens, num_epochs=1, plot=False, progress=False,
                batch_size=64)
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        ours.train_fm(**args)
    with pytest.raises(ValueError, match='mlp_dims must be one or more positive integers'):
        ours.train_deepfm(mlp_dims=(10, -1), data_dir=movielens)


def test_a_diverging_run_stops_with_one_line(movielens):
    with pytest.raises(FloatingPointError, match=r'epoch 1: the loss is nan'):
        _run_model('fm', True, movielens, lr=1e30, epochs=2)


# --- the book's cells, with only the import line changed ---------------------------------------

@pytest.fixture
def two_epochs(monkeypatch):
    """The cells call ``d2l.train_ch13`` with the book's 30 epochs; the tests train 2 of them
    (the calls are recorded)."""
    calls = []

    def short(net, train_iter, test_iter, loss, trainer, num_epochs, *args, **kwargs):
        calls.append(num_epochs)
        return classification.train_ch13(net, train_iter, test_iter, loss, trainer, 2, *args,
                                         progress=False, **kwargs)
    monkeypatch.setattr(ours, 'train_ch13', short)
    return calls


def run_cells(cells):
    namespace = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in cells:
            exec(compile(cell, '<cell>', 'exec'), namespace)
    return namespace, out.getvalue().splitlines()


def test_the_books_cells_run_on_the_ad_format(tmp_path, monkeypatch, two_epochs):
    folder = ctr_files.write_ctr_folder(str(tmp_path / 'ctr'), n_train=4200, n_test=2100)
    monkeypatch.setenv(hub.ENV_CTR, folder)     # a copy of the ad data given to the hub
    ns, _ = run_cells(book_ctr_cells.CTR)
    item = ns['train_data'][0]
    assert ns['data_dir'] == folder and item[0].shape == (34,) and item[1] in ([0.0], [1.0])
    mx.random.seed(0)
    ns, lines = run_cells(book_ctr_cells.FM)
    assert re.fullmatch(r'loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+', lines[-2])
    assert lines[-1].endswith('examples/sec on [cpu(0)]')
    assert two_epochs == [30] and ns['net'].embedding.weight.shape[1] == 20


def test_the_deepfm_cells_run_on_movielens_with_its_name_and_fields(tmp_path, monkeypatch,
                                                                    two_epochs):
    # Enough ratings that the test file (each user's latest 10%) fills a batch of 2048.
    folder = synthetic.write_ml100k(str(tmp_path / 'ml'), num_users=125, num_items=170,
                                    density=0.98, seed=1)
    ctr_files.write_side_files(folder, 125, 170, seed=1)
    monkeypatch.setenv(fetch.ENV_DATA, folder)
    ns, lines = run_cells(book_ctr_cells.on_movielens(book_ctr_cells.DEEPFM))
    assert ns['test_data'].count >= 2048 and len(ns['field_dims']) == 8
    assert re.fullmatch(r'loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+', lines[-2])
    assert two_epochs == [30]
    ns, _ = run_cells(book_ctr_cells.on_movielens(book_ctr_cells.CTR))
    assert ns['train_data'][0][0].shape == (8,)
