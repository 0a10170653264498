"""The ProPublica COMPAS two-year file as features, label, audit columns and COMPAS's own score.

ProPublica's filters ("Compas Analysis.ipynb"; Angwin et al. 2016) keep rows with
``-30 <= days_b_screening_arrest <= 30``, ``is_recid != -1``,
``c_charge_degree != "O"`` and ``score_text != "N/A"``: 6,172 rows of the
two-year file. The violent-recidivism file (``compas-scores-two-years-violent``,
recognised by its second ``two_year_recid`` column, which pandas reads as
``two_year_recid.1``) is filtered on ``v_score_text != "N/A"`` instead, as in
ProPublica's notebook: 4,020 of its 4,743 rows (``score_text`` filters 4,015), and
its COMPAS score is the violent decile ``v_decile_score``. Features are built only
from the criminal-history and charge columns; ``race`` and ``sex`` (and ``age_cat``)
are kept apart as audit columns.

A charge description becomes an indicator column ``charge_<slug>`` when at least
``min_charge_count`` rows of the *training* file carry it. A stored model keeps
that vocabulary (:func:`charge_vocabulary`); any other file of the layout is
scored with the same columns (``compas_features(..., charges=...)``), and a
description that file never carries is a column of zeros.

Columns recorded after the screening from the outcome or the follow-up
(:data:`POST_OUTCOME_COLUMNS`: ``is_recid``, ``r_*``, ``vr_*``, ``end``, ``event``,
...) are never features (:func:`post_outcome_columns`); ``end`` (days of follow-up,
cut short by the re-arrest) beside ``priors_count`` reaches a cross-validated AUC of
0.936, under any plausible AUC alarm.

The label ``two_year_recid`` is a new *recorded charge* within two years
(re-arrest), which measures police and court activity as much as conduct.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import is_protected
from crimelens.errors import SchemaError

__all__ = ["COMPAS_COLUMNS", "POST_OUTCOME_COLUMNS", "SCREENING_DATE_COLUMNS", "CensoredTail", "CompasData",
           "censored_tail", "charge_description_columns",
           "charge_vocabulary", "compas_features", "compas_score_column", "filter_propublica",
           "is_violent_file", "load_compas", "post_outcome_columns"]

COMPAS_COLUMNS = _NEEDED = (
    "id", "age", "race", "sex", "age_cat", "juv_fel_count", "juv_misd_count", "juv_other_count",
    "priors_count", "days_b_screening_arrest", "is_recid", "c_charge_degree", "c_charge_desc",
    "score_text", "decile_score", "two_year_recid",
)

#: Columns of the ProPublica files recorded after the screening, from the outcome or its follow-up
#: (a new charge, its date, degree and jail stay; the survival interval's end and event). A model
#: reading one of them reads the outcome: refused as features in the COMPAS layout. Every ``r_*``
#: and ``vr_*`` column is one too; pandas' ``.1`` copies of duplicate headers count as their column.
POST_OUTCOME_COLUMNS: tuple[str, ...] = (
    "is_recid", "is_violent_recid", "violent_recid", "two_year_recid", "end", "event",
    "r_charge_degree", "r_days_from_arrest", "r_offense_date", "r_charge_desc", "r_jail_in", "r_jail_out",
    "vr_charge_degree", "vr_offense_date", "vr_charge_desc",
)

#: The violent-recidivism file's second ``two_year_recid`` header, as pandas reads it.
_VIOLENT_MARK = "two_year_recid.1"


@dataclass(frozen=True)
class CompasData:
    """Features (no protected attribute), label, audit columns and COMPAS's decile."""

    X: pd.DataFrame
    y: NDArray[np.int64]
    decile: NDArray[np.int64]  # decile_score (violent file: v_decile_score)
    audit: pd.DataFrame  # race, sex, age_cat: audit columns only
    ids: NDArray[np.int64]
    n_read: int
    rows: pd.DataFrame  # the filtered rows as read (all columns)
    #: the violent-recidivism file (filtered on v_score_text; ``decile`` is v_decile_score)
    violent: bool = False

    @property
    def exclusive_groups(self) -> list[list[str]]:
        """The one-hot feature columns of one source column (``PointScore(exclusive_groups=...)``):
        the charge descriptions, at most one of them 1 in any row."""
        return [charge_description_columns(self.X.columns)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def is_violent_file(columns: Iterable[object]) -> bool:
    """Whether a COMPAS frame is ProPublica's violent-recidivism file: it alone has a second
    ``two_year_recid`` column (read by pandas as ``two_year_recid.1``), and its ``two_year_recid``
    is the violent outcome."""
    return _VIOLENT_MARK in {str(c) for c in columns}


def compas_score_column(violent: bool) -> tuple[str, str]:
    """COMPAS's own decile for the file's outcome, and the name of its text category column:
    ``decile_score``/``score_text`` (general recidivism) or ``v_decile_score``/``v_score_text``
    (violent recidivism)."""
    return ("v_decile_score", "v_score_text") if violent else ("decile_score", "score_text")


def filter_propublica(frame: pd.DataFrame, *, where: str = "COMPAS file",
                      violent: bool | None = None) -> pd.DataFrame:
    """ProPublica's four filters on a two-year COMPAS frame (index reset).

    The violent file (``violent=None``: recognised by :func:`is_violent_file`) is filtered on
    ``v_score_text != "N/A"``, the general file on ``score_text != "N/A"``."""
    if violent is None:
        violent = is_violent_file(frame.columns)
    _, text = compas_score_column(violent)
    needed = [*_NEEDED, *(("v_decile_score", "v_score_text") if violent else ())]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        what = "violent-recidivism" if violent else "two-year"
        raise SchemaError(
            f"{where}: got columns without {missing}; expected the ProPublica {what} COMPAS layout"
        )
    days = pd.to_numeric(frame["days_b_screening_arrest"], errors="coerce")
    keep = (
        days.between(-30, 30)
        & (pd.to_numeric(frame["is_recid"], errors="coerce") != -1)
        & (frame["c_charge_degree"].astype(str) != "O")
        & (frame[text].astype(str) != "N/A")
    )
    return frame.loc[keep.fillna(False).astype(bool)].reset_index(drop=True)


def post_outcome_columns(names: Iterable[object]) -> list[str]:
    """The names among ``names`` that are COMPAS columns recorded after the screening
    (:data:`POST_OUTCOME_COLUMNS`, any ``r_*`` or ``vr_*``; a pandas copy ``name.1`` counts).

    Examples
    --------
    >>> post_outcome_columns(["priors_count", "end", "r_days_from_arrest", "two_year_recid.1", "age"])
    ['end', 'r_days_from_arrest', 'two_year_recid.1']
    """
    out = []
    for n in names:
        base = re.sub(r"\.\d+$", "", str(n))
        if base in POST_OUTCOME_COLUMNS or base.startswith(("r_", "vr_")):
            out.append(str(n))
    return out


def charge_vocabulary(f: pd.DataFrame, *, min_charge_count: int = 40) -> dict[str, str]:
    """The charge-description indicator columns a file gives: ``{column: description}``, for each
    description carried by at least ``min_charge_count`` rows, most frequent first (of two
    descriptions with one slug, the more frequent names the column)."""
    desc = f["c_charge_desc"].fillna("").astype(str)
    out: dict[str, str] = {}
    for text, n in desc.value_counts().items():
        name = "charge_" + _slug(str(text))
        if n >= min_charge_count and text and not is_protected(name) and name not in out:
            out[name] = str(text)
    return out


def compas_features(f: pd.DataFrame, *, min_charge_count: int = 40,
                    charges: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Features from criminal history and the current charge; no protected attribute.

    ``charges`` (``{column: description}``, from :func:`charge_vocabulary` on the training file)
    fixes the charge columns: exactly these are made, whatever this file's counts, and a
    description this file never carries gives a column of zeros. A description of ``None``
    (a model stored before the vocabulary was kept) matches by the column's slug. Without
    ``charges``, the columns are the descriptions carried by ``min_charge_count`` rows of ``f``.
    """
    X = pd.DataFrame(
        {
            "age": f["age"].astype(np.float64),
            "priors_count": f["priors_count"].astype(np.float64),
            "juv_fel_count": f["juv_fel_count"].astype(np.float64),
            "juv_misd_count": f["juv_misd_count"].astype(np.float64),
            "juv_other_count": f["juv_other_count"].astype(np.float64),
            "charge_felony": (f["c_charge_degree"] == "F").astype(np.float64),
        }
    )
    desc = f["c_charge_desc"].fillna("").astype(str)
    vocab = charge_vocabulary(f, min_charge_count=min_charge_count) if charges is None else charges
    slugs = None
    for name, text in vocab.items():
        if name in X:
            continue
        if text is None:
            if slugs is None:
                slugs = "charge_" + desc.map(_slug)
            X[name] = ((slugs == name) & (desc != "")).astype(np.float64)
        else:
            X[name] = (desc == text).astype(np.float64)
    return X


def charge_description_columns(columns: Iterable[object]) -> list[str]:
    """The columns among ``columns`` that :func:`compas_features` made from ``c_charge_desc``:
    one-hot indicators of one charge description each (``charge_<slug>``; ``charge_felony``
    comes from ``c_charge_degree`` instead), so at most one of them is 1 in any row."""
    return [str(c) for c in columns if str(c).startswith("charge_") and str(c) != "charge_felony"]


def load_compas(path: str | Path, *, min_charge_count: int = 40) -> CompasData:
    """Read ``compas-scores-two-years*.csv(.gz)`` and apply ProPublica's filters.

    The violent file is recognised (:func:`is_violent_file`): its filters use ``v_score_text``
    and ``decile`` is ``v_decile_score``.

    Parameters
    ----------
    path : path
        The two-year file (the de-identified copy in ``shared/data/compas``).
    min_charge_count : int
        A charge description becomes an indicator feature when at least this many
        filtered rows carry it.
    """
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    violent = is_violent_file(frame.columns)
    f = filter_propublica(frame, where=str(path), violent=violent)
    X = compas_features(f, min_charge_count=min_charge_count)
    audit = pd.DataFrame(
        {"race": f["race"].astype(str), "sex": f["sex"].astype(str), "age_cat": f["age_cat"].astype(str)}
    )
    return CompasData(
        X=X,
        y=f["two_year_recid"].to_numpy(dtype=np.int64),
        decile=f[compas_score_column(violent)[0]].to_numpy(dtype=np.int64),
        audit=audit,
        ids=f["id"].to_numpy(dtype=np.int64),
        n_read=len(frame),
        rows=f,
        violent=violent,
    )


#: The screening-date columns of the ProPublica files, in the order they are looked for.
SCREENING_DATE_COLUMNS = ("compas_screening_date", "screening_date")


@dataclass(frozen=True)
class CensoredTail:
    """The latest screenings of a file whose outcome is (almost) always positive: a follow-up cut-off.

    ProPublica's two-year file keeps a person without a new charge only when the person was followed
    for two years before the data were collected, but keeps every person *with* one: of the 875
    people screened from 2014-04-01 on, 872 have ``two_year_recid = 1`` (Barenstein 2019, "ProPublica's
    COMPAS Data Revisited", arXiv:1906.04711). There the outcome is one-sided."""

    date_column: str
    label: str
    start: str  # first screening date of the tail (ISO date)
    end: str  # last screening date of the tail
    n_tail: int
    n_positive: int
    n_before: int  # 0 when every screening of the file is in the tail
    rate_before: float  # nan when n_before is 0

    @property
    def rate(self) -> float:
        return self.n_positive / self.n_tail

    def message(self, where: str) -> str:
        return (
            f"CENSORED OUTCOMES: {self.n_tail:,} rows of {where} were screened from {self.start} to {self.end} "
            f"({self.date_column}) and {self.n_positive:,} of them ({self.rate:.1%}) have {self.label} = 1"
            + (f", against {self.rate_before:.1%} of the {self.n_before:,} screened before {self.start}" if
               self.n_before else "") + ". The "
            "follow-up was cut short for these screenings (the ProPublica file drops people who were not "
            "followed for two years unless a new charge was recorded; Barenstein 2019), so their outcome is "
            "one-sided: base rates, PPV and calibration are inflated there and error rates mean little. "
            f"Restrict to screenings before {self.start} ({self.date_column} < {self.start}), e.g. to "
            "validate a model on held-out people.")


def censored_tail(frame: pd.DataFrame, label: str, *, min_rows: int = 30, min_rate: float = 0.95,
                  date_column: str | None = None) -> CensoredTail | None:
    """The latest screening months whose outcome ``label`` is positive for at least ``min_rate`` of
    their rows together (at least ``min_rows`` rows), unless the earlier rows (when at least
    ``min_rows``) are positive about as often (above ``min_rate - 0.2``); None then, or when the frame
    has no screening-date column (:data:`SCREENING_DATE_COLUMNS`) or no 0/1 label.

    The tail starts at the earliest month from which every later row, taken together, reaches
    ``min_rate``: on ProPublica's two-year file, 2014-04 (875 rows, 872 positive, against 0.366 before).

    Examples
    --------
    >>> f = pd.DataFrame({"compas_screening_date": ["2013-01-05"] * 40 + ["2014-05-02"] * 40,
    ...                   "y": [0, 1] * 20 + [1] * 40})
    >>> t = censored_tail(f, "y")
    >>> (t.start, t.n_tail, t.n_positive, t.n_before, round(t.rate_before, 2))
    ('2014-05-02', 40, 40, 40, 0.5)
    """
    col = date_column or next((c for c in SCREENING_DATE_COLUMNS if c in frame.columns), None)
    if col is None or col not in frame.columns or label not in frame.columns:
        return None
    dates = pd.to_datetime(frame[col].astype(str).str[:10], errors="coerce", format="%Y-%m-%d")
    y = pd.to_numeric(frame[label], errors="coerce")
    ok = dates.notna() & y.isin([0, 1])
    if ok.sum() < 2 * min_rows:
        return None
    d, v = dates[ok], y[ok].astype(np.int64)
    month = d.dt.to_period("M")
    per = pd.DataFrame({"n": v.groupby(month).size(), "pos": v.groupby(month).sum()}).sort_index()
    n_suffix = per["n"][::-1].cumsum()[::-1]
    pos_suffix = per["pos"][::-1].cumsum()[::-1]
    total_n, total_pos = int(per["n"].sum()), int(per["pos"].sum())
    for m in per.index:  # earliest first: the longest tail that qualifies
        n_t, p_t = int(n_suffix[m]), int(pos_suffix[m])
        n_b = total_n - n_t
        if n_t < min_rows or p_t < min_rate * n_t:
            continue
        rate_b = (total_pos - p_t) / n_b if n_b else float("nan")
        if n_b >= min_rows and rate_b > min_rate - 0.2:
            return None
        tail = d[month >= m]
        return CensoredTail(str(col), label, tail.min().date().isoformat(), tail.max().date().isoformat(),
                            n_t, p_t, n_b, float(rate_b))
    return None
