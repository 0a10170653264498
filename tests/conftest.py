"""Shared fixtures: real data from ../shared/data, real stores in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process as the console script does: (exit code, stdout, stderr)."""
    from crimelens.cli import main

    try:
        returned = main(list(args))
        code = returned if isinstance(returned, int) else 0  # click returns typer.Exit's code when not standalone
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """:func:`run_cli` with ``--json``: (exit code, the JSON document, or the text when it is not JSON)."""
    code, out, err = run_cli(capsys, *args, "--json")
    text = out.strip() or err.strip()
    try:
        return code, json.loads(text) if text else None
    except ValueError:
        return code, text


def copy_store(src: Path, dst: Path) -> Path:
    """A copy of a store file with its ledger signing key folder (``<db>.keys``), for one test to change."""
    shutil.copyfile(src, dst)
    shutil.copytree(Path(f"{src}.keys"), Path(f"{dst}.keys"))
    return dst
