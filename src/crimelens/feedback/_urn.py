"""The two-region Pólya urn of Ensign et al. (2018), "Runaway Feedback Loops in Predictive Policing".

Model
-----
An urn holds balls of two colours, one per region (A and B). Each day one patrol is
sent to a region drawn with probability equal to that region's share of balls. In the
visited region the patrol *discovers* ``Poisson(w_d * lambda_i)`` incidents; every
region also *reports* ``Poisson((1 - w_d) * lambda_j)`` incidents whether or not it was
visited (citizen reports; ``w_d = 1`` means discovered incidents only). Each recorded
incident adds one ball of its region's colour. The patrol share converges towards 1
for the region with the higher rate, away from the true share
``lambda_A / (lambda_A + lambda_B)``: the runaway feedback loop.

The correction (Ensign et al., section 5) thins discovered incidents in inverse
proportion to how often the region is visited: a discovered incident in region ``i``
is kept with probability ``min_j p_j / p_i`` (``p`` the current visit probabilities).
The expected additions become proportional to the true rates, so the urn learns the
true share. Reported incidents are never thinned.

Defaults are the paper's Oakland parameters (taken from the authors' published
experiment settings): ``lambda_A = 3.68511``, ``lambda_B = 2.816466`` (estimated daily
drug use in the two top Oakland regions; true share 0.5668), a strong prior of
609 / 379 balls (historical recorded incidents), Poisson additions, no decay,
1,000 days. The paper reports 0.704 (uncorrected), 0.582 (corrected) and 0.645 with
20 % citizen reports (``reported_weight=0.2``).

Known failure modes
-------------------
* With ``decay > 0`` (fading memory) the uncorrected urn runs away faster (towards 1).
* With ``reported_weight > 0`` the runaway is attenuated, not removed.
* The correction needs every region's visit probability to stay above zero.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError
from crimelens.feedback._simulate import BiasSweep

__all__ = ["UrnResult", "ensign_urn", "urn_bias_sweep"]

#: Ensign et al. (2018): estimated daily drug-use rates of Oakland's two top regions.
MAX_URN_CELLS = 25_000_000  # days x runs of one urn: 200 MB of shares (the default 1,000 x 1,000 is 8 MB)
OAKLAND_RATE_A = 3.68511
OAKLAND_RATE_B = 2.816466
#: Their "strong prior": recorded incidents in those regions.
OAKLAND_PRIOR = (609.0, 379.0)


@dataclass(frozen=True)
class UrnResult:
    """Share of patrols sent to region A, per day, over ``n_runs`` seeded runs.

    ``share`` has shape ``(days,)`` (the mean over runs of region A's urn share after
    each day); ``share_lo`` / ``share_hi`` are the 5th and 95th percentiles over runs.
    """

    rate_a: float
    rate_b: float
    prior: tuple[float, float]
    days: int
    n_runs: int
    correction: str
    reported_weight: float
    decay: float
    detection_bias: float
    feedback: bool
    random_state: int
    share: NDArray[np.float64] = field(repr=False)
    share_lo: NDArray[np.float64] = field(repr=False)
    share_hi: NDArray[np.float64] = field(repr=False)
    final_shares: NDArray[np.float64] = field(repr=False)

    @property
    def true_share(self) -> float:
        """Region A's share of the true rate, ``lambda_A / (lambda_A + lambda_B)``."""
        return self.rate_a / (self.rate_a + self.rate_b)

    @property
    def final_share(self) -> float:
        """Mean over runs of region A's share after the last day."""
        return float(self.final_shares.mean())

    @property
    def final_share_se(self) -> float:
        """Standard error of :attr:`final_share` over runs."""
        return float(self.final_shares.std(ddof=1) / np.sqrt(self.n_runs)) if self.n_runs > 1 else 0.0

    @property
    def label(self) -> str:
        text = "uncorrected" if self.correction == "none" else f"corrected ({self.correction})"
        if self.reported_weight > 0:
            text += f", {self.reported_weight:.0%} citizen reports"
        return text if self.feedback else f"{text}, no feedback"

    def output_hash(self) -> str:
        """SHA-256 over the summary and every run's final share."""
        h = hashlib.sha256(json.dumps(self.summary(), sort_keys=True).encode("utf-8"))
        h.update(np.ascontiguousarray(self.final_shares).tobytes())
        h.update(np.ascontiguousarray(self.share).tobytes())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": "ensign-urn",
            "rate_a": self.rate_a,
            "rate_b": self.rate_b,
            "prior": list(self.prior),
            "days": self.days,
            "n_runs": self.n_runs,
            "correction": self.correction,
            "reported_weight": self.reported_weight,
            "decay": self.decay,
            "detection_bias": self.detection_bias,
            "feedback": self.feedback,
            "random_state": self.random_state,
            "true_share": round(self.true_share, 6),
            "final_share": round(self.final_share, 6),
            "final_share_se": round(self.final_share_se, 6),
            "final_share_p05": round(float(np.quantile(self.final_shares, 0.05)), 6),
            "final_share_p95": round(float(np.quantile(self.final_shares, 0.95)), 6),
            "drift": round(self.final_share - self.true_share, 6),
        }


def ensign_urn(
    *,
    rate_a: float = OAKLAND_RATE_A,
    rate_b: float = OAKLAND_RATE_B,
    prior: tuple[float, float] = OAKLAND_PRIOR,
    days: int = 1000,
    n_runs: int = 1000,
    correction: Literal["none", "ipw", "reported-only"] = "none",
    reported_weight: float = 0.0,
    decay: float = 0.0,
    detection_bias: float = 0.0,
    feedback: bool = True,
    random_state: int = 0,
) -> UrnResult:
    """Run the Ensign et al. two-region urn ``n_runs`` times (vectorised over runs).

    Parameters
    ----------
    rate_a, rate_b : float
        True daily incident rates of regions A and B (> 0).
    prior : (float, float)
        Initial balls of each colour (> 0).
    days : int
        Days (draws) per run.
    n_runs : int
        Independent runs; each has its own random stream from ``random_state``.
    correction : {"none", "ipw", "reported-only"}
        ``"ipw"`` keeps a discovered incident with probability ``min(p) / p_i``;
        ``"reported-only"`` adds citizen reports only (needs ``reported_weight > 0``).
    reported_weight : float
        Share of each region's rate that arrives as citizen reports, in [0, 1).
    decay : float
        Per-day probability that each ball is removed (fading memory), in [0, 1).
    detection_bias : float
        Relative extra discovery in region B (0.05 = patrols there record 5 % more).
    feedback : bool
        ``False`` sends the patrol to either region with probability 1/2 whatever the
        urn holds; ``share`` is then the urn's share (what the model would allocate).
    random_state : int
        Seed; the same seed gives the same result.

    Examples
    --------
    >>> r = ensign_urn(days=200, n_runs=50, random_state=1)
    >>> round(r.true_share, 3), r.final_share > r.true_share
    (0.567, True)
    """
    if not (rate_a > 0 and rate_b > 0):
        raise InvalidParameterError(f"ensign_urn(rate_a={rate_a}, rate_b={rate_b}): both must be > 0")
    if len(prior) != 2 or not (prior[0] > 0 and prior[1] > 0):
        raise InvalidParameterError(f"ensign_urn(prior={prior}): expected two counts > 0")
    if days < 1 or n_runs < 1:
        raise InvalidParameterError(f"ensign_urn(days={days}, n_runs={n_runs}): both must be >= 1")
    if days * n_runs > MAX_URN_CELLS:
        raise InvalidParameterError(
            f"ensign_urn(days={days}, n_runs={n_runs}): days x runs = {days * n_runs:,}; expected at most "
            f"{MAX_URN_CELLS:,} (each day of each run is kept, 8 bytes apiece: "
            f"{days * n_runs * 8 / 2**30:,.1f} GiB asked)")
    if correction not in ("none", "ipw", "reported-only"):
        raise InvalidParameterError(
            f"ensign_urn(correction={correction!r}): expected 'none', 'ipw' or 'reported-only'"
        )
    if correction == "reported-only" and reported_weight <= 0:
        raise InvalidParameterError(
            "ensign_urn(correction='reported-only'): needs reported_weight > 0 (there are no reports otherwise)"
        )
    if not 0.0 <= reported_weight < 1.0:
        raise InvalidParameterError(f"ensign_urn(reported_weight={reported_weight}): expected a value in [0, 1)")
    if detection_bias < 0:
        raise InvalidParameterError(f"ensign_urn(detection_bias={detection_bias}): expected >= 0")
    if not 0.0 <= decay < 1.0:
        raise InvalidParameterError(f"ensign_urn(decay={decay}): expected a value in [0, 1)")

    rng = np.random.default_rng(random_state)
    rates = np.array([rate_a, rate_b], dtype=np.float64)
    found = rates * np.array([1.0, 1.0 + detection_bias])
    balls = np.tile(np.asarray(prior, dtype=np.float64), (n_runs, 1))
    rows = np.arange(n_runs)
    share = np.empty((days, n_runs), dtype=np.float64)
    for day in range(days):
        p_a = balls[:, 0] / balls.sum(axis=1)
        p_go = p_a if feedback else np.full(n_runs, 0.5)
        visit = (rng.random(n_runs) >= p_go).astype(np.int64)  # 0 = A, 1 = B
        discovered = rng.poisson((1.0 - reported_weight) * found[visit]).astype(np.float64)
        if correction == "ipw":
            p_visit = np.where(visit == 0, p_go, 1.0 - p_go)
            keep = rng.random(n_runs) < np.minimum(p_go, 1.0 - p_go) / p_visit
            discovered = np.where(keep, discovered, 0.0)
        elif correction == "reported-only":
            discovered = np.zeros(n_runs)
        balls[rows, visit] += discovered
        if reported_weight > 0:
            balls += rng.poisson(reported_weight * rates, size=(n_runs, 2))
        if decay > 0:
            removed = rng.binomial(balls.astype(np.int64), decay)
            balls = np.maximum(balls - removed, 1.0)
        share[day] = balls[:, 0] / balls.sum(axis=1)
    return UrnResult(
        rate_a=float(rate_a),
        rate_b=float(rate_b),
        prior=(float(prior[0]), float(prior[1])),
        days=int(days),
        n_runs=int(n_runs),
        correction=correction,
        reported_weight=float(reported_weight),
        decay=float(decay),
        detection_bias=float(detection_bias),
        feedback=bool(feedback),
        random_state=int(random_state),
        share=share.mean(axis=1),
        share_lo=np.quantile(share, 0.05, axis=1),
        share_hi=np.quantile(share, 0.95, axis=1),
        final_shares=share[-1].copy(),
    )


def urn_bias_sweep(
    *,
    biases: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05),
    rate: float = (OAKLAND_RATE_A + OAKLAND_RATE_B) / 2.0,
    prior: tuple[float, float] = (500.0, 500.0),
    days: int = 1000,
    n_runs: int = 500,
    random_state: int = 0,
) -> BiasSweep:
    """How a small detection bias in region B compounds in the urn, with and without feedback.

    Both regions have the same true rate, so any drift comes from the bias: patrols in
    region B record ``1 + bias`` times as many incidents. Without feedback patrols go
    to either region with probability 1/2; with feedback they follow the urn.

    Examples
    --------
    >>> sweep = urn_bias_sweep(biases=(0.0, 0.05), days=100, n_runs=50)
    >>> [row["detection_bias"] for row in sweep.rows]
    [0.0, 0.05]
    """
    rows = []
    for b in biases:
        row: dict[str, Any] = {"detection_bias": float(b), "true_share": 0.5}
        for fb in (False, True):
            r = ensign_urn(rate_a=rate, rate_b=rate, prior=prior, days=days, n_runs=n_runs,
                           detection_bias=float(b), feedback=fb, random_state=random_state)
            share_b = 1.0 - r.final_share
            key = "feedback" if fb else "no_feedback"
            row[f"{key}_share"] = round(share_b, 6)
            row[f"{key}_excess"] = round(share_b - 0.5, 6)
        rows.append(row)
    return BiasSweep(group="B", biases=tuple(float(b) for b in biases), rows=tuple(rows), n_runs=n_runs)
