"""Projection to a metric CRS with pyproj, recorded with its accuracy.

Unless a target is given, incidents are projected to the UTM zone (WGS84) of
the median longitude/latitude of the valid rows. The transform's description
and PROJ's stated accuracy (metres; ``None`` when PROJ does not know it — e.g.
a plain datum-preserving projection, which is exact to floating point) are
written into the ingest's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

from crimelens.errors import SchemaError

__all__ = ["Projection", "choose_projection", "utm_crs_for"]


def utm_crs_for(lon: float, lat: float) -> str:
    """The WGS84 UTM zone EPSG code for a position.

    Examples
    --------
    >>> utm_crs_for(-87.63, 41.88), utm_crs_for(-1.15, 52.95), utm_crs_for(151.2, -33.9)
    ('EPSG:32616', 'EPSG:32630', 'EPSG:32756')
    """
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    """The most accurate transformation PROJ has available offline (no grid downloads)."""
    group = TransformerGroup(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)
    if group.transformers:
        return group.transformers[0]
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@dataclass(frozen=True, slots=True)
class Projection:
    source: str
    target: str

    @property
    def transformer(self) -> Transformer:
        return _transformer(self.source, self.target)

    @property
    def description(self) -> str:
        if self.source == self.target:
            return "identity"
        return str(self.transformer.description)

    @property
    def accuracy_m(self) -> float | None:
        if self.source == self.target:
            return 0.0
        acc = float(self.transformer.accuracy)
        return None if acc < 0 else acc

    def apply(self, xy: NDArray[np.float64], is_lonlat: NDArray[np.bool_]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(x_m, y_m, lon, lat) for input coordinates in ``source``."""
        n = len(xy)
        if n == 1:  # pyproj treats one-element arrays as a scalar point (and warns): pad
            xm, ym, lon, lat = self.apply(np.vstack([xy, xy]), np.concatenate([is_lonlat, is_lonlat]))
            return xm[:1], ym[:1], lon[:1], lat[:1]
        x, y = xy[:, 0], xy[:, 1]
        with np.errstate(invalid="ignore"):
            if self.source == self.target:
                xm, ym = x.copy(), y.copy()
            else:
                xm, ym = self.transformer.transform(x, y, errcheck=False)
            src = CRS.from_user_input(self.source)
            if src.is_geographic:
                lon, lat = x.copy(), y.copy()
            else:
                lon, lat = _transformer(self.source, "EPSG:4326").transform(x, y, errcheck=False)
        return (np.asarray(xm, dtype=np.float64), np.asarray(ym, dtype=np.float64),
                np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))


def choose_projection(source: str, is_lonlat: NDArray[np.bool_], xy: NDArray[np.float64],
                      ok: NDArray[np.bool_], *, target: str | None) -> Projection:
    try:
        src = CRS.from_user_input(source)
    except Exception as exc:  # pyproj raises CRSError
        raise SchemaError(f"CRS {source!r} is not known to PROJ; expected e.g. EPSG:4326") from exc
    if target is not None:
        try:
            dst = CRS.from_user_input(target)
        except Exception as exc:
            raise SchemaError(f"target CRS {target!r} is not known to PROJ") from exc
        if dst.is_geographic:
            raise SchemaError(f"target CRS {target!r} is geographic; expected a projected CRS in metres")
        return Projection(source, target)
    if src.is_projected and src.axis_info and all(a.unit_name in ("metre", "meter") for a in src.axis_info):
        return Projection(source, source)
    finite = ok & np.isfinite(xy).all(axis=1)
    if not finite.any():
        return Projection(source, "EPSG:3857" if src.is_geographic else source) if not src.is_projected else Projection(source, source)
    sample = xy[finite]
    if src.is_geographic:
        lon, lat = np.median(sample[:, 0]), np.median(sample[:, 1])
    else:
        lon, lat = _transformer(source, "EPSG:4326").transform(np.median(sample[:, 0]), np.median(sample[:, 1]))
    if not (np.isfinite(lon) and np.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 84):
        raise SchemaError(f"cannot choose a metric CRS: the median position ({lon}, {lat}) is not on Earth in {source}")
    return Projection(source, utm_crs_for(float(lon), float(lat)))
