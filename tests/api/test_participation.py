"""The deployment lifecycle through HTTP: proposal, assessment, public comment (no account needed),
board review and votes, activation, incident-driven suspension, resume, renewal, complaints and their
answers, retention, decommission; each call one ledger entry under the caller's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance._aia import AIA_QUESTIONS
from tests.api.city import DEPLOYMENT, City, copy_city
from tests.api.conftest import auth

NAME = "series-review"
LOW = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}


@pytest.fixture(scope="module")
def served(city_template: City, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, City]]:
    city = copy_city(city_template, tmp_path_factory.mktemp("participation"))
    web: FastAPI = create_app(Settings(db=city.db))
    # the whole path within one test: a 0-day comment period, under the demo setting only (the floor is 14)
    with pytest.MonkeyPatch.context() as mp, TestClient(web, base_url="http://127.0.0.1") as c:
        mp.setenv("CRIMELENS_GOVERNANCE_DEMO", "1")
        yield c, city
    web.state.close()


def re_hex(complaint_id: str) -> bool:
    """A receipt hard to guess: 16 hex digits (64 bits)."""
    return re.fullmatch(r"cmp-[0-9a-f]{16}", complaint_id) is not None


def _last_entry(client: TestClient, city: City) -> dict[str, Any]:
    page = client.get("/api/ledger/entries?limit=5", headers=auth(city, "aud", "oversight")).json()
    # the auditor's own sign-in and read are logged first (newest first); the caller's sign-in
    # comes before the call it made
    return next(e for e in page["items"] if e["user"] != "aud" and e["action"] != "users.authenticate")


def test_a_deployment_goes_from_proposal_to_decommission_over_http(served: tuple[TestClient, City]) -> None:
    client, city = served
    model = client.get(f"/api/deployments/{DEPLOYMENT}", headers=auth(city, "ana")).json()["deployment"]
    proposal = {"name": NAME, "model": model["model"], "model_version": model["model_version"],
                "description": "Candidate series for analysts to review",
                "policy": {"allowed_purposes": ["series review"], "min_comment_days": 0, "board_quorum": 3,
                           "retention_days": {"outputs": 30}}}
    # a policy naming a role that does not exist is refused with the key and the roles allowed
    bad = client.post("/api/deployments", json={**proposal, "policy": {"allowed_purposes": ["x"],
                                                                        "allowed_roles": ["sheriff"]}},
                      headers=auth(city, "ana", "deployment proposal"))
    assert bad.status_code == 422 and "allowed_roles" in bad.json()["error"] and "'sheriff'" in bad.json()["error"]
    made = client.post("/api/deployments", json=proposal, headers=auth(city, "ana", "deployment proposal"))
    assert made.status_code == 200, made.text
    assert made.json()["deployment"]["state"] == "draft"
    assessed = client.put(f"/api/deployments/{NAME}/assessment", json={"answers": LOW},
                          headers=auth(city, "ana", "impact assessment"))
    assert assessed.status_code == 200 and assessed.json()["assessment"]["level"] == "I"

    # the public cannot comment on a draft; the refusal is logged under their name
    early = client.post(f"/api/deployments/{NAME}/comments", json={"body": "What is this?", "name": "Lee"})
    assert early.status_code == 403 and "not open for public comment" in early.json()["error"]
    refused = _last_entry(client, city)
    assert (refused["action"], refused["user"], refused["outcome"]) == ("deployments.comment", "public:Lee", "refused")
    # an analyst cannot open comment; a supervisor can
    assert client.post(f"/api/deployments/{NAME}/transitions/open-comment", json={},
                       headers=auth(city, "ana")).status_code == 403
    opened = client.post(f"/api/deployments/{NAME}/transitions/open-comment", json={},
                         headers=auth(city, "sam", "public notice"))
    assert opened.status_code == 200 and opened.json()["deployment"]["state"] == "public_comment"

    # members of the public comment without an account, named or not
    c1 = client.post(f"/api/deployments/{NAME}/comments", json={"body": "Who checks the series?", "name": "Lee"})
    c2 = client.post(f"/api/deployments/{NAME}/comments", json={"body": "Keep it out of my street."})
    assert c1.status_code == c2.status_code == 200, (c1.text, c2.text)
    entry = _last_entry(client, city)
    assert (entry["seq"], entry["user"], entry["role"], entry["purpose"]) == (
        c2.json()["ledger_seq"], "public:anonymous", "public", "public participation")
    # a bad token is not anonymity: it is refused
    assert client.post(f"/api/deployments/{NAME}/comments", json={"body": "x"},
                       headers={"Authorization": "Bearer clk_0.x"}).status_code == 401

    # a vote before board review is refused; review opens; members comment and vote
    assert client.post(f"/api/deployments/{NAME}/votes", json={"vote": "approve", "reason": "test vote"},
                       headers=auth(city, "bea", "oversight")).status_code == 403
    assert client.post(f"/api/deployments/{NAME}/transitions/start-review", json={},
                       headers=auth(city, "sam", "oversight review")).json()["deployment"]["state"] == "board_review"
    assert client.post(f"/api/deployments/{NAME}/board-comments", json={"body": "Retention of 30 days is right."},
                       headers=auth(city, "bea", "oversight")).status_code == 200
    assert client.post(f"/api/deployments/{NAME}/votes", json={"vote": "approve", "reason": "test vote"},
                       headers=auth(city, "ana", "oversight")).status_code == 403  # analysts do not vote
    for member, choice in (("bea", "approve"), ("bob", "approve"), ("bo", "reject"), ("bo", "abstain")):
        v = client.post(f"/api/deployments/{NAME}/votes", json={"vote": choice, "reason": "read the comments"},
                        headers=auth(city, member, "oversight"))
        assert v.status_code == 200, v.text
    closed = client.post(f"/api/deployments/{NAME}/transitions/close-review", json={},
                         headers=auth(city, "bea", "oversight"))
    assert closed.status_code == 200 and closed.json()["deployment"]["state"] == "approved"
    assert _last_entry(client, city)["detail"]["votes"] == {"bea": "approve", "bob": "approve", "bo": "abstain"}
    active = client.post(f"/api/deployments/{NAME}/transitions/activate", json={},
                         headers=auth(city, "ada", "administration"))
    assert active.json()["deployment"]["state"] == "active"

    # the public reads the whole record without an account
    shown = client.get(f"/api/deployments/{NAME}").json()["deployment"]
    assert [(c["stage"], c["author"]) for c in shown["comments"]][:3] == [
        ("public", "public:Lee"), ("public", "public:anonymous"), ("board", "bea")]
    assert [e["to_state"] for e in shown["events"]] == ["draft", "public_comment", "board_review", "approved",
                                                        "active"]
    assert {v["voter"]: v["vote"] for v in shown["votes"]} == {"bea": "approve", "bob": "approve", "bo": "abstain"}
    listed = client.get("/api/deployments").json()
    assert {d["name"]: d["state"] for d in listed["items"]} == {DEPLOYMENT: "active", NAME: "active"}

    # a high-severity harm report suspends it at once; the board resumes it with a reason
    report = client.post("/api/incident-reports", headers=auth(city, "ana", "incident report"),
                         json={"kind": "harm", "severity": "high", "deployment": NAME,
                               "description": "A series merged two unrelated victims' cases."})
    assert report.status_code == 200 and report.json()["suspended"] is True
    assert client.get(f"/api/deployments/{NAME}").json()["deployment"]["state"] == "suspended"
    no_reason = client.post(f"/api/deployments/{NAME}/transitions/resume", json={},
                            headers=auth(city, "bea", "oversight"))
    assert no_reason.status_code == 422 and "empty reason" in no_reason.json()["error"]
    resumed = client.post(f"/api/deployments/{NAME}/transitions/resume", json={"reason": "linker retrained"},
                          headers=auth(city, "bea", "oversight"))
    assert resumed.json()["deployment"]["state"] == "active"
    before = resumed.json()["deployment"]["approved_until"]
    # renewal goes back to the public first: refused until a renewal comment period is opened
    early_renew = client.post(f"/api/deployments/{NAME}/transitions/renew", json={"reason": "annual review held"},
                              headers=auth(city, "bea", "oversight"))
    assert early_renew.status_code == 403 and "open-renewal" in early_renew.json()["error"]
    assert client.post(f"/api/deployments/{NAME}/transitions/open-renewal", json={},
                       headers=auth(city, "sam", "public notice")).json()["deployment"]["renewal_opened_at"]
    assert client.post(f"/api/deployments/{NAME}/comments",
                       json={"body": "Renew only with the harm report answered.", "name": "Lee"}).status_code == 200
    renewed = client.post(f"/api/deployments/{NAME}/transitions/renew", json={"reason": "annual review held"},
                          headers=auth(city, "bea", "oversight"))
    assert renewed.status_code == 200 and renewed.json()["deployment"]["approved_until"] >= before
    assert renewed.json()["deployment"]["renewal_opened_at"] is None
    assert _last_entry(client, city)["detail"]["renewal_comments"] == 1

    # a complaint from the public, linked to the entry it is about; staff read it, the board answers
    filed = client.post("/api/complaints", json={"body": "My comment was ignored.", "name": "Lee",
                                                 "entry_seqs": [c1.json()["ledger_seq"]], "deployment": NAME})
    assert filed.status_code == 200, filed.text
    cid = filed.json()["complaint_id"]
    bad_entry = client.post("/api/complaints", json={"body": "x", "entry_seqs": [10**9]})
    assert bad_entry.status_code == 422 and "do not exist" in bad_entry.json()["error"]
    assert client.get("/api/complaints").status_code == 401  # complaints are read by staff, not published
    assert client.post(f"/api/complaints/{cid}/response", json={"response": "noted"},
                       headers=auth(city, "ana")).status_code == 403
    assert client.post(f"/api/complaints/{cid}/response", json={"response": "The board read it on 3 May."},
                       headers=auth(city, "bea", "oversight")).status_code == 200
    # a second answer is refused: the first is what the complainant has read
    again = client.post(f"/api/complaints/{cid}/response", json={"response": "Something else."},
                        headers=auth(city, "bob", "oversight"))
    assert again.status_code == 422 and "already answered" in again.json()["error"]
    # the complainant, still without an account, reads the answer with the id as receipt
    status = client.get(f"/api/complaints/{cid}").json()["complaint"]
    assert (status["status"], status["response"], status["entry_seqs"]) == (
        "answered", "The board read it on 3 May.", [c1.json()["ledger_seq"]])
    assert "body" not in status and "complainant" not in status  # the text and author stay with the staff
    assert re_hex(cid) and client.get("/api/complaints/cmp-0000000000000000").status_code == 404
    got = client.get(f"/api/complaints?deployment={NAME}", headers=auth(city, "aud", "oversight")).json()
    (item,) = got["items"]
    assert (item["complainant"], item["status"], item["entry_seqs"]) == (
        "public:Lee", "answered", [c1.json()["ledger_seq"]])

    # the kill switch from the board; an analyst may not pull it
    assert client.post("/api/killswitch", json={"engaged": True, "reason": "drill"},
                       headers=auth(city, "ana")).status_code == 403
    for engaged in (True, False):
        k = client.post("/api/killswitch", json={"engaged": engaged, "reason": "drill"},
                        headers=auth(city, "bea", "oversight"))
        assert k.status_code == 200 and _last_entry(client, city)["action"] == (
            "killswitch.engage" if engaged else "killswitch.release")
        # anyone, without an account, reads the switch and what it means now on the deployments list
        row = next(x for x in client.get("/api/deployments").json()["items"] if x["name"] == NAME)
        assert row["state"] == "active"
        assert row["effective_state"].startswith("blocked: kill switch engaged at ") == engaged
        assert (row["effective_state"] == "active") != engaged and row["kill_switch"]["engaged"] is engaged

    # retention: an administrator lists what is due; nothing is 30 days old yet
    dry = client.post("/api/retention/purge", json={"dry_run": True, "deployment": NAME},
                      headers=auth(city, "ada", "administration"))
    assert dry.status_code == 200
    assert dry.json()["report"]["deployments"] == [
        {"deployment": NAME, "retention_days": 30, "cutoff": dry.json()["report"]["deployments"][0]["cutoff"],
         "purged": []}]
    assert client.post("/api/retention/purge", json={"dry_run": True},
                       headers=auth(city, "ana")).status_code == 403

    gone = client.post(f"/api/deployments/{NAME}/transitions/decommission", json={"reason": "pilot ended"},
                       headers=auth(city, "ada", "administration"))
    assert gone.json()["deployment"]["state"] == "decommissioned"
    # every step above is in the ledger under its caller, and the ledger verifies
    verify = client.post("/api/ledger/verify", headers=auth(city, "aud", "oversight")).json()["report"]
    assert verify["ok"]
    rows = client.get("/api/ledger/entries?limit=200", headers=auth(city, "aud", "oversight")).json()["items"]
    ours = [(e["action"], e["user"], e["outcome"]) for e in reversed(rows)
            if e["action"].startswith(("deployments.", "complaints.", "incidents.", "killswitch."))
            and json.dumps(e).find(NAME) >= 0]
    assert ("deployments.create", "ana", "ok") in ours and ("deployments.decommission", "ada", "ok") in ours
    assert ours.count(("deployments.comment", "public:Lee", "ok")) == 2  # on the proposal, on the renewal
    assert ("complaints.file", "public:Lee", "ok") in ours


def test_public_routes_take_no_account_and_nothing_else_does(served: tuple[TestClient, City]) -> None:
    client, city = served
    assert client.get("/api/ledger/head").status_code == 200
    assert client.get("/api/ledger/proof/0").status_code == 200
    # a proof shows the public that an entry is in the signed ledger, not what it says: every entry's
    # payload (case names, free-text purposes, refusal reasons) is withheld from a caller without an
    # account, and given to one whose role reads entries; the leaf hash is the payload's either way
    import hashlib

    size = client.get("/api/ledger/head").json()["head"]["tree_size"]
    for seq in range(size):
        public = client.get(f"/api/ledger/proof/{seq}").json()["proof"]
        assert public["payload"] is None and "may not read entries" in public["payload_withheld"], seq
    staff = client.get(f"/api/ledger/proof/{size - 1}", headers=auth(city, "aud", "oversight")).json()["proof"]
    assert "payload_withheld" not in staff and f'"seq":{size - 1}' in staff["payload"]
    assert hashlib.sha256(b"\x00" + staff["payload"].encode()).hexdigest() == staff["leaf_hash"]
    assert client.get("/api/reports/annual/2024").status_code == 200
    # the public may read and comment, not vote, propose or read staff lists
    for method, path, body in (("POST", f"/api/deployments/{DEPLOYMENT}/votes", {"vote": "approve", "reason": "test vote"}),
                               ("POST", "/api/deployments", {"name": "x", "model": "m", "model_version": "1",
                                                             "description": "d", "policy": {}}),
                               ("GET", "/api/review", None), ("GET", "/api/complaints", None),
                               ("POST", "/api/ledger/verify", None)):
        assert client.request(method, path, json=body).status_code == 401, (method, path)
