"""A seeded, deterministic synthetic city with known ground truth.

``SyntheticCity(seed=7).generate()`` simulates a year of recorded incidents in a 12 km city
in UTM 16N (EPSG:32616): self-exciting background per offense (Mohler et al. 2011), planted
crime series with consistent-but-noisy M.O. and narratives, neighbourhoods with population
and demographic composition (audit attributes only), and a reported/discovered recording
mechanism in which patrol presence raises discovery (Lum & Isaac 2016; Ensign et al. 2018).
``write(city, out_dir)`` writes ``incidents.csv`` (crimelens's canonical layout),
``areas.geojson`` and the ground truth under ``truth/``. See ``docs/synth.md``.

Examples
--------
>>> from crimelens.synth import SyntheticCity
>>> city = SyntheticCity(seed=3, days=7, n_series=1, n_areas=4).generate()
>>> sorted(city.truth.params["trigger"])[:3]
['mean_delay_days', 'omega_per_day', 'same_offense_only']
"""

from crimelens.synth._city import CRS, CSV_COLUMNS, CityData, SyntheticCity
from crimelens.synth._truth import TriggerParams, Truth
from crimelens.synth._vocab import MO_ATTRIBUTES
from crimelens.synth._write import write

__all__ = [
    "CRS",
    "CSV_COLUMNS",
    "MO_ATTRIBUTES",
    "CityData",
    "SyntheticCity",
    "TriggerParams",
    "Truth",
    "write",
]
