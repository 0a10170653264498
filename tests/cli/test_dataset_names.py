"""A dataset name that is not in the store is refused with the names that are, not read as empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_ingest_cli import run
from tests.conftest import shared


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cincinnati's burglaries as 'cin', and a file whose every row was quarantined as 'bad'."""
    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.ingest import ingest_file

    folder = tmp_path_factory.mktemp("names")
    bad = folder / "bad.csv"  # the SF layout, its one row on a date that does not exist
    bad.write_text("uid,offense_type,date_time,longitude,latitude\n1,personal robbery,2019-02-30T19:50:00Z,"
                   "-122.402,37.788\n")
    db = folder / "n.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), actor=Actor("ada"), dataset="cin")
        ingest_file(ctx, bad, actor=Actor("ada"), format="sf_code", dataset="bad")
    return db


@pytest.mark.parametrize("command", [
    ["incidents", "summary"],
    ["quarantine", "list"],
    ["forecast", "run", "--at", "2018-06-01"],
    ["forecast", "backtest", "--start", "2018-06-01", "--periods", "2"],
    ["link", "train"],
    ["link", "series"],
    ["link", "similar", "X"],
    ["nearrepeat", "run"],
    ["nearrepeat", "alert", "--latest"],
    ["audit", "exposure"],
], ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_dataset_is_refused_with_the_names_in_the_store(command: list[str], store: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *command, "--dataset", "cinn", "--db", str(store), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["type"] == "NotFoundError", doc
    holds = "['bad', 'cin']" if command[0] in ("incidents", "quarantine") else "['cin']"  # those two show quarantined-only sets
    assert "no dataset 'cinn' in the store" in doc["error"] and f"it holds {holds}" in doc["error"]


def test_a_dataset_whose_rows_were_all_quarantined_is_still_known(store: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "quarantine", "list", "--dataset", "bad", "--db", str(store), "--json")
    assert code == 0 and json.loads(out)["total"] == 1
    code, out, _ = run(capsys, "incidents", "summary", "--dataset", "bad", "--db", str(store), "--json")
    assert code == 0
