"""Seeded bootstrap over units, vectorised.

Every coefficient is ``finish(sum over units of per-unit columns)``
(:class:`~ptmcoder.agreement.coefficients.Statistic`). A bootstrap resample of
units is a vector of multiplicities ``w`` (how often each unit was drawn), and
the resampled sums are ``w @ stats``. So B resamples of every coefficient at
once are one matrix product ``W @ S`` over the stacked columns of all
statistics, done in chunks of resamples to bound memory; no Python loop runs
per resample or per unit.

Units with identical rows of ``S`` (on a rating matrix: the same codes from the
same raters; a 100,000-unit table with 5 raters and 5 codes has a few thousand
such patterns) are merged first: ``W @ S = (W @ P) @ S_u`` where ``S_u`` holds
the distinct rows and ``W @ P`` counts, per resample, the draws that fell on
each pattern (one ``bincount`` of the drawn units' pattern ids). The draws are
the same as without merging, so the intervals are the same (sums of the same
terms in another order, equal to the last few bits).

Intervals are percentile intervals (Efron & Tibshirani 1993, ch. 13) over the
resamples where the coefficient is defined; how many were undefined is
reported.

The number of resamples is bounded by :data:`MAX_BOOTSTRAP` (checked by
:func:`check_resamples`, here in :func:`bootstrap_sums` so every caller gets it):
``--bootstrap 10^10`` asked numpy for a 131 TiB array.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ptmcoder.agreement.coefficients import Statistic
from ptmcoder.errors import ConfigError

DEFAULT_RESAMPLES = 1000
#: the most bootstrap resamples ptmcoder draws: a 95% percentile interval from
#: 100,000 resamples moves by less than its printed precision when drawn again, and
#: the (resamples x statistics) array of sums stays in memory (800 MB at 1,000 columns)
MAX_BOOTSTRAP = 100_000


class BootstrapSizeError(ConfigError, ValueError):
    """A number of bootstrap resamples below 0 or above :data:`MAX_BOOTSTRAP`."""


def check_resamples(n_boot: object, name: str = "--bootstrap") -> int:
    """``n_boot`` as an int in ``0..MAX_BOOTSTRAP``; else :class:`BootstrapSizeError`
    naming ``name`` (the option or study key) and the limit.

    >>> check_resamples(1000)
    1000
    >>> try:
    ...     check_resamples(10**12)
    ... except BootstrapSizeError as exc:
    ...     print(exc.message)
    --bootstrap 1000000000000 is above the limit of 100,000 resamples (MAX_BOOTSTRAP)
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer):
        raise BootstrapSizeError(f"{name} {n_boot!r} is not a whole number of resamples")
    n = int(n_boot)
    if n < 0:
        raise BootstrapSizeError(f"{name} {n} is below 0", hint="0 skips the intervals")
    if n > MAX_BOOTSTRAP:
        raise BootstrapSizeError(
            f"{name} {n} is above the limit of {MAX_BOOTSTRAP:,} resamples (MAX_BOOTSTRAP)",
            hint="1,000 to 10,000 resamples are usual; 0 skips the intervals",
        )
    return n


#: bound on resamples x units held in memory at once (float64 weights)
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    n_boot: int
    n_defined: int


def draw_units(n_units: int, rng: np.random.Generator, chunk: int) -> np.ndarray:
    """(chunk, n_units) indices of the units drawn with replacement, one row per resample."""
    return rng.integers(0, n_units, size=(chunk, n_units))


def unit_weights(idx: np.ndarray) -> np.ndarray:
    """(chunk, n_units) multiplicities of the units drawn in ``idx`` (:func:`draw_units`)."""
    chunk, n_units = idx.shape
    idx = idx + (np.arange(chunk, dtype=idx.dtype) * n_units)[:, None]
    return (
        np.bincount(idx.ravel(), minlength=chunk * n_units)
        .reshape(chunk, n_units)
        .astype(np.float64)
    )


def resample_weights(n_units: int, rng: np.random.Generator, chunk: int) -> np.ndarray:
    """(chunk, n_units) multiplicities of units drawn with replacement."""
    return unit_weights(draw_units(n_units, rng, chunk))


def distinct_rows(stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, inverse)`` with ``stacked == rows[inverse]``: the distinct rows of
    ``stacked`` found through a hash of each row, checked exactly afterwards."""
    rng = np.random.default_rng(12345)
    key = stacked @ rng.standard_normal(stacked.shape[1])
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rows = stacked[first]
    if not np.array_equal(rows[inverse], stacked):  # a hash collision: no merging
        return stacked, np.arange(stacked.shape[0])
    return rows, inverse.ravel()


def drawn_patterns(idx: np.ndarray, inverse: np.ndarray, n_patterns: int) -> np.ndarray:
    """(chunk, n_patterns) how many of the units drawn in ``idx`` fall on each pattern."""
    chunk = idx.shape[0]
    pat = inverse[idx]
    pat += (np.arange(chunk, dtype=pat.dtype) * n_patterns)[:, None]
    return (
        np.bincount(pat.ravel(), minlength=chunk * n_patterns)
        .reshape(chunk, n_patterns)
        .astype(np.float64)
    )


def bootstrap_sums(
    statistics: list[Statistic],
    *,
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Resampled column sums, (n_boot, m_i) for each statistic; all statistics
    share the same resamples of units (so differences between them are paired).

    ``groups`` (optional, one id per unit, ``0..G-1``) promises that units with
    the same id have identical rows in every statistic (e.g. the pattern of a
    unit's row of the rating matrix); without it the distinct rows are found by
    :func:`distinct_rows`. Identical columns across statistics are summed once."""
    n_boot = check_resamples(n_boot)
    if not statistics:
        return []
    n_units = statistics[0].stats.shape[0]
    if any(s.stats.shape[0] != n_units for s in statistics):
        raise ValueError("all statistics must have one row per unit of the same unit list")
    widths = [s.stats.shape[1] for s in statistics]
    out = np.empty((n_boot, sum(widths)))
    if n_units == 0 or n_boot == 0:
        out[:] = 0.0
    else:
        if groups is not None:
            inverse = np.asarray(groups, dtype=np.int64).ravel()
            first = np.full(int(inverse.max()) + 1, -1, dtype=np.int64)
            first[inverse[::-1]] = np.arange(n_units - 1, -1, -1)  # first unit of each group
            if (first < 0).any():
                raise ValueError("groups must number the units 0..G-1 without gaps")
            rows = np.hstack([s.stats[first] for s in statistics])
        else:
            rows, inverse = distinct_rows(np.hstack([s.stats for s in statistics]))
        columns, col_inverse = np.unique(rows, axis=1, return_inverse=True)
        col_inverse = col_inverse.ravel()
        rng = np.random.default_rng(seed)
        chunk = max(1, min(n_boot, CHUNK_CELLS // max(n_units, 1)))
        columns = np.ascontiguousarray(columns)
        with threadpool_limits(1, user_api="blas"):
            _resample(out, rows, columns, col_inverse, inverse, n_units, n_boot, chunk, rng)
    parts = np.split(out, np.cumsum(widths)[:-1], axis=1)
    return parts


def _resample(out, rows, columns, col_inverse, inverse, n_units, n_boot, chunk, rng) -> None:
    """Fill ``out`` with the resampled sums, chunk by chunk.

    The draws are made here, in order from ``rng``, so they are those of a serial
    loop; counting them and the product run in a second thread (numpy releases the
    GIL in each), one chunk behind, so drawing and counting use both cores. The
    products are small (chunk x patterns x columns): one BLAS thread is as fast on an
    idle machine and far faster on a busy one, where OpenBLAS's threads wait for each
    other."""
    merged = rows.shape[0] < n_units
    per_unit = None if merged else np.ascontiguousarray(columns[inverse])

    def sums(start: int, idx: np.ndarray) -> None:
        if merged:
            s = drawn_patterns(idx, inverse, rows.shape[0]) @ columns
        else:
            s = unit_weights(idx) @ per_unit
        out[start : start + idx.shape[0]] = s[:, col_inverse]

    with ThreadPoolExecutor(max_workers=1) as pool:
        behind: Future | None = None
        for start in range(0, n_boot, chunk):
            idx = draw_units(n_units, rng, min(chunk, n_boot - start))
            if behind is not None:
                behind.result()  # at most two chunks of draws held at a time
            behind = pool.submit(sums, start, idx)
        if behind is not None:
            behind.result()


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
