"""Projection to a metric CRS with pyproj, recorded with its accuracy.

Unless a target is given, incidents are projected to the UTM zone (WGS84) of
the median longitude/latitude of the valid rows. The transform's description
and PROJ's stated accuracy (metres; ``None`` when PROJ does not know it — e.g.
a plain datum-preserving projection, which is exact to floating point) are
written into the ingest's provenance.

Plausibility: a point far outside the target CRS's area of use (PROJ's
``area_of_use``, widened by :data:`AREA_MARGIN_DEG` degrees; for an auto-chosen
UTM zone that is the zone's 6 degrees of longitude, equator to 84 degrees) would
be projected with a huge distortion — a swapped latitude/longitude pair in
Chicago lands 10,000 km south in UTM 16N and a grid covering it has billions of
cells. :meth:`Projection.outside_area` finds such points; validation quarantines
them, naming the area and hinting at a swap when the swapped pair lies inside.
"""


from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

from crimelens.errors import SchemaError

__all__ = ["AREA_MARGIN_DEG", "Projection", "choose_projection", "utm_crs_for"]

#: Degrees by which a CRS's area of use is widened before a point counts as implausible for it.
AREA_MARGIN_DEG = 3.0


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
    """The most accurate transformation PROJ has available offline (no grid downloads).

    pyproj warns when a better one needs a grid that is not installed (OSGB36's OSTN15); the one used
    and its stated accuracy are in the provenance, so the warning is not passed on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Best transformation is not available", category=UserWarning)
        group = TransformerGroup(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)
    if group.transformers:
        return group.transformers[0]
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@lru_cache(maxsize=64)
def _area_of_use(crs: str) -> tuple[float, float, float, float, str] | None:
    """(west, south, east, north) in degrees of the CRS's area of use, and the CRS's name; None when PROJ gives none."""
    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError; an unknown CRS is refused elsewhere
        return None
    area = parsed.area_of_use
    if area is None:
        return None
    return float(area.west), float(area.south), float(area.east), float(area.north), str(parsed.name)


def _inside(lon: NDArray[np.float64], lat: NDArray[np.float64], box: tuple[float, float, float, float],
            margin: float) -> NDArray[np.bool_]:
    """Whether each point lies in ``box`` (west, south, east, north; east < west crosses 180°) ± ``margin``."""
    west, south, east, north = box
    width = min(east - west + (360.0 if east < west else 0.0), 360.0)
    with np.errstate(invalid="ignore"):
        along = np.mod(lon - (west - margin), 360.0)
        return np.asarray((along <= width + 2 * margin) & (lat >= south - margin) & (lat <= north + margin),
                          dtype=bool)


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

    def area_text(self) -> str | None:
        """The target's area of use as a reason states it; None when PROJ gives none."""
        area = _area_of_use(self.target)
        if area is None:
            return None
        west, south, east, north, name = area
        return (f"outside the area of use of {self.target} ({name}: "
                f"lon {west:g}..{east:g}, lat {south:g}..{north:g}, ± {AREA_MARGIN_DEG:g}°)")

    def outside_area(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Finite positions outside the target's area of use ± :data:`AREA_MARGIN_DEG` (none when PROJ gives no area).

        Examples
        --------
        >>> import numpy as np
        >>> p = Projection("EPSG:4326", "EPSG:32616")   # UTM 16N: 90°W to 84°W
        >>> p.outside_area(np.array([-87.60, 41.76, -82.0]), np.array([41.76, -87.60, 41.0])).tolist()
        [False, True, False]
        """
        area = _area_of_use(self.target)
        finite = np.isfinite(lon) & np.isfinite(lat)
        if area is None:
            return np.zeros(len(lon), dtype=bool)
        return np.asarray(finite & ~_inside(lon, lat, area[:4], AREA_MARGIN_DEG), dtype=bool)

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
    chosen = utm_crs_for(float(lon), float(lat))
    # The median of a few scattered points can fall between them (Chicago and Sydney: the Indian Ocean), in a
    # zone that holds none of them, and every point would then be refused as outside it. When the median's
    # zone holds under half of the points, the zone holding the most does (a tie: the one met first).
    if src.is_geographic:
        s_lon, s_lat = sample[:, 0], sample[:, 1]
    else:
        s_lon, s_lat = _transformer(source, "EPSG:4326").transform(sample[:, 0], sample[:, 1], errcheck=False)
    s_lon, s_lat = np.asarray(s_lon, dtype=np.float64), np.asarray(s_lat, dtype=np.float64)
    on_earth = np.isfinite(s_lon) & np.isfinite(s_lat) & (np.abs(s_lon) <= 180) & (np.abs(s_lat) <= 90)
    if on_earth.any():
        codes = (np.where(s_lat[on_earth] >= 0, 32600, 32700)
                 + (np.floor((s_lon[on_earth] + 180.0) / 6.0).astype(np.int64) % 60 + 1))
        values, first, counts = np.unique(codes, return_index=True, return_counts=True)
        held = dict(zip(values.tolist(), counts.tolist(), strict=True))
        if 2 * held.get(int(chosen.split(":")[1]), 0) < len(codes):
            best = max(range(len(values)), key=lambda i: (counts[i], -first[i]))
            chosen = f"EPSG:{int(values[best])}"
    return Projection(source, chosen)
