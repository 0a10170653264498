"""Near-repeat alerts: where and for how long risk is elevated after a new incident.

An alert reads a measured Knox surface (a :class:`KnoxResult` for one offense
in one city) and keeps its *elevated* cells: finite distance band x finite
time band with a Knox ratio above 1 and a p-value below ``alpha`` (by default
the surface's own, the one its findings used). The p-value is the permutation
one, or, for a surface computed without permutations, the Poisson
approximation; the alert says which (``p_source``). For a new incident it lists those bands, then the grid cells
around the incident that fall inside each elevated distance band, with the
dates for which the elevated time bands apply (Johnson & Bowers 2004;
Ratcliffe's Near Repeat Calculator "near repeat" advice; Bowers, Johnson &
Pease 2004 for the prospective use).

Rules (documented in docs/nearrepeat.md):

* A cell belongs to a distance band by the distance (the surface's metric) from
  the incident to the cell centre; the incident's own cell counts as distance 0.
  It holds the incident's address and its nearest neighbours, so it alerts when
  either band does: the one distance 0 falls in (the "same location" band of the
  ``nrc`` convention) or the one just above 0 (``nrc``'s first band, "1 to 100",
  which holds the neighbours a few metres away).
* Days are counted from the incident's day (whole-day surfaces) or time
  (exact surfaces); a band [a, b) days means "from day a to day b - 1 after".
* The open-ended bands ("more than ...") are never local and never alert.
* Coarse times: a surface measured on records known only to windows too coarse
  for its time bands (police.uk months; the rule is in ``_coarse``), or an
  incident whose own window is, cannot say when risk starts and ends; the
  alert is refused unless ``allow_coarse_times``, and then carries a warning
  and gives its dates at the data's resolution, never invented hours: months
  (``2022-12``) when the incident or the surface's records are known only to
  their month, else the dates its window and the band can reach.

Failure modes: a surface measured over a long period or a large mixed area
averages very different places; an alert says that *recorded incidents* of
this kind have clustered like this before, not that one will happen. It is a
prompt for a person to decide on (e.g. a crime-prevention letter), never an
automatic action.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from crimelens.domain import Grid
from crimelens.domain._time import as_utc, in_zone
from crimelens.errors import InvalidParameterError
from crimelens.nearrepeat._bands import Band
from crimelens.nearrepeat._coarse import (
    TOLERANCE_DAYS,
    is_coarse_window,
    is_month_window,
    narrowest_band_days,
)
from crimelens.nearrepeat._knox import KnoxResult

__all__ = ["AlertCell", "ElevatedBand", "NearRepeatAlert", "near_repeat_alert"]


@dataclass(frozen=True, slots=True)
class ElevatedBand:
    """One elevated cell of the Knox surface: (distance band, time band, ratio)."""

    space_label: str
    space_interval: str
    distance_from_m: float
    distance_to_m: float
    time_label: str
    time_interval: str
    days_from: float
    days_to: float
    knox_ratio: float
    p_value: float  # the alert's p_source: permutation, or Poisson for a surface without permutations
    observed: int
    expected: float
    starts: str  # first day (or time) the band applies, ISO
    ends: str  # last day it applies (whole days, inclusive) or end time (exact, exclusive)


@dataclass(frozen=True, slots=True)
class AlertCell:
    """A grid cell around the incident inside an elevated distance band."""

    cell_id: str
    x_m: float
    y_m: float
    distance_m: float
    space_label: str
    starts: str
    ends: str
    max_knox_ratio: float
    time_bands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NearRepeatAlert:
    """The result of :func:`near_repeat_alert`; ``to_dict`` is JSON-ready."""

    incident_id: str
    x_m: float
    y_m: float
    occurred: str
    convention: str
    distance: str
    alpha: float
    cell_m: float
    elevated: tuple[ElevatedBand, ...]
    cells: tuple[AlertCell, ...]
    #: which p-value decided: "permutation", or "poisson" (the surface ran no permutations)
    p_source: str = "permutation"
    #: the alpha the surface's own findings used
    surface_alpha: float = 0.05
    warnings: tuple[str, ...] = ()
    #: what ``starts`` and ``ends`` are: "time" (ISO UTC times), "day" (dates) or "month" (``YYYY-MM``)
    resolution: str = "time"

    @property
    def is_elevated(self) -> bool:
        return bool(self.elevated)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["elevated"] = [asdict(e) for e in self.elevated]
        out["cells"] = [asdict(c) for c in self.cells]
        out["warnings"] = list(self.warnings)
        out["n_cells"] = len(self.cells)
        return out


def _day_span(band: Band) -> tuple[int, int] | None:
    """Whole-day gaps inside ``band``: (first, last), or None when it holds none."""
    top = band.upper if not band.is_open_ended else band.lower + 1
    gaps = [g for g in range(math.floor(band.lower), math.ceil(top) + 1) if band.contains(float(g))]
    return (gaps[0], gaps[-1]) if gaps else None


def near_repeat_alert(
    surface: KnoxResult,
    *,
    incident_id: str,
    x_m: float,
    y_m: float,
    occurred: datetime | str,
    alpha: float | None = None,
    cell_m: float = 50.0,
    zone: str | None = None,
    window_days: float = 0.0,
    allow_coarse_times: bool = False,
    window: tuple[datetime | str, datetime | str] | None = None,
) -> NearRepeatAlert:
    """Elevated bands and the cells around one incident, from a measured Knox surface.

    On a whole-day surface (``nrc``, or times that are whole days) ``starts`` and ``ends`` are
    dates: the incident's own day on the calendar of ``zone`` (the dataset's; None: UTC) plus
    the band's gaps, as the surface counted them. On an exact surface they are UTC times.

    ``alpha`` defaults to the surface's own (``surface.alpha``). ``window_days`` is the length of
    the incident's own time window (``occurred_from`` to ``occurred_to``). A surface whose records'
    windows were too coarse for its time bands, or an incident whose window is longer than the
    narrowest time band, is refused (:class:`InvalidParameterError`) unless ``allow_coarse_times``;
    then the alert carries a warning, and its dates are at the data's resolution (``resolution``):
    months ``YYYY-MM`` when the incident's window (``window``: its ``occurred_from`` and
    ``occurred_to``; default ``occurred`` plus ``window_days``) is a calendar month or the surface's
    coarse records are months, else dates that cover the whole window plus the band; never the hours
    of one invented point inside the window.

    Examples
    --------
    >>> from crimelens.nearrepeat import knox_test
    >>> rng = np.random.default_rng(0)
    >>> base = rng.uniform(0, 5000, (200, 2)); t0 = rng.uniform(0, 365, 200)
    >>> xy = np.vstack([base, base + rng.normal(0, 30, (200, 2))])
    >>> t = np.concatenate([t0, t0 + rng.uniform(0, 5, 200)])
    >>> s = knox_test(xy, t, space_bands=[100, 200], time_bands=[7, 14], n_permutations=99, seed=0)
    >>> a = near_repeat_alert(s, incident_id="n1", x_m=1000.0, y_m=1000.0,
    ...                       occurred="2024-03-01T10:00:00Z")
    >>> [(e.space_label, e.time_label) for e in a.elevated]
    [('[0, 100) m', '[0, 7) d')]
    >>> a.cells[0].distance_m, a.cells[0].starts
    (0.0, '2024-03-01T10:00:00+00:00')
    """
    level = surface.alpha if alpha is None else alpha
    if not (0.0 < level < 1.0):
        raise InvalidParameterError(f"alert alpha: got {level!r}; expected 0 < alpha < 1")
    if not (cell_m > 0 and math.isfinite(cell_m)):
        raise InvalidParameterError(f"alert cell_m: got {cell_m!r}; expected a positive size in metres")
    when = as_utc(occurred)
    warnings = list(surface.warnings)
    coarse = surface.coarse_times
    if coarse is not None and coarse.is_coarse and not allow_coarse_times:
        raise InvalidParameterError(
            f"near-repeat alert for {incident_id!r}: its surface was computed with --allow-coarse-times: "
            f"{coarse.describe()}; its time bands are not measured gaps, so when risk starts and ends cannot "
            "be told. Expected a surface of exactly timed records; pass --allow-coarse-times to alert anyway, "
            "with a warning"
        )
    narrowest = narrowest_band_days(surface.time)
    if window is not None:
        w_from, w_to = as_utc(window[0]), as_utc(window[1])
        window_days = (w_to - w_from).total_seconds() / 86400.0
    else:
        w_from, w_to = when, when + timedelta(days=window_days)
    incident_coarse = bool(is_coarse_window(window_days, narrowest))
    month = bool(is_month_window(window_days)) or (coarse is not None and coarse.is_coarse and coarse.is_month)
    if incident_coarse:
        how = "longer than" if window_days > narrowest + TOLERANCE_DAYS else "comparable to"
        text = (f"incident {incident_id!r} is known only to a time window of {window_days:.3g} days "
                f"(occurred_from to occurred_to), {how} the surface's narrowest time band ({narrowest:g} days)")
        if not allow_coarse_times:
            raise InvalidParameterError(
                f"near-repeat alert: {text}; when its elevated risk starts and ends cannot be told from a point "
                "inside that window. Expected an incident timed to within the band; pass --allow-coarse-times "
                "to alert anyway, with a warning"
            )
        first = in_zone(w_from, zone)[0]
        last = in_zone(w_to - timedelta(microseconds=1), zone)[0] if w_to > w_from else first
        whole = (f"{first.year:04d}-{first.month:02d}" if month and (first.year, first.month) == (last.year, last.month)
                 else f"{first.date().isoformat()} to {last.date().isoformat()}")
        warnings.append(f"COARSE TIMES: {text}: the alert gives {'months' if month else 'dates'} that cover the "
                        f"whole window ({whole}) plus each band, not times counted from one invented point inside it.")
    coarse_dates = incident_coarse or (coarse is not None and coarse.is_coarse)
    resolution = "month" if coarse_dates and month else ("day" if coarse_dates else "time")
    whole_days = surface.time_resolution == "day"
    if resolution == "time" and whole_days:
        resolution = "day"
    base_day = in_zone(when, zone)[0].date()  # the incident's date where it was recorded

    def local(t: datetime) -> datetime:
        return in_zone(t, zone)[0]

    def coarse_span(tb: Band) -> tuple[str, str]:
        """The months (or dates) the band can reach from anywhere in the incident's window."""
        first = local(w_from + timedelta(days=tb.lower))
        last = local(w_to + timedelta(days=tb.upper) - timedelta(microseconds=1))
        if resolution == "month":
            return f"{first.year:04d}-{first.month:02d}", f"{last.year:04d}-{last.month:02d}"
        return first.date().isoformat(), last.date().isoformat()
    sig = surface.significant(level)
    p_used = surface.p_used
    ns, nt = surface.space.n_finite, surface.time.n_finite

    elevated: list[ElevatedBand] = []
    windows: dict[int, list[tuple[str, str, float, str]]] = {}
    for s in range(ns):
        for c in range(nt):
            if not sig[s, c]:
                continue
            sb, tb = surface.space.bands[s], surface.time.bands[c]
            if coarse_dates:
                starts, ends = coarse_span(tb)
            elif whole_days:
                span = _day_span(tb)
                if span is None:
                    continue
                starts = (base_day + timedelta(days=span[0])).isoformat()
                ends = (base_day + timedelta(days=span[1])).isoformat()
            else:
                starts = (when + timedelta(days=tb.lower)).isoformat()
                ends = (when + timedelta(days=tb.upper)).isoformat()
            e = ElevatedBand(
                space_label=sb.label, space_interval=sb.interval(), distance_from_m=sb.lower,
                distance_to_m=sb.upper, time_label=tb.label, time_interval=tb.interval(),
                days_from=tb.lower, days_to=tb.upper,
                knox_ratio=float(surface.ratio[s, c]), p_value=float(p_used[s, c]),
                observed=int(surface.observed[s, c]), expected=float(surface.expected[s, c]),
                starts=starts, ends=ends,
            )
            elevated.append(e)
            windows.setdefault(s, []).append((starts, ends, e.knox_ratio, tb.label))

    cells: list[AlertCell] = []
    if windows:
        reach = max(surface.space.bands[s].upper for s in windows) + cell_m
        grid = Grid.covering((x_m - reach, y_m - reach, x_m + reach, y_m + reach), cell_m)
        centres = grid.centres()
        dx = centres[:, 0] - x_m
        dy = centres[:, 1] - y_m
        d = np.abs(dx) + np.abs(dy) if surface.distance == "manhattan" else np.hypot(dx, dy)
        own = int(grid.cell_of(np.array([[x_m, y_m]]))[0])
        d[own] = 0.0
        band = surface.space.assign(d)
        # the own cell: the incident's address (distance 0) and its neighbours just above 0
        own_bands = [int(b) for b in dict.fromkeys(surface.space.assign(np.array([0.0, 1e-6])).tolist())
                     if int(b) in windows]
        order = np.lexsort((np.arange(d.shape[0]), d))
        for k in order.tolist():
            s = int(band[k])
            if k == own and own_bands:
                s = own_bands[0]
                w = [v for b in own_bands for v in windows[b]]
            elif s not in windows:
                continue
            else:
                w = windows[s]
            col = round(centres[k, 0] / cell_m - 0.5)
            row = round(centres[k, 1] / cell_m - 0.5)
            cells.append(
                AlertCell(
                    cell_id=f"{cell_m:g}m:{col}:{row}", x_m=float(centres[k, 0]),
                    y_m=float(centres[k, 1]), distance_m=float(d[k]),
                    space_label=" + ".join(surface.space.bands[b].label for b in own_bands)
                    if k == own and own_bands else surface.space.bands[s].label,
                    starts=min(v[0] for v in w), ends=max(v[1] for v in w),
                    max_knox_ratio=max(v[2] for v in w), time_bands=tuple(v[3] for v in w),
                )
            )
    return NearRepeatAlert(
        incident_id=incident_id, x_m=float(x_m), y_m=float(y_m), occurred=when.isoformat(),
        convention=surface.convention, distance=surface.distance, alpha=level, cell_m=cell_m,
        elevated=tuple(elevated), cells=tuple(cells), p_source=surface.p_source, surface_alpha=surface.alpha,
        warnings=tuple(warnings), resolution=resolution,
    )
