"""The small protocol every store implements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import pandas as pd

from crimelens.domain import Area, IncidentTable, TimeWindow

__all__ = ["Store"]


class Store(Protocol):
    """What services need from storage. ``DuckDBStore`` is the real one."""

    def transaction(self) -> AbstractContextManager[None]: ...

    def incidents(
        self,
        *,
        dataset: str | None = None,
        offense: str | list[str] | None = None,
        period: TimeWindow | None = None,
    ) -> IncidentTable: ...

    def insert_incidents(self, frame: pd.DataFrame, *, ingest_id: str) -> int: ...

    def areas(self, *, dataset: str | None = None) -> list[Area]: ...

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame: ...

    def iter_rows(self, sql: str, params: list[Any] | None = None) -> Iterator[tuple[Any, ...]]: ...
