"""User names and stated purposes display as what they are: no control or text-direction characters
("ops\\u202enimda" shows as "opsadmin"), one X-Purpose per request (which would the ledger record?), and
no token minted for a disabled user (it would look usable and never work). Each refusal is logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from tests.api.conftest import store_with_users


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    db = tmp_path / "u.duckdb"
    tokens = store_with_users(db, (("ana", "analyst"), ("carl", "analyst")))
    app = create_app(Settings(db=db, failed_auth_per_minute=0))
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            yield client, tokens, db
    finally:
        app.state.close()


def _h(tokens: dict[str, str], user: str, purpose: str = "administration") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}", "X-Purpose": purpose}


@pytest.mark.parametrize("name", ["ops\u202enimda", "x y/z\n", "tab\there", "padded ", "zero\u200bwidth"])
def test_a_user_name_that_displays_as_another_is_refused_and_logged(
        served: tuple[TestClient, dict[str, str], Path], name: str) -> None:
    client, tokens, _ = served
    r = client.post("/api/users", json={"name": name, "role": "analyst"}, headers=_h(tokens, "adm"))
    assert r.status_code == 422 and "expected printable characters" in r.json()["error"], r.text
    listed = client.get("/api/users", headers=_h(tokens, "adm")).json()["items"]
    assert name not in [u["name"] for u in listed]
    last = client.get("/api/ledger/entries?action=users.add&limit=1", headers=_h(tokens, "adm")).json()["items"][0]
    assert last["outcome"] == "refused"


def test_two_stated_purposes_and_a_direction_override_are_refused(
        served: tuple[TestClient, dict[str, str], Path]) -> None:
    client, tokens, _ = served
    auth = {"Authorization": f"Bearer {tokens['ana']}"}
    r = client.get("/api/incidents", headers=[*auth.items(), ("X-Purpose", "research"), ("X-Purpose", "patrol")])
    assert r.status_code == 422 and "got 2 of them" in r.json()["error"], r.text
    r = client.get("/api/incidents", headers={**auth, "X-Purpose": "UTF-8''%E2%80%AEevil"})
    assert r.status_code == 422 and "text-direction character U+202E" in r.json()["error"], r.text
    assert client.get("/api/incidents", headers={**auth, "X-Purpose": "research"}).status_code == 200


def test_no_token_is_minted_for_a_disabled_user(served: tuple[TestClient, dict[str, str], Path]) -> None:
    client, tokens, _ = served
    assert client.post("/api/users/carl/disable", headers=_h(tokens, "adm")).status_code == 200
    r = client.post("/api/users/carl/token", headers=_h(tokens, "adm"))
    assert r.status_code == 422 and "is disabled" in r.json()["error"] and "token" not in r.json(), r.text
    last = client.get("/api/ledger/entries?action=users.rotate_token&limit=1",
                      headers=_h(tokens, "adm")).json()["items"][0]
    assert last["outcome"] == "refused"
