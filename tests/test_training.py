"""The training loop against d2l's (the oracle), data parallelism, learning, seeds, devices,
and the book's cells run against the package. Tiny synthetic data, a few epochs."""
import math
import os
import re
import types
from pathlib import Path

import numpy as onp
import pytest

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402
from mxnet import gluon, np, npx  # noqa: E402

import synthetic  # noqa: E402
from conftest import book_d2l, needs_d2l  # noqa: E402
from d2l_recsys.defaults import BOOK
from d2l_recsys.mxnet import devices as mx_devices, experiments
from d2l_recsys.mxnet.autorec import AutoRec, autorec_evaluator
from d2l_recsys.mxnet.devices import check_gpu, parse_devices, try_all_gpus
from d2l_recsys.mxnet.mf import MF, evaluator, rmse_exact, train_recsys_rating
from d2l_recsys.plotting import Animator

d2l = book_d2l()   # the oracle: the book's own functions, or None where d2l is absent
npx.set_np()
TWO = [mx.cpu(0), mx.cpu(1)]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """40 users x 300 items, about 6,000 ratings in u.data layout (AutoRec needs many items
    to learn from rows of only 40 users)."""
    return synthetic.write_ml100k(tmp_path_factory.mktemp('tiny'), num_users=40,
                                  num_items=300, density=0.5, seed=0)


def _mf_iters(batch_size=64, seed=0):
    df = synthetic.ratings(num_users=30, num_items=25, seed=seed)
    u, i, r = [np.array(df[c].to_numpy() - d) for c, d in
               (('user_id', 1), ('item_id', 1), ('rating', 0))]
    r = r.astype('float32')
    n = int(len(df) * 0.8)
    train = gluon.data.ArrayDataset(u[:n], i[:n], r[:n])
    test = gluon.data.ArrayDataset(u[n:], i[n:], r[n:])
    return (gluon.data.DataLoader(train, shuffle=True, last_batch='rollover',
                                  batch_size=batch_size),
            gluon.data.DataLoader(test, batch_size=batch_size))


def _params(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def _run_mf(train_fn, devices, num_epochs=3, seed=0, **extra):
    """The book's MF cell with our iterators; returns (net, whatever train_fn returns)."""
    train_iter, test_iter = _mf_iters()
    mx.random.seed(seed)
    onp.random.seed(seed)
    net = MF(4, 30, 25)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.02, 'wd': 1e-5})
    out = train_fn(net, train_iter, test_iter, loss, trainer, num_epochs, devices, evaluator,
                   **extra)
    return net, out


def _autorec_setup(devices, dropout=0.05, seed=0, batch_size=16):
    m = onp.zeros((48, 20), dtype=onp.float32)
    df = synthetic.ratings(num_users=20, num_items=48, seed=seed)
    m[df.item_id - 1, df.user_id - 1] = df.rating
    test = onp.zeros_like(m)
    rng = onp.random.RandomState(seed)
    held = (m > 0) & (rng.uniform(size=m.shape) < 0.15)
    test[held], m[held] = m[held], 0
    train_inter, test_inter = np.array(m), np.array(test)
    mx.random.seed(seed)
    onp.random.seed(seed)
    train_iter = gluon.data.DataLoader(train_inter, shuffle=True, last_batch='rollover',
                                       batch_size=batch_size)
    test_iter = gluon.data.DataLoader(np.array(train_inter), shuffle=False,
                                      last_batch='keep', batch_size=1024)
    net = AutoRec(8, 20, dropout=dropout)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01, 'wd': 1e-5})
    return net, train_iter, test_iter, test_inter, gluon.loss.L2Loss(), trainer


# --- the oracle: d2l's own train_recsys_rating ------------------------------------------------
def _book_line(out):
    # d2l's Animator displays "<Figure ...>" and clear-screen codes in a console: skip them.
    lines = [line for line in re.split(r'[\r\n]|\x1b\[2K', out) if 'train loss' in line]
    assert len(lines) == 1, out
    return lines[0]


@needs_d2l
@pytest.mark.parametrize('devices', [[mx.cpu(0)], TWO])
def test_same_result_and_printed_lines_as_d2l_for_mf(devices, capsys):
    book_net, _ = _run_mf(d2l.train_recsys_rating, devices)
    book_out = capsys.readouterr().out
    net, history = _run_mf(train_recsys_rating, devices, plot=False, progress=False)
    ours = capsys.readouterr().out.splitlines()
    assert ours[0] == _book_line(book_out) and ours[0].startswith('train loss ')
    assert re.fullmatch(r'[0-9.]+ examples/sec on ' + re.escape(str(devices)), ours[1])
    assert len(ours) == 2
    for name, value in _params(book_net).items():
        assert onp.allclose(_params(net)[name], value, rtol=1e-6, atol=1e-7), name
    assert history['devices'] == [str(d) for d in devices]
    assert f"{history['printed_train_loss']:.3f}" in ours[0]
    assert f"{history['test_rmse'][-1]:.3f}" in ours[0]


@needs_d2l
def test_same_result_as_d2l_for_autorec(capsys):
    net, train_iter, test_iter, test_inter, loss, trainer = _autorec_setup([mx.cpu()])
    d2l.train_recsys_rating(net, train_iter, test_iter, loss, trainer, 4, [mx.cpu()],
                            autorec_evaluator, inter_mat=test_inter)
    book = _book_line(capsys.readouterr().out)
    book_params = _params(net)
    net, train_iter, test_iter, test_inter, loss, trainer = _autorec_setup([mx.cpu()])
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer, 4, [mx.cpu()],
                                  autorec_evaluator, inter_mat=test_inter, progress=False)
    assert capsys.readouterr().out.splitlines()[0] == book
    for name, value in book_params.items():
        assert onp.allclose(_params(net)[name], value, rtol=1e-6, atol=1e-7), name
    assert len(history['test_rmse']) == 4


# --- data parallelism -------------------------------------------------------------------------
def test_two_devices_give_the_same_mf_parameters_as_one(capsys):
    one, h1 = _run_mf(train_recsys_rating, [mx.cpu(0)], num_epochs=2, progress=False)
    two, h2 = _run_mf(train_recsys_rating, TWO, num_epochs=2, progress=False)
    p1, p2 = _params(one), _params(two)
    start = MF(4, 30, 25)
    mx.random.seed(0)
    start.initialize(init=mx.init.Normal(0.01))
    moved = max(float(onp.abs(p1[k] - v).max())
                for k, v in _params(start).items())
    assert moved > 1e-2   # the parameters did change, so agreeing below means something
    for name in p1:
        assert onp.allclose(p1[name], p2[name], rtol=1e-4, atol=1e-6), name
    for ctx in TWO:   # every device holds the same, updated copy
        assert onp.array_equal(two.P.weight.data(ctx).asnumpy(), p2['P.weight'])
    # (The book's evaluator averages per-shard RMSEs, so it differs with the device count;
    # the exact RMSE does not.)
    test_iter = _mf_iters()[1]
    assert rmse_exact(one, test_iter, [mx.cpu(0)]) == pytest.approx(
        rmse_exact(two, test_iter, TWO), rel=1e-5)


def test_two_devices_give_the_same_autorec_parameters_as_one(capsys):
    runs = []
    for devices in ([mx.cpu(0)], TWO):
        net, train_iter, test_iter, test_inter, loss, trainer = _autorec_setup(
            devices, dropout=0.0)   # dropout masks would differ with the shard sizes
        train_recsys_rating(net, train_iter, test_iter, loss, trainer, 3, devices,
                            autorec_evaluator, inter_mat=test_inter, progress=False)
        runs.append(_params(net))
    for name in runs[0]:
        assert onp.allclose(runs[0][name], runs[1][name], rtol=1e-4, atol=1e-6), name


# --- learning on tiny data --------------------------------------------------------------------
def _global_mean_rmse(data_dir, info):
    """RMSE of predicting the training mean for every held-out rating."""
    df = synthetic_frame(data_dir)
    tr = info['train_interactions']
    train_pairs = set(zip(tr['users'].tolist(), tr['items'].tolist()))
    test = [r for u, i, r in zip(df.user_id - 1, df.item_id - 1, df.rating)
            if (u, i) not in train_pairs]
    assert len(test) == info['test_size']
    mean = float(tr['ratings'].mean())
    return math.sqrt(sum((r - mean) ** 2 for r in test) / len(test))


def synthetic_frame(data_dir):
    import pandas as pd
    return pd.read_csv(Path(data_dir) / 'u.data', sep='\t',
                       names=['user_id', 'item_id', 'rating', 'timestamp'])


@pytest.mark.parametrize('split_mode', ['seq-aware', 'random'])
def test_mf_learns(tiny, split_mode, capsys):
    net, history, info = experiments.train_mf(
        num_factors=5, lr=0.05, batch_size=64, num_epochs=8, split_mode=split_mode,
        devices='cpu', seed=0, data_dir=tiny, plot=False)
    assert history['train_loss'][-1] < 0.3 * history['train_loss'][0]
    baseline = _global_mean_rmse(tiny, info)
    assert history['test_rmse_exact'] < 0.75 * baseline, (history, baseline)
    assert info['num_users'] == 40 and info['num_items'] == 300
    assert info['test_size'] == (40 if split_mode == 'seq-aware' else info['test_size'])
    assert info['train_size'] + info['test_size'] == len(synthetic_frame(tiny))


def test_autorec_learns(tiny, capsys):
    net, history, info = experiments.train_autorec(
        num_hidden=20, lr=0.01, wd=0.0, batch_size=8, num_epochs=15, devices='cpu', seed=0,
        data_dir=tiny, plot=False)
    assert history['train_loss'][-1] < 0.5 * history['train_loss'][0]
    baseline = _global_mean_rmse(tiny, info)
    assert history['test_rmse_exact'] < 0.8 * baseline, (history, baseline)
    assert history['test_rmse_exact'] == pytest.approx(history['test_rmse'][-1], rel=1e-5)


def test_user_based_autorec_trains(tiny, capsys):
    net, history, info = experiments.train_autorec(
        num_hidden=10, lr=0.01, batch_size=8, num_epochs=2, devices='cpu', seed=0,
        data_dir=tiny, user_based=True, plot=False)
    assert net.decoder.weight.shape == (300, 10)   # rows are users: outputs are items
    assert info['user_based'] is True
    assert math.isfinite(history['test_rmse_exact'])


# --- seeds ------------------------------------------------------------------------------------
def test_same_seed_same_split_and_rmse_on_cpu(tiny, capsys):
    def run(seed, **kw):
        _, h, info = experiments.train_autorec(num_hidden=8, batch_size=16, num_epochs=2,
                                               devices='cpu', seed=seed, data_dir=tiny,
                                               plot=False, **kw)
        return h, info

    (h1, i1), (h2, i2), (h3, i3) = run(7), run(7), run(8)
    for key in ('users', 'items', 'ratings'):
        assert onp.array_equal(i1['train_interactions'][key], i2['train_interactions'][key])
    assert h1['test_rmse'] == h2['test_rmse'] and h1['train_loss'] == h2['train_loss']
    assert not onp.array_equal(i1['train_interactions']['items'][:200],
                               i3['train_interactions']['items'][:200])
    assert h1['test_rmse'] != h3['test_rmse']
    _, m1, _ = experiments.train_mf(num_factors=3, num_epochs=2, devices='cpu', seed=7,
                                    data_dir=tiny, plot=False)
    _, m2, _ = experiments.train_mf(num_factors=3, num_epochs=2, devices='cpu', seed=7,
                                    data_dir=tiny, plot=False)
    assert m1['test_rmse'] == m2['test_rmse'] and m1['test_rmse_exact'] == m2['test_rmse_exact']


def test_set_seed_seeds_all_three():
    import random
    experiments.set_seed(3)
    a = (mx.np.random.uniform(size=3).asnumpy().tolist(), onp.random.rand(), random.random())
    experiments.set_seed(3)
    b = (mx.np.random.uniform(size=3).asnumpy().tolist(), onp.random.rand(), random.random())
    assert a == b
    with pytest.raises(ValueError, match='seed'):
        experiments.set_seed(-1)


# --- the loop's extras ------------------------------------------------------------------------
def test_history_progress_and_headless_figure(tmp_path, capsys):
    _, history = _run_mf(train_recsys_rating, [mx.cpu()], num_epochs=3, plot=False,
                         figure_path=tmp_path / 'curve')
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2   # only the book's two lines, no "Figure(...)"
    assert len(re.findall(r'^epoch \d/3: train loss', err, re.M)) == 3
    assert history['epoch'] == [1, 2, 3]
    for key in ('train_loss', 'test_rmse', 'seconds', 'train_seconds'):
        assert len(history[key]) == 3 and all(math.isfinite(v) for v in history[key])
    assert history['examples_per_sec'] > 0
    assert (tmp_path / 'curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert b'<svg' in (tmp_path / 'curve.svg').read_bytes()[:1000]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]   # no temp files
    _run_mf(train_recsys_rating, [mx.cpu()], num_epochs=1, progress=False)
    assert capsys.readouterr().err == ''


def test_epilogue_options_the_loops_leave_at_their_defaults(capsys):
    # The framework-free epilogue: seconds with other decimals, the closing lines left out.
    from d2l_recsys.experiments import finish_history, new_history, record_epoch
    history = new_history()
    record_epoch(history, 0, 2, onp.float32(0.5), 1.25, 0.0, 0.1, True, digits=2)
    record_epoch(history, 1, 2, 0.25, 1.125, 0.0, 0.1, False)
    assert re.fullmatch(r'epoch 1/2: train loss 0\.500, test RMSE 1\.250, \d+\.\d\d s\n',
                        capsys.readouterr().err)
    assert history['epoch'] == [1, 2] and history['train_loss'] == [0.5, 0.25]
    assert all(type(v) is float for v in history['train_loss'] + history['test_rmse'])
    finish_history(history, 0.75, 1.125, 1000.0, [mx.cpu()], verbose=False)
    assert capsys.readouterr() == ('', '')
    assert history['printed_train_loss'] == 0.75 and history['devices'] == ['cpu(0)']
    assert 'figure' not in history


def test_animator_records_and_saves_without_display(tmp_path, capsys):
    anim = Animator(xlabel='epoch', xlim=[1, 2], legend=['a', 'b'], live=False)
    anim.add(1, (0.5, 1.0))
    anim.add(2, (0.4, 0.9))
    assert anim.X == [[1, 2], [1, 2]] and anim.Y == [[0.5, 0.4], [1.0, 0.9]]
    paths = anim.save(tmp_path / 'fig.png')
    assert [Path(p).name for p in paths] == ['fig.png', 'fig.svg']
    assert capsys.readouterr().out == ''


def test_loop_rejects_unknown_keywords_and_empty_iterators():
    net, train_iter, test_iter, test_inter, loss, trainer = _autorec_setup([mx.cpu()])
    with pytest.raises(TypeError, match='inter_matrix'):
        train_recsys_rating(net, train_iter, test_iter, loss, trainer, 1, [mx.cpu()],
                            autorec_evaluator, inter_matrix=test_inter)
    with pytest.raises(ValueError, match='no batch'):
        train_recsys_rating(net, [], test_iter, loss, trainer, 1, [mx.cpu()],
                            autorec_evaluator, inter_mat=test_inter, progress=False)


# --- devices ----------------------------------------------------------------------------------
def test_parse_devices():
    assert parse_devices('cpu:0,cpu:1') == TWO
    assert parse_devices(' CPU ') == [mx.cpu(0)]
    assert parse_devices(TWO) == TWO
    assert parse_devices('auto') == [mx.cpu()]
    for bad, message in (('tpu:0', "unknown device 'tpu:0'"), ('cpu:x', 'bad device index'),
                         ('cpu:0,cpu:0', 'twice'), ('cpu:-1', 'bad device index'),
                         ('gpu:0', 'no GPU')):
        with pytest.raises(ValueError, match=message):
            parse_devices(bad)


@needs_d2l
def test_try_all_gpus_falls_back_to_cpu(monkeypatch):
    # d2l's returns [] without a GPU, which the book's split_and_load cannot use.
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 0)
    assert d2l.try_all_gpus() == []
    assert try_all_gpus() == [mx.cpu()]


def test_unusable_gpu_gets_a_plain_error(monkeypatch):
    def no_kernels(ctx):
        raise mx.base.MXNetError('[08:00:00] src/operator/x.cu:42: Check failed: '
                                 'err == cudaSuccess (209 vs. 0) : no kernel image is '
                                 'available for execution on the device\nStack trace: ...')
    monkeypatch.setattr(mx_devices, '_probe', no_kernels)
    monkeypatch.setattr(mx_devices, '_compute_capability', lambda i: 'NVIDIA H100, 9.0')
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 1)
    with pytest.raises(RuntimeError) as e:
        try_all_gpus()
    text = str(e.value)
    assert '\n' not in text and 'gpu(0)' in text and 'H100, 9.0' in text
    assert '5.0, 6.0, 7.0, 8.0 and 8.6' in text and 'Hopper' in text
    assert 'no kernel image' in text and '--devices cpu' in text
    monkeypatch.setattr(mx_devices, '_probe', lambda ctx: 8.0)
    assert check_gpu(mx.gpu(0)) == mx.gpu(0)


# --- experiments: arguments and the fast dispatch ---------------------------------------------
def test_experiment_arguments_are_checked(tiny):
    for kwargs, message in ((dict(num_epochs=0), 'num_epochs'), (dict(lr=-1), 'lr'),
                            (dict(split_mode='time'), 'split_mode'),
                            (dict(test_ratio=1.5), 'test_ratio'),
                            (dict(batch_size=63, devices='cpu:0,cpu:1'), 'multiple'),
                            (dict(devices='cpu:9,nope'), 'unknown device')):
        with pytest.raises(ValueError, match=message):
            experiments.train_mf(data_dir=tiny, **kwargs)


def test_fast_trains_on_the_same_settings_and_data(monkeypatch, tiny):
    # One place checks, seeds and reads the data; fast=True only swaps the training.
    calls = []

    def fake_fit(settings, run_data, devices, **kw):
        calls.append((settings, run_data, devices, kw))
        return 'net', {'test_rmse_exact': 1.0}
    monkeypatch.setattr(experiments.fast_path, 'fit_mf', fake_fit)
    monkeypatch.setattr(experiments.fast_path, 'fit_autorec', fake_fit)
    net, history, info = experiments.train_mf(fast=True, seed=4, num_epochs=3, data_dir=tiny,
                                              devices='cpu')
    assert net == 'net' and info['fast'] is True and info['seed'] == 4
    settings, run_data, devices, kw = calls[0]
    assert settings == {**BOOK['mf'], 'num_epochs': 3} and devices == [mx.cpu()]
    assert kw['progress'] is None
    assert history['test_rmse_kind'] == experiments.runs.RUNNING_MEAN
    # (40 users: the book's batch of 256 rows would give no full batch)
    experiments.train_autorec(fast=True, user_based=True, data_dir=tiny, devices='cpu',
                              seed=4, batch_size=32)
    settings, run_data2, _, kw = calls[1]
    assert settings == {**BOOK['autorec'], 'batch_size': 32} and kw['user_based'] is True
    # same seed, same split as the faithful path's loader draws
    experiments.set_seed(4)
    *_, faithful = experiments.load_autorec_data(data_dir=tiny)
    assert faithful.train[:3] == run_data2.train[:3]


# --- the book's cells, unchanged, against the package ----------------------------------------
MF_CELL = '''
devices = d2l.try_all_gpus()
num_users, num_items, train_iter, test_iter = d2l.split_and_load_ml100k(
    test_ratio=0.1, batch_size=512)
net = MF(30, num_users, num_items)
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
lr, num_epochs, wd, optimizer = 0.002, 20, 1e-5, 'adam'
loss = gluon.loss.L2Loss()
trainer = gluon.Trainer(net.collect_params(), optimizer,
                        {"learning_rate": lr, 'wd': wd})
train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                    devices, evaluator)
'''
MF_PREDICT_CELL = '''
scores = net(np.array([20], dtype='int', ctx=devices[0]),
             np.array([30], dtype='int', ctx=devices[0]))
'''
AUTOREC_CELL = '''
devices = d2l.try_all_gpus()
# Load the MovieLens 100K dataset
df, num_users, num_items = d2l.read_data_ml100k()
train_data, test_data = d2l.split_data_ml100k(df, num_users, num_items)
_, _, _, train_inter_mat = d2l.load_data_ml100k(train_data, num_users,
                                                num_items)
_, _, _, test_inter_mat = d2l.load_data_ml100k(test_data, num_users,
                                               num_items)
train_iter = gluon.data.DataLoader(train_inter_mat, shuffle=True,
                                   last_batch="rollover", batch_size=256,
                                   num_workers=d2l.get_dataloader_workers())
test_iter = gluon.data.DataLoader(np.array(train_inter_mat), shuffle=False,
                                  last_batch="keep", batch_size=1024,
                                  num_workers=d2l.get_dataloader_workers())
# Model initialization, training, and evaluation
net = AutoRec(500, num_users)
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
lr, num_epochs, wd, optimizer = 0.002, 25, 1e-5, 'adam'
loss = gluon.loss.L2Loss()
trainer = gluon.Trainer(net.collect_params(), optimizer,
                        {"learning_rate": lr, 'wd': wd})
d2l.train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices, evaluator, inter_mat=test_inter_mat)
'''
def _book_namespace(monkeypatch, data_dir):
    """What the book's cells see with ``from d2l_recsys import mxnet as d2l``: the MXNet tab,
    whose data functions find ``data_dir`` (no download) and whose try_all_gpus() gives two
    CPU devices (so the cells run data-parallel here)."""
    from d2l_recsys import fetch
    from d2l_recsys import mxnet as tab
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kw: data_dir)
    shim = types.ModuleType('d2l_shim')
    shim.__dict__.update(vars(tab))
    shim.try_all_gpus = lambda: list(TWO)
    return {'d2l': shim, 'mx': mx, 'np': np, 'npx': npx, 'gluon': gluon}


def test_book_mf_cell_runs_against_the_package(monkeypatch, tiny, capsys):
    from d2l_recsys.mxnet.mf import MF as PackageMF
    ns = _book_namespace(monkeypatch, tiny)
    ns.update(MF=PackageMF, evaluator=evaluator, train_recsys_rating=train_recsys_rating)
    mx.random.seed(0)
    exec(MF_CELL, ns)
    exec(MF_PREDICT_CELL, ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('train loss ') and out[1].endswith('on [cpu(0), cpu(1)]')
    assert ns['scores'].shape == (1,) and 1 <= float(ns['scores'][0]) <= 5


def test_book_autorec_cell_runs_against_the_package(monkeypatch, tmp_path, capsys):
    # The cell's batch of 256 items needs at least 256 items; its DataLoaders use worker
    # processes (d2l.get_dataloader_workers()).
    folder = synthetic.write_ml100k(tmp_path, num_users=30, num_items=260, density=0.3)
    ns = _book_namespace(monkeypatch, folder)
    ns.update(AutoRec=AutoRec, evaluator=autorec_evaluator)
    mx.random.seed(0)
    exec(AUTOREC_CELL, ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('train loss ') and out[1].endswith('on [cpu(0), cpu(1)]')
    rmse = float(re.search(r'test RMSE ([0-9.]+)', out[0]).group(1))
    assert rmse < 1.6   # from ~3.4 (predicting zeros) towards the ratings' spread


# --- non-finite settings and losses, late errors made early ----------------------------------
@pytest.mark.parametrize('fast', [False, True])
@pytest.mark.parametrize('kwargs, message', [
    (dict(lr=float('inf')), 'lr must be a finite positive number'),
    (dict(lr=float('nan')), 'lr must be a finite positive number'),
    (dict(wd=float('inf')), 'wd must be a finite number'),
    (dict(batch_size=float('inf')), 'batch_size must be a positive integer'),
    (dict(num_epochs=float('nan')), 'num_epochs must be a positive integer'),
    (dict(test_ratio=float('nan')), 'test_ratio must be between 0 and 1'),
    (dict(num_factors=float('inf')), 'num_factors must be a positive integer'),
])
def test_non_finite_arguments_are_refused(tiny, fast, kwargs, message, capsys):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=message):
        experiments.train_mf(data_dir=tiny, num_epochs=kwargs.pop('num_epochs', 1),
                             devices='cpu', fast=fast, plot=False, **kwargs)
    assert 'epoch 1/' not in capsys.readouterr().err   # refused before training


@pytest.mark.parametrize('fast', [False, True])
@pytest.mark.parametrize('model', ['mf', 'autorec'])
def test_a_diverging_run_stops_at_the_first_non_finite_loss(tiny, fast, model, capsys):
    train = experiments.train_mf if model == 'mf' else experiments.train_autorec
    with pytest.raises(FloatingPointError, match=r'training stopped in epoch 1: the loss is '
                                                 r'(nan|inf), not a finite number; the '
                                                 r'learning rate \(1e\+30\)'):
        train(data_dir=tiny, lr=1e30, num_epochs=3, batch_size=8, devices='cpu', seed=0,
              fast=fast, plot=False)
    assert 'epoch 2/' not in capsys.readouterr().err


def test_the_books_loop_refuses_no_devices_and_a_diverging_run():
    net, train_iter, test_iter, test_inter, loss, trainer = _autorec_setup([mx.cpu()])
    with pytest.raises(ValueError, match='devices is empty'):
        train_recsys_rating(net, train_iter, test_iter, loss, trainer, 1, [],
                            autorec_evaluator, inter_mat=test_inter, progress=False)
    trainer.set_learning_rate(1e30)
    with pytest.raises(FloatingPointError, match='training stopped in epoch 1'):
        train_recsys_rating(net, train_iter, test_iter, loss, trainer, 2, [mx.cpu()],
                            autorec_evaluator, inter_mat=test_inter, progress=False)


@pytest.mark.parametrize('fast', [False, True])
def test_split_and_batch_size_are_checked_before_training(tiny, fast, capsys):
    with pytest.raises(ValueError, match=r'random split with test_ratio 1e-09 leaves no test '
                                         r'ratings \(of [\d,]+\)'):
        experiments.train_mf(data_dir=tiny, split_mode='random', test_ratio=1e-9,
                             devices='cpu', fast=fast, plot=False)
    with pytest.raises(ValueError, match=r'batch_size 1000000 is larger than the [\d,]+ '
                                         r'training rows \(ratings\)'):
        experiments.train_mf(data_dir=tiny, batch_size=1000000, devices='cpu', fast=fast,
                             plot=False)
    with pytest.raises(ValueError, match=r'batch_size 301 is larger than the 300 training '
                                         r'rows \(items\)'):
        experiments.train_autorec(data_dir=tiny, batch_size=301, devices='cpu', fast=fast,
                                  plot=False)
    assert 'epoch 1/' not in capsys.readouterr().err


def test_empty_loader_names_batch_size_and_rows():
    train_set = gluon.data.ArrayDataset(np.zeros((5, 3)))
    loader = gluon.data.DataLoader(train_set, batch_size=8, last_batch='discard')
    net, _, test_iter, test_inter, loss, trainer = _autorec_setup([mx.cpu()])
    with pytest.raises(ValueError, match=r'no batch \(batch size 8, 5 training rows\)'):
        train_recsys_rating(net, loader, test_iter, loss, trainer, 1, [mx.cpu()],
                            autorec_evaluator, inter_mat=test_inter, progress=False)


# --- every way data comes in gets the same checks --------------------------------------------
def test_training_data_is_checked_like_any_other(tiny, tmp_path, capsys):
    import shutil
    import zipfile
    from d2l_recsys import fetch
    df = synthetic_frame(tiny)
    dup = tmp_path / 'dup'
    dup.mkdir()
    df.iloc[list(range(len(df))) + [3]].to_csv(dup / 'u.data', sep='\t', header=False,
                                               index=False)
    with pytest.raises(fetch.DataError, match=r'rated item \d+ twice'):
        experiments.train_mf(data_dir=dup, devices='cpu', num_epochs=1, plot=False)
    other = tmp_path / 'ratings.csv'
    shutil.copy(Path(tiny) / 'u.data', other)
    with pytest.raises(fetch.DataError, match='neither a zip archive nor a file named u.data'):
        experiments.train_mf(data_dir=other, devices='cpu', num_epochs=1, plot=False)
    capsys.readouterr()
    # A folder holding only ml-100k.zip, or ml-100k/u.data, is found as `data` finds it.
    nested = tmp_path / 'nested'
    shutil.copytree(tiny, nested / 'ml-100k')
    zipped = tmp_path / 'zipped'
    zipped.mkdir()
    with zipfile.ZipFile(zipped / 'ml-100k.zip', 'w') as zf:
        zf.write(Path(tiny) / 'u.data', 'ml-100k/u.data')
    cache = tmp_path / 'cache'
    for folder in (nested, zipped):
        with pytest.MonkeyPatch.context() as m:
            m.setenv(fetch.ENV_CACHE, str(cache))
            _, history, info = experiments.train_mf(data_dir=folder, devices='cpu',
                                                    num_epochs=1, batch_size=64, seed=0,
                                                    plot=False)
        assert math.isfinite(history['test_rmse_exact']) and info['num_users'] == 40
        err = capsys.readouterr().err
        assert 'not the full MovieLens 100K (' in err and 'using it as given' in err
    assert os.listdir(cache) == ['user-data']   # never the cache's own ml-100k


@pytest.mark.parametrize('fast', [False, True])
def test_a_model_too_large_for_memory_is_refused_before_allocating(tiny, fast, capsys):
    with pytest.raises(ValueError, match=r'num_factors 1,000,000,000,000 needs about [\d,]+ GiB '
                                         r'.*this machine has [\d,]+ GiB'):
        experiments.train_mf(data_dir=tiny, num_factors=10 ** 12, devices='cpu', fast=fast,
                             plot=False)
    with pytest.raises(ValueError, match=r'num_hidden 1,000,000,000,000 needs about'):
        experiments.train_autorec(data_dir=tiny, num_hidden=10 ** 12, batch_size=8,
                                  devices='cpu', fast=fast, plot=False)
