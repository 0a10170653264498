"""Pair features: how alike two incidents are, one number per aspect.

For a candidate pair ``(i, j)`` the features are

* ``distance_m`` and ``log1p_distance_m``: Euclidean distance in the projected CRS;
* ``time_gap_days`` and ``log1p_time_gap_days``: the gap between the two
  *windows* (0 when they overlap), so an uncertain "between Friday 18:00 and
  Monday 08:00" burglary is not pretended to have one time;
* ``hour_diff_h``: circular hour-of-day difference (0–12) and ``weekday_diff``
  (0–3.5 days), *aoristic*: the expected difference when each incident's time
  is uniform over its window (Ratcliffe 2000's aoristic analysis; the
  crimelinkage package's ``tod``/``dow`` are built the same way), computed
  exactly in closed form (``_aoristic_diff``), not by sampling. Long windows
  tend to the value under independence (6 h, 1.75 days), so uncertainty reads
  as "no evidence" rather than as "different";
* ``mo_<attr>`` for each categorical M.O. attribute (entry method, target,
  weapon, premise, property taken, suspect count or age band, ...): the
  attribute's inverse document frequency ``log(N / n_value)`` when both
  incidents share the value, else 0 — agreeing on a rare M.O. is stronger
  evidence than agreeing on a common one (Porter 2016, Chohlas-Wood & Levine
  2019); with ``mo_known`` (attributes known on both sides), ``mo_mismatch``
  (known and different) and ``mo_idf_sum``;
* ``absdiff_<attr>`` for numeric attributes (e.g. ``suspect_count``);
* ``narrative_cosine``: cosine of TF-IDF character 3–5-gram vectors
  (scikit-learn ``TfidfVectorizer(analyzer="char_wb")``) of the narratives;
  this one is costly, so it is a *shortlist* feature; the first pass uses
  ``narrative_svd_cosine``, the cosine of 32-dimensional truncated-SVD (LSA)
  projections of the same vectors, which costs 32 multiply-adds per pair, and
  ``narrative_commonness``: how often the more common of the two narratives
  occurs word for word among the training incidents (log copies per 10,000) —
  two identical boiler-plate reports ("vehicle taken from street") are not
  evidence of one offender the way a shared unusual phrase is.

Protected attributes of suspects (race, sex, ...) are refused through
:func:`crimelens.domain.check_not_protected` unless named one by one in
``protected_descriptors`` — a documented option, off by default, that the
linkage service writes into the ledger entry of every use.

Failure modes: IDF weights come from the training incidents, so a value unseen
there gets the largest weight; free-text M.O. fields with many spellings look
like disagreement (normalise them at ingest); narratives written from a
template share n-grams without sharing an offender.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

from crimelens.domain import IncidentTable, check_not_protected, is_protected
from crimelens.errors import InvalidParameterError, NotFittedError

__all__ = ["DEFAULT_FAMILIES", "EncodedIncidents", "PairFeaturizer", "attr_values", "parse_attrs"]

#: Offense -> family used for blocking; offenses not listed are their own family.
DEFAULT_FAMILIES: dict[str, str] = {
    "burglary": "burglary",
    "robbery": "robbery",
    "theft": "theft",
    "theft_from_vehicle": "theft",
    "vehicle_theft": "theft",
    "assault": "violence",
    "aggravated_assault": "violence",
    "homicide": "violence",
    "sex_offense": "sex_offense",
    "arson": "damage",
    "criminal_damage": "damage",
    "fraud": "fraud",
}

#: Attribute names that hold series labels, never features.
LABEL_COLUMNS: tuple[str, ...] = ("series_id", "offender_id", "offender", "pattern_id", "case_id")

_DAY_US = 86_400e6
_HOUR_UNKNOWN = 6.0
_WEEKDAY_UNKNOWN = 12.0 / 7.0


def parse_attrs(attrs: Sequence[Any] | NDArray[Any]) -> pd.DataFrame:
    """The JSON M.O. attributes of an incident table as one column per attribute.

    Lists become ``;``-joined sorted strings; absent attributes are missing.

    Each distinct text is parsed once: M.O. attributes repeat (the million-incident synthetic
    city holds 33,370 distinct texts among 1,155,682), and building a frame from a million
    parsed rows took 7.0–7.5 s where this takes 0.7 s. Distinct texts keep the order of their first
    row, so the columns come in the same order, with the same values, as from every row.

    Examples
    --------
    >>> parse_attrs(['{"weapon": "knife", "n": 2}', None, '{"tags": ["b", "a"]}'])["tags"].tolist()
    [nan, nan, 'a;b']
    """
    codes, distinct = pd.factorize(np.asarray(attrs, dtype=object))  # None and NaN: code -1
    rows: list[dict[str, Any]] = []
    for a in [*distinct.tolist(), None]:
        if isinstance(a, str) and a:
            d = json.loads(a)
            for k, v in list(d.items()):
                if isinstance(v, list | tuple | set):
                    d[k] = ";".join(sorted(str(e) for e in v))
            rows.append(d)
        else:
            rows.append({})
    frame = pd.DataFrame.from_records(rows, index=pd.RangeIndex(len(rows)))
    frame = frame.astype(object).where(frame.notna(), np.nan)
    at = np.where(codes < 0, len(rows) - 1, codes)
    return frame.take(at).reset_index(drop=True)


def attr_values(attrs: Sequence[Any] | NDArray[Any], key: str) -> list[Any]:
    """One attribute of the JSON M.O. attributes, per incident (``None`` where absent).

    Values are as :func:`json.loads` reads them, lists joined as in :func:`parse_attrs`. Only
    rows that can hold ``key`` are parsed: a JSON text names a key either verbatim or with a
    backslash escape, so a row with neither is skipped unread (reading one attribute of a
    million incidents takes a fraction of a second where :func:`parse_attrs` takes seconds).
    Unlike a :func:`parse_attrs` column, a number keeps its own type whatever other rows hold
    (``12`` stays ``12`` beside rows without the key; pandas would make it ``12.0``).

    Examples
    --------
    >>> attr_values(['{"series_id": 12}', None, '{"w": "x"}', '{"series_id": ["b", "a"]}'], "series_id")
    [12, None, None, 'a;b']
    """
    out: list[Any] = []
    for a in attrs:
        if isinstance(a, str) and (key in a or "\\" in a):
            v = json.loads(a).get(key)
            if isinstance(v, list | tuple | set):
                v = ";".join(sorted(str(e) for e in v))
            out.append(v)
        else:
            out.append(None)
    return out


@dataclass(frozen=True, slots=True)
class EncodedIncidents:
    """Incidents as the arrays pair features are computed from (see :meth:`PairFeaturizer.encode`)."""

    incident_id: NDArray[np.object_]
    family: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    t_from: NDArray[np.float64]  # days since 1970-01-01 UTC
    t_to: NDArray[np.float64]
    codes: NDArray[np.int32]  # (n, k) categorical codes, -1 missing
    numeric: NDArray[np.float64]  # (n, m), NaN missing
    text: sparse.csr_matrix | None  # L2-normalised TF-IDF rows of the *distinct* narratives
    text_index: NDArray[np.int64]  # row of ``text`` per incident
    embedding: NDArray[np.float32]  # (n, d) unit rows of the text's SVD (d = 0 without text)
    commonness: NDArray[np.float64]  # log1p(copies of the narrative per 10,000 training incidents)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: NDArray[np.int64]) -> EncodedIncidents:
        """The rows ``index`` (in that order)."""
        return EncodedIncidents(
            self.incident_id[index], self.family[index], self.x[index], self.y[index],
            self.t_from[index], self.t_to[index], self.codes[index], self.numeric[index],
            self.text, self.text_index[index], self.embedding[index], self.commonness[index],
        )


_POINT_DAYS = 1e-4  # windows shorter than this (about 9 s) are treated as points at their midpoint


@numba.njit(cache=True, inline="always")
def _tri(s: float) -> float:
    """Triangle wave: distance from ``s`` to the nearest integer (period 1, mean 1/4)."""
    r = s - math.floor(s)
    return min(r, 1.0 - r)


@numba.njit(cache=True, inline="always")
def _tri_g1(s: float) -> float:
    """Periodic first antiderivative of ``_tri(s) - 1/4`` (zero at integers, odd about 1/2)."""
    r = s - math.floor(s)
    if r <= 0.5:
        return r * (0.5 * r - 0.25)
    r = 1.0 - r
    return -r * (0.5 * r - 0.25)


@numba.njit(cache=True, inline="always")
def _tri_g2(s: float) -> float:
    """Periodic second antiderivative of ``_tri(s) - 1/4`` (even about 1/2, mean 0)."""
    r = _tri(s)
    return r * r * (r / 6.0 - 0.125)


@numba.njit(cache=True, inline="always")
def _aoristic_diff(a0: float, a1: float, b0: float, b1: float, period: float, unit: float) -> float:
    """Expected circular difference (in ``unit``s) of the phase in ``period`` of two uniform windows.

    Times are days; the hour of day is the phase in a 1-day period (unit 24),
    the weekday the phase in a 7-day period (unit 1). With ``U`` uniform on
    ``[a0, a1]`` and ``V`` on ``[b0, b1]`` this is ``E f(U - V)``, ``f`` the
    circular distance, a triangle wave of mean ``period / 4``. In closed form
    (``F`` a second antiderivative of ``f``, lengths ``la``, ``lb``)::

        E f(U - V) = [F(a1 - b0) - F(a0 - b0) - F(a1 - b1) + F(a0 - b1)] / (la lb)

    and ``F(s) = s² period / 8 + G(s)`` with ``G`` periodic, whose quadratic
    part contributes exactly ``period / 4`` (the independence value): only
    ``G`` of phases is evaluated, so there is no cancellation of large day
    numbers. A window shorter than ``_POINT_DAYS`` is a point at its midpoint
    (one-sided form with the first antiderivative; two points: ``f`` itself).
    Exact windows give the plain circular difference; a window of a whole
    period gives ``period / 4`` whatever the other.
    """
    la_d = a1 - a0
    lb_d = b1 - b0
    la = la_d / period
    lb = lb_d / period
    d = (a0 - b0) / period
    d -= math.floor(d)
    scale = period * unit
    if la_d < _POINT_DAYS:
        if lb_d < _POINT_DAYS:
            return _tri(d + 0.5 * (la - lb)) * scale
        dm = d + 0.5 * la
        return (0.25 + (_tri_g1(dm) - _tri_g1(dm - lb)) / lb) * scale
    if lb_d < _POINT_DAYS:
        dm = d - 0.5 * lb
        return (0.25 + (_tri_g1(dm + la) - _tri_g1(dm)) / la) * scale
    num = _tri_g2(d + la) - _tri_g2(d) - _tri_g2(d + la - lb) + _tri_g2(d - lb)
    return (0.25 + num / (la * lb)) * scale


@numba.njit(cache=True, inline="always")
def _log1p(v: float) -> float:
    """``log(1 + v)`` for ``v >= 0`` (distances, gaps): within 1e-16 of ``log1p``, about 3× faster."""
    return math.log(1.0 + v)


@numba.njit(cache=True, inline="always", fastmath={"reassoc", "contract", "nsz"})
def _dot(emb: NDArray[np.float32], a: int, b: int) -> float:
    """Dot product of rows ``a`` and ``b`` (vectorised: the sum may be reassociated)."""
    s = 0.0
    for c in range(emb.shape[1]):
        s += emb[a, c] * emb[b, c]
    return s


@numba.njit(cache=True)
def _pair_row(a: int, b: int, x: NDArray[np.float64], y: NDArray[np.float64], tlo: NDArray[np.float64],
              thi: NDArray[np.float64], codes: NDArray[np.int32], idf: NDArray[np.float64],
              num: NDArray[np.float64], numfill: NDArray[np.float64], emb: NDArray[np.float32],
              common: NDArray[np.float64], row: NDArray[np.float64]) -> None:
    """Write the cheap features of pair ``(a, b)`` into ``row``."""
    k = codes.shape[1]
    m = num.shape[1]
    dx = x[a] - x[b]
    dy = y[a] - y[b]
    d = math.sqrt(dx * dx + dy * dy)
    row[0] = d
    row[1] = _log1p(d)
    g = max(0.0, tlo[b] - thi[a], tlo[a] - thi[b])
    row[2] = g
    row[3] = _log1p(g)
    row[4] = _aoristic_diff(tlo[a], thi[a], tlo[b], thi[b], 1.0, 24.0)
    row[5] = _aoristic_diff(tlo[a], thi[a], tlo[b], thi[b], 7.0, 1.0)
    known = 0.0
    mismatch = 0.0
    total = 0.0
    for c in range(k):
        ca = codes[a, c]
        cb = codes[b, c]
        v = 0.0
        if ca >= 0 and cb >= 0:
            known += 1.0
            if ca == cb:
                v = idf[c, ca]
            else:
                mismatch += 1.0
        row[6 + c] = v
        total += v
    row[6 + k] = known
    row[7 + k] = mismatch
    row[8 + k] = total
    for c in range(m):
        va = num[a, c]
        vb = num[b, c]
        if math.isnan(va) or math.isnan(vb):
            row[9 + k + c] = numfill[c]
        else:
            row[9 + k + c] = abs(va - vb)
    if emb.shape[1] > 0:
        row[9 + k + m] = _dot(emb, a, b)
        row[10 + k + m] = max(common[a], common[b])


_BLOCK = 4096


@numba.njit(cache=True, inline="always")
def _pair_matrix_rows(r0: int, r1: int, i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                      y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                      codes: NDArray[np.int32], idf: NDArray[np.float64], num: NDArray[np.float64],
                      numfill: NDArray[np.float64], emb: NDArray[np.float32], common: NDArray[np.float64],
                      out: NDArray[np.float64]) -> None:
    row = np.zeros(out.shape[1], dtype=np.float64)
    for r in range(r0, r1):
        _pair_row(i[r], j[r], x, y, tlo, thi, codes, idf, num, numfill, emb, common, row)
        out[r, :] = row


@numba.njit(cache=True, parallel=True)
def _pair_matrix(i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                 y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                 codes: NDArray[np.int32], idf: NDArray[np.float64], num: NDArray[np.float64],
                 numfill: NDArray[np.float64], emb: NDArray[np.float32], common: NDArray[np.float64],
                 n_cols: int) -> NDArray[np.float64]:
    p = i.shape[0]
    out = np.zeros((p, n_cols), dtype=np.float64)
    n_blocks = (p + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        _pair_matrix_rows(blk * _BLOCK, min(p, (blk + 1) * _BLOCK), i, j, x, y, tlo, thi, codes, idf, num,
                          numfill, emb, common, out)
    return out


@numba.njit(cache=True, nogil=True)
def _pair_matrix_serial(i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                        y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                        codes: NDArray[np.int32], idf: NDArray[np.float64], num: NDArray[np.float64],
                        numfill: NDArray[np.float64], emb: NDArray[np.float32], common: NDArray[np.float64],
                        n_cols: int) -> NDArray[np.float64]:
    """:func:`_pair_matrix` on one thread: a parallel launch costs more than a few thousand pairs."""
    out = np.zeros((i.shape[0], n_cols), dtype=np.float64)
    _pair_matrix_rows(0, i.shape[0], i, j, x, y, tlo, thi, codes, idf, num, numfill, emb, common, out)
    return out


@numba.njit(cache=True, inline="always")
def _pair_logit(a: int, b: int, x: NDArray[np.float64], y: NDArray[np.float64], tlo: NDArray[np.float64],
                thi: NDArray[np.float64], codes: NDArray[np.int32], agree: NDArray[np.float64],
                mismatch: float, num: NDArray[np.float64], numfill: NDArray[np.float64],
                emb: NDArray[np.float32], common: NDArray[np.float64], w: NDArray[np.float64],
                b0: float) -> float:
    """``b0 + w · (cheap features of (a, b))`` without writing the features.

    The M.O. block is folded into ``agree[c, code]`` (the weight of the pair
    agreeing on ``code``: its column weight and the IDF-sum weight times the
    IDF, plus the ``mo_known`` weight) and ``mismatch`` (the ``mo_known`` plus
    ``mo_mismatch`` weights), so each attribute costs one select.
    """
    k = codes.shape[1]
    m = num.shape[1]
    dx = x[a] - x[b]
    dy = y[a] - y[b]
    d = math.sqrt(dx * dx + dy * dy)
    g = max(0.0, tlo[b] - thi[a], tlo[a] - thi[b])
    z: float = b0 + w[0] * d + w[1] * _log1p(d) + w[2] * g + w[3] * _log1p(g)
    z += w[4] * _aoristic_diff(tlo[a], thi[a], tlo[b], thi[b], 1.0, 24.0)
    z += w[5] * _aoristic_diff(tlo[a], thi[a], tlo[b], thi[b], 7.0, 1.0)
    for c in range(k):
        ca = codes[a, c]
        cb = codes[b, c]
        if ca >= 0 and cb >= 0:
            z += float(agree[c, ca]) if ca == cb else mismatch
    for c in range(m):
        va = num[a, c]
        vb = num[b, c]
        z += w[9 + k + c] * (numfill[c] if math.isnan(va) or math.isnan(vb) else abs(va - vb))
    if emb.shape[1] > 0:
        z += w[9 + k + m] * _dot(emb, a, b) + w[10 + k + m] * max(common[a], common[b])
    return z


@numba.njit(cache=True, inline="always")
def _logit_rows(r0: int, r1: int, i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                codes: NDArray[np.int32], agree: NDArray[np.float64], mismatch: float,
                num: NDArray[np.float64], numfill: NDArray[np.float64], emb: NDArray[np.float32],
                common: NDArray[np.float64], w: NDArray[np.float64], b0: float, proba: bool,
                out: NDArray[np.float64]) -> None:
    for r in range(r0, r1):
        z = _pair_logit(i[r], j[r], x, y, tlo, thi, codes, agree, mismatch, num, numfill, emb, common, w, b0)
        out[r] = 1.0 / (1.0 + math.exp(-z)) if proba else z


@numba.njit(cache=True, parallel=True)
def _linear_logit(i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                  y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                  codes: NDArray[np.int32], agree: NDArray[np.float64], mismatch: float,
                  num: NDArray[np.float64], numfill: NDArray[np.float64], emb: NDArray[np.float32],
                  common: NDArray[np.float64], w: NDArray[np.float64], b0: float,
                  proba: bool) -> NDArray[np.float64]:
    """``b0 + w · features`` per pair (or its logistic, ``proba``), without a feature matrix."""
    p = i.shape[0]
    out = np.empty(p, dtype=np.float64)
    n_blocks = (p + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        _logit_rows(blk * _BLOCK, min(p, (blk + 1) * _BLOCK), i, j, x, y, tlo, thi, codes, agree, mismatch,
                    num, numfill, emb, common, w, b0, proba, out)
    return out


@numba.njit(cache=True, nogil=True)
def _linear_logit_serial(i: NDArray[np.int64], j: NDArray[np.int64], x: NDArray[np.float64],
                         y: NDArray[np.float64], tlo: NDArray[np.float64], thi: NDArray[np.float64],
                         codes: NDArray[np.int32], agree: NDArray[np.float64], mismatch: float,
                         num: NDArray[np.float64], numfill: NDArray[np.float64], emb: NDArray[np.float32],
                         common: NDArray[np.float64], w: NDArray[np.float64], b0: float,
                         proba: bool) -> NDArray[np.float64]:
    """:func:`_linear_logit` on one thread (few pairs)."""
    out = np.empty(i.shape[0], dtype=np.float64)
    _logit_rows(0, i.shape[0], i, j, x, y, tlo, thi, codes, agree, mismatch, num, numfill, emb, common, w, b0,
                proba, out)
    return out


@numba.njit(cache=True, inline="always")
def _sparse_dot(a0: int, a1: int, b0: int, b1: int, indices: NDArray[np.int32], data: NDArray[np.float64]) -> float:
    s = 0.0
    while a0 < a1 and b0 < b1:
        ia = indices[a0]
        ib = indices[b0]
        if ia == ib:
            s += data[a0] * data[b0]
            a0 += 1
            b0 += 1
        elif ia < ib:
            a0 += 1
        else:
            b0 += 1
    return s


@numba.njit(cache=True, parallel=True)
def _row_cosine(i: NDArray[np.int64], j: NDArray[np.int64], indptr: NDArray[np.int64],
                indices: NDArray[np.int32], data: NDArray[np.float64]) -> NDArray[np.float64]:
    """Dot products of CSR rows ``i[r]`` and ``j[r]`` (sorted indices) by merging."""
    p = i.shape[0]
    out = np.zeros(p, dtype=np.float64)
    for r in numba.prange(p):
        out[r] = _sparse_dot(indptr[i[r]], indptr[i[r] + 1], indptr[j[r]], indptr[j[r] + 1], indices, data)
    return out


@numba.njit(cache=True, nogil=True)
def _row_cosine_serial(i: NDArray[np.int64], j: NDArray[np.int64], indptr: NDArray[np.int64],
                       indices: NDArray[np.int32], data: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`_row_cosine` on one thread (few pairs)."""
    out = np.zeros(i.shape[0], dtype=np.float64)
    for r in range(i.shape[0]):
        out[r] = _sparse_dot(indptr[i[r]], indptr[i[r] + 1], indptr[j[r]], indptr[j[r] + 1], indices, data)
    return out


#: Below this many pairs the one-thread kernels run (a parallel launch costs ~0.1-10 ms).
_SERIAL_PAIRS = 50_000


def _unit_rows(a: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return np.asarray(a / np.where(norm > 0, norm, 1.0), dtype=np.float64)


def _days(values: NDArray[np.datetime64]) -> NDArray[np.float64]:
    return values.astype("datetime64[us]").astype(np.int64).astype(np.float64) / _DAY_US


def _fit_tfidf(distinct: list[str], copies: NDArray[np.int64], ngram_range: tuple[int, int],
               min_df: int) -> tuple[TfidfVectorizer, sparse.csr_matrix]:
    """The narrative vectoriser that ``TfidfVectorizer.fit`` would learn from every narrative
    (``copies[k]`` copies of ``distinct[k]``), and the TF-IDF rows of the distinct narratives.

    Templated reports repeat word for word, so each distinct narrative is analysed once and its
    document frequency counted ``copies`` times: the vocabulary and IDF weights are scikit-learn's
    to the bit (tested), at the cost of the distinct narratives only. Without copies it is
    scikit-learn's own fit.
    """
    settings: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": ngram_range, "lowercase": True,
                                "dtype": np.float64}
    if copies.max() == 1:
        vec = TfidfVectorizer(min_df=min_df, sublinear_tf=True, **settings)
        return vec, sparse.csr_matrix(vec.fit_transform(distinct))
    counter = CountVectorizer(**settings)
    counts = counter.fit_transform(distinct)  # raises on an empty vocabulary, as TfidfVectorizer does
    # the narratives holding each term: a stored entry is a term in a distinct narrative, counted per copy
    holder = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    df = np.bincount(counts.indices, weights=copies[holder], minlength=counts.shape[1]).astype(np.int64)
    keep = np.nonzero(df >= min_df)[0]
    if len(keep) == 0:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    terms = counter.get_feature_names_out()[keep]  # sorted, as scikit-learn numbers a vocabulary
    vec = TfidfVectorizer(min_df=min_df, sublinear_tf=True, vocabulary={str(t): k for k, t in enumerate(terms)},
                          **settings)
    # scikit-learn's smoothed IDF, operation for operation: log((n + 1) / (df + 1)) + 1
    idf = np.full(len(keep), float(copies.sum()) + 1.0)
    idf /= df[keep].astype(np.float64) + 1.0
    np.log(idf, out=idf)
    idf += 1.0
    vec.idf_ = idf
    weigh = TfidfTransformer(sublinear_tf=True)
    weigh.idf_ = idf
    return vec, sparse.csr_matrix(weigh.transform(counts[:, keep], copy=False))  # the slice is a copy


def _svd_rows(tfidf: sparse.csr_matrix, codes: NDArray[np.int64], copies: NDArray[np.int64],
              dims: int) -> sparse.csr_matrix:
    """The matrix the narrative SVD is fitted on: every narrative's TF-IDF row, or, when there are
    copies, each distinct row once weighted by the square root of its copies.

    Both have the same ``X.T @ X``, so the truncated SVD finds the same components (to rounding).
    The weighted form needs at least as many distinct rows as terms and room for the randomised
    solver's oversampling; otherwise scikit-learn's solver would transpose it and draw a
    different random basis, so every row is repeated instead.
    """
    rows, terms = tfidf.shape
    if copies.max() == 1:  # every narrative distinct: codes are 0, 1, 2, ...
        return tfidf
    if rows >= terms and rows > dims + 10:
        return sparse.csr_matrix(sparse.diags(np.sqrt(copies.astype(np.float64))) @ tfidf)
    return sparse.csr_matrix(tfidf[codes])


class PairFeaturizer(BaseEstimator):  # type: ignore[misc]
    """Learns the M.O. vocabulary, rarity weights and text vectoriser; computes pair features.

    Parameters
    ----------
    mo_columns : list of str or None
        Categorical M.O. attributes. ``None``: every attribute found in the
        incidents' ``attrs`` that is text, not a label (``series_id``, ...), not
        id-like, and not protected, plus ``premise`` when recorded.
    numeric_columns : list of str or None
        Numeric attributes compared by absolute difference (``None``: detected).
    narrative : bool
        Whether ``narrative_cosine`` is computed (needs narratives).
    protected_descriptors : tuple of str
        Protected suspect descriptors explicitly enabled as features. Default
        empty: naming a protected attribute anywhere raises
        :class:`~crimelens.errors.ProtectedAttributeError`.
    families : dict or None
        Offense -> family for blocking (``None``: :data:`DEFAULT_FAMILIES`).
    ngram_range : tuple of int
        Character n-gram range of the narrative vectoriser.
    text_dims : int
        Dimensions of the truncated SVD of the TF-IDF vectors whose cosine
        (``narrative_svd_cosine``) is the cheap stage's text feature.

    Examples
    --------
    >>> from crimelens.domain import Incident, IncidentTable
    >>> t = IncidentTable.from_incidents([
    ...     Incident("a", "burglary", "2020-01-01T10:00:00Z", "2020-01-01T11:00:00Z", 0, 0,
    ...              attrs={"entry": "door"}),
    ...     Incident("b", "burglary", "2020-01-03T10:30:00Z", "2020-01-03T10:30:00Z", 300, 400,
    ...              attrs={"entry": "door"}),
    ...     Incident("c", "burglary", "2020-01-05T02:00:00Z", "2020-01-05T03:00:00Z", 0, 10,
    ...              attrs={"entry": "window"})], crs="EPSG:3857")
    >>> f = PairFeaturizer(narrative=False).fit(t)
    >>> enc = f.encode(t)
    >>> X = f.transform(enc, np.array([0]), np.array([1]))
    >>> {k: float(v) for k, v in zip(f.feature_names_, X[0].round(3))}["distance_m"]
    500.0
    """

    def __init__(self, *, mo_columns: Sequence[str] | None = None,
                 numeric_columns: Sequence[str] | None = None, narrative: bool = True,
                 protected_descriptors: tuple[str, ...] = (),
                 families: Mapping[str, str] | None = None,
                 ngram_range: tuple[int, int] = (3, 5), text_dims: int = 32) -> None:
        self.mo_columns = mo_columns
        self.numeric_columns = numeric_columns
        self.narrative = narrative
        self.protected_descriptors = protected_descriptors
        self.families = families
        self.ngram_range = ngram_range
        self.text_dims = text_dims

    # fitting ----------------------------------------------------------------------
    def _check_names(self, names: Sequence[str], where: str) -> None:
        allowed = set(self.protected_descriptors)
        check_not_protected([c for c in names if c not in allowed], where=where)

    def fit(self, incidents: IncidentTable, y: None = None, *,
            progress: Callable[[int, int], None] | None = None) -> Self:
        """Learn vocabularies, IDF weights and the text vectoriser from ``incidents``.

        ``progress(done, 3)`` follows the three steps: the M.O. vocabularies, the narratives'
        TF-IDF vocabulary and their SVD.
        """
        if len(incidents) == 0:
            raise InvalidParameterError("PairFeaturizer.fit: got 0 incidents; expected at least 1")
        protected = tuple(self.protected_descriptors)
        for name in protected:
            if not is_protected(name):
                raise InvalidParameterError(
                    f"PairFeaturizer(protected_descriptors={protected!r}): {name!r} is not a "
                    "protected attribute; list only the protected descriptors to enable")
        lo, hi = self.ngram_range
        if not (1 <= lo <= hi):
            raise InvalidParameterError(f"PairFeaturizer(ngram_range={self.ngram_range}): expected 1 <= lo <= hi")
        frame = incidents.frame
        attrs = parse_attrs(frame["attrs"].to_numpy(dtype=object))
        if "premise" not in attrs.columns and frame["premise"].notna().any():
            attrs["premise"] = frame["premise"].astype(object).where(frame["premise"].notna(), np.nan)
        excluded: dict[str, str] = {}
        if self.mo_columns is not None:
            self._check_names(list(self.mo_columns), "PairFeaturizer(mo_columns)")
            mo = list(self.mo_columns)
        else:
            mo = []
        if self.numeric_columns is not None:
            self._check_names(list(self.numeric_columns), "PairFeaturizer(numeric_columns)")
            nums = list(self.numeric_columns)
        else:
            nums = []
        if self.mo_columns is None or self.numeric_columns is None:
            for col in attrs.columns:
                name = str(col)
                if name in mo or name in nums:
                    continue
                if name in LABEL_COLUMNS:
                    excluded[name] = "series label"
                    continue
                if is_protected(name) and name not in protected:
                    excluded[name] = "protected attribute"
                    continue
                values = attrs[col].dropna()
                if values.empty:
                    excluded[name] = "never recorded"
                    continue
                is_num = bool(values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all())
                if is_num and self.numeric_columns is None:
                    nums.append(name)
                elif not is_num and self.mo_columns is None:
                    n_unique = values.astype(str).nunique()
                    if len(values) > 20 and n_unique > 0.5 * len(values):
                        excluded[name] = "id-like (mostly unique values)"
                        continue
                    mo.append(name)
        self._check_names(mo + nums, "PairFeaturizer features")
        vocab: list[dict[str, int]] = []
        idfs: list[NDArray[np.float64]] = []
        n = len(incidents)
        for col in mo:
            values = attrs[col] if col in attrs.columns else pd.Series(np.nan, index=attrs.index)
            counts = values.dropna().astype(str).value_counts()
            voc = {str(v): c for c, v in enumerate(counts.index)}
            idf = np.log((n + 1.0) / (counts.to_numpy(np.float64) + 1.0)) + 0.0
            vocab.append(voc)
            idfs.append(np.append(idf, math.log(n + 1.0)))  # last slot: unseen values
        width = max([len(v) for v in idfs] + [1])
        idf_table = np.zeros((len(mo), width), dtype=np.float64)
        for c, v in enumerate(idfs):
            idf_table[c, : len(v) - 1] = v[:-1]
            idf_table[c, len(v) - 1 :] = v[-1]
        self.mo_columns_ = mo
        self.numeric_columns_ = nums
        self.excluded_columns_ = excluded
        self.protected_descriptors_used_ = [c for c in mo + nums if is_protected(c)]
        self.vocab_ = vocab
        self.idf_ = idf_table
        self.families_ = dict(DEFAULT_FAMILIES if self.families is None else self.families)
        # numeric fill: the median absolute difference over random pairs (uninformative)
        rng = np.random.default_rng(0)
        fill = []
        for col in nums:
            v = pd.to_numeric(attrs[col], errors="coerce").to_numpy(np.float64) if col in attrs.columns else np.full(n, np.nan)
            v = v[np.isfinite(v)]
            if len(v) >= 2:
                a = rng.choice(v, 2000)
                b = rng.choice(v, 2000)
                fill.append(float(np.median(np.abs(a - b))))
            else:
                fill.append(0.0)
        self.numeric_fill_ = np.asarray(fill, dtype=np.float64)
        say = progress if progress is not None else (lambda _k, _n: None)
        say(1, 3)
        self.text_ = None
        self.svd_ = None
        if self.narrative:
            codes, distinct = pd.factorize(frame["narrative"].fillna("").astype(str))
            if any(str(t).strip() for t in distinct):
                copies = np.bincount(codes, minlength=len(distinct))
                self.text_, tfidf = _fit_tfidf([str(t) for t in distinct], copies, (lo, hi), 2 if n > 50 else 1)
                say(2, 3)
                dims = min(self.text_dims, tfidf.shape[1] - 1, n - 1)
                if dims >= 2:
                    self.svd_ = TruncatedSVD(n_components=dims, random_state=0).fit(
                        _svd_rows(tfidf, codes, copies, dims))
                    self.narrative_counts_ = {str(t): int(c) for t, c in zip(distinct, copies, strict=True)
                                              if c > 1 and str(t).strip()}
                    self.n_fit_ = n
        say(3, 3)
        names = ["distance_m", "log1p_distance_m", "time_gap_days", "log1p_time_gap_days",
                 "hour_diff_h", "weekday_diff"]
        names += [f"mo_{c}" for c in mo] + ["mo_known", "mo_mismatch", "mo_idf_sum"]
        names += [f"absdiff_{c}" for c in nums]
        if self.svd_ is not None:
            names += ["narrative_svd_cosine", "narrative_commonness"]
        self.cheap_feature_names_ = names
        self.feature_names_ = names + (["narrative_cosine"] if self.text_ is not None else [])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise NotFittedError("PairFeaturizer is not fitted yet; call fit(incidents) first")

    # encoding ---------------------------------------------------------------------
    def family_name(self, offense: str) -> str:
        """The blocking family of an offense."""
        self._check_fitted()
        return self.families_.get(offense, offense)

    def encode(self, incidents: IncidentTable) -> EncodedIncidents:
        """The arrays pair features are computed from."""
        self._check_fitted()
        frame = incidents.frame
        n = len(frame)
        tlo = _days(incidents.occurred_from)
        thi = np.maximum(_days(incidents.occurred_to), tlo)
        # M.O. attributes repeat (templated reports, few categories): parse each distinct
        # JSON document once; row -1 (missing attrs) takes the appended empty record
        which, distinct = pd.factorize(frame["attrs"].astype(object), use_na_sentinel=True)
        attrs = parse_attrs([*np.asarray(distinct, dtype=object).tolist(), None])
        which = np.asarray(which, dtype=np.int64)
        premise_which = premise_values = None
        if "premise" not in attrs.columns:
            premise_which, premise_values = pd.factorize(frame["premise"].astype(object), use_na_sentinel=True)
        unseen = self.idf_.shape[1] - 1
        codes = np.full((n, len(self.mo_columns_)), -1, dtype=np.int32)
        for c, col in enumerate(self.mo_columns_):
            voc = self.vocab_[c]
            values: list[Any]
            if col in attrs.columns:
                values, rows = attrs[col].tolist(), which
            elif col == "premise" and premise_values is not None:
                values = [*np.asarray(premise_values, dtype=object).tolist(), None]
                rows = np.asarray(premise_which, dtype=np.int64)
            else:
                continue
            per = np.array([-1 if (isinstance(v, float) and math.isnan(v)) or v is None else voc.get(str(v), unseen)
                            for v in values], dtype=np.int32)
            codes[:, c] = per[rows]
        numeric = np.full((n, len(self.numeric_columns_)), np.nan, dtype=np.float64)
        for c, col in enumerate(self.numeric_columns_):
            if col in attrs.columns:
                numeric[:, c] = pd.to_numeric(attrs[col], errors="coerce").to_numpy(np.float64)[which]
        fam_codes, offenses = pd.factorize(frame["offense"].astype(str))
        fam_of = pd.Series([self.families_.get(str(o), str(o)) for o in offenses], dtype=object)
        fam_rank = pd.factorize(fam_of, sort=True)[0].astype(np.int64)
        family = fam_rank[np.asarray(fam_codes, dtype=np.int64)]
        text = None
        text_index = np.zeros(n, dtype=np.int64)
        emb = np.zeros((n, 0), dtype=np.float32)
        common = np.zeros(n, dtype=np.float64)
        if self.text_ is not None:
            # identical narratives (templated reports) are vectorised once
            inverse, distinct_texts = pd.factorize(frame["narrative"].fillna("").astype(str))
            uniq = np.asarray(distinct_texts, dtype=object)
            text = sparse.csr_matrix(self.text_.transform(uniq.tolist()))
            text.sort_indices()
            # the dtypes narrative_cosine's kernel takes, set once (no copies per call)
            text.indptr = np.asarray(text.indptr, dtype=np.int64)
            text.indices = np.asarray(text.indices, dtype=np.int32)
            text.data = np.asarray(text.data, dtype=np.float64)
            text_index = np.asarray(inverse, dtype=np.int64).ravel()
            if self.svd_ is not None:
                emb = _unit_rows(self.svd_.transform(text)).astype(np.float32)[text_index]
                per_text = np.array([self.narrative_counts_.get(str(t), 1) for t in uniq], dtype=np.float64)
                common = np.log1p(per_text * 10_000.0 / self.n_fit_)[text_index]
        return EncodedIncidents(
            frame["incident_id"].astype(str).to_numpy(dtype=object), family,
            incidents.xy_m[:, 0].copy(), incidents.xy_m[:, 1].copy(), tlo, thi,
            codes, numeric, text, text_index, emb, common,
        )

    # features ---------------------------------------------------------------------
    def transform(self, enc: EncodedIncidents, i: NDArray[np.int64], j: NDArray[np.int64], *,
                  cheap: bool = False) -> NDArray[np.float64]:
        """Feature matrix of the pairs ``(i[r], j[r])``; ``cheap`` leaves out the narrative."""
        self._check_fitted()
        i = np.ascontiguousarray(i, dtype=np.int64)
        j = np.ascontiguousarray(j, dtype=np.int64)
        n_cheap = len(self.cheap_feature_names_)
        kernel = _pair_matrix_serial if len(i) < _SERIAL_PAIRS else _pair_matrix
        X = kernel(i, j, enc.x, enc.y, enc.t_from, enc.t_to, np.ascontiguousarray(enc.codes),
                         self.idf_, np.ascontiguousarray(enc.numeric), self.numeric_fill_,
                         np.ascontiguousarray(enc.embedding), enc.commonness, n_cheap)
        if cheap or self.text_ is None:
            return X
        cos = self.narrative_cosine(enc, i, j)
        return np.column_stack([X, cos])

    def linear_logit(self, enc: EncodedIncidents, i: NDArray[np.int64], j: NDArray[np.int64],
                     weights: NDArray[np.float64], intercept: float, *,
                     proba: bool = False) -> NDArray[np.float64]:
        """``intercept + weights · cheap features`` per pair, fused (no feature matrix).

        With ``proba``, the logistic of it. Pairs scored in the order of
        :meth:`BlockingIndex.iter_sorted_pairs` on ``enc.take(index.order)``
        read memory almost sequentially (several times faster on a city).
        """
        self._check_fitted()
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != (len(self.cheap_feature_names_),):
            raise InvalidParameterError(
                f"linear_logit: got {w.shape[0]} weights; expected {len(self.cheap_feature_names_)}")
        k = len(self.mo_columns_)
        # agreeing on value v of attribute c: its own weight and the IDF-sum weight times its IDF,
        # plus the weight of "known on both sides"; disagreeing: known + mismatch weights
        agree = (w[6:6 + k, None] + w[8 + k]) * self.idf_ + w[6 + k]
        mismatch = float(w[6 + k] + w[7 + k])
        kernel = _linear_logit_serial if len(i) < _SERIAL_PAIRS else _linear_logit
        return kernel(np.ascontiguousarray(i, dtype=np.int64), np.ascontiguousarray(j, dtype=np.int64),
                             enc.x, enc.y, enc.t_from, enc.t_to, np.ascontiguousarray(enc.codes),
                             np.ascontiguousarray(agree, dtype=np.float64), mismatch,
                             np.ascontiguousarray(enc.numeric), self.numeric_fill_,
                             np.ascontiguousarray(enc.embedding), enc.commonness, w, float(intercept),
                             bool(proba))

    def narrative_cosine(self, enc: EncodedIncidents, i: NDArray[np.int64],
                         j: NDArray[np.int64]) -> NDArray[np.float64]:
        """Cosine similarity of the pairs' narratives (0 without text)."""
        if enc.text is None:
            return np.zeros(len(i), dtype=np.float64)
        t = enc.text
        ti = enc.text_index[np.asarray(i, dtype=np.int64)]
        tj = enc.text_index[np.asarray(j, dtype=np.int64)]
        kernel = _row_cosine_serial if len(ti) < _SERIAL_PAIRS else _row_cosine
        # the matrix's own arrays (no copy of a city's vocabulary per call)
        return kernel(np.ascontiguousarray(ti), np.ascontiguousarray(tj), np.asarray(t.indptr, dtype=np.int64),
                      np.asarray(t.indices, dtype=np.int32), np.asarray(t.data, dtype=np.float64))
