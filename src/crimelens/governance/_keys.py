"""The ledger's Ed25519 signing key and signed tree heads.

A signed tree head (STH) states "the ledger had ``tree_size`` entries and this
root at this time", signed with the operator's Ed25519 key (RFC 8032, through
``cryptography``). The signed bytes are fixed and documented so that anyone can
check a head without crimelens::

    b"crimelens/ledger/sth/v1\\x00" || uint64_be(tree_size) || uint64_be(timestamp_ms) || root (32 bytes)

The key lives in ``settings.key_dir`` (default ``<db>.keys/``) as an unencrypted
PKCS#8 PEM file created on the ledger's first use with mode 0600. Its public half is stored in
the ``ledger_keys`` table and exported by ``crimelens ledger head``. A store whose ledger has
entries never gets a new key by itself: copied without its key folder it can be verified
(read-only, against ``ledger_keys``) but not written to.

Failure modes: whoever holds the key file can re-sign a rewritten ledger. Keep it
off the database host where you can, and publish heads (and the public key)
somewhere the operator cannot edit, so outsiders can hold the log to them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crimelens.errors import InputError

__all__ = ["KEY_FILE", "SignedTreeHead", "key_id_of", "load_key", "load_or_create_key", "raw_public_key"]

KEY_FILE = "ledger-ed25519.pem"
_STH_PREFIX = b"crimelens/ledger/sth/v1\x00"


def raw_public_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: bytes) -> str:
    """Short identifier of a public key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def load_key(key_dir: Path) -> Ed25519PrivateKey | None:
    """The signing key in ``key_dir``, or None when there is none; creates and changes nothing."""
    path = key_dir / KEY_FILE
    if not path.exists():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"ledger key {str(path)!r}: got a {type(key).__name__}; expected an Ed25519 private key")
    return key


def load_or_create_key(key_dir: Path) -> Ed25519PrivateKey:
    """Load the signing key from ``key_dir``, creating folder (0700) and key (0600) on first use.

    Only for a ledger that has no entries yet (or a new signer started on purpose): a ledger that
    has entries loads its key with :func:`load_key` and refuses to go on without it
    (:meth:`crimelens.governance.Ledger.signing_key`).
    """
    key_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # e.g. a read-only mount; the file mode still protects the key
        os.chmod(key_dir, 0o700)
    existing = load_key(key_dir)
    if existing is not None:
        return existing
    path = key_dir / KEY_FILE
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A signed statement of the ledger's size and Merkle root at a time."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    key_id: str
    signature: bytes

    @staticmethod
    def message_for(tree_size: int, timestamp_ms: int, root_hash: bytes) -> bytes:
        """The exact bytes that are signed."""
        return _STH_PREFIX + tree_size.to_bytes(8, "big") + timestamp_ms.to_bytes(8, "big") + root_hash

    def message(self) -> bytes:
        return self.message_for(self.tree_size, self.timestamp_ms, self.root_hash)

    @classmethod
    def sign(cls, key: Ed25519PrivateKey, tree_size: int, root_hash: bytes, timestamp_ms: int) -> SignedTreeHead:
        sig = key.sign(cls.message_for(tree_size, timestamp_ms, root_hash))
        return cls(tree_size, root_hash, timestamp_ms, key_id_of(raw_public_key(key)), sig)

    def verify(self, public_key: bytes) -> bool:
        """True when the signature is valid for ``public_key`` (32 raw bytes)."""
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(self.signature, self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self, public_key: bytes | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "signed_message": "b'crimelens/ledger/sth/v1\\x00' || u64be(tree_size) || u64be(timestamp_ms) || root_hash",
        }
        if public_key is not None:
            out["public_key"] = public_key.hex()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedTreeHead:
        return cls(
            int(data["tree_size"]),
            bytes.fromhex(str(data["root_hash"])),
            int(data["timestamp_ms"]),
            str(data["key_id"]),
            base64.b64decode(str(data["signature"])),
        )
