"""Fairness audits of risk scores: group metrics with intervals, trade-offs of mitigations.

See ``docs/risk.md``. Other audits (exposure of place-based forecasts, the
feedback-loop simulator) live beside this one.
"""

from crimelens.audit._audit import LABEL_LIMITS, AuditReport, audit_scores
from crimelens.audit._metrics import RATE_METRICS, chouldechova_fpr

__all__ = ["LABEL_LIMITS", "RATE_METRICS", "AuditReport", "audit_scores", "chouldechova_fpr"]
