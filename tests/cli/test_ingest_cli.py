"""The ingest commands through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crimelens.cli import main
from tests.conftest import shared


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_summary_and_quarantine_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    code, out, _ = run(capsys, "ingest", str(shared("vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz")),
                       "--db", db, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["n_read"] == 37512 and doc["n_landed"] + doc["n_quarantined"] == 37512
    assert doc["top_reasons"][0]["rows"] == 3750
    code, out, _ = run(capsys, "incidents", "summary", "--db", db, "--json")
    assert code == 0 and json.loads(out)["datasets"][0]["n_incidents"] == doc["n_landed"]
    code, out, _ = run(capsys, "quarantine", "list", "--db", db, "--reason", "daylight", "--json")
    q = json.loads(out)
    assert q["total"] == 2 and all("daylight-saving" in r["reason"] for r in q["rows"])


def test_errors_map_to_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    code, out, _ = run(capsys, "ingest", str(bad), "--db", str(tmp_path / "c.duckdb"), "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and doc["type"] == "SchemaError" and doc["status"] == 422
    code, _, err = run(capsys, "ingest", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "c.duckdb"))
    assert code == 1 and "no such file" in err


def test_ingest_reads_the_database_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_DB", str(tmp_path / "env.duckdb"))
    code, _, _ = run(capsys, "ingest", str(shared("sf_robbery/san_francisco_robbery.csv")), "--json")
    assert code == 0 and (tmp_path / "env.duckdb").exists()


def test_group_without_a_command_prints_help_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "incidents")
    assert code == 0 and "summary" in out
    code, out, err = run(capsys, "ingest", "--bogus")
    assert code == 2 and "No such option" in err
