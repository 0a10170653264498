"""Edges of a request found by an outside tester: the purpose header's encoding and length, malformed
JSON, an administrator disabling their own account, user names that differ only by case, and ledger
verification while other requests arrive. Each runs on a real store served in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.api._deps import MAX_PURPOSE_CHARS
from crimelens.config import Settings
from tests.api.conftest import store_with_users


@dataclass
class Served:
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]

    def headers(self, user: str, purpose: str | bytes = "research") -> dict[str, str | bytes]:
        return {"Authorization": f"Bearer {self.tokens[user]}", "X-Purpose": purpose}

    def raw_get(self, path: str, headers: dict[str, str | bytes]) -> httpx.Response:
        """GET with the header bytes exactly as given (the test client re-encodes them as UTF-8)."""

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                return await c.get(path, headers=headers)

        return anyio.run(go)

    def entries(self, action: str) -> list[dict[str, object]]:
        got = self.client.get("/api/ledger/entries", params={"limit": 1000, "action": action},
                              headers=self.headers("aud", "oversight"))
        assert got.status_code == 200, got.text
        items: list[dict[str, object]] = got.json()["items"]
        return sorted(items, key=lambda e: int(str(e["seq"])))  # oldest first



@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "s.duckdb"
    tokens = store_with_users(db, (("adm2", "admin"), ("ana", "analyst"), ("aud", "auditor")))
    app = create_app(Settings(db=db, failed_auth_per_minute=0))
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            yield Served(app, client, tokens)
    finally:
        app.state.close()


# 2. the purpose header ---------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", ["enquête témoin JA1", "review — Zürich", "Ermittlung Straße 12"])
def test_a_utf8_purpose_is_stored_as_written(served: Served, purpose: str) -> None:
    me = served.client.get("/api/me", headers=served.headers("ana", purpose.encode("utf-8")))
    assert me.status_code == 200, me.text
    assert me.json()["purpose"] == purpose
    assert served.client.get("/api/users", headers=served.headers("adm", purpose.encode("utf-8"))).status_code == 200
    assert [e["purpose"] for e in served.entries("users.list")] == [purpose]


def test_an_rfc8187_percent_encoded_purpose_is_decoded(served: Served) -> None:
    me = served.client.get("/api/me", headers=served.headers("ana", "UTF-8''enqu%C3%AAte%20t%C3%A9moin%20%E2%80%94%20JA1"))
    assert me.status_code == 200, me.text
    assert me.json()["purpose"] == "enquête témoin — JA1"


def test_a_purpose_that_is_not_utf8_is_refused_and_logged(served: Served) -> None:
    r = served.raw_get("/api/users", served.headers("adm", "enquête".encode("latin-1")))
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "InputError"
    assert r.json()["error"] == ("header X-Purpose, byte 5: got b'\\xeate', which is not UTF-8; expected the purpose "
                                 "in UTF-8 (or RFC 8187 percent-encoded: UTF-8''enqu%C3%AAte)")
    assert served.entries("users.list") == []  # the use did not happen
    [refused] = served.entries("api.purpose")
    assert refused["outcome"] == "refused" and refused["user"] == "adm"
    assert refused["detail"]["request"] == "GET /api/users"  # type: ignore[index]
    assert refused["detail"]["start"] == "enqu\\xeate"  # type: ignore[index]


def test_a_purpose_longer_than_the_limit_is_refused_and_logged(served: Served) -> None:
    longest = "x" * MAX_PURPOSE_CHARS
    assert served.client.get("/api/me", headers=served.headers("ana", longest)).json()["purpose"] == longest
    r = served.client.get("/api/me", headers=served.headers("ana", ("é" * 60_000).encode()))
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(f"header X-Purpose: got 60000 characters ('{'é' * 40}'...); "
                                        f"expected at most {MAX_PURPOSE_CHARS}")
    [refused] = served.entries("api.purpose")
    assert refused["outcome"] == "refused" and refused["user"] == "ana" and refused["purpose"] == ""
    assert refused["detail"]["n_bytes"] == 120_000 and refused["detail"]["start"] == "é" * 80  # type: ignore[index]


def test_a_purpose_with_a_control_character_is_refused(served: Served) -> None:
    r = served.client.get("/api/me", headers=served.headers("ana", "UTF-8''a%0Ab"))
    assert r.status_code == 422
    assert r.json()["error"] == ("header X-Purpose, character 2: got the control character U+000A; "
                                 "expected printable text")


# 3. malformed JSON ---------------------------------------------------------------------------------
def test_malformed_json_says_where_and_what_the_parser_found(served: Served) -> None:
    r = served.client.post("/api/users", content=b'{"name": "carl" "role": "admin"}',
                           headers={**served.headers("adm"), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == (
        "POST /api/users: body: malformed JSON at character 16 (line 1, column 17): Expecting ',' delimiter; "
        "found '\"' in '{\"name\": \"carl\" \"role\": \"admin\"}'; expected a JSON document")
    r = served.client.post("/api/users", content=b'{"name": "carl",\n "role": ',
                           headers={**served.headers("adm"), "Content-Type": "application/json"})
    assert "malformed JSON at character 26 (line 2, column 10): Expecting value; found the end of the body" in (
        r.json()["error"])


# 4. disabling administrators -----------------------------------------------------------------------
def test_an_administrator_cannot_disable_their_own_account(served: Served) -> None:
    r = served.client.post("/api/users/adm2/disable", headers=served.headers("adm2", "leaving"))
    assert r.status_code == 403, r.text
    reason = "an administrator cannot disable their own account; ask another administrator"
    assert r.json()["error"] == f"users disable 'adm2' by adm2: refused: {reason}"
    [entry] = served.entries("users.disable")
    assert entry["outcome"] == "refused" and entry["detail"] == {"reason": reason, "name": "adm2"}
    # the answer, the ledger and the state agree: adm2 is still active
    assert served.client.get("/api/me", headers=served.headers("adm2")).status_code == 200
    listed = served.client.get("/api/users", headers=served.headers("adm")).json()["items"]
    assert next(u for u in listed if u["name"] == "adm2")["active"] is True
    # another administrator may
    assert served.client.post("/api/users/adm2/disable", headers=served.headers("adm", "leaving")).status_code == 200
    assert served.client.get("/api/me", headers=served.headers("adm2")).status_code == 401
    assert [e["outcome"] for e in served.entries("users.disable")] == ["refused", "ok"]


def test_the_last_active_administrator_cannot_be_disabled(served: Served) -> None:
    assert served.client.post("/api/users/adm2/disable", headers=served.headers("adm", "offboarding")).status_code == 200
    r = served.client.post("/api/users/adm/disable", headers=served.headers("adm", "offboarding"))
    assert r.status_code == 403
    assert "user 'adm' is the last active administrator" in r.json()["error"]
    assert served.client.get("/api/me", headers=served.headers("adm")).status_code == 200
    assert [e["outcome"] for e in served.entries("users.disable")] == ["ok", "refused"]


# 5. user names that differ only by case -------------------------------------------------------------
@pytest.mark.parametrize("other", ["Carl", "CARL", "ｃａｒｌ"])
def test_a_name_differing_from_a_user_only_by_case_is_refused(served: Served, other: str) -> None:
    r = served.client.post("/api/users", json={"name": "carl", "role": "analyst"}, headers=served.headers("adm"))
    assert r.status_code == 200, r.text
    r = served.client.post("/api/users", json={"name": other, "role": "admin"}, headers=served.headers("adm"))
    assert r.status_code == 422
    assert r.json()["error"] == (f"users add {other!r}: user name {other!r} differs from the existing user 'carl' "
                                 "only by case; expected a name that differs in more than case (user names are "
                                 "compared ignoring case)")
    names = [u["name"] for u in served.client.get("/api/users", headers=served.headers("adm")).json()["items"]]
    assert other not in names
    refused = [e for e in served.entries("users.add") if e["outcome"] == "refused"]
    assert len(refused) == 1 and "differs from the existing user 'carl'" in refused[0]["detail"]["reason"]  # type: ignore[index]


# 1. ledger verification while other requests arrive --------------------------------------------------
def test_verify_while_other_requests_arrive_reports_no_false_tampering(served: Served) -> None:
    results: dict[int, tuple[int, dict[str, object]]] = {}

    def call(i: int) -> None:
        if i % 2 == 0:
            r = served.client.post("/api/ledger/verify", headers=served.headers("aud", f"lv-{i}"))
        else:
            r = served.client.get("/api/me", headers=served.headers("ana", f"lv-{i}"))
        results[i] = (r.status_code, r.json())

    for _round in range(3):
        threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        bad = [(i, body["report"]) for i, (status, body) in results.items()
               if i % 2 == 0 and (status != 200 or not body["report"]["ok"])]  # type: ignore[index]
        assert bad == []
    stored = served.entries("ledger.verify")
    assert len(stored) == 30 and all(e["detail"]["ok"] for e in stored)  # type: ignore[index]
