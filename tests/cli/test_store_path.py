"""A store path that does not exist: commands that read refuse it, commands that take data in make it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_ingest_cli import run

READERS = [
    ["ledger", "verify"],
    ["ledger", "list"],
    ["ledger", "head"],
    ["incidents", "summary"],
    ["quarantine", "list"],
    ["models", "list"],
    ["models", "card", "etas"],
    ["deployments", "list"],
    ["deployments", "show", "North"],
    ["review", "list"],
    ["report", "annual", "--year", "2025"],
    ["evidence", "cases"],
    ["evidence", "show", "CASE-1"],
    ["forecast", "backtests"],
    ["forecast", "run", "--at", "2018-01-01"],
    ["nearrepeat", "runs"],
    ["nearrepeat", "run"],
    ["link", "similar", "INC-1", "--dataset", "city"],
    ["link", "train", "--dataset", "city"],
    ["risk", "list"],
    ["risk", "card", "m1"],
    ["feedback", "runs"],
    ["store", "backup", "bk"],
    ["users", "list"],
]


@pytest.mark.parametrize("command", READERS, ids=[" ".join(c) for c in READERS])
def test_a_mistyped_store_path_is_refused_and_nothing_is_made(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "stroe.duckdb"
    code, out, err = run(capsys, *command, "--db", str(typo))
    assert code == 1, (out, err)
    assert f"no store at '{typo}' (--db)" in " ".join(err.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, keys or evidence folder
    code, out, _ = run(capsys, *command, "--db", str(typo), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["type"] == "NotFoundError" and doc["status"] == 404
    assert not typo.exists()


def test_the_refusal_names_where_the_path_came_from(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRIMELENS_DB", raising=False)
    code, _, err = run(capsys, "ledger", "verify")
    assert code == 1 and "no store at 'crimelens.duckdb' (the default; give --db or set CRIMELENS_DB)" in (
        " ".join(err.split()))
    monkeypatch.setenv("CRIMELENS_DB", str(tmp_path / "elsewhere.duckdb"))
    code, _, err = run(capsys, "incidents", "summary")
    assert code == 1 and "(CRIMELENS_DB)" in err
    assert list(tmp_path.iterdir()) == []


def test_commands_that_take_data_in_make_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "new.duckdb"
    exhibit = tmp_path / "photo.txt"
    exhibit.write_text("exhibit A\n")
    code, out, err = run(capsys, "evidence", "add", str(exhibit), "--case", "CASE-1", "--source", "officer", "--db", str(db), "--json")
    assert code == 0, err
    assert db.exists() and json.loads(out)["case_id"] == "CASE-1"
    other = tmp_path / "governance.duckdb"
    code, _, err = run(capsys, "users", "add", "ada", "--role", "admin", "--as", "ada", "--db", str(other))
    assert code == 0, err
    # once made, the readers read them: the intake's ledger entry verifies, the first user is listed
    code, out, _ = run(capsys, "ledger", "verify", "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["n_entries"] == 1
    code, out, _ = run(capsys, "users", "list", "--as", "ada", "--db", str(other), "--json")
    assert code == 0 and [u["name"] for u in json.loads(out)] == ["ada"]
