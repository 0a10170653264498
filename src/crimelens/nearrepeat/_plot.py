"""Heat map of a Knox table (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crimelens._figures import plain_text
from crimelens.nearrepeat._knox import KnoxResult

__all__ = ["plot_knox"]


@plain_text
def plot_knox(result: KnoxResult, path: str | Path, *, alpha: float | None = None, title: str | None = None,
              note: str | None = None) -> Path:
    """Write a PNG heat map of the Knox ratios; each cell shows ratio, observed count and p.

    Finite cells with ratio > 1 and p < ``alpha`` (default: the run's own) are outlined; the
    open-ended row and column never are (:data:`~crimelens.nearrepeat._knox.OPEN_ENDED_NOTE`). The colour
    scale is log2(ratio), centred on 1 (no excess); cells without an expectation are grey.
    The convention and the number of permutations are printed under the title. Without
    permutations the p shown is the Poisson approximation (``pP=``) and the subtitle says so;
    the result's warnings (coarse times) are printed under it.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    out = Path(path)
    level = result.alpha if alpha is None else alpha
    poisson_p = result.p_source == "poisson"
    p_used = result.p_used
    ratio = np.asarray(result.ratio, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log2(np.where(ratio > 0, ratio, np.nan))
    finite = shown[np.isfinite(shown)]
    span = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    R, C = result.shape
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * C, 1.2 + 0.75 * R), dpi=110)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="#dddddd")
    im = ax.imshow(shown, cmap=cmap, norm=TwoSlopeNorm(0.0, -span, span),
                   aspect="auto")
    sig = result.significant(level)
    for r in range(R):
        for c in range(C):
            val = ratio[r, c]
            text = "–" if not np.isfinite(val) else f"{val:.2f}"
            p = p_used[r, c]
            ptxt = "" if not np.isfinite(p) else f"\n{'pP' if poisson_p else 'p'}={p:.3g}"
            ax.text(c, r, f"{text}\nn={int(result.observed[r, c])}{ptxt}", ha="center", va="center",
                    fontsize=7, fontweight="bold" if sig[r, c] else "normal",
                    color="white" if abs(float(np.nan_to_num(shown[r, c]))) > 0.6 * span else "black")
            if sig[r, c]:
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2.0,
                                           edgecolor="black"))
    ax.set_xticks(range(C), [f"{lab} d" if result.convention == "nrc" else lab
                             for lab in result.time.labels], fontsize=7, rotation=20)
    ax.set_yticks(range(R), [f"{lab} m" if result.convention == "nrc" and lab != "Same location"
                             else lab for lab in result.space.labels], fontsize=7)
    ax.set_xlabel("time between events")
    ax.set_ylabel(f"distance ({result.distance})")
    head = title or "Knox ratio (observed / expected pairs)"
    sub = (f"convention: {result.convention} · {result.n_events:,} events · "
           + (f"{result.n_permutations} permutations, seed {result.seed} · outlined: ratio>1, p<{level:g}"
              if not poisson_p else
              f"no permutations: analytic expectation, pP = Poisson p · outlined: ratio>1, pP<{level:g}"))
    sub += "\nopen-ended cells (> the largest band) never outlined: the complement of the close pairs, not near-repeat evidence"
    if note:
        sub += f"\n{note}"
    if result.coarse_times is not None and result.coarse_times.is_coarse:
        ct = result.coarse_times
        sub += (f"\nCOARSE TIMES: {ct.n_coarse:,} of {ct.n_events:,} records known only to windows of ~"
                f"{ct.median_days:.3g} days (> {ct.band_days:g}-day band):\ngaps in days not measured; "
                "not near-repeat evidence")
    ax.set_title(f"{head}\n{sub}", fontsize=8)
    fig.colorbar(im, ax=ax, label="log2 Knox ratio", shrink=0.8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    plt.close(fig)
    return out
