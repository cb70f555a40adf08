"""Paired codings of the same units: Stuart-Maxwell / Bhapkar and McNemar per code,
checked against statsmodels directly; the independent chi-square where samples are
independent, with its small-count warning; Cramér's V whose CI contains it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import MonteCarloMethod, chi2_contingency, ncx2
from statsmodels.stats.contingency_tables import SquareTable, mcnemar

from ptmcoder.stats.shift import (
    cramers_v_ci,
    distribution_shift,
    independent_chi2,
    marginal_homogeneity,
    mcnemar_code,
    mcnemar_per_code,
    monte_carlo_chi2,
    paired_table,
)

CODES = ["dl-fault", "false-positive", "generic", "unclear"]
#: the demo's few-shot ("supervised") rater (rows) against the gold labels (columns) on
#: the 470 units both coded, as issue 24 found it (runs/...-demo, main at 844a3a3)
DEMO = [[42, 13, 10, 5], [53, 289, 35, 4], [4, 4, 10, 1], [0, 0, 0, 0]]
#: the 7 units the few-shot rater coded and the gold did not
DEMO_ONLY_A = ["generic"] + ["false-positive"] * 6


def demo_codings() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    a: dict[str, list[str]] = {}
    b: dict[str, list[str]] = {}
    i = 0
    for r, row in enumerate(DEMO):
        for c, count in enumerate(row):
            for _ in range(count):
                a[f"u{i}"], b[f"u{i}"] = [CODES[r]], [CODES[c]]
                i += 1
    for code in DEMO_ONLY_A:
        a[f"u{i}"] = [code]
        i += 1
    return a, b


def test_demo_few_shot_vs_gold_is_stuart_maxwell_59_98_not_chi_square_40_73():
    a, b = demo_codings()
    out = distribution_shift(a, b)
    expected = SquareTable(np.array(DEMO, dtype=float), shift_zeros=False)
    sm, bh = expected.homogeneity("stuart_maxwell"), expected.homogeneity("bhapkar")
    assert out["design"] == "paired"
    assert out["test"].startswith("Stuart-Maxwell")
    assert out["statistic"] == pytest.approx(sm.statistic)
    assert round(out["statistic"], 2) == 59.98  # the figure
    assert out["df"] == 3 and out["p_value"] == pytest.approx(sm.pvalue)
    assert out["bhapkar"]["statistic"] == pytest.approx(bh.statistic)
    assert out["n"] == 470 and out["shared_units"] == 470
    assert out["excluded_units"] == {
        "multi_label": 0,
        "uncoded": 0,
        "only_in_a": 7,
        "only_in_b": 0,
    }
    assert out["table"] == DEMO
    # what the report printed: the independent-samples chi-square on the same codings
    table = np.array([out["counts_a"], out["counts_b"]])
    old = chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
    assert round(old.statistic, 2) == 40.73


def test_mcnemar_per_code_matches_statsmodels_and_has_effect_sizes():
    a, b = demo_codings()
    out = distribution_shift(a, b)
    rows = {r["code"]: r for r in out["mcnemar"]}
    assert sorted(rows) == CODES
    t = np.array(DEMO)
    for j, code in enumerate(CODES):
        r = rows[code]
        b_, c_ = int(t[j].sum() - t[j, j]), int(t[:, j].sum() - t[j, j])  # A only, B only
        assert (r["a_only"], r["b_only"], r["n"]) == (b_, c_, 470)
        ref = mcnemar(
            np.array([[t[j, j], b_], [c_, 470 - t[j, j] - b_ - c_]]),
            exact=b_ + c_ < 25,
            correction=True,
        )
        assert r["p_value"] == pytest.approx(ref.pvalue)
        assert r["statistic"] == pytest.approx(ref.statistic)
        assert r["exact"] is (b_ + c_ < 25)
        assert r["difference"] == pytest.approx((b_ - c_) / 470)
        assert r["difference_ci_low"] <= r["difference"] <= r["difference_ci_high"]
        if b_ and c_:
            assert r["odds_ratio"] == pytest.approx(b_ / c_)
            assert r["odds_ratio_ci_low"] <= r["odds_ratio"] <= r["odds_ratio_ci_high"]
    # few-shot gives dl-fault to 70 units, gold to 99: exact Wald CI of the difference
    dl = rows["dl-fault"]
    se = math.sqrt((28 + 57) - (28 - 57) ** 2 / 470) / 470
    assert dl["difference_ci_low"] == pytest.approx((28 - 57) / 470 - 1.959964 * se, abs=1e-6)
    # 'unclear': A never uses it, B 10 times, all discordant -> exact test, no odds ratio
    assert rows["unclear"]["exact"] and rows["unclear"]["odds_ratio"] is None
    holm = [r["p_holm"] for r in out["mcnemar"]]
    assert all(h >= r["p_value"] for h, r in zip(holm, out["mcnemar"], strict=True))
    assert out["effect"]["ci_low"] <= out["effect"]["value"] <= out["effect"]["ci_high"]


def test_mcnemar_exact_switch_and_no_discordant_pairs():
    x = np.array([1, 1, 0, 0, 1])
    same = mcnemar_code(x, x)
    assert same["p_value"] == 1.0 and same["difference"] == 0.0
    big_a = np.array([1] * 40 + [0] * 60)
    big_b = np.array([0] * 40 + [0] * 60)
    r = mcnemar_code(big_a, big_b)
    assert not r["exact"] and r["df"] == 1
    assert r["statistic"] == pytest.approx((40 - 1) ** 2 / 40)


def test_multi_label_units_are_left_out_of_the_square_table_and_counted():
    a = {"u1": ["x"], "u2": ["x", "y"], "u3": ["y"], "u4": [], "u5": ["y"]}
    b = {"u1": ["y"], "u2": ["x"], "u3": ["y"], "u4": ["x"], "u5": ["x"]}
    labels, table, excluded = paired_table(a, b, sorted(a))
    assert labels == ["x", "y"] and table.tolist() == [[0, 1], [1, 1]]
    assert excluded == {"multi_label": 1, "uncoded": 1}
    out = distribution_shift(a, b)
    assert out["n"] == 3 and out["shared_units"] == 5
    assert any("several codes" in w for w in out["warnings"])
    rows = mcnemar_per_code(a, b, sorted(a))
    assert [r["n"] for r in rows] == [5, 5]  # McNemar covers every shared unit


def test_marginal_homogeneity_of_perfect_agreement_and_bad_input():
    r = marginal_homogeneity(np.diag([5, 7, 3]))
    assert r["stuart_maxwell"]["statistic"] == 0.0 and r["stuart_maxwell"]["p_value"] == 1.0
    # a code with no discordant pair is left out (its margins are equal by construction)
    r = marginal_homogeneity(np.array([[5, 2, 0], [8, 4, 0], [0, 0, 6]]))
    assert r["stuart_maxwell"]["statistic"] == pytest.approx((2 - 8) ** 2 / 10)
    assert r["stuart_maxwell"]["df"] == 1 and "left out" in r["note"]
    with pytest.raises(Exception, match="square table"):
        marginal_homogeneity(np.zeros((2, 3)))


# -- independent samples -----------------------------------------------------------------


def test_disjoint_samples_use_the_independent_chi_square():
    rng = np.random.default_rng(1)
    codes = ["x", "y", "z"]
    a = {f"a{i}": [codes[rng.integers(3)]] for i in range(60)}
    b = {f"b{i}": [codes[min(2, rng.integers(4))]] for i in range(50)}
    out = distribution_shift(a, b)
    assert out["design"] == "independent"
    table = np.array([out["counts_a"], out["counts_b"]])
    ref = chi2_contingency(table, correction=False)
    assert out["statistic"] == pytest.approx(ref.statistic)
    assert out["p_value"] == pytest.approx(ref.pvalue) and out["df"] == ref.dof
    assert out["cramers_v_plain"] == pytest.approx(math.sqrt(ref.statistic / table.sum()))
    assert out["ci_low"] <= out["cramers_v"] <= out["ci_high"]
    assert out["min_expected"] >= 5 and out["warnings"] == []


def test_small_expected_counts_warn_and_give_a_monte_carlo_p_value():
    table = np.array([[3, 1, 0, 2], [0, 4, 2, 1]])
    out = independent_chi2(table, n_resamples=4999, seed=2)
    assert out["min_expected"] < 5
    assert out["warnings"] and "under 5" in out["warnings"][0]
    ref = chi2_contingency(
        table, correction=False, method=MonteCarloMethod(n_resamples=4999, rng=3)
    ).pvalue
    assert out["p_value_monte_carlo"] == pytest.approx(ref, abs=0.03)
    assert monte_carlo_chi2(table, n_resamples=999, seed=1) == pytest.approx(ref, abs=0.05)


def test_cramers_v_ci_contains_its_estimate_where_the_bootstrap_did_not():
    # sparse 2 x 20 table, the case of the issue (V 0.655, CI [0.659, 0.814]): the
    # percentile bootstrap of plain V put the whole interval above the estimate
    rng = np.random.default_rng(1)
    a = {f"a{i}": [f"c{rng.integers(20)}"] for i in range(50)}
    b = {f"b{i}": [f"c{rng.integers(20)}"] for i in range(50)}
    out = distribution_shift(a, b)
    plain = out["cramers_v_plain"]
    # the old bootstrap, reproduced: resample each side's units, recompute plain V
    xa = np.array([[c == f"c{k}" for k in range(20)] for cs in a.values() for c in cs])
    xb = np.array([[c == f"c{k}" for k in range(20)] for cs in b.values() for c in cs])
    boot = []
    for _ in range(400):
        ta = xa[rng.integers(0, 50, 50)].sum(axis=0)
        tb = xb[rng.integers(0, 50, 50)].sum(axis=0)
        t = np.array([ta, tb])
        t = t[:, t.sum(axis=0) > 0]
        boot.append(math.sqrt(chi2_contingency(t, correction=False).statistic / t.sum()))
    assert np.quantile(boot, 0.025) > plain  # the bug: the CI excluded its estimate
    assert out["ci_low"] <= out["cramers_v"] <= out["ci_high"]


@pytest.mark.parametrize(
    "chi2,n,shape", [(0.5, 30, (2, 5)), (10.1, 40, (2, 12)), (80, 300, (3, 4))]
)
def test_cramers_v_ci_inverts_the_noncentral_chi_square(chi2, n, shape):
    v, lo, hi, plain = cramers_v_ci(chi2, n, shape)
    k, df = min(shape) - 1, (shape[0] - 1) * (shape[1] - 1)
    assert lo <= v <= hi and plain == pytest.approx(math.sqrt(chi2 / (n * k)))
    assert v == pytest.approx(math.sqrt(max(chi2 - df, 0) / (n * k)))
    lam_hi = hi**2 * n * k
    assert ncx2.cdf(chi2, df, lam_hi) == pytest.approx(0.025, abs=1e-6)
    lam_lo = lo**2 * n * k
    if lam_lo > 0:
        assert ncx2.cdf(chi2, df, lam_lo) == pytest.approx(0.975, abs=1e-6)
