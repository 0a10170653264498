"""What loading a folder of files costs against loading the same rows as one file.

`crimelens ingest FOLDER --dataset NAME` runs one ingest per file (each with its own provenance
and ledger entry). This splits Chicago's aggravated assaults (148,636 rows, 2010-2019) into one
CSV per year, in one folder per year as police.uk and open-data portals ship them, and times,
alternating in one process, the CLI loading the single file and the folder into a fresh store.
Medians of --repeat runs; the ratio is folder ÷ file.

Usage: python benchmarks/ingest_folder.py [--repeat 5] [--out benchmarks/results/ingest_folder.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "chicago_agg_assault" / "chicago_aggravated_assaults.csv.gz"


def _ingest(target: Path, db: Path) -> dict[str, object]:
    from crimelens.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["ingest", str(target), "--dataset", "chicago", "--db", str(db), "--json"])
    doc: dict[str, object] = json.loads(out.getvalue())
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_folder.json")
    args = ap.parse_args()

    import pandas as pd

    os.environ["CRIMELENS_PROGRESS"] = "false"
    work = Path(tempfile.mkdtemp(prefix="crimelens-folder-"))
    try:
        raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
        single = work / "all.csv"
        raw.to_csv(single, index=False)
        years = raw["date"].str[:4]
        folder = work / "by_year"
        for year, rows in raw.groupby(years):
            (folder / str(year)).mkdir(parents=True)
            rows.to_csv(folder / str(year) / f"assaults-{year}.csv", index=False)
        n_files = len(list(folder.rglob("*.csv")))
        _ingest(single, work / "warm.duckdb")  # imports, layout tables, page cache
        timings: dict[str, list[float]] = {"one_file": [], "folder": []}
        landed: dict[str, int] = {}
        for i in range(args.repeat):
            for variant, target in (("one_file", single), ("folder", folder)):
                db = work / f"{variant}-{i}.duckdb"
                t0 = time.perf_counter()
                doc = _ingest(target, db)
                timings[variant].append(time.perf_counter() - t0)
                landed[variant] = int(doc["n_landed"])  # type: ignore[call-overload]
                db.unlink()
                shutil.rmtree(f"{db}.keys", ignore_errors=True)
        assert landed["one_file"] == landed["folder"], landed
        med = {k: statistics.median(v) for k, v in timings.items()}
        result = {
            "file": DATA.name, "rows": len(raw), "landed": landed["folder"], "folder_files": n_files,
            "repeat": args.repeat, "median_s": {k: round(v, 3) for k, v in med.items()},
            "all_s": {k: [round(x, 3) for x in v] for k, v in timings.items()},
            "ratio_folder_over_file": round(med["folder"] / med["one_file"], 3),
            "per_file_overhead_s": round((med["folder"] - med["one_file"]) / max(1, n_files - 1), 3),
            "load_average": os.getloadavg(), "cpus": os.cpu_count(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
