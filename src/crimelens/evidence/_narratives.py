"""A seeded generator of synthetic police narratives with planted, labelled PII.

Each narrative is built from sentence templates (several phrasings per kind of
sentence) and PII values drawn in several written formats per type. Every
planted value is labelled with its exact character span and its *format*; some
formats are marked ``held_out`` (:data:`HELD_OUT_FORMATS`): the recognisers in
:mod:`crimelens.evidence._textpii` were written against the other formats
only, so the held-out slice of the scores shows how they do on spellings they
were not written for.

The text also carries look-alikes that are *not* PII and must not be redacted:
incident dates and times, block-level locations ("the 1400 block of W Elm
St"), intersections, beat and car numbers, statute citations, money amounts,
vehicle model years, street names that are also surnames ("Lincoln Ave").

Failure modes, by construction: the people, streets and e-mail domains come
from short lists written for this module, so the set is far more regular than
real reports (no typos, no OCR noise, no free-form witness statements in dialect).
Scores on it are an upper bound on what to expect on real narratives.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "HELD_OUT_FORMATS",
    "PII_TYPES",
    "LabelledEntity",
    "LabelledNarrative",
    "generate_narratives",
]

#: The PII types the generator plants and the redactor detects.
PII_TYPES: tuple[str, ...] = (
    "PERSON",
    "PHONE",
    "EMAIL",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "US_SSN",
    "LICENSE_PLATE",
    "VIN",
    "CASE_NUMBER",
    "BADGE_NUMBER",
)

#: Formats the recognisers were *not* written against (see module docstring).
HELD_OUT_FORMATS: frozenset[str] = frozenset(
    {
        "person.caps_last_first_middle",
        "person.hyphenated",
        "phone.bare10",
        "phone.spaced",
        "email.upper",
        "email.plus_subdomain",
        "address.long_name",
        "address.unit_suffix",
        "dob.birthdate_dashes",
        "dob.ordinal_month",
        "ssn.bare",
        "plate.dash_digits_first",
        "vin.no_context",
        "case.cr_prefix",
        "badge.shield",
    }
)


@dataclass(frozen=True, slots=True)
class LabelledEntity:
    """One planted PII value: half-open character span ``[start, end)``."""

    start: int
    end: int
    type: str
    format: str
    text: str


@dataclass(frozen=True, slots=True)
class LabelledNarrative:
    """A synthetic narrative and the PII planted in it."""

    report_id: str
    text: str
    entities: tuple[LabelledEntity, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "report_id": self.report_id,
            "text": self.text,
            "entities": [
                {"start": e.start, "end": e.end, "type": e.type, "format": e.format}
                for e in self.entities
            ],
        }


# --------------------------------------------------------------------------- word lists
_FIRST = ["Maria", "James", "Aaliyah", "Wei", "DeShawn", "Olga", "Tomasz", "Fatima", "Luis", "Keisha", "Ahmed", "Priya", "Connor", "Mei", "Jamal", "Sofia", "Dmitri", "Nia", "Carlos", "Hannah", "Tyrone", "Guadalupe", "Kwame", "Ingrid", "Rashid", "Emily", "Jose", "Latoya", "Hiroshi", "Ana", "Darnell", "Svetlana", "Miguel", "Brianna", "Kofi", "Elena", "Marcus", "Yolanda", "Andre", "Leticia", "Terrence", "Ngozi", "Patrick", "Imani", "Rosa", "Victor", "Shanice", "Oleksandr", "Camila", "Devon", "Bridget", "Omar", "Tamika", "Stefan", "Lakshmi", "Reginald", "Ximena", "Cedric", "Noura", "Jerome"]
_MIDDLE = ["A", "B", "C", "D", "E", "F", "J", "K", "L", "M", "R", "S", "T", "W"]
_LAST = ["Garcia", "Johnson", "Nguyen", "Kowalski", "Okafor", "Hernandez", "Washington", "Patel", "Smith", "Ramirez", "Jackson", "Kim", "Brown", "Rodriguez", "Williams", "Novak", "Mensah", "Lopez", "Davis", "Ivanova", "Thompson", "Castillo", "Owusu", "Murphy", "Hassan", "Robinson", "Tanaka", "Martinez", "Coleman", "Flores", "Sullivan", "Morales", "Jenkins", "Petrov", "Adeyemi", "Reyes", "Harris", "Wojcik", "Gutierrez", "Banks", "Chen", "Ortiz", "Mitchell", "Nakamura", "Delgado", "Bailey", "Yilmaz", "Mendoza", "Franklin", "Kaminski", "Chukwu", "Vargas", "Grant", "Schultz", "Medina", "Pierce", "Abdullah", "Rivera"]
_HYPHEN_LAST = ["Garcia-Lopez", "Smith-Jones", "O'Brien", "Ruiz-Mendez", "O'Connor", "Al-Hassan", "Perez-Rivera", "McAllister-Grey", "Diaz-Ortega", "D'Angelo"]
_STREETS = ["Elm", "Oak", "Maple", "Cedar", "Pine", "Walnut", "Chestnut", "Lincoln", "Washington", "Jefferson", "Madison", "Monroe", "Halsted", "Ashland", "Western", "Kedzie", "Pulaski", "Cicero", "Damen", "Racine", "Harlem", "Austin", "Division", "Grand", "Fullerton", "Belmont", "Irving", "Lawrence", "Foster", "Devon", "Roosevelt", "Cermak", "Archer", "Garfield", "Marquette"]
_LONG_STREETS = (
    "Martin Luther King Jr",
    "South Shore",
    "Old Orchard",
    "Lake Shore",
    "Blue Island",
    "Rainbow Beach",
)
_SUFFIX_SHORT = ["St", "Ave", "Blvd", "Rd", "Dr", "Ln", "Ct", "Pl", "Pkwy", "Ter"]
_SUFFIX_LONG = ["Street", "Avenue", "Boulevard", "Road", "Drive", "Lane", "Court", "Place", "Parkway", "Terrace"]
_DIRS_SHORT = ["N", "S", "E", "W"]
_DIRS_LONG = ["North", "South", "East", "West"]
_CITIES = (("Springfield", "IL"), ("Riverside", "CA"), ("Fairview", "OH"), ("Madison", "WI"),
           ("Franklin", "TN"), ("Georgetown", "TX"), ("Salem", "OR"), ("Clinton", "MI"))
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "comcast.net", "icloud.com", "aol.com",
            "hotmail.com", "protonmail.com")
_SUBDOMAINS = ("mail.northwestern.edu", "students.uic.edu", "cityofchicago.org", "mx.example.net")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
_MON3 = [m[:3] for m in _MONTHS]
_MAKES = ("Honda Civic", "Toyota Camry", "Ford F-150", "Chevrolet Malibu", "Nissan Altima",
          "Dodge Charger", "Hyundai Elantra", "Jeep Cherokee", "Kia Optima", "BMW 328i")
_COLOURS = ("black", "white", "silver", "grey", "red", "blue", "green", "maroon", "gold")
_STATES = ("IL", "IN", "WI", "MI", "CA", "TX", "OH", "NY", "FL", "GA")
_ITEMS = ("a laptop computer", "a cellular phone", "a wallet containing $140 USD",
          "two televisions", "assorted jewelry", "a bicycle", "a purse", "prescription medication",
          "a PlayStation 5", "power tools valued at $1,250")
_OFFENSES = ("burglary", "theft", "robbery", "criminal damage to property", "aggravated battery",
             "motor vehicle theft", "domestic battery", "criminal trespass", "retail theft")
_STATUTES = ("720 ILCS 5/19-1", "720 ILCS 5/16-1", "720 ILCS 5/18-1", "720 ILCS 5/21-1",
             "625 ILCS 5/4-103")
_BUSINESSES = ("Walgreens", "Jewel-Osco", "the Shell gas station", "Target", "a CVS pharmacy",
               "Lincoln Park Zoo", "Washington Park", "the Red Line platform")

_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """The ISO 3779 / 49 CFR 565 check character (position 9) of a 17-character VIN."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin.upper(), _VIN_WEIGHTS, strict=True))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


# --------------------------------------------------------------------------- value makers
Part = str | tuple[str, str, str]  # plain text, or (type, format, value)


class _Maker:
    """Draws PII values in one of several formats, and sentence templates around them."""

    def __init__(self, rng: random.Random, allowed: Callable[[str], bool]) -> None:
        self.rng = rng
        self.allowed = allowed

    def pick_format(self, formats: list[str]) -> str:
        usable = [f for f in formats if self.allowed(f)]
        return self.rng.choice(usable or formats)

    # people --------------------------------------------------------------------------
    def person(self, fmt: str | None = None) -> tuple[str, str, str]:
        r = self.rng
        fmt = fmt or self.pick_format(
            ["person.first_last", "person.first_middle_last", "person.last_comma_first",
             "person.caps_last_first_middle", "person.hyphenated"]
        )
        first, last, mid = r.choice(_FIRST), r.choice(_LAST), r.choice(_MIDDLE)
        if fmt == "person.first_last":
            value = f"{first} {last}"
        elif fmt == "person.first_middle_last":
            value = f"{first} {mid}. {last}"
        elif fmt == "person.last_comma_first":
            value = f"{last.upper()}, {first}"
        elif fmt == "person.caps_last_first_middle":
            value = f"{last.upper()}, {first.upper()} {mid}"
        elif fmt == "person.hyphenated":
            value = f"{first} {r.choice(_HYPHEN_LAST)}"
        elif fmt == "person.surname":
            value = last
        elif fmt == "person.initial_last":
            value = f"{first[0]}. {last}"
        else:
            raise ValueError(fmt)
        return ("PERSON", fmt, value)

    def phone(self) -> tuple[str, str, str]:
        r = self.rng
        fmt = self.pick_format(["phone.paren", "phone.dashes", "phone.dots", "phone.plus1",
                                "phone.one_dash", "phone.bare10", "phone.spaced"])
        a = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        b = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        c = f"{r.randint(0, 9999):04d}"
        value = {
            "phone.paren": f"({a}) {b}-{c}",
            "phone.dashes": f"{a}-{b}-{c}",
            "phone.dots": f"{a}.{b}.{c}",
            "phone.plus1": f"+1 {a} {b} {c}",
            "phone.one_dash": f"1-{a}-{b}-{c}",
            "phone.bare10": f"{a}{b}{c}",
            "phone.spaced": f"{a} {b} {c}",
        }[fmt]
        return ("PHONE", fmt, value)

    def email(self, first: str | None = None, last: str | None = None) -> tuple[str, str, str]:
        r = self.rng
        first = (first or r.choice(_FIRST)).lower()
        last = (last or r.choice(_LAST)).lower().replace("'", "")
        fmt = self.pick_format(["email.dot", "email.initial_digits", "email.underscore",
                                "email.upper", "email.plus_subdomain"])
        if fmt == "email.dot":
            value = f"{first}.{last}@{r.choice(_DOMAINS)}"
        elif fmt == "email.initial_digits":
            value = f"{first[0]}{last}{r.randint(1, 99)}@{r.choice(_DOMAINS)}"
        elif fmt == "email.underscore":
            value = f"{first}_{last}@{r.choice(_DOMAINS)}"
        elif fmt == "email.upper":
            value = f"{first}.{last}@{r.choice(_DOMAINS)}".upper()
        else:
            value = f"{first}{last[0]}+{r.choice(['tips', 'work', 'x'])}@{r.choice(_SUBDOMAINS)}"
        return ("EMAIL", fmt, value)

    def address(self) -> tuple[str, str, str]:
        r = self.rng
        fmt = self.pick_format(["address.short", "address.long", "address.apt", "address.city_zip",
                                "address.numbered", "address.long_name", "address.unit_suffix"])
        num = str(r.randint(1, 12999))
        street, sfx, sfx_long = r.choice(_STREETS), r.choice(_SUFFIX_SHORT), r.choice(_SUFFIX_LONG)
        d, dl = r.choice(_DIRS_SHORT), r.choice(_DIRS_LONG)
        if fmt == "address.short":
            value = f"{num} {d} {street} {sfx}"
        elif fmt == "address.long":
            value = f"{num} {dl} {street} {sfx_long}"
        elif fmt == "address.apt":
            unit = r.choice([f"Apt. {r.randint(1, 30)}{r.choice('ABCD')}", f"Apt {r.randint(100, 999)}",
                             f"#{r.randint(1, 40)}"])
            value = f"{num} {d}. {street} {sfx}., {unit}"
        elif fmt == "address.city_zip":
            city, state = r.choice(_CITIES)
            value = f"{num} {street} {sfx_long}, {city}, {state} {r.randint(10000, 99999)}"
        elif fmt == "address.numbered":
            n = r.randint(1, 120)
            suf = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            value = f"{num} {d} {n}{suf} {r.choice(['St', 'Street', 'Pl'])}"
        elif fmt == "address.long_name":
            value = f"{num} {d} {r.choice(_LONG_STREETS)} {r.choice(['Dr', 'Drive', 'Ave'])}"
        else:
            value = f"{num}-{r.choice('ABC')} {street} {sfx_long} Unit {r.randint(1, 40)}"
        return ("STREET_ADDRESS", fmt, value)

    def dob(self) -> list[Part]:
        """A date of birth with the words that introduce it (only the date is labelled)."""
        r = self.rng
        fmt = self.pick_format(["dob.slash", "dob.iso", "dob.born_long", "dob.words_day_mon",
                                "dob.slash_short", "dob.birthdate_dashes", "dob.ordinal_month"])
        y, m, d = r.randint(1940, 2010), r.randint(1, 12), r.randint(1, 28)
        if fmt == "dob.slash":
            return [r.choice(["DOB ", "DOB: ", "D.O.B. "]), ("DATE_OF_BIRTH", fmt, f"{m:02d}/{d:02d}/{y}")]
        if fmt == "dob.iso":
            return [r.choice(["D.O.B.: ", "DOB "]), ("DATE_OF_BIRTH", fmt, f"{y}-{m:02d}-{d:02d}")]
        if fmt == "dob.born_long":
            return ["born ", ("DATE_OF_BIRTH", fmt, f"{_MONTHS[m - 1]} {d}, {y}")]
        if fmt == "dob.words_day_mon":
            return ["date of birth ", ("DATE_OF_BIRTH", fmt, f"{d} {_MON3[m - 1]} {y}")]
        if fmt == "dob.slash_short":
            return ["DOB ", ("DATE_OF_BIRTH", fmt, f"{m}/{d}/{y % 100:02d}")]
        if fmt == "dob.birthdate_dashes":
            return ["birthdate of ", ("DATE_OF_BIRTH", fmt, f"{m:02d}-{d:02d}-{y}")]
        suf = "th" if 10 <= d <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
        return ["DOB: ", ("DATE_OF_BIRTH", fmt, f"{_MONTHS[m - 1]} {d}{suf}, {y}")]

    def ssn(self) -> list[Part]:
        r = self.rng
        fmt = self.pick_format(["ssn.dashes", "ssn.spaces", "ssn.bare"])
        area = r.choice([n for n in range(1, 900) if n != 666])
        a, g, s = f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"
        value = {"ssn.dashes": f"{a}-{g}-{s}", "ssn.spaces": f"{a} {g} {s}", "ssn.bare": f"{a}{g}{s}"}[fmt]
        lead = {"ssn.dashes": r.choice(["SSN ", "SSN: ", "social security number "]),
                "ssn.spaces": r.choice(["social security number ", "SSN "]),
                "ssn.bare": r.choice(["SS# ", "SSN "])}[fmt]
        return [lead, ("US_SSN", fmt, value)]

    def plate(self) -> list[Part]:
        r = self.rng
        fmt = self.pick_format(["plate.letters_digits", "plate.spaced", "plate.ca_style",
                                "plate.dash", "plate.dash_digits_first"])

        def L(k: int) -> str:
            return "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(k))

        def D(k: int) -> str:
            return "".join(r.choice("0123456789") for _ in range(k))

        value = {
            "plate.letters_digits": f"{L(r.choice([2, 3]))}{D(r.choice([3, 4]))}",
            "plate.spaced": f"{L(3)} {D(4)}",
            "plate.ca_style": f"{r.randint(1, 9)}{L(3)}{D(3)}",
            "plate.dash": f"{L(3)}-{D(r.choice([3, 4]))}",
            "plate.dash_digits_first": f"{D(3)}-{L(3)}",
        }[fmt]
        state = r.choice(_STATES)
        lead = r.choice([f"{state} plate ", f"bearing {state} license plate ", "plate number ",
                         f"{state} registration ", "license plate ", "tag "])
        return [lead, ("LICENSE_PLATE", fmt, value)]

    def vin(self) -> list[Part]:
        r = self.rng
        fmt = self.pick_format(["vin.labelled", "vin.long_label", "vin.no_context"])
        body = [r.choice(_VIN_CHARS) for _ in range(17)]
        body[8] = "0"
        body[8] = vin_check_digit("".join(body))
        value = "".join(body)
        lead = {"vin.labelled": r.choice(["VIN ", "VIN: ", "VIN# "]),
                "vin.long_label": "vehicle identification number ",
                "vin.no_context": "chassis stamped "}[fmt]
        return [lead, ("VIN", fmt, value)]

    def case_number(self) -> list[Part]:
        r = self.rng
        fmt = self.pick_format(["case.rd", "case.case_no", "case.report_hash", "case.cb",
                                "case.cr_prefix"])
        yr = r.randint(2018, 2025)
        if fmt == "case.rd":
            return [r.choice(["RD# ", "RD ", "RD #"]),
                    ("CASE_NUMBER", fmt, f"{r.choice(['J', 'H'])}{r.choice('ABCDEFGHJ')}{r.randint(100000, 999999)}")]
        if fmt == "case.case_no":
            return [r.choice(["Case No. ", "case number ", "Case #"]),
                    ("CASE_NUMBER", fmt, f"{yr}-{r.randint(1, 999999):06d}")]
        if fmt == "case.report_hash":
            return [r.choice(["Report #", "report no. ", "Incident #"]),
                    ("CASE_NUMBER", fmt, f"{yr % 100:02d}-{r.randint(1, 999999):06d}")]
        if fmt == "case.cb":
            return [r.choice(["CB# ", "CB #"]), ("CASE_NUMBER", fmt, f"{r.randint(10000000, 99999999)}")]
        return ["under ", ("CASE_NUMBER", fmt, f"CR-{yr}-{r.randint(1, 9999999):07d}")]

    def badge(self) -> list[Part]:
        r = self.rng
        fmt = self.pick_format(["badge.badge_hash", "badge.star", "badge.number_words",
                                "badge.shield"])
        n = str(r.randint(100, 99999))
        lead = {"badge.badge_hash": r.choice(["badge #", "Badge #", "badge "]),
                "badge.star": r.choice(["Star #", "star # ", "Star "]),
                "badge.number_words": "badge number ",
                "badge.shield": r.choice(["shield ", "Shield #"])}[fmt]
        return [lead, ("BADGE_NUMBER", fmt, n)]

    # look-alikes (not PII) ---------------------------------------------------------------
    def incident_date(self) -> str:
        r = self.rng
        y, m, d = r.randint(2019, 2025), r.randint(1, 12), r.randint(1, 28)
        return r.choice([f"{m:02d}/{d:02d}/{y}", f"{_MONTHS[m - 1]} {d}, {y}", f"{y}-{m:02d}-{d:02d}",
                         f"{d} {_MON3[m - 1]} {y}"])

    def hours(self) -> str:
        return f"{self.rng.randint(0, 23):02d}{self.rng.choice(['00', '15', '30', '45', '10', '52'])} hours"

    def block(self) -> str:
        r = self.rng
        return f"the {r.randint(1, 129)}00 block of {r.choice(_DIRS_SHORT)} {r.choice(_STREETS)} {r.choice(_SUFFIX_SHORT)}"

    def intersection(self) -> str:
        r = self.rng
        a, b = r.sample(_STREETS, 2)
        return f"{a} {r.choice(_SUFFIX_SHORT)} and {b} {r.choice(_SUFFIX_LONG)}"


def _officer(m: _Maker) -> list[Part]:
    r = m.rng
    title = r.choice(["Officer ", "Ofc. ", "P.O. ", "Det. ", "Sgt. ", "Deputy "])
    name = m.person(r.choice(["person.surname", "person.initial_last", "person.first_last"]))
    tail: list[Part] = []
    choice = r.random()
    if choice < 0.35:
        tail = [" (", *m.badge(), ")"]
    elif choice < 0.6:
        tail = [", ", *m.badge(), ","]
    return [title, name, *tail]


def _role(m: _Maker) -> str:
    return m.rng.choice(["victim", "complainant", "witness", "reporting party", "suspect", "arrestee",
                         "the owner", "the driver", "her neighbor", "the store manager"])


# Sentence templates: each returns the parts of one sentence.
def _s_dispatch(m: _Maker) -> list[Part]:
    r = m.rng
    return r.choice([
        ["On ", m.incident_date(), " at approximately ", m.hours(), ", R/O responded to ",
         m.address(), " regarding a ", r.choice(_OFFENSES), " call."],
        ["R/Os were dispatched to ", m.address(), " at ", m.hours(), " for a report of ",
         r.choice(_OFFENSES), "."],
        ["Beat ", str(r.randint(1000, 2599)), " responded to ", m.block(), " on ",
         m.incident_date(), " for a ", r.choice(_OFFENSES), " in progress."],
        ["Units were called to the area of ", m.intersection(), " at ", m.hours(), "."],
        ["This report concerns ", *m.case_number(), ", a ", r.choice(_OFFENSES),
         " reported on ", m.incident_date(), "."],
    ])


def _s_victim(m: _Maker) -> list[Part]:
    r = m.rng
    p = m.person()
    return r.choice([
        ["The ", _role(m), ", ", p, " (", *m.dob(), "), stated that ", r.choice(["he", "she", "they"]),
         " returned home and found ", r.choice(_ITEMS), " missing."],
        ["R/O spoke with ", p, ", who resides at ", m.address(), " and can be reached at ", m.phone(), "."],
        ["V1 ", p, ", ", *m.dob(), ", reported that an unknown offender took ", r.choice(_ITEMS), "."],
        [p, " stated that ", r.choice(["he", "she"]), " last saw ", r.choice(_ITEMS), " at ",
         m.hours(), " near ", r.choice(_BUSINESSES), "."],
        ["Witness ", p, " (", m.phone(), ") observed the offender flee ", r.choice(["northbound",
         "southbound", "eastbound", "westbound"]), " on ", r.choice(_STREETS), " ",
         r.choice(_SUFFIX_LONG), "."],
        ["Complainant: ", p, "; address: ", m.address(), "; phone: ", m.phone(), "."],
    ])


def _s_suspect(m: _Maker) -> list[Part]:
    r = m.rng
    p = m.person()
    return r.choice([
        ["S1 was identified as ", p, ", ", *m.dob(), ", ", *m.ssn(), ", last known address ", m.address(), "."],
        ["The suspect, ", p, ", was taken into custody and processed under ", *m.case_number(), "."],
        ["Arrestee ", p, " provided ", *m.ssn(), " and a contact e-mail of ", m.email(), "."],
        [p, " (", *m.dob(), ") was charged with ", r.choice(_STATUTES), " and transported to District ",
         f"{r.randint(1, 25):03d}", "."],
        ["A records check on ", p, " showed an active warrant; contact number ", m.phone(), "."],
    ])


def _s_vehicle(m: _Maker) -> list[Part]:
    r = m.rng
    yr = str(r.randint(1998, 2024))
    return r.choice([
        ["The offender fled in a ", r.choice(_COLOURS), " ", yr, " ", r.choice(_MAKES), " ", *m.plate(), "."],
        ["The vehicle, a ", yr, " ", r.choice(_MAKES), ", ", *m.vin(), ", was recovered at ", m.block(), "."],
        ["Unit ", str(r.randint(1000, 9999)), " curbed a ", r.choice(_COLOURS), " ", r.choice(_MAKES),
         " with ", *m.plate(), " and ", *m.vin(), "."],
        ["LEADS query on ", *m.plate(), " returned to a ", yr, " ", r.choice(_MAKES), " registered to ",
         m.person(), " of ", m.address(), "."],
    ])


def _s_contact(m: _Maker) -> list[Part]:
    r = m.rng
    p = m.person("person.first_last")
    first, last = str(p[2]).split(" ", 1)
    return r.choice([
        [p, " may be contacted at ", m.email(first, last), " or ", m.phone(), "."],
        ["Follow-up: e-mail ", m.email(), " for the surveillance video; the manager's cell is ",
         m.phone(), "."],
        ["Property valued at $", f"{r.randint(20, 4000):,}", ".00 was inventoried under ",
         *m.case_number(), "."],
    ])


def _s_officer(m: _Maker) -> list[Part]:
    r = m.rng
    return r.choice([
        [*_officer(m), " assisted with the canvass of ", m.block(), "."],
        ["Evidence was collected by ", *_officer(m), " and photographed on scene."],
        ["Reporting officer: ", *_officer(m), ". Approved by ", *_officer(m), "."],
        ["Body-worn camera was activated by ", *_officer(m), " at ", m.hours(), "."],
        ["This report was reviewed by Sgt. ", m.person("person.surname"), ", ", *m.badge(), "."],
    ])


def _s_filler(m: _Maker) -> list[Part]:
    r = m.rng
    return [r.choice([
        "No injuries were reported.",
        "The area was canvassed with negative results.",
        "Forensic services were requested for latent prints.",
        f"The offender is described as approximately {r.randint(18, 55)} years old.",
        f"Entry was gained by forcing the rear door; loss estimated at ${r.randint(50, 5000):,}.",
        "The victim was advised of the follow-up procedure and given a victim information notice.",
        f"Detectives from Area {r.randint(1, 5)} were notified.",
        "Video from a nearby business may be available.",
    ])]


_SENTENCES = (_s_victim, _s_suspect, _s_vehicle, _s_contact, _s_officer)


def _assemble(report_id: str, parts: list[Part]) -> LabelledNarrative:
    text: list[str] = []
    entities: list[LabelledEntity] = []
    pos = 0
    for part in parts:
        if isinstance(part, tuple):
            typ, fmt, value = part
            entities.append(LabelledEntity(pos, pos + len(value), typ, fmt, value))
            text.append(value)
            pos += len(value)
        else:
            text.append(part)
            pos += len(part)
    return LabelledNarrative(report_id, "".join(text), tuple(entities))


def generate_narratives(
    n: int,
    *,
    random_state: int = 0,
    formats: str = "all",
) -> list[LabelledNarrative]:
    """``n`` synthetic police narratives with labelled PII.

    Parameters
    ----------
    n : int
        Number of narratives.
    random_state : int
        Seed; the same seed gives the same narratives.
    formats : {"all", "seen", "held_out"}
        ``"seen"`` draws only formats outside :data:`HELD_OUT_FORMATS` (where a
        type has one), ``"held_out"`` prefers held-out formats, ``"all"`` draws from both.

    Examples
    --------
    >>> docs = generate_narratives(3, random_state=1)
    >>> all(d.text[e.start:e.end] == e.text for d in docs for e in d.entities)
    True
    """
    if formats not in ("all", "seen", "held_out"):
        raise ValueError(f"generate_narratives(formats={formats!r}): expected 'all', 'seen' or 'held_out'")
    rng = random.Random(random_state)

    def allowed(fmt: str) -> bool:
        if formats == "all":
            return True
        return (fmt in HELD_OUT_FORMATS) == (formats == "held_out")

    maker = _Maker(rng, allowed)
    out: list[LabelledNarrative] = []
    for i in range(n):
        parts: list[Part] = [*_s_dispatch(maker), " "]
        kinds = list(_SENTENCES)
        rng.shuffle(kinds)
        for sentence in kinds[: rng.randint(3, 5)]:
            parts += [*sentence(maker), " "]
            if rng.random() < 0.4:
                parts += [*_s_filler(maker), " "]
        parts.append(rng.choice(["", "Case referred to detectives.", "Investigation continues.",
                                 "No further information at this time."]))
        doc = _assemble(f"R{random_state:03d}-{i:05d}", parts)
        out.append(LabelledNarrative(doc.report_id, doc.text.rstrip(), doc.entities))
    return out
