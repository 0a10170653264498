"""Redaction through the service beside the direct calls the CLI makes, and what a reviewer waits for.

Input: 1,000 generated police narratives (seed 11, as in ``benchmarks/redaction.py``) as one JSONL
evidence item of a case.

Baseline: ``services.evidence.redact_text_file`` on the item's file with ``case_id`` (what
``crimelens redact text --case`` runs after start-up) and ``release_run`` once every document is
confirmed (``crimelens redact release``). Against it: ``POST /api/evidence/items/{item}/redactions``
and ``POST /api/redactions/{run}/release`` to a real ``crimelens serve`` on loopback. Each round is
a new run over the same item. Rules only (``ner="none"``) and with spaCy (``ner="auto"``).

The review: for every document of one API run, ``GET /api/redactions/{run}/units/{unit}`` (the
original text and its spans) then ``POST …/decision`` (confirm); the latency of each is what a
reviewer waits for between documents.

Run: ``.venv/bin/python benchmarks/redaction_api.py [--n 1000] [--rounds 3]``; writes
``benchmarks/results/redaction_api.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import latency_ms, start_server, uptime  # noqa: E402

from crimelens.config import Settings  # noqa: E402
from crimelens.evidence import TextRedactor, generate_narratives  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.services import evidence as ev  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import open_context  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "redaction_api.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    docs = generate_narratives(args.n, random_state=11)
    result: dict[str, Any] = {"n_narratives": args.n, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="crimelens-redact-") as tmp:
        db, src = Path(tmp) / "bench.duckdb", Path(tmp) / "narratives.jsonl"
        src.write_text("".join(json.dumps({"report_id": d.report_id, "text": d.text}) + "\n" for d in docs),
                       encoding="utf-8")
        admin, ana = Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST)
        direct: dict[str, list[float]] = {"none": [], "auto": []}
        release_direct: list[float] = []
        with open_context(Settings(db=db, progress=False)) as ctx:
            gs.add_user(ctx, name="ada", role="admin", actor=admin)
            token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
            item = ev.add_evidence(ctx, src, case_id="BENCH", actor=ana, source="generated narratives")
            for ner in ("none", "auto"):
                for n in range(args.rounds):
                    t0 = time.perf_counter()
                    run = ev.redact_text_file(ctx, src, Path(tmp) / f"direct-{ner}-{n}.jsonl", actor=ana,
                                              redactor=TextRedactor(ner=ner), case_id="BENCH")  # type: ignore[arg-type]
                    direct[ner].append(time.perf_counter() - t0)
            for q in ev.review_queue(ctx, run.run_id):
                ev.decide_review(ctx, run.run_id, q["unit"], status="confirmed", actor=ana)
            t0 = time.perf_counter()
            ev.release_run(ctx, run.run_id, actor=ana, src=src, dst=Path(tmp) / "release.jsonl")
            release_direct.append(time.perf_counter() - t0)
        server, base = start_server(db, {"CRIMELENS_PROGRESS": "false"})
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
        api: dict[str, list[float]] = {"none": [], "auto": []}
        try:
            with httpx.Client(base_url=base, timeout=900, headers=headers) as c:
                for ner in ("none", "auto"):
                    for _ in range(args.rounds):
                        t0 = time.perf_counter()
                        r = c.post(f"/api/evidence/items/{item.item_id}/redactions", json={"ner": ner})
                        api[ner].append(time.perf_counter() - t0)
                        r.raise_for_status()
                run_id = r.json()["run_id"]
                inspect: list[float] = []
                decide: list[float] = []
                for q in c.get(f"/api/redactions/{run_id}").json()["queue"]:
                    t0 = time.perf_counter()
                    c.get(f"/api/redactions/{run_id}/units/{q['unit']}").raise_for_status()
                    t1 = time.perf_counter()
                    c.post(f"/api/redactions/{run_id}/units/{q['unit']}/decision",
                           json={"status": "confirmed"}).raise_for_status()
                    inspect.append(t1 - t0)
                    decide.append(time.perf_counter() - t1)
                t0 = time.perf_counter()
                r = c.post(f"/api/redactions/{run_id}/release")
                release_api = time.perf_counter() - t0
                r.raise_for_status()
                released = c.get(f"/api/evidence/items/{r.json()['output_item_id']}/content")
                released.raise_for_status()
        finally:
            server.terminate()
            server.wait(timeout=30)
    for ner in ("none", "auto"):
        d, a = statistics.median(direct[ner]), statistics.median(api[ner])
        result[f"ner_{ner}"] = {"direct_s": direct[ner], "api_s": api[ner], "direct_median_s": d,
                                "api_median_s": a, "api_over_direct": a / d,
                                "api_narratives_per_s": args.n / a}
    result["review"] = {"inspect": latency_ms(inspect), "decision": latency_ms(decide),
                        "n_documents": len(inspect)}
    result["release"] = {"direct_s": release_direct[0], "api_s": release_api,
                         "api_over_direct": release_api / release_direct[0],
                         "released_lines": len(released.text.splitlines())}
    result["uptime"] = uptime()
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
