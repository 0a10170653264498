"""Hit rate, PAI, PEI and the proper scores against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crimelens.domain import Grid
from crimelens.errors import InvalidParameterError
from crimelens.forecast import (
    StudyArea,
    brier_score,
    coverage_for_area,
    coverage_scores,
    nij_coverages,
    poisson_loglik,
)

# 10 cells; risk strictly ordered 9..0 so cell 0 ranks first
RISK = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
OBS = np.array([3.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 4.0, 0.0, 0.0])  # 10 incidents


def test_hit_rate_pai_pei_by_hand() -> None:
    r = coverage_scores(RISK, OBS, [0.1, 0.2, 0.3, 0.5])
    # top 1 cell: 3 of 10 incidents; area 1/10 -> PAI 3; best single cell holds 4 -> PEI 3/4
    # top 2: 3 (+0) -> 0.3, PAI 1.5; best two cells 4 + 3 = 7 -> PEI 3/7
    # top 3: 3 + 0 + 1 = 4 -> 0.4, PAI 4/3; best 3 = 4 + 3 + 2 = 9 -> 4/9
    # top 5: 3 + 0 + 1 + 0 + 2 = 6 -> 0.6, PAI 1.2; best 5 = all 10 -> 0.6
    assert r["n_flagged"].tolist() == [1, 2, 3, 5]
    assert r["captured"].tolist() == [3, 3, 4, 6]
    np.testing.assert_allclose(r["hit_rate"], [0.3, 0.3, 0.4, 0.6])
    np.testing.assert_allclose(r["pai"], [3.0, 1.5, 4 / 3, 1.2])
    np.testing.assert_allclose(r["pei"], [3 / 4, 3 / 7, 4 / 9, 0.6])


def test_ties_split_pro_rata_and_by_index() -> None:
    risk = np.array([5.0, 2.0, 2.0, 2.0, 0.0])
    obs = np.array([1.0, 0.0, 3.0, 0.0, 0.0])
    # flag 2 of 5 cells: cell 0 plus one of the three tied cells (holding 0, 3, 0 incidents)
    split = coverage_scores(risk, obs, [0.4])
    assert split["captured"][0] == pytest.approx(1 + 3 / 3)
    by_index = coverage_scores(risk, obs, [0.4], ties="index")
    assert by_index["captured"][0] == 1.0  # cell 1 (lowest index among the tie) holds nothing
    # the split value is the mean over the three possible tie orders
    assert split["captured"][0] == pytest.approx(np.mean([1 + 0, 1 + 3, 1 + 0]))


def test_nothing_recorded_gives_nan_not_a_score() -> None:
    r = coverage_scores(RISK, np.zeros(10), [0.1])
    assert math.isnan(r["hit_rate"][0]) and math.isnan(r["pai"][0]) and math.isnan(r["pei"][0])


def test_coverage_outside_unit_interval_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"coverage=1.5: expected a fraction in \(0, 1\]"):
        coverage_scores(RISK, OBS, [1.5])


def test_poisson_loglik_and_brier_by_hand() -> None:
    lam = np.array([0.5, 2.0, 0.0])
    y = np.array([1.0, 3.0, 0.0])
    expected = (math.log(0.5) - 0.5) + (3 * math.log(2.0) - 2.0 - math.log(6.0)) + (-1e-9)
    assert poisson_loglik(lam, y) == pytest.approx(expected, rel=1e-12)
    p = 1 - np.exp(-lam)
    assert brier_score(lam, y) == pytest.approx(float(np.mean((p - np.array([1, 1, 0])) ** 2)))


def test_coverage_for_an_area_flags_the_whole_cells_that_fit() -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 100, 50))  # 5,000 cells of 0.0225 km²
    # 0.25 sq mi = 0.6475 km² -> 28.8 cells -> 28; 0.75 sq mi = 1.9425 km² -> 86.3 -> 86
    assert nij_coverages(area) == {0.25: 28 / 5000, 0.75: 86 / 5000}
    assert coverage_for_area(area, 0.9) == 40 / 5000  # exactly 40 cells
    with pytest.raises(InvalidParameterError, match=r"outside the NIJ limits of 0.25-0.75 sq mi"):
        coverage_for_area(area, 5.0)
    assert coverage_for_area(area, 5.0, nij_limits=False) == 222 / 5000
    with pytest.raises(InvalidParameterError, match="smaller than one cell"):
        coverage_for_area(area, 0.01, nij_limits=False)
    small = StudyArea.square(Grid(0.0, 0.0, 50.0, 200, 200))  # 2,500 m² cells: 26,910 sq ft
    with pytest.raises(InvalidParameterError, match=r"cell area 2500 m² \(26,910 sq ft\): outside the NIJ"):
        coverage_for_area(small, 1.0)
    scores = coverage_scores(np.arange(5000.0), np.ones(5000), [coverage_for_area(area, 0.9)])
    assert scores["n_flagged"][0] == 40 and scores["pai"][0] == pytest.approx(1.0)
