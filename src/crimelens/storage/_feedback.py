"""Reading and writing feedback-loop simulations and exposure audits (migration 0008)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crimelens.errors import NotFoundError
from crimelens.governance import canonical_json

__all__ = ["FeedbackRunRow", "feedback_runs", "get_feedback_run", "save_feedback_run"]


@dataclass(frozen=True)
class FeedbackRunRow:
    """One stored run."""

    run_id: str
    kind: str
    scenario: str
    created_at: datetime
    user_name: str
    purpose: str
    params: dict[str, Any]
    summary: dict[str, Any]
    output_hash: str
    ledger_seq: int | None
    mark: str | None


def save_feedback_run(store: Any, row: FeedbackRunRow) -> None:
    """Insert one run (call inside the service's transaction, beside its ledger entry)."""
    store.execute(
        "INSERT INTO feedback_runs (run_id, kind, scenario, created_at, user_name, purpose, params, summary,"
        " output_hash, ledger_seq, mark) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row.run_id, row.kind, row.scenario, row.created_at, row.user_name, row.purpose,
         canonical_json(row.params).decode("utf-8"), canonical_json(row.summary).decode("utf-8"),
         row.output_hash, row.ledger_seq, row.mark],
    )


def _row(values: tuple[Any, ...]) -> FeedbackRunRow:
    (run_id, kind, scenario, created_at, user_name, purpose, params, summary, output_hash, seq, mark) = values
    return FeedbackRunRow(str(run_id), str(kind), str(scenario), created_at, str(user_name), str(purpose),
                          json.loads(params), json.loads(summary), str(output_hash),
                          None if seq is None else int(seq), None if mark is None else str(mark))


_COLUMNS = "run_id, kind, scenario, created_at, user_name, purpose, params, summary, output_hash, ledger_seq, mark"


def get_feedback_run(store: Any, run_id: str) -> FeedbackRunRow:
    rows = list(store.iter_rows(f"SELECT {_COLUMNS} FROM feedback_runs WHERE run_id = ?", [run_id]))
    if not rows:
        raise NotFoundError(f"feedback run {run_id!r}: not found in the store {getattr(store, 'path', '')!r}")
    return _row(rows[0])


def feedback_runs(store: Any, *, kind: str | None = None, limit: int | None = None) -> list[FeedbackRunRow]:
    """Stored runs, newest first."""
    sql = f"SELECT {_COLUMNS} FROM feedback_runs"
    params: list[Any] = []
    if kind is not None:
        sql += " WHERE kind = ?"
        params.append(kind)
    sql += " ORDER BY created_at DESC, run_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_row(r) for r in store.iter_rows(sql, params)]
