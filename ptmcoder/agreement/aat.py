"""The Alternative Annotator Test (alt-test) of Calderon, Reichart and Dror (2025):
can an annotator (an LLM, an embedding model) replace one of the human coders?

Procedure (Calderon et al. 2025, sec. 3, "The Alternative Annotator Test for
LLM-as-a-Judge", ACL 2025, arXiv:2501.10970):

1. Leave one human ``h_j`` out. On each instance ``i`` that ``h_j``, the
   annotator ``f`` and at least one other human coded, the alignment score of
   ``f`` is its mean similarity to the other humans,
   ``S(f, i, j) = mean_{k != j} sim(f(x_i), h_k(x_i))``; likewise
   ``S(h_j, i, j)`` for the left-out human.
2. Advantage indicators ``W^f_ij = 1[S(f) >= S(h_j)]`` and
   ``W^h_ij = 1[S(h_j) >= S(f)]``; advantage probabilities ``rho^f_j`` and
   ``rho^h_j`` are their means.
3. One-sided paired t-test of ``H0: rho^f_j <= rho^h_j - epsilon`` against
   ``H1: rho^f_j > rho^h_j - epsilon`` (``epsilon`` the cost-benefit margin the
   user sets: 0.2 for experts, 0.15 skilled, 0.1 crowd workers, per the paper).
4. Benjamini-Yekutieli correction over the ``m`` humans at level ``alpha``;
   the winning rate ``omega`` is the share of rejected nulls. The annotator
   passes when ``omega >= 0.5``. The average advantage probability
   ``rho = mean_j rho^f_j`` compares annotators.

``sim`` is exact agreement (the paper's accuracy) or, for code sets, Jaccard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from ptmcoder.agreement.data import rating_matrix
from ptmcoder.errors import PtmcoderError

SIMILARITIES = ("exact", "jaccard")
MIN_INSTANCES = 30


@dataclass
class HumanComparison:
    human: str
    n: int
    rho_annotator: float
    rho_human: float
    t: float | None
    p_value: float
    p_adjusted: float
    annotator_wins: bool
    note: str | None = None


@dataclass
class AltTestResult:
    annotator: str
    humans: list[str]
    epsilon: float
    alpha: float
    similarity: str
    comparisons: list[HumanComparison]
    winning_rate: float | None
    advantage_probability: float | None
    passed: bool
    verdict: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        return out


def _similarity(categories: list[tuple[str, ...]], kind: str) -> np.ndarray:
    k = len(categories)
    if kind == "exact":
        return np.eye(k)
    sets = [set(c) for c in categories]
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            union = len(sets[i] | sets[j])
            out[i, j] = len(sets[i] & sets[j]) / union if union else 1.0
    return out


def _one_sided_p(d: np.ndarray, epsilon: float) -> tuple[float | None, float, str | None]:
    """p-value of H0: mean(d) >= epsilon vs H1: mean(d) < epsilon."""
    if d.size < 2:
        return None, 1.0, "fewer than two instances: no test (counted as not rejected)"
    if np.allclose(d, d[0]):
        p = 0.0 if d[0] < epsilon else 1.0
        return None, p, "no variance in the advantage differences: p is 0 or 1 by the sign"
    from scipy import stats  # imported here: scipy.stats costs seconds at start-up

    res = stats.ttest_1samp(d, popmean=epsilon, alternative="less")
    return float(res.statistic), float(res.pvalue), None


def alt_test(
    long_df: pd.DataFrame,
    *,
    annotator: str,
    humans: list[str],
    epsilon: float = 0.2,
    alpha: float = 0.05,
    similarity: str = "exact",
) -> AltTestResult:
    """Run the alt-test of ``annotator`` against ``humans`` (see module docstring)."""
    if similarity not in SIMILARITIES:
        raise PtmcoderError(
            f"unknown similarity {similarity!r}", hint=f"use {' or '.join(SIMILARITIES)}"
        )
    if not 0 <= epsilon < 1:
        raise PtmcoderError(f"epsilon must be in [0, 1), got {epsilon}")
    if len(humans) < 2:
        raise PtmcoderError(
            f"the alt-test needs at least two human coders, got {len(humans)}",
            hint="Calderon et al. recommend three or more",
        )
    if annotator in humans:
        raise PtmcoderError(f"{annotator!r} is listed both as annotator and as human")
    matrix = rating_matrix(long_df, raters=[annotator, *humans])
    sim = _similarity(matrix.categories, similarity)
    codes = matrix.codes
    f = codes[:, 0]
    h = codes[:, 1:]
    notes: list[str] = []
    if len(humans) < 3:
        notes.append(
            "only two humans: the test compares the annotator with one other human at a time "
            "(Calderon et al. recommend at least three)"
        )
    comparisons: list[HumanComparison] = []
    for j, name in enumerate(humans):
        others = np.delete(h, j, axis=1)
        hj = h[:, j]
        other_rated = others >= 0
        n_other = other_rated.sum(axis=1)
        rows = (f >= 0) & (hj >= 0) & (n_other >= 1)
        if not rows.any():
            comparisons.append(
                HumanComparison(
                    name,
                    0,
                    float("nan"),
                    float("nan"),
                    None,
                    1.0,
                    1.0,
                    False,
                    "no instance coded by the annotator, this human and another human",
                )
            )
            continue
        o = others[rows]
        mask = o >= 0
        o_idx = np.where(mask, o, 0)
        s_f = (sim[f[rows][:, None], o_idx] * mask).sum(axis=1) / mask.sum(axis=1)
        s_h = (sim[hj[rows][:, None], o_idx] * mask).sum(axis=1) / mask.sum(axis=1)
        w_f = (s_f >= s_h).astype(float)
        w_h = (s_h >= s_f).astype(float)
        t, p, note = _one_sided_p(w_h - w_f, epsilon)
        n = int(rows.sum())
        if n < MIN_INSTANCES:
            extra = (
                f"only {n} instances (< {MIN_INSTANCES}): "
                "the t-test's normality assumption is doubtful"
            )
            note = f"{note}; {extra}" if note else extra
        comparisons.append(
            HumanComparison(name, n, float(w_f.mean()), float(w_h.mean()), t, p, p, False, note)
        )
    pvals = np.array([c.p_value for c in comparisons])
    from scipy import stats

    adjusted = stats.false_discovery_control(pvals, method="by") if len(pvals) else pvals
    for c, padj in zip(comparisons, adjusted, strict=True):
        c.p_adjusted = float(padj)
        c.annotator_wins = bool(padj <= alpha) and c.n > 0
    tested = [c for c in comparisons if c.n > 0]
    omega = float(np.mean([c.annotator_wins for c in comparisons])) if comparisons else None
    rho = float(np.mean([c.rho_annotator for c in tested])) if tested else None
    passed = omega is not None and omega >= 0.5
    wins = sum(c.annotator_wins for c in comparisons)
    verdict = (
        f"{'passes' if passed else 'fails'}: {annotator} wins against {wins} of {len(comparisons)} "
        f"humans (winning rate {omega:.2f} {'>=' if passed else '<'} 0.5, epsilon = {epsilon}, "
        f"Benjamini-Yekutieli q = {alpha})"
    )
    return AltTestResult(
        annotator,
        list(humans),
        epsilon,
        alpha,
        similarity,
        comparisons,
        omega,
        rho,
        passed,
        verdict,
        notes,
    )


def render_alt_test(result: AltTestResult) -> Table:
    rho = result.advantage_probability
    t = Table(
        title=f"Alternative Annotator Test: {result.annotator} (epsilon = {result.epsilon})",
        caption=f"{result.verdict}; average advantage probability rho = "
        f"{'n/a' if rho is None else f'{rho:.3f}'}",
    )
    for col in (
        "left-out human",
        "n",
        "rho annotator",
        "rho human",
        "t",
        "p",
        "p (BY)",
        "annotator wins",
        "note",
    ):
        t.add_column(col, justify="left" if col in ("left-out human", "note") else "right")
    for c in result.comparisons:
        t.add_row(
            c.human,
            str(c.n),
            f"{c.rho_annotator:.3f}",
            f"{c.rho_human:.3f}",
            "n/a" if c.t is None else f"{c.t:.3f}",
            f"{c.p_value:.4g}",
            f"{c.p_adjusted:.4g}",
            "yes" if c.annotator_wins else "no",
            c.note or "",
        )
    return t
