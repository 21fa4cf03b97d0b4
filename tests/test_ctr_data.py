"""The click data, framework-free: the book's ctr format read as arrays, the exact metrics,
MovieLens 100K as click data (fields, label, split, cache), u.user from every source, and the
data hub (the book's ad data from a user's copy or its server, one-line errors)."""
import hashlib
import json
import os
import zipfile

import numpy as onp
import pandas as pd
import pytest

import ctr_files
import synthetic
from d2l_recsys import clicks, ctr_runs, fetch, hub, ml100k_ctr


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache; no user paths; the network sources of ML-100K and u.user fail."""
    monkeypatch.setenv(fetch.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.delenv(fetch.ENV_DATA, raising=False)
    monkeypatch.delenv(hub.ENV_CTR, raising=False)

    def offline(*args):
        raise fetch.DataError('offline in tests')
    for name in ('_from_grouplens', '_from_pypi', '_user_from_grouplens', '_user_from_pypi'):
        monkeypatch.setattr(fetch, name, offline)


def log_lines():
    lines = []
    return lines, lines.append


# --- the book's format, read as its CTRDataset reads it ------------------------------------

def test_lines_with_another_number_of_fields_are_skipped_as_the_book_does(tmp_path):
    path = tmp_path / 'x.csv'
    path.write_text('1\ta\tb\n0\ta\n1\ta\tb\tc\n0\tc\td\r\n\n1\te\tf')
    labels, values, skipped = clicks.read_ctr_lines(str(path), num_feat=2)
    assert labels.tolist() == ['1', '0', '1'] and skipped == 3
    assert values.tolist() == [['a', 'b'], ['c', 'd'], ['e', 'f']]   # \r\n read as a newline


def test_book_and_framework_free_readers_agree(tmp_path):
    path = ctr_files.write_ctr(tmp_path / 'train.csv', 500, num_feat=6, seed=3)
    book = clicks.read_ctr_book(path, num_feat=6)
    fast = clicks.read_ctr_arrays(path, num_feat=6)
    assert book.count == fast.count == 500 and fast.skipped == 2
    assert book.feat_mapper == fast.feat_mapper and book.defaults == fast.defaults
    assert [list(m) for m in book.feat_mapper.values()] == \
        [list(m) for m in fast.feat_mapper.values()]     # the same numbering order
    assert (book.field_dims == fast.field_dims).all() and (book.offsets == fast.offsets).all()
    for i in range(book.count):
        item = book.data[i]
        expect = [book.feat_mapper[j + 1].get(v, book.defaults[j + 1])
                  for j, v in enumerate(item['x'])] + book.offsets
        assert (fast.features[i] == expect).all() and fast.labels[i] == item['y'][0]


def test_rare_values_share_the_default_and_offsets_separate_fields(tmp_path):
    path = tmp_path / 'x.csv'
    rows = ['1\ta\tx'] * 4 + ['0\tb\tx'] * 3 + ['1\tc\ty']
    path.write_text('\n'.join(rows) + '\n')
    a = clicks.read_ctr_arrays(str(path), num_feat=2)
    assert a.feat_mapper == {1: {'a': 0}, 2: {'x': 0}} and a.defaults == {1: 1, 2: 1}
    assert a.field_dims.tolist() == [2, 2] and a.offsets.tolist() == [0, 2]
    assert a.features.tolist() == [[0, 2]] * 4 + [[1, 2]] * 3 + [[1, 3]]


def test_stable_order_is_first_appearance(tmp_path):
    path = ctr_files.write_ctr(tmp_path / 'x.csv', 300, num_feat=3, seed=1)
    a = clicks.read_ctr_arrays(path, num_feat=3, order='stable')
    _, values, _ = clicks.read_ctr_lines(path, 3)
    for j in range(3):
        seen = list(dict.fromkeys(values[:, j]))
        kept = [v for v in seen if (values[:, j] == v).sum() >= 4]
        assert list(a.feat_mapper[j + 1]) == kept
        assert list(a.feat_mapper[j + 1].values()) == list(range(len(kept)))
    book = clicks.read_ctr_arrays(path, num_feat=3)
    assert {i: set(m) for i, m in book.feat_mapper.items()} == \
        {i: set(m) for i, m in a.feat_mapper.items()}
    with pytest.raises(ValueError, match="order must be 'book' or 'stable'"):
        clicks.read_ctr_arrays(path, num_feat=3, order='sorted')


@pytest.mark.parametrize('label', ['2', 'x', '1.0'])
def test_a_label_the_book_cannot_read_is_named(tmp_path, label):
    path = tmp_path / 'x.csv'
    path.write_text(f'1\ta\n{label}\tb\n')
    with pytest.raises(ValueError, match=rf"label '{label}' of the 2nd kept line is not 0 or 1"):
        clicks.read_ctr_arrays(str(path), num_feat=1)


def test_check_ctr_file(tmp_path):
    good = ctr_files.write_ctr(tmp_path / 'good.csv', 20, num_feat=34)
    assert clicks.check_ctr_file(good) == (20, 2)
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(ValueError, match=r'empty.csv: no line of 35 tab-separated fields'):
        clicks.check_ctr_file(str(tmp_path / 'empty.csv'))
    (tmp_path / 'bad.csv').write_text('1\ta\n-1\tb\n')
    with pytest.raises(ValueError, match=r"2nd line with 2 fields has label '-1'"):
        clicks.check_ctr_file(str(tmp_path / 'bad.csv'), num_feat=1)
    (tmp_path / 'bin.csv').write_bytes(b'\xff\xfe\x00\x01')
    with pytest.raises(ValueError, match='not a text file'):
        clicks.check_ctr_file(str(tmp_path / 'bin.csv'))


def test_feat_mapper_checks():
    mapper, defaults = {'1': {'a': 0, 'b': 1}}, {'1': 2}
    assert clicks.check_feat_mapper(mapper, defaults, [3]) == ({1: {'a': 0, 'b': 1}}, {1: 2})
    for bad, words in (({'1': {'a': 0, 'b': 0}}, 'once each'), ({'2': {'a': 0}}, '1..F'),
                       ({'1': {'a': True}}, 'once each')):
        with pytest.raises(ValueError, match=words):
            clicks.check_feat_mapper(bad, {k: len(v) for k, v in bad.items()})
    with pytest.raises(ValueError, match='default must be 2'):
        clicks.check_feat_mapper(mapper, {'1': 5})
    with pytest.raises(ValueError, match='do not fit'):
        clicks.check_feat_mapper(mapper, defaults, [4])


# --- the exact metrics -----------------------------------------------------------------------

def test_auc_is_the_share_of_correctly_ordered_pairs():
    rng = onp.random.RandomState(0)
    y = rng.randint(0, 2, 300)
    s = onp.round(rng.uniform(size=300) + 0.3 * y, 1)   # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert clicks.roc_auc(s, y) == pytest.approx(pairs, abs=1e-12)
    assert clicks.roc_auc([0.1, 0.9], [0, 1]) == 1.0 and clicks.roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert onp.isnan(clicks.roc_auc([0.3, 0.4], [1, 1]))


def test_log_loss_accuracy_and_click_metrics():
    p, y = onp.array([0.9, 0.2, 1.0, 0.0], onp.float32), onp.array([1, 0, 0, 0])
    expect = -(onp.log(0.9) + onp.log(0.8) + onp.log(1e-7) + onp.log1p(-1e-7)) / 4
    assert clicks.log_loss(p, y) == pytest.approx(expect, rel=1e-6)
    assert clicks.accuracy_at(p, y) == 0.75 and clicks.accuracy_at([0.5], [1]) == 0.0
    m = clicks.click_metrics(p.reshape(-1, 1), y.reshape(-1, 1))
    assert m['count'] == 4 and m['click_rate'] == 0.25 and m['accuracy'] == 0.75
    with pytest.raises(ValueError, match='NaN'):
        clicks.click_metrics([onp.nan], [1])
    with pytest.raises(ValueError, match='2 probabilities for 1 labels'):
        clicks.click_metrics([0.1, 0.2], [1])


# --- MovieLens 100K as click data --------------------------------------------------------------

@pytest.fixture
def movielens(tmp_path):
    """A small MovieLens folder with u.data, u.item and u.user."""
    folder = synthetic.write_ml100k(str(tmp_path / 'ml'), num_users=30, num_items=40,
                                    density=0.5, seed=2)
    ctr_files.write_side_files(folder, 30, 40, seed=2)
    return folder


def read_lines(path):
    with open(path) as f:
        return [line.rstrip('\n').split('\t') for line in f]


def test_click_lines_carry_the_label_and_the_eight_fields(movielens):
    lines, log = log_lines()
    folder = ml100k_ctr.ml100k_ctr_dir(movielens, log=log)
    assert folder == os.path.join(fetch.cache_root(), 'ml100k-ctr')
    assert any('built from' in line for line in lines)
    ratings = fetch.read_u_data(os.path.join(movielens, 'u.data'))
    users = fetch.read_u_user(os.path.join(movielens, 'u.user')).set_index('user_id')
    items = fetch.read_u_item(os.path.join(movielens, 'u.item')).set_index('item_id')
    train, test = read_lines(f'{folder}/train.csv'), read_lines(f'{folder}/test.csv')
    assert len(train) + len(test) == len(ratings)
    assert all(len(row) == 9 for row in train + test)
    by_pair = {(int(r[1]), int(r[2])): r for r in train + test}
    for row in ratings.itertuples():
        line = by_pair[(row.user_id, row.item_id)]
        user, item = users.loc[row.user_id], items.loc[row.item_id]
        genres = '|'.join(g for g in fetch.GENRES if item[g] == 1) or 'none'
        year = item.title[-5:-1] if item.title.endswith(')') else 'unknown'
        assert line == [str(int(row.rating >= 4)), str(row.user_id), str(row.item_id),
                        str(user.age), user.gender, user.occupation, user.zip_code[0].upper(),
                        year, genres]
    # u.data's order is kept within each file
    order = {(r.user_id, r.item_id): k for k, r in enumerate(ratings.itertuples())}
    for part in (train, test):
        rows = [order[(int(r[1]), int(r[2]))] for r in part]
        assert rows == sorted(rows)


def test_each_users_test_lines_are_their_latest(movielens):
    folder = ml100k_ctr.ml100k_ctr_dir(movielens, log=None)
    ratings = fetch.read_u_data(os.path.join(movielens, 'u.data'))
    when = {(r.user_id, r.item_id): r.timestamp for r in ratings.itertuples()}
    test = read_lines(f'{folder}/test.csv')
    train = read_lines(f'{folder}/train.csv')
    for u, n in ratings.user_id.value_counts().items():
        t = [when[(u, int(r[2]))] for r in test if int(r[1]) == u]
        tr = [when[(u, int(r[2]))] for r in train if int(r[1]) == u]
        assert len(t) == min(n - 1, -(-n // 10)) and len(tr) == n - len(t) >= 1
        assert min(t) >= max(tr)


def test_the_split_on_ties_and_small_users():
    ratings = pd.DataFrame({'user_id': [1, 1, 1, 2, 3, 3], 'item_id': [1, 2, 3, 1, 1, 2],
                            'rating': [5] * 6, 'timestamp': [5, 5, 4, 1, 2, 1]})
    # user 1: the latest of its three (ties in file order: line 2), user 2: its only rating
    # stays in training, user 3: the later one
    assert ml100k_ctr.latest_split(ratings).tolist() == [False, True, False, False, True, False]
    assert ml100k_ctr.latest_split(ratings, 0.5).tolist() == [True, True, False, False, True,
                                                              False]


def test_built_once_rebuilt_when_inputs_or_outputs_change(movielens):
    folder = ml100k_ctr.ml100k_ctr_dir(movielens, log=None)
    record = json.load(open(os.path.join(folder, 'SOURCE.json')))
    assert record['recipe'] == ml100k_ctr.RECIPE and set(record['inputs']) == {
        'u.data', 'u.item', 'u.user'}
    lines, log = log_lines()
    assert ml100k_ctr.ml100k_ctr_dir(movielens, log=log) == folder
    assert lines[-1].endswith('found (checked)')
    with open(os.path.join(folder, 'test.csv'), 'a') as f:   # an edited output
        f.write('1\tx\n')
    lines, log = log_lines()
    ml100k_ctr.ml100k_ctr_dir(movielens, log=log)
    assert 'built from' in lines[-1]
    assert read_lines(os.path.join(folder, 'test.csv'))[-1] != ['1', 'x']
    with open(os.path.join(movielens, 'u.user'), 'a') as f:   # other inputs
        f.write('31|40|F|writer|12345\n')
    lines, log = log_lines()
    ml100k_ctr.ml100k_ctr_dir(movielens, log=log)
    assert 'built from' in lines[-1]
    cache = fetch.cache_root()
    assert sorted(n for n in os.listdir(cache) if n.startswith('.tmp')) == []


def test_a_failed_build_leaves_nothing(movielens, monkeypatch):
    def broken(ml_dir, out_dir, **kwargs):
        open(os.path.join(out_dir, 'train.csv'), 'w').write('half')
        raise KeyboardInterrupt
    monkeypatch.setattr(ml100k_ctr, 'build_ml100k_ctr', broken)
    with pytest.raises(KeyboardInterrupt):
        ml100k_ctr.ml100k_ctr_dir(movielens, log=None)
    assert os.listdir(fetch.cache_root()) == []


def test_a_folder_without_u_user_works_for_ratings_and_is_named_for_clicks(movielens):
    os.remove(os.path.join(movielens, 'u.user'))
    assert fetch.ml100k_dir(movielens, log=None, allow_subset=True) == movielens
    with pytest.raises(fetch.DataError) as e:
        ml100k_ctr.ml100k_ctr_dir(movielens, log=None)
    assert str(e.value).startswith(f'{movielens}: no u.user here; the MovieLens click data ')
    assert '\n' not in str(e.value)


@pytest.mark.parametrize('row, words', [
    ('1|24|X|writer|12345', "line 1: gender 'X' is not M or F"),
    ('1|0|M|writer|12345', "line 1: age '0' is not a whole number"),
    ('1|24|M|astronaut|12345', "occupation 'astronaut' is not one of GroupLens' 21"),
    ('1|24|M|writer|12 45', "zip code '12 45'"),
    ('1|24|M|writer', 'expected 5 |-separated fields'),
    ('x|24|M|writer|1', "user id 'x'"),
])
def test_u_user_is_checked_line_by_line(movielens, row, words):
    path = os.path.join(movielens, 'u.user')
    rows = open(path).read().splitlines()
    open(path, 'w').write('\n'.join([row] + rows[1:]) + '\n')
    with pytest.raises(fetch.DataError, match=words):
        fetch.ml100k_dir(movielens, log=None, allow_subset=True)


def test_u_user_must_cover_the_raters(movielens):
    path = os.path.join(movielens, 'u.user')
    rows = open(path).read().splitlines()
    open(path, 'w').write('\n'.join(rows[:-1]) + '\n')
    with pytest.raises(fetch.DataError, match=r'user 30 rated items in u.data but has no row'):
        fetch.ml100k_dir(movielens, log=None, allow_subset=True)
    open(path, 'w').write('\n'.join(rows + [rows[0]]) + '\n')
    with pytest.raises(fetch.DataError, match=r'line 31: user 1 again \(first on line 1\)'):
        fetch.ml100k_dir(movielens, log=None, allow_subset=True)


def test_the_full_data_needs_exactly_its_users(movielens, monkeypatch):
    ratings = fetch.read_u_data(os.path.join(movielens, 'u.data'))
    monkeypatch.setattr(fetch, 'NUM_RATINGS', len(ratings))   # counted as the full data
    monkeypatch.setattr(fetch, 'NUM_USERS', 30)
    monkeypatch.setattr(fetch, 'NUM_ITEMS', 40)
    assert fetch.ml100k_dir(movielens, log=None) == movielens
    with open(os.path.join(movielens, 'u.user'), 'a') as f:
        f.write('31|40|F|writer|12345\n')
    with pytest.raises(fetch.DataError, match=r'not the users of MovieLens 100K: 31 users, ids '
                                              r'1..31 \(expected 30, ids 1..30\)'):
        fetch.ml100k_dir(movielens, log=None)
    assert fetch.ml100k_dir(movielens, log=None, allow_subset=True) == movielens


# --- an old cache gains u.user; the recbole conversion -------------------------------------

def recbole_user_bytes(movielens):
    rows = ['user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token']
    rows += [line.replace('|', '\t') for line in
             open(os.path.join(movielens, 'u.user')).read().splitlines()]
    return ('\n'.join(rows) + '\n').encode()


def test_recbole_users_convert_to_grouplens_layout(movielens, tmp_path):
    fetch.convert_recbole(None, None, str(tmp_path), user=recbole_user_bytes(movielens))
    assert (tmp_path / 'u.user').read_text() == open(os.path.join(movielens, 'u.user')).read()


def old_cache(movielens, monkeypatch):
    """The cache as made before u.user was fetched (u.data, u.item, SOURCE), counted full."""
    folder = os.path.join(fetch.cache_root(), 'ml-100k')
    os.makedirs(folder)
    for name in ('u.data', 'u.item'):
        open(os.path.join(folder, name), 'wb').write(open(os.path.join(movielens, name),
                                                          'rb').read())
    open(os.path.join(folder, 'SOURCE'), 'w').write('Converted from recbole.\n')
    monkeypatch.setattr(fetch, 'NUM_RATINGS', len(fetch.read_u_data(folder + '/u.data')))
    monkeypatch.setattr(fetch, 'NUM_USERS', 30)
    monkeypatch.setattr(fetch, 'NUM_ITEMS', 40)
    return folder


def test_an_old_cache_gains_u_user_from_the_wheel_and_keeps_everything(movielens, monkeypatch,
                                                                       tmp_path):
    folder = old_cache(movielens, monkeypatch)
    before = {n: open(os.path.join(folder, n), 'rb').read() for n in ('u.data', 'u.item')}
    user = recbole_user_bytes(movielens)
    wheel = tmp_path / 'recbole-1.2.1-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr(fetch.RECBOLE_DIR + 'ml-100k.user', user)
    monkeypatch.setitem(fetch.RECBOLE_SHA256, 'ml-100k.user', hashlib.sha256(user).hexdigest())
    monkeypatch.setattr(fetch, '_pip_download', lambda dest: str(wheel))
    monkeypatch.setattr(fetch, '_user_from_pypi', USER_FROM_PYPI)
    lines, log = log_lines()
    assert ml100k_ctr.ml100k_ctr_dir(log=log).endswith('ml100k-ctr')
    assert 'u.user: offline in tests; trying the next source' in lines[1]
    assert lines[2].startswith('ml-100k: u.user from PyPI recbole==1.2.1 (SHA-256 ok')
    assert sorted(os.listdir(folder)) == ['SOURCE', 'u.data', 'u.item', 'u.user']
    assert {n: open(os.path.join(folder, n), 'rb').read() for n in before} == before
    assert open(os.path.join(folder, 'SOURCE')).read().startswith('Converted from recbole.\n')
    assert open(os.path.join(folder, 'u.user')).read() == \
        open(os.path.join(movielens, 'u.user')).read()


USER_FROM_PYPI = fetch._user_from_pypi


def test_an_old_cache_gains_u_user_from_its_grouplens_zip(movielens, monkeypatch):
    folder = old_cache(movielens, monkeypatch)
    zip_path = os.path.join(fetch.cache_root(), 'ml-100k.zip')
    with zipfile.ZipFile(zip_path, 'w') as zf:
        for name in ('u.data', 'u.item', 'u.user'):
            zf.write(os.path.join(movielens, name), 'ml-100k/' + name)
    monkeypatch.setattr(fetch, 'ML100K', ('http://example/ml-100k.zip',
                                          hashlib.sha1(open(zip_path, 'rb').read()).hexdigest()))
    lines, log = log_lines()
    assert fetch.u_user_path(folder, log=log) == os.path.join(folder, 'u.user')
    assert lines == [f'ml-100k: u.user from cache {zip_path} (SHA-1 ok): checked, added to '
                     f'{folder}']


def test_no_source_for_u_user_is_one_line(movielens, monkeypatch):
    folder = old_cache(movielens, monkeypatch)
    with pytest.raises(fetch.FetchError) as e:
        fetch.u_user_path(folder, log=None)
    assert "could not get MovieLens 100K's u.user: offline in tests; offline in tests" \
        in str(e.value) and fetch.ENV_DATA in str(e.value) and '\n' not in str(e.value)
    assert sorted(os.listdir(folder)) == ['SOURCE', 'u.data', 'u.item']


def test_a_bad_u_user_from_a_source_is_not_kept(movielens, monkeypatch, tmp_path):
    folder = old_cache(movielens, monkeypatch)

    def bad(cache, stage, log):
        open(os.path.join(stage, 'u.user'), 'w').write('1|24|Q|writer|1\n')
        return 'somewhere'
    monkeypatch.setattr(fetch, '_user_from_pypi', bad)
    with pytest.raises(fetch.FetchError, match=r"somewhere: .*gender 'Q' is not M or F"):
        fetch.u_user_path(folder, log=None)
    assert not os.path.exists(os.path.join(folder, 'u.user'))


# The real ML-100K, where `make data` put it (read before the tests isolate the cache).
REAL = os.environ.get(fetch.ENV_DATA) or os.path.join(fetch.cache_root(), 'ml-100k')


def test_real_click_data():
    if not all(os.path.isfile(os.path.join(REAL, n)) for n in ('u.data', 'u.item', 'u.user')):
        pytest.skip(f'no ML-100K with u.user at {REAL} (`make data` puts it there)')
    real_data_dir = fetch.ml100k_dir(REAL, log=None)   # checked as the full ML-100K
    folder = ml100k_ctr.ml100k_ctr_dir(real_data_dir, log=None)
    data = ctr_runs.read_click_data('ml100k-ctr', real_data_dir)
    assert (data.train.count, data.test.count) == (89_561, 10_439)
    # Every user kept (each has at least 18 training lines), 1,369 of the 1,682 films seen at
    # least 4 times, 61 ages, 2 genders, 21 occupations, 19 zip areas: each plus its default.
    assert data.train.field_dims.tolist() == [944, 1370, 62, 3, 22, 20, 72, 215]
    assert round(float(data.train.labels.mean()), 4) == 0.5626
    assert round(float(data.test.labels.mean()), 4) == 0.4781
    users = fetch.read_u_user(os.path.join(real_data_dir, 'u.user'))
    assert len(users) == 943 and set(users.gender) == {'M', 'F'}
    assert json.load(open(os.path.join(folder, 'catalog.json')))['fields'] == \
        list(ml100k_ctr.FIELDS)


# --- the data hub: the book's ad data ------------------------------------------------------

@pytest.fixture
def ctr_folder(tmp_path):
    return ctr_files.write_ctr_folder(str(tmp_path / 'ctr'), n_train=60, n_test=20)


def ctr_zip(folder, path):
    with zipfile.ZipFile(path, 'w') as zf:
        for name in ('train.csv', 'test.csv'):
            zf.write(os.path.join(folder, name), 'ctr/' + name)
    return str(path)


def test_the_books_entry_is_d2ls():
    d2l = pytest.importorskip('d2l.mxnet', exc_type=ImportError)
    assert hub.DATA_HUB['ctr'] == d2l.DATA_HUB['ctr']
    assert hub.DATA_URL == d2l.DATA_URL


def test_a_user_folder_is_checked_and_used_in_place(ctr_folder, monkeypatch):
    lines, log = log_lines()
    assert hub.ctr_dir(ctr_folder, log=log) == ctr_folder
    assert lines[0].startswith('ctr: note: ') and 'CTRDataset skips them' in lines[0]
    monkeypatch.setenv(hub.ENV_CTR, os.path.dirname(ctr_folder))   # its ctr/ subfolder
    assert hub.download_extract('ctr') == ctr_folder
    assert os.listdir(fetch.cache_root()) == [] if os.path.isdir(fetch.cache_root()) else True


def test_the_books_zip_by_sha1_becomes_the_cache_copy(ctr_folder, tmp_path, monkeypatch):
    z = ctr_zip(ctr_folder, tmp_path / 'ctr.zip')
    sha1 = hashlib.sha1(open(z, 'rb').read()).hexdigest()
    monkeypatch.setitem(hub.DATA_HUB, 'ctr', ('http://127.0.0.1:9/ctr.zip', sha1))
    lines, log = log_lines()
    target = hub.ctr_dir(z, log=log)
    assert target == os.path.join(fetch.cache_root(), 'ctr')
    assert sorted(os.listdir(target)) == ['SOURCE.json', 'test.csv', 'train.csv']
    assert 'SHA-1 ok, extracted into' in lines[-1]
    # Later runs use the cache without a path; an edited file is not trusted.
    lines, log = log_lines()
    assert hub.ctr_dir(log=log) == target and lines == [f'ctr: cache {target}: found (checked)']
    with open(os.path.join(target, 'train.csv'), 'a') as f:
        f.write('1\t' + '\t'.join(['z'] * 34) + '\n')
    with pytest.raises(fetch.FetchError, match='download failed'):
        hub.ctr_dir(log=None)


def test_another_zip_goes_to_a_folder_of_its_own(ctr_folder, tmp_path):
    z = ctr_zip(ctr_folder, tmp_path / 'mine.zip')
    target = hub.ctr_dir(z, log=None)
    assert os.path.dirname(target) == os.path.join(fetch.cache_root(), 'user-data')
    assert os.path.basename(target).startswith('ctr-')


@pytest.mark.parametrize('setup, words', [
    (lambda p: None, 'no such file or folder'),
    (lambda p: open(p, 'w').write('plain'), 'not a zip archive'),
    (lambda p: os.makedirs(p), 'neither train.csv and test.csv nor ctr.zip'),
])
def test_bad_copies_are_named(tmp_path, setup, words):
    path = str(tmp_path / 'given')
    setup(path)
    with pytest.raises(fetch.DataError, match=rf'argument {path}: {words}'):
        hub.ctr_dir(path, log=None)


def test_a_copy_with_wrong_fields_or_labels_is_refused(tmp_path):
    folder = ctr_files.write_ctr_folder(str(tmp_path / 'f'), 30, 10, num_feat=8)
    with pytest.raises(fetch.DataError, match=r'train.csv: no line of 35 tab-separated fields'):
        hub.ctr_dir(folder, log=None)
    assert hub.ctr_dir(folder, num_feat=8, log=None) == folder
    zip_path = tmp_path / 'evil.zip'
    with zipfile.ZipFile(zip_path, 'w') as zf:
        zf.writestr('../train.csv', 'x')
    with pytest.raises(fetch.DataError, match='unsafe member'):
        hub.ctr_dir(str(zip_path), log=None)


def test_download_checks_sha1_and_caches(ctr_folder, server, monkeypatch):
    root, base = server
    z = ctr_zip(ctr_folder, root / 'ctr.zip')
    sha1 = hashlib.sha1(open(z, 'rb').read()).hexdigest()
    monkeypatch.setitem(hub.DATA_HUB, 'ctr', (f'{base}/ctr.zip', '0' * 40))
    with pytest.raises(fetch.FetchError) as e:
        hub.download_extract('ctr')
    assert 'SHA-1 mismatch' in str(e.value) and '\n' not in str(e.value)
    assert sorted(os.listdir(fetch.cache_root())) == []
    monkeypatch.setitem(hub.DATA_HUB, 'ctr', (f'{base}/ctr.zip', sha1))
    folder = hub.download_extract('ctr')
    assert folder == os.path.join(fetch.cache_root(), 'ctr')
    assert sorted(os.listdir(fetch.cache_root())) == ['ctr', 'ctr.zip']
    assert hub.download_extract('ctr', 'ctr') == folder       # d2l's folder argument


def test_unreachable_server_is_one_line_naming_the_url_and_the_way_out(monkeypatch):
    url = 'http://127.0.0.1:9/ctr.zip'
    monkeypatch.setitem(hub.DATA_HUB, 'ctr', (url, 'e' * 40))
    with pytest.raises(fetch.FetchError) as e:
        hub.download_extract('ctr')
    text = str(e.value)
    assert '\n' not in text and url in text and 'download failed (ConnectionError)' in text
    assert hub.ENV_CTR in text and "download_extract('ctr', path=FILE)" in text
    assert 'ml100k-ctr' in text


def test_other_hub_names(server, monkeypatch):
    root, base = server
    with zipfile.ZipFile(root / 'thing.zip', 'w') as zf:
        zf.writestr('thing/a.txt', 'hello')
    sha1 = hashlib.sha1((root / 'thing.zip').read_bytes()).hexdigest()
    monkeypatch.setitem(hub.DATA_HUB, 'thing', (f'{base}/thing.zip', sha1))
    folder = hub.download_extract('thing')
    assert folder == os.path.join(fetch.cache_root(), 'thing', 'thing')
    assert open(os.path.join(folder, 'a.txt')).read() == 'hello'
    assert hub.download_extract('thing') == folder
    with pytest.raises(ValueError, match=r"unknown data set 'nothing'; known: .*ctr"):
        hub.download_extract('nothing')


# --- the data of a run ---------------------------------------------------------------------

def test_read_click_data_checks_its_arguments(movielens, ctr_folder):
    data = ctr_runs.read_click_data('ml100k-ctr', movielens)
    assert data.num_feat == 8 and data.train.count + data.test.count > 0
    pairs, num_users, num_items = data.interactions()
    assert (num_users, num_items) == (30, 40) and pairs['users'].max() < 30
    assert set(data.features()) == {'num_feat', 'field_dims', 'feat_mapper', 'defaults',
                                    'fields'}
    with pytest.raises(ValueError, match=r"num_feat must be 8, the number of fields of "
                                         r"'ml100k-ctr', got 34"):
        ctr_runs.read_click_data('ml100k-ctr', movielens, num_feat=34)
    with pytest.raises(ValueError, match="dataset must be 'ml100k-ctr' or 'ctr'"):
        ctr_runs.read_click_data('criteo')
    ctr_data = ctr_runs.read_click_data('ctr', ctr_folder)
    assert ctr_data.num_feat == 34 and ctr_data.interactions() is None
    with pytest.raises(ValueError, match='batch_size 100 is larger than the 60 training lines'):
        ctr_runs.check_click_sizes({'batch_size': 100}, ctr_data)
    with pytest.raises(ValueError, match=r'batch_size 30 is larger than the 20 test lines; .* '
                                         r'use at most 20'):
        ctr_runs.check_click_sizes({'batch_size': 30}, ctr_data)
    with pytest.raises(ValueError, match='multiple of the number of devices'):
        ctr_runs.check_click_sizes({'batch_size': 9}, ctr_data, 2)


def test_click_features_map_a_users_films_as_the_training_file(movielens):
    data = ctr_runs.read_click_data('ml100k-ctr', movielens)
    _, values, _ = clicks.read_ctr_lines(os.path.join(data.folder, 'train.csv'), 8)
    user, item = int(values[0, 0]), int(values[0, 1])
    x = ctr_runs.click_features(data.features(), data.catalog, user, [item])
    assert (x[0] == data.train.features[0]).all()
    with pytest.raises(ValueError, match='unknown user id 99'):
        ctr_runs.click_features(data.features(), data.catalog, 99, [item])
