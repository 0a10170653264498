"""The public annual report and public record, as an auditor checked them (tester C).

On a real store built here (a synthetic city, a backtest that measures the card's per-group
figures, a deployment walked through comment and review under the demonstration setting):
refusals are categorised by how they were made, never by words a user typed; the report's
deployments, timeline and card figures come from the ledger, and rows of the store's tables that
disagree with it are named; the floors the demonstration setting lowered are said on the record,
in the API and in the report; an auditor's reads are not the agency's uses; figures are rounded,
explained and free of Python reprs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from crimelens.api import create_app
from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.errors import ApprovalRequiredError, CrimelensError
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import forecasts as fc
from crimelens.services import governance as gs
from crimelens.services._context import Context, authorize, open_context, record_use
from tests.conftest import copy_store

DEP = "night-hotspots"
PURPOSE = "patrol planning"
ADMIN, ANA, SAM = Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST), Actor("sam", Role.SUPERVISOR)
BOARD = (Actor("bea", Role.BOARD), Actor("bob", Role.BOARD), Actor("bo", Role.BOARD))
AUD = Actor("aud", Role.AUDITOR)
#: What a card's author may write: Markdown, and text that must never become markup on a page.
CARD_TEXT = {
    "intended_use": "Weekly **patrol planning**: where recorded burglary concentrates next week.",
    "factors": "Area group (audit only, never a feature). <script>window.pwned = 1</script>",
    "ethical_considerations": "Recorded crime follows police attention; see the exposure audit.",
    "caveats": "- Not for decisions about individuals.\n- Re-fit monthly.",
}
#: Purposes that the use policy refuses, each holding the words the old word-matching filed under another
#: category: "not allowed"/"role"/"token" (role or user), "suspended"/"kill switch"/"lapsed" (not active),
#: "not found"/"no such" (not found), "already"/"cannot"/"quorum" (out of order), "missing"/"unknown"/
#: "invalid"/"got " (invalid request).
PURPOSES = ("surveil protest organiser Ana Ruiz", "check suspended licences", "find missing persons",
            "role-play training", "token permission review, not allowed elsewhere",
            "kill switch drill after the lapsed approval", "decommissioned sites not active",
            "not found cases, no such record", "cannot wait: already past quorum approval",
            "invalid unknown empty expected got it", "purpose")


@dataclass(frozen=True)
class Built:
    db: Path
    tokens: dict[str, str]
    suspended_reason: str


def build_store(folder: Path) -> Built:
    """A synthetic city; a backtest that registers the forecaster with its per-group figures; a
    deployment proposed, commented, reviewed and activated at once under the demonstration setting;
    an operational forecast, an incident, a suspension and a resumption; an auditor reading outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "c.duckdb"
    res = CliRunner().invoke(cli_app, ["synth", "--out", str(folder / "synth"), "--seed", "7", "--days", "400",
                                       "--scale", "0.25", "--n-series", "2", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    suspended_reason = "purpose not allowed for this role; token not found; already cannot wait"
    with pytest.MonkeyPatch.context() as mp, open_context(Settings(db=db)) as ctx:
        mp.setenv("CRIMELENS_GOVERNANCE_DEMO", "1")  # the floors are lowered to the policy's 0 days and 1 vote
        tokens = {"ada": gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)[1]}
        for who in (ANA, SAM, *BOARD, AUD):
            tokens[who.user] = gs.add_user(ctx, name=who.user, role=str(who.role), actor=ADMIN)[1]
        run = fc.run_backtest(ctx, models=["naive", "gbm"], offense="burglary", start="2024-10-01", periods=3,
                              actor=ANA, dataset="synth", group_by="group", ceiling=False)
        card = fc.register_backtested(ctx, run, model="gbm", actor=ANA)
        gs.describe_model(ctx, name=card.name, version=card.version, sections=CARD_TEXT, actor=ANA)
        gs.create_deployment(ctx, name=DEP, model=card.name, model_version=card.version,
                             description="Next-week burglary hotspots for the night shift",
                             policy=UsePolicy(allowed_purposes=(PURPOSE,), min_comment_days=0, board_quorum=1),
                             actor=ANA)
        low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
        gs.assess_impact(ctx, deployment=DEP, answers=low, actor=ANA)
        gs.open_public_comment(ctx, deployment=DEP, actor=SAM)
        gs.start_board_review(ctx, deployment=DEP, actor=SAM)
        gs.vote(ctx, deployment=DEP, choice="approve", actor=BOARD[0], reason="pilot")
        gs.close_review(ctx, deployment=DEP, actor=BOARD[0])
        gs.activate(ctx, deployment=DEP, actor=ADMIN)
        record_use(ctx, action="forecast.run", actor=ANA, purpose=PURPOSE, deployment=DEP,
                   model=card.name, model_version=card.version, output_hash="ab" * 32)
        gs.report_incident(ctx, kind="error", severity="low", description="a cell was drawn twice",
                           deployment=DEP, actor=SAM)
        gs.suspend(ctx, deployment=DEP, reason=suspended_reason, actor=SAM)
        gs.resume(ctx, deployment=DEP, reason="checked", actor=BOARD[1])
        # an auditor opens the forecast and data pages: reads, not uses
        for action in ("forecast.view", "forecast.view", "forecast.list", "data.status", "data.view", "limits.view"):
            record_use(ctx, action=action, actor=AUD, purpose="oversight audit")
    return Built(db, tokens, suspended_reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("tester-c"))


@pytest.fixture
def db(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built store (and its signing key) for one test."""
    return copy_store(built.db, tmp_path / "c.duckdb")


@pytest.fixture
def ctx(db: Path) -> Iterator[Context]:
    with open_context(Settings(db=db)) as c:
        yield c


def _report(ctx: Context) -> Any:
    return gs.annual_report(ctx, year=datetime.now(UTC).year, actor=Actor("public:x", Role.PUBLIC))


# 1. refusal categories ---------------------------------------------------------------------------------
def test_a_refusal_is_categorised_by_how_it_was_made_never_by_the_words_typed(ctx: Context, built: Built) -> None:
    for purpose in PURPOSES:
        with pytest.raises(ApprovalRequiredError, match="is not allowed by the use policy"):
            authorize(ctx, action="forecast.run", actor=ANA, purpose=purpose, deployment=DEP)
    # a suspension's reason is typed by staff: its words decide nothing either
    gs.suspend(ctx, deployment=DEP, reason=built.suspended_reason, actor=SAM)
    with pytest.raises(ApprovalRequiredError, match="is suspended since"):
        authorize(ctx, action="forecast.run", actor=ANA, purpose=PURPOSE, deployment=DEP)
    gs.engage_kill_switch(ctx, reason="not found: purpose not allowed for the role", actor=BOARD[0])
    with pytest.raises(ApprovalRequiredError, match="kill switch"):
        authorize(ctx, action="link.similar", actor=ANA, purpose=PURPOSE, deployment=DEP)
    refusals = {(r["action"], r["category"]): r["n"] for r in _report(ctx).data["refusals"]}
    assert {k: v for k, v in refusals.items() if k[0] == "forecast.run"} == {
        ("forecast.run", "purpose or scope outside the use policy"): len(PURPOSES),
        ("forecast.run", "deployment not active"): 1}
    assert refusals[("link.similar", "deployment not active")] == 1


def test_each_refusal_site_has_its_category(ctx: Context) -> None:
    with pytest.raises(CrimelensError):  # not registered: not permitted, though the purpose says "not found"
        authorize(ctx, action="forecast.run", actor=Actor("ghost", Role.ANALYST), purpose="not found", deployment=DEP)
    with pytest.raises(CrimelensError):
        gs.show_deployment(ctx, deployment="no-such (victim: role not allowed)", actor=AUD)
    with pytest.raises(CrimelensError):
        gs.vote(ctx, deployment=DEP, choice="approve", actor=BOARD[2], reason="suspended")
    with pytest.raises(CrimelensError):
        gs.comment(ctx, deployment=DEP, body="   ", actor=Actor("public:suspended", Role.PUBLIC))
    refusals = {(r["action"], r["category"]) for r in _report(ctx).data["refusals"]}
    assert refusals == {("forecast.run", "not permitted for the role or user"),
                        ("deployments.show", "not found"),
                        ("deployments.vote", "out of order (state or timing)"),
                        ("deployments.comment", "invalid or incomplete request")}


# 2. figures from the ledger, tables cross-checked ------------------------------------------------------------
def test_the_tables_agree_with_the_ledger_and_the_card_figures_are_tied_to_it(ctx: Context) -> None:
    data = _report(ctx).data
    assert data["table_differences"] == []
    assert [(d["name"], d["state"]) for d in data["deployments"]] == [(DEP, "active")]
    (figures,) = data["group_metrics"]
    assert figures["tied_to_ledger"] and "ledger entry" in figures["source"]
    assert set(figures["factors"]["group"]) >= {"group_a", "group_b"}


def test_tables_edited_outside_the_ledger_are_named_and_the_ledger_figure_is_printed(db: Path) -> None:
    with open_context(Settings(db=db)) as c:
        original = _report(c)
    group_a = original.data["group_metrics"][0]["factors"]["group"]["group_a"]
    suspended = [e for e in original.data["deployment_events"] if e["to"] == "suspended"]
    assert [e["action"] for e in suspended] == ["deployments.suspend"]
    # edit the file as an operator with write access would: the ledger is not touched
    con = duckdb.connect(str(db))
    con.execute("UPDATE deployments SET state = 'decommissioned'")
    con.execute("DELETE FROM deployment_events WHERE to_state = 'suspended'")
    evaluation = json.loads(con.execute("SELECT evaluation FROM models").fetchone()[0])  # type: ignore[index]
    evaluation["groups"]["group"]["group_a"]["hit_rate_0.05"] = 0.5
    con.execute("UPDATE models SET evaluation = ?", [json.dumps(evaluation)])
    con.close()
    with open_context(Settings(db=db)) as c:
        assert c.ledger.verify().ok  # the ledger still verifies: it does not protect these tables
        report = _report(c)
    data = report.data
    assert [(d["name"], d["state"]) for d in data["deployments"]] == [(DEP, "active")]
    assert [e["seq"] for e in data["deployment_events"] if e["to"] == "suspended"] == [suspended[0]["seq"]]
    assert data["group_metrics"][0]["factors"]["group"]["group_a"]["hit_rate_0.05"] == group_a["hit_rate_0.05"]
    rows = {(d["table"], d["column"]): (d["table_value"], d["ledger_value"]) for d in data["table_differences"]}
    assert rows[("deployments", "state")] == ("decommissioned", "active")
    assert rows[("deployment_events", "(row)")] == ("missing", "active → suspended (deployments.suspend)")
    assert rows[("models (evaluation)", "group / group_a / hit_rate_0.05")][0] == "0.5"
    html = report.html
    assert "Where the store's tables disagree with the ledger</h2>\n<p class=\"warn\">3 stored value(s) differ" in html
    assert "<td>decommissioned</td><td>active</td>" in html
    assert "<td>deployments.suspend</td>" in html  # the suspension stays in "Decisions this year"


def test_a_card_whose_figures_no_ledger_entry_holds_says_so_next_to_them(ctx: Context) -> None:
    ctx.store.execute("UPDATE models SET evaluation = ?", [json.dumps({
        "metrics": {"hit_rate_0.05": 0.3}, "data": {"figures": "supplied by ana at registration; not measured by "
                                                               "crimelens"},
        "groups": {"group": {"group_a": {"hit_rate_0.05": 0.25, "n": 12.0}}}})])
    report = _report(ctx)
    (figures,) = report.data["group_metrics"]
    assert not figures["tied_to_ledger"] and "supplied by ana" in figures["source"]
    assert "Not tied to the ledger" in report.html and "not recounted from ledger entries" in report.html


# 3. demonstration floors ----------------------------------------------------------------------------------
def test_floors_lowered_by_the_demonstration_setting_are_said_on_the_record_the_api_and_the_report(
        db: Path) -> None:
    with open_context(Settings(db=db)) as c:
        floors = gs.show_deployment(c, deployment=DEP, actor=Actor("public:x", Role.PUBLIC))["floors"]
    assert floors["demo_lowered"] is True
    assert [(a["step"], a["min_comment_days"], a["demo"]) for a in floors["applied"]] == [
        ("start_review", 0, True), ("close_review", 0, True)]
    assert "CRIMELENS_GOVERNANCE_DEMO" in floors["note"] and "at least 14" in floors["note"]
    (period,) = floors["comment_periods"]
    assert period["stage"] == "public" and period["seconds"] < 3600
    with TestClient(create_app(Settings(db=db)), base_url="http://127.0.0.1") as client:
        answer = client.get(f"/api/deployments/{DEP}", headers={"X-Purpose": "public participation"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deployment"]["floors"]["demo_lowered"] is True
    with open_context(Settings(db=db)) as c:
        report = _report(c)
    assert report.data["demo_floors"] == [DEP]
    assert "lowered by the demonstration setting" in report.html


# 4. uses are model uses; reads are listed apart -------------------------------------------------------------
def test_an_auditors_reads_are_not_the_agencys_uses(ctx: Context) -> None:
    data = _report(ctx).data
    assert {u["action"] for u in data["uses"]} <= {"forecast.run", "forecast.backtest"}
    assert {"deployment": DEP, "purpose": PURPOSE, "action": "forecast.run", "n": 1} in data["uses"]
    reads = {(r["by"], r["action"]): r["n"] for r in data["reads"]}
    assert reads == {("oversight", "forecast.view"): 2, ("oversight", "forecast.list"): 1,
                     ("oversight", "data.status"): 1, ("oversight", "data.view"): 1, ("oversight", "limits.view"): 1}


# 5. formatting --------------------------------------------------------------------------------------------
def test_figures_are_rounded_and_explained_and_no_python_repr_is_printed(ctx: Context) -> None:
    report = _report(ctx)
    html = report.html
    figures = report.data["group_metrics"][0]["factors"]["group"]
    long_floats = [repr(v) for g in figures.values() for v in g.values() if isinstance(v, float) and len(repr(v)) > 8]
    assert long_floats and not [f for f in long_floats if f in html]
    assert not [repr(g["n"]) for g in figures.values() if repr(g["n"]) in html and repr(g["n"]).endswith(".0")]
    assert "<dt>hit_rate_0.05_low</dt><dd>share of the group&#39;s recorded test incidents inside the 5 % of cells" in html
    assert "lower end of its 95 % interval" in html
    for python in (">None<", ">False<", ">True<"):
        assert python not in html, python
    incident = [i for i in report.data["incidents"] if i["deployment"] == DEP]
    assert incident and "<td>no</td></tr>" in html  # the incident that did not suspend
    assert "<td>—</td><td>draft</td>" in html  # a deployment's first state comes from nothing


def test_the_cli_help_says_the_report_is_also_a_pdf() -> None:
    res = CliRunner().invoke(cli_app, ["report", "annual", "--help"])
    assert res.exit_code == 0 and "HTML, JSON and PDF" in res.output
