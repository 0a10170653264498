"""``--as NAME`` takes no secret on the command line (whoever can write the store file acts as any
registered user): so every entry the CLI writes also names the operating-system account and host that
ran it (``detail.via``), which the API's entries do not need (a token is a credential)."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

import pytest

from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from tests.governance.test_cli import run


def test_each_cli_entry_names_the_account_that_ran_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    db = ["--db", str(tmp_path / "c.duckdb")]
    assert run(capsys, "users", "add", "root", "--role", "admin", "--as", "root", *db)[0] == 0
    assert run(capsys, "users", "add", "bob", "--role", "board", "--as", "root", *db)[0] == 0
    code, _ = run(capsys, "deployments", "kill-switch", "engage", "--reason", "drill", "--as", "bob", *db)
    assert code == 0
    with open_context(Settings(db=tmp_path / "c.duckdb")) as ctx:
        entries = gs.ledger_entries(ctx, actor=Actor("root", Role.ADMIN), limit=None)
        # an entry written through the Python API (as the server does) carries no such stamp
        gs.engage_kill_switch(ctx, reason="again", actor=Actor("bob", Role.BOARD))
        served = gs.ledger_entries(ctx, actor=Actor("root", Role.ADMIN), action="killswitch.engage", limit=1)[0]
    engaged = [e for e in entries if e["action"] == "killswitch.engage"]
    assert engaged and engaged[0]["user"] == "bob"
    via = {"channel": "cli", "os_user": getpass.getuser(), "host": socket.gethostname()}
    assert all(e["detail"]["via"] == via for e in entries), json.dumps(entries)[:500]
    assert "via" not in served["detail"]
