"""``crimelens ingest``, ``incidents summary``, ``quarantine list``, ``areas load``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    PurposeOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    err_console,
    esc,
    table,
)
from crimelens.cli._lazy import lazy
from crimelens.errors import CrimelensError, InputError

if TYPE_CHECKING:  # checked by mypy as a real import; loaded when a command runs (see cli._lazy)
    from crimelens.services import ingest as svc
else:
    svc = lazy("crimelens.services.ingest")

__all__ = ["register"]

incidents_app = typer.Typer(help="Look at the incidents in the store.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows refused at ingest, with their reasons.", no_args_is_help=True)
areas_app = typer.Typer(help="Area polygons (with population and audit attributes).", no_args_is_help=True)


def ingest(
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH...", help="CSV (optionally .gz), Parquet, GeoJSON, Shapefile (or its .zip), GeoPackage; "
                                "several files, or a folder (every data file under it), go into one dataset.")],
    format: Annotated[str | None, typer.Option("--format", help="Built-in layout; detected from the header if omitted.")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="TOML column mapping for your own records system.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Dataset name in the store (needed for several "
                                                "files).")] = None,
    crs: Annotated[str | None, typer.Option("--crs", help="Target metric CRS, in metres (default: the UTM zone of the "
                                            "data); one whose scale is off by over 1 % over the data is warned "
                                            "about.")] = None,
    db: DbOpt = None,
    purpose: PurposeOpt = "research",
    json_out: JsonOpt = False,
) -> None:
    """Load exports into the store; refused rows go to the quarantine with their reason.

    Each file is its own ingest with its own ledger entry; a file stored before is skipped. On a
    failure the files before it stay stored and the command stops, naming the file.
    """
    files = svc.expand_inputs(paths)
    if len(files) > 1 and dataset is None:
        raise InputError(f"{len(files)} files ({files[0].name}, ...) go into one dataset; expected "
                         "--dataset NAME")
    done: list[dict[str, Any]] = []
    with cli_context(db, create=True) as ctx, Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=json_out or not ctx.settings.progress,
    ) as bar:
        task = bar.add_task("", total=None)
        for i, path in enumerate(files, 1):
            step = f" (file {i} of {len(files)})" if len(files) > 1 else ""
            bar.update(task, description=f"ingesting {esc(path.name)}{step}")
            try:
                summary = svc.ingest_file(ctx, path, actor=cli_actor(ctx.settings), purpose=purpose,
                                          format=format, mapping=mapping, dataset=dataset, crs=crs)
            except CrimelensError as exc:
                if len(files) > 1:
                    kept = (f"the {len(done)} before it are stored" if done else "nothing was stored")
                    exc.args = (f"file {i} of {len(files)}, {path}: {exc}; {kept}, the rest were not read",)
                raise
            except KeyboardInterrupt:  # Ctrl-C: the file's transaction rolled back; one line, exit 130
                before = ("" if not done else "; the file before it is stored" if len(done) == 1
                          else f"; the {len(done)} files before it are stored")
                err_console.print(f"Interrupted while ingesting {esc(path.name)}{step}: nothing of it was stored"
                                  f"{before}. Run the command again to ingest it (a stored file is skipped).",
                                  highlight=False, soft_wrap=True)
                raise typer.Exit(130) from None
            done.append(summary.to_dict())
    if len(done) == 1:
        emit(done[0], json_out, _render_ingest)
        return
    # rows of this run only: a file stored before reports its earlier ingest's counts
    total = {k: sum(d[k] for d in done if not d["already_ingested"]) for k in ("n_read", "n_landed", "n_quarantined")}
    emit({"ok": True, "dataset": done[0]["dataset"], "n_files": len(done), **total,
          "n_already_ingested": sum(bool(d["already_ingested"]) for d in done), "files": done},
         json_out, _render_many)


def _render_many(d: dict[str, Any]) -> None:
    table(f"{d['n_files']} files into dataset {d['dataset']}", ["file", "layout", "read", "landed", "quarantined", "note"],
          [[Path(f["file"]).name, f["reader"], f"{f['n_read']:,}", f"{f['n_landed']:,}", f"{f['n_quarantined']:,}",
            "already stored; unchanged" if f["already_ingested"] else ""] for f in d["files"]])
    console.print(f"read {d['n_read']:,}  landed [green]{d['n_landed']:,}[/]  quarantined [red]{d['n_quarantined']:,}[/]"
                  + (f"  ({d['n_already_ingested']} already stored)" if d["n_already_ingested"] else ""))
    if d["n_quarantined"]:
        console.print(f"[dim]reasons: crimelens quarantine list --dataset {esc(d['dataset'])}[/]")
    for f in d["files"]:
        for warning in f.get("warnings", []):
            console.print(f"[yellow bold]warning[/] ({esc(Path(f['file']).name)}): {esc(warning)}")


def _render_ingest(d: dict[str, Any]) -> None:
    earlier = ""
    if d["already_ingested"]:
        console.print(f"[yellow]{esc(d['file'])}[/] was already ingested into dataset [bold]{esc(d['dataset'])}[/] "
                      f"(ingest {d['ingest_id']}); nothing changed. The earlier ingest's summary:")
        earlier = "earlier ingest: "
    scale = d.get("crs_scale")
    at = f", scale {scale['min']:.4f}–{scale['max']:.4f} over the data" if scale else ""
    crs = (f"{d['crs']}{at}, transform: {d['transform']}, accuracy {d['transform_accuracy_m']} m" if d["crs"]
           else "no CRS recorded: no position to choose one from")
    console.print(f"[bold]{esc(d['file'])}[/] → dataset [bold]{esc(d['dataset'])}[/] with layout {d['reader']} ({crs})")
    console.print(f"{earlier}read {d['n_read']:,}  landed [green]{d['n_landed']:,}[/]  "
                  f"quarantined [red]{d['n_quarantined']:,}[/]")
    if d["top_reasons"]:
        table("Top quarantine reasons", ["rows", "reason"], [[r["rows"], r["reason"]] for r in d["top_reasons"]])
    for note in d["notes"]:
        console.print(f"[dim]note: {esc(note)}[/]")
    for warning in d.get("warnings", []):
        console.print(f"[yellow bold]warning[/]: {esc(warning)}")


@incidents_app.command("summary")
def incidents_summary(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Counts per dataset and offense, time span (the earliest and latest incident, in the zone the files were
    read in) and quarantine. Logged in the ledger (data.status)."""
    with cli_context(db) as ctx:
        data = svc.incidents_summary(ctx, dataset=dataset, actor=cli_actor(ctx.settings), purpose=purpose)

    def render(d: dict[str, Any]) -> None:
        if not d["datasets"]:
            console.print(f"The store {esc(d['store'])} holds no incidents yet: try `crimelens ingest FILE`.")
            return
        table(f"Incidents in {d['store']}",
              ["dataset", "incidents", "first", "last", "time zone", "CRS", "quarantined", "areas", "top offenses"],
              [[x["dataset"], f"{x['n_incidents']:,}", (x["first_local"] or "")[:10], (x["last_local"] or "")[:10],
                x["timezone"], x["crs"],
                f"{x['n_quarantined']:,}", x["n_areas"],
                ", ".join(f"{k} {v:,}" for k, v in list(x["offenses"].items())[:4])] for x in d["datasets"]])

    emit(data, json_out, render)


@quarantine_app.command("list")
def quarantine_list(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Only reasons containing this text.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = 50,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rows refused at ingest: file, line, column, value and reason. Logged in the ledger (quarantine.list):
    the raw rows may hold what was refused, such as personal data in a free-text field."""
    with cli_context(db) as ctx:
        data = svc.list_quarantine(ctx, actor=cli_actor(ctx.settings), purpose=purpose, dataset=dataset,
                                   reason=reason, limit=limit)

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['total']:,} quarantined rows")
        if d["by_reason"]:
            table("By reason", ["rows", "reason"], [[r["rows"], r["reason"]] for r in d["by_reason"]])
        if d["rows"]:
            table("Rows", ["dataset", "file", "line", "column", "value", "reason"],
                  [[r["dataset"], r["file"], r["line"], r["column"], r["value"], r["reason"]] for r in d["rows"]])

    emit(data, json_out, render)


@areas_app.command("load")
def areas_load(
    path: Annotated[Path, typer.Argument(help="Polygons: GeoJSON, GeoPackage or Shapefile.")],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset the areas belong to.")],
    id_field: Annotated[str | None, typer.Option("--id-field", help="Property holding the area id.")] = None,
    name_field: Annotated[str | None, typer.Option("--name-field", help="Property holding the area name.")] = None,
    population_field: Annotated[str, typer.Option(
        "--population-field", help="Property holding the residents of each area (for rates per resident).")
    ] = "population",
    db: DbOpt = None,
    purpose: PurposeOpt = "research",
    json_out: JsonOpt = False,
) -> None:
    """Load area polygons; other properties are kept as audit attributes only."""
    with cli_context(db, create=True) as ctx:  # areas may come before their incidents
        areas = svc.load_areas(ctx, path, dataset=dataset, actor=cli_actor(ctx.settings), purpose=purpose,
                               id_field=id_field, name_field=name_field, population_field=population_field)
        known = [d["dataset"] for d in svc.incidents_summary(ctx)["datasets"]]
    data = {"dataset": dataset, "n_areas": len(areas), "crs": areas[0].crs if areas else None,
            "audit_attributes": sorted({k for a in areas for k in a.audit}),
            "dataset_has_incidents": dataset in known}

    def render(d: dict[str, Any]) -> None:
        console.print(f"loaded {d['n_areas']} areas into dataset {esc(d['dataset'])} ({d['crs']}); "
                      f"audit attributes: {esc(', '.join(d['audit_attributes']) or 'none')}")
        if not d["dataset_has_incidents"]:  # loading areas first is allowed; a mistyped name is likelier
            console.print(f"[yellow]note[/]: dataset {esc(d['dataset'])} holds no incidents yet (the store has: "
                          f"{esc(', '.join(known) or 'none')}); the areas are kept for it")

    emit(data, json_out, render)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.add_typer(incidents_app, name="incidents")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(areas_app, name="areas")
