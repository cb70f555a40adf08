"""Effect sizes for the tests of the studies, each with its source.

- **Cliff's delta** (Cliff 1993, "Dominance statistics: ordinal analyses to
  answer ordinal questions", Psychological Bulletin 114(3)):
  ``d = P(X > Y) - P(X < Y)`` over all ``n * m`` pairs. Its variance is Cliff's
  (1996, *Ordinal Methods for Behavioral Data Analysis*, eq. 5.7) consistent
  estimate as restated by Long, Feng & Cliff (2003, Multivariate Behavioral
  Research 38(3))::

      s_d^2 = [m^2 sum_i (d_i. - d)^2 + n^2 sum_j (d_.j - d)^2 - sum_ij (d_ij - d)^2]
              / (n m (n - 1) (m - 1))

  floored at ``(1 - d^2) / (n m - 1)`` as Long et al. recommend, and the CI is
  Cliff's asymmetric interval (Cliff 1993, eq. 11)::

      (d - d^3 +- z s_d sqrt((1 - d^2)^2 + z^2 s_d^2)) / (1 - d^2 + z^2 s_d^2)

  All quantities are computed from sorted arrays (``O((n + m) log(n + m))``), never
  the ``n x m`` dominance matrix, so it runs on Stack Overflow-sized groups.
  Magnitude labels: Romano et al. (2006) thresholds 0.147, 0.33, 0.474.
- **Rank-biserial correlation** from the Mann-Whitney U of the first group
  (Kerby 2014, "The simple difference formula", Comprehensive Psychology 3):
  ``r = 2 U_1 / (n m) - 1``; it equals Cliff's delta, so it shares its CI.
- **Epsilon squared** for Kruskal-Wallis: ``E^2_R = H / (n - 1)`` (Tomczak &
  Tomczak 2014, Trends in Sport Sciences 1(21), eq. 10).
- **Cramér's V** for a chi-square test of independence: ``sqrt(chi2 / (N (k - 1)))``
  with ``k = min(rows, columns)`` (Cramér 1946).

>>> r = cliffs_delta([1, 2, 3, 4], [1, 2, 3, 4])
>>> r.delta, r.magnitude
(0.0, 'negligible')
>>> cliffs_delta([10, 11, 12], [1, 2, 3]).delta
1.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

from ptmcoder.errors import PtmcoderError


@dataclass(frozen=True)
class CliffsDelta:
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    se: float
    n_x: int
    n_y: int
    magnitude: str
    method: str = "Cliff's delta; CI: Cliff (1993) asymmetric, consistent variance (Cliff 1996)"

    def to_dict(self) -> dict:
        return asdict(self)


def _as_sample(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise PtmcoderError(f"{name} is empty: an effect size needs at least one value per group")
    if not np.isfinite(arr).all():
        raise PtmcoderError(f"{name} contains NaN or infinite values; drop them first")
    return arr


def magnitude(delta: float) -> str:
    """Romano, Kromrey, Coraggio & Skowronek (2006) labels for |delta|."""
    a = abs(delta)
    return (
        "negligible" if a < 0.147 else "small" if a < 0.33 else "medium" if a < 0.474 else "large"
    )


def cliffs_delta(x, y, *, confidence: float = 0.95) -> CliffsDelta:
    """Cliff's delta of ``x`` over ``y`` (positive: ``x`` tends to be larger), with CI."""
    x = _as_sample(x, "x")
    y = _as_sample(y, "y")
    if not 0 < confidence < 1:
        raise PtmcoderError(f"confidence must be in (0, 1), got {confidence}")
    n, m = x.size, y.size
    ys, xs = np.sort(y), np.sort(x)
    # d_i. for every x_i: (#y < x_i - #y > x_i) / m
    y_less = np.searchsorted(ys, x, side="left")
    y_greater = m - np.searchsorted(ys, x, side="right")
    d_i = (y_less - y_greater) / m
    # d_.j for every y_j: (#x > y_j - #x < y_j) / n
    x_less = np.searchsorted(xs, y, side="left")
    x_greater = n - np.searchsorted(xs, y, side="right")
    d_j = (x_greater - x_less) / n
    d = float(d_i.mean())
    non_ties = float((y_less + y_greater).sum())  # sum of d_ij^2
    ss_ij = non_ties - n * m * d * d
    if n > 1 and m > 1:
        var = (
            m * m * float(((d_i - d) ** 2).sum()) + n * n * float(((d_j - d) ** 2).sum()) - ss_ij
        ) / (n * m * (n - 1) * (m - 1))
        var = max(var, (1 - d * d) / (n * m - 1))
        s = math.sqrt(max(var, 0.0))
        z = float(_st.norm.ppf(0.5 + confidence / 2))
        root = z * s * math.sqrt((1 - d * d) ** 2 + z * z * s * s)
        denom = 1 - d * d + z * z * s * s
        if denom <= 0:  # complete separation (|d| = 1, no spread): the CI collapses
            lo = hi = d
        else:
            lo = max(-1.0, (d - d**3 - root) / denom)
            hi = min(1.0, (d - d**3 + root) / denom)
    else:
        s, lo, hi = float("nan"), float("nan"), float("nan")
    return CliffsDelta(
        delta=d,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        se=s,
        n_x=n,
        n_y=m,
        magnitude=magnitude(d),
    )


def rank_biserial_from_u(u1: float, n1: int, n2: int) -> float:
    """Rank-biserial correlation ``2 U_1 / (n1 n2) - 1`` (Kerby 2014), where ``U_1``
    counts pairs in which the first group is larger (ties count one half)."""
    if n1 <= 0 or n2 <= 0:
        raise PtmcoderError("both groups need at least one value")
    if not 0 <= u1 <= n1 * n2:
        raise PtmcoderError(f"U must be between 0 and n1*n2 = {n1 * n2}, got {u1}")
    return 2.0 * u1 / (n1 * n2) - 1.0


def epsilon_squared(h: float, n: int) -> float:
    """Epsilon squared of a Kruskal-Wallis H over ``n`` observations (Tomczak & Tomczak 2014)."""
    if n < 2:
        raise PtmcoderError("epsilon squared needs at least two observations")
    return float(h) / (n - 1)


def cramers_v(chi2: float, n: int, shape: tuple[int, int]) -> float:
    """Cramér's V of a chi-square statistic on an ``r x c`` table of ``n`` counts."""
    k = min(shape) - 1
    if n <= 0 or k <= 0:
        return float("nan")
    return math.sqrt(float(chi2) / (n * k))
