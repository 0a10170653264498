"""Ingest: files -> validated, projected incidents + a quarantine of refused rows + provenance."""

from crimelens.ingest._api import (
    REASON_DETAILS,
    FileDigest,
    IngestResult,
    file_digest,
    file_sha256,
    read_file,
    reason_kind,
    resolve_layout,
)
from crimelens.ingest._layout import Layout, builtin_layouts, detect_layout, load_layout
from crimelens.ingest._project import utm_crs_for
from crimelens.ingest._write import write_canonical

__all__ = [
    "REASON_DETAILS",
    "FileDigest",
    "IngestResult",
    "Layout",
    "builtin_layouts",
    "detect_layout",
    "file_digest",
    "file_sha256",
    "load_layout",
    "read_file",
    "reason_kind",
    "resolve_layout",
    "utm_crs_for",
    "write_canonical",
]
