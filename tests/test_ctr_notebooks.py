"""The feature-rich notebooks (08-ctr, 09-fm, 10-deepfm, both tabs) show the book's cells.

The MXNet notebooks run the book's cells of ctr.md, fm.md and deepfm.md
(``tests/book_ctr_cells.py``, with the import line the package changes), the PyTorch notebooks
their translation (``book_ctr_cells.TORCH_*``), both on the MovieLens click data
(``book_ctr_cells.on_movielens``: the data set's name and ``num_feat``), in the book's order.
The project may add, and the notebooks' prose says so: lines in the first code cell after the
book's imports, the seed line ``d2l.set_seed(SEED)``, the ``if SHORT:`` blocks of short mode,
``history =`` before ``d2l.train_ch13(``, and the models' argument check
(``click_arguments(...)``, the constructors' first line, as in the package); any other change to a book cell fails here. The
book's own cells that name its advertising data (``download_extract('ctr')``), which cannot be
fetched from every machine, are shown as printed in a Markdown block. The package code these
notebooks show is checked by tests/test_notebooks.py (identity, bindings, short-mode runs).
"""
import copy
import re

import pytest

import book_ctr_cells
from test_notebooks import cell_text, load, load_source, without_short_mode

MXNET = {'08-ctr-mxnet.ipynb': book_ctr_cells.CTR, '09-fm-mxnet.ipynb': book_ctr_cells.FM,
         '10-deepfm-mxnet.ipynb': book_ctr_cells.DEEPFM}
TORCH = {'08-ctr-pytorch.ipynb': book_ctr_cells.TORCH_CTR,
         '09-fm-pytorch.ipynb': book_ctr_cells.TORCH_FM,
         '10-deepfm-pytorch.ipynb': book_ctr_cells.TORCH_DEEPFM}
CELLS = {**MXNET, **TORCH}
# The book's lines that load its advertising data, shown as printed in every notebook.
BOOK_DATA_LINE = "data_dir = d2l.download_extract('ctr')"


def plain(text):
    """``text`` without blank lines at its ends and trailing spaces (the book has some)."""
    return '\n'.join(line.rstrip() for line in text.strip('\n').splitlines()).strip()


def book_view(text):
    """A notebook cell as the book prints it: without the project's short-mode blocks, its
    seed line, its ``history =`` and the constructors' argument check."""
    text = without_short_mode(text)
    text = re.sub(r'^d2l\.set_seed\(SEED\)\n', '', text, flags=re.M)
    text = book_ctr_cells.without_package_check(text)[0]
    return re.sub(r'^history = (d2l\.train_ch13\()', r'\1', text, flags=re.M)


def book_cell_problems(nb, cells):
    """What keeps notebook dict ``nb`` from showing ``cells`` (the book's, on MovieLens) in
    order with only the project's additions: a list of strings (empty: fine). The first cell
    (the imports) must open the notebook's first code cell, after the Colab lines; every other
    must be a code cell, exactly, once the project's lines are taken out."""
    code = [plain(book_view(cell_text(c))) for c in nb['cells'] if c['cell_type'] == 'code']
    problems, at = [], 0
    imports = plain(cells[0])
    if imports not in code[0]:
        problems.append("the book's imports are not in the first code cell:\n" + imports)
    for cell in cells[1:]:
        want = plain(cell)
        found = [i for i, c in enumerate(code) if c == want]
        if not found:
            problems.append("a book cell is not in the notebook as printed:\n" + want)
        elif found[0] < at:
            problems.append("a book cell is out of order:\n" + want)
        else:
            at = found[0]
    markdown = '\n'.join(cell_text(c) for c in nb['cells'] if c['cell_type'] == 'markdown')
    if '```py\n' not in markdown or BOOK_DATA_LINE not in markdown:
        problems.append(f"the book's {BOOK_DATA_LINE!r} is not shown in a Markdown block")
    return problems


@pytest.mark.parametrize('form', ['md', 'ipynb'])
@pytest.mark.parametrize('nb_name', sorted(CELLS))
def test_the_notebook_shows_the_books_cells_on_movielens(nb_name, form):
    nb = load_source(nb_name) if form == 'md' else load(nb_name)
    problems = book_cell_problems(nb, book_ctr_cells.on_movielens(CELLS[nb_name]))
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('nb_name', ['09-fm-mxnet.ipynb', '10-deepfm-pytorch.ipynb'])
def test_short_mode_seed_and_history_are_the_only_changes_to_the_training_cell(nb_name):
    nb = load_source(nb_name)
    training = next(cell_text(c) for c in nb['cells'] if c['cell_type'] == 'code'
                    and 'd2l.train_ch13(' in cell_text(c))
    assert 'if SHORT:\n    num_epochs = 1\n' in training
    assert 'd2l.set_seed(SEED)\n' in training and 'history = d2l.train_ch13(' in training
    assert training != book_view(training)


def test_the_check_catches_an_edited_cell():
    nb = load_source('09-fm-mxnet.ipynb')
    cells = book_ctr_cells.on_movielens(book_ctr_cells.FM)
    assert book_cell_problems(nb, cells) == []
    index = next(i for i, c in enumerate(nb['cells']) if 'd2l.train_ch13(' in cell_text(c))

    edited = copy.deepcopy(nb)   # a setting changed outside short mode
    edited['cells'][index]['source'] = cell_text(nb['cells'][index]).replace('0.02, 30',
                                                                             '0.05, 30')
    assert any('not in the notebook as printed' in p for p in book_cell_problems(edited, cells))

    edited = copy.deepcopy(nb)   # a line added that the project does not announce
    edited['cells'][index]['source'] = cell_text(nb['cells'][index]).replace(
        'd2l.set_seed(SEED)\n', 'd2l.set_seed(SEED)\nnum_epochs = 1\n')
    assert any('not in the notebook as printed' in p for p in book_cell_problems(edited, cells))

    edited = copy.deepcopy(nb)   # the data set's original line no longer shown
    for cell in edited['cells']:
        if cell['cell_type'] == 'markdown':
            cell['source'] = cell_text(cell).replace(BOOK_DATA_LINE, '')
    assert any('Markdown block' in p for p in book_cell_problems(edited, cells))

    # The cells in another order: the data cell after the training cell.
    swapped = [cells[0], cells[1], cells[3], cells[2]]
    assert any('out of order' in p for p in book_cell_problems(nb, swapped))
    # And the MovieLens change is the one made: the book's data cell itself is not a code cell.
    assert any('not in the notebook as printed' in p
               for p in book_cell_problems(nb, book_ctr_cells.FM))
