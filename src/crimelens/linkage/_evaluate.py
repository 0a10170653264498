"""How well a linker links: grouped cross-validation, top-k recall, series recovery.

* :func:`grouped_linkage_cv` splits incidents into folds by *series component*
  (incidents joined through shared offenders or series labels, so co-offending
  never straddles folds; unlabelled incidents are singletons), trains on the
  other folds and scores the held-out fold: pairwise ROC AUC over the held-out
  candidate pairs (Porter 2016 reports 0.82–0.90 in the behavioural-linkage
  literature) and, for every held-out incident of a series, the share of its
  series-mates that appear in its top ``k`` list when it is compared with
  *every* other incident (Porter 2016's "top 50": 74–89 %).
* :func:`series_recovery` compares predicted series with true ones: the share
  rebuilt *exactly* (same member set) and *partially* (a predicted series
  holding at least half of the true series, at least half of whose members
  are from it) — Patternizr's 1/3 exact and 4/5 partial (Chohlas-Wood & Levine
  2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError
from crimelens.linkage._linker import PairwiseLinker, _LabelIndex, normalise_labels

__all__ = ["LinkageCV", "SeriesRecovery", "grouped_linkage_cv", "label_components", "series_recovery",
           "top_k_recall"]


def label_components(labels: Sequence[Any]) -> NDArray[np.int64]:
    """Component id per incident: incidents sharing any label (transitively) share an id.

    Examples
    --------
    >>> label_components(["a", "a;b", "b", None, "c"]).tolist()
    [0, 0, 0, 1, 2]
    """
    sets = normalise_labels(labels)
    n = len(sets)
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for k, s in enumerate(sets):
        for lab in s:
            rows.append(k)
            cols.append(n + vocab.setdefault(lab, len(vocab)))
    size = n + len(vocab)
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, comp = connected_components(g, directed=False)
    _, first = np.unique(comp[:n], return_inverse=True)
    # renumber in order of first appearance
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(c), len(order)) for c in first], dtype=np.int64)


def top_k_recall(linker: PairwiseLinker, incidents: IncidentTable, labels: Sequence[Any],
                 queries: NDArray[np.int64], k: int = 50) -> tuple[int, int, list[float]]:
    """For each query incident: series-mates found in its top ``k`` among all other incidents.

    Returns ``(found, total, per-query shares)``.
    """
    sets = normalise_labels(labels)
    enc = linker.encode(incidents)
    found = total = 0
    shares: list[float] = []
    everyone = np.arange(len(incidents), dtype=np.int64)
    for q in queries:
        q = int(q)
        mates = {m for m in range(len(sets)) if m != q and sets[q] & sets[m]}
        if not mates:
            continue
        cand = everyone[enc.family == enc.family[q]]
        top, _ = linker.similar(enc, q, k=k, candidates=cand)
        hit = len(mates & set(top.tolist()))
        found += hit
        total += len(mates)
        shares.append(hit / len(mates))
    return found, total, shares


@dataclass(frozen=True)
class LinkageCV:
    """Out-of-fold pairwise and ranking figures of a linker."""

    auc: float
    auc_cheap: float
    n_pairs: int
    n_linked: int
    top_k: int
    top_k_found: int
    top_k_total: int
    top_k_mean_share: float
    folds: int
    fold_auc: list[float] = field(default_factory=list)

    @property
    def top_k_share(self) -> float:
        return self.top_k_found / self.top_k_total if self.top_k_total else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "auc_cheap": self.auc_cheap, "n_pairs": self.n_pairs,
                "n_linked": self.n_linked, "top_k": self.top_k, "top_k_found": self.top_k_found,
                "top_k_total": self.top_k_total, "top_k_share": self.top_k_share,
                "top_k_mean_share": self.top_k_mean_share, "folds": self.folds, "fold_auc": self.fold_auc}


def grouped_linkage_cv(linker: PairwiseLinker, incidents: IncidentTable, labels: Sequence[Any], *,
                       n_splits: int = 5, k: int = 50) -> LinkageCV:
    """Grouped (by series component) cross-validation of ``linker``; see the module notes.

    Only labelled incidents are held out and scored; unlabelled ones stay in
    every training set (used as ``linker.unlabelled`` says) and compete in every
    top-``k`` list.
    """
    sets = normalise_labels(labels)
    if len(sets) != len(incidents):
        raise InvalidParameterError(f"grouped_linkage_cv: got {len(sets)} labels for {len(incidents)} incidents")
    labelled = np.array([bool(s) for s in sets])
    comp = label_components(sets)
    idx = np.nonzero(labelled)[0]
    gkf = GroupKFold(n_splits=n_splits)
    lab = _LabelIndex(sets)
    ys: list[NDArray[np.bool_]] = []
    ps: list[NDArray[np.float64]] = []
    cs: list[NDArray[np.float64]] = []
    fold_auc: list[float] = []
    found = total = 0
    shares: list[float] = []
    for _tr, te_pos in gkf.split(idx, groups=comp[idx]):
        test = np.zeros(len(sets), dtype=bool)
        test[idx[te_pos]] = True
        train_labels = [s if not test[m] else frozenset() for m, s in enumerate(sets)]
        train_mask = ~test
        train_idx = np.nonzero(train_mask)[0]
        model = clone(linker).fit(incidents.select(mask=train_mask), [train_labels[m] for m in train_idx])
        enc = model.encode(incidents)
        # held-out pairs: both in the test fold, inside the block
        sub = np.nonzero(test)[0]
        sub_enc = enc.take(sub)
        index = model.index(sub_enc)
        for i, j in index.iter_pairs():
            gi, gj = sub[i], sub[j]
            c, p = model.score(enc, gi, gj)
            y = lab.linked(gi, gj)
            ys.append(y)
            ps.append(p)
            cs.append(c)
        if len(ys) and ys[-1].any() and not ys[-1].all():
            fold_auc.append(float(roc_auc_score(ys[-1], ps[-1])))
        f, t, sh = top_k_recall(model, incidents, sets, sub, k=k)
        found += f
        total += t
        shares += sh
    y_all = np.concatenate(ys)
    p_all = np.concatenate(ps)
    c_all = np.concatenate(cs)
    return LinkageCV(
        auc=float(roc_auc_score(y_all, p_all)), auc_cheap=float(roc_auc_score(y_all, c_all)),
        n_pairs=len(y_all), n_linked=int(y_all.sum()), top_k=k, top_k_found=found, top_k_total=total,
        top_k_mean_share=float(np.mean(shares)) if shares else float("nan"), folds=n_splits,
        fold_auc=fold_auc)


@dataclass(frozen=True)
class SeriesRecovery:
    """Share of true series rebuilt exactly and partially by predicted series."""

    n_true: int
    n_exact: int
    n_partial: int
    n_predicted: int

    @property
    def exact_share(self) -> float:
        return self.n_exact / self.n_true if self.n_true else float("nan")

    @property
    def partial_share(self) -> float:
        return self.n_partial / self.n_true if self.n_true else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"n_true": self.n_true, "n_exact": self.n_exact, "n_partial": self.n_partial,
                "n_predicted": self.n_predicted, "exact_share": self.exact_share,
                "partial_share": self.partial_share}


def series_recovery(true_series: Sequence[set[str] | frozenset[str]],
                    predicted: Sequence[set[str] | frozenset[str]]) -> SeriesRecovery:
    """Compare true and predicted series (sets of incident ids).

    Examples
    --------
    >>> r = series_recovery([{"a", "b"}, {"c", "d", "e"}, {"f", "g"}], [{"a", "b"}, {"c", "d", "x"}])
    >>> r.n_exact, r.n_partial, round(r.partial_share, 3)
    (1, 2, 0.667)
    """
    where: dict[str, list[int]] = {}
    for k, s in enumerate(predicted):
        for m in s:
            where.setdefault(m, []).append(k)
    exact = partial = 0
    for t in true_series:
        ts = set(t)
        hits: dict[int, int] = {}
        for m in ts:
            for k in where.get(m, []):
                hits[k] = hits.get(k, 0) + 1
        best_exact = any(set(predicted[k]) == ts for k in hits)
        best_partial = any(2 * h >= len(ts) and 2 * h >= len(predicted[k]) for k, h in hits.items())
        exact += int(best_exact)
        partial += int(best_partial)
    return SeriesRecovery(len(true_series), exact, partial, len(predicted))
