"""Every command's help prints its text as written.

The help is drawn with Rich, which reads square brackets as markup and ``:name:`` as an emoji:
``[env CRIMELENS_DB; default ./crimelens.duckdb]`` used to vanish from the ``--db`` help of every
command, and ``START:END:TYPE`` printed as ``START🔚TYPE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from crimelens.cli import app


def _commands(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_help_text_is_printed_verbatim() -> None:
    runner = CliRunner()
    commands = list(_commands(typer.main.get_command(app), []))
    assert len(commands) > 80  # the whole tree, groups and their commands
    missing = []
    for path, cmd in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "3000"})
        assert result.exit_code == 0, (path, result.output)
        shown = _flat(result.output)
        texts = [p.help for p in cmd.params if getattr(p, "help", None)]
        texts += [para for para in (cmd.help or "").split("\n\n")]
        missing += [(" ".join(path), t) for t in texts if _flat(t) and _flat(t) not in shown]
    assert not missing, missing
