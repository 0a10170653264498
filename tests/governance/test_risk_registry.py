"""A risk model reaches a deployment only with the figures its fit measured, and its actionable
scores say they await review: on ProPublica's COMPAS file, through a real store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crimelens.errors import InputError
from crimelens.governance import PENDING_REVIEW_MARK
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context
from crimelens.services.risk import fit_risk_model, register_risk_model, score_people
from tests.conftest import shared
from tests.governance.conftest import CARD_TEXT, LOW_RISK, Clock, People

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


def test_a_risk_model_is_registered_with_its_measured_figures_and_its_scores_await_review(
        ctx: Context, people: People, clock: Clock, tmp_path: Path) -> None:
    data = shared(COMPAS)
    fit = fit_risk_model(ctx, data=data, label="two_year_recid", actor=people.analyst, kind="points",
                         params={"max_items": 4}, audit_columns=("race",), n_boot=50)
    # figures typed by hand for a risk model's id are refused (and the refusal logged)
    before = ctx.ledger.size()
    with pytest.raises(InputError, match=f"crimelens risk register {fit.model_id}"):
        gs.register_model(ctx, name=fit.kind, version=fit.model_id, params={}, actor=people.analyst,
                          evaluation={"metrics": {"auc": 0.95}, "groups": {"race": {"Caucasian": {"fpr": 0.1}}}})
    assert ctx.ledger.size() == before + 1 and ctx.ledger.entries()[-1][1].outcome == "refused"
    with pytest.raises(InputError, match="no metrics"):
        gs.register_model(ctx, name="External", version="1", params={}, actor=people.analyst, evaluation={})

    card = register_risk_model(ctx, model_id=fit.model_id, actor=people.analyst)
    metrics, data_section = card.section("metrics"), card.section("evaluation_data")
    assert metrics["cv_auc"] == fit.card["cv"]["auc_mean"] and metrics["n_train"] == 6172
    assert data_section["figures"].startswith(f"measured by crimelens: risk fit {fit.model_id}")
    black = next(g for g in fit.card["groups"]["audit"]["groups"] if g["group"] == "African-American")
    assert card.section("quantitative_analyses")["race"]["African-American"]["fpr"] == black["fpr"]
    assert card.section("model_details")["artefact_hash"] == ctx.store.scalar(
        "SELECT artefact_hash FROM risk_models WHERE model_id = ?", [fit.model_id])
    # a model from elsewhere may register with figures given by hand; its card says whose they are
    other = gs.register_model(ctx, name="External", version="1", params={}, actor=people.analyst,
                              evaluation={"metrics": {"auc": 0.7}, "data": "their own test set"})
    assert other.section("evaluation_data") == {
        "description": "their own test set",
        "figures": "supplied by ana at registration; not measured by crimelens"}

    # deploy it for pretrial review, with every score actionable
    gs.describe_model(ctx, name=fit.kind, version=fit.model_id, sections=CARD_TEXT, actor=people.analyst)
    gs.create_deployment(ctx, name="pre", model=fit.kind, model_version=fit.model_id,
                         description="Pretrial release review", actor=people.analyst,
                         policy=UsePolicy(allowed_purposes=("pretrial",), min_comment_days=30,
                                          actionable_actions=("risk.score",)))
    gs.assess_impact(ctx, deployment="pre", answers=LOW_RISK, actor=people.analyst)
    gs.open_public_comment(ctx, deployment="pre", actor=people.sup1)
    clock.advance(days=31)
    gs.start_board_review(ctx, deployment="pre", actor=people.sup1)
    for member in people.board:
        gs.vote(ctx, deployment="pre", choice="approve", actor=member, reason="policy is adequate")
    gs.close_review(ctx, deployment="pre", actor=people.board[0])
    gs.activate(ctx, deployment="pre", actor=people.admin)

    out = tmp_path / "scores.csv"
    run = score_people(ctx, model_id=fit.model_id, data=data, actor=people.analyst, purpose="pretrial",
                       deployment="pre", out=out, id_column="id")
    written = pd.read_csv(out)
    assert run.mark == PENDING_REVIEW_MARK and set(written["mark"]) == {PENDING_REVIEW_MARK}
    assert run.review_item == f"r{run.ledger_seq}"
    assert ctx.ledger.entry(run.ledger_seq).artefact_hash == card.section("model_details")["artefact_hash"]
    queue = gs.review_queue(ctx, actor=people.sup1)
    assert [i["item_id"] for i in queue] == [run.review_item]
    # the COMPAS analysis filters leave people unscored: said, and each scored row names its line
    assert (run.n_read, len(written)) == (7214, 6172) and "6,172 kept" in str(run.rows_note)
    raw = pd.read_csv(data, usecols=["id"])
    assert (raw["id"].to_numpy()[written["line"].to_numpy() - 2] == written["id"].to_numpy()).all()
