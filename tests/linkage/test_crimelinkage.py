"""The crimelinkage benchmark (Porter & Reich): reader reference values and grouped-CV linkage quality."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.linkage import (
    PairwiseLinker,
    grouped_linkage_cv,
    label_components,
    pair_labels,
    parse_attrs,
    read_crimelinkage,
)
from tests.conftest import shared


def test_reader_reproduces_the_reference_counts() -> None:
    data = read_crimelinkage(shared("crimelinkage"))
    assert len(data.incidents) == 490
    assert data.n_offenders == 387
    assert data.n_unsolved == 100
    n = len(data.incidents)
    i, j = np.triu_indices(n, 1)
    linked = pair_labels(data.offenders, i, j)
    t = data.incidents.t_days()
    assert int((linked & (np.abs(t[i] - t[j]) <= 365)).sum()) == 255
    frame = data.incidents.frame.set_index("incident_id")
    # "2400" is the next day's midnight; an overnight TO before FROM moves to the next day
    assert frame.loc["C:63", "occurred_from"].hour == 0
    assert (frame["occurred_to"] >= frame["occurred_from"]).all()
    assert frame.loc["C:111", "occurred_to"] > frame.loc["C:111", "occurred_from"]
    # R's bare NA (MO2/MO3 of 19 crimes) is a missing attribute, not a shared category "NA"
    attrs = parse_attrs(frame["attrs"].to_numpy(dtype=object))
    assert int(attrs["MO2"].isna().sum()) == int(attrs["MO3"].isna().sum()) == 19
    assert "NA" not in set(attrs["MO2"].dropna()) | set(attrs["MO3"].dropna())
    assert frame.loc["C:6", "attrs"] == '{"MO1": "7"}'
    sizes = np.bincount(np.bincount(label_components([s or None for s in data.offenders])))
    assert sizes[1] >= 100  # unsolved crimes and lone offenders are singleton groups


@pytest.mark.slow
def test_grouped_cv_auc_and_top50() -> None:
    data = read_crimelinkage(shared("crimelinkage"))
    linker = PairwiseLinker(radius_m=None, window_days=365, unlabelled="exclude", narrative=False,
                            shortlist=False)
    cv = grouped_linkage_cv(linker, data.incidents, data.offenders, n_splits=5, k=50)
    assert cv.n_linked == 255  # every linked pair is held out exactly once
    assert cv.auc >= 0.90  # literature: 0.82-0.90
    assert cv.top_k_share >= 0.80  # Porter 2016: 74-89 % in the top 50
