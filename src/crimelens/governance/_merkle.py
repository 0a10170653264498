"""RFC 6962 Merkle trees: tree heads, inclusion proofs and consistency proofs.

Method
------
Certificate Transparency (RFC 6962 §2.1, restated in RFC 9162 §2.1) hashes a
leaf as ``SHA-256(0x00 || data)`` and an interior node as
``SHA-256(0x01 || left || right)``. The tree over ``n`` leaves splits at ``k``,
the largest power of two *strictly* smaller than ``n``; the empty tree's hash is
``SHA-256("")``. The distinct prefixes stop a leaf from being passed off as a
node (second-preimage attack).

The same tree is obtained level by level: pair neighbours from the left and
carry a lone last node up unchanged. :func:`root_of_array` uses that form so a
million leaves are combined with one ``hashlib`` call per node over a single
contiguous buffer (no recursion, no per-node Python objects beyond the digest).

Proofs follow the RFC's ``PATH`` and ``PROOF``/``SUBPROOF`` definitions;
verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 (bit-walking over the
index), so it can be checked by any conforming implementation.

Failure modes
-------------
A Merkle root only says that *these* leaves, in *this* order, were hashed.
It cannot tell which leaf differs from another tree's; that needs the leaves
(see :class:`crimelens.governance.Ledger.verify`). Proofs are only as good as
the head they are checked against: publish signed heads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InputError

__all__ = [
    "EMPTY_ROOT",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hashes",
    "node_hash",
    "root_of",
    "root_of_array",
    "verify_consistency",
    "verify_inclusion",
]

#: The hash of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE + left + right).digest()


def leaf_hashes(payloads: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 leaf hashes of many payloads."""
    sha = hashlib.sha256
    return [sha(_LEAF + p).digest() for p in payloads]


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_array(hashes: NDArray[np.uint8]) -> bytes:
    """Root of the tree whose leaf hashes are the rows of an (n, 32) uint8 array.

    Level by level: each level is one contiguous buffer, so each node costs one
    ``hashlib`` call on a 65-byte slice. Equivalent to the RFC's recursive MTH.
    """
    n = int(hashes.shape[0])
    if n == 0:
        return EMPTY_ROOT
    if hashes.ndim != 2 or hashes.shape[1] != 32:
        raise InputError(f"root_of_array: got shape {hashes.shape}; expected (n, 32) leaf hashes")
    level = np.ascontiguousarray(hashes, dtype=np.uint8).tobytes()
    sha = hashlib.sha256
    while n > 1:
        pairs = n // 2
        # prefix every 64-byte pair with 0x01 in one numpy operation, then hash each 65-byte row
        body = np.frombuffer(level, dtype=np.uint8, count=pairs * 64).reshape(pairs, 64)
        rows = np.empty((pairs, 65), dtype=np.uint8)
        rows[:, 0] = 1
        rows[:, 1:] = body
        buf = memoryview(rows.reshape(-1).data)
        out = b"".join([sha(buf[i : i + 65]).digest() for i in range(0, pairs * 65, 65)])
        if n % 2:
            out += level[(n - 1) * 32 : n * 32]
        level = out
        n = pairs + (n % 2)
    return level[:32]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Root (MTH) of a list of 32-byte leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    arr = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(len(leaves), 32)
    return root_of_array(arr)


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaves[lo]
    return root_of(leaves[lo:hi])


def _check_range(name: str, value: int, lo: int, hi: int, what: str) -> None:
    if not lo <= value <= hi:
        raise InputError(f"{name}: got {value}; expected {lo} <= {what} <= {hi}")


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """Audit path (RFC 6962 §2.1.1 ``PATH(m, D[n])``) for leaf ``index`` in the first ``size`` leaves.

    The path lists sibling hashes from the leaf upward.
    """
    n = len(leaves) if size is None else size
    _check_range("inclusion_proof size", n, 1, len(leaves), "size")
    _check_range("inclusion_proof index", index, 0, n - 1, "index")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    # walk down, collecting siblings; reverse at the end (siblings from the leaf up)
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_mth(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int | None = None) -> list[bytes]:
    """Consistency proof (RFC 6962 §2.1.2 ``PROOF(m, D[n])``) between tree sizes ``old_size`` and ``new_size``."""
    n = len(leaves) if new_size is None else new_size
    _check_range("consistency_proof new_size", n, 0, len(leaves), "new_size")
    _check_range("consistency_proof old_size", old_size, 0, n, "old_size")
    if old_size == 0 or old_size == n:
        return []
    proof: list[bytes] = []
    # iterative SUBPROOF(m, D[lo:hi], b); items are appended in the RFC's order
    lo, hi, m, complete = 0, n, old_size, True
    tail: list[bytes] = []
    while True:
        if m == hi - lo:
            if not complete:
                proof.append(_mth(leaves, lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            tail.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            tail.append(_mth(leaves, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    proof.extend(reversed(tail))
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Check an audit path (RFC 9162 §2.1.3.2). Never raises on bad input; returns False."""
    if not (0 <= index < size) or len(leaf) != 32 or len(root) != 32:
        return False
    if any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof (RFC 9162 §2.1.4.2). Never raises on bad input; returns False."""
    if not (0 <= old_size <= new_size) or len(old_root) != 32 or len(new_root) != 32:
        return False
    if any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
