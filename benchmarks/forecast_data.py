"""Data loading for the forecast benchmarks: ../shared/data sets as IncidentTables in metres.

Uses ``crimelens.ingest.read_file`` when it exists; until then reads the CSVs
with pandas (local times localised, coordinates projected with pyproj). Never
copies data into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from crimelens.domain import IncidentTable

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))

SETS = {
    # name: (file, layout for read_file, tz, metric CRS)
    "chicago_agg_assault": ("chicago_agg_assault/chicago_aggravated_assaults.csv.gz", "chicago_code",
                            "America/Chicago", "EPSG:32616"),
    "vancouver_2020": ("vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz", "vancouver_geodash",
                       "America/Vancouver", "EPSG:32610"),
    "cincinnati_burglary": ("cincinnati_burglary/cincinnati_burglary.csv.gz", "cincinnati",
                            "America/New_York", "EPSG:32616"),
    # NIJ challenge calls for service, August and September 2016 (ingest only: shapefiles)
    "portland_nij_2016": ("portland_nij_2016/080116_083116_Data.zip portland_nij_2016/090116_093016_Data.zip",
                          "nij_portland", "America/Los_Angeles", "EPSG:32610"),
}


def _via_ingest(name: str) -> IncidentTable | None:
    try:
        from crimelens.ingest import read_file  # type: ignore[attr-defined]
    except ImportError:
        return None
    files, layout, _tz, _crs = SETS[name]
    parts = [read_file(DATA / f, format=layout, dataset=name).table for f in files.split()]
    table: IncidentTable = parts[0] if len(parts) == 1 else IncidentTable(
        pd.concat([p.frame for p in parts], ignore_index=True))
    if name == "vancouver_2020":
        # thefts (the crimemappingdata "vancouver_thefts" types), without VPD's unknown-location
        # default point at 312 Main St (PROVENANCE.md: it makes a false hotspot)
        table = table.select(offense=["theft", "theft_from_vehicle", "vehicle_theft"])
        xy = table.xy_m
        nk = (np.abs(xy[:, 0] - 492757.4868) < 1.0) & (np.abs(xy[:, 1] - 5458792.469) < 1.0)
        table = table.select(mask=~nk)
    return table


def _frame(name: str) -> pd.DataFrame:
    from pyproj import Transformer

    file, _layout, tz, crs = SETS[name]
    raw = pd.read_csv(DATA / file)
    if name == "chicago_agg_assault":
        when = pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M")
        lon, lat = raw["longitude"].to_numpy(float), raw["latitude"].to_numpy(float)
        offense = "aggravated_assault"
    elif name == "cincinnati_burglary":
        raw = raw.dropna(subset=["longitude", "latitude"])
        when = pd.to_datetime(raw["offense_date"].str.replace("Z", ""), format="ISO8601")
        lon, lat = raw["longitude"].to_numpy(float), raw["latitude"].to_numpy(float)
        offense = "burglary"
    else:  # vancouver: thefts only (the package's "thefts" subset: TYPE contains 'Theft')
        raw = raw[raw["TYPE"].str.contains("Theft", na=False) & (raw["X"].fillna(0) > 0)]
        raw = raw[raw["HUNDRED_BLOCK"] != "X NK_LOC ST"]
        when = pd.to_datetime(dict(year=raw["YEAR"], month=raw["MONTH"], day=raw["DAY"],
                                   hour=raw["HOUR"], minute=raw["MINUTE"]))
        x, y = raw["X"].to_numpy(float), raw["Y"].to_numpy(float)
        lon = lat = None
        offense = "theft"
    local = when.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    keep = local.notna().to_numpy()
    if lon is not None:
        tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = tr.transform(lon, lat)
    n = int(keep.sum())
    ts = local[keep].dt.tz_convert("UTC").reset_index(drop=True)
    return pd.DataFrame({
        "incident_id": [f"{name}-{i}" for i in range(n)],
        "dataset": name, "offense": offense, "offense_raw": offense,
        "occurred_from": ts, "occurred_to": ts,
        "x_m": np.asarray(x)[keep], "y_m": np.asarray(y)[keep], "crs": crs,
    })


def load(name: str, *, prefer_ingest: bool = True) -> IncidentTable:
    """The named set as an IncidentTable (projected metres, UTC)."""
    if prefer_ingest:
        table = _via_ingest(name)
        if table is not None:
            return table
    return IncidentTable(_frame(name))
