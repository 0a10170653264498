"""The one check every command makes of a file it is given: it exists and is a file, not a folder.

Without it a folder reached the readers: GDAL opens a folder of CSV files as one data set (an
``areas load`` of a folder ended in a ``StopIteration``), and the table readers raised
``IsADirectoryError``.
"""

from __future__ import annotations

from pathlib import Path

from crimelens.errors import InputError, NotFoundError

__all__ = ["existing_file"]


def existing_file(path: str | Path, expected: str = "a file") -> Path:
    """``path`` as a :class:`~pathlib.Path` when it names a file; a clear error otherwise.

    >>> existing_file("/")
    Traceback (most recent call last):
    ...
    crimelens.errors.InputError: /: a folder; expected a file
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: a folder; expected {expected}")
    return p
