"""Vectorised fast paths for the validator's hottest steps, each with an exact fallback.

Every function here answers the same question as the general code it stands in
for, on the inputs it can decide cheaply, and hands the rest back to that code:

* :func:`clean_strings` skips the whitespace-trim kernel when no value starts or
  ends with a byte that could be whitespace (looked up from the Arrow offsets and
  data buffers with NumPy), and the null-token lookup when no value is short
  enough to be one.
* :func:`iso_offset_micros` reads ``YYYY-MM-DDTHH:MM:SS±HH:MM`` (or ``Z``) from the
  fixed byte positions of the Arrow data buffer (a zero-copy ``(n, 25)`` view when
  every value has that width) and computes UTC microseconds with the proleptic
  Gregorian day count (H. Hinnant, "chrono-compatible low-level date algorithms",
  2013). It accepts only rows whose shape and calendar fields are valid and whose
  year lies in 1800..2200; every other row is returned as "not decided" for the
  caller's exact parser.
* :func:`to_float` uses Arrow's string-to-double cast (correctly rounded, like
  pandas' parser) and falls back to ``pandas.to_numeric(errors="coerce")`` when
  any value is not a plain number.
* :func:`provably_unique` reads fixed-width values (ids such as ``SC11-0000001``)
  straight from the data buffer: values in strictly increasing order are settled
  in one pass; otherwise each is hashed to one 64-bit word, and if the words are
  all different the values are too. Either way the exact duplicate search is
  skipped; equal words (a duplicate, or a hash collision) send the caller to it.
* :func:`per_value` applies an element-wise pandas function to the distinct values
  of a low-cardinality column and spreads the result back with ``take``.
* :func:`rows_json` writes quarantined rows as JSON with Arrow string kernels, byte for
  byte what ``json.dumps(row, ensure_ascii=False)`` writes, escaping only the bytes a
  column holds; a value with a rare control character sends the caller to ``json.dumps``.
  An updated export that repeats a whole file quarantines every row: 148,636 rows took
  1.2 s one by one.

Failure modes: none of these change an answer; a column they cannot decide costs
one extra pass (the check) before the general path runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from crimelens._arrow import chunks as _chunks
from crimelens._arrow import json_escaped, string_buffers

__all__ = ["arrow_strings", "clean_strings", "iso_offset_micros", "per_value", "provably_unique", "to_float"]

#: Bytes that might begin or end a whitespace character (ASCII controls and space, DEL and
#: every non-ASCII byte, since a multi-byte character may be Unicode whitespace).
_MAYBE_SPACE = np.zeros(256, dtype=bool)
_MAYBE_SPACE[:0x21] = True
_MAYBE_SPACE[0x7F:] = True

#: Cell values read as missing.
NULL_TOKENS = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "None")
_NULL_SETS = {t: pa.array(NULL_TOKENS, type=t) for t in (pa.string(), pa.large_string())}
_LONGEST_TOKEN = max(len(t) for t in NULL_TOKENS)


def arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The Arrow strings behind a pandas string Series (no copy when it is Arrow-backed)."""
    arr = pa.array(values, from_pandas=True)
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    return arr


def _edges_and_shortest(chunk: pa.Array) -> tuple[bool, int]:
    """(whether any value may start or end with whitespace, the shortest value's byte length)."""
    offsets, data = string_buffers(chunk)
    starts, ends = offsets[:-1], offsets[1:]
    lengths = ends - starts
    shortest = int(lengths.min())
    if shortest == 0:
        filled = lengths > 0
        starts, ends = starts[filled], ends[filled]
        if not len(starts):
            return False, 0
    return bool(_MAYBE_SPACE[data[starts]].any() or _MAYBE_SPACE[data[ends - 1]].any()), shortest


def clean_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Trim whitespace (``utf8_trim_whitespace``) and read the null tokens as missing.

    Equal to ``if_else(is_in(trim(arr), NULL_TOKENS), null, trim(arr))``; the two
    kernels run only on chunks where they can change something.
    """
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    out = []
    for chunk in _chunks(arr):
        if not len(chunk):
            out.append(chunk)
            continue
        maybe_space, shortest = _edges_and_shortest(chunk)
        if maybe_space:
            chunk = pc.utf8_trim_whitespace(chunk)
            shortest = _edges_and_shortest(chunk)[1]
        if shortest <= _LONGEST_TOKEN:
            chunk = pc.if_else(pc.is_in(chunk, value_set=_NULL_SETS[chunk.type]), pa.scalar(None, chunk.type), chunk)
        out.append(chunk)
    if isinstance(arr, pa.ChunkedArray):  # no copy into one buffer: fresh memory costs more than the loop
        return pa.chunked_array(out, type=arr.type)
    return out[0]


# --- ISO-8601 with an offset, from byte positions ---------------------------------------------
_DATE_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_OFFSET_DIGITS = np.array([20, 21, 23, 24])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def _days_from_civil(y: NDArray[np.int32], m: NDArray[np.int32], d: NDArray[np.int32]) -> NDArray[np.int64]:
    """Days since 1970-01-01 of a proleptic Gregorian date with a year >= 0 (Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _two_digits(m: NDArray[np.uint8], at: int) -> NDArray[np.int32]:
    return (m[:, at].astype(np.int32) - 48) * 10 + (m[:, at + 1].astype(np.int32) - 48)


def iso_offset_micros(arr: pa.Array | pa.ChunkedArray) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """UTC microseconds of ``YYYY-MM-DDTHH:MM:SS±HH:MM`` / ``...Z`` values, and which rows were decided.

    The date and time may also be separated by a space (``2024-01-01 06:00:00Z``), as
    ISO 8601's RFC 3339 profile allows and many exports write.

    A row is decided when it has exactly that shape, a real calendar date and time
    (seconds < 60), a year in 1800..2200 and offset minutes < 60; other rows (and
    nulls) are left for the exact parser, with 0 in the first array.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    offsets, data = string_buffers(arr)
    lengths = offsets[1:] - offsets[:-1]
    valid = np.ones(n, dtype=bool) if arr.null_count == 0 else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if arr.null_count == 0 and offsets[-1] - offsets[0] == 25 * n and (lengths == 25).all():
        m = data[offsets[0]: offsets[-1]].reshape(n, 25)  # zero-copy: every value is 25 bytes
    else:
        shaped = valid & ((lengths == 25) | (lengths == 20))
        m = np.zeros((n, 25), dtype=np.uint8)
        rows = np.flatnonzero(shaped)
        if len(rows):
            idx = np.minimum(offsets[:-1][rows, None] + np.arange(25), len(data) - 1)
            m[rows] = data[idx]
            m[rows, 20:] = np.where(lengths[rows, None] == 20, 0, m[rows, 20:])
    ok = valid & ((m[:, _DATE_DIGITS] - np.uint8(48)) <= 9).all(axis=1)  # uint8 wraps: non-digits are > 9
    ok &= (m[:, 4] == ord("-")) & (m[:, 7] == ord("-")) & ((m[:, 10] == ord("T")) | (m[:, 10] == ord(" ")))
    ok &= (m[:, 13] == ord(":")) & (m[:, 16] == ord(":"))
    zulu = (lengths == 20) & (m[:, 19] == ord("Z"))
    signed = (lengths == 25) & ((m[:, 19] == ord("+")) | (m[:, 19] == ord("-"))) & (m[:, 22] == ord(":"))
    signed &= ((m[:, _OFFSET_DIGITS] - np.uint8(48)) <= 9).all(axis=1)
    ok &= zulu | signed
    y = _two_digits(m, 0) * 100 + _two_digits(m, 2)
    mo, d = _two_digits(m, 5), _two_digits(m, 8)
    hh, mi, ss = _two_digits(m, 11), _two_digits(m, 14), _two_digits(m, 17)
    oh, om = _two_digits(m, 20), _two_digits(m, 23)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_ok = (mo >= 1) & (mo <= 12)
    dim = _DAYS_IN_MONTH[np.where(month_ok, mo, 0)] + ((mo == 2) & leap)
    ok &= month_ok & (d >= 1) & (d <= dim) & (hh < 24) & (mi < 60) & (ss < 60) & (y >= 1800) & (y <= 2200)
    ok &= zulu | (om < 60)
    offset_s = np.where(zulu, 0, np.where(m[:, 19] == ord("-"), -1, 1) * (oh * 3600 + om * 60))
    days = _days_from_civil(np.where(ok, y, 1970), np.where(ok, mo, 1), np.where(ok, d, 1))
    seconds = days * 86400 + (hh * 3600 + mi * 60 + ss - offset_s)
    return np.where(ok, seconds * 1_000_000, 0), ok


def to_float(values: pd.Series) -> NDArray[np.float64]:
    """``pd.to_numeric(values, errors="coerce")`` as float64 with NaN for missing, via Arrow when it can."""
    arr = arrow_strings(values)
    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.asarray(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=np.float64)


def per_value(values: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``fn(values)`` for an element-wise string function, computed once per distinct value.

    Worth it for codes and categories (offense, source); for columns where most
    values are distinct it just calls ``fn``.
    """
    arr = arrow_strings(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) < 1024:
        return fn(values)
    enc = pc.dictionary_encode(arr)
    if len(enc.dictionary) * 4 > len(arr):
        return fn(values)
    mapped = fn(pd.Series(pd.arrays.ArrowStringArray(enc.dictionary), copy=False))
    spread = arrow_strings(mapped).take(enc.indices)
    return pd.Series(pd.arrays.ArrowStringArray(spread), index=values.index, copy=False)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def provably_unique(values: pd.Series) -> bool:
    """True when the non-missing values are certainly all different (False: don't know).

    Decides fixed-width values of up to 64 bytes; anything else answers False.
    """
    arr = arrow_strings(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = arr.drop_null()
    n = len(arr)
    if n < 2:
        return True
    offsets, data = string_buffers(arr)
    width = int(offsets[1] - offsets[0])
    if not 1 <= width <= 64 or offsets[-1] - offsets[0] != width * n or ((offsets[1:] - offsets[:-1]) != width).any():
        return False
    words = -(-width // 8)
    block = np.zeros((n, words * 8), dtype=np.uint8)
    block[:, :width] = data[offsets[0]: offsets[-1]].reshape(n, width)
    # Sorted ids (the usual export order) are settled exactly in one pass: read as big-endian
    # words, the values compare like the strings, so strictly increasing rows are all different.
    ordered = block.view(">u8")
    rising = np.zeros(n - 1, dtype=bool)
    level = np.ones(n - 1, dtype=bool)
    for j in range(words):
        before, after = ordered[:-1, j], ordered[1:, j]
        rising |= level & (after > before)
        level &= after == before
    if rising.all():
        return True
    cols = block.view(np.uint64)
    h = cols[:, 0].copy()
    with np.errstate(over="ignore"):
        for j in range(1, words):
            h = h * _MIX + cols[:, j]
    return bool(len(pd.unique(h)) == n)


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def rows_json(columns: dict[str, pa.Array | pa.ChunkedArray], rows: NDArray[np.intp]) -> list[str] | None:
    r"""``json.dumps({name: value, ...}, ensure_ascii=False)`` of the rows at ``rows``, built column-wise.

    Returns None when a column is not text or a value holds a control character other than tab,
    newline or carriage return (``json.dumps`` escapes those as ``\uXXXX``; the caller uses it).

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> rows_json({"a": pa.array(["x", None, 'say "hi"']), "b": pa.array(["1", "2", "3"])}, np.array([2, 1]))
    ['{"a": "say \\"hi\\"", "b": "3"}', '{"a": null, "b": "2"}']
    """
    if len(rows) == 0:
        return []
    if not columns:
        return ["{}"] * len(rows)
    take = pa.array(np.asarray(rows, dtype=np.int64))
    pieces = []
    for i, (name, col) in enumerate(columns.items()):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return None
        values = col.take(take)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        escaped = json_escaped(values)
        if escaped is None:
            return None
        key = ("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        quoted = pc.binary_join_element_wise(_large(key + '"'), escaped, _large('"'), _large(""))
        pieces.append(pc.fill_null(quoted, _large(key + "null")))
    body = pc.binary_join_element_wise(*pieces, _large("}"), _large(""))
    out: list[str] = body.to_pylist()
    return out
