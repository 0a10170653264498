"""The group audit of a risk score: every side at once, with intervals.

For each group (each audit column, and their intersections): n, base rate,
selection rate, TPR/FPR/FNR/TNR, PPV/NPV/FDR/FOR, accuracy, AUC and
calibration by score bin; differences and ratios against a reference group;
percentile bootstrap intervals; threshold sweeps; and the Chouldechova (2017)
identity ``FPR = p/(1-p) * (1-PPV)/PPV * (1-FNR)`` per group, which shows why
error rates differ when base rates ``p`` differ and the score is equally
precise in each group (Kleinberg, Mullainathan & Raghavan 2016: calibration
and balanced error rates cannot all hold).

The user declares whether the positive (flagged) class is harmful to the
person (detention, more policing) or assistive (services). That choice picks
the disparities brought to the front, following the Aequitas fairness tree
(Saleiro et al. 2018): punitive -> false positive rate, false discovery rate
and selection rate; assistive -> false negative rate, false omission rate and
true positive rate. Every metric is still reported. There is no single
"fair/unfair" verdict: each comparison is read on its own, and no comparison
is read for a group smaller than ``min_group_size``, and such a group's AUC gets no
interval (nor does any AUC whose resamples all agree).

The bootstrap is the row-resampling bootstrap, drawn on counts (see
``_table``), so 1,000 replicates take milliseconds. A rate of exactly 0 or 1
(0 of 5 false negatives) has a percentile interval of one point, since every
resample repeats it; such a rate gets the Wilson score interval of its count
instead (0 of 5: [0, 0.43]), and so does a calibration bin whose observed rate is
0 or 1 (7 of 7 re-arrested: [0.646, 1]).

Failure modes: the label is what was *recorded*; a group policed more heavily
has more recorded outcomes for the same conduct, so every rate here inherits
that measurement bias. Intersections get small quickly; read their n. The
bootstrap treats rows as independent (people who appear twice are not).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from crimelens.audit._metrics import RATE_METRICS, chouldechova_fpr, metrics_from_counts
from crimelens.audit._table import SEP, Facet, build_table, exact_auc, validate_inputs
from crimelens.errors import InvalidParameterError
from crimelens.risk._calibration import wilson_interval

__all__ = ["LABEL_LIMITS", "AuditReport", "audit_scores"]

#: Printed with every audit.
LABEL_LIMITS: tuple[str, ...] = (
    "The label is a recorded event (e.g. a new arrest or charge), not offending itself: people "
    "and places that are policed more are recorded more for the same conduct.",
    "Error rates and calibration are measured against that recorded label, so they inherit its "
    "measurement bias; a model can look calibrated for a label that is itself unequal.",
    "Outcomes exist only for people who were released and could be re-arrested; people held in "
    "custody are missing (selective labels).",
    "The numbers describe this data set, period and place; they do not transfer to another "
    "jurisdiction without a new audit.",
)

HARMFUL_FOREGROUND = ("fpr", "fdr", "selection_rate")
ASSISTIVE_FOREGROUND = ("fnr", "for", "tpr")
OVERALL = "overall"


@dataclass(frozen=True)
class AuditReport:
    """A finished audit; every table is computed at construction. See :func:`audit_scores`."""

    score_name: str
    label_name: str
    threshold: float
    positive_is_harmful: bool
    n: int
    n_boot: int
    ci_level: float
    min_group_size: int
    reference: Mapping[str, str]
    foreground: tuple[str, ...]
    groups: pd.DataFrame
    disparities: pd.DataFrame
    chouldechova: pd.DataFrame
    calibration: pd.DataFrame
    sweep: pd.DataFrame
    roc: pd.DataFrame
    levels_exact: bool
    seconds: float
    notes: tuple[str, ...] = LABEL_LIMITS
    params: Mapping[str, Any] = field(default_factory=dict)
    #: per facet, how its reference group was chosen ("given", "largest group", "crossing of ...")
    reference_rule: Mapping[str, str] = field(default_factory=dict)

    @property
    def facets(self) -> list[str]:
        return list(dict.fromkeys(self.groups["facet"]))

    def group_table(self, facet: str) -> pd.DataFrame:
        """Per-group metrics of one facet, indexed by group."""
        return self.groups[self.groups["facet"] == facet].set_index("group")

    def metric(self, facet: str, metric: str) -> pd.Series:
        return self.group_table(facet)[metric]

    def to_dict(self) -> dict[str, Any]:
        def rec(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", double_precision=15))  # type: ignore[no-any-return]

        return {
            "kind": "crimelens.audit",
            "score": self.score_name,
            "label": self.label_name,
            "threshold": self.threshold,
            "positive_is_harmful": self.positive_is_harmful,
            "n": self.n,
            "n_boot": self.n_boot,
            "ci_level": self.ci_level,
            "min_group_size": self.min_group_size,
            "reference": dict(self.reference),
            "reference_rule": dict(self.reference_rule),
            "foreground": list(self.foreground),
            "metric_meanings": RATE_METRICS,
            "groups": rec(self.groups),
            "disparities": rec(self.disparities),
            "chouldechova": rec(self.chouldechova),
            "calibration": rec(self.calibration),
            "sweep": rec(self.sweep),
            "roc": rec(self.roc),
            "levels_exact": self.levels_exact,
            "seconds": self.seconds,
            "label_limits": list(self.notes),
            "params": dict(self.params),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, allow_nan=True,
                          default=str)


def _denominators(pm: Mapping[str, NDArray[np.float64]], gi: int) -> dict[str, float]:
    """How many people each rate of group ``gi`` is a share of (its denominator), from the point figures."""
    n = float(pm["n"][gi])
    pos = float(pm["base_rate"][gi]) * n if n else 0.0
    flagged = float(pm["selection_rate"][gi]) * n if n else 0.0
    return {"base_rate": n, "selection_rate": n, "accuracy": n, "tpr": pos, "fnr": pos, "fpr": n - pos,
            "tnr": n - pos, "ppv": flagged, "fdr": flagged, "npv": n - flagged, "for": n - flagged}


def _facet_counts(C: NDArray[np.float64], facet: Facet) -> NDArray[np.float64]:
    """Sum the finest groups (axis -3) into the facet's groups."""
    H, G = len(facet.labels), C.shape[-3]
    if H == G and np.array_equal(facet.finest_to_group, np.arange(G)):
        return C
    onehot = np.zeros((H, G))
    onehot[facet.finest_to_group, np.arange(G)] = 1.0
    flat = C.reshape(*C.shape[:-2], -1)  # (..., G, V*2)
    return np.asarray(np.matmul(onehot, flat)).reshape(*C.shape[:-3], H, *C.shape[-2:])


def _calibration_bins(levels: NDArray[np.float64], n_bins: int) -> NDArray[np.int64]:
    V = len(levels)
    if max(n_bins, 20) >= V:
        return np.arange(V, dtype=np.int64)
    return np.asarray(np.minimum((np.arange(V) * n_bins) // V, n_bins - 1), dtype=np.int64)


def _references(facets: Sequence[Facet], point: Mapping[str, Mapping[str, NDArray[np.float64]]],
                given: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The reference group of each facet, and how it was chosen.

    A column named in ``given`` that is no facet is refused (a typo would otherwise read
    every comparison against the default group). A facet's reference is the one given for
    it, else, for an intersection whose columns have a reference given, the crossing of
    those (and of the largest group of each other column) when people are in it, else
    its largest group.
    """
    names = [f.name for f in facets if f.name != OVERALL]
    unknown = [k for k in given if k not in names]
    if unknown:
        k = unknown[0]
        near = [n for n in names if n.lower() == str(k).lower()]
        hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
        raise InvalidParameterError(
            f"audit --reference {k}={given[k]}: {k!r} is not an audited group column{hint}; expected one of "
            f"{names} (the --group columns and their intersections)")
    refs: dict[str, str] = {}
    rule: dict[str, str] = {}
    for f in facets:
        sizes = point[f.name]["n"]
        largest = f.labels[int(np.argmax(sizes))]
        want = given.get(f.name)
        if want is not None:
            if want not in f.labels:
                raise InvalidParameterError(
                    f"audit --reference {f.name}={want}: no such group in {f.name!r}; expected one of "
                    f"{list(f.labels)}")
            refs[f.name], rule[f.name] = want, "given"
        elif len(f.columns) > 1 and any(c in given for c in f.columns):
            parts = [refs[c] for c in f.columns]  # single columns come first among the facets
            crossed = SEP.join(parts)
            how = " × ".join(f"{c}={refs[c]} ({'given' if c in given else 'largest'})" for c in f.columns)
            if crossed in f.labels and sizes[f.labels.index(crossed)] > 0:
                refs[f.name], rule[f.name] = crossed, f"crossing of {how}"
            else:
                refs[f.name] = largest
                rule[f.name] = f"largest group (nobody is in the crossing of {how})"
        else:
            refs[f.name], rule[f.name] = largest, "largest group"
    return refs, rule


def audit_scores(
    score: Sequence[float] | NDArray[np.float64] | pd.Series,
    label: Sequence[int] | NDArray[np.generic] | pd.Series,
    groups: Mapping[str, Any] | pd.DataFrame,
    *,
    threshold: float | None = None,
    positive_is_harmful: bool = True,
    reference: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    min_group_size: int = 50,
    intersections: bool = True,
    n_levels: int = 256,
    n_calibration_bins: int = 10,
    sweep: Sequence[float] | None = None,
    bootstrap: Literal["multinomial", "poisson"] = "multinomial",
    random_state: int | None = 0,
    score_name: str = "score",
    label_name: str = "label",
) -> AuditReport:
    """Audit a score against a recorded label, per group, with bootstrap intervals.

    Parameters
    ----------
    score : array of float
        Any risk score (a model's output or an outside column); higher = riskier.
    label : array of 0/1
        The recorded outcome (1 = e.g. re-arrested within two years).
    groups : mapping or DataFrame of audit columns
        One entry per audit column (race, sex, ...); intersections are added.
    threshold : float, optional
        People with ``score >= threshold`` are "flagged". Default: 0.5 for a score
        in [0, 1], else required.
    positive_is_harmful : bool
        Whether being flagged is punitive for the person (foregrounds FPR, FDR,
        selection rate) or assistive (FNR, FOR, TPR).
    reference : mapping column -> group, optional
        Reference group per facet (a column, or an intersection such as ``"race × sex"``);
        a name that is no facet is refused. Default: the largest group; an intersection
        follows the references given for its columns (``race=Caucasian`` makes
        ``Caucasian × <largest sex>`` the reference of ``race × sex``) when anyone is in
        that crossing. ``AuditReport.reference_rule`` says how each was chosen.
    n_boot : int
        Bootstrap replicates (0 = no intervals).
    ci_level : float
        Two-sided percentile-interval level.
    min_group_size : int
        Groups smaller than this get no comparison ("no verdict").
    n_levels : int
        Most distinct score levels kept for the bootstrap tables.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.array([1, 2, 8, 9, 3, 7, 2, 9.]); y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    >>> r = audit_scores(s, y, {"grp": list("aaaabbbb")}, threshold=5, n_boot=0, min_group_size=1)
    >>> r.metric("grp", "fpr").to_dict()
    {'a': 0.0, 'b': 0.5}
    """
    t0 = time.perf_counter()
    s, y = validate_inputs(score, label)
    if threshold is None:
        if s.min() >= 0 and s.max() <= 1:
            threshold = 0.5
        else:
            raise InvalidParameterError(
                f"audit: got a score in [{s.min():g}, {s.max():g}] and no threshold; expected "
                "--threshold T (people with score >= T are flagged)"
            )
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise InvalidParameterError(f"audit --threshold {threshold}: expected a finite number (people with "
                                    "score >= T are flagged)")
    if not (0 < ci_level < 1):
        raise InvalidParameterError(f"audit(ci_level={ci_level}): expected a level in (0, 1)")
    if bootstrap not in ("multinomial", "poisson"):
        raise InvalidParameterError(
            f"audit(bootstrap={bootstrap!r}): expected 'multinomial' (resample n rows) or 'poisson'")
    if n_boot < 0 or min_group_size < 0:
        raise InvalidParameterError("audit: n_boot and min_group_size must be >= 0")
    gmap: dict[str, Any] = (
        {c: groups[c].to_numpy() for c in groups.columns} if isinstance(groups, pd.DataFrame)
        else dict(groups)
    )
    sweep_t = list(sweep) if sweep is not None else None
    table = build_table(s, y, gmap, thresholds=[threshold, *(sweep_t or [])],
                        n_levels=n_levels, intersections=intersections)
    overall = Facet(OVERALL, (), ("all",), np.zeros(table.counts.shape[0], dtype=np.int64))
    facets = (overall, *table.facets)
    level = int(np.searchsorted(table.level_low, threshold, side="left"))
    alpha = (1 - ci_level) / 2
    z = float(norm.ppf(1 - alpha))
    rng = np.random.default_rng(random_state)

    # point estimates -----------------------------------------------------------------
    point: dict[str, dict[str, NDArray[np.float64]]] = {}
    if not table.is_exact:
        s_sorted, y_sorted = s[table.order], y[table.order]
        finest_sorted = table.finest_codes[table.order]
    for f in facets:
        Cf = _facet_counts(table.counts, f)
        m = metrics_from_counts(Cf, level)
        if not table.is_exact:
            m["auc"] = exact_auc(s_sorted, y_sorted, f.finest_to_group[finest_sorted], len(f.labels))
        point[f.name] = m

    refs, ref_rule = _references(facets, point, dict(reference or {}))

    # bootstrap on counts -------------------------------------------------------------
    cal_bin = _calibration_bins(table.level_low, n_calibration_bins)
    n_cal = int(cal_bin.max()) + 1
    cal_onehot = np.zeros((len(table.level_low), n_cal))
    cal_onehot[np.arange(len(cal_bin)), cal_bin] = 1.0
    boot: dict[str, dict[str, NDArray[np.float64]]] = {f.name: {} for f in facets}
    boot_cal: dict[str, list[NDArray[np.float64]]] = {f.name: [] for f in facets}
    if n_boot > 0:
        flat = table.counts.ravel()
        pvals = flat / flat.sum()
        chunk = max(1, min(n_boot, 20_000_000 // max(1, flat.size)))
        pieces: dict[str, dict[str, list[NDArray[np.float64]]]] = {f.name: {} for f in facets}
        for lo in range(0, n_boot, chunk):
            b = min(chunk, n_boot - lo)
            if bootstrap == "poisson":
                draw = rng.poisson(flat, size=(b, flat.size)).astype(np.float64)
            else:
                draw = rng.multinomial(table.n, pvals, size=b).astype(np.float64)
            C = draw.reshape(b, *table.counts.shape)
            for f in facets:
                Cf = _facet_counts(C, f)
                for k, v in metrics_from_counts(Cf, level).items():
                    pieces[f.name].setdefault(k, []).append(v)
                Cb = np.matmul(np.swapaxes(Cf, -1, -2), cal_onehot)  # (b, h, y, c)
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot_cal[f.name].append(Cb[..., 1, :] / Cb.sum(axis=-2))
        for f in facets:
            boot[f.name] = {k: np.concatenate(v, axis=0) for k, v in pieces[f.name].items()}

    def ci(samples: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanquantile(samples, [alpha, 1 - alpha], axis=0)
        return q[0], q[1]

    foreground = HARMFUL_FOREGROUND if positive_is_harmful else ASSISTIVE_FOREGROUND
    rows: list[dict[str, Any]] = []
    disp: list[dict[str, Any]] = []
    chou: list[dict[str, Any]] = []
    cal_rows: list[dict[str, Any]] = []
    for f in facets:
        pm, bm = point[f.name], boot[f.name]
        r = f.labels.index(refs[f.name])
        bounds = {k: ci(v) for k, v in bm.items()}
        for gi, g in enumerate(f.labels):
            n_g = int(pm["n"][gi])
            row: dict[str, Any] = {"facet": f.name, "group": g, "n": n_g,
                                   "is_reference": g == refs[f.name],
                                   "below_min_size": n_g < min_group_size}
            counts = _denominators(pm, gi)
            for k in RATE_METRICS:
                row[k] = float(pm[k][gi])
                lo_, hi_ = bounds.get(k, (None, None))
                row[f"{k}_low"] = None if lo_ is None else float(lo_[gi])
                row[f"{k}_high"] = None if hi_ is None else float(hi_[gi])
                if lo_ is not None and row[k] in (0.0, 1.0) and counts.get(k, 0.0) > 0:
                    # every resample of 0 of n (or n of n) is 0 (or 1): the percentile interval is a
                    # point; Wilson's interval says how far from 0 such a count may still be
                    wl, wh = wilson_interval(np.array([row[k] * counts[k]]), np.array([counts[k]]), z=z)
                    row[f"{k}_low"], row[f"{k}_high"] = max(float(wl[0]), 0.0), min(float(wh[0]), 1.0)
            if row["auc_low"] is not None and (n_g < min_group_size or row["auc_low"] == row["auc_high"]):
                # resamples of a handful of people repeat the same few pairs (2 people: AUC 1 every time);
                # their spread says nothing about the AUC's uncertainty, so there is no interval
                row["auc_low"] = row["auc_high"] = None
            rows.append(row)
            fpr_id = float(chouldechova_fpr(pm["base_rate"][gi], pm["ppv"][gi], pm["fnr"][gi]))
            chou.append({"facet": f.name, "group": g, "n": n_g, "base_rate": row["base_rate"],
                         "ppv": row["ppv"], "fnr": row["fnr"], "fpr": row["fpr"],
                         "fpr_from_identity": fpr_id,
                         "prevalence_odds": row["base_rate"] / (1 - row["base_rate"])
                         if row["base_rate"] < 1 else float("inf")})
            if f.name == OVERALL or gi == r:
                continue
            n_ref = int(pm["n"][r])
            small = n_g < min_group_size or n_ref < min_group_size
            for k in RATE_METRICS:
                val, rval = float(pm[k][gi]), float(pm[k][r])
                d: dict[str, Any] = {"facet": f.name, "group": g, "reference": refs[f.name],
                                     "metric": k, "foreground": k in foreground,
                                     "n": n_g, "n_reference": n_ref, "value": val,
                                     "reference_value": rval}
                if small:
                    d.update(difference=None, difference_low=None, difference_high=None,
                             ratio=None, ratio_low=None, ratio_high=None,
                             reading=f"no comparison: n={min(n_g, n_ref)} is below the minimum "
                                     f"group size {min_group_size}")
                else:
                    diff, ratio = val - rval, (val / rval if rval else float("nan"))
                    d.update(difference=diff, ratio=ratio)
                    reading: str
                    if k in bm:
                        with np.errstate(divide="ignore", invalid="ignore"):
                            dl, dh = ci(bm[k][:, gi] - bm[k][:, r])
                            ql, qh = ci(bm[k][:, gi] / bm[k][:, r])
                        d.update(difference_low=float(dl), difference_high=float(dh),
                                 ratio_low=float(ql), ratio_high=float(qh))
                        if dl > 0:
                            reading = f"higher than {refs[f.name]} ({ci_level:.0%} interval excludes 0)"
                        elif dh < 0:
                            reading = f"lower than {refs[f.name]} ({ci_level:.0%} interval excludes 0)"
                        else:
                            reading = f"no clear difference ({ci_level:.0%} interval includes 0)"
                    else:
                        d.update(difference_low=None, difference_high=None, ratio_low=None,
                                 ratio_high=None)
                        reading = "point estimate only (no bootstrap)"
                    d["reading"] = reading
                disp.append(d)
        # calibration by score bin
        Cf = _facet_counts(table.counts, f)
        Cb = np.einsum("hvy,vc->hcy", Cf, cal_onehot)
        S = np.einsum("gv,vc->gc", table.score_sum, cal_onehot)
        Sf = np.zeros((len(f.labels), n_cal))
        np.add.at(Sf, f.finest_to_group, S)
        bc = np.stack(boot_cal[f.name]) if boot_cal[f.name] else None
        bc_all = np.concatenate(boot_cal[f.name], axis=0) if bc is not None else None
        lo_cal, hi_cal = ci(bc_all) if bc_all is not None else (None, None)
        for gi, g in enumerate(f.labels):
            for c in range(n_cal):
                nn = float(Cb[gi, c].sum())
                if nn == 0:
                    continue
                members = np.flatnonzero(cal_bin == c)
                k1 = float(Cb[gi, c, 1])
                low = None if lo_cal is None else float(lo_cal[gi, c])
                high = None if hi_cal is None else float(hi_cal[gi, c])
                if low is not None and k1 in (0.0, nn):
                    # 7 of 7 re-arrested: every resample is 1 again, a one-point interval; Wilson's
                    # interval of the count says how far from 1 (or 0) the rate may still be
                    wl, wh = wilson_interval(np.array([k1]), np.array([nn]), z=z)
                    low, high = max(float(wl[0]), 0.0), min(float(wh[0]), 1.0)
                cal_rows.append({
                    "facet": f.name, "group": g, "bin": c,
                    "score_low": float(table.level_low[members[0]]),
                    "n": int(nn), "mean_score": float(Sf[gi, c] / nn),
                    "observed_rate": k1 / nn,
                    "observed_low": low,
                    "observed_high": high,
                })
    # threshold sweep and ROC (point estimates)
    levels = table.level_low
    if sweep_t is None:
        sweep_t = (levels.tolist() if len(levels) <= 20
                   else np.unique(np.quantile(levels, np.linspace(0, 1, 11))).tolist())
    sweep_rows: list[dict[str, Any]] = []
    roc_rows: list[dict[str, Any]] = []
    sweep_levels = np.searchsorted(levels, np.asarray(sweep_t, dtype=np.float64), side="left")
    roc_thr = np.append(levels, np.inf)
    for f in facets:
        Cf = _facet_counts(table.counts, f)  # (h, v, y)
        above = np.cumsum(Cf[:, ::-1, :], axis=1)[:, ::-1, :]  # counts at score level >= v
        above = np.concatenate([above, np.zeros((Cf.shape[0], 1, 2))], axis=1)
        tot = Cf.sum(axis=1)  # (h, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            tpr = above[..., 1] / tot[:, None, 1]
            fpr = above[..., 0] / tot[:, None, 0]
            sel = above.sum(-1) / tot.sum(-1)[:, None]
            ppv = above[..., 1] / above.sum(-1)
            acc = (above[..., 1] + tot[:, None, 0] - above[..., 0]) / tot.sum(-1)[:, None]
        for gi, g in enumerate(f.labels):
            for t, lv in zip(sweep_t, sweep_levels, strict=True):
                sweep_rows.append({"facet": f.name, "group": g, "threshold": float(t),
                                   "selection_rate": float(sel[gi, lv]), "tpr": float(tpr[gi, lv]),
                                   "fpr": float(fpr[gi, lv]), "fnr": float(1 - tpr[gi, lv]),
                                   "ppv": float(ppv[gi, lv]), "accuracy": float(acc[gi, lv])})
            roc_rows.extend({"facet": f.name, "group": g, "threshold": float(th),
                             "fpr": float(a), "tpr": float(b)}
                            for th, a, b in zip(roc_thr, fpr[gi], tpr[gi], strict=True))
    seconds = time.perf_counter() - t0
    return AuditReport(
        score_name=score_name, label_name=label_name, threshold=threshold,
        positive_is_harmful=positive_is_harmful, n=int(table.n), n_boot=int(n_boot),
        ci_level=float(ci_level), min_group_size=int(min_group_size), reference=refs, reference_rule=ref_rule,
        foreground=foreground, groups=pd.DataFrame(rows), disparities=pd.DataFrame(disp),
        chouldechova=pd.DataFrame(chou), calibration=pd.DataFrame(cal_rows),
        sweep=pd.DataFrame(sweep_rows), roc=pd.DataFrame(roc_rows),
        levels_exact=table.is_exact, seconds=seconds,
        params={"n_levels": n_levels, "bootstrap": bootstrap, "random_state": random_state,
                "intersections": intersections, "n_calibration_bins": n_calibration_bins},
    )
