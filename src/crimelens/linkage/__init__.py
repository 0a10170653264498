"""Crime-series linkage: candidate pairs, pair features, learned pairwise models, series.

Blocking (:class:`BlockingIndex`) enumerates candidate pairs by offense family,
time window and radius without an N×N matrix; :class:`PairFeaturizer` computes
distance, window gap, aoristic hour/weekday differences, rarity-weighted M.O.
agreement and narrative similarity; :class:`PairClassifier` is the calibrated
pairwise model (scikit-learn contract, ``X`` arrays); :class:`PairwiseLinker`
puts them together (logistic first pass, LightGBM shortlist) and
:func:`find_series` / :func:`grow_series` turn linked pairs into described
series. See ``docs/linkage.md``. Near-repeat (Knox) analysis lives in
:mod:`crimelens.nearrepeat`.
"""

from crimelens.linkage._blocking import BlockingIndex, iter_candidate_pairs
from crimelens.linkage._build import describe_series, find_series
from crimelens.linkage._crimelinkage import CrimeLinkageData, read_crimelinkage
from crimelens.linkage._evaluate import (
    LinkageCV,
    SeriesRecovery,
    grouped_linkage_cv,
    label_components,
    series_recovery,
    top_k_recall,
)
from crimelens.linkage._features import (
    DEFAULT_FAMILIES,
    EncodedIncidents,
    PairFeaturizer,
    attr_values,
    parse_attrs,
)
from crimelens.linkage._linker import (
    Explanation,
    PairScores,
    PairwiseLinker,
    StageProgress,
    normalise_labels,
    pair_labels,
)
from crimelens.linkage._models import PairClassifier
from crimelens.linkage._series import (
    SERIES_THRESHOLD,
    MemberExplanation,
    Series,
    cluster_pairs,
    grow_series,
    link_matrix,
)

__all__ = [
    "DEFAULT_FAMILIES",
    "SERIES_THRESHOLD",
    "BlockingIndex",
    "CrimeLinkageData",
    "EncodedIncidents",
    "Explanation",
    "LinkageCV",
    "MemberExplanation",
    "PairClassifier",
    "PairFeaturizer",
    "PairScores",
    "PairwiseLinker",
    "Series",
    "SeriesRecovery",
    "StageProgress",
    "attr_values",
    "cluster_pairs",
    "describe_series",
    "find_series",
    "grouped_linkage_cv",
    "grow_series",
    "iter_candidate_pairs",
    "label_components",
    "link_matrix",
    "normalise_labels",
    "pair_labels",
    "parse_attrs",
    "read_crimelinkage",
    "series_recovery",
    "top_k_recall",
]
