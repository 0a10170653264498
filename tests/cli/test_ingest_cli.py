"""The ingest commands through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, shared

run = run_cli
def test_ingest_summary_and_quarantine_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    code, out, _ = run(capsys, "ingest", str(shared("vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz")),
                       "--db", db, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["n_read"] == 37512 and doc["n_landed"] + doc["n_quarantined"] == 37512
    assert doc["top_reasons"][0]["rows"] == 3750
    code, out, _ = run(capsys, "incidents", "summary", "--db", db, "--json")
    summary = json.loads(out)["datasets"][0]
    assert code == 0 and summary["n_incidents"] == doc["n_landed"]
    # a year of Vancouver records, read in Vancouver time: the span is that year, not 08:00 UTC on either side
    assert summary["timezone"] == "America/Vancouver"
    assert (summary["first_local"], summary["last_local"]) == ("2020-01-01T00:00:00-08:00", "2020-12-31T23:55:00-08:00")
    assert (summary["first"], summary["last"]) == ("2020-01-01T08:00:00+00:00", "2021-01-01T07:55:00+00:00")
    code, out, _ = run(capsys, "incidents", "summary", "--db", db)
    assert code == 0 and "2020-12-31" in out and "2021-01-01" not in out and "America/Vancouver" in out
    code, out, _ = run(capsys, "quarantine", "list", "--db", db, "--reason", "daylight", "--json")
    q = json.loads(out)
    assert q["total"] == 2 and all("daylight-saving" in r["reason"] for r in q["rows"])


def test_errors_map_to_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    code, out, _ = run(capsys, "ingest", str(bad), "--db", str(tmp_path / "c.duckdb"), "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and doc["type"] == "SchemaError" and doc["status"] == 422
    code, _, err = run(capsys, "ingest", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "c.duckdb"))
    assert code == 1 and "no such file" in err


def test_ingest_reads_the_database_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_DB", str(tmp_path / "env.duckdb"))
    code, _, _ = run(capsys, "ingest", str(shared("sf_robbery/san_francisco_robbery.csv")), "--json")
    assert code == 0 and (tmp_path / "env.duckdb").exists()


def test_group_without_a_command_prints_help_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "incidents")
    assert code == 0 and "summary" in out
    code, out, err = run(capsys, "ingest", "--bogus")
    assert code == 2 and "No such option" in err


def test_names_and_values_from_files_print_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Square brackets in a file name, a dataset name or a refused value are text, not terminal markup."""
    lines = shared("sf_robbery/san_francisco_robbery.csv").read_text().splitlines()[:21]
    src = tmp_path / "robbery[final].csv"
    src.write_text("\n".join([*lines, "99999999,personal robbery,[/b] not a date,-122.4,37.78"]) + "\n")
    db = str(tmp_path / "c.duckdb")
    code, out, _ = run(capsys, "ingest", str(src), "--dataset", "sf[red]", "--db", db)
    assert code == 0
    assert "robbery[final].csv → dataset sf[red] with layout sf_code" in " ".join(out.split())
    code, out, _ = run(capsys, "quarantine", "list", "--db", db)
    assert code == 0 and "[/b] not a date" in out and "robbery[final].csv" in out
    code, _, err = run(capsys, "ingest", str(tmp_path / "no[such].csv"), "--db", db)
    assert code == 1 and "no[such].csv: no such file" in err
    code, _, err = run(capsys, "forecast", "run", "--dataset", "[/x]", "--offense", "robbery", "--at", "2019-02-01",
                       "--db", db)
    text = " ".join(err.split())
    assert code != 0 and "no dataset '[/x]' in the store" in text and "it holds ['sf[red]']" in text
    assert "Traceback" not in err


def test_a_table_too_wide_for_the_terminal_prints_one_block_per_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from crimelens.cli._common import console

    db = str(tmp_path / "c.duckdb")
    for name in ("sf_robbery/san_francisco_robbery.csv", "cincinnati_burglary/cincinnati_burglary.csv.gz"):
        assert run(capsys, "ingest", str(shared(name)), "--db", db, "--json")[0] == 0
    monkeypatch.setattr(console, "width", 200)
    code, out, _ = run(capsys, "incidents", "summary", "--db", db)
    assert code == 0
    row = next(line for line in out.splitlines() if "cincinnati_burglary" in line)
    assert "8,297" in row and "2016-01-01" in row and "burglary 8,297" in row  # one row a dataset
    monkeypatch.setattr(console, "width", 60)
    code, out, _ = run(capsys, "incidents", "summary", "--db", db)
    assert code == 0 and "…" not in out
    blocks = [b for b in out.split("\n\n") if "dataset" in b]
    assert len(blocks) == 2
    keys = ("dataset", "incidents", "first", "quarantined")
    fields = dict(line.split(None, 1) for line in blocks[0].splitlines() if line.startswith(keys))
    assert fields["dataset"].strip() == "cincinnati_burglary" and fields["first"].strip() == "2016-01-01"
    assert fields["incidents"].strip() == "8,297" and fields["quarantined"].strip() == "426"


def test_a_blank_or_padded_dataset_name_is_refused_and_nothing_is_stored(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    src = str(shared("sf_robbery/san_francisco_robbery.csv"))
    hidden = tmp_path / ".csv"  # nothing before its suffix, in a layout that names no dataset
    hidden.write_text("incident_id,offense,occurred_from,occurred_to,lon,lat\n"
                      "c1,robbery,2019-01-01T19:50:00-08:00,2019-01-01T19:50:00-08:00,-122.402066,37.788721\n")
    for args in (["--dataset", "  "], ["--dataset", " sf"], ["--dataset", "a\tb"], ["--dataset", ""]):
        code, _, err = run(capsys, "ingest", src, *args, "--db", db)
        assert code == 2 and "expected 1 to 100 printable characters" in " ".join(err.split()), args
    code, _, err = run(capsys, "ingest", str(hidden), "--db", db)
    assert code == 2 and "dataset name ''" in err
    code, out, _ = run(capsys, "incidents", "summary", "--db", db, "--json")
    assert code == 0 and json.loads(out)["datasets"] == []
    code, out, _ = run(capsys, "ingest", src, "--dataset", "San Francisco robbery", "--db", db, "--json")
    assert code == 0 and json.loads(out)["dataset"] == "San Francisco robbery"


def test_columns_with_one_value_are_printed_once_above_a_narrow_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from crimelens.cli._common import console

    db = str(tmp_path / "c.duckdb")
    vancouver = "vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz"
    assert run(capsys, "ingest", str(shared(vancouver)), "--db", db, "--json")[0] == 0
    monkeypatch.setattr(console, "width", 80)
    code, out, _ = run(capsys, "quarantine", "list", "--reason", "zero coordinates", "--limit", "5", "--db", db)
    assert code == 0 and "…" not in out
    rows = out[out.index("\nRows\n"):]
    assert rows.count("crimedata_csv_AllNeighbourhoods_2020.csv.gz") == 1  # the file, once for all five rows
    assert "column   X/Y" in rows and "value    0.0, 0.0" in rows
    lines = [int(x.strip("│ ")) for x in rows.splitlines() if x.strip("│ ").isdigit()]
    assert len(lines) == 5 and lines == sorted(lines)  # one line number a row, in a table


def test_areas_for_a_dataset_without_incidents_are_kept_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    grid = str(shared("oakland_drug_2010/oakland_grid.geojson"))
    assert run(capsys, "ingest", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")), "--db", db,
               "--dataset", "oakland", "--json")[0] == 0
    code, out, _ = run(capsys, "areas", "load", grid, "--dataset", "oakand", "--db", db)  # a typo
    assert code == 0 and "dataset oakand holds no incidents yet (the store has: oakland)" in " ".join(out.split())
    code, out, _ = run(capsys, "areas", "load", grid, "--dataset", "oakland", "--db", db, "--json")
    assert code == 0 and json.loads(out)["dataset_has_incidents"] is True and json.loads(out)["n_areas"] == 661


def test_a_folder_of_monthly_files_goes_into_one_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    # police.uk ships one file per month in one folder per month: split Nottingham's year that way
    year = pd.read_csv(shared("uk_police_nottingham/nottingham_burglary.csv.gz"))
    archive = tmp_path / "archive"
    for month, rows in year.groupby("month"):
        folder = archive / str(month)[:7]
        folder.mkdir(parents=True)
        rows.to_csv(folder / f"{str(month)[:7]}-nottinghamshire-burglary.csv", index=False)
    (archive / "README.txt").write_text("not a data file")
    db = str(tmp_path / "n.duckdb")
    code, _, err = run(capsys, "ingest", str(archive), "--db", db)
    assert code == 2 and "12 files (2022-01-nottinghamshire-burglary.csv, ...) go into one dataset; expected " \
                          "--dataset NAME" in " ".join(err.split())
    assert not Path(db).exists()
    code, out, _ = run(capsys, "ingest", str(archive), "--dataset", "notts", "--db", db, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["n_files"] == 12 and doc["n_read"] == doc["n_landed"] == len(year)
    assert [Path(f["file"]).name[:7] for f in doc["files"]] == sorted(year["month"].str[:7].unique())
    # again, with one more file given beside the folder: the twelve are skipped, the new one stored
    extra = tmp_path / "2023-01.csv"
    year.head(5).assign(month="2023-01-01").to_csv(extra, index=False)
    code, out, _ = run(capsys, "ingest", str(archive), str(extra), "--dataset", "notts", "--db", db, "--json")
    again = json.loads(out)
    assert code == 0 and again["n_files"] == 13 and again["n_already_ingested"] == 12
    assert again["n_read"] == again["n_landed"] == 5  # the totals count this run's rows only
    code, out, _ = run(capsys, "incidents", "summary", "--db", db, "--json")
    assert json.loads(out)["datasets"][0]["n_incidents"] == len(year) + 5
    # a bad file in the middle: the ones before it stay, the message names it and what was kept
    bad = archive / "2022-06" / "2022-06-zz-other.csv"
    bad.write_text("a,b\n1,2\n")
    fresh = str(tmp_path / "f.duckdb")
    code, _, err = run(capsys, "ingest", str(archive), "--dataset", "notts", "--db", fresh)
    text = " ".join(err.split())
    assert code == 2 and f"file 7 of 13, {bad}:" in text and "the 6 before it are stored, the rest were not read" in text
    code, out, _ = run(capsys, "incidents", "summary", "--db", fresh, "--json")
    assert json.loads(out)["datasets"][0]["files"] == 6
    # a folder without data, or one given to the service as a file, is refused by name
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "ingest", str(empty), "--db", db)
    assert code == 2 and "a folder without a data file; expected files ending in .csv" in " ".join(err.split())
    from crimelens.config import load_settings
    from crimelens.errors import InputError
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.ingest import ingest_file

    with open_context(load_settings(db=db)) as ctx, pytest.raises(InputError, match="a folder; expected one file"):
        ingest_file(ctx, archive, actor=Actor("ada"), dataset="notts")


@pytest.mark.parametrize("command", [
    ["areas", "load", "{folder}", "--dataset", "x"],
    ["risk", "fit", "{folder}", "--label", "y"],
    ["audit", "{folder}", "--score", "s", "--label", "y", "--group", "g"],
    ["nearrepeat", "run", "{folder}"],
    ["ingest", "{folder}/sub", "--dataset", "x"],
], ids=lambda c: " ".join(c[:2]))
def test_a_folder_where_a_file_is_expected_is_refused_by_name(command: list[str], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")  # GDAL would open this folder as a CSV data set
    args = [a.replace("{folder}", str(folder)) for a in command]
    code, _, err = run(capsys, *args, "--db", str(tmp_path / "s.duckdb"))
    text = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert ": a folder; expected" in text or "a folder without a data file" in text, text


def _code_slice(tmp_path: Path, name: str, rows: slice) -> Path:
    """Rows of Chicago's CODE aggravated assaults (a layout without ids: FILE:LINE)."""
    import gzip

    lines = gzip.decompress(shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz").read_bytes()
                            ).decode("utf-8").splitlines()
    path = tmp_path / name
    path.write_text("\n".join([lines[0], *lines[1:][rows]]) + "\n", encoding="utf-8")
    return path


def test_a_distorting_crs_is_warned_about_and_an_updated_export_lands_its_new_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    first = _code_slice(tmp_path, "assaults_2010a.csv", slice(0, 1000))
    code, out, _ = run(capsys, "ingest", str(first), "--db", db, "--dataset", "mercator", "--crs", "EPSG:3857")
    assert code == 0 and "warning" in out and "distorts distances" in out and "EPSG:32616" in out
    code, out, _ = run(capsys, "ingest", str(_code_slice(tmp_path, "b.csv", slice(0, 5))), "--db", db,
                       "--dataset", "utm", "--crs", "EPSG:32616", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["warnings"] == [] and 0.9995 < doc["crs_scale"]["max"] < 1.0
    code, out, _ = run(capsys, "ingest", str(first), "--db", db, "--dataset", "x", "--crs", "EPSG:3435", "--json")
    assert code == 2 and "US survey foot" in json.loads(out)["error"]  # feet: refused

    # the next export repeats those 1,000 rows (another name, another order) beside 200 new ones
    update = _code_slice(tmp_path, "assaults_2010b.csv", slice(0, 1200))
    text = update.read_text(encoding="utf-8").splitlines()
    update.write_text("\n".join([text[0], *reversed(text[1:])]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "ingest", str(update), "--db", db, "--dataset", "mercator", "--json")
    doc = json.loads(out)
    assert code == 0 and (doc["n_landed"], doc["n_quarantined"]) == (200, 1000)
    code, out, _ = run(capsys, "quarantine", "list", "--db", db, "--reason", "duplicate row", "--limit", "1", "--json")
    q = json.loads(out)
    assert q["total"] == 1000 and q["rows"][0]["reason"].startswith("duplicate row: same content as 'assaults_2010a.csv:")


def test_quarantine_list_shows_the_value_as_the_file_has_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _code_slice(tmp_path, "assaults.csv", slice(0, 3))
    text = path.read_text(encoding="utf-8").replace("2010-01-01 00:12", "2099-01-01 00:12")
    path.write_text(text, encoding="utf-8")
    db = str(tmp_path / "c.duckdb")
    assert run(capsys, "ingest", str(path), "--db", db, "--json")[0] == 0
    code, out, _ = run(capsys, "quarantine", "list", "--db", db, "--json")
    row = json.loads(out)["rows"][0]
    assert code == 0 and (row["column"], row["value"], row["reason"]) == (
        "date", "2099-01-01 00:12", "impossible date: in the future")  # before: '2099-01-01 06:12:00+00:00'


def test_reading_the_quarantine_and_the_summary_from_the_cli_is_logged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The API logged GET /api/quarantine and /api/datasets; the CLI read the same rows unlogged."""
    from crimelens.config import load_settings
    from crimelens.services import open_context

    db = tmp_path / "q.duckdb"
    src = tmp_path / "sf.csv"  # San Francisco's first robberies, one with its time spoiled
    lines = shared("sf_robbery/san_francisco_robbery.csv").read_text().splitlines()[:21]
    lines[5] = ",".join(v if i != 2 else "not a time" for i, v in enumerate(lines[5].split(",")))
    src.write_text("\n".join(lines) + "\n")
    code, _out, _err = run(capsys, "ingest", str(src), "--db", str(db), "--json")
    assert code == 0
    code, out, _err = run(capsys, "quarantine", "list", "--db", str(db), "--purpose", "data check", "--json")
    assert code == 0 and json.loads(out)["total"] == 1
    code, _out, _err = run(capsys, "incidents", "summary", "--db", str(db), "--json")
    assert code == 0
    with open_context(load_settings(db=db)) as ctx:
        entries = ctx.ledger.entries()
    actions = [(e.action, e.purpose) for _seq, e in entries]
    assert ("quarantine.list", "data check") in actions and ("data.status", "research") in actions
