"""An export uploaded to the running service: ingested like `crimelens ingest`, quarantine readable, all logged."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.city import City
from tests.api.conftest import auth
from tests.conftest import shared

SF = "sf_robbery/san_francisco_robbery.csv"


def _send(client: TestClient, city: City, dataset: str, data: bytes, filename: str, user: str = "ana") -> object:
    return client.post(f"/api/datasets/{dataset}/files", params={"filename": filename}, content=data,
                       headers={**auth(city, user, "monthly load"), "Content-Type": "application/octet-stream"})


def test_a_real_export_lands_once_and_is_recorded_as_an_upload(client: TestClient, city: City) -> None:
    data = shared(SF).read_bytes()
    r = _send(client, city, "sf", data, "san_francisco_robbery.csv")
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    s = r.json()  # type: ignore[attr-defined]
    assert s["dataset"] == "sf" and s["n_read"] == 951 and s["n_landed"] + s["n_quarantined"] == 951
    assert s["n_landed"] > 900 and not s["already_ingested"]
    ds = client.get("/api/datasets", params={"dataset": "sf"}, headers=auth(city, "ana")).json()["datasets"][0]
    assert ds["n_incidents"] == s["n_landed"]
    entry = client.get("/api/ledger/entries", params={"action": "ingest.file"}, headers=auth(city, "aud")).json()
    assert entry["items"][0]["data_hash"] == hashlib.sha256(data).hexdigest()
    assert entry["items"][0]["user"] == "ana" and entry["items"][0]["purpose"] == "monthly load"
    again = _send(client, city, "sf", data, "copy-of-the-same.csv").json()  # type: ignore[attr-defined]
    assert again["already_ingested"] and again["ingest_id"] == s["ingest_id"]
    assert client.get("/api/datasets", params={"dataset": "sf"},
                      headers=auth(city, "ana")).json()["datasets"][0]["n_incidents"] == s["n_landed"]
    # a real export comes without area polygons: its basemap is empty, not an error the pages trip on
    areas = client.get("/api/areas", params={"dataset": "sf"}, headers=auth(city, "ana"))
    assert areas.status_code == 200 and areas.json()["features"] == []
    assert "no area polygons" in areas.json()["properties"]["note"]
    assert client.get("/api/areas", params={"dataset": "nowhere"}, headers=auth(city, "ana")).status_code == 404


def test_refused_rows_are_kept_with_their_reason_and_readable(client: TestClient, city: City, tmp_path: Path) -> None:
    lines = shared(SF).read_text().splitlines()[:21]
    lines.append("99999901,personal robbery,2019-13-45T25:00:00Z,-122.40,37.78")  # line 22: no such date
    lines.append("99999902,personal robbery,2019-03-01T10:00:00Z,,")  # line 23: no coordinates
    body = ("\n".join(lines) + "\n").encode()
    s = _send(client, city, "sf_sample", body, "sf_sample.csv").json()  # type: ignore[attr-defined]
    assert s["n_read"] == 22 and s["n_landed"] + s["n_quarantined"] == 22 and s["n_quarantined"] >= 1
    q = client.get("/api/quarantine", params={"dataset": "sf_sample"}, headers=auth(city, "aud", "audit")).json()
    assert q["total"] == s["n_quarantined"]
    bad = next(row for row in q["rows"] if row["line"] == 22)
    assert bad["reason"] and "2019-13-45" in str(bad["value"]) + str(bad["raw"])
    logged = client.get("/api/ledger/entries", params={"action": "quarantine.list"},
                        headers=auth(city, "aud")).json()["items"][0]
    assert logged["user"] == "aud" and logged["detail"]["dataset"] == "sf_sample"


def test_uploads_are_refused_before_reading_and_named(client: TestClient, city: City) -> None:
    r = _send(client, city, "sf", b"uid,offense_type\n1,x\n", "x.csv", user="aud")
    assert r.status_code == 403 and "ingest.file" in r.json()["error"]  # type: ignore[attr-defined]
    r = _send(client, city, "odd", b"a,b,c\n1,2,3\n", "odd.csv")
    assert r.status_code == 422 and "odd.csv" in r.json()["error"]  # type: ignore[attr-defined]
    r = _send(client, city, "odd", b"", "empty.csv")
    assert r.status_code == 422 and "empty body" in r.json()["error"]  # type: ignore[attr-defined]
