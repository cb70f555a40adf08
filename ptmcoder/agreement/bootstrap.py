"""Seeded bootstrap over units, vectorised.

Every coefficient is ``finish(sum over units of per-unit columns)``
(:class:`~ptmcoder.agreement.coefficients.Statistic`). A bootstrap resample of
units is a vector of multiplicities ``w`` (how often each unit was drawn), and
the resampled sums are ``w @ stats``. So B resamples of every coefficient at
once are one matrix product ``W @ S`` over the stacked columns of all
statistics, done in chunks of resamples to bound memory; no Python loop runs
per resample or per unit.

Intervals are percentile intervals (Efron & Tibshirani 1993, ch. 13) over the
resamples where the coefficient is defined; how many were undefined is
reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptmcoder.agreement.coefficients import Statistic

DEFAULT_RESAMPLES = 1000
#: bound on resamples x units held in memory at once (float64 weights)
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    n_boot: int
    n_defined: int


def resample_weights(n_units: int, rng: np.random.Generator, chunk: int) -> np.ndarray:
    """(chunk, n_units) multiplicities of units drawn with replacement."""
    idx = rng.integers(0, n_units, size=(chunk, n_units))
    idx += (np.arange(chunk, dtype=idx.dtype) * n_units)[:, None]
    return (
        np.bincount(idx.ravel(), minlength=chunk * n_units)
        .reshape(chunk, n_units)
        .astype(np.float64)
    )


def bootstrap_sums(
    statistics: list[Statistic], *, n_boot: int = DEFAULT_RESAMPLES, seed: int = 0
) -> list[np.ndarray]:
    """Resampled column sums, (n_boot, m_i) for each statistic; all statistics
    share the same resamples of units (so differences between them are paired)."""
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not statistics:
        return []
    n_units = statistics[0].stats.shape[0]
    if any(s.stats.shape[0] != n_units for s in statistics):
        raise ValueError("all statistics must have one row per unit of the same unit list")
    widths = [s.stats.shape[1] for s in statistics]
    stacked = np.hstack([s.stats for s in statistics])
    out = np.empty((n_boot, stacked.shape[1]))
    if n_units == 0 or n_boot == 0:
        out[:] = 0.0
    else:
        rng = np.random.default_rng(seed)
        chunk = max(1, min(n_boot, CHUNK_CELLS // max(n_units, 1)))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            w = resample_weights(n_units, rng, b)
            out[start : start + b] = w @ stacked
    parts = np.split(out, np.cumsum(widths)[:-1], axis=1)
    return parts


def percentile_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Interval(None, None, int(values.size), 0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(low), float(high), int(values.size), int(finite.size))


def finish_all(statistic: Statistic, sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return statistic.finish(sums)
