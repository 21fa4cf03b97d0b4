"""The book's cells of the ranking half (NeuMF and Caser, Caser's training call uncommented)
run against the MXNet tab with only their import line changed, and print what they print with
``d2l`` 1.0.3 for the same seed; the package's own classes and functions, put in place of the
cells' definitions, print the same again. Tiny generated data, on the CPU.

The book's DataLoaders take ``num_workers=d2l.get_dataloader_workers()`` (4): the datasets then
draw their negatives in worker processes, whose ``random`` Python reseeds from the operating
system, so no seed fixes them; the comparisons run both sides with 0 workers, and one test runs
the package with the book's 4. Gluon's DataLoader runs a full garbage collection every time
one is made, which the book's evaluator does for every user; the runs here skip those
collections (``d2l_recsys.mxnet.skip_loader_gc``), which changes no number and makes them
several times sooner.
"""
import gc
import random
import re

import numpy as onp
import pytest

pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402

import ranking_cells as cells  # noqa: E402
from conftest import book_d2l, make_ratings, needs_d2l, write_u_data  # noqa: E402

BOOK_IMPORT = 'from d2l import mxnet as d2l'
OUR_IMPORT = 'from d2l_recsys import mxnet as d2l'
SEED = 0


def _ours(cell):
    return cell.replace(BOOK_IMPORT, OUR_IMPORT)


def _caser_cells():
    # The book comments its training call out ("Running takes > 1h"); here it runs.
    *rest, last = cells.SEQREC_CELLS
    assert '# d2l.train_ranking(' in last
    return rest + [last.replace('# d2l.train_ranking(', 'd2l.train_ranking(')]


@pytest.fixture(scope='module')
def rank_dir(tmp_path_factory):
    """20 users, 150 items, 2,277 ratings (101 to 130 per user): NeuMF's batch of 1024 gives
    two batches an epoch; Caser's 2,157 windows make a batch of 4096 in epochs 2, 4, 6, 8."""
    folder = str(tmp_path_factory.mktemp('rank-data'))
    write_u_data(folder, make_ratings(20, 150, seed=0, per_user=(100, 130)))
    return folder


def _book_line(out):
    # d2l's Animator displays "<Figure ...>" and clear-screen codes in a console: skip them.
    lines = [line for line in re.split(r'[\r\n]|\x1b\[2K', out) if 'train loss' in line]
    assert len(lines) == 1, out
    return lines[0]


def _run(cell_list, ns):
    from d2l_recsys.mxnet import skip_loader_gc
    with skip_loader_gc():
        return _run_seeded(cell_list, ns)


def test_skip_loader_gc_skips_explicit_collections_inside_only():
    from d2l_recsys.mxnet import skip_loader_gc
    collect = gc.collect
    with pytest.raises(KeyError):
        with skip_loader_gc():
            assert gc.collect is not collect and gc.collect() == 0
            with skip_loader_gc():   # nested: the outer block still skips afterwards
                pass
            assert gc.collect is not collect
            raise KeyError('an error in the block')
    assert gc.collect is collect


def _run_seeded(cell_list, ns):
    mx.random.seed(SEED)
    onp.random.seed(SEED)
    random.seed(SEED)
    for cell in cell_list:
        exec(cell, ns)
    return ns


def _oracle(monkeypatch, folder):
    """d2l 1.0.3, reading ``folder``, on the CPU (its try_all_gpus gives [] without a GPU),
    its datasets drawing in this process."""
    d2l = book_d2l()
    monkeypatch.setattr(d2l, 'download_extract', lambda name, folder_=None: folder)
    monkeypatch.setattr(d2l, 'try_all_gpus', lambda: [mx.cpu()])
    monkeypatch.setattr(d2l, 'get_dataloader_workers', lambda: 0)
    return d2l


def _package(monkeypatch, folder, workers=0):
    from d2l_recsys import fetch
    from d2l_recsys import mxnet as tab
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda path=None, **kw: folder)
    monkeypatch.setattr(tab, 'get_dataloader_workers', lambda: workers)
    return tab


@pytest.fixture(scope='module')
def oracle_lines(rank_dir):
    """What the book's cells print with d2l 1.0.3: {'neumf': line, 'caser': line}."""
    if book_d2l() is None:
        pytest.skip("needs d2l 1.0.3, the book's package")
    import contextlib
    import io
    lines = {}
    for name, cell_list in (('neumf', cells.NEUMF_CELLS), ('caser', _caser_cells())):
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as m, contextlib.redirect_stdout(out):
            _oracle(m, rank_dir)
            _run(cell_list, {})
        lines[name] = _book_line(out.getvalue())
    return lines


@needs_d2l
def test_neumf_cells_print_what_d2l_prints(monkeypatch, rank_dir, oracle_lines, capsys):
    _package(monkeypatch, rank_dir)
    ns = _run([_ours(c) for c in cells.NEUMF_CELLS], {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == oracle_lines['neumf']
    assert re.fullmatch(r'train loss [0-9.]+, test hit rate [0-9.]+, test AUC [0-9.]+', out[0])
    assert re.fullmatch(r'[0-9.]+ examples/sec on \[cpu\(0\)\]', out[1]) and len(out) == 2
    assert ns['d2l'].__name__ == 'd2l_recsys.mxnet'


@needs_d2l
def test_neumf_package_classes_print_what_the_cells_print(monkeypatch, rank_dir, oracle_lines,
                                                          capsys):
    # The cells that define NeuMF, PRDataset, hit_and_auc, evaluate_ranking and train_ranking
    # left out: the package's names stand in for them.
    tab = _package(monkeypatch, rank_dir)
    ns = {name: getattr(tab, name) for name in ('NeuMF', 'PRDataset', 'hit_and_auc',
                                                 'evaluate_ranking', 'train_ranking')}
    ns.update(gluon=mx.gluon, mx=mx, d2l=tab)
    history = _run(cells.NEUMF_CELLS[-3:], ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == oracle_lines['neumf'] and len(out) == 2
    # What the package records beside the printed line.
    h = ns['train_ranking'](ns['net'], ns['train_iter'], ns['test_iter'], ns['loss'],
                            ns['trainer'], None, ns['num_users'], ns['num_items'], 1,
                            ns['devices'], ns['evaluate_ranking'], ns['candidates'],
                            exact=True, progress=False, plot=False)
    assert h['eval_epoch'] == [1] and set(h['exact'][0]) >= {'hr@10', 'hr@50', 'ndcg@10',
                                                               'auc'}
    assert history is ns


@needs_d2l
def test_caser_cells_run_and_print_what_d2l_prints(monkeypatch, rank_dir, oracle_lines,
                                                   capsys):
    _package(monkeypatch, rank_dir)
    ns = _run([_ours(c) for c in _caser_cells()], {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == oracle_lines['caser']
    assert re.fullmatch(r'[0-9.]+ examples/sec on \[cpu\(0\)\]', out[1]) and len(out) == 2
    assert ns['train_seq_data'][0][0].dtype == onp.int32   # the cell's "train_seq_data[0]"


@needs_d2l
def test_caser_package_classes_print_what_the_cells_print(monkeypatch, rank_dir, oracle_lines,
                                                          capsys):
    tab = _package(monkeypatch, rank_dir)
    ns = {'Caser': tab.Caser, 'SeqDataset': tab.SeqDataset, 'gluon': mx.gluon, 'mx': mx,
          'd2l': tab}
    _run(_caser_cells()[-2:], ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == oracle_lines['caser'] and len(out) == 2


def test_neumf_cells_run_with_the_books_worker_processes(monkeypatch, rank_dir, capsys):
    # The book's 4 workers draw the negatives in other processes: it runs, the numbers vary.
    _package(monkeypatch, rank_dir, workers=4)
    _run([_ours(c) for c in cells.NEUMF_CELLS], {})
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r'train loss [0-9.]+, test hit rate [0-9.]+, test AUC [0-9.]+', out[0])
