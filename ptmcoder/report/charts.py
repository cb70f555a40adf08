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
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def interval_chart(
    rows: list[dict[str, Any]], *, label: str, value: str, low: str, high: str, title: str
) -> bytes | None:
    """Horizontal points with CI whiskers, one row per entry (undefined values left out)."""
    rows = [r for r in rows if r.get(value) is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        v = r[value]
        lo = r.get(low) if r.get(low) is not None else v
        hi = r.get(high) if r.get(high) is not None else v
        ax.errorbar(v, i, xerr=[[v - lo], [hi - v]], fmt="o", color="#1f5f8b", capsize=3)
    ax.set_yticks(range(len(rows)), [str(r[label]) for r in rows], fontsize=8)
    ax.axvline(0, color="#999", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


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
