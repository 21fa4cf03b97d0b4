"""Tuned presets for the ranking half (d2l_recsys.rank_tuning), in both tabs: the validation
split is each user's second-latest item, early stopping gives back the best epoch, the search
never reads the test items, NeuMF's ``output='logit'`` and Caser's softmax loss are the same
computation in both frameworks, ``train --preset tuned`` repeats a seed of the evidence, and the
model folders rebuild the options. Tiny data, on the CPU."""
import importlib.util
import json
import os

import numpy as onp
import pandas as pd
import pytest

from conftest import NO_MXNET, make_ratings, write_u_data
from d2l_recsys import cli, defaults, rank_data, rank_evidence, rank_metrics, rank_tuning
from d2l_recsys.defaults import BOOK, SPACES, TUNED
from d2l_recsys.experiments import check_settings

pytest.importorskip('optuna')
needs_mxnet = pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')
needs_torch = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                 reason='needs PyTorch (the PyTorch tab)')
FRAMEWORKS = [pytest.param('mxnet', marks=needs_mxnet), 'torch']
# Small enough for the tiny data: a few factors, batches of 128, a few epochs.
SPACE = {'neumf': dict(output=('sigmoid', 'logit'), num_factors=('int-log', 2, 6),
                       lr=('log', 0.005, 0.05), wd=(0.0, 1e-5), batch_size=(128, 256)),
         'caser': dict(loss=('bpr', 'softmax'), num_factors=('int-log', 2, 6),
                       drop_ratio=('float', 0.0, 0.5), lr=('log', 0.005, 0.05),
                       wd=(0.0, 1e-5), batch_size=(128, 256))}
SMALL = {'neumf': dict(output='logit', num_factors=4, lr=0.02, wd=0.0, batch_size=128,
                       num_epochs=3),
         'caser': dict(loss='softmax', num_factors=4, drop_ratio=0.3, lr=0.02, wd=0.0,
                       batch_size=128, num_epochs=3)}


def _tab(framework):
    if framework == 'torch':
        pytest.importorskip('torch')
        from d2l_recsys.torch import experiments
    else:
        from d2l_recsys.mxnet import experiments
    return experiments


@pytest.fixture(scope='module')
def ratings():
    return make_ratings(20, 150, seed=0, per_user=(100, 130))


@pytest.fixture(scope='module')
def rank_dir(ratings, tmp_path_factory):
    folder = tmp_path_factory.mktemp('rank-tune')
    write_u_data(str(folder), ratings)
    with open(folder / 'u.item', 'w', encoding='latin-1') as f:
        for i in range(1, 151):
            f.write(f'{i}|Film {i} (1996)|01-Jan-1996||x' + '|0' * 19 + '\n')
    return str(folder)


def latest(df):
    """Each user's latest row (the first in file order among equal times, as the split)."""
    order = df.assign(row=range(len(df))).sort_values(['user_id', 'timestamp', 'row'],
                                                      ascending=[True, False, True])
    return order.groupby('user_id').head(1).set_index('user_id')


# --------------------------------------------------------------------- the validation split
def test_validation_holds_out_each_users_second_latest_item(ratings, rank_dir):
    full = rank_data.read_rank_data(rank_dir)
    val = rank_data.read_rank_data(rank_dir, validation=True)
    assert (full.held_out, val.held_out) == ('test', 'validation')
    test_item = latest(ratings).item_id - 1
    rest = ratings[[(u, i) not in set(zip(test_item.index, test_item + 1))
                    for u, i in zip(ratings.user_id, ratings.item_id)]]
    second = latest(rest).item_id - 1
    assert {u: v for u, v in full.test_items.items()} == \
        {u - 1: [i] for u, i in test_item.items()}
    assert {u: v for u, v in val.test_items.items()} == {u - 1: [i] for u, i in second.items()}
    # validation trains on the training part less the validation items, in the same order
    pairs = list(zip(full.users, full.items))
    held = {(u, v[0]) for u, v in val.test_items.items()}
    assert list(zip(val.users, val.items)) == [p for p in pairs if p not in held]
    assert sorted(pairs) == sorted(list(zip(val.users, val.items)) + list(held))
    for u in range(full.num_users):   # the test item is nowhere in the validation data
        assert full.test_items[u][0] not in val.candidates[u]


def test_a_user_with_one_rating_has_no_validation_item(tmp_path):
    df = make_ratings(6, 20, seed=2, per_user=(6, 9))
    one = pd.DataFrame({'user_id': [7], 'item_id': [3], 'rating': [4],
                        'timestamp': [df.timestamp.max() + 1]})
    write_u_data(str(tmp_path), pd.concat([df, one]))
    rank_data.read_rank_data(str(tmp_path))   # the test split: user 7's rating is its test
    with pytest.raises(ValueError, match='user 7 has a single rating: the validation split'):
        rank_data.read_rank_data(str(tmp_path), validation=True)


# ------------------------------------------------------------------------ early stopping
@pytest.mark.parametrize('framework', FRAMEWORKS)
@pytest.mark.parametrize('model', ['neumf', 'caser'])
def test_early_stopping_gives_back_the_best_validation_epoch(rank_dir, framework, model):
    tab = _tab(framework)
    data = rank_tuning.validation_data(rank_dir)
    settings, options = rank_tuning.preset_settings(model, dict(SMALL[model], num_epochs=12,
                                                                lr=0.05))
    tab.set_seed(0)
    net, h = tab.fit_ranking(model, settings, data, options=options, patience=2)
    per_epoch = [e['hr@10'] for e in h['exact']]
    best = h['best_epoch']
    assert h['best_hr10'] == max(per_epoch) == per_epoch[best - 1]
    assert per_epoch.index(max(per_epoch)) == best - 1       # the first best epoch
    assert h['stopped_epoch'] == len(per_epoch) == min(best + 2, 12)
    # the net holds the best epoch's parameters, not the last epoch's
    scores = _scores(framework, net, data, settings)
    again = rank_metrics.exact_ranking_metrics(scores, data.candidates, data.test_items)
    assert again['hr@10'] == pytest.approx(h['best_hr10'], abs=1e-12)
    assert again['auc'] == pytest.approx(h['exact'][best - 1]['auc'], abs=1e-6)


def _scores(framework, net, data, settings):
    """Every user's score of every item (Caser: after ``settings['L']`` training items, or
    the loaded model's ``last_items``)."""
    seq = getattr(net, 'last_items', None)
    if hasattr(net, 'conv_v') and seq is None:
        seq = rank_data.seq_windows(data.users, data.items, settings['L'],
                                    data.num_users).test_seq
    if framework == 'torch':
        from d2l_recsys.torch import fast_ranking
    else:
        from d2l_recsys.mxnet import fast_ranking
    return fast_ranking.user_item_scores(net, seq=seq)


# -------------------------------------------------------------- the search and the report
def poisoned_copy(ratings, dest):
    """``ratings`` with each user's test item (their latest) replaced by an item they never
    rated, at the same time: the same training part and validation items, other test items."""
    df = ratings.copy()
    rows = df.assign(row=range(len(df))).sort_values(
        ['user_id', 'timestamp', 'row'], ascending=[True, False, True]).groupby(
            'user_id').head(1).index
    for k in rows:
        u = df.at[k, 'user_id']
        rated = set(df.item_id[df.user_id == u])
        df.at[k, 'item_id'] = next(i for i in range(150, 0, -1) if i not in rated)
    write_u_data(str(dest), df)
    return str(dest)


@pytest.mark.parametrize('framework', FRAMEWORKS)
@pytest.mark.parametrize('model', ['neumf', 'caser'])
def test_search_never_reads_the_test_items(ratings, rank_dir, tmp_path, framework, model):
    tab = _tab(framework)
    poisoned = poisoned_copy(ratings, tmp_path / 'poisoned')
    assert rank_data.read_rank_data(poisoned).test_items != \
        rank_data.read_rank_data(rank_dir).test_items
    records = [rank_tuning.search(model, tab=tab, trials=3, seed=1, seeds=[1, 2],
                                  data_dir=d, max_epochs=3, patience=2, space=SPACE[model])
               for d in (rank_dir, poisoned)]
    clean, dirty = ([(t['value'], t['params'], t['best_epochs']) for t in r['history']]
                    for r in records)
    assert clean == dirty and len(clean) == 3
    assert records[0]['preset'] == records[1]['preset']
    best = max(records[0]['history'], key=lambda t: t['value'] or -1)
    epochs = best['best_epochs']
    assert records[0]['preset']['num_epochs'] == int(sum(epochs) / len(epochs) + 0.5)
    assert records[0]['best_validation_hr10'] == best['value'] == \
        pytest.approx(sum(best['per_seed']) / 2)
    values = {k: v for k, v in records[0]['preset'].items()}
    reports = [rank_tuning.evaluate(model, tab=tab, seeds=[1], values=values, data_dir=d)
               for d in (rank_dir, poisoned)]
    assert reports[0]['per_seed'][0]['validation'] == reports[1]['per_seed'][0]['validation']
    assert reports[0]['per_seed'][0]['test'] != reports[1]['per_seed'][0]['test']


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_train_preset_tuned_repeats_a_seed_of_the_report_and_saves_the_options(
        rank_dir, tmp_path, monkeypatch, capsys, framework):
    tab = _tab(framework)
    monkeypatch.setattr(defaults, 'TUNED', {(m, 'seq-aware'): v for m, v in SMALL.items()})
    for model in ('neumf', 'caser'):
        out = tmp_path / f'{model}-{framework}'
        assert cli.main(['train', model, '--preset', 'tuned', '--seed', '1', '--framework',
                         framework, '--devices', 'cpu', '--data', rank_dir, '--out',
                         str(out)]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(('NeuMF', 'Caser')[model == 'caser'] + ' tuned preset')
        saved = json.loads((out / 'history.json').read_text())
        report = rank_tuning.evaluate(model, tab=tab, seeds=[1], data_dir=rank_dir)
        assert report['values'] == SMALL[model]
        last = saved['history']['exact'][-1]
        assert {k: last[k] for k in rank_tuning.METRICS} == \
            pytest.approx(report['per_seed'][0]['test'], abs=1e-9)
        train = saved['info']['train']
        assert train['num_epochs'] == 3
        assert train['loss'] == {'neumf': BOOK['neumf']['loss'], 'caser': 'softmax'}[model]
        meta = json.loads((out / 'model.json').read_text())
        assert meta['hparams'].get('output') == {'neumf': 'logit', 'caser': None}[model]
        # the folder rebuilds the model with its options: the run's scores (logits for NeuMF)
        namespace = __import__(f'd2l_recsys.{framework}', fromlist=['load_model'])
        net, meta, _ = namespace.load_model(str(out))
        scores = _scores(framework, net, rank_data.read_rank_data(rank_dir), None)
        if model == 'neumf':
            assert net.output == 'logit' and (scores < 0).any()
        data = rank_data.read_rank_data(rank_dir)
        again = rank_metrics.exact_ranking_metrics(scores, data.candidates, data.test_items)
        assert {k: again[k] for k in rank_tuning.METRICS} == \
            pytest.approx({k: last[k] for k in rank_tuning.METRICS}, abs=1e-6)
        assert cli.main(['recommend', '--model', str(out), '--user', '3', '-k', '4']) == 0
        assert 'top 4 unseen items for user 3' in capsys.readouterr().out
    assert cli.main(['train', 'caser', '--preset', 'tuned', '--drop-ratio', '0.1']) == 2
    assert 'drop --drop-ratio' in capsys.readouterr().err


def test_the_presets_are_in_their_search_spaces_and_train():
    for model in ('neumf', 'caser'):
        values = defaults.preset(model, 'seq-aware', 'tuned')
        assert values.pop('split_mode') == 'seq-aware'
        settings, options = rank_tuning.preset_settings(model, values)
        assert set(values) == set(SPACES[model]) | {'num_epochs'}
        assert settings['num_epochs'] == values['num_epochs'] >= 1
    assert TUNED[('neumf', 'seq-aware')]['wd'] == 0 != BOOK['neumf']['wd']
    assert TUNED[('caser', 'seq-aware')]['loss'] == 'softmax'
    with pytest.raises(ValueError, match='neumf preset: unknown setting drop_ratio'):
        rank_tuning.preset_settings('neumf', {'drop_ratio': 0.1})
    with pytest.raises(ValueError, match="output must be one of 'sigmoid', 'logit'"):
        rank_tuning.preset_settings('neumf', {'output': 'tanh'})
    with pytest.raises(ValueError, match='seq-aware split'):
        rank_tuning.evaluate('caser', 'random', tab=None)


# ------------------------------------------------------------------------------------ tune
@pytest.mark.parametrize('model, framework, eval_seed', [
    pytest.param('neumf', 'mxnet', 0, marks=needs_mxnet),
    pytest.param('caser', 'torch', 2, marks=needs_torch)])
def test_tune_from_the_command_line(rank_dir, tmp_path, monkeypatch, capsys, model, framework,
                                    eval_seed):
    other = {'neumf': 'caser', 'caser': 'neumf'}[model]
    monkeypatch.setitem(SPACES, model, SPACE[model])
    monkeypatch.setattr(defaults, 'TUNED', {(model, 'seq-aware'): SMALL[model]})
    out = tmp_path / 'tune.json'
    assert cli.main(['tune', model, '--framework', framework, '--trials', '2',
                     '--max-epochs', '3', '--eval-seeds', str(eval_seed), '--search-seeds',
                     '0,1', '--start', '{"num_factors": 3}', '--data', rank_dir,
                     '--out', str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record['history']) == 2 and record['validation_seeds'] == [0, 1]
    first = record['history'][0]
    # the start point's missing names are the tuned preset's
    assert first['params'] == {**{k: SMALL[model][k] for k in SPACE[model]}, 'num_factors': 3}
    assert record['preset']['num_epochs'] <= 3
    assert [r['seed'] for r in record['evaluation']['per_seed']] == [eval_seed]
    assert record['evaluation']['framework'] == framework
    used = [eval_seed] if eval_seed in (0, 1) else []
    assert record['evaluation']['seeds_in_choice'] == used
    printed = capsys.readouterr().out
    assert 'best validation HR@10' in printed and 'exact test HR@10' in printed
    report = [line for line in printed.splitlines() if line.startswith('exact test')]
    assert len(report) == 1 and report[0].endswith(
        f'(seeds {used} also chose the preset; report on seeds used in no choice)' if used
        else '(seeds used in no choice)')
    assert not os.path.exists(tmp_path / 'results')
    # tools/tuned_presets.py turns the record into the evidence, saying which seeds chose
    records = tmp_path / 'records'
    records.mkdir()
    (records / f'{model}-seq-aware.json').write_text(out.read_text())
    tool = _tuned_presets_tool(tmp_path, monkeypatch)
    assert tool.ranking_evidence(str(records)) == {(model, 'seq-aware'): record['preset']}
    written = {}
    exec(open(tool.RANK_EVIDENCE).read(), written)
    entry = written['RANKING_EVIDENCE'][(model, 'seq-aware')]
    assert entry['preset'] == record['preset'] and entry['choice_seeds'] == [0, 1]
    assert entry['search']['best_epochs'] == record['best_epochs']
    [run] = entry['evaluations']
    assert run['seeds'] == [eval_seed] and run['seeds_in_choice'] == used
    assert run['test_mean']['hr@10'] == pytest.approx(record['evaluation']['test_mean']['hr@10'],
                                                      rel=1e-4)
    # the other model's entry is kept as it was
    assert written['RANKING_EVIDENCE'][(other, 'seq-aware')] == \
        rank_evidence.RANKING_EVIDENCE[(other, 'seq-aware')]


def _tuned_presets_tool(tmp_path, monkeypatch):
    """tools/tuned_presets.py, writing to a copy of d2l_recsys/rank_evidence.py."""
    import importlib.util
    import shutil
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        'tuned_presets_tool', os.path.join(root, 'tools', 'tuned_presets.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    copy = tmp_path / 'rank_evidence.py'
    shutil.copy(tool.RANK_EVIDENCE, copy)
    monkeypatch.setattr(tool, 'RANK_EVIDENCE', str(copy))
    return tool


@pytest.mark.parametrize('args, words', [
    (['--split', 'random'], 'NeuMF uses the seq-aware split'),
    (['--refit'], '--refit is an MF and AutoRec option'),
    (['--clip'], '--clip is an MF and AutoRec option'),
    (['--start', '{"hidden": 5}'], 'neumf searches output, num_factors, lr, wd, batch_size; '
                                   'not hidden'),
    (['--start', '{"wd": 0.5}'], '--start: wd must be one of'),
    (['--start', '{"output": "tanh"}'], '--start: output must be one of'),
])
def test_tune_checks_its_arguments_before_the_search(args, words, tmp_path, capsys):
    assert cli.main(['tune', 'neumf', *args, '--data', str(tmp_path / 'nowhere')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_an_interrupted_ranking_search_keeps_its_finished_trials(rank_dir, tmp_path,
                                                                  monkeypatch, capsys):
    tab = _tab('mxnet' if NO_MXNET is None else 'torch')
    fit, calls = tab.fit_ranking, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)
    monkeypatch.setattr(tab, 'fit_ranking', interrupted)
    monkeypatch.setitem(SPACES, 'caser', SPACE['caser'])
    out = tmp_path / 'tune.json'
    code = cli.main(['tune', 'caser', '--framework', tab.__name__.split('.')[-2],
                     '--trials', '50', '--max-epochs', '2', '--data', rank_dir,
                     '--out', str(out)])
    assert code == 130
    record = json.loads(out.read_text())
    assert record['interrupted'] is True and record['finished'] == 2
    assert record['best_validation_hr10'] == max(t['value'] for t in record['history']
                                                 if t['state'] == 'COMPLETE')
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'd2l-recsys: interrupted after 2 finished trial(s) of 50; they are in {out} '
        '("interrupted": true)')


# ------------------------------------------------------------------------------ evidence
def test_the_recorded_evidence_is_the_presets_and_its_means_are_its_rows():
    assert set(rank_evidence.RANKING_EVIDENCE) == {(m, 'seq-aware') for m in ('neumf', 'caser')}
    for key, e in rank_evidence.RANKING_EVIDENCE.items():
        model, split = key
        assert e['preset'] == dict(TUNED[key])
        choice = e['search']['choice_seeds']
        assert e['choice_seeds'] == choice and choice
        assert len(e['search']['best_epochs']) == len(choice)
        epochs = e['search']['best_epochs']   # the preset's epochs: the mean of the best ones
        assert e['preset']['num_epochs'] == int(sum(epochs) / len(epochs) + 0.5)
        unused = []
        for run in e['evaluations']:
            assert run['seeds'] == [r['seed'] for r in run['per_seed']]
            # which seeds chose is said for each report, and is what the search says
            assert run['seeds_in_choice'] == sorted(set(run['seeds']) & set(choice))
            stages = [s for s in ('validation', 'test') if f'{s}_mean' in run]
            assert 'test' in stages
            for stage in stages:
                assert all(stage in r for r in run['per_seed'])
                assert set(run[f'{stage}_mean']) <= set(rank_tuning.METRICS)
                for k in run['per_seed'][0][stage]:   # per seed to 3 decimals, means to 4
                    values = [r[stage][k] for r in run['per_seed']]
                    assert run[f'{stage}_mean'][k] == pytest.approx(onp.mean(values),
                                                                   abs=6e-4)
            if run['preset'] == 'tuned' and not run['seeds_in_choice']:
                unused.append(run)
        assert unused, f'{model}: no report on seeds used in no choice'
        for run in e.get('confirmations', []):   # the package's own runs, on unused seeds
            assert run['seed'] not in choice and set(run['test']) <= set(rank_tuning.METRICS)
            [reported] = [r['test'] for u in unused for r in u['per_seed']
                          if r['seed'] == run['seed']]
            assert run['test']['hr@10'] == pytest.approx(reported['hr@10'], abs=0.02)
            assert run['test']['auc'] == pytest.approx(reported['auc'], abs=0.005)
    # the best tuned model beats every peer on both metrics, on seeds 0-4 and on the unused
    for seeds in ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)):
        column = rank_evidence.tuned_column(seeds)
        assert set(column) == set(rank_evidence.RANKING_EVIDENCE)
        assert all(n == 5 for metrics in column.values() for _, _, n in metrics.values())
        best = max(column.values(), key=lambda m: m['hr@10'][0])
        assert all(best[k][0] > target for k, target in rank_evidence.TARGETS.items())
    assert rank_evidence.tuned_column(framework='mxnet') == {}   # the research's are PyTorch's


# ------------------------------------------------- the options in both frameworks, checked
def test_options_are_checked_in_one_line():
    with pytest.raises(ValueError, match=r"loss must be 'bpr' or 'hinge' \(softmax is Caser's"):
        check_settings('neumf', loss='softmax')
    assert check_settings('caser', loss='softmax')['loss'] == 'softmax'
    with pytest.raises(ValueError, match="loss must be 'bpr' or 'hinge' or 'softmax'"):
        check_settings('caser', loss='bce')


@pytest.mark.parametrize('framework', FRAMEWORKS)
def test_softmax_trains_on_the_fast_path_only_and_output_is_checked(rank_dir, framework):
    tab = _tab(framework)
    with pytest.raises(ValueError, match="Caser's softmax loss trains on the fast path only"):
        tab.train_caser(loss='softmax', data_dir=rank_dir, devices='cpu', plot=False)
    with pytest.raises(ValueError, match="output must be one of 'sigmoid', 'logit', got 'x'"):
        tab.train_neumf(output='x', data_dir=rank_dir, devices='cpu', plot=False)
