"""One event per incident: the further records of one incident (ids ID#2, ID#3, ... that an ingest
numbered, one row per victim or offence) would pair with the first at a gap of 0 and pass for near
repeats. Cincinnati's export has 1,637 such rows among 8,297 located burglaries, at coordinates
jittered by about 100 m."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from crimelens.cli import main
from crimelens.config import load_settings
from crimelens.domain import Incident, IncidentTable
from crimelens.errors import InvalidParameterError
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from crimelens.services.nearrepeat import nearrepeat_alert, run_knox, show_run
from crimelens.storage._nearrepeat import latest_incident_id
from tests.conftest import shared

CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"
HEADER = "incident_no,offense_date,offense,longitude,latitude\n"


def _table(ids: list[str]) -> IncidentTable:
    return IncidentTable.from_incidents([Incident(i, "burglary", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z",
                                                  float(k), 0.0) for k, i in enumerate(ids)])


def test_the_lowest_numbered_record_present_stands_for_its_incident() -> None:
    ids = ["A", "A#2", "A#3", "B#2", "B#3", "C", "C#x", "D#1", "E#10", "E#2", "F#2"]
    marked = dict(zip(ids, _table(ids).further_records().tolist(), strict=True))
    # A's first record is A itself; B's first present record is B#2 (B was refused at ingest, say);
    # "C#x" and "D#1" are not the ingest's numbering, so they are incidents of their own
    assert [i for i, m in marked.items() if m] == ["A#2", "A#3", "B#3", "E#10"]


def test_records_of_one_incident_do_not_pass_for_a_near_repeat(tmp_path: Path) -> None:
    # one burglary recorded twice (two victims), the copy 60 m off as the export jitters it; an older one 5 km away
    src = tmp_path / "two_victims.csv"
    src.write_text(HEADER + "100,2017-05-25T10:00:00Z,BURGLARY,-84.4897,39.1431\n"
                            "100,2017-05-25T10:00:00Z,BURGLARY,-84.4897,39.1436\n"
                            "200,2017-04-01T10:00:00Z,BURGLARY,-84.4300,39.1800\n")
    with open_context(load_settings(db=tmp_path / "s.duckdb", progress=False)) as ctx:
        ingest_file(ctx, src, actor=Actor("ada"))
        kw = {"actor": Actor("ada"), "dataset": "cincinnati_burglary", "space_bands": [100, 200], "time_bands": [7, 14],
              "permutations": 9, "seed": 1}
        every = run_knox(ctx, records="all", **kw)
        once = run_knox(ctx, **kw)
        assert (every.result.n_events, once.result.n_events, once.n_records_left_out) == (3, 2, 1)
        assert int(every.result.observed[0, 0]) == 1 and int(once.result.observed[0, 0]) == 0
        shown = show_run(ctx, once.run_id, actor=Actor("ada"))
        assert (shown["records"], shown["n_records_left_out"]) == ("incident", 1)
        entry = ctx.ledger.entry(int(once.ledger_seq or 0))
        assert entry.params["records"] == "incident" and entry.detail["n_records_left_out"] == 1
        with pytest.raises(InvalidParameterError, match="--records: got 'victims'"):
            run_knox(ctx, records="victims", **kw)
        # the newest incident has two records: "the latest" is the incident, not its copy (which sorted first)
        assert latest_incident_id(ctx.store, dataset="cincinnati_burglary") == "100"
        # an alert says how the surface it reads counted records (a run stored before 0012 counted all)
        for run in (once, every):
            alert = nearrepeat_alert(ctx, "100", actor=Actor("ada"), run_id=run.run_id).to_dict()
            assert alert["surface_records"] == run.records


def test_cincinnati_first_band_without_the_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with gzip.open(shared(CINCINNATI), "rt") as fh:
        lines = fh.read().splitlines()
    src = tmp_path / "cincinnati_2017.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2017-" in x]]) + "\n")
    db = str(tmp_path / "c.duckdb")
    assert _cli(capsys, "ingest", str(src), "--db", db, "--json")["n_landed"] > 2000
    base = ["nearrepeat", "--db", db, "--space-bands", "100,200", "--time-bands", "7,14", "--permutations", "19",
            "--seed", "1"]
    every = _cli(capsys, *base, "--records", "all", "--json")
    once = _cli(capsys, *base, "--json")
    assert once["records"] == "incident" and every["records"] == "all" and every["n_records_left_out"] == 0
    assert once["n_events"] + once["n_records_left_out"] == every["n_events"] and once["n_records_left_out"] > 300
    # the copies sit 0 days apart: nearly all of them land in the first time band, and the ratio there falls
    first = np.array(every["observed"])[:2, 0] - np.array(once["observed"])[:2, 0]
    assert first.sum() >= 0.8 * once["n_records_left_out"]
    assert once["knox_ratio"][0][0] < 0.5 * every["knox_ratio"][0][0]
    main(base)
    assert "further record(s) of incidents already counted" in " ".join(capsys.readouterr().out.split())


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    main(list(args))
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc
