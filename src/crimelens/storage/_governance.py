"""Reading and writing the governance tables (migration 0003). Functions take the store."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Any

from crimelens.errors import NotFoundError

__all__ = [
    "RETAINED_OUTPUTS",
    "active_admins",
    "add_board_vote",
    "add_comment",
    "add_complaint",
    "add_deployment_event",
    "add_incident_report",
    "add_review_decision",
    "add_review_item",
    "board_votes",
    "complaint_row",
    "complaints",
    "delete_output",
    "deployment_comments",
    "deployment_events",
    "deployment_row",
    "deployments",
    "find_user_by_token_id",
    "get_datasheet_answers",
    "global_kill_switch",
    "insert_deployment",
    "insert_model",
    "insert_user",
    "model_row",
    "models",
    "outputs_logged_before",
    "review_decisions",
    "review_item",
    "review_items",
    "set_complaint_response",
    "set_global_kill_switch",
    "set_model_card_text",
    "set_review_status",
    "set_user",
    "update_deployment",
    "upsert_datasheet",
    "user_named_alike",
    "user_row",
    "users",
]


def _rows(store: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts (plain DB-API fetch: no DataFrame for a handful of rows)."""
    with store._lock:
        cur = store.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


# users ---------------------------------------------------------------------------
def insert_user(store: Any, *, name: str, role: str, token_id: str, token_sha256: str,
                created_at: datetime, created_by: str) -> None:
    store.execute("INSERT INTO users VALUES (?, ?, ?, ?, TRUE, ?, ?)",
                  [name, role, token_id, token_sha256, created_at, created_by])


def set_user(store: Any, name: str, **values: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in values)
    store.execute(f"UPDATE users SET {cols} WHERE name = ?", [*values.values(), name])


def user_row(store: Any, name: str) -> dict[str, Any] | None:
    rows = _rows(store, "SELECT * FROM users WHERE name = ?", [name])
    return rows[0] if rows else None


def find_user_by_token_id(store: Any, token_id: str) -> dict[str, Any] | None:
    rows = _rows(store, "SELECT * FROM users WHERE token_id = ?", [token_id])
    return rows[0] if rows else None


def users(store: Any) -> list[dict[str, Any]]:
    return _rows(store, "SELECT name, role, active, created_at, created_by FROM users ORDER BY name")


def _name_key(name: str) -> str:
    """A user name as compared for look-alikes: Unicode NFKC, then case-folded ('Carl', 'CARL', 'ｃａｒｌ' -> 'carl')."""
    return unicodedata.normalize("NFKC", name).casefold()


def user_named_alike(store: Any, name: str) -> str | None:
    """The registered user whose name equals ``name`` but for case (or Unicode compatibility form), if any."""
    key = _name_key(name)
    return next((str(r[0]) for r in store.iter_rows("SELECT name FROM users ORDER BY name")
                 if _name_key(str(r[0])) == key), None)


def active_admins(store: Any) -> list[str]:
    """Names of the active administrators."""
    return [str(r[0]) for r in store.iter_rows("SELECT name FROM users WHERE role = 'admin' AND active ORDER BY name")]


# models and datasheets -----------------------------------------------------------
def insert_model(store: Any, record: dict[str, Any]) -> None:
    cols = list(record)
    store.execute(
        f"INSERT INTO models ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else v for v in record.values()],
    )


def model_row(store: Any, name: str, version: str | None = None) -> dict[str, Any]:
    if version is None:
        rows = _rows(store, "SELECT * FROM models WHERE name = ? ORDER BY registered_at DESC LIMIT 1", [name])
    else:
        rows = _rows(store, "SELECT * FROM models WHERE name = ? AND version = ?", [name, version])
    if not rows:
        known = [f"{r['name']} {r['version']}" for r in models(store)]
        raise NotFoundError(
            f"model {name!r}{'' if version is None else f' version {version!r}'}: not registered; "
            f"registered: {known or 'none'}"
        )
    row = rows[0]
    for key in ("params", "evaluation", "card_text"):
        row[key] = json.loads(row[key]) if row.get(key) else {}
    return row


def models(store: Any) -> list[dict[str, Any]]:
    return _rows(store, "SELECT name, version, kind, training_dataset, code_version, registered_at,"
                        " registered_by FROM models ORDER BY name, registered_at")


def set_model_card_text(store: Any, name: str, version: str, text: dict[str, str]) -> None:
    store.execute("UPDATE models SET card_text = ? WHERE name = ? AND version = ?",
                  [json.dumps(text, sort_keys=True), name, version])


def upsert_datasheet(store: Any, dataset: str, answers: dict[str, str], at: datetime, by: str) -> None:
    store.execute("DELETE FROM datasheets WHERE dataset = ?", [dataset])
    store.execute("INSERT INTO datasheets VALUES (?, ?, ?, ?)",
                  [dataset, json.dumps(answers, sort_keys=True), at, by])


def get_datasheet_answers(store: Any, dataset: str) -> dict[str, str]:
    value = store.scalar("SELECT answers FROM datasheets WHERE dataset = ?", [dataset])
    return dict(json.loads(value)) if value else {}


# deployments -----------------------------------------------------------------------
def insert_deployment(store: Any, record: dict[str, Any]) -> None:
    cols = list(record)
    store.execute(f"INSERT INTO deployments ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                  list(record.values()))


def update_deployment(store: Any, name: str, **values: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in values)
    store.execute(f"UPDATE deployments SET {cols} WHERE name = ?", [*values.values(), name])


def deployment_row(store: Any, name: str) -> dict[str, Any] | None:
    rows = _rows(store, "SELECT * FROM deployments WHERE name = ?", [name])
    return rows[0] if rows else None


def deployments(store: Any) -> list[dict[str, Any]]:
    return _rows(store, "SELECT name, model, model_version, state, approved_until, state_changed_at,"
                        " state_reason, renewal_opened_at FROM deployments ORDER BY name")


def add_deployment_event(store: Any, *, deployment: str, from_state: str | None, to_state: str, by_user: str,
                         by_role: str, reason: str | None, at: datetime, ledger_seq: int) -> None:
    store.execute("INSERT INTO deployment_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  [deployment, from_state, to_state, by_user, by_role, reason, at, ledger_seq])


def deployment_events(store: Any, deployment: str) -> list[dict[str, Any]]:
    return _rows(store, "SELECT from_state, to_state, by_user, by_role, reason, event_at, ledger_seq"
                        " FROM deployment_events WHERE deployment = ? ORDER BY event_at, ledger_seq", [deployment])


def deployment_comments(store: Any, deployment: str) -> list[dict[str, Any]]:
    return _rows(store, "SELECT stage, author, author_role, body, posted_at, ledger_seq FROM deployment_comments"
                        " WHERE deployment = ? ORDER BY posted_at, ledger_seq", [deployment])


def add_comment(store: Any, *, deployment: str, stage: str, author: str, role: str, body: str,
                at: datetime, ledger_seq: int) -> None:
    store.execute("INSERT INTO deployment_comments VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [deployment, stage, author, role, body, at, ledger_seq])


def add_board_vote(store: Any, *, deployment: str, review_round: int, voter: str, vote: str,
                   reason: str | None, at: datetime, ledger_seq: int) -> None:
    store.execute("DELETE FROM board_votes WHERE deployment = ? AND review_round = ? AND voter = ?",
                  [deployment, review_round, voter])
    store.execute("INSERT INTO board_votes VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [deployment, review_round, voter, vote, reason, at, ledger_seq])


def board_votes(store: Any, deployment: str, review_round: int) -> list[dict[str, Any]]:
    return _rows(store, "SELECT voter, vote, reason, voted_at FROM board_votes WHERE deployment = ?"
                        " AND review_round = ? ORDER BY voter", [deployment, review_round])


# kill switch -------------------------------------------------------------------------
def global_kill_switch(store: Any) -> dict[str, Any] | None:
    rows = _rows(store, "SELECT * FROM kill_switch WHERE scope = 'global' AND engaged")
    return rows[0] if rows else None


def set_global_kill_switch(store: Any, *, engaged: bool, reason: str, by_user: str, at: datetime) -> None:
    store.execute("DELETE FROM kill_switch WHERE scope = 'global'")
    store.execute("INSERT INTO kill_switch VALUES ('global', ?, ?, ?, ?)", [engaged, reason, by_user, at])


# review queue ------------------------------------------------------------------------
def add_review_item(store: Any, *, item_id: str, deployment: str | None, action: str, source_seq: int,
                    requested_by: str, summary: dict[str, Any], at: datetime) -> None:
    store.execute("INSERT INTO review_items VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL)",
                  [item_id, deployment, action, source_seq, requested_by,
                   json.dumps(summary, sort_keys=True, default=str), at])


def review_item(store: Any, item_id: str) -> dict[str, Any]:
    rows = _rows(store, "SELECT * FROM review_items WHERE item_id = ?", [item_id])
    if not rows:
        raise NotFoundError(f"review item {item_id!r}: not in the review queue")
    row = rows[0]
    row["summary"] = json.loads(row["summary"])
    return row


def review_items(store: Any, *, status: str | None = None, deployment: str | None = None) -> list[dict[str, Any]]:
    clauses, params = [], []
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    if deployment is not None:
        clauses.append("deployment = ?")
        params.append(deployment)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = _rows(store, f"SELECT * FROM review_items{where} ORDER BY created_at, item_id", params)
    for row in rows:
        row["summary"] = json.loads(row["summary"])
    return rows


def set_review_status(store: Any, item_id: str, status: str, at: datetime | None) -> None:
    store.execute("UPDATE review_items SET status = ?, resolved_at = ? WHERE item_id = ?", [status, at, item_id])


def add_review_decision(store: Any, *, item_id: str, reviewer: str, decision: str, reason: str,
                        replacement: dict[str, Any] | None, at: datetime, ledger_seq: int) -> None:
    store.execute("INSERT INTO review_decisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                  [item_id, reviewer, decision, reason,
                   None if replacement is None else json.dumps(replacement, sort_keys=True, default=str),
                   at, ledger_seq])


def review_decisions(store: Any, item_id: str) -> list[dict[str, Any]]:
    return _rows(store, "SELECT reviewer, decision, reason, replacement, decided_at, ledger_seq FROM"
                        " review_decisions WHERE item_id = ? ORDER BY decided_at, ledger_seq", [item_id])


# incidents and complaints ---------------------------------------------------------------
def add_incident_report(store: Any, record: dict[str, Any]) -> None:
    cols = list(record)
    store.execute(f"INSERT INTO incident_reports ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                  list(record.values()))


def add_complaint(store: Any, record: dict[str, Any]) -> None:
    cols = list(record)
    store.execute(f"INSERT INTO complaints ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                  [json.dumps(v) if isinstance(v, list) else v for v in record.values()])


def complaints(store: Any, *, deployment: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM complaints"
    params: list[Any] = []
    if deployment is not None:
        sql += " WHERE deployment = ?"
        params.append(deployment)
    rows = _rows(store, sql + " ORDER BY filed_at, complaint_id", params)
    for row in rows:
        row["entry_seqs"] = json.loads(row["entry_seqs"])
    return rows


def complaint_row(store: Any, complaint_id: str) -> dict[str, Any] | None:
    rows = _rows(store, "SELECT * FROM complaints WHERE complaint_id = ?", [complaint_id])
    for row in rows:
        row["entry_seqs"] = json.loads(row["entry_seqs"])
    return rows[0] if rows else None


def set_complaint_response(store: Any, complaint_id: str, response: str) -> None:
    store.execute("UPDATE complaints SET status = 'answered', response = ? WHERE complaint_id = ?",
                  [response, complaint_id])


# retention ----------------------------------------------------------------------------------
#: Output-producing ledger actions, the detail key naming the output, and the tables holding it
#: (each keyed by that id in its first column listed).
RETAINED_OUTPUTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "forecast.run": ("run_id", (("forecast_cells", "run_id"), ("forecast_runs", "run_id"))),
    "nearrepeat.alert": ("alert_id", (("nearrepeat_alerts", "alert_id"),)),
    "link.pairs": ("run_id", (("link_pairs", "run_id"), ("link_runs", "run_id"))),
    "link.series": ("run_id", (("link_series_members", "run_id"), ("link_series", "run_id"),
                               ("link_runs", "run_id"))),
}


def outputs_logged_before(store: Any, deployment: str, before: datetime) -> list[dict[str, Any]]:
    """Outputs made under ``deployment`` whose ledger entry is older than ``before``, oldest first.

    Read from the ledger (the one record of which deployment made what); whether each output
    is still stored is for the caller to check.
    """
    cases = " ".join(f"WHEN '{a}' THEN json_extract_string(decode(payload), '$.detail.{key}')"
                     for a, (key, _tables) in RETAINED_OUTPUTS.items())
    actions = ", ".join(f"'{a}'" for a in RETAINED_OUTPUTS)
    return _rows(store,
                 f"SELECT seq, action, at_utc, CASE action {cases} END AS output_id FROM ledger "
                 f"WHERE deployment = ? AND outcome = 'ok' AND action IN ({actions}) AND at_utc < ? "
                 "ORDER BY seq", [deployment, before])


def delete_output(store: Any, action: str, output_id: str, *, dry_run: bool = False) -> dict[str, int]:
    """Delete one output's rows from every table that holds it; rows (to be) deleted per table."""
    _key, tables = RETAINED_OUTPUTS[action]
    out: dict[str, int] = {}
    for table, column in tables:
        n = int(store.scalar(f"SELECT count(*) FROM {table} WHERE {column} = ?", [output_id]) or 0)
        if n and not dry_run:
            store.execute(f"DELETE FROM {table} WHERE {column} = ?", [output_id])
        out[table] = n
    return out


# an independent transaction beside the caller's ------------------------------------------
def run_beside(store: Any, work: Any) -> bool:
    """Run ``work(side_store)`` in its own committed transaction; False if it conflicts with the caller's.

    The side store is a second connection (a cursor) on the same database, wrapped in the
    ordinary store class, so a refusal logged here survives the rollback of the caller's block.
    """
    import duckdb

    from crimelens.storage._duckdb import DuckDBStore

    side = DuckDBStore(store.con.cursor(), store.path)
    try:
        work(side)
        return True
    except duckdb.Error:
        return False
    finally:
        side.close()
