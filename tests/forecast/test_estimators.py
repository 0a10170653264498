"""The scikit-learn contract for every model, and backtests that never see the test window."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import clone

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError, NotFittedError
from crimelens.forecast import MODELS, HotspotModel, NaiveCounts, StudyArea, rolling_origin
from crimelens.forecast._base import days_since_epoch
from tests.forecast.conftest import simulate_grid_hawkes, table_from

BAD_PARAMS = {
    "naive": ("window_days", -5.0, r"NaiveCounts\(window_days=-5.0\): window_days must be a finite number > 0 days"),
    "weighted": ("half_life_days", 0.0, "half_life_days must be a finite number > 0 days"),
    "retro": ("bandwidth_m", float("nan"), "bandwidth_m must be a finite number > 0 metres"),
    "prospective": ("space_band_m", -1.0, "space_band_m must be a finite number > 0 metres"),
    "kde": ("bandwidth", "adaptive", r"bandwidth must be one of \['fixed', 'nn'\]"),
    "etas": ("n_iter", 0, "n_iter must be an integer >= 1"),
    "sepp": ("declustering", "greedy", r"declustering must be one of \['stochastic', 'expected'\]"),
    "gbm": ("zero_fraction", 2.0, r"expected a fraction in \(0, 1\]"),
}


@pytest.fixture(scope="module")
def hawkes_table() -> IncidentTable:
    sim = simulate_grid_hawkes(seed=2, n_side=12, days=500.0)
    return table_from(sim.t_days, sim.xy)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract_clone_params_unfitted_and_validation(name: str, hawkes_table: IncidentTable) -> None:
    model = MODELS[name]()
    params = model.get_params()
    assert clone(model).get_params() == params  # parameters stored as given
    with pytest.raises(NotFittedError, match="is not fitted yet; call fit"):
        model.predict(TimeWindow.starting("2021-06-01", days=7))
    attr, value, message = BAD_PARAMS[name]
    with pytest.raises(InvalidParameterError, match=message):
        clone(model).set_params(**{attr: value}).fit(hawkes_table)
    fitted = model.fit(hawkes_table)
    assert fitted is model and hasattr(model, "area_")
    surface = model.predict(TimeWindow.starting("2021-05-16", days=7))
    assert surface.model == type(model).__name__ and surface.intensity.sum() > 0
    assert surface.params == model.get_params()


def test_protected_covariates_are_refused(hawkes_table: IncidentTable) -> None:
    from crimelens.errors import ProtectedAttributeError

    model = MODELS["gbm"](covariates={"share_race_black": np.zeros(144)})
    with pytest.raises(ProtectedAttributeError, match="protected attribute"):
        model.fit(hawkes_table)


class _Recorder(HotspotModel):
    """Remembers the latest incident it was trained on (a real subclass, not a mock)."""

    seen: ClassVar[list[float]] = []

    def __init__(self, *, area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.area = area
        self.cell_m = cell_m

    def _fit(self) -> None:
        _Recorder.seen.append(float(self.t_.max()))

    def _predict(self, t0: float, horizon_days: float) -> np.ndarray:
        return np.ones(self.area_.n_cells)


def test_backtest_training_never_sees_the_test_window(hawkes_table: IncidentTable) -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 12, 12, crs="EPSG:32616"))
    _Recorder.seen.clear()
    res = rolling_origin(hawkes_table, {"rec": _Recorder(), "naive": NaiveCounts(window_days=200.0)},
                         area=area, start="2020-10-01", periods=6, horizon_days=7.0,
                         coverages=(0.05, 0.2), ceiling=True)
    origins = [days_since_epoch(o) for o in res.origins]
    assert len(_Recorder.seen) == 6
    assert all(seen < o for seen, o in zip(_Recorder.seen, origins, strict=True))
    # per-period counts agree with a direct count in each window
    t = hawkes_table.t_days()
    for p, o in enumerate(origins):
        assert res.n_events[p] == int(((t >= o) & (t < o + 7.0)).sum())
    # a flat forecast has PAI 1 in expectation under split ties: exactly 1 each week
    np.testing.assert_allclose(res.values("rec", "pai", 0.05), 1.0)
    assert res.paired("naive", "naive", "pai", 0.05) == (1.0, 1.0, 1.0)
    mean, low, high = res.mean("naive", "pai", 0.2)
    assert low <= mean <= high
    summary = res.summary()
    assert summary["area"]["n_cells"] == 144 and "ceiling:perfect-rate" in summary["models"]
    assert len(res.per_period()) == 3 * 6
    # the perfect-rate ceiling: share of the rate over the 6 test weeks and the 6 weeks before
    # them that lies in the top 5 % of cells (7 of 144), by hand
    first = origins[0]
    cells = area.cell_of(hawkes_table.xy_m)
    keep = (t >= first - 42.0) & (t < first + 42.0) & (cells >= 0)
    rate = np.bincount(cells[keep], minlength=144).astype(float)
    top = np.sort(rate)[::-1][:7].sum() / rate.sum()
    np.testing.assert_allclose(res.values("ceiling:perfect-rate", "hit_rate", 0.05), top)
    np.testing.assert_allclose(res.values("ceiling:perfect-rate", "pai", 0.05), top / (7 / 144))
