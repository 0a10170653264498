"""Per-group hit rates in backtests: each audit group's share of recorded incidents in flagged
cells, pooled over periods, which add up to the overall hit rate; the models never see the groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import load_settings
from crimelens.errors import InvalidParameterError
from crimelens.forecast import NaiveCounts, StudyArea, TimeWeightedCounts, rolling_origin
from crimelens.governance import Actor
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services.forecasts import register_backtested, run_backtest
from crimelens.synth import CityData


def test_group_hits_add_up_to_the_overall_hit_rate(city: CityData) -> None:
    inc = city.incidents
    group_of = {a.area_id: a.audit["group"] for a in city.areas}
    labels = [group_of.get(a) for a in inc.frame["area"]]
    area = StudyArea.from_activity(inc, 150.0)
    models = {"naive": NaiveCounts(window_days=180), "weighted": TimeWeightedCounts()}
    res = rolling_origin(inc, models, area=area, start="2024-07-01", periods=6, coverages=(0.01, 0.05),
                         groups=labels)
    plain = rolling_origin(inc, models, area=area, start="2024-07-01", periods=6, coverages=(0.01, 0.05))
    assert res.groups == ("group_a", "group_b") and res.group_hits is not None and res.group_n is not None
    # every incident of the city has an area, so the groups split each period's incidents exactly
    np.testing.assert_allclose(res.group_n.sum(axis=1), res.n_events)
    for m in range(len(res.models)):
        for c in range(2):
            np.testing.assert_allclose(res.group_hits[m, :, :, c].sum(axis=1),
                                       res.hit_rate[m, :, c] * res.n_events, rtol=1e-9)
        # the groups are an audit: the models' own scores are unchanged by them
        np.testing.assert_array_equal(res.pai[m], plain.pai[m])
    rates = res.group_hit_rates("naive", 0.05)
    pooled = sum(v["hit_rate"] * v["n"] for v in rates.values()) / sum(v["n"] for v in rates.values())
    assert pooled == pytest.approx(float((res.hit_rate[0, :, 1] * res.n_events).sum() / res.n_events.sum()))
    for v in rates.values():
        assert v["low"] <= v["hit_rate"] <= v["high"] and v["n"] > 0
    with pytest.raises(InvalidParameterError, match="one per incident"):
        rolling_origin(inc, models, area=area, start="2024-07-01", periods=1, groups=labels[:-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("groups")
    db = folder / "c.duckdb"
    res = CliRunner().invoke(app, ["synth", "--out", str(folder / "s"), "--seed", "7", "--days", "150",
                                   "--scale", "0.3", "--n-series", "4", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    with open_context(load_settings(db=db)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", "admin"))
        gs.add_user(ctx, name="ana", role="analyst", actor=Actor("ada", "admin"))
    return db


def test_backtest_by_area_group_reaches_the_model_card(store: Path) -> None:
    ana = Actor("ana", "analyst")
    with open_context(load_settings(db=store)) as ctx:
        with pytest.raises(InvalidParameterError, match=r"'group'.*'share_group_a'"):
            run_backtest(ctx, models=["naive"], offense=None, start="2024-04-01", periods=2, actor=ana,
                         dataset="synth", group_by="race")  # neither a column nor an area attribute
        run = run_backtest(ctx, models=["naive", "weighted"], offense=None, start="2024-04-01", periods=4,
                           actor=ana, dataset="synth", coverages=(0.05,), group_by="group")
        doc = run.to_dict(per_period=False)
        by_group = doc["groups"]["models"]["weighted"]["0.05"]
        assert doc["groups"]["by"] == "group" and set(by_group) == {"group_a", "group_b"}
        card = register_backtested(ctx, run, model="weighted", actor=ana)
        entry = [e for _, e in ctx.ledger.entries() if e.action == "forecast.backtest"][-1]
    table = card.section("quantitative_analyses")["group"]
    assert {g: round(v["hit_rate_0.05"], 9) for g, v in table.items()} == {
        g: round(v["hit_rate"], 9) for g, v in by_group.items()}
    assert {g: v["n"] for g, v in table.items()} == {g: v["n"] for g, v in by_group.items()}
    assert entry.detail["group_by"] == "group"
    # an incident column works too, and the CLI prints the same figures as JSON
    res = CliRunner().invoke(app, ["forecast", "backtest", "--models", "naive", "--start", "2024-04-01",
                                   "--periods", "3", "--dataset", "synth", "--group-by", "premise",
                                   "--coverage", "0.05", "--no-per-period", "--json", "--db", str(store)])
    assert res.exit_code == 0, res.output
    premises = json.loads(res.stdout)["groups"]["models"]["naive"]["0.05"]
    assert len(premises) >= 3 and all(0 <= v["hit_rate"] <= 1 for v in premises.values() if v["n"] > 0)
