"""Ctrl-C inside a DuckDB statement reaches Python as RuntimeError('Query interrupted'), not KeyboardInterrupt:
the CLI ends it as an interrupt (one line, exit 130), wherever it lands (a tester saw a traceback when it
landed in a new store's migrations)."""

from __future__ import annotations

import os
import signal
import threading

import duckdb
import pytest
import typer

from crimelens.cli import _app
from tests.conftest import run_cli


def test_a_duckdb_statement_interrupted_ends_with_one_line_and_exit_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    slow = typer.Typer()

    @slow.command()
    def count() -> None:  # a real DuckDB query and a real SIGINT to this process while it runs
        con = duckdb.connect()
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        con.execute("SELECT count(*) FROM range(100000000000) a")

    monkeypatch.setattr(_app, "app", slow)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background runner may ignore SIGINT
    try:
        with pytest.raises(RuntimeError, match=r"^Query interrupted$"):  # what DuckDB raises, without the CLI
            slow(args=[], standalone_mode=False)
        code, out, err = run_cli(capsys)
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 130 and out == ""
    assert err.strip() == "Interrupted (Ctrl-C): the store's open transaction was rolled back."
