"""Distance and time bands of a Knox table, under three documented conventions.

A Knox table classifies every pair of events by how far apart they are in
space (rows) and in time (columns). The user gives the upper edges of the
finite bands, e.g. ``100,200,300`` metres and ``7,14,21`` days; each
convention adds an open-ended last band ("more than 300 m", "more than 21
days") so that every pair lands in exactly one cell.

``nrc``
    Reproduces Ratcliffe's Near Repeat Calculator (v1.3) bit for bit. A band
    the Calculator labels **"a to b" is the half-open interval [a-1, b)**, as
    found by Steenbeek and Davies (NearRepeat R package vignette): the time
    column "8 to 14" days holds gaps of 7..13 whole days. Space gets an extra
    first row, "Same location", which holds exactly the pairs at distance
    **0**; the first finite row "1 to b1" is the open interval (0, b1). Time
    gaps are whole calendar days (the difference of the events' day numbers)
    and coordinates are rounded to float32 before differencing, as the
    Calculator does; edges must be whole numbers.
``standard``
    Half-open bands [0, b1), [b1, b2), ..., [bk, inf) in space and time, no
    separate same-location row, float64 coordinates and exact time gaps in
    (fractional) days. Labels say exactly what is counted, e.g. ``[100, 200) m``.
``pysal``
    Closed bands [0, b1], (b1, b2], ..., (bk, inf): "close" means distance
    <= delta and gap <= tau, the semantics of ``pointpats.spacetime.Knox`` (and
    of Knox 1964). With one edge on each axis this is PySAL's 2 x 2 table.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError

__all__ = ["CONVENTIONS", "Band", "BandSet", "Convention"]

Convention = Literal["nrc", "standard", "pysal"]
CONVENTIONS: tuple[str, ...] = get_args(Convention)

#: What each convention means, printed with every table it makes.
CONVENTION_NOTES: dict[str, str] = {
    "nrc": "Near Repeat Calculator semantics: a band 'a to b' is [a-1, b); 'Same location' is distance "
           "exactly 0; float32 coordinates; whole-day gaps",
    "standard": "half-open bands [a, b) in metres and days; float64 coordinates",
    "pysal": "closed bands: close means distance <= delta and gap <= tau (pointpats Knox)",
}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True, slots=True)
class Band:
    """One band: an interval of distance (metres) or time gap (days).

    ``lower``/``upper`` are the bounds, ``lower_closed``/``upper_closed`` say
    whether each bound belongs to the band; ``upper`` is ``inf`` for the
    open-ended last band. The same-location row of ``nrc`` is ``[0, 0]``.
    """

    label: str
    lower: float
    upper: float
    lower_closed: bool
    upper_closed: bool

    def contains(self, value: float) -> bool:
        lo_ok = value >= self.lower if self.lower_closed else value > self.lower
        hi_ok = value <= self.upper if self.upper_closed else value < self.upper
        return lo_ok and hi_ok

    @property
    def is_open_ended(self) -> bool:
        return math.isinf(self.upper)

    def interval(self) -> str:
        """The band as interval notation, e.g. ``[100, 200)``."""
        if self.lower == self.upper:
            return f"{{{_num(self.lower)}}}"
        left = "[" if self.lower_closed else "("
        right = "]" if self.upper_closed else ")"
        upper = "inf" if self.is_open_ended else _num(self.upper)
        return f"{left}{_num(self.lower)}, {upper}{right}"


@dataclass(frozen=True, slots=True)
class BandSet:
    """The bands on one axis (space or time) under one convention.

    Examples
    --------
    >>> s = BandSet.space([100, 200, 300], "nrc")
    >>> [b.label for b in s.bands]
    ['Same location', '1 to 100', '101 to 200', '201 to 300', 'More than 300']
    >>> [b.interval() for b in s.bands]
    ['{0}', '(0, 100)', '[100, 200)', '[200, 300)', '[300, inf)']
    >>> s.assign(np.array([0.0, 0.5, 100.0, 299.9, 300.0])).tolist()
    [0, 1, 2, 3, 4]
    >>> t = BandSet.time([1, 2, 3], "nrc")
    >>> [b.label for b in t.bands]
    ['0 to 1', '2 to 2', '3 to 3', 'More than 3']
    >>> BandSet.time([5], "pysal").assign(np.array([5.0, 5.5])).tolist()
    [0, 1]
    """

    axis: Literal["space", "time"]
    convention: str
    edges: tuple[float, ...]
    bands: tuple[Band, ...]
    has_zero_band: bool
    closed: bool  # finite bands closed on the right (pysal) instead of half-open

    @classmethod
    def space(cls, edges: Sequence[float], convention: str) -> BandSet:
        return cls._build("space", edges, convention)

    @classmethod
    def time(cls, edges: Sequence[float], convention: str) -> BandSet:
        return cls._build("time", edges, convention)

    @classmethod
    def _build(cls, axis: Literal["space", "time"], edges: Sequence[float], convention: str) -> BandSet:
        unit = "metres" if axis == "space" else "days"
        opt = "--space-bands" if axis == "space" else "--time-bands"
        if convention not in CONVENTIONS:
            raise InvalidParameterError(
                f"Knox convention: got {convention!r}; expected one of {list(CONVENTIONS)}"
            )
        e = tuple(float(v) for v in edges)
        if not e:
            raise InvalidParameterError(
                f"{opt}: got no band edges; expected increasing {unit}, e.g. 100,200,300"
            )
        if any(not math.isfinite(v) or v <= 0 for v in e) or any(b <= a for a, b in itertools.pairwise(e)):
            raise InvalidParameterError(
                f"{opt}: got {list(e)}; expected strictly increasing positive {unit}"
            )
        if convention == "nrc" and any(not v.is_integer() for v in e):
            raise InvalidParameterError(
                f"{opt}: got {list(e)} under convention 'nrc'; the Near Repeat Calculator only "
                f"has whole-number bands, expected whole {unit}"
            )
        suffix = " m" if axis == "space" else " d"
        bands: list[Band] = []
        has_zero = convention == "nrc" and axis == "space"
        if convention == "nrc":
            if has_zero:
                bands.append(Band("Same location", 0.0, 0.0, True, True))
            lo = 0.0
            for k, hi in enumerate(e):
                first = 1 if has_zero else 0
                start = first if k == 0 else int(lo) + 1
                label = f"{start} to {int(hi)}"
                bands.append(Band(label, lo, hi, not (has_zero and k == 0), False))
                lo = hi
            bands.append(Band(f"More than {int(e[-1])}", e[-1], math.inf, True, False))
        elif convention == "standard":
            lo = 0.0
            for hi in e:
                bands.append(Band(f"[{_num(lo)}, {_num(hi)}){suffix}", lo, hi, True, False))
                lo = hi
            bands.append(Band(f">= {_num(e[-1])}{suffix}", e[-1], math.inf, True, False))
        else:  # pysal
            lo = 0.0
            for k, hi in enumerate(e):
                left = "[" if k == 0 else "("
                bands.append(Band(f"{left}{_num(lo)}, {_num(hi)}]{suffix}", lo, hi, k == 0, True))
                lo = hi
            bands.append(Band(f"> {_num(e[-1])}{suffix}", e[-1], math.inf, False, False))
        return cls(axis, convention, e, tuple(bands), has_zero, convention == "pysal")

    # ------------------------------------------------------------------------------
    @property
    def n_bands(self) -> int:
        """All bands, the open-ended last one included."""
        return len(self.bands)

    @property
    def n_finite(self) -> int:
        """Bands before the open-ended one (the ones pairs are enumerated for)."""
        return len(self.bands) - 1

    @property
    def max_edge(self) -> float:
        return self.edges[-1]

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.bands]

    def assign(self, values: NDArray[np.floating] | NDArray[np.integer]) -> NDArray[np.int64]:
        """Band index of each value (a distance or a gap); the reference rule, vectorised."""
        v = np.asarray(values, dtype=np.float64)
        edges = np.asarray(self.edges, dtype=np.float64)
        idx = np.searchsorted(edges, v, side="left" if self.closed else "right").astype(np.int64)
        if self.has_zero_band:
            idx = np.where(v == 0.0, 0, idx + 1)
        return idx

    def to_dict(self) -> dict[str, object]:
        return {
            "axis": self.axis,
            "convention": self.convention,
            "unit": "m" if self.axis == "space" else "days",
            "edges": list(self.edges),
            "bands": [
                {"label": b.label, "interval": b.interval(), "lower": b.lower,
                 "upper": None if b.is_open_ended else b.upper}
                for b in self.bands
            ],
        }
