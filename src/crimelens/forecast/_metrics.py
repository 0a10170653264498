"""Scores of a risk surface against what was then recorded: hit rate, PAI, PEI, proper scores.

For a coverage ``c`` the top ``k = max(1, round(c * n_cells))`` cells are flagged.

* hit rate = incidents in flagged cells / all incidents in the study area;
* PAI (Chainey et al. 2008) = hit rate / (flagged area / study area);
* PEI (Hunt 2016, as in the NIJ challenge) = incidents in flagged cells / the
  most incidents any ``k`` cells held (the hit rate of a perfect ranking).

Ties: with ``ties="split"`` (the default) a group of cells with equal risk
that straddles the cut counts pro rata, i.e. the expected score over every
order of the tied cells; with ``ties="index"`` the tied cells are taken by
ascending cell index (the order of :meth:`RiskSurface.flagged`). Both are
deterministic; ``split`` does not reward a model for a lucky order of ties,
which on Chicago weekly data moves single-week PAI by about ±0.5.

Area constraints (NIJ): the NIJ Real-Time Crime Forecasting Challenge (2016-17,
Portland) scored forecasts whose flagged cells covered 0.25 to 0.75 square miles
in total, on cells of 62,500 to 360,000 square feet. :func:`coverage_for_area`
turns a flagged area in km² into the coverage that flags as many whole cells as
fit in it (``floor(area / cell area)``, the mean cell area for H3), checking
those limits unless told not to; :func:`nij_coverages` gives the two limits.

Proper scores: the Poisson log-likelihood of the observed counts under the
forecast intensities (intensities floored at 1e-9), and the Brier score of
``P(at least one) = 1 - exp(-intensity)`` against whether a cell had any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from crimelens.errors import InvalidParameterError
from crimelens.forecast._area import StudyArea
from crimelens.forecast._surface import rank_cells

__all__ = [
    "DEFAULT_CURVE",
    "KM2_PER_SQ_MI",
    "NIJ_AREA_SQ_MI",
    "NIJ_CELL_SQ_FT",
    "brier_score",
    "coverage_for_area",
    "coverage_scores",
    "nij_coverages",
    "poisson_loglik",
]

#: Coverages of the curves: 0.5 % to 20 %.
DEFAULT_CURVE: tuple[float, ...] = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2)


#: One square mile in km² (exactly 1609.344² m²).
KM2_PER_SQ_MI = 1.609344**2
_M2_PER_SQ_FT = 0.3048**2
#: The NIJ challenge's limits on the total flagged area, in square miles.
NIJ_AREA_SQ_MI: tuple[float, float] = (0.25, 0.75)
#: The NIJ challenge's limits on one cell's area, in square feet.
NIJ_CELL_SQ_FT: tuple[float, float] = (62_500.0, 360_000.0)


def coverage_for_area(area: StudyArea, flagged_km2: float, *, nij_limits: bool = True) -> float:
    """The coverage that flags ``floor(flagged_km2 / cell area)`` cells of ``area``.

    With ``nij_limits`` (default) the flagged area must lie within the NIJ's
    0.25-0.75 sq mi and the cells within its 62,500-360,000 sq ft; otherwise
    :class:`InvalidParameterError` says which limit and by how much.

    Examples
    --------
    >>> from crimelens.domain import Grid
    >>> a = StudyArea.square(Grid(0.0, 0.0, 150.0, 100, 100))
    >>> c = coverage_for_area(a, 0.25 * KM2_PER_SQ_MI)   # 0.647 km² / 0.0225 km² = 28.8 cells
    >>> round(c * a.n_cells)
    28
    """
    km2 = float(flagged_km2)
    if not (km2 > 0 and np.isfinite(km2)):
        raise InvalidParameterError(f"flagged area {flagged_km2!r} km²: expected a finite number > 0")
    cell_m2 = float(np.mean(area.cell_area_m2))
    if nij_limits:
        lo, hi = NIJ_AREA_SQ_MI
        sq_mi = km2 / KM2_PER_SQ_MI
        if not lo - 1e-9 <= sq_mi <= hi + 1e-9:
            raise InvalidParameterError(
                f"flagged area {km2:g} km² ({sq_mi:.3f} sq mi): outside the NIJ limits of {lo}-{hi} sq mi "
                f"({lo * KM2_PER_SQ_MI:.4f}-{hi * KM2_PER_SQ_MI:.4f} km²); pass nij_limits=False (CLI: --no-nij-limits) to allow it"
            )
        clo, chi = NIJ_CELL_SQ_FT
        sq_ft = cell_m2 / _M2_PER_SQ_FT
        if not clo - 1e-6 <= sq_ft <= chi + 1e-6:
            raise InvalidParameterError(
                f"cell area {cell_m2:g} m² ({sq_ft:,.0f} sq ft): outside the NIJ limits of "
                f"{clo:,.0f}-{chi:,.0f} sq ft (square cells of {np.sqrt(clo * _M2_PER_SQ_FT):.1f}-"
                f"{np.sqrt(chi * _M2_PER_SQ_FT):.1f} m); pass nij_limits=False (CLI: --no-nij-limits) to allow it"
            )
    k = int(np.floor(km2 * 1e6 / cell_m2 + 1e-9))
    if k < 1:
        raise InvalidParameterError(
            f"flagged area {km2:g} km² is smaller than one cell ({cell_m2 / 1e6:g} km²); expected at least one"
        )
    if k > area.n_cells:
        raise InvalidParameterError(
            f"flagged area {km2:g} km² holds {k} cells; the study area has only {area.n_cells}"
        )
    return k / area.n_cells


def nij_coverages(area: StudyArea) -> dict[float, float]:
    """``{sq mi: coverage}`` at the NIJ's smallest and largest flagged areas (0.25 and 0.75 sq mi)."""
    return {sq_mi: coverage_for_area(area, sq_mi * KM2_PER_SQ_MI) for sq_mi in NIJ_AREA_SQ_MI}


def _n_flagged(coverage: float, n: int) -> int:
    if not 0 < coverage <= 1:
        raise InvalidParameterError(f"coverage={coverage}: expected a fraction in (0, 1]")
    return max(1, round(coverage * n))


def coverage_scores(intensity: NDArray[np.float64], observed: NDArray[np.float64],
                    coverages: Sequence[float], *, ties: Literal["split", "index"] = "split"
                    ) -> dict[str, NDArray[np.float64]]:
    """Hit rate, PAI and PEI at each coverage.

    Returns a dict of arrays (one value per coverage): ``hit_rate``, ``pai``,
    ``pei``, ``captured`` and ``n_flagged``. Scores are NaN when nothing was
    recorded.

    Examples
    --------
    >>> r = coverage_scores(np.array([3.0, 2.0, 2.0, 0.0]), np.array([1.0, 2.0, 0.0, 1.0]), [0.5])
    >>> float(r["captured"][0]), float(r["hit_rate"][0]), float(r["pai"][0]), float(r["pei"][0])
    (2.0, 0.5, 1.0, 0.6666666666666666)
    """
    lam = np.asarray(intensity, dtype=np.float64).reshape(-1)
    y = np.asarray(observed, dtype=np.float64).reshape(-1)
    if lam.shape != y.shape:
        raise InvalidParameterError(
            f"coverage_scores: intensity has {lam.size} cells, observed has {y.size}; expected equal"
        )
    if ties not in ("split", "index"):
        raise InvalidParameterError(f"coverage_scores(ties={ties!r}): expected 'split' or 'index'")
    n = len(lam)
    order = rank_cells(lam)
    s = lam[order]
    o = y[order]
    cum = np.concatenate([[0.0], np.cumsum(o)])
    best = np.concatenate([[0.0], np.cumsum(np.sort(y)[::-1])])
    total = float(cum[-1])
    if ties == "split":
        new_group = np.concatenate([[True], s[1:] != s[:-1]])
        gid = np.cumsum(new_group) - 1
        g_start = np.flatnonzero(new_group)
        g_end = np.concatenate([g_start[1:], [n]])
        g_sum = cum[g_end] - cum[g_start]
        g_size = (g_end - g_start).astype(np.float64)
    ks = np.array([_n_flagged(c, n) for c in coverages], dtype=np.int64)
    captured = np.empty(len(ks))
    for m, k in enumerate(ks):
        if ties == "index":
            captured[m] = cum[k]
        else:
            g = gid[k - 1]
            captured[m] = cum[g_start[g]] + (k - g_start[g]) * g_sum[g] / g_size[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = captured / total if total > 0 else np.full(len(ks), np.nan)
        pai = hit / (ks / n)
        pei = np.where(best[ks] > 0, captured / np.where(best[ks] > 0, best[ks], 1.0), np.nan)
    return {"hit_rate": hit, "pai": pai, "pei": pei, "captured": captured,
            "n_flagged": ks.astype(np.float64)}


def poisson_loglik(intensity: NDArray[np.float64], observed: NDArray[np.float64]) -> float:
    """Sum over cells of ``y log(lam) - lam - log(y!)`` (``lam`` floored at 1e-9).

    Examples
    --------
    >>> round(poisson_loglik(np.array([1.0]), np.array([1.0])), 6)
    -1.0
    """
    lam = np.maximum(np.asarray(intensity, dtype=np.float64), 1e-9)
    y = np.asarray(observed, dtype=np.float64)
    return float(np.sum(y * np.log(lam) - lam - gammaln(y + 1.0)))


def brier_score(intensity: NDArray[np.float64], observed: NDArray[np.float64]) -> float:
    """Mean over cells of ``(1 - exp(-lam) - [y > 0])²``.

    Examples
    --------
    >>> round(brier_score(np.array([0.0, 1e9]), np.array([0.0, 3.0])), 6)
    0.0
    """
    p = 1.0 - np.exp(-np.asarray(intensity, dtype=np.float64))
    hit = (np.asarray(observed) > 0).astype(np.float64)
    return float(np.mean((p - hit) ** 2))
