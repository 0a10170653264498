"""``crimelens audit DATA --score COL --label COL --group COL ...``: the group audit of a score.

``audit`` is a command group. A first token that is not a known subcommand is
taken as DATA, so ``crimelens audit DATA ...`` means ``crimelens audit run DATA ...``.

Adding a subcommand from another module (e.g. the exposure audit of place-based
forecasts)::

    from crimelens.cli.audit import audit_app

    def register(app: typer.Typer) -> None:
        audit_app.command("exposure")(exposure)   # -> ``crimelens audit exposure ...``

Register it from your own ``cli/<yours>.py`` ``register``; ``audit_app`` is added
to the root app here and built lazily, so subcommands registered by modules
loaded later are still picked up. Don't name a subcommand like a data file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
    table,
)
from crimelens.errors import InvalidParameterError

__all__ = ["audit_app", "register"]

DEFAULT_COMMAND = "run"


class _DataByDefault(TyperGroup):
    """``audit DATA ...`` (or ``audit --score ... DATA``) means ``audit run DATA ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_DataByDefault,
    no_args_is_help=True,
    help=(
        "Audits. `crimelens audit DATA --score COL --label COL --group COL` audits a risk score "
        "per group (same as `audit run`)."
    ),
)


def _references(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        col, sep, grp = v.partition("=")
        if not sep or not col or not grp:
            raise InvalidParameterError(f"--reference: got {v!r}; expected COLUMN=GROUP, e.g. race=Caucasian")
        if col in out and out[col] != grp:
            raise InvalidParameterError(f"--reference: got two groups for {col!r} ({out[col]!r} and {grp!r}); "
                                        "expected one per column")
        out[col] = grp
    return out


def spinner(label: str, enabled: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn(label), TimeElapsedColumn(), transient=True,
                    console=console, disable=not enabled)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if v != v else f"{v:.3f}"
    return str(v)


def _cut(v: Any) -> str:
    """A group's own cut: flagged when score >= it."""
    return "—" if v is None or v != v else f"≥ {float(v):g}"


def _ci(row: Any, k: str) -> str:
    lo, hi = row.get(f"{k}_low"), row.get(f"{k}_high")
    if lo is None or hi is None:
        return _fmt(row[k])
    return f"{_fmt(row[k])} [{_fmt(lo)}, {_fmt(hi)}]"


def render_report(doc: dict[str, Any]) -> None:
    """Print an audit document (``AuditReport.to_dict()``) for a person."""
    if doc.get("mark"):
        console.print(f"[bold red]{doc['mark']}[/]")
    for warning in doc.get("warnings", []):
        console.print(f"[bold red]warning:[/] [bold]{esc(warning)}[/]")
    if doc.get("data", {}).get("note"):
        console.print(doc["data"]["note"], markup=False)
    harm = "harmful (punitive)" if doc["positive_is_harmful"] else "assistive"
    boot = doc["n_boot"] > 0
    level = f"{doc['ci_level']:.0%}"
    console.print(f"Score [b]{esc(doc['score'])}[/], label [b]{esc(doc['label'])}[/], {doc['n']:,} rows, flagged "
                  f"when score ≥ {doc['threshold']:g}; being flagged declared {harm}; "
                  + (f"{doc['n_boot']} bootstrap replicates, {level} intervals. " if boot else
                     "no bootstrap (--bootstrap 0): point estimates, no intervals. ")
                  + "No overall verdict is given.")
    tag = f" [{level}]" if boot else ""
    facets = list(dict.fromkeys(g["facet"] for g in doc["groups"]))
    for f in facets:
        rows = [g for g in doc["groups"] if g["facet"] == f]
        rule = doc.get("reference_rule", {}).get(f)
        table(f"{f}" + (f" (reference: {doc['reference'].get(f)}" + (f"; {rule})" if rule else ")")
                        if f != "overall" else ""),
              ["group", "n", "base rate", "selected", "AUC", "accuracy", f"FPR{tag}", f"FNR{tag}",
               "PPV", "note"],
              [[g["group"], g["n"], _fmt(g["base_rate"]), _fmt(g["selection_rate"]), _ci(g, "auc"),
                _fmt(g["accuracy"]), _ci(g, "fpr"), _ci(g, "fnr"), _fmt(g["ppv"]),
                f"n < {doc['min_group_size']}: no comparison, no AUC interval" if g["below_min_size"] else ""]
               for g in rows])
    fg = [d for d in doc["disparities"] if d["foreground"]]
    if fg:
        table("Foregrounded differences (declared harm direction)",
              ["facet", "group", "metric", "value", "reference", f"difference{tag}", "ratio", "reading"],
              [[d["facet"], d["group"], d["metric"], _fmt(d["value"]), _fmt(d["reference_value"]),
                "—" if d["difference"] is None else
                f"{_fmt(d['difference'])} [{_fmt(d.get('difference_low'))}, {_fmt(d.get('difference_high'))}]",
                _fmt(d["ratio"]), d["reading"]] for d in fg])
    table("Chouldechova: FPR = p/(1-p)·(1-PPV)/PPV·(1-FNR)",
          ["facet", "group", "base rate p", "PPV", "FNR", "FPR", "FPR from identity"],
          [[c["facet"], c["group"], _fmt(c["base_rate"]), _fmt(c["ppv"]), _fmt(c["fnr"]),
            _fmt(c["fpr"]), _fmt(c["fpr_from_identity"])] for c in doc["chouldechova"]])
    for m in doc.get("mitigations", []):
        flag = ("needs the protected attribute AT DECISION TIME" if m["needs_protected_at_decision"]
                else "protected attribute needed at training only")
        cuts = any("flag_at" in t for t in m["tradeoff"])  # group-specific thresholds: each group's cut
        table(f"Mitigation: {m['name']} — {flag}; accuracy {m['accuracy_before']:.3f} → "
              f"{m['accuracy_after']:.3f}",
              ["group", "n", *(["flagged at"] if cuts else []), "FPR before→after", "FNR before→after",
               "selected before→after", "who gains / who loses", "note"],
              [[t["group"], t["n"],
                *([_cut(t.get("flag_at"))] if cuts else []),
                f"{_fmt(t['fpr_before'])}→{_fmt(t['fpr_after'])}",
                f"{_fmt(t['fnr_before'])}→{_fmt(t['fnr_after'])}",
                f"{_fmt(t['selection_rate_before'])}→{_fmt(t['selection_rate_after'])}",
                t["who_gains_who_loses"], t.get("note", "")] for t in m["tradeoff"]])
    console.print("[b]What the label can and cannot tell you[/]")
    for n in doc["label_limits"]:
        console.print(f" • {esc(n)}")
    if doc.get("report_id"):
        console.print(f"report {doc['report_id']} · json sha256 {doc.get('json_sha256')} · "
                      f"html sha256 {doc.get('html_sha256')} · ledger entry {doc.get('ledger_seq')}")


@audit_app.command(DEFAULT_COMMAND)
def run(
    data: Annotated[Path, typer.Argument(help="CSV/Parquet table with score, label and group columns.")],
    label: Annotated[str, typer.Option("--label", help="0/1 recorded outcome column.")],
    group: Annotated[list[str], typer.Option("--group", help="Audit column (repeat for several).")],
    score: Annotated[str | None, typer.Option("--score", help="Score column (higher = riskier).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Audit a stored risk model instead.")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Flag when score >= T.")] = None,
    positive_is_harmful: Annotated[bool, typer.Option(
        "--positive-is-harmful/--positive-is-assistive",
        help="Is being flagged punitive for the person (foreground FPR/FDR) or assistive (FNR/FOR)?",
    )] = True,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates (0 = none).")] = 1000,
    reference: Annotated[list[str] | None, typer.Option(
        "--reference", help="Reference group per column, COLUMN=GROUP (default: the largest; an intersection "
        "follows its columns' references). A column that is not a --group is refused.")] = None,
    min_group_size: Annotated[int, typer.Option(
        "--min-group-size", help="No comparison for groups smaller than this.")] = 50,
    intersections: Annotated[bool, typer.Option("--intersections/--no-intersections")] = True,
    mitigate: Annotated[bool, typer.Option(
        "--mitigate", help="Add the mitigation trade-off tables.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    json_file: Annotated[Path | None, typer.Option("--json-file", help="Write the JSON report here.")] = None,
    layout: Annotated[str, typer.Option(
        "--layout", help="auto | compas | compas-violent | plain (auto recognises both COMPAS files).")] = "auto",
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Person id column (COMPAS: id); a repeated id is warned about.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    purpose: PurposeOpt = "research",
) -> None:
    """Audit a risk score per group: error rates, calibration, AUC, intervals, trade-offs."""
    from crimelens.services.risk import audit_table

    if layout not in ("auto", "compas", "compas-violent", "plain"):
        raise InvalidParameterError(f"--layout: got {layout!r}; expected auto, compas, compas-violent or plain")
    with cli_context(db, create=True) as ctx, spinner("auditing", not as_json) as progress:
        progress.add_task("audit", total=None)
        res = audit_table(ctx, data=data, label=label, groups=group, score=score, model_id=model,
                          threshold=threshold, positive_is_harmful=positive_is_harmful,
                          n_boot=bootstrap, reference=_references(reference),
                          min_group_size=min_group_size, intersections=intersections,
                          mitigate=mitigate, html=html, json_out=json_file,
                          layout=layout,  # type: ignore[arg-type]
                          purpose=purpose, actor=cli_actor(ctx.settings), id_column=id_column)
    import json as _json

    doc = _json.loads(res.json_text)
    doc.update(report_id=res.report_id, json_sha256=res.json_hash, html_sha256=res.html_hash,
               ledger_seq=res.ledger_seq, ok=True)
    emit(doc, as_json, render_report)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
