"""Forecasting problems two independent testers confirmed (s33), on real data: a paired ratio whose
resamples divide by a mean of 0 (printed as a 300-digit number, or 0/0 counted as 0), intervals from a
handful of periods shown as meaningful, a perfect-rate ceiling resting on a few incidents per cell, a
forecast whose every cell ties or whose history ends months before its window without saying so in its
``warnings``, and the NIJ table of the docs measured with windows the documented command no longer uses."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import load_settings
from crimelens.domain import Grid
from crimelens.forecast import BacktestResult, StudyArea, rolling_origin
from crimelens.forecast._counts import NaiveCounts
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.forecasts import run_backtest, run_forecast, show_backtest
from crimelens.services.ingest import ingest_file
from tests.conftest import shared
from tests.forecast.conftest import table_from

SF = "sf_robbery/san_francisco_robbery.csv"
PORTLAND = ("portland_nij_2016/080116_083116_Data.zip", "portland_nij_2016/090116_093016_Data.zip")
CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """San Francisco's 2019 robberies, Portland's NIJ calls (August and September 2016) and Cincinnati's
    2016-2018 burglaries, in one store."""
    path = tmp_path_factory.mktemp("s33") / "s.duckdb"
    with open_context(load_settings(db=path)) as ctx:
        ingest_file(ctx, shared(SF), actor=Actor("ada"), format="sf_code", dataset="sf")
        for part in PORTLAND:
            ingest_file(ctx, shared(part), actor=Actor("ada"), format="nij_portland", dataset="portland")
        ingest_file(ctx, shared(CINCINNATI), actor=Actor("ada"), dataset="cincinnati")
    return path


def _cli(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _text(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _undefined_resamples(values: list[float], n_boot: int = 2000, seed: int = 0) -> int:
    """How many of the backtest's resamples of ``values`` (its seed, its draws) have a mean of 0."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(v), size=(n_boot, len(v)))
    return int((v[idx].mean(axis=1) == 0).sum())


def _per_period(doc: dict[str, Any], model: str, column: str) -> list[float]:
    return [r[column] for r in doc["per_period"] if r["model"] == model]


# 1. paired ratios: a resample whose reference mean is 0 has no ratio ----------------------------------------------

def test_a_resample_whose_reference_mean_is_0_is_left_out_and_counted(db: Path) -> None:
    """Four weeks of robberies from 2019-10-21: naive counts flag nothing that happened at 1 % in some weeks,
    so some resamples give naive a mean PAI of 0. Before, each such resample divided by 1e-300, and the
    interval's upper end printed with 300 digits (7964285714285713…)."""
    args = ["forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive,prospective",
            "--start", "2019-10-21", "--periods", "4", "--coverage", "0.005,0.01", "--versus", "naive"]
    doc = _cli(*args)
    pair = doc["paired"]["prospective / naive"]["0.01"]
    naive, prospective = _per_period(doc, "naive", "pai@0.01"), _per_period(doc, "prospective", "pai@0.01")
    assert pair["ratio"] == pytest.approx(np.mean(prospective) / np.mean(naive), rel=1e-12)  # the point: unchanged
    assert pair["ratio"] == pytest.approx(1.5172413793103448, rel=1e-12)
    n_undefined = _undefined_resamples(naive)
    assert pair["n_undefined"] == n_undefined == 125 and pair["n_resamples"] == 2000
    assert n_undefined > 0.025 * 2000  # more than the tail: the interval would fall among them
    assert pair["low"] is None and pair["high"] is None
    assert "naive's mean PAI is 0" in pair["no_interval"] and "125 of the 2,000 resamples" in pair["no_interval"]
    text = _text(*args)
    assert re.search(r"\d{20}", text) is None, text
    assert "prospective / naive: PAI ratio @0.005 0.000 (no interval:" in text
    assert "PAI ratio @0.01 1.517 (no interval: in 125 of the 2,000 resamples" in text
    # the stored summary keeps the same (its undefined figures as NaN, as every undefined mean)
    with open_context(load_settings(db=db)) as ctx:
        stored = show_backtest(ctx, doc["run_id"], actor=Actor("ada"))["summary"]["paired"]["prospective / naive"]
    assert stored["0.01"]["n_undefined"] == 125 and math.isnan(stored["0.01"]["low"])


def test_0_over_0_is_not_a_ratio_of_0(db: Path) -> None:
    """Two weeks from 2019-12-16: where both models score 0 in a week, a resample of it alone was 0/0 and
    counted as a ratio of 0, so an interval over ratios that were all 1 read [0.000, 1.000]."""
    doc = _cli("forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive,weighted",
               "--start", "2019-12-16", "--periods", "2")
    (label, pair), = doc["paired"].items()
    a, b = (name.strip() for name in label.split("/"))
    for cov, entry in pair.items():
        va, vb = _per_period(doc, a, f"pai@{cov}"), _per_period(doc, b, f"pai@{cov}")
        undefined = _undefined_resamples(vb)
        assert entry.get("n_undefined", 0) == undefined
        if undefined > 50:
            assert entry["low"] is None and entry["high"] is None, entry
            continue
        # every defined resample's ratio: the interval lies among them, none of them a 0/0 read as 0
        idx = np.random.default_rng(0).integers(0, 2, size=(2000, 2))
        ma, mb = np.asarray(va)[idx].mean(axis=1), np.asarray(vb)[idx].mean(axis=1)
        ratios = ma[mb > 0] / mb[mb > 0]
        assert ratios.min() <= entry["low"] <= entry["high"] <= ratios.max()
    at_1 = pair["0.01"]
    assert not (at_1["low"] == 0.0 and at_1["high"] == 1.0), at_1  # what the tester was shown


def test_no_undefined_resample_leaves_the_published_interval_as_it_was(db: Path) -> None:
    """Cincinnati's 52 weeks of 2018: no resample gives naive counts a mean PAI of 0, and the paired ratio
    and its interval are the published ones (benchmarks/results/forecast_backtest_cincinnati_burglary_local_
    weeks.json) to the last digit."""
    published = json.loads((ROOT / "benchmarks/results/forecast_backtest_cincinnati_burglary_local_weeks.json")
                           .read_text(encoding="utf-8"))
    with open_context(load_settings(db=db)) as ctx:
        run = run_backtest(ctx, models=["naive", "weighted"], offense="burglary", start="2018-01-01", periods=52,
                           actor=Actor("ada"), dataset="cincinnati", coverages=[0.01, 0.05])
    for cov in ("0.01", "0.05"):
        assert run.to_dict(per_period=False)["paired"]["weighted / naive"][cov] == \
            published["comparisons"]["paired_vs_naive"]["weighted"][cov]
        assert run.result.paired_ratio("weighted", "naive", "pai", float(cov))["n_undefined"] == 0
    assert run.result.mean("naive", "pai", 0.01) == tuple(
        published["summary"]["models"]["naive"]["pai"]["0.01"][k] for k in ("mean", "low", "high"))


def test_paired_ratio_counts_undefined_resamples_and_keeps_the_defined_ones() -> None:
    """On given per-period PAIs: a resample where the reference's mean is 0 is left out and counted; up to
    2.5 % of them leave an interval over the rest, more leave none."""
    area = StudyArea.square(Grid(0.0, 0.0, 100.0, 2, 1))
    rng = np.random.default_rng(3)
    n = 40
    a = rng.gamma(4.0, 2.0, n)
    b = rng.gamma(4.0, 2.0, n)

    def result(ref: np.ndarray) -> BacktestResult:
        pai = np.stack([a, ref])[:, :, None]
        z = np.zeros((2, n))
        return BacktestResult(("a", "b"), {}, (), 7.0, (0.5,), area.describe(), np.ones(n), pai, pai, pai, z, z, z)

    idx = np.random.default_rng(0).integers(0, n, size=(2000, n))
    # no period of b is 0: the interval is the percentile interval of every resample, as it was before
    r = result(b).paired_ratio("a", "b", "pai", 0.5)
    every = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    assert (r["ratio"], r["low"], r["high"], r["n_undefined"]) == (
        a.mean() / b.mean(), np.quantile(every, 0.025), np.quantile(every, 0.975), 0)
    # b is 0 in all but two periods: some resamples draw neither; fewer than 2.5 % of them
    sparse = np.zeros(n)
    sparse[[3, 17, 25, 31, 38]] = [2.0, 1.0, 3.0, 1.0, 2.0]
    means_b = sparse[idx].mean(axis=1)
    undefined = int((means_b == 0).sum())
    assert 0 < undefined <= 50
    r = result(sparse).paired_ratio("a", "b", "pai", 0.5)
    kept = a[idx].mean(axis=1)[means_b > 0] / means_b[means_b > 0]
    assert r["n_undefined"] == undefined and (r["low"], r["high"]) == (np.quantile(kept, 0.025),
                                                                       np.quantile(kept, 0.975))
    # b is 0 in all but one period: most resamples have no ratio, and there is no interval
    single = np.zeros(n)
    single[7] = 2.0
    r = result(single).paired_ratio("a", "b", "pai", 0.5)
    assert r["n_undefined"] > 50 and math.isnan(r["low"]) and math.isnan(r["high"])
    assert r["ratio"] == pytest.approx(a.mean() / single.mean())
    # one period: a ratio, no interval
    one = BacktestResult(("a", "b"), {}, (), 7.0, (0.5,), area.describe(), np.ones(1),
                         np.array([[[2.0]], [[1.0]]]), np.array([[[2.0]], [[1.0]]]), np.array([[[2.0]], [[1.0]]]),
                         np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)))
    r = one.paired_ratio("a", "b", "pai", 0.5)
    assert r["ratio"] == 2.0 and math.isnan(r["low"]) and "one period" in r["no_interval"]
    assert one.mean("a", "pai", 0.5)[0] == 2.0 and all(math.isnan(v) for v in one.mean("a", "pai", 0.5)[1:])


# 2. few periods ---------------------------------------------------------------------------------------------------

def test_intervals_from_few_periods_are_warned_of_and_one_period_gives_none(db: Path) -> None:
    four = _cli("forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive,weighted",
                "--start", "2019-10-21", "--periods", "4")
    (few,) = [w for w in four["warnings"] if w.startswith("only 4 periods were scored")]
    assert "fewer than 10 periods are not reliable" in few
    with open_context(load_settings(db=db)) as ctx:
        stored = show_backtest(ctx, four["run_id"], actor=Actor("ada"))
        entry = ctx.ledger.entry(four["ledger_seq"])
    assert few in stored["summary"]["warnings"] and few in entry.detail["warnings"]
    one = _cli("forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive,weighted",
               "--start", "2019-10-21", "--periods", "1")
    assert one["n_periods_scored"] == 1
    assert any(w.startswith("only 1 period was scored") for w in one["warnings"]), one["warnings"]
    for name in ("naive", "weighted"):
        v = one["models"][name]["pai"]["0.01"]
        assert v["mean"] == _per_period(one, name, "pai@0.01")[0] and v["low"] is None and v["high"] is None
    for entry in next(iter(one["paired"].values())).values():
        assert entry["low"] is None and entry["high"] is None and "one period" in entry["no_interval"]
    text = _text("forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive,weighted",
                 "--start", "2019-10-21", "--periods", "1")
    assert "(no interval)" in text and "[nan" not in text and "nan]" not in text
    many = _cli("forecast", "backtest", "--db", str(db), "--dataset", "sf", "--models", "naive",
                "--start", "2019-09-02", "--periods", "12", "--no-per-period")
    assert many["n_periods_scored"] == 12 and not [w for w in many["warnings"] if "periods were scored" in w]


# 3. the perfect-rate ceiling on short spans -----------------------------------------------------------------------

def test_the_ceiling_keeps_the_incidents_per_flagged_cell_its_rate_rests_on() -> None:
    """A 10-cell grid: over the test week and the week before, cell 4 holds 6 incidents, cell 7 holds 3,
    cell 1 one: at 10 % (one cell) the ceiling rests on 6 incidents in its flagged cell, at 20 % on 4.5;
    every incident of the span is in the top 3, so at 30 % it is the largest PAI possible, 10 / 3."""
    grid = Grid(0.0, 0.0, 100.0, 10, 1)
    area = StudyArea.square(grid)
    centre = grid.centres()
    history = [(-30.0, 4), (-20.0, 7), (-10.0, 1)]  # before the span: the models' history, not the rate's
    span = [(-5.0, 4), (-4.0, 4), (-3.0, 4), (-2.0, 7), (-1.0, 1), (1.0, 4), (2.0, 4), (3.0, 4), (4.0, 7),
            (5.0, 7)]
    t = np.array([d for d, _ in history + span]) + 100.0
    xy = np.array([centre[c] for _, c in history + span])
    res = rolling_origin(table_from(t, xy), {"naive": NaiveCounts()}, area=area, start="2020-04-10T00:00:00Z",
                         periods=1, horizon_days=7.0, coverages=(0.1, 0.2, 0.3), ceiling=True)
    assert res.ceiling_span_days == pytest.approx(14.0)
    assert res.ceiling_support is not None and res.ceiling_support.tolist() == pytest.approx([6.0, 4.5, 10 / 3])
    pai = res.mean("ceiling:perfect-rate", "pai", 0.3)[0]
    assert pai == pytest.approx(10 / 3)


def test_a_ceiling_resting_on_few_incidents_per_cell_is_warned_of(db: Path) -> None:
    """Cincinnati's burglaries: over 4 weeks the ceiling gives 22.03 at 1 % against 6.73 over 52 weeks;
    over 6 eight-hour shifts it reaches n_cells / k, the largest PAI possible. Portland's 29 days of calls
    rest on about 50 incidents per flagged cell and are not warned of."""
    four = _cli("forecast", "backtest", "--db", str(db), "--dataset", "cincinnati", "--offense", "burglary",
                "--models", "naive", "--start", "2018-01-01", "--periods", "4", "--no-per-period")
    assert four["models"]["ceiling:perfect-rate"]["pai"]["0.01"]["mean"] == pytest.approx(22.0337, abs=1e-4)
    per_cell = four["ceiling"]["incidents_per_flagged_cell"]
    assert four["ceiling"]["span_days"] == pytest.approx(56.0) and per_cell["0.01"] == pytest.approx(1.75)
    (note,) = [w for w in four["warnings"] if w.startswith("the perfect-rate ceiling is biased upward")]
    assert "1.8 at 0.01" in note and "fewer than 10" in note and "largest PAI possible" not in note
    with open_context(load_settings(db=db)) as ctx:
        stored = show_backtest(ctx, four["run_id"], actor=Actor("ada"))["summary"]
    assert note in stored["warnings"] and stored["ceiling"] == four["ceiling"]
    shifts = _cli("forecast", "backtest", "--db", str(db), "--dataset", "cincinnati", "--offense", "burglary",
                  "--models", "naive,weighted", "--start", "2018-03-10T22:00", "--horizon", "8h", "--periods", "6",
                  "--no-per-period")
    n_cells = shifts["area"]["n_cells"]
    top = shifts["models"]["ceiling:perfect-rate"]["pai"]["0.01"]["mean"]
    assert top == pytest.approx(n_cells / round(0.01 * n_cells)) == pytest.approx(shifts["ceiling"]["max_pai"]["0.01"])
    (note,) = [w for w in shifts["warnings"] if w.startswith("the perfect-rate ceiling is biased upward")]
    assert f"at coverage 0.01 ({top:.2f} = {n_cells} cells / {round(0.01 * n_cells)} flagged)" in note
    text = _text("forecast", "backtest", "--db", str(db), "--dataset", "cincinnati", "--offense", "burglary",
                 "--models", "naive", "--start", "2018-01-01", "--periods", "4")
    assert "nan" not in text and "PEI @0.01" in text
    calls = _cli("forecast", "backtest", "--db", str(db), "--dataset", "portland", "--offense", "call_for_service",
                 "--models", "naive", "--start", "2016-09-01", "--horizon", "1d", "--periods", "29",
                 "--no-per-period")
    assert min(calls["ceiling"]["incidents_per_flagged_cell"].values()) >= 10
    assert not [w for w in calls["warnings"] if "ceiling" in w], calls["warnings"]


# 4. every cell tied; 5. stale history -----------------------------------------------------------------------------

def test_a_forecast_whose_every_cell_ties_says_so_in_its_warnings(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "tie.csv"
    doc = _cli("forecast", "run", "--db", str(db), "--dataset", "portland", "--offense", "burglary", "--model", "gbm",
               "--at", "2016-09-01", "--out", str(out))
    tie = doc["tie_at_cut"]
    assert tie["flagged"] + tie["unflagged"] == doc["area"]["n_cells"]
    (note,) = [w for w in doc["warnings"] if w.startswith("every cell has the same risk")]
    assert f"{doc['n_flagged']} flagged cells are only the lowest cell indices" in note
    with out.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert note in json.loads(row["warnings"])
    with open_context(load_settings(db=db)) as ctx:
        assert note in ctx.ledger.entry(doc["ledger_seq"]).detail["warnings"]
    text = _text("forecast", "run", "--db", str(db), "--dataset", "portland", "--offense", "burglary", "--model",
                 "gbm", "--at", "2016-09-01")
    assert text.count("every cell has the same risk") == 1, text


@pytest.mark.parametrize(("dataset", "model", "at", "age"), [("sf", "gbm", "2020-06-01", 152.81),
                                                             ("portland", "naive", "2017-06-01", 243.5)])
def test_a_forecast_long_after_the_last_record_is_warned_of(db: Path, dataset: str, model: str, at: str,
                                                            age: float) -> None:
    doc = _cli("forecast", "run", "--db", str(db), "--dataset", dataset, "--model", model, "--at", at)
    assert doc["days_since_newest_incident"] == age and doc["expected_total"] > 0
    (note,) = [w for w in doc["warnings"] if w.startswith("the newest training incident")]
    assert f"is {age:,.1f} days before the window, more than the horizon plus 28 days (35.0)" in note
    assert "days without incidents" in note


def test_staleness_is_horizon_plus_28_days(db: Path) -> None:
    """The newest robbery is read at 2019-12-31 03:30 Los Angeles: a week's forecast from 35 days after it
    is not warned of, one from an hour later is; a month-long horizon moves the limit."""
    with open_context(load_settings(db=db)) as ctx:
        first = run_forecast(ctx, offense=None, at="2020-01-01", actor=Actor("ada"), model="naive", dataset="sf")
        assert first.newest_incident is not None
        newest = first.newest_incident
        for hours, horizon, warned in ((0, 7.0, False), (1, 7.0, True), (1, 30.0, False)):
            at = newest + timedelta(days=7.0 + 28.0, hours=hours)
            run = run_forecast(ctx, offense=None, at=at, actor=Actor("ada"), model="naive", dataset="sf",
                               horizon_days=horizon)
            assert any(w.startswith("the newest training incident") for w in run.warnings) is warned, run.warnings
    # a run whose every risk is 0 because the history is older than the model reads says so once
    late = _cli("forecast", "run", "--db", str(db), "--dataset", "sf", "--model", "naive", "--at", "2022-06-01")
    assert len(late["warnings"]) == 1 and "older than the 730 days of history" in late["warnings"][0]


# 6. the docs' NIJ table is the stored result --------------------------------------------------------------------

def test_the_nij_table_in_the_docs_is_the_local_weeks_result() -> None:
    """docs/forecast.md's NIJ flagged-area table and paired ratios are those of the stored 104-week result that
    `forecast backtest --nij` reproduces (windows to the next local midnight), not the older 168-hour run."""
    stored = json.loads((ROOT / "benchmarks/results/forecast_backtest_chicago_agg_assault_local_weeks.json")
                        .read_text(encoding="utf-8"))["nij_flagged_areas"]
    small, large = stored["0.25 sq mi"], stored["0.75 sq mi"]
    doc = (ROOT / "docs/forecast.md").read_text(encoding="utf-8")
    table = doc[doc.index("**NIJ-style flagged areas**"):doc.index("### Chicago by police district")]

    def cell(v: dict[str, float], interval: bool) -> str:
        return f"{v['mean']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" if interval else f"{v['mean']:.2f}"

    rows = {"naive (2 y)": "naive", "weighted": "weighted", "gbm": "gbm", "etas ¹": "etas", "retro": "retro",
            "kde": "kde", "sepp ¹": "sepp", "prospective": "prospective"}
    for label, model in rows.items():
        wide = model in ("naive", "weighted", "gbm")
        a, b = small["models"][model], large["models"][model]
        row = (f"| {label} | {cell(a['pai'], wide)} | {a['pei']['mean']:.3f} | {cell(b['pai'], wide)} | "
               f"{b['pei']['mean']:.3f} |")
        assert row in table, row
    # the four quoted ratios, in the order the text gives them
    quoted = re.findall(r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]", table[table.index("At the NIJ's areas"):])
    expected = [tuple(f"{v['paired_vs_naive'][m][k]:.3f}" for k in ("ratio", "low", "high"))
                for v in (small, large) for m in ("weighted", "gbm")]
    assert quoted == expected
    assert "12.69 [11.81, 13.64] | 0.173" not in table.split("²")[0]  # the 168-hour row is gone from the table


def test_paired_ratios_cover_the_flagged_areas(db: Path) -> None:
    """`--nij --versus naive` pairs the models at the NIJ's flagged areas too (each `flagged_areas` entry's
    `paired`, printed under its table): the docs quoted such ratios, which the CLI did not give."""
    args = ["forecast", "backtest", "--db", str(db), "--dataset", "cincinnati", "--offense", "burglary", "--models",
            "naive,weighted", "--start", "2018-01-01", "--periods", "12", "--nij", "--versus", "naive"]
    doc = _cli(*args, "--no-per-period")
    with open_context(load_settings(db=db)) as ctx:
        run = run_backtest(ctx, models=["naive", "weighted"], offense="burglary", start="2018-01-01", periods=12,
                           actor=Actor("ada"), dataset="cincinnati", areas_km2=[fa["km2"] for fa in doc["flagged_areas"]],
                           versus="naive")
    assert len(doc["flagged_areas"]) == 2
    for fa in doc["flagged_areas"]:
        ratio, low, high = run.result.paired("weighted", "naive", "pai", fa["coverage"])
        assert fa["paired"]["weighted / naive"] == {"ratio": ratio, "low": low, "high": high}
    text = _text(*args)
    assert "weighted / naive at 0.25 sq mi: PAI ratio" in text and "weighted / naive at 0.75 sq mi: PAI ratio" in text
