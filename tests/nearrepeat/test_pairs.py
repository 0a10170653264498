"""The near-repeat pair list and its originator rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crimelens.nearrepeat import BandSet, knox_test, near_repeat_pairs
from tests.conftest import shared


def test_pairs_match_the_knox_cells_and_a_brute_force_list() -> None:
    rng = np.random.default_rng(3)
    xy = np.round(rng.uniform(0, 2000, (400, 2)) / 10) * 10
    t = np.floor(rng.uniform(0, 60, 400))
    ids = [f"e{k:03d}" for k in range(400)]
    pairs = near_repeat_pairs(xy, t, ids=ids, space_bands=[100, 200], time_bands=[7, 14], convention="nrc")
    r = knox_test(xy, t, space_bands=[100, 200], time_bands=[7, 14], convention="nrc", n_permutations=0)
    counts = pairs.groupby(["space_band", "time_band"]).size()
    for s, sl in enumerate(r.space.labels[:-1]):
        for c, tl in enumerate(r.time.labels[:-1]):
            assert counts.get((sl, tl), 0) == r.observed[s, c]
    i, j = np.triu_indices(400, k=1)
    d = np.abs(xy[i] - xy[j]).sum(axis=1)
    g = np.abs(t[i] - t[j])
    sb, tb = BandSet.space([100, 200], "nrc"), BandSet.time([7, 14], "nrc")
    inside = (sb.assign(d) < sb.n_finite) & (tb.assign(g) < tb.n_finite)
    assert len(pairs) == int(inside.sum())


def test_originator_is_earlier_then_smaller_id_whatever_the_input_order() -> None:
    xy = np.array([[0.0, 0.0], [0.0, 0.0], [20.0, 0.0], [5000.0, 0.0]])
    t = np.array([10.0, 10.0, 8.0, 10.0])
    a = near_repeat_pairs(xy, t, ids=["z", "m", "q", "far"], space_bands=[50], time_bands=[7])
    flip = near_repeat_pairs(xy[::-1], t[::-1], ids=["far", "q", "m", "z"], space_bands=[50], time_bands=[7])
    expected = [("q", "m"), ("q", "z"), ("m", "z")]
    assert list(zip(a["originator"], a["follower"], strict=True)) == expected
    pd.testing.assert_frame_equal(a, flip)


def test_pairs_from_the_burglary_reference() -> None:
    from crimelens.nearrepeat import read_xyt_csv

    f = read_xyt_csv(shared("knox_reference/chicago_be_month1.csv"))
    pairs = near_repeat_pairs(f.xy, f.day.astype(float), space_bands=[100, 200, 300], time_bands=[7, 14, 21],
                              convention="nrc")
    same = pairs[(pairs["space_band"] == "Same location") & (pairs["time_band"] == "0 to 7")]
    assert len(same) == 28 and (same["distance_m"] == 0).all()
