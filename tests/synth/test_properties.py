"""Invariants of any small city (Hypothesis over seeds and knobs)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crimelens.synth import SyntheticCity

pytestmark = pytest.mark.slow


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(1, 12),
    n_series=st.integers(0, 6),
    n_areas=st.integers(2, 30),
    disparity=st.floats(0.0, 3.0),
    theta=st.floats(0.0, 0.8),
    recording=st.sampled_from(["thinned", "complete"]),
)
def test_any_city_keeps_its_invariants(seed: int, days: int, n_series: int, n_areas: int, disparity: float,
                                       theta: float, recording: str) -> None:
    city = SyntheticCity(seed=seed, days=days, n_series=n_series, n_areas=n_areas, disparity=disparity,
                         branching_ratio=theta, recording=recording).generate()  # type: ignore[arg-type]
    f = city.frame
    ev = city.truth.events
    assert f["incident_id"].is_unique and len(f) == int(ev["recorded"].sum())
    assert (f["occurred_from"] <= f["occurred_to"]).all() and (f["reported_at"] >= f["occurred_to"]).all()
    burg = f[f["offense"] == "burglary"]
    assert (burg["occurred_from"] < burg["occurred_to"]).all()
    outline = city.geometry.outline
    assert shapely.contains_xy(shapely.buffer(outline, 0.2), f["x_m"], f["y_m"]).all()
    assert len(city.areas) == n_areas and {a.area_id for a in city.areas} >= set(f["area"].astype(str))
    # parents precede their offspring, share their offense and were generated one step earlier
    trig = ev[ev["parent_event_id"] >= 0]
    par = ev.set_index("event_id").loc[trig["parent_event_id"].to_numpy()]
    assert (par["t_days"].to_numpy() < trig["t_days"].to_numpy()).all()
    assert (par["generation"].to_numpy() + 1 == trig["generation"].to_numpy()).all()
    assert (par["offense"].to_numpy() == trig["offense"].to_numpy()).all()
    # every planted member is recorded; a solved series is shown in full
    members = [i for m in city.series.values() for i in m]
    assert len(members) == int((ev["component"] == "series").sum()) and all(members)
    shown = f["series_id"].dropna().astype(str)
    assert set(shown) == set(city.solved)
    assert city.truth.intensity.min() >= 0 and np.isfinite(city.truth.daily).all()
    if recording == "complete":
        assert len(f) == len(ev)
