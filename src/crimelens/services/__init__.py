"""Services: one function per use case; the only layer the CLI and the API call."""

from crimelens.services._context import (
    RESEARCH,
    RESEARCH_MARK,
    Context,
    authorize,
    check_use,
    local_actor,
    open_context,
    record_use,
    refuse,
    retention_days,
    sha256_hex,
)

__all__ = [
    "RESEARCH",
    "RESEARCH_MARK",
    "Context",
    "authorize",
    "check_use",
    "local_actor",
    "open_context",
    "record_use",
    "refuse",
    "retention_days",
    "sha256_hex",
]
