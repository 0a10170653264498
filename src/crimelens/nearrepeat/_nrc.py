"""Near Repeat Calculator files: its x,y,date input and its summary/verbose outputs.

The Calculator (Ratcliffe, v1.3) reads a headerless CSV of ``x, y, date`` and
writes an HTML summary (Knox ratios, p-values, the parameters used) and a
"verbose" CSV (the same tables plus the observed counts and every simulated
count per cell). These readers let crimelens run on the same input and compare
its tables with a published run. Quirks handled here (documented in the
``knox_reference`` provenance): CRLF lines, leading zeros dropped (``.43``),
exact zeros written as empty fields, simulated counts wrapped onto
continuation lines that start with a comma.
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
from crimelens.errors import SchemaError

__all__ = ["NRCReport", "XYTFile", "is_xyt_csv", "read_nrc_report", "read_xyt_csv"]

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d")
_EPOCH = date(1970, 1, 1)


def _parse_date(text: str) -> date | None:
    s = text.strip().strip('"')
    if " " in s:  # "1/31/2016 0:00" style: keep the date part
        s = s.split(" ", 1)[0]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


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
            and _parse_date(first[2]) is not None)


def read_xyt_csv(path: str | Path) -> XYTFile:
    """Read an ``x, y, date`` CSV; dates ``YYYY-MM-DD`` or ``m/d/yyyy``; bad rows are listed, not dropped silently.

    Raises :class:`SchemaError` when no row can be used.
    """
    p = Path(path)
    xs: list[float] = []
    ys: list[float] = []
    days: list[int] = []
    lines: list[int] = []
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
            d = _parse_date(cells[2])
            if d is None:
                rejected.append(
                    (lineno, f"date: got {cells[2]!r}; expected YYYY-MM-DD or m/d/yyyy")
                )
                continue
            xs.append(x)
            ys.append(y)
            days.append((d - _EPOCH).days)
            lines.append(lineno)
    if not days:
        raise SchemaError(
            f"{p}: no usable x, y, date rows ({len(rejected)} rejected); expected a CSV like "
            "'350353.39,578924.25,2015-12-31' (the Near Repeat Calculator's input)"
        )
    return XYTFile(
        path=str(p), xy=np.column_stack([np.asarray(xs), np.asarray(ys)]),
        day=np.asarray(days, dtype=np.int64), line=np.asarray(lines, dtype=np.int64),
        rejected=tuple(rejected), has_header=header,
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
