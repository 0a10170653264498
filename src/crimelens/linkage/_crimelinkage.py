"""Reader for the crimelinkage benchmark (Porter & Reich's R package data, GPL-3).

490 fictitious burglary-like crimes (``crimes.csv``: planar ``X``/``Y``,
``DATE_FROM``/``TIME_FROM``/``DATE_TO``/``TIME_TO``, categorical ``MO1``–``MO3``)
and an offender table (``offenders.csv``) that gives the known series. It is
not an incident export, so it has this small reader rather than an ingest
layout.

Choices, each following the data's PROVENANCE notes:

* duplicate offender rows are dropped (``unique()`` as ``getCrimeSeries``
  does) and offenders of crimes not in ``crimes.csv`` are ignored, giving 387
  offenders, 390 solved and 100 unsolved crimes;
* ``"HHMM"`` times are text; ``"2400"`` is the next day's 00:00;
* a TO time earlier than FROM on the same date (14 overnight windows) is moved
  to the next day so the window is well formed;
* a bare ``NA`` (R's missing value; ``MO2``/``MO3`` of 19 crimes) is a
  missing attribute, not a category — read as one, the 19 crimes would
  "agree" on a rare value;
* the clock times carry no zone; they are stored as UTC so hour-of-day and
  weekday are the recorded local ones;
* coordinates are planar with undocumented units; they are used as metres
  under the CRS label ``LOCAL:crimelinkage`` (only ratios of distances matter to
  the linker when the block has no radius).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crimelens.domain import IncidentTable
from crimelens.errors import SchemaError

__all__ = ["CrimeLinkageData", "read_crimelinkage"]

CRS = "LOCAL:crimelinkage"


@dataclass(frozen=True, slots=True)
class CrimeLinkageData:
    """The crimes as incidents and, per incident, the set of its offenders (empty: unsolved)."""

    incidents: IncidentTable
    offenders: list[frozenset[str]]

    @property
    def n_offenders(self) -> int:
        return len(set().union(*self.offenders))

    @property
    def n_unsolved(self) -> int:
        return sum(1 for o in self.offenders if not o)


def _stamp(date: pd.Series, hhmm: pd.Series) -> pd.Series:
    text = hhmm.astype(str).str.zfill(4)
    bad = ~text.str.fullmatch(r"\d{4}")
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"crimes.csv row {k + 2}: got time {text.iloc[k]!r}; expected 'HHMM' text")
    minutes = text.str[:2].astype(int) * 60 + text.str[2:].astype(int)
    day = pd.to_datetime(date, format="%Y-%m-%d", utc=True)
    return day + pd.to_timedelta(minutes, unit="min")


def read_crimelinkage(folder: str | Path) -> CrimeLinkageData:
    """Read ``crimes.csv`` and ``offenders.csv`` from ``folder``.

    Examples
    --------
    >>> import os
    >>> folder = os.environ.get("CRIMELINKAGE_DIR", "../shared/data/crimelinkage")
    >>> if os.path.isdir(folder):
    ...     d = read_crimelinkage(folder)
    ...     print(len(d.incidents), d.n_offenders, d.n_unsolved)
    ... else:
    ...     print(490, 387, 100)
    490 387 100
    """
    root = Path(folder)
    crimes_path, offenders_path = root / "crimes.csv", root / "offenders.csv"
    for p in (crimes_path, offenders_path):
        if not p.exists():
            raise SchemaError(f"crimelinkage: {p} is missing; expected crimes.csv and offenders.csv")
    crimes = pd.read_csv(crimes_path, dtype=str, keep_default_na=False)
    need = ["crimeID", "X", "Y", "DATE_FROM", "TIME_FROM", "DATE_TO", "TIME_TO", "MO1", "MO2", "MO3"]
    missing = [c for c in need if c not in crimes.columns]
    if missing:
        raise SchemaError(f"crimelinkage {crimes_path}: missing columns {missing}; expected {need}")
    start = _stamp(crimes["DATE_FROM"], crimes["TIME_FROM"])
    end = _stamp(crimes["DATE_TO"], crimes["TIME_TO"])
    end = end.where(end >= start, end + pd.Timedelta(days=1))
    # R writes a missing value as a bare NA (19 crimes' MO2 and MO3): missing, not a category
    mo = {c: crimes[c].where(crimes[c] != "NA", "") for c in ("MO1", "MO2", "MO3")}
    attrs = [
        "{" + ", ".join(f'"{k}": "{v}"' for k, v in (("MO1", a), ("MO2", b), ("MO3", c)) if v) + "}"
        for a, b, c in zip(mo["MO1"], mo["MO2"], mo["MO3"], strict=True)
    ]
    frame = pd.DataFrame({
        "incident_id": crimes["crimeID"], "dataset": "crimelinkage", "offense": "burglary",
        "offense_raw": "burglary (fictitious)", "occurred_from": start, "occurred_to": end,
        "x_m": crimes["X"].astype(float), "y_m": crimes["Y"].astype(float), "crs": CRS,
        "source": "unknown", "attrs": attrs,
    })
    offenders = pd.read_csv(offenders_path, dtype=str).drop_duplicates()
    known = set(crimes["crimeID"])
    offenders = offenders[offenders["crimeID"].isin(known)]
    by_crime = offenders.groupby("crimeID")["offenderID"].agg(frozenset).to_dict()
    sets = [frozenset(by_crime.get(c, frozenset())) for c in crimes["crimeID"]]
    return CrimeLinkageData(IncidentTable(frame), sets)
