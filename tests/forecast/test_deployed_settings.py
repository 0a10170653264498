"""A deployed forecast runs with the settings its model card measured: the cell size, horizon and
study-area rule of the card's backtest, and no larger a coverage than the largest it reported.

One active deployment ``hot`` on the synthetic city, built as the demo builds it: gbm registered from
``forecast backtest --register gbm``, its card written from examples/governance/card.toml, the
deployment proposed under examples/governance/policy.toml, assessed with aia.toml, and taken through
public comment, board review and activation.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crimelens import __version__
from crimelens.cli import app, main
from crimelens.config import Settings
from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Actor, Role
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services.forecasts import run_forecast
from tests.governance.conftest import Clock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "governance"
PURPOSE = "patrol planning"
AT = "2024-11-10"
ANA = Actor("ana", Role.ANALYST)
MODEL = "GradientBoostedCells"


def _deploy(db: Path, clock: Clock, name: str, model: str) -> None:
    """Propose ``name`` for ``model`` under the example policy and take it to active."""
    admin, sam = Actor("ada", Role.ADMIN), Actor("sam", Role.SUPERVISOR)
    answers = tomllib.loads((EXAMPLES / "aia.toml").read_text())
    with open_context(Settings(db=db), clock=clock) as ctx:
        gs.create_deployment(ctx, name=name, model=model, model_version=__version__, description=PURPOSE,
                             policy=UsePolicy.from_toml(EXAMPLES / "policy.toml"), actor=ANA)
        gs.assess_impact(ctx, deployment=name, answers=answers, actor=ANA)
        gs.open_public_comment(ctx, deployment=name, actor=sam)
        clock.advance(days=15)  # the comment period's floor (14 days) has run
        gs.start_board_review(ctx, deployment=name, actor=sam)
        for member in ("b1", "b2", "b3"):
            gs.vote(ctx, deployment=name, choice="approve", actor=Actor(member, Role.BOARD), reason="ok")
        gs.close_review(ctx, deployment=name, actor=Actor("b1", Role.BOARD))
        gs.activate(ctx, deployment=name, actor=admin)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deployed")
    db = folder / "c.duckdb"
    cli = CliRunner()
    res = cli.invoke(app, ["synth", "--out", str(folder / "s"), "--seed", "7", "--days", "150", "--scale", "0.3",
                           "--n-series", "4", "--start", "2024-07-01", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    clock = Clock(datetime.now(UTC) - timedelta(days=40))  # activated in the past: the CLI runs on today's clock
    with open_context(Settings(db=db), clock=clock) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", Role.ADMIN))
        for user, role in (("ana", "analyst"), ("sam", "supervisor"), ("b1", "board"), ("b2", "board"),
                           ("b3", "board")):
            gs.add_user(ctx, name=user, role=role, actor=Actor("ada", Role.ADMIN))
    res = cli.invoke(app, ["forecast", "backtest", "--dataset", "synth", "--models", "naive,gbm", "--offense",
                           "burglary", "--start", "2024-10-06", "--periods", "3", "--coverage", "0.01,0.05",
                           "--register", "gbm", "--db", str(db), "--json"], env={"CRIMELENS_USER": "ana"})
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["registered"]["model"] == MODEL
    card = tomllib.loads((EXAMPLES / "card.toml").read_text())
    with open_context(Settings(db=db), clock=clock) as ctx:
        gs.describe_model(ctx, name=MODEL, version=__version__, sections=card, actor=ANA)
        # a card registered by hand, without the settings a backtest records (an older card)
        gs.register_model(ctx, name="NaiveCounts", version=__version__, params={}, actor=ANA,
                          evaluation={"metrics": {"hit_rate_5pct": 0.3}, "data": "synthetic city backtest"},
                          training_dataset="synth", card_text=card)
    _deploy(db, clock, "hot", MODEL)
    _deploy(db, clock, "old-card", "NaiveCounts")
    return db


def _ledger_tail(db: Path, before: int) -> list[Any]:
    with open_context(Settings(db=db)) as ctx:
        return [ctx.ledger.entry(seq) for seq in range(before, ctx.ledger.size())]


def _sizes(db: Path) -> tuple[int, int]:
    with open_context(Settings(db=db)) as ctx:
        return ctx.ledger.size(), int(ctx.store.scalar("SELECT count(*) FROM forecast_runs"))


@pytest.mark.parametrize(("settings", "setting", "asked", "measured", "words"), [
    ({"cell_m": 1000.0}, "cell_m", 1000.0, 150.0, "cell size (--cell-m) 1000 m, measured 150 m"),
    ({"horizon_days": 28.0}, "horizon_days", 28.0, 7.0, "horizon (--horizon) 28 days, measured 7 days"),
    ({"mask": "bbox"}, "mask", "bbox", "activity", "study-area rule (--mask) bbox, measured activity"),
    ({"mask": "h3"}, "mask", "h3 resolution 9", "activity", "(--mask) h3 resolution 9, measured activity"),
    ({"coverage": 0.5}, "coverage", 0.5, [0.01, 0.05],
     "coverage (--coverage) 0.5, above the largest measured 0.05 (measured 0.01, 0.05)"),
])
def test_a_setting_the_card_did_not_measure_is_refused_and_logged(
        city: Path, settings: dict[str, Any], setting: str, asked: Any, measured: Any, words: str) -> None:
    ledger_before, runs_before = _sizes(city)
    with open_context(Settings(db=city)) as ctx, pytest.raises(ApprovalRequiredError) as err:
        run_forecast(ctx, offense="burglary", at=AT, actor=ANA, dataset="synth", purpose=PURPOSE,
                     deployment="hot", **settings)
    assert words in str(err.value) and f"approves {MODEL} {__version__}" in str(err.value)
    entries = _ledger_tail(city, ledger_before)
    assert len(entries) == 1, [e.action for e in entries]
    entry = entries[0]
    assert (entry.action, entry.outcome, entry.deployment) == ("forecast.run", "refused", "hot")
    assert words in entry.detail["reason"]
    got = entry.detail["settings"]
    assert list(got) == [setting] and got[setting]["asked"] == asked and got[setting]["measured"] == measured
    assert _sizes(city)[1] == runs_before  # nothing stored
    with open_context(Settings(db=city)) as ctx:  # research use (no deployment) keeps any setting
        run = run_forecast(ctx, offense="burglary", at=AT, actor=ANA, dataset="synth", **settings)
        research = ctx.ledger.entry(run.ledger_seq)
    assert (research.outcome, research.deployment, research.purpose) == ("ok", None, "research")
    assert not [w for w in run.warnings if "card" in w]


def test_the_cli_refuses_the_testers_forecast_naming_each_setting(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_USER", "ana")
    ledger_before, runs_before = _sizes(city)
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "run", "--dataset", "synth", "--offense", "burglary", "--at", AT, "--deployment", "hot",
              "--purpose", PURPOSE, "--cell-m", "1000", "--horizon", "28d", "--coverage", "0.5", "--db", str(city),
              "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert exc.value.code == 3 and doc["type"] == "ApprovalRequiredError", doc
    for words in ("cell size (--cell-m) 1000 m, measured 150 m", "horizon (--horizon) 28 days, measured 7 days",
                  "coverage (--coverage) 0.5, above the largest measured 0.05"):
        assert words in doc["error"], doc
    entries = _ledger_tail(city, ledger_before)
    assert [(e.action, e.outcome) for e in entries] == [("forecast.run", "refused")]
    assert set(entries[0].detail["settings"]) == {"cell_m", "horizon_days", "coverage"}
    assert _sizes(city)[1] == runs_before


def test_the_measured_settings_are_accepted(city: Path) -> None:
    with open_context(Settings(db=city)) as ctx:
        run = run_forecast(ctx, offense="burglary", at=AT, actor=ANA, dataset="synth", purpose=PURPOSE,
                           deployment="hot", cell_m=150.0, horizon_days=7.0, coverage=0.01)
        between = run_forecast(ctx, offense="burglary", at=AT, actor=ANA, dataset="synth", purpose=PURPOSE,
                               deployment="hot", coverage=0.03)
        entry = ctx.ledger.entry(run.ledger_seq)
    assert (entry.outcome, entry.deployment, entry.params["cell_m"]) == ("ok", "hot", 150.0)
    assert not [w for w in run.warnings if "card" in w]
    # below the largest measured coverage, flagged cells are among those the card's 5 % flagged: allowed, said
    assert [w for w in between.warnings if w.startswith("coverage 0.03 is not one the card")]


def test_a_card_without_measured_settings_is_allowed_with_a_warning(city: Path) -> None:
    with open_context(Settings(db=city)) as ctx:
        run = run_forecast(ctx, offense="burglary", at=AT, actor=ANA, model="naive", dataset="synth",
                           purpose=PURPOSE, deployment="old-card", cell_m=1000.0)
        entry = ctx.ledger.entry(run.ledger_seq)
    note = (f"the card of NaiveCounts {__version__} does not record its measured cell size, horizon, "
            "study-area rule, coverages")
    assert [w for w in run.warnings if w.startswith(note)], run.warnings
    assert entry.outcome == "ok" and [w for w in entry.detail["warnings"] if w.startswith(note)]
