"""An outcome's mean per code, corrected for annotation error.

The studies summarise an outcome observed on every unit by the codes an annotator gave:
Banyongrakkul et al.'s resolution time (days) per theme, Tan et al.'s share of questions
without an accepted answer per challenge category. Among units carrying code ``c`` the
mean outcome is a ratio of two means over the annotated units::

    R_c = E[Y 1c] / E[1c]

The outcome ``Y`` is observed on every unit; only the code is predicted. So each unit
has the label ``(1c_i Y_i, 1c_i)`` from the humans (on the gold sample) and the
prediction ``(1c^_i Y_i, 1c^_i)`` from the annotator (on every unit), and both means are
PPI++ means (:mod:`.ppi`; Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453, eq. 2)::

    theta_k = lambda_k mean_N(f^_k) + mean_n(w (f_k - lambda_k f^_k))

with ``w = 1 / inclusion_probability`` normalised to mean 1. Code ``c``'s numerator and
denominator share one ``lambda`` (:func:`ratio_lambdas`): PPI++'s power tuning for the
ratio's estimating function ``z = 1c (Y - R)`` (their Sec. 6; the ratio is the
M-estimator solving ``E[z] = 0``), ``cov(z, z^) / ((1 + n/N) var(z^))``, clipped to
[0, 1], 0 where :func:`.ppi.too_weak`, with both moments taken on the gold units.
(``ppi_py`` takes ``var`` over the gold and unlabelled units pooled, ``lam="ppi_py"``
here, one ``lambda`` per component; with a skewed outcome that ``lambda`` follows the
spread of the gold sample's outcomes and biases the ratio: in the design of
``tests/test_inference_outcomes_coverage.py`` with exponential days, -0.4 days on a
40-day mean at n = 500 and coverage 0.91 (before the small-cell guard), where gold
moments are unbiased. Tuning the two components apart, ``lam="components"``, can leave
the ratio wider than the humans' alone when the annotator's errors carry extreme
outcomes.) The covariance of two components sums the unlabelled part, the labelled
part and, since the gold units are among the ``N`` annotated ones, the covariance of
the two parts (``ppi_py`` treats the two sets as independent, which overstates the
variance when ``lambda = 1`` and understates it at the tuned ``lambda``: before this term,
at n = 600 of N = 2,000, the mean standard error of the 40-day code was 2.27 days for an
actual spread of 2.49; ``ddof = 0`` throughout, as ``ppi_py``)::

    Sigma_kl = lambda_k lambda_l cov_N(f^_k, f^_l) / N + cov_n(r_k, r_l) / n
               + (lambda_k cov_n(f^_k, r_l) + lambda_l cov_n(r_k, f^_l)) / N,
    r_k = w (f_k - lambda_k f^_k)

A ratio (and any smooth function of the components) follows by the delta method,
``Var(g(theta)) = grad g' Sigma grad g``; for the ratio::

    Var(R_c) = (Sigma_11 - 2 R_c Sigma_12 + R_c^2 Sigma_22) / theta_2^2

the linearisation variance of the ratio estimator (Sarndal, Swensson & Wretman 1992,
Model Assisted Survey Sampling, Sec. 5.6, Result 5.6.1), which is also what PPI's
treatment of M-estimators (Angelopoulos et al. 2023, Science 382:669, supplement) gives
for the estimating equation ``E[1c (Y - R)] = 0`` (Hessian ``E[1c]``): with ``lambda_1 =
lambda_2 = lambda`` and independent sets it is ``ppi_py.ppi_mean_ci``'s variance of the
PPI mean of ``z = 1c (Y - R)`` over ``theta_2^2`` (``tests/test_inference_outcomes.py``
checks it, and a hand-made case in closed form). The mean among units *without* ``c`` is
``(E[Y] - E[Y 1c]) / (1 - E[1c])`` (``E[Y]`` a component with ``f = f^ = Y``, ``lambda =
1``); differences between codes and against the rest, Cohen's h for a 0/1 outcome, and
the Wald test that every code has the same mean (df = codes - 1) take their variances
from the same ``Sigma``, so units carrying several codes are handled. Three estimates
side by side: **naive** (annotator codes as truth: ``theta = mean_N(f^)``, ``Sigma =
cov_N(f^) / N``), **classical** (humans only, ``lambda = 0``) and **PPI++**.

Two small-sample measures, as :mod:`.ppi` takes for shares: the small-cell guard of
:func:`guard_extra` (pseudo-units in the humans x annotator cells of each code) and, for a
0/1 outcome, each share's interval is Wilson's at the effective sample size (Korn &
Graubard 1998); other intervals are Wald, cut to the outcome's range for a mean.

Measured (``tests/test_inference_outcomes_coverage.py``; N = 5,000, three codes, 80%
accurate annotator whose errors go to one code, 300 replications): with a uniform gold
sample of 500, PPI++ covers each code's mean 0.940-0.957 (exponential days and a 0/1
outcome), the code-vs-rest and pairwise differences 0.937-0.963, naive 0.00 for the two
codes the errors touch, at 0.60-0.66 of the humans-only width; stratified by the
annotator's code (200 per code, weighted), 0.923-0.967. Smaller samples cover less where
few gold units carry the errors: uniform n = 200, 0.92-0.95 per code (600
replications); stratified 100 per code, 0.91 for the rarest code's share (400).

Medians and other quantiles per code are not estimated: ``ppi_py.ppi_quantile_ci``
corrects the quantile of a *predicted outcome*, whereas here the outcome is observed and
the predicted part is which units belong to the code, so it does not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from ptmcoder.inference.design import GoldDesign
from ptmcoder.inference.ppi import (
    InferenceInputError,
    Interval,
    normalised_weights,
    ppi_mean_from_sums,
    too_weak,
    wilson,
    z_value,
)

#: the comparison group "every unit without the code"
REST = "(rest)"
NAIVE, CLASSICAL, PPI = "naive", "classical", "ppi"
KINDS = (NAIVE, CLASSICAL, PPI)
METHOD = {
    NAIVE: "naive (annotator codes as truth; delta method)",
    CLASSICAL: "classical (humans only, Hajek ratio; delta method)",
    PPI: "PPI++ ratio (power-tuned for the ratio; delta method)",
}


@dataclass(frozen=True)
class Components:
    """Estimated component means ``theta`` (``E[Y]``, then ``E[Y 1c], E[1c]`` per code)
    and their covariance ``sigma``, one kind of estimate."""

    theta: np.ndarray
    sigma: np.ndarray
    lam: np.ndarray


@dataclass(frozen=True)
class CodeOutcome:
    """The mean outcome among units carrying ``code``, three ways."""

    code: str
    n_gold: int
    n_annotated: int
    #: gold units the humans gave the code, units the annotator gave it
    n_gold_code: int
    n_annotated_code: int
    naive: Interval
    classical: Interval
    ppi: Interval
    #: lambda of the numerator and of the denominator
    lam: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "n_gold": self.n_gold,
            "n_annotated": self.n_annotated,
            "n_gold_code": self.n_gold_code,
            "n_annotated_code": self.n_annotated_code,
            **{k: getattr(self, k).to_json() for k in KINDS},
            "lambda": list(self.lam),
        }


@dataclass(frozen=True)
class Contrast:
    """``mean(code) - mean(versus)`` (``versus`` a code or :data:`REST`), three ways,
    with the two-sided Wald p-value of each and, for a 0/1 outcome, Cohen's h of the
    two corrected shares (``2 asin sqrt p1 - 2 asin sqrt p2``, Cohen 1988 ch. 6) with
    its delta-method interval."""

    code: str
    versus: str
    naive: Interval
    classical: Interval
    ppi: Interval
    #: Wald z = difference / se per kind (its square is the 1-df chi-square) and p-value
    z: dict[str, float]
    p_value: dict[str, float]
    cohens_h: dict[str, Interval] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "versus": self.versus,
            **{k: getattr(self, k).to_json() for k in KINDS},
            "z": {k: _finite(v) for k, v in self.z.items()},
            "p_value": {k: _finite(v) for k, v in self.p_value.items()},
            "cohens_h": (
                {k: v.to_json() for k, v in self.cohens_h.items()} if self.cohens_h else None
            ),
        }


@dataclass(frozen=True)
class EqualMeansTest:
    """Wald chi-square test that every code has the same mean outcome (the corrected
    counterpart of the Kruskal-Wallis test across codes): ``W = (C R)' (C V C')^-1 (C R)``,
    ``C`` the successive differences, ``df = codes - 1``."""

    kind: str
    chi2: float
    df: int
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "chi2": _finite(self.chi2),
            "df": self.df,
            "p_value": _finite(self.p_value),
        }


@dataclass
class OutcomeResult:
    """Per-code means of an outcome, contrasts and the equal-means test, naive,
    classical and PPI++ side by side."""

    outcome: str
    codes: list[str]
    estimates: list[CodeOutcome]
    versus_rest: list[Contrast]
    pairwise: list[Contrast]
    tests: list[EqualMeansTest]
    n_gold: int
    n_annotated: int
    design: str
    binary: bool
    method: dict[str, str] = field(default_factory=lambda: dict(METHOD))
    notes: list[str] = field(default_factory=list)

    def estimate(self, code: str) -> CodeOutcome:
        return next(e for e in self.estimates if e.code == code)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "n_gold": self.n_gold,
            "n_annotated": self.n_annotated,
            "design": self.design,
            "method": self.method,
            "estimates": [e.to_json() for e in self.estimates],
            "versus_rest": [c.to_json() for c in self.versus_rest],
            "pairwise": [c.to_json() for c in self.pairwise],
            "equal_means": [t.to_json() for t in self.tests],
            "notes": self.notes,
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _cov(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Columnwise covariance matrix of ``a`` and ``b`` (rows = units, ``ddof = 0``)."""
    return (a - a.mean(axis=0)).T @ (b - b.mean(axis=0)) / a.shape[0]


def components(
    F: np.ndarray,
    Fhat_gold: np.ndarray,
    Fhat: np.ndarray,
    wn: np.ndarray,
    lam: np.ndarray,
    *,
    overlap: bool = True,
) -> Components:
    """PPI means of the columns of ``F`` (gold labels, ``n x K``) with predictions
    ``Fhat_gold`` on the gold and ``Fhat`` on every unit (``N x K``), fixed ``lam``
    (``K``) and normalised weights ``wn``, with their covariance (module doc).

    >>> F = np.array([[1.0], [0.0], [1.0], [1.0]])
    >>> c = components(F, F, np.vstack([F, F]), np.ones(4), np.array([0.0]))
    >>> float(c.theta[0]), round(float(c.sigma[0, 0]), 5)
    (0.75, 0.04688)
    """
    n, N = F.shape[0], Fhat.shape[0]
    rect = wn[:, None] * (F - lam[None, :] * Fhat_gold)
    theta = lam * Fhat.mean(axis=0) + rect.mean(axis=0)
    sigma = np.outer(lam, lam) * _cov(Fhat, Fhat) / N + _cov(rect, rect) / n
    if overlap:  # the gold units are among the N: their two parts covary
        cross = lam[:, None] * _cov(Fhat_gold, rect) / N
        sigma = sigma + cross + cross.T
    return Components(theta, sigma, lam)


def guard_extra(
    F: np.ndarray,
    Fhat_gold: np.ndarray,
    wn: np.ndarray,
    lam: np.ndarray,
    theta: np.ndarray,
    k: float,
) -> np.ndarray:
    """The small-cell guard: what to add to ``Sigma`` (PSD, zero where nothing is added).

    For code ``c`` the gold units fall in four cells (humans and annotator give ``c`` or
    not); ``k`` pseudo-units are added to each, half with the outcome ``ybar + s`` and
    half ``ybar - s`` (the mean and sd of the outcome over the gold units either side gave
    ``c``; for a 0/1 outcome the same two moments as ``k ybar`` units with ``Y = 1`` and
    the others ``Y = 0``), i.e. rectifier values ``((h - lam_1 a) y, h - lam_2 a)`` for
    the cell ``(h, a)``: with ``Y = 1`` (a code share) exactly
    :func:`.ppi.small_cell_adjustment`'s cells. Where the ratio's linearised rectifier
    ``r_1 - R_c r_2`` then has the larger variance, the difference over ``n`` is added
    along ``g = (1, -R_c)`` (``delta g g' / |g|^4``, rank one), so that ``Var(R_c)``
    gets the guarded variance.

    >>> F = np.array([[1.0, 1, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    >>> th = np.array([0.25, 0.25, 0.5])
    >>> extra = guard_extra(F, F, np.ones(4), np.ones(3), th, 1.0)
    >>> bool(extra[1, 1] > 0), float(extra[0, 0])
    (True, 0.0)
    """
    n, K = F.shape
    extra = np.zeros((K, K))
    y = F[:, 0]
    cells = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # (human, annotator)
    for c in range((K - 1) // 2):
        i, j = 1 + 2 * c, 2 + 2 * c
        either = (F[:, j] > 0) | (Fhat_gold[:, j] > 0)
        if not either.any() or not theta[j] > 0:
            continue
        ybar = float(np.average(y[either], weights=wn[either]))
        sd = math.sqrt(float(np.average((y[either] - ybar) ** 2, weights=wn[either])))
        g = np.array([1.0, -theta[i] / theta[j]])
        rect = (wn[:, None] * (F[:, [i, j]] - lam[[i, j]] * Fhat_gold[:, [i, j]])) @ g
        h, a = np.repeat(cells[:, 0], 2), np.repeat(cells[:, 1], 2)
        yp = np.tile([ybar + sd, ybar - sd], 4)
        pseudo = np.column_stack([(h - lam[i] * a) * yp, h - lam[j] * a]) @ g
        values = np.r_[rect, pseudo]
        wts = np.r_[np.ones(n), np.full(8, k / 2)]
        adj = float(np.average((values - np.average(values, weights=wts)) ** 2, weights=wts))
        raw = float(rect.var())
        if adj > raw:
            delta = (adj - raw) / n
            extra[np.ix_([i, j], [i, j])] += delta * np.outer(g, g) / float(g @ g) ** 2
    return extra


def _naive(Fhat: np.ndarray) -> Components:
    K = Fhat.shape[1]
    return Components(Fhat.mean(axis=0), _cov(Fhat, Fhat) / Fhat.shape[0], np.ones(K))


def ratio_lambdas(
    F: np.ndarray, Fhat_gold: np.ndarray, Fhat: np.ndarray, wn: np.ndarray
) -> np.ndarray:
    """One lambda per code, shared by its numerator and denominator: PPI++'s power
    tuning for an M-estimator (Angelopoulos, Duchi & Zrnic 2023, Sec. 6, 1-d case)
    on the ratio's estimating function ``z = 1c (Y - R)`` and its prediction
    ``z^ = 1c^ (Y - R)``, ``lambda = cov(z, z^) / ((1 + n/N) var(z^))`` with moments on
    the gold units, clipped to [0, 1]; 0 where :func:`.ppi.too_weak`. ``R`` is the
    humans' ratio (the annotator's where no gold unit carries the code).

    >>> F = np.array([[1.0, 1, 1], [2, 0, 0], [3, 3, 1], [4, 0, 0]])
    >>> [round(float(x), 3) for x in ratio_lambdas(F, F, np.vstack([F, F]), np.ones(4))]
    [0.0, 0.667, 0.667]
    """
    n, N = F.shape[0], Fhat.shape[0]
    out = np.zeros(F.shape[1])
    for c in range((F.shape[1] - 1) // 2):
        i, j = 1 + 2 * c, 2 + 2 * c
        num, den = np.average(F[:, i], weights=wn), np.average(F[:, j], weights=wn)
        if not den > 0:
            num, den = Fhat[:, i].mean(), Fhat[:, j].mean()
        if not den > 0:
            continue
        R = num / den
        z, zh = F[:, i] - R * F[:, j], Fhat_gold[:, i] - R * Fhat_gold[:, j]
        mz, mh = np.average(z, weights=wn), np.average(zh, weights=wn)
        vz = float(np.average((z - mz) ** 2, weights=wn))
        vh = float(np.average((zh - mh) ** 2, weights=wn))
        if vz <= 0 or vh <= 0:
            continue
        cov = float(np.average((z - mz) * (zh - mh), weights=wn))
        if too_weak(cov / math.sqrt(vz * vh), n):
            continue
        out[i] = out[j] = min(max(cov / ((1 + n / N) * vh), 0.0), 1.0)
    return out


def tuned_lambdas(F: np.ndarray, Fhat_gold: np.ndarray, Fhat: np.ndarray, wn: np.ndarray):
    """Per column, the power-tuned lambda of :func:`.ppi.ppi_mean_from_sums` (``ppi_py``'s
    rule, clipped to [0, 1]; 0 where the correlation is too weak to help)."""
    N = Fhat.shape[0]
    sums, sumsq = Fhat.sum(axis=0), (Fhat**2).sum(axis=0)
    out = np.zeros(F.shape[1])
    for k in range(F.shape[1]):
        est = ppi_mean_from_sums(
            F[:, k], Fhat_gold[:, k], N, float(sums[k]), float(sumsq[k]), w=wn, guard=False
        )
        out[k] = est.lam
    return out


def gold_lambdas(F: np.ndarray, Fhat_gold: np.ndarray, Fhat: np.ndarray, wn: np.ndarray):
    """Per column, PPI++'s optimal ``lambda = cov(f, f^) / ((1 + n/N) var(f^))``
    (Angelopoulos, Duchi & Zrnic 2023, Example 6.1) with both moments taken on the
    gold units (weighted), clipped to [0, 1]; 0 where :func:`.ppi.too_weak`."""
    n, N = F.shape[0], Fhat.shape[0]
    out = np.zeros(F.shape[1])
    for k in range(F.shape[1]):
        f, fh = F[:, k], Fhat_gold[:, k]
        mf, mh = np.average(f, weights=wn), np.average(fh, weights=wn)
        vh = float(np.average((fh - mh) ** 2, weights=wn))
        vf = float(np.average((f - mf) ** 2, weights=wn))
        if vh <= 0 or vf <= 0:
            continue
        c = float(np.average((f - mf) * (fh - mh), weights=wn))
        if too_weak(c / math.sqrt(vf * vh), n):
            continue
        out[k] = min(max(c / ((1 + n / N) * vh), 0.0), 1.0)
    return out


def _wald(value: float, var: float, alpha: float, method: str, bounds) -> Interval:
    if not (math.isfinite(value) and math.isfinite(var)):
        return Interval(math.nan, math.nan, math.nan, math.nan, method)
    se = math.sqrt(max(var, 0.0))
    z = z_value(alpha)
    lo, hi = value - z * se, value + z * se
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Interval(float(value), float(lo), float(hi), se, method)


def _wilson_eff(p: float, var: float, alpha: float, method: str, n_units: float) -> Interval:
    """For a share: the Wilson interval at the effective sample size
    ``p (1 - p) / Var(p)`` (Korn & Graubard 1998, Survey Methodology 24:193, for
    proportions from complex designs), at ``n_units`` (the units carrying the code)
    where that is undefined (``p`` is 0 or 1, or ``Var(p) = 0``); ``se`` stays the
    delta-method one.

    >>> i = _wilson_eff(1.0, 0.0, 0.05, "x", 20)
    >>> i.ci_high, round(i.ci_low, 3)
    (1.0, 0.839)
    """
    if not (math.isfinite(p) and math.isfinite(var)):
        return Interval(math.nan, math.nan, math.nan, math.nan, method)
    q = min(max(p, 0.0), 1.0)
    n_eff = q * (1 - q) / var if var > 0 else 0.0
    if not n_eff > 0:
        n_eff = n_units
    if not n_eff > 0:
        return _wald(p, var, alpha, method, (0.0, 1.0))
    i = wilson(q, n_eff, alpha, method)
    return Interval(float(p), i.ci_low, i.ci_high, math.sqrt(var), method)


def _ratio(comp: Components, c: int) -> tuple[float, np.ndarray]:
    """``R_c`` and its gradient in theta (NaN where no unit carries the code)."""
    i, j = 1 + 2 * c, 2 + 2 * c
    g = np.zeros(comp.theta.size)
    den = comp.theta[j]
    if not den > 0:
        return math.nan, g
    r = comp.theta[i] / den
    g[i], g[j] = 1 / den, -r / den
    return float(r), g


def _rest(comp: Components, c: int) -> tuple[float, np.ndarray]:
    """Mean outcome among units without code ``c``: ``(E[Y] - E[Y 1c]) / (1 - E[1c])``."""
    i, j = 1 + 2 * c, 2 + 2 * c
    g = np.zeros(comp.theta.size)
    den = 1 - comp.theta[j]
    if not den > 0:
        return math.nan, g
    r = (comp.theta[0] - comp.theta[i]) / den
    g[0], g[i], g[j] = 1 / den, -1 / den, r / den
    return float(r), g


def _h(p: float) -> tuple[float, float]:
    """Cohen's ``2 asin sqrt p`` and its derivative ``1 / sqrt(p (1 - p))``."""
    q = min(max(p, 0.0), 1.0)
    d = 1 / math.sqrt(q * (1 - q)) if 0 < q < 1 else math.nan
    return 2 * math.asin(math.sqrt(q)), d


def _check_arrays(Y, annotated, gold_index, human, w):
    y = np.asarray(Y, dtype=float).reshape(-1)
    A = np.asarray(annotated, dtype=float)
    gi = np.asarray(gold_index)
    H = np.asarray(human, dtype=float)
    if y.size == 0:
        raise InferenceInputError("no annotated units: Y is empty")
    if not np.all(np.isfinite(y)):
        raise InferenceInputError("the outcome Y must be finite on every annotated unit")
    if A.ndim != 2 or A.shape[0] != y.size:
        raise InferenceInputError(
            f"annotated must be a units x codes matrix with {y.size} rows, got shape {A.shape}"
        )
    if H.ndim != 2 or H.shape[1] != A.shape[1]:
        raise InferenceInputError(
            f"human has shape {H.shape}; it needs {A.shape[1]} columns, one per code"
        )
    if gi.ndim != 1 or gi.size != H.shape[0]:
        raise InferenceInputError(f"gold_index has {gi.size} entries for {H.shape[0]} gold rows")
    if gi.size == 0:
        raise InferenceInputError("no gold units")
    if not np.issubdtype(gi.dtype, np.integer) or gi.min() < 0 or gi.max() >= y.size:
        raise InferenceInputError(f"gold_index must hold row numbers in [0, {y.size})")
    if np.unique(gi).size != gi.size:
        raise InferenceInputError("gold_index names a unit twice")
    for name, M in (("annotated", A), ("human", H)):
        if not np.all((M == 0) | (M == 1)):
            raise InferenceInputError(f"{name} codes must be 0/1")
    return y, A, gi.astype(np.int64), H, normalised_weights(w, gi.size)


def outcome_means(
    Y: Any,
    annotated: Any,
    gold_index: Any,
    human: Any,
    *,
    codes: list[str],
    w: Any = None,
    alpha: float = 0.05,
    lam: float | str | None = None,
    outcome: str = "outcome",
    design: str = "uniform",
    pairwise: bool = True,
    guard: bool = True,
) -> OutcomeResult:
    """The mean of ``Y`` (every annotated unit) among units carrying each code: naive,
    classical and PPI++ (module doc), contrasts with the rest and between codes, and
    the equal-means Wald test. ``annotated``: units x codes 0/1 (the annotator);
    ``gold_index``: the gold units' rows; ``human``: gold x codes 0/1 (the humans);
    ``w``: the gold units' ``1 / inclusion_probability``; ``lam``: a fixed lambda for
    every component instead of power tuning.

    >>> Y = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    >>> A = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [0, 1]])
    >>> r = outcome_means(Y, A, np.arange(6), A[:6], codes=["x", "y"])
    >>> e = r.estimate("x")
    >>> e.naive.estimate, e.classical.estimate, round(e.ppi.estimate, 3)
    (3.25, 2.0, 2.714)
    """
    if not 0 < alpha < 1:
        raise InferenceInputError(f"alpha must be in (0, 1), got {alpha}")
    y, A, gi, H, wn = _check_arrays(Y, annotated, gold_index, human, w)
    C = A.shape[1]
    if len(codes) != C:
        raise InferenceInputError(f"{len(codes)} code names for {C} columns")
    N, n = y.size, gi.size
    Fhat = np.empty((N, 1 + 2 * C))
    Fhat[:, 0] = y
    Fhat[:, 1::2] = A * y[:, None]
    Fhat[:, 2::2] = A
    F = np.empty((n, 1 + 2 * C))
    F[:, 0] = y[gi]
    F[:, 1::2] = H * y[gi][:, None]
    F[:, 2::2] = H
    Fg = Fhat[gi]
    if lam is None:
        lams = ratio_lambdas(F, Fg, Fhat, wn)
    elif lam == "components":
        lams = gold_lambdas(F, Fg, Fhat, wn)
    elif lam == "ppi_py":
        lams = tuned_lambdas(F, Fg, Fhat, wn)
    else:
        if not 0 <= float(lam) <= 1:
            raise InferenceInputError(f"lam must be in [0, 1], got {lam}")
        lams = np.full(F.shape[1], float(lam))
    lams[0] = 1.0  # Y is observed: its 'prediction' is itself
    comp = {
        NAIVE: _naive(Fhat),
        CLASSICAL: components(F, Fg, Fhat, wn, np.r_[1.0, np.zeros(2 * C)]),
        PPI: components(F, Fg, Fhat, wn, lams),
    }
    if guard:
        extra = guard_extra(F, Fg, wn, lams, comp[PPI].theta, z_value(alpha) ** 2 / 4)
        comp[PPI] = Components(comp[PPI].theta, comp[PPI].sigma + extra, lams)
    binary = bool(np.all((y == 0) | (y == 1)))
    bounds = (float(y.min()), float(y.max()))

    def interval(kind: str, c: int, value: float, g: np.ndarray) -> Interval:
        var = float(g @ comp[kind].sigma @ g)
        if binary:
            count = A[:, c].sum() if kind == NAIVE else H[:, c].sum()
            return _wilson_eff(value, var, alpha, METHOD[kind], float(count))
        return _wald(value, var, alpha, METHOD[kind], bounds)

    estimates, rest_rows, pair_rows = [], [], []
    ratios: dict[str, list[tuple[float, np.ndarray]]] = {k: [] for k in KINDS}
    for c, code in enumerate(codes):
        row = {}
        for kind in KINDS:
            r, g = _ratio(comp[kind], c)
            ratios[kind].append((r, g))
            row[kind] = interval(kind, c, r, g)
        estimates.append(
            CodeOutcome(
                code,
                n,
                N,
                int(H[:, c].sum()),
                int(A[:, c].sum()),
                row[NAIVE],
                row[CLASSICAL],
                row[PPI],
                (float(lams[1 + 2 * c]), float(lams[2 + 2 * c])),
            )
        )
        others = {k: _rest(comp[k], c) for k in KINDS}
        rest_rows.append(_contrast(code, REST, ratios, others, c, comp, alpha, binary))
    if pairwise:
        for a in range(C):
            for b in range(a + 1, C):
                others = {k: ratios[k][b] for k in KINDS}
                pair_rows.append(
                    _contrast(codes[a], codes[b], ratios, others, a, comp, alpha, binary)
                )
    tests = [_equal_means(kind, ratios[kind], comp[kind].sigma) for kind in KINDS]
    return OutcomeResult(
        outcome,
        list(codes),
        estimates,
        rest_rows,
        pair_rows,
        [t for t in tests if t is not None],
        n,
        N,
        design,
        binary,
    )


def _contrast(code, versus, ratios, others, c, comp, alpha, binary) -> Contrast:
    rows: dict[str, Interval] = {}
    p: dict[str, float] = {}
    zs: dict[str, float] = {}
    hs: dict[str, Interval] = {}
    for kind in KINDS:
        r1, g1 = ratios[kind][c]
        r2, g2 = others[kind]
        g = g1 - g2
        var = float(g @ comp[kind].sigma @ g)
        method = f"difference of {kind} means (delta method)"
        rows[kind] = _wald(r1 - r2, var, alpha, method, None)
        se = rows[kind].se
        zs[kind] = (r1 - r2) / se if se > 0 else math.nan
        p[kind] = float(2 * _st.norm.sf(abs(zs[kind]))) if se > 0 else math.nan
        if binary:
            (h1, d1), (h2, d2) = _h(r1), _h(r2)
            gh = d1 * g1 - d2 * g2
            var_h = float(gh @ comp[kind].sigma @ gh)
            hs[kind] = _wald(h1 - h2, var_h, alpha, f"Cohen's h of {kind} shares", None)
    return Contrast(code, versus, rows[NAIVE], rows[CLASSICAL], rows[PPI], zs, p, hs or None)


def _equal_means(kind: str, ratios: list[tuple[float, np.ndarray]], sigma: np.ndarray):
    kept = [(r, g) for r, g in ratios if math.isfinite(r)]
    if len(kept) < 2:
        return None
    R = np.array([r for r, _ in kept])
    G = np.array([g for _, g in kept])
    D = np.diff(np.eye(R.size), axis=0)  # successive differences
    diff = D @ R
    V = D @ G @ sigma @ G.T @ D.T
    try:
        w = float(diff @ np.linalg.solve(V, diff))
    except np.linalg.LinAlgError:
        w = float(diff @ np.linalg.pinv(V) @ diff)
    df = R.size - 1
    return EqualMeansTest(kind, w, df, float(_st.chi2.sf(w, df)))


def outcome_by_code(
    outcome: pd.Series,
    annotated: pd.DataFrame,
    gold: pd.DataFrame,
    design: GoldDesign,
    *,
    codes: list[str] | None = None,
    alpha: float = 0.05,
    name: str = "outcome",
    code_col: str = "code",
    pairwise: bool = True,
) -> OutcomeResult:
    """:func:`outcome_means` from tables: ``outcome`` indexed by unit id over the
    population (every annotated unit with an observed outcome), the annotator's codes
    and the humans' codes as tables ``unit, <code_col>`` (a unit absent from
    ``annotated`` carries no code), and the gold ``design`` (its units, including gold
    units given no code, and their inclusion probabilities). Gold units outside the
    population are left out and counted in the notes; codes default to every code
    either side gave.

    >>> y = pd.Series([1.0, 0.0, 1.0, 0.0], index=["a", "b", "c", "d"])
    >>> ann = pd.DataFrame({"unit": ["a", "b", "c", "d"], "code": ["x", "x", "y", "y"]})
    >>> d = GoldDesign(["a", "b", "c", "d"], None, "uniform", False)
    >>> r = outcome_by_code(y, ann, ann, d)
    >>> [round(e.ppi.estimate, 2) for e in r.estimates], r.binary
    ([0.5, 0.5], True)
    """
    ids = pd.Index(outcome.index.astype(str))
    if ids.has_duplicates:
        raise InferenceInputError(f"{name}: a unit has two outcomes")
    if len(ids) == 0:
        raise InferenceInputError(f"{name}: no unit has an outcome")
    values = pd.to_numeric(outcome, errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise InferenceInputError(
            f"{name}: {int((~np.isfinite(values)).sum())} unit(s) without a numeric outcome"
        )
    for what, frame in (("annotated", annotated), ("gold", gold)):
        missing = [c for c in ("unit", code_col) if c not in frame.columns]
        if missing:
            raise InferenceInputError(f"{what}: missing column(s) {', '.join(missing)}")
    ann = annotated.dropna(subset=[code_col]).assign(unit=lambda f: f["unit"].astype(str))
    gld = gold.dropna(subset=[code_col]).assign(unit=lambda f: f["unit"].astype(str))
    if codes is None:
        codes = sorted(set(ann[code_col].astype(str)) | set(gld[code_col].astype(str)))
    if not codes:
        raise InferenceInputError("no codes: neither the annotator nor the humans gave any")
    code_pos = pd.Index(codes)
    A = np.zeros((len(ids), len(codes)))
    ri, ci = ids.get_indexer(ann["unit"]), code_pos.get_indexer(ann[code_col].astype(str))
    ok = (ri >= 0) & (ci >= 0)
    A[ri[ok], ci[ok]] = 1.0
    gold_units = pd.Index([str(u) for u in design.units])
    gi = ids.get_indexer(gold_units)
    inside = gi >= 0
    notes = []
    if not inside.all():
        notes.append(
            f"{int((~inside).sum())} gold unit(s) outside the {len(ids)} units with "
            f"{name} left out (a domain of the gold sample)"
        )
    if not inside.any():
        raise InferenceInputError(f"none of the {len(gold_units)} gold units has {name}")
    kept = gold_units[inside]
    H = np.zeros((int(inside.sum()), len(codes)))
    gr = kept.get_indexer(gld["unit"])
    gc = code_pos.get_indexer(gld[code_col].astype(str))
    ok = (gr >= 0) & (gc >= 0)
    H[gr[ok], gc[ok]] = 1.0
    w = design.weights[inside] if design.weights is not None else None
    if design.assumed_random:
        notes.append("the gold sample was ASSUMED to be a uniform random sample")
    result = outcome_means(
        values,
        A,
        gi[inside],
        H,
        codes=list(codes),
        w=w,
        alpha=alpha,
        outcome=name,
        design=design.description,
        pairwise=pairwise,
    )
    result.notes += notes
    return result


def read_gold_sample(
    path: str | Path, *, design: str | Path | None = None, assume_random: bool = False
) -> tuple[pd.DataFrame, GoldDesign]:
    """A gold long table ``unit,code`` (through :func:`ptmcoder.tables.read_long_table`)
    and its design: from ``design`` (``unit,inclusion_probability``, what ``ptmcoder
    sample gold`` writes), the gold's own ``inclusion_probability`` column, or assumed
    uniform when ``assume_random`` (:func:`.design.gold_design`)."""
    from ptmcoder.inference.design import gold_design
    from ptmcoder.tables import read_long_table, read_table

    gold = read_long_table(
        Path(path), required=("unit", "code"), hint="gold codes need columns unit and code"
    )
    frame = None
    if design is not None:
        frame = read_table(Path(design), header_hint="unit,inclusion_probability")
        if "unit" not in frame.columns and "unit_id" in frame.columns:
            frame = frame.rename(columns={"unit_id": "unit"})
    dsn = gold_design(
        gold,
        frame,
        assume_random=assume_random,
        source=str(path),
        design_source=str(design or "design"),
    )
    return gold, dsn


__all__ = [
    "REST",
    "CodeOutcome",
    "Components",
    "Contrast",
    "EqualMeansTest",
    "OutcomeResult",
    "components",
    "outcome_by_code",
    "outcome_means",
    "read_gold_sample",
    "tuned_lambdas",
]
