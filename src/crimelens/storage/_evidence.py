"""Reading and writing the evidence tables (migration 0009).

Functions take the store; callers wrap writes and their ledger entry in one
``store.transaction()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from crimelens.errors import NotFoundError
from crimelens.storage._duckdb import DuckDBStore

__all__ = [
    "EVIDENCE_ROW_ACTIONS",
    "EvidenceItem",
    "RedactionRun",
    "case_items",
    "case_ledger_payloads",
    "case_summaries",
    "custody_events",
    "custody_rows",
    "find_items_by_hash",
    "get_item",
    "get_run",
    "insert_custody",
    "insert_item",
    "insert_redaction_log",
    "insert_review_units",
    "insert_run",
    "items_by_id",
    "ledger_payloads",
    "next_event_id",
    "next_item_id",
    "next_run_id",
    "review_queue",
    "run_log",
    "set_review",
    "set_run_status",
]


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One stored evidence item (an original or a derivative)."""

    item_id: str
    case_id: str
    sha256: str
    size_bytes: int
    mime_type: str
    original_name: str
    source: str
    description: str | None
    added_at: datetime
    added_by: str
    parent_item_id: str | None
    parent_sha256: str | None
    derivation: str | None
    tool: str | None
    tool_version: str | None
    tool_params: str | None
    ledger_seq: int

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__slots__}
        data["added_at"] = self.added_at.isoformat()
        data["tool_params"] = json.loads(self.tool_params) if self.tool_params else None
        return data


@dataclass(frozen=True, slots=True)
class RedactionRun:
    """One redaction of a text, image or video file."""

    run_id: str
    kind: str
    input_name: str
    input_sha256: str
    output_name: str
    output_sha256: str
    tool: str
    tool_version: str
    params: str
    n_units: int
    n_detections: int
    case_id: str | None
    source_item_id: str | None
    output_item_id: str | None
    status: str
    created_at: datetime
    created_by: str
    ledger_seq: int

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__slots__}
        data["created_at"] = self.created_at.isoformat()
        data["params"] = json.loads(self.params)
        return data


def _clean(row: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None or (not isinstance(v, (list, dict, str)) and pd.isna(v)):
            out[str(k)] = None
        elif isinstance(v, pd.Timestamp):
            out[str(k)] = v.to_pydatetime()
        elif hasattr(v, "item"):
            out[str(k)] = v.item()
        else:
            out[str(k)] = v
    return out


def _insert(store: DuckDBStore, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    store.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def next_item_id(store: DuckDBStore) -> str:
    n = int(store.scalar("SELECT count(*) FROM evidence_items"))
    return f"EV{n + 1:06d}"


def next_run_id(store: DuckDBStore) -> str:
    n = int(store.scalar("SELECT count(*) FROM redaction_runs"))
    return f"RR{n + 1:06d}"


def insert_item(store: DuckDBStore, item: EvidenceItem) -> None:
    _insert(store, "evidence_items", {f: getattr(item, f) for f in item.__slots__})


def get_item(store: DuckDBStore, item_id: str) -> EvidenceItem:
    frame = store.query("SELECT * FROM evidence_items WHERE item_id = ?", [item_id])
    if frame.empty:
        raise NotFoundError(f"evidence item {item_id!r}: not found in the store {store.path!r}")
    return EvidenceItem(**_clean(frame.iloc[0].to_dict()))


def find_items_by_hash(store: DuckDBStore, sha256: str, case_id: str | None = None) -> list[EvidenceItem]:
    sql = "SELECT * FROM evidence_items WHERE sha256 = ?"
    params: list[Any] = [sha256]
    if case_id is not None:
        sql += " AND case_id = ?"
        params.append(case_id)
    frame = store.query(sql + " ORDER BY item_id", params)
    return [EvidenceItem(**_clean(r)) for r in frame.to_dict("records")]


def case_items(store: DuckDBStore, case_id: str) -> list[EvidenceItem]:
    frame = store.query("SELECT * FROM evidence_items WHERE case_id = ? ORDER BY item_id", [case_id])
    return [EvidenceItem(**_clean(r)) for r in frame.to_dict("records")]


def case_summaries(store: DuckDBStore) -> list[dict[str, Any]]:
    """One row per case: item counts, bytes, first and last intake; the latest case first."""
    frame = store.query(
        "SELECT case_id, count(*) AS n_items, count(parent_item_id) AS n_derivatives, "
        "CAST(sum(size_bytes) AS BIGINT) AS size_bytes, min(added_at) AS first_added_at, max(added_at) AS last_added_at "
        "FROM evidence_items GROUP BY case_id ORDER BY last_added_at DESC, case_id")
    return [_clean(r) for r in frame.to_dict("records")]


def next_event_id(store: DuckDBStore) -> int:
    """The id the next custody event gets (call inside the transaction that inserts it)."""
    return int(store.scalar("SELECT coalesce(max(event_id) + 1, 1) FROM evidence_custody"))


def insert_custody(store: DuckDBStore, row: dict[str, Any]) -> int:
    """Insert a custody event; its ``event_id`` is the row's, or :func:`next_event_id`."""
    event_id = int(row["event_id"]) if row.get("event_id") is not None else next_event_id(store)
    _insert(store, "evidence_custody", {**row, "event_id": event_id})
    return event_id


def items_by_id(store: DuckDBStore, item_ids: Sequence[str]) -> dict[str, EvidenceItem]:
    """The stored items among ``item_ids`` (ids with no row are left out)."""
    if not item_ids:
        return {}
    marks = ", ".join("?" for _ in item_ids)
    frame = store.query(f"SELECT * FROM evidence_items WHERE item_id IN ({marks})", list(item_ids))
    return {str(r["item_id"]): EvidenceItem(**_clean(r)) for r in frame.to_dict("records")}


def custody_rows(store: DuckDBStore, item_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every stored custody row of ``item_ids`` as a dict (NULLs as None, times as datetimes)."""
    return [_clean(r) for r in custody_events(store, item_ids).to_dict("records")]


def custody_events(store: DuckDBStore, item_ids: Sequence[str]) -> pd.DataFrame:
    if not item_ids:
        return store.query("SELECT * FROM evidence_custody WHERE false")
    marks = ", ".join("?" for _ in item_ids)
    return store.query(
        f"SELECT * FROM evidence_custody WHERE item_id IN ({marks}) ORDER BY item_id, event_time, event_id",
        list(item_ids),
    )


#: The ledger actions whose completed entries stand behind evidence rows: an item and its intake
#: custody row (``evidence.add``), and each later custody row.
EVIDENCE_ROW_ACTIONS = ("evidence.add", "evidence.check_out", "evidence.check_in", "evidence.transfer")


def case_ledger_payloads(store: DuckDBStore, case_id: str, item_ids: Sequence[str]) -> dict[int, dict[str, Any]]:
    """Completed :data:`EVIDENCE_ROW_ACTIONS` entries that name ``case_id`` or one of ``item_ids``,
    by sequence number: what the ledger says the case's rows should be."""
    actions = ", ".join("?" for _ in EVIDENCE_ROW_ACTIONS)
    named = "json_extract_string(decode(payload), '$.detail.case_id') = ?"
    params: list[Any] = [*EVIDENCE_ROW_ACTIONS, case_id]
    if item_ids:
        named += (" OR json_extract_string(decode(payload), '$.detail.item_id') IN ("
                  + ", ".join("?" for _ in item_ids) + ")")
        params += list(item_ids)
    rows = store.iter_rows(
        f"SELECT seq, payload FROM ledger WHERE action IN ({actions}) AND ({named}) ORDER BY seq", params)
    out = {int(s): json.loads(p) for s, p in rows}
    return {s: p for s, p in out.items() if p.get("outcome") == "ok"}


def ledger_payloads(store: DuckDBStore, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not seqs:
        return {}
    marks = ", ".join("?" for _ in seqs)
    rows = store.iter_rows(f"SELECT seq, payload FROM ledger WHERE seq IN ({marks})", [int(s) for s in seqs])
    return {int(s): json.loads(p) for s, p in rows}


# redaction runs ------------------------------------------------------------------------
def insert_run(store: DuckDBStore, run: RedactionRun) -> None:
    _insert(store, "redaction_runs", {f: getattr(run, f) for f in run.__slots__})


def get_run(store: DuckDBStore, run_id: str) -> RedactionRun:
    frame = store.query("SELECT * FROM redaction_runs WHERE run_id = ?", [run_id])
    if frame.empty:
        raise NotFoundError(f"redaction run {run_id!r}: not found in the store {store.path!r}")
    return RedactionRun(**_clean(frame.iloc[0].to_dict()))


def set_run_status(store: DuckDBStore, run_id: str, status: str) -> None:
    store.execute("UPDATE redaction_runs SET status = ? WHERE run_id = ?", [status, run_id])


_LOG_COLUMNS = ["run_id", "unit", "idx", "type", "start_pos", "end_pos", "box_x", "box_y", "box_w",
                "box_h", "recogniser", "score", "replacement", "value_sha256"]


def insert_redaction_log(store: DuckDBStore, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    frame = pd.DataFrame(rows).reindex(columns=_LOG_COLUMNS)
    for col in ("start_pos", "end_pos", "box_x", "box_y", "box_w", "box_h", "idx"):
        frame[col] = frame[col].astype("Int64")
    frame["score"] = frame["score"].astype("float64")
    for col in ("run_id", "unit", "type", "recogniser", "replacement", "value_sha256"):
        frame[col] = frame[col].astype(object)
    return int(store.insert_frame("redaction_log", frame, _LOG_COLUMNS))


def run_log(store: DuckDBStore, run_id: str, unit: str | None = None) -> pd.DataFrame:
    sql = "SELECT * FROM redaction_log WHERE run_id = ?"
    params: list[Any] = [run_id]
    if unit is not None:
        sql += " AND unit = ?"
        params.append(unit)
    return store.query(sql + " ORDER BY unit, idx", params)


def insert_review_units(store: DuckDBStore, run_id: str, units: Sequence[str]) -> int:
    if not units:
        return 0
    frame = pd.DataFrame({"run_id": run_id, "unit": list(units), "status": "pending"}).astype(object)
    return int(store.insert_frame("redaction_review", frame, ["run_id", "unit", "status"]))


def review_queue(store: DuckDBStore, run_id: str, *, status: str | None = None,
                 unit: str | None = None) -> pd.DataFrame:
    sql = "SELECT * FROM redaction_review WHERE run_id = ?"
    params: list[Any] = [run_id]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if unit is not None:
        sql += " AND unit = ?"
        params.append(unit)
    return store.query(sql + " ORDER BY unit", params)


def set_review(store: DuckDBStore, run_id: str, unit: str, *, status: str, reviewer: str, decided_at: datetime,
               correction: dict[str, Any] | None, note: str | None) -> None:
    exists = store.scalar("SELECT count(*) FROM redaction_review WHERE run_id = ? AND unit = ?", [run_id, unit])
    if not exists:
        raise NotFoundError(f"redaction run {run_id!r}: no review item for unit {unit!r}")
    store.execute(
        "UPDATE redaction_review SET status = ?, reviewer = ?, decided_at = ?, correction = ?, note = ?"
        " WHERE run_id = ? AND unit = ?",
        [status, reviewer, decided_at, json.dumps(correction) if correction else None, note, run_id, unit],
    )
