"""The docs name every setting, error class and CLI command, and the CLI reference is current."""

from __future__ import annotations

import inspect

import pytest

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
