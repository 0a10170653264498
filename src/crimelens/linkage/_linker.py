"""The two-stage pairwise linker: blocking, a cheap model on every candidate, boosting on the shortlist.

``PairwiseLinker.fit(incidents, labels)`` learns from known series — solved
cases or analyst-confirmed patterns, one label set per incident (an offender id
or a ``series_id``; co-offending incidents carry several). A candidate pair is
*linked* when the two label sets share a member. With ``unlabelled="negative"``
(the default) every other candidate pair is a negative, in two strata sampled
and weighted separately: pairs with a labelled incident (clean: a known series
is labelled as a whole) and pairs of two unlabelled incidents (mostly
background, which is what most candidates look like; a few are pairs of
unsolved series — a positive-unlabelled bias that makes probabilities
conservative). ``"exclude"`` keeps only pairs of two labelled incidents, the
usual choice for a benchmark of solved cases only.
Negatives are sampled: pairs with a labelled incident down to ``max_negatives``
(weighted back by the inverse sampling rate), pairs of two unlabelled incidents
down to ``background_negatives`` (unweighted in the fits, so the model sees
background look-alikes without unsolved series dominating them).

**What the probability means.** The final link probability is the stages'
log-odds through one map, ``expit(a * z + b)`` (``calibration_``, a weighted Platt
fit with ``a > 0``, so every ranking is kept), fitted on the training block's
candidate pairs: every sampled pair weighted by the inverse of its chance of
being drawn, with ``calibration_pairs`` more pairs of two unlabelled incidents
that the models never saw, and the shortlist model's scores taken out of fold.
Among the training period's candidate pairs (same family, within ``radius_m``
and ``window_days``), those reported at ``p`` are linked *by the labels* in a
share of about ``p``. Before this map, the unweighted background sample (0.44 %
of the pairs on the synthetic city of seed 3) made the models' probabilities
refer to a population with some 230 times fewer unlinked pairs: there,
held-out pairs reported at 0.9–0.99 were linked in 34 %. Limits (measured in
``docs/linkage.md``): series no label records count as unlinked in training,
so where the labels record a share ``c`` of the series links, links of any
series are understated by up to ``1 / c``; the share of linked pairs moves
between periods; pairs outside the block have no probability (the models
extrapolate there); the probability ignores the labels, so a pair with an
incident already known to be in a series is far likelier linked than it says.

Stage one, a logistic :class:`PairClassifier` on the cheap features, scores
every candidate. Pairs at or above ``shortlist_threshold_`` — the cheap score
that keeps ``shortlist_recall`` of the training links — go to stage two, a
LightGBM :class:`PairClassifier` on all features including narrative
similarity, calibrated out-of-fold (Platt by default). The final link
probability is the shortlist model's where a pair reached it and the cheap
model's (already below the threshold) elsewhere; the shortlist model's trees are
walked in compiled code (:mod:`crimelens.linkage._forest`: LightGBM's own log-odds,
about twice as fast). This is the Patternizr design
(Chohlas-Wood & Levine 2019) with Porter's (2016) cheap pairwise model as the
first pass.

Failure modes: series that span more than ``window_days`` between consecutive
members or move further than ``radius_m`` are never candidates (widen the
block, at quadratic cost); a linker trained on one city's or offense's series
transfers poorly; few labelled series make the shortlist model fall back to the
cheap one (``shortlist_model_`` is then ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError, NotFittedError
from crimelens.linkage._blocking import BlockingIndex
from crimelens.linkage._features import EncodedIncidents, PairFeaturizer
from crimelens.linkage._models import PairClassifier

__all__ = ["Explanation", "PairScores", "PairwiseLinker", "StageProgress", "normalise_labels", "pair_labels"]

LabelSets = list[frozenset[str]]

#: ``progress(stage, done, total)``: a long step's name and how far it is, in its own units
#: (candidate pairs for a pass over the block, incidents for per-incident work).
StageProgress = Callable[[str, int, int], None]


def normalise_labels(labels: Sequence[Any] | Iterable[Any]) -> LabelSets:
    """One frozenset of label strings per incident (empty: unlabelled).

    Accepts ``None``/NaN, one label, or an iterable of labels per incident; a
    string containing ``;`` is split.

    Examples
    --------
    >>> [sorted(s) for s in normalise_labels([None, "s1", ["o1", "o2"], "a;b", float("nan"), 12])]
    [[], ['s1'], ['o1', 'o2'], ['a', 'b'], [], ['12']]
    """
    out: LabelSets = []
    none: frozenset[str] = frozenset()
    for v in labels:
        if v is None or (isinstance(v, float) and v != v):  # None or NaN
            out.append(none)
        elif isinstance(v, str):
            out.append(frozenset(s.strip() for s in v.split(";") if s.strip()))
        elif isinstance(v, Iterable):
            out.append(frozenset(str(s) for s in v if s is not None and str(s) != ""))
        else:
            out.append(frozenset([str(v)]))
    return out


#: Up to this share of labelled incidents, the training pairs are counted from the labelled
#: incidents' block-mates rather than by a pass over every candidate pair.
_MATES_SHARE = 0.1


class _LabelIndex:
    """Fast "do these two incidents share a label" over index arrays."""

    def __init__(self, labels: LabelSets) -> None:
        self.labels = labels
        vocab: dict[str, int] = {}
        first = np.full(len(labels), -1, dtype=np.int64)
        multi = np.zeros(len(labels), dtype=bool)
        for k, s in enumerate(labels):
            if s:
                first[k] = vocab.setdefault(min(s), len(vocab))
                multi[k] = len(s) > 1
        self.first = first
        self.multi = multi
        self.labelled = first >= 0

    def linked(self, i: NDArray[np.int64], j: NDArray[np.int64],
               both: NDArray[np.bool_] | None = None) -> NDArray[np.bool_]:
        """Whether each pair shares a label. ``both``: whether both ends are labelled, if the
        caller has it. Only such pairs are compared: in a city few are (solved series label few
        incidents), and comparing every pair's labels took 9 s of a million-incident training."""
        both = self.labelled[i] & self.labelled[j] if both is None else both
        at = np.flatnonzero(both)
        y = np.zeros(len(i), dtype=bool)
        if len(at):
            a, b = i[at], j[at]
            hit = self.first[a] == self.first[b]
            hard = np.flatnonzero((self.multi[a] | self.multi[b]) & ~hit)
            for r in hard:
                hit[r] = bool(self.labels[int(a[r])] & self.labels[int(b[r])])
            y[at] = hit
        return y


def pair_labels(labels: Sequence[Any], i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each pair shares a series label.

    Examples
    --------
    >>> pair_labels(["a", "a;b", "b", None], np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3])).tolist()
    [True, False, True, False]
    """
    return _LabelIndex(normalise_labels(labels)).linked(np.asarray(i, np.int64), np.asarray(j, np.int64))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a pair scored what it did: per-feature parts of the log-odds, largest first."""

    probability: float
    stage: str  # "shortlist" or "cheap"
    base: float
    contributions: tuple[tuple[str, float, float], ...]  # (feature, value, contribution)

    def top(self, k: int = 5) -> list[dict[str, float | str]]:
        return [{"feature": f, "value": v, "contribution": c} for f, v, c in self.contributions[:k]]


@dataclass(frozen=True, slots=True)
class PairScores:
    """Scored candidate pairs (indices into the encoded incidents)."""

    i: NDArray[np.int64]
    j: NDArray[np.int64]
    cheap: NDArray[np.float64]
    probability: NDArray[np.float64]
    n_candidates: int

    def __len__(self) -> int:
        return len(self.i)


class PairwiseLinker(BaseEstimator):  # type: ignore[misc]
    """Blocking + cheap logistic model + boosted shortlist model, trained on known series.

    Parameters
    ----------
    radius_m, window_days : float or None
        The block: candidates are at most this far apart in space and time
        (gap between windows). ``None`` means unbounded (small data only).
    families : dict or None
        Offense -> blocking family (default :data:`DEFAULT_FAMILIES`).
    mo_columns, numeric_columns, narrative, protected_descriptors
        Passed to :class:`PairFeaturizer`.
    unlabelled : {"negative", "exclude"}
        How pairs with an unlabelled incident are used in training.
    max_negatives : int
        Negatives kept (sampled, weighted) for training.
    shortlist_recall : float
        Share of training links the cheap stage must pass to the shortlist.
    cheap_model : {"logistic", "additive"}
        The first-pass model: logistic on the features, or on a spline basis of each.
    C : float
        Inverse L2 strength of the cheap model.
    n_estimators, learning_rate, num_leaves, min_child_samples
        LightGBM settings of the shortlist model.
    calibration : {"sigmoid", "isotonic", "none"}
        Calibration of the shortlist model.
    background_negatives : int
        Pairs of two unlabelled incidents sampled as (unweighted) negatives, so the
        model sees background look-alikes (templated narratives, common M.O.); 0
        leaves them out. More raises precision and lowers recall of series.
    calibration_pairs : int
        Further pairs of two unlabelled incidents sampled for the final calibration map
        only (never fitted on), so that the background pairs that score like links are
        counted from many draws; 0 calibrates on the training sample alone.
    shortlist : bool
        Whether to train the boosted shortlist model (else the cheap model is final).
    chunk_pairs : int
        Pairs per chunk when enumerating (bounds memory).
    random_state : int or None
        Seed for negative sampling and the boosting model.
    """

    def __init__(self, *, radius_m: float | None = 1000.0, window_days: float | None = 30.0,
                 families: Mapping[str, str] | None = None, mo_columns: Sequence[str] | None = None,
                 numeric_columns: Sequence[str] | None = None, narrative: bool = True,
                 protected_descriptors: tuple[str, ...] = (),
                 unlabelled: Literal["negative", "exclude"] = "negative",
                 max_negatives: int = 200_000, shortlist_recall: float = 0.98,
                 cheap_model: Literal["logistic", "additive"] = "logistic", C: float = 1.0,
                 n_estimators: int = 300, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 20,
                 calibration: Literal["none", "sigmoid", "isotonic"] = "sigmoid",
                 background_negatives: int = 20_000, calibration_pairs: int = 500_000, shortlist: bool = True,
                 chunk_pairs: int = 1_000_000, random_state: int | None = 0) -> None:
        self.radius_m = radius_m
        self.window_days = window_days
        self.families = families
        self.mo_columns = mo_columns
        self.numeric_columns = numeric_columns
        self.narrative = narrative
        self.protected_descriptors = protected_descriptors
        self.unlabelled = unlabelled
        self.max_negatives = max_negatives
        self.shortlist_recall = shortlist_recall
        self.cheap_model = cheap_model
        self.C = C
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.background_negatives = background_negatives
        self.calibration_pairs = calibration_pairs
        self.shortlist = shortlist
        self.chunk_pairs = chunk_pairs
        self.random_state = random_state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a linker stored before a parameter existed reads it as its default (such a
        linker has no ``calibration_`` either, and scores with its stages' probabilities)."""
        import inspect

        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.kind is param.KEYWORD_ONLY and name not in state:
                state[name] = param.default
        super().__setstate__(state)

    # checks -------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.radius_m is not None and not self.radius_m > 0:
            raise InvalidParameterError(f"PairwiseLinker(radius_m={self.radius_m}): must be > 0 metres or None")
        if self.window_days is not None and not self.window_days >= 0:
            raise InvalidParameterError(f"PairwiseLinker(window_days={self.window_days}): must be >= 0 days or None")
        if self.unlabelled not in ("negative", "exclude"):
            raise InvalidParameterError(
                f"PairwiseLinker(unlabelled={self.unlabelled!r}): expected 'negative' or 'exclude'")
        if not 0 < self.shortlist_recall <= 1:
            raise InvalidParameterError(
                f"PairwiseLinker(shortlist_recall={self.shortlist_recall}): expected a share in (0, 1]")
        if self.background_negatives < 0:
            raise InvalidParameterError(
                f"PairwiseLinker(background_negatives={self.background_negatives}): expected >= 0")
        if self.calibration_pairs < 0:
            raise InvalidParameterError(
                f"PairwiseLinker(calibration_pairs={self.calibration_pairs}): expected >= 0")
        if self.max_negatives < 10:
            raise InvalidParameterError(f"PairwiseLinker(max_negatives={self.max_negatives}): expected >= 10")
        if self.chunk_pairs < 1:
            raise InvalidParameterError(f"PairwiseLinker(chunk_pairs={self.chunk_pairs}): expected >= 1")

    def _check_fitted(self) -> None:
        if not hasattr(self, "cheap_model_"):
            raise NotFittedError("PairwiseLinker is not fitted yet; call fit(incidents, labels) first")

    # blocking -----------------------------------------------------------------------
    def index(self, enc: EncodedIncidents, progress: Callable[[int, int], None] | None = None) -> BlockingIndex:
        """The blocking index of encoded incidents; ``progress(counted, n)`` follows its pair count."""
        return BlockingIndex.build(enc.family, enc.x, enc.y, enc.t_from, enc.t_to,
                                   radius_m=self.radius_m, window_days=self.window_days, progress=progress)

    def candidates_of(self, enc: EncodedIncidents, q: int) -> NDArray[np.int64]:
        """Indices of the block-mates of incident ``q`` (same family, radius, window)."""
        keep = enc.family == enc.family[q]
        if self.window_days is not None:
            gap = np.maximum(0.0, np.maximum(enc.t_from - enc.t_to[q], enc.t_from[q] - enc.t_to))
            keep &= gap <= self.window_days
        if self.radius_m is not None:
            keep &= (enc.x - enc.x[q]) ** 2 + (enc.y - enc.y[q]) ** 2 <= self.radius_m**2
        keep[q] = False
        return np.nonzero(keep)[0].astype(np.int64)

    def in_block(self, enc: EncodedIncidents, i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each pair is a candidate pair: same family, windows at most ``window_days``
        apart, points at most ``radius_m`` apart (what :meth:`candidates_of` and the block index
        test). Only such pairs have a link probability; the models extrapolate beyond them."""
        i = np.asarray(i, np.int64)
        j = np.asarray(j, np.int64)
        keep = (enc.family[i] == enc.family[j]) & (i != j)
        if self.window_days is not None:
            gap = np.maximum(0.0, np.maximum(enc.t_from[j] - enc.t_to[i], enc.t_from[i] - enc.t_to[j]))
            keep &= gap <= self.window_days
        if self.radius_m is not None:
            keep &= (enc.x[i] - enc.x[j]) ** 2 + (enc.y[i] - enc.y[j]) ** 2 <= self.radius_m**2
        return np.asarray(keep, dtype=bool)

    # fitting ------------------------------------------------------------------------
    def _count_strata(self, index: BlockingIndex, lab: _LabelIndex, exclude: bool,
                      say: StageProgress) -> NDArray[np.int64]:
        """Candidate pairs with a labelled incident (``exclude``: with two) and between two
        unlabelled ones.

        Solved series label a few incidents of a city (93 of the million-incident store's
        541,645 training incidents), so the pairs that touch one are counted from those
        incidents' block-mates, and the rest by difference, without a pass over the 1.15
        billion candidate pairs (10 s). When more than ``_MATES_SHARE`` of the incidents are
        labelled, a pass over the pairs is the cheaper way.
        """
        total = int(index.n_pairs)
        labelled = np.flatnonzero(lab.labelled)
        n_strata = np.zeros(2, dtype=np.int64)
        say("counting pairs", 0, total)
        if len(labelled) <= _MATES_SHARE * len(lab.labelled):
            degree = both = 0
            for q in labelled.tolist():
                mates = index.mates(q)
                degree += len(mates)
                both += int(lab.labelled[mates].sum())
            both //= 2  # each pair of two labelled incidents was seen from both ends
            n_strata[0] = both if exclude else degree - both
            n_strata[1] = 0 if exclude else total - n_strata[0]
            say("counting pairs", total, total)
            return n_strata
        done = 0
        for i, j in index.iter_pairs(self.chunk_pairs):
            done += len(i)
            say("counting pairs", done, total)
            li, lj = lab.labelled[i], lab.labelled[j]
            if exclude:
                n_strata[0] += int((li & lj).sum())
            else:
                touching = int((li | lj).sum())
                n_strata[0] += touching
                n_strata[1] += len(i) - touching
        return n_strata

    def fit(self, incidents: IncidentTable, labels: Sequence[Any], *,
            progress: StageProgress | None = None) -> Self:
        """Learn from ``incidents`` and one label (set) per incident (``None``: unlabelled).

        ``progress(stage, done, total)`` follows the features (``"preparing features"``: the
        M.O. vocabularies, the narratives' TF-IDF and SVD, the encoding, the block index; 0 to 5
        of 5), the training strata (``"counting pairs"``: 0 then all of them when few incidents
        are labelled, else a pass over the pairs), the pass that samples them (``"sampling
        pairs"``) and the fits (``"fitting"``: the sampled pairs' features, the cheap model, the
        shortlist model; 0 to 3 of 3).
        """
        say: StageProgress = progress if progress is not None else (lambda _s, _k, _n: None)
        self._check_params()
        sets = normalise_labels(labels)
        if len(sets) != len(incidents):
            raise InvalidParameterError(
                f"PairwiseLinker.fit: got {len(sets)} labels for {len(incidents)} incidents; expected one each")
        lab = _LabelIndex(sets)
        if lab.labelled.sum() < 2:
            raise InvalidParameterError(
                f"PairwiseLinker.fit: got {int(lab.labelled.sum())} labelled incidents; expected at least 2 "
                "(a series_id or offender id on incidents of known series)")
        # five steps: the M.O. vocabularies, the narratives' TF-IDF and SVD; the encoding; the block index
        say("preparing features", 0, 5)
        self.featurizer_ = PairFeaturizer(
            mo_columns=self.mo_columns, numeric_columns=self.numeric_columns, narrative=self.narrative,
            protected_descriptors=tuple(self.protected_descriptors), families=self.families).fit(
                incidents, progress=lambda k, _n: say("preparing features", k, 5))
        enc = self.featurizer_.encode(incidents)
        say("preparing features", 4, 5)
        index = self.index(enc)
        say("preparing features", 5, 5)
        rng = np.random.default_rng(self.random_state)
        # Two strata of pairs: with a labelled incident (clean negatives) and, unless
        # unlabelled="exclude", between two unlabelled ones (mostly background; a few are
        # pairs of unsolved series, the price of seeing what most candidates look like).
        # Each stratum's negatives are sampled to max_negatives and weighted back.
        exclude = self.unlabelled == "exclude"
        total = int(index.n_pairs)
        n_strata = self._count_strata(index, lab, exclude, say)
        rates = np.minimum(1.0, np.array([self.max_negatives, self.background_negatives])
                           / np.maximum(n_strata, 1))
        # pairs of two unlabelled incidents drawn for the calibration only (disjoint from the fit's
        # sample, so the models never saw them): the few background pairs that score like links
        # decide the top of the probability scale, and 0.4 % of a city's pairs hold a handful
        cal_rate = 0.0 if exclude else min(1.0 - float(rates[1]), self.calibration_pairs / max(int(n_strata[1]), 1))
        cal_i: list[NDArray[np.int64]] = []
        cal_j: list[NDArray[np.int64]] = []
        keep_i: list[NDArray[np.int64]] = []
        keep_j: list[NDArray[np.int64]] = []
        keep_y: list[NDArray[np.bool_]] = []
        keep_w: list[NDArray[np.float64]] = []
        keep_s: list[NDArray[np.int64]] = []
        n_pos = n_neg = 0
        done = 0
        say("sampling pairs", 0, total)
        for i, j in index.iter_pairs(self.chunk_pairs):
            done += len(i)
            say("sampling pairs", done, total)
            li, lj = lab.labelled[i], lab.labelled[j]
            both = li & lj
            if exclude:  # only pairs of two labelled incidents, all in stratum 0
                i, j = i[both], j[both]
                stratum = np.zeros(len(i), np.int64)
                y = lab.linked(i, j, np.ones(len(i), bool))
            else:  # stratum 0: a labelled incident; 1: two unlabelled ones
                stratum = (~(li | lj)).astype(np.int64)
                y = lab.linked(i, j, both)
            n_pos += int(y.sum())
            n_neg += int((~y).sum())
            u = rng.random(len(y))
            take = y | (u < rates[stratum])
            if cal_rate > 0:
                cal = (stratum == 1) & ~take & (u < rates[1] + cal_rate)
                cal_i.append(i[cal])
                cal_j.append(j[cal])
            keep_i.append(i[take])
            keep_j.append(j[take])
            keep_y.append(y[take])
            keep_s.append(stratum[take])
            # labelled stratum: weighted back to its size (calibration); unlabelled stratum:
            # unweighted, so the few unsolved-series pairs in it stay a small minority
            back = np.where(stratum[take] == 0, 1.0 / rates[0], 1.0)
            keep_w.append(np.where(y[take], 1.0, back))
        rate = float(rates[0])
        i_all = np.concatenate(keep_i) if keep_i else np.zeros(0, np.int64)
        j_all = np.concatenate(keep_j) if keep_j else np.zeros(0, np.int64)
        y_all = np.concatenate(keep_y) if keep_y else np.zeros(0, bool)
        if n_pos < 2 or (~y_all).sum() < 2:
            raise InvalidParameterError(
                f"PairwiseLinker.fit: the block (radius_m={self.radius_m}, window_days={self.window_days}) "
                f"holds {n_pos} linked and {int((~y_all).sum())} unlinked training pairs; expected at least 2 of "
                "each. Widen the block or label more series")
        w = np.concatenate(keep_w) if keep_w else np.zeros(0)
        say("fitting", 0, 3)  # three steps: the sampled pairs' features, the cheap model, the shortlist model
        X = self.featurizer_.transform(enc, i_all, j_all)
        say("fitting", 1, 3)
        n_cheap = len(self.featurizer_.cheap_feature_names_)
        self.cheap_model_ = PairClassifier(model=self.cheap_model, C=self.C, calibration="none",
                                           random_state=self.random_state)
        self.cheap_model_.fit(X[:, :n_cheap], y_all.astype(np.int64), sample_weight=w)
        self.linear_: tuple[NDArray[np.float64], float] | None = None
        if self.cheap_model == "logistic":
            sc, lr = self.cheap_model_.scaler_, self.cheap_model_.estimator_
            w_eff = lr.coef_[0] / sc.scale_
            self.linear_ = (np.asarray(w_eff, np.float64), float(lr.intercept_[0] - np.sum(w_eff * sc.mean_)))
        say("fitting", 2, 3)
        cheap_p = self.cheap_model_.predict_proba(X[:, :n_cheap])[:, 1]
        pos_scores = np.sort(cheap_p[y_all])
        cut = int(np.floor((1.0 - self.shortlist_recall) * len(pos_scores)))
        self.shortlist_threshold_ = float(pos_scores[min(cut, len(pos_scores) - 1)])
        short = self._shortlisted(cheap_p)
        n_sp = int(y_all[short].sum())
        n_sn = int((~y_all[short]).sum())
        self.shortlist_model_: PairClassifier | None = None
        if self.shortlist and n_sp >= 10 and n_sn >= 10:
            self.shortlist_model_ = PairClassifier(
                model="boosting", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                calibration=self.calibration, random_state=self.random_state)
            self.shortlist_model_.fit(X[short], y_all[short].astype(np.int64), sample_weight=w[short])
        # The final map: each sampled pair stands for 1 / (its chance of being drawn) candidate pairs, so
        # the weighted samples are the training block's candidate pairs, and the stages' log-odds (the
        # shortlist's out of fold) are mapped to the share linked among candidates that score alike. A
        # pair of two unlabelled incidents was drawn with chance rates[1] + cal_rate (into the fit's
        # sample or the calibration's), a pair with a labelled one with rates[0], a linked pair always.
        s_all = np.concatenate(keep_s) if keep_s else np.zeros(0, np.int64)
        inclusion = np.array([rates[0], rates[1] + cal_rate])
        z = self.cheap_model_.decision_function(X[:, :n_cheap])
        if self.shortlist_model_ is not None:
            oof = self.shortlist_model_.oof_decision_
            z[short] = oof if oof is not None else self.shortlist_model_.decision_function(X[short])
        ci = np.concatenate(cal_i) if cal_i else np.zeros(0, np.int64)
        cj = np.concatenate(cal_j) if cal_j else np.zeros(0, np.int64)
        z_cal = np.concatenate([z, self._log_odds(enc, ci, cj)[1]])
        y_cal = np.concatenate([y_all, np.zeros(len(ci), bool)])
        w_cal = np.concatenate([np.where(y_all, 1.0, 1.0 / inclusion[s_all]),
                                np.full(len(ci), 1.0 / inclusion[1])])
        self.calibration_ = _weighted_platt(z_cal, y_cal, w_cal)
        a, b = self.calibration_
        p_cal = _expit(a * z_cal + b)
        self.training_ = {
            "n_incidents": len(incidents),
            "n_labelled": int(lab.labelled.sum()),
            "n_candidate_pairs": int(index.n_pairs),
            "n_linked_pairs": n_pos,
            "n_unlinked_pairs": n_neg,
            "negative_sampling_rate": rate,
            "unlabelled_pair_sampling_rate": float(rates[1]),
            "n_calibration_pairs": len(ci),
            "n_shortlist_linked": n_sp,
            "n_shortlist_unlinked": n_sn,
            "calibration_slope": a,
            "calibration_intercept": b,
            # the pairs the probability refers to, the share of them linked, and the mean calibrated
            # probability over them (the weighted sample); the last two agree when the map fits
            "calibration_population": ("candidate pairs of two labelled incidents" if exclude
                                       else "candidate pairs"),
            "n_population_pairs": int(n_strata.sum()),
            "candidate_link_share": n_pos / max(int(n_strata.sum()), 1),
            "mean_calibrated_probability": float(np.sum(w_cal * p_cal) / np.sum(w_cal)),
        }
        self.feature_names_ = list(self.featurizer_.feature_names_)
        self.cheap_feature_names_ = list(self.featurizer_.cheap_feature_names_)
        say("fitting", 3, 3)
        return self

    # scoring ------------------------------------------------------------------------
    def encode(self, incidents: IncidentTable) -> EncodedIncidents:
        self._check_fitted()
        return self.featurizer_.encode(incidents)

    def _shortlisted(self, cheap: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Pairs whose cheap score reaches the shortlist threshold.

        The threshold is a training link's own score, and a pair's features differ in the last
        bits with its orientation (``(a, b)`` or ``(b, a)``), so the comparison allows a relative
        1e-9: a pair scores the same whichever way round it is enumerated.
        """
        return np.asarray(cheap >= self.shortlist_threshold_ * (1.0 - 1e-9), dtype=bool)

    def cheap_proba(self, enc: EncodedIncidents, i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.float64]:
        """First-pass score of the pairs (fused kernel for the logistic model): the cheap model's
        probability on the training sample, which decides the shortlist; not the link probability
        (the background pairs are sampled in that sample and not weighted back)."""
        return _expit(self._cheap_log_odds(enc, i, j))

    def _cheap_log_odds(self, enc: EncodedIncidents, i: NDArray[np.int64],
                        j: NDArray[np.int64]) -> NDArray[np.float64]:
        self._check_fitted()
        if self.linear_ is not None:
            w, b = self.linear_
            return self.featurizer_.linear_logit(enc, i, j, w, b)
        X = self.featurizer_.transform(enc, i, j, cheap=True)
        return np.asarray(self.cheap_model_.decision_function(X), dtype=np.float64)

    def _final_map(self) -> tuple[float, float]:
        """Slope and intercept from a stage's log-odds to the link probability's; a linker stored
        before the map existed keeps its stages' probabilities (identity)."""
        return getattr(self, "calibration_", (1.0, 0.0))

    def score(self, enc: EncodedIncidents, i: NDArray[np.int64],
              j: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(cheap, final)``: the first-pass score and the link probability of the pairs.

        The link probability is calibrated on the training block's candidate pairs (every
        sampled pair weighted by the inverse of its sampling rate): among candidate pairs that
        score ``p``, about a share ``p`` were linked by the training labels.
        """
        self._check_fitted()
        i = np.asarray(i, np.int64)
        j = np.asarray(j, np.int64)
        cheap, z = self._log_odds(enc, i, j)
        a, b = self._final_map()
        return cheap, _expit(a * z + b)

    def _log_odds(self, enc: EncodedIncidents, i: NDArray[np.int64],
                  j: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The first-pass score and the log-odds of the stage that scores each pair (before the
        final map)."""
        z = self._cheap_log_odds(enc, i, j)
        cheap = _expit(z)
        if self.shortlist_model_ is not None:
            s = np.nonzero(self._shortlisted(cheap))[0]
            for k in range(0, len(s), self.chunk_pairs):
                part = s[k:k + self.chunk_pairs]
                Xs = self.featurizer_.transform(enc, i[part], j[part])
                z[part] = self.shortlist_model_.decision_function(Xs)
        return cheap, z

    def iter_scores(self, enc: EncodedIncidents, *, min_probability: float = 0.0,
                    cheap_only: bool = False, progress: Callable[[int, int], None] | None = None,
                    index_progress: Callable[[int, int], None] | None = None) -> Iterator[PairScores]:
        """Score every candidate pair chunk by chunk; yield those at or above ``min_probability``.
        ``progress(scored, total)`` is told the candidate pairs scored after each chunk;
        ``index_progress(counted, n)`` follows the count of the pairs before (the incidents counted)."""
        self._check_fitted()
        index = self.index(enc, progress=index_progress)
        # score in the index's sorted order: block-mates are neighbours in memory there
        ordered = enc.take(index.order)
        total, done = index.n_pairs, 0
        for a, b in index.iter_sorted_pairs(self.chunk_pairs):
            if cheap_only:
                c = self.cheap_proba(ordered, a, b)
                p = c
            else:
                c, p = self.score(ordered, a, b)
            keep = np.nonzero(p >= min_probability)[0]
            i = index.order[a[keep]]
            j = index.order[b[keep]]
            done += len(a)
            if progress is not None:
                progress(done, total)
            yield PairScores(np.minimum(i, j), np.maximum(i, j), c[keep], p[keep], len(a))

    def score_all(self, enc: EncodedIncidents, *, min_probability: float = 0.0,
                  cheap_only: bool = False, progress: Callable[[int, int], None] | None = None,
                  index_progress: Callable[[int, int], None] | None = None) -> PairScores:
        """All candidate pairs at or above ``min_probability`` in one result (``progress`` and
        ``index_progress`` as for :meth:`iter_scores`)."""
        parts = list(self.iter_scores(enc, min_probability=min_probability, cheap_only=cheap_only,
                                      progress=progress, index_progress=index_progress))
        if not parts:
            z = np.zeros(0)
            return PairScores(z.astype(np.int64), z.astype(np.int64), z, z, 0)
        return PairScores(np.concatenate([p.i for p in parts]), np.concatenate([p.j for p in parts]),
                          np.concatenate([p.cheap for p in parts]),
                          np.concatenate([p.probability for p in parts]),
                          sum(p.n_candidates for p in parts))

    def explain(self, enc: EncodedIncidents, i: NDArray[np.int64], j: NDArray[np.int64]) -> list[Explanation]:
        """Per-feature contributions for each pair, from the stage that gave its final probability."""
        self._check_fitted()
        i = np.asarray(i, np.int64)
        j = np.asarray(j, np.int64)
        cheap, final = self.score(enc, i, j)
        out: list[Explanation | None] = [None] * len(i)
        a, b = self._final_map()  # the stages' log-odds parts, scaled as the link probability's log-odds
        Xc = self.featurizer_.transform(enc, i, j, cheap=True)
        cc, cb = self.cheap_model_.contributions(Xc)
        cc, cb = cc * a, cb * a + b
        short = np.zeros(len(i), dtype=bool)
        if self.shortlist_model_ is not None:
            short = self._shortlisted(cheap)
        if short.any():
            assert self.shortlist_model_ is not None
            s = np.nonzero(short)[0]
            Xs = self.featurizer_.transform(enc, i[s], j[s])
            sc, sb = self.shortlist_model_.contributions(Xs)
            sc, sb = sc * a, sb * a + b
            for k, r in enumerate(s):
                out[r] = _explanation(float(final[r]), "shortlist", float(sb[k]), self.feature_names_, Xs[k], sc[k])
        for r in np.nonzero(~short)[0]:
            out[r] = _explanation(float(final[r]), "cheap", float(cb[r]), self.cheap_feature_names_, Xc[r], cc[r])
        return [e for e in out if e is not None]

    def similar(self, enc: EncodedIncidents, q: int, *, k: int = 10,
                candidates: NDArray[np.int64] | None = None) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``k`` block-mates of incident ``q`` with the highest link probability (indices, p)."""
        self._check_fitted()
        cand = self.candidates_of(enc, q) if candidates is None else np.asarray(candidates, np.int64)
        cand = cand[cand != q]
        if len(cand) == 0:
            return cand, np.zeros(0)
        qi = np.full(len(cand), q, dtype=np.int64)
        _, p = self.score(enc, qi, cand)
        order = np.lexsort((cand, -p))[:k]
        return cand[order], p[order]


def _expit(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function, without overflow warnings for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.asarray(np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)


def _weighted_platt(z: NDArray[np.float64], y: NDArray[np.bool_], w: NDArray[np.float64],
                    max_iter: int = 100) -> tuple[float, float]:
    """``(a, b)`` maximising the weighted log-likelihood of ``y`` under ``expit(a * z + b)``.

    Newton's method with step halving on the two parameters (weights here span 1 to the
    inverse of a sampling rate, 10^2–10^5, which an iterative solver's tolerance handles
    poorly); the slope is kept positive, so the map preserves every ranking.

    Examples
    --------
    >>> z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]); y = np.array([0, 0, 1, 0, 1, 1], bool)
    >>> a, b = _weighted_platt(z, y, np.ones(6)); round(a, 4), round(b, 4)  # scikit-learn's, unpenalised
    (1.214, -0.607)
    >>> a, b = _weighted_platt(z, y, np.where(y, 1.0, 10.0)); round(a, 4), round(b, 4)  # each negative 10 times
    (1.6952, -3.3911)
    """
    z = np.asarray(z, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sw = float(w.sum())
    prior = float(np.clip(np.sum(w * t) / sw, 1e-12, 1 - 1e-12))
    theta = np.array([1.0, float(np.log(prior / (1 - prior)) - np.average(z, weights=w))])

    def loss(th: NDArray[np.float64]) -> float:
        u = th[0] * z + th[1]
        return float(np.sum(w * (np.logaddexp(0.0, u) - t * u)) / sw)

    cur = loss(theta)
    for _ in range(max_iter):
        p = _expit(theta[0] * z + theta[1])
        r = w * (p - t) / sw
        g = np.array([np.sum(r * z), np.sum(r)])
        h = w * p * (1 - p) / sw
        H = np.array([[np.sum(h * z * z), np.sum(h * z)], [np.sum(h * z), np.sum(h)]]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(H, g)
        k = 1.0
        while k > 1e-8:
            cand = theta - k * step
            new = loss(cand)
            if new <= cur and cand[0] > 0:
                break
            k /= 2
        else:
            break
        done = cur - new < 1e-14
        theta, cur = cand, new
        if done:
            break
    return float(theta[0]), float(theta[1])


def _explanation(p: float, stage: str, base: float, names: list[str], x: NDArray[np.float64],
                 c: NDArray[np.float64]) -> Explanation:
    order = np.argsort(-np.abs(c), kind="stable")
    return Explanation(p, stage, base, tuple((names[k], float(x[k]), float(c[k])) for k in order))
