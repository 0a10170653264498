"""The pairwise classifier keeps the scikit-learn contract and explains its log-odds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from crimelens.linkage import PairClassifier

_ESTIMATORS = [PairClassifier(), PairClassifier(model="additive", calibration="isotonic"),
               PairClassifier(model="boosting", calibration="sigmoid", random_state=0)]


def _expected_failures(est: PairClassifier) -> dict[str, str]:
    if est.model == "boosting":  # row subsampling: weights are not the same as repeated rows
        return {"check_sample_weight_equivalence_on_dense_data":
                "bagged trees: sample_weight is not equivalent to repeating rows"}
    return {}


@parametrize_with_checks(_ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator: PairClassifier, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def _data(seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 4))
    z = 2.0 * X[:, 0] - 1.5 * X[:, 1] + 0.5 * X[:, 0] * X[:, 2] - 3.0
    y = (rng.random(2000) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


@pytest.mark.parametrize("est", [PairClassifier(), PairClassifier(model="additive"),
                                 PairClassifier(model="boosting", calibration="sigmoid", random_state=1)])
def test_contributions_add_up_to_the_log_odds(est: PairClassifier) -> None:
    X, y = _data()
    m = est.fit(X, y)
    c, base = m.contributions(X[:50])
    np.testing.assert_allclose(c.sum(axis=1) + base, m.decision_function(X[:50]), atol=1e-6)
    assert np.argmax(np.abs(c).mean(axis=0)) == 0  # the strongest true effect drives most


def test_calibrated_probabilities_match_frequencies() -> None:
    X, y = _data(1)
    m = PairClassifier(model="boosting", calibration="sigmoid", random_state=0).fit(X, y)
    Xt, yt = _data(2)
    p = m.predict_proba(Xt)[:, 1]
    assert abs(p.mean() - yt.mean()) < 0.03
    hi = p > 0.5
    assert abs(yt[hi].mean() - p[hi].mean()) < 0.1
