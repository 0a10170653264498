"""Fixtures: one synthetic city built per session, copied per module, served in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from tests.api.city import City, build_city, copy_city
from tests.conftest import shared

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


@pytest.fixture(scope="session")
def city_template(tmp_path_factory: pytest.TempPathFactory) -> City:
    return build_city(tmp_path_factory.mktemp("city"), audit_data=shared(COMPAS))


@pytest.fixture(scope="module")
def city(city_template: City, tmp_path_factory: pytest.TempPathFactory) -> City:
    return copy_city(city_template, tmp_path_factory.mktemp("copy"))


@pytest.fixture(scope="module")
def app(city: City) -> Iterator[FastAPI]:
    # test_auth_table sends a bad token to every route: more, in time, than one address's failed
    # sign-in budget (60 a minute); the limits have their own tests (test_limits.py)
    web = create_app(Settings(db=city.db, failed_auth_per_minute=0))
    yield web
    web.state.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def auth(city: City, user: str, purpose: str = "research", deployment: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {city.tokens[user]}", "X-Purpose": purpose}
    if deployment:
        h["X-Deployment"] = deployment
    return h


def store_with_users(db: Path, users: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """A new store at ``db`` with the administrator ``adm`` and ``users`` (name, role): their tokens."""
    adm = Actor("adm", Role.ADMIN)
    with open_context(Settings(db=db)) as ctx:
        tokens = {"adm": gs.add_user(ctx, name="adm", role="admin", actor=adm)[1]}
        for name, role in users:
            tokens[name] = gs.add_user(ctx, name=name, role=role, actor=adm)[1]
    return tokens
