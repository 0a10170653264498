"""What a pair *has* for each feature that drove its score, in words an analyst can check.

A driver's contribution is its part of the pair's log-odds relative to the linker's baseline (the
average training pair of the stage that scored it), not the evidence of that feature alone; so the
sign of a contribution does not say whether the two incidents agree. An agreement on an M.O. value
can carry a negative contribution (the model learned that, among pairs like this one, sharing that
value is less common for linked pairs than for its average training pair). The reading says what
the pair has: ``both 'single-family house' (rare: 6.6 % of the training incidents)``,
``differ: 'rear door' vs 'front door'``, ``unknown on one side: not compared``, ``860 m apart``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crimelens.linkage._features import EncodedIncidents

__all__ = ["driver_readings", "pair_reading"]

#: an M.O. value held by at most this share of the training incidents reads as "rare", above
#: :data:`COMMON_SHARE` as "common"
RARE_SHARE = 0.10
COMMON_SHARE = 0.30


def _share_words(idf: float) -> str:
    share = math.exp(-idf)  # idf = log((N + 1) / (n_value + 1)): the value's share of the training incidents
    kind = "rare: " if share <= RARE_SHARE else "common: " if share > COMMON_SHARE else ""
    return f"{kind}{100 * share:.2g} % of the training incidents"


def _mo_reading(featurizer: Any, enc: EncodedIncidents, a: int, b: int, c: int,
                memo: dict[Any, Any] | None = None) -> tuple[str, str]:
    """(agreement, words) for M.O. attribute ``c`` of pair ``(a, b)``; ``memo`` keeps each
    vocabulary turned round (code -> value) across calls on the same featurizer."""
    ca, cb = int(enc.codes[a, c]), int(enc.codes[b, c])
    key = (id(featurizer.vocab_[c]), c)
    names = None if memo is None else memo.get(key)
    if names is None:
        names = {code: value for value, code in featurizer.vocab_[c].items()}
        if memo is not None:
            memo[key] = names

    def shown(code: int) -> str:
        return repr(names[code]) if code in names else "a value not seen in training"

    if ca < 0 and cb < 0:
        return "missing", "unknown on both sides: not compared"
    if ca < 0 or cb < 0:
        return "missing", f"unknown on one side ({shown(max(ca, cb))} on the other): not compared"
    if ca == cb:
        if ca not in names:
            return "agree", "both values not seen in training (counted as agreeing)"
        return "agree", f"both {shown(ca)} ({_share_words(float(featurizer.idf_[c, ca]))})"
    return "differ", f"differ: {shown(ca)} vs {shown(cb)}"


def pair_reading(linker: Any, enc: EncodedIncidents, a: int, b: int, feature: str, value: float, *,
                 memo: dict[Any, Any] | None = None) -> dict[str, str]:
    """``{"reading": words}`` (and ``"agreement"``: agree, differ or missing, for an M.O. attribute)
    for one driver ``feature`` of pair ``(a, b)`` of ``enc``, whose feature value is ``value``
    (``memo``: a dict kept across the calls of one featurizer, so a vocabulary is turned round once)."""
    fz = linker.featurizer_
    if feature.startswith("mo_") and feature[3:] in fz.mo_columns_:
        agreement, words = _mo_reading(fz, enc, a, b, fz.mo_columns_.index(feature[3:]), memo)
        return {"agreement": agreement, "reading": words}
    if feature in ("distance_m", "log1p_distance_m"):
        d = math.hypot(float(enc.x[a] - enc.x[b]), float(enc.y[a] - enc.y[b]))
        return {"reading": f"{d:,.0f} m apart"}
    if feature in ("time_gap_days", "log1p_time_gap_days"):
        gap = max(0.0, float(enc.t_from[b] - enc.t_to[a]), float(enc.t_from[a] - enc.t_to[b]))
        return {"reading": "time windows overlap" if gap == 0 else f"{gap:.3g} days between their time windows"}
    if feature == "hour_diff_h":
        return {"reading": f"about {value:.1f} h apart in time of day (expected over their windows)"}
    if feature == "weekday_diff":
        return {"reading": f"about {value:.1f} days apart in day of week (expected over their windows)"}
    if feature == "mo_known":
        return {"reading": f"{value:.0f} M.O. attributes known on both sides"}
    if feature == "mo_mismatch":
        return {"reading": f"{value:.0f} M.O. attributes known on both sides differ"}
    if feature == "mo_idf_sum":
        shared = [col for c, col in enumerate(fz.mo_columns_)
                  if 0 <= int(enc.codes[a, c]) == int(enc.codes[b, c])]
        return {"reading": (f"shares {', '.join(shared)} (rarity weights summed: {value:.2f})" if shared
                            else "shares no M.O. value")}
    if feature.startswith("absdiff_") and feature[8:] in fz.numeric_columns_:
        c = fz.numeric_columns_.index(feature[8:])
        va, vb = float(enc.numeric[a, c]), float(enc.numeric[b, c])
        if np.isnan(va) or np.isnan(vb):
            return {"agreement": "missing", "reading": "unknown on one or both sides: not compared"}
        return {"agreement": "agree" if va == vb else "differ",
                "reading": f"{va:g} vs {vb:g}" + (" (the same)" if va == vb else f" (differ by {abs(va - vb):g})")}
    if feature in ("narrative_cosine", "narrative_svd_cosine"):
        return {"reading": f"narrative similarity {value:.2f} (0 none, 1 the same text)"}
    if feature == "narrative_commonness":
        return {"reading": f"the commoner narrative repeats word for word (log1p of copies per 10,000: {value:.2f})"}
    return {"reading": f"{feature} = {value:.3g}"}


def driver_readings(linker: Any, enc: EncodedIncidents, a: int, b: int,
                    drivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``drivers`` (``feature``, ``value``, ``contribution``) of pair ``(a, b)``, each with its reading."""
    return [{**d, **pair_reading(linker, enc, a, b, str(d["feature"]), float(d["value"]))} for d in drivers]
