"""The package's shape: no import cycle, no private name imported across modules, a data layer
and a top level that import no framework, tabs that do not import each other, no ``d2l``
needed at run time; each tab's section modules named after the chapter's sections, the same in
both tabs, and both tabs' namespaces exporting the names they always have."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, 'd2l_recsys')
TABS = ('mxnet', 'torch')
# The chapter's sections that define code, in the book's order: {page name: title}. A tab's
# module for a section is named after its page, https://d2l.ai/chapter_recommender-systems/
# <page>.html ("Overview of Recommender Systems", recsys-intro, defines none).
SECTIONS = {
    'movielens': 'The MovieLens Dataset',
    'mf': 'Matrix Factorization',
    'autorec': 'AutoRec: Rating Prediction with Autoencoders',
    'ranking': 'Personalized Ranking for Recommender Systems',
    'neumf': 'Neural Collaborative Filtering for Personalized Ranking',
    'seqrec': 'Sequence-Aware Recommender Systems',
    'ctr': 'Feature-Rich Recommender Systems',
    'fm': 'Factorization Machines',
    'deepfm': 'Deep Factorization Machines',
}


def modules():
    """{dotted module name: path} for every module of the package."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3]
                dotted = rel.replace(os.sep, '.')
                out[dotted[:-len('.__init__')] if dotted.endswith('.__init__') else dotted] = \
                    os.path.join(folder, name)
    return out


def imports(name, path, known):
    """(target module, imported names) of every import statement in a module, resolved.

    ``from . import x`` counts as importing module ``pkg.x`` where that module exists."""
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    tree = ast.parse(open(path, encoding='utf-8').read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                target = f'{base}.{node.module}' if node.module else base
            else:
                target = node.module
            names = [a.name for a in node.names]
            submodules = [f'{target}.{n}' for n in names if f'{target}.{n}' in known]
            if submodules:
                for sub in submodules:
                    yield sub, []
                rest = [n for n in names if f'{target}.{n}' not in known]
                if rest:
                    yield target, rest
            else:
                yield target, names


def graph():
    known = modules()
    edges = {m: set() for m in known}
    private = []
    for name, path in known.items():
        for target, names in imports(name, path, known):
            if target in known and target != name:
                edges[name].add(target)
                private += [(name, target, n) for n in names if n.startswith('_')
                            and not n.startswith('__')]
    return edges, private


def test_no_import_cycle():
    edges, _ = graph()
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 'open':
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail('import cycle: ' + ' -> '.join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 'done'
    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert 'd2l_recsys.data' in edges and 'd2l_recsys.mxnet.fast' in edges   # it looked


def test_no_private_name_imported_across_modules():
    _, private = graph()
    assert private == []


def test_the_graph_sees_imports():
    # The checks above must be able to fail: the resolver finds known edges.
    edges, _ = graph()
    assert 'd2l_recsys.fetch' in edges['d2l_recsys.data']
    assert 'd2l_recsys.experiments' in edges['d2l_recsys.mxnet.experiments']
    assert 'd2l_recsys.mxnet.fast' in edges['d2l_recsys.mxnet.experiments']


def loaded_after(statement):
    """The top-level modules loaded by ``statement`` in a fresh interpreter."""
    code = (f'import sys\n{statement}\n'
            'print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))')
    env = {k: v for k, v in os.environ.items() if not k.startswith('D2L_RECSYS')}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


@pytest.mark.parametrize('module', ['d2l_recsys', 'd2l_recsys.data', 'd2l_recsys.fetch',
                                    'd2l_recsys.experiments', 'd2l_recsys.metrics',
                                    'd2l_recsys.topk',
                                    'd2l_recsys.plotting', 'd2l_recsys.cli',
                                    'd2l_recsys.store', 'd2l_recsys.records',
                                    'd2l_recsys.reporting', 'd2l_recsys.reproduce',
                                    'd2l_recsys.clicks', 'd2l_recsys.ml100k_ctr', 'd2l_recsys.hub',
                                    'd2l_recsys.ctr_runs', 'd2l_recsys.checks',
                                    'd2l_recsys.scratch', 'd2l_recsys.atomic'])
def test_framework_free_modules(module):
    loaded = loaded_after(f'import {module}')
    assert not loaded & {'mxnet', 'torch', 'd2l'}


def test_mxnet_tab_needs_neither_torch_nor_d2l():
    pytest.importorskip('mxnet')
    loaded = loaded_after('from d2l_recsys import mxnet as d2l; d2l.try_all_gpus()')
    assert 'mxnet' in loaded and not loaded & {'torch', 'd2l'}


def tab_modules(tab):
    """The names of a tab's modules (``mf``, ``devices``, ...), ``__init__`` left out."""
    return {name.rsplit('.', 1)[1] for name in modules() if name.startswith(f'd2l_recsys.{tab}.')}


def test_section_modules_are_in_both_tabs():
    # A section's module in one tab has its twin in the other (the shared modules may differ:
    # distributed is the PyTorch tab's only).
    present = {tab: tab_modules(tab) & set(SECTIONS) for tab in TABS}
    assert present['mxnet'] == present['torch'], (
        'section modules in one tab only: '
        f"mxnet {sorted(present['mxnet'] - present['torch'])}, "
        f"torch {sorted(present['torch'] - present['mxnet'])}")
    assert {'movielens', 'mf', 'autorec'} <= present['mxnet']   # it looked


@pytest.mark.parametrize('tab', TABS)
def test_section_modules_name_their_book_section(tab):
    for section in sorted(tab_modules(tab) & set(SECTIONS)):
        path = os.path.join(PACKAGE, tab, section + '.py')
        doc = ast.get_docstring(ast.parse(open(path, encoding='utf-8').read())) or ''
        url = f'https://d2l.ai/chapter_recommender-systems/{section}.html'
        assert url in doc and SECTIONS[section] in doc, (
            f'{path}: the docstring names neither {SECTIONS[section]!r} nor {url}')


def test_no_top_level_module_takes_a_section_name():
    # ``from ..ranking import`` in a tab must not be ambiguous to a reader: the package root
    # keeps the section names free (its top-k module is ``topk``).
    top = {name.rsplit('.', 1)[1] for name in modules() if name.count('.') == 1}
    assert not top & set(SECTIONS), sorted(top & set(SECTIONS))
    assert 'topk' in top   # it looked


# The public names of ``from d2l_recsys import mxnet as d2l`` / ``torch as d2l`` (submodules
# left out): a cell written against one must keep running whatever modules hold them. A name
# a new section exports is added here with it.
COMMON_NAMES = {
    'ACTIVATIONS', 'Accumulator', 'Animator', 'AutoRec', 'FRAMEWORK', 'MF', 'Timer',
    'autorec_evaluator', 'autorec_rmse_exact', 'evaluator', 'get_dataloader_workers',
    'interaction_matrix', 'load_autorec_data', 'load_data_ml100k', 'load_data_ml100k_fast',
    'load_mf_data', 'load_model', 'parse_devices', 'plt', 'predict_rating', 'read_data_ml100k',
    'read_item_titles', 'rmse_exact', 'save_model', 'set_axes', 'set_seed',
    'split_and_load_ml100k', 'split_data_ml100k', 'split_data_ml100k_fast', 'top_k',
    'train_autorec', 'train_mf', 'train_recsys_rating', 'try_all_gpus', 'user_based_autorec',
    'user_based_matrix',
    # the ranking half: ranking, neumf, seqrec, and their experiments
    'BPRLoss', 'HingeLossbRec', 'NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking',
    'train_ranking', 'score_matrix', 'Caser', 'SeqDataset', 'train_neumf', 'train_caser',
    # the feature-rich sections (ctr, fm, deepfm) and the trainer they call
    'CTRDataset', 'CTRDatasetFast', 'DATA_HUB', 'DATA_URL', 'DeepFM', 'FM', 'accuracy',
    'download_extract', 'evaluate_accuracy_gpus', 'load_ctr_data', 'predict_clicks',
    'train_batch_ch13', 'train_ch13', 'train_ch13_fast', 'train_deepfm', 'train_fm'}
PUBLIC_NAMES = {'mxnet': COMMON_NAMES | {'check_gpu', 'read_u_data', 'HybridDeepFM', 'HybridFM',
                                         'split_batch',
                                         # Gluon's DataLoader collects garbage per loader
                                         'skip_loader_gc'},
                'torch': COMMON_NAMES | {'L2Loss', 'try_gpu', 'evaluate_accuracy_gpu',
                                         'xavier_init'}}


def public_names(namespace):
    import types
    names = {n for n in dir(namespace) if not n.startswith('_')
             and not isinstance(getattr(namespace, n), types.ModuleType)}
    return names | ({'plt'} if getattr(namespace, 'plt', None) is not None else set())


@pytest.mark.parametrize('tab', TABS)
def test_namespace_exports_the_same_names(tab):
    if tab == 'mxnet':
        namespace = pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
    else:
        pytest.importorskip('torch')
        import d2l_recsys.torch as namespace
    names = public_names(namespace)
    assert names == PUBLIC_NAMES[tab], (f'missing {sorted(PUBLIC_NAMES[tab] - names)}, '
                                        f'new {sorted(names - PUBLIC_NAMES[tab])}')
