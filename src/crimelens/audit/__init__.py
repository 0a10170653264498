"""Fairness audits of risk scores: group metrics with intervals, trade-offs of mitigations.

See ``docs/risk.md``. Other audits (exposure of place-based forecasts, the
feedback-loop simulator) live beside this one.
"""

from crimelens.audit._audit import LABEL_LIMITS, AuditReport, audit_scores
from crimelens.audit._html import render_html
from crimelens.audit._metrics import RATE_METRICS, chouldechova_fpr
from crimelens.audit._mitigate import (
    ConstrainedMixture,
    Mitigation,
    compare_decisions,
    exponentiated_gradient,
    group_thresholds,
    reweighing_weights,
)

__all__ = [
    "LABEL_LIMITS",
    "RATE_METRICS",
    "AuditReport",
    "ConstrainedMixture",
    "Mitigation",
    "audit_scores",
    "chouldechova_fpr",
    "compare_decisions",
    "exponentiated_gradient",
    "group_thresholds",
    "render_html",
    "reweighing_weights",
]
