"""Text redaction measured on generated narratives with planted, labelled PII.

The scoring set uses seed 11; the recognisers were tuned on seed 2026, and
HELD_OUT_FORMATS were never looked at while writing them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crimelens.errors import ApprovalRequiredError, InputError, InvalidParameterError
from crimelens.evidence import (
    HELD_OUT_FORMATS,
    PII_TYPES,
    DetectionScores,
    LabelledNarrative,
    PiiSpan,
    TextRedactor,
    generate_narratives,
    score_detections,
    vin_is_valid,
)
from crimelens.evidence._freeform import FREEFORM_STATEMENTS
from crimelens.governance import Actor
from crimelens.services import Context
from crimelens.services import evidence as svc

REQUIRED = ("PERSON", "PHONE", "EMAIL", "STREET_ADDRESS", "DATE_OF_BIRTH", "LICENSE_PLATE", "CASE_NUMBER")
ACTOR = Actor("analyst1")


@pytest.fixture(scope="module")
def narratives() -> list[LabelledNarrative]:
    return generate_narratives(300, random_state=11)


@pytest.fixture(scope="module")
def redactor() -> TextRedactor:
    return TextRedactor()


@pytest.fixture(scope="module")
def predictions(narratives: list[LabelledNarrative], redactor: TextRedactor) -> list[list[PiiSpan]]:
    return redactor.detect_many([d.text for d in narratives])


def _score(docs: list[LabelledNarrative], preds: list[list[PiiSpan]], keep: set[str] | None = None
           ) -> DetectionScores:
    gold = [[e for e in d.entities if keep is None or e.format in keep] for d in docs]
    if keep is not None:  # score only predictions that could match the kept formats
        preds = [[p for p in ps if any(p.start < g.end and g.start < p.end for g in gs)]
                 for ps, gs in zip(preds, gold, strict=True)]
    return score_detections([d.text for d in docs], gold, preds, types=PII_TYPES,
                            doc_ids=[d.report_id for d in docs])


def test_generator_is_seeded_labels_match_text_and_plants_every_type_in_several_formats(
        narratives: list[LabelledNarrative]) -> None:
    assert len(narratives) >= 300
    again = generate_narratives(5, random_state=11)
    assert [d.text for d in again] == [d.text for d in narratives[:5]]
    assert generate_narratives(5, random_state=12)[0].text != narratives[0].text
    formats: dict[str, set[str]] = {}
    for d in narratives:
        for e in d.entities:
            assert d.text[e.start:e.end] == e.text
            formats.setdefault(e.type, set()).add(e.format)
    assert set(formats) == set(PII_TYPES)
    assert all(len(f) >= 3 for f in formats.values()), formats
    assert {f for fs in formats.values() for f in fs} >= HELD_OUT_FORMATS
    seen_only = generate_narratives(50, random_state=3, formats="seen")
    assert not {e.format for d in seen_only for e in d.entities} & HELD_OUT_FORMATS


def test_per_type_recall_and_precision_on_300_narratives(
        narratives: list[LabelledNarrative], predictions: list[list[PiiSpan]], redactor: TextRedactor) -> None:
    assert redactor.ner_.startswith("spacy:")
    scores = _score(narratives, predictions)
    for t in REQUIRED:
        s = scores.per_type[t]
        assert s.n_gold >= 50, t
        assert s.recall >= 0.95, (t, s, [m for m in scores.missed if m[1] == t][:5])
        assert s.precision >= 0.90, (t, s, [m for m in scores.spurious if m[1] == t][:5])
    for t in ("US_SSN", "VIN", "BADGE_NUMBER"):
        assert scores.per_type[t].recall >= 0.9 and scores.per_type[t].precision >= 0.9, t


def test_held_out_formats_are_still_found(narratives: list[LabelledNarrative],
                                          predictions: list[list[PiiSpan]]) -> None:
    scores = _score(narratives, predictions, keep=set(HELD_OUT_FORMATS))
    total = sum(s.n_gold for s in scores.per_type.values())
    found = sum(s.n_found for s in scores.per_type.values())
    assert total >= 300
    assert found / total >= 0.9


def test_rules_alone_keep_structured_types(narratives: list[LabelledNarrative]) -> None:
    docs = narratives[:80]
    rules = TextRedactor(ner="none")
    assert rules.ner_ == "none"
    scores = _score(docs, rules.detect_many([d.text for d in docs]))
    for t in ("PHONE", "EMAIL", "STREET_ADDRESS", "DATE_OF_BIRTH", "LICENSE_PLATE", "CASE_NUMBER"):
        assert scores.per_type[t].recall >= 0.9, t


def _freeform_recall(redactor: TextRedactor) -> float:
    texts = [t for t, _ in FREEFORM_STATEMENTS]
    hits = total = 0
    for (text, names), spans in zip(FREEFORM_STATEMENTS, redactor.detect_many(texts), strict=True):
        found = [text[s.start:s.end] for s in spans if s.type == "PERSON"]
        for name in names:
            total += 1
            hits += any(name in f for f in found)
    return hits / total


def test_the_ner_finds_names_the_rules_cannot_in_hand_written_statements(redactor: TextRedactor) -> None:
    # the generated narratives always cue their names; these statements do not
    rules_only = _freeform_recall(TextRedactor(ner="none"))
    with_ner = _freeform_recall(redactor)
    assert rules_only <= 0.5
    assert with_ner >= 0.8


@pytest.mark.parametrize(("text", "absent"), [
    ("Officers canvassed the 1400 block of W Elm St and Grand Ave and Halsted St.", "STREET_ADDRESS"),
    ("On 03/14/2024 at approximately 2130 hours, Beat 1123 responded.", "DATE_OF_BIRTH"),
    ("Charged under 720 ILCS 5/19-1; loss estimated at $1,250; Unit 4410 assisted.", "PHONE"),
    ("The 2015 Honda Civic was towed from Lincoln Ave.", "PERSON"),
    ("SSN 666-12-3456 and 000-12-3456 are not valid numbers.", "US_SSN"),
])
def test_look_alikes_are_left_alone(redactor: TextRedactor, text: str, absent: str) -> None:
    assert absent not in {s.type for s in redactor.detect(text)}


def test_vin_check_digit() -> None:
    assert vin_is_valid("1M8GDM9AXKP042788")
    assert not vin_is_valid("1M8GDM9A1KP042788")
    assert not vin_is_valid("1M8GDM9AXKP04278")


def test_pseudonyms_are_consistent_within_a_document() -> None:
    text = ("V1 Maria Garcia stated that Tyrone Banks took her phone. GARCIA, Maria called "
            "(312) 555-0143. Banks fled. Ms. Garcia called 312-555-0143 again.")
    res = TextRedactor(mode="pseudonym").redact(text)
    assert res.text.count("[PERSON_1]") == 3 and res.text.count("[PERSON_2]") == 2
    assert "[PHONE_1]" in res.text and "Garcia" not in res.text and "Banks" not in res.text


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="unknown types"):
        TextRedactor(types=["PASSPORT"])
    with pytest.raises(InvalidParameterError, match="mode"):
        TextRedactor(mode="blackout")  # type: ignore[arg-type]


def _write_jsonl(path: Path, docs: list[LabelledNarrative]) -> None:
    path.write_text("".join(json.dumps({"report_id": d.report_id, "text": d.text}) + "\n" for d in docs))


def test_redaction_run_logs_hashes_queues_review_and_releases_only_after_review(
        ctx: Context, tmp_path: Path, narratives: list[LabelledNarrative]) -> None:
    docs = narratives[:4]
    src, out, rel = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "release.jsonl"
    _write_jsonl(src, docs)
    run = svc.redact_text_file(ctx, src, out, actor=ACTOR, redactor=TextRedactor(ner="none"))
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["report_id"] for x in lines] == [d.report_id for d in docs]
    for line in lines:
        assert {"report_id", "text", "entities", "redacted"} <= set(line)
        assert all({"start", "end", "type"} <= set(e) for e in line["entities"])
    # the log keeps hashes, never the redacted words
    log = ctx.store.query("SELECT * FROM redaction_log WHERE run_id = ?", [run.run_id])
    assert len(log) == run.n_detections == sum(len(x["entities"]) for x in lines)
    first = lines[0]["entities"][0]
    value = docs[0].text[first["start"]:first["end"]]
    assert log.iloc[0]["value_sha256"] == hashlib.sha256(value.encode()).hexdigest()
    assert not any(value in str(v) for v in log.astype(str).to_numpy().ravel())
    entry = ctx.ledger.entry(run.ledger_seq)
    assert value not in json.dumps(entry.to_payload())

    # release is refused (and the refusal logged) while reviews are pending
    with pytest.raises(ApprovalRequiredError, match="pending"):
        svc.release_run(ctx, run.run_id, actor=ACTOR, src=src, dst=rel)
    assert ctx.ledger.entries(action="redact.release")[-1][1].outcome == "refused"

    reviewer = Actor("sgt_reviewer", "supervisor")
    # the reviewer spots something the redactor left: "stated" here stands in for a missed word
    missed_at = docs[1].text.find("R/O")
    if missed_at < 0:
        missed_at = 0
    svc.decide_review(ctx, run.run_id, docs[1].report_id, status="corrected", actor=reviewer,
                      add=[(missed_at, missed_at + 3, "PERSON")], remove=[0])
    for d in (docs[0], docs[2], docs[3]):
        svc.decide_review(ctx, run.run_id, d.report_id, status="confirmed", actor=reviewer)
    with pytest.raises(InputError, match="SHA-256"):
        other = tmp_path / "other.jsonl"
        _write_jsonl(other, docs[:2])
        svc.release_run(ctx, run.run_id, actor=ACTOR, src=other, dst=rel)
    res = svc.release_run(ctx, run.run_id, actor=ACTOR, src=src, dst=rel)
    assert res["status"] == "released"
    released = [json.loads(x) for x in rel.read_text().splitlines()]
    assert all(set(r) == {"report_id", "redacted"} for r in released)
    assert released[0]["redacted"] == lines[0]["redacted"]
    corrected = released[1]["redacted"]
    first_removed = lines[1]["entities"][0]
    assert docs[1].text[first_removed["start"]:first_removed["end"]] in corrected  # un-redacted on review
    for d, r in zip(docs, released, strict=True):
        for e in d.entities:
            if d is docs[1] and e.start == first_removed["start"]:
                continue
            assert e.text not in r["redacted"] or (e.type == "PERSON" and len(e.text) < 4)


def test_bad_input_lines_are_reported_with_their_line_number(ctx: Context, tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"report_id": "a", "text": "ok"}\n{"id": 3}\n')
    with pytest.raises(InputError, match="line 2"):
        svc.redact_text_file(ctx, src, tmp_path / "o.jsonl", actor=ACTOR, redactor=TextRedactor(ner="none"))


def test_scoring_counts_partial_redaction_as_a_miss_but_an_overlap() -> None:
    text = "Call 312-555-0143 now"
    gold = [[PiiSpan(5, 17, "PHONE", "gold", 1.0)]]
    partial = [[PiiSpan(9, 17, "PHONE", "x", 1.0), PiiSpan(18, 21, "PHONE", "x", 1.0)]]
    s = score_detections([text], gold, partial, types=["PHONE"]).per_type["PHONE"]
    assert (s.recall, s.overlap_recall, s.exact_recall, s.precision) == (0.0, 1.0, 0.0, 0.5)
    whole = [[PiiSpan(5, 9, "PHONE", "x", 1.0), PiiSpan(9, 17, "PHONE", "x", 1.0)]]
    s = score_detections([text], gold, whole, types=["PHONE"]).per_type["PHONE"]
    assert (s.recall, s.exact_recall, s.precision) == (1.0, 0.0, 1.0)


def test_released_text_of_a_case_item_is_a_derivative_of_it(ctx: Context, tmp_path: Path,
                                                            narratives: list[LabelledNarrative]) -> None:
    src, out, rel = tmp_path / "case.jsonl", tmp_path / "case.out.jsonl", tmp_path / "case.release.jsonl"
    _write_jsonl(src, narratives[10:12])
    original = svc.add_evidence(ctx, src, case_id="JA400001", actor=ACTOR, source="RMS export")
    run = svc.redact_text_file(ctx, src, out, actor=ACTOR, case_id="JA400001",
                               redactor=TextRedactor(ner="none"))
    assert run.source_item_id == original.item_id
    for d in narratives[10:12]:
        svc.decide_review(ctx, run.run_id, d.report_id, status="confirmed", actor=Actor("sgt", "supervisor"))
    res = svc.release_run(ctx, run.run_id, actor=ACTOR, src=src, dst=rel)
    copy = svc.item_report(ctx, str(res["output_item_id"]))
    assert copy["original_sha256"] == original.sha256
    assert copy["item"]["derivation"] == "redacted" and copy["item"]["tool"] == "crimelens.redact.text"
    assert copy["item"]["sha256"] == res["output_sha256"]
    assert svc.verify_case(ctx, "JA400001", actor=ACTOR).ok


# Findings of the 2024 privacy audit: each text came through half redacted or not at all.
NERS = ["none", "auto"]


@pytest.mark.parametrize("ner", NERS)
@pytest.mark.parametrize(("text", "expected"), [
    ("Vehicle plate IL ABC 1234 was seen.", "Vehicle plate [LICENSE_PLATE] was seen."),
    ("License plate: CA 8ABC123.", "License plate: [LICENSE_PLATE]."),
    ("Registration IL-ABC-1234 returned stolen.", "Registration [LICENSE_PLATE] returned stolen."),
    ("Reg AB12 CDE seen on CCTV.", "Reg [LICENSE_PLATE] seen on CCTV."),
    ("tag AB-12-CD, a Honda", "tag [LICENSE_PLATE], a Honda"),
    ("PLATE ABC 1234 WAS SEEN", "PLATE [LICENSE_PLATE] WAS SEEN"),
    ("The plate was missing.", "The plate was missing."),
])
def test_a_plate_after_a_cue_is_redacted_whole_state_code_included(ner: str, text: str,
                                                                   expected: str) -> None:
    assert TextRedactor(ner=ner).redact(text).text == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("ner", NERS)
def test_a_name_in_a_person_context_is_redacted_though_its_surname_is_a_place(ner: str) -> None:
    r = TextRedactor(ner=ner, mode="pseudonym")  # type: ignore[arg-type]
    res = r.redact("Later, Ms. Garcia identified the suspect as Tyrone Washington. "
                   "Washington was arrested.")
    assert res.text == ("Later, Ms. [PERSON_1] identified the suspect as [PERSON_2]. "
                        "[PERSON_2] was arrested.")
    res = r.redact("Officers identified him as Jordan Madison. Madison lives on Madison St.")
    assert res.text == "Officers identified him as [PERSON_1]. [PERSON_1] lives on Madison St."


@pytest.mark.parametrize("ner", NERS)
def test_a_role_word_stays_in_clear_and_the_person_keeps_one_pseudonym(ner: str) -> None:
    r = TextRedactor(ner=ner, mode="pseudonym")  # type: ignore[arg-type]
    for caps in ("GARCIA, Maria", "GARCIA, MARIA"):
        text = (f"Victim Maria Garcia stated she was robbed. {caps} was treated at the scene. "
                "Ms. Garcia declined transport.")
        assert r.redact(text).text == ("Victim [PERSON_1] stated she was robbed. [PERSON_1] was "
                                       "treated at the scene. Ms. [PERSON_1] declined transport.")
    assert r.redact("Witness Sarah Madison saw it.").text == "Witness [PERSON_1] saw it."


@pytest.mark.parametrize(("text", "expected"), [
    ("Call 07700 900123 or +44 115 496 0765.", "Call [PHONE] or [PHONE]."),
    ("Mobile 07911123456, office (020) 7946 0958, +44 (0)20 7946 0958.",
     "Mobile [PHONE], office [PHONE], [PHONE]."),
    ("Home address postcode NG7 2RD; work LS1 4AB; postcode: SW1A1AA.",
     "Home address postcode [STREET_ADDRESS]; work [STREET_ADDRESS]; postcode: [STREET_ADDRESS]."),
    ("A silver Ford Focus AB12 CDE was seen.", "A silver Ford Focus [LICENSE_PLATE] was seen."),
    # look-alikes that must stay: times, dates, case numbers, statutes, bare serials
    ("At 0115 hours on 03/14/2024 Beat 1123 responded under 720 ILCS 5/19-1.",
     "At 0115 hours on 03/14/2024 Beat 1123 responded under 720 ILCS 5/19-1."),
    ("Serial 01234567890 was recorded.", "Serial 01234567890 was recorded."),
])
def test_uk_phone_numbers_postcodes_and_plates(text: str, expected: str) -> None:
    assert TextRedactor(ner="none").redact(text).text == expected
