"""Views on rater agreement: the pairwise matrix, annotator vs each human with
the human-human ceiling beside it, the per-code table and the confusion matrix.
Each view is a function returning a DataFrame and a renderer to a rich table."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from ptmcoder.agreement import coefficients as co
from ptmcoder.agreement.bootstrap import (
    DEFAULT_RESAMPLES,
    bootstrap_sums,
    finish_all,
    percentile_interval,
)
from ptmcoder.agreement.compute import Coefficient, compute_coefficients, per_code_measure
from ptmcoder.agreement.data import SET_SEPARATOR, RatingMatrix, rating_matrix
from ptmcoder.console import fmt_ci, fmt_number
from ptmcoder.errors import PtmcoderError

PAIR_METRICS = ("percent_agreement", "cohen_kappa", "krippendorff_alpha")
CONSENSUS = "human-consensus"


# -- pairwise ---------------------------------------------------------------------------


def pair_coefficients(
    matrix: RatingMatrix,
    a: str,
    b: str,
    metrics: Sequence[str] = PAIR_METRICS,
    *,
    weights: str | None = None,
    alpha_level: str = "nominal",
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Coefficient]:
    """The coefficients of raters ``a`` and ``b`` over the units both coded."""
    sub = matrix.restrict([a, b], min_ratings=2)
    if sub.n_units == 0:
        return {
            m: Coefficient(m, None, None, None, 0, 2, m, "none", "n/a", co.NO_COMMON_UNITS)
            for m in metrics
        }
    return compute_coefficients(
        sub,
        metrics,
        weights=weights,
        alpha_level=alpha_level,
        n_boot=n_boot,
        seed=seed,
        n_categories=matrix.n_categories,
    )


def pairwise(
    matrix: RatingMatrix,
    metric: str = "cohen_kappa",
    *,
    weights: str | None = None,
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per pair of raters: value, interval, n and reading of ``metric``."""
    rows = []
    for a, b in itertools.combinations(matrix.raters, 2):
        c = pair_coefficients(matrix, a, b, [metric], weights=weights, n_boot=n_boot, seed=seed)[
            metric
        ]
        rows.append(
            {
                "rater_a": a,
                "rater_b": b,
                "metric": metric,
                "value": c.value,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "n": c.n_units,
                "interpretation": c.interpretation,
                "note": c.note,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rater_a",
            "rater_b",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "n",
            "interpretation",
            "note",
        ],
    )


def pairwise_matrix(pairs: pd.DataFrame, raters: Sequence[str]) -> pd.DataFrame:
    """The square raters x raters matrix of a :func:`pairwise` table (diagonal 1)."""
    out = pd.DataFrame(np.nan, index=list(raters), columns=list(raters))
    for r in raters:
        out.loc[r, r] = 1.0
    for row in pairs.itertuples():
        v = np.nan if row.value is None else row.value
        out.loc[row.rater_a, row.rater_b] = v
        out.loc[row.rater_b, row.rater_a] = v
    return out


def render_pairwise(pairs: pd.DataFrame, raters: Sequence[str]) -> list[Table]:
    metric = pairs["metric"].iloc[0] if len(pairs) else "cohen_kappa"
    square = Table(title=f"Pairwise {metric} (units coded by both raters)")
    square.add_column("")
    for r in raters:
        square.add_column(r, justify="right")
    mat = pairwise_matrix(pairs, raters)
    for r in raters:
        square.add_row(r, *[fmt_number(None if pd.isna(v) else float(v)) for v in mat.loc[r]])
    detail = Table(title=f"Pairwise {metric} with 95% CI")
    for col in ("rater a", "rater b", "value", "95% CI", "n", "reading", "note"):
        detail.add_column(col, justify="right" if col in ("value", "n") else "left")
    for row in pairs.itertuples():
        detail.add_row(
            row.rater_a,
            row.rater_b,
            fmt_number(row.value),
            fmt_ci(row.ci_low, row.ci_high),
            str(row.n),
            row.interpretation,
            row.note or "",
        )
    return [square, detail]


# -- annotator vs humans ----------------------------------------------------------------


def human_consensus(
    long_df: pd.DataFrame, humans: Sequence[str], name: str = CONSENSUS
) -> pd.DataFrame:
    """Majority label of the humans per unit (the code set most humans chose,
    needing a unique winner and at least two humans). Units without one are
    counted in ``attrs['no_consensus']``."""
    matrix = rating_matrix(long_df, raters=list(humans))
    codes = matrix.codes
    rows = []
    ties = 0
    for u, unit in enumerate(matrix.units):
        got = codes[u][codes[u] >= 0]
        if got.size < 2:
            continue
        vals, cnt = np.unique(got, return_counts=True)
        top = cnt.max()
        if (cnt == top).sum() > 1:
            ties += 1
            continue
        for code in matrix.categories[int(vals[cnt.argmax()])]:
            rows.append((unit, name, code))
    out = pd.DataFrame(rows, columns=["unit", "rater", "code"]).astype("string")
    out.attrs["no_consensus"] = ties
    return out


def annotator_vs_humans(
    long_df: pd.DataFrame,
    *,
    annotators: list[str],
    humans: list[str],
    gold: str | pd.DataFrame | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_RESAMPLES,
    metrics: Sequence[str] = PAIR_METRICS,
    weights: str | None = None,
) -> pd.DataFrame:
    """Agreement of each annotator with each human and with the human consensus
    (or the adjudicated ``gold`` rater / table), beside every human-human pair.

    One row per pair: ``kind`` (annotator-human, human-human, annotator-consensus
    or annotator-gold), ``rater_a``, ``rater_b``, ``n`` and, per metric, its
    value, ``<metric>_ci_low``, ``<metric>_ci_high``; ``note`` carries stated
    answers for undefined values."""
    if not annotators or not humans:
        raise PtmcoderError("annotator_vs_humans needs at least one annotator and one human")
    df = long_df
    ref = None
    if isinstance(gold, pd.DataFrame):
        g = gold.copy()
        g["rater"] = "gold"
        df = pd.concat(
            [df[["unit", "rater", "code"]], g[["unit", "rater", "code"]]], ignore_index=True
        )
        ref, kind_ref = "gold", "annotator-gold"
    elif isinstance(gold, str):
        ref, kind_ref = gold, "annotator-gold"
    elif len(humans) >= 2:
        cons = human_consensus(df, humans)
        df = pd.concat([df[["unit", "rater", "code"]], cons], ignore_index=True)
        ref, kind_ref = CONSENSUS, "annotator-consensus"
    raters = list(dict.fromkeys([*annotators, *humans] + ([ref] if ref else [])))
    matrix = rating_matrix(df, raters=raters)
    pairs: list[tuple[str, str, str]] = []
    pairs += [("annotator-human", a, h) for a in annotators for h in humans]
    pairs += [("human-human", a, b) for a, b in itertools.combinations(humans, 2)]
    if ref:
        pairs += [(kind_ref, a, ref) for a in annotators]
    rows = []
    for kind, a, b in pairs:
        coefs = pair_coefficients(matrix, a, b, metrics, weights=weights, n_boot=n_boot, seed=seed)
        row: dict[str, object] = {
            "kind": kind,
            "rater_a": a,
            "rater_b": b,
            "n": max(c.n_units for c in coefs.values()),
        }
        notes = []
        for m, c in coefs.items():
            row[m] = c.value
            row[f"{m}_ci_low"] = c.ci_low
            row[f"{m}_ci_high"] = c.ci_high
            if c.note and c.note not in notes:
                notes.append(c.note)
        row["note"] = "; ".join(notes) or None
        rows.append(row)
    out = pd.DataFrame(rows)
    if ref == CONSENSUS:
        out.attrs["no_consensus"] = int(human_consensus(long_df, humans).attrs["no_consensus"])
    return out


def human_ceiling(table: pd.DataFrame, metric: str = "cohen_kappa") -> dict[str, Any]:
    """Mean of ``metric`` over the human-human pairs and over each annotator's pairs
    with the humans, each with the number of pairs it averages (pairs where the
    metric is undefined are left out)."""
    values = pd.to_numeric(table[metric], errors="coerce")

    def mean(rows: pd.Series) -> dict[str, float | int | None]:
        vals = values[rows].dropna()
        return {"mean": float(vals.mean()) if len(vals) else None, "pairs": len(vals)}

    ah = table["kind"] == "annotator-human"
    return {
        "metric": metric,
        "human_human": mean(table["kind"] == "human-human"),
        "annotators": {
            name: mean(ah & (table["rater_a"] == name))
            for name in dict.fromkeys(table.loc[ah, "rater_a"])
        },
    }


def render_vs_humans(table: pd.DataFrame, metrics: Sequence[str] = PAIR_METRICS) -> Table:
    """Annotator-vs-human rows beside human-vs-human rows, so a reader sees at
    once whether the annotator reaches the human ceiling."""
    metrics = [m for m in metrics if m in table.columns]
    caption = None
    if "cohen_kappa" in table.columns:
        ceiling = human_ceiling(table, "cohen_kappa")
        means = {
            "human-human": ceiling["human_human"],
            **{f"{name} vs humans": m for name, m in ceiling["annotators"].items()},
        }
        caption = "mean Cohen's kappa: " + "; ".join(
            f"{label} {fmt_number(m['mean'])} ({m['pairs']} pairs)" for label, m in means.items()
        )
    t = Table(title="Annotator vs humans (95% bootstrap CI)", caption=caption)
    # The pair and its n are never squeezed out: they keep their full width, and each
    # metric cell puts its interval under the value so the metric columns stay narrow.
    for col, key in (("kind", "kind"), ("rater a", "rater_a"), ("rater b", "rater_b"), ("n", "n")):
        width = max([len(col), *(len(str(v)) for v in table[key])])
        t.add_column(col, justify="right" if col == "n" else "left", no_wrap=True, min_width=width)
    for m in metrics:
        t.add_column(m, justify="right", no_wrap=True)
    has_notes = bool(table["note"].fillna("").astype(str).str.len().gt(0).any())
    if has_notes:
        t.add_column("note")
    for _, row in table.iterrows():
        cells = [
            f"{fmt_number(row[m])}\n{fmt_ci(row[f'{m}_ci_low'], row[f'{m}_ci_high'])}"
            for m in metrics
        ]
        notes = [str(row["note"] or "")] if has_notes else []
        t.add_row(
            str(row["kind"]),
            str(row["rater_a"]),
            str(row["rater_b"]),
            str(row["n"]),
            *cells,
            *notes,
        )
    return t


# -- per code ------------------------------------------------------------------------------


def per_code_table(
    matrix: RatingMatrix, *, n_boot: int = DEFAULT_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Binary kappa of every code (present / absent) with its interval, how
    often raters used it, sorted worst first (undefined last)."""
    measure = per_code_measure(matrix)
    boot = bootstrap_sums(measure.parts, n_boot=n_boot, seed=seed) if n_boot > 0 else None
    rows = []
    for i, (code, stat) in enumerate(zip(measure.labels, measure.parts, strict=True)):
        binary = matrix.binary(code)
        used = int((binary == 1).sum())
        try:
            value, note = stat.value(), None
        except co.UndefinedCoefficient as exc:
            value, note = None, exc.message
        low = high = None
        if boot is not None and value is not None:
            iv = percentile_interval(finish_all(stat, boot[i]))
            low, high = iv.low, iv.high
        rows.append(
            {
                "code": code,
                "kappa": value,
                "ci_low": low,
                "ci_high": high,
                "n": stat.n_units,
                "ratings_with_code": used,
                "interpretation": co.landis_koch(value),
                "note": note,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "code",
            "kappa",
            "ci_low",
            "ci_high",
            "n",
            "ratings_with_code",
            "interpretation",
            "note",
        ],
    )
    out["_undef"] = out["kappa"].isna()
    out = out.sort_values(["_undef", "kappa", "code"], na_position="last").drop(columns="_undef")
    out.attrs["method"] = measure.method.split(";")[0]
    return out.reset_index(drop=True)


def render_per_code(table: pd.DataFrame) -> Table:
    t = Table(
        title=f"Per-code agreement, worst first ({table.attrs.get('method', 'binary kappa')})"
    )
    for col in ("code", "kappa", "95% CI", "n", "ratings with code", "reading", "note"):
        t.add_column(col, justify="right" if col in ("kappa", "n", "ratings with code") else "left")
    for row in table.itertuples():
        t.add_row(
            row.code,
            fmt_number(row.kappa),
            fmt_ci(row.ci_low, row.ci_high),
            str(row.n),
            str(row.ratings_with_code),
            row.interpretation,
            row.note or "",
        )
    return t


# -- confusion -----------------------------------------------------------------------------


def confusion_matrix(matrix: RatingMatrix, rater_a: str, rater_b: str) -> pd.DataFrame:
    """Counts of (rater_a's category, rater_b's category) over units both coded;
    rows rater_a, columns rater_b, categories in codebook order."""
    for r in (rater_a, rater_b):
        if r not in matrix.raters:
            raise PtmcoderError(
                f"rater {r!r} is not in the table", hint=f"raters are: {', '.join(matrix.raters)}"
            )
    i, j = matrix.raters.index(rater_a), matrix.raters.index(rater_b)
    both = (matrix.codes[:, i] >= 0) & (matrix.codes[:, j] >= 0)
    k = matrix.n_categories
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (matrix.codes[both, i], matrix.codes[both, j]), 1)
    names = matrix.category_names()
    used = (table.sum(axis=0) + table.sum(axis=1)) > 0
    idx = [n for n, u in zip(names, used, strict=True) if u]
    out = pd.DataFrame(table[np.ix_(used, used)], index=idx, columns=idx)
    out.index.name = rater_a
    out.columns.name = rater_b
    return out


def render_confusion(table: pd.DataFrame) -> Table:
    t = Table(
        title=f"Confusion matrix: rows {table.index.name}, columns {table.columns.name} "
        f"(n = {int(table.to_numpy().sum())})"
    )
    t.add_column("")
    for c in table.columns:
        t.add_column(str(c), justify="right")
    for r, row in table.iterrows():
        t.add_row(str(r), *[str(int(v)) for v in row])
    return t


def render_summary(coefs: dict[str, Coefficient], title: str = "Agreement") -> Table:
    t = Table(title=title)
    width = max((len(n) for n in coefs), default=6)
    t.add_column("metric", min_width=width, no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("95% CI", no_wrap=True)
    for col in ("n units", "raters", "reading", "method", "note"):
        t.add_column(col, justify="right" if col in ("n units", "raters") else "left")
    for name, c in coefs.items():
        t.add_row(
            name,
            fmt_number(c.value),
            fmt_ci(c.ci_low, c.ci_high),
            str(c.n_units),
            str(c.n_raters),
            c.interpretation,
            c.method,
            c.note or "",
        )
    return t


def render_headline(
    sections: Sequence[tuple[str, dict[str, Coefficient]]], title: str = "Agreement"
) -> Table:
    """The headline as one table in sections, each named for the raters it covers
    (``A vs gold``, ``humans' ceiling: ...``, ``pooled: ...``), so no coefficient is
    read without knowing whose agreement it is."""
    t = Table(title=title)
    width = max((len(n) for _, coefs in sections for n in coefs), default=6)
    t.add_column("raters", max_width=24)
    t.add_column("metric", min_width=width, no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("95% CI", no_wrap=True)
    for col in ("n units", "reading", "note"):
        t.add_column(col, justify="right" if col == "n units" else "left")
    for i, (label, coefs) in enumerate(sections):
        if i:
            t.add_section()
        for j, (name, c) in enumerate(coefs.items()):
            t.add_row(
                label if j == 0 else "",
                name,
                fmt_number(c.value),
                fmt_ci(c.ci_low, c.ci_high),
                str(c.n_units),
                c.interpretation,
                c.note or "",
            )
    return t


__all__ = [
    "SET_SEPARATOR",
    "annotator_vs_humans",
    "confusion_matrix",
    "human_ceiling",
    "human_consensus",
    "pairwise",
    "pairwise_matrix",
    "per_code_table",
    "render_confusion",
    "render_headline",
    "render_per_code",
    "render_pairwise",
    "render_summary",
    "render_vs_humans",
]
