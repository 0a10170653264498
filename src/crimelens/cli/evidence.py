"""`crimelens evidence ...` and `crimelens redact ...`: intake, custody, verification, redaction."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
from crimelens.cli._lazy import lazy
from crimelens.errors import InputError
from crimelens.evidence import FaceRedactor, TextRedactor
from crimelens.governance import RESEARCH, RESEARCH_MARK

if TYPE_CHECKING:  # checked by mypy as a real import; loaded when a command runs (see cli._lazy)
    from crimelens.services import evidence as svc
else:
    svc = lazy("crimelens.services.evidence")

__all__ = ["register"]

evidence_app = typer.Typer(help="Evidence: intake with SHA-256, chain of custody, verification.",
                           no_args_is_help=True)
redact_app = typer.Typer(help="Redact PII in text and faces in images/video for public release; "
                              "review and release.", no_args_is_help=True)


@contextmanager
def _progress(label: str, show: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not show:
        yield None
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


ClockAllowanceOpt = Annotated[int | None, typer.Option(
    "--clock-allowance-s", help="How far past this machine's clock --at may lie, in seconds, for a device "
                                "clock running ahead (0 to 86400; default CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S, "
                                "300). Recorded in the ledger entry.")]


# --------------------------------------------------------------------------- evidence
@evidence_app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="File to take in (any type).", exists=True, dir_okay=False)],
    case: Annotated[str, typer.Option("--case", help="Case (RD / report) number it belongs to.")],
    source: Annotated[str, typer.Option("--source", help="Where it came from: device, person, export.")],
    description: Annotated[str | None, typer.Option("--description", help="What it is.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Where it is kept.")] = None,
    received_at: Annotated[str | None, typer.Option("--at", help="When it was received (ISO-8601).")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Item this is derived from.")] = None,
    derivation: Annotated[str | None, typer.Option("--derivation",
                                                   help="redacted | transcript | frame | ...")] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Tool that made the derivative.")] = None,
    tool_version: Annotated[str | None, typer.Option("--tool-version", help="Its version.")] = None,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty", help="Take in a 0-byte file on purpose (refused otherwise: usually a failed copy); "
                              "the custody record and the ledger note it.")] = False,
    clock_allowance: ClockAllowanceOpt = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a file in as evidence: hash it, store it content-addressed, log the intake."""
    with cli_context(db, create=True) as ctx:
        # the service parses --at and checks the allowance, so that a refusal is a ledger entry
        item = svc.add_evidence(ctx, file, case_id=case, actor=cli_actor(ctx.settings), source=source,
                                purpose=purpose, description=description, location=location,
                                received_at=received_at, parent_item_id=parent,
                                derivation=derivation, tool=tool, tool_version=tool_version,
                                allow_empty=allow_empty, clock_allowance=clock_allowance)
        allowance = svc.clock_allowance_s(ctx, clock_allowance)
        data = {"ok": True, **item.to_json(), "same_content_as": svc.same_content_as(ctx, item),
                "deliberately_empty": item.size_bytes == 0, "clock_allowance_s": allowance,
                "link_target": str(file.readlink()) if file.is_symlink() else None}

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{d['item_id']}[/] case {esc(d['case_id'])}  sha256 {d['sha256']}  {d['size_bytes']} "
                      f"bytes  {esc(d['mime_type'])}"
                      + (f"  (derived from {d['parent_item_id']})" if d["parent_item_id"] else ""))
        if d["deliberately_empty"]:
            console.print("[yellow]note[/]: taken in empty (0 bytes) on purpose (--allow-empty); the custody "
                          "record and the ledger entry say so")
        if d["link_target"] is not None:
            console.print(f"[yellow]note[/]: {esc(str(file))} is a link to {esc(d['link_target'])}; the item is "
                          "the content it points to, and the custody record and ledger entry say so")
        if d["same_content_as"]:
            console.print(f"[yellow]note[/]: the case already holds these exact bytes as "
                          f"{', '.join(d['same_content_as'])}; both items stay, and the ledger entry says so")

    emit(data, as_json, render)


@evidence_app.command("transfer")
def transfer(
    item: Annotated[str, typer.Argument(help="Evidence item id, e.g. EV000001.")],
    to: Annotated[str, typer.Option("--to", help="Who (or where) takes the item.")],
    kind: Annotated[str, typer.Option("--kind", help="transfer | check-out | check-in.")] = "transfer",
    from_party: Annotated[str | None, typer.Option("--from", help="Who gives it (default: the current holder).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Where the handover happened.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When (ISO-8601 with offset; default: now). A late "
                                                        "entry is checked against the holder at that time.")] = None,
    return_follows: Annotated[bool, typer.Option(
        "--return-follows", help="A late entry that the later record no longer follows from (a handover whose "
                                 "return is not yet entered): record it anyway and enter the return next; the "
                                 "output and the ledger name the later event that disagrees until then.")] = False,
    clock_allowance: ClockAllowanceOpt = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a custody event: a check-out, check-in or transfer (each in the ledger, refused or not).

    The event is checked against the record at its time (--at, default now): a transfer whose --from
    is not the holder then is refused (record the missing handovers first, or leave --from out), and
    so is a late entry that would break the chain after it, unless --return-follows."""
    with cli_context(db) as ctx:
        rec = svc.record_custody(ctx, item, kind=kind, to_party=to, from_party=from_party,
                                 actor=cli_actor(ctx.settings), purpose=purpose, reason=reason,
                                 location=location, event_time=at, clock_allowance=clock_allowance,
                                 return_follows=return_follows)
    data = {"ok": True, **rec.to_json()}

    def render(d: dict[str, Any]) -> None:
        console.print(f"event {d['event_id']}: {d['kind']} of {d['item_id']} {esc(d['from_party'])} -> "
                      f"{esc(d['to_party'])}; holder now {esc(d['holder'])} (clock allowance "
                      f"{d['clock_allowance_s']} s)")
        if d["disagrees"] is not None:
            x = d["disagrees"]
            console.print(f"[yellow]now disagrees[/]: event {x['event_id']} ({x['kind']} at {x['event_time']}, given "
                          f"by {esc(x['from'])}) follows this handover to {esc(x['holder_then'])}; enter the return "
                          f"dated before it to close the chain")
        for g in d["gaps"]:
            console.print(f"[yellow]custody gap[/] {g['kind']}: {esc(g['message'])}")
        red = d.get("redaction")
        if red:
            colour = "green" if red["released"] else "bold yellow"
            console.print(f"[{colour}]redacted copy of run {red['run_id']}: {esc(red['note'])}[/]")

    emit(data, as_json, render)


@evidence_app.command("verify")
def verify(
    case: Annotated[str, typer.Argument(help="Case number.")],
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every item of a case, check its custody record and cross-check every stored field
    with the ledger; exit 4 when anything fails."""
    with cli_context(db) as ctx, _progress("re-hashing", ctx.settings.progress and not as_json) as prog:
        result = svc.verify_case(ctx, case, actor=cli_actor(ctx.settings), purpose=purpose, progress=prog)
    data = result.to_json()

    def render(d: dict[str, Any]) -> None:
        table(f"case {case}: {'OK' if d['ok'] else 'FAILED'}", ["item", "sha256", "ok", "problem"],
              [[i["item_id"], i["expected_sha256"][:16] + "…", "yes" if i["ok"] else "NO",
                "; ".join(i["problems"])] for i in d["items"]])
        for g in d["gaps"]:
            console.print(f"[yellow]custody gap[/] {g['item_id']} {g['kind']}: {esc(g['message'])}")
        if d["ledger_mismatches"]:
            table("ledger cross-check: the store differs from the ledger", ["item", "event", "entry", "kind",
                                                                            "field", "store", "ledger"],
                  [[m["item_id"], m["event_id"], m["ledger_seq"], m["kind"], m["field"], m["store_value"],
                    m["ledger_value"]] for m in d["ledger_mismatches"]])
        for note in d["notes"]:
            console.print(f"[dim]note[/]: {esc(note)}")

    emit(data, as_json, render)
    if not result.ok:
        raise typer.Exit(4)


@evidence_app.command("show")
def show(
    target: Annotated[str, typer.Argument(help="An item id (EV000001), or a case number with --case.")],
    case: Annotated[bool, typer.Option("--case", help="TARGET is a case: list its items.")] = False,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an item (custody, lineage back to the original's hash, derivatives) or a case's items."""
    with cli_context(db) as ctx:
        actor = cli_actor(ctx.settings)
        if case:
            data = svc.show_case(ctx, target, actor=actor, purpose=purpose)
        else:
            data = svc.show_item(ctx, target, actor=actor, purpose=purpose)
    if case:
        emit(data, as_json, lambda d: table(
            f"case {target}", ["item", "name", "type", "bytes", "sha256", "parent", "derivation", "holder"],
            [[i["item_id"], i["original_name"], i["mime_type"], i["size_bytes"], i["sha256"][:16] + "…",
              i["parent_item_id"], i["derivation"],
              f"{i['holder']}{' (out)' if i['checked_out'] else ''}"] for i in d["items"]]))
        return

    def render(d: dict[str, Any]) -> None:
        it = d["item"]
        console.print(f"[bold]{it['item_id']}[/] {esc(it['original_name'])} ({esc(it['mime_type'])}, "
                      f"{it['size_bytes']} bytes) case {esc(it['case_id'])}\n  sha256 {it['sha256']}\n"
                      f"  holder {esc(d['holder'])}{' (checked out)' if d['checked_out'] else ''}\n"
                      f"  original sha256 {d['original_sha256']}")
        table("custody", ["event", "kind", "from", "to", "time", "reason", "location"],
              [[e["event_id"], e["kind"], e["from"], e["to"], e["event_time"], e["reason"], e["location"]]
               for e in d["custody"]])
        table("lineage", ["item", "sha256", "derivation", "tool", "version"],
              [[x["item_id"], x["sha256"][:16] + "…", x["derivation"], x["tool"], x["tool_version"]]
               for x in d["lineage"]])
        if d["derivative_items"]:
            table("derivatives", ["item", "case", "derivation"],
                  [[x["item_id"], x["case_id"], x["derivation"]] for x in d["derivative_items"]])
        for g in d["gaps"]:
            console.print(f"[yellow]custody gap[/] {g['kind']}: {esc(g['message'])}")

    emit(data, as_json, render)


@evidence_app.command("cases")
def cases(purpose: PurposeOpt = RESEARCH, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the cases that hold evidence: items, derivatives, bytes, first and last intake (with UTC offset)."""
    with cli_context(db) as ctx:
        rows = svc.list_cases(ctx, actor=cli_actor(ctx.settings), purpose=purpose)
    emit({"cases": rows}, as_json, lambda d: table(
        "cases", ["case", "items", "derivatives", "bytes", "first intake", "last intake"],
        [[c["case_id"], c["n_items"], c["n_derivatives"], c["size_bytes"], c["first_added_at"],
          c["last_added_at"]] for c in d["cases"]]))


@evidence_app.command("export")
def export(
    item: Annotated[str, typer.Argument(help="Evidence item id, e.g. EV000001.")],
    out: Annotated[Path, typer.Option("--out", help="File to write the copy to (must not exist).")],
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a copy of an item's file (re-hashed first; logged as evidence.download)."""
    if out.exists():
        raise InputError(f"evidence export --out {out}: the file exists; expected a new path")
    with cli_context(db) as ctx:
        it, path = svc.open_content(ctx, item, actor=cli_actor(ctx.settings), purpose=purpose)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
    data = {"ok": True, "item_id": it.item_id, "sha256": it.sha256, "size_bytes": it.size_bytes, "out": str(out)}
    emit(data, as_json, lambda d: console.print(f"{d['item_id']} -> {esc(d['out'])} (sha256 {d['sha256']})"))


# --------------------------------------------------------------------------- redact
def _run_render(d: dict[str, Any]) -> None:
    console.print(f"[bold]{d['run_id']}[/] {d['kind']}: {d['n_units']} unit(s), {d['n_detections']} "
                  f"detection(s) -> {esc(d['output_name'])} (sha256 {d['output_sha256'][:16]}…); status "
                  f"{d['status']}; {d.get('n_review', 0)} item(s) queued for review.\n{RESEARCH_MARK}")


@redact_app.command("text")
def redact_text(
    src: Annotated[Path, typer.Argument(help='JSONL with {"report_id", "text"} per line.', exists=True,
                                        dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="JSONL out: adds entities and redacted.")],
    mode: Annotated[str, typer.Option("--mode", help="placeholder ([PHONE]) or pseudonym ([PERSON_1]).")
                    ] = "placeholder",
    ner: Annotated[str, typer.Option("--ner", help="auto | spacy | none (rules only).")] = "auto",
    case: Annotated[str | None, typer.Option("--case", help="Case whose evidence item SRC is.")] = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Detect PERSON, PHONE, EMAIL, STREET_ADDRESS, DATE_OF_BIRTH, US_SSN, LICENSE_PLATE, VIN,
    CASE_NUMBER and BADGE_NUMBER and write redacted copies; every document is queued for review."""
    if mode not in ("placeholder", "pseudonym") or ner not in ("auto", "spacy", "none"):
        raise InputError(f"redact text: got --mode {mode!r} --ner {ner!r}; expected placeholder|pseudonym "
                         "and auto|spacy|none")
    mode_l: Literal["placeholder", "pseudonym"] = "pseudonym" if mode == "pseudonym" else "placeholder"
    ner_l: Literal["auto", "spacy", "none"] = "spacy" if ner == "spacy" else "none" if ner == "none" else "auto"
    red = TextRedactor(mode=mode_l, ner=ner_l)
    with cli_context(db, create=True) as ctx, _progress("redacting", ctx.settings.progress and not as_json) as prog:
        run = svc.redact_text_file(ctx, src, out, actor=cli_actor(ctx.settings), purpose=purpose,
                                   redactor=red, case_id=case, progress=prog)
    emit({"ok": True, **run.to_json(), "n_review": run.n_units, "mark": RESEARCH_MARK}, as_json, _run_render)


@redact_app.command("image")
def redact_image(
    src: Annotated[Path, typer.Argument(help="Image (PNG, JPEG, ...).", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Redacted image (.png or .jpg).")],
    plates: Annotated[bool, typer.Option("--plates", help="Also blur licence plates (weak; see docs).")] = False,
    case: Annotated[str | None, typer.Option("--case", help="Register OUT as a derivative of SRC's item.")
                    ] = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Blur faces (Haar cascade) in an image; the result is queued for review."""
    with cli_context(db, create=True) as ctx:
        run = svc.redact_image_file(ctx, src, out, actor=cli_actor(ctx.settings), purpose=purpose,
                                    redactor=FaceRedactor(plates=plates), case_id=case)
    emit({"ok": True, **run.to_json(), "n_review": 1, "mark": RESEARCH_MARK}, as_json, _run_render)


@redact_app.command("video")
def redact_video(
    src: Annotated[Path, typer.Argument(help="Video OpenCV can read (AVI/MJPG, MP4).", exists=True,
                                        dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Redacted video (.avi = MJPG, .mp4 = mp4v).")],
    log: Annotated[Path | None, typer.Option("--log", help="Per-frame JSONL log (default: OUT.frames.jsonl).")
                   ] = None,
    review_every: Annotated[int, typer.Option("--review-every", help="Queue every n-th frame for review.")
                            ] = 25,
    plates: Annotated[bool, typer.Option("--plates", help="Also blur licence plates (weak; see docs).")] = False,
    case: Annotated[str | None, typer.Option("--case", help="Register OUT as a derivative of SRC's item.")
                    ] = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Blur faces frame by frame; one log line per frame; a sample of frames queued for review."""
    red = FaceRedactor(plates=plates, review_every=review_every)
    with cli_context(db, create=True) as ctx, _progress("frames", ctx.settings.progress and not as_json) as prog:
        run, log_path = svc.redact_video_file(ctx, src, out, actor=cli_actor(ctx.settings), purpose=purpose,
                                              redactor=red, case_id=case, log_path=log, progress=prog)
        n_review = len(svc.review_queue(ctx, run.run_id))
    emit({"ok": True, **run.to_json(), "frame_log": str(log_path), "n_review": n_review,
          "mark": RESEARCH_MARK}, as_json, _run_render)


@redact_app.command("review")
def review(
    run: Annotated[str, typer.Argument(help="Redaction run id, e.g. RR000001.")],
    unit: Annotated[str | None, typer.Option("--unit", help="Decide this item (report id or frame).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="confirmed | corrected | rejected.")] = None,
    add: Annotated[list[str] | None, typer.Option(
        "--add", help="Correction: a span to redact too, as start, end and type joined by colons "
                      "(e.g. 10:22:PERSON).")] = None,
    remove: Annotated[list[int] | None, typer.Option("--remove", help="Correction: detection idx to undo.")
                      ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Reviewer's note.")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="List pending items only.")] = False,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a run's review queue, or record a decision on one item (--unit with --status)."""
    if unit is None:
        given = [name for name, v in (("--status", status), ("--add", add), ("--remove", remove), ("--note", note))
                 if v]
        if given:  # without --unit the command lists the queue; a decision would be dropped unseen
            raise InputError(f"redact review {run}: got {', '.join(given)} without --unit; expected --unit "
                             "naming the item they decide (the report id or frame)")
    with cli_context(db) as ctx:
        if unit is None:
            queue = svc.review_queue(ctx, run, status="pending" if pending else None)
            emit({"run_id": run, "items": queue}, as_json, lambda d: table(
                f"review queue {run}", ["unit", "status", "reviewer", "detections"],
                [[q["unit"], q["status"], q["reviewer"],
                  ", ".join(f"{x['idx']}:{x['type']}" for x in q["detections"])] for q in d["items"]]))
            return
        if status not in ("confirmed", "corrected", "rejected"):
            raise InputError(f"redact review --unit {unit}: got --status {status!r}; expected confirmed, "
                             "corrected or rejected")
        adds: list[tuple[int, int, str]] = []
        for a in add or []:
            parts = a.split(":")
            if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
                raise InputError(f"--add: got {a!r}; expected START:END:TYPE, e.g. 10:22:PERSON")
            adds.append((int(parts[0]), int(parts[1]), parts[2]))
        st: Literal["confirmed", "corrected", "rejected"] = (
            "confirmed" if status == "confirmed" else "corrected" if status == "corrected" else "rejected")
        res = svc.decide_review(ctx, run, unit, status=st, actor=cli_actor(ctx.settings), purpose=purpose,
                                add=adds, remove=list(remove or []), note=note)
    emit({"ok": True, **res}, as_json, lambda d: console.print(f"{d['run_id']}/{esc(d['unit'])}: {d['status']}"))


@redact_app.command("release")
def release(
    run: Annotated[str, typer.Argument(help="Redaction run id.")],
    src: Annotated[Path | None, typer.Option("--in", help="Text runs: the original JSONL.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Text runs: release JSONL (no original text).")
                   ] = None,
    purpose: PurposeOpt = RESEARCH,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Release a fully reviewed run (refused while any item is pending or rejected)."""
    with cli_context(db) as ctx:
        res = svc.release_run(ctx, run, actor=cli_actor(ctx.settings), purpose=purpose, src=src, dst=out)
    emit({"ok": True, **res}, as_json, lambda d: console.print(
        f"{d['run_id']} released; output sha256 {d['output_sha256']}"))


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(redact_app, name="redact")
