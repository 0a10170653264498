"""The synthetic city's vocabulary: offense profiles, M.O. values, premises and narrative phrasing.

Everything here is fixed data. The generator draws from it with seeded random streams, so
changing a list here changes every city: treat edits as a change of ground truth.

No M.O. attribute describes a protected characteristic of anyone (race, ethnicity, sex,
religion, ...); narratives say "the offender" / "they".
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AGE_BANDS",
    "MO_ATTRIBUTES",
    "OFFENSES",
    "SERIES_OFFENSES",
    "SIGNATURES",
    "TIME_OF_DAY",
    "OffenseProfile",
    "time_of_day_label",
]

#: M.O. columns written to ``incidents.csv`` (one column each), in output order.
MO_ATTRIBUTES: tuple[str, ...] = (
    "entry_method",
    "target",
    "weapon",
    "time_of_day",
    "property_taken",
    "suspect_count",
    "suspect_age_band",
)

AGE_BANDS: tuple[str, ...] = ("under 18", "18-24", "25-34", "35-49", "50+")
TIME_OF_DAY: tuple[str, ...] = ("night", "morning", "afternoon", "evening")


def time_of_day_label(hour: float) -> str:
    """The ``time_of_day`` M.O. value of a local clock hour: night 0-6, morning 6-12, ...

    Examples
    --------
    >>> time_of_day_label(23.5), time_of_day_label(7.0)
    ('evening', 'morning')
    """
    return TIME_OF_DAY[int(hour % 24.0 // 6)]


@dataclass(frozen=True)
class OffenseProfile:
    """How one offense type behaves in the synthetic city.

    ``background_per_day`` is the expected number of *latent* background events per day at
    ``scale=1``; ``report_prob`` is the chance that a citizen reports an event (otherwise it
    is recorded only if an officer discovers it); ``window_prob`` the chance that the record
    carries an occurrence window instead of a time (burglaries always do). ``daily_peaks`` are
    ``(local hour, width in hours, weight)``; ``weekly`` multiplies Monday..Sunday.
    ``surface`` weights the shared residential (``pop``) and commercial (``com``) surfaces and
    the offense's own hot spots (``hot``).
    """

    name: str
    background_per_day: float
    report_prob: float
    window_prob: float
    window_median_h: float
    report_delay_median_min: float
    daily_peaks: tuple[tuple[float, float, float], ...]
    weekly: tuple[float, float, float, float, float, float, float]
    surface: tuple[float, float, float]  # pop, com, hot
    n_hotspots: int
    raw_labels: tuple[str, ...]
    premises: tuple[tuple[str, float], ...]
    mo: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    templates: tuple[str, ...] = ()


_SUSPECTS_UNSEEN = (("", 0.65), ("1", 0.2), ("2", 0.12), ("3", 0.03))
_SUSPECTS_SEEN = (("1", 0.5), ("2", 0.3), ("3", 0.15), ("4", 0.05))
_AGES_UNSEEN = (("", 0.7), ("under 18", 0.06), ("18-24", 0.1), ("25-34", 0.08), ("35-49", 0.05),
                ("50+", 0.01))
_AGES_SEEN = (("", 0.15), ("under 18", 0.12), ("18-24", 0.3), ("25-34", 0.24), ("35-49", 0.14),
              ("50+", 0.05))

OFFENSES: tuple[OffenseProfile, ...] = (
    OffenseProfile(
        name="burglary",
        background_per_day=9.0,
        report_prob=0.85,
        window_prob=1.0,
        window_median_h=7.0,
        report_delay_median_min=25.0,
        daily_peaks=((11.0, 3.0, 1.0), (15.0, 2.5, 0.8), (21.0, 2.0, 0.4)),
        weekly=(1.08, 1.05, 1.05, 1.05, 1.08, 0.86, 0.83),
        surface=(0.55, 0.05, 0.4),
        n_hotspots=5,
        raw_labels=("BURGLARY - RESIDENTIAL", "BURGLARY - FORCIBLE ENTRY", "BURGLARY",
                    "BURGLARY - UNLAWFUL ENTRY"),
        premises=(("residence", 0.55), ("apartment", 0.25), ("garage", 0.12), ("commercial", 0.08)),
        mo={
            "entry_method": (("forced front door", 0.22), ("forced rear door", 0.2),
                             ("rear window", 0.16), ("unlocked door", 0.14), ("patio door", 0.1),
                             ("garage door", 0.1), ("pried window", 0.08)),
            "target": (("single-family house", 0.45), ("apartment", 0.27), ("garage", 0.12),
                       ("shed", 0.07), ("shop", 0.09)),
            "property_taken": (("electronics", 0.3), ("jewelry", 0.2), ("cash", 0.15),
                               ("tools", 0.1), ("bicycle", 0.07), ("documents", 0.05),
                               ("nothing taken", 0.13)),
            "suspect_count": _SUSPECTS_UNSEEN,
            "suspect_age_band": _AGES_UNSEEN,
        },
        templates=(
            "Victim returned to find the {target} entered by {entry_method}; {property_taken} {taken_verb}.",
            "Unknown offender(s) gained entry to a {target} via {entry_method} and took {property_taken}.",
            "Burglary at a {target}: point of entry {entry_method}, {property_taken} reported missing.",
            "Caller states the {target} was broken into ({entry_method}) while unoccupied; loss: {property_taken}.",
        ),
    ),
    OffenseProfile(
        name="theft",
        background_per_day=20.0,
        report_prob=0.55,
        window_prob=0.3,
        window_median_h=3.0,
        report_delay_median_min=60.0,
        daily_peaks=((13.0, 3.0, 1.0), (17.5, 2.5, 0.9)),
        weekly=(0.95, 0.95, 0.97, 1.0, 1.08, 1.1, 0.95),
        surface=(0.2, 0.5, 0.3),
        n_hotspots=5,
        raw_labels=("THEFT $500 AND UNDER", "THEFT OVER $500", "LARCENY", "THEFT - OTHER",
                    "PICKPOCKET"),
        premises=(("street", 0.3), ("retail store", 0.3), ("parking lot", 0.12), ("residence", 0.13),
                  ("transit stop", 0.15)),
        mo={
            "target": (("phone", 0.22), ("bicycle", 0.18), ("handbag", 0.14), ("package", 0.12),
                       ("shop goods", 0.24), ("wallet", 0.1)),
            "property_taken": (("phone", 0.22), ("bicycle", 0.17), ("cash", 0.15),
                               ("clothing", 0.14), ("cosmetics", 0.12), ("electronics", 0.2)),
            "suspect_count": _SUSPECTS_UNSEEN,
            "suspect_age_band": _AGES_UNSEEN,
        },
        templates=(
            "Victim reports {property_taken} stolen from a {premise}; the {target} was left unattended.",
            "Theft of {target} at a {premise}. {suspects_phrase}",
            "Complainant states {property_taken} was taken at a {premise} without their knowledge.",
        ),
    ),
    OffenseProfile(
        name="robbery",
        background_per_day=4.0,
        report_prob=0.75,
        window_prob=0.0,
        window_median_h=0.5,
        report_delay_median_min=12.0,
        daily_peaks=((22.0, 3.0, 1.0), (1.5, 2.0, 0.6), (16.0, 2.5, 0.3)),
        weekly=(0.92, 0.9, 0.92, 0.98, 1.1, 1.15, 1.03),
        surface=(0.25, 0.35, 0.4),
        n_hotspots=4,
        raw_labels=("ROBBERY - ARMED", "ROBBERY - STRONGARM", "ROBBERY", "ROBBERY OF PERSON"),
        premises=(("street", 0.5), ("retail store", 0.18), ("gas station", 0.12),
                  ("transit stop", 0.14), ("parking lot", 0.06)),
        mo={
            "target": (("pedestrian", 0.45), ("convenience store", 0.15), ("gas station", 0.1),
                       ("delivery driver", 0.12), ("taxi driver", 0.08), ("cyclist", 0.1)),
            "weapon": (("handgun", 0.3), ("knife", 0.22), ("none - strong-arm", 0.3),
                       ("blunt object", 0.08), ("implied weapon", 0.1)),
            "property_taken": (("phone", 0.3), ("cash", 0.3), ("wallet", 0.2), ("jewelry", 0.08),
                               ("bag", 0.12)),
            "suspect_count": _SUSPECTS_SEEN,
            "suspect_age_band": _AGES_SEEN,
        },
        templates=(
            "Victim ({target}) was approached by {suspects_phrase_lc} who demanded {property_taken}; weapon: {weapon}.",
            "Robbery of a {target} at a {premise}. Offender(s) displayed {weapon} and fled with {property_taken}.",
            "{suspects_phrase} confronted the {target}, took {property_taken} using {weapon}, and fled on foot.",
        ),
    ),
    OffenseProfile(
        name="assault",
        background_per_day=9.0,
        report_prob=0.6,
        window_prob=0.0,
        window_median_h=0.5,
        report_delay_median_min=10.0,
        daily_peaks=((23.5, 2.5, 1.0), (2.0, 2.0, 0.8), (18.0, 3.0, 0.4)),
        weekly=(0.85, 0.82, 0.85, 0.92, 1.12, 1.3, 1.14),
        surface=(0.3, 0.3, 0.4),
        n_hotspots=4,
        raw_labels=("ASSAULT", "BATTERY - SIMPLE", "ASSAULT - AGGRAVATED", "ASSAULT 3RD DEGREE"),
        premises=(("street", 0.35), ("bar", 0.25), ("residence", 0.25), ("park", 0.08),
                  ("transit stop", 0.07)),
        mo={
            "target": (("stranger", 0.4), ("acquaintance", 0.25), ("bar patron", 0.15),
                       ("neighbour", 0.1), ("service worker", 0.1)),
            "weapon": (("none", 0.55), ("knife", 0.1), ("bottle", 0.13), ("blunt object", 0.12),
                       ("handgun", 0.1)),
            "suspect_count": _SUSPECTS_SEEN,
            "suspect_age_band": _AGES_SEEN,
        },
        templates=(
            "Victim ({target}) was assaulted at a {premise} by {suspects_phrase_lc}; weapon: {weapon}.",
            "Altercation at a {premise} escalated; {suspects_phrase_lc} struck the victim ({weapon}).",
            "Report of an assault on a {target} outside a {premise}. Weapon used: {weapon}.",
        ),
    ),
    OffenseProfile(
        name="vehicle_theft",
        background_per_day=6.0,
        report_prob=0.9,
        window_prob=0.8,
        window_median_h=9.0,
        report_delay_median_min=40.0,
        daily_peaks=((2.0, 3.0, 1.0), (22.0, 2.5, 0.6)),
        weekly=(1.0, 0.98, 0.98, 1.0, 1.04, 1.02, 0.98),
        surface=(0.45, 0.2, 0.35),
        n_hotspots=4,
        raw_labels=("MOTOR VEHICLE THEFT", "VEHICLE THEFT - AUTOMOBILE", "STOLEN VEHICLE",
                    "THEFT OF MOTOR VEHICLE"),
        premises=(("street", 0.5), ("parking lot", 0.25), ("driveway", 0.2), ("garage", 0.05)),
        mo={
            "entry_method": (("broken window", 0.3), ("key fob relay", 0.2), ("unlocked", 0.2),
                             ("steering column", 0.2), ("towed away", 0.1)),
            "target": (("sedan", 0.4), ("SUV", 0.25), ("pickup", 0.15), ("motorcycle", 0.08),
                       ("van", 0.12)),
            "suspect_count": _SUSPECTS_UNSEEN,
            "suspect_age_band": _AGES_UNSEEN,
        },
        templates=(
            "Owner reports a {target} stolen from the {premise}; entry by {entry_method}.",
            "{target} taken from {premise} overnight. Method: {entry_method}.",
            "Vehicle theft: a {target} parked on the {premise} is missing; {entry_method} suspected.",
        ),
    ),
    OffenseProfile(
        name="criminal_damage",
        background_per_day=11.0,
        report_prob=0.4,
        window_prob=0.5,
        window_median_h=8.0,
        report_delay_median_min=90.0,
        daily_peaks=((22.5, 3.0, 1.0), (2.0, 2.0, 0.5)),
        weekly=(0.9, 0.88, 0.9, 0.95, 1.1, 1.22, 1.05),
        surface=(0.35, 0.25, 0.4),
        n_hotspots=5,
        raw_labels=("CRIMINAL DAMAGE - TO PROPERTY", "VANDALISM", "CRIMINAL DAMAGE - TO VEHICLE",
                    "GRAFFITI"),
        premises=(("street", 0.4), ("residence", 0.25), ("school", 0.1), ("park", 0.1),
                  ("commercial", 0.15)),
        mo={
            "target": (("parked car", 0.3), ("shop window", 0.15), ("residence window", 0.15),
                       ("bus shelter", 0.1), ("wall (graffiti)", 0.2), ("fence", 0.1)),
            "suspect_count": _SUSPECTS_UNSEEN,
            "suspect_age_band": _AGES_UNSEEN,
        },
        templates=(
            "Damage to a {target} at a {premise} discovered; {suspects_phrase_lc_unseen}.",
            "Vandalism: {target} damaged at a {premise}.",
            "Reporting person found the {target} damaged near a {premise}.",
        ),
    ),
    OffenseProfile(
        name="drugs",
        background_per_day=7.0,
        report_prob=0.05,
        window_prob=0.0,
        window_median_h=0.5,
        report_delay_median_min=5.0,
        daily_peaks=((15.0, 3.0, 0.7), (21.0, 3.0, 1.0)),
        weekly=(0.95, 0.95, 0.97, 1.0, 1.05, 1.1, 0.98),
        surface=(0.2, 0.3, 0.5),
        n_hotspots=3,
        raw_labels=("NARCOTICS - POSSESSION", "DRUG OFFENSE", "NARCOTICS", "POSS CONTROLLED SUBSTANCE"),
        premises=(("street", 0.55), ("park", 0.15), ("vehicle", 0.2), ("residence", 0.1)),
        mo={
            "target": (("possession", 0.7), ("street sale", 0.3)),
            "suspect_count": _SUSPECTS_SEEN,
            "suspect_age_band": _AGES_SEEN,
        },
        templates=(
            "Subject found in {target} of a controlled substance at a {premise}.",
            "Drug offense ({target}) at a {premise}; {suspects_phrase_lc} involved.",
        ),
    ),
)

#: Offenses that planted series are drawn from, with weights.
SERIES_OFFENSES: tuple[tuple[str, float], ...] = (
    ("burglary", 0.5),
    ("robbery", 0.2),
    ("theft", 0.15),
    ("vehicle_theft", 0.1),
    ("criminal_damage", 0.05),
)

#: Distinctive phrases. Each series uses one or two throughout its narratives; background
#: narratives use them now and then too, so a phrase alone never proves a link.
SIGNATURES: tuple[str, ...] = (
    "The offender wore a high-visibility vest.",
    "A screwdriver was left at the scene.",
    "The offender rang the doorbell first.",
    "The rear gate was left open.",
    "Cigarette butts were found near the point of entry.",
    "The offender fled on a bicycle.",
    "The offender claimed to be from the gas company.",
    "A ladder from the neighbouring yard was used.",
    "Drawers were emptied onto the floor.",
    "Only small items were taken; larger electronics were left.",
    "A dog was heard barking at the time.",
    "The offender asked for directions before acting.",
    "The offender carried a grey backpack.",
    "Footprints were found in the flower bed.",
    "The alarm panel was pulled from the wall.",
    "The offender wore a balaclava.",
    "A dark hatchback was seen leaving.",
    "The offender used a hooked tool through the letterbox.",
    "Gloves were worn throughout.",
    "Food was taken from the kitchen.",
    "The offender waited near the bus stop beforehand.",
    "A witness heard glass breaking.",
    "The offender wore a delivery-company jacket.",
    "The offender spoke quietly and avoided eye contact.",
    "Tyre marks were found on the lawn.",
    "A sports bag was used to carry the items.",
    "The offender had a scooter waiting nearby.",
    "The offender pretended to read the meter.",
    "Lights were switched off before entry.",
    "The offender left through a side window.",
    "A crowbar mark was visible on the frame.",
    "The offender wore a cap with a red logo.",
    "The victim's keys were taken from a hook.",
    "Mud was tracked through the hallway.",
    "The offender was seen checking car door handles.",
    "A spray-painted tag was left nearby.",
    "The offender demanded money for a bus fare first.",
    "CCTV shows the offender's face covered with a scarf.",
    "The offender ran towards the railway embankment.",
    "Dust sheets were used to muffle the noise.",
)
