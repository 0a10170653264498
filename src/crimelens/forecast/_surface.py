"""The risk surface: a model's forecast for one window over one study area.

``intensity`` is the expected number of recorded incidents in each cell during
``window`` (a count, so Poisson log-likelihood and Brier scores have a meaning).
Ranking is by descending intensity; ties are broken by ascending cell index
(row-major from the south-west corner for square grids), and that order is the
one exports and ``flagged`` use. The scoring functions in
:mod:`crimelens.forecast._metrics` instead *split* tied cells pro rata by
default, which equals the average over every tie-breaking order and so does not
reward or punish a model for a lucky order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.domain import TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea

__all__ = ["RiskSurface", "output_hash", "rank_cells", "tie_at_cut"]


def output_hash(intensity: NDArray[np.float64], *, window: str, model: str, params: Mapping[str, Any],
                area: Mapping[str, Any]) -> str:
    """A forecast's output hash (the ``output_hash`` of its ``forecast.run`` ledger entry): SHA-256 over the
    expected counts as float64 in cell order (cell 0 first; little-endian, 8 bytes each), then the UTF-8
    bytes of ``json.dumps({"window", "model", "params", "area"}, sort_keys=True, default=str)`` with
    Python's default separators (``", "``, ``": "``) and ASCII escapes. ``window`` is
    ``"[START, END)"`` in ISO 8601 (UTC, ``+00:00``), ``model`` the class name, ``params`` every model
    parameter (the study area's as its definition) and ``area`` the study area's definition.

    Examples
    --------
    >>> output_hash(np.array([0.5, 0.0]), window="[2020-01-01T00:00:00+00:00, 2020-01-08T00:00:00+00:00)",
    ...             model="NaiveCounts", params={}, area={"kind": "square"})[:16]
    'e3fe015fdfb630f2'
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(intensity, dtype="<f8")).tobytes())
    h.update(json.dumps({"window": window, "model": model, "params": dict(params), "area": dict(area)},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()


def rank_cells(intensity: NDArray[np.float64]) -> NDArray[np.int64]:
    """Cell indices from highest to lowest intensity; ties by ascending index.

    Examples
    --------
    >>> rank_cells(np.array([1.0, 3.0, 1.0, 3.0])).tolist()
    [1, 3, 0, 2]
    """
    order: NDArray[np.int64] = np.lexsort((np.arange(len(intensity)), -np.asarray(intensity))).astype(np.int64)
    return order


def tie_at_cut(risk: NDArray[np.float64], flagged: NDArray[np.int64]) -> dict[str, float | int] | None:
    """The tie that the flagged cells (indices ``flagged``, the top ones) cut through, if any: the lowest
    flagged risk, and how many cells of that risk (to 1e-9 relative) are flagged and not."""
    if len(flagged) == 0 or len(flagged) >= len(risk):
        return None
    r = float(np.min(risk[flagged]))
    same = np.isclose(risk, r, rtol=1e-9, atol=0.0)
    n_in = int(same[flagged].sum())
    n_out = int(same.sum()) - n_in
    return None if n_out == 0 else {"risk": r, "flagged": n_in, "unflagged": n_out}


@dataclass(frozen=True, slots=True, eq=False)
class RiskSurface:
    """A frozen forecast: study area, per-cell expected counts, window and the model that made it.

    Examples
    --------
    >>> from crimelens.domain import Grid, TimeWindow
    >>> area = StudyArea.square(Grid(0.0, 0.0, 150.0, 2, 2))
    >>> s = RiskSurface(area, np.array([0.1, 0.4, 0.0, 0.4]), TimeWindow.starting("2018-01-01", days=7),
    ...                 "NaiveCounts", {"window_days": 730})
    >>> s.order.tolist(), s.flagged(0.5).tolist()
    ([1, 3, 0, 2], [False, True, False, True])
    """

    area: StudyArea
    intensity: NDArray[np.float64]
    window: TimeWindow
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    _order: NDArray[np.int64] | None = field(init=False, repr=False, default=None)
    _rank: NDArray[np.int64] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        values = np.array(self.intensity, dtype=np.float64).reshape(-1)
        if values.shape != (self.area.n_cells,):
            raise InvalidParameterError(
                f"RiskSurface({self.model}): intensity has {values.size} values; expected one per "
                f"cell of the study area ({self.area.n_cells})"
            )
        # a NaN or an infinity makes the sum non-finite: the per-cell check only runs then
        total = values.sum()
        if (not np.isfinite(total) and not np.all(np.isfinite(values))) or values.min() < 0:
            raise InvalidParameterError(
                f"RiskSurface({self.model}): intensity must be finite and >= 0 in every cell"
            )
        values.setflags(write=False)
        object.__setattr__(self, "intensity", values)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def order(self) -> NDArray[np.int64]:
        """Cell indices from highest to lowest intensity, ties by ascending index (read-only).

        Computed on first use (a sort of every cell), then kept.
        """
        if self._order is None:
            order = rank_cells(self.intensity)
            order.setflags(write=False)
            object.__setattr__(self, "_order", order)
        assert self._order is not None
        return self._order

    @property
    def rank(self) -> NDArray[np.int64]:
        """1-based rank of each cell in :attr:`order` (read-only)."""
        if self._rank is None:
            order = self.order
            rank = np.empty_like(order)
            rank[order] = np.arange(1, len(order) + 1)
            rank.setflags(write=False)
            object.__setattr__(self, "_rank", rank)
        assert self._rank is not None
        return self._rank

    @property
    def n_cells(self) -> int:
        return self.area.n_cells

    def n_flagged(self, coverage: float) -> int:
        """Cells in the top ``coverage`` fraction of the study area (at least one)."""
        if not 0 < coverage <= 1:
            raise InvalidParameterError(f"coverage={coverage}: expected a fraction in (0, 1]")
        return max(1, round(coverage * self.n_cells))

    def flagged(self, coverage: float) -> NDArray[np.bool_]:
        """Boolean per cell: in the top ``coverage`` of cells (ties by ascending cell index)."""
        out = np.zeros(self.n_cells, dtype=bool)
        out[self.order[: self.n_flagged(coverage)]] = True
        return out

    def tie_at_cut(self, coverage: float) -> dict[str, float | int] | None:
        """Where the top ``coverage`` ends inside a run of cells of equal risk, that tie: its risk and how
        many of its cells are flagged and not (which of them are flagged is then only the tie rule,
        ascending cell index). None when the cut falls between two different risks.

        >>> from crimelens.domain import Grid
        >>> area = StudyArea.square(Grid(0.0, 0.0, 100.0, 4, 1))
        >>> RiskSurface(area, np.array([2.0, 1.0, 1.0, 1.0]), TimeWindow.starting("2020-01-01", days=7),
        ...             "m").tie_at_cut(0.5)
        {'risk': 1.0, 'flagged': 1, 'unflagged': 2}
        """
        return tie_at_cut(self.intensity, self.order[: self.n_flagged(coverage)])

    def hash(self) -> str:
        """SHA-256 of the intensities, the window, the model and the area definition (:func:`output_hash`)."""
        return output_hash(self.intensity, window=str(self.window), model=self.model,
                           params=_jsonable(self.params), area=self.area.describe())

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": _jsonable(self.params),
            "window": [self.window.start.isoformat(), self.window.end.isoformat()],
            "area": self.area.describe(),
            "expected_total": float(self.intensity.sum()),
            "hash": self.hash(),
        }


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, StudyArea):
            out[k] = v.describe()
        elif v is None or isinstance(v, bool | int | float | str):
            out[k] = v
        elif isinstance(v, list | tuple):
            out[k] = [x if isinstance(x, bool | int | float | str) else str(x) for x in v]
        else:
            out[k] = str(v)
    return out
