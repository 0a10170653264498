"""``crimelens audit DATA ...`` on a real store: what the ledger records, refusals logged, the HTML's counts."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.errors import InputError, InvalidParameterError
from crimelens.governance import Ledger, LedgerEntry
from crimelens.storage import DuckDBStore
from tests.conftest import shared

runner = CliRunner()
COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


def _audit(db: Path, *args: str, data: Path | None = None) -> Any:
    got = runner.invoke(app, ["audit", str(data or shared(COMPAS)), "--score", "decile_score", "--label",
                              "two_year_recid", "--group", "race", "--group", "sex", "--threshold", "5",
                              "--bootstrap", "20", "--db", str(db), "--json", *args])
    if got.exception is not None and not isinstance(got.exception, SystemExit):
        return got.exception
    assert got.exit_code == 0, got.output
    return json.loads(got.output.strip().splitlines()[-1])


def _entries(db: Path) -> list[LedgerEntry]:
    with DuckDBStore.open(db) as store:
        return [e for _, e in Ledger(store).entries(action="audit.fairness")]


def test_the_ledger_records_every_input_that_changes_the_report(tmp_path: Path) -> None:
    """Audits against race=Caucasian and race=Hispanic once had identical ledger parameters."""
    db = tmp_path / "t.duckdb"
    html = tmp_path / "a.html"
    white = _audit(db, "--reference", "race=Caucasian", "--mitigate", "--html", str(html))
    hispanic = _audit(db, "--reference", "race=Hispanic", "--no-intersections")
    assert white["json_sha256"] != hispanic["json_sha256"]
    a, b = _entries(db)
    assert a.params["reference"] == {"race": "Caucasian"} and b.params["reference"] == {"race": "Hispanic"}
    assert a.params["reference_used"] == {"overall": "all", "race": "Caucasian", "sex": "Male",
                                          "race × sex": "Caucasian × Male"}
    assert a.params["reference_rule"]["race × sex"] == "crossing of race=Caucasian (given) × sex=Male (largest)"
    assert (a.params["mitigate"], a.params["intersections"]) == (True, True)
    assert (b.params["mitigate"], b.params["intersections"]) == (False, False)
    assert a.params["threshold"] == 5.0 and a.params["layout"] == "compas" and a.params["random_state"] == 0
    # the mitigation table counts people: -277 wrongly flagged (-276 before the groups under 50
    # people kept the overall cut), not -277.000
    text = html.read_text(encoding="utf-8")
    start = text.index("<h2>Mitigation: group-specific thresholds")
    cells = re.findall(r"<td>([^<]*)</td>", text[start:text.index("</table>", start)])
    assert cells[:2] == ["(all)", "6,172"]
    assert "-277" in cells and "+325" in cells and not any(c.endswith(".000") and c.lstrip("+-").startswith("277")
                                                           for c in cells)


def test_refused_audits_are_logged_with_what_was_asked(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    typo = _audit(db, "--reference", "Race=Caucasian")
    assert isinstance(typo, InvalidParameterError)
    assert "'Race' is not an audited group column (did you mean 'race'?" in str(typo)
    assert "expected one of ['race', 'sex', 'race × sex']" in str(typo)
    not_audited = _audit(db, "--reference", "age_cat=25 - 45")
    assert isinstance(not_audited, InvalidParameterError) and "'age_cat' is not an audited group column" in str(not_audited)
    with gzip.open(shared(COMPAS), "rt", newline="") as fh:
        rows = [[r[k] for k in ("decile_score", "two_year_recid", "race", "sex")]
                for r in list(csv.DictReader(fh))[:300]]
    rows[9][1] = ""  # an empty label on line 11 (the header is line 1)
    bad = tmp_path / "scores.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows([["decile_score", "two_year_recid", "race", "sex"], *rows])
    empty = _audit(db, data=bad)
    assert isinstance(empty, InputError)
    assert "scores.csv line 11, column 'two_year_recid': got an empty cell; expected 0 or 1" in str(empty)
    rows[9][1], rows[19][0] = "0", ""
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows([["decile_score", "two_year_recid", "race", "sex"], *rows])
    no_score = _audit(db, data=bad)
    assert "scores.csv line 21, column 'decile_score': got an empty cell; expected a number" in str(no_score)
    entries = _entries(db)
    assert [e.outcome for e in entries] == ["refused"] * 4
    assert entries[0].params["reference"] == {"Race": "Caucasian"}
    assert entries[0].detail["error"] == "InvalidParameterError" and "did you mean 'race'" in entries[0].detail["reason"]
    assert entries[2].detail["error"] == "SchemaError" and entries[2].data_hash is not None


def test_the_printed_report_names_each_reference_and_drops_tiny_auc_intervals(tmp_path: Path) -> None:
    got = runner.invoke(app, ["audit", str(shared(COMPAS)), "--score", "decile_score", "--label", "two_year_recid",
                              "--group", "race", "--group", "sex", "--threshold", "5", "--bootstrap", "50",
                              "--reference", "race=Caucasian", "--db", str(tmp_path / "t.duckdb")])
    assert got.exit_code == 0, got.output
    text = " ".join(got.output.split())
    assert "race (reference: Caucasian; given)" in text
    assert "race × sex (reference: Caucasian × Male; crossing of race=Caucasian (given) × sex=Male (largest))" in text
    tiny = text[text.index("Asian × Female"):]
    assert tiny.split("AUC ", 1)[1].startswith("1.000 accuracy")  # no "[1.000, 1.000]"
    assert "n < 50: no comparison, no AUC interval" in tiny


def test_two_references_for_one_column_are_refused(tmp_path: Path) -> None:
    """The last one used to win without a word."""
    got = _audit(tmp_path / "t.duckdb", "--reference", "race=Caucasian", "--reference", "race=Hispanic")
    assert isinstance(got, InvalidParameterError)
    assert "got two groups for 'race' ('Caucasian' and 'Hispanic'); expected one per column" in str(got)
