"""Text-redaction misses and over-redactions an evidence custodian confirmed on short narratives.

Each case came through wrong before: a title taken for a person, a possessive or a bare surname
given its own pseudonym, names and numbers after police shorthand left in clear, street and
unit names taken for people, and ALL-CAPS reports left almost unredacted.
"""

from __future__ import annotations

import pytest

from crimelens.evidence import TextRedactor

NERS = ["none", "auto"]


def _redact(text: str, *, ner: str = "auto", mode: str = "placeholder") -> str:
    return TextRedactor(ner=ner, mode=mode).redact(text).text  # type: ignore[arg-type]


# 1. titles after a role word; one pseudonym per person -------------------------------------
@pytest.mark.parametrize("ner", NERS)
def test_a_title_is_not_a_person_and_a_possessive_is_the_same_person(ner: str) -> None:
    text = "Complainant Mrs. Jones stated that Mrs. Jones's car was hit by Mr. Lee."
    assert _redact(text, ner=ner, mode="pseudonym") == (
        "Complainant Mrs. [PERSON_1] stated that Mrs. [PERSON_1]'s car was hit by Mr. [PERSON_2].")
    assert _redact("the victim, Ms. Keisha Williams, who stated that Williams was pushed.",
                   ner=ner, mode="pseudonym") == (
        "the victim, Ms. [PERSON_1], who stated that [PERSON_1] was pushed.")
    assert _redact("Reporting party Mr. Ahmed Al-Farsi called.", ner=ner) == (
        "Reporting party Mr. [PERSON] called.")


@pytest.mark.parametrize("ner", NERS)
def test_a_bare_surname_before_the_full_name_joins_that_person(ner: str) -> None:
    text = "Garcia's brother Tom Garcia arrived. Ms. Garcia and witness Ana Reyes' car were gone."
    assert _redact(text, ner=ner, mode="pseudonym") == (
        "[PERSON_1]'s brother [PERSON_1] arrived. Ms. [PERSON_1] and witness [PERSON_2]' car were gone.")


# 2. misses -------------------------------------------------------------------------------------
@pytest.mark.parametrize("ner", NERS)
@pytest.mark.parametrize(("text", "expected"), [
    ("V1 stated her bf Darnell Price came home drunk. Price fled in a blk Honda.",
     "V1 stated her bf [PERSON] came home drunk. [PERSON] fled in a blk Honda."),
    ("V1 said Darnell Price hit her.", "V1 said [PERSON] hit her."),
    ("rp name is Latisha Brown.", "rp name is [PERSON]."),
    ("Sgt. Rich Banks #2211 on scene.", "Sgt. [PERSON] #[BADGE_NUMBER] on scene."),
    ("Ofc. John Kowalski #11872 transported.", "Ofc. [PERSON] #[BADGE_NUMBER] transported."),
    ("Sgt. Banks #2211 on scene.", "Sgt. [PERSON] #[BADGE_NUMBER] on scene."),
    ("Witness stated the plate was IL ABC1234.", "Witness stated the plate was [LICENSE_PLATE]."),
    ("The tag is CA 8ABC123.", "The tag is [LICENSE_PLATE]."),
    ("Vehicle plate IL ABC1234.", "Vehicle plate [LICENSE_PLATE]."),
])
def test_names_badges_and_plates_after_police_shorthand(ner: str, text: str, expected: str) -> None:
    assert _redact(text, ner=ner) == expected


@pytest.mark.parametrize("cue", ["ph", "ph#", "PH:", "cell", "c/", "tel"])
def test_a_bare_phone_number_after_police_shorthand(cue: str) -> None:
    assert _redact(f"R/P {cue} 3125550199.", ner="none") == f"R/P {cue} [PHONE]."


# 3. over-redaction -----------------------------------------------------------------------------
@pytest.mark.parametrize("ner", NERS)
def test_expressways_and_units_are_not_people(ner: str) -> None:
    text = "Suspect fled toward the Dan Ryan Expy. Detective Division notified."
    assert _redact(text, ner=ner) == text
    assert _redact("The vehicle was found at 9400 S Dan Ryan Expy.", ner=ner) == (
        "The vehicle was found at [STREET_ADDRESS].")


# 4. ALL CAPS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ner", NERS)
def test_all_caps_names_around_aka_and_caps_addresses(ner: str) -> None:
    text = ("SUSPECT DESCRIBED AS DEANDRE JOHNSON AKA 'DRE', LAST SEEN AT 5500 S HALSTED ST. "
            "CALL HIS MOTHER LORETTA JOHNSON AT 773 555 0166.")
    assert _redact(text, ner=ner, mode="pseudonym") == (
        "SUSPECT DESCRIBED AS [PERSON_1] AKA '[PERSON_2]', LAST SEEN AT [STREET_ADDRESS_1]. "
        "CALL HIS MOTHER [PERSON_3] AT [PHONE_1].")
    assert _redact("Marcus Bell aka Bird was arrested.", ner=ner) == "[PERSON] aka [PERSON] was arrested."
    assert _redact("R/O RESPONDED TO 4417 N KEDZIE AVE, APT 2R, CHICAGO, IL 60625.", ner=ner) == (
        "R/O RESPONDED TO [STREET_ADDRESS].")


# no new false positives on narratives without PII ---------------------------------------------
NO_PII = [
    "Unit 1234 responded to a burglar alarm at the 2100 block of S State St at 0315 hrs on "
    "11/29/2026. Building secure. Alarm company notified. Per 720 ILCS 5/19-1. Loss est $2,500. "
    "2019 Toyota Camry parked nearby. Beat 1831, car 4410.",
    "UNIT 1234 RESPONDED TO A BURGLAR ALARM AT THE 2100 BLOCK OF S STATE ST AT 0315 HRS ON "
    "11/29/2026. PER 720 ILCS 5/19-1. LOSS EST $2,500. 2019 TOYOTA CAMRY PARKED NEARBY. BEAT 1831, "
    "CAR 4410. ARRESTED 2 SUBJECTS IN THE ALLEY. SUSPECT, LAST SEEN NORTHBOUND.",
    "The plate was missing. The tag was 2019 and expired. Detectives from Area 5 were notified; "
    "Detective Bureau and the Dan Ryan Expy ramp closed. Car 4410 phoned dispatch at 0315 hrs.",
]


@pytest.mark.parametrize("ner", NERS)
@pytest.mark.parametrize("text", NO_PII)
def test_narratives_without_pii_stay_in_clear(ner: str, text: str) -> None:
    assert TextRedactor(ner=ner).detect(text) == []  # type: ignore[arg-type]
