"""Evidence tests run with networking disabled: any attempt to open a socket fails the test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crimelens.config import Settings
from crimelens.services import Context, open_context


class NetworkBlocked(RuntimeError):
    """Raised when code under test tries to reach the network."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkBlocked(f"network access attempted in an offline test: {args[:2]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    """A real store in tmp_path with its evidence folder beside it."""
    with open_context(Settings(db=tmp_path / "ev.duckdb", user="custodian", progress=False)) as c:
        yield c
