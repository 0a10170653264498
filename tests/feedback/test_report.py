"""Figures and the Markdown / HTML section for model cards and the annual report."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimelens.errors import InvalidParameterError
from crimelens.feedback import (
    NaiveCounts,
    compare_feedback,
    ensign_urn,
    feedback_section,
    planted_city,
    plot_bias_sweep,
    plot_comparison,
    plot_urn,
    urn_bias_sweep,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_figures_are_png_files(tmp_path: Path) -> None:
    urns = [ensign_urn(days=60, n_runs=20), ensign_urn(days=60, n_runs=20, correction="ipw")]
    comparison = compare_feedback(planted_city(nx=10, ny=10), NaiveCounts(window_days=30), days=30)
    sweep = urn_bias_sweep(biases=(0.0, 0.05), days=60, n_runs=20)
    for path in (plot_urn(urns, tmp_path / "u.png"), plot_comparison(comparison, tmp_path / "sub" / "c.png"),
                 plot_bias_sweep(sweep, tmp_path / "s.png")):
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 10_000


def test_dollar_signs_in_titles_and_labels_are_text(tmp_path: Path) -> None:
    """A '$...$' in a name (a dataset, a file, an area group) is drawn as written, not parsed as TeX."""
    from crimelens.forecast._export import plot_coverage_curves

    urns = [ensign_urn(days=30, n_runs=5)]
    odd = "d$x^{$"
    paths = [plot_urn(urns, tmp_path / "u.png", title=odd),
             plot_coverage_curves({odd: [0.1, 0.3]}, [0.01, 0.05], tmp_path / "c.png", title=odd)]
    assert all(p.read_bytes()[:8] == PNG for p in paths)
    import matplotlib

    assert matplotlib.rcParams["text.parse_math"] is True  # only inside our figures


def test_section_states_the_figures_and_the_limits() -> None:
    urns = [ensign_urn(days=80, n_runs=20, random_state=1)]
    comparison = compare_feedback(planted_city(nx=10, ny=10), NaiveCounts(window_days=30), days=20)
    md = feedback_section(urn=urns, comparison=comparison, figures={"urn": "figs/u.png"},
                          mark="research — not for operational use", heading_level=3)
    assert md.startswith("### Feedback-loop audit\n")
    assert f"{urns[0].final_share:.3f}" in md
    assert (f"Concentration ratio (share of flags to the day-0 flagged cells, feedback / no feedback): "
            f"{comparison.concentration_ratio:.3f}; amplification ratio (mean TV distance to the truth, "
            f"feedback / no feedback): {comparison.amplification_ratio:.3f}.") in md
    assert "![urn](figs/u.png)" in md
    assert "*research — not for operational use*" in md
    assert "no threshold here means the model is safe to deploy" in md
    html = feedback_section(urn=urns, fmt="html")
    assert html.startswith('<section class="feedback-audit">') and "<table>" in html and "<h2>" in html
    with pytest.raises(InvalidParameterError, match="expected 'markdown' or 'html'"):
        feedback_section(fmt="pdf")
