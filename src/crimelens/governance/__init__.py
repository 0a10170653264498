"""Governance: the usage ledger, users and roles, registry, deployments, human review."""

from crimelens.governance._actor import (
    PENDING_REVIEW_MARK,
    RESEARCH,
    RESEARCH_MARK,
    Actor,
    Role,
    review_mark,
)
from crimelens.governance._keys import SignedTreeHead
from crimelens.governance._ledger import (
    Ledger,
    LedgerEntry,
    LedgerReceipt,
    VerifyReport,
    canonical_json,
    leaf_hash,
)

__all__ = [
    "PENDING_REVIEW_MARK",
    "RESEARCH",
    "RESEARCH_MARK",
    "Actor",
    "Ledger",
    "LedgerEntry",
    "LedgerReceipt",
    "Role",
    "SignedTreeHead",
    "VerifyReport",
    "canonical_json",
    "leaf_hash",
    "review_mark",
]
