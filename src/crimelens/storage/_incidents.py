"""Bulk writes of validated incidents.

The M.O. attributes arrive as ``mo__i`` columns; they are folded into one JSON
object per row (nulls left out) with Arrow string kernels, which keeps a
million-row ingest in the seconds. Values holding rare control characters take
DuckDB's ``to_json`` path instead, which escapes everything.
"""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from crimelens.domain import CANONICAL_COLUMNS

__all__ = ["attrs_json", "insert_validated"]

def attrs_json(frame: pd.DataFrame, mo_names: list[str]) -> pa.Array | pa.ChunkedArray | None:
    """One JSON object string per row from the ``mo__i`` columns; None if a value needs full escaping."""
    from crimelens.ingest._fast import mo_json  # pure Arrow; the one implementation of the fold

    return mo_json([pa.array(frame[f"mo__{i}"], from_pandas=True) for i in range(len(mo_names))], mo_names,
                   n=len(frame))


def _duckdb_attrs_sql(mo_names: list[str]) -> str:
    def quote(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    entries = ", ".join(f"{{'k': {quote(name)}, 'v': mo__{i}}}" for i, name in enumerate(mo_names))
    return (f"coalesce(to_json(map_from_entries(list_transform(list_filter([{entries}], lambda e: e.v IS NOT NULL),"
            " lambda e: {'key': e.k, 'value': e.v})))::VARCHAR, '{}')")


def insert_validated(store: Any, frame: pd.DataFrame, mo_names: list[str], *, ingest_id: str,
                     attrs: pa.Array | pa.ChunkedArray | None = None) -> int:
    """Insert landed rows in the canonical layout (plus ``line``) with their M.O. JSON.

    ``attrs``: the JSON objects, one per row of ``frame``, when the validator already
    folded them (see :attr:`crimelens.ingest.Validated.attrs`); otherwise they are
    folded here from the ``mo__i`` columns.
    """
    if len(frame) == 0:
        return 0
    cols = [c for c in CANONICAL_COLUMNS if c != "attrs"]
    if attrs is not None and len(attrs) != len(frame):
        raise ValueError(f"attrs has {len(attrs)} rows; expected one per landed row ({len(frame)})")
    table = pa.Table.from_pandas(frame[[*cols, "line", *[f"mo__{i}" for i in range(len(mo_names))]]],
                                 preserve_index=False)
    if attrs is None:
        attrs = attrs_json(frame, mo_names)
    if attrs is not None:
        table = table.append_column("attrs", attrs)
        attrs_sql = "attrs"
    else:
        attrs_sql = _duckdb_attrs_sql(mo_names)
    select = ", ".join(f'"{c}"' for c in cols)
    with store.transaction():
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
    return len(frame)
