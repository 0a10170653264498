"""Figures (matplotlib's Agg canvas through ``Figure``, no pyplot state; PNG) and a Markdown / HTML section for model cards and reports.

:func:`feedback_section` returns one self-contained section that the model card and
the annual report include as it is. It states the numbers, the assumptions of the
simulated world and the limits, and it never grades a model as passing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from crimelens._figures import plain_text
from crimelens.feedback._exposure import ExposureReport
from crimelens.feedback._simulate import BiasSweep, FeedbackComparison
from crimelens.feedback._urn import UrnResult

__all__ = ["feedback_section", "plot_bias_sweep", "plot_comparison", "plot_urn", "runs_section"]

_COLOURS = {"no feedback": "#4d4d4d", "feedback": "#d6604d"}


def _smooth(x: NDArray[np.float64], days: int) -> NDArray[np.float64]:
    if days <= 1 or len(x) < days:
        return x
    kernel = np.ones(days) / days
    head = np.cumsum(x[: days - 1]) / np.arange(1, days)
    return np.concatenate([head, np.convolve(x, kernel, mode="valid")])


@plain_text
def plot_urn(results: Sequence[UrnResult], path: str | Path, *, title: str | None = None) -> Path:
    """Region A's patrol share over time for each urn run set, with its 5–95 % band and the truth."""
    out = Path(path)
    fig = Figure(figsize=(7.5, 4.2), dpi=110)
    ax = fig.subplots()
    for r in results:
        label = r.label
        days = np.arange(1, r.days + 1)
        line = ax.plot(days, r.share, label=f"{label}: {r.final_share:.3f} at day {r.days}")[0]
        ax.fill_between(days, r.share_lo, r.share_hi, color=line.get_color(), alpha=0.15, linewidth=0)
    if results:
        ax.axhline(results[0].true_share, color="black", linestyle="--", linewidth=1,
                   label=f"true share {results[0].true_share:.3f}")
    ax.set_xlabel("day")
    ax.set_ylabel("share of patrols to region A")
    ax.set_ylim(0.4, 1.0)
    ax.set_title(title or f"Ensign et al. two-region urn ({results[0].n_runs if results else 0} runs, mean and 5–95 %)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


@plain_text
def plot_comparison(comparison: FeedbackComparison, path: str | Path, *, smooth_days: int = 30,
                    title: str | None = None) -> Path:
    """Share of daily flags to the day-0 flagged cells (and per group, if any) over time, per run."""
    out = Path(path)
    groups = sorted(comparison.feedback.group_share)
    n_panels = 1 + (1 if groups else 0)
    fig = Figure(figsize=(7.5 * n_panels, 4.2), dpi=110)
    axes = fig.subplots(1, n_panels, squeeze=False)
    ax = axes[0, 0]
    for r in comparison.runs:
        colour = _COLOURS.get(r.label, "#2166ac")
        ax.plot(np.arange(1, r.days + 1), _smooth(r.initial_share, smooth_days), color=colour,
                label=f"{r.label}: {r.share_to_initial_flags:.3f} overall, {r.cells_ever_flagged} cells ever flagged")
    ax.set_xlabel("day")
    ax.set_ylabel(f"share of flags to the day-0 flagged cells ({smooth_days}-day mean)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"{comparison.feedback.scenario}: {comparison.feedback.model}, {comparison.feedback.allocation}")
    ax.legend(fontsize=8, loc="lower left")
    if groups:
        ax2 = axes[0, 1]
        styles = ["-", "--", ":", "-."]
        for r in comparison.runs:
            colour = _COLOURS.get(r.label, "#2166ac")
            for i, g in enumerate(groups):
                ax2.plot(np.arange(1, r.days + 1), _smooth(np.asarray(r.group_share[g]), smooth_days), color=colour,
                         linestyle=styles[i % len(styles)], label=f"{r.label}, group {g}")
        for i, g in enumerate(groups):
            truth = comparison.feedback.group_metrics[g]["true_share"]
            ax2.axhline(truth, color="black", linewidth=0.8, linestyle=styles[i % len(styles)],
                        label=f"true share, group {g}: {truth:.3f}")
        ax2.set_xlabel("day")
        ax2.set_ylabel("share of the day's patrol presence")
        ax2.set_title("allocation share per group")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


@plain_text
def plot_bias_sweep(sweep: BiasSweep, path: str | Path) -> Path:
    """Group's excess allocation share against the hidden detection bias, with and without feedback."""
    out = Path(path)
    table = sweep.table
    fig = Figure(figsize=(6.5, 4.0), dpi=110)
    ax = fig.subplots()
    ax.plot(table["detection_bias"] * 100, table["no_feedback_excess"], "o-", color=_COLOURS["no feedback"],
            label="no feedback")
    ax.plot(table["detection_bias"] * 100, table["feedback_excess"], "o-", color=_COLOURS["feedback"], label="feedback")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"extra discovery probability in group {sweep.group} (%)")
    ax.set_ylabel("allocation share minus true share")
    ax.set_title(f"How a small detection bias compounds (group {sweep.group})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(v) for v in r) + " |")
    return "\n".join(lines)


def feedback_section(
    *,
    urn: Sequence[UrnResult] = (),
    comparison: FeedbackComparison | None = None,
    sweep: BiasSweep | None = None,
    exposure: ExposureReport | None = None,
    figures: Mapping[str, str | Path] | None = None,
    fmt: str = "markdown",
    heading_level: int = 2,
    mark: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """A Markdown (``fmt="markdown"``) or HTML (``fmt="html"``) section for a model card or report.

    ``notes`` are cautions printed under the exposure table (ties at the cut, incidents
    outside the areas, overlapping training windows).

    Examples
    --------
    >>> from crimelens.feedback import ensign_urn
    >>> text = feedback_section(urn=[ensign_urn(days=50, n_runs=10)])
    >>> text.splitlines()[0]
    '## Feedback-loop audit'
    """
    h = "#" * heading_level
    parts: list[str] = [f"{h} Feedback-loop audit", ""]
    if mark:
        parts += [f"*{mark}*", ""]
    parts += [
        "These figures come from simulations: a model is refit every simulated day on a record that its own "
        "patrol allocation helped produce. They show how this model *can* concentrate on where police already "
        "were; they do not measure a real city, and no threshold here means the model is safe to deploy.",
        "",
    ]
    if urn:
        parts += [f"{h}# Two-region urn (Ensign et al. 2018)", ""]
        rows = []
        for u in urn:
            s = u.summary()
            rows.append([s["correction"], f"{s['reported_weight']:.0%}", s["days"], s["n_runs"],
                         f"{s['true_share']:.3f}", f"{s['final_share']:.3f} ± {1.96 * s['final_share_se']:.3f}"])
        parts += [_md_table(["correction", "citizen reports", "days", "runs", "true share", "patrol share (95 % CI)"], rows), ""]
        parts += ["Paper (Oakland parameters, 1,000 days): 0.704 uncorrected, 0.582 corrected, 0.645 with citizen reports.", ""]
    if comparison is not None:
        fb = comparison.feedback
        parts += [f"{h}# {fb.scenario}: {fb.model}, {fb.allocation}, {fb.days} days", ""]
        rows = []
        for run in comparison.runs:
            s = run.summary()
            rows.append([run.label, f"{s['share_to_initial_flags']:.3f}", s["cells_ever_flagged"], f"{s['gini']:.3f}",
                         f"{s['tv_mean']:.3f}", f"{s['kl_mean']:.3f}", f"{s['discovered_to_reported']:.3f}"])
        parts += [_md_table(["run", "share of flags to day-0 flagged cells", "cells ever flagged", "Gini of allocation",
                             "TV to truth", "KL to truth", "discovered / reported"], rows), ""]
        parts += [f"Concentration ratio (share of flags to the day-0 flagged cells, feedback / no feedback): "
                  f"{comparison.concentration_ratio:.3f}; amplification ratio (mean TV distance to the truth, "
                  f"feedback / no feedback): {comparison.amplification_ratio:.3f}.", ""]
        if fb.group_metrics:
            grows = []
            for run in comparison.runs:
                for g, m in run.group_metrics.items():
                    grows.append([run.label, g, f"{m['allocation_share']:.3f}", f"{m['true_share']:.3f}",
                                  f"{m['disparity']:.3f}", f"{m['discovered_to_reported']:.3f}"])
            parts += [_md_table(["run", "group", "allocation share", "true share", "ratio", "discovered / reported"], grows), ""]
    if sweep is not None:
        runs = f"; {sweep.n_runs:,} runs per level" if sweep.n_runs is not None else ""
        parts += [f"{h}# Detection-bias sweep (group {sweep.group}{runs})", ""]
        parts += [_md_table(["detection bias", "true share", "no feedback", "feedback"],
                            [[f"{r['detection_bias']:.0%}", f"{r['true_share']:.3f}", f"{r['no_feedback_share']:.3f}",
                              f"{r['feedback_share']:.3f}"] for r in sweep.rows]), ""]
    if exposure is not None:
        parts += [f"{h}# Exposure by area group ({exposure.group_by or 'area'}; {exposure.n_periods} periods, "
                  f"{exposure.confidence:.0%} intervals)", "", exposure.to_markdown(), ""]
        parts += [x for n in notes for x in (f"Caution: {n}", "")]
    for name, path in (figures or {}).items():
        parts += [f"![{name}]({Path(path).as_posix()})", ""]
    parts += [
        "Limits: the true rates are assumptions of the scenario; the correction removes the bias that comes "
        "from where patrols were sent, not a hidden difference in how likely incidents are to be discovered "
        "or reported in different places.",
    ]
    text = "\n".join(parts).rstrip() + "\n"
    if fmt == "markdown":
        return text
    if fmt == "html":
        return _markdown_to_html(text)
    from crimelens.errors import InvalidParameterError

    raise InvalidParameterError(f"feedback_section(fmt={fmt!r}): expected 'markdown' or 'html'")


def _markdown_to_html(text: str) -> str:
    """The tiny Markdown subset :func:`feedback_section` writes, as HTML."""
    out: list[str] = ["<section class=\"feedback-audit\">"]
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr></thead><tbody>")
            for r in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            out.append("</tbody></table>")
            continue
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f"<img alt=\"{html.escape(alt)}\" src=\"{html.escape(src.rstrip(')'))}\">")
        elif line.startswith("*") and line.endswith("*"):
            out.append(f"<p><em>{html.escape(line.strip('*'))}</em></p>")
        elif line.strip():
            body = html.escape(line).replace("*can*", "<em>can</em>")
            out.append(f"<p>{body}</p>")
        i += 1
    out.append("</section>")
    return "\n".join(out) + "\n"


def runs_section(runs: Sequence[Mapping[str, Any]], *, fmt: str = "markdown", heading_level: int = 2) -> str:
    """A section listing stored feedback runs and their headline figures (for the annual report).

    Each run is a mapping with ``run_id``, ``kind`` (``simulate`` or ``exposure``),
    ``scenario``, ``created_at``, ``summary``, ``output_hash`` and ``ledger_seq``, as
    stored by the feedback service.

    Examples
    --------
    >>> text = runs_section([])
    >>> "No feedback simulation" in text
    True
    """
    h = "#" * heading_level
    parts = [f"{h} Feedback simulations and exposure audits", ""]
    if not runs:
        parts.append("No feedback simulation or exposure audit was run in this period.")
    for r in runs:
        s = r.get("summary", {})
        when = str(r.get("created_at", ""))[:10]
        parts += [f"{h}# {r.get('kind')} · {r.get('scenario')} · {when} · run {r.get('run_id')}", ""]
        if "final_shares" in s:
            rows = [[label, f"{v:.3f}"] for label, v in s["final_shares"].items()]
            parts += [f"True share {s.get('true_share', float('nan')):.3f}.", "",
                      _md_table(["urn run", "share of patrols to region A"], rows), ""]
        elif "runs" in s:
            rows = [[label, f"{v['share_to_initial_flags']:.3f}", v["cells_ever_flagged"],
                     f"{v['discovered_to_reported']:.3f}"] for label, v in s["runs"].items()]
            parts += [_md_table(["run", "share of flags to day-0 cells", "cells ever flagged",
                                 "discovered / reported"], rows), ""]
            if "concentration_ratio" in s:
                parts += [f"Concentration ratio (share of flags to the day-0 flagged cells, feedback / no "
                          f"feedback): {s['concentration_ratio']:.3f}.", ""]
            if s.get("amplification_ratio") is not None:
                parts += [f"Amplification ratio (mean TV distance to the truth, feedback / no feedback): "
                          f"{s['amplification_ratio']:.3f}.", ""]
        elif "groups" in s:
            rows = []
            for g, v in s["groups"].items():
                def cell(metric: str, v: Mapping[str, Any] = v) -> str:
                    m = v.get(metric) or {}
                    return _fmt_ci(m.get("mean"), m.get("lo"), m.get("hi"))

                rows.append([g, cell("flag_share"), cell("ratio_to_incidents"), cell("ratio_to_population")])
            parts += [_md_table(["group", "flag share", "ratio to incidents", "ratio to residents"], rows), ""]
            for key in ("caution_window", "caution"):
                if key in s:
                    parts += [f"Caution: {s[key]}.", ""]
        parts += [f"Output hash `{r.get('output_hash')}`, ledger entry {r.get('ledger_seq')}.", ""]
    text = "\n".join(parts).rstrip() + "\n"
    if fmt == "markdown":
        return text
    if fmt == "html":
        return _markdown_to_html(text)
    from crimelens.errors import InvalidParameterError

    raise InvalidParameterError(f"runs_section(fmt={fmt!r}): expected 'markdown' or 'html'")


def _fmt_ci(mean: Any, lo: Any, hi: Any) -> str:
    if mean is None:
        return "–"
    if lo is None or hi is None:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{lo:.3g}, {hi:.3g}]"
