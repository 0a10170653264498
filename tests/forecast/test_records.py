"""Forecasts count each incident once: Cincinnati's export has one row per victim or offence, which an
ingest keeps as ID, ID#2, ID#3... at coordinates jittered by about 100 m. Counted as incidents, a
burglary with three victims weighed three times in a cell's history and, when scored, three times
in the hit rate."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from crimelens.cli import main
from crimelens.config import load_settings
from crimelens.errors import InvalidParameterError
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.dashboard import forecast_evaluation, forecast_layer
from crimelens.services.forecasts import run_forecast
from crimelens.storage._forecast import get_forecast_run
from tests.conftest import shared

CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cincinnati's 2017 burglaries and the first weeks of 2018."""
    folder = tmp_path_factory.mktemp("records")
    with gzip.open(shared(CINCINNATI), "rt") as fh:
        lines = fh.read().splitlines()
    src = folder / "cincinnati.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2017-" in x or ",2018-01-" in x]]) + "\n")
    path = folder / "c.duckdb"
    main(["ingest", str(src), "--db", str(path), "--json"])
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    main(list(args))
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


def test_a_forecast_is_trained_and_scored_on_incidents(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    ana = Actor("ana")
    with open_context(load_settings(db=db)) as ctx:
        ids = ctx.store.query("SELECT incident_id, occurred_from FROM incidents")
        before = ids[ids["occurred_from"] < "2018-01-08T05:00:00Z"]["incident_id"].astype(str)
        n_copies = int(before.str.contains("#").sum())
        once = run_forecast(ctx, offense=None, at="2018-01-08", actor=ana, model="naive")
        every = run_forecast(ctx, offense=None, at="2018-01-08", actor=ana, model="naive", records="all")
        assert once.n_records_left_out == n_copies > 200 and every.n_records_left_out == 0
        assert once.n_training + n_copies == every.n_training == len(before)
        entry = ctx.ledger.entry(once.ledger_seq)
        assert (entry.detail["records"], entry.detail["n_records_left_out"]) == ("incident", n_copies)
        stored = get_forecast_run(ctx.store, once.run_id)
        assert (stored.records, stored.n_records_left_out) == ("incident", n_copies)
        assert forecast_layer(ctx, run_id=once.run_id, actor=ana, purpose="research")["properties"]["records"] == "incident"
        # scored as counted: the window's further records count only in the run that counted every record
        got = {r.run_id: forecast_evaluation(ctx, run_id=r.run_id, actor=ana, purpose="research")["n_recorded_in_window"]
               for r in (once, every)}
        window = ctx.store.query("SELECT incident_id FROM incidents WHERE occurred_from >= TIMESTAMPTZ "
                                 "'2018-01-08 05:00:00+00' AND occurred_from < TIMESTAMPTZ '2018-01-15 05:00:00+00'")
        in_window = window["incident_id"].astype(str)
        assert got[every.run_id] == len(in_window) > got[once.run_id] > 0
        with pytest.raises(InvalidParameterError, match="--records: got 'victims'"):
            run_forecast(ctx, offense=None, at="2018-01-08", actor=ana, model="naive", records="victims")
    # the CLI says what it left out, and a backtest counts incidents in training and in the test weeks
    main(["forecast", "run", "--at", "2018-01-08", "--model", "naive", "--db", str(db)])
    assert "further record(s) of incidents already counted" in " ".join(capsys.readouterr().out.split())
    base = ["forecast", "backtest", "--models", "naive", "--start", "2018-01-01", "--periods", "3", "--db", str(db),
            "--json"]
    b_once, b_every = _cli(capsys, *base), _cli(capsys, *base, "--records", "all")
    assert (b_once["records"], b_every["records"], b_every["n_records_left_out"]) == ("incident", "all", 0)
    n_events = [sum(r["n_events"] for r in d["per_period"] if r["model"] == "naive")  # type: ignore[union-attr]
                for d in (b_once, b_every)]
    assert 0 < n_events[0] < n_events[1]
    assert int(b_once["n_records_left_out"]) == int(ids["incident_id"].astype(str).str.contains("#").sum())  # type: ignore[call-overload]


def test_the_python_api_says_when_a_fit_counts_further_records(db: Path) -> None:
    """Fitted directly on a table with ID#2 rows (the docs' Python API path), a model counted every
    record without a word, so its top cell read 0.364 where the CLI's read 0.211; it now warns, and
    the table the warning names counts each incident once, as the CLI does."""
    import warnings

    from crimelens.domain import TimeWindow
    from crimelens.forecast import NaiveCounts, StudyArea

    with open_context(load_settings(db=db)) as ctx:
        table = ctx.store.incidents()
    week = TimeWindow.local("2018-01-08", days=7, zone="America/New_York")
    area = StudyArea.from_activity(table, 150.0, period=TimeWindow(table.frame["occurred_from"].min(), week.start))
    with pytest.warns(UserWarning, match=r"NaiveCounts.fit: the table holds \d[\d,]* further records"):
        every = NaiveCounts(area=area).fit(table).predict(week)
    once_table = table.select(mask=~table.further_records())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        once = NaiveCounts(area=area).fit(once_table).predict(week)
    assert every.intensity.sum() > once.intensity.sum()
