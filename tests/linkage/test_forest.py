"""The compiled trees give LightGBM's own log-odds, bit for bit, or hand the work back to it."""

from __future__ import annotations

import pickle

import lightgbm
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crimelens.linkage import PairClassifier
from crimelens.linkage._forest import Forest


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 3] = rng.integers(0, 4, n)  # a few repeated values: rows land exactly on thresholds
    z = 2.0 * X[:, 0] - 1.5 * X[:, 1] + 0.5 * X[:, 0] * X[:, 2] + 0.4 * X[:, 3] - 3.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted() -> PairClassifier:
    X, y = _data(3000)
    return PairClassifier(model="boosting", n_estimators=120, num_leaves=15, calibration="sigmoid",
                          random_state=0).fit(X, y)


def _booster(m: PairClassifier) -> lightgbm.Booster:
    return m.estimator_.booster_


def _at_thresholds(forest: Forest, rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows whose every value is one of the model's split thresholds, or next to one."""
    splits = forest.threshold[np.isfinite(forest.threshold)]
    X = rng.choice(splits, size=(n, forest.n_features))
    nudge = rng.integers(-1, 2, size=X.shape)
    return np.where(nudge < 0, np.nextafter(X, -np.inf), np.where(nudge > 0, np.nextafter(X, np.inf), X))


def test_equal_to_lightgbm_bit_for_bit_on_both_paths(fitted: PairClassifier) -> None:
    forest = fitted.forest_
    assert forest is not None
    rng = np.random.default_rng(3)
    # below and above the row count where scoring goes parallel; rows on and beside thresholds
    for X in (_data(257, seed=1)[0], _data(5_000, seed=2)[0], _at_thresholds(forest, rng, 30_000)):
        ref = _booster(fitted).predict(X, raw_score=True)
        got = forest.raw_score(X)
        assert got is not None
        assert np.array_equal(got, ref)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=5, max_size=5), st.integers(0, 4))
def test_any_single_row_matches(fitted: PairClassifier, row: list[float], on: int) -> None:
    forest = fitted.forest_
    assert forest is not None
    x = np.array([row])
    x[0, on] = forest.threshold[np.isfinite(forest.threshold)][on]  # one value exactly on a split
    assert np.array_equal(forest.raw_score(x), _booster(fitted).predict(x, raw_score=True))


def test_the_classifier_predicts_what_lightgbm_would(fitted: PairClassifier) -> None:
    X = _data(5000, seed=4)[0]
    p = fitted.predict_proba(X)[:, 1]
    a, b = fitted.calibrator_
    z = a * _booster(fitted).predict(X, raw_score=True) + b
    assert np.array_equal(p, 1.0 / (1.0 + np.exp(-z)))


def test_a_model_stored_before_compiled_trees_gets_them_on_first_use(fitted: PairClassifier) -> None:
    old = pickle.loads(pickle.dumps(fitted))
    del old.__dict__["forest_"]
    X = _data(100, seed=5)[0]
    assert np.array_equal(old.decision_function(X), fitted.decision_function(X))
    assert isinstance(old.forest_, Forest)


def test_nan_and_wrong_width_fall_back_to_lightgbm(fitted: PairClassifier) -> None:
    forest = fitted.forest_
    assert forest is not None
    X = _data(10, seed=6)[0]
    X[2, 1] = np.nan
    assert forest.raw_score(X) is None
    assert forest.raw_score(X[:, :4]) is None


def test_categorical_splits_are_not_compiled() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 2000), rng.normal(size=2000)])
    y = (np.isin(X[:, 0], [1, 4]) ^ (rng.random(2000) < 0.1)).astype(int)
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "min_data_per_group": 5},
                             lightgbm.Dataset(X, y, categorical_feature=[0]), num_boost_round=5)
    assert Forest.of(booster) is None


def test_linear_models_have_no_trees() -> None:
    X, y = _data(500)
    assert PairClassifier().fit(X, y).forest_ is None


def test_the_one_thread_and_parallel_kernels_are_separate_cache_entries() -> None:
    """numba's on-disk cache keys a function by its code and signature, not by ``parallel``: one
    function jitted both ways would load whichever build was cached first for both."""
    from crimelens.linkage import _forest

    assert _forest._walk_parallel.targetoptions.get("parallel")
    assert not _forest._walk_serial.targetoptions.get("parallel")
    assert _forest._walk_parallel.py_func.__code__ is not _forest._walk_serial.py_func.__code__
