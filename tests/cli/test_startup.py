"""The CLI starts without the model libraries: a governance or ledger command should not pay the
seconds that importing scikit-learn and numba cost (5.2 s -> 2.4 s for `crimelens --version` here).
Help and usage errors do not load the services either: pandas, DuckDB and the models load when a
command runs (``cli._lazy``); on this project's 2-core machines that import was most of the rest
(``benchmarks/cli_startup.py`` measures it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared


def test_importing_the_cli_leaves_the_model_libraries_alone() -> None:
    code = ("import sys, crimelens.cli, crimelens.errors as e; "
            "print(sorted(m for m in ('sklearn', 'numba', 'lightgbm', 'scipy') if m in sys.modules)); "
            "print(issubclass(e.NotFittedError, __import__('sklearn.exceptions').exceptions.NotFittedError))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]", out
    # the error is still scikit-learn's subclass once asked for (its estimator checks need that)
    assert out[1] == "True"


HEAVY = ("pandas", "duckdb", "sklearn", "lightgbm", "numba", "matplotlib")  # pyarrow (50 ms): the ledger
PROBE = """
import sys
from crimelens.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["deployments", "--help"], ["ingest", "--help"],
                                  ["forecast", "run", "--help"], ["ledger", "list", "--bogus"]])
def test_help_and_usage_errors_do_not_load_the_services(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=120)
    last = done.stdout.strip().splitlines()[-1]
    assert last == "LOADED []", (last, done.stderr[-2000:])
    assert "Usage" in done.stdout + done.stderr


def test_a_command_still_loads_them_when_it_runs(tmp_path: Path) -> None:
    """The stand-ins import for real on first use: an ingest (``cli.ingest``'s lazy services) lands its rows."""
    args = ["ingest", str(shared("sf_robbery/san_francisco_robbery.csv")), "--db", str(tmp_path / "c.duckdb"), "--json"]
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=120)
    assert '"n_landed": 951' in done.stdout, done.stderr[-2000:]
    assert "'duckdb'" in done.stdout.strip().splitlines()[-1] and "'pandas'" in done.stdout.strip().splitlines()[-1]
