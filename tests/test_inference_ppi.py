"""The estimators of ptmcoder.inference.ppi against ppi_py (PPI++ with power
tuning, weighted and not), and against closed forms where ppi_py has none
(classical = lam 0, the naive Wald interval, differences between groups)."""

from __future__ import annotations

import math

import numpy as np
import ppi_py
import pytest

from ptmcoder.inference.ppi import (
    InferenceInputError,
    classical_mean,
    difference,
    naive_from_sums,
    ppi_mean,
    ppi_mean_from_sums,
    too_weak,
    wilson,
    z_value,
)


def _case(rng, n, N, accuracy, weighted):
    yu = (rng.random(N) < rng.uniform(0.1, 0.6)).astype(float)
    y = (rng.random(n) < 0.4).astype(float)
    yh = np.where(rng.random(n) < accuracy, y, 1 - y)
    w = rng.uniform(0.5, 5, n) if weighted else None
    return y, yh, yu, w


@pytest.mark.parametrize("weighted", [False, True])
def test_sums_and_arrays_match_ppi_py(weighted):
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(60):
        n = int(rng.integers(20, 300))
        y, yh, yu, w = _case(rng, n, int(rng.integers(n, 4000)), 0.85, weighted)
        est = ppi_mean_from_sums(y, yh, yu.size, yu.sum(), (yu**2).sum(), w=w, guard=False)
        arrays = ppi_mean(y, yh, yu, w=w, guard=False)
        if est.fallback:
            continue
        lo, hi = ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05, w=w)
        point = np.ravel(ppi_py.ppi_mean_pointestimate(y, yh, yu, w=w))[0]
        for got in (est.ppi, arrays.ppi):
            assert got.ci_low == pytest.approx(lo[0], abs=1e-10)
            assert got.ci_high == pytest.approx(hi[0], abs=1e-10)
            assert got.estimate == pytest.approx(point, abs=1e-10)
        # the tuned lambda reproduces ppi_py's interval when passed explicitly
        lo2, hi2 = ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05, w=w, lam=est.lam)
        assert est.ppi.ci_low == pytest.approx(lo2[0], abs=1e-10)
        compared += 1
    assert compared > 40


def test_small_cell_guard_closed_form_and_large_n():
    # 40 gold units, annotator never disagrees with the humans: the rectifier
    # Y - lam*Yhat is (1 - lam) on the 10 positives, 0 elsewhere
    y = np.r_[np.ones(10), np.zeros(30)]
    yu = np.r_[np.ones(250), np.zeros(750)]
    est = ppi_mean_from_sums(y, y, 1000, 250.0, 250.0)
    raw = ppi_mean_from_sums(y, y, 1000, 250.0, 250.0, guard=False)
    lam, k = est.lam, z_value(0.05) ** 2 / 4
    rect = y * (1 - lam)
    pseudo = np.array([1 - lam, 1.0, -lam, 0.0])
    mean = (rect.sum() + k * pseudo.sum()) / (40 + 4 * k)
    var = (((rect - mean) ** 2).sum() + k * ((pseudo - mean) ** 2).sum()) / (40 + 4 * k)
    se = math.sqrt(lam**2 * yu.var() / 1000 + var / 40)
    assert "guard" in est.ppi.method and est.ppi.se == pytest.approx(se)
    assert est.ppi.ci_low == pytest.approx(raw.ppi.estimate - rect.mean() + mean - 1.959964 * se)
    assert est.ppi.estimate == raw.ppi.estimate and est.ppi.se > raw.ppi.se
    # many disagreements both ways: the guard changes the interval by < 1%
    rng = np.random.default_rng(2)
    y, yh, yu, _ = _case(rng, 2000, 20_000, 0.7, False)
    a = ppi_mean(y, yh, yu)
    lo, hi = ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05)
    assert a.ppi.width == pytest.approx(hi[0] - lo[0], rel=0.01)


def test_classical_is_ppi_py_with_lambda_zero():
    rng = np.random.default_rng(3)
    y, yh, yu, w = _case(rng, 150, 2000, 0.8, True)
    lo, hi = ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05, w=w, lam=0)
    got = classical_mean(y, w)
    assert (got.ci_low, got.ci_high) == (pytest.approx(lo[0]), pytest.approx(hi[0]))
    # unweighted: the textbook Wald interval p +- z sqrt(p(1-p)/n)
    p = y.mean()
    half = z_value(0.05) * math.sqrt(p * (1 - p) / y.size)
    assert classical_mean(y).ci_high == pytest.approx(p + half)


def test_classical_wilson_when_every_gold_unit_agrees():
    got = classical_mean(np.zeros(50))
    # Wilson (1927) at p = 0, n = 50: upper bound z^2 / (n + z^2)
    z = z_value(0.05)
    assert got.ci_low == 0.0
    assert got.ci_high == pytest.approx(z * z / (50 + z * z))
    assert "Wilson" in got.method
    assert wilson(0.5, 100, 0.05).ci_low == pytest.approx(0.4038, abs=1e-4)


def test_naive_is_the_wald_interval_over_every_unit():
    got = naive_from_sums(400, 100.0, 100.0)
    assert got.estimate == 0.25
    assert got.se == pytest.approx(math.sqrt(0.25 * 0.75 / 400))


def test_power_tuning_helps_a_good_annotator_and_effective_n():
    rng = np.random.default_rng(11)
    y, yh, yu, _ = _case(rng, 300, 10_000, 0.95, False)
    est = ppi_mean(y, yh, yu)
    assert not est.fallback and 0 < est.lam <= 1
    assert est.ppi.width < est.classical.width
    var_classical = y.var() / y.size
    assert est.effective_n == pytest.approx(300 * var_classical / est.ppi.se**2)
    assert est.effective_n > 300


def test_weak_annotator_reports_the_classical_interval():
    rng = np.random.default_rng(5)
    y = (rng.random(100) < 0.4).astype(float)
    yh = (rng.random(100) < 0.4).astype(float)  # independent of the humans
    yu = (rng.random(1000) < 0.4).astype(float)
    r = np.corrcoef(y, yh)[0, 1]
    est = ppi_mean_from_sums(y, yh, 1000, yu.sum(), yu.sum())
    assert r < 1 / math.sqrt(98)  # this seed draws a weak annotator
    assert est.fallback and too_weak(r, 100)
    assert est.ppi.ci_low == est.classical.ci_low and est.effective_n == 100
    assert est.note == f"PPI = classical: r = {r:.3f} < 1/sqrt(n-2) = {1 / math.sqrt(98):.3f}"


def test_difference_closed_form_on_a_hand_made_case():
    # two disjoint groups, each estimated with ppi_py; Var(a - b) = Var(a) + Var(b)
    ya, yha = np.array([1.0, 1, 0, 0, 1, 1, 0, 1]), np.array([1.0, 1, 0, 1, 1, 1, 0, 1])
    yb, yhb = np.array([0.0, 0, 1, 0, 0, 1, 0, 0]), np.array([0.0, 0, 1, 0, 1, 1, 0, 0])
    ua, ub = np.r_[yha, yha, yha], np.r_[yhb, yhb]
    a, b = ppi_mean(ya, yha, ua), ppi_mean(yb, yhb, ub)
    d = difference(a.ppi, b.ppi)
    assert d.estimate == pytest.approx(a.ppi.estimate - b.ppi.estimate)
    assert d.se == pytest.approx(math.hypot(a.ppi.se, b.ppi.se))
    assert d.ci_high - d.estimate == pytest.approx(z_value(0.05) * d.se)


def test_inputs_are_validated_with_exact_messages():
    with pytest.raises(InferenceInputError, match="Y has 2 gold codes but Yhat has 3"):
        ppi_mean_from_sums([1, 0], [1, 0, 1], 10, 3, 3)
    with pytest.raises(InferenceInputError, match="fewer than the 2 gold units"):
        ppi_mean_from_sums([1, 0], [1, 0], 1, 1, 1)
    with pytest.raises(InferenceInputError, match="weights must be finite and > 0"):
        ppi_mean_from_sums([1, 0, 1], [1, 0, 1], 10, 3, 3, w=[1, 0, 2])
    with pytest.raises(InferenceInputError, match=r"alpha must be in \(0, 1\)"):
        z_value(1.5)


@pytest.mark.parametrize("name", ["ppi", "design", "prevalence", "planning"])
def test_the_modules_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(f"ptmcoder.inference.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
