"""Shared CLI options and rendering helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crimelens.config import Settings, load_settings
from crimelens.governance import Actor
from crimelens.services import Context, open_context

__all__ = [
    "DbOpt",
    "JsonOpt",
    "PurposeOpt",
    "cli_actor",
    "cli_context",
    "console",
    "emit",
    "table",
]

console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB store file [env CRIMELENS_DB; default ./crimelens.duckdb]."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PurposeOpt = Annotated[
    str,
    typer.Option("--purpose", help="Stated purpose recorded in the ledger (local use: 'research')."),
]


def cli_settings(db: Path | None) -> Settings:
    return load_settings(db=db)


@contextmanager
def cli_context(db: Path | None) -> Iterator[Context]:
    with open_context(cli_settings(db)) as ctx:
        yield ctx


def cli_actor(settings: Settings) -> Actor:
    return Actor.local(settings.user, settings.role)


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as one JSON document, or render it for a person."""
    if as_json:
        typer.echo(json.dumps(data, default=str, ensure_ascii=False, indent=None))
    elif render is not None:
        render(data)
    else:
        console.print_json(json.dumps(data, default=str))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)
