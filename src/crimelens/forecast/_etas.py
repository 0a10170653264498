"""Grid ETAS: a self-exciting model per cell, fitted by expectation-maximisation.

Mohler, Short, Malinowski, Johnson, Tita, Bertozzi & Brantingham (2015),
*Randomized controlled field trials of predictive policing*, JASA 110(512), the
model behind PredPol/Geolitica: in cell ``c`` the rate of recorded incidents is

    lambda_c(t) = mu_c + sum_{t_j < t, j in c} theta * omega * exp(-omega (t - t_j))

with a constant background ``mu_c`` per cell, a branching ratio ``theta``
(expected follow-on incidents per incident) and a decay rate ``omega`` per day.
The EM algorithm alternates the probability that each incident was triggered by
each earlier incident in its cell (E-step) with closed-form updates (M-step).
Edge correction: the denominator of ``theta`` counts, for each incident, only
the part of its triggering kernel that falls before the end of the training
period. Pairs further apart than ``trigger_window_days`` are ignored (the
kernel is truncated there), so the work grows with the pairs inside that
window, not with N².

Failure modes: cells with no training incident get zero background, so the
model never flags a cell it has not seen; a very short training window makes
``mu_c`` noisy. Records at the same instant in one cell (several victims or
offences of one incident, as in Cincinnati's file) are never each other's
trigger: as parent and child at lag zero they would drive ``omega`` to infinity
and the fit to NaN (it did, on daily Cincinnati origins in 2017). Near-duplicates
a minute apart still look like fast triggering and inflate ``theta``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from crimelens.forecast._area import StudyArea
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._params import check_int, check_positive, jit

__all__ = ["GridETAS"]


@jit
def _etas_em(t: NDArray[np.float64], starts: NDArray[np.int64], span: float, t_end: float,
             mu: NDArray[np.float64], theta: float, omega: float, tmax: float, n_iter: int,
             tol: float) -> tuple[NDArray[np.float64], float, float, int]:
    n_cells = starts.shape[0] - 1
    n_done = 0
    # each incident's triggering terms, kept between the intensity sum and the E-step shares
    longest = 0
    for c in range(n_cells):
        longest = max(longest, starts[c + 1] - starts[c])
    terms = np.empty(max(longest, 1))
    lags = np.empty(max(longest, 1))
    for _ in range(n_iter):
        n_done += 1
        s_bg = np.zeros(n_cells)
        s_tr = 0.0
        s_dt = 0.0
        for c in range(n_cells):
            first = starts[c]
            for i in range(first, starts[c + 1]):
                lam = mu[c]
                j = i - 1
                k = 0
                while j >= first and t[i] - t[j] < tmax:
                    dt = t[i] - t[j]
                    j -= 1
                    if dt <= 0.0:
                        # records at the same instant (several victims or offences of one
                        # incident) cannot trigger each other: as parents they would drive
                        # omega to infinity and the fit to NaN
                        continue
                    g = theta * omega * math.exp(-omega * dt)
                    terms[k] = g
                    lags[k] = dt
                    lam += g
                    k += 1
                if lam <= 0.0:
                    continue
                s_bg[c] += mu[c] / lam
                for q in range(k):
                    p = terms[q] / lam
                    s_tr += p
                    s_dt += p * lags[q]
        exposure = 0.0
        for i in range(t.shape[0]):
            exposure += 1.0 - math.exp(-omega * min(t_end - t[i], tmax))
        new_theta = s_tr / exposure if exposure > 0 else 0.0
        new_omega = s_tr / s_dt if s_dt > 0 else omega
        change = abs(new_theta - theta) + abs(new_omega - omega) / max(omega, 1e-12)
        for c in range(n_cells):
            mu[c] = s_bg[c] / span
        theta = new_theta
        omega = new_omega
        if change < tol:
            break
    return mu, theta, omega, n_done


class GridETAS(HotspotModel):
    """Mohler et al. (2015) grid ETAS, fitted by EM with edge correction.

    Parameters
    ----------
    window_days : float
        Training uses incidents of the last ``window_days`` before the latest
        one (default 730).
    trigger_window_days : float
        Triggering kernel truncated at this lag in days (default 180).
    theta_init : float
        Starting branching ratio (default 0.2).
    omega_init_per_day : float
        Starting decay rate per day (default 0.1).
    n_iter : int
        Largest number of EM iterations (default 100).
    tol : float
        Stop when the relative change of (theta, omega) is below ``tol`` (default 1e-6).
    """

    def __init__(self, *, window_days: float = 730.0, trigger_window_days: float = 180.0,
                 theta_init: float = 0.2, omega_init_per_day: float = 0.1, n_iter: int = 100,
                 tol: float = 1e-6, area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.window_days = window_days
        self.trigger_window_days = trigger_window_days
        self.theta_init = theta_init
        self.omega_init_per_day = omega_init_per_day
        self.n_iter = n_iter
        self.tol = tol
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "window_days", "trigger_window_days", unit="days")
        check_positive(self, "theta_init", "omega_init_per_day", "tol")
        check_int(self, "n_iter", low=1)

    def _fit(self) -> None:
        t_start = max(float(self.t_[0]), self.t_end_ - float(self.window_days))
        keep = (self.t_ >= t_start) & (self.cell_ >= 0)
        t = self.t_[keep]
        cells = self.cell_[keep]
        order = np.lexsort((t, cells))
        t_sorted = np.ascontiguousarray(t[order])
        counts = np.bincount(cells, minlength=self.area_.n_cells)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        span = max(self.t_end_ - t_start, 1.0)
        mu0 = counts.astype(np.float64) / span * (1.0 - min(self.theta_init, 0.9))
        mu, theta, omega, n_done = _etas_em(
            t_sorted, starts, span, self.t_end_, mu0, float(self.theta_init),
            float(self.omega_init_per_day), float(self.trigger_window_days), int(self.n_iter),
            float(self.tol))
        self.mu_per_day_ = np.asarray(mu, dtype=np.float64)
        self.theta_ = float(theta)
        self.omega_per_day_ = float(omega)
        self.n_iter_ = int(n_done)

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.trigger_window_days)
        cells = self.cell_[s]
        ok = cells >= 0
        age = t0 - self.t_[s][ok]
        w = self.theta_ * (np.exp(-self.omega_per_day_ * age)
                           - np.exp(-self.omega_per_day_ * (age + horizon_days)))
        trig = np.bincount(cells[ok], weights=w, minlength=self.area_.n_cells)
        return np.asarray(self.mu_per_day_ * horizon_days + trig, dtype=np.float64)
