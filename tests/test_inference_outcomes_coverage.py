"""Coverage of the per-code outcome intervals (ptmcoder.inference.outcomes) over
synthetic replications, with annotator errors biased toward one code so that the naive
estimate is biased.

Design: N = 5,000 units, one true code each (a 0.5, b 0.3, c 0.2); the annotator is
right for 80% of units and otherwise says a (b when the truth is a); a uniform gold
sample of n = 500. Outcome: resolution days ~ exponential with mean 5 / 20 / 40 by
true code, or a no-accepted-answer indicator with probability 0.3 / 0.6 / 0.8. The
truth is the superpopulation value (the code's mean; for "rest" the other codes'
weighted mean), so a valid 95% interval covers it in 95% of replications: each code's
coverage over R = 300 replications must not fall below 0.95 by more than three binomial
standard errors (0.95 - 3 sqrt(0.95 * 0.05 / 300) = 0.912).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ptmcoder.inference.outcomes import outcome_means

R, N, n = 300, 5_000, 500
P = np.array([0.5, 0.3, 0.2])
MEANS = {"days": np.array([5.0, 20.0, 40.0]), "no_acc": np.array([0.3, 0.6, 0.8])}
FLOOR = 0.95 - 3 * math.sqrt(0.95 * 0.05 / R)


def _replications(outcome: str, seed: int):
    rng = np.random.default_rng(seed)
    mu = MEANS[outcome]
    for _ in range(R):
        t = rng.choice(3, size=N, p=P)
        if outcome == "days":
            y = rng.exponential(mu[t])
        else:
            y = (rng.random(N) < mu[t]).astype(float)
        a = t.copy()
        err = rng.random(N) < 0.2
        a[err] = np.where(t[err] == 0, 1, 0)
        gi = rng.choice(N, size=n, replace=False)
        yield outcome_means(y, np.eye(3)[a], gi, np.eye(3)[t][gi], codes=["a", "b", "c"])


@pytest.mark.parametrize(("outcome", "seed"), [("days", 20), ("no_acc", 21)])
def test_ppi_intervals_cover_and_naive_ones_do_not(outcome: str, seed: int) -> None:
    mu = MEANS[outcome]
    rest = np.array([(P @ mu - P[c] * mu[c]) / (1 - P[c]) for c in range(3)])
    hits = {k: np.zeros(3) for k in ("naive", "classical", "ppi")}
    rest_hits, pair_hits = np.zeros(3), 0
    width = {"classical": 0.0, "ppi": 0.0}
    for r in _replications(outcome, seed):
        for c, e in enumerate(r.estimates):
            for kind, got in hits.items():
                iv = getattr(e, kind)
                got[c] += iv.ci_low <= mu[c] <= iv.ci_high
            width["classical"] += e.classical.width
            width["ppi"] += e.ppi.width
        for c, ct in enumerate(r.versus_rest):
            rest_hits[c] += ct.ppi.ci_low <= mu[c] - rest[c] <= ct.ppi.ci_high
        ab = r.pairwise[0]
        pair_hits += ab.ppi.ci_low <= mu[0] - mu[1] <= ab.ppi.ci_high
    cover = {k: v / R for k, v in hits.items()}
    assert (cover["ppi"] >= FLOOR).all(), cover["ppi"]
    assert (rest_hits / R >= FLOOR).all(), rest_hits / R
    assert pair_hits / R >= FLOOR
    assert (cover["classical"] >= FLOOR).all(), cover["classical"]
    # the naive estimate is biased for the codes the errors go to / come from
    assert cover["naive"][0] < 0.5 and cover["naive"][1] < 0.5, cover["naive"]
    # the annotator is worth something: PPI++ narrower than the humans alone
    assert width["ppi"] < 0.8 * width["classical"]


@pytest.mark.parametrize(("outcome", "seed"), [("days", 22), ("no_acc", 23)])
def test_stratified_gold_with_weights_covers(outcome: str, seed: int) -> None:
    """Gold drawn stratified by the annotator's code (200 per code, so the rarer codes
    are oversampled), each unit weighted by 1 / inclusion probability."""
    rng = np.random.default_rng(seed)
    mu = MEANS[outcome]
    hits = np.zeros(3)
    for _ in range(R):
        t = rng.choice(3, size=N, p=P)
        y = rng.exponential(mu[t]) if outcome == "days" else (rng.random(N) < mu[t]) * 1.0
        a = t.copy()
        err = rng.random(N) < 0.2
        a[err] = np.where(t[err] == 0, 1, 0)
        gold, pi = [], np.empty(N)
        for c in range(3):
            stratum = np.flatnonzero(a == c)
            k = min(200, stratum.size)
            gold += rng.choice(stratum, size=k, replace=False).tolist()
            pi[stratum] = k / stratum.size
        gi = np.array(gold)
        r = outcome_means(
            y, np.eye(3)[a], gi, np.eye(3)[t][gi], codes=["a", "b", "c"], w=1 / pi[gi]
        )
        for c, e in enumerate(r.estimates):
            hits[c] += e.ppi.ci_low <= mu[c] <= e.ppi.ci_high
    assert (hits / R >= FLOOR).all(), hits / R
