"""``make reproduce`` without training: results records, tables, exit rule, PyTorch rows.

Everything here runs on made-up records and histories (no notebook, no model): what is
checked is that the notebooks write the records the tables read, that a notebook without its
record stops the run with one line, the tolerance arithmetic and the words of the tables, and
that the PyTorch rows appear with a PyTorch tab and are skipped, in one line, without one.
"""
import ast
import csv
import inspect
import json
import os
import re
import types

import pytest

from conftest import needs_mxnet
from d2l_recsys import records, reproduce, rmse_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def only_the_rating_part(monkeypatch):
    """reproduce.main here runs the rating part alone (a test may set PARTS itself); the
    chapter's other parts are tested in their own files."""
    monkeypatch.setattr(reproduce, 'PARTS', {'rating': None})


# ---------------------------------------------------------------- results records
def test_write_record_does_nothing_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(records.RECORDS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert records.write_record('mf', rmse=0.9) is None
    assert os.listdir(tmp_path) == []


def test_write_record_writes_json_that_read_record_returns(tmp_path, monkeypatch):
    import numpy as onp
    monkeypatch.setenv(records.RECORDS_ENV, str(tmp_path))
    counts = {onp.int64(4): onp.int64(34174), onp.int64(1): onp.int64(6110)}
    records.write_record('movielens', num_users=943, sparsity=onp.float64(0.936953),
                         rating_counts=counts, curve=onp.array([1.5, 0.5]), name_ok='x')
    assert sorted(os.listdir(tmp_path)) == ['movielens.json']   # no temporary file left
    values = records.read_record(tmp_path, 'movielens', required=('num_users', 'sparsity'))
    assert values == {'num_users': 943, 'sparsity': 0.936953,
                      'rating_counts': {'4': 34174, '1': 6110}, 'curve': [1.5, 0.5],
                      'name_ok': 'x'}
    # A second write replaces the record.
    records.write_record('movielens', num_users=1)
    assert records.read_record(tmp_path, 'movielens') == {'num_users': 1}


def test_write_record_refuses_what_json_cannot_hold_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv(records.RECORDS_ENV, str(tmp_path))
    with pytest.raises(TypeError, match=r"write_record\('mf'\)\['net'\] is a object"):
        records.write_record('mf', rmse=0.9, net=object())
    with pytest.raises(ValueError, match='record name must be'):
        records.write_record('../mf', rmse=0.9)
    assert os.listdir(tmp_path) == []


def test_read_record_says_which_notebook_wrote_nothing_or_too_little(tmp_path, monkeypatch):
    with pytest.raises(records.RecordError) as e:
        records.read_record(tmp_path, 'mf', required=('history',),
                            writer='notebooks/03-mf-mxnet.ipynb')
    assert str(e.value).startswith('notebooks/03-mf-mxnet.ipynb ran but wrote no results record')
    assert "write_record('mf', ...) with history" in str(e.value)
    assert '\n' not in str(e.value)
    monkeypatch.setenv(records.RECORDS_ENV, str(tmp_path))
    records.write_record('mf', history={'epoch': [1]})
    with pytest.raises(records.RecordError, match='lacks test_rmse_exact'):
        records.read_record(tmp_path, 'mf', required=('history', 'test_rmse_exact'))
    (tmp_path / 'mf.json').write_text('{"name": "mf", "val')
    with pytest.raises(records.RecordError, match='unreadable'):
        records.read_record(tmp_path, 'mf')


# ---------------------------------------------------------------- the notebooks' record cells
def _last_code_cell(nb_name):
    with open(os.path.join(ROOT, 'notebooks', nb_name), encoding='utf-8') as f:
        nb = json.load(f)
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    src = code[-1]['source']
    return ''.join(src) if isinstance(src, list) else src


@pytest.mark.parametrize('nb_name', list(reproduce.NOTEBOOKS))
def test_each_notebook_ends_by_writing_the_record_reproduce_reads(nb_name):
    name, required = reproduce.NOTEBOOKS[nb_name]
    calls = [n for n in ast.walk(ast.parse(_last_code_cell(nb_name)))
             if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'write_record']
    assert len(calls) == 1, f'{nb_name}: its last code cell must call write_record once'
    call = calls[0]
    assert [a.value for a in call.args] == [name]
    assert sorted(k.arg for k in call.keywords) == sorted(required)


def test_run_notebooks_stops_with_one_line_when_a_notebook_wrote_no_record(tmp_path,
                                                                          monkeypatch):
    def fake_run(name, executed_dir, records_dir, **kwargs):
        record, required = reproduce.NOTEBOOKS[name]
        if name != '03-mf-mxnet.ipynb':   # the MF notebook "renamed a variable" and wrote nothing
            monkeypatch.setenv(records.RECORDS_ENV, records_dir)
            records.write_record(record, **{k: 1 for k in required})
        return 1.0
    monkeypatch.setattr(reproduce, 'run_notebook', fake_run)
    with pytest.raises(records.RecordError) as e:
        reproduce.run_notebooks(str(tmp_path), short=True, data_dir=str(tmp_path))
    assert str(e.value).startswith('notebooks/03-mf-mxnet.ipynb ran but wrote no results record')


# ---------------------------------------------------------------- made-up runs
def _history(rmse, loss=0.5, epochs=2):
    return {'epoch': list(range(1, epochs + 1)), 'train_loss': [loss * 2] * (epochs - 1) + [loss],
            'test_rmse': [rmse + 0.1] * (epochs - 1) + [rmse],
            'seconds': [1.0] * epochs, 'train_seconds': [0.8] * epochs,
            'examples_per_sec': 1e5, 'devices': ['cpu(0)'], 'printed_train_loss': 0.06,
            'test_rmse_exact': rmse - 0.01}


def _run(fw, key, split, seed, rmse, loss=0.5, kind=None):
    kind = kind or ('PyTorch tab' if fw == 'torch' else 'fast path' if seed else 'notebook')
    return reproduce.run_record(_history(rmse, loss), framework=fw, model=key, split=split,
                                seed=seed, path=f'made-up {kind}', kind=kind,
                                exact=rmse - 0.01)


def _runs(mf, autorec, frameworks=('mxnet',), seeds=5, torch_loss=40.0):
    runs = {}
    for fw in frameworks:
        loss = torch_loss if fw == 'torch' else 0.5
        runs[(fw, 'mf', 'seq-aware')] = [_run(fw, 'mf', 'seq-aware', s, mf + s * 1e-3)
                                         for s in range(seeds)]
        runs[(fw, 'autorec', 'random')] = [_run(fw, 'autorec', 'random', s,
                                                autorec - s * 1e-3, loss)
                                           for s in range(seeds)]
        for split in ('random', 'seq-aware'):
            for key in reproduce.MODELS:
                runs.setdefault((fw, key, split), [_run(fw, key, split, s, 1.0)
                                                   for s in range(3)])
    return runs


def test_tables_check_the_tolerances_and_name_the_figure():
    book, apples, failures = reproduce.make_tables(_runs(1.052, 0.899), 5, 3)
    assert failures == []
    assert [(r['framework'], r['model'], r['split'], r['within'], r['n_seeds'])
            for r in book] == [('mxnet', 'mf', 'seq-aware', True, 5),
                               ('mxnet', 'autorec', 'random', True, 5)]
    assert book[0]['book_mean'] == pytest.approx(1.054)   # 1.052 + mean(0..4) * 1e-3
    assert len(apples) == 6
    assert all(r['n_seeds'] == 3 for r in apples
               if (r['model'], r['split']) not in {('mf', 'seq-aware'), ('autorec', 'random')})

    _, _, failures = reproduce.make_tables(_runs(1.12, 0.899), 5, 3)
    assert failures == ['MXNet MF on the seq-aware split: mean test RMSE 1.122 over 5 seeds '
                        'is outside 1.05 +- 0.03']
    _, _, failures = reproduce.make_tables(_runs(1.05, 0.93), 5, 3)
    assert len(failures) == 1
    assert failures[0].startswith('MXNet AutoRec (item-based) on the random split')
    # The edge: exactly target + tolerance is inside (rounded), just beyond is not.
    _, _, failures = reproduce.make_tables(_runs(1.05, 0.92 + 2e-3), 5, 3)
    assert failures == []
    _, _, failures = reproduce.make_tables(_runs(1.05, 0.9225), 5, 3)
    assert len(failures) == 1


def test_pytorch_rows_are_checked_against_the_deck():
    book, apples, failures = reproduce.make_tables(
        _runs(1.052, 0.899, frameworks=('mxnet', 'torch')), 5, {'mxnet': 5, 'torch': 3})
    assert failures == []
    assert [(r['framework'], r['model']) for r in book] == [
        ('mxnet', 'mf'), ('mxnet', 'autorec'), ('torch', 'mf'), ('torch', 'autorec')]
    deck = book[3]
    assert deck['published'] == 0.906 and deck['published_train_loss'] == 39.877
    assert deck['train_loss_mean'] == pytest.approx(40.0) and deck['train_loss_within']
    assert len(apples) == 12 and {r['framework'] for r in apples} == {'mxnet', 'torch'}

    # A PyTorch RMSE outside 0.90 +- 0.02, and a loss on another scale, both fail by name.
    _, _, failures = reproduce.make_tables(
        _runs(1.052, 0.95, frameworks=('torch',), torch_loss=0.05), 5, 3)
    assert any(f.startswith('PyTorch AutoRec (item-based) on the random split: mean test '
                            'RMSE') for f in failures)
    assert any('mean train loss 0.050' in f and "PyTorch AutoRec deck's scale" in f
               for f in failures)


def _report(book, apples, failures, **extra):
    return {'quick': False, 'date': 'today', 'total_seconds': 600.0,
            'phase_seconds': {'x': 600.0}, 'versions': reproduce.versions(),
            'machine': {'cpu': 'test', 'cores': 2}, 'devices': ['cpu(0)'],
            'data_dir': '/data', 'movielens': {}, 'book_table': book,
            'apples_table': apples,
            'not_reproduced': [{'value': v, 'why': w}
                               for v, w in reproduce.not_reproduced(book, apples)],
            'files': [], 'failures': failures, **extra}


def test_tables_written_say_published_measured_and_which_code(tmp_path):
    runs = _runs(1.2, 0.899, frameworks=('mxnet', 'torch'))
    book, apples, failures = reproduce.make_tables(runs, 5, 3)
    rmse_tables.write_tables(_report(book, apples, failures), str(tmp_path))
    text = (tmp_path / 'rmse.md').read_text()
    assert '**OUTSIDE**' in text and '| 0.898 |' in text and '| 0.906 |' in text
    assert 'Apples to apples' in text and '| MF | PyTorch |' in text
    assert '0.945' in text                     # the guide's value we could not reproduce
    assert "train loss 40.000 vs the deck's 39.877: ok" in text
    # Which code produced each number.
    assert 'seed 0: 1.200 / 1.190 (notebook), seed 1: 1.201 / 1.191 (fast path)' in text
    assert 'seed 0: 1.200 / 1.190 (PyTorch tab)' in text
    rows = list(csv.DictReader(open(tmp_path / 'rmse.csv')))
    assert len(rows) == 4 + 12
    mf = next(r for r in rows if r['table'] == 'book' and r['model'] == 'mf'
              and r['framework'] == 'mxnet')
    assert mf['within_tolerance'] == 'False' and mf['numpy'] and mf['published'] == ''
    deck = next(r for r in rows if r['table'] == 'book' and r['model'] == 'autorec'
                and r['framework'] == 'torch')
    assert deck['published'] == '0.906' and deck['train_loss_within'] == 'True'
    assert json.loads((tmp_path / 'rmse.json').read_text())['failures'] == failures
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]   # no temp files left


def test_the_tables_speak_of_documents_not_of_how_the_project_was_made(tmp_path):
    book, apples, failures = reproduce.make_tables(
        _runs(1.05, 0.9, frameworks=('mxnet', 'torch')), 5, 3)
    texts = {'rmse.md': rmse_tables.markdown(_report(book, apples, failures))}
    for path in ('d2l_recsys/reproduce.py', 'd2l_recsys/rmse_tables.py', 'd2l_recsys/records.py',
                 'benchmarks/bench.py', 'tests/test_bench.py', 'tests/test_reproduce.py'):
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            texts[path] = f.read()
    issue, seed = 'iss' + 'ue', 'se' + 'ed'   # spelled apart so that this file passes
    words = re.compile(rf'{issue} \d|\({issue}|{seed} texts?|among the {seed}', re.I)
    assert {path: words.findall(text) for path, text in texts.items()
            if words.search(text)} == {}


def test_bad_arguments_exit_2_naming_them(capsys):
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(['--seeds', '0'])
    assert e.value.code == 2 and '--seeds must be at least 1' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(['--frameworks', 'torch'])
    assert e.value.code == 2 and '--frameworks' in capsys.readouterr().err


# ---------------------------------------------------------------- main, end to end, no training
def _fake_records():
    hist = _history(1.05)
    return {'02-movielens-mxnet.ipynb': {'num_users': 943, 'num_items': 1682,
                                         'num_ratings': 100000, 'sparsity': 0.936953,
                                         'rating_counts': {'1': 6110, '2': 11370, '3': 27145,
                                                           '4': 34174, '5': 21201}},
            '03-mf-mxnet.ipynb': {'history': hist, 'test_rmse_exact': 1.04,
                                  'prediction_user20_item30': 3.2},
            '04-autorec-mxnet.ipynb': {'history': _history(0.9), 'test_rmse_exact': 0.9,
                                       'user_history': _history(1.0),
                                       'user_test_rmse_exact': 1.0, 'test_size': 9900}}


class StandInTab(types.ModuleType):
    """A stand-in for a tab's experiments module: train_mf/train_autorec with the MXNet
    tab's keyword arguments, returning ``(net, history, info)`` without training."""

    def __init__(self, rmse, loss):
        super().__init__('stand_in_tab')
        self.rmse, self.loss, self.calls = rmse, loss, []

    def _train(self, model, **kwargs):
        self.calls.append((model, kwargs))
        hist = _history(self.rmse[model], self.loss[model], kwargs['num_epochs'])
        return None, hist, {'train_size': 90000, 'test_size': 10000}

    def train_mf(self, **kwargs):
        return self._train('mf', **kwargs)

    def train_autorec(self, **kwargs):
        return self._train('autorec', **kwargs)


README_BEFORE = ('# d2l-recsys\n\nText before.\n\n' + '\n'.join(reproduce.README_TABLE[:1])
                 + '\n| an old table |\n' + reproduce.README_TABLE[1] + '\n\nText after.\n')


def _main(monkeypatch, tmp_path, argv, torch_tab):
    """reproduce.main on made-up records and stand-in tabs; the README and its figure are
    copies in ``tmp_path/front`` (``README.md``, ``images/``)."""
    from d2l_recsys import fetch
    front = tmp_path / 'front'
    front.mkdir(exist_ok=True)
    (front / 'README.md').write_text(README_BEFORE, encoding='utf-8')
    monkeypatch.setattr(reproduce, 'README', str(front / 'README.md'))
    monkeypatch.setattr(reproduce, 'FRONT_FIGURE', str(front / 'images' / 'book_experiments'))
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kw: str(tmp_path))
    monkeypatch.setattr(reproduce, 'run_notebooks',
                        lambda *a, **kw: (_fake_records(), {n: 1.0 for n in reproduce.NOTEBOOKS}))
    mxnet_tab = StandInTab({'mf': 1.05, 'autorec': 0.9}, {'mf': 0.5, 'autorec': 0.5})
    monkeypatch.setattr(reproduce, 'torch_tab', lambda: torch_tab)
    import d2l_recsys.mxnet.experiments as real
    monkeypatch.setattr(real, 'train_mf', mxnet_tab.train_mf)
    monkeypatch.setattr(real, 'train_autorec', mxnet_tab.train_autorec)
    out = tmp_path / 'out'
    if '--parts' not in argv:   # the rating part alone; the other parts have tests of their own
        argv = argv + ['--parts', 'rating']
    code = reproduce.main(argv + ['--out', str(out)])
    return code, out, mxnet_tab


@needs_mxnet   # reproduce.main runs the MXNet tab (stood in here, but imported)
def test_main_without_pytorch_says_so_once_and_writes_the_mxnet_rows(tmp_path, monkeypatch,
                                                                     capsys):
    line = 'no PyTorch rows: the PyTorch tab cannot be imported (No module named torch)'
    code, out, mxnet_tab = _main(monkeypatch, tmp_path, ['--seeds', '2', '--apples-seeds', '1'],
                                 (None, line))
    printed = capsys.readouterr().out
    assert code == 0 and printed.count('no PyTorch rows') == 1
    report = json.loads((out / 'rmse.json').read_text())
    assert {r['framework'] for r in report['book_table']} == {'mxnet'}
    assert report['torch_note'] == line
    assert f'No PyTorch rows: the PyTorch tab cannot be imported' in (out / 'rmse.md').read_text()
    for stem in ('rating_histogram', 'mf_seq-aware_curves', 'autorec_random_curves',
                 'apples_to_apples'):
        assert (out / f'{stem}.png').exists() and (out / f'{stem}.svg').exists()
    # Seed 0 of the book's two experiments came from the notebooks; the rest on the fast path.
    assert ('mf', 'seq-aware') not in {(m, kw['split_mode']) for m, kw in mxnet_tab.calls
                                       if kw['seed'] == 0}
    assert all(kw['fast'] for _, kw in mxnet_tab.calls)


@needs_mxnet   # reproduce.main runs the MXNet tab (stood in here, but imported)
def test_main_with_a_pytorch_tab_adds_its_rows_and_fails_naming_the_figure(tmp_path,
                                                                           monkeypatch, capsys):
    from d2l_recsys.mxnet import experiments as mxnet_experiments
    torch_tab = StandInTab({'mf': 1.05, 'autorec': 0.95}, {'mf': 0.5, 'autorec': 40.0})
    code, out, _ = _main(monkeypatch, tmp_path, ['--seeds', '2', '--apples-seeds', '1'],
                         (torch_tab, None))
    printed = capsys.readouterr().out
    assert code == 1
    assert ('reproduce: OUTSIDE TOLERANCE: PyTorch AutoRec (item-based) on the random split: '
            'mean test RMSE 0.950 over 2 seeds is outside 0.90 +- 0.02') in printed
    report = json.loads((out / 'rmse.json').read_text())
    assert [(r['framework'], r['model']) for r in report['book_table']][2:] == [
        ('torch', 'mf'), ('torch', 'autorec')]
    assert (out / 'torch_autorec_random_curves.png').exists()
    # The PyTorch tab is called with the MXNet tab's keyword arguments, without fast=.
    signature = inspect.signature(mxnet_experiments.train_autorec)
    for model, kwargs in torch_tab.calls:
        assert 'fast' not in kwargs
        signature.bind(**kwargs)
    assert sorted({(m, kw['split_mode'], kw['seed']) for m, kw in torch_tab.calls}) == [
        ('autorec', 'random', 0), ('autorec', 'random', 1), ('autorec', 'seq-aware', 0),
        ('mf', 'random', 0), ('mf', 'seq-aware', 0), ('mf', 'seq-aware', 1)]
    assert any(kw.get('user_based') for _, kw in torch_tab.calls)


@needs_mxnet   # reproduce.main runs the MXNet tab (stood in here, but imported)
@pytest.mark.parametrize('argv', [[], ['--quick'], ['--no-readme']])
def test_a_full_run_rewrites_the_readme_table_and_its_figure(tmp_path, monkeypatch, argv):
    torch_tab = StandInTab({'mf': 1.05, 'autorec': 0.91}, {'mf': 0.5, 'autorec': 40.0})
    code, out, _ = _main(monkeypatch, tmp_path, argv + ['--seeds', '3', '--apples-seeds', '1'],
                         (torch_tab, None))
    assert code == 0
    readme = (tmp_path / 'front' / 'README.md').read_text(encoding='utf-8')
    figure = tmp_path / 'front' / 'images' / 'book_experiments'
    if argv:   # --quick (2 epochs) and --no-readme leave both as they were
        assert readme == README_BEFORE and not figure.parent.exists()
        return
    assert figure.with_suffix('.png').stat().st_size > 0
    assert figure.with_suffix('.svg').stat().st_size > 0
    before, _, rest = readme.partition(reproduce.README_TABLE[0] + '\n')
    table, _, after = rest.partition(reproduce.README_TABLE[1])
    assert before == '# d2l-recsys\n\nText before.\n\n' and after == '\n\nText after.\n'
    rows = [line for line in table.splitlines() if line.startswith('| ') and '---' not in line]
    # The stand-in tabs' numbers (exact: 0.01 below), the MXNet seed 0 runs from the
    # notebooks' records (AutoRec's exact RMSE there 0.9: mean of 0.90, 0.89, 0.89).
    assert rows[1:] == [
        '| MXNet | MF, seq-aware | none printed | 1.050 +- 0.000 | 1.040 +- 0.000 |',
        '| MXNet | AutoRec (item-based), random | 0.898 (the book) | 0.900 +- 0.000 | '
        '0.893 +- 0.006 |',
        '| PyTorch | MF, seq-aware | none printed | 1.050 +- 0.000 | 1.040 +- 0.000 |',
        '| PyTorch | AutoRec (item-based), random | 0.906 (the PyTorch AutoRec deck) | '
        '0.910 +- 0.000 | 0.900 +- 0.000 |'], '\n'.join(rows)
    assert 'mean +- std over 3 seeds' in table
    written = json.loads((out / 'rmse.json').read_text())['files']
    assert sum(f.endswith(('book_experiments.png', 'book_experiments.svg', 'README.md'))
               for f in written) == 3, written


def test_a_readme_without_the_markers_keeps_its_text(tmp_path, monkeypatch, capsys):
    readme = tmp_path / 'README.md'
    readme.write_text('# no table here\n', encoding='utf-8')
    monkeypatch.setattr(reproduce, 'README', str(readme))
    monkeypatch.setattr(reproduce, 'FRONT_FIGURE', str(tmp_path / 'images' / 'fig'))
    book, apples, failures = reproduce.make_tables(_runs(1.05, 0.9), 5, 3)
    files = reproduce.write_front_page(_report(book, apples, failures), book,
                                       {'mf': 3, 'autorec': 3, 'autorec-user': 3})
    assert readme.read_text(encoding='utf-8') == '# no table here\n'
    assert [os.path.basename(f) for f in files] == ['fig.png', 'fig.svg']
    line = capsys.readouterr().out.strip()
    assert line.startswith('reproduce: the README keeps its results table: ') and \
        'expected the lines' in line and '\n' not in line


def test_same_split_table_has_the_tuned_presets_beside_the_books(tmp_path):
    from d2l_recsys.evidence import tuned_column
    book, apples, failures = reproduce.make_tables(_runs(1.05, 0.9), 5, 3)
    text = rmse_tables.markdown(_report(book, apples, failures, tuned=reproduce.tuned_presets()))
    header = next(line for line in text.splitlines() if line.startswith('| model | framework'))
    assert header.endswith('| tuned, random | tuned, seq-aware |')
    mean, std, n = tuned_column()[('autorec', 'random')]
    row = next(line for line in text.splitlines()
               if line.startswith('| AutoRec') and '| MXNet |' in line)
    assert f'{mean:.4f} +- {std:.4f} (n={n})' in row
    # Without the record the columns say so rather than inventing a number.
    text = rmse_tables.markdown(_report(book, apples, failures))
    row = next(line for line in text.splitlines() if line.startswith('| MF |'))
    assert row.endswith('| - | - |')


# ---------------------------------------------------------------- the chapter's parts
def test_parts_argument_names_the_parts_and_refuses_others(capsys):
    assert reproduce.parse_args([]).parts == list(reproduce.PARTS)
    assert reproduce.parse_args(['--parts', 'rating']).parts == ['rating']
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(['--parts', 'rating,jokes'])
    assert e.value.code == 2 and '--parts: expected some of' in capsys.readouterr().err


def _part_module(name, result, calls):
    module = types.ModuleType(name)

    def run(ctx):
        calls.append((name, ctx))
        return result
    module.run = run
    return module


@needs_mxnet   # reproduce.main runs the MXNet tab (stood in here, but imported)
@pytest.mark.parametrize('quick', [False, True])
def test_other_parts_run_after_the_rating_part_and_their_failures_count(
        tmp_path, monkeypatch, capsys, quick):
    import sys
    calls = []
    parts = {'ok_part': {'files': []},
             'bad_part': {'failures': ['Model X: HR@10 0.010 is outside 0.08 +- 0.01']}}
    for name, result in parts.items():
        monkeypatch.setitem(sys.modules, f'fake_{name}', _part_module(name, result, calls))
    monkeypatch.setattr(reproduce, 'PARTS', {'rating': None, 'ok_part': 'fake_ok_part',
                                             'bad_part': 'fake_bad_part'})
    torch_tab = StandInTab({'mf': 1.05, 'autorec': 0.91}, {'mf': 0.5, 'autorec': 40.0})
    argv = ['--seeds', '2', '--apples-seeds', '1', '--no-readme',
            '--parts', ','.join(reproduce.PARTS)] + (['--quick'] if quick else [])
    code, out, _ = _main(monkeypatch, tmp_path, argv, (torch_tab, None))
    printed = capsys.readouterr().out
    assert [name for name, _ in calls] == ['ok_part', 'bad_part']
    ctx = calls[0][1]
    assert ctx.quick == quick and ctx.frameworks == ['mxnet', 'torch']
    assert ctx.out_dir == str(out) and ctx.n_seeds == 2
    assert (out / 'rmse.json').exists()   # the rating part ran first
    if quick:
        assert code == 0 and 'OUTSIDE TOLERANCE' not in printed
    else:
        assert code == 1
        assert 'reproduce: OUTSIDE TOLERANCE: Model X: HR@10 0.010 is outside' in printed


@needs_mxnet
def test_a_part_that_cannot_go_on_stops_the_run_with_exit_1(tmp_path, monkeypatch, capsys):
    import sys
    calls = []
    monkeypatch.setitem(sys.modules, 'fake_broken', _part_module(
        'broken', {'errors': ['notebooks/06-neumf-mxnet.ipynb wrote no record']}, calls))
    monkeypatch.setitem(sys.modules, 'fake_after', _part_module('after', {}, calls))
    monkeypatch.setattr(reproduce, 'PARTS', {'rating': None, 'broken': 'fake_broken',
                                             'after': 'fake_after'})
    code, _, _ = _main(monkeypatch, tmp_path, ['--quick', '--parts', 'broken,after'],
                       (None, 'no torch'))
    printed = capsys.readouterr().out
    assert code == 1 and [name for name, _ in calls] == ['broken']
    assert 'reproduce: notebooks/06-neumf-mxnet.ipynb wrote no record' in printed


def test_make_reproduce_runs_the_module_as_a_program():
    # `make reproduce` is `python -m d2l_recsys.reproduce`: the module must run main().
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-m', 'd2l_recsys.reproduce', '--parts', 'nope'],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and '--parts: expected some of rating' in out.stderr
