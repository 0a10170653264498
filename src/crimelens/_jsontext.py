"""JSON text that any reader takes: numpy values as numbers, times as ISO-8601, no NaN.

The CLI's ``--json`` and the API write their documents through :func:`dumps`, so a per-period
metric that is undefined (a week without records has no hit rate) is ``null`` in both, never the
``NaN`` that strict parsers (``jq``, browsers' ``JSON.parse``) refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np

__all__ = ["default", "dumps", "finite"]


def default(value: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and arrays, times, bytes (hex), else ``str``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by ``None``.

    >>> finite({"pai": float("nan"), "n": [1.5, float("inf")]})
    {'pai': None, 'n': [1.5, None]}
    """
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, *, to_json: Callable[[Any], Any] = default, **kwargs: Any) -> str:
    """``value`` as strict JSON text (``allow_nan=False``); ``to_json`` turns what JSON lacks into
    what it has (the CLI keeps its ``str``), ``kwargs`` go to :func:`json.dumps`."""
    return json.dumps(finite(json.loads(json.dumps(value, default=to_json))), allow_nan=False, **kwargs)
