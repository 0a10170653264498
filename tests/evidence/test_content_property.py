"""Any single changed byte anywhere in stored content is caught by re-hashing."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from crimelens.evidence import ContentStore


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=4096), pos=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_flipped_byte_changes_the_rehash(data: bytes, pos: int, flip: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "item.bin"
        src.write_bytes(data)
        store = ContentStore(root / "vault")
        stored = store.put(src)
        assert store.rehash(stored.sha256) == (stored.sha256, len(data))
        i = pos % len(data)
        changed = bytearray(data)
        changed[i] ^= flip
        stored.path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        stored.path.write_bytes(bytes(changed))
        got = store.rehash(stored.sha256)
        assert got is not None and got[0] != stored.sha256
