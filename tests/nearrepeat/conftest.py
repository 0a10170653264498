"""Real stores for near-repeat tests: Cincinnati's burglaries (exact times) and police.uk Nottingham's
(months only), ingested once per session and copied for each test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from tests.cli.test_ingest_cli import run
from tests.conftest import shared

CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"
NOTTINGHAM = "uk_police_nottingham/nottingham_burglary.csv.gz"
#: Cincinnati's 2016 burglaries, as the dataset's own (America/New_York) dates
YEAR_2016 = ("--offense", "burglary", "--since", "2016-01-01", "--until", "2017-01-01")


@pytest.fixture(scope="session")
def ingested_cities(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nearrepeat-real")
    db = folder / "real.duckdb"
    with open_context(load_settings(db=db, progress=False)) as ctx:
        ingest_file(ctx, shared(CINCINNATI), actor=Actor("ada"), dataset="cincinnati")
        ingest_file(ctx, shared(NOTTINGHAM), actor=Actor("ada"), dataset="nottingham")
    return db


@pytest.fixture
def real_db(ingested_cities: Path, tmp_path: Path) -> str:
    """A copy of the ingested store for one test: its runs and alerts reach no other test."""
    for f in ingested_cities.parent.iterdir():  # the store and what lives beside it (its keys folder)
        if f.is_dir():
            shutil.copytree(f, tmp_path / f.name)
        else:
            shutil.copy2(f, tmp_path / f.name)
    return str(tmp_path / ingested_cities.name)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """Run the real CLI; returns the exit code and the parsed JSON (with --json) or the text printed."""
    code, out, err = run(capsys, *args)
    if "--json" in args:
        return code, json.loads(out)
    return code, " ".join((out + err).split())
