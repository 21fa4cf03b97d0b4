"""Write files whole or not at all: a temporary file in the same folder, then os.replace; and
the checks that a file or folder can be written, made before the work that produces it."""
import contextlib
import errno
import hashlib
import os
import stat
import tempfile

from . import scratch

__all__ = ['umask_mode', 'file_digest', 'open_regular', 'read_regular', 'atomic_write',
           'atomic_write_text', 'rewrite_between', 'writable_ancestor', 'check_output_file',
           'check_output_dir']


def umask_mode(mode):
    """``mode`` less the process's umask: what a plain ``open``/``mkdir`` would give. The
    temporary files and folders of ``tempfile`` are private (0600/0700); what is published
    gets this mode instead."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


_KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'))


@contextlib.contextmanager
def open_regular(path, *, follow_links=True, limit=None):
    """``open(path, 'rb')`` for a regular file only: a FIFO, a device or a folder is a
    one-line ValueError instead of a read that blocks or never ends; with
    ``follow_links=False`` a symbolic link is refused too; a file over ``limit`` bytes too.
    The file is opened without blocking and checked on what was opened."""
    flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_BINARY', 0)
    if not follow_links:
        flags |= getattr(os, 'O_NOFOLLOW', 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_links:
            raise ValueError(f'{path}: a symbolic link, not a file of its own') from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), 'not a regular file')
            raise ValueError(f'{path}: {kind}, not a regular file')
        if limit is not None and os.fstat(fd).st_size > limit:
            raise ValueError(f'{path}: larger than {limit:,} bytes')
        if hasattr(os, 'set_blocking'):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_regular(path, *, follow_links=True, limit=None):
    """The bytes of a regular file (:func:`open_regular`)."""
    with open_regular(path, follow_links=follow_links, limit=limit) as f:
        return f.read()


def file_digest(path, algorithm='sha256', *, follow_links=True):
    """Hex digest of a regular file's bytes (``hashlib`` name ``algorithm``), read in blocks
    (:func:`open_regular`: a FIFO or a device is a ValueError, never a read that hangs)."""
    h = hashlib.new(algorithm)
    with open_regular(path, follow_links=follow_links) as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def atomic_write(path, write, *, prefix=None):
    """Call ``write(tmp_path)``, then rename ``tmp_path`` to ``path`` (same folder, so the
    rename is atomic); on any error the temporary file is removed and ``path`` is untouched.
    The file gets the permissions a plain ``open(path, 'w')`` would give. ``prefix`` names the
    temporary file (default ``.<name>.tmp-``), for folders that clean up their own leftovers;
    while it exists it is registered for :func:`d2l_recsys.scratch.sweep`, which removes it
    if this process is killed outright."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or '.' + os.path.basename(path) + '.tmp-',
                               dir=folder)
    os.close(fd)
    marker = scratch.register(tmp)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        scratch.unregister(marker)
    return path


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` whole or not at all; returns ``path``."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
    return atomic_write(path, write)


def _named(path, what):
    return f'{what} {path}' if what else f'{path}'


def writable_ancestor(path, what=None):
    """The nearest existing folder above ``path`` (where ``path`` or its temporary sibling
    will be created), after checking that it is a folder this process can write in; else a
    ValueError naming ``what`` (e.g. ``'--out'``) and ``path``."""
    ancestor = os.path.dirname(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f'{_named(path, what)}: cannot be created under {ancestor}, which is '
                         'a file')
    try:
        os.rmdir(tempfile.mkdtemp(prefix='.d2l-recsys-probe-', dir=ancestor))
    except OSError as e:
        raise ValueError(f'{_named(path, what)}: cannot write in {ancestor} '
                         f'({e.strerror or e})') from None
    return ancestor


def check_output_file(path, what=None):
    """Raise ValueError (one line) unless a file can be written whole at ``path``: not a folder
    or anything but a regular file, under folders only, writable. Call it before the work
    whose result goes there. Returns ``path``."""
    real = os.path.realpath(os.fspath(path))
    if os.path.isdir(real):
        raise ValueError(f'{_named(path, what)}: is a folder; give a file name')
    if os.path.lexists(real) and not os.path.isfile(real):
        raise ValueError(f'{_named(path, what)}: is not a regular file')
    writable_ancestor(real, what)
    return path


def check_output_dir(path, what=None):
    """Raise ValueError (one line) unless files can be written into the folder ``path`` (which
    may not exist yet): not a file, under folders only, writable. Returns ``path``."""
    real = os.path.realpath(os.fspath(path))
    if os.path.lexists(real) and not os.path.isdir(real):
        raise ValueError(f'{_named(path, what)}: is a file, not a folder')
    if os.path.isdir(real):
        writable_ancestor(os.path.join(real, 'x'), what)
    else:
        writable_ancestor(real, what)
    return path


def rewrite_between(path, start, end, body):
    """Replace the lines between the line ``start`` and the line ``end`` of text file ``path``
    with ``body`` (the two marker lines stay), atomically. Returns True when the file changed,
    False when it already held ``body``; raises ValueError, naming the file, when the markers
    are not there once each in that order."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    if lines.count(start) != 1 or lines.count(end) != 1 or lines.index(start) > lines.index(end):
        raise ValueError(f'{path}: expected the lines {start!r} and {end!r}, once each, in '
                         'that order')
    i, j = lines.index(start), lines.index(end)
    new = lines[:i + 1] + body.rstrip('\n').split('\n') + lines[j:]
    if new == lines:
        return False
    atomic_write_text(path, '\n'.join(new))
    return True
