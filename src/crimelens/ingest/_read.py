"""Raw readers: a file becomes string columns plus the record's line number.

Nothing is dropped here. A row that cannot even be split into fields (wrong
field count, bytes that are not valid in the file's encoding, an overlong
value) comes back in ``bad`` with its line and reason, and the validator turns
it into a quarantine row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from crimelens.errors import SchemaError

__all__ = ["BadRow", "RawTable", "count_lines", "read_header", "read_raw"]

#: Values longer than this many bytes are refused (quarantined), never loaded.
MAX_FIELD_BYTES = 1 << 20
#: CSV block size: 2 MiB parses in parallel on two cores with few enough blocks for the per-block
#: checks (measured against 1 and 4 MiB on the 1M-row benchmark).
BLOCK_BYTES = 2 << 20
_MAX_BLOCK = 1 << 30


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str
    raw: str
    column: str | None = None
    value: str | None = None


@dataclass
class RawTable:
    """String columns of the rows that could be split, with their 1-based line numbers.

    A column may be a chunked array (the CSV reader's blocks are kept as they are
    rather than copied into one buffer).
    """

    columns: dict[str, pa.Array | pa.ChunkedArray]
    lines: NDArray[np.int64]
    header: list[str]
    bad: list[BadRow] = field(default_factory=list)
    n_read: int = 0
    geometry_xy: NDArray[np.float64] | None = None
    file_crs: str | None = None
    #: what the reader saw that the caller must hear (a file that does not end with a newline)
    warnings: list[str] = field(default_factory=list)
    #: whether the file ends with a newline (None: not a delimited text file)
    ends_with_newline: bool | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # cleaned columns, filled by the validator

    def __len__(self) -> int:
        return len(self.lines)

    def row_json(self, index: int) -> str:
        return json.dumps(
            {k: (None if not v[index].is_valid else v[index].as_py()) for k, v in self.columns.items()},
            ensure_ascii=False,
        )


def _as_string(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.large_string())
    if pa.types.is_floating(arr.type):
        values = arr.to_numpy(zero_copy_only=False)
        finite = values[np.isfinite(values)]
        if finite.size and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
            return pc.cast(pc.cast(arr, pa.int64(), safe=False), pa.large_string())
    return pc.cast(arr, pa.large_string())


_ENDS_EARLY = "the gzip stream ends early (a truncated download?); expected a complete gzip file"


def _gunzip_head(path: Path, raw: bytes) -> bytes:
    """The first 64 KiB of a gzipped file, or an error that says it is not gzip."""
    import gzip
    import zlib

    if not raw.startswith(b"\x1f\x8b"):
        _refuse_binary(path, raw)
        raise SchemaError(f"{path.name}: the name ends in .gz but the file is not gzip-compressed; "
                          "expected gzip (rename it without .gz if it is plain text)")
    try:
        with gzip.open(path, "rb") as gz:
            return gz.read(1 << 16)
    except EOFError as exc:
        raise SchemaError(f"{path.name}: {_ENDS_EARLY}") from exc
    except (OSError, zlib.error) as exc:
        raise SchemaError(f"{path.name}: the gzip stream is damaged ({exc}); expected a complete gzip file") from exc


def check_gzip(path: Path) -> bytes:
    """Decompress the whole stream once: a truncated or damaged download is refused before any row is read.
    Returns the last decompressed byte (``b""`` for an empty stream).

    Left to the CSV reader, a stream cut past its first 64 KiB stopped ingest with a bare
    ``OSError: Truncated compressed stream`` traceback. Memory stays at one chunk.
    """
    import zlib

    inflate = zlib.decompressobj(wbits=31)  # gzip header and trailer
    last = b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                out = inflate.decompress(chunk, 0)
                last = out[-1:] or last
                while inflate.eof and inflate.unused_data:  # concatenated members (gzip allows them)
                    rest = inflate.unused_data
                    inflate = zlib.decompressobj(wbits=31)
                    out = inflate.decompress(rest, 0)
                    last = out[-1:] or last
    except zlib.error as exc:
        raise SchemaError(f"{path.name}: the gzip stream is damaged ({exc}); expected a complete gzip file") from exc
    if not inflate.eof:
        raise SchemaError(f"{path.name}: {_ENDS_EARLY}")
    return last


_MAGIC = ((b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods spreadsheet is one)"),
          (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"), (b"%PDF", "a PDF"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"PAR1", "a Parquet file"),
          (b"SQLite format 3", "an SQLite database"))


def _refuse_binary(path: Path, head: bytes, encoding: str = "utf-8") -> None:
    """A spreadsheet, PDF or image given as a CSV gets an error that says what it is, not a header of noise."""
    what = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    nul = ""
    wide = encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    if what is None and b"\x00" in head and not wide and not _stray_nuls(head, encoding):
        # NUL bytes through the text: binary, unless a mapping says UTF-16/32 (a stray one is a row's problem)
        what = "binary, not text (or UTF-16 text, which a mapping with encoding = \"utf-16\" reads)"
        at = head.index(b"\x00")
        line = head.count(b"\n", 0, at) + 1
        nul = f" Its first NUL byte is at byte {at:,} (counted from 0), line {line:,}."
    if what is not None:
        raise SchemaError(f"{path.name}: the file is {what}; expected delimited text with a header row "
                          "(save a spreadsheet as 'CSV UTF-8' and ingest that; Parquet, GeoJSON, GeoPackage and "
                          f"zipped shapefiles are read by their suffix).{nul}")


def _stray_nuls(head: bytes, encoding: str) -> bool:
    """Whether the NUL bytes in ``head`` are strays in a text file: few (at most 1 % of its bytes, on at most
    a tenth of its lines) and the rest reads in ``encoding``. Such a file is read, and its rows holding a NUL
    are quarantined; a file of NULs (binary, UTF-16) is refused."""
    import codecs

    n_nul = head.count(b"\x00")
    lines = head.split(b"\n")
    with_nul = sum(b"\x00" in line for line in lines)
    if n_nul > len(head) // 100 or len(lines) < 2 or with_nul > max(1, len(lines) // 10):
        return False
    try:
        codecs.getincrementaldecoder(encoding)().decode(head.replace(b"\x00", b""), final=False)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def read_header(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """The header row of a delimited file (for layout detection)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if path.suffix == ".gz":
        head = _gunzip_head(path, head)
    if not head.strip():
        raise SchemaError(f"{path.name}: the file is empty; expected a header row and data rows")
    _refuse_binary(path, head, encoding)
    first = head.splitlines()[0].decode(encoding, errors="replace").lstrip("\ufeff")
    import csv

    return next(csv.reader([first], delimiter=delimiter))


def read_raw(path: Path, *, kind: str, delimiter: str = ",", encoding: str = "utf-8",
             header: bool = True, names: tuple[str, ...] = (), line_count: Callable[[], int] | None = None
             ) -> RawTable:
    """The file's rows as string columns with their line numbers.

    ``line_count``: a callable giving the file's number of lines (e.g. counted while
    hashing it, see :func:`crimelens.ingest.file_digest`), so the CSV path need not
    read the file a second time to check that one record is one line.
    """
    if kind == "csv":
        return _read_csv(path, delimiter=delimiter, encoding=encoding, header=header, names=names,
                         line_count=line_count)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            _refuse_duplicate_names(path, list(pq.read_schema(path).names))
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise SchemaError(f"{path.name}: cannot read as Parquet: {exc}; expected a Parquet file") from exc
        return _from_arrow(table, path)
    if kind in ("geojson", "shapefile", "gpkg"):
        return _read_vector(path)
    raise SchemaError(f"{path.name}: reader kind {kind!r} is not known")


def _from_arrow(table: pa.Table, path: Path, start_line: int = 1) -> RawTable:
    _refuse_duplicate_names(path, list(table.column_names))
    cols = {name: _as_string(table.column(name)) for name in table.column_names}
    n = table.num_rows
    return RawTable(cols, np.arange(start_line, start_line + n, dtype=np.int64), list(table.column_names), n_read=n)


def geometry_column(meta: dict[str, Any], names: list[str]) -> str | None:
    """The geometry column of a table read by ``pyogrio.read_arrow``: the layer's declared one (``geom``
    in a GeoPackage written by GDAL or QGIS, ``Shape`` by ArcGIS, ``geometry`` by GeoPandas), else
    ``wkb_geometry`` (pyogrio's name when the format names none: GeoJSON, shapefiles); None without one.

    Examples
    --------
    >>> geometry_column({"geometry_name": "geom"}, ["uid", "geom"]), geometry_column({"geometry_name": ""}, ["wkb_geometry"])
    ('geom', 'wkb_geometry')
    """
    declared = meta.get("geometry_name") or "wkb_geometry"
    if declared in names:
        return declared
    return next((c for c in names if c in ("wkb_geometry", "geometry")), None)


def _read_vector(path: Path) -> RawTable:
    import pyogrio
    import shapely

    try:
        meta, table = pyogrio.read_arrow(str(path))
    except Exception as exc:  # pyogrio raises several DataSource errors
        raise SchemaError(f"{path.name}: cannot read as a vector file: {exc}") from exc
    geom_col = geometry_column(meta, list(table.column_names))
    xy = None
    if geom_col is not None:
        wkb = table.column(geom_col).to_numpy(zero_copy_only=False)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        pts = shapely.get_coordinates(shapely.centroid(geoms), include_z=False)
        xy = np.full((len(wkb), 2), np.nan)
        ok = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
        xy[ok] = pts if len(pts) == ok.sum() else np.nan
        table = table.drop_columns([geom_col])
    raw = _from_arrow(table, path)
    raw.geometry_xy = xy
    raw.file_crs = meta.get("crs")
    return raw


def _refuse_duplicate_names(path: Path, names: list[str]) -> None:
    """Two columns of one name cannot be told apart: name them (1-based) instead of failing later."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(i)
    twice = {n: at for n, at in seen.items() if len(at) > 1}
    if twice:
        which = "; ".join(f"{n!r} in columns {', '.join(map(str, at))}" for n, at in twice.items())
        raise SchemaError(f"{path.name}: the header names a column more than once ({which}); "
                          "expected each column name once (rename or drop the copies)")


def _read_csv(path: Path, *, delimiter: str, encoding: str, header: bool, names: tuple[str, ...],
              line_count: Callable[[], int] | None = None) -> RawTable:
    size = path.stat().st_size
    if size == 0:
        raise SchemaError(f"{path.name}: the file is empty (0 bytes); expected a header row and data rows")
    if path.suffix == ".gz":
        last_byte = check_gzip(path)
    else:
        with open(path, "rb") as fh:
            fh.seek(-1, 2)
            last_byte = fh.read(1)
    ends_with_newline = last_byte in (b"\n", b"\r")
    if not ends_with_newline:
        one_line = _only_line(path)
        if one_line is not None:  # a header without its newline: an empty export, read as it would be with one
            return _header_only(path, one_line, delimiter=delimiter, encoding=encoding, header=header, names=names)
    bad: list[BadRow] = []

    def on_invalid(row: Any) -> str:
        bad.append(BadRow(line=int(row.number) if row.number is not None else -1,
                          reason=f"wrong number of fields: expected {row.expected_columns}, got {row.actual_columns}",
                          raw=str(row.text)[:2000]))
        return "skip"

    read_opts = pacsv.ReadOptions(
        encoding="utf8" if encoding.lower().replace("-", "") == "utf8" else encoding,
        column_names=list(names) if names else None,
        autogenerate_column_names=not header and not names,
        block_size=BLOCK_BYTES,  # blocks parse in parallel; grown on demand for very long rows
    )
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                    newlines_in_values=True)
    header_names = _header_names(path, read_opts, parse_opts)
    _refuse_duplicate_names(path, header_names)
    # large_string is what pandas' string dtype holds, so the columns reach the validator without a copy;
    # bytes that are not valid UTF-8 send us to the binary path
    as_type = pa.large_string()
    while True:
        bad.clear()
        convert = pacsv.ConvertOptions(column_types={n: as_type for n in header_names},
                                       strings_can_be_null=False, quoted_strings_can_be_null=False,
                                       null_values=[])
        try:
            table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts, convert_options=convert)
            break
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            if "UTF8" in msg and as_type == pa.large_string():
                as_type = pa.large_binary()
                continue
            if "straddling" in msg or "block" in msg.lower():
                if read_opts.block_size >= _MAX_BLOCK:
                    raise SchemaError(f"{path.name}: a row is longer than {_MAX_BLOCK >> 20} MiB; "
                                      "expected rows of ordinary length (is this a delimited text file?)") from exc
                read_opts.block_size = min(_MAX_BLOCK, read_opts.block_size * 8)
                continue
            raise SchemaError(f"{path.name}: cannot parse as delimited text: {msg}") from exc
    n_rows = table.num_rows
    first = 2 if header else 1
    multiline = _has_multiline_values(path, table, n_records=n_rows + len(bad) + (1 if header else 0),
                                      line_count=line_count)
    if bad or multiline:
        lines, bad_lines = _record_lines(path, delimiter=delimiter, encoding=encoding, header=header,
                                         expected=len(header_names))
        bad = [BadRow(ln, b.reason, b.raw) for ln, b in zip(bad_lines, bad, strict=False)] + bad[len(bad_lines):]
        lines = lines[:n_rows]
    else:
        # the header is line 1: record i (0-based) is line i + 2 unless quoted values span lines
        lines = np.arange(first, first + n_rows, dtype=np.int64)
    cols: dict[str, pa.Array] = {}
    rows_bad: dict[int, BadRow] = {}
    for name in table.column_names:
        col: pa.Array | pa.ChunkedArray = table.column(name)
        for i in _rows_with_nul(col):
            text = col[int(i)].as_py()
            shown = (text.decode(encoding, errors="replace") if isinstance(text, bytes) else str(text))
            rows_bad.setdefault(int(i), BadRow(int(lines[i]), "NUL byte in the value: expected text (a stray \\x00 "
                                               "byte, as a damaged export or disk leaves; shown as \\x00)", "",
                                               name, shown.replace("\x00", "\\x00")[:200]))
        if _may_hold_longer_than(col, MAX_FIELD_BYTES):
            lengths = pc.binary_length(col).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(lengths > MAX_FIELD_BYTES):
                rows_bad.setdefault(int(i), BadRow(int(lines[i]), f"value longer than {MAX_FIELD_BYTES} bytes", "",
                                                   name, f"<{int(lengths[i])} bytes>"))
        if pa.types.is_large_string(col.type):
            cols[name] = col
            continue
        col = col.combine_chunks()  # the rare binary path (bytes that are not UTF-8)
        try:
            cols[name] = col.cast(pa.large_string())
        except pa.ArrowInvalid:
            values = col.to_pylist()
            decoded: list[str | None] = []
            for i, v in enumerate(values):
                try:
                    decoded.append(v.decode("utf-8") if v is not None else None)
                except UnicodeDecodeError as err:
                    text = v.decode("utf-8", errors="replace")
                    rows_bad.setdefault(i, BadRow(int(lines[i]), f"encoding error: bytes not valid {encoding} ({err.reason} at byte {err.start})",
                                                  "", name, text[:200]))
                    decoded.append(text)
            cols[name] = pa.array(decoded, type=pa.large_string())
    raw = RawTable(cols, lines, list(table.column_names), bad=list(bad), n_read=n_rows + len(bad),
                   ends_with_newline=ends_with_newline)
    if not ends_with_newline and raw.n_read:
        last_line = max([int(lines.max()) if len(lines) else 0, *(b.line for b in bad)])
        raw.warnings.append(f"{path.name} does not end with a newline: its last row, line {last_line:,}, may be "
                            "incomplete if the file was cut short (a value cut mid-number still reads as a number); "
                            "check that row against the source, since a complete export ends every row with a "
                            "newline")
    if rows_bad:
        idx = np.array(sorted(rows_bad), dtype=np.int64)
        for i in idx:
            b = rows_bad[int(i)]
            raw.bad.append(BadRow(b.line, b.reason, _safe_row_json(raw, int(i)), b.column, b.value))
        keep = np.ones(n_rows, dtype=bool)
        keep[idx] = False
        mask = pa.array(keep)
        raw.columns = {k: v.filter(mask) for k, v in raw.columns.items()}
        raw.lines = raw.lines[keep]
    return raw


def _only_line(path: Path) -> bytes | None:
    """The file's content when it is one line without a newline (at most 1 MiB), else None."""
    import gzip

    limit = 1 << 20
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as gz:
            data = gz.read(limit + 1)
    else:
        if path.stat().st_size > limit:
            return None
        data = path.read_bytes()
    if len(data) > limit or b"\n" in data or b"\r" in data:
        return None
    return data


def _header_only(path: Path, line: bytes, *, delimiter: str, encoding: str, header: bool,
                 names: tuple[str, ...]) -> RawTable:
    """A file that is one line without a newline. With a header, that line is the header and the file holds
    no rows (Arrow's reader refused it as 'a row longer than 1024 MiB'); read as the same file with the newline."""
    import csv

    _refuse_binary(path, line[: 1 << 16], encoding)  # a spreadsheet or image is named, not read as a header
    text = line.decode(encoding, errors="replace").lstrip("\ufeff")
    if header and not names:
        columns = next(csv.reader([text], delimiter=delimiter), [])
        _refuse_duplicate_names(path, columns)
        empty = pa.array([], type=pa.large_string())
        return RawTable({c: empty for c in columns}, np.zeros(0, dtype=np.int64), list(columns), n_read=0,
                        ends_with_newline=False)
    # one data row without a newline: Arrow reads it given the newline
    table = pacsv.read_csv(pa.BufferReader(line + b"\n"), read_options=pacsv.ReadOptions(
        encoding="utf8" if encoding.lower().replace("-", "") == "utf8" else encoding,
        column_names=list(names) if names else None, autogenerate_column_names=not names),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False))
    raw = _from_arrow(table, path)
    raw.ends_with_newline = False
    raw.warnings.append(f"{path.name} does not end with a newline: its last row, line 1, may be incomplete if the "
                        "file was cut short; check that row against the source")
    return raw


def _rows_with_nul(col: pa.ChunkedArray) -> NDArray[np.int64]:
    """Rows of a text column holding a NUL byte (checked per block on its data buffer first: no NUL, no search)."""
    found: list[NDArray[np.int64]] = []
    start = 0
    for chunk in col.chunks:
        buffers = chunk.buffers()
        data = buffers[2] if len(buffers) > 2 else None
        if data is not None and data.size and int(np.frombuffer(data, dtype=np.uint8).min()) == 0:
            hit = pc.match_substring(chunk, "\x00").to_numpy(zero_copy_only=False)
            found.append(start + np.flatnonzero(np.asarray(hit, dtype=bool)))
        start += len(chunk)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _may_hold_longer_than(col: pa.ChunkedArray, limit: int) -> bool:
    """Whether some value may be longer than ``limit`` bytes: a block holding fewer bytes cannot have one."""
    for chunk in col.chunks:
        offsets = chunk.buffers()[1]
        if offsets is None or len(chunk) == 0:
            continue
        width = 8 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else 4
        bounds = np.frombuffer(offsets, dtype=np.int64 if width == 8 else np.int32)
        if int(bounds[chunk.offset + len(chunk)]) - int(bounds[chunk.offset]) > limit:
            longest = pc.max(pc.binary_length(chunk)).as_py()
            if longest is not None and longest > limit:
                return True
    return False


def count_lines(path: Path) -> int:
    """Lines in a plain file: newline bytes, plus one for a last line without its newline."""
    newlines = 0
    last = b""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (0 if last in (b"\n", b"") else 1)


def _is_text(arr: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type))


def _has_multiline_values(path: Path, table: pa.Table, *, n_records: int,
                          line_count: Callable[[], int] | None = None) -> bool:
    """Whether a quoted value spans lines (then line numbers need the slow, exact path).

    For a plain file, counting newline bytes (memchr-fast) settles it: one line per record.
    """
    if path.suffix != ".gz":
        lines = line_count() if line_count is not None else count_lines(path)
        if lines == n_records:
            return False
        blank = lines - n_records  # blank lines are skipped by the parser
        if blank > 0 and not any(pc.any(pc.match_substring(table.column(c), "\n")).as_py()
                                 for c in table.column_names if _is_text(table.column(c))):
            return True  # blank lines shift numbering too
    return any(pc.any(pc.match_substring(table.column(c), "\n")).as_py() for c in table.column_names
               if _is_text(table.column(c)) or pa.types.is_binary(table.column(c).type)
               or pa.types.is_large_binary(table.column(c).type))


def _record_lines(path: Path, *, delimiter: str, encoding: str, header: bool, expected: int
                  ) -> tuple[NDArray[np.int64], list[int]]:
    """Line numbers of well-formed and of ragged records (slow path, only when rows are ragged)."""
    import csv
    import gzip

    csv.field_size_limit(1 << 31 - 1)
    opener = gzip.open if path.suffix == ".gz" else open
    good: list[int] = []
    ragged: list[int] = []
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        for i, record in enumerate(reader):
            line = start
            start = reader.line_num + 1
            if i == 0 and header:
                continue
            if not record:
                continue
            (good if len(record) == expected else ragged).append(line)
    return np.asarray(good, dtype=np.int64), ragged


def _safe_row_json(raw: RawTable, i: int) -> str:
    out = {}
    for k, v in raw.columns.items():
        s = v[i].as_py()
        out[k] = s if s is None or len(s) <= 200 else s[:200] + "…"
    return json.dumps(out, ensure_ascii=False)


def _header_names(path: Path, read_opts: pacsv.ReadOptions, parse_opts: pacsv.ParseOptions) -> list[str]:
    if read_opts.column_names:
        return list(read_opts.column_names)
    if not read_opts.autogenerate_column_names:
        try:  # the first line, read directly: cheap even for very large files
            names = read_header(path, delimiter=parse_opts.delimiter,
                                encoding="utf-8" if read_opts.encoding == "utf8" else read_opts.encoding)
            if names and len(set(names)) == len(names):
                return names
        except (UnicodeDecodeError, LookupError, StopIteration):
            pass
    opts = pacsv.ReadOptions(encoding=read_opts.encoding, block_size=read_opts.block_size,
                             autogenerate_column_names=read_opts.autogenerate_column_names)
    while True:
        try:
            with pacsv.open_csv(path, read_options=opts, parse_options=pacsv.ParseOptions(
                    delimiter=parse_opts.delimiter, invalid_row_handler=lambda r: "skip"),
                    convert_options=pacsv.ConvertOptions(column_types={}, include_columns=[])) as reader:
                return [f.name for f in reader.schema]
        except pa.ArrowInvalid as exc:
            if ("straddling" in str(exc) or "block" in str(exc).lower()) and opts.block_size < _MAX_BLOCK:
                opts.block_size = min(_MAX_BLOCK, opts.block_size * 8)
                continue
            if "Empty CSV file" in str(exc):
                raise SchemaError(f"{path.name}: the file is empty; expected a header row") from exc
            raise SchemaError(f"{path.name}: cannot read the header: {exc}") from exc
