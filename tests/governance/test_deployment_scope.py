"""A deployment serves the data its model card was measured on: the board approves figures measured on
one city's burglaries, so a forecast of another offence or another city under it is refused (and logged).

An independent tester ran drug and robbery forecasts, and San Francisco's robberies, as operational
uses of a deployment whose card was measured only on the synthetic city's burglaries."""

from __future__ import annotations

import json

import pytest

from crimelens.errors import ApprovalRequiredError
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, record_use
from tests.governance.conftest import CARD_TEXT, Clock, People, to_active


def _register_measured(ctx: Context, people: People) -> None:
    """The card as `forecast backtest --register` writes it: its data names the dataset and offence."""
    gs.register_model(ctx, name="KDEHotspot", version="1.0", params={"bandwidth_m": 250.0},
                      evaluation={"metrics": {"pai_0.05": 6.2},
                                  "data": {"what": "rolling-origin backtest", "dataset": "synth",
                                           "offense": "burglary"}},
                      actor=people.analyst, training_dataset="synth", training_data_hash="ab" * 32,
                      code_version="0.1.0", artefact_hash="cd" * 32, card_text=CARD_TEXT)


def _use(ctx: Context, people: People, **inputs: str | None) -> int:
    return record_use(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning",
                      deployment="hotspots", model="KDEHotspot", model_version="1.0", inputs=dict(inputs))


def test_a_deployment_takes_its_scope_from_the_card_and_refuses_other_data(
        ctx: Context, people: People, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.governance.conftest as conf

    monkeypatch.setattr(conf, "register", _register_measured)
    to_active(ctx, people, clock)
    policy = json.loads(str(ctx.store.scalar("SELECT policy FROM deployments WHERE name = 'hotspots'")))
    assert (policy["datasets"], policy["offenses"]) == (["synth"], ["burglary"])  # shown to the board
    assert _use(ctx, people, dataset="synth", offense="burglary") > 0
    for inputs, said in [({"dataset": "synth", "offense": "drugs"}, "offense 'drugs' is outside"),
                         ({"dataset": "sf_robbery", "offense": "burglary"}, "dataset 'sf_robbery' is outside"),
                         ({"dataset": "synth", "offense": None}, "every offense is outside")]:
        with pytest.raises(ApprovalRequiredError, match=said):
            _use(ctx, people, **inputs)
    refused = [e for _s, e in ctx.ledger.entries(action="forecast.run") if e.outcome == "refused"]
    assert len(refused) == 3 and all("its model card's figures were measured there" in e.detail["reason"]
                                     for e in refused)


def test_a_scope_the_policy_names_stands(ctx: Context, people: People, clock: Clock,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.governance.conftest as conf

    monkeypatch.setattr(conf, "register", _register_measured)
    to_active(ctx, people, clock, policy=UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=30,
                                                   offenses=("burglary", "robbery")))
    policy = json.loads(str(ctx.store.scalar("SELECT policy FROM deployments WHERE name = 'hotspots'")))
    assert (policy["datasets"], policy["offenses"]) == (["synth"], ["burglary", "robbery"])
    assert _use(ctx, people, dataset="synth", offense="robbery") > 0


def test_a_card_without_named_data_leaves_the_scope_open(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)  # the conftest card's data is a sentence, naming no dataset
    policy = json.loads(str(ctx.store.scalar("SELECT policy FROM deployments WHERE name = 'hotspots'")))
    assert (policy["datasets"], policy["offenses"]) == ([], [])
    assert _use(ctx, people, dataset="anything", offense="drugs") > 0
