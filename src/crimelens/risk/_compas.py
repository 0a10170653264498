"""The ProPublica COMPAS two-year file as features, label, audit columns and COMPAS's own score.

ProPublica's filters ("Compas Analysis.ipynb"; Angwin et al. 2016) keep rows with
``-30 <= days_b_screening_arrest <= 30``, ``is_recid != -1``,
``c_charge_degree != "O"`` and ``score_text != "N/A"``: 6,172 rows of the
two-year file. Features are built only from the criminal-history and charge
columns; ``race`` and ``sex`` (and ``age_cat``) are kept apart as audit columns.

The label ``two_year_recid`` is a new *recorded charge* within two years
(re-arrest), which measures police and court activity as much as conduct.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import is_protected
from crimelens.errors import SchemaError

__all__ = ["COMPAS_COLUMNS", "CompasData", "charge_description_columns", "compas_features",
           "filter_propublica", "load_compas"]

COMPAS_COLUMNS = _NEEDED = (
    "id", "age", "race", "sex", "age_cat", "juv_fel_count", "juv_misd_count", "juv_other_count",
    "priors_count", "days_b_screening_arrest", "is_recid", "c_charge_degree", "c_charge_desc",
    "score_text", "decile_score", "two_year_recid",
)


@dataclass(frozen=True)
class CompasData:
    """Features (no protected attribute), label, audit columns and COMPAS's decile."""

    X: pd.DataFrame
    y: NDArray[np.int64]
    decile: NDArray[np.int64]
    audit: pd.DataFrame  # race, sex, age_cat: audit columns only
    ids: NDArray[np.int64]
    n_read: int
    rows: pd.DataFrame  # the filtered rows as read (all columns)

    @property
    def exclusive_groups(self) -> list[list[str]]:
        """The one-hot feature columns of one source column (``PointScore(exclusive_groups=...)``):
        the charge descriptions, at most one of them 1 in any row."""
        return [charge_description_columns(self.X.columns)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def filter_propublica(frame: pd.DataFrame, *, where: str = "COMPAS file") -> pd.DataFrame:
    """ProPublica's four filters on a two-year COMPAS frame (index reset)."""
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{where}: got columns without {missing}; expected the ProPublica two-year COMPAS layout"
        )
    days = pd.to_numeric(frame["days_b_screening_arrest"], errors="coerce")
    keep = (
        days.between(-30, 30)
        & (pd.to_numeric(frame["is_recid"], errors="coerce") != -1)
        & (frame["c_charge_degree"].astype(str) != "O")
        & (frame["score_text"].astype(str) != "N/A")
    )
    return frame.loc[keep.fillna(False).astype(bool)].reset_index(drop=True)


def compas_features(f: pd.DataFrame, *, min_charge_count: int = 40) -> pd.DataFrame:
    """Features from criminal history and the current charge; no protected attribute."""
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
    counts = desc.value_counts()
    for text, n in counts.items():
        name = "charge_" + _slug(str(text))
        if n >= min_charge_count and text and not is_protected(name) and name not in X:
            X[name] = (desc == text).astype(np.float64)
    return X


def charge_description_columns(columns: Iterable[object]) -> list[str]:
    """The columns among ``columns`` that :func:`compas_features` made from ``c_charge_desc``:
    one-hot indicators of one charge description each (``charge_<slug>``; ``charge_felony``
    comes from ``c_charge_degree`` instead), so at most one of them is 1 in any row."""
    return [str(c) for c in columns if str(c).startswith("charge_") and str(c) != "charge_felony"]


def load_compas(path: str | Path, *, min_charge_count: int = 40) -> CompasData:
    """Read ``compas-scores-two-years*.csv(.gz)`` and apply ProPublica's filters.

    Parameters
    ----------
    path : path
        The two-year file (the de-identified copy in ``shared/data/compas``).
    min_charge_count : int
        A charge description becomes an indicator feature when at least this many
        filtered rows carry it.
    """
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    f = filter_propublica(frame, where=str(path))
    X = compas_features(f, min_charge_count=min_charge_count)
    audit = pd.DataFrame(
        {"race": f["race"].astype(str), "sex": f["sex"].astype(str), "age_cat": f["age_cat"].astype(str)}
    )
    return CompasData(
        X=X,
        y=f["two_year_recid"].to_numpy(dtype=np.int64),
        decile=f["decile_score"].to_numpy(dtype=np.int64),
        audit=audit,
        ids=f["id"].to_numpy(dtype=np.int64),
        n_read=len(frame),
        rows=f,
    )
