"""Shared fixtures: real data from ../shared/data, real stores in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crimelens.storage import DuckDBStore

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared(relative: str) -> Path:
    """A path under ../shared/data; fails under CI=true when missing, skips otherwise."""
    path = DATA / relative
    if not path.exists():
        message = f"shared data missing: {path}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """A fresh, real DuckDB store file per test."""
    with DuckDBStore.open(tmp_path / "t.duckdb") as s:
        yield s
