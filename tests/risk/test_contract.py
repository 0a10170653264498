"""The risk models pass scikit-learn's own estimator checks."""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from crimelens.risk import LogisticRisk, PointScore, RuleList


@parametrize_with_checks([PointScore(max_items=4, max_iter=30), RuleList(max_rules=3), LogisticRisk()])
def test_sklearn_contract(estimator: Any, check: Any) -> None:
    check(estimator)
