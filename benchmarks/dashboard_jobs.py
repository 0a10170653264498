"""The jobs the dashboard now runs through the API, beside the direct service calls the CLI makes.

Four jobs, each on the same input both ways, alternated round by round (direct, API, direct, API …)
so that the machine's load falls on both alike:

* fitting a risk model: ``services.risk.fit_risk_model`` on the ProPublica COMPAS two-year file
  (point score, audit columns race and sex; what ``crimelens risk fit`` runs) against
  ``POST /api/risk/models`` with the file as the body;
* a group audit: ``services.risk.audit_table`` of COMPAS's decile per race and sex with 1,000
  bootstrap replicates and the mitigations (``crimelens audit``) against ``POST /api/audits``;
* an exposure audit of the synthetic city (seed 7) per area group, naive counts, 8 weekly periods
  (``crimelens audit exposure``) against ``POST /api/feedback/exposure``;
* redacting a video: ``services.evidence.redact_video_file`` on a 240-frame 320×240 clip with a
  face (the astronaut sample of scikit-image) against ``POST /api/evidence/items/{item}/redactions``
  with its NDJSON progress, timing the first progress line too.

The API side is a real ``crimelens serve`` on loopback (one process); the direct side runs in this
process on its own copy of the store (DuckDB holds one writer per file). Each API call includes
sending the file. A first round warms both sides (imports, first reads of the store) and is not
counted. Medians of ``--rounds`` rounds; the ratio is API ÷ direct.

Run: ``.venv/bin/python benchmarks/dashboard_jobs.py [--rounds 3]``; writes
``benchmarks/results/dashboard_jobs.json``. Needs ``../shared/data`` beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import start_server, uptime  # noqa: E402
from tests.evidence.test_faces import _synthetic_video  # noqa: E402

from crimelens.config import Settings  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.services import evidence as ev  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import open_context  # noqa: E402
from crimelens.services.feedback import audit_exposure  # noqa: E402
from crimelens.services.risk import audit_table, fit_risk_model  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "dashboard_jobs.json"
COMPAS = ROOT.parent / "shared" / "data" / "compas" / "compas-scores-two-years.deid.csv.gz"
ANA = Actor("ana", Role.ANALYST)


def _clip(path: Path, n_frames: int) -> None:
    """The tests' 24-frame clip (a head sliding across a grey 320x240 frame) played over and over."""
    import cv2
    from skimage import data  # ships inside the scikit-image wheel: no download

    face = data.astronaut()  # type: ignore[no-untyped-call]
    once = path.with_name("once.avi")
    _synthetic_video(once, np.ascontiguousarray(face[:, :, ::-1]), n_frames=24)
    cap = cv2.VideoCapture(str(once))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 12.0, (320, 240))
    for i in range(n_frames):
        writer.write(frames[i % len(frames)])
    writer.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=240)
    args = ap.parse_args()
    if not COMPAS.is_file():
        raise SystemExit(f"{COMPAS}: missing; expected ../shared/data beside the checkout")
    times: dict[str, dict[str, list[float]]] = {}

    def timed(job: str, side: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        fn()
        times.setdefault(job, {"direct": [], "api": []})[side].append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(prefix="crimelens-dashjobs-") as tmp:
        api_db, direct_db = Path(tmp) / "api.duckdb", Path(tmp) / "direct.duckdb"
        clip = Path(tmp) / "lobby.avi"
        _clip(clip, args.frames)
        subprocess.run([str(Path(sys.executable).with_name("crimelens")), "synth", "--out", str(Path(tmp) / "city"),
                        "--seed", "7", "--db", str(api_db)], check=True, capture_output=True)
        with open_context(Settings(db=api_db, progress=False)) as ctx:
            gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", Role.ADMIN))
            token = gs.add_user(ctx, name="ana", role="analyst", actor=Actor("ada", Role.ADMIN))[1]
        shutil.copy2(api_db, direct_db)
        keys = Path(str(api_db) + ".keys")
        if keys.exists():
            shutil.copytree(keys, Path(str(direct_db) + ".keys"))
        data = COMPAS.read_bytes()
        server, base = start_server(api_db, {"CRIMELENS_PROGRESS": "false"})
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
        first_line: list[float] = []
        try:
            with httpx.Client(base_url=base, timeout=1800, headers=headers) as c, \
                    open_context(Settings(db=direct_db, progress=False)) as ctx:
                r = c.post("/api/evidence/cases/BENCH/items", params={"source": "lobby camera", "filename": clip.name},
                           content=clip.read_bytes(), headers={"Content-Type": "application/octet-stream"})
                r.raise_for_status()
                item_id = r.json()["item_id"]
                ev.add_evidence(ctx, clip, case_id="BENCH", actor=ANA, source="lobby camera")
                octet = {"Content-Type": "application/octet-stream"}
                # round 0 warms both sides (imports, first reads) and is not counted
                for n in range(args.rounds + 1):
                    if n == 1:
                        times.clear()
                        first_line.clear()
                    timed("risk_fit", "direct", lambda: fit_risk_model(
                        ctx, data=COMPAS, label="two_year_recid", kind="points", audit_columns=["race", "sex"],
                        actor=ANA))
                    timed("risk_fit", "api", lambda: c.post(
                        "/api/risk/models", params={"filename": COMPAS.name, "label": "two_year_recid",
                                                    "group": ["race", "sex"]},
                        content=data, headers=octet).raise_for_status())
                    timed("group_audit", "direct", lambda: audit_table(
                        ctx, data=COMPAS, label="two_year_recid", score="decile_score", threshold=5,
                        groups=["race", "sex"], n_boot=1000, mitigate=True, actor=ANA))
                    timed("group_audit", "api", lambda: c.post(
                        "/api/audits", params={"filename": COMPAS.name, "label": "two_year_recid",
                                               "score": "decile_score", "threshold": 5, "group": ["race", "sex"],
                                               "bootstrap": 1000, "mitigate": True},
                        content=data, headers=octet).raise_for_status())
                    timed("exposure_audit", "direct", lambda: audit_exposure(
                        ctx, actor=ANA, dataset="synth", group_by="group", model="naive", n_periods=8))
                    timed("exposure_audit", "api", lambda: c.post(
                        "/api/feedback/exposure", json={"dataset": "synth", "group_by": "group", "model": "naive",
                                                        "periods": 8}).raise_for_status())
                    timed("video_redaction", "direct", lambda n=n: ev.redact_video_file(  # type: ignore[misc]
                        ctx, clip, Path(tmp) / f"direct-{n}.avi", actor=ANA, case_id="BENCH"))

                    def streamed() -> None:
                        t0 = time.perf_counter()
                        with c.stream("POST", f"/api/evidence/items/{item_id}/redactions", json={},
                                      headers={"Accept": "application/x-ndjson"}) as s:
                            s.raise_for_status()
                            lines: list[dict[str, Any]] = []
                            for line in s.iter_lines():
                                if line:
                                    if not lines:
                                        first_line.append(time.perf_counter() - t0)
                                    lines.append(json.loads(line))
                        if "result" not in lines[-1]:
                            raise RuntimeError(f"video redaction over the API failed: {lines[-1]}")

                    timed("video_redaction", "api", streamed)
                    print(f"round {n}/{args.rounds}{' (warm-up)' if n == 0 else ''}: " + ", ".join(
                        f"{job} {v['direct'][-1]:.2f} / {v['api'][-1]:.2f} s" for job, v in times.items()),
                        flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result: dict[str, Any] = {"rounds": args.rounds, "video_frames": args.frames, "jobs": {}}
    for job, v in times.items():
        d, a = statistics.median(v["direct"]), statistics.median(v["api"])
        result["jobs"][job] = {"direct_s": v["direct"], "api_s": v["api"], "direct_median_s": round(d, 3),
                               "api_median_s": round(a, 3), "api_over_direct": round(a / d, 3)}
    result["jobs"]["video_redaction"]["api_first_progress_line_s"] = first_line
    result["jobs"]["video_redaction"]["api_frames_per_s"] = round(args.frames / statistics.median(
        times["video_redaction"]["api"]), 1)
    result["uptime"] = uptime()
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
