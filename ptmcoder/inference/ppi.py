"""Means from an annotator's codes on every unit and human codes on a sample.

Three estimates of the mean of a 0/1 (or bounded) outcome ``Y`` (a unit carries a
code) over ``N`` annotated units, of which ``n`` were also coded by humans:

- **naive**: the annotator's mean over all ``N`` units, ``mean(Yhat_u)``, with the
  Wald interval ``sd/sqrt(N)``: it ignores annotation error and is biased whenever
  the annotator is;
- **classical**: the humans' mean over the ``n`` gold units, Hajek-weighted by
  ``w = 1 / inclusion_probability`` (normalised to mean 1), Wald interval
  ``sd(w Y)/sqrt(n)``: PPI++ with ``lambda = 0``;
- **PPI++** (Angelopoulos, Duchi & Zrnic 2023, "PPI++: Efficient Prediction-Powered
  Inference", arXiv:2311.01453, eq. 2 and Example 6.1, power tuning of Sec. 2.2)::

      theta_lambda = lambda * mean(Yhat_u) + mean(w (Y - lambda * Yhat))
      se^2 = lambda^2 var(Yhat_u) / N + var(w (Y - lambda * Yhat)) / n
      lambda_hat = cov(Y, Yhat) / ((1 + n / N) var(Yhat)), clipped to [0, 1]

  exactly as ``ppi_py.ppi_mean_ci`` / ``ppi_mean_pointestimate`` (ppi-python 0.2.3,
  ``lam=None``, ``w`` the labelled sample's weights, the unlabelled weights 1)
  compute them. The unlabelled set is every annotated unit (gold ones included): the
  target is the share over the annotated units, and ``mean(Yhat_u)`` over all of
  them is its imputed part.

:func:`ppi_mean` calls ``ppi_py`` on arrays. :func:`ppi_mean_from_sums` computes the
same numbers from the unlabelled units' count, sum and sum of squares, so that a
million units times a thousand (code, group) cells costs one pass over the codes
(``tests/test_inference_ppi.py`` checks the two agree to 1e-10, weighted and not).

Where PPI cannot help (Angelopoulos et al. 2023, Sec. 2.2: power tuning never does
worse than classical asymptotically, but with a weak annotator the estimated
``lambda`` is noise at small ``n``) the classical interval is reported: when the
annotator-human correlation ``r`` on the gold is below ``1/sqrt(n - 2)`` (the size of
a correlation indistinguishable from 0 at ``n``: its standard error under
independence, Fisher 1915), or undefined, or ``n < 3``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ptmcoder.errors import PtmcoderError

ArrayLike = Any


class InferenceInputError(PtmcoderError):
    """Arrays handed to an estimator that it cannot use (lengths, ranges, weights)."""


def z_value(alpha: float) -> float:
    """The two-sided normal quantile ``z_{1 - alpha/2}``.

    >>> round(z_value(0.05), 4)
    1.96
    """
    if not 0 < alpha < 1:
        raise InferenceInputError(f"alpha must be in (0, 1), got {alpha}")
    return NormalDist().inv_cdf(1 - alpha / 2)


@dataclass(frozen=True)
class Interval:
    """A point estimate, its standard error and its two-sided confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    method: str

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low

    def to_json(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def wald(estimate: float, se: float, alpha: float, method: str) -> Interval:
    """The normal interval ``estimate +- z se``.

    >>> round(wald(0.5, 0.1, 0.05, "x").ci_low, 4)
    0.304
    """
    z = z_value(alpha)
    return Interval(
        float(estimate), float(estimate - z * se), float(estimate + z * se), float(se), method
    )


def wilson(p: float, n: float, alpha: float, method: str = "Wilson score") -> Interval:
    """The Wilson score interval (Wilson 1927, JASA 22:209) for a share ``p`` out of
    ``n`` (a Kish effective ``n`` when weighted); ``se`` is half its width over z.
    Used for the classical estimate when every gold unit agrees (all or none carry the
    code), where the Wald interval has zero width.

    >>> i = wilson(0.0, 100, 0.05)
    >>> (i.ci_low, round(i.ci_high, 4))
    (0.0, 0.037)
    """
    if n <= 0:
        raise InferenceInputError(f"Wilson interval needs n > 0, got {n}")
    z = z_value(alpha)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return Interval(float(p), low, high, (high - low) / (2 * z), method)


def normalised_weights(w: ArrayLike | None, n: int) -> np.ndarray:
    """Weights scaled to mean 1 (sum ``n``), as ``ppi_py`` scales them; ones when None.
    Each must be finite and > 0.

    >>> normalised_weights([2.0, 6.0], 2).tolist()
    [0.5, 1.5]
    """
    if w is None:
        return np.ones(n)
    arr = np.asarray(w, dtype=float)
    if arr.shape != (n,):
        raise InferenceInputError(f"w has {arr.size} weights for {n} gold units")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InferenceInputError("weights must be finite and > 0 (w = 1 / inclusion_probability)")
    return arr / arr.sum() * n


def kish_n(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (Kish 1965, Survey Sampling).

    >>> kish_n(np.array([1.0, 1.0, 1.0, 1.0]))
    4.0
    """
    return float(w.sum() ** 2 / (w**2).sum())


def weighted_correlation(y: np.ndarray, yhat: np.ndarray, w: np.ndarray) -> float:
    """Pearson correlation of ``y`` and ``yhat`` with weights ``w``; NaN when either is
    constant.

    >>> weighted_correlation(np.array([0., 1, 1, 0]), np.array([0., 1, 1, 1]), np.ones(4))
    0.5773502691896258
    """
    wy, wh = np.average(y, weights=w), np.average(yhat, weights=w)
    cov = np.average((y - wy) * (yhat - wh), weights=w)
    vy, vh = np.average((y - wy) ** 2, weights=w), np.average((yhat - wh) ** 2, weights=w)
    if vy <= 0 or vh <= 0:
        return float("nan")
    return float(cov / math.sqrt(vy * vh))


def too_weak(r: float, n: int) -> bool:
    """Whether an annotator-human correlation ``r`` on ``n`` gold units is too low for
    PPI to help (module doc): ``n < 3``, ``r`` undefined, or ``r < 1/sqrt(n - 2)``.

    >>> too_weak(0.05, 102), too_weak(0.2, 102), too_weak(float("nan"), 50)
    (True, False, True)
    """
    if n < 3 or not math.isfinite(r):
        return True
    return r < 1 / math.sqrt(n - 2)


@dataclass(frozen=True)
class MeanEstimate:
    """The classical and PPI++ estimates of one mean, and how they relate.

    ``ppi`` is the classical interval again (method says so) when :func:`too_weak`;
    ``effective_n`` is ``n * var_classical / var_ppi``: the number of human codes the
    classical estimate would need for the PPI++ interval's width (Angelopoulos et al.
    2023, Sec. 7, "effective sample size")."""

    classical: Interval
    ppi: Interval
    lam: float
    correlation: float
    n: int
    N: int
    effective_n: float | None
    fallback: bool
    note: str | None


def _check(Y: ArrayLike, Yhat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(Y, dtype=float).reshape(-1)
    yh = np.asarray(Yhat, dtype=float).reshape(-1)
    if y.shape != yh.shape:
        raise InferenceInputError(f"Y has {y.size} gold codes but Yhat has {yh.size}")
    if y.size == 0:
        raise InferenceInputError("no gold units: Y is empty")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(yh))):
        raise InferenceInputError("Y and Yhat must be finite")
    return y, yh


def classical_mean(Y: ArrayLike, w: ArrayLike | None = None, *, alpha: float = 0.05) -> Interval:
    """The humans-only estimate: Hajek mean of ``w Y`` with the Wald interval
    ``sd(w Y)/sqrt(n)`` (``ppi_py.ppi_mean_ci`` with ``lam=0``); the Wilson interval
    at Kish's effective n when that sd is 0 (every gold unit agrees).

    >>> i = classical_mean([1, 0, 0, 1])
    >>> (i.estimate, round(i.ci_low, 3), round(i.ci_high, 3))
    (0.5, 0.01, 0.99)
    """
    y = np.asarray(Y, dtype=float).reshape(-1)
    if y.size == 0:
        raise InferenceInputError("no gold units: Y is empty")
    wn = normalised_weights(w, y.size)
    return _classical(y, wn, alpha)


def _classical(y: np.ndarray, wn: np.ndarray, alpha: float) -> Interval:
    wy = wn * y
    est = float(wy.mean())
    sd = float(wy.std())
    if sd > 0:
        return wald(est, sd / math.sqrt(y.size), alpha, "classical (humans only, Wald)")
    return wilson(
        min(max(est, 0.0), 1.0),
        kish_n(wn),
        alpha,
        "classical (humans only, Wilson: all gold units agree)",
    )


def small_cell_adjustment(rect: np.ndarray, lam: float, k: float) -> tuple[float, float]:
    """The rectifier's mean and variance with ``k`` pseudo-units added to each cell of
    the human x annotator 2x2 table (Y, Yhat) in {0, 1}^2, whose rectifier values are
    ``Y - lam * Yhat``: for ``lam = 1`` the adjustment of Agresti & Min (2005, "Simple
    improved confidence intervals for comparing matched proportions", Stat. Med.
    24:729; ``k = 0.5``) for a paired difference, for ``lam = 0`` the Agresti & Coull
    (1998) pseudo-counts for one proportion (``k = z^2 / 4``, which
    :func:`ppi_mean_from_sums` uses). Where human and annotator disagree on a handful
    of gold units, the rectifier is a rare event and its sample variance (0 when no
    unit disagrees) makes the Wald interval too narrow; ``benchmarks/bench_inference.md``
    shows the coverage with and without.

    >>> small_cell_adjustment(np.zeros(10), 1.0, 0.5)
    (0.0, 0.08333333333333333)
    """
    pseudo = np.array([1 - lam, 1.0, -lam, 0.0])
    total = rect.size + 4 * k
    mean = (float(rect.sum()) + k * float(pseudo.sum())) / total
    var = (float(((rect - mean) ** 2).sum()) + k * float(((pseudo - mean) ** 2).sum())) / total
    return mean, var


def ppi_mean_from_sums(
    Y: ArrayLike,
    Yhat: ArrayLike,
    N: int,
    sum_unlabeled: float,
    sumsq_unlabeled: float,
    *,
    w: ArrayLike | None = None,
    alpha: float = 0.05,
    guard: bool = True,
) -> MeanEstimate:
    """PPI++ (power-tuned) and classical means from the gold arrays ``Y`` (human) and
    ``Yhat`` (annotator) with weights ``w``, and the unlabelled (all annotated) units'
    count ``N``, sum and sum of squares of ``Yhat_u``. With ``guard=False``, the
    same numbers as ``ppi_py.ppi_mean_ci(Y, Yhat, Yhat_u, alpha, w=w)`` (module doc).
    With ``guard`` (the default), where :func:`small_cell_adjustment` with
    ``k = z^2/4`` pseudo-units per cell gives the rectifier a larger variance, the
    interval uses that variance and is centred on the adjusted rectifier (as
    Agresti-Coull centres a proportion's); the point estimate stays ppi_py's. In the
    benchmark this lifts PPI++ coverage from 0.92 to >= 0.95 where the annotator
    rarely errs in one direction, at small n.

    >>> r = ppi_mean_from_sums([1, 0, 1, 1, 0, 0], [1, 0, 1, 0, 0, 0], 12, 4.0, 4.0, guard=False)
    >>> round(r.ppi.estimate, 4), round(r.lam, 4), r.fallback
    (0.5, 0.4722, False)
    """
    y, yh = _check(Y, Yhat)
    n = y.size
    if N < n:
        raise InferenceInputError(f"N = {N} annotated units is fewer than the {n} gold units")
    wn = normalised_weights(w, n)
    classical = _classical(y, wn, alpha)
    mean_u = sum_unlabeled / N
    r = weighted_correlation(y, yh, wn)
    var_classical = float((wn * y).var()) / n
    if too_weak(r, n):
        if n < 3:
            reason = f"n = {n} gold units"
        elif math.isfinite(r):
            reason = f"r = {r:.3f} < 1/sqrt(n-2) = {1 / math.sqrt(n - 2):.3f}"
        else:
            reason = "r undefined (a constant on the gold)"
        note = f"PPI = classical: {reason}"
        ppi = Interval(
            classical.estimate,
            classical.ci_low,
            classical.ci_high,
            classical.se,
            "classical (PPI fallback)",
        )
        return MeanEstimate(classical, ppi, 0.0, r, n, N, float(n), True, note)
    # lambda, as ppi_py's _calc_lam_glm (d = 1, clip) at the lambda = 1 estimate
    theta1 = mean_u + float((wn * (y - yh)).mean())
    g = wn * (y - theta1)
    gh = wn * (yh - theta1)
    cov = 2.0 * float(((g - g.mean()) * (gh - gh.mean())).mean())
    s1 = float(gh.sum()) + (sum_unlabeled - N * theta1)
    s2 = float((gh**2).sum()) + (sumsq_unlabeled - 2 * theta1 * sum_unlabeled + N * theta1**2)
    m = n + N
    var_hat = (s2 - s1 * s1 / m) / (m - 1)
    lam = cov / (2 * (1 + n / N) * var_hat) if var_hat > 0 else 0.0
    lam = float(min(max(lam, 0.0), 1.0))
    est = lam * mean_u + float((wn * (y - lam * yh)).mean())
    var_u = max(sumsq_unlabeled / N - mean_u**2, 0.0)
    rect = wn * (y - lam * yh)
    var_rect = float(rect.var())
    method = "PPI++ (power-tuned, Angelopoulos et al. 2023)"
    centre = est
    if guard:
        mean_adj, var_adj = small_cell_adjustment(rect, lam, z_value(alpha) ** 2 / 4)
        if var_adj > var_rect:
            var_rect, method = var_adj, method + " with the small-cell guard"
            centre = est - float(rect.mean()) + mean_adj
    se = math.sqrt(lam * lam * var_u / N + var_rect / n)
    ppi = wald(centre, se, alpha, method)
    if centre != est:
        ppi = Interval(est, ppi.ci_low, ppi.ci_high, se, method)
    eff = n * var_classical / se**2 if se > 0 and var_classical > 0 else None
    return MeanEstimate(classical, ppi, lam, r, n, N, eff, False, None)


def ppi_mean(
    Y: ArrayLike,
    Yhat: ArrayLike,
    Yhat_unlabeled: ArrayLike,
    *,
    w: ArrayLike | None = None,
    alpha: float = 0.05,
    guard: bool = True,
) -> MeanEstimate:
    """PPI++ and classical means from arrays, through ``ppi_py`` (``ppi_mean_ci`` and
    ``ppi_mean_pointestimate`` with ``lam=None``: power tuning; ``w`` the gold units'
    weights ``1 / inclusion_probability``). ``Yhat_unlabeled``: the annotator's codes
    on every annotated unit. The fallback rule of :func:`too_weak` applies, and with
    ``guard`` the small-cell guard of :func:`ppi_mean_from_sums` (where it widens the
    interval, that interval is returned instead of ``ppi_py``'s).

    >>> y, yhat = [1, 0, 1, 1, 0, 0], [1, 0, 1, 0, 0, 0]
    >>> r = ppi_mean(y, yhat, yhat * 2, guard=False)
    >>> round(r.ppi.estimate, 4), round(r.ppi.ci_low, 4)
    (0.5, 0.1731)
    """
    import ppi_py

    y, yh = _check(Y, Yhat)
    yu = np.asarray(Yhat_unlabeled, dtype=float).reshape(-1)
    n, N = y.size, yu.size
    wn = normalised_weights(w, n)
    summary = ppi_mean_from_sums(
        y, yh, N, float(yu.sum()), float((yu**2).sum()), w=wn, alpha=alpha, guard=guard
    )
    if summary.fallback or "guard" in summary.ppi.method:
        return summary
    warr = None if w is None else wn
    lo, hi = ppi_py.ppi_mean_ci(y, yh, yu, alpha=alpha, w=warr)
    est = float(np.asarray(ppi_py.ppi_mean_pointestimate(y, yh, yu, w=warr)).reshape(-1)[0])
    lo, hi = float(np.asarray(lo).reshape(-1)[0]), float(np.asarray(hi).reshape(-1)[0])
    z = z_value(alpha)
    ppi = Interval(est, lo, hi, (hi - lo) / (2 * z), "PPI++ (power-tuned, ppi_py)")
    var_classical = float((wn * y).var()) / n
    eff = n * var_classical / ppi.se**2 if ppi.se > 0 and var_classical > 0 else None
    return MeanEstimate(
        summary.classical, ppi, summary.lam, summary.correlation, n, N, eff, False, None
    )


def naive_from_sums(
    N: int, sum_unlabeled: float, sumsq_unlabeled: float, *, alpha: float = 0.05
) -> Interval:
    """The annotator-only mean over ``N`` units with its Wald interval (it ignores
    annotation error).

    >>> naive_from_sums(100, 20.0, 20.0).se
    0.04
    """
    if N <= 0:
        raise InferenceInputError("no annotated units")
    mean = sum_unlabeled / N
    var = max(sumsq_unlabeled / N - mean * mean, 0.0)
    return wald(mean, math.sqrt(var / N), alpha, "naive (annotator only, Wald)")


def difference(a: Interval, b: Interval, *, alpha: float = 0.05) -> Interval:
    """The difference ``a - b`` of two estimates on disjoint groups of units, with
    ``Var(a - b) = Var(a) + Var(b)``: domain estimates from disjoint domains under a
    with-replacement (or Poisson) approximation to the gold design are asymptotically
    uncorrelated (Sarndal, Swensson & Wretman 1992, Model Assisted Survey Sampling,
    Sec. 10.3-10.5); the naive ones are independent given the units.

    >>> round(difference(wald(0.5, 0.03, 0.05, "x"), wald(0.3, 0.04, 0.05, "x")).se, 3)
    0.05
    """
    se = math.sqrt(a.se**2 + b.se**2)
    return wald(
        a.estimate - b.estimate, se, alpha, f"difference of {a.method.split(' (')[0]} estimates"
    )


__all__ = [
    "InferenceInputError",
    "Interval",
    "MeanEstimate",
    "classical_mean",
    "difference",
    "kish_n",
    "naive_from_sums",
    "normalised_weights",
    "ppi_mean",
    "ppi_mean_from_sums",
    "small_cell_adjustment",
    "too_weak",
    "weighted_correlation",
    "wald",
    "wilson",
    "z_value",
]
