"""A CSV that GIS readers (QGIS, ogr2ogr) and every CSV reader take alike.

The header is on the first line (``#`` lines before it made GDAL read ``#`` as the first column's
name), a run's metadata are columns after the data (the same value on every row, so that each row
says which run and mark it comes from), and beside the file GDAL finds ``.csvt`` (each column's
type, so numbers read as numbers and a ``wkt`` column as geometry) and ``.prj`` (the CRS of the
geometry, so QGIS places it without asking).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

__all__ = ["write_gis_csv"]


def write_gis_csv(out: Path, body: pd.DataFrame, types: Mapping[str, str], crs: str | None,
                  meta: Mapping[str, str]) -> pd.DataFrame:
    """Write ``body`` with ``meta`` as trailing columns (a key that is already a column becomes
    ``meta_KEY``), then ``.csvt`` (``types[column]``, ``String`` for any other) and ``.prj`` (``crs``
    as ESRI WKT; a stale ``.prj`` of that name is removed when there is no CRS). Returns the frame
    written.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> frame = write_gis_csv(d / "a.csv", pd.DataFrame({"risk": [0.5]}), {"risk": "Real"}, None, {"risk": "x"})
    >>> (d / "a.csv").read_text().splitlines(), (d / "a.csvt").read_text().strip(), (d / "a.prj").exists()
    (['risk,meta_risk', '0.5,x'], '"Real","String"', False)
    """
    taken = set(body.columns)
    columns = {(key if key not in taken else f"meta_{key}"): value for key, value in meta.items()}
    body = body.assign(**columns)
    with out.open("w", encoding="utf-8", newline="") as fh:
        body.to_csv(fh, index=False)
    out.with_suffix(".csvt").write_text(",".join(f'"{types.get(c, "String")}"' for c in body.columns) + "\n",
                                        encoding="utf-8")
    prj = out.with_suffix(".prj")
    if crs:
        from pyproj import CRS

        prj.write_text(CRS.from_user_input(crs).to_wkt("WKT1_ESRI"), encoding="utf-8")
    elif prj.exists():
        prj.unlink()  # a stale CRS from an earlier export of that name would place these rows wrongly
    return body
