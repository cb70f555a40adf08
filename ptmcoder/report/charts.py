"""Charts of the report and the comparison: matplotlib figures as PNG bytes.

The HTML embeds them as ``data:image/png;base64`` URIs (no request to any address);
the Markdown report links the same PNG files written beside it.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def interval_chart(rows: list[dict[str, Any]], **options: Any) -> bytes | None:
    """:func:`interval_figure` as PNG bytes (None when no row has a value)."""
    fig = interval_figure(rows, **options)
    return None if fig is None else _png(fig)


def interval_figure(
    rows: list[dict[str, Any]],
    *,
    label: str,
    value: str,
    low: str,
    high: str,
    title: str,
    xlabel: str = "",
    bands: list[dict[str, Any]] | None = None,
) -> Any:
    """Horizontal points with CI whiskers, one row per entry (undefined values left
    out). ``bands``: reference intervals drawn behind rows, each ``{"rows": [labels],
    "low", "high", "value", "label"}`` (e.g. humans vs humans on the same units)."""
    rows = [r for r in rows if r.get(value) is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.6))
    index = {str(r[label]): i for i, r in enumerate(rows)}
    labelled = False
    for band in bands or []:
        ys = [index[str(k)] for k in band["rows"] if str(k) in index]
        if not ys or band.get("low") is None or band.get("high") is None:
            continue
        y0, y1 = min(ys) - 0.45, max(ys) + 0.45
        ax.fill_betweenx(
            [y0, y1],
            band["low"],
            band["high"],
            color="#e59b00",
            alpha=0.22,
            lw=0,
            label=None if labelled else band["label"],
        )
        ax.plot([band["value"]] * 2, [y0, y1], color="#b36b00", lw=1.2)
        labelled = True
    for i, r in enumerate(rows):
        v = r[value]
        lo = r.get(low) if r.get(low) is not None else v
        hi = r.get(high) if r.get(high) is not None else v
        ax.errorbar(v, i, xerr=[[v - lo], [hi - v]], fmt="o", color="#1f5f8b", capsize=3)
    ax.set_yticks(range(len(rows)), [str(r[label]) for r in rows], fontsize=8)
    ax.axvline(0, color="#999", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10, pad=18 if labelled else 6)
    ax.grid(axis="x", alpha=0.3)
    if labelled:  # between the title and the axes, never over a point
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def reliability(curves: dict[str, dict[str, Any]], *, n_bins: int) -> bytes | None:
    """The reliability diagram of :func:`ptmcoder.stats.plots.reliability_figure`."""
    from ptmcoder.stats.plots import reliability_figure

    if not curves:
        return None
    return _png(reliability_figure(curves, n_bins=n_bins))


def grouped_bars(
    categories: list[str], series: dict[str, list[float]], *, title: str, ylabel: str
) -> bytes | None:
    """Grouped bars: one group per category, one bar per series."""
    if not categories or not series:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, values, width=width, label=name)
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def hbars(labels: list[str], values: list[float], *, title: str, xlabel: str) -> bytes | None:
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) + 1.2))
    ax.barh(range(len(labels)), values, color="#4c8c4a")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
