"""Uploads at the same moment (tester s33-A): the service ingests each on its own thread, and before a lock per
store and dataset each one's already-stored check, duplicate-id check and CRS choice ran before the other had
stored anything. Three uploads of one export stored every row three times, all answered
``already_ingested: false``; two files into a new dataset stored it in two CRSs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.storage import DuckDBStore
from tests.api.conftest import store_with_users
from tests.conftest import shared

SF = "sf_robbery/san_francisco_robbery.csv"
CHICAGO = "socrata_chicago_sample/example.csv"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = tmp_path / "race.duckdb"
    tokens = store_with_users(db, (("ana", "analyst"),))
    app = create_app(Settings(db=db, failed_auth_per_minute=0))
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            yield client, tokens
    finally:
        app.state.close()


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on threads of their own, released together; their results in order."""
    start = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = calls[i]()
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def _upload(client: TestClient, token: str, dataset: str, body: bytes, filename: str) -> Callable[[], Any]:
    def send() -> Any:
        r = client.post(f"/api/datasets/{dataset}/files", params={"filename": filename}, content=body,
                        headers={"Authorization": f"Bearer {token}", "X-Purpose": "nightly load",
                                 "Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        return r.json()
    return send


def _stored(client: TestClient, dataset: str) -> list[tuple[Any, ...]]:
    """(crs, rows, distinct ids) of the dataset, read from the store the service holds."""
    store: DuckDBStore = client.app.state.ctx.store  # type: ignore[attr-defined]
    return list(store.iter_rows("SELECT crs, count(*), count(DISTINCT incident_id) FROM incidents "
                                "WHERE dataset = ? GROUP BY crs ORDER BY crs", [dataset]))


def test_three_uploads_of_one_export_at_once_store_it_once(
        served: tuple[TestClient, dict[str, str]]) -> None:
    """Before: 2,853 rows for 951 ids, three ingest records, every answer ``already_ingested: false``."""
    client, tokens = served
    body = shared(SF).read_bytes()
    answers = _at_once([_upload(client, tokens["ana"], "sfrace", body, "sf.csv") for _ in range(3)])
    assert all(isinstance(a, dict) for a in answers), answers
    fresh = [a for a in answers if not a["already_ingested"]]
    assert len(fresh) == 1 and fresh[0]["n_read"] == 951 and fresh[0]["n_landed"] == 951
    assert {a["ingest_id"] for a in answers} == {fresh[0]["ingest_id"]}  # the others answer with its ingest
    assert _stored(client, "sfrace") == [("EPSG:32610", 951, 951)]
    store: DuckDBStore = client.app.state.ctx.store  # type: ignore[attr-defined]
    assert store.scalar("SELECT count(*) FROM ingests WHERE dataset = 'sfrace'") == 1


def test_two_files_into_a_new_dataset_at_once_keep_one_crs(
        served: tuple[TestClient, dict[str, str]]) -> None:
    """Before: San Francisco's rows in EPSG:32610 and Chicago's in EPSG:32616, one dataset. Now the first to
    land chooses the CRS and the other file is projected to it: Chicago's points lie outside UTM 10N's area
    of use (or San Francisco's outside 16N's), so they are quarantined as out of area, as one after the other
    they were."""
    client, tokens = served
    sf = ("\n".join(shared(SF).read_text(encoding="utf-8").splitlines()[:301]) + "\n").encode()
    chicago = shared(CHICAGO).read_bytes()
    a, b = _at_once([_upload(client, tokens["ana"], "mixrace", sf, "sf.csv"),
                     _upload(client, tokens["ana"], "mixrace", chicago, "chi.csv")])
    assert isinstance(a, dict) and isinstance(b, dict), (a, b)
    assert a["crs"] == b["crs"] and a["crs"] in ("EPSG:32610", "EPSG:32616")
    later = b if a["crs"] == "EPSG:32610" else a  # the file read in the other's CRS
    assert later["n_landed"] == 0 and later["n_quarantined"] == later["n_read"]
    assert later["top_reasons"][0]["reason"].startswith("out-of-area coordinates: outside the area of use of")
    [(crs, n, n_ids)] = _stored(client, "mixrace")
    assert crs == a["crs"] and n == n_ids == a["n_landed"] + b["n_landed"]


def test_an_updated_export_uploaded_while_the_first_is_stored_has_its_repeats_quarantined(
        served: tuple[TestClient, dict[str, str]]) -> None:
    """A layout without ids (CODE's Chicago assaults, FILE:LINE ids): an update repeating the first file's
    rows, sent at the same moment, landed them again; the repeated-row check now sees the first file's rows."""
    import gzip

    client, tokens = served
    lines = gzip.decompress(shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz").read_bytes()
                            ).decode("utf-8").splitlines()
    first = ("\n".join(lines[:2001]) + "\n").encode()
    update = ("\n".join([lines[0], *reversed(lines[1:2201])]) + "\n").encode()  # the 2,000 again, 200 new
    a, b = _at_once([_upload(client, tokens["ana"], "assaults", first, "week1.csv"),
                     _upload(client, tokens["ana"], "assaults", update, "week1_2.csv")])
    assert isinstance(a, dict) and isinstance(b, dict), (a, b)
    # whichever came first landed all its rows; the other's repeats of them are quarantined
    assert a["n_landed"] + b["n_landed"] == 2200
    assert a["n_quarantined"] + b["n_quarantined"] == 2000
    assert _stored(client, "assaults") == [("EPSG:32616", 2200, 2200)]
