"""``GET /api/ledger/consistency``: an outsider, without an account, holds the ledger to a head saved earlier.

The proofs are checked with a few lines of RFC 6962 / RFC 9162 written here, and the heads' signatures
with ``cryptography``, never with crimelens' own verifier.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import LedgerEntry
from tests import rfc9162 as rfc
from tests.api.city import City, copy_city
from tests.api.conftest import auth


def _checks_out(proof: dict[str, Any], saved: dict[str, Any]) -> bool:
    """From the saved head's root, the proof gives the signed new head's root."""
    return (rfc.consistent(saved["tree_size"], proof["new_size"], bytes.fromhex(saved["root_hash"]),
                        bytes.fromhex(proof["new_root"]), [bytes.fromhex(x) for x in proof["proof"]])
            and proof["head"]["root_hash"] == proof["new_root"] and rfc.signed(proof["head"], saved["public_key"]))


def _newest(app: FastAPI, action: str) -> LedgerEntry:
    return app.state.ctx.ledger.entries(action=action, newest=True, limit=1)[0][1]  # type: ignore[no-any-return]


def test_a_saved_head_is_held_to_without_an_account(client: TestClient, app: FastAPI) -> None:
    saved = client.get("/api/ledger/head").json()["head"]  # what a journalist keeps
    m = saved["tree_size"]
    for _ in range(3):  # the ledger grows (each call is an entry)
        assert client.get("/api/deployments").status_code == 200
    r = client.get(f"/api/ledger/consistency?from={m}")
    assert r.status_code == 200, r.text
    proof = r.json()["proof"]
    assert proof["type"] == "consistency" and proof["old_size"] == m and proof["new_size"] > m + 3
    assert proof["old_root"] == saved["root_hash"] and proof["old_head"]["signature"] == saved["signature"]
    assert _checks_out(proof, saved)
    entry = _newest(app, "ledger.proof")
    assert entry.user == "public:anonymous" and entry.outcome == "ok"
    assert entry.detail["type"] == "consistency" and entry.detail["old_size"] == m
    # with the saved root: checked against it, and said so
    r = client.get(f"/api/ledger/consistency?from={m}&root={saved['root_hash']}")
    assert r.status_code == 200, r.text
    held = r.json()["proof"]
    assert held["published"]["root_matches"] and held["published"]["proof_verifies"]
    assert _checks_out(held, saved)
    assert _newest(app, "ledger.proof").detail["published_root"] == saved["root_hash"]


def test_a_root_the_store_does_not_have_at_that_size_is_named(client: TestClient, app: FastAPI) -> None:
    """A saved root the store's tree at that size does not have (as after a rollback): both roots named."""
    first = client.get("/api/ledger/head").json()["head"]
    later = client.get("/api/ledger/head").json()["head"]
    assert later["tree_size"] > first["tree_size"]
    m, wrong = first["tree_size"], later["root_hash"]
    r = client.get(f"/api/ledger/consistency?from={m}&root={wrong}")
    assert r.status_code == 409, r.text  # the outsider's finding, not a server fault (schemathesis: no 500s)
    body = r.json()
    assert body["ok"] is False and body["type"] == "PublishedHeadMismatchError"
    assert body["error"].startswith(f"this store's tree at size {m} is not the one published: a rollback or a "
                                    "rewrite.")
    assert first["root_hash"] in body["error"] and wrong in body["error"]  # the store's (signed, above) and the given
    refused = _newest(app, "ledger.proof")
    assert refused.outcome == "refused" and refused.detail["matches_published"] is False
    assert refused.detail["published_root"] == wrong
    # a size the ledger does not reach, with a root: the ledger lost entries
    r = client.get(f"/api/ledger/consistency?from={10**9}&root={wrong}")
    assert r.status_code == 409 and f"no tree at size {10**9}" in r.json()["error"]


def test_an_older_head_and_bad_asks(client: TestClient, city: City, app: FastAPI) -> None:
    a = client.get("/api/ledger/head").json()["head"]
    b = client.get("/api/ledger/head").json()["head"]
    r = client.get(f"/api/ledger/consistency?from={a['tree_size']}&to={b['tree_size']}")
    assert r.status_code == 200, r.text
    proof = r.json()["proof"]
    assert proof["new_size"] == b["tree_size"] and proof["new_root"] == b["root_hash"]
    assert proof["newest_head"]["tree_size"] > b["tree_size"]
    assert _checks_out(proof, a)
    # a registered user gets the same proof
    r = client.get(f"/api/ledger/consistency?from={a['tree_size']}", headers=auth(city, "aud", "oversight"))
    assert r.status_code == 200 and _checks_out(r.json()["proof"], a)
    signed = {h.tree_size for h in app.state.ctx.ledger.heads()}
    unsigned = min(n for n in range(1, max(signed) + 2) if n not in signed)  # a size no append ended at
    for query, status in ((f"from=0&to={b['tree_size']}", 422), ("from=3&root=zz", 422), ("to=3", 422),
                          (f"from={10**9}", 422), (f"from=1&to={unsigned}", 404)):
        r = client.get(f"/api/ledger/consistency?{query}")
        assert r.status_code == status, (query, r.text)


@pytest.fixture(scope="module")
def limited(city_template: City, tmp_path_factory: pytest.TempPathFactory) -> Any:
    city = copy_city(city_template, tmp_path_factory.mktemp("consistency-limits"))
    web: FastAPI = create_app(Settings(db=city.db, public_reads_per_minute=3))
    web.state.public_limits.refusal_delay_s = 0.0
    with TestClient(web, base_url="http://127.0.0.1") as c:
        yield c, city
    web.state.close()


def test_it_is_limited_like_the_other_reads_without_an_account(limited: tuple[TestClient, City]) -> None:
    client, city = limited
    codes = [client.get("/api/ledger/consistency?from=1").status_code for _ in range(6)]
    assert codes[0] == 200 and codes.count(429) >= 3
    assert client.get("/api/ledger/consistency?from=1", headers=auth(city, "aud", "oversight")).status_code == 200
