"""A run's alpha decides everything read from it: findings, table, heat map and alerts.

Before, the findings were always read at 0.05: on Cincinnati's 2016 burglaries with 99
permutations and --alpha 0.01 the table and heat map outlined nothing (the smallest p is 0.01)
while the findings called three bands over-represented "(p = 0.01)"; --alpha 0.25 left the band
with p = 0.21 out of the findings; and `alert --alpha 0.01` contradicted the stored findings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.nearrepeat import KnoxResult, plot_knox
from crimelens.services import open_context
from crimelens.services.nearrepeat import show_run
from crimelens.storage import DuckDBStore
from tests.nearrepeat.conftest import YEAR_2016, cli

RUN = ("--dataset", "cincinnati", *YEAR_2016, "--permutations", "99", "--seed", "1")
ALERT = ("nearrepeat", "alert", "--latest", "--offense", "burglary", "--dataset", "cincinnati")


def test_a_strict_alpha_reaches_findings_storage_and_alerts(real_db: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "k.png"
    code, run = cli(capsys, "nearrepeat", "--db", real_db, *RUN, "--alpha", "0.01", "--png", str(png), "--json")
    assert code == 0, run
    assert np.nanmin(np.array(run["p_value"], dtype=float)) == pytest.approx(0.01)
    assert run["alpha"] == 0.01
    assert run["findings"] == ["No distance band is over-represented in its first time band at p < 0.01."]
    assert any("smallest attainable p-value is 0.01, not below alpha 0.01" in w for w in run["warnings"])
    with DuckDBStore.open(real_db) as s:
        stored = json.loads(s.scalar("SELECT result_json FROM nearrepeat_runs WHERE run_id = ?", [run["run_id"]]))
        entry = json.loads(s.scalar("SELECT payload FROM ledger WHERE action = 'nearrepeat.knox'"))
    assert stored["alpha"] == 0.01 and stored["findings"] == run["findings"] and entry["params"]["alpha"] == 0.01
    code, text = cli(capsys, "nearrepeat", "--db", real_db, *RUN, "--alpha", "0.01")
    assert code == 0 and "*" not in text.split("Observed pairs", 1)[1].split("* Knox ratio", 1)[0]
    # the alert reads the run's alpha: nothing elevated, as its findings say, and it says why
    code, alert = cli(capsys, *ALERT, "--db", real_db, "--json")
    assert code == 0 and alert["alpha"] == alert["surface_alpha"] == 0.01 and alert["elevated"] == []
    assert any("smallest attainable p-value" in w for w in alert["warnings"])
    # the heat map outlines by the run's alpha when none is given
    with open_context(load_settings(db=real_db, progress=False)) as ctx:
        surface = KnoxResult.from_dict(show_run(ctx, run["run_id"], actor=Actor("ada")))
    assert surface.alpha == 0.01
    own = plot_knox(surface, tmp_path / "own.png").read_bytes()
    assert own == plot_knox(surface, tmp_path / "a01.png", alpha=0.01).read_bytes()
    assert own != plot_knox(surface, tmp_path / "a05.png", alpha=0.05).read_bytes()


def test_a_loose_alpha_adds_the_band_the_old_findings_left_out(real_db: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, run = cli(capsys, "nearrepeat", "--db", real_db, *RUN, "--alpha", "0.25", "--json")
    assert code == 0, run
    assert run["p_value"][2][2] == pytest.approx(0.21) and run["knox_ratio"][2][2] > 1  # [200, 300) m x [14, 21) d
    assert ("At [200, 300) m from an incident, pairs are over-represented for gaps of [0, 21) days; Knox ratio "
            "1.43 in the first time band (p = 0.01).") in run["findings"]
    code, alert = cli(capsys, *ALERT, "--db", real_db, "--json")
    assert code == 0 and alert["alpha"] == 0.25
    assert ("[200, 300) m", "[14, 21) d") in {(e["space_label"], e["time_label"]) for e in alert["elevated"]}
    # an alpha given to the alert overrides the run's, and the alert names both
    code, alert = cli(capsys, *ALERT, "--db", real_db, "--alpha", "0.05", "--json")
    assert code == 0 and (alert["alpha"], alert["surface_alpha"]) == (0.05, 0.25)
    assert ("[200, 300) m", "[14, 21) d") not in {(e["space_label"], e["time_label"]) for e in alert["elevated"]}
    code, text = cli(capsys, *ALERT, "--db", real_db, "--alpha", "0.05")
    assert code == 0 and "(the run's findings used 0.25)" in text
