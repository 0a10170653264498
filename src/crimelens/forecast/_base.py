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

from datetime import UTC, datetime
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from crimelens.domain import IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea
from crimelens.forecast._params import check_fitted, check_positive
from crimelens.forecast._surface import RiskSurface

__all__ = ["HotspotModel", "days_since_epoch"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def days_since_epoch(when: datetime) -> float:
    """Float days since 1970-01-01 UTC (the time axis every model uses)."""
    return (when - _EPOCH).total_seconds() / 86400.0


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

    # shared -------------------------------------------------------------------------
    def fit(self, incidents: IncidentTable, y: None = None) -> Self:
        """Learn from ``incidents`` (an :class:`~crimelens.domain.IncidentTable` in metres)."""
        check_positive(self, "cell_m", unit="metres")
        if self.area is not None and not isinstance(self.area, StudyArea):
            raise InvalidParameterError(
                f"{type(self).__name__}(area={type(self.area).__name__}): expected a StudyArea or None"
            )
        self._validate()
        if len(incidents) == 0:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: got 0 incidents; expected at least one"
            )
        self.area_ = self.area if self.area is not None else StudyArea.bounding_box(incidents, self.cell_m)
        t = incidents.t_days(how="mid")
        xy = incidents.xy_m
        ok = np.isfinite(t) & np.all(np.isfinite(xy), axis=1)
        order = np.argsort(t[ok], kind="stable")
        self.t_ = np.ascontiguousarray(t[ok][order])
        self.xy_ = np.ascontiguousarray(xy[ok][order])
        self.cell_ = self.area_.cell_of(self.xy_)
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
        return {k: v for k, v in self.get_params().items()}

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
