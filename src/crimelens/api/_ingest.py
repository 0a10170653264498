"""Data routes that write: an export uploaded into a dataset, and the rows it quarantined.

While ``crimelens serve`` holds the store, ``crimelens ingest`` cannot open it; an analyst sends the
export here instead. The body is the file as exported (CSV, CSV.gz, Parquet, GeoJSON, a zipped
shapefile), streamed to a private temporary folder beside the store under its own name (so the
layout is detected from its header and extension as on the command line), ingested with the same
service, then deleted; the provenance records it as ``upload:<name>``. A file already stored for the
dataset changes nothing.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from crimelens.api._deps import CallerDep, CtxDep
from crimelens.api._routes import Name, _body, ok
from crimelens.api._upload import UPLOAD_BODY, receive
from crimelens.services import ingest as svc

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["data"])


@router.post("/datasets/{dataset}/files", openapi_extra=UPLOAD_BODY,
             summary="Ingest an export (the body is the file): rows land or are quarantined with their reason")
async def ingest(
    request: Request, ctx: CtxDep, caller: CallerDep, dataset: Name,
    filename: Annotated[str, Query(min_length=1, max_length=255,
                                   description="The export's file name; its extension and header pick the layout.")],
    format: Annotated[str | None, Query(max_length=100, description="A built-in layout, if detection fails.")] = None,
    crs: Annotated[str | None, Query(max_length=100, description="Source CRS, e.g. EPSG:26971.")] = None,
) -> Response:
    await run_in_threadpool(caller.allow, ctx, "ingest.file")
    name = FilePath(filename.replace("\\", "/")).name.strip() or "upload"
    # beside the store, on the disk that must hold the data anyway (a system /tmp may be a small tmpfs)
    with tempfile.TemporaryDirectory(prefix=".crimelens-upload-", dir=FilePath(ctx.store.path).resolve().parent) as tmp:
        path = FilePath(tmp) / name
        with path.open("wb") as fh:
            await receive(request, ctx, fh.write, what=f"upload of {name} into dataset {dataset}")
        summary = await run_in_threadpool(partial(
            svc.ingest_file, ctx, path, actor=caller.actor, purpose=caller.purpose, format=format, dataset=dataset,
            crs=crs, file_label=f"upload:{name}"))
    return ok(_body(**summary.to_dict()))


@router.get("/quarantine", summary="Rows refused at ingest, newest ingests first, with counts by reason")
def quarantine(ctx: CtxDep, caller: CallerDep,
               dataset: Annotated[str | None, Query(max_length=200)] = None,
               reason: Annotated[str | None, Query(max_length=200, description="Part of the reason.")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    return ok(_body(**svc.list_quarantine(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset,
                                          reason=reason, limit=limit)))
