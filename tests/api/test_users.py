"""Users through the service: an administrator adds, disables and re-keys users while it runs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.city import City
from tests.api.conftest import auth


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}", "X-Purpose": "check"}).status_code


def test_add_use_rotate_and_disable_a_user(client: TestClient, city: City) -> None:
    r = client.post("/api/users", json={"name": "dana", "role": "analyst"}, headers=auth(city, "ada", "onboarding"))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = r.json()["token"]
    assert r.json()["user"]["name"] == "dana" and r.json()["user"]["created_by"] == "ada"
    assert _me(client, token) == 200
    listed = client.get("/api/users", headers=auth(city, "aud")).json()["items"]
    dana = next(u for u in listed if u["name"] == "dana")
    assert dana["role"] == "analyst" and dana["active"] is True
    assert not any("token" in k for u in listed for k in u)  # never a token or its hash

    r = client.post("/api/users/dana/token", headers=auth(city, "ada", "lost laptop"))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new = r.json()["token"]
    assert new != token and _me(client, token) == 401 and _me(client, new) == 200

    assert client.post("/api/users/dana/disable", headers=auth(city, "ada", "left the unit")).status_code == 200
    assert _me(client, new) == 401
    entries = client.get("/api/ledger/entries", params={"limit": 200}, headers=auth(city, "aud")).json()["items"]
    done = {(e["action"], e["purpose"]) for e in entries if e["user"] == "ada"}
    assert {("users.add", "onboarding"), ("users.rotate_token", "lost laptop"),
            ("users.disable", "left the unit")} <= done


def test_bad_user_requests_are_refused_and_named(client: TestClient, city: City) -> None:
    r = client.post("/api/users", json={"name": "ana", "role": "analyst"}, headers=auth(city, "ada"))
    assert r.status_code == 422 and "already exists" in r.json()["error"]
    r = client.post("/api/users", json={"name": "x:y", "role": "analyst"}, headers=auth(city, "ada"))
    assert r.status_code == 422
    r = client.post("/api/users", json={"name": "eve", "role": "public"}, headers=auth(city, "ada"))
    assert r.status_code == 422
    r = client.post("/api/users", json={"name": "eve", "role": "admin"}, headers=auth(city, "sam"))
    assert r.status_code == 403 and "users.add" in r.json()["error"]
    r = client.post("/api/users/nobody/disable", headers=auth(city, "ada"))
    assert r.status_code == 404 and "nobody" in r.json()["error"]
