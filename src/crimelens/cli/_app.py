"""The root Typer app and its one error handler.

Every module in this package whose name does not start with ``_`` is a command
module: it defines ``register(app)`` and adds its commands or groups there.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException as _TyperClickException
from typer._click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp

from crimelens import __version__
from crimelens.errors import CrimelensError

__all__ = ["app", "main"]

app = typer.Typer(
    name="crimelens",
    help=(
        "crimelens: forecasts of recorded incidents, series linkage, risk audits, evidence and "
        "governance, with every use in a tamper-evident ledger."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crimelens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """crimelens command line."""


def _register_all() -> None:
    package = sys.modules[__package__ or "crimelens.cli"]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def _store_named(args: list[str]) -> str:
    """The store a command line names (``--db``, else ``CRIMELENS_DB``, else the default), for a message."""
    for i, a in enumerate(args):
        if a == "--db" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--db="):
            return a[len("--db="):]
    return os.environ.get("CRIMELENS_DB") or "crimelens.duckdb"


def _report(exc: CrimelensError, args: list[str]) -> None:
    if _wants_json(args):
        typer.echo(json.dumps({"ok": False, "error": str(exc), "type": type(exc).__name__,
                               "status": exc.http_status}))
    else:
        Console(stderr=True, emoji=False).print(f"[bold red]{type(exc).__name__}:[/] {escape(str(exc))}",
                                                highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and map our errors to exit codes (and JSON with ``--json``).

    A full disk (DuckDB's or Python's ``No space left on device``) is told as the catalogued
    :class:`~crimelens.errors.StoreFullError` wherever it surfaces, not as a traceback; unknown
    ``CRIMELENS_*`` variables are named on stderr once.
    """
    from crimelens.config import warn_unknown_settings

    args = list(sys.argv[1:] if argv is None else argv)
    warn_unknown_settings(lambda line: typer.echo(line, err=True))
    try:
        result = app(args=args, standalone_mode=False, prog_name="crimelens")
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            sys.exit(result)  # without standalone mode, click returns typer.Exit codes instead of raising
        return result
    except CrimelensError as exc:
        _report(exc, args)
    except _NoArgsIsHelp:
        sys.exit(0)  # the group's help has been printed
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.ClickException, _TyperClickException) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, typer.Abort):
        Console(stderr=True).print("Aborted.")
        sys.exit(1)
    except Exception as exc:
        if isinstance(exc, RuntimeError) and str(exc) == "Query interrupted":
            # Ctrl-C inside a DuckDB statement (e.g. while a new store runs its migrations): DuckDB raises
            # this instead of KeyboardInterrupt and rolls the statement's transaction back; one line, as an
            # interrupt anywhere else ends
            Console(stderr=True).print("Interrupted (Ctrl-C): the store's open transaction was rolled back.")
            sys.exit(130)
        # DuckDB and pandas load only once something failed
        from crimelens.storage._duckdb import full_disk_error

        full = full_disk_error(_store_named(args), exc)
        if full is None:
            raise
        _report(full, args)
