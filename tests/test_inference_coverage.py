"""The intervals are valid: a small run of ``benchmarks/bench_inference.py`` (200
replications; the full benchmark runs 1,000). PPI++ coverage of every code must be
within a binomial tolerance of 0.95; the naive interval must fail where the
annotator is biased; PPI++ must be narrower than the humans alone."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REPS = 200
#: three binomial standard errors below 0.95 at 200 replications (0.904)
TOLERANCE = 0.95 - 3 * math.sqrt(0.95 * 0.05 / REPS)


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_inference
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return bench_inference


@pytest.mark.parametrize("regime", ["random", "biased", "covariate"])
def test_ppi_covers_and_is_narrower(bench, regime):
    res = bench.synthetic(regime, 100, REPS, seed=11)
    ppi, classical, naive = res["ppi"], res["classical"], res["naive"]
    assert ppi["min_cell_coverage"] >= TOLERANCE, ppi
    assert ppi["coverage"] >= 0.93, ppi
    assert ppi["mean_width"] < classical["mean_width"]
    assert naive["coverage"] < 0.5  # N = 10,000 makes the naive interval narrow and wrong
    if regime == "random":
        assert res["ppi_width_vs_classical"] < 0.8
