"""Grid-native forecasting models for the feedback simulator, and the bridge to surface models.

The simulator refits its model every simulated day, so it works on arrays of daily
counts per cell (shape ``(days, cells)``) rather than on an ``IncidentTable``. Three
small models follow that *count-model* contract (``fit_counts(counts, centres_m)``
then ``score()``):

* :class:`NaiveCounts` — recorded incidents per cell over the last ``window_days``.
* :class:`DecayKDE` — space-time kernel density: a Gaussian kernel of ``bandwidth_m``
  over cell centres and an exponential time decay with mean ``decay_days``.
* :class:`GridSEPP` — the grid self-exciting point process of Mohler et al. (2015,
  "Randomized controlled field trials of predictive policing", JASA), the model
  behind PredPol that Lum & Isaac (2016) ran on Oakland: per cell,
  ``lambda_c(t) = mu_c + sum_{t_i < t} theta * omega * exp(-omega (t - t_i))``, fitted
  by expectation-maximisation on the last ``window_days`` days (daily resolution:
  same-day events do not trigger each other).

:class:`SurfaceModelAdapter` runs any forecasting model with the engine's contract
(``fit(IncidentTable) -> self``, ``predict(TimeWindow) -> RiskSurface``) inside the
simulator: each count becomes one incident at its cell centre at midday, and the
surface is read back at the cell centres. That is the general path; the count models
are the fast path.

Failure modes: ``GridSEPP`` needs events in the window (an empty window scores 0
everywhere); EM may stop at a local optimum (we warm-start from the previous day's
fit); ``DecayKDE`` on irregular cells uses their centres, not their shapes.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Protocol, Self, runtime_checkable

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse
from scipy.spatial import cKDTree

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.domain._time import as_utc
from crimelens.errors import InputError, InvalidParameterError, NotFittedError

__all__ = [
    "CountModel",
    "DecayKDE",
    "GridSEPP",
    "NaiveCounts",
    "SurfaceModel",
    "SurfaceModelAdapter",
    "make_count_model",
    "model_names",
    "study_area_for",
]


@runtime_checkable
class CountModel(Protocol):
    """A model that learns from daily counts per cell and scores the next day."""

    def fit_counts(self, counts: NDArray[np.float64], centres_m: NDArray[np.float64] | None) -> Self: ...

    def score(self) -> NDArray[np.float64]: ...

    def get_params(self) -> dict[str, Any]: ...


@runtime_checkable
class SurfaceModel(Protocol):
    """The forecasting engine's contract (``crimelens.forecast``)."""

    def fit(self, incidents: IncidentTable) -> Any: ...

    def predict(self, window: TimeWindow) -> Any: ...


class _Base:
    _param_names: tuple[str, ...] = ()
    scores_: NDArray[np.float64]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "scores_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit_counts first")

    def score(self) -> NDArray[np.float64]:
        """Forecast intensity per cell for the day after the fitted window."""
        self._check_fitted()
        return self.scores_

    @staticmethod
    def _window(counts: NDArray[np.float64], window_days: int) -> NDArray[np.float64]:
        arr = np.asarray(counts, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(f"fit_counts: got counts of shape {arr.shape}; expected (days, cells)")
        return arr[-window_days:] if window_days < len(arr) else arr


class NaiveCounts(_Base):
    """Recorded incidents per cell over the last ``window_days`` days.

    Examples
    --------
    >>> m = NaiveCounts(window_days=2).fit_counts(np.array([[5., 0.], [1., 2.], [0., 1.]]), None)
    >>> m.score().tolist()
    [1.0, 3.0]
    """

    _param_names = ("window_days",)

    def __init__(self, *, window_days: int = 180) -> None:
        self.window_days = window_days

    def fit_counts(self, counts: NDArray[np.float64], centres_m: NDArray[np.float64] | None) -> Self:
        if int(self.window_days) < 1:
            raise InvalidParameterError(f"NaiveCounts(window_days={self.window_days}): must be >= 1")
        self.scores_ = self._window(counts, int(self.window_days)).sum(axis=0)
        return self


class DecayKDE(_Base):
    """Space-time KDE on cells: Gaussian in space, exponential decay in time."""

    _param_names = ("bandwidth_m", "decay_days", "window_days")
    _kernel_key: tuple[Any, ...]
    _kernel_cache: sparse.csr_matrix

    def __init__(self, *, bandwidth_m: float = 300.0, decay_days: float = 30.0, window_days: int = 180) -> None:
        self.bandwidth_m = bandwidth_m
        self.decay_days = decay_days
        self.window_days = window_days

    def _kernel(self, centres_m: NDArray[np.float64]) -> sparse.csr_matrix:
        key = (id(centres_m), centres_m.shape, float(self.bandwidth_m))
        if getattr(self, "_kernel_key", None) == key:
            cached: sparse.csr_matrix = self._kernel_cache
            return cached
        tree = cKDTree(centres_m)
        pairs = tree.sparse_distance_matrix(tree, 3.0 * float(self.bandwidth_m), output_type="coo_matrix")
        weights = np.exp(-0.5 * (pairs.data / float(self.bandwidth_m)) ** 2)
        n = len(centres_m)
        kern = sparse.coo_matrix((weights, (pairs.row, pairs.col)), shape=(n, n)).tocsr()  # self-pairs included
        self._kernel_key = key
        self._kernel_cache = kern
        return kern

    def fit_counts(self, counts: NDArray[np.float64], centres_m: NDArray[np.float64] | None) -> Self:
        if not (self.bandwidth_m > 0 and self.decay_days > 0 and int(self.window_days) >= 1):
            raise InvalidParameterError(
                f"{self!r}: bandwidth_m and decay_days must be > 0 and window_days >= 1"
            )
        if centres_m is None:
            raise InputError("DecayKDE.fit_counts: got no cell centres; expected an (n_cells, 2) array in metres")
        window = self._window(counts, int(self.window_days))
        age = np.arange(len(window), 0, -1, dtype=np.float64)  # 1 = yesterday
        weighted = np.exp(-age / float(self.decay_days)) @ window
        self.scores_ = np.asarray(self._kernel(np.asarray(centres_m, dtype=np.float64)) @ weighted, dtype=np.float64)
        return self


@numba.njit(cache=True)
def _sepp_em(
    ptr: NDArray[np.int64],
    day: NDArray[np.float64],
    count: NDArray[np.float64],
    n_days: int,
    mu: NDArray[np.float64],
    theta: float,
    omega: float,
    n_iter: int,
    tol: float,
) -> tuple[NDArray[np.float64], float, float, NDArray[np.float64]]:
    # events are (day, count) pairs grouped by cell: cell c owns entries ptr[c]:ptr[c+1], by day.
    # A(t) = sum_j n_j exp(-omega (t - t_j)) and B(t) = sum_j n_j (t - t_j) exp(-omega (t - t_j))
    # over earlier days; between events A <- e A and B <- e (B + dt A) with e = exp(-omega dt).
    n_cells = len(ptr) - 1
    total = count.sum()
    for _ in range(n_iter):
        background = np.zeros(n_cells)
        triggered = 0.0
        lag_mass = 0.0
        for c in range(n_cells):
            a = 0.0
            b = 0.0
            last = 0.0
            for j in range(ptr[c], ptr[c + 1]):
                dt = day[j] - last
                e = math.exp(-omega * dt)
                b = e * (b + dt * a)
                a = e * a
                last = day[j]
                n = count[j]
                trig = theta * omega * a
                lam = mu[c] + trig
                if lam > 0.0:
                    background[c] += n * mu[c] / lam
                    triggered += n * trig / lam
                    lag_mass += n * theta * omega * b / lam
                a += n
        new_mu = background / n_days
        new_theta = min(triggered / total, 0.99) if total > 0 else 0.0
        new_omega = triggered / lag_mass if lag_mass > 0 else omega
        new_omega = min(max(new_omega, 1e-3), 10.0)
        change = abs(new_theta - theta) + abs(new_omega - omega)
        mu = new_mu
        theta = new_theta
        omega = new_omega
        if change < tol:
            break
    excite = np.zeros(n_cells)
    for c in range(n_cells):
        a = 0.0
        for j in range(ptr[c], ptr[c + 1]):
            a += count[j] * math.exp(-omega * (n_days - day[j]))
        excite[c] = a
    return mu, theta, omega, mu + theta * omega * excite


class GridSEPP(_Base):
    """Grid self-exciting point process (Mohler et al. 2015), fitted by EM on daily counts."""

    _param_names = ("window_days", "n_iter", "tol", "theta_init", "omega_init", "warm_start")
    mu_: NDArray[np.float64]
    theta_: float
    omega_: float

    def __init__(
        self,
        *,
        window_days: int = 180,
        n_iter: int = 30,
        tol: float = 1e-4,
        theta_init: float = 0.5,
        omega_init: float = 0.1,
        warm_start: bool = True,
    ) -> None:
        self.window_days = window_days
        self.n_iter = n_iter
        self.tol = tol
        self.theta_init = theta_init
        self.omega_init = omega_init
        self.warm_start = warm_start

    def fit_counts(self, counts: NDArray[np.float64], centres_m: NDArray[np.float64] | None) -> Self:
        if int(self.window_days) < 1 or int(self.n_iter) < 1:
            raise InvalidParameterError(f"{self!r}: window_days and n_iter must be >= 1")
        if not (0 <= self.theta_init < 1 and self.omega_init > 0):
            raise InvalidParameterError(f"{self!r}: expected 0 <= theta_init < 1 and omega_init > 0")
        window = self._window(counts, int(self.window_days))
        n_days, n_cells = window.shape
        warm = self.warm_start and hasattr(self, "mu_") and len(self.mu_) == n_cells
        if warm:
            mu0 = np.maximum(self.mu_, 1e-9)
            theta0, omega0 = self.theta_, self.omega_
        else:
            mu0 = window.sum(axis=0) / max(n_days, 1) * (1.0 - float(self.theta_init)) + 1e-9
            theta0, omega0 = float(self.theta_init), float(self.omega_init)
        day_idx, cell_idx = np.nonzero(window)
        values = window[day_idx, cell_idx]
        by_cell = np.argsort(cell_idx, kind="stable")  # grouped by cell, days ascending
        ptr = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell_idx, minlength=n_cells), out=ptr[1:])
        mu, theta, omega, scores = _sepp_em(
            ptr, day_idx[by_cell].astype(np.float64), values[by_cell], n_days, mu0,
            float(theta0), float(omega0), int(self.n_iter), float(self.tol),
        )
        self.mu_ = mu
        self.theta_ = float(theta)
        self.omega_ = float(omega)
        self.scores_ = scores
        return self


class SurfaceModelAdapter(_Base):
    """Run an engine model (``fit(IncidentTable)``, ``predict(TimeWindow)``) on daily counts.

    Each count becomes an incident at its cell centre, same-day incidents spread evenly
    over the day; the
    predicted :class:`~crimelens.forecast.RiskSurface` is read at the cell centres
    (through its study area's ``cell_of``). Give the estimator a study area whose cells
    hold one scenario cell centre each (:func:`study_area_for`), or leave its ``area``
    unset and let it cover the incidents' bounding box.
    """

    _param_names = ("estimator", "origin", "crs", "window_days")

    def __init__(self, estimator: SurfaceModel, *, origin: str = "2020-01-01", crs: str | None = None,
                 window_days: int = 180) -> None:
        self.estimator = estimator
        self.origin = origin
        self.crs = crs
        self.window_days = window_days

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"estimator": type(self.estimator).__name__, "origin": self.origin,
                                  "crs": self.crs, "window_days": self.window_days}
        inner = getattr(self.estimator, "get_params", None)
        if callable(inner):
            params["estimator_params"] = {k: v for k, v in inner().items() if k != "area"}
        return params

    def fit_counts(self, counts: NDArray[np.float64], centres_m: NDArray[np.float64] | None) -> Self:
        if centres_m is None:
            raise InputError("SurfaceModelAdapter.fit_counts: got no cell centres; expected an (n_cells, 2) array")
        arr = np.asarray(counts, dtype=np.float64)
        start_day = max(0, len(arr) - int(self.window_days))
        window = np.rint(arr[start_day:]).astype(np.int64)
        origin = as_utc(self.origin)
        day_idx, cell_idx = np.nonzero(window)
        reps = window[day_idx, cell_idx]
        day_idx = np.repeat(day_idx, reps) + start_day
        cell_idx = np.repeat(cell_idx, reps)
        # same-day incidents are spread evenly over the day (no zero time gaps between them)
        order = np.lexsort((cell_idx, day_idx))
        day_idx, cell_idx = day_idx[order], cell_idx[order]
        first = np.searchsorted(day_idx, day_idx, side="left")
        per_day = np.bincount(day_idx - start_day, minlength=len(window))[day_idx - start_day]
        frac = (np.arange(len(day_idx)) - first + 1) / (per_day + 1)
        when = pd.Timestamp(origin) + pd.to_timedelta(day_idx + frac, unit="D")
        frame = pd.DataFrame(
            {
                "incident_id": np.char.add("sim-", np.arange(len(day_idx)).astype(str)),
                "offense": "other",
                "occurred_from": when,
                "occurred_to": when,
                "x_m": centres_m[cell_idx, 0],
                "y_m": centres_m[cell_idx, 1],
                "crs": self.crs,
                "source": "unknown",
            }
        )
        next_day = TimeWindow.starting(origin + timedelta(days=len(arr)), days=1)
        surface = self.estimator.fit(IncidentTable(frame)).predict(next_day)
        self.scores_ = surface_at(surface, np.asarray(centres_m, dtype=np.float64))
        return self


def surface_at(surface: Any, centres_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values of a forecast surface at points (0 outside its cells).

    Accepts a ``RiskSurface`` (``area.cell_of`` and ``intensity``) or any object with a
    :class:`~crimelens.domain.Grid` under ``grid`` and per-cell ``values``/``intensity``.
    """
    area = getattr(surface, "area", None)
    locate = getattr(area, "cell_of", None)
    if not callable(locate):
        grid = getattr(surface, "grid", None)
        locate = grid.cell_of if isinstance(grid, Grid) else None
    values = None
    for name in ("intensity", "values", "scores", "risk"):
        candidate = getattr(surface, name, None)
        if candidate is not None and not callable(candidate):
            values = np.asarray(candidate, dtype=np.float64).ravel()
            break
    if locate is None or values is None:
        raise InputError(
            f"surface of type {type(surface).__name__}: expected a RiskSurface (area.cell_of and intensity) "
            "or an object with a Grid under 'grid' and per-cell values"
        )
    cells = np.asarray(locate(centres_m), dtype=np.int64)
    if len(values) and cells.max(initial=-1) >= len(values):
        raise InputError(
            f"surface of type {type(surface).__name__}: has {len(values)} values but its cells go to {cells.max()}"
        )
    return np.where(cells >= 0, values[np.maximum(cells, 0)] if len(values) else 0.0, 0.0)


def study_area_for(centres_m: NDArray[np.float64] | None, *, crs: str | None = None, grid: Grid | None = None) -> Any:
    """A ``crimelens.forecast.StudyArea`` whose square cells each hold one scenario cell centre.

    With ``grid`` given (a grid scenario) its cells are used as they are; otherwise a grid
    fine enough that no two centres share a cell (half the smallest centre spacing).
    """
    from crimelens.forecast import StudyArea

    if grid is not None:
        return StudyArea.square(grid, rule="the feedback scenario's grid")
    if centres_m is None:
        raise InputError("study_area_for: got neither cell centres nor a grid")
    pts = np.asarray(centres_m, dtype=np.float64)
    if len(pts) > 1:
        dist, _ = cKDTree(pts).query(pts, k=2)
        cell_m = max(float(dist[:, 1].min()) / 2.0, 1.0)
    else:
        cell_m = 150.0
    g = Grid.covering((float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()),
                       float(pts[:, 1].max())), cell_m, crs=crs)
    mask = np.zeros(g.n_cells, dtype=bool)
    mask[g.cell_of(pts)] = True
    return StudyArea.square(g, mask=mask, rule="one cell per feedback-scenario cell centre")


_BUILTIN = {"naive": NaiveCounts, "kde": DecayKDE, "sepp": GridSEPP}


def model_names() -> list[str]:
    """Names :func:`make_count_model` accepts: the grid-native ones and ``forecast:<name>``."""
    from crimelens.forecast import MODELS

    return sorted(_BUILTIN) + [f"forecast:{n}" for n in sorted(MODELS)]


def make_count_model(name: str, *, centres_m: NDArray[np.float64] | None = None, grid: Grid | None = None,
                     window_days: int = 180, crs: str | None = None, origin: str = "2020-01-01") -> CountModel:
    """A count model by name.

    ``naive``, ``kde`` and ``sepp`` are the grid-native fast path; ``forecast:<name>``
    (e.g. ``forecast:etas``, ``forecast:kde``, ``forecast:sepp``) runs the forecasting
    engine's model through :class:`SurfaceModelAdapter` on a study area built from
    ``centres_m`` (or ``grid``).
    """
    key = name.strip().lower()
    if key in _BUILTIN:
        model: CountModel = _BUILTIN[key](window_days=window_days)
        return model
    if key.startswith("forecast:"):
        from crimelens.forecast import MODELS, make_model

        inner = key.split(":", 1)[1]
        if inner not in MODELS:
            raise InvalidParameterError(f"model {name!r}: unknown; expected one of {model_names()}")
        area = study_area_for(centres_m, crs=crs, grid=grid) if (centres_m is not None or grid is not None) else None
        estimator = make_model(inner, area=area)
        return SurfaceModelAdapter(estimator, origin=origin, crs=crs, window_days=window_days)
    raise InvalidParameterError(f"model {name!r}: unknown; expected one of {model_names()}")
