"""Retention: a deployment's outputs are deleted after its policy's days, with a ledger entry; nothing else is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.errors import ApprovalRequiredError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services._context import Context, open_context
from crimelens.storage import DuckDBStore
from crimelens.storage import _governance as gov_db
from tests.api.city import DEPLOYMENT, City, Clock, copy_city

ADMIN = Actor("ada", Role.ADMIN)


def _count(ctx: Context, sql: str, run_id: str) -> int:
    return int(ctx.store.scalar(sql, [run_id]) or 0)


def test_purge_deletes_only_expired_deployment_outputs_and_logs_them(city_template: City, tmp_path: Path) -> None:
    city = copy_city(city_template, tmp_path / "store")
    op_run, research_run = city.extra["op_run"], city.forecast_run
    runs = "SELECT count(*) FROM forecast_runs WHERE run_id = ?"
    cells = "SELECT count(*) FROM forecast_cells WHERE run_id = ?"
    # 100 days on, the operational run is inside its 365 days: nothing to purge
    with open_context(Settings(db=city.db), clock=Clock(datetime.now(UTC) + timedelta(days=100))) as ctx:
        early = gs.purge_expired_outputs(ctx, actor=ADMIN)
        assert early["n_outputs"] == 0
        assert {d["deployment"]: d["retention_days"] for d in early["deployments"]} == {DEPLOYMENT: 365}
    # the test city ran its operational forecast after its 14-day comment period: 366 days after that
    with open_context(Settings(db=city.db), clock=Clock(datetime.now(UTC) + timedelta(days=14 + 366))) as ctx:
        n_cells = _count(ctx, cells, op_run)
        assert n_cells > 0
        # an analyst may not purge; the refusal is logged and nothing goes
        with pytest.raises(PermissionDeniedError):
            gs.purge_expired_outputs(ctx, actor=Actor("ana", Role.ANALYST), purpose="research")
        refused = ctx.store.query("SELECT outcome FROM ledger WHERE action = 'deployments.purge' ORDER BY seq")
        assert refused["outcome"].tolist()[-1] == "refused"
        # a dry run lists the expired run and deletes nothing
        dry = gs.purge_expired_outputs(ctx, actor=ADMIN, dry_run=True)
        (listed,) = dry["deployments"][0]["purged"]
        assert listed["output_id"] == op_run and listed["rows"] == {"forecast_cells": n_cells, "forecast_runs": 1}
        assert _count(ctx, runs, op_run) == 1
        # the real purge: the operational run and its cells go, the research run stays
        done = gs.purge_expired_outputs(ctx, actor=ADMIN, deployment=DEPLOYMENT)
        assert [p["output_id"] for p in done["deployments"][0]["purged"]] == [op_run]
        assert _count(ctx, runs, op_run) == _count(ctx, cells, op_run) == 0
        assert _count(ctx, runs, research_run) == 1 and _count(ctx, cells, research_run) > 0
        entry = ctx.store.query("SELECT decode(payload) AS p FROM ledger WHERE seq = ?", [done["ledger_seq"]])
        payload = json.loads(entry["p"][0])
        assert payload["action"] == "deployments.purge" and payload["user"] == "ada" and not payload["detail"]["dry_run"]
        assert payload["detail"]["deployments"][0]["purged"] == [["forecast.run", op_run, listed["ledger_seq"]]]
        # the entry that logged the run is still there, and the ledger still verifies
        logged = ctx.store.query("SELECT action FROM ledger WHERE seq = ?", [listed["ledger_seq"]])
        assert logged["action"].tolist() == ["forecast.run"]
        assert gs.verify_ledger(ctx, actor=ADMIN).ok
        # purging again finds nothing left
        assert gs.purge_expired_outputs(ctx, actor=ADMIN)["n_outputs"] == 0


def test_a_review_pending_on_a_purged_output_is_closed_and_cannot_be_decided(city_template: City,
                                                                              tmp_path: Path) -> None:
    """Before: the item stayed pending and a supervisor accepted it ('final', marked_runs []): an output that
    no longer existed made actionable unseen."""
    city = copy_city(city_template, tmp_path / "store")
    item = city.review_item
    assert item is not None
    with open_context(Settings(db=city.db), clock=Clock(datetime.now(UTC) + timedelta(days=14 + 366))) as ctx:
        dry = gs.purge_expired_outputs(ctx, actor=ADMIN, dry_run=True)
        assert dry["deployments"][0]["purged"][0]["review_items_closed"] == [item]
        assert gov_db.review_item(ctx.store, item)["status"] == "pending"  # a dry run closes nothing
        done = gs.purge_expired_outputs(ctx, actor=ADMIN)
        assert done["deployments"][0]["purged"][0]["review_items_closed"] == [item]
        assert gov_db.review_item(ctx.store, item)["status"] == "purged"
        entry = json.loads(ctx.store.query("SELECT decode(payload) AS p FROM ledger WHERE seq = ?",
                                           [done["ledger_seq"]])["p"][0])
        assert entry["detail"]["deployments"][0]["review_items_closed"] == [item]
        with pytest.raises(ApprovalRequiredError, match="closed when retention deleted its output"):
            gs.decide_review(ctx, item_id=item, decision="accept", reason="looks fine", actor=Actor("sam", Role.SUPERVISOR))
        assert gov_db.review_decisions(ctx.store, item) == []


def test_cli_purge_dry_run(city_template: City, tmp_path: Path) -> None:
    city = copy_city(city_template, tmp_path / "store")
    res = CliRunner().invoke(cli_app, ["deployments", "purge", "--dry-run", "--as", "ada", "--db", str(city.db),
                                       "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["dry_run"] and report["n_outputs"] == 0  # the run is a day old: kept for 365 days
    assert report["deployments"][0]["retention_days"] == 365 and report["ledger_seq"] > 0
    bad = CliRunner().invoke(cli_app, ["deployments", "purge", "nope", "--as", "ada", "--db", str(city.db)])
    assert bad.exit_code != 0 and "deployment 'nope': not found" in str(bad.exception)


def test_every_retained_output_table_has_its_key_column(store: DuckDBStore) -> None:
    # the purge deletes by (table, column) pairs; a migration that renames either must fail here
    columns = store.query("SELECT table_name, column_name FROM information_schema.columns")
    have = set(zip(columns["table_name"], columns["column_name"], strict=True))
    for action, (detail_key, tables) in gov_db.RETAINED_OUTPUTS.items():
        assert detail_key in ("run_id", "alert_id"), action
        for table, column in tables:
            assert (table, column) in have, (action, table, column)
