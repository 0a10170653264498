"""The DuckDB store: migrations, transactions, lossless ingest, re-ingest as a no-op."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crimelens.config import Settings
from crimelens.domain import Incident, IncidentTable, TimeWindow
from crimelens.errors import ProtectedAttributeError
from crimelens.governance import Actor
from crimelens.ingest import read_file, write_canonical
from crimelens.services import open_context
from crimelens.services.ingest import incidents_summary, ingest_file, quarantine_rows
from crimelens.storage import DuckDBStore
from crimelens.storage._incidents import insert_validated
from tests.conftest import shared

ANALYST = Actor("ada", "analyst")


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    with DuckDBStore.open(path) as s:
        first = s.query("SELECT version, name FROM schema_version ORDER BY version")
    with DuckDBStore.open(path) as s:
        again = s.query("SELECT version, name FROM schema_version ORDER BY version")
    assert first.equals(again) and first["version"].tolist()[0] == 1
    assert first["name"].iloc[0] == "0001_incidents.sql"


def test_ingest_lands_rows_quarantine_provenance_and_ledger(tmp_path: Path) -> None:
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        summary = ingest_file(ctx, shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), actor=ANALYST)
        assert (summary.n_read, summary.n_landed, summary.n_quarantined) == (8723, 8297, 426)
        assert ctx.store.count_incidents(dataset="cincinnati_burglary") == 8297
        assert len(ctx.store.quarantine()) == 426
        prov = ctx.store.ingests().iloc[0]
        assert prov["reader"] == "cincinnati" and prov["crs_to"] == "EPSG:32616"
        assert prov["n_landed"] + prov["n_quarantined"] == prov["n_read"] == 8723
        assert "[columns]" in prov["mapping"] and len(prov["file_sha256"]) == 64
        entries = ctx.ledger.entries(action="ingest.file")
        assert len(entries) == 1 and entries[0][1].user == "ada" and entries[0][1].data_hash == prov["file_sha256"]
        table = ctx.store.incidents(dataset="cincinnati_burglary",
                                    period=TimeWindow("2017-01-01T00:00:00Z", "2018-01-01T00:00:00Z"))
        assert 2000 < len(table) < 4000 and table.crs == "EPSG:32616"
        q = quarantine_rows(ctx, dataset="cincinnati_burglary", limit=5)
        assert q["total"] == 426 and q["by_reason"][0]["reason"] == "missing coordinates"


def test_reingesting_the_same_file_is_a_no_op(tmp_path: Path) -> None:
    src = shared("sf_robbery/san_francisco_robbery.csv")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, src, actor=ANALYST)
        second = ingest_file(ctx, src, actor=ANALYST)
        assert not first.already_ingested and second.already_ingested
        assert second.ingest_id == first.ingest_id
        assert ctx.store.count_incidents() == 951
        assert len(ctx.store.ingests()) == 1


def test_a_changed_file_with_known_ids_quarantines_the_duplicates(tmp_path: Path) -> None:
    src = shared("sf_robbery/san_francisco_robbery.csv")
    copy = tmp_path / "sf_again.csv"
    copy.write_text(src.read_text() + "99999999,personal robbery,2019-06-01T10:00:00Z,-122.41,37.78\n")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        ingest_file(ctx, src, actor=ANALYST)
        again = ingest_file(ctx, copy, actor=ANALYST, dataset="sf_robbery")
        assert (again.n_landed, again.n_quarantined) == (1, 951)
        assert again.top_reasons[0][0].startswith("duplicate id: already in dataset 'sf_robbery'")
        assert ctx.store.count_incidents() == 952


def test_a_failed_ingest_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    result = read_file(shared("sf_robbery/san_francisco_robbery.csv"))
    with DuckDBStore.open(tmp_path / "s.duckdb") as store:
        with pytest.raises(RuntimeError, match="disk full"), store.transaction():
            insert_validated(store, result.validated.frame, result.validated.mo_names, ingest_id="x")
            assert store.count_incidents() == 951  # visible inside the transaction ...
            raise RuntimeError("disk full")  # ... and gone after it fails
        assert store.count_incidents() == 0


def test_canonical_layout_round_trips_with_mo_and_audit_columns(tmp_path: Path) -> None:
    incidents = [
        Incident("c1", "burglary", "2024-03-05T21:00:00Z", "2024-03-06T07:00:00Z", 440150.0, 4630150.0,
                 crs="EPSG:32616", attrs={"entry_method": "rear window", "suspect_count": "2"}, narrative="Rear window forced."),
        Incident("c2", "theft", "2024-03-07T12:00:00Z", "2024-03-07T12:00:00Z", 441000.0, 4631000.0,
                 crs="EPSG:32616", source="reported", attrs={"entry_method": "none"}),
    ]
    path = write_canonical(IncidentTable.from_incidents(incidents), tmp_path / "i.csv")
    frame = pd.read_csv(path)
    frame["victim_race"] = ["w", "b"]  # an audit-only column must never become an M.O. attribute
    frame.to_csv(path, index=False)
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        summary = ingest_file(ctx, path, actor=ANALYST, dataset="city")
        assert summary.reader == "canonical" and summary.n_landed == 2 and summary.crs == "EPSG:32616"
        table = ctx.store.incidents(dataset="city")
        got = table.frame.set_index("incident_id")
        assert got.loc["c1", "occurred_to"] == pd.Timestamp("2024-03-06T07:00:00Z")
        assert got.loc["c1", "x_m"] == pytest.approx(440150.0) and got.loc["c2", "source"] == "reported"
        assert table.mo("entry_method").tolist() == ["rear window", "none"]
        assert "victim_race" not in got.loc["c1", "attrs"]
        audit = ctx.store.audit_attributes(dataset="city")
        assert audit["name"].unique().tolist() == ["victim_race"] and len(audit) == 2
        with pytest.raises(ProtectedAttributeError):
            table.mo("victim_race")
        summary_all = incidents_summary(ctx)
        assert summary_all["datasets"][0]["offenses"] == {"burglary": 1, "theft": 1}


def test_mo_json_escapes_quotes_backslashes_newlines_and_control_characters() -> None:
    from crimelens.storage._incidents import attrs_json

    values = ['say "hi"', "back\\slash", "two\nlines", None, "bell\x07"]
    frame = pd.DataFrame({"mo__0": pd.array(values, dtype="string"), "mo__1": pd.array(["x"] * 5, dtype="string")})
    assert attrs_json(frame, ["q", "k"]) is None  # a rare control character takes DuckDB's path
    fast = attrs_json(frame.iloc[:4], ["q", "k"])
    assert fast is not None
    parsed = [json.loads(s) for s in fast.to_pylist()]
    assert parsed == [{"q": 'say "hi"', "k": "x"}, {"q": "back\\slash", "k": "x"}, {"q": "two\nlines", "k": "x"}, {"k": "x"}]


def test_control_characters_survive_the_store(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("incident_id,offense,occurred_from,occurred_to,x_m,y_m,crs,note\n"
                    'a,theft,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,440000,4630000,EPSG:32616,"bell\x07"\n'
                    "b,theft,2024-02-30T00:00:00Z,2024-02-30T00:00:00Z,440000,4630000,EPSG:32616,x\n")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        s = ingest_file(ctx, path, actor=ANALYST, dataset="c")
        assert (s.n_landed, s.n_quarantined) == (1, 1)  # 30 February caught on the fast ISO path too
        assert s.top_reasons[0][0].startswith("impossible date")
        assert ctx.store.incidents(dataset="c").mo("note").tolist() == ["bell\x07"]


def test_a_store_held_by_another_process_is_refused_with_what_to_do(tmp_path: Path) -> None:
    import subprocess
    import sys

    from crimelens.errors import StoreError

    db = tmp_path / "held.duckdb"
    DuckDBStore.open(db).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); "
                               "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=r"held\.duckdb.*lock.*POST /api/store/backup"):
            DuckDBStore.open(db)
    finally:
        holder.kill()
        holder.communicate()  # reaps it and closes its pipe
