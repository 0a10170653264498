"""Published reference tables: the Near Repeat Calculator's two Chicago runs and PySAL's Burkitt Knox.

The NRC expectations are parsed from the Calculator's own output files in
``../shared/data/knox_reference`` (verbose CSV for the observed table and the
simulated draws, HTML summary for the settings); nothing is hard-coded but the
distance metric, which the Calculator does not print (PROVENANCE: Manhattan).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from crimelens.nearrepeat import BandSet, knox_test, read_nrc_report, read_xyt_csv
from tests.conftest import shared

NRC_RUNS = {
    "burglary": ("chicago_be_month1", "2019-09-23_143005"),
    "arson": ("chicago_arson", "2019-09-23_145637"),
}


def _nrc(name: str) -> tuple[Path, Path, Path]:
    stem, stamp = NRC_RUNS[name]
    return (
        shared(f"knox_reference/{stem}.csv"),
        shared(f"knox_reference/{stem}_NRverbose_{stamp}.csv"),
        shared(f"knox_reference/{stem}_NRsummary_{stamp}.htm"),
    )


@pytest.fixture(scope="module", params=sorted(NRC_RUNS))
def nrc_case(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    data, verbose, summary = _nrc(request.param)
    report = read_nrc_report(verbose, summary)
    events = read_xyt_csv(data)
    result = knox_test(events.xy, events.day.astype(float), space_bands=report.space_edges,
                       time_bands=report.time_edges, distance="manhattan", convention="nrc",
                       n_permutations=999, seed=20190923)
    return request.param, report, events, result


def test_nrc_observed_table_reproduced_exactly(nrc_case) -> None:  # type: ignore[no-untyped-def]
    name, report, events, result = nrc_case
    assert report.records_used == len(events) and not events.rejected
    assert result.space.labels == report.rows
    assert result.time.labels == report.columns
    np.testing.assert_array_equal(result.observed, report.observed, err_msg=name)
    assert result.observed.sum() == len(events) * (len(events) - 1) // 2


def test_nrc_pvalues_within_monte_carlo_error(nrc_case) -> None:  # type: ignore[no-untyped-def]
    name, report, _, result = nrc_case
    n_nrc = report.n_simulations
    assert n_nrc is not None and report.simulated is not None
    # the published p-values follow (1 + #sims >= observed) / (n + 1) on the published draws
    k = (report.simulated >= report.observed[None]).sum(axis=0)
    np.testing.assert_allclose((k + 1) / (n_nrc + 1), report.p_value, atol=0.006)
    # ours (999 permutations) estimate the same permutation p-value: compare within 4 standard errors
    p = result.p_value
    se = np.sqrt(p * (1 - p) / (n_nrc + 1) + p * (1 - p) / 1000)
    tol = 4 * se + 1.0 / (n_nrc + 1)
    assert np.all(np.abs(p - report.p_value) <= tol), (name, p.round(3), report.p_value)
    # and the same cells are significant wherever the NRC's resolution allows it to be sure
    sure = (report.p_value <= 1.0 / (n_nrc + 1) + 1e-9) & (report.observed > 0)
    assert np.all(result.p_value[sure] < 0.05)


def test_nrc_expected_counts_within_monte_carlo_error(nrc_case) -> None:  # type: ignore[no-untyped-def]
    _, report, _, result = nrc_case
    assert report.simulated is not None
    nrc_mean = report.simulated.mean(axis=0)
    nrc_sd = report.simulated.std(axis=0, ddof=1)
    n = report.simulated.shape[0]
    # ours against the exact permutation expectation, theirs against ours
    assert result.simulated is not None
    own_se = result.simulated.std(axis=0, ddof=1) / math.sqrt(result.n_permutations)
    assert np.all(np.abs(result.expected - result.expected_analytic) <= 5 * own_se + 1e-9)
    gap = np.abs(nrc_mean - result.expected_analytic)
    assert np.all(gap <= 4 * nrc_sd / math.sqrt(n) + 0.05 + 1e-6 * result.expected_analytic)


def test_nrc_arson_float32_quirk_decides_one_pair() -> None:
    """Rows 89 and 319 are 399.96 m apart in float64 and 400.0 m in float32 (PROVENANCE)."""
    events = read_xyt_csv(_nrc("arson")[0])
    a, b = events.xy[88], events.xy[318]
    d64 = float(np.abs(a - b).sum())
    a32, b32 = events.xy[88].astype(np.float32), events.xy[318].astype(np.float32)
    d32 = float(np.abs(a32 - b32).sum())
    bands = BandSet.space([200, 400, 600], "nrc")
    assert d64 < 400.0 <= d32
    assert bands.assign(np.array([d64, d32])).tolist() == [2, 3]
    assert abs(int(events.day[88] - events.day[318])) == 147


def test_pysal_burkitt_counts_and_poisson() -> None:
    frame = pd.read_csv(shared("knox_reference/burkitt.csv"))
    r = knox_test(frame[["X", "Y"]].to_numpy(), frame["T"].to_numpy(), space_bands=[20],
                  time_bands=[5], distance="euclidean", convention="pysal", n_permutations=999,
                  seed=12345)
    assert r.n_pairs == 17_578
    assert r.observed.tolist() == [[13, 3416], [39, 14110]]
    np.testing.assert_allclose(r.expected_analytic, [[10.1438161, 3418.85618], [41.8561839, 14107.1438]],
                               rtol=1e-8)
    assert r.expected_analytic[0, 0] == pytest.approx(3429 * 52 / 17578, rel=1e-12)
    # ours is the usual upper tail P(X >= 13); PySAL reports 1 - F(13) = P(X > 13)
    assert r.p_poisson[0, 0] == pytest.approx(0.2223, abs=1e-4)
    pysal_tail = 1.0 - poisson.cdf(r.observed[0, 0], r.expected_analytic[0, 0])
    assert pysal_tail == pytest.approx(0.14624558197140414, rel=1e-9)
    # the pointpats docstring's permutation p (99 permutations, seed 12345) is 0.21
    se = math.sqrt(0.21 * 0.79 / 100) + math.sqrt(0.21 * 0.79 / 1000)
    assert abs(r.p_value[0, 0] - 0.21) <= 3 * se


def test_strict_less_than_gives_pysal_the_documented_12() -> None:
    frame = pd.read_csv(shared("knox_reference/burkitt.csv"))
    r = knox_test(frame[["X", "Y"]].to_numpy(), frame["T"].to_numpy(), space_bands=[20],
                  time_bands=[5], distance="euclidean", convention="standard", n_permutations=0)
    assert r.observed[0, 0] == 12


def test_findings_read_like_the_nrc_summary(nrc_case) -> None:  # type: ignore[no-untyped-def]
    """The NRC's own sentences ("Within 1 to 200 meters ... up to 1 days") from its HTML summary."""
    import re

    name, _, _, result = nrc_case
    html = _nrc(name)[2].read_text(encoding="latin-1")
    theirs = set(re.findall(r"Within (\d+ to \d+) meters of an initial incident, near repeats are "
                            r"overrepresented for up to (\d+) days", html))
    ours = set()
    for line in result.findings():
        m = re.search(r"\('(\d+ to \d+)'\) an incident.*\('\d+ to (\d+)'\)", line)
        if m:
            ours.add((m.group(1), m.group(2)))
    assert theirs and ours == theirs
