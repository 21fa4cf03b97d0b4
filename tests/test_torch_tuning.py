"""Tuning, the tuned presets and the exercises in the PyTorch tab: the same drivers
(:mod:`d2l_recsys.tuning`, :mod:`d2l_recsys.exercises`) on ``d2l_recsys.torch.experiments``.
The search never reads the test split, early stopping gives back the best epoch, MF's ``reg``
and the learning-rate decay do what the MXNet tab's do. Tiny synthetic data."""
import csv
import json
import os

import numpy as onp
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('optuna')

from d2l_recsys import cli, defaults, tuning  # noqa: E402
from d2l_recsys.experiments import check_settings, read_split_load  # noqa: E402
from d2l_recsys.torch import experiments as tab  # noqa: E402
from d2l_recsys.torch import fast  # noqa: E402

import tuning_checks as checks  # noqa: E402
from tuning_checks import OVERFIT, SPACE, triples  # noqa: E402

@pytest.fixture(scope='module')
def holdout(synthetic_dir):
    return checks.holdout(tab, synthetic_dir)


def test_the_validation_set_is_cut_from_the_tabs_own_training_split(synthetic_dir):
    tab.set_seed(3)
    held = tab.read_holdout(synthetic_dir, 'seq-aware', 0.1, 0.2)
    tab.set_seed(3)
    book = read_split_load(synthetic_dir, 'seq-aware', 0.1)   # NumPy's generator, this tab's
    assert triples(held.full.test) == triples(book.test)
    fit, val = triples(held.fit.train), triples(held.fit.test)
    assert sorted(fit + val) == triples(book.train) and len(val) > 0


@pytest.mark.parametrize('model, settings', [
    ('mf', dict(num_factors=5, batch_size=64, num_epochs=3)),
    ('autorec', dict(num_hidden=6, batch_size=8, num_epochs=3, split_mode='seq-aware'))])
def test_fit_with_the_books_options_is_the_fast_run(synthetic_dir, model, settings):
    train = tab.train_mf if model == 'mf' else tab.train_autorec
    _, book, _ = train(seed=3, fast=True, data_dir=synthetic_dir, plot=False, progress=False,
                       devices='cpu', **settings)
    s = check_settings(model, **settings)
    tab.set_seed(3)
    run_data = tab.read_run_data(synthetic_dir, s['split_mode'], s['test_ratio'])
    net, h = tab.fit(model, s, run_data, devices='cpu', verbose=False)
    assert h['train_loss'] == book['train_loss'] and h['test_rmse'] == book['test_rmse']
    assert h['test_rmse_exact'] == book['test_rmse_exact']
    assert tab.test_rmse(model, net, run_data) == pytest.approx(h['test_rmse_exact'],
                                                                abs=1e-6)


def test_early_stopping_restores_the_best_epochs_parameters(synthetic_dir):
    checks.early_stopping_ends_on_the_best_epoch(tab, synthetic_dir)


def test_early_stopping_of_autorec_on_its_evaluator(holdout):
    s = check_settings('autorec', num_hidden=16, lr=0.05, wd=0, dropout=0, batch_size=8,
                       num_epochs=60, split_mode='random')
    tab.set_seed(0)
    net, h = tab.fit('autorec', s, holdout.fit, patience=2, verbose=False)
    per_epoch = h['test_rmse_exact_per_epoch']
    assert per_epoch == h['test_rmse'] and h['stopped_epoch'] < 60
    assert h['best_rmse'] == min(per_epoch) and h['best_epoch'] < h['stopped_epoch']
    assert tab.test_rmse('autorec', net, holdout.fit) == pytest.approx(min(per_epoch),
                                                                       abs=1e-6)


def test_the_snapshot_is_a_copy():
    net = torch.nn.Linear(2, 1)
    stopper = fast.EarlyStopping(net, patience=1)
    with torch.no_grad():
        net.weight.fill_(2.)
    stopper.update(1, 0.5)
    with torch.no_grad():
        net.weight.fill_(4.)     # in place, as an optimizer step changes it
    assert stopper.update(2, 0.7)
    assert stopper.restore() == 1 and torch.all(net.weight == 2.)


def test_mf_penalty_is_on_the_rows_each_rating_touches():
    from d2l_recsys.torch.mf import MF
    net = MF(3, 5, 4)
    u, i = torch.tensor([0, 0, 4]), torch.tensor([1, 3, 1])
    P, Q = net.P.weight.detach().numpy(), net.Q.weight.detach().numpy()
    got = float(fast.mf_penalty(net, u, i, 0.3).detach())
    # Rows count once per rating that touches them (user 0 twice, item 1 twice).
    want = 0.15 * ((P[u.numpy()] ** 2).sum() + (Q[i.numpy()] ** 2).sum())
    assert got == pytest.approx(want, rel=1e-6) and got > 0


def test_mf_loss_with_reg_is_the_mxnet_tabs_on_the_same_parameters():
    pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
    import mxnet as mx
    from mxnet import gluon
    from d2l_recsys.mxnet import fast as mx_fast
    from d2l_recsys.torch.mf import L2Loss, MF
    mx_net = mx_fast.MF(3, 5, 4)
    mx_net.initialize(init=mx.init.Normal(0.5))
    net = MF(3, 5, 4)
    with torch.no_grad():
        for name in ('P', 'Q', 'user_bias', 'item_bias'):
            getattr(net, name).weight.copy_(torch.as_tensor(
                getattr(mx_net, name).weight.data().asnumpy()))
    u, i, r = onp.array([0, 0, 4]), onp.array([1, 3, 1]), onp.array([4., 2., 5.])
    x = mx.np.array(onp.stack([u, i, r], axis=1).astype(onp.float32))
    want = float(mx_fast._MFRegLoss(mx_net, gluon.loss.L2Loss(), 0.3)(x))
    tu, ti = torch.as_tensor(u), torch.as_tensor(i)
    got = float((L2Loss()(net(tu, ti), torch.as_tensor(r, dtype=torch.float32)).sum()
                 + fast.mf_penalty(net, tu, ti, 0.3)).detach())
    assert got == pytest.approx(want, rel=1e-5)


def test_reg_shrinks_the_factors(holdout):
    s = check_settings('mf', num_factors=8, lr=0.02, wd=0, batch_size=16, num_epochs=15,
                       split_mode='random')
    nets = {}
    for reg in (0., 0.5):
        tab.set_seed(0)
        nets[reg], h = tab.fit('mf', s, holdout.fit, reg=reg, verbose=False)
    norms = {reg: float((net.P.weight.norm() + net.Q.weight.norm()).detach())
             for reg, net in nets.items()}
    assert norms[0.5] < 0.75 * norms[0.]
    with pytest.raises(TypeError, match='reg is an MF option'):
        tab.fit('autorec', check_settings('autorec'), holdout.fit, reg=0.1)


def _learning_rates(monkeypatch):
    """Spy on the fast path's optimizer: the learning rate seen after every epoch."""
    made = []
    real = fast.make_optimizer

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(fast, 'make_optimizer', spy)
    lrs = []
    return lambda epoch, rmse: lrs.append(made[-1].param_groups[0]['lr']), lrs


def test_the_decay_happens_after_the_epochs_decay_at_gives(holdout, monkeypatch):
    on_epoch, lrs = _learning_rates(monkeypatch)
    s = check_settings('mf', **dict(OVERFIT, num_epochs=5, lr=0.01))
    tab.set_seed(0)
    _, h = tab.fit('mf', s, holdout.fit, lr_decay=0.5, decay_at=[2, 4], on_epoch=on_epoch,
                   verbose=False)
    assert h['lr_decayed_at'] == [2, 4] and h['epoch'] == [1, 2, 3, 4, 5]
    assert lrs == pytest.approx([0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_lr_decay_once_the_validation_rmse_stalls(synthetic_dir):
    checks.lr_decay_once_the_validation_rmse_stalls(tab, synthetic_dir)


@pytest.mark.parametrize('name', list(fast.OPTIMIZERS))
def test_every_optimizer_of_the_exercise_trains(holdout, name):
    from d2l_recsys.exercises import MF_OPTIMIZERS
    assert set(fast.OPTIMIZERS) == set(MF_OPTIMIZERS)
    s = check_settings('mf', num_factors=4, lr=MF_OPTIMIZERS[name][0], batch_size=16,
                       num_epochs=3, split_mode='random')
    tab.set_seed(0)
    _, h = tab.fit('mf', s, holdout.fit, optimizer=name, verbose=False)
    assert h['train_loss'][-1] < h['train_loss'][0]
    with pytest.raises(ValueError, match='optimizer must be one of'):
        tab.fit('mf', s, holdout.fit, optimizer='lamb')


@pytest.mark.parametrize('model,split_mode', [('mf', 'random'), ('autorec', 'seq-aware')])
def test_search_never_reads_the_test_split(synthetic_dir, tmp_path, model, split_mode):
    checks.search_never_reads_the_test_split(tab, synthetic_dir, tmp_path, model, split_mode)


def test_refit_replays_the_decays_and_reads_no_test_rating(synthetic_dir, tmp_path):
    seed, split_mode = 1, 'random'
    poisoned = checks.poisoned_copy(tab, synthetic_dir, split_mode, seed,
                                    tmp_path / 'poisoned')
    values = dict(num_factors=4, lr=0.05, wd=1e-4, batch_size=16, num_epochs=30, patience=4,
                  val_ratio=0.2, reg=0.01, lr_decay=0.5, refit=True)
    runs = {d: tuning.train_preset('mf', split_mode, tab=tab, seed=seed, data_dir=d,
                                   values=values)
            for d in (synthetic_dir, poisoned)}
    net, h, info = runs[synthetic_dir]
    assert h['refit']['epochs'] == h['best_epoch'] == len(h['refit']['train_loss'])
    assert h['lr_decayed_at'] and h['refit']['lr_decayed_at'] == [
        e for e in h['lr_decayed_at'] if e < h['best_epoch']]
    assert info['framework'] == 'torch' and info['refit']
    assert info['options'] == {'reg': 0.01, 'lr_decay': 0.5}
    users, items = onp.arange(30) % 7, onp.arange(30) % 11
    dirty = runs[poisoned]
    assert onp.array_equal(tab.predict(net, users, items), tab.predict(dirty[0], users, items))
    assert abs(h['test_rmse_exact'] - dirty[1]['test_rmse_exact']) > 0.05


def test_train_preset_tuned_from_the_command_line(synthetic_dir, tmp_path, monkeypatch,
                                                  capsys):
    small = dict(num_factors=4, lr=0.02, wd=1e-4, reg=0.01, batch_size=16, num_epochs=30,
                 patience=3, val_ratio=0.2, lr_decay=0.3, refit=True)
    monkeypatch.setattr(defaults, 'TUNED', {('mf', 'random'): small})
    out = tmp_path / 'run'
    assert cli.main(['train', 'mf', '--preset', 'tuned', '--framework', 'torch', '--split',
                     'random', '--seed', '0', '--devices', 'cpu', '--data', synthetic_dir,
                     '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'best epoch' in printed and 'exact test RMSE' in printed
    assert 'trained again on the whole training split for' in printed
    saved = json.loads((out / 'history.json').read_text())
    h = saved['history']
    assert h['refit']['epochs'] == h['best_epoch'] <= h['stopped_epoch']
    assert saved['info']['framework'] == 'torch' and saved['info']['preset'] == 'tuned'
    assert os.path.exists(out / 'curve.png') and os.path.exists(out / 'model.pt')
    assert cli.main(['train', 'mf', '--preset', 'tuned', '--framework', 'torch',
                     '--factors', '3']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['d2l-recsys: error: --preset tuned sets the hyper-parameters itself; drop '
                   '--factors']


def test_tuned_autorec_keeps_its_decoder_when_saved_and_loaded(synthetic_dir, tmp_path,
                                                               monkeypatch, capsys):
    from d2l_recsys.torch import predict
    small = dict(num_hidden=6, lr=0.01, wd=1e-5, dropout=0.1, batch_size=8, num_epochs=12,
                 patience=3, val_ratio=0.2, lr_decay=0.5, decoder_activation='softrelu',
                 input_dropout=0.2, clip=True, refit=True)
    monkeypatch.setattr(defaults, 'TUNED', {('autorec', 'random'): small})
    out = tmp_path / 'run'
    assert cli.main(['train', 'autorec', '--preset', 'tuned', '--framework', 'torch',
                     '--split', 'random', '--seed', '0', '--data', synthetic_dir, '--out',
                     str(out)]) == 0
    saved = json.loads((out / 'history.json').read_text())
    hparams = saved['info']['hparams']
    assert hparams['decoder_activation'] == 'softrelu'
    assert hparams['clip'] is True and 'input_dropout' not in hparams
    net = predict.load_model(str(out))[0]
    assert isinstance(net.decoder_activation, torch.nn.Softplus) and net.clip


def test_tune_from_the_command_line(synthetic_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tuning.SPACES, 'mf', SPACE['mf'])
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'mf', '--framework', 'torch', '--trials', '2', '--max-epochs',
                     '3', '--eval-seeds', '0', '--data', synthetic_dir, '--out',
                     str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record['history']) == 2 and record['preset']['num_epochs'] == 3
    assert [r['seed'] for r in record['evaluation']['per_seed']] == [0]
    assert 'exact test RMSE' in capsys.readouterr().out
    assert cli.main(['tune', 'mf', '--framework', 'jax']) == 2
    assert "invalid choice: 'jax'" in capsys.readouterr().err


def test_quick_exercises_in_the_pytorch_tab(tmp_path, capsys):
    # Enough ratings for the book's MF batch of 512 (the tab forms full batches only).
    from conftest import make_ratings, write_u_data
    data = str(tmp_path / 'data')
    write_u_data(data, make_ratings(num_users=100, num_items=60, per_user=(8, 14)))
    out = tmp_path / 'ex'
    names = ['mf-running-rmse', 'mf-predictions', 'mf-optimizers']
    assert cli.main(['exercises', *names, '--quick', '--framework', 'torch', '--data',
                     data, '--out', str(out)]) == 0
    for name in names:
        for suffix in ('png', 'svg', 'md', 'csv'):
            assert (out / f'{name}.{suffix}').stat().st_size > 0
    rows = list(csv.DictReader(open(out / 'mf-running-rmse.csv')))
    assert len({r['test_rmse'] for r in rows}) == 1       # one model, one exact RMSE ...
    full = max(rows, key=lambda r: int(r['test_batch_size']))
    assert abs(float(full['difference'])) < 1e-6          # ... the book's in one batch
    optimizers = {r['optimizer'] for r in csv.DictReader(open(out / 'mf-optimizers.csv'))}
    assert optimizers == {'adam', 'sgd'}
    assert (out / 'summary.md').read_text().count('\n- **') == 3


def test_autorec_input_dropout_hides_observed_inputs_while_training_only():
    import itertools
    from d2l_recsys.torch.autorec import AutoRec
    x = torch.tensor([[4., 0., 2., 0., 5.]])
    p = 0.5
    net = AutoRec(3, 5, 0.0, input_dropout=p)
    ref = AutoRec(3, 5, 0.0)     # the deck's model, the same parameters
    ref.load_state_dict(net.state_dict())
    net.eval(), ref.eval()
    assert torch.equal(net(x), ref(x))      # predicting: no input is hidden
    # Training: the deck model's output on the input with some observed ratings hidden (the
    # rest scaled by 1/(1-p)), still masked by every observed rating of the whole input.
    observed = torch.nonzero(x[0]).flatten()
    candidates = []
    with torch.no_grad():
        for kept in itertools.product([0., 1.], repeat=len(observed)):
            shown = torch.zeros_like(x)
            shown[0, observed] = x[0, observed] * torch.tensor(kept) / (1 - p)
            candidates.append(ref(shown) * torch.sign(x))
    net.train()
    torch.manual_seed(0)
    seen = set()
    for _ in range(30):
        out = net(x).detach()
        match = [k for k, c in enumerate(candidates) if torch.allclose(out, c, atol=1e-6)]
        assert match, out
        seen.add(match[0])
    assert len(seen) > 2     # the hidden ratings change from one step to the next
    with pytest.raises(ValueError, match='input_dropout'):
        AutoRec(3, 5, input_dropout=1.0)


@pytest.mark.parametrize('model', list(tuning.OPTIONS))
def test_every_option_a_preset_or_search_may_set_is_the_tabs(holdout, model):
    # What tuning passes to a tab's fit (d2l_recsys.tuning.OPTIONS), each with a value of the
    # search space other than the book's, is taken by the PyTorch tab and changes the run
    # (a decay after the first epoch, so that the learning-rate decay happens in 3 epochs).
    settings = dict(num_factors=4, batch_size=16) if model == 'mf' else \
        dict(num_hidden=6, batch_size=8)
    s = check_settings(model, num_epochs=3, split_mode='random', **settings)
    kw = dict(decay_at=[1], verbose=False)
    tab.set_seed(0)
    _, plain = tab.fit(model, s, holdout.fit, **kw)
    for name in tuning.OPTIONS[model]:
        spec = tuning.SPACES[model].get(name, (False, True))   # clip is searched by no one
        value = spec[2] if isinstance(spec[0], str) else next(v for v in spec if v)
        tab.set_seed(0)
        _, h = tab.fit(model, s, holdout.fit, **kw, **{name: value})
        # An option changes the training, or (clip) what the trained model predicts.
        assert (h['train_loss'] != plain['train_loss']
                or h['test_rmse'] != plain['test_rmse']), name


def test_autorec_clip_keeps_predictions_on_the_rating_scale_and_leaves_training_alone():
    from d2l_recsys.defaults import RATING_SCALE
    from d2l_recsys.torch.autorec import AutoRec
    torch.manual_seed(0)
    net = AutoRec(3, 5, 0.0, clip=True)
    ref = AutoRec(3, 5, 0.0)
    with torch.no_grad():
        net.decoder.bias.copy_(torch.tensor([-10., 10., -10., 10., 3.]))   # far outside 1..5
    ref.load_state_dict(net.state_dict())
    x = torch.tensor([[4., 0., 2., 0., 5.], [1., 3., 0., 0., 0.]])
    net.eval(), ref.eval()
    want = ref(x).detach()
    assert (want < RATING_SCALE[0]).any() and (want > RATING_SCALE[1]).any()
    assert torch.equal(net(x), torch.clamp(want, *RATING_SCALE))
    net.train(), ref.train()
    assert torch.equal(net(x), ref(x))      # the loss sees the unclipped output
