"""Model names used by the CLI and the service, and the default model."""

from __future__ import annotations

from typing import Any

from crimelens.errors import InvalidParameterError
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._counts import NaiveCounts, TimeWeightedCounts
from crimelens.forecast._etas import GridETAS
from crimelens.forecast._gbm import GradientBoostedCells
from crimelens.forecast._kernels import ProspectiveHotspot, RetrospectiveHotspot, SpaceTimeKDE
from crimelens.forecast._sepp import SEPP

__all__ = ["DATA_PARAMS", "DEFAULT_MODEL", "MODELS", "make_model", "reading_hours_in"]

MODELS: dict[str, type[HotspotModel]] = {
    "naive": NaiveCounts,
    "weighted": TimeWeightedCounts,
    "retro": RetrospectiveHotspot,
    "prospective": ProspectiveHotspot,
    "kde": SpaceTimeKDE,
    "etas": GridETAS,
    "sepp": SEPP,
    "gbm": GradientBoostedCells,
}

#: The model ``crimelens forecast run`` uses: the best on the 2017 Chicago validation weeks
#: (PAI 8.347 at 1 %, 5.082 at 5 %, with the school calendar), and the highest mean ratio of
#: PAI to 2-year naive counts at 1 % and 5 % over the weekly backtests on Chicago aggravated
#: assaults (104 weeks, 2018-2019), Vancouver 2020 thefts (25 weeks) and Cincinnati
#: burglaries (52 weeks, 2018): 1.030, against 1.009 for time-weighted counts (docs/forecast.md).
#: For 8-hour shifts, with the time of day (``time_of_day``, hours on Chicago's clocks), it also
#: leads on Chicago's 2,190 shifts of 2018-2019: PAI 9.207 / 5.493 at 1 % / 5 % against naive
#: counts' 8.405 / 5.090 (paired 1.095 [1.060, 1.133] / 1.079 [1.064, 1.096]) and the
#: time-weighted count's 9.177 / 5.355 (1.003 [0.977, 1.029] / 1.026 [1.015, 1.038]).
DEFAULT_MODEL = "gbm"


def make_model(name: str, **params: Any) -> HotspotModel:
    """A model by its CLI name with parameters (unknown names raise ``InvalidParameterError``)."""
    if name not in MODELS:
        raise InvalidParameterError(f"model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[name](**params)


#: Parameters set from the data, not chosen by a user: the study area, and the time zone whose
#: wall clocks a shift's hours are read on (``forecast run`` and ``forecast backtest`` give the
#: dataset's own). A model's card may differ from its defaults in these alone.
DATA_PARAMS = frozenset({"area", "timezone"})


def reading_hours_in(model: HotspotModel, zone: str) -> HotspotModel:
    """``model`` reading the hours of a shift on the clocks of ``zone``, unless its ``timezone``
    is set already (models without the time of day are returned as they are)."""
    if "timezone" in model.get_params(deep=False) and getattr(model, "timezone", None) is None:
        model.set_params(timezone=zone)
    return model
