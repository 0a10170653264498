"""Risk models fitted from a table sent to the API.

The body is the table as a file (CSV, CSV.gz or Parquet; a ProPublica COMPAS two-year file is
recognised and filtered as on the command line), streamed to a private temporary folder beside the
store under its own name, fitted and cross-validated with the same service as ``crimelens risk
fit``, then deleted. The card records the file as ``upload:<name>`` with its SHA-256; the stored
model and its ledger entry are those of the command line.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from crimelens.api._deps import CallerDep, CtxDep
from crimelens.api._routes import _body, ok
from crimelens.api._upload import UPLOAD_BODY, receive

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
) -> Response:
    from crimelens.services.risk import fit_risk_model, risk_params

    await run_in_threadpool(caller.allow, ctx, "risk.fit")
    params = risk_params(model, max_items=max_items, max_points=max_points, max_rules=max_rules)
    feats = [f.strip() for f in features.split(",") if f.strip()] if features else None
    name = FilePath(filename.replace("\\", "/")).name.strip() or "table.csv"
    # beside the store, on the disk that must hold the data anyway (a system /tmp may be a small tmpfs)
    with tempfile.TemporaryDirectory(prefix=".crimelens-upload-", dir=FilePath(ctx.store.path).resolve().parent) as tmp:
        path = FilePath(tmp) / name
        with path.open("wb") as fh:
            await receive(request, ctx, fh.write, what=f"upload of {name} for a risk model")
        res = await run_in_threadpool(partial(
            fit_risk_model, ctx, data=path, label=label, kind=model, features=feats, params=params,
            audit_columns=group or [], cv_repeats=cv_repeats, purpose=caller.purpose, actor=caller.actor,
            file_label=f"upload:{name}"))
    return ok(_body(model_id=res.model_id, ledger_seq=res.ledger_seq, card=res.card))
