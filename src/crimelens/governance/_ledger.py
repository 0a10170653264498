"""The append-only, tamper-evident usage ledger.

Method
------
Each use of crimelens becomes one :class:`LedgerEntry`. The ledger stores it as
a *payload*: canonical JSON (sorted keys, compact separators, UTF-8, non-finite
numbers as strings) with the entry's 0-based sequence number as its first key,
``{"seq":N,...}``. The payload is an RFC 6962 leaf, hashed as
``SHA-256(0x00 || payload)``; the leaves form a Certificate-Transparency Merkle
tree (see :mod:`crimelens.governance._merkle`). Every appending transaction
extends a compact range of subtree roots (O(log n) hashes, no old leaf is read),
computes the new root and stores a tree head signed with Ed25519
(:mod:`crimelens.governance._keys`).

:meth:`Ledger.verify` recomputes everything from the stored payloads: leaf
hashes, the sequence numbers bound inside the payloads, the query columns
copied from them, and the Merkle tree. It checks every stored signed head (its
signature, and its root against the root of the entries it covers) and the
ledger's tip (``ledger_tip``, the size and compact range each append leaves with
its head) against the newest head and the entries. It names the first problem:

* a changed byte anywhere in a payload or a stored leaf hash -> that entry;
* a changed query column (action, user, time, ...) -> that entry;
* an entry deleted from the middle -> the missing sequence number;
  deleted from the end -> the first entry the signed head covers but the table lacks;
  deleted from the end together with its heads -> the first entry the tip counts
  but the table lacks;
* heads deleted, their entries left -> the first entry no head covers, with the tip
  that shows the heads existed;
* entries reordered or renumbered -> the first whose stored position differs from
  the sequence number inside its payload;
* a position stored twice (or, in an export, lines swapped) -> the first position
  that holds another entry;
* a payload rewritten *with* a recomputed leaf hash -> the first signed head whose
  root no longer matches localises it (heads are signed per transaction, so a
  single append is named exactly);
* a head's root changed -> that head, as a changed head (a newer head, or for the
  newest head the tip, still agrees with the entries);
* any head's signature invalid -> that head.

Verifying reads only: it needs no private key and writes nothing (the service
logs a check only when the ledger verifies, so a bad ledger gets no head signed
over it). :meth:`Ledger.signing_key` makes a key only for a ledger without
entries (or on purpose: a restore from a backup without its key): a store copied
without its key folder can be verified, not written to.

:func:`verify_export` checks an exported file with the same code (``_check_entries``):
the file carries each entry's leaf hash, so a changed payload is named as in the
store; only a payload rewritten together with its leaf hash is not localised (the
file has one signed head).

Failure modes
-------------
Someone who holds the signing key *and* write access can rewrite the log and
re-sign it; someone who deletes the newest entries together with their heads
*and* sets the tip back (computable from the remaining entries, no key needed)
leaves a shorter log that verifies. Both are caught only by comparing with a
head published earlier: :meth:`Ledger.consistency_proof` with a :class:`PublishedHead`
(``crimelens ledger proof --head FILE``, ``GET /api/ledger/consistency?from=M&root=HEX``) checks that
the store's tree at the published size still has the published root, and names both roots when it
has not. Publish heads.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from numpy.typing import NDArray

from crimelens.errors import (
    InputError,
    InvalidParameterError,
    LedgerIntegrityError,
    NotFoundError,
    PublishedHeadMismatchError,
    StoreError,
)
from crimelens.governance._keys import (
    KEY_FILE,
    SignedTreeHead,
    key_id_of,
    load_key,
    load_or_create_key,
    raw_public_key,
)
from crimelens.governance._merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    node_hash,
    root_of_array,
    verify_consistency,
)

__all__ = ["FILE_KEY_WARNING", "Ledger", "LedgerEntry", "LedgerReceipt", "PublishedHead", "VerifyReport", "canonical_json",
           "export_ledger", "leaf_hash", "verify_export"]

OUTCOMES = ("ok", "refused")

#: Entries that may start a new signing key on a ledger that has entries: a store restored from a backup
#: made without its key records its restore (``detail.key_restored: false``) as the new key's first entry.
NEW_SIGNER_ACTIONS = frozenset({"store.restore"})


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become strings, numpy scalars become Python ones."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_clean(v) for v in items]
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


def _default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray | set | frozenset):
        return _clean(value)
    return str(value)


def canonical_json(value: Any) -> bytes:
    """Deterministic, strict JSON bytes: sorted keys, compact separators, UTF-8, no NaN.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``; numpy values
    become Python ones; sets become sorted lists; anything else unknown becomes ``str``.
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_default, allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere: clean the whole value (slow path)
        text = json.dumps(_clean(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_default, allow_nan=False)
    return text.encode("utf-8")


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
        if self.outcome not in OUTCOMES:
            raise InputError(f"LedgerEntry.outcome: got {self.outcome!r}; expected 'ok' or 'refused'")
        if self.at.tzinfo is None:
            raise InputError("LedgerEntry.at: got a naive time; expected an aware UTC time")

    def to_payload(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        data["at"] = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        return data

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_payload())

    def payload_bytes(self, seq: int) -> bytes:
        """The leaf data stored for this entry at position ``seq``: ``{"seq":N,`` + sorted fields."""
        body = self.to_bytes()
        return b'{"seq":%d,' % seq + body[1:]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LedgerEntry:
        data = {k: v for k, v in payload.items() if k != "seq"}
        data["at"] = datetime.fromisoformat(str(data["at"]))
        return cls(**data)


_ENTRY_FIELDS = tuple(LedgerEntry.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`Ledger.verify` found. ``first_bad`` names the first entry that does not match."""

    ok: bool
    n_entries: int
    signed_size: int
    root_hash: str
    signed_root: str | None
    head_signature_ok: bool | None
    first_bad: int | None
    problem: str | None
    seconds: float
    #: the id of the public key the head's signature was checked against (not the id the head states)
    key_id: str | None = None
    #: where that key came from: "given" (``public_key``, a key you trust), "store" (the store's own
    #: key, ``ledger_keys``) or "file" (the key inside an export: proves integrity, not origin)
    key_source: str | None = None
    #: what the check does not prove (an export checked only against its own key)
    warning: str | None = None
    #: why this check was not written to the ledger (it does not verify; the signing key is not here)
    not_logged: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: What a check against the key inside an export does not prove (``VerifyReport.warning``).
FILE_KEY_WARNING = (
    "the signature was checked only against the public key inside the file itself (key {key_id}): this proves "
    "that no entry changed after the file's head was signed, not who signed it; anyone can edit an export and "
    "re-sign it with a key of their own. To check its origin, verify again with --public-key HEX, the public key "
    "of a head the agency published (GET /api/ledger/head, `crimelens ledger head`), or against the agency's "
    "store (--db)"
)


#: The shapes :meth:`PublishedHead.from_json` accepts, said when a head file does not have one.
_HEAD_SHAPE = ("a signed head as `crimelens ledger head --json` or GET /api/ledger/head writes it (tree_size, "
               "root_hash, timestamp_ms, key_id, signature, public_key)")


def _hex32(value: Any) -> bytes | None:
    """32 bytes from 64 hex digits, or None when ``value`` is anything else."""
    if not isinstance(value, str) or len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _utc_ms(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class PublishedHead:
    """A tree head an outsider holds from the agency's publication, to hold the store to.

    ``tree_size`` and ``root_hash`` are what is compared; read from a head file (:meth:`from_json`),
    ``head`` and ``public_key`` are the signed head, whose signature was checked against the public
    key it carries, and that key (its id is computed from it: :func:`~crimelens.governance._keys.key_id_of`,
    the first 16 hex digits of the SHA-256 of the 32 raw key bytes). ``source`` names it in messages.
    :meth:`Ledger.consistency_proof` (``published=``) checks the store against it.

    Examples
    --------
    >>> PublishedHead.from_root(67, "9a" * 32).tree_size
    67
    >>> PublishedHead.from_root(67, "9a")
    Traceback (most recent call last):
    ...
    crimelens.errors.InputError: --root: got '9a'; expected 64 hex digits, the root_hash of a head the agency published at size 67
    """

    tree_size: int
    root_hash: bytes
    source: str
    head: SignedTreeHead | None = None
    public_key: bytes | None = None

    @property
    def key_id(self) -> str | None:
        """The id of the public key the head was checked against (None for a bare root)."""
        return None if self.public_key is None else key_id_of(self.public_key)

    @classmethod
    def from_root(cls, tree_size: int, root_hex: str, *, source: str = "--root") -> PublishedHead:
        """A published size and root (64 hex digits), without the signed head."""
        root = _hex32(root_hex.strip().lower() if isinstance(root_hex, str) else root_hex)
        if root is None:
            raise InputError(f"{source}: got {str(root_hex)[:80]!r}; expected 64 hex digits, the root_hash of a "
                             f"head the agency published at size {tree_size}")
        if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 1:
            raise InputError(f"{source}: got tree size {tree_size!r}; expected the published head's size, 1 or more")
        return cls(tree_size, root, source)

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> PublishedHead:
        """A published signed head, as ``crimelens ledger head --json`` writes it (``GET /api/ledger/head``'s
        answer, ``{"ok": true, "head": {...}}``, is taken too).

        Refused (:class:`~crimelens.errors.InputError`, naming the field, what it holds and what was
        expected) unless every field is there, the ``key_id`` it states is the id of the ``public_key``
        it carries, and its signature verifies with that key: a head that does not is not a head as
        the agency signed it, and nothing can be checked against it.
        """
        if isinstance(data, Mapping) and isinstance(data.get("head"), Mapping):
            data = data["head"]
        if not isinstance(data, Mapping):
            raise InputError(f"{source}: got a JSON {type(data).__name__}; expected {_HEAD_SHAPE}")

        def bad(name: str, expected: str) -> InputError:
            got = "nothing" if name not in data else repr(data[name])[:80]
            return InputError(f"{source}: field {name!r}: got {got}; expected {expected} ({_HEAD_SHAPE})")

        size, stamp = data.get("tree_size"), data.get("timestamp_ms")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise bad("tree_size", "a whole number, 1 or more")
        root = _hex32(data.get("root_hash"))
        if root is None:
            raise bad("root_hash", "64 hex digits")
        if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
            raise bad("timestamp_ms", "a whole number of milliseconds since 1970")
        stated = data.get("key_id")
        if not isinstance(stated, str) or not stated:
            raise bad("key_id", "the 16 hex digits of the signing key's id")
        try:
            signature = base64.b64decode(str(data.get("signature")), validate=True)
        except ValueError:
            signature = b""
        if len(signature) != 64:
            raise bad("signature", "the base64 of a 64-byte Ed25519 signature")
        key = _hex32(data.get("public_key"))
        if key is None:
            raise bad("public_key", "64 hex digits, the raw Ed25519 public key the head was signed with")
        head = SignedTreeHead(size, root, stamp, stated, signature)
        if key_id_of(key) != stated:
            raise InputError(f"{source}: the head says it is signed by key {stated}, but the public key it carries "
                             f"is key {key_id_of(key)} (the key id is the first 16 hex digits of SHA-256 of the 32 "
                             "raw key bytes): the head was edited or re-signed, so it is not a head as published")
        if not head.verify(key):
            raise InputError(f"{source}: the signature of the head at size {size} does not verify with the public "
                             f"key it carries (key {stated}): the head was edited after it was signed, so it is "
                             "not a head as published")
        return cls(size, root, source, head, key)


def _fold(frontier: Sequence[bytes]) -> bytes:
    """Root from a compact range (largest subtree first)."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


def _extend(frontier: list[bytes], size: int, leaves: Iterable[bytes]) -> tuple[list[bytes], int]:
    """Add leaves to a compact range of a tree of ``size`` leaves."""
    out = list(frontier)
    for leaf in leaves:
        node, n = leaf, size
        while n & 1:
            node = node_hash(out.pop(), node)
            n >>= 1
        out.append(node)
        size += 1
    return out, size


def _frontier_of(hashes: NDArray[np.uint8]) -> list[bytes]:
    """Compact range of the tree over the given leaf hashes (subtree roots, largest first)."""
    out: list[bytes] = []
    start, n = 0, int(hashes.shape[0])
    for bit in reversed(range(n.bit_length())):
        width = 1 << bit
        if n & width:
            out.append(root_of_array(hashes[start : start + width]))
            start += width
    return out


# the first entry whose payload does not begin with {"seq":<its own seq>, (vectorised in DuckDB)
_SEQ_PREFIX_SQL = """
SELECT min(seq) FROM ledger
WHERE try(starts_with(decode(payload), '{"seq":' || CAST(seq AS VARCHAR) || ',')) IS NOT TRUE
"""


class _StaleTip(Exception):
    """The tip moved since this ledger object last committed (another object appended)."""


#: Up to this many entries are inserted with one VALUES statement, more through an Arrow table.
_VALUES_ROWS = 256

#: The most entries one group commit takes (a bound on one transaction's size and latency).
_MAX_GROUP = 4096

#: From this many signed heads, :meth:`Ledger.verify` checks their signatures on threads.
_THREADED_SIGNATURES = 256


@dataclass(slots=True)
class LedgerReceipt:
    """An entry submitted to the group commit (:meth:`Ledger.submit`), and what became of it."""

    entry: LedgerEntry
    seq: int | None = None
    error: BaseException | None = None
    done: bool = False

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        assert self.seq is not None
        return self.seq


class Ledger:
    """The ledger bound to a store. Appends join the caller's transaction.

    Parameters
    ----------
    store
        A :class:`crimelens.storage.DuckDBStore`.
    key_dir
        Folder of the Ed25519 signing key; default ``<db>.keys`` beside the store
        (an in-memory store gets a throw-away key).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from crimelens.storage import DuckDBStore
    >>> with DuckDBStore.open(pathlib.Path(tempfile.mkdtemp()) / "t.duckdb") as s:
    ...     ledger = Ledger(s)
    ...     ledger.append(LedgerEntry("demo.run", "ada", "analyst", "research"))
    ...     ledger.size(), ledger.verify().ok
    0
    (1, True)
    """

    def __init__(self, store: Any, key_dir: Path | None = None, *, key: Ed25519PrivateKey | None = None) -> None:
        self.store = store
        path = str(getattr(store, "path", ":memory:"))
        if key_dir is None and path != ":memory:":
            key_dir = Path(path + ".keys")
        self.key_dir = key_dir
        self._key: Ed25519PrivateKey | None = key
        self._cv = threading.Condition()
        self._queue: list[LedgerReceipt] = []
        self._committing = False
        self._last_group = 0
        self._registered_key: str | None = None  # key id known to be committed in ledger_keys
        self._tip_hint: tuple[int, list[bytes]] | None = None  # the tip as this object last committed it
        #: Seconds a group-commit leader waits before taking the queue when the previous group
        #: had company (PostgreSQL's ``commit_delay``): callers just released re-queue in time to
        #: share this commit instead of forming the next one. 0 turns it off.
        self.commit_delay = 0.001
        #: Where this process's entries come from (the CLI sets the operating-system account and host that
        #: ran the command: ``--as`` names a registered user without a secret, so the entry also says who
        #: actually ran it); added to each entry's ``detail`` as ``via`` unless the entry has one.
        self.origin: Mapping[str, Any] | None = None

    # keys -------------------------------------------------------------------------
    def signing_key(self, *, new_signer: bool = False) -> Ed25519PrivateKey:
        """The key heads are signed with: the one given, else the file in ``key_dir``.

        A ledger that has no entries yet gets a new key on first use (an in-memory store a throw-away
        one). A ledger that has entries does not: without its key file it raises
        :class:`~crimelens.errors.StoreError` naming the missing folder, since heads signed with a new
        key would fail against the key the agency published. ``new_signer`` starts a new key anyway, on
        purpose (:meth:`new_signing_key`; an append whose entries are all :data:`NEW_SIGNER_ACTIONS`).
        """
        if self._key is None:
            if self.key_dir is None:
                self._key = Ed25519PrivateKey.generate()
            else:
                key = load_key(self.key_dir)
                if key is None:
                    if not new_signer and not self.is_new():
                        raise StoreError(self.missing_key_message())
                    key = load_or_create_key(self.key_dir)
                self._key = key
        return self._key

    @property
    def key_file(self) -> Path | None:
        """The signing key's file (None for an in-memory store's throw-away key)."""
        return None if self.key_dir is None else self.key_dir / KEY_FILE

    def has_signing_key(self) -> bool:
        """Whether this ledger can sign a head without starting a new key: a key given or loaded, an
        in-memory store's throw-away key, the key file in ``key_dir``, or a ledger with no entries yet."""
        return (self._key is not None or self.key_dir is None or (self.key_dir / KEY_FILE).exists()
                or self.is_new())

    def is_new(self) -> bool:
        """True when the ledger has no entry, signed head or tip yet."""
        return not self.store.scalar(
            "SELECT (SELECT count(*) FROM ledger) + (SELECT count(*) FROM ledger_heads) + (SELECT count(*) FROM ledger_tip)"
        )

    def missing_key_message(self) -> str:
        """What :meth:`signing_key` says when the key file of a ledger with entries is not here."""
        n = int(self.store.scalar("SELECT count(*) FROM ledger") or 0)
        ids = sorted(str(k) for (k,) in self.store.iter_rows("SELECT key_id FROM ledger_keys"))
        where = self.key_dir / KEY_FILE if self.key_dir is not None else KEY_FILE
        return (f"store {str(getattr(self.store, 'path', ':memory:'))!r}: its ledger signing key {str(where)!r} is "
                f"not here, and its ledger holds {n} entries signed with key(s) {ids}; expected the store's key "
                f"folder {str(self.key_dir)!r} beside it (or CRIMELENS_KEY_DIR naming it). crimelens does not start "
                "a new key for a ledger that has one: heads signed with it would not verify against the agency's "
                "published key. Without the key the ledger can only be checked, read-only: crimelens ledger verify")

    def new_signing_key(self) -> Ed25519PrivateKey:
        """Start a new signer on purpose (e.g. a store restored from a backup made without its key):
        create a key in ``key_dir`` although the ledger has entries. Heads signed from now on carry the
        new key's id; the old heads keep theirs and are still checked against their stored keys.
        Refused when ``key_dir`` already holds a key.
        """
        if self.key_dir is None:
            raise InputError("ledger: an in-memory store has no key folder; expected a store on disk")
        if (self.key_dir / KEY_FILE).exists():
            raise InputError(f"ledger: {str(self.key_dir / KEY_FILE)!r} exists; a new signer needs an empty key folder")
        self._key = None
        return self.signing_key(new_signer=True)

    def public_key(self, key_id: str | None = None) -> bytes:
        """Raw public key by id (default: this ledger's signing key)."""
        if key_id is None:
            return raw_public_key(self.signing_key())
        value = self.store.scalar("SELECT public_key FROM ledger_keys WHERE key_id = ?", [key_id])
        if value is None:
            raise NotFoundError(f"ledger key {key_id!r}: not in ledger_keys")
        return bytes(value)

    # appending --------------------------------------------------------------------
    def _tip(self) -> tuple[int, list[bytes]]:
        row = list(self.store.iter_rows("SELECT tree_size, frontier FROM ledger_tip WHERE id = 1"))
        if row:
            size, blob = int(row[0][0]), bytes(row[0][1])
            return size, [blob[i : i + 32] for i in range(0, len(blob), 32)]
        return 0, []

    def _set_tip(self, size: int, frontier: list[bytes], root: bytes, *, expect: int) -> SignedTreeHead:
        """Move the tip from ``expect`` entries to ``size`` and sign the head; _StaleTip if it had moved."""
        with self.store._lock:
            updated = self.store.con.execute(
                "UPDATE ledger_tip SET tree_size = ?, frontier = ? WHERE id = 1 AND tree_size = ?",
                [size, b"".join(frontier), expect],
            ).fetchall()
        if not updated or not updated[0][0]:
            if self.store.scalar("SELECT count(*) FROM ledger_tip") or expect != 0:
                raise _StaleTip(expect)
            self.store.execute("INSERT INTO ledger_tip VALUES (1, ?, ?)", [size, b"".join(frontier)])
        key = self.signing_key()
        pub = raw_public_key(key)
        kid = key_id_of(pub)
        if self._registered_key != kid:
            self.store.execute(
                "INSERT INTO ledger_keys SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM ledger_keys WHERE key_id = ?)",
                [kid, pub, datetime.now(UTC), kid],
            )
        head = SignedTreeHead.sign(key, size, root, int(time.time() * 1000))
        self.store.execute(
            "INSERT INTO ledger_heads VALUES (?, ?, ?, ?, ?)",
            [head.tree_size, head.root_hash, head.timestamp_ms, head.key_id, head.signature],
        )
        return head

    def append(self, entry: LedgerEntry) -> int:
        """Append one entry durably; returns its 0-based sequence number.

        Inside the caller's open transaction (:meth:`DuckDBStore.transaction` on this
        thread) the entry joins it, beside the output it records, and commits with it.
        Otherwise it goes through the *group commit*: the call returns only once the
        entry is committed (WAL synced) under a signed head, but entries that other
        threads append meanwhile share that transaction and head, so many concurrent
        callers cost one commit instead of one each (the technique databases use for
        durable commit rates above the disk's sync rate).
        """
        return self.wait(self.submit(entry))

    def submit(self, entry: LedgerEntry) -> LedgerReceipt:
        """Queue an entry for the next group commit and return at once; :meth:`wait` for it.

        For a caller that must not answer before the entry is durable but has other work to
        do first (the API queues the authentication entry, handles the request, and waits
        for it before the response leaves). Inside the caller's transaction the entry joins
        that transaction at once instead.
        """
        receipt = LedgerReceipt(entry)
        if self.store.in_transaction():
            receipt.seq = self.append_many([entry])[0]
            receipt.done = True
            return receipt
        with self._cv:
            self._queue.append(receipt)
        return receipt

    def wait(self, receipt: LedgerReceipt) -> int:
        """Block until the submitted entry is committed; its sequence number (or its error, raised)."""
        while True:
            with self._cv:
                while not receipt.done and self._committing:
                    self._cv.wait()
                if receipt.done:
                    return receipt.result()
                self._committing = True  # this caller leads: it takes the queue (its own entry included)
                delay = self.commit_delay if self._last_group > 1 else 0.0
            if delay:  # callers are concurrent: let the ones the last commit just released queue again
                time.sleep(delay)
            with self._cv:
                batch, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
                self._last_group = len(batch)
            try:
                self._commit_group(batch)
            finally:
                with self._cv:
                    for p in batch:
                        p.done = True
                    self._committing = False
                    self._cv.notify_all()

    def _commit_group(self, batch: list[LedgerReceipt]) -> None:
        """Commit a group in one transaction; if that fails, each entry alone (one bad entry fails alone)."""
        try:
            seqs = self.append_many([p.entry for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for p in batch:
                try:
                    p.seq = self.append_many([p.entry])[0]
                except Exception as one:
                    p.error = one
        else:
            for p, seq in zip(batch, seqs, strict=True):
                p.seq = seq

    def append_many(self, entries: Sequence[LedgerEntry]) -> list[int]:
        """Append entries in one transaction and sign one head for them all."""
        if not entries:
            return []
        if self.store.in_transaction():  # join the caller's transaction; it may still roll back
            self._tip_hint = None
            return self._append_in_transaction(entries, hint=None)[0]
        try:
            seqs, head, tip = self._append_in_transaction(entries, hint=self._tip_hint)
        except _StaleTip:  # another ledger object appended since: read the tip and go again
            seqs, head, tip = self._append_in_transaction(entries, hint=None)
        # committed: the tip is this object's to reuse, and the key row is stored for good
        self._tip_hint = tip
        self._registered_key = head.key_id
        return seqs

    def _append_in_transaction(
        self, entries: Sequence[LedgerEntry], hint: tuple[int, list[bytes]] | None
    ) -> tuple[list[int], SignedTreeHead, tuple[int, list[bytes]]]:
        """Insert the entries and sign the new head; returns (seqs, head, new tip)."""
        with self.store.transaction():
            if self._key is None:  # before the insert: whether the ledger is new decides if a key may be made
                self.signing_key(new_signer=all(e.action in NEW_SIGNER_ACTIONS and e.outcome == "ok" for e in entries))
            # the tip this object committed last saves a read; _set_tip checks it is still the tip
            size, frontier = hint if hint is not None else self._tip()
            seqs = list(range(size, size + len(entries)))
            if self.origin is not None:
                entries = [e if "via" in e.detail else dataclasses.replace(e, detail={**e.detail, "via": dict(self.origin)})
                           for e in entries]
            payloads = [e.payload_bytes(s) for e, s in zip(entries, seqs, strict=True)]
            hashes = [leaf_hash(p) for p in payloads]
            if len(entries) <= _VALUES_ROWS:  # one statement with bound rows: cheaper than an Arrow scan
                rows = ", ".join(["(?, ?, ?)"] * len(entries))
                params: list[Any] = []
                for seq, payload, digest in zip(seqs, payloads, hashes, strict=True):
                    params += (seq, payload, digest)
                self.store.execute(f"INSERT INTO ledger (seq, payload, leaf_hash) VALUES {rows}", params)
            else:
                table = pa.table(
                    {
                        "seq": pa.array(seqs, pa.int64()),
                        "payload": pa.array(payloads, pa.binary()),
                        "leaf_hash": pa.array(hashes, pa.binary()),
                    }
                )
                self.store.insert_frame("ledger", table, table.column_names)
            frontier, new_size = _extend(frontier, size, hashes)
            head = self._set_tip(new_size, frontier, _fold(frontier), expect=size)
        return seqs, head, (new_size, frontier)

    # reading ----------------------------------------------------------------------
    def size(self) -> int:
        """Number of entries in the log (the signed tree size)."""
        return self._tip()[0]

    def entry(self, seq: int) -> LedgerEntry:
        payload = self.store.scalar("SELECT payload FROM ledger WHERE seq = ?", [seq])
        if payload is None:
            raise NotFoundError(f"ledger entry {seq}: not found (the ledger has {self.size()} entries)")
        return LedgerEntry.from_payload(json.loads(bytes(payload)))

    def entries(
        self,
        *,
        action: str | None = None,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        deployment: str | None = None,
        from_seq: int | None = None,
        newest: bool = False,
    ) -> list[tuple[int, LedgerEntry]]:
        """Entries that match every filter, in sequence order.

        ``limit`` keeps the first that many, or with ``newest`` the last that many (still returned
        oldest first). ``from_seq`` starts at that sequence number.
        """
        if limit is not None and int(limit) < 0:
            raise InvalidParameterError(f"ledger entries: limit {limit}; expected 0 or more")
        sql = "SELECT seq, payload FROM ledger"
        clauses: list[str] = []
        params: list[Any] = []
        if from_seq is not None:
            clauses.append("seq >= ?")
            params.append(int(from_seq))
        if action is not None:
            if action.endswith("*"):
                clauses.append("starts_with(action, ?)")
                params.append(action[:-1])
            else:
                clauses.append("action = ?")
                params.append(action)
        if since is not None:
            clauses.append("at_utc >= ?")
            params.append(since)
        if until is not None:
            clauses.append("at_utc < ?")
            params.append(until)
        if deployment is not None:
            clauses.append("deployment = ?")
            params.append(deployment)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if limit is None:
            sql += " ORDER BY seq"
        elif newest:
            sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {int(limit)}) ORDER BY seq"
        else:
            sql += f" ORDER BY seq LIMIT {int(limit)}"
        return [
            (int(s), LedgerEntry.from_payload(json.loads(bytes(p))))
            for s, p in self.store.iter_rows(sql, params)
        ]

    def heads(self) -> list[SignedTreeHead]:
        return [
            SignedTreeHead(int(a), bytes(b), int(c), str(d), bytes(e))
            for a, b, c, d, e in self.store.iter_rows(
                "SELECT tree_size, root_hash, timestamp_ms, key_id, signature FROM ledger_heads ORDER BY tree_size"
            )
        ]

    def latest_head(self) -> SignedTreeHead | None:
        rows = list(
            self.store.iter_rows(
                "SELECT tree_size, root_hash, timestamp_ms, key_id, signature FROM ledger_heads"
                " ORDER BY tree_size DESC LIMIT 1"
            )
        )
        if not rows:
            return None
        a, b, c, d, e = rows[0]
        return SignedTreeHead(int(a), bytes(b), int(c), str(d), bytes(e))

    def head_at(self, tree_size: int) -> SignedTreeHead:
        rows = list(
            self.store.iter_rows(
                "SELECT tree_size, root_hash, timestamp_ms, key_id, signature FROM ledger_heads"
                " WHERE tree_size = ?", [tree_size]
            )
        )
        if not rows:
            raise NotFoundError(f"signed head at tree size {tree_size}: none was signed at that size")
        a, b, c, d, e = rows[0]
        return SignedTreeHead(int(a), bytes(b), int(c), str(d), bytes(e))

    def sign_head(self) -> SignedTreeHead:
        """Sign a fresh head for the current size (e.g. to publish a recent timestamp)."""
        with self.store.transaction():
            size, frontier = self._tip()
            self.store.execute("DELETE FROM ledger_heads WHERE tree_size = ?", [size])
            return self._set_tip(size, frontier, _fold(frontier), expect=size)

    def leaf_hash_array(self) -> NDArray[np.uint8]:
        """Stored leaf hashes as an (n, 32) array, in sequence order."""
        with self.store._lock:
            tbl = _arrow(self.store, "SELECT leaf_hash FROM ledger ORDER BY seq")
        return _fixed32(tbl.column(0))

    # proofs -----------------------------------------------------------------------
    def _leaves(self, size: int) -> list[bytes]:
        arr = self.leaf_hash_array()
        if arr.shape[0] < size:
            raise NotFoundError(f"ledger: got {arr.shape[0]} stored entries; the proof needs {size}")
        flat = arr[:size].tobytes()
        return [flat[i : i + 32] for i in range(0, size * 32, 32)]

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> dict[str, Any]:
        """Audit path for entry ``seq`` against the signed head at ``tree_size`` (default latest)."""
        head = self.latest_head() if tree_size is None else self.head_at(tree_size)
        if head is None:
            raise NotFoundError("ledger: empty, nothing to prove")
        if not 0 <= seq < head.tree_size:
            raise InputError(f"ledger proof: got entry {seq}; expected 0 <= entry < {head.tree_size}")
        leaves = self._leaves(head.tree_size)
        payload = self.store.scalar("SELECT payload FROM ledger WHERE seq = ?", [seq])
        return {
            "type": "inclusion",
            "leaf_index": seq,
            "tree_size": head.tree_size,
            "leaf_hash": leaves[seq].hex(),
            "payload": None if payload is None else bytes(payload).decode("utf-8", "replace"),
            "audit_path": [h.hex() for h in inclusion_proof(leaves, seq, head.tree_size)],
            "head": head.to_json(self.public_key(head.key_id)),
        }

    def consistency_proof(self, old_size: int, new_size: int | None = None, *,
                          published: PublishedHead | None = None) -> dict[str, Any]:
        """RFC 6962 consistency proof (``PROOF(m, D[n])``) from the tree of the first ``old_size`` entries
        to the signed head at ``new_size`` (default: the newest).

        The answer has both roots (``old_root`` computed from the stored entries, ``new_root`` the
        head's), the signed head the proof ends at (``head``), the signed head stored at ``old_size``
        (``old_head``; None when no append ended there) and, when ``new_size`` names an older head, the
        newest signed head (``newest_head``); each head with its public key.

        With ``published`` (a head the agency published, or its size and root; ``old_size`` must be
        its size) the store is held to it, and :class:`~crimelens.errors.LedgerIntegrityError` names
        both roots when the store's tree at that size is not the published one (a rollback or a rewrite),
        or the store has no tree that large any more (a rollback or a truncation). Otherwise the proof is
        checked (RFC 9162 §2.1.4.2) from the published root to the new head's root, the new head's
        signature against its key, and ``published`` in the answer says what was checked.
        """
        newest = self.latest_head()
        head = newest if new_size is None else self.head_at(new_size)
        if head is None or newest is None:
            raise NotFoundError("ledger: empty, nothing to prove")
        if published is not None:
            if old_size != published.tree_size:
                raise InputError(f"ledger proof: got --from {old_size} and {published.source} at size "
                                 f"{published.tree_size}; expected the published head's size (or leave --from out)")
            if published.tree_size > newest.tree_size:
                n = int(self.store.scalar("SELECT count(*) FROM ledger") or 0)
                raise PublishedHeadMismatchError(
                    f"this store's ledger has no tree at size {published.tree_size}, the size of the published head "
                    f"({published.source}, root {published.root_hash.hex()}): its newest signed head is at size "
                    f"{newest.tree_size} and it holds {n} entries, so entries the published head covers were "
                    "removed: a rollback or a truncation")
        if not 0 <= old_size <= head.tree_size:
            raise InputError(f"ledger proof: got old size {old_size}; expected 0 <= old size <= {head.tree_size}")
        leaves = self._leaves(head.tree_size)
        old_arr = np.frombuffer(b"".join(leaves[:old_size]), dtype=np.uint8).reshape(old_size, 32)
        old_root = root_of_array(old_arr)
        proof = consistency_proof(leaves, old_size, head.tree_size)
        old_head = self._head_or_none(old_size)
        out: dict[str, Any] = {
            "type": "consistency",
            "old_size": old_size,
            "new_size": head.tree_size,
            "old_root": old_root.hex(),
            "new_root": head.root_hash.hex(),
            "proof": [h.hex() for h in proof],
            "head": head.to_json(self.public_key(head.key_id)),
            "old_head": None if old_head is None else old_head.to_json(self.public_key(old_head.key_id)),
        }
        if newest.tree_size != head.tree_size:
            out["newest_head"] = newest.to_json(self.public_key(newest.key_id))
        if published is not None:
            out["published"] = self._check_published(published, old_root, old_head, head, proof)
        return out

    def _head_or_none(self, tree_size: int) -> SignedTreeHead | None:
        try:
            return self.head_at(tree_size)
        except NotFoundError:
            return None

    def _check_published(self, published: PublishedHead, old_root: bytes, old_head: SignedTreeHead | None,
                         head: SignedTreeHead, proof: Sequence[bytes]) -> dict[str, Any]:
        """Hold a consistency proof from ``published.tree_size`` to ``head`` to the published root."""
        m = published.tree_size
        if old_root != published.root_hash:
            second = ""
            if old_head is not None and old_head.root_hash == old_root:
                second = (f"; the store holds its own signed head at size {m} with that root (signed "
                          f"{_utc_ms(old_head.timestamp_ms)} by key {old_head.key_id}): two signed heads at one "
                          "size with different roots, so the ledger was set back and appended to again")
            raise PublishedHeadMismatchError(
                f"this store's tree at size {m} is not the one published: a rollback or a rewrite. The store's "
                f"entries 0..{m - 1} hash to root {old_root.hex()}; the published head ({published.source}) has root "
                f"{published.root_hash.hex()}{second}")
        if not verify_consistency(m, head.tree_size, published.root_hash, head.root_hash, proof):
            raise PublishedHeadMismatchError(
                f"the store's entries {m}..{head.tree_size - 1} do not lead from the published root at size {m} to "
                f"the root of the signed head at size {head.tree_size}: the consistency proof does not verify "
                "(entries rewritten after the head was signed; `crimelens ledger verify` names the first)")
        same_key = published.key_id is not None and published.key_id == head.key_id
        key = published.public_key if same_key and published.public_key is not None else self.public_key(head.key_id)
        if not head.verify(key):
            raise LedgerIntegrityError(f"the signed head at size {head.tree_size} has an invalid signature for key "
                                       f"{key_id_of(key)}")
        out: dict[str, Any] = {
            "tree_size": m, "root_hash": published.root_hash.hex(), "source": published.source,
            "key_id": published.key_id, "signature_checked": published.head is not None, "root_matches": True,
            "proof_verifies": True, "new_head_key_id": head.key_id,
            "new_head_signed_with_published_key": None if published.key_id is None else same_key,
        }
        if published.key_id is not None and not same_key:
            out["warning"] = (f"the head at size {head.tree_size} is signed with key {head.key_id}, not with the "
                              f"published head's key {published.key_id}: the store has had another signer since "
                              "(a restore from a backup made without its key, or a key replaced); ask the agency "
                              "to publish the new key")
        return out

    # verification -----------------------------------------------------------------
    def verify(
        self,
        *,
        public_key: bytes | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> VerifyReport:
        """Recompute every leaf hash and the root from the stored payloads; name the first bad entry.

        Every stored signed head is checked: its signature, and its root against the root of the
        entries it covers; the ledger's tip (the size the last append left) against the newest head and
        the entries. Reads only: it needs no private key and writes nothing.

        ``public_key`` (raw 32 bytes) is the key an outsider trusts; the newest head must be signed
        with it (older heads signed with another key are checked against that key's row in
        ``ledger_keys``). By default each head is checked against the key stored in ``ledger_keys``
        for its key id, and the newest head's key must also be the local key file's when there is one.
        """
        t0 = time.perf_counter()
        note = progress or (lambda _msg: None)
        note("reading entries")
        with self.store.transaction():
            # The heads, the tip and the entries are read in one transaction, which holds the store's
            # lock. Every append commits its entries, the tip and their signed head together under this
            # lock, so no entry can land between the reads: read apart, entries that other requests
            # committed in between looked "added outside the ledger" (a false alarm, then logged).
            heads = self.heads()
            tip_rows = list(self.store.iter_rows("SELECT tree_size, frontier FROM ledger_tip WHERE id = 1"))
            keys = {str(k): bytes(v) for k, v in self.store.iter_rows("SELECT key_id, public_key FROM ledger_keys")}
            # a plain scan returns rows in insertion order (DuckDB preserves it); sorting 1M
            # payloads would cost more than everything else, so sort only if the scan is out of order
            tbl = _arrow(self.store, "SELECT seq, payload, leaf_hash FROM ledger")
            n = tbl.num_rows
            seqs = tbl.column(0).to_numpy() if n else np.zeros(0, dtype=np.int64)
            if n > 1 and not bool(np.all(seqs[1:] > seqs[:-1])):
                tbl = _arrow(self.store, "SELECT seq, payload, leaf_hash FROM ledger ORDER BY seq")
                seqs = tbl.column(0).to_numpy()
        last_seq = int(seqs[-1]) if n else -1
        tip = None
        if tip_rows:
            blob = bytes(tip_rows[0][1])
            tip = (int(tip_rows[0][0]), [blob[i : i + 32] for i in range(0, len(blob), 32)])

        def misplaced() -> int | None:  # vectorised in DuckDB; the row of the first entry found
            # only among the entries read above: later appends are checked by the next verify
            bad_seq = self.store.scalar(_SEQ_PREFIX_SQL + " AND seq <= ?", [last_seq])
            return None if bad_seq is None else int(np.searchsorted(seqs, int(bad_seq)))

        head = heads[-1] if heads else None
        trusted = b""
        bad_signature: tuple[int, str] | None = None
        if head is not None:
            trusted = public_key if public_key is not None else keys.get(head.key_id, b"")
            local = load_key(self.key_dir) if public_key is None and self.key_dir is not None else None
            if local is not None and raw_public_key(local) != trusted:
                bad_signature = (head.tree_size, f"the signed head at size {head.tree_size} is signed with key "
                                                 f"{head.key_id}, but the store's key file holds key "
                                                 f"{key_id_of(raw_public_key(local))}: the head was re-signed, or "
                                                 "the key folder is not this store's")
        key_id = None if head is None else (key_id_of(trusted) if trusted else head.key_id)
        note(f"checking {len(heads):,} signed heads")
        given_id = key_id_of(public_key) if public_key is not None else None
        checks = [(h, trusted if h is head else public_key if public_key is not None and h.key_id == given_id
                   else keys.get(h.key_id, b"")) for h in heads]  # every head: an altered older head stays found
        bad = _first_bad_signature(checks)
        if bad is not None:
            h, key = checks[bad]
            bad_signature = (h.tree_size, f"the signed head at size {h.tree_size} has an invalid signature for key "
                                          f"{key_id_of(key) if key else h.key_id}")
        sig_ok = None if head is None else bad_signature is None

        def check_heads(computed: NDArray[np.uint8], upto: int) -> tuple[bytes, list[tuple[int, str]]]:
            note("computing the Merkle root")
            levels = _subtree_levels(computed)
            problems = _head_problems(heads, tip, levels, upto)
            if bad_signature is not None:
                problems.append(bad_signature)
            return _root_at(levels, int(computed.shape[0])), problems

        root, problems = _check_entries(seqs, tbl.column(1), _fixed32(tbl.column(2)) if n else np.zeros((0, 32), np.uint8),
                                        misplaced=misplaced, head=head, signature_ok=sig_ok,
                                        check_heads=check_heads, note=note, key_id=key_id)
        return _verify_report(n, head, root, sig_ok, problems, t0, key_id=key_id,
                              key_source=None if head is None else ("given" if public_key is not None else "store"))

    def iter_payloads(self, batch: int = 10_000) -> Iterator[tuple[int, bytes]]:
        """(seq, payload) in order, for export."""
        for s, p in self.store.iter_rows("SELECT seq, payload FROM ledger ORDER BY seq"):
            yield int(s), bytes(p)


def _arrow(store: Any, sql: str) -> pa.Table:
    """Run ``sql`` on the store's own connection (so it sees the open transaction) into Arrow."""
    # a result left half-read by fetchone() blocks con.sql(); finish it with a trivial statement
    store.con.execute("SELECT 1").fetchall()
    table: pa.Table = store.con.sql(sql).to_arrow_table()
    return table


def _fixed32(column: pa.ChunkedArray) -> NDArray[np.uint8]:
    """An Arrow binary column of 32-byte values as an (n, 32) array (short values mark as mismatches)."""
    arr = column.combine_chunks()
    if pa.types.is_large_binary(arr.type):
        arr = arr.cast(pa.binary())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    data = arr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    if n and np.all(lengths == 32):
        start = int(offsets[0])
        return raw[start : start + 32 * n].reshape(n, 32)
    out = np.zeros((n, 32), dtype=np.uint8)
    for i in range(n):
        a, b = int(offsets[i]), int(offsets[i + 1])
        chunk = raw[a : min(b, a + 32)]
        out[i, : chunk.size] = chunk
        if b - a != 32:
            out[i, 0] ^= 0xFF  # wrong length can never equal a real digest; force a mismatch
    return out


def _chunk_parts(arr: pa.Array) -> tuple[list[int], memoryview]:
    """Offsets (as a list) and the data buffer of one Arrow binary chunk, without copying the data."""
    width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=width, count=n + 1,
                            offset=arr.offset * np.dtype(width).itemsize)
    data = arr.buffers()[2]
    return offsets.tolist(), memoryview(data if data is not None else b"")


def _hash_rows(column: pa.ChunkedArray, lo: int, hi: int) -> bytes:
    """Concatenated RFC 6962 leaf hashes of rows lo..hi-1 of an Arrow binary column."""
    base = hashlib.sha256(b"\x00")
    out: list[bytes] = []
    push = out.append
    first = 0
    for chunk in column.chunks:
        n = len(chunk)
        a, b = max(lo - first, 0), min(hi - first, n)
        if a < b:
            bounds, mv = _chunk_parts(chunk)
            for x, y in itertools.pairwise(bounds[a : b + 1]):
                h = base.copy()
                h.update(mv[x:y])
                push(h.digest())
        first += n
        if first >= hi:
            break
    return b"".join(out)


def _hash_payloads(column: pa.ChunkedArray) -> NDArray[np.uint8]:
    """RFC 6962 leaf hashes of every payload in an Arrow binary column, as (n, 32)."""
    n = len(column)
    return np.frombuffer(_hash_rows(column, 0, n), dtype=np.uint8).reshape(n, 32)


def _payload_seq(column: pa.ChunkedArray, i: int) -> str:
    raw = bytes(column[i].as_py() or b"")
    if raw.startswith(b'{"seq":'):
        return raw[7:].split(b",", 1)[0].decode("ascii", "replace")
    return "(unreadable)"


def _first_bad_signature(checks: Sequence[tuple[SignedTreeHead, bytes]]) -> int | None:
    """The index of the first head whose signature does not verify with the key beside it, or None.

    Many heads are checked on threads: an Ed25519 check releases the GIL (0.1-0.7 ms each here).
    """
    if len(checks) < _THREADED_SIGNATURES:
        return next((i for i, (h, key) in enumerate(checks) if not h.verify(key)), None)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda hk: hk[0].verify(hk[1]), checks, chunksize=64)
        return next((i for i, ok in enumerate(results) if not ok), None)


def _subtree_levels(hashes: NDArray[np.uint8]) -> list[bytes]:
    """Roots of the tree's aligned perfect subtrees: level k holds the ``n >> k`` roots of leaves
    ``[j * 2**k, (j + 1) * 2**k)``, concatenated. Any prefix's root is then a fold of at most
    log2(n) of them (:func:`_root_at`), so every signed head is checked for one tree's hashing.
    """
    levels = [np.ascontiguousarray(hashes, dtype=np.uint8).tobytes()]
    n = int(hashes.shape[0])
    sha = hashlib.sha256
    while n > 1:
        pairs = n // 2
        body = np.frombuffer(levels[-1], dtype=np.uint8, count=pairs * 64).reshape(pairs, 64)
        rows = np.empty((pairs, 65), dtype=np.uint8)
        rows[:, 0] = 1  # RFC 6962 interior node: SHA-256(0x01 || left || right)
        rows[:, 1:] = body
        buf = memoryview(rows.reshape(-1).data)
        levels.append(b"".join([sha(buf[i : i + 65]).digest() for i in range(0, pairs * 65, 65)]))
        n = pairs
    return levels


def _root_at(levels: Sequence[bytes], size: int) -> bytes:
    """Merkle root of the first ``size`` leaves, from :func:`_subtree_levels`."""
    frontier: list[bytes] = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            j = start >> bit
            frontier.append(levels[bit][j * 32 : j * 32 + 32])
            start += 1 << bit
    return _fold(frontier)


def _head_problems(heads: Sequence[SignedTreeHead], tip: tuple[int, list[bytes]] | None,
                   levels: Sequence[bytes], upto: int) -> list[tuple[int, str]]:
    """The store's sizes and roots against its signed heads and its tip.

    ``heads`` are every stored head, oldest first; ``tip`` the ``ledger_tip`` row (size, compact
    range), which every append moves together with the head it signs; ``levels`` the entries' tree
    (:func:`_subtree_levels`); ``upto`` the first entry found bad by the entry checks (else the number
    of entries): heads covering only entries before it are compared with the entries' roots.
    """
    n = len(levels[0]) // 32
    problems: list[tuple[int, str]] = []
    newest = heads[-1].tree_size if heads else 0
    size = newest if tip is None else tip[0]
    # 1. how many entries: the tip, the newest head and the stored entries agree
    if tip is None and (n or heads):
        problems.append((0, f"entry 0: the ledger's tip (ledger_tip, the size each append leaves) is missing, "
                            f"though {n} entries are stored and the newest signed head is at size {newest}"))
    if size > newest:  # the tip is ahead of the heads: heads signed after `newest` were deleted
        if n > newest:
            what = (f"entry 0: {n} entries are stored but no signed head exists" if not newest else
                    f"entry {newest}: not covered by any signed head")
            which = f"the signed heads after size {newest}" if newest else "its signed heads"
            problems.append((newest, f"{what}, though the ledger's tip records {size} appended entries: {which} "
                                     "were deleted"))
        else:
            problems.append((n, f"entry {n} is missing: the ledger's tip records {size} appended entries, but only "
                                f"{n} are stored and the newest signed head is at size {newest}: the newest entries "
                                "were deleted together with their signed heads"))
    else:
        if size < newest:
            problems.append((size, f"the ledger's tip records {size} appended entries, but a head is signed at size "
                                   f"{newest}: the tip was changed"))
        if n < newest:
            problems.append((n, f"entry {n} is missing: the head signed at size {newest} covers entries "
                                f"0..{newest - 1} and only {n} are stored"))
        elif n > newest:
            problems.append((newest, f"entry 0: {n} entries are stored but no signed head exists" if not newest else
                                     f"entry {newest}: not covered by any signed head (entries {newest}..{n - 1} "
                                     "were added outside the ledger)"))
    # 2. each head's root against the root of the entries it covers
    checked = [(h, _root_at(levels, h.tree_size)) for h in heads if h.tree_size <= min(upto, n)]
    matches = [r == h.root_hash for h, r in checked]
    last_match = max((i for i, m in enumerate(matches) if m), default=-1)
    changed = next((i for i in range(last_match) if not matches[i]), None)
    if changed is not None:  # a newer head covers these entries and matches them: this head was changed
        h = checked[changed][0]
        later = next(checked[i][0].tree_size for i in range(changed + 1, len(checked)) if matches[i])
        problems.append((h.tree_size, f"the signed head at size {h.tree_size}: its root is not the root of entries "
                                      f"0..{h.tree_size - 1}, which the newer head at size {later} covers and "
                                      "matches: a changed head"))
    if last_match < len(checked) - 1:  # the newest heads checked all mismatch
        h = checked[last_match + 1][0]
        first = checked[last_match][0].tree_size if last_match >= 0 else 0
        last_head, last_root = checked[-1]
        tip_root = _fold(tip[1]) if tip is not None and tip[0] == last_head.tree_size else None
        among = f"entry {first}" if h.tree_size - first == 1 else f"an entry among {first}..{h.tree_size - 1}"
        if tip_root is not None and tip_root == last_root:  # the tip, written with the head, agrees with the entries
            problems.append((h.tree_size, f"the signed head at size {h.tree_size}: its root is not the root of entries "
                                          f"0..{h.tree_size - 1}, with which the ledger's tip agrees: a changed head "
                                          f"(or {among} rewritten with a recomputed hash, and the tip recomputed)"))
        elif tip_root is not None and tip_root == last_head.root_hash:  # the tip agrees with the head
            problems.append((first, f"entry {first}: the Merkle root no longer matches the signed head at size "
                                    f"{h.tree_size} ({among} rewritten with a recomputed hash)"))
        else:
            problems.append((first, f"entry {first}: the Merkle root no longer matches the signed head at size "
                                    f"{h.tree_size} ({among} rewritten with a recomputed hash, or a changed head)"))
    elif checked and tip is not None and tip[0] == checked[-1][0].tree_size == newest and \
            _fold(tip[1]) != checked[-1][0].root_hash:
        problems.append((newest, f"the ledger's tip at size {newest} holds a root that is not the newest signed "
                                 "head's: the tip was changed (the next append would sign a root its entries do not "
                                 "have)"))
    return problems


def _check_entries(
    seqs: NDArray[np.int64],
    payloads: pa.ChunkedArray,
    stored: NDArray[np.uint8],
    *,
    misplaced: Callable[[], int | None],
    head: SignedTreeHead | None,
    signature_ok: bool | None,
    note: Callable[[str], None],
    key_id: str | None = None,
    check_heads: Callable[[NDArray[np.uint8], int], tuple[bytes, list[tuple[int, str]]]] | None = None,
) -> tuple[bytes, list[tuple[int, str]]]:
    """Every check of a ledger's entries against each other and its signed head: the Merkle root and
    the problems found, as ``(entry, message)`` with the first entry first.

    Shared by :meth:`Ledger.verify` (the store) and :func:`verify_export` (an exported file). ``seqs``
    are the entries' stored positions, in order; ``payloads`` their payloads and ``stored`` the leaf
    hashes stored beside them, as (n, 32). ``misplaced`` gives the row of the first entry whose payload
    does not bind its own position (``{"seq":N,``), or None. ``signature_ok`` is whether the head's
    signature verifies with the trusted key, whose id is ``key_id`` (default: the id the head states).
    ``check_heads`` (the store, which keeps every head and its tip) replaces the checks against the one
    ``head``: given the leaf hashes and the first entry found bad (else n), it returns the root and
    the problems of every head; without it (a file with one head) a root mismatch is not localised.
    """
    n = int(seqs.shape[0])
    problems: list[tuple[int, str]] = []
    # 1. positions: a gap is a deleted entry
    if n:
        off = np.flatnonzero(seqs != np.arange(n, dtype=np.int64))
        if off.size:
            k = int(off[0])
            if int(seqs[k]) > k and not bool(np.any(seqs[k:] == k)):
                problems.append((k, f"entry {k} is missing (the next stored entry is {int(seqs[k])})"))
            else:
                problems.append((k, f"entry {k}: position {k} holds entry {int(seqs[k])} (duplicated or out of order)"))
    # 2. leaf hashes and the sequence number inside each payload
    note("hashing payloads")
    computed = _hash_payloads(payloads) if n else np.zeros((0, 32), np.uint8)
    bad_hash = np.flatnonzero(np.any(computed != stored, axis=1)) if n else np.zeros(0, np.int64)
    if bad_hash.size:
        k = int(seqs[bad_hash[0]])
        problems.append((k, f"entry {k}: its payload does not hash to its stored leaf hash (changed payload or leaf hash)"))
    note("checking positions inside payloads")
    row = misplaced() if n else None
    if row is not None:
        k = int(seqs[row])
        problems.append((k, f"entry {k}: its payload says it is entry {_payload_seq(payloads, row)} (moved, reordered or renumbered)"))
    # 3. the root, against the signed head(s)
    if check_heads is not None:
        root, more = check_heads(computed, min((k for k, _m in problems), default=n))
        problems = sorted(problems + more, key=lambda p: p[0])
        return root, problems
    note("computing the Merkle root")
    root = root_of_array(computed)
    if head is not None:
        signed_size = head.tree_size
        if n < signed_size:
            problems.append((n, f"entry {n} is missing: the head signed at size {signed_size} covers entries 0..{signed_size - 1} and only {n} are stored"))
        elif n > signed_size:
            problems.append((signed_size, f"entry {signed_size}: not covered by any signed head (entries {signed_size}..{n - 1} were added outside the ledger)"))
        elif root != head.root_hash and not problems:
            problems.append((0, "the Merkle root of the entries does not match the signed head, although every payload "
                                "hashes to its leaf hash (an entry rewritten with a recomputed hash, or a changed head); "
                                "one head cannot say which entry"))
        if not signature_ok:
            problems.append((signed_size, f"the signed head at size {signed_size} has an invalid signature for key "
                                          f"{key_id or head.key_id}"))
    elif n:
        problems.append((0, f"entry 0: {n} entries are stored but no signed head exists"))
    problems.sort(key=lambda p: p[0])
    return root, problems


def _verify_report(n: int, head: SignedTreeHead | None, root: bytes, signature_ok: bool | None,
                   problems: list[tuple[int, str]], t0: float, *, key_id: str | None = None,
                   key_source: str | None = None, warning: str | None = None) -> VerifyReport:
    first = problems[0] if problems else None
    return VerifyReport(
        ok=first is None,
        n_entries=n,
        signed_size=0 if head is None else head.tree_size,
        root_hash=root.hex(),
        signed_root=None if head is None else head.root_hash.hex(),
        head_signature_ok=signature_ok,
        first_bad=None if first is None else first[0],
        problem=None if first is None else first[1],
        seconds=round(time.perf_counter() - t0, 4),
        key_id=key_id if key_id is not None else (None if head is None else head.key_id),
        key_source=key_source,
        warning=warning,
    )


# offline copies ---------------------------------------------------------------------------------
def export_ledger(ledger: Ledger, path: Path) -> dict[str, Any]:
    """Write the ledger for outsiders: JSON lines, first the signed head with its public key, then
    one line per entry ``{"seq", "payload", "leaf_hash"}`` (payload as text; ``payload_b64`` when
    the stored bytes are not UTF-8). :func:`verify_export` checks such a file without crimelens' store.
    """
    head = ledger.latest_head()
    if head is None:
        raise NotFoundError("ledger export: the ledger is empty")
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"head": head.to_json(ledger.public_key(head.key_id))}) + "\n")
        for seq, payload in ledger.iter_payloads():
            line: dict[str, Any] = {"seq": seq, "leaf_hash": leaf_hash(payload).hex()}
            try:
                line["payload"] = payload.decode("utf-8")
            except UnicodeDecodeError:
                line["payload_b64"] = base64.b64encode(payload).decode("ascii")
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
    return {"file": str(path), "entries": n, "tree_size": head.tree_size, "root_hash": head.root_hash.hex()}


def verify_export(path: Path, public_key: bytes | None = None, *,
                  store_keys: Mapping[str, bytes] | None = None) -> VerifyReport:
    """Verify an exported ledger file as :meth:`Ledger.verify` checks the store: every entry's position,
    its payload against its leaf hash and the position bound inside it, the root, the head's signature.
    The first entry that does not match is named.

    Which key the signature is checked against (``VerifyReport.key_source``):

    * ``public_key`` (raw 32 bytes), the key you trust, e.g. from a head the agency published;
    * else ``store_keys`` (key id -> raw key: the ``ledger_keys`` of the store the export should come
      from), when there are any: a file whose key is not among them is refused, since it did not come
      from that store's ledger or was re-signed;
    * else the key inside the file, which only proves the file is self-consistent: the report carries
      :data:`FILE_KEY_WARNING` (a forger can re-sign an edited export with a key of their own).

    In every case the key id the head states must be the id of the public key the file carries (a
    re-signed head that kept the genuine id is refused), and the report's ``key_id`` is the id of the
    key actually used, computed from the key itself.
    """
    t0 = time.perf_counter()
    seqs: list[int] = []
    payloads: list[bytes] = []
    stored: list[bytes] = []
    misplaced: int | None = None
    with path.open(encoding="utf-8") as fh:
        line_no = 1
        try:
            first = json.loads(fh.readline())
            head = SignedTreeHead.from_json(first["head"])
            file_key = bytes.fromhex(first["head"]["public_key"]) if "public_key" in first["head"] else None
            if file_key is None and public_key is None:
                raise KeyError("the head carries no public_key")
            for i, line in enumerate(fh):
                line_no = i + 2
                row = json.loads(line)
                seq = int(row["seq"])
                payload = (row["payload"].encode("utf-8") if "payload" in row
                           else base64.b64decode(row["payload_b64"]))
                if misplaced is None and not payload.startswith(b'{"seq":%d,' % seq):
                    misplaced = i
                seqs.append(seq)
                payloads.append(payload)
                stored.append(_hex_bytes(row.get("leaf_hash")))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {line_no}: {type(exc).__name__}: {exc}") from exc
    n = len(seqs)
    size = head.tree_size
    head_problems: list[tuple[int, str]] = []
    if file_key is not None and key_id_of(file_key) != head.key_id:
        head_problems.append((size, f"the head at size {size} says it is signed by key {head.key_id}, but the public "
                                    f"key it carries is key {key_id_of(file_key)}: the head was re-signed or edited"))
    warning = None
    if public_key is not None:
        key, source = public_key, "given"
    elif store_keys:
        source = "store"
        known = {k: v for k, v in store_keys.items() if v == file_key} if file_key is not None else (
            {head.key_id: store_keys[head.key_id]} if head.key_id in store_keys else {})
        key = next(iter(known.values()), file_key or b"")
        if not known:
            shown = key_id_of(file_key) if file_key is not None else head.key_id
            head_problems.append((size, f"the head at size {size} is signed with key {shown}, and the store signs its "
                                        f"ledger with key(s) {sorted(store_keys)}: this export did not come from "
                                        "this store's ledger, or it was re-signed"))
    else:
        assert file_key is not None
        key, source = file_key, "file"
        warning = FILE_KEY_WARNING.format(key_id=key_id_of(key))
    key_id = key_id_of(key) if key else head.key_id
    sig_ok = head.verify(key)
    root, problems = _check_entries(
        np.array(seqs, dtype=np.int64), pa.chunked_array([pa.array(payloads, pa.binary())]),
        _fixed32(pa.chunked_array([pa.array(stored, pa.binary())])) if n else np.zeros((0, 32), np.uint8),
        misplaced=lambda: misplaced, head=head, signature_ok=sig_ok, note=lambda _msg: None,
        key_id=key_id,
    )
    if not sig_ok and public_key is not None and file_key is not None and file_key != public_key:
        problems = [(k, m + f" (the file's head carries key {key_id_of(file_key)}, not the key you trust)"
                     if m.startswith(f"the signed head at size {size} has an invalid signature") else m)
                    for k, m in problems]
    problems = sorted(head_problems + problems, key=lambda p: p[0])
    return _verify_report(n, head, root, sig_ok, problems, t0, key_id=key_id, key_source=source, warning=warning)


def _hex_bytes(value: Any) -> bytes:
    """A hex leaf hash from a file; anything else (missing, not hex) as empty bytes, which match no digest."""
    try:
        return bytes.fromhex(str(value)) if value is not None else b""
    except ValueError:
        return b""
