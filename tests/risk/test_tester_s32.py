"""A fairness auditor's findings on the risk side: the ProPublica file's censored follow-up, seen by
``censored_tail`` and warned about by ``risk fit``."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.risk import censored_tail, load_compas
from tests.conftest import shared

runner = CliRunner()
TWO_YEAR = "compas/compas-scores-two-years.deid.csv.gz"
VIOLENT = "compas/compas-scores-two-years-violent.deid.csv.gz"


def compas_slice(path: Path, start: str, end: str, name: str = TWO_YEAR) -> Path:
    """The raw rows of a ProPublica file screened in [start, end), header and all, as a CSV."""
    with gzip.open(shared(name), "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    at = rows[0].index("compas_screening_date")
    with path.open("w", newline="") as out:
        csv.writer(out).writerows([rows[0], *(r for r in rows[1:] if start <= r[at] < end)])
    return path


def test_the_follow_up_cut_off_is_found_in_both_propublica_files() -> None:
    """From 2014-04-01 on, 872 of the 875 people kept in the two-year file have two_year_recid = 1 (0.366
    before): Barenstein's (2019) cut-off, found from the data. The violent file has it too."""
    d = load_compas(shared(TWO_YEAR))
    t = censored_tail(d.rows, "two_year_recid")
    assert t is not None
    assert (t.start, t.end, t.n_tail, t.n_positive, t.n_before) == ("2014-04-01", "2014-12-31", 875, 872, 5297)
    assert round(t.rate_before, 3) == 0.366
    assert "872 of them (99.7%) have two_year_recid = 1" in t.message("f.csv")
    assert "Restrict to screenings before 2014-04-01" in t.message("f.csv")
    v = censored_tail(load_compas(shared(VIOLENT)).rows, "two_year_recid")
    assert v is not None and (v.start, v.n_tail, v.n_positive) == ("2014-04-01", 198, 195)
    before = d.rows[d.rows["compas_screening_date"] < "2014-04-01"]
    assert censored_tail(before, "two_year_recid") is None  # the honest part of the file: no warning


def test_risk_fit_on_screenings_past_the_cut_off_warns(tmp_path: Path) -> None:
    """A fit on the 2014 screenings (as docs/risk.md once proposed for held-out validation) learns from
    one-sided outcomes: its card says so; before, it said nothing."""
    data = compas_slice(tmp_path / "c2014.csv", "2014-01-01", "2015-01-01")
    got = runner.invoke(app, ["risk", "fit", str(data), "--label", "two_year_recid", "--model", "logistic",
                              "--features", "age,priors_count", "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert got.exit_code == 0, got.output
    card = json.loads(got.output.strip().splitlines()[-1])
    card = card.get("card", card)
    censored = [w for w in card.get("warnings", []) if w.startswith("CENSORED OUTCOMES")]
    assert len(censored) == 1
    assert "875 rows of" in censored[0] and "against 36.1% of the 952 screened before 2014-04-01" in censored[0]
