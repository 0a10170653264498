"""Reads and writes of the risk tables (migration 0007): fitted models and audit reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from crimelens.errors import NotFoundError

__all__ = ["audit_report_row", "list_risk_models", "risk_model_row", "save_audit_report",
           "save_risk_model", "set_model_ledger_seq", "set_report_ledger_seq"]


def save_risk_model(store: Any, *, model_id: str, kind: str, created_utc: datetime, user_name: str,
                    label: str, features: list[str], params: dict[str, Any], data_file: str | None,
                    data_hash: str, n_train: int, card: dict[str, Any], artefact: bytes,
                    artefact_hash: str, ledger_seq: int | None) -> None:
    store.execute(
        "INSERT INTO risk_models (model_id, kind, created_utc, user_name, label, features, params, "
        "data_file, data_hash, n_train, card, artefact, artefact_hash, ledger_seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [model_id, kind, created_utc, user_name, label, json.dumps(features),
         json.dumps(params, default=str, sort_keys=True), data_file, data_hash, int(n_train),
         json.dumps(card, default=str, sort_keys=True), artefact, artefact_hash, ledger_seq],
    )


def set_model_ledger_seq(store: Any, model_id: str, seq: int) -> None:
    store.execute("UPDATE risk_models SET ledger_seq = ? WHERE model_id = ?", [seq, model_id])


def risk_model_row(store: Any, model_id: str) -> dict[str, Any]:
    frame: pd.DataFrame = store.query("SELECT * FROM risk_models WHERE model_id = ?", [model_id])
    if frame.empty:
        known = list_risk_models(store)["model_id"].tolist()
        raise NotFoundError(
            f"risk model {model_id!r}: not in the store {store.path!r}; expected one of {known[:10]}"
            " (crimelens risk fit makes one)"
        )
    row: dict[str, Any] = {str(k): v for k, v in frame.iloc[0].to_dict().items()}
    row["artefact"] = bytes(row["artefact"])
    return row


def list_risk_models(store: Any) -> pd.DataFrame:
    frame: pd.DataFrame = store.query(
        "SELECT model_id, kind, created_utc, user_name, label, n_train, data_hash "
        "FROM risk_models ORDER BY created_utc"
    )
    return frame


def save_audit_report(store: Any, *, report_id: str, created_utc: datetime, user_name: str,
                      data_file: str | None, data_hash: str, score_name: str, label_name: str,
                      group_columns: list[str], threshold: float, model_id: str | None,
                      report_json: str, json_hash: str, html_hash: str | None,
                      html_file: str | None) -> None:
    store.execute(
        "INSERT OR REPLACE INTO audit_reports (report_id, created_utc, user_name, data_file, "
        "data_hash, score_name, label_name, group_columns, threshold, model_id, report_json, "
        "json_hash, html_hash, html_file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [report_id, created_utc, user_name, data_file, data_hash, score_name, label_name,
         json.dumps(group_columns), float(threshold), model_id, report_json, json_hash, html_hash,
         html_file],
    )


def set_report_ledger_seq(store: Any, report_id: str, seq: int) -> None:
    store.execute("UPDATE audit_reports SET ledger_seq = ? WHERE report_id = ?", [seq, report_id])


def audit_report_row(store: Any, report_id: str) -> dict[str, Any]:
    frame: pd.DataFrame = store.query("SELECT * FROM audit_reports WHERE report_id = ?", [report_id])
    if frame.empty:
        raise NotFoundError(f"audit report {report_id!r}: not in the store {store.path!r}")
    return {str(k): v for k, v in frame.iloc[0].to_dict().items()}
