"""The evidence and redact commands, through the real CLI app on a tmp store."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.errors import InputError
from crimelens.evidence import generate_narratives

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRIMELENS_USER", "custodian")
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    return tmp_path


def _json(args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _statement(env: Path) -> tuple[str, Path, dict[str, object]]:
    """A store with one witness statement taken in for case JA1: (db, the file, the intake)."""
    db = str(env / "c.duckdb")
    f = env / "statement.txt"
    f.write_text("I saw the red car at 10pm.\n")
    return db, f, _json(["evidence", "add", str(f), "--case", "JA1", "--source", "witness",
                         "--at", "2024-05-01T09:00:00Z", "--db", db])


def test_add_transfer_verify_show(env: Path) -> None:
    db, _, added = _statement(env)
    item = str(added["item_id"])
    assert added["sha256"] and added["mime_type"] == "text/plain" and added["same_content_as"] == []
    out = _json(["evidence", "transfer", item, "--kind", "check-out", "--to", "lab", "--reason", "prints",
                 "--location", "Area 4", "--at", "2024-05-02T10:00:00Z", "--db", db])
    assert out["from_party"] == "custodian" and out["gaps"] == []
    assert _json(["evidence", "verify", "JA1", "--db", db])["ok"] is True

    shown = _json(["evidence", "show", item, "--db", db])
    assert [e["kind"] for e in shown["custody"]] == ["intake", "check_out"]  # type: ignore[index]
    assert shown["checked_out"] is True and shown["holder"] == "lab"
    listed = _json(["evidence", "show", "JA1", "--case", "--db", db])
    assert [i["item_id"] for i in listed["items"]] == [item]  # type: ignore[union-attr,index]

    # a check-in by someone who never received it: a gap, exit code 4 from verify
    _json(["evidence", "transfer", item, "--kind", "check-in", "--from", "court", "--to", "custodian",
           "--at", "2024-05-03T10:00:00Z", "--db", db])
    failed = _json(["evidence", "verify", "JA1", "--db", db], code=4)
    assert failed["ok"] is False and failed["gaps"][0]["kind"] == "holder_mismatch"  # type: ignore[index]

    # one changed byte in the stored copy: verify names the item
    content = env / "c.duckdb.evidence" / "sha256" / str(added["sha256"])[:2] / str(added["sha256"])[2:]
    content.chmod(stat.S_IRUSR | stat.S_IWUSR)
    original = content.read_bytes()
    content.write_bytes(original[:-1] + b"!")
    failed = _json(["evidence", "verify", "JA1", "--db", db], code=4)
    assert failed["failed_items"] == [item]


def test_the_same_bytes_registered_again_are_named(env: Path) -> None:
    db, f, added = _statement(env)
    item = str(added["item_id"])
    assert added["same_content_as"] == []
    # the same bytes registered again in the case: both items stay, the output and the ledger say so
    again = runner.invoke(app, ["evidence", "add", str(f), "--case", "JA1", "--source", "witness copy", "--db", db])
    assert again.exit_code == 0, again.output
    assert f"the case already holds these exact bytes as {item}" in " ".join(again.output.split())
    copy = _json(["evidence", "add", str(f), "--case", "JA1", "--source", "third", "--db", db])
    assert len(copy["same_content_as"]) == 2 and copy["same_content_as"][0] == item  # type: ignore[arg-type,index]
    other_case = _json(["evidence", "add", str(f), "--case", "JA2", "--source", "witness", "--db", db])
    assert other_case["same_content_as"] == []  # only within one case
    from crimelens.storage import DuckDBStore

    with DuckDBStore.open(Path(db)) as store:
        details = [json.loads(p)["detail"] for p in store.query(
            "SELECT payload FROM ledger WHERE action = 'evidence.add' ORDER BY seq")["payload"]]
    assert [d.get("same_content_as") for d in details] == [None, [item], copy["same_content_as"], None]
    db = str(env / "fresh.duckdb")


def test_cases_and_export_are_logged_and_export_is_the_original(env: Path) -> None:
    db = str(env / "c.duckdb")
    f = env / "photo.jpg"
    f.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    item = str(_json(["evidence", "add", str(f), "--case", "JA2", "--source", "scene", "--db", db])["item_id"])
    (env / "log.csv").write_text("time,event\n10:00,call\n")
    _json(["evidence", "add", str(env / "log.csv"), "--case", "JA3", "--source", "CAD export", "--db", db])
    listed: Any = _json(["evidence", "cases", "--db", db])
    cases = {c["case_id"]: c for c in listed["cases"]}
    assert set(cases) == {"JA2", "JA3"} and cases["JA2"]["n_items"] == 1
    assert cases["JA2"]["size_bytes"] == f.stat().st_size and isinstance(cases["JA2"]["size_bytes"], int)
    out = env / "copy" / "photo.jpg"
    got = _json(["evidence", "export", item, "--out", str(out), "--db", db])
    shown: Any = _json(["evidence", "show", item, "--db", db])
    assert out.read_bytes() == f.read_bytes() and got["sha256"] == shown["item"]["sha256"]
    # never overwrites a file
    result = runner.invoke(app, ["evidence", "export", item, "--out", str(out), "--db", db])
    assert isinstance(result.exception, InputError) and "exists" in str(result.exception)
    entries = json.loads(runner.invoke(app, ["ledger", "list", "--db", db, "--json"]).stdout)
    assert {"evidence.list", "evidence.download", "evidence.show"} <= {e["action"] for e in entries}


def test_redact_text_jsonl_review_and_release(env: Path) -> None:
    db = str(env / "r.duckdb")
    docs = generate_narratives(6, random_state=5)
    src = env / "n.jsonl"
    src.write_text("".join(json.dumps({"report_id": d.report_id, "text": d.text}) + "\n" for d in docs))
    out = env / "o.jsonl"
    run = _json(["redact", "text", str(src), "--out", str(out), "--ner", "none", "--mode", "pseudonym",
                 "--db", db])
    assert run["n_units"] == 6 and run["status"] == "pending_review"
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert all({"report_id", "text", "entities", "redacted"} <= set(r) for r in rows)
    assert all(set(e) >= {"start", "end", "type"} for r in rows for e in r["entities"])
    assert "[PERSON_1]" in rows[0]["redacted"]

    queue = _json(["redact", "review", str(run["run_id"]), "--pending", "--db", db])
    assert len(queue["items"]) == 6  # type: ignore[arg-type]
    # a decision without --unit, or undoing a detection the item does not have, is refused, not dropped
    first: Any = queue["items"][0]  # type: ignore[index]
    idxs = [x["idx"] for x in first["detections"]]
    lost = runner.invoke(app, ["redact", "review", str(run["run_id"]), "--status", "corrected", "--remove", "0",
                               "--db", db])
    assert isinstance(lost.exception, InputError) and "--status, --remove without --unit" in str(lost.exception)
    wrong = runner.invoke(app, ["redact", "review", str(run["run_id"]), "--unit", first["unit"], "--status",
                                "corrected", "--remove", "999", "--db", db])
    assert isinstance(wrong.exception, InputError)
    assert f"--remove [999]: no such detection; expected one of the item's detections {idxs}" in str(wrong.exception)
    assert len(_json(["redact", "review", str(run["run_id"]), "--pending", "--db", db])["items"]) == 6  # type: ignore[arg-type]
    refused = runner.invoke(app, ["redact", "release", str(run["run_id"]), "--in", str(src), "--out",
                                  str(env / "rel.jsonl"), "--db", db])
    assert refused.exit_code != 0
    for d in docs:
        _json(["redact", "review", str(run["run_id"]), "--unit", d.report_id, "--status", "confirmed",
               "--db", db])
    rel = _json(["redact", "release", str(run["run_id"]), "--in", str(src), "--out", str(env / "rel.jsonl"),
                 "--db", db])
    assert rel["status"] == "released"
    assert "text" not in json.loads((env / "rel.jsonl").read_text().splitlines()[0])


def test_redact_image_cli(env: Path) -> None:
    data = pytest.importorskip("skimage.data")
    import cv2

    db = str(env / "i.duckdb")
    src = env / "astronaut.png"
    cv2.imwrite(str(src), data.astronaut()[:, :, ::-1])
    _json(["evidence", "add", str(src), "--case", "P1", "--source", "NASA press photo", "--db", db])
    run = _json(["redact", "image", str(src), "--out", str(env / "pub.png"), "--case", "P1", "--db", db])
    assert run["n_detections"] == 1 and (env / "pub.png").is_file()
    shown = _json(["evidence", "show", str(run["output_item_id"]), "--db", db])
    original = _json(["evidence", "show", str(run["source_item_id"]), "--db", db])
    assert shown["original_sha256"] == original["item"]["sha256"]  # type: ignore[index]


def test_redact_video_cli_writes_a_frame_log(env: Path) -> None:
    import cv2
    import numpy as np

    src = env / "clip.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(12):
        writer.write(np.full((120, 160, 3), 40 + 10 * i, np.uint8))
    writer.release()
    run = _json(["redact", "video", str(src), "--out", str(env / "clip.pub.avi"), "--review-every", "5",
                 "--db", str(env / "v.duckdb")])
    log = Path(str(run["frame_log"])).read_text().splitlines()
    assert len(log) == run["n_units"] == 12
    assert run["n_detections"] == 0 and run["n_review"] == 4  # frames 0, 5, 10 and the last


def _ledger(db: str, action: str) -> list[Any]:
    from crimelens.config import Settings
    from crimelens.services import open_context

    with open_context(Settings(db=Path(db))) as ctx:
        return [e for _, e in ctx.ledger.entries(action=action)]


def test_an_empty_file_is_refused_and_logged_unless_taken_in_on_purpose(env: Path) -> None:
    from crimelens.services.evidence import EMPTY_SHA256

    db = str(env / "e.duckdb")
    f = env / "rms_export.csv"
    f.write_bytes(b"")  # what a failed copy or export leaves
    refused = runner.invoke(app, ["evidence", "add", str(f), "--case", "JA7", "--source", "RMS export",
                                  "--db", db, "--json"])
    assert isinstance(refused.exception, InputError), refused.output
    message = str(refused.exception)
    assert message.startswith(f"evidence add {f}: got 0 bytes (an empty file; SHA-256 {EMPTY_SHA256}")
    assert "expected the item's contents" in message and "--allow-empty" in message
    # nothing stored: no item, no content; the refusal is in the ledger
    assert _json(["evidence", "cases", "--db", db])["cases"] == []
    assert [p for p in (env / "e.duckdb.evidence").rglob("*") if p.is_file()] == []
    (entry,) = _ledger(db, "evidence.add")
    assert entry.outcome == "refused" and entry.data_hash == EMPTY_SHA256
    assert entry.detail["case_id"] == "JA7" and entry.detail["size_bytes"] == 0
    assert entry.detail["reason"] == message

    # taken in on purpose: recorded as such in the output, the custody record and the ledger
    added = _json(["evidence", "add", str(f), "--case", "JA7", "--source", "RMS export", "--allow-empty",
                   "--db", db])
    assert added["size_bytes"] == 0 and added["sha256"] == EMPTY_SHA256 and added["deliberately_empty"] is True
    shown: Any = _json(["evidence", "show", str(added["item_id"]), "--db", db])
    assert shown["custody"][0]["reason"] == "intake; deliberately taken in empty (0 bytes, allow_empty)"
    ok = _ledger(db, "evidence.add")[-1]
    assert ok.outcome == "ok" and ok.detail["deliberately_empty"] is True
    # a file with content is taken in as before, with no such note
    g = env / "statement.txt"
    g.write_text("x")
    normal = _json(["evidence", "add", str(g), "--case", "JA7", "--source", "witness", "--db", db])
    assert normal["deliberately_empty"] is False and "deliberately_empty" not in _ledger(db, "evidence.add")[-1].detail


def test_the_clock_allowance_is_an_option_and_is_recorded(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    from crimelens.errors import InvalidParameterError

    db, _, added = _statement(env)
    item = str(added["item_id"])
    assert added["clock_allowance_s"] == 300
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    transfer = ["evidence", "transfer", item, "--to", "Det. Ruiz", "--db", db]

    # 30 minutes ahead: past the default 300 s, inside 3600 s
    default = runner.invoke(app, [*transfer, "--at", soon])
    assert isinstance(default.exception, InvalidParameterError), default.output
    assert "got a time to come" in str(default.exception) and "the clock allowance is 300 s" in str(default.exception)
    out = _json([*transfer, "--at", soon, "--clock-allowance-s", "3600"])
    assert out["clock_allowance_s"] == 3600 and out["holder"] == "Det. Ruiz"
    assert _ledger(db, "evidence.transfer")[-1].detail["clock_allowance_s"] == 3600
    # two hours ahead is outside 3600 s
    outside = runner.invoke(app, [*transfer, "--at", later, "--clock-allowance-s", "3600"])
    assert "the clock allowance is 3600 s" in str(outside.exception), outside.output

    # negative, or more than a day: refused before anything is recorded
    for bad in ("-1", "86401"):
        r = runner.invoke(app, [*transfer, "--clock-allowance-s", bad])
        assert isinstance(r.exception, InvalidParameterError), r.output
        assert f"clock allowance: got {bad} s; expected 0 to 86400 s" in str(r.exception)
    r = runner.invoke(app, ["evidence", "add", str(env / "statement.txt"), "--case", "JA1", "--source", "w",
                            "--clock-allowance-s", "-1", "--db", db])
    assert isinstance(r.exception, InvalidParameterError)
    # ... and logged: each refusal is a refused entry of its action, with the reason
    transfers, adds = _ledger(db, "evidence.transfer"), _ledger(db, "evidence.add")
    assert [e.outcome for e in transfers] == ["refused", "ok", "refused", "refused", "refused"]
    assert [e.outcome for e in adds] == ["ok", "refused"]
    assert "clock allowance: got -1 s" in adds[-1].detail["reason"]

    # the setting is the default the option overrides
    monkeypatch.setenv("CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S", "3600")
    # (to someone else: Det. Ruiz holds it, and a transfer to its holder is refused)
    assert _json(["evidence", "transfer", item, "--to", "ASA Chen", "--db", db, "--at", soon])[
        "clock_allowance_s"] == 3600


def test_refused_transfers_and_lookups_on_the_command_line_are_ledger_entries(env: Path) -> None:
    db, _, added = _statement(env)
    item = str(added["item_id"])
    asks = [
        (["evidence", "transfer", item, "--kind", "transfer", "--to", "ASA Chen", "--at", "2030-01-01T00:00:00Z"],
         2, "evidence.transfer", "got a time to come"),
        (["evidence", "transfer", item, "--to", ""], 2, "evidence.transfer", "empty 'to' party"),
        (["evidence", "transfer", item, "--to", "x", "--at", "2024-05-02T10:00:00"], 2, "evidence.transfer",
         "without a UTC offset"),
        (["evidence", "transfer", item, "--kind", "borrow", "--to", "x"], 2, "evidence.custody", "got 'borrow'"),
        (["evidence", "transfer", "EV999999", "--to", "x"], 1, "evidence.transfer", "'EV999999': not found"),
        (["evidence", "show", "EV999999"], 1, "evidence.show", "'EV999999': not found"),
        (["evidence", "verify", "NOPE"], 1, "evidence.verify", "case 'NOPE'"),
        (["evidence", "add", str(env / "statement.txt"), "--case", "JA1", "--source", "w", "--at", "soon"], 2,
         "evidence.add", "got 'soon'"),
    ]
    for args, code, action, why in asks:
        result = runner.invoke(app, [*args, "--db", db])
        # the real entry point exits with the error's code (CliRunner leaves the exception to us)
        assert getattr(result.exception, "exit_code", None) == code and why in str(result.exception), args
        last = _ledger(db, action)[-1]
        assert last.outcome == "refused" and last.detail["reason"] == str(result.exception), args
    shown: Any = _json(["evidence", "show", item, "--db", db])
    assert [e["kind"] for e in shown["custody"]] == ["intake"]
