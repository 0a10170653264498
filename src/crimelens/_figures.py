"""Matplotlib helper shared by the figure writers (no crimelens imports).

:func:`plain_text` draws every title, label and note of a figure as written. Matplotlib reads
text between two ``$`` as TeX: a file named ``thefts_$5k-$10k.csv`` or a dataset named
``d$x^{$`` in a Knox heat map's note stopped the run with a mathtext ``ParseSyntaxException``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

__all__ = ["plain_text"]

P = ParamSpec("P")
R = TypeVar("R")


def plain_text(draw: Callable[P, R]) -> Callable[P, R]:
    """Run ``draw`` with matplotlib's TeX parsing of ``$...$`` off (``text.parse_math``)."""

    @wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper
