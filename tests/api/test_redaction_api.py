"""Redaction through the service: an item of a case is redacted where it is stored, a reviewer reads one
document at a time (staff only, logged), confirms, corrects or rejects it, and a fully reviewed run is
released as a derivative item that holds no original text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.city import City
from tests.api.conftest import auth

DOCS = [
    {"report_id": "R-1", "text": "V1 Maria Garcia (DOB 04/12/1985) of 1423 W Elm St called (312) 555-0143."},
    {"report_id": "R-2", "text": "Witness Olu Adeyemi saw the car; plate 7ABC123. Call 312-555-0199 for him."},
    {"report_id": "R-3", "text": "Nothing personal here: the 1400 block of W Elm St at 10:15 on 2024-03-02."},
]


def _upload(client: TestClient, city: City, case: str, name: str, data: bytes) -> dict[str, Any]:
    r = client.post(f"/api/evidence/cases/{case}/items", params={"source": "RMS export", "filename": name},
                    content=data, headers={**auth(city, "ana"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture(scope="module")
def text_run(client: TestClient, city: City) -> dict[str, Any]:
    body = "".join(json.dumps(d) + "\n" for d in DOCS).encode()
    item = _upload(client, city, "RD-1", "narratives.jsonl", body)
    r = client.post(f"/api/evidence/items/{item['item_id']}/redactions", json={"ner": "none"},
                    headers=auth(city, "ana", "public records request 24-117"))
    assert r.status_code == 200, r.text
    run: dict[str, Any] = r.json()
    run["source"] = item
    return run


def test_a_narrative_item_is_redacted_and_queued_without_its_text(text_run: dict[str, Any], client: TestClient,
                                                                   city: City) -> None:
    assert text_run["kind"] == "text" and text_run["n_review"] == 3 and text_run["n_detections"] >= 4
    assert text_run["source_item_id"] == text_run["source"]["item_id"]
    assert text_run["input_name"] == "narratives.jsonl" and text_run["status"] == "pending_review"
    listed = client.get("/api/redactions", params={"case": "RD-1"}, headers=auth(city, "aud")).json()
    row = next(x for x in listed["items"] if x["run_id"] == text_run["run_id"])
    assert (row["n_pending"], row["n_review"], row["kind"]) == (3, 3, "text")
    shown = client.get(f"/api/redactions/{text_run['run_id']}", headers=auth(city, "bea"))
    assert shown.status_code == 200 and not shown.json()["releasable"]
    assert "Garcia" not in shown.text and "555-0143" not in shown.text  # no clear text for a reader


def test_a_reviewer_reads_the_document_and_an_auditor_cannot(text_run: dict[str, Any], client: TestClient,
                                                            city: City) -> None:
    path = f"/api/redactions/{text_run['run_id']}/units/R-1"
    r = client.get(path, headers=auth(city, "aud"))
    assert r.status_code == 403 and "redact.inspect" in r.json()["error"]
    unit = client.get(path, headers=auth(city, "sam")).json()
    assert unit["text"] == DOCS[0]["text"]
    found = {unit["text"][d["start_pos"]:d["end_pos"]] for d in unit["detections"]}
    assert "(312) 555-0143" in found and "04/12/1985" in found
    assert client.get(f"/api/redactions/{text_run['run_id']}/units/R-9", headers=auth(city, "sam")).status_code == 404
    entries = client.get("/api/ledger/entries", params={"limit": 30}, headers=auth(city, "aud")).json()["items"]
    assert any(e["action"] == "redact.inspect" and e["user"] == "sam" and e["outcome"] == "ok" for e in entries)
    assert any(e["action"] == "redact.inspect" and e["user"] == "aud" and e["outcome"] == "refused" for e in entries)


def test_review_then_release_makes_a_derivative_without_original_text(text_run: dict[str, Any], client: TestClient,
                                                                       city: City) -> None:
    run_id = text_run["run_id"]
    sam = auth(city, "sam", "public records request 24-117")
    r = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert r.status_code == 403 and "pending" in r.json()["error"]
    u2 = client.get(f"/api/redactions/{run_id}/units/R-2", headers=sam).json()
    name = (u2["text"].index("Olu Adeyemi"), u2["text"].index("Olu Adeyemi") + len("Olu Adeyemi"))
    plate = next((d["idx"] for d in u2["detections"] if d["type"] == "LICENSE_PLATE"), None)
    decisions = [("R-1", {"status": "confirmed"}),
                 ("R-2", {"status": "corrected", "add": [[name[0], name[1], "PERSON"]],
                          "remove": [] if plate is None else [plate], "note": "plate is public in the alert"}),
                 ("R-3", {"status": "rejected", "note": "check the block address"})]
    for unit, body in decisions:
        r = client.post(f"/api/redactions/{run_id}/units/{unit}/decision", json=body, headers=sam)
        assert r.status_code == 200, r.text
    r = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert r.status_code == 403 and "rejected" in r.json()["error"]
    r = client.post(f"/api/redactions/{run_id}/units/R-3/decision", json={"status": "confirmed"}, headers=sam)
    assert r.status_code == 200
    assert client.get(f"/api/redactions/{run_id}", headers=sam).json()["releasable"] is True
    released = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert released.status_code == 200, released.text
    out_item = released.json()["output_item_id"]
    got = client.get(f"/api/evidence/items/{out_item}/content", headers=auth(city, "ana"))
    assert got.status_code == 200
    lines = [json.loads(x) for x in got.text.splitlines()]
    assert [x["report_id"] for x in lines] == ["R-1", "R-2", "R-3"] and all(set(x) == {"report_id", "redacted"}
                                                                            for x in lines)
    assert "555-0143" not in got.text and "Maria Garcia" not in got.text and "04/12/1985" not in got.text
    assert "Olu Adeyemi" not in lines[1]["redacted"] and "[PERSON]" in lines[1]["redacted"]
    if plate is not None:
        assert "7ABC123" in lines[1]["redacted"]  # the reviewer undid that detection
    assert lines[2]["redacted"] == DOCS[2]["text"]
    item = client.get(f"/api/evidence/items/{out_item}", headers=auth(city, "aud")).json()
    assert item["item"]["parent_item_id"] == text_run["source"]["item_id"]
    assert item["item"]["derivation"] == "redacted"
    # decisions close with the release
    r = client.post(f"/api/redactions/{run_id}/units/R-1/decision", json={"status": "rejected"}, headers=sam)
    assert r.status_code in (400, 409, 422) and "released" in r.json()["error"]
    r = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert "already released" in r.json()["error"]


def test_an_image_item_is_blurred_into_a_derivative_and_a_bad_kind_is_named(client: TestClient, city: City,
                                                                            tmp_path: Path) -> None:
    data = pytest.importorskip("skimage.data")
    png = tmp_path / "scene.png"
    cv2.imwrite(str(png), np.ascontiguousarray(data.astronaut()[:, :, ::-1]))
    item = _upload(client, city, "RD-2", "scene.png", png.read_bytes())
    r = client.post(f"/api/evidence/items/{item['item_id']}/redactions", json={}, headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["kind"] == "image" and run["n_detections"] >= 1 and run["output_item_id"]
    unit = client.get(f"/api/redactions/{run['run_id']}/units/0", headers=auth(city, "ana")).json()
    assert unit["output_item_id"] == run["output_item_id"] and unit["detections"][0]["box_w"] > 0
    r = client.post(f"/api/redactions/{run['run_id']}/units/0/decision",
                    json={"status": "corrected", "add": [[0, 5, "PERSON"]]}, headers=auth(city, "sam"))
    assert r.status_code in (400, 422) and "text runs" in r.json()["error"]
    [refused] = client.get("/api/ledger/entries", params={"limit": 1, "action": "redact.review"},
                           headers=auth(city, "aud")).json()["items"]  # the newest: this refusal, logged
    assert (refused["outcome"], refused["user"], refused["detail"]["error"]) == ("refused", "sam", "InputError")
    assert refused["detail"]["reason"] == r.json()["error"] and refused["detail"]["run_id"] == run["run_id"]
    other = _upload(client, city, "RD-2", "notes.txt", b"free text")
    r = client.post(f"/api/evidence/items/{other['item_id']}/redactions", json={}, headers=auth(city, "ana"))
    assert r.status_code in (400, 422) and "notes.txt" in r.json()["error"] and ".jsonl" in r.json()["error"]
    assert ".avi" in r.json()["error"]  # and video
    r = client.post(f"/api/evidence/items/{item['item_id']}/redactions", json={}, headers=auth(city, "bea"))
    assert r.status_code == 403


def test_a_video_item_is_blurred_with_progress_reviewed_by_frame_and_released(client: TestClient, city: City,
                                                                            tmp_path: Path) -> None:
    from tests.evidence.test_faces import _synthetic_video

    data = pytest.importorskip("skimage.data")
    clip = tmp_path / "corner.avi"
    _synthetic_video(clip, np.ascontiguousarray(data.astronaut()[:, :, ::-1]))
    item = _upload(client, city, "RD-3", "corner.avi", clip.read_bytes())
    headers = {**auth(city, "ana", "public records request 24-118"), "Accept": "application/x-ndjson"}
    with client.stream("POST", f"/api/evidence/items/{item['item_id']}/redactions", json={}, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert [(x["done"], x["total"]) for x in lines[:-1]] == [(k, 24) for k in range(1, 25)]
    run = lines[-1]["result"]
    assert run["kind"] == "video" and run["n_units"] == 24 and run["input_name"] == "corner.avi"
    assert run["source_item_id"] == item["item_id"] and run["output_item_id"] and run["n_review"] >= 2
    run_id = run["run_id"]
    sam = auth(city, "sam", "public records request 24-118")
    queue = client.get(f"/api/redactions/{run_id}", headers=sam).json()["queue"]
    units = [q["unit"] for q in queue]
    assert {"0", "23"} <= set(units) and len(units) < 24
    unit = client.get(f"/api/redactions/{run_id}/units/0", headers=sam).json()
    assert unit["frame"] == 0 and unit["output_item_id"] == run["output_item_id"] and unit["detections"]
    r = client.get(f"/api/redactions/{run_id}/units/0/frame", headers=sam)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    shown = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    cap = cv2.VideoCapture(str(clip))
    ok, original = cap.read()
    cap.release()
    assert ok and shown.shape == original.shape == (240, 320, 3)
    # the reviewer sees the blurred frame: the face's fine detail is gone, the grey background is not
    box = unit["detections"][0]
    x, y, w, h = (int(box[k]) for k in ("box_x", "box_y", "box_w", "box_h"))
    lap = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(shown[y:y + h, x:x + w]) < 0.3 * lap(original[y:y + h, x:x + w])
    assert abs(float(shown[230:, :].mean()) - float(original[230:, :].mean())) < 3
    missing = next(str(k) for k in range(24) if str(k) not in units)
    r = client.get(f"/api/redactions/{run_id}/units/{missing}/frame", headers=sam)
    assert r.status_code == 404 and "not a queued frame" in r.json()["error"]
    r = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert r.status_code == 403 and "pending" in r.json()["error"]
    for u in units:
        r = client.post(f"/api/redactions/{run_id}/units/{u}/decision", json={"status": "confirmed"}, headers=sam)
        assert r.status_code == 200, r.text
    released = client.post(f"/api/redactions/{run_id}/release", headers=sam)
    assert released.status_code == 200, released.text
    assert released.json()["output_item_id"] == run["output_item_id"]
    copy = client.get(f"/api/evidence/items/{run['output_item_id']}", headers=auth(city, "aud")).json()["item"]
    assert copy["parent_item_id"] == item["item_id"] and copy["derivation"] == "redacted"
    assert copy["original_name"] == "corner.redacted.avi"
    entries = client.get("/api/ledger/entries", params={"limit": 200}, headers=auth(city, "aud")).json()["items"]
    video = [e for e in entries if e["action"] == "redact.video"]
    assert len(video) == 1 and video[0]["detail"]["n_units"] == 24 and video[0]["user"] == "ana"
    frames = [e for e in entries if e["action"] == "redact.inspect" and e["detail"].get("frame")]
    assert [e["user"] for e in frames] == ["sam"]  # the 404 was refused before anything was read


def test_a_frame_is_only_for_video_runs(text_run: dict[str, Any], client: TestClient, city: City) -> None:
    r = client.get(f"/api/redactions/{text_run['run_id']}/units/R-1/frame", headers=auth(city, "sam"))
    assert r.status_code == 422 and "frames are for video runs" in r.json()["error"]
