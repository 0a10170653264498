"""Modules the commands need only once they run.

The services bring pandas, DuckDB and the models; importing them for ``crimelens --help``, a usage
error or shell completion cost two to three seconds on a 2-core machine. A command module names such
a module with :func:`lazy` (and imports it for real under ``TYPE_CHECKING``, so mypy still checks
every call); the first attribute read imports it.

>>> import sys
>>> json_module = lazy("json")
>>> json_module.dumps([1])
'[1]'
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy"]


class _Lazy(ModuleType):
    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        return getattr(module, attr)


def lazy(name: str) -> ModuleType:
    """A stand-in for module ``name`` that imports it when an attribute is first read."""
    return _Lazy(name)
