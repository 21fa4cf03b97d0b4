"""Tuning FM and DeepFM (d2l_recsys.click_tuning) on a small generated MovieLens: the
validation lines cut from the training file as the test file was cut, the test file never read
by a search (it is poisoned here, and then removed), early stopping on the validation AUC, the
loss without the book's second sigmoid, the weight decay meaning the same in both tabs, and
``tune fm|deepfm`` and ``train fm|deepfm --preset tuned`` from the command line in both tabs."""
import json
import os

import numpy as onp
import pytest

import ctr_files
import synthetic
from conftest import NO_MXNET, own_cache, write_u_data
from d2l_recsys import cli, click_tuning, clicks, ctr_runs, defaults, fetch, ml100k_ctr

pytest.importorskip('optuna')

# Small enough for the generated data (40 users, 30 films, about 650 training lines).
SPACE = {'fm': dict(num_factors=('int-log', 2, 6), lr=('log', 0.005, 0.05),
                    wd=('log', 1e-9, 1e-4), batch_size=(32, 64), from_sigmoid=(False, True)),
         'deepfm': dict(num_factors=('int-log', 2, 6), lr=('log', 0.005, 0.05),
                        wd=('log', 1e-9, 1e-4), batch_size=(32, 64), mlp_dims=('8', '8,4'),
                        drop_rate=('float', 0.0, 0.3), from_sigmoid=(False, True))}
SMALL = {'fm': dict(num_factors=4, lr=0.02, wd=1e-5, batch_size=32, from_sigmoid=True,
                    num_epochs=12, patience=2, val_ratio=0.1, refit=True),
         'deepfm': dict(num_factors=4, lr=0.02, wd=1e-5, batch_size=32, mlp_dims='8,4',
                        drop_rate=0.1, from_sigmoid=True, num_epochs=12, patience=2,
                        val_ratio=0.1, refit=True)}


def tabs():
    out = []
    if NO_MXNET is None:
        out.append('mxnet')
    try:
        import torch  # noqa: F401
        out.append('torch')
    except ImportError:
        pass
    return out


def experiments(framework):
    import importlib
    return importlib.import_module(f'd2l_recsys.{framework}.experiments')


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    own_cache(tmp_path, monkeypatch)


@pytest.fixture(scope='module')
def movielens(tmp_path_factory):
    folder = synthetic.write_ml100k(str(tmp_path_factory.mktemp('ml')), num_users=40,
                                    num_items=30, density=0.6, seed=4)
    ctr_files.write_side_files(folder, 40, 30, seed=4)
    return folder


def click_folder(data_dir):
    return ml100k_ctr.ml100k_ctr_dir(data_dir, log=None)


def test_validation_lines_are_each_users_latest_training_lines(movielens):
    held = ctr_runs.read_click_holdout(movielens)
    ratings = fetch.read_u_data(os.path.join(movielens, 'u.data'))
    test = ml100k_ctr.latest_split(ratings)
    train = ratings[~test].reset_index(drop=True)
    mask = held.val_mask
    assert len(mask) == len(train) == held.whole.train.count
    assert held.fit.train.count + held.fit.test.count == len(train)
    for user, rows in train.groupby('user_id'):
        val = mask[rows.index]
        n = len(rows)
        assert val.sum() == min(n - 1, int(onp.ceil(0.1 * n)))   # the test file's share
        # no validation line is older than the same user's training lines
        assert rows.timestamp[val].min() >= rows.timestamp[~val].max()
    # the fit part's mapper maps the validation lines, as the training file's maps test.csv
    again = clicks.ctr_arrays(*_lines(held, mask), held.fit.train.feat_mapper,
                              held.fit.train.defaults, num_feat=8)
    assert (again.features == held.fit.test.features).all()
    assert held.fit.test.labels.tolist() == train.rating[mask].ge(4).astype(float).tolist()
    assert held.fit.test.skipped == 0 and held.whole.test.count == held.fit.test.count


def _lines(held, mask):
    labels, values, _ = clicks.read_ctr_lines(os.path.join(held.whole.folder, 'train.csv'), 8)
    return labels[mask], values[mask]


def test_training_lines_that_are_not_the_ratings_are_refused(movielens, monkeypatch):
    """The validation lines are chosen by ``u.data``'s timestamps: the training file's lines
    must be those ratings, in their order."""
    real = ctr_runs.latest_training_lines

    def shuffled(*args):
        mask, train = real(*args)
        return mask, train.iloc[::-1].reset_index(drop=True)
    monkeypatch.setattr(ctr_runs, 'latest_training_lines', shuffled)
    with pytest.raises(ValueError, match='its lines are not the training ratings of'):
        ctr_runs.read_click_holdout(movielens)


def _poisoned_copy(source, dest):
    """``source``'s MovieLens with every rating of the test file changed (6 - r, or 1 for a 3):
    the same lines and times, so the same training file and validation lines, only the test
    labels differ."""
    import shutil
    os.makedirs(dest)
    for name in ('u.item', 'u.user'):
        shutil.copy(os.path.join(source, name), dest)
    ratings = fetch.read_u_data(os.path.join(source, 'u.data'))
    test = ml100k_ctr.latest_split(ratings)
    ratings.loc[test, 'rating'] = onp.where(ratings.rating[test] == 3, 1,
                                            6 - ratings.rating[test])
    write_u_data(dest, ratings)
    return dest


@pytest.mark.parametrize('framework', tabs())
@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_search_never_reads_the_test_file(movielens, tmp_path, monkeypatch, framework, model):
    tab = experiments(framework)
    args = dict(tab=tab, trials=3, max_epochs=4, patience=2, space=SPACE[model], seeds=[0, 1])
    clean = click_tuning.search(model, data_dir=movielens, **args)
    poisoned_dir = _poisoned_copy(movielens, str(tmp_path / 'poisoned'))
    assert open(os.path.join(click_folder(poisoned_dir), 'test.csv')).read() != \
        open(os.path.join(click_folder(movielens), 'test.csv')).read()
    real = clicks.read_ctr_lines

    def guarded(path, *a, **k):
        assert not str(path).endswith('test.csv'), 'the test file was read'
        return real(path, *a, **k)
    monkeypatch.setattr(clicks, 'read_ctr_lines', guarded)
    poisoned = click_tuning.search(model, data_dir=poisoned_dir, **args)
    assert [t['value'] for t in poisoned['history']] == [t['value'] for t in clean['history']]
    assert clean['best_validation_auc'] == max(t['value'] for t in clean['history']
                                               if t['value'] is not None)
    trial = clean['history'][0]
    assert len(trial['per_seed']) == 2 and trial['value'] == pytest.approx(
        sum(trial['per_seed']) / 2)
    assert set(clean['preset']) == set(SPACE[model]) | {'num_epochs', 'patience', 'val_ratio'}


@pytest.mark.parametrize('framework', tabs())
def test_early_stopping_keeps_the_best_validation_epoch(movielens, framework):
    tab = experiments(framework)
    held = ctr_runs.read_click_holdout(movielens)
    settings, options = click_tuning.click_settings('fm', dict(
        num_factors=6, lr=0.2, batch_size=32, num_epochs=30, from_sigmoid=True))
    tab.set_seed(0)
    net, h = tab.fit_clicks('fm', settings, held.fit, patience=3, **options)
    assert h['best_auc'] == max(h['test_auc']) and h['best_epoch'] == \
        h['test_auc'].index(h['best_auc']) + 1
    assert h['stopped_epoch'] == h['epoch'][-1] == h['best_epoch'] + 3 < 30
    probs = tab.predict_clicks(net, held.fit.test.features)
    assert clicks.roc_auc(probs, held.fit.test.labels) == pytest.approx(h['best_auc'])


def test_from_sigmoid_is_the_log_loss_of_the_models_probability():
    pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
    from d2l_recsys.mxnet import experiments as tab
    from mxnet import np
    data = ctr_runs.ClickData('x', '.', 2, clicks.CTRArrays(field_dims=onp.array([3, 4])),
                              None)
    settings = defaults.book('fm', num_factors=3)
    p, y = np.array([[0.9], [0.2], [0.6]]), np.array([[1.], [0.], [0.]])
    _, book, _, _ = tab._click_parts('fm', settings, data, tab.parse_devices('cpu'), True)
    _, fixed, _, _ = tab._click_parts('fm', settings, data, tab.parse_devices('cpu'), True,
                                      from_sigmoid=True)
    want = -onp.log([0.9, 0.8, 0.4])
    onp.testing.assert_allclose(fixed(p, y).asnumpy(), want, rtol=1e-5)
    # the book's loss sees the probability as a logit: a second sigmoid
    sig = 1 / (1 + onp.exp(-onp.array([0.9, 0.2, 0.6])))
    onp.testing.assert_allclose(book(p, y).asnumpy(), -onp.log([sig[0], 1 - sig[1], 1 - sig[2]]),
                                rtol=1e-5)


def test_weight_decay_means_the_same_in_both_tabs():
    """MXNet adds ``wd * w`` to the mean loss's gradient; the PyTorch tab back-propagates the
    summed loss, so its decay is ``wd * batch_size``: the same Adam steps."""
    pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
    torch = pytest.importorskip('torch')
    import mxnet as mxn
    from mxnet import autograd
    from d2l_recsys.mxnet import experiments as mx_tab
    from d2l_recsys.torch import experiments as t_tab
    dims = onp.array([7, 5, 9])
    data = ctr_runs.ClickData('x', '.', 3, clicks.CTRArrays(field_dims=dims), None)
    settings = defaults.book('deepfm', num_factors=4, mlp_dims=(6,), drop_rate=0.0, lr=0.01,
                             batch_size=32)
    mxn.random.seed(0)
    m, m_loss, m_trainer, _ = mx_tab._click_parts('deepfm', settings, data,
                                                  mx_tab.parse_devices('cpu'), False,
                                                  from_sigmoid=True, wd=0.05)
    m(mxn.np.zeros((2, 3)))   # the deferred linear layer
    m_trainer._optimizer.epsilon = 1e-30
    t, t_loss, t_trainer, _ = t_tab._click_parts('deepfm', settings, data,
                                                 t_tab.parse_devices('cpu'),
                                                 from_sigmoid=True, wd=0.05)
    t.load_state_dict({k: torch.from_numpy(v.data().asnumpy())
                       for k, v in m._collect_params_with_prefix().items()})
    t_trainer.param_groups[0]['eps'] = 1e-30
    rng = onp.random.RandomState(1)
    offsets = onp.array([0, 7, 12])
    for _ in range(4):
        x = rng.randint(0, 5, (32, 3)) + offsets
        y = rng.randint(0, 2, (32, 1)).astype(onp.float32)
        with autograd.record():
            lm = m_loss(m(mxn.np.array(x, dtype='float32')), mxn.np.array(y))
        lm.backward()
        m_trainer.step(32)
        t_trainer.zero_grad()
        t_loss(t(torch.from_numpy(x)), torch.from_numpy(y)).sum().backward()
        t_trainer.step()
    params = {k: v.data().asnumpy() for k, v in m._collect_params_with_prefix().items()}
    for k, v in t.named_parameters():
        onp.testing.assert_allclose(v.detach().numpy(), params[k], rtol=2e-4, atol=1e-6,
                                    err_msg=k)


@pytest.mark.parametrize('bad, words', [
    (dict(wd=-1), 'wd must be a finite number >= 0'),
    (dict(from_sigmoid='yes'), 'from_sigmoid must be True or False'),
    (dict(lr=0), 'lr must be a finite positive number'),
    (dict(hidden=3), 'unknown setting hidden'),
])
def test_preset_values_are_checked(bad, words):
    values = {k: v for k, v in SMALL['fm'].items() if k not in ('patience', 'val_ratio', 'refit')}
    with pytest.raises((ValueError, TypeError), match=words):
        click_tuning.click_settings('fm', dict(values, **bad))


def test_the_presets_are_the_books_models_with_checked_settings():
    for model in defaults.CLICK_MODELS:
        values = defaults.preset(model, 'ml100k-ctr', 'tuned')
        settings, options = click_tuning.click_settings(
            model, {k: v for k, v in values.items()
                    if k not in ('patience', 'val_ratio', 'refit')})
        assert values['patience'] >= 1 and 0 < values['val_ratio'] < 1
        assert set(options) == {'wd', 'from_sigmoid'}
        assert defaults.preset(model, 'ml100k-ctr', 'book') == dict(defaults.BOOK[model])
    with pytest.raises(ValueError, match="no tuned preset for 'ctr'"):
        defaults.preset('fm', 'ctr', 'tuned')
    with pytest.raises(ValueError, match='the click presets are tuned on'):
        click_tuning.train_preset('fm', 'ctr', tab=None)


@pytest.mark.parametrize('framework', tabs())
@pytest.mark.parametrize('model', ['fm', 'deepfm'])
def test_train_preset_tuned_from_the_command_line(movielens, tmp_path, monkeypatch, capsys,
                                                  framework, model):
    monkeypatch.setattr(defaults, 'TUNED', {(model, 'ml100k-ctr'): SMALL[model]})
    out = tmp_path / 'run'
    read = []
    real = ctr_runs.read_click_test
    monkeypatch.setattr(ctr_runs, 'read_click_test', lambda d: read.append(1) or real(d))
    assert cli.main(['train', model, '--preset', 'tuned', '--framework', framework, '--seed',
                     '0', '--data', movielens, '--out', str(out)]) == 0
    captured = capsys.readouterr()
    assert read == [1]   # the test file, once, after training
    assert 'trained again on the whole training file for' in captured.out
    assert captured.out.count('exact, whole test set') == 1 and 'validation AUC' in captured.out
    saved = json.loads((out / 'history.json').read_text())
    h, info = saved['history'], saved['info']
    assert h['refit']['epochs'] == h['best_epoch'] == h['validation']['epoch']
    assert info['preset'] == 'tuned' and info['refit'] and info['train']['from_sigmoid']
    assert info['train']['wd'] == 1e-5 and 'no second sigmoid' in info['train']['loss']
    # the model is the book's model, built again from its folder, trained on the whole file
    whole = ctr_runs.read_click_data('ml100k-ctr', movielens)
    assert info['hparams']['field_dims'] == [int(d) for d in whole.train.field_dims]
    tab = __import__(f'd2l_recsys.{framework}', fromlist=['load_model'])
    net, meta, _ = tab.load_model(str(out))
    probs = tab.predict_clicks(net, whole.test.features)
    assert clicks.roc_auc(probs, whole.test.labels) == pytest.approx(h['test_exact']['auc'])
    assert cli.main(['recommend', '--model', str(out), '--user', '3', '-k', '2']) == 0
    for flags, words in ((['--factors', '3'], 'drop --factors'),
                         (['--lr', '0.1'], 'drop --lr'),
                         (['--dataset', 'ctr'], "the click presets are tuned on 'ml100k-ctr'")):
        capsys.readouterr()
        assert cli.main(['train', model, '--preset', 'tuned', *flags, '--framework', framework,
                         '--data', movielens, '--out', str(tmp_path / 'x')]) in (1, 2)
        assert words in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()


@pytest.mark.parametrize('framework', tabs())
def test_tune_from_the_command_line(movielens, tmp_path, monkeypatch, capsys, framework):
    monkeypatch.setitem(defaults.SPACES, 'deepfm', SPACE['deepfm'])
    monkeypatch.setattr(defaults, 'TUNED', {('deepfm', 'ml100k-ctr'): SMALL['deepfm']})
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'deepfm', '--framework', framework, '--trials', '2',
                     '--max-epochs', '3', '--eval-seeds', '0,1', '--refit', '--data',
                     movielens, '--start', '{"mlp_dims": "8", "drop_rate": 0.0}',
                     '--out', str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record['history']) == 2 and record['preset']['num_epochs'] == 3
    first = record['history'][0]['params']
    assert first['mlp_dims'] == '8' and first['lr'] == SMALL['deepfm']['lr']
    e = record['evaluation']
    assert [r['seed'] for r in e['per_seed']] == [0, 1] and record['preset']['refit']
    assert e['test_auc_mean'] == pytest.approx(
        sum(r['test_auc'] for r in e['per_seed']) / 2)
    assert 'exact test AUC' in capsys.readouterr().out
    for args, words in ((['--split', 'random'], '--split is an MF and AutoRec option'),
                        (['--clip'], '--clip is an AutoRec option; DeepFM predictions'),
                        (['--start', '{"hidden": 3}'], 'not hidden'),
                        (['--start', '{"mlp_dims": "7,7"}'], 'mlp_dims must be one of')):
        assert cli.main(['tune', 'deepfm', *args, '--out', str(tmp_path / 'y.json')]) == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / 'y.json').exists()


def test_an_interrupted_search_keeps_its_finished_trials(movielens, tmp_path, monkeypatch,
                                                         capsys):
    tab = experiments(tabs()[0])
    calls = []
    real = tab.fit_clicks

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(tab, 'fit_clicks', fit)
    monkeypatch.setitem(defaults.SPACES, 'fm', SPACE['fm'])
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', 'fm', '--framework', tabs()[0], '--trials', '9', '--max-epochs',
                     '2', '--data', movielens, '--out', str(out)]) == 130
    record = json.loads(out.read_text())
    assert record['interrupted'] is True and record['finished'] == 2
    assert record['best_validation_auc'] == max(t['value'] for t in record['history']
                                                if t['state'] == 'COMPLETE')
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'd2l-recsys: interrupted after 2 finished trial(s) of 9; they are in {out} '
        '("interrupted": true)')


def test_every_click_preset_has_its_evidence_on_seeds_no_choice_used():
    from d2l_recsys.click_evidence import CLICK_BASELINES, CLICK_EVIDENCE
    click = {key for key in defaults.TUNED if key[0] in defaults.CLICK_MODELS}
    assert click == set(CLICK_EVIDENCE) == {('fm', 'ml100k-ctr'), ('deepfm', 'ml100k-ctr')}
    for key, e in CLICK_EVIDENCE.items():
        assert not set(e['report_seeds']) & set(e['validation_seeds']), key
        assert [r['seed'] for r in e['per_seed']] == e['report_seeds']
        assert e['test_auc_mean'] == pytest.approx(
            sum(r['test_auc'] for r in e['per_seed']) / len(e['per_seed']), abs=1e-5)
        assert e['refit'] == defaults.TUNED[key].get('refit', False)
    lightgbm = CLICK_BASELINES['lightgbm']
    assert len(lightgbm['report_seeds']) == len(lightgbm['trees'])
