"""The shared scikit-learn contract of the risk models.

Every model maps ``X`` to a *raw* score (a point total, a rule-list leaf rate,
a linear predictor), then a fitted :class:`Calibrator` maps the raw score to a
probability. ``decision_function`` returns the log-odds of that calibrated
probability, so ``predict`` (probability > 0.5), ``predict_proba`` and
``decision_function`` always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from crimelens.errors import InvalidParameterError, NotFittedError
from crimelens.risk._calibration import Calibrator, ReliabilityTable
from crimelens.risk._guard import check_risk_features

__all__ = ["RiskModel"]

_EPS = 1e-12


def _collapse(
    X: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Identical rows (same features, same label) merged into one carrying their summed weight.

    Rows of zero weight are dropped and the rest come back in lexicographic order, so a fit
    sees the same arrays, bit for bit, whether a row is repeated k times or given weight k,
    and whatever the row order. The models' searches take discrete steps (an item in or out,
    a threshold, a rule); on a near-tie, sums taken over differently ordered rows can differ
    in the last bit and tip the step, which is how scikit-learn's weight-equivalence check
    came to fail on one machine and pass on another. Fitting on distinct rows also costs less:
    COMPAS's 6,172 rows are 4,089 distinct ones.
    """
    keep = w > 0
    rows, inv = np.unique(np.column_stack([X[keep], y[keep]]), axis=0, return_inverse=True)
    wc = np.bincount(np.ravel(inv), weights=w[keep], minlength=len(rows))
    return (np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, -1]),
            np.asarray(wc, dtype=np.float64))


class RiskModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Base for the interpretable risk models (binary label only).

    Subclasses implement ``_fit_raw(X, y, w, names)`` and ``_raw(X)``.
    """

    calibration: Literal["isotonic", "platt", "none"]
    feature_names: Sequence[str] | None
    _raw_is_probability: bool = False

    # -- sklearn plumbing -------------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _feature_names(self, n_features: int) -> list[str]:
        given = getattr(self, "feature_names_in_", None)
        if given is not None:
            return [str(n) for n in given]
        if self.feature_names is not None:
            names = [str(n) for n in self.feature_names]
            if len(names) != n_features:
                raise InvalidParameterError(
                    f"{type(self).__name__}(feature_names=...): got {len(names)} names for "
                    f"{n_features} columns of X; expected one name per column"
                )
            return names
        return [f"x{i}" for i in range(n_features)]

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit the raw score, then the calibration map, on ``(X, y)``."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) != 2:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: got {len(classes)} class(es) {classes.tolist()!r} in y; "
                "expected a binary label with exactly 2 classes. Only binary classification is "
                "supported."
            )
        if self.calibration not in ("isotonic", "platt", "none"):
            raise InvalidParameterError(
                f"{type(self).__name__}(calibration={self.calibration!r}): expected 'isotonic', "
                "'platt' or 'none'"
            )
        names = self._feature_names(X.shape[1])
        check_risk_features(names, where=f"{type(self).__name__} features")
        self._check_columns(X, names)
        w = np.asarray(_check_sample_weight(sample_weight, X, dtype=np.float64))
        if np.any(w < 0) or not np.any(w > 0):
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: sample_weight must be >= 0 with a positive sum"
            )
        self.classes_ = classes
        self.feature_names_ = names
        Xc, yc, wc = _collapse(X, y_enc.astype(np.float64), w)
        if len(np.unique(yc)) != 2:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit: sample_weight is zero for every row of class "
                f"{classes[1 - int(yc[0])]!r}; expected positive weight on both classes"
            )
        self._fit_raw(Xc, yc, wc, names)
        self.calibrator_ = Calibrator(self.calibration, logit_input=self._raw_is_probability).fit(
            self._raw(Xc), yc, wc)
        return self

    def _check_columns(self, X: NDArray[np.float64], names: list[str]) -> None:
        """Checks of ``X`` as given (rows in their order, before identical rows are merged)."""

    def _fit_raw(
        self, X: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
        names: list[str],
    ) -> None:
        """Fit on distinct rows: ``w`` is each row's total weight (its count when unweighted),
        rows come in lexicographic order, and no weight is zero (see :func:`_collapse`)."""
        raise NotImplementedError

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def _require_fitted(self) -> None:
        try:
            check_is_fitted(self)
        except Exception as exc:  # sklearn's NotFittedError -> ours (a subclass of it)
            raise NotFittedError(
                f"{type(self).__name__}: got an unfitted model; expected fit(X, y) first"
            ) from exc

    def _check(self, X: Any) -> NDArray[np.float64]:
        self._require_fitted()
        return np.asarray(validate_data(self, X, dtype=np.float64, reset=False))

    # -- outputs ------------------------------------------------------------------------
    def raw_score(self, X: Any) -> NDArray[np.float64]:
        """The model's own score before calibration (e.g. the point total)."""
        return self._raw(self._check(X))

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Calibrated probabilities, columns ordered as ``classes_``."""
        raw = self.raw_score(X)
        p = self.calibrator_.transform(raw)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Log-odds of the calibrated probability (> 0 exactly when ``predict`` says class 1)."""
        p = np.clip(self.predict_proba(X)[:, 1], _EPS, 1 - _EPS)
        return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)

    def predict(self, X: Any) -> NDArray[Any]:
        """``classes_[1]`` where the calibrated probability is above 0.5."""
        hit = self.predict_proba(X)[:, 1] > 0.5
        return np.asarray(self.classes_[hit.astype(int)])

    def reliability_table(
        self, X: Any, y: Any, *, n_bins: int = 10,
        strategy: Literal["quantile", "uniform", "unique"] = "quantile",
    ) -> ReliabilityTable:
        """Observed rate of ``classes_[1]`` against the calibrated probability, by bin."""
        yy = (np.asarray(y) == self.classes_[1]).astype(np.float64)
        return ReliabilityTable.of(self.predict_proba(X)[:, 1], yy, n_bins=n_bins, strategy=strategy)
