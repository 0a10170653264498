"""Content-addressed storage of evidence files, hashing and type sniffing.

Following NIST SP 800-86 §3.1.2 and SWGDE's "Best Practices for Computer
Forensic Acquisitions": an item is hashed (SHA-256) at intake and the hash is
its identity; the stored copy lives at ``sha256/ab/cdef…`` (first two hex digits
as a folder, the other 62 as the file name), written to a temporary file and
renamed into place, then made read-only. Identical content is stored once.
Re-hashing a stored copy and comparing it with the intake hash shows whether it
changed since.

Failure modes: a read-only bit does not stop a root user or a disk fault, which
is why verification re-hashes every byte rather than trusting the file system;
MIME types are sniffed from the first bytes and the file name, so a renamed or
truncated file can be mistyped (the hash, not the type, is the identity).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from crimelens.errors import InputError, NotFoundError

__all__ = ["ContentStore", "ContentWriter", "StoredContent", "sha256_file", "sniff_mime"]

_CHUNK = 1 << 20

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"ftyp", 4, "video/mp4"),
    (b"RIFF", 0, "application/x-riff"),
    (b"\x1a\x45\xdf\xa3", 0, "video/x-matroska"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"SQLite format 3\x00", 0, "application/vnd.sqlite3"),
)


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size in bytes of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def sniff_mime(path: Path, name: str | None = None) -> str:
    """MIME type from the file's first bytes, then its name (``name`` or the path's); else ``application/octet-stream``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"%PDF-1.7 ...")
    >>> sniff_mime(p)
    'application/pdf'
    """
    with path.open("rb") as fh:
        head = fh.read(64)
    for magic, offset, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            if mime == "application/x-riff":
                kind = head[8:12]
                return {b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav", b"WEBP": "image/webp"}.get(
                    kind, "application/octet-stream")
            if mime == "video/mp4" and head[8:11] == b"qt ":
                return "video/quicktime"
            return mime
    guessed, _ = mimetypes.guess_type(name or path.name)
    if guessed:
        return guessed
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain" if head else "application/octet-stream"


@dataclass(frozen=True, slots=True)
class StoredContent:
    """Where one piece of content lives and what it hashed to."""

    sha256: str
    size_bytes: int
    path: Path
    is_new: bool


class ContentWriter:
    """Content written in chunks into the store's ``tmp`` folder, hashed as it comes.

    :meth:`commit` fsyncs it and moves it to its address (or drops it when that content is
    already stored); leaving the ``with`` block without a commit removes the partial file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = ContentStore(pathlib.Path(tempfile.mkdtemp()))
    >>> with store.writer() as w:
    ...     w.write(b"hel")
    ...     w.write(b"lo")
    ...     stored = w.commit()
    >>> stored.sha256[:12], stored.size_bytes, stored.path.read_bytes()
    ('2cf24dba5fb0', 5, b'hello')
    """

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self.size_bytes = 0
        self._hash = hashlib.sha256()
        tmp_dir = store.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=tmp_dir)
        self._fh = os.fdopen(fd, "wb")
        self._done = False

    def write(self, chunk: bytes) -> None:
        self.size_bytes += len(chunk)
        self._hash.update(chunk)
        self._fh.write(chunk)

    def commit(self) -> StoredContent:
        """Make the content durable at its address; returns where it is."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        digest = self._hash.hexdigest()
        target = self.store.path_for(digest)
        self._done = True
        if target.exists():
            os.unlink(self._tmp)
            return StoredContent(digest, self.size_bytes, target, is_new=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, target)
        target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        return StoredContent(digest, self.size_bytes, target, is_new=True)

    def abort(self) -> None:
        """Drop the partial content (a no-op after :meth:`commit`)."""
        if self._done:
            return
        self._done = True
        self._fh.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> ContentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class ContentStore:
    """A folder of immutable, content-addressed files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> src = root / "note.txt"
    >>> _ = src.write_text("hello")
    >>> stored = ContentStore(root / "evidence").put(src)
    >>> stored.path.relative_to(root / "evidence").as_posix()[:10], stored.size_bytes
    ('sha256/2c/', 5)
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError(f"content address: got {sha256!r}; expected 64 lower-case hex digits")
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    def put(self, source: Path) -> StoredContent:
        """Copy ``source`` in (hashing while copying); returns its address."""
        source = Path(source)
        if not source.is_file():
            raise NotFoundError(f"evidence file {str(source)!r}: not found or not a regular file")
        with source.open("rb") as src, self.writer() as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
            return dst.commit()

    def writer(self) -> ContentWriter:
        """A writer that takes content in chunks (an upload) and hashes it on the way in."""
        return ContentWriter(self)

    def remove(self, sha256: str) -> None:
        """Remove content (used only to undo an intake whose database write failed)."""
        target = self.path_for(sha256)
        if target.exists():
            target.chmod(stat.S_IWUSR | stat.S_IRUSR)
            target.unlink()

    def rehash(self, sha256: str) -> tuple[str, int] | None:
        """Hash the stored copy again; ``None`` when it is missing."""
        target = self.path_for(sha256)
        if not target.is_file():
            return None
        return sha256_file(target)

    def export(self, sha256: str, dest: Path) -> Path:
        """Copy stored content out (e.g. for a court or a release)."""
        src = self.path_for(sha256)
        if not src.is_file():
            raise NotFoundError(f"content {sha256}: not in the evidence folder {str(self.root)!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest
