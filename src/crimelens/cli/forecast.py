"""``crimelens forecast run`` / ``forecast backtest`` / ``forecast backtests`` / ``forecast models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    PurposeOpt,
    RecordsOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    esc,
    records_note,
    table,
)
from crimelens.errors import InvalidParameterError

#: The model names and the default, as ``crimelens.forecast.MODELS`` / ``DEFAULT_MODEL`` have them
#: (a test holds them equal). Written out so that the CLI starts without importing the models
#: (numba and scikit-learn cost seconds a governance command should not pay).
MODEL_NAMES = ("naive", "weighted", "retro", "prospective", "kde", "etas", "sepp", "gbm")
DEFAULT_MODEL = "gbm"

__all__ = ["register"]

forecast_app = typer.Typer(
    no_args_is_help=True,
    help=("Place-based forecasts of recorded incidents: run one (stored and logged in the ledger, "
          "with GeoJSON/GeoPackage/CSV export and a PNG map) or backtest models week by week."),
)

ModelOpt = Annotated[str, typer.Option("--model", help=f"Model: one of {', '.join(MODEL_NAMES)}.")]
OffenseOpt = Annotated[str | None, typer.Option("--offense", help="Normalised offense, e.g. aggravated_assault; several separated by commas are pooled (theft,theft_from_vehicle,vehicle_theft). Default: every offense.")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Dataset name in the store (default: all).")]
HorizonOpt = Annotated[str, typer.Option("--horizon", help="Forecast window: 7d, 12h, 2w ...")]
CellOpt = Annotated[float, typer.Option("--cell-m", help="Square cell size in metres.")]


def _coverages(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not 0 < v <= 1 for v in values):
        raise InvalidParameterError(
            f"--coverage: got {text!r}; expected comma-separated fractions in (0, 1], e.g. 0.01,0.05"
        )
    return values


def _params(items: list[str] | None) -> dict[str, Any]:
    """``["half_life_days=365", "time_of_day=0"]`` -> ``{"half_life_days": 365, "time_of_day": 0}``.

    A value is read as JSON where it parses (numbers, true/false, null, lists), else as text."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise InvalidParameterError(
                f"--param: got {item!r}; expected NAME=VALUE, e.g. half_life_days=365 "
                "(crimelens forecast models lists each model's parameters)"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw.strip()
        out[key.strip()] = value
    return out


def _areas(text: str | None, nij: bool) -> list[float]:
    from crimelens.forecast._metrics import KM2_PER_SQ_MI, NIJ_AREA_SQ_MI

    values: list[float] = [v * KM2_PER_SQ_MI for v in NIJ_AREA_SQ_MI] if nij else []
    if text:
        try:
            values += [float(v) for v in text.split(",") if v.strip()]
        except ValueError as exc:
            raise InvalidParameterError(
                f"--area-km2: got {text!r}; expected comma-separated areas in km², e.g. 0.65,1.94"
            ) from exc
    return values


def _undefined(value: Any) -> bool:
    """An undefined figure: null in JSON, NaN in a result."""
    return value is None or (isinstance(value, float) and value != value)


def _mean_interval(model: str, v: dict[str, float]) -> str:
    """'mean [low, high]'; the perfect-rate ceiling is one expected value, not a mean over periods, so it
    prints without an interval (its [x, x] would read as a very certain estimate). It is not a bound:
    a model can pass it where rates change. An undefined figure (the ceiling's PEI, a metric no period
    scored) prints as '—', a mean without an interval (one period) as 'mean (no interval)'."""
    if _undefined(v.get("mean")):
        return "—"
    if model.startswith("ceiling:"):
        return f"{v['mean']:.3f} (expected; no interval)"
    if _undefined(v.get("low")) or _undefined(v.get("high")):
        return f"{v['mean']:.3f} (no interval)"
    return f"{v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"


def _ratio(label: str, v: dict[str, Any]) -> str:
    """'PAI ratio @0.01 1.139 [1.071, 1.208]', with the resamples that had no ratio, or why there is no
    interval."""
    head = f"PAI ratio @{label} " + ("—" if _undefined(v.get("ratio")) else f"{v['ratio']:.3f}")
    if _undefined(v.get("low")) or _undefined(v.get("high")):
        return head + f" (no interval: {v.get('no_interval') or 'undefined'})"
    undefined = (f" ({v['n_undefined']:,} of {v.get('n_resamples', 2000):,} resamples without a ratio left out)"
                 if v.get("n_undefined") else "")
    return head + f" [{v['low']:.3f}, {v['high']:.3f}]" + undefined


@forecast_app.command("run")
def run(
    at: Annotated[str, typer.Option("--at", help="Start of the forecast window: a date (midnight) or a time, read in the dataset's time zone unless it gives an offset (2018-01-01, 2018-01-01T22:00, 2018-01-02T04:00Z).")],
    model: ModelOpt = DEFAULT_MODEL,
    offense: OffenseOpt = None,
    horizon: HorizonOpt = "7d",
    cell_m: CellOpt = 150.0,
    dataset: DatasetOpt = None,
    coverage: Annotated[float, typer.Option("--coverage", help="Share of cells flagged.")] = 0.05,
    mask: Annotated[str | None, typer.Option("--mask", help="Study area: activity (cells with a past incident; the default), bbox, polygon (the default with --polygon), or h3 (hexagons with a past incident).")] = None,
    polygon: Annotated[str | None, typer.Option("--polygon", help="With --mask polygon: the boundary, a GeoJSON, GeoPackage or zipped shapefile (projected to the data CRS), or WKT in the data CRS.")] = None,
    h3_resolution: Annotated[int, typer.Option("--h3-resolution", min=0, max=15, help="H3 resolution (with --mask h3; 9 is about 0.1 km² a cell).")] = 9,
    out: Annotated[Path | None, typer.Option("--out", help="Export file: .geojson, .gpkg or .csv (a .png map is written beside it).")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment", help="Active, approved deployment (operational use: the model, purpose and your role must be the ones it was approved for, and --cell-m, --horizon and --mask the ones its model card measured, --coverage no larger than it measured; actionable outputs go to human review).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Model parameter NAME=VALUE, repeatable, e.g. --param half_life_days=365 (see `forecast models`); recorded with the run. Research use: refused with --deployment.")] = None,
    records: RecordsOpt = "incident",
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a model on incidents before --at and forecast the next --horizon; store and log the run."""
    from crimelens.services.forecasts import parse_horizon, run_forecast

    days = parse_horizon(horizon)
    params = _params(param)
    status = console.status("fitting and forecasting", spinner="dots") if not as_json else _null()
    with cli_context(db) as ctx, status:
        result = run_forecast(ctx, offense=offense, at=at, actor=cli_actor(ctx.settings), model=model,
                              params=params, horizon_days=days, cell_m=cell_m, dataset=dataset, coverage=coverage,
                              mask=mask or ("polygon" if polygon else "activity"), polygon=polygon, h3_resolution=h3_resolution, purpose=purpose,
                              deployment=deployment, out=out, records=records)
    data = result.to_dict()

    def render(d: dict[str, Any]) -> None:
        start, end = (str(t)[:16].replace("T", " ") for t in d["window_local"])
        console.print(f"[bold]{d['model']}[/] forecast {start} .. {end} {d['timezone']}  "
                      f"run {d['run_id']}  ledger #{d['ledger_seq']}")
        console.print(f"study area: {d['area']['n_cells']} cells, {esc(d['area']['rule'])}")
        records_note(d)
        if params:  # the rest are the model's defaults (all are in --json and the ledger entry)
            console.print("parameters set: " + esc(", ".join(f"{k}={d['params'][k]}" for k in params)))
        table(f"top cells (of {d['n_flagged']} flagged at {d['coverage']:.1%})",
              ["rank", "cell", "lon", "lat", "expected incidents"],
              [[c["rank"], c["cell"], f"{c['lon']:.5f}", f"{c['lat']:.5f}", f"{c['risk']:.3f}"]
               for c in d["top_cells"]])
        for warning in d["warnings"]:  # the run's own (all-zero risk and its cause, hours not used, ...)
            console.print(f"[yellow]warning: {esc(warning)}[/]")
        tie = d["tie_at_cut"]  # among the shown flags: cells of risk 0 are never flagged, the warnings say why
        # a tie of every cell is one of the run's warnings (printed above, and in its JSON, ledger and exports)
        if tie and tie["flagged"] + tie["unflagged"] < d["area"]["n_cells"]:
            console.print(f"[yellow]the top {d['coverage']:.1%} ends inside a tie: {tie['flagged']} flagged and "
                          f"{tie['unflagged']} unflagged cells share the risk {tie['risk']:.4g}, so which of them "
                          "are flagged is only the tie rule (lowest cell index first): read the risks, or choose "
                          "another --coverage[/]")
        for e in d["exports"]:
            console.print(f"{e['kind']}: {esc(e['path'])}  (sha256 {e['sha256'][:16]}…, ledger #{e['ledger_seq']})")
        if d["mark"]:
            console.print(f"[red]{d['mark']}[/]")

    emit(data, as_json, render)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@forecast_app.command("backtest")
def backtest(
    start: Annotated[str, typer.Option("--start", help="First forecast origin: a date (midnight) or a time, read in the dataset's time zone unless it gives an offset.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names; LABEL=MODEL runs a model again under a label of its own (e.g. naive,weighted,w730=weighted --param w730.half_life_days=730), so two settings are compared on the same forecasts.")] = "naive,weighted",
    offense: OffenseOpt = None,
    periods: Annotated[int, typer.Option("--periods", help="Number of consecutive forecasts.")] = 52,
    horizon: HorizonOpt = "7d",
    cell_m: CellOpt = 150.0,
    coverage: Annotated[str, typer.Option("--coverage", help="Coverages to report, e.g. 0.01,0.05.")] = "0.01,0.05",
    area_km2: Annotated[str | None, typer.Option("--area-km2", help="Also score flagged areas in km² (whole cells that fit), e.g. 0.65,1.94.")] = None,
    nij: Annotated[bool, typer.Option("--nij", help="Also score the NIJ challenge's smallest and largest flagged areas (0.25 and 0.75 sq mi).")] = False,
    nij_limits: Annotated[bool, typer.Option("--nij-limits/--no-nij-limits", help="Hold --area-km2 to the NIJ's 0.25-0.75 sq mi and 62,500-360,000 sq ft cells.")] = True,
    dataset: DatasetOpt = None,
    mask_days: Annotated[float | None, typer.Option("--mask-days", help="Study area from the incidents of this many days before --start (more than 0, at most 36600; default: every incident before it).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of the hit-rate coverage curves.")] = None,
    per_period: Annotated[bool, typer.Option("--per-period/--no-per-period", help="Include every period in the JSON.")] = True,
    group_by: Annotated[str | None, typer.Option("--group-by", help="Also report each audit group's hit rate: an incident column (area, premise) or an attribute of the dataset's areas (e.g. group). Never a model input.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Model parameter MODEL.NAME=VALUE, repeatable, e.g. --param weighted.half_life_days=365 (see `forecast models`); the summary gives every model's parameters.")] = None,
    versus: Annotated[str | None, typer.Option("--versus", help="Pair every other model against this one (e.g. naive): its PAI ratio with a paired interval. Default: the best model against every other.")] = None,
    records: RecordsOpt = "incident",
    register: Annotated[str | None, typer.Option("--register", help="Register this backtested model (e.g. gbm) in the model registry with the backtest's figures as its card's numbers (as its class name and this crimelens version).")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rolling-origin backtest: per-model, per-period and mean PAI / hit rate / PEI with intervals."""
    from crimelens.forecast._export import format_span
    from crimelens.services.forecasts import (
        backtest_labels,
        outside_note,
        parse_horizon,
        register_backtested,
        run_backtest,
    )

    if mask_days is not None and not 0 < mask_days <= 36_600:  # as POST /api/backtests's mask_days
        raise typer.BadParameter(f"got {mask_days:g}; expected days in (0, 36600]", param_hint="--mask-days")
    names = [m.strip() for m in models.split(",") if m.strip()]
    labels = list(backtest_labels(names))
    by_model: dict[str, dict[str, Any]] = {}
    for key, value in _params(param).items():
        model_name, dot, name = key.partition(".")
        if not dot or not model_name or not name:
            raise InvalidParameterError(
                f"--param: got {key!r}; expected MODEL.NAME=VALUE in a backtest, e.g. weighted.half_life_days=365")
        by_model.setdefault(model_name, {})[name] = value
    if register is not None and register in by_model:
        raise typer.BadParameter(f"got --param for {register!r}; a registered model's card must be measured with the "
                                 "parameters a deployment runs (its defaults)", param_hint="--register")
    if register is not None and register not in labels:
        raise typer.BadParameter(f"got {register!r}; expected one of --models {labels}", param_hint="--register")
    covs = _coverages(coverage)
    areas = _areas(area_km2, nij)
    days = parse_horizon(horizon)
    with cli_context(db) as ctx:
        bar = Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=console, disable=as_json or not ctx.settings.progress, transient=True)
        with bar:
            task = bar.add_task("periods", total=periods)
            result = run_backtest(ctx, models=names, offense=offense, start=start, periods=periods,
                                  actor=cli_actor(ctx.settings), horizon_days=days, cell_m=cell_m,
                                  coverages=covs, areas_km2=areas, nij_limits=nij_limits,
                                  dataset=dataset, mask_days=mask_days, purpose=purpose, plot=plot,
                                  group_by=group_by,
                                  params=by_model, versus=versus, records=records,
                                  progress=lambda k, n: bar.update(task, completed=k))
        card = (register_backtested(ctx, result, model=register, actor=cli_actor(ctx.settings))
                if register is not None else None)
    data = result.to_dict(per_period=per_period)
    if card is not None:
        data["registered"] = {"model": card.name, "version": card.version,
                              "card_missing_sections": card.missing_sections()}

    def render(d: dict[str, Any]) -> None:
        console.print(f"study area: {d['area']['n_cells']} cells, {esc(d['area']['rule'])}")
        records_note(d)
        if d.get("test_incidents"):  # the scores are on the study area: what was recorded outside it
            console.print(outside_note(d["test_incidents"]))
        rows = []
        for name, m in d["models"].items():
            row = [name]
            for c in covs:
                for metric in ("pai", "hit_rate", "pei"):
                    row.append(_mean_interval(name, m[metric][f"{c:g}"]))
            rows.append(row)
        cols = ["model"] + [f"{metric} @{c:g}" for c in covs for metric in ("PAI", "hit rate", "PEI")]
        scored = d.get("n_periods_scored", d["n_periods"])
        table(f"{d['n_periods']} forecasts of {format_span(d['horizon_days'])}"
              + (f", {scored} scored" if scored != d["n_periods"] else "") + " (mean [95% interval])", cols, rows)
        for warning in d.get("warnings", []):
            console.print(f"[yellow]warning: {esc(warning)}[/]")
        for fa in d.get("flagged_areas", []):
            title = f"flagged area {fa['km2']:.3f} km² ({fa['sq_mi']:.3f} sq mi, {fa['n_flagged']} cells)"
            table(title, ["model", "PAI", "hit rate", "PEI"],
                  [[name, *(_mean_interval(name, v[k]) for k in ("pai", "hit_rate", "pei"))]
                   for name, v in fa["models"].items()])
            for pair, v in fa.get("paired", {}).items():
                console.print(esc(f"{pair} at {fa['sq_mi']:.3g} sq mi: " + _ratio(f"{fa['coverage']:.4g}", v)))
        if "groups" in d:
            g = d["groups"]
            for c in covs:
                key = f"{c:g}"
                groups = sorted({name for m in g["models"].values() for name in m[key]})
                table(f"hit rate @{key} by {g['by']} (share of the group's recorded incidents in flagged cells)",
                      ["model", *groups],
                      [[name, *(f"{m[key][x]['hit_rate']:.3f} [{m[key][x]['low']:.3f}, {m[key][x]['high']:.3f}] "
                                f"n={m[key][x]['n']:.0f}" + _of_recorded(m[key][x]) for x in groups)]
                       for name, m in g["models"].items()])
                console.print("n=A of B: A of the group's B test incidents recorded in the periods fell in the "
                              "study area and are scored; the others are outside it")
        for pair, by_c in d.get("paired", {}).items():
            console.print(esc(pair + ": " + "; ".join(_ratio(c, v) for c, v in by_c.items())))
        console.print(f"[red]{d['mark']}[/]  run {d['run_id']}  ledger #{d['ledger_seq']}")
        if "registered" in d:
            r = d["registered"]
            missing = ", ".join(r["card_missing_sections"])
            console.print(f"registered {r['model']} {r['version']} with these figures"
                          + (f"; its card still needs: {missing} (crimelens models describe)" if missing else ""))

    emit(data, as_json, render)


def _of_recorded(v: dict[str, Any]) -> str:
    """' of 20': the group's test incidents recorded, in the study area or not (absent before it was kept)."""
    return "" if v.get("n_recorded") is None else f" of {v['n_recorded']:.0f}"


@forecast_app.command("backtests")
def backtests_cmd(
    run: Annotated[str | None, typer.Option("--run", help="Show this stored backtest whole (its mean PAI, hit rate "
                                                            "and PEI per model and coverage, with intervals).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many to list, newest first.")] = 50,
    out: Annotated[Path | None, typer.Option("--out", help="With --run: also write it as .json (the stored "
                                             "summary, byte for byte), .csv (mean and interval per model, "
                                             "coverage and metric) or .png (the hit-rate curves).")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the stored backtests, or show one (every read is logged)."""
    from crimelens.forecast._export import format_span
    from crimelens.services.forecasts import (
        BACKTEST_EXPORTS,
        export_backtest,
        list_backtests,
        outside_note,
        show_backtest,
    )

    fmt = None if out is None else out.suffix.lstrip(".").lower()
    if out is not None and (run is None or fmt not in BACKTEST_EXPORTS):
        raise InvalidParameterError(f"--out {out.name!r}: expected --run and a .json, .csv or .png file")
    with cli_context(db) as ctx:
        actor = cli_actor(ctx.settings)
        data = (show_backtest(ctx, run, actor=actor, purpose=purpose) if run is not None
                else list_backtests(ctx, actor=actor, purpose=purpose, limit=limit))
        if out is not None and run is not None and fmt is not None:
            blob, _ = export_backtest(ctx, run, fmt, actor=actor, purpose=purpose)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(blob)
            data["out"] = str(out)

    def render(d: dict[str, Any]) -> None:
        if run is None:
            table(f"backtests ({d['total']} stored, newest first)",
                  ["run", "created", "user", "dataset", "offense", "models", "periods", "first", "cells"],
                  [[r["run_id"], str(r["created_at"])[:19], r["user_name"], r["dataset"] or "all",
                    r["offense"] or "all", ",".join(r["models"]), r["n_periods"], str(r["first_origin_local"])[:10],
                    (r["area"] or {}).get("n_cells")] for r in d["items"]])
            return
        summ = d["summary"]
        covs = summ.get("coverages") or [0.01, 0.05]
        console.print(f"backtest {d['run_id']} by {esc(d['user_name'])} ({esc(d['purpose'])}), {summ['n_periods']} forecasts "
                      f"of {format_span(summ['horizon_days'])} from {str(d['first_origin_local'])[:16].replace('T', ' ')} "
                      f"{d['timezone']}; study area "
                      f"{summ['area'].get('n_cells')} cells, {esc(summ['area'].get('rule'))}")
        table("mean [95% interval]", ["model"] + [f"{m} @{c:g}" for c in covs for m in ("PAI", "hit rate", "PEI")],
              [[name, *(_mean_interval(name, m[k][f"{c:g}"]) for c in covs for k in ("pai", "hit_rate", "pei"))]
               for name, m in summ["models"].items()])
        if summ.get("test_incidents"):
            console.print(outside_note(summ["test_incidents"]))
        for warning in summ.get("warnings", []):
            console.print(f"[yellow]warning: {esc(warning)}[/]")
        for pair, by_c in summ.get("paired", {}).items():
            console.print(esc(pair + ": " + "; ".join(_ratio(c, v) for c, v in by_c.items())))
        state = "matches" if d["output_hash_matches"] else "[red]does NOT match[/]"
        console.print(f"[red]{d['mark']}[/]  stored summary {state} its ledger entry's output hash (#{d['ledger_seq']})")
        if d.get("out"):
            console.print(f"written to {esc(d['out'])}")

    emit(data, as_json, render)


@forecast_app.command("export")
def export_cmd(
    run_id: Annotated[str, typer.Argument(help="A stored forecast run (crimelens forecast run prints its id).")],
    out: Annotated[Path, typer.Option("--out", help="The file: .gpkg, .geojson or .csv (beside it .csvt and .prj) "
                                      "with the cells, ranks, flags and the run's metadata, or .png (the map).")],
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a stored run as the files `forecast run --out` writes, and check its cells against the run's
    ledger entry (exit 4, after writing, when they no longer match)."""
    from crimelens.services.forecasts import EXPORT_TYPES, export_stored_file

    fmt = out.suffix.lstrip(".").lower()
    if fmt not in EXPORT_TYPES:
        raise InvalidParameterError(f"--out {out.name!r}: got the suffix {out.suffix!r}; expected .gpkg, .geojson, "
                                    ".csv or .png")
    out.parent.mkdir(parents=True, exist_ok=True)
    with cli_context(db) as ctx:
        done = export_stored_file(ctx, run_id, fmt, out.parent, actor=cli_actor(ctx.settings), purpose=purpose,
                                  name=out.stem)
    check = done["check"]
    data = {"ok": True, "run_id": run_id, "out": str(done["path"]), "matches_ledger": done["matches_ledger"],
            "output_hash": check["output_hash"], "recomputed_hash": check["recomputed_hash"],
            "problems": check["problems"]}

    def render(d: dict[str, Any]) -> None:
        console.print(f"written to {esc(d['out'])}")
        if d["matches_ledger"]:
            console.print(f"the stored cells match the run's ledger entry (output hash {d['output_hash'][:16]}…)")
        else:
            console.print("[red]the stored cells do NOT match the run's ledger entry[/] (changed in the store after "
                          "the run was logged): " + esc("; ".join(d["problems"])))

    emit(data, as_json, render)
    if not done["matches_ledger"]:
        raise typer.Exit(4)


@forecast_app.command("models")
def models_cmd(as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """List the models, their parameters and defaults."""
    from crimelens.forecast import MODELS

    data = {"default": DEFAULT_MODEL,
            "models": {name: {"class": cls.__name__, "params": {k: v for k, v in cls().get_params().items() if k != "area"}}
                       for name, cls in MODELS.items()}}

    def render(d: dict[str, Any]) -> None:
        table("forecast models", ["name", "class", "parameters"],
              [[("* " if n == d["default"] else "") + n, m["class"],
                ", ".join(f"{k}={v}" for k, v in m["params"].items())] for n, m in d["models"].items()])

    emit(data, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(forecast_app, name="forecast")
