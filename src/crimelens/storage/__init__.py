"""Storage: the ``Store`` protocol and its embedded DuckDB implementation."""

from crimelens.storage._duckdb import DuckDBStore, IngestRecord, damage_error
from crimelens.storage._protocol import Store

__all__ = ["DuckDBStore", "IngestRecord", "Store", "damage_error"]
