"""Algorithmic impact assessment (AIA): a questionnaire, a score, an impact level, required controls.

Method
------
Scoring follows the Government of Canada's Algorithmic Impact Assessment tool
(Directive on Automated Decision-Making): risk questions add to a *raw impact
score*; mitigation questions add to a *mitigation score*. When the mitigation
score reaches 80 % of its maximum, the raw score is reduced by 15 %. The result
as a share of the maximum raw score sets the impact level: I up to 25 %, II up to
50 %, III up to 75 %, IV above. The questions here are our own, written for
place- and person-based policing tools; the scoring rule is Canada's.

Required controls grow with the level; at level III and IV a human makes the final
decision (every actionable output goes to the review queue) and the two-person
rule applies. A deployment cannot be approved while a required control is missing.

Failure modes: the answers are self-reported by the team that wants the tool; the
board should read them, and the ledger records who answered what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crimelens.errors import InputError
from crimelens.governance._policy import UsePolicy

__all__ = ["AIA_QUESTIONS", "AssessmentResult", "Question", "assess", "missing_controls", "required_controls"]


@dataclass(frozen=True, slots=True)
class Question:
    qid: str
    text: str
    kind: str  # "risk" or "mitigation"
    choices: Mapping[str, int]


AIA_QUESTIONS: tuple[Question, ...] = (
    Question("subject", "Do outputs concern identifiable people rather than places or times?", "risk",
             {"places": 0, "groups": 2, "individuals": 4}),
    Question("consequence", "The most serious consequence an output can contribute to", "risk",
             {"none": 0, "resource_allocation": 2, "investigation_or_stop": 3, "liberty": 4}),
    Question("reversibility", "Can the effect of a wrong output be undone?", "risk",
             {"easily": 0, "with_effort": 2, "not": 4}),
    Question("duration", "How long does the effect of an output last?", "risk",
             {"days": 1, "months": 2, "years": 3}),
    Question("vulnerable", "Are groups that have been over-policed or are otherwise vulnerable affected?", "risk",
             {"no": 0, "possibly": 2, "yes": 3}),
    Question("personal_data", "What personal data does the model use?", "risk",
             {"none": 0, "personal": 2, "sensitive": 4}),
    Question("enforcement_data", "Is the training data recorded by police activity (arrests, stops) rather than reports?", "risk",
             {"no": 0, "partly": 2, "yes": 3}),
    Question("automation", "How much of the decision is left to the system?", "risk",
             {"recommendation_reviewed": 1, "default_unless_overridden": 3, "automatic": 4}),
    Question("opacity", "Can the people affected be told why an output was produced?", "risk",
             {"interpretable": 0, "partly": 2, "no": 3}),
    Question("scale", "How many people are affected per year?", "risk",
             {"under_1k": 1, "under_100k": 2, "more": 3}),
    Question("novelty", "Is the technique new to this agency or contested in public?", "risk",
             {"no": 0, "yes": 2}),
    Question("consultation", "Was the public consulted before deployment (comment period held)?", "mitigation",
             {"no": 0, "yes": 2}),
    Question("bias_audit", "Are per-group metrics with intervals published on the model card?", "mitigation",
             {"no": 0, "yes": 2}),
    Question("human_review", "Does a named person review every actionable output before anyone acts?", "mitigation",
             {"no": 0, "yes": 3}),
    Question("recourse", "Can the public complain and get an answer, linked to the logged use?", "mitigation",
             {"no": 0, "yes": 2}),
    Question("data_quality", "Is there a datasheet covering recording bias and geocoding error?", "mitigation",
             {"no": 0, "yes": 2}),
    Question("logging", "Is every use logged in a verifiable ledger with published heads?", "mitigation",
             {"no": 0, "yes": 2}),
    Question("training", "Are the users trained on the tool's limits?", "mitigation",
             {"no": 0, "yes": 1}),
)
_BY_ID = {q.qid: q for q in AIA_QUESTIONS}
LEVELS = ("I", "II", "III", "IV")

_CONTROLS: Mapping[str, tuple[str, ...]] = {
    "I": ("public_notice",),
    "II": ("public_notice", "explanation", "peer_review"),
    "III": ("public_notice", "explanation", "peer_review", "human_review", "two_person_rule"),
    "IV": ("public_notice", "explanation", "peer_review", "human_review", "two_person_rule",
           "board_unanimity"),
}


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    """Scores and level of one completed questionnaire (computed at construction)."""

    answers: Mapping[str, str]
    raw_score: int = field(init=False)
    max_raw_score: int = field(init=False)
    mitigation_score: int = field(init=False)
    max_mitigation_score: int = field(init=False)
    mitigation_applied: bool = field(init=False)
    score: float = field(init=False)
    score_pct: float = field(init=False)
    level: str = field(init=False)

    def __post_init__(self) -> None:
        missing = [q.qid for q in AIA_QUESTIONS if q.qid not in self.answers]
        unknown = sorted(set(self.answers) - set(_BY_ID))
        if missing or unknown:
            raise InputError(
                f"impact assessment: got unanswered {missing} and unknown {unknown}; "
                f"expected an answer to each of {[q.qid for q in AIA_QUESTIONS]}"
            )
        raw = mit = max_raw = max_mit = 0
        for q in AIA_QUESTIONS:
            choice = self.answers[q.qid]
            if choice not in q.choices:
                raise InputError(
                    f"impact assessment question {q.qid!r}: got {choice!r}; expected one of {sorted(q.choices)}"
                )
            if q.kind == "risk":
                raw += q.choices[choice]
                max_raw += max(q.choices.values())
            else:
                mit += q.choices[choice]
                max_mit += max(q.choices.values())
        applied = mit >= 0.8 * max_mit
        score = raw * 0.85 if applied else float(raw)
        pct = 100.0 * score / max_raw
        level = "I" if pct <= 25 else "II" if pct <= 50 else "III" if pct <= 75 else "IV"
        for name, value in (("raw_score", raw), ("max_raw_score", max_raw), ("mitigation_score", mit),
                            ("max_mitigation_score", max_mit), ("mitigation_applied", applied),
                            ("score", score), ("score_pct", round(pct, 4)), ("level", level)):
            object.__setattr__(self, name, value)

    @property
    def required_controls(self) -> tuple[str, ...]:
        return required_controls(self.level)

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers), "raw_score": self.raw_score, "max_raw_score": self.max_raw_score,
            "mitigation_score": self.mitigation_score, "max_mitigation_score": self.max_mitigation_score,
            "mitigation_applied": self.mitigation_applied, "score": self.score, "score_pct": self.score_pct,
            "level": self.level, "required_controls": list(self.required_controls),
        }


def assess(answers: Mapping[str, str]) -> AssessmentResult:
    """Score a completed questionnaire.

    Examples
    --------
    >>> low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
    >>> assess(low).level
    'I'
    """
    return AssessmentResult(dict(answers))


def required_controls(level: str) -> tuple[str, ...]:
    if level not in _CONTROLS:
        raise InputError(f"impact level: got {level!r}; expected one of {LEVELS}")
    return _CONTROLS[level]


def missing_controls(level: str, policy: UsePolicy) -> list[str]:
    """Controls the level requires that the use policy does not provide (checked before approval)."""
    missing = []
    needed = required_controls(level)
    if "human_review" in needed and not policy.actionable_actions:
        missing.append("human_review (the policy marks no action as actionable, so nothing is reviewed)")
    if "two_person_rule" in needed and not policy.two_person_rule:
        missing.append("two_person_rule (the policy has two_person_rule = false)")
    return missing
