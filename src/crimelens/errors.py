"""The errors crimelens raises on purpose.

Every class carries the exit code the CLI returns and the HTTP status the API
answers with, so each shell needs exactly one handler. Messages say *what*,
*where*, what was *got* and what was *expected*.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ApprovalRequiredError",
    "CrimelensError",
    "InputError",
    "InvalidParameterError",
    "LedgerIntegrityError",
    "NotFittedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtectedAttributeError",
    "PublishedHeadMismatchError",
    "RateLimitedError",
    "SchemaError",
    "StoreError",
    "StoreFullError",
]


class CrimelensError(Exception):
    """Base for every error we raise on purpose."""

    exit_code: int = 1
    http_status: int = 500


class InputError(CrimelensError, ValueError):
    """Input that cannot be used as given (a file, a row, a parameter)."""

    exit_code, http_status = 2, 422


class SchemaError(InputError):
    """A file or row does not match the expected schema."""


class InvalidParameterError(InputError):
    """A parameter has a value outside its documented range."""


class PayloadTooLargeError(InputError):
    """An upload passed the size the service takes (``max_upload_mb``)."""

    http_status = 413


class ProtectedAttributeError(InputError):
    """A protected attribute (race, ethnicity, sex, religion, ...) was asked for as a model feature."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SkNotFittedError

    class NotFittedError(CrimelensError, _SkNotFittedError):  # type: ignore[misc]
        """A model was used before ``fit``."""

        exit_code, http_status = 1, 409
else:
    def __getattr__(name: str) -> Any:
        """``NotFittedError`` subclasses scikit-learn's (its estimator checks expect that), so it is
        made on first use: importing scikit-learn costs seconds that a CLI command which never
        fits a model should not pay."""
        if name != "NotFittedError":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from sklearn.exceptions import NotFittedError as _SkNotFittedError

        class NotFittedError(CrimelensError, _SkNotFittedError):
            """A model was used before ``fit``."""

            exit_code, http_status = 1, 409

        NotFittedError.__module__ = __name__
        globals()["NotFittedError"] = NotFittedError
        return NotFittedError


class NotFoundError(CrimelensError, LookupError):
    """A named thing (incident, model, deployment, file) does not exist."""

    exit_code, http_status = 1, 404


class ApprovalRequiredError(CrimelensError):
    """The use needs an active, approved deployment (or a purpose) that is missing."""

    exit_code, http_status = 3, 403


class PermissionDeniedError(CrimelensError):
    """The user's role does not allow this action."""

    exit_code, http_status = 3, 403


class RateLimitedError(CrimelensError):
    """A caller without an account sent more requests than the service takes from one address.

    ``retry_after`` is the number of whole seconds until the next one would be taken.
    """

    exit_code, http_status = 6, 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class LedgerIntegrityError(CrimelensError):
    """The ledger does not verify: an entry was changed, removed or reordered."""

    exit_code, http_status = 4, 500


class PublishedHeadMismatchError(LedgerIntegrityError):
    """The store's ledger is not the one a published head describes (a rollback or a rewrite): the answer
    to an outsider's check, so the API gives it as a conflict (409) with the finding, not as a server fault."""

    http_status = 409


class StoreError(CrimelensError):
    """The store cannot be opened or migrated."""

    exit_code, http_status = 5, 500


class StoreFullError(StoreError):
    """The disk that holds the store is full: DuckDB could not write, and rolled back what it was doing."""

    exit_code, http_status = 5, 507
