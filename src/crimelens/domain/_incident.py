"""The incident model and the columnar table that models consume.

An incident is one recorded event: what (offense, normalised and as recorded),
when (a window ``[occurred_from, occurred_to]`` because the exact time is often
unknown), where (metric x/y in a projected CRS plus lon/lat), and how it came to
the police's attention (``source``: a citizen report or officer-initiated
discovery; the feedback-loop audit needs that distinction).

Protected attributes (race, ethnicity, sex, religion, ...) never live on an
incident. They are stored apart as *audit* attributes, and
:func:`check_not_protected` refuses them wherever features are chosen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain._time import TimeWindow, as_utc
from crimelens.errors import InvalidParameterError, ProtectedAttributeError, SchemaError

__all__ = [
    "CANONICAL_COLUMNS",
    "OFFENSE_CATEGORIES",
    "PROTECTED_ATTRIBUTES",
    "PROTECTED_VALUES",
    "Incident",
    "IncidentTable",
    "Source",
    "check_not_protected",
    "incident_of",
    "is_protected",
    "protected_word",
]


class Source(StrEnum):
    """How an incident came to be recorded."""

    REPORTED = "reported"  # a citizen call or report
    DISCOVERED = "discovered"  # officer-initiated
    UNKNOWN = "unknown"


#: The normalised offense vocabulary. Readers map source categories onto it;
#: the original text is always kept in ``offense_raw``.
OFFENSE_CATEGORIES: frozenset[str] = frozenset(
    {
        "homicide",
        "assault",
        "aggravated_assault",
        "sex_offense",
        "robbery",
        "burglary",
        "theft",
        "theft_from_vehicle",
        "vehicle_theft",
        "arson",
        "criminal_damage",
        "drugs",
        "weapons",
        "fraud",
        "disorder",
        "traffic",
        "person_other",
        "street_crime",  # a records system's own mix of offences on the street (NIJ Portland's "STREET CRIMES")
        "call_for_service",
        "other",
    }
)

#: Names (or name parts) of attributes that may only ever be audit columns.
PROTECTED_ATTRIBUTES: tuple[str, ...] = (
    "race",
    "ethnicity",
    "ethnic",
    "sex",
    "gender",
    "religion",
    "nationality",
    "national_origin",
    "sexual_orientation",
    "disability",
)

#: Further words that name a protected attribute, or one of its usual values, in a column name
#: (``is_female``, ``black``, ``skin_colour``, ``african_american``): also refused as features.
#: Plain ``man``/``men`` and ``disabled`` are left out on purpose: as column-name words they mostly
#: mean something else (``man_hours``, ``veh_man`` for a manufacturer, ``alarm_disabled``).
PROTECTED_VALUES: tuple[str, ...] = (
    # the attributes, in other forms
    "races", "racial", "ethnicities", "sexes", "genders", "religions", "religious", "nationalities",
    "disabilities", "skin_colour", "skin_color", "skin_tone",
    # sex and gender
    "female", "females", "male", "males", "woman", "women", "transgender", "nonbinary",
    # race and ethnicity
    "black", "blacks", "white", "whites", "nonwhite", "hispanic", "hispanics", "latino", "latinos",
    "latina", "latinas", "latinx", "asian", "asians", "caucasian", "caucasians", "african_american",
    "native_american", "american_indian", "indian", "pacific_islander", "indigenous", "aboriginal",
    "arab", "minority",
    # religion
    "jewish", "jew", "jews", "muslim", "muslims", "islamic", "christian", "christians", "catholic",
    "protestant", "hindu", "hindus", "sikh", "buddhist", "atheist",
    # sexual orientation
    "gay", "lesbian", "bisexual", "homosexual", "heterosexual", "lgbt", "lgbtq",
    # national origin
    "foreign_born",
)

#: Records-system abbreviations and other languages' words for a protected attribute, with the attribute
#: each names (``Ethn``, ``susp_gndr``, ``hisp_flag``, ``sexo_sospechoso``, ``M_F``) and the attributes run
#: together as one word (``raceethnicity``). ``blk`` and ``wht`` are left out on purpose: in police records
#: ``blk`` is mostly a block (``100 blk``), and a list cannot hold every abbreviation.
PROTECTED_ABBREVIATIONS: dict[str, str] = {
    "ethn": "ethnicity", "ethnc": "ethnicity", "ethnicty": "ethnicity", "gndr": "gender", "gend": "gender",
    "hisp": "hispanic", "afam": "african american", "af_am": "african american", "afr_am": "african american", "m_f": "sex", "f_m": "sex",
    "raceethnicity": "race", "race_ethnicity": "race", "racesex": "race", "sexrace": "sex",
    "citizenship": "nationality", "descent": "race",  # LAPD names its race field "Descent" (Vict Descent)
    # other languages: Spanish, French, German, Portuguese, Italian
    "sexo": "sex", "sexe": "sex", "geschlecht": "sex", "sesso": "sex", "genero": "gender", "raza": "race",
    "rasse": "race", "etnia": "ethnicity", "ethnie": "ethnicity", "etnicidad": "ethnicity",
    "religion_cd": "religion", "religione": "religion", "religiao": "religion", "nacionalidad": "nationality",
    "nationalite": "nationality", "staatsangehoerigkeit": "nationality",
}

#: Adjacent words in which a protected value word means something else (``white_collar`` crime).
_NOT_PROTECTED_PHRASES: frozenset[tuple[str, ...]] = frozenset({("white", "collar"), ("black", "market")})


def _phrase(term: str) -> tuple[str, ...]:
    return tuple(term.split("_"))


#: Every protected word or phrase, as word tuples; a phrase also matches written as one word
#: (``africanamerican``, ``skincolour``).
_PROTECTED_PHRASES: dict[tuple[str, ...], str] = {
    **{_phrase(t): t.replace("_", " ") for t in (*PROTECTED_ATTRIBUTES, *PROTECTED_VALUES)},
    **{(t.replace("_", ""),): t.replace("_", " ") for t in (*PROTECTED_ATTRIBUTES, *PROTECTED_VALUES)},
    **{_phrase(t): word for t, word in PROTECTED_ABBREVIATIONS.items()},
}
_LONGEST = max(len(k) for k in _PROTECTED_PHRASES)


def _words(name: str) -> list[str]:
    """The words of a column name, lower-cased: split at anything not a letter or digit, between
    letters and digits, and at camelCase boundaries (``RaceCode`` -> race, code; ``HTTPCode`` ->
    http, code)."""
    out: list[str] = []
    for run in re.findall(r"[^\W\d_]+|\d+", name):
        start = 0
        for i in range(1, len(run)):
            prev, cur, nxt = run[i - 1], run[i], run[i + 1] if i + 1 < len(run) else ""
            if cur.isupper() and (prev.islower() or (prev.isupper() and nxt.islower())):
                out.append(run[start:i].casefold())
                start = i
        out.append(run[start:].casefold())
    return out


def protected_word(name: str) -> str | None:
    """The protected word a column name contains (``'female'`` for ``is_female``), or ``None``.

    The name is split into words (see :func:`is_protected`); the first word, or run of adjacent
    words, that names a protected attribute or one of its usual values is returned.

    Examples
    --------
    >>> protected_word("is_female"), protected_word("RaceCode"), protected_word("African-American")
    ('female', 'race', 'african american')
    >>> protected_word("priors_count") is None, protected_word("white_collar") is None
    (True, True)
    """
    words = _words(name)
    i = 0
    while i < len(words):
        if tuple(words[i:i + 2]) in _NOT_PROTECTED_PHRASES:
            i += 2
            continue
        for n in range(_LONGEST, 0, -1):
            found = _PROTECTED_PHRASES.get(tuple(words[i:i + n])) if i + n <= len(words) else None
            if found is not None:
                return found
        i += 1
    return None


def is_protected(name: str) -> bool:
    """Whether a column name denotes a protected attribute.

    The name is split into words: at every character that is not a letter or digit
    (``_``, ``-``, space, ``.``, ...), between letters and digits, and at camelCase
    boundaries, case-insensitively (``RaceCode`` -> race, code; ``isFemale`` -> is, female).
    The name is protected when one word, or a run of adjacent words, is in
    :data:`PROTECTED_ATTRIBUTES` (race, ethnicity, sex, gender, religion, nationality,
    national origin, sexual orientation, disability) or :data:`PROTECTED_VALUES` (their other
    forms and usual values: female, male, woman, black, white, hispanic, latino, asian,
    caucasian, African American, Native American, Jewish, Muslim, Christian, Hindu, skin
    colour, ...) or :data:`PROTECTED_ABBREVIATIONS` (records-system abbreviations such as
    ``ethn``, ``gndr``, ``hisp``, ``afam``, ``M_F``; other languages' words such as ``sexo``,
    ``raza``, ``Geschlecht``). A phrase also matches written as one word (``africanamerican``).

    Words are matched whole, never as substrings: ``sexton_street``, ``grace_period``,
    ``embrace``, ``manhattan`` and ``sexual_assault`` are not protected; ``white_collar`` and
    ``black_market`` are not either. ``man``/``men`` and ``disabled`` are not on the list, since
    as column-name words they mostly mean something else (a manufacturer, ``alarm_disabled``).
    A name cannot tell what a column *means*: a renamed column slips through, and a refusal
    here is a floor, not a proof that a model is free of protected information.

    Examples
    --------
    >>> is_protected("suspect_race"), is_protected("priors_count"), is_protected("Sex")
    (True, False, True)
    >>> is_protected("is_female"), is_protected("RaceCode"), is_protected("skin_colour")
    (True, True, True)
    >>> is_protected("embrace"), is_protected("manhattan"), is_protected("sexual_assault")
    (False, False, False)
    >>> [protected_word(n) for n in ("Ethn", "susp_gndr", "hisp_flag", "M_F", "raceethnicity", "sexo")]
    ['ethnicity', 'gender', 'hispanic', 'sex', 'race', 'sex']
    """
    return protected_word(name) is not None


def check_not_protected(features: Iterable[str], *, where: str = "model features") -> None:
    """Raise :class:`ProtectedAttributeError` if any name is a protected attribute.

    The message names each refused column and the protected word it matched
    (see :func:`is_protected`).

    Examples
    --------
    >>> check_not_protected(["priors_count", "is_female"], where="risk fit")
    Traceback (most recent call last):
    ...
    crimelens.errors.ProtectedAttributeError: risk fit: got protected attribute(s) ['is_female']; expected none (column 'is_female' names 'female'). Protected attributes (race, ethnicity, sex, religion, ...) may be audit columns, never model features.
    """
    found = {f: protected_word(f) for f in features}
    bad = sorted(f for f, word in found.items() if word is not None)
    if bad:
        why = "; ".join(f"column {f!r} names {found[f]!r}" for f in bad)
        raise ProtectedAttributeError(
            f"{where}: got protected attribute(s) {bad}; expected none ({why}). Protected attributes "
            "(race, ethnicity, sex, religion, ...) may be audit columns, never model features."
        )


#: Column name -> pandas dtype of the canonical incident layout.
CANONICAL_COLUMNS: dict[str, str] = {
    "incident_id": "string",
    "dataset": "string",
    "offense": "string",
    "offense_raw": "string",
    "occurred_from": "datetime64[us, UTC]",
    "occurred_to": "datetime64[us, UTC]",
    "reported_at": "datetime64[us, UTC]",
    "x_m": "float64",
    "y_m": "float64",
    "lon": "float64",
    "lat": "float64",
    "crs": "string",
    "premise": "string",
    "area": "string",
    "source": "string",
    "narrative": "string",
    "attrs": "string",  # JSON object of M.O. attributes (open set)
}

_REQUIRED = ("incident_id", "offense", "occurred_from", "occurred_to", "x_m", "y_m")


#: A further record of one incident: ``ID#k`` with k >= 2, as an ingest numbers a repeated source id.
RECORD_ID = r"^(?P<base>.+)#(?P<k>[2-9]|[1-9][0-9]+)$"


def incident_of(record_id: str) -> str:
    """The incident a record id belongs to: ``ID`` for ``ID#2``, ``ID#3``...; other ids are their own.

    >>> incident_of("199000005#2"), incident_of("199000005"), incident_of("C#1")
    ('199000005', '199000005', 'C#1')
    """
    found = re.match(RECORD_ID, record_id)
    return found.group("base") if found else record_id


def further_record_mask(incident_ids: pd.Series) -> NDArray[np.bool_]:
    """True for each record id after the first of its incident (see :meth:`IncidentTable.further_records`).

    >>> further_record_mask(pd.Series(["A", "A#2", "B#3", "B#2", "C"])).tolist()
    [False, True, True, False, False]
    """
    ids = incident_ids.astype(str).reset_index(drop=True)
    if not ids.str.contains("#", regex=False).any():  # no numbered records (most data): a fast answer
        return np.zeros(len(ids), dtype=bool)
    parts = ids.str.extract(RECORD_ID)
    key = pd.DataFrame({"base": parts["base"].fillna(ids),
                        "k": pd.to_numeric(parts["k"]).fillna(1).astype(np.int64)})
    first = key.sort_values(["base", "k"], kind="stable").drop_duplicates("base").index.to_numpy()
    further = np.ones(len(key), dtype=bool)
    further[first] = False
    return further


@dataclass(frozen=True, slots=True)
class Incident:
    """One recorded incident.

    Examples
    --------
    >>> i = Incident("c1", "burglary", "2020-01-03T22:00:00Z", "2020-01-04T07:00:00Z",
    ...              x_m=1000.0, y_m=2000.0)
    >>> i.window.days
    0.375
    """

    incident_id: str
    offense: str
    occurred_from: datetime | str
    occurred_to: datetime | str
    x_m: float
    y_m: float
    offense_raw: str | None = None
    reported_at: datetime | str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    premise: str | None = None
    area: str | None = None
    source: Source = Source.UNKNOWN
    narrative: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_from", as_utc(self.occurred_from))
        object.__setattr__(self, "occurred_to", as_utc(self.occurred_to))
        if self.reported_at is not None:
            object.__setattr__(self, "reported_at", as_utc(self.reported_at))
        object.__setattr__(self, "source", Source(self.source))
        if self.offense not in OFFENSE_CATEGORIES:
            raise SchemaError(
                f"Incident {self.incident_id!r}, column 'offense': got {self.offense!r}; "
                f"expected one of {sorted(OFFENSE_CATEGORIES)}"
            )
        check_not_protected(self.attrs, where=f"Incident {self.incident_id!r} M.O. attributes")
        if self.window_end < self.window_start:
            raise SchemaError(
                f"Incident {self.incident_id!r}: occurred_to is before occurred_from"
            )

    @property
    def window_start(self) -> datetime:
        assert isinstance(self.occurred_from, datetime)
        return self.occurred_from

    @property
    def window_end(self) -> datetime:
        assert isinstance(self.occurred_to, datetime)
        return self.occurred_to

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(self.window_start, self.window_end)


def _naive_utc(col: pd.Series) -> NDArray[np.datetime64]:
    """UTC instants as naive datetime64[us] (numpy converts an aware column to UTC; no copies in pandas)."""
    values: NDArray[np.datetime64] = col.to_numpy("datetime64[us]")
    return values


def _missing_column(n: int, dtype: str) -> pd.Series:
    if dtype.startswith("datetime64"):
        return pd.Series(pd.NaT, index=pd.RangeIndex(n), dtype=dtype)
    if dtype == "string":
        return pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=dtype)
    return pd.Series(np.nan, index=pd.RangeIndex(n), dtype=dtype)


class IncidentTable:
    """A read-only, columnar set of incidents in one metric CRS.

    Models receive an ``IncidentTable``; it exposes NumPy arrays (``xy_m``,
    ``t_days``) and keeps the full frame for anyone who needs more.

    Examples
    --------
    >>> t = IncidentTable.from_incidents([
    ...     Incident("a", "theft", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00Z", 0.0, 0.0),
    ...     Incident("b", "theft", "2020-01-02T10:00:00Z", "2020-01-02T12:00:00Z", 150.0, 0.0),
    ... ], crs="EPSG:32616")
    >>> len(t), t.bounds
    (2, (0.0, 0.0, 150.0, 0.0))
    """

    __slots__ = ("_frame",)

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"IncidentTable: missing column(s) {missing}; expected the canonical columns "
                f"{list(CANONICAL_COLUMNS)}"
            )
        out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
        for name, dtype in CANONICAL_COLUMNS.items():
            if name in frame.columns:
                col: Any = frame[name].reset_index(drop=True)
                if dtype.startswith("datetime64"):
                    col = pd.to_datetime(col, utc=True)
                out[name] = col.astype(dtype)
            else:
                out[name] = _missing_column(len(frame), dtype)
        self._frame = out

    # construction ---------------------------------------------------------------
    @classmethod
    def from_incidents(cls, incidents: Sequence[Incident], *, crs: str | None = None) -> IncidentTable:
        rows = []
        for i in incidents:
            rows.append(
                {
                    "incident_id": i.incident_id,
                    "dataset": i.dataset,
                    "offense": i.offense,
                    "offense_raw": i.offense_raw if i.offense_raw is not None else i.offense,
                    "occurred_from": i.occurred_from,
                    "occurred_to": i.occurred_to,
                    "reported_at": i.reported_at,
                    "x_m": i.x_m,
                    "y_m": i.y_m,
                    "lon": i.lon,
                    "lat": i.lat,
                    "crs": i.crs or crs,
                    "premise": i.premise,
                    "area": i.area,
                    "source": str(i.source),
                    "narrative": i.narrative,
                    "attrs": json.dumps(dict(i.attrs), sort_keys=True, default=str),
                }
            )
        frame = pd.DataFrame(rows, columns=list(CANONICAL_COLUMNS))
        return cls(frame)

    @classmethod
    def empty(cls) -> IncidentTable:
        return cls(pd.DataFrame({c: [] for c in CANONICAL_COLUMNS}))

    # access ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        return f"IncidentTable(n={len(self)}, crs={self.crs!r})"

    @property
    def frame(self) -> pd.DataFrame:
        """A copy of the underlying frame (the table itself stays read-only)."""
        return self._frame.copy()

    @property
    def crs(self) -> str | None:
        values = self._frame["crs"].dropna().unique()
        if len(values) > 1:
            raise SchemaError(f"IncidentTable mixes CRSs {sorted(map(str, values))}; expected one")
        return str(values[0]) if len(values) else None

    @property
    def incident_id(self) -> NDArray[np.object_]:
        return self._frame["incident_id"].to_numpy(dtype=object)

    @property
    def offense(self) -> NDArray[np.object_]:
        return self._frame["offense"].to_numpy(dtype=object)

    @property
    def xy_m(self) -> NDArray[np.float64]:
        """Projected coordinates in metres, shape ``(n, 2)``."""
        return np.column_stack(
            [self._frame["x_m"].to_numpy(np.float64), self._frame["y_m"].to_numpy(np.float64)]
        )

    @property
    def occurred_from(self) -> NDArray[np.datetime64]:
        return _naive_utc(self._frame["occurred_from"])

    @property
    def occurred_to(self) -> NDArray[np.datetime64]:
        return _naive_utc(self._frame["occurred_to"])

    def t_days(self, origin: datetime | str = "1970-01-01T00:00:00Z", *, how: str = "mid") -> NDArray[np.float64]:
        """Event times as float days since ``origin``: the window's ``mid``, ``from`` or ``to``."""
        o = np.datetime64(as_utc(origin).replace(tzinfo=None), "us")
        a = (self.occurred_from - o).astype(np.float64) / 86_400e6
        if how == "from":
            return a
        b = (self.occurred_to - o).astype(np.float64) / 86_400e6
        if how == "to":
            return b
        if how == "mid":
            return (a + b) / 2.0
        raise InvalidParameterError(f"t_days(how={how!r}): expected 'mid', 'from' or 'to'")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in metres."""
        if len(self) == 0:
            raise InvalidParameterError("IncidentTable is empty; it has no bounds")
        xy = self.xy_m
        return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))

    def mo(self, name: str) -> NDArray[np.object_]:
        """One M.O. attribute as an array (``None`` where absent)."""
        check_not_protected([name], where="IncidentTable.mo")
        return np.array(
            [json.loads(a).get(name) if isinstance(a, str) else None for a in self._frame["attrs"]],
            dtype=object,
        )

    # selection ------------------------------------------------------------------
    def select(
        self,
        *,
        offense: str | Iterable[str] | None = None,
        window: TimeWindow | None = None,
        mask: NDArray[np.bool_] | None = None,
    ) -> IncidentTable:
        """A sub-table. ``window`` keeps incidents whose window *starts* in it."""
        keep = np.ones(len(self), dtype=bool)
        if offense is not None:
            wanted = {offense} if isinstance(offense, str) else set(offense)
            keep &= self._frame["offense"].isin(wanted).to_numpy()
        if window is not None:
            t = self._frame["occurred_from"]
            keep &= ((t >= pd.Timestamp(window.start)) & (t < pd.Timestamp(window.end))).to_numpy()
        if mask is not None:
            keep &= mask
        return IncidentTable(self._frame.loc[keep])

    def further_records(self) -> NDArray[np.bool_]:
        """True for each record after the first of one incident.

        An ingest that meets a repeated source id keeps the rows as ``ID``, ``ID#2``, ``ID#3``, ...
        (``duplicates = "number"``: one row per victim or offence, as Cincinnati's export has); these
        are records of incident ``ID``. Per incident, the lowest-numbered record present (``ID``
        itself when it is there) stands for it and the others are marked. Ids without such a suffix
        are never marked.
        """
        return further_record_mask(self._frame["incident_id"])

    def sorted_by_time(self) -> IncidentTable:
        return IncidentTable(
            self._frame.sort_values(["occurred_from", "incident_id"], kind="stable")
        )
