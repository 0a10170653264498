"""Arrow string-buffer helpers shared by ingest and storage (no crimelens imports).

* :func:`string_buffers` exposes a string array's offsets and data bytes as NumPy views.
* :func:`json_bytes_present` finds which bytes that JSON must escape occur in a column,
  from its data buffer.
* :func:`mo_json` folds the M.O. columns into one JSON object per row with Arrow string
  kernels, running the escape replacements only for the bytes a column actually holds; a
  value with a rare control character makes it answer None, and the store escapes with
  DuckDB instead. The store's SQL fold (``storage._incidents``) uses the same escape table.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["JSON_ESCAPES", "JSON_RARE", "chunks", "json_bytes_present", "json_escaped", "mo_json", "string_buffers"]


def chunks(arr: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """The chunks of a chunked array, or the array itself."""
    return list(arr.chunks) if isinstance(arr, pa.ChunkedArray) else [arr]


def string_buffers(chunk: pa.Array) -> tuple[NDArray[Any], NDArray[np.uint8]]:
    """(offsets (n + 1), data bytes) of a string or large-string array, as NumPy views."""
    bufs = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else np.int32
    offsets = np.asarray(
        np.frombuffer(bufs[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1] if bufs[1] is not None
        else np.zeros(len(chunk) + 1, dtype=width), dtype=width)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


#: JSON escapes, in the order they must be applied (backslash first).
JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
#: Control characters that only a full JSON encoder escapes.
JSON_RARE = frozenset([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[*JSON_RARE, ord("\\"), ord('"'), ord("\n"), ord("\r"), ord("\t")]] = True


def json_bytes_present(col: pa.Array | pa.ChunkedArray) -> set[int]:
    """Which of the bytes that JSON must escape occur in the column's values."""
    found: set[int] = set()
    for chunk in chunks(col):
        if len(chunk) == 0:
            continue
        offsets, data = string_buffers(chunk)
        values = data[offsets[0]: offsets[-1]]
        hits = _SPECIAL[values]
        if hits.any():
            found.update(int(b) for b in np.unique(values[hits]))
    return found


def json_escaped(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """``col`` as large strings escaped for the inside of a JSON string (backslash, quote, newline,
    carriage return, tab); None when a value holds another control character (``JSON_RARE``), which
    the caller escapes the slow way."""
    if not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.large_string())
    found = json_bytes_present(col)
    if found & JSON_RARE:
        return None
    for old, new in JSON_ESCAPES:
        if ord(old) in found:
            col = pc.replace_substring(col, old, new)
    return col


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, type=pa.large_string())


def mo_json(columns: list[pa.Array | pa.ChunkedArray], names: list[str], *, n: int
            ) -> pa.Array | pa.ChunkedArray | None:
    """``{"name":"value",...}`` per row (missing values left out, keys in ``names`` order).

    Returns None when a value holds a control character other than tab, newline or
    carriage return (the caller escapes those with DuckDB's ``to_json``).
    """
    if not names:
        return pa.array(["{}"] * n, type=pa.large_string())
    pieces = []
    for name, raw in zip(names, columns, strict=True):
        col = json_escaped(raw)
        if col is None:
            return None
        pieces.append(pc.binary_join_element_wise(_text("," + json.dumps(name, ensure_ascii=False) + ':"'), col,
                                                  _text('"'), _text("")))
    # Each present value brings its own leading comma; the first comma becomes the opening brace.
    # (null_handling="skip" would be simpler, but Arrow 26 drops the rows where every value is missing.)
    body = pc.binary_join_element_wise(*pieces, _text(""), null_handling="replace", null_replacement="")
    pieces.clear()  # each step frees the one before: these are column-sized
    body = pc.binary_replace_slice(body, start=0, stop=1, replacement="{")
    return pc.binary_join_element_wise(body, _text("}"), _text(""))
