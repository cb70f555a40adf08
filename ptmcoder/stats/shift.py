"""Do two raters' code distributions differ? The test depends on the design.

**Paired: the same units coded by both raters** (two raters of one run, a rater
against the gold labels, two runs on one sample). Each unit contributes one
pair of codings, so the two distributions are not independent samples and a
chi-square test of homogeneity on the 2 x K table of counts is the wrong test
(it ignores the pairing; on the demo's few-shot rater against the gold it gave
40.73 where the marginal-homogeneity statistic is 59.98). Instead:

- **Stuart-Maxwell** test of marginal homogeneity (Stuart 1955, Biometrika
  42(3/4); Maxwell 1970, Br. J. Psychiatry 116) on the K x K table of rater A's
  code (rows) by rater B's code (columns) over the shared units that carry
  exactly one code from each rater, with **Bhapkar**'s (1966, JASA 61(313))
  asymptotically equivalent Wald version beside it; both are statsmodels'
  :meth:`statsmodels.stats.contingency_tables.SquareTable.homogeneity`,
  chi-square with K - 1 df. Codes neither rater used are left out of the table
  (their row and column are empty and the covariance matrix would be singular).
  Units where a rater gave several codes (or none) do not fit a K x K table:
  they are counted in ``excluded_units`` and covered by the per-code tests.
- **McNemar per code** (McNemar 1947, Psychometrika 12(2)) on every shared unit:
  code present or absent under A and under B, the 2 x 2 table of the pairs
  (statsmodels :func:`statsmodels.stats.contingency_tables.mcnemar`): the exact
  binomial test when the discordant pairs ``b + c`` are fewer than 25 (as
  statsmodels advises), else the chi-square with continuity correction, and a
  Holm adjustment over the codes (``statsmodels.stats.multitest.multipletests``).
  Effect sizes (Agresti 2013, *Categorical Data Analysis*, 3rd ed., sec. 11.1):
  the difference of the paired proportions ``d = (b - c) / n`` with its Wald CI
  ``d +- z sqrt((b + c) - (b - c)^2 / n) / n`` (eq. 11.2/11.3), and the
  conditional odds ratio of the discordant pairs ``b / c`` with the CI
  ``exp(log(b / c) +- z sqrt(1 / b + 1 / c))`` (undefined when ``b`` or ``c``
  is 0). Here ``b`` = units with the code from A only, ``c`` = from B only.

**Independent: two samples of different units** (two runs on disjoint samples).
Pearson's chi-square test of homogeneity on the 2 x K table of code assignments
(:func:`scipy.stats.chi2_contingency`), with :func:`cramers_v_ci` as the effect
size. When an expected count is under 5 the asymptotic p-value is unreliable
(Cochran 1954, Biometrics 10(4)): the result warns and adds a Monte-Carlo
p-value from tables with the same margins (:func:`monte_carlo_chi2`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ptmcoder.agreement.bootstrap import check_resamples
from ptmcoder.errors import PtmcoderError

#: below this many discordant pairs McNemar's test is the exact binomial test
EXACT_BELOW = 25
#: Cochran's rule: expected counts under this make the chi-square approximation doubtful
MIN_EXPECTED = 5.0

PAIRED_TEST = "Stuart-Maxwell test of marginal homogeneity (statsmodels SquareTable)"
INDEPENDENT_TEST = "Pearson chi-square test of homogeneity (scipy.stats.chi2_contingency)"


def indicators(codes: dict[str, list[str]], units: list[str], labels: list[str]) -> np.ndarray:
    """0/1 matrix unit x label of the codes of ``units`` (a unit without codes: a zero row)."""
    pos = {c: j for j, c in enumerate(labels)}
    x = np.zeros((len(units), len(labels)), dtype=float)
    for i, u in enumerate(units):
        for c in codes.get(u, []):
            x[i, pos[c]] = 1.0
    return x


# -- paired --------------------------------------------------------------------------


def paired_table(
    codes_a: dict[str, list[str]], codes_b: dict[str, list[str]], units: list[str]
) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """The K x K table (A's code in rows, B's in columns) of the ``units`` to which
    each rater gave exactly one code, the codes in it (sorted, only those used), and
    how many units were left out because a rater gave several codes or none."""
    single, multi, none = [], 0, 0
    for u in units:
        sa, sb = set(codes_a.get(u, [])), set(codes_b.get(u, []))
        if not sa or not sb:
            none += 1
        elif len(sa) > 1 or len(sb) > 1:
            multi += 1
        else:
            single.append((next(iter(sa)), next(iter(sb))))
    labels = sorted({c for pair in single for c in pair})
    pos = {c: j for j, c in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for ca, cb in single:
        table[pos[ca], pos[cb]] += 1
    return labels, table, {"multi_label": multi, "uncoded": none}


def marginal_homogeneity(table: np.ndarray) -> dict[str, Any]:
    """Stuart-Maxwell and Bhapkar tests of marginal homogeneity of a K x K table of
    paired codings (statsmodels ``SquareTable.homogeneity``): statistic, df, p, n.

    >>> r = marginal_homogeneity(np.array([[20, 5], [15, 10]]))
    >>> round(r["stuart_maxwell"]["statistic"], 6), r["stuart_maxwell"]["df"]  # (5-15)^2/20
    (5.0, 1)
    """
    from statsmodels.stats.contingency_tables import SquareTable

    t = np.asarray(table)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise PtmcoderError(f"marginal homogeneity needs a square table, got shape {t.shape}")
    if (t < 0).any():
        raise PtmcoderError("a table of paired codings cannot hold negative counts")
    n = int(t.sum())
    out: dict[str, Any] = {"n": n, "k": int(t.shape[0])}
    for name in ("stuart_maxwell", "bhapkar"):
        out[name] = {"statistic": None, "df": None, "p_value": None}
    if t.shape[0] < 2 or n == 0:
        out["note"] = "fewer than two codes used: the test is undefined"
        return out
    off = t - np.diag(np.diag(t))
    discordant = (off.sum(axis=0) + off.sum(axis=1)) > 0
    if not discordant.any():
        out["note"] = "the raters agree on every unit: the statistic is 0"
        for name in ("stuart_maxwell", "bhapkar"):
            out[name] = {"statistic": 0.0, "df": int(t.shape[0] - 1), "p_value": 1.0}
        return out
    if not discordant.all():
        # a code on which the raters never disagree has equal margins by construction
        # and a zero row in the covariance matrix: it is left out, one df less each
        out["note"] = (
            f"{int((~discordant).sum())} codes without discordant pairs are left out "
            "of the statistic (equal margins, singular covariance)"
        )
        t = t[discordant][:, discordant]
    square = SquareTable(t.astype(float), shift_zeros=False)
    for name in ("stuart_maxwell", "bhapkar"):
        with warnings.catch_warnings():  # singular covariance: reported in ``note``
            warnings.simplefilter("ignore")
            r = square.homogeneity(name)
        stat = float(r.statistic)
        if not math.isfinite(stat):
            out["note"] = "the covariance of the margins is singular: the test is undefined"
            continue
        out[name] = {"statistic": stat, "df": int(r.df), "p_value": float(r.pvalue)}
    return out


def mcnemar_code(
    a: np.ndarray, b: np.ndarray, *, level: float = 0.95, code: str = ""
) -> dict[str, Any]:
    """McNemar's test of one code (0/1 per unit under rater A and rater B) with the
    difference of paired proportions and the discordant-pairs odds ratio, each with
    its CI (see the module docstring for the formulas and their source).

    >>> r = mcnemar_code(np.array([1] * 10 + [0] * 10), np.array([1] * 4 + [0] * 16))
    >>> r["a_only"], r["b_only"], r["exact"], round(r["p_value"], 4)
    (6, 0, True, 0.0312)
    """
    from scipy.stats import norm
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise PtmcoderError("McNemar's test needs two 0/1 vectors over the same units")
    n = int(a.size)
    both, a_only = int((a & b).sum()), int((a & ~b).sum())
    b_only, neither = int((~a & b).sum()), int((~a & ~b).sum())
    disc = a_only + b_only
    z = float(norm.ppf(0.5 + level / 2))
    row: dict[str, Any] = {
        "code": code,
        "n": n,
        "both": both,
        "a_only": a_only,
        "b_only": b_only,
        "neither": neither,
        "share_a": (both + a_only) / n if n else None,
        "share_b": (both + b_only) / n if n else None,
        "exact": disc < EXACT_BELOW,
        "test": None,
        "statistic": None,
        "df": None,
        "p_value": None,
        "difference": None,
        "difference_ci_low": None,
        "difference_ci_high": None,
        "odds_ratio": None,
        "odds_ratio_ci_low": None,
        "odds_ratio_ci_high": None,
    }
    if n == 0:
        return row
    d = (a_only - b_only) / n
    se = math.sqrt(max(disc - (a_only - b_only) ** 2 / n, 0.0)) / n
    row.update(
        difference=d,
        difference_ci_low=max(-1.0, d - z * se),
        difference_ci_high=min(1.0, d + z * se),
    )
    if a_only and b_only:
        ratio = a_only / b_only
        half = z * math.sqrt(1 / a_only + 1 / b_only)
        row.update(
            odds_ratio=ratio,
            odds_ratio_ci_low=math.exp(math.log(ratio) - half),
            odds_ratio_ci_high=math.exp(math.log(ratio) + half),
        )
    if disc == 0:
        row.update(test="McNemar: no discordant pairs", p_value=1.0)
        return row
    exact = disc < EXACT_BELOW
    r = mcnemar(np.array([[both, a_only], [b_only, neither]]), exact=exact, correction=True)
    row.update(
        test="McNemar exact (binomial)" if exact else "McNemar chi-square (continuity corrected)",
        statistic=float(r.statistic),
        df=None if exact else 1,
        p_value=float(r.pvalue),
    )
    return row


def mcnemar_per_code(
    codes_a: dict[str, list[str]],
    codes_b: dict[str, list[str]],
    units: list[str],
    *,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """:func:`mcnemar_code` for every code either rater used on ``units`` (multi-label
    units included: a code is present or absent), with Holm-adjusted p-values."""
    from statsmodels.stats.multitest import multipletests

    labels = sorted({c for d in (codes_a, codes_b) for u in units for c in d.get(u, [])})
    xa, xb = indicators(codes_a, units, labels), indicators(codes_b, units, labels)
    rows = [mcnemar_code(xa[:, j], xb[:, j], level=level, code=c) for j, c in enumerate(labels)]
    ps = [r["p_value"] for r in rows]
    if rows:
        holm = multipletests(ps, method="holm")[1]
        for r, p in zip(rows, holm, strict=True):
            r["p_holm"] = float(p)
    return rows


# -- independent -------------------------------------------------------------------


def cramers_v_ci(chi2: float, n: int, shape: tuple[int, int], *, level: float = 0.95):
    """Cramér's V adjusted for its bias, with a CI from the noncentral chi-square.

    Plain V, ``sqrt(chi2 / (n k))`` with ``k = min(r, c) - 1`` (Cramér 1946), is
    biased upward: under no association chi2 still averages its df. A percentile
    bootstrap of plain V adds that bias a second time (each resample's chi2 again
    counts its noise as association), so in sparse tables the whole interval lies
    above the estimate: that is how a V of 0.655 came with a CI of [0.659, 0.814].
    Here the noncentrality ``lambda = chi2 - df`` is estimated (floored at 0) and
    its CI found by inverting the noncentral chi-square distribution (Smithson 2003,
    *Confidence Intervals*, Sage, ch. 4; Steiger & Fouladi 1997), each converted to
    ``V = sqrt(lambda / (n k))``. The interval contains the estimate because the
    noncentral chi-square with noncentrality ``chi2 - df`` has its mean at ``chi2``.
    Returns ``(v, low, high, v_plain)``.

    >>> v, lo, hi, plain = cramers_v_ci(40.0, 200, (2, 4))
    >>> round(v, 3), round(plain, 3), lo <= v <= hi
    (0.43, 0.447, True)
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2 as chi2_dist
    from scipy.stats import ncx2

    k = min(shape) - 1
    df = (shape[0] - 1) * (shape[1] - 1)
    if n <= 0 or k <= 0:
        nan = float("nan")
        return nan, nan, nan, nan
    chi2 = float(chi2)
    alpha = 1 - level

    def cdf(lam: float) -> float:
        return float(chi2_dist.cdf(chi2, df)) if lam <= 0 else float(ncx2.cdf(chi2, df, lam))

    def solve(target: float) -> float:
        # cdf(lambda) falls from cdf(0) towards 0 as lambda grows
        if cdf(0.0) <= target:
            return 0.0
        hi = max(chi2, 1.0)
        while cdf(hi) > target:
            hi *= 2
        return float(brentq(lambda lam: cdf(lam) - target, 0.0, hi, xtol=1e-10))

    lam = max(chi2 - df, 0.0)
    lo, hi = solve(1 - alpha / 2), solve(alpha / 2)

    def v(x: float) -> float:
        return math.sqrt(x / (n * k))

    return v(lam), v(lo), v(hi), v(chi2)


def monte_carlo_chi2(table: np.ndarray, *, n_resamples: int = 9999, seed: int = 0) -> float:
    """Monte-Carlo p-value of Pearson's chi-square for an r x c table: the share of
    ``n_resamples`` tables with the same margins (``scipy.stats.random_table``,
    Patefield 1981) whose chi-square is at least the observed one, counted as
    ``(hits + 1) / (n_resamples + 1)`` (Davison & Hinkley 1997, eq. 4.11)."""
    from scipy.stats import random_table

    t = np.asarray(table, dtype=np.int64)
    rows, cols = t.sum(axis=1), t.sum(axis=0)
    keep_r, keep_c = rows > 0, cols > 0
    t, rows, cols = t[keep_r][:, keep_c], rows[keep_r], cols[keep_c]
    n = t.sum()
    expected = np.outer(rows, cols) / n

    def stat(x: np.ndarray) -> np.ndarray:
        return (((x - expected) ** 2) / expected).sum(axis=(-2, -1))

    observed = float(stat(t))
    sims = random_table(rows, cols, seed=seed).rvs(n_resamples)
    hits = int((stat(sims) >= observed - 1e-9 * max(observed, 1.0)).sum())
    return (hits + 1) / (n_resamples + 1)


def independent_chi2(
    table: np.ndarray, *, level: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> dict[str, Any]:
    """Chi-square test of homogeneity of an r x c table of independent counts, with
    Cramér's V (:func:`cramers_v_ci`), the smallest expected count, and, when that is
    under 5, a warning and a Monte-Carlo p-value (:func:`monte_carlo_chi2`)."""
    from scipy.stats import chi2_contingency

    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    out: dict[str, Any] = {
        "test": INDEPENDENT_TEST,
        "statistic": None,
        "df": None,
        "p_value": None,
        "n": int(t.sum()),
        "min_expected": None,
        "p_value_monte_carlo": None,
        "monte_carlo_resamples": None,
        "cramers_v": None,
        "cramers_v_plain": None,
        "ci_low": None,
        "ci_high": None,
        "warnings": [],
    }
    if t.ndim != 2 or min(t.shape) < 2:
        out["note"] = "fewer than two codes or an empty side: the test is undefined"
        return out
    chi2, p, dof, expected = chi2_contingency(t, correction=False)
    v, lo, hi, plain = cramers_v_ci(chi2, int(t.sum()), t.shape, level=level)
    out.update(
        statistic=float(chi2),
        df=int(dof),
        p_value=float(p),
        min_expected=float(expected.min()),
        cramers_v=v,
        cramers_v_plain=plain,
        ci_low=lo,
        ci_high=hi,
    )
    small = int((expected < MIN_EXPECTED).sum())
    if small:
        out["warnings"].append(
            f"{small} of {expected.size} expected counts are under {MIN_EXPECTED:g} "
            f"(smallest {expected.min():.2f}): the chi-square p-value is unreliable; "
            f"the Monte-Carlo p-value ({n_resamples} tables with the same margins) is the one "
            "to read"
        )
        out["p_value_monte_carlo"] = monte_carlo_chi2(t, n_resamples=n_resamples, seed=seed)
        out["monte_carlo_resamples"] = n_resamples
    return out


# -- the comparison of two raters ----------------------------------------------------


def distribution_shift(
    codes_a: dict[str, list[str]],
    codes_b: dict[str, list[str]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Compare two raters' code distributions with the test their design calls for:
    on the units both coded, Stuart-Maxwell (and Bhapkar) with McNemar per code
    (paired); when they share no unit, the chi-square test of homogeneity
    (independent). ``n_boot`` sets the Monte-Carlo resamples of an independent test
    with small expected counts (at least 999); ``seed`` its generator.

    Keys common to both designs: ``design``, ``test``, ``statistic``, ``df``,
    ``p_value``, ``n`` (units the statistic covers), ``codes``, ``counts_a``,
    ``counts_b`` (code assignments of each side, all its units), ``warnings``.
    """
    n_boot = check_resamples(n_boot)
    units_a, units_b = sorted(codes_a), sorted(codes_b)
    shared = sorted(set(codes_a) & set(codes_b))
    labels = sorted({c for cs in (*codes_a.values(), *codes_b.values()) for c in cs})
    counts_a = indicators(codes_a, units_a, labels).sum(axis=0)
    counts_b = indicators(codes_b, units_b, labels).sum(axis=0)
    multi_a = sum(len(set(v)) > 1 for v in codes_a.values())
    multi_b = sum(len(set(v)) > 1 for v in codes_b.values())
    out: dict[str, Any] = {
        "n_a": len(units_a),
        "n_b": len(units_b),
        "shared_units": len(shared),
        "codes": labels,
        "counts_a": [int(v) for v in counts_a],
        "counts_b": [int(v) for v in counts_b],
        "multi_label_units_a": multi_a,
        "multi_label_units_b": multi_b,
        "warnings": [],
        "seed": seed,
        # keys of one design only, present (None) in the other so readers need no guards
        "bhapkar": None,
        "table_codes": None,
        "table": None,
        "excluded_units": None,
        "mcnemar": [],
        "min_expected": None,
        "p_value_monte_carlo": None,
        "monte_carlo_resamples": None,
        "cramers_v": None,
        "cramers_v_plain": None,
        "ci_low": None,
        "ci_high": None,
    }
    if shared:
        k_labels, table, excluded = paired_table(codes_a, codes_b, shared)
        mh = marginal_homogeneity(table)
        sm, bh = mh["stuart_maxwell"], mh["bhapkar"]
        per_code = mcnemar_per_code(codes_a, codes_b, shared, level=level)
        largest = max(
            (r for r in per_code if r["difference"] is not None),
            key=lambda r: abs(r["difference"]),
            default=None,
        )
        out.update(
            design="paired",
            test=PAIRED_TEST,
            statistic=sm["statistic"],
            df=sm["df"],
            p_value=sm["p_value"],
            n=mh["n"],
            bhapkar=bh,
            table_codes=k_labels,
            table=table.tolist(),
            excluded_units={
                **excluded,
                "only_in_a": len(units_a) - len(shared),
                "only_in_b": len(units_b) - len(shared),
            },
            mcnemar=per_code,
            effect_size="largest difference in the share of units with a code (A - B)",
            effect=(
                {
                    "code": largest["code"],
                    "value": largest["difference"],
                    "ci_low": largest["difference_ci_low"],
                    "ci_high": largest["difference_ci_high"],
                    "n": largest["n"],
                }
                if largest
                else None
            ),
        )
        if mh.get("note"):
            out["note"] = mh["note"]
        if excluded["multi_label"] or excluded["uncoded"]:
            out["warnings"].append(
                f"{excluded['multi_label']} shared units with several codes and "
                f"{excluded['uncoded']} without a code from one rater are not in the "
                f"K x K table (n = {mh['n']}); McNemar per code covers all "
                f"{len(shared)} shared units"
            )
        return out
    table2 = np.vstack([counts_a, counts_b])
    ind = independent_chi2(table2, level=level, n_resamples=max(n_boot, 999), seed=seed)
    out.update(
        design="independent",
        **{k: v for k, v in ind.items() if k != "warnings"},
        effect_size="Cramér's V, bias-adjusted (noncentral chi-square CI)",
        effect=(
            {"value": ind["cramers_v"], "ci_low": ind["ci_low"], "ci_high": ind["ci_high"]}
            if ind["cramers_v"] is not None
            else None
        ),
    )
    out["warnings"] += ind["warnings"]
    if multi_a or multi_b:
        out["warnings"].append(
            f"units with several codes (A: {multi_a}, B: {multi_b}) make the code "
            "assignments dependent; the chi-square treats each assignment as independent"
        )
    return out
