"""Render the CLI reference (docs/cli.md) from the commands' own help.

``python -m crimelens.cli._docs > docs/cli.md`` regenerates it; a test checks the
checked-in file is current, so the reference never drifts from ``--help``.
"""

from __future__ import annotations

from typing import Any

import typer

from crimelens.cli._app import app

__all__ = ["command_paths", "render_cli_reference"]


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            out.extend(_walk(cmd.commands[name], [*path, name]))
    return out


def command_paths() -> list[str]:
    """Every command path, e.g. 'forecast run'."""
    root = typer.main.get_command(app)
    return [" ".join(p) for p, _ in _walk(root, []) if p]


def render_cli_reference() -> str:
    root = typer.main.get_command(app)
    lines = ["# CLI reference", "", "Generated from the commands' own `--help` by "
             "`python -m crimelens.cli._docs > docs/cli.md`; a test keeps it current.", ""]
    for path, cmd in _walk(root, []):
        if not path:
            continue
        lines.append(f"{'#' * min(len(path) + 1, 4)} `crimelens {' '.join(path)}`")
        lines.append("")
        help_text = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ")
        if help_text:
            lines.append(help_text)
            lines.append("")
        if hasattr(cmd, "commands") and not getattr(cmd, "invoke_without_command", False):
            continue
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            lines.append("| argument / option | help |")
            lines.append("| --- | --- |")
            for p in params:
                if p.param_type_name == "argument":
                    name = f"`{p.name.upper() if p.name else ''}`"
                else:
                    name = ", ".join(f"`{o}`" for o in p.opts)
                help_p = " ".join(str(getattr(p, "help", "") or "").split())
                default = getattr(p, "default", None)
                if p.param_type_name == "option" and default not in (None, False, ()) and not callable(default):
                    help_p += f" [default: {default}]"
                lines.append(f"| {name} | {help_p.replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_cli_reference(), end="")
