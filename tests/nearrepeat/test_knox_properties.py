"""Property test: any small input, any bands, any convention -> the brute-force table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crimelens.nearrepeat import knox_test
from tests.nearrepeat.test_knox import brute_force

pytestmark = pytest.mark.slow


@st.composite
def inputs(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(min_value=2, max_value=40))
    step = draw(st.sampled_from([25.0, 50.0, 33.3]))
    xs = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))
    ts = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    frac = draw(st.booleans())
    xy = np.column_stack([np.asarray(xs) * step, np.asarray(ys) * step]) + 350_000.0
    # knox_test reads times within 1e-6 of a whole hour or minute as that tick (timestamps arrive as
    # float days); the brute force does not. A fraction is therefore on the minute grid exactly, or
    # clearly off it (Hypothesis found 1e-9 days, which the library rightly reads as midnight).
    off_grid = st.floats(0.0, 0.99).filter(
        lambda f: f * 1440 == round(f * 1440) or abs(f * 1440 - round(f * 1440)) > 1e-4)
    t = np.asarray(ts, dtype=float) + (draw(off_grid) if frac else 0.0) * (np.arange(n) % 2)
    k = draw(st.integers(1, 4))
    space = sorted(set(draw(st.lists(st.integers(1, 12), min_size=k, max_size=k))))
    time = sorted(set(draw(st.lists(st.integers(1, 30), min_size=k, max_size=k))))
    return xy, t, [50.0 * s for s in space], [float(v) for v in time]


@settings(max_examples=60, deadline=None)
@given(data=inputs(), convention=st.sampled_from(["nrc", "standard", "pysal"]),
       distance=st.sampled_from(["manhattan", "euclidean"]))
def test_any_input_matches_brute_force(data, convention: str, distance: str) -> None:  # type: ignore[no-untyped-def]
    xy, t, sb, tb = data
    r = knox_test(xy, t, space_bands=sb, time_bands=tb, distance=distance, convention=convention,
                  n_permutations=3, seed=0)
    np.testing.assert_array_equal(r.observed, brute_force(xy, t, sb, tb, distance, convention))
    assert r.simulated is not None
    np.testing.assert_array_equal(r.simulated.sum(axis=(1, 2)), np.full(3, r.n_pairs))
