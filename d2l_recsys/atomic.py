"""Write files whole or not at all: a temporary file in the same folder, then os.replace."""
import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~_umask())
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
