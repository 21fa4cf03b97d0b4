"""The documentation's generated parts: the site ``make docs`` builds, the README's table of
notebooks, and the repository's location that the Colab links name.

**The site** (``python tools/docs.py`` or ``... site``): the README, ``docs/`` and the chapter
notebooks as static HTML in ``build/docs/html``, with Sphinx, MyST-NB and sphinx-book-theme
(configuration: ``docs/conf.py``).

It never runs a notebook. For each notebook ``notebooks/NAME.ipynb`` the site shows the newest
kind of run there is, and says at the top of the page which one it is:

1. ``notebooks/executed/NAME.ipynb``: ``make reproduce``, the book's settings;
2. ``notebooks/executed/quick/NAME.ipynb``: ``make reproduce --quick``, short mode;
3. ``build/notebooks/NAME.ipynb``: ``make test``'s run of the notebook in short mode;
4. the notebook as committed, without outputs.

The pages are staged first in ``build/docs/src`` as the repository lays them out (the README
as the front page ``index.md``, ``docs/*.md`` and ``docs/images/``, ``notebooks/*.ipynb``), so
that the links between them work both on GitHub and on the site; a staged file is rewritten
only when it changed, so a second build reads only what is new. The site's tables of contents
are made here, not kept by hand: the notebooks in the order of their names (the book's section
numbers), then every page in ``docs/``, in the order the README links to them and the others
after them by name.

**The README's table of notebooks** (``... readme``): a row per notebook in ``notebooks/``,
in the book's order, with the book's section, the tab, and an "Open in Colab" link made from
the repository's location. A new notebook needs only this command to get its row;
``--check`` (a test runs it) fails while the table is not what it makes.

**The repository's location** is setup.py's ``url``, and only there by hand: the README's
table, and the Colab install line in the notebooks and the docs, are made from it or checked
against it. A fork sets its own with ``... repository https://github.com/NAME/d2l-recsys``,
which rewrites setup.py, every copy of the old location in the README, ``docs/`` and the
notebooks, and the table.

    python tools/docs.py                     # stage and build the site (make docs)
    python tools/docs.py site --stage-only   # stage only: build/docs/src
    python tools/docs.py readme [--check]    # the README's table of notebooks
    python tools/docs.py repository URL      # a fork's location, everywhere
"""
import argparse
import copy
import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from d2l_recsys.atomic import atomic_write, atomic_write_text, rewrite_between  # noqa: E402
BUILD = os.path.join(ROOT, 'build', 'docs')
STAGE, HTML = os.path.join(BUILD, 'src'), os.path.join(BUILD, 'html')
NOTEBOOKS = os.path.join(ROOT, 'notebooks')
# Where executed copies come from, best first: (folder, kind of run).
EXECUTED = [
    (os.path.join(NOTEBOOKS, 'executed'), 'reproduce'),
    (os.path.join(NOTEBOOKS, 'executed', 'quick'), 'quick'),
    # tests/test_notebooks.py saves its short-mode runs here (make test).
    (os.path.join(ROOT, 'build', 'notebooks'), 'test'),
]
RUNS = {
    'reproduce': "Run by `make reproduce` with the book's settings on {date}: these are the "
                 'numbers and figures it reports.',
    'quick': 'Run by `make reproduce --quick` in short mode on {date}: it shows '
             "what the cells print and draw, not the book's numbers. `make reproduce`, then "
             '`make docs`, puts the run with the book\'s settings here.',
    'test': 'Run by `make test` in short mode on {date}: it shows what the cells '
            "print and draw, not the book's numbers. `make reproduce`, then `make docs`, puts "
            "the run with the book's settings here.",
    None: 'Not run: the code is shown without its outputs. `make reproduce` (or `make test`), '
          'then `make docs`, adds them.',
}
SHOWN = {'reproduce': "make reproduce's run (the book's settings)",
         'quick': "make reproduce --quick's run (short mode)",
         'test': "make test's run (short mode)", None: 'no run (code without outputs)'}
STALE = (' Its code differs from the notebook as it is now: run it again for outputs of this '
         'code.')
TABS = {'mxnet': 'MXNet', 'pytorch': 'PyTorch'}
BANNER_CLASS = 'd2l-recsys-run'


def section(stem):
    """``(number, section, tab)`` of a notebook's file name: ``03-mf-mxnet`` -> ``(3, 'mf',
    'MXNet')``. ValueError for a name not of the form ``NN-section-tab``."""
    match = re.fullmatch(r'(\d+)-(.+)-([a-z]+)', stem)
    if not (match and match.group(3) in TABS):
        raise ValueError(f'{stem}: a chapter notebook is named NN-section-tab (tab: '
                         f'{", ".join(sorted(TABS))}), e.g. 03-mf-mxnet')
    return int(match.group(1)), match.group(2), TABS[match.group(3)]


def notebook_names(folder=NOTEBOOKS):
    """The chapter notebooks (``notebooks/*.ipynb``) in the book's order: by name."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, '*.ipynb')))


def code_of(nb):
    return [''.join(c['source']) if isinstance(c['source'], list) else c['source']
            for c in nb['cells'] if c['cell_type'] == 'code']


def has_outputs(nb):
    return any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code')


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def executed_copy(name, sources=EXECUTED, folder=NOTEBOOKS):
    """``(notebook dict, kind of run or None, date or None, stale)`` for ``name``: the best
    executed copy in ``sources`` (see the module's docstring), else the notebook as committed
    in ``folder``. ``stale``: the copy's code is not the notebook's code now."""
    current = read_json(os.path.join(folder, name))
    for where, kind in sources:
        path = os.path.join(where, name)
        if not os.path.isfile(path):
            continue
        try:
            nb = read_json(path)
        except (OSError, ValueError):   # a copy cut short: the next source
            continue
        if has_outputs(nb):
            date = time.strftime('%Y-%m-%d', time.localtime(os.path.getmtime(path)))
            return nb, kind, date, code_of(nb) != code_of(current)
    return current, None, None, False


def banner(kind, date, stale):
    """The note at the top of a notebook's page: which run its outputs come from."""
    text = RUNS[kind].format(date=date) + (STALE if stale else '')
    return {'cell_type': 'markdown', 'metadata': {}, 'id': 'd2l-recsys-run',
            'source': f'```{{admonition}} Outputs on this page\n:class: note {BANNER_CLASS}\n'
                      f'{text}\n```'}


def titled(nb, tab):
    """The notebook with its tab in its title (``# Matrix factorization (MXNet)``), where the
    title does not name it: the sidebar lists each section once per tab."""
    for cell in nb['cells']:
        if cell['cell_type'] != 'markdown':
            continue
        text = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        match = re.search(r'^# (.+)$', text, flags=re.M)
        if match:
            if tab not in match.group(1):
                cell['source'] = (text[:match.end()] + f' ({tab})' + text[match.end():])
            break
    return nb


def staged_notebook(name):
    """The page of notebook ``name``: its best run, its tab in the title, the banner first."""
    nb, kind, date, stale = executed_copy(name)
    nb = titled(copy.deepcopy(nb), section(os.path.splitext(name)[0])[2])
    nb['cells'].insert(0, banner(kind, date, stale))
    return nb, kind


def doc_pages(readme_text, folder=os.path.join(ROOT, 'docs')):
    """``docs/*.md`` by name, in the order the README first links to them, the rest after."""
    pages = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, '*.md')))
    linked = []
    for target in re.findall(r'\]\(docs/([\w.-]+\.md)(?:#[\w-]*)?\)', readme_text):
        if target in pages and target not in linked:
            linked.append(target)
    return linked + [p for p in pages if p not in linked]


def front_page(readme_text, notebooks, pages):
    """The README as the site's front page, with the site's tables of contents (hidden: the
    theme's sidebar shows them)."""
    def toc(caption, entries):
        return ('\n```{toctree}\n:hidden:\n:caption: ' + caption + '\n\n'
                + ''.join(e + '\n' for e in entries) + '```\n')
    return (readme_text.rstrip('\n') + '\n'
            + toc('Chapter notebooks', [f'notebooks/{os.path.splitext(n)[0]}' for n in notebooks])
            + toc('Documentation', [f'docs/{os.path.splitext(p)[0]}' for p in pages]))


def linked_files(text, where):
    """The repository's files that Markdown ``text`` (in folder ``where``) links to, as paths
    relative to the repository, '/'-separated; links that leave it or reach no file are left
    to Sphinx, which names them."""
    out = []
    for target in re.findall(r'\]\(([^)\s#]+)(?:#[^)\s]*)?\)', text):
        if re.match(r'[a-z][a-z0-9+.-]*:', target):
            continue
        rel = os.path.normpath(os.path.join(where, target)).replace(os.sep, '/')
        if not rel.startswith('../') and os.path.isfile(os.path.join(ROOT, rel)):
            out.append(rel)
    return out


def write_if_changed(path, data):
    """Write ``data`` (bytes) unless ``path`` holds it already: Sphinx rereads only the files
    whose time changed."""
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except OSError:
        pass

    def write(tmp):
        with open(tmp, 'wb') as f:
            f.write(data)
    atomic_write(path, write)
    return True


def stage(stage_dir=STAGE):
    """Lay out the site's sources in ``stage_dir``; returns ``{notebook: kind of run}``."""
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    notebooks, pages = notebook_names(), doc_pages(readme)
    wanted = {'index.md': front_page(readme, notebooks, pages)}
    for page in pages:
        with open(os.path.join(ROOT, 'docs', page), encoding='utf-8') as f:
            # A page's link to the README is a link to the front page.
            wanted[f'docs/{page}'] = re.sub(r'\]\(\.\./README\.md', '](../index.md', f.read())
    for path in glob.glob(os.path.join(ROOT, 'docs', 'images', '*')):
        with open(path, 'rb') as f:
            wanted[f'docs/images/{os.path.basename(path)}'] = f.read()
    runs = {}
    for name in notebooks:
        nb, runs[name] = staged_notebook(name)
        wanted[f'notebooks/{name}'] = json.dumps(nb, indent=1, ensure_ascii=False) + '\n'
    # A page's link to another file of the repository (a module, a script) becomes a download.
    for rel in linked_files(readme, '.') + [f for page in pages for f in linked_files(
            wanted[f'docs/{page}'], 'docs')]:
        if rel not in wanted:
            with open(os.path.join(ROOT, rel), 'rb') as f:
                wanted[rel] = f.read()
    for rel, data in wanted.items():
        write_if_changed(os.path.join(stage_dir, rel),
                         data if isinstance(data, bytes) else data.encode('utf-8'))
    for base, _, files in os.walk(stage_dir):   # pages no longer there leave the site too
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), stage_dir)
            if rel.replace(os.sep, '/') not in wanted:
                os.remove(os.path.join(base, name))
    return runs


def build(stage_dir=STAGE, html_dir=HTML):
    """Sphinx, warnings as errors (a broken link between pages fails the build)."""
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-W', '--keep-going', '-q',
           '-c', os.path.join(ROOT, 'docs'), '-d', os.path.join(BUILD, 'doctrees'),
           stage_dir, html_dir]
    return subprocess.run(cmd, cwd=ROOT).returncode


# ---------------------------------------------------------------------------- the README
README = os.path.join(ROOT, 'README.md')
SETUP = os.path.join(ROOT, 'setup.py')
README_TABLE = ('<!-- python tools/docs.py readme writes the table below from notebooks/ -->',
                '<!-- end of the table of notebooks -->')
BOOK_SECTION = 'https://d2l.ai/chapter_recommender-systems/{}.html'
COLAB = 'https://colab.research.google.com/github/{}/blob/main/notebooks/{}'
URL_LINE = re.compile(r'^(\s*url=")(https://github\.com/([\w.-]+/[\w.-]+))(",.*)$', re.M)


def repository(setup_text=None):
    """``(url, 'owner/name')`` from setup.py's ``url="https://github.com/owner/name"``."""
    if setup_text is None:
        with open(SETUP, encoding='utf-8') as f:
            setup_text = f.read()
    match = URL_LINE.search(setup_text)
    if match is None:
        raise SystemExit(f'{SETUP}: no url="https://github.com/OWNER/NAME" line')
    return match.group(2), match.group(3)


def title(nb):
    """The notebook's first heading, less the tab it may name."""
    for cell in nb['cells']:
        text = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        match = re.search(r'^# (.+)$', text, flags=re.M) if cell['cell_type'] == 'markdown' \
            else None
        if match:
            return re.sub(r' \((MXNet|PyTorch)\)$', '', match.group(1).strip())
    return ''


def notebook_table(folder=NOTEBOOKS, slug=None):
    """The README's table of notebooks, a row per notebook, in the book's order."""
    slug = slug or repository()[1]
    lines = ['| § | section of the book | tab | notebook | |', '|---:|---|---|---|---|']
    for name in notebook_names(folder):
        stem = os.path.splitext(name)[0]
        number, part, tab = section(stem)
        lines.append(f'| {number or ""} | [{title(read_json(os.path.join(folder, name)))}]'
                     f'({BOOK_SECTION.format(part)}) | {tab} | [`{stem}`](notebooks/{name}) | '
                     f'[Open in Colab]({COLAB.format(slug, name)}) |')
    return '\n'.join(lines) + '\n'


def readme(check=False):
    """Rewrite the README's table of notebooks (``check``: only say whether it is current)."""
    table = notebook_table()
    with open(README, encoding='utf-8') as f:
        text = f.read()
    start, end = README_TABLE
    if start not in text or end not in text:
        raise SystemExit(f'{README}: expected the lines {start!r} and {end!r}')
    current = text.split(start + '\n', 1)[1].split(end, 1)[0]
    if check:
        if current != table:
            print('README.md: its table of notebooks is not what notebooks/ and setup.py make: '
                  'run python tools/docs.py readme', file=sys.stderr)
            return 1
        return 0
    if rewrite_between(README, start, end, table):
        print('docs: rewrote the table of notebooks in README.md')
    return 0


def located_files():
    """The files that may name the repository's location: the README, docs/, the notebooks
    (their Markdown sources and the notebooks made from them, not the executed copies)."""
    files = [README] + glob.glob(os.path.join(ROOT, 'docs', '*.md'))
    for base, dirs, names in os.walk(NOTEBOOKS):
        dirs[:] = [d for d in dirs if d not in ('executed', '.ipynb_checkpoints')]
        files += [os.path.join(base, n) for n in names if n.endswith(('.md', '.ipynb'))]
    return sorted(files)


def set_repository(url):
    """A fork's location: setup.py's url, every copy of the old one, the README's table."""
    match = re.fullmatch(r'https://github\.com/([\w-]+/[\w.-]+?)(?:\.git)?/?', url)
    if match is None:
        raise SystemExit(f'repository: expected https://github.com/OWNER/NAME, got {url!r}')
    with open(SETUP, encoding='utf-8') as f:
        setup_text = f.read()
    old_url, old = repository(setup_text)
    new = match.group(1)
    atomic_write_text(SETUP, URL_LINE.sub(lambda m: m.group(1) + f'https://github.com/{new}'
                                          + m.group(4), setup_text, count=1))
    changed = []
    for path in located_files():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        updated = text.replace(f'github.com/{old}', f'github.com/{new}').replace(
            f'colab.research.google.com/github/{old}/', f'colab.research.google.com/github/{new}/')
        if updated != text:
            atomic_write_text(path, updated)
            changed.append(os.path.relpath(path, ROOT))
    print(f'docs: the repository is https://github.com/{new} (was {old_url}); rewrote setup.py'
          + ''.join(f', {c}' for c in changed))
    return readme()


def site(stage_only=False):
    tic = time.time()
    runs = stage()
    shown = {}
    for name, kind in runs.items():
        shown.setdefault(kind, []).append(name)
    for kind, names in shown.items():
        print(f'docs: {SHOWN[kind]}: {", ".join(names)}')
    if stage_only:
        return 0
    code = build()
    if code == 0:
        print(f'docs: built {os.path.relpath(HTML, ROOT)}/index.html in {time.time() - tic:.0f} s')
    return code


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command')
    p = sub.add_parser('site', help='stage and build the site (the default)')
    p.add_argument('--stage-only', action='store_true', help='lay out build/docs/src and stop')
    p = sub.add_parser('readme', help="rewrite the README's table of notebooks")
    p.add_argument('--check', action='store_true', help='write nothing; exit 1 if not current')
    p = sub.add_parser('repository', help="set the repository's location (a fork's)")
    p.add_argument('url', help='https://github.com/OWNER/NAME')
    args = parser.parse_args(argv)
    if args.command == 'readme':
        return readme(check=args.check)
    if args.command == 'repository':
        return set_repository(args.url)
    return site(stage_only=getattr(args, 'stage_only', False))


if __name__ == '__main__':
    sys.exit(main())
