"""The command-line shell: parse, call a service, render. ``crimelens --help``."""

from crimelens.cli._app import app, main

__all__ = ["app", "main"]
