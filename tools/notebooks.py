"""Write the chapter notebooks (notebooks/*.ipynb) from their Markdown sources (notebooks/src/).

One notebook per section of the chapter and tab, named ``NN-section-tab`` (``03-mf-mxnet``,
``03-mf-pytorch``, ...) so that a folder listing reads as the chapter's table of contents. The
Markdown files are what a person edits: jupytext's Markdown format, prose as Markdown, code
cells as ```python fences, kept in a folder of their own so that JupyterLab lists each notebook
once. The .ipynb files are generated from them without outputs (they are what students open
in Jupyter and Colab), with cell ids numbered per notebook so that regenerating an unchanged
source changes nothing. Each notebook is paired with its source (jupytext ``formats:
ipynb,src//md``): saved in JupyterLab with jupytext, it updates ``src/NAME.md`` too.

    python tools/notebooks.py            # (re)write notebooks/*.ipynb   (make notebooks)
    python tools/notebooks.py --check    # exit 1 naming each .ipynb that differs from its .md
    python tools/notebooks.py --sync-shown   # first refresh the cells that show package code

A cell that shows a package object is tagged ```python d2l_recsys={"as": NAME, "source":
"module:object"}``; the notebook tests require it to be that object's source. ``--sync-shown``
rewrites such cells in the Markdown sources from the package (after the package changed).
"""
import argparse
import glob
import importlib
import inspect
import json
import os
import re
import sys
import textwrap

import jupytext

from d2l_recsys.atomic import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, 'notebooks')
SOURCE_DIR = 'src'   # the Markdown sources, inside the notebooks' folder


def build(md_path):
    """The notebook of Markdown source ``md_path`` as .ipynb text (nbformat 4.5, no outputs)."""
    nb = jupytext.read(md_path, fmt='md')
    stem = os.path.splitext(os.path.basename(md_path))[0]
    for index, cell in enumerate(nb.cells):
        cell['id'] = f'{stem}-{index:02d}'
        if cell.cell_type == 'code':
            cell['outputs'], cell['execution_count'] = [], None
    nb.metadata.get('jupytext', {}).pop('text_representation', None)
    nb.metadata['language_info'] = {'name': 'python'}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return jupytext.writes(nb, fmt='ipynb') + '\n'


def sources(folder=NOTEBOOK_DIR):
    """The Markdown sources of the notebooks of ``folder`` (in its ``src/``), sorted."""
    return sorted(glob.glob(os.path.join(folder, SOURCE_DIR, '*.md')))


SHOWN = re.compile(r'(```python d2l_recsys=(\{[^\n]*\})\n)(.*?)(\n```)', re.S)


def shown_source(target):
    """The dedented source of the package object ``'module:qualname'``."""
    module, _, name = target.partition(':')
    obj = importlib.import_module(module)
    for part in name.split('.'):
        obj = getattr(obj, part)
    return textwrap.dedent(inspect.getsource(obj)).rstrip('\n')


def sync_shown(md_path):
    """Rewrite the cells of source ``md_path`` that show a package object with that object's
    source; returns the targets that changed."""
    with open(md_path, encoding='utf-8') as f:
        text = f.read()
    changed = []

    def refresh(m):
        tag = json.loads(m.group(2))
        target = tag['source']
        own = target.partition(':')[2].rpartition('.')[2]
        # The cell keeps the book's name where the package's differs ("as").
        new = re.sub(rf'^(def|class) {re.escape(own)}\b', lambda d: f'{d.group(1)} {tag["as"]}',
                     shown_source(target), count=1)
        if new != m.group(3):
            changed.append(target)
        return m.group(1) + new + m.group(4)
    text = SHOWN.sub(refresh, text)
    if changed:
        atomic_write_text(md_path, text)
    return changed


def notebook_path(md_path):
    """``notebooks/NAME.ipynb`` of the source ``notebooks/src/NAME.md``."""
    stem = os.path.splitext(os.path.basename(md_path))[0]
    return os.path.join(os.path.dirname(os.path.dirname(md_path)), stem + '.ipynb')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 if a notebook differs from its source')
    parser.add_argument('--dir', default=NOTEBOOK_DIR,
                        help='the notebooks\' folder, sources in its src/ (default: notebooks/)')
    parser.add_argument('--sync-shown', action='store_true',
                        help='first rewrite the cells that show package code from the package')
    args = parser.parse_args(argv)
    stale = []
    if args.sync_shown and not args.check:
        for md_path in sources(args.dir):
            for target in sync_shown(md_path):
                print(f'{os.path.relpath(md_path)}: {target} refreshed from the package')
    for md_path in sources(args.dir):
        ipynb = notebook_path(md_path)
        text = build(md_path)
        if args.check:
            try:
                with open(ipynb, encoding='utf-8') as f:
                    same = json.load(f) == json.loads(text)
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(os.path.relpath(ipynb))
        else:
            atomic_write_text(ipynb, text)
            print(f'wrote {os.path.relpath(ipynb)}')
    if stale:
        print('not generated from its Markdown source (run make notebooks): '
              + ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
