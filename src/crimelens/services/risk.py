"""Risk use cases: fit a risk model, score people with it, print its card, audit any score.

Every call goes through :func:`crimelens.services.record_use` and writes its
output and ledger entry in one transaction. Local use is research use
(purpose ``"research"``), and outputs carry ``RESEARCH_MARK``.

Person-level scores and deployments
-----------------------------------
:func:`score_people` produces a score per person. Served to anyone else, or
marked ``actionable=True``, it needs an *active deployment* approved by the
oversight board (``deployment=...``): the governance gate
(:func:`crimelens.services.authorize`) refuses otherwise, and with a deployment
every actionable output enters the human-review queue, where a supervisor must
accept, override or reject it before anyone acts. The ledger entry's detail
carries ``{"person_level": True, "actionable": ...}`` so the governance layer
and auditors can find every person-level score. The deployment must name the
model as ``model=<kind>`` (e.g. ``PointScore``) and ``model_version=<model_id>``
(e.g. ``rm-1a2b3c4d5e6f``), as registered with ``crimelens models register``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold

from crimelens import __version__
from crimelens.audit import (
    LABEL_LIMITS,
    AuditReport,
    Mitigation,
    audit_scores,
    compare_decisions,
    exponentiated_gradient,
    group_thresholds,
    render_html,
    reweighing_weights,
)
from crimelens.audit._table import as_read
from crimelens.domain import is_protected
from crimelens.errors import InputError, InvalidParameterError, SchemaError
from crimelens.governance import PENDING_REVIEW_MARK, Actor
from crimelens.governance._cards import ModelCard
from crimelens.risk import (
    COMPAS_COLUMNS,
    LogisticRisk,
    PointScore,
    RuleList,
    censored_tail,
    charge_description_columns,
    charge_vocabulary,
    check_risk_features,
    compas_features,
    compas_score_column,
    filter_propublica,
    is_violent_file,
    post_outcome_columns,
)
from crimelens.risk._base import RiskModel
from crimelens.services import RESEARCH, RESEARCH_MARK, Context, record_use, sha256_hex
from crimelens.services._context import authorize, output_mark, refuse
from crimelens.services.governance import register_model
from crimelens.storage import _risk as risk_db

__all__ = [
    "MODEL_KINDS",
    "AuditRun",
    "FittedRisk",
    "PreparedTable",
    "ScoreRun",
    "audit_table",
    "export_card",
    "fit_risk_model",
    "load_risk_model",
    "prepare_table",
    "register_risk_model",
    "risk_card",
    "risk_params",
    "run_mitigations",
    "score_people",
]

MODEL_KINDS: dict[str, type[RiskModel]] = {
    "points": PointScore,
    "rules": RuleList,
    "logistic": LogisticRisk,
}
#: ``compas`` reads a ProPublica file (general or violent, told apart by :func:`is_violent_file`);
#: ``compas-violent`` reads it as the violent-recidivism file whatever its header.
Layout = Literal["auto", "compas", "compas-violent", "plain"]
#: Folds of the cross-validation (each repeat).
N_FOLDS = 5


@dataclass(frozen=True)
class PreparedTable:
    """A data file read for risk work: rows (filtered), default features, provenance."""

    frame: pd.DataFrame
    features: list[str]
    data_hash: str
    path: str
    n_read: int
    layout: str
    note: str | None
    #: per row of ``frame``: its line in the file (CSV, the header is line 1) or its row (Parquet, from 1)
    lines: np.ndarray[Any, Any] | None = None
    parquet: bool = False
    #: the charge-description columns built, {column: description} (COMPAS layout)
    charges: Mapping[str, str | None] | None = None

    @property
    def is_compas(self) -> bool:
        """A ProPublica COMPAS file (general or violent), read with ProPublica's filters."""
        return self.layout in ("compas", "compas-violent")

    @property
    def compas_score(self) -> str | None:
        """COMPAS's own decile for this file's outcome (``v_decile_score`` in the violent file)."""
        return compas_score_column(self.layout == "compas-violent")[0] if self.is_compas else None

    def row(self, i: int) -> str:
        """Where row ``i`` of the (filtered) frame is in the file, as a person finds it there."""
        n = int(self.lines[i]) if self.lines is not None else i + 1
        return f"row {n}" if self.parquet else f"line {n}"


def _read(path: Path, where: str | None = None, sep: str = ",") -> pd.DataFrame:
    name = path.name.lower()
    where = where or str(path)
    if not path.exists():
        raise InputError(f"{where}: no such file; expected a CSV or Parquet table")
    kind = "Parquet" if name.endswith(".parquet") else "CSV (UTF-8, optionally gzipped)"
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False, sep=sep)
    except (UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        # pandas' parser, codec, gzip and Parquet errors (ParserError and EmptyDataError are ValueErrors)
        raise InputError(f"{where}: could not be read as a {kind} table ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); expected a {kind} table with a header row") from exc


def prepare_table(path: str | Path, *, layout: Layout = "auto", name: str | None = None,
                  charges: Mapping[str, str | None] | None = None) -> PreparedTable:
    """Read a table; a ProPublica COMPAS two-year file gets ProPublica's filters and features.

    ``name`` is what provenance and messages call the file (``upload:<name>`` for a file sent to
    the API, whose path is a temporary one); the path by default. The violent-recidivism file is
    recognised (its second ``two_year_recid`` column) and filtered on ``v_score_text``.

    ``charges`` (a stored model's charge vocabulary, ``{column: description}``) fixes a COMPAS
    file's charge-description columns: the model's, whatever this file's counts; a description
    this file never carries is a column of zeros, and the note says how many."""
    if layout not in ("auto", "compas", "compas-violent", "plain"):
        raise InvalidParameterError(f"layout: got {layout!r}; expected auto, compas, compas-violent or plain")
    p = Path(path)
    where = name or str(p)
    if p.is_dir():
        raise InputError(f"{where}: a folder; expected a CSV or Parquet table")
    raw = p.read_bytes() if p.exists() else b""
    frame = _read(p, where)
    parquet = p.name.lower().endswith(".parquet")
    sep_note = None
    sep = _single_cell_separator(frame) if not parquet else None
    if sep is not None:
        # a header that is one cell holding ';' (or a tab): the file is separated by it, as the ingest
        # reader (crimelens.ingest, delimiter=...) would read it; read it so and say so
        frame = _read(p, where, sep=sep)
        sep_note = (f"read as {_SEPARATORS[sep]}-separated: its header is one comma-separated cell holding "
                    f"{frame.shape[1]} {_SEPARATORS[sep]}-separated names")
    lines = np.arange(len(frame), dtype=np.int64) + (1 if parquet else 2)
    is_compas = all(c in frame.columns for c in COMPAS_COLUMNS)
    if layout in ("compas", "compas-violent") or (layout == "auto" and is_compas):
        violent = layout == "compas-violent" or is_violent_file(frame.columns)
        rows = filter_propublica(frame.assign(**{_LINE: lines}), where=where, violent=violent)
        kept = rows.pop(_LINE).to_numpy(dtype=np.int64)
        vocab: Mapping[str, str | None] = charge_vocabulary(rows) if charges is None else charges
        X = compas_features(rows, charges=vocab)
        merged = pd.concat([rows, X[[c for c in X.columns if c not in rows.columns]]], axis=1)
        what, text = ("violent-recidivism ", "v_score_text") if violent else ("", "score_text")
        note = (f"ProPublica COMPAS {what}filters applied (days_b_screening_arrest within ±30, is_recid != -1, "
                f"c_charge_degree != \"O\", {text} != \"N/A\"): {len(frame):,} rows read, {len(rows):,} kept")
        if sep_note:
            note = f"{sep_note}; {note}"
        if charges is not None and len(charges) and len(rows):
            absent = [c for c in charges if c in X and not X[c].any()]
            note += (f"; charge-description columns fixed by the model: {len(charges) - len(absent)} of "
                     f"{len(charges)} occur in this file" + (f", the other {len(absent)} are 0 for everyone "
                                                              "(the description does not occur)" if absent else ""))
        return PreparedTable(merged, list(X.columns), sha256_hex(raw), where, len(frame),
                             "compas-violent" if violent else "compas", note, kept, parquet, dict(vocab))
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not is_protected(str(c))]
    return PreparedTable(frame, [str(c) for c in numeric], sha256_hex(raw), where, len(frame),
                         "plain", sep_note, lines, parquet)


_LINE = "__crimelens_line__"  # carries each row's file line through the COMPAS filters
#: Separators recognised in a header read as one cell, and what to call them.
_SEPARATORS = {";": "semicolon", "\t": "tab"}


def _single_cell_separator(frame: pd.DataFrame) -> str | None:
    """The separator of a file read as one column whose header holds ';' or a tab (None otherwise)."""
    if frame.shape[1] != 1:
        return None
    head = str(frame.columns[0])
    found = [c for c in _SEPARATORS if c in head]
    return max(found, key=head.count) if found else None


def _duplicate_columns(table: PreparedTable, used: Sequence[str]) -> list[str]:
    """A warning per column used that the file holds twice (pandas reads the second copy as
    ``name.1``) when the two copies disagree on some row: the first copy is the one read."""
    frame, out = table.frame, []
    for col in dict.fromkeys(used):
        for k in range(1, 5):
            copy = f"{col}.{k}"
            if copy not in frame.columns:
                break
            a, b = frame[col], frame[copy]
            an, bn = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
            if an.notna().sum() == a.notna().sum() and bn.notna().sum() == b.notna().sum():
                differ = ~((an == bn) | (an.isna() & bn.isna()))
            else:
                differ = a.astype(str) != b.astype(str)
            if differ.any():
                i = int(np.flatnonzero(differ.to_numpy())[0])
                out.append(f"column {col!r} appears more than once in {table.path} (the copy read as {copy!r}) and "
                           f"the copies disagree on {int(differ.sum()):,} of {len(frame):,} rows (e.g. "
                           f"{table.row(i)}: {as_read(a.iloc[i])} against {as_read(b.iloc[i])}); the first "
                           f"{col!r} is used")
    return out


#: The size limits each model kind takes (``risk fit --max-items`` and the API's ``max_items``).
SIZE_PARAMS: dict[str, tuple[str, ...]] = {"points": ("max_items", "max_points"), "rules": ("max_rules",),
                                           "logistic": ()}


MAX_SIZE = 20  # items, points per item or rules: the API's bounds too
MAX_CV_REPEATS = 10
#: A cross-validated AUC at or above this warns that a feature may carry the outcome (the fit's
#: card and output say so): recidivism models on criminal history reach about 0.7, while a column
#: recorded from the outcome (``is_recid`` beside ``two_year_recid``) reaches 0.97.
LEAKAGE_AUC = 0.95


def risk_params(kind: str, **sizes: int | None) -> dict[str, int]:
    """The size limits given (None: the model's default), refused for a kind that has none of them."""
    out: dict[str, int] = {}
    for name, value in sizes.items():
        if value is None:
            continue
        if name not in SIZE_PARAMS.get(kind, ()):
            takes = [k for k, v in SIZE_PARAMS.items() if name in v]
            raise InvalidParameterError(f"{name} (--{name.replace('_', '-')}): got {value} for model {kind!r}; "
                                        f"expected it only with model {' or '.join(map(repr, takes))}")
        if not 1 <= int(value) <= MAX_SIZE:
            raise InvalidParameterError(f"{name} (--{name.replace('_', '-')}): got {value}; expected 1 to "
                                        f"{MAX_SIZE} (a model a person can read and check by hand)")
        out[name] = int(value)
    return out


@dataclass(frozen=True)
class FittedRisk:
    model_id: str
    kind: str
    model: RiskModel
    card: dict[str, Any]
    ledger_seq: int


def _label_array(table: PreparedTable, label: str) -> np.ndarray[Any, Any]:
    frame, where = table.frame, table.path
    if label not in frame.columns:
        raise SchemaError(f"{where}: no label column {label!r}; expected one of {list(frame.columns)[:20]}")
    y = pd.to_numeric(frame[label], errors="coerce")
    bad = ~y.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{where} {table.row(i)}, column {label!r}: got {as_read(frame[label].iloc[i])}; "
                          "expected 0 or 1")
    return y.to_numpy(dtype=np.int64)


def _feature_matrix(table: PreparedTable, features: Sequence[str]) -> pd.DataFrame:
    frame, where = table.frame, table.path
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise SchemaError(f"{where}: no feature column(s) {missing}")
    X: pd.DataFrame = frame[list(features)].apply(pd.to_numeric, errors="coerce")
    bad = X.isna().any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        col = next(c for c in features if pd.isna(X[c].iloc[i]))
        raise SchemaError(f"{where} {table.row(i)}, column {col!r}: got {as_read(frame[col].iloc[i])}; "
                          "expected a number")
    return X.astype(np.float64)


def _cv_splits(X: pd.DataFrame, y: np.ndarray[Any, Any], *, repeats: int, seed: int,
               people: np.ndarray[Any, Any] | None = None) -> list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Repeated stratified 5-fold splits; with ``people`` (a person id per row, some repeated), each
    person's rows fall in one fold (``StratifiedGroupKFold``), so nobody is in a training and a test
    fold at once."""
    if people is None:
        cv = RepeatedStratifiedKFold(n_splits=N_FOLDS, n_repeats=max(1, repeats), random_state=seed)
        return list(cv.split(X, y))
    out: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    for r in range(max(1, repeats)):
        grouped = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed + r)
        out.extend(grouped.split(X, y, people))
    return out


def _oof_scores(model: RiskModel, X: pd.DataFrame, y: np.ndarray[Any, Any], *, repeats: int,
                seed: int, people: np.ndarray[Any, Any] | None = None) -> tuple[list[float], np.ndarray[Any, Any]]:
    """Cross-validated AUCs (repeated 5-fold) and the first repeat's out-of-fold probabilities."""
    from sklearn.metrics import roc_auc_score

    aucs: list[float] = []
    oof = np.full(len(y), np.nan)
    for i, (tr, te) in enumerate(_cv_splits(X, y, repeats=repeats, seed=seed, people=people)):
        m = clone(model).fit(X.iloc[tr], y[tr])
        p = m.predict_proba(X.iloc[te])[:, 1]
        aucs.append(float(roc_auc_score(y[te], m.raw_score(X.iloc[te]))))
        if i < N_FOLDS:
            oof[te] = p
    return aucs, oof


def _need_rows(table: PreparedTable, what: str) -> None:
    """Refuse a table with no rows to work on (a header alone, or every row filtered out)."""
    if len(table.frame) == 0:
        why = f" ({table.note})" if table.note else ""
        raise InputError(f"{what} {table.path}: got no data rows{why}; expected at least one row below the header")


def _check_cv_sizes(table: PreparedTable, y: np.ndarray[Any, Any], label: str,
                    people: np.ndarray[Any, Any] | None) -> None:
    """Refuse a table too small for stratified 5-fold cross-validation: each fold must hold people
    with and without the outcome."""
    n1 = int(np.sum(y == 1))
    n0 = len(y) - n1
    kept = " kept by ProPublica's filters" if table.is_compas else ""
    if min(n0, n1) < N_FOLDS:
        raise InputError(
            f"risk fit {table.path}: got {len(y):,} rows{kept}, {n1:,} with {label} = 1 and {n0:,} with 0; "
            f"expected at least {N_FOLDS} of each (the model is measured by {N_FOLDS}-fold cross-validation, "
            "each test fold needs people with and without the outcome)")
    if people is not None:
        per = [len(pd.unique(people[y == v])) for v in (1, 0)]
        if min(per) < N_FOLDS:
            raise InputError(
                f"risk fit {table.path}: got {per[0]:,} distinct people with {label} = 1 and {per[1]:,} with 0; "
                f"expected at least {N_FOLDS} of each (folds are grouped by person id)")


def _id_column(table: PreparedTable, id_column: str | None, what: str) -> str | None:
    """The column naming each person: the one given, else a COMPAS file's ``id``; None when unknown."""
    if id_column is None:
        return "id" if table.is_compas and "id" in table.frame.columns else None
    if id_column not in table.frame.columns:
        raise SchemaError(f"{what} {table.path}: no id column {id_column!r} (--id-column); expected one of "
                          f"{list(table.frame.columns)[:20]}")
    return id_column


def _repeated_people(table: PreparedTable, id_column: str | None, consequence: str) -> str | None:
    """A warning when some person id appears on more than one row (None when every id is once)."""
    if id_column is None:
        return None
    ids = table.frame[id_column]
    dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    if not dup.any():
        return None
    n_ids = int(ids[dup].nunique())
    first = ids[dup].iloc[0]
    rows = [table.row(int(i)) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
    return (f"{int(dup.sum()):,} rows of {table.path} repeat a person id in column {id_column!r} ({n_ids:,} ids "
            f"appear more than once, e.g. {as_read(first)} on {' and '.join(rows)}): {consequence}")


def _missing_groups(table: PreparedTable, groups: Sequence[str], what: str, *, required: bool) -> None:
    """Refuse an audit column (``--group``) the file lacks, as a typo would otherwise drop it unseen."""
    missing = [g for g in groups if g not in table.frame.columns]
    if missing or (required and not groups):
        cols = [str(c) for c in table.frame.columns]
        near = [c for c in cols for m in missing if c.lower() == m.lower()]
        hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
        raise SchemaError(f"{what} {table.path}: no group column(s) {missing or '(none given)'}{hint} (--group); "
                          f"expected some of {cols[:20]}")


def _leakage_warning(X: pd.DataFrame, y: np.ndarray[Any, Any], label: str, auc: float) -> str | None:
    """A warning when the cross-validated AUC is at least :data:`LEAKAGE_AUC`, naming the feature
    that separates the outcome best on its own; None below it."""
    from sklearn.metrics import roc_auc_score

    if not auc >= LEAKAGE_AUC:
        return None
    alone = {str(c): float(roc_auc_score(y, X[c])) for c in X.columns}
    top = max(alone, key=lambda c: abs(alone[c] - 0.5))
    return (f"cross-validated AUC {auc:.3f} >= {LEAKAGE_AUC}: a feature may carry the outcome {label!r} "
            f"(recorded from it or after it, as is_recid is beside two_year_recid); {top!r} alone "
            f"separates it with AUC {max(alone[top], 1 - alone[top]):.3f}. Check the features before "
            "relying on this model.")


def _model_tables(model: RiskModel) -> dict[str, Any]:
    out: dict[str, Any] = {"text": model.to_text()}
    if isinstance(model, PointScore):
        out["points"] = model.points_table().to_dict("records")
        out["totals"] = model.total_table().to_dict("records")
        out["scale_and_round_start"] = [
            {"item": it.label, "points": int(p)}
            for it, p in zip(model.start_items_, model.start_points_, strict=True)]
    elif isinstance(model, RuleList):
        out["rules"] = model.rules_table().to_dict("records")
    elif isinstance(model, LogisticRisk):
        # in the units of the columns as read: intercept + sum(per_unit * value) is the log-odds
        # (Platt folded in), so a reader computes a person's probability by hand; per_sd compares
        intercept, _ = model.log_odds_terms()
        out["equation"] = model.equation()
        out["intercept"] = intercept
        out["coefficients"] = model.coef_table().to_dict("records")
        cal = model.calibration_map()
        if cal is not None:
            out["calibration_map"] = cal.to_dict("records")
    return out


def _threshold_for_share(score: np.ndarray[Any, Any], share: float, *, closest: bool = False) -> float:
    """The smallest threshold flagging at most ``share`` of people (score >= t); with ``closest``, the
    score level whose flagged share is nearest ``share`` on either side (the fewer flagged on a tie).

    A point score has few levels: at most 0.435 may be 0.337 while 0.43 is one level away.
    """
    ordered = np.sort(score)
    vals = np.unique(ordered)[::-1]
    shares = (len(ordered) - np.searchsorted(ordered, vals, side="left")) / len(ordered)  # share >= each level
    if closest:
        return float(vals[int(np.argmin(np.abs(shares - share)))])
    under = np.flatnonzero(shares <= share + 1e-12)
    return float(vals[under[-1]]) if len(under) else float(vals[0]) + 1.0


def fit_risk_model(
    ctx: Context, *, data: str | Path, label: str, actor: Actor, kind: str = "points",
    features: Sequence[str] | None = None, params: Mapping[str, Any] | None = None,
    audit_columns: Sequence[str] = (), cv_repeats: int = 1, n_boot: int = 200,
    layout: Layout = "auto", purpose: str | None = RESEARCH, random_state: int = 0,
    file_label: str | None = None, id_column: str | None = None,
) -> FittedRisk:
    """Fit a risk model on a table, measure it (cross-validated), store it with its card.

    ``file_label`` names the data file in the card and in messages (``upload:<name>``).

    Refused before anything is read as a number, each refusal logged as a refused ``risk.fit``
    ledger entry: the label among the features (:class:`InvalidParameterError`), a protected
    attribute (:class:`~crimelens.errors.ProtectedAttributeError`, see
    :func:`crimelens.domain.is_protected`), features that are only profile attributes, in a
    COMPAS file a column recorded after the screening (:data:`crimelens.risk.POST_OUTCOME_COLUMNS`),
    an audit column the file lacks, and a file with no rows. A table with fewer than 5 people
    with and 5 without the outcome is refused (it cannot be cross-validated). A cross-validated AUC
    of at least :data:`LEAKAGE_AUC` puts a warning in the card's ``warnings`` (and the ledger
    entry's detail): a feature may carry the outcome.

    ``id_column`` names each person (a COMPAS file's ``id`` by default): when an id is on more than
    one row, the cross-validation folds are grouped by it and the card warns.

    A COMPAS file's card keeps the charge vocabulary (``charge_descriptions``): scoring or auditing
    another file of the layout builds exactly these charge columns from it."""
    if kind not in MODEL_KINDS:
        raise InvalidParameterError(f"risk fit --model {kind!r}: expected one of {sorted(MODEL_KINDS)}")
    if not 1 <= cv_repeats <= MAX_CV_REPEATS:
        raise InvalidParameterError(f"risk fit --cv-repeats {cv_repeats}: expected 1 to {MAX_CV_REPEATS} "
                                    "(repeats of 5-fold cross-validation)")
    authorize(ctx, action="risk.fit", actor=actor, purpose=purpose, model=MODEL_KINDS[kind].__name__)
    table = prepare_table(data, layout=layout, name=file_label)
    feats = list(features) if features else [f for f in table.features if f != label
                                             and f not in ("id", "decile_score", "decile_score.1",
                                                           "two_year_recid", "is_recid")]
    if not features and table.layout == "plain":
        raise InvalidParameterError(
            f"risk fit {table.path}: got no --features; expected the feature columns to use "
            "(protected attributes are refused)")
    where = f"risk fit {table.path} features"
    groups = list(dict.fromkeys(audit_columns))
    id_col: str | None = None
    try:
        if label in feats:
            raise InvalidParameterError(
                f"{where}: got the label column {label!r} among the features {feats}; expected features "
                "that do not contain the outcome (a model that reads its own label measures nothing)")
        # before the columns are read as numbers: a text column such as race is refused as protected,
        # not as "expected a number"
        check_risk_features(feats, where=where)
        late = post_outcome_columns(feats) if table.is_compas else []
        if late:
            raise InvalidParameterError(
                f"{where}: got {late}, recorded after the screening from the outcome or its follow-up "
                "(in the ProPublica COMPAS layout: is_recid, is_violent_recid, two_year_recid, r_*, vr_*, end, "
                "event); expected features known at the screening (a model reading the follow-up reads the "
                "outcome)")
        _missing_groups(table, groups, "risk fit", required=False)
        id_col = _id_column(table, id_column, "risk fit")
        _need_rows(table, "risk fit")
    except InputError as exc:  # a refused use, as an unauthorised one is: logged, then raised
        refuse(ctx, action="risk.fit", actor=actor, purpose=purpose, reason=str(exc), error=exc,
               model=MODEL_KINDS[kind].__name__, data_hash=table.data_hash,
               detail={"label": label, "features": feats, "error": type(exc).__name__,
                       **({"groups": groups} if groups else {})})
    y = _label_array(table, label)
    X = _feature_matrix(table, feats)
    repeated = _repeated_people(
        table, id_col, f"the cross-validation folds are grouped by {id_col!r}, so that no person is in a "
        "training and a test fold at once; the in-sample tables and the per-group intervals still count "
        "each row as a person, so those intervals are too narrow")
    people = table.frame[id_col].astype(str).to_numpy() if repeated and id_col else None
    _check_cv_sizes(table, y, label, people)
    kwargs = dict(params or {})
    charges = charge_description_columns(feats) if table.is_compas else []
    if kind == "points" and len(charges) > 1 and "exclusive_groups" not in kwargs:
        # one-hot columns of c_charge_desc: at most one is 1, so the total table leaves out totals
        # that need two of them (the fit checks it on every row)
        kwargs["exclusive_groups"] = [charges]
    estimator = MODEL_KINDS[kind](**kwargs)
    model = clone(estimator).fit(X, y)  # guards: protected / profile-only features raise here
    aucs, oof = _oof_scores(estimator, X, y, repeats=cv_repeats, seed=random_state, people=people)
    leak = _leakage_warning(X, y, label, float(np.mean(aucs)))
    tail = censored_tail(table.frame, label)
    warnings = [w for w in (leak, repeated, tail.message(table.path) if tail else None) if w]
    warnings += _duplicate_columns(table, [label, *feats, *groups, *(COMPAS_COLUMNS if table.is_compas else ())])
    card: dict[str, Any] = {
        "kind": type(model).__name__, "label": label, "features": feats,
        "params": {k: v for k, v in model.get_params().items() if k != "feature_names"},
        "n_train": len(y), "data_file": table.path, "data_hash": table.data_hash,
        "data_note": table.note, "mark": RESEARCH_MARK if purpose == RESEARCH else None,
        "model": _model_tables(model),
        "reliability_in_sample": model.reliability_table(X, y, strategy="unique" if kind != "logistic"
                                                         else "quantile").to_dict(),
        "cv": {"folds": N_FOLDS, "repeats": cv_repeats, "auc_mean": float(np.mean(aucs)),
               "auc_sd": float(np.std(aucs)), "aucs": aucs,
               **({"grouped_by": id_col} if people is not None else {})},
        **({"warnings": warnings} if warnings else {}),
        "label_limits": list(LABEL_LIMITS),
    }
    if charges and table.charges is not None:
        # the charge vocabulary fixed at fit time: any file of the layout is scored with these columns
        card["charge_descriptions"] = {c: table.charges.get(c) for c in charges}
    if groups:
        decile = table.compas_score
        compas_share = None
        if decile is not None:
            compas_share = float(np.mean(pd.to_numeric(table.frame[decile], errors="coerce").to_numpy() >= 5))
        share = compas_share if compas_share is not None else float(np.mean(y))
        thr = _threshold_for_share(oof, share)
        g = table.frame[groups]
        ours = audit_scores(oof, y, g, threshold=thr, n_boot=n_boot, score_name="out-of-fold probability",
                            label_name=label, random_state=random_state, intersections=False)
        card["groups"] = {"threshold": thr, "flagged_share": float(np.mean(oof >= thr)),
                          "audit": _compact(ours)}
        if compas_share is not None and decile is not None:
            name = "COMPAS decile" if decile == "decile_score" else f"COMPAS violent decile ({decile})"
            theirs = audit_scores(table.frame[decile].to_numpy(dtype=float), y, g, threshold=5,
                                  n_boot=n_boot, score_name=name, label_name=label,
                                  random_state=random_state, intersections=False)
            card["compas_comparison"] = {**_comparison(ours, theirs, share, f"{name} >= 5"),
                                         "compas_score": decile}
    blob = pickle.dumps(model, protocol=5)
    art_hash = hashlib.sha256(blob).hexdigest()
    # the id names the fitted model and its card together: the same fit on the same file gives the
    # same id (stored once; each fit still has its ledger entry), while the same model measured
    # with other audit columns, or read from a file under another name, gets a card of its own
    model_id = "rm-" + sha256_hex(art_hash + json.dumps(card, sort_keys=True, default=str))[:12]
    card["model_id"] = model_id
    card_json = json.dumps(card, sort_keys=True, default=str)
    stored = int(ctx.store.scalar("SELECT count(*) FROM risk_models WHERE model_id = ?", [model_id])) > 0
    # every input that changes the card: the model's parameters and how it was measured
    entry_params = {**card["params"], "cv_folds": N_FOLDS, "cv_repeats": cv_repeats, "audit_columns": groups,
                    "n_boot": n_boot, "random_state": random_state, "layout": table.layout, "id_column": id_col,
                    "cv_grouped_by": id_col if people is not None else None}
    with ctx.store.transaction():
        seq = record_use(ctx, action="risk.fit", actor=actor, purpose=purpose, model=card["kind"],
                         model_version=model_id, params=entry_params, data_hash=table.data_hash,
                         artefact_hash=art_hash, output_hash=sha256_hex(card_json),
                         detail={"label": label, "features": feats, "n_train": len(y),
                                 "cv_auc_mean": card["cv"]["auc_mean"], "mark": card["mark"],
                                 "already_stored": stored, **({"warnings": warnings} if warnings else {})})
        if not stored:
            risk_db.save_risk_model(
                ctx.store, model_id=model_id, kind=card["kind"], created_utc=ctx.now(),
                user_name=actor.user, label=label, features=feats, params=card["params"],
                data_file=table.path, data_hash=table.data_hash, n_train=len(y), card=card,
                artefact=blob, artefact_hash=art_hash, ledger_seq=seq)
    return FittedRisk(model_id, card["kind"], model, card, seq)


def _compact(r: AuditReport) -> dict[str, Any]:
    keep = ["facet", "group", "n", "base_rate", "selection_rate", "auc", "accuracy", "fpr", "fpr_low",
            "fpr_high", "fnr", "fnr_low", "fnr_high", "ppv", "below_min_size"]
    cal = r.calibration[["facet", "group", "bin", "n", "mean_score", "observed_rate",
                         "observed_low", "observed_high"]]
    return {"groups": json.loads(r.groups[keep].to_json(orient="records")),
            "calibration": json.loads(cal.to_json(orient="records")),
            "chouldechova": json.loads(r.chouldechova.to_json(orient="records"))}


def _comparison(ours: AuditReport, theirs: AuditReport, share: float,
                theirs_name: str = "COMPAS decile >= 5") -> dict[str, Any]:
    rows = []
    for name, r in (("this model (out-of-fold)", ours), (theirs_name, theirs)):
        o: Any = r.group_table("overall").loc["all"]
        row: dict[str, Any] = {"model": name, "threshold": r.threshold, "auc": float(o["auc"]),
                               "accuracy": float(o["accuracy"]),
                               "flagged_share": float(o["selection_rate"])}
        facets = [f for f in r.facets if f != "overall"]
        if facets:
            g = r.group_table(facets[0])
            for grp in g.index:
                if not g.loc[grp, "below_min_size"]:
                    row[f"fpr[{grp}]"] = float(g.loc[grp, "fpr"])
                    row[f"fnr[{grp}]"] = float(g.loc[grp, "fnr"])
        rows.append(row)
    return {"same_flagged_share": share, "rows": rows}


def load_risk_model(ctx: Context, model_id: str) -> tuple[RiskModel, dict[str, Any]]:
    """The stored model (its artefact hash checked before unpickling) and its row."""
    row = risk_db.risk_model_row(ctx.store, model_id)
    blob = row["artefact"]
    if hashlib.sha256(blob).hexdigest() != row["artefact_hash"]:
        raise InputError(f"risk model {model_id}: the stored artefact does not match its hash; "
                         "expected an unchanged artefact (the store was modified)")
    model = pickle.loads(blob)  # our own artefact, hash-checked above
    return model, row


def risk_card(ctx: Context, *, model_id: str, actor: Actor, purpose: str | None = RESEARCH) -> dict[str, Any]:
    """The stored card of a model; reading it is logged (``risk.card``)."""
    authorize(ctx, action="risk.card", actor=actor, purpose=purpose)
    row = risk_db.risk_model_row(ctx.store, model_id)
    card: dict[str, Any] = json.loads(row["card"])
    card["provenance"] = {"ledger_seq": None if pd.isna(row["ledger_seq"]) else int(row["ledger_seq"]),
                          "artefact_sha256": row["artefact_hash"], "created_utc": str(row["created_utc"]),
                          "fitted_by": row["user_name"]}
    record_use(ctx, action="risk.card", actor=actor, purpose=purpose, model=row["kind"],
               model_version=model_id, output_hash=sha256_hex(row["card"]))
    return card


def export_card(ctx: Context, *, model_id: str, actor: Actor, purpose: str | None = RESEARCH) -> tuple[bytes, bool]:
    """A stored model's card as the JSON file whose SHA-256 its ``risk.fit`` ledger entry holds, and
    whether it still does (checked against the entry itself). Logged as ``risk.export``."""
    authorize(ctx, action="risk.export", actor=actor, purpose=purpose)
    row = risk_db.risk_model_row(ctx.store, model_id)
    data = str(row["card"]).encode("utf-8")
    seq = None if pd.isna(row["ledger_seq"]) else int(row["ledger_seq"])
    logged = ctx.ledger.entry(seq).output_hash if seq is not None else None
    matches = logged is not None and hashlib.sha256(data).hexdigest() == logged
    record_use(ctx, action="risk.export", actor=actor, purpose=purpose, model=str(row["kind"]),
               model_version=model_id, output_hash=logged, detail={"matches_ledger": matches, "ledger_seq": seq})
    return data, matches


@dataclass(frozen=True)
class ScoreRun:
    """Scores of people: one row each (``line``: where the person is in the file), the ledger entry,
    how many rows the file had (a COMPAS file's analysis filters leave some unscored: ``rows_note``),
    the output's mark and, for an actionable output, its review item."""

    frame: pd.DataFrame
    ledger_seq: int
    n_read: int
    rows_note: str | None
    mark: str | None
    review_item: str | None
    #: what a reader must know about these scores (a person on several rows)
    warnings: tuple[str, ...] = ()


def model_charges(row: Mapping[str, Any]) -> dict[str, str | None]:
    """A stored model's charge vocabulary: ``{column: description}`` of the charge-description
    columns among its features. A card from before the vocabulary was kept gives ``None`` for each
    description (matched by the column's slug)."""
    card = json.loads(row["card"]) if isinstance(row["card"], str) else dict(row["card"])
    kept: dict[str, str | None] = dict(card.get("charge_descriptions") or {})
    return {c: kept.get(c) for c in charge_description_columns(json.loads(row["features"]))}


def score_people(
    ctx: Context, *, model_id: str, data: str | Path, actor: Actor, purpose: str | None = RESEARCH,
    id_column: str | None = None, out: str | Path | None = None, deployment: str | None = None,
    actionable: bool = False, layout: Layout = "auto",
) -> ScoreRun:
    """Score every row of a table with a stored model (person-level output).

    ``actionable=True`` (or serving through the API) needs ``deployment`` to be an
    active, approved deployment of exactly this model; the governance gate refuses
    and logs otherwise, and routes each actionable output to human review. Its file then
    carries the pending-review mark in every row, and the run names the review item.

    A COMPAS-layout file is read with the model's own charge columns (:func:`model_charges`), so a
    file other than the training file is scored with the features the model was fitted on. A
    person id on several rows (``id_column``, a COMPAS file's ``id`` by default) is scored on each
    and warned about.
    """
    model, row = load_risk_model(ctx, model_id)
    fields = {"model": row["kind"], "model_version": model_id, "deployment": deployment,
              "artefact_hash": row["artefact_hash"]}  # which artefact scored them, as the fit entry names it
    authorize(ctx, action="risk.score", actor=actor, purpose=purpose, actionable=actionable, **fields)
    table = prepare_table(data, layout=layout, charges=model_charges(row))
    feats = json.loads(row["features"])
    id_col = _id_column(table, id_column, "risk score")
    _need_rows(table, "risk score")
    X = _feature_matrix(table, feats)
    repeated = _repeated_people(table, id_col, "each row is scored, so the output holds such a person more "
                                               "than once")
    warnings = (repeated,) if repeated else ()
    prob = model.predict_proba(X)[:, 1]
    out_frame = pd.DataFrame({
        "row": np.arange(len(X)),
        "line": table.lines if table.lines is not None else np.arange(len(X)) + 2,  # where it is in the file
        "raw_score": model.raw_score(X),
        "probability": prob,
    })
    if id_column:
        out_frame.insert(0, id_column, table.frame[id_column].to_numpy())
    # an actionable output is in the review queue once logged: the file says so, since nobody may
    # act on it before a supervisor accepts it (review item r<seq> of this output's ledger entry)
    mark = output_mark(ctx, action="risk.score", purpose=purpose, deployment=deployment, actionable=actionable)
    out_frame["mark"] = mark or ""
    payload = out_frame.to_csv(index=False)
    with ctx.store.transaction():
        seq = record_use(ctx, action="risk.score", actor=actor, purpose=purpose, actionable=actionable,
                         data_hash=table.data_hash, output_hash=sha256_hex(payload),
                         detail={"person_level": True, "actionable": actionable, "n": len(X),
                                 "n_read": table.n_read, "rows_note": table.note, "mark": mark,
                                 **({"warnings": list(warnings)} if warnings else {})}, **fields)
        if out is not None:
            Path(out).write_text(payload, encoding="utf-8")
    return ScoreRun(out_frame, seq, table.n_read, table.note, mark,
                    f"r{seq}" if mark == PENDING_REVIEW_MARK else None, warnings)


@dataclass(frozen=True)
class AuditRun:
    report: AuditReport
    report_id: str
    json_text: str
    json_hash: str
    html_hash: str | None
    mitigations: tuple[Mitigation, ...]
    ledger_seq: int
    note: str | None
    #: what a reader must know first (in-sample figures, a person on several rows)
    warnings: tuple[str, ...] = ()


def run_mitigations(
    score: np.ndarray[Any, Any], label: np.ndarray[Any, Any], group: np.ndarray[Any, Any], *,
    threshold: float, reference: str | None, positive_is_harmful: bool,
    X: pd.DataFrame | None = None, model: RiskModel | None = None, min_group_size: int = 50,
) -> list[Mitigation]:
    """The three mitigations as trade-off tables against flags ``score >= threshold``.

    Reweighing and the constrained fit need features and a model to refit; with an
    outside score only the group thresholds can be computed.
    """
    out = [group_thresholds(score, label, group, threshold=threshold, reference=reference,
                            positive_is_harmful=positive_is_harmful, min_group_size=min_group_size)]
    if X is None or model is None:
        return out
    before = (score >= threshold).astype(float)
    share = float(before.mean())
    w = reweighing_weights(label, group)
    rw = clone(model).fit(X, label, sample_weight=w)
    s2 = rw.predict_proba(X)[:, 1]
    t2 = _threshold_for_share(s2, share, closest=True)
    after = (s2 >= t2).astype(float)
    out.append(compare_decisions(
        "reweighing", label, group, before, after,
        needs_protected_at_decision=False, needs_protected_at_training=True,
        positive_is_harmful=positive_is_harmful, min_group_size=min_group_size,
        description="training rows weighted by P(group)P(label)/P(group, label) (Kamiran & Calders "
                    f"2012), model refitted, flagging {after.mean():.3f} of people against {share:.3f} "
                    "before (the nearest share its score levels allow); in-sample",
        params={"threshold": t2, "flagged_share_before": share, "flagged_share_after": float(after.mean())}))
    base = LogisticRisk(calibration="none")
    mix = exponentiated_gradient(base, X, label, group,
                                 constraint="fpr" if positive_is_harmful else "fnr", eps=0.02,
                                 max_iter=25, min_group_size=min_group_size)
    out.append(compare_decisions(
        "constrained fit (exponentiated gradient)", label, group, before, mix.flag_probability(X),
        needs_protected_at_decision=False, needs_protected_at_training=True,
        positive_is_harmful=positive_is_harmful, min_group_size=min_group_size,
        description=f"randomised mixture of logistic models with group {mix.constraint.upper()} gaps "
                    f"≤ {mix.eps} (Agarwal et al. 2018); expected counts; in-sample; largest gap "
                    f"reached {mix.max_violation:.3f}",
        params={"constraint": mix.constraint, "eps": mix.eps, "n_models": len(mix.estimators)}))
    return out


def _audit_labels(table: PreparedTable, label: str) -> np.ndarray[Any, Any]:
    """The 0/1 label column for an audit; a bad cell is named as it reads in the file."""
    frame = table.frame
    if label in frame.columns:
        bad = ~pd.to_numeric(frame[label], errors="coerce").isin([0, 1])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"audit {table.path} {table.row(i)}, column {label!r}: got {as_read(frame[label].iloc[i])}; "
                              "expected 0 or 1 (1 = the recorded outcome)")
    return _label_array(table, label)


def audit_table(
    ctx: Context, *, data: str | Path, label: str, groups: Sequence[str], actor: Actor,
    score: str | None = None, model_id: str | None = None, threshold: float | None = None,
    positive_is_harmful: bool = True, n_boot: int = 1000, reference: Mapping[str, str] | None = None,
    min_group_size: int = 50, intersections: bool = True, mitigate: bool = False,
    html: str | Path | None = None, json_out: str | Path | None = None, layout: Layout = "auto",
    purpose: str | None = RESEARCH, random_state: int = 0, file_label: str | None = None,
    id_column: str | None = None,
) -> AuditRun:
    """Audit a score column (or a stored model's scores) per group; store JSON (+ HTML) and log it.

    ``file_label`` names the data file in the report and in messages (``upload:<name>``).

    A stored model (``model_id``) scores any file of its layout: a COMPAS file is read with the
    model's own charge columns. When the file is the one the model was fitted on (its SHA-256 is the
    card's ``data_hash``), the figures are in-sample: the report's ``warnings`` (printed first, at
    the top of the HTML, and in the ledger entry's detail) say so and give the card's
    cross-validated AUC. A person id on several rows (``id_column``, a COMPAS file's ``id`` by
    default) is warned about too: each row counts as a person and the intervals are too narrow.

    The ledger entry's ``params`` hold every input that changes the report: threshold,
    bootstrap, harm direction, group columns, the references given and those used (with how
    each was chosen), intersections, mitigations, layout and seed. A bad input (a label that is
    not 0/1, a missing column, an unknown ``--reference`` column or group) is refused and the
    refusal logged, as other services log theirs."""
    if (score is None) == (model_id is None):
        raise InvalidParameterError("audit: expected exactly one of --score COL or --model MODEL_ID")
    authorize(ctx, action="audit.fairness", actor=actor, purpose=purpose)
    stored_model = load_risk_model(ctx, model_id) if model_id is not None else None
    table = prepare_table(data, layout=layout, name=file_label,
                          charges=None if stored_model is None else model_charges(stored_model[1]))
    frame = table.frame
    given = dict(reference or {})
    params: dict[str, Any] = {"threshold": threshold, "n_boot": n_boot, "positive_is_harmful": positive_is_harmful,
                              "min_group_size": min_group_size, "groups": list(groups), "reference": given,
                              "intersections": intersections, "mitigate": mitigate, "layout": table.layout,
                              "random_state": random_state, **({"id_column": id_column} if id_column else {})}
    model: RiskModel | None = None
    X: pd.DataFrame | None = None
    warnings: list[str] = []
    id_col: str | None = None
    try:
        _missing_groups(table, groups, "audit", required=True)
        id_col = _id_column(table, id_column, "audit")
        _need_rows(table, "audit")
        y = _audit_labels(table, label)
        if stored_model is not None:
            model, row = stored_model
            X = _feature_matrix(table, json.loads(row["features"]))
            s = model.predict_proba(X)[:, 1]
            score_name = f"{row['kind']} {model_id} probability"
            if str(row["data_hash"]) == table.data_hash:
                warnings.append(_in_sample_warning(table, str(model_id), json.loads(row["card"])))
        else:
            assert score is not None
            if score not in frame.columns:
                raise SchemaError(f"audit {table.path}: no score column {score!r}; expected one of "
                                  f"{list(frame.columns)[:20]}")
            s = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=np.float64)
            if not np.isfinite(s).all():
                i = int(np.flatnonzero(~np.isfinite(s))[0])
                raise SchemaError(f"audit {table.path} {table.row(i)}, column {score!r}: "
                                  f"got {as_read(frame[score].iloc[i])}; expected a number")
            score_name = score
        report = audit_scores(s, y, frame[list(groups)], threshold=threshold,
                              positive_is_harmful=positive_is_harmful, reference=given, n_boot=n_boot,
                              min_group_size=min_group_size, intersections=intersections,
                              score_name=score_name, label_name=label, random_state=random_state)
    except InputError as exc:  # refused: logged with what was asked, then raised
        refuse(ctx, action="audit.fairness", actor=actor, purpose=purpose, reason=str(exc), error=exc,
               data_hash=table.data_hash, params=params, model_version=model_id,
               detail={"score": score, "label": label, "error": type(exc).__name__})
    mitigations: tuple[Mitigation, ...] = ()
    if mitigate:
        g0 = groups[0]
        mitigations = tuple(run_mitigations(
            s, y, frame[g0].astype(str).to_numpy(), threshold=report.threshold,
            reference=report.reference.get(g0), positive_is_harmful=positive_is_harmful, X=X,
            model=model, min_group_size=min_group_size))
    params.update(threshold=report.threshold, reference_used=dict(report.reference),
                  reference_rule=dict(report.reference_rule))
    repeated = _repeated_people(table, id_col, "the audit counts each row as a person, so such a person "
                                               "weighs more than once and the bootstrap intervals (rows resampled "
                                               "as independent) are too narrow")
    if repeated:
        warnings.append(repeated)
    tail = censored_tail(frame, label)
    if tail is not None:
        warnings.append(tail.message(table.path))
    warnings += _duplicate_columns(table, [*([score] if score else []), label, *groups,
                                           *(COMPAS_COLUMNS if table.is_compas else ())])
    doc = report.to_dict()
    if warnings:
        doc["warnings"] = warnings
    doc["data"] = {"file": table.path, "sha256": table.data_hash, "rows_read": table.n_read,
                   "note": table.note}
    doc["mitigations"] = [m.to_dict() for m in mitigations]
    doc["mark"] = RESEARCH_MARK if purpose == RESEARCH else None
    json_text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
    json_hash = sha256_hex(json_text)
    report_id = "ar-" + json_hash[:12]
    html_hash = None
    html_text = None
    if html is not None:
        html_text = render_html(report, mitigations=mitigations, mark=doc["mark"], warnings=warnings,
                                extra={"data file": table.path, "data sha256": table.data_hash,
                                       "data note": table.note, "json sha256": json_hash,
                                       "report id": report_id})
        html_hash = sha256_hex(html_text)
    with ctx.store.transaction():
        seq = record_use(ctx, action="audit.fairness", actor=actor, purpose=purpose,
                         data_hash=table.data_hash, output_hash=json_hash,
                         model=None if model is None else type(model).__name__, model_version=model_id,
                         params=params,
                         detail={"report_id": report_id, "html_hash": html_hash, "score": score_name,
                                 "label": label, "n": report.n, **({"warnings": warnings} if warnings else {})})
        risk_db.save_audit_report(
            ctx.store, report_id=report_id, created_utc=ctx.now(), user_name=actor.user,
            data_file=table.path, data_hash=table.data_hash, score_name=score_name, label_name=label,
            group_columns=list(groups), threshold=report.threshold, model_id=model_id,
            report_json=json_text, json_hash=json_hash, html_hash=html_hash,
            html_file=None if html is None else str(html))
        if json_out is not None:
            Path(json_out).write_text(json_text, encoding="utf-8")
        if html is not None and html_text is not None:
            Path(html).write_text(html_text, encoding="utf-8")
    return AuditRun(report, report_id, json_text, json_hash, html_hash, mitigations, seq, table.note,
                    tuple(warnings))


def _in_sample_warning(table: PreparedTable, model_id: str, card: Mapping[str, Any]) -> str:
    """Say that an audit of a model on its own training file reports in-sample figures."""
    cv = card.get("cv") or {}
    measured = ""
    if "auc_mean" in cv:
        measured = (f" Its card's cross-validated AUC is {cv['auc_mean']:.3f} ± {cv.get('auc_sd', 0.0):.3f} "
                    f"({cv.get('repeats', 1)}× {cv.get('folds', N_FOLDS)}-fold)")
        measured += (", with out-of-fold error rates per group" if "groups" in card else "") + "."
    return (f"IN-SAMPLE: {table.path} is the file model {model_id} was fitted on (the same SHA-256, "
            f"{table.data_hash[:16]}…), so these figures describe the people it learned from and flatter "
            f"it.{measured} Read those (crimelens risk card {model_id}), or audit a file it has not seen.")


def register_risk_model(ctx: Context, *, model_id: str, actor: Actor,
                        purpose: str | None = "model registration") -> ModelCard:
    """Register a stored risk model in the model registry, with the figures its fit measured.

    A deployment approves a registered model; its card's numbers here come from the stored card
    (cross-validated AUC, and per audit group the out-of-fold error rates with their intervals
    and sizes), its artefact hash and training-file hash from the stored model. Nothing is typed in:
    the registry refuses figures given by hand for a risk model's id."""
    row = risk_db.risk_model_row(ctx.store, model_id)
    card: dict[str, Any] = json.loads(row["card"])
    metrics: dict[str, Any] = {"cv_auc": card["cv"]["auc_mean"], "cv_auc_sd": card["cv"]["auc_sd"],
                               "cv_folds": card["cv"]["folds"], "cv_repeats": card["cv"]["repeats"],
                               "n_train": card["n_train"]}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    if "groups" in card:
        metrics.update(threshold=card["groups"]["threshold"], flagged_share=card["groups"]["flagged_share"])
        keep = ("fpr", "fpr_low", "fpr_high", "fnr", "fnr_low", "fnr_high", "ppv", "base_rate", "n")
        for g in card["groups"]["audit"]["groups"]:
            if g["facet"] != "overall":
                groups.setdefault(str(g["facet"]), {})[str(g["group"])] = {k: g[k] for k in keep if k in g}
    seq = None if pd.isna(row["ledger_seq"]) else int(row["ledger_seq"])
    data = {"what": "5-fold cross-validation: out-of-fold scores of the people in the training file",
            "data_file": card["data_file"], "label": card["label"], "features": card["features"],
            "data_note": card.get("data_note"), "risk_model": model_id}
    return register_model(ctx, name=str(row["kind"]), version=model_id, params=dict(card["params"]),
                          evaluation={"metrics": metrics, "data": data, "groups": groups}, actor=actor,
                          purpose=purpose, kind="risk", training_dataset=card["data_file"],
                          training_data_hash=str(row["data_hash"]), code_version=__version__,
                          artefact_hash=str(row["artefact_hash"]),
                          measured_by=f"risk fit {model_id} (ledger entry {seq})")
