"""``crimelens link train|pairs|series|export|similar|label``: crime-series linkage from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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
from crimelens.errors import InvalidParameterError

__all__ = ["register"]

link_app = typer.Typer(
    no_args_is_help=True,
    help=("Crime-series linkage: train a pairwise linker on known series, score candidate pairs, "
          "build candidate series, list incidents similar to one."),
)

DatasetOpt = Annotated[str, typer.Option("--dataset", help="Dataset in the store.")]
LinkerOpt = Annotated[str | None, typer.Option("--linker", help="Linker id (default: the newest for the dataset).")]


def _bar(show: bool) -> Progress:
    """A bar per stage (candidate pairs, or labelled incidents), with the time left."""
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                    disable=not show)


class _Stages:
    """``progress(stage, done, total)`` onto a rich bar: one task per stage, as the stages come."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)

    def pairs(self, label: str) -> Any:
        """``progress(done, total)`` for one stage (scoring candidate pairs)."""
        return lambda done, total: self(label, done, total)


def _protected(values: list[str] | None) -> tuple[str, ...]:
    return tuple(values or ())


@link_app.command("train")
def train(
    dataset: DatasetOpt,
    label: Annotated[str, typer.Option("--label", help="Incident attribute holding the known series "
                                        "(e.g. series_id, offender_id); analyst labels are added.")] = "series_id",
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="Train on incidents before this date or time "
                                               "(read in the dataset's time zone unless it gives an offset); report "
                                               "how the held-out labelled ones after it score.")] = None,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Block radius in metres.")] = 1000.0,
    window_days: Annotated[float, typer.Option("--window-days", help="Block: max gap between windows, days.")] = 30.0,
    narrative: Annotated[bool, typer.Option("--narrative/--no-narrative", help="Use narrative similarity.")] = True,
    unlabelled: Annotated[str, typer.Option("--unlabelled", help="negative|exclude: pairs with an unlabelled "
                                            "incident in training.")] = "negative",
    enable_protected: Annotated[list[str] | None, typer.Option(
        "--enable-protected-descriptor",
        help="AUDITED OPTION, off by default: allow this protected suspect descriptor as a feature. "
             "Every use of the linker names it in the ledger.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a linker on labelled incidents (before --cutoff) and store it."""
    from crimelens.services.linkage import train_linker

    if unlabelled not in ("negative", "exclude"):
        raise InvalidParameterError(f"--unlabelled {unlabelled!r}: expected 'negative' or 'exclude'")
    with cli_context(db) as ctx, _bar(ctx.settings.progress and not as_json) as bar:
        result = train_linker(ctx, dataset=dataset, actor=cli_actor(ctx.settings), purpose=purpose, label=label,
                              cutoff=cutoff, radius_m=radius_m, window_days=window_days, narrative=narrative,
                              unlabelled=unlabelled, protected_descriptors=_protected(enable_protected),
                              random_state=seed, progress=_Stages(bar))

    def render(d: dict[str, Any]) -> None:
        console.print(f"linker [bold]{d['linker_id']}[/] on {esc(d['dataset'])} ({d['mark']})")
        tr = d["training"]
        table("training", ["incidents", "labelled", "candidate pairs", "linked", "unlinked"],
              [[tr["n_incidents"], tr["n_labelled"], tr["n_candidate_pairs"], tr["n_linked_pairs"],
                tr["n_unlinked_pairs"]]])
        if "candidate_link_share" in tr:
            console.print(f"link probabilities calibrated on the training period's {tr['n_population_pairs']:,} "
                          f"{tr['calibration_population']}, of which a share of {tr['candidate_link_share']:.3g} "
                          "is linked by the labels (docs/linkage.md)")
        ev = d["evaluation"]
        if ev:
            at = f"p ≥ {ev['series_threshold']:g}"
            table(f"held out (after {d['cutoff']})", ["labelled", "pairs", "AUC", "top-50 share",
                                                      f"series exact ({at})", f"series partial ({at})"],
                  [[ev["n_labelled"], ev["n_pairs"], _fmt(ev["auc"]), _fmt(ev["top_k_share"]),
                    _fmt(ev["series_exact_share"]), _fmt(ev["series_partial_share"])]])
        for w in d["warnings"]:
            console.print(f"[yellow]warning:[/] {esc(w)}")

    emit(result.to_dict(), as_json, render)


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.3f}"


@link_app.command("pairs")
def pairs(
    dataset: DatasetOpt,
    linker: LinkerOpt = None,
    min_score: Annotated[float, typer.Option("--min-score", help="Keep pairs with link probability >= this.")] = 0.5,
    out: Annotated[Path | None, typer.Option("--out", help="Write incident_id_a,incident_id_b,score CSV.")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every candidate pair; store (and write) those at or above --min-score."""
    from crimelens.services.linkage import score_pairs

    with cli_context(db) as ctx, _bar(ctx.settings.progress and not as_json) as bar:
        run = score_pairs(ctx, dataset=dataset, actor=cli_actor(ctx.settings), purpose=purpose,
                          linker_id=linker, min_score=min_score, out=out,
                          progress=_Stages(bar).pairs("scoring candidate pairs"))

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['n_pairs']} of {d['n_candidates']} candidate pairs >= {min_score} "
                      f"(run {d['run_id']}, {d['mark']})" + (f"; written to {esc(d['out'])}" if d["out"] else ""))
        table("top pairs", ["incident a", "incident b", "score"],
              [[p["incident_id_a"], p["incident_id_b"], f"{p['score']:.3f}"] for p in d["pairs"][:20]])
        for warning in d.get("warnings", []):
            console.print(f"[yellow]warning: {esc(warning)}[/]")

    emit(run.to_dict(), as_json, render)


@link_app.command("series")
def series(
    dataset: DatasetOpt,
    linker: LinkerOpt = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Link probability that joins a series: "
                                             "calibrated on all candidate pairs, so series are built by chains of "
                                             "weak links (0.01 rebuilds most planted series; 0.5 gives a few "
                                             "confident groups).")] = 0.01,
    method: Annotated[str, typer.Option("--method", help="components|average (linkage).")] = "components",
    seed_ids: Annotated[list[str] | None, typer.Option("--seed", help="Grow one series from these incidents "
                                                        "(Series Finder style).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the series for QGIS: .gpkg (layers "
                                             "series, series_members, series_links), .geojson or .csv.")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cluster linked pairs into candidate series, each with members, common M.O., span, area and why."""
    from crimelens.services.linkage import build_series, export_series_file, series_format

    if method not in ("average", "components"):
        raise InvalidParameterError(f"--method {method!r}: expected 'average' or 'components'")
    if out is not None:
        series_format(out)  # a bad suffix is refused before the work
    with cli_context(db) as ctx, _bar(ctx.settings.progress and not as_json) as bar:
        actor = cli_actor(ctx.settings)
        run = build_series(ctx, dataset=dataset, actor=actor, purpose=purpose,
                           linker_id=linker, threshold=threshold, method=method,  # type: ignore[arg-type]
                           seeds=tuple(seed_ids or ()), progress=_Stages(bar))
        written = (None if out is None else
                   export_series_file(ctx, run.run_id, out, actor=actor, purpose=purpose)["file"])
    doc = {**run.to_dict(), "out": None if out is None else str(out), "file": written}

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['n_series']} candidate series (run {d['run_id']}, {d['mark']})"
                      + (f"; written to {esc(d['out'])} (sha256 {d['file']['sha256'][:12]}…, in the link.export "
                         "ledger entry)" if d["out"] else ""))
        table("series", ["id", "members", "span (days)", "area (km²)", "cohesion", "common M.O."],
              [[s["series_id"], s["n_members"], f"{s['span_days']:.1f}", f"{s['hull_area_m2'] / 1e6:.2f}",
                f"{s['cohesion']:.2f}",
                ", ".join(f"{m['attribute']}={m['value']}" for m in s["common_mo"][:3])] for s in d["series"][:30]])
        for warning in d.get("warnings", []):
            console.print(f"[yellow]warning: {esc(warning)}[/]")

    emit(doc, as_json, render)


@link_app.command("export")
def export(
    run_id: Annotated[str, typer.Argument(help="A stored series run (crimelens link series prints its id).")],
    out: Annotated[Path, typer.Option("--out", help=".gpkg (layers series, series_members, series_links), "
                                      ".geojson (members, lon/lat) or .csv.")],
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a stored series run for QGIS, and check it against the run's ledger entry."""
    from crimelens.services.linkage import export_series_file

    with cli_context(db) as ctx:
        done = export_series_file(ctx, run_id, out, actor=cli_actor(ctx.settings), purpose=purpose)
    matches = done["matches_ledger"]

    def render(d: dict[str, Any]) -> None:
        console.print(f"series run {d['run_id']} written to {esc(d['out'])} (sha256 {d['file']['sha256'][:12]}…, "
                      "in the link.export ledger entry); "
                      + ("the stored series hash to the run's ledger entry" if d["matches_ledger"]
                         else "[bold red]the stored series NO LONGER hash to the run's ledger entry[/]"))

    emit({"ok": True, "run_id": run_id, "out": str(out), "matches_ledger": matches, "file": done["file"]}, as_json,
         render)


@link_app.command("similar")
def similar(
    incident_id: Annotated[str, typer.Argument(help="The incident to compare with its block-mates.")],
    dataset: DatasetOpt,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="How many to list.")] = 10,
    linker: LinkerOpt = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The top-k incidents most likely linked to one incident, with the features that drove each score."""
    from crimelens.services.linkage import similar_incidents

    with cli_context(db) as ctx:
        res = similar_incidents(ctx, dataset=dataset, incident_id=incident_id, actor=cli_actor(ctx.settings),
                                purpose=purpose, k=k, linker_id=linker, cache=False)

    def render(d: dict[str, Any]) -> None:
        if d["asked_for"] != d["incident_id"]:
            console.print(f"{esc(d['asked_for'])} is a further record of incident {esc(d['incident_id'])} "
                          "(one row per victim or offence): the matches are its incident's")
        console.print(f"{len(d['matches'])} of {d['n_candidates']} block-mates of {esc(d['incident_id'])} "
                      f"({d['mark']})")
        for warning in d.get("warnings", []):
            console.print(f"[yellow]warning: {esc(warning)}[/]")
        table("similar incidents", ["incident", "probability", "stage", "what drove it: what the pair has, log-odds"],
              [[m["incident_id"], f"{m['probability']:.3f}", m["stage"],
                "\n".join(f"{x['feature']}: {x.get('reading', '')} {x['contribution']:+.2f}" for x in m["drivers"][:3])]
               for m in d["matches"]])
        console.print("A driver's log-odds part is measured against the linker's average training pair, so an "
                      "agreement can count below it (docs/linkage.md, Similar incidents).")

    emit(res.to_dict(), as_json, render)


@link_app.command("label")
def label(
    incident_ids: Annotated[list[str], typer.Argument(help="Incidents that belong to the series.")],
    dataset: DatasetOpt,
    series_label: Annotated[str, typer.Option("--series", help="Series or offender id.")],
    note: Annotated[str | None, typer.Option("--note", help="Why (e.g. arrest report number).")] = None,
    purpose: PurposeOpt = "research",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an analyst-confirmed series (used as training labels by `link train`)."""
    from crimelens.services.linkage import label_series

    with cli_context(db) as ctx:
        counts = label_series(ctx, dataset=dataset, incident_ids=incident_ids, label=series_label,
                              actor=cli_actor(ctx.settings), purpose=purpose, note=note)
    def render(d: dict[str, Any]) -> None:
        for r in d["records"]:
            console.print(f"{esc(r['record'])} is a further record of incident {esc(r['incident_id'])} (one row per "
                          f"victim or offence): the label stands for incident {esc(r['incident_id'])}")
        console.print(f"{d['n_labelled']} incident(s) labelled {esc(repr(d['series']))} in {esc(d['dataset'])}"
                      + (f" ({d['n_already']} already were)" if d["n_already"] else ""))

    emit({"ok": True, "dataset": dataset, "series": series_label, **counts}, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
