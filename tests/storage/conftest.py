"""The storage tests' shared store: incidents, users, an evidence file and ledger entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services._context import open_context
from crimelens.services.evidence import add_evidence
from crimelens.services.ingest import ingest_file
from crimelens.synth import SyntheticCity

ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with incidents, users, an evidence file and ledger entries (built once; copied per test)."""
    base = tmp_path_factory.mktemp("template")
    path = base / "live" / "crimelens.duckdb"
    SyntheticCity(seed=5, days=20, scale=0.05).generate().write(base / "synth")
    with open_context(Settings(db=path, user="ada", role="admin", progress=False)) as ctx:
        ingest_file(ctx, base / "synth" / "incidents.csv", actor=ADMIN, format="canonical", dataset="synth")
        gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)
        gs.add_user(ctx, name="ana", role="analyst", actor=ADMIN)
        f = base / "statement.txt"
        f.write_text("a statement", encoding="utf-8")
        add_evidence(ctx, f, case_id="C-1", actor=ADMIN, source="test intake")
    return path
