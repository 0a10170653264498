"""Layouts: declarative descriptions of how a source file maps onto the incident model.

A layout is a TOML document. The built-in layouts (``ingest/layouts/*.toml``)
describe the exports analysts meet; a user writes one for their own records
system and passes it with ``--mapping``. Every key is documented in
``docs/ingest.md``; a minimal mapping::

    [source]
    name = "my_rms"
    timezone = "America/Chicago"   # wall-clock times without an offset are read here
    crs = "EPSG:4326"              # CRS of the x/y columns

    [columns]
    incident_id = "case_no"
    offense = "offense"
    occurred_from = { column = "date", format = "%m/%d/%Y %H:%M" }
    x = "lon"
    y = "lat"

    [offenses]
    "BURGLARY" = "burglary"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crimelens.domain import OFFENSE_CATEGORIES, Source
from crimelens.errors import NotFoundError, SchemaError

__all__ = ["Layout", "TimeSpec", "builtin_layouts", "detect_layout", "load_layout"]

_RESOLUTIONS = ("exact", "minute", "hour", "day", "month")


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """How one time field is read.

    ``column`` with ``format`` (a strptime pattern, or ``"iso"`` for ISO-8601),
    or ``parts`` naming year/month/day/hour/minute columns. ``resolution``
    turns a day- or month-only value into a window. ``ignore_offset`` reads a
    value that carries a (false) offset as local wall-clock time.
    """

    column: str | None = None
    format: str = "iso"
    parts: dict[str, str] = field(default_factory=dict)
    resolution: str = "exact"
    ignore_offset: bool = False
    require_offset: bool = False
    midnight_is_unknown: bool = False

    @classmethod
    def parse(cls, raw: Any, *, where: str) -> TimeSpec:
        if isinstance(raw, str):
            return cls(column=raw)
        if not isinstance(raw, dict):
            raise SchemaError(f"{where}: got {raw!r}; expected a column name or a table")
        spec = cls(
            column=raw.get("column"),
            format=str(raw.get("format", "iso")),
            parts={str(k): str(v) for k, v in dict(raw.get("parts", {})).items()},
            resolution=str(raw.get("resolution", "exact")),
            ignore_offset=bool(raw.get("ignore_offset", False)),
            require_offset=bool(raw.get("require_offset", False)),
            midnight_is_unknown=bool(raw.get("midnight_is_unknown", False)),
        )
        if spec.resolution not in _RESOLUTIONS:
            raise SchemaError(f"{where}.resolution: got {spec.resolution!r}; expected one of {_RESOLUTIONS}")
        if spec.column is None and not spec.parts:
            raise SchemaError(f"{where}: expected 'column' or 'parts'")
        if spec.parts and not {"year", "month"} <= set(spec.parts):
            raise SchemaError(f"{where}.parts: got {sorted(spec.parts)}; expected at least year and month")
        return spec

    def columns(self) -> list[str]:
        return [self.column] if self.column else list(self.parts.values())


@dataclass(frozen=True, slots=True)
class Layout:
    """A parsed layout (mapping). Build with :func:`load_layout` or :meth:`from_toml`."""

    name: str
    text: str  # the TOML source, recorded verbatim in the provenance
    kind: str = "csv"  # csv | parquet | geojson | shapefile | gpkg
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    names: tuple[str, ...] = ()  # column names for a headerless file
    timezone: str = "UTC"
    crs: str = "EPSG:4326"
    crs_column: str | None = None  # per-file CRS from a column (canonical layout)
    target_crs: str | None = None
    dataset: str | None = None
    detect: tuple[str, ...] = ()
    detect_exact: bool = False
    notes: str = ""
    incident_id: str | None = None
    id_duplicates: str = "quarantine"  # quarantine | number
    id_missing: str = "quarantine"  # quarantine | line (FILE:LINE, as for a layout without ids)
    offense: str | None = None
    offense_value: str | None = None  # a constant offense for single-offense files
    offense_raw_column: str | None = None
    occurred_from: TimeSpec | None = None
    occurred_to: TimeSpec | None = None
    reported_at: TimeSpec | None = None
    x: str | None = None
    y: str | None = None
    lon: str | None = None
    lat: str | None = None
    geometry: bool = False  # x/y from the file's point geometry
    bin_column: str | None = None  # location by grid bin (Oakland)
    bin_grid: str | None = None
    premise: str | None = None
    area: str | None = None
    narrative: str | None = None
    source_column: str | None = None
    source_map: dict[str, str] = field(default_factory=dict)
    source_value: str = "unknown"
    offenses: dict[str, str] = field(default_factory=dict)
    offense_default: str | None = None
    offense_passthrough: bool = False  # values already in the normalised vocabulary
    mo: tuple[str, ...] | None = None  # None: every unmapped column
    audit: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    zero_is_missing: bool = True
    bbox: tuple[float, float, float, float] | None = None  # lon/lat bounds for "out of area"
    unknown_location: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suppressed_note: str = ""

    @classmethod
    def from_toml(cls, text: str, *, origin: str = "<mapping>") -> Layout:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SchemaError(f"{origin}: not valid TOML: {exc}") from exc
        src = dict(doc.get("source", {}))
        cols = dict(doc.get("columns", {}))
        attrs = dict(doc.get("attributes", {}))
        val = dict(doc.get("validate", {}))
        offs = {str(k).strip().upper(): str(v) for k, v in dict(doc.get("offenses", {})).items()}
        default = offs.pop("DEFAULT", None)
        for raw, cat in offs.items():
            if cat not in OFFENSE_CATEGORIES:
                raise SchemaError(
                    f"{origin} [offenses] {raw!r}: got category {cat!r}; expected one of "
                    f"{sorted(OFFENSE_CATEGORIES)}"
                )
        if default is not None and default not in OFFENSE_CATEGORIES:
            raise SchemaError(f"{origin} [offenses] default: got {default!r}; expected a category")
        name = str(src.get("name", Path(origin).stem))
        tz = str(src.get("timezone", "UTC"))
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SchemaError(f"{origin} [source] timezone: got {tz!r}; expected an IANA zone such as 'America/Chicago'") from exc

        def _time(key: str) -> TimeSpec | None:
            return TimeSpec.parse(cols[key], where=f"{origin} [columns] {key}") if key in cols else None

        occurred = _time("occurred_from") or _time("occurred")
        offense = cols.get("offense")
        offense_value = None
        if isinstance(offense, dict):
            offense_value = offense.get("value")
            offense = offense.get("column")
        if offense_value is not None and offense_value not in OFFENSE_CATEGORIES:
            raise SchemaError(f"{origin} [columns] offense.value: got {offense_value!r}; expected a category")
        ident = cols.get("incident_id")
        id_dups, id_missing = "quarantine", "quarantine"
        if isinstance(ident, dict):
            id_dups = str(ident.get("duplicates", "quarantine"))
            id_missing = str(ident.get("missing", "quarantine"))
            ident = ident.get("column")
        source = cols.get("source")
        source_column, source_map, source_value = None, {}, "unknown"
        if isinstance(source, dict):
            source_column = source.get("column")
            source_map = {str(k).strip().upper(): str(Source(v)) for k, v in dict(source.get("map", {})).items()}
            source_value = str(Source(source.get("value", "unknown")))
        elif isinstance(source, str):
            source_column = source
        bins = cols.get("bin")
        layout = cls(
            name=name,
            text=text,
            kind=str(src.get("kind", "csv")),
            delimiter=str(src.get("delimiter", ",")),
            encoding=str(src.get("encoding", "utf-8")),
            header=bool(src.get("header", True)),
            names=tuple(src.get("names", ())),
            timezone=tz,
            crs=str(src.get("crs", "EPSG:4326")),
            crs_column=src.get("crs_column"),
            target_crs=src.get("target_crs"),
            dataset=src.get("dataset"),
            detect=tuple(src.get("detect", ())),
            detect_exact=bool(src.get("detect_exact", False)),
            notes=str(src.get("notes", "")),
            incident_id=ident,
            id_duplicates=id_dups,
            id_missing=id_missing,
            offense=offense,
            offense_value=offense_value,
            offense_raw_column=cols.get("offense_raw"),
            occurred_from=occurred,
            occurred_to=_time("occurred_to"),
            reported_at=_time("reported_at"),
            x=cols.get("x"),
            y=cols.get("y"),
            lon=cols.get("lon"),
            lat=cols.get("lat"),
            geometry=bool(cols.get("geometry", False)),
            bin_column=bins.get("column") if isinstance(bins, dict) else None,
            bin_grid=bins.get("grid") if isinstance(bins, dict) else None,
            premise=cols.get("premise"),
            area=cols.get("area"),
            narrative=cols.get("narrative"),
            source_column=source_column,
            source_map=source_map,
            source_value=source_value,
            offenses=offs,
            offense_default=default,
            offense_passthrough=bool(doc.get("offense_passthrough", src.get("offense_passthrough", False))),
            mo=tuple(attrs["mo"]) if "mo" in attrs else None,
            audit=tuple(attrs.get("audit", ())),
            drop=tuple(attrs.get("drop", ())),
            zero_is_missing=bool(val.get("zero_is_missing", True)),
            bbox=_bbox(val.get("bbox"), origin),
            unknown_location={str(k): tuple(v) for k, v in dict(val.get("unknown_location", {})).items()},
            suppressed_note=str(val.get("suppressed_note", "")),
        )
        layout._check(origin)
        return layout

    def _check(self, origin: str) -> None:
        if self.kind not in ("csv", "parquet", "geojson", "shapefile", "gpkg"):
            raise SchemaError(f"{origin} [source] kind: got {self.kind!r}; expected csv, parquet, geojson, shapefile or gpkg")
        if self.occurred_from is None:
            raise SchemaError(f"{origin} [columns]: no 'occurred_from' (or 'occurred'); expected the column holding when the incident happened")
        if self.offense is None and self.offense_value is None:
            raise SchemaError(f"{origin} [columns]: no 'offense'; expected a column or {{ value = \"burglary\" }}")
        has_xy = self.x is not None and self.y is not None
        has_ll = self.lon is not None and self.lat is not None
        if not (has_xy or has_ll or self.geometry or self.bin_column):
            raise SchemaError(f"{origin} [columns]: no location; expected x and y, lon and lat, geometry = true, or bin")
        if self.id_duplicates not in ("quarantine", "number"):
            raise SchemaError(f"{origin} [columns] incident_id.duplicates: got {self.id_duplicates!r}; expected 'quarantine' or 'number'")
        if self.id_missing not in ("quarantine", "line"):
            raise SchemaError(f"{origin} [columns] incident_id.missing: got {self.id_missing!r}; expected 'quarantine' or "
                              "'line' (an id FILE:LINE for a row without one)")

    def mapped_columns(self) -> set[str]:
        names: set[str] = set()
        for value in (self.incident_id, self.offense, self.offense_raw_column, self.x, self.y, self.lon, self.lat,
                      self.premise, self.area, self.narrative, self.source_column, self.bin_column, self.crs_column):
            if value:
                names.add(value)
        for spec in (self.occurred_from, self.occurred_to, self.reported_at):
            if spec is not None:
                names.update(spec.columns())
        return names


def _bbox(value: Any, origin: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise SchemaError(f"{origin} [validate] bbox: got {value!r}; expected [lon_min, lat_min, lon_max, lat_max]")
    a, b, c, d = (float(v) for v in value)
    return (a, b, c, d)


def builtin_layouts() -> dict[str, Layout]:
    """The layouts that ship with crimelens, by name."""
    found: dict[str, Layout] = {}
    folder = resources.files("crimelens.ingest") / "layouts"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            layout = Layout.from_toml(entry.read_text(encoding="utf-8"), origin=f"layouts/{entry.name}")
            found[layout.name] = layout
    return found


def load_layout(*, format: str | None = None, mapping: str | Path | None = None) -> Layout | None:
    """The layout named by ``format`` or read from the ``mapping`` file (None: detect later)."""
    if mapping is not None:
        path = Path(mapping)
        if not path.exists():
            raise NotFoundError(f"mapping file {str(path)!r} does not exist")
        return Layout.from_toml(path.read_text(encoding="utf-8"), origin=str(path))
    if format is None:
        return None
    layouts = builtin_layouts()
    if format == "generic":
        raise SchemaError("--format generic needs a mapping file: pass --mapping FILE.toml (see docs/ingest.md)")
    if format not in layouts:
        raise SchemaError(f"--format: got {format!r}; expected one of {sorted([*layouts, 'generic'])}")
    return layouts[format]


def detect_layout(header: list[str], *, origin: str) -> Layout:
    """Pick the built-in layout whose detection columns the header has (most specific wins)."""
    have = {h.strip() for h in header}
    best: Layout | None = None
    for layout in builtin_layouts().values():
        need = set(layout.detect)
        if not need:
            continue
        ok = need == have if layout.detect_exact else need <= have
        if ok and (best is None or len(need) > len(best.detect)):
            best = layout
    if best is None:
        sep = next((f" (the header looks {name}-separated: a mapping sets delimiter = {char!r} under [source])"
                    for char, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))
                    if len(header) == 1 and char in header[0]), "")
        raise SchemaError(
            f"{origin}: cannot tell the layout from its header {[h.strip() for h in header][:12]}; expected one of the "
            f"built-in layouts {sorted(builtin_layouts())} — pass --format NAME, or --mapping FILE.toml "
            f"for your own records system (see docs/ingest.md){sep}"
        )
    return best
