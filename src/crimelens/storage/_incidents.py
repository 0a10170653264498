"""Bulk writes of validated incidents.

The M.O. attributes arrive as ``mo__i`` columns; they are folded into one JSON
object per row (nulls left out) with Arrow string kernels, which keeps a
million-row ingest in the seconds. Values holding rare control characters take
DuckDB's ``to_json`` path instead, which escapes everything.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crimelens.domain import CANONICAL_COLUMNS

__all__ = ["attrs_json", "insert_validated"]

_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_RARE = frozenset([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[*_RARE, ord("\\"), ord('"'), ord("\n"), ord("\r"), ord("\t")]] = True


def _bytes_present(col: pa.Array | pa.ChunkedArray) -> set[int]:
    """Which of the bytes that JSON must escape occur in the column's values (from the data buffers)."""
    found: set[int] = set()
    for chunk in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]):
        bufs = chunk.buffers()
        if len(chunk) == 0 or bufs[2] is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(bufs[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
        data = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
        hits = _SPECIAL[data]
        if hits.any():
            found.update(int(b) for b in np.unique(data[hits]))
    return found


def attrs_json(frame: pd.DataFrame, mo_names: list[str]) -> pa.Array | None:
    """One JSON object string per row from the ``mo__i`` columns; None if a value needs full escaping."""
    if not mo_names:
        return pa.array(["{}"] * len(frame), type=pa.string())
    pieces = []
    for i, name in enumerate(mo_names):
        col = pa.array(frame[f"mo__{i}"], from_pandas=True)
        if not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.large_string())
        escapes = _bytes_present(col)
        if escapes & _RARE:
            return None
        for old, new in _ESCAPES:
            if ord(old) in escapes:
                col = pc.replace_substring(col, old, new)
        pieces.append(pc.binary_join_element_wise(_text(json.dumps(name, ensure_ascii=False) + ':"'), col, _text('"'),
                                                  _text("")))
    body = pc.binary_join_element_wise(*pieces, _text(","), null_handling="skip")
    return pc.binary_join_element_wise(_text("{"), body, _text("}"), _text(""))


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, type=pa.large_string())


def _duckdb_attrs_sql(mo_names: list[str]) -> str:
    def quote(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    entries = ", ".join(f"{{'k': {quote(name)}, 'v': mo__{i}}}" for i, name in enumerate(mo_names))
    return (f"coalesce(to_json(map_from_entries(list_transform(list_filter([{entries}], lambda e: e.v IS NOT NULL),"
            " lambda e: {'key': e.k, 'value': e.v})))::VARCHAR, '{}')")


def insert_validated(store: Any, frame: pd.DataFrame, mo_names: list[str], *, ingest_id: str) -> int:
    """Insert landed rows in the canonical layout (plus ``line``) with their M.O. JSON."""
    if len(frame) == 0:
        return 0
    cols = [c for c in CANONICAL_COLUMNS if c != "attrs"]
    table = pa.Table.from_pandas(frame[[*cols, "line", *[f"mo__{i}" for i in range(len(mo_names))]]],
                                 preserve_index=False)
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
