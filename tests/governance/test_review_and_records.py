"""Human review (two-person rule), users and tokens, cards, datasheets, AIA scoring, complaints, annual report."""

from __future__ import annotations

import pytest

from crimelens.domain._time import as_utc
from crimelens.errors import (
    ApprovalRequiredError,
    InputError,
    InvalidParameterError,
    PermissionDeniedError,
)
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS, assess
from crimelens.governance._cards import CARD_SECTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, record_use
from tests.conftest import shared
from tests.governance.conftest import (
    EVALUATION,
    LOW_RISK,
    Clock,
    People,
    propose,
    register,
    to_active,
)


def _recommend(ctx: Context, people: People) -> str:
    seq = record_use(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning",
                     deployment="hotspots", output_hash="aa" * 32)
    return f"r{seq}"


def test_single_reviewer_decides_with_a_reason(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    item = _recommend(ctx, people)
    with pytest.raises(ApprovalRequiredError, match="reason"):
        gs.decide_review(ctx, item_id=item, decision="accept", reason=" ", actor=people.sup1)
    with pytest.raises(PermissionDeniedError):
        gs.decide_review(ctx, item_id=item, decision="accept", reason="fine", actor=people.analyst)
    out = gs.decide_review(ctx, item_id=item, decision="override", reason="cell 12 is a stadium event",
                           replacement={"drop_cells": [12]}, actor=people.sup1)
    assert out.status == "overridden" and out.decisions_needed == 1
    with pytest.raises(ApprovalRequiredError, match="already overridden"):
        gs.decide_review(ctx, item_id=item, decision="accept", reason="late", actor=people.sup2)


def test_two_person_rule_needs_two_different_supervisors_who_agree(ctx: Context, people: People, clock: Clock) -> None:
    policy = UsePolicy(allowed_purposes=("patrol planning",), actionable_actions=("forecast.run",), two_person_rule=True)
    to_active(ctx, people, clock, policy=policy)
    item = _recommend(ctx, people)
    first = gs.decide_review(ctx, item_id=item, decision="reject", reason="stale data", actor=people.sup1)
    assert first.status == "pending" and first.decisions_needed == 2
    with pytest.raises(ApprovalRequiredError, match="someone else"):
        gs.decide_review(ctx, item_id=item, decision="reject", reason="again", actor=people.sup1)
    second = gs.decide_review(ctx, item_id=item, decision="reject", reason="agree: stale", actor=people.sup2)
    assert second.status == "rejected"
    decided = gs.review_queue(ctx, actor=people.auditor, status="rejected")
    assert [d["reviewer"] for d in decided[0]["decisions"]] == ["sam", "sue"]


def test_reviewer_cannot_review_their_own_recommendation(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    seq = record_use(ctx, action="forecast.run", actor=people.sup1, purpose="patrol planning", deployment="hotspots")
    with pytest.raises(ApprovalRequiredError, match="may not review it"):
        gs.decide_review(ctx, item_id=f"r{seq}", decision="accept", reason="mine", actor=people.sup1)


def test_tokens_are_stored_hashed_and_identify_their_user(ctx: Context, people: People) -> None:
    token = people.tokens["ana"]
    assert token.startswith("clk_")
    stored = ctx.store.scalar("SELECT token_sha256 FROM users WHERE name = 'ana'")
    assert token not in str(list(ctx.store.iter_rows("SELECT * FROM users")))
    assert len(stored) == 64
    assert gs.identify(ctx, token) == Actor("ana", Role.ANALYST)
    new = gs.rotate_token(ctx, name="ana", actor=people.admin)
    with pytest.raises(PermissionDeniedError):
        gs.identify(ctx, token)
    assert ctx.ledger.entries()[-1][1].action == "users.authenticate"
    assert gs.identify(ctx, new).user == "ana"
    gs.disable_user(ctx, name="ana", actor=people.admin)
    with pytest.raises(PermissionDeniedError):
        gs.identify(ctx, new)


def test_first_user_must_be_admin_and_later_ones_need_an_admin(ctx: Context) -> None:
    with pytest.raises(InputError, match="first user must be an administrator"):
        gs.add_user(ctx, name="ana", role="analyst", actor=Actor("root", Role.ADMIN))
    gs.add_user(ctx, name="root", role="admin", actor=Actor("root", Role.ADMIN))
    with pytest.raises(PermissionDeniedError):
        gs.add_user(ctx, name="eve", role="admin", actor=Actor("eve", Role.ANALYST))
    with pytest.raises(PermissionDeniedError, match="not a registered user"):
        gs.add_user(ctx, name="eve", role="admin", actor=Actor("mallory", Role.ADMIN))


def test_model_card_has_all_nine_sections_from_measured_numbers(ctx: Context, people: People) -> None:
    register(ctx, people)
    card = gs.model_card(ctx, name="KDEHotspot", version="1.0", actor=people.auditor)
    md, html = card.to_markdown(), card.to_html()
    for i, (_, title) in enumerate(CARD_SECTIONS, start=1):
        assert f"## {i}. {title}" in md
        assert f"{i}. {title}" in html
    assert "| A | 0.33 | 1200 |" in md and "0.28" in html
    assert card.missing_sections() == []
    bare = gs.register_model(ctx, name="KDEHotspot", version="1.1", params={}, evaluation=EVALUATION,
                             actor=people.analyst)
    assert bare.missing_sections() == ["intended_use", "factors", "ethical_considerations", "caveats"]
    assert "<script>" not in gs.describe_model(ctx, name="KDEHotspot", version="1.1",
                                               sections={"caveats": "<script>x</script>"},
                                               actor=people.analyst).to_html()


def test_datasheet_counts_come_from_the_store(ctx: Context, people: People) -> None:
    from crimelens.services.ingest import ingest_file

    summary = ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=people.analyst,
                          dataset="sf_robbery")
    sheet = gs.write_datasheet(ctx, dataset="sf_robbery", answers={"recording": "reported by victims"},
                               actor=people.analyst)
    n = ctx.store.scalar("SELECT count(*) FROM incidents WHERE dataset = 'sf_robbery'")
    assert sheet.measured["incidents"] == n == 951
    assert sheet.measured["files"][0]["landed"] == n
    assert summary is not None
    assert "reported by victims" in sheet.to_markdown() and "Known enforcement bias" in sheet.to_html()
    assert "enforcement_bias" in sheet.missing()


def test_aia_scoring_follows_canadas_rule() -> None:
    low = assess(LOW_RISK)
    assert low.level == "I"
    risk_max = sum(max(q.choices.values()) for q in AIA_QUESTIONS if q.kind == "risk")
    # all risk at maximum, no mitigation: 100 % -> IV
    worst = {q.qid: (max(q.choices, key=q.choices.__getitem__) if q.kind == "risk" else "no") for q in AIA_QUESTIONS}
    r = assess(worst)
    assert (r.raw_score, r.max_raw_score, r.level, r.mitigation_applied) == (risk_max, risk_max, "IV", False)
    # full mitigation takes 15 % off: 100 % -> 85 %, still IV; a 60 % raw score drops to 51 % (III)
    best_mit = {**worst, **{q.qid: max(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS
                            if q.kind == "mitigation"}}
    assert assess(best_mit).score_pct == pytest.approx(85.0)
    assert assess(best_mit).required_controls[-1] == "board_unanimity"
    with pytest.raises(InputError, match="unanswered"):
        assess({"subject": "places"})


def test_complaints_link_to_ledger_entries_and_report_counts_them(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    item = _recommend(ctx, people)
    seq = int(item[1:])
    gs.decide_review(ctx, item_id=item, decision="override", reason="local knowledge", replacement={"x": 1},
                     actor=people.sup1)
    out = gs.file_complaint(ctx, body="Patrols doubled on my block", entry_seqs=[seq], deployment="hotspots",
                            actor=people.public)
    with pytest.raises(InputError, match="do not exist"):
        gs.file_complaint(ctx, body="?", entry_seqs=[10**6], actor=people.public)
    # under a mistyped deployment it would reach no list of that deployment's complaints
    refused_before = len([e for e in gs.ledger_entries(ctx, actor=people.auditor, action="complaints.file",
                                                       limit=None) if e["outcome"] == "refused"])
    with pytest.raises(InputError, match=r"deployment 'hotspot' does not exist; expected one of \['hotspots'\]"):
        gs.file_complaint(ctx, body="Why here?", deployment="hotspot", actor=people.public)
    refused = [e for e in gs.ledger_entries(ctx, actor=people.auditor, action="complaints.file", limit=None)
               if e["outcome"] == "refused"]
    assert len(refused) == refused_before + 1 and "hotspot" in refused[-1]["detail"]["reason"]
    gs.respond_complaint(ctx, complaint_id=out["complaint_id"], response="Reviewed; see entry.", actor=people.board[0])
    record_use(ctx, action="forecast.share", actor=people.analyst, purpose="patrol planning", deployment="hotspots",
               detail={"recipient": "district-3"})
    gs.report_incident(ctx, kind="error", severity="low", description="typo", deployment="hotspots",
                       actor=people.analyst)
    report = gs.annual_report(ctx, year=2026, actor=people.public)
    d = report.data
    assert d["complaints"] == {"filed": 1, "by_deployment": {"hotspots": 1}, "answered": 1}
    assert d["review_decisions"] == {"override": 1}
    assert d["overrides_by_deployment"] == {"hotspots": 1}
    assert d["sharing"] == [{"deployment": "hotspots", "recipient": "district-3", "n": 1}]
    assert {"deployment": "hotspots", "purpose": "patrol planning", "action": "forecast.run", "n": 1} in d["uses"]
    assert [e["to"] for e in d["deployment_events"]] == ["draft", "public_comment", "board_review", "approved", "active"]
    assert d["entries"]["refused"] == 2  # the complaints about a non-existent entry and deployment
    assert d["ledger_head"]["tree_size"] == ctx.ledger.size() - 1
    assert "Annual report 2026" in report.html and "district-3" in report.html
    # recomputed from the ledger: an entry added later shows up when the report is made again
    record_use(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")
    again = gs.annual_report(ctx, year=2026, actor=people.public).data
    assert {"deployment": "hotspots", "purpose": "patrol planning", "action": "forecast.run", "n": 2} in again["uses"]
    assert gs.annual_report(ctx, year=2025, actor=people.public).data["entries"]["total"] == 0


def test_report_states_the_period_it_covers_and_refuses_a_year_not_begun(ctx: Context, people: People,
                                                                        clock: Clock) -> None:
    record_use(ctx, action="forecast.run", actor=people.analyst, purpose="research")
    now = gs.annual_report(ctx, year=2026, actor=people.public)  # the clock reads 2 March 2026
    assert now.data["covers"] == {"start": "2026-01-01", "end": "2026-03-02T09:00:00+00:00", "complete": False}
    assert "the year is not over" in now.html
    past = gs.annual_report(ctx, year=2025, actor=people.public)
    assert past.data["covers"] == {"start": "2025-01-01", "end": "2025-12-31", "complete": True}
    assert "the year is not over" not in past.html
    before = ctx.ledger.size()
    for year in (2027, 1999, 0):
        with pytest.raises(InvalidParameterError, match=f"year {year}; expected a year that has begun, from 2000 to 2026"):
            gs.annual_report(ctx, year=year, actor=people.public)
    assert ctx.ledger.size() == before  # nothing to log: no report was made
    clock.advance(days=400)  # in 2027, the 2026 report is whole
    assert gs.annual_report(ctx, year=2026, actor=people.public).data["covers"]["complete"] is True


def test_report_counts_comments_by_stage(ctx: Context, people: People, clock: Clock) -> None:
    propose(ctx, people)
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    for body in ("Will this send more patrols to my street?", "Publish the hit rate per district."):
        gs.comment(ctx, deployment="hotspots", body=body, actor=people.public)
    clock.advance(days=31)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.board_comment(ctx, deployment="hotspots", body="Show the exposure audit.", actor=people.board[0])
    for member in people.board:
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=member, reason="test vote")
    gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    gs.activate(ctx, deployment="hotspots", actor=people.admin)
    gs.open_renewal(ctx, deployment="hotspots", actor=people.sup1)
    gs.comment(ctx, deployment="hotspots", body="Renew only with the audit.", actor=people.public)
    with pytest.raises(ApprovalRequiredError, match="empty comment"):  # refused comments are not counted
        gs.comment(ctx, deployment="hotspots", body=" ", actor=people.public)
    report = gs.annual_report(ctx, year=2026, actor=people.public)
    assert report.data["comments"] == [{"deployment": "hotspots", "public": 2, "renewal": 1, "board": 1}]
    assert "public comments on a renewal" in report.html


def test_ledger_list_shows_the_newest_entries_or_a_stretch_by_number_or_time(ctx: Context, people: People,
                                                                            clock: Clock) -> None:
    first = ctx.ledger.size()  # the staff's registrations
    for day in range(10):  # one use a day from 2 March 2026
        record_use(ctx, action="forecast.run", actor=people.analyst, purpose="research", detail={"day": day})
        clock.advance(days=1)
    runs = [e for e in gs.ledger_entries(ctx, actor=people.auditor, limit=None) if e["action"] == "forecast.run"]
    assert [e["detail"]["day"] for e in runs] == list(range(10))
    newest = gs.ledger_entries(ctx, actor=people.auditor, action="forecast.run", limit=3)
    assert [e["detail"]["day"] for e in newest] == [7, 8, 9]  # the last three, oldest first
    stretch = gs.ledger_entries(ctx, actor=people.auditor, limit=2, from_seq=runs[4]["seq"])
    assert [e["seq"] for e in stretch] == [runs[4]["seq"], runs[4]["seq"] + 1]
    week = gs.ledger_entries(ctx, actor=people.auditor, action="forecast.run", limit=None,
                             since=as_utc("2026-03-04"), until=as_utc("2026-03-07"))
    assert [e["detail"]["day"] for e in week] == [2, 3, 4]
    listed = gs.ledger_entries(ctx, actor=people.auditor, action="ledger.list", limit=1)[0]
    assert listed["detail"]["since"] == "2026-03-04T00:00:00+00:00" and listed["detail"]["n"] == 3
    before = ctx.ledger.size()
    for bad, match in [({"limit": 0}, "limit 0; expected 1 or more"), ({"limit": -5}, "limit -5"),
                       ({"from_seq": -1}, "from -1; expected a sequence number"),
                       ({"since": as_utc("2026-03-07"), "until": as_utc("2026-03-04")}, "is not after since")]:
        with pytest.raises(InvalidParameterError, match=match):
            gs.ledger_entries(ctx, actor=people.auditor, **bad)  # type: ignore[arg-type]
    assert ctx.ledger.size() == before and first < before
