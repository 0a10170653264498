"""A request body that is a file: streamed to a sink in chunks, capped at ``max_upload_mb``, never held whole."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Request

from crimelens.errors import InputError, PayloadTooLargeError
from crimelens.services import Context

__all__ = ["UPLOAD_BODY", "receive", "received_file"]

#: The OpenAPI request body (and the 413) of a route whose body is a file.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "description": "The file's bytes, as they are.",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    "responses": {"413": {"description": "The body passed max_upload_mb",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
}


async def receive(request: Request, ctx: Context, sink: Callable[[bytes], object], *, what: str) -> int:
    """Pass the body to ``sink`` chunk by chunk; returns its size.

    Refuses a declared ``Content-Length`` past the cap before reading, a body that passes it while
    streaming (both 413), and an empty body (422). The caller removes what the sink wrote.
    """
    mib = ctx.settings.max_upload_mb
    cap = mib * (1 << 20) if mib else None
    declared = request.headers.get("content-length", "")
    if cap is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLargeError(f"{what}: Content-Length {declared} bytes; expected at most {cap} "
                                   f"(max_upload_mb={mib})")
    n = 0
    async for chunk in request.stream():
        if not chunk:
            continue
        n += len(chunk)
        if cap is not None and n > cap:
            raise PayloadTooLargeError(f"{what}: the body passed {cap} bytes; expected at most that "
                                       f"(max_upload_mb={mib}; CRIMELENS_MAX_UPLOAD_MB raises it)")
        sink(chunk)
    if n == 0:
        raise InputError(f"{what}: got an empty body; expected the file's bytes "
                         "(Content-Type: application/octet-stream)")
    return n


@asynccontextmanager
async def received_file(request: Request, ctx: Context, filename: str, *, what: str,
                        default: str = "upload") -> AsyncIterator[tuple[Path, str]]:
    """The body written to a private folder beside the store under the file's own name (so that its
    extension and header pick the reader, as on the command line); yields ``(path, name)`` and
    removes the folder afterwards. Beside the store: on the disk that must hold the data anyway (a
    system /tmp may be a small tmpfs). ``what`` names the upload in errors; ``{name}`` in it
    becomes the file's name."""
    name = Path(filename.replace("\\", "/")).name.strip() or default
    with tempfile.TemporaryDirectory(prefix=".crimelens-upload-", dir=Path(ctx.store.path).resolve().parent) as tmp:
        path = Path(tmp) / name
        with path.open("wb") as fh:
            await receive(request, ctx, fh.write, what=what.replace("{name}", name))
        yield path, name
