"""Results records: what a chapter notebook hands to ``make reproduce``.

Each notebook ends with one cell that calls :func:`write_record` with the values the tables
need (its training history, the exact test RMSE, ...), under names the notebook chooses. The
call writes ``<name>.json`` into the folder named by the environment variable
``D2L_RECSYS_RECORDS``, which ``make reproduce`` sets for the notebook's kernel; anywhere else
(Jupyter, Colab, the tests) the variable is unset and the call does nothing. So a notebook that
renames a variable fails in its own cell, by name, instead of leaving the tables to read a
variable that is no longer there.

A record is ``{"name": name, "values": {...}}`` in JSON, written whole or not at all
(:mod:`d2l_recsys.atomic`). NumPy, MXNet and PyTorch scalars and arrays are stored as numbers
and lists.
"""
import json
import os
import re

from .atomic import atomic_write_text

__all__ = ['RECORDS_ENV', 'RecordError', 'write_record', 'read_record', 'record_path']

RECORDS_ENV = 'D2L_RECSYS_RECORDS'
_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]*')


class RecordError(ValueError):
    """A record that is missing, unreadable or lacks a value; the message says which."""


def _check_name(name):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f'record name must be letters, digits, "-" or "_" (it names a file), '
                         f'got {name!r}')
    return name


def record_path(folder, name):
    """Where the record ``name`` lives in ``folder``: ``folder/<name>.json``."""
    return os.path.join(os.fspath(folder), _check_name(name) + '.json')


def _plain(value, where):
    """``value`` as JSON's types (dict, list, str, int, float, bool, None), or TypeError
    naming ``where``: arrays and tensors become lists, their scalars numbers."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if hasattr(key, 'item') and not isinstance(key, str):
                key = key.item()   # a NumPy integer as a key, e.g. from value_counts()
            if not isinstance(key, (str, int, float, bool)):
                raise TypeError(f'{where}: key {key!r} cannot be a JSON key')
            out[str(key)] = _plain(item, f'{where}[{key!r}]')
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f'{where}[{k}]') for k, item in enumerate(value)]
    for convert in ('tolist', 'item'):   # NumPy/MXNet arrays and scalars, PyTorch tensors
        if callable(getattr(value, convert, None)):
            return _plain(getattr(value, convert)(), where)
    raise TypeError(f'{where} is a {type(value).__name__}, which a results record cannot '
                    'hold (numbers, strings, lists, dicts and arrays only)')


def write_record(name, **values):
    """Write the results record ``name`` for ``make reproduce``, or do nothing.

    When ``D2L_RECSYS_RECORDS`` names a folder, ``values`` go to ``<folder>/<name>.json``
    (replacing an earlier record of that name, atomically); when it is unset or empty nothing
    is written. Returns None either way (so a notebook cell shows no output). A value that
    JSON cannot hold raises TypeError naming it, before anything is written.
    """
    _check_name(name)
    record = {'name': name, 'values': _plain(values, f'write_record({name!r})')}
    folder = os.environ.get(RECORDS_ENV)
    if not folder:
        return None
    atomic_write_text(record_path(folder, name), json.dumps(record, indent=1) + '\n')
    return None


def read_record(folder, name, *, required=(), writer=None):
    """The values of the record ``name`` in ``folder``.

    ``required``: keys the record must hold. ``writer``: what should have written it (for
    example ``'notebooks/03-mf-mxnet.ipynb'``), named in the errors. Raises
    :class:`RecordError` with one line saying which record is missing, unreadable, or lacks
    which values.
    """
    path = record_path(folder, name)
    who = writer or f'the record {name!r}'
    hint = (f'its last cell must call d2l_recsys.records.write_record({name!r}, ...) '
            f'with {", ".join(required)}' if required else
            f'its last cell must call d2l_recsys.records.write_record({name!r}, ...)')
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except FileNotFoundError:
        raise RecordError(f'{who} ran but wrote no results record ({path}): {hint}') from None
    except (OSError, ValueError) as e:
        raise RecordError(f'{who}: results record {path} is unreadable: {e}') from None
    values = record.get('values') if isinstance(record, dict) else None
    if not isinstance(values, dict) or record.get('name') != name:
        raise RecordError(f'{who}: {path} is not a results record named {name!r}')
    missing = [k for k in required if k not in values]
    if missing:
        raise RecordError(f'{who}: results record {path} lacks {", ".join(missing)}: {hint}')
    return values

