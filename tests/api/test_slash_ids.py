"""Identifiers with a '/' in them reach their routes.

Crime references are often written with slashes (police.uk style ``12/34567/19``, case numbers
such as ``CASE/2024/7``). The dashboard sends them URL-encoded (``%2F``), which the server decodes
before routing: without a path converter such an incident, case or document matched no route
(404 "no such route"), so its near-repeat alert, similar incidents, evidence and review could not
be reached from the browser.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.api.city import City
from tests.api.conftest import auth
from tests.conftest import shared


def _q(value: str) -> str:
    return quote(value, safe="")


def test_an_incident_reference_with_slashes_gets_its_alert(client: TestClient, city: City) -> None:
    rows = shared("sf_robbery/san_francisco_robbery.csv").read_text().splitlines()[1:301]
    body = ["incident_id,offense,occurred_from,occurred_to,lon,lat"]
    for r in rows:
        uid, _, when, lon, lat = r.split(",")
        t = when.replace("Z", "-08:00")
        body.append(f"SF/2019/{uid},robbery,{t},{t},{lon},{lat}")
    up = client.post("/api/datasets/refs/files", params={"filename": "refs.csv"}, content="\n".join(body).encode(),
                     headers={**auth(city, "ana"), "Content-Type": "text/csv"})
    assert up.status_code == 200, up.text
    assert up.json()["n_landed"] == 300
    ref = f"SF/2019/{rows[-1].split(',')[0]}"
    r = client.post(f"/api/incidents/{_q(ref)}/nearrepeat",
                    json={"dataset": "refs", "permutations": 19, "seed": 1}, headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    assert r.json()["incident_id"] == ref
    # no linker is trained for this dataset: the answer is about the linker, not "no such route"
    r = client.get(f"/api/incidents/{_q(ref)}/similar", params={"dataset": "refs"}, headers=auth(city, "ana"))
    assert r.status_code == 404 and r.json()["type"] == "NotFoundError" and "linker" in r.json()["error"]


def test_a_case_number_and_a_document_id_with_slashes(client: TestClient, city: City) -> None:
    case = "CASE/2024/7"
    docs = [{"report_id": "24/0117", "text": "Witness Olu Adeyemi called 312-555-0199."}]
    r = client.post(f"/api/evidence/cases/{_q(case)}/items", params={"source": "RMS export", "filename": "n.jsonl"},
                    content="".join(json.dumps(d) + "\n" for d in docs).encode(),
                    headers={**auth(city, "ana"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["case_id"] == case
    shown = client.get(f"/api/evidence/cases/{_q(case)}", headers=auth(city, "ana"))
    assert shown.status_code == 200 and [i["item_id"] for i in shown.json()["items"]] == [item["item_id"]]
    verified = client.post(f"/api/evidence/cases/{_q(case)}/verify", headers=auth(city, "ana"))
    assert verified.status_code == 200 and verified.json()["ok"]
    run = client.post(f"/api/evidence/items/{item['item_id']}/redactions", json={"ner": "none"},
                      headers=auth(city, "ana", "public records request 24-117")).json()
    unit = client.get(f"/api/redactions/{run['run_id']}/units/{_q('24/0117')}", headers=auth(city, "sam"))
    assert unit.status_code == 200, unit.text
    assert unit.json()["text"] == docs[0]["text"]
    decided = client.post(f"/api/redactions/{run['run_id']}/units/{_q('24/0117')}/decision",
                          json={"status": "confirmed"}, headers=auth(city, "sam"))
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "confirmed"


def test_a_deployment_named_with_a_slash_reaches_its_routes(client: TestClient, city: City) -> None:
    from tests.api.city import DEPLOYMENT

    model = client.get(f"/api/deployments/{DEPLOYMENT}", headers=auth(city, "ana")).json()["deployment"]
    name = "North/South burglary review"
    made = client.post("/api/deployments", json={
        "name": name, "model": model["model"], "model_version": model["model_version"], "description": "x",
        "policy": {"allowed_purposes": ["series review"]}}, headers=auth(city, "ana", "deployment proposal"))
    assert made.status_code == 200, made.text
    shown = client.get(f"/api/deployments/{_q(name)}", headers=auth(city, "aud"))
    assert shown.status_code == 200 and shown.json()["deployment"]["name"] == name
    stopped = client.post(f"/api/deployments/{_q(name)}/suspend", json={"reason": "test of the kill switch"},
                          headers=auth(city, "sam", "oversight"))
    # the service answers (a draft cannot be suspended), not the router ("no such route")
    assert stopped.status_code == 403 and stopped.json()["type"] == "ApprovalRequiredError"
    assert f"deployment {name!r}: cannot suspend from draft" in stopped.json()["error"]
