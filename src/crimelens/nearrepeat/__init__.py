"""Near-repeat analysis: Knox tables with permutation inference, and near-repeat alerts."""

from crimelens.nearrepeat._bands import CONVENTIONS, Band, BandSet
from crimelens.nearrepeat._knox import DISTANCES, KnoxResult, KnoxTest, event_times, knox_test

__all__ = [
    "CONVENTIONS",
    "DISTANCES",
    "Band",
    "BandSet",
    "KnoxResult",
    "KnoxTest",
    "event_times",
    "knox_test",
]
