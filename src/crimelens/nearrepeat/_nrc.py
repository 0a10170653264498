"""Near Repeat Calculator files: its x,y,date input and its summary/verbose outputs.

The Calculator (Ratcliffe, v1.3) reads a headerless CSV of ``x, y, date`` and
writes an HTML summary (Knox ratios, p-values, the parameters used) and a
"verbose" CSV (the same tables plus the observed counts and every simulated
count per cell). These readers let crimelens run on the same input and compare
its tables with a published run. Quirks handled here (documented in the
``knox_reference`` provenance): CRLF lines, leading zeros dropped (``.43``),
exact zeros written as empty fields, simulated counts wrapped onto
continuation lines that start with a comma.

Dates in an ``x, y, date`` file are ``YYYY-MM-DD`` (or ``YYYY/MM/DD``) or slash dates
``a/b/yyyy``. A slash date is day/month in much of the world and month/day in the US, and
``03/04/2016`` reads either way. The order is taken from the file when some value shows it
(``13/01/2016`` can only be day/month, ``01/13/2016`` only month/day) or from the caller
(``date_order="dmy"`` or ``"mdy"``); a file whose slash dates could be read either way, or that
holds both kinds, is refused with the line and value, never guessed. A value that contradicts
the order (``13/01/2016`` with ``date_order="mdy"``) is refused too: it is never read with day
and month swapped.

A time of day after a date (``2020-01-01 23:30`` or ``2020-01-05T12:00:00``) is accepted and
dropped, with a count: the file is read by date, as the Calculator reads it. A row at exactly
(0, 0) is not used ("null island", a missing location written as zeros).
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError, SchemaError

__all__ = ["DATE_ORDERS", "NRCReport", "XYTFile", "is_xyt_csv", "read_nrc_report", "read_xyt_csv"]

_ISO_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_EPOCH = date(1970, 1, 1)
#: Orders of a slash date a/b/yyyy: day/month/year or month/day/year.
DATE_ORDERS: tuple[str, ...] = ("dmy", "mdy")
_ORDER_TEXT = {"dmy": "dd/mm/yyyy", "mdy": "mm/dd/yyyy"}


#: A time of day after the date: "23:30", "0:00", "12:00:00", "11:30 PM", "12:00:00Z", "12:00+01:00".
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:\s*[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?")
_MIDNIGHT = re.compile(r"0?0:00(?::00(?:\.0+)?)?(?:\s*[Aa][Mm])?(?:Z|[+-]\d{2}:?\d{2})?")


def _split_time(text: str) -> tuple[str, str | None]:
    """The date part of a value and its time of day, if any ("2020-01-01 23:30", "2020-01-05T12:00:00").

    A remainder that is no time of day is left on the date, so the date does not parse."""
    s = text.strip().strip('"')
    for sep in (" ", "T"):
        if sep in s:
            head, tail = s.split(sep, 1)
            if _TIME.fullmatch(tail.strip()):
                return head, tail.strip()
    return s, None


def _date_text(text: str) -> str:
    return _split_time(text)[0]


def _iso_date(s: str) -> date | None:
    for fmt in _ISO_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


def _slash_date(a: int, b: int, year: int, order: str) -> date | None:
    day, month = (a, b) if order == "dmy" else (b, a)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _looks_like_date(text: str) -> bool:
    s = _date_text(text)
    if _iso_date(s) is not None:
        return True
    m = _SLASH.fullmatch(s)
    return m is not None and any(_slash_date(int(m[1]), int(m[2]), int(m[3]), o) for o in DATE_ORDERS)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class XYTFile:
    """Events read from an ``x, y, date`` CSV (the Calculator's input layout).

    ``day`` is the whole-day number since 1970-01-01; ``line`` the 1-based line
    of each used row; ``rejected`` the ``(line, reason)`` of rows not used.
    """

    path: str
    xy: NDArray[np.float64]
    day: NDArray[np.int64]
    line: NDArray[np.int64]
    rejected: tuple[tuple[int, str], ...] = field(default=())
    has_header: bool = False
    #: order of the file's slash dates ("dmy" or "mdy"; None when it has none)
    date_order: str | None = None
    #: how that order was known: "given", or the line and value that show it
    date_order_from: str | None = None
    #: used rows whose date came with a time of day other than midnight (read by date: the time is dropped)
    n_times_dropped: int = 0
    #: the first such row: "line 2: '2020-01-01 23:30'"
    time_example: str | None = None

    @property
    def time_warning(self) -> str | None:
        """What the dropped times mean, or None when no row gave a time of day."""
        if not self.n_times_dropped:
            return None
        return (f"{self.n_times_dropped:,} of {len(self):,} rows of {Path(self.path).name} give a time of day (e.g. "
                f"{self.time_example}); an x,y,date file is read by date, as the Near Repeat Calculator reads it, "
                "so those times were dropped: two events an hour apart across midnight are 1 day apart. For "
                "exact times, ingest the file with `crimelens ingest` and run on the store")

    def __len__(self) -> int:
        return int(self.day.shape[0])

    def to_table(self, *, dataset: str = "file", offense: str = "other", crs: str | None = None) -> IncidentTable:
        """The events as an :class:`IncidentTable` (times at midnight UTC, ids ``line-<n>``)."""
        when = pd.to_datetime(self.day, unit="D", utc=True)
        frame = pd.DataFrame(
            {
                "incident_id": [f"line-{n}" for n in self.line.tolist()],
                "dataset": dataset,
                "offense": offense,
                "offense_raw": offense,
                "occurred_from": when,
                "occurred_to": when,
                "x_m": self.xy[:, 0],
                "y_m": self.xy[:, 1],
                "crs": crs,
                "source": "unknown",
            }
        )
        return IncidentTable(frame)


def _first_rows(path: Path, n: int = 3) -> list[list[str]]:
    rows: list[list[str]] = []
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        for row in csv.reader(fh):
            if row and any(c.strip() for c in row):
                rows.append(row)
            if len(rows) >= n:
                break
    return rows


def is_xyt_csv(path: str | Path) -> bool:
    """Whether ``path`` is an ``x, y, date`` CSV: headerless, or with exactly that header."""
    p = Path(path)
    if p.suffix.lower() not in (".csv", ".txt") or not p.is_file():
        return False
    rows = _first_rows(p)
    if not rows:
        return False
    first = [c.strip().lower() for c in rows[0]]
    while first and first[-1] == "":
        first.pop()
    if first == ["x", "y", "date"]:
        return True
    return (len(first) == 3 and _is_float(first[0]) and _is_float(first[1])
            and _looks_like_date(first[2]))


def _row_label(name: str, lineno: int, header: bool) -> str:
    return f"{name} line {lineno} (data row {lineno - 1 if header else lineno}), column 3 'date'"


def _slash_order(p: Path, slash: list[tuple[int, int, int, int, str]], header: bool,
                 date_order: str | None) -> tuple[str, str]:
    """The order of the file's slash dates ``(line, a, b, year, text)`` and how it is known."""
    # a valid date in one order only: 13/01/2016 (not 31/02/2016, which is no date either way)
    only_dmy = next((r for r in slash if r[1] > 12 and _slash_date(r[1], r[2], r[3], "dmy")), None)
    only_mdy = next((r for r in slash if r[2] > 12 and _slash_date(r[1], r[2], r[3], "mdy")), None)
    if date_order is not None:
        against = only_dmy if date_order == "mdy" else only_mdy
        if against is not None:
            other = "dmy" if date_order == "mdy" else "mdy"
            raise SchemaError(
                f"{_row_label(p.name, against[0], header)}: got {against[4]!r}, which can only be "
                f"{_ORDER_TEXT[other]}; expected {_ORDER_TEXT[date_order]} as --date-order {date_order} says "
                f"(if the file is {_ORDER_TEXT[other]}, give --date-order {other})"
            )
        return date_order, "given"
    if only_dmy is not None and only_mdy is not None:
        raise SchemaError(
            f"{_row_label(p.name, only_dmy[0], header)}: got {only_dmy[4]!r} (can only be dd/mm/yyyy), but line "
            f"{only_mdy[0]} has {only_mdy[4]!r} (can only be mm/dd/yyyy); expected one order of slash dates in a "
            "file: fix the file, or export ISO dates YYYY-MM-DD"
        )
    if only_dmy is not None:
        return "dmy", f"line {only_dmy[0]}: {only_dmy[4]!r} can only be dd/mm/yyyy"
    if only_mdy is not None:
        return "mdy", f"line {only_mdy[0]}: {only_mdy[4]!r} can only be mm/dd/yyyy"
    first = next((r for r in slash if r[1] != r[2]), slash[0])  # 03/04/2016 rather than 01/01/2016
    raise SchemaError(
        f"{_row_label(p.name, first[0], header)}: got {first[4]!r}; in all {len(slash):,} slash dates of the file "
        "both the first and the second number are 12 or less, so day/month and month/day cannot be told "
        "apart; expected --date-order dmy (dd/mm/yyyy) or --date-order mdy (mm/dd/yyyy), or ISO dates "
        "YYYY-MM-DD"
    )


def read_xyt_csv(path: str | Path, *, date_order: str | None = None) -> XYTFile:
    """Read an ``x, y, date`` CSV; bad rows are listed in ``rejected``, not dropped silently.

    Dates are ``YYYY-MM-DD`` (or ``YYYY/MM/DD``) or slash dates ``a/b/yyyy`` whose order is
    ``date_order`` (``"dmy"`` or ``"mdy"``) or, when not given, shown by the file itself (a first
    number above 12 means day/month, a second above 12 month/day). A time of day after the date
    (``2020-01-01 23:30``, ``2020-01-05T12:00:00``) is read alike and dropped: the file is read by
    date, as the Near Repeat Calculator reads it; the rows whose time was not midnight are counted
    in ``n_times_dropped`` and ``time_warning`` says what that means. A row at exactly (0, 0)
    ("null island": a missing location written as zeros) is listed in ``rejected``.

    Raises :class:`SchemaError` when no row can be used, when the slash dates could be read either
    way and no order is given, when they show both orders, or when one contradicts ``date_order``
    (the message names the file, line, column and value).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "uk.csv").write_text("x,y,date\\n1.0,2.0,03/04/2016\\n5.0,6.0,25/04/2016\\n")
    >>> f = read_xyt_csv(d / "uk.csv")
    >>> f.date_order, f.date_order_from, (f.day - f.day[0]).tolist()
    ('dmy', "line 3: '25/04/2016' can only be dd/mm/yyyy", [0, 22])
    """
    if date_order is not None and date_order not in DATE_ORDERS:
        raise InvalidParameterError(f"--date-order: got {date_order!r}; expected one of {list(DATE_ORDERS)}")
    p = Path(path)
    rows: list[tuple[int, float, float, str]] = []
    rejected: list[tuple[int, str]] = []
    header = False
    with p.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            while cells and cells[-1] == "":
                cells.pop()
            if not cells:
                continue
            if lineno == 1 and [c.lower() for c in cells] == ["x", "y", "date"]:
                header = True
                continue
            if len(cells) < 3:
                rejected.append((lineno, f"got {len(cells)} field(s); expected x, y, date"))
                continue
            try:
                x, y = float(cells[0]), float(cells[1])
            except ValueError:
                rejected.append((lineno, f"x/y: got {cells[0]!r}, {cells[1]!r}; expected numbers"))
                continue
            if not (np.isfinite(x) and np.isfinite(y)):
                rejected.append((lineno, "x/y: not finite"))
                continue
            if x == 0.0 and y == 0.0:
                rejected.append((lineno, f"x/y: got {cells[0]!r}, {cells[1]!r}: exactly (0, 0), 'null island', a "
                                         "missing location written as zeros; expected the event's coordinates"))
                continue
            rows.append((lineno, x, y, cells[2]))
    slash: list[tuple[int, int, int, int, str]] = []
    for lineno, _, _, text in rows:
        m = _SLASH.fullmatch(_date_text(text))
        if m is not None:
            slash.append((lineno, int(m[1]), int(m[2]), int(m[3]), text))
    order, order_from = _slash_order(p, slash, header, date_order) if slash else (None, None)
    expected = "YYYY-MM-DD" + (f" or {_ORDER_TEXT[order]}" if order else " or a/b/yyyy")
    xs: list[float] = []
    ys: list[float] = []
    days: list[int] = []
    lines: list[int] = []
    timed: list[tuple[int, str]] = []
    for lineno, x, y, text in rows:
        s, clock = _split_time(text)
        m = _SLASH.fullmatch(s)
        d = _iso_date(s) if m is None else _slash_date(int(m[1]), int(m[2]), int(m[3]), order or "mdy")
        if d is None:
            rejected.append((lineno, f"column 3 'date': got {text!r}; expected a valid date {expected}"))
            continue
        if clock is not None and not _MIDNIGHT.fullmatch(clock):
            timed.append((lineno, text))
        xs.append(x)
        ys.append(y)
        days.append((d - _EPOCH).days)
        lines.append(lineno)
    rejected.sort()
    if not days:
        raise SchemaError(
            f"{p}: no usable x, y, date rows ({len(rejected)} rejected"
            + (f", e.g. line {rejected[0][0]}: {rejected[0][1]}" if rejected else "")
            + "); expected a CSV like '350353.39,578924.25,2015-12-31' (the Near Repeat Calculator's input)"
        )
    return XYTFile(
        path=str(p), xy=np.column_stack([np.asarray(xs), np.asarray(ys)]),
        day=np.asarray(days, dtype=np.int64), line=np.asarray(lines, dtype=np.int64),
        rejected=tuple(rejected), has_header=header, date_order=order, date_order_from=order_from,
        n_times_dropped=len(timed), time_example=f"line {timed[0][0]}: {timed[0][1]!r}" if timed else None,
    )


# ---- outputs -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NRCReport:
    """A published Calculator run: its settings and tables (rows = space, columns = time)."""

    records_used: int | None
    rows: list[str]
    columns: list[str]
    observed: NDArray[np.int64]
    ratio: NDArray[np.float64]
    p_value: NDArray[np.float64]
    simulated: NDArray[np.int64] | None  # (n_sims, rows, columns), from the verbose file
    n_simulations: int | None
    spatial_bandwidth: float | None = None
    n_spatial_bands: int | None = None
    temporal_bandwidth: float | None = None
    n_temporal_bands: int | None = None

    @property
    def space_edges(self) -> list[float]:
        if self.spatial_bandwidth is None or self.n_spatial_bands is None:
            raise SchemaError("NRCReport: no spatial bandwidth; read the summary .htm too")
        return [self.spatial_bandwidth * (k + 1) for k in range(self.n_spatial_bands)]

    @property
    def time_edges(self) -> list[float]:
        if self.temporal_bandwidth is None or self.n_temporal_bands is None:
            raise SchemaError("NRCReport: no temporal bandwidth; read the summary .htm too")
        return [self.temporal_bandwidth * (k + 1) for k in range(self.n_temporal_bands)]


def _num(text: str) -> float:
    s = text.strip()
    return 0.0 if s == "" else float(s)


def _read_verbose(path: Path) -> dict[str, object]:
    lines = path.read_text(encoding="latin-1").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: dict[str, object] = {"records_used": None}
    tables: dict[str, tuple[list[str], list[str], list[list[float]]]] = {}
    titles = {
        "Observed over mean expected frequencies": "ratio",
        "Statistical significant table": "p_value",
        "Observed frequencies distribution": "observed",
    }
    cells: dict[tuple[int, int], list[int]] = {}
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("Source data records used:"):
            out["records_used"] = int(line.split(":", 1)[1])
        if line in titles:
            cols = [c.strip() for c in lines[i + 1].split(",")[2:] if c.strip()]
            rows: list[str] = []
            values: list[list[float]] = []
            j = i + 3
            while j < len(lines) and lines[j].strip() and lines[j].split(",")[0].strip().isdigit():
                parts = lines[j].split(",")
                rows.append(parts[1].strip())
                values.append([_num(v) for v in parts[2 : 2 + len(cols)]])
                j += 1
            tables[titles[line]] = (rows, cols, values)
            i = j
            continue
        m = re.fullmatch(r"Row (\d+) Column (\d+)", line)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
            j = i + 1
            draws: list[int] = []
            if lines[j].startswith("Expected"):
                draws += [int(v) for v in lines[j].split(",")[1:] if v.strip()]
                j += 1
                while j < len(lines) and lines[j].startswith(","):
                    draws += [int(v) for v in lines[j].split(",")[1:] if v.strip()]
                    j += 1
            cells[key] = draws
            i = j
            continue
        if line.startswith("SOURCE DATA"):
            break
        i += 1
    if set(tables) != set(titles.values()):
        raise SchemaError(
            f"{path}: found tables {sorted(tables)}; expected the Calculator's three tables "
            f"{sorted(titles)}"
        )
    out["tables"] = tables
    out["cells"] = cells
    return out


def _read_summary(path: Path) -> dict[str, float]:
    text = html.unescape(path.read_text(encoding="latin-1"))
    flat = re.sub(r"\s+", " ", text)
    found: dict[str, float] = {}
    for name, label in (("iterations", "Iterations requested"), ("spatial_bandwidth", "Spatial bandwidth"),
                        ("n_spatial_bands", "Number of spatial bands"),
                        ("temporal_bandwidth", "Temporal bandwidth"),
                        ("n_temporal_bands", "Number of temporal bands")):
        m = re.search(re.escape(label) + r":\s*([0-9.]+)", flat)
        if m is None:
            raise SchemaError(f"{path}: no '{label}:' in the Calculator summary")
        found[name] = float(m.group(1))
    return found


def read_nrc_report(verbose: str | Path, summary: str | Path | None = None) -> NRCReport:
    """Read a Calculator verbose CSV (and optionally its HTML summary for the settings)."""
    v = _read_verbose(Path(verbose))
    tables = v["tables"]
    assert isinstance(tables, dict)
    rows, cols, obs = tables["observed"]
    _, _, ratio = tables["ratio"]
    _, _, pval = tables["p_value"]
    cells = v["cells"]
    assert isinstance(cells, dict)
    sims: NDArray[np.int64] | None = None
    n_sims: int | None = None
    if cells:
        lengths = {len(d) for d in cells.values()}
        if len(lengths) != 1:
            raise SchemaError(f"{verbose}: cells list different numbers of simulations {sorted(lengths)}")
        n_sims = lengths.pop()
        sims = np.zeros((n_sims, len(rows), len(cols)), dtype=np.int64)
        for (r, c), draws in cells.items():
            sims[:, r - 1, c - 1] = draws
    settings = _read_summary(Path(summary)) if summary is not None else {}
    if settings and n_sims is not None and int(settings["iterations"]) != n_sims:
        raise SchemaError(
            f"{summary}: {int(settings['iterations'])} iterations requested, but the verbose file "
            f"lists {n_sims} simulations per cell"
        )
    records = v["records_used"]
    return NRCReport(
        records_used=records if isinstance(records, int) else None,
        rows=rows, columns=cols,
        observed=np.asarray(obs, dtype=np.int64), ratio=np.asarray(ratio, dtype=np.float64),
        p_value=np.asarray(pval, dtype=np.float64), simulated=sims, n_simulations=n_sims,
        spatial_bandwidth=settings.get("spatial_bandwidth"),
        n_spatial_bands=int(settings["n_spatial_bands"]) if settings else None,
        temporal_bandwidth=settings.get("temporal_bandwidth"),
        n_temporal_bands=int(settings["n_temporal_bands"]) if settings else None,
    )
