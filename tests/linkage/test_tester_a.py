"""What an independent burglary-unit analyst found in linkage, on real inputs: the synthetic city and
the crimelinkage benchmark (Porter & Reich), each ingested into a real store.

* a GeoJSON export carried only ``type``/``name``/``crs``/``features``: no run, linker, threshold,
  method, mark or output hash, and the ``link.export`` ledger entries named no file;
* the API built series with average linkage by default, the CLI and docs with components;
* ``link similar`` showed an agreement on a rare M.O. value as a bare negative number;
* crimelinkage at the default 0.01 made one "series" of 486 of 490 incidents with no warning;
* ``link pairs --min-score 0`` warned "read 0 as about 0";
* ``link label ID#2`` did not say that the record stands for incident ID.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.governance import Actor, Ledger, Role
from crimelens.storage import DuckDBStore
from tests.conftest import shared

runner = CliRunner()


def _json(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def synth_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic city of seed 3 ingested, a linker trained on it (as tests/linkage/test_service_cli.py)."""
    from crimelens.synth import SyntheticCity

    root = tmp_path_factory.mktemp("tester_a_synth")
    SyntheticCity(seed=3, days=120, n_series=12, n_areas=8, scale=0.5).generate().write(root / "city")
    db = root / "t.duckdb"
    _ok(["ingest", str(root / "city" / "incidents.csv"), "--dataset", "synth", "--db", str(db), "--json"])
    _ok(["link", "train", "--dataset", "synth", "--cutoff", "2024-03-01", "--radius-m", "3000", "--window-days",
         "60", "--db", str(db), "--json"])
    return db


@pytest.fixture(scope="module")
def cl_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """crimelinkage's 490 burglaries as a canonical CSV (offenders as ``offender_id``), ingested, and a
    linker trained before 1993-07-01 on 50 km / 365 days, as the analyst did."""
    folder = shared("crimelinkage")
    root = tmp_path_factory.mktemp("tester_a_cl")
    c = pd.read_csv(folder / "crimes.csv", dtype=str, keep_default_na=False)
    o = pd.read_csv(folder / "offenders.csv", dtype=str).drop_duplicates()
    lab = o[o["crimeID"].isin(set(c["crimeID"]))].groupby("crimeID")["offenderID"].agg(
        lambda s: ";".join(sorted(s)))

    def stamp(d: pd.Series, t: pd.Series) -> pd.Series:
        t = t.str.zfill(4)
        return pd.to_datetime(d) + pd.to_timedelta(t.str[:2].astype(int) * 60 + t.str[2:].astype(int), unit="min")

    s, e = stamp(c["DATE_FROM"], c["TIME_FROM"]), stamp(c["DATE_TO"], c["TIME_TO"])
    e = e.where(e >= s, e + pd.Timedelta(days=1))
    pd.DataFrame({
        "incident_id": c["crimeID"], "offense": "burglary", "offense_raw": "BURGLARY",
        "occurred_from": s.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "occurred_to": e.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "x_m": c["X"], "y_m": c["Y"], "crs": "EPSG:3857",
        "MO1": c["MO1"], "MO2": c["MO2"].replace("NA", ""), "MO3": c["MO3"].replace("NA", ""),
        "offender_id": c["crimeID"].map(lab).fillna(""),
    }).to_csv(root / "crimes.csv", index=False)
    db = root / "cl.duckdb"
    _ok(["ingest", str(root / "crimes.csv"), "--dataset", "cl", "--db", str(db), "--json"])
    _ok(["link", "train", "--dataset", "cl", "--label", "offender_id", "--cutoff", "1993-07-01", "--radius-m",
         "50000", "--window-days", "365", "--no-narrative", "--db", str(db), "--json"])
    return db


def _exports(db: Path, run_id: str) -> list[Any]:
    with DuckDBStore.open(db) as store:
        return [e for _, e in Ledger(store).entries(action="link.export") if e.detail["run_id"] == run_id]


def test_a_geojson_export_carries_the_run_and_its_ledger_entry_names_the_file(synth_db: Path,
                                                                              tmp_path: Path) -> None:
    out = tmp_path / "series.geojson"
    doc = _json(_ok(["link", "series", "--dataset", "synth", "--threshold", "0.7", "--out", str(out),
                     "--db", str(synth_db), "--json"]))
    again = tmp_path / "later" / "again.geojson"
    done = _json(_ok(["link", "export", doc["run_id"], "--out", str(again), "--db", str(synth_db), "--json"]))
    with DuckDBStore.open(synth_db) as store:
        (_, series_entry), = [e for e in Ledger(store).entries(action="link.series")
                              if e[1].detail["run_id"] == doc["run_id"]]
        linker = str(store.scalar("SELECT linker_id FROM link_runs WHERE run_id = ?", [doc["run_id"]]))
    for path in (out, again):
        gj = json.loads(path.read_text(encoding="utf-8"))
        meta = gj["metadata"]  # before: only type, name, crs, features
        assert meta["run_id"] == doc["run_id"] and meta["linker_id"] == linker and meta["dataset"] == "synth"
        assert (meta["threshold"], meta["method"]) == ("0.7", "components")
        assert meta["mark"] == "research — not for operational use" and meta["matches_ledger"] == "true"
        assert meta["output_hash"] == series_entry.output_hash
        assert len(gj["features"]) == sum(s["n_members"] for s in doc["series"]) > 0
        assert {f["properties"]["mark"] for f in gj["features"]} == {meta["mark"]}
    # each link.export entry names the file it wrote, with the SHA-256 of its bytes, as nearrepeat --png does
    entries = _exports(synth_db, doc["run_id"])
    assert len(entries) == 2
    for entry, path, shown in zip(entries, (out, again), (doc, done), strict=True):
        (f,) = entry.detail["files"]
        data = path.read_bytes()
        assert f == {"role": "series", "path": str(path.resolve()), "format": "geojson",
                     "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        assert shown["file"] == f
    assert not [p for p in tmp_path.rglob("*.part*")]  # the staged files were moved into place


def test_the_api_and_the_cli_build_the_same_series_by_default(synth_db: Path) -> None:
    """Before, ``POST /api/series-runs {dataset}`` clustered with average linkage, the CLI with components."""
    from crimelens.api import create_app
    from crimelens.config import Settings
    from crimelens.services import governance as gs
    from crimelens.services._context import open_context

    cli = _json(_ok(["link", "series", "--dataset", "synth", "--db", str(synth_db), "--json"]))
    with open_context(Settings(db=synth_db)) as ctx:
        gs.add_user(ctx, name="adm", role="admin", actor=Actor("adm", Role.ADMIN))
        token = gs.add_user(ctx, name="ana", role="analyst", actor=Actor("adm", Role.ADMIN))[1]
    web = create_app(Settings(db=synth_db))
    try:
        with TestClient(web, base_url="http://127.0.0.1") as client:
            r = client.post("/api/series-runs", json={"dataset": "synth"},
                            headers={"Authorization": f"Bearer {token}", "X-Purpose": "research"})
            assert r.status_code == 200, r.text
            api = r.json()
    finally:
        web.state.close()
    with DuckDBStore.open(synth_db) as store:
        params = {e.detail["run_id"]: e.params for _, e in Ledger(store).entries(action="link.series")}
        rows = store.query("SELECT run_id, series_id, incident_id FROM link_series_members WHERE run_id IN (?, ?)",
                           [cli["run_id"], api["run_id"]])
    assert params[api["run_id"]] == params[cli["run_id"]] == {"threshold": 0.01, "method": "components", "seeds": []}
    members = {run: sorted(tuple(sorted(g["incident_id"])) for _, g in rows[rows["run_id"] == run].groupby("series_id"))
               for run in (cli["run_id"], api["run_id"])}
    assert members[api["run_id"]] == members[cli["run_id"]] and api["n_series"] == cli["n_series"] > 0


def test_similar_says_what_each_pair_has_for_the_features_that_drove_it(synth_db: Path) -> None:
    with DuckDBStore.open(synth_db) as store:
        ids = store.query("SELECT incident_id FROM incidents WHERE dataset = 'synth' AND offense = 'burglary' "
                          "ORDER BY incident_id LIMIT 40")["incident_id"].astype(str).tolist()
    seen: dict[str, int] = {"agree": 0, "differ": 0, "missing": 0}
    for query in ids[::4]:
        doc = _json(_ok(["link", "similar", query, "--dataset", "synth", "-k", "10", "--db", str(synth_db),
                         "--json"]))
        for m in doc["matches"]:
            for d in m["drivers"]:
                assert d["reading"], d  # before: feature, value and contribution only
                if d["feature"] in ("distance_m", "log1p_distance_m"):
                    assert d["reading"].endswith(" m apart")
                if d["feature"].startswith("mo_") and d["feature"] not in ("mo_known", "mo_mismatch", "mo_idf_sum"):
                    seen[d["agreement"]] += 1
                    # the feature's value is the rarity weight when both share the value, 0 otherwise
                    assert (d["agreement"] == "agree") == (d["value"] > 0), d
                    if d["agreement"] == "agree":
                        assert d["reading"].startswith("both '") and "% of the training incidents" in d["reading"]
                    elif d["agreement"] == "differ":
                        assert d["reading"].startswith("differ: '") and "' vs '" in d["reading"]
    assert seen["agree"] > 0, seen
    # the CLI table says it too, and where to read why a contribution can be negative
    text = " ".join(_ok(["link", "similar", ids[0], "--dataset", "synth", "-k", "5", "--db", str(synth_db)]).split())
    assert " m apart " in text and "average training pair" in text


def test_a_series_that_swallows_the_dataset_is_warned_about(cl_db: Path) -> None:
    doc = _json(_ok(["link", "series", "--dataset", "cl", "--db", str(cl_db), "--json"]))
    big = max(s["n_members"] for s in doc["series"])
    assert big > 0.2 * 490  # the analyst's run: 486 of 490 incidents in one "series"
    found = [w for w in doc["warnings"] if w.startswith("the largest series holds")]
    assert found == [f"the largest series holds {big:,} of 490 incidents ({big / 490:.0%}): at link probability "
                     "0.01 (components) chains of weak links join look-alike incidents into one group, which is not "
                     "one offender's series; raise the threshold (e.g. 0.1 or 0.5) or use average linkage "
                     "(--method average), which resists chaining"]
    with DuckDBStore.open(cl_db) as store:
        (_, entry), = [e for e in Ledger(store).entries(action="link.series") if e[1].detail["run_id"] == doc["run_id"]]
    assert found[0] in entry.detail["warnings"]
    shown = " ".join(_ok(["link", "series", "--dataset", "cl", "--db", str(cl_db)]).split())
    assert "warning: the largest series holds" in shown
    # a confident threshold leaves small groups, and no such warning
    calm = _json(_ok(["link", "series", "--dataset", "cl", "--threshold", "0.5", "--db", str(cl_db), "--json"]))
    assert not [w for w in calm["warnings"] if w.startswith("the largest series")]


def test_pairs_at_min_score_0_keep_the_density_warning_without_reading_0(cl_db: Path) -> None:
    doc = _json(_ok(["link", "pairs", "--dataset", "cl", "--min-score", "0", "--db", str(cl_db), "--json"]))
    assert doc["n_pairs"] == doc["n_candidates"] > 0
    (warning,) = doc["warnings"]  # the dataset is 2.5 times denser than the training period
    assert "candidate pairs per incident" in warning and "smaller than the probability says" in warning
    assert "read 0 as" not in warning
    # the linker was trained on this dataset: the advice is a later cut-off, not "train on this dataset's own
    # solved series", which it already was (a tester's report)
    assert "train a linker on this dataset's own solved series" not in warning
    assert ("the linker was trained on this dataset's incidents before 1993-07-01T00:00:00+00:00, a shorter span"
            in warning and "train it again with a later --cutoff" in warning)
    half = _json(_ok(["link", "pairs", "--dataset", "cl", "--min-score", "0.5", "--db", str(cl_db), "--json"]))
    assert "read 0.5 as about" in half["warnings"][0]  # a real threshold is still read


def test_labelling_a_further_record_says_which_incident_it_stands_for(tmp_path: Path) -> None:
    with gzip.open(shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), "rt") as fh:
        lines = fh.read().splitlines()
    src = tmp_path / "cincinnati_2017.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2017-" in x]]) + "\n")
    db = tmp_path / "c.duckdb"
    _ok(["ingest", str(src), "--dataset", "cin", "--db", str(db), "--json"])
    with DuckDBStore.open(db) as store:
        record = sorted(str(r) for r in store.query("SELECT incident_id FROM incidents")["incident_id"]
                        if str(r).endswith("#2"))[0]
    base = record.rsplit("#", 1)[0]
    doc = _json(_ok(["link", "label", record, "--dataset", "cin", "--series", "S-1", "--db", str(db), "--json"]))
    assert doc["n_labelled"] == 1 and doc["records"] == [{"record": record, "incident_id": base}]
    text = " ".join(_ok(["link", "label", record, "--dataset", "cin", "--series", "S-2", "--db", str(db)]).split())
    assert f"{record} is a further record of incident {base}" in text
    assert f"the label stands for incident {base}" in text


def test_an_enabled_protected_descriptor_the_store_cannot_hold_is_warned_about(cl_db: Path) -> None:
    """At ingest a protected column becomes an audit attribute, which the linker never reads: the audited
    option then changed nothing, without a word (a tester's report)."""
    doc = _json(_ok(["link", "train", "--dataset", "cl", "--label", "offender_id", "--cutoff", "1993-07-01",
                     "--radius-m", "50000", "--window-days", "365", "--no-narrative",
                     "--enable-protected-descriptor", "suspect_race", "--db", str(cl_db), "--json"]))
    assert doc["warnings"] == [
        "--enable-protected-descriptor suspect_race: dataset 'cl' has no M.O. attribute 'suspect_race' (at ingest a "
        "protected column is kept as an audit attribute, which the linker never reads), so the option changed "
        "nothing; it applies to incident tables passed in Python (PairwiseLinker(protected_descriptors=...))"]
    assert not any("suspect_race" in f for f in doc["features"])
