"""Write files whole or not at all: a temporary file in the same folder, then os.replace."""
import hashlib
import os
import tempfile


def umask_mode(mode):
    """``mode`` less the process's umask: what a plain ``open``/``mkdir`` would give. The
    temporary files and folders of ``tempfile`` are private (0600/0700); what is published
    gets this mode instead."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def file_digest(path, algorithm='sha256'):
    """Hex digest of a file's bytes (``hashlib`` name ``algorithm``), read in blocks."""
    h = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def atomic_write(path, write, *, prefix=None):
    """Call ``write(tmp_path)``, then rename ``tmp_path`` to ``path`` (same folder, so the
    rename is atomic); on any error the temporary file is removed and ``path`` is untouched.
    The file gets the permissions a plain ``open(path, 'w')`` would give. ``prefix`` names the
    temporary file (default ``.<name>.``), for folders that clean up their own leftovers."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or '.' + os.path.basename(path) + '.',
                               dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` whole or not at all; returns ``path``."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
    return atomic_write(path, write)


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
