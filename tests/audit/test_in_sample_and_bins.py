"""Calibration bins of none or all get Wilson's interval; auditing a model on its own training file
says the figures are in-sample (CLI, JSON, HTML, ledger)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crimelens.audit import audit_scores
from crimelens.risk import load_compas
from tests.conftest import shared
from tests.risk.test_cli import _ledger, run
from tests.risk.test_other_files import by_year, write_slice

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


def test_a_calibration_bin_of_none_or_all_gets_the_wilson_interval() -> None:
    """The documented COMPAS audit showed race "Other", decile 8, 7 of 7 re-arrested, as [1, 1], and "Asian"
    decile 2, 0 of 4, as [0, 0]: every bootstrap resample repeats such a rate."""
    d = load_compas(shared(COMPAS))
    r = audit_scores(d.decile, d.y, d.audit[["race"]], threshold=5, n_boot=1000, random_state=0)
    cal = r.calibration.set_index(["facet", "group", "score_low"])
    other = cal.loc[("race", "Other", 8.0)]
    assert (other["n"], other["observed_rate"]) == (7, 1.0)
    assert other["observed_low"] == pytest.approx(0.6457, abs=1e-4) and other["observed_high"] == 1.0
    asian = cal.loc[("race", "Asian", 2.0)]
    assert (asian["n"], asian["observed_rate"]) == (4, 0.0)
    assert asian["observed_low"] == 0.0 and asian["observed_high"] == pytest.approx(0.4899, abs=1e-4)
    inside = cal[(cal["observed_rate"] > 0) & (cal["observed_rate"] < 1)]  # keep their bootstrap intervals
    assert (inside["observed_low"] <= inside["observed_rate"]).all()
    assert (inside["observed_rate"] <= inside["observed_high"]).all()
    # without a bootstrap there are no intervals at all, as for the group rates
    r0 = audit_scores(d.decile, d.y, d.audit[["race"]], threshold=5, n_boot=0)
    assert r0.calibration["observed_low"].isna().all()


def test_auditing_a_model_on_its_training_file_says_the_figures_are_in_sample(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit --model` on the model's own training file printed in-sample figures (AUC 0.718 beside a
    cross-validated 0.692) with no word."""
    db = str(tmp_path / "r.duckdb")
    train = write_slice(tmp_path / "c2014.csv", by_year("2014"))
    other = write_slice(tmp_path / "c2013.csv", by_year("2013"))
    code, out, err = run(capsys, "risk", "fit", str(train), "--label", "two_year_recid", "--model", "rules",
                         "--db", db, "--json")
    assert code == 0, err
    card = json.loads(out)
    model_id, cv = card["model_id"], card["cv"]["auc_mean"]
    html = tmp_path / "a.html"
    code, out, err = run(capsys, "audit", str(train), "--model", model_id, "--label", "two_year_recid", "--group",
                         "race", "--bootstrap", "20", "--html", str(html), "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    (warning,) = [w for w in doc["warnings"] if w.startswith("IN-SAMPLE")]
    # 2014 is past ProPublica's follow-up cut-off (2014-04-01): warned about too (tests/audit/test_tester_s32.py)
    assert [w[:18] for w in doc["warnings"]] == ["IN-SAMPLE: " + str(train)[:7], "CENSORED OUTCOMES:"]
    assert warning.startswith(f"IN-SAMPLE: {train} is the file model {model_id} was fitted on (the same SHA-256")
    assert f"Its card's cross-validated AUC is {cv:.3f}" in warning
    overall = next(g for g in doc["groups"] if g["facet"] == "overall")
    assert overall["auc"] > cv  # what the warning is about
    assert "<b>Warning:</b> IN-SAMPLE:" in html.read_text(encoding="utf-8")
    entry = _ledger(db, "audit.fairness")[-1]
    assert entry["detail"]["warnings"] == doc["warnings"]  # type: ignore[index]
    code, out, _ = run(capsys, "audit", str(train), "--model", model_id, "--label", "two_year_recid", "--group",
                       "race", "--bootstrap", "0", "--db", db)
    assert code == 0 and "warning: IN-SAMPLE:" in " ".join(out.split())
    # a file the model has not seen: no warning
    code, out, err = run(capsys, "audit", str(other), "--model", model_id, "--label", "two_year_recid", "--group",
                         "race", "--bootstrap", "0", "--db", db, "--json")
    assert code == 0, err
    assert "warnings" not in json.loads(out)
