"""Custody events replay into a holder; a missing event shows as a gap."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from crimelens.errors import InputError, InvalidParameterError, NotFoundError
from crimelens.evidence import CustodyEvent, find_custody_gaps
from crimelens.governance import Actor
from crimelens.services import Context
from crimelens.services import evidence as svc

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ACTOR = Actor("custodian")


def _ev(kind: str, frm: str | None, to: str, hours: float, eid: int) -> CustodyEvent:
    return CustodyEvent("E1", kind, frm, to, T0 + timedelta(hours=hours), event_id=eid)


def test_consistent_record_has_no_gaps_and_tracks_the_holder() -> None:
    state = find_custody_gaps("E1", [
        _ev("intake", "scene", "custodian", 0, 1),
        _ev("check_out", "custodian", "lab", 1, 2),
        _ev("transfer", "lab", "court clerk", 2, 3),
        _ev("check_in", "court clerk", "custodian", 3, 4),
    ])
    assert state.gaps == () and state.holder == "custodian" and not state.is_checked_out


@pytest.mark.parametrize(("events", "kinds"), [
    # a transfer lab -> court is missing before the court checks it in
    ([("intake", "scene", "custodian", 0), ("check_out", "custodian", "lab", 1),
      ("check_in", "court", "custodian", 2)], ["holder_mismatch"]),
    # checked in without being checked out
    ([("intake", "scene", "custodian", 0), ("check_in", "custodian", "custodian", 1)],
     ["check_in_without_check_out"]),
    # checked out twice
    ([("intake", "scene", "custodian", 0), ("check_out", "custodian", "lab", 1),
      ("check_out", "lab", "court", 2)], ["check_out_while_out"]),
    # handled before it was taken in: the intake exists, the event is dated before it
    ([("transfer", "scene", "custodian", -1), ("intake", "scene", "custodian", 0)], ["event_before_intake"]),
    # handled, never taken in
    ([("transfer", "scene", "custodian", 1), ("check_out", "custodian", "lab", 2)], ["no_intake"]),
    # two intakes
    ([("intake", "scene", "custodian", 0), ("intake", "scene", "custodian", 1)], ["duplicate_intake"]),
])
def test_each_kind_of_gap_is_reported(events: list[tuple[str, str, str, float]], kinds: list[str]) -> None:
    evs = [_ev(k, f, t, h, i) for i, (k, f, t, h) in enumerate(events, start=1)]
    assert sorted(g.kind for g in find_custody_gaps("E1", evs).gaps) == sorted(kinds)


def test_an_event_moved_before_the_intake_is_named_with_both_times_not_called_intake_less() -> None:
    # a check-out whose stored time was moved back before the intake (the tester's t2): the item has an
    # intake, so "comes before any intake" would be false; the gap says what is found
    state = find_custody_gaps("E1", [
        _ev("intake", "scene", "custodian", 0, 1),
        _ev("check_out", "custodian", "lab", -72, 2),
    ])
    (gap,) = state.gaps
    assert gap.kind == "event_before_intake" and gap.event_id == 2
    assert gap.message == ("event 2 (check_out) is dated 2024-04-28T09:00:00+00:00, earlier than the intake "
                           "(event 1) at 2024-05-01T09:00:00+00:00")


def test_events_are_replayed_in_time_order_not_entry_order() -> None:
    evs = [_ev("intake", "scene", "custodian", 0, 1), _ev("check_in", "lab", "custodian", 3, 2),
           _ev("check_out", "custodian", "lab", 1, 3)]
    assert find_custody_gaps("E1", evs).gaps == ()


def test_service_records_events_in_the_ledger_and_verify_reports_a_missing_transfer(
        ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "bwc.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    item = svc.add_evidence(ctx, p, case_id="JA200001", actor=ACTOR, source="BWC dock 3",
                            received_at=T0, location="property room")
    out = svc.record_custody(ctx, item.item_id, kind="check-out", to_party="Det. Ruiz", actor=ACTOR,
                             reason="review", location="Area 4", event_time=T0 + timedelta(hours=1))
    assert out.from_party == "custodian" and out.holder == "Det. Ruiz" and out.gaps == ()
    assert svc.verify_case(ctx, "JA200001", actor=ACTOR).ok

    # Ruiz handed it to the state's attorney, but nobody recorded that; the SA checks it in
    back = svc.record_custody(ctx, item.item_id, kind="check-in", from_party="ASA Chen", to_party="custodian",
                              actor=ACTOR, event_time=T0 + timedelta(hours=5))
    assert [g.kind for g in back.gaps] == ["holder_mismatch"]
    result = svc.verify_case(ctx, "JA200001", actor=ACTOR)
    assert not result.ok and result.failed_items == []  # the content is intact ...
    (gap,) = result.gaps                                    # ... the custody record is not
    assert gap.item_id == item.item_id and "'Det. Ruiz' -> 'ASA Chen' is missing" in gap.message

    entries = [e for _, e in ctx.ledger.entries()]
    custody = [e for e in entries if e.action in ("evidence.check_out", "evidence.check_in")]
    assert [(e.detail["from"], e.detail["to"]) for e in custody] == [
        ("custodian", "Det. Ruiz"), ("ASA Chen", "custodian")]
    assert all(e.detail["item_id"] == item.item_id and e.data_hash == item.sha256 for e in custody)

    report = svc.item_report(ctx, item.item_id)
    assert [e["kind"] for e in report["custody"]] == ["intake", "check_out", "check_in"]
    assert report["holder"] == "custodian" and len(report["gaps"]) == 1


def test_custody_rows_without_ledger_entries_are_reported(ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C9", actor=ACTOR, source="s")
    # a row written behind the service's back, pointing at a ledger entry that is not about it
    ctx.store.execute(
        "INSERT INTO evidence_custody VALUES (99, ?, 'transfer', 'custodian', 'x', ?, NULL, NULL, ?, 'y', 12345)",
        [item.item_id, T0 + timedelta(days=400), T0])
    kinds = {g.kind for g in svc.verify_case(ctx, "C9", actor=ACTOR).gaps}
    assert "ledger_missing" in kinds


def test_bad_custody_kind_is_refused(ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C10", actor=ACTOR, source="s")
    with pytest.raises(InvalidParameterError, match="check_out"):
        svc.record_custody(ctx, item.item_id, kind="borrow", to_party="x", actor=ACTOR)


def test_a_time_to_come_or_an_empty_giver_is_refused_logged_and_nothing_is_recorded(
        ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C11", actor=ACTOR, source="s")
    entries, rows = ctx.ledger.size(), ctx.store.scalar("SELECT count(*) FROM evidence_custody")
    now = datetime.now(UTC)
    with pytest.raises(InvalidParameterError, match="got a time to come"):
        svc.record_custody(ctx, item.item_id, kind="transfer", to_party="Det. Ruiz", actor=ACTOR,
                           event_time=now + timedelta(days=3 * 365))
    with pytest.raises(InputError, match="empty 'from' party"):
        svc.record_custody(ctx, item.item_id, kind="transfer", from_party=" ", to_party="Det. Ruiz", actor=ACTOR)
    later = tmp_path / "b.txt"
    later.write_text("b")
    with pytest.raises(InvalidParameterError, match="got a time to come"):
        svc.add_evidence(ctx, later, case_id="C11", actor=ACTOR, source="s", received_at=now + timedelta(hours=1))
    # nothing recorded, but each refusal is one ledger entry of its action, with the reason
    refused = [e for _, e in ctx.ledger.entries(from_seq=entries)]
    assert [(e.action, e.outcome) for e in refused] == [
        ("evidence.transfer", "refused"), ("evidence.transfer", "refused"), ("evidence.add", "refused")]
    assert "got a time to come" in refused[0].detail["reason"] and "empty 'from'" in refused[1].detail["reason"]
    assert refused[0].detail["item_id"] == item.item_id and refused[1].detail["asked"]["from"] == " "
    assert ctx.store.scalar("SELECT count(*) FROM evidence_custody") == rows
    stored = {f.name for f in Path(str(ctx.store.path) + ".evidence").rglob("*") if f.is_file()}
    assert len(stored) == 1  # only a.txt's content: b.txt's was not kept
    # a clock a minute ahead, or a handover stated in the past, is recorded
    ahead = svc.record_custody(ctx, item.item_id, kind="transfer", to_party="Det. Ruiz", actor=ACTOR,
                               event_time=now + timedelta(minutes=1))
    assert ahead.holder == "Det. Ruiz"


def test_a_larger_clock_allowance_takes_a_clock_further_ahead_and_is_recorded(tmp_path: Path) -> None:
    from crimelens.config import Settings
    from crimelens.services import open_context

    with open_context(Settings(db=tmp_path / "a.duckdb", custody_clock_allowance_s=3600)) as ctx:
        now = datetime.now(UTC)
        p = tmp_path / "bwc.txt"
        p.write_text("dock export")
        # a body-worn camera dock whose clock runs 30 minutes ahead: refused at the default 300 s ...
        with pytest.raises(InvalidParameterError, match="the clock allowance is 300 s"):
            svc.add_evidence(ctx, p, case_id="C12", actor=ACTOR, source="dock", clock_allowance=300,
                             received_at=now + timedelta(minutes=30))
        # ... taken with the configured 3600 s, which the intake's ledger entry records
        item = svc.add_evidence(ctx, p, case_id="C12", actor=ACTOR, source="dock",
                                received_at=now + timedelta(minutes=30))
        (intake,) = [e for _, e in ctx.ledger.entries(action="evidence.add") if e.outcome == "ok"]
        assert intake.detail["clock_allowance_s"] == 3600
        rec = svc.record_custody(ctx, item.item_id, kind="transfer", to_party="Det. Ruiz", actor=ACTOR,
                                 event_time=now + timedelta(minutes=59))
        assert rec.clock_allowance_s == 3600 and rec.to_json()["clock_allowance_s"] == 3600
        (moved,) = [e for _, e in ctx.ledger.entries(action="evidence.transfer") if e.outcome == "ok"]
        assert moved.detail["clock_allowance_s"] == 3600
        # two hours ahead is outside it: refused, saying by how much and what the allowance is
        with pytest.raises(InvalidParameterError) as exc:
            svc.record_custody(ctx, item.item_id, kind="transfer", to_party="ASA Chen", actor=ACTOR,
                               event_time=now + timedelta(hours=2))
        assert "got a time to come (7" in str(exc.value) and "the clock allowance is 3600 s" in str(exc.value)
        assert "--clock-allowance-s" in str(exc.value)
        # an override for one call wins over the setting
        with pytest.raises(InvalidParameterError, match="the clock allowance is 60 s"):
            svc.record_custody(ctx, item.item_id, kind="transfer", to_party="ASA Chen", actor=ACTOR,
                               event_time=now + timedelta(minutes=5), clock_allowance=60)
        assert ctx.store.scalar("SELECT count(*) FROM evidence_custody") == 2


@pytest.mark.parametrize("bad", [-1, 86_401, 10 * 365 * 86_400])
def test_a_negative_or_more_than_a_day_clock_allowance_is_refused(ctx: Context, tmp_path: Path, bad: int) -> None:
    from pydantic import ValidationError

    from crimelens.config import Settings

    with pytest.raises(ValidationError, match="custody_clock_allowance_s"):
        Settings(db=tmp_path / "x.duckdb", custody_clock_allowance_s=bad)
    p = tmp_path / "a.txt"
    p.write_text("a")
    message = f"clock allowance: got {bad} s; expected 0 to 86400 s (one day)"
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        svc.add_evidence(ctx, p, case_id="C13", actor=ACTOR, source="s", clock_allowance=bad)
    assert ctx.store.scalar("SELECT count(*) FROM evidence_items") == 0
    assert [f for f in svc.evidence_dir(ctx).rglob("*") if f.is_file()] == []
    item = svc.add_evidence(ctx, p, case_id="C13", actor=ACTOR, source="s")
    with pytest.raises(InvalidParameterError, match="expected 0 to 86400 s"):
        svc.record_custody(ctx, item.item_id, kind="transfer", to_party="x", actor=ACTOR, clock_allowance=bad)
    assert ctx.store.scalar("SELECT count(*) FROM evidence_custody") == 1
    # the ends of the range are allowed
    assert Settings(custody_clock_allowance_s=0).custody_clock_allowance_s == 0
    assert svc.clock_allowance_s(ctx, 86_400) == 86_400
    assert Settings().custody_clock_allowance_s == svc.DEFAULT_CLOCK_ALLOWANCE_S == 300


def test_concurrent_custody_calls_form_one_chain_in_time_order(ctx: Context, tmp_path: Path) -> None:
    # 20 transfers and 6 check-outs at once, none naming the giver: each must be given by the holder the
    # record shows when it is written, and event ids must follow the event times
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C20", actor=ACTOR, source="s")
    errors: list[BaseException] = []

    def move(i: int) -> None:
        try:
            svc.record_custody(ctx, item.item_id, kind="transfer" if i % 4 else "check_out",
                               to_party=f"Person {i}", actor=ACTOR, reason="concurrent")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    custody = svc.item_report(ctx, item.item_id)["custody"]
    assert len(custody) == 25
    assert [e["event_id"] for e in custody] == sorted(e["event_id"] for e in custody)
    assert all(b["from"] == a["to"] for a, b in pairwise(custody)), custody
    result = svc.verify_case(ctx, "C20", actor=ACTOR)
    assert not [g for g in result.gaps if g.kind == "holder_mismatch"] and result.mismatches == ()


def test_a_transfer_from_someone_who_no_longer_holds_the_item_is_refused_and_logged(
        ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C21", actor=ACTOR, source="s", received_at=T0)
    svc.record_custody(ctx, item.item_id, kind="transfer", from_party="custodian", to_party="Det. Ruiz",
                       actor=ACTOR, event_time=T0 + timedelta(hours=1))
    # a second caller who still believes the custodian holds it (two clients racing, or a stale screen)
    with pytest.raises(InputError) as exc:
        svc.record_custody(ctx, item.item_id, kind="transfer", from_party="custodian", to_party="ASA Chen",
                           actor=ACTOR, event_time=T0 + timedelta(hours=2))
    assert str(exc.value).startswith(
        f"custody transfer of {item.item_id}: got from 'custodian', but the record shows 'Det. Ruiz' holding the "
        f"item now (event 2, transfer at 2024-05-01T10:00:00+00:00); expected the holder of record as the giver")
    _, refused = ctx.ledger.entries(action="evidence.transfer")[-1]
    assert refused.outcome == "refused" and refused.detail["reason"] == str(exc.value)
    assert ctx.store.scalar("SELECT count(*) FROM evidence_custody") == 2
    # names compare as the replay compares them; a check-in is recorded as stated, with its gap
    same = svc.record_custody(ctx, item.item_id, kind="transfer", from_party=" det. ruiz ", to_party="ASA Chen",
                              actor=ACTOR, event_time=T0 + timedelta(hours=3))
    assert same.holder == "ASA Chen" and same.gaps == ()
    back = svc.record_custody(ctx, item.item_id, kind="check_in", from_party="officer Park", to_party="custodian",
                              actor=ACTOR, event_time=T0 + timedelta(hours=4))
    assert [g.kind for g in back.gaps] == ["holder_mismatch", "check_in_without_check_out"]


@pytest.mark.parametrize(("call", "action", "error"), [
    (lambda ctx: svc.record_custody(ctx, "EV999999", kind="transfer", to_party="x", actor=ACTOR),
     "evidence.transfer", "evidence item 'EV999999': not found"),
    (lambda ctx: svc.record_custody(ctx, "EV000001", kind="borrow", to_party="x", actor=ACTOR),
     "evidence.custody", "custody event kind: got 'borrow'"),
    (lambda ctx: svc.record_custody(ctx, "EV000001", kind="check-in", to_party=" ", actor=ACTOR),
     "evidence.check_in", "got an empty 'to' party"),
    (lambda ctx: svc.record_custody(ctx, "EV000001", kind="transfer", to_party="x", actor=ACTOR,
                                    event_time="2024-01-01T10:00:00"),
     "evidence.transfer", "without a UTC offset"),
    (lambda ctx: svc.record_custody(ctx, "EV000001", kind="transfer", to_party="x", actor=ACTOR,
                                    event_time=datetime(2024, 1, 1, 10)),
     "evidence.transfer", "got a naive time"),
    (lambda ctx: svc.show_item(ctx, "EV999999", actor=ACTOR), "evidence.show", "'EV999999': not found"),
    (lambda ctx: svc.show_case(ctx, "NOPE", actor=ACTOR), "evidence.show", "case 'NOPE': no evidence items"),
    (lambda ctx: svc.verify_case(ctx, "NOPE", actor=ACTOR), "evidence.verify", "case 'NOPE': no evidence items"),
    (lambda ctx: svc.open_content(ctx, "EV999999", actor=ACTOR), "evidence.download", "'EV999999': not found"),
    (lambda ctx: svc.add_evidence(ctx, Path(str(ctx.store.path) + ".txt"), case_id="C1", actor=ACTOR, source=" "),
     "evidence.add", "got an empty source"),
    (lambda ctx: svc.add_evidence(ctx, Path(str(ctx.store.path) + ".txt"), case_id="C1", actor=ACTOR, source="s",
                                  received_at="yesterday"),
     "evidence.add", "got 'yesterday'; expected an ISO-8601 time"),
])
def test_every_refused_call_is_one_ledger_entry_with_its_reason(
        ctx: Context, tmp_path: Path, call: Any, action: str, error: str) -> None:
    p = Path(str(ctx.store.path) + ".txt")
    p.write_text("a")
    svc.add_evidence(ctx, p, case_id="C1", actor=ACTOR, source="s")
    before = ctx.ledger.size()
    with pytest.raises((InputError, NotFoundError)) as exc:
        call(ctx)
    assert error in str(exc.value)
    ((_, entry),) = ctx.ledger.entries(from_seq=before)
    assert (entry.action, entry.outcome, entry.user) == (action, "refused", "custodian")
    assert entry.detail["reason"] == str(exc.value) and entry.detail["error"] == type(exc.value).__name__
