"""``crimelens feedback simulate|runs|show`` and ``crimelens audit exposure``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    PurposeOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    esc,
    table,
)

__all__ = ["feedback_app", "register"]

feedback_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Feedback-loop simulations: a model refit daily on a record its own patrol allocation shapes "
        "(Lum & Isaac 2016; Ensign et al. 2018), with and without feedback and with corrections."
    ),
)


def _bar(enabled: bool, label: str) -> tuple[Progress, Any]:
    bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   console=console, transient=True, disable=not enabled)
    task = bar.add_task(label, total=None)

    def update(what: str, done: int, total: int) -> None:
        bar.update(task, description=what, completed=done, total=total)

    return bar, update


def _render_simulation(doc: dict[str, Any]) -> None:
    console.print(f"[bold]feedback run[/] {doc['run_id']}  scenario {doc['scenario']}  ({doc['mark']})")
    summary = doc["summary"]
    if doc["scenario"] == "ensign-urn":
        rows = [[label, s["days"], s["n_runs"], f"{s['true_share']:.3f}", f"{s['final_share']:.3f}",
                 f"{s['final_share_p05']:.3f}–{s['final_share_p95']:.3f}"] for label, s in summary["runs"].items()]
        table("Ensign et al. two-region urn", ["run", "days", "runs", "true share", "share of patrols to A",
                                                "5–95 % of runs"], rows)
    else:
        rows = [[label, f"{s['share_to_initial_flags']:.3f}", s["cells_ever_flagged"], f"{s['gini']:.3f}",
                 f"{s['tv_mean']:.3f}", f"{s['discovered_to_reported']:.3f}"] for label, s in summary["runs"].items()]
        table(f"{doc['scenario']}: {doc['params'].get('model')}", ["run", "share of flags to day-0 flagged cells",
              "cells ever flagged", "Gini", "TV to truth", "discovered/reported"], rows)
        console.print("concentration ratio (share of flags to the day-0 flagged cells, feedback / no feedback): "
                      f"{summary['concentration_ratio']:.3f}")
        console.print("amplification ratio (mean TV distance to the truth, feedback / no feedback): "
                      f"{summary['amplification_ratio']:.3f}")
        if summary.get("corrected_amplification_ratio") is not None:
            console.print("corrected amplification ratio (mean TV distance, corrected / no feedback): "
                          f"{summary['corrected_amplification_ratio']:.3f}")
    sweep = summary.get("detection_bias_sweep")
    if sweep:
        runs = ""
        if sweep.get("n_runs") is not None:
            runs = f", {sweep['n_runs']:,} runs per level"
            if sweep["n_runs"] != doc["params"].get("n_runs"):
                runs += " (half of --runs, at least 50)"
        table(f"detection-bias sweep, group {sweep['group']}{runs}", ["bias", "true", "no feedback", "feedback"],
              [[f"{r['detection_bias']:.0%}", f"{r['true_share']:.3f}", f"{r['no_feedback_share']:.3f}",
                f"{r['feedback_share']:.3f}"] for r in sweep["rows"]])
    for name, path in doc.get("figures", {}).items():
        console.print(f"figure {name}: {esc(path)}")
    console.print(f"output hash {doc['output_hash']}  ledger entry {doc['ledger_seq']}")


@feedback_app.command("simulate")
def simulate(
    scenario: Annotated[str, typer.Option("--scenario", help="ensign-urn, oakland, synthetic or planted-city.")] = "ensign-urn",
    model: Annotated[str, typer.Option("--model", help="naive, kde, sepp (grid-native, fast) or forecast:NAME "
                                       "(e.g. forecast:etas) from the forecasting engine.")] = "sepp",
    days: Annotated[int | None, typer.Option("--days", help="Simulated days (default: 1000 urn, 549 Oakland, "
                                             "365 otherwise).")] = None,
    correction: Annotated[str, typer.Option("--correction", help="none, reported-only, ipw or ipw-weight.")] = "ipw",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same hash.")] = 0,
    runs: Annotated[int, typer.Option("--runs", help="Urn runs (ensign-urn only).")] = 1000,
    sweep: Annotated[bool, typer.Option("--sweep", help="Also sweep a 0–5 % detection bias.")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="Oakland: drug_crimes_with_bins.csv "
                                              "(bins read from oakland_grid.geojson beside it).")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Oakland: dataset in the store.")] = None,
    areas: Annotated[Path | None, typer.Option("--areas", help="Oakland: the bins file.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the PNG figures and feedback.md/html.")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a scenario with and without feedback and with the correction; store and log it."""
    from crimelens.services.feedback import simulate_feedback

    with cli_context(db, create=dataset is None) as ctx:
        bar, update = _bar(ctx.settings.progress and not as_json, "simulating")
        with bar:
            run = simulate_feedback(ctx, scenario=scenario, actor=cli_actor(ctx.settings), purpose=purpose,
                                    model=model, days=days, correction=correction, seed=seed, n_runs=runs,
                                    sweep=sweep, data=data, dataset=dataset, areas=areas, out_dir=out,
                                    progress=update)
    emit(run.to_dict(), as_json, _render_simulation)


@feedback_app.command("runs")
def runs_cmd(
    kind: Annotated[str | None, typer.Option("--kind", help="simulate or exposure.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most recent N runs.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored feedback simulations and exposure audits."""
    from crimelens.services.feedback import list_runs

    with cli_context(db) as ctx:
        rows = list_runs(ctx, kind=kind, limit=limit)
    docs = [{"run_id": r.run_id, "kind": r.kind, "scenario": r.scenario, "created_at": r.created_at.isoformat(),
             "user": r.user_name, "purpose": r.purpose, "output_hash": r.output_hash, "ledger_seq": r.ledger_seq}
            for r in rows]
    emit({"ok": True, "runs": docs}, as_json,
         lambda d: table("feedback runs", ["run", "kind", "scenario", "created", "user", "ledger"],
                         [[r["run_id"], r["kind"], r["scenario"], r["created_at"][:19], r["user"], r["ledger_seq"]]
                          for r in d["runs"]]))


@feedback_app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id, e.g. fb-0123456789ab.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one stored run: parameters, figures measured, hashes."""
    from crimelens.services.feedback import show_run

    with cli_context(db) as ctx:
        r = show_run(ctx, run_id)
    doc = {"ok": True, "run_id": r.run_id, "kind": r.kind, "scenario": r.scenario, "created_at": r.created_at.isoformat(),
           "user": r.user_name, "purpose": r.purpose, "params": r.params, "summary": r.summary,
           "output_hash": r.output_hash, "ledger_seq": r.ledger_seq, "mark": r.mark}
    emit(doc, as_json)


def exposure(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Incidents from this dataset in the store.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Or incidents from a file `crimelens ingest` reads.")] = None,
    areas: Annotated[Path | None, typer.Option("--areas", help="Areas: GeoJSON, GeoPackage or Shapefile (.zip) "
                                               "with population and audit attributes.")] = None,
    areas_dataset: Annotated[str | None, typer.Option("--areas-dataset", help="Or areas stored for this dataset.")] = None,
    group_by: Annotated[str | None, typer.Option("--group-by", help="Audit attribute grouping the areas "
                                                 "(numbers are cut into quantile groups).")] = None,
    quantiles: Annotated[int, typer.Option("--quantiles", help="Groups for a numeric --group-by.")] = 2,
    model: Annotated[str, typer.Option("--model", help="naive, kde, sepp or forecast:NAME.")] = "naive",
    cell_m: Annotated[float, typer.Option("--cell-m", help="Cell size in metres.")] = 150.0,
    coverage: Annotated[float, typer.Option("--coverage", help="Share of the surface flagged.")] = 0.05,
    periods: Annotated[int, typer.Option("--periods", help="Backtest periods.")] = 8,
    period_days: Annotated[int, typer.Option("--period-days", help="Days per period.")] = 7,
    window_days: Annotated[int, typer.Option("--window-days", help="Training window before each period.")] = 365,
    offense: Annotated[str | None, typer.Option("--offense", help="Only this offense.")] = None,
    ties: Annotated[str, typer.Option("--ties", help="Cells tied at the cut: split (share the flags left pro "
                                      "rata) or index (taken by cell index, for comparison).")] = "split",
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exposure audit of a place-based forecast per group of areas, with intervals across periods."""
    from crimelens.services.feedback import EXPOSURE_CAUTIONS, audit_exposure

    with cli_context(db, create=data is not None) as ctx:
        bar, _ = _bar(ctx.settings.progress and not as_json, "backtest and exposure audit")
        with bar:
            run, report = audit_exposure(ctx, actor=cli_actor(ctx.settings), purpose=purpose, dataset=dataset,
                                         data=data, areas=areas, areas_dataset=areas_dataset, group_by=group_by,
                                         n_quantiles=quantiles, model=model, cell_m=cell_m, coverage=coverage,
                                         n_periods=periods, period_days=period_days, window_days=window_days,
                                         offense=offense, ties=ties)  # type: ignore[arg-type]

    def render(doc: dict[str, Any]) -> None:
        console.print(f"[bold]exposure audit[/] {doc['run_id']}  {doc['scenario']}  ({doc['mark']})")
        console.print(report.to_markdown(), markup=False)
        ties = doc["summary"].get("ties")
        if ties:
            tied = ties["share_of_flags_tied"]["mean"]
            console.print(f"ties at the cut ({ties['rule']}): {0.0 if tied is None else tied:.1%} of each period's "
                          "flags (mean) fell among tied cells")
        flags = doc["summary"].get("flags")
        if flags:
            asked = flags["asked_per_period"]
            console.print(f"flags: {flags['rule']}; {0.0 if asked is None else asked:,.1f} asked for per period, "
                          f"{flags['n_periods_short']} of {len(flags['per_period'])} periods had fewer cells with "
                          f"risk above 0 ({flags['n_periods_all_zero']} none)")
        for key in EXPOSURE_CAUTIONS:
            if key in doc["summary"]:
                console.print(f"[yellow]caution:[/] {esc(doc['summary'][key])}")
        console.print(f"output hash {doc['output_hash']}  ledger entry {doc['ledger_seq']}")

    emit(run.to_dict(), as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
    try:
        from crimelens.cli.audit import audit_app
    except ImportError:  # the audit group is not there: a temporary top-level command
        app.command("audit-exposure")(exposure)
    else:
        audit_app.command("exposure")(exposure)
