"""The ranking part of ``make reproduce`` without training: stand-in tabs and made-up records.

What is checked: the part is registered after the rating part and runs through
``reproduce.main``; the tabs' functions are called with the book's settings over the seeds; the
notebooks' runs are seed 0 of the MXNet rows when they ran the book's settings, and a notebook
without its record stops the part with one line; NeuMF's printed figures are checked with
their tolerance and the table says what the collapse means; the popularity baseline is
computed (framework-free, on tiny data); the tables, figures and the tuned column.
"""
import ast
import csv
import json
import os
import types

import pytest

from conftest import make_ratings, needs_mxnet, write_u_data
from d2l_recsys import records, reproduce, reproduce_ranking, rank_metrics, rank_scores
from d2l_recsys.defaults import BOOK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def no_notebooks(monkeypatch):
    """The part's phase 1 runs the real notebooks: tests that want it stand them in."""
    monkeypatch.setattr(reproduce_ranking, 'RUN_NOTEBOOKS', False)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('rank-reproduce'))
    write_u_data(folder, make_ratings(20, 60, seed=1, per_user=(8, 30)))
    return folder


# ---------------------------------------------------------------- made-up runs
def _history(hit_rate, auc, hr10, exact_auc, epochs):
    exact = {'hr@10': hr10, 'hr@50': min(1.0, 4 * hr10), 'ndcg@10': hr10 / 2,
             'auc': exact_auc, 'mean_rank': 100.0, 'pairs': 943, 'candidates': 1577.0}
    return {'epoch': list(range(1, epochs + 1)), 'train_loss': [0.69] * epochs,
            'seconds': [1.0] * epochs, 'train_seconds': [0.8] * epochs,
            'eval_epoch': list(range(1, epochs + 1)), 'hit_rate': [hit_rate] * epochs,
            'auc': [auc] * epochs, 'exact': [dict(exact) for _ in range(epochs)],
            'printed_train_loss': 33.964, 'printed_examples_per_sec': 1e4,
            'examples_per_sec': 1e5, 'devices': ['cpu(0)']}


# What the stand-ins return: model -> (book hit rate, book AUC, exact HR@10, exact AUC).
COLLAPSE = {'neumf': (0.0753, 0.5314, 0.0064, 0.5), 'caser': (0.398, 0.755, 0.146, 0.889),
            'mf_ranking': (0.28, 0.69, 0.10, 0.84)}


class StandInTab(types.ModuleType):
    """A tab's experiments module without training: ``train_neumf``, ``train_caser`` and
    ``train_mf_ranking`` with the tabs' keywords, returning ``(net, history, info)``; seed
    ``s`` adds ``s * spread`` to the book's hit rate."""

    def __init__(self, values=COLLAPSE, spread=0.0):
        super().__init__('stand_in_tab')
        self.values, self.spread, self.calls = values, spread, []

    def _train(self, model, *, seed, fast, num_epochs, data_dir, plot, progress, **rest):
        self.calls.append((model, seed, fast, num_epochs))
        assert rest == {} and plot is False and progress is False
        hit, auc, hr10, exact_auc = self.values[model]
        print('train loss 33.964, ...')   # the book's line, which goes to the run's log
        return None, _history(hit + seed * self.spread, auc, hr10, exact_auc, num_epochs), {}

    def train_neumf(self, **kwargs):
        return self._train('neumf', **kwargs)

    def train_caser(self, **kwargs):
        return self._train('caser', **kwargs)

    def train_mf_ranking(self, **kwargs):
        return self._train('mf_ranking', **kwargs)


def _ctx(tmp_path, data_dir, tabs, quick=False, n_seeds=3):
    return types.SimpleNamespace(
        quick=quick, n_seeds=n_seeds, fast=True, data_dir=data_dir, devices=['cpu(0)'],
        tabs=tabs, frameworks=list(tabs), torch_note=None, out_dir=str(tmp_path / 'out'),
        log_dir=str(tmp_path / 'out' / 'logs'), executed_dir=str(tmp_path / 'executed'))


# ---------------------------------------------------------------- registration
def test_the_ranking_part_follows_the_rating_part():
    assert list(reproduce.PARTS)[:2] == ['rating', 'ranking']
    assert reproduce.PARTS['ranking'] == reproduce_ranking.__name__
    assert reproduce.parse_args(['--parts', 'ranking']).parts == ['ranking']


# ---------------------------------------------------------------- the part, end to end
def test_the_part_trains_every_seed_and_writes_tables_figures_and_logs(tmp_path, data_dir,
                                                                       capsys):
    tabs = {'mxnet': StandInTab(), 'torch': StandInTab()}
    result = reproduce_ranking.run(_ctx(tmp_path, data_dir, tabs))
    assert result['failures'] == [] and result['errors'] == []
    # The book's settings over seeds 0-2, on the fast path, in both tabs.
    for tab in tabs.values():
        assert sorted(tab.calls) == sorted(
            (model, seed, True, epochs) for model, epochs in (
                ('neumf', BOOK['neumf']['num_epochs']), ('caser', BOOK['caser']['num_epochs']),
                ('mf_ranking', BOOK['neumf']['num_epochs'])) for seed in range(3))
    out = tmp_path / 'out'
    for stem in ('neumf_curves', 'caser_curves', 'torch_neumf_curves', 'torch_caser_curves',
                 'ranking_same_protocol'):
        assert (out / f'{stem}.png').stat().st_size > 0
        assert (out / f'{stem}.svg').stat().st_size > 0
    assert 'train loss 33.964' in (out / 'logs' / 'ranking_torch_caser_seed2.log').read_text()
    report = json.loads((out / 'ranking.json').read_text())
    assert [(r['framework'], r['model']) for r in report['book_table']] == [
        ('mxnet', 'neumf'), ('mxnet', 'caser'), ('torch', 'neumf'), ('torch', 'caser')]
    assert [(r['framework'], r['model']) for r in report['same_table']] == [
        (None, 'popularity'), ('mxnet', 'mf'), ('torch', 'mf'), ('mxnet', 'neumf'),
        ('torch', 'neumf'), ('mxnet', 'caser'), ('torch', 'caser')]
    neumf = report['book_table'][0]
    assert neumf['within'] is True and neumf['learned_nothing'] is True
    assert neumf['hit_rate_std'] == 0 and neumf['runs'][0]['kind'] == 'fast path'
    assert report['book_table'][1]['published_hit_rate'] is None
    assert 'within' not in report['book_table'][1]
    assert sorted(result['files']) == sorted(report['files'])
    text = (out / 'ranking.md').read_text()
    assert ('0.075 / 0.531 +- 0.0005: ok; the score of a model that learned nothing (exact '
            'HR@10 0.006, AUC 0.500)') in text
    assert "| MXNet | Caser | - |" in text and 'no tolerance: nothing printed' in text
    assert 'QUICK RUN' not in text
    rows = list(csv.DictReader(open(out / 'ranking.csv')))
    assert len(rows) == 4 + 7
    assert rows[0]['within_tolerance'] == 'True' and rows[0]['published_hit_rate'] == '0.075'
    printed = capsys.readouterr().out
    assert 'reproduce: PyTorch Caser, seed 2 (fast path) ...' in printed
    assert 'MXNet   NeuMF  book\'s hit rate 0.075 +- 0.000' in printed
    assert not [p for p in os.listdir(out) if p.startswith('.')]   # no temporary files left


def test_the_popularity_baseline_is_every_items_training_count(data_dir):
    from d2l_recsys.rank_data import read_rank_data
    data = read_rank_data(data_dir)
    row = reproduce_ranking.popularity_row(data_dir)
    scores = rank_scores.popularity_score_matrix(data.users, data.items, data.num_users,
                                                 data.num_items)
    counts = [sum(1 for i in data.items if i == j) for j in range(data.num_items)]
    assert scores.shape == (data.num_users, data.num_items)
    assert (scores == counts).all()   # every row the items' training counts
    exact = rank_metrics.exact_ranking_metrics(scores, data.candidates, data.test_items)
    assert row['exact'] == {k: exact[k] for k in ('hr@10', 'hr@50', 'ndcg@10', 'auc',
                                                  'mean_rank')}
    hit_rate, auc, _ = rank_metrics.book_hit_and_auc(scores, data.test_items, data.candidates,
                                                     data.num_users)
    assert (row['hit_rate'], row['auc']) == (hit_rate, auc)
    with pytest.raises(ValueError, match='item index out of range'):
        rank_scores.popularity_score_matrix([0], [data.num_items], data.num_users,
                                            data.num_items)


def test_the_popularity_baseline_on_movielens_is_the_research_scripts(real_data_dir):
    # docs/ranking-presets.md, "Peers": tools/ranking_research.py's own popularity baseline on
    # this protocol, HR@10 0.0838, NDCG@10 0.0424, AUC 0.7989.
    exact = reproduce_ranking.popularity_row(real_data_dir)['exact']
    assert exact['hr@10'] == pytest.approx(0.0838, abs=5e-5)
    assert exact['ndcg@10'] == pytest.approx(0.0424, abs=5e-5)
    assert exact['auc'] == pytest.approx(0.7989, abs=5e-5)


@pytest.mark.parametrize('hit_rate, ok', [(0.0755, True), (0.0745, True), (0.0756, False)])
def test_neumfs_printed_figure_is_checked_within_the_books_rounding(tmp_path, data_dir, hit_rate,
                                                                   ok):
    values = dict(COLLAPSE, neumf=(hit_rate,) + COLLAPSE['neumf'][1:])
    result = reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': StandInTab(values)},
                                        n_seeds=2))
    if ok:
        assert result['failures'] == []
    else:
        assert result['failures'] == [
            "MXNet NeuMF: mean book's hit rate 0.0756 over 2 seeds is outside 0.075 +- 0.0005"]
        assert '**OUTSIDE**' in (tmp_path / 'out' / 'ranking.md').read_text()


def test_a_neumf_that_learned_is_not_called_a_model_that_learned_nothing(tmp_path, data_dir):
    values = dict(COLLAPSE, neumf=(0.30, 0.70, 0.10, 0.85))
    result = reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': StandInTab(values)},
                                        n_seeds=2))
    assert len(result['failures']) == 2   # the book's hit rate and AUC both off
    text = (tmp_path / 'out' / 'ranking.md').read_text()
    assert 'learned nothing (exact' not in text
    assert "the model learned (exact HR@10 0.100, AUC 0.850), unlike the book's run" in text


def test_quick_trains_two_epochs_and_says_so(tmp_path, data_dir):
    tab = StandInTab(spread=0.01)
    reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': tab}, quick=True, n_seeds=2))
    assert {(seed, epochs) for _, seed, _, epochs in tab.calls} == {(0, 2), (1, 2)}
    text = (tmp_path / 'out' / 'ranking.md').read_text()
    assert text.count('QUICK RUN') == 1 and '| PyTorch |' not in text


def test_the_tuned_column_reads_the_recorded_presets_and_says_dash_without(tmp_path, data_dir,
                                                                           monkeypatch):
    monkeypatch.setattr(reproduce_ranking, 'TUNED_RANKING', {
        ('mxnet', 'caser'): {'settings': 'softmax', 'hr@10': (0.207, 0.0047, 5),
                             'auc': (0.9063, 0.0011, 5)}})
    reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': StandInTab()}, n_seeds=1))
    lines = (tmp_path / 'out' / 'ranking.md').read_text().splitlines()
    caser = next(x for x in lines if x.startswith('| Caser | MXNet |'))
    assert caser.endswith('| 0.2070 +- 0.0047 (n=5) | - | 0.9063 +- 0.0011 (n=5) |')
    neumf = next(x for x in lines if x.startswith('| NeuMF | MXNet |'))
    assert neumf.endswith('| - | - | - |')


def test_the_tuned_column_is_the_evidence_on_seeds_used_in_no_choice(tmp_path, data_dir):
    # Filled from the ranking presets' evidence: each tuned preset's test numbers on the seeds
    # that chose nothing, under the tab that measured them, and the words that say so.
    from d2l_recsys import rank_evidence
    from d2l_recsys.rmse_tables import plus_minus
    tuned = reproduce_ranking.TUNED_RANKING
    assert {model for _, model in tuned} == {m for m, _ in rank_evidence.RANKING_EVIDENCE}
    for (framework, model), value in tuned.items():
        evidence = rank_evidence.RANKING_EVIDENCE[(model, 'seq-aware')]
        [run] = [r for r in evidence['evaluations'] if r['preset'] == 'tuned'
                 and r['framework'] == framework and not r['seeds_in_choice']]
        assert run['seeds'] == list(reproduce_ranking.TUNED_SEEDS)
        assert not set(run['seeds']) & set(evidence['choice_seeds'])
        for k in ('hr@10', 'ndcg@10', 'auc'):
            assert value[k] == (run['test_mean'][k], run['test_std'][k], len(run['seeds']))
        assert 'seeds 5-9, used in no choice' in value['settings']
    reproduce_ranking.run(_ctx(tmp_path, data_dir, {'torch': StandInTab()}, n_seeds=1))
    text = (tmp_path / 'out' / 'ranking.md').read_text()
    lines = text.splitlines()
    for model, label in (('neumf', 'NeuMF'), ('caser', 'Caser')):
        cells = [f'{plus_minus(*tuned[("torch", model)][k][:2], 4)} (n=5)'
                 for k in ('hr@10', 'ndcg@10', 'auc')]
        row = next(x for x in lines if x.startswith(f'| {label} | PyTorch |'))
        assert row.endswith('| ' + ' | '.join(cells) + ' |'), row
        assert f'* tuned {label}, PyTorch: the tuned preset (' in text
    assert 'on seeds used in no choice of the settings' in text


# ---------------------------------------------------------------- the notebooks
def _records(neumf_short=False):
    neumf = _history(0.0753, 0.5314, 0.0064, 0.5, BOOK['neumf']['num_epochs'])
    caser = _history(0.40, 0.76, 0.14, 0.89, BOOK['caser']['num_epochs'])
    return {'ranking': {'bpr': {'total': 1.2}, 'hinge': {'total': 2.0}},
            'neumf': {'short': neumf_short, 'seed': 0, 'history': neumf,
                      'fast_history': neumf, 'unreachable_users': 113,
                      'book_settings': {'source': 'book loop', 'epochs': 10}},
            'seqrec': {'short': False, 'seed': 0, 'history': caser, 'fast_history': caser,
                       'unreachable_users': 113,
                       'book_settings': {'source': 'book loop', 'epochs': 8}}}


def _fake_notebooks(monkeypatch, values, skip=()):
    calls = []

    def fake_run(name, executed_dir, records_dir, **kwargs):
        calls.append((name, kwargs['short']))
        record, _ = reproduce_ranking.NOTEBOOKS[name]
        if record not in skip:
            monkeypatch.setenv(records.RECORDS_ENV, records_dir)
            records.write_record(record, **values[record])
        return 1.0
    monkeypatch.setattr(reproduce, 'run_notebook', fake_run)
    monkeypatch.setattr(reproduce_ranking, 'RUN_NOTEBOOKS', True)
    return calls


def test_the_notebooks_runs_are_seed_0_of_the_mxnet_rows(tmp_path, data_dir, monkeypatch):
    calls = _fake_notebooks(monkeypatch, _records())
    tabs = {'mxnet': StandInTab(), 'torch': StandInTab()}
    result = reproduce_ranking.run(_ctx(tmp_path, data_dir, tabs, n_seeds=2))
    assert result['errors'] == [] and [c[0] for c in calls] == list(reproduce_ranking.NOTEBOOKS)
    assert sorted((m, s) for m, s, _, _ in tabs['mxnet'].calls) == [
        ('caser', 1), ('mf_ranking', 0), ('mf_ranking', 1), ('neumf', 1)]
    assert len(tabs['torch'].calls) == 6   # the PyTorch rows: every seed trained
    report = json.loads((tmp_path / 'out' / 'ranking.json').read_text())
    first = report['book_table'][0]['runs'][0]
    assert first['kind'] == 'notebook' and first['seed'] == 0
    assert first['path'] == "notebooks/06-neumf-mxnet.ipynb (the book's loop, seed 0)"
    assert report['unreachable_users'] == 113
    assert '(113 users here)' in (tmp_path / 'out' / 'ranking.md').read_text()


def test_a_short_mode_notebook_is_not_seed_0(tmp_path, data_dir, monkeypatch):
    _fake_notebooks(monkeypatch, _records(neumf_short=True))
    tab = StandInTab()
    reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': tab}, n_seeds=1))
    assert sorted(m for m, _, _, _ in tab.calls) == ['mf_ranking', 'neumf']


def test_a_notebook_without_its_record_stops_the_part_in_one_line(tmp_path, data_dir,
                                                                  monkeypatch):
    _fake_notebooks(monkeypatch, _records(), skip=('seqrec',))
    tab = StandInTab()
    result = reproduce_ranking.run(_ctx(tmp_path, data_dir, {'mxnet': tab}))
    assert tab.calls == [] and len(result['errors']) == 1
    assert result['errors'][0].startswith('notebooks/07-seqrec-mxnet.ipynb ran but wrote no '
                                          'results record')


@pytest.mark.parametrize('nb_name', list(reproduce_ranking.NOTEBOOKS))
def test_each_ranking_notebook_writes_the_record_the_part_reads(nb_name):
    path = os.path.join(ROOT, 'notebooks', nb_name)
    with open(path, encoding='utf-8') as f:
        cells = [c for c in json.load(f)['cells'] if c['cell_type'] == 'code']
    source = ''.join(cells[-1]['source'])
    calls = [n for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'write_record']
    name, required = reproduce_ranking.NOTEBOOKS[nb_name]
    assert len(calls) == 1 and [a.value for a in calls[0].args] == [name]
    assert set(required) <= {k.arg for k in calls[0].keywords}


# ---------------------------------------------------------------- through reproduce.main
@needs_mxnet   # reproduce.main imports the MXNet tab (the tabs are stood in here)
def test_make_reproduce_runs_the_ranking_part_with_the_runs_tabs(tmp_path, data_dir,
                                                                 monkeypatch, capsys):
    from d2l_recsys import fetch
    tabs = {'mxnet': StandInTab(), 'torch': StandInTab(dict(
        COLLAPSE, neumf=(0.0800,) + COLLAPSE['neumf'][1:]))}
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kw: data_dir)
    monkeypatch.setattr(reproduce, 'load_tabs', lambda frameworks: (tabs, None))
    out = tmp_path / 'out'
    code = reproduce.main(['--parts', 'ranking', '--seeds', '2', '--out', str(out)])
    printed = capsys.readouterr().out
    assert code == 1 and (out / 'ranking.md').exists() and not (out / 'rmse.md').exists()
    assert ("reproduce: OUTSIDE TOLERANCE: PyTorch NeuMF: mean book's hit rate 0.0800 over 2 "
            'seeds is outside 0.075 +- 0.0005') in printed
    assert all(len(tab.calls) == 6 for tab in tabs.values())
    code = reproduce.main(['--parts', 'ranking', '--quick', '--out', str(out)])
    assert code == 0   # --quick checks no tolerance
