"""Agreement coefficients as small pure functions: arrays in, a float out.

Every coefficient here is a function of *sums over units* of a few per-unit
quantities. Each one is therefore written in two parts: a builder that returns
a :class:`Statistic` (one row of per-unit columns per unit, and a ``finish``
function of their column sums), and a public function that finishes the plain
sums. The bootstrap (:mod:`ptmcoder.agreement.bootstrap`) finishes resampled
sums with the same ``finish``, so point estimate and interval always use the
same formula.

Inputs use two shapes:

* ``counts``: a units x categories array, ``counts[u, c]`` = how many raters
  put unit ``u`` in category ``c`` (Fleiss 1971's "n_ij"; Krippendorff 2011's
  "n_uc"; Gwet 2014's "r_ik"). Units with fewer than two ratings carry no
  information on agreement and are ignored where the formula says so.
* two integer vectors ``a`` and ``b`` of category indices ``0..K-1`` for the
  units both raters coded (Cohen 1960; Scott 1955).

A coefficient that the data leave undefined (all ratings in one category, no
unit with two ratings) raises :class:`UndefinedCoefficient` with the reason;
callers turn it into a stated answer, never NaN.

References
----------
- Cohen, J. (1960). A coefficient of agreement for nominal scales. EPM 20(1).
- Cohen, J. (1968). Weighted kappa. Psychological Bulletin 70(4).
- Scott, W. A. (1955). Reliability of content analysis. POQ 19(3).
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
  Psychological Bulletin 76(5), 378-382.
- Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
  Annenberg School for Communication, University of Pennsylvania.
- Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the
  presence of high agreement. BJMSP 61(1), 29-48; Gwet, K. L. (2014).
  Handbook of Inter-Rater Reliability, 4th ed., ch. 2-4.
- Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for
  semantic and pragmatic annotation. LREC 2006.
- Landis, J. R., Koch, G. G. (1977). The measurement of observer agreement for
  categorical data. Biometrics 33(1), 159-174.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ptmcoder.errors import PtmcoderError

ALL_ONE_CATEGORY = "undefined: all ratings are one category (expected agreement = 1)"
NO_PAIRABLE_UNITS = "undefined: no unit was coded by two or more raters"
NO_COMMON_UNITS = "undefined: the two raters coded no unit in common"
ONE_CATEGORY_IN_USE = "undefined: only one category is in use (AC1 needs at least two)"

WEIGHTS = ("none", "linear", "quadratic")
ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")


class UndefinedCoefficient(PtmcoderError):
    """The data leave a coefficient undefined; the message says why."""


# -- the shared representation -------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """A coefficient written as ``finish(column sums of stats)``.

    ``stats`` has one row per unit (rows of zeros for units the coefficient
    ignores); ``finish`` maps a (B, m) array of sums to B values, NaN where the
    coefficient is undefined; ``reason`` explains a NaN for one row of sums.
    """

    stats: np.ndarray
    finish: Callable[[np.ndarray], np.ndarray]
    reason: Callable[[np.ndarray], str]
    n_units: int

    def sums(self) -> np.ndarray:
        return self.stats.sum(axis=0, keepdims=True)

    def value(self) -> float:
        """The point estimate; raises :class:`UndefinedCoefficient` with the reason."""
        sums = self.sums()
        with np.errstate(divide="ignore", invalid="ignore"):
            out = float(self.finish(sums)[0])
        if not np.isfinite(out):
            raise UndefinedCoefficient(self.reason(sums[0]))
        return out


def _check_counts(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D units x categories array, got {counts.ndim}-D")
    if counts.size and (counts < 0).any():
        raise ValueError("counts must be non-negative")
    if counts.size and not np.all(np.equal(np.mod(counts, 1), 0)):
        raise ValueError("counts must be whole numbers (raters per unit and category)")
    return counts.astype(np.float64, copy=False)


def _check_pair(
    a: Sequence[int], b: Sequence[int], n_categories: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.asarray(a)
    y = np.asarray(b)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError("a and b must be 1-D arrays of category indices")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if x.size and (min(x.min(), y.min()) < 0):
        raise ValueError("category indices must be >= 0 (drop missing ratings first)")
    k = int(max(x.max(initial=-1), y.max(initial=-1)) + 1)
    if n_categories is None:
        n_categories = k
    elif n_categories < k:
        raise ValueError(f"n_categories={n_categories} but an index {k - 1} occurs")
    return x.astype(np.int64), y.astype(np.int64), max(int(n_categories), 1)


# -- percent agreement -----------------------------------------------------------


def percent_agreement_statistic(counts: np.ndarray) -> Statistic:
    """Mean over units with two or more ratings of the share of agreeing rater
    pairs: ``p_a = (1/n') sum_i sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``
    (Gwet 2014, eq. 2.5; Fleiss 1971's ``P_i`` averaged)."""
    counts = _check_counts(counts)
    r = counts.sum(axis=1)
    pairable = r >= 2
    stats = np.zeros((counts.shape[0], 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        agree = (counts * (counts - 1)).sum(axis=1) / (r * (r - 1))
    stats[pairable, 0] = 1.0
    stats[pairable, 1] = agree[pairable]

    def finish(s: np.ndarray) -> np.ndarray:
        return s[:, 1] / s[:, 0]

    return Statistic(stats, finish, lambda s: NO_PAIRABLE_UNITS, int(pairable.sum()))


def percent_agreement(counts: np.ndarray) -> float:
    """Observed agreement over units with at least two ratings.

    >>> percent_agreement([[2, 0], [1, 1], [0, 2]])
    0.6666666666666666
    """
    return percent_agreement_statistic(counts).value()


# -- Fleiss' kappa and Gwet's AC1 (multi-rater, missing ratings allowed) -------------


def _pa_pi_stats(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-unit columns shared by Fleiss' kappa and AC1 (Gwet 2014, ch. 2 and 4):
    [unit has >= 2 ratings, its agreement p_a,i, unit has >= 1 rating, r_ik / r_i...]."""
    counts = _check_counts(counts)
    u, k = counts.shape
    r = counts.sum(axis=1)
    pairable = r >= 2
    rated = r >= 1
    stats = np.zeros((u, 3 + k))
    with np.errstate(divide="ignore", invalid="ignore"):
        agree = (counts * (counts - 1)).sum(axis=1) / (r * (r - 1))
        share = counts / r[:, None]
    stats[pairable, 0] = 1.0
    stats[pairable, 1] = agree[pairable]
    stats[rated, 2] = 1.0
    stats[rated, 3:] = share[rated]
    return stats, int(pairable.sum())


def fleiss_kappa_statistic(counts: np.ndarray) -> Statistic:
    """Fleiss' kappa, ``(P - P_e) / (1 - P_e)`` with ``P_e = sum_j p_j^2``
    (Fleiss 1971, eqs. 1-9). With a varying number of ratings per unit it is
    Gwet's generalisation (2014, sec. 2.5): ``P`` is averaged over units with
    two or more ratings and ``p_j = (1/n) sum_i r_ij / r_i``; with a constant
    number of ratings it is exactly Fleiss' coefficient."""
    stats, n = _pa_pi_stats(counts)

    def finish(s: np.ndarray) -> np.ndarray:
        pa = s[:, 1] / s[:, 0]
        pi = s[:, 3:] / s[:, 2:3]
        pe = (pi**2).sum(axis=1)
        out = (pa - pe) / (1 - pe)
        return np.where(np.isclose(pe, 1.0), np.nan, out)

    def reason(s: np.ndarray) -> str:
        return NO_PAIRABLE_UNITS if s[0] == 0 else ALL_ONE_CATEGORY

    return Statistic(stats, finish, reason, n)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from a units x categories count table.

    Fleiss (1971), Table 1 (30 patients, 6 psychiatrists, 5 diagnoses) gives
    kappa = .430; see the tests for the full table.

    >>> round(fleiss_kappa([[3, 0], [0, 3], [2, 1], [3, 0]]), 4)
    0.625
    """
    return fleiss_kappa_statistic(counts).value()


def gwet_ac1_statistic(counts: np.ndarray, n_categories: int | None = None) -> Statistic:
    """Gwet's AC1, ``(p_a - p_e) / (1 - p_e)`` with
    ``p_e = 1/(q-1) sum_k pi_k (1 - pi_k)`` and ``pi_k = (1/n) sum_i r_ik / r_i``
    over units with at least one rating (Gwet 2008, eq. 22; 2014, eq. 4.6).
    ``q`` is the number of categories (``n_categories``, default: the columns
    of ``counts``)."""
    stats, n = _pa_pi_stats(counts)
    q = stats.shape[1] - 3 if n_categories is None else int(n_categories)

    def finish(s: np.ndarray) -> np.ndarray:
        pa = s[:, 1] / s[:, 0]
        pi = s[:, 3:] / s[:, 2:3]
        if q < 2:
            return np.full(s.shape[0], np.nan)
        pe = (pi * (1 - pi)).sum(axis=1) / (q - 1)
        return (pa - pe) / (1 - pe)

    def reason(s: np.ndarray) -> str:
        return NO_PAIRABLE_UNITS if s[0] == 0 else ONE_CATEGORY_IN_USE

    return Statistic(stats, finish, reason, n)


def gwet_ac1(counts: np.ndarray, n_categories: int | None = None) -> float:
    """Gwet's AC1 for any number of raters, missing ratings allowed.

    On Gwet's (2014) dataset ``cac.raw4raters`` (12 units, 4 raters, 5
    categories, missing ratings) AC1 = 0.7754 (irrCAC); see the tests.
    """
    return gwet_ac1_statistic(counts, n_categories).value()


# -- Krippendorff's alpha ---------------------------------------------------------


def distance_matrix(level: str, values: Sequence[float] | None, k: int) -> np.ndarray | None:
    """Squared difference function delta^2_ck of Krippendorff (2011, sec. E) for
    nominal, interval and ratio data over ``k`` categories with numeric
    ``values``. Ordinal distances depend on the marginal frequencies and are
    computed in :func:`krippendorff_alpha_statistic`; this returns None."""
    if level not in ALPHA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(ALPHA_LEVELS)}; got {level!r}")
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        return None
    if values is None or len(values) != k:
        raise ValueError(f"{level} alpha needs one numeric value per category ({k})")
    v = np.asarray(values, dtype=np.float64)
    diff = v[:, None] - v[None, :]
    if level == "interval":
        return diff**2
    tot = v[:, None] + v[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(tot == 0, 0.0, (diff / tot) ** 2)
    return out


def _ordinal_delta(n_c: np.ndarray) -> np.ndarray:
    """delta^2_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 for each row of n_c (B, K)."""
    cum = np.cumsum(n_c, axis=1)
    b, k = n_c.shape
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    # sum_{g=lo..hi} n_g = cum[hi] - cum[lo] + n_lo
    span = cum[:, hi] - cum[:, lo] + n_c[:, lo]
    return (span - (n_c[:, :, None] + n_c[:, None, :]) / 2) ** 2


def krippendorff_alpha_statistic(
    counts: np.ndarray,
    level: str = "nominal",
    values: Sequence[float] | None = None,
    delta: np.ndarray | None = None,
) -> Statistic:
    """Krippendorff's alpha ``1 - D_o / D_e`` from the coincidence matrix
    (Krippendorff 2011, sec. C-E): over pairable units (``m_u >= 2`` values),
    ``D_o = (1/n) sum_u sum_ck n_uc n_uk delta_ck / (m_u - 1)`` and
    ``D_e = sum_ck n_c n_k delta_ck / (n (n - 1))`` with ``n_c`` the pairable
    values in category ``c`` and ``n`` their total. ``delta`` overrides the
    metric with any distance matrix (e.g. MASI over code sets)."""
    counts = _check_counts(counts)
    u, k = counts.shape
    if delta is None:
        delta = distance_matrix(level, values, k)
    elif delta.shape != (k, k):
        raise ValueError(f"delta must be {k} x {k}, got {delta.shape}")
    m = counts.sum(axis=1)
    pairable = m >= 2
    c = counts[pairable]
    mp = m[pairable]
    if delta is None:  # ordinal: keep the per-unit coincidences of every pair c < k
        iu, ku = np.triu_indices(k, 1)
        stats = np.zeros((u, 1 + k + len(iu)))
        stats[pairable, 1 + k :] = 2 * c[:, iu] * c[:, ku] / (mp - 1)[:, None]
    else:
        stats = np.zeros((u, 2 + k))
        if level == "nominal" and delta is not None and np.array_equal(delta, 1.0 - np.eye(k)):
            stats[pairable, 1 + k] = (mp**2 - (c**2).sum(axis=1)) / (mp - 1)
        else:
            stats[pairable, 1 + k] = np.einsum("uc,ck,uk->u", c, delta, c) / (mp - 1)
    stats[pairable, 0] = mp
    stats[pairable, 1 : 1 + k] = c
    fixed = delta

    def finish(s: np.ndarray) -> np.ndarray:
        n = s[:, 0]
        n_c = s[:, 1 : 1 + k]
        if fixed is None:
            d = _ordinal_delta(n_c)
            iu, ku = np.triu_indices(k, 1)
            observed = (s[:, 1 + k :] * d[:, iu, ku]).sum(axis=1)
            expected = np.einsum("bc,bck,bk->b", n_c, d, n_c)
        else:
            observed = s[:, 1 + k]
            expected = np.einsum("bc,ck,bk->b", n_c, fixed, n_c)
        d_o = observed / n
        d_e = expected / (n * (n - 1))
        out = 1 - d_o / d_e
        return np.where(np.isclose(d_e, 0.0), np.nan, out)

    def reason(s: np.ndarray) -> str:
        return NO_PAIRABLE_UNITS if s[0] == 0 else ALL_ONE_CATEGORY

    return Statistic(stats, finish, reason, int(pairable.sum()))


def krippendorff_alpha(
    counts: np.ndarray,
    level: str = "nominal",
    values: Sequence[float] | None = None,
    delta: np.ndarray | None = None,
) -> float:
    """Krippendorff's alpha from a units x values count table, missing data allowed.

    Krippendorff (2011), example C (4 observers, 12 units, values 1-5, missing
    values): nominal alpha = .743.

    >>> counts = [[3,0,0,0,0],[0,3,1,0,0],[0,0,4,0,0],[0,0,4,0,0],[0,4,0,0,0],
    ...           [1,1,1,1,0],[0,0,0,4,0],[3,1,0,0,0],[0,4,0,0,0],[0,0,0,0,3],
    ...           [2,0,0,0,0],[0,0,1,0,0]]
    >>> round(krippendorff_alpha(counts), 3)
    0.743
    """
    return krippendorff_alpha_statistic(counts, level, values, delta).value()


# -- two raters: Cohen's kappa and Scott's pi -----------------------------------------


def agreement_weights(weights: str | None, k: int) -> np.ndarray:
    """Cohen's (1968) agreement weights ``w_ck``: identity for unweighted kappa,
    ``1 - |c-k|/(K-1)`` linear, ``1 - (c-k)^2/(K-1)^2`` quadratic."""
    weights = weights or "none"
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}; got {weights!r}")
    idx = np.arange(k)
    if weights == "none" or k < 2:
        return np.eye(k)
    dist = np.abs(idx[:, None] - idx[None, :]) / (k - 1)
    return 1 - dist if weights == "linear" else 1 - dist**2


def _pair_stats(a: np.ndarray, b: np.ndarray, k: int, w: np.ndarray) -> np.ndarray:
    stats = np.zeros((a.shape[0], 2 + 2 * k))
    rows = np.arange(a.shape[0])
    stats[:, 0] = 1.0
    stats[:, 1] = w[a, b]
    stats[rows, 2 + a] = 1.0
    stats[rows, 2 + k + b] = 1.0
    return stats


def cohen_kappa_statistic(
    a: Sequence[int], b: Sequence[int], weights: str | None = None, n_categories: int | None = None
) -> Statistic:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` with
    ``p_o = sum_ck w_ck p_ck`` and ``p_e = sum_ck w_ck p_c. p_.k`` (Cohen 1960;
    weighted: Cohen 1968) over the units both raters coded."""
    x, y, k = _check_pair(a, b, n_categories)
    w = agreement_weights(weights, k)
    stats = _pair_stats(x, y, k, w)

    def finish(s: np.ndarray) -> np.ndarray:
        n = s[:, 0:1]
        p_a = s[:, 2 : 2 + k] / n
        p_b = s[:, 2 + k :] / n
        p_o = s[:, 1] / s[:, 0]
        p_e = np.einsum("bc,ck,bk->b", p_a, w, p_b)
        out = (p_o - p_e) / (1 - p_e)
        return np.where(np.isclose(p_e, 1.0), np.nan, out)

    def reason(s: np.ndarray) -> str:
        return NO_COMMON_UNITS if s[0] == 0 else ALL_ONE_CATEGORY

    return Statistic(stats, finish, reason, int(x.shape[0]))


def cohen_kappa(
    a: Sequence[int], b: Sequence[int], weights: str | None = None, n_categories: int | None = None
) -> float:
    """Cohen's kappa for two raters (``weights``: none, linear, quadratic).

    >>> round(cohen_kappa([0, 0, 1, 1, 0], [0, 1, 1, 1, 0]), 4)
    0.6154
    """
    return cohen_kappa_statistic(a, b, weights, n_categories).value()


def scott_pi_statistic(
    a: Sequence[int], b: Sequence[int], n_categories: int | None = None
) -> Statistic:
    """Scott's pi ``(p_o - p_e) / (1 - p_e)`` with ``p_e = sum_c pi_c^2`` and
    ``pi_c`` the category's share of both raters' 2n ratings (Scott 1955)."""
    x, y, k = _check_pair(a, b, n_categories)
    stats = _pair_stats(x, y, k, np.eye(k))

    def finish(s: np.ndarray) -> np.ndarray:
        n = s[:, 0:1]
        pi = (s[:, 2 : 2 + k] + s[:, 2 + k :]) / (2 * n)
        p_o = s[:, 1] / s[:, 0]
        p_e = (pi**2).sum(axis=1)
        out = (p_o - p_e) / (1 - p_e)
        return np.where(np.isclose(p_e, 1.0), np.nan, out)

    def reason(s: np.ndarray) -> str:
        return NO_COMMON_UNITS if s[0] == 0 else ALL_ONE_CATEGORY

    return Statistic(stats, finish, reason, int(x.shape[0]))


def scott_pi(a: Sequence[int], b: Sequence[int], n_categories: int | None = None) -> float:
    """Scott's pi for two raters.

    >>> round(scott_pi([0, 0, 1, 1, 0], [0, 1, 1, 1, 0]), 4)
    0.6
    """
    return scott_pi_statistic(a, b, n_categories).value()


# -- set-valued codes ------------------------------------------------------------------


def masi_distance(a: frozenset | set, b: frozenset | set) -> float:
    """MASI distance ``1 - J * M`` between two code sets (Passonneau 2006): ``J``
    the Jaccard coefficient, ``M`` = 1 if the sets are equal, 2/3 if one is a
    subset of the other, 1/3 if they overlap otherwise, 0 if disjoint.

    >>> masi_distance({"a"}, {"a"})
    0.0
    >>> round(masi_distance({"a", "b"}, {"a"}), 4)   # J = 1/2, M = 2/3
    0.6667
    >>> round(masi_distance({"a", "b"}, {"b", "c"}), 4)   # J = 1/3, M = 1/3
    0.8889
    """
    a, b = set(a), set(b)
    if not a and not b:
        return 0.0
    union = len(a | b)
    inter = len(a & b)
    if a == b:
        m = 1.0
    elif a <= b or b <= a:
        m = 2 / 3
    elif inter:
        m = 1 / 3
    else:
        m = 0.0
    return 1.0 - (inter / union) * m


def masi_matrix(sets: Sequence[frozenset]) -> np.ndarray:
    k = len(sets)
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = masi_distance(sets[i], sets[j])
    return out


# -- reading ---------------------------------------------------------------------------


LANDIS_KOCH = (
    (0.0, "poor"),
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.0, "almost perfect"),
)


def landis_koch(value: float | None) -> str:
    """Landis & Koch (1977) benchmark: <0 poor, 0-.20 slight, .21-.40 fair,
    .41-.60 moderate, .61-.80 substantial, .81-1 almost perfect.

    >>> landis_koch(0.43), landis_koch(-0.1), landis_koch(0.81)
    ('moderate', 'poor', 'almost perfect')
    """
    if value is None or not np.isfinite(value):
        return "n/a"
    if value < 0:
        return "poor"
    for bound, label in LANDIS_KOCH[1:]:
        if value <= bound + 1e-12:
            return label
    return "almost perfect"
