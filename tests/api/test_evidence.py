"""Evidence through the service: upload, cases, custody, verification and download, each logged."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from tests.api.city import City
from tests.api.conftest import auth

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def _upload(client: TestClient, city: City, case: str, data: bytes, user: str = "ana",
            **params: str) -> Any:
    q = {"source": "body-worn camera 17", "filename": "frame.png", **params}
    return client.post(f"/api/evidence/cases/{case}/items", params=q, content=data,
                       headers={**auth(city, user), "Content-Type": "application/octet-stream"})


def _ledger(client: TestClient, city: City, action: str) -> list[dict[str, object]]:
    r = client.get("/api/ledger/entries", params={"action": action, "limit": 1000}, headers=auth(city, "aud"))
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


def _evidence_dir(city: City) -> Path:
    return Path(f"{city.db}.evidence")


def test_upload_is_hashed_stored_and_logged(client: TestClient, city: City) -> None:
    before = len(_ledger(client, city, "evidence.add"))
    r = _upload(client, city, "API-1", PNG, description="still from the stop", location="locker 4")
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["sha256"] == hashlib.sha256(PNG).hexdigest() and item["size_bytes"] == len(PNG)
    assert item["mime_type"] == "image/png" and item["original_name"] == "frame.png"
    assert item["case_id"] == "API-1" and item["added_by"] == "ana" and item["same_content_as"] == []
    stored = _evidence_dir(city) / "sha256" / item["sha256"][:2] / item["sha256"][2:]
    assert stored.read_bytes() == PNG
    assert not any((_evidence_dir(city) / "tmp").iterdir())  # nothing half-written left behind
    entries = _ledger(client, city, "evidence.add")
    assert len(entries) == before + 1
    assert entries[0]["user"] == "ana" and entries[0]["output_hash"] == item["sha256"]

    # a file name is a name, never a path; the type falls back to it when the bytes say nothing
    r = _upload(client, city, "API-1", b"witness statement, typed\n", filename="../../etc/statement.txt")
    assert r.status_code == 200, r.text
    assert r.json()["original_name"] == "statement.txt" and r.json()["mime_type"] == "text/plain"
    again = _upload(client, city, "API-1", PNG, description="the same still, sent twice")
    assert again.status_code == 200 and again.json()["same_content_as"] == [item["item_id"]]


def test_case_list_show_custody_and_verify(client: TestClient, city: City) -> None:
    first = _upload(client, city, "API-2", b"first file").json()
    _upload(client, city, "API-2", b"second file", filename="b.txt")
    r = client.get("/api/evidence/cases", headers=auth(city, "bea"))
    assert r.status_code == 200, r.text
    row = next(c for c in r.json()["items"] if c["case_id"] == "API-2")
    assert row["n_items"] == 2 and row["size_bytes"] == len(b"first file") + len(b"second file")

    r = client.post(f"/api/evidence/items/{first['item_id']}/custody", headers=auth(city, "ana"),
                    json={"kind": "check_out", "to": "lab technician Diaz", "reason": "latent prints",
                          "location": "crime lab"})
    assert r.status_code == 200, r.text
    assert r.json()["from_party"] == "ana" and r.json()["holder"] == "lab technician Diaz" and not r.json()["gaps"]

    case = client.get("/api/evidence/cases/API-2", headers=auth(city, "aud")).json()
    held = {i["item_id"]: (i["holder"], i["checked_out"], i["n_custody_events"]) for i in case["items"]}
    assert held[first["item_id"]] == ("lab technician Diaz", True, 2)

    # a check-in by someone other than the holder is recorded as stated and reported as a gap
    r = client.post(f"/api/evidence/items/{first['item_id']}/custody", headers=auth(city, "sam"),
                    json={"kind": "check_in", "to": "property room", "from": "officer Park"})
    assert r.status_code == 200, r.text
    assert r.json()["gaps"], r.json()
    show = client.get(f"/api/evidence/items/{first['item_id']}", headers=auth(city, "aud")).json()
    assert [e["kind"] for e in show["custody"]] == ["intake", "check_out", "check_in"]
    assert show["original_sha256"] == first["sha256"]

    report = client.post("/api/evidence/cases/API-2/verify", headers=auth(city, "aud")).json()["report"]
    assert report["n_items"] == 2 and report["failed_items"] == [] and report["gaps"]
    assert not report["ok"]  # the custody gap above


def test_download_is_the_stored_file_and_refused_once_it_changed(client: TestClient, city: City) -> None:
    data = b"dispatch audio transcript\n" * 100
    item = _upload(client, city, "API-3", data, filename="transcript.txt").json()
    r = client.get(f"/api/evidence/items/{item['item_id']}/content", headers=auth(city, "sam"))
    assert r.status_code == 200 and r.content == data
    assert r.headers["x-content-sha256"] == item["sha256"]
    assert "transcript.txt" in r.headers["content-disposition"]
    downloads = _ledger(client, city, "evidence.download")
    assert downloads[0]["user"] == "sam" and downloads[0]["data_hash"] == item["sha256"]
    # auditors read and verify; taking a copy out is for staff
    assert client.get(f"/api/evidence/items/{item['item_id']}/content",
                      headers=auth(city, "aud")).status_code == 403
    assert client.post("/api/evidence/cases/API-3/verify", headers=auth(city, "aud")).json()["report"]["ok"]

    stored = _evidence_dir(city) / "sha256" / item["sha256"][:2] / item["sha256"][2:]
    stored.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with stored.open("r+b") as fh:
        fh.seek(7)
        fh.write(b"X")
    r = client.get(f"/api/evidence/items/{item['item_id']}/content", headers=auth(city, "sam"))
    assert r.status_code == 404 and item["item_id"] in r.json()["error"] and "evidence verify" in r.json()["error"]
    report = client.post("/api/evidence/cases/API-3/verify", headers=auth(city, "aud")).json()["report"]
    assert report["failed_items"] == [item["item_id"]]
    assert "SHA-256 mismatch" in report["items"][0]["problems"][0]
    refused = _ledger(client, city, "evidence.download")[0]
    assert refused["outcome"] == "refused"


def test_bad_uploads_are_refused_before_anything_is_stored(client: TestClient, city: City) -> None:
    n_items = len(client.get("/api/evidence/cases", headers=auth(city, "ana")).json()["items"])
    r = _upload(client, city, "API-4", b"")
    assert r.status_code == 422 and "evidence add frame.png: got 0 bytes" in r.json()["error"]
    r = _upload(client, city, "API-4", b"x", parent="EV999999", derivation="redacted", tool="t", tool_version="1")
    assert r.status_code == 404 and "EV999999" in r.json()["error"]
    r = _upload(client, city, "API-4", b"x", source=" ")
    assert r.status_code == 422 and "empty source" in r.json()["error"]
    r = _upload(client, city, "API-4", PNG, user="bea")
    assert r.status_code == 403 and "evidence.add" in r.json()["error"]
    r = client.post("/api/evidence/items/EV000001/custody", headers=auth(city, "ana"),
                    json={"kind": "lost", "to": "x"})
    assert r.status_code == 422
    assert len(client.get("/api/evidence/cases", headers=auth(city, "ana")).json()["items"]) == n_items
    assert not any((_evidence_dir(city) / "tmp").iterdir())


def test_an_empty_upload_is_refused_and_logged_unless_allow_empty(client: TestClient, city: City) -> None:
    empty_sha = hashlib.sha256(b"").hexdigest()
    before = _ledger(client, city, "evidence.add")
    r = _upload(client, city, "API-5", b"", filename="dvr_export.mp4")
    assert r.status_code == 422 and r.json()["type"] == "InputError", r.text
    error = r.json()["error"]
    assert error.startswith(f"evidence add dvr_export.mp4: got 0 bytes (an empty file; SHA-256 {empty_sha}")
    assert "expected the item's contents" in error and "allow_empty=true" in error
    assert client.get("/api/evidence/cases/API-5", headers=auth(city, "ana")).status_code == 404
    assert not (_evidence_dir(city) / "sha256" / empty_sha[:2] / empty_sha[2:]).exists()
    assert not any((_evidence_dir(city) / "tmp").iterdir())
    entries = _ledger(client, city, "evidence.add")
    assert len(entries) == len(before) + 1
    refused: Any = entries[0]
    assert refused["outcome"] == "refused" and refused["user"] == "ana" and refused["data_hash"] == empty_sha
    assert refused["detail"]["original_name"] == "dvr_export.mp4" and refused["detail"]["reason"] == error

    # taken in on purpose: the answer, the custody record and the ledger entry say so
    r = _upload(client, city, "API-5", b"", filename="dvr_export.mp4", allow_empty="true")
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["size_bytes"] == 0 and item["sha256"] == empty_sha and item["deliberately_empty"] is True
    assert item["clock_allowance_s"] == 300
    shown = client.get(f"/api/evidence/items/{item['item_id']}", headers=auth(city, "aud")).json()
    assert shown["custody"][0]["reason"] == "intake; deliberately taken in empty (0 bytes, allow_empty)"
    accepted: Any = _ledger(client, city, "evidence.add")[0]
    assert accepted["outcome"] == "ok" and accepted["detail"]["deliberately_empty"] is True
    assert accepted["detail"]["clock_allowance_s"] == 300
    # the custody answer names the clock allowance its time was checked with
    r = client.post(f"/api/evidence/items/{item['item_id']}/custody", headers=auth(city, "ana"),
                    json={"kind": "check_out", "to": "video unit"})
    assert r.status_code == 200 and r.json()["clock_allowance_s"] == 300, r.text


@pytest.fixture
def small_app(tmp_path: Path) -> Iterator[tuple[TestClient, str, Path]]:
    db = tmp_path / "small.duckdb"
    admin = Actor("ada", Role.ADMIN)
    with open_context(Settings(db=db)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=admin)
        token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
    app = create_app(Settings(db=db, max_upload_mb=1))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c, token, Path(f"{db}.evidence")
    app.state.close()


def test_an_upload_past_the_limit_is_413_and_leaves_nothing(small_app: tuple[TestClient, str, Path]) -> None:
    client, token, evidence = small_app
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "case work",
               "Content-Type": "application/octet-stream"}
    params = {"source": "phone extraction", "filename": "dump.bin"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(3):
            yield os.urandom(512 * 1024)

    r = client.post("/api/evidence/cases/BIG/items", params=params, content=chunks(), headers=headers)
    assert r.status_code == 413 and r.json()["type"] == "PayloadTooLargeError", r.text
    r = client.post("/api/evidence/cases/BIG/items", params=params, content=os.urandom(2 << 20), headers=headers)
    assert r.status_code == 413 and "Content-Length" in r.json()["error"]
    refusals = [e for _, e in client.app.state.ctx.ledger.entries(action="evidence.add")]  # type: ignore[attr-defined]
    assert [(e.outcome, e.detail["error"]) for e in refusals] == [("refused", "PayloadTooLargeError")] * 2
    assert refusals[0].detail["original_name"] == "dump.bin" and refusals[0].detail["case_id"] == "BIG"
    assert not list((evidence / "tmp").iterdir()) and not (evidence / "sha256").exists()
    r = client.post("/api/evidence/cases/BIG/items", params=params, content=os.urandom(1 << 20), headers=headers)
    assert r.status_code == 200 and r.json()["size_bytes"] == 1 << 20


def test_every_refused_custody_call_and_lookup_is_a_ledger_entry(client: TestClient, city: City) -> None:
    item = _upload(client, city, "API-6", b"scene photo, frame 12").json()["item_id"]

    def refused_since(seq: int) -> list[Any]:
        r = client.get("/api/ledger/entries", params={"action": "evidence.*", "limit": 1000},
                       headers=auth(city, "aud"))
        return sorted((e for e in r.json()["items"] if e["seq"] > seq and e["outcome"] == "refused"),
                      key=lambda e: int(e["seq"]))

    start = max(e["seq"] for e in _ledger(client, city, "evidence.add"))
    custody = f"/api/evidence/items/{item}/custody"
    asks: list[tuple[str, dict[str, Any], int, str]] = [
        (custody, {"kind": "transfer", "to": "ASA Chen", "at": "2030-01-01T00:00:00Z"}, 422, "got a time to come"),
        (custody, {"kind": "transfer", "to": "ASA Chen", "at": "2024-01-01T10:00:00"}, 422, "got a naive time"),
        (custody, {"kind": "check_out", "to": ""}, 422, "empty 'to' party"),
        (custody, {"kind": "check_out", "to": "   "}, 422, "empty 'to' party"),
        (custody, {"kind": "transfer", "to": "ASA Chen", "from": ""}, 422, "empty 'from' party"),
        (custody, {"kind": "transfer", "to": "ASA Chen", "from": "Det. Nobody"}, 422, "record shows 'ana' holding"),
        ("/api/evidence/items/EV999999/custody", {"kind": "transfer", "to": "x"}, 404, "'EV999999': not found"),
    ]
    for path, body, status, why in asks:
        r = client.post(path, json=body, headers=auth(city, "ana"))
        assert r.status_code == status and why in r.json()["error"], (body, r.text)
    for path, status in (("/api/evidence/items/EV999999", 404), ("/api/evidence/cases/NOPE", 404),
                         ("/api/evidence/items/EV999999/content", 404)):
        assert client.get(path, headers=auth(city, "sam")).status_code == status
    assert client.post("/api/evidence/cases/NOPE/verify", headers=auth(city, "aud")).status_code == 404
    logged = refused_since(start)
    assert [(e["action"], e["user"]) for e in logged] == [
        *[("evidence.transfer", "ana")] * 2, *[("evidence.check_out", "ana")] * 2,
        *[("evidence.transfer", "ana")] * 3, ("evidence.show", "sam"), ("evidence.show", "sam"),
        ("evidence.download", "sam"), ("evidence.verify", "aud")]
    assert all(e["detail"]["reason"] and e["detail"]["error"] for e in logged)
    assert logged[0]["detail"]["item_id"] == item and logged[0]["detail"]["asked"]["at"].startswith("2030-01-01")
    shown = client.get(f"/api/evidence/items/{item}", headers=auth(city, "aud")).json()
    assert [e["kind"] for e in shown["custody"]] == ["intake"]  # nothing refused was recorded


def test_a_range_download_does_not_claim_the_whole_files_hash_for_its_part(client: TestClient, city: City) -> None:
    data = bytes(range(256)) * 64
    item = _upload(client, city, "API-7", data, filename="dump.bin").json()
    whole = hashlib.sha256(data).hexdigest()
    r = client.get(f"/api/evidence/items/{item['item_id']}/content",
                   headers={**auth(city, "sam"), "Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == data[:100]
    assert "x-content-sha256" not in r.headers  # the body is not the whole file
    assert r.headers["x-evidence-sha256"] == whole and r.headers["content-range"] == f"bytes 0-99/{len(data)}"
    full = client.get(f"/api/evidence/items/{item['item_id']}/content", headers=auth(city, "sam"))
    assert full.status_code == 200 and full.headers["x-content-sha256"] == full.headers["x-evidence-sha256"] == whole
    part, everything = _ledger(client, city, "evidence.download")[1::-1]
    assert part["detail"]["range"] == "bytes=0-99" and "range" not in everything["detail"]  # type: ignore[index,operator]


def test_concurrent_custody_calls_through_the_service_form_one_chain(client: TestClient, city: City) -> None:
    """The tester's t_conc and t_race: mixed parallel calls, transfers without 'from', then parallel check-outs."""
    item = _upload(client, city, "API-8", b"conc").json()["item_id"]
    users = ["ana", "sam", "aud", "bea", "ana"]

    def call(i: int) -> int:
        who = users[i % 5]
        if i % 4 == 0:
            return client.get(f"/api/evidence/items/{item}", headers=auth(city, who)).status_code
        if i % 4 == 1:
            return client.post("/api/evidence/cases/API-8/verify", headers=auth(city, who)).status_code
        if i % 4 == 2:
            return client.get("/api/evidence/cases", headers=auth(city, who)).status_code
        return client.post(f"/api/evidence/items/{item}/custody", json={"kind": "transfer", "to": f"Person {i}"},
                           headers=auth(city, "ana" if who in ("aud", "bea") else who)).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert set(pool.map(call, range(20))) == {200}
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(lambda i: client.post(
            f"/api/evidence/items/{item}/custody", json={"kind": "check_out", "to": f"Officer {i}"},
            headers=auth(city, ["ana", "sam"][i % 2])).status_code, range(6))) == {200}
    custody = client.get(f"/api/evidence/items/{item}", headers=auth(city, "aud")).json()["custody"]
    assert len(custody) == 1 + 5 + 6
    assert [e["event_id"] for e in custody] == sorted(e["event_id"] for e in custody)
    assert all(b["from"] == a["to"] for a, b in pairwise(custody)), custody
    report = client.post("/api/evidence/cases/API-8/verify", headers=auth(city, "aud")).json()["report"]
    assert {g["kind"] for g in report["gaps"]} == {"check_out_while_out"}  # five check-outs of an item out
    assert report["ledger_mismatches"] == []
