"""API load benchmark: 50 concurrent clients on loopback against a real uvicorn server.

Builds the small synthetic city the API tests use (seed 7, 120 days, scale 0.3, 12 planted
series; a forecast run and a trained linker), starts ``crimelens serve`` on 127.0.0.1 in a child
process, and runs two bounded phases with 50 asyncio clients, each on its own keep-alive
connection, alternating the forecast layer (``GET /api/forecasts/{run}/cells``) and similar
incidents (``GET /api/incidents/{id}/similar?k=10``):

* ``single_client_sequential``: one client, 20 requests: the service cost of each request alone;
* ``paced_mixed``: each client waits a random 0.5–1.5 s between requests (50 analysts at work,
  ~50 requests/s offered); the figure the p99 < 100 ms target is about;
* ``paced_forecast_layer_only``: the same, forecast layer only;
* ``saturation_mixed``: no waiting (the server's ceiling on this machine, and the queueing at it).

Similar-incident queries go to 200 different incidents (a fixed hash order), so no cache helps.
Two phases call as a member of the public, without a token: ``paced_public_reads`` (a
deployment's record, paced as above) and ``saturation_public_complaints`` (complaints filed
as fast as the server takes them: the ceiling a rate limit has to keep well below). The server
runs with the per-address limit on tokenless calls off (all clients share 127.0.0.1);
``benchmarks/public_flood.py`` measures the limit itself.

Every request authenticates its bearer token and is written to the usage ledger (two ledger
appends per request). Prints and writes ``benchmarks/results/api.json``; stops by itself.

Usage: ``python benchmarks/api.py [--requests-per-client 10] [--clients 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.city import DEPLOYMENT, build_city  # noqa: E402  (the same city as the tests)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``crimelens serve`` on a free loopback port with ``env`` added; returns once it answers."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("crimelens")), "serve", "--db", str(db),
                               "--port", str(port)], cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=2.0)
            return server, base
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("crimelens serve did not start") from None
            time.sleep(0.2)


def uptime() -> str:
    """The machine's load when a figure was taken (kept beside it in the results file)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def latency_ms(values: list[float]) -> dict[str, float]:
    """Median, p90 and max of latencies given in seconds, in milliseconds."""
    a = np.asarray(values) * 1000.0
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p90_ms": round(float(np.percentile(a, 90)), 1), "max_ms": round(float(a.max()), 1)}


def _stats(lat: list[float], seconds: float) -> dict[str, Any]:
    a = np.asarray(lat) * 1000.0
    return {"n": len(a), "seconds": round(seconds, 2), "throughput_rps": round(len(a) / seconds, 1),
            "p50_ms": round(float(np.percentile(a, 50)), 1), "p90_ms": round(float(np.percentile(a, 90)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1), "max_ms": round(float(a.max()), 1)}


async def _phase(base: str, token: str, run_id: str, incidents: list[str], *, clients: int, per_client: int,
                 pace: tuple[float, float] | None, seed: int, kinds: tuple[str, ...]) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: list[str] = []
    rng = random.Random(seed)

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=httpx.Limits(max_connections=1)) as c:
            for i in range(per_client):
                if pace:
                    await asyncio.sleep(rng.uniform(*pace))
                kind = kinds[(i + n) % len(kinds)]
                t0 = time.perf_counter()
                if kind == "public_show":  # a member of the public, no token: a deployment's record
                    r = await c.get(f"/api/deployments/{DEPLOYMENT}")
                elif kind == "public_complaint":  # ... and a complaint (a ledger entry and a row each)
                    r = await c.post("/api/complaints", json={"body": f"benchmark complaint {n}-{i}",
                                                              "deployment": DEPLOYMENT, "name": f"bench{n}"})
                else:
                    path = (f"/api/forecasts/{run_id}/cells" if kind == "forecast_layer" else
                            f"/api/incidents/{incidents[(n * per_client + i) % len(incidents)]}/similar"
                            "?dataset=synth&k=10")
                    r = await c.get(path, headers=auth)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
                else:
                    lat[kind].append(dt)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    seconds = time.perf_counter() - t0
    out = {k: _stats(v, seconds) for k, v in lat.items() if v}
    out["all"] = _stats([x for v in lat.values() for x in v], seconds)
    out["errors"] = errors[:5]
    out["n_errors"] = len(errors)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests-per-client", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "api.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crimelens-bench-api-"))
    t0 = time.perf_counter()
    city = build_city(work)
    print(f"city built in {time.perf_counter() - t0:.1f} s", flush=True)
    import duckdb

    with duckdb.connect(str(city.db), read_only=True) as con:
        incidents = [str(r[0]) for r in con.execute(
            "SELECT incident_id FROM incidents WHERE dataset = 'synth' ORDER BY hash(incident_id) LIMIT 200").fetchall()]
    # the server's own ceiling: no per-address limit (all 50 clients share 127.0.0.1);
    # public_flood.py measures the limit
    server, base = start_server(city.db, {"CRIMELENS_PUBLIC_READS_PER_MINUTE": "0",
                                          "CRIMELENS_PUBLIC_WRITES_PER_HOUR": "0"})
    try:
        token = city.tokens["ana"]
        # warm-up: one of each (the forecast layer is reprojected once, then served from the cache)
        asyncio.run(_phase(base, token, city.forecast_run, incidents, clients=1, per_client=2, pace=None, seed=0,
                           kinds=("forecast_layer", "similar")))
        result: dict[str, Any] = {"clients": args.clients, "requests_per_client": args.requests_per_client,
                                  "uptime": os.popen("uptime").read().strip(), "cpus": os.cpu_count(),
                                  "city": "synth seed 7, 120 days, scale 0.3 (as tests/api/city.py)"}
        both = ("forecast_layer", "similar")
        phases = [("single_client_sequential", 1, 20, None, both),
                  ("paced_mixed", args.clients, args.requests_per_client, (0.5, 1.5), both),
                  ("paced_forecast_layer_only", args.clients, args.requests_per_client, (0.5, 1.5), ("forecast_layer",)),
                  ("saturation_mixed", args.clients, args.requests_per_client, None, both),
                  ("paced_public_reads", args.clients, args.requests_per_client, (0.5, 1.5), ("public_show",)),
                  ("saturation_public_complaints", args.clients, args.requests_per_client, None,
                   ("public_complaint",))]
        for name, n_clients, per, pace, kinds in phases:
            res = asyncio.run(_phase(base, token, city.forecast_run, incidents, clients=n_clients,
                                     per_client=per, pace=pace, seed=1, kinds=kinds))
            result[name] = res
            print(name, json.dumps(res, indent=1), flush=True)
        result["uptime_after"] = os.popen("uptime").read().strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
