"""Hyperparameter checks shared by the forecasting models (run in ``fit``, never in ``__init__``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import numba

from crimelens.errors import InvalidParameterError, NotFittedError

__all__ = ["check_choice", "check_fitted", "check_int", "check_positive", "jit"]

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """``numba.njit(cache=True)`` with the signature kept for the type checker."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def _label(est: object, name: str, value: object) -> str:
    return f"{type(est).__name__}({name}={value!r})"


def check_positive(est: object, *names: str, unit: str = "", allow_none: bool = False,
                   allow_zero: bool = False) -> None:
    """Raise :class:`InvalidParameterError` unless each named attribute is a finite number > 0."""
    for name in names:
        value = getattr(est, name)
        if value is None and allow_none:
            continue
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            v = float(value)
            ok = v == v and v != float("inf") and (v >= 0 if allow_zero else v > 0)
        if not ok:
            bound = ">= 0" if allow_zero else "> 0"
            suffix = f" {unit}" if unit else ""
            extra = " (or None)" if allow_none else ""
            raise InvalidParameterError(
                f"{_label(est, name, value)}: {name} must be a finite number {bound}{suffix}{extra}"
            )


def check_int(est: object, name: str, *, low: int, high: int | None = None) -> None:
    value = getattr(est, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
        high is not None and value > high
    ):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidParameterError(f"{_label(est, name, value)}: {name} must be an integer {rng}")


def check_choice(est: object, name: str, choices: Iterable[str]) -> None:
    value = getattr(est, name)
    options = list(choices)
    if value not in options:
        raise InvalidParameterError(f"{_label(est, name, value)}: {name} must be one of {options}")


def check_fitted(est: object, attribute: str = "area_") -> None:
    """Raise our :class:`NotFittedError` when ``fit`` has not run."""
    if not hasattr(est, attribute):
        raise NotFittedError(
            f"{type(est).__name__} is not fitted yet; call fit(incidents) before predict(window)"
        )
