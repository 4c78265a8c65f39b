"""Writing files so that a reader, or a run killed midway, never sees half of one."""
import os
import os.path as osp
import tempfile

__all__ = ['atomic_write_text']


def atomic_write_text(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new content, never a mix.

    The text goes to a temporary file in the same directory (same file system, so ``os.replace`` is
    atomic), is flushed and fsynced, then renamed over ``path``. On any error the temporary file is
    removed and ``path`` is left as it was.

    Args:
        path (str): File to write; its directory is created if missing.
        text (str): The whole new content.
    """
    path = osp.abspath(path)
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
