"""Linkage counts each incident once: the further records of one incident (ids ID#2, ID#3... that an
ingest numbered, one row per victim or offence, as in Cincinnati's export) are the same event at
jittered coordinates. Kept as incidents, each topped its own incident's "similar" list, passed for a
series of two, and taught the linker that a pair at the same minute 100 m apart is not linked."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from crimelens.cli import main
from crimelens.config import load_settings
from crimelens.domain import incident_of
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.linkage import (
    build_series,
    label_series,
    score_pairs,
    similar_incidents,
    train_linker,
)
from crimelens.services.nearrepeat import nearrepeat_alert
from tests.conftest import shared

CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cincinnati's 2017 burglaries; the four westernmost labelled as one series by an analyst,
    and a linker trained on them."""
    folder = tmp_path_factory.mktemp("linkrecords")
    with gzip.open(shared(CINCINNATI), "rt") as fh:
        lines = fh.read().splitlines()
    src = folder / "cincinnati_2017.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2017-" in x]]) + "\n")
    path = folder / "c.duckdb"
    main(["ingest", str(src), "--db", str(path), "--json", "--dataset", "cin"])
    ana = Actor("ana")
    with open_context(load_settings(db=path)) as ctx:
        west = ctx.store.query("SELECT incident_id FROM incidents WHERE NOT contains(incident_id, '#') "
                               "ORDER BY x_m LIMIT 4")["incident_id"].astype(str).tolist()
        label_series(ctx, dataset="cin", incident_ids=west, label="west", actor=ana)
        train_linker(ctx, dataset="cin", actor=ana, window_days=400.0)
    return path


def test_similar_lists_other_incidents_and_answers_a_record_for_its_incident(db: Path) -> None:
    ana = Actor("ana")
    with open_context(load_settings(db=db)) as ctx:
        ids = ctx.store.query("SELECT incident_id FROM incidents")["incident_id"].astype(str)
        triple = sorted({incident_of(i) for i in ids if i.endswith("#3")})[0]
        for cache in (True, False):
            res = similar_incidents(ctx, dataset="cin", incident_id=triple, actor=ana, k=10, cache=cache)
            got = [m["incident_id"] for m in res.matches]
            assert res.n_candidates >= 10 and len(got) == 10
            assert not [g for g in got if incident_of(g) == triple], got  # none of its own records
            assert all("#" not in g for g in got)  # every other incident once, as its first record
            copy = similar_incidents(ctx, dataset="cin", incident_id=f"{triple}#2", actor=ana, k=10, cache=cache)
            assert (copy.incident_id, copy.to_dict()["asked_for"]) == (triple, f"{triple}#2")
            assert [m["incident_id"] for m in copy.matches] == got
        alert = nearrepeat_alert(ctx, incident_id=f"{triple}#3", actor=ana, dataset="cin", permutations=19).to_dict()
        assert (alert["incident_id"], alert["asked_for"]) == (triple, f"{triple}#3")


def test_pairs_and_series_never_join_records_of_one_incident(db: Path) -> None:
    ana = Actor("ana")
    with open_context(load_settings(db=db)) as ctx:
        n_copies = int(ctx.store.scalar("SELECT count(*) FROM incidents WHERE contains(incident_id, '#')"))
        pairs = score_pairs(ctx, dataset="cin", actor=ana, min_score=0.0, save=False)
        frame = pairs.pairs
        assert len(frame) > 1000 and n_copies > 300
        same = [(a, b) for a, b in zip(frame["incident_id_a"], frame["incident_id_b"], strict=True)
                if incident_of(a) == incident_of(b)]
        assert same == []
        assert not frame["incident_id_a"].str.contains("#").any() and not frame["incident_id_b"].str.contains("#").any()
        series = build_series(ctx, dataset="cin", actor=ana, threshold=0.01)
        assert series.series
        for s in series.series:
            members = [incident_of(str(m)) for m in s["members"]]
            assert len(set(members)) == len(members) and all("#" not in str(m) for m in s["members"])
        entry = ctx.ledger.entry(int(ctx.store.scalar(
            "SELECT max(seq) FROM ledger WHERE action = 'link.train'")))
        assert entry.detail["n_records_left_out"] == n_copies


def test_a_cutoff_date_is_midnight_where_the_data_was_recorded(db: Path) -> None:
    """Cincinnati's files were read in America/New_York: --cutoff 2017-12-01 is midnight there, 05:00 UTC."""
    with open_context(load_settings(db=db)) as ctx:
        res = train_linker(ctx, dataset="cin", actor=Actor("ana"), window_days=400.0, cutoff="2017-12-01",
                           evaluate=False)
        n_before = int(ctx.store.scalar(
            "SELECT count(*) FROM incidents WHERE NOT contains(incident_id, '#') "
            "AND occurred_from < TIMESTAMPTZ '2017-12-01 05:00:00+00'"))
    assert res.to_dict()["cutoff"] == "2017-12-01T05:00:00+00:00"
    assert res.training["n_incidents"] == n_before
