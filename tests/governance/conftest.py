"""Fixtures for governance tests: a real store, a clock we move by hand, registered people."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, open_context


@dataclass
class Clock:
    """A clock for tests (the one thing we fake: time is not ours)."""

    t: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t = self.t + timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _fast_root() -> Path | None:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder for a real store file; on tmpfs when the machine has one (fsync is then free, and
    these tests check behaviour, not durability: that is benchmarks/ledger.py's job)."""
    root = _fast_root()
    if root is None:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="crimelens-gov-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class People:
    admin: Actor
    analyst: Actor
    sup1: Actor
    sup2: Actor
    board: tuple[Actor, Actor, Actor]
    auditor: Actor
    public: Actor
    tokens: dict[str, str]


_STAFF = [("ana", "analyst"), ("sam", "supervisor"), ("sue", "supervisor"), ("bea", "board"),
          ("bob", "board"), ("bo", "board"), ("aud", "auditor")]


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One migrated store with the staff registered, copied for each test (setup in milliseconds)."""
    root = _fast_root()
    folder = Path(tempfile.mkdtemp(prefix="crimelens-tpl-", dir=root)) if root else tmp_path_factory.mktemp("tpl")
    admin = Actor("ada", Role.ADMIN)
    with open_context(Settings(db=folder / "gov.duckdb"), clock=Clock()) as c:
        tokens = {"ada": gs.add_user(c, name="ada", role="admin", actor=admin)[1]}
        for name, role in _STAFF:
            tokens[name] = gs.add_user(c, name=name, role=role, actor=admin)[1]
    yield folder, tokens
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ctx(fast_dir: Path, clock: Clock) -> Iterator[Context]:
    """An empty, migrated store (only the migrations run)."""
    settings = Settings(db=fast_dir / "gov.duckdb")
    with open_context(settings, clock=clock) as c:
        yield c


@pytest.fixture
def people(ctx: Context, _template: tuple[Path, dict[str, str]]) -> People:
    """Registered staff: the template store's users and ledger replace this test's empty store."""
    folder, tokens = _template
    store = ctx.store
    store.execute(f"ATTACH '{folder / 'gov.duckdb'}' AS tpl (READ_ONLY)")
    try:
        for table in ("users", "ledger_keys", "ledger_heads", "ledger_tip"):
            store.execute(f"INSERT INTO {table} SELECT * FROM tpl.{table}")
        store.execute("INSERT INTO ledger (seq, payload, leaf_hash) SELECT seq, payload, leaf_hash FROM tpl.ledger")
    finally:
        store.execute("DETACH tpl")
    shutil.copytree(folder / "gov.duckdb.keys", Path(str(store.path) + ".keys"), dirs_exist_ok=True)
    ctx.ledger._key = None  # load the template's key, which signed the heads just copied
    made = {name: Actor(name, Role(role)) for name, role in _STAFF}
    return People(Actor("ada", Role.ADMIN), made["ana"], made["sam"], made["sue"],
                  (made["bea"], made["bob"], made["bo"]), made["aud"], Actor("public:jo", Role.PUBLIC), tokens)


LOW_RISK = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
HIGH_RISK = {q.qid: max(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
CARD_TEXT = {
    "intended_use": "Weekly patrol planning: where recorded burglary concentrates next week.",
    "factors": "Area deprivation and majority group of each area (audit only, never features).",
    "ethical_considerations": "Recorded crime follows police attention; see the exposure audit.",
    "caveats": "Not for decisions about individuals. Re-fit monthly.",
}
EVALUATION = {
    "metrics": {"hit_rate_5pct": 0.31, "pai_5pct": 6.2},
    "data": "rolling-origin backtest, 2019, 52 weekly origins",
    "groups": {"area_majority": {"A": {"hit_rate_5pct": 0.33, "n": 1200}, "B": {"hit_rate_5pct": 0.28, "n": 410}}},
}


def register(ctx: Context, people: People, *, version: str = "1.0", text: bool = True) -> None:
    gs.register_model(ctx, name="KDEHotspot", version=version, params={"bandwidth_m": 250.0},
                      evaluation=EVALUATION, actor=people.analyst, training_dataset="sf_robbery",
                      training_data_hash="ab" * 32, code_version="0.1.0", artefact_hash="cd" * 32,
                      card_text=CARD_TEXT if text else None)


def propose(ctx: Context, people: People, name: str = "hotspots", *, policy: UsePolicy | None = None,
            answers: dict[str, str] | None = None) -> None:
    register(ctx, people)
    gs.create_deployment(ctx, name=name, model="KDEHotspot", model_version="1.0",
                         description="Next-week burglary hotspots for patrol planning",
                         policy=policy or UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=30,
                                                    actionable_actions=("forecast.run",)),
                         actor=people.analyst)
    gs.assess_impact(ctx, deployment=name, answers=answers or LOW_RISK, actor=people.analyst)


def to_review(ctx: Context, people: People, clock: Clock, name: str = "hotspots", **kw: object) -> None:
    propose(ctx, people, name, **kw)  # type: ignore[arg-type]
    gs.open_public_comment(ctx, deployment=name, actor=people.sup1)
    clock.advance(days=31)
    gs.start_board_review(ctx, deployment=name, actor=people.sup1)


def to_active(ctx: Context, people: People, clock: Clock, name: str = "hotspots", **kw: object) -> None:
    to_review(ctx, people, clock, name, **kw)
    for member in people.board:
        gs.vote(ctx, deployment=name, choice="approve", actor=member, reason="policy is adequate")
    gs.close_review(ctx, deployment=name, actor=people.board[0])
    gs.activate(ctx, deployment=name, actor=people.admin)
