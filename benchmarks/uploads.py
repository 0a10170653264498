"""Uploads to the service beside the direct calls the CLI makes: evidence intake and an export's ingest.

**Evidence.**

Baseline: ``services.evidence.add_evidence`` on a file on disk, which is what ``crimelens evidence add``
does after start-up (hash while copying into the content folder, fsync, rename, one transaction with
its ledger entry). Against it: ``POST /api/evidence/cases/{case}/items`` to a real ``crimelens serve``
on loopback, the body streamed from the same file. Each round changes the file's first bytes, so
every intake stores new content (no de-duplication). The server's peak resident memory (VmHWM) is
read before and after the uploads: a streamed upload should not grow it by the file's size.

**Ingest.** ``services.ingest.ingest_file`` on ``chicago_agg_assault`` (148,636 rows, 1.4 MiB gzip CSV),
what ``crimelens ingest`` runs, against ``POST /api/datasets/{dataset}/files`` with the same file;
each round into a new dataset, so every round parses, validates and stores all rows.

Run: ``.venv/bin/python benchmarks/uploads.py [--mib 512] [--rounds 3]``; writes
``benchmarks/results/uploads.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import start_server  # noqa: E402

from crimelens.config import Settings  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.services import evidence as ev  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import ingest as ing  # noqa: E402
from crimelens.services import open_context  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "uploads.json"
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXPORT = DATA / "chicago_agg_assault" / "chicago_aggravated_assaults.csv.gz"
CHUNK = 1 << 20


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _mark(path: Path, n: int) -> None:
    """Make the file's content new: its first 16 bytes name the round."""
    with path.open("r+b") as fh:
        fh.write(f"round{n:011d}".encode())


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=512, help="file size in MiB")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crimelens-upload-") as tmp:
        db, data = Path(tmp) / "bench.duckdb", Path(tmp) / "bodycam.bin"
        with data.open("wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(CHUNK))
        admin = Actor("ada", Role.ADMIN)
        with open_context(Settings(db=db, progress=False)) as ctx:
            gs.add_user(ctx, name="ada", role="admin", actor=admin)
            token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
            direct: list[float] = []
            for n in range(args.rounds):
                _mark(data, n)
                t0 = time.perf_counter()
                ev.add_evidence(ctx, data, case_id="BENCH", actor=Actor("ana", Role.ANALYST), source="bench",
                                purpose="benchmark")
                direct.append(time.perf_counter() - t0)
            ingest_direct: list[float] = []
            for n in range(args.rounds):
                t0 = time.perf_counter()
                summary = ing.ingest_file(ctx, EXPORT, actor=Actor("ana", Role.ANALYST), purpose="benchmark",
                                          dataset=f"direct{n}")
                ingest_direct.append(time.perf_counter() - t0)
                n_rows = summary.n_read
        server, base = start_server(db, {"CRIMELENS_PROGRESS": "false"})
        try:
            rss0, hwm0 = _vm(server.pid, "VmRSS"), _vm(server.pid, "VmHWM")
            upload: list[float] = []
            headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark",
                       "Content-Type": "application/octet-stream"}
            with httpx.Client(base_url=base, timeout=600) as c:
                for n in range(args.rounds):
                    _mark(data, 100 + n)
                    t0 = time.perf_counter()
                    r = c.post("/api/evidence/cases/BENCH/items", params={"source": "bench", "filename": data.name},
                               content=_chunks(data), headers=headers)
                    upload.append(time.perf_counter() - t0)
                    r.raise_for_status()
                    assert r.json()["size_bytes"] == args.mib * CHUNK
            hwm1 = _vm(server.pid, "VmHWM")
            ingest_api: list[float] = []
            with httpx.Client(base_url=base, timeout=600) as c:
                for n in range(args.rounds):
                    t0 = time.perf_counter()
                    r = c.post(f"/api/datasets/api{n}/files", params={"filename": EXPORT.name},
                               content=_chunks(EXPORT), headers=headers)
                    ingest_api.append(time.perf_counter() - t0)
                    r.raise_for_status()
                    assert r.json()["n_read"] == n_rows and not r.json()["already_ingested"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    d, u = statistics.median(direct), statistics.median(upload)
    result: dict[str, Any] = {
        "mib": args.mib, "rounds": args.rounds,
        "direct_add_evidence_s": direct, "api_upload_s": upload,
        "direct_median_s": d, "api_median_s": u, "direct_mib_s": args.mib / d, "api_mib_s": args.mib / u,
        "api_over_direct": u / d,
        "server_rss_before_mib": rss0 / CHUNK, "server_peak_rss_before_mib": hwm0 / CHUNK,
        "server_peak_rss_after_mib": hwm1 / CHUNK, "server_peak_growth_mib": (hwm1 - hwm0) / CHUNK,
        "ingest_file": str(EXPORT), "ingest_rows": n_rows,
        "ingest_direct_s": ingest_direct, "ingest_api_s": ingest_api,
        "ingest_direct_median_s": statistics.median(ingest_direct), "ingest_api_median_s": statistics.median(ingest_api),
        "ingest_api_over_direct": statistics.median(ingest_api) / statistics.median(ingest_direct),
        "uptime": _uptime(),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
