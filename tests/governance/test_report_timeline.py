"""The annual report's timeline of deployment states: every change, whatever action logged it."""

from __future__ import annotations

from datetime import UTC, datetime

from crimelens.services import governance as gs
from crimelens.services._context import Context
from tests.governance.conftest import Clock, People, to_active


def test_an_incident_that_suspends_a_deployment_is_in_the_timeline(ctx: Context, people: People,
                                                                   clock: Clock) -> None:
    to_active(ctx, people, clock)
    gs.suspend(ctx, deployment="hotspots", reason="complaint under review", actor=people.sup1)
    gs.resume(ctx, deployment="hotspots", reason="complaint answered", actor=people.board[0])
    incident = gs.report_incident(ctx, kind="harm", severity="high", description="flagged the wrong district",
                                  deployment="hotspots", actor=people.analyst)
    assert incident["suspended"]
    report = gs.annual_report(ctx, year=2026, actor=people.public)
    data = report.data
    assert [(d["name"], d["state"]) for d in data["deployments"]] == [("hotspots", "suspended")]
    last = data["deployment_events"][-1]
    assert (last["seq"], last["from"], last["to"], last["action"]) == (
        incident["ledger_seq"], "active", "suspended", "incidents.report")
    assert last["reason"] == f"suspended automatically: high harm incident {incident['report_id']}"
    assert last["by"] == "ana (analyst)"
    # the same changes `deployments show` lists, in the same order
    shown = gs.show_deployment(ctx, deployment="hotspots", actor=people.auditor)["events"]
    assert [(e["seq"], e["from"], e["to"]) for e in data["deployment_events"]] == [
        (e["ledger_seq"], e["from_state"], e["to_state"]) for e in shown]
    assert [e["action"] for e in data["deployment_events"]][-3:] == [
        "deployments.suspend", "deployments.resume", "incidents.report"]
    assert "<td>incidents.report</td>" in report.html


def test_a_state_change_counts_in_the_year_it_was_logged(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)  # April 2026
    clock.t = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    incident = gs.report_incident(ctx, kind="breach", severity="low", description="a forecast was emailed out",
                                  deployment="hotspots", actor=people.analyst)
    in_2026 = gs.annual_report(ctx, year=2026, actor=people.public).data["deployment_events"]
    in_2027 = gs.annual_report(ctx, year=2027, actor=people.public).data["deployment_events"]
    assert [e["to"] for e in in_2026] == ["draft", "public_comment", "board_review", "approved", "active"]
    assert [(e["seq"], e["from"], e["to"], e["action"]) for e in in_2027] == [
        (incident["ledger_seq"], "active", "suspended", "incidents.report")]
