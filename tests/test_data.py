"""The MovieLens functions against d2l's own (the oracle), and the fast twins against the
faithful ones, on synthetic data and on the real ML-100K when it is cached.

``D`` is the MXNet tab's data module (the book's functions drawing from MXNet's generator);
the framework-free layer underneath, :mod:`d2l_recsys.data`, is tested here too."""
import ast
import inspect
import textwrap

import numpy as onp
import pandas as pd
import pytest

# The MXNet tab; skips, saying why, where MXNet cannot run (d2l_recsys/compat.py).
pytest.importorskip('d2l_recsys.mxnet', exc_type=ImportError)
import mxnet as mx  # noqa: E402

from d2l_recsys import data as movielens  # noqa: E402
from d2l_recsys.mxnet import movielens as D  # noqa: E402
from conftest import NO_D2L, book_d2l, make_ratings, needs_d2l, write_u_data  # noqa: E402

d2l = book_d2l()   # the oracle: the book's own functions, or None where d2l is absent

MODES = ['random', 'seq-aware']
FEEDBACKS = ['explicit', 'implicit']


def assert_split_equal(got, want):
    for g, w in zip(got, want):
        assert type(g) is type(w)
        pd.testing.assert_frame_equal(g, w, check_exact=True)
        assert list(g.columns) == list(w.columns) and g.index.equals(w.index)


def assert_load_equal(got, want):
    for g, w in zip(got[:3], want[:3]):
        assert g == w
        assert [type(x) for x in g[:50]] == [type(x) for x in w[:50]]
    g, w = got[3], want[3]
    assert type(g) is type(w)
    if isinstance(w, dict):
        assert g == w and list(g) == list(w)   # same content and the same key order
    else:
        assert g.shape == w.shape and g.dtype == w.dtype and g.ctx == w.ctx
        assert onp.array_equal(g.asnumpy(), w.asnumpy())


def d2l_read(monkeypatch, folder):
    # d2l.read_data_ml100k downloads; point its download_extract at our folder instead.
    monkeypatch.setattr(d2l, 'download_extract', lambda name, folder_=None: folder)
    return d2l.read_data_ml100k()


def seeded(fn, seed, *args):
    mx.random.seed(seed)
    out = fn(*args)
    return out, float(mx.np.random.uniform().item())   # also: same amount of RNG consumed


@pytest.fixture(scope='module')
def synth(synthetic_dir):
    return D.read_data_ml100k(synthetic_dir)


def tricky_ratings():
    """Ties in time (also on a user's latest rating), and a duplicated row."""
    data = make_ratings(12, 15, seed=3, per_user=(3, 8), distinct_times=False)
    return pd.concat([data, data.iloc[[0, 5]], data.iloc[[7]]], ignore_index=True)


# --- reading ------------------------------------------------------------------------------

@needs_d2l
def test_read_matches_d2l(monkeypatch, synthetic_dir, synthetic_ratings, synth):
    want = d2l_read(monkeypatch, synthetic_dir)
    pd.testing.assert_frame_equal(synth[0], want[0], check_exact=True)
    assert synth[1:] == want[1:] == (30, 40)
    pd.testing.assert_frame_equal(synth[0], synthetic_ratings)


def test_read_accepts_the_file_itself_and_crlf(tmp_path, synthetic_ratings, synth):
    path = write_u_data(str(tmp_path), synthetic_ratings)
    pd.testing.assert_frame_equal(D.read_data_ml100k(path)[0], synth[0])
    with open(path) as f:
        text = f.read()
    with open(path, 'w', newline='') as f:
        f.write(text.replace('\n', '\r\n') + '\r\n')
    pd.testing.assert_frame_equal(D.read_data_ml100k(path)[0], synth[0])


def test_read_without_dir_uses_fetch(monkeypatch, synthetic_dir, synth):
    from d2l_recsys import fetch
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda *a, **k: synthetic_dir)
    pd.testing.assert_frame_equal(D.read_data_ml100k()[0], synth[0])


GOOD = '1\t1\t3\t881250949\n2\t2\t4\t881250950\n2\t1\t5\t881250951\n'


@pytest.mark.parametrize('text, message', [
    ('1\t1\t3\t881250949\n2\t2\t4\n', r'line 2: expected 4 tab-separated fields.*found 3'),
    ('1\t1\t3\t881250949\n2\t2\t4\t8812\t5\n', r'line 2: expected 4 .*found 5'),
    ('1 1 3 881250949\n', r'line 1: expected 4 tab-separated fields'),
    ('1\t1\t3\t881250949\nx\t2\t4\t881250950\n', r"line 2: user_id 'x' is not an integer"),
    ('1\t1\t3\t881250949\n2\t2.5\t4\t881250950\n', r"line 2: item_id '2.5' is not an integer"),
    ('1\t1\t3\t881250949\n2\t2\tgood\t881250950\n', r"line 2: rating 'good' is not an integer"),
    ('1\t1\t3\t881250949\n2\t2\t3.5\t881250950\n', r"line 2: rating '3.5' is not an integer"),
    ('1\t1\t3\t881250949\n2\t2\t4\tnoon\n', r"line 2: timestamp 'noon' is not an integer"),
    ('1\t1\t3\t881250949\n2\t2\t\t881250950\n', r"line 2: rating '' is not an integer"),
    (GOOD + '2\t2\t6\t881250952\n', r'line 4: rating 6 is outside 1\.\.5'),
    (GOOD + '2\t2\t0\t881250952\n', r'line 4: rating 0 is outside 1\.\.5'),
    (GOOD + '0\t2\t3\t881250952\n', r'line 4: user_id 0 is below 1'),
    (GOOD + '2\t-1\t3\t881250952\n', r'line 4: item_id -1 is below 1'),
    ('', r'empty file'),
    ('\n\n  \n', r'empty file'),
    ('1\t1\t3\t881250949\n\n2\t2\t4\t881250950\n', r'line 2: expected 4 .*found 1'),
    ('1\t1\t3\t1\n3\t2\t4\t2\n',
     r'user_ids must run 1\.\.N without gaps.*largest is 3 \(line 2\)'),
    ('1\t1\t3\t1\n2\t5\t4\t2\n', r'item_ids must run 1\.\.N without gaps.*largest is 5'),
])
def test_bad_u_data_names_file_and_line(tmp_path, text, message):
    path = tmp_path / 'u.data'
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        D.read_data_ml100k(str(tmp_path))
    assert str(path) in str(info.value)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        D.read_data_ml100k(str(tmp_path))


def test_good_small_file_reads(tmp_path):
    (tmp_path / 'u.data').write_text(GOOD)
    data, nu, ni = D.read_data_ml100k(str(tmp_path))
    assert (nu, ni) == (2, 2) and data.rating.tolist() == [3, 4, 5]


# --- faithful == d2l, fast == faithful -----------------------------------------------------

@needs_d2l
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('seed', [0, 7])
def test_split_matches_d2l_and_fast(synth, mode, seed):
    want, rng_want = seeded(d2l.split_data_ml100k, seed, *synth, mode, 0.1)
    got, rng_got = seeded(D.split_data_ml100k, seed, *synth, mode, 0.1)
    fast, rng_fast = seeded(D.split_data_ml100k_fast, seed, *synth, mode, 0.1)
    assert_split_equal(got, want)
    assert_split_equal(fast, want)
    assert rng_got == rng_want == rng_fast
    assert len(want[0]) + len(want[1]) == len(synth[0])


@needs_d2l
@pytest.mark.parametrize('ratio', [0.0, 0.3, 1.0])
def test_random_split_ratios(synth, ratio):
    want, _ = seeded(d2l.split_data_ml100k, 3, *synth, 'random', ratio)
    fast, _ = seeded(D.split_data_ml100k_fast, 3, *synth, 'random', ratio)
    assert_split_equal(fast, want)


def test_seq_aware_holds_out_each_users_latest(synth):
    train, test = D.split_data_ml100k_fast(*synth, 'seq-aware')
    data = synth[0]
    latest = data.groupby('user_id').timestamp.max()
    assert len(test) == synth[1]
    assert (test[3].to_numpy() == latest.loc[test[0]].to_numpy()).all()
    assert len(train) == len(data) - len(test)


@needs_d2l
def test_twins_on_ties_and_duplicate_rows():
    data = tricky_ratings()
    nu, ni = data.user_id.nunique(), data.item_id.nunique()
    for mode in MODES:
        want, rng_want = seeded(d2l.split_data_ml100k, 1, data, nu, ni, mode, 0.2)
        fast, rng_fast = seeded(D.split_data_ml100k_fast, 1, data, nu, ni, mode, 0.2)
        assert_split_equal(fast, want)
        assert rng_want == rng_fast
        for part in want:
            for feedback in FEEDBACKS + ['other']:
                assert_load_equal(D.load_data_ml100k_fast(part, nu, ni, feedback),
                                  d2l.load_data_ml100k(part, nu, ni, feedback))


@needs_d2l
def test_seq_aware_missing_user_fails_like_the_book(synth):
    data = synth[0][synth[0].user_id != 4]
    with pytest.raises(KeyError):
        d2l.split_data_ml100k(data, 30, 40, 'seq-aware')
    with pytest.raises(KeyError):
        D.split_data_ml100k_fast(data, 30, 40, 'seq-aware')


@needs_d2l
@pytest.mark.parametrize('feedback', FEEDBACKS)
@pytest.mark.parametrize('mode', MODES)
def test_load_matches_d2l_and_fast(synth, mode, feedback):
    parts, _ = seeded(d2l.split_data_ml100k, 5, *synth, mode, 0.1)
    for part in (synth[0],) + tuple(parts):
        want = d2l.load_data_ml100k(part, *synth[1:], feedback)
        assert_load_equal(D.load_data_ml100k(part, *synth[1:], feedback), want)
        assert_load_equal(D.load_data_ml100k_fast(part, *synth[1:], feedback), want)


@needs_d2l
def test_load_empty_part(synth):
    empty = synth[0].iloc[:0]
    assert_load_equal(D.load_data_ml100k_fast(empty, 30, 40), d2l.load_data_ml100k(empty, 30, 40))


@needs_d2l
def test_faithful_bodies_are_the_books():
    # The data layer's functions are the book's statements, after choosing the array module
    # the book calls ``np`` (the keyword ``xp``).
    def body(fn, array_module_line):
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        stmts = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
        if array_module_line:
            assert ast.unparse(stmts[0]) == 'np = numpy if xp is None else xp'
            stmts = stmts[1:]
        return [ast.dump(s) for s in stmts]
    for name in ('split_data_ml100k', 'load_data_ml100k'):
        assert body(getattr(movielens, name), True) == body(getattr(d2l, name), False)


@pytest.mark.parametrize('mode', MODES)
def test_data_layer_with_numpy(synth, mode):
    # Without a framework the split draws from NumPy's generator: the book's function and its
    # twin make the same draws and give the same output, and the matrix is a NumPy array.
    data, num_users, num_items = synth
    out = []
    for split in (movielens.split_data_ml100k, movielens.split_data_ml100k_fast):
        onp.random.seed(5)
        out.append((split(data, num_users, num_items, mode, 0.25), onp.random.uniform()))
    assert_split_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]
    train = out[0][0][0]
    slow = movielens.load_data_ml100k(train, num_users, num_items)
    fast = movielens.load_data_ml100k_fast(train, num_users, num_items)
    assert slow[:3] == fast[:3]
    assert type(slow[3]) is type(fast[3]) is onp.ndarray
    assert onp.array_equal(slow[3], fast[3]) and slow[3].dtype == fast[3].dtype


# --- split_and_load ------------------------------------------------------------------------

def loader_arrays(loader):
    # ArrayDataset keeps 1-d MXNet arrays as NumPy ones
    return [a.asnumpy() if hasattr(a, 'asnumpy') else onp.asarray(a)
            for a in loader._dataset._data]


@needs_d2l
@pytest.mark.parametrize('mode, feedback', [('seq-aware', 'explicit'), ('random', 'implicit')])
def test_split_and_load_matches_d2l(monkeypatch, synthetic_dir, mode, feedback):
    monkeypatch.setattr(d2l, 'download_extract', lambda name, folder=None: synthetic_dir)
    results = []
    for fn in (lambda: d2l.split_and_load_ml100k(mode, feedback, 0.1, 16),
               lambda: D.split_and_load_ml100k(mode, feedback, 0.1, 16,
                                               data_dir=synthetic_dir, fast=False),
               lambda: D.split_and_load_ml100k(mode, feedback, 0.1, 16,
                                               data_dir=synthetic_dir)):
        mx.random.seed(11)
        results.append(fn())
    want = results[0]
    for got in results[1:]:
        assert got[:2] == want[:2] == (30, 40)
        for g, w in zip(got[2:], want[2:]):
            gb, wb = g._batch_sampler, w._batch_sampler
            assert (gb._batch_size, gb._last_batch, type(gb._sampler)) == \
                (wb._batch_size, wb._last_batch, type(wb._sampler))
            for a, b in zip(loader_arrays(g), loader_arrays(w)):
                assert a.dtype == b.dtype and onp.array_equal(a, b)
        got_batches = [[x.asnumpy() for x in batch] for batch in got[3]]
        want_batches = [[x.asnumpy() for x in batch] for batch in want[3]]
        assert len(got_batches) == len(want_batches)
        assert all(onp.array_equal(a, b) for ga, wa in zip(got_batches, want_batches)
                   for a, b in zip(ga, wa))


@needs_d2l
def test_split_and_load_defaults_are_the_books():
    want = inspect.signature(d2l.split_and_load_ml100k).parameters
    got = inspect.signature(D.split_and_load_ml100k).parameters
    for name, p in want.items():
        assert got[name].default == p.default
    assert got['fast'].default is True and got['data_dir'].default is None


# --- the real ML-100K (skipped when `make data` has not cached it) -------------------------

@pytest.fixture(scope='module')
def real(real_data_dir):
    return D.read_data_ml100k(real_data_dir)


@pytest.fixture(scope='module')
def real_oracle(real):
    """d2l's results on the full data, computed once (the book's loops take ~30 s here)."""
    if d2l is None:
        pytest.skip(NO_D2L)
    out = {'seq-aware': d2l.split_data_ml100k(*real, 'seq-aware')}
    mx.random.seed(0)
    out['random'] = d2l.split_data_ml100k(*real, 'random')
    out['load'] = d2l.load_data_ml100k(*real, 'explicit')
    return out


@needs_d2l
def test_real_read_matches_d2l(monkeypatch, real_data_dir, real):
    want = d2l_read(monkeypatch, real_data_dir)
    pd.testing.assert_frame_equal(real[0], want[0], check_exact=True)
    assert real[1:] == want[1:] == (943, 1682) and len(real[0]) == 100_000
    assert real[0].iloc[0].tolist() == [196, 242, 3, 881250949]   # u.data's first row


@pytest.mark.parametrize('mode', MODES)
def test_real_split_faithful_and_fast_match_d2l(real, real_oracle, mode):
    want = real_oracle[mode]
    fast, _ = seeded(D.split_data_ml100k_fast, 0, *real, mode, 0.1)
    assert_split_equal(fast, want)
    got, _ = seeded(D.split_data_ml100k, 0, *real, mode, 0.1)
    assert_split_equal(got, want)
    if mode == 'seq-aware':
        assert (len(want[0]), len(want[1])) == (99_057, 943)


def test_real_load_explicit(real, real_oracle):
    want = real_oracle['load']
    assert_load_equal(D.load_data_ml100k_fast(*real, 'explicit'), want)
    assert_load_equal(D.load_data_ml100k(*real, 'explicit'), want)
    assert float(want[3].sum()) == float(real[0].rating.sum())


@needs_d2l
@pytest.mark.parametrize('mode', MODES)
def test_real_load_parts(real, real_oracle, mode):
    train, test = real_oracle[mode]
    for feedback in FEEDBACKS:
        want = d2l.load_data_ml100k(test, *real[1:], feedback)
        assert_load_equal(D.load_data_ml100k(test, *real[1:], feedback), want)
        assert_load_equal(D.load_data_ml100k_fast(test, *real[1:], feedback), want)
    want = d2l.load_data_ml100k(train, *real[1:], 'implicit')
    assert_load_equal(D.load_data_ml100k_fast(train, *real[1:], 'implicit'), want)
    assert_load_equal(D.load_data_ml100k(train, *real[1:], 'implicit'), want)


def test_real_split_and_load(real_data_dir, real, real_oracle):
    nu, ni, train_iter, test_iter = D.split_and_load_ml100k(data_dir=real_data_dir)
    assert (nu, ni) == (943, 1682)
    train, test = real_oracle['seq-aware']
    for loader, part in ((train_iter, train), (test_iter, test)):
        u, i, r = loader_arrays(loader)
        assert onp.array_equal(u, part[0].to_numpy() - 1)
        assert onp.array_equal(i, part[1].to_numpy() - 1)
        assert onp.array_equal(r, part[2].to_numpy())
