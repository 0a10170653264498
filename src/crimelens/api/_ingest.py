"""Data routes that write: an export uploaded into a dataset, and the rows it quarantined.

While ``crimelens serve`` holds the store, ``crimelens ingest`` cannot open it; an analyst sends the
export here instead. The body is the file as exported (CSV, CSV.gz, Parquet, GeoJSON, a zipped
shapefile), streamed to a private temporary folder beside the store under its own name (so the
layout is detected from its header and extension as on the command line), ingested with the same
service, then deleted; the provenance records it as ``upload:<name>``. A file already stored for the
dataset and read the same way changes nothing; read with another mapping it is read again. Uploads into one
dataset are ingested one at a time (the service's lock per store and dataset), so two at once never both
land one export's rows or choose two CRSs. An export of an agency's own records system needs its mapping file: kept in
the store with ``PUT /api/mappings/{name}`` (every version stays) and named on the upload.
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
from crimelens.api._upload import UPLOAD_BODY, receive, received_file
from crimelens.errors import InvalidParameterError, PayloadTooLargeError, SchemaError
from crimelens.services import ingest as svc

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["data"])


@router.post("/datasets/{dataset:path}/files", openapi_extra=UPLOAD_BODY,
             summary="Ingest an export (the body is the file): rows land or are quarantined with their reason")
async def ingest(
    request: Request, ctx: CtxDep, caller: CallerDep, dataset: Name,
    filename: Annotated[str, Query(min_length=1, max_length=255,
                                   description="The export's file name; its extension and header pick the layout.")],
    format: Annotated[str | None, Query(max_length=100, description="A built-in layout, if detection fails.")] = None,
    crs: Annotated[str | None, Query(max_length=100, description="Target metric CRS in metres, e.g. EPSG:26971 "
                                                               "(default: the data's UTM zone; a dataset keeps its "
                                                               "first file's). The answer's `warnings` say when its "
                                                               "scale is off by over 1 % over the data.")] = None,
    mapping: Annotated[str | None, Query(max_length=100, description="A mapping stored with PUT /api/mappings/{name} "
                                                                     "(its newest version), for your own RMS export.")
                       ] = None,
) -> Response:
    await run_in_threadpool(caller.allow, ctx, "ingest.file")
    name = FilePath(filename.replace("\\", "/")).name.strip() or "upload"
    # an unknown mapping is refused before the first byte is read
    toml = None if mapping is None else (await run_in_threadpool(svc.mapping_text, ctx, mapping))[1]
    # beside the store, on the disk that must hold the data anyway (a system /tmp may be a small tmpfs)
    with tempfile.TemporaryDirectory(prefix=".crimelens-upload-", dir=FilePath(ctx.store.path).resolve().parent) as tmp:
        path = FilePath(tmp) / name
        mapping_path = None
        if toml is not None:
            (FilePath(tmp) / "mapping").mkdir()
            mapping_path = FilePath(tmp) / "mapping" / f"{mapping}.toml"
            mapping_path.write_text(toml, encoding="utf-8")
        with path.open("wb") as fh:
            await receive(request, ctx, fh.write, what=f"upload of {name} into dataset {dataset}")
        summary = await run_in_threadpool(partial(
            svc.ingest_file, ctx, path, actor=caller.actor, purpose=caller.purpose, format=format, dataset=dataset,
            crs=crs, file_label=f"upload:{name}", mapping=mapping_path))
    return ok(_body(**summary.to_dict()))


@router.post("/datasets/{dataset:path}/areas", openapi_extra=UPLOAD_BODY,
             summary="Load the dataset's area polygons (GeoJSON, GeoPackage, zipped shapefile; the body is the "
                     "file): the basemap, population and audit attributes")
async def areas(
    request: Request, ctx: CtxDep, caller: CallerDep, dataset: Name,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="The file's name (its extension).")],
    id_field: Annotated[str | None, Query(max_length=100)] = None,
    name_field: Annotated[str | None, Query(max_length=100)] = None,
    population_field: Annotated[str, Query(min_length=1, max_length=100)] = "population",
    replace: Annotated[bool, Query(description="Replace the dataset's areas if it has some.")] = False,
) -> Response:
    await run_in_threadpool(caller.allow, ctx, "areas.load")
    held = int(await run_in_threadpool(ctx.store.scalar, "SELECT count(*) FROM areas WHERE dataset = ?", [dataset]))
    if held and not replace:  # refused before the first byte is read: nothing stored is lost by accident
        raise InvalidParameterError(f"dataset {dataset!r} already has {held} areas; send replace=true to replace "
                                    "them (the ledger keeps which file replaced which)")
    async with received_file(request, ctx, filename, what="areas {name} for dataset " + dataset,
                             default="areas") as (path, _):
        loaded = await run_in_threadpool(partial(
            svc.load_areas, ctx, path, dataset=dataset, actor=caller.actor, purpose=caller.purpose,
            id_field=id_field, name_field=name_field, population_field=population_field))
    return ok(_body(dataset=dataset, n_areas=len(loaded), replaced=held, crs=loaded[0].crs if loaded else None,
                    audit_attributes=sorted({k for a in loaded for k in a.audit})))


#: A mapping file is a page of TOML; anything much larger is not one.
MAX_MAPPING_BYTES = 1 << 20


@router.put("/mappings/{name}", openapi_extra={"requestBody": {
                "required": True, "content": {"application/toml": {"schema": {"type": "string"}},
                                              "text/plain": {"schema": {"type": "string"}}}}},
            summary="Keep a mapping file (TOML) for loading your own records system's exports; a changed text is "
                    "a new version")
async def put_mapping(request: Request, ctx: CtxDep, caller: CallerDep, name: Name) -> Response:
    await run_in_threadpool(caller.allow, ctx, "ingest.mapping")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MAPPING_BYTES:
            raise PayloadTooLargeError(f"mapping {name!r}: over {MAX_MAPPING_BYTES} bytes; expected a TOML mapping file")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"mapping {name!r}: not UTF-8 text (byte {exc.start}); expected a TOML file") from exc
    if not text.strip():
        raise SchemaError(f"mapping {name!r}: got an empty body; expected a TOML mapping file (docs/ingest.md)")
    return ok(await run_in_threadpool(partial(svc.save_mapping, ctx, name, text, actor=caller.actor,
                                              purpose=caller.purpose)))


@router.get("/mappings", summary="Stored mapping files, newest version of each")
def mappings(ctx: CtxDep, caller: CallerDep) -> Response:
    return ok(_body(items=svc.list_mappings(ctx, actor=caller.actor, purpose=caller.purpose)))


@router.get("/mappings/{name}", summary="A stored mapping file's text (the newest version, or ?version=N)")
def mapping_file(ctx: CtxDep, caller: CallerDep, name: Name,
                 version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:
    return ok(svc.show_mapping(ctx, name, actor=caller.actor, purpose=caller.purpose, version=version))


@router.get("/quarantine", summary="Rows refused at ingest, newest ingests first, with counts by reason")
def quarantine(ctx: CtxDep, caller: CallerDep,
               dataset: Annotated[str | None, Query(max_length=200)] = None,
               reason: Annotated[str | None, Query(max_length=200, description="Part of the reason.")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    return ok(_body(**svc.list_quarantine(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset,
                                          reason=reason, limit=limit)))
