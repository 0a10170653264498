"""Place-based forecasts of recorded incidents, and honest backtests of them.

Estimator API (scikit-learn contract)
-------------------------------------
Every model is a :class:`HotspotModel`::

    model = TimeWeightedCounts(half_life_days=365, area=area)   # params stored as given
    surface = model.fit(incidents).predict(window)               # fit -> self; predict -> RiskSurface

* ``fit(incidents: IncidentTable) -> self`` validates the parameters (raising
  :class:`~crimelens.errors.InvalidParameterError`), learns state in attributes
  ending in ``_`` and returns ``self``. ``clone``, ``get_params`` and
  ``set_params`` work as in scikit-learn; stochastic models take ``random_state``.
  ``fit_events(t_days, xy_m)`` learns the same from bare event arrays (the
  backtest's path: events sorted and located once for every origin).
* ``predict(window: TimeWindow) -> RiskSurface``: the expected number of
  recorded incidents per cell of the study area during ``window``. Only
  incidents whose time window's middle lies before ``window.start`` are used,
  so fitting on everything and predicting a past window does not leak.
* ``area``: a :class:`StudyArea` (square cells of ``cell_m`` metres, masked by
  activity or a polygon, or H3 cells). With ``area=None`` the model uses every
  ``cell_m`` cell of the training incidents' bounding box.
* Fits are cheap enough to refit daily on ~5,000 cells (milliseconds for the
  count and kernel models, well under a second for grid ETAS, SEPP and the
  boosted model at a few thousand incidents).

Models: :class:`NaiveCounts`, :class:`TimeWeightedCounts`,
:class:`RetrospectiveHotspot`, :class:`ProspectiveHotspot`,
:class:`SpaceTimeKDE`, :class:`GridETAS`, :class:`SEPP`,
:class:`GradientBoostedCells`. :data:`MODELS` maps the CLI names to them and
:data:`DEFAULT_MODEL` is the one ``crimelens forecast run`` uses.

Scoring: :func:`coverage_scores` (hit rate, PAI, PEI, ties split pro rata),
:func:`poisson_loglik`, :func:`brier_score`; :func:`coverage_for_area` and
:func:`nij_coverages` turn a flagged area (the NIJ challenge's 0.25-0.75 sq mi)
into a coverage; :func:`rolling_origin` runs a
backtest and returns a frozen :class:`BacktestResult` with bootstrap intervals
and paired comparisons. See ``docs/forecast.md``.

We forecast *recorded incidents*: where police records will show incidents, a
product of both offending and of where and how incidents get recorded.
"""

from crimelens.forecast._area import StudyArea, h3_cells
from crimelens.forecast._backtest import BacktestResult, bootstrap_interval, rolling_origin
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._counts import NaiveCounts, TimeWeightedCounts
from crimelens.forecast._etas import GridETAS
from crimelens.forecast._gbm import GradientBoostedCells
from crimelens.forecast._kernels import ProspectiveHotspot, RetrospectiveHotspot, SpaceTimeKDE
from crimelens.forecast._metrics import (
    DEFAULT_CURVE,
    brier_score,
    coverage_for_area,
    coverage_scores,
    nij_coverages,
    poisson_loglik,
)
from crimelens.forecast._registry import (
    DATA_PARAMS,
    DEFAULT_MODEL,
    MODELS,
    make_model,
    reading_hours_in,
)
from crimelens.forecast._sepp import SEPP
from crimelens.forecast._surface import RiskSurface

__all__ = [
    "DATA_PARAMS",
    "DEFAULT_CURVE",
    "DEFAULT_MODEL",
    "MODELS",
    "SEPP",
    "BacktestResult",
    "GradientBoostedCells",
    "GridETAS",
    "HotspotModel",
    "NaiveCounts",
    "ProspectiveHotspot",
    "RetrospectiveHotspot",
    "RiskSurface",
    "SpaceTimeKDE",
    "StudyArea",
    "TimeWeightedCounts",
    "bootstrap_interval",
    "brier_score",
    "coverage_for_area",
    "coverage_scores",
    "h3_cells",
    "make_model",
    "nij_coverages",
    "poisson_loglik",
    "reading_hours_in",
    "rolling_origin",
]
