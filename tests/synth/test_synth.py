"""The synthetic city: deterministic, with ground truth that the recorded data actually carries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from crimelens.domain import Grid, TimeWindow, check_not_protected, is_protected
from crimelens.errors import InvalidParameterError
from crimelens.synth import CSV_COLUMNS, MO_ATTRIBUTES, CityData, SyntheticCity

FILES = ("incidents.csv", "areas.geojson", "truth/series.csv", "truth/params.json", "truth/events.csv",
         "truth/areas.csv", "truth/intensity.npz", "truth/patrol.npz")


# determinism ------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    params = {"days": 40, "n_series": 5, "n_areas": 10}
    SyntheticCity(seed=21, **params).generate().write(tmp_path / "a")
    SyntheticCity(seed=21, **params).generate().write(tmp_path / "b")
    SyntheticCity(seed=22, **params).generate().write(tmp_path / "c")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "incidents.csv").read_bytes() != (tmp_path / "c" / "incidents.csv").read_bytes()
    assert (tmp_path / "a" / "areas.geojson").read_bytes() != (tmp_path / "c" / "areas.geojson").read_bytes()


def test_disparity_changes_only_the_recording_not_the_latent_events() -> None:
    balanced = SyntheticCity(seed=5, days=60, n_series=3).generate()
    skewed = SyntheticCity(seed=5, days=60, n_series=3, disparity=2.0).generate()
    a, b = balanced.truth.events, skewed.truth.events
    np.testing.assert_array_equal(a["t_days"].to_numpy(), b["t_days"].to_numpy())
    np.testing.assert_array_equal(a[["x_m", "y_m"]].to_numpy(), b[["x_m", "y_m"]].to_numpy())
    assert b["recorded"].sum() > a["recorded"].sum()
    # extra recorded events are discovered ones, in group_b areas
    gb = set(skewed.truth.areas.loc[skewed.truth.areas["group"] == "group_b", "area_id"])
    in_b = b["area"].isin(gb).to_numpy()
    disc_a = (a["source"] == "discovered").to_numpy() & in_b
    disc_b = (b["source"] == "discovered").to_numpy() & in_b
    assert disc_b.sum() > 1.3 * disc_a.sum()


def test_invalid_parameters_say_what_was_got_and_expected() -> None:
    with pytest.raises(InvalidParameterError, match=r"branching_ratio=1\.2.*sub-critical"):
        SyntheticCity(branching_ratio=1.2).generate()
    with pytest.raises(InvalidParameterError, match=r"days=0"):
        SyntheticCity(days=0).generate()
    with pytest.raises(InvalidParameterError, match=r"timezone='Mars/Olympus'"):
        SyntheticCity(days=3, timezone="Mars/Olympus").generate()
    # sizes past what a machine holds are refused before anything is drawn (they were a 24 TiB
    # allocation and a search that did not end)
    with pytest.raises(InvalidParameterError, match=r"scale=1000000000.0\): expected scale x years <= 400"):
        SyntheticCity(scale=1e9).generate()
    with pytest.raises(InvalidParameterError, match=r"here 600 for 3650 days"):
        SyntheticCity(scale=60, days=3650).generate()
    with pytest.raises(InvalidParameterError, match=r"n_series=999999999\): expected an integer in 0..100,000"):
        SyntheticCity(n_series=999_999_999).generate()


# the canonical CSV ------------------------------------------------------------------------
def test_incidents_csv_round_trips_through_pandas(year_city: CityData, year_dir: Path) -> None:
    raw = pd.read_csv(year_dir / "incidents.csv", dtype=str, keep_default_na=False)
    assert tuple(raw.columns) == CSV_COLUMNS
    assert len(raw) == len(year_city.incidents) and raw["incident_id"].is_unique
    for col in ("occurred_from", "occurred_to", "reported_at"):
        assert raw[col].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00").all(), col
        parsed = pd.to_datetime(raw[col], format="ISO8601", utc=True)
        pd.testing.assert_series_equal(parsed.astype("datetime64[us, UTC]").reset_index(drop=True),
                                       year_city.frame[col].reset_index(drop=True), check_names=False)
    typed = pd.read_csv(year_dir / "incidents.csv")
    np.testing.assert_array_equal(typed[["x_m", "y_m"]].to_numpy(), year_city.frame[["x_m", "y_m"]].to_numpy())
    np.testing.assert_allclose(typed[["lon", "lat"]].to_numpy(), year_city.frame[["lon", "lat"]].to_numpy(),
                               atol=5e-7)
    assert set(raw["crs"]) == {"EPSG:32616"} and set(raw["source"]) == {"reported", "discovered"}
    assert raw["narrative"].str.len().min() > 20
    for attr in MO_ATTRIBUTES:
        want = year_city.frame[attr].astype(object).where(year_city.frame[attr].notna(), "").astype(str)
        assert (raw[attr].to_numpy() == want.to_numpy()).all(), attr


def test_times_are_windows_that_hold_the_true_time(year_city: CityData) -> None:
    f = year_city.frame
    assert (f["occurred_from"] <= f["occurred_to"]).all()
    assert (f["reported_at"] >= f["occurred_to"]).all()
    burg = f[f["offense"] == "burglary"]
    assert len(burg) > 1000 and (burg["occurred_from"] < burg["occurred_to"]).all()
    ev = year_city.truth.events
    rec = ev[ev["recorded"]].set_index("incident_id").loc[f["incident_id"]]
    true_t = pd.to_datetime(rec["occurred_at"].to_numpy(), utc=True)
    slack = pd.Timedelta(minutes=60)  # point times are heaped to the hour at most
    assert (f["occurred_from"].to_numpy() <= true_t + pd.Timedelta(seconds=1)).all()
    assert (f["occurred_to"].to_numpy() >= true_t - slack).all()


def test_no_protected_attribute_in_incidents(year_dir: Path) -> None:
    header = (year_dir / "incidents.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    check_not_protected(header, where="incidents.csv")
    assert not any(c.startswith(("share_", "group")) or c == "population" for c in header)
    text = pd.read_csv(year_dir / "incidents.csv", usecols=["narrative"])["narrative"]
    words = re.compile(r"\b(?:male|female|man|woman|black|white|hispanic|asian|latino|muslim|christian|jewish|"
                       r"race|ethnic\w*|gender|religio\w*|he|she|his|her)\b", re.IGNORECASE)
    assert not text.str.contains(words).any()
    # demographics are in areas.geojson, as audit attributes
    doc = json.loads((year_dir / "areas.geojson").read_text(encoding="utf-8"))
    props = doc["features"][0]["properties"]
    assert {"area_id", "name", "population", "group", "share_group_a", "share_group_b"} <= set(props)
    assert not any(is_protected(k) for k in props)


def test_incident_table_matches_the_csv(year_city: CityData) -> None:
    t = year_city.incidents
    assert t.crs == "EPSG:32616" and len(t) == len(year_city.frame)
    assert list(t.mo("entry_method")[:50]) == [None if pd.isna(v) else str(v)
                                               for v in year_city.frame["entry_method"][:50]]
    solved = year_city.frame["series_id"].notna().to_numpy()
    assert (t.mo("series_id")[solved] == year_city.frame["series_id"][solved].astype(str).to_numpy()).all()


# areas -------------------------------------------------------------------------------------
def test_areas_tile_the_city_and_hold_their_incidents(year_city: CityData) -> None:
    polys = [shapely.from_wkt(a.wkt) for a in year_city.areas]
    outline = year_city.geometry.outline
    union = shapely.union_all(polys)
    assert abs(union.area - outline.area) / outline.area < 1e-4
    assert abs(sum(p.area for p in polys) - union.area) / union.area < 1e-4  # no overlaps
    f = year_city.frame
    by_id = {a.area_id: p for a, p in zip(year_city.areas, polys, strict=True)}
    for area_id, part in f.groupby("area", observed=True):
        inside = shapely.contains_xy(shapely.buffer(by_id[str(area_id)], 0.2), part["x_m"], part["y_m"])
        assert inside.all(), area_id
    groups = {a.audit["group"] for a in year_city.areas}
    assert groups == {"group_a", "group_b"}
    assert all(abs(a.audit["share_group_a"] + a.audit["share_group_b"] - 1) < 1e-9 for a in year_city.areas)
    assert sum(a.population or 0 for a in year_city.areas) == pytest.approx(450_000, rel=1e-3)


def test_geojson_is_wgs84_around_the_utm_placement(year_dir: Path) -> None:
    doc = json.loads((year_dir / "areas.geojson").read_text(encoding="utf-8"))
    assert len(doc["features"]) == 40
    xy = np.array([pt for f in doc["features"] for ring in _rings(f["geometry"]) for pt in ring])
    assert xy[:, 0].min() > -87.9 and xy[:, 0].max() < -87.5
    assert xy[:, 1].min() > 41.7 and xy[:, 1].max() < 41.95


def _rings(geom: dict) -> list[list[list[float]]]:
    if geom["type"] == "Polygon":
        return list(geom["coordinates"])
    return [ring for poly in geom["coordinates"] for ring in poly]


def test_true_rate_is_balanced_by_group_and_recording_is_not(year_city: CityData) -> None:
    g = year_city.truth.params["groups"]
    latent = g["group_b"]["expected_latent_per_1000_residents"] / g["group_a"]["expected_latent_per_1000_residents"]
    recorded = g["group_b"]["expected_recorded_per_1000_residents"] / g["group_a"]["expected_recorded_per_1000_residents"]
    assert 0.85 < latent < 1.18
    assert recorded / latent > 1.1  # disparity=1 doubles patrol in group_b areas


# self-excitation ---------------------------------------------------------------------------
def test_true_trigger_parameters_are_recoverable_from_the_truth(year_city: CityData) -> None:
    tr = year_city.truth
    ev = tr.events
    assert tr.offspring_share == pytest.approx(tr.trigger.theta, abs=0.02)
    trig = ev[ev["component"] == "triggered"]
    parent = ev.set_index("event_id").loc[trig["parent_event_id"].to_numpy()]
    assert (parent["offense"].to_numpy() == trig["offense"].to_numpy()).all()
    dt = trig["t_days"].to_numpy() - parent["t_days"].to_numpy()
    d = trig[["x_m", "y_m"]].to_numpy() - parent[["x_m", "y_m"]].to_numpy()
    assert (dt > 0).all()
    assert 1.0 / dt.mean() == pytest.approx(tr.trigger.omega_per_day, rel=0.08)  # truncation at period end
    assert np.sqrt((d**2).mean()) == pytest.approx(tr.trigger.sigma_m, rel=0.05)


def test_branching_ratio_is_a_knob() -> None:
    city = SyntheticCity(seed=8, days=120, n_series=0, branching_ratio=0.6, recording="complete").generate()
    assert city.truth.offspring_share == pytest.approx(0.6, abs=0.04)
    assert len(city.incidents) == len(city.truth.events)  # complete: every latent event recorded


def test_near_repeats_show_in_the_recorded_data(year_city: CityData) -> None:
    """Pairs close in space are over-represented at short time lags (a Knox-style contrast)."""
    f = year_city.frame[year_city.frame["offense"] == "burglary"]
    xy = f[["x_m", "y_m"]].to_numpy()
    t = (f["occurred_from"] - f["occurred_from"].min()).dt.total_seconds().to_numpy() / 86400.0
    from scipy.spatial import cKDTree

    pairs = cKDTree(xy).query_pairs(100.0, output_type="ndarray")
    lag = np.abs(t[pairs[:, 0]] - t[pairs[:, 1]])
    short, long_ = (lag < 7).sum(), ((lag >= 60) & (lag < 67)).sum()
    assert short > 2 * long_


def test_intensity_truth_agrees_with_the_realised_counts(year_city: CityData) -> None:
    tr = year_city.truth
    ev = tr.events
    base = ev[ev["component"] != "series"]
    n = len(base)
    assert tr.intensity.sum() == pytest.approx(n, rel=3 * n**-0.5)
    assert tr.intensity_recorded.sum() == pytest.approx(base["recorded"].sum(), rel=3 * n**-0.5)
    assert tr.daily.sum() == pytest.approx(tr.intensity.sum(), rel=1e-9)
    assert tr.true_rate().sum() == pytest.approx(tr.intensity.sum(), rel=1e-6)
    np.testing.assert_allclose(tr.true_rate(offense="theft").reshape(tr.grid.ny, tr.grid.nx),
                               tr.intensity[tr.offenses.index("theft")], rtol=1e-9, atol=1e-12)
    window = TimeWindow.starting(tr.day_start(100), days=28)
    assert tr.true_rate(window=window).sum() == pytest.approx(tr.daily[:, 100:128].sum(), rel=1e-6)
    coarse = Grid.covering((tr.grid.x0, tr.grid.y0, tr.grid.x0 + 11_999, tr.grid.y0 + 11_999), 500.0)
    assert coarse.n_cells < tr.grid.n_cells
    assert tr.true_rate(coarse).sum() == pytest.approx(tr.intensity.sum(), rel=1e-6)
    # the truth ranks the cells: where it is high, the realised counts are high
    counts = tr.grid.counts(base[["x_m", "y_m"]].to_numpy())
    rate = tr.intensity.sum(axis=0).ravel()
    top = rate >= np.quantile(rate[rate > 0], 0.95)
    assert counts[top].sum() / counts.sum() > 0.2


def test_intensity_files_carry_the_grid(year_city: CityData, year_dir: Path) -> None:
    with np.load(year_dir / "truth" / "intensity.npz") as z:
        assert z["expected"].shape == (len(year_city.truth.offenses), int(z["ny"]), int(z["nx"]))
        assert float(z["cell_m"]) == 150.0 and str(z["crs"]) == "EPSG:32616"
        assert z["daily"].shape == (len(year_city.truth.offenses), 365)
        np.testing.assert_array_equal(z["expected"], year_city.truth.intensity)
    params = json.loads((year_dir / "truth" / "params.json").read_text(encoding="utf-8"))
    assert params["trigger"] == {"theta": 0.3, "omega_per_day": 0.2, "sigma_m": 100.0, "mean_delay_days": 5.0,
                                 "same_offense_only": True, "series_events_trigger": False}
    assert params["seed"] == 11 and params["disparity"] == 1.0 and params["grid"]["cell_m"] == 150.0


# recording -----------------------------------------------------------------------------------
def test_discovered_share_rises_with_patrol(year_city: CityData) -> None:
    tr = year_city.truth
    f = year_city.frame
    cell = tr.grid.cell_of(f[["x_m", "y_m"]].to_numpy())
    patrol = tr.patrol.ravel()[cell]
    disc = (f["source"] == "discovered").to_numpy()
    lo, hi = np.quantile(patrol, [0.25, 0.75])
    assert disc[patrol >= hi].mean() > disc[patrol <= lo].mean() + 0.1
    gb = {a.area_id for a in year_city.areas if a.audit["group"] == "group_b"}
    in_b = f["area"].isin(gb).to_numpy()
    assert disc[in_b].mean() > disc[~in_b].mean()
    # drugs are almost never reported: nearly all are discovered
    drugs = (f["offense"] == "drugs").to_numpy()
    assert disc[drugs].mean() > 0.9


# planted series ------------------------------------------------------------------------------
def test_planted_series_are_consistent_clustered_and_half_solved(year_city: CityData, year_dir: Path) -> None:
    f = year_city.frame.set_index("incident_id")
    series = year_city.series
    assert len(series) == 40 and all(3 <= len(m) <= 15 for m in series.values())
    truth = pd.read_csv(year_dir / "truth" / "series.csv")
    assert len(truth) == sum(len(m) for m in series.values()) and truth["incident_id"].is_unique
    assert truth["solved"].sum() == sum(len(series[s]) for s in year_city.solved)
    assert len(year_city.solved) == 20
    shown = f["series_id"].dropna()
    assert set(shown.astype(str)) == set(year_city.solved)
    modal_series, modal_random = [], []
    rng = np.random.default_rng(0)
    for sid, members in series.items():
        rows = f.loc[list(members)]
        assert rows["offense"].nunique() == 1
        offense = rows["offense"].iloc[0]
        pool = f[(f["offense"] == offense) & f["series_id"].isna()]
        sample = pool.iloc[rng.choice(len(pool), len(rows), replace=False)]
        for attr in ("target", "entry_method", "weapon", "property_taken", "premise"):
            if rows[attr].notna().all():
                modal_series.append(rows[attr].value_counts().iloc[0] / len(rows))
                modal_random.append(sample[attr].value_counts().iloc[0] / len(rows))
        xy = rows[["x_m", "y_m"]].to_numpy()
        assert np.median(np.hypot(*(xy - np.median(xy, axis=0)).T)) < 2000.0
        days = (rows["occurred_from"].max() - rows["occurred_from"].min()).days
        assert days < 330
        sentences = [set(re.split(r"(?<=\.) ", n)) for n in rows["narrative"]]
        assert set.intersection(*sentences), sid  # a shared signature sentence
        if sid in year_city.solved:
            assert (rows["series_id"].astype(str) == sid).all()
    assert np.mean(modal_series) > np.mean(modal_random) + 0.25


# background ----------------------------------------------------------------------------------
def test_daily_weekly_cycles_follow_local_time_and_the_trend_rises(year_city: CityData) -> None:
    ev = year_city.truth.events
    base = ev[ev["component"] == "background"]
    local = pd.to_datetime(base["occurred_at"], utc=True).dt.tz_convert("America/Chicago")
    hour, dow = local.dt.hour.to_numpy(), local.dt.day_of_week.to_numpy()
    offense = base["offense"].astype(str).to_numpy()
    assault, burglary = offense == "assault", offense == "burglary"
    night = (hour >= 20) | (hour < 4)
    assert night[assault].mean() > 0.55 and night[burglary].mean() < 0.3
    assert ((hour >= 8) & (hour < 18))[burglary].mean() > 0.55
    assert (dow[assault] >= 5).mean() > 2 / 7 + 0.03  # weekend nights
    t = base["t_days"].to_numpy()
    assert (t >= 182.5).sum() > 1.02 * (t < 182.5).sum()  # +10 % trend over the year


def test_scale_multiplies_the_background_rate() -> None:
    small = SyntheticCity(seed=2, days=30, n_series=0).generate().truth.params
    big = SyntheticCity(seed=2, days=30, n_series=0, scale=3.0).generate().truth.params
    for name, p in big["offenses"].items():
        assert p["expected_background_events"] == pytest.approx(3 * small["offenses"][name]["expected_background_events"])
    n1, n3 = small["realised"]["n_background"], big["realised"]["n_background"]
    assert abs(n3 - 3 * n1) < 4 * np.sqrt(9 * n1 + n3)
