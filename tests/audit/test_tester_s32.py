"""A fairness auditor's findings on ``crimelens audit``: the censored follow-up, each group's cut in the
group-threshold mitigation, small groups there, ``--bootstrap 0``, signed small counts, a semicolon-separated
file, duplicate columns that disagree, and the dashboard's calibration chart and forms."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crimelens.audit import compare_decisions
from crimelens.audit._html import _count
from crimelens.cli import app
from tests.conftest import shared
from tests.risk.test_tester_s32 import compas_slice

runner = CliRunner()
COMPAS = "compas/compas-scores-two-years.deid.csv.gz"
ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "crimelens" / "web"


def _run(db: Path, data: Path, *args: str, as_json: bool = True) -> Any:
    got = runner.invoke(app, ["audit", str(data), "--label", "two_year_recid", "--group", "race", "--threshold", "5",
                              "--db", str(db), *(["--json"] if as_json else []), *args])
    assert got.exit_code == 0, got.output
    return json.loads(got.output.strip().splitlines()[-1]) if as_json else got.output


def test_an_audit_past_the_follow_up_cut_off_warns_everywhere(tmp_path: Path) -> None:
    """The 2014 screenings: 875 of 1,827 are after the cut-off, 872 of them re-arrested. JSON, text and HTML warn;
    the first quarter of 2014 alone (the honest held-out slice) does not."""
    db, html = tmp_path / "t.duckdb", tmp_path / "a.html"
    data = compas_slice(tmp_path / "c2014.csv", "2014-01-01", "2015-01-01")
    doc = _run(db, data, "--score", "decile_score", "--bootstrap", "0", "--html", str(html))
    censored = [w for w in doc.get("warnings", []) if w.startswith("CENSORED OUTCOMES")]
    assert len(censored) == 1 and "875 rows of" in censored[0] and "872 of them (99.7%)" in censored[0]
    assert "CENSORED OUTCOMES: 875 rows" in html.read_text(encoding="utf-8")
    text = " ".join(_run(db, data, "--score", "decile_score", "--bootstrap", "0", as_json=False).split())
    assert "CENSORED OUTCOMES: 875 rows" in text and "Restrict to screenings before 2014-04-01" in text
    q1 = compas_slice(tmp_path / "c2014q1.csv", "2014-01-01", "2014-04-01")
    doc = _run(db, q1, "--score", "decile_score", "--bootstrap", "0")
    assert not any(w.startswith("CENSORED") for w in doc.get("warnings", []))
    assert doc["n"] == 952


def test_group_thresholds_show_each_cut_and_keep_small_groups_on_the_overall_one(tmp_path: Path) -> None:
    """COMPAS decile, FPR matched to Caucasian's: African-American people are flagged at >= 7. The cut was only in
    params.thresholds; the 31 Asian and 11 Native American people got cuts of their own from rates the main
    tables call too noisy for a comparison."""
    db, html = tmp_path / "t.duckdb", tmp_path / "a.html"
    args = ("--score", "decile_score", "--reference", "race=Caucasian", "--bootstrap", "0",
            "--mitigate")
    doc = _run(db, shared(COMPAS), *args, "--html", str(html))
    gt = next(m for m in doc["mitigations"] if m["name"] == "group-specific thresholds")
    rows = {t["group"]: t for t in gt["tradeoff"]}
    assert rows["African-American"]["flag_at"] == 7 and rows["Caucasian"]["flag_at"] == 5
    assert rows["(all)"]["flag_at"] is None
    for small in ("Asian", "Native American"):
        assert rows[small]["flag_at"] == 5 and rows[small]["below_min_size"]
        assert rows[small]["note"] == "n < 50: no comparison, overall cut kept"
        assert rows[small]["who_gains_who_loses"] == "no change"
    assert gt["params"]["kept_overall"] == ["Asian", "Native American"]
    assert "(Asian, Native American) keep the overall cut (score ≥ 5)" in gt["description"]
    page = html.read_text(encoding="utf-8")
    assert "<th>flag_at</th>" in page and "<td>≥ 7</td>" in page and "overall cut kept" in page
    text = _run(db, shared(COMPAS), *args, as_json=False)
    lines = text[text.index("Mitigation: group-specific thresholds"):].splitlines()
    def field(group: str, name: str) -> str:  # the printed table, one block per group at 80 columns
        at = next(i for i, x in enumerate(lines) if x.split() == ["group", *group.split()])
        return next(x for x in lines[at:] if x.startswith(name))[len(name):].strip()
    assert field("African-American", "flagged at") == "≥ 7" and field("(all)", "flagged at") == "—"
    assert field("Asian", "flagged at") == "≥ 5"
    assert field("Asian", "note") == "n < 50: no comparison, overall cut kept"


def test_bootstrap_0_says_there_are_no_intervals(tmp_path: Path) -> None:
    db, html = tmp_path / "t.duckdb", tmp_path / "a.html"
    data = compas_slice(tmp_path / "c13.csv", "2013-01-01", "2013-04-01")
    text = " ".join(_run(db, data, "--score", "decile_score", "--bootstrap", "0", "--html", str(html),
                         as_json=False).split())
    assert "no bootstrap (--bootstrap 0): point estimates, no intervals" in text
    assert "95%" not in text and "[95" not in text
    page = html.read_text(encoding="utf-8")
    assert "no bootstrap (--bootstrap 0)" in page and "percentile intervals" not in page
    text = " ".join(_run(db, data, "--score", "decile_score", "--bootstrap", "20", as_json=False).split())
    assert "FPR [95%]" in text and "20 bootstrap replicates, 95% intervals" in text


def test_a_fraction_of_a_person_keeps_its_sign_and_size() -> None:
    """Expected counts of a randomised decision: +0.4 read "0 more wrongly flagged" and -0.04 read "-0.0"."""
    d = pd.read_csv(shared(COMPAS), usecols=["race", "two_year_recid", "decile_score"]).head(400)
    y = d["two_year_recid"].to_numpy()
    before = (d["decile_score"] >= 5).to_numpy(dtype=float)
    after = before.copy()
    neg = np.flatnonzero((y == 0) & (before == 0))
    after[neg[0]] = 0.4  # one person without the outcome, flagged with probability 0.4
    m = compare_decisions("t", y, d["race"], before, after, needs_protected_at_decision=False,
                          needs_protected_at_training=True, description="t")
    row = m.tradeoff.set_index("group").loc[d["race"].iloc[neg[0]]]
    assert row["who_gains_who_loses"] == "0.4 more wrongly flagged"
    assert _count(-0.04, change=True) == "-0.04" and _count(0.4, change=True) == "+0.4"
    assert _count(-3.0, change=True) == "-3" and _count(1e-12, change=True) == "0"


@pytest.mark.parametrize(("sep", "word"), [(";", "semicolon"), ("\t", "tab")])
def test_a_semicolon_separated_file_is_read_and_said_to_be(tmp_path: Path, sep: str, word: str) -> None:
    """Aequitas's COMPAS table, saved the way a European spreadsheet saves it: once refused with "no group
    column(s) ['race'] ... expected some of ['entity_id;score;label_value;race;sex;age_cat']"."""
    data = tmp_path / "semi.csv"
    pd.read_csv(shared("compas/compas_for_aequitas.csv.gz")).head(800).to_csv(data, sep=sep, index=False)
    got = runner.invoke(app, ["audit", str(data), "--score", "score", "--label", "label_value", "--group", "race",
                              "--threshold", "1", "--bootstrap", "0", "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.output.strip().splitlines()[-1])
    assert doc["n"] == 800 and doc["data"]["note"].startswith(f"read as {word}-separated")


def test_two_copies_of_a_column_that_disagree_are_warned_about(tmp_path: Path) -> None:
    """The COMPAS file holds decile_score twice; where the copies disagree the first is read, and now said."""
    with gzip.open(shared(COMPAS), "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    cols = [i for i, c in enumerate(rows[0]) if c == "decile_score"]
    assert len(cols) == 2
    at = rows[0].index("compas_screening_date")
    keep = [r for r in rows[1:] if "2013-01-01" <= r[at] < "2013-04-01"]
    keep[3][cols[1]] = "1" if keep[3][cols[0]] != "1" else "2"
    data = tmp_path / "dup.csv"
    with data.open("w", newline="") as out:
        csv.writer(out).writerows([rows[0], *keep])
    doc = _run(tmp_path / "t.duckdb", data, "--score", "decile_score", "--bootstrap", "0")
    dup = [w for w in doc.get("warnings", []) if w.startswith("column 'decile_score' appears more than once")]
    assert len(dup) == 1 and "disagree on 1 of" in dup[0] and "line 5:" in dup[0]
    assert dup[0].endswith("the first 'decile_score' is used")
    clean = compas_slice(tmp_path / "clean.csv", "2013-01-01", "2013-04-01")
    doc = _run(tmp_path / "t.duckdb", clean, "--score", "decile_score", "--bootstrap", "0")
    assert not any("appears more than once" in w for w in doc.get("warnings", []))


_NODE = """
const vm = require("vm"), fs = require("fs");
const form = {addEventListener: () => {}};
const ctx = {CL: {whoami: () => null, el: () => ({closest: () => form})}, console};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
const dec = vm.runInContext("calibrationScale([1.2, 2, 5.5, 9.8, null])", ctx);
const prob = vm.runInContext("calibrationScale([0.08, 0.4, 0.93])", ctx);
const cut = vm.runInContext("[mitigationCut({flag_at: 7}), mitigationCut({flag_at: null})]", ctx);
console.log(JSON.stringify({dec, prob, cut}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_dashboard_calibration_axis_is_in_the_score_units() -> None:
    """risk.js drew the dashed "perfect calibration" diagonal for COMPAS deciles and labelled the axis 0-1
    (points at mean_score / 10). A decile now gets its own axis (1..10) and no diagonal."""
    got = subprocess.run(["node", "-e", _NODE, str(WEB / "static" / "risk.js")], capture_output=True, text=True,
                         timeout=60, check=True)
    out = json.loads(got.stdout)
    assert out["dec"] == {"lo": 1, "hi": 10, "diagonal": False, "ticks": list(range(1, 11))}
    assert out["prob"]["diagonal"] is True and (out["prob"]["lo"], out["prob"]["hi"]) == (0, 1)
    assert out["cut"] == ["≥ 7", "—"]
    js = (WEB / "static" / "risk.js").read_text(encoding="utf-8")
    assert "sc.diagonal ?" in js and "c.mean_score / smax" not in js


def test_no_inline_submit_handler_is_left_for_the_csp_to_block() -> None:
    """script-src 'self' refuses inline handlers: each onsubmit="return false" was a console error per load."""
    for page, script, ids in (("risk", "risk", ('"rm-models"', '"audits"')),
                              ("series", "series", ('"runs"', '"pair-runs"'))):
        assert "onsubmit" not in (WEB / "templates" / f"{page}.html").read_text(encoding="utf-8")
        js = (WEB / "static" / f"{script}.js").read_text(encoding="utf-8")
        line = next(x for x in js.splitlines() if ".closest(\"form\").addEventListener(\"submit\"" in x
                    and "preventDefault" in x)
        assert all(i in line for i in ids)
