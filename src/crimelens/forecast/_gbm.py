"""Gradient-boosted cell model: LightGBM on lagged multi-scale counts.

Each training row is one (cell, origin) pair: the features are what was known at
the origin, the target is the count in the following ``horizon_days``. Features:

* counts in the cell over the last 7, 28, 91, 182, 365 and 730 days (``lags_days``)
  and over eight years;
* the same counts summed over the ring of neighbours within 1.5 cells and within
  3 cells (spatial smoothing the trees can weigh);
* a time-weighted count (half-life 365 days);
* the near-repeat signal: incidents within ``near_repeat_m`` metres in the last
  ``near_repeat_days`` days;
* time features of the origin (day of year as sine/cosine, day of week);
* optional user covariates per cell (e.g. places from a user's layer), given as
  a mapping ``name -> array`` over the study area's cells; names are checked by
  :func:`crimelens.domain.check_not_protected`.

The forecast then adds the premise-seasonal adjustment of
:mod:`crimelens.forecast._season` for ``seasonal_premises`` (default
``("education",)``: school cells go quiet in the summer holidays and busy in
term). Given to the trees as a feature, the same signal was not used (2017
Chicago validation weeks, PAI at 1 %: 8.19 without it, 8.22 as a feature, 8.35
added after the trees; docs/forecast.md). Where the recent lags already carry a
strong seasonal swing the added term multiplier overshoots (the planted school
city of tests/forecast/test_season.py, in term).

The objective is Poisson, so the prediction is an expected count. Rows whose
target and features are all zero add nothing but time; zero-target rows are
down-sampled to ``zero_fraction`` and re-weighted by its inverse (an unbiased
Poisson loss), which makes a refit cheap enough for daily refits on 5,000 cells.

Failure modes: at a 7-day horizon for a stable offense the trees mostly
rediscover the long counts (little to gain over time-weighted counts), and the
model is only as good as the training origins' resemblance to the forecast
origin (holiday weeks, a change in recording practice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.domain import check_not_protected
from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._hours import check_time_of_day, check_timezone, time_of_day_scale
from crimelens.forecast._params import check_int, check_positive
from crimelens.forecast._season import check_premise_names, premise_seasonal_adjustment

__all__ = ["GradientBoostedCells"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GradientBoostedCells(HotspotModel):
    """LightGBM Poisson regression of next-window counts per cell on lagged counts.

    Parameters
    ----------
    horizon_days : float
        Length of the target window the model is trained for (default 7).
    n_origins : int
        Number of past training origins (default 26).
    origin_step_days : float
        Days between training origins (default 14).
    lags_days : tuple of float
        Count windows in days (default 7, 28, 91, 182, 365, 730).
    near_repeat_m, near_repeat_days : float
        The near-repeat feature's radius in metres and look-back in days (300, 14).
    n_estimators, learning_rate, num_leaves, min_child_samples :
        LightGBM settings (100, 0.05, 15, 100).
    zero_fraction : float
        Share of zero-target rows kept (re-weighted), default 0.1.
    covariates : mapping of name to array, or None
        Extra per-cell features.
    seasonal_premises : tuple of str
        Premises whose city-wide seasonal multiplier adjusts each cell's forecast
        by that premise's share of it (default ``("education",)``; ``()`` for
        none). Needs the incidents' premises (``fit`` reads them from the table).
    time_of_day : float or None
        For a window shorter than a day (a shift), how far each cell's own share of
        incidents in the window's hours reorders the cells (default 0.5; 0: only the
        city's share scales them; None: the hours are not used, each cell's daily rate
        is spread evenly over the day; see :mod:`crimelens.forecast._hours`).
    timezone : str or None
        The zone whose wall clocks a shift's hours are read on (an IANA name such as
        ``America/Chicago``; default None: UTC). ``forecast run`` and ``forecast
        backtest`` set the zone the dataset's files were read in.
    random_state : int
        Seed for row sampling and LightGBM.
    n_jobs : int
        LightGBM threads (default 1: on a busy machine OpenMP threads spin and a
        2-thread fit was measured 20x slower than a 1-thread one).
    """

    def __init__(self, *, horizon_days: float = 7.0, n_origins: int = 26,
                 origin_step_days: float = 14.0,
                 lags_days: tuple[float, ...] = (7.0, 28.0, 91.0, 182.0, 365.0, 730.0),
                 near_repeat_m: float = 300.0, near_repeat_days: float = 14.0,
                 n_estimators: int = 100, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 100, zero_fraction: float = 0.1,
                 covariates: Mapping[str, NDArray[np.float64]] | None = None,
                 seasonal_premises: tuple[str, ...] = ("education",), time_of_day: float | None = 0.5,
                 timezone: str | None = None,
                 random_state: int = 0,
                 n_jobs: int = 1, area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.horizon_days = horizon_days
        self.n_origins = n_origins
        self.origin_step_days = origin_step_days
        self.lags_days = lags_days
        self.near_repeat_m = near_repeat_m
        self.near_repeat_days = near_repeat_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.zero_fraction = zero_fraction
        self.covariates = covariates
        self.seasonal_premises = seasonal_premises
        self.time_of_day = time_of_day
        self.timezone = timezone
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "horizon_days", "origin_step_days", "near_repeat_days", unit="days")
        check_positive(self, "near_repeat_m", unit="metres")
        check_positive(self, "learning_rate", "zero_fraction")
        if self.zero_fraction > 1:
            raise InvalidParameterError(
                f"GradientBoostedCells(zero_fraction={self.zero_fraction}): expected a fraction in (0, 1]"
            )
        for name in ("n_origins", "n_estimators", "num_leaves", "min_child_samples", "n_jobs"):
            check_int(self, name, low=1 if name != "num_leaves" else 2)
        check_int(self, "random_state", low=0)
        if not self.lags_days or any(not (float(v) > 0) for v in self.lags_days):
            raise InvalidParameterError(
                f"GradientBoostedCells(lags_days={self.lags_days!r}): expected positive day counts"
            )
        if self.covariates is not None:
            check_not_protected(self.covariates.keys(), where="GradientBoostedCells covariates")
        check_premise_names(self, "seasonal_premises")
        check_time_of_day(self)
        check_timezone(self)

    def _uses_premise(self) -> bool:
        return bool(self.seasonal_premises)

    # features -------------------------------------------------------------------------
    def _setup(self) -> None:
        area = self.area_
        ok = self.cell_ >= 0
        # events inside the study area, in time order (``t_`` is sorted): the count of every
        # cell in [a, b) is one bincount over a contiguous slice
        self._t_in = np.ascontiguousarray(self.t_[ok])
        self._cell_in = np.ascontiguousarray(self.cell_[ok])
        spacing = float(np.sqrt(np.median(area.cell_area_m2)))
        self._ring1 = area.neighbours(1.5 * spacing)
        self._ring2 = area.neighbours(3.0 * spacing)
        self._ring_nr = area.neighbours(float(self.near_repeat_m), include_self=True)

    def _count(self, a: float, b: float) -> NDArray[np.float64]:
        """Per-cell count of incidents in ``[a, b)``."""
        lo, hi = np.searchsorted(self._t_in, [a, b], side="left")
        return np.bincount(self._cell_in[lo:hi], minlength=self.area_.n_cells).astype(np.float64)

    def _lookback_counts(self, t0: float, lookbacks: list[float]) -> dict[float, NDArray[np.float64]]:
        """``{L: per-cell count in [t0 - L, t0)}`` from one pass over disjoint bands."""
        ls = sorted(set(lookbacks))
        edges = np.array([t0 - v for v in reversed(ls)] + [t0])
        idx = np.searchsorted(self._t_in, edges, side="left")
        n = self.area_.n_cells
        out: dict[float, NDArray[np.float64]] = {}
        running = np.zeros(n, dtype=np.int64)
        # walk from the most recent band back in time, accumulating
        for k in range(len(ls)):
            j = len(edges) - 2 - k
            running = running + np.bincount(self._cell_in[idx[j]:idx[j + 1]], minlength=n)
            out[ls[k]] = running.astype(np.float64)
        return out

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for lag in self.lags_days:
            names += [f"count_{lag:g}d", f"ring1_{lag:g}d", f"ring2_{lag:g}d"]
        names += ["count_2920d", "time_weighted_365d", f"near_repeat_{self.near_repeat_m:g}m",
                  "doy_sin", "doy_cos", "dow"]
        names += sorted(self.covariates) if self.covariates else []
        return names

    def _features(self, t0: float) -> NDArray[np.float64]:
        cols: list[NDArray[np.float64]] = []
        lags = [float(v) for v in self.lags_days]
        nr_days = float(self.near_repeat_days)
        counts = self._lookback_counts(t0, [*lags, 2920.0, nr_days])
        own = np.column_stack([counts[lag] for lag in lags])
        ring1, ring2 = self._ring1 @ own, self._ring2 @ own  # one sparse product per ring
        for k in range(len(lags)):
            cols += [own[:, k], ring1[:, k], ring2[:, k]]
        cols.append(counts[2920.0])
        s = self._before(t0, 2920.0)
        ok = self.cell_[s] >= 0
        w = np.exp2(-(t0 - self.t_[s][ok]) / 365.0)
        cols.append(np.bincount(self.cell_[s][ok], weights=w, minlength=self.area_.n_cells).astype(np.float64))
        cols.append(self._ring_nr @ counts[nr_days])
        day = _EPOCH + timedelta(days=t0)
        doy = day.timetuple().tm_yday / 365.25 * 2 * math.pi
        n = self.area_.n_cells
        cols += [np.full(n, math.sin(doy)), np.full(n, math.cos(doy)), np.full(n, float(day.weekday()))]
        if self.covariates:
            for name in sorted(self.covariates):
                v = np.asarray(self.covariates[name], dtype=np.float64)
                if v.shape != (n,):
                    raise InvalidParameterError(
                        f"GradientBoostedCells covariate {name!r}: got shape {v.shape}; expected ({n},)"
                    )
                cols.append(v)
        return np.column_stack(cols)

    def _fit(self) -> None:
        import lightgbm as lgb

        names = self.feature_names()
        check_not_protected(names, where="GradientBoostedCells features")
        self._setup()
        rng = np.random.default_rng(self.random_state)
        h = float(self.horizon_days)
        t_last = self.t_end_
        X_parts, y_parts, w_parts = [], [], []
        for k in range(int(self.n_origins)):
            o = t_last - h - k * float(self.origin_step_days)
            if o - float(self.t_[0]) < h:
                break
            X = self._features(o)
            y = self._count(o, o + h)
            keep = (y > 0) | (rng.random(len(y)) < float(self.zero_fraction))
            w = np.where(y > 0, 1.0, 1.0 / float(self.zero_fraction))
            X_parts.append(X[keep])
            y_parts.append(y[keep])
            w_parts.append(w[keep])
        if not X_parts:
            raise InvalidParameterError(
                "GradientBoostedCells.fit: the training incidents span too short a period for one "
                f"training origin (need more than 2 x horizon_days = {2 * h:g} days)"
            )
        X_all = np.vstack(X_parts)
        y_all = np.concatenate(y_parts)
        w_all = np.concatenate(w_parts)
        params: dict[str, Any] = {
            "objective": "poisson", "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves), "min_data_in_leaf": int(self.min_child_samples),
            "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
            "seed": int(self.random_state), "num_threads": int(self.n_jobs), "verbose": -1,
            "max_bin": 63, "deterministic": True, "force_row_wise": True,
        }
        data = lgb.Dataset(X_all, label=y_all, weight=w_all, feature_name=names,
                           free_raw_data=True)
        self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators))
        self.n_training_rows_ = len(y_all)
        self.feature_names_ = names

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        X = self._features(t0)
        pred = np.asarray(self.booster_.predict(X), dtype=np.float64)
        pred *= horizon_days / float(self.horizon_days)
        if self.seasonal_premises:
            pred += premise_seasonal_adjustment(self.t_, self.cell_, self.premise_, self.seasonal_premises,
                                                t0, horizon_days, self.area_.n_cells)
        hours = None if self.time_of_day is None else time_of_day_scale(
            self.t_, self.cell_, t0, horizon_days, self.area_.n_cells, strength=float(self.time_of_day),
            zone=self.timezone)
        if hours is not None:
            pred = pred * hours
        return pred
