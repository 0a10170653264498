"""A self-contained HTML audit report: tables and inline SVG plots, no external files.

Plots: ROC by group, calibration by group (observed rate per score bin, with
bootstrap intervals, or Wilson's for a bin of none or all), and the foreground error
rates per group with intervals. Warnings given (in-sample figures, repeated people)
stand first, under the title.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crimelens.audit._audit import OVERALL, AuditReport
from crimelens.audit._metrics import RATE_METRICS
from crimelens.audit._mitigate import people

__all__ = ["render_html"]

_COLOURS = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d5a97", "#30638e",
            "#a05195", "#5d576b", "#ee6c4d")
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;
color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.2rem .45rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.note{background:#fff7e0;border-left:4px solid #edae49;padding:.5rem 1rem}
.mark{background:#fde8e8;border-left:4px solid #d1495b;padding:.5rem 1rem}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.small{color:#666;font-size:.8rem}
tr.fg td{background:#eef5fb}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.{digits}f}"
    return _e(v)


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def _count(v: Any, *, change: bool = False) -> str:
    """A number of people, or a change in one (signed): whole numbers as such, expected
    counts (a randomised decision) to one decimal."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    x = float(v)
    if abs(x) < 1e-9:
        return "0"
    sign = ("+" if x > 0 else "-") if change else ""
    return sign + people(x)


#: columns that count people (printed as whole numbers, not as rates)
_COUNTS = ("n", "n_reference", "false_positives_change", "false_negatives_change")


def _table(frame: pd.DataFrame, columns: Sequence[str] | None = None,
           highlight: Iterable[bool] | None = None) -> str:
    cols = list(columns or frame.columns)
    hl = list(highlight) if highlight is not None else [False] * len(frame)
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for (_, row), h in zip(frame.iterrows(), hl, strict=True):
        cls = ' class="fg"' if h else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_cell(c, row[c])}</td>" for c in cols) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell(column: str, v: Any) -> str:
    if column in _COUNTS:
        return _count(v, change=column.endswith("_change"))
    if column == "flag_at":  # a group's own cut (group-specific thresholds)
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"≥ {float(v):g}"
    return _fmt(v)


class _Plot:
    def __init__(self, title: str, xlab: str, ylab: str, x0: float, x1: float,
                 y0: float = 0.0, y1: float = 1.0, w: int = 420, h: int = 320) -> None:
        self.w, self.h, self.m = w, h, 48
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1)
        self.y0, self.y1 = y0, y1
        self.parts = [f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="13">{_e(title)}</text>',
                      f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle" font-size="11">{_e(xlab)}</text>',
                      f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})" '
                      f'text-anchor="middle">{_e(ylab)}</text>']
        L, T, R, B = self.m, 24, w - 12, h - self.m + 8
        self.parts.append(f'<rect x="{L}" y="{T}" width="{R - L}" height="{B - T}" fill="none" stroke="#999"/>')
        for i in range(6):
            fx = self.x0 + (self.x1 - self.x0) * i / 5
            fy = self.y0 + (self.y1 - self.y0) * i / 5
            self.parts.append(f'<text x="{self.px(fx):.1f}" y="{B + 14}" font-size="10" '
                              f'text-anchor="middle">{fx:.2g}</text>')
            self.parts.append(f'<text x="{L - 4}" y="{self.py(fy) + 3:.1f}" font-size="10" '
                              f'text-anchor="end">{fy:.2g}</text>')
        self.legend: list[tuple[str, str]] = []

    def px(self, x: float) -> float:
        return self.m + (x - self.x0) / (self.x1 - self.x0) * (self.w - 12 - self.m)

    def py(self, y: float) -> float:
        top, bottom = 24, self.h - self.m + 8
        return bottom - (y - self.y0) / (self.y1 - self.y0) * (bottom - top)

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: str, dash: str = "",
             label: str | None = None) -> None:
        pts = " ".join(f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in zip(xs, ys, strict=True)
                       if not (math.isnan(x) or math.isnan(y)))
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"{d}/>')
        if label:
            self.legend.append((label, colour))

    def dot(self, x: float, y: float, lo: float | None, hi: float | None, colour: str) -> None:
        if math.isnan(x) or math.isnan(y):
            return
        if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
            self.parts.append(f'<line x1="{self.px(x):.1f}" x2="{self.px(x):.1f}" y1="{self.py(lo):.1f}" '
                              f'y2="{self.py(hi):.1f}" stroke="{colour}"/>')
        self.parts.append(f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="3" fill="{colour}"/>')

    def svg(self) -> str:
        leg = "".join(
            f'<rect x="{self.m + 6}" y="{30 + 14 * i}" width="10" height="10" fill="{c}"/>'
            f'<text x="{self.m + 20}" y="{39 + 14 * i}" font-size="10">{_e(lab)}</text>'
            for i, (lab, c) in enumerate(self.legend[:10]))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'role="img">{"".join(self.parts)}{leg}</svg>')


def _roc_plot(report: AuditReport, facet: str) -> str:
    p = _Plot(f"ROC by {facet}", "false positive rate", "true positive rate", 0, 1)
    p.line([0, 1], [0, 1], "#bbb", dash="4 3")
    g: Any = report.group_table(facet)
    for i, (name, sub) in enumerate(report.roc[report.roc["facet"] == facet].groupby("group", sort=False)):
        auc = float(g.loc[name, "auc"])
        p.line([*sub["fpr"], 0.0], [*sub["tpr"], 0.0], _COLOURS[i % len(_COLOURS)],
               label=f"{name} (AUC {auc:.3f}, n={int(g.loc[name, 'n']):,})")
    return p.svg()


def _calibration_plot(report: AuditReport, facet: str) -> str:
    cal = report.calibration[report.calibration["facet"] == facet]
    lo, hi = float(cal["mean_score"].min()), float(cal["mean_score"].max())
    p = _Plot(f"Calibration by {facet}", f"mean {report.score_name} in bin",
              f"observed rate of {report.label_name}", lo, hi)
    if lo >= 0 and hi <= 1:
        p.line([lo, hi], [lo, hi], "#bbb", dash="4 3")
    for i, (name, sub) in enumerate(cal.groupby("group", sort=False)):
        c = _COLOURS[i % len(_COLOURS)]
        sub = sub[sub["n"] >= 5]
        p.line(list(sub["mean_score"]), list(sub["observed_rate"]), c, label=str(name))
        for r in sub.to_dict("records"):
            p.dot(float(r["mean_score"]), float(r["observed_rate"]), _opt(r["observed_low"]),
                  _opt(r["observed_high"]), c)
    return p.svg()


def _error_plot(report: AuditReport, facet: str, metric: str) -> str:
    g: Any = report.group_table(facet)
    names = list(g.index)
    p = _Plot(f"{metric.upper()} by {facet} (threshold {report.threshold:g})", "group (see legend)",
              metric, -0.5, len(names) - 0.5)
    for i, name in enumerate(names):
        c = _COLOURS[i % len(_COLOURS)]
        p.dot(float(i), float(g.loc[name, metric]), g.loc[name, f"{metric}_low"],
              g.loc[name, f"{metric}_high"], c)
        p.legend.append((f"{i}: {name}", c))
    return p.svg()


def render_html(report: AuditReport, *, title: str = "Risk score audit",
                mitigations: Sequence[Any] = (), mark: str | None = None,
                extra: dict[str, Any] | None = None, warnings: Sequence[str] = ()) -> str:
    """The whole report as one HTML string (no scripts, no external resources).

    ``warnings`` (e.g. that the figures are in-sample) are shown first, under the title."""
    facets = [f for f in report.facets if f != OVERALL]
    main = facets[0] if facets else OVERALL
    harm = ("being flagged is treated as HARMFUL to the person (punitive): false positives and "
            "the false discovery rate are foregrounded") if report.positive_is_harmful else (
            "being flagged is treated as ASSISTIVE (a service): false negatives and the false "
            "omission rate are foregrounded")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"]
    if mark:
        parts.append(f"<p class='mark'><b>{_e(mark)}</b></p>")
    parts.extend(f"<p class='mark warning'><b>Warning:</b> {_e(w)}</p>" for w in warnings)
    parts.append(
        f"<p>Score <b>{_e(report.score_name)}</b>, label <b>{_e(report.label_name)}</b>, "
        f"{report.n:,} rows; flagged when score ≥ <b>{report.threshold:g}</b>; {harm}. "
        + (f"{report.n_boot:,} bootstrap replicates, {report.ci_level:.0%} percentile intervals; "
           if report.n_boot else "no bootstrap (--bootstrap 0): point estimates, no intervals; ")
        + f"no comparison is read for groups under {report.min_group_size} people. "
        "This report gives no overall verdict: each comparison below is one reading of one metric.</p>")
    parts.append("<div class='note'><b>What the label can and cannot tell you</b><ul>"
                 + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul></div>")
    parts.append("<h2>Plots</h2><div class='plots'>" + _roc_plot(report, main)
                 + _calibration_plot(report, main)
                 + "".join(_error_plot(report, main, m) for m in ("fpr", "fnr"))
                 + "</div>")
    cols = ["group", "n", "base_rate", "selection_rate", "auc", "accuracy", "fpr", "fpr_low",
            "fpr_high", "fnr", "fnr_low", "fnr_high", "ppv", "npv", "fdr", "for", "tpr", "tnr"]
    for f in report.facets:
        g = report.group_table(f).reset_index()
        parts.append(f"<h2>Groups: {_e(f)}</h2>" + _table(g, cols))
        if f != OVERALL:
            parts.append(f"<p class='small'>Reference group: {_e(report.reference[f])}.</p>")
    d = report.disparities
    if not d.empty:
        parts.append("<h2>Differences and ratios against the reference group</h2>"
                     "<p class='small'>Highlighted rows are the metrics the declared harm direction "
                     "brings to the front; every metric is listed.</p>")
        show = d.sort_values(["facet", "foreground", "group"], ascending=[True, False, True])
        parts.append(_table(show, ["facet", "group", "reference", "metric", "value",
                                   "reference_value", "difference", "difference_low",
                                   "difference_high", "ratio", "ratio_low", "ratio_high", "reading"],
                            highlight=show["foreground"].tolist()))
    parts.append("<h2>Why the error rates differ: Chouldechova's identity</h2><p>For every group, "
                 "FPR = p/(1−p) · (1−PPV)/PPV · (1−FNR), with p the base rate. When base rates "
                 "differ, a score equally precise (PPV) in two groups must have different false "
                 "positive or false negative rates: calibration and equal error rates cannot all "
                 "hold at once (Chouldechova 2017; Kleinberg et al. 2016).</p>"
                 + _table(report.chouldechova, ["facet", "group", "n", "base_rate", "prevalence_odds",
                                                "ppv", "fnr", "fpr", "fpr_from_identity"]))
    parts.append("<h2>Calibration by score bin</h2>" + _table(
        report.calibration, ["facet", "group", "bin", "score_low", "n", "mean_score",
                             "observed_rate", "observed_low", "observed_high"]))
    parts.append("<h2>Threshold sweep</h2>" + _table(
        report.sweep[report.sweep["facet"].isin([OVERALL, main])],
        ["facet", "group", "threshold", "selection_rate", "tpr", "fpr", "fnr", "ppv", "accuracy"]))
    for m in mitigations:
        flag = ("needs the protected attribute AT DECISION TIME" if m.needs_protected_at_decision
                else "needs the protected attribute at training time only"
                if m.needs_protected_at_training else "needs no protected attribute")
        parts.append(f"<h2>Mitigation: {_e(m.name)}</h2><p>{_e(m.description)}. <b>{_e(flag)}</b>. "
                     f"Accuracy {m.accuracy_before:.3f} → {m.accuracy_after:.3f}.</p>"
                     + _table(m.tradeoff, [c for c in m.tradeoff.columns if c != "below_min_size"]))
    parts.append("<h2>Metric meanings</h2><table>" + "".join(
        f"<tr><td>{_e(k)}</td><td style='text-align:left'>{_e(v)}</td></tr>"
        for k, v in RATE_METRICS.items()) + "</table>")
    info = {**dict(report.params), **(extra or {}), "seconds": round(report.seconds, 3)}
    parts.append("<h2>How this was made</h2><table>" + "".join(
        f"<tr><td>{_e(k)}</td><td style='text-align:left'>{_e(v)}</td></tr>" for k, v in info.items())
        + "</table></body></html>")
    return "".join(parts)
