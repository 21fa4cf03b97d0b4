"""Getting MovieLens 100K for the book's MovieLens section, even where GroupLens is unreachable.

https://d2l.ai/chapter_recommender-systems/movielens.html reads ``u.data`` through
``d2l.download_extract('ml-100k')``. Here :func:`ml100k_dir` tries, in order, logging one line
per step: a path the user gives (argument or ``$D2L_RECSYS_DATA``: a folder with ``u.data`` or
an ``ml-100k.zip``), the cache (``$D2L_RECSYS_CACHE`` or ``~/.cache/d2l-recsys``, folder
``ml-100k/``), GroupLens (the book's ``d2l.DATA_HUB['ml-100k']``) with its SHA-1, and the copy of
ML-100K inside the ``recbole==1.2.1`` wheel on PyPI, converted to the ``u.data``/``u.item``/
``u.user`` layout. Whatever the source, the data are checked (100,000 ratings 1..5 by 943 users on
1,682 items, no user-item pair twice; ``u.user``, when there, 943 users with their age, gender,
occupation and zip code) before use. The cache folder is only ever replaced whole, by a rename,
so an interrupted run leaves no half-written data in it. ``u.user`` is read only by the
MovieLens click data (:mod:`d2l_recsys.ml100k_ctr`): :func:`u_user_path` adds it to a cache made
before it was fetched, from the same sources, without touching the other files.
"""
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as onp
import pandas as pd

from . import scratch
from .atomic import atomic_write, file_digest, read_regular, umask_mode
from .scratch import ENV_CACHE, cache_root

__all__ = ['ml100k_dir', 'read_u_data', 'read_item_titles', 'parse_item_titles', 'cache_root',
           'check_ml100k', 'DataError', 'FetchError', 'ML100K', 'read_u_user', 'read_u_item',
           'u_user_path', 'staging', 'publish', 'OCCUPATIONS', 'GENRES', 'member_parts',
           'download_checked', 'print_once', 'check_cache_writable']

ENV_DATA = 'D2L_RECSYS_DATA'
NUM_RATINGS, NUM_USERS, NUM_ITEMS = 100_000, 943, 1_682
HTTP_TIMEOUT = (5, 60)            # connect, read (s): fail fast where there is no network
PIP_TIMEOUT = 600
MAX_ZIP_BYTES = 200 * 2 ** 20     # ML-100K unpacks to ~16 MB; refuse zip bombs
RECBOLE = 'recbole==1.2.1'
RECBOLE_DIR = 'recbole/dataset_example/ml-100k/'
# SHA-256 of the two members we convert, so the mirror is pinned as GroupLens' SHA-1 pins its zip.
RECBOLE_SHA256 = {
    'ml-100k.inter': '4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff',
    'ml-100k.item': '51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532',
    'ml-100k.user': '4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972',
}
# GroupLens u.occupation: the occupations u.user may name.
OCCUPATIONS = ('administrator', 'artist', 'doctor', 'educator', 'engineer', 'entertainment',
               'executive', 'healthcare', 'homemaker', 'lawyer', 'librarian', 'marketing',
               'none', 'other', 'programmer', 'retired', 'salesman', 'scientist', 'student',
               'technician', 'writer')
# GroupLens u.item genre flags, in its column order (recbole keeps them as words).
GENRES = ['unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime',
          'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror', 'Musical', 'Mystery',
          'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western']
STALE_SECONDS = 3600              # leftovers of an interrupted run older than this are removed
# The book's ``d2l.DATA_HUB['ml-100k']``: GroupLens' zip and its SHA-1.
ML100K = ('https://files.grouplens.org/datasets/movielens/ml-100k.zip',
          'cd4dcac4241c8a4ad7badc7ca635da8a69dddb83')


# --- reading u.data strictly ---------------------------------------------------------------

COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']
_INT = re.compile(r'[+-]?[0-9]{1,18}\Z')
_ROW = r'[0-9]{1,18}\t[0-9]{1,18}\t[1-5]\t[0-9]{1,18}'
_CLEAN = re.compile(f'(?:{_ROW}\n)*{_ROW}\n?')


def _fail(path, lineno, what):
    return ValueError(f'{path} line {lineno}: {what}')


def read_u_data(path):
    """Read a MovieLens ``u.data`` file (``user_id\\titem_id\\trating\\ttimestamp``) strictly.

    Returns the DataFrame ``d2l.read_data_ml100k`` would build from the same file (int64
    columns user_id, item_id, rating, timestamp, file order). Any bad row raises ValueError
    naming the file and the line; so do an empty file and ids with gaps (the book indexes
    matrices by ``id - 1``, so ids must run 1..N).
    """
    text = read_regular(path).decode('utf-8', errors='replace')
    if _CLEAN.fullmatch(text):
        # Well-formed: parse in C. The loop below is the reference; it also finds the line.
        values = onp.fromstring(text, dtype=onp.int64, sep=' ').reshape(-1, 4)
        if values[:, :2].min() >= 1:
            data = pd.DataFrame({name: values[:, k].copy() for k, name in enumerate(COLUMNS)})
            return _check_ids(data, path)
    lines = text.split('\n')
    while lines and not lines[-1].strip():   # a final newline (or a few) is not a row
        lines.pop()
    if not lines:
        raise ValueError(f'{path}: empty file; expected rows of user_id<TAB>item_id<TAB>'
                         f'rating<TAB>timestamp')
    cols = ([], [], [], [])
    for n, line in enumerate(lines, 1):
        fields = line.rstrip('\r').split('\t')
        if len(fields) != 4:
            raise _fail(path, n, f'expected 4 tab-separated fields (user_id, item_id, rating, '
                                 f'timestamp), found {len(fields)}: {line[:80]!r}')
        for name, field, col in zip(COLUMNS, fields, cols):
            if not _INT.match(field):
                raise _fail(path, n, f'{name} {field[:40]!r} is not an integer'
                                     + (' (or too long)' if len(field) > 18 else ''))
            col.append(int(field))
        if cols[0][-1] < 1 or cols[1][-1] < 1:
            name = 'user_id' if cols[0][-1] < 1 else 'item_id'
            raise _fail(path, n, f'{name} {fields[COLUMNS.index(name)]} is below 1 '
                                 f'(MovieLens ids start at 1)')
        if not 1 <= cols[2][-1] <= 5:
            raise _fail(path, n, f'rating {fields[2]} is outside 1..5')
    data = pd.DataFrame({name: onp.array(col, dtype=onp.int64)
                         for name, col in zip(COLUMNS, cols)})
    return _check_ids(data, path)


def _check_ids(data, path):
    for name in ('user_id', 'item_id'):
        ids = data[name].to_numpy()
        count, largest = len(onp.unique(ids)), int(ids.max())
        if count != largest:
            line = int(onp.argmax(ids)) + 1
            raise ValueError(f'{path}: {name}s must run 1..N without gaps (the book indexes '
                             f'by id - 1), but there are {count} distinct ids and the largest '
                             f'is {largest} (line {line})')
    return data


class DataError(ValueError):
    """A data source gave something that is not (valid) MovieLens 100K."""


class FetchError(RuntimeError):
    """No source could provide MovieLens 100K."""


def check_ml100k(data, source, *, allow_subset=False, log=None):
    """Check a ratings DataFrame is the full ML-100K; DataError names ``source`` otherwise.

    ``allow_subset=True`` (training on one's own small data, as the tests do) accepts other
    sizes with a one-line note through ``log``; a user-item pair rated twice is refused
    either way (the book's interaction matrix keeps one rating per pair).
    """
    found = (len(data), data.user_id.nunique(), data.item_id.nunique())
    full = found == (NUM_RATINGS, NUM_USERS, NUM_ITEMS)
    sizes = f'{found[0]:,} ratings, {found[1]:,} users, {found[2]:,} items'
    if not full and not allow_subset:
        raise DataError(f'{source}: not the full MovieLens 100K: {sizes} (expected '
                        f'{NUM_RATINGS:,}, {NUM_USERS:,}, {NUM_ITEMS:,})')
    dup = data.duplicated(['user_id', 'item_id'], keep=False)
    if dup.any():
        lines = (dup.to_numpy().nonzero()[0][:2] + 1).tolist()
        row = data.iloc[lines[0] - 1]
        raise DataError(f'{source}: user {row.user_id} rated item {row.item_id} twice '
                        f'(lines {lines[0]} and {lines[1]}); ML-100K has each pair once')
    if not full and log:
        log(f'ml-100k: note: {source}: not the full MovieLens 100K ({sizes}); using it '
            'as given')
    return data


def _check_folder(folder, source, *, allow_subset=False, log=None):
    path = os.path.join(folder, 'u.data')
    if not os.path.isfile(path):
        raise DataError(f'{source}: no u.data in {folder}')
    try:
        data = read_u_data(path)
    except ValueError as e:
        raise DataError(f'{source}: {e}') from None
    except OSError as e:
        raise DataError(f'{source}: cannot read {path} ({e.strerror or e})') from None
    check_ml100k(data, f'{source} ({path})', allow_subset=allow_subset, log=log)
    user_path = os.path.join(folder, 'u.user')
    if os.path.isfile(user_path):
        _read_checked_users(user_path, source, data.user_id.to_numpy(), allow_subset)
    return folder


# --- u.user and u.item, which the click data reads -----------------------------------------

_ID = re.compile(r'[0-9]{1,9}\Z')
_ZIP = re.compile(r'[A-Za-z0-9]{1,10}\Z')
USER_COLUMNS = ['user_id', 'age', 'gender', 'occupation', 'zip_code']


def _decode(raw):
    """A GroupLens text file's text: UTF-8 (our conversions), else latin-1 (GroupLens')."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def _read_text(path):
    """The text of a GroupLens file (:func:`_decode`); a FIFO or a device is a ValueError, not
    a read that never ends."""
    return _decode(read_regular(path, limit=MAX_ZIP_BYTES))


def _text_lines(path, what):
    """The lines of a GroupLens text file (:func:`_read_text`), trailing empty lines dropped;
    ValueError for an empty file."""
    lines = _read_text(path).split('\n')
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f'{path}: empty file; expected rows of {what}')
    return [line.rstrip('\r') for line in lines]


def read_u_user(path):
    """Read GroupLens' ``u.user`` (``user id|age|gender|occupation|zip code``) strictly.

    Returns a DataFrame (``user_id``, ``age`` int64; ``gender``, ``occupation``, ``zip_code``
    strings) in file order. A bad row raises ValueError naming the file and the line: ids are
    positive integers, each once; ages whole years in 1..120; gender M or F; the occupation
    one of GroupLens' 21 (:data:`OCCUPATIONS`); the zip code 1 to 10 letters or digits (a few
    users have Canadian postal codes).
    """
    rows, seen = [], {}
    for n, line in enumerate(_text_lines(path, 'user id|age|gender|occupation|zip code'), 1):
        fields = line.split('|')
        if len(fields) != 5:
            raise _fail(path, n, f'expected 5 |-separated fields (user id, age, gender, '
                                 f'occupation, zip code), found {len(fields)}: {line[:80]!r}')
        uid, age, gender, occupation, zip_code = fields
        if not _ID.match(uid) or int(uid) < 1:
            raise _fail(path, n, f'user id {uid[:40]!r} is not a positive integer')
        if int(uid) in seen:
            raise _fail(path, n, f'user {int(uid)} again (first on line {seen[int(uid)]})')
        seen[int(uid)] = n
        if not _ID.match(age) or not 1 <= int(age) <= 120:
            raise _fail(path, n, f'age {age[:40]!r} is not a whole number of years in 1..120')
        if gender not in ('M', 'F'):
            raise _fail(path, n, f'gender {gender[:40]!r} is not M or F')
        if occupation not in OCCUPATIONS:
            raise _fail(path, n, f"occupation {occupation[:40]!r} is not one of GroupLens' "
                                 f"{len(OCCUPATIONS)} ({', '.join(OCCUPATIONS[:3])}, ...)")
        if not _ZIP.match(zip_code):
            raise _fail(path, n, f'zip code {zip_code[:40]!r} is not 1 to 10 letters or digits')
        rows.append((int(uid), int(age), gender, occupation, zip_code))
    users = pd.DataFrame(rows, columns=USER_COLUMNS)
    return users.astype({'user_id': onp.int64, 'age': onp.int64})


def _read_checked_users(path, source, rating_users, allow_subset):
    """``u.user`` read and checked against the ratings: the full ML-100K's 943 users, ids
    1..943 (or, for other data, every user who rated); DataError naming ``source``."""
    try:
        users = read_u_user(path)
    except ValueError as e:
        raise DataError(f'{source}: {e}') from None
    except OSError as e:
        raise DataError(f'{source}: cannot read {path} ({e.strerror or e})') from None
    ids = users.user_id.to_numpy()
    if not allow_subset and (len(ids) != NUM_USERS or ids.min() != 1 or ids.max() != NUM_USERS):
        raise DataError(f'{source} ({path}): not the users of MovieLens 100K: {len(ids):,} '
                        f'users, ids {ids.min()}..{ids.max()} (expected {NUM_USERS:,}, ids '
                        f'1..{NUM_USERS})')
    missing = onp.setdiff1d(onp.unique(rating_users), ids)
    if len(missing):
        raise DataError(f'{source} ({path}): user {int(missing[0])} rated items in u.data but '
                        f'has no row here ({len(missing)} such users)')
    return users


def read_u_item(path):
    """Read ``u.item`` strictly (``item id|title|release date|video release date|URL|`` and 19
    genre flags, :data:`GENRES` in order): a DataFrame ``item_id`` (int64), ``title``,
    ``release_date`` and one 0/1 column per genre, in file order. GroupLens' latin-1 file and
    the one converted from recbole read alike; a bad row raises ValueError naming the line."""
    rows, seen = [], {}
    width = 5 + len(GENRES)
    for n, line in enumerate(_text_lines(path, 'item id|title|...|19 genre flags'), 1):
        fields = line.split('|')
        if len(fields) != width:
            raise _fail(path, n, f'expected {width} |-separated fields (id, title, release date, '
                                 f'video date, URL, {len(GENRES)} genre flags), found '
                                 f'{len(fields)}: {line[:80]!r}')
        if not _ID.match(fields[0]) or int(fields[0]) < 1:
            raise _fail(path, n, f'item id {fields[0][:40]!r} is not a positive integer')
        if int(fields[0]) in seen:
            raise _fail(path, n, f'item {int(fields[0])} again (first on line '
                                 f'{seen[int(fields[0])]})')
        seen[int(fields[0])] = n
        flags = fields[5:]
        if any(f not in ('0', '1') for f in flags):
            raise _fail(path, n, f'genre flags must be 0 or 1, found {"|".join(flags)[:80]!r}')
        rows.append([int(fields[0]), fields[1], fields[2]] + [int(f) for f in flags])
    items = pd.DataFrame(rows, columns=['item_id', 'title', 'release_date'] + list(GENRES))
    return items.astype({'item_id': onp.int64})


# --- writing into the cache: stage in a temp folder next to the target, then rename -------

@contextlib.contextmanager
def staging(cache, name='ml-100k'):
    """A temporary folder in ``cache`` (a ``.tmp-`` name that :func:`_remove_stale` clears when
    a killed run leaves it), removed on leaving unless :func:`publish` moved it away."""
    os.makedirs(cache, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.tmp-{name}-', dir=cache)
    try:
        with scratch.pending(stage):   # swept by the next run if this one is killed
            yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)



def publish(folder, cache, name='ml-100k', marker='u.data'):
    """Move a checked folder to ``cache/name``, replacing any old one by renames only
    (``marker``: the file that shows a published copy is complete)."""
    os.chmod(folder, umask_mode(0o777))
    target = os.path.join(cache, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    old = None
    if os.path.lexists(target):
        old = tempfile.mkdtemp(prefix='.tmp-old-', dir=cache)
        os.replace(target, os.path.join(old, 'old'))
    try:
        os.replace(folder, target)
    except OSError:
        # Another process published its (equally checked) copy between our two renames.
        if os.path.isfile(os.path.join(target, marker)):
            return target
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)
    return target


_publish = publish


def _remove_stale(cache):
    # What a killed run left behind (the finally clauses did not get to run).
    try:
        names = os.listdir(cache)
    except OSError:
        return
    for name in names:
        path = os.path.join(cache, name)
        try:
            if name.startswith('.tmp-') and time.time() - os.lstat(path).st_mtime > STALE_SECONDS:
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        except OSError:
            pass


def _write_atomic(path, data):
    """Write bytes to ``path`` whole or not at all (a ``.tmp-`` name the stale cleanup knows)."""
    def write(tmp):
        with open(tmp, 'wb') as out:
            out.write(data)
    atomic_write(path, write, prefix='.tmp-')


def member_parts(name):
    """Path parts of a zip member, or None when it is absolute or climbs out with '..'."""
    norm = name.replace('\\', '/')
    if norm.startswith('/') or re.match(r'[A-Za-z]:', norm):
        return None
    parts = [p for p in norm.split('/') if p not in ('', '.')]
    return None if '..' in parts else parts


# What the book reads, and u.user for the click data; other members are not extracted.
NEEDED = ('u.data', 'u.item', 'u.user')


def _wanted_members(infos):
    """The u.data member nearest the top (at most one folder deep), u.item and u.user beside
    it."""
    found = {}
    for info in infos:
        parts = member_parts(info.filename)
        if not parts or parts[0] == '__MACOSX' or info.is_dir() or len(parts) > 2 \
                or parts[-1] not in NEEDED:
            continue
        found.setdefault(tuple(parts[:-1]), {})[parts[-1]] = info
    tops = sorted((len(k), k) for k, v in found.items() if 'u.data' in v)
    return found[tops[0][1]] if tops else {}


def _extract_zip(zip_path, stage, source):
    """Extract u.data (and u.item, u.user) of a zip into ``stage``, which is returned."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            for info in infos:
                if member_parts(info.filename) is None:
                    raise DataError(f'{source} {zip_path}: unsafe member {info.filename!r} '
                                    f'(absolute path or ..); nothing extracted')
            wanted = _wanted_members(infos)
            if sum(info.file_size for info in wanted.values()) > MAX_ZIP_BYTES:
                raise DataError(f'{source} {zip_path}: unpacks to more than '
                                f'{MAX_ZIP_BYTES >> 20} MB; not MovieLens 100K')
            for name, info in wanted.items():
                with zf.open(info) as src, open(os.path.join(stage, name), 'wb') as dst:
                    shutil.copyfileobj(src, dst)
    except DataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as e:
        if isinstance(e, OSError) and not os.path.exists(zip_path):
            raise DataError(f'{source} {zip_path}: no such file') from None
        raise DataError(f'{source} {zip_path}: corrupt or truncated zip archive '
                        f'({type(e).__name__}: {e})') from None
    except Exception as e:   # zlib.error and friends from a damaged deflate stream
        raise DataError(f'{source} {zip_path}: corrupt or truncated zip archive '
                        f'({type(e).__name__}: {e})') from None
    if not os.path.isfile(os.path.join(stage, 'u.data')):
        raise DataError(f'{source} {zip_path}: no u.data in the archive')
    return stage


def _install_zip(zip_path, cache, source, *, name='ml-100k', allow_subset=False, log=None):
    with staging(cache) as stage:
        folder = _extract_zip(zip_path, stage, source)
        _check_folder(folder, f'{source} {zip_path}', allow_subset=allow_subset, log=log)
        return publish(folder, cache, name)



def _user_zip(zip_path, origin, cache, log, allow_subset):
    """A user's zip, extracted (u.data, u.item, u.user only) into a folder of its own in the
    cache, ``user-data/<SHA-256 prefix>``: a user's data never replaces the cache's ML-100K.
    A folder extracted before u.user was (the zip has one, the folder not) is extracted again."""
    try:
        digest = file_digest(zip_path)[:16]
    except OSError as e:
        raise DataError(f'{origin} {zip_path}: cannot read it ({e.strerror or e})') from None
    name = os.path.join('user-data', digest)
    target = os.path.join(cache, name)
    if os.path.isfile(os.path.join(target, 'u.data')) and (
            os.path.isfile(os.path.join(target, 'u.user')) or
            not _zip_member(zip_path, 'u.user', f'{origin} {zip_path}')):
        _check_folder(target, f'{origin} {zip_path}', allow_subset=allow_subset, log=log)
        log(f'ml-100k: {origin} {zip_path}: checked, extracted before into {target}')
        return target
    _check_cache_writable(cache)
    target = _install_zip(zip_path, cache, origin, name=name, allow_subset=allow_subset,
                          log=log)
    log(f'ml-100k: {origin} {zip_path}: checked, extracted into {target}')
    return target



def _zip_member(zip_path, name, source, stage=None):
    """Whether the zip holds ``name`` beside its u.data (:func:`_wanted_members`); with
    ``stage``, that member is also extracted there. DataError for a damaged zip."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            info = _wanted_members(zf.infolist()).get(name)
            if info is None or stage is None:
                return info is not None
            if info.file_size > MAX_ZIP_BYTES:
                raise DataError(f'{source}: {name} unpacks to more than '
                                f'{MAX_ZIP_BYTES >> 20} MB')
            with zf.open(info) as src, open(os.path.join(stage, name), 'wb') as dst:
                shutil.copyfileobj(src, dst)
            return True
    except DataError:
        raise
    except Exception as e:   # BadZipFile, zlib.error, a truncated member
        raise DataError(f'{source}: corrupt or truncated zip archive '
                        f'({type(e).__name__}: {e})') from None


# --- the sources, in order -----------------------------------------------------------------

def _from_user(path, origin, cache, log, allow_subset=False):
    path = os.path.abspath(os.path.expanduser(path))
    source = f'{origin} {path}'
    if os.path.isfile(path) and os.path.basename(path) == 'u.data':
        path = os.path.dirname(path)
    elif os.path.isfile(path):
        if not (path.lower().endswith('.zip') or zipfile.is_zipfile(path)):
            raise DataError(f'{source}: neither a zip archive nor a file named u.data; give '
                            'the folder holding u.data, u.data itself or ml-100k.zip')
        return _user_zip(path, origin, cache, log, allow_subset)
    if not os.path.isdir(path):
        raise DataError(f'{source}: no such file or folder')
    for folder in (path, os.path.join(path, 'ml-100k')):
        if os.path.isfile(os.path.join(folder, 'u.data')):
            _check_folder(folder, source, allow_subset=allow_subset, log=log)
            log(f'ml-100k: {source}: using {folder} (checked)')
            return folder
    if os.path.isfile(os.path.join(path, 'ml-100k.zip')):
        return _user_zip(os.path.join(path, 'ml-100k.zip'), origin, cache, log, allow_subset)
    raise DataError(f'{source}: neither u.data nor ml-100k.zip in this folder')


def check_cache_writable(cache, what='MovieLens 100K', env=ENV_DATA, copy='ml-100k.zip'):
    """FetchError (one line) when nothing can be written into the cache folder: could not
    get ``what``; ``env`` may instead name a downloaded ``copy``."""
    ancestor = cache
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    problem = None
    if ancestor == cache and not os.path.isdir(cache):
        problem = 'is a file, not a folder'
    elif not os.path.isdir(ancestor):
        problem = f'lies under {ancestor}, which is a file'
    else:
        try:
            os.makedirs(cache, exist_ok=True)
            os.rmdir(tempfile.mkdtemp(prefix='.tmp-probe-', dir=cache))
        except OSError as e:
            problem = f'is not writable ({e.strerror or e})'
    if problem:
        raise FetchError(f'could not get {what}: the cache folder {cache} {problem}; '
                         f'set {ENV_CACHE} to a writable folder, or {env} to a '
                         f'downloaded {copy}')


_check_cache_writable = check_cache_writable


def _from_cache(cache, log):
    _remove_stale(cache)
    target = os.path.join(cache, 'ml-100k')
    if os.path.isfile(os.path.join(target, 'u.data')):
        _check_folder(target, f'cache {target}')
        log(f'ml-100k: cache {target}: found (checked)')
        return target
    zip_path = os.path.join(cache, 'ml-100k.zip')
    if os.path.isfile(zip_path) and file_digest(zip_path, 'sha1') == ML100K[1]:
        target = _install_zip(zip_path, cache, 'cache')
        log(f'ml-100k: cache {zip_path}: SHA-1 ok, extracted into {target}')
        return target
    log(f'ml-100k: cache {target}: empty')
    return None




def download_checked(url, path, sha1, source):
    """Download ``url`` to ``path`` if its SHA-1 is ``sha1``; nothing is left otherwise.
    DataError for a SHA-1 mismatch or a file over :data:`MAX_ZIP_BYTES`; ``requests``'
    errors for the network's failures."""
    import requests

    def write(tmp):
        h, size = hashlib.sha1(), 0
        with open(tmp, 'wb') as f, requests.get(url, stream=True, timeout=HTTP_TIMEOUT) as r:
            r.raise_for_status()
            for block in r.iter_content(1 << 16):
                size += len(block)
                if size > MAX_ZIP_BYTES:
                    raise DataError(f'{source}: more than {MAX_ZIP_BYTES >> 20} MB; stopped')
                h.update(block)
                f.write(block)
        if h.hexdigest() != sha1:
            raise DataError(f'{source}: SHA-1 mismatch: got {h.hexdigest()} for {size:,} bytes, '
                            f'expected {sha1}; file discarded')
    atomic_write(path, write, prefix='.tmp-')


_download = download_checked


def _from_grouplens(cache, log):
    import requests
    url, sha1 = ML100K
    zip_path = os.path.join(cache, 'ml-100k.zip')
    try:
        _download(url, zip_path, sha1, f'GroupLens {url}')
    except DataError:
        raise
    except requests.RequestException as e:   # no network, DNS, HTTP status, timeout
        raise DataError(f'GroupLens {url}: download failed ({type(e).__name__})') from None
    except OSError as e:   # here, not on the network: disk full, permissions
        raise DataError(f'GroupLens {url}: could not write {zip_path} '
                        f'({e.strerror or e})') from None
    target = _install_zip(zip_path, cache, 'GroupLens')
    log(f'ml-100k: GroupLens {url}: SHA-1 ok, extracted into {target}')
    return target


def _die_with_parent():
    # In the pip child, before exec: Linux sends it SIGKILL when this process dies, however
    # it dies, so no pip is left running after a killed `data` run.
    try:
        import ctypes
        import signal
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except Exception:
        pass


def _pip_command(dest):
    return [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
            '--quiet', RECBOLE, '-d', dest]


def _pip_download(dest):
    """``pip download`` the recbole wheel into ``dest`` (not installed); return its path.

    ``subprocess.run`` kills the child when this process is interrupted; on Linux the child
    also dies with this process when it is killed outright."""
    cmd = _pip_command(dest)
    # pip's own temporary folders (pip-unpack-*, pip-download-*, ...) go under ``dest``, the
    # cache's staging folder, instead of the system's: removed with it, or swept after a kill.
    tmp = os.path.join(dest, '.tmp-pip')
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, TMPDIR=tmp, TEMP=tmp, TMP=tmp)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT,
                              stdin=subprocess.DEVNULL, env=env,
                              preexec_fn=_die_with_parent if sys.platform == 'linux' else None)
    except subprocess.TimeoutExpired:
        raise DataError(f'PyPI {RECBOLE}: pip download took over {PIP_TIMEOUT} s') from None
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        raise DataError(f'PyPI {RECBOLE}: pip download failed (exit {proc.returncode}): {tail}')
    wheels = [f for f in os.listdir(dest) if f.startswith('recbole-') and f.endswith('.whl')]
    if not wheels:
        raise DataError(f'PyPI {RECBOLE}: pip download left no wheel in {dest}')
    return os.path.join(dest, wheels[0])


def _recbole_table(raw, name, source, columns):
    """Rows of a recbole atomic file (tab-separated, 'name:type' header) as dicts by column."""
    text = raw.decode('utf-8')
    lines = text.split('\n')
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f'{source}: {name} is empty')
    header = [h.split(':')[0] for h in lines[0].rstrip('\r').split('\t')]
    if any(c not in header for c in columns):
        raise DataError(f'{source}: {name} line 1: header {lines[0][:80]!r} lacks '
                        f'{[c for c in columns if c not in header]}')
    pos = [header.index(c) for c in columns]
    for n, line in enumerate(lines[1:], 2):
        fields = line.rstrip('\r').split('\t')
        if len(fields) != len(header):
            raise DataError(f'{source}: {name} line {n}: expected {len(header)} tab-separated '
                            f'fields, found {len(fields)}')
        yield n, [fields[p] for p in pos]


def convert_recbole(inter, item, folder, source=f'PyPI {RECBOLE}', *, user=None):
    """Write ``u.data`` (and ``u.item``, ``u.user`` when given) from recbole's ML-100K files.

    ``inter``/``item``/``user``: bytes of ``ml-100k.inter`` (user_id, item_id, rating,
    timestamp, in u.data's order), ``ml-100k.item`` (item_id, movie_title, release_year,
    class) and ``ml-100k.user`` (user_id, age, gender, occupation, zip_code).
    u.item follows GroupLens' ``|`` layout (id|title|release date|video date|URL|19 genre
    flags); titles get their year back, "Toy Story (1995)", as GroupLens writes them; the
    dates and URL, which recbole does not keep, stay empty. u.user is GroupLens' layout
    (user id|age|gender|occupation|zip code), the same values.
    """
    if user is not None:
        convert_recbole_users(user, folder, source)
    if inter is None:
        return
    out = []
    for n, (u, i, r, t) in _recbole_table(inter, 'ml-100k.inter', source,
                                          ['user_id', 'item_id', 'rating', 'timestamp']):
        try:
            row = [int(u), int(i), float(r), float(t)]
        except ValueError:
            raise DataError(f'{source}: ml-100k.inter line {n}: non-numeric field in '
                            f'{[u, i, r, t]}') from None
        if not (row[2].is_integer() and row[3].is_integer()):
            raise DataError(f'{source}: ml-100k.inter line {n}: rating {r} or timestamp {t} '
                            f'is not a whole number')
        out.append('%d\t%d\t%d\t%d\n' % tuple(row))
    _write_atomic(os.path.join(folder, 'u.data'), ''.join(out).encode('ascii'))
    if item is None:
        return
    rows = []
    for n, (iid, title, year, genres) in _recbole_table(
            item, 'ml-100k.item', source, ['item_id', 'movie_title', 'release_year', 'class']):
        if not iid.isdigit():
            raise DataError(f'{source}: ml-100k.item line {n}: item id {iid!r} is not a number')
        # recbole misspells GroupLens' 'unknown' (item 267) and keeps a trailing '(V)'
        # (item 1412) as the "year": appending any real tag restores GroupLens' title.
        title = 'unknown' if title == 'unkonwn' else title.replace('|', '/')
        if year and year not in ('unkonwn', 'unknown'):
            title = f'{title} ({year})'
        words = genres.split()
        flags = ['1' if g in words else '0' for g in GENRES]
        rows.append('|'.join([iid, title, '', '', ''] + flags) + '\n')
    text = ''.join(rows)
    try:
        encoded = text.encode('latin-1')   # GroupLens' own encoding
    except UnicodeEncodeError:
        encoded = text.encode('utf-8')
    _write_atomic(os.path.join(folder, 'u.item'), encoded)


def convert_recbole_users(user, folder, source=f'PyPI {RECBOLE}'):
    """Write ``u.user`` (GroupLens' ``|`` layout) from the bytes of recbole's ``ml-100k.user``."""
    rows = []
    for n, values in _recbole_table(user, 'ml-100k.user', source,
                                    ['user_id', 'age', 'gender', 'occupation', 'zip_code']):
        if any('|' in v for v in values):
            raise DataError(f'{source}: ml-100k.user line {n}: a field holds "|"')
        rows.append('|'.join(values) + '\n')
    _write_atomic(os.path.join(folder, 'u.user'), ''.join(rows).encode('utf-8'))


RECBOLE_MEMBERS = ('ml-100k.inter', 'ml-100k.item', 'ml-100k.user')


def _read_wheel(wheel, source, names=RECBOLE_MEMBERS, required=('ml-100k.inter',)):
    """``{name: bytes or None}`` of recbole's ML-100K members, each checked against its pinned
    SHA-256 (:data:`RECBOLE_SHA256`)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = {}
            for name in names:
                try:
                    raw[name] = zf.read(RECBOLE_DIR + name)
                except KeyError:
                    if name in required:
                        raise DataError(f'{source}: {os.path.basename(wheel)} has no '
                                        f'{RECBOLE_DIR}{name}') from None
                    raw[name] = None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f'{source}: {os.path.basename(wheel)} is not a valid wheel (zip): '
                        f'{e}') from None
    for name, data in raw.items():
        want = RECBOLE_SHA256.get(name)
        if data is not None and want and hashlib.sha256(data).hexdigest() != want:
            raise DataError(f'{source}: {name} SHA-256 mismatch: got '
                            f'{hashlib.sha256(data).hexdigest()}, expected {want}')
    return raw


def _convert_wheel(wheel, folder, source):
    raw = _read_wheel(wheel, source)
    convert_recbole(raw['ml-100k.inter'], raw['ml-100k.item'], folder, source,
                    user=raw['ml-100k.user'])
    members = [n for n in RECBOLE_MEMBERS if raw[n] is not None]
    listed = ', '.join(members[:-1]) + ' and ' + members[-1] if len(members) > 1 else members[0]
    _write_atomic(os.path.join(folder, 'SOURCE'),
                  f'Converted from {RECBOLE} ({os.path.basename(wheel)}), '
                  f'{RECBOLE_DIR}{listed}.\n'.encode())


def _from_pypi(cache, log):
    source = f'PyPI {RECBOLE}'
    # The download goes under the cache's temporary names, which _remove_stale clears up
    # if a killed run leaves it behind.
    with staging(cache) as tmp:
        wheel = _pip_download(tmp)
        with staging(cache) as stage:
            _convert_wheel(wheel, stage, source)
            _check_folder(stage, source)
            target = publish(stage, cache)
    log(f'ml-100k: {source}: converted {os.path.basename(wheel)} into {target} (checked)')
    return target


_PRINTED = set()


def print_once(message, file=None):
    """Print ``message`` (to ``file``, default stdout) unless this process printed it already:
    the default log of :func:`ml100k_dir`, so that a notebook reading the data in several
    cells, or through the experiment functions, says where it came from once."""
    if message not in _PRINTED:
        _PRINTED.add(message)
        print(message, file=file, flush=True)


def ml100k_dir(path=None, *, log=print_once, allow_subset=False):
    """A folder holding the checked MovieLens 100K ``u.data`` (and ``u.item`` if available).

    ``path`` (else ``$D2L_RECSYS_DATA``): a folder with ``u.data`` or ``ml-100k.zip``, or the
    zip itself; when given it must be good (DataError otherwise). Else: the cache, GroupLens
    (:data:`ML100K`, SHA-1 checked), the PyPI mirror; each step logs one line
    through ``log`` (``None`` for silence; by default a line is printed once per process) and
    a failing one falls through to the next.
    Every way in gets the same checks (strict parse, ids 1..N, no pair rated twice, the full
    ML-100K's sizes); ``allow_subset=True`` (training on one's own data) accepts other sizes
    with a one-line note. A user's zip is extracted (u.data, u.item) into a folder of its own
    in the cache, never over the cache's ML-100K.
    See https://d2l.ai/chapter_recommender-systems/movielens.html
    """
    log = log or (lambda *args, **kwargs: None)
    cache = cache_root()
    origin = 'argument'
    if path is None and os.environ.get(ENV_DATA):
        path, origin = os.environ[ENV_DATA], f'${ENV_DATA}'
    if path is not None:
        return _from_user(os.fspath(path), origin, cache, log, allow_subset)
    failures = []
    for name, step in (('cache', _from_cache), ('GroupLens', _from_grouplens),
                       ('PyPI', _from_pypi)):
        if name == 'GroupLens':
            _check_cache_writable(cache)   # the network sources write there
        try:
            folder = step(cache, log)
        except Exception as e:   # a broken source is reported, then the next one is tried
            message = str(e) if isinstance(e, DataError) else f'{name}: {type(e).__name__}: {e}'
            log(f'ml-100k: {message}; trying the next source' if name != 'PyPI'
                else f'ml-100k: {message}')
            failures.append(message)
            continue
        if folder:
            return folder
    raise FetchError('could not get MovieLens 100K: ' + '; '.join(failures) +
                     f'. Download ml-100k.zip from GroupLens and set {ENV_DATA} to it.')


def _user_from_cache_zip(cache, stage, log):
    zip_path = os.path.join(cache, 'ml-100k.zip')
    if not (os.path.isfile(zip_path) and file_digest(zip_path, 'sha1') == ML100K[1]):
        return None
    _zip_member(zip_path, 'u.user', f'cache {zip_path}', stage)
    return f'cache {zip_path} (SHA-1 ok)'


def _user_from_grouplens(cache, stage, log):
    import requests
    url, sha1 = ML100K
    zip_path = os.path.join(cache, 'ml-100k.zip')
    try:
        _download(url, zip_path, sha1, f'GroupLens {url}')
    except requests.RequestException as e:
        raise DataError(f'GroupLens {url}: download failed ({type(e).__name__})') from None
    _zip_member(zip_path, 'u.user', f'GroupLens {url}', stage)
    return f'GroupLens {url} (SHA-1 ok)'


def _user_from_pypi(cache, stage, log):
    source = f'PyPI {RECBOLE}'
    with staging(cache, 'wheel') as tmp:
        raw = _read_wheel(_pip_download(tmp), source, names=('ml-100k.user',),
                          required=('ml-100k.user',))
    convert_recbole_users(raw['ml-100k.user'], stage, source)
    return f'{source} (SHA-256 ok, converted)'


def u_user_path(folder, *, log=print_once):
    """The path of ``u.user`` in ``folder``, a MovieLens 100K folder :func:`ml100k_dir` gave.

    A cache made before ``u.user`` was fetched (``ml-100k/`` with ``u.data`` and ``u.item``
    only) gains it here, from the sources :func:`ml100k_dir` knows, in its order, one log line
    per step: the cache's GroupLens zip (SHA-1 checked), GroupLens, the recbole wheel on PyPI
    (``ml-100k.user``, SHA-256 pinned, converted to GroupLens' layout). The file is checked
    (943 users, ids 1..943, ages, genders, occupations, zip codes) and then renamed into the
    folder: nothing else there changes. Any other folder without ``u.user`` (one the user
    gave) raises DataError naming it: the click data needs each user's age, gender,
    occupation and zip code, which GroupLens' ``ml-100k.zip`` holds.
    """
    log = log or (lambda *args, **kwargs: None)
    path = os.path.join(folder, 'u.user')
    if os.path.isfile(path):
        return path
    cache = cache_root()
    if os.path.realpath(folder) != os.path.realpath(os.path.join(cache, 'ml-100k')):
        raise DataError(f'{folder}: no u.user here; the MovieLens click data needs it (each '
                        "user's age, gender, occupation and zip code): give the folder or the "
                        "ml-100k.zip of GroupLens' MovieLens 100K, which has it")
    _check_cache_writable(cache)
    rating_users = read_u_data(os.path.join(folder, 'u.data')).user_id.to_numpy()
    failures = []
    for name, step in (('cache', _user_from_cache_zip), ('GroupLens', _user_from_grouplens),
                       ('PyPI', _user_from_pypi)):
        try:
            with staging(cache, 'u-user') as stage:
                source = step(cache, stage, log)
                if source is None:
                    continue
                staged = os.path.join(stage, 'u.user')
                if not os.path.isfile(staged):
                    raise DataError(f'{source}: no u.user in it')
                _read_checked_users(staged, source, rating_users, allow_subset=False)
                os.chmod(staged, umask_mode(0o666))
                os.replace(staged, path)
        except Exception as e:   # reported, then the next source is tried
            message = str(e) if isinstance(e, DataError) else f'{name}: {type(e).__name__}: {e}'
            log(f'ml-100k: u.user: {message}' + ('; trying the next source'
                                                  if name != 'PyPI' else ''))
            failures.append(message)
            continue
        note = os.path.join(folder, 'SOURCE')
        before = open(note, 'rb').read() if os.path.isfile(note) else b''
        _write_atomic(note, before + f'u.user added from {source}.\n'.encode())
        log(f'ml-100k: u.user from {source}: checked, added to {folder}')
        return path
    raise FetchError("could not get MovieLens 100K's u.user: " + '; '.join(failures) +
                     f". Download ml-100k.zip from GroupLens and set {ENV_DATA} to it.")


def read_item_titles(data_dir=None):
    """``{item_id: title}`` from ``u.item`` in ``data_dir`` ({} when there is none).

    ``data_dir=None`` uses :func:`ml100k_dir`. Reads GroupLens' latin-1 file and our converted
    one alike; a malformed row raises ValueError naming file and line, and a FIFO or a device
    named u.item is a ValueError, not a read that never ends.
    """
    if data_dir is None:
        data_dir = ml100k_dir()
    path = os.path.join(data_dir, 'u.item')
    if not os.path.isfile(path):
        return {}
    return parse_item_titles(read_regular(path, limit=MAX_ZIP_BYTES), path)


def parse_item_titles(raw, path='u.item'):
    """``{item_id: title}`` from the bytes of a ``u.item`` file (``path`` names it in
    errors)."""
    text = _decode(raw)
    titles = {}
    for n, line in enumerate(text.split('\n'), 1):
        if not line.strip():
            continue
        fields = line.rstrip('\r').split('|')
        if len(fields) < 2:
            raise ValueError(f'{path} line {n}: expected item_id|title|..., found {line[:80]!r}')
        if not fields[0].strip().isdigit():
            raise ValueError(f'{path} line {n}: item id {fields[0][:40]!r} is not an integer')
        titles[int(fields[0])] = fields[1]
    return titles
