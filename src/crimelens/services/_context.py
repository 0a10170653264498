"""The context every service receives: the store, the settings, the ledger."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crimelens.config import Settings
from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Actor, Ledger, LedgerEntry
from crimelens.storage import DuckDBStore

__all__ = ["RESEARCH", "Context", "open_context", "record_use", "refuse", "sha256_hex"]

#: The purpose recorded for local analysis when no other is given (see DESIGN.md).
RESEARCH = "research"
RESEARCH_MARK = "research — not for operational use"


@dataclass
class Context:
    store: DuckDBStore
    settings: Settings
    ledger: Ledger


@contextmanager
def open_context(settings: Settings) -> Iterator[Context]:
    """Open the store named by the settings (migrating it) and bind the ledger."""
    with DuckDBStore.open(settings.db) as store:
        yield Context(store=store, settings=settings, ledger=Ledger(store))


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def refuse(ctx: Context, *, action: str, actor: Actor, purpose: str | None, reason: str,
           error: Exception | None = None, **fields: Any) -> None:
    """Log a refused use, then raise (``error`` or an :class:`ApprovalRequiredError`)."""
    ctx.ledger.append(
        LedgerEntry(action=action, user=actor.user, role=str(actor.role), purpose=purpose or "",
                    outcome="refused", detail={"reason": reason, **fields.pop("detail", {})}, **fields)
    )
    raise error if error is not None else ApprovalRequiredError(f"{action}: refused: {reason}")


def record_use(ctx: Context, *, action: str, actor: Actor, purpose: str | None,
               detail: Mapping[str, Any] | None = None, **fields: Any) -> int:
    """Append the ledger entry for a completed use; a use without a purpose is refused (and logged)."""
    if not purpose or not purpose.strip():
        refuse(ctx, action=action, actor=actor, purpose=purpose,
               reason="no stated purpose; every use needs one (e.g. --purpose research)")
    return ctx.ledger.append(
        LedgerEntry(action=action, user=actor.user, role=str(actor.role), purpose=str(purpose),
                    detail=dict(detail or {}), **fields)
    )
