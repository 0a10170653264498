"""Storage of linkage outputs (migration 0006): linkers, pair runs, series, analyst labels.

Functions take the store; the linkage service calls them inside its
transaction together with the ledger entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from crimelens.domain import CANONICAL_COLUMNS, IncidentTable
from crimelens.errors import NotFoundError

__all__ = [
    "add_series_labels",
    "blocking_columns",
    "incident_head",
    "incident_rows",
    "incidents_near",
    "link_density",
    "linker_head",
    "load_linker",
    "pair_run",
    "save_link_density",
    "save_linker",
    "save_pairs",
    "save_run",
    "save_series",
    "series_labels",
    "series_run",
]


def save_linker(store: Any, *, linker_id: str, dataset: str, created_at: datetime, user_name: str,
                label_source: str, cutoff: datetime | None, params: dict[str, Any], features: list[str],
                training: dict[str, Any], evaluation: dict[str, Any] | None,
                protected_descriptors: list[str], artefact: bytes, artefact_sha256: str) -> None:
    store.execute(
        "INSERT INTO link_models (linker_id, dataset, created_at, user_name, label_source, cutoff, params,"
        " features, training, evaluation, protected_descriptors, artefact, artefact_sha256)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [linker_id, dataset, created_at, user_name, label_source, cutoff,
         json.dumps(params, sort_keys=True, default=str), json.dumps(features),
         json.dumps(training, sort_keys=True, default=str),
         None if evaluation is None else json.dumps(evaluation, sort_keys=True, default=str),
         json.dumps(protected_descriptors), artefact, artefact_sha256],
    )


def linker_head(store: Any, *, dataset: str | None = None, linker_id: str | None = None) -> tuple[str, str]:
    """``(linker_id, artefact_sha256)`` of ``linker_id`` or of the newest linker for ``dataset``."""
    # plain rows, no DataFrame: this runs on every similar-incidents query
    if linker_id is not None:
        rows = list(store.iter_rows("SELECT linker_id, artefact_sha256 FROM link_models WHERE linker_id = ?",
                                    [linker_id]))
        where = f"linker {linker_id!r}"
    else:
        rows = list(store.iter_rows("SELECT linker_id, artefact_sha256 FROM link_models WHERE dataset = ?"
                                    " ORDER BY created_at DESC LIMIT 1", [dataset]))
        where = f"a linker for dataset {dataset!r}"
    if not rows:
        raise NotFoundError(f"{where}: not found in the store; train one with 'crimelens link train'")
    return str(rows[0][0]), str(rows[0][1])


def load_linker(store: Any, *, dataset: str | None = None, linker_id: str | None = None) -> dict[str, Any]:
    """The stored linker ``linker_id``, or the newest one for ``dataset``; raises NotFoundError."""
    if linker_id is not None:
        frame = store.query("SELECT * FROM link_models WHERE linker_id = ?", [linker_id])
        where = f"linker {linker_id!r}"
    else:
        frame = store.query(
            "SELECT * FROM link_models WHERE dataset = ? ORDER BY created_at DESC LIMIT 1", [dataset])
        where = f"a linker for dataset {dataset!r}"
    if frame.empty:
        raise NotFoundError(f"{where}: not found in the store; train one with 'crimelens link train'")
    row = frame.iloc[0].to_dict()
    for key in ("params", "features", "training", "evaluation", "protected_descriptors"):
        value = row.get(key)
        row[key] = json.loads(value) if isinstance(value, str) else None
    art = row["artefact"]
    row["artefact"] = bytes(art) if not isinstance(art, bytes) else art
    return dict(row)


def save_run(store: Any, *, run_id: str, linker_id: str, dataset: str, kind: str, created_at: datetime,
             user_name: str, purpose: str, params: dict[str, Any], n_candidates: int, n_rows: int,
             output_hash: str) -> None:
    store.execute(
        "INSERT INTO link_runs (run_id, linker_id, dataset, kind, created_at, user_name, purpose, params,"
        " n_candidates, n_rows, output_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, linker_id, dataset, kind, created_at, user_name, purpose,
         json.dumps(params, sort_keys=True, default=str), n_candidates, n_rows, output_hash],
    )


def save_pairs(store: Any, run_id: str, frame: pd.DataFrame) -> int:
    """``frame``: incident_id_a, incident_id_b, score, cheap_score."""
    out = frame[["incident_id_a", "incident_id_b", "score", "cheap_score"]].assign(run_id=run_id)
    return int(store.insert_frame("link_pairs", out))


def pair_run(store: Any, run_id: str) -> pd.DataFrame:
    return store.query(  # type: ignore[no-any-return]
        "SELECT incident_id_a, incident_id_b, score, cheap_score FROM link_pairs WHERE run_id = ?"
        " ORDER BY score DESC, incident_id_a, incident_id_b", [run_id])


def save_series(store: Any, run_id: str, series: list[dict[str, Any]]) -> int:
    """``series``: :meth:`Series.as_dict` documents."""
    heads = []
    members = []
    for s in series:
        summary = {k: v for k, v in s.items() if k not in ("members", "explanations")}
        heads.append({"run_id": run_id, "series_id": s["series_id"], "n_members": s["n_members"],
                      "first_from": pd.Timestamp(s["first_from"]), "last_to": pd.Timestamp(s["last_to"]),
                      "cohesion": s["cohesion"], "summary": json.dumps(summary, sort_keys=True, default=str)})
        for pos, e in enumerate(s["explanations"]):
            members.append({"run_id": run_id, "series_id": s["series_id"], "incident_id": e["incident_id"],
                            "position": pos, "explanation": json.dumps(e, sort_keys=True, default=str)})
    if heads:
        store.insert_frame("link_series", pd.DataFrame(heads))
        store.insert_frame("link_series_members", pd.DataFrame(members))
    return len(heads)


def series_run(store: Any, run_id: str) -> pd.DataFrame:
    return store.query(  # type: ignore[no-any-return]
        "SELECT s.series_id, s.n_members, s.cohesion, m.incident_id, m.position, m.explanation"
        " FROM link_series s JOIN link_series_members m USING (run_id, series_id)"
        " WHERE s.run_id = ? ORDER BY s.series_id, m.position", [run_id])


def add_series_labels(store: Any, frame: pd.DataFrame) -> int:
    """``frame``: dataset, incident_id, label, recorded_by, recorded_at, note."""
    return int(store.insert_frame(
        "series_labels", frame, ["dataset", "incident_id", "label", "recorded_by", "recorded_at", "note"]))


def series_labels(store: Any, dataset: str) -> pd.DataFrame:
    return store.query(  # type: ignore[no-any-return]
        "SELECT incident_id, label FROM series_labels WHERE dataset = ? ORDER BY incident_id, label", [dataset])


def link_density(store: Any, dataset: str, linker_sha256: str, n_records: int) -> tuple[int, float, bool] | None:
    """The kept ``(n_incidents, n_candidate_pairs, sampled)`` of ``dataset`` under a linker while it has
    ``n_records`` records, or None (migration 0016)."""
    rows = store.iter_rows("SELECT n_incidents, n_candidate_pairs, sampled FROM link_density WHERE dataset = ? "
                           "AND linker_sha256 = ? AND n_records = ?", [dataset, linker_sha256, n_records])
    for n, pairs, sampled in rows:
        return int(n), float(pairs), bool(sampled)
    return None


def save_link_density(store: Any, dataset: str, linker_sha256: str, n_records: int, n_incidents: int,
                      n_candidate_pairs: float, sampled: bool) -> None:
    """Keep a dataset's candidate-pair count under a linker (the first one counted stands)."""
    store.execute("INSERT INTO link_density VALUES (?, ?, ?, ?, ?, ?, now()) ON CONFLICT DO NOTHING",
                  [dataset, linker_sha256, n_records, n_incidents, n_candidate_pairs, sampled])


_COLS = ", ".join(CANONICAL_COLUMNS)


def incident_rows(store: Any, dataset: str, incident_ids: list[str]) -> IncidentTable:
    """The named incidents (NotFoundError naming the first missing one)."""
    marks = ", ".join("?" for _ in incident_ids)
    frame = store.query(f"SELECT {_COLS} FROM incidents WHERE dataset = ? AND incident_id IN ({marks})"
                        " ORDER BY occurred_from, incident_id", [dataset, *incident_ids])
    missing = sorted(set(incident_ids) - set(frame["incident_id"].astype(str)))
    if missing:
        raise NotFoundError(f"incident {missing[0]!r}: not in dataset {dataset!r} of the store")
    return IncidentTable(frame)


def incident_head(store: Any, dataset: str, incident_id: str) -> dict[str, Any]:
    """Offense, window and coordinates of one incident (NotFoundError when absent)."""
    rows = list(store.iter_rows(
        "SELECT offense, occurred_from, occurred_to, x_m, y_m FROM incidents WHERE dataset = ? AND incident_id = ?",
        [dataset, incident_id]))
    if not rows:
        raise NotFoundError(f"incident {incident_id!r}: not in dataset {dataset!r} of the store")
    offense, t0, t1, x, y = rows[0]
    return {"offense": offense, "occurred_from": t0, "occurred_to": t1, "x_m": x, "y_m": y}


def blocking_columns(store: Any, dataset: str) -> pd.DataFrame:
    """What blocking needs of every incident of ``dataset``: id, offense, metres and the window in days
    since 1970-01-01 UTC (``t_from``, ``t_to``), nothing else (a million rows in about a second), in
    :meth:`incidents`' order."""
    return store.query(  # type: ignore[no-any-return]
        "SELECT incident_id, offense, x_m, y_m, epoch_us(occurred_from) / 86400000000.0 AS t_from, "
        "epoch_us(coalesce(occurred_to, occurred_from)) / 86400000000.0 AS t_to "
        "FROM incidents WHERE dataset = ? ORDER BY occurred_from, incident_id", [dataset])


def incidents_near(store: Any, *, dataset: str, offenses: list[str], x_m: float, y_m: float,
                   radius_m: float | None, start: datetime | None, end: datetime | None) -> IncidentTable:
    """Incidents of ``offenses`` inside the square around ``(x_m, y_m)`` whose windows meet [start, end].

    The block's circle and exact gap are applied by the linker; this query only
    bounds what is read (DuckDB's zone maps make it cheap on a time-ordered table).
    """
    clauses = ["dataset = ?", "offense IN (" + ", ".join("?" for _ in offenses) + ")"]
    params: list[Any] = [dataset, *offenses]
    if radius_m is not None:
        clauses.append("x_m BETWEEN ? AND ? AND y_m BETWEEN ? AND ?")
        params += [x_m - radius_m, x_m + radius_m, y_m - radius_m, y_m + radius_m]
    if start is not None:
        clauses.append("occurred_to >= ?")
        params.append(start)
    if end is not None:
        clauses.append("occurred_from <= ?")
        params.append(end)
    frame = store.query(f"SELECT {_COLS} FROM incidents WHERE " + " AND ".join(clauses)
                        + " ORDER BY occurred_from, incident_id", params)
    return IncidentTable(frame)
