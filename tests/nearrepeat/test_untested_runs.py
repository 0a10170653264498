"""A run without permutations (``--permutations 0``) is read with its Poisson p-values and says so.

Before: every p-value was null, so Cincinnati's 2016 burglaries (Knox ratio 1.82 at [0, 100) m x
[0, 7) d, Poisson p 1.7e-9) were summed up as "No distance band is over-represented", and the run,
now the newest stored surface, silenced every later alert."""

from __future__ import annotations

import pytest

from tests.nearrepeat.conftest import YEAR_2016, cli


def test_findings_and_alerts_of_a_run_without_permutations_use_poisson(
        real_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["nearrepeat", "--db", real_db, "--dataset", "cincinnati", *YEAR_2016, "--permutations", "0"]
    code, run = cli(capsys, *base, "--json")
    assert code == 0, run
    assert run["p_source"] == "poisson" and run["p_value"][0][0] is None
    assert run["knox_ratio"][0][0] == pytest.approx(1.821, abs=1e-3)
    assert run["p_poisson"][0][0] == pytest.approx(1.67e-9, rel=0.01)
    assert run["findings"][0] == ("At [0, 100) m from an incident, pairs are over-represented for gaps of [0, 21) "
                                  "days; Knox ratio 1.82 in the first time band (p (Poisson) = 1.67e-09).")
    assert not any(f.startswith("No distance band") for f in run["findings"])
    assert "Poisson approximation" in run["findings"][-1]
    assert any(w.startswith("No permutations were run") for w in run["warnings"])
    assert "no permutations" in run["p_value_rule"]

    code, alert = cli(capsys, "nearrepeat", "alert", "--latest", "--offense", "burglary", "--dataset", "cincinnati",
                      "--db", real_db, "--json")
    assert code == 0, alert
    assert alert["run_id"] == run["run_id"] and alert["p_source"] == "poisson"
    elevated = {(e["space_label"], e["time_label"]): e["p_value"] for e in alert["elevated"]}
    assert elevated[("[0, 100) m", "[0, 7) d")] == pytest.approx(run["p_poisson"][0][0])
    assert any(w.startswith("No permutations were run") for w in alert["warnings"])

    code, text = cli(capsys, *base)
    assert code == 0
    assert "Expected (mean of permutations)" not in text
    assert "Expected (analytic: row total x column total / pairs; no permutations)" in text
    assert "p-value (Poisson approximation; no permutations)" in text
    assert "* Knox ratio > 1 with p (Poisson) < 0.05." in text
    code, text = cli(capsys, "nearrepeat", "alert", "--latest", "--offense", "burglary", "--dataset", "cincinnati",
                     "--db", real_db)
    assert code == 0 and "no alert" not in text
    assert "p (Poisson: the run has no permutations) < 0.05" in text
