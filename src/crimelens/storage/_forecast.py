"""Reading and writing forecast runs, their cells and backtest summaries (migration 0004)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from crimelens.errors import NotFoundError
from crimelens.storage._duckdb import DuckDBStore

__all__ = [
    "BacktestRecord",
    "ForecastRecord",
    "forecast_cells",
    "get_forecast_run",
    "list_forecast_runs",
    "save_backtest",
    "save_forecast_run",
    "set_output_mark",
]

CELL_COLUMNS = ["run_id", "cell", "cell_id", "x_m", "y_m", "risk", "rank", "flagged"]


@dataclass(frozen=True, slots=True)
class ForecastRecord:
    """One stored forecast run (a row of ``forecast_runs``)."""

    run_id: str
    created_at: datetime
    user_name: str
    purpose: str
    dataset: str | None
    offense: str | None
    model: str
    model_version: str
    params: str
    window_start: datetime
    window_end: datetime
    area: str
    crs: str | None
    n_cells: int
    n_training: int
    coverage: float
    data_hash: str
    output_hash: str
    ledger_seq: int
    mark: str | None
    #: 'incident': each incident once (further records ID#2, ID#3... left out); 'all': every record
    records: str = "all"
    n_records_left_out: int = 0


@dataclass(frozen=True, slots=True)
class BacktestRecord:
    run_id: str
    created_at: datetime
    user_name: str
    purpose: str
    dataset: str | None
    offense: str | None
    models: str
    summary: str
    data_hash: str
    output_hash: str
    ledger_seq: int


def save_forecast_run(store: DuckDBStore, record: ForecastRecord, cells: pd.DataFrame) -> None:
    """Insert the run and its cells (columns ``CELL_COLUMNS`` less ``run_id``); joins the caller's transaction."""
    row = asdict(record)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    with store.transaction():
        store.execute(f"INSERT INTO forecast_runs ({cols}) VALUES ({marks})", list(row.values()))
        store.insert_frame("forecast_cells", cells.assign(run_id=record.run_id), CELL_COLUMNS)


def get_forecast_run(store: DuckDBStore, run_id: str) -> ForecastRecord:
    frame = store.query("SELECT * FROM forecast_runs WHERE run_id = ?", [run_id])
    if frame.empty:
        raise NotFoundError(f"forecast run {run_id!r}: not found in the store {store.path!r}")
    data: dict[str, Any] = {str(k): (None if pd.isna(v) else v) for k, v in frame.iloc[0].to_dict().items()}
    for key in ("created_at", "window_start", "window_end"):
        data[key] = pd.Timestamp(data[key]).to_pydatetime()
    data["n_cells"] = int(data["n_cells"])
    data["n_training"] = int(data["n_training"])
    data["ledger_seq"] = int(data["ledger_seq"])
    data["coverage"] = float(data["coverage"])
    data["n_records_left_out"] = int(data.get("n_records_left_out") or 0)
    data["records"] = str(data.get("records") or "all")
    return ForecastRecord(**data)


def set_output_mark(store: DuckDBStore, *, ledger_seq: int, mark: str) -> list[str]:
    """Replace the mark of the stored run logged as ledger entry ``ledger_seq`` (the source of a review
    item), so that every later read and export says what the reviewer decided; returns the run ids
    changed (none when that entry made no stored forecast run). Joins the caller's transaction."""
    runs = [str(r) for (r,) in store.iter_rows("SELECT run_id FROM forecast_runs WHERE ledger_seq = ?",
                                                [int(ledger_seq)])]
    if runs:
        store.execute("UPDATE forecast_runs SET mark = ? WHERE ledger_seq = ?", [mark, int(ledger_seq)])
    return runs


def forecast_cells(store: DuckDBStore, run_id: str) -> pd.DataFrame:
    """The stored cells of a run, highest risk first."""
    return store.query(
        'SELECT cell, cell_id, x_m, y_m, risk, "rank", flagged FROM forecast_cells WHERE run_id = ? '
        'ORDER BY "rank"', [run_id])


def list_forecast_runs(store: DuckDBStore, *, limit: int = 50) -> list[dict[str, Any]]:
    frame = store.query(
        "SELECT run_id, created_at, user_name, purpose, dataset, offense, model, window_start, "
        "window_end, n_cells, coverage, ledger_seq FROM forecast_runs ORDER BY created_at DESC "
        f"LIMIT {int(limit)}")
    return [{str(k): (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]


def save_backtest(store: DuckDBStore, record: BacktestRecord) -> None:
    row = asdict(record)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    store.execute(f"INSERT INTO forecast_backtests ({cols}) VALUES ({marks})", list(row.values()))


def backtest_summary(store: DuckDBStore, run_id: str) -> dict[str, Any]:
    text = store.scalar("SELECT summary FROM forecast_backtests WHERE run_id = ?", [run_id])
    if text is None:
        raise NotFoundError(f"backtest {run_id!r}: not found in the store {store.path!r}")
    out: dict[str, Any] = json.loads(text)
    return out
