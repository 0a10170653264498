"""The append-only usage ledger.

Each use of crimelens becomes one :class:`LedgerEntry`. The entry is serialised
to canonical JSON (sorted keys, no spaces, UTF-8) and hashed as an RFC 6962
leaf: ``SHA-256(0x00 || bytes)``. The leaves form a Merkle tree whose head can
be signed and checked by anyone who has the stored entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from crimelens.errors import InputError

__all__ = ["LedgerEntry", "canonical_json", "leaf_hash"]


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, compact separators, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256 of 0x00 followed by the data."""
    return hashlib.sha256(b"\x00" + data).digest()


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One use of the system: who, in what role, why, under what authority, with what.

    ``outcome`` is ``"ok"`` for a completed use and ``"refused"`` when crimelens
    refused it (no purpose, wrong role, deployment not active, ...).
    """

    action: str
    user: str
    role: str
    purpose: str
    outcome: str = "ok"
    legal_authority: str | None = None
    deployment: str | None = None
    model: str | None = None
    model_version: str | None = None
    artefact_hash: str | None = None
    data_hash: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    output_hash: str | None = None
    decision: Mapping[str, Any] | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if not self.action:
            raise InputError("LedgerEntry: got an empty action; expected e.g. 'forecast.run'")
        if not self.user:
            raise InputError("LedgerEntry: got no user; every entry names a real user")
        if self.outcome not in ("ok", "refused"):
            raise InputError(f"LedgerEntry.outcome: got {self.outcome!r}; expected 'ok' or 'refused'")
        if self.at.tzinfo is None:
            raise InputError("LedgerEntry.at: got a naive time; expected an aware UTC time")

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        return data

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_payload())

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LedgerEntry:
        data = dict(payload)
        data["at"] = datetime.fromisoformat(str(data["at"]))
        return cls(**data)


def iter_payloads(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, bytes, str]]:
    """(seq, payload bytes, stored leaf hash hex) from stored ledger rows."""
    for seq, payload, stored in rows:
        yield int(seq), str(payload).encode("utf-8"), str(stored)


class Ledger:
    """The ledger bound to a store. Appends join the caller's transaction.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from crimelens.storage import DuckDBStore
    >>> with DuckDBStore.open(pathlib.Path(tempfile.mkdtemp()) / "t.duckdb") as s:
    ...     ledger = Ledger(s)
    ...     ledger.append(LedgerEntry("demo.run", "ada", "analyst", "research"))
    ...     ledger.size()
    0
    1
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def append(self, entry: LedgerEntry) -> int:
        """Append one entry; returns its 0-based sequence number."""
        data = entry.to_bytes()
        with self.store.transaction():
            seq = int(self.store.scalar("SELECT coalesce(max(seq) + 1, 0) FROM ledger"))
            self.store.execute(
                "INSERT INTO ledger (seq, at_utc, action, user_name, outcome, payload, leaf_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [seq, entry.at, entry.action, entry.user, entry.outcome, data.decode("utf-8"),
                 leaf_hash(data).hex()],
            )
        return seq

    def size(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM ledger"))

    def entry(self, seq: int) -> LedgerEntry:
        payload = self.store.scalar("SELECT payload FROM ledger WHERE seq = ?", [seq])
        if payload is None:
            from crimelens.errors import NotFoundError

            raise NotFoundError(f"ledger entry {seq}: not found (the ledger has {self.size()} entries)")
        return LedgerEntry.from_payload(json.loads(payload))

    def entries(self, *, action: str | None = None, limit: int | None = None) -> list[tuple[int, LedgerEntry]]:
        sql = "SELECT seq, payload FROM ledger"
        params: list[Any] = []
        if action is not None:
            sql += " WHERE action = ?"
            params.append(action)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(int(s), LedgerEntry.from_payload(json.loads(p))) for s, p in self.store.iter_rows(sql, params)]
