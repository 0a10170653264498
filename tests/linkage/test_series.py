"""Series from pairs: clustering, seeded growth, recovery scores, descriptions."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.errors import InvalidParameterError
from crimelens.linkage import cluster_pairs, grow_series, link_matrix, series_recovery


def test_components_chain_and_average_linkage_resists_chaining() -> None:
    # two tight triangles joined by one strong spurious link 2-3
    i = np.array([0, 0, 1, 3, 3, 4, 2])
    j = np.array([1, 2, 2, 4, 5, 5, 3])
    p = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8])
    comps = cluster_pairs(6, i, j, p, threshold=0.5, method="components")
    assert [g.tolist() for g in comps] == [[0, 1, 2, 3, 4, 5]]
    avg = cluster_pairs(6, i, j, p, threshold=0.5, method="average")
    assert sorted(g.tolist() for g in avg) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(InvalidParameterError):
        cluster_pairs(6, i, j, p, threshold=0.0)


def test_grow_series_stops_when_cohesion_drops() -> None:
    i = np.array([0, 0, 1, 2, 3])
    j = np.array([1, 2, 2, 3, 4])
    p = np.array([0.9, 0.8, 0.85, 0.6, 0.9])
    m = link_matrix(5, i, j, p)
    assert grow_series(m, [0], threshold=0.5).tolist() == [0, 1, 2]  # 3's mean link to {0,1,2} is 0.2
    assert grow_series(m, [3], threshold=0.5).tolist() == [3, 4]
    with pytest.raises(InvalidParameterError):
        grow_series(m, [], threshold=0.5)


def test_series_recovery_counts_exact_and_partial() -> None:
    true = [{"a", "b", "c", "d"}, {"e", "f"}, {"g", "h", "i"}]
    pred = [{"a", "b", "c", "d"}, {"e", "x", "y"}, {"g", "h", "z"}]
    r = series_recovery(true, pred)
    assert (r.n_exact, r.n_partial) == (1, 2)  # {e,x,y} holds half of {e,f} but is mostly others
    assert r.exact_share == pytest.approx(1 / 3)


@pytest.mark.parametrize("method", ["components", "average"])
def test_a_component_over_the_cap_is_split_by_raising_its_threshold(method: str) -> None:
    # three tight groups of 8 (p = 0.9 inside), chained by weak bridges (0.52, 0.56) and a
    # straggler hanging on at 0.51: one component of 25 at 0.5, over a cap of 10
    i, j, p = [], [], []
    for g in range(3):
        for a in range(8):
            for b in range(a + 1, 8):
                i.append(8 * g + a)
                j.append(8 * g + b)
                p.append(0.9)
    i += [7, 15, 23]
    j += [8, 16, 24]
    p += [0.52, 0.56, 0.51]
    args = (25, np.array(i), np.array(j), np.array(p))
    whole = cluster_pairs(*args, threshold=0.5, method=method)  # the default cap (2,000) keeps it whole
    assert [len(x) for x in whole] == ([25] if method == "components" else [8, 8, 8])
    split = cluster_pairs(*args, threshold=0.5, method=method, max_component=10)
    # 0.55 drops the 0.52 bridge and the straggler, 0.60 the 0.56 bridge: the three groups, no more
    assert [x.tolist() for x in split] == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    # a cap below the tight groups: raising the threshold past 0.9 leaves nothing linked, so no series
    assert cluster_pairs(*args, threshold=0.5, method=method, max_component=3) == []
