"""Property-based calls against the app's own /openapi.json (schemathesis, in-process ASGI): no 500s,
and every error has the one JSON shape.

Cheap operations are generated as an analyst (deep into the services); the expensive model runs
(training a linker, building series, simulations, near-repeat permutations) are generated as an
auditor, whose calls the governance gate refuses before any work, so their parameters are still
fuzzed through validation and authorisation without minutes of model fitting per example.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from tests.api.city import City
from tests.api.conftest import auth

pytestmark = pytest.mark.slow

EXPENSIVE = {("POST", "/api/linkers"), ("POST", "/api/series-runs"), ("POST", "/api/feedback/simulations"),
             ("POST", "/api/incidents/{incident_id}/nearrepeat"), ("POST", "/api/forecasts"),
             ("POST", "/api/nearrepeat/runs"), ("POST", "/api/backtests"),
             ("POST", "/api/link-pairs"), ("POST", "/api/feedback/exposure")}


def test_no_500_and_one_error_shape(app: FastAPI, city: City) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    seen: set[tuple[str, str]] = set()
    for operation in operations:
        _fuzz(operation, city, seen)
    assert len(seen) == len(operations)


def _fuzz(operation: Any, city: City, seen: set[tuple[str, str]]) -> None:
    key = (operation.method.upper(), operation.path)
    headers = auth(city, "aud" if key in EXPENSIVE else "ana", "research")

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, (key, response.status_code, response.text[:500])
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"ok", "error", "type", "status"} and body["ok"] is False
            assert body["status"] == response.status_code
        seen.add(key)

    check()
