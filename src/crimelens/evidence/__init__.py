"""Evidence: content-addressed intake, chain of custody, and redaction for public release.

Model-side code only (no database, no CLI): hashing and the content folder,
custody replay and gap finding, PII detection and redaction of narratives, face
blurring of images and video, and the seeded generator of labelled narratives
used to measure the text redactor. The use cases that store and log these live
in :mod:`crimelens.services.evidence`.
"""

from crimelens.evidence._content import (
    ContentStore,
    ContentWriter,
    StoredContent,
    sha256_file,
    sniff_mime,
)
from crimelens.evidence._custody import (
    CUSTODY_KINDS,
    CustodyEvent,
    CustodyGap,
    CustodyState,
    find_custody_gaps,
    party_name,
    same_party,
)
from crimelens.evidence._faces import FaceRedactor, FrameLog, VideoRedaction
from crimelens.evidence._narratives import (
    HELD_OUT_FORMATS,
    PII_TYPES,
    LabelledEntity,
    LabelledNarrative,
    generate_narratives,
)
from crimelens.evidence._textpii import PiiSpan, RedactedText, TextRedactor, vin_is_valid
from crimelens.evidence._textscore import DetectionScores, TypeScore, score_detections

__all__ = [
    "CUSTODY_KINDS",
    "HELD_OUT_FORMATS",
    "PII_TYPES",
    "ContentStore",
    "ContentWriter",
    "CustodyEvent",
    "CustodyGap",
    "CustodyState",
    "DetectionScores",
    "FaceRedactor",
    "FrameLog",
    "LabelledEntity",
    "LabelledNarrative",
    "PiiSpan",
    "RedactedText",
    "StoredContent",
    "TextRedactor",
    "TypeScore",
    "VideoRedaction",
    "find_custody_gaps",
    "generate_narratives",
    "party_name",
    "same_party",
    "score_detections",
    "sha256_file",
    "sniff_mime",
    "vin_is_valid",
]
