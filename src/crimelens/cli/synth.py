"""``crimelens synth``: build the seeded synthetic city and write it (and its ground truth) to a folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    PurposeOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    esc,
    table,
)
from crimelens.errors import InvalidParameterError

__all__ = ["register"]


def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write incidents.csv, areas.geojson and truth/ into.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives byte-identical files.")] = 7,
    days: Annotated[int, typer.Option("--days", help="Length of the simulated period in days.")] = 365,
    n_series: Annotated[int, typer.Option("--n-series", help="Planted crime series (3-15 incidents each).")] = 40,
    scale: Annotated[float, typer.Option("--scale", help="Multiplies every background rate (40 ≈ 1M incidents/year).")] = 1.0,
    disparity: Annotated[float, typer.Option("--disparity", help="Extra patrol in group_b-majority areas: ×(1 + X); 0 = balanced.")] = 0.0,
    recording: Annotated[str, typer.Option("--recording", help="'thinned' (unreported, undiscovered events are lost) or 'complete'.")] = "thinned",
    start: Annotated[str, typer.Option("--start", help="First local date, YYYY-MM-DD.")] = "2024-01-01",
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name when loading into a store with --db.")] = "synth",
    db: DbOpt = None,
    purpose: PurposeOpt = "research",
    json_out: JsonOpt = False,
) -> None:
    """Build the synthetic city: recorded incidents, neighbourhoods and the ground truth.

    Without --db (or CRIMELENS_DB) only files are written; with either the incidents and areas are
    also ingested into that store (dataset --dataset) through the ordinary ingest path.
    """
    from crimelens.synth import SyntheticCity

    if recording not in ("thinned", "complete"):
        raise InvalidParameterError(f"crimelens synth --recording {recording!r}: expected 'thinned' or 'complete'")
    city = SyntheticCity(seed=seed, days=days, n_series=n_series, scale=scale, disparity=disparity,
                         recording=recording, start=start)  # type: ignore[arg-type]
    began = time.perf_counter()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=json_out) as bar:
        task = bar.add_task("synthetic city", total=1.0)

        def step(name: str, done: float) -> None:
            bar.update(task, completed=done, description=f"synthetic city: {name}")

        data = city.generate(progress=step)
        gen_s = time.perf_counter() - began
        bar.update(task, description="writing files")
        files = data.write(out)
    total_s = time.perf_counter() - began
    realised = dict(data.truth.params["realised"])
    result: dict[str, Any] = {
        "ok": True,
        "out": str(out),
        "params": city.get_params(),
        "n_incidents": len(data.incidents),
        "n_areas": len(data.areas),
        "n_series": len(data.series),
        "n_series_solved": len(data.solved),
        "realised": realised,
        "trigger": dict(data.truth.params["trigger"]),
        "files": files,
        "seconds_generate": round(gen_s, 3),
        "seconds_total": round(total_s, 3),
    }
    if db is None and os.environ.get("CRIMELENS_DB"):  # the store every other command reads
        db = Path(os.environ["CRIMELENS_DB"])
    if db is not None:
        from crimelens.services import ingest as svc

        with cli_context(db, create=True) as ctx:
            actor = cli_actor(ctx.settings)
            summary = svc.ingest_file(ctx, out / "incidents.csv", actor=actor, purpose=purpose,
                                      format="canonical", dataset=dataset)
            areas = svc.load_areas(ctx, out / "areas.geojson", dataset=dataset, actor=actor, purpose=purpose)
        result["store"] = {"db": str(db), "dataset": dataset, "ingest": summary.to_dict(), "n_areas": len(areas)}
    emit(result, json_out, _render)


def _render(d: dict[str, Any]) -> None:
    r = d["realised"]
    console.print(
        f"[bold]Synthetic city[/] seed {d['params']['seed']} → [bold]{esc(d['out'])}[/] in {d['seconds_total']:.1f} s: "
        f"{d['n_incidents']:,} recorded incidents ({r['n_reported']:,} reported, {r['n_discovered']:,} discovered) "
        f"of {r['n_latent']:,} latent events; {d['n_areas']} areas; {d['n_series']} planted series "
        f"({d['n_series_solved']} solved)."
    )
    t = d["trigger"]
    console.print(f"True triggering: θ = {t['theta']}, ω = {t['omega_per_day']}/day, σ = {t['sigma_m']} m; "
                  f"realised offspring share {r['offspring_share']:.3f}.")
    table("Files", ["file", "bytes"], [[k, f"{v:,}"] for k, v in d["files"].items()])
    if "store" in d:
        s = d["store"]
        console.print(f"Loaded into {esc(s['db'])} as dataset [bold]{esc(s['dataset'])}[/]: "
                      f"{s['ingest']['n_landed']:,} landed, {s['ingest']['n_quarantined']:,} quarantined; "
                      f"{s['n_areas']} areas.")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
