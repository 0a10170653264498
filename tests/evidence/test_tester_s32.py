"""What a property-room custodian found (tester s32): late custody entries, image modes, derivatives in
other cases, case times, self-transfers, API wording, derivative chronology, intake through a link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from typer.testing import CliRunner

from crimelens.api import create_app
from crimelens.cli import app
from crimelens.config import Settings
from crimelens.errors import InputError
from crimelens.evidence import FaceRedactor
from crimelens.governance import Actor, Role
from crimelens.services import Context, open_context
from crimelens.services import evidence as svc
from crimelens.services import governance as gs

T0 = datetime(2024, 5, 1, 12, 0, 54, tzinfo=UTC)
ACTOR = Actor("custodian")
runner = CliRunner()


def _minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def _checked_out_to_ruiz(ctx: Context, tmp_path: Path, case: str = "C1") -> str:
    """The tester's repro: taken in at 12:00:54 by the custodian, checked out to Det. Ruiz at 12:05."""
    p = tmp_path / f"{case}.txt"
    p.write_text(f"statement {case}")
    item = svc.add_evidence(ctx, p, case_id=case, actor=ACTOR, source="scene", received_at=T0)
    svc.record_custody(ctx, item.item_id, kind="check-out", to_party="Det. Ruiz", actor=ACTOR,
                       event_time=_minutes(4))
    return item.item_id


def _rows(ctx: Context, item_id: str) -> list[tuple[str, str, str]]:
    frame = ctx.store.query("SELECT kind, from_party, to_party FROM evidence_custody WHERE item_id = ? "
                            "ORDER BY event_time, event_id", [item_id])
    return [(str(r["kind"]), str(r["from_party"]), str(r["to_party"])) for r in frame.to_dict("records")]


# ------------------------------------------------------------------ 1. late (backdated) entries
def test_a_late_entry_that_would_break_the_chain_is_refused_naming_the_later_event(
        ctx: Context, tmp_path: Path) -> None:
    item = _checked_out_to_ruiz(ctx, tmp_path)
    # the custodian held it at 12:01; the refusal is no longer "Det. Ruiz holds it now"
    with pytest.raises(InputError) as exc:
        svc.record_custody(ctx, item, kind="transfer", from_party="custodian", to_party="Lab", actor=ACTOR,
                           event_time=_minutes(0.1))
    msg = str(exc.value)
    assert "'Det. Ruiz' holding" not in msg
    assert msg.startswith(
        f"custody transfer of {item} at 2024-05-01T12:01:00+00:00: recording it would break the chain after it: "
        "event 2 (check_out at 2024-05-01T12:04:54+00:00, given by 'custodian') would then follow a handover to "
        "'Lab' with nothing between them (holder_mismatch)")
    assert "--return-follows" in msg and "enter a check-in return first" in msg
    # without --from it was recorded as 'Det. Ruiz -> Lab' at 12:01, a handover that never happened
    with pytest.raises(InputError, match="would break the chain"):
        svc.record_custody(ctx, item, kind="transfer", to_party="Lab", actor=ACTOR, event_time=_minutes(0.1))
    assert _rows(ctx, item) == [("intake", "scene", "custodian"), ("check_out", "custodian", "Det. Ruiz")]
    refused = [e for _, e in ctx.ledger.entries(action="evidence.transfer")]
    assert [e.outcome for e in refused] == ["refused", "refused"]
    assert svc.verify_case(ctx, "C1", actor=ACTOR).ok


def test_a_late_transfer_from_who_did_not_hold_it_then_names_that_time(ctx: Context, tmp_path: Path) -> None:
    item = _checked_out_to_ruiz(ctx, tmp_path)
    with pytest.raises(InputError) as exc:
        svc.record_custody(ctx, item, kind="transfer", from_party="Det. Ruiz", to_party="Lab", actor=ACTOR,
                           event_time=_minutes(1))
    assert str(exc.value).startswith(
        f"custody transfer of {item}: got from 'Det. Ruiz', but the record shows 'custodian' holding the item at "
        "2024-05-01T12:01:54+00:00 (event 1, intake at 2024-05-01T12:00:54+00:00)")


def test_a_late_check_out_and_check_in_pair_entered_return_first_keeps_verify_clean(
        ctx: Context, tmp_path: Path) -> None:
    item = _checked_out_to_ruiz(ctx, tmp_path)
    # paper: out to the lab at 12:01, back at 12:02, both before the 12:05 check-out already recorded
    back = svc.record_custody(ctx, item, kind="check_in", from_party="Lab", to_party="custodian", actor=ACTOR,
                              event_time=_minutes(1.1))
    assert back.disagrees is None and back.holder == "Det. Ruiz"  # the check-in alone contradicts the record
    out = svc.record_custody(ctx, item, kind="check_out", to_party="Lab", actor=ACTOR, event_time=_minutes(0.1))
    # the default giver is the holder at 12:01 (the custodian), not today's holder
    assert out.from_party == "custodian" and out.gaps == () and out.holder == "Det. Ruiz"
    assert _rows(ctx, item) == [("intake", "scene", "custodian"), ("check_out", "custodian", "Lab"),
                                ("check_in", "Lab", "custodian"), ("check_out", "custodian", "Det. Ruiz")]
    result = svc.verify_case(ctx, "C1", actor=ACTOR)
    assert result.ok, (result.gaps, result.mismatches)


def test_a_late_transfer_pair_entered_in_time_order_with_return_follows(ctx: Context, tmp_path: Path) -> None:
    item = _checked_out_to_ruiz(ctx, tmp_path)
    away = svc.record_custody(ctx, item, kind="transfer", from_party="custodian", to_party="Lab", actor=ACTOR,
                              event_time=_minutes(0.1), return_follows=True)
    assert away.disagrees == {"event_id": 2, "kind": "check_out", "from": "custodian",
                              "event_time": "2024-05-01T12:04:54+00:00", "holder_then": "Lab",
                              "gaps": ["holder_mismatch"]}
    assert [(g.kind, g.event_id) for g in away.gaps] == [("holder_mismatch", 2)]
    _, entry = ctx.ledger.entries(action="evidence.transfer")[-1]
    assert entry.outcome == "ok" and entry.detail["return_follows"] is True
    assert entry.detail["disagrees"]["event_id"] == 2 and entry.detail["n_later_events"] == 1
    assert not svc.verify_case(ctx, "C1", actor=ACTOR).ok  # until the return is entered
    ret = svc.record_custody(ctx, item, kind="transfer", to_party="custodian", actor=ACTOR,
                             event_time=_minutes(1.1))
    assert ret.from_party == "Lab" and ret.gaps == () and ret.disagrees is None
    result = svc.verify_case(ctx, "C1", actor=ACTOR)
    assert result.ok, (result.gaps, result.mismatches)


def test_the_cli_refuses_the_backdated_transfer_and_records_it_with_return_follows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_USER", "root")
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    db = str(tmp_path / "c.duckdb")
    f = tmp_path / "x.txt"
    f.write_text("x")
    now = datetime.now(UTC).replace(microsecond=0)
    added = runner.invoke(app, ["evidence", "add", str(f), "--case", "E1", "--source", "scene", "--at",
                                (now - timedelta(minutes=5)).isoformat(), "--db", db, "--json"])
    item = json.loads(added.stdout)["item_id"]
    assert runner.invoke(app, ["evidence", "transfer", item, "--kind", "check-out", "--to", "Det. Ruiz",
                               "--db", db]).exit_code == 0
    late = (now - timedelta(minutes=4)).isoformat()
    refused = runner.invoke(app, ["evidence", "transfer", item, "--kind", "transfer", "--from", "root", "--to", "Lab",
                                  "--at", late, "--db", db])
    assert isinstance(refused.exception, InputError) and "would break the chain" in str(refused.exception)
    ok = runner.invoke(app, ["evidence", "transfer", item, "--kind", "transfer", "--from", "root", "--to", "Lab",
                             "--at", late, "--return-follows", "--db", db])
    assert ok.exit_code == 0, ok.output
    assert "now disagrees" in ok.output and "event 2 (check_out" in ok.output


# ------------------------------------------------------------------ 2. image modes
def _gradient(h: int = 60, w: int = 80) -> NDArray[np.uint8]:
    y, x = np.mgrid[0:h, 0:w]
    return np.asarray((x * 3 + y * 2) % 256, dtype=np.uint8)


def _read(path: Path) -> NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return np.asarray(image, dtype=np.uint8)


def test_an_rgba_png_keeps_its_alpha_and_every_pixel_when_no_face_is_found(tmp_path: Path) -> None:
    g = _gradient()
    bgra = np.dstack([g, 255 - g, g // 2, np.where(g > 100, 255, 0).astype(np.uint8)])
    src, dst = tmp_path / "t.png", tmp_path / "t.public.png"
    cv2.imwrite(str(src), bgra)
    log = FaceRedactor().redact_image_file(src, dst)
    assert log.redacted_boxes == ()
    out = _read(dst)
    assert out.shape == bgra.shape and np.array_equal(out, bgra)


def test_a_greyscale_png_stays_greyscale_and_unchanged(tmp_path: Path) -> None:
    g = _gradient()
    src, dst = tmp_path / "g.png", tmp_path / "g.public.png"
    cv2.imwrite(str(src), g)
    FaceRedactor().redact_image_file(src, dst)
    out = _read(dst)
    assert out.ndim == 2 and np.array_equal(out, g)


def test_faces_in_an_rgba_image_are_blurred_in_colour_and_alpha_is_kept(tmp_path: Path) -> None:
    data = pytest.importorskip("skimage.data")
    rgb = data.astronaut()
    alpha = np.full(rgb.shape[:2], 200, dtype=np.uint8)
    bgra = np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), alpha])
    src, dst = tmp_path / "a.png", tmp_path / "a.public.png"
    cv2.imwrite(str(src), bgra)
    log = FaceRedactor().redact_image_file(src, dst)
    (box,) = log.redacted_boxes
    out = _read(dst)
    assert out.shape == bgra.shape and np.array_equal(out[:, :, 3], alpha)
    x, y, w, h = box
    inside = np.zeros(rgb.shape[:2], dtype=bool)
    inside[y:y + h, x:x + w] = True
    assert np.array_equal(out[~inside], bgra[~inside])
    assert (out[inside][:, :3] != bgra[inside][:, :3]).any(axis=1).mean() > 0.9


# ------------------------------------------------------------------ 3. derivatives in other cases
def test_show_lists_a_derivative_filed_in_another_case(ctx: Context, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("original")
    b.write_text("transcript")
    parent = svc.add_evidence(ctx, a, case_id="E1", actor=ACTOR, source="scene")
    child = svc.add_evidence(ctx, b, case_id="E2", actor=ACTOR, source="lab", parent_item_id=parent.item_id,
                             derivation="transcript", tool="whisper.cpp", tool_version="1.7.2")
    report = svc.item_report(ctx, parent.item_id)
    assert report["derivatives"] == [child.item_id]
    assert report["derivative_items"] == [{"item_id": child.item_id, "case_id": "E2", "derivation": "transcript"}]


# ------------------------------------------------------------------ 4. case times
def test_cases_gives_times_with_their_offset_in_iso_8601(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_USER", "custodian")
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    db = str(tmp_path / "c.duckdb")
    f = tmp_path / "x.txt"
    f.write_text("x")
    assert runner.invoke(app, ["evidence", "add", str(f), "--case", "E1", "--source", "s", "--at",
                               "2025-01-01T00:00:00Z", "--db", db]).exit_code == 0
    data = json.loads(runner.invoke(app, ["evidence", "cases", "--db", db, "--json"]).stdout)
    (row,) = data["cases"]
    first = datetime.fromisoformat(row["first_added_at"])
    assert "T" in row["first_added_at"] and first.utcoffset() is not None
    assert first == datetime(2025, 1, 1, tzinfo=UTC)
    shown = runner.invoke(app, ["evidence", "cases", "--db", db], env={"COLUMNS": "200"}).output
    assert row["first_added_at"] in shown


# ------------------------------------------------------------------ 5. small ones
def test_parties_are_trimmed_and_a_self_transfer_is_refused(ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C5", actor=ACTOR, source="s", received_at=T0)
    rec = svc.record_custody(ctx, item.item_id, kind="transfer", to_party="  Det.  Ruiz ", actor=ACTOR,
                             event_time=_minutes(1))
    assert rec.to_party == "Det. Ruiz" and rec.holder == "Det. Ruiz"
    with pytest.raises(InputError, match="the same party"):
        svc.record_custody(ctx, item.item_id, kind="transfer", from_party="  det. RUIZ ", to_party="Det. Ruiz",
                           actor=ACTOR, event_time=_minutes(2))
    assert _rows(ctx, item.item_id)[-1] == ("transfer", "custodian", "Det. Ruiz")
    assert svc.verify_case(ctx, "C5", actor=ACTOR).ok


@pytest.mark.parametrize(("kind", "to", "minutes", "message"), [
    # a check-out to the holder itself (before: recorded, a handover that never happened)
    ("check_out", " CUSTODIAN ", 1, r"custody check-out of .*the same party"),
    # an event dated before the intake (before: recorded, and only verify reported event_before_intake)
    ("transfer", "Lab", -30, r"before the item's intake \(event 1 at 2024-05-01T12:00:54\+00:00\)"),
])
def test_a_custody_event_that_could_not_have_happened_is_refused_and_nothing_stored(
        ctx: Context, tmp_path: Path, kind: str, to: str, minutes: float, message: str) -> None:
    p = tmp_path / "a.txt"
    p.write_text("a")
    item = svc.add_evidence(ctx, p, case_id="C7", actor=ACTOR, source="s", received_at=T0)
    with pytest.raises(InputError, match=message):
        svc.record_custody(ctx, item.item_id, kind=kind, to_party=to, actor=ACTOR, event_time=_minutes(minutes))
    assert [r[0] for r in _rows(ctx, item.item_id)] == ["intake"]
    svc.record_custody(ctx, item.item_id, kind=kind, to_party="Lab", actor=ACTOR, event_time=_minutes(2))
    assert svc.verify_case(ctx, "C7", actor=ACTOR).ok


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = tmp_path / "api.duckdb"
    admin = Actor("ada", Role.ADMIN)
    with open_context(Settings(db=db)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=admin)
        token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
    web = create_app(Settings(db=db))
    with TestClient(web, base_url="http://127.0.0.1") as c:
        yield c, {"Authorization": f"Bearer {token}", "X-Purpose": "case work"}
    web.state.close()


def test_a_future_time_refused_over_the_api_does_not_offer_cli_options(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    r = client.post("/api/evidence/cases/C6/items", params={"source": "s", "filename": "a.txt"}, content=b"a",
                    headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    item = r.json()["item_id"]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = client.post(f"/api/evidence/items/{item}/custody", json={"kind": "transfer", "to": "Lab", "at": future},
                    headers=headers)
    assert r.status_code == 422, r.text
    msg = r.json()["error"]
    assert "got a time to come" in msg and "a caller cannot widen it" in msg
    assert "--clock-allowance-s" not in msg and "CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S" not in msg
    r = client.post("/api/evidence/cases/C6/items", params={"source": "s", "filename": "b.txt",
                                                           "received_at": future},
                    content=b"b", headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 422 and "--clock-allowance-s" not in r.json()["error"]


def test_a_derivative_received_before_its_parent_is_a_chronology_note(ctx: Context, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("original")
    b.write_text("frame")
    parent = svc.add_evidence(ctx, a, case_id="C7", actor=ACTOR, source="scene", received_at=T0)
    child = svc.add_evidence(ctx, b, case_id="C7", actor=ACTOR, source="lab", parent_item_id=parent.item_id,
                             derivation="frame", tool="ffmpeg", tool_version="6.1", received_at=_minutes(-60))
    result = svc.verify_case(ctx, "C7", actor=ACTOR)
    assert any(n.startswith(f"{child.item_id} (a frame of {parent.item_id}) was received at "
                            "2024-05-01T11:00:54+00:00, before its parent's intake at 2024-05-01T12:00:54+00:00")
               for n in result.notes), result.notes


def test_a_file_taken_in_through_a_link_is_noted_in_the_record(ctx: Context, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("notes")
    link = tmp_path / "link_to_notes.txt"
    link.symlink_to(target.name)
    item = svc.add_evidence(ctx, link, case_id="C8", actor=ACTOR, source="share")
    (intake,) = svc.item_report(ctx, item.item_id)["custody"]
    assert intake["reason"] == "intake; read through the link 'link_to_notes.txt' -> 'notes.txt'"
    _, entry = ctx.ledger.entries(action="evidence.add")[-1]
    assert entry.detail["link_target"] == "notes.txt"
    assert svc.verify_case(ctx, "C8", actor=ACTOR).ok
