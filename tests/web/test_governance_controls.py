"""The governance and public pages as a board member tested them, in headless Chromium on a real server:
each role is offered only the controls it may use (``may`` from ``/api/me``) and told when it is offered
none; the record says the comment period and quorum the next step requires beside the policy's own
numbers; opening a renewal does not read as a suspension; a suspended deployment is not coloured as
fine; neither page scrolls sideways on a phone; a purpose of spaces is refused before anything is sent.

The store is built here with the services, without the demonstration setting, on a clock moved by
hand: a deployment under board review whose policy asks for 0 days of comment and a quorum of 1 (the
rules require 14 days and a majority of the 3 board members), one suspended, and one suspended while
its renewal is open for comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import open_context
from tests.api.city import Clock
from tests.web.conftest import running, watched_page
from tests.web.test_dashboard import _login

pytestmark = pytest.mark.browser

REVIEW = "night-hotspots"  # under board review: policy 0 days and quorum 1
PAUSED = "day-hotspots"  # active, then suspended; no renewal open
RENEWING = "evening-hotspots"  # its renewal opened while active, then suspended
PURPOSE = "patrol planning"
ADMIN, ANA, SAM, AUD = (Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST), Actor("sam", Role.SUPERVISOR),
                        Actor("aud", Role.AUDITOR))
BOARD = (Actor("bea", Role.BOARD), Actor("bob", Role.BOARD), Actor("bo", Role.BOARD))
#: The lifecycle steps the governance page offers in each state (governance.js STEPS), before the role.
STEPS = {"approved": ["activate", "decommission"], "active": ["suspend", "open-renewal", "renew", "decommission"],
         "suspended": ["resume", "open-renewal", "renew", "decommission"], "rejected": ["revise", "decommission"],
         "draft": ["open-comment", "decommission"], "public_comment": ["start-review", "decommission"],
         "board_review": ["close-review", "decommission"]}
READ_ONLY = "Your role reads this record; it cannot change it."


@dataclass(frozen=True)
class Built:
    db: Path
    tokens: dict[str, str]
    complaint: str


def build_store(folder: Path) -> Built:
    """A small synthetic city, six staff and three board members, a registered model, three deployments
    walked through their steps by the services (never under the demonstration setting) and a complaint."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "g.duckdb"
    res = CliRunner().invoke(cli_app, ["synth", "--out", str(folder / "synth"), "--seed", "7", "--days", "60",
                                       "--scale", "0.1", "--n-series", "1", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    clock = Clock(datetime.now(UTC) - timedelta(days=40))
    with pytest.MonkeyPatch.context() as mp, open_context(Settings(db=db), clock=clock) as ctx:
        mp.delenv("CRIMELENS_GOVERNANCE_DEMO", raising=False)  # the rules' floors, not the demonstration's
        tokens = {"ada": gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)[1]}
        for who in (ANA, SAM, AUD, *BOARD):
            tokens[who.user] = gs.add_user(ctx, name=who.user, role=str(who.role), actor=ADMIN)[1]
        gs.register_model(ctx, name="KDEHotspot", version="1.0", params={"bandwidth_m": 250.0}, actor=ANA,
                          evaluation={"metrics": {"hit_rate_5pct": 0.3}, "data": "synthetic city", "groups": {}},
                          training_dataset="synth", card_text={
                              "intended_use": "Weekly patrol planning in the synthetic city (a test).",
                              "factors": "Area group (audit only).",
                              "ethical_considerations": "Recorded incidents follow patrol.",
                              "caveats": "Synthetic data; not for decisions about people."})
        low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
        for name in (REVIEW, PAUSED, RENEWING):
            gs.create_deployment(ctx, name=name, model="KDEHotspot", model_version="1.0",
                                 description=f"{name}: next-week hotspots", actor=ANA,
                                 policy=UsePolicy(allowed_purposes=(PURPOSE,), min_comment_days=0, board_quorum=1))
            gs.assess_impact(ctx, deployment=name, answers=low, actor=ANA)
            gs.open_public_comment(ctx, deployment=name, actor=SAM)
        clock.advance(days=15)  # past the 14 days the rules require, whatever the policy says
        for name in (REVIEW, PAUSED, RENEWING):
            gs.start_board_review(ctx, deployment=name, actor=SAM)
        gs.vote(ctx, deployment=REVIEW, choice="approve", actor=BOARD[0], reason="pilot, with a report in six months")
        for name in (PAUSED, RENEWING):
            for member in BOARD[:2]:  # a majority of the three: the policy's quorum of 1 is not enough
                gs.vote(ctx, deployment=name, choice="approve", actor=member, reason="controls adequate")
            gs.close_review(ctx, deployment=name, actor=BOARD[0])
            gs.activate(ctx, deployment=name, actor=ADMIN)
        clock.advance(days=1)
        gs.open_renewal(ctx, deployment=RENEWING, actor=SAM)
        for name in (PAUSED, RENEWING):
            gs.suspend(ctx, deployment=name, reason="a cell was drawn twice", actor=SAM)
        complaint = gs.file_complaint(ctx, body="Why my block?", deployment=REVIEW,
                                      actor=Actor("public:anonymous", Role.PUBLIC))["complaint_id"]
    return Built(db, tokens, str(complaint))


@pytest.fixture(scope="module")
def served_g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Built]]:
    built = build_store(tmp_path_factory.mktemp("governance-controls"))
    with running(built.db) as url:
        yield url, built


@pytest.fixture
def pg(browser: Any) -> Iterator[Any]:
    with watched_page(browser) as (page, _):
        yield page


def _may(base: str, token: str) -> set[str]:
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}", "X-Purpose": "oversight"},
                   timeout=60).json()
    assert isinstance(me.get("may"), list), f"/api/me has no 'may': {me}"
    return set(me["may"])


def _governance(pg: Any, base: str, token: str) -> None:
    _login(pg, base, token, "oversight")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")


def _open_record(pg: Any, name: str) -> None:
    pg.locator(f"#deployments tr[data-name='{name}'] .open").click()
    pg.wait_for_function(f"(document.body.dataset.shown || '').startsWith('{name}:')")


def _line(pg: Any, term: str) -> str:
    """The text of the record's policy line ``term`` (e.g. "Public comment")."""
    lines = pg.eval_on_selector_all(
        "#record dl.policy dt", f"els => els.filter(e => e.textContent === {term!r})"
                                ".map(e => e.nextElementSibling.textContent)")
    assert len(lines) == 1, lines
    return str(lines[0])


def _steps(pg: Any) -> list[str]:
    if pg.locator("#dep-actions").is_hidden():
        return []
    return list(pg.eval_on_selector_all("#step-buttons button.step", "els => els.map(e => e.dataset.step)"))


@pytest.mark.parametrize(("user", "steps", "board_form"), [
    ("bea", ["close-review", "decommission"], True),
    ("ada", ["decommission"], False),
    ("ana", [], False),
    ("aud", [], False),
])
def test_each_role_is_offered_only_the_controls_it_may_use(
        pg: Any, served_g: tuple[str, Built], user: str, steps: list[str], board_form: bool) -> None:
    base, built = served_g
    may = _may(base, built.tokens[user])
    _governance(pg, base, built.tokens[user])
    _open_record(pg, REVIEW)
    # the lifecycle steps of board review that the role may take, and no other
    offered = _steps(pg)
    assert offered == [st for st in STEPS["board_review"] if "deployments." + st.replace("-", "_") in may]
    assert offered == steps
    # the board's vote and comment form, during review, for the board only
    assert pg.locator("#board-form").is_visible() == board_form == ("deployments.vote" in may)
    assert pg.locator("#vote-send").is_visible() == ("deployments.vote" in may)
    assert pg.locator("#board-comment").is_visible() == ("deployments.board_comment" in may)
    # a role offered nothing on the record is told so
    readonly = pg.locator("#dep-readonly")
    assert readonly.is_visible() == (not offered and not board_form)
    if user == "aud":
        assert readonly.inner_text() == READ_ONLY
    if user == "ana":  # an analyst proposes and revises deployments, but takes no step under review
        assert "takes no step from board review" in readonly.inner_text()
    # retention and the kill switch
    assert pg.locator("#purge-run").is_visible() == pg.locator("#purge-dry").is_visible() == (
        "deployments.purge" in may)
    assert pg.locator("#kill-on").is_visible() == ("killswitch.engage" in may)
    assert pg.locator("#kill-off").is_visible() == ("killswitch.release" in may)
    if not may & {"deployments.purge", "killswitch.engage", "killswitch.release"}:
        assert "cannot purge" in pg.inner_text("#retention-readonly")
    # the complaint's answer box
    row = pg.locator(f"#complaints tr[data-complaint='{built.complaint}']")
    assert row.locator(".respond").count() == int("complaints.respond" in may)
    if "complaints.respond" not in may:
        assert "waiting for the board's answer" in row.inner_text()
    # the suspended deployment: its steps are those the role may take too
    _open_record(pg, PAUSED)
    assert _steps(pg) == [st for st in STEPS["suspended"] if st != "renew"
                          and "deployments." + st.replace("-", "_") in may]
    assert pg.locator("#board-form").is_hidden()


def test_the_record_says_what_the_next_step_requires_beside_the_policy(
        pg: Any, served_g: tuple[str, Built]) -> None:
    base, built = served_g
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    pg.get_by_role("button", name=f"Read the record of {REVIEW}").click()
    pg.wait_for_function(f"document.body.dataset.shown === '{REVIEW}'")
    comment, quorum = _line(pg, "Public comment"), _line(pg, "Board quorum")
    assert comment.startswith("at least 14 days") and "the policy says 0" in comment, comment
    assert "at least 0 days" not in pg.inner_text("#record")
    assert quorum.startswith("2 of 3 board members") and "the policy says 1" in quorum, quorum
    assert "majority" in quorum and pg.locator("#floors-demo").count() == 0
    # every time carries its zone; the vote's reason stands beside it
    events = pg.eval_on_selector_all("#record ul.events li", "els => els.map(e => e.textContent)")
    assert len(events) >= 2 and all(" UTC:" in e for e in events), events
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", pg.inner_text("#record"))
    votes = pg.inner_text("#record ul.votes")
    assert "bea: approve" in votes and "UTC" in votes and "pilot, with a report in six months" in votes
    # the renewal may be decided after the days the rules require, not the policy's 0
    pg.get_by_role("button", name=f"Read the record of {RENEWING}").click()
    pg.wait_for_function(f"document.body.dataset.shown === '{RENEWING}'")
    renewal = pg.inner_text("#renewal-open")
    assert "the board may renew it after 14 days" in renewal and "stays suspended" in renewal, renewal
    assert "Approval lasts" in pg.inner_text("#record") and "(until 20" in _line(pg, "Approval lasts")
    # the staff page shows the same lines
    _governance(pg, base, built.tokens["bea"])
    _open_record(pg, REVIEW)
    assert _line(pg, "Public comment") == comment and _line(pg, "Board quorum") == quorum


def test_a_suspended_deployment_is_not_green_and_opening_its_renewal_is_not_a_suspension(
        pg: Any, served_g: tuple[str, Built]) -> None:
    base, built = served_g
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    state = pg.locator(f"#deployments tr[data-name='{RENEWING}'] td").nth(2)
    assert "suspended, renewal open for comment" in state.inner_text()
    assert state.evaluate("e => [e.classList.contains('ok'), e.classList.contains('warn')]") == [False, True]
    review = pg.locator(f"#deployments tr[data-name='{REVIEW}'] td").nth(2)
    assert review.evaluate("e => e.classList.contains('ok')") is False  # under review: nothing to comment on
    # a board member opens the renewal of the suspended deployment
    _governance(pg, base, built.tokens["bea"])
    _open_record(pg, PAUSED)
    pg.click("#step-buttons button[data-step='open-renewal']")
    pg.wait_for_selector("#step-ok")
    said = pg.inner_text("#step-ok")
    assert "is now suspended" not in said, said
    assert f"The renewal of {PAUSED} is open for public comment" in said and "stays suspended" in said, said
    pg.wait_for_function(f"document.body.dataset.shown === '{PAUSED}:suspended'")
    assert "the board may renew it after 14 days" in pg.inner_text("#renewal-open")
    assert "renew" in _steps(pg) and "open-renewal" not in _steps(pg)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_pages_do_not_scroll_sideways(browser: Any, served_g: tuple[str, Built], width: int) -> None:
    base, built = served_g
    with watched_page(browser, width=width, height=900) as (pg, _):
        wide = "document.documentElement.scrollWidth"
        if width == 390:
            pg.goto(f"{base}/public")
            pg.wait_for_function("document.body.dataset.ready === '1'")
            pg.get_by_role("button", name=f"Read the record of {RENEWING}").click()
            pg.wait_for_function(f"document.body.dataset.shown === '{RENEWING}'")
            pg.click("#show-card")
            pg.wait_for_selector("#card:not([hidden]) h4")
            assert pg.evaluate(wide) <= width + 1, ("/public", pg.evaluate(wide))
        _governance(pg, base, built.tokens["ada"])  # the administrator is offered the most controls
        _open_record(pg, REVIEW)
        pg.wait_for_function("document.querySelectorAll('#ledger tbody tr').length > 0")
        assert pg.evaluate(wide) <= width + 1, ("/governance", pg.evaluate(wide))
        # the ledger's detail column wraps rather than pushing the page wider
        assert pg.locator("#ledger").evaluate("e => e.parentElement.classList.contains('table-scroll')")


def test_a_purpose_of_spaces_is_refused_before_anything_is_sent(
        pg: Any, served_g: tuple[str, Built]) -> None:
    base, built = served_g
    sent: list[str] = []
    pg.on("request", lambda r: sent.append(r.url) if "/api/" in r.url else None)
    pg.goto(f"{base}/login")
    pg.fill("#token", built.tokens["ana"])
    pg.fill("#purpose", "   ")
    pg.click("#signin")
    pg.wait_for_selector("#error:not([hidden])")
    assert pg.inner_text("#error") == "Say why you are signing in: the purpose is recorded with every action."
    assert sent == [] and pg.url.endswith("/login")
    assert pg.evaluate("sessionStorage.getItem('crimelens.session')") is None
