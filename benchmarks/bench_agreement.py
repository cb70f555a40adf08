"""Benchmark: every agreement coefficient with bootstrap CIs on 100,000 units x 5 raters.

    python benchmarks/bench_agreement.py [--units 100000] [--raters 5] [--bootstrap 1000]

Prints the time of each coefficient (point estimate + bootstrap interval), the
time of all coefficients together (they share one set of resamples), peak
traced memory, and as baseline the time of the ``krippendorff`` package for
one point estimate of nominal alpha on the same data.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd


def simulate(n_units: int, n_raters: int, n_codes: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_codes, n_units)
    units = np.char.add("u", np.arange(n_units).astype(str))
    frames = []
    for r in range(n_raters):
        lab = np.where(rng.random(n_units) < 0.7, truth, rng.integers(0, n_codes, n_units))
        keep = rng.random(n_units) >= 0.05  # 5% missing ratings
        frames.append(
            pd.DataFrame(
                {
                    "unit": units[keep],
                    "rater": f"r{r}",
                    "code": np.char.add("c", lab[keep].astype(str)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--codes", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    import krippendorff

    from ptmcoder.agreement.compute import METRICS, compute_coefficients
    from ptmcoder.agreement.data import rating_matrix

    df = simulate(args.units, args.raters, args.codes)
    print(
        f"{args.units:,} units x {args.raters} raters, {args.codes} codes, {len(df):,} ratings, "
        f"{args.bootstrap} bootstrap resamples"
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    matrix = rating_matrix(df)
    t_matrix = time.perf_counter() - t0
    print(f"{'build rating matrix':<28}{t_matrix:8.2f} s")
    rows = []
    for name in METRICS:
        t0 = time.perf_counter()
        c = compute_coefficients(matrix, [name], n_boot=args.bootstrap, seed=0)[name]
        dt = time.perf_counter() - t0
        rows.append((name, c, dt))
        print(
            f"{name:<28}{dt:8.2f} s   value {c.value:.4f}  "
            f"95% CI [{c.ci_low:.4f}, {c.ci_high:.4f}]  n {c.n_units:,}"
        )
    t0 = time.perf_counter()
    compute_coefficients(matrix, n_boot=args.bootstrap, seed=0)
    t_all = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{'all together (shared resamples)':<28}{t_all:8.2f} s")
    print(
        f"peak traced memory {peak / 2**20:,.0f} MiB; max RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )

    # baseline: the krippendorff package, one point estimate of nominal alpha
    rel = np.full((len(matrix.raters), matrix.n_units), np.nan)
    for r in range(len(matrix.raters)):
        ok = matrix.codes[:, r] >= 0
        rel[r, ok] = matrix.codes[ok, r]
    t0 = time.perf_counter()
    ref = krippendorff.alpha(rel, level_of_measurement="nominal")
    t_ref = time.perf_counter() - t0
    ours = dict((n, (c, dt)) for n, c, dt in rows)["krippendorff_alpha"]
    print(
        f"baseline krippendorff.alpha (one point estimate) {t_ref:.3f} s, alpha {ref:.6f} "
        f"(ours {ours[0].value:.6f})"
    )
    print(
        f"ratio: our alpha with {args.bootstrap} resamples / one krippendorff.alpha call = "
        f"{ours[1] / t_ref:.1f}x; the package would need about {t_ref * args.bootstrap:.0f} s "
        f"for the same {args.bootstrap} resamples ({t_ref * args.bootstrap / ours[1]:.0f}x ours)"
    )


if __name__ == "__main__":
    main()
