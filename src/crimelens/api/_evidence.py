"""Evidence routes: intake by upload, cases and items, custody events, verification, download.

A running service holds the store, so these are how an agency handles evidence while
``crimelens serve`` runs (the ``crimelens evidence`` commands need the store to themselves).
Analysts, supervisors and administrators take evidence in, record custody and download copies;
auditors and board members read and verify. Every call, refused or not, is a ledger entry: a
role refusal, and a refusal for what was asked (an empty party, a time to come or without an
offset, an unknown item or case, an upload past the size limit), each with its reason. A request
whose body or query does not parse (422 ``RequestValidationError``: a malformed ``at``, an unknown
``kind``) is refused by the framework before a route runs and logged by the API's error handler
(``crimelens.api._errors``), as ``evidence.<kind>`` (``evidence.custody`` for an unknown kind).

A download answers ``X-Evidence-SHA256``, the SHA-256 of the item's whole stored file; a full
(200) answer also carries ``X-Content-SHA256``, the hash of the body sent, which is the same. A
``Range`` request (206) carries no ``X-Content-SHA256``: its body is part of the file.

An upload is the file's bytes as the request body (``application/octet-stream``), streamed to
the content-addressed folder and hashed on the way in, never held in memory; the role, the case
and the parent are checked before the first byte is read, and a body past ``max_upload_mb`` is
refused with 413 and its partial file removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from crimelens.api._deps import CallerDep, CtxDep, log_refusal
from crimelens.api._errors import logged_by_refuse
from crimelens.api._routes import NDJSON, Limit, Name, Offset, _body, _page, _streamed, ok
from crimelens.api._upload import UPLOAD_BODY, receive
from crimelens.errors import CrimelensError, InputError, NotFoundError
from crimelens.services import evidence as svc

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["evidence"])

Text = Annotated[str | None, Query(max_length=2000)]


@router.get("/evidence/cases", summary="Cases with evidence: item counts, bytes, first and last intake (paginated)")
def cases(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return ok(_page(svc.list_cases(ctx, actor=caller.actor, purpose=caller.purpose), limit, offset))


@router.get("/evidence/cases/{case_id:path}", summary="A case's items, each with its holder and custody gaps")
def case(ctx: CtxDep, caller: CallerDep, case_id: Name) -> Response:
    return ok(_body(**svc.show_case(ctx, case_id, actor=caller.actor, purpose=caller.purpose)))


@router.post("/evidence/cases/{case_id:path}/items", openapi_extra=UPLOAD_BODY,
             summary="Take a file in as evidence: the body is the file; hashed, stored, logged")
async def upload(
    request: Request, ctx: CtxDep, caller: CallerDep, case_id: Name,
    source: Annotated[str, Query(min_length=1, max_length=500, description="Where it came from.")],
    filename: Annotated[str, Query(min_length=1, max_length=255, description="The file's name.")],
    description: Text = None, location: Text = None,
    received_at: Annotated[datetime | None, Query(description="When it was received (with offset).")] = None,
    parent: Annotated[str | None, Query(max_length=200, description="Item it derives from.")] = None,
    derivation: Annotated[str | None, Query(max_length=200)] = None,
    tool: Annotated[str | None, Query(max_length=200)] = None,
    tool_version: Annotated[str | None, Query(max_length=200)] = None,
    allow_empty: Annotated[bool, Query(description="Take in an empty (0-byte) body on purpose; refused otherwise "
                                                   "(usually a failed copy). The custody record and the ledger "
                                                   "note it.")] = False,
) -> Response:
    await run_in_threadpool(caller.allow, ctx, "evidence.add")
    await run_in_threadpool(partial(svc.check_intake, ctx, case_id=case_id, source=source, parent_item_id=parent,
                                    derivation=derivation, tool=tool, tool_version=tool_version,
                                    actor=caller.actor, purpose=caller.purpose))
    with await run_in_threadpool(svc.upload_writer, ctx) as writer:
        try:
            await receive(request, ctx, writer.write, what=f"evidence upload to case {case_id}")
        except InputError as exc:
            # the empty body goes on to the service, which refuses it (logged, naming the file) or, with
            # allow_empty, takes it in and notes it; a body past the size limit stays refused here, logged
            if type(exc) is not InputError or writer.size_bytes:
                await run_in_threadpool(partial(
                    svc.log_refusal, ctx, exc, action="evidence.add", actor=caller.actor, purpose=caller.purpose,
                    detail={"case_id": case_id, "source": source, "original_name": filename,
                            "bytes_received": writer.size_bytes}))
        stored = await run_in_threadpool(writer.commit)
    item = await run_in_threadpool(partial(
        svc.add_evidence, ctx, stored, original_name=filename, case_id=case_id, actor=caller.actor,
        source=source, purpose=caller.purpose, description=description, location=location,
        received_at=received_at, parent_item_id=parent, derivation=derivation, tool=tool,
        tool_version=tool_version, allow_empty=allow_empty, via="api"))
    same = await run_in_threadpool(svc.same_content_as, ctx, item)
    return ok(_body(**item.to_json(), same_content_as=same, deliberately_empty=item.size_bytes == 0,
                    clock_allowance_s=ctx.settings.custody_clock_allowance_s))


@router.get("/evidence/items/{item_id}", summary="An item: custody record, holder, lineage to the original")
def item(ctx: CtxDep, caller: CallerDep, item_id: Name) -> Response:
    return ok(_body(**svc.show_item(ctx, item_id, actor=caller.actor, purpose=caller.purpose)))


@router.get("/evidence/items/{item_id}/content", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "The stored file, re-hashed before it is sent. `X-Evidence-SHA256`: "
                                            "the whole file's SHA-256; `X-Content-SHA256` (full answers only): "
                                            "the body's, the same"},
                       206: {"description": "Part of the file (a `Range` request): `X-Evidence-SHA256` is the "
                                            "whole file's hash, not the part's; no `X-Content-SHA256`"}},
            summary="Download an item's file (re-hashed first; logged)")
def content(request: Request, ctx: CtxDep, caller: CallerDep, item_id: Name) -> FileResponse:
    byte_range = request.headers.get("range")
    it, path = svc.open_content(ctx, item_id, actor=caller.actor, purpose=caller.purpose, byte_range=byte_range)
    headers = {"X-Evidence-SHA256": it.sha256}
    if byte_range is None:  # the body is the whole file: its hash is the item's
        headers["X-Content-SHA256"] = it.sha256
    return FileResponse(path, media_type=it.mime_type, filename=it.original_name, headers=headers)


class CustodyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["transfer", "check_out", "check_in"] = "transfer"
    # no min_length: an empty 'to' reaches the service, which refuses it and logs the refusal
    to: str = Field(max_length=200, description="Who (or where) takes the item (not empty).")
    from_party: str | None = Field(default=None, alias="from", max_length=200,
                                   description="Who gives it; default: the holder the record shows. A transfer "
                                               "from anyone but the holder of record is refused.")
    reason: str | None = Field(default=None, max_length=2000)
    location: str | None = Field(default=None, max_length=500)
    at: datetime | None = Field(default=None, description="When it happened (with offset); default: now. A late "
                                                         "entry is checked against the holder at that time.")
    return_follows: bool = Field(
        default=False, description="A late entry that the later record no longer follows from (a handover whose "
                                   "return is not yet entered): record it anyway; the answer's `disagrees` and the "
                                   "ledger name the later event that disagrees until the return is entered.")


@router.post("/evidence/items/{item_id}/custody",
             summary="Record a check-out, check-in or transfer; answers the holder and any custody gaps")
def custody(ctx: CtxDep, caller: CallerDep, item_id: Name, body: CustodyIn) -> Response:
    caller.allow(ctx, f"evidence.{body.kind}")
    rec = svc.record_custody(ctx, item_id, kind=body.kind, to_party=body.to, from_party=body.from_party,
                             reason=body.reason, location=body.location, event_time=body.at,
                             return_follows=body.return_follows, actor=caller.actor, purpose=caller.purpose,
                             via="api")
    return ok(_body(**rec.to_json()))


@router.post("/evidence/cases/{case_id:path}/verify",
             summary="Re-hash every item of a case, replay its custody and cross-check the ledger")
def verify(ctx: CtxDep, caller: CallerDep, case_id: Name) -> Response:
    caller.allow(ctx, "evidence.verify")
    return ok(_body(report=svc.verify_case(ctx, case_id, actor=caller.actor, purpose=caller.purpose).to_json()))


# redaction ---------------------------------------------------------------------------------------
class RedactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["placeholder", "pseudonym"] = Field(
        default="placeholder", description="Text: replace each value by its type ([PHONE]) or a numbered "
                                           "pseudonym per document ([PERSON_1]).")
    ner: Literal["auto", "spacy", "none"] = Field(
        default="auto", description="Text: names by spaCy NER when installed (auto), always (spacy) or rules only.")
    plates: bool = Field(default=False, description="Images: also blur licence plates (weak; see docs).")


@router.post("/evidence/items/{item_id}/redactions", tags=["redaction"],
             responses={200: {"content": {NDJSON: {}}, "description": "with `Accept: application/x-ndjson`: "
                              "a progress line per frame of a video, then the result line"}},
             summary="Redact an item (narratives JSONL, an image or a video); every document, the image or the "
                     "video's sampled frames are queued for review")
def redact(request: Request, ctx: CtxDep, caller: CallerDep, item_id: Name, body: RedactIn,
           accept: Annotated[str | None, Header(description=f"'{NDJSON}' streams progress (frames of a video)")]
           = None) -> Response:
    caller.allow(ctx, "redact.text")

    def refused(exc: CrimelensError) -> None:
        """Streamed: log what the error handler logs for the unstreamed answer (an unknown item, a kind
        the service does not redact), unless the service logged it."""
        if isinstance(exc, InputError | NotFoundError) and not logged_by_refuse(exc):
            log_refusal(ctx, request, caller, error=exc, detail={"item_id": item_id})

    def work(progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        run = svc.redact_item(ctx, item_id, actor=caller.actor, purpose=caller.purpose, mode=body.mode,
                              ner=body.ner, plates=body.plates, progress=progress)
        return _body(**run.to_json(), n_review=len(svc.review_queue(ctx, run.run_id)))

    if accept and NDJSON in accept:
        return _streamed(work, refused)
    return ok(work())


@router.get("/redactions", tags=["redaction"], summary="Redaction runs, newest first, with their review counts")
def redactions(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
               case: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    return ok(_page(svc.list_redaction_runs(ctx, actor=caller.actor, purpose=caller.purpose, case_id=case),
                    limit, offset))


@router.get("/redactions/{run_id}", tags=["redaction"],
            summary="A redaction run and its review queue (detections as types and spans or boxes; no text)")
def redaction(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    return ok(svc.show_redaction_run(ctx, run_id, actor=caller.actor, purpose=caller.purpose))


@router.get("/redactions/{run_id}/units/{unit:path}/frame", tags=["redaction"], response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the frame of the redacted copy"}},
            summary="A queued frame of a video run, as PNG, from the redacted copy (staff; logged)")
def redaction_frame(ctx: CtxDep, caller: CallerDep, run_id: Name, unit: Name) -> Response:
    caller.allow(ctx, "redact.inspect")
    data = svc.review_frame(ctx, run_id, unit, actor=caller.actor, purpose=caller.purpose)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store",
                                                           "X-Content-SHA256": hashlib.sha256(data).hexdigest()})


@router.get("/redactions/{run_id}/units/{unit:path}", tags=["redaction"],
            summary="One review item as the reviewer needs it: the original document and its detections "
                    "(staff; logged)")
def redaction_unit(ctx: CtxDep, caller: CallerDep, run_id: Name, unit: Name) -> Response:
    caller.allow(ctx, "redact.inspect")
    return ok(svc.review_unit(ctx, run_id, unit, actor=caller.actor, purpose=caller.purpose))


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["confirmed", "corrected", "rejected"]
    add: list[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1)],
                    Annotated[str, Field(min_length=1, max_length=40)]]] = Field(
        default_factory=list, max_length=500, description="Corrections: [start, end, TYPE] spans to redact too.")
    remove: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=500, description="Corrections: detection indexes to undo.")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/redactions/{run_id}/units/{unit:path}/decision", tags=["redaction"],
             summary="A reviewer's decision on one item: confirm, correct (add or undo spans) or reject")
def redaction_decision(ctx: CtxDep, caller: CallerDep, run_id: Name, unit: Name, body: DecisionIn) -> Response:
    caller.allow(ctx, "redact.review")
    return ok(_body(**svc.decide_review(ctx, run_id, unit, status=body.status, actor=caller.actor,
                                        purpose=caller.purpose, add=[(a, b, t) for a, b, t in body.add],
                                        remove=body.remove, note=body.note)))


@router.post("/redactions/{run_id}/release", tags=["redaction"],
             summary="Release a fully reviewed run: the redacted copy becomes an item of the case (refused while "
                     "any item is pending or rejected)")
def redaction_release(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    caller.allow(ctx, "redact.release")
    return ok(_body(**svc.release_item_run(ctx, run_id, actor=caller.actor, purpose=caller.purpose)))
