"""Use cases of crime-series linkage: train a linker, score pairs, build series, similar incidents.

Every output is written with its ledger entry in one transaction; every
similar-incident query is logged (action ``link.similar``). Local use is logged
with the purpose "research" and its outputs carry
:data:`crimelens.services.RESEARCH_MARK`. Enabling a protected suspect
descriptor (``protected_descriptors``) is an audited option: the descriptors
are named in the ledger entry of training and of every later use of that linker.

Series labels for training come from an incident attribute given at ingest
(``series_id`` by default, or e.g. ``offender_id``) and from labels recorded
later by an analyst (:func:`label_series`, table ``series_labels``).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from crimelens.domain import IncidentTable, check_not_protected, further_record_mask, incident_of
from crimelens.domain._time import as_utc
from crimelens.errors import InvalidParameterError, NotFoundError
from crimelens.governance import Actor, canonical_json
from crimelens.linkage import (
    SERIES_THRESHOLD,
    BlockingIndex,
    EncodedIncidents,
    PairwiseLinker,
    StageProgress,
    attr_values,
    cluster_pairs,
    describe_series,
    find_series,
    grow_series,
    link_matrix,
    normalise_labels,
    series_recovery,
)
from crimelens.linkage._linker import _LabelIndex
from crimelens.linkage._readings import driver_readings
from crimelens.services._context import (
    RESEARCH,
    RESEARCH_MARK,
    Context,
    authorize,
    check_dataset,
    count_records,
    reading_zone,
    record_use,
    sha256_hex,
    standing_record,
)
from crimelens.storage import _linkage as db

__all__ = [
    "SERIES_EXPORTS",
    "PairsRun",
    "SeriesRun",
    "SimilarResult",
    "TrainResult",
    "build_series",
    "export_series_file",
    "export_series_run",
    "label_series",
    "list_pair_runs",
    "pair_page",
    "pairs_csv",
    "prepare_similar",
    "score_pairs",
    "series_format",
    "similar_incidents",
    "similar_with_places",
    "train_linker",
]

MODEL = "PairwiseLinker"


def _incidents(table: IncidentTable) -> tuple[IncidentTable, int]:
    """Each incident once: the further records ``ID#2``, ``ID#3``... of one incident (a row per victim
    or offence) are the same event, not a series, and would top every "similar" list as each other's
    match. Returns the table and how many records it left out."""
    return count_records(table, "incident")


def _data_hash(table: IncidentTable) -> str:
    ids = table.frame["incident_id"].astype(str).tolist()
    return sha256_hex("\n".join(sorted(ids)))


def _labels_for(ctx: Context, dataset: str, table: IncidentTable, label: str) -> list[frozenset[str]]:
    """Per incident: the ``label`` attribute given at ingest plus analyst-recorded labels."""
    check_not_protected([label], where="link train --label")
    sets = normalise_labels(attr_values(table.frame["attrs"].to_numpy(dtype=object), label))
    extra = db.series_labels(ctx.store, dataset)
    if not extra.empty:
        by_id: dict[str, set[str]] = {}  # by incident: a label on ID#2 is a label on its incident ID
        for iid, lab in zip(extra["incident_id"].astype(str), extra["label"].astype(str), strict=True):
            by_id.setdefault(incident_of(iid), set()).add(lab)
        ids = [incident_of(i) for i in table.frame["incident_id"].astype(str)]
        sets = [s | frozenset(by_id.get(i, ())) for s, i in zip(sets, ids, strict=True)]
    return sets


def _audit_detail(linker: PairwiseLinker) -> dict[str, Any]:
    used = list(getattr(linker.featurizer_, "protected_descriptors_used_", []))
    return {"protected_descriptors": used, "audited_option_enabled": bool(used)}


#: a dataset whose candidate pairs per incident differ from the linker's training data by more than this
#: factor (either way) gets a warning on its pair and series runs
DENSITY_WARNING_FACTOR = 2.0


def density_warnings(linker: PairwiseLinker, n_incidents: int, n_candidates: float, threshold: float | None,
                     *, sampled: bool = False, own_cutoff: str | None = None) -> list[str]:
    """A warning when ``n_candidates`` pairs among ``n_incidents`` is far denser or sparser than the
    linker's training data.

    The link probability is calibrated on the training data's candidate pairs, so it carries that
    data's share of linked pairs. Where each incident has k times as many block-mates (a denser or
    larger city, the same offense family more common), and series are no more frequent
    per incident, the share of linked candidates is about k times smaller, and so are the odds of a
    pair's link: a probability p reads as about p / (p + k (1 - p)) (``threshold``, the run's, is
    named in the warning that way). On the million-incident synthetic
    city (k = 46) the default threshold put 452,284 of 1,155,682 incidents in 78,683 "series" where 40
    series of 325 incidents were planted.

    ``threshold`` ``None`` (a ``similar`` list, which has none) names how a listed 0.9 reads;
    ``sampled`` says ``n_candidates`` is estimated from a sample of incidents' block-mates. ``own_cutoff``
    (the linker was trained on this same dataset, before this cut-off; "" for no cut-off): the advice is
    then about its training span, not about training on this dataset, which it already was."""
    t = linker.training_ or {}
    trained_n, trained_pairs = int(t.get("n_incidents", 0)), int(t.get("n_candidate_pairs", 0))
    if n_incidents <= 0 or trained_n <= 0 or trained_pairs <= 0:
        return []
    here, there = n_candidates / n_incidents, trained_pairs / trained_n
    k = here / there if there > 0 else float("inf")
    if 1 / DENSITY_WARNING_FACTOR <= k <= DENSITY_WARNING_FACTOR:
        return []
    more = "more" if k > 1 else "fewer"
    p = 0.9 if threshold is None else threshold
    # a base rate k times smaller divides the odds of a link by k: p' = p / (p + k (1 - p))
    reads = p / (p + k * (1.0 - p)) if p < 1 else 1.0
    effect = (f"if series are as frequent per incident as there, the odds of a link here are about {k:.1f} times "
              f"smaller than the probability says: read {p:g} as about {reads:.2g}"
              + (", expect many look-alike groups, and raise the threshold" if threshold is not None else
                 ", and expect look-alikes near the top of the list")
              if k > 1 else
              f"if series are as frequent per incident as there, the odds of a link here are about {1 / k:.1f} "
              f"times larger than the probability says: read {p:g} as about {reads:.2g}")
    about = "about " if sampled else ""
    return [f"this dataset has {about}{here:,.1f} candidate pairs per incident, {max(k, 1 / k):.1f}× {more} than "
            f"the linker's training data ({there:,.1f}: {trained_pairs:,} pairs among {trained_n:,} incidents); "
            f"the probability is calibrated on the training data's share of linked pairs, so {effect}; "
            + ("better, train a linker on this dataset's own solved series" if own_cutoff is None else
               (f"the linker was trained on this dataset's incidents before {own_cutoff}, a shorter span with "
                "fewer block-mates per incident under the same window: train it again with a later --cutoff "
                "(or none) so that its training data looks like what it scores"
                if own_cutoff else
                "the linker was trained on this very dataset, so the difference is its training sample's: read "
                "the probability as said"))]


def _own_cutoff(ctx: Context, linker_id: str, dataset: str, linker: PairwiseLinker) -> str | None:
    """For a linker trained on ``dataset`` itself and on the same incidents it holds now before the linker's
    cut-off: that cut-off ("" for none). None for a linker trained on another dataset, or on this one before
    incidents were added to or removed from its training span (the usual advice then holds)."""
    rows = list(ctx.store.iter_rows("SELECT dataset, cutoff FROM link_models WHERE linker_id = ?", [linker_id]))
    if not rows or str(rows[0][0]) != dataset:
        return None
    cut = rows[0][1]
    sql = "SELECT count(*) FROM incidents WHERE dataset = ?" + ("" if cut is None else " AND occurred_from < ?")
    now = int(ctx.store.scalar(sql, [dataset] if cut is None else [dataset, cut]) or 0)
    if now != int((linker.training_ or {}).get("n_incidents", -1)):
        return None
    return "" if cut is None else (cut.isoformat() if hasattr(cut, "isoformat") else str(cut))


# training -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainResult:
    linker_id: str
    dataset: str
    cutoff: datetime | None
    training: dict[str, Any]
    evaluation: dict[str, Any] | None
    features: list[str]
    ledger_seq: int
    mark: str = RESEARCH_MARK
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "linker_id": self.linker_id, "dataset": self.dataset,
                "cutoff": None if self.cutoff is None else self.cutoff.isoformat(),
                "training": self.training, "evaluation": self.evaluation, "features": self.features,
                "ledger_seq": self.ledger_seq, "mark": self.mark, "warnings": list(self.warnings)}


def evaluate_after(linker: PairwiseLinker, table: IncidentTable, labels: Sequence[frozenset[str]], *,
                   k: int = 50, threshold: float = SERIES_THRESHOLD,
                   progress: StageProgress | None = None) -> dict[str, Any]:
    """How ``linker`` scores the labelled incidents of ``table`` (held out: after the cut-off).

    Pairwise AUC over candidate pairs with a labelled incident, the share of a
    labelled incident's series-mates in its top ``k`` block-mates, and the
    share of labelled series rebuilt exactly / partially by series at ``threshold``.
    ``progress(stage, done, total)`` follows the three steps (``"held-out pairs"``,
    ``"held-out top-k"`` over the labelled incidents, ``"held-out series"``).
    """
    say: StageProgress = progress if progress is not None else (lambda _s, _k, _n: None)
    sets = list(labels)
    lab = _LabelIndex(sets)
    enc = linker.encode(table)
    ys, ps = [], []
    index = linker.index(enc)
    n_all, seen = int(index.n_pairs), 0
    say("held-out pairs", 0, n_all)
    for i, j in index.iter_pairs(linker.chunk_pairs):
        seen += len(i)
        say("held-out pairs", seen, n_all)
        use = lab.labelled[i] | lab.labelled[j]
        i, j = i[use], j[use]
        if len(i):
            ys.append(lab.linked(i, j))
            ps.append(linker.score(enc, i, j)[1])
    y = np.concatenate(ys) if ys else np.zeros(0, bool)
    p = np.concatenate(ps) if ps else np.zeros(0)
    auc = float(roc_auc_score(y, p)) if y.any() and not y.all() else None
    found = total = 0
    queries = np.nonzero(lab.labelled)[0]
    say("held-out top-k", 0, len(queries))
    for n_done, q in enumerate(queries, start=1):
        mates = {m for m in range(len(sets)) if m != q and sets[q] & sets[m]}
        if mates:
            top, _ = linker.similar(enc, int(q), k=k)
            found += len(mates & set(top.tolist()))
            total += len(mates)
        if n_done % 64 == 0 or n_done == len(queries):
            say("held-out top-k", n_done, len(queries))
    series, _ = find_series(linker, table, threshold=threshold, enc=enc,
                            progress=lambda d, n: say("held-out series", d, n))
    truth: dict[str, set[str]] = {}
    ids = enc.incident_id
    for m, s in enumerate(sets):
        for lab_name in s:
            truth.setdefault(lab_name, set()).add(str(ids[m]))
    true = [v for v in truth.values() if len(v) >= 2]
    rec = series_recovery(true, [set(s.members) for s in series])
    return {"n_incidents": len(table), "n_labelled": int(lab.labelled.sum()), "n_pairs": len(y),
            "n_linked_pairs": int(y.sum()), "auc": auc, "top_k": k, "top_k_found": found,
            "top_k_total": total, "top_k_share": found / total if total else None,
            "series_threshold": threshold, **{f"series_{k2}": v for k2, v in rec.as_dict().items()}}


def train_linker(ctx: Context, *, dataset: str, actor: Actor, purpose: str | None = RESEARCH,
                 label: str = "series_id", cutoff: datetime | str | None = None,
                 offense: str | list[str] | None = None, evaluate: bool = True,
                 deployment: str | None = None, progress: StageProgress | None = None,
                 **params: Any) -> TrainResult:
    """Train a :class:`PairwiseLinker` on labelled incidents before ``cutoff`` and store it.

    ``params`` go to :class:`PairwiseLinker` (``radius_m``, ``window_days``,
    ``protected_descriptors``, ...). With a cut-off, the incidents from it on are
    held out and the result reports how the linker scores their labelled ones.
    ``progress(stage, done, total)`` follows ``"reading incidents"`` (0 then 1 of 1: the
    incidents and their labels), training, then the held-out evaluation
    (:meth:`PairwiseLinker.fit` and :func:`evaluate_after` name those stages).
    """
    say: StageProgress = progress if progress is not None else (lambda _s, _k, _n: None)
    say("reading incidents", 0, 1)
    check_dataset(ctx, dataset, "link train")
    table, n_left_out = _incidents(ctx.store.incidents(dataset=dataset, offense=offense))
    if len(table) == 0:
        raise NotFoundError(f"dataset {dataset!r}: no incidents in the store; ingest some first")
    labels = _labels_for(ctx, dataset, table, label)
    if sum(1 for s in labels if s) < 2:
        raise InvalidParameterError(
            f"link train: {sum(1 for s in labels if s)} incident(s) of {dataset!r} carry a series label "
            f"(attribute {label!r} at ingest, or one recorded by an analyst); expected at least 2 of a known "
            f"series. Record one with 'crimelens link label ID ID ... --dataset {dataset} --series NAME' "
            f"(POST /api/series-labels), or ingest a column mapped to {label!r}")
    cut = None if cutoff is None else as_utc(cutoff, reading_zone(ctx, dataset))  # a date: local midnight
    start = pd.Series(table.frame["occurred_from"])
    before = np.ones(len(table), bool) if cut is None else (start < pd.Timestamp(cut)).to_numpy()
    if not before.any():
        raise InvalidParameterError(
            f"link train --cutoff {cut.isoformat() if cut else None}: no incidents of {dataset!r} before it; "
            f"expected a cut-off after {start.min()}")
    linker = PairwiseLinker(**params)
    say("reading incidents", 1, 1)
    train_idx = np.nonzero(before)[0]
    linker.fit(table.select(mask=before), [labels[m] for m in train_idx], progress=progress)
    evaluation = None
    if cut is not None and evaluate and (~before).any():
        after_idx = np.nonzero(~before)[0]
        evaluation = evaluate_after(linker, table.select(mask=~before), [labels[m] for m in after_idx],
                                    progress=progress)
    blob = pickle.dumps(linker, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(blob).hexdigest()
    linker_id = f"lk-{ctx.now().strftime('%Y%m%d%H%M%S')}-{digest[:8]}"
    used = _audit_detail(linker)["protected_descriptors"]
    # at ingest a protected column becomes an audit attribute, which the linker never reads: an enabled
    # descriptor then has no column to use, and the option would change nothing without a word
    warnings = [f"--enable-protected-descriptor {d}: dataset {dataset!r} has no M.O. attribute {d!r} (at ingest a "
                "protected column is kept as an audit attribute, which the linker never reads), so the option "
                "changed nothing; it applies to incident tables passed in Python "
                "(PairwiseLinker(protected_descriptors=...))"
                for d in params.get("protected_descriptors") or () if d not in used]
    detail = {"dataset": dataset, "label": label, "cutoff": None if cut is None else cut.isoformat(),
              "training": linker.training_, "evaluation": evaluation, "n_records_left_out": n_left_out,
              **_audit_detail(linker), **({"warnings": warnings} if warnings else {})}
    with ctx.store.transaction():
        db.save_linker(ctx.store, linker_id=linker_id, dataset=dataset, created_at=ctx.now(),
                       user_name=actor.user, label_source=f"attrs.{label} + analyst labels", cutoff=cut,
                       params=linker.get_params(), features=list(linker.feature_names_),
                       training=linker.training_, evaluation=evaluation,
                       protected_descriptors=_audit_detail(linker)["protected_descriptors"],
                       artefact=blob, artefact_sha256=digest)
        seq = record_use(ctx, action="link.train", actor=actor, purpose=purpose, model=MODEL,
                         model_version=linker_id, params=linker.get_params(), data_hash=_data_hash(table),
                         output_hash=digest, artefact_hash=digest, deployment=deployment, detail=detail)
    return TrainResult(linker_id, dataset, cut, dict(linker.training_), evaluation,
                       list(linker.feature_names_), seq, warnings=tuple(warnings))


_CACHE: dict[str, PairwiseLinker] = {}  # artefact SHA-256 -> unpickled linker (content-addressed)


def _load(ctx: Context, dataset: str, linker_id: str | None) -> tuple[str, PairwiseLinker]:
    lid, _, linker = _load_with_sha(ctx, dataset, linker_id)
    return lid, linker


def _load_with_sha(ctx: Context, dataset: str, linker_id: str | None) -> tuple[str, str, PairwiseLinker]:
    try:
        lid, sha = db.linker_head(ctx.store, dataset=dataset, linker_id=linker_id)
    except NotFoundError:
        check_dataset(ctx, dataset, "link")  # a mistyped name, rather than a dataset without a linker
        raise
    cached = _CACHE.get(sha)
    if cached is not None:
        return lid, sha, cached
    row = db.load_linker(ctx.store, linker_id=lid)
    blob = row["artefact"]
    if hashlib.sha256(blob).hexdigest() != row["artefact_sha256"]:
        raise InvalidParameterError(
            f"linker {row['linker_id']!r}: stored artefact does not match its SHA-256; expected "
            f"{row['artefact_sha256']}; refusing to load it")
    linker = pickle.load(io.BytesIO(blob))  # our own artefact, hash-checked above
    if not isinstance(linker, PairwiseLinker):
        raise InvalidParameterError(f"linker {row['linker_id']!r}: artefact is a {type(linker).__name__}")
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[sha] = linker
    return lid, sha, linker


# pairs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairsRun:
    run_id: str
    linker_id: str
    n_candidates: int
    pairs: pd.DataFrame  # incident_id_a, incident_id_b, score, cheap_score
    ledger_seq: int
    out: str | None = None
    mark: str = RESEARCH_MARK
    warnings: tuple[str, ...] = ()

    def to_dict(self, limit: int = 100) -> dict[str, Any]:
        head = self.pairs.head(limit)
        return {"ok": True, "run_id": self.run_id, "linker_id": self.linker_id,
                "n_candidates": self.n_candidates, "n_pairs": len(self.pairs), "out": self.out,
                "pairs": head.to_dict(orient="records"), "mark": self.mark, "ledger_seq": self.ledger_seq,
                "warnings": list(self.warnings)}


def _without_zero_reading(warning: str) -> str:
    """A density warning for a run at ``--min-score 0`` without its "read 0 as about 0" (every pair is
    kept; there is no threshold to read).

    >>> _without_zero_reading("than the probability says: read 0 as about 0, expect many look-alike groups")
    'than the probability says: expect many look-alike groups'
    >>> _without_zero_reading("than the probability says: read 0 as about 0; better, train a linker")
    'than the probability says; better, train a linker'
    """
    return re.sub(r": read 0 as about 0(?=;)", "", re.sub(r": read 0 as about 0, ", ": ", warning))


def _pairs_csv(frame: pd.DataFrame) -> str:
    """``incident_id_a,incident_id_b,score``: what ``link pairs --out`` writes; its SHA-256 is the run's output hash."""
    text: str = frame[["incident_id_a", "incident_id_b", "score"]].to_csv(index=False, float_format="%.6f")
    return text


def score_pairs(ctx: Context, *, dataset: str, actor: Actor, purpose: str | None = RESEARCH,
                linker_id: str | None = None, min_score: float = 0.5, out: str | Path | None = None,
                period: Any = None, deployment: str | None = None, save: bool = True,
                progress: Callable[[int, int], None] | None = None) -> PairsRun:
    """Score every candidate pair of ``dataset``; keep (store, and write to ``out``) those >= ``min_score``.
    ``progress(scored, total)`` follows the candidate pairs."""
    if not 0 <= min_score <= 1:
        raise InvalidParameterError(f"link pairs --min-score {min_score}: expected a probability in [0, 1]")
    lid, linker = _load(ctx, dataset, linker_id)
    table, _ = _incidents(ctx.store.incidents(dataset=dataset, period=period))
    enc = linker.encode(table)
    scores = linker.score_all(enc, min_probability=min_score, progress=progress)
    order = np.lexsort((scores.j, scores.i, -scores.probability))
    ids = enc.incident_id
    frame = pd.DataFrame({"incident_id_a": ids[scores.i[order]].astype(str),
                          "incident_id_b": ids[scores.j[order]].astype(str),
                          "score": scores.probability[order], "cheap_score": scores.cheap[order]})
    csv = _pairs_csv(frame)
    digest = sha256_hex(csv)
    run_id = f"lp-{uuid.uuid4().hex[:12]}"
    params = {"min_score": min_score, **{k: linker.get_params()[k] for k in ("radius_m", "window_days")}}
    warnings = [_without_zero_reading(w) if min_score == 0 else w
                for w in density_warnings(linker, len(enc), scores.n_candidates, min_score,
                                          own_cutoff=_own_cutoff(ctx, lid, dataset, linker))]
    with ctx.store.transaction():
        if save:
            db.save_run(ctx.store, run_id=run_id, linker_id=lid, dataset=dataset, kind="pairs",
                        created_at=ctx.now(), user_name=actor.user, purpose=str(purpose), params=params,
                        n_candidates=scores.n_candidates, n_rows=len(frame), output_hash=digest)
            db.save_pairs(ctx.store, run_id, frame)
        seq = record_use(ctx, action="link.pairs", actor=actor, purpose=purpose, model=MODEL,
                         model_version=lid, params=params, data_hash=_data_hash(table), output_hash=digest,
                         deployment=deployment,
                         detail={"run_id": run_id, "dataset": dataset, "n_candidates": scores.n_candidates,
                                 "n_pairs": len(frame), "out": None if out is None else str(out),
                                 "warnings": warnings, **_audit_detail(linker)})
    if out is not None:
        Path(out).write_text(csv, encoding="utf-8")
    return PairsRun(run_id, lid, scores.n_candidates, frame, seq, None if out is None else str(out),
                    warnings=tuple(warnings))


_PAIR_RUN_COLUMNS = ("run_id", "linker_id", "dataset", "created_at", "user_name", "purpose", "params",
                     "n_candidates", "n_rows", "output_hash")


def _pair_runs(ctx: Context, where: str, params: list[Any], tail: str = "") -> list[dict[str, Any]]:
    """Stored pair runs matching ``where`` (one query), ``n_rows`` named ``n_pairs``, params parsed."""
    out = []
    for r in ctx.store.iter_rows(f"SELECT {', '.join(_PAIR_RUN_COLUMNS)} FROM link_runs "
                                 f"WHERE kind = 'pairs' AND {where} {tail}", params):
        row = dict(zip(_PAIR_RUN_COLUMNS, r, strict=True))
        row["n_pairs"] = row.pop("n_rows")
        row["params"] = json.loads(row["params"])
        out.append(row)
    return out


def _pair_run_row(ctx: Context, run_id: str) -> dict[str, Any]:
    found = _pair_runs(ctx, "run_id = ?", [run_id])
    if not found:
        raise NotFoundError(f"pair run {run_id!r}: not in the store (crimelens link pairs makes one)")
    return found[0]


def list_pair_runs(ctx: Context, *, actor: Actor, purpose: str | None = RESEARCH, dataset: str | None = None,
                   limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Stored pair runs, newest first (checked against the role and logged)."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidParameterError(f"pair runs: limit {limit}, offset {offset}; expected 1-1000 and >= 0")
    authorize(ctx, action="link.list", actor=actor, purpose=purpose)
    where, params = ("TRUE", []) if dataset is None else ("dataset = ?", [dataset])
    total = int(ctx.store.scalar(f"SELECT count(*) FROM link_runs WHERE kind = 'pairs' AND {where}", params))
    items = _pair_runs(ctx, where, params, f"ORDER BY created_at DESC, run_id LIMIT {int(limit)} OFFSET {int(offset)}")
    record_use(ctx, action="link.list", actor=actor, purpose=purpose,
               detail={"what": "pair runs", "dataset": dataset, "n": len(items)})
    return {"ok": True, "items": items, "total": total, "limit": limit, "offset": offset}


def pair_page(ctx: Context, run_id: str, *, actor: Actor, purpose: str | None = RESEARCH, limit: int = 100,
              offset: int = 0) -> dict[str, Any]:
    """One stored pair run, its pairs in the stored order (score, highest first) with each incident's
    offense, start time and area: a page of them (checked and logged)."""
    if not 1 <= limit <= 5000 or offset < 0:
        raise InvalidParameterError(f"pairs: limit {limit}, offset {offset}; expected 1-5000 and >= 0")
    authorize(ctx, action="link.view", actor=actor, purpose=purpose)
    run = _pair_run_row(ctx, run_id)
    frame = ctx.store.query(
        "WITH p AS (SELECT rowid AS pos, incident_id_a, incident_id_b, score, cheap_score FROM link_pairs "
        f"WHERE run_id = ? ORDER BY rowid LIMIT {int(limit)} OFFSET {int(offset)}) "
        "SELECT p.*, a.offense AS offense_a, a.occurred_from AS occurred_a, a.area AS area_a, "
        "b.offense AS offense_b, b.occurred_from AS occurred_b, b.area AS area_b FROM p "
        "LEFT JOIN incidents a ON a.dataset = ? AND a.incident_id = p.incident_id_a "
        "LEFT JOIN incidents b ON b.dataset = ? AND b.incident_id = p.incident_id_b ORDER BY p.pos",
        [run_id, run["dataset"], run["dataset"]])
    items = [{k: (None if v is None or (isinstance(v, float) and v != v) else
                  v.isoformat() if isinstance(v, pd.Timestamp | datetime) else v)
              for k, v in r.items() if k != "pos"} for r in frame.to_dict("records")]
    record_use(ctx, action="link.view", actor=actor, purpose=purpose, output_hash=run["output_hash"],
               detail={"run_id": run_id, "offset": offset, "n": len(items)})
    mark = RESEARCH_MARK if run["purpose"] == RESEARCH else ""
    return {"ok": True, "run": run, "items": items, "total": run["n_pairs"], "limit": limit, "offset": offset,
            "mark": mark}


def pairs_csv(ctx: Context, run_id: str, *, actor: Actor, purpose: str | None = RESEARCH) -> tuple[str, bool]:
    """The run's pairs as the CSV ``link pairs --out`` wrote, rebuilt from the store, and whether its
    SHA-256 is still the output hash of the run's ledger entry (checked and logged as ``link.export``)."""
    authorize(ctx, action="link.export", actor=actor, purpose=purpose)
    run = _pair_run_row(ctx, run_id)
    frame = ctx.store.query("SELECT incident_id_a, incident_id_b, score FROM link_pairs WHERE run_id = ? "
                            "ORDER BY rowid", [run_id])
    text = _pairs_csv(frame)
    digest = sha256_hex(text)
    record_use(ctx, action="link.export", actor=actor, purpose=purpose, output_hash=digest,
               detail={"run_id": run_id, "n_pairs": len(frame), "matches_ledger": digest == run["output_hash"]})
    return text, digest == run["output_hash"]


# series -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesRun:
    run_id: str
    linker_id: str
    n_candidates: int
    series: list[dict[str, Any]]
    ledger_seq: int
    mark: str = RESEARCH_MARK
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "run_id": self.run_id, "linker_id": self.linker_id,
                "n_candidates": self.n_candidates, "n_series": len(self.series), "series": self.series,
                "mark": self.mark, "ledger_seq": self.ledger_seq, "warnings": list(self.warnings)}


def build_series(ctx: Context, *, dataset: str, actor: Actor, purpose: str | None = RESEARCH,
                 linker_id: str | None = None, threshold: float = SERIES_THRESHOLD,
                 method: Literal["average", "components"] = "components", seeds: Sequence[str] = (),
                 period: Any = None, deployment: str | None = None,
                 progress: StageProgress | None = None) -> SeriesRun:
    """Candidate series of ``dataset`` (or, with ``seeds``, the one series grown from them).
    ``progress(stage, done, total)`` follows the stages: ``"reading incidents"`` (0 to 2 of 2: the
    linker and the incidents, their encoding), ``"indexing candidate pairs"`` (incidents whose
    block-mates are counted), ``"scoring candidate pairs"`` (most of the work),
    ``"clustering"`` (0 then 1 of 1), ``"describing series"`` (series described) and ``"storing
    series"`` (0 to 3 of 3: the documents and their hash, the series, the ledger entry)."""
    say: StageProgress = progress if progress is not None else (lambda _s, _k, _n: None)
    say("reading incidents", 0, 2)
    lid, linker = _load(ctx, dataset, linker_id)
    table, _ = _incidents(ctx.store.incidents(dataset=dataset, period=period))
    say("reading incidents", 1, 2)
    enc = linker.encode(table)
    say("reading incidents", 2, 2)
    scores = linker.score_all(enc, min_probability=min(threshold, 0.05),
                              progress=lambda k, n: say("scoring candidate pairs", k, n),
                              index_progress=lambda k, n: say("indexing candidate pairs", k, n))
    say("clustering", 0, 1)
    if seeds:
        pos = {str(v): k for k, v in enumerate(enc.incident_id)}
        missing = [s for s in seeds if s not in pos]
        if missing:
            raise NotFoundError(f"link series --seed {missing[0]!r}: not an incident of dataset {dataset!r}")
        m = link_matrix(len(enc), scores.i, scores.j, scores.probability)
        groups, prefix = [grow_series(m, [pos[s] for s in seeds], threshold=threshold)], "G"
    else:
        groups = cluster_pairs(len(enc), scores.i, scores.j, scores.probability, threshold=threshold,
                               method=method)
        prefix = "S"
    say("clustering", 1, 1)
    series = describe_series(linker, table, enc, groups, prefix=prefix,
                             progress=lambda k, n: say("describing series", k, n))
    say("storing series", 0, 3)  # the documents and their hash, the series, the ledger entry
    docs = [s.as_dict() for s in series]
    digest = sha256_hex(canonical_json(docs))
    run_id = f"ls-{uuid.uuid4().hex[:12]}"
    params = {"threshold": threshold, "method": "grow" if seeds else method, "seeds": list(seeds)}
    warnings = density_warnings(linker, len(enc), scores.n_candidates, threshold,
                                own_cutoff=_own_cutoff(ctx, lid, dataset, linker))
    warnings += large_series_warnings(docs, len(enc), threshold=threshold, method="grow" if seeds else method)
    say("storing series", 1, 3)
    with ctx.store.transaction():
        db.save_run(ctx.store, run_id=run_id, linker_id=lid, dataset=dataset, kind="series",
                    created_at=ctx.now(), user_name=actor.user, purpose=str(purpose), params=params,
                    n_candidates=scores.n_candidates, n_rows=len(docs), output_hash=digest)
        db.save_series(ctx.store, run_id, docs)
        say("storing series", 2, 3)
        seq = record_use(ctx, action="link.series", actor=actor, purpose=purpose, model=MODEL,
                         model_version=lid, params=params, data_hash=_data_hash(table), output_hash=digest,
                         deployment=deployment,
                         detail={"run_id": run_id, "dataset": dataset, "n_series": len(docs),
                                 "warnings": warnings, **_audit_detail(linker)})
    say("storing series", 3, 3)
    return SeriesRun(run_id, lid, scores.n_candidates, docs, seq, warnings=tuple(warnings))


#: a series run whose largest series holds more than this share of the incidents, and more than
#: :data:`LARGE_SERIES_MIN` of them, gets a warning: chained look-alikes, not one offender's series
LARGE_SERIES_SHARE = 0.2
LARGE_SERIES_MIN = 50


def large_series_warnings(docs: Sequence[dict[str, Any]], n_incidents: int, *, threshold: float,
                          method: str) -> list[str]:
    """A warning when a run's largest series holds a large share of the incidents.

    Connected components chain: at a low threshold one weak link after another joins look-alike
    incidents until one group holds most of a dataset (on crimelinkage at the default 0.01, 486 of
    490 incidents), which no analyst can read as one offender's series. Warned when the largest
    series holds more than :data:`LARGE_SERIES_SHARE` of ``n_incidents`` and more than
    :data:`LARGE_SERIES_MIN` members.

    Examples
    --------
    >>> large_series_warnings([{"n_members": 486}, {"n_members": 2}], 490, threshold=0.01,
    ...                       method="components")[0][:60]
    'the largest series holds 486 of 490 incidents (99%): at link'
    >>> large_series_warnings([{"n_members": 40}], 100, threshold=0.01, method="components")
    []
    """
    if not docs or n_incidents <= 0:
        return []
    big = max(int(d["n_members"]) for d in docs)
    if big <= LARGE_SERIES_MIN or big <= LARGE_SERIES_SHARE * n_incidents:
        return []
    fix = ("raise the threshold (e.g. 0.1 or 0.5)" + (" or use average linkage (--method average), which resists "
                                                      "chaining" if method == "components" else ""))
    return [f"the largest series holds {big:,} of {n_incidents:,} incidents ({big / n_incidents:.0%}): at link "
            f"probability {threshold:g} ({method}) chains of weak links join look-alike incidents into one group, "
            f"which is not one offender's series; {fix}"]


SERIES_EXPORTS = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json", "csv": "text/csv"}


def _series_docs(heads: pd.DataFrame, members: pd.DataFrame) -> list[dict[str, Any]]:
    """The run's :meth:`Series.as_dict` documents rebuilt from the store, in the run's order."""
    docs = []
    by_series = {sid: g for sid, g in members.groupby("series_id", sort=False)}
    order = sorted(heads["series_id"].astype(str), key=lambda v: (len(v), v))
    summaries = dict(zip(heads["series_id"].astype(str), heads["summary"], strict=True))
    for sid in order:
        g = by_series[sid].sort_values("position")
        doc = json.loads(summaries[sid])
        doc["members"] = g["incident_id"].astype(str).tolist()
        doc["explanations"] = [json.loads(e) for e in g["explanation"]]
        docs.append(doc)
    return docs


def _link_probability_meaning(ctx: Context, linker_id: str) -> str:
    """What a link probability of ``linker_id`` means, with its block (the exports' metadata)."""
    rows = list(ctx.store.iter_rows("SELECT params, training FROM link_models WHERE linker_id = ?", [linker_id]))
    if not rows:
        return "link probability of a linker no longer in the store"
    params, training = (json.loads(v) if v else {} for v in rows[0])
    radius, window = params.get("radius_m"), params.get("window_days")
    block = (f"same offense family, at most {'any distance' if radius is None else f'{radius:g} m'} and "
             f"{'any time' if window is None else f'{window:g} days'} apart")
    if "calibration_slope" not in training:
        return (f"score of a linker trained before link probabilities were calibrated on candidate pairs ({block}); "
                "where pairs of two unlabelled incidents were sampled in training it runs far above the share of "
                "such pairs that are linked; retrain the linker (docs/linkage.md)")
    return (f"probability that two candidate incidents ({block}) belong to one series of the kind the training "
            "labels record, calibrated on the training period's candidate pairs; pairs outside the block have "
            "none; series no label recorded counted as unlinked in training, so it can understate links "
            "(docs/linkage.md)")


def series_format(out: Path, fmt: str | None = None) -> str:
    """The export format: ``fmt``, or from the suffix of ``out`` (refused unless gpkg, geojson or csv)."""
    kind = (fmt or Path(out).suffix.lstrip(".")).lower()
    kind = {"json": "geojson", "geopackage": "gpkg"}.get(kind, kind)
    if kind not in SERIES_EXPORTS:
        raise InvalidParameterError(f"series export {Path(out).name!r}: got format {kind!r}; expected one of "
                                    f"{sorted(SERIES_EXPORTS)} (the suffix .gpkg, .geojson or .csv)")
    return kind


def export_series_run(ctx: Context, run_id: str, out: Path, *, fmt: str | None = None, actor: Actor,
                      purpose: str | None = RESEARCH, deployment: str | None = None) -> bool:
    """Write a stored series run to ``out`` as GeoPackage (layers ``series``, ``series_members``,
    ``series_links``), GeoJSON (the members) or CSV, for QGIS (``fmt`` from the suffix when None);
    see :mod:`crimelens.linkage._export`.

    Returns whether the stored series still hash to the run's ledger entry (the check is written
    into the file's metadata too). Logged as ``link.export``, with the file written (its path,
    format, SHA-256 and size: :func:`export_series_file`).
    """
    return bool(export_series_file(ctx, run_id, out, fmt=fmt, actor=actor, purpose=purpose,
                                   deployment=deployment)["matches_ledger"])


def _staging(target: Path, run_id: str) -> Path:
    """Where an export is written before its ledger entry lands (same folder, so the move is atomic;
    the suffix kept, which the GeoPackage driver checks)."""
    return target.with_name(f".{target.stem}.{run_id}.{uuid.uuid4().hex[:8]}.part{target.suffix}")


def export_series_file(ctx: Context, run_id: str, out: Path, *, fmt: str | None = None, actor: Actor,
                       purpose: str | None = RESEARCH, deployment: str | None = None,
                       served_as: str | None = None) -> dict[str, Any]:
    """:func:`export_series_run`, returning ``{"matches_ledger", "file"}``: the file as its
    ``link.export`` ledger entry names it in ``detail.files`` (role, path, format, SHA-256, bytes), as
    ``link pairs --out`` and ``nearrepeat --png`` do. The file is written beside ``out`` first and moved
    into place once the entry is stored. ``served_as`` (the API: a download, not a file on the
    server) is recorded instead of the path."""
    from crimelens.forecast._export import _lonlat
    from crimelens.linkage._export import SERIES_FIELDS, write_series

    kind = series_format(out, fmt)
    dep: dict[str, Any] = {"deployment": deployment} if deployment else {}
    authorize(ctx, action="link.export", actor=actor, purpose=purpose, **dep)
    run = ctx.store.query("SELECT run_id, linker_id, dataset, purpose, params, output_hash FROM link_runs "
                          "WHERE run_id = ? AND kind = 'series'", [run_id])
    if run.empty:
        raise NotFoundError(f"series run {run_id!r}: not in the store (crimelens link series makes one)")
    info = run.iloc[0]
    heads = ctx.store.query("SELECT series_id, summary FROM link_series WHERE run_id = ?", [run_id])
    members = ctx.store.query(
        "SELECT m.series_id, m.position, m.incident_id, m.explanation, i.offense, i.occurred_from, "
        "i.occurred_to, i.area, i.x_m, i.y_m, i.crs FROM link_series_members m LEFT JOIN incidents i "
        "ON i.incident_id = m.incident_id AND i.dataset = ? WHERE m.run_id = ? ORDER BY m.series_id, m.position",
        [str(info["dataset"]), run_id])
    docs = _series_docs(heads, members)
    matches = bool(sha256_hex(canonical_json(docs)) == info["output_hash"])
    crs = str(members["crs"].dropna().iloc[0]) if members["crs"].notna().any() else None
    x = pd.to_numeric(members["x_m"], errors="coerce").to_numpy(np.float64)
    y = pd.to_numeric(members["y_m"], errors="coerce").to_numpy(np.float64)
    lon, lat = _lonlat(np.column_stack([x, y]), crs)
    expl = [json.loads(e) for e in members["explanation"]]

    def iso(v: pd.Series) -> list[str | None]:
        t = pd.to_datetime(v, utc=True)
        return [None if pd.isna(k) else k.isoformat() for k in t]

    rows = pd.DataFrame({
        "series_id": members["series_id"].astype(str), "position": members["position"].astype(np.int64),
        "incident_id": members["incident_id"].astype(str), "offense": members["offense"],
        "occurred_from": iso(members["occurred_from"]), "occurred_to": iso(members["occurred_to"]),
        "area": members["area"], "mean_probability": [e["mean_probability"] for e in expl],
        "strongest_link": [e["strongest_link"] for e in expl],
        "strongest_probability": [e["strongest_probability"] for e in expl],
        "drivers": ["; ".join(f"{d['feature']} {d['contribution']:+.3f}" + (f" ({d['reading']})" if d.get("reading") else "")
                              for d in e["drivers"]) for e in expl],
        "x_m": x, "y_m": y, "lon": lon, "lat": lat})
    series = pd.DataFrame([{
        "series_id": d["series_id"], "n_members": d["n_members"], "first_from": d["first_from"],
        "last_to": d["last_to"], "span_days": d["span_days"], "cohesion": d["cohesion"],
        "hull_area_m2": d["hull_area_m2"], "max_extent_m": d["max_extent_m"], "offense": ", ".join(d["offense"]),
        "common_mo": "; ".join(f"{m['attribute']}={m['value']} ({m['share']:.0%})" for m in d["common_mo"])}
        for d in docs], columns=list(SERIES_FIELDS))
    params = json.loads(info["params"]) if info["params"] else {}
    meta = {"run_id": run_id, "linker_id": str(info["linker_id"]), "dataset": str(info["dataset"]),
            "threshold": str(params.get("threshold")), "method": str(params.get("method")),
            "mark": RESEARCH_MARK if info["purpose"] == RESEARCH else "",
            "output_hash": str(info["output_hash"]), "matches_ledger": str(matches).lower(),
            "link_probability": _link_probability_meaning(ctx, str(info["linker_id"]))}
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _staging(target, run_id)
    try:
        write_series(part, kind, rows, series, crs, meta, name=target.stem)
        data = part.read_bytes()
        file = {"role": "series", "path": None if served_as else str(target.resolve()), "format": kind,
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                **({"served_as": served_as} if served_as else {})}
        record_use(ctx, action="link.export", actor=actor, purpose=purpose, output_hash=str(info["output_hash"]),
                   detail={"run_id": run_id, "format": kind, "n_series": len(series), "n_members": len(rows),
                           "matches_ledger": matches, "files": [file]}, **dep)
        part.replace(target)
        for ext in (".csvt", ".prj"):  # a CSV's sidecars for GDAL follow it; a stale one of that name goes
            side = part.with_suffix(ext)
            if side.exists():
                side.replace(target.with_suffix(ext))
            elif kind == "csv":
                target.with_suffix(ext).unlink(missing_ok=True)
    finally:
        part.unlink(missing_ok=True)
        for ext in (".csvt", ".prj"):
            part.with_suffix(ext).unlink(missing_ok=True)
    return {"matches_ledger": matches, "file": file}


# similar incidents --------------------------------------------------------------------
@dataclass(frozen=True)
class SimilarResult:
    incident_id: str
    linker_id: str
    n_candidates: int
    matches: list[dict[str, Any]]
    ledger_seq: int
    elapsed_ms: float = 0.0
    mark: str = RESEARCH_MARK
    #: the id asked for: a further record ``ID#2`` is answered for its incident ``ID`` (``incident_id``)
    asked_for: str | None = None
    #: the dataset's candidate pairs per incident far from the linker's training data (:func:`density_warnings`)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "incident_id": self.incident_id, "asked_for": self.asked_for or self.incident_id,
                "linker_id": self.linker_id,
                "n_candidates": self.n_candidates, "matches": self.matches, "mark": self.mark,
                "ledger_seq": self.ledger_seq, "elapsed_ms": self.elapsed_ms, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class _Snapshot:
    """A dataset's incidents encoded for one linker, with its block index (no pair counts)."""

    n_incidents: int  # records stored (the snapshot holds each incident once)
    enc: EncodedIncidents
    index: BlockingIndex
    ids: pd.Index
    pairs: tuple[float, bool]  # the dataset's candidate pairs and whether sampled (BlockingIndex.estimate_pairs)

    def row(self, incident_id: str, dataset: str) -> int:
        """The incident's row; NotFoundError when the dataset (as cached, i.e. as stored) lacks it."""
        if self.ids.is_unique:
            if incident_id in self.ids:
                loc = self.ids.get_loc(incident_id)
                if isinstance(loc, int | np.integer):
                    return int(loc)
        else:
            hits = np.nonzero(self.enc.incident_id == incident_id)[0]
            if len(hits):
                return int(hits[0])
        raise NotFoundError(f"incident {incident_id!r}: not in dataset {dataset!r} of the store")


# store -> {(dataset, linker artefact SHA-256): snapshot}. Incidents are append-only (ingest adds,
# nothing updates or deletes them), so a snapshot is current while the dataset's count is unchanged.
_SNAPSHOTS: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], _Snapshot]] = weakref.WeakKeyDictionary()
_SNAPSHOT_ORDER: list[tuple[weakref.ref[Any], tuple[str, str]]] = []  # oldest first
_MAX_SNAPSHOTS = 2
_BUILD_LOCK = threading.Lock()


def _snapshot(ctx: Context, dataset: str, sha: str, linker: PairwiseLinker) -> _Snapshot:
    """The encoded incidents of ``dataset`` for ``linker`` (built once per store snapshot)."""
    key = (dataset, sha)
    n = ctx.store.count_incidents(dataset=dataset)
    snap = _SNAPSHOTS.get(ctx.store, {}).get(key)
    if snap is not None and snap.n_incidents == n:
        return snap
    with _BUILD_LOCK:  # one build at a time; concurrent callers wait for it, then find it
        n = ctx.store.count_incidents(dataset=dataset)
        snap = _SNAPSHOTS.get(ctx.store, {}).get(key)
        if snap is not None and snap.n_incidents == n:
            return snap
        table, _ = _incidents(ctx.store.incidents(dataset=dataset))
        enc = linker.encode(table)
        del table
        index = BlockingIndex.build(enc.family, enc.x, enc.y, enc.t_from, enc.t_to, radius_m=linker.radius_m,
                                    window_days=linker.window_days, count=False)
        # n: the stored count, the cache's key
        snap = _Snapshot(n, enc, index, pd.Index(enc.incident_id), index.estimate_pairs())
        _SNAPSHOTS.setdefault(ctx.store, {})[key] = snap
        ref = weakref.ref(ctx.store)
        _SNAPSHOT_ORDER[:] = [(r, k) for r, k in _SNAPSHOT_ORDER if r() is not None and (r() is not ctx.store
                                                                                           or k != key)]
        _SNAPSHOT_ORDER.append((ref, key))
        while len(_SNAPSHOT_ORDER) > _MAX_SNAPSHOTS:
            old_ref, old_key = _SNAPSHOT_ORDER.pop(0)
            old_store = old_ref()
            if old_store is not None:
                _SNAPSHOTS.get(old_store, {}).pop(old_key, None)
        return snap


def prepare_similar(ctx: Context, *, dataset: str, linker_id: str | None = None) -> int:
    """Build the ``similar`` cache of ``dataset`` now (e.g. when a service starts); returns its size.

    Otherwise the first cached :func:`similar_incidents` query builds it, and
    concurrent queries wait for that build.
    """
    _, sha, linker = _load_with_sha(ctx, dataset, linker_id)
    return _snapshot(ctx, dataset, sha, linker).n_incidents


def similar_incidents(ctx: Context, *, dataset: str, incident_id: str, actor: Actor,
                      purpose: str | None = RESEARCH, k: int = 10, linker_id: str | None = None,
                      n_drivers: int = 5, deployment: str | None = None, cache: bool = True) -> SimilarResult:
    """The ``k`` block-mates of one incident with the highest link probability, and why.

    With ``cache`` (the default, what a long-running service wants), the
    dataset is read and encoded once per store snapshot and linker — the first
    query pays that (seconds on a city of a million incidents) — and each
    query then finds its block-mates in a grid index of the cached arrays.
    ``cache=False`` reads only the incident's neighbourhood from the store
    (what a one-shot command wants). Both give the same matches.
    """
    t0 = time.perf_counter()
    if k < 1:
        raise InvalidParameterError(f"link similar -k {k}: expected >= 1")
    lid, sha, linker = _load_with_sha(ctx, dataset, linker_id)
    asked, incident_id = incident_id, standing_record(ctx, dataset, incident_id)  # ID#2 -> its incident ID
    if cache:  # the snapshot is the dataset as stored (rebuilt when its count changes)
        snap = _snapshot(ctx, dataset, sha, linker)
        enc = snap.enc
        q = snap.row(incident_id, dataset)
        mates = snap.index.mates(q)
        n_all, (pairs, sampled) = len(enc), snap.pairs
    else:
        head = db.incident_head(ctx.store, dataset, incident_id)
        offense = str(head["offense"])
        family = linker.featurizer_.families_.get(offense, offense)
        offenses = sorted({str(o) for o, f in linker.featurizer_.families_.items() if f == family} | {offense})
        window = linker.window_days
        start = None if window is None else head["occurred_from"] - timedelta(days=window)
        end = None if window is None else head["occurred_to"] + timedelta(days=window)
        near = db.incidents_near(ctx.store, dataset=dataset, offenses=offenses, x_m=float(head["x_m"]),
                                 y_m=float(head["y_m"]), radius_m=linker.radius_m, start=start, end=end)
        enc = linker.encode(_incidents(near)[0])
        q = int(np.nonzero(enc.incident_id == incident_id)[0][0])
        mates = linker.candidates_of(enc, q)
        n_all, (pairs, sampled) = _dataset_pairs(ctx, dataset, sha, linker)
    warnings = density_warnings(linker, n_all, pairs, None, sampled=sampled, own_cutoff=_own_cutoff(ctx, lid, dataset, linker))
    ids = enc.incident_id
    top, prob = linker.similar(enc, q, k=k, candidates=mates)
    n_candidates = len(mates)
    expl = linker.explain(enc, np.full(len(top), q, np.int64), top) if len(top) else []
    matches = []
    for r, (j, p) in enumerate(zip(top, prob, strict=True)):
        e = expl[r]
        # each driver with what the pair has (agree / differ / missing and the values compared): a
        # contribution is relative to the linker's average training pair, so its sign does not say that
        matches.append({"incident_id": str(ids[j]), "probability": float(p), "stage": e.stage,
                        "drivers": driver_readings(linker, enc, q, int(j), e.top(n_drivers))})
    digest = sha256_hex(canonical_json([[m["incident_id"], m["probability"]] for m in matches]))
    seq = record_use(ctx, action="link.similar", actor=actor, purpose=purpose, model=MODEL, model_version=lid,
                     params={"k": k}, output_hash=digest, deployment=deployment,
                     inputs={"dataset": dataset, "incident_id": asked},
                     detail={"n_candidates": n_candidates, "returned": [m["incident_id"] for m in matches],
                             "warnings": warnings, **_audit_detail(linker)})
    return SimilarResult(incident_id, lid, n_candidates, matches, seq,
                         elapsed_ms=(time.perf_counter() - t0) * 1000.0, asked_for=asked, warnings=tuple(warnings))


def _dataset_pairs(ctx: Context, dataset: str, sha: str, linker: PairwiseLinker) -> tuple[int, tuple[float, bool]]:
    """The incidents of ``dataset`` (each once) and its candidate pairs under ``linker``'s blocking
    (:meth:`BlockingIndex.estimate_pairs`): what the ``similar`` density warning compares with the
    linker's training data. Counted from the columns blocking needs only (the one-shot path does not
    encode the dataset) once per dataset size and linker, then read from the store (``link_density``)."""
    n_records = ctx.store.count_incidents(dataset=dataset)
    kept = db.link_density(ctx.store, dataset, sha, n_records)
    if kept is not None:
        return kept[0], (kept[1], kept[2])
    cols = db.blocking_columns(ctx.store, dataset)
    n_records = len(cols)  # what was read (an ingest since the count above is in it)
    cols = cols[~further_record_mask(cols["incident_id"])]
    codes, offenses = pd.factorize(cols["offense"].astype(str))
    families = linker.featurizer_.families_
    fam = pd.factorize(pd.Series([families.get(str(o), str(o)) for o in offenses], dtype=object), sort=True)[0]
    index = BlockingIndex.build(fam.astype(np.int64)[codes], cols["x_m"].to_numpy(np.float64),
                                cols["y_m"].to_numpy(np.float64), cols["t_from"].to_numpy(np.float64),
                                cols["t_to"].to_numpy(np.float64), radius_m=linker.radius_m,
                                window_days=linker.window_days, count=False)
    pairs, sampled = index.estimate_pairs()
    db.save_link_density(ctx.store, dataset, sha, n_records, len(cols), pairs, sampled)
    return len(cols), (pairs, sampled)


def similar_with_places(ctx: Context, *, dataset: str, incident_id: str, actor: Actor,
                        purpose: str | None = RESEARCH, k: int = 10, linker_id: str | None = None,
                        deployment: str | None = None) -> dict[str, Any]:
    """:func:`similar_incidents` as the analyst's view shows it: the queried incident and each match
    with its offense, time, area and lon/lat (one indexed read of ``k + 1`` rows)."""
    res = similar_incidents(ctx, dataset=dataset, incident_id=incident_id, actor=actor, purpose=purpose, k=k,
                            linker_id=linker_id, deployment=deployment)
    ids = [res.incident_id, *(m["incident_id"] for m in res.matches)]
    marks = ", ".join("?" for _ in ids)
    rows = ctx.store.iter_rows(
        "SELECT incident_id, offense, occurred_from, area, premise, lon, lat FROM incidents "
        f"WHERE dataset = ? AND incident_id IN ({marks})", [dataset, *ids])
    keys = ("incident_id", "offense", "occurred_from", "area", "premise", "lon", "lat")
    places = {str(r[0]): {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(keys, r, strict=True)}
              for r in rows}
    out = res.to_dict()
    out["incident"] = places.get(res.incident_id)
    out["matches"] = [{**m, "place": places.get(m["incident_id"])} for m in res.matches]
    return out


# analyst labels -----------------------------------------------------------------------
def label_series(ctx: Context, *, dataset: str, incident_ids: Sequence[str], label: str, actor: Actor,
                 purpose: str | None = RESEARCH, note: str | None = None) -> dict[str, Any]:
    """Record that ``incident_ids`` belong to series ``label`` (an analyst's confirmation).

    An incident may belong to several series. One already recorded in this series, or named twice,
    is recorded once: ``{"n_labelled": new, "n_already": already in the series, "records": ...}``.
    ``records`` lists each id named that is a further record of an incident (``ID#2``: a row per
    victim or offence) with the incident it stands for (``ID``): training reads its label as the
    incident's.
    """
    if not label.strip():
        raise InvalidParameterError("link label --series: got an empty label; expected a series or offender id")
    if not incident_ids:
        raise InvalidParameterError("link label: got no incident ids; expected at least one")
    ids = list(dict.fromkeys(str(i) for i in incident_ids))
    db.incident_rows(ctx.store, dataset, ids)  # raises on unknown ids
    with ctx.store.transaction():
        known = db.series_labels(ctx.store, dataset)
        already = set(known.loc[known["label"] == label, "incident_id"].astype(str)) & set(ids)
        new = [i for i in ids if i not in already]
        frame = pd.DataFrame({"dataset": dataset, "incident_id": new, "label": label,
                              "recorded_by": actor.user, "recorded_at": ctx.now(), "note": note})
        n = db.add_series_labels(ctx.store, frame) if new else 0
        record_use(ctx, action="link.label", actor=actor, purpose=purpose,
                   inputs={"dataset": dataset, "incident_ids": ids},
                   detail={"label": label, "note": note, "n": n, "n_already": len(already)})
    records = [{"record": i, "incident_id": incident_of(i)} for i in ids if incident_of(i) != i]
    return {"n_labelled": n, "n_already": len(already), "records": records}

