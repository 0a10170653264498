"""Per-type recall and precision of PII detection against labelled spans.

Matching is redaction-oriented:

* a labelled span counts as **found** (recall) when detections of the same
  type cover every one of its non-space characters: a half-redacted phone
  number is a leak;
* a detection counts as **correct** (precision) when it overlaps a labelled
  span of the same type.

``exact`` (same type, same start and end) and ``overlap`` (touched by a
same-type detection: a partial redaction counts) recalls are reported beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

__all__ = ["DetectionScores", "TypeScore", "score_detections"]


class _Span(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def type(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TypeScore:
    """Counts and rates for one PII type."""

    type: str
    n_gold: int
    n_pred: int
    n_found: int
    n_correct: int
    n_exact: int
    n_overlap: int = 0

    @property
    def recall(self) -> float:
        return self.n_found / self.n_gold if self.n_gold else float("nan")

    @property
    def precision(self) -> float:
        return self.n_correct / self.n_pred if self.n_pred else float("nan")

    @property
    def overlap_recall(self) -> float:
        """Labelled spans touched by a same-type detection (partial redaction counts)."""
        return self.n_overlap / self.n_gold if self.n_gold else float("nan")

    @property
    def exact_recall(self) -> float:
        return self.n_exact / self.n_gold if self.n_gold else float("nan")

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if x != x else round(x, 4)  # NaN (nothing to score) -> null

        return {"type": self.type, "n_gold": self.n_gold, "n_pred": self.n_pred,
                "recall": num(self.recall), "precision": num(self.precision),
                "exact_recall": num(self.exact_recall), "overlap_recall": num(self.overlap_recall)}


@dataclass(frozen=True)
class DetectionScores:
    """Scores per type, computed once at construction (read-only)."""

    per_type: MappingProxyType[str, TypeScore]
    missed: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (doc, type, text)
    spurious: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {t: s.to_json() for t, s in self.per_type.items()}


def _covered(start: int, end: int, text: str, preds: Sequence[_Span]) -> bool:
    need = {i for i in range(start, end) if not text[i].isspace()}
    for p in preds:
        need.difference_update(range(p.start, p.end))
        if not need:
            return True
    return not need


def score_detections(
    texts: Sequence[str],
    gold: Sequence[Sequence[_Span]],
    pred: Sequence[Sequence[_Span]],
    *,
    types: Iterable[str],
    doc_ids: Sequence[str] | None = None,
) -> DetectionScores:
    """Score ``pred`` against ``gold`` document by document.

    Examples
    --------
    >>> from crimelens.evidence._textpii import PiiSpan
    >>> g = [[PiiSpan(0, 4, "PERSON", "gold", 1.0)]]
    >>> p = [[PiiSpan(0, 4, "PERSON", "x", 1.0), PiiSpan(5, 8, "PERSON", "x", 1.0)]]
    >>> s = score_detections(["Anna Bo"], g, p, types=["PERSON"]).per_type["PERSON"]
    >>> s.recall, s.precision
    (1.0, 0.5)
    """
    wanted = list(types)
    counts = {t: [0, 0, 0, 0, 0, 0] for t in wanted}
    missed: list[tuple[str, str, str]] = []
    spurious: list[tuple[str, str, str]] = []
    ids = list(doc_ids) if doc_ids is not None else [str(i) for i in range(len(texts))]
    for doc, text, g_doc, p_doc in zip(ids, texts, gold, pred, strict=True):
        for t in wanted:
            g = [s for s in g_doc if s.type == t]
            p = [s for s in p_doc if s.type == t]
            c = counts[t]
            c[0] += len(g)
            c[1] += len(p)
            exact = {(s.start, s.end) for s in p}
            for s in g:
                if _covered(s.start, s.end, text, p):
                    c[2] += 1
                else:
                    missed.append((doc, t, text[s.start:s.end]))
                c[4] += (s.start, s.end) in exact
                c[5] += any(s.start < q.end and q.start < s.end for q in p)
            for s in p:
                if any(s.start < q.end and q.start < s.end for q in g):
                    c[3] += 1
                else:
                    spurious.append((doc, t, text[s.start:s.end]))
    per_type = {t: TypeScore(t, *counts[t]) for t in wanted}
    return DetectionScores(MappingProxyType(per_type), tuple(missed), tuple(spurious))
