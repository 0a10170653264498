"""A store damaged on disk while the service runs: the request that finds it, and every one after it,
get 503 StoreDamagedError naming the file, what DuckDB found and what to do; never "internal error,
this is a bug", and nothing more is written into the damaged file."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import Actor, Ledger, LedgerEntry, Role
from crimelens.services._context import Context
from crimelens.services.governance import add_user
from crimelens.storage import DuckDBStore
from tests.conftest import copy_store
from tests.storage.test_damaged_store import _flip, _ledger_block_offset


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with an auditor's token and a ledger that fills data blocks no sign-in reads."""
    path = tmp_path_factory.mktemp("damaged-api") / "good.duckdb"
    settings = Settings(db=path)
    with DuckDBStore.open(path) as store:
        ctx = Context(store=store, settings=settings, ledger=Ledger(store, settings.key_dir),
                      clock=lambda: datetime.now(UTC))
        admin = Actor("ann", Role.ADMIN)
        add_user(ctx, name="ann", role="admin", actor=admin)
        _user, token = add_user(ctx, name="aud", role="auditor", actor=admin)
        Ledger(store).append_many([LedgerEntry("forecast.run", "ada", "analyst", "research",
                                               detail={"i": i, "note": "x" * 200}) for i in range(3000)])
        store.execute("CHECKPOINT")
    return path, token


def test_damage_found_mid_service_is_503_for_that_request_and_every_later_one(
        good: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, token = good
    path = copy_store(src, tmp_path / "s.duckdb")
    offset = _ledger_block_offset(path)
    app = create_app(Settings(db=path, failed_auth_per_minute=0))
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "oversight"}
    try:
        with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
            assert client.get("/api/me", headers=headers).status_code == 200  # opened and served
            _flip(path, offset + 1000)  # the disk changes under the running service
            with caplog.at_level(logging.WARNING, logger="crimelens.api"):
                found = client.post("/api/ledger/verify", headers=headers)
                later = [client.get("/api/me", headers=headers), client.get("/api/datasets", headers=headers),
                         client.post("/api/killswitch", headers=headers, json={"engaged": True, "reason": "x"})]
    finally:
        app.state.close()
    body = found.json()
    assert found.status_code == 503 and body["type"] == "StoreDamagedError" and body["status"] == 503
    assert body["error"].startswith(f"POST /api/ledger/verify: store {str(path)!r} is damaged")
    assert f"in block at location {offset}" in body["error"]  # what DuckDB found, and where
    assert "crimelens store restore" in body["error"] and "this is a bug" not in body["error"]
    for answer in later:  # /api/me read nothing damaged, yet it is refused: the service stopped using the file
        assert answer.status_code == 503 and answer.json()["type"] == "StoreDamagedError"
        assert "when POST /api/ledger/verify found it damaged" in answer.json()["error"]
        assert str(path) in answer.json()["error"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "is damaged" in errors[0].getMessage()  # said once, then one warning per refusal
    assert not any("unhandled error" in r.getMessage() for r in caplog.records)


def test_a_service_opened_on_an_already_damaged_store_does_not_start(good: tuple[Path, str], tmp_path: Path) -> None:
    from crimelens.errors import StoreError
    from tests.storage.test_damaged_store import _HEADER_BYTES

    src, _token = good
    path = tmp_path / "s.duckdb"
    shutil.copyfile(src, path)
    _flip(path, _HEADER_BYTES + 100)
    with pytest.raises(StoreError, match="is damaged"):
        create_app(Settings(db=path))
