"""A small synthetic city in a real store, with people, a forecast, a linker, series, an active
deployment with a pending review item and a stored group audit: what the API and the pages serve.

Built once per session with the services themselves (no fakes), then copied per test module.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crimelens import __version__
from crimelens.cli import app as cli_app
from crimelens.config import Settings
from crimelens.forecast import DEFAULT_MODEL, make_model
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import forecasts as fc
from crimelens.services import governance as gs
from crimelens.services import linkage as lk
from crimelens.services._context import open_context

STAFF = [("ana", "analyst"), ("sam", "supervisor"), ("bea", "board"), ("aud", "auditor")]
DEPLOYMENT = "weekly-hotspots"
PURPOSE = "patrol planning"


@dataclass
class Clock:
    """A clock the test moves by hand (time is not ours to depend on)."""

    t: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=2))

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t = self.t + timedelta(**kw)


@dataclass(frozen=True)
class City:
    db: Path
    tokens: dict[str, str]
    forecast_run: str
    series_run: str
    series_id: str
    incident_id: str
    review_item: str | None
    audit_report: str | None
    at: str
    extra: dict[str, Any]


def build_city(folder: Path, *, audit_data: Path | None = None) -> City:
    """Synthesize a small city into ``folder/city.duckdb`` and run the jobs the pages show."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "city.duckdb"
    res = CliRunner().invoke(cli_app, ["synth", "--out", str(folder / "synth"), "--seed", "7", "--days", "120",
                                       "--scale", "0.3", "--n-series", "12", "--db", str(db),
                                       "--json"])
    assert res.exit_code == 0, res.output
    clock = Clock()
    admin = Actor("ada", Role.ADMIN)
    with open_context(Settings(db=db), clock=clock) as ctx:
        tokens = {"ada": gs.add_user(ctx, name="ada", role="admin", actor=admin)[1]}
        for name, role in STAFF:
            tokens[name] = gs.add_user(ctx, name=name, role=role, actor=admin)[1]
        for name in ("bob", "bo"):
            tokens[name] = gs.add_user(ctx, name=name, role="board", actor=admin)[1]
        ana, sam = Actor("ana", Role.ANALYST), Actor("sam", Role.SUPERVISOR)
        at = "2024-04-01T00:00:00+00:00"
        run = fc.run_forecast(ctx, offense=None, at=at, actor=ana, dataset="synth")
        tr = lk.train_linker(ctx, dataset="synth", actor=ana, cutoff="2024-03-15")
        sr = lk.build_series(ctx, dataset="synth", actor=ana)
        series = sorted(sr.series, key=lambda s: (-int(s["n_members"]), str(s["series_id"])))[0]
        # an active deployment of the forecasting model whose runs wait for human review
        model_name = type(make_model(DEFAULT_MODEL)).__name__
        gs.register_model(ctx, name=model_name, version=__version__, params={}, actor=ana,
                          evaluation={"metrics": {"hit_rate_5pct": 0.3}, "data": "synthetic city backtest",
                                      "groups": {}},
                          training_dataset="synth", card_text={
                              "intended_use": "Weekly patrol planning in the synthetic city (demonstration).",
                              "factors": "Area group composition (audit only).",
                              "ethical_considerations": "Recorded incidents follow patrol; see the feedback page.",
                              "caveats": "Synthetic data; not for decisions about people."})
        policy = UsePolicy(allowed_purposes=(PURPOSE,), min_comment_days=0, board_quorum=3,
                           actionable_actions=("forecast.run",))
        gs.create_deployment(ctx, name=DEPLOYMENT, model=model_name, model_version=__version__,
                             description="Next-week hotspots for patrol planning", policy=policy, actor=ana)
        low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
        gs.assess_impact(ctx, deployment=DEPLOYMENT, answers=low, actor=ana)
        gs.open_public_comment(ctx, deployment=DEPLOYMENT, actor=sam)
        clock.advance(days=14)  # the comment period's floor, whatever the policy says
        gs.start_board_review(ctx, deployment=DEPLOYMENT, actor=sam)
        for member in ("bea", "bob", "bo"):
            gs.vote(ctx, deployment=DEPLOYMENT, choice="approve", actor=Actor(member, Role.BOARD),
                    reason="controls adequate")
        gs.close_review(ctx, deployment=DEPLOYMENT, actor=Actor("bea", Role.BOARD))
        gs.activate(ctx, deployment=DEPLOYMENT, actor=admin)
        op = fc.run_forecast(ctx, offense=None, at=at, actor=ana, dataset="synth", purpose=PURPOSE,
                             deployment=DEPLOYMENT)
        items = gs.review_queue(ctx, actor=sam, purpose="human review")
        item = next((i["item_id"] for i in items if int(i["source_seq"]) == op.ledger_seq), None)
        report_id = None
        if audit_data is not None:
            from crimelens.services.risk import audit_table

            rep = audit_table(ctx, data=audit_data, label="two_year_recid", groups=["race"], actor=ana,
                              score="decile_score", threshold=5, n_boot=100, intersections=False)
            report_id = rep.report_id if hasattr(rep, "report_id") else None
            if report_id is None:
                report_id = str(ctx.store.scalar("SELECT report_id FROM audit_reports LIMIT 1"))
    return City(db=db, tokens=tokens, forecast_run=run.run_id, series_run=sr.run_id,
                series_id=str(series["series_id"]), incident_id=str(series["members"][0]), review_item=item,
                audit_report=report_id, at=at, extra={"linker_id": tr.linker_id, "op_run": op.run_id})


def copy_city(city: City, folder: Path) -> City:
    """A private copy of the store (and its signing key) for one test module."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "city.duckdb"
    shutil.copy2(city.db, db)
    keys = Path(str(city.db) + ".keys")
    if keys.exists():
        shutil.copytree(keys, Path(str(db) + ".keys"), dirs_exist_ok=True)
    return City(**{**city.__dict__, "db": db})
