"""The annual report, as a journalist checked it from outside (tester s33-B).

On a real store built here with the services (a deployment walked to active, a model use, reads of
every kind, a complaint, a suspension, refused proof requests) and then tampered with directly in
DuckDB as the tester did: a ledger that fails verification gets a report that says so first, with
no table blamed; a card's text edited in the store is named against the ledger entry that recorded
its hash; a model use made while the ledger says its deployment was suspended is listed; a proof
asked for an entry that does not exist is an invalid request; every entry of the year is counted in
exactly one of the report's tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from crimelens.api import create_app
from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.errors import InputError
from crimelens.governance import Actor, Role
from crimelens.governance._ledger import LedgerEntry
from crimelens.governance._report import INVALID, NOT_ACTIVE, NOT_FOUND, refusal_category
from crimelens.services import governance as gs
from crimelens.services._context import open_context, record_use
from tests.conftest import copy_store
from tests.governance.conftest import Clock, People, register, to_active

DEP = "hotspots"
YEAR = 2026
SUSPENDED_FOR = "complaint under review"


@dataclass(frozen=True)
class Built:
    db: Path
    after: Clock  # a clock just after the build, for every later use of the store
    seqs: dict[str, int]  # the entry of each step the tests tamper with or look for


def _people() -> People:
    made = {n: Actor(n, Role(r)) for n, r in [("ana", "analyst"), ("sam", "supervisor"), ("sue", "supervisor"),
                                              ("bea", "board"), ("bob", "board"), ("bo", "board"), ("aud", "auditor")]}
    return People(Actor("ada", Role.ADMIN), made["ana"], made["sam"], made["sue"], (made["bea"], made["bob"], made["bo"]),
                  made["aud"], Actor("public:jo", Role.PUBLIC), {})


def _build(folder: Path) -> Built:
    db = folder / "g.duckdb"
    clock = Clock()
    p = _people()
    with open_context(Settings(db=db), clock=clock) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=p.admin)
        for who in (p.analyst, p.sup1, p.sup2, *p.board, p.auditor):
            gs.add_user(ctx, name=who.user, role=str(who.role), actor=p.admin)
        to_active(ctx, p, clock)  # KDEHotspot 1.0, its card written at registration
        register(ctx, p, version="2.0", text=False)  # a second version, its card written by models.describe
        gs.describe_model(ctx, name="KDEHotspot", version="2.0", actor=p.analyst,
                          sections={"intended_use": "Weekly patrol planning, trial version."})
        record_use(ctx, action="forecast.run", actor=p.analyst, purpose="patrol planning", deployment=DEP,
                   model="KDEHotspot", model_version="1.0", output_hash="ab" * 32)
        # reads of every kind, by staff, oversight and the public
        gs.list_models(ctx, actor=p.auditor)
        gs.review_queue(ctx, actor=p.sup1)
        gs.list_users(ctx, actor=p.admin)
        gs.list_deployments(ctx, actor=p.auditor)
        gs.show_deployment(ctx, deployment=DEP, actor=p.public, purpose="public participation")
        gs.model_card(ctx, name="KDEHotspot", actor=p.public, purpose="public participation")
        gs.ledger_head(ctx, actor=p.public, purpose="public participation")
        gs.inclusion_proof(ctx, seq=0, actor=p.public, purpose="public participation")
        complaint = gs.file_complaint(ctx, body="the forecast sends patrols to one district", actor=p.public,
                                      deployment=DEP)
        gs.list_complaints(ctx, actor=p.board[0])
        gs.complaint_status(ctx, complaint_id=str(complaint["complaint_id"]), actor=p.public)
        # proofs asked for entries and sizes the ledger does not have (`ledger proof --entry 999`, `--from 999`)
        with pytest.raises(InputError):
            gs.inclusion_proof(ctx, seq=999, actor=p.public, purpose="public participation")
        with pytest.raises(InputError):
            gs.consistency_proof(ctx, old_size=999, actor=p.auditor)
        gs.suspend(ctx, deployment=DEP, reason=SUSPENDED_FOR, actor=p.sup1)

        def last(action: str) -> int:
            return ctx.ledger.entries(action=action, newest=True, limit=1)[0][0]

        seqs = {a: last(a) for a in ("complaints.file", "deployments.suspend", "models.describe", "forecast.run")}
        seqs["models.register 1.0"] = next(s for s, e in ctx.ledger.entries(action="models.register")
                                           if e.model_version == "1.0")
    return Built(db, Clock(clock.t + timedelta(hours=1)), seqs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("s33"))


@pytest.fixture
def db(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built store and its signing key, for one test to tamper with."""
    return copy_store(built.db, tmp_path / "g.duckdb")


def _sql(db: Path, sql: str, params: list[Any] | None = None) -> None:
    """An edit made with DuckDB directly, as an operator with write access to the file would."""
    con = duckdb.connect(str(db))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def _rewrite_entry(db: Path, seq: int, old: bytes, new: bytes) -> None:
    """Rewrite an entry's payload and recompute its leaf hash (the tester's `edit_rehash`)."""
    con = duckdb.connect(str(db))
    try:
        payload = bytes(con.execute("SELECT payload FROM ledger WHERE seq = ?", [seq]).fetchone()[0])  # type: ignore[index]
        assert old in payload
        changed = payload.replace(old, new)
        con.execute("UPDATE ledger SET payload = ?, leaf_hash = ? WHERE seq = ?",
                    [changed, hashlib.sha256(b"\x00" + changed).digest(), seq])
    finally:
        con.close()


def _report(db: Path, clock: Clock) -> tuple[Any, int, int]:
    """The report (as the public asks for it), and the ledger's size before and after."""
    with open_context(Settings(db=db), clock=clock) as ctx:
        before = ctx.ledger.size()
        report = gs.annual_report(ctx, year=YEAR, actor=Actor("public:x", Role.PUBLIC))
        return report, before, ctx.ledger.size()


# 1. a ledger that fails verification ------------------------------------------------------------------------
def test_a_verified_ledger_is_said_so_and_the_report_is_logged(db: Path, built: Built) -> None:
    report, before, after = _report(db, built.after)
    assert report.data["ledger_verification"] == {"ok": True, "n_entries": before, "first_bad": None, "problem": None}
    assert report.data["warning"] is None and "not_logged" not in report.data
    assert after == before + 1  # the report's own entry
    assert "The ledger verifies:" in report.html and "fails verification" not in report.html
    assert report.data["complaints"]["filed"] == 1


def test_a_ledger_with_an_entry_deleted_gets_a_report_that_says_so_first(db: Path, built: Built) -> None:
    gone = built.seqs["complaints.file"]
    _sql(db, "DELETE FROM ledger WHERE seq = ?", [gone])  # the tester's `delete_mid`
    report, before, after = _report(db, built.after)
    data = report.data
    problem = f"entry {gone} is missing (the next stored entry is {gone + 1})"
    assert data["ledger_verification"] == {"ok": False, "n_entries": before - 1, "first_bad": gone, "problem": problem}
    assert data["warning"].startswith(f"The ledger fails verification: {problem}. The figures in this report are "
                                      "counted from ledger entries that no longer match the ledger's signed heads, "
                                      "so they cannot be relied on")
    assert next(iter(data)) == "year" and list(data)[1] == "warning"  # at the top of the JSON
    # at the top of the page, before any figure
    html = report.html
    assert html.index("Warning: the ledger fails verification") < html.index('<h2 id="table-differences">')
    assert problem in html
    # nothing appended to a ledger that fails (as `ledger verify`): the next verify names the same entry
    assert after == before and "nothing was appended" in data["not_logged"]
    assert data["complaints"]["filed"] == 0  # the count is the damaged ledger's; the warning says so


def test_a_rewritten_entry_does_not_make_the_table_the_changed_side(db: Path, built: Built) -> None:
    seq = built.seqs["deployments.suspend"]
    _rewrite_entry(db, seq, SUSPENDED_FOR.encode(), b"routine maintenance....")  # the tester's `edit_rehash`
    report, _, _ = _report(db, built.after)
    data = report.data
    assert not data["ledger_verification"]["ok"] and data["ledger_verification"]["first_bad"] == seq
    assert {"table": "deployment_events", "row": f"{DEP}, entry {seq}", "column": "reason",
            "table_value": SUSPENDED_FOR, "ledger_value": "routine maintenance...."} in data["table_differences"]
    assert "either may be the changed side" in report.html
    assert "were changed outside crimelens" not in report.html  # the untouched table is not blamed


def test_the_cli_writes_the_report_of_a_failing_ledger_and_exits_4(db: Path, built: Built, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["report", "annual", "--year", str(YEAR), "--out", str(tmp_path / "ok"),
                                 "--as", "aud", "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    _sql(db, "DELETE FROM ledger WHERE seq = ?", [built.seqs["complaints.file"]])
    res = runner.invoke(cli_app, ["report", "annual", "--year", str(YEAR), "--out", str(tmp_path / "bad"),
                                  "--as", "aud", "--db", str(db)])
    assert res.exit_code == 4, res.output
    assert "The ledger fails verification" in res.output
    written = json.loads((tmp_path / "bad" / f"annual-report-{YEAR}.json").read_text(encoding="utf-8"))
    assert written["ledger_verification"]["ok"] is False and written["warning"]
    html = (tmp_path / "bad" / f"annual-report-{YEAR}.html").read_text(encoding="utf-8")
    assert html.index("the ledger fails verification") < html.index("Ledger entries in")


# 2. a card's text edited in the store --------------------------------------------------------------------------
def test_a_card_text_edited_in_the_store_is_named_against_its_ledger_entry(db: Path, built: Built) -> None:
    with open_context(Settings(db=db), clock=built.after) as ctx:
        card = gs.model_card(ctx, name="KDEHotspot", version="2.0", actor=Actor("public:x", Role.PUBLIC))
    assert card.details["text_ledger_check"] == (
        f"the text matches the SHA-256 that ledger entry {built.seqs['models.describe']} (models.describe) recorded")
    _sql(db, "UPDATE models SET card_text = replace(card_text, 'patrol', 'PATROL')")  # the tester's `card`
    report, _, _ = _report(db, built.after)
    rows = {d["row"]: d for d in report.data["table_differences"] if d["table"] == "models"}
    assert rows["KDEHotspot 2.0"]["column"] == "card_text"
    assert rows["KDEHotspot 2.0"]["ledger_value"].endswith(f"(entry {built.seqs['models.describe']}, models.describe)")
    # the card written at registration: its registration entry recorded the hash
    assert rows["KDEHotspot 1.0"]["ledger_value"].endswith(f"(entry {built.seqs['models.register 1.0']}, "
                                                           "models.register)")
    assert report.data["ledger_verification"]["ok"]  # the ledger is intact: the table changed
    # the card itself says so, in the API (public) and in the service's card
    with TestClient(create_app(Settings(db=db), clock=built.after), base_url="http://127.0.0.1") as client:
        answer = client.get("/api/models/KDEHotspot/card", params={"version": "1.0"},
                            headers={"X-Purpose": "public participation"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    check = body["card"]["sections"]["model_details"]["text_ledger_check"]
    assert check.startswith("WARNING: the stored text does not match the ledger")
    assert f"ledger entry {built.seqs['models.register 1.0']} (models.register)" in check
    assert "does not match the ledger" in body["markdown"]


# 3. model uses while the ledger says the deployment was not active -----------------------------------------------
def test_a_model_use_while_the_ledger_says_suspended_is_listed(db: Path, built: Built) -> None:
    report, _, _ = _report(db, built.after)
    assert report.data["uses_while_not_active"] == []  # the forecast run while active is an ordinary use
    _sql(db, "UPDATE deployments SET state = 'active'")  # the tester's `table_state`
    with open_context(Settings(db=db), clock=built.after) as ctx:
        # the tester's crimelens ran an operational forecast then (its use gate read only the table); its entry,
        # as that version wrote it (the gate may now refuse the use: the ledger is what the report reads)
        seq = ctx.ledger.append(LedgerEntry(action="forecast.run", user="ana", role="analyst", purpose="patrol planning",
                                            deployment=DEP, model="KDEHotspot", model_version="1.0",
                                            output_hash="cd" * 32, at=built.after()))
    report, _, _ = _report(db, built.after)
    (use,) = report.data["uses_while_not_active"]
    assert {k: use[k] for k in ("seq", "deployment", "action", "by", "state")} == {
        "seq": seq, "deployment": DEP, "action": "forecast.run", "by": "ana", "state": "suspended"}
    assert {"deployment": DEP, "purpose": "patrol planning", "action": "forecast.run", "n": 2} in report.data["uses"]
    html = report.html
    assert "Model uses while the deployment was not active" in html
    assert f"<tr><td>{seq}</td>" in html and "<td>suspended</td></tr>" in html


# 4. refusal categories of proofs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("reason", "category"), [
    ("ledger proof: got old size 999; expected 0 <= old size <= 53", INVALID),
    ("ledger proof: got entry -1; expected 0 <= entry < 54", INVALID),
    ("ledger proof: got entry 999; expected 0 <= entry < 55", INVALID),
    ("signed head at tree size 7: none was signed at that size", NOT_FOUND),
    ("ledger: empty, nothing to prove", NOT_FOUND),
    # the use gate, when the deployments table says active and the ledger does not
    ("the deployments table says 'hot' is active but the ledger's entry 63 says suspended: the table was changed "
     "outside crimelens; refusing operational use until an administrator repairs it", NOT_ACTIVE),
])
def test_a_refusal_has_its_category(reason: str, category: str) -> None:
    assert refusal_category(reason, action="ledger.proof") == category


def test_proofs_of_entries_the_ledger_does_not_have_are_invalid_requests(db: Path, built: Built) -> None:
    report, _, _ = _report(db, built.after)
    refusals = {(r["action"], r["category"]): r["n"] for r in report.data["refusals"]}
    assert refusals == {("ledger.proof", INVALID): 2}


# 5. every entry in exactly one table -----------------------------------------------------------------------------
_TABLES = {"model_uses": "uses", "audits": "audits", "reads": "reads", "other_operations": "other_operations",
           "governance_actions": "governance_actions", "refused": "refusals"}


def test_every_entry_of_the_year_is_in_exactly_one_table(db: Path, built: Built) -> None:
    with open_context(Settings(db=db), clock=built.after) as ctx:
        actions = [e.action for _, e in ctx.ledger.entries()]
    report, _, _ = _report(db, built.after)
    entries = report.data["entries"]
    assert entries["total"] == len(actions)
    assert set(entries["by_table"]) == set(_TABLES)
    assert sum(entries["by_table"].values()) == entries["total"]
    for key, table in _TABLES.items():
        assert sum(int(r["n"]) for r in report.data[table]) == entries["by_table"][key], key
    # each action is in the table a reader looks for it in, and every action of the year is somewhere
    reads = {r["action"] for r in report.data["reads"]}
    assert reads >= {"review.list", "models.list", "models.card", "users.list", "deployments.list",
                     "deployments.show", "complaints.list", "complaints.status", "ledger.head", "ledger.proof"}
    governance = {r["action"] for r in report.data["governance_actions"]}
    assert governance >= {"users.add", "models.register", "models.describe", "deployments.create",
                          "deployments.vote", "deployments.suspend", "complaints.file"}
    listed = set().union(*({r["action"] for r in report.data[t]} for t in _TABLES.values()))
    assert listed == set(actions)
    assert f"which add up to {entries['total']}." in report.html
