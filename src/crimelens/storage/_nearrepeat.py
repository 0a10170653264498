"""Reading and writing near-repeat runs and alerts (tables of migration 0005)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from crimelens.errors import NotFoundError

__all__ = [
    "NearRepeatAlertRecord",
    "NearRepeatRunRecord",
    "get_nearrepeat_run",
    "incident_rows",
    "latest_incident_id",
    "latest_nearrepeat_run",
    "list_nearrepeat_runs",
    "save_nearrepeat_alert",
    "save_nearrepeat_run",
]


@dataclass(frozen=True, slots=True)
class NearRepeatRunRecord:
    """One stored Knox run; ``result_json`` holds the full table."""

    run_id: str
    created_utc: datetime
    user_name: str
    purpose: str
    source: str
    dataset: str | None
    offense: str | None
    period_from: datetime | None
    period_to: datetime | None
    convention: str
    distance_metric: str
    time_of: str
    n_events: int
    n_permutations: int
    seed: int | None
    data_hash: str
    output_hash: str
    result_json: str
    records: str = "all"  # "incident": further records of one incident (ID#2, ...) left out (migration 0012)
    n_records_left_out: int = 0

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.result_json)
        return data


@dataclass(frozen=True, slots=True)
class NearRepeatAlertRecord:
    alert_id: str
    created_utc: datetime
    user_name: str
    purpose: str
    run_id: str
    dataset: str
    incident_id: str
    n_elevated: int
    n_cells: int
    output_hash: str
    alert_json: str


def _insert(store: Any, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    store.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def save_nearrepeat_run(store: Any, record: NearRepeatRunRecord) -> None:
    _insert(store, "nearrepeat_runs", asdict(record))


def save_nearrepeat_alert(store: Any, record: NearRepeatAlertRecord) -> None:
    _insert(store, "nearrepeat_alerts", asdict(record))


def _run_from_row(row: dict[str, Any]) -> NearRepeatRunRecord:
    clean: dict[str, Any] = {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v)
             for k, v in row.items()}
    for k in ("n_events", "n_permutations", "n_records_left_out"):
        clean[k] = int(clean[k] or 0)
    if clean["seed"] is not None:
        clean["seed"] = int(clean["seed"])
    for k in ("created_utc", "period_from", "period_to"):
        if clean[k] is not None:
            clean[k] = pd.Timestamp(clean[k]).to_pydatetime()
    return NearRepeatRunRecord(**clean)


def get_nearrepeat_run(store: Any, run_id: str) -> NearRepeatRunRecord:
    frame = store.query("SELECT * FROM nearrepeat_runs WHERE run_id = ?", [run_id])
    if frame.empty:
        raise NotFoundError(f"near-repeat run {run_id!r}: not in the store {store.path!r}")
    return _run_from_row(frame.iloc[0].to_dict())


def latest_nearrepeat_run(store: Any, *, dataset: str, offense: str | None) -> NearRepeatRunRecord | None:
    """The newest stored run of the store's incidents of ``dataset`` (and ``offense``)."""
    sql = "SELECT * FROM nearrepeat_runs WHERE source = 'store' AND dataset = ?"
    params: list[Any] = [dataset]
    if offense is None:
        sql += " AND offense IS NULL"
    else:
        sql += " AND offense = ?"
        params.append(offense)
    frame = store.query(sql + " ORDER BY created_utc DESC, run_id DESC LIMIT 1", params)
    return None if frame.empty else _run_from_row(frame.iloc[0].to_dict())


def list_nearrepeat_runs(store: Any, *, dataset: str | None = None) -> pd.DataFrame:
    sql = ("SELECT run_id, created_utc, source, dataset, offense, convention, distance_metric, "
           "n_events, n_permutations, seed, records, n_records_left_out FROM nearrepeat_runs")
    params: list[Any] = []
    if dataset is not None:
        sql += " WHERE dataset = ?"
        params.append(dataset)
    frame: pd.DataFrame = store.query(sql + " ORDER BY created_utc", params)
    return frame


def incident_rows(store: Any, incident_id: str, *, dataset: str | None = None) -> pd.DataFrame:
    """The stored rows with this incident id (one per dataset that has it)."""
    sql = ("SELECT dataset, incident_id, offense, occurred_from, occurred_to, x_m, y_m, crs "
           "FROM incidents WHERE incident_id = ?")
    params: list[Any] = [incident_id]
    if dataset is not None:
        sql += " AND dataset = ?"
        params.append(dataset)
    frame: pd.DataFrame = store.query(sql + " ORDER BY dataset", params)
    return frame


def latest_incident_id(store: Any, *, dataset: str | None = None, offense: str | None = None) -> str | None:
    """The id of the most recent incident (by ``occurred_from``, then id) of a dataset/offense.

    Of several records of one incident (``ID``, ``ID#2``, ...: one per victim or offence) the incident's
    own id comes first, so ``nearrepeat alert --latest`` answers for the incident, not for its copy."""
    sql = "SELECT incident_id FROM incidents"
    clauses: list[str] = []
    params: list[Any] = []
    if dataset is not None:
        clauses.append("dataset = ?")
        params.append(dataset)
    if offense is not None:
        clauses.append("offense = ?")
        params.append(offense)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    value = store.scalar(sql + " ORDER BY occurred_from DESC, regexp_matches(incident_id, '#[0-9]+$'), "
                         "incident_id DESC LIMIT 1", params)
    return None if value is None else str(value)
