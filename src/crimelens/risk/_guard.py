"""Guardrails on what a person-level risk model may use as features.

Two refusals, both raised in ``fit`` before anything is learned:

* a **protected attribute** (race, ethnicity, sex, religion, ...) as a feature:
  :func:`crimelens.domain.check_not_protected` raises
  :class:`~crimelens.errors.ProtectedAttributeError`. Such columns may only be
  audit columns (``crimelens.audit``).
* a model whose features are **only demographic or profile attributes** (age,
  address, postcode, employment, education, family, ...): the EU AI Act,
  Art. 5(1)(d), prohibits assessing the risk that a natural person commits an
  offence "based solely on the profiling of a natural person or on assessing
  their personality traits and characteristics". A model needs at least one
  feature about conduct (e.g. prior recorded charges) to be fitted here. The
  list below is a name heuristic; it cannot see what a column *means*, so a
  renamed profile column slips through, and the decision stays with the
  oversight body that approves a deployment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crimelens.domain import check_not_protected
from crimelens.errors import InvalidParameterError

__all__ = ["PROFILE_ATTRIBUTES", "check_risk_features", "is_profile_attribute"]

#: Names (or name parts) of demographic / profile attributes (not conduct).
PROFILE_ATTRIBUTES: tuple[str, ...] = (
    "age",
    "age_cat",
    "dob",
    "birth",
    "zip",
    "zipcode",
    "postcode",
    "address",
    "neighbourhood",
    "neighborhood",
    "residence",
    "housing",
    "income",
    "employment",
    "employed",
    "unemployed",
    "occupation",
    "education",
    "school",
    "marital",
    "married",
    "family",
    "children",
    "language",
    "citizenship",
    "immigration",
    "personality",
    "temperament",
)

_PROFILE_RE = re.compile(
    r"(^|[_\W])(" + "|".join(PROFILE_ATTRIBUTES) + r")($|[_\W\d])", re.IGNORECASE
)


def is_profile_attribute(name: str) -> bool:
    """Whether a feature name denotes a demographic or profile attribute.

    Examples
    --------
    >>> is_profile_attribute("age"), is_profile_attribute("age<25"), is_profile_attribute("priors_count")
    (True, True, False)
    """
    return bool(_PROFILE_RE.search(name))


def check_risk_features(names: Sequence[str], *, where: str) -> None:
    """Refuse protected attributes, and feature sets made only of profile attributes.

    Raises
    ------
    ProtectedAttributeError
        A name is a protected attribute.
    InvalidParameterError
        Every name is a demographic/profile attribute (EU AI Act Art. 5(1)(d)).

    Examples
    --------
    >>> check_risk_features(["age", "priors_count"], where="PointScore features")
    >>> check_risk_features(["age", "zip"], where="PointScore features")
    Traceback (most recent call last):
    ...
    crimelens.errors.InvalidParameterError: PointScore features: got only demographic/profile attributes ['age', 'zip']; expected at least one feature about recorded conduct (e.g. prior charges). Scoring a person on profile features alone is prohibited (EU AI Act Art. 5(1)(d)).
    """
    check_not_protected(names, where=where)
    if names and all(is_profile_attribute(n) for n in names):
        raise InvalidParameterError(
            f"{where}: got only demographic/profile attributes {sorted(names)}; expected at least "
            "one feature about recorded conduct (e.g. prior charges). Scoring a person on profile "
            "features alone is prohibited (EU AI Act Art. 5(1)(d))."
        )
