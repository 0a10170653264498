"""The CLI and the services on a real store: runs stored with their ledger entries, JSON output, errors."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.errors import InvalidParameterError
from crimelens.governance import Ledger
from crimelens.storage import DuckDBStore
from crimelens.storage._feedback import feedback_runs
from tests.conftest import shared

runner = CliRunner()


def _json(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output.strip().splitlines()[-1])


def test_urn_simulation_is_stored_logged_and_reproducible(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    args = ["feedback", "simulate", "--scenario", "ensign-urn", "--runs", "30", "--days", "150", "--seed", "4",
            "--db", str(db), "--json", "--out", str(tmp_path / "figs")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    doc = _json(first.output)
    assert doc["ok"] and doc["mark"] == "research — not for operational use"
    assert set(doc["summary"]["final_shares"]) == {"uncorrected", "corrected (ipw)", "uncorrected, 20% citizen reports"}
    assert (tmp_path / "figs" / "ensign_urn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Two-region urn" in (tmp_path / "figs" / "feedback.md").read_text(encoding="utf-8")
    second = _json(runner.invoke(app, args).output)
    assert second["output_hash"] == doc["output_hash"]
    with DuckDBStore.open(db) as store:
        entries = Ledger(store).entries(action="feedback.simulate")
        assert [e.output_hash for _, e in entries] == [doc["output_hash"], doc["output_hash"]]
        assert entries[0][1].purpose == "research"
        assert entries[0][1].detail["run_id"] == doc["run_id"]
        stored = feedback_runs(store)
        assert {r.run_id for r in stored} == {doc["run_id"], second["run_id"]}
        assert stored[0].ledger_seq is not None
    listed = _json(runner.invoke(app, ["feedback", "runs", "--db", str(db), "--json"]).output)
    assert len(listed["runs"]) == 2
    shown = _json(runner.invoke(app, ["feedback", "show", doc["run_id"], "--db", str(db), "--json"]).output)
    assert shown["summary"]["true_share"] == doc["summary"]["true_share"]


def test_planted_city_simulation_with_a_sweep(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "simulate", "--scenario", "planted-city", "--model", "naive",
                                 "--days", "20", "--correction", "reported-only", "--sweep",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert set(doc["summary"]["runs"]) == {"no feedback", "feedback", "feedback + reported-only"}
    assert [r["detection_bias"] for r in doc["summary"]["detection_bias_sweep"]["rows"]] == [0.0, 0.01, 0.02, 0.03,
                                                                                             0.04, 0.05]


def test_oakland_from_the_shared_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "simulate", "--scenario", "oakland", "--days", "30", "--model", "naive",
                                 "--data", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["params"]["allocation"] == "top-20"
    assert doc["summary"]["runs"]["feedback"]["days"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "chicago"], "expected one of"),
        (["--scenario", "planted-city", "--correction", "magic"], "expected one of"),
        (["--scenario", "planted-city", "--model", "oracle"], "model 'oracle': unknown"),
        (["--seed", "-5"], "seed -5; expected 0 or more"),
        (["--scenario", "planted-city", "--days", "999999999"], "days 999999999; expected 1 to 3,660"),
        (["--runs", "999999999"], "days x runs = 1,999,999,998; expected at most 25,000,000"),
    ],
)
def test_bad_options_exit_2_with_a_json_error(tmp_path: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from crimelens.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["feedback", "simulate", "--days", "2", *args, "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert stop.value.code == 2
    assert message in json.loads(capsys.readouterr().out)["error"]


def test_audit_exposure_on_the_synthetic_city_files(tmp_path: Path) -> None:
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=2, days=120, n_series=0, n_areas=12).generate()
    city.write(tmp_path / "city")
    result = runner.invoke(app, ["audit", "exposure", "--data", str(tmp_path / "city" / "incidents.csv"),
                                 "--areas", str(tmp_path / "city" / "areas.geojson"), "--group-by", "group",
                                 "--periods", "4", "--period-days", "14", "--window-days", "56",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    groups = doc["summary"]["groups"]
    assert "intervals across them are too narrow" in doc["summary"]["caution"]  # 56-day windows, 14-day steps
    assert {"group_a", "group_b"} <= set(groups)
    shares = [g["flag_share"]["mean"] for g in groups.values()]  # edge cells partly outside the city count apart
    assert sum(shares) == pytest.approx(1.0, abs=1e-5)
    assert groups["group_a"]["population"] + groups["group_b"]["population"] == sum(a.population or 0
                                                                                    for a in city.areas)
    assert "caution_window" not in doc["summary"]  # 56 + 4 x 14 days fit in the 120 days of records
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        (_, entry), = Ledger(store).entries(action="feedback.exposure")
        assert entry.output_hash == doc["output_hash"]

    def exposure(*args: str) -> Any:
        got = runner.invoke(app, ["audit", "exposure", "--data", str(tmp_path / "city" / "incidents.csv"),
                                  "--areas", str(tmp_path / "city" / "areas.geojson"), *args,
                                  "--db", str(tmp_path / "t.duckdb"), "--json"])
        return got.exception if got.exception is not None else _json(got.output)

    # periods that reach before the first record, or a window longer than the records: refused by name
    refused = exposure("--periods", "20", "--period-days", "14")
    assert isinstance(refused, InvalidParameterError)
    assert "20 periods of 14 days need 280 days of records" in str(refused) and "holds 122 (" in str(refused)
    refused = exposure("--window-days", "999999999")
    assert "a training window of 999,999,999 days is longer than the 122 days" in str(refused)
    # a window that starts before the first record: the audit runs and says so
    doc = exposure("--periods", "4", "--period-days", "14", "--window-days", "100")
    assert "starts 34 days before the first record" in doc["summary"]["caution_window"]


def test_audit_exposure_needs_incidents_and_areas(tmp_path: Path) -> None:
    from crimelens.cli import main
    from crimelens.storage import DuckDBStore

    db = tmp_path / "t.duckdb"
    with pytest.raises(SystemExit) as stop:  # no store there yet, and no --data to make one from
        main(["audit", "exposure", "--db", str(db), "--json"])
    assert stop.value.code == 1 and not db.exists()
    DuckDBStore.open(db).close()  # an empty store: the command asks for incidents
    with pytest.raises(SystemExit) as stop:
        main(["audit", "exposure", "--db", str(db), "--json"])
    assert stop.value.code == 2


def test_report_section_lists_stored_runs_with_their_hashes(tmp_path: Path) -> None:
    from crimelens.config import load_settings
    from crimelens.services import open_context
    from crimelens.services.feedback import report_section

    db = tmp_path / "t.duckdb"
    urn = _json(runner.invoke(app, ["feedback", "simulate", "--scenario", "ensign-urn", "--runs", "10", "--days", "50",
                                    "--db", str(db), "--json"]).output)
    grid = _json(runner.invoke(app, ["feedback", "simulate", "--scenario", "planted-city", "--model", "naive",
                                     "--days", "10", "--db", str(db), "--json"]).output)
    with open_context(load_settings(db=db)) as ctx:
        md = report_section(ctx)
        html = report_section(ctx, fmt="html")
    assert md.index(urn["run_id"]) < md.index(grid["run_id"])
    assert urn["output_hash"] in md and grid["output_hash"] in md
    assert f"{urn['summary']['final_shares']['uncorrected']:.3f}" in md
    assert (f"Amplification ratio (mean TV distance to the truth, feedback / no feedback): "
            f"{grid['summary']['amplification_ratio']:.3f}.") in md
    assert f"Concentration ratio (share of flags to the day-0 flagged cells, feedback / no feedback): " \
           f"{grid['summary']['concentration_ratio']:.3f}." in md
    assert "<table>" in html


def test_oakland_from_the_store_after_an_ingest(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    ingest = runner.invoke(app, ["ingest", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                 "--format", "oakland_lum_isaac", "--db", db, "--json"])
    assert ingest.exit_code == 0, ingest.output
    args = ["feedback", "simulate", "--scenario", "oakland", "--days", "20", "--model", "naive", "--db", db, "--json"]
    missing = runner.invoke(app, args)
    assert missing.exit_code != 0  # no bins: the store has no areas for the dataset and no --areas given
    result = runner.invoke(app, [*args, "--areas", str(shared("oakland_drug_2010/oakland_grid.geojson"))])
    assert result.exit_code == 0, result.output
    from_file = runner.invoke(app, ["feedback", "simulate", "--scenario", "oakland", "--days", "20", "--model", "naive",
                                    "--data", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                    "--db", db, "--json"])
    # the same records, whether read from the file or from the store, give the same run
    assert _json(result.output)["output_hash"] == _json(from_file.output)["output_hash"]


def test_audit_exposure_counts_each_incident_once(tmp_path: Path) -> None:
    """Cincinnati's export has a row per victim or offence (ids ID#2, ID#3...): the exposure audit's
    backtest counts each incident once, as forecasts do, and says how many records it left out."""
    import gzip

    from crimelens.ingest import read_file

    with gzip.open(shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), "rt") as fh:
        lines = fh.read().splitlines()
    src = tmp_path / "cincinnati_2018.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2018-" in x]]) + "\n")
    ids = read_file(src).table.frame["incident_id"].astype(str)
    n_copies = int(ids.str.contains("#").sum())
    west, east = (-84.72, 39.0, -84.51, 39.23), (-84.51, 39.0, -84.25, 39.23)
    areas = tmp_path / "halves.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": name, "group": name}, "geometry": {"type": "Polygon", "coordinates": [[
            [b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]]}}
        for name, b in (("west", west), ("east", east))]}))
    result = runner.invoke(app, ["audit", "exposure", "--data", str(src), "--areas", str(areas), "--group-by", "group",
                                 "--periods", "4", "--period-days", "14", "--window-days", "56",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["params"]["records"] == "incident" and doc["params"]["n_records_left_out"] == n_copies > 100


def _rectangles(path: Path, rects: list[tuple[float, float, float, float, str, int]]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"R{i}", "population": pop, "grp": grp},
         "geometry": {"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]}}
        for i, (a, b, c, d, grp, pop) in enumerate(rects)]}))


def _by_hand(csv: Path, areas: Path, *, window: int, periods: int, period_days: int, coverage: float,
             cell: float = 150.0) -> dict[str, Any]:
    """The exposure audit written out plainly (pyproj, shapely, numpy), to check the service against."""
    import math

    import numpy as np
    import pandas as pd
    import shapely
    from pyproj import Transformer

    to_m = Transformer.from_crs("EPSG:4326", "EPSG:32610", always_xy=True)
    features = json.loads(areas.read_text())["features"]
    polys = [shapely.transform(shapely.geometry.shape(f["geometry"]),
                               lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))) for f in features]
    labels = [f["properties"]["grp"] for f in features]
    xmin, ymin, xmax, ymax = shapely.union_all(polys).bounds
    x0, y0 = math.floor(xmin / cell) * cell, math.floor(ymin / cell) * cell
    nx, ny = math.floor((xmax - x0) / cell) + 1, math.floor((ymax - y0) / cell) + 1
    rows, cols = np.divmod(np.arange(nx * ny), nx)
    boxes = shapely.box(x0 + cols * cell, y0 + rows * cell, x0 + (cols + 1) * cell, y0 + (rows + 1) * cell)
    share = np.stack([shapely.area(shapely.intersection(boxes, p)) / cell**2 for p in polys], axis=1)
    kept = np.flatnonzero(share.sum(axis=1) > 0)
    weight = {g: share[kept][:, [i for i, lab in enumerate(labels) if lab == g]].sum(axis=1) for g in set(labels)}
    inc = pd.read_csv(csv)
    x, y = to_m.transform(inc["longitude"].to_numpy(), inc["latitude"].to_numpy())
    col, row = np.floor((x - x0) / cell).astype(int), np.floor((y - y0) / cell).astype(int)
    cell_of = np.where((col >= 0) & (col < nx) & (row >= 0) & (row < ny), row * nx + col, -1)
    where = np.full(nx * ny + 1, -1)
    where[kept] = np.arange(len(kept))
    k = where[cell_of]  # -1: in no kept cell (cell_of -1 reads the spare last slot)
    # the sf_code layout reads date_time as San Francisco wall-clock time despite its "Z" (PROVENANCE.md);
    # the audit counts San Francisco's calendar days (the zone the file is read in), as forecasts do
    local = pd.to_datetime(inc["date_time"].str.rstrip("Z")).dt.tz_localize("America/Los_Angeles")
    t = local.dt.tz_localize(None).dt.normalize()
    n_days = window + periods * period_days
    day = ((t - (t.max() - pd.Timedelta(days=n_days - 1))) // pd.Timedelta(days=1)).to_numpy()
    counts = np.zeros((n_days, len(kept)))
    ok = (k >= 0) & (day >= 0)
    np.add.at(counts, (day[ok], k[ok]), 1.0)
    read = (day >= 0) & (day < n_days)
    out: dict[str, Any] = {"split": {g: [] for g in weight}, "index": {g: [] for g in weight},
                           "positive": {g: [] for g in weight}, "cells_positive": [],
                           "incidents": {g: [] for g in weight}, "outside": 0, "tied": [],
                           "all_days": {"days": n_days, "n_incidents": int(read.sum()),
                                        "n_incidents_outside_cells": int((read & (k < 0)).sum())}}
    n_flags = math.ceil(coverage * len(kept) - 1e-9 * len(kept))
    for p in range(periods):
        start = window + p * period_days
        score = counts[start - window:start].sum(axis=0)
        cut = np.sort(score)[::-1][n_flags - 1]
        above, tied = score > cut, score == cut
        split = above + tied * (n_flags - above.sum()) / tied.sum()  # each tied cell: flags left / cells tied
        index = np.zeros(len(kept))
        index[np.lexsort((np.arange(len(kept)), -score))[:n_flags]] = 1.0  # tied cells by cell index
        given = split * (score > 0)  # the audit's rule: a cell of risk 0 is never flagged
        out["cells_positive"].append(int((score > 0).sum()))
        now = counts[start:start + period_days].sum(axis=0)
        beyond = int(((k < 0) & (day >= start) & (day < start + period_days)).sum())
        out["outside"] += beyond
        out["tied"].append((n_flags - above.sum()) / n_flags)
        for g, w in weight.items():
            out["split"][g].append(float((split * w).sum() / n_flags))
            out["index"][g].append(float((index * w).sum() / n_flags))
            out["positive"][g].append(float((given * w).sum() / given.sum()))
            out["incidents"][g].append(float((now * w).sum() / (now.sum() + beyond)))
    return {key: ({g: float(np.mean(v)) for g, v in val.items()} if key in ("split", "index", "positive", "incidents")
                  else val)
            for key, val in out.items()}


def test_sf_exposure_flags_only_cells_with_risk_and_matches_a_computation_by_hand(tmp_path: Path) -> None:
    """San Francisco robbery, two halves of equal population (south / north of 37.77). Naive counts over 180
    days give only 299-340 of 9,935 cells a risk above 0, against the 497 flags a 5 % coverage asks for: 35 %
    of each period's flags fell on cells tied at 0, placed by the tie rule alone. Taken by cell index
    (southern rows first) they made the south look flagged 1.157 times its share of residents; split pro
    rata, 1.028. Those flags are not the model's choice: only cells with risk above 0 count as flagged now
    (south 1.055, north 0.945 times their share of residents), whatever the tie rule, and the summary says
    per period how many flags were asked for and how many cells had any risk."""
    data = shared("sf_robbery/san_francisco_robbery.csv")
    areas = tmp_path / "halves.geojson"
    _rectangles(areas, [(-122.52, 37.70, -122.36, 37.77, "south", 60000), (-122.52, 37.77, -122.36, 37.84, "north", 60000)])
    db = tmp_path / "t.duckdb"
    args = ["audit", "exposure", "--data", str(data), "--areas", str(areas), "--group-by", "grp", "--periods", "8",
            "--period-days", "14", "--window-days", "180", "--db", str(db), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    hand = _by_hand(data, areas, window=180, periods=8, period_days=14, coverage=0.05)
    groups = doc["summary"]["groups"]
    for g in ("south", "north"):
        assert groups[g]["flag_share"]["mean"] == pytest.approx(hand["positive"][g], abs=1e-6)
        assert groups[g]["incident_share"]["mean"] == pytest.approx(hand["incidents"][g], abs=1e-6)
    assert groups["south"]["ratio_to_population"]["mean"] == pytest.approx(1.055, abs=1e-3)  # before: 1.028
    assert groups["north"]["ratio_to_population"]["mean"] == pytest.approx(0.945, abs=1e-3)  # before: 0.957
    assert groups["(outside areas)"]["flag_share"]["mean"] == 0.0  # before: 0.008, all of it tied at 0
    flags = doc["summary"]["flags"]
    assert [r["cells_risk_above_0"] for r in flags["per_period"]] == hand["cells_positive"]
    assert min(hand["cells_positive"]) == 299 and max(hand["cells_positive"]) == 340
    assert {r["flags_asked"] for r in flags["per_period"]} == {497.0} and flags["n_periods_short"] == 8
    assert [r["flags"] for r in flags["per_period"]] == pytest.approx(hand["cells_positive"])
    assert doc["summary"]["caution_zero_risk"].startswith(
        "in 8 of 8 periods fewer cells had a forecast risk above 0 (299-340) than the 497 flags the coverage asks for")
    # what the tie rule alone placed before: 35 % of the flags, all on cells tied at 0
    assert float(np.mean(hand["tied"])) == pytest.approx(0.353, abs=1e-3)
    ties = doc["summary"]["ties"]
    assert ties["rule"] == "split" and ties["share_of_flags_tied"]["mean"] == 0.0
    assert "caution_ties" not in doc["summary"]
    # the tie rule no longer decides anything: by cell index, the same shares
    by_index = _json(runner.invoke(app, [*args, "--ties", "index"]).output)
    shares = {g: by_index["summary"]["groups"][g]["flag_share"]["mean"] for g in ("south", "north")}
    assert shares == pytest.approx(hand["positive"], abs=1e-6)
    assert hand["index"]["south"] == pytest.approx(0.578, abs=1e-3)  # what cell order made of it before
    printed = " ".join(runner.invoke(app, args[:-1]).output.split())
    assert "caution: in 8 of 8 periods fewer cells had a forecast risk above 0" in printed
    with DuckDBStore.open(db) as store:
        entries = [e for _, e in Ledger(store).entries(action="feedback.exposure")]
    assert [e.params["ties"] for e in entries] == ["split", "index", "split"]


def test_exposure_of_month_only_records_flags_nothing_where_every_forecast_is_0(tmp_path: Path) -> None:
    """Nottingham's burglaries are known to the month (counted on its first day): a 14-day training window
    holds a month's records or none. In the 4 of 8 periods whose window holds none, every cell's forecast
    is 0, and the audit flagged 130 cells anyway: by cell index the southern rows (south 0.63 of the flags,
    1.26 times its share of residents), split pro rata every cell a little (a hit rate of exactly the 5 %
    coverage in both halves, from those periods alone). Now those periods flag nothing, the rule of the
    ties changes no figure, and the summary says so."""
    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.ingest import ingest_file

    db = tmp_path / "n.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("uk_police_nottingham/nottingham_burglary.csv.gz"), actor=Actor("ada"),
                    dataset="nottingham")
    areas = tmp_path / "halves.geojson"
    _rectangles(areas, [(-1.25, 52.89, -1.09, 52.96, "south", 160000), (-1.25, 52.96, -1.09, 53.02, "north", 160000)])
    args = ["audit", "exposure", "--dataset", "nottingham", "--areas", str(areas), "--group-by", "grp",
            "--periods", "8", "--period-days", "14", "--window-days", "14", "--cell-m", "250", "--db", str(db), "--json"]
    docs = {ties: _json(runner.invoke(app, [*args, "--ties", ties]).output) for ties in ("split", "index")}
    doc = docs["split"]
    first = date.fromisoformat(doc["params"]["first_day"])  # the first training day: 14 days before period 0
    # a window holds records only if it holds the 1st of a month (the day police.uk records are counted on)
    holds_a_month = [any((first + timedelta(days=14 * p + d)).day == 1 for d in range(14)) for p in range(8)]
    assert holds_a_month == [True, False] * 4
    flags = doc["summary"]["flags"]
    assert [r["cells_risk_above_0"] > 0 for r in flags["per_period"]] == holds_a_month
    assert {r["flags_asked"] for r in flags["per_period"]} == {130.0} and flags["n_periods_all_zero"] == 4
    for r in flags["per_period"]:  # cells with risk above 0 get a flag each (fewer than asked); none in the rest
        assert r["flags"] == min(r["cells_risk_above_0"], 130)
    assert "in 4 of them every cell's forecast was 0" in doc["summary"]["caution_zero_risk"]
    for g in ("south", "north"):  # the periods with incidents are the ones that flagged nothing: nothing hit
        assert doc["summary"]["groups"][g]["hit_rate"]["mean"] == 0.0  # before: 0.05, the coverage itself
    assert docs["index"]["summary"]["groups"] == doc["summary"]["groups"]  # before: south 0.630 by index, 0.484 split
    assert doc["summary"]["groups"]["(outside areas)"]["flag_share"]["mean"] == 0.0
    text = " ".join(runner.invoke(app, [a for a in args if a != "--json"]).output.split())
    assert "130.0 asked for per period, 8 of 8 periods had fewer cells with risk above 0 (4 none)" in text
    assert "caution: in " in text and "on cells with a score of 0" not in text


def test_sf_exposure_counts_incidents_outside_the_areas(tmp_path: Path) -> None:
    """Areas over the north of San Francisco only (north of 37.76): 139 of the 326 incidents in the
    audited periods lie beyond them. They used to vanish from every share; they count under
    "(outside areas)" now, so the incident shares add up to 1 and the caution says how many."""
    data = shared("sf_robbery/san_francisco_robbery.csv")
    areas = tmp_path / "north.geojson"
    _rectangles(areas, [(-122.52, 37.76, -122.44, 37.80, "A", 20000), (-122.44, 37.76, -122.36, 37.80, "B", 30000),
                        (-122.52, 37.80, -122.44, 37.84, "A", 25000), (-122.44, 37.80, -122.36, 37.84, "B", 40000)])
    result = runner.invoke(app, ["audit", "exposure", "--data", str(data), "--areas", str(areas), "--group-by", "grp",
                                 "--periods", "8", "--period-days", "14", "--window-days", "180",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    summary = _json(result.output)["summary"]
    hand = _by_hand(data, areas, window=180, periods=8, period_days=14, coverage=0.05)
    assert summary["n_incidents_outside_cells"] == hand["outside"] == 139
    assert summary["n_incidents"] == 326
    shares = {g: v["incident_share"]["mean"] for g, v in summary["groups"].items()}
    assert sum(shares.values()) == pytest.approx(1.0, abs=3e-6)  # each rounded to 6 decimals
    for g in ("A", "B"):
        assert shares[g] == pytest.approx(hand["incidents"][g], abs=1e-6)
    assert shares["(outside areas)"] == pytest.approx(1.0 - hand["incidents"]["A"] - hand["incidents"]["B"], abs=1e-6)
    assert summary["all_days"] == hand["all_days"] == {"days": 292, "n_incidents": 792, "n_incidents_outside_cells": 307}
    assert summary["caution_outside"].startswith("139 of 326 incidents in the audited periods (307 of 792")


def test_exposure_ledger_entry_names_the_areas_file_by_path_and_hash(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The same areas path with other populations is another audit: its ledger parameters differ (they
    carry the file's SHA-256 and absolute path), as the outputs do."""
    data = shared("sf_robbery/san_francisco_robbery.csv")
    monkeypatch.chdir(tmp_path)
    rects = [(-122.52, 37.70, -122.36, 37.77, "south", 60000), (-122.52, 37.77, -122.36, 37.84, "north", 60000)]
    args = ["audit", "exposure", "--data", str(data), "--areas", "halves.geojson", "--group-by", "grp", "--periods",
            "2", "--period-days", "14", "--window-days", "28", "--db", "t.duckdb", "--json"]
    _rectangles(tmp_path / "halves.geojson", rects)
    first = _json(runner.invoke(app, args).output)
    _rectangles(tmp_path / "halves.geojson", [(*r[:5], 30000 if r[4] == "south" else 90000) for r in rects])
    second = _json(runner.invoke(app, args).output)
    assert first["output_hash"] != second["output_hash"]
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        a, b = (e for _, e in Ledger(store).entries(action="feedback.exposure"))
    assert a.params["areas"] == b.params["areas"] == str(tmp_path.resolve() / "halves.geojson")
    assert a.params["areas_sha256"] != b.params["areas_sha256"]
    assert a.params["data_sha256"] == "33633dc46b0ac12eab1b03bfae4539c59317290854890d689a9b33d345511fb9"  # PROVENANCE.md
    assert a.params["source"] == str(data.resolve())


def test_sweep_is_recorded_with_the_runs_it_used(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    base = ["feedback", "simulate", "--scenario", "ensign-urn", "--runs", "30", "--days", "40", "--db", db]
    doc = _json(runner.invoke(app, [*base, "--sweep", "--json"]).output)
    plain = _json(runner.invoke(app, [*base, "--json"]).output)
    assert doc["params"]["sweep"] is True and doc["params"]["sweep_runs"] == 50  # half of 30, at least 50
    assert doc["summary"]["detection_bias_sweep"]["n_runs"] == 50
    assert plain["params"]["sweep"] is False and "sweep_runs" not in plain["params"]
    text = " ".join(runner.invoke(app, [*base, "--sweep"]).output.split())
    assert "50 runs per level (half of --runs, at least 50)" in text
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        entries = [e for _, e in Ledger(store).entries(action="feedback.simulate")]
    assert [(e.params["sweep"], e.params.get("sweep_runs")) for e in entries] == [(True, 50), (False, None), (True, 50)]


def test_printed_ratios_carry_the_names_of_the_json(tmp_path: Path) -> None:
    """The text once printed the concentration ratio as "amplification"; each ratio now has its own name."""
    args = ["feedback", "simulate", "--scenario", "planted-city", "--model", "naive", "--days", "10",
            "--db", str(tmp_path / "t.duckdb")]
    summary = _json(runner.invoke(app, [*args, "--json"]).output)["summary"]
    assert summary["amplification_ratio"] != summary["concentration_ratio"]
    text = " ".join(runner.invoke(app, args).output.split())
    assert ("amplification ratio (mean TV distance to the truth, feedback / no feedback): "
            f"{summary['amplification_ratio']:.3f}") in text
    assert ("concentration ratio (share of flags to the day-0 flagged cells, feedback / no feedback): "
            f"{summary['concentration_ratio']:.3f}") in text
