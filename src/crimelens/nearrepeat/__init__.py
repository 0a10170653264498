"""Near-repeat analysis: Knox tables with permutation inference, and near-repeat alerts.

See :mod:`crimelens.nearrepeat._knox` for the method and its failure modes,
:mod:`crimelens.nearrepeat._bands` for the three band conventions (``nrc``,
``standard``, ``pysal``) and :mod:`crimelens.nearrepeat._alert` for alerts.
"""

from crimelens.nearrepeat._alert import AlertCell, ElevatedBand, NearRepeatAlert, near_repeat_alert
from crimelens.nearrepeat._bands import CONVENTION_NOTES, CONVENTIONS, Band, BandSet
from crimelens.nearrepeat._knox import DISTANCES, KnoxResult, KnoxTest, event_times, knox_test
from crimelens.nearrepeat._nrc import NRCReport, XYTFile, is_xyt_csv, read_nrc_report, read_xyt_csv
from crimelens.nearrepeat._pairs import near_repeat_pairs
from crimelens.nearrepeat._plot import plot_knox

__all__ = [
    "CONVENTIONS",
    "CONVENTION_NOTES",
    "DISTANCES",
    "AlertCell",
    "Band",
    "BandSet",
    "ElevatedBand",
    "KnoxResult",
    "KnoxTest",
    "NRCReport",
    "NearRepeatAlert",
    "XYTFile",
    "event_times",
    "is_xyt_csv",
    "knox_test",
    "near_repeat_alert",
    "near_repeat_pairs",
    "plot_knox",
    "read_nrc_report",
    "read_xyt_csv",
]
