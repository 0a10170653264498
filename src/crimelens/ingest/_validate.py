"""Validation and normalisation: raw string columns -> canonical rows + quarantine.

Every row read either lands or is quarantined with the file, line, column,
value and reason; ``landed + quarantined == read`` always. Each rejected row
gets exactly one quarantine record: the first failing check, in column order
(id, offense, times, location, source), then, for a row with a ``FILE:LINE`` id,
whether it repeats a stored row (``known_rows``). The record's value is the text
the file has in that column (never a converted time or position), so that it can
be found in the file.

The target CRS's scale over the landed points is measured (``Validated.scale``);
past 1 % a warning names a CRS that suits (``Validated.warnings``).

Times: a wall-clock value is read in the layout's time zone. A value that the
daylight-saving change skips is impossible and quarantined; a value it repeats
(ambiguous) becomes a window covering both readings. Day- and month-resolution
values become windows ``[start, start of the next period]``. All times are
stored in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from crimelens.domain import OFFENSE_CATEGORIES, is_protected
from crimelens.errors import SchemaError
from crimelens.ingest._fast import (
    arrow_strings,
    clean_strings,
    iso_offset_micros,
    per_value,
    provably_unique,
    rows_json,
    to_float,
)
from crimelens.ingest._layout import Layout, TimeSpec
from crimelens.ingest._project import (
    MAX_SCALE_ERROR,
    Projection,
    choose_projection,
    local_utm,
    scale_error,
)
from crimelens.ingest._read import RawTable
from crimelens.ingest._rowhash import row_hashes

__all__ = ["LandedLines", "RowMatcher", "StoredRows", "Validated", "absent_columns", "validate"]

#: Finds the rows of a file that the store holds already (see :func:`validate`'s ``known_rows``): given the
#: content hashes of the file's rows with FILE:LINE ids (:func:`~crimelens.ingest._rowhash.row_hashes`,
#: ``(n, 2)`` words), in order, it answers (the positions of the repeated ones, the stored id each repeats).
RowMatcher = Callable[[NDArray[np.uint64]], tuple[NDArray[np.int64], NDArray[np.object_]]]

#: The stored rows of the dataset with the given ids (offense_raw, occurred_from, occurred_to, lon, lat, premise,
#: area, narrative; indexed by incident_id): a row whose id is taken is compared with the row stored under it.
StoredRows = Callable[[list[str]], pd.DataFrame]

#: The rows an earlier ingest of this same file (read another way) landed: {line: stored incident id}.
#: Called once, when the file has rows whose id is FILE:LINE; such a row on one of those lines is that stored
#: row read again (a duplicate id), whatever the file is called now.
LandedLines = Callable[[], dict[int, str]]

_OFFSET_RE = r"(?:Z|z|[+-]\d{2}:?\d{2})$"
_SHAPES = {"%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{1,2}", "%d": r"\d{1,2}", "%H": r"\d{1,2}",
           "%I": r"\d{1,2}", "%M": r"\d{1,2}", "%S": r"\d{1,2}", "%p": r"(?:AM|PM|am|pm)", "%f": r"\d+",
           "%z": r"[+-]\d{2}:?\d{2}", "%b": r"[A-Za-z]{3}", "%B": r"[A-Za-z]+"}



@dataclass
class Validated:
    """The outcome of validating one file."""

    frame: pd.DataFrame  # canonical columns + line + mo__i columns
    mo_names: list[str]
    audit: pd.DataFrame  # incident_id, name, value
    quarantine: pd.DataFrame  # file, line, column, value, reason, raw, kind (the reason without its row's details)
    projection: Projection
    n_read: int
    notes: list[str]
    #: (smallest, largest) scale factor of the target CRS over the landed points (None: nothing landed)
    scale: tuple[float, float] | None = None
    #: what the caller should be told plainly (a CRS that distorts distances over the data)
    warnings: list[str] = field(default_factory=list)
    #: per landed row: whether its id is FILE:LINE (its content is what tells a repeat apart)
    line_ids: NDArray[np.bool_] | None = None
    #: the content hash (two 64-bit words) of each landed row with a FILE:LINE id, in order (None without
    #: ``known_rows``)
    row_hashes: NDArray[np.uint64] | None = None
    #: whether the target CRS was chosen for this file (given, the layout's, the source's, or the data's UTM
    #: zone); False when there was no position to choose it from (then ``projection.target`` is a stand-in
    #: that no stored position uses, and is not recorded)
    crs_chosen: bool = True


class _Failures:
    """First-failure bookkeeping, one slot per row."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.kind = np.full(n, None, dtype=object)  # the reason without what names one row (a line, an id)
        self.column = np.full(n, None, dtype=object)
        self.value = np.full(n, None, dtype=object)
        self.failed = np.zeros(n, dtype=bool)  # == reason is not missing, kept as booleans

    def add(self, mask: NDArray[np.bool_], column: str | None, values: Any, reason: str | NDArray[np.object_],
            kind: str | None = None) -> None:
        new = np.asarray(mask, dtype=bool) & ~self.failed
        if not new.any():
            return
        if isinstance(reason, str):
            self.reason[new] = reason
            self.kind[new] = kind or reason
            self.failed[new] = True
        else:
            given = np.asarray(reason, dtype=object)[new]
            self.reason[new] = given
            self.kind[new] = given if kind is None else kind
            self.failed[new] = ~np.asarray(pd.isna(given), dtype=bool)
        self.column[new] = column
        if isinstance(values, pd.Series):  # only the failing rows are converted
            self.value[new] = values.iloc[np.flatnonzero(new)].to_numpy(dtype=object)
        elif callable(values):
            self.value[new] = values(np.flatnonzero(new))
        elif values is not None:
            vals = np.asarray(values, dtype=object)
            self.value[new] = vals[new] if vals.shape else vals

    @property
    def ok(self) -> NDArray[np.bool_]:
        return ~self.failed


def _strings(raw: RawTable, name: str, origin: str) -> pd.Series:
    if name not in raw.columns:
        raise SchemaError(
            f"{origin}: missing column {name!r}; expected it from the layout. The file's header is "
            f"{raw.header[:30]}"
        )
    cached: pd.Series | None = raw.cache.get(name)
    if cached is not None:
        return cached
    out = pd.Series(pd.arrays.ArrowStringArray(clean_strings(raw.columns[name])), copy=False)
    raw.cache[name] = out
    return out


def absent_columns(raw: RawTable, layout: Layout) -> list[tuple[str, str]]:
    """The columns ``layout`` names that ``raw`` lacks, as (column, the layout's key naming it), in the
    layout's order. The location columns are left to the location reader: a layout may name x/y and
    lon/lat (either pair will do) or read a vector file's geometry."""
    named: list[tuple[str, str | None]] = [
        ("incident_id", layout.incident_id), ("offense", layout.offense), ("offense_raw", layout.offense_raw_column)]
    for key, spec in (("occurred_from", layout.occurred_from), ("occurred_to", layout.occurred_to),
                      ("reported_at", layout.reported_at)):
        if spec is not None:
            named += [(key, c) for c in spec.columns()]
    named += [("premise", layout.premise), ("area", layout.area), ("narrative", layout.narrative),
              ("source", layout.source_column), ("bin", layout.bin_column), ("[source] crs_column", layout.crs_column)]
    named += [("[attributes] mo", c) for c in layout.mo or ()]
    named += [("[attributes] audit", c) for c in layout.audit]
    out: list[tuple[str, str]] = []
    for key, column in named:
        if column and column not in raw.columns and (column, key) not in out:
            out.append((column, key))
    return out


#: What a layout with a ``detect`` list does without an optional column, by key (default: left empty).
_WITHOUT = {"occurred_to": "each window ends where occurred_from's does (an exact time, unless its resolution "
                           "makes a window)",
            "reported_at": "no report time is stored", "offense_raw": "the offense column's text is kept instead",
            "source": "the source is 'unknown'", "[source] crs_column": "the layout's [source] crs is used",
            "[attributes] mo": "no M.O. attribute is stored for it",
            "[attributes] audit": "no audit attribute is stored for it"}
#: The keys a layout cannot go without: a missing column of these fails where it is read, with its own message.
_NEEDED = ("incident_id", "offense", "occurred_from", "bin")


def _check_absent(raw: RawTable, layout: Layout, origin: str, mapping: str | None) -> list[str]:
    """Notes for the optional columns a layout with a ``detect`` list names and the file lacks; for any other
    layout (a mapping written for one records system) such a column is a :class:`SchemaError`: its rows would
    land without what the mapping says they carry (a window as an exact time, no audit attribute)."""
    absent = absent_columns(raw, layout)
    if not absent:
        return []
    if not layout.detect:
        which = f"mapping {mapping}, [source] name {layout.name!r}" if mapping else f"layout {layout.name!r}"
        (column, key), rest = absent[0], absent[1:]
        also = ("; also missing: " + ", ".join(f"{c!r} ({k})" for c, k in rest)) if rest else ""
        more = " …" if len(raw.header) > 30 else ""
        raise SchemaError(
            f"{origin}: missing column {column!r}; expected it from the layout ({which}, key {key}){also}. The "
            f"file's header is {raw.header[:30]}{more}; every column a mapping names must be in the file: correct "
            "the name, or take the key out of the mapping if the export has no such column")
    return [f"column {column!r} ({key}) is not in the file; {_WITHOUT.get(key, 'left empty')}"
            for column, key in absent if key not in _NEEDED]


def validate(raw: RawTable, layout: Layout, *, path: Path, dataset: str,
             existing_ids: set[str] | None = None, target_crs: str | None = None,
             now: datetime | None = None, known_rows: RowMatcher | None = None,
             version: str | None = None, stored_rows: StoredRows | None = None,
             landed_lines: LandedLines | None = None, mapping: str | None = None) -> Validated:
    """Validate and normalise ``raw``; see the module docstring.

    A column the layout names that the file lacks (:func:`absent_columns`) is a :class:`SchemaError` naming
    the file, the column, its key, the layout (``mapping``: the mapping file's name, when it came from one)
    and the header, unless the layout has a ``[source] detect`` list (the built-in layouts, a copy of one):
    those describe a family of exports, need only the detection columns and the columns they read ids,
    offense, times and location from, and leave any other absent column empty, each named in a note.

    ``version`` (the first hex digits of the file's SHA-256) tells this file from an earlier one of
    the same name: a ``FILE:LINE`` id that a stored row holds already becomes
    ``FILE@VERSION:LINE`` instead of a duplicate id. Without it such a row is quarantined.

    ``known_rows`` (a :data:`RowMatcher`) hashes, after every other check, the content of the rows that
    would land with a ``FILE:LINE`` id and names those that repeat a row stored before: each copy it
    names is quarantined as ``duplicate row: same content as '<stored id>' ...``. Ids made from the file
    name cannot show an updated export's repeated rows; the content can. The landed rows' hashes are
    in :attr:`Validated.row_hashes`.

    ``landed_lines`` (a :data:`LandedLines`) gives the rows an earlier ingest of this same file landed, when
    the file is read again another way (a corrected mapping): a row with a ``FILE:LINE`` id on such a line
    takes the stored row's id and is quarantined as a duplicate id (compared with it as a changed row is),
    never renamed ``FILE@VERSION:LINE`` and landed a second time.

    ``stored_rows`` (a :data:`StoredRows`) reads the stored rows whose ids this file's rows repeat: a row
    that differs from the one stored under its id (a correction in an updated export) is quarantined as
    ``duplicate id with changed content``, naming the columns that differ, and a warning counts them.
    Nothing stored is changed.

    The pass-through columns (premise, area, narrative, M.O.) are cleaned and the
    later ISO time columns parsed on a second thread while this one checks ids,
    offenses, times and locations (Arrow and NumPy release the GIL).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crimelens-validate") as pool:
        try:
            return _validate(raw, layout, path=path, dataset=dataset, existing_ids=existing_ids,
                             target_crs=target_crs, now=now, pool=pool, known_rows=known_rows,
                             version=version, stored_rows=stored_rows, landed_lines=landed_lines,
                             mapping=mapping)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # a file error: the queued side work is moot
            raise


def _pass_through(raw: RawTable, names: list[str], origin: str) -> None:
    """Clean the pass-through columns (premise, area, narrative, M.O.) into ``raw.cache``."""
    for name in names:
        _strings(raw, name, origin)


def _validate(raw: RawTable, layout: Layout, *, path: Path, dataset: str, existing_ids: set[str] | None,
              target_crs: str | None, now: datetime | None, pool: ThreadPoolExecutor,
              known_rows: RowMatcher | None, version: str | None = None,
              stored_rows: StoredRows | None = None, landed_lines: LandedLines | None = None,
              mapping: str | None = None) -> Validated:
    origin = path.name
    n = len(raw)
    fail = _Failures(n)
    notes: list[str] = _check_absent(raw, layout, origin, mapping)
    lines = raw.lines

    mapped = layout.mapped_columns() | set(layout.drop)
    if layout.mo is not None:
        mo_names = [c for c in layout.mo if c in raw.columns]
    else:
        mo_names = [c for c in raw.header if c not in mapped and c not in layout.audit and not is_protected(c) and c]
    audit_names = [c for c in raw.header if c not in mapped and (c in layout.audit or is_protected(c))]
    passing = [c for c in (layout.premise, layout.area, layout.narrative) if c and c in raw.columns]
    # offense and source categories and the later time columns are worked out on the second thread while this one
    # checks ids and the first time column
    # (pure work on the column's text; the failures are recorded here, in column order)
    categorised: Future[pd.Series] | None = None
    if layout.offense_value is None and layout.offense is not None and layout.offense in raw.columns:
        categorised = pool.submit(per_value, _strings(raw, layout.offense, origin), partial(_categorise, layout=layout))
    sourced: Future[pd.Series] | None = None
    if layout.source_column is not None and layout.source_column in raw.columns and layout.source_map:
        sourced = pool.submit(per_value, _strings(raw, layout.source_column, origin), partial(_map_source, layout=layout))
    early: dict[str, Future[pd.Series | None]] = {}
    for spec in (layout.occurred_to, layout.reported_at):
        if (spec is not None and spec.column and not spec.parts and spec.format == "iso" and not spec.ignore_offset
                and spec.column in raw.columns
                and (layout.occurred_from is None or spec.column != layout.occurred_from.column)):
            early[spec.column] = pool.submit(_fast_iso_with_offset, _strings(raw, spec.column, origin))
    side = pool.submit(_pass_through, raw, passing + mo_names, origin)

    # -- ids ------------------------------------------------------------------
    line_id = np.zeros(n, dtype=bool)  # rows whose id is FILE:LINE: their content is checked against the store's
    id_text: pd.Series | None = None
    if layout.incident_id is not None:
        ids = id_text = _strings(raw, layout.incident_id, origin)
        if layout.id_missing == "line" and ids.isna().any():  # e.g. police.uk's anti-social behaviour rows
            line_id = ids.isna().to_numpy()
            ids = ids.fillna(path.name + ":" + pd.Series(lines, index=ids.index, dtype="int64").astype("string"))
        fail.add(ids.isna().to_numpy(), layout.incident_id, None, "missing id")
        if layout.id_duplicates == "number":
            k = ids.groupby(ids, dropna=True).cumcount()
            ids = ids.where(k == 0, ids + "#" + (k + 1).astype("string"))
        else:
            dup = (pd.Series(False, index=ids.index) if provably_unique(ids)
                   else ids.duplicated(keep="first") & ids.notna())
            if dup.any():
                first_line = pd.Series(lines, index=ids.index).groupby(ids).transform("first")
                fail.add(dup.to_numpy(), layout.incident_id, ids,
                         ("duplicate id (first on line " + first_line.astype("Int64").astype("string") + ")").to_numpy(dtype=object),
                         kind="duplicate id")
    else:
        ids = path.name + ":" + pd.Series(lines, dtype="int64").astype("string")
        line_id = np.ones(n, dtype=bool)
    id_taken = np.zeros(n, dtype=bool)  # rows whose own id (as the file has it) a stored row holds
    known = f"duplicate id: already in dataset {dataset!r} in the store"
    again = np.zeros(n, dtype=bool)  # FILE:LINE rows an earlier ingest of this same file landed: read again
    if landed_lines is not None and line_id.any():
        by_line = landed_lines()
        at = np.flatnonzero(line_id)
        stored_as = [by_line.get(int(line)) for line in lines[at]] if by_line else []
        hit = np.fromiter((a is not None for a in stored_as), dtype=bool, count=len(stored_as))
        if hit.any():
            ids = ids.copy()
            ids.iloc[at[hit]] = [a for a in stored_as if a is not None]
            again[at[hit]] = True
    if existing_ids:
        # a set lookup per id: pandas' isin copies the whole set into an array first, which cost
        # 0.7 s per file on a dataset of 148,636 ids whatever the file's size
        clash = np.fromiter((i in existing_ids for i in ids.tolist()), dtype=bool, count=len(ids))
        taken = clash & line_id & ~again
        if version and taken.any():
            # an earlier file of this name holds these FILE:LINE ids: this version's rows read
            # NAME@VERSION:LINE (its repeats of stored rows are found by their content below)
            at = np.flatnonzero(taken)
            renamed = [f"{path.name}@{version}:{int(line)}" for line in lines[at]]
            ids = ids.copy()
            ids.iloc[at] = renamed
            clash[at] = [i in existing_ids for i in renamed]
            notes.append(f"{len(at):,} rows' ids {path.name}:LINE are taken by an earlier file of this name in "
                         f"dataset {dataset!r}: they read {path.name}@{version}:LINE (the first 8 hex digits of "
                         "this file's SHA-256)")
        if clash.any():
            # the value is the id as the file has it; an id made here (numbered '#2', or FILE:LINE) is named
            # in the reason, since the file holds it nowhere
            reason = np.full(n, known, dtype=object)
            made = clash & (line_id if id_text is None else (id_text != ids).fillna(True).to_numpy(dtype=bool))
            id_taken = clash & (~made | again)  # a row read again is compared with its stored row
            for i in np.flatnonzero(made):
                reason[i] = f"{known} (as {ids.iloc[i]!r})"
            fail.add(clash, layout.incident_id, None if id_text is None else id_text, reason, kind=known)

    # -- offense --------------------------------------------------------------
    if layout.offense_value is not None:
        offense = pd.Series(layout.offense_value, index=range(n), dtype="string")
        offense_raw = (_strings(raw, layout.offense_raw_column, origin) if layout.offense_raw_column
                       else pd.Series(layout.offense_value, index=range(n), dtype="string"))
    else:
        assert layout.offense is not None
        raw_off = _strings(raw, layout.offense, origin)
        raw_col = layout.offense_raw_column
        offense_raw = _strings(raw, raw_col, origin).fillna(raw_off) if raw_col and raw_col in raw.columns else raw_off
        fail.add(raw_off.isna().to_numpy(), layout.offense, None, "missing offense")
        offense = categorised.result() if categorised is not None else per_value(raw_off, partial(_categorise, layout=layout))
        if layout.offense_default is not None:
            offense = offense.fillna(layout.offense_default)
        unmapped = offense.isna() & raw_off.notna()
        fail.add(unmapped.to_numpy(), layout.offense, raw_off,
                 "unmapped offense: not in the layout's [offenses] table" + (
                     f"; expected one of {', '.join(sorted(OFFENSE_CATEGORIES))}"
                     if layout.offense_passthrough else ""))

    # -- times ----------------------------------------------------------------
    now = now or datetime.now(UTC)
    assert layout.occurred_from is not None
    hints: list[str] = []  # what the time columns tell the caller (a file that looks day-first)
    read_time = partial(_read_time, hints=hints, layout_name=layout.name)
    t_from, t_from_end, _, from_text = read_time(raw, layout.occurred_from, layout.timezone, fail, origin, now,
                                         required=True)
    if layout.occurred_to is not None and all(c in raw.columns for c in layout.occurred_to.columns()):
        # the window's end is the *later* reading of a to-time the autumn change repeats: the window then
        # covers both readings (01:30 -> 01:45 on the fall-back night is 00:30 -> 01:45 UTC), nothing guessed
        _, _, t_to_given, to_text = read_time(raw, layout.occurred_to, layout.timezone, fail, origin, now,
                                              required=False, early=early)
        t_to = t_to_given.fillna(t_from_end)
        # a window can only run backwards where the file gives a to-time: its value is that text, as the file has it
        backwards = (t_to < t_from).fillna(False).to_numpy(dtype=bool)
        fail.add(backwards, layout.occurred_to.column or "+".join(layout.occurred_to.parts.values()), to_text,
                 "window ends before it starts (occurred_to < occurred_from)")
    else:
        t_to = t_from_end
    if layout.reported_at is not None and all(c in raw.columns for c in layout.reported_at.columns()):
        reported, _, _, _ = read_time(raw, layout.reported_at, layout.timezone, fail, origin, now, required=False,
                                      early=early)
    else:
        reported = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")

    # -- location -------------------------------------------------------------
    xy_in, lonlat_in, crs_in, xy_label, where = _read_location(raw, layout, fail, origin, path)
    projection = choose_projection(crs_in, lonlat_in, xy_in, fail.ok, target=target_crs or layout.target_crs)
    crs_chosen = bool((target_crs or layout.target_crs) is not None or projection.target == crs_in
                      or (fail.ok & np.isfinite(xy_in).all(axis=1)).any())
    x_m, y_m, lon, lat = projection.apply(xy_in, lonlat_in)
    bad_ll = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    # every location failure records the location as the file has it (``where``), never a converted position
    invalid = "out-of-area coordinates: not a valid position in " + crs_in
    fail.add(bad_ll & np.isfinite(xy_in[:, 0]), xy_label, where,
             _swap_hints(projection, xy_in, lonlat_in, bad_ll & np.isfinite(xy_in).all(axis=1), invalid))
    if layout.bbox is not None:
        x0, y0, x1, y1 = layout.bbox
        outside = ~((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        box = f"out-of-area coordinates: outside the layout's area (lon {x0}..{x1}, lat {y0}..{y1})"
        reason = np.full(n, box, dtype=object)
        # a pair that lies inside with its two coordinates exchanged is named, as the area-of-use check does
        maybe = np.flatnonzero(outside & ~bad_ll & fail.ok & np.isfinite(xy_in).all(axis=1))
        if len(maybe):
            _, _, s_lon, s_lat = projection.apply(np.ascontiguousarray(xy_in[maybe][:, ::-1]), lonlat_in[maybe])
            with np.errstate(invalid="ignore"):
                inside = (s_lon >= x0) & (s_lon <= x1) & (s_lat >= y0) & (s_lat <= y1)
            hint = "; latitude and longitude swapped?" if bool(lonlat_in[maybe].all()) else "; x and y swapped?"
            reason[maybe[inside]] = box + hint
        fail.add(outside & ~bad_ll, xy_label, where, reason, kind=box)
    _check_area_of_use(projection, xy_in, lonlat_in, lon, lat, fail.ok & ~bad_ll, fail, label=xy_label, where=where)
    geometry_apart = _geometry_apart(raw, xy_label, lon, lat, fail.ok, origin)
    scale = projection.scale_range(lon[fail.ok], lat[fail.ok])
    warnings = raw.warnings + hints + geometry_apart + _distortion_warnings(projection, scale, crs_in, xy_in, fail.ok, lon, lat)
    if raw.n_read == 0:
        warnings.append(f"{origin} holds no rows, only a header: nothing to land (an empty export, or a download "
                        "that stopped after its first line?)"
                        + ("" if crs_chosen else "; no CRS is recorded for it, since there is no position to "
                           "choose one from"))

    # -- source ---------------------------------------------------------------
    if layout.source_column is not None and layout.source_column in raw.columns:
        src_raw = _strings(raw, layout.source_column, origin)
        src = (sourced.result() if sourced is not None
               else per_value(src_raw, partial(_map_source, layout=layout)) if layout.source_map
               else src_raw.str.lower())
        unknown = src_raw.notna() & ~src.isin(["reported", "discovered", "unknown"])
        fail.add(unknown.fillna(False).to_numpy(dtype=bool), layout.source_column, src_raw,
                 "unmapped source: expected reported, discovered or unknown")
        source = src.fillna("unknown")
    else:
        source = pd.Series(layout.source_value, index=range(n), dtype="string")

    # -- other columns --------------------------------------------------------
    def opt(name: str | None) -> pd.Series:
        if name and name not in raw.columns:  # named in a note by _check_absent
            name = None
        return _strings(raw, name, origin) if name else pd.Series(pd.NA, index=range(n), dtype="string")

    side.result()  # the pass-through columns are in raw.cache from here on
    premise, area, narrative = opt(layout.premise), opt(layout.area), opt(layout.narrative)
    if audit_names:
        notes.append(f"audit-only columns stored apart: {audit_names}")

    # -- a row whose id the store holds, with other content (a correction): told apart, not applied --------
    taken = id_taken & (fail.kind == known)
    if stored_rows is not None and taken.any():
        this = {"offense_raw": offense_raw, "occurred_from": t_from, "occurred_to": t_to, "lon": lon, "lat": lat,
                "premise": premise, "area": area, "narrative": narrative}
        labels = {"offense_raw": layout.offense or "offense", "occurred_from": layout.occurred_from.column or "+".join(
            layout.occurred_from.parts.values()), "occurred_to": (layout.occurred_to.column if layout.occurred_to
                                                                    else None) or "occurred_to",
                  "lon": xy_label, "premise": layout.premise or "premise", "area": layout.area or "area",
                  "narrative": layout.narrative or "narrative"}
        shown = {"occurred_from": from_text}
        changed = _changed_content(ids, np.flatnonzero(taken), stored_rows, this, labels, shown, where,
                                   layout.timezone, compare_to=layout.occurred_to is not None)
        if changed:
            rows = np.array(sorted(changed), dtype=np.int64)
            reason = np.full(n, None, dtype=object)
            changed_kind = f"duplicate id with changed content: already in dataset {dataset!r} in the store"
            for i in rows:
                reason[i] = (f"{changed_kind} with {'; '.join(changed[int(i)][1])}; corrections are not applied: the stored "
                             "row stays as it is")
            fail.reason[rows] = reason[rows]
            fail.kind[rows] = changed_kind
            listed = ", ".join(f"line {int(lines[i])} ({', '.join(changed[int(i)][0])})" for i in rows[:10])
            warnings.append(f"{int(taken.sum()):,} rows' ids are already in dataset {dataset!r} (quarantined as duplicate "
                         f"ids); {len(rows):,} of them differ from the stored row: {listed}"
                         f"{', …' if len(rows) > 10 else ''}. Corrections in an updated export are not applied: the "
                         "stored rows stay as they are (`crimelens quarantine list --reason 'changed content'` lists "
                         "them with the stored and the new values).")

    # -- a row the store holds already (rows with FILE:LINE ids: their id cannot tell) -----------
    landed_hashes: NDArray[np.uint64] | None = None
    if known_rows is not None:
        idx = np.flatnonzero(fail.ok & line_id)
        content = {"offense_raw": offense_raw, "occurred_from": t_from, "occurred_to": t_to, "reported_at": reported,
                   "lon": lon, "lat": lat, "premise": premise, "area": area, "source": source, "narrative": narrative,
                   **{f"mo__{i}": _strings(raw, name, origin) for i, name in enumerate(mo_names)},
                   **{f"au__{i}": _strings(raw, name, origin) for i, name in enumerate(audit_names)}}
        hashes = row_hashes(pa.table({k: _take(v, idx) for k, v in content.items()}), mo_names, audit_names)
        pos, stored = known_rows(hashes)
        kept = np.ones(len(idx), dtype=bool)
        if len(pos):
            kept[pos] = False
            rows = idx[pos]
            repeat = np.zeros(n, dtype=bool)
            repeat[rows] = True
            reason = np.full(n, None, dtype=object)
            reason[rows] = [f"duplicate row: same content as {str(s)!r} already in dataset {dataset!r} in the store"
                            for s in stored]
            fail.add(repeat, None, None, reason,
                     kind=f"duplicate row: same content as a row already in dataset {dataset!r} in the store")
        landed_hashes = hashes[kept] if len(pos) else hashes

    ok = fail.ok
    frame = pd.DataFrame(
        {
            "incident_id": ids,
            "dataset": dataset,
            "offense": offense,
            "offense_raw": offense_raw,
            "occurred_from": t_from,
            "occurred_to": t_to,
            "reported_at": reported,
            "x_m": x_m,
            "y_m": y_m,
            "lon": lon,
            "lat": lat,
            "crs": projection.target,
            "premise": premise,
            "area": area,
            "source": source,
            "narrative": narrative,
            "line": lines,
        }
    )
    for i, name in enumerate(mo_names):
        frame[f"mo__{i}"] = _strings(raw, name, origin)
    landed = frame if ok.all() else frame.loc[ok].reset_index(drop=True)
    landed_line_ids = line_id[ok]

    audit_rows = []
    for name in audit_names:
        vals = _strings(raw, name, origin)
        keep = ok & vals.notna().to_numpy()
        audit_rows.append(pd.DataFrame({"incident_id": ids[keep].to_numpy(), "name": name, "value": vals[keep].to_numpy()}))
    audit = pd.concat(audit_rows, ignore_index=True) if audit_rows else pd.DataFrame(columns=["incident_id", "name", "value"])

    bad_idx = np.flatnonzero(~ok)
    quarantine = pd.DataFrame(
        {
            "file": path.name,
            "line": lines[bad_idx],
            "column": fail.column[bad_idx],
            # a missing value (a null token such as NA, an empty field) is empty, never the text '<NA>' or 'nan'
            "value": [None if v is None or (not isinstance(v, str) and bool(pd.isna(v))) else str(v)[:500]
                      for v in fail.value[bad_idx]],
            "reason": fail.reason[bad_idx],
            "raw": _raw_json(raw, bad_idx),
            "kind": fail.kind[bad_idx],
        }
    )
    pre = pd.DataFrame(
        {"file": path.name, "line": [b.line for b in raw.bad], "column": [b.column for b in raw.bad],
         "value": [b.value for b in raw.bad], "reason": [b.reason for b in raw.bad], "raw": [b.raw for b in raw.bad],
         "kind": [b.reason for b in raw.bad]}
    )
    quarantine = pd.concat([pre, quarantine], ignore_index=True) if len(pre) else quarantine
    quarantine = quarantine.sort_values("line", kind="stable").reset_index(drop=True)
    if layout.notes:
        notes.insert(0, layout.notes)
    return Validated(landed, mo_names, audit, quarantine, projection, raw.n_read, notes, scale=scale,
                     warnings=warnings, line_ids=landed_line_ids, row_hashes=landed_hashes, crs_chosen=crs_chosen)


def _changed_content(ids: pd.Series, idx: NDArray[np.intp], stored_rows: StoredRows, this: dict[str, Any],
                     labels: dict[str, str], shown: dict[str, pd.Series], where: Any, tz: str, *,
                     compare_to: bool) -> dict[int, tuple[list[str], list[str]]]:
    """For the rows ``idx`` whose id a stored row holds: those whose content differs from it, each with
    the columns that differ and, per column, ``"<column> '<stored>'; this row has '<this>'"``. Compared
    column-wise (an updated export repeats most of its rows); only the rows that differ are described."""
    keys = [str(v) for v in ids.iloc[idx].tolist()]
    stored = stored_rows(keys)
    old = stored.reindex(keys)
    present = np.asarray(pd.Index(keys).isin(stored.index), dtype=bool)

    taken: dict[str, Any] = {}

    def mine(name: str) -> Any:  # the column's values at idx, taken once
        if name not in taken:
            v = this[name]
            taken[name] = v.iloc[idx].reset_index(drop=True) if isinstance(v, pd.Series) else np.asarray(v)[idx]
        return taken[name]

    names = ["offense_raw", "occurred_from", *(["occurred_to"] if compare_to else []), "lon", "premise", "area",
             "narrative"]
    differs: dict[str, NDArray[np.bool_]] = {}
    for name in names:
        if name == "lon":
            x0, y0 = old["lon"].to_numpy(dtype=np.float64), old["lat"].to_numpy(dtype=np.float64)
            x1, y1 = np.asarray(mine("lon"), dtype=np.float64), np.asarray(mine("lat"), dtype=np.float64)
            with np.errstate(invalid="ignore"):
                differs[name] = (np.isfinite(x0) & np.isfinite(x1) & np.isfinite(y0) & np.isfinite(y1)
                                 & (np.maximum(np.abs(x0 - x1), np.abs(y0 - y1)) > 1e-7))
        elif name.startswith("occurred"):
            t0 = pd.to_datetime(old[name], utc=True).astype("datetime64[us, UTC]").reset_index(drop=True)
            t1 = pd.Series(mine(name)).astype("datetime64[us, UTC]").reset_index(drop=True)
            differs[name] = ~((t0 == t1).fillna(False).to_numpy(dtype=bool) | (t0.isna() & t1.isna()).to_numpy())
        else:
            s0 = old[name].astype("string").reset_index(drop=True).fillna("\x00")
            s1 = pd.Series(mine(name), dtype="string").reset_index(drop=True).fillna("\x00")
            differs[name] = (s0 != s1).to_numpy(dtype=bool)
    changed = present & np.logical_or.reduce([differs[name] for name in names])
    locations = where(idx[changed]) if callable(where) else np.full(int(changed.sum()), None, dtype=object)

    def when(t: Any) -> str:
        return pd.Timestamp(t).tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S") + f" {tz}"

    def text(v: Any) -> str:
        return "" if v is None or (not isinstance(v, str) and bool(pd.isna(v))) else str(v)

    out: dict[int, tuple[list[str], list[str]]] = {}
    for k, j in enumerate(np.flatnonzero(changed)):
        i, row = int(idx[j]), old.iloc[j]
        cols: list[str] = []
        texts: list[str] = []
        for name in names:
            if not differs[name][j]:
                continue
            cols.append(labels[name])
            if name == "lon":
                texts.append(f"{labels['lon']} at lon {float(row['lon']):.6f}, lat {float(row['lat']):.6f}; this row "
                             f"has {str(locations[k])!r}")
            elif name.startswith("occurred"):
                b = pd.Series(mine(name)).iloc[j]
                this_text = (shown[name].iloc[i] if name in shown
                             else "" if pd.isna(b) else when(b))
                stored_text = "" if pd.isna(row[name]) else when(row[name])
                texts.append(f"{labels[name]} {stored_text!r}; this row has {text(this_text)!r}")
            else:
                texts.append(f"{labels[name]} {text(row[name])!r}; this row has {text(mine(name).iloc[j])!r}")
        out[i] = (cols, texts)
    return out


def _take(values: Any, idx: NDArray[np.intp]) -> Any:
    """The values at ``idx`` of a column (a Series or an array) as an Arrow-ready array."""
    every = len(idx) == len(values)  # idx is sorted and unique: every row, in order
    if isinstance(values, pd.Series):
        return pa.array(values if every else values.iloc[idx].reset_index(drop=True), from_pandas=True)
    return np.asarray(values) if every else np.asarray(values)[idx]


def _raw_json(raw: RawTable, rows: NDArray[np.intp]) -> list[str]:
    """Each quarantined row as read, as JSON (column-wise; one by one when a value needs full escaping)."""
    fast = rows_json(raw.columns, rows)
    return fast if fast is not None else [raw.row_json(int(i)) for i in rows]


def _distortion_warnings(projection: Projection, scale: tuple[float, float] | None, source: str,
                         xy: NDArray[np.float64], ok: NDArray[np.bool_], lon: NDArray[np.float64],
                         lat: NDArray[np.float64]) -> list[str]:
    """A warning when the target CRS's scale over the landed points is off by more than
    :data:`MAX_SCALE_ERROR`, with the figures and a CRS that suits (the data's UTM zone)."""
    error = scale_error(scale)
    if scale is None or error is None or error <= MAX_SCALE_ERROR:
        return []
    target = projection.target
    name = _crs_name(target)
    where = (f"lon {np.nanmin(lon[ok]):.2f}..{np.nanmax(lon[ok]):.2f}, "
             f"lat {np.nanmin(lat[ok]):.2f}..{np.nanmax(lat[ok]):.2f}")
    text = (f"CRS {target} ({name}) distorts distances over this file's extent ({where}): its scale there is "
            f"{scale[0]:.4f} to {scale[1]:.4f}, so a distance in its metres is up to {100 * error:.1f} % off the "
            f"distance on the ground, and so is every distance computed from it (grid cells, Knox bands, linkage "
            f"radii); expected a scale error under {100 * MAX_SCALE_ERROR:g} %.")
    utm = local_utm(source, xy, ok)
    utm_error = scale_error(Projection(source, utm).scale_range(lon[ok], lat[ok])) if utm != target else error
    if utm != target and utm_error is not None and utm_error <= MAX_SCALE_ERROR:
        text += (f" The data's UTM zone suits: {utm} ({_crs_name(utm)}), scale error {100 * utm_error:.2f} % here "
                 f"(`--crs {utm}`, or leave --crs out for a new dataset; a dataset keeps its first file's CRS).")
    else:
        text += (f" No UTM zone holds this extent that closely (the data's, {utm}, is "
                 f"{100 * (utm_error or 0.0):.1f} % off): use a conformal CRS made for the region, or split the data.")
    return [text]


#: A feature's point geometry further than this from the position in its properties is warned about
GEOMETRY_APART_M = 100.0


def _geometry_apart(raw: RawTable, label: str, lon: NDArray[np.float64], lat: NDArray[np.float64],
                    ok: NDArray[np.bool_], origin: str) -> list[str]:
    """A warning when a vector file's rows are located by their properties (lon/lat or x/y columns) while their
    point geometry lies more than :data:`GEOMETRY_APART_M` away: one of the two is wrong, and only the
    properties were read. Counted over the rows that pass the other checks, with the first as an example."""
    if raw.geometry_xy is None or label == "geometry" or not len(lon):
        return []
    from pyproj import Transformer

    gxy = raw.geometry_xy
    both = ok & np.isfinite(gxy).all(axis=1) & np.isfinite(lon) & np.isfinite(lat)
    if not both.any():
        return []
    to_ll = Transformer.from_crs(raw.file_crs or "EPSG:4326", "EPSG:4326", always_xy=True)
    g_lon, g_lat = to_ll.transform(gxy[:, 0], gxy[:, 1])
    g_lon, g_lat = np.asarray(g_lon, dtype=np.float64), np.asarray(g_lat, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        p1, p2 = np.radians(lat), np.radians(g_lat)
        a = (np.sin((p2 - p1) / 2) ** 2
             + np.cos(p1) * np.cos(p2) * np.sin(np.radians(g_lon - lon) / 2) ** 2)
        metres = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    apart = both & (metres > GEOMETRY_APART_M)
    if not apart.any():
        return []
    i = int(np.flatnonzero(apart)[0])
    return [f"{origin}: the point geometry of {int(apart.sum()):,} of {int(both.sum()):,} features lies more than "
            f"{GEOMETRY_APART_M:g} m from the position in their {label} properties, which is what was read (e.g. "
            f"feature {int(raw.lines[i])}: geometry lon {g_lon[i]:.6f}, lat {g_lat[i]:.6f}; properties lon {lon[i]:.6f}, "
            f"lat {lat[i]:.6f}; {metres[i]:,.0f} m apart). Check which is right: a mapping with geometry = true "
            "under [columns] reads the geometry instead (see docs/ingest.md)."]


def _crs_name(crs: str) -> str:
    from pyproj import CRS

    return str(CRS.from_user_input(crs).name)


def _swap_hints(projection: Projection, xy_in: NDArray[np.float64], lonlat_in: NDArray[np.bool_],
                rows: NDArray[np.bool_], reason: str) -> NDArray[np.object_]:
    """``reason`` for each row, with ``; latitude and longitude swapped?`` (``x and y`` for projected input) where
    the row's pair, exchanged, is a valid position inside the target CRS's area of use (± its margin): near the
    dataset's other points. ``37.788721, -122.402066`` as lon, lat is no position at all; exchanged it is San
    Francisco, in UTM 10N."""
    out = np.full(len(xy_in), reason, dtype=object)
    idx = np.flatnonzero(rows)
    if not len(idx):
        return out
    _, _, s_lon, s_lat = projection.apply(np.ascontiguousarray(xy_in[idx][:, ::-1]), lonlat_in[idx])
    with np.errstate(invalid="ignore"):
        on_earth = np.isfinite(s_lon) & np.isfinite(s_lat) & (np.abs(s_lon) <= 180) & (np.abs(s_lat) <= 90)
    near = on_earth & ~projection.outside_area(s_lon, s_lat)
    hint = "; latitude and longitude swapped?" if bool(lonlat_in[idx].all()) else "; x and y swapped?"
    out[idx[near]] = reason + hint
    return out


def _check_area_of_use(projection: Projection, xy_in: NDArray[np.float64], lonlat_in: NDArray[np.bool_],
                       lon: NDArray[np.float64], lat: NDArray[np.float64], candidates: NDArray[np.bool_],
                       fail: _Failures, *, label: str, where: Any) -> None:
    """Quarantine positions outside the target CRS's area of use (± a margin), hinting at a swap.

    A swapped pair (lon 41.76, lat -87.60 for a Chicago address) would otherwise be projected
    thousands of kilometres away in the dataset's UTM zone and stretch every grid built on it.
    The value is the location as the file has it (``where``: the coordinate columns' text).
    """
    outside = candidates & projection.outside_area(lon, lat)
    if not outside.any():
        return
    idx = np.flatnonzero(outside)
    # the same points with their two coordinates exchanged, in lon/lat
    _, _, s_lon, s_lat = projection.apply(np.ascontiguousarray(xy_in[idx][:, ::-1]), lonlat_in[idx])
    swapped = np.zeros(len(lon), dtype=bool)
    with np.errstate(invalid="ignore"):
        on_earth = np.isfinite(s_lon) & np.isfinite(s_lat) & (np.abs(s_lon) <= 180) & (np.abs(s_lat) <= 90)
    swapped[idx] = on_earth & ~projection.outside_area(s_lon, s_lat)
    area = projection.area_text() or f"outside the area of use of {projection.target}"
    hint = "; latitude and longitude swapped?" if bool(lonlat_in[idx].all()) else "; x and y swapped?"
    reason = np.full(len(lon), None, dtype=object)
    reason[outside] = f"out-of-area coordinates: {area}"
    reason[swapped] = f"out-of-area coordinates: {area}{hint}"
    fail.add(outside, label, where, reason)


def _categorise(raw_off: pd.Series, layout: Layout) -> pd.Series:
    """Offense category per raw value: the layout's table, then (if allowed) the raw value itself."""
    key = raw_off.str.upper()
    offense = (key.map(layout.offenses).astype("string") if layout.offenses
               else pd.Series(pd.NA, index=raw_off.index, dtype="string"))
    if layout.offense_passthrough:
        low = raw_off.str.lower()
        offense = offense.fillna(low.where(low.isin(OFFENSE_CATEGORIES)))
    return offense


def _map_source(raw_source: pd.Series, layout: Layout) -> pd.Series:
    """reported / discovered / unknown per raw value, from the layout's source map (missing: unmapped)."""
    return raw_source.str.upper().map(layout.source_map).astype("string")


def _pair_text(xy: NDArray[np.float64]) -> Any:
    """Lazy 'x, y' texts of a geometry's coordinates: evaluated only for the rows that fail."""
    return lambda idx: np.array([f"{xy[i, 0]}, {xy[i, 1]}" for i in idx], dtype=object)


def _columns_text(sx: pd.Series, sy: pd.Series) -> Any:
    """Lazy 'x, y' texts of two coordinate columns as the file has them (``-87.60`` stays ``-87.60``)."""
    def text(idx: NDArray[np.intp]) -> NDArray[np.object_]:
        pair = sx.iloc[idx].fillna("") + ", " + sy.iloc[idx].fillna("")
        return pair.to_numpy(dtype=object)

    return text


def _series_text(s: pd.Series) -> Any:
    """Lazy text of one column as the file has it."""
    return lambda idx: s.iloc[idx].to_numpy(dtype=object, na_value=None)


# ---------------------------------------------------------------------------------------
_CANONICAL_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _fast_iso_with_offset(text: pd.Series) -> pd.Series | None:
    """UTC times of a column that is all ``YYYY-MM-DDTHH:MM:SS±HH:MM`` (or Z; 'T' or a space); None otherwise.

    Rows the byte-position parser (:func:`~crimelens.ingest._fast.iso_offset_micros`)
    decides are taken from it; the rest (impossible dates, odd years, other shapes) go
    to :func:`_iso_with_offset_strptime`, which also decides whether the column has
    this shape at all.
    """

    arr = arrow_strings(text)
    if arr.null_count == len(arr):
        return None
    micros, decided = iso_offset_micros(arr)
    stamps = np.where(decided, micros, np.iinfo(np.int64).min).view("datetime64[us]")  # int64 min is NaT
    out = pd.Series(stamps, index=text.index, copy=False).dt.tz_localize("UTC")
    rest = np.flatnonzero(~decided & text.notna().to_numpy())
    if len(rest):
        exact = _iso_with_offset_strptime(text.iloc[rest].reset_index(drop=True))  # it expects a range index
        if exact is None:
            return None
        out.iloc[rest] = exact.array
    return out


def _iso_with_offset_strptime(text: pd.Series) -> pd.Series | None:
    """Arrow's strptime for columns that are all ``YYYY-MM-DDTHH:MM:SS±HH:MM`` (or Z; 'T' or a space).

    Arrow normalises impossible dates (30 February becomes 1 March), so the calendar
    fields are checked separately; such values become NaT. Returns None when the column
    has any other shape (the general pandas path handles it).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text, type=pa.string(), from_pandas=True)
    if arr.null_count == len(arr) or not pc.all(pc.match_substring_regex(arr, _CANONICAL_ISO)).as_py():
        return None
    fields = {name: pc.cast(pc.utf8_slice_codeunits(arr, a, b), pa.int64()).to_numpy(zero_copy_only=False)
              for name, (a, b) in {"y": (0, 4), "m": (5, 7), "d": (8, 10), "H": (11, 13), "M": (14, 16), "S": (17, 19)}.items()}
    y, m, d = fields["y"], fields["m"], fields["d"]
    with np.errstate(invalid="ignore"):
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        month_ok = (m >= 1) & (m <= 12)
        dim = _DAYS_IN_MONTH[np.where(month_ok, m, 0).astype(np.int64)] + ((m == 2) & leap)
        ok = month_ok & (d >= 1) & (d <= dim) & (fields["H"] < 24) & (fields["M"] < 60) & (fields["S"] < 60)
    arr = pc.utf8_replace_slice(arr, 10, 11, "T")  # a space separator (RFC 3339) reads as 'T'
    parsed = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    out = pd.Series(parsed.to_pandas(), index=text.index).astype("datetime64[us, UTC]")
    return out.where(pd.Series(np.asarray(ok, dtype=bool), index=text.index))


def _shape_regex(fmt: str) -> str:
    out = re.escape(fmt)
    for k, v in _SHAPES.items():
        out = out.replace(re.escape(k), v)
    return "^" + out + "$"


def _read_time(raw: RawTable, spec: TimeSpec, tz: str, fail: _Failures, origin: str, now: datetime,
               *, required: bool, early: dict[str, Future[pd.Series | None]] | None = None,
               hints: list[str] | None = None, layout_name: str = "the layout"
               ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(start UTC, end UTC, latest reading UTC, text as read) per row; failures recorded. ``early``: ISO parses
    already under way.

    ``start`` is the earlier reading of a wall-clock time the autumn change repeats, ``latest`` the later
    one (the same as ``start`` for any other time); ``end`` is ``latest``, or the end of the value's day,
    hour or month for a ``resolution``. ``text`` is the column's value as the file has it (for a time built
    from parts, the parts joined by '-'): every failure records it as the value, never a converted time.
    """
    n = len(raw)
    label = spec.column or "+".join(spec.parts.values())
    span: NDArray[np.int8] | None = None  # the window a time built from parts without its time of day gives
    if spec.parts:
        local, text, span = _time_from_parts(raw, spec, fail, origin)
        has_offset = np.zeros(n, dtype=bool)
        aware = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    else:
        assert spec.column is not None
        text = _strings(raw, spec.column, origin)
        if required:
            fail.add(text.isna().to_numpy(), spec.column, None, "missing date")
        if early and spec.column in early:
            fast = early[spec.column].result()
        else:
            fast = _fast_iso_with_offset(text) if spec.format == "iso" and not spec.ignore_offset else None
        if fast is not None:
            aware = fast
            has_offset = text.notna().to_numpy()
            local = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
            shape = r"^\d{4}-\d{1,2}-\d{1,2}"
        elif spec.format == "iso":
            has_offset = text.str.contains(_OFFSET_RE, regex=True).fillna(False).to_numpy(dtype=bool)
            if spec.require_offset:
                fail.add(text.notna().to_numpy() & ~has_offset, spec.column, text,
                         "time without an offset: expected ISO-8601 with an offset, e.g. 2023-02-28T21:15:00Z")
            if spec.ignore_offset:
                text_local = text.str.replace(_OFFSET_RE, "", regex=True)
                has_offset = np.zeros(n, dtype=bool)
            else:
                text_local = text.where(~has_offset)
            aware = pd.to_datetime(text.where(has_offset), format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
            local = pd.to_datetime(text_local, format="ISO8601", errors="coerce")
            if getattr(local.dt, "tz", None) is not None:
                local = local.dt.tz_localize(None)
            shape = r"^\d{4}-\d{1,2}-\d{1,2}"
        else:
            local = pd.to_datetime(text, format=spec.format, errors="coerce")
            aware = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
            has_offset = np.zeros(n, dtype=bool)
            shape = _shape_regex(spec.format)
        parsed = np.where(has_offset, aware.notna().to_numpy(), local.notna().to_numpy())
        bad = text.notna().to_numpy() & ~parsed
        if bad.any():
            looks_right = text.str.contains(shape, regex=True).fillna(False).to_numpy(dtype=bool)
            expected = "ISO-8601" if spec.format == "iso" else f"the format {spec.format!r}"
            impossible = f"impossible date: no such calendar date or time ({expected})"
            if spec.format != "iso" and hints is not None:
                _day_first_hint(text, bad & looks_right, spec, fail, origin, raw.lines, hints, layout_name, impossible)
            fail.add(bad & looks_right, spec.column, text, impossible)
            fail.add(bad, spec.column, text, f"unparseable date: expected {expected}")
        local = local.astype("datetime64[us]")

    # localise wall-clock values (nothing to do when every value carried its own offset)
    if n and has_offset.all():
        # every value carried its own offset: no wall-clock value to localise, nothing skipped or repeated
        local = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
        start = pd.Series(aware.array, index=local.index, copy=False).astype("datetime64[us, UTC]")
        ambiguous_end = start
    else:
        loc_early = (local.dt.tz_localize(tz, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT") if n
                     else local.dt.tz_localize("UTC"))
        loc_late = local.dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT") if n else loc_early
        nonexistent = local.notna().to_numpy() & loc_early.isna().to_numpy()
        fail.add(nonexistent, label, text,
                 f"impossible date: a local time skipped by the daylight-saving change in {tz}")
        start_local = loc_early.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        late_utc = loc_late.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        start = start_local.where(~pd.Series(has_offset), aware)
        ambiguous_end = late_utc.where(~pd.Series(has_offset), aware)

    end = ambiguous_end.copy()
    res = spec.resolution
    if res in ("day", "month", "hour") or spec.midnight_is_unknown:
        wall = local
        if res == "day":
            nxt = wall + pd.Timedelta(days=1)
        elif res == "hour":
            nxt = wall + pd.Timedelta(hours=1)
        elif res == "month":
            nxt = wall + pd.offsets.MonthBegin(1)
        else:
            nxt = wall
        if spec.midnight_is_unknown:
            midnight = (wall.dt.hour == 0) & (wall.dt.minute == 0)
            nxt = nxt.where(~midnight.fillna(False), wall + pd.Timedelta(days=1))
        nxt_utc = nxt.dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward").dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        end = nxt_utc.where(nxt_utc.notna() & (nxt != wall), ambiguous_end)
    if span is not None and span.any():
        # a date without its time of day (parts with an empty hour, or minute): the day's (hour's) window
        step = pd.Series(pd.to_timedelta(np.where(span == 2, 86400, 3600), unit="s"), index=local.index)
        nxt = (local + step).dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
        nxt_utc = nxt.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        end = end.where(pd.Series(span == 0, index=end.index) | nxt_utc.isna(), nxt_utc)

    # sanity: not in the future, not before 1900 (the value: the text as the file has it, not the UTC time)
    too_late = (start > pd.Timestamp(now + timedelta(days=1))).fillna(False).to_numpy(dtype=bool)
    too_early = (start < pd.Timestamp("1900-01-01", tz="UTC")).fillna(False).to_numpy(dtype=bool)
    fail.add(too_late, label, text, "impossible date: in the future")
    fail.add(too_early, label, text, "impossible date: before 1900")
    return start, end, ambiguous_end, text


#: The range of each part of a time built from parts (a day past its month's end is caught by the calendar)
_PART_RANGES = {"year": (1, 9999), "month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59)}


#: A file whose dates read only with day and month swapped is called day-first past this share of its values
#: (and this many rows): a month-first export with a stray typo is not
DAY_FIRST_SHARE, DAY_FIRST_ROWS = 0.05, 3


def _day_first_hint(text: pd.Series, impossible: NDArray[np.bool_], spec: TimeSpec, fail: _Failures, origin: str,
                    lines: NDArray[np.int64], hints: list[str], layout_name: str, reason: str) -> None:
    """Rows of a strptime format with ``%m`` and ``%d`` whose value is no date but reads as one with day and
    month swapped (``27/04/2016`` for ``%m/%d/%Y``): when they are a notable share of the column, the file
    looks day-first (dd/mm). Those rows are quarantined with the hint, and ``hints`` says how many, with an
    example and the format to read the file with; its rows with a day of 12 or less read without an error,
    day and month swapped, which no row-level check can see."""
    fmt = spec.format
    if "%m" not in fmt or "%d" not in fmt or not impossible.any():
        return
    swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    alt = pd.to_datetime(text.where(pd.Series(impossible, index=text.index)), format=swapped, errors="coerce")
    day_first = impossible & alt.notna().to_numpy()
    k, n_values = int(day_first.sum()), int(text.notna().sum())
    if k < DAY_FIRST_ROWS or k < DAY_FIRST_SHARE * n_values:
        return
    first = int(np.flatnonzero(day_first)[0])
    from crimelens.ingest._layout import builtin_layouts

    where = (f"; the built-in layout's is crimelens/ingest/layouts/{layout_name}.toml" if layout_name in builtin_layouts()
             else "")
    fix = (f"ingest it with a mapping whose {spec.column!r} time reads format = {swapped!r} (a copy of the layout's "
           f"TOML with that format{where}; see docs/ingest.md, 'Your own records system'): `crimelens ingest` has no "
           "day-first option")
    hints.append(f"{origin}: the file looks day-first (dd/mm): {k:,} of {n_values:,} values of column {spec.column!r} "
                 f"are no date in the layout {layout_name}'s format {fmt!r} (month first) but read as one with day and "
                 f"month swapped, e.g. line {int(lines[first])}: {text.iloc[first]!r}. Those rows are quarantined; the "
                 f"rows whose day is 12 or less landed with day and month swapped. To read it, {fix}.")
    fail.add(day_first, spec.column, text,
             f"{reason}; it reads as a date with day and month swapped ({swapped!r}): the file looks day-first "
             f"(dd/mm); {fix}", kind=f"{reason}; the file looks day-first (dd/mm)")


def _time_from_parts(raw: RawTable, spec: TimeSpec, fail: _Failures, origin: str
                     ) -> tuple[pd.Series, pd.Series, NDArray[np.int8]]:
    """(local wall-clock time, the parts' text joined by '-', the window each row's missing time of day
    gives: 0 none, 1 the hour (an empty minute), 2 the day (an empty hour and minute)); failures recorded.

    Each part must be an integer in its range (hour 0-23, minute 0-59, month 1-12, day 1-31): pandas
    would roll HOUR = 25 into the next day and read 10.5 as 10:30, so such a row is quarantined as an
    impossible date naming the part's column, as ``05/03/2022 24:00`` is by a strptime format. An empty
    year, month or day is a missing date, a value that is not a number an unparseable one (both name the
    column). An empty hour and minute is a date whose time of day is unknown: the whole-day window (as
    Vancouver's 00:00); an empty minute after an hour is that hour's window; a minute without an hour is
    a missing date.
    """
    n = len(raw)
    nums: dict[str, NDArray[np.float64]] = {}
    empty: dict[str, NDArray[np.bool_]] = {}
    text = pd.Series([""] * n, dtype="string")
    usable = np.ones(n, dtype=bool)
    for unit in ("year", "month", "day", "hour", "minute"):
        if unit not in spec.parts:
            nums[unit] = np.full(n, 1.0 if unit == "day" else 0.0)
            empty[unit] = np.zeros(n, dtype=bool)
            continue
        col = spec.parts[unit]
        s = _strings(raw, col, origin)
        num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        is_empty = s.isna().to_numpy()
        nums[unit], empty[unit] = num, is_empty
        text = text + ("" if unit == "year" else "-") + s.fillna("?")
        if unit in ("year", "month", "day"):
            fail.add(is_empty, col, None, "missing date")
        elif unit == "hour" and "minute" in spec.parts:
            minute_given = _strings(raw, spec.parts["minute"], origin).notna().to_numpy()
            fail.add(is_empty & minute_given, col, None,
                     f"missing date: no hour in column {col!r} for the minute in column {spec.parts['minute']!r}")
        unparsed = ~is_empty & np.isnan(num)
        fail.add(unparsed, col, s, "unparseable date: expected an integer")
        lo, hi = _PART_RANGES[unit]
        with np.errstate(invalid="ignore"):
            wrong = ~is_empty & ~unparsed & ~((num == np.round(num)) & (num >= lo) & (num <= hi))
        fail.add(wrong, col, s, f"impossible date: no such {unit} in column {col!r}: expected an integer {lo}–{hi}")
        usable &= ~(unparsed | wrong) & (~is_empty if unit in ("year", "month", "day") else True)
    no_hour = empty["hour"] & ("hour" in spec.parts)
    span = np.where(no_hour, 2, np.where(empty["minute"], 1, 0)).astype(np.int8)
    frame = pd.DataFrame({unit: np.where(usable, np.nan_to_num(nums[unit]), 2000.0 if unit == "year" else 1.0
                                         if unit in ("month", "day") else 0.0).astype(np.int64)
                          for unit in ("year", "month", "day", "hour", "minute")})
    local = pd.to_datetime(frame, errors="coerce").where(usable)
    bad = usable & local.isna().to_numpy()
    fail.add(bad, "+".join(spec.parts.values()), text, "impossible date: no such calendar date or time")
    return local.astype("datetime64[us]"), text, span


def _read_location(raw: RawTable, layout: Layout, fail: _Failures, origin: str, path: Path
                   ) -> tuple[NDArray[np.float64], NDArray[np.bool_], str, str, Any]:
    """Input coordinates (n, 2), whether they are lon/lat, their CRS, the column(s) they came from, and
    the location's text as the file has it (lazy, for the quarantine's value): the coordinate columns'
    text, the grid bin, or a geometry's coordinates."""
    n = len(raw)
    crs = layout.crs
    if layout.crs_column and layout.crs_column in raw.columns:
        values = _strings(raw, layout.crs_column, origin).dropna().unique()
        if len(values) > 1:
            raise SchemaError(f"{origin}, column {layout.crs_column!r}: got several CRSs {sorted(map(str, values))[:5]}; expected one per file")
        if len(values) == 1:
            crs = str(values[0])
    if layout.geometry or (layout.kind in ("shapefile", "geojson", "gpkg") and raw.geometry_xy is not None and layout.x is None):
        xy = raw.geometry_xy if raw.geometry_xy is not None else np.full((n, 2), np.nan)
        crs = raw.file_crs or crs
        label = "geometry"
        is_ll = False
        where = _pair_text(xy)
    elif layout.bin_column:
        xy, label = _bin_centroids(raw, layout, fail, origin, path), layout.bin_column
        crs, is_ll = "EPSG:4326", True
        where = _series_text(_strings(raw, layout.bin_column, origin))
    else:
        use_xy = layout.x is not None and layout.y is not None and layout.x in raw.columns and layout.y in raw.columns
        xcol, ycol = (layout.x, layout.y) if use_xy else (layout.lon, layout.lat)
        if xcol is None or ycol is None:
            raise SchemaError(f"{origin}: the layout names no coordinate columns present in the file")
        absent = [c for c in (xcol, ycol) if c not in raw.columns]
        if absent and raw.geometry_xy is not None and np.isfinite(raw.geometry_xy).any():
            raise SchemaError(
                f"{origin}: missing column {absent[0]!r}; expected it from the layout {layout.name}. The file has a "
                "point geometry: a mapping with geometry = true under [columns] (in place of lon and lat) reads the "
                f"location from it (see docs/ingest.md, 'Your own records system'). The file's properties are "
                f"{raw.header[:30]}")
        sx, sy = _strings(raw, xcol, origin), _strings(raw, ycol, origin)
        x, y = to_float(sx), to_float(sy)
        label = f"{xcol}/{ycol}"
        missing = (sx.isna() | sy.isna()).to_numpy()
        fail.add(missing, label, None, "missing coordinates")
        nan_x = sx.notna().to_numpy() & ~np.isfinite(x)
        nan_y = sy.notna().to_numpy() & ~np.isfinite(y)
        fail.add(nan_x, xcol, sx, "not a number: expected a coordinate")
        fail.add(nan_y, ycol, sy, "not a number: expected a coordinate")
        xy = np.column_stack([x, y])
        where = _columns_text(sx, sy)
        if use_xy:
            is_ll = False
        else:
            crs, is_ll = ("EPSG:4326" if layout.crs_column else layout.crs), True
    ok_num = np.asarray(np.isfinite(xy).all(axis=1), dtype=bool)
    huge = ok_num & np.asarray((np.abs(xy) > 1e15).any(axis=1), dtype=bool)
    fail.add(~ok_num | huge, label, None, "missing coordinates (empty or no-data geometry)")
    for column, unknown_values in layout.unknown_location.items():
        if column in raw.columns:
            s = _strings(raw, column, origin)
            hit = s.isin(list(unknown_values)).fillna(False).to_numpy(dtype=bool)
            fail.add(hit, column, s,
                     "unknown location: the source's default geocode for an unknown address (a false hotspot)")
    if layout.zero_is_missing:
        zero = ok_num & ((xy[:, 0] == 0) | (xy[:, 1] == 0))
        note = layout.suppressed_note or "location suppressed or not geocoded"
        fail.add(zero, label, where, f"zero coordinates: {note}")
    from pyproj import CRS

    geographic = CRS.from_user_input(crs).is_geographic
    return xy, np.full(n, geographic or is_ll, dtype=bool), crs, label, where


def _bin_centroids(raw: RawTable, layout: Layout, fail: _Failures, origin: str, path: Path) -> NDArray[np.float64]:
    import shapely

    assert layout.bin_column is not None and layout.bin_grid is not None
    grid_path = path.parent / layout.bin_grid
    if not grid_path.exists():
        raise SchemaError(f"{origin}: the layout locates rows by grid bin and needs {layout.bin_grid!r} beside the file; not found at {grid_path}")
    doc = json.loads(grid_path.read_text(encoding="utf-8"))
    centroids: dict[int, tuple[float, float]] = {}
    for pos, feat in enumerate(doc["features"], start=1):
        key = int(feat.get("properties", {}).get("bin", pos))
        c = shapely.centroid(shapely.geometry.shape(feat["geometry"]))
        centroids[key] = (float(c.x), float(c.y))
    s = _strings(raw, layout.bin_column, origin)
    num = pd.to_numeric(s.mask(s.str.upper() == "NA"), errors="coerce")
    fail.add(num.isna().to_numpy(), layout.bin_column, s, "missing location: no grid bin")
    out = np.full((len(raw), 2), np.nan)
    for i, b in enumerate(num.to_numpy(dtype=np.float64, na_value=np.nan)):
        if np.isfinite(b):
            hit = centroids.get(int(b))
            if hit is None:
                continue
            out[i] = hit
    unknown = num.notna().to_numpy() & ~np.isfinite(out[:, 0])
    fail.add(unknown, layout.bin_column, s, f"unknown grid bin: not in {layout.bin_grid}")
    return out

