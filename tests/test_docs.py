"""The docs name every setting, error class and CLI command, and the CLI reference is current."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import crimelens
from crimelens import errors
from crimelens.cli._docs import command_paths, render_cli_reference
from crimelens.config import Settings
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def test_cli_reference_is_current() -> None:
    checked_in = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert checked_in == render_cli_reference(), (
        "docs/cli.md is stale: run `.venv/bin/python -m crimelens.cli._docs > docs/cli.md`"
    )


@pytest.mark.parametrize("path", command_paths())
def test_every_command_is_in_the_cli_reference(path: str) -> None:
    assert f"`crimelens {path}`" in (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"CRIMELENS_{name.upper()}" in (DOCS / "settings.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("cls", [c for _, c in inspect.getmembers(errors, inspect.isclass)
                                 if issubclass(c, errors.CrimelensError)], ids=lambda c: c.__name__)
def test_every_error_class_is_in_the_catalogue(cls: type[errors.CrimelensError]) -> None:
    rows = [line for line in (DOCS / "errors.md").read_text(encoding="utf-8").splitlines()
            if line.startswith(f"| `{cls.__name__}` |")]
    assert len(rows) == 1, f"{cls.__name__} has no row in docs/errors.md"
    assert f"| {cls.exit_code} | {cls.http_status} |" in rows[0]


def _modules_with_examples() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(crimelens.__path__, "crimelens.")]
    finder = doctest.DocTestFinder()
    return [n for n in names if any(t.examples for t in finder.find(importlib.import_module(n)))]


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples_run(module: str) -> None:
    """Every ``>>>`` example in the package's docstrings gives the output it shows."""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} docstring examples failed (output above)"
