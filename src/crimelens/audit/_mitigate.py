"""Mitigations, each reported as a trade-off: who gains and who loses which error.

Three families, none of them a fix:

* **Group-specific thresholds** (Hardt, Price & Srebro 2016, post-processing):
  each group gets its own cut so its false positive rate (punitive flag) or
  false negative rate (assistive flag) matches the reference group's. It needs
  the protected attribute **at decision time**, i.e. treating people
  differently by race or sex, which is unlawful in many settings.
* **Reweighing** (Kamiran & Calders 2012): training rows get weights
  ``P(group) P(label) / P(group, label)`` so group and label are independent
  in the weighted data; the model is refitted. The attribute is needed at
  training time only.
* **Constrained fit**: the exponentiated-gradient reduction of Agarwal et al.
  (2018, "A reductions approach to fair classification"), written here: a
  Lagrangian game between a learner that fits cost-sensitive weighted
  classifiers and multipliers that grow while a group's error-rate gap exceeds
  ``eps``. The result is a *randomised* mixture of classifiers; its expected
  rates are reported. The attribute is needed at training time only.

Every trade-off table counts people: how many more or fewer are wrongly
flagged (false positives) or missed (false negatives) in each group, against
the unmitigated decision, and the change in accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone

from crimelens.errors import InvalidParameterError

__all__ = [
    "ConstrainedMixture",
    "Mitigation",
    "compare_decisions",
    "exponentiated_gradient",
    "group_thresholds",
    "reweighing_weights",
]

Constraint = Literal["fpr", "fnr", "selection_rate"]


@dataclass(frozen=True)
class Mitigation:
    """A mitigation's effect, per group, against the unmitigated decision."""

    name: str
    needs_protected_at_decision: bool
    needs_protected_at_training: bool
    description: str
    tradeoff: pd.DataFrame
    accuracy_before: float
    accuracy_after: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "needs_protected_at_decision": self.needs_protected_at_decision,
            "needs_protected_at_training": self.needs_protected_at_training,
            "description": self.description,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "params": self.params,
            "tradeoff": self.tradeoff.to_dict("records"),
        }


def _rates(flag: NDArray[np.float64], y: NDArray[np.float64]) -> dict[str, float]:
    pos, neg = float(y.sum()), float((1 - y).sum())
    fp, tp = float((flag * (1 - y)).sum()), float((flag * y).sum())
    fn = pos - tp
    return {"n": float(len(y)), "selected": float(flag.sum()), "false_positives": fp,
            "false_negatives": fn,
            "selection_rate": float(flag.mean()) if len(y) else float("nan"),
            "fpr": fp / neg if neg else float("nan"), "fnr": fn / pos if pos else float("nan"),
            "ppv": tp / (tp + fp) if tp + fp else float("nan")}


def people(x: float) -> str:
    """A number of people, unsigned: a whole number as such, an expected count (a randomised
    decision) to one decimal, and a non-zero count under 0.05 to two, so it never reads "0".

    Examples
    --------
    >>> [people(v) for v in (276.0, 0.4, 12.345, 0.04, 1e-12)]
    ['276', '0.4', '12.3', '0.04', '0']
    """
    x = abs(float(x))
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    return f"{x:,.1f}" if x >= 0.05 else f"{x:.2f}"


def compare_decisions(
    name: str, label: Any, group: Any, before: Any, after: Any, *,
    needs_protected_at_decision: bool, needs_protected_at_training: bool, description: str,
    positive_is_harmful: bool = True, params: dict[str, Any] | None = None,
    min_group_size: int = 0, thresholds: dict[str, float] | None = None,
) -> Mitigation:
    """Tabulate, per group, the change from flags ``before`` to flags ``after``.

    Flags may be probabilities (a randomised decision): counts are then expected counts.
    A group under ``min_group_size`` people is marked as the audit's group tables mark it
    (``below_min_size``, ``note`` "n < 50: no comparison"). ``thresholds`` (group -> cut) adds
    each group's cut (``flag_at``: flagged when score >= it).
    """
    y = np.asarray(label, dtype=np.float64)
    g = np.asarray(pd.Series(group).astype(str))
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for lab in ["(all)", *sorted(set(g))]:
        m = np.ones(len(y), bool) if lab == "(all)" else g == lab
        rb, ra = _rates(b[m], y[m]), _rates(a[m], y[m])
        d_fp = ra["false_positives"] - rb["false_positives"]
        d_fn = ra["false_negatives"] - rb["false_negatives"]
        harm_fp = "wrongly flagged" if positive_is_harmful else "flagged without need"
        parts = []
        if abs(d_fp) > 1e-9:
            parts.append(f"{people(d_fp)} {'fewer' if d_fp < 0 else 'more'} {harm_fp}")
        if abs(d_fn) > 1e-9:
            parts.append(f"{people(d_fn)} {'fewer' if d_fn < 0 else 'more'} with the outcome not flagged")
        small = lab != "(all)" and int(rb["n"]) < min_group_size
        row: dict[str, Any] = {"group": lab, "n": int(rb["n"])}
        if thresholds is not None:
            row["flag_at"] = thresholds.get(lab)
        row.update({
            "selection_rate_before": rb["selection_rate"], "selection_rate_after": ra["selection_rate"],
            "fpr_before": rb["fpr"], "fpr_after": ra["fpr"],
            "fnr_before": rb["fnr"], "fnr_after": ra["fnr"],
            "ppv_before": rb["ppv"], "ppv_after": ra["ppv"],
            "false_positives_change": d_fp, "false_negatives_change": d_fn,
            "who_gains_who_loses": "; ".join(parts) if parts else "no change",
            "below_min_size": small,
            "note": f"n < {min_group_size}: no comparison" + (", overall cut kept" if thresholds is not None else "")
            if small else "",
        })
        rows.append(row)
    acc_b = float(np.mean(b * y + (1 - b) * (1 - y)))
    acc_a = float(np.mean(a * y + (1 - a) * (1 - y)))
    table = pd.DataFrame(rows)
    if "flag_at" in table:  # the "(all)" row has no cut of its own: None (null in JSON), not NaN
        table["flag_at"] = table["flag_at"].astype(object).where(table["flag_at"].notna(), None)
    return Mitigation(name, needs_protected_at_decision, needs_protected_at_training, description,
                      table, acc_b, acc_a, dict(params or {}))


def group_thresholds(
    score: Any, label: Any, group: Any, *, threshold: float, reference: str | None = None,
    positive_is_harmful: bool = True, min_group_size: int = 50,
) -> Mitigation:
    """Per-group cuts matching the reference group's FPR (harmful) or FNR (assistive).

    A group under ``min_group_size`` people gets no cut of its own: it keeps ``threshold`` (its
    rate is too noisy to steer by, and the audit reads no comparison for it) and its rows say so.
    Each group's cut is in the table (``flag_at``) and in ``params["thresholds"]``.

    Examples
    --------
    >>> s = [1, 2, 3, 4, 5, 6, 7, 8] * 10 + [9]
    >>> y = [0, 0, 0, 1, 0, 1, 1, 1] * 10 + [0]
    >>> g = ["a"] * 40 + ["b"] * 40 + ["c"]
    >>> m = group_thresholds(s, y, g, threshold=5, reference="a", min_group_size=20)
    >>> m.params["thresholds"], m.params["kept_overall"]
    ({'a': 5.0, 'b': 4.0, 'c': 5.0}, ['c'])
    >>> m.tradeoff.loc[3, "note"]
    'n < 20: no comparison, overall cut kept'
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    g = np.asarray(pd.Series(group).astype(str))
    labels, counts = np.unique(g, return_counts=True)
    ref = reference if reference is not None else str(labels[np.argmax(counts)])
    if ref not in labels:
        raise InvalidParameterError(
            f"group_thresholds(reference={ref!r}): expected one of {labels.tolist()}")
    target = "fpr" if positive_is_harmful else "fnr"
    before = (s >= threshold).astype(np.float64)
    mref = g == ref
    goal = _rates(before[mref], y[mref])[target]
    cuts: dict[str, float] = {}
    kept: list[str] = []
    after = before.copy()
    for lab, n_lab in zip(labels, counts, strict=True):
        m = g == lab
        if lab == ref:
            cuts[str(lab)] = float(threshold)
            continue
        if n_lab < min_group_size:
            cuts[str(lab)] = float(threshold)
            kept.append(str(lab))
            continue
        cands = np.unique(np.append(s[m], np.inf))
        vals = np.array([_rates((s[m] >= c).astype(np.float64), y[m])[target] for c in cands])
        ok = np.isfinite(vals)
        if not ok.any():
            cuts[str(lab)] = float(threshold)
            continue
        best = cands[ok][int(np.argmin(np.abs(vals[ok] - goal)))]
        cuts[str(lab)] = float(best)
        after[m] = (s[m] >= best).astype(np.float64)
    return compare_decisions(
        "group-specific thresholds", y, g, before, after,
        needs_protected_at_decision=True, needs_protected_at_training=True,
        positive_is_harmful=positive_is_harmful,
        description=(f"each group gets its own cut so its {target.upper()} matches {ref}'s "
                     f"({goal:.3f}); "
                     + (f"groups under {min_group_size} people ({', '.join(kept)}) keep the overall cut "
                        f"(score ≥ {threshold:g}); " if kept else "")
                     + "needs the protected attribute when deciding about each person"),
        params={"thresholds": cuts, "reference": ref, "target": target, "min_group_size": min_group_size,
                "kept_overall": kept},
        min_group_size=min_group_size, thresholds=cuts,
    )


def reweighing_weights(label: Any, group: Any) -> NDArray[np.float64]:
    """Kamiran & Calders weights ``P(g) P(y) / P(g, y)`` (mean 1).

    Examples
    --------
    >>> w = reweighing_weights([1, 1, 0, 0, 0, 1], list("aaabbb"))
    >>> w.round(3).tolist()
    [0.75, 0.75, 1.5, 0.75, 0.75, 1.5]
    """
    y = np.asarray(label).astype(int)
    g = np.asarray(pd.Series(group).astype(str))
    w = np.empty(len(y))
    n = len(y)
    for lab in np.unique(g):
        for v in (0, 1):
            m = (g == lab) & (y == v)
            if m.any():
                w[m] = (np.sum(g == lab) / n) * (np.sum(y == v) / n) / (m.sum() / n)
    return w


@dataclass
class ConstrainedMixture:
    """A randomised classifier: ``flag_probability(X)`` is the mixture's mean flag."""

    estimators: list[Any]
    weights: NDArray[np.float64]
    constraint: str
    eps: float
    max_violation: float

    def flag_probability(self, X: Any) -> NDArray[np.float64]:
        out = np.zeros(np.asarray(X).shape[0])
        for w, est in zip(self.weights, self.estimators, strict=True):
            out += w * _hard(est, X)
        return out


def _hard(est: Any, X: Any) -> NDArray[np.float64]:
    if isinstance(est, float):
        return np.full(np.asarray(X).shape[0], est)
    return np.asarray(est.predict(X), dtype=np.float64)


def _moments(h: NDArray[np.float64], y: NDArray[np.float64], codes: NDArray[np.int64],
             G: int, constraint: Constraint) -> NDArray[np.float64]:
    """gamma_g = E[h | group g, event] - E[h | event]; event: y=0 (fpr), y=1 (fnr), all."""
    ev = np.ones(len(y), bool) if constraint == "selection_rate" else (
        y == 0 if constraint == "fpr" else y == 1)
    base = h[ev].mean() if ev.any() else 0.0
    out = np.zeros(G)
    for k in range(G):
        m = ev & (codes == k)
        out[k] = h[m].mean() - base if m.any() else 0.0
    return out


def exponentiated_gradient(
    estimator: Any, X: Any, y: Any, group: Any, *, constraint: Constraint = "fpr",
    eps: float = 0.01, max_iter: int = 40, eta: float = 2.0, bound: float = 10.0,
    min_group_size: int = 50,
) -> ConstrainedMixture:
    """Fit a randomised mixture whose group gaps in ``constraint`` are at most ``eps``.

    ``estimator`` needs ``fit(X, y, sample_weight=...)`` and ``predict``; it never sees
    the group. Agarwal et al. (2018), Algorithm 1, with the uniform average of the
    learner's best responses as the returned mixture. Groups with fewer than
    ``min_group_size`` rows in the constrained event are not constrained (their rates
    are too noisy to steer by) and are reported as they come out.
    """
    if constraint not in ("fpr", "fnr", "selection_rate"):
        raise InvalidParameterError(
            f"exponentiated_gradient(constraint={constraint!r}): expected 'fpr', 'fnr' or 'selection_rate'")
    yy = np.asarray(y, dtype=np.float64)
    codes, _ = pd.factorize(pd.Series(group).astype(str), sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    G = int(codes.max()) + 1
    n = len(yy)
    ev = np.ones(n, bool) if constraint == "selection_rate" else (yy == 0 if constraint == "fpr" else yy == 1)
    n_ev = max(1, int(ev.sum()))
    coef = np.zeros((n, G))  # d gamma_g / d h_i
    constrained = np.zeros(G, dtype=bool)
    for k in range(G):
        m = ev & (codes == k)
        if m.sum() < max(1, min_group_size):
            continue
        constrained[k] = True
        coef[m, k] += 1.0 / m.sum()
        coef[ev, k] -= 1.0 / n_ev
    theta = np.zeros(2 * G)
    learners: list[Any] = []
    preds: list[NDArray[np.float64]] = []
    for _ in range(max_iter):
        e = np.exp(theta - theta.max())
        lam = bound * e / (np.exp(-theta.max()) + e.sum())
        mu = lam[:G] - lam[G:]
        delta = (1 - 2 * yy) / n + coef @ mu  # cost(flag) - cost(no flag)
        target = (delta < 0).astype(int)
        weight = np.abs(delta)
        if target.min() == target.max() or weight.sum() == 0:
            est: Any = float(target[0])
        else:
            est = clone(estimator).fit(X, target, sample_weight=weight * n / weight.sum())
        h = _hard(est, X)
        learners.append(est)
        preds.append(h)
        gam = np.where(constrained, _moments(h, yy, codes, G, constraint), 0.0)
        theta += eta * np.concatenate([gam - eps, -gam - eps])
    weights = np.full(len(learners), 1.0 / len(learners))
    mix = np.average(np.stack(preds), axis=0, weights=weights)
    gaps = np.where(constrained, _moments(mix, yy, codes, G, constraint), 0.0)
    viol = float(np.max(np.abs(gaps)))
    return ConstrainedMixture(learners, weights, constraint, eps, viol)
