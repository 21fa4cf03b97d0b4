"""``make reproduce``'s CTR part without training: stand-in tabs and notebook records.

What is checked: the part trains every tab, model and seed it lacks with the book's settings
(the notebooks' runs as the MXNet rows' seed 0 when they ran the book's settings), summarises
the book's numbers beside the exact ones, applies its checks (each can fail, naming the row),
writes its tables and figures whole, shows the tuned presets' record or '-', and stops with
one line when a notebook wrote no record.
"""
import csv
import json
import math
import os
import subprocess
import sys
import types

import numpy as onp
import pytest

from conftest import needs_mxnet
from d2l_recsys import ctr_tables, records, reproduce, reproduce_ctr
from d2l_recsys.defaults import BOOK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = {'dataset': 'ml100k-ctr', 'folder': '/made/up/ml100k-ctr', 'num_feat': 8,
        'train_lines': 89561, 'test_lines': 10439, 'train_click_rate': 0.563,
        'test_click_rate': 0.478, 'field_dims': [944, 1370, 62, 3, 22, 20, 72, 215],
        'fields': ['user_id', 'item_id', 'age', 'gender', 'occupation', 'zip_area',
                   'release_year', 'genres']}
# What the book's code gives after 30 epochs (docs/ctr.md, seed 0), per model.
LIKE_THE_BOOK = {'fm': dict(loss=0.535, book_acc=0.17, auc=0.761, log_loss=3.04, acc=0.699),
                 'deepfm': dict(loss=0.590, book_acc=0.37, auc=0.767, log_loss=3.77, acc=0.705)}


def _history(epochs, *, loss, book_acc, auc, log_loss, acc, seed=0):
    """A history as train_fm/train_deepfm return it, ending at the given numbers (a seed
    moves them a little)."""
    d = 0.001 * seed
    ramp = [(e + 1) / epochs for e in range(epochs)]
    return {
        'epoch': list(range(1, epochs + 1)),
        'train_loss': [0.65 - (0.65 - loss - d) * r for r in ramp],
        'train_acc': [book_acc * r for r in ramp], 'test_acc': [(book_acc + d) * r for r in ramp],
        'test_auc': [0.78 - (0.78 - auc - d) * r for r in ramp],
        'test_log_loss': [1.2 + (log_loss - 1.2) * r for r in ramp],
        'test_accuracy': [acc + d] * epochs, 'seconds': [1.0] * epochs,
        'train_seconds': [0.8] * epochs, 'examples_per_sec': 50000.0, 'devices': ['cpu(0)'],
        'test_exact': {'auc': auc + d, 'log_loss': log_loss, 'accuracy': acc + d,
                       'count': 10439, 'click_rate': 0.478},
    }


class StandInTab(types.ModuleType):
    """A tab's experiments module: train_fm/train_deepfm with the tabs' keyword arguments,
    returning ``(net, history, info)`` without training."""

    def __init__(self, numbers=LIKE_THE_BOOK):
        super().__init__('stand_in_click_tab')
        self.numbers, self.calls = numbers, []

    def _train(self, model, *, seed, num_epochs, fast, plot, progress, data_dir):
        self.calls.append((model, dict(seed=seed, num_epochs=num_epochs, fast=fast,
                                       data_dir=data_dir)))
        print(f'loss {self.numbers[model]["loss"]:.3f}, train acc ...')   # goes to the log
        return None, _history(num_epochs, seed=seed, **self.numbers[model]), {}

    def train_fm(self, **kwargs):
        return self._train('fm', **kwargs)

    def train_deepfm(self, **kwargs):
        return self._train('deepfm', **kwargs)


def _ctx(tmp_path, tabs, *, quick=False, n_seeds=3, fast=True):
    return types.SimpleNamespace(
        quick=quick, n_seeds=n_seeds, fast=fast, data_dir=str(tmp_path / 'ml-100k'),
        devices=['cpu(0)'], tabs=tabs, frameworks=list(tabs), torch_note=None,
        out_dir=str(tmp_path / 'out'), log_dir=str(tmp_path / 'out' / 'logs'),
        executed_dir=str(tmp_path / 'executed'))


@pytest.fixture
def no_data(monkeypatch):
    """The part's data summary without building the click data."""
    monkeypatch.setattr(reproduce_ctr, 'data_summary', lambda data_dir: dict(DATA))


@pytest.fixture
def no_figures(monkeypatch):
    """No drawing where a test reads only the tables (one test draws them all)."""
    monkeypatch.setattr(reproduce_ctr, 'make_figures', lambda *args: [])


# ---------------------------------------------------------------- the part, end to end
def test_the_part_is_registered_after_the_rating_part():
    assert list(reproduce.PARTS)[0] == 'rating'
    assert reproduce.PARTS['ctr'] == 'd2l_recsys.reproduce_ctr'
    assert list(reproduce.PARTS)[-1] == 'ctr'


def test_run_trains_every_seed_of_both_tabs_and_writes_tables_and_figures(tmp_path, no_data,
                                                                          monkeypatch):
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', False)
    tabs = {'mxnet': StandInTab(), 'torch': StandInTab()}
    ctx = _ctx(tmp_path, tabs)
    result = reproduce_ctr.run(ctx)
    assert result.get('failures') == [] and not result.get('errors')
    for fw, tab in tabs.items():   # every model and seed, the book's epochs, the fast path
        assert sorted((m, kw['seed']) for m, kw in tab.calls) == [
            (m, s) for m in ('deepfm', 'fm') for s in range(3)]
        assert {kw['num_epochs'] for _, kw in tab.calls} == {BOOK['fm']['num_epochs']}
        assert all(kw['fast'] and kw['data_dir'] == ctx.data_dir for _, kw in tab.calls)
    out = tmp_path / 'out'
    for stem in ('fm_curves', 'deepfm_curves', 'torch_fm_curves', 'torch_deepfm_curves',
                 'ctr_book_vs_exact'):
        assert (out / f'{stem}.png').stat().st_size > 0 and (out / f'{stem}.svg').exists()
    logs = sorted(os.listdir(out / 'logs'))
    assert len(logs) == 12 and 'torch_deepfm_seed2_fast.log' in logs
    assert (out / 'logs' / 'mxnet_fm_seed0_fast.log').read_text().startswith('loss 0.535')
    report = json.loads((out / 'ctr.json').read_text())
    assert [(r['framework'], r['model']) for r in report['table']] == [
        ('mxnet', 'fm'), ('mxnet', 'deepfm'), ('torch', 'fm'), ('torch', 'deepfm')]
    fm = report['table'][0]
    # Seeds 0, 1, 2 move the stand-in's AUC by 0, 0.001, 0.002: mean 0.762, std 0.001.
    assert fm['auc_mean'] == pytest.approx(0.762) and fm['auc_std'] == pytest.approx(0.001)
    assert fm['book_test_acc_mean'] == pytest.approx(0.171)
    assert all(c['passed'] for c in fm['checks'].values())
    assert report['notebooks_run'] is False and 'not run' in report['notes'][0]
    rows = list(csv.DictReader(open(out / 'ctr.csv')))
    assert [(r['framework'], r['model']) for r in rows] == [
        (r['framework'], r['model']) for r in report['table']]
    assert rows[0]['auc_mean'] == '0.7620' and rows[0]['checks_passed'] == 'True'
    md = (out / 'ctr.md').read_text()
    assert '| MXNet | FM | 0.536 +- 0.001 |' in md   # the book's loss: 0.535 + seed / 1000
    assert 'publishes no number for MovieLens' in md
    assert '0.7620 +- 0.0010' in md and 'QUICK RUN' not in md
    assert f'cannot fall below {reproduce_ctr.loss_floor(0.563):.3f}' in md
    assert set(result['files']) >= {os.path.relpath(out / n, ROOT)
                                    for n in ('ctr.md', 'ctr.csv', 'ctr.json')}
    assert not [p for p in os.listdir(out) if p.startswith('.')]   # no temporary files left


@pytest.mark.parametrize('numbers, failed', [
    ({'auc': 0.55}, 'auc'),                          # learned (almost) nothing
    ({'book_acc': 0.6, 'acc': 0.7}, 'saturation'),    # the book's accuracy near the exact one
    ({'log_loss': 0.6}, 'log_loss'),                 # calibrated: no double sigmoid
    ({'loss': 0.30}, 'loss_floor'),                  # a loss the second sigmoid forbids
])
def test_each_check_can_fail_and_names_the_row(tmp_path, no_data, no_figures, monkeypatch,
                                               numbers, failed):
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', False)
    bad = {'fm': dict(LIKE_THE_BOOK['fm'], **numbers), 'deepfm': LIKE_THE_BOOK['deepfm']}
    result = reproduce_ctr.run(_ctx(tmp_path, {'mxnet': StandInTab(),
                                               'torch': StandInTab(bad)}, n_seeds=2))
    assert len(result['failures']) == 1, result['failures']
    line = result['failures'][0]
    assert line.startswith('PyTorch FM on ml100k-ctr (2 seeds): ') and '\n' not in line
    assert reproduce_ctr.CHECKS[failed]['rule'] in line
    md = (tmp_path / 'out' / 'ctr.md').read_text()
    assert f'**FAILED**: {failed}' in md


def test_quick_runs_the_notebooks_short_epochs_and_says_so(tmp_path, no_data, no_figures, monkeypatch):
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', False)
    tab = StandInTab()
    reproduce_ctr.run(_ctx(tmp_path, {'mxnet': tab}, quick=True, n_seeds=2, fast=False))
    assert {kw['num_epochs'] for _, kw in tab.calls} == {reproduce_ctr.QUICK_EPOCHS} == {1}
    assert not any(kw['fast'] for _, kw in tab.calls)   # --no-fast: the book code
    md = (tmp_path / 'out' / 'ctr.md').read_text()
    assert md.count('QUICK RUN') == 1 and '(book code)' in md
    assert 'PyTorch' not in md.split('## The book')[1].split('## Checks')[0]


def test_loss_floor_is_the_least_loss_the_second_sigmoid_allows():
    p = onp.linspace(0, 1, 100001)
    click, no_click = onp.log1p(onp.exp(-p)), onp.log1p(onp.exp(p))   # BCE-with-logits of p
    for rate in (0.0, 0.3, 0.563, 1.0):
        assert reproduce_ctr.loss_floor(rate) == pytest.approx(
            rate * click.min() + (1 - rate) * no_click.min(), abs=1e-12)
    assert reproduce_ctr.loss_floor(0.563) == pytest.approx(0.4792, abs=1e-4)


# ---------------------------------------------------------------- the notebooks
def _records(epochs=30, **ctr):
    """The three notebooks' records as their last cells write them."""
    out = {'08-ctr-mxnet.ipynb': dict(train_size=DATA['train_lines'],
                                      test_size=DATA['test_lines'], train_click_rate=0.563,
                                      test_click_rate=0.478, field_dims=DATA['field_dims'],
                                      **ctr)}
    for model, name in reproduce_ctr.NOTEBOOK_OF.items():
        history = _history(epochs, **LIKE_THE_BOOK[model])
        compared = {key: _history(2, **dict(LIKE_THE_BOOK[model], log_loss=loss))
                    for key, loss in (('book_loss', 1.2), ('from_sigmoid', 0.56))}
        out[name] = dict(settings=dict(BOOK[model], num_epochs=epochs, optimizer='adam', seed=0,
                                       short=epochs != 30),
                         test_auc=0.77, test_log_loss=3.0, test_accuracy=0.70,
                         train_loss=history['train_loss'][-1], saturated=0.25,
                         history={k: v for k, v in history.items() if not k.startswith(
                             ('test_auc', 'test_log', 'test_accuracy', 'test_exact'))},
                         loss_comparison=dict(compared, epochs=2))
    return out


@pytest.mark.parametrize('epochs', [30, 3])
def test_the_notebooks_runs_are_seed_0_of_the_mxnet_rows_when_they_ran_the_books_settings(
        tmp_path, no_data, no_figures, monkeypatch, epochs):
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', True)
    monkeypatch.setattr(reproduce_ctr, 'run_notebooks', lambda *a, **kw: (
        _records(epochs), {n: 1.0 for n in reproduce_ctr.NOTEBOOKS}))
    tab = StandInTab()
    result = reproduce_ctr.run(_ctx(tmp_path, {'mxnet': tab}, n_seeds=2))
    assert result['failures'] == []
    report = json.loads((tmp_path / 'out' / 'ctr.json').read_text())
    seed0 = {r['model']: r['runs'][0] for r in report['table']}
    trained = sorted((m, kw['seed']) for m, kw in tab.calls)
    if epochs == 30:   # the book's settings: the notebooks' runs, the record's exact numbers
        assert trained == [('deepfm', 1), ('fm', 1)]
        assert {r['kind'] for r in seed0.values()} == {'notebook'}
        assert seed0['fm']['test_auc'] == 0.77 and seed0['fm']['path'].endswith(
            '09-fm-mxnet.ipynb)')
        assert report['notes'] == []
    else:              # a short run: trained again, and said why
        assert trained == [('deepfm', 0), ('deepfm', 1), ('fm', 0), ('fm', 1)]
        assert {r['kind'] for r in seed0.values()} == {'fast path'}
        assert any('09-fm-mxnet.ipynb ran other settings than this run (3 epochs, not 30)'
                   in n for n in report['notes'])
    assert set(report['notebook_records']) == set(reproduce_ctr.NOTEBOOKS)
    assert any(f.endswith('executed/10-deepfm-mxnet.ipynb') for f in result['files'])
    md = (tmp_path / 'out' / 'ctr.md').read_text()
    assert '* FM (MXNet notebook, seed 0): 25.0% of the test probabilities' in md
    assert '| DeepFM | 2 | `from_sigmoid=True` | 0.370 | 0.7670 | 0.560 | 0.705 |' in md


def test_the_feature_rich_notebooks_count_of_the_data_is_compared_with_the_runs():
    findings, notes = reproduce_ctr.notebook_findings(_records(), DATA)
    assert notes == [] and findings['data']['train_lines'] == DATA['train_lines']
    assert findings['fm']['from_sigmoid']['test_log_loss'] == 0.56
    _, notes = reproduce_ctr.notebook_findings(
        _records() | {'08-ctr-mxnet.ipynb': dict(_records()['08-ctr-mxnet.ipynb'],
                                                 test_size=9999)}, DATA)
    assert notes == ['notebooks/08-ctr-mxnet.ipynb counted other data than the runs read '
                     '(test_lines differ)']


def test_a_notebook_with_other_settings_is_not_seed_0():
    recs = _records()
    recs['10-deepfm-mxnet.ipynb']['settings']['lr'] = 0.1   # mlp_dims a tuple: as a list
    runs, notes = reproduce_ctr.notebook_runs(recs, 30)
    assert list(runs) == [('mxnet', 'fm')]
    assert notes == ['notebooks/10-deepfm-mxnet.ipynb ran other settings than this run (lr '
                     '0.1); seed 0 of its MXNet row was trained like the other seeds']


def test_a_notebook_without_its_record_stops_the_part_in_one_line(tmp_path, no_data,
                                                                   no_figures, monkeypatch):
    def run_notebook(name, executed_dir, records_dir, **kw):   # writes every record but fm's
        record = reproduce_ctr.NOTEBOOKS[name][0]
        if record != 'fm':
            monkeypatch.setenv(records.RECORDS_ENV, records_dir)
            records.write_record(record, **_records(1)[name])
        return 1.0
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', True)
    monkeypatch.setattr(reproduce_ctr, 'run_notebook', run_notebook)   # what runs one
    tab = StandInTab()
    result = reproduce_ctr.run(_ctx(tmp_path, {'mxnet': tab}))
    assert len(result['errors']) == 1 and '\n' not in result['errors'][0]
    assert result['errors'][0].startswith('notebooks/09-fm-mxnet.ipynb ran but wrote no '
                                          'results record')
    assert tab.calls == [] and not (tmp_path / 'out' / 'ctr.md').exists()


# ---------------------------------------------------------------- the tuned column
def test_the_tuned_column_reads_the_record_and_shows_a_dash_without_one(
        tmp_path, no_data, no_figures, monkeypatch):
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', False)
    monkeypatch.setattr(reproduce_ctr, 'TUNED', {})
    reproduce_ctr.run(_ctx(tmp_path, {'mxnet': StandInTab()}, n_seeds=2))
    md = (tmp_path / 'out' / 'ctr.md').read_text()
    row = next(line for line in md.splitlines() if line.startswith('| MXNet | FM |'))
    assert row.split(' | ')[8] == '-'
    monkeypatch.setattr(reproduce_ctr, 'TUNED', {
        'fm': {'per_seed': [{'seed': 0, 'test_auc': 0.80, 'test_log_loss': 0.52},
                            {'seed': 1, 'test_auc': 0.79, 'test_log_loss': 0.54}]},
        ('torch', 'deepfm'): {'test_auc_mean': 0.81, 'test_auc_std': None,
                              'test_log_loss_mean': None, 'n': 1}})
    reproduce_ctr.run(_ctx(tmp_path, {'mxnet': StandInTab(), 'torch': StandInTab()},
                           n_seeds=2))
    md = (tmp_path / 'out' / 'ctr.md').read_text()
    cells = {tuple(line.split(' | ')[:2]): line.split(' | ')[8] for line in md.splitlines()
             if line.startswith(('| MXNet |', '| PyTorch |'))}
    assert cells == {('| MXNet', 'FM'): f'0.7950 +- {math.sqrt(0.00005):.4f}, log loss 0.530 '
                                        '(n=2)',
                     ('| MXNet', 'DeepFM'): '-', ('| PyTorch', 'FM'): '-',
                     ('| PyTorch', 'DeepFM'): '0.8100 (n=1)'}
    rows = list(csv.DictReader(open(tmp_path / 'out' / 'ctr.csv')))
    assert [r['tuned_auc_mean'] for r in rows] == ['0.7950', '', '', '0.8100']


def test_the_tuned_column_reads_records_keyed_as_the_presets_are():
    """The tuned presets are keyed (model, data set): such a record is the MXNet tab's row,
    another data set's is left out, and a key that is neither kind is one clear error."""
    evaluation = {'model': 'deepfm', 'dataset': 'ml100k-ctr', 'seeds': [0, 1, 2],
                  'per_seed': [{'seed': s, 'test_auc': 0.80 + 0.01 * s, 'val_auc': 0.9,
                                'test_log_loss': 0.50} for s in range(3)],
                  'test_auc_mean': 0.81}
    column = reproduce_ctr.tuned_column({('deepfm', 'ml100k-ctr'): evaluation,
                                         ('fm', 'ctr'): evaluation})
    assert list(column) == [('mxnet', 'deepfm')]
    assert column[('mxnet', 'deepfm')]['auc'] == pytest.approx((0.81, 0.01))
    assert column[('mxnet', 'deepfm')]['log_loss'] == (0.50, 0.0)
    assert column[('mxnet', 'deepfm')]['n'] == 3
    with pytest.raises(ValueError, match=r"key \('mf', 'random'\)"):
        reproduce_ctr.tuned_column({('mf', 'random'): evaluation})


# ---------------------------------------------------------------- through reproduce.main
@needs_mxnet   # reproduce.main imports the MXNet tab (stood in here)
@pytest.mark.parametrize('argv, code', [([], 0), (['--quick'], 0), (['--bad'], 1)])
def test_reproduce_parts_ctr_runs_only_this_part(tmp_path, no_data, no_figures, monkeypatch,
                                                 capsys, argv, code):
    from d2l_recsys import fetch
    import d2l_recsys.mxnet.experiments as mxnet_tab
    monkeypatch.setattr(reproduce_ctr, 'RUN_NOTEBOOKS', False)
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kw: str(tmp_path))
    monkeypatch.setattr(reproduce, 'torch_tab', lambda: (None, 'no torch here'))
    numbers = LIKE_THE_BOOK
    if argv == ['--bad']:
        argv, numbers = [], {'fm': dict(LIKE_THE_BOOK['fm'], auc=0.5),
                             'deepfm': LIKE_THE_BOOK['deepfm']}
    tab = StandInTab(numbers)
    monkeypatch.setattr(mxnet_tab, 'train_fm', tab.train_fm)
    monkeypatch.setattr(mxnet_tab, 'train_deepfm', tab.train_deepfm)
    out = tmp_path / 'out'
    assert reproduce.main(argv + ['--parts', 'ctr', '--seeds', '2', '--out', str(out)]) == code
    printed = capsys.readouterr().out
    assert not (out / 'rmse.json').exists() and (out / 'ctr.json').exists()
    assert len(tab.calls) == 4
    if code:
        assert 'reproduce: OUTSIDE TOLERANCE: MXNet FM on ml100k-ctr (2 seeds): mean exact ' \
               'test AUC 0.5005' in printed
    else:
        assert 'checks: ok' in printed and 'OUTSIDE' not in printed


def test_the_part_imports_no_framework():
    code = ('import sys, d2l_recsys.reproduce_ctr, d2l_recsys.ctr_tables; '
            'print(sorted(m for m in ("mxnet", "torch", "d2l") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == '[]', out.stderr[-2000:]


def test_the_tables_name_the_models_as_the_book_does():
    assert ctr_tables.MODEL_LABELS == {'fm': 'FM', 'deepfm': 'DeepFM'}
    assert set(reproduce_ctr.MODELS) == set(BOOK) & {'fm', 'deepfm'}


def test_the_tuned_column_is_the_presets_evidence_under_the_tab_that_measured_it():
    from d2l_recsys.click_evidence import CLICK_EVIDENCE
    column = reproduce_ctr.tuned_column()
    assert column, 'the presets have evidence: the tuned column must show it'
    for (model, dataset), e in CLICK_EVIDENCE.items():
        key = (e['framework'], model)
        assert key in column and column[key]['n'] == len(e['per_seed'])
        mean = sum(r['test_auc'] for r in e['per_seed']) / len(e['per_seed'])
        assert abs(column[key]['auc'][0] - mean) < 1e-12
        # reported on seeds the search did not use
        assert not set(e['report_seeds']) & set(e['validation_seeds'])
