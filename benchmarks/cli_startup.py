"""How long the CLI takes to answer before it does any work: help, a usage error, a small command.

Each command runs in a fresh interpreter (as a person typing it would), alternating between this
checkout and a baseline revision checked out into a temporary git worktree and put first on
PYTHONPATH (same venv, same packages). Medians of --repeat runs; the ratio is baseline ÷ this.

Usage: python benchmarks/cli_startup.py [--base REV] [--repeat 7] [--out benchmarks/results/cli_startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SF = ROOT.parent / "shared" / "data" / "sf_robbery" / "san_francisco_robbery.csv"


def _seconds(src: Path, args: list[str], db: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "CRIMELENS_PROGRESS": "false"}
    code = "import sys\nfrom crimelens.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *[a.replace("{db}", str(db)) for a in args]], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD~1", help="baseline git revision")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_startup.json")
    args = ap.parse_args()

    commands = {"--help": ["--help"], "deployments --help": ["deployments", "--help"],
                "usage error": ["ledger", "list", "--bogus"],
                "ledger verify (small store)": ["ledger", "verify", "--db", "{db}"]}
    work = Path(tempfile.mkdtemp(prefix="crimelens-startup-"))
    base_tree = work / "base"
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], capture_output=True,
                             text=True, check=True).stdout.strip()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), rev],
                       capture_output=True, check=True)
        db = work / "c.duckdb"
        subprocess.run([sys.executable, "-c", "from crimelens.cli import main; import sys; main(sys.argv[1:])",
                        "ingest", str(SF), "--db", str(db), "--json"], capture_output=True, check=True)
        trees = {"base": base_tree / "src", "this": ROOT / "src"}
        times: dict[str, dict[str, list[float]]] = {c: {"base": [], "this": []} for c in commands}
        for name, argv in commands.items():
            for src in trees.values():
                _seconds(src, argv, db)  # warm: bytecode caches, page cache
            for _ in range(args.repeat):
                for tree, src in trees.items():
                    times[name][tree].append(_seconds(src, argv, db))
        rows = {}
        for name, t in times.items():
            base, this = statistics.median(t["base"]), statistics.median(t["this"])
            rows[name] = {"base_s": round(base, 3), "this_s": round(this, 3), "ratio": round(base / this, 2),
                          "runs": {k: [round(v, 3) for v in vs] for k, vs in t.items()}}
            print(f"{name:30s} base {base:6.3f} s   this {this:6.3f} s   {base / this:5.2f}x")
        result = {"base": rev, "this": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                                      capture_output=True, text=True).stdout.strip(),
                  "repeat": args.repeat, "load": os.getloadavg(), "machine": platform.platform(),
                  "commands": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                       capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
