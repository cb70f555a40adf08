"""The shift between two code distributions: a chi-square test of homogeneity on the
2 x K table of code assignments (``scipy.stats.chi2_contingency``) with Cramér's V
(Cramér 1946) and a percentile bootstrap CI over units (each side's units resampled).
Used by ``ptmcoder compare`` and the pipeline's comparison of raters.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def indicators(codes: dict[str, list[str]], units: list[str], labels: list[str]) -> np.ndarray:
    """0/1 matrix unit x label of the codes of ``units`` (a unit without codes: a zero row)."""
    pos = {c: j for j, c in enumerate(labels)}
    x = np.zeros((len(units), len(labels)), dtype=float)
    for i, u in enumerate(units):
        for c in codes.get(u, []):
            x[i, pos[c]] = 1.0
    return x


def _chi2_v(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square of homogeneity and Cramér's V of 2 x K tables (last two axes), vectorised."""
    total = table.sum(axis=(-2, -1), keepdims=True)
    rows = table.sum(axis=-1, keepdims=True)
    cols = table.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = rows * cols / total
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    chi2 = terms.sum(axis=(-2, -1))
    k = (cols > 0).sum(axis=(-2, -1)) - 1
    k = np.minimum(k, 1)
    n = total[..., 0, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.sqrt(chi2 / (n * k))
    return chi2, v


def distribution_shift(
    codes_a: dict[str, list[str]],
    codes_b: dict[str, list[str]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Chi-square test of homogeneity of two code distributions (code assignments) with
    Cramér's V and its percentile bootstrap CI (units of each side resampled)."""
    from scipy.stats import chi2_contingency

    labels = sorted({c for cs in (*codes_a.values(), *codes_b.values()) for c in cs})
    units_a, units_b = sorted(codes_a), sorted(codes_b)
    xa = indicators(codes_a, units_a, labels)
    xb = indicators(codes_b, units_b, labels)
    table = np.vstack([xa.sum(axis=0), xb.sum(axis=0)])
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    out: dict[str, Any] = {
        "test": "chi-square test of homogeneity (scipy.stats.chi2_contingency)",
        "effect_size": "Cramér's V",
        "n_a": len(units_a),
        "n_b": len(units_b),
        "assignments_a": int(table[0].sum()) if table.size else 0,
        "assignments_b": int(table[1].sum()) if table.size else 0,
        "codes": [c for c, k in zip(labels, keep, strict=True) if k],
        "counts_a": [int(v) for v in table[0]] if table.size else [],
        "counts_b": [int(v) for v in table[1]] if table.size else [],
        "chi2": None,
        "dof": None,
        "p_value": None,
        "cramers_v": None,
        "ci_low": None,
        "ci_high": None,
        "bootstrap": n_boot,
        "seed": seed,
    }
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        out["note"] = "fewer than two codes or an empty side: the test is undefined"
        return out
    chi2, p, dof, _ = chi2_contingency(table, correction=False)
    from ptmcoder.stats.effect_sizes import cramers_v

    out.update(
        {
            "chi2": float(chi2),
            "dof": int(dof),
            "p_value": float(p),
            "cramers_v": cramers_v(chi2, int(table.sum()), table.shape),
        }
    )
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        wa = rng.multinomial(len(units_a), np.full(len(units_a), 1 / len(units_a)), size=n_boot)
        wb = rng.multinomial(len(units_b), np.full(len(units_b), 1 / len(units_b)), size=n_boot)
        boot = np.stack([wa @ xa[:, keep], wb @ xb[:, keep]], axis=1)
        _, v = _chi2_v(boot)
        v = v[np.isfinite(v)]
        if v.size:
            alpha = (1 - level) / 2
            out["ci_low"] = float(np.quantile(v, alpha))
            out["ci_high"] = float(np.quantile(v, 1 - alpha))
    return out
