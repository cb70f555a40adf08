"""Two-proportion chi-square test (the "proportion test" of Tan et al. RQ2).

Tan et al. (SANER 2024, Sec. V-C) compare the share of questions with no
accepted answer (*%no acc*) between PTM-related and PTM-unrelated questions and
report chi-square = 628.830, df = 1, p < 1e-100 for 73.9% of 5,896 PTM questions
against 57.8% of every other Stack Overflow question posted since 2018. Their
reference [29] is R's ``prop.test``, which by default applies Yates' continuity
correction. Assuming a baseline of 10,000,000 questions (5,780,000 without an
accepted answer) and 4,357 of 5,896 PTM questions (73.9%), chi-square is 626.05
without and 625.39 with the correction: both within 0.6% of the published
628.830 (the paper rounds its proportions, so an exact match is not expected;
see ``tests/test_stats_proportion.py``).

The statistic is Pearson's chi-square on the 2 x 2 table
``[[x1, n1 - x1], [x2, n2 - x2]]`` and is computed by
:func:`scipy.stats.chi2_contingency`, with ``correction`` passed through, so the
result always states whether Yates' correction was applied. When an expected count
is under 5 (Cochran 1954) the result carries a warning and Fisher's exact p-value
(:func:`scipy.stats.fisher_exact`).

>>> r = two_proportion_test(4357, 5896, 5_780_000, 10_000_000, correction=False)
>>> round(r.chi2, 2), r.df, r.p_value < 1e-100
(626.05, 1, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

from ptmcoder.errors import PtmcoderError

TEST_NAME = "Pearson chi-square test of two proportions (2x2 table)"
#: Cochran's rule: under this expected count the chi-square p-value is unreliable
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class ProportionTestResult:
    test: str
    x1: int
    n1: int
    x2: int
    n2: int
    p1: float
    p2: float
    chi2: float
    df: int
    p_value: float
    correction: bool
    risk_difference: float
    rd_ci_low: float
    rd_ci_high: float
    cohens_h: float
    phi: float
    confidence: float
    labels: tuple[str, str] = ("group 1", "group 2")
    #: smallest expected count of the 2 x 2 table under H0
    min_expected: float = float("nan")
    #: Fisher's exact two-sided p-value, given when an expected count is under 5
    fisher_p_value: float | None = None
    warnings: tuple[str, ...] = ()

    @property
    def correction_text(self) -> str:
        return (
            "Yates' continuity correction applied"
            if self.correction
            else "no continuity correction"
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["warnings"] = list(self.warnings)
        out["n"] = {self.labels[0]: self.n1, self.labels[1]: self.n2}
        out["correction_text"] = self.correction_text
        return out


def _check_counts(x: int, n: int, which: str) -> None:
    if isinstance(x, bool) or isinstance(n, bool) or int(x) != x or int(n) != n:
        raise PtmcoderError(f"{which}: counts must be whole numbers, got {x}/{n}")
    if n <= 0:
        raise PtmcoderError(f"{which}: the group size must be positive, got {n}")
    if not 0 <= x <= n:
        raise PtmcoderError(f"{which}: successes must be between 0 and n, got {x}/{n}")


def two_proportion_test(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    correction: bool = False,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("group 1", "group 2"),
) -> ProportionTestResult:
    """Chi-square test of H0: p1 = p2 for ``x1`` of ``n1`` against ``x2`` of ``n2``.

    ``correction`` is Yates' continuity correction (R ``prop.test`` default: on).
    Effect sizes: the risk difference p1 - p2 with a Wald CI, Cohen's h
    (2 asin sqrt p1 - 2 asin sqrt p2; Cohen 1988, ch. 6) and phi
    (sqrt(chi2 / N), uncorrected chi2).
    """
    _check_counts(x1, n1, labels[0])
    _check_counts(x2, n2, labels[1])
    if not 0 < confidence < 1:
        raise PtmcoderError(f"confidence must be in (0, 1), got {confidence}")
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype=np.float64)
    if (table.sum(axis=0) == 0).any():
        raise PtmcoderError(
            "the proportion test is undefined when every unit is in one outcome",
            hint="both groups are all-success or all-failure",
        )
    chi2, p, df, expected = _st.chi2_contingency(table, correction=correction)
    min_expected = float(expected.min())
    fisher = None
    notes: list[str] = []
    if min_expected < MIN_EXPECTED:
        # Cochran (1954): the chi-square approximation needs expected counts of 5 or more
        fisher = float(_st.fisher_exact(table).pvalue)
        notes.append(
            f"an expected count is under {MIN_EXPECTED:g} (smallest {min_expected:.2f}; "
            f"n = {n1} and {n2}): the chi-square p-value is unreliable, read Fisher's "
            f"exact p = {fisher:.4g}"
        )
    chi2_plain = chi2 if not correction else _st.chi2_contingency(table, correction=False)[0]
    p1, p2 = x1 / n1, x2 / n2
    rd = p1 - p2
    z = _st.norm.ppf(0.5 + confidence / 2)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    phi = math.sqrt(chi2_plain / (n1 + n2))
    return ProportionTestResult(
        test=TEST_NAME,
        x1=int(x1),
        n1=int(n1),
        x2=int(x2),
        n2=int(n2),
        p1=p1,
        p2=p2,
        chi2=float(chi2),
        df=int(df),
        p_value=float(p),
        correction=bool(correction),
        risk_difference=rd,
        rd_ci_low=float(rd - z * se),
        rd_ci_high=float(rd + z * se),
        cohens_h=h,
        phi=phi,
        confidence=confidence,
        labels=(labels[0], labels[1]),
        min_expected=min_expected,
        fisher_p_value=fisher,
        warnings=tuple(notes),
    )


def parse_counts(text: str) -> tuple[int, int]:
    """``"4357/5896"`` -> (4357, 5896)."""
    try:
        x, n = text.replace(",", "").replace("_", "").split("/")
        return int(x), int(n)
    except ValueError:
        raise PtmcoderError(
            f"cannot read counts {text!r}", hint="write successes/total, e.g. 4357/5896"
        ) from None
