"""An export uploaded to the running service: ingested like `crimelens ingest`, quarantine readable, all logged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

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
    # the span in the zone the file was read in: a 2019 file runs from 1 January to 31 December there
    assert ds["timezone"] == "America/Los_Angeles"
    assert ds["first_local"].startswith("2019-01-01T") and ds["last_local"].startswith("2019-12-31T")
    assert ds["first_local"].endswith("-08:00") and ds["occurred_to"] >= ds["last_local"][:10]
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


MAPPING = """
[source]
name = "my_rms"
timezone = "America/Chicago"
crs = "EPSG:4326"

[columns]
incident_id = "case_no"
offense = "offense"
occurred_from = { column = "date", format = "%Y-%m-%d %H:%M" }
lon = "lon"
lat = "lat"

[offenses]
"BURGLARY" = "burglary"
"THEFT" = "theft"
"""
RMS = ("case_no,offense,date,lon,lat\n"
       "R1,BURGLARY,2024-03-01 10:00,-87.63,41.88\n"
       "R2,THEFT,2024-03-02 11:30,-87.64,41.87\n"
       "R3,THEFT,2024-02-30 09:00,-87.64,41.87\n")  # no 30 February: quarantined


def _put(client: TestClient, city: City, name: str, text: str, user: str = "ana") -> Any:
    return client.put(f"/api/mappings/{name}", content=text.encode(),
                      headers={**auth(city, user, "monthly load"), "Content-Type": "application/toml"})


def test_an_own_rms_export_loads_with_a_stored_mapping(client: TestClient, city: City) -> None:
    r = _put(client, city, "bad", "[columns\nincident_id = ")
    assert r.status_code == 422 and "mapping 'bad'" in r.json()["error"] and "TOML" in r.json()["error"]
    assert _put(client, city, "my_rms", MAPPING, user="aud").status_code == 403
    first = _put(client, city, "my_rms", MAPPING).json()
    assert (first["version"], first["changed"]) == (1, True)
    assert _put(client, city, "my_rms", MAPPING).json()["changed"] is False  # the same text: nothing new
    second = _put(client, city, "my_rms", MAPPING.replace('"THEFT" = "theft"', '"THEFT" = "theft"\n"ROB" = "robbery"'))
    assert second.json()["version"] == 2
    listed = client.get("/api/mappings", headers=auth(city, "aud")).json()["items"]
    assert [(m["name"], m["version"]) for m in listed] == [("my_rms", 2)]
    old = client.get("/api/mappings/my_rms", params={"version": 1}, headers=auth(city, "bea")).json()
    assert old["toml"] == MAPPING and old["sha256"] == hashlib.sha256(MAPPING.encode()).hexdigest()

    # without the mapping the header is nobody's layout; with it the rows land or are quarantined
    r = _send(client, city, "springfield", RMS.encode(), "rms_march.csv")
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    r = client.post("/api/datasets/springfield/files", params={"filename": "rms_march.csv", "mapping": "nope"},
                    content=RMS.encode(), headers={**auth(city, "ana"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 404 and "mapping 'nope'" in r.json()["error"] and "my_rms" in r.json()["error"]
    r = client.post("/api/datasets/springfield/files", params={"filename": "rms_march.csv", "mapping": "my_rms"},
                    content=RMS.encode(), headers={**auth(city, "ana"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["n_read"], s["n_landed"], s["n_quarantined"], s["reader"]) == (3, 2, 1, "my_rms")
    q = client.get("/api/quarantine", params={"dataset": "springfield"}, headers=auth(city, "ana")).json()
    assert [(row["line"], row["column"]) for row in q["rows"]] == [(4, "date")]
    entries = client.get("/api/ledger/entries", params={"limit": 30}, headers=auth(city, "aud")).json()["items"]
    assert {("ingest.mapping", "ana"), ("ingest.list", "aud"), ("ingest.show", "bea"), ("ingest.file", "ana")} <= {
        (e["action"], e["user"]) for e in entries}


def _areas_geojson(names: tuple[str, str]) -> bytes:
    import json

    def square(x0: float, y0: float) -> list[list[list[float]]]:
        return [[[x0, y0], [x0 + 0.02, y0], [x0 + 0.02, y0 + 0.02], [x0, y0 + 0.02], [x0, y0]]]

    feats = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square(-122.44 + 0.02 * k, 37.76)},
              "properties": {"area_id": f"D{k + 1}", "name": names[k], "population": 1000 * (k + 1),
                             "share_renters": 0.4 + 0.1 * k}} for k in range(2)]
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


def test_area_polygons_load_through_the_service_and_replace_only_when_asked(client: TestClient, city: City) -> None:
    _send(client, city, "sf", shared(SF).read_bytes(), "san_francisco_robbery.csv")  # the dataset the areas join

    def load(names: tuple[str, str], user: str = "ana", **params: Any) -> Any:
        return client.post("/api/datasets/sf/areas", params={"filename": "districts.geojson", **params},
                           content=_areas_geojson(names),
                           headers={**auth(city, user, "basemap"), "Content-Type": "application/octet-stream"})

    assert load(("Mission", "Castro"), user="bea").status_code == 403
    r = load(("Mission", "Castro"))
    assert r.status_code == 200, r.text
    assert (r.json()["n_areas"], r.json()["replaced"], r.json()["audit_attributes"]) == (2, 0, ["share_renters"])
    layer = client.get("/api/areas", params={"dataset": "sf"}, headers=auth(city, "ana")).json()
    names = sorted(f["properties"]["name"] for f in layer["features"] if f["properties"]["kind"] == "area")
    assert names == ["Castro", "Mission"] and any(f["properties"]["kind"] == "outline" for f in layer["features"])
    r = load(("North", "South"))
    assert r.status_code == 422 and "already has 2 areas" in r.json()["error"] and "replace=true" in r.json()["error"]
    r = load(("North", "South"), replace="true")
    assert r.status_code == 200 and r.json()["replaced"] == 2
    layer = client.get("/api/areas", params={"dataset": "sf"}, headers=auth(city, "ana")).json()
    assert sorted(f["properties"]["name"] for f in layer["features"] if f["properties"]["kind"] == "area") == [
        "North", "South"]  # the basemap follows the new set, though its size did not change


def test_an_updated_export_uploaded_lands_its_new_rows_and_a_distorting_crs_is_warned(
        client: TestClient, city: City) -> None:
    import gzip

    lines = gzip.decompress(shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz").read_bytes()
                            ).decode("utf-8").splitlines()
    first = ("\n".join(lines[:501]) + "\n").encode()

    def send(body: bytes, filename: str, **params: str) -> Any:
        return client.post("/api/datasets/chicago/files", params={"filename": filename, **params}, content=body,
                           headers={**auth(city, "ana", "monthly load"), "Content-Type": "application/octet-stream"})

    s = send(first, "assaults_jan.csv", crs="EPSG:3857").json()
    assert s["n_landed"] == 500 and s["crs_scale"]["max"] > 1.3
    assert s["warnings"] and "EPSG:32616" in s["warnings"][0]
    update = ("\n".join([lines[0], *reversed(lines[1:601])]) + "\n").encode()  # the 500 again, and 100 new
    s2 = send(update, "assaults_jan_feb.csv").json()
    assert (s2["n_landed"], s2["n_quarantined"]) == (100, 500)
    q = client.get("/api/quarantine", params={"dataset": "chicago", "reason": "duplicate row"},
                   headers=auth(city, "ana")).json()
    assert q["total"] == 500 and q["rows"][0]["reason"].startswith("duplicate row: same content as 'assaults_jan.csv:")
