"""Cliff's delta and friends against brute force and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kruskal, mannwhitneyu

from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.effect_sizes import (
    cliffs_delta,
    cramers_v,
    epsilon_squared,
    magnitude,
    rank_biserial_from_u,
)


def _brute(x, y):
    """Cliff (1996) consistent variance from the full dominance matrix."""
    D = np.sign(np.subtract.outer(np.asarray(x, float), np.asarray(y, float)))
    n, m = D.shape
    d = D.mean()
    di, dj = D.mean(axis=1), D.mean(axis=0)
    var = (m * m * ((di - d) ** 2).sum() + n * n * ((dj - d) ** 2).sum() - ((D - d) ** 2).sum()) / (
        n * m * (n - 1) * (m - 1)
    )
    return d, max(var, (1 - d * d) / (n * m - 1))


@pytest.mark.parametrize("seed", range(5))
def test_delta_and_variance_match_the_dominance_matrix(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 15, rng.integers(5, 40))  # many ties
    y = rng.integers(0, 15, rng.integers(5, 40))
    d, var = _brute(x, y)
    r = cliffs_delta(x, y)
    assert r.delta == pytest.approx(d, abs=1e-12)
    assert r.se == pytest.approx(np.sqrt(var), rel=1e-9)
    assert r.ci_low <= r.delta <= r.ci_high
    assert (r.n_x, r.n_y) == (len(x), len(y))


def test_rank_biserial_from_scipy_u_equals_delta():
    rng = np.random.default_rng(1)
    x, y = rng.exponential(2, 60), rng.exponential(1, 45)
    u = mannwhitneyu(x, y, alternative="greater").statistic
    assert rank_biserial_from_u(u, 60, 45) == pytest.approx(cliffs_delta(x, y).delta)


def test_ci_covers_the_true_delta_about_95_percent():
    # X ~ Exp(rate 1), Y ~ Exp(rate 1/0.7): P(X > Y) - P(X < Y) = (ly - lx) / (lx + ly)
    rng = np.random.default_rng(7)
    lx, ly = 1.0, 1 / 0.7
    true = (ly - lx) / (lx + ly)
    hits = sum(
        r.ci_low <= true <= r.ci_high
        for r in (
            cliffs_delta(rng.exponential(1, 40), rng.exponential(0.7, 50)) for _ in range(400)
        )
    )
    assert 0.92 <= hits / 400 <= 0.98


def test_separated_and_identical_samples():
    assert cliffs_delta([5, 6, 7], [1, 2]).delta == 1.0
    same = cliffs_delta([1, 2, 3], [1, 2, 3])
    assert same.delta == 0.0 and same.ci_low < 0 < same.ci_high


def test_magnitude_thresholds_of_romano_et_al():
    assert [magnitude(v) for v in (0.1, -0.2, 0.4, 0.5)] == [
        "negligible",
        "small",
        "medium",
        "large",
    ]


def test_epsilon_squared_and_cramers_v():
    groups = [[1, 2, 3, 4], [3, 4, 5, 6], [6, 7, 8, 9]]
    h = kruskal(*groups).statistic
    assert epsilon_squared(h, 12) == pytest.approx(h / 11)
    assert cramers_v(10.0, 100, (2, 3)) == pytest.approx(np.sqrt(10 / 100))


def test_rejects_bad_input():
    with pytest.raises(PtmcoderError, match="empty"):
        cliffs_delta([], [1])
    with pytest.raises(PtmcoderError, match="NaN"):
        cliffs_delta([1, float("nan")], [1])
    with pytest.raises(PtmcoderError, match="between 0 and"):
        rank_biserial_from_u(7, 2, 3)
