"""Write incidents in crimelens's canonical layout (the format ``read_file`` detects itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from crimelens.domain import CANONICAL_COLUMNS, IncidentTable

__all__ = ["write_canonical"]

_TIME_COLUMNS = ("occurred_from", "occurred_to", "reported_at")


def write_canonical(table: IncidentTable, path: str | Path) -> Path:
    """Write ``table`` as a canonical CSV: ISO-8601 UTC times, M.O. attributes as columns.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from crimelens.domain import Incident
    >>> t = IncidentTable.from_incidents([Incident("a", "theft", "2020-01-01T10:00:00Z",
    ...     "2020-01-01T10:00:00Z", 440000.0, 4630000.0, crs="EPSG:32616", attrs={"entry": "door"})])
    >>> p = write_canonical(t, pathlib.Path(tempfile.mkdtemp()) / "i.csv")
    >>> p.read_text().splitlines()[0].split(",")[:4]
    ['incident_id', 'offense', 'offense_raw', 'occurred_from']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = table.frame
    out = pd.DataFrame()
    for name in CANONICAL_COLUMNS:
        if name in ("attrs", "dataset"):
            continue
        col = frame[name]
        if name in _TIME_COLUMNS:
            col = col.map(lambda t: t.isoformat() if pd.notna(t) else "")
        out[name] = col
    attrs = [json.loads(a) if isinstance(a, str) else {} for a in frame["attrs"]]
    keys = sorted({k for a in attrs for k in a})
    for key in keys:
        out[key] = [a.get(key) for a in attrs]
    out.to_csv(path, index=False, float_format="%.6f")
    return path

