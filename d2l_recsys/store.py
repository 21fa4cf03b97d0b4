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
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile

import numpy as onp

from . import checks, scratch
from .atomic import (file_digest, open_regular, read_regular, umask_mode,
                     writable_ancestor)
from .defaults import NEUMF_OUTPUTS
from .rank_data import seq_windows

__all__ = ['save_model_folder', 'load_model_folder', 'check_output_folder', 'ModelFolder',
           'ModelFolderError', 'json_default', 'model_meta', 'model_from_meta',
           'check_last_items', 'FORMAT', 'META', 'INTERACTIONS', 'HISTORY', 'LAST_ITEMS',
           'AUTOREC_EXTRAS', 'MODELS', 'CLICK_MODELS', 'PARAMETER_COUNTS', 'parameter_count',
           'read_listed', 'interaction_array', 'check_shapes']

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
         'curve.svg', 'u.item', 'features.json', 'catalog.json'}
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
    dims = hp['field_dims']
    if not isinstance(dims, list) or not dims or not all(
            _is_int(d) and d >= 1 for d in dims) or sum(dims) > MAX_SIZE:
        raise ValueError(f'field_dims must be a list of positive integers (at most '
                         f'{MAX_SIZE:,} rows in all), got {str(dims)[:80]}')
    given = {k: hp[k] for k in ('num_factors', 'mlp_dims', 'drop_rate') if k in hp}
    if kind == 'deepfm' and not {'mlp_dims', 'drop_rate'} <= set(given):
        raise KeyError('mlp_dims' if 'mlp_dims' not in given else 'drop_rate')
    return dims, checks.check_click_settings(kind, **given)


def model_from_meta(meta, *, framework, tab, mf, autorec, default_framework=None,
                    neumf=None, caser=None, fm=None, deepfm=None):
    """The model ``meta`` (``model.json``) describes, built with a tab's classes:
    ``mf(num_factors, num_users, num_items)``, ``autorec(num_hidden, num_users (num_items
    when user-based), dropout, **extras)``, ``neumf(num_factors, num_users, num_items,
    nums_hiddens[, output])``, ``caser(num_factors, num_users, num_items, L, d, d_prime,
    drop_ratio[, horizontal=, vertical=])`` (the ablation's flags only where saved),
    ``fm(field_dims, num_factors)`` or ``deepfm(field_dims, num_factors,
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
            return mf(checks.positive_int('num_factors', hp['num_factors']),
                      meta['num_users'], meta['num_items'])
        if kind == 'autorec':
            size = meta['num_items'] if meta.get('user_based') else meta['num_users']
            extras = {k: hp[k] for k in AUTOREC_EXTRAS if k in hp}
            if not isinstance(extras.get('clip', False), bool):
                raise ValueError(f'model description: autorec hparams "clip" must be true or '
                                 f'false, got {extras["clip"]!r}'[:200])
            return autorec(checks.positive_int('num_hidden', hp['num_hidden']), size,
                           checks.fraction('dropout', hp.get('dropout', 0.05)), **extras)
        if kind == 'neumf' and neumf is not None:
            hidden = hp['nums_hiddens']
            if not isinstance(hidden, list):
                raise ValueError(f'nums_hiddens must be a list of positive integers, got '
                                 f'{hidden!r}')
            # ``output`` (not the book's): a tuned NeuMF's prediction layer without sigmoid
            extra = {'output': checks.choice('output', hp['output'], NEUMF_OUTPUTS)} \
                if 'output' in hp else {}
            return neumf(_size(hp['num_factors']), meta['num_users'], meta['num_items'],
                         nums_hiddens=list(checks.int_list('nums_hiddens', hidden)), **extra)
        if kind == 'caser' and caser is not None:
            return caser(_size(hp['num_factors']), meta['num_users'], meta['num_items'],
                         _size(hp['L']), _size(hp['d']), _size(hp['d_prime']),
                         checks.fraction('drop_ratio', hp['drop_ratio']),
                         **_caser_ablation(hp))
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


def check_interactions(interactions, num_users, num_items, where, model=None):
    """The training ratings as three equal-length 1-D arrays: int64 ``users`` in
    0..num_users-1, int64 ``items`` in 0..num_items-1 and finite float32 ``ratings`` (1 to 5
    stars; a click model's, ``model`` in :data:`CLICK_MODELS`: its 0/1 labels)."""
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
    if model in CLICK_MODELS:   # a click model's training lines carry labels, not stars
        bad = (out['ratings'] != 0) & (out['ratings'] != 1)
        if bad.any():
            raise ModelFolderError(f'{where}: label {out["ratings"][bad][0]:g} is not a click '
                                   'label (0 or 1)')
        return out
    try:   # MovieLens ratings are 1 to 5 stars; AutoRec would serve a 99 as it is
        checks.check_ratings(out['ratings'], where)
    except ValueError as e:
        raise ModelFolderError(str(e)) from None
    return out


def interaction_array(interactions, num_users, num_items, user_based=False):
    """The book's ``(num_items, num_users)`` float32 rating matrix (``(num_users,
    num_items)`` when ``user_based``) from 0-based ``users``, ``items``, ``ratings`` arrays,
    checked first (:func:`check_interactions`: ids in range, ratings from 1 to 5), so that
    AutoRec is never fed a 99 or a wrapped-around id. Both tabs' ``interaction_matrix``."""
    checked = check_interactions(interactions, num_users, num_items, 'training ratings')
    inter = onp.zeros((num_items, num_users), dtype=onp.float32)
    inter[checked['items'], checked['users']] = checked['ratings']
    return inter.T if user_based else inter


def check_shapes(want, got, path, model):
    """ValueError listing every difference between the parameters a model has (``want``:
    ``{name: shape}``, a dimension of 0 or -1 not known yet) and those a parameter file holds
    (``got``), before anything is loaded: both tabs' loaders, one message."""
    problems = []
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing:
        problems.append(f'missing in the file: {", ".join(missing)}')
    if unexpected:
        problems.append(f'not in the model: {", ".join(unexpected)}')
    for name in sorted(set(want) & set(got)):
        w, g = tuple(want[name]), tuple(got[name])
        if not (len(w) == len(g) and all(a in (-1, 0) or a == b for a, b in zip(w, g))):
            shown = '(' + ', '.join('?' if a in (-1, 0) else str(a) for a in w) + \
                (',)' if len(w) == 1 else ')')
            problems.append(f'{name} is {g} in the file but {shown} in the model')
    if problems:
        raise ValueError(f'{path} does not fit this {model}: ' + '; '.join(problems))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_dead_staging(parent, base):
    """Remove ``.BASE.tmp-PID-*`` siblings whose process is gone (a killed save's), unless
    ``BASE`` itself is missing: a save killed halfway through a swap without an atomic
    exchange leaves the models only there."""
    prefix = f'.{base}.tmp-'
    if not os.path.isdir(os.path.join(parent, base)):
        return
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
    with contextlib.suppress(Exception):   # a FIFO, deep nesting, ...: only the known names
        with open_regular(os.path.join(directory, META), limit=MAX_META_BYTES) as f:
            old = json.loads(f.read().decode('utf-8'))
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
    try:   # the staging folder is made beside it
        writable_ancestor(directory)
    except ValueError as e:
        raise ModelFolderError(str(e)) from None
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
                                          'training interactions', meta['model'])
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
    # Registered, so that the next run of any command removes it if this one is killed.
    marker = scratch.register(stage)
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
                # No atomic swap here: move the old model aside, then the new one in. A kill
                # between the two renames leaves both models in staging folders and none at
                # ``directory``: they are kept for the user, not swept.
                scratch.unregister(marker)
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
        scratch.unregister(marker)
    return directory


def _inside(directory, name, where):
    """The path of ``name`` in ``directory``, refusing anything that resolves outside it."""
    _plain_name(name, where)
    path = os.path.join(directory, name)
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(directory):
        raise ModelFolderError(f'{path}: a link that leads outside the model folder')
    return path


def _not_a_file(path):
    """Why the existing ``path`` cannot be read as a file, or None."""
    try:
        with open_regular(path):
            return None
    except ValueError as e:
        return str(e)
    except OSError as e:
        return f'{path}: {e.strerror or e}'


def _read_meta(directory):
    path = os.path.join(directory, META)
    if not os.path.lexists(path):
        raise FileNotFoundError(f'{directory}: no {META} here (not a model folder written by '
                                '`python -m d2l_recsys train`)')
    _inside(directory, META, path)
    try:
        with open_regular(path, limit=MAX_META_BYTES) as f:
            raw = f.read()
    except ValueError as e:   # a FIFO, a folder, a device: never a read that blocks
        why = str(e)
        if 'larger than' in why:
            why = f'{path}: larger than {MAX_META_BYTES >> 20} MB; not a model description'
        raise ModelFolderError(why) from None
    try:
        meta = json.loads(raw.decode('utf-8'))
    except json.JSONDecodeError as e:
        raise ModelFolderError(f'{path} line {e.lineno}: not valid JSON ({e.msg})') from None
    except UnicodeDecodeError:
        raise ModelFolderError(f'{path}: not UTF-8 text') from None
    except RecursionError:
        raise ModelFolderError(f'{path}: nested too deeply to be a model description') \
            from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f'{path}: expected a JSON object, found '
                               f'{type(meta).__name__}')
    if meta.get('format') != FORMAT:
        raise ModelFolderError(f'{path}: unknown format {meta.get("format")!r} '
                               f'(expected {FORMAT!r})'[:300])
    meta = dict(meta)
    meta.setdefault('framework', 'mxnet')   # written before there was a second framework
    return _check_meta(meta, path), path


def _check_entry(directory, name, entry, meta_path):
    """The checked path of a file ``model.json`` lists: inside the folder, a regular file,
    the size and SHA-256 it records."""
    path = _inside(directory, name, f'{meta_path} "files"')
    if not (isinstance(entry, dict) and _is_int(entry.get('bytes'))
            and isinstance(entry.get('sha256'), str) and _SHA256.match(entry['sha256'])):
        raise ModelFolderError(f'{meta_path}: "files" entry for {name} needs "bytes" and '
                               '"sha256"')
    if not os.path.lexists(path):
        raise ModelFolderError(f'{path}: missing (listed in {META})')
    why = _not_a_file(path)
    if why:
        raise ModelFolderError(f'{why} (listed in {META})')
    if os.path.getsize(path) != entry['bytes'] or file_digest(path) != entry['sha256']:
        raise ModelFolderError(f'{path}: does not match the size and SHA-256 that {META} '
                               'records (changed, or from another run)')
    return path


def _check_files(directory, meta, meta_path):
    listed = meta.get('files')
    if listed is None:
        return {}
    if not isinstance(listed, dict):
        raise ModelFolderError(f'{meta_path}: "files" must be an object')
    for name, entry in listed.items():
        _check_entry(directory, name, entry, meta_path)
    return listed


def read_listed(directory, name, meta):
    """The bytes of ``name`` in a checked model folder, only if ``model.json`` (``meta``)
    lists it: read without following a link, and checked again against the size and SHA-256
    it records. Else ModelFolderError saying why; nothing outside the folder is opened."""
    listed = meta.get('files') or {}
    if name not in listed:
        raise ModelFolderError(f'{os.path.join(directory, name)}: not listed in {META} '
                               '(not written by `python -m d2l_recsys train`)')
    path = _check_entry(directory, name, listed[name], os.path.join(directory, META))
    try:
        raw = read_regular(path, follow_links=False)
    except ValueError as e:
        raise ModelFolderError(str(e)) from None
    if len(raw) != listed[name]['bytes'] or \
            hashlib.sha256(raw).hexdigest() != listed[name]['sha256']:
        raise ModelFolderError(f'{path}: changed while it was read')
    return raw


def _load_npz(path, limit, what):
    """The arrays of a checked ``.npz``: a regular file (never a FIFO or a device), at most
    ``limit`` bytes packed and unpacked, no pickles; ``what`` names what it should hold."""
    why = _not_a_file(path)
    if why:
        raise ModelFolderError(why)
    try:
        raw = read_regular(path, limit=limit)
    except ValueError:
        raise ModelFolderError(f'{path}: larger than {what} could take') from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            if sum(i.file_size for i in zf.infolist()) > limit:
                raise ModelFolderError(f'{path}: unpacks to more than {what} could take')
        with onp.load(io.BytesIO(raw), allow_pickle=False) as z:
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
    return check_interactions(arrays, meta['num_users'], meta['num_items'], path,
                              meta.get('model'))


def _mf_count(hp, num_users, num_items, user_based):
    k = checks.positive_int('num_factors', hp['num_factors'])
    return (num_users + num_items) * (k + 1)   # P, Q and the two biases


def _autorec_count(hp, num_users, num_items, user_based):
    width = num_items if user_based else num_users
    layers = hp.get('hidden_layers') or ()
    if not isinstance(layers, (list, tuple)):
        raise ValueError(f'hidden_layers must be a list of sizes, got {layers!r}')
    sizes = [checks.positive_int('num_hidden', hp['num_hidden'])] + \
        [checks.positive_int('hidden_layers', h) for h in layers]
    count = width * sizes[0] + sizes[0] + sizes[-1] * width + width   # encoder, decoder
    return count + sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _dense_stack(widths):
    """Weights and biases of dense layers from ``widths[0]`` through each of the others."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def _neumf_count(hp, num_users, num_items, user_based):
    k = checks.positive_int('num_factors', hp['num_factors'])
    hidden = list(checks.int_list('nums_hiddens', hp['nums_hiddens']))
    # P, Q (GMF) and U, V (MLP); the MLP from [U_u, V_i]; the prediction layer, no bias
    return 2 * (num_users + num_items) * k + _dense_stack([2 * k] + hidden) + k + hidden[-1]


def _caser_ablation(hp):
    """Caser's saved ablation flags (``horizontal``, ``vertical``), checked; {} for the book's
    model, which saves none."""
    if 'horizontal' not in hp and 'vertical' not in hp:
        return {}
    horizontal, vertical = checks.caser_convolutions(hp.get('horizontal', True),
                                                     hp.get('vertical', True))
    return {'horizontal': horizontal, 'vertical': vertical}


def _caser_count(hp, num_users, num_items, user_based):
    k = checks.positive_int('num_factors', hp['num_factors'])
    L, d, d_prime = (checks.positive_int(n, hp[n]) for n in ('L', 'd', 'd_prime'))
    ablation = _caser_ablation(hp)
    if not ablation.get('vertical', True):
        d_prime = 0
    if not ablation.get('horizontal', True):
        d = 0
    convolutions = d_prime * L + d_prime + sum(d * h * k + d for h in range(1, L + 1))
    fc = (d_prime * k + d * L) * k + k
    # P, Q; the vertical and horizontal filters; the fully connected layer; Q', b
    return (num_users + num_items) * k + convolutions + fc + num_items * (2 * k + 1)


def _fm_parts(hp):
    dims = hp['field_dims']
    if not isinstance(dims, list) or not dims:
        raise ValueError(f'field_dims must be a list of positive integers, got {dims!r}'[:200])
    inputs = sum(checks.positive_int('field_dims', n) for n in dims)
    k = checks.positive_int('num_factors', hp['num_factors'])
    # the embedding, the per-feature weight (fc) and the linear layer's weight and bias
    return len(dims), k, inputs * (k + 1) + 2


def _fm_count(hp, num_users, num_items, user_based):
    return _fm_parts(hp)[2]


def _deepfm_count(hp, num_users, num_items, user_based):
    fields, k, fm = _fm_parts(hp)
    return fm + _dense_stack([fields * k] + list(checks.int_list('mlp_dims', hp['mlp_dims']))
                             + [1])


# How many numbers each model's parameters hold, from model.json alone: what a parameter file
# must have room for (4 bytes each) before any framework allocates them. A new model adds its
# function here (tests/test_layout.py checks every model of both tabs against its count).
PARAMETER_COUNTS = {'mf': _mf_count, 'autorec': _autorec_count, 'neumf': _neumf_count,
                    'caser': _caser_count, 'fm': _fm_count, 'deepfm': _deepfm_count}


def parameter_count(meta, where='model description'):
    """The number of parameters ``meta`` (``model.json``) describes (None for a model without
    an entry in :data:`PARAMETER_COUNTS`), or ModelFolderError for sizes that are not
    positive integers."""
    count = PARAMETER_COUNTS.get(meta.get('model'))
    if count is None:
        return None
    hp = meta['hparams']
    try:
        return count(hp, meta['num_users'], meta['num_items'], bool(meta['user_based']))
    except KeyError as e:
        raise ModelFolderError(f'{where}: model description lacks {e.args[0]!r}') from None
    except (TypeError, ValueError) as e:
        raise ModelFolderError(f'{where}: {meta["model"]} hparams {hp!r} are not usable '
                               f'({e})'[:300]) from None


def _check_parameter_size(meta, params_path, meta_path):
    """The parameter file must be large enough for what ``model.json`` describes (float32,
    stored uncompressed by both frameworks), and the model must fit in memory: both before a
    framework allocates anything."""
    count = parameter_count(meta, meta_path)
    if count is None:
        return
    have = os.path.getsize(params_path)
    if 4 * count > have:
        raise ModelFolderError(
            f'{meta_path}: describes {count:,} parameters ({4 * count / 2 ** 20:,.1f} MiB as '
            f'float32), but {os.path.basename(params_path)} holds {have:,} bytes: the sizes '
            'in it are not the model\'s')
    try:
        checks.check_memory(count, f'{meta_path}: the model it describes')
    except ValueError as e:
        raise ModelFolderError(str(e)) from None


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
    if not os.path.lexists(params_path):
        raise FileNotFoundError(f'{params_path}: no such parameter file')
    why = _not_a_file(params_path)
    if why:
        raise ModelFolderError(why)
    _check_parameter_size(meta, params_path, meta_path)
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

