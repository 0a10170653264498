"""Pair features on hand-built incidents: distances, window gaps, aoristic time, rarity-weighted M.O., text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from crimelens.domain import Incident, IncidentTable
from crimelens.errors import InvalidParameterError, ProtectedAttributeError
from crimelens.linkage import (
    PairFeaturizer,
    attr_values,
    normalise_labels,
    parse_attrs,
    read_crimelinkage,
)
from tests.conftest import shared


def _table() -> IncidentTable:
    # Incident() refuses protected M.O. attributes; an audited option can still put them in the
    # attrs column (the service joins them from the audit table), so build the frame by hand.
    rows = [
        Incident("a", "burglary", "2024-03-01T22:00:00Z", "2024-03-01T22:00:00Z", 0.0, 0.0,
                 attrs={"entry_method": "crowbar", "target": "house"},
                 narrative="Rear door forced with a crowbar; jewellery taken."),
        Incident("b", "burglary", "2024-03-03T02:00:00Z", "2024-03-03T02:00:00Z", 300.0, 400.0,
                 attrs={"entry_method": "crowbar", "target": "house"},
                 narrative="Rear door forced using a crowbar, jewellery missing."),
        Incident("c", "burglary", "2024-03-10T08:00:00Z", "2024-03-12T08:00:00Z", 0.0, 50.0,
                 attrs={"entry_method": "unlocked", "target": "house"}, narrative="Unlocked garage, bike taken."),
        Incident("d", "theft", "2024-03-02T12:00:00Z", "2024-03-02T12:00:00Z", 10.0, 0.0,
                 attrs={"entry_method": "unlocked", "target": "house"}, narrative="Bike taken from yard."),
    ]
    frame = IncidentTable.from_incidents(rows, crs="EPSG:32616").frame
    frame.loc[0, "attrs"] = '{"entry_method": "crowbar", "target": "house", "suspect_race": "x"}'
    frame.loc[1, "attrs"] = '{"entry_method": "crowbar", "target": "house", "suspect_race": "y"}'
    return IncidentTable(frame)


def _row(f: PairFeaturizer, enc, a: int, b: int) -> dict[str, float]:
    x = f.transform(enc, np.array([a]), np.array([b]))[0]
    return dict(zip(f.feature_names_, x.tolist(), strict=True))


def test_distance_gap_and_circular_hour() -> None:
    t = _table()
    f = PairFeaturizer(narrative=False).fit(t)
    enc = f.encode(t)
    ab = _row(f, enc, 0, 1)
    assert ab["distance_m"] == pytest.approx(500.0)
    assert ab["time_gap_days"] == pytest.approx(28 / 24)
    assert ab["hour_diff_h"] == pytest.approx(4.0)  # 22:00 vs 02:00 across midnight
    assert ab["weekday_diff"] == pytest.approx(28 / 24)
    ac = _row(f, enc, 0, 2)  # c's window is two days long: hour unknown, tends to 6 h
    assert ac["time_gap_days"] == pytest.approx(8 + 10 / 24)
    assert 4.0 < ac["hour_diff_h"] < 7.0
    assert _row(f, enc, 1, 0) == pytest.approx(ab)  # symmetric


def test_rare_mo_agreement_weighs_more_than_common() -> None:
    t = _table()
    f = PairFeaturizer(narrative=False).fit(t)
    enc = f.encode(t)
    ab = _row(f, enc, 0, 1)  # share crowbar (2 of 4) and house (4 of 4)
    assert ab["mo_entry_method"] == pytest.approx(np.log(5 / 3))
    assert ab["mo_target"] == pytest.approx(np.log(5 / 5))
    assert ab["mo_entry_method"] > ab["mo_target"]
    ac = _row(f, enc, 0, 2)
    assert ac["mo_entry_method"] == 0.0 and ac["mo_mismatch"] == 1.0 and ac["mo_known"] == 2.0


def test_protected_suspect_descriptors_are_refused_unless_enabled() -> None:
    t = _table()
    auto = PairFeaturizer(narrative=False).fit(t)
    assert "suspect_race" not in auto.mo_columns_
    assert auto.excluded_columns_["suspect_race"] == "protected attribute"
    with pytest.raises(ProtectedAttributeError, match="suspect_race"):
        PairFeaturizer(mo_columns=["entry_method", "suspect_race"]).fit(t)
    enabled = PairFeaturizer(narrative=False, protected_descriptors=("suspect_race",)).fit(t)
    assert "suspect_race" in enabled.mo_columns_
    assert enabled.protected_descriptors_used_ == ["suspect_race"]
    with pytest.raises(InvalidParameterError, match="not a protected attribute"):
        PairFeaturizer(protected_descriptors=("entry_method",)).fit(t)


def test_narrative_cosine_matches_scikit_learn() -> None:
    t = _table()
    f = PairFeaturizer(narrative=True).fit(t)
    enc = f.encode(t)
    i = np.array([0, 0, 1, 2])
    j = np.array([1, 2, 3, 3])
    got = f.transform(enc, i, j)[:, f.feature_names_.index("narrative_cosine")]
    texts = t.frame["narrative"].astype(str).tolist()
    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(texts).transform(texts)
    want = np.asarray(ref[i].multiply(ref[j]).sum(axis=1)).ravel()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[0] > got[1]  # the two crowbar burglaries read alike
    assert "narrative_svd_cosine" in f.cheap_feature_names_
    assert "narrative_cosine" not in f.cheap_feature_names_


def test_fused_linear_score_equals_matrix_product() -> None:
    t = _table()
    f = PairFeaturizer(narrative=True).fit(t)
    enc = f.encode(t)
    i, j = np.triu_indices(len(t), 1)
    X = f.transform(enc, i, j, cheap=True)
    w = np.linspace(-1, 1, X.shape[1])
    np.testing.assert_allclose(f.linear_logit(enc, i, j, w, 0.25), X @ w + 0.25, rtol=1e-12)


def _sampled_aoristic(a0: float, a1: float, b0: float, b1: float, period: float, unit: float,
                      n: int) -> float:
    """The former estimate: mean circular difference over an n × n midpoint grid of the two windows."""
    u = a0 + (np.arange(n) + 0.5) / n * (a1 - a0)
    v = b0 + (np.arange(n) + 0.5) / n * (b1 - b0)
    d = np.abs(u[:, None] % period - v[None, :] % period)
    return float(np.minimum(d, period - d).mean() * unit)


@pytest.mark.parametrize(("a", "b", "period", "unit", "want"), [
    ((0.0, 0.0), (0.5, 0.5), 1.0, 24.0, 12.0),  # points 12 h apart
    ((22 / 24, 22 / 24), (1 + 2 / 24, 1 + 2 / 24), 1.0, 24.0, 4.0),  # 22:00 vs 02:00 next day
    ((3.0, 4.0), (10.3, 10.35), 1.0, 24.0, 6.0),  # a whole day: hour unknown -> the independence value
    ((3.0, 10.0), (10.3, 10.3), 7.0, 1.0, 1.75),  # a whole week: weekday unknown
    ((0.0, 0.0), (0.0, 0.5), 1.0, 24.0, 6.0),  # point vs 00:00-12:00: |U| uniform on 0-12 h
    ((0.0, 0.0), (0.0, 0.25), 1.0, 24.0, 3.0),
    ((0.0, 2 / 24), (5.0, 5 + 2 / 24), 1.0, 24.0, 2 / 3),  # same 2-hour window: E|U - V| = L / 3
    ((0.0, 2 / 24), (0.5, 0.5 + 2 / 24), 1.0, 24.0, 12 - 2 / 3),  # 12 h apart: 12 - E|D - 12|
])
def test_aoristic_difference_hand_computed(a, b, period, unit, want) -> None:
    from crimelens.linkage._features import _aoristic_diff

    t0 = 19_700.0  # days since 1970, as incidents have
    got = _aoristic_diff(t0 + a[0], t0 + a[1], t0 + b[0], t0 + b[1], period, unit)
    assert got == pytest.approx(want, abs=1e-9)
    assert _aoristic_diff(t0 + b[0], t0 + b[1], t0 + a[0], t0 + a[1], period, unit) == pytest.approx(got, abs=1e-9)


def test_aoristic_closed_form_agrees_with_sampling() -> None:
    from crimelens.linkage._features import _aoristic_diff

    rng = np.random.default_rng(5)
    for _ in range(400):
        a0 = 19_700 + rng.uniform(0, 30)
        b0 = a0 + rng.uniform(-30, 30)
        la = float(rng.choice([0.0, 3e-5, rng.exponential(0.3), rng.exponential(3.0)]))
        lb = float(rng.choice([0.0, rng.exponential(0.3), rng.exponential(3.0)]))
        for period, unit in ((1.0, 24.0), (7.0, 1.0)):
            got = _aoristic_diff(a0, a0 + la, b0, b0 + lb, period, unit)
            assert 0.0 <= got <= period * unit / 2
            # the old 4 x 4 midpoint estimate is within its quadrature error: the circular
            # difference is 1-Lipschitz, so each grid cell's error is at most a quarter of its width
            old = _sampled_aoristic(a0, a0 + la, b0, b0 + lb, period, unit, 4)
            assert abs(got - old) <= unit * (la + lb) / 16 + 1e-9
            fine = _sampled_aoristic(a0, a0 + la, b0, b0 + lb, period, unit, 600)
            assert abs(got - fine) <= unit * (la + lb) / 2400 + 1e-9


def _narrative_table(n_texts: int, n_rows: int, seed: int, n_words: int = 200) -> IncidentTable:
    """Templated narratives (``n_texts`` of them, drawn with repetition; each once when
    ``n_texts == n_rows``) of ``n_words`` random words, plus a one-off and two blanks."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = ["".join(rng.choice(letters, int(rng.integers(3, 9)))) for _ in range(n_words)]
    templates = [" ".join(rng.choice(words, int(rng.integers(3, 9)))) for _ in range(n_texts)]
    if n_texts == n_rows:
        texts = [f"{s} {k}" for k, s in enumerate(templates)]
    else:
        texts = [templates[k] for k in rng.integers(0, n_texts, n_rows)]
    texts[:3] = ["Suspect climbed the fence at night.", "", "   "]
    return IncidentTable.from_incidents([
        Incident(f"i{k}", "burglary", "2024-03-01T10:00:00Z", "2024-03-01T12:00:00Z", float(k), 0.0,
                 narrative=t) for k, t in enumerate(texts)], crs="EPSG:32616")


def test_narrative_vectoriser_is_scikit_learns_fit_on_every_copy() -> None:
    # the vectoriser is learnt from the distinct narratives, each counted as often as it recurs
    t = _narrative_table(n_texts=40, n_rows=600, seed=1)
    f = PairFeaturizer(narrative=True).fit(t)
    texts = t.frame["narrative"].fillna("").astype(str).tolist()
    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True).fit(texts)
    assert f.text_.vocabulary_ == ref.vocabulary_
    np.testing.assert_array_equal(f.text_.idf_, ref.idf_)
    sample = [*texts[:50], "an unseen narrative: rear gate forced"]
    got, want = f.text_.transform(sample), ref.transform(sample)
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    assert f.narrative_counts_ == {s: c for s, c in zip(*np.unique(texts, return_counts=True), strict=True)
                                   if c > 1 and s.strip()}
    assert f.n_fit_ == 600


@pytest.mark.parametrize(("n_words", "n_texts", "n_rows", "fitted_rows"), [
    (20, 600, 2000, "distinct"),  # more distinct narratives than terms: each once, weighted by its copies
    (200, 40, 600, "all"),  # fewer distinct narratives than terms: every row
    (200, 700, 700, "all"),  # every narrative distinct
])
def test_narrative_svd_is_the_svd_of_every_copy(n_words: int, n_texts: int, n_rows: int, fitted_rows: str) -> None:
    # each the randomised SVD of every narrative's TF-IDF row, to rounding
    import pandas as pd
    from sklearn.decomposition import TruncatedSVD

    from crimelens.linkage._features import _svd_rows

    t = _narrative_table(n_texts=n_texts, n_rows=n_rows, seed=2, n_words=n_words)
    f = PairFeaturizer(narrative=True).fit(t)
    texts = t.frame["narrative"].fillna("").astype(str).tolist()
    X = f.text_.transform(texts)
    codes, distinct = pd.factorize(pd.Series(texts))
    rows = _svd_rows(f.text_.transform(list(distinct)), codes, np.bincount(codes), f.svd_.n_components)
    assert rows.shape[0] == (len(distinct) if fitted_rows == "distinct" else len(texts))
    assert fitted_rows == "all" or rows.shape[0] < len(texts) / 2
    ref = TruncatedSVD(n_components=f.svd_.n_components, random_state=0).fit(X)
    np.testing.assert_allclose(f.svd_.singular_values_, ref.singular_values_, rtol=1e-9, atol=1e-9)
    # the narrative_svd_cosine of every pair of narratives (components of equal singular values
    # may come out rotated; the cosines cannot)
    def cosines(svd: TruncatedSVD) -> np.ndarray:
        e = svd.transform(X)
        e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return e @ e.T

    np.testing.assert_allclose(cosines(f.svd_), cosines(ref), atol=1e-9)


def test_featurizer_reports_its_three_steps() -> None:
    seen: list[tuple[int, int]] = []
    PairFeaturizer(narrative=True).fit(_narrative_table(40, 200, seed=3), progress=lambda k, n: seen.append((k, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    PairFeaturizer(narrative=False).fit(_table(), progress=lambda k, n: seen.append((k, n)))
    assert seen == [(1, 3), (3, 3)]


def test_attr_values_equal_parse_attrs_on_real_attributes() -> None:
    """One attribute read without parsing the other rows is the same as parsing every row."""
    from crimelens.synth import SyntheticCity

    tables = [SyntheticCity(seed=5, days=60, n_series=8, n_areas=6, scale=0.5).generate().incidents,
              read_crimelinkage(shared("crimelinkage")).incidents]
    for table in tables:
        attrs = table.frame["attrs"].to_numpy(dtype=object)
        full = parse_attrs(attrs)
        assert len(full.columns) >= 3
        for key in [*full.columns, "absent_key"]:
            want = [None if v is None or v != v else v for v in full[key]] if key in full else [None] * len(attrs)
            assert attr_values(attrs, key) == want, key


def test_attr_values_reads_escaped_keys_and_keeps_numbers_as_given() -> None:
    attrs = ['{"series\\u005fid": "s1"}',  # the key written with an escape is still the key
             '{"note": "series_id unknown"}',  # the name in a value is not the key
             '{"series_id": 12}', None, "", '{"weapon": "knife"}',
             '{"series_id": ["b", "a"]}', '{"series_id": null}']
    got = attr_values(attrs, "series_id")
    assert got == ["s1", None, 12, None, None, None, "a;b", None]
    # pandas makes an integer column with gaps float ("12.0"); an analyst's label "12" must still match
    assert normalise_labels(got)[2] == frozenset({"12"})
    assert parse_attrs(attrs)["series_id"][2] == 12.0


def _parse_every_row(attrs: list[object]) -> pd.DataFrame:
    """parse_attrs as it was: every row parsed and framed (the reference for the deduplicated one)."""
    rows = []
    for a in attrs:
        d = json.loads(a) if isinstance(a, str) and a else {}
        rows.append({k: ";".join(sorted(map(str, v))) if isinstance(v, list) else v for k, v in d.items()})
    frame = pd.DataFrame.from_records(rows, index=pd.RangeIndex(len(rows)))
    return frame.astype(object).where(frame.notna(), np.nan)


def test_parse_attrs_parses_each_distinct_text_once_with_the_same_result() -> None:
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=5, days=60, n_series=8, n_areas=6, scale=0.5).generate().incidents
    real = city.frame["attrs"].tolist()
    assert len(set(real)) < 0.8 * len(real)  # templated M.O.: texts repeat
    edge = ['{"b": 1}', None, '{"a": 2.5, "b": 1}', "", float("nan"), '{"b": 1}', '{"tags": ["y", "x"]}',
            '{"n": 3}', '{"b": null}']
    for attrs in (real, edge, edge[::-1], [], [None, None]):
        pd.testing.assert_frame_equal(parse_attrs(attrs), _parse_every_row(attrs))
    assert list(parse_attrs(edge).columns) == ["b", "a", "tags", "n"]  # the order keys first appear in


_KEYS = ["series_id", "series_id_old", "Series_ID", "sérié", 'a"b', "tab\tkey", "weapon", "n"]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.one_of(
    st.none(), st.just(""),
    st.tuples(st.dictionaries(st.sampled_from(_KEYS), st.one_of(
        st.none(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
        st.lists(st.text(max_size=3), max_size=3)), max_size=4), st.booleans())), max_size=8),
    key=st.sampled_from(_KEYS))
def test_attr_values_equal_reading_every_row(rows: list[object], key: str) -> None:
    """Whatever the keys, values and escaping (``ensure_ascii``), skipping rows that cannot hold
    the key gives what parsing every row gives."""
    attrs = [r if not isinstance(r, tuple) else json.dumps(r[0], ensure_ascii=r[1]) for r in rows]
    want = []
    for a in attrs:
        v = json.loads(a).get(key) if isinstance(a, str) and a else None
        want.append(";".join(sorted(map(str, v))) if isinstance(v, list) else v)
    assert attr_values(attrs, key) == want
