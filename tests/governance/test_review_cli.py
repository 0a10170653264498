"""`crimelens review decide` and `review list` say what a decision still needs, not a count over a count."""

from __future__ import annotations

import json

import pytest

from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, record_use
from tests.cli.test_ingest_cli import run
from tests.governance.conftest import Clock, People, to_active


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, _err = run(capsys, *args)
    return code, " ".join(out.split())


def test_disagreeing_supervisors_are_told_what_the_two_person_rule_needs(
        ctx: Context, people: People, clock: Clock, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    policy = UsePolicy(allowed_purposes=("patrol planning",), actionable_actions=("forecast.run",), two_person_rule=True)
    to_active(ctx, people, clock, policy=policy)
    gs.add_user(ctx, name="sid", role="supervisor", actor=people.admin)
    item = f"r{record_use(ctx, action='forecast.run', actor=people.analyst, purpose='patrol planning', deployment='hotspots')}"
    db = ["--db", str(ctx.store.path)]

    code, out = _cli(capsys, "review", "decide", item, "accept", "--reason", "matches last week", "--as", "sam", *db)
    assert code == 0 and out == f"{item}: pending: 1 accept; final when 2 supervisors make the same decision"
    code, out = _cli(capsys, "review", "decide", item, "reject", "--reason", "stale data", "--as", "sue", *db)
    assert code == 0 and out == f"{item}: pending: 1 accept, 1 reject; final when 2 supervisors make the same decision"
    code, out = _cli(capsys, "review", "decide", item, "reject", "--reason", "agree: stale", "--as", "sid", *db,
                     "--json")
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "rejected"
    assert answer["decisions"] == {"accept": 1, "reject": 2}
    assert (answer["decisions_made"], answer["decisions_needed"]) == (3, 2)  # the JSON keeps its fields
    code, out = _cli(capsys, "review", "list", "--status", "all", "--as", "aud", *db)
    assert code == 0 and "1 accept, 2 reject" in out and "/2 decisions" not in out


def test_one_supervisor_decides_when_there_is_no_two_person_rule(
        ctx: Context, people: People, clock: Clock, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    to_active(ctx, people, clock)
    item = f"r{record_use(ctx, action='forecast.run', actor=people.analyst, purpose='patrol planning', deployment='hotspots')}"
    code, out = _cli(capsys, "review", "decide", item, "override", "--reason", "stadium event",
                     "--replacement", '{"drop_cells": [12]}', "--as", "sam", "--db", str(ctx.store.path))
    assert code == 0 and out == f"{item}: overridden: 1 override; final: one supervisor decides"
