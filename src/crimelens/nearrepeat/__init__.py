"""Near-repeat analysis: Knox tables with permutation inference, and near-repeat alerts.

See :mod:`crimelens.nearrepeat._knox` for the method and its failure modes,
:mod:`crimelens.nearrepeat._bands` for the three band conventions (``nrc``,
``standard``, ``pysal``), :mod:`crimelens.nearrepeat._alert` for alerts and
:mod:`crimelens.nearrepeat._coarse` for times known only to windows longer than
a time band.
"""

from crimelens.nearrepeat._alert import AlertCell, ElevatedBand, NearRepeatAlert, near_repeat_alert
from crimelens.nearrepeat._bands import CONVENTION_NOTES, CONVENTIONS, Band, BandSet
from crimelens.nearrepeat._coarse import COARSE_SHARE, CoarseTimes, coarse_times
from crimelens.nearrepeat._knox import (
    DISTANCES,
    DRAWN_SEED_BOUND,
    OPEN_ENDED_NOTE,
    KnoxResult,
    KnoxTest,
    event_times,
    knox_test,
)
from crimelens.nearrepeat._nrc import (
    DATE_ORDERS,
    NRCReport,
    XYTFile,
    is_xyt_csv,
    read_nrc_report,
    read_xyt_csv,
)
from crimelens.nearrepeat._pairs import near_repeat_pairs
from crimelens.nearrepeat._plot import plot_knox

__all__ = [
    "COARSE_SHARE",
    "CONVENTIONS",
    "CONVENTION_NOTES",
    "DATE_ORDERS",
    "DISTANCES",
    "DRAWN_SEED_BOUND",
    "OPEN_ENDED_NOTE",
    "AlertCell",
    "Band",
    "BandSet",
    "CoarseTimes",
    "ElevatedBand",
    "KnoxResult",
    "KnoxTest",
    "NRCReport",
    "NearRepeatAlert",
    "XYTFile",
    "coarse_times",
    "event_times",
    "is_xyt_csv",
    "knox_test",
    "near_repeat_alert",
    "near_repeat_pairs",
    "plot_knox",
    "read_nrc_report",
    "read_xyt_csv",
]
