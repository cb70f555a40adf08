"""The two-proportion test: Tan et al.'s chi-square from counts, and scipy agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chi2_contingency, fisher_exact

from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.proportion import parse_counts, two_proportion_test

# Tan et al. (SANER 2024) Sec. V-C: 73.9% of 5,896 PTM questions have no accepted
# answer (4,357), against 57.8% of every other question since 2018. The baseline's
# size is not published; we assume 10,000,000 questions (5,780,000 without one).
PTM = (4357, 5896)
BASELINE = (5_780_000, 10_000_000)
PUBLISHED_CHI2 = 628.830


@pytest.mark.parametrize("correction", [False, True])
def test_reproduces_tan_chi_square_within_one_percent(correction):
    r = two_proportion_test(*PTM, *BASELINE, correction=correction)
    assert abs(r.chi2 - PUBLISHED_CHI2) / PUBLISHED_CHI2 < 0.01
    assert r.df == 1
    assert r.p_value < 1e-100
    assert round(r.p1, 3) == 0.739 and round(r.p2, 3) == 0.578
    assert r.correction is correction


@pytest.mark.parametrize("correction", [False, True])
@pytest.mark.parametrize("counts", [(PTM, BASELINE), ((30, 50), (20, 60)), ((3, 9), (7, 11))])
def test_equals_scipy_chi2_contingency(counts, correction):
    (x1, n1), (x2, n2) = counts
    r = two_proportion_test(x1, n1, x2, n2, correction=correction)
    chi2, p, df, _ = chi2_contingency(
        np.array([[x1, n1 - x1], [x2, n2 - x2]]), correction=correction
    )
    assert r.chi2 == pytest.approx(chi2, rel=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.df == df


def test_yates_lowers_the_statistic_and_says_so():
    plain = two_proportion_test(30, 50, 20, 60, correction=False)
    yates = two_proportion_test(30, 50, 20, 60, correction=True)
    assert yates.chi2 < plain.chi2
    assert "Yates" in yates.correction_text and "no continuity" in plain.correction_text


def test_effect_sizes():
    r = two_proportion_test(30, 50, 20, 60)
    assert r.risk_difference == pytest.approx(0.6 - 1 / 3)
    assert r.rd_ci_low < r.risk_difference < r.rd_ci_high
    assert r.cohens_h == pytest.approx(2 * np.arcsin(np.sqrt(0.6)) - 2 * np.arcsin(np.sqrt(1 / 3)))
    assert r.phi == pytest.approx(np.sqrt(r.chi2 / 110))


@pytest.mark.parametrize(
    "args,message",
    [
        ((6, 5, 1, 5), "between 0 and n"),
        ((1, 0, 1, 5), "must be positive"),
        ((0, 5, 0, 5), "undefined"),
    ],
)
def test_rejects_bad_counts(args, message):
    with pytest.raises(PtmcoderError, match=message):
        two_proportion_test(*args)


def test_parse_counts():
    assert parse_counts("4,357/5,896") == (4357, 5896)
    with pytest.raises(PtmcoderError, match="successes/total"):
        parse_counts("73.9%")


def test_cli_reproduces_from_counts(run_cli):
    result = run_cli(
        "stats",
        "proportion-test",
        "--counts",
        "4357/5896",
        "--counts",
        "5780000/10000000",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    tests = json.loads(result.stdout)["proportion_tests"]
    assert [t["correction"] for t in tests] == [False, True]
    assert tests[0]["chi2"] == pytest.approx(626.048, abs=1e-3)
    assert tests[0]["n"] == {"group 1": 5896, "group 2": 10_000_000}


def test_cli_table_states_correction(run_cli):
    result = run_cli(
        "stats",
        "proportion-test",
        "--counts",
        "30/50",
        "--counts",
        "20/60",
        "--correction",
        "yates",
    )
    assert result.exit_code == 0, result.stderr
    assert "Yates" in result.stdout and "none" not in result.stdout
    bad = run_cli("stats", "proportion-test", "--counts", "30/50")
    assert bad.exit_code != 0 and "exactly twice" in bad.stderr


def test_sample_size_in_the_stats_group_reproduces_339_and_260(run_cli):
    # Tan et al. Sec. VI-A: 339 of 2,829 questions; Banyongrakkul et al. Sec. III-C:
    # 260 of the 802 sampled issues; both at 95% confidence and a 5% margin.
    for population, expected in ((2829, 339), (802, 260)):
        result = run_cli("stats", "sample-size", "-N", str(population), "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["sample_size"] == expected


def test_small_expected_counts_warn_and_give_fisher_exact():
    r = two_proportion_test(2, 2, 40, 100)  # a group of 2: expected counts ~0.8 and 1.2
    assert r.min_expected < 5
    assert r.fisher_p_value == pytest.approx(fisher_exact(np.array([[2, 0], [40, 60]])).pvalue)
    assert r.warnings and "Fisher's exact" in r.warnings[0] and "n = 2 and 100" in r.warnings[0]
    assert r.to_dict()["warnings"] == list(r.warnings)
    big = two_proportion_test(4357, 5896, 5_780_000, 10_000_000)
    assert big.warnings == () and big.fisher_p_value is None and big.min_expected > 5
