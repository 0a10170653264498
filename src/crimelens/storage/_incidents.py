"""Bulk writes of validated incidents.

The M.O. attributes arrive as ``mo__i`` columns; they are folded into one JSON
object per row (nulls left out) by the INSERT itself: ``'{' || concat_ws(',',
'"name":"' || value || '"', ...) || '}'``, which DuckDB evaluates on all its
threads (about 3x less CPU than the same fold with Arrow string kernels in
Python). Backslash, quote, newline, carriage return and tab are escaped with
``replace`` only in the columns that hold them (found from the Arrow data
buffers); values holding rarer control characters take DuckDB's ``to_json``
path instead, which escapes everything.

Rows whose id is ``FILE:LINE`` (a layout without an id column) also get a hash of their
content (``crimelens.ingest._rowhash``) in ``incident_rows`` (migration 0015):
:func:`stored_row_matches` finds a file's rows that the dataset holds already,
:func:`save_row_hashes` keeps the landed ones', and :func:`stored_row_content` reads back the
content of rows stored before 0015 so that they can be hashed too.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from crimelens._arrow import JSON_ESCAPES, JSON_RARE, json_bytes_present, mo_json
from crimelens.domain import CANONICAL_COLUMNS

__all__ = ["attrs_json", "has_row_hashes", "insert_validated", "near_repeats", "save_row_hashes", "stored_incidents",
           "stored_row_content", "stored_row_matches", "unhashed_ingests"]

def attrs_json(frame: pd.DataFrame, mo_names: list[str]) -> pa.Array | pa.ChunkedArray | None:
    """One JSON object string per row from the ``mo__i`` columns; None if a value needs full escaping."""
    return mo_json([pa.array(frame[f"mo__{i}"], from_pandas=True) for i in range(len(mo_names))], mo_names,
                   n=len(frame))


def _duckdb_attrs_sql(mo_names: list[str]) -> str:
    def quote(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    entries = ", ".join(f"{{'k': {quote(name)}, 'v': mo__{i}}}" for i, name in enumerate(mo_names))
    return (f"coalesce(to_json(map_from_entries(list_transform(list_filter([{entries}], lambda e: e.v IS NOT NULL),"
            " lambda e: {'key': e.k, 'value': e.v})))::VARCHAR, '{}')")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _concat_attrs_sql(mo_names: list[str], escapes: list[set[int]]) -> str:
    """The SQL fold of ``mo__i`` into a JSON object; ``escapes[i]``: the special bytes column i holds."""
    if not mo_names:
        return "'{}'"
    parts = []
    for i, name in enumerate(mo_names):
        value = f"mo__{i}"
        for old, new in JSON_ESCAPES:
            if ord(old) in escapes[i]:
                value = f"replace({value}, {_quote(old)}, {_quote(new)})"
        key = json.dumps(name, ensure_ascii=False)
        parts.append(f"{_quote(key + ':' + chr(34))} || {value} || {_quote(chr(34))}")
    return "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'"


def insert_validated(store: Any, frame: pd.DataFrame, mo_names: list[str], *, ingest_id: str) -> int:
    """Insert landed rows in the canonical layout (plus ``line``) with their M.O. JSON."""
    if len(frame) == 0:
        return 0
    cols = [c for c in CANONICAL_COLUMNS if c != "attrs"]
    table = pa.Table.from_pandas(frame[[*cols, "line", *[f"mo__{i}" for i in range(len(mo_names))]]],
                                 preserve_index=False)
    escapes = [json_bytes_present(table.column(f"mo__{i}")) for i in range(len(mo_names))]
    if any(found & JSON_RARE for found in escapes):
        attrs_sql = _duckdb_attrs_sql(mo_names)
    else:
        attrs_sql = _concat_attrs_sql(mo_names, escapes)
    select = ", ".join(f'"{c}"' for c in cols)
    with store.transaction():
        # rows carry their file line; nothing reads incidents in storage order (every read sorts),
        # so DuckDB may write them from both threads without keeping the order: ~25 % less insert time
        store.con.execute("SET preserve_insertion_order = false")
        store.con.register("_crimelens_landed", table)
        try:
            store.con.execute(
                f"INSERT INTO incidents ({select}, attrs, ingest_id, line) "
                f"SELECT {select}, {attrs_sql}, ?, line FROM _crimelens_landed",
                [ingest_id],
            )
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_landed")
                store.con.execute("RESET preserve_insertion_order")
    return len(frame)


# rows with FILE:LINE ids: their content hashes ----------------------------------------------------
#: A line id is ``<file name>:<line>``; the file name is the last part of the ingest's recorded path
#: (an upload's ``upload:`` prefix removed).
_LINE_ID = ("i.incident_id = regexp_replace(regexp_extract(g.file, '[^/\\\\]+$'), '^upload:', '') "
            "|| ':' || CAST(i.line AS VARCHAR)")


def has_row_hashes(store: Any, dataset: str) -> bool:
    """Whether the dataset holds a row with a content hash (a row with a FILE:LINE id)."""
    return bool(store.scalar("SELECT count(*) FROM (SELECT 1 FROM incident_rows WHERE ingest_id IN "
                             "(SELECT ingest_id FROM ingests WHERE dataset = ?) LIMIT 1)", [dataset]))


def unhashed_ingests(store: Any, dataset: str, scheme: str) -> list[str]:
    """The ingests of ``dataset`` whose FILE:LINE rows are not hashed under ``scheme`` (every ingest stored
    before migration 0015)."""
    return [str(r[0]) for r in store.iter_rows(
        "SELECT g.ingest_id FROM ingests g LEFT JOIN row_hash_ingests h ON h.ingest_id = g.ingest_id "
        "WHERE g.dataset = ? AND h.scheme IS DISTINCT FROM ? ORDER BY g.started_at", [dataset, scheme])]


def stored_row_content(store: Any, dataset: str, ingest_ids: list[str]) -> tuple[pa.Table, list[str], list[str]]:
    """The stored FILE:LINE rows of these ingests as the content a row hash reads: the canonical columns,
    ``mo__i`` (from each row's M.O. JSON) and ``au__j`` (its audit attributes), with ``incident_id``,
    ``ingest_id`` and ``line``; and the M.O. and audit names. (A JSON parse per row: this reads rows
    stored before migration 0015, once.)"""
    marks = ", ".join("?" for _ in ingest_ids)
    frame = store.query(
        "SELECT i.incident_id, i.ingest_id, i.line, i.offense_raw, i.occurred_from, i.occurred_to, i.reported_at, "
        "i.lon, i.lat, i.premise, i.area, i.source, i.narrative, i.attrs FROM incidents i "
        f"JOIN ingests g ON g.ingest_id = i.ingest_id WHERE i.dataset = ? AND i.ingest_id IN ({marks}) AND {_LINE_ID} "
        "ORDER BY i.ingest_id, i.line", [dataset, *ingest_ids])
    attrs = [json.loads(a) if isinstance(a, str) and a not in ("", "{}") else {} for a in frame.pop("attrs")]
    mo_names = sorted({k for d in attrs for k in d})
    for i, name in enumerate(mo_names):
        frame[f"mo__{i}"] = pd.array([None if d.get(name) is None else str(d[name]) for d in attrs], dtype="string")
    audit = store.query(
        "SELECT a.incident_id, a.name, a.value FROM audit_attributes a WHERE a.dataset = ? AND a.value IS NOT NULL "
        f"AND a.ingest_id IN ({marks})", [dataset, *ingest_ids])
    audit_names = sorted(set(audit["name"].astype(str)))
    for j, name in enumerate(audit_names):
        values = audit[audit["name"] == name].drop_duplicates("incident_id").set_index("incident_id")["value"]
        frame[f"au__{j}"] = pd.array(frame["incident_id"].map(values), dtype="string")
    return pa.Table.from_pandas(frame, preserve_index=False), mo_names, audit_names


def save_row_hashes(store: Any, *, scheme: str, ingest_ids: list[str], rows: pa.Table, replace: bool = True) -> int:
    """Keep content hashes (``rows``: ``line``, ``h1``, ``h2`` (the hash's two 64-bit words), and
    ``ingest_id`` unless there is one ingest) and that these ingests are hashed under ``scheme``. An
    ingest hashed before is replaced (``replace=False``: the ingests are new, nothing to replace)."""
    marks = ", ".join("?" for _ in ingest_ids)
    with store.transaction():
        if replace:
            store.execute(f"DELETE FROM incident_rows WHERE ingest_id IN ({marks})", ingest_ids)
            store.execute(f"DELETE FROM row_hash_ingests WHERE ingest_id IN ({marks})", ingest_ids)
        store.insert_frame("row_hash_ingests", pa.table({"ingest_id": ingest_ids, "scheme": [scheme] * len(ingest_ids)}),
                           ["ingest_id", "scheme"])
        if rows.num_rows == 0:
            return 0
        one = "ingest_id" not in rows.column_names
        # rows carry their line: nothing reads incident_rows in storage order, so DuckDB may write on both threads
        store.con.execute("SET preserve_insertion_order = false")
        store.con.register("_crimelens_hashes", rows)
        try:
            store.con.execute("INSERT INTO incident_rows (ingest_id, line, h1, h2) "
                              f"SELECT {'?' if one else 'ingest_id'}, line, h1, h2 FROM _crimelens_hashes",
                              ingest_ids if one else [])
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_hashes")
                store.con.execute("RESET preserve_insertion_order")
    return int(rows.num_rows)


def stored_row_matches(store: Any, dataset: str, hashes: NDArray[np.uint64], *, match: bool = True
                       ) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
    """Which of ``hashes`` (a file's rows, in order; ``(n, 2)`` words) repeat a stored FILE:LINE row of
    ``dataset``: (their positions, the stored id each repeats), by position. ``match=False``: none (the
    dataset has no hash).

    Copies are counted: when the dataset holds k rows with one content and ``hashes`` has it m times,
    its first min(k, m) repeat them, the first copy the earliest stored row (by ingest, then line); the
    rest are new. A stored hash whose incident is no longer in the store does not count.
    """
    if not match or len(hashes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    table = pa.table({"pos": pa.array(np.arange(len(hashes), dtype=np.int64)), "h1": hashes[:, 0],
                      "h2": hashes[:, 1]})
    with store.transaction():
        store.con.register("_crimelens_rows", table)
        try:
            # the stored rows with these contents, each named by its incident (an incident no longer stored
            # does not count), numbered within its content by ingest and line; the file's copies likewise by
            # position; copy k repeats stored row k
            found = store.con.execute(
                "WITH old AS (SELECT r.h1, r.h2, i.incident_id, row_number() OVER (PARTITION BY r.h1, r.h2 "
                "                    ORDER BY g.started_at, r.ingest_id, r.line) AS k "
                "             FROM incident_rows r SEMI JOIN _crimelens_rows c ON c.h1 = r.h1 AND c.h2 = r.h2 "
                "             JOIN ingests g ON g.ingest_id = r.ingest_id "
                "             JOIN incidents i ON i.ingest_id = r.ingest_id AND i.line = r.line WHERE g.dataset = ?), "
                "new AS (SELECT c.pos, c.h1, c.h2, row_number() OVER (PARTITION BY c.h1, c.h2 ORDER BY c.pos) AS k "
                "        FROM _crimelens_rows c SEMI JOIN old o ON o.h1 = c.h1 AND o.h2 = c.h2) "
                "SELECT new.pos, old.incident_id FROM new JOIN old ON old.h1 = new.h1 AND old.h2 = new.h2 "
                "AND old.k = new.k ORDER BY new.pos", [dataset]).fetchnumpy()
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_rows")
    return np.asarray(found["pos"], dtype=np.int64), np.asarray(found["incident_id"], dtype=object)


# what a file's rows have in common with stored ones -----------------------------------------------
#: The stored columns a file's row is compared on (its id taken, or a near repeat of a FILE:LINE row)
COMPARED = ("offense_raw", "occurred_from", "occurred_to", "lon", "lat", "premise", "area", "narrative")


def stored_incidents(store: Any, dataset: str, ids: list[str]) -> pd.DataFrame:
    """The stored rows of ``dataset`` with these ids (:data:`COMPARED` columns), indexed by ``incident_id``."""
    if not ids:
        return pd.DataFrame(columns=list(COMPARED), index=pd.Index([], name="incident_id"))
    with store.transaction():
        store.con.register("_crimelens_ids", pa.table({"incident_id": pa.array(ids, type=pa.string())}))
        try:
            frame: pd.DataFrame = store.con.execute(
                f"SELECT i.incident_id, {', '.join('i.' + c for c in COMPARED)} FROM incidents i "
                "SEMI JOIN _crimelens_ids d ON d.incident_id = i.incident_id WHERE i.dataset = ?", [dataset]).df()
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_ids")
    return frame.drop_duplicates("incident_id").set_index("incident_id")


#: What :func:`near_repeats` compares, each a name for people and its SQL test of "the same"
_NEAR_FIELDS = {
    "offense": "n.offense_raw IS NOT DISTINCT FROM o.offense_raw",
    "time": "n.occurred_from = o.occurred_from AND n.occurred_to IS NOT DISTINCT FROM o.occurred_to",
    "location": "n.lon = o.lon AND n.lat = o.lat",
    "premise": "n.premise IS NOT DISTINCT FROM o.premise",
    "area": "n.area IS NOT DISTINCT FROM o.area",
    "narrative": "n.narrative IS NOT DISTINCT FROM o.narrative",
}


def near_repeats(store: Any, dataset: str, rows: pa.Table, *, limit: int = 1000) -> list[tuple[int, str, list[str]]]:
    """New rows (``rows``: ``line`` and the :data:`COMPARED` columns) that match a stored row of ``dataset`` on
    their time and place and all but one or two of offense, premise, area, narrative and window end: (line, the stored id, what
    differs), by line, one stored row each (the fewest differences, then the lowest id).

    A row is matched when it shares with a stored row its time and place and one or two of offense,
    premise, area, narrative and window end differ: one hash join on time and place. A corrected time or
    place is not looked for: on Chicago's assaults, the same time, premise and district at another point
    matched 0.4 % of a file's rows with others of the same file, and the same place on the same day more,
    as often separate incidents as corrections. Rows with ids of their own are not for this: their id says
    which stored row they correct.
    """
    if rows.num_rows == 0:
        return []
    same = {name: f"({test})" for name, test in _NEAR_FIELDS.items()}
    differs = " + ".join(f"CASE WHEN {test} THEN 0 ELSE 1 END" for test in same.values())
    names = ", ".join(f"CASE WHEN {test} THEN NULL ELSE '{name}' END" for name, test in same.items())
    pick = ", ".join(f"o.{c}" for c in COMPARED)
    # one hash join on the time; the pairs it finds are few, and filtered on the rest
    joins = [("n.occurred_from = o.occurred_from AND n.lon = o.lon AND n.lat = o.lat", "true")]
    union = " UNION ALL ".join(f"SELECT n.line, o.incident_id, {differs} AS k, list_filter([{names}], lambda x: x IS NOT "
                               f"NULL) AS what FROM _crimelens_new n JOIN old o ON {on} WHERE {also}"
                               for on, also in joins)
    with store.transaction():
        store.con.register("_crimelens_new", rows)
        try:
            found = store.con.execute(
                f"WITH old AS (SELECT incident_id, {pick.replace('o.', '')} FROM incidents WHERE dataset = ?) "
                f"SELECT line, incident_id, what FROM ({union}) WHERE k BETWEEN 1 AND 2 "
                "QUALIFY row_number() OVER (PARTITION BY line ORDER BY k, incident_id) = 1 "
                f"ORDER BY line LIMIT {int(limit)}", [dataset]).fetchall()
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_new")
    return [(int(line), str(ident), [str(w) for w in what]) for line, ident, what in found]
