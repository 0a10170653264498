"""Use cases: ingest a file, load areas, summarise incidents, list the quarantine."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crimelens._files import existing_file
from crimelens.domain import Area
from crimelens.errors import (
    CrimelensError,
    InputError,
    InvalidParameterError,
    NotFoundError,
    SchemaError,
)
from crimelens.governance import Actor
from crimelens.ingest import (
    REASON_DETAILS,
    FileDigest,
    file_digest,
    file_sha256,
    read_file,
    reason_kind,
    resolve_layout,
)
from crimelens.ingest._layout import Layout
from crimelens.ingest._rowhash import ROW_HASH_SCHEME, row_hashes
from crimelens.services._context import (
    RESEARCH,
    Context,
    authorize,
    check_dataset,
    dataset_timezone,
    local_time,
    record_use,
)
from crimelens.storage import IngestRecord
from crimelens.storage._incidents import (
    COMPARED,
    has_row_hashes,
    insert_validated,
    near_repeats,
    save_row_hashes,
    stored_incidents,
    stored_row_content,
    stored_row_matches,
    unhashed_ingests,
)

__all__ = ["DATA_SUFFIXES", "IngestSummary", "expand_inputs", "incidents_summary", "ingest_file", "list_mappings", "list_quarantine", "load_areas",
           "mapping_text", "quarantine_rows", "save_mapping", "show_mapping"]


@dataclass(frozen=True)
class IngestSummary:
    ingest_id: str
    dataset: str
    file: str
    reader: str
    n_read: int
    n_landed: int
    n_quarantined: int
    top_reasons: list[tuple[str, int]]
    crs: str | None
    transform: str | None
    transform_accuracy_m: float | None
    already_ingested: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: (smallest, largest) scale factor of ``crs`` over the landed points; None when nothing landed
    crs_scale: tuple[float, float] | None = None
    #: what the user must hear (a CRS that distorts distances over the data), beside the notes
    warnings: list[str] = field(default_factory=list)
    #: the earlier ingests of this file's content, read another way (another mapping or encoding): this one
    #: read it again
    read_again_of: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingest_id": self.ingest_id, "dataset": self.dataset, "file": self.file, "reader": self.reader,
            "n_read": self.n_read, "n_landed": self.n_landed, "n_quarantined": self.n_quarantined,
            "top_reasons": [{"reason": r, "rows": n} for r, n in self.top_reasons], "crs": self.crs,
            "transform": self.transform, "transform_accuracy_m": self.transform_accuracy_m,
            "crs_scale": None if self.crs_scale is None else {"min": self.crs_scale[0], "max": self.crs_scale[1]},
            "already_ingested": self.already_ingested, "seconds": round(self.seconds, 3), "notes": self.notes,
            "warnings": self.warnings, "read_again_of": self.read_again_of,
        }


def check_dataset_name(name: str) -> str:
    """A dataset name is what people type and read: refused when empty, padded, control-laden or long."""
    if (not name.strip() or name != name.strip() or len(name) > 100
            or any(not c.isprintable() for c in name)):
        raise InvalidParameterError(f"dataset name {name!r} (--dataset, the mapping's dataset, or the file name): "
                                    "expected 1 to 100 printable characters without leading or trailing spaces, "
                                    "e.g. 'springfield'")
    return name


#: What a folder given to ``crimelens ingest`` is searched for (a shapefile's .dbf and .shx travel with its .shp).
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".geojson", ".gpkg", ".shp", ".zip")


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """The files to ingest: each path as given, a folder as every data file under it (sorted).

    police.uk and many open-data portals ship one file per month, in one folder per month; a folder
    reads them all. A path that does not exist, or a folder without a data file, is refused before
    anything is read.
    """
    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise NotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(DATA_SUFFIXES)
                           and not f.name.startswith("."))
            if not found:
                raise InputError(f"{p}: a folder without a data file; expected files ending in "
                                 f"{', '.join(DATA_SUFFIXES)}")
            out.extend(found)
        else:
            out.append(p)
    unique = list(dict.fromkeys(f.resolve() for f in out))
    return [Path(f) for f in unique]


def ingest_file(ctx: Context, path: str | Path, *, actor: Actor, purpose: str = RESEARCH,
                format: str | None = None, mapping: str | Path | None = None, dataset: str | None = None,
                crs: str | None = None, file_label: str | None = None) -> IngestSummary:
    """Read, validate, project and store one file, with its quarantine, provenance and ledger entry.

    Re-ingesting a file already stored for the dataset (same SHA-256, or the same content in another
    packing) *read the same way* (the same layout or mapping, compared as parsed TOML) changes nothing.
    Read another way (a corrected mapping, a declared encoding), the file is read again: rows the
    earlier ingest landed are quarantined as duplicates (a row with a ``FILE:LINE`` id as the stored row
    of its line), rows it could not read land, and a note names the earlier ingest and what differs.
    The rows, the quarantine, the provenance and the ledger entry land in one transaction: a failure
    leaves the store as it was. A row whose id is ``FILE:LINE`` and whose content the dataset holds
    already (an updated export repeating earlier rows) is quarantined as a duplicate row, one stored
    row per copy; the landed ones get their content hash stored for the next file.

    Ingests into one dataset of one store run one at a time in this process (a lock per store file and
    dataset): the already-stored, duplicate-id and repeated-row checks and the dataset's CRS see the rows
    of an ingest that finished while this one waited. Two uploads of one export at once store it once.

    ``crs`` is the metric CRS to project to; a dataset keeps its first file's, so a different one for a
    dataset that holds incidents is refused. The CRS's scale over the data is measured and kept in the
    provenance; past 1 % the summary carries a warning naming a CRS that suits.

    The file is hashed (SHA-256 and line count, one pass) on a second thread while Arrow
    parses it; the already-stored check runs as soon as both are done, before validation.
    When the dataset already holds a file of exactly this size, the hash is awaited first,
    so re-ingesting a stored file reads nothing else.

    ``file_label`` is what the provenance records as the file (default: its resolved path), e.g.
    ``upload:<name>`` for a file the service received and will delete.

    An interrupt (Ctrl-C) is a ``KeyboardInterrupt`` wherever it lands, DuckDB's ``Query interrupted``
    included; the open transaction is rolled back, so nothing of the file is stored and nothing stored
    before is lost.
    """
    path = existing_file(path, "one file (`crimelens ingest FOLDER --dataset NAME` reads every data file in a "
                               "folder)")
    if dataset is not None:
        check_dataset_name(dataset)
    with _interrupt_is_keyboard():
        layout = resolve_layout(path, format=format, mapping=mapping)
        name = check_dataset_name(dataset or layout.dataset or path.name.split(".")[0])
        with _ingest_lock(ctx, name):
            return _ingest_one(ctx, path, layout, name, actor=actor, purpose=purpose, mapping=mapping, crs=crs,
                               chosen=mapping is not None or format is not None,
                               file_label=file_label)


#: One lock per (store file, dataset): ingests into a dataset run one at a time in a process.
_INGEST_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_INGEST_LOCKS_GUARD = threading.Lock()


def _ingest_lock(ctx: Context, dataset: str) -> threading.Lock:
    """The lock that ingests into ``dataset`` of ``ctx``'s store take, from their already-stored check to
    their commit. The CLI holds the store file alone (DuckDB's file lock); ``crimelens serve`` ingests uploads
    on several threads, and without it two uploads of one export each landed every row, and two files into
    a new dataset each chose a CRS."""
    where = str(ctx.store.path)
    key = (f"{where}#{id(ctx.store)}" if where == ":memory:" else str(Path(where).resolve()), dataset)
    with _INGEST_LOCKS_GUARD:
        return _INGEST_LOCKS.setdefault(key, threading.Lock())


@contextmanager
def _interrupt_is_keyboard() -> Iterator[None]:
    """DuckDB answers a SIGINT during a query with ``RuntimeError('Query interrupted')`` (the Python
    ``KeyboardInterrupt`` never comes): here it becomes that ``KeyboardInterrupt`` again, as an interrupt
    anywhere else is, after the transaction it hit has rolled back."""
    try:
        yield
    except RuntimeError as exc:
        if str(exc) != "Query interrupted":
            raise
        raise KeyboardInterrupt(str(exc)) from exc


def _ingest_one(ctx: Context, path: Path, layout: Layout, name: str, *, actor: Actor, purpose: str,
                mapping: str | Path | None, crs: str | None, file_label: str | None,
                chosen: bool = True) -> IngestSummary:
    """:func:`ingest_file` for one file, under the dataset's ingest lock."""
    reading = _reading(layout.text)
    earlier: list[IngestRecord] = []  # stored ingests of this content read another way: it is read again
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crimelens-digest") as pool:
        hashing = pool.submit(file_digest, path)

        def stored_before() -> IngestRecord | None:
            """The stored ingest of this content read the same way; the others go to ``earlier``. Only a reading
            chosen now (a mapping or a format) reads a stored file another way: with a layout detected from the
            header the stored file stands, so that a built-in layout changed by an upgrade does not read every
            stored file of a nightly ``ingest folder/`` again."""
            found = _ingests_of(ctx, name, hashing.result())
            same = next((r for r in found if not chosen or r.mapping is None or _reading(r.mapping) == reading), None)
            earlier[:] = [] if same is not None else found
            return same

        def stop_if_stored() -> None:
            previous = stored_before()
            if previous is not None:
                raise _AlreadyStored(previous)

        def landed_lines() -> dict[int, str]:
            """The ids the earlier ingests of this content landed, by line (what a row read again repeats)."""
            if not earlier:
                return {}
            marks = ", ".join("?" for _ in earlier)
            rows = ctx.store.iter_rows(f"SELECT line, incident_id FROM incidents WHERE dataset = ? AND ingest_id IN "
                                       f"({marks}) AND line IS NOT NULL ORDER BY line",
                                       [name, *(r.ingest_id for r in earlier)])
            return {int(line): str(ident) for line, ident in rows}

        if ctx.store.has_ingest_of_size(dataset=name, file_bytes=path.stat().st_size):
            previous = stored_before()  # likely a re-ingest: settle it before parsing anything
            if previous is not None:
                return _unchanged(ctx, previous, name, path=path, digest=hashing.result())
        existing = set(ctx.store.existing_ids(name)["incident_id"].tolist())
        kept_crs = _dataset_crs(ctx, name)
        if crs is not None and kept_crs is not None and not _same_crs(crs, kept_crs):
            raise InvalidParameterError(
                f"{path.name}: --crs {crs}: dataset {name!r} holds incidents in {kept_crs}, and a dataset keeps one "
                f"CRS (every distance compares positions in it); expected {kept_crs} or no --crs, or another dataset")
        _hash_stored_rows(ctx, name)  # rows stored before migration 0015 get their content hash first
        known = partial(stored_row_matches, ctx.store, name, match=has_row_hashes(ctx.store, name))
        try:
            result = read_file(path, format=layout.name if mapping is None else None, mapping=mapping, dataset=name,
                               crs=crs or kept_crs, existing_ids=existing, digest=hashing.result,
                               after_read=stop_if_stored, known_rows=known,
                               stored_rows=partial(stored_incidents, ctx.store, name), landed_lines=landed_lines)
        except _AlreadyStored as stored:
            return _unchanged(ctx, stored.record, name, path=path, digest=hashing.result())
        except CrimelensError as exc:
            previous = stored_before()  # a file stored before is a no-op even if it no longer reads
            if previous is not None:
                return _unchanged(ctx, previous, name, path=path, digest=hashing.result())
            if earlier:  # stored, read another way; this reading fails: nothing changes, and the summary says why
                return _unchanged(ctx, earlier[0], name, path=path, digest=hashing.result(), warnings=[
                    f"{path.name} is stored in dataset {name!r} (ingest {earlier[0].ingest_id}, layout "
                    f"{earlier[0].reader!r}); read again with {_reading_name(layout, mapping)} it fails, so nothing "
                    f"changed: {type(exc).__name__}: {exc}"])
            raise
    digest = hashing.result()
    sha = digest.sha256
    v = result.validated
    pa.default_memory_pool().release_unused()  # the raw columns are gone: hand their memory back before the insert
    if result.n_landed + result.n_quarantined != result.n_read:  # the invariant, checked every time
        raise SchemaError(f"{path.name}: {result.n_landed} landed + {result.n_quarantined} quarantined "
                          f"!= {result.n_read} read; refusing to store a lossy ingest")
    warnings = result.warnings + _near_repeat_warnings(ctx, name, v, layout, path.name)
    notes = list(result.notes)
    if earlier:
        notes.insert(0, _read_again_note(path.name, name, earlier, layout, mapping, result.n_landed))
    ingest_id = uuid.uuid4().hex[:16]
    finished = datetime.now(UTC)
    # a file without a position to choose a CRS from (a header only) records the dataset's, or none: the
    # reader's stand-in is no CRS the data was read in
    crs_to = v.projection.target if v.crs_chosen else kept_crs
    record = IngestRecord(
        ingest_id=ingest_id, dataset=name, file=file_label or str(path.resolve()), file_sha256=sha, file_bytes=result.file_bytes,
        reader=layout.name, mapping=layout.text, crs_from=v.projection.source, crs_to=crs_to,
        transform=v.projection.description if v.crs_chosen else None,
        transform_accuracy_m=v.projection.accuracy_m if v.crs_chosen else None, n_read=result.n_read,
        n_landed=result.n_landed, n_quarantined=result.n_quarantined, started_at=result.started_at,
        finished_at=finished, user_name=actor.user, notes="\n".join(notes + warnings) or None,
        content_sha256=digest.content_sha256, crs_scale_min=None if v.scale is None else v.scale[0],
        crs_scale_max=None if v.scale is None else v.scale[1],
    )
    with ctx.store.transaction():
        insert_validated(ctx.store, v.frame, v.mo_names, ingest_id=ingest_id)
        if len(v.audit):
            ctx.store.insert_audit_attributes(v.audit.assign(dataset=name, ingest_id=ingest_id))
        if v.line_ids is not None and v.row_hashes is not None:
            lines = v.frame["line"] if v.line_ids.all() else v.frame["line"][v.line_ids]
            save_row_hashes(ctx.store, scheme=ROW_HASH_SCHEME, ingest_ids=[ingest_id], replace=False,
                            rows=pa.table({"line": pa.array(lines, type=pa.int64()), "h1": v.row_hashes[:, 0],
                                           "h2": v.row_hashes[:, 1]}))
        if len(v.quarantine):
            ctx.store.insert_quarantine(v.quarantine.assign(ingest_id=ingest_id))
        ctx.store.record_ingest(record)
        record_use(ctx, action="ingest.file", actor=actor, purpose=purpose, data_hash=sha,
                   params={"format": layout.name, "dataset": name, "crs": crs_to,
                           **({"crs_scale": list(v.scale)} if v.scale is not None else {})},
                   inputs={"file": path.name, "bytes": result.file_bytes,
                           **({"content_sha256": digest.content_sha256} if digest.content_sha256 != sha else {})},
                   detail={"ingest_id": ingest_id, "n_read": result.n_read, "n_landed": result.n_landed,
                           "n_quarantined": result.n_quarantined,
                           **({"read_again_of": [r.ingest_id for r in earlier]} if earlier else {})})
    return IngestSummary(ingest_id, name, path.name, layout.name, result.n_read, result.n_landed,
                         result.n_quarantined, result.reasons(5), crs_to, record.transform,
                         record.transform_accuracy_m, seconds=(finished - result.started_at).total_seconds(),
                         notes=notes, crs_scale=v.scale, warnings=warnings,
                         read_again_of=[r.ingest_id for r in earlier])


def _reading(text: str | None) -> str | None:
    """How a layout reads a file, for comparison: its TOML parsed (comments, spacing and key order play no
    part), as canonical JSON; the text itself when it does not parse."""
    if text is None:
        return None
    try:
        return json.dumps(tomllib.loads(text), sort_keys=True, default=str)
    except tomllib.TOMLDecodeError:
        return text


def _flat(doc: dict[str, Any], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """A parsed TOML document as {key path: value}."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, (*path, str(key))))
        else:
            out[(*path, str(key))] = value
    return out


def _reading_changes(before: str | None, after: str) -> list[str]:
    """What differs between two layouts' TOML, key by key (``[source] encoding: 'utf-8' -> 'latin-1'``)."""
    try:
        old, new = _flat(tomllib.loads(before or "")), _flat(tomllib.loads(after))
    except tomllib.TOMLDecodeError:
        return []
    changed = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            a, b = (repr(d[key]) if key in d else "(none)" for d in (old, new))
            label = f"[{key[0]}] {'.'.join(key[1:])}" if len(key) > 1 else key[0]
            changed.append(f"{label}: {a} -> {b}")
    return changed


def _reading_name(layout: Layout, mapping: str | Path | None) -> str:
    """The reading as a person named it: the mapping file (an upload's: the stored mapping's name), or the layout."""
    return f"mapping {Path(mapping).name}" if mapping is not None else f"layout {layout.name!r}"


def _read_again_note(file: str, dataset: str, earlier: list[IngestRecord], layout: Layout,
                     mapping: str | Path | None, n_landed: int) -> str:
    """The note of a stored file read again another way: which ingest stored it, what differs, what it did."""
    first = earlier[0]
    changes = _reading_changes(first.mapping, layout.text)
    shown = "; ".join(changes[:6]) + (f"; … ({len(changes)} in all)" if len(changes) > 6 else "")
    return (f"{file} holds data stored in dataset {dataset!r} by ingest {first.ingest_id} on "
            f"{first.started_at:%Y-%m-%d %H:%M} UTC with layout {first.reader!r}"
            + (f" (and {len(earlier) - 1} more ingests)" if len(earlier) > 1 else "")
            + f"; read again with {_reading_name(layout, mapping)}, which reads it another way"
            + (f" ({shown})" if shown else "")
            + f": {n_landed:,} rows landed now; the rows stored before are quarantined as duplicates and stay as "
              "they were")


def _ingests_of(ctx: Context, dataset: str, digest: FileDigest) -> list[IngestRecord]:
    """The dataset's ingests of this file or of the same content in another packing, the byte-identical
    file first, then oldest first."""
    frame = ctx.store.query(
        "SELECT * FROM ingests WHERE (file_sha256 = ? OR content_sha256 = ?) AND dataset = ? "
        "ORDER BY file_sha256 = ? DESC, started_at",
        [digest.sha256, digest.content_sha256, dataset, digest.sha256])
    out = []
    for row in frame.to_dict("records"):
        clean: Any = {str(k): (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in row.items()}
        out.append(IngestRecord(**clean))
    return out


def _near_repeat_warnings(ctx: Context, dataset: str, v: Any, layout: Any, file: str) -> list[str]:
    """A warning naming the new rows with FILE:LINE ids that match a stored row on all but one or two fields
    (same time and place, say, with another premise): an updated export's corrections, which land as new
    incidents beside the rows they correct, since nothing but their content ties them to those."""
    if v.line_ids is None or not v.line_ids.any() or not has_row_hashes(ctx.store, dataset):
        return []
    frame = v.frame if v.line_ids.all() else v.frame[v.line_ids]
    rows = pa.Table.from_pandas(frame[["line", *COMPARED]], preserve_index=False)
    found = near_repeats(ctx.store, dataset, rows)
    if not found:
        return []
    column = {"offense": layout.offense or "offense", "premise": layout.premise or "premise",
              "area": layout.area or "area", "narrative": layout.narrative or "narrative",
              "time": layout.occurred_from.column or "+".join(layout.occurred_from.parts.values()),
              "location": "/".join(c for c in ((layout.x, layout.y) if layout.x else (layout.lon, layout.lat)) if c)
              or "location"}
    shown = "; ".join(f"line {line} and {ident!r} ({', '.join(column[w] for w in what)})"
                      for line, ident, what in found[:10])
    more = f"; … ({len(found):,} in all)" if len(found) > 10 else ""
    return [f"{file}: {len(found):,} new rows have the time and place of a row already in dataset {dataset!r} and "
            f"differ from it in one or two of offense, premise, area and narrative; they landed as new incidents "
            f"beside it: corrections in an updated export, or separate incidents alike? {shown}{more}. A layout without ids cannot tell which; "
            "nothing stored was changed, so a corrected row and the row it corrects are both in the dataset."]


def _hash_stored_rows(ctx: Context, dataset: str) -> int:
    """Hash the stored FILE:LINE rows of the dataset's ingests that have no hashes (stored before migration
    0015) from what the store holds, so that a file repeating them is caught too. How many rows."""
    stale = unhashed_ingests(ctx.store, dataset, ROW_HASH_SCHEME)
    if not stale:
        return 0
    content, mo_names, audit_names = stored_row_content(ctx.store, dataset, stale)
    hashes = row_hashes(content, mo_names, audit_names)
    rows = content.select(["ingest_id", "line"]).append_column("h1", pa.array(hashes[:, 0])).append_column(
        "h2", pa.array(hashes[:, 1]))
    return save_row_hashes(ctx.store, scheme=ROW_HASH_SCHEME, ingest_ids=stale, rows=rows)


class _AlreadyStored(Exception):
    def __init__(self, record: IngestRecord) -> None:
        super().__init__(record.ingest_id)
        self.record = record


def _unchanged(ctx: Context, previous: IngestRecord, name: str, *, path: Path, digest: FileDigest,
               warnings: list[str] | None = None) -> IngestSummary:
    """The summary of a re-ingest: the earlier ingest, unchanged.

    When the earlier file is not this one byte for byte but holds the same content (a ``.gz`` and its
    unpacked CSV), the summary names this file and a note says which stored file it repeats."""
    top = _top_reasons(ctx.store.quarantine(ingest_id=previous.ingest_id))
    file, notes = Path(previous.file).name, []
    if previous.file_sha256 != digest.sha256:
        file = path.name
        notes.append(f"{path.name} holds the same data as {Path(previous.file).name}, stored in dataset {name!r} "
                     f"by ingest {previous.ingest_id} on {previous.started_at:%Y-%m-%d %H:%M} UTC "
                     f"(content SHA-256 {digest.content_sha256}, decompressed); nothing stored again")
    scale = (None if previous.crs_scale_min is None or previous.crs_scale_max is None
             else (previous.crs_scale_min, previous.crs_scale_max))
    return IngestSummary(previous.ingest_id, name, file, previous.reader, previous.n_read,
                         previous.n_landed, previous.n_quarantined, top, previous.crs_to, previous.transform,
                         previous.transform_accuracy_m, already_ingested=True, notes=notes, crs_scale=scale,
                         warnings=list(warnings or []))


def _same_crs(a: str, b: str) -> bool:
    """Whether two CRS names mean one CRS (``epsg:32616`` is ``EPSG:32616``); an unknown one is left to the reader."""
    from pyproj import CRS

    if a == b:
        return True
    try:
        return bool(CRS.from_user_input(a) == CRS.from_user_input(b))
    except Exception:  # pyproj's CRSError: the reader refuses the unknown CRS with its own message
        return True


def _dataset_crs(ctx: Context, dataset: str) -> str | None:
    """A dataset keeps one CRS: later files are projected to the first file's."""
    try:
        return ctx.store.dataset_crs(dataset)
    except NotFoundError:
        return None


def _top_reasons(frame: pd.DataFrame, top: int = 5) -> list[tuple[str, int]]:
    if frame.empty:
        return []
    counts = reason_kind(frame["reason"]).value_counts()
    return [(str(k), int(n)) for k, n in counts.head(top).items()]


def load_areas(ctx: Context, path: str | Path, *, dataset: str, actor: Actor, purpose: str = RESEARCH,
               id_field: str | None = None, name_field: str | None = None,
               population_field: str = "population") -> list[Area]:
    """Load area polygons (GeoJSON, GeoPackage, Shapefile) into the dataset's metric CRS.

    Every property other than id, name and population is kept as an *audit* attribute
    (demographic composition etc.), never as a model feature.
    """
    import pyogrio
    import shapely
    from pyproj import CRS

    from crimelens.ingest._project import _transformer
    from crimelens.ingest._read import geometry_column

    path = existing_file(path, "a polygon file (GeoJSON, GeoPackage or a shapefile or its .zip)")
    try:
        meta, table = pyogrio.read_arrow(str(path))
    except Exception as exc:
        raise SchemaError(f"{path.name}: cannot read as a polygon file: {exc}") from exc
    geom_col = geometry_column(meta, list(table.column_names))
    if geom_col is None:
        raise SchemaError(f"{path.name}: no geometry column (columns {', '.join(table.column_names)}); "
                          "expected a layer of polygons")
    frame = table.to_pandas()
    geoms = shapely.from_wkb(frame.pop(geom_col).to_numpy())
    src = meta.get("crs") or "EPSG:4326"
    target = _dataset_crs(ctx, dataset)
    if target is None:
        from crimelens.ingest import utm_crs_for

        c = shapely.centroid(shapely.union_all(geoms))
        lon, lat = (c.x, c.y) if CRS.from_user_input(src).is_geographic else _transformer(src, "EPSG:4326").transform(c.x, c.y)
        target = utm_crs_for(lon, lat)
    tr = _transformer(src, target)
    projected = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    for option, field_name in (("id_field", id_field), ("name_field", name_field),
                               ("population_field", None if population_field == "population" else population_field)):
        if field_name is not None and field_name not in frame.columns:
            raise SchemaError(f"{path.name}: {option} {field_name!r} is not a property of its features; expected one "
                              f"of {', '.join(map(repr, frame.columns)) or 'none (the features have no properties)'}")
    idf = id_field or next((c for c in ("area_id", "id", "bin", "DISTRICT", "code") if c in frame.columns), None)
    namef = name_field or next((c for c in ("name", "NAME", "DISTRICT") if c in frame.columns), None)
    areas = []
    for i, row in enumerate(frame.to_dict("records")):
        area_id = str(row.pop(idf)) if idf else str(i + 1)
        name = str(row.pop(namef, area_id)) if namef and namef != idf else area_id
        pop = _population(row.pop(population_field, None), path, i, population_field)
        audit = {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
        areas.append(Area(area_id, name, shapely.to_wkt(projected[i], rounding_precision=3),
                          pop, target, audit))
    with ctx.store.transaction():
        ctx.store.save_areas(dataset, areas)
        record_use(ctx, action="areas.load", actor=actor, purpose=purpose, data_hash=file_sha256(path),
                   params={"dataset": dataset, "crs": target}, inputs={"file": path.name},
                   detail={"n_areas": len(areas)})
    return areas


def _population(value: Any, path: Path, index: int, field_name: str) -> int | None:
    """A feature's population as a whole number of residents (None when the property is empty)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0 and number == round(number)):
        raise SchemaError(f"{path.name} feature {index + 1}, property {field_name!r}: got {value!r}; expected a whole "
                          "number of residents >= 0 (name another property with --population-field)")
    return int(number)


def incidents_summary(ctx: Context, *, dataset: str | None = None, actor: Actor | None = None,
                      purpose: str = RESEARCH) -> dict[str, Any]:
    """Counts per dataset and offense, time span, quarantine and provenance: a first look.

    With ``actor`` (a person asking: the CLI, the API) it is checked against the role and logged
    (``data.status``), as the dashboard's dataset list is.

    ``first`` and ``last`` are the earliest and the latest incident (the start of its time window), in
    UTC; ``first_local`` and ``last_local`` the same in the dataset's ``timezone`` (the zone its files
    were read in; UTC when they carry their own offsets or name several zones), so a year of Vancouver
    records reads 2020-01-01 to 2020-12-31 and not to 2021-01-01 08:00 UTC."""
    if actor is not None:
        authorize(ctx, action="data.status", actor=actor, purpose=purpose)
    check_dataset(ctx, dataset, "incidents summary", ingested=True)
    where = "WHERE dataset = ?" if dataset else ""
    params = [dataset] if dataset else []
    per = ctx.store.query(
        f"SELECT dataset, any_value(crs) AS crs, count(*) AS n, min(occurred_from) AS first, "
        f"max(occurred_from) AS last, count(DISTINCT offense) AS n_offenses, "
        f"avg(CASE WHEN source = 'discovered' THEN 1 ELSE 0 END) AS share_discovered "
        f"FROM incidents {where} GROUP BY dataset ORDER BY dataset", params)
    offenses = ctx.store.query(
        f"SELECT dataset, offense, count(*) AS n FROM incidents {where} GROUP BY 1, 2 ORDER BY 1, 3 DESC", params)
    ingests = ctx.store.query(
        f"SELECT dataset, count(*) AS files, sum(n_read) AS n_read, sum(n_landed) AS n_landed, "
        f"sum(n_quarantined) AS n_quarantined FROM ingests {where} GROUP BY 1 ORDER BY 1", params)
    datasets = []
    for row in per.to_dict("records"):
        name = row["dataset"]
        ing = ingests[ingests["dataset"] == name]
        zone = dataset_timezone(ctx, name)
        datasets.append({
            "dataset": name, "crs": row["crs"], "n_incidents": int(row["n"]),
            "first": row["first"].isoformat() if row["first"] is not None else None,
            "last": row["last"].isoformat() if row["last"] is not None else None,
            "timezone": zone or "UTC",
            "first_local": local_time(row["first"], zone), "last_local": local_time(row["last"], zone),
            "share_discovered": round(float(row["share_discovered"]), 4),
            "offenses": {r["offense"]: int(r["n"]) for r in offenses[offenses["dataset"] == name].to_dict("records")},
            "files": int(ing["files"].iloc[0]) if len(ing) else 0,
            "n_read": int(ing["n_read"].iloc[0]) if len(ing) else 0,
            "n_quarantined": int(ing["n_quarantined"].iloc[0]) if len(ing) else 0,
            "n_areas": int(ctx.store.scalar("SELECT count(*) FROM areas WHERE dataset = ?", [name])),
        })
    if actor is not None:
        record_use(ctx, action="data.status", actor=actor, purpose=purpose,
                   detail={"datasets": [d["dataset"] for d in datasets]})
    return {"store": str(ctx.store.path), "datasets": datasets}


def list_quarantine(ctx: Context, *, actor: Actor, purpose: str = RESEARCH, dataset: str | None = None,
                    reason: str | None = None, limit: int = 50) -> dict[str, Any]:
    """:func:`quarantine_rows` for a caller: checked against the role and logged (``quarantine.list``).

    The raw rows may carry what was refused at ingest (a protected attribute in a feature column,
    personal data in a free-text field), so reading them is a use like any other.
    """
    authorize(ctx, action="quarantine.list", actor=actor, purpose=purpose)
    out = quarantine_rows(ctx, dataset=dataset, reason=reason, limit=limit)
    record_use(ctx, action="quarantine.list", actor=actor, purpose=purpose,
               detail={"dataset": dataset, "reason": reason, "rows": len(out["rows"]), "total": out["total"]})
    return out


def quarantine_rows(ctx: Context, *, dataset: str | None = None, reason: str | None = None,
                    limit: int = 50) -> dict[str, Any]:
    """Quarantined rows (newest ingests first) and counts by reason."""
    check_dataset(ctx, dataset or None, "quarantine list", ingested=True)
    clauses, params = [], []
    if dataset:
        clauses.append("i.dataset = ?")
        params.append(dataset)
    if reason:
        clauses.append("q.reason ILIKE ?")
        params.append(f"%{reason}%")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    base = f"FROM quarantine q JOIN ingests i USING (ingest_id) {where}"
    rows = ctx.store.query(
        f"SELECT i.dataset, q.file, q.line, q.\"column\", q.value, q.reason, q.raw {base} "
        f"ORDER BY i.started_at DESC, q.line LIMIT {int(limit)}", params)
    kind = "q.reason"
    for pattern, replacement in REASON_DETAILS:  # the reason without what names its row (a line, an id)
        kind = f"regexp_replace({kind}, '{pattern}', '{replacement}')"
    counts = ctx.store.query(
        f"SELECT {kind} AS reason, count(*) AS n {base} GROUP BY 1 ORDER BY 2 DESC", params)
    total = int(counts["n"].sum()) if len(counts) else 0
    return {
        "total": total,
        "by_reason": [{"reason": r, "rows": int(n)} for r, n in zip(counts["reason"], counts["n"], strict=True)],
        "rows": [{k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
                 | {"raw": json.loads(r["raw"]) if isinstance(r["raw"], str) and r["raw"].startswith("{") else r["raw"]}
                 for r in rows.to_dict("records")],
    }



# mapping files kept in the store -------------------------------------------------------------
MAPPING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def save_mapping(ctx: Context, name: str, text: str, *, actor: Actor, purpose: str = RESEARCH) -> dict[str, Any]:
    """Keep a mapping file under ``name`` (checked as :func:`ingest_file` would read it). A text equal
    to the newest version changes nothing; a different one becomes the next version (logged as
    ``ingest.mapping``). Earlier versions stay."""
    from crimelens.ingest._layout import Layout

    if not MAPPING_NAME.match(name):
        raise InvalidParameterError(f"mapping name {name!r}: expected letters, digits, '_', '.' or '-' "
                                    "(at most 100, starting with a letter or digit)")
    authorize(ctx, action="ingest.mapping", actor=actor, purpose=purpose)
    layout = Layout.from_toml(text, origin=f"mapping {name!r}")  # a bad mapping is refused here, named
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with ctx.store.transaction():
        newest = list(ctx.store.iter_rows(
            "SELECT version, sha256, ledger_seq FROM ingest_mappings WHERE name = ? ORDER BY version DESC LIMIT 1",
            [name]))
        if newest and newest[0][1] == digest:
            return {"ok": True, "name": name, "version": int(newest[0][0]), "sha256": digest, "changed": False,
                    "layout": layout.name, "ledger_seq": int(newest[0][2])}
        version = int(newest[0][0]) + 1 if newest else 1
        seq = record_use(ctx, action="ingest.mapping", actor=actor, purpose=purpose, output_hash=digest,
                         detail={"name": name, "version": version, "layout": layout.name})
        ctx.store.execute("INSERT INTO ingest_mappings VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [name, version, text, digest, datetime.now(UTC), actor.user, seq])
    return {"ok": True, "name": name, "version": version, "sha256": digest, "changed": True, "layout": layout.name,
            "ledger_seq": seq}


def list_mappings(ctx: Context, *, actor: Actor, purpose: str = RESEARCH) -> list[dict[str, Any]]:
    """The stored mappings, newest version of each, with how many versions there are (logged)."""
    authorize(ctx, action="ingest.list", actor=actor, purpose=purpose)
    rows = ctx.store.iter_rows(
        "SELECT name, max(version), arg_max(sha256, version), arg_max(added_at, version), "
        "arg_max(added_by, version) FROM ingest_mappings GROUP BY name ORDER BY name")
    out = [{"name": str(r[0]), "version": int(r[1]), "sha256": str(r[2]),
            "added_at": r[3].isoformat() if isinstance(r[3], datetime) else str(r[3]), "added_by": str(r[4])}
           for r in rows]
    record_use(ctx, action="ingest.list", actor=actor, purpose=purpose, detail={"what": "mappings", "n": len(out)})
    return out


def mapping_text(ctx: Context, name: str, *, version: int | None = None) -> tuple[int, str]:
    """``(version, text)`` of a stored mapping (the newest unless ``version``); NotFoundError names it."""
    sql = "SELECT version, toml FROM ingest_mappings WHERE name = ?"
    params: list[Any] = [name]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    rows = list(ctx.store.iter_rows(sql + " ORDER BY version DESC LIMIT 1", params))
    if not rows:
        known = [str(r[0]) for r in ctx.store.iter_rows("SELECT DISTINCT name FROM ingest_mappings ORDER BY 1")]
        raise NotFoundError(f"mapping {name!r}{'' if version is None else f' version {version}'}: not in the store "
                            f"(stored: {known or 'none'}; PUT /api/mappings/{name} adds it)")
    return int(rows[0][0]), str(rows[0][1])


def show_mapping(ctx: Context, name: str, *, actor: Actor, purpose: str = RESEARCH,
                 version: int | None = None) -> dict[str, Any]:
    """A stored mapping's text (logged as ``ingest.show``)."""
    authorize(ctx, action="ingest.show", actor=actor, purpose=purpose)
    v, text = mapping_text(ctx, name, version=version)
    record_use(ctx, action="ingest.show", actor=actor, purpose=purpose,
               detail={"what": "mapping", "name": name, "version": v})
    return {"ok": True, "name": name, "version": v, "toml": text,
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
