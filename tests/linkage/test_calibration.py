"""The link probability is calibrated on candidate pairs; series are explained by pairs inside the block.

A synthetic city whose series are all solved: its labels are the truth, so the share of held-out
candidate pairs that are linked is known. The linker samples the training pairs of two
unlabelled incidents (0.44 % of them on the city of seed 3) and used to take its probabilities
from models fitted on them unweighted, far above that share (there, held-out pairs of two
unlabelled incidents reported at 0.9-0.99 were linked in 13 %).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from crimelens.linkage import PairwiseLinker, describe_series, parse_attrs

CUT = pd.Timestamp("2024-05-01T00:00:00Z")
#: bins of reported probability checked when they hold at least MIN_PAIRS held-out pairs
BINS = (0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0 + 1e-9)
MIN_PAIRS = 100


@pytest.fixture(scope="module")
def held_out() -> dict[str, object]:
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=11, days=240, n_series=60, solved_fraction=1.0, scale=0.5).generate()
    t = city.incidents
    labels = list(parse_attrs(t.frame["attrs"].to_numpy(dtype=object)).get("series_id"))
    before = (pd.to_datetime(t.frame["occurred_from"], utc=True) < CUT).to_numpy()
    linker = PairwiseLinker(radius_m=2000.0, window_days=45.0).fit(
        t.select(mask=before), [labels[m] for m in np.flatnonzero(before)])
    test = t.select(mask=~before)
    enc = linker.encode(test)
    scores = linker.score_all(enc)
    truth = {i: s for s, ids in city.series.items() for i in ids}
    series = np.array([truth.get(str(v)) for v in enc.incident_id], dtype=object)
    y = np.array([a is not None and a == b for a, b in zip(series[scores.i], series[scores.j], strict=True)])
    return {"linker": linker, "table": test, "enc": enc, "scores": scores, "y": y}


def test_held_out_candidate_pairs_are_linked_in_the_share_their_probability_says(held_out) -> None:  # type: ignore[no-untyped-def]
    scores, y = held_out["scores"], held_out["y"]
    p = scores.probability
    assert scores.n_candidates == len(p) > 100_000 and y.sum() > 500
    # over every candidate pair: the expected number of links is the number linked, within a quarter
    assert 0.75 <= p.sum() / y.sum() <= 1.33, (p.sum(), y.sum())
    # per bin with enough pairs: mean reported probability within 0.1 (plus two standard errors) of the share
    checked = 0
    for lo, hi in pairwise(BINS):
        at = (p >= lo) & (p < hi)
        if at.sum() < MIN_PAIRS:
            continue
        share = float(y[at].mean())
        tolerance = 0.1 + 2 * np.sqrt(share * (1 - share) / at.sum())
        assert abs(float(p[at].mean()) - share) <= tolerance, (lo, hi, int(at.sum()), float(p[at].mean()), share)
        checked += 1
    assert checked >= 5
    # the training sample, weighted back to the block's candidate pairs, says the same of itself
    linker, enc = held_out["linker"], held_out["enc"]
    assert linker.training_["mean_calibrated_probability"] == pytest.approx(
        linker.training_["candidate_link_share"], rel=1e-6)
    # an explanation's parts add up to the log-odds of the probability reported, in either stage
    pick = np.concatenate([np.argsort(-p)[:20], np.flatnonzero(p < 1e-3)[:20]])
    expl = linker.explain(enc, scores.i[pick], scores.j[pick])
    assert {e.stage for e in expl} == {"shortlist", "cheap"}
    for e, k in zip(expl, pick, strict=True):
        assert e.probability == pytest.approx(p[k], rel=1e-12)
        assert e.base + sum(c for _, _, c in e.contributions) == pytest.approx(np.log(p[k] / (1 - p[k])), abs=1e-6)


def test_a_member_is_explained_by_links_inside_the_block(held_out) -> None:  # type: ignore[no-untyped-def]
    linker, table, enc, scores = held_out["linker"], held_out["table"], held_out["enc"], held_out["scores"]
    a, b = int(scores.i[np.argmax(scores.probability)]), int(scores.j[np.argmax(scores.probability)])
    # an incident of the same family far from both (more than the radius): never their candidate
    far = (enc.family == enc.family[a]) & (np.hypot(enc.x - enc.x[a], enc.y - enc.y[a]) > 6_000.0)
    c = int(np.flatnonzero(far)[0])
    assert np.hypot(enc.x[c] - enc.x[b], enc.y[c] - enc.y[b]) > linker.radius_m
    (series,) = describe_series(linker, table, enc, [np.array([a, b, c])])
    by_id = {e.incident_id: e for e in series.explanations}
    ida, idb, idc = (str(enc.incident_id[k]) for k in (a, b, c))
    p_ab = float(scores.probability.max())
    assert by_id[ida].strongest_link == idb and by_id[idb].strongest_link == ida
    assert by_id[ida].strongest_probability == pytest.approx(p_ab, rel=1e-12)
    assert by_id[ida].mean_probability == pytest.approx(p_ab, rel=1e-12)  # c, outside the block, not averaged in
    # c has no series-mate inside the block: no strongest link, no probability made up for it
    assert by_id[idc].strongest_link is None and by_id[idc].strongest_probability == 0.0
    assert by_id[idc].mean_probability == 0.0 and by_id[idc].drivers == ()
    assert series.cohesion == pytest.approx(p_ab, rel=1e-12)


def test_a_linker_stored_before_the_map_loads_and_scores_with_its_stages_probabilities(held_out) -> None:  # type: ignore[no-untyped-def]
    import pickle

    linker, enc, scores = held_out["linker"], held_out["enc"], held_out["scores"]
    old = pickle.loads(pickle.dumps(linker))
    del old.__dict__["calibration_"], old.__dict__["calibration_pairs"]  # as a linker pickled before them
    old = pickle.loads(pickle.dumps(old))
    assert old.get_params()["calibration_pairs"] == 500_000  # reads as the default
    a, b = linker.calibration_
    k = np.argsort(-scores.probability)[:50]
    p = scores.probability[k]
    _, p_old = old.score(enc, scores.i[k], scores.j[k])
    # the stages' own probability: the map undone
    np.testing.assert_allclose(p_old, 1 / (1 + np.exp(-(np.log(p / (1 - p)) - b) / a)), rtol=1e-9)
