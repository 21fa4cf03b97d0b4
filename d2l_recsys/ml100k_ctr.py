r"""MovieLens 100K as click data in the book's ``ctr`` format: ``download_extract('ml100k-ctr')``.

The book's feature-rich sections train on an advertising data set (``d2l.DATA_HUB['ctr']``)
that lives on the book's server only; where that cannot be reached, and for a data set whose
fields mean something, this is MovieLens 100K in the same format, built from the checked
ML-100K files (:mod:`d2l_recsys.fetch`), so that every cell of the sections runs on it by
changing only the data set's name and ``CTRDataset``'s ``num_feat`` (8 here, 34 in the book's
data)::

    data_dir = d2l.download_extract('ml100k-ctr')
    train_data = d2l.CTRDataset(os.path.join(data_dir, 'train.csv'), num_feat=8)

**One line per rating** (100,000), in ``u.data``'s order, tab-separated as the book's lines:

* the **label**: 1 when the rating is 4 or 5 ("the user liked the film": 55% of the ratings),
  else 0. A rating is a click-like signal a user gave after seeing the film; predicting it
  from who the user is and what the film is, is the book's task on these fields;
* eight categorical **fields** (:data:`FIELDS`): the user id and the item id (``u.data``); the
  user's age, gender, occupation (``u.user``) and zip area: the first character of the zip
  code (the US national area, or a Canadian province's letter), because the full code is
  nearly one per user (795 codes for 943 users) and would only repeat the user id; the film's
  release year (the year in its title, ``unknown`` where there is none) and its genres (the
  ``u.item`` flags that are set, joined by ``|`` in GroupLens' order: the combination is one
  value, ``none`` when no flag is set).

**The split** keeps time's arrow: each user's latest ratings are that user's test lines
(``test.csv``), the rest training lines (``train.csv``). A user's ratings are ordered by
timestamp, ties in file order, and the last :data:`TEST_SHARE` of them (10%, rounded up, so at
least one) are held out, but never all of them: no test rating is older than the same user's
training ratings, and every test user has a history in training. On ML-100K that is 10,439
test and 89,561 training lines (every user has rated at least 20 films).

The folder, ``<cache>/ml100k-ctr/``, is built once, in a temporary folder that is renamed into
place whole, with ``catalog.json`` beside the two files: the field names, every user's and
every film's field values and the titles, which a trained click model needs to score the films
a user has not rated (``python -m d2l_recsys recommend``), and ``SOURCE.json``: the recipe's
version and the SHA-256 of every input and output file. It is built again when those do not
match (other ML-100K files, an edited output, a newer recipe).
"""
import json
import os
import re

import numpy
import pandas as pd

from . import fetch
from .atomic import file_digest

__all__ = ['FIELDS', 'USER_FIELDS', 'ITEM_FIELDS', 'TEST_SHARE', 'LIKE_THRESHOLD', 'RECIPE',
           'NUM_FEAT', 'click_table', 'latest_split', 'latest_training_lines', 'build_ml100k_ctr',
           'ml100k_ctr_dir',
           'read_catalog', 'check_catalog', 'catalog_features', 'CATALOG']

FIELDS = ('user_id', 'item_id', 'age', 'gender', 'occupation', 'zip_area', 'release_year',
          'genres')
NUM_FEAT = len(FIELDS)
USER_FIELDS = ('user_id', 'age', 'gender', 'occupation', 'zip_area')
ITEM_FIELDS = ('item_id', 'release_year', 'genres')
LIKE_THRESHOLD = 4     # label 1: a rating of 4 or 5
TEST_SHARE = 0.1       # each user's latest 10% (rounded up) are test lines
RECIPE = 'd2l-recsys ml100k-ctr 1'
CATALOG, SOURCE = 'catalog.json', 'SOURCE.json'
NAME = 'ml100k-ctr'
_YEAR = re.compile(r'\((\d{4})\)')


def _year(title):
    years = _YEAR.findall(title)
    return years[-1] if years else 'unknown'


def _side_tables(users, items):
    """Per user and per film, the field values (strings) that the click lines carry."""
    # Plain arrays: a Series would be aligned on its own index, not placed row by row.
    u = pd.DataFrame({
        'user_id': users.user_id.astype(str).to_numpy(), 'age': users.age.astype(str).to_numpy(),
        'gender': users.gender.to_numpy(), 'occupation': users.occupation.to_numpy(),
        'zip_area': users.zip_code.str[0].str.upper().to_numpy()},
        index=users.user_id.to_numpy())
    flags = items[list(fetch.GENRES)].to_numpy() == 1
    names = numpy.array(fetch.GENRES, dtype=object)
    genres = ['|'.join(names[row]) or 'none' for row in flags]
    i = pd.DataFrame({'item_id': items.item_id.astype(str).to_numpy(),
                      'release_year': [_year(t) for t in items.title], 'genres': genres},
                     index=items.item_id.to_numpy())
    return u, i


def click_table(ratings, users, items):
    """The click lines of ``ratings`` (``read_u_data``'s frame) with the users' (``read_u_user``)
    and films' (``read_u_item``) fields: a DataFrame ``label`` (0/1) and :data:`FIELDS`
    (strings), in the ratings' order. ValueError for a rating whose user or film has no row."""
    u, i = _side_tables(users, items)
    for name, ids, table, file in (('user', ratings.user_id, u, 'u.user'),
                                   ('item', ratings.item_id, i, 'u.item')):
        missing = numpy.setdiff1d(ids.unique(), table.index.to_numpy())
        if len(missing):
            raise ValueError(f'{file}: no row for {name} {int(missing[0])}, who is in u.data '
                             f'({len(missing)} such {name}s)')
    out = pd.DataFrame({'label': (ratings.rating.to_numpy() >= LIKE_THRESHOLD).astype(int)})
    uu = u.loc[ratings.user_id.to_numpy()].reset_index(drop=True)
    ii = i.loc[ratings.item_id.to_numpy()].reset_index(drop=True)
    for name in FIELDS:
        out[name] = (uu[name] if name in USER_FIELDS else ii[name]).to_numpy()
    return out


def latest_split(ratings, test_share=TEST_SHARE):
    """A boolean mask of the test ratings: each user's latest ``ceil(test_share * n)`` of
    their ``n`` ratings (by timestamp, ties in file order), at most ``n - 1``."""
    user = ratings.user_id.to_numpy()
    time = ratings.timestamp.to_numpy()
    rows = numpy.arange(len(user))
    order = numpy.lexsort((rows, time, user))           # by user, then time, then file order
    _, start, counts = numpy.unique(user[order], return_index=True, return_counts=True)
    n = numpy.repeat(counts, counts)
    rank = numpy.arange(len(order)) - numpy.repeat(start, counts)   # 0 = the user's earliest
    k = numpy.minimum(n - 1, numpy.ceil(numpy.round(n * test_share, 9)).astype(numpy.int64))
    test = numpy.zeros(len(user), dtype=bool)
    test[order] = rank >= n - k
    return test


def latest_training_lines(ml_dir, share=TEST_SHARE):
    """Which lines of ``train.csv`` a validation set takes when it is cut from the training
    lines the way ``test.csv`` was cut from all of them: each user's latest ``share`` of their
    training lines (rounded up, never all; :func:`latest_split` on the training ratings).
    Returns ``(mask, training ratings)``: a boolean per line of ``train.csv``, in its order, and
    the ratings of ``u.data`` (in ``ml_dir``) that those lines are (``user_id``, ``item_id``,
    ``rating``, ``timestamp``), from which a caller checks that the file is theirs."""
    ratings = fetch.read_u_data(os.path.join(ml_dir, 'u.data'))
    train = ratings[~latest_split(ratings)].reset_index(drop=True)
    return latest_split(train, share), train


def _lines(table):
    return ''.join('\t'.join(map(str, row)) + '\n'
                   for row in table[['label', *FIELDS]].itertuples(index=False))


def build_ml100k_ctr(ml_dir, out_dir, *, test_share=TEST_SHARE):
    """Write ``train.csv``, ``test.csv`` and ``catalog.json`` into ``out_dir`` from the
    MovieLens files in ``ml_dir`` (``u.data``, ``u.item``, ``u.user``, read strictly).
    Returns ``(train lines, test lines)``."""
    ratings = fetch.read_u_data(os.path.join(ml_dir, 'u.data'))
    users = fetch.read_u_user(os.path.join(ml_dir, 'u.user'))
    items = fetch.read_u_item(os.path.join(ml_dir, 'u.item'))
    table = click_table(ratings, users, items)
    for name in FIELDS:
        bad = table[name].str.contains('[\t\n\r]', regex=True)
        if bad.any():
            raise ValueError(f'{ml_dir}: a {name} value holds a tab or a line break '
                             f'({table[name][bad].iloc[0][:40]!r})')
    test = latest_split(ratings, test_share)
    with open(os.path.join(out_dir, 'train.csv'), 'w', encoding='utf-8', newline='') as f:
        f.write(_lines(table[~test]))
    with open(os.path.join(out_dir, 'test.csv'), 'w', encoding='utf-8', newline='') as f:
        f.write(_lines(table[test]))
    u, i = _side_tables(users, items)
    catalog = {'format': 'd2l-recsys click catalog 1', 'fields': list(FIELDS),
               'user_fields': [FIELDS.index(f) for f in USER_FIELDS],
               'item_fields': [FIELDS.index(f) for f in ITEM_FIELDS],
               'users': {k: list(v) for k, v in zip(u.index.astype(str), u.to_numpy().tolist())},
               'items': {k: list(v) for k, v in zip(i.index.astype(str), i.to_numpy().tolist())},
               'titles': {str(k): t for k, t in zip(items.item_id, items.title)}}
    with open(os.path.join(out_dir, CATALOG), 'w', encoding='utf-8') as f:
        json.dump(catalog, f, ensure_ascii=False)
    return int((~test).sum()), int(test.sum())


def _inputs(ml_dir):
    return {name: file_digest(os.path.join(ml_dir, name)) for name in ('u.data', 'u.item',
                                                                      'u.user')}


def _outputs(folder):
    return {name: file_digest(os.path.join(folder, name))
            for name in ('train.csv', 'test.csv', CATALOG)}


def _fresh(target, inputs):
    """Whether ``target`` holds the click data this recipe makes from these inputs, unchanged."""
    try:
        with open(os.path.join(target, SOURCE), encoding='utf-8') as f:
            record = json.load(f)
        return (isinstance(record, dict) and record.get('recipe') == RECIPE
                and record.get('inputs') == inputs and record.get('outputs') == _outputs(target))
    except (OSError, ValueError):
        return False


def ml100k_ctr_dir(path=None, *, log=fetch.print_once):
    """The folder of MovieLens 100K as click data (``train.csv``, ``test.csv``,
    ``catalog.json``), built from the checked ML-100K files once and kept in the cache.

    ``path`` (else ``$D2L_RECSYS_DATA``): the MovieLens 100K to build from, as
    :func:`d2l_recsys.fetch.ml100k_dir` takes it (other data of the same layout is used with
    a note); its ``u.user`` and ``u.item`` are needed (a folder without ``u.user`` gets one
    line saying so; the cache's own copy gains ``u.user`` from the sources the fetch layer
    knows). The build goes to a temporary folder renamed into ``<cache>/ml100k-ctr`` whole.
    """
    log = log or (lambda *args, **kwargs: None)
    ml_dir = fetch.ml100k_dir(path, log=log, allow_subset=True)
    fetch.u_user_path(ml_dir, log=log)
    if not os.path.isfile(os.path.join(ml_dir, 'u.item')):
        raise fetch.DataError(f'{ml_dir}: no u.item here; the MovieLens click data needs it '
                              "(each film's title and genres)")
    cache = fetch.cache_root()
    target = os.path.join(cache, NAME)
    inputs = _inputs(ml_dir)
    if _fresh(target, inputs):
        log(f'{NAME}: cache {target}: found (checked)')
        return target
    with fetch.staging(cache, NAME) as stage:
        try:
            sizes = build_ml100k_ctr(ml_dir, stage)
        except ValueError as e:
            raise fetch.DataError(f'{NAME}: {e}') from None
        record = {'recipe': RECIPE, 'source': os.path.abspath(ml_dir), 'inputs': inputs,
                  'outputs': _outputs(stage), 'fields': list(FIELDS),
                  'label': f'rating >= {LIKE_THRESHOLD}', 'test_share': TEST_SHARE,
                  'train_lines': sizes[0], 'test_lines': sizes[1]}
        with open(os.path.join(stage, SOURCE), 'w', encoding='utf-8') as f:
            json.dump(record, f, indent=2)
        target = fetch.publish(stage, cache, NAME, marker='train.csv')
    log(f'{NAME}: built from {ml_dir} into {target} ({sizes[0]:,} training and {sizes[1]:,} '
        'test lines)')
    return target


# --------------------------------------------------------------- the catalog, for scoring

def read_catalog(path):
    """``catalog.json`` read and checked as input (:func:`check_catalog`)."""
    try:
        with open(path, encoding='utf-8') as f:
            catalog = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} line {e.lineno}: not valid JSON ({e.msg})') from None
    except UnicodeDecodeError:
        raise ValueError(f'{path}: not UTF-8 text') from None
    return check_catalog(catalog, path)


def check_catalog(catalog, where):
    """The catalog's fields, user and film rows, checked: ValueError naming what is wrong."""
    if not isinstance(catalog, dict):
        raise ValueError(f'{where}: expected a JSON object')
    fields = catalog.get('fields')
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise ValueError(f'{where}: "fields" must be a list of names')
    for key, names in (('user_fields', 'users'), ('item_fields', 'items')):
        pos = catalog.get(key)
        if not isinstance(pos, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(fields)
                for p in pos):
            raise ValueError(f'{where}: "{key}" must list field positions 0..{len(fields) - 1}')
        rows = catalog.get(names)
        if not isinstance(rows, dict) or not rows:
            raise ValueError(f'{where}: "{names}" must be a non-empty object')
        for k, row in rows.items():
            if not k.isdigit() or not isinstance(row, list) or len(row) != len(pos) or \
                    not all(isinstance(v, str) for v in row):
                raise ValueError(f'{where}: {names} entry {k[:20]!r} must be an id with '
                                 f'{len(pos)} strings')
    if sorted(catalog['user_fields'] + catalog['item_fields']) != list(range(len(fields))):
        raise ValueError(f'{where}: user_fields and item_fields must cover every field once')
    titles = catalog.get('titles', {})
    if not isinstance(titles, dict) or not all(isinstance(t, str) for t in titles.values()):
        raise ValueError(f'{where}: "titles" must map ids to strings')
    return catalog


def catalog_features(catalog, user_id, item_ids):
    """The field strings (len(item_ids), F) of user ``user_id`` with each film of ``item_ids``
    (MovieLens ids), in field order: what a click line of that pair carries."""
    users, items = catalog['users'], catalog['items']
    if str(user_id) not in users:
        raise ValueError(f'unknown user id {user_id}: the catalog has users '
                         f'{min(map(int, users))}..{max(map(int, users))}')
    out = numpy.empty((len(item_ids), len(catalog['fields'])), dtype=object)
    out[:, catalog['user_fields']] = users[str(user_id)]
    out[:, catalog['item_fields']] = [items[str(i)] for i in item_ids]
    return out
