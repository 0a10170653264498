"""An integer point score: a short table of items and small whole-number points.

The score a person gets is the sum of the points of the items that apply to
them, a sum a judge can do by hand; a second table maps each total to the
observed (calibrated) rate. The fit follows RiskSLIM (Ustun & Rudin 2019,
"Learning optimized risk scores", JMLR 20) in spirit, without a MIP solver:

1. **Items.** Every column becomes candidate binary items: ``x = 1`` for a 0/1
   column, ``x >= t`` at a few (weighted) quantiles ``t`` for the others.
2. **Support.** An L1-penalised logistic path over the items; the least
   penalised model with at most ``max_items`` items gives the start support,
   refitted without the L1 penalty.
3. **Scale and round.** The refitted coefficients are scaled so the largest is
   ``1..max_points`` and rounded; the best of these integer vectors (by
   log-likelihood) is the start point. This alone is the usual "scale and
   round" heuristic.
4. **Integer local search.** Coordinate moves (one item's points by ±1, ±2,
   within ``[-max_points, max_points]``, adding an item while fewer than
   ``max_items`` are used) and swap moves (drop one item, add one of the ten
   unused items with the steepest gradient) are tried, all at once as columns
   of one matrix; the move that lowers the objective most is taken, until none
   does. The objective is the weighted mean logistic loss of
   ``a + s * total`` with the offset ``a`` and scale ``s`` refitted for every
   candidate (two-parameter Newton), plus ``l0_penalty`` per item used.
   Because ``s`` is free, only the *ratios* of points matter; the bound
   ``max_points`` sets how finely they can be expressed. Objectives that agree
   to 12 digits are ties, and a tie goes to the first move (lowest item index),
   so the card does not depend on rounding in the last digit.
5. **Signs.** An item with negative points is replaced by its complement
   (``x >= t`` with -2 becomes ``x < t`` with +2): the ranking is unchanged and
   every point on the card is positive.

The total is then calibrated (isotonic by default: the observed rate per total).
The total table lists only the totals some person can have: items on one column
go together (``age < 23`` implies ``age < 34``, so ``age < 29`` alone is no
total), and so do 0/1 columns declared in ``exclusive_groups`` (one-hot
categories of one source column, such as COMPAS's charge descriptions: at most
one is 1). See :func:`crimelens.risk._items.reachable_totals`.

Failure modes: the local search finds a local optimum, not RiskSLIM's certified
one; thresholds come from the training quantiles, so a population with a
different spread gets coarser items; and a score is no better than its label:
re-arrest is a record of police and court activity, not of offending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from crimelens.errors import InvalidParameterError
from crimelens.risk._base import RiskModel
from crimelens.risk._items import (
    Item,
    candidate_items,
    first_best,
    item_matrix,
    ranked,
    reachable_totals,
)

__all__ = ["PointScore"]


class PointScore(RiskModel):
    """Integer point score with at most ``max_items`` items of at most ``max_points`` points.

    Parameters
    ----------
    max_items : int
        Most items on the card (rows a judge adds up), 1..10 recommended.
    max_points : int
        Most points for one item (in absolute value before the sign flip).
    n_thresholds : int
        Candidate thresholds per numeric column (distinct weighted quantiles).
    l0_penalty : float
        Added to the mean log-loss per item used (RiskSLIM's ``C0``).
    max_iter : int
        Most local-search moves.
    calibration : {"isotonic", "platt", "none"}
        Map from point total to probability.
    feature_names : sequence of str, optional
        Column names when ``X`` is an array (a DataFrame's own names win).
    exclusive_groups : sequence of sequences of str, optional
        Groups of 0/1 feature columns of which at most one is 1 in any row: the one-hot
        categories of one source column (``CompasData.exclusive_groups``: the charge
        descriptions). The fit checks this on every training row. Only the total table uses it
        (a total that needs two columns of one group at 1 is not listed).
    random_state : int, optional
        Unused by the deterministic search; kept for the common interface.

    Attributes
    ----------
    items_ : list of Item
        The items on the card, in order.
    points_ : ndarray of int
        Points of each item (all > 0).
    start_points_ : ndarray of int
        The scale-and-round start (for comparison), over ``start_items_``.
    exclusive_columns_ : list of list of int
        ``exclusive_groups`` as column indices of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 6, size=(400, 3)).astype(float)
    >>> y = (X[:, 0] + rng.normal(size=400) > 3).astype(int)
    >>> m = PointScore(max_items=3, feature_names=["priors", "juv", "misd"]).fit(X, y)
    >>> len(m.items_) <= 3 and all(0 < p <= 10 for p in m.points_)
    True
    """

    def __init__(
        self,
        *,
        max_items: int = 8,
        max_points: int = 10,
        n_thresholds: int = 6,
        l0_penalty: float = 1e-4,
        max_iter: int = 200,
        calibration: Literal["isotonic", "platt", "none"] = "isotonic",
        feature_names: Sequence[str] | None = None,
        exclusive_groups: Sequence[Sequence[str]] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_points = max_points
        self.n_thresholds = n_thresholds
        self.l0_penalty = l0_penalty
        self.max_iter = max_iter
        self.calibration = calibration
        self.feature_names = feature_names
        self.exclusive_groups = exclusive_groups
        self.random_state = random_state

    def _check_columns(self, X: NDArray[np.float64], names: list[str]) -> None:
        """``exclusive_groups``: known 0/1 columns, each in one group, never two 1s in a row."""
        groups = [] if self.exclusive_groups is None else self.exclusive_groups
        where = "PointScore(exclusive_groups=...)"
        if isinstance(groups, str) or any(isinstance(g, str) for g in groups):
            raise InvalidParameterError(
                f"{where}: got {groups!r}; expected a list of groups, each a list of column names")
        index = {n: j for j, n in enumerate(names)}
        seen: dict[str, int] = {}
        self.exclusive_columns_: list[list[int]] = []
        for g, group in enumerate(groups):
            cols: list[int] = []
            for name in group:
                if name not in index:
                    raise InvalidParameterError(
                        f"{where}: got column {name!r} in group {g}; expected one of the feature "
                        f"columns {names[:20]}")
                if name in seen:
                    raise InvalidParameterError(
                        f"{where}: got column {name!r} in groups {seen[name]} and {g}; expected each "
                        "column in one group at most")
                seen[name] = g
                col = X[:, index[name]]
                bad = np.flatnonzero((col != 0.0) & (col != 1.0))
                if len(bad):
                    raise InvalidParameterError(
                        f"{where}: X row {int(bad[0])} (from 0), column {name!r}: got {float(col[bad[0]]):g}; expected "
                        "0 or 1 (an exclusive group holds one-hot indicator columns)")
                cols.append(index[name])
            if cols:
                many = np.flatnonzero(X[:, cols].sum(axis=1) > 1)
                if len(many):
                    r = int(many[0])
                    on = [names[c] for c in cols if X[r, c] == 1.0]
                    raise InvalidParameterError(
                        f"{where}: X row {r} (from 0): got 1 in columns {on} of group {g}; expected at most one "
                        "column of a group to be 1 in any row (one-hot categories of one column)")
            self.exclusive_columns_.append(cols)

    def _fit_raw(
        self, X: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
        names: list[str],
    ) -> None:
        for name in ("max_items", "max_points", "n_thresholds", "max_iter"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidParameterError(
                    f"PointScore({name}={v!r}): {name} must be an integer >= 1"
                )
        if not (self.l0_penalty >= 0):
            raise InvalidParameterError(
                f"PointScore(l0_penalty={self.l0_penalty!r}): l0_penalty must be >= 0"
            )
        items = candidate_items(X, names, n_thresholds=int(self.n_thresholds), w=w)
        Z = item_matrix(X, items)
        weight = w
        w = w / w.sum()
        start = _start_points(Z, y, w, weight, int(self.max_items), int(self.max_points))
        self.start_items_ = [items[j] for j in np.flatnonzero(start)]
        self.start_points_ = start[start != 0].astype(np.int64)
        search = _Search(Z, y, w, int(self.max_items), int(self.max_points), float(self.l0_penalty))
        points, self.n_moves_ = search.run(start, int(self.max_iter))
        self.n_iter_ = max(1, self.n_moves_)
        self.objective_ = search.objective(points)
        chosen = np.flatnonzero(points)
        final_items: list[Item] = []
        final_points: list[int] = []
        for j in chosen:
            it, p = items[j], int(points[j])
            if p < 0:
                it, p = it.flipped(), -p
            final_items.append(it)
            final_points.append(p)
        order = np.argsort([-p for p in final_points], kind="stable")
        self.items_ = [final_items[i] for i in order]
        self.points_ = np.asarray([final_points[i] for i in order], dtype=np.int64)
        totals = self._raw(X)
        vals, inv = np.unique(totals, return_inverse=True)
        self.train_totals_ = {float(v): float(c) for v, c in
                              zip(vals, np.bincount(inv, weights=weight), strict=True)}

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.items_:
            return np.zeros(X.shape[0])
        return np.asarray(item_matrix(X, self.items_) @ self.points_.astype(np.float64))

    # -- the card -----------------------------------------------------------------------
    def points_table(self) -> pd.DataFrame:
        """One row per item: what to check and how many points it adds."""
        self._require_fitted()
        return pd.DataFrame(
            {"item": [it.label for it in self.items_], "points": self.points_.tolist()}
        )

    def total_table(self) -> pd.DataFrame:
        """Every total some person can have, how many training rows had it, and its calibrated
        probability.

        Not every sum of item points: items on one column go together (``age < 23`` implies
        ``age < 34``), and so do the columns of one ``exclusive_groups`` group (at most one is
        1); see :func:`crimelens.risk._items.reachable_totals`. Every total seen in training is
        listed. A probability resting on a handful of rows (``n_train``) is not a finding."""
        self._require_fitted()
        exclusive = getattr(self, "exclusive_columns_", [])  # a model stored before it existed
        totals = reachable_totals(self.items_, self.points_, exclusive)
        prob = self.calibrator_.transform(totals.astype(np.float64))
        n = [self.train_totals_.get(float(t), 0.0) for t in totals]
        return pd.DataFrame({"total": totals, "n_train": n, "probability": prob})

    def to_text(self) -> str:
        """The card as plain text: items, points, and the total-to-probability table."""
        rows = self.points_table()
        width = max([len(s) for s in rows["item"]] + [10])
        lines = [f"{'item':<{width}}  points", "-" * (width + 8)]
        lines += [f"{it:<{width}}  {p:>6}" for it, p in zip(rows["item"], rows["points"], strict=True)]
        lines += ["-" * (width + 8), f"{'total':<{width}}  (add the points that apply)", "",
                  "Totals a person can have (items on one column go together, as do one-hot "
                  "columns of one group):", "total  probability  (training rows)"]
        lines += [f"{int(t):>5}  {p:>11.3f}  ({int(n)})"
                  for t, n, p in self.total_table().itertuples(index=False)]
        return "\n".join(lines)


def _fit_offset_scale(
    T: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
    a: NDArray[np.float64], s: NDArray[np.float64], iters: int = 12,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per column k of T: min over (a_k, s_k) of sum w * logloss(y, a_k + s_k T[:, k]).

    Vectorised two-parameter Newton with a tiny ridge; returns (loss, a, s)."""
    ridge = 1e-8
    a, s = a.copy(), s.copy()
    yc, wc = y[:, None], w[:, None]
    for _ in range(iters):
        eta = a + s * T
        p = expit(eta)
        r = wc * (p - yc)
        g0 = r.sum(0) + ridge * a
        g1 = (r * T).sum(0) + ridge * s
        h = wc * p * (1 - p)
        h00 = h.sum(0) + ridge
        hT = h * T
        h01 = hT.sum(0)
        h11 = (hT * T).sum(0) + ridge
        det = h00 * h11 - h01 * h01
        det = np.where(det > 1e-300, det, np.inf)
        da = (h11 * g0 - h01 * g1) / det
        ds = (h00 * g1 - h01 * g0) / det
        step = np.maximum(1.0, np.abs(da) + np.abs(ds) * (np.abs(T).max(0) + 1) / 4)
        a -= da / step
        s -= ds / step
        if float(np.max(np.abs(da) + np.abs(ds))) < 1e-9:
            break
    eta = a + s * T
    loss = (wc * (np.logaddexp(0.0, eta) - yc * eta)).sum(0)
    return loss, a, s


def _start_points(
    Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
    sw: NDArray[np.float64], max_items: int, max_points: int,
) -> NDArray[np.int64]:
    """Scale-and-round of the L1-selected, refitted logistic coefficients.

    ``w`` are the row weights normalised to sum 1, ``sw`` the weights as given (a distinct
    row's count when the rows were unweighted)."""
    m = Z.shape[1]
    start = np.zeros(m, dtype=np.int64)
    if m == 0:
        return start
    # liblinear minimises C * sum(sw * loss) + |beta|_1; the smallest C with a non-empty
    # support is scikit-learn's l1_min_c, taken here with the row weights (it has none)
    signed = sw * (2.0 * y - 1.0)
    den = max(float(np.max(np.abs(signed @ Z))), abs(float(signed.sum())))
    if den == 0.0:
        return start
    c0 = 2.0 / den
    support = np.zeros(0, dtype=np.int64)
    for c in c0 * np.logspace(0.05, 3, 16):
        lr = LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=500, tol=1e-6,
                                intercept_scaling=10.0, random_state=0)
        lr.fit(Z, y, sample_weight=sw)
        nz = np.flatnonzero(np.abs(lr.coef_[0]) > 1e-8)
        if len(nz) > max_items:
            break
        support = nz
    if len(support) == 0:
        return start
    ref = LogisticRegression(C=1e3, max_iter=1000)
    ref.fit(Z[:, support], y, sample_weight=sw)
    beta = ref.coef_[0]
    big = float(np.max(np.abs(beta)))
    if big == 0:
        return start
    candidates = np.array(
        [np.round(beta / big * k) for k in range(1, max_points + 1)], dtype=np.float64
    )
    T = Z[:, support] @ candidates.T
    k = T.shape[1]
    loss, _, _ = _fit_offset_scale(T, y, w, np.zeros(k), np.ones(k))
    best = candidates[first_best(loss)]
    start[support] = best.astype(np.int64)
    return start


class _Search:
    """Integer local search over the points vector (see the module docstring)."""

    def __init__(self, Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
                 max_items: int, max_points: int, l0: float) -> None:
        self.Z, self.y, self.w = Z, y, w
        self.max_items, self.max_points, self.l0 = max_items, max_points, l0
        self.a, self.s = 0.0, 1.0

    def objective(self, points: NDArray[np.int64]) -> float:
        t = self.Z @ points.astype(np.float64)
        loss, a, s = _fit_offset_scale(t[:, None], self.y, self.w, np.array([self.a]),
                                       np.array([self.s]), iters=30)
        self.a, self.s = float(a[0]), float(s[0])
        return float(loss[0]) + self.l0 * int(np.count_nonzero(points))

    def _evaluate(self, t: NDArray[np.float64], moves: list[tuple[int, int, int, int]],
                  ) -> NDArray[np.float64]:
        """moves: (j, new_j, k, new_k) with k = -1 for a single-coordinate move."""
        out = np.empty(len(moves))
        chunk = max(1, 2_000_000 // max(1, len(t)))
        for lo in range(0, len(moves), chunk):
            part = moves[lo: lo + chunk]
            T = np.repeat(t[:, None], len(part), axis=1)
            nnz_delta = np.zeros(len(part))
            for c, (j, dj, k, dk) in enumerate(part):
                if dj:
                    T[:, c] += dj * self.Z[:, j]
                if k >= 0 and dk:
                    T[:, c] += dk * self.Z[:, k]
                nnz_delta[c] = self._nnz_change(j, dj, k, dk)
            n = len(part)
            loss, _, _ = _fit_offset_scale(T, self.y, self.w, np.full(n, self.a),
                                           np.full(n, self.s), iters=8)
            out[lo: lo + n] = loss + self.l0 * (self._nnz + nnz_delta)
        return out

    def _nnz_change(self, j: int, dj: int, k: int, dk: int) -> float:
        ch = 0.0
        for idx, d in ((j, dj), (k, dk)):
            if idx < 0 or d == 0:
                continue
            before, after = self._p[idx] != 0, self._p[idx] + d != 0
            ch += float(after) - float(before)
        return ch

    def run(self, start: NDArray[np.int64], max_iter: int) -> tuple[NDArray[np.int64], int]:
        p = start.copy()
        m = len(p)
        if m == 0:
            return p, 0
        cur = self.objective(p)
        P = self.max_points
        n_moves = 0
        for _ in range(max_iter):
            self._p, self._nnz = p, int(np.count_nonzero(p))
            t = self.Z @ p.astype(np.float64)
            moves: list[tuple[int, int, int, int]] = []
            for j in range(m):
                for d in (-2, -1, 1, 2):
                    v = p[j] + d
                    if abs(v) > P or (p[j] == 0 and self._nnz >= self.max_items):
                        continue
                    moves.append((j, d, -1, 0))
            if moves:
                vals = self._evaluate(t, moves)
                b = first_best(vals)
                if vals[b] < cur - 1e-10 * max(1.0, abs(cur)):
                    j, d, _, _ = moves[b]
                    p[j] += d
                    cur = self.objective(p)
                    n_moves += 1
                    continue
            # swap: drop one item, add one of the unused items with the steepest gradient
            support = np.flatnonzero(p)
            unused = np.flatnonzero(p == 0)
            if len(support) == 0 or len(unused) == 0:
                break
            eta = self.a + self.s * t
            g = self.Z[:, unused].T @ (self.w * (expit(eta) - self.y)) * self.s
            top = unused[ranked(np.abs(g))[:10]]
            gt = dict(zip(unused.tolist(), g.tolist(), strict=True))
            swaps = []
            for j in support:
                for k in top:
                    sign = -1 if gt[int(k)] > 0 else 1
                    for v in (1, 2, 3):
                        if v <= P:
                            swaps.append((int(j), int(-p[j]), int(k), sign * v))
            vals = self._evaluate(t, swaps)
            b = first_best(vals)
            if vals[b] < cur - 1e-10 * max(1.0, abs(cur)):
                j, dj, k, dk = swaps[b]
                p[j] += dj
                p[k] += dk
                cur = self.objective(p)
                n_moves += 1
                continue
            break
        return p, n_moves
