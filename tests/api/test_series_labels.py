"""An analyst confirms a series through the service; the labels are stored for training and logged."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.storage._linkage import series_labels
from tests.api.city import City
from tests.api.conftest import auth


def test_confirmed_series_is_stored_logged_and_refused_when_wrong(client: TestClient, city: City,
                                                                  app: FastAPI) -> None:
    ids = [x["incident_id"] for x in client.get("/api/incidents", params={"dataset": "synth", "limit": 3},
                                                headers=auth(city, "ana")).json()["items"]]
    body = {"dataset": "synth", "incident_ids": ids[:2], "series": "ARREST-2024-117", "note": "arrest report 117"}
    r = client.post("/api/series-labels", json=body, headers=auth(city, "ana", "series review"))
    assert r.status_code == 200 and r.json()["n_labelled"] == 2, r.text
    stored = series_labels(app.state.ctx.store, "synth")
    assert set(stored.loc[stored["label"] == "ARREST-2024-117", "incident_id"]) == set(ids[:2])
    entry = client.get("/api/ledger/entries", params={"action": "link.label"}, headers=auth(city, "aud")).json()
    assert entry["items"][0]["user"] == "ana" and entry["items"][0]["detail"]["note"] == "arrest report 117"

    r = client.post("/api/series-labels", json={**body, "incident_ids": [ids[2], "NO-SUCH-ID"]},
                    headers=auth(city, "ana"))
    assert r.status_code == 404 and "NO-SUCH-ID" in r.json()["error"]
    r = client.post("/api/series-labels", json={**body, "incident_ids": []}, headers=auth(city, "ana"))
    assert r.status_code == 422
    r = client.post("/api/series-labels", json=body, headers=auth(city, "aud"))
    assert r.status_code == 403 and "link.label" in r.json()["error"]
    assert len(series_labels(app.state.ctx.store, "synth").query("label == 'ARREST-2024-117'")) == 2
