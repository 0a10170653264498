"""verify cross-checks every stored evidence row with the ledger entry behind it.

Each store is built through the service in tmp_path (case C1: two items, a check-out, a transfer and
a check-in of the first), then changed behind the service's back with the duckdb module, as someone
with write access to the file could: the ledger still holds what happened.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import Settings
from crimelens.governance import Actor, LedgerEntry
from crimelens.services import evidence as svc
from crimelens.services import open_context
from crimelens.services.evidence import CaseVerification

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ACTOR = Actor("custodian")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Case C1: EV000001 (events 1 intake, 3 check-out, 4 transfer, 5 check-in) and EV000002 (event 2)."""
    path = tmp_path / "c1.duckdb"
    (tmp_path / "bwc_0412.txt").write_text("body-worn camera 0412, export of 2024-05-01\n")
    (tmp_path / "témoin_déclaration_ü.txt").write_text("déclaration du témoin\n")
    with open_context(Settings(db=path, progress=False)) as ctx:
        first = svc.add_evidence(ctx, tmp_path / "bwc_0412.txt", case_id="C1", actor=ACTOR, source="BWC dock 3",
                                 received_at=T0, location="property room B", description="stop of 1 May")
        svc.add_evidence(ctx, tmp_path / "témoin_déclaration_ü.txt", case_id="C1", actor=ACTOR, source="witness",
                         received_at=T0 + timedelta(minutes=5))
        for hours, kind, to, reason in ((1, "check_out", "Det. Ruiz", "review"), (2, "transfer", "ASA Chen", "charging"),
                                        (3, "check_in", "custodian", None)):
            svc.record_custody(ctx, first.item_id, kind=kind, to_party=to, actor=ACTOR, reason=reason,
                               event_time=T0 + timedelta(hours=hours))
        assert svc.verify_case(ctx, "C1", actor=ACTOR).ok
    return path


def _tamper(db: Path, *sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()


def _verify(db: Path, case: str = "C1") -> CaseVerification:
    with open_context(Settings(db=db, progress=False)) as ctx:
        return svc.verify_case(ctx, case, actor=ACTOR)


def _found(result: CaseVerification) -> set[tuple[Any, ...]]:
    return {(m.kind, m.item_id, m.event_id, m.field, m.store_value, m.ledger_value) for m in result.mismatches}


def test_the_untouched_case_verifies_with_nothing_left_unchecked(db: Path) -> None:
    result = _verify(db)
    assert result.ok and result.mismatches == () and result.notes == ()


def test_a_changed_receiver_and_giver_are_named_with_both_values(db: Path) -> None:
    # t1: Det. Ruiz -> Det. Smith -> custodian in the store, while the ledger says ASA Chen took it
    _tamper(db, "UPDATE evidence_custody SET to_party = 'Det. Smith' WHERE event_id = 4",
            "UPDATE evidence_custody SET from_party = 'Det. Smith' WHERE event_id = 5")
    result = _verify(db)
    assert not result.ok and result.failed_items == []  # the bytes are intact; the record is not
    assert _found(result) == {("ledger_mismatch", "EV000001", 4, "to_party", "Det. Smith", "ASA Chen"),
                              ("ledger_mismatch", "EV000001", 5, "from_party", "Det. Smith", "ASA Chen")}
    (m4,) = [m for m in result.mismatches if m.event_id == 4]
    assert m4.ledger_seq == 3 and m4.message == ("event 4 (transfer of EV000001): to_party is 'Det. Smith' in the "
                                                 "store; ledger entry 3 records 'ASA Chen'")
    assert {(g.kind, g.event_id) for g in result.gaps} == {("ledger_mismatch", 4), ("ledger_mismatch", 5)}
    runner = CliRunner()
    out = runner.invoke(app, ["evidence", "verify", "C1", "--db", str(db), "--json"])
    assert out.exit_code == 4, out.output
    report = json.loads(out.stdout)
    assert report["ok"] is False and {(m["event_id"], m["field"], m["store_value"], m["ledger_value"])
                                      for m in report["ledger_mismatches"]} == {
        (4, "to_party", "Det. Smith", "ASA Chen"), (5, "from_party", "Det. Smith", "ASA Chen")}


@pytest.mark.parametrize(("sql", "expected"), [
    # t3: reason and location of the transfer
    ("UPDATE evidence_custody SET reason = 'lab', location = 'Lab 2' WHERE event_id = 4",
     {("ledger_mismatch", "EV000001", 4, "reason", "lab", "charging"),
      ("ledger_mismatch", "EV000001", 4, "location", "Lab 2", None)}),
    # a handover moved in time, and one given another kind
    ("UPDATE evidence_custody SET event_time = TIMESTAMPTZ '2024-04-28 09:00:00+00' WHERE event_id = 3",
     {("ledger_mismatch", "EV000001", 3, "event_time", datetime(2024, 4, 28, 9, tzinfo=UTC),
       (T0 + timedelta(hours=1)).isoformat())}),
    ("UPDATE evidence_custody SET kind = 'check_out' WHERE event_id = 4",
     {("ledger_wrong_entry", "EV000001", 4, "ledger_seq", 3,
       f"evidence.transfer of EV000001 ('Det. Ruiz' -> 'ASA Chen' at {(T0 + timedelta(hours=2)).isoformat()})"),
      ("row_missing", "EV000001", 4, "custody row", None, None)}),
    # the intake: who brought it, when, and the event's id
    ("UPDATE evidence_custody SET from_party = 'scene', event_time = TIMESTAMPTZ '2024-04-30 09:00:00+00', "
     "event_id = 9 WHERE event_id = 2",
     {("ledger_mismatch", "EV000002", 9, "from_party", "scene", "witness"),
      ("ledger_mismatch", "EV000002", 9, "event_time", datetime(2024, 4, 30, 9, tzinfo=UTC),
       (T0 + timedelta(minutes=5)).isoformat()),
      ("ledger_mismatch", "EV000002", 9, "event_id", 9, 2)}),
])
def test_each_changed_custody_field_is_reported(db: Path, sql: str, expected: set[tuple[Any, ...]]) -> None:
    _tamper(db, sql)
    result = _verify(db)
    assert not result.ok and _found(result) == expected


def test_a_deleted_transfer_with_the_chain_rejoined_is_found_from_the_ledger(db: Path) -> None:
    # t5: the transfer row goes, the check-in's giver is changed so that the chain still joins up
    _tamper(db, "DELETE FROM evidence_custody WHERE event_id = 4",
            "UPDATE evidence_custody SET from_party = 'Det. Ruiz' WHERE event_id = 5")
    result = _verify(db)
    assert not any(g.kind == "holder_mismatch" for g in result.gaps)  # the replay alone sees nothing
    assert _found(result) == {("ledger_mismatch", "EV000001", 5, "from_party", "Det. Ruiz", "ASA Chen"),
                              ("row_missing", "EV000001", 4, "custody row", None, None)}
    (lost,) = [m for m in result.mismatches if m.kind == "row_missing"]
    assert lost.ledger_seq == 3 and "evidence.transfer of EV000001 ('Det. Ruiz' -> 'ASA Chen'" in lost.message


def test_rows_re_pointed_at_other_entries_are_reported(db: Path) -> None:
    # t11: the check-out and the transfer swap entries; the check-in points at the intake's evidence.add
    _tamper(db, "UPDATE evidence_custody SET ledger_seq = 3 WHERE event_id = 3",
            "UPDATE evidence_custody SET ledger_seq = 2 WHERE event_id = 4",
            "UPDATE evidence_custody SET ledger_seq = 0 WHERE event_id = 5")
    result = _verify(db)
    wrong = {(m.event_id, m.ledger_seq) for m in result.mismatches if m.kind == "ledger_wrong_entry"}
    lost = {m.ledger_seq for m in result.mismatches if m.kind == "row_missing"}
    assert wrong == {(3, 3), (4, 2), (5, 0)} and lost == {2, 3, 4}
    (at_intake,) = [m for m in result.mismatches if m.event_id == 5 and m.kind == "ledger_wrong_entry"]
    assert "points at ledger entry 0, which records evidence.add of EV000001" in at_intake.message


def test_a_second_row_on_one_entry_is_reported(db: Path) -> None:
    _tamper(db, "INSERT INTO evidence_custody SELECT 6, item_id, kind, from_party, to_party, event_time, reason, "
                "location, recorded_at, recorded_by, ledger_seq FROM evidence_custody WHERE event_id = 4")
    result = _verify(db)
    assert ("ledger_shared_entry", "EV000001", 6, "ledger_seq", None, None) in _found(result)


def test_an_item_moved_out_of_the_case_or_renamed_is_reported(db: Path) -> None:
    # t6: n_items stays 2; the moved item fails in both cases
    _tamper(db, "UPDATE evidence_items SET case_id = 'C2' WHERE item_id = 'EV000002'",
            "UPDATE evidence_items SET original_name = 'innocent.txt', source = 'defence' WHERE item_id = 'EV000001'")
    result = _verify(db)
    assert len(result.items) == 2 and result.failed_items == ["EV000001", "EV000002"]
    assert _found(result) == {("ledger_mismatch", "EV000002", None, "case_id", "C2", "C1"),
                              ("ledger_mismatch", "EV000001", None, "original_name", "innocent.txt", "bwc_0412.txt"),
                              ("ledger_mismatch", "EV000001", None, "source", "defence", "BWC dock 3")}
    assert "item EV000002: case_id is 'C2' in the store; ledger entry 1 records 'C1'" in result.items[1].problems
    other = _verify(db, "C2")
    assert not other.ok and other.failed_items == ["EV000002"]


@pytest.mark.parametrize(("sql", "field", "store_value"), [
    ("UPDATE evidence_items SET description = 'a different story' WHERE item_id = 'EV000001'",
     "description_sha256", hashlib.sha256(b"a different story").hexdigest()),
    ("UPDATE evidence_items SET added_at = TIMESTAMPTZ '2024-04-01 09:00:00+00' WHERE item_id = 'EV000001'",
     "added_at", datetime(2024, 4, 1, 9, tzinfo=UTC)),
    ("UPDATE evidence_items SET added_by = 'someone else' WHERE item_id = 'EV000001'", "added_by", "someone else"),
    ("UPDATE evidence_items SET mime_type = 'video/mp4', size_bytes = 7 WHERE item_id = 'EV000001'",
     "mime_type", "video/mp4"),
])
def test_each_changed_item_field_is_reported(db: Path, sql: str, field: str, store_value: object) -> None:
    _tamper(db, sql)
    result = _verify(db)
    assert result.failed_items == ["EV000001"]
    assert any(m.field == field and m.store_value == store_value and m.event_id is None for m in result.mismatches)


def test_a_deleted_item_and_its_custody_still_fail_the_case(db: Path) -> None:
    # t7
    _tamper(db, "DELETE FROM evidence_custody WHERE item_id = 'EV000002'",
            "DELETE FROM evidence_items WHERE item_id = 'EV000002'")
    result = _verify(db)
    assert not result.ok and result.failed_items == ["EV000002"] and len(result.items) == 2
    assert {(m.kind, m.field, m.ledger_seq) for m in result.mismatches} == {
        ("row_missing", "item row", 1), ("row_missing", "custody row", 1)}
    assert "the store has no row for the item" in result.items[1].problems[0]
    # with every item gone, the case still fails rather than "not found"
    _tamper(db, "DELETE FROM evidence_custody", "DELETE FROM evidence_items")
    gone = _verify(db)
    assert not gone.ok and gone.failed_items == ["EV000001", "EV000002"]


def test_entries_written_before_the_ledger_recorded_every_field_are_named_in_notes(tmp_path: Path) -> None:
    """An intake and a transfer as the earlier code logged them (no intake time, description, event id)."""
    db = tmp_path / "old.duckdb"
    with open_context(Settings(db=db, progress=False)) as ctx:
        (tmp_path / "a.txt").write_text("a")
        new = svc.add_evidence(ctx, tmp_path / "a.txt", case_id="C1", actor=ACTOR, source="scene", received_at=T0)
        sha = new.sha256
        old_add = {"item_id": "EV000002", "case_id": "C1", "size_bytes": 1, "mime_type": "text/plain",
                   "source": "scene", "original_name": "a.txt", "derivation": None, "parent_item_id": None,
                   "parent_sha256": None, "location": None, "clock_allowance_s": 300}
        add_seq = ctx.ledger.append(LedgerEntry(action="evidence.add", user="custodian", role="analyst",
                                                purpose="research", data_hash=sha, output_hash=sha, detail=old_add))
        old_move = {"item_id": "EV000002", "case_id": "C1", "from": "custodian", "to": "Det. Ruiz",
                    "event_time": (T0 + timedelta(hours=1)).isoformat(), "reason": None, "location": None,
                    "clock_allowance_s": 300}
        move_seq = ctx.ledger.append(LedgerEntry(action="evidence.transfer", user="custodian", role="analyst",
                                                 purpose="research", data_hash=sha, detail=old_move))
        ctx.store.execute("INSERT INTO evidence_items SELECT 'EV000002', case_id, sha256, size_bytes, mime_type, "
                          "original_name, source, NULL, added_at, added_by, NULL, NULL, NULL, NULL, NULL, NULL, ? "
                          "FROM evidence_items WHERE item_id = 'EV000001'", [add_seq])
        for values in ([2, "intake", "scene", "custodian", T0, "intake", add_seq],
                       [3, "transfer", "custodian", "Det. Ruiz", T0 + timedelta(hours=1), None, move_seq]):
            ctx.store.execute("INSERT INTO evidence_custody VALUES (?, 'EV000002', ?, ?, ?, ?, ?, NULL, ?, "
                              "'custodian', ?)", [*values[:6], T0, values[6]])
        result = svc.verify_case(ctx, "C1", actor=ACTOR)
        assert result.ok, result.to_json()
        assert result.notes == (
            "intake time, description and intake event id of EV000002 not cross-checked: their evidence.add "
            "entries were written before the ledger recorded them (the item row's time is compared with its "
            "intake row's instead)",
            "event ids of custody events 3 not cross-checked: their entries were written before the ledger "
            "recorded them (the rows are matched to their entries by ledger_seq)")
        # what those entries do record is still cross-checked
        ctx.store.execute("UPDATE evidence_custody SET to_party = 'Det. Smith' WHERE event_id = 3")
        ctx.store.execute("UPDATE evidence_items SET added_at = ? WHERE item_id = 'EV000002'",
                          [T0 - timedelta(days=1)])
        changed = svc.verify_case(ctx, "C1", actor=ACTOR)
    assert _found(changed) == {("ledger_mismatch", "EV000002", 3, "to_party", "Det. Smith", "Det. Ruiz")}
    assert changed.failed_items == ["EV000002"] and "its intake custody event 2 is dated" in \
        changed.items[1].problems[0]
