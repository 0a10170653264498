"""Rolling-origin backtests with intervals across periods and paired comparisons.

For each origin ``o_k = start + k * step_days`` the models are fitted on the
incidents that *start before* ``o_k`` (and after ``o_k - train_days`` when
given) and forecast ``[o_k, o_k + horizon_days)``; the forecast is scored
against the incidents recorded in that window inside the study area. Training
never sees the test window: the training events are cut before the model sees
them, and ``predict`` itself only uses incidents before the window's start. The
events are sorted and located in the study area once; each model is fitted on
the slice before its origin through :meth:`HotspotModel.fit_events`, which
learns exactly what ``fit`` learns from a table. Each period also counts every test incident
recorded in its window (``n_recorded``), in the study area or not: the scores are defined on the
study area, so the incidents outside it (``n_recorded - n_events``) are not scored, and the result
says how many. Each period keeps every model's forecast
total over the study area (``expected``) beside the incidents recorded (``n_events``): a model
that gives every cell 0 (e.g. a shift whose hours its history never holds) shows there.

Intervals are percentile bootstraps over periods (resampling whole periods, so
week-to-week correlation inside a period is kept). A paired comparison resamples
the same periods for both models and reports the ratio of their means: the
interval of ``mean(PAI_a) / mean(PAI_b)`` lying above 1 is the evidence that
``a`` beats ``b``. A resample whose periods give ``b`` a mean of 0 has no ratio: it
is left out of the interval and counted (``n_undefined``); when more than the
interval's tail (2.5 % of the resamples) have none, the percentile would fall
among them, and the interval is undefined (NaN, with the reason). One period gives
no interval (NaN), not a zero-width one; fewer than :data:`MIN_PERIODS_FOR_INTERVAL`
give one that the backtest's warnings call unreliable.

A ceiling can be added (``ceiling=True``) to show how much room there is:
``ceiling:perfect-rate`` is the expected score of a forecaster that knows each
cell's true rate, taken as its mean count over the test period plus an equal
span before it (for 2018-2019 weekly tests: 2016-2019). Its expected hit rate
at coverage ``c`` is the share of that rate in the top ``c`` of cells, the
same every period (no forecast can know this; it uses the test period).
Known failure mode: the rate is each cell's count over that span, and the top
cells are chosen by the same counts, so where they hold few incidents the
ceiling is mostly Poisson noise and biased upward (it ranks cells by their luck
and scores them on it). The result keeps, per coverage, the incidents per flagged
cell its rate rests on (``ceiling_support``); with none at all outside the flagged
cells it reaches the largest PAI possible, ``n_cells / k``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone

from crimelens.domain import IncidentTable, TimeWindow
from crimelens.domain._time import as_utc, wall_clock_add, wall_clock_steps
from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea
from crimelens.forecast._base import HotspotModel, days_since_epoch, params_used
from crimelens.forecast._metrics import DEFAULT_CURVE, brier_score, coverage_scores, poisson_loglik
from crimelens.forecast._season import encode_premises

__all__ = ["BacktestResult", "bootstrap_interval", "rolling_origin"]

METRICS = ("hit_rate", "pai", "pei")

#: Fewer scored periods than this: intervals across them are not reliable (a percentile bootstrap
#: over a handful of values takes few distinct means; the backtest's warnings say so)
MIN_PERIODS_FOR_INTERVAL = 10


def bootstrap_interval(values: NDArray[np.float64], *, n_boot: int = 2000, level: float = 0.95,
                       random_state: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` (NaNs dropped) and its percentile bootstrap interval.

    One value gives its mean and no interval (NaN, NaN): resampling one value gives a zero-width
    interval that would read as a certain estimate.

    Examples
    --------
    >>> bootstrap_interval(np.array([1.0, 1.0, 1.0]))
    (1.0, 1.0, 1.0)
    >>> bootstrap_interval(np.array([2.0, np.nan]))
    (2.0, nan, nan)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (float("nan"), float("nan"), float("nan"))
    if len(v) == 1:
        return (float(v[0]), float("nan"), float("nan"))
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    means = v[idx].mean(axis=1)
    a = (1 - level) / 2
    return (float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """Scores per model, period and coverage; computed once, read-only.

    Arrays are indexed ``[model, period, coverage]`` (metrics) or
    ``[model, period]`` (proper scores and timings).
    """

    models: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    origins: tuple[datetime, ...]
    horizon_days: float
    coverages: tuple[float, ...]
    area: Mapping[str, Any]
    n_events: NDArray[np.float64]
    hit_rate: NDArray[np.float64]
    pai: NDArray[np.float64]
    pei: NDArray[np.float64]
    loglik: NDArray[np.float64]
    brier: NDArray[np.float64]
    seconds: NDArray[np.float64]
    ties: str = "split"
    n_boot: int = 2000
    random_state: int = 0
    #: audit groups of the incidents (``rolling_origin(groups=...)``), and per model, period,
    #: group and coverage the group's incidents in flagged cells (ties split pro rata)
    groups: tuple[str, ...] = ()
    group_hits: NDArray[np.float64] | None = None
    #: the group's incidents per period and group
    group_n: NDArray[np.float64] | None = None
    #: each model's class name by its label (a backtest may run one model under several labels,
    #: each with its own parameters)
    classes: Mapping[str, str] = field(default_factory=dict)
    #: where each period's window ends (``origins[p]`` plus the horizon on the data's clocks; empty:
    #: plus ``horizon_days`` in UTC, as results made before the windows followed the clocks)
    ends: tuple[datetime, ...] = ()
    #: each model's forecast summed over the study area, per period (``[model, period]``): the
    #: incidents it expected in the window, beside the ``n_events`` recorded (NaN: not fitted, no
    #: history; None: not kept, as in results made before it was)
    expected: NDArray[np.float64] | None = None
    #: every test incident recorded in each period's window (``[period]``), in the study area or not (or
    #: without a location): ``n_recorded - n_events`` fell outside the area and are not scored (None: not
    #: kept, as in results made before it was)
    n_recorded: NDArray[np.float64] | None = None
    #: the same per period and audit group (``[period, group]``)
    group_recorded: NDArray[np.float64] | None = None
    #: what the perfect-rate ceiling's rate rests on, per coverage (``[coverage]``): the incidents per
    #: flagged cell over the rate's span (the test periods and an equal span before them; None: no
    #: ceiling, or not kept, as in results made before it was)
    ceiling_support: NDArray[np.float64] | None = None
    #: the days the ceiling's rate was counted over (twice the test periods' span)
    ceiling_span_days: float | None = None
    _index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("n_events", "hit_rate", "pai", "pei", "loglik", "brier", "seconds"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        for name in ("group_hits", "group_n", "expected", "n_recorded", "group_recorded", "ceiling_support"):
            if getattr(self, name) is not None:
                arr = np.array(getattr(self, name), dtype=np.float64)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)
        object.__setattr__(self, "_index", {m: i for i, m in enumerate(self.models)})

    def _cov(self, coverage: float) -> int:
        for i, c in enumerate(self.coverages):
            if abs(c - coverage) < 1e-12:
                return i
        raise InvalidParameterError(
            f"coverage {coverage} was not scored; expected one of {list(self.coverages)}"
        )

    def _model(self, name: str) -> int:
        if name not in self._index:
            raise InvalidParameterError(f"model {name!r} not in the backtest; expected one of {list(self.models)}")
        return self._index[name]

    def values(self, model: str, metric: str, coverage: float) -> NDArray[np.float64]:
        """Per-period values of ``metric`` ('hit_rate', 'pai', 'pei') at ``coverage``."""
        if metric not in METRICS:
            raise InvalidParameterError(f"metric {metric!r}: expected one of {list(METRICS)}")
        arr: NDArray[np.float64] = getattr(self, metric)
        return np.asarray(arr[self._model(model), :, self._cov(coverage)])

    def mean(self, model: str, metric: str, coverage: float) -> tuple[float, float, float]:
        """Mean over periods with its bootstrap interval: ``(mean, low, high)``."""
        return bootstrap_interval(self.values(model, metric, coverage), n_boot=self.n_boot,
                                  random_state=self.random_state)

    def group_hit_rates(self, model: str, coverage: float) -> dict[str, dict[str, float]]:
        """Per audit group: the share of its recorded incidents in the study area that fell in flagged
        cells, pooled over the periods the model was scored in (``hit_rate``), a percentile bootstrap
        interval resampling whole periods (``low``, ``high``) and its incident count in the study area
        (``n``); where the result kept them, also the group's test incidents recorded in those periods
        (``n_recorded``), how many of them fell outside the study area and are not scored
        (``n_outside``) and their share (``share_outside``). Empty without groups."""
        if self.group_hits is None or self.group_n is None:
            return {}
        hits = self.group_hits[self._model(model), :, :, self._cov(coverage)]  # [period, group]
        scored = np.isfinite(hits).all(axis=1)  # periods the model was scored in
        hits, n = hits[scored], self.group_n[scored]
        recorded = None if self.group_recorded is None else self.group_recorded[scored]

        def outside(g: int, n_in: float) -> dict[str, float]:
            if recorded is None:
                return {}
            total = float(recorded[:, g].sum())
            return {"n_recorded": total, "n_outside": total - n_in,
                    "share_outside": (total - n_in) / total if total else float("nan")}

        if len(n) == 0:
            return {name: {"hit_rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0.0,
                           **outside(g, 0.0)} for g, name in enumerate(self.groups)}
        one = len(n) == 1  # one period: no interval (resampling it gives a zero-width one)
        rng = np.random.default_rng(self.random_state)
        idx = rng.integers(0, len(n), size=(self.n_boot, len(n)))
        out: dict[str, dict[str, float]] = {}
        for g, name in enumerate(self.groups):
            total = float(n[:, g].sum())
            if total == 0:
                out[name] = {"hit_rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0.0,
                             **outside(g, 0.0)}
                continue
            boot = hits[idx, g].sum(axis=1) / np.maximum(n[idx, g].sum(axis=1), 1e-300)
            boot = boot[n[idx, g].sum(axis=1) > 0]
            low, high = ((float("nan"), float("nan")) if one else
                         (float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))))
            out[name] = {"hit_rate": float(hits[:, g].sum() / total), "low": low, "high": high, "n": total,
                         **outside(g, total)}
        return out

    def outside_area(self) -> dict[str, Any] | None:
        """The test incidents recorded in the periods (every one in the data read, counted as the
        backtest counts records), how many fell in the study area and were scored (``n_events``) and
        how many outside it (``n_outside``, with their ``share_outside``), in total and per period;
        None when the result did not keep them."""
        if self.n_recorded is None:
            return None
        total, inside = float(self.n_recorded.sum()), float(self.n_events.sum())
        return {"n_recorded": int(total), "n_in_study_area": int(inside), "n_outside": int(total - inside),
                "share_outside": (total - inside) / total if total else 0.0,
                "per_period": {"n_recorded": [int(v) for v in self.n_recorded],
                               "n_outside": [int(r - e) for r, e in zip(self.n_recorded, self.n_events,
                                                                           strict=True)]}}

    def paired(self, a: str, b: str, metric: str = "pai", coverage: float = 0.01
               ) -> tuple[float, float, float]:
        """Ratio ``mean(a) / mean(b)`` over the same periods and its paired bootstrap interval
        (NaN where :meth:`paired_ratio` gives none)."""
        r = self.paired_ratio(a, b, metric, coverage)
        return (r["ratio"], r["low"], r["high"])

    def paired_ratio(self, a: str, b: str, metric: str = "pai", coverage: float = 0.01) -> dict[str, Any]:
        """Ratio ``mean(a) / mean(b)`` over the periods both were scored in, and its paired bootstrap
        interval: ``{"ratio", "low", "high", "n_periods", "n_undefined"}`` and, where there is no
        interval, ``"no_interval"`` saying why.

        The ratio is NaN when ``b``'s mean is 0. Each of the ``n_boot`` resamples draws the same periods
        for both; one in which ``b``'s mean is 0 has no ratio (``x / 0``): it is left out and counted in
        ``n_undefined``. When more of them are undefined than either tail of the interval holds (2.5 % of
        the resamples), a percentile of the resamples could fall among them, so the interval is NaN. One period gives no
        interval either. Where no resample is undefined the interval is the percentile interval of every
        resample's ratio, as it always was.

        Examples
        --------
        >>> from crimelens.domain import Grid
        >>> from crimelens.forecast._area import StudyArea
        >>> area = StudyArea.square(Grid(0.0, 0.0, 100.0, 2, 1))
        >>> pai = np.array([[[2.0], [1.0], [3.0]], [[0.0], [1.0], [0.0]]])  # [model, period, coverage]
        >>> z = np.zeros((2, 3))
        >>> res = BacktestResult(("a", "b"), {}, (), 7.0, (0.5,), area.describe(), np.ones(3), pai, pai, pai,
        ...                      z, z, z)
        >>> r = res.paired_ratio("a", "b", "pai", 0.5)
        >>> r["ratio"], r["low"], r["n_undefined"] > 100
        (6.0, nan, True)
        """
        va, vb = self.values(a, metric, coverage), self.values(b, metric, coverage)
        ok = np.isfinite(va) & np.isfinite(vb)
        va, vb = va[ok], vb[ok]
        nan = float("nan")
        out: dict[str, Any] = {"ratio": nan, "low": nan, "high": nan, "n_periods": len(va), "n_undefined": 0}
        if len(va) == 0:
            out["no_interval"] = f"no period where both {a} and {b} were scored"
            return out
        if vb.mean() > 0:
            out["ratio"] = float(va.mean() / vb.mean())
        if len(va) == 1:
            out["no_interval"] = "one period: resampling it gives no interval"
            return out
        rng = np.random.default_rng(self.random_state)
        idx = rng.integers(0, len(va), size=(self.n_boot, len(va)))
        mean_a, mean_b = va[idx].mean(axis=1), vb[idx].mean(axis=1)
        defined = mean_b > 0
        n_undefined = int(self.n_boot - defined.sum())
        out["n_undefined"] = n_undefined
        tail = 0.025
        if n_undefined > tail * self.n_boot:
            out["no_interval"] = (f"in {n_undefined:,} of the {self.n_boot:,} resamples of the {len(va)} periods "
                                  f"{b}'s mean {metric.upper() if metric != 'hit_rate' else 'hit rate'} is 0, so "
                                  f"their ratio is undefined; more than {tail * 100:g} % of them, so the interval's "
                                  "percentiles would fall among them")
            return out
        ratios = mean_a[defined] / mean_b[defined]
        out["low"], out["high"] = float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))
        return out

    def summary(self, coverages: Sequence[float] | None = None) -> dict[str, Any]:
        """JSON-able: the area definition, and per model the mean and interval of each metric."""
        covs = list(self.coverages if coverages is None else coverages)
        out: dict[str, Any] = {
            "area": dict(self.area), "horizon_days": self.horizon_days,
            "n_periods": len(self.origins), "ties": self.ties,
            "origins": [o.isoformat() for o in self.origins],
            "ends": [self.end(p).isoformat() for p in range(len(self.origins))],
            "interval": f"95% percentile bootstrap over periods, {self.n_boot} resamples, seed {self.random_state}",
            "models": {},
        }
        outside = self.outside_area()
        if outside is not None:
            out["test_incidents"] = outside
        for m in self.models:
            i = self._model(m)
            entry: dict[str, Any] = {"params": dict(self.params.get(m, {}))}
            if m in self.classes:
                entry["class"] = self.classes[m]
            for metric in METRICS:
                entry[metric] = {f"{c:g}": dict(zip(("mean", "low", "high"), self.mean(m, metric, c), strict=True))
                                 for c in covs}
            if self.expected is not None:  # the forecasts' mean total beside the incidents recorded
                entry["expected_per_period"] = _finite_mean(self.expected[i])
            entry["loglik_per_period"] = _finite_mean(self.loglik[i])
            entry["brier"] = _finite_mean(self.brier[i])
            entry["seconds_per_period"] = _finite_mean(self.seconds[i])
            out["models"][m] = entry
        return out

    def end(self, p: int) -> datetime:
        """Where period ``p``'s window ends."""
        return self.ends[p] if self.ends else self.origins[p] + timedelta(days=self.horizon_days)

    def per_period(self, coverages: Sequence[float] | None = None) -> list[dict[str, Any]]:
        covs = list(self.coverages if coverages is None else coverages)
        rows: list[dict[str, Any]] = []
        for m in self.models:
            i = self._model(m)
            for p, o in enumerate(self.origins):
                row: dict[str, Any] = {"model": m, "origin": o.isoformat(), "end": self.end(p).isoformat(),
                                       "n_events": float(self.n_events[p])}
                if self.n_recorded is not None:  # every test incident of the window, and those not scored
                    row["n_recorded"] = float(self.n_recorded[p])
                    row["n_outside"] = float(self.n_recorded[p] - self.n_events[p])
                if self.expected is not None:
                    row["expected"] = float(self.expected[i, p])
                for metric in METRICS:
                    arr = getattr(self, metric)
                    for c in covs:
                        row[f"{metric}@{c:g}"] = float(arr[i, p, self._cov(c)])
                row["loglik"] = float(self.loglik[i, p])
                row["brier"] = float(self.brier[i, p])
                rows.append(row)
        return rows


def rolling_origin(incidents: IncidentTable, models: Mapping[str, HotspotModel], *, area: StudyArea,
                   start: datetime | str | None = None, periods: int | None = None,
                   origins: Sequence[datetime] | None = None, horizon_days: float = 7.0,
                   step_days: float | None = None, train_days: float | None = None,
                   coverages: Sequence[float] = DEFAULT_CURVE, ties: str = "split",
                   ceiling: bool = False, n_boot: int = 2000, random_state: int = 0,
                   groups: Sequence[Any] | None = None, zone: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Weekly (or any step) forecasts from ``start``, each fitted only on earlier incidents.

    Give either ``start`` and ``periods`` (origins ``step_days`` apart, default
    the horizon) or explicit ``origins`` (e.g. local midnights across DST).
    With ``zone`` (an IANA name: the zone the data's clocks read), steps and each
    window's ``horizon_days`` are counted on its wall clocks: a week from a local
    midnight ends at the local midnight a week later, 167 or 169 hours on across a
    daylight-saving change, so back-to-back windows neither overlap nor leave a gap.
    Without it they are counted in UTC (fixed lengths).
    Every model is cloned and given ``area`` for each origin, so a model's own
    ``area`` is replaced by the backtest's (the area is part of the result).
    ``groups`` (one audit label per incident, e.g. its area's group; missing
    labels are left out) adds each group's hit rate: the models never see them.
    """
    if not horizon_days > 0:
        raise InvalidParameterError(f"rolling_origin(horizon_days={horizon_days}): expected > 0 days")
    if origins is not None:
        origin_list = tuple(as_utc(o) for o in origins)
    else:
        if start is None or periods is None:
            raise InvalidParameterError("rolling_origin: give start and periods, or origins")
        if periods < 1:
            raise InvalidParameterError(f"rolling_origin(periods={periods}): expected >= 1")
        step = float(horizon_days if step_days is None else step_days)
        first = as_utc(start, zone)
        origin_list = (tuple(wall_clock_steps(first, periods, step, zone)) if zone is not None
                       else tuple(first + timedelta(days=k * step) for k in range(periods)))
    if len(origin_list) == 0:
        raise InvalidParameterError("rolling_origin: got no origins; expected at least one")
    origins = origin_list
    periods = len(origins)
    ends = tuple(wall_clock_add(o, horizon_days, zone) for o in origins)
    names = tuple(models)
    covs = tuple(float(c) for c in coverages)
    t_all = incidents.t_days(how="mid")
    xy_all = incidents.xy_m
    usable = np.isfinite(t_all) & np.isfinite(xy_all[:, 0]) & np.isfinite(xy_all[:, 1])
    order = np.flatnonzero(usable)[np.argsort(t_all[usable], kind="stable")]
    t_sorted = np.ascontiguousarray(t_all[order])
    xy_sorted = np.ascontiguousarray(xy_all[order])
    cells_all = area.cell_of(xy_sorted)
    # every incident with a time, located or not: the test incidents recorded in each window
    timed = np.flatnonzero(np.isfinite(t_all))
    timed = timed[np.argsort(t_all[timed], kind="stable")]
    t_timed = np.ascontiguousarray(t_all[timed])
    frame = incidents.frame
    # premises encoded once (the models with seasonal_premises read them; the others ignore them)
    premise = (encode_premises(frame["premise"]).take(order)
               if "premise" in frame.columns and any(m._uses_premise() for m in models.values()) else None)
    extra = ("ceiling:perfect-rate",) if ceiling else ()
    ceiling_support: NDArray[np.float64] | None = None
    ceiling_span: float | None = None
    n_models = len(names) + len(extra)
    group_names, codes = _group_codes(groups, len(incidents))
    codes_sorted = None if codes is None else codes[order]
    codes_timed = None if codes is None else codes[timed]
    group_hits = None if codes is None else np.full((n_models, periods, len(group_names), len(covs)), np.nan)
    group_n = None if codes is None else np.zeros((periods, len(group_names)))
    group_recorded = None if codes is None else np.zeros((periods, len(group_names)))
    n_recorded = np.zeros(periods)
    shape = (n_models, periods, len(covs))
    hit, pai, pei = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    loglik, brier = np.full((n_models, periods), np.nan), np.full((n_models, periods), np.nan)
    seconds = np.full((n_models, periods), np.nan)
    expected = np.full((n_models, periods), np.nan)
    n_events = np.zeros(periods)
    observed_all = np.zeros((periods, area.n_cells))
    for p, origin in enumerate(origins):
        t0 = days_since_epoch(origin)
        hi = int(np.searchsorted(t_sorted, t0, side="left"))
        lo = 0 if train_days is None else int(np.searchsorted(t_sorted, t0 - train_days, side="left"))
        end = int(np.searchsorted(t_sorted, days_since_epoch(ends[p]), side="left"))
        cells = cells_all[hi:end]
        observed = np.bincount(cells[cells >= 0], minlength=area.n_cells).astype(np.float64)
        observed_all[p] = observed
        n_events[p] = observed.sum()
        a, b = np.searchsorted(t_timed, [t0, days_since_epoch(ends[p])], side="left")
        n_recorded[p] = b - a
        if codes_timed is not None and group_recorded is not None:
            window_all = codes_timed[a:b]
            group_recorded[p] = np.bincount(window_all[window_all >= 0], minlength=len(group_names))
        observed_g: list[NDArray[np.float64]] = []
        if codes_sorted is not None and group_n is not None:
            window_codes = codes_sorted[hi:end]
            for g in range(len(group_names)):
                sel = (cells >= 0) & (window_codes == g)
                observed_g.append(np.bincount(cells[sel], minlength=area.n_cells).astype(np.float64))
                group_n[p, g] = observed_g[-1].sum()
        if hi - lo == 0:
            continue
        window = TimeWindow(origin, ends[p])
        for m, name in enumerate(names):
            began = time.perf_counter()
            model = clone(models[name]).set_params(area=area)
            # the same events fit() would extract from the table, already sorted and located
            surface = model.fit_events(
                t_sorted[lo:hi], xy_sorted[lo:hi], cells=cells_all[lo:hi],
                premise=None if premise is None else premise.take(slice(lo, hi))).predict(window)
            seconds[m, p] = time.perf_counter() - began
            expected[m, p] = float(surface.intensity.sum())
            _score(surface.intensity, observed, covs, ties, m, p, hit, pai, pei, loglik, brier)
            if group_hits is not None:
                for g, obs in enumerate(observed_g):
                    group_hits[m, p, g] = 0.0  # NaN stays only where the model was not scored
                    if obs.sum() > 0:
                        r = coverage_scores(surface.intensity, obs, covs, ties="index" if ties == "index" else "split")
                        group_hits[m, p, g] = np.asarray(r["hit_rate"]) * obs.sum()
        if progress is not None:
            progress(p + 1, periods)
    if ceiling:
        t_first = days_since_epoch(origins[0])
        t_last = days_since_epoch(ends[-1])
        span = t_last - t_first
        inside = (t_sorted >= t_first - span) & (t_sorted < t_last) & (cells_all >= 0)
        counts = np.bincount(cells_all[inside], minlength=area.n_cells).astype(np.float64)
        per_day = counts / (2.0 * span)
        # the incidents per flagged cell the rate rests on: the top cells are chosen by these counts too
        top = counts[np.argsort(-counts, kind="stable")]  # the order rank_cells gives the rate
        ceiling_support = np.array([top[:k].sum() / k for k in (max(1, round(c * area.n_cells)) for c in covs)])
        ceiling_span = 2.0 * span
        for p in range(periods):
            rate = per_day * (days_since_epoch(ends[p]) - days_since_epoch(origins[p]))
            expected[len(names), p] = float(rate.sum())
            if n_events[p] > 0:  # like every model's: a period without records has no hit rate or PAI
                _score(rate, rate, covs, "index", len(names), p, hit, pai, pei, loglik, brier)
            pei[len(names), p] = np.nan  # its own rate scored against itself: 1 by construction, says nothing
            loglik[len(names), p] = poisson_loglik(rate, observed_all[p])
            brier[len(names), p] = brier_score(rate, observed_all[p])
    params = {name: _plain(params_used(models[name], area)) for name in names}  # cell_m: the area's
    return BacktestResult(names + extra, params, origins, float(horizon_days), covs,
                          area.describe(), n_events, hit, pai, pei, loglik, brier, seconds,
                          ties, n_boot, random_state, group_names, group_hits, group_n,
                          {name: type(models[name]).__name__ for name in names}, ends, expected,
                          n_recorded, group_recorded, ceiling_support=ceiling_support,
                          ceiling_span_days=ceiling_span)


def _group_codes(groups: Sequence[Any] | None, n: int) -> tuple[tuple[str, ...], NDArray[np.int64] | None]:
    """Sorted group names and each incident's code (-1: no label)."""
    if groups is None:
        return (), None
    labels = list(groups)
    if len(labels) != n:
        raise InvalidParameterError(f"rolling_origin(groups=...): got {len(labels)} labels; expected one per "
                                    f"incident ({n})")
    text = [None if v is None or (isinstance(v, float) and not np.isfinite(v)) or str(v) == "" else str(v)
            for v in labels]
    names = tuple(sorted({t for t in text if t is not None}))
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([-1 if t is None else index[t] for t in text], dtype=np.int64)


def _score(intensity: NDArray[np.float64], observed: NDArray[np.float64], covs: tuple[float, ...],
           ties: str, m: int, p: int, hit: NDArray[np.float64], pai: NDArray[np.float64],
           pei: NDArray[np.float64], loglik: NDArray[np.float64], brier: NDArray[np.float64]) -> None:
    r = coverage_scores(intensity, observed, covs, ties="index" if ties == "index" else "split")
    hit[m, p], pai[m, p], pei[m, p] = r["hit_rate"], r["pai"], r["pei"]
    loglik[m, p] = poisson_loglik(intensity, observed)
    brier[m, p] = brier_score(intensity, observed)


def _finite_mean(values: NDArray[np.float64]) -> float:
    v = values[np.isfinite(values)]
    return float(v.mean()) if len(v) else float("nan")


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, bool | int | float | str | type(None)) else
            (list(v) if isinstance(v, tuple) else type(v).__name__) for k, v in params.items()
            if k != "area"}
