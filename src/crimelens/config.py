"""Settings, read from the environment (prefix ``CRIMELENS_``) by the shells and passed down."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crimelens.errors import InvalidParameterError

__all__ = ["KNOWN_SETTINGS", "ROLES", "Settings", "load_settings", "unknown_settings", "warn_unknown_settings"]

#: The roles ``CRIMELENS_ROLE`` may name (those of :class:`crimelens.governance.Role`; a test keeps them equal).
ROLES = ("analyst", "supervisor", "board", "auditor", "admin", "public")


class Settings(BaseSettings):
    """Every setting crimelens reads. Each is documented in ``docs/settings.md``."""

    # an empty variable (CRIMELENS_DB=) is read as unset: the default, not the path '.'
    model_config = SettingsConfigDict(env_prefix="CRIMELENS_", extra="ignore", env_ignore_empty=True)

    db: Path = Field(default=Path("crimelens.duckdb"), description="The DuckDB store file.")
    user: str | None = Field(
        default=None, description="User name recorded in the ledger for local (CLI) use; defaults to the OS user."
    )
    role: str = Field(default="analyst", description="Role of the local CLI user: analyst, supervisor, board, "
                      "auditor or admin.")
    key_dir: Path | None = Field(
        default=None,
        description="Folder holding the ledger's Ed25519 signing key; defaults to '<db>.keys' beside the store.",
    )
    evidence_dir: Path | None = Field(
        default=None, description="Content-addressed evidence folder; defaults to '<db>.evidence'."
    )
    custody_clock_allowance_s: int = Field(
        default=300, ge=0, le=86_400,
        description="How far past this machine's clock a stated evidence intake or custody time may lie, in "
        "seconds (a device clock running ahead); a later time is refused. 0 to 86400 (one day).",
    )
    progress: bool = Field(default=True, description="Show progress bars on long work.")
    max_upload_mb: int = Field(
        default=4096, ge=0,
        description="Largest file the API takes in one upload (datasets, areas, risk and audit files, evidence), "
        "in MiB (bigger: 413); 0: no limit.",
    )
    backup_root: Path | None = Field(
        default=None,
        description="Folder under which the API may write backups (POST /api/store/backup); defaults to the folder "
        "holding the store.",
    )
    public_reads_per_minute: int = Field(
        default=300, ge=0,
        description="Calls without an account (GET) the service takes from one client address a minute; 0: no limit.",
    )
    failed_auth_per_minute: int = Field(
        default=60, ge=0,
        description="Failed sign-ins (bad API tokens, each a ledger entry) the service takes from one client address "
        "a minute before answering 429; 0: no limit.",
    )
    public_writes_per_hour: int = Field(
        default=30, ge=0,
        description="Comments and complaints without an account the service takes from one client address an hour; "
        "0: no limit.",
    )

    @field_validator("role", mode="before")
    @classmethod
    def _known_role(cls, value: object) -> str:
        text = str(value)
        if text not in ROLES:
            raise ValueError(f"one of {', '.join(repr(r) for r in ROLES[:-1])} (lower case)")
        return text


#: Every ``CRIMELENS_*`` environment variable crimelens reads (docs/settings.md lists each).
KNOWN_SETTINGS = frozenset(
    {f"CRIMELENS_{name.upper()}" for name in Settings.model_fields} | {"CRIMELENS_GOVERNANCE_DEMO"}
)

_warned: set[str] = set()


def unknown_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``CRIMELENS_*`` variables of ``environ`` (default: this process's) that are not settings,
    e.g. a misspelt ``CRIMELENS_MAX_UPLOAD_MIB``, which would otherwise be ignored without a word.

    >>> unknown_settings({"CRIMELENS_MAX_UPLOAD_MIB": "1", "CRIMELENS_DB": "x.duckdb", "HOME": "/"})
    ['CRIMELENS_MAX_UPLOAD_MIB']
    """
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.upper().startswith("CRIMELENS_") and k.upper() not in KNOWN_SETTINGS)


def warn_unknown_settings(say: Callable[[str], None], environ: Mapping[str, str] | None = None) -> list[str]:
    """Tell ``say`` once per process about each unknown ``CRIMELENS_*`` variable; returns those told."""
    new = [k for k in unknown_settings(environ) if k not in _warned]
    for name in new:
        _warned.add(name)
        near = _nearest(name)
        say(f"warning: {name} is not a crimelens setting and is ignored"
            + (f" (did you mean {near}?)" if near else "") + "; the settings are listed in docs/settings.md")
    return new


def _nearest(name: str) -> str | None:
    import difflib

    prefix = len("CRIMELENS_")
    found = difflib.get_close_matches(name.upper()[prefix:], sorted(k[prefix:] for k in KNOWN_SETTINGS), n=1,
                                      cutoff=0.75)
    return f"CRIMELENS_{found[0]}" if found else None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. CLI options) winning."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _setting_error(exc, set(clean)) from None


def _setting_error(exc: ValidationError, given: set[str]) -> InvalidParameterError:
    """A bad setting told as what it is: the variable (or option), what was got, what was expected.

    >>> import os
    >>> os.environ["CRIMELENS_PROGRESS"] = "maybe"
    >>> try:
    ...     load_settings()
    ... except InvalidParameterError as e:
    ...     print(e)
    setting CRIMELENS_PROGRESS: got 'maybe'; expected a valid boolean, unable to interpret input (see docs/settings.md)
    >>> del os.environ["CRIMELENS_PROGRESS"]
    """
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else "?"
        where = (f"setting {name} (given as a command-line option)" if name in given
                 else f"setting CRIMELENS_{name.upper()}")
        msg = str(err.get("msg") or "a valid value")
        msg = msg[len("Input should be "):] if msg.startswith("Input should be ") else msg
        msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
        parts.append(f"{where}: got {err.get('input')!r}; expected {msg}")
    return InvalidParameterError("; ".join(parts) + " (see docs/settings.md)")
