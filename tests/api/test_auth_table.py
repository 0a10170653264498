"""Every API route refuses an unauthenticated call (401) and a role without permission (403); the few
routes open to the public without an account (``PUBLIC``) refuse a bad token but let a tokenless call in
as a member of the public, which the policy must allow.

The table names, per route, the action the governance gate checks and a role that lacks it, or
``None`` where the policy (``GOVERNANCE_PERMISSIONS`` / ``role_allows``) lets every registered role
in; for those the test checks that claim against the policy itself. A route missing from the table
fails the test, so a new route cannot skip this.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.governance import Role
from crimelens.governance._policy import role_allows
from tests.api.city import City
from tests.api.conftest import auth

AT = "2024-04-01T00:00:00Z"
#: (method, path, json body or None, action checked, a registered role refused or None)
TABLE: list[tuple[str, str, dict[str, Any] | None, str, str | None]] = [
    ("GET", "/api/me", None, "users.authenticate", None),
    ("GET", "/api/datasets", None, "data.status", None),
    ("GET", "/api/areas?dataset=synth", None, "data.view", None),
    ("GET", "/api/incidents", None, "data.list", None),
    ("GET", "/api/incidents/X1/similar?dataset=synth", None, "link.similar", "aud"),
    ("POST", "/api/incidents/X1/nearrepeat", {}, "nearrepeat.alert", "aud"),
    ("POST", "/api/nearrepeat/runs", {"dataset": "synth"}, "nearrepeat.knox", "bea"),
    ("GET", "/api/nearrepeat/runs", None, "nearrepeat.list", None),
    ("GET", "/api/nearrepeat/runs/R1", None, "nearrepeat.view", None),
    ("GET", "/api/nearrepeat/runs/R1/export", None, "nearrepeat.export", None),
    ("POST", "/api/forecasts", {"at": AT, "dataset": "synth"}, "forecast.run", "bea"),
    ("GET", "/api/forecasts", None, "forecast.list", None),
    ("GET", "/api/forecasts/R1/cells", None, "forecast.view", None),
    ("GET", "/api/forecasts/R1/evaluation", None, "forecast.view", None),
    ("GET", "/api/forecasts/R1/export", None, "forecast.export", None),
    ("POST", "/api/backtests", {"models": ["naive"], "start": AT, "periods": 1}, "forecast.backtest", "aud"),
    ("GET", "/api/backtests", None, "backtests.list", None),
    ("GET", "/api/backtests/B1", None, "backtests.view", None),
    ("GET", "/api/backtests/B1/export", None, "backtests.export", None),
    ("POST", "/api/linkers", {"dataset": "synth"}, "link.train", "aud"),
    ("POST", "/api/series-runs", {"dataset": "synth"}, "link.series", "bea"),
    ("POST", "/api/link-pairs", {"dataset": "synth"}, "link.pairs", "bea"),
    ("GET", "/api/link-pairs", None, "link.list", None),
    ("GET", "/api/link-pairs/P1", None, "link.view", None),
    ("GET", "/api/link-pairs/P1/csv", None, "link.export", None),
    ("POST", "/api/series-labels", {"dataset": "synth", "incident_ids": ["X1"], "series": "S"}, "link.label", "aud"),
    ("GET", "/api/series-runs", None, "link.list", None),
    ("GET", "/api/series-runs/R1", None, "link.list", None),
    ("GET", "/api/series-runs/R1/series/S1", None, "link.view", None),
    ("GET", "/api/series-runs/R1/export", None, "link.export", None),
    ("GET", "/api/risk/models", None, "risk.list", None),
    ("GET", "/api/risk/models/M1/card", None, "risk.card", None),
    ("POST", "/api/risk/models?filename=t.csv&label=y", None, "risk.fit", "aud"),
    ("GET", "/api/audits", None, "audit.list", None),
    ("POST", "/api/audits?filename=t.csv&label=y&group=g", None, "audit.fairness", None),
    ("GET", "/api/audits/A1", None, "audit.view", None),
    ("GET", "/api/audits/A1/export", None, "audit.export", None),
    ("GET", "/api/risk/models/M1/card/export", None, "risk.export", None),
    ("POST", "/api/feedback/simulations", {"n_runs": 1, "days": 10}, "feedback.simulate", "aud"),
    ("GET", "/api/feedback/runs", None, "feedback.list", None),
    ("POST", "/api/feedback/exposure", {"dataset": "synth"}, "feedback.exposure", "aud"),
    ("GET", "/api/deployments", None, "deployments.list", None),
    ("GET", "/api/deployments/D1", None, "deployments.show", None),
    ("POST", "/api/deployments/D1/suspend", {"reason": "test"}, "deployments.suspend", "ana"),
    ("POST", "/api/deployments", {"name": "D9", "model": "M", "model_version": "1", "description": "d",
                                  "policy": {"allowed_purposes": ["x"]}}, "deployments.create", "bea"),
    ("PUT", "/api/deployments/D1/assessment", {"answers": {}}, "deployments.assess", "aud"),
    ("GET", "/api/deployments-questionnaire", None, "deployments.list", None),
    ("POST", "/api/deployments/D1/comments", {"body": "x"}, "deployments.comment", None),
    ("POST", "/api/deployments/D1/board-comments", {"body": "x"}, "deployments.board_comment", "ana"),
    ("POST", "/api/deployments/D1/votes", {"vote": "approve", "reason": "test vote"}, "deployments.vote", "ada"),
    ("POST", "/api/deployments/D1/transitions/activate", {}, "deployments.activate", "bea"),
    ("POST", "/api/retention/purge", {"dry_run": True}, "deployments.purge", "ana"),
    ("POST", "/api/store/backup", {"folder": "/nonexistent/x"}, "store.backup", "ana"),
    ("POST", "/api/killswitch", {"engaged": True, "reason": "x"}, "killswitch.engage", "ana"),
    ("POST", "/api/incident-reports", {"kind": "error", "severity": "low", "description": "x"},
     "incidents.report", None),
    ("POST", "/api/complaints", {"body": "x"}, "complaints.file", None),
    ("GET", "/api/complaints", None, "complaints.list", None),
    ("GET", "/api/complaints/C1", None, "complaints.status", None),
    ("POST", "/api/complaints/C1/response", {"response": "x"}, "complaints.respond", "ana"),
    ("GET", "/api/review", None, "review.list", None),
    ("POST", "/api/review/r1/decision", {"decision": "accept", "reason": "ok"}, "review.decide", "ana"),
    ("GET", "/api/ledger/entries", None, "ledger.list", None),
    ("POST", "/api/ledger/verify", None, "ledger.verify", None),
    ("GET", "/api/ledger/head", None, "ledger.head", None),
    ("GET", "/api/ledger/proof/0", None, "ledger.proof", None),
    ("GET", "/api/ledger/consistency?from=1", None, "ledger.proof", None),
    ("GET", "/api/limits", None, "limits.view", "ana"),
    ("GET", "/api/evidence/cases", None, "evidence.list", None),
    ("GET", "/api/evidence/cases/C1", None, "evidence.show", None),
    ("POST", "/api/evidence/cases/C1/items?source=x&filename=f", None, "evidence.add", "aud"),
    ("POST", "/api/evidence/cases/C1/verify", None, "evidence.verify", None),
    ("GET", "/api/evidence/items/EV1", None, "evidence.show", None),
    ("GET", "/api/evidence/items/EV1/content", None, "evidence.download", "aud"),
    ("POST", "/api/evidence/items/EV1/custody", {"to": "x"}, "evidence.transfer", "bea"),
    ("POST", "/api/evidence/items/EV1/redactions", {}, "redact.text", "aud"),
    ("GET", "/api/redactions/RR1/units/U1/frame", None, "redact.inspect", "aud"),
    ("GET", "/api/redactions", None, "redact.list", None),
    ("GET", "/api/redactions/RR1", None, "redact.show", None),
    ("GET", "/api/redactions/RR1/units/U1", None, "redact.inspect", "aud"),
    ("POST", "/api/redactions/RR1/units/U1/decision", {"status": "confirmed"}, "redact.review", "bea"),
    ("POST", "/api/redactions/RR1/release", None, "redact.release", "aud"),
    ("GET", "/api/users", None, "users.list", "ana"),
    ("POST", "/api/users", {"name": "zed", "role": "analyst"}, "users.add", "sam"),
    ("POST", "/api/users/U1/disable", None, "users.disable", "aud"),
    ("POST", "/api/users/U1/token", None, "users.rotate_token", "bea"),
    ("POST", "/api/datasets/D1/files?filename=f.csv", None, "ingest.file", "bea"),
    ("GET", "/api/quarantine", None, "quarantine.list", None),
    ("PUT", "/api/mappings/M1", None, "ingest.mapping", "aud"),
    ("GET", "/api/mappings", None, "ingest.list", None),
    ("POST", "/api/datasets/D1/areas?filename=a.geojson", None, "areas.load", "aud"),
    ("GET", "/api/mappings/M1", None, "ingest.show", None),
    ("GET", "/api/models", None, "models.list", None),
    ("GET", "/api/models/M1/card", None, "models.card", None),
    ("GET", "/api/reports/annual/2024", None, "report.annual", None),
]
#: Routes a member of the public may call without an account (api._deps.get_public_caller).
PUBLIC = {("GET", "/api/deployments"), ("GET", "/api/deployments/D1"), ("POST", "/api/deployments/D1/comments"),
          ("POST", "/api/complaints"), ("GET", "/api/ledger/head"), ("GET", "/api/ledger/proof/0"),
          ("GET", "/api/ledger/consistency?from=1"),
          ("GET", "/api/reports/annual/2024"), ("GET", "/api/models/M1/card"), ("GET", "/api/complaints/C1")}
ROLES = {"ada": Role.ADMIN, "ana": Role.ANALYST, "sam": Role.SUPERVISOR, "bea": Role.BOARD, "aud": Role.AUDITOR}


def _call(client: TestClient, method: str, path: str, body: dict[str, Any] | None,
          headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


def test_the_table_covers_every_api_route(app: FastAPI) -> None:
    routes = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert routes and all(p.startswith("/api/") for _, p in routes)
    templated = set()
    for method, path, *_ in TABLE:
        match = [(m, p) for m, p in routes if m == method and _fits(p, path.split("?")[0])]
        assert len(match) == 1, (method, path, match)
        templated |= set(match)
    assert templated == routes


def _fits(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("method", "path", "body", "action", "refused"), TABLE,
                         ids=[f"{m} {p}" for m, p, *_ in TABLE])
def test_unauthenticated_401_and_role_403(client: TestClient, city: City, method: str, path: str,
                                          body: dict[str, Any] | None, action: str, refused: str | None) -> None:
    public = (method, path) in PUBLIC
    for headers in ({}, {"X-Purpose": "research"}, {"Authorization": "Bearer clk_0.x", "X-Purpose": "research"},
                    {"Authorization": "Basic YWRhOnB3", "X-Purpose": "research"}):
        r = _call(client, method, path, body, headers)
        if public and not headers.get("Authorization", "").startswith("Bearer"):
            # no bearer token: a member of the public, let in as far as the policy's "public" role goes
            assert r.status_code != 401 and role_allows(Role.PUBLIC, action), (headers, r.status_code, r.text)
            continue
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.json()["type"] == "NotAuthenticatedError" and r.headers["www-authenticate"].startswith("Bearer")
    if refused is None:
        # open to every registered role by policy: check the claim against the policy itself
        assert all(role_allows(role, action) for role in ROLES.values()), action
        return
    assert not role_allows(ROLES[refused], action)
    r = _call(client, method, path, body, auth(city, refused))
    assert r.status_code == 403, (refused, r.status_code, r.text)
    assert r.json()["type"] == "PermissionDeniedError" and f"may not perform '{action}'" in r.json()["error"]
