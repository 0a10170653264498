"""Risk models fitted, and group audits run, from a table sent to the API.

The body is the table as a file (CSV, CSV.gz or Parquet; a ProPublica COMPAS two-year file is
recognised and filtered as on the command line), streamed to a private temporary folder beside the
store under its own name, fitted and cross-validated with the same service as ``crimelens risk
fit``, then deleted. The card records the file as ``upload:<name>`` with its SHA-256; the stored
model and its ledger entry are those of the command line. A group audit of a score column (or of a
stored model's scores) on an uploaded table is ``crimelens audit`` the same way: auditors and board
members may run one, the people who hold the scores to account.

Both answers carry ``warnings``, what a reader must know first: a fit's are its card's (a feature
that may carry the outcome, a person on several rows); an audit's say when a stored model is audited
on the very file it was fitted on (in-sample figures) or a person is on several rows. ``id_column``
names the person, as ``--id-column`` does on the command line.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from crimelens.api._deps import CallerDep, CtxDep
from crimelens.api._routes import _body, ok
from crimelens.api._upload import UPLOAD_BODY, received_file
from crimelens.errors import InvalidParameterError

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["risk"])


@router.post("/risk/models", openapi_extra=UPLOAD_BODY,
             summary="Fit, cross-validate and store a risk model on a table (the body is the file); its card")
async def fit_model(
    request: Request, ctx: CtxDep, caller: CallerDep,
    filename: Annotated[str, Query(min_length=1, max_length=255,
                                   description="The table's file name (.csv, .csv.gz or .parquet).")],
    label: Annotated[str, Query(min_length=1, max_length=200, description="The 0/1 outcome column.")],
    model: Annotated[Literal["points", "rules", "logistic"], Query(description="The model kind.")] = "points",
    features: Annotated[str | None, Query(
        max_length=4000, description="Comma-separated feature columns (default for a COMPAS file: history and "
                                     "charge). Protected attributes are refused.")] = None,
    group: Annotated[list[str] | None, Query(
        max_length=8, description="Audit columns for the card's per-group tables (repeatable); never features.")] = None,
    max_items: Annotated[int | None, Query(ge=1, le=20, description="points: most items.")] = None,
    max_points: Annotated[int | None, Query(ge=1, le=20, description="points: most points per item.")] = None,
    max_rules: Annotated[int | None, Query(ge=1, le=20, description="rules: most rules.")] = None,
    cv_repeats: Annotated[int, Query(ge=1, le=10, description="Repeats of 5-fold cross-validation.")] = 1,
    id_column: Annotated[str | None, Query(
        min_length=1, max_length=200, description="Person id column (COMPAS: id): a person on several rows groups "
                                                  "the cross-validation folds and is warned about.")] = None,
) -> Response:
    from crimelens.services.risk import fit_risk_model, risk_params

    await run_in_threadpool(caller.allow, ctx, "risk.fit")
    params = risk_params(model, max_items=max_items, max_points=max_points, max_rules=max_rules)
    feats = [f.strip() for f in features.split(",") if f.strip()] if features else None
    async with received_file(request, ctx, filename, what="upload of {name} for a risk model", default="table.csv") as (path, name):
        res = await run_in_threadpool(partial(
            fit_risk_model, ctx, data=path, label=label, kind=model, features=feats, params=params,
            audit_columns=group or [], cv_repeats=cv_repeats, purpose=caller.purpose, actor=caller.actor,
            file_label=f"upload:{name}", id_column=id_column))
    return ok(_body(model_id=res.model_id, ledger_seq=res.ledger_seq, warnings=list(res.card.get("warnings") or []),
                    card=res.card))


def _references(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        col, eq, group = item.partition("=")
        if not eq or not col.strip() or not group.strip():
            raise InvalidParameterError(f"reference: got {item!r}; expected COLUMN=GROUP, e.g. race=Caucasian")
        out[col.strip()] = group.strip()
    return out


@router.post("/audits", openapi_extra=UPLOAD_BODY,
             summary="Audit a score column (or a stored risk model's scores) per group on a table (the body is the "
                     "file): error rates with bootstrap intervals, calibration, ROC, mitigations")
async def run_audit(
    request: Request, ctx: CtxDep, caller: CallerDep,
    filename: Annotated[str, Query(min_length=1, max_length=255,
                                   description="The table's file name (.csv, .csv.gz or .parquet).")],
    label: Annotated[str, Query(min_length=1, max_length=200, description="The 0/1 recorded outcome column.")],
    group: Annotated[list[str], Query(min_length=1, max_length=8, description="Audit columns (repeatable).")],
    score: Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="The score column (higher = riskier).")] = None,
    model_id: Annotated[str | None, Query(min_length=1, max_length=100,
                                          description="Or a stored risk model: its probability is audited.")] = None,
    threshold: Annotated[float | None, Query(description="Flag at score >= this (default 0.5 for a score in "
                                                         "[0, 1]).")] = None,
    positive_is_harmful: Annotated[bool, Query(description="Whether being flagged harms the person.")] = True,
    bootstrap: Annotated[int, Query(ge=0, le=5000, description="Bootstrap replicates (0: no intervals).")] = 1000,
    reference: Annotated[list[str] | None, Query(max_length=8, description="COLUMN=GROUP, the reference group per "
                                                                           "column (default the largest).")] = None,
    min_group_size: Annotated[int, Query(ge=1, le=100_000)] = 50,
    intersections: Annotated[bool, Query(description="Add the groups' intersections.")] = True,
    mitigate: Annotated[bool, Query(description="Add the mitigation trade-off tables.")] = False,
    id_column: Annotated[str | None, Query(
        min_length=1, max_length=200, description="Person id column (COMPAS: id): a person on several rows is "
                                                  "warned about.")] = None,
) -> Response:
    from crimelens.services.risk import audit_table

    await run_in_threadpool(caller.allow, ctx, "audit.fairness")
    refs = _references(reference)
    async with received_file(request, ctx, filename, what="upload of {name} for a group audit", default="table.csv") as (path, name):
        run = await run_in_threadpool(partial(
            audit_table, ctx, data=path, label=label, groups=group, actor=caller.actor, score=score,
            model_id=model_id, threshold=threshold, positive_is_harmful=positive_is_harmful, n_boot=bootstrap,
            reference=refs or None, min_group_size=min_group_size, intersections=intersections,
            mitigate=mitigate, purpose=caller.purpose, file_label=f"upload:{name}", id_column=id_column))
    return ok(_body(report_id=run.report_id, ledger_seq=run.ledger_seq, json_hash=run.json_hash,
                    threshold=run.report.threshold, n=run.report.n, n_mitigations=len(run.mitigations),
                    warnings=list(run.warnings)))
