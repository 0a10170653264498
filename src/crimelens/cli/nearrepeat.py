"""``crimelens nearrepeat [run] PATH|--db ...``, ``nearrepeat alert INCIDENT_ID``, ``nearrepeat runs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from typer.core import TyperGroup

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    PurposeOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    esc,
    records_note,
    table,
)
from crimelens.errors import InvalidParameterError, NotFoundError

__all__ = ["register"]



class _RunByDefault(TyperGroup):
    """``nearrepeat PATH ...`` means ``nearrepeat run PATH ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


nearrepeat_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help=(
        "Near-repeat (Knox) analysis of recorded incidents and near-repeat alerts. "
        "`crimelens nearrepeat PATH|--db FILE ...` runs a Knox table (same as `nearrepeat run`)."
    ),
)


def _edges(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError as exc:
        raise InvalidParameterError(
            f"{option}: got {text!r}; expected comma-separated numbers, e.g. 100,200,300"
        ) from exc
    return values


def _progress(enabled: bool) -> tuple[Progress, Any]:
    bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   console=console, transient=True, disable=not enabled)
    task = bar.add_task("Knox permutations", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@nearrepeat_app.command("run")
def run(
    path: Annotated[Path | None, typer.Argument(
        help="x,y,date CSV (the Near Repeat Calculator's input, metres) or any file `crimelens ingest` "
             "reads; omit to use the store.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Dataset in the store.")] = None,
    offense: Annotated[str | None, typer.Option("--offense", help="Only this offense (e.g. burglary).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only incidents from this date or time (ISO; read in the dataset's time zone unless it gives an offset).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only incidents before this date or time (ISO; read in the dataset's time zone unless it gives an offset).")] = None,
    space_bands: Annotated[str, typer.Option("--space-bands", help="Upper edges of the distance bands, metres.")] = "100,200,300",
    time_bands: Annotated[str, typer.Option("--time-bands", help="Upper edges of the time bands, days.")] = "7,14,21",
    distance: Annotated[str, typer.Option("--distance", help="manhattan or euclidean.")] = "manhattan",
    permutations: Annotated[int, typer.Option("--permutations", help="Monte-Carlo permutations (0: no test: analytic expectation and Poisson p-values, said so in every output).")] = 999,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the permutations (default: drawn and printed).")] = None,
    convention: Annotated[str, typer.Option("--convention", help="nrc, standard or pysal band semantics.")] = "standard",
    time_of: Annotated[str, typer.Option("--time-of", help="Event time from the incident window: from, mid or to.")] = "mid",
    records: Annotated[str, typer.Option(
        "--records", help="incident: one event per incident (the further records ID#2, ID#3, ... that an ingest "
                          "numbered for one victim or offence each are left out); all: every record, as the Near "
                          "Repeat Calculator counts rows.")] = "incident",
    format: Annotated[str | None, typer.Option("--format", help="Ingest layout of PATH (default: detected).")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write a heat map of the Knox ratios here (logged with its SHA-256).")] = None,
    pairs: Annotated[Path | None, typer.Option("--pairs", help="Write the pairs inside the finite bands (originator, follower, ...) as CSV (logged with its SHA-256).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the run, stored with it: the findings, tables, heat map and alerts from it use it.")] = 0.05,
    allow_coarse_times: Annotated[bool, typer.Option(
        "--allow-coarse-times", help="Run even when many records' time windows (e.g. police.uk months) are longer "
                                     "than the narrowest time band; the output then carries a warning.")] = False,
    date_order: Annotated[str | None, typer.Option(
        "--date-order", help="Order of an x,y,date file's slash dates: dmy (dd/mm/yyyy) or mdy (mm/dd/yyyy); "
                             "needed when the file cannot show it.")] = None,
    db: DbOpt = None,
    purpose: PurposeOpt = "research",
    json_out: JsonOpt = False,
) -> None:
    """Knox table: observed pairs per distance x time band, expected under permuted times, ratio, p."""
    from crimelens.services import nearrepeat as svc

    if not 0 < alpha < 1:  # checked before the permutations run, not when the table is drawn
        raise InvalidParameterError(f"--alpha {alpha}: expected a probability in (0, 1)")
    with cli_context(db, create=path is not None) as ctx:
        period = None
        if since is not None or until is not None:  # dates of the dataset's own zone (UTC for a file)
            from crimelens.domain import TimeWindow
            from crimelens.domain._time import as_utc
            from crimelens.services._context import reading_zone

            zone = reading_zone(ctx, dataset) if path is None else "UTC"
            period = TimeWindow(as_utc(since or "1900-01-01", zone), as_utc(until or "2200-01-01", zone))
        bar, update = _progress(ctx.settings.progress and not json_out)
        with bar:
            result = svc.run_knox(
                ctx, actor=cli_actor(ctx.settings), purpose=purpose, path=path, format=format,
                dataset=dataset, offense=offense, period=period,
                space_bands=_edges(space_bands, "--space-bands"),
                time_bands=_edges(time_bands, "--time-bands"), distance=distance,
                convention=convention, permutations=permutations, seed=seed, time_of=time_of,
                records=records, progress=update, pairs_out=pairs, png_out=png, alpha=alpha,
                allow_coarse_times=allow_coarse_times, date_order=date_order,
            )
    from crimelens.nearrepeat import CONVENTION_NOTES  # with numba: not at start-up

    data = result.to_dict()
    data["convention_note"] = CONVENTION_NOTES[result.result.convention]
    emit(data, json_out, _render_run)


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "–"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "p":
        return f"{v:.3f}"
    if kind == "pP":  # Poisson p-values are not bounded by 1/(n+1): show how small
        return f"{v:.2g}" if v < 0.001 else f"{v:.3f}"
    return f"{v:,.2f}" if abs(v) < 1e5 else f"{v:,.0f}"


def _warn(lines: list[str]) -> None:
    for line in lines:
        console.print(f"[bold yellow]warning:[/] [yellow]{esc(line)}[/]")


def _render_run(d: dict[str, Any]) -> None:
    from crimelens.nearrepeat._knox import OPEN_ENDED_NOTE  # with numba: not at start-up

    alpha = d["alpha"]
    analytic = d["p_source"] == "poisson"
    console.print(f"[bold]Knox test[/] — run {d['run_id']} · [italic]{d['mark']}[/]")
    _warn(d.get("warnings", []))
    console.print(f"convention: [bold]{d['convention']}[/] ({d['convention_note']})")
    src = d["source"] if d["source"] != "store" else f"store dataset {d['dataset']}"
    console.print(
        f"source: {esc(src)}{' · offense ' + esc(d['offense']) if d['offense'] else ''} · {d['n_events']:,} events · "
        f"{d['n_pairs']:,} pairs ({d['n_close_pairs']:,} within {d['space_bands']['edges'][-1]:g} m) · "
        f"distance {d['distance']} · time gaps in {'whole days' if d['time_resolution'] == 'day' else 'days'}"
        + (f" (calendar days of {d['days_in']})" if d.get("days_in") else "")
    )
    if analytic:
        console.print(f"no permutations: expected = row total x column total / pairs; p = Poisson P(X >= observed) "
                      f"· alpha {alpha:g} · {d['elapsed_s']:.2f} s")
    else:
        console.print(f"{d['n_permutations']} permutations, seed {d['seed']} · p = {d['p_value_rule']} · "
                      f"alpha {alpha:g} · {d['elapsed_s']:.2f} s")
    if d.get("date_order"):
        order = {"dmy": "dd/mm/yyyy", "mdy": "mm/dd/yyyy"}[d["date_order"]["order"]]
        console.print(f"slash dates read as {order} ({esc(d['date_order']['from'])})")
    records_note(d)
    if d["n_rows_not_used"]:
        console.print(f"[yellow]{d['n_rows_not_used']} input row(s) not used[/], e.g. "
                      + "; ".join(f"line {r['line']}: {esc(r['reason'])}" for r in d["rows_not_used"][:3]))
    cols = ["metres \\ days", *d["columns"]]
    p_key = "p_poisson" if analytic else "p_value"
    for title, key, kind in (("Observed pairs", "observed", "int"),
                             ("Expected (analytic: row total x column total / pairs; no permutations)" if analytic
                              else "Expected (mean of permutations)", "expected", "f"),
                             ("Knox ratio (observed / expected)", "knox_ratio", "f"),
                             ("p-value (Poisson approximation; no permutations)" if analytic else "p-value",
                              p_key, "pP" if analytic else "p")):
        rows: list[list[Any]] = []
        for i, label in enumerate(d["rows"]):
            cells: list[Any] = []
            for j in range(len(d["columns"])):
                text = _fmt(d[key][i][j], kind)
                r, p = d["knox_ratio"][i][j], d[p_key][i][j]
                finite = i < len(d["rows"]) - 1 and j < len(d["columns"]) - 1  # open-ended: never marked
                if key in ("knox_ratio", p_key) and finite and r is not None and p is not None and r > 1 and p < alpha:
                    cells.append(Text(f"{text}*", style="bold red"))
                else:
                    cells.append(text)
            rows.append([label, *cells])
        table(title, cols, rows)
    console.print(f"* Knox ratio > 1 with {'p (Poisson)' if analytic else 'p'} < {alpha:g}. {OPEN_ENDED_NOTE}")
    for line in d.get("findings", []):
        console.print(f"• {esc(line)}")
    if d.get("png"):
        console.print(f"heat map: {esc(d['png'])} (sha256 {d['png_sha256'][:12]}…, in ledger entry {d['ledger_seq']})")
    if d.get("pairs_file"):
        console.print(f"{d['n_pairs_written']:,} near-repeat pairs written to {esc(d['pairs_file'])} "
                      f"(sha256 {d['pairs_sha256'][:12]}…, in ledger entry {d['ledger_seq']})")
    if d.get("coarse_times") and d["coarse_times"]["is_coarse"]:
        _warn(["COARSE TIMES: see the warning above; these bands are not measured gaps."])


@nearrepeat_app.command("alert")
def alert(
    incident_id: Annotated[str | None, typer.Argument(help="The new incident's id (in the store).")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Use the most recent incident (of --offense, in --dataset).")] = False,
    offense: Annotated[str | None, typer.Option("--offense", help="With --latest: the offense.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Dataset of the incident (if ids repeat).")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Knox run to read the surface from (default: newest for the offense).")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="p-value below which a band with ratio > 1 is elevated (default: the Knox run's own alpha).")] = None,
    cell_m: Annotated[float, typer.Option("--cell-m", help="Size of the grid cells listed, metres.")] = 50.0,
    space_bands: Annotated[str, typer.Option("--space-bands", help="Bands (m) if a surface must be computed.")] = "100,200,300,400",
    time_bands: Annotated[str, typer.Option("--time-bands", help="Bands (days) if a surface must be computed.")] = "7,14,21,28",
    distance: Annotated[str, typer.Option("--distance", help="manhattan or euclidean (computed surface).")] = "manhattan",
    convention: Annotated[str, typer.Option("--convention", help="Band semantics (computed surface).")] = "standard",
    permutations: Annotated[int, typer.Option("--permutations", help="Permutations (computed surface).")] = 999,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed (computed surface).")] = 1,
    allow_coarse_times: Annotated[bool, typer.Option(
        "--allow-coarse-times", help="Alert even from a surface of coarse times, or for an incident known only to a "
                                     "window longer than the narrowest time band (with a warning).")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Cells to show in the table.")] = 30,
    deployment: Annotated[str | None, typer.Option("--deployment", help="Active, approved deployment of KnoxTest (operational use: its purpose, your role and the dataset must be the ones it was approved for; the alert carries no research mark, is purged under its retention, and waits for human review where the policy marks nearrepeat.alert actionable).")] = None,
    db: DbOpt = None,
    purpose: PurposeOpt = "research",
    json_out: JsonOpt = False,
) -> None:
    """Where and until when near-repeat risk is elevated around a new incident."""
    from crimelens.services import nearrepeat as svc
    from crimelens.storage._nearrepeat import latest_incident_id

    if (incident_id is None) == (not latest):
        raise InvalidParameterError(
            "nearrepeat alert: got "
            + ("both INCIDENT_ID and --latest" if latest else "neither INCIDENT_ID nor --latest")
            + "; expected exactly one"
        )
    with cli_context(db) as ctx:
        if latest:
            incident_id = latest_incident_id(ctx.store, dataset=dataset, offense=offense)
            if incident_id is None:
                from crimelens.services._context import check_dataset

                check_dataset(ctx, dataset, "nearrepeat alert --latest")
                raise NotFoundError(
                    f"nearrepeat alert --latest: no incident (dataset={dataset!r}, offense={offense!r}) "
                    f"in the store {ctx.store.path!r}"
                )
        assert incident_id is not None
        bar, update = _progress(ctx.settings.progress and not json_out)
        with bar:
            res = svc.nearrepeat_alert(
                ctx, incident_id, actor=cli_actor(ctx.settings), purpose=purpose, dataset=dataset,
                run_id=run_id, alpha=alpha, cell_m=cell_m,
                space_bands=_edges(space_bands, "--space-bands"),
                time_bands=_edges(time_bands, "--time-bands"), distance=distance,
                convention=convention, permutations=permutations, seed=seed, progress=update,
                allow_coarse_times=allow_coarse_times, deployment=deployment,
            )

    def render(d: dict[str, Any]) -> None:
        if d["asked_for"] != d["incident_id"]:
            console.print(f"{esc(d['asked_for'])} is a further record of incident {esc(d['incident_id'])} "
                          "(one row per victim or offence): the alert is its incident's")
        console.print(f"[bold]Near-repeat alert[/] {d['alert_id']} for incident [bold]{esc(d['incident_id'])}[/] "
                      f"({esc(d['offense'])}, {esc(d['dataset'])}) · [italic]"
                      f"{esc(d['mark'] or 'operational use under deployment ' + str(d['deployment']))}[/]")
        how = "computed now" if d["surface_computed"] else "stored"
        p_name = "p (Poisson: the run has no permutations)" if d["p_source"] == "poisson" else "p"
        own = ("the run's alpha" if d["alpha"] == d["surface_alpha"]
               else f"the run's findings used {d['surface_alpha']:g}")
        console.print(f"surface: run {d['run_id']} ({how}), convention [bold]{d['convention']}[/], "
                      f"distance {d['distance']}, elevated = ratio > 1 and {p_name} < {d['alpha']:g} ({own})")
        _warn(d.get("warnings", []))
        if d.get("surface_records") == "all":
            console.print("[yellow]that Knox run counted every record, so an incident's further records (ID#2, ...) "
                          "count as near repeats: run `crimelens nearrepeat` again to count each incident once[/]")
        if not d["elevated"]:
            console.print("No distance/time band is elevated for this offense here: no alert.")
            return
        def when(text: str) -> str:  # in the zone the dataset's files were read in, as its analysts read times
            from datetime import datetime

            from crimelens.services._context import local_time

            if len(text) == 7:  # a month (YYYY-MM): records known only to their month, no invented days
                return datetime.strptime(text, "%Y-%m").strftime("%B %Y")
            if len(text) == 10:  # a whole-day surface's date, already the dataset's own
                return text
            return str(local_time(datetime.fromisoformat(text), d["timezone"]))[:16].replace("T", " ")

        poisson = d["p_source"] == "poisson"
        table("Elevated bands", ["distance", "time", "ratio", "p (Poisson)" if poisson else "p", "from", "until"],
              [[e["space_label"], e["time_label"], f"{e['knox_ratio']:.2f}", _fmt(e["p_value"], "pP" if poisson else "p"),
                when(e["starts"]), when(e["ends"])] for e in d["elevated"]])
        table(f"Cells of {d['cell_m']:g} m around the incident ({d['n_cells']} in all; first {limit})",
              ["cell", "dist. m", "band", "from", "until", "ratio"],
              [[c["cell_id"], f"{c['distance_m']:.0f}", c["space_label"], when(c["starts"]),
                when(c["ends"]), f"{c['max_knox_ratio']:.2f}"] for c in d["cells"][:limit]])
        console.print("Cell ids are size:column:row on the store's metric grid (x_m, y_m centres in --json). "
                      "'until' is the last day (whole-day surfaces) or the end time (exact surfaces). "
                      + (f"Months of {d['timezone']} (YYYY-MM in --json): the data give only the month, so the "
                         "alert covers every month the band can reach from anywhere in the incident's month."
                         if d.get("resolution") == "month" else
                         f"Days are {d['timezone']}'s calendar days (in --json too)."
                         if len(str(d["elevated"][0]["starts"])) == 10 else
                         f"Times in {d['timezone']} (UTC in --json)."))
        console.print("A prompt for a person to decide on; never an automatic action.")

    emit(res.to_dict(), json_out, render)


@nearrepeat_app.command("runs")
def runs(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the stored Knox runs."""
    from crimelens.storage._nearrepeat import list_nearrepeat_runs

    with cli_context(db) as ctx:
        frame = list_nearrepeat_runs(ctx.store, dataset=dataset)
    records = [{k: (None if v is None or v != v else v) for k, v in r.items()}
               for r in frame.to_dict(orient="records")]

    def render(rows: list[dict[str, Any]]) -> None:
        table("Knox runs", ["run", "created", "source", "dataset", "offense", "convention", "distance",
                            "events", "perms", "seed"],
              [[r["run_id"], str(r["created_utc"])[:19], r["source"], r["dataset"], r["offense"],
                r["convention"], r["distance_metric"], r["n_events"], r["n_permutations"], r["seed"]]
               for r in rows])

    emit(records, json_out, render)


def register(app: typer.Typer) -> None:
    app.add_typer(nearrepeat_app, name="nearrepeat")
