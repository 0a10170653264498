"""Proposing a deployment and answering its impact assessment on the governance page, in headless
Chromium on a real server (an oversight board's tester found that only the CLI and the API could).

The analyst fills the proposal form (the use policy's defaults prefilled, the floors said beside the
comment period and quorum), sees the new draft selected with the policy as sent, answers the
questionnaire and reads the level the scoring rule gives for the same answers; a second proposal
under the same name is refused in plain words. An auditor is offered neither form. The ledger holds
the analyst's ``deployments.create`` and ``deployments.assess`` entries.

The store is built here with the services, without the demonstration setting: a small synthetic city,
an administrator, an analyst, an auditor and three board members, and two registered models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS, assess
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import open_context
from tests.web.conftest import running, watched_page
from tests.web.test_governance_controls import _governance

pytestmark = pytest.mark.browser

NAME = "school-run hotspots"  # a space, so the name travels URL-encoded
ADMIN, ANA, AUD = Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST), Actor("aud", Role.AUDITOR)
BOARD = (Actor("bea", Role.BOARD), Actor("bob", Role.BOARD), Actor("bo", Role.BOARD))
#: The answers the analyst ticks: people-based, mitigations short of the 80 % that would reduce the score.
ANSWERS = {"subject": "groups", "consequence": "investigation_or_stop", "reversibility": "with_effort",
           "duration": "months", "vulnerable": "yes", "personal_data": "personal", "enforcement_data": "partly",
           "automation": "recommendation_reviewed", "opacity": "partly", "scale": "under_100k", "novelty": "yes",
           "consultation": "yes", "bias_audit": "yes", "human_review": "yes", "recourse": "no",
           "data_quality": "no", "logging": "yes", "training": "yes"}


@dataclass(frozen=True)
class Built:
    db: Path
    tokens: dict[str, str]


def build_store(folder: Path) -> Built:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "p.duckdb"
    res = CliRunner().invoke(cli_app, ["synth", "--out", str(folder / "synth"), "--seed", "7", "--days", "60",
                                       "--scale", "0.1", "--n-series", "1", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    with pytest.MonkeyPatch.context() as mp, open_context(Settings(db=db)) as ctx:
        mp.delenv("CRIMELENS_GOVERNANCE_DEMO", raising=False)
        tokens = {"ada": gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)[1]}
        for who in (ANA, AUD, *BOARD):
            tokens[who.user] = gs.add_user(ctx, name=who.user, role=str(who.role), actor=ADMIN)[1]
        for name, version in (("KDEHotspot", "1.0"), ("NaiveCounts", "0.3")):
            gs.register_model(ctx, name=name, version=version, params={}, actor=ANA, training_dataset="synth",
                              evaluation={"metrics": {"hit_rate_5pct": 0.3}, "groups": {},
                                          "data": {"dataset": "synth", "offense": "burglary"}})
    return Built(db, tokens)


@pytest.fixture(scope="module")
def served_p(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Built]]:
    built = build_store(tmp_path_factory.mktemp("propose"))
    with running(built.db) as url:
        yield url, built


@pytest.fixture
def pg(browser: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("CRIMELENS_GOVERNANCE_DEMO", raising=False)  # the rules' floors, read per request
    # the one expected console line: the browser's own report of the refused second proposal (422)
    with watched_page(browser, tolerate=("status of 422",)) as (page, _):
        yield page


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists)."""
    return json.loads(json.dumps(value))


def _get(base: str, token: str, path: str) -> Any:
    r = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}", "X-Purpose": "oversight"},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_analyst_proposes_a_deployment_and_answers_its_impact_assessment(
        pg: Any, served_p: tuple[str, Built]) -> None:
    base, built = served_p
    _governance(pg, base, built.tokens["ana"])
    assert pg.locator("#propose").is_visible() and pg.locator("#assess-form").is_hidden()
    pg.click("#propose summary")
    # the use policy's defaults, prefilled; the floors said beside them
    defaults = UsePolicy()
    assert pg.input_value("#p-comment-days") == str(defaults.min_comment_days)
    assert pg.input_value("#p-quorum") == str(defaults.board_quorum)
    assert pg.input_value("#p-approval-days") == str(defaults.approval_days)
    assert pg.eval_on_selector_all("#p-roles input:checked", "els => els.map(e => e.value)") == list(
        defaults.allowed_roles)
    assert {k: int(pg.input_value(f"#p-retention input[data-key='{k}']")) for k in defaults.retention_days} == dict(
        defaults.retention_days)
    floors = pg.inner_text("#p-floors")
    assert "shorter than 14 days" in floors and "majority of the active board members" in floors, floors
    assert pg.eval_on_selector_all("#p-model option", "els => els.map(e => e.textContent)") == [
        "KDEHotspot 1.0", "NaiveCounts 0.3"]
    # the proposal
    pg.fill("#p-name", NAME)
    pg.select_option("#p-model", label="NaiveCounts 0.3")
    pg.fill("#p-description", "Where burglaries were recorded near schools, to plan walking routes.")
    pg.fill("#p-purposes", "patrol planning,  school safety ,")
    pg.check("#p-roles input[value='admin']")
    pg.uncheck("#p-roles input[value='supervisor']")
    pg.fill("#p-retention input[data-key='outputs']", "90")
    pg.fill("#p-comment-days", "7")  # below the rules' 14: stored as written, raised when it counts
    pg.fill("#p-quorum", "1")  # below a majority of the 3 board members
    pg.fill("#p-approval-days", "180")
    pg.check("#p-two-person")
    pg.fill("#p-actionable", "forecast.run")
    pg.click("#p-send")
    pg.wait_for_selector("#propose-ok")
    pg.wait_for_function(f"document.body.dataset.shown === {NAME + ':draft'!r}")
    assert pg.locator(f"#deployments tr.here[data-name='{NAME}']").count() == 1  # the new draft is selected
    sent = {"allowed_purposes": ["patrol planning", "school safety"], "allowed_roles": ["analyst", "admin"],
            "retention_days": {"outputs": 90, "inputs": 365}, "min_comment_days": 7, "board_quorum": 1,
            "approval_days": 180, "two_person_rule": True, "actionable_actions": ["forecast.run"]}
    # stored as sent, scoped (as the CLI's proposal is) to the data the card's figures were measured on
    expected = _plain(UsePolicy.from_mapping({**sent, "datasets": ["synth"], "offenses": ["burglary"]}).to_json())
    enc = NAME.replace(" ", "%20")
    dep = _get(base, built.tokens["aud"], f"/api/deployments/{enc}")["deployment"]
    assert (dep["state"], dep["model"], dep["model_version"], dep["created_by"]) == (
        "draft", "NaiveCounts", "0.3", "ana")
    assert dep["policy"] == expected and dep["assessment"] is None
    record = pg.inner_text("#record")
    assert "at least 14 days (the policy says 7" in record and "2 of 3 board members (the policy says 1" in record
    assert "patrol planning, school safety" in record and "not yet made" in record
    # the same name again is refused in the server's words, on the form and in the page's alert
    pg.click("#p-send")
    pg.wait_for_selector("#propose-bad")
    said = pg.inner_text("#propose-bad")
    assert said == f"deployments create '{NAME}': deployment '{NAME}' already exists", said
    assert pg.inner_text("#error") == said
    # the impact assessment of the draft: one radio group per question, in the questionnaire's order
    assert pg.locator("#assess-form").is_visible()
    qids = pg.eval_on_selector_all("#assess-questions fieldset.question", "els => els.map(e => e.dataset.qid)")
    assert qids == [q.qid for q in AIA_QUESTIONS]
    for q in AIA_QUESTIONS:
        assert pg.locator(f"input[name='aia-{q.qid}']").count() == len(q.choices)
    for qid, answer in ANSWERS.items():
        pg.check(f"input[name='aia-{qid}'][value='{answer}']")
    pg.click("#assess-send")
    pg.wait_for_selector("#assess-ok")
    want = assess(ANSWERS)
    assert want.level == "III" and not want.mitigation_applied  # what this test is about: not the lowest level
    assert pg.inner_text("#assess-level") == want.level
    assert float(pg.inner_text("#assess-score")) == want.score
    assert "human review, two person rule" in pg.inner_text("#assess-result")
    dep = _get(base, built.tokens["aud"], f"/api/deployments/{enc}")["deployment"]
    assert dep["state"] == "draft" and dep["assessment"] == want.to_json()
    pg.wait_for_function(f"document.body.dataset.shown === {NAME + ':draft'!r}")
    assert f"level {want.level} (score {want.score:g})" in pg.inner_text("#record")
    # the form keeps the answers given
    assert pg.eval_on_selector_all("#assess-questions input:checked", "els => els.map(e => e.value)") == [
        ANSWERS[q.qid] for q in AIA_QUESTIONS]
    # the ledger: the analyst's proposal (and its refused repeat) and assessment, under the deployment
    for action, n_ok in (("deployments.create", 1), ("deployments.assess", 1)):
        items = _get(base, built.tokens["aud"], f"/api/ledger/entries?action={action}&limit=100")["items"]
        mine = [e for e in items if e["action"] == action and e["deployment"] == NAME]
        assert [(e["user"], e["role"], e["outcome"]) for e in mine if e["outcome"] == "ok"] == [
            ("ana", "analyst", "ok")] * n_ok, mine
        assert all(e["user"] == "ana" and e["purpose"] == "oversight" for e in mine), mine
    created = _get(base, built.tokens["aud"], "/api/ledger/entries?action=deployments.create&limit=100")["items"]
    assert [e["outcome"] for e in created if e["deployment"] == NAME] == ["refused", "ok"]  # newest first


def test_an_auditor_is_offered_neither_form(pg: Any, served_p: tuple[str, Built]) -> None:
    base, built = served_p
    may = set(_get(base, built.tokens["aud"], "/api/me")["may"])
    assert not may & {"deployments.create", "deployments.assess"}
    _governance(pg, base, built.tokens["aud"])
    assert pg.locator("#propose").is_hidden() and pg.locator("#assess-form").is_hidden()
    drafts = [d["name"] for d in _get(base, built.tokens["aud"], "/api/deployments")["items"]
              if d["state"] == "draft"]
    if drafts:  # after the analyst's test: the draft's record, read only
        pg.locator(f"#deployments tr[data-name='{drafts[0]}'] .open").click()
        pg.wait_for_function(f"(document.body.dataset.shown || '').startsWith({drafts[0] + ':'!r})")
        assert pg.locator("#assess-form").is_hidden()
        assert pg.inner_text("#dep-readonly") == "Your role reads this record; it cannot change it."


def test_the_questionnaire_route_gives_the_questions_the_scoring_rule_uses(served_p: tuple[str, Built]) -> None:
    base, built = served_p
    q = _get(base, built.tokens["ana"], "/api/deployments-questionnaire")
    assert [x["id"] for x in q["questions"]] == [x.qid for x in AIA_QUESTIONS]
    for got, want in zip(q["questions"], AIA_QUESTIONS, strict=True):
        assert (got["text"], got["kind"]) == (want.text, want.kind)
        assert {c["answer"]: c["score"] for c in got["choices"]} == dict(want.choices)
    assert q["policy_defaults"] == _plain(UsePolicy().to_json()) and q["floors"]["min_comment_days"] == 14
    assert "public" not in q["roles"] and "analyst" in q["roles"]
    assert [lv["level"] for lv in q["levels"]] == ["I", "II", "III", "IV"]
    r = httpx.get(f"{base}/api/deployments-questionnaire", headers={"X-Purpose": "x"}, timeout=60)
    assert r.status_code == 401  # staff only: the public reads the records, not the proposal form
