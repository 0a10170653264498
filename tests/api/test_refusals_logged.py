"""Every refusal is one ledger entry, also those made before a route's code runs: a body or query the
framework refuses (422 ``RequestValidationError``), a request without ``X-Purpose`` (403), and the
redaction routes' refusals for what was asked (an unknown item, an empty body, a bad span). Each
refused entry names the route's action and the caller; an answered request still logs its one entry.
Each test runs on a real store in tmp_path, served in-process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.api._app import ROUTE_ACTIONS
from crimelens.config import Settings
from crimelens.governance import LedgerEntry
from tests.api.conftest import store_with_users
from tests.api.test_auth_table import TABLE

DOCS = [
    {"report_id": "R-1", "text": "V1 Maria Garcia of 1423 W Elm St called (312) 555-0143."},
    {"report_id": "R-2", "text": "Nothing personal here: the 1400 block of W Elm St."},
]


@dataclass
class Served:
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    item: str = ""  # an evidence item (narratives.jsonl) taken in by ana
    item_sha256: str = ""
    run: str = ""  # a text redaction run of it, every document pending review

    def headers(self, user: str, purpose: str | None = "records request 24-117") -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[user]}"}
        return h if purpose is None else {**h, "X-Purpose": purpose}

    def call(self, method: str, path: str, user: str | None, *, purpose: str | None = "records request 24-117",
             **kw: Any) -> tuple[httpx.Response, list[LedgerEntry]]:
        """The answer to one request and the ledger entries it added, read from the store."""
        ledger = self.app.state.ctx.ledger
        before = ledger.size()
        headers = {**(self.headers(user, purpose) if user else {}), **kw.pop("headers", {})}
        r = self.client.request(method, path, headers=headers, **kw)
        return r, [e for _, e in ledger.entries(from_seq=before)]


def _shape(entries: list[LedgerEntry]) -> list[tuple[str, str, str]]:
    """(action, outcome, user) of each entry, sorted: a request's own entry may commit before its
    queued authentication entry."""
    return sorted((e.action, e.outcome, e.user) for e in entries)


def _refused(entries: list[LedgerEntry]) -> LedgerEntry:
    [refused] = [e for e in entries if e.outcome == "refused"]
    return refused



@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "s.duckdb"
    tokens = store_with_users(db, (("ana", "analyst"), ("sam", "supervisor"), ("aud", "auditor")))
    app = create_app(Settings(db=db, failed_auth_per_minute=0))
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            s = Served(app, client, tokens)
            body = "".join(json.dumps(d) + "\n" for d in DOCS).encode()
            r = client.post("/api/evidence/cases/RD-1/items", params={"source": "RMS export",
                                                                       "filename": "narratives.jsonl"},
                            content=body, headers={**s.headers("ana"), "Content-Type": "application/octet-stream"})
            assert r.status_code == 200, r.text
            s.item, s.item_sha256 = r.json()["item_id"], r.json()["sha256"]
            r = client.post(f"/api/evidence/items/{s.item}/redactions", json={"ner": "none"}, headers=s.headers("ana"))
            assert r.status_code == 200, r.text
            s.run = r.json()["run_id"]
            yield s
    finally:
        app.state.close()


# 1. requests the framework refuses before the route runs ----------------------------------------------------
@pytest.mark.parametrize(("body", "action", "loc"), [
    ({"to": "locker 4", "at": "last tuesday"}, "evidence.transfer", "body.at"),          # a bad datetime
    ({"kind": "check_out", "to": "lab", "at": "soon"}, "evidence.check_out", "body.at"),
    ({"kind": "borrow", "to": "locker 4"}, "evidence.custody", "body.kind"),             # an unknown enum
    ({"to": "locker 4", "colour": "red"}, "evidence.transfer", "body.colour"),           # an extra field
    ({"to": ["locker 4"]}, "evidence.transfer", "body.to"),                              # a wrong type
])
def test_a_body_the_framework_refuses_is_one_refused_entry_of_the_route_action(
        served: Served, body: dict[str, Any], action: str, loc: str) -> None:
    r, added = served.call("POST", f"/api/evidence/items/{served.item}/custody", "ana", json=body)
    assert r.status_code == 422 and r.json()["type"] == "RequestValidationError", r.text
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), (action, "refused", "ana")])
    refused = _refused(added)
    assert refused.purpose == "records request 24-117" and refused.role == "analyst"
    assert refused.detail["error"] == "RequestValidationError"
    assert refused.detail["request"] == f"POST /api/evidence/items/{served.item}/custody"
    assert refused.detail["reason"] == r.json()["error"]
    assert [e["loc"] for e in refused.detail["errors"]] == [loc]


def test_a_query_of_the_wrong_type_is_logged_as_the_route_action(served: Served) -> None:
    r, added = served.call("GET", "/api/ledger/entries?limit=lots", "aud")
    assert r.status_code == 422
    assert _shape(added) == sorted([("users.authenticate", "ok", "aud"), ("ledger.list", "refused", "aud")])
    assert _refused(added).detail["errors"][0]["loc"] == "query.limit"
    r, added = served.call("POST", "/api/deployments/hot/transitions/launch", "adm", json={})
    assert r.status_code == 422
    assert _shape(added) == sorted([("users.authenticate", "ok", "adm"), ("deployments.transition", "refused", "adm")])


def test_a_body_that_is_not_json_is_logged_once_with_the_caller(served: Served) -> None:
    bad = b'{"name": "carl" "role": "admin"}'
    json_type = {"Content-Type": "application/json"}
    r, added = served.call("POST", "/api/users", "adm", content=bad, headers=json_type)
    assert r.status_code == 422 and "malformed JSON at character 16" in r.json()["error"]
    # refused while the body was read, before the dependencies ran: the caller is identified once, here
    assert _shape(added) == sorted([("users.authenticate", "ok", "adm"), ("users.add", "refused", "adm")])
    assert _refused(added).detail["errors"] == [{"loc": "body.16", "type": "json_invalid", "msg": "JSON decode error"}]
    # without a valid token it stays unauthenticated: 401, and only a bad token's sign-in is logged
    r, added = served.call("POST", "/api/users", None, content=bad, headers=json_type)
    assert r.status_code == 401 and added == []
    r, added = served.call("POST", "/api/users", None, content=bad,
                           headers={**json_type, "Authorization": "Bearer clk_0.x", "X-Purpose": "x"})
    assert r.status_code == 401 and _shape(added) == sorted([("users.authenticate", "refused", "unknown")])
    r, added = served.call("POST", "/api/users", "adm", purpose=None, content=bad, headers=json_type)
    assert r.status_code == 403 and _shape(added) == sorted([("users.authenticate", "ok", "adm"),
                                                             ("users.add", "refused", "adm")])
    # a route open to the public: a call without a token is a member of the public's
    r, added = served.call("POST", "/api/complaints", None, content=bad, headers=json_type)
    assert r.status_code == 422 and _shape(added) == [("complaints.file", "refused", "public:anonymous")]
    assert _refused(added).purpose == "public participation"


# 2. no X-Purpose -----------------------------------------------------------------------------------------
def test_a_request_without_a_purpose_is_a_refused_entry_of_the_route_action(served: Served) -> None:
    r, added = served.call("GET", "/api/users", "adm", purpose=None)
    assert r.status_code == 403 and r.json()["type"] == "ApprovalRequiredError"
    assert _shape(added) == sorted([("users.authenticate", "ok", "adm"), ("users.list", "refused", "adm")])
    assert _refused(added).purpose == "" and _refused(added).detail["error"] == "ApprovalRequiredError"
    assert "no stated purpose" in _refused(added).detail["reason"]
    r, added = served.call("POST", f"/api/evidence/items/{served.item}/custody", "ana", purpose=None,
                           json={"to": "locker 4"})
    assert r.status_code == 403
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("evidence.transfer", "refused", "ana")])


# 3. redaction: refusals for what was asked -----------------------------------------------------------------
def test_redacting_an_unknown_item_or_with_an_empty_body_is_logged(served: Served) -> None:
    r, added = served.call("POST", "/api/evidence/items/EV-999999/redactions", "ana", json={})
    assert r.status_code == 404 and r.json()["type"] == "NotFoundError"
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("redact.text", "refused", "ana")])
    assert _refused(added).detail["error"] == "NotFoundError" and _refused(added).detail["item_id"] == "EV-999999"
    assert _refused(added).detail["reason"] == r.json()["error"]
    r, added = served.call("POST", f"/api/evidence/items/{served.item}/redactions", "ana")  # no body
    assert r.status_code == 422, r.text
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("redact.text", "refused", "ana")])
    assert _refused(added).detail["error"] == "RequestValidationError"


def test_a_streamed_redaction_refused_is_logged_as_the_unstreamed_one_is(served: Served) -> None:
    """With ``Accept: application/x-ndjson`` the status line (200) goes out before the work runs and the
    error comes as the stream's last line; the refusal is logged all the same, once, with the same detail."""
    streamed = {"Accept": "application/x-ndjson"}
    r, added = served.call("POST", "/api/evidence/items/EV-999999/redactions", "ana", json={}, headers=streamed)
    assert r.status_code == 200
    last = json.loads(r.text.strip().splitlines()[-1])
    assert last["type"] == "NotFoundError" and last["status"] == 404
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("redact.text", "refused", "ana")])
    assert _refused(added).detail["error"] == "NotFoundError" and _refused(added).detail["item_id"] == "EV-999999"
    assert _refused(added).detail["reason"] == last["error"]
    assert _refused(added).detail["request"] == "POST /api/evidence/items/EV-999999/redactions"


def test_redacting_a_kind_the_service_does_not_redact_is_logged(served: Served) -> None:
    r = served.client.post("/api/evidence/cases/RD-1/items", params={"source": "RMS", "filename": "notes.txt"},
                           content=b"free text", headers={**served.headers("ana"),
                                                          "Content-Type": "application/octet-stream"})
    other = r.json()["item_id"]
    r, added = served.call("POST", f"/api/evidence/items/{other}/redactions", "ana", json={})
    assert r.status_code == 422 and "notes.txt" in r.json()["error"]
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("redact.text", "refused", "ana")])
    assert _refused(added).detail["error"] == "InputError"


def test_a_bad_span_and_an_unknown_review_item_are_logged(served: Served) -> None:
    r, added = served.call("POST", f"/api/redactions/{served.run}/units/R-1/decision", "sam",
                           json={"status": "corrected", "add": [[9, 3, "PERSON"]]})
    assert r.status_code == 422 and "expected 0 <= start < end" in r.json()["error"]
    assert _shape(added) == sorted([("users.authenticate", "ok", "sam"), ("redact.review", "refused", "sam")])
    assert _refused(added).detail["error"] == "InputError" and _refused(added).detail["unit"] == "R-1"
    r, added = served.call("GET", f"/api/redactions/{served.run}/units/R-9", "sam")
    assert r.status_code == 404
    assert _shape(added) == sorted([("users.authenticate", "ok", "sam"), ("redact.inspect", "refused", "sam")])
    r, added = served.call("GET", "/api/redactions/RR-nope", "sam")
    assert r.status_code == 404
    assert _shape(added) == sorted([("users.authenticate", "ok", "sam"), ("redact.show", "refused", "sam")])


def test_a_refusal_the_service_logs_is_not_logged_twice(served: Served, tmp_path: Path) -> None:
    r, added = served.call("POST", f"/api/redactions/{served.run}/release", "sam")
    assert r.status_code == 403 and "pending" in r.json()["error"]
    assert _shape(added) == sorted([("users.authenticate", "ok", "sam"), ("redact.release", "refused", "sam")])
    r, added = served.call("POST", f"/api/redactions/{served.run}/units/R-1/decision", "aud",
                           json={"status": "confirmed"})
    assert r.status_code == 403
    assert _shape(added) == sorted([("users.authenticate", "ok", "aud"), ("redact.review", "refused", "aud")])
    # a not-found the service refuses and logs itself: the item's stored content no longer matches its intake
    stored = Path(f"{tmp_path / 's.duckdb'}.evidence") / "sha256" / served.item_sha256[:2] / served.item_sha256[2:]
    stored.chmod(0o600)
    stored.write_bytes(b"altered\n")
    r, added = served.call("POST", f"/api/evidence/items/{served.item}/redactions", "ana", json={"ner": "none"})
    assert r.status_code == 404 and "stored content is hash" in r.json()["error"], r.text
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("redact.text", "refused", "ana")])
    altered = hashlib.sha256(b"altered\n").hexdigest()
    assert _refused(added).detail == {"reason": f"stored content of {served.item} is hash {altered}"}


# an answered request: one entry for the use, no more ---------------------------------------------------------
def test_answered_requests_still_log_one_entry_each(served: Served) -> None:
    r, added = served.call("POST", f"/api/evidence/items/{served.item}/custody", "ana", json={"to": "locker 4"})
    assert r.status_code == 200, r.text
    assert _shape(added) == sorted([("users.authenticate", "ok", "ana"), ("evidence.transfer", "ok", "ana")])
    r, added = served.call("POST", f"/api/redactions/{served.run}/units/R-1/decision", "sam",
                           json={"status": "confirmed"})
    assert r.status_code == 200, r.text
    assert _shape(added) == sorted([("users.authenticate", "ok", "sam"), ("redact.review", "ok", "sam")])
    r, added = served.call("GET", "/api/users", "adm")
    assert r.status_code == 200
    assert _shape(added) == sorted([("users.authenticate", "ok", "adm"), ("users.list", "ok", "adm")])


# the table of route actions --------------------------------------------------------------------------------
def test_every_route_has_an_action(served: Served) -> None:
    routes = {(m.upper(), p) for p, ops in served.app.openapi()["paths"].items() for m in ops}
    assert routes == set(ROUTE_ACTIONS)


@pytest.mark.parametrize(("method", "path", "body", "action"), [t[:4] for t in TABLE],
                         ids=[f"{t[0]} {t[1]}" for t in TABLE])
def test_each_action_is_the_one_the_route_checks(method: str, path: str, body: dict[str, Any] | None,
                                                 action: str) -> None:
    parts = path.split("?")[0].strip("/").split("/")
    [(params, found)] = [
        ({k[1:-1]: v for k, v in zip(t, parts, strict=True) if k.startswith("{")}, a)
        for (m, p), a in ROUTE_ACTIONS.items()
        if m == method and len(t := p.strip("/").split("/")) == len(parts)
        and all(k == v or k.startswith("{") for k, v in zip(t, parts, strict=True))]
    assert (found if isinstance(found, str) else found(params, body)) == action
