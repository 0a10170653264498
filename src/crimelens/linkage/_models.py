"""The learned pairwise model: pair features in, a calibrated link probability out.

Two model families, both behind one scikit-learn classifier:

* ``model="logistic"``: standardised features and an L2 logistic regression —
  the cheap first pass over every candidate pair (Porter 2016 uses logistic
  and naive-Bayes linkage; it is fast, monotone and readable);
* ``model="boosting"``: LightGBM gradient-boosted trees — the shortlist model,
  which can learn interactions (a shared rare M.O. matters more close by) the
  way Patternizr's random forests do (Chohlas-Wood & Levine 2019).

Calibration (``calibration="sigmoid"`` or ``"isotonic"``) maps the model's
log-odds to a link probability with a map fitted on *out-of-fold* scores
(``calibration_folds`` folds), so it is not fitted on the very scores it corrects. Training on
a sample of negatives is fine when the caller passes ``sample_weight`` equal to
the inverse sampling rate: probabilities then refer to the full candidate set.

:meth:`PairClassifier.contributions` splits one pair's log-odds into a part per
feature: ``coef × standardised value`` for the logistic model, TreeSHAP values
(LightGBM ``pred_contrib``) for the boosting one; under Platt calibration both
are scaled by the Platt slope so they add up to the calibrated log-odds.

Failure modes: positives are rare (a few per thousand candidates), so
probabilities far below 1 % rest on few examples; an isotonic map is a step
function and ties many pairs; analyst-labelled series are a biased sample of
all series (the solved ones), which the probabilities inherit.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from crimelens.errors import InvalidParameterError
from crimelens.linkage._forest import Forest

__all__ = ["PairClassifier"]


class _AdditiveBasis:
    """Standardised features followed by a cubic B-spline basis per feature (quantile knots)."""

    def __init__(self, n_knots: int) -> None:
        self.n_knots = n_knots

    def fit(self, X: NDArray[np.float64], sample_weight: NDArray[np.float64] | None = None) -> _AdditiveBasis:
        from sklearn.preprocessing import SplineTransformer

        self.scaler = StandardScaler().fit(X, sample_weight=sample_weight)
        Z = self.scaler.transform(X)
        self.splines: list[Any] = []
        starts = [0]
        for k in range(X.shape[1]):
            col = Z[:, k : k + 1]
            if len(np.unique(col)) < 3:
                self.splines.append(None)
                starts.append(starts[-1] + 1)
                continue
            sp = SplineTransformer(n_knots=self.n_knots, degree=3, knots="quantile",
                                   extrapolation="linear", include_bias=False)
            sp.fit(col, sample_weight=sample_weight)
            if len(np.unique(sp.bsplines_[0].t)) < 2:
                self.splines.append(None)
                starts.append(starts[-1] + 1)
                continue
            self.splines.append(sp)
            starts.append(starts[-1] + sp.n_features_out_)
        self.starts_ = np.asarray(starts[:-1], dtype=np.intp)
        return self

    def transform(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = self.scaler.transform(X)
        parts = [Z[:, k : k + 1] if sp is None else sp.transform(Z[:, k : k + 1])
                 for k, sp in enumerate(self.splines)]
        return np.asarray(np.hstack(parts), dtype=np.float64)


#: Below this many rows a LightGBM prediction runs on one thread: OpenMP's start-up and spin-waiting
#: cost more CPU than the rows (a similar-incidents query scores tens to thousands of pairs, and a
#: server answers many such queries at once).
_ONE_THREAD_ROWS = 20_000


#: The same for per-feature contributions (TreeSHAP), which cost about 0.5 ms a row: a similar
#: query's ten explanations stay on one thread, a series description's thousands use them all.
_ONE_THREAD_CONTRIBUTIONS = 64


def _threads_for(n_rows: int, one_thread_below: int = _ONE_THREAD_ROWS) -> dict[str, int]:
    return {"num_threads": 1} if n_rows < one_thread_below else {}


class PairClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Calibrated link probability from pair features (``X``: one row per pair).

    Parameters
    ----------
    model : {"logistic", "additive", "boosting"}
        L2 logistic regression on standardised features; the same on a cubic
        spline basis per feature (an additive logistic model, which lets each
        feature's effect bend as Porter's naive-Bayes likelihood ratios do); or
        LightGBM trees.
    n_knots : int
        Knots per feature of the additive model's spline basis.
    C : float
        Inverse L2 strength of the logistic model.
    n_estimators, learning_rate, num_leaves, min_child_samples : int, float, int, int
        LightGBM settings of the boosting model.
    calibration : {"none", "sigmoid", "isotonic"}
        Out-of-fold calibration of the binary probability.
    calibration_folds : int
        Folds for the out-of-fold calibration scores.
    random_state : int or None
        Seed (LightGBM bagging, fold shuffling).

    Attributes
    ----------
    oof_decision_ : ndarray of shape (n_samples,) or None
        The training rows' calibrated log-odds from the models fitted without their fold (the
        scores the calibration map was fitted on, through that map), like a forest's
        ``oob_decision_function_``; ``None`` without calibration or with more than two classes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3)); y = (X[:, 0] + 0.3 * rng.normal(size=400) > 1).astype(int)
    >>> m = PairClassifier(calibration="sigmoid", random_state=0).fit(X, y)
    >>> round(float(m.score(X, y)), 2) >= 0.9
    True
    >>> c, base = m.contributions(X[:2]); c.shape
    (2, 3)
    """

    def __init__(self, *, model: Literal["logistic", "additive", "boosting"] = "logistic", C: float = 1.0,
                 n_knots: int = 5,
                 n_estimators: int = 200, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 10, calibration: Literal["none", "sigmoid", "isotonic"] = "none",
                 calibration_folds: int = 3, random_state: int | None = None) -> None:
        self.model = model
        self.C = C
        self.n_knots = n_knots
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    # construction -------------------------------------------------------------------
    def _validate_params_here(self) -> None:
        if self.model not in ("logistic", "additive", "boosting"):
            raise InvalidParameterError(
                f"PairClassifier(model={self.model!r}): expected 'logistic', 'additive' or 'boosting'")
        if self.n_knots < 2:
            raise InvalidParameterError(f"PairClassifier(n_knots={self.n_knots}): expected >= 2")
        if self.calibration not in ("none", "sigmoid", "isotonic"):
            raise InvalidParameterError(
                f"PairClassifier(calibration={self.calibration!r}): expected 'none', 'sigmoid' or 'isotonic'")
        if not self.C > 0:
            raise InvalidParameterError(f"PairClassifier(C={self.C}): C must be > 0")
        if self.calibration_folds < 2:
            raise InvalidParameterError(f"PairClassifier(calibration_folds={self.calibration_folds}): expected >= 2 folds")
        if self.n_estimators < 1 or self.num_leaves < 2 or self.min_child_samples < 1:
            raise InvalidParameterError(
                f"PairClassifier(n_estimators={self.n_estimators}, num_leaves={self.num_leaves}, "
                f"min_child_samples={self.min_child_samples}): expected >= 1, >= 2, >= 1")
        if not self.learning_rate > 0:
            raise InvalidParameterError(f"PairClassifier(learning_rate={self.learning_rate}): must be > 0")

    def _base(self) -> Any:
        if self.model in ("logistic", "additive"):
            return LogisticRegression(C=self.C, max_iter=2000)
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                              num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.9,
                              random_state=self.random_state, n_jobs=1, verbose=-1)

    def _fit_base(self, X: NDArray[np.float64], y: NDArray[Any],
                  w: NDArray[np.float64]) -> tuple[Any, Any]:
        if self.model == "logistic":
            scaler: Any = StandardScaler().fit(X, sample_weight=w)
            est = self._base().fit(scaler.transform(X), y, sample_weight=w)
            return scaler, est
        if self.model == "additive":
            scaler = _AdditiveBasis(self.n_knots).fit(X, sample_weight=w)
            est = self._base().fit(scaler.transform(X), y, sample_weight=w)
            return scaler, est
        est = self._base().fit(X, y, sample_weight=w)
        return None, est

    @staticmethod
    def _raw(scaler: Any, est: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Binary log-odds of the positive class."""
        if scaler is not None:
            return np.asarray(est.decision_function(scaler.transform(X)), dtype=np.float64)
        # the booster itself: the scikit-learn wrapper's checks cost ~1-2 ms a call, which is
        # most of a similar-incidents query's shortlist scoring (X was validated by the caller)
        return np.asarray(est.booster_.predict(X, raw_score=True, **_threads_for(len(X))), dtype=np.float64)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit the model (and its calibration map) to pair features ``X`` and link labels ``y``."""
        self._validate_params_here()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InvalidParameterError(
                f"PairClassifier.fit: got one class {self.classes_.tolist()}; expected linked "
                "and unlinked pairs (both classes)")
        self.scaler_, self.estimator_ = self._fit_base(X, y_idx, w)
        self.forest_ = Forest.of(self.estimator_.booster_) if self.scaler_ is None else None
        self.calibrator_: Any = None
        self.oof_decision_: NDArray[np.float64] | None = None
        binary = len(self.classes_) == 2
        if binary and self.calibration != "none":
            n_min = int(np.bincount(y_idx).min())
            folds = min(self.calibration_folds, n_min)
            oof = np.zeros(len(y_idx), dtype=np.float64)
            if folds >= 2:
                skf = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
                for tr, te in skf.split(X, y_idx):
                    sc, est = self._fit_base(X[tr], y_idx[tr], w[tr])
                    oof[te] = self._raw(sc, est, X[te])
            else:
                oof = self._raw(self.scaler_, self.estimator_, X)
            if self.calibration == "sigmoid":
                platt = LogisticRegression(C=1e6, max_iter=1000)
                platt.fit(oof.reshape(-1, 1), y_idx, sample_weight=w)
                self.calibrator_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
                self.oof_decision_ = self.calibrator_[0] * oof + self.calibrator_[1]
            else:
                iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                iso.fit(oof, y_idx.astype(np.float64), sample_weight=w)
                self.calibrator_ = iso
                q = np.clip(iso.predict(oof), 1e-9, 1 - 1e-9)
                self.oof_decision_ = np.log(q / (1 - q))
        return self

    # prediction ---------------------------------------------------------------------
    def _log_odds(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The fitted model's binary log-odds: the compiled trees where they apply (same values)."""
        if self.scaler_ is None:
            if "forest_" not in self.__dict__:  # a model stored before the compiled trees existed
                self.forest_ = Forest.of(self.estimator_.booster_)
            if self.forest_ is not None:
                raw = self.forest_.raw_score(X)
                if raw is not None:
                    return raw
        return self._raw(self.scaler_, self.estimator_, X)

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Calibrated log-odds (binary) or per-class scores (multiclass)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.classes_) > 2:
            if self.scaler_ is not None:
                return np.asarray(self.estimator_.decision_function(self.scaler_.transform(X)), dtype=np.float64)
            return np.asarray(self.estimator_.predict(X, raw_score=True), dtype=np.float64)
        raw = self._log_odds(X)
        if isinstance(self.calibrator_, tuple):
            a, b = self.calibrator_
            return np.asarray(a * raw + b, dtype=np.float64)
        if self.calibrator_ is not None:
            p = np.clip(self.calibrator_.predict(raw), 1e-9, 1 - 1e-9)
            return np.asarray(np.log(p / (1 - p)), dtype=np.float64)
        return raw

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Class probabilities; column 1 is the link probability."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.classes_) > 2:
            if self.scaler_ is not None:
                return np.asarray(self.estimator_.predict_proba(self.scaler_.transform(X)), dtype=np.float64)
            return np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        if self.calibrator_ is not None and not isinstance(self.calibrator_, tuple):
            p = np.clip(self.calibrator_.predict(self._log_odds(X)), 0.0, 1.0)
        else:
            z = self.decision_function(X)
            p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> NDArray[Any]:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])

    def contributions(self, X: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-feature parts of each row's log-odds and the base value: ``(C (n, f), base (n,))``.

        ``C.sum(1) + base`` is the uncalibrated log-odds, scaled by the Platt
        slope (and shifted by its intercept) when ``calibration="sigmoid"``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.classes_) != 2:
            raise InvalidParameterError("PairClassifier.contributions: defined for binary link models only")
        if isinstance(self.scaler_, _AdditiveBasis):
            z = self.scaler_.transform(X) * self.estimator_.coef_[0]
            contrib = np.add.reduceat(z, self.scaler_.starts_, axis=1)
            base = np.full(len(X), float(self.estimator_.intercept_[0]))
        elif self.scaler_ is not None:
            z = self.scaler_.transform(X)
            contrib = z * self.estimator_.coef_[0]
            base = np.full(len(X), float(self.estimator_.intercept_[0]))
        else:
            full = np.asarray(self.estimator_.booster_.predict(
                X, pred_contrib=True, **_threads_for(len(X), _ONE_THREAD_CONTRIBUTIONS)), dtype=np.float64)
            contrib, base = full[:, :-1], full[:, -1]
        if isinstance(self.calibrator_, tuple):
            a, b = self.calibrator_
            contrib = contrib * a
            base = base * a + b
        return np.asarray(contrib, dtype=np.float64), np.asarray(base, dtype=np.float64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def clone_unfitted(self) -> PairClassifier:
        return clone(self)  # type: ignore[no-any-return]
