"""Use cases: a Knox (near-repeat) table from a file or the store, and near-repeat alerts.

Each run and each alert is written to the store together with its ledger entry,
in one transaction. Local use is logged with the purpose "research" and its
outputs carry :data:`crimelens.services.RESEARCH_MARK`. Files a run writes (the
pairs CSV, the heat map PNG) are named in that entry with their SHA-256; they are
written beside their target first and moved into place once the entry is stored.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens import __version__
from crimelens._files import existing_file
from crimelens.domain import IncidentTable, TimeWindow
from crimelens.domain._time import utc_offset_days
from crimelens.errors import InvalidParameterError, NotFoundError, SchemaError
from crimelens.governance import Actor, canonical_json
from crimelens.nearrepeat import (
    CONVENTION_NOTES,
    DATE_ORDERS,
    OPEN_ENDED_NOTE,
    BandSet,
    KnoxResult,
    NearRepeatAlert,
    coarse_times,
    is_xyt_csv,
    knox_test,
    near_repeat_alert,
    near_repeat_pairs,
    plot_knox,
    read_xyt_csv,
)
from crimelens.services._context import (
    RESEARCH,
    RESEARCH_MARK,
    Context,
    authorize,
    check_dataset,
    check_records,
    count_records,
    dataset_timezone,
    output_mark,
    record_use,
    sha256_hex,
    standing_record,
)
from crimelens.storage._nearrepeat import (
    NearRepeatAlertRecord,
    NearRepeatRunRecord,
    get_nearrepeat_run,
    incident_rows,
    latest_nearrepeat_run,
    list_nearrepeat_runs,
    save_nearrepeat_alert,
    save_nearrepeat_run,
)

__all__ = ["KNOX_EXPORTS", "AlertRun", "KnoxRun", "export_run", "list_runs", "nearrepeat_alert", "run_knox", "show_run"]

_TIME_OF = ("from", "mid", "to")


@dataclass(frozen=True)
class KnoxRun:
    """A stored Knox run: the table, where its events came from, and its ledger entry."""

    run_id: str
    result: KnoxResult
    source: str
    dataset: str | None
    offense: str | None
    period: TimeWindow | None
    time_of: str
    n_rows_not_used: int
    rejected: list[tuple[int, str]] = field(default_factory=list)
    records: str = "incident"
    n_records_left_out: int = 0
    ledger_seq: int | None = None
    output_hash: str = ""
    pairs: dict[str, Any] = field(default_factory=dict)
    mark: str = RESEARCH_MARK
    #: under ``nrc``, the zone whose calendar days the gaps count (the dataset's; None otherwise)
    days_in: str | None = None
    #: an x,y,date file's slash dates: {"order": "dmy"|"mdy", "from": "given" or the line that shows it}
    date_order: dict[str, str] | None = None
    #: the files written (path, format, role, sha256, bytes), as logged in the ledger entry
    files: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            **self.pairs,
            "run_id": self.run_id,
            "mark": self.mark,
            "source": self.source,
            "dataset": self.dataset,
            "offense": self.offense,
            "period": None if self.period is None else {"from": self.period.start.isoformat(),
                                                        "to": self.period.end.isoformat()},
            "time_of": self.time_of,
            "days_in": self.days_in,
            "n_rows_not_used": self.n_rows_not_used,
            "records": self.records,
            "n_records_left_out": self.n_records_left_out,
            "rows_not_used": [{"line": ln, "reason": r} for ln, r in self.rejected[:20]],
            "ledger_seq": self.ledger_seq,
            "output_hash": self.output_hash,
            "date_order": self.date_order,
            "files": self.files,
            **self.result.to_dict(),
        }


@dataclass(frozen=True)
class AlertRun:
    """A stored near-repeat alert and the run (surface) it was read from."""

    alert_id: str
    alert: NearRepeatAlert
    run_id: str
    dataset: str
    offense: str
    surface_computed: bool
    ledger_seq: int | None = None
    mark: str = RESEARCH_MARK
    timezone: str = "UTC"  # the zone the dataset's files were read in: how to show its UTC times to people
    surface_records: str = "incident"  # how the surface's Knox run counted records ("all": before migration 0012)
    asked_for: str | None = None  # the id asked for: a further record ID#2 is answered for its incident ID
    deployment: str | None = None  # operational use under this deployment (None: research)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "alert_id": self.alert_id, "mark": self.mark, "deployment": self.deployment,
                "run_id": self.run_id,
                "dataset": self.dataset, "offense": self.offense, "timezone": self.timezone,
                "surface_records": self.surface_records, "asked_for": self.asked_for or self.alert.incident_id,
                "surface_computed": self.surface_computed, "ledger_seq": self.ledger_seq,
                **self.alert.to_dict()}


def _data_hash(xy: NDArray[np.float64], t: NDArray[np.float64]) -> str:
    return sha256_hex(np.ascontiguousarray(xy, dtype=np.float64).tobytes()
                      + np.ascontiguousarray(t, dtype=np.float64).tobytes())


def _output_hash(result: KnoxResult) -> str:
    data = result.to_dict()
    data.pop("elapsed_s", None)
    return sha256_hex(canonical_json(data))


def _pick_dataset(ctx: Context, dataset: str | None) -> str:
    if dataset is not None:
        check_dataset(ctx, dataset, "nearrepeat")
        return dataset
    names = ctx.store.datasets()
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFoundError(
            f"the store {ctx.store.path!r} holds no incidents; expected a dataset: run "
            "`crimelens ingest FILE` first, or give a file: `crimelens nearrepeat PATH`"
        )
    raise InvalidParameterError(
        f"--dataset: the store {ctx.store.path!r} holds {len(names)} datasets {names}; name one"
    )


def _window_days(table: IncidentTable) -> NDArray[np.float64]:
    """Each record's time window ``occurred_to - occurred_from``, in days."""
    span = (table.occurred_to - table.occurred_from).astype("timedelta64[us]").astype(np.float64)
    out: NDArray[np.float64] = span / 86_400e6
    return out


#: Share of an x,y,date file's rows within +-180, +-90 from which the file is taken for degrees.
DEGREE_SHARE = 0.90


def _refuse_degrees(name: str, xy: NDArray[np.float64], line: NDArray[np.int64]) -> None:
    """Refuse an x,y,date file in longitude/latitude degrees, or one that mixes degrees and metres.

    The bands are metres: a file in degrees would put every pair in the first band. When at least
    :data:`DEGREE_SHARE` of the rows (but not all) look like degrees, the rest are most likely
    metres pasted in (or the other way round): refused, naming the rows that do not look like degrees.
    """
    deg = (np.abs(xy[:, 0]) <= 180.0) & (np.abs(xy[:, 1]) <= 90.0)
    advice = ("expected projected metres (the Near Repeat Calculator's input). Ingest the file with `crimelens "
              "ingest` (it projects to metres) and run `crimelens nearrepeat --db ... --dataset ...`")
    if bool(deg.all()):
        raise SchemaError(
            f"{name}: every x, y is within +-180, +-90, so the coordinates look like longitude/latitude degrees; "
            + advice
        )
    n, n_deg = int(deg.size), int(deg.sum())
    if n_deg >= DEGREE_SHARE * n:
        odd = np.flatnonzero(~deg)
        shown = "; ".join(f"line {int(line[k])}: x={float(xy[k, 0])}, y={float(xy[k, 1])}" for k in odd[:10])
        more = f" and {odd.size - 10:,} more" if odd.size > 10 else ""
        raise SchemaError(
            f"{name}: {n_deg:,} of {n:,} rows ({100 * n_deg / n:.3g}%) have x, y within +-180, +-90 "
            f"(longitude/latitude degrees), but {odd.size:,} row(s) do not ({shown}{more}): the file mixes degrees "
            "and metres, and read as metres every pair of degree rows would fall in the first distance band. "
            "Expected one unit for every row, in metres: fix or remove those rows, or, for a file in degrees, "
            "ingest it with `crimelens ingest` (it projects to metres) and run `crimelens nearrepeat --db ... "
            "--dataset ...`"
        )


def _staging(target: Path, run_id: str) -> Path:
    """Where a file is written before its ledger entry lands (same folder: the move is atomic)."""
    return target.with_name(f".{target.name}.{run_id}.part")


def run_knox(
    ctx: Context,
    *,
    actor: Actor,
    purpose: str = RESEARCH,
    path: str | Path | None = None,
    format: str | None = None,
    dataset: str | None = None,
    offense: str | None = None,
    period: TimeWindow | None = None,
    space_bands: list[float] | tuple[float, ...] = (100.0, 200.0, 300.0),
    time_bands: list[float] | tuple[float, ...] = (7.0, 14.0, 21.0),
    distance: str = "manhattan",
    convention: str = "standard",
    permutations: int = 999,
    seed: int | None = None,
    time_of: str = "mid",
    records: str = "incident",
    progress: Any = None,
    pairs_out: str | Path | None = None,
    png_out: str | Path | None = None,
    alpha: float = 0.05,
    allow_coarse_times: bool = False,
    date_order: str | None = None,
) -> KnoxRun:
    """Compute a Knox table from a file (``path``) or the store, and store it with its ledger entry.

    A file is either an ``x, y, date`` CSV (the Near Repeat Calculator's input, with or
    without the header ``x,y,date``; coordinates already in metres; slash dates in the order
    ``date_order`` or the one the file shows, see :func:`crimelens.nearrepeat.read_xyt_csv`) or
    anything :func:`crimelens.ingest.read_file` reads (projected to metres; rows it refuses are
    counted in ``n_rows_not_used``). With ``pairs_out``, the pairs inside the finite bands are
    written there as CSV (originator, follower, distance, gap, bands); with ``png_out``, the heat
    map. Each file is logged in the run's ledger entry with its path, format and SHA-256.

    ``alpha`` is the run's significance level, stored with it: its findings, heat map and the
    alerts read from it call a cell elevated when its ratio is above 1 and its p-value below it.
    With ``permutations=0`` that p-value is the Poisson approximation, and the output says so.

    Records whose time windows (``occurred_from`` to ``occurred_to``) are longer than the
    narrowest time band cannot show gaps in days (police.uk gives only the month). When at
    least :data:`crimelens.nearrepeat.COARSE_SHARE` of them are, the run is refused
    (:class:`InvalidParameterError`) unless ``allow_coarse_times``; the output then carries a
    warning (``warnings``, ``coarse_times``, the findings and the stored run).

    ``records="incident"`` (the default) counts each incident once: the further records of one
    incident that an ingest numbered ``ID#2``, ``ID#3``, ... (one row per victim or offence) would
    pair with the first at a gap of 0 and inflate the nearest bands (Cincinnati's burglaries: Knox
    ratio 7.49 at 0-100 m and 0-7 days with them, 2.02 without). ``"all"`` counts every record, as the
    Near Repeat Calculator counts the rows it is given; an ``x, y, date`` file has no ids and is
    always read that way.
    """
    if time_of not in _TIME_OF:
        raise InvalidParameterError(f"--time-of: got {time_of!r}; expected one of {list(_TIME_OF)}")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise InvalidParameterError(f"--date-order: got {date_order!r}; expected one of {list(DATE_ORDERS)}")
    if isinstance(alpha, bool) or not 0 < alpha < 1:
        raise InvalidParameterError(f"--alpha {alpha}: expected a probability in (0, 1)")
    check_records(records)  # before a file is read
    tband = BandSet.time(time_bands, convention)  # checked before anything is read
    authorize(ctx, action="nearrepeat.knox", actor=actor, purpose=purpose, model="KnoxTest",
              model_version=__version__)  # before any file is written
    n_left_out = 0
    rejected: list[tuple[int, str]] = []
    n_not_used = 0
    table: IncidentTable | None = None
    order_info: dict[str, str] | None = None
    day_zone = "UTC"  # the calendar whose days `nrc` numbers (an x,y,date file's own dates)
    input_warnings: list[str] = []
    if path is not None:
        p = existing_file(path, "an incident file")
        source = str(p)
        if format is None and is_xyt_csv(p):
            if offense is not None:
                raise InvalidParameterError(
                    f"--offense {offense!r}: {p.name} is an x,y,date file and has no offense column; "
                    "expected no --offense (filter the file first, or ingest it)"
                )
            f = read_xyt_csv(p, date_order=date_order)
            if f.date_order is not None:
                order_info = {"order": f.date_order, "from": f.date_order_from or "given"}
            _refuse_degrees(p.name, f.xy, f.line)
            if f.time_warning is not None:
                input_warnings.append(f.time_warning)
            keep = np.ones(len(f), dtype=bool)
            if period is not None:
                lo = (period.start - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400.0
                hi = (period.end - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400.0
                keep = (f.day >= lo) & (f.day < hi)
            xy, t = f.xy[keep], f.day[keep].astype(np.float64)
            ids = [f"line-{n}" for n in f.line[keep].tolist()]
            rejected = list(f.rejected)
            n_not_used = len(f.rejected)
            if len(t) < 2:
                raise InvalidParameterError(
                    f"Knox test on {p.name} (period={period}): got {len(t)} event(s); expected at least 2"
                )
        else:
            if date_order is not None:
                raise InvalidParameterError(
                    f"--date-order {date_order}: {p.name} is not an x,y,date file; expected no --date-order "
                    "(its ingest layout reads its dates)"
                )
            from crimelens.ingest import read_file

            res = read_file(p, format=format)
            table = res.table
            day_zone = res.layout.timezone
            n_not_used = res.n_quarantined
            q = res.quarantine
            if len(q):
                rejected = [(int(a), str(b)) for a, b in zip(q["line"], q["reason"], strict=False)]
        name = None
    else:
        if date_order is not None:
            raise InvalidParameterError(
                f"--date-order {date_order}: applies to an x,y,date file; the store's incidents have their times"
            )
        source = "store"
        name = _pick_dataset(ctx, dataset)
        table = ctx.store.incidents(dataset=name, offense=offense, period=period)
        day_zone = dataset_timezone(ctx, name) or "UTC"
    coarse = None
    if table is not None:
        if path is not None and offense is not None:
            table = table.select(offense=offense)
        if path is not None and period is not None:
            table = table.select(window=period)
        table, n_left_out = count_records(table, records)
        if len(table) < 2:
            where = source if path is not None else f"dataset {name!r}"
            raise InvalidParameterError(
                f"Knox test on {where} (offense={offense!r}, period={period}): got {len(table)} "
                "incident(s); expected at least 2"
            )
        where = (Path(source).name if path is not None else f"dataset {name!r}") + (
            f" (offense {offense!r})" if offense else "")
        coarse = coarse_times(_window_days(table), tband, where=where, allowed=allow_coarse_times)
        if coarse is not None and coarse.is_coarse and not allow_coarse_times:
            raise InvalidParameterError(coarse.refusal("Knox test"))
        xy = table.xy_m
        t = table.t_days(how=time_of)
        if convention == "nrc" and day_zone != "UTC":  # the NRC's day numbers are the dates analysts
            t = t + utc_offset_days(t, day_zone)         # there read: the local calendar's, not UTC's
        ids = [str(v) for v in table.incident_id]
    result = knox_test(xy, t, space_bands=space_bands, time_bands=time_bands, distance=distance,
                       convention=convention, n_permutations=permutations, seed=seed,
                       progress=progress, alpha=alpha)
    if coarse is not None:
        result = replace(result, coarse_times=coarse)
    if input_warnings:
        result = replace(result, input_warnings=tuple(input_warnings))
    run_id = uuid.uuid4().hex[:16]
    out_hash = _output_hash(result)
    data_hash = _data_hash(xy, t)
    pairs_info: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    staged: list[tuple[Path, Path]] = []
    try:
        if pairs_out is not None:
            pairs = near_repeat_pairs(xy, t, ids=ids, space_bands=space_bands, time_bands=time_bands,
                                      distance=distance, convention=convention)
            target = Path(pairs_out)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = _staging(target, run_id)
            staged.append((part, target))
            pairs.to_csv(part, index=False)
            digest = sha256_hex(part.read_bytes())
            pairs_info.update({"pairs_file": target.name, "n_pairs_written": len(pairs), "pairs_sha256": digest})
            files.append({"role": "pairs", "path": str(target.resolve()), "format": "csv", "sha256": digest,
                          "bytes": part.stat().st_size})
        if png_out is not None:
            target = Path(png_out)
            part = _staging(target, run_id)
            staged.append((part, target))
            shown = Path(source).name if path is not None else f"dataset {name}"
            plot_knox(result, part, note=f"{shown}{' · ' + offense if offense else ''} · {RESEARCH_MARK}")
            digest = sha256_hex(part.read_bytes())
            pairs_info.update({"png": str(target), "png_sha256": digest})
            files.append({"role": "heat map", "path": str(target.resolve()), "format": "png", "sha256": digest,
                          "bytes": part.stat().st_size})
        params = {"space_bands": list(result.space.edges), "time_bands": list(result.time.edges),
                  "distance": distance, "convention": convention, "permutations": permutations,
                  "seed": result.seed, "time_of": time_of, "records": records, "alpha": alpha,
                  "p_source": result.p_source, "allow_coarse_times": allow_coarse_times,
                  "days_in": day_zone if convention == "nrc" else None,
                  **({"date_order": order_info["order"]} if order_info else {})}
        record = NearRepeatRunRecord(
            run_id=run_id, created_utc=datetime.now(UTC), user_name=actor.user, purpose=purpose,
            source=source, dataset=name, offense=offense,
            period_from=None if period is None else period.start,
            period_to=None if period is None else period.end, convention=convention,
            distance_metric=distance, time_of=time_of, n_events=result.n_events,
            n_permutations=permutations, seed=result.seed, data_hash=data_hash, output_hash=out_hash,
            result_json=canonical_json(result.to_dict()).decode("utf-8"),
            records=records, n_records_left_out=n_left_out,
        )
        with ctx.store.transaction():
            save_nearrepeat_run(ctx.store, record)
            seq = record_use(
                ctx, action="nearrepeat.knox", actor=actor, purpose=purpose, model="KnoxTest",
                model_version=__version__, params=params, data_hash=data_hash, output_hash=out_hash,
                inputs={"source": source if path is None else Path(source).name, "dataset": name,
                        "offense": offense, "n_events": result.n_events},
                detail={"run_id": run_id, "n_rows_not_used": n_not_used, "n_records_left_out": n_left_out,
                        "elapsed_s": round(result.elapsed_s, 3), "mark": RESEARCH_MARK,
                        "warnings": list(result.warnings), **pairs_info,
                        **({"files": files} if files else {})},
            )
        for part, target in staged:
            part.replace(target)
    finally:
        for part, _ in staged:
            part.unlink(missing_ok=True)
    return KnoxRun(run_id=run_id, result=result, source=source, dataset=name, offense=offense,
                   period=period, time_of=time_of, n_rows_not_used=n_not_used, rejected=rejected,
                   records=records, n_records_left_out=n_left_out,
                   ledger_seq=seq, output_hash=out_hash, pairs=pairs_info,
                   days_in=day_zone if convention == "nrc" else None, date_order=order_info, files=files)


def list_runs(ctx: Context, *, actor: Actor, purpose: str = RESEARCH,
              dataset: str | None = None) -> list[dict[str, Any]]:
    """The stored Knox runs, newest first (checked against the role and logged)."""
    authorize(ctx, action="nearrepeat.list", actor=actor, purpose=purpose)
    frame = list_nearrepeat_runs(ctx.store, dataset=dataset)
    rows = [{str(k): (None if v is None or v != v else v) for k, v in r.items()}
            for r in frame.iloc[::-1].to_dict(orient="records")]
    # the bands and the exact seed, from each run's stored table (a seed column with nulls reads as float)
    sql = "SELECT run_id, result_json FROM nearrepeat_runs" + (" WHERE dataset = ?" if dataset is not None else "")
    stored = ctx.store.query(sql, [] if dataset is None else [dataset])
    tables = {str(r): json.loads(str(j)) for r, j in zip(stored["run_id"], stored["result_json"], strict=True)}
    for row in rows:
        table = tables.get(str(row["run_id"]), {})
        seed = table.get("seed", row.get("seed"))
        row["seed"] = None if seed is None else int(seed)
        row["seed_text"] = None if seed is None else str(int(seed))
        row["space_bands"] = list(table.get("space_bands", {}).get("edges", []))
        row["time_bands"] = list(table.get("time_bands", {}).get("edges", []))
    record_use(ctx, action="nearrepeat.list", actor=actor, purpose=purpose,
               detail={"dataset": dataset, "n": len(rows)})
    return rows


def show_run(ctx: Context, run_id: str, *, actor: Actor, purpose: str = RESEARCH) -> dict[str, Any]:
    """One stored Knox run: its table as computed, where its events came from, the convention's meaning."""
    authorize(ctx, action="nearrepeat.view", actor=actor, purpose=purpose)
    rec = get_nearrepeat_run(ctx.store, run_id)
    record_use(ctx, action="nearrepeat.view", actor=actor, purpose=purpose, output_hash=rec.output_hash,
               detail={"run_id": run_id})
    period = None if rec.period_from is None or rec.period_to is None else {
        "from": rec.period_from.isoformat(), "to": rec.period_to.isoformat()}
    return {"run_id": rec.run_id, "created_utc": rec.created_utc.isoformat(), "user": rec.user_name,
            "purpose": rec.purpose, "source": rec.source, "dataset": rec.dataset, "offense": rec.offense,
            "period": period, "time_of": rec.time_of, "data_hash": rec.data_hash, "output_hash": rec.output_hash,
            "records": rec.records, "n_records_left_out": rec.n_records_left_out,
            "mark": RESEARCH_MARK if rec.purpose == RESEARCH else "",
            "convention_note": CONVENTION_NOTES.get(rec.convention, ""), **rec.result,
            # exact as text: runs stored before drew 63-bit seeds, which a JavaScript number cannot hold
            "seed_text": None if rec.result.get("seed", rec.seed) is None else str(rec.result.get("seed", rec.seed))}


#: What a stored Knox run exports as, with its media type.
KNOX_EXPORTS = {"png": "image/png", "csv": "text/csv"}


def export_run(ctx: Context, run_id: str, fmt: str, *, actor: Actor, purpose: str = RESEARCH,
               alpha: float | None = None) -> bytes:
    """A stored Knox run as the heat map ``nearrepeat --png`` draws, or its table as CSV (one row per
    distance x time band: observed, expected, ratio, p-values, permutation range), with the
    convention's meaning, the run's alpha and its warnings in the CSV's ``#`` lines (logged as
    ``nearrepeat.export``). ``alpha`` outlines the heat map; default: the run's own."""
    if fmt not in KNOX_EXPORTS:
        raise InvalidParameterError(f"Knox export format {fmt!r}: expected one of {sorted(KNOX_EXPORTS)}")
    if alpha is not None and not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha {alpha}: expected a probability in (0, 1)")
    authorize(ctx, action="nearrepeat.export", actor=actor, purpose=purpose)
    rec = get_nearrepeat_run(ctx.store, run_id)
    result = KnoxResult.from_dict(rec.result)
    mark = RESEARCH_MARK if rec.purpose == RESEARCH else ""
    where = f"dataset {rec.dataset}" if rec.dataset else str(rec.source)
    if fmt == "png":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="crimelens-knox-") as tmp:
            out = plot_knox(result, Path(tmp) / "knox.png", alpha=alpha,
                            note=f"{where}{' · ' + rec.offense if rec.offense else ''} · run {run_id}"
                                 f"{' · ' + mark if mark else ''}")
            data = out.read_bytes()
    else:
        sig = result.significant()
        finite = (result.space.n_finite, result.time.n_finite)
        # elevated: the run's own reading (ratio > 1, p below its alpha); empty for the open-ended cells
        rows = [{"distance_band": result.space.labels[i], "time_band": result.time.labels[j],
                 "observed": int(result.observed[i, j]), "expected": float(result.expected[i, j]),
                 "knox_ratio": float(result.ratio[i, j]), "p_value": float(result.p_value[i, j]),
                 "p_poisson": float(result.p_poisson[i, j]), "sim_min": float(result.sim_min[i, j]),
                 "sim_max": float(result.sim_max[i, j]),
                 "elevated": bool(sig[i, j]) if i < finite[0] and j < finite[1] else None}
                for i in range(result.shape[0]) for j in range(result.shape[1])]
        head = {"run_id": run_id, "source": where, "offense": rec.offense or "all",
                "convention": f"{result.convention}: {CONVENTION_NOTES.get(result.convention, '')}",
                "distance": result.distance, "n_events": result.n_events,
                "permutations": f"{result.n_permutations}, seed {result.seed}",
                "p_value_rule": "(k+1)/(n+1), k = permutations with count >= observed" if result.n_permutations
                else "none (no permutations): elevated cells use p_poisson",
                "alpha": result.alpha, "p_source": result.p_source, "mark": mark,
                "elevated": f"ratio > 1 and {'p_value' if result.n_permutations else 'p_poisson'} < alpha; "
                            f"empty for the open-ended cells. {OPEN_ENDED_NOTE}"}
        text = "".join(f"# {k}: {v}\n" for k, v in head.items())
        text += "".join(f"# warning: {w}\n" for w in result.warnings)
        data = (text + pd.DataFrame(rows).to_csv(index=False)).encode("utf-8")
    record_use(ctx, action="nearrepeat.export", actor=actor, purpose=purpose, output_hash=rec.output_hash,
               detail={"run_id": run_id, "format": fmt})
    return data


def nearrepeat_alert(
    ctx: Context,
    incident_id: str,
    *,
    actor: Actor,
    purpose: str = RESEARCH,
    dataset: str | None = None,
    run_id: str | None = None,
    alpha: float | None = None,
    cell_m: float = 50.0,
    space_bands: list[float] | tuple[float, ...] = (100.0, 200.0, 300.0, 400.0),
    time_bands: list[float] | tuple[float, ...] = (7.0, 14.0, 21.0, 28.0),
    distance: str = "manhattan",
    convention: str = "standard",
    permutations: int = 999,
    seed: int | None = 1,
    progress: Any = None,
    allow_coarse_times: bool = False,
    deployment: str | None = None,
) -> AlertRun:
    """Near-repeat alert for one stored incident, from the Knox surface of its offense in its dataset.

    The surface is the run ``run_id``, else the newest stored run of the store's
    incidents of that dataset and offense; when there is none, one is computed now
    (with the band settings given here) from that offense's incidents up to the
    incident, stored and logged like any run.

    ``alpha`` defaults to the surface's own (the one its findings used; 0.05 for runs stored
    before runs kept it). A surface without permutations is read with its Poisson p-values
    (``p_source``). A surface of coarse times, or an incident known only to a window longer
    than the surface's narrowest time band, is refused unless ``allow_coarse_times``.

    Under a ``deployment`` the alert is operational use: checked (and a refusal logged) before any
    work, as every model use is (the deployment must approve ``KnoxTest`` for this purpose, role and
    dataset), its ledger entry names the deployment (so ``deployments purge`` deletes it under the
    policy's retention), it carries no research mark, and where the policy marks
    ``nearrepeat.alert`` actionable it waits in the human-review queue with the pending-review mark.
    """
    dep: dict[str, Any] = {"deployment": deployment} if deployment is not None else {}
    rows = incident_rows(ctx.store, incident_id, dataset=dataset)
    if rows.empty:
        where = f"dataset {dataset!r}" if dataset else "any dataset"
        raise NotFoundError(f"incident {incident_id!r}: not in {where} of the store {ctx.store.path!r}")
    if len(rows) > 1:
        raise InvalidParameterError(
            f"incident {incident_id!r} is in datasets {rows['dataset'].tolist()}; name one with --dataset"
        )
    row = rows.iloc[0]
    name, offense = str(row["dataset"]), str(row["offense"])
    if dep:  # before any work: a refused operational use computes and stores nothing
        authorize(ctx, action="nearrepeat.alert", actor=actor, purpose=purpose, model="KnoxTest",
                  model_version=__version__, inputs={"dataset": name, "offense": offense}, **dep)
    asked, incident_id = incident_id, standing_record(ctx, name, incident_id)
    if incident_id != asked:  # a further record ID#2 of incident ID: the alert is the incident's
        row = incident_rows(ctx.store, incident_id, dataset=name).iloc[0]
        offense = str(row["offense"])
    computed = False
    if run_id is not None:
        rec = get_nearrepeat_run(ctx.store, run_id)
        if rec.dataset is not None and rec.dataset != name:
            raise InvalidParameterError(
                f"--run {run_id}: measured on dataset {rec.dataset!r}, but incident {incident_id!r} "
                f"is in {name!r}; expected a surface of the incident's own city"
            )
        surface, time_of, sid, counted = KnoxResult.from_dict(rec.result), rec.time_of, rec.run_id, rec.records
    else:
        found = latest_nearrepeat_run(ctx.store, dataset=name, offense=offense)
        if found is not None:
            surface, time_of, sid, counted = (KnoxResult.from_dict(found.result), found.time_of, found.run_id,
                                              found.records)
        else:
            t_inc = pd.Timestamp(row["occurred_to"]).to_pydatetime()
            first = ctx.store.scalar("SELECT min(occurred_from) FROM incidents WHERE dataset = ?", [name])
            period = TimeWindow(pd.Timestamp(first).to_pydatetime(), t_inc)
            run = run_knox(ctx, actor=actor, purpose=purpose, dataset=name, offense=offense,
                           period=period, space_bands=space_bands, time_bands=time_bands,
                           distance=distance, convention=convention, permutations=permutations,
                           seed=seed, progress=progress, alpha=0.05 if alpha is None else alpha,
                           allow_coarse_times=allow_coarse_times)
            surface, time_of, sid, computed, counted = run.result, run.time_of, run.run_id, True, run.records
    start = pd.Timestamp(row["occurred_from"]).to_pydatetime()
    end = pd.Timestamp(row["occurred_to"]).to_pydatetime()
    when = {"from": start, "to": end, "mid": start + (end - start) / 2}[time_of]
    zone = dataset_timezone(ctx, name) or "UTC"
    alert = near_repeat_alert(surface, incident_id=incident_id, x_m=float(row["x_m"]),
                              y_m=float(row["y_m"]), occurred=when, alpha=alpha, cell_m=cell_m, zone=zone,
                              window=(start, end), allow_coarse_times=allow_coarse_times)
    alert_id = uuid.uuid4().hex[:16]
    mark = output_mark(ctx, action="nearrepeat.alert", purpose=purpose, deployment=deployment)
    payload = alert.to_dict()
    out_hash = sha256_hex(canonical_json(payload))
    record = NearRepeatAlertRecord(
        alert_id=alert_id, created_utc=datetime.now(UTC), user_name=actor.user, purpose=purpose,
        run_id=sid, dataset=name, incident_id=incident_id, n_elevated=len(alert.elevated),
        n_cells=len(alert.cells), output_hash=out_hash,
        alert_json=canonical_json(payload).decode("utf-8"),
    )
    with ctx.store.transaction():
        save_nearrepeat_alert(ctx.store, record)
        seq = record_use(
            ctx, action="nearrepeat.alert", actor=actor, purpose=purpose, model="KnoxTest",
            model_version=__version__, params={"alpha": alert.alpha, "cell_m": cell_m, "run_id": sid,
                                               "p_source": alert.p_source,
                                               "allow_coarse_times": allow_coarse_times},
            inputs={"dataset": name, "offense": offense, "incident_id": incident_id}, output_hash=out_hash,
            detail={"alert_id": alert_id, "n_elevated": len(alert.elevated),
                    "n_cells": len(alert.cells), "mark": mark,
                    **({"warnings": list(alert.warnings)} if alert.warnings else {})}, **dep,
        )
    return AlertRun(alert_id=alert_id, alert=alert, run_id=sid, dataset=name, offense=offense,
                    surface_computed=computed, ledger_seq=seq, timezone=zone,
                    surface_records=counted, asked_for=asked, mark=mark or "", deployment=deployment)
