"""Writing files safely: complete or not at all, never over a special file or an input of the same command.

Every file mmsent writes (models, model cards, predictions, reports, plots, demo data, cached
embeddings, exported networks) goes through :func:`atomic_write`: the bytes go to a temporary
file beside the target, are flushed to disk (``fsync``), and only then renamed over the target.
A crash, a full disk or Ctrl-C leaves the previous file (or none), never a truncated one.
"""

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "check_output_path", "file_kind"]

# Read once, at import (setting it is the only way to read it; doing so later could race with threads).
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output_path(path, *, inputs=()):
    """Return ``path`` as a ``Path`` if a command may write it, else raise ``ValueError``.

    Refused: an existing path that is not a regular file (a directory, a FIFO, a device
    such as ``/dev/null``, a socket), and a path that is one of the command's ``inputs``
    (the same file under any name, hard links and symbolic links included).

    Examples
    --------
    >>> from mmsent._files import check_output_path
    >>> check_output_path("/dev/null")
    Traceback (most recent call last):
    ...
    ValueError: /dev/null is not a regular file (a character device): refusing to write over it
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file ({file_kind(info.st_mode)}): refusing to write over it")
    for given in inputs:
        if given is None:
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(path, given):
                raise ValueError(f"{path} is also an input of this command ({given}): refusing to overwrite it")
    return path


def file_kind(mode):
    """What a ``stat`` mode that is not a regular file is, in words ('a FIFO', 'a directory', ...)."""
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, encoding=None, newline=None, inputs=()):
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    ``path`` is checked with :func:`check_output_path` first; its folder is created.

    Parameters
    ----------
    path : str or Path
        The file to write.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    encoding, newline : str, optional
        For text mode, as :func:`open`.
    inputs : iterable of paths, default=()
        Files the calling command reads: ``path`` may not be one of them.

    Yields
    ------
    file object

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mmsent._files import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target, "w", encoding="utf-8") as file:
    ...     _ = file.write("好")
    >>> target.read_text(encoding="utf-8")
    '好'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = check_output_path(path, inputs=inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode, encoding=encoding, newline=newline) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp's file is private (0600); give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
