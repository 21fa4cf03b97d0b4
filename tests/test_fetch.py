"""d2l_recsys.fetch: source order, env vars, zip safety, atomic writes, the recbole mirror's
conversion and the checks, all offline on small synthetic data (the full-size checks are
shrunk to the synthetic set's size where a test needs a "valid" data set)."""
import hashlib
import io
import os
import time
import zipfile

import pandas as pd
import pytest

from d2l_recsys import data as D
from d2l_recsys import fetch, scratch
from conftest import NO_D2L, write_u_data


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache per test; no user path; the network sources fail unless a test says so."""
    monkeypatch.setenv(fetch.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.delenv(fetch.ENV_DATA, raising=False)
    calls = []

    def offline(name):
        def step(cache, log):
            calls.append(name)
            raise fetch.DataError(f'{name}: offline in tests')
        return step
    monkeypatch.setattr(fetch, '_from_grouplens', offline('GroupLens'))
    monkeypatch.setattr(fetch, '_from_pypi', offline('PyPI'))
    return calls


@pytest.fixture
def small(monkeypatch, synthetic_ratings):
    """Make the synthetic set count as 'the full data set' for the checks."""
    monkeypatch.setattr(fetch, 'NUM_RATINGS', len(synthetic_ratings))
    monkeypatch.setattr(fetch, 'NUM_USERS', synthetic_ratings.user_id.nunique())
    monkeypatch.setattr(fetch, 'NUM_ITEMS', synthetic_ratings.item_id.nunique())
    return synthetic_ratings


def cache_dir():
    return fetch.cache_root()


def listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def make_zip(path, members, prefix='ml-100k/'):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(prefix + name, text)
    return str(path)


def u_data_text(data):
    buf = io.StringIO()
    data.to_csv(buf, sep='\t', header=False, index=False)
    return buf.getvalue()


def logger():
    lines = []
    return lines, lines.append


# --- source order and env vars -------------------------------------------------------------

def test_argument_first(tmp_path, small, monkeypatch, isolated):
    mine, env = str(tmp_path / 'mine'), str(tmp_path / 'env')
    write_u_data(mine, small)
    write_u_data(env, small)
    monkeypatch.setenv(fetch.ENV_DATA, env)
    lines, log = logger()
    assert fetch.ml100k_dir(mine, log=log) == mine
    assert len(lines) == 1 and 'argument' in lines[0] and mine in lines[0]
    assert isolated == [] and listing(cache_dir()) == []   # nothing copied, no download


def test_env_var_folder(tmp_path, small, monkeypatch, isolated):
    env = str(tmp_path / 'env')
    write_u_data(env, small)
    monkeypatch.setenv(fetch.ENV_DATA, env)
    lines, log = logger()
    assert fetch.ml100k_dir(log=log) == env
    assert lines == [f'ml-100k: ${fetch.ENV_DATA} {env}: using {env} (checked)']
    assert isolated == []


def user_data_dir(zip_path):
    with open(zip_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return os.path.join(cache_dir(), 'user-data', digest)


def test_env_var_zip_is_extracted_into_a_folder_of_its_own(tmp_path, small, monkeypatch):
    z = make_zip(tmp_path / 'ml-100k.zip', {'u.data': u_data_text(small), 'u.item': '1|A|\n'})
    monkeypatch.setenv(fetch.ENV_DATA, z)
    folder = fetch.ml100k_dir(log=None)
    assert folder == user_data_dir(z)
    assert listing(folder) == ['u.data', 'u.item'] and listing(cache_dir()) == ['user-data']
    pd.testing.assert_frame_equal(D.read_data_ml100k(folder)[0], small)
    # a folder holding ml-100k.zip works too
    monkeypatch.setenv(fetch.ENV_DATA, str(tmp_path))
    assert fetch.ml100k_dir(log=None) == folder


def test_zip_without_prefix_and_u_data_file_path(tmp_path, small):
    z = make_zip(tmp_path / 'flat.zip', {'u.data': u_data_text(small)}, prefix='')
    assert fetch.ml100k_dir(z, log=None) == user_data_dir(z)
    path = write_u_data(str(tmp_path / 'f'), small)
    assert fetch.ml100k_dir(path, log=None) == str(tmp_path / 'f')


def test_bad_user_path_raises_instead_of_falling_through(tmp_path, monkeypatch, isolated):
    with pytest.raises(fetch.DataError, match=r'argument .*nowhere: no such file or folder'):
        fetch.ml100k_dir(str(tmp_path / 'nowhere'), log=None)
    monkeypatch.setenv(fetch.ENV_DATA, str(tmp_path))
    with pytest.raises(fetch.DataError, match=r'\$D2L_RECSYS_DATA .*neither u.data nor '):
        fetch.ml100k_dir(log=None)
    assert isolated == []


def test_cache_used_before_network(tmp_path, small, isolated):
    write_u_data(os.path.join(cache_dir(), 'ml-100k'), small)
    lines, log = logger()
    assert fetch.ml100k_dir(log=log) == os.path.join(cache_dir(), 'ml-100k')
    assert lines == [f'ml-100k: cache {cache_dir()}/ml-100k: found (checked)']
    assert isolated == []


def test_one_log_line_per_step_and_all_failures_reported(isolated):
    lines, log = logger()
    with pytest.raises(fetch.FetchError) as info:
        fetch.ml100k_dir(log=log)
    assert isolated == ['GroupLens', 'PyPI']
    assert len(lines) == 3 and all(line.startswith('ml-100k: ') for line in lines)
    assert 'cache' in lines[0] and 'empty' in lines[0]
    assert 'GroupLens: offline' in str(info.value) and 'PyPI: offline' in str(info.value)
    assert fetch.ENV_DATA in str(info.value)


def test_cache_with_wrong_data_falls_through(small, isolated):
    extra = small.iloc[[0]].assign(item_id=small.item_id.max() - small.iloc[0].item_id + 1)
    write_u_data(os.path.join(cache_dir(), 'ml-100k'), pd.concat([small, extra]))
    lines, log = logger()
    with pytest.raises(fetch.FetchError, match='not the full MovieLens 100K'):
        fetch.ml100k_dir(log=log)
    assert isolated == ['GroupLens', 'PyPI'] and 'trying the next source' in lines[0]


def test_full_size_checks(tmp_path, synthetic_ratings):
    write_u_data(str(tmp_path), synthetic_ratings)
    with pytest.raises(fetch.DataError, match=r'argument .*not the full MovieLens 100K: '
                                              r'\d+ ratings, 30 users, 40 items'):
        fetch.ml100k_dir(str(tmp_path), log=None)


def test_duplicate_pair_named(tmp_path, small, monkeypatch):
    dup = pd.concat([small, small.iloc[[3]]], ignore_index=True)
    dup.iloc[-1, 3] += 1   # same user and item, later: still a pair rated twice
    monkeypatch.setattr(fetch, 'NUM_RATINGS', len(dup))
    write_u_data(str(tmp_path), dup)
    row = small.iloc[3]
    with pytest.raises(fetch.DataError, match=rf'user {row.user_id} rated item {row.item_id} '
                                              rf'twice \(lines 4 and {len(dup)}\)'):
        fetch.ml100k_dir(str(tmp_path), log=None)


def test_format_errors_name_the_source(tmp_path, monkeypatch):
    (tmp_path / 'u.data').write_text('1\t1\t9\t5\n')
    monkeypatch.setenv(fetch.ENV_DATA, str(tmp_path))
    with pytest.raises(fetch.DataError, match=r'\$D2L_RECSYS_DATA .*u.data line 1: rating 9'):
        fetch.ml100k_dir(log=None)


def test_cache_root_default(monkeypatch):
    monkeypatch.delenv(fetch.ENV_CACHE)
    assert fetch.cache_root() == os.path.expanduser('~/.cache/d2l-recsys')


# --- zip safety ----------------------------------------------------------------------------

@pytest.mark.parametrize('member', ['../evil.txt', 'ml-100k/../../evil.txt', '/tmp/evil.txt',
                                    '..\\evil.txt', 'C:/evil.txt'])
def test_unsafe_members_rejected(tmp_path, small, member):
    z = tmp_path / 'ml-100k.zip'
    with zipfile.ZipFile(z, 'w') as zf:
        zf.writestr('ml-100k/u.data', u_data_text(small))
        zf.writestr(zipfile.ZipInfo(member), 'gotcha')
    with pytest.raises(fetch.DataError, match=r'unsafe member .*absolute path or \.\.'):
        fetch.ml100k_dir(str(z), log=None)
    assert listing(cache_dir()) == []   # nothing extracted anywhere, staging removed
    assert not (tmp_path / 'evil.txt').exists() and not os.path.exists('/tmp/evil.txt')


def test_corrupt_zip(tmp_path):
    z = tmp_path / 'ml-100k.zip'
    z.write_bytes(b'PK\x03\x04 this is not really a zip archive' * 10)
    with pytest.raises(fetch.DataError, match='corrupt or truncated zip'):
        fetch.ml100k_dir(str(z), log=None)
    assert listing(cache_dir()) == []


def test_truncated_zip(tmp_path, small):
    z = make_zip(tmp_path / 'ml-100k.zip', {'u.data': u_data_text(small)})
    with open(z, 'rb') as f:
        raw = f.read()
    with open(z, 'wb') as f:
        f.write(raw[:len(raw) // 2])
    with pytest.raises(fetch.DataError, match=r'ml-100k.zip: corrupt or truncated zip'):
        fetch.ml100k_dir(z, log=None)
    assert listing(cache_dir()) == []


def test_damaged_member_crc(tmp_path, small):
    z = tmp_path / 'ml-100k.zip'
    with zipfile.ZipFile(z, 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr('ml-100k/u.data', u_data_text(small))
    raw = bytearray(z.read_bytes())
    at = raw.index(b'\t') + 1
    raw[at] = ord('9') if raw[at] != ord('9') else ord('8')   # still a digit, wrong CRC
    z.write_bytes(bytes(raw))
    with pytest.raises(fetch.DataError, match=r'corrupt or truncated zip .*CRC'):
        fetch.ml100k_dir(str(z), log=None)


def test_zip_without_u_data(tmp_path):
    z = make_zip(tmp_path / 'ml-100k.zip', {'README': 'hi'})
    with pytest.raises(fetch.DataError, match='no u.data in the archive'):
        fetch.ml100k_dir(z, log=None)
    assert listing(cache_dir()) == []


# --- atomic writes -------------------------------------------------------------------------

def test_interrupted_install_keeps_the_old_cache(tmp_path, small, monkeypatch):
    good = os.path.join(cache_dir(), 'ml-100k')
    write_u_data(good, small)
    before = open(os.path.join(good, 'u.data')).read()
    z = make_zip(tmp_path / 'ml-100k.zip', {'u.data': u_data_text(small.iloc[::-1])})

    def interrupted(folder, source, **options):
        assert os.path.isfile(os.path.join(folder, 'u.data'))   # mid-install, staged
        raise KeyboardInterrupt
    monkeypatch.setattr(fetch, '_check_folder', interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch.ml100k_dir(z, log=None)
    assert listing(cache_dir()) == ['ml-100k']   # no staging folder left behind
    assert open(os.path.join(good, 'u.data')).read() == before


def test_install_replaces_whole_folder(tmp_path, small):
    # The cache's own zip (GroupLens' download) replaces the cached folder whole.
    old = os.path.join(cache_dir(), 'ml-100k')
    write_u_data(old, small.iloc[:5])
    open(os.path.join(old, 'stale.txt'), 'w').close()
    z = make_zip(tmp_path / 'x.zip', {'u.data': u_data_text(small)})
    assert fetch._install_zip(z, cache_dir(), 'GroupLens') == old
    assert listing(old) == ['u.data'] and listing(cache_dir()) == ['ml-100k']


def test_publish_race_lost_to_another_process(tmp_path, small, monkeypatch):
    cache = cache_dir()
    write_u_data(os.path.join(cache, 'ml-100k'), small)   # the other process's copy
    stage = tmp_path / 'stage'
    write_u_data(str(stage), small)
    with monkeypatch.context() as m:
        m.setattr(fetch.os.path, 'lexists', lambda path: False)   # it came in between
        assert fetch._publish(str(stage), cache) == os.path.join(cache, 'ml-100k')
    assert listing(os.path.join(cache, 'ml-100k')) == ['u.data']


def test_read_data_accepts_a_zip(tmp_path, small):
    z = make_zip(tmp_path / 'ml-100k.zip', {'u.data': u_data_text(small)})
    pd.testing.assert_frame_equal(D.read_data_ml100k(z)[0], small)


def test_write_atomic_failure_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / 'u.data'
    target.write_text('old')

    def broken(src, dst):
        raise OSError('disk full')
    monkeypatch.setattr(fetch.os, 'replace', broken)
    with pytest.raises(OSError, match='disk full'):
        fetch._write_atomic(str(target), b'new')
    # (the cache folder, which holds the registry of temporary files, is left empty)
    assert [n for n in listing(tmp_path) if n != 'cache'] == ['u.data']
    assert listing(tmp_path / 'cache') == [] and target.read_text() == 'old'


def test_stale_leftovers_removed_fresh_kept(small):
    cache = cache_dir()
    write_u_data(os.path.join(cache, 'ml-100k'), small)
    for name in ('.tmp-ml-100k-old', '.tmp-ml-100k-new', '.tmp-x.zip'):
        path = os.path.join(cache, name)
        os.makedirs(path) if 'zip' not in name else open(path, 'w').close()
    past = time.time() - 2 * fetch.STALE_SECONDS
    os.utime(os.path.join(cache, '.tmp-ml-100k-old'), (past, past))
    os.utime(os.path.join(cache, '.tmp-x.zip'), (past, past))
    fetch.ml100k_dir(log=None)
    assert listing(cache) == ['.tmp-ml-100k-new', 'ml-100k']


# --- GroupLens (the book's d2l.DATA_HUB entry), served from a local HTTP server ------------

def test_grouplens_entry_is_d2ls():
    d2l = pytest.importorskip('d2l.mxnet', reason=NO_D2L, exc_type=ImportError)   # and MXNet
    url, sha1 = fetch.ML100K
    assert (url, sha1) == d2l.DATA_HUB['ml-100k']
    assert url.endswith('ml-100k.zip') and len(sha1) == 40


@pytest.fixture
def grouplens(monkeypatch, server, small):
    """Restore the real GroupLens step, pointed at the local server's ml-100k.zip."""
    root, base = server
    z = make_zip(root / 'ml-100k.zip', {'u.data': u_data_text(small), 'u.item': '1|A (1)|\n'})
    sha1 = hashlib.sha1(open(z, 'rb').read()).hexdigest()
    entry = [f'{base}/ml-100k.zip', sha1]
    monkeypatch.setattr(fetch, 'ML100K', entry)   # the tests change it in place
    monkeypatch.setattr(fetch, '_from_grouplens', FROM_GROUPLENS)
    return entry


FROM_GROUPLENS = fetch._from_grouplens


def test_grouplens_download_checked_and_cached(grouplens, isolated):
    lines, log = logger()
    folder = fetch.ml100k_dir(log=log)
    assert folder == os.path.join(cache_dir(), 'ml-100k')
    assert listing(cache_dir()) == ['ml-100k', 'ml-100k.zip'] and isolated == []
    assert len(lines) == 2 and 'GroupLens' in lines[1] and 'SHA-1 ok' in lines[1]
    # the kept zip is reused (SHA-1 checked) when the folder is gone
    import shutil
    shutil.rmtree(folder)
    lines, log = logger()
    assert fetch.ml100k_dir(log=log) == folder and len(lines) == 1 and 'SHA-1 ok' in lines[0]


def test_grouplens_checksum_mismatch(grouplens, isolated):
    grouplens[1] = '0' * 40
    lines, log = logger()
    with pytest.raises(fetch.FetchError, match=r'GroupLens http://127.0.0.1:\d+/ml-100k.zip: '
                                               r'SHA-1 mismatch: got [0-9a-f]{40} .*'
                                               r'expected 0{40}'):
        fetch.ml100k_dir(log=log)
    assert 'SHA-1 mismatch' in lines[1] and 'trying the next source' in lines[1]
    assert isolated == ['PyPI'] and listing(cache_dir()) == []   # no half or bad file kept


def test_grouplens_unreachable_fails_fast(grouplens, server, isolated):
    grouplens[0] = server[1] + '/missing.zip'   # 404
    with pytest.raises(fetch.FetchError, match=r'GroupLens .*download failed \(HTTPError\)'):
        fetch.ml100k_dir(log=None)
    grouplens[0] = 'http://127.0.0.1:9/ml-100k.zip'   # nothing listens on the discard port
    start = time.monotonic()
    with pytest.raises(fetch.FetchError, match=r'download failed \(ConnectionError\)'):
        fetch.ml100k_dir(log=None)
    assert time.monotonic() - start < 30
    assert listing(cache_dir()) == []


# --- the PyPI mirror: a small fake recbole wheel ----------------------------------------

def recbole_files(data):
    inter = 'user_id:token\titem_id:token\trating:float\ttimestamp:float\n' + u_data_text(data)
    items = ['item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq']
    for i in range(1, data.item_id.max() + 1):
        title, year, genres = f'Movie {i}', str(1990 + i % 10), 'Comedy Drama'
        if i == 2:
            title, year, genres = 'unkonwn', 'unkonwn', 'unknown'
        if i == 3:
            title, year, genres = 'Land Before Time III (1995)', 'V', "Animation Children's"
        if i == 4:
            title = 'Misérables, Les'
        items.append(f'{i}\t{title}\t{year}\t{genres}')
    return inter.encode(), ('\n'.join(items) + '\n').encode()


@pytest.fixture
def fake_wheel(tmp_path, small, monkeypatch):
    inter, item = recbole_files(small)
    wheel = tmp_path / 'recbole-1.2.1-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('recbole/__init__.py', '')
        zf.writestr(fetch.RECBOLE_DIR + 'ml-100k.inter', inter)
        zf.writestr(fetch.RECBOLE_DIR + 'ml-100k.item', item)
    monkeypatch.setattr(fetch, 'RECBOLE_SHA256', {
        'ml-100k.inter': hashlib.sha256(inter).hexdigest(),
        'ml-100k.item': hashlib.sha256(item).hexdigest()})
    commands = []

    def fake_run(cmd, **kwargs):   # what `pip download` would do: put the wheel in -d
        commands.append(cmd)
        dest = cmd[cmd.index('-d') + 1]
        with open(os.path.join(dest, wheel.name), 'wb') as f:
            f.write(wheel.read_bytes())
        return type('Done', (), {'returncode': 0, 'stderr': '', 'stdout': ''})()
    monkeypatch.setattr(fetch.subprocess, 'run', fake_run)
    monkeypatch.setattr(fetch, '_from_pypi', FROM_PYPI)
    return commands


FROM_PYPI = fetch._from_pypi


def test_pypi_mirror_converted(fake_wheel, small, isolated):
    lines, log = logger()
    folder = fetch.ml100k_dir(log=log)
    cmd = fake_wheel[0]
    assert cmd[1:] == ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--quiet',
                       'recbole==1.2.1', '-d', cmd[-1]]
    assert isolated == ['GroupLens'] and len(lines) == 3 and 'PyPI recbole==1.2.1' in lines[2]
    assert listing(folder) == ['SOURCE', 'u.data', 'u.item']
    assert listing(cache_dir()) == ['ml-100k']
    pd.testing.assert_frame_equal(D.read_data_ml100k(folder)[0], small)
    titles = fetch.read_item_titles(folder)
    assert titles[1] == 'Movie 1 (1991)' and titles[2] == 'unknown'
    assert titles[3] == 'Land Before Time III (1995) (V)'
    assert titles[4] == 'Misérables, Les (1994)'
    with open(os.path.join(folder, 'u.item'), 'rb') as f:
        rows = f.read().decode('latin-1').splitlines()
    fields = rows[0].split('|')
    assert len(fields) == 24 and fields[0] == '1' and sum(map(int, fields[5:])) == 2
    assert rows[1].split('|')[5] == '1'   # genre 'unknown'


def test_pypi_member_checksum(fake_wheel, monkeypatch):
    monkeypatch.setitem(fetch.RECBOLE_SHA256, 'ml-100k.inter', 'f' * 64)
    with pytest.raises(fetch.FetchError, match=r'PyPI recbole==1.2.1: ml-100k.inter SHA-256 '
                                               r'mismatch'):
        fetch.ml100k_dir(log=None)
    assert listing(cache_dir()) == []


def test_pip_failure_reported(monkeypatch):
    monkeypatch.setattr(fetch, '_from_pypi', FROM_PYPI)
    monkeypatch.setattr(fetch.subprocess, 'run', lambda cmd, **kw: type('Failed', (), {
        'returncode': 1, 'stderr': 'ERROR: No matching distribution found for recbole==1.2.1\n',
        'stdout': ''})())
    with pytest.raises(fetch.FetchError, match=r'pip download failed \(exit 1\): ERROR: No '):
        fetch.ml100k_dir(log=None)


def test_wheel_that_is_not_a_zip(tmp_path):
    wheel = tmp_path / 'recbole-1.2.1-py3-none-any.whl'
    wheel.write_bytes(b'not a zip')
    with pytest.raises(fetch.DataError, match='not a valid wheel'):
        fetch._convert_wheel(str(wheel), str(tmp_path), 'PyPI')


@pytest.mark.parametrize('inter, message', [
    (b'user_id:token\titem_id:token\trating:float\n1\t1\t3\n', r'header .*lacks \[.timestamp'),
    (b'user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t3\n',
     r'ml-100k.inter line 2: expected 4 tab-separated fields, found 3'),
    (b'user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\tx\t3\t5\n',
     r'ml-100k.inter line 2: non-numeric'),
    (b'user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t3.5\t5\n',
     r'line 2: rating 3.5 or timestamp 5 is not a whole number'),
    (b'', r'ml-100k.inter is empty'),
])
def test_recbole_conversion_errors(tmp_path, inter, message):
    with pytest.raises(fetch.DataError, match=message):
        fetch.convert_recbole(inter, None, str(tmp_path))
    assert listing(tmp_path) == []


def test_recbole_float_columns_accepted(tmp_path):
    fetch.convert_recbole(b'timestamp:float\tuser_id:token\titem_id:token\trating:float\n'
                          b'881250949.0\t1\t2\t3.0\n', None, str(tmp_path))
    assert (tmp_path / 'u.data').read_text() == '1\t2\t3\t881250949\n'


# --- titles --------------------------------------------------------------------------------

def test_read_item_titles_grouplens_latin1(tmp_path):
    (tmp_path / 'u.item').write_bytes(
        '1|Toy Story (1995)|01-Jan-1995||http://x|0|0\n543|Misérables, Les (1995)|||\n\n'
        .encode('latin-1'))
    assert fetch.read_item_titles(str(tmp_path)) == {1: 'Toy Story (1995)',
                                                     543: 'Misérables, Les (1995)'}


def test_read_item_titles_missing_and_bad(tmp_path, synthetic_dir, monkeypatch):
    assert fetch.read_item_titles(str(tmp_path)) == {}
    (tmp_path / 'u.item').write_text('1|A\nX|B\n')
    with pytest.raises(ValueError, match=r'u.item line 2: item id .X. is not an integer'):
        fetch.read_item_titles(str(tmp_path))
    (tmp_path / 'u.item').write_text('1|A\n2\n')
    with pytest.raises(ValueError, match=r'u.item line 2: expected item_id\|title'):
        fetch.read_item_titles(str(tmp_path))
    monkeypatch.setattr(fetch, 'ml100k_dir', lambda *a, **k: synthetic_dir)
    assert fetch.read_item_titles()[3] == 'Movie 3 (1993)'


def test_real_titles(real_data_dir):
    titles = fetch.read_item_titles(real_data_dir)
    assert len(titles) == 1682 and titles[1] == 'Toy Story (1995)'


# --- a user's data never replaces the cache; nothing is left behind -------------------------

def test_user_zip_never_replaces_the_cache_and_only_what_is_needed_is_extracted(tmp_path,
                                                                              small):
    cached = os.path.join(cache_dir(), 'ml-100k')
    write_u_data(cached, small)
    with open(os.path.join(cached, 'u.item'), 'w') as f:
        f.write('1|Movie (1995)|\n')
    before = {n: open(os.path.join(cached, n), 'rb').read() for n in listing(cached)}
    z = tmp_path / 'ml-100k.zip'
    with zipfile.ZipFile(z, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('ml-100k/u.data', u_data_text(small.iloc[::-1]))
        zf.writestr('ml-100k/extra.bin', b'\0' * (8 << 20))   # not needed: not extracted
        zf.writestr('README', 'hello')
    folder = fetch.ml100k_dir(str(z), log=None)
    assert folder != cached and listing(folder) == ['u.data']
    assert {n: open(os.path.join(cached, n), 'rb').read() for n in listing(cached)} == before
    assert listing(cache_dir()) == ['ml-100k', 'user-data']
    assert fetch.ml100k_dir(log=None) == cached   # the cache still serves its own copy


def test_a_file_that_is_neither_zip_nor_u_data_is_named(tmp_path, small):
    path = tmp_path / 'ratings.tsv'
    path.write_text(u_data_text(small))
    with pytest.raises(fetch.DataError, match=r'ratings.tsv: neither a zip archive nor a file '
                                              r'named u.data'):
        fetch.ml100k_dir(str(path), log=None)


@pytest.mark.parametrize('how', ['file', 'under a file'])
def test_unusable_cache_is_named_in_one_line(tmp_path, monkeypatch, isolated, how):
    blocker = tmp_path / 'blocker'
    blocker.write_text('')
    cache = blocker if how == 'file' else blocker / 'cache'
    monkeypatch.setenv(fetch.ENV_CACHE, str(cache))
    words = 'is a file, not a folder' if how == 'file' else f'lies under {blocker}, which is'
    with pytest.raises(fetch.FetchError) as e:
        fetch.ml100k_dir(log=None)
    assert '\n' not in str(e.value)
    assert f'could not get MovieLens 100K: the cache folder {cache} {words}' in str(e.value)
    assert fetch.ENV_CACHE in str(e.value) and isolated == []   # no download tried


def test_failures_are_reported_on_one_line(isolated):
    with pytest.raises(fetch.FetchError) as e:
        fetch.ml100k_dir(log=None)
    assert '\n' not in str(e.value)
    assert 'GroupLens: offline' in str(e.value) and 'PyPI: offline' in str(e.value)


def test_a_local_write_error_is_not_a_failed_download(grouplens, monkeypatch):
    def denied(url, path, sha1, source):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(fetch, '_download', denied)
    with pytest.raises(fetch.FetchError, match=r'GroupLens .*: could not write .*ml-100k.zip '
                                               r'\(Permission denied\)'):
        fetch.ml100k_dir(log=None)


PIP_RUN = r'''
import os, sys
from d2l_recsys import cli, fetch

def offline(cache, log):
    raise fetch.DataError('GroupLens: offline in tests')
fetch._from_grouplens = offline
sys.executable = sys.argv[1]      # "python -m pip download ..." runs the stand-in below
sys.exit(cli.main(['data']))
'''
FAKE_PIP = '''#!/bin/sh
echo "$TMPDIR" > "{record}.tmpdir"
echo "$$ $@" > "{record}"
exec sleep 120
'''


def _alive(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return 'State:\tZ' not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc (Linux)')
@pytest.mark.parametrize('how', ['SIGTERM', 'SIGKILL'])
def test_a_killed_pypi_download_leaves_no_pip_and_no_temporary_folder_outside_the_cache(
        tmp_path, how, monkeypatch):
    import signal
    import subprocess
    import sys
    record = tmp_path / 'pip-args'
    fake = tmp_path / 'fake-python'
    fake.write_text(FAKE_PIP.format(record=record))
    fake.chmod(0o755)
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    cache = tmp_path / 'cache'
    env = {k: v for k, v in os.environ.items() if k != fetch.ENV_DATA}
    env.update({fetch.ENV_CACHE: str(cache), 'TMPDIR': str(tmpdir)})
    proc = subprocess.Popen([sys.executable, '-c', PIP_RUN, str(fake)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (record.exists() and record.read_text().endswith('\n')):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid, *args = record.read_text().split()
        proc.send_signal(getattr(signal, how))
        proc.wait(60)
    finally:
        proc.kill()
        proc.wait()
    dest = args[args.index('-d') + 1]
    assert os.path.dirname(dest) == str(cache) and os.path.basename(dest).startswith('.tmp-')
    assert os.listdir(tmpdir) == []
    # pip's own temporary folders go into the staging folder, not the system's
    assert os.path.dirname((tmp_path / 'pip-args.tmpdir').read_text().strip()) == dest
    deadline = time.monotonic() + 10
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid)), 'pip download still running'
    if how == 'SIGTERM':   # unwound: the temporary folder is gone too
        assert proc.returncode == 128 + signal.SIGTERM and listing(cache) == []
    else:                  # the next run of any command sweeps it
        assert [n for n in listing(cache) if not n.startswith('.tmp-')] == ['.pending']
        assert os.path.isdir(dest)
        monkeypatch.setenv(fetch.ENV_CACHE, str(cache))
        assert scratch.sweep() == [dest]
        assert listing(cache) == []


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_unwritable_cache_is_named(tmp_path, monkeypatch, isolated):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.setenv(fetch.ENV_CACHE, str(locked))
    try:
        with pytest.raises(fetch.FetchError, match=r'the cache folder .*locked is not writable'):
            fetch.ml100k_dir(log=None)
    finally:
        locked.chmod(0o755)
    assert isolated == []
