"""The chapter notebooks: the book's code they show is the package's, and they run.

* Identity: every code cell of a notebook that defines one of the book's functions or classes
  must be tagged with the package object it shows and have the same AST as that object's
  source (the def/class name may differ where the package renames it: the AutoRec evaluator is
  ``autorec_evaluator`` in the package and ``evaluator`` in the book).
* Names: one notebook per section of the chapter and tab, ``NN-section-tab.ipynb``, so that
  the folder lists them in the book's order.
* Sources: the Markdown files (``notebooks/src/*.md``, jupytext) are what a person edits; each
  ``.ipynb`` must be exactly what ``tools/notebooks.py`` (``make notebooks``) makes of its
  Markdown, so the two cannot drift, and is paired with it, so that saving the notebook in
  JupyterLab with jupytext writes its source. The identity check reads both.
* Clean: committed without outputs.
* They run: each notebook executes top to bottom with nbclient on the real ML-100K in short
  mode (``D2L_RECSYS_SHORT=1``: 2 epochs, 1 for FM and DeepFM); skipped when the data are not
  cached (``make data``), and the PyTorch notebooks when PyTorch is not installed. The executed
  copy is kept in ``build/notebooks/``: ``make docs`` shows it, saying so, where ``make
  reproduce`` has not run.
* The PyTorch AutoRec notebook shows the PyTorch AutoRec deck's cells instead of package code:
  they must be the deck's (``tests/test_torch_deck.py``), with only the import line changed
  and the project's short-mode lines added.
"""
import ast
import copy
import difflib
import glob
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import needs_mxnet   # the MXNet tab's notebooks
from d2l_recsys import reproduce

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB_DIR = os.path.join(ROOT, 'notebooks')
SRC_DIR = os.path.join(NB_DIR, 'src')
# The short-mode runs, for the site (tools/docs.py reads them from here).
SHORT_RUNS = os.path.join(ROOT, 'build', 'notebooks')
META_KEY = 'd2l_recsys'

# The book's code each notebook must show: name in the notebook -> package object.
EXPECTED = {
    '02-movielens-mxnet.ipynb': {
        'read_data_ml100k': 'd2l_recsys.data:read_data_ml100k',
        'split_data_ml100k': 'd2l_recsys.data:split_data_ml100k',
        'load_data_ml100k': 'd2l_recsys.data:load_data_ml100k',
        'split_and_load_ml100k': 'd2l_recsys.mxnet.movielens:split_and_load_ml100k',
    },
    '02-movielens-pytorch.ipynb': {
        'read_data_ml100k': 'd2l_recsys.data:read_data_ml100k',
        'split_data_ml100k': 'd2l_recsys.data:split_data_ml100k',
        'load_data_ml100k': 'd2l_recsys.data:load_data_ml100k',
        'split_and_load_ml100k': 'd2l_recsys.torch.movielens:split_and_load_ml100k',
    },
    '03-mf-mxnet.ipynb': {
        'MF': 'd2l_recsys.mxnet.mf:MF',
        'evaluator': 'd2l_recsys.mxnet.mf:evaluator',
        'train_recsys_rating': 'd2l_recsys.mxnet.mf:train_recsys_rating',
    },
    '04-autorec-mxnet.ipynb': {
        'AutoRec': 'd2l_recsys.mxnet.autorec:AutoRec',
        'evaluator': 'd2l_recsys.mxnet.autorec:autorec_evaluator',
    },
    '03-mf-pytorch.ipynb': {
        'MF': 'd2l_recsys.torch.mf:MF',
        'L2Loss': 'd2l_recsys.torch.mf:L2Loss',
        'evaluator': 'd2l_recsys.torch.mf:evaluator',
        'train_recsys_rating': 'd2l_recsys.torch.mf:train_recsys_rating',
    },
    # The deck's own AutoRec and evaluator, not the package's (see DECK_NOTEBOOK).
    '04-autorec-pytorch.ipynb': {},
    '05-ranking-mxnet.ipynb': {
        'BPRLoss': 'd2l_recsys.mxnet.ranking:BPRLoss',
        'HingeLossbRec': 'd2l_recsys.mxnet.ranking:HingeLossbRec',
    },
    '05-ranking-pytorch.ipynb': {
        'BPRLoss': 'd2l_recsys.torch.ranking:BPRLoss',
        'HingeLossbRec': 'd2l_recsys.torch.ranking:HingeLossbRec',
    },
    '06-neumf-mxnet.ipynb': {
        'NeuMF': 'd2l_recsys.mxnet.neumf:NeuMF',
        'PRDataset': 'd2l_recsys.mxnet.neumf:PRDataset',
        'hit_and_auc': 'd2l_recsys.rank_metrics:hit_and_auc',
        'evaluate_ranking': 'd2l_recsys.mxnet.neumf:evaluate_ranking',
        'train_ranking': 'd2l_recsys.mxnet.neumf:train_ranking',
    },
    '06-neumf-pytorch.ipynb': {
        'Dense': 'd2l_recsys.torch.neumf:Dense',
        'init_book': 'd2l_recsys.torch.neumf:init_book',
        'NeuMF': 'd2l_recsys.torch.neumf:NeuMF',
        'PRDataset': 'd2l_recsys.torch.neumf:PRDataset',
        'hit_and_auc': 'd2l_recsys.rank_metrics:hit_and_auc',
        'evaluate_ranking': 'd2l_recsys.torch.neumf:evaluate_ranking',
        'train_ranking': 'd2l_recsys.torch.neumf:train_ranking',
    },
    '07-seqrec-mxnet.ipynb': {
        'Caser': 'd2l_recsys.mxnet.seqrec:Caser',
        'SeqDataset': 'd2l_recsys.mxnet.seqrec:SeqDataset',
    },
    '07-seqrec-pytorch.ipynb': {
        'Caser': 'd2l_recsys.torch.seqrec:Caser',
        'SeqDataset': 'd2l_recsys.torch.seqrec:SeqDataset',
    },
    # The feature-rich sections (tests/test_ctr_notebooks.py checks their book cells).
    '08-ctr-mxnet.ipynb': {'CTRDataset': 'd2l_recsys.mxnet.ctr:CTRDataset'},
    '08-ctr-pytorch.ipynb': {'read_ctr_book': 'd2l_recsys.clicks:read_ctr_book',
                             'CTRDataset': 'd2l_recsys.torch.ctr:CTRDataset'},
    '09-fm-mxnet.ipynb': {'FM': 'd2l_recsys.mxnet.fm:FM'},
    '09-fm-pytorch.ipynb': {'FM': 'd2l_recsys.torch.fm:FM'},
    '10-deepfm-mxnet.ipynb': {'DeepFM': 'd2l_recsys.mxnet.deepfm:DeepFM'},
    '10-deepfm-pytorch.ipynb': {'Dense': 'd2l_recsys.torch.deepfm:Dense',
                                'DeepFM': 'd2l_recsys.torch.deepfm:DeepFM'},
}
TORCH_NOTEBOOKS = {'02-movielens-pytorch.ipynb', '03-mf-pytorch.ipynb',
                   '04-autorec-pytorch.ipynb', '05-ranking-pytorch.ipynb',
                   '06-neumf-pytorch.ipynb', '07-seqrec-pytorch.ipynb',
                   '08-ctr-pytorch.ipynb', '09-fm-pytorch.ipynb', '10-deepfm-pytorch.ipynb'}
DECK_NOTEBOOK = '04-autorec-pytorch.ipynb'
# Every book object the notebooks may define; a cell defining one of these must be tagged.
BOOK_NAMES = {name for shown in EXPECTED.values() for name in shown} | {
    'autorec_evaluator', 'load_data_ml100k_fast', 'split_data_ml100k_fast', 'rmse_exact'}
# Something each notebook prints when it ran through (short mode).
RAN_MARKERS = {
    '02-movielens-mxnet.ipynb': ['number of users: 943, number of items: 1682',
                                 'identical seq-aware split: True'],
    '02-movielens-pytorch.ipynb': ['number of users: 943, number of items: 1682',
                                   'identical seq-aware split: True',
                                   'a batch holds 512 (user, item, rating) triples, e.g. tensor('],
    '03-mf-mxnet.ipynb': ['test RMSE', 'exact test RMSE', 'is predicted to rate',
                          "short mode: 2 epochs instead of the book's 20"],
    '04-autorec-mxnet.ipynb': ['test RMSE', 'predicted rating of item 30 by user 20',
                               "short mode: 2 epochs instead of the book's 25"],
    '03-mf-pytorch.ipynb': ['test RMSE', 'exact test RMSE', 'is predicted to rate',
                            'same test RMSE per epoch: True',
                            "short mode: 2 epochs instead of the book's 20"],
    '04-autorec-pytorch.ipynb': ['train loss', 'test RMSE',
                                 'predicted rating of item 30 by user 20',
                                 "the deck's test RMSE in every epoch: True",
                                 "short mode: 2 epochs instead of the deck's 25"],
    **{f'05-ranking-{tab}.ipynb': ['differences positive - negative', 'BPR loss of the batch',
                                   'after 30 steps, hinge: [3.0, 1.4, 1.5, 1.5]', 'inf]']
       for tab in ('mxnet', 'pytorch')},
    # Short mode: less data, 1 epoch of the book's loop; the fast path's 2 epochs with the
    # book's settings already leave every score at exactly 0.5, and with wd = 0 they do not.
    **{f'06-neumf-{tab}.ipynb': ["test items the book's evaluator never ranks: 113 of 943 users",
                                 "short mode: each user's 20 latest training ratings, 1 epoch",
                                 'exact (all unseen items, ties at their mean): HR@10',
                                 'the fast path: scores from 0.500000000 to 0.500000000, '
                                 '100.0% exactly 0.5, 1 distinct value(s)',
                                 'decay larger in', 'the fast path, wd = 0']
       for tab in ('mxnet', 'pytorch')},
    **{f'07-seqrec-{tab}.ipynb': ["test items the book's evaluator never ranks: 113 of 943 users",
                                  "short mode: each user's 20 latest training ratings, 1 epoch",
                                  'exact (all unseen items, ties at their mean): HR@10',
                                  "short mode: 2 epochs instead of the book's 8"]
       for tab in ('mxnet', 'pytorch')},
    **{f'08-ctr-{tab}.ipynb': ['train.csv: 89,561 lines', '2,708 features in all',
                               "the book's advertising data is not used here"]
       for tab in ('mxnet', 'pytorch')},
    # FM and DeepFM train one epoch in short mode: the book's CTRDataset takes most of it.
    **{f'{nb}-{tab}.ipynb': ['examples/sec on', "short mode: one epoch instead of the book's 30",
                             'exact, whole test set (10,439 lines',
                             "epoch 1: the training cell's numbers: True",
                             'from_sigmoid=True' if tab == 'mxnet' else 'BCELoss']
       for nb in ('09-fm', '10-deepfm') for tab in ('mxnet', 'pytorch')},
}
# Notebooks whose training curve must show inline (train_ch13's live plot, as in Jupyter).
INLINE_FIGURES = {f'{nb}-{tab}.ipynb' for nb in ('09-fm', '10-deepfm')
                  for tab in ('mxnet', 'pytorch')}
# What the feature-rich notebooks' records hold (their last cells say what each value is).
CTR_RECORD = ('dataset', 'fields', 'num_feat', 'min_threshold', 'train_size', 'test_size',
              'train_click_rate', 'test_click_rate', 'field_dims', 'num_features',
              'fields_table')
CLICK_RECORD = ('settings', 'train_loss', 'train_acc', 'test_acc', 'test_auc', 'test_log_loss',
                'test_accuracy', 'test_size', 'test_click_rate', 'saturated', 'loss_floor',
                'history', 'loss_comparison')
TAB_SUFFIXES = (('mxnet', ''), ('pytorch', '_torch'))
# The record each notebook's last cell writes, and what it must hold: make reproduce's for
# the MXNet notebooks; the PyTorch notebooks' records are named after them.
RECORDS = {
    **reproduce.NOTEBOOKS,
    '02-movielens-pytorch.ipynb': ('movielens_torch',
                                   reproduce.NOTEBOOKS['02-movielens-mxnet.ipynb'][1]),
    '03-mf-pytorch.ipynb': ('mf_torch', ('history', 'test_rmse_exact',
                                         'prediction_user20_item30')),
    '04-autorec-pytorch.ipynb': ('autorec_torch', ('train_loss', 'test_rmse',
                                                   'train_loss_curve', 'test_rmse_curve',
                                                   'test_rmse_exact', 'fast_test_rmse')),
    # The ranking half's: their keys are documented in each notebook's last cell.
    **{f'05-ranking-{tab}.ipynb': (name, ('positive', 'negative', 'bpr', 'hinge', 'descent'))
       for tab, name in (('mxnet', 'ranking'), ('pytorch', 'ranking_torch'))},
    **{f'06-neumf-{tab}.ipynb': (name, ('short', 'seed', 'users', 'unreachable_users',
                                        'history', 'fast_history', 'fixed_history',
                                        'book_settings', 'collapse', 'fixed_scores', 'norms',
                                        'first_step'))
       for tab, name in (('mxnet', 'neumf'), ('pytorch', 'neumf_torch'))},
    **{f'07-seqrec-{tab}.ipynb': (name, ('short', 'seed', 'windows', 'unreachable_users',
                                         'history', 'fast_history', 'book_settings'))
       for tab, name in (('mxnet', 'seqrec'), ('pytorch', 'seqrec_torch'))},
    # The feature-rich notebooks' records, for make reproduce's CTR part.
    **{f'08-ctr-{tab}.ipynb': ('ctr' + suffix, CTR_RECORD) for tab, suffix in TAB_SUFFIXES},
    **{f'{nb}-{tab}.ipynb': (name + suffix, CLICK_RECORD) for tab, suffix in TAB_SUFFIXES
       for nb, name in (('09-fm', 'fm'), ('10-deepfm', 'deepfm'))},
}
# The notebooks that read no data set: the personalized ranking section trains nothing.
READ_NO_DATA = {'05-ranking-mxnet.ipynb', '05-ranking-pytorch.ipynb'}
# What a record's values must say, beyond having its keys (short mode's run).
RECORD_CHECKS = {
    **{f'05-ranking-{tab}.ipynb': lambda v: v['hinge']['grad_positive'] == [0, -1, -1, -1]
       for tab in ('mxnet', 'pytorch')},
    # The book's settings collapse (every score 0.5, AUC 0.5); wd = 0 learns.
    **{f'06-neumf-{tab}.ipynb': lambda v: (
        v['collapse']['the fast path']['share_half'] == 1.0
        and v['fast_history']['exact'][-1]['auc'] == 0.5
        and v['fixed_history']['exact'][-1]['auc'] > 0.7 and v['unreachable_users'] == 113
        and v['book_settings']['source'] == 'fast path')
       for tab in ('mxnet', 'pytorch')},
    **{f'07-seqrec-{tab}.ipynb': lambda v: (
        v['fast_history']['exact'][-1]['auc'] > 0.7 and v['unreachable_users'] == 113)
       for tab in ('mxnet', 'pytorch')},
}


def load(nb_name):
    with open(os.path.join(NB_DIR, nb_name), encoding='utf-8') as f:
        return json.load(f)


def load_source(nb_name):
    """The notebook as its Markdown source reads (jupytext), as a plain dict."""
    jupytext = pytest.importorskip('jupytext')
    stem = os.path.splitext(nb_name)[0]
    return json.loads(jupytext.writes(jupytext.read(os.path.join(SRC_DIR, stem + '.md')),
                                      fmt='ipynb'))


def cell_text(cell):
    src = cell['source']
    return ''.join(src) if isinstance(src, list) else src


def package_object(target):
    module_name, _, name = target.partition(':')
    return getattr(importlib.import_module(module_name), name)


def normalised(text, name=None):
    """AST dump of a single def/class source, its own name replaced by ``name``."""
    tree = ast.parse(textwrap.dedent(text))
    if len(tree.body) != 1 or not isinstance(
            tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        raise ValueError('expected exactly one function or class definition')
    if name is not None:
        tree.body[0].name = name
    return ast.dump(tree, include_attributes=False)


def mismatch(cell_source, target, as_name):
    """None when the cell is the package's ``target`` (up to the def/class name), else a
    description of the difference (a unified diff of the two sources)."""
    obj = package_object(target)
    pkg_source = textwrap.dedent(inspect.getsource(obj))
    canonical = '__shown__'
    try:
        same = normalised(cell_source, canonical) == normalised(pkg_source, canonical)
    except (SyntaxError, ValueError) as e:
        return f'cell is not a single definition: {e}'
    if not same:
        diff = difflib.unified_diff(pkg_source.splitlines(), cell_source.splitlines(),
                                    f'package {target}', 'notebook cell', lineterm='', n=1)
        return 'differs from the package:\n' + '\n'.join(list(diff)[:40])
    tree = ast.parse(cell_source)
    if tree.body[0].name != as_name:
        return f'defines {tree.body[0].name!r} but is tagged as {as_name!r}'
    return None


def identity_problems(nb, deck_cells=()):
    """Problems with the book code of notebook dict ``nb``: list of strings (empty = fine).
    ``deck_cells``: code that may define a book name untagged (the deck's own cells)."""
    problems, shown = [], {}
    deck_cells = {c.strip() for c in deck_cells}
    for index, cell in enumerate(nb['cells']):
        if cell['cell_type'] != 'code':
            continue
        text = cell_text(cell)
        tag = cell.get('metadata', {}).get(META_KEY)
        try:
            tree = ast.parse(text)
        except SyntaxError:   # IPython magics would land here; our notebooks have none
            problems.append(f'cell {index}: not valid Python')
            continue
        defined = [n.name for n in tree.body
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if tag is None:
            if text.strip() in deck_cells:
                continue
            for name in defined:
                if name in BOOK_NAMES:
                    problems.append(f'cell {index} defines {name!r} without saying which '
                                    'package object it shows')
            continue
        why = mismatch(text, tag['source'], tag['as'])
        if why:
            problems.append(f'cell {index} ({tag["source"]}): {why}')
        shown[tag['as']] = tag['source']
    return problems, shown


@needs_mxnet
@pytest.mark.parametrize('form', ['md', 'ipynb'])
@pytest.mark.parametrize('nb_name', sorted(EXPECTED))
def test_book_code_in_notebook_is_the_package_code(nb_name, form):
    if nb_name in TORCH_NOTEBOOKS:
        pytest.importorskip('torch')
    deck = deck_cells() if nb_name == DECK_NOTEBOOK else ()
    problems, shown = identity_problems(load_source(nb_name) if form == 'md' else load(nb_name),
                                        deck)
    assert not problems, '\n'.join(problems)
    assert shown == EXPECTED[nb_name]


def deck_cells():
    """The PyTorch AutoRec deck's code cells with the import line this package changes."""
    deck = pytest.importorskip('test_torch_deck')   # skips without PyTorch
    return [c.replace(deck.IMPORT, 'from d2l_recsys import torch as d2l')
            for c in deck.DECK_CELLS]


def without_short_mode(text):
    """A cell without the project's short-mode lines (``if SHORT:`` and its block)."""
    return re.sub(r'^if SHORT:\n(?:    .*\n?)+', '', text, flags=re.M)


@pytest.mark.parametrize('form', ['md', 'ipynb'])
def test_torch_autorec_notebook_shows_the_deck_cells(form):
    expected = deck_cells()
    nb = load_source(DECK_NOTEBOOK) if form == 'md' else load(DECK_NOTEBOOK)
    code = [without_short_mode(cell_text(c)).strip() for c in nb['cells']
            if c['cell_type'] == 'code']
    where = []
    for cell in expected:
        assert cell.strip() in code, f'the deck cell is not in the notebook:\n{cell}'
        where.append(code.index(cell.strip()))
    assert where == sorted(where), 'the deck cells are out of order'
    # The training cell differs from the deck's by the short-mode lines alone.
    training = next(cell_text(c) for c in nb['cells'] if 'for epoch in' in cell_text(c))
    assert training != without_short_mode(training) and 'num_epochs = 2' in training


def test_deck_check_catches_an_edited_cell():
    nb = load_source(DECK_NOTEBOOK)
    index = next(i for i, c in enumerate(nb['cells']) if 'class AutoRec' in cell_text(c))
    nb['cells'][index]['source'] = cell_text(nb['cells'][index]).replace('0.05', '0.1')
    problems = identity_problems(nb, deck_cells())[0]
    assert any("defines 'AutoRec' without saying" in p for p in problems)
    assert without_short_mode('a = 1\nif SHORT:\n    b = 2\n    c = 3\nd = 4\n') == \
        'a = 1\nd = 4\n'


@needs_mxnet
def test_identity_check_catches_changes():
    nb = load_source('03-mf-mxnet.ipynb')
    assert identity_problems(nb)[0] == []
    index = next(i for i, c in enumerate(nb['cells'])
                 if c.get('metadata', {}).get(META_KEY, {}).get('as') == 'MF')

    edited = copy.deepcopy(nb)   # a changed operation
    edited['cells'][index]['source'] = cell_text(nb['cells'][index]).replace(
        '(P_u * Q_i).sum(axis=1)', '(P_u * Q_i).mean(axis=1)')
    assert cell_text(edited['cells'][index]) != cell_text(nb['cells'][index])
    problems = identity_problems(edited)[0]
    assert len(problems) == 1 and 'differs from the package' in problems[0]

    untagged = copy.deepcopy(nb)   # the tag dropped: still caught
    del untagged['cells'][index]['metadata'][META_KEY]
    assert any('without saying' in p for p in identity_problems(untagged)[0])

    renamed = copy.deepcopy(nb)   # the right body under another name than the tag says
    renamed['cells'][index]['source'] = cell_text(nb['cells'][index]).replace(
        'class MF(', 'class MatrixFactorization(', 1)
    assert any("tagged as 'MF'" in p for p in identity_problems(renamed)[0])

    # Comments and blank lines are not code: the same AST passes.
    spaced = copy.deepcopy(nb)
    spaced['cells'][index]['source'] = cell_text(nb['cells'][index]).replace(
        '        P_u = self.P(user_id)\n', '\n        P_u = self.P(user_id)  # look up\n')
    assert identity_problems(spaced)[0] == []


@needs_mxnet
def test_renamed_evaluator_compares_with_the_package_one():
    # 04-autorec-mxnet.ipynb shows autorec_evaluator under the book's name `evaluator`.
    nb = load('04-autorec-mxnet.ipynb')
    cells = [c for c in nb['cells'] if c.get('metadata', {}).get(META_KEY, {}).get('as')
             == 'evaluator']
    assert len(cells) == 1
    assert cells[0]['metadata'][META_KEY]['source'] == 'd2l_recsys.mxnet.autorec:autorec_evaluator'
    assert mismatch(cell_text(cells[0]), 'd2l_recsys.mxnet.mf:evaluator', 'evaluator')


@pytest.mark.parametrize('nb_name', sorted(EXPECTED))
def test_notebooks_are_committed_without_outputs(nb_name):
    for cell in load(nb_name)['cells']:
        if cell['cell_type'] == 'code':
            assert cell['outputs'] == [] and cell['execution_count'] is None


def free_names(text):
    """Names a def/class source reads but does not bind itself (approximate: a name bound
    anywhere inside counts as local, which can only make the list shorter)."""
    import builtins
    tree = ast.parse(text)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split('.')[0] for a in node.names)
    return sorted(loaded - bound - set(dir(builtins)))


@needs_mxnet
@pytest.mark.parametrize('nb_name', sorted(EXPECTED))
def test_shown_code_finds_the_package_objects(nb_name):
    """The first code cell binds every name the shown package code reads to the very object
    the package module uses, so that the code a student reads runs as the package's."""
    if nb_name in TORCH_NOTEBOOKS:
        pytest.importorskip('torch')
    problems = binding_problems(load_source(nb_name))
    assert not problems, '\n'.join(problems)


@needs_mxnet
def test_binding_check_catches_a_missing_or_other_object():
    nb = load_source('03-mf-mxnet.ipynb')
    first = next(c for c in nb['cells'] if c['cell_type'] == 'code')
    text = cell_text(first)
    assert 'in_notebook, training_animator' in text
    first['source'] = text.replace('in_notebook, training_animator', 'in_notebook')
    assert binding_problems(nb) == [
        "train_recsys_rating reads 'training_animator', which the notebook does not bind"]
    first['source'] = text + '\nTimer = object\n'
    assert binding_problems(nb) == [
        "train_recsys_rating reads 'Timer', bound in the notebook to another object than in "
        "d2l_recsys.mxnet.mf"]


def binding_problems(nb):
    """Names the tagged cells of notebook ``nb`` read that its first code cell does not bind
    to the package module's own objects: a list of strings (empty = fine)."""
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    namespace = {}
    exec(compile(cell_text(code[0]), 'first code cell', 'exec'), namespace)
    defined, problems = set(), []
    for cell in code[1:]:
        tag = cell.get('metadata', {}).get(META_KEY)
        if tag is None:
            continue
        module = importlib.import_module(tag['source'].partition(':')[0])
        for name in free_names(cell_text(cell)):
            if name in defined:
                continue
            if name not in namespace:
                problems.append(f'{tag["as"]} reads {name!r}, which the notebook does not bind')
            elif namespace[name] is not vars(module).get(name):
                problems.append(f'{tag["as"]} reads {name!r}, bound in the notebook to '
                                f'another object than in {module.__name__}')
        defined.add(tag['as'])
    return problems


@pytest.mark.parametrize('nb_name', sorted(EXPECTED))
def test_no_private_names_in_the_notebooks(nb_name):
    """What a student reads uses no private (underscore) name of the package: the names the
    notebook's own code defines (the book's ``SeqDataset._win``, say) are its own."""
    assert private_names(load_source(nb_name)) == []


def private_names(nb):
    """The underscore names notebook ``nb`` reads without defining them, sorted."""
    private, own = set(), set()
    for cell in nb['cells']:
        if cell['cell_type'] != 'code':
            continue
        for node in ast.walk(ast.parse(cell_text(cell))):
            name = (node.id if isinstance(node, ast.Name) else
                    node.attr if isinstance(node, ast.Attribute) else
                    node.name if isinstance(node, ast.alias) else None)
            if name and name.startswith('_') and not name.startswith('__') and name != '_':
                private.add(name)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
    return sorted(private - own)


def test_private_name_check_tells_the_packages_from_the_notebooks_own():
    nb = {'cells': [{'cell_type': 'code', 'source': 'from d2l_recsys.mf import _secret\n'
                     'class A:\n    def _own(self):\n        _x = 1\n        return _x\n'
                     'A()._own()\nd2l._hidden()\n'}]}
    assert private_names(nb) == ['_hidden', '_secret']


def check_notebooks(folder):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'notebooks.py'),
                           '--check', '--dir', str(folder)],
                          capture_output=True, text=True, cwd=ROOT)


def test_notebooks_match_their_markdown_sources():
    assert sorted(f for f in os.listdir(SRC_DIR) if f.endswith('.md')) == sorted(
        n.replace('.ipynb', '.md') for n in EXPECTED)
    assert sorted(f for f in os.listdir(NB_DIR) if f.endswith(('.md', '.ipynb'))) == sorted(
        EXPECTED), 'notebooks/ holds the notebooks only, their sources are in notebooks/src/'
    out = check_notebooks(NB_DIR)
    assert out.returncode == 0, out.stderr + out.stdout


def copy_notebooks(tmp_path):
    """notebooks/ and its sources copied into ``tmp_path``."""
    os.makedirs(tmp_path / 'src')
    for name in EXPECTED:
        stem = os.path.splitext(name)[0]
        shutil.copy(os.path.join(NB_DIR, name), tmp_path / name)
        shutil.copy(os.path.join(SRC_DIR, stem + '.md'), tmp_path / 'src' / (stem + '.md'))


# The chapter's sections in the book's order (https://d2l.ai/chapter_recommender-systems/),
# numbered from 01; a notebook is NN-section-tab.ipynb.
BOOK_SECTIONS = ('recsys-intro', 'movielens', 'mf', 'autorec', 'ranking', 'neumf', 'seqrec',
                 'ctr', 'fm', 'deepfm')
NOTEBOOK_NAME = re.compile(r'(\d\d)-([a-z-]+)-(mxnet|pytorch)\.ipynb')


def test_notebooks_are_named_after_the_books_sections():
    tabs = {}
    for name in EXPECTED:
        match = NOTEBOOK_NAME.fullmatch(name)
        assert match, f'{name}: not NN-section-tab.ipynb (tab mxnet or pytorch)'
        number, section, tab = match.groups()
        assert section in BOOK_SECTIONS, f'{name}: {section!r} is not a section of the chapter'
        assert int(number) == BOOK_SECTIONS.index(section) + 1, (
            f'{name}: {section} is section {BOOK_SECTIONS.index(section) + 1:02d} of the book')
        tabs.setdefault(tab, set()).add(section)
        assert (name in TORCH_NOTEBOOKS) == (tab == 'pytorch'), name
    assert tabs['mxnet'] == tabs['pytorch'], 'a section has a notebook in one tab only'
    assert not NOTEBOOK_NAME.fullmatch('mf_torch.ipynb')   # it looked


def test_saving_a_notebook_in_jupyterlab_writes_its_source(tmp_path):
    """Each notebook is paired with its source in src/ (jupytext ``ipynb,src//md``): saved
    through jupytext's contents manager, as JupyterLab saves it, the edit lands in
    ``src/NAME.md`` and no second Markdown file appears beside the notebook."""
    jupytext = pytest.importorskip('jupytext')
    copy_notebooks(tmp_path)
    for name in EXPECTED:
        assert load(name)['metadata']['jupytext']['formats'] == 'ipynb,src//md', name
        assert load_source(name)['metadata']['jupytext']['formats'] == 'ipynb,src//md', name
    manager = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    nb = manager.get('03-mf-mxnet.ipynb')['content']
    title = next(c for c in nb.cells if c.cell_type == 'markdown')
    title.source = title.source.replace('# Matrix factorization', '# Matrix factorisation', 1)
    manager.save({'type': 'notebook', 'content': nb}, '03-mf-mxnet.ipynb')
    before = open(os.path.join(SRC_DIR, '03-mf-mxnet.md'), encoding='utf-8').read()
    after = (tmp_path / 'src' / '03-mf-mxnet.md').read_text(encoding='utf-8')
    assert after == before.replace('# Matrix factorization', '# Matrix factorisation', 1)
    assert after != before
    assert sorted(os.listdir(tmp_path / 'src')) == sorted(
        n.replace('.ipynb', '.md') for n in EXPECTED)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.md')]


def test_notebook_check_catches_an_edited_source(tmp_path):
    copy_notebooks(tmp_path)
    assert check_notebooks(tmp_path).returncode == 0
    source = tmp_path / 'src' / '03-mf-mxnet.md'
    text = source.read_text(encoding='utf-8')
    source.write_text(text.replace('# Matrix factorization', '# Matrix factorisation', 1),
                      encoding='utf-8')
    out = check_notebooks(tmp_path)
    assert out.returncode == 1 and '03-mf-mxnet.ipynb' in out.stderr
    assert 'autorec' not in out.stderr and '03-mf-pytorch' not in out.stderr
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'notebooks.py'),
                          '--dir', str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and check_notebooks(tmp_path).returncode == 0
    assert 'Matrix factorisation' in (tmp_path / '03-mf-mxnet.ipynb').read_text(encoding='utf-8')


@pytest.mark.parametrize('nb_name', [
    pytest.param(name, marks=needs_mxnet) if name not in TORCH_NOTEBOOKS else name
    for name in sorted(EXPECTED)])
def test_notebook_runs_in_short_mode(nb_name, real_data_dir, monkeypatch, tmp_path):
    if nb_name in TORCH_NOTEBOOKS:
        pytest.importorskip('torch')
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    # The kernel inherits this process's environment.
    monkeypatch.setenv('D2L_RECSYS_SHORT', '1')
    monkeypatch.setenv('D2L_RECSYS_DATA', str(real_data_dir))
    monkeypatch.delenv('MPLBACKEND', raising=False)   # as in Jupyter: the inline backend
    # The last cell writes the results record make reproduce reads: here, into tmp_path.
    monkeypatch.setenv('D2L_RECSYS_RECORDS', str(tmp_path / 'records'))
    nb = nbformat.read(os.path.join(NB_DIR, nb_name), as_version=4)
    # The kernel flushes stdout on a timer, so one print can arrive in two stream outputs
    # (cut mid-line when the machine is busy); coalesce_streams joins each cell's back up.
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name='python3',
                                     coalesce_streams=True,
                                     resources={'metadata': {'path': str(tmp_path)}})
    client.execute()   # raises CellExecutionError naming the failing cell
    printed = '\n'.join(
        o.get('text', '') if o['output_type'] == 'stream'
        else str(o.get('data', {}).get('text/plain', ''))
        for cell in nb.cells if cell.cell_type == 'code' for o in cell.outputs)
    for marker in RAN_MARKERS[nb_name]:
        assert marker in printed, f'{nb_name}: {marker!r} not in the output'
    # Where the data came from is said once, however many cells read it (and not at all in
    # the notebooks that read none).
    sources = [line for line in printed.splitlines() if line.startswith('ml-100k:')]
    assert len(sources) == (0 if nb_name in READ_NO_DATA else 1), sources
    errors = [o for cell in nb.cells if cell.cell_type == 'code' for o in cell.outputs
              if o['output_type'] == 'error']
    assert not errors
    if nb_name in INLINE_FIGURES:
        assert any({'image/svg+xml', 'image/png'} & set(o.get('data', {})) for cell in nb.cells
                   if cell.cell_type == 'code' for o in cell.outputs), f'{nb_name}: no figure'
    from d2l_recsys.atomic import atomic_write_text
    atomic_write_text(os.path.join(SHORT_RUNS, nb_name), nbformat.writes(nb))
    from d2l_recsys import records
    name, required = RECORDS[nb_name]
    values = records.read_record(tmp_path / 'records', name, required=required, writer=nb_name)
    assert all(values[k] is not None for k in required)
    assert RECORD_CHECKS.get(nb_name, lambda v: True)(values), (
        f'{nb_name}: its results record does not say what the notebook shows')



# ------------------------------------------------- the book's cells in the ranking notebooks
# The MXNet notebooks of the ranking half show every code cell of their book section
# (tests/ranking_cells.py, verbatim from the book's source), with `from d2l_recsys import mxnet
# as d2l` for the book's import. What the project adds to them, and nothing else, is taken out
# before comparing syntax trees: ``if SHORT:`` blocks and ``... if SHORT else X`` (as X), the
# seed (``d2l.set_seed(SEED)``), ``with d2l.skip_loader_gc():`` around a block, ``history =``
# before a training call and its ``exact=True``, and ``book_loop_epochs`` (the book's
# ``num_epochs``, where the book's loop runs fewer epochs than the book's). Caser's training
# call, commented out in the book, must be there uncommented.
BOOK_CELL_NOTEBOOKS = {'05-ranking-mxnet.ipynb': 'RANKING_CELLS',
                       '06-neumf-mxnet.ipynb': 'NEUMF_CELLS',
                       '07-seqrec-mxnet.ipynb': 'SEQREC_CELLS'}


class _AsTheBookPrintsIt(ast.NodeTransformer):
    def _keep(self, node):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and \
                node.test.id == 'SHORT':
            return node.orelse or None          # an ``if SHORT: ... else: ...`` keeps its else
        if isinstance(node, ast.Expr) and ast.unparse(node) == 'd2l.set_seed(SEED)':
            return None
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == 'book_loop_epochs':
            return None
        if isinstance(node, ast.With) and ast.unparse(node.items[0]) == 'd2l.skip_loader_gc()':
            return node.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == 'history' and \
                isinstance(node.value, ast.Call):
            return ast.Expr(node.value)
        return node

    def _kept(self, statements):
        for statement in statements:
            kept = self._keep(statement)
            if isinstance(kept, list):
                yield from self._kept(kept)
            elif kept is not None:
                yield kept

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, [self.visit(s) for s in self._kept(value)])
        return super().generic_visit(node)

    def visit_IfExp(self, node):
        if isinstance(node.test, ast.Name) and node.test.id == 'SHORT':
            return self.visit(node.orelse)
        return self.generic_visit(node)

    def visit_Call(self, node):
        node.keywords = [k for k in node.keywords
                         if not (k.arg == 'exact' and ast.unparse(k.value) == 'True')]
        return self.generic_visit(node)

    def visit_Name(self, node):
        return ast.Name('num_epochs', node.ctx) if node.id == 'book_loop_epochs' else node


def as_the_book_prints_it(text):
    """The statements of a notebook cell, the project's additions taken out (ast dumps)."""
    text = text.replace('from d2l_recsys import mxnet as d2l', 'from d2l import mxnet as d2l')
    tree = _AsTheBookPrintsIt().visit(ast.parse(text))
    return [ast.dump(s) for s in tree.body]


def book_cell_problems(nb, book_cells):
    """The book's cells that notebook ``nb`` does not show (as text), or ``[]``. Cells that
    define a class or function are left to the tagged cells' check (the notebook shows the
    package's, which the package's tests hold to the book's)."""
    shown = [as_the_book_prints_it(cell_text(c)) for c in nb['cells']
             if c['cell_type'] == 'code']
    missing = []
    for cell in book_cells:
        body = ast.parse(cell).body
        if any(isinstance(s, (ast.FunctionDef, ast.ClassDef)) for s in body):
            continue
        want = [ast.dump(s) for s in body]
        if not any(want == got[k:k + len(want)]
                   for got in shown for k in range(len(got) - len(want) + 1)):
            missing.append(cell)
    return missing


def ranking_book_cells(nb_name):
    cells = getattr(importlib.import_module('ranking_cells'), BOOK_CELL_NOTEBOOKS[nb_name])
    if nb_name == '07-seqrec-mxnet.ipynb':   # the training call, commented out in the book
        call = re.search(r'^# (d2l\.train_ranking\(.*\))$', cells[-1], flags=re.M).group(1)
        cells = cells + [call]
    return cells


@pytest.mark.parametrize('form', ['md', 'ipynb'])
@pytest.mark.parametrize('nb_name', sorted(BOOK_CELL_NOTEBOOKS))
def test_ranking_notebooks_show_the_books_cells(nb_name, form):
    nb = load_source(nb_name) if form == 'md' else load(nb_name)
    missing = book_cell_problems(nb, ranking_book_cells(nb_name))
    assert not missing, 'not in the notebook as the book prints it:\n' + '\n---\n'.join(missing)


def test_book_cell_check_catches_a_changed_cell():
    nb = load_source('06-neumf-mxnet.ipynb')
    cells = ranking_book_cells('06-neumf-mxnet.ipynb')
    assert book_cell_problems(nb, cells) == []
    index = next(i for i, c in enumerate(nb['cells'])
                 if "lr, num_epochs, wd, optimizer = 0.01" in cell_text(c))
    for old, new in (('0.01, 10, 1e-5', '0.01, 10, 0'),            # a setting changed
                     ('exact=True', 'exact=True, eval_step=2'),     # an argument added
                     ('candidates, exact', 'None, exact')):         # an argument replaced
        edited = copy.deepcopy(nb)
        edited['cells'][index]['source'] = cell_text(nb['cells'][index]).replace(old, new)
        assert cell_text(edited['cells'][index]) != cell_text(nb['cells'][index])
        assert len(book_cell_problems(edited, cells)) == 1, old
    # The project's lines alone are taken out: ``if SHORT`` blocks, but not other ``if``s.
    assert as_the_book_prints_it('if SHORT:\n    a = 1\nb = 2\n') == \
        as_the_book_prints_it('b = 2\n')
    assert as_the_book_prints_it('if LONG:\n    a = 1\nb = 2\n') != \
        as_the_book_prints_it('b = 2\n')


@pytest.mark.parametrize('md_path', sorted(glob.glob(os.path.join(ROOT, 'notebooks', 'src',
                                                                 '*.md'))))
def test_notebooks_read_their_variables_through_the_checks(md_path):
    """D2L_RECSYS_SHORT=yes is short mode and D2L_RECSYS_SEED=abc one line naming the
    variable, in every notebook: none parses them by hand."""
    with open(md_path, encoding='utf-8') as f:
        text = f.read()
    raw = re.findall(r"os\.environ(?:\.get)?\(?\[?'D2L_RECSYS_(?:SHORT|SEED)'", text)
    assert not raw, f'{os.path.basename(md_path)}: {raw}'
    for name, reader in (('D2L_RECSYS_SHORT', 'env_flag'), ('D2L_RECSYS_SEED', 'env_seed')):
        if f"{reader}('{name}')" not in text:
            assert f"'{name}'" not in text, f'{os.path.basename(md_path)} reads {name} ' \
                f'without {reader}'
