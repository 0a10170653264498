"""`crimelens link ...` on the synthetic city ingested into a real store: outputs, storage, ledger."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.governance import Ledger
from crimelens.storage import DuckDBStore

runner = CliRunner()


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from crimelens.synth import SyntheticCity

    root = tmp_path_factory.mktemp("link")
    city = SyntheticCity(seed=3, days=120, n_series=12, n_areas=8, scale=0.5).generate()
    city.write(root / "city")
    db = root / "t.duckdb"
    result = runner.invoke(app, ["ingest", str(root / "city" / "incidents.csv"), "--dataset", "synth",
                                 "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["link", "train", "--dataset", "synth", "--cutoff", "2024-03-01",
                                 "--radius-m", "3000", "--window-days", "60", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return db, city


def _json(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text.strip().splitlines()[-1])


def test_train_reports_held_out_figures_and_stores_the_linker(city_db) -> None:  # type: ignore[no-untyped-def]
    db, _ = city_db
    with DuckDBStore.open(db) as store:
        (_, entry), = Ledger(store).entries(action="link.train")
        row = store.query("SELECT linker_id, cutoff, evaluation, protected_descriptors FROM link_models")
    assert len(row) == 1
    ev = json.loads(row["evaluation"].iloc[0])
    assert ev["n_labelled"] > 0 and ev["auc"] is not None and ev["auc"] > 0.8
    assert json.loads(row["protected_descriptors"].iloc[0]) == []
    assert entry.model_version == row["linker_id"].iloc[0]
    assert entry.detail["audited_option_enabled"] is False


def test_pairs_csv_and_store_agree(city_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, city = city_db
    out = tmp_path / "pairs.csv"
    result = runner.invoke(app, ["link", "pairs", "--dataset", "synth", "--min-score", "0.5", "--out", str(out),
                                 "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["incident_id_a", "incident_id_b", "score"]
    assert len(rows) - 1 == doc["n_pairs"] > 0
    assert all(float(r[2]) >= 0.5 for r in rows[1:])
    series_of = {m: s for s, ms in city.series.items() for m in ms}
    linked = sum(1 for a, b, _ in rows[1:] if series_of.get(a) is not None and series_of.get(a) == series_of.get(b))
    assert linked / (len(rows) - 1) > 0.3  # most confident pairs are planted-series pairs
    with DuckDBStore.open(db) as store:
        n = store.scalar("SELECT count(*) FROM link_pairs WHERE run_id = ?", [doc["run_id"]])
        (_, entry), = [e for e in Ledger(store).entries(action="link.pairs") if e[1].detail["run_id"] == doc["run_id"]]
    assert n == doc["n_pairs"] and entry.detail["n_candidates"] == doc["n_candidates"]


def test_series_have_members_mo_span_area_and_explanations(city_db) -> None:  # type: ignore[no-untyped-def]
    db, city = city_db
    result = runner.invoke(app, ["link", "series", "--dataset", "synth", "--threshold", "0.7", "--db", str(db),
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["n_series"] > 0
    big = max(doc["series"], key=lambda s: s["n_members"])
    assert big["n_members"] >= 3 and big["span_days"] > 0 and big["hull_area_m2"] > 0
    assert big["common_mo"] and all(m["share"] >= 0.5 for m in big["common_mo"])
    assert len(big["explanations"]) == big["n_members"]
    assert all(e["drivers"] and e["strongest_link"] in big["members"] for e in big["explanations"])
    truth = [set(v) for v in city.series.values()]
    assert any(set(big["members"]) <= t or len(set(big["members"]) & t) >= 2 for t in truth)
    with DuckDBStore.open(db) as store:
        n = store.scalar("SELECT count(*) FROM link_series_members WHERE run_id = ?", [doc["run_id"]])
    assert n == sum(s["n_members"] for s in doc["series"])


def test_series_member_drivers_say_what_the_pair_has(city_db) -> None:  # type: ignore[no-untyped-def]
    """A series member's drivers carry readings as `similar`'s do (before: feature and contribution
    only), and each reading is what the store holds for the member and its strongest link."""
    import math

    db, _ = city_db
    doc = _json(runner.invoke(app, ["link", "series", "--dataset", "synth", "--threshold", "0.7", "--db", str(db),
                                    "--json"]).output)
    with DuckDBStore.open(db) as store:
        rows = store.query("SELECT incident_id, x_m, y_m, attrs FROM incidents WHERE dataset = 'synth'")
    at = {str(r.incident_id): (float(r.x_m), float(r.y_m), json.loads(r.attrs or "{}")) for r in rows.itertuples()}
    seen = {"distance": 0, "agree": 0, "differ": 0, "other": 0}
    for s in doc["series"]:
        for e in s["explanations"]:
            for d in e["drivers"]:
                assert d["reading"], d
                a, b = at[e["incident_id"]], at[e["strongest_link"]]
                if d["feature"] in ("distance_m", "log1p_distance_m"):
                    assert d["reading"] == f"{math.hypot(a[0] - b[0], a[1] - b[1]):,.0f} m apart"
                    seen["distance"] += 1
                elif d["feature"] in ("time_gap_days", "log1p_time_gap_days", "hour_diff_h", "mo_idf_sum"):
                    assert not d["reading"].startswith(f"{d['feature']} = "), d  # words, not the bare value
                    seen["other"] += 1
                col = d["feature"][3:]
                if d.get("agreement") in ("agree", "differ") and col in a[2] and col in b[2]:
                    assert (d["agreement"] == "agree") == (str(a[2][col]) == str(b[2][col])), (d, a[2], b[2])
                    seen[d["agreement"]] += 1
    assert seen["agree"] + seen["differ"] > 0 and seen["distance"] + seen["other"] > 0, seen
    # the export's drivers column carries the readings too
    out = Path(db).parent / "members.csv"
    runner.invoke(app, ["link", "export", doc["run_id"], "--out", str(out), "--db", str(db)])
    with out.open() as fh:
        first = next(csv.DictReader(fh))
    assert "(" in first["drivers"] and first["drivers"].count("; ") == 2, first  # "feature +0.123 (reading); ..."


def test_series_written_for_qgis_at_build_and_later_from_the_store(city_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyogrio

    db, _ = city_db
    gpkg = tmp_path / "series.gpkg"
    result = runner.invoke(app, ["link", "series", "--dataset", "synth", "--threshold", "0.7", "--out", str(gpkg),
                                 "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["out"] == str(gpkg)
    members = pyogrio.raw.read(gpkg, layer="series_members")
    ids = dict(zip(members[0]["fields"], members[3], strict=True))["incident_id"]
    assert sorted(ids) == sorted(m for s in doc["series"] for m in s["members"])
    heads = pyogrio.read_info(gpkg, layer="series")
    assert heads["features"] == doc["n_series"] and heads["layer_metadata"]["matches_ledger"] == "true"
    # the stored run again, later, as CSV: the same members
    out = tmp_path / "again.csv"
    result = runner.invoke(app, ["link", "export", doc["run_id"], "--out", str(out), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert _json(result.output)["matches_ledger"] is True
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["incident_id"] for r in rows) == sorted(ids)
    assert {r["run_id"] for r in rows} == {doc["run_id"]} and {r["matches_ledger"] for r in rows} == {"true"}
    # beside it, for GDAL: the column types and the CRS, moved into place with the file (no staging names left)
    assert out.with_suffix(".csvt").read_text().count('"WKT"') == 1 and out.with_suffix(".prj").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with DuckDBStore.open(db) as store:
        exports = [e for _, e in Ledger(store).entries(action="link.export") if e.detail["run_id"] == doc["run_id"]]
    assert [e.detail["format"] for e in exports] == ["gpkg", "csv"]
    # a suffix the export cannot write is refused before any work (no new run)
    from crimelens.cli import main

    with DuckDBStore.open(db) as store:
        before = store.scalar("SELECT count(*) FROM link_runs")
    with pytest.raises(SystemExit) as stop:
        main(["link", "series", "--dataset", "synth", "--out", str(tmp_path / "s.shp"), "--db", str(db), "--json"])
    assert stop.value.code == 2
    with DuckDBStore.open(db) as store:
        assert store.scalar("SELECT count(*) FROM link_runs") == before


def test_similar_lists_series_mates_with_drivers_and_is_logged(city_db) -> None:  # type: ignore[no-untyped-def]
    db, city = city_db
    members = max(city.series.values(), key=len)
    query = members[len(members) // 2]
    result = runner.invoke(app, ["link", "similar", query, "--dataset", "synth", "-k", "10", "--db", str(db),
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    got = [m["incident_id"] for m in doc["matches"]]
    assert len(got) == 10 and query not in got
    assert len(set(got) & set(members)) >= 2
    probs = [m["probability"] for m in doc["matches"]]
    assert probs == sorted(probs, reverse=True)
    assert all(m["drivers"] and {"feature", "value", "contribution"} <= set(m["drivers"][0]) for m in doc["matches"])
    with DuckDBStore.open(db) as store:
        entries = Ledger(store).entries(action="link.similar")
    assert entries[-1][1].inputs["incident_id"] == query
    assert entries[-1][1].detail["returned"] == got


def test_errors_and_refusals(city_db) -> None:  # type: ignore[no-untyped-def]
    db, _ = city_db
    from crimelens.cli import main

    for args, code in ((["link", "similar", "NOPE", "--dataset", "synth"], 1),
                       (["link", "train", "--dataset", "synth", "--label", "suspect_race"], 2),
                       (["link", "train", "--dataset", "synth", "--enable-protected-descriptor", "weapon"], 2),
                       (["link", "pairs", "--dataset", "nothing"], 1)):
        with pytest.raises(SystemExit) as stop:
            main([*args, "--db", str(db), "--json"])
        assert stop.value.code == code, args


def test_training_without_labels_says_how_to_record_them(city_db, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    db, _ = city_db
    from crimelens.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["link", "train", "--dataset", "synth", "--label", "case_ref", "--db", str(db)])
    err = " ".join(capsys.readouterr().err.split())
    assert stop.value.code == 2
    assert "0 incident(s) of 'synth' carry a series label (attribute 'case_ref'" in err
    assert "crimelens link label ID ID ... --dataset synth --series NAME" in err


def test_analyst_labels_feed_training(city_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, city = city_db
    members = list(max(city.series.values(), key=len))[:3]
    result = runner.invoke(app, ["link", "label", *members, "--dataset", "synth", "--series", "A-1",
                                 "--note", "arrest 17", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert _json(result.output)["n_labelled"] == 3
    with DuckDBStore.open(db) as store:
        rows = store.query("SELECT incident_id, label FROM series_labels ORDER BY incident_id")
        (_, entry), = Ledger(store).entries(action="link.label")
    assert sorted(rows["incident_id"]) == sorted(members) and set(rows["label"]) == {"A-1"}
    assert entry.detail["label"] == "A-1"
    # named twice, or labelled again: recorded once, and the count says so
    again = runner.invoke(app, ["link", "label", members[0], members[0], members[1], "--dataset", "synth",
                                "--series", "A-1", "--db", str(db)])
    assert again.exit_code == 0 and "0 incident(s) labelled 'A-1' in synth (2 already were)" in again.output
    other = runner.invoke(app, ["link", "label", members[0], members[0], "--dataset", "synth", "--series", "B-2",
                                "--db", str(db), "--json"])
    assert _json(other.output)["n_labelled"] == 1 and _json(other.output)["n_already"] == 0  # a second series
    with DuckDBStore.open(db) as store:
        rows = store.query("SELECT incident_id, label FROM series_labels ORDER BY label, incident_id")
    assert len(rows) == 4 and list(rows["label"]).count("B-2") == 1


def test_seeded_series_grows_from_one_incident(city_db) -> None:  # type: ignore[no-untyped-def]
    db, city = city_db
    members = max(city.series.values(), key=len)
    seed = members[len(members) // 2]
    result = runner.invoke(app, ["link", "series", "--dataset", "synth", "--seed", seed, "--threshold", "0.5",
                                 "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    (grown,) = _json(result.output)["series"]
    assert seed in grown["members"]
    assert len(set(grown["members"]) & set(members)) >= 2


def test_cached_similar_equals_the_per_query_path_and_follows_new_incidents(city_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.linkage import similar_incidents

    db, city = city_db
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    shutil.copytree(Path(f"{db}.keys"), Path(f"{copy}.keys"))  # the store's signing key goes with it
    members = max(city.series.values(), key=len)
    queries = [members[len(members) // 2], members[0], members[-1]]
    actor = Actor("tester")
    with open_context(load_settings(db=copy)) as ctx:
        n_before = 0
        for q in queries:
            cached = similar_incidents(ctx, dataset="synth", incident_id=q, actor=actor, k=8)
            fresh = similar_incidents(ctx, dataset="synth", incident_id=q, actor=actor, k=8, cache=False)
            assert cached.n_candidates == fresh.n_candidates > 0
            assert [m["incident_id"] for m in cached.matches] == [m["incident_id"] for m in fresh.matches]
            assert [m["probability"] for m in cached.matches] == pytest.approx(
                [m["probability"] for m in fresh.matches], abs=1e-12)
            n_before = n_before or cached.n_candidates
        # a new incident (a copy of the query at the same place and time) lands in the store:
        # the next cached query sees it as a block-mate
        row = ctx.store.query("SELECT * FROM incidents WHERE incident_id = ?", [queries[0]])
        ctx.store.insert_incidents(row.drop(columns=["ingest_id"]).assign(incident_id="TWIN-1"), ingest_id="t")
        after = similar_incidents(ctx, dataset="synth", incident_id=queries[0], actor=actor, k=10_000)
        fresh = similar_incidents(ctx, dataset="synth", incident_id=queries[0], actor=actor, k=10_000, cache=False)
        # an id the dataset lacks: both paths say so, naming the incident and the dataset
        from crimelens.errors import NotFoundError

        for cache in (True, False):
            with pytest.raises(NotFoundError, match="incident 'NOPE': not in dataset 'synth'"):
                similar_incidents(ctx, dataset="synth", incident_id="NOPE", actor=actor, cache=cache)
    assert after.n_candidates == n_before + 1
    assert "TWIN-1" in [m["incident_id"] for m in after.matches]
    assert [m["incident_id"] for m in after.matches] == [m["incident_id"] for m in fresh.matches]


def test_a_denser_dataset_than_the_linkers_training_data_is_warned_about(city_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The probability carries the training data's share of linked pairs. A dataset with about 7× the
    candidate pairs per incident (a second, four-times-denser city ingested into it) gets a warning on its
    series and pair runs, in the JSON and the ledger; the training data's own city gets none."""
    import shutil

    from crimelens.synth import SyntheticCity

    db, _ = city_db
    same = runner.invoke(app, ["link", "series", "--dataset", "synth", "--db", str(db), "--json"])
    assert same.exit_code == 0, same.output
    assert _json(same.output)["warnings"] == []
    copy = tmp_path / "dense.duckdb"
    shutil.copyfile(db, copy)
    shutil.copytree(Path(f"{db}.keys"), Path(f"{copy}.keys"))
    SyntheticCity(seed=4, days=120, n_series=12, n_areas=8, scale=2).generate().write(tmp_path / "dense")
    ingested = runner.invoke(app, ["ingest", str(tmp_path / "dense" / "incidents.csv"), "--dataset", "synth",
                                   "--db", str(copy), "--json"])
    assert ingested.exit_code == 0, ingested.output
    for args in (["link", "series", "--dataset", "synth"], ["link", "pairs", "--dataset", "synth"]):
        result = runner.invoke(app, [*args, "--db", str(copy), "--json"])
        assert result.exit_code == 0, result.output
        (warning,) = [w for w in _json(result.output)["warnings"] if "candidate pairs per incident" in w]
        k = float(warning.split("× more than")[0].rsplit(", ", 1)[1])
        assert 4 < k < 12 and "train a linker on this dataset's own solved series" in warning
        # the odds scale, not the probability: series 0.01 (their default), pairs 0.5 (theirs)
        p = 0.01 if args[1] == "series" else 0.5
        read = float(warning.split(f"read {p:g} as about ")[1].split(",")[0])
        assert read == pytest.approx(p / (p + k * (1 - p)), rel=0.05)  # before: p / k (0.5 read as 0.07)
    with DuckDBStore.open(copy, read_only=True) as store:
        *_, (_, entry) = Ledger(store).entries(action="link.pairs")
    assert entry.detail["warnings"] == [warning]
    pairs_k = k
    # a "similar" list has no threshold: its warning says how a listed 0.9 reads, from the dataset's
    # density (every incident's block-mates counted, or a sample's on a large dataset), on the one-shot
    # path (the CLI's) and the cached one (the API's) alike, and in the query's ledger entry
    some = ctx_incident(copy)
    plain = runner.invoke(app, ["link", "similar", some, "--dataset", "synth", "--db", str(db), "--json"])
    assert plain.exit_code == 0, plain.output
    assert _json(plain.output)["warnings"] == []
    shown = runner.invoke(app, ["link", "similar", some, "--dataset", "synth", "--db", str(copy)])
    assert shown.exit_code == 0 and "warning: this dataset has" in shown.output, shown.output
    with DuckDBStore.open(copy, read_only=True) as store:  # counted once, kept for the next one-shot query
        kept = store.query("SELECT n_incidents FROM link_density WHERE dataset = 'synth' AND n_records = ?",
                           [store.count_incidents(dataset="synth")])
    assert kept["n_incidents"].tolist() == [store_count(copy)]
    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.linkage import similar_incidents

    with open_context(load_settings(db=copy)) as ctx:
        for cache in (False, True):
            (warning,) = similar_incidents(ctx, dataset="synth", incident_id=some, actor=Actor("t"),
                                           cache=cache).warnings
            k = float(warning.split("× more than")[0].rsplit(", ", 1)[1])
            assert k == pytest.approx(pairs_k, rel=0.03)  # sampled: 20,000 of its 23,641 incidents
            read = float(warning.split("read 0.9 as about ")[1].split(",")[0])
            assert read == pytest.approx(0.9 / (0.9 + k * 0.1), rel=0.05)
        *_, (_, entry) = Ledger(ctx.store).entries(action="link.similar")
    assert entry.detail["warnings"] == [warning]


def store_count(db: Path) -> int:
    with DuckDBStore.open(db, read_only=True) as store:
        return store.count_incidents(dataset="synth")


def ctx_incident(db: Path) -> str:
    """An incident of the store's synth dataset (the first by id)."""
    with DuckDBStore.open(db, read_only=True) as store:
        return str(store.query("SELECT min(incident_id) AS i FROM incidents WHERE dataset = 'synth'")["i"][0])
