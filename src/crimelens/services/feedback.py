"""Use cases: feedback-loop simulations and exposure audits of place-based forecasts.

Each run is written to the store (``feedback_runs``, migration 0008) together with its
ledger entry, in one transaction; the entry carries the run's parameters, the hash of
the data it started from and the SHA-256 of the full result, so anyone can re-run it
and check the hash. Local use is logged with the purpose "research" and outputs carry
:data:`crimelens.services.RESEARCH_MARK`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from crimelens import __version__
from crimelens.domain import Area, Grid, IncidentTable
from crimelens.errors import InputError, InvalidParameterError, NotFoundError
from crimelens.feedback import (
    CORRECTIONS,
    BiasSweep,
    FeedbackComparison,
    Scenario,
    UrnResult,
    cell_area_overlap,
    compare_feedback,
    daily_counts,
    detection_bias_sweep,
    ensign_urn,
    exposure_audit,
    feedback_section,
    make_count_model,
    oakland_scenario,
    planted_city,
    plot_bias_sweep,
    plot_comparison,
    plot_urn,
    read_areas,
    runs_section,
    synthetic_scenario,
    urn_bias_sweep,
)
from crimelens.feedback._areas import OUTSIDE
from crimelens.feedback._exposure import TIED_SHARE_CAUTION, ExposureReport, rolling_backtest
from crimelens.governance import Actor
from crimelens.services._context import (
    RESEARCH,
    RESEARCH_MARK,
    Context,
    check_dataset,
    count_records,
    dataset_timezone,
    record_use,
)
from crimelens.storage._feedback import (
    FeedbackRunRow,
    feedback_runs,
    get_feedback_run,
    save_feedback_run,
)

__all__ = [
    "SCENARIOS",
    "FeedbackRun",
    "audit_exposure",
    "list_runs",
    "report_section",
    "show_run",
    "simulate_feedback",
]

SCENARIOS: tuple[str, ...] = ("ensign-urn", "oakland", "synthetic", "planted-city")
#: The cautions an exposure audit's summary may carry, in the order they are printed.
EXPOSURE_CAUTIONS: tuple[str, ...] = ("caution_zero_risk", "caution_ties", "caution_outside", "caution_location",
                                      "caution_window", "caution")
MAX_GRID_DAYS = 3660  # ten years of daily refits; the urn is bounded by its days x runs instead
_DEFAULT_DAYS = {"ensign-urn": 1000, "oakland": 549, "synthetic": 365, "planted-city": 365}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FeedbackRun:
    """A stored simulation or exposure audit with its ledger entry and report section."""

    run_id: str
    kind: str
    scenario: str
    params: dict[str, Any]
    summary: dict[str, Any]
    output_hash: str
    ledger_seq: int | None
    section: str
    figures: dict[str, str] = field(default_factory=dict)
    mark: str = RESEARCH_MARK

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "run_id": self.run_id, "kind": self.kind, "scenario": self.scenario,
                "mark": self.mark, "params": self.params, "summary": self.summary,
                "output_hash": self.output_hash, "ledger_seq": self.ledger_seq, "figures": self.figures}


def _hash_arrays(*arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
        else:
            arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            h.update(str(arr.shape).encode("ascii"))
            h.update(arr.tobytes())
    return h.hexdigest()


def _scenario_hash(s: Scenario) -> str:
    return _hash_arrays(s.true_rate, s.history, s.centres_m, s.replay_reported)


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _areas_sha256(path: Path) -> str:
    """SHA-256 of an areas file; a shapefile's is over the ``.shp`` and its sidecar files
    (the attributes, populations included, live in the ``.dbf``)."""
    if path.suffix.lower() != ".shp":
        return file_sha256(path)
    h = hashlib.sha256()
    for side in sorted(path.parent.glob(path.stem + ".*")):
        if side.suffix.lower() in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            h.update(f"{side.suffix.lower()} {file_sha256(side)}\n".encode("ascii"))
    return h.hexdigest()


def _oakland_inputs(ctx: Context, data: Path | None, dataset: str | None,
                    areas: Path | None) -> tuple[IncidentTable, list[Area]]:
    if data is not None:
        from crimelens.ingest import read_file

        incidents = read_file(data, format="oakland_lum_isaac").table
        grid_file: Path | None = areas or data.parent / "oakland_grid.geojson"
    else:
        name = dataset or "oakland_drug"
        incidents = ctx.store.incidents(dataset=name)
        if len(incidents) == 0:
            raise NotFoundError(
                f"oakland scenario: dataset {name!r} has no incidents in the store {ctx.store.path!r}; "
                "ingest drug_crimes_with_bins.csv first or pass --data PATH"
            )
        grid_file = areas
        if grid_file is None:
            stored = ctx.store.areas(dataset=name)
            if stored:
                return incidents, stored
            raise InputError("oakland scenario: got no bins; expected --areas PATH to oakland_grid.geojson")
    if grid_file is None or not Path(grid_file).exists():
        raise NotFoundError(f"oakland scenario: bins file {str(grid_file)!r} not found; expected oakland_grid.geojson")
    return incidents, read_areas(grid_file, id_field="bin", crs=incidents.crs)


def _build_scenario(ctx: Context, name: str, *, seed: int, data: Path | None, dataset: str | None,
                    areas: Path | None) -> Scenario:
    if name == "oakland":
        incidents, bins = _oakland_inputs(ctx, data, dataset, areas)
        return oakland_scenario(incidents, bins)
    if name == "synthetic":
        return synthetic_scenario(random_state=seed)
    if name == "planted-city":
        return planted_city(random_state=seed)
    raise InvalidParameterError(f"scenario {name!r}: expected one of {list(SCENARIOS)}")


def _store(ctx: Context, *, kind: str, scenario: str, action: str, actor: Actor, purpose: str,
           model: str | None, params: dict[str, Any], summary: dict[str, Any], output_hash: str,
           data_hash: str | None) -> tuple[str, int]:
    run_id = f"fb-{uuid.uuid4().hex[:12]}"
    with ctx.store.transaction():
        seq = record_use(ctx, action=action, actor=actor, purpose=purpose, model=model,
                         model_version=__version__, params=params, data_hash=data_hash,
                         output_hash=output_hash, detail={"run_id": run_id, "scenario": scenario,
                                                          "summary": _headline(summary)})
        save_feedback_run(ctx.store, FeedbackRunRow(
            run_id=run_id, kind=kind, scenario=scenario, created_at=datetime.now(UTC), user_name=actor.user,
            purpose=purpose, params=params, summary=summary, output_hash=output_hash, ledger_seq=seq,
            mark=RESEARCH_MARK if purpose == RESEARCH else None))
    return run_id, seq


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    keep = ("amplification_ratio", "concentration_ratio", "corrected_amplification_ratio", "final_shares",
            "true_share", "n_periods", "group_by")
    return {k: v for k, v in summary.items() if k in keep}


def simulate_feedback(
    ctx: Context,
    *,
    scenario: str,
    actor: Actor,
    purpose: str = RESEARCH,
    model: str = "sepp",
    days: int | None = None,
    correction: str = "ipw",
    seed: int = 0,
    n_runs: int = 1000,
    sweep: bool = False,
    data: Path | None = None,
    dataset: str | None = None,
    areas: Path | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> FeedbackRun:
    """Run a built-in scenario with and without feedback (and corrected), store it, log it.

    ``ensign-urn`` runs the two-region urn ``n_runs`` times (uncorrected, corrected,
    and with 20 % citizen reports); the grid scenarios run ``model`` refit daily
    (``naive``, ``kde``, ``sepp`` or ``forecast:<name>``). ``out_dir`` receives the
    figures and the report section (``feedback.md``, ``feedback.html``).
    """
    if scenario not in SCENARIOS:
        raise InvalidParameterError(f"scenario {scenario!r}: expected one of {list(SCENARIOS)}")
    if correction not in CORRECTIONS:
        raise InvalidParameterError(f"correction {correction!r}: expected one of {list(CORRECTIONS)}")
    if seed < 0:
        raise InvalidParameterError(f"feedback simulate: seed {seed}; expected 0 or more")
    n_days = int(days if days is not None else _DEFAULT_DAYS[scenario])
    if scenario != "ensign-urn" and not 1 <= n_days <= MAX_GRID_DAYS:
        raise InvalidParameterError(f"feedback simulate {scenario}: days {n_days}; expected 1 to {MAX_GRID_DAYS:,} "
                                    "(each day refits the model on the grid)")
    params: dict[str, Any] = {"scenario": scenario, "days": n_days, "correction": correction, "seed": seed,
                              "sweep": sweep}
    figures: dict[str, str] = {}
    sweep_result: BiasSweep | None = None
    if scenario == "ensign-urn":
        if correction == "ipw-weight":
            raise InvalidParameterError("ensign-urn: correction 'ipw-weight' is not defined for the urn; use 'ipw'")
        params["n_runs"] = n_runs
        if sweep:  # each of the sweep's 12 urns (6 biases, with and without feedback) runs half as many
            params["sweep_runs"] = max(50, n_runs // 2)
        fix = "ipw" if correction in ("none", "ipw") else correction
        specs: list[dict[str, Any]] = [dict(correction="none"), dict(correction="none", reported_weight=0.2)]
        specs.insert(1, dict(correction=fix, reported_weight=0.2 if fix == "reported-only" else 0.0))
        urns: list[UrnResult] = []
        for i, spec in enumerate(specs):
            if progress is not None:
                progress("urn runs", i, len(specs))
            urns.append(ensign_urn(days=n_days, n_runs=n_runs, random_state=seed, **spec))
        if sweep:
            sweep_result = urn_bias_sweep(days=n_days, n_runs=params["sweep_runs"], random_state=seed)
        summary: dict[str, Any] = {"runs": {u.label: u.summary() for u in urns},
                                   "true_share": round(urns[0].true_share, 6),
                                   "final_shares": {u.label: round(u.final_share, 6) for u in urns}}
        h = hashlib.sha256("".join(u.output_hash() for u in urns).encode("ascii"))
        data_hash = None
        model_name = None
        comparison: FeedbackComparison | None = None
        if out_dir is not None:
            figures["urn"] = str(plot_urn(urns, Path(out_dir) / "ensign_urn.png"))
    else:
        built = _build_scenario(ctx, scenario, seed=seed, data=data, dataset=dataset, areas=areas)
        m = make_count_model(model, centres_m=built.centres_m, grid=built.grid,
                             crs=built.grid.crs if built.grid is not None else None,
                             origin=built.start or "2020-01-01")
        params.update({"model": model, "model_params": _jsonable(m.get_params()),
                       "allocation": built.allocation.describe(),
                       "observation": _jsonable(vars(built.observation))})
        total = n_days * (2 if correction == "none" else 3)
        done = [0]

        def tick(_day: int) -> None:
            done[0] += 1
            if progress is not None and done[0] % 5 == 0:
                progress("simulated days", done[0], total)

        urns = []
        comparison = compare_feedback(built, m, days=n_days, correction=correction, random_state=seed, progress=tick)
        if sweep and built.groups is not None:
            target = "group_b" if "group_b" in set(built.groups) else sorted({str(g) for g in built.groups})[-1]
            sweep_result = detection_bias_sweep(built, m, group=target, days=n_days, random_state=seed)
        summary = comparison.summary()
        h = hashlib.sha256(comparison.output_hash().encode("ascii"))
        data_hash = _scenario_hash(built)
        model_name = comparison.feedback.model
        params["scenario_description"] = built.description
        if out_dir is not None:
            figures["comparison"] = str(plot_comparison(comparison, Path(out_dir) / f"feedback_{scenario}.png"))
    if sweep_result is not None:
        summary["detection_bias_sweep"] = sweep_result.summary()
        h.update(json_bytes(sweep_result.summary()))
        if out_dir is not None:
            figures["bias_sweep"] = str(plot_bias_sweep(sweep_result, Path(out_dir) / f"bias_sweep_{scenario}.png"))
    output_hash = h.hexdigest()
    mark = RESEARCH_MARK if purpose == RESEARCH else None
    section = feedback_section(urn=urns, comparison=comparison, sweep=sweep_result,
                               figures={k: Path(v).name for k, v in figures.items()}, mark=mark)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "feedback.md").write_text(section, encoding="utf-8")
        html_text = feedback_section(urn=urns, comparison=comparison, sweep=sweep_result,
                                     figures={k: Path(v).name for k, v in figures.items()}, mark=mark, fmt="html")
        (Path(out_dir) / "feedback.html").write_text(html_text, encoding="utf-8")
    run_id, seq = _store(ctx, kind="simulate", scenario=scenario, action="feedback.simulate", actor=actor,
                         purpose=purpose, model=model_name, params=params, summary=summary,
                         output_hash=output_hash, data_hash=data_hash)
    return FeedbackRun(run_id=run_id, kind="simulate", scenario=scenario, params=params, summary=summary,
                       output_hash=output_hash, ledger_seq=seq, section=section, figures=figures,
                       mark=mark or "")


def json_bytes(value: Any) -> bytes:
    from crimelens.governance import canonical_json

    return canonical_json(value)


def _jsonable(params: Any) -> Any:
    if isinstance(params, dict):
        return {str(k): _jsonable(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [_jsonable(v) for v in params]
    if isinstance(params, (str, int, float, bool)) or params is None:
        return params
    return repr(params)


def audit_exposure(
    ctx: Context,
    *,
    actor: Actor,
    purpose: str = RESEARCH,
    dataset: str | None = None,
    data: Path | None = None,
    areas: Path | None = None,
    areas_dataset: str | None = None,
    group_by: str | None = None,
    n_quantiles: int = 2,
    model: str = "naive",
    cell_m: float = 150.0,
    coverage: float = 0.05,
    n_periods: int = 8,
    period_days: int = 7,
    window_days: int = 365,
    offense: str | None = None,
    confidence: float = 0.95,
    ties: Literal["split", "index"] = "split",
) -> tuple[FeedbackRun, ExposureReport]:
    """Backtest a model on recorded incidents and audit its flags per group of areas.

    Incidents come from the store (``dataset``) or a file (``data``, read by
    ``crimelens.ingest.read_file``); areas from a polygon file (``areas``) or the store
    (``areas_dataset``, default ``dataset``). The last ``n_periods`` periods of
    ``period_days`` days are each forecast from everything before them (``model``,
    square cells of ``cell_m`` metres over the areas), the top ``coverage`` of the
    surface is flagged, and the flags are audited. Only cells with a forecast risk above 0
    count as flagged: a cell of risk 0 in the cut is there by the tie rule alone, so where fewer
    cells have any risk than the coverage asks for, the period flags fewer; the summary's
    ``flags`` block gives, per period, the flags asked for and the cells with risk above 0, and
    ``caution_zero_risk`` says where they differ. Cells tied at the cut on a risk above 0 share
    the flags left pro rata (``ties="split"``; ``"index"`` takes them by cell index, for
    comparison); the summary says how many flags fell among tied cells (``ties``) and warns
    when many did. Incidents recorded in no cell of the areas count under ``(outside areas)``.

    The ledger entry's parameters name the inputs that change the result: the incident
    file's absolute path and SHA-256 (or the stored dataset), the areas file's absolute
    path and SHA-256, and every option.
    """
    if ties not in ("split", "index"):
        raise InvalidParameterError(f"audit exposure --ties {ties!r}: expected 'split' (cells tied at the cut share "
                                    "the flags left) or 'index' (tied cells taken by cell index)")
    data_file: dict[str, str] = {}
    if data is not None:
        from crimelens.ingest import read_file

        read = read_file(data)
        incidents, zone = read.table, read.layout.timezone
        source = str(Path(data).resolve())
        data_file = {"data_sha256": file_sha256(Path(data))}
    elif dataset is not None:
        incidents = ctx.store.incidents(dataset=dataset, offense=offense)
        zone = dataset_timezone(ctx, dataset) or "UTC"
        source = f"store:{dataset}"
    else:
        raise InputError("audit exposure: got no incidents; expected --dataset NAME or --data PATH")
    if offense is not None and data is not None:
        incidents = incidents.select(offense=offense)
    incidents, n_left_out = count_records(incidents, "incident")  # each incident once, as forecasts count
    if len(incidents) == 0:
        if data is None:
            check_dataset(ctx, dataset, "audit exposure")
        raise NotFoundError(f"audit exposure: no incidents in {source}" + (f" for offense {offense!r}" if offense else ""))
    areas_id: dict[str, str] = {}
    if areas is not None:
        area_list = read_areas(areas, crs=incidents.crs)
        # the file itself identifies the run: the same path with other populations is another audit
        areas_id = {"areas": str(Path(areas).resolve()), "areas_sha256": _areas_sha256(Path(areas))}
    else:
        name = areas_dataset or dataset
        area_list = ctx.store.areas(dataset=name) if name else []
        if not area_list:
            raise InputError(
                f"audit exposure: no areas for dataset {name!r} in the store; expected --areas PATH "
                "(GeoJSON, GeoPackage or Shapefile)"
            )
        # stored areas have no file: their content (outlines, populations, audit attributes) is hashed
        areas_id = {"areas_content_sha256": hashlib.sha256(json_bytes(
            [[a.area_id, a.name, a.wkt, a.population, a.crs, _jsonable(dict(a.audit))] for a in area_list]
        )).hexdigest()}
    import shapely

    bounds = shapely.bounds(shapely.union_all(shapely.from_wkt([a.wkt for a in area_list])))
    full = Grid.covering((float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])), cell_m,
                         crs=incidents.crs)
    overlap_full = cell_area_overlap(full, area_list)
    keep = overlap_full.sum(axis=1) > 0
    if not keep.any():
        raise InputError("audit exposure: no grid cell overlaps the areas")
    lookup = np.full(full.n_cells, -1, dtype=np.int64)
    lookup[keep] = np.arange(int(keep.sum()))
    cells_all = full.cell_of(incidents.xy_m)
    cells = np.where(cells_all >= 0, lookup[np.maximum(cells_all, 0)], -1)
    # days are the city's calendar days (the zone its files were read in), as the forecasts count them
    local = incidents.frame["occurred_from"].dt.tz_convert(zone)
    t_first, t_end = local.min(), local.max()
    span_days = int((t_end.normalize() - t_first.normalize()).days) + 1
    if n_periods * period_days > span_days:
        raise InvalidParameterError(
            f"audit exposure: {n_periods} periods of {period_days} days need {n_periods * period_days:,} days of "
            f"records; {source} holds {span_days:,} ({t_first:%Y-%m-%d} to {t_end:%Y-%m-%d}); expected fewer "
            "--periods or a shorter --period-days")
    if window_days > span_days:
        raise InvalidParameterError(
            f"audit exposure: a training window of {window_days:,} days is longer than the {span_days:,} days of "
            f"records in {source} ({t_first:%Y-%m-%d} to {t_end:%Y-%m-%d}); expected a shorter --window-days")
    n_days = window_days + n_periods * period_days
    start = (t_end - np.timedelta64(n_days - 1, "D")).strftime("%Y-%m-%d")
    daily = daily_counts(incidents, cells, int(keep.sum()), start=start, n_days=n_days, timezone=zone)
    # incidents recorded in no kept cell (beyond every area) still count: under "(outside areas)"
    located = np.isfinite(incidents.xy_m).all(axis=1)
    beyond_daily = daily_counts(incidents, np.where((cells < 0) & located, 0, -1), 1, start=start,
                                n_days=n_days, timezone=zone)[:, 0]
    unlocated_daily = daily_counts(incidents, np.where(located, -1, 0), 1, start=start, n_days=n_days,
                                   timezone=zone)[:, 0]
    first_period = n_days - n_periods * period_days
    beyond = beyond_daily[first_period:].reshape(n_periods, period_days).sum(axis=1)
    count_model = make_count_model(model, centres_m=full.centres()[keep], crs=incidents.crs,
                                   window_days=window_days, origin=start)
    backtest = rolling_backtest(daily, count_model, full.centres()[keep], n_periods=n_periods,
                                period_days=period_days, coverage=coverage, ties=ties)
    flagged = backtest.flagged
    counts = backtest.flag_counts()
    report = exposure_audit(flagged, backtest.incidents, overlap=overlap_full[keep], areas=area_list,
                            group_by=group_by, n_quantiles=n_quantiles, cell_area=full.cell_area_km2,
                            confidence=confidence, incidents_outside=beyond,
                            flags_asked=counts["flags_asked"].to_numpy(np.float64),
                            cells_risk_above_0=counts["cells_risk_above_0"].to_numpy(np.int64))
    params: dict[str, Any] = {"source": source, **data_file, "offense": offense,
                              "areas": areas_id.get("areas") or areas_dataset or dataset, **areas_id,
                              "group_by": group_by, "n_quantiles": n_quantiles, "model": model, "cell_m": cell_m,
                              "coverage": coverage, "ties": ties, "n_periods": n_periods,
                              "period_days": period_days, "window_days": window_days, "first_day": start,
                              "confidence": confidence, "records": "incident", "n_records_left_out": n_left_out}
    summary = report.summary()
    summary["ties"] = backtest.tie_summary()
    tied_share = summary["ties"]["share_of_flags_tied"]["mean"]
    if tied_share is not None and tied_share > TIED_SHARE_CAUTION:  # tied on a score above 0: cells of 0 get none
        what = ("split pro rata among them, so no group's share depends on cell order" if ties == "split"
                else "given by cell index, so the groups' shares depend on the grid's cell order")
        summary["caution_ties"] = (
            f"{tied_share:.0%} of each period's flags (mean) fell among cells tied at the cut: {what}; those "
            "flags say nothing about the places, only that the model cannot tell them apart")
    n_beyond = int(beyond.sum())
    n_unlocated = int(unlocated_daily[first_period:].sum())
    all_days = {"days": n_days, "n_incidents": int(daily.sum() + beyond_daily.sum() + unlocated_daily.sum()),
                "n_incidents_outside_cells": int(beyond_daily.sum())}
    summary["all_days"] = all_days
    if n_beyond:
        summary["caution_outside"] = (
            f"{n_beyond:,} of {int(report.n_incidents):,} incidents in the audited periods "
            f"({all_days['n_incidents_outside_cells']:,} of {all_days['n_incidents']:,} in all {n_days:,} days "
            "read, training windows included) were recorded outside every area's cells: they count under "
            f"{OUTSIDE!r} (never flagged, no PAI), and the model never sees them")
    if n_unlocated:
        summary["n_incidents_without_location"] = n_unlocated
        summary["caution_location"] = (
            f"{n_unlocated:,} incidents in the audited periods have no coordinates and are in no group")
    short = n_days - span_days  # days of the first training window before the first record
    if short > 0:
        summary["caution_window"] = (
            f"the first training window starts {short} days before the first record ({t_first:%Y-%m-%d}): the "
            f"earliest periods are forecast from fewer than {window_days} days of records"
        )
    if window_days > period_days and n_periods > 1:
        summary["caution"] = (
            f"training windows overlap ({window_days} days stepped by {period_days}): the periods share "
            "noise, so the intervals across them are too narrow; use --window-days <= --period-days for "
            "independent periods"
        )
    output_hash = hashlib.sha256(json_bytes(summary) + np.ascontiguousarray(flagged).tobytes()).hexdigest()
    data_hash = _hash_arrays(daily, beyond_daily)
    run_id, seq = _store(ctx, kind="exposure", scenario=source, action="feedback.exposure", actor=actor,
                         purpose=purpose, model=model, params=params, summary=summary,
                         output_hash=output_hash, data_hash=data_hash)
    mark = RESEARCH_MARK if purpose == RESEARCH else None
    notes = [str(summary[k]) for k in EXPOSURE_CAUTIONS if k in summary]
    section = feedback_section(exposure=report, mark=mark, notes=notes)
    run = FeedbackRun(run_id=run_id, kind="exposure", scenario=source, params=params, summary=summary,
                      output_hash=output_hash, ledger_seq=seq, section=section, mark=mark or "")
    return run, report


def report_section(
    ctx: Context,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    fmt: str = "markdown",
    heading_level: int = 2,
) -> str:
    """The feedback section for the model card or the annual report: every stored run in
    ``[since, until)`` with its headline figures, output hash and ledger entry. Reading
    stored runs is not a use of a model, so nothing is logged."""
    rows = [r for r in feedback_runs(ctx.store)
            if (since is None or r.created_at >= since) and (until is None or r.created_at < until)]
    docs = [{"run_id": r.run_id, "kind": r.kind, "scenario": r.scenario, "created_at": r.created_at.isoformat(),
             "summary": r.summary, "output_hash": r.output_hash, "ledger_seq": r.ledger_seq}
            for r in sorted(rows, key=lambda r: (r.created_at, r.run_id))]
    return runs_section(docs, fmt=fmt, heading_level=heading_level)


def list_runs(ctx: Context, *, kind: str | None = None, limit: int | None = 50) -> list[FeedbackRunRow]:
    """Stored feedback runs, newest first."""
    return feedback_runs(ctx.store, kind=kind, limit=limit)


def show_run(ctx: Context, run_id: str) -> FeedbackRunRow:
    """One stored feedback run."""
    return get_feedback_run(ctx.store, run_id)

