"""The estimator base class every hotspot model shares.

Contract (scikit-learn's): ``__init__`` stores keyword parameters as given;
``fit(incidents)`` validates them, learns state in attributes ending in ``_``
and returns ``self``; ``predict(window)`` returns a frozen
:class:`~crimelens.forecast.RiskSurface` of expected counts per cell of the
study area for that window. Only incidents that start before ``window.start``
are used by ``predict``, so a model fitted on everything still cannot look
into the window it forecasts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea
from crimelens.forecast._params import check_fitted, check_positive
from crimelens.forecast._season import PremiseCodes, encode_premises
from crimelens.forecast._surface import RiskSurface

__all__ = ["HotspotModel", "days_since_epoch", "params_used"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def days_since_epoch(when: datetime) -> float:
    """Float days since 1970-01-01 UTC (the time axis every model uses)."""
    return (when - _EPOCH).total_seconds() / 86400.0


def params_used(model: HotspotModel, area: StudyArea | None = None) -> dict[str, Any]:
    """``model.get_params()`` as a fit on ``area`` (default: the model's own ``area``) uses them.

    With a study area, ``cell_m`` is unused: the cells are the area's. What is recorded then says
    the size of the area's square cells, or leaves ``cell_m`` out for H3 hexagons (their size is the
    area's ``resolution``). Without an area, ``cell_m`` is the covering grid's, as given.

    >>> from crimelens.domain import Grid
    >>> area = StudyArea.square(Grid(0.0, 0.0, 400.0, 2, 2))
    >>> from crimelens.forecast._counts import NaiveCounts
    >>> params_used(NaiveCounts(area=area))["cell_m"], NaiveCounts(area=area).get_params()["cell_m"]
    (400.0, 150.0)
    """
    params: dict[str, Any] = dict(model.get_params(deep=False))
    study = area if area is not None else params.get("area")
    if isinstance(study, StudyArea):
        if study.kind == "square" and study.grid is not None:
            params["cell_m"] = float(study.grid.cell_m)
        else:
            params.pop("cell_m", None)
    return params


class HotspotModel(BaseEstimator):  # type: ignore[misc]
    """Base for the place-based models; subclasses implement ``_fit`` and ``_predict``.

    Parameters common to every model
    --------------------------------
    area : StudyArea or None
        The cells to forecast. ``None``: every cell of a ``cell_m`` grid covering
        the training incidents' bounding box.
    cell_m : float
        Cell size in metres when ``area`` is None.
    """

    area: StudyArea | None
    cell_m: float

    # subclasses ---------------------------------------------------------------------
    def _validate(self) -> None:  # pragma: no cover - overridden
        pass

    def _fit(self) -> None:
        pass

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        raise NotImplementedError

    def _uses_premise(self) -> bool:
        """Whether ``fit`` should read the incidents' premises (models with ``seasonal_premises``)."""
        return False

    # shared -------------------------------------------------------------------------
    def _check_common(self) -> None:
        check_positive(self, "cell_m", unit="metres")
        if self.area is not None and not isinstance(self.area, StudyArea):
            raise InvalidParameterError(
                f"{type(self).__name__}(area={type(self.area).__name__}): expected a StudyArea or None"
            )
        self._validate()

    def fit(self, incidents: IncidentTable, y: None = None) -> Self:
        """Learn from ``incidents`` (an :class:`~crimelens.domain.IncidentTable` in metres)."""
        self._check_common()
        if len(incidents) == 0:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: got 0 incidents; expected at least one"
            )
        further = int(incidents.further_records().sum())
        if further:  # the CLI and the service count each incident once (count_records); say what this counts
            warnings.warn(
                f"{type(self).__name__}.fit: the table holds {further:,} further records of its incidents (ids "
                "ID#2, ID#3, ...: one row per victim or offence), and each is counted as an incident here. To count "
                "each incident once, as `crimelens forecast` does, fit on "
                "table.select(mask=~table.further_records())", UserWarning, stacklevel=2)
        area = self.area if self.area is not None else StudyArea.bounding_box(incidents, self.cell_m)
        frame = incidents.frame
        premise = (encode_premises(frame["premise"])
                   if self._uses_premise() and "premise" in frame.columns else None)
        return self._fit_arrays(incidents.t_days(how="mid"), incidents.xy_m, area, None, premise)

    def fit_events(self, t_days: NDArray[np.float64], xy_m: NDArray[np.float64], *,
                   cells: NDArray[np.int64] | None = None,
                   premise: PremiseCodes | Sequence[str | None] | NDArray[Any] | None = None) -> Self:
        """Learn from bare event arrays, as :meth:`fit` does from a table.

        Parameters
        ----------
        t_days : array of shape (n,)
            Event times in float days since 1970-01-01 UTC (the mid-point of each
            incident's window, as :meth:`IncidentTable.t_days` gives by default).
        xy_m : array of shape (n, 2)
            Coordinates in metres in the study area's CRS.
        cells : array of shape (n,), optional
            ``area.cell_of(xy_m)`` when the caller already has it (the backtest
            computes it once for every origin); must be given with ``area`` set.
        premise : PremiseCodes or sequence of str, optional
            Each event's premise (place type; None where not recorded), as
            :meth:`fit` reads it from the table's ``premise`` column; the backtest
            passes codes encoded once. Used by the models with
            ``seasonal_premises`` (see :mod:`crimelens.forecast._season`).

        The backtest engine and callers that refit often use this to skip the
        table's column conversions; the model learns exactly the same state.
        Without ``area`` the covering grid of the events is used, with no CRS
        recorded (a table carries its CRS; bare arrays do not).
        """
        self._check_common()
        t = np.asarray(t_days, dtype=np.float64).reshape(-1)
        xy = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        if len(t) != len(xy):
            raise InvalidParameterError(
                f"{type(self).__name__}.fit_events: got {len(t)} times and {len(xy)} points; "
                "expected one point per time"
            )
        if len(t) == 0:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit_events: got 0 events; expected at least one"
            )
        if cells is not None and (self.area is None or len(cells) != len(t)):
            raise InvalidParameterError(
                f"{type(self).__name__}.fit_events(cells=...): expected one cell per event of the "
                "model's own study area (set area=...)"
            )
        codes = None if premise is None or not self._uses_premise() else encode_premises(premise)
        if codes is not None and len(codes.codes) != len(t):
            raise InvalidParameterError(
                f"{type(self).__name__}.fit_events(premise=...): got {len(codes.codes)} premises for "
                f"{len(t)} events; expected one per event"
            )
        if self.area is not None:
            area = self.area
        else:
            ok = np.all(np.isfinite(xy), axis=1)
            if not ok.any():
                raise InvalidParameterError(
                    f"{type(self).__name__}.fit_events: no event has finite coordinates"
                )
            p = xy[ok]
            grid = Grid.covering((float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()),
                                  float(p[:, 1].max())), float(self.cell_m), crs=None)
            area = StudyArea.square(
                grid, rule="every cell of the grid covering the incidents' bounding box")
        return self._fit_arrays(t, xy, area, cells, codes)

    def _fit_arrays(self, t: NDArray[np.float64], xy: NDArray[np.float64], area: StudyArea,
                    cells: NDArray[np.int64] | None, premise: PremiseCodes | None = None) -> Self:
        self.area_ = area
        ok = np.isfinite(t) & np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])
        if not ok.all():
            t, xy = t[ok], xy[ok]
            cells = None if cells is None else cells[ok]
            premise = None if premise is None else premise.take(ok)
        if len(t) == 0:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: no incident has a finite time and position"
            )
        if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):
            order = np.argsort(t, kind="stable")
            t, xy = t[order], xy[order]
            cells = None if cells is None else cells[order]
            premise = None if premise is None else premise.take(order)
        self.t_ = np.ascontiguousarray(t)
        self.xy_ = np.ascontiguousarray(xy)
        self.cell_ = area.cell_of(self.xy_) if cells is None else np.asarray(cells, dtype=np.int64)
        self.premise_ = premise
        self.t_end_ = float(self.t_[-1])
        self.n_incidents_ = len(self.t_)
        self._fit()
        return self

    def predict(self, window: TimeWindow) -> RiskSurface:
        """The expected count of recorded incidents per cell during ``window``."""
        check_fitted(self, "area_")
        t0 = days_since_epoch(window.start)
        values = self._predict(t0, window.days)
        return RiskSurface(self.area_, np.maximum(values, 0.0), window, type(self).__name__,
                           self._public_params())

    def _public_params(self) -> dict[str, Any]:
        # get_params() without its per-call signature inspection (none of these models nests
        # another estimator, so the shallow and deep parameters are the same)
        names = _PARAM_NAMES.get(type(self))
        if names is None:
            names = _PARAM_NAMES[type(self)] = tuple(self._get_param_names())
        return {k: getattr(self, k) for k in names}

    # helpers ------------------------------------------------------------------------
    def _before(self, t0: float, lookback_days: float | None = None) -> slice:
        """Slice of the sorted events in ``[t0 - lookback, t0)``."""
        hi = int(np.searchsorted(self.t_, t0, side="left"))
        lo = 0 if lookback_days is None else int(np.searchsorted(self.t_, t0 - lookback_days, side="left"))
        return slice(lo, hi)

    def _recent_rate(self, t0: float, horizon_days: float, rate_days: float = 365.0) -> float:
        """Expected study-area total for the horizon from the mean daily count over ``rate_days``."""
        s = self._before(t0, rate_days)
        inside = int(np.count_nonzero(self.cell_[s] >= 0))
        span = min(rate_days, max(t0 - float(self.t_[0]), 1.0))
        return inside / span * horizon_days

    def _scaled(self, score: NDArray[np.float64], t0: float, horizon_days: float) -> NDArray[np.float64]:
        """Rescale a relative score so the surface sums to the recent expected total."""
        total = float(score.sum())
        expected = self._recent_rate(t0, horizon_days)
        if total <= 0:
            return np.full(len(score), expected / len(score))
        return score * (expected / total)
