"""Benchmark: generating and writing the synthetic city, at the default size and at 1M incidents.

Each configuration runs in a fresh child process (so its peak RSS is its own): generate
(``SyntheticCity(...).generate()``), then ``write``. Prints and writes
``benchmarks/results/synth.json``. Never asserts; a person reads the figures.

Run: ``.venv/bin/python benchmarks/synth.py [--scales 1 40] [--seed 7] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(scale: float, seed: int, out: Path) -> dict[str, object]:
    from crimelens.synth import SyntheticCity

    began, cpu = time.perf_counter(), time.process_time()
    city = SyntheticCity(seed=seed, scale=scale).generate()
    generate_s, generate_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    began, cpu = time.perf_counter(), time.process_time()
    files = city.write(out)
    write_s, write_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    realised = city.truth.params["realised"]
    return {
        "scale": scale,
        "seed": seed,
        "n_incidents": len(city.incidents),
        "n_latent": realised["n_latent"],
        "offspring_share": realised["offspring_share"],
        "n_series": len(city.series),
        "generate_s": round(generate_s, 2),
        "write_s": round(write_s, 2),
        "generate_cpu_s": round(generate_cpu_s, 2),  # CPU time: less sensitive to other load
        "write_cpu_s": round(write_cpu_s, 2),
        "incidents_per_s_generate": round(len(city.incidents) / generate_s),
        "files_bytes": files,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 40.0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="Keep the written cities under this folder.")
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.seed, args.out)))
        return
    runs = []
    for scale in args.scales:
        base = args.keep or Path(tempfile.mkdtemp(prefix="synth_bench_"))
        out = base / f"scale_{scale:g}"
        load = os.getloadavg()
        proc = subprocess.run([sys.executable, __file__, "--one", str(scale), "--seed", str(args.seed),
                               "--out", str(out)], check=True, capture_output=True, text=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        run["loadavg_before"] = [round(x, 2) for x in load]
        runs.append(run)
        print(f"scale {scale:g}: {run['n_incidents']:,} incidents; generate {run['generate_s']} s, "
              f"write {run['write_s']} s (CPU {run['generate_cpu_s']} s + {run['write_cpu_s']} s), peak RSS {run['peak_rss_mib']} MiB, load {run['loadavg_before']}")
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    result = {
        "benchmark": "synth",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "runs": runs,
    }
    path = ROOT / "benchmarks" / "results" / "synth.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
