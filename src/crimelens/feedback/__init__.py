"""Bias testing for place-based forecasts: exposure audits and the feedback-loop simulator.

* :func:`exposure_audit` — per area group: share of flagged cells, flags per 1,000
  residents, hit rate and PAI within the group, ratios to the group's share of
  recorded incidents and of residents, with intervals across backtest periods.
* :func:`simulate` / :func:`compare_feedback` — a forecasting model refit day by day
  on a record its own allocation shapes (Lum & Isaac 2016), with the reported-only and
  inverse-propensity corrections (Ensign et al. 2018); :func:`detection_bias_sweep`.
* :func:`ensign_urn` — the two-region Pólya urn of Ensign et al. (2018).
* Scenarios: :func:`oakland_scenario`, :func:`planted_city`, :func:`synthetic_scenario`.
* Report: :func:`feedback_section` and the ``plot_*`` figures.
"""

from crimelens.feedback._areas import area_groups, cell_area_overlap, read_areas
from crimelens.feedback._exposure import (
    ExposureReport,
    RollingBacktest,
    exposure_audit,
    exposure_of_surfaces,
    flags_from_scores,
    rolling_backtest,
    rolling_flags,
    split_ties,
    tie_counts,
)
from crimelens.feedback._models import (
    CountModel,
    DecayKDE,
    GridSEPP,
    NaiveCounts,
    SurfaceModelAdapter,
    make_count_model,
)
from crimelens.feedback._report import (
    feedback_section,
    plot_bias_sweep,
    plot_comparison,
    plot_urn,
    runs_section,
)
from crimelens.feedback._scenarios import (
    daily_counts,
    oakland_scenario,
    planted_city,
    synthetic_scenario,
)
from crimelens.feedback._simulate import (
    CORRECTIONS,
    BiasSweep,
    FeedbackComparison,
    ObservationModel,
    Proportional,
    Scenario,
    SimulationRun,
    TopK,
    compare_feedback,
    detection_bias_sweep,
    gini,
    simulate,
)
from crimelens.feedback._urn import UrnResult, ensign_urn, urn_bias_sweep

__all__ = [
    "CORRECTIONS",
    "BiasSweep",
    "CountModel",
    "DecayKDE",
    "ExposureReport",
    "FeedbackComparison",
    "GridSEPP",
    "NaiveCounts",
    "ObservationModel",
    "Proportional",
    "RollingBacktest",
    "Scenario",
    "SimulationRun",
    "SurfaceModelAdapter",
    "TopK",
    "UrnResult",
    "area_groups",
    "cell_area_overlap",
    "compare_feedback",
    "daily_counts",
    "detection_bias_sweep",
    "ensign_urn",
    "exposure_audit",
    "exposure_of_surfaces",
    "feedback_section",
    "flags_from_scores",
    "gini",
    "make_count_model",
    "oakland_scenario",
    "planted_city",
    "plot_bias_sweep",
    "plot_comparison",
    "plot_urn",
    "read_areas",
    "rolling_backtest",
    "rolling_flags",
    "runs_section",
    "simulate",
    "split_ties",
    "synthetic_scenario",
    "tie_counts",
    "urn_bias_sweep",
]
