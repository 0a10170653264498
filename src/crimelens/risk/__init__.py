"""Interpretable risk models: integer point scores, rule lists, logistic regression.

Each model takes ``X`` arrays (scikit-learn contract), refuses protected
attributes and profile-only feature sets, and is calibrated (isotonic or
Platt) with a reliability table. See ``docs/risk.md``.
"""

from crimelens.risk._calibration import Calibrator, ReliabilityTable
from crimelens.risk._compas import (
    COMPAS_COLUMNS,
    POST_OUTCOME_COLUMNS,
    SCREENING_DATE_COLUMNS,
    CensoredTail,
    CompasData,
    censored_tail,
    charge_description_columns,
    charge_vocabulary,
    compas_features,
    compas_score_column,
    filter_propublica,
    is_violent_file,
    load_compas,
    post_outcome_columns,
)
from crimelens.risk._guard import PROFILE_ATTRIBUTES, check_risk_features, is_profile_attribute
from crimelens.risk._items import Item
from crimelens.risk._logistic import LogisticRisk
from crimelens.risk._points import PointScore
from crimelens.risk._rules import RuleList

__all__ = [
    "COMPAS_COLUMNS",
    "POST_OUTCOME_COLUMNS",
    "PROFILE_ATTRIBUTES",
    "SCREENING_DATE_COLUMNS",
    "Calibrator",
    "CensoredTail",
    "CompasData",
    "Item",
    "LogisticRisk",
    "PointScore",
    "ReliabilityTable",
    "RuleList",
    "censored_tail",
    "charge_description_columns",
    "charge_vocabulary",
    "check_risk_features",
    "compas_features",
    "compas_score_column",
    "filter_propublica",
    "is_profile_attribute",
    "is_violent_file",
    "load_compas",
    "post_outcome_columns",
]
