"""Every file `crimelens nearrepeat` writes is named in the run's ledger entry with its SHA-256.

Before, the --pairs CSV was logged but the --png heat map was drawn after the entry was written
and left no trace in the ledger."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crimelens.config import load_settings
from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.nearrepeat import run_knox
from crimelens.storage import DuckDBStore
from tests.conftest import shared
from tests.nearrepeat.conftest import YEAR_2016, cli


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_heat_map_and_pairs_are_logged_with_path_format_and_hash(real_db: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    png, pairs = out / "knox.png", out / "pairs.csv"
    code, run = cli(capsys, "nearrepeat", "--db", real_db, "--dataset", "cincinnati", *YEAR_2016,
                    "--permutations", "19", "--seed", "1", "--png", str(png), "--pairs", str(pairs), "--json")
    assert code == 0, run
    with DuckDBStore.open(real_db) as s:
        entry = json.loads(s.scalar("SELECT payload FROM ledger WHERE action = 'nearrepeat.knox'"))
    files = {f["format"]: f for f in entry["detail"]["files"]}
    assert files["png"] == {"role": "heat map", "path": str(png.resolve()), "format": "png", "sha256": _sha(png),
                            "bytes": png.stat().st_size}
    assert files["csv"]["path"] == str(pairs.resolve()) and files["csv"]["sha256"] == _sha(pairs)
    assert entry["detail"]["png_sha256"] == run["png_sha256"] == _sha(png)
    assert entry["detail"]["pairs_sha256"] == _sha(pairs) and run["files"] == entry["detail"]["files"]
    assert sorted(p.name for p in out.iterdir()) == ["knox.png", "pairs.csv"]  # nothing half-written left
    code, text = cli(capsys, "nearrepeat", "--db", real_db, "--dataset", "cincinnati", *YEAR_2016,
                     "--permutations", "19", "--seed", "1", "--png", str(png))
    assert code == 0 and f"heat map: {png} (sha256 {_sha(png)[:12]}" in text


def test_a_refused_run_writes_no_file(tmp_path: Path) -> None:
    png, pairs = tmp_path / "knox.png", tmp_path / "pairs.csv"
    with (open_context(load_settings(db=tmp_path / "r.duckdb", progress=False)) as ctx,
          pytest.raises(ApprovalRequiredError)):
        run_knox(ctx, actor=Actor("ada"), purpose="  ", path=shared("knox_reference/chicago_be_month1.csv"),
                 permutations=9, seed=1, png_out=png, pairs_out=pairs)
    assert list(tmp_path.glob("*.png")) == [] and list(tmp_path.glob("*.csv")) == []
