"""The governance commands through the real CLI entry point, on a store in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crimelens.cli import main
from crimelens.governance._merkle import verify_consistency, verify_inclusion
from tests.conftest import run_json
from tests.governance.conftest import CARD_TEXT, EVALUATION, LOW_RISK

run = run_json
def test_lifecycle_proofs_report_and_tamper(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    # the whole path in one go: comment period of 0 days, quorum of 1 (only under the demo setting)
    monkeypatch.setenv("CRIMELENS_GOVERNANCE_DEMO", "1")
    db = ["--db", str(tmp_path / "c.duckdb")]
    code, root = run(capsys, "users", "add", "root", "--role", "admin", "--as", "root", *db)
    assert code == 0 and root["token"].startswith("clk_")
    for name, role in [("ana", "analyst"), ("sam", "supervisor"), ("bea", "board")]:
        assert run(capsys, "users", "add", name, "--role", role, "--as", "root", *db)[0] == 0
    code, users = run(capsys, "users", "list", "--as", "root", *db)
    assert {u["name"]: u["role"] for u in users} == {"ana": "analyst", "bea": "board", "root": "admin", "sam": "supervisor"}
    assert "token" not in json.dumps(users).replace("token_id", "")

    (tmp_path / "eval.json").write_text(json.dumps(EVALUATION))
    (tmp_path / "card.json").write_text(json.dumps(CARD_TEXT))
    (tmp_path / "aia.json").write_text(json.dumps(LOW_RISK))
    (tmp_path / "policy.toml").write_text(
        '[policy]\nallowed_purposes = ["patrol planning"]\nmin_comment_days = 0\nboard_quorum = 1\n'
        'actionable_actions = ["forecast.run"]\n')
    assert run(capsys, "models", "register", "KDEHotspot", "1.0", "--evaluation", str(tmp_path / "eval.json"),
               "--as", "ana", *db)[0] == 0
    assert run(capsys, "models", "describe", "KDEHotspot", "1.0", "--from", str(tmp_path / "card.json"),
               "--as", "ana", *db)[1]["missing"] == []
    code, card = run(capsys, "models", "card", "KDEHotspot", "--as", "bea", *db)
    assert code == 0 and set(card["sections"]) >= {"model_details", "quantitative_analyses", "caveats"}

    assert run(capsys, "deployments", "create", "hot", "--model", "KDEHotspot", "--version", "1.0",
               "--description", "patrol planning", "--policy", str(tmp_path / "policy.toml"), "--as", "ana", *db)[0] == 0
    # illegal: activate a draft -> refused with exit code 3 and a JSON error
    code, err = run(capsys, "deployments", "activate", "hot", "--as", "root", *db)
    assert code == 3 and err["ok"] is False and "cannot activate from draft" in err["error"]
    assert run(capsys, "deployments", "assess", "hot", "--answers", str(tmp_path / "aia.json"), "--as", "ana",
               *db)[1]["level"] == "I"
    for cmd in (["open-comment", "hot", "--as", "sam"], ["start-review", "hot", "--as", "sam"],
                ["vote", "hot", "approve", "--reason", "test vote", "--as", "bea"], ["close-review", "hot", "--as", "bea"],
                ["activate", "hot", "--as", "root"]):
        code, out = run(capsys, "deployments", *cmd, *db)
        assert code == 0, out
    code, shown = run(capsys, "deployments", "show", "hot", *db)
    assert shown["state"] == "active"
    code, out = run(capsys, "deployments", "suspend", "hot", "--reason", "complaint", "--as", "sam", *db)
    assert out["state"] == "suspended"

    code, report = run(capsys, "ledger", "verify", *db)
    assert code == 0 and report["ok"] and report["n_entries"] > 10
    code, head = run(capsys, "ledger", "head", *db)
    assert head["tree_size"] == report["n_entries"] + 1  # the verify itself was logged
    code, inc = run(capsys, "ledger", "proof", "--entry", "2", *db)
    assert verify_inclusion(bytes.fromhex(inc["leaf_hash"]), 2, inc["tree_size"],
                            [bytes.fromhex(h) for h in inc["audit_path"]], bytes.fromhex(inc["head"]["root_hash"]))
    code, cons = run(capsys, "ledger", "proof", "--from", "5", *db)
    assert verify_consistency(5, cons["new_size"], bytes.fromhex(cons["old_root"]), bytes.fromhex(cons["new_root"]),
                              [bytes.fromhex(h) for h in cons["proof"]])
    code, entries = run(capsys, "ledger", "list", "--action", "deployments.*", "--as", "bea", *db)
    assert [e["action"] for e in entries][:2] == ["deployments.create", "deployments.activate"]
    code, _rep = run(capsys, "report", "annual", "--year", "2026", "--out", str(tmp_path / "rep"), *db)
    assert code == 0 and (tmp_path / "rep" / "annual-report-2026.html").exists()
    assert (tmp_path / "rep" / "annual-report-2026.pdf").read_bytes()[:5] == b"%PDF-"  # fpdf2 renderer
    assert json.loads((tmp_path / "rep" / "annual-report-2026.json").read_text())["entries"]["total"] > 10

    # an offline copy verifies against the published key; a wrong key does not
    monkeypatch.setenv("CRIMELENS_USER", "mallory")
    monkeypatch.setenv("CRIMELENS_ROLE", "admin")  # a claimed role is not an account
    code, err = run(capsys, "ledger", "export", "--out", str(tmp_path / "ledger.jsonl"), *db)
    assert code == 3 and "'mallory' is not a registered user" in err["error"]
    monkeypatch.delenv("CRIMELENS_USER")
    monkeypatch.delenv("CRIMELENS_ROLE")
    code, exp = run(capsys, "ledger", "export", "--out", str(tmp_path / "ledger.jsonl"), "--as", "bea", *db)
    assert code == 0 and exp["entries"] == exp["tree_size"]
    code, off = run(capsys, "ledger", "verify", "--export", str(tmp_path / "ledger.jsonl"),
                    "--public-key", head["public_key"], *db)
    assert code == 0 and off["ok"] and off["root_hash"] == exp["root_hash"]
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    row = json.loads(lines[4])
    row["payload"] = row["payload"].replace('"outcome":"ok"', '"outcome":"refused"')
    assert row["payload"] != json.loads(lines[4])["payload"]
    lines[4] = json.dumps(row)
    (tmp_path / "forged.jsonl").write_text("\n".join(lines) + "\n")
    code, forged = run(capsys, "ledger", "verify", "--export", str(tmp_path / "forged.jsonl"), *db)
    assert code == 4 and not forged["ok"]
    code, wrong = run(capsys, "ledger", "verify", "--export", str(tmp_path / "ledger.jsonl"),
                      "--public-key", "00" * 32, *db)
    assert code == 4 and wrong["head_signature_ok"] is False

    # tamper with one stored entry: verify fails with exit code 4 and names it
    import duckdb

    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    payload = con.execute("SELECT payload FROM ledger WHERE seq = 7").fetchone()[0]
    changed = bytearray(payload)
    changed[len(changed) // 2] ^= 0x20
    con.execute("UPDATE ledger SET payload = ? WHERE seq = 7", [bytes(changed)])
    con.close()
    code, bad = run(capsys, "ledger", "verify", *db)
    assert code == 4 and bad["ok"] is False and bad["first_bad"] == 7


def test_complaint_receipt_status_and_staff_list(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    db = ["--db", str(tmp_path / "c.duckdb")]
    assert run(capsys, "users", "add", "root", "--role", "admin", "--as", "root", *db)[0] == 0
    for name, role in [("bea", "board"), ("aud", "auditor")]:
        assert run(capsys, "users", "add", name, "--role", role, "--as", "root", *db)[0] == 0
    code, filed = run(capsys, "deployments", "complaint", "Patrols doubled on my block", "--entry", "1",
                      "--as", "public:jo", *db)
    assert code == 0 and len(filed["complaint_id"]) == len("cmp-") + 16
    cid = filed["complaint_id"]
    code, status = run(capsys, "deployments", "complaint-status", cid, "--as", "public:jo", *db)
    assert code == 0 and (status["status"], status["response"], status["entry_seqs"]) == ("open", None, [1])
    assert "body" not in status
    assert run(capsys, "deployments", "respond", cid, "Read by the board on 3 May", "--as", "bea", *db)[0] == 0
    assert run(capsys, "deployments", "complaint-status", cid, "--as", "public:jo", *db)[1]["response"] == (
        "Read by the board on 3 May")
    # the staff list has the text and its author; the public may not read it
    code, rows = run(capsys, "deployments", "complaints", "--as", "aud", *db)
    assert code == 0 and [(r["complainant"], r["body"], r["status"]) for r in rows] == [
        ("public:jo", "Patrols doubled on my block", "answered")]
    code, err = run(capsys, "deployments", "complaints", "--as", "public:jo", *db)
    assert code == 3 and "may not perform 'complaints.list'" in err["error"]
    code, err = run(capsys, "deployments", "complaint-status", "cmp-nope", "--as", "public:jo", *db)
    assert code == 1 and "not found" in err["error"]


def test_the_first_user_is_told_how_to_begin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "g.duckdb")
    with pytest.raises(SystemExit) as stop:
        main(["users", "add", "ada", "--role", "admin", "--db", db])
    err = " ".join(capsys.readouterr().err.split())
    assert stop.value.code == 3
    assert "The store has no users yet: the first one is an administrator who adds themself" in err
    code, out = run(capsys, "users", "add", "ada", "--role", "admin", "--as", "ada", "--db", db)
    assert code == 0 and out["role"] == "admin"
    with pytest.raises(SystemExit) as stop:  # with a user in the store, a refusal is only the refusal
        main(["users", "add", "bob", "--role", "analyst", "--db", db])
    err = " ".join(capsys.readouterr().err.split())
    assert stop.value.code == 3 and "may not perform 'users.add'" in err and "no users yet" not in err
    code, out = run(capsys, "ledger", "list", "--action", "users.add", "--as", "ada", "--db", db)
    refused = [e for e in out if e["outcome"] == "refused"]
    assert len(refused) == 2  # both refusals are in the ledger
    code, last = run(capsys, "ledger", "list", "--action", "users.add", "--limit", "1", "--as", "ada", "--db", db)
    assert code == 0 and last == out[-1:] and last[0]["outcome"] == "refused"  # the newest: the second refusal
    code, from_first = run(capsys, "ledger", "list", "--from", "1", "--limit", "1", "--as", "ada", "--db", db)
    assert code == 0 and [e["seq"] for e in from_first] == [1]
    for bad in (["--limit", "0"], ["--from", "-1"], ["--since", "last week"]):
        code, _ = run(capsys, "ledger", "list", *bad, "--as", "ada", "--db", db)
        assert code == 2, bad
