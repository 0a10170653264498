"""The Knox test for space-time clustering, with Monte-Carlo permutation inference.

Method
------
Knox (1964) counts the pairs of events that are close in both space and time
and compares the count with what is expected if *when* an event happened were
unrelated to *where* it happened. Near-repeat analysis (Townsley, Homel &
Chaseling 2003; Johnson & Bowers 2004; Ratcliffe's Near Repeat Calculator,
2009) extends the 2 x 2 table to bands of distance x bands of time gap and
tests every cell. Inference follows Mantel (1967) and the Calculator: the
observed times are randomly permuted across the observed locations ``n``
times (seeded), each permutation is tallied into the same table, and per cell

* expected = the mean of the permuted counts;
* Knox ratio = observed / expected (NaN where the expectation is 0);
* p = (k + 1) / (n + 1), with k the permutations whose count is >= the
  observed count (one-sided, over-representation).

A finite cell is *elevated* when its Knox ratio is above 1 and its p-value is below
the run's ``alpha`` (stored with the result; findings, tables, heat maps and
alerts all read it); the open-ended row and column are the complement of the
close pairs and are never marked (``OPEN_ENDED_NOTE``). With no permutations
(``n_permutations=0``) there is no permutation p-value: the expectation is the analytic one and the p-value used
is the Poisson tail ``p_poisson`` below, and every output says so.

Because a random permutation makes every ordered pair of distinct events
equally likely, the exact permutation expectation is also available in closed
form: ``E[cell] = rows_total x column_total / n_pairs``. It is reported as
``expected_analytic`` with a Poisson upper tail ``P(X >= observed)``
(``p_poisson``) as a fast approximation (Knox 1964). Note that PySAL's
``pointpats.spacetime.Knox.p_poisson`` is ``1 - F(observed)`` = P(X > observed),
one step further into the tail.

Scale
-----
Pairs are never enumerated as an N x N matrix: close pairs in space come from a
grid hash (see ``_kernels``), pairs per time band over all events from one pass
over the sorted times. Only the spatially close pairs are re-tallied per
permutation, in parallel compiled code, in chunks of at most
``max_pairs_per_chunk`` pairs and blocks of permutations of bounded memory.

Known failure modes
-------------------
* The test assumes the study area and period are fixed and that the population
  at risk does not move in space-time; a shift in where events are recorded
  during the period (a new housing estate, a change of reporting) shows up as
  "near repeats". Short periods and stable areas are safer.
* Event times that are uncertain windows (burglaries over a weekend) blur the
  time gaps; ``time_of`` chooses the window's start, middle or end.
* Many events at identical coordinates (geocoded to a block centroid or a
  police station) inflate the same-location row.
* Cells with tiny expectations give coarse p-values; the minimum attainable p is
  1 / (n + 1).
* The Poisson p-value ignores the dependence between pairs that share an event, so it
  can be too small (anti-conservative) where events pile up at a few places, and it is
  not limited by 1 / (n + 1): a run without permutations is a screen, not a test. On
  Cincinnati's 2016 burglaries it agrees with 999 permutations where both can resolve
  (0.0036 / 0.003, 0.0047 / 0.003, 0.17 / 0.159) and its findings are the same.
* Times known only to windows longer than the narrowest time band (police.uk's
  months) cannot show gaps in days; see ``_coarse``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray
from scipy.stats import poisson
from sklearn.base import BaseEstimator

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError, NotFittedError
from crimelens.nearrepeat import _kernels as K
from crimelens.nearrepeat._bands import CONVENTIONS, BandSet
from crimelens.nearrepeat._coarse import CoarseTimes

__all__ = ["DISTANCES", "DRAWN_SEED_BOUND", "OPEN_ENDED_NOTE", "KnoxResult", "KnoxTest", "event_times", "knox_test"]

DISTANCES: tuple[str, ...] = ("manhattan", "euclidean")
Progress = Callable[[int, int], None]

#: Which p-value decides what is elevated: the permutation one, or (no permutations) the Poisson tail.
P_SOURCES = ("permutation", "poisson")
POISSON_NOTE = ("No permutations were run: the expectation is analytic (row total x column total / pairs) and "
                "p-values are the Poisson approximation P(X >= observed), which ignores the dependence between "
                "pairs that share an event and can be too small where events pile up at a few places; run "
                "--permutations 999 to test.")
#: A drawn seed is below this (2**31): exact as a JavaScript number, in JSON and in the API's seed field.
#: A seed given by the caller may be any whole number below 2**63 (runs stored before drew 63-bit seeds).
DRAWN_SEED_BOUND = 2**31
MAX_PERMUTATIONS = 99_999  # the permutation counts are kept (bands x permutations); p-values to 1e-5
#: Memory budget for one block of permuted time vectors (bytes).
_BLOCK_BYTES = 32 * 1024 * 1024


def _ro(a: NDArray[Any]) -> NDArray[Any]:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


#: Why the open-ended cells carry no star or outline (tables, heat maps, CSV, dashboard).
OPEN_ENDED_NOTE = ("The open-ended cells (more than the largest distance or time band) are not marked: they hold "
                   "every pair beyond the finite bands, the complement of the close pairs, so their ratio and p follow "
                   "from the finite cells' and are not near-repeat evidence (findings and alerts ignore them too).")


@dataclass(frozen=True, eq=False)
class KnoxResult:
    """A computed Knox table. Arrays are ``(space bands, time bands)``, read-only.

    Rows are the space bands (``space.labels``), columns the time bands
    (``time.labels``); the last row and column are the open-ended bands.
    """

    convention: str
    distance: str
    space: BandSet
    time: BandSet
    time_resolution: str  # "day", "hour", "minute" (exact integer gaps) or "exact" (float days)
    n_events: int
    n_pairs: int
    n_close_pairs: int  # pairs inside the finite space bands (what permutations re-tally)
    observed: NDArray[np.int64]
    expected: NDArray[np.float64]
    expected_analytic: NDArray[np.float64]
    ratio: NDArray[np.float64]
    p_value: NDArray[np.float64]
    p_poisson: NDArray[np.float64]
    sim_min: NDArray[np.float64]
    sim_max: NDArray[np.float64]
    n_permutations: int
    seed: int | None
    elapsed_s: float
    simulated: NDArray[np.int64] | None = field(default=None, repr=False)
    #: significance level of the run: what findings, tables, heat maps and alerts call elevated
    alpha: float = 0.05
    #: records whose time windows are longer than the narrowest time band (None: none)
    coarse_times: CoarseTimes | None = None
    #: what the input's reader found that a reader of the table must know (e.g. times of day dropped)
    input_warnings: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        return (self.space.n_bands, self.time.n_bands)

    @property
    def p_source(self) -> str:
        """``"permutation"``, or ``"poisson"`` when no permutations ran."""
        return "permutation" if self.n_permutations > 0 else "poisson"

    @property
    def p_used(self) -> NDArray[np.float64]:
        """The p-values that decide what is elevated: ``p_value``, or ``p_poisson`` without permutations."""
        return self.p_value if self.n_permutations > 0 else self.p_poisson

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a reader must know before reading the table (coarse times, no permutations)."""
        out: list[str] = []
        if self.coarse_times is not None:
            out.append(self.coarse_times.warning())
        out.extend(self.input_warnings)
        if self.n_permutations == 0:
            out.append(POISSON_NOTE)
        elif 1.0 / (self.n_permutations + 1) >= self.alpha:
            out.append(f"With {self.n_permutations:,} permutations the smallest attainable p-value is "
                       f"{1.0 / (self.n_permutations + 1):.3g}, not below alpha {self.alpha:g}: no cell can be "
                       f"elevated. Run at least {math.floor(1.0 / self.alpha):,} permutations (e.g. 999).")
        return tuple(out)

    def significant(self, alpha: float | None = None) -> NDArray[np.bool_]:
        """Finite cells with a Knox ratio above 1 and a p-value (:attr:`p_used`) below ``alpha`` (default:
        the run's). The open-ended row and column ("more than X m", "more than N days") are never
        marked (:data:`OPEN_ENDED_NOTE`)."""
        level = self.alpha if alpha is None else alpha
        with np.errstate(invalid="ignore"):
            sig = np.asarray((self.ratio > 1.0) & (self.p_used < level), dtype=bool)
        sig[self.space.n_finite:, :] = False
        sig[:, self.time.n_finite:] = False
        return sig

    def findings(self, alpha: float | None = None) -> list[str]:
        """Plain-language reading of the table, in the manner of the NRC summary.

        For each finite distance band whose first time band is elevated (ratio > 1,
        p < ``alpha``, by default the run's), how far the run of consecutive elevated
        time bands reaches. The open-ended bands are not read: tiny ratios on huge
        counts are not a pattern. Without permutations the p-values are Poisson's and
        the findings say so; with coarse times the first line says they are not evidence.
        """
        level = self.alpha if alpha is None else alpha
        sig = self.significant(level)
        poisson_p = self.n_permutations == 0
        p_name = "p (Poisson)" if poisson_p else "p"
        lines: list[str] = []
        if self.coarse_times is not None and self.coarse_times.is_coarse:
            lines.append(
                f"Caution: {self.coarse_times.n_coarse:,} of {self.coarse_times.n_events:,} records are known only to "
                f"windows of typically {self.coarse_times.median_days:.3g} days, longer than the "
                f"{self.coarse_times.band_days:g}-day time band: gaps in days are not measured, and what follows is "
                "not near-repeat evidence."
            )
        for s in range(self.space.n_finite):
            run = 0
            while run < self.time.n_finite and sig[s, run]:
                run += 1
            if run == 0:
                continue
            sb, last = self.space.bands[s], self.time.bands[run - 1]
            gaps = f"[0, {last.upper:g}{']' if last.upper_closed else ')'} days"
            if sb.lower == sb.upper == 0.0:
                where = "At the same location as"
            else:
                where = f"At {sb.interval()} m from"
            if self.convention == "nrc":
                where += f" ('{sb.label}')"
                gaps += f" ('{self.time.bands[0].label.split(' to ')[0]} to {last.label.split(' to ')[-1]}')"
            lines.append(
                f"{where} an incident, pairs are over-represented for gaps of {gaps}; Knox ratio "
                f"{self.ratio[s, 0]:.2f} in the first time band ({p_name} = {self.p_used[s, 0]:.3g})."
            )
        if not any(sig[s, 0] for s in range(self.space.n_finite)):
            lines.append(f"No distance band is over-represented in its first time band at {p_name} < {level:g}.")
        if poisson_p:
            lines.append("No permutations were run: these p-values are the Poisson approximation (analytic "
                         "expectation), not a permutation test.")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as ``None``); :meth:`from_dict` reads it back."""

        def clean(a: NDArray[Any]) -> list[list[Any]]:
            out: list[list[Any]] = []
            for row in a.tolist():
                out.append([None if isinstance(v, float) and not math.isfinite(v) else v for v in row])
            return out

        return {
            "method": "knox",
            "convention": self.convention,
            "distance": self.distance,
            "time_resolution": self.time_resolution,
            "space_bands": self.space.to_dict(),
            "time_bands": self.time.to_dict(),
            "rows": self.space.labels,
            "columns": self.time.labels,
            "n_events": self.n_events,
            "n_pairs": self.n_pairs,
            "n_close_pairs": self.n_close_pairs,
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            # the seed as text too: JavaScript numbers lose whole numbers above 2**53 (seeds go up to 2**63 - 1)
            "seed_text": None if self.seed is None else str(self.seed),
            "alpha": self.alpha,
            "p_source": self.p_source,
            "p_value_rule": "(k+1)/(n+1), k = permutations with count >= observed" if self.n_permutations else
                            "none: no permutations (p_value is null); elevated cells, findings and alerts use "
                            "p_poisson = P(X >= observed), X ~ Poisson(expected_analytic)",
            "observed": clean(self.observed),
            "expected": clean(self.expected),
            "expected_analytic": clean(self.expected_analytic),
            "knox_ratio": clean(self.ratio),
            "p_value": clean(self.p_value),
            "p_poisson": clean(self.p_poisson),
            "sim_min": clean(self.sim_min),
            "sim_max": clean(self.sim_max),
            "findings": self.findings(),
            "warnings": list(self.warnings),
            "coarse_times": None if self.coarse_times is None else self.coarse_times.to_dict(),
            "input_warnings": list(self.input_warnings),
            "elapsed_s": round(self.elapsed_s, 4),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KnoxResult:
        conv = str(data["convention"])
        space = BandSet.space(data["space_bands"]["edges"], conv)
        tim = BandSet.time(data["time_bands"]["edges"], conv)

        def arr(name: str, dtype: type) -> NDArray[Any]:
            raw = [[np.nan if v is None else v for v in row] for row in data[name]]
            return _ro(np.asarray(raw, dtype=dtype))

        return cls(
            convention=conv, distance=str(data["distance"]), space=space, time=tim,
            time_resolution=str(data["time_resolution"]), n_events=int(data["n_events"]),
            n_pairs=int(data["n_pairs"]), n_close_pairs=int(data["n_close_pairs"]),
            observed=arr("observed", np.int64), expected=arr("expected", np.float64),
            expected_analytic=arr("expected_analytic", np.float64),
            ratio=arr("knox_ratio", np.float64), p_value=arr("p_value", np.float64),
            p_poisson=arr("p_poisson", np.float64), sim_min=arr("sim_min", np.float64),
            sim_max=arr("sim_max", np.float64), n_permutations=int(data["n_permutations"]),
            seed=None if data.get("seed") is None else int(data["seed"]),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
            alpha=float(data.get("alpha", 0.05)),  # runs stored before the alpha was kept: the old default
            coarse_times=None if not data.get("coarse_times") else CoarseTimes.from_dict(data["coarse_times"]),
            input_warnings=tuple(str(w) for w in data.get("input_warnings") or ()),
        )


def event_times(
    table: IncidentTable, *, time_of: Literal["from", "mid", "to"] = "mid",
    origin: str = "1970-01-01T00:00:00Z",
) -> NDArray[np.float64]:
    """Event times in days since ``origin`` (UTC) from each incident's window."""
    return table.t_days(origin, how=time_of)


_RESOLUTION = {1: "day", 24: "hour", 1440: "minute"}


def _integer_units(t: NDArray[np.float64], max_edge_days: float) -> int | None:
    """Ticks per day (1, 24 or 1440) in which every time is a whole number, or None.

    Times from timestamps are float days, so whole minutes are recognised within
    1e-6 of a tick. Gaps are then exact integers (a gap of exactly 7 days lands in
    [7, 14), never in [0, 7) by rounding) and band by a small lookup table.
    """
    span = float(t.max() - t.min())
    for units in (1, 24, 1440):
        if span * units >= 2**31 - 2 or max_edge_days * units > 4_000_000:
            return None
        scaled = t * units
        if units == 1:
            if bool(np.all(scaled == np.floor(scaled))):
                return units
        elif bool(np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6)):
            return units
    return None


def _grid_keys(xy: NDArray[np.float64], cell: float) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Sort order and sorted row-major cell keys; columns padded so neighbours never wrap."""
    x0 = float(xy[:, 0].min())
    y0 = float(xy[:, 1].min())
    cx = np.floor((xy[:, 0] - x0) / cell).astype(np.int64) + 1
    cy = np.floor((xy[:, 1] - y0) / cell).astype(np.int64) + 1
    width = int(cx.max()) + 2
    key = cy * width + cx
    order = np.argsort(key, kind="stable")
    return order, key[order], width


def knox_test(
    xy: NDArray[np.floating],
    t_days: NDArray[np.floating],
    *,
    space_bands: Sequence[float] = (100.0, 200.0, 300.0),
    time_bands: Sequence[float] = (7.0, 14.0, 21.0),
    distance: str = "manhattan",
    convention: str = "standard",
    n_permutations: int = 999,
    seed: int | None = None,
    max_pairs_per_chunk: int = 20_000_000,
    keep_simulations: bool = True,
    progress: Progress | None = None,
    alpha: float = 0.05,
) -> KnoxResult:
    """Knox table with permutation inference for events at ``xy`` (metres) and ``t_days``.

    Parameters
    ----------
    xy : (n, 2) array of projected coordinates in metres.
    t_days : (n,) array of event times in days (any origin).
    space_bands, time_bands : upper edges of the finite bands (metres, days).
    distance : ``"manhattan"`` or ``"euclidean"``.
    convention : ``"nrc"``, ``"standard"`` or ``"pysal"`` (see :mod:`._bands`).
    n_permutations : Monte-Carlo permutations of times across locations (0: no test; the analytic
        expectation and the Poisson p-value ``p_poisson`` decide what is elevated, and the result says so).
    seed : seed of the permutations (SplitMix64 Fisher-Yates, see ``_kernels``), a whole number in
        ``[0, 2**63)``; ``None`` draws one in ``[0, 2**31)`` (:data:`DRAWN_SEED_BOUND`: exact as a
        JavaScript number and in every API) and records it in the result.
    alpha : significance level kept with the result: what its findings, heat map and alerts call elevated.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [50.0, 0.0], [5000.0, 0.0], [5040.0, 0.0]])
    >>> r = knox_test(xy, np.array([0.0, 2.0, 30.0, 31.0]), space_bands=[100],
    ...               time_bands=[7], n_permutations=99, seed=1)
    >>> r.observed.tolist()
    [[2, 0], [0, 4]]
    >>> float(r.expected_analytic[0, 0])  # 2 space-close x 2 time-close / 6 pairs
    0.6666666666666666
    """
    t0 = time.perf_counter()
    if distance not in DISTANCES:
        raise InvalidParameterError(f"--distance: got {distance!r}; expected one of {list(DISTANCES)}")
    if convention not in CONVENTIONS:
        raise InvalidParameterError(
            f"--convention: got {convention!r}; expected one of {list(CONVENTIONS)}"
        )
    if (isinstance(n_permutations, bool) or not isinstance(n_permutations, int | np.integer)
            or not 0 <= n_permutations <= MAX_PERMUTATIONS):
        raise InvalidParameterError(
            f"--permutations: got {n_permutations!r}; expected a whole number from 0 to {MAX_PERMUTATIONS:,} "
            "(e.g. 999; 99,999 resolves p-values to 0.00001)"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, float | int) or not 0.0 < float(alpha) < 1.0:
        raise InvalidParameterError(f"--alpha {alpha}: expected a probability in (0, 1)")
    sb = BandSet.space(space_bands, convention)
    tb = BandSet.time(time_bands, convention)
    xy64: NDArray[np.float64] = np.asarray(xy, dtype=np.float64)
    t = np.asarray(t_days, dtype=np.float64).ravel()
    if xy64.ndim != 2 or xy64.shape[1] != 2 or xy64.shape[0] != t.shape[0]:
        raise InvalidParameterError(
            f"knox_test: got xy of shape {xy64.shape} and t of shape {t.shape}; expected (n, 2) and (n,)"
        )
    n = int(t.shape[0])
    if n < 2:
        raise InvalidParameterError(f"knox_test: got {n} event(s); expected at least 2")
    if not (np.isfinite(xy64).all() and np.isfinite(t).all()):
        raise InvalidParameterError("knox_test: coordinates and times must all be finite")
    if seed is None:  # drawn below 2**31: exact in every channel (JSON read by JavaScript, the API, the store)
        seed = int(np.random.SeedSequence().entropy % DRAWN_SEED_BOUND)  # type: ignore[operator]
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or not 0 <= int(seed) < 2**63:
        raise InvalidParameterError(f"--seed: got {seed!r}; expected a whole number in [0, 2**63)")
    seed = int(seed)

    # --- time: whole days, hours or minutes become integers banded by a lookup table ------------
    tt = np.floor(t) if convention == "nrc" else t
    units = _integer_units(tt, tb.max_edge)
    integral = units is not None
    resolution = _RESOLUTION.get(units or 0, "exact")

    # --- space: sort by grid key ------------------------------------------------------------
    cell = sb.max_edge * (1.0 + 1e-6) + 1.0
    order, key, width = _grid_keys(xy64, cell)
    coords = xy64[order]
    if convention == "nrc":  # the Calculator's single precision
        xs = np.ascontiguousarray(coords[:, 0].astype(np.float32))
        ys = np.ascontiguousarray(coords[:, 1].astype(np.float32))
    else:
        xs = np.ascontiguousarray(coords[:, 0])
        ys = np.ascontiguousarray(coords[:, 1])
    ts = tt[order]
    metric = K.MANHATTAN if distance == "manhattan" else K.EUCLIDEAN
    sedges = np.asarray(sb.edges, dtype=np.float64)
    tedges = np.asarray(tb.edges, dtype=np.float64)
    ns, nt = sb.n_finite, tb.n_finite
    R, C = sb.n_bands, tb.n_bands

    per_event = K.count_pairs(xs, ys, key, width, metric, sedges, sb.closed, sb.has_zero_band)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_event, out=offsets[1:])
    n_close = int(offsets[-1])

    if units is not None:
        ticks = np.rint(ts * units)
        tvals: NDArray[Any] = np.ascontiguousarray((ticks - ticks.min()).astype(np.int32))
        lut_len = math.floor(tb.max_edge * units) + 1
        lut_wide = tb.assign(np.arange(lut_len) / units)
        lut = np.ascontiguousarray(lut_wide.astype(np.int8 if nt < 120 else np.int32))
        # the first gap (in ticks) of each later band: totals use exactly the lookup's rule
        total_edges = np.searchsorted(lut_wide, np.arange(1, nt + 1), side="left").astype(np.float64)
    else:
        tvals = np.ascontiguousarray(ts)
        lut = np.zeros(0, dtype=np.int8)
        total_edges = tedges

    # --- chunks of events whose pairs fit the budget ---------------------------------------------
    budget = max(1, int(max_pairs_per_chunk))
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        stop = int(np.searchsorted(offsets, offsets[start] + budget, side="right")) - 1
        bounds.append(max(stop, start + 1) if stop <= n else n)
        bounds[-1] = min(bounds[-1], n)

    block = max(1, min(max(n_permutations, 1), _BLOCK_BYTES // (tvals.itemsize * n)))
    n_chunks = len(bounds) - 1
    total_units = n_chunks * (n_permutations + 1)
    done = 0
    obs_f = np.zeros((1, ns, nt), dtype=np.int64)
    sims_f = np.zeros((n_permutations, ns, nt), dtype=np.int64)
    row_tot = np.zeros(R, dtype=np.int64)

    for c in range(n_chunks):
        p0, p1 = bounds[c], bounds[c + 1]
        m = int(offsets[p1] - offsets[p0])
        pi = np.empty(m, dtype=np.int32)
        pj = np.empty(m, dtype=np.int32)
        pb = np.empty(m, dtype=np.int8 if ns < 127 else np.int32)
        if m:
            K.fill_pairs(xs, ys, key, width, metric, sedges, sb.closed, sb.has_zero_band,
                         p0, p1, offsets, pi, pj, pb)
        row_tot[:ns] += np.bincount(pb, minlength=ns)[:ns]
        _tally(pi, pj, pb, tvals[None, :], lut, tedges, tb.closed, nt, integral, obs_f)
        done += 1
        if progress is not None:
            progress(done, total_units)
        tblock_all = np.empty((block, n), dtype=tvals.dtype)
        for b0 in range(0, n_permutations, block):  # permutation k is the same in every chunk
            b1 = min(n_permutations, b0 + block)
            tblock = tblock_all[: b1 - b0]
            K.permute_block(tvals, np.uint64(seed), b0, tblock)
            if m:
                _tally(pi, pj, pb, tblock, lut, tedges, tb.closed, nt, integral, sims_f[b0:b1])
            done += b1 - b0
            if progress is not None:
                progress(done, total_units)
        del pi, pj, pb

    n_pairs = n * (n - 1) // 2
    row_tot[ns] = n_pairs - int(row_tot[:ns].sum())
    col_tot = np.zeros(C, dtype=np.int64)
    col_tot[:nt] = K.time_totals(np.sort(tvals).astype(np.float64), total_edges,
                                 tb.closed and not integral)
    col_tot[nt] = n_pairs - int(col_tot[:nt].sum())

    def full(finite: NDArray[np.int64]) -> NDArray[np.int64]:
        k = finite.shape[0]
        out = np.zeros((k, R, C), dtype=np.int64)
        out[:, :ns, :nt] = finite
        out[:, :ns, nt] = row_tot[:ns] - finite.sum(axis=2)
        out[:, ns, :nt] = col_tot[:nt] - finite.sum(axis=1)
        out[:, ns, nt] = n_pairs - out[:, :, :].sum(axis=(1, 2))
        return out

    observed = full(obs_f)[0]
    expected_analytic = np.outer(row_tot, col_tot).astype(np.float64) / float(n_pairs)
    if n_permutations:
        sims = full(sims_f)
        expected = sims.mean(axis=0)
        k = (sims >= observed[None, :, :]).sum(axis=0)
        p_value = (k + 1.0) / (n_permutations + 1.0)
        smin = sims.min(axis=0).astype(np.float64)
        smax = sims.max(axis=0).astype(np.float64)
    else:
        sims = None
        expected = expected_analytic.copy()
        p_value = np.full((R, C), np.nan)
        smin = np.full((R, C), np.nan)
        smax = np.full((R, C), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / np.where(expected > 0, expected, 1.0), np.nan)
    p_pois = poisson.sf(observed - 1, expected_analytic)
    p_pois = np.where(observed <= 0, 1.0, p_pois)

    return KnoxResult(
        convention=convention, distance=distance, space=sb, time=tb, time_resolution=resolution,
        n_events=n, n_pairs=n_pairs, n_close_pairs=n_close, observed=_ro(observed),
        expected=_ro(expected), expected_analytic=_ro(expected_analytic), ratio=_ro(ratio),
        p_value=_ro(p_value), p_poisson=_ro(np.asarray(p_pois, dtype=np.float64)),
        sim_min=_ro(smin), sim_max=_ro(smax), n_permutations=int(n_permutations), seed=seed,
        elapsed_s=time.perf_counter() - t0,
        simulated=_ro(sims) if (sims is not None and keep_simulations) else None, alpha=float(alpha),
    )


def _tally(pi: NDArray[np.int32], pj: NDArray[np.int32], pb: NDArray[Any], tblock: NDArray[Any],
           lut: NDArray[Any], tedges: NDArray[np.float64], closed: bool, nt: int,
           integral: bool, out: NDArray[np.int64]) -> None:
    tb = np.ascontiguousarray(tblock)
    if integral:
        K.tally_int(pi, pj, pb, tb, lut, nt, out)
    else:
        K.tally_float(pi, pj, pb, tb, tedges, closed, out)


class KnoxTest(BaseEstimator):  # type: ignore[misc]
    """Estimator form of :func:`knox_test`: ``fit(incidents)`` computes ``result_``.

    Parameters are stored as given and checked in :meth:`fit`.

    Examples
    --------
    >>> from crimelens.domain import Incident, IncidentTable
    >>> rows = [Incident(f"i{k}", "burglary", f"2020-01-{1 + k:02d}T12:00:00Z",
    ...                  f"2020-01-{1 + k:02d}T12:00:00Z", 100.0 * k, 0.0) for k in range(5)]
    >>> kt = KnoxTest(space_bands=[150], time_bands=[2], n_permutations=9, random_state=0)
    >>> kt.fit(IncidentTable.from_incidents(rows)).result_.observed.tolist()
    [[4, 0], [0, 6]]
    """

    def __init__(
        self,
        *,
        space_bands: Sequence[float] = (100.0, 200.0, 300.0),
        time_bands: Sequence[float] = (7.0, 14.0, 21.0),
        distance: str = "manhattan",
        convention: str = "standard",
        n_permutations: int = 999,
        random_state: int | None = None,
        time_of: str = "mid",
        max_pairs_per_chunk: int = 20_000_000,
        alpha: float = 0.05,
    ) -> None:
        self.space_bands = space_bands
        self.time_bands = time_bands
        self.distance = distance
        self.convention = convention
        self.n_permutations = n_permutations
        self.random_state = random_state
        self.time_of = time_of
        self.max_pairs_per_chunk = max_pairs_per_chunk
        self.alpha = alpha

    def fit(self, incidents: IncidentTable, y: None = None, *, progress: Progress | None = None) -> Self:
        if self.time_of not in ("from", "mid", "to"):
            raise InvalidParameterError(
                f"KnoxTest(time_of={self.time_of!r}): expected 'from', 'mid' or 'to'"
            )
        t = event_times(incidents, time_of=self.time_of)  # type: ignore[arg-type]
        self.result_ = knox_test(
            incidents.xy_m, t, space_bands=self.space_bands, time_bands=self.time_bands,
            distance=self.distance, convention=self.convention,
            n_permutations=self.n_permutations, seed=self.random_state,
            max_pairs_per_chunk=self.max_pairs_per_chunk, progress=progress, alpha=self.alpha,
        )
        self.n_events_ = self.result_.n_events
        return self

    @property
    def result(self) -> KnoxResult:
        if not hasattr(self, "result_"):
            raise NotFittedError("KnoxTest is not fitted; call fit(incidents) first")
        return self.result_
