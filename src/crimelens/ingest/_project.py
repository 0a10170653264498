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

Distortion: every distance downstream (150 m cells, Knox bands, linkage radii) is
read in the target CRS's metres, which are true metres only where its scale factor
is 1. :meth:`Projection.scale_range` measures the scale over the data's extent
(Tissot's indicatrix from PROJ's ``get_factors``: the largest and smallest scale in
any direction, at the corners, edge midpoints and centre of the landed points' box). Above :data:`MAX_SCALE_ERROR` the ingest warns and names a
CRS that suits (the data's UTM zone); the figures are kept in the provenance. Web
Mercator (EPSG:3857) at Chicago's latitude scales by 1.338-1.346; the data's UTM
zone (EPSG:32616) by 0.9996; a UTM zone two zones west (EPSG:32614) by 1.010-1.011.
"""


from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Proj, Transformer
from pyproj.transformer import TransformerGroup

from crimelens.errors import SchemaError

__all__ = ["AREA_MARGIN_DEG", "MAX_SCALE_ERROR", "Projection", "choose_projection", "local_utm", "scale_error",
           "utm_crs_for"]

#: Degrees by which a CRS's area of use is widened before a point counts as implausible for it.
AREA_MARGIN_DEG = 3.0

#: Largest scale error (|scale - 1|) of the target CRS over the data's extent before the ingest warns.
#: A UTM zone keeps it under 0.1 % across its 6 degrees (0.04 % at the central meridian), a US state
#: plane zone under 0.01 %; 1 % is ten times that, so a CRS fit for the place passes, while it moves a
#: 150 m cell edge by 1.5 m, below what the coordinates themselves resolve (4 decimals of a degree,
#: 8-11 m; block-level geocoding). Web Mercator at 42 degrees N is 34 % off.
MAX_SCALE_ERROR = 0.01


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
def _proj(crs: str) -> Proj:
    return Proj(CRS.from_user_input(crs))


def _scale_range(crs: str, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[float, float] | None:
    """(smallest, largest) scale factor of ``crs`` at the points, in any direction (Tissot's indicatrix)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")  # a point outside the projection's domain gives inf/NaN: left out
        try:
            factors = _proj(crs).get_factors(lon, lat, errcheck=False)
        except Exception:  # pyproj raises ProjError for a CRS without factors; the check is then skipped
            return None
    big = np.asarray(factors.tissot_semimajor, dtype=np.float64)
    small = np.asarray(factors.tissot_semiminor, dtype=np.float64)
    good = np.isfinite(big) & np.isfinite(small) & (big > 0) & (small > 0)
    if not good.any():
        return None
    return float(small[good].min()), float(big[good].max())


def scale_error(scale: tuple[float, float] | None) -> float | None:
    """The largest |scale - 1| of a :meth:`Projection.scale_range`: 0.346 for Web Mercator at Chicago."""
    if scale is None:
        return None
    return max(abs(scale[0] - 1.0), abs(scale[1] - 1.0))


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

    def scale_range(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[float, float] | None:
        """(smallest, largest) scale factor of the target CRS over the extent of the positions (WGS84
        lon/lat), in any direction: Tissot's indicatrix at the corners, edge midpoints and centre of
        their box. ``None`` when there is no finite position or PROJ gives no factors.

        Examples
        --------
        >>> import numpy as np
        >>> lon, lat = np.array([-87.94, -87.52]), np.array([41.64, 42.02])   # Chicago
        >>> [round(k, 3) for k in Projection("EPSG:4326", "EPSG:3857").scale_range(lon, lat)]
        [1.338, 1.346]
        >>> [round(k, 4) for k in Projection("EPSG:4326", "EPSG:32616").scale_range(lon, lat)]
        [0.9996, 0.9997]
        """
        keep = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        if not keep.any():
            return None
        lo, la = lon[keep], lat[keep]
        xs = np.array([lo.min(), (lo.min() + lo.max()) / 2, lo.max()])
        ys = np.array([la.min(), (la.min() + la.max()) / 2, la.max()])
        gx, gy = np.meshgrid(xs, ys)
        return _scale_range(self.target, gx.ravel(), gy.ravel())

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


def _metric_units(crs: CRS) -> list[str]:
    """The units of a CRS's horizontal axes."""
    return [str(a.unit_name) for a in crs.axis_info[:2]]


def choose_projection(source: str, is_lonlat: NDArray[np.bool_], xy: NDArray[np.float64],
                      ok: NDArray[np.bool_], *, target: str | None) -> Projection:
    """The projection to a metric CRS: to ``target`` if given (refused unless it is projected and in
    metres), else to ``source`` when that is projected in metres and true to scale over the data (scale
    error at most :data:`MAX_SCALE_ERROR`: a UTM or state plane zone), else to the data's UTM zone
    (:func:`local_utm`). Web Mercator input is thus projected to the data's UTM zone: kept, its 150 m cells
    would be 119 m on the ground at San Francisco."""
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
        units = _metric_units(dst)
        if not dst.is_projected or any(u not in ("metre", "meter") for u in units):
            # every distance downstream (cell_m, bandwidth_m, Knox bands) is read as metres
            raise SchemaError(f"target CRS {target!r} ({dst.name}) has axes in {' and '.join(dict.fromkeys(units)) or 'no unit'}; "
                              "expected a projected CRS in metres, e.g. the data's UTM zone (EPSG:326xx/327xx)")
        return Projection(source, target)
    if (src.is_projected and src.axis_info and all(a.unit_name in ("metre", "meter") for a in src.axis_info)
            and _true_to_scale(source, xy, ok)):
        return Projection(source, source)
    return Projection(source, local_utm(source, xy, ok))


def _true_to_scale(source: str, xy: NDArray[np.float64], ok: NDArray[np.bool_]) -> bool:
    """Whether a projected CRS's metres are ground metres over the positions ``xy[ok]`` (in ``source``): its
    scale error there is at most :data:`MAX_SCALE_ERROR` (a UTM or state plane zone at its place), or cannot
    be measured (no finite position, no factors from PROJ). Web Mercator at San Francisco (scale 1.265) is not."""
    finite = ok & np.isfinite(xy).all(axis=1)
    if not finite.any():
        return True
    lon, lat = _transformer(source, "EPSG:4326").transform(xy[finite, 0], xy[finite, 1], errcheck=False)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    # positions outside the CRS's area of use are quarantined later; they do not decide whether it suits
    inside = ~Projection(source, source).outside_area(lon, lat)
    if inside.any():
        lon, lat = lon[inside], lat[inside]
    error = scale_error(Projection(source, source).scale_range(lon, lat))
    return error is None or error <= MAX_SCALE_ERROR


def local_utm(source: str, xy: NDArray[np.float64], ok: NDArray[np.bool_]) -> str:
    """The UTM zone of the positions ``xy[ok]`` (in ``source``): the zone of their median, unless that
    zone holds under half of them (then the zone holding the most; a tie: the one met first)."""
    src = CRS.from_user_input(source)
    finite = ok & np.isfinite(xy).all(axis=1)
    if not finite.any():
        # nothing lands: any metric CRS will do (the store never sees a position in it)
        return "EPSG:3857" if src.is_geographic else source
    sample = xy[finite]
    if src.is_geographic:
        lon, lat = np.median(sample[:, 0]), np.median(sample[:, 1])
    else:
        lon, lat = _transformer(source, "EPSG:4326").transform(np.median(sample[:, 0]), np.median(sample[:, 1]))
    if not (np.isfinite(lon) and np.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 84):
        swapped = (src.is_geographic and np.isfinite(lon) and np.isfinite(lat) and abs(lat) <= 180
                   and abs(lon) <= 84)
        raise SchemaError(f"cannot choose a metric CRS: the median position ({lon}, {lat}) is not on Earth in {source}"
                          + ("; latitude and longitude swapped? (the pair exchanged is a position)" if swapped else ""))
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
    return chosen
