"""``crimelens risk fit|score|card|list``: interpretable risk models on person-level tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
from crimelens.cli.audit import spinner

__all__ = ["register", "risk_app"]

#: The printed card leaves out calibration bins of fewer people (and says how many); the JSON keeps them.
MIN_CALIBRATION_BIN = 20

risk_app = typer.Typer(no_args_is_help=True, help=(
    "Interpretable risk models (integer point scores, rule lists, logistic regression), "
    "calibrated, with cards. Person-level scores are research output unless served through an "
    "approved deployment with human review."))


def _num(v: Any) -> str:
    """A figure to three decimals; one the JSON holds as null (an AUC of a group with one outcome) as —."""
    return "—" if v is None or v != v else f"{float(v):.3f}"


def _render_card(card: dict[str, Any]) -> None:
    if card.get("mark"):
        console.print(f"[bold red]{card['mark']}[/]")
    console.print(f"[b]{card['kind']}[/] {card.get('model_id', '')} · label {esc(card['label'])} · "
                  f"{card['n_train']:,} rows · data sha256 {card['data_hash'][:16]}…")
    if card.get("data_note"):
        console.print(card["data_note"], markup=False)
    for warning in card.get("warnings", []):
        console.print(f"[bold yellow]warning:[/] {esc(warning)}")
    console.print(card["model"]["text"], highlight=False, markup=False)
    cv = card["cv"]
    console.print(f"cross-validated AUC ({cv['repeats']}× {cv['folds']}-fold): "
                  f"{cv['auc_mean']:.3f} ± {cv['auc_sd']:.3f}")
    comp = card.get("compas_comparison")
    if comp:
        keys = ["auc", "accuracy", "flagged_share",
                *[k for k in comp["rows"][0] if k.startswith(("fpr[", "fnr["))]]
        ours = comp["rows"][0]["flagged_share"]
        table(f"Beside COMPAS, flagging {ours:.3f} of people against COMPAS's {comp['same_flagged_share']:.3f} "
              "(as near as this model's score levels allow without flagging more)",
              ["measure", *[r["model"] for r in comp["rows"]]],
              [[k, *[_num(r.get(k)) for r in comp["rows"]]] for k in keys])
    groups = card.get("groups")
    if groups:
        rows = [g for g in groups["audit"]["groups"] if g["facet"] != "overall"]

        def rate(g: dict[str, Any], k: str) -> str:  # the figure and its bootstrap interval, as the JSON has them
            lo, hi = g.get(f"{k}_low"), g.get(f"{k}_high")
            value = g["observed_rate"] if k == "observed" else g[k]
            return _num(value) + ("" if lo is None or hi is None else f" [{_num(lo)}, {_num(hi)}]")

        table(f"Per group, out-of-fold, flagged when probability ≥ {groups['threshold']:.3f} (95 % intervals)",
              ["facet", "group", "n", "base rate", "AUC", "FPR", "FNR", "PPV"],
              [[g["facet"], g["group"], f"{g['n']}" + (" *" if g.get("below_min_size") else ""),
                _num(g["base_rate"]), _num(g["auc"]), rate(g, "fpr"), rate(g, "fnr"), _num(g["ppv"])]
               for g in rows])
        if any(g.get("below_min_size") for g in rows):
            console.print("* too few people for a reliable rate: read these rows' figures as anecdotes, not as "
                          "the group's error rates (a 0 of 5 has a Wilson interval up to 0.43)")
        every = [c for c in groups["audit"]["calibration"] if c["facet"] != "overall"]
        cal = [c for c in every if c["n"] >= MIN_CALIBRATION_BIN]
        table("Calibration by group (out-of-fold probability bins, 95 % intervals)",
              ["facet", "group", "bin", "n", "mean predicted", "observed"],
              [[c["facet"], c["group"], c["bin"], c["n"], _num(c["mean_score"]), rate(c, "observed")]
               for c in cal])
        hidden = [c for c in every if c["n"] < MIN_CALIBRATION_BIN]
        if hidden:
            names = sorted({str(c["group"]) for c in hidden})
            console.print(f"{len(hidden)} calibration bin(s) with fewer than {MIN_CALIBRATION_BIN} people are not "
                          f"shown (groups {', '.join(names)}): their observed rates are too uncertain to read. "
                          "The card's JSON (--json) lists every bin with its interval.", markup=False)
    console.print("[b]Label limits[/]: " + esc(" ".join(card.get("label_limits", [])[:2])))


@risk_app.command("fit")
def fit(
    data: Annotated[Path, typer.Argument(help="CSV/Parquet table (a ProPublica COMPAS file is recognised).")],
    label: Annotated[str, typer.Option("--label", help="0/1 outcome column.")],
    model: Annotated[str, typer.Option("--model", help="points | rules | logistic.")] = "points",
    features: Annotated[str | None, typer.Option(
        "--features", help="Comma-separated feature columns (default for COMPAS: history + charge).")] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", help="points: most items.")] = None,
    max_points: Annotated[int | None, typer.Option("--max-points", help="points: most points per item.")] = None,
    max_rules: Annotated[int | None, typer.Option("--max-rules", help="rules: most rules.")] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="Audit column for the card's per-group tables (repeatable).")] = None,
    cv_repeats: Annotated[int, typer.Option("--cv-repeats", help="Repeats of 5-fold CV.")] = 1,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Person id column (COMPAS: id); a repeated id groups the CV folds and is warned "
                            "about.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    purpose: PurposeOpt = "research",
) -> None:
    """Fit, cross-validate and store a risk model; print its card."""
    from crimelens.services.risk import fit_risk_model, risk_params

    params = risk_params(model, max_items=max_items, max_points=max_points, max_rules=max_rules)
    feats = [f.strip() for f in features.split(",") if f.strip()] if features else None
    with cli_context(db, create=True) as ctx, spinner(f"fitting {model} model and cross-validating", not as_json) as p:
        p.add_task("fit", total=None)
        res = fit_risk_model(ctx, data=data, label=label, kind=model, features=feats, params=params,
                             audit_columns=group or [], cv_repeats=cv_repeats, purpose=purpose,
                             actor=cli_actor(ctx.settings), id_column=id_column)
    emit({"ok": True, "ledger_seq": res.ledger_seq, **res.card}, as_json, _render_card)


@risk_app.command("score")
def score(
    model_id: Annotated[str, typer.Argument(help="Stored model id (rm-...).")],
    data: Annotated[Path, typer.Argument(help="Table with the model's feature columns.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write scores as CSV here.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Person id column, copied to the output (COMPAS: id is checked for repeats).")] = None,
    deployment: Annotated[str | None, typer.Option(
        "--deployment", help="Active, approved deployment (operational use).")] = None,
    actionable: Annotated[bool, typer.Option(
        "--actionable", help="Mark the output actionable: needs an active deployment; goes to human review.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    purpose: PurposeOpt = "research",
) -> None:
    """Score people with a stored model (research output unless deployed)."""
    from crimelens.services.risk import score_people

    with cli_context(db) as ctx:
        run = score_people(ctx, model_id=model_id, data=data, out=out, id_column=id_column,
                           deployment=deployment, actionable=actionable, purpose=purpose,
                           actor=cli_actor(ctx.settings))
    frame = run.frame
    summary = {"ok": True, "model_id": model_id, "n": len(frame), "n_read": run.n_read,
               "rows_note": run.rows_note, "out": None if out is None else str(out),
               "mean_probability": float(frame["probability"].mean()), "mark": run.mark,
               "review_item": run.review_item, "ledger_seq": run.ledger_seq, "warnings": list(run.warnings)}

    def render(d: dict[str, Any]) -> None:
        for warning in d["warnings"]:
            console.print(f"[bold yellow]warning:[/] {esc(warning)}")
        console.print(f"{d['n']:,} rows scored with {esc(model_id)}; mean probability {d['mean_probability']:.3f}"
                      + (f"; written to {esc(d['out'])}" if d["out"] else "") + (f" — {d['mark']}" if d["mark"] else ""))
        if d["n"] != d["n_read"]:
            console.print(f"[yellow]{d['n_read'] - d['n']:,} of the file's {d['n_read']:,} rows are not scored: "
                          f"{esc(d['rows_note'] or '')} (the column 'line' gives each scored row's line)[/]")
        if d["review_item"]:
            console.print(f"[bold]Review item {d['review_item']}[/]: a supervisor must accept it before anyone acts "
                          f"on these scores (crimelens review list; the file's mark says so in every row).")

    emit(summary, as_json, render)


@risk_app.command("card")
def card(
    model_id: Annotated[str, typer.Argument(help="Stored model id (rm-...).")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
    purpose: PurposeOpt = "research",
) -> None:
    """Print a stored model's card: items and points, calibration, per-group errors, COMPAS beside it."""
    from crimelens.services.risk import risk_card

    with cli_context(db) as ctx:
        c = risk_card(ctx, model_id=model_id, actor=cli_actor(ctx.settings), purpose=purpose)
    emit({"ok": True, **c}, as_json, _render_card)


@risk_app.command("list")
def list_models(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List stored risk models."""
    from crimelens.storage._risk import list_risk_models

    with cli_context(db) as ctx:
        frame = list_risk_models(ctx.store)
    rows = frame.astype(str).to_dict("records")
    emit({"ok": True, "models": rows}, as_json, lambda d: table(
        "risk models", ["model_id", "kind", "label", "n_train", "created_utc"],
        [[r["model_id"], r["kind"], r["label"], r["n_train"], r["created_utc"]] for r in d["models"]]))


@risk_app.command("register")
def register_cmd(
    model_id: Annotated[str, typer.Argument(help="Stored model id (rm-...).")],
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this registered user (role from the "
                                                             "user table).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    purpose: Annotated[str, typer.Option("--purpose", help="Stated purpose recorded in the ledger.")] = "model registration",
) -> None:
    """Put a stored model in the model registry with the figures its fit measured (a deployment approves
    registered models; `models register` refuses hand-typed figures for an rm- id)."""
    from crimelens.governance import Actor, Role
    from crimelens.services.risk import register_risk_model
    from crimelens.storage import _governance as gov_db

    with cli_context(db) as ctx:
        actor = cli_actor(ctx.settings)
        if as_user:
            row = gov_db.user_row(ctx.store, as_user)
            actor = Actor(as_user, Role(str(row["role"]))) if row else Actor(as_user, Role(ctx.settings.role))
        card = register_risk_model(ctx, model_id=model_id, actor=actor, purpose=purpose)
    emit(card.to_json(), as_json, lambda d: console.print(
        f"registered {esc(card.name)} {esc(card.version)} with the figures its fit measured "
        f"({d['sections']['evaluation_data']['figures']}); card sections still to write: "
        f"{', '.join(d['missing']) or 'none'} (crimelens models describe)"))


def register(app: typer.Typer) -> None:
    app.add_typer(risk_app, name="risk")
