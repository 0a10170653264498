"""Write a generated city to disk, byte for byte the same for the same seed.

Layout of ``out_dir``::

    incidents.csv          recorded incidents, canonical layout (see docs/synth.md)
    areas.geojson          neighbourhoods, WGS84, demographic composition (audit only)
    truth/params.json      every generator parameter, the true ETAS θ, ω, σ, realised counts
    truth/series.csv       incident_id, series_id, solved, position for every planted member
    truth/events.csv       every latent event (recorded or not) with parent and component
    truth/areas.csv        per neighbourhood: group, patrol, expected and realised counts
    truth/intensity.npz    expected counts per 150 m cell and per day (latent and recorded)
    truth/patrol.npz       patrol intensity and discovery probability per 150 m cell

No file carries a timestamp of when it was written; ``.npz`` members get a fixed zip date.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

if TYPE_CHECKING:
    from crimelens.synth._city import CityData

__all__ = ["write"]

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _savez(path: Path, arrays: dict[str, NDArray[Any]]) -> None:
    """Like :func:`numpy.savez_compressed`, without the wall-clock dates in the zip."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            arr = np.asarray(arrays[name])
            np.lib.format.write_array(  # type: ignore[no-untyped-call]
                buf, arr if arr.flags.c_contiguous else arr.copy(order="C"), allow_pickle=False
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


_HMS: NDArray[np.object_] | None = None
#: Decimals written for float columns (others: Python's shortest round-trip repr).
_DECIMALS = {"x_m": 1, "y_m": 1, "lon": 6, "lat": 6, "t_days": 8, "p_recorded": 6}
_SPECIAL = frozenset(',"\n\r')


def _quote(value: str) -> str:
    """RFC 4180 quoting, only where a value holds a comma, quote or line break."""
    if _SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _iso(col: pd.Series) -> NDArray[np.object_]:
    """``2024-03-05T21:15:00+00:00`` for a tz-aware UTC column (NaT -> empty)."""
    global _HMS
    if _HMS is None:
        sec = range(86_400)
        _HMS = np.array([f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in sec], dtype=object)
    us = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]").astype(np.int64)
    nat = col.isna().to_numpy()
    day = np.where(nat, 0, us // 86_400_000_000)
    sod = np.where(nat, 0, (us // 1_000_000) % 86_400)
    days, inverse = np.unique(day, return_inverse=True)
    dates = np.array(np.datetime_as_string(days.astype("datetime64[D]")).tolist(), dtype=object)
    text = np.asarray(dates[inverse.reshape(-1)] + _HMS[sod], dtype=object)
    text[nat] = ""
    return text


def _column_text(name: str, col: pd.Series) -> NDArray[np.object_]:
    """One column as Python strings, ready to join with commas."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.array([_quote(str(c)) for c in col.cat.categories] + [""], dtype=object)
        codes = col.cat.codes.to_numpy(np.int64)
        return np.asarray(cats[np.where(codes >= 0, codes, len(cats) - 1)], dtype=object)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return _iso(col)
    if pd.api.types.is_float_dtype(col.dtype):
        v = col.to_numpy(np.float64).tolist()
        fmt = f"{{:.{_DECIMALS[name]}f}}".format if name in _DECIMALS else repr
        return np.array(["" if x != x else fmt(x) for x in v], dtype=object)
    if pd.api.types.is_bool_dtype(col.dtype):
        return np.where(col.to_numpy(bool), "True", "False").astype(object)
    if pd.api.types.is_integer_dtype(col.dtype):
        return np.array([str(x) for x in col.to_numpy(np.int64).tolist()], dtype=object)
    values = col.astype(object).where(col.notna(), "").tolist()
    return np.array([_quote(str(v)) for v in values], dtype=object)


def _csv(frame: pd.DataFrame, path: Path, *, chunk: int = 100_000) -> None:
    """Write ``frame`` as UTF-8 CSV with LF endings; the same frame always gives the same bytes."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(_quote(str(c)) for c in frame.columns) + "\n")
        for lo in range(0, len(frame), chunk):
            part = frame.iloc[lo:lo + chunk]
            cols = [_column_text(str(name), part[name]).tolist() for name in part.columns]
            if len(part):
                fh.write("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, list | tuple):
        if obj and isinstance(obj[0], float | int):
            return [round(float(v), 6) for v in obj]
        return [_round_coords(v) for v in obj]
    return obj


def _geojson(city: CityData) -> str:
    to_wgs = Transformer.from_crs(city.incidents.crs or "EPSG:32616", "EPSG:4326", always_xy=True)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    features = []
    for area in city.areas:
        geom = shapely.orient_polygons(shapely.transform(shapely.from_wkt(area.wkt), project))
        gj = json.loads(shapely.to_geojson(geom))
        gj["coordinates"] = _round_coords(gj["coordinates"])
        audit = dict(area.audit)
        props = {
            "area_id": area.area_id,
            "name": area.name,
            "population": area.population,
            "group": audit.pop("group"),
            "share_group_a": audit.pop("share_group_a"),
            "share_group_b": audit.pop("share_group_b"),
            **audit,
        }
        features.append({"type": "Feature", "properties": props, "geometry": gj})
    doc = {"type": "FeatureCollection", "name": "crimelens_synth_areas", "features": features}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def write(city: CityData, out_dir: str | Path) -> dict[str, int]:
    """Write ``city`` under ``out_dir`` (created if missing); returns ``{relative path: bytes}``."""
    out = Path(out_dir)
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth = city.truth

    _csv(city.frame, out / "incidents.csv")
    (out / "areas.geojson").write_text(_geojson(city), encoding="utf-8")

    rows = []
    for sid, members in city.series.items():
        for pos, iid in enumerate(members):
            rows.append((iid, sid, sid in city.solved, pos + 1))
    series = pd.DataFrame(rows, columns=["incident_id", "series_id", "solved", "position"])
    _csv(series, truth_dir / "series.csv")
    (truth_dir / "params.json").write_text(
        json.dumps(truth.params, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _csv(truth.events, truth_dir / "events.csv")
    _csv(truth.areas, truth_dir / "areas.csv")
    g = truth.grid
    meta: dict[str, NDArray[Any]] = {
        "x0": np.array(g.x0, dtype=np.float64),
        "y0": np.array(g.y0, dtype=np.float64),
        "cell_m": np.array(g.cell_m, dtype=np.float64),
        "nx": np.array(g.nx, dtype=np.int64),
        "ny": np.array(g.ny, dtype=np.int64),
        "crs": np.array(g.crs or ""),
        "start_utc": np.array(truth.start.isoformat()),
        "days": np.array(truth.days, dtype=np.int64),
    }
    _savez(truth_dir / "intensity.npz", {
        **meta,
        "offenses": np.array(truth.offenses),
        "expected": truth.intensity,
        "expected_recorded": truth.intensity_recorded,
        "background": truth.background,
        "series_counts": truth.series_counts,
        "daily": truth.daily,
        "daily_recorded": truth.daily_recorded,
    })
    _savez(truth_dir / "patrol.npz", {
        **meta,
        "patrol": truth.patrol,
        "discovery_prob": truth.discovery_prob,
    })
    return {
        str(p.relative_to(out)): p.stat().st_size
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name in {
            "incidents.csv", "areas.geojson", "series.csv", "params.json", "events.csv", "areas.csv",
            "intensity.npz", "patrol.npz",
        }
    }
