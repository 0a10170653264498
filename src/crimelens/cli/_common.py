"""Shared CLI options and rendering helpers."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crimelens._jsontext import dumps as strict_json
from crimelens.config import Settings, load_settings
from crimelens.errors import InputError, InvalidParameterError, NotFoundError
from crimelens.governance import Actor

if TYPE_CHECKING:  # the services bring pandas and DuckDB: loaded when a command runs, not for --help
    from crimelens.services import Context

__all__ = [
    "DbOpt",
    "JsonOpt",
    "PurposeOpt",
    "cli_actor",
    "cli_context",
    "console",
    "emit",
    "esc",
    "hex_public_key",
    "table",
]

# emoji=False: ':end:' in a file name or a narrative prints as written, not as an emoji
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB store file (env CRIMELENS_DB; default ./crimelens.duckdb)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
PurposeOpt = Annotated[
    str,
    typer.Option("--purpose", help="Stated purpose recorded in the ledger (local use: 'research')."),
]
RecordsOpt = Annotated[str, typer.Option(
    "--records", help="incident: each incident once (the further records ID#2, ID#3, ... that an ingest numbered "
                      "for a repeated id, one row per victim or offence, are left out); all: every record.")]


def records_note(d: dict[str, Any]) -> None:
    """Say how many further records of incidents already counted an analysis left out (none: nothing)."""
    if d.get("n_records_left_out"):
        console.print(f"each incident once: {d['n_records_left_out']:,} further record(s) of incidents already "
                      "counted (ids ID#2, ID#3, ...: one row per victim or offence) left out; --records all keeps them")


def cli_settings(db: Path | None) -> Settings:
    settings = load_settings(db=db)
    check_folder_settings(settings)
    return settings


def check_folder_settings(settings: Settings) -> None:
    """Refuse a ``CRIMELENS_KEY_DIR`` or ``CRIMELENS_EVIDENCE_DIR`` that names a folder that cannot be
    made or used (``/proc/nope``, a file, a read-only place), before a command gets half-way.

    A folder that is set and missing is made here (the commands would make it on first use).
    """
    for name, folder in (("CRIMELENS_KEY_DIR", settings.key_dir), ("CRIMELENS_EVIDENCE_DIR", settings.evidence_dir)):
        if folder is None:
            continue
        what = "the ledger's signing key" if name == "CRIMELENS_KEY_DIR" else "the evidence files"
        try:
            if folder.exists() and not folder.is_dir():
                raise NotADirectoryError(20, "it is a file, not a folder")
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidParameterError(
                f"setting {name}: got {str(folder)!r}, which cannot be used as a folder ({exc.strerror or exc}); "
                f"expected a folder this user can create and write, for {what} (unset it for the default "
                "beside the store; see docs/settings.md)") from None


def store_exists(settings: Settings) -> bool:
    """Whether the settings name a store already there (an in-memory one always is)."""
    return str(settings.db) == ":memory:" or settings.db.exists()


def _require_store(settings: Settings, db: Path | None) -> None:
    """Refuse a store file that does not exist: a mistyped ``--db`` must not read as an empty store.

    ``ledger verify`` on a path with a typo would otherwise create a new store and report that its
    empty ledger verifies.
    """
    if store_exists(settings):
        return
    where = settings.db
    if db is not None:
        source = "--db"
    elif os.environ.get("CRIMELENS_DB"):
        source = "CRIMELENS_DB"
    else:
        source = "the default; give --db or set CRIMELENS_DB"
    raise NotFoundError(
        f"no store at {str(where)!r} ({source}): expected an existing store file. Check the path; "
        "`crimelens ingest FILE` or `crimelens synth` makes a new store"
    )


@contextmanager
def cli_context(db: Path | None, *, create: bool = False) -> Iterator[Context]:
    """The store named by ``--db`` (or the settings); it must exist unless the command makes one.

    Commands that take data in (ingest, areas, synth, evidence, redaction, a first user, a model card,
    fitting from a file) pass ``create=True``; commands that read or act on stored data do not.
    """
    from crimelens.services import open_context

    settings = cli_settings(db)
    if not create:
        _require_store(settings, db)
    with open_context(settings) as ctx:
        # --as names a registered user without a secret: each entry also says who actually ran it
        ctx.ledger.origin = {"channel": "cli", "os_user": _os_user(), "host": socket.gethostname()}
        yield ctx


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container without /etc/passwd entry)
        return f"uid {os.getuid()}"


def cli_actor(settings: Settings) -> Actor:
    return Actor.local(settings.user, settings.role)


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as one JSON document, or render it for a person."""
    if as_json:  # strict JSON: an undefined figure (NaN) is null, as in the API
        typer.echo(strict_json(data, to_json=str, ensure_ascii=False))
    elif render is not None:
        render(data)
    else:
        console.print_json(strict_json(data, to_json=str))


def esc(value: Any) -> str:
    """``value`` as text for a markup string: names, paths and values from files print as written.

    Without it ``report[final].csv`` prints as ``report.csv`` and a value such as ``[/b]`` stops
    the command with a markup error.
    """
    return escape(str(value))


_WRAP_FROM = 28  # a column wider than this many characters wraps; narrower ones keep their width


def _cell(value: Any) -> Text:
    return value if isinstance(value, Text) else Text("" if value is None else str(value))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print rows as a table; cells are plain text (a :class:`~rich.text.Text` keeps its style).

    A narrow column keeps its width and long ones wrap. When even that does not fit the terminal,
    the columns that hold one value in every row are printed once above the table (``file``,
    ``reason`` of a quarantine list); if the rest still does not fit, each row prints as a block of
    ``column  value`` lines. Nothing is cut to an ellipsis.
    """
    cells = [[_cell(v) for v in [*r, *[None] * (len(columns) - len(r))]] for r in rows]
    widths = [max([cell_len(c), *(max((cell_len(line) for line in r[i].plain.split("\n")), default=0)
                                  for r in cells)])
              for i, c in enumerate(columns)]

    def fits(keep: list[int]) -> bool:
        return sum(min(widths[i], _WRAP_FROM) for i in keep) + 3 * len(keep) + 1 <= console.width

    keep = list(range(len(columns)))
    if cells and not fits(keep):
        same = [i for i in keep if len(cells) > 1 and len({r[i].plain for r in cells}) == 1]
        rest = [i for i in keep if i not in same]
        if not same or not rest or not fits(rest):
            _records(title, columns, cells)
            return
        console.print(Text(title, style="bold"))
        shared = Table.grid(padding=(0, 2))
        shared.add_column(no_wrap=True, style="bold")
        shared.add_column()
        for i in same:
            shared.add_row(Text(columns[i]), cells[0][i])
        console.print(shared)
        title, keep = "", rest
    t = Table(title=Text(title) if title else None, show_lines=False)
    for i in keep:
        t.add_column(Text(columns[i]), no_wrap=widths[i] <= _WRAP_FROM, min_width=min(widths[i], _WRAP_FROM))
    for r in cells:
        t.add_row(*(r[i] for i in keep))
    console.print(t)


def _records(title: str, columns: list[str], cells: list[list[Text]]) -> None:
    console.print(Text(title, style="bold"))
    key = max(cell_len(c) for c in columns)
    for n, r in enumerate(cells):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=key, style="bold")
        grid.add_column()
        for c, v in zip(columns, r, strict=True):
            grid.add_row(Text(c), v)
        if n:
            console.print()
        console.print(grid)


def hex_public_key(value: str | None) -> bytes | None:
    """The raw key of ``--public-key HEX`` (None when not given)."""
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise InputError(f"--public-key: got {value!r}; expected 64 hex digits, the raw Ed25519 public key of a "
                         "published head (`crimelens ledger head --json`, field public_key)")
    return key
