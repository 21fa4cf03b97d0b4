"""A trained model's folder: written whole or not at all, read back as untrusted input.

``python -m d2l_recsys train`` writes one folder per model: ``model.json`` (what rebuilds the
model: framework, model, hyper-parameters, sizes, and the size and SHA-256 of every other
file), the parameter file, ``train_interactions.npz`` (the training ratings, 0-based), the
history and, for Caser, ``last_items.npz`` (each user's last ``L`` training items, the
sequence Caser reads to recommend). :func:`save_model_folder` builds it in a temporary sibling
folder and swaps it into place with one rename, so an older model there is replaced whole or
not at all, even when the process is killed. :func:`load_model_folder` checks a folder before
anything is built from it: plain file names only (nothing outside the folder is opened), types,
sizes, checksums, ids in range, and one-line errors naming the file and what is wrong. Imports
no framework.
"""
import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile
import zipfile

import numpy as onp

from .atomic import file_digest, umask_mode
from .rank_data import seq_windows

__all__ = ['save_model_folder', 'load_model_folder', 'check_output_folder', 'ModelFolder',
           'ModelFolderError', 'json_default', 'model_meta', 'model_from_meta',
           'check_last_items', 'FORMAT', 'META', 'INTERACTIONS', 'HISTORY', 'LAST_ITEMS',
           'AUTOREC_EXTRAS', 'MODELS', 'CLICK_MODELS']

FORMAT = 'd2l-recsys-model/1'
META, INTERACTIONS, HISTORY = 'model.json', 'train_interactions.npz', 'history.json'
LAST_ITEMS = 'last_items.npz'
REQUIRED = ('framework', 'model', 'hparams', 'num_users', 'num_items', 'user_based')
# AutoRec's hyper-parameters beyond the book's (the exercises' and the tuned presets'
# ``clip``), passed on when present.
AUTOREC_EXTRAS = ('hidden_layers', 'encoder_activation', 'decoder_activation',
                  'hidden_activation', 'clip')
# The click models of the feature-rich sections: ``hparams`` holds their ``field_dims``; a model
# of the book's advertising data has no users or items (``num_users``/``num_items`` null).
CLICK_MODELS = ('fm', 'deepfm')
# The models a folder may hold: the rating models, the ranking half's and the click models.
MODELS = ('mf', 'autorec', 'neumf', 'caser') + CLICK_MODELS
# Names an older model folder may hold; a folder with anything else is not replaced.
KNOWN = {META, INTERACTIONS, HISTORY, LAST_ITEMS, 'model.params', 'model.pt', 'curve.png',
         'curve.svg', 'features.json', 'catalog.json'}
MAX_META_BYTES = 1 << 20
MAX_SIZE = 10 ** 8            # users or items: far above any MovieLens release
_PLAIN = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z')
_SHA256 = re.compile(r'[0-9a-f]{64}\Z')


class ModelFolderError(ValueError):
    """A model folder (or what is to be written into one) is not what it should be."""


@dataclasses.dataclass(frozen=True)
class ModelFolder:
    """A checked model folder: ``meta`` (model.json), ``params_path`` (inside ``directory``),
    ``interactions`` (``{'users', 'items', 'ratings'}`` arrays, or None) and, for Caser,
    ``last_items`` (``(num_users, L)`` int64: each user's last training items)."""
    directory: str
    meta: dict
    params_path: str
    interactions: dict = None
    last_items: onp.ndarray = None


def _plain_name(name, where):
    if not isinstance(name, str) or not _PLAIN.match(name):
        raise ModelFolderError(f'{where}: {name!r} is not a plain file name (letters, digits, '
                               '".", "_", "-"; no folder, no path)')
    return name


def _is_int(value):
    return isinstance(value, (int, onp.integer)) and not isinstance(value, (bool, onp.bool_))


def _check_meta(meta, where):
    if not isinstance(meta, dict):
        raise ModelFolderError(f'{where}: expected a JSON object, found '
                               f'{type(meta).__name__}')
    for key in REQUIRED:
        if key not in meta:
            raise ModelFolderError(f'{where}: no {key!r}')
    for key in ('framework', 'model'):
        if not isinstance(meta[key], str) or not meta[key]:
            raise ModelFolderError(f'{where}: {key!r} must be a non-empty string, got '
                                   f'{meta[key]!r}')
    if not isinstance(meta['hparams'], dict) or \
            not all(isinstance(k, str) for k in meta['hparams']):
        raise ModelFolderError(f'{where}: "hparams" must be an object, got '
                               f'{meta["hparams"]!r}'[:200])
    for key in ('num_users', 'num_items'):
        value = meta[key]
        if value is None and meta['model'] in CLICK_MODELS:
            continue
        if not _is_int(value) or not 1 <= value <= MAX_SIZE:
            raise ModelFolderError(f'{where}: {key!r} must be an integer in 1..{MAX_SIZE:,}, '
                                   f'got {value!r}'[:200])
    if not isinstance(meta['user_based'], bool):
        raise ModelFolderError(f'{where}: "user_based" must be true or false, got '
                               f'{meta["user_based"]!r}'[:200])
    return meta


def model_meta(framework, params, *, model, hparams, num_users, num_items, user_based=False,
               extra=None):
    """What ``model.json`` says of a model, the same for every tab: ``framework``, the model,
    its ``hparams``, sizes, ``user_based``, the parameter file's name ``params`` and any
    ``extra``. ValueError for a model not in :data:`MODELS`, before anything is written (a
    click model's sizes may be None: the book's advertising data has no users)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")

    def size(n):
        return None if n is None and model in CLICK_MODELS else int(n)
    meta = {'format': FORMAT, 'framework': framework, 'model': model, 'hparams': dict(hparams),
            'num_users': size(num_users), 'num_items': size(num_items),
            'user_based': bool(user_based), 'params': params}
    if extra:
        meta['extra'] = extra
    return meta


def _click_hparams(kind, hp):
    """FM's or DeepFM's hyper-parameters of a description, checked: ``field_dims`` (positive
    integers, at most MAX_SIZE rows in all), ``num_factors``, DeepFM's ``mlp_dims`` and
    ``drop_rate``."""
    from .experiments import check_click_settings
    dims = hp['field_dims']
    if not isinstance(dims, list) or not dims or not all(
            _is_int(d) and d >= 1 for d in dims) or sum(dims) > MAX_SIZE:
        raise ValueError(f'field_dims must be a list of positive integers (at most '
                         f'{MAX_SIZE:,} rows in all), got {str(dims)[:80]}')
    given = {k: hp[k] for k in ('num_factors', 'mlp_dims', 'drop_rate') if k in hp}
    if kind == 'deepfm' and not {'mlp_dims', 'drop_rate'} <= set(given):
        raise KeyError('mlp_dims' if 'mlp_dims' not in given else 'drop_rate')
    return dims, check_click_settings(kind, **given)


def model_from_meta(meta, *, framework, tab, mf, autorec, default_framework=None,
                    neumf=None, caser=None, fm=None, deepfm=None):
    """The model ``meta`` (``model.json``) describes, built with a tab's classes:
    ``mf(num_factors, num_users, num_items)``, ``autorec(num_hidden, num_users (num_items
    when user-based), dropout, **extras)``, ``neumf(num_factors, num_users, num_items,
    nums_hiddens)``, ``caser(num_factors, num_users, num_items, L, d, d_prime,
    drop_ratio)``, ``fm(field_dims, num_factors)`` or ``deepfm(field_dims, num_factors,
    mlp_dims, drop_rate)``.

    One-line ValueError for a model of another framework than ``framework`` (``tab`` names
    this one; a description without one is ``default_framework``'s), missing or unusable
    hyper-parameters, or an unknown model: the tabs then say the same thing.
    """
    kind, hp = meta.get('model'), meta.get('hparams', {})
    if meta.get('framework', default_framework) != framework:
        raise ValueError(f"a {meta.get('framework')!r} model: load it with that framework's "
                         f'tab, not the {tab} one')
    if not isinstance(hp, dict):
        raise ValueError(f'model description: "hparams" must be an object, got {hp!r}'[:200])
    try:
        if kind == 'mf':
            return mf(int(hp['num_factors']), meta['num_users'], meta['num_items'])
        if kind == 'autorec':
            size = meta['num_items'] if meta.get('user_based') else meta['num_users']
            extras = {k: hp[k] for k in AUTOREC_EXTRAS if k in hp}
            if not isinstance(extras.get('clip', False), bool):
                raise ValueError(f'model description: autorec hparams "clip" must be true or '
                                 f'false, got {extras["clip"]!r}'[:200])
            return autorec(int(hp['num_hidden']), size, hp.get('dropout', 0.05), **extras)
        if kind == 'neumf' and neumf is not None:
            hidden = hp['nums_hiddens']
            if not isinstance(hidden, list) or not all(_is_int(h) and h >= 1 for h in hidden):
                raise ValueError(f'nums_hiddens must be a list of positive integers, got '
                                 f'{hidden!r}')
            return neumf(_size(hp['num_factors']), meta['num_users'], meta['num_items'],
                         nums_hiddens=hidden)
        if kind == 'caser' and caser is not None:
            ratio = float(hp['drop_ratio'])
            if not 0 <= ratio < 1:
                raise ValueError(f'drop_ratio must be in [0, 1), got {ratio!r}')
            return caser(_size(hp['num_factors']), meta['num_users'], meta['num_items'],
                         _size(hp['L']), _size(hp['d']), _size(hp['d_prime']), ratio)
        if kind in CLICK_MODELS and (fm if kind == 'fm' else deepfm) is not None:
            dims, s = _click_hparams(kind, hp)
            if kind == 'fm':
                return fm(dims, s['num_factors'])
            return deepfm(dims, s['num_factors'], list(s['mlp_dims']), s['drop_rate'])
    except KeyError as e:
        raise ValueError(f'model description lacks {e.args[0]!r}') from None
    except (TypeError, ValueError) as e:   # int('x'), int([1]), a size, dropout or activation
        raise ValueError(f'model description: {kind} hparams {hp!r} are not usable '
                         f'({e})'[:300]) from None
    raise ValueError(f"unknown model {kind!r} (expected one of {', '.join(MODELS)})")


def _size(value):
    """A positive integer hyper-parameter of a saved model (bools and floats refused)."""
    if not _is_int(value) or not 1 <= value <= MAX_SIZE:
        raise ValueError(f'{value!r} is not a positive integer')
    return int(value)


def check_last_items(last_items, meta, where, interactions=None):
    """Caser's saved input: each user's last ``L`` training items, ``(num_users, L)``
    integers in ``0..num_items-1``; when the training interactions are at hand, the same
    items the book's ``SeqDataset`` takes from them (:func:`d2l_recsys.rank_data.seq_windows`),
    so that the folder's files belong together."""
    a = onp.asarray(last_items)
    L = meta.get('hparams', {}).get('L')
    shape = (meta['num_users'], L)
    if a.shape != shape:
        raise ModelFolderError(f'{where}: shape {a.shape}, expected {shape} (users x L)')
    if a.dtype.kind not in 'iu':
        raise ModelFolderError(f'{where}: {a.dtype}, not integers')
    if a.size and (a.min() < 0 or a.max() >= meta['num_items']):
        raise ModelFolderError(f'{where}: an item index outside 0..{meta["num_items"] - 1}')
    if interactions is not None:
        try:
            expected = seq_windows(interactions['users'], interactions['items'], L,
                                   meta['num_users']).test_seq
        except ValueError as e:
            raise ModelFolderError(f'{where}: the training interactions give no windows of '
                                   f'{L} ({e})') from None
        if not onp.array_equal(expected.astype(onp.int64), a):
            raise ModelFolderError(f'{where}: not the last {L} training items of every user '
                                   f'in {INTERACTIONS} (files from different runs?)')
    return a.astype(onp.int64)


def check_interactions(interactions, num_users, num_items, where):
    """The training ratings as three equal-length 1-D arrays: int64 ``users`` in
    0..num_users-1, int64 ``items`` in 0..num_items-1 and finite float32 ``ratings``."""
    if not hasattr(interactions, 'keys'):
        raise ModelFolderError(f'{where}: expected arrays users, items, ratings')
    missing = [k for k in ('users', 'items', 'ratings') if k not in interactions.keys()]
    if missing:
        raise ModelFolderError(f'{where}: no array {missing[0]!r} (expected users, items, '
                               'ratings)')
    out = {}
    for key in ('users', 'items', 'ratings'):
        a = onp.asarray(interactions[key])
        if a.ndim != 1:
            raise ModelFolderError(f'{where}: {key} has shape {a.shape}; expected one '
                                   'dimension')
        if key != 'ratings' and a.dtype.kind not in 'iu':
            raise ModelFolderError(f'{where}: {key} are {a.dtype}, not integers')
        if key == 'ratings' and a.dtype.kind not in 'iuf':
            raise ModelFolderError(f'{where}: ratings are {a.dtype}, not numbers')
        out[key] = a
    sizes = {k: len(a) for k, a in out.items()}
    if len(set(sizes.values())) != 1:
        raise ModelFolderError(f'{where}: arrays of unequal length ({sizes})')
    for key, n in (('users', num_users), ('items', num_items)):
        a = out[key]
        if len(a) and (a.min() < 0 or a.max() >= n):
            bad = a[(a < 0) | (a >= n)][0]
            raise ModelFolderError(f'{where}: {key[:-1]} index {int(bad)} is out of range: '
                                   f'the model knows 0..{n - 1}')
        out[key] = a.astype(onp.int64)
    out['ratings'] = out['ratings'].astype(onp.float32)
    if not onp.isfinite(out['ratings']).all():
        raise ModelFolderError(f'{where}: ratings hold non-finite values')
    return out



def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_dead_staging(parent, base):
    """Remove ``.BASE.tmp-PID-*`` siblings whose process is gone (a killed save's)."""
    prefix = f'.{base}.tmp-'
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            if not name.startswith(prefix):
                continue
            pid = name[len(prefix):].split('-', 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _replaceable(directory):
    """Why ``directory`` (an existing folder) may not be replaced by a model, or None."""
    names = os.listdir(directory)
    if not names:
        return None
    if META not in names:
        return (f'{directory} is a folder that holds no model ({", ".join(sorted(names)[:3])}'
                f'{", ..." if len(names) > 3 else ""}); give a new or empty folder')
    known = set(KNOWN)
    with contextlib.suppress(Exception):
        with open(os.path.join(directory, META), encoding='utf-8') as f:
            old = json.load(f)
        known.update(n for n in list(old.get('files', {})) + [old.get('params')]
                     if isinstance(n, str))
    stray = [n for n in names if n not in known and not
             any(n.startswith(f'.{k}.') for k in known)]   # an older version's temp files
    if stray:
        return (f'{directory} holds files that are not part of a model '
                f'({", ".join(sorted(stray)[:3])}); they would be lost: give a new or empty '
                f'folder')
    return None


def check_output_folder(directory):
    """Raise ModelFolderError (one line) unless a model can be written to ``directory``.

    Called before training so that a bad ``--out`` fails at once, not after the run: the
    path must be a folder or not exist yet, lie under folders only, be writable, and (when
    it exists) hold nothing but an older model, which is replaced whole.
    """
    directory = os.path.realpath(os.fspath(directory))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ModelFolderError(f'{directory} is a file, not a folder')
    if os.path.isdir(directory):
        why = _replaceable(directory)
        if why:
            raise ModelFolderError(why)
    ancestor = os.path.dirname(directory)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ModelFolderError(f'{directory}: cannot be created under {ancestor}, which is a '
                               'file')
    try:
        os.rmdir(tempfile.mkdtemp(prefix='.d2l-recsys-probe-', dir=ancestor))
    except OSError as e:
        raise ModelFolderError(f'{directory}: cannot write in {ancestor} '
                               f'({e.strerror or e})') from None
    return directory


def _rename_exchange(a, b):
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system cannot do it."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):   # ENOSYS, EINVAL, EOPNOTSUPP: not supported here
        return False
    raise OSError(err, os.strerror(err), b)



def json_default(obj, *, fallback=None):
    """``json.dumps``'s ``default=`` for what runs record: NumPy integers and floats become
    numbers, NumPy arrays lists. Anything else becomes ``fallback(obj)`` (e.g. ``str``, for a
    record that must be written whatever it holds), or, with no fallback, a TypeError."""
    if isinstance(obj, onp.integer):
        return int(obj)
    if isinstance(obj, onp.floating):
        return float(obj)
    if isinstance(obj, onp.ndarray):
        return obj.tolist()
    if fallback is not None:
        return fallback(obj)
    raise TypeError(f'{type(obj).__name__} is not JSON serialisable')


def save_model_folder(directory, *, meta, write_params, interactions=None, history=None,
                      files=None, last_items=None):
    """Write a model folder whole: ``model.json``, the parameters, the training ratings, the
    history and any ``files`` (``{name: write(path)}``, e.g. the curve).

    ``meta`` must carry ``framework``, ``model``, ``hparams``, ``num_users``, ``num_items``,
    ``user_based`` (JSON-able) and may name the parameter file (``params``, default
    ``model.params``); ``write_params(path)`` writes it. ``interactions``: 0-based ``users``,
    ``items``, ``ratings``. ``last_items``: Caser's ``(num_users, L)`` input, written to
    ``last_items.npz`` after :func:`check_last_items`. Everything is written into a temporary
    sibling folder, which then
    takes the place of ``directory`` in one rename: an older model there is replaced whole or
    not at all, and no temporary file is left on any error. Returns ``directory``.
    """
    meta = dict(meta)
    meta.setdefault('format', FORMAT)
    meta.setdefault('params', 'model.params')
    _check_meta(meta, 'model description')
    params = _plain_name(meta['params'], 'model description "params"')
    files = dict(files or {})
    for name in files:
        _plain_name(name, 'model folder file')
    taken = {META, INTERACTIONS, HISTORY, LAST_ITEMS} & ({params} | set(files))
    if taken or params in files:
        raise ModelFolderError(f'model folder: {sorted(taken or {params})[0]} is written '
                               'twice')
    if interactions is not None:
        interactions = check_interactions(interactions, meta['num_users'], meta['num_items'],
                                          'training interactions')
    if last_items is not None:
        last_items = check_last_items(last_items, meta, 'last items', interactions)
    elif meta['model'] == 'caser':
        raise ModelFolderError('a Caser model needs its users\' last items (last_items=)')
    text_history = None
    if history is not None:
        text_history = json.dumps(history, indent=2, default=json_default) + '\n'
    directory = check_output_folder(directory)
    parent, base = os.path.split(directory)
    os.makedirs(parent, exist_ok=True)
    _remove_dead_staging(parent, base)
    stage = tempfile.mkdtemp(prefix=f'.{base}.tmp-{os.getpid()}-', dir=parent)
    try:
        write_params(os.path.join(stage, params))
        if interactions is not None:
            with open(os.path.join(stage, INTERACTIONS), 'wb') as f:
                onp.savez_compressed(f, **interactions)
        if text_history is not None:
            with open(os.path.join(stage, HISTORY), 'w', encoding='utf-8') as f:
                f.write(text_history)
        if last_items is not None:
            with open(os.path.join(stage, LAST_ITEMS), 'wb') as f:
                onp.savez_compressed(f, test_seq=last_items)
        for name, write in files.items():
            write(os.path.join(stage, name))
        manifest = {}
        for name in sorted(os.listdir(stage)):
            path = os.path.join(stage, name)
            if not os.path.isfile(path):
                raise ModelFolderError(f'{path}: the model writers left a non-file here')
            manifest[name] = {'bytes': os.path.getsize(path), 'sha256': file_digest(path)}
            os.chmod(path, umask_mode(0o666))
        if params not in manifest:
            raise ModelFolderError(f'write_params wrote no {params}')
        meta['files'] = manifest
        with open(os.path.join(stage, META), 'w', encoding='utf-8') as f:
            f.write(json.dumps(meta, indent=2, default=json_default) + '\n')
        os.chmod(os.path.join(stage, META), umask_mode(0o666))
        for name in os.listdir(stage):   # on disk before the rename makes the folder visible
            with open(os.path.join(stage, name), 'rb') as f:
                os.fsync(f.fileno())
        os.chmod(stage, umask_mode(0o777))
        if os.path.isdir(directory):
            if not _rename_exchange(stage, directory):
                # No atomic swap here: move the old model aside, then the new one in.
                old = tempfile.mkdtemp(prefix=f'.{base}.tmp-{os.getpid()}-old-', dir=parent)
                os.replace(directory, os.path.join(old, base))
                try:
                    os.replace(stage, directory)
                except BaseException:
                    os.replace(os.path.join(old, base), directory)
                    os.rmdir(old)
                    raise
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, directory)
    finally:
        # After a swap ``stage`` holds the old model; on an error, the unfinished new one.
        shutil.rmtree(stage, ignore_errors=True)
    return directory


def _inside(directory, name, where):
    """The path of ``name`` in ``directory``, refusing anything that resolves outside it."""
    _plain_name(name, where)
    path = os.path.join(directory, name)
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(directory):
        raise ModelFolderError(f'{path}: a link that leads outside the model folder')
    return path


def _read_meta(directory):
    path = os.path.join(directory, META)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{directory}: no {META} here (not a model folder written by '
                                '`python -m d2l_recsys train`)')
    _inside(directory, META, path)
    if os.path.getsize(path) > MAX_META_BYTES:
        raise ModelFolderError(f'{path}: larger than {MAX_META_BYTES >> 20} MB; not a model '
                               'description')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise ModelFolderError(f'{path} line {e.lineno}: not valid JSON ({e.msg})') from None
    except UnicodeDecodeError:
        raise ModelFolderError(f'{path}: not UTF-8 text') from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f'{path}: expected a JSON object, found '
                               f'{type(meta).__name__}')
    if meta.get('format') != FORMAT:
        raise ModelFolderError(f'{path}: unknown format {meta.get("format")!r} '
                               f'(expected {FORMAT!r})'[:300])
    meta = dict(meta)
    meta.setdefault('framework', 'mxnet')   # written before there was a second framework
    return _check_meta(meta, path), path


def _check_files(directory, meta, meta_path):
    listed = meta.get('files')
    if listed is None:
        return {}
    if not isinstance(listed, dict):
        raise ModelFolderError(f'{meta_path}: "files" must be an object')
    for name, entry in listed.items():
        path = _inside(directory, name, f'{meta_path} "files"')
        if not (isinstance(entry, dict) and _is_int(entry.get('bytes'))
                and isinstance(entry.get('sha256'), str) and _SHA256.match(entry['sha256'])):
            raise ModelFolderError(f'{meta_path}: "files" entry for {name} needs "bytes" and '
                                   '"sha256"')
        if not os.path.isfile(path):
            raise ModelFolderError(f'{path}: missing (listed in {META})')
        if os.path.getsize(path) != entry['bytes'] or file_digest(path) != entry['sha256']:
            raise ModelFolderError(f'{path}: does not match the size and SHA-256 that {META} '
                                   'records (changed, or from another run)')
    return listed


def _load_npz(path, limit, what):
    """The arrays of a checked ``.npz`` (no pickles; at most ``limit`` bytes unpacked)."""
    try:
        with zipfile.ZipFile(path) as zf:
            if sum(i.file_size for i in zf.infolist()) > limit:
                raise ModelFolderError(f'{path}: unpacks to more than {what} could take')
        with onp.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ModelFolderError:
        raise
    except Exception as e:   # BadZipFile, a truncated member, zlib.error, a pickled array
        raise ModelFolderError(f'{path}: not a readable .npz ({type(e).__name__}: '
                               f'{str(e)[:120]})') from None


def _load_last_items(path, meta, interactions):
    L = meta['hparams'].get('L')
    if not _is_int(L) or not 1 <= L <= MAX_SIZE:
        raise ModelFolderError(f'{path}: the model description gives no window length L')
    arrays = _load_npz(path, 8 * meta['num_users'] * L + (1 << 16),
                       f'{meta["num_users"]} users x {L} items')
    if 'test_seq' not in arrays:
        raise ModelFolderError(f'{path}: no array \'test_seq\'')
    return check_last_items(arrays['test_seq'], meta, path, interactions)


def _load_interactions(path, meta):
    limit = 16 * meta['num_users'] * meta['num_items'] + (1 << 16)
    arrays = _load_npz(path, 3 * limit, f'the model\'s {meta["num_users"]} x '
                                        f'{meta["num_items"]} ratings')
    return check_interactions(arrays, meta['num_users'], meta['num_items'], path)


def load_model_folder(directory):
    """Read and check a model folder written by :func:`save_model_folder`.

    Returns a :class:`ModelFolder`. Raises FileNotFoundError or :class:`ModelFolderError`
    (a ValueError) with one line naming the file and what is wrong: not a JSON object,
    missing or mistyped fields, a file name that is not plain (only files inside the folder
    are ever opened), a file whose size or SHA-256 differs from what ``model.json`` records,
    a training-ratings file that is not a readable ``.npz`` of three equal-length arrays with
    ids in range.
    """
    directory = os.fspath(directory)
    meta, meta_path = _read_meta(directory)
    listed = _check_files(directory, meta, meta_path)
    params_path = _inside(directory, meta.get('params', 'model.params'),
                          f'{meta_path} "params"')
    if not os.path.isfile(params_path):
        raise FileNotFoundError(f'{params_path}: no such parameter file')
    interactions = None
    inter_path = os.path.join(directory, INTERACTIONS)
    if INTERACTIONS in listed or os.path.lexists(inter_path):
        interactions = _load_interactions(_inside(directory, INTERACTIONS, meta_path), meta)
    last_items = None
    if meta['model'] == 'caser':
        path = _inside(directory, LAST_ITEMS, meta_path)
        if not os.path.isfile(path):
            raise ModelFolderError(f'{path}: missing (Caser recommends from each user\'s last '
                                   'training items)')
        last_items = _load_last_items(path, meta, interactions)
    return ModelFolder(directory=directory, meta=meta, params_path=params_path,
                       interactions=interactions, last_items=last_items)

