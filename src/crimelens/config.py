"""Settings, read from the environment (prefix ``CRIMELENS_``) by the shells and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crimelens.errors import InvalidParameterError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Every setting crimelens reads. Each is documented in ``docs/settings.md``."""

    model_config = SettingsConfigDict(env_prefix="CRIMELENS_", extra="ignore")

    db: Path = Field(default=Path("crimelens.duckdb"), description="The DuckDB store file.")
    user: str | None = Field(
        default=None, description="User name recorded in the ledger for local (CLI) use; defaults to the OS user."
    )
    role: str = Field(default="analyst", description="Role of the local CLI user.")
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
        description="Largest evidence file the API takes in one upload, in MiB (bigger: 413); 0: no limit.",
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
        parts.append(f"{where}: got {err.get('input')!r}; expected {msg}")
    return InvalidParameterError("; ".join(parts) + " (see docs/settings.md)")
