"""Bulk writes of validated incidents (DuckDB builds the M.O. JSON, vectorised)."""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb
import pandas as pd

from crimelens.domain import CANONICAL_COLUMNS

__all__ = ["insert_validated"]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def insert_validated(store: Any, frame: pd.DataFrame, mo_names: list[str], *, ingest_id: str) -> int:
    """Insert landed rows; ``mo__i`` columns become the ``attrs`` JSON object (nulls left out)."""
    if len(frame) == 0:
        return 0
    if mo_names:
        entries = ", ".join(f"{{'k': {_quote(name)}, 'v': mo__{i}}}" for i, name in enumerate(mo_names))
        attrs = (f"coalesce(to_json(map_from_entries(list_transform(list_filter([{entries}], lambda e: e.v IS NOT NULL),"
                 " lambda e: {'key': e.k, 'value': e.v})))::VARCHAR, '{}')")
    else:
        attrs = "'{}'"
    cols = [c for c in CANONICAL_COLUMNS if c != "attrs"]
    select = ", ".join(f'"{c}"' for c in cols)
    with store.transaction():
        store.con.register("_crimelens_landed", frame)
        try:
            store.con.execute(
                f"INSERT INTO incidents ({select}, attrs, ingest_id, line) "
                f"SELECT {select}, {attrs}, ?, line FROM _crimelens_landed",
                [ingest_id],
            )
        finally:
            with contextlib.suppress(duckdb.Error):
                store.con.unregister("_crimelens_landed")
    return len(frame)
