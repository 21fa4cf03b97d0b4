"""The documentation: the README as a front page, the links between the pages, the generated
table of notebooks, the one place the repository's location is set, and how the site shows
each notebook (tools/docs.py, without running Sphinx: CI builds the site with `make docs`, and
the browser tests open it).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import docs_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
DOCS = os.path.join(ROOT, 'docs')


docs = docs_tool()


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def pages():
    return sorted(os.path.join(DOCS, p) for p in os.listdir(DOCS) if p.endswith('.md'))


# ---------------------------------------------------------------- the README and the pages
def test_readme_is_a_front_page_of_at_most_150_lines():
    text = read(README)
    assert len(text.splitlines()) <= 150
    for needed in ('make reproduce', 'make test', 'make lab', 'make docs',
                   'from d2l_recsys import mxnet as d2l', 'from d2l_recsys import torch as d2l',
                   'Open in Colab', 'docs/images/book_experiments.png'):
        assert needed in text, needed


def test_every_page_starts_with_a_title_and_what_it_answers():
    for path in pages():
        lines = read(path).splitlines()
        assert lines[0].startswith('# '), path
        body = ' '.join(lines[1:6])
        # Pages written for other parts of the chapter may word it otherwise; these do.
        if os.path.basename(path) in ('install.md', 'results.md', 'speed.md', 'tuning.md',
                                      'exercises.md', 'tabs.md', 'notebooks.md', 'cli.md',
                                      'data.md', 'model-folder.md', 'contributing.md'):
            assert 'What this page answers' in body, path


LINK = re.compile(r'\]\(([^)\s]+)\)')


def local_links(path):
    """(target file, anchor) of every relative link in a Markdown file."""
    out = []
    for target in LINK.findall(read(path)):
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        file, _, anchor = target.partition('#')
        out.append((os.path.normpath(os.path.join(os.path.dirname(path), file)), anchor))
    return out


def slug(heading):
    """GitHub's (and MyST's) anchor of a heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def test_links_between_the_pages_reach_a_file_and_a_heading():
    problems = []
    for path in [README] + pages():
        for file, anchor in local_links(path):
            where = os.path.relpath(path, ROOT)
            if not os.path.exists(file):
                problems.append(f'{where}: {os.path.relpath(file, ROOT)} does not exist')
            elif anchor and file.endswith('.md'):
                headings = {slug(h) for h in re.findall(r'^#+ (.+)$', read(file), flags=re.M)}
                if anchor not in headings:
                    problems.append(f'{where}: no heading #{anchor} in {os.path.relpath(file, ROOT)}')
    assert not problems, '\n'.join(problems)


def test_the_readme_links_to_every_page():
    linked = {os.path.basename(f) for f, _ in local_links(README) if f.startswith(DOCS)}
    assert {os.path.basename(p) for p in pages()} - linked == set()


# ---------------------------------------------------------------- the table of notebooks
def test_readme_table_of_notebooks_is_current():
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'docs.py'), 'readme',
                          '--check'], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_table_has_a_row_per_notebook_in_the_books_order(tmp_path):
    for name in ('04-autorec-pytorch', '03-mf-mxnet', '10-deepfm-mxnet', '03-mf-pytorch'):
        (tmp_path / f'{name}.ipynb').write_text(json.dumps({'cells': [
            {'cell_type': 'markdown', 'source': f'# Title of {name} (PyTorch)\n\nText.'}]}))
    rows = docs.notebook_table(str(tmp_path), slug='someone/d2l-recsys').splitlines()[2:]
    assert [r.split(' | ')[3] for r in rows] == [
        '[`03-mf-mxnet`](notebooks/03-mf-mxnet.ipynb)',
        '[`03-mf-pytorch`](notebooks/03-mf-pytorch.ipynb)',
        '[`04-autorec-pytorch`](notebooks/04-autorec-pytorch.ipynb)',
        '[`10-deepfm-mxnet`](notebooks/10-deepfm-mxnet.ipynb)']
    assert rows[3] == (
        '| 10 | [Title of 10-deepfm-mxnet](https://d2l.ai/chapter_recommender-systems/deepfm.html)'
        ' | MXNet | [`10-deepfm-mxnet`](notebooks/10-deepfm-mxnet.ipynb) | [Open in Colab]('
        'https://colab.research.google.com/github/someone/d2l-recsys/blob/main/notebooks/'
        '10-deepfm-mxnet.ipynb) |')


@pytest.mark.parametrize('stem, expected', [
    ('03-mf-mxnet', (3, 'mf', 'MXNet')), ('04-autorec-pytorch', (4, 'autorec', 'PyTorch')),
    ('06-neumf-pytorch', (6, 'neumf', 'PyTorch'))])
def test_section_and_tab_of_a_notebooks_name(stem, expected):
    assert docs.section(stem) == expected


@pytest.mark.parametrize('stem', ['mf', 'mf_torch', '03-mf', '03-mf-jax'])
def test_a_notebook_name_without_section_and_tab_is_refused(stem):
    with pytest.raises(ValueError, match='NN-section-tab'):
        docs.section(stem)


# ---------------------------------------------------------------- the repository's location
LOCATION = re.compile(r'(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/d2l-recsys)\b')


def test_the_repository_location_is_setup_pys_everywhere():
    url, slug_ = docs.repository()
    assert url == f'https://github.com/{slug_}'
    seen = {}
    for path in docs.located_files():
        for found in LOCATION.findall(read(path)):
            seen.setdefault(found, set()).add(os.path.relpath(path, ROOT))
    assert set(seen) == {slug_}, seen
    assert any(p.startswith('notebooks') for p in seen[slug_])   # the Colab install cells


def copy_of_the_repository(tmp_path):
    for part in ('README.md', 'setup.py', 'docs', 'notebooks', 'tools', 'd2l_recsys'):
        src = os.path.join(ROOT, part)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(
            src, tmp_path / part, **({'ignore': shutil.ignore_patterns(
                'executed', '__pycache__', '.ipynb_checkpoints')} if os.path.isdir(src) else {}))
    return tmp_path


def tool(root, *args):
    return subprocess.run([sys.executable, os.path.join(root, 'tools', 'docs.py'), *args],
                          capture_output=True, text=True, cwd=root,
                          env={**os.environ, 'PYTHONPATH': str(root)})


def test_a_fork_sets_its_location_with_one_command(tmp_path):
    root = copy_of_the_repository(tmp_path)
    old = docs.repository()[1]
    out = tool(root, 'repository', 'https://github.com/someone/d2l-recsys-fork')
    assert out.returncode == 0, out.stderr
    texts = {}
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ('tools', 'd2l_recsys')]
        for name in files:
            if name.endswith(('.md', '.ipynb', '.py')):
                texts[os.path.join(base, name)] = read(os.path.join(base, name))
    assert not [p for p, t in texts.items() if f'/{old}' in t]
    assert 'url="https://github.com/someone/d2l-recsys-fork",' in texts[str(root / 'setup.py')]
    readme = texts[str(root / 'README.md')]
    assert 'colab.research.google.com/github/someone/d2l-recsys-fork/blob/main/notebooks/' in readme
    assert 'git+https://github.com/someone/d2l-recsys-fork' in ' '.join(
        t for p, t in texts.items() if p.endswith('.ipynb'))
    assert tool(root, 'readme', '--check').returncode == 0
    out = tool(root, 'repository', 'someone/d2l-recsys')
    assert out.returncode == 1 and out.stderr.strip().count('\n') == 0
    assert "expected https://github.com/OWNER/NAME, got 'someone/d2l-recsys'" in out.stderr


def test_a_stale_table_is_caught(tmp_path):
    root = copy_of_the_repository(tmp_path)
    readme = root / 'README.md'
    text = read(readme)
    row = next(line for line in text.splitlines() if 'Open in Colab' in line)
    readme.write_text(text.replace(row + '\n', ''), encoding='utf-8')
    out = tool(root, 'readme', '--check')
    assert out.returncode == 1 and 'run python tools/docs.py readme' in out.stderr
    assert tool(root, 'readme').returncode == 0 and read(readme) == text


# ---------------------------------------------------------------- how the site shows notebooks
def notebook(code, outputs=()):
    return {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': '# Matrix factorization'},
                      {'cell_type': 'code', 'metadata': {}, 'source': code,
                       'outputs': list(outputs), 'execution_count': None}],
            'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}


def test_the_site_shows_the_best_run_there_is_and_says_which(tmp_path):
    folder, full, quick, short = (tmp_path / d for d in ('nb', 'full', 'quick', 'short'))
    for d in (folder, full, quick, short):
        d.mkdir()
    sources = [(str(full), 'reproduce'), (str(quick), 'quick'), (str(short), 'test')]
    out = [{'output_type': 'stream', 'name': 'stdout', 'text': 'test RMSE 1.05'}]
    (folder / 'mf.ipynb').write_text(json.dumps(notebook('train()')))

    def shown():
        nb, kind, date, stale = docs.executed_copy('mf.ipynb', sources, str(folder))
        return kind, stale, nb['cells'][1]['outputs']

    assert shown() == (None, False, [])
    (short / 'mf.ipynb').write_text(json.dumps(notebook('train()', out)))
    assert shown() == ('test', False, out)
    (full / 'mf.ipynb').write_text(json.dumps(notebook('train()', [])))   # no outputs: skipped
    assert shown()[0] == 'test'
    (full / 'mf.ipynb').write_text('{"cells": [')                         # cut short: skipped
    assert shown()[0] == 'test'
    (full / 'mf.ipynb').write_text(json.dumps(notebook('train(old=True)', out)))
    assert shown() == ('reproduce', True, out)                           # run of older code
    note = docs.banner('reproduce', '2025-01-02', True)['source']
    assert "Run by `make reproduce` with the book's settings on 2025-01-02" in note
    assert 'Its code differs from the notebook as it is now' in note
    assert docs.BANNER_CLASS in note
    assert 'Not run' in docs.banner(None, None, False)['source']
    assert 'short mode' in docs.banner('test', '2025-01-02', False)['source']


def test_the_site_names_the_tab_in_each_notebooks_title():
    nb = docs.titled(notebook('x'), 'PyTorch')
    assert nb['cells'][0]['source'] == '# Matrix factorization (PyTorch)'
    nb = docs.titled(notebook('x'), 'PyTorch')   # said once, not twice
    assert docs.titled(nb, 'PyTorch')['cells'][0]['source'] == '# Matrix factorization (PyTorch)'


def test_the_sites_contents_follow_the_readme_then_the_names(tmp_path):
    for name in ('speed.md', 'install.md', 'zeta.md', 'alpha.md'):
        (tmp_path / name).write_text('# x\n')
    readme = 'See [Speed](docs/speed.md#x) and [Install](docs/install.md), [again](docs/speed.md).'
    assert docs.doc_pages(readme, str(tmp_path)) == ['speed.md', 'install.md', 'alpha.md',
                                                     'zeta.md']
    front = docs.front_page('# Title\n', ['02-movielens-mxnet.ipynb', '03-mf-mxnet.ipynb'],
                            ['speed.md'])
    assert front.startswith('# Title\n')
    assert ':caption: Chapter notebooks\n\nnotebooks/02-movielens-mxnet\nnotebooks/03-mf-mxnet\n' \
        in front
    assert ':caption: Documentation\n\ndocs/speed\n' in front


def test_the_notebook_tests_keep_their_runs_where_the_site_looks():
    import test_notebooks
    assert (test_notebooks.SHORT_RUNS, 'test') in docs.EXECUTED
