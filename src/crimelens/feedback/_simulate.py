"""The day-by-day feedback-loop simulator (Lum & Isaac 2016; Ensign et al. 2018).

Each simulated day:

1. the model is refit on the *training record* so far and scores every cell;
2. an allocation rule turns scores into patrol presence (:class:`TopK` flags the ``k``
   highest cells; :class:`Proportional` sends ``k`` patrols to cells drawn in
   proportion to the scores);
3. the observation model draws the day's true incidents from the scenario's true rate
   ``lambda_c``; each is *reported* by the public with probability ``report_prob``
   (independent of patrol), and an unreported one is *discovered* with probability
   ``q_c = discovery_base + discovery_lift * presence_c + detection_bias``, the bias (a few
   percentage points at most) applying only to cells of ``biased_group``;
4. the training record gains the day's reported plus discovered incidents, corrected:
   ``none`` keeps both; ``reported-only`` keeps reported incidents only; ``ipw`` thins
   discovered incidents, keeping each with probability ``pi_min / pi_c`` where
   ``pi_c = discovery_base + discovery_lift * P(patrol in c)`` (the Ensign et al. fix
   generalised); ``ipw-weight`` adds them with weight ``pi_min / pi_c`` instead.

*Without feedback* the discovery probability uses the city-wide mean presence, so the
record does not depend on where the model sent patrols; the same random streams
drive both runs (common random numbers), so differences are the feedback's.

Known failure modes: with :class:`TopK` and ``discovery_base = 0`` the propensity of
unflagged cells is 0 and ``ipw`` drops every discovered incident (it becomes
``reported-only``); a hidden ``detection_bias`` is not removed by any correction,
because the correction only knows the patrol propensity; results describe the
simulated world, not a real city.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import Area, Grid
from crimelens.errors import InputError, InvalidParameterError
from crimelens.feedback._models import CountModel

__all__ = [
    "CORRECTIONS",
    "BiasSweep",
    "FeedbackComparison",
    "ObservationModel",
    "Proportional",
    "Scenario",
    "SimulationRun",
    "TopK",
    "compare_feedback",
    "detection_bias_sweep",
    "gini",
    "simulate",
]

Correction = Literal["none", "reported-only", "ipw", "ipw-weight"]
CORRECTIONS: tuple[str, ...] = ("none", "reported-only", "ipw", "ipw-weight")


# allocation rules -----------------------------------------------------------------
@dataclass(frozen=True)
class TopK:
    """Flag the ``k`` highest-scoring cells (ties broken at random)."""

    k: int = 20

    def allocate(self, scores: NDArray[np.float64], rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n = len(scores)
        if not 1 <= self.k <= n:
            raise InvalidParameterError(f"TopK(k={self.k}): k must be between 1 and the number of cells ({n})")
        order = np.lexsort((rng.random(n), -np.asarray(scores, dtype=np.float64)))
        presence = np.zeros(n, dtype=np.float64)
        presence[order[: self.k]] = 1.0
        return presence, presence.copy()

    def describe(self) -> str:
        return f"top-{self.k}"


@dataclass(frozen=True)
class Proportional:
    """Send ``k`` patrols, each to a cell drawn with probability proportional to its score."""

    k: int = 20

    def allocate(self, scores: NDArray[np.float64], rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self.k < 1:
            raise InvalidParameterError(f"Proportional(k={self.k}): k must be >= 1")
        s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
        total = s.sum()
        p = s / total if total > 0 else np.full(len(s), 1.0 / len(s))
        units = rng.multinomial(self.k, p)
        presence = np.minimum(units, 1).astype(np.float64)
        propensity = 1.0 - (1.0 - p) ** self.k
        return presence, propensity

    def describe(self) -> str:
        return f"proportional-{self.k}"


Allocation = TopK | Proportional


@dataclass(frozen=True)
class ObservationModel:
    """How true incidents become recorded ones.

    ``report_prob``: share reported by the public (independent of patrol).
    ``discovery_base`` / ``discovery_lift``: probability that an unreported incident is
    discovered without patrol / added by full patrol presence.
    ``detection_bias``: extra discovery probability (absolute, e.g. 0.03 = 3 points) in the
    cells of ``biased_group``, whatever the patrol presence; unknown to every correction.
    """

    report_prob: float = 0.5
    discovery_base: float = 0.05
    discovery_lift: float = 0.5
    detection_bias: float = 0.0
    biased_group: str | None = None

    def __post_init__(self) -> None:
        for name in ("report_prob", "discovery_base", "discovery_lift"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidParameterError(f"ObservationModel({name}={value}): expected a value in [0, 1]")
        if self.discovery_base + self.discovery_lift > 1.0:
            raise InvalidParameterError(
                f"ObservationModel(discovery_base={self.discovery_base}, discovery_lift={self.discovery_lift}): "
                "their sum is a probability and must be <= 1"
            )
        if self.detection_bias < 0:
            raise InvalidParameterError(f"ObservationModel(detection_bias={self.detection_bias}): expected >= 0")


@dataclass(frozen=True)
class Scenario:
    """A simulated city: cells, their true daily rates and the record the model starts from.

    ``true_rate``: expected true incidents per cell per day, shape ``(cells,)``.
    ``history``: recorded counts before day 0, shape ``(days, cells)``.
    ``centres_m``: cell centres in metres, shape ``(cells, 2)``.
    ``groups``: a group label per cell (audit attribute), or ``None``.
    ``replay_reported``: reported counts per simulated day (a real record replayed in
    place of simulated reports), shape ``(days, cells)``, or ``None``.
    """

    name: str
    true_rate: NDArray[np.float64] = field(repr=False)
    history: NDArray[np.float64] = field(repr=False)
    centres_m: NDArray[np.float64] = field(repr=False)
    groups: NDArray[np.object_] | None = field(default=None, repr=False)
    replay_reported: NDArray[np.float64] | None = field(default=None, repr=False)
    cell_ids: tuple[str, ...] | None = field(default=None, repr=False)
    observation: ObservationModel = field(default_factory=ObservationModel)
    allocation: TopK | Proportional = field(default_factory=TopK)
    start: str | None = None
    description: str = ""
    grid: Grid | None = field(default=None, repr=False)
    areas: tuple[Area, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        rate = np.asarray(self.true_rate, dtype=np.float64)
        n = len(rate)
        if rate.ndim != 1 or n == 0 or (rate < 0).any() or not np.isfinite(rate).all():
            raise InputError(f"Scenario {self.name!r}: true_rate must be a non-empty vector of finite rates >= 0")
        if np.asarray(self.history).ndim != 2 or np.asarray(self.history).shape[1] != n:
            raise InputError(
                f"Scenario {self.name!r}: history has shape {np.asarray(self.history).shape}; expected (days, {n})"
            )
        if np.asarray(self.centres_m).shape != (n, 2):
            raise InputError(
                f"Scenario {self.name!r}: centres_m has shape {np.asarray(self.centres_m).shape}; expected ({n}, 2)"
            )
        if self.groups is not None and len(self.groups) != n:
            raise InputError(f"Scenario {self.name!r}: groups has {len(self.groups)} labels; expected {n}")
        if self.replay_reported is not None and np.asarray(self.replay_reported).shape[1] != n:
            raise InputError(f"Scenario {self.name!r}: replay_reported must have {n} columns")

    @property
    def n_cells(self) -> int:
        return len(self.true_rate)

    @property
    def max_days(self) -> int | None:
        return None if self.replay_reported is None else len(self.replay_reported)


def gini(values: NDArray[np.float64]) -> float:
    """Gini coefficient of non-negative values (0 = equal, towards 1 = concentrated).

    Examples
    --------
    >>> gini(np.array([1.0, 1.0, 1.0])), round(gini(np.array([0.0, 0.0, 3.0])), 3)
    (0.0, 0.667)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)


def _kl(p: NDArray[np.float64], q: NDArray[np.float64], floor: float = 1e-9) -> float:
    """KL(p || q) in nats, with q floored (cells the truth gives ~0 but the allocation uses)."""
    mask = p > 0
    qq = np.maximum(q, floor)
    return float((p[mask] * np.log(p[mask] / qq[mask])).sum())


@dataclass(frozen=True)
class SimulationRun:
    """One simulated run with its metrics (computed at construction)."""

    scenario: str
    model: str
    model_params: Mapping[str, Any]
    allocation: str
    observation: ObservationModel
    feedback: bool
    correction: str
    days: int
    random_state: int
    presence: NDArray[np.float32] = field(repr=False)
    true_share: NDArray[np.float64] = field(repr=False)
    reported: NDArray[np.float64] = field(repr=False)
    discovered: NDArray[np.float64] = field(repr=False)
    groups: NDArray[np.object_] | None = field(repr=False)
    initial_flags: NDArray[np.bool_] = field(repr=False)
    tv: NDArray[np.float64] = field(init=False, repr=False)
    kl: NDArray[np.float64] = field(init=False, repr=False)
    initial_share: NDArray[np.float64] = field(init=False, repr=False)
    cells_ever_flagged: int = field(init=False)
    gini: float = field(init=False)
    share_to_initial_flags: float = field(init=False)
    discovered_to_reported: float = field(init=False)
    group_metrics: Mapping[str, Mapping[str, float]] = field(init=False, repr=False)
    group_share: Mapping[str, NDArray[np.float64]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pres = self.presence.astype(np.float64)
        daily_total = np.maximum(pres.sum(axis=1, keepdims=True), 1e-12)
        share = pres / daily_total
        tv = 0.5 * np.abs(share - self.true_share[None, :]).sum(axis=1)
        kl = np.array([_kl(s, self.true_share) for s in share])
        flags = pres > 0
        initial = self.initial_flags
        n_flags_t = np.maximum(flags.sum(axis=1), 1)
        object.__setattr__(self, "tv", tv)
        object.__setattr__(self, "kl", kl)
        object.__setattr__(self, "initial_share", flags[:, initial].sum(axis=1) / n_flags_t)
        object.__setattr__(self, "cells_ever_flagged", int(flags.any(axis=0).sum()))
        object.__setattr__(self, "gini", gini(pres.sum(axis=0)))
        total_flags = flags.sum()
        object.__setattr__(
            self, "share_to_initial_flags", float(flags[:, initial].sum() / total_flags) if total_flags else 0.0
        )
        rep, dis = float(self.reported.sum()), float(self.discovered.sum())
        object.__setattr__(self, "discovered_to_reported", dis / rep if rep > 0 else float("nan"))
        groups: dict[str, dict[str, float]] = {}
        series: dict[str, NDArray[np.float64]] = {}
        if self.groups is not None:
            cumulative = pres.sum(axis=0)
            total = cumulative.sum()
            for g in sorted({str(x) for x in self.groups}):
                m = np.asarray([str(x) == g for x in self.groups])
                alloc = float(cumulative[m].sum() / total) if total > 0 else 0.0
                truth = float(self.true_share[m].sum())
                rep_g, dis_g = float(self.reported[m].sum()), float(self.discovered[m].sum())
                groups[g] = {
                    "n_cells": int(m.sum()),
                    "allocation_share": alloc,
                    "true_share": truth,
                    "disparity": alloc / truth if truth > 0 else float("nan"),
                    "discovered_to_reported": dis_g / rep_g if rep_g > 0 else float("nan"),
                }
                series[g] = share[:, m].sum(axis=1)
        object.__setattr__(self, "group_metrics", groups)
        object.__setattr__(self, "group_share", series)

    # metrics ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        if not self.feedback:
            return "no feedback"
        return "feedback" if self.correction == "none" else f"feedback + {self.correction}"

    def summary(self) -> dict[str, Any]:
        """The run's metrics as plain JSON-able values."""
        tv, kl = self.tv, self.kl
        return {
            "scenario": self.scenario,
            "model": self.model,
            "allocation": self.allocation,
            "feedback": self.feedback,
            "correction": self.correction,
            "days": self.days,
            "random_state": self.random_state,
            "tv_mean": round(float(tv.mean()), 6),
            "tv_last": round(float(tv[-1]), 6),
            "kl_mean": round(float(kl.mean()), 6),
            "gini": round(float(self.gini), 6),
            "cells_ever_flagged": int(self.cells_ever_flagged),
            "share_to_initial_flags": round(float(self.share_to_initial_flags), 6),
            "discovered_to_reported": round(float(self.discovered_to_reported), 6),
            "groups": {
                g: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items()}
                for g, m in self.group_metrics.items()
            },
        }

    def output_hash(self) -> str:
        """SHA-256 over the summary and the full allocation array: identical runs hash equal."""
        h = hashlib.sha256(json.dumps(self.summary(), sort_keys=True, default=str).encode("utf-8"))
        h.update(np.ascontiguousarray(self.presence).tobytes())
        return h.hexdigest()


def _check_days(scenario: Scenario, days: int) -> None:
    if days < 1:
        raise InvalidParameterError(f"simulate(days={days}): must be >= 1")
    if scenario.max_days is not None and days > scenario.max_days:
        raise InvalidParameterError(
            f"simulate(days={days}): scenario {scenario.name!r} replays {scenario.max_days} days of records; "
            f"expected days <= {scenario.max_days}"
        )


def simulate(
    scenario: Scenario,
    model: CountModel,
    *,
    days: int,
    allocation: TopK | Proportional | None = None,
    observation: ObservationModel | None = None,
    feedback: bool = True,
    correction: str = "none",
    random_state: int = 0,
    progress: Any = None,
) -> SimulationRun:
    """Run one seeded simulation; the model is copied, so the caller's stays unfitted.

    ``progress`` is an optional callable ``progress(day)`` called after each day.
    """
    if correction not in CORRECTIONS:
        raise InvalidParameterError(f"simulate(correction={correction!r}): expected one of {list(CORRECTIONS)}")
    _check_days(scenario, days)
    alloc = allocation or scenario.allocation
    obs = observation or scenario.observation
    model = copy.deepcopy(model)
    n = scenario.n_cells
    rate = np.asarray(scenario.true_rate, dtype=np.float64)
    centres = np.asarray(scenario.centres_m, dtype=np.float64)
    history = np.asarray(scenario.history, dtype=np.float64)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(random_state).spawn(4)]
    rng_truth, rng_alloc, rng_discover, rng_thin = streams
    biased = np.zeros(n, dtype=bool)
    if obs.biased_group is not None and obs.detection_bias > 0:
        if scenario.groups is None:
            raise InputError(f"ObservationModel(biased_group={obs.biased_group!r}): scenario {scenario.name!r} has no groups")
        biased = np.asarray([str(g) == obs.biased_group for g in scenario.groups])
        if not biased.any():
            raise InputError(
                f"ObservationModel(biased_group={obs.biased_group!r}): no cell of scenario {scenario.name!r} "
                f"is in that group; groups are {sorted({str(g) for g in scenario.groups})}"
            )
    bias_extra = np.where(biased, obs.detection_bias, 0.0)

    record = np.empty((len(history) + days, n), dtype=np.float64)
    record[: len(history)] = history
    h = len(history)
    presence_all = np.zeros((days, n), dtype=np.float32)
    reported_sum = np.zeros(n)
    discovered_sum = np.zeros(n)
    initial = np.zeros(n, dtype=bool)
    for t in range(days):
        scores = model.fit_counts(record[: h + t], centres).score()
        presence, propensity = alloc.allocate(scores, rng_alloc)
        if t == 0:
            initial = presence > 0
        presence_all[t] = presence
        # true incidents, reported and unreported
        if scenario.replay_reported is not None:
            reported = np.asarray(scenario.replay_reported[t], dtype=np.float64)
            unreported = rng_truth.poisson(rate * (1.0 - obs.report_prob)).astype(np.float64)
        else:
            true_n = rng_truth.poisson(rate)
            reported = rng_truth.binomial(true_n, obs.report_prob).astype(np.float64)
            unreported = true_n - reported
        seen = presence if feedback else np.full(n, presence.mean())
        q = np.clip((obs.discovery_base + obs.discovery_lift * seen) * (1.0 + bias_extra), 0.0, 1.0)
        discovered = rng_discover.binomial(unreported.astype(np.int64), q).astype(np.float64)
        reported_sum += reported
        discovered_sum += discovered
        if correction == "none":
            train = reported + discovered
        elif correction == "reported-only":
            train = reported
        else:
            seen_p = propensity if feedback else np.full(n, propensity.mean())
            pi = obs.discovery_base + obs.discovery_lift * seen_p
            ratio = np.divide(pi.min(), pi, out=np.zeros(n), where=pi > 0)
            if correction == "ipw":
                train = reported + rng_thin.binomial(discovered.astype(np.int64), ratio)
            else:
                train = reported + discovered * ratio
        record[h + t] = train
        if progress is not None:
            progress(t)
    model_name = type(model).__name__
    inner = getattr(model, "estimator", None)
    if inner is not None:
        model_name = f"{model_name}[{type(inner).__name__}]"
    return SimulationRun(
        scenario=scenario.name,
        model=model_name,
        model_params=model.get_params(),
        allocation=alloc.describe(),
        observation=obs,
        feedback=feedback,
        correction=correction,
        days=days,
        random_state=random_state,
        presence=presence_all,
        true_share=rate / rate.sum() if rate.sum() > 0 else np.full(n, 1.0 / n),
        reported=reported_sum,
        discovered=discovered_sum,
        groups=None if scenario.groups is None else np.asarray(scenario.groups, dtype=object),
        initial_flags=initial,
    )


@dataclass(frozen=True)
class FeedbackComparison:
    """The same scenario and seed without feedback, with feedback, and with feedback corrected."""

    no_feedback: SimulationRun
    feedback: SimulationRun
    corrected: SimulationRun | None

    @property
    def runs(self) -> list[SimulationRun]:
        return [r for r in (self.no_feedback, self.feedback, self.corrected) if r is not None]

    @property
    def amplification_ratio(self) -> float:
        """Mean total-variation distance from the truth, with feedback over without."""
        base = float(self.no_feedback.tv.mean())
        return float(self.feedback.tv.mean()) / base if base > 0 else float("inf")

    @property
    def concentration_ratio(self) -> float:
        """Share of flags to the day-0 flagged cells, with feedback over without."""
        base = self.no_feedback.share_to_initial_flags
        return self.feedback.share_to_initial_flags / base if base > 0 else float("inf")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "amplification_ratio": round(self.amplification_ratio, 6),
            "concentration_ratio": round(self.concentration_ratio, 6),
            "runs": {r.label: r.summary() for r in self.runs},
        }
        if self.corrected is not None:
            base = float(self.no_feedback.tv.mean())
            out["corrected_amplification_ratio"] = round(float(self.corrected.tv.mean()) / base, 6) if base > 0 else None
        return out

    def output_hash(self) -> str:
        h = hashlib.sha256()
        for r in self.runs:
            h.update(r.output_hash().encode("ascii"))
        return h.hexdigest()


def compare_feedback(
    scenario: Scenario,
    model: CountModel,
    *,
    days: int,
    correction: str = "ipw",
    allocation: TopK | Proportional | None = None,
    observation: ObservationModel | None = None,
    random_state: int = 0,
    progress: Any = None,
) -> FeedbackComparison:
    """Run without feedback, with feedback, and (unless ``correction='none'``) with feedback corrected."""
    kw: dict[str, Any] = dict(days=days, allocation=allocation, observation=observation,
                              random_state=random_state, progress=progress)
    no_fb = simulate(scenario, model, feedback=False, correction="none", **kw)
    fb = simulate(scenario, model, feedback=True, correction="none", **kw)
    corr = None if correction == "none" else simulate(scenario, model, feedback=True, correction=correction, **kw)
    return FeedbackComparison(no_feedback=no_fb, feedback=fb, corrected=corr)


@dataclass(frozen=True)
class BiasSweep:
    """A group's allocation share as a hidden detection bias grows, with and without feedback."""

    group: str
    biases: tuple[float, ...]
    rows: tuple[Mapping[str, Any], ...]
    #: runs per bias level and feedback setting (the urn sweep; None for the grid sweep)
    n_runs: int | None = None

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "rows": [dict(r) for r in self.rows]}
        if self.n_runs is not None:
            out["n_runs"] = self.n_runs
        return out


def detection_bias_sweep(
    scenario: Scenario,
    model: CountModel,
    *,
    group: str,
    days: int,
    biases: Sequence[float] = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05),
    correction: str = "none",
    random_state: int = 0,
    progress: Any = None,
) -> BiasSweep:
    """Sweep a small detection bias (extra discovery in ``group``) and show how it compounds.

    For each bias the group's share of all patrol presence is measured with and
    without feedback (same seeds); ``excess`` is that share minus the group's true
    share. Compounding shows as an excess that grows faster with feedback.
    """
    rows = []
    for b in biases:
        obs = ObservationModel(
            report_prob=scenario.observation.report_prob,
            discovery_base=scenario.observation.discovery_base,
            discovery_lift=scenario.observation.discovery_lift,
            detection_bias=float(b),
            biased_group=group,
        )
        row: dict[str, Any] = {"detection_bias": float(b)}
        for fb in (False, True):
            run = simulate(scenario, model, days=days, observation=obs, feedback=fb,
                           correction=correction if fb else "none", random_state=random_state, progress=progress)
            m = run.group_metrics[group]
            key = "feedback" if fb else "no_feedback"
            row[f"{key}_share"] = round(m["allocation_share"], 6)
            row[f"{key}_excess"] = round(m["allocation_share"] - m["true_share"], 6)
            row["true_share"] = round(m["true_share"], 6)
        rows.append(row)
    return BiasSweep(group=group, biases=tuple(float(b) for b in biases), rows=tuple(rows))
