"""Tuning: the validation set is cut from the training split as the split itself is cut, early
stopping gives back the best epoch, and the search never reads the test split."""
import json
import os

import numpy as onp
import pytest

from d2l_recsys import cli, defaults, tuning
from d2l_recsys.defaults import BOOK, TUNED, preset
from d2l_recsys.experiments import check_settings, read_split_load

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
from d2l_recsys.mxnet import experiments as tab  # noqa: E402
from d2l_recsys.mxnet import fast  # noqa: E402

import tuning_checks as checks
from tuning_checks import SPACE, triples

pytest.importorskip('optuna')


@pytest.mark.parametrize('split_mode', ['random', 'seq-aware'])
def test_validation_is_cut_from_the_training_split(synthetic_dir, synthetic_ratings,
                                                   split_mode):
    tab.set_seed(3)
    holdout = tab.read_holdout(synthetic_dir, split_mode, 0.1, 0.2)
    tab.set_seed(3)
    book = read_split_load(synthetic_dir, split_mode, 0.1, xp=tab.np)
    # The same test split as every other run with this seed, and the same training split.
    assert triples(holdout.full.test) == triples(book.test)
    assert triples(holdout.full.train) == triples(book.train)
    fit, val = triples(holdout.fit.train), triples(holdout.fit.test)
    assert sorted(fit + val) == triples(book.train)
    assert not set(fit) & set(val) and len(val) > 0
    assert not set(val) & set(triples(book.test))
    if split_mode == 'seq-aware':
        # Each user's latest training rating, as the split takes each user's latest rating.
        df = synthetic_ratings
        test_keys = set(zip(book.test[0], book.test[1]))     # 0-based ids
        rest = df[[(u - 1, i - 1) not in test_keys for u, i in zip(df.user_id, df.item_id)]]
        latest = rest.loc[rest.groupby('user_id').timestamp.idxmax()]
        want = sorted(zip((latest.user_id - 1).tolist(), (latest.item_id - 1).tolist(),
                          latest.rating.tolist()))
        assert val == want


class _Toy:
    """A stand-in net with one parameter, to drive EarlyStopping by hand."""

    def __init__(self):
        from mxnet.gluon import nn
        self.block = nn.Dense(1, in_units=2)
        self.block.initialize()

    def collect_params(self):
        return self.block.collect_params()

    def weight(self):
        return self.block.weight.data().asnumpy().copy()

    def set(self, value):
        self.block.weight.set_data(tab.np.full((1, 2), value))


def test_early_stopping_keeps_and_restores_the_best_epoch():
    toy = _Toy()
    stopper = fast.EarlyStopping(toy, patience=2)
    stops = []
    for epoch, (value, rmse) in enumerate([(1., 3.), (2., 2.), (3., 2.5), (4., 2.6),
                                           (5., 1.)], start=1):
        toy.set(value)
        stops.append(stopper.update(epoch, rmse))
        if stops[-1]:
            break
    assert stops == [False, False, False, True]     # two epochs without improvement
    assert onp.all(toy.weight() == 4.)
    assert stopper.restore() == 2
    assert onp.all(toy.weight() == 2.)               # the parameters of epoch 2, not 4


def test_fit_with_patience_ends_on_the_best_validation_epoch(synthetic_dir):
    checks.early_stopping_ends_on_the_best_epoch(tab, synthetic_dir)


def test_lr_decay_shrinks_the_steps_once_the_validation_rmse_stalls(synthetic_dir):
    checks.lr_decay_once_the_validation_rmse_stalls(tab, synthetic_dir)


def _poisoned_copy(folder, source, split_mode, seed, tmp_path):
    return checks.poisoned_copy(tab, source, split_mode, seed, tmp_path / folder)


@pytest.mark.parametrize('model,split_mode', [('mf', 'random'), ('autorec', 'seq-aware')])
def test_search_never_reads_the_test_split(synthetic_dir, tmp_path, model, split_mode):
    checks.search_never_reads_the_test_split(tab, synthetic_dir, tmp_path, model, split_mode)


@pytest.mark.parametrize('model,split_mode', [('mf', 'seq-aware'), ('autorec', 'random')])
def test_search_on_several_seeds_judges_by_the_mean_of_their_validation_sets(
        synthetic_dir, monkeypatch, model, split_mode):
    point = {k: (v[1] if isinstance(v[0], str) else v[0]) for k, v in SPACE[model].items()}
    kw = dict(tab=tab, trials=1, data_dir=synthetic_dir, max_epochs=5, patience=2,
              space=SPACE[model], start=[point])
    alone = [tuning.search(model, split_mode, seed=s, **kw)['history'][0] for s in (1, 2)]
    assert all(t['params'] == point for t in alone)
    assert alone[0]['value'] != alone[1]['value']
    # The test split is dropped before the first trial: a holdout without one changes nothing.
    real = tab.read_holdout
    monkeypatch.setattr(tab, 'read_holdout',
                        lambda *a, **k: tuning.Holdout(fit=real(*a, **k).fit, full=None))
    both = tuning.search(model, split_mode, seed=1, seeds=[1, 2], **kw)
    trial = both['history'][0]
    assert both['validation_seeds'] == [1, 2] and trial['params'] == point
    assert trial['per_seed'] == [alone[0]['value'], alone[1]['value']]
    assert trial['value'] == pytest.approx((alone[0]['value'] + alone[1]['value']) / 2)
    with pytest.raises(ValueError, match='at least one seed'):
        tuning.search(model, split_mode, seeds=[], **kw)


def test_refit_trains_again_on_the_whole_training_split_for_the_chosen_epochs(
        synthetic_dir, tmp_path):
    seed, split_mode = 1, 'random'
    poisoned = _poisoned_copy('poisoned', synthetic_dir, split_mode, seed, tmp_path)
    values = dict(num_factors=4, lr=0.02, wd=1e-4, batch_size=16, num_epochs=30, patience=3,
                  val_ratio=0.2)
    runs = {(d, refit): tuning.train_preset('mf', split_mode, tab=tab, seed=seed, data_dir=d,
                                            values=dict(values, refit=refit))
            for d in (synthetic_dir, poisoned) for refit in (False, True)}
    _, once, info = runs[(synthetic_dir, False)]
    net, again, info_again = runs[(synthetic_dir, True)]
    assert again['refit']['epochs'] == again['best_epoch'] == once['best_epoch']
    assert len(again['refit']['train_loss']) == again['best_epoch']
    assert info_again['refit'] and not info['refit']
    assert again['val_rmse'] == once['val_rmse']
    assert again['test_rmse_exact'] != once['test_rmse_exact']
    # Trained on the training split alone: the same net whatever the test ratings are.
    users, items = onp.arange(30) % 7, onp.arange(30) % 11
    dirty = runs[(poisoned, True)]
    assert onp.array_equal(tab.predict(net, users, items), tab.predict(dirty[0], users, items))
    assert abs(again['test_rmse_exact'] - dirty[1]['test_rmse_exact']) > 0.05
    with pytest.raises(ValueError, match='refit needs patience'):
        tuning.train_preset('mf', split_mode, tab=tab, seed=seed, data_dir=synthetic_dir,
                            values=dict(values, patience=None, refit=True))


def test_presets_name_the_books_settings_and_the_tuned_ones():
    assert preset('mf', 'seq-aware') == dict(BOOK['mf'])
    assert preset('autorec', 'seq-aware', 'book')['split_mode'] == 'seq-aware'
    for (model, split_mode), values in TUNED.items():
        if model not in defaults.MODELS:   # the ranking presets: tests/test_rank_tuning.py
            continue
        chosen = preset(model, split_mode, 'tuned')
        check_settings(model, **{k: v for k, v in chosen.items() if k in BOOK[model]})
        assert chosen['patience'] >= 1 and 0 < chosen['val_ratio'] < 1
    with pytest.raises(ValueError, match='preset must be one of'):
        preset('mf', 'random', 'best')


def test_train_preset_tuned_from_the_command_line(synthetic_dir, tmp_path, monkeypatch,
                                                  capsys):
    small = dict(num_factors=4, lr=0.02, wd=1e-4, batch_size=16, num_epochs=30, patience=3,
                 val_ratio=0.2)
    monkeypatch.setattr(defaults, 'TUNED', {('mf', 'random'): small})
    out = tmp_path / 'run'
    assert cli.main(['train', 'mf', '--preset', 'tuned', '--split', 'random', '--seed', '0',
                     '--data', synthetic_dir, '--out', str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert 'best epoch' in printed and 'exact test RMSE' in printed
    saved = json.loads((out / 'history.json').read_text())
    h = saved['history']
    assert h['best_epoch'] <= h['stopped_epoch'] and os.path.exists(out / 'curve.png')
    # every epoch's line names the set it is measured on; nothing but the report says test
    said = [line for line in captured.err.splitlines() if line.startswith('epoch ')]
    assert len(said) == h['stopped_epoch'] and said[0].startswith('epoch 1/30: validation RMSE')
    assert 'test RMSE' not in captured.err and printed.count('test RMSE') == 1
    assert saved['info']['preset'] == 'tuned' and saved['info']['patience'] == 3
    assert cli.main(['train', 'mf', '--preset', 'tuned', '--lr', '0.1']) == 2
    assert '--preset tuned sets the hyper-parameters itself; drop --lr' in \
        capsys.readouterr().err


def test_tuned_autorec_with_another_decoder_is_saved_and_loaded_with_it(
        synthetic_dir, tmp_path, monkeypatch, capsys):
    from d2l_recsys.mxnet import predict
    small = dict(num_hidden=6, lr=0.01, wd=1e-5, dropout=0.1, batch_size=8, num_epochs=12,
                 patience=3, val_ratio=0.2, lr_decay=0.5, decoder_activation='softrelu',
                 input_dropout=0.2, clip=True, refit=True)
    monkeypatch.setattr(defaults, 'TUNED', {('autorec', 'random'): small})
    out = tmp_path / 'run'
    assert cli.main(['train', 'autorec', '--preset', 'tuned', '--split', 'random', '--seed',
                     '0', '--data', synthetic_dir, '--out', str(out)]) == 0
    saved = json.loads((out / 'history.json').read_text())
    assert 'trained again on the whole training split for' in capsys.readouterr().out
    hparams = saved['info']['hparams']
    assert saved['info']['refit'] and hparams['decoder_activation'] == 'softrelu'
    # clip changes what the model predicts, so it is saved; input_dropout acts in training only
    assert hparams['clip'] is True and 'input_dropout' not in hparams
    meta = json.loads((out / 'model.json').read_text())
    assert meta['hparams']['clip'] is True
    h = saved['history']
    assert h['refit']['epochs'] == h['best_epoch']
    # the refit replays the first run's learning-rate decays up to the chosen epoch
    assert h['refit']['lr_decayed_at'] == [e for e in h.get('lr_decayed_at', [])
                                           if e < h['best_epoch']]
    net, meta, interactions = predict.load_model(str(out))
    assert net.decoder.act._act_type == 'softrelu' and net.clip
    # the reloaded model clips as the trained one did: beside the same model unclipped, with
    # the decoder's bias raised so that some outputs pass 5
    twin = predict.build_model(dict(meta, hparams=dict(meta['hparams'], clip=False)))
    predict.load_parameters_checked(twin, str(out / 'model.params'))
    for m in (net, twin):
        m.decoder.bias.set_data(m.decoder.bias.data() + 4)
    inter = predict.interaction_matrix(interactions, meta['num_users'], meta['num_items'])
    want = twin(inter).asnumpy()
    assert (want > 5).any()
    onp.testing.assert_allclose(net(inter).asnumpy(), onp.clip(want, 1, 5), rtol=1e-6)


def test_tune_from_the_command_line(synthetic_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tuning.SPACES, 'autorec', SPACE['autorec'])
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'autorec', '--trials', '2', '--max-epochs', '3', '--eval-seeds',
                     '0,1', '--data', synthetic_dir, '--out', str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record['history']) == 2 and record['preset']['num_epochs'] == 3
    assert [r['seed'] for r in record['evaluation']['per_seed']] == [0, 1]
    assert 'exact test RMSE' in capsys.readouterr().out
    assert cli.main(['tune', 'mf', '--eval-seeds', 'a,b']) == 2
    assert cli.main(['tune', 'autorec', '--trials', '1', '--max-epochs', '3', '--eval-seeds',
                     '', '--search-seeds', '0,1', '--start',
                     '{"num_hidden": 5, "lr": 0.01, "wd": 1e-4, "batch_size": 8}',
                     '--data', synthetic_dir, '--out', str(out)]) == 0
    record = json.loads(out.read_text())
    assert record['validation_seeds'] == [0, 1] and 'evaluation' not in record
    trial = record['history'][0]
    assert len(trial['per_seed']) == 2 and trial['params']['num_hidden'] == 5
    # a name the point leaves out is the tuned preset's
    assert trial['params']['dropout'] == TUNED[('autorec', 'random')]['dropout']
    capsys.readouterr()
    assert cli.main(['tune', 'autorec', '--start', '{"hidden": 5}']) == 2
    assert 'not hidden' in capsys.readouterr().err
    assert cli.main(['tune', 'autorec', '--start', '[5]']) == 2
    assert cli.main(['tune', 'mf', '--search-seeds', ',']) == 2


def test_mf_penalty_is_on_the_factor_rows_each_rating_touches():
    from mxnet import gluon
    net = fast.MF(3, 5, 4)
    net.initialize(init=__import__('mxnet').init.Normal(0.5))
    u, i, r = onp.array([0, 0, 4]), onp.array([1, 3, 1]), onp.array([4., 2., 5.])
    x = tab.np.array(onp.stack([u, i, r], axis=1).astype(onp.float32))
    got = float(fast._MFRegLoss(net, gluon.loss.L2Loss(), 0.3)(x))
    P, Q = net.P.weight.data().asnumpy(), net.Q.weight.data().asnumpy()
    bu, bi = (net.user_bias.weight.data().asnumpy()[:, 0],
              net.item_bias.weight.data().asnumpy()[:, 0])
    pred = (P[u] * Q[i]).sum(axis=1) + bu[u] + bi[i]
    # Rows count once per rating that touches them (user 0 twice, item 1 twice).
    want = (0.5 * (r - pred) ** 2).sum() + 0.15 * ((P[u] ** 2).sum() + (Q[i] ** 2).sum())
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize('hybridize', [False, True])
def test_autorec_input_dropout_hides_observed_inputs_while_training_only(hybridize):
    import itertools
    import mxnet as mx
    from mxnet import autograd
    x = onp.array([[4., 0., 2., 0., 5.], [0., 3., 0., 0., 0.]], dtype=onp.float32)
    p = 0.5
    net = fast.AutoRec(3, 5, 0.0, in_units=5, input_dropout=p)
    ref = fast.AutoRec(3, 5, 0.0, in_units=5)    # the book's model, the same parameters
    net.initialize(init=mx.init.Normal(0.5))
    ref.initialize()
    for a, b in zip(net.collect_params().values(), ref.collect_params().values()):
        b.set_data(a.data())
    if hybridize:
        net.hybridize()
        ref.hybridize()
    # Predicting: no input is hidden.
    onp.testing.assert_allclose(net(tab.np.array(x)).asnumpy(), ref(tab.np.array(x)).asnumpy(),
                                rtol=1e-6)
    # Training: the output is the book model's on the input with some observed ratings hidden
    # (the rest scaled by 1/(1-p)), still masked by every observed rating of the whole input.
    row = x[:1]
    observed = onp.flatnonzero(row[0])
    candidates = []
    for kept in itertools.product([0., 1.], repeat=len(observed)):
        shown = onp.zeros_like(row)
        shown[0, observed] = row[0, observed] * onp.array(kept) / (1 - p)
        candidates.append(ref(tab.np.array(shown)).asnumpy() * onp.sign(row))
    seen = set()
    mx.random.seed(0)
    for _ in range(30):
        with autograd.record(train_mode=True):
            out = net(tab.np.array(row)).asnumpy()
        match = [k for k, c in enumerate(candidates) if onp.allclose(out, c, rtol=1e-5,
                                                                    atol=1e-6)]
        assert match, out
        seen.add(match[0])
    assert len(seen) > 2     # the hidden ratings change from one step to the next
    with pytest.raises(ValueError, match='input_dropout'):
        fast.AutoRec(3, 5, input_dropout=1.0)


def test_a_start_point_takes_an_option_its_preset_leaves_out_as_off(synthetic_dir, tmp_path,
                                                                     monkeypatch):
    space = dict(SPACE['autorec'], input_dropout=('float', 0.0, 0.5),
                 lr_decay=(None, 0.5), decoder_activation=(None, 'softrelu'))
    monkeypatch.setitem(tuning.SPACES, 'autorec', space)
    monkeypatch.setitem(defaults.SPACES, 'autorec', space)
    bare = dict(num_hidden=5, lr=0.01, wd=1e-4, dropout=0.1, batch_size=8, num_epochs=3,
                patience=2, val_ratio=0.1)      # sets none of the options
    monkeypatch.setattr(defaults, 'TUNED', {('autorec', 'random'): bare})
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'autorec', '--trials', '1', '--max-epochs', '3', '--eval-seeds',
                     '', '--start', '{"num_hidden": 6}', '--data', synthetic_dir,
                     '--out', str(out)]) == 0
    params = json.loads(out.read_text())['history'][0]['params']
    assert params['num_hidden'] == 6 and params['dropout'] == 0.1
    assert params['input_dropout'] == defaults.OPTIONS_OFF['input_dropout'] == 0.0
    assert params['lr_decay'] is None and params['decoder_activation'] is None


def test_autorec_clip_keeps_predictions_on_the_rating_scale_and_leaves_training_alone():
    import mxnet as mx
    from mxnet import autograd
    from d2l_recsys.defaults import RATING_SCALE
    net = fast.AutoRec(3, 5, 0.0, in_units=5, clip=True)
    ref = fast.AutoRec(3, 5, 0.0, in_units=5)
    net.initialize(init=mx.init.Normal(0.5))
    ref.initialize()
    # outputs far outside 1..5 on both sides
    net.decoder.bias.set_data(tab.np.array([-10., 10., -10., 10., 3.]))
    for a, b in zip(net.collect_params().values(), ref.collect_params().values()):
        b.set_data(a.data())
    net.hybridize()
    x = tab.np.array([[4., 0., 2., 0., 5.], [1., 3., 0., 0., 0.]])
    want = ref(x).asnumpy()
    assert (want < RATING_SCALE[0]).any() and (want > RATING_SCALE[1]).any()
    onp.testing.assert_allclose(net(x).asnumpy(), onp.clip(want, *RATING_SCALE), rtol=1e-6)
    with autograd.record(train_mode=True):
        trained, unclipped = net(x).asnumpy(), ref(x).asnumpy()
    onp.testing.assert_allclose(trained, unclipped, rtol=1e-6)   # the loss sees it unclipped


def test_tune_clip_is_fixed_for_every_trial_and_kept_in_the_preset(synthetic_dir, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setitem(tuning.SPACES, 'autorec', SPACE['autorec'])
    seen = []
    fit = tab.fit

    def spy(model, settings, run_data, **options):
        seen.append(options.get('clip'))
        return fit(model, settings, run_data, **options)
    monkeypatch.setattr(tab, 'fit', spy)
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'autorec', '--clip', '--trials', '2', '--max-epochs', '2',
                     '--eval-seeds', '', '--data', synthetic_dir, '--out', str(out)]) == 0
    assert seen == [True, True]
    record = json.loads(out.read_text())
    assert record['preset']['clip'] is True and 'clip' not in record['history'][0]['params']
    assert cli.main(['tune', 'mf', '--clip']) == 2
    assert '--clip is an AutoRec option' in capsys.readouterr().err
