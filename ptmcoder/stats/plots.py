"""Figures of the analyses, drawn with matplotlib's Agg backend and written as PNG.

Each function takes the numbers a result already holds (never raw rows), writes
one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
    return path


def popularity_chart(per_year, per_tag_year: dict, path: Path, *, title: str) -> Path:
    """Tan et al. Fig. 1: (a) questions per year, (b) per tag per year."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    # A year without units is a zero on the line, not a gap the line bridges.
    years = (
        list(range(min(y for y, _ in per_year), max(y for y, _ in per_year) + 1))
        if per_year
        else []
    )

    def filled(rows) -> list[int]:
        got = dict(rows)
        return [got.get(y, 0) for y in years]

    total = sum(n for _, n in per_year)
    ax1.plot(years, filled(per_year), marker="o")
    ax1.set(title=f"(a) {title} per year (n={total:,})", xlabel="year", ylabel="questions")
    for tag, rows in per_tag_year.items():
        ax2.plot(years, filled(rows), marker="o", label=f"{tag} (n={sum(n for _, n in rows):,})")
    ax2.set(title="(b) top tags per year", xlabel="year", ylabel="questions")
    if per_tag_year:
        ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.yaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)


def response_time_chart(histogram: dict, path: Path, *, bins_per_decade: int) -> Path:
    """Tan et al. Fig. 2: distribution of the time to an accepted answer (log minutes),
    as the share of each group's answered questions per bin (``bins_per_decade`` bins
    per power of ten, as the histogram was counted)."""
    import math

    BINS_PER_DECADE = bins_per_decade  # noqa: N806 - the histogram's constant
    fig, ax = plt.subplots(figsize=(7, 4))
    for group, rows in histogram.items():
        if not rows:
            continue
        total = sum(n for _, _, n in rows) or 1
        # bins are quarter decades; fill empty ones so the steps stay contiguous
        counts = {round(math.log10(lo) * BINS_PER_DECADE): n for lo, _, n in rows}
        first, last = min(counts), max(counts)
        idx = range(first, last + 1)
        edges = [10 ** (b / BINS_PER_DECADE) for b in range(first, last + 2)]
        ax.stairs([counts.get(b, 0) / total for b in idx], edges, label=f"{group} (n={total:,})")
    ax.set_xscale("log")
    ax.set(
        xlabel="minutes to the accepted answer (log scale)",
        ylabel="share of questions",
        title="Time needed to receive an accepted answer",
    )
    ax.legend()
    return _save(fig, path)


def box_plots(groups: dict[str, list[float]], path: Path, *, title: str, ylabel: str) -> Path:
    """One box per group (Banyongrakkul et al. Fig. 5), n in each label."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(groups) + 2), 4.5))
    labels = [f"{g}\n(n={len(v)})" for g, v in groups.items()]
    ax.boxplot([list(v) for v in groups.values()], showmeans=True)
    ax.set_xticks(
        range(1, len(labels) + 1), labels, fontsize=8, rotation=30 if len(labels) > 4 else 0
    )
    ax.set(title=title, ylabel=ylabel)
    return _save(fig, path)


def distribution_chart(rows: list[tuple[str, int]], path: Path, *, title: str) -> Path:
    """Horizontal bars: units per node of one level."""
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(rows) + 1)))
    names = [r[0] for r in rows][::-1]
    ax.barh(names, [r[1] for r in rows][::-1])
    ax.set(title=title, xlabel="coded units")
    ax.tick_params(axis="y", labelsize=8)
    return _save(fig, path)


def no_acc_chart(rows: list[tuple[str, int, float]], path: Path) -> Path:
    """Horizontal bars of %no acc (share of questions without an accepted answer)
    per group and tag, the left half of Tan et al.'s Table II; n in each label."""
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.4 * len(rows) + 1.2)))
    names = [f"{name} (n={n:,})" for name, n, _ in rows][::-1]
    ax.barh(names, [share for _, _, share in rows][::-1])
    ax.set_xlim(0, 1)
    ax.set(
        title="Questions without an accepted answer (%no acc)",
        xlabel="share of questions without an accepted answer",
    )
    ax.tick_params(axis="y", labelsize=8)
    return _save(fig, path)


def reliability_figure(curves: dict[str, dict], *, n_bins: int):
    """The reliability diagram: accuracy against mean confidence per bin, one curve
    per annotator, each point labelled with its bin's count and sized by it; empty
    bins are left out (a bin's point exists only where forecasts fell), and so is a
    curve without a scored bin. ``curves``: name -> ``{"bins": [{count,
    mean_confidence, accuracy}], "ece": float|None, "n": int}``. The legend sits
    below the axes, never over a curve. Returns the matplotlib figure."""
    fig, ax = plt.subplots(figsize=(6, 6.6))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    for name, curve in curves.items():
        pts = [
            (b["mean_confidence"], b["accuracy"], int(b["count"]))
            for b in curve.get("bins") or []
            if b.get("count") and b.get("mean_confidence") is not None
        ]
        if not pts:
            continue
        x, y, n = zip(*pts, strict=True)
        ece = curve.get("ece")
        label = f"{name} (ECE {'n/a' if ece is None else f'{ece:.3f}'}, n={curve.get('n')})"
        (line,) = ax.plot(x, y, lw=1.2, label=label)
        ax.scatter(x, y, s=[18 + 4 * min(k, 60) for k in n], color=line.get_color(), zorder=3)
        for xi, yi, k in pts:
            ax.annotate(
                str(k),
                (xi, yi),
                textcoords="offset points",
                xytext=(5, -10),
                fontsize=7,
                color=line.get_color(),
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy against gold in bin")
    ax.set_title(
        f"Reliability diagram ({n_bins} equal-width bins; labels: units per bin)", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    fig.tight_layout()
    return fig
