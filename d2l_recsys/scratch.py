"""Temporary files and folders, and the sweep of what a killed process left of them.

Whatever the package writes goes first to a temporary name (a model folder's staging folder
beside ``--out``, the curve's scratch folder, a download's staging folder in the cache, pip's
own temporary folders inside it, a file written whole by :func:`d2l_recsys.atomic.
atomic_write`), which the process removes when it ends, by an error, an interrupt or SIGTERM.
Only a process killed outright (SIGKILL, the machine going down) cannot; so each temporary
path is registered while it exists, as a small marker file in the cache's ``.pending/``
folder naming the path, the host and the process, and the next run of any command
(:func:`sweep`) removes the paths of processes that are gone. Framework-free, standard
library only.
"""
import contextlib
import os
import shutil
import socket
import tempfile

__all__ = ['cache_root', 'register', 'unregister', 'pending', 'scratch_dir', 'sweep',
           'host_name', 'PENDING', 'ENV_CACHE']

ENV_CACHE = 'D2L_RECSYS_CACHE'
PENDING = '.pending'
PREFIX = 'd2l-recsys-'      # names of scratch folders in the system's temporary folder


def cache_root():
    """The cache folder: ``$D2L_RECSYS_CACHE`` or ``~/.cache/d2l-recsys``."""
    return os.path.abspath(os.path.expanduser(
        os.environ.get(ENV_CACHE) or os.path.join('~', '.cache', 'd2l-recsys')))


def host_name():
    """This machine (and PID namespace) as the registry's markers name it: a process id means
    something on its own host only, so a cache shared between machines (an NFS home) or
    containers keeps each one's markers apart."""
    name = ''.join(c if c.isalnum() or c in '.-' else '_' for c in socket.gethostname())[:64]
    try:   # containers on one host may share a host name, never a PID namespace
        space = ''.join(c for c in os.readlink('/proc/self/ns/pid') if c.isdigit())
    except OSError:
        space = ''
    return (name or 'host') + (f'-{space}' if space else '')


def _ours(path):
    """Only what the package names: hidden ``.tmp-`` names or ``d2l-recsys-*`` scratch."""
    base = os.path.basename(path)
    return os.path.isabs(path) and (
        (base.startswith('.') and '.tmp-' in base) or base.startswith(PREFIX))


def register(path):
    """Record that this process owns the temporary ``path`` until :func:`unregister`; returns
    the marker (None where the cache cannot be written: then only this process's own clean-up
    removes ``path``)."""
    path = os.path.abspath(os.fspath(path))
    if not _ours(path):
        raise ValueError(f'{path}: not a temporary name of this package')
    folder = os.path.join(cache_root(), PENDING)
    for _ in range(2):   # twice: another process may remove the empty folder in between
        try:
            os.makedirs(folder, exist_ok=True)
            fd, marker = tempfile.mkstemp(prefix=f'{host_name()}@{os.getpid()}@', dir=folder)
        except OSError:
            continue
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(path)
        except OSError:
            unregister(marker)
            return None
        return marker
    return None


def unregister(marker):
    """Forget a marker of :func:`register` (its path is gone or has been published); the
    registry folder goes too when it is empty."""
    if marker:
        with contextlib.suppress(OSError):
            os.remove(marker)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(marker))


@contextlib.contextmanager
def pending(path):
    """Registers ``path`` while the block runs (:func:`register`, :func:`unregister`)."""
    marker = register(path)
    try:
        yield path
    finally:
        unregister(marker)


@contextlib.contextmanager
def scratch_dir(what, dir=None):
    """A private temporary folder ``d2l-recsys-WHAT-PID-*`` (in ``dir``, default the system's
    temporary folder), registered while it exists and removed when the block ends."""
    path = tempfile.mkdtemp(prefix=f'{PREFIX}{what}-{os.getpid()}-', dir=dir)
    marker = register(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        unregister(marker)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # someone else's process: alive
        return True
    return True


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    except OSError:
        return False
    return True


def sweep():
    """Remove the registered temporary paths of this host's processes that are gone; returns
    them. Never fails: a path that cannot be removed stays registered for the next run."""
    folder = os.path.join(cache_root(), PENDING)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    host, removed = host_name(), []
    for name in names:
        parts = name.split('@')
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if _alive(int(parts[1])):
            continue
        marker = os.path.join(folder, name)
        try:
            with open(marker, encoding='utf-8') as f:
                path = f.read(4096).strip()
        except (OSError, UnicodeDecodeError):
            path = ''
        if path and _ours(path) and os.path.lexists(path):
            if not _remove(path):
                continue
            removed.append(path)
        unregister(marker)
    return removed
