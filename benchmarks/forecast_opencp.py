"""open_cp's hotspot methods on crimelens's backtest splits (run with open_cp's own venv).

open_cp (QuantCrimAtLeeds/PredictCode) is unmaintained and needs numpy < 1.24, so it
runs in a throw-away virtual environment outside this repository, e.g.::

    python3.10 -m venv /work/opencp/venv
    /work/opencp/venv/bin/pip install "numpy<1.24" scipy "pandas<2" pyproj
    /work/opencp/venv/bin/pip install --no-deps -e /work/opencp   # a checkout of PredictCode

``benchmarks/forecast_backtest.py`` writes the splits (incident x/y in metres, times,
the 150 m grid and its mask, the forecast origins) to an ``.npz``; this driver reads
them, runs each open_cp method at each origin on the same training window as the
crimelens counterpart, and writes per-cell intensities for the study-area cells to
``<out>/<dataset>_<method>.npz`` (resumable). The crimelens script then scores them
with the same metrics and the same tie rule as its own models.

Without open_cp installed this script prints a note and exits 0.

Method settings (open_cp's classes; training windows end at the origin):

============  =============================================================  ==========
name          open_cp                                                        training
============  =============================================================  ==========
naive         ``naive.CountingGridKernel``                                    730 days
retro         ``retrohotspot.RetroHotSpotGrid``, ``Quartic(bandwidth=300)``   365 days
prospective   ``prohotspot.ProspectiveHotSpot``, ``ClassicWeight(3, 8)``,      56 days
              weekly time unit (Bowers et al. 2004 on 150 m cells)
kde           ``kde.KDE``, ``ExponentialTimeKernel(180)`` days,               365 days
              ``GaussianFixedBandwidthProvider(150)``, 2x2 samples per cell
etas          ``seppexp.SEPPTrainer`` (Mohler 2015 grid ETAS), 20 iterations, 365 days
              edge-corrected
sepp          ``sepp.SEPPTrainer(k_time=100, k_space=15)`` (Mohler 2011),     last 2,000
              20 iterations, 2x2 samples per cell                              incidents
============  =============================================================  ==========
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

METHODS = ("naive", "retro", "prospective", "kde", "etas", "sepp")
MS_PER_DAY = 86_400_000


def _open_cp():  # type: ignore[no-untyped-def]
    try:
        import open_cp
        import open_cp.data
        import open_cp.kde
        import open_cp.naive
        import open_cp.predictors
        import open_cp.prohotspot
        import open_cp.retrohotspot
        import open_cp.sepp
        import open_cp.seppexp
    except ImportError:
        return None
    return open_cp


def _points(oc, t_days, xy):  # type: ignore[no-untyped-def]
    stamps = (np.datetime64("1970-01-01T00:00", "ms")
              + (np.asarray(t_days) * MS_PER_DAY).astype("int64").astype("timedelta64[ms]"))
    return oc.data.TimedPoints.from_coords(stamps, xy[:, 0], xy[:, 1])


def _stamp(t_day: float) -> np.datetime64:
    return np.datetime64("1970-01-01T00:00", "ms") + np.timedelta64(round(t_day * MS_PER_DAY), "ms")


def run_method(oc, name, sp, o_day, all_events=False):  # type: ignore[no-untyped-def]
    """Full-grid (ny, nx) intensity of open_cp method ``name`` at origin ``o_day``.

    ``all_events``: train on every incident given (timing runs) instead of the
    method's own window.
    """
    return to_grid(predict_grid(oc, name, sp, o_day, all_events), sp)


def predict_grid(oc, name, sp, o_day, all_events=False):  # type: ignore[no-untyped-def]
    """open_cp's own prediction object (what the timing runs measure: data in, prediction out)."""
    t, xy = sp["t"], sp["xy"]
    x0, y0, cell = float(sp["x0"]), float(sp["y0"]), float(sp["cell"])
    nx, ny = int(sp["nx"]), int(sp["ny"])
    region = oc.data.RectangularRegion(xmin=x0, xmax=x0 + nx * cell, ymin=y0, ymax=y0 + ny * cell)
    hi = int(np.searchsorted(t, o_day, side="left"))

    def window(days):  # type: ignore[no-untyped-def]
        lo = 0 if all_events else int(np.searchsorted(t, o_day - days, side="left"))
        return _points(oc, t[lo:hi], xy[lo:hi])

    origin = _stamp(o_day)

    def masked_grid():  # type: ignore[no-untyped-def]
        # only the continuous methods (KDE, SEPP) need the study-area mask
        full_mask = np.ones(ny * nx, dtype=bool)
        full_mask[sp["cell_ids"]] = False
        return oc.data.MaskedGrid(cell, cell, x0, y0, full_mask.reshape(ny, nx))
    if name == "naive":
        m = oc.naive.CountingGridKernel(cell, region=region)
        m.data = window(730.0)
        pred = m.predict()
    elif name == "retro":
        m = oc.retrohotspot.RetroHotSpotGrid(region=region, grid_size=cell)
        m.weight = oc.retrohotspot.Quartic(bandwidth=300)
        m.data = window(365.0)
        pred = m.predict(end_time=origin)
    elif name == "prospective":
        m = oc.prohotspot.ProspectiveHotSpot(region=region, grid_size=cell,
                                             time_unit=np.timedelta64(1, "W"))
        m.weight = oc.prohotspot.ClassicWeight(space_bandwidth=3, time_bandwidth=8)
        m.data = window(56.0)
        pred = m.predict(origin, origin)
    elif name == "kde":
        m = oc.kde.KDE(region=region, grid_size=cell)
        m.time_kernel = oc.kde.ExponentialTimeKernel(180)
        m.space_kernel = oc.kde.GaussianFixedBandwidthProvider(150)
        m.data = window(365.0)
        kernel = m._kernel(None, origin)
        pred = oc.predictors.grid_prediction_from_kernel_and_masked_grid(kernel, masked_grid(), samples=-2)
    elif name == "etas":
        tr = oc.seppexp.SEPPTrainer(region=region, grid_size=cell)
        tr.data = window(365.0)
        predictor = tr.train(cutoff_time=origin, iterations=20, use_corrected=True)
        predictor.data = tr.data
        pred = predictor.predict(origin)
    elif name == "sepp":
        lo = 0 if all_events else max(0, hi - 2000)
        tr = oc.sepp.SEPPTrainer(k_time=100, k_space=15)
        tr.data = _points(oc, t[lo:hi], xy[lo:hi])
        predictor = tr.train(cutoff_time=origin, iterations=20)
        predictor.data = tr.data
        cts = predictor.predict(origin).rebase(cell, cell, x0, y0)
        cts.samples = -2
        pred = oc.predictors.GridPredictionArray(cell, cell, cts.to_matrix_from_masked_grid(masked_grid()),
                                                 x0, y0)
    else:
        raise ValueError(name)
    return pred


def to_grid(pred, sp):  # type: ignore[no-untyped-def]
    """The prediction as a plain (ny, nx) array of the splits' grid (zeros where masked)."""
    nx, ny = int(sp["nx"]), int(sp["ny"])
    matrix = np.asarray(pred.intensity_matrix, dtype=np.float64)
    matrix = np.ma.filled(matrix, 0.0) if np.ma.isMaskedArray(matrix) else matrix
    out = np.zeros((ny, nx))
    out[: matrix.shape[0], : matrix.shape[1]] = matrix[:ny, :nx]
    return np.nan_to_num(out, nan=0.0)


def timing(oc, sp, sizes, methods, out_path, budget_s=1.0, max_reps=200):  # type: ignore[no-untyped-def]
    """Fit + predict seconds of each method on the ``n`` most recent incidents before the first origin.

    Each method is run once, then repeated until ``budget_s`` seconds of runs have
    accumulated (at most ``max_reps`` runs): fast methods get many runs and a
    stable median, slow ones a single run. Wall and CPU seconds are medians over
    the runs; the first run is reported apart. A run ends with open_cp's own
    prediction object (converting it to our cell order is not counted).
    """
    import json
    import statistics

    o_day = float(sp["origins"][0])
    hi = int(np.searchsorted(sp["t"], o_day, side="left"))
    results = {}
    for n in sizes:
        sub = dict(sp)
        lo = max(0, hi - n)
        sub["t"], sub["xy"] = sp["t"][lo:hi], sp["xy"][lo:hi]
        for name in methods:
            key = f"{name}@{n}"
            walls, cpus = [], []
            began_all = time.perf_counter()
            try:
                while True:
                    began, cpu0 = time.perf_counter(), time.process_time()
                    predict_grid(oc, name, sub, o_day, all_events=True)
                    walls.append(time.perf_counter() - began)
                    cpus.append(time.process_time() - cpu0)
                    if time.perf_counter() - began_all >= budget_s or len(walls) >= max_reps:
                        break
                results[key] = {"seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus),
                                "first_seconds": walls[0], "first_cpu_seconds": cpus[0], "runs": len(walls)}
            except Exception as exc:  # open_cp's own failures are results too
                results[key] = {"error": f"{type(exc).__name__}: {exc}",
                                "seconds_to_failure": time.perf_counter() - began}
            print(key, results[key], flush=True)
            Path(out_path).write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timing", default=None, help="comma-separated training sizes: time fit+predict only")
    ap.add_argument("--timing-out", default="opencp_timing.json")
    ap.add_argument("--timing-budget", type=float, default=1.0,
                    help="seconds of repeated runs per method and size (medians)")
    ap.add_argument("--splits", required=True, help="npz written by forecast_backtest.py")
    ap.add_argument("--out", required=True, help="folder for <dataset>_<method>.npz")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--every", type=int, default=1, help="score every k-th origin only")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="stop a method after this")
    args = ap.parse_args(argv)
    oc = _open_cp()
    if oc is None:
        print("open_cp is not installed in this interpreter; skipping (see the module docstring)")
        return 0
    import warnings

    warnings.simplefilter("ignore")
    sp = dict(np.load(args.splits, allow_pickle=False))
    if args.timing:
        timing(oc, sp, [int(v) for v in args.timing.split(",")], args.methods.split(","), args.timing_out,
               budget_s=args.timing_budget)
        return 0
    dataset = str(sp["dataset"])
    origins = sp["origins"]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.methods.split(","):
        path = out_dir / f"{dataset}_{name}.npz"
        n = len(origins)
        if path.exists():
            old = dict(np.load(path))
            values, seconds, done = old["intensity"], old["seconds"], old["done"]
        else:
            values = np.zeros((n, len(sp["cell_ids"])), np.float32)
            seconds = np.full(n, np.nan)
            done = np.zeros(n, bool)
        began_method = time.perf_counter()
        for p in range(0, n, args.every):
            if done[p]:
                continue
            if time.perf_counter() - began_method > args.max_seconds:
                print(f"{name}: time limit reached after period {p}", flush=True)
                break
            began = time.perf_counter()
            try:
                full = run_method(oc, name, sp, float(origins[p]))
            except Exception as exc:  # record open_cp's failure and go on
                print(f"{dataset} {name} period {p}: failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            seconds[p] = time.perf_counter() - began
            values[p] = full.reshape(-1)[sp["cell_ids"]]
            done[p] = True
            np.savez(path, intensity=values, seconds=seconds, done=done)
            print(f"{dataset} {name} period {p}: {seconds[p]:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
