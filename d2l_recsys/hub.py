"""The book's data hub: ``DATA_HUB``, ``DATA_URL`` and ``download_extract``, checked and cached.

d2l's ``download_extract(name, folder=None)`` (:numref:`sec_kaggle_house`) downloads the zip
``DATA_HUB[name]`` names, a URL and its SHA-1, into ``../data`` and returns the folder it
unpacks to. Here the same call returns a checked folder in the cache (``$D2L_RECSYS_CACHE`` or
``~/.cache/d2l-recsys``), written under a temporary name and renamed into place whole:

* ``'ml-100k'``: MovieLens 100K (:func:`d2l_recsys.fetch.ml100k_dir`: a given path, the cache,
  GroupLens, the PyPI mirror);
* ``'ml100k-ctr'``: MovieLens 100K as click data in the book's ``ctr`` format
  (:mod:`d2l_recsys.ml100k_ctr`), built from those files;
* ``'ctr'``: the book's advertising data (:func:`ctr_dir`), from the book's server with its
  SHA-1, or a copy the user gives;
* any other name registered in ``DATA_HUB`` as the book registers its data sets: its zip,
  downloaded with its SHA-1 and unpacked (members with absolute paths or ``..`` refused).

``path=`` (keyword) gives a local copy instead of the download: for ``'ctr'`` a ``ctr.zip`` or a
folder holding ``train.csv`` and ``test.csv`` (also ``$D2L_RECSYS_CTR``), for the MovieLens
names the ML-100K folder or zip (also ``$D2L_RECSYS_DATA``). What the user gives is checked as
the downloads are; whatever cannot be fetched ends in one line naming the URL and the way to
give a copy.
"""
import json
import os
import zipfile

from . import fetch
from .atomic import file_digest
from .clicks import check_ctr_file, NUM_FEAT
from .ml100k_ctr import ml100k_ctr_dir

__all__ = ['DATA_URL', 'DATA_HUB', 'download_extract', 'ctr_dir', 'ENV_CTR', 'NAMES']

DATA_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/'
# The book's entries (d2l's ``DATA_HUB``); the tabs' ``ctr`` modules register 'ctr' again, as
# the book's cell does, with the same value.
DATA_HUB = {'ml-100k': fetch.ML100K,
            'ctr': (DATA_URL + 'ctr.zip', 'e18327c48c8e8e5c23da714dd614e390d369843f')}
ENV_CTR = 'D2L_RECSYS_CTR'
CTR_FILES = ('train.csv', 'test.csv')
NAMES = ('ml-100k', 'ml100k-ctr', 'ctr')
MAX_BYTES = fetch.MAX_ZIP_BYTES


def download_extract(name, folder=None, *, path=None):
    """The folder of data set ``name``, downloaded (SHA-1 checked), unpacked and cached once.

    The book's ``d2l.download_extract(name, folder=None)``: ``folder`` names a folder beside
    the data set's own, as d2l's does. ``path`` (keyword): a local copy to use instead of the
    download (see the module's docstring). Raises :class:`~d2l_recsys.fetch.FetchError` or
    :class:`~d2l_recsys.fetch.DataError` (one line) when it cannot be had.
    """
    if name == 'ml-100k':
        data_dir = fetch.ml100k_dir(path)
    elif name == 'ml100k-ctr':
        data_dir = ml100k_ctr_dir(path)
    elif name == 'ctr':
        data_dir = ctr_dir(path)
    elif name in DATA_HUB:
        if path is not None:
            raise ValueError(f'download_extract: path= is for {", ".join(NAMES)}, not {name!r}')
        data_dir = _hub_zip(name)
    else:
        raise ValueError(f'download_extract: unknown data set {name!r}; known: '
                         f'{", ".join(sorted(set(DATA_HUB) | set(NAMES)))} (register others in '
                         'DATA_HUB as (url, sha1))')
    return os.path.join(os.path.dirname(data_dir), folder) if folder else data_dir


# --------------------------------------------------------------- the book's advertising data

def _ctr_members(zip_path, source):
    """``{name: ZipInfo}`` of train.csv and test.csv, at the top or one folder deep."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except Exception as e:   # BadZipFile, a truncated archive
        raise fetch.DataError(f'{source}: corrupt or truncated zip archive '
                              f'({type(e).__name__}: {e})') from None
    found = {}
    for info in infos:
        parts = fetch.member_parts(info.filename)
        if parts is None:
            raise fetch.DataError(f'{source}: unsafe member {info.filename!r} (absolute path '
                                  'or ..); nothing extracted')
        if parts and parts[0] != '__MACOSX' and not info.is_dir() and len(parts) <= 2 \
                and parts[-1] in CTR_FILES:
            found.setdefault(tuple(parts[:-1]), {})[parts[-1]] = info
    complete = sorted((len(k), k) for k, v in found.items() if len(v) == len(CTR_FILES))
    if not complete:
        raise fetch.DataError(f'{source}: no train.csv and test.csv in the archive')
    members = found[complete[0][1]]
    if sum(i.file_size for i in members.values()) > MAX_BYTES:
        raise fetch.DataError(f'{source}: unpacks to more than {MAX_BYTES >> 20} MB')
    return members


def _check_ctr_folder(folder, source, num_feat, log):
    for name in CTR_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise fetch.DataError(f'{source}: no {name} in {folder}')
        try:
            kept, skipped = check_ctr_file(path, num_feat, what="the book's advertising data")
        except ValueError as e:
            raise fetch.DataError(f'{source}: {e}') from None
        if skipped:
            log(f'ctr: note: {path}: {skipped:,} of {kept + skipped:,} lines do not hold '
                f'{num_feat + 1} fields; CTRDataset skips them')
    return folder


def _outputs(folder):
    return {name: file_digest(os.path.join(folder, name)) for name in CTR_FILES}


def _install_ctr(zip_path, cache, name, source, num_feat, log, record):
    """Unpack train.csv and test.csv of ``zip_path``, check them, publish ``cache/name``."""
    members = _ctr_members(zip_path, source)
    with fetch.staging(cache, 'ctr') as stage:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                for member, info in members.items():
                    with zf.open(info) as src, open(os.path.join(stage, member), 'wb') as dst:
                        while True:
                            block = src.read(1 << 20)
                            if not block:
                                break
                            dst.write(block)
        except Exception as e:   # a damaged deflate stream, a CRC error
            raise fetch.DataError(f'{source}: corrupt or truncated zip archive '
                                  f'({type(e).__name__}: {e})') from None
        _check_ctr_folder(stage, source, num_feat, log)
        with open(os.path.join(stage, 'SOURCE.json'), 'w', encoding='utf-8') as f:
            json.dump({**record, 'outputs': _outputs(stage)}, f, indent=2)
        return fetch.publish(stage, cache, name, marker='train.csv')


def _fresh(target):
    try:
        with open(os.path.join(target, 'SOURCE.json'), encoding='utf-8') as f:
            return json.load(f).get('outputs') == _outputs(target)
    except (OSError, ValueError, AttributeError):
        return False


def _ctr_from_user(path, origin, cache, sha1, num_feat, log):
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    source = f'{origin} {path}'
    if os.path.isdir(path):
        for folder in (path, os.path.join(path, 'ctr')):
            if all(os.path.isfile(os.path.join(folder, n)) for n in CTR_FILES):
                _check_ctr_folder(folder, source, num_feat, log)
                log(f'ctr: {source}: using {folder} (checked)')
                return folder
        if os.path.isfile(os.path.join(path, 'ctr.zip')):
            return _ctr_from_user(os.path.join(path, 'ctr.zip'), origin, cache, sha1,
                                  num_feat, log)
        raise fetch.DataError(f'{source}: neither train.csv and test.csv nor ctr.zip in this '
                              'folder')
    if not os.path.isfile(path):
        raise fetch.DataError(f'{source}: no such file or folder')
    if not zipfile.is_zipfile(path):
        raise fetch.DataError(f'{source}: not a zip archive; give ctr.zip or the folder '
                              'holding train.csv and test.csv')
    digest = file_digest(path, 'sha1')
    if digest == sha1:   # the book's own zip: it becomes the cache's copy
        name, what = 'ctr', 'SHA-1 ok'
    else:
        name, what = os.path.join('user-data', 'ctr-' + file_digest(path)[:16]), \
            'not the book\'s zip (another SHA-1), checked'
    target = os.path.join(cache, name)
    if _fresh(target):
        log(f'ctr: {source}: {what}, extracted before into {target}')
        return target
    target = _install_ctr(path, cache, name, source, num_feat, log,
                          {'source': path, 'sha1': digest})
    log(f'ctr: {source}: {what}, extracted into {target}')
    return target


def ctr_dir(path=None, *, num_feat=NUM_FEAT, log=fetch.print_once):
    """The folder of the book's advertising data (``train.csv``, ``test.csv``).

    ``path`` (else ``$D2L_RECSYS_CTR``): ``ctr.zip`` or a folder holding the two files (or
    ``ctr.zip``): checked and used (a zip is unpacked into the cache, the book's own, by its
    SHA-1, as the cache's copy). Otherwise the cache's copy, then ``DATA_HUB['ctr']``: the
    book's server, SHA-1 checked. Checked means: text, lines of a 0/1 label and ``num_feat``
    (34) tab-separated fields; lines with another number of fields are counted in a note
    (the book's ``CTRDataset`` skips them). One line (FetchError) when none of this works,
    naming the URL and how to give a copy.
    """
    log = log or (lambda *args, **kwargs: None)
    url, sha1 = DATA_HUB['ctr']
    cache = fetch.cache_root()
    origin = 'argument'
    if path is None and os.environ.get(ENV_CTR):
        path, origin = os.environ[ENV_CTR], f'${ENV_CTR}'
    if path is not None:
        return _ctr_from_user(path, origin, cache, sha1, num_feat, log)
    target = os.path.join(cache, 'ctr')
    if _fresh(target):
        log(f'ctr: cache {target}: found (checked)')
        return target
    zip_path = os.path.join(cache, 'ctr.zip')
    if os.path.isfile(zip_path) and file_digest(zip_path, 'sha1') == sha1:
        target = _install_ctr(zip_path, cache, 'ctr', f'cache {zip_path}', num_feat, log,
                              {'source': url, 'sha1': sha1})
        log(f'ctr: cache {zip_path}: SHA-1 ok, extracted into {target}')
        return target
    how = (f"download ctr.zip (SHA-1 {sha1}) where the book's server can be reached and give "
           f"it: download_extract('ctr', path=FILE), --data FILE or ${ENV_CTR}=FILE (a folder "
           "holding train.csv and test.csv also works); 'ml100k-ctr', MovieLens 100K as click "
           'data, runs everywhere')
    try:
        import requests
    except ImportError:   # the package's own requirement; say so rather than fail inside
        raise fetch.FetchError(f"could not get the book's advertising data 'ctr' from {url}: "
                               f'the requests package is missing; {how}') from None
    fetch.check_cache_writable(cache, "the book's advertising data 'ctr'", ENV_CTR, 'ctr.zip')
    try:
        fetch.download_checked(url, zip_path, sha1, f'ctr {url}')
    except requests.RequestException as e:   # no network, DNS, HTTP status, timeout
        raise fetch.FetchError(f"could not get the book's advertising data 'ctr': {url}: "
                               f'download failed ({type(e).__name__}); {how}') from None
    except fetch.DataError as e:
        raise fetch.FetchError(f"could not get the book's advertising data 'ctr': {e}; "
                               f'{how}') from None
    except OSError as e:
        raise fetch.FetchError(f"could not get the book's advertising data 'ctr': could not "
                               f'write {zip_path} ({e.strerror or e})') from None
    target = _install_ctr(zip_path, cache, 'ctr', f'ctr {url}', num_feat, log,
                          {'source': url, 'sha1': sha1})
    log(f'ctr: {url}: SHA-1 ok, extracted into {target}')
    return target


# --------------------------------------------------------------- any other DATA_HUB entry

def _hub_zip(name):
    """A zip registered in ``DATA_HUB``: downloaded with its SHA-1 into the cache, unpacked
    (every member, none outside the folder) into ``<cache>/<name>``. Returns, as d2l's, the
    folder named as the zip (``x.zip`` -> ``x``) when the archive holds one, else the whole."""
    import requests
    url, sha1 = DATA_HUB[name]
    cache = fetch.cache_root()
    target = os.path.join(cache, name)
    stem = os.path.splitext(os.path.basename(url))[0]
    if _fresh_hub(target, sha1):
        return os.path.join(target, stem) if os.path.isdir(os.path.join(target, stem)) \
            else target
    fetch.check_cache_writable(cache, repr(name), 'download_extract(path=...)', 'copy')
    zip_path = os.path.join(cache, os.path.basename(url))
    if not (os.path.isfile(zip_path) and file_digest(zip_path, 'sha1') == sha1):
        try:
            fetch.download_checked(url, zip_path, sha1, f'{name} {url}')
        except requests.RequestException as e:
            raise fetch.FetchError(f'could not get {name!r}: {url}: download failed '
                                   f'({type(e).__name__})') from None
    if not zipfile.is_zipfile(zip_path):
        raise fetch.DataError(f'{name} {url}: not a zip archive (only zip archives are '
                              'unpacked here)')
    with fetch.staging(cache, name) as stage:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            for info in infos:
                if fetch.member_parts(info.filename) is None:
                    raise fetch.DataError(f'{name} {url}: unsafe member {info.filename!r}')
            if sum(i.file_size for i in infos) > MAX_BYTES:
                raise fetch.DataError(f'{name} {url}: unpacks to more than '
                                      f'{MAX_BYTES >> 20} MB')
            zf.extractall(stage)
        with open(os.path.join(stage, '.d2l-recsys-sha1'), 'w') as f:
            f.write(sha1)
        target = fetch.publish(stage, cache, name, marker='.d2l-recsys-sha1')
    return os.path.join(target, stem) if os.path.isdir(os.path.join(target, stem)) else target


def _fresh_hub(target, sha1):
    try:
        with open(os.path.join(target, '.d2l-recsys-sha1')) as f:
            return f.read() == sha1
    except OSError:
        return False
