"""``read_file``: one call from a path to validated, projected incidents and their quarantine."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from crimelens.domain import CANONICAL_COLUMNS, IncidentTable
from crimelens.errors import NotFoundError, SchemaError
from crimelens.ingest._layout import Layout, detect_layout, load_layout
from crimelens.ingest._read import read_header, read_raw
from crimelens.ingest._validate import LandedLines, RowMatcher, StoredRows, Validated, validate

__all__ = ["REASON_DETAILS", "FileDigest", "IngestResult", "file_digest", "file_sha256", "read_file", "reason_kind",
           "resolve_layout"]

#: The parts of a quarantine reason that name one row (a line, an id), as (regex, replacement) pairs that
#: both Python's ``re`` and DuckDB's ``regexp_replace`` read alike: what is left is the reason's kind, which
#: the counts by reason group on.
REASON_DETAILS: tuple[tuple[str, str], ...] = (
    (r" \(first on line \d+\)$", ""),
    (r" \(as .*\)$", ""),
    (r"^(duplicate id with changed content: already in dataset .* in the store) with .*$", r"\1"),
    (r"^duplicate row: same content as .* already in dataset", "duplicate row: same content as a row already in dataset"),
)


def reason_kind(reasons: pd.Series) -> pd.Series:
    """Each reason without what names its row (see :data:`REASON_DETAILS`).

    Examples
    --------
    >>> import pandas as pd
    >>> reason_kind(pd.Series(["duplicate id (first on line 7)",
    ...                        "duplicate row: same content as 'a.csv:2' already in dataset 'x' in the store"])).tolist()
    ['duplicate id', "duplicate row: same content as a row already in dataset 'x' in the store"]
    """
    out = reasons.astype("string")
    for pattern, replacement in REASON_DETAILS:
        out = out.str.replace(pattern, replacement, regex=True)
    return out

_VECTOR_SUFFIXES = {".shp": "shapefile", ".zip": "shapefile", ".geojson": "geojson", ".json": "geojson",
                    ".gpkg": "gpkg", ".parquet": "parquet"}


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True, slots=True)
class FileDigest:
    """A file's SHA-256, its number of lines (newline bytes, plus an unterminated last line), and its content's.

    ``content_sha256`` is the SHA-256 of what the file holds once decompressed: for a ``.gz`` file
    that of the gunzipped bytes (``None`` when the stream is damaged, which the reader refuses
    anyway), for any other file its own. A CSV and its ``.gz`` share it, so an unpacked or
    recompressed copy of a stored file is recognised as the same data.
    """

    sha256: str
    lines: int
    content_sha256: str | None = None


def file_digest(path: Path) -> FileDigest:
    """SHA-256 and line count in one pass over the file (hashing releases the GIL); for a ``.gz``
    file also the SHA-256 of its decompressed content (see :class:`FileDigest`)."""
    import zlib

    digest = hashlib.sha256()
    newlines = 0
    last = b""
    gz = path.suffix == ".gz"  # what the reader decompresses
    content = hashlib.sha256() if gz else None
    inflate: Any = zlib.decompressobj(wbits=31) if gz else None
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
            if inflate is not None and content is not None:
                try:
                    data = inflate.decompress(chunk)
                    while inflate.eof and inflate.unused_data:  # concatenated members (gzip allows them)
                        rest = inflate.unused_data
                        content.update(data)
                        inflate = zlib.decompressobj(wbits=31)
                        data = inflate.decompress(rest)
                    content.update(data)
                except zlib.error:
                    inflate = content = None  # damaged: the reader refuses the file with its own message
    sha = digest.hexdigest()
    if not gz:
        return FileDigest(sha, newlines + (0 if last in (b"\n", b"") else 1), sha)
    complete = inflate is not None and content is not None and inflate.eof
    return FileDigest(sha, newlines + (0 if last in (b"\n", b"") else 1),
                      content.hexdigest() if complete and content is not None else None)


@dataclass(frozen=True)
class IngestResult:
    """What a file became: landed rows, quarantined rows, and where they came from."""

    path: Path
    layout: Layout
    dataset: str
    validated: Validated
    sha256: str
    file_bytes: int
    started_at: datetime
    notes: list[str] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        return self.validated.n_read

    @property
    def n_landed(self) -> int:
        return len(self.validated.frame)

    @property
    def n_quarantined(self) -> int:
        return len(self.validated.quarantine)

    @property
    def quarantine(self) -> pd.DataFrame:
        return self.validated.quarantine

    @property
    def crs(self) -> str:
        return self.validated.projection.target

    @property
    def warnings(self) -> list[str]:
        """What the caller must be told plainly (a target CRS that distorts distances over the data)."""
        return list(self.validated.warnings)

    @cached_property
    def table(self) -> IncidentTable:
        """Landed rows as an :class:`IncidentTable` (M.O. attributes as JSON)."""
        frame = self.validated.frame
        names = self.validated.mo_names
        if names:
            cols = [frame[f"mo__{i}"].to_numpy(dtype=object) for i in range(len(names))]
            attrs = [
                json.dumps({k: v for k, v in zip(names, vals, strict=True) if v is not None and not pd.isna(v)},
                           ensure_ascii=False, sort_keys=True)
                for vals in zip(*cols, strict=True)
            ]
        else:
            attrs = ["{}"] * len(frame)
        out = frame[[c for c in CANONICAL_COLUMNS if c in frame.columns and c != "attrs"]].copy()
        out["attrs"] = attrs
        return IncidentTable(out)

    def reasons(self, top: int = 5) -> list[tuple[str, int]]:
        """The most frequent quarantine reasons with their counts."""
        if self.n_quarantined == 0:
            return []
        q = self.quarantine
        counts = (q["kind"] if "kind" in q.columns else reason_kind(q["reason"])).value_counts()
        return [(str(k), int(v)) for k, v in counts.head(top).items()]


def _kind_for(path: Path, layout: Layout | None) -> str:
    if layout is not None and layout.kind != "csv":
        return layout.kind
    return _VECTOR_SUFFIXES.get(path.suffix.lower(), "csv")


def resolve_layout(path: Path, *, format: str | None = None, mapping: str | Path | None = None) -> Layout:
    """The layout to read ``path`` with: explicit, from a mapping file, or detected by header."""
    layout = load_layout(format=format, mapping=mapping)
    if layout is not None:
        return layout
    kind = _kind_for(path, None)
    if kind == "csv":
        header = read_header(path)
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            header = list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as exc:
            raise SchemaError(f"{path.name}: cannot read as Parquet: {exc}; expected a Parquet file") from exc
    else:
        import pyogrio

        try:
            info = pyogrio.read_info(str(path))
        except Exception as exc:
            raise SchemaError(f"{path.name}: cannot read as a vector file: {exc}") from exc
        header = [str(f) for f in info["fields"]]
        if info.get("geometry_type"):
            try:
                return detect_layout(header, origin=path.name)
            except SchemaError as exc:  # a file located by its geometry alone needs a mapping that says so
                raise SchemaError(f"{exc}. The file has a geometry ({info['geometry_type']}): a mapping with "
                                  "geometry = true under [columns] reads each row's location from it") from exc
    return detect_layout(header, origin=path.name)


def read_file(path: str | Path, *, format: str | None = None, mapping: str | Path | None = None,
              dataset: str | None = None, crs: str | None = None,
              existing_ids: set[str] | None = None, sha256: str | None = None,
              digest: FileDigest | Callable[[], FileDigest] | None = None,
              after_read: Callable[[], None] | None = None, known_rows: RowMatcher | None = None,
              stored_rows: StoredRows | None = None, landed_lines: LandedLines | None = None) -> IngestResult:
    """Read, validate and project one file.

    Parameters
    ----------
    path : the file (CSV, optionally gzipped; Parquet; GeoJSON; Shapefile or a zip of one; GeoPackage)
    format : a built-in layout name; ``None`` detects it from the header
    mapping : a TOML mapping file for your own records system (see ``docs/ingest.md``)
    dataset : the dataset name in the store (default: the layout's, else the file's stem)
    crs : target metric CRS (default: the UTM zone of the data)
    digest : the file's :func:`file_digest`, or a callable that waits for it (e.g. a future's
        ``result`` while another thread hashes the file during the parse); saves a pass over the file
    after_read : called once the rows are read, before they are validated (a caller may raise
        from it to stop, e.g. when the digest shows the file is already stored)
    known_rows : finds rows with ``FILE:LINE`` ids whose content the dataset holds already (the store's
        :func:`crimelens.storage._incidents.stored_row_matches`); those are quarantined as duplicate rows
    stored_rows : reads the stored rows under ids this file repeats (the store's
        :func:`crimelens.storage._incidents.stored_incidents`): one whose content differs is quarantined as
        ``duplicate id with changed content`` (a correction, not applied), naming what differs
    landed_lines : when the file is stored already and read again another way, the ids its earlier ingest
        landed by line: a row with a ``FILE:LINE`` id on such a line is that row again (a duplicate id)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mini.csv"
    >>> _ = p.write_text("uid,offense_type,date_time,longitude,latitude\\n"
    ...                  "1,personal robbery,2019-01-01T19:50:00Z,-122.402,37.788\\n"
    ...                  "2,personal robbery,2019-02-30T19:50:00Z,-122.402,37.788\\n")
    >>> r = read_file(p)
    >>> r.layout.name, r.n_read, r.n_landed, r.n_quarantined, r.crs
    ('sf_code', 2, 1, 1, 'EPSG:32610')
    >>> r.quarantine.loc[0, "reason"]
    'impossible date: no such calendar date or time (ISO-8601)'
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    started = datetime.now(UTC)
    layout = resolve_layout(path, format=format, mapping=mapping)
    name = dataset or layout.dataset or path.name.split(".")[0]
    get_digest = (lambda: digest) if isinstance(digest, FileDigest) else digest
    raw = read_raw(path, kind=_kind_for(path, layout), delimiter=layout.delimiter, encoding=layout.encoding,
                   header=layout.header, names=layout.names,
                   line_count=(lambda: get_digest().lines) if get_digest is not None else None)
    if after_read is not None:
        after_read()
    if get_digest is not None:
        sha256 = sha256 or get_digest().sha256
    sha256 = sha256 or file_sha256(path)
    validated = validate(raw, layout, path=path, dataset=name, existing_ids=existing_ids, target_crs=crs,
                         known_rows=known_rows, version=sha256[:8], stored_rows=stored_rows,
                         landed_lines=landed_lines, mapping=None if mapping is None else Path(mapping).name)
    return IngestResult(path=path, layout=layout, dataset=name, validated=validated, sha256=sha256,
                        file_bytes=path.stat().st_size, started_at=started, notes=list(validated.notes))
