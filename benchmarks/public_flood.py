"""A flood of calls without an account, with the per-address rate limit off and on.

The question a service owner asks: when one address files complaints as fast as the server
takes them, do the analysts still get their answers, and how much lands in the ledger? Builds
the API tests' synthetic city, then for each setting (alternating, ``--rounds`` each) starts
``crimelens serve`` and runs two things at once for ``--seconds``:

* the flood: ``--flood-clients`` asyncio clients on 127.0.0.1 posting complaints without a
  token, each as soon as the previous one is answered (one keep-alive connection each);
* the staff: ``--staff-clients`` analysts with tokens, each waiting a random 0.5–1.5 s between
  requests, alternating the forecast layer and similar incidents (as ``benchmarks/api.py``).

"off" is ``CRIMELENS_PUBLIC_WRITES_PER_HOUR=0`` (no limit, the behaviour before the limit); "on"
is the shipped default (30 an hour per address). After each round the server stops and the
ledger entries and complaints it added are counted in the store. A third setting, "none", runs the
staff alone (no flood): the baseline their latency is compared with. The flooding clients run
in this process, on the same cores as the server, so their own CPU (``cpu_seconds_self``)
weighs on the staff's latency too; a real flood comes from elsewhere. Prints and writes
``benchmarks/results/public_flood.json``.

Usage: ``python benchmarks/public_flood.py [--seconds 20] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.api.city import DEPLOYMENT, build_city  # noqa: E402

from api import _stats, start_server  # noqa: E402  (the load benchmark's helpers)


def _counts(db: Path) -> tuple[int, int]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        entries = con.execute("SELECT count(*) FROM ledger").fetchone()
        complaints = con.execute("SELECT count(*) FROM complaints").fetchone()
    assert entries is not None and complaints is not None
    return int(entries[0]), int(complaints[0])


async def _round(base: str, token: str, run_id: str, incidents: list[str], *, seconds: float,
                 flood_clients: int, staff_clients: int, seed: int) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    staff_lat: list[float] = []
    staff_errors: list[str] = []
    flood: dict[int, list[float]] = {}
    rng = random.Random(seed)
    auth = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}

    async def flooder(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=httpx.Limits(max_connections=1)) as c:
            i = 0
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await c.post("/api/complaints", json={"body": f"flood {n}-{i}", "deployment": DEPLOYMENT,
                                                          "name": f"flood{n}"})
                flood.setdefault(r.status_code, []).append(time.perf_counter() - t0)
                i += 1

    async def analyst(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=httpx.Limits(max_connections=1)) as c:
            i = 0
            while True:
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                if time.perf_counter() >= stop:
                    return
                path = (f"/api/forecasts/{run_id}/cells" if (i + n) % 2 == 0 else
                        f"/api/incidents/{incidents[(n * 97 + i) % len(incidents)]}/similar?dataset=synth&k=10")
                t0 = time.perf_counter()
                r = await c.get(path, headers=auth)
                if r.status_code == 200:
                    staff_lat.append(time.perf_counter() - t0)
                else:
                    staff_errors.append(f"{r.status_code} {r.text[:120]}")
                i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(flooder(n) for n in range(flood_clients)), *(analyst(n) for n in range(staff_clients)))
    wall = time.perf_counter() - t0
    return {
        "seconds": round(wall, 1),
        "staff": {**_stats(staff_lat, wall), "n_errors": len(staff_errors), "errors": staff_errors[:3]},
        "flood": {str(code): _stats(lat, wall) for code, lat in sorted(flood.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--flood-clients", type=int, default=50)
    ap.add_argument("--staff-clients", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "public_flood.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crimelens-bench-flood-"))
    city = build_city(work)
    import duckdb

    with duckdb.connect(str(city.db), read_only=True) as con:
        incidents = [str(r[0]) for r in con.execute(
            "SELECT incident_id FROM incidents WHERE dataset = 'synth' ORDER BY hash(incident_id) LIMIT 200").fetchall()]
    result: dict[str, Any] = {"seconds": args.seconds, "flood_clients": args.flood_clients,
                              "staff_clients": args.staff_clients, "uptime": os.popen("uptime").read().strip(),
                              "cpus": os.cpu_count(), "rounds": []}
    c_start = os.times()
    for r in range(args.rounds):
        for setting, env in (("none", {}), ("off", {"CRIMELENS_PUBLIC_WRITES_PER_HOUR": "0"}), ("on", {})):
            before = _counts(city.db)
            server, base = start_server(city.db, env)
            try:
                # warm the forecast layer and the similar cache as api.py does
                httpx.get(f"{base}/api/forecasts/{city.forecast_run}/cells",
                          headers={"Authorization": f"Bearer {city.tokens['ana']}", "X-Purpose": "warm-up"},
                          timeout=60)
                httpx.get(f"{base}/api/incidents/{incidents[0]}/similar?dataset=synth&k=10",
                          headers={"Authorization": f"Bearer {city.tokens['ana']}", "X-Purpose": "warm-up"},
                          timeout=60)
                res = asyncio.run(_round(base, city.tokens["ana"], city.forecast_run, incidents,
                                         seconds=args.seconds,
                                         flood_clients=0 if setting == "none" else args.flood_clients,
                                         staff_clients=args.staff_clients, seed=r))
            finally:
                server.terminate()
                server.wait(timeout=60)
            after = _counts(city.db)
            res.update(setting=setting, round=r, ledger_entries_added=after[0] - before[0],
                       complaints_added=after[1] - before[1])
            result["rounds"].append(res)
            print(setting, r, json.dumps({k: res[k] for k in ("staff", "flood", "ledger_entries_added",
                                                                "complaints_added")}), flush=True)
    c_end = os.times()
    summary: dict[str, Any] = {}
    for setting in ("none", "off", "on"):
        rows = [x for x in result["rounds"] if x["setting"] == setting]
        summary[setting] = {
            "staff_p50_ms_median": statistics.median(x["staff"]["p50_ms"] for x in rows),
            "staff_p99_ms_median": statistics.median(x["staff"]["p99_ms"] for x in rows),
            "staff_requests_median": statistics.median(x["staff"]["n"] for x in rows),
            "complaints_added_median": statistics.median(x["complaints_added"] for x in rows),
            "ledger_entries_added_median": statistics.median(x["ledger_entries_added"] for x in rows),
            "flood_refused_median": statistics.median(x["flood"].get("429", {"n": 0})["n"] for x in rows),
        }
    on, off = summary["on"], summary["off"]
    summary["ratio_on_to_off"] = {k: round(on[k] / off[k], 3) if off[k] else None for k in on}
    none = summary["none"]
    summary["staff_p50_ratio_to_no_flood"] = {s: round(summary[s]["staff_p50_ms_median"] / none["staff_p50_ms_median"], 2)
                                              for s in ("off", "on")}
    summary["staff_p99_ratio_to_no_flood"] = {s: round(summary[s]["staff_p99_ms_median"] / none["staff_p99_ms_median"], 2)
                                              for s in ("off", "on")}
    result["summary"] = summary
    result["cpu_seconds_children"] = round((c_end.children_user + c_end.children_system)
                                           - (c_start.children_user + c_start.children_system), 1)
    result["cpu_seconds_self"] = round((c_end.user + c_end.system) - (c_start.user + c_start.system), 1)
    result["uptime_after"] = os.popen("uptime").read().strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
