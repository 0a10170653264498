"""Exports of a risk surface for GIS (GeoJSON, GeoPackage, CSV) and figures (PNG map, coverage curves).

* GeoPackage: cell polygons in the data's CRS (e.g. UTM 16N), fields ``cell``,
  ``cell_id``, ``risk``, ``rank``, ``flagged``, ``lon``, ``lat`` (cell centre).
* GeoJSON: the same, reprojected to WGS84 lon/lat as RFC 7946 requires; a cell crossing the
  antimeridian is split there into a MultiPolygon (RFC 7946 section 3.1.9).
* CSV: the header on the first line, then one row per cell with ``wkt`` (the polygon in the
  data CRS), ``crs``, the centre's ``lon``/``lat`` and the fields above; beside it ``.csvt``
  (GDAL's column types) and ``.prj`` (the CRS), which GDAL readers (QGIS, ogr2ogr) use.

All three open in QGIS. Every file carries the model, the window, the study-area
rule and a mark (e.g. ``research — not for operational use``): as layer metadata
in GeoPackage, as a top-level ``metadata`` member of the GeoJSON (a foreign member,
which QGIS ignores), as columns of the CSV after ``crs`` (the same value on every row;
``#`` lines before the header made GDAL read ``#`` as the first column's name). A stored run's
files add its run id, dataset, offense, time zone, the window on that zone's clocks
(with its offset) and the run's warnings (``extra``).

``flagged`` marks the top ``coverage`` of cells by risk (ties by ascending cell
index) that have an expected count above 0: a cell with no expected incident is
never presented as flagged, so a forecast whose every risk is 0 flags none (the
cut would otherwise fall on the lowest cell indices). :meth:`RiskSurface.flagged`
and the scores keep the top ``k`` cells whatever their risk.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens._figures import plain_text
from crimelens._gis import write_gis_csv
from crimelens.domain._time import in_zone
from crimelens.errors import InvalidParameterError
from crimelens.forecast._surface import RiskSurface

__all__ = ["FORMATS", "export_surface", "format_span", "format_start", "plot_cells", "plot_coverage_curves", "plot_surface",
           "presented_flags", "split_at_antimeridian", "surface_frame", "write_cells"]

FORMATS = ("geojson", "gpkg", "csv")


def _lonlat(xy: NDArray[np.float64], crs: str | None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if crs is None:
        return np.full(len(xy), np.nan), np.full(len(xy), np.nan)
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def surface_frame(surface: RiskSurface, coverage: float = 0.05) -> pd.DataFrame:
    """One row per cell: ``cell, cell_id, x_m, y_m, lon, lat, risk, rank, flagged`` (rank order)."""
    area = surface.area
    lon, lat = _lonlat(area.centres_m, area.crs)
    frame = pd.DataFrame({
        "cell": np.arange(area.n_cells, dtype=np.int64),
        "cell_id": area.cell_ids,
        "x_m": area.centres_m[:, 0],
        "y_m": area.centres_m[:, 1],
        "lon": lon,
        "lat": lat,
        "risk": surface.intensity,
        "rank": surface.rank,
        "flagged": presented_flags(surface, coverage),
    })
    return frame.sort_values("rank", kind="stable").reset_index(drop=True)


def presented_flags(surface: RiskSurface, coverage: float) -> NDArray[np.bool_]:
    """The cells shown as flagged: the top ``coverage`` (:meth:`RiskSurface.flagged`) less any whose
    expected count is 0, which only the tie rule (ascending cell index) would put there.

    >>> from crimelens.domain import Grid, TimeWindow
    >>> from crimelens.forecast._area import StudyArea
    >>> area = StudyArea.square(Grid(0.0, 0.0, 100.0, 4, 1))
    >>> s = RiskSurface(area, np.array([0.0, 0.3, 0.0, 0.0]), TimeWindow.starting("2022-10-03", days=1), "m")
    >>> s.flagged(0.5).tolist(), presented_flags(s, 0.5).tolist()
    ([True, True, False, False], [False, True, False, False])
    """
    out: NDArray[np.bool_] = surface.flagged(coverage) & (surface.intensity > 0)
    return out


def _metadata(surface: RiskSurface, coverage: float, mark: str | None,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "model": surface.model,
        "window": f"{surface.window.start.isoformat()}/{surface.window.end.isoformat()}",
        "study_area": json.dumps(surface.area.describe(), sort_keys=True, default=str),
        "coverage": f"{coverage:g}",
        "risk_units": "expected recorded incidents per cell in the window",
        "tie_rule": "rank by descending risk; ties by ascending cell index",
        "mark": mark or "",
        "output_hash": surface.hash(),
        **dict(extra or {}),
    }


def export_surface(surface: RiskSurface, path: str | Path, *, coverage: float = 0.05,
                   fmt: str | None = None, mark: str | None = None,
                   extra: Mapping[str, str] | None = None) -> Path:
    """Write the surface as GeoJSON, GeoPackage or CSV (``fmt`` from the suffix when None); ``extra``
    adds metadata (a stored run's id, dataset, offense, local window and warnings)."""
    out = Path(path)
    kind = (fmt or out.suffix.lstrip(".")).lower()
    kind = {"json": "geojson", "geopackage": "gpkg"}.get(kind, kind)
    if kind not in FORMATS:
        raise InvalidParameterError(
            f"export {out.name!r}: got format {kind!r}; expected one of {list(FORMATS)} "
            "(from --format or the file suffix .geojson, .gpkg, .csv)"
        )
    frame = surface_frame(surface, coverage)
    polys = surface.area.polygons()
    geoms = np.array([polys[c] for c in frame["cell"].tolist()], dtype=object)
    return write_cells(out, kind, frame, geoms, surface.area.crs, _metadata(surface, coverage, mark, extra))


def write_cells(out: Path, kind: str, frame: pd.DataFrame, geoms: NDArray[Any], crs: str | None,
                meta: dict[str, str]) -> Path:
    """Write cells (``surface_frame``'s columns, one polygon each in ``crs``) as ``kind``: CSV with WKT and the
    metadata as columns (:func:`_write_csv`), GeoJSON in lon/lat, or a GeoPackage layer ``forecast`` in ``crs``
    with the metadata on the layer. What QGIS opens."""
    import shapely

    out.parent.mkdir(parents=True, exist_ok=True)
    if json.loads(meta.get("study_area") or "{}").get("kind") == "h3":
        # an H3 index is a 64-bit number above 2**53: JavaScript (and spreadsheet) readers round it, so it is
        # written as the H3 string every H3 library reads (e.g. 8926e50b0b3ffff)
        import h3

        frame = frame.assign(cell_id=[h3.int_to_str(int(c)) for c in frame["cell_id"].tolist()])
    if kind == "csv":
        _write_csv(out, frame.assign(wkt=shapely.to_wkt(geoms, rounding_precision=3), crs=crs or ""), crs, meta)
        return out
    from pyogrio.raw import write

    if kind == "geojson" and crs is not None:
        from pyproj import Transformer

        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        geoms = split_at_antimeridian(
            shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))))
        crs = "EPSG:4326"
    if out.exists():
        out.unlink()
    fields = ["cell", "cell_id", "risk", "rank", "flagged", "lon", "lat", "x_m", "y_m"]
    data = [frame[f].to_numpy() for f in fields]
    data[4] = data[4].astype(np.int32)  # booleans as 0/1 integers (GeoJSON and GPKG both read them)
    split = kind == "geojson" and bool((shapely.get_type_id(geoms) == 6).any())  # MultiPolygons among them
    write(out, shapely.to_wkb(geoms), data, fields, driver="GeoJSON" if kind == "geojson" else "GPKG",
          geometry_type="Unknown" if split else "Polygon", crs=crs, layer="forecast" if kind == "gpkg" else None,
          layer_metadata=meta if kind == "gpkg" else None)
    if kind == "geojson":  # the metadata as a foreign member (RFC 7946 section 6.1), which GIS readers ignore
        doc = json.loads(out.read_text(encoding="utf-8"))
        doc["metadata"] = dict(meta)
        out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return out


def split_at_antimeridian(geoms: NDArray[Any]) -> NDArray[Any]:
    """Lon/lat polygons that cross the antimeridian, split there into a MultiPolygon (RFC 7946 section 3.1.9).

    A cell reprojected to lon/lat next to 180° has corners at 179.99 and -179.99; drawn as they are, its
    ring runs the other way round the Earth (a band 359.98° wide). A polygon whose longitudes span more
    than 180° is taken to cross: its western longitudes are moved by 360°, and it is cut at 180° into a
    part ending at 180 and a part starting at -180. Every other polygon is returned as it is.

    Examples
    --------
    >>> import shapely
    >>> cell = shapely.Polygon([(179.99, -16.8), (-179.99, -16.8), (-179.99, -16.7), (179.99, -16.7)])
    >>> [round(v, 2) for v in split_at_antimeridian(np.array([cell], dtype=object))[0].bounds]
    [-180.0, -16.8, 180.0, -16.7]
    >>> split_at_antimeridian(np.array([cell], dtype=object))[0].geom_type
    'MultiPolygon'
    """
    import shapely

    out = np.array(geoms, dtype=object, copy=True)
    for i, geom in enumerate(out):
        if geom is None or geom.is_empty:
            continue
        west, _, east, _ = geom.bounds
        if east - west <= 180.0:
            continue
        shifted = shapely.transform(geom, lambda c: np.column_stack([np.where(c[:, 0] < 0, c[:, 0] + 360.0, c[:, 0]),
                                                                     c[:, 1]]))
        if shifted.bounds[2] <= 180.0:  # a corner at -180 exactly, the rest east of it: one side after all
            out[i] = shifted
            continue
        eastern = shapely.intersection(shifted, shapely.box(-180.0, -90.0, 180.0, 90.0))
        western = shapely.intersection(shifted, shapely.box(180.0, -90.0, 540.0, 90.0))
        western = shapely.transform(western, lambda c: np.column_stack([c[:, 0] - 360.0, c[:, 1]]))
        parts = [p for g in (eastern, western) for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
        out[i] = shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else geom)
    return out


#: GDAL's type (``.csvt``) of each cell column of the CSV; the metadata columns are text
_CSV_TYPES = {"cell": "Integer", "cell_id": "Integer64", "x_m": "Real", "y_m": "Real", "lon": "Real", "lat": "Real",
              "risk": "Real", "rank": "Integer", "flagged": "String", "wkt": "WKT", "crs": "String"}


def _write_csv(out: Path, body: pd.DataFrame, crs: str | None, meta: Mapping[str, str]) -> None:
    """The CSV (:func:`crimelens._gis.write_gis_csv`): the header on the first line, then one row per cell with
    the metadata as columns; beside it ``.csvt`` (so ``risk`` reads as a number) and ``.prj`` (the CRS of
    ``wkt``)."""
    types = dict(_CSV_TYPES)
    if body["cell_id"].dtype == object:  # H3 strings
        types["cell_id"] = "String"
    write_gis_csv(out, body, types, crs, meta)


def format_span(days: float) -> str:
    """A forecast window's length for people: hours below a day, days otherwise.

    >>> format_span(1 / 3), format_span(0.5), format_span(1.0), format_span(7)
    ('8 hours', '12 hours', '1 day', '7 days')
    """
    if days < 1:
        return f"{round(days * 24, 2):g} hours"
    return f"{days:g} day" + ("" if days == 1 else "s")


def format_start(start: datetime, zone: str | None = None) -> str:
    """A window's start for a map title, in ``zone`` (the dataset's; UTC if None or unknown).

    >>> from datetime import UTC
    >>> format_start(datetime(2018, 1, 1, 6, tzinfo=UTC), "America/Chicago")
    '2018-01-01 00:00 America/Chicago'
    >>> format_start(datetime(2018, 1, 1, 6, tzinfo=UTC))
    '2018-01-01 06:00 UTC'
    """
    local, name = in_zone(start, zone)
    return f"{local:%Y-%m-%d %H:%M} {name}"


@plain_text
def plot_surface(surface: RiskSurface, path: str | Path, *, coverage: float = 0.05,
                 mark: str | None = None, zone: str | None = None, caption: str | None = None) -> Path:
    """A PNG map: risk per cell (linear, from 0) with the flagged cells outlined (none of risk 0: see
    :func:`presented_flags`); square cells as an image, other cells (H3 hexagons) as their own polygons,
    so they tile as they do in QGIS. The title gives the window's start in ``zone`` (the dataset's; UTC
    if None) and ``caption`` (e.g. the dataset, offense and run id) below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon as MplPolygon

    area = surface.area
    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    risk = surface.intensity
    vmax = float(risk.max()) if risk.max() > 0 else 1.0
    shown: Any
    if area.kind == "square" and area.grid is not None:
        g = area.grid
        img = np.full(g.n_cells, np.nan)
        img[area.cell_ids] = risk
        shown = ax.imshow(img.reshape(g.ny, g.nx), origin="lower", cmap="magma_r",
                          extent=(g.x0, g.x0 + g.nx * g.cell_m, g.y0, g.y0 + g.ny * g.cell_m),
                          vmin=0.0, vmax=vmax, interpolation="nearest")
    polys = area.polygons()
    if not (area.kind == "square" and area.grid is not None):
        shown = PatchCollection([MplPolygon(np.asarray(p.exterior.coords), closed=True) for p in polys],
                                cmap="magma_r", edgecolor="none")
        shown.set_array(np.asarray(risk, dtype=np.float64))
        shown.set_clim(0.0, vmax)
        ax.add_collection(shown)
        ax.autoscale_view()
    flagged = np.flatnonzero(presented_flags(surface, coverage))
    patches = [MplPolygon(np.asarray(polys[c].exterior.coords), closed=True) for c in flagged]
    ax.add_collection(PatchCollection(patches, facecolor="none", edgecolor="#00a0ff", linewidth=0.8))
    title = (f"{surface.model}: {format_start(surface.window.start, zone)} + {format_span(surface.window.days)}\n"
             f"top {coverage:.1%} of {area.n_cells} cells outlined"
             + ("" if len(flagged) == surface.n_flagged(coverage) else f" ({len(flagged)} with risk above 0)")
             + (f"\n{caption}" if caption else ""))
    return _save_map(fig, ax, shown, title, area.crs, mark, path)


def _save_map(fig: Any, ax: Any, shown: Any, title: str, crs: str | None, mark: str | None,
              path: str | Path) -> Path:
    """Colour bar, title, axes and the research mark of a risk map; written as PNG and closed."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig.colorbar(shown, ax=ax, shrink=0.7, label="expected recorded incidents per cell")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    for axis in (ax.xaxis, ax.yaxis):  # kilometres, at most six ticks: UTM metres in full overlap
        axis.set_major_locator(MaxNLocator(6))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:,.6g}"))
    ax.set_xlabel(f"x (km, {crs})")
    ax.set_ylabel("y (km)")
    if mark:
        fig.text(0.01, 0.01, mark, fontsize=7, color="#a00")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


@plain_text
def plot_cells(geoms: NDArray[Any], risk: NDArray[np.float64], flagged: NDArray[np.bool_], path: str | Path, *,
               title: str, crs: str | None, mark: str | None = None) -> Path:
    """A PNG map of cells given as polygons (a stored run: squares or H3 hexagons): risk per cell with
    the flagged cells outlined, as :func:`plot_surface` draws a surface."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon as MplPolygon

    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    patches = [MplPolygon(np.asarray(g.exterior.coords), closed=True) for g in geoms]
    vmax = float(risk.max()) if len(risk) and risk.max() > 0 else 1.0
    cells = PatchCollection(patches, cmap="magma_r", edgecolor="none")
    cells.set_array(np.asarray(risk, dtype=np.float64))
    cells.set_clim(0.0, vmax)
    ax.add_collection(cells)
    ax.add_collection(PatchCollection([p for p, f in zip(patches, flagged, strict=True) if f], facecolor="none",
                                      edgecolor="#00a0ff", linewidth=0.8))
    ax.autoscale_view()
    return _save_map(fig, ax, cells, title, crs, mark, path)


@plain_text
def plot_coverage_curves(curves: Mapping[str, Sequence[float]], coverages: Sequence[float],
                         path: str | Path, *, metric: str = "hit rate", title: str = "",
                         intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                         ) -> Path:
    """Hit rate (or PAI) against the share of the area flagged, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    x = 100 * np.asarray(coverages, dtype=np.float64)
    for name, values in curves.items():
        ceiling = name.startswith("ceiling:")  # the perfect-rate bound: dashed black, as on the page
        style: dict[str, Any] = {"color": "#111827", "linestyle": "--"} if ceiling else {"marker": "o"}
        (line,) = ax.plot(x, values, markersize=3, label=name, **style)
        if intervals and name in intervals:
            lo, hi = intervals[name]
            ax.fill_between(x, lo, hi, alpha=0.15, color=line.get_color())  # the band in its line's colour
    ax.set_xlabel("share of the study area flagged (%)")
    ax.set_ylabel(metric)
    # wrapped to the plot's width: a long study-area rule would otherwise widen the figure past its axes
    ax.set_title("\n".join(textwrap.fill(line, 95) for line in title.splitlines()), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


