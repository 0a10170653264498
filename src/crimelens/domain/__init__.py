"""Domain values: incidents, time windows, grids and areas. No I/O lives here."""

from crimelens.domain._incident import (
    CANONICAL_COLUMNS,
    OFFENSE_CATEGORIES,
    PROTECTED_ATTRIBUTES,
    Incident,
    IncidentTable,
    Source,
    check_not_protected,
    further_record_mask,
    incident_of,
    is_protected,
)
from crimelens.domain._space import Area, Grid
from crimelens.domain._time import TimeWindow

__all__ = [
    "CANONICAL_COLUMNS",
    "OFFENSE_CATEGORIES",
    "PROTECTED_ATTRIBUTES",
    "Area",
    "Grid",
    "Incident",
    "IncidentTable",
    "Source",
    "TimeWindow",
    "check_not_protected",
    "further_record_mask",
    "incident_of",
    "is_protected",
]
