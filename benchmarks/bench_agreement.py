"""Benchmark: ``ptmcoder agree`` on 100,000 units x 5 raters, every coefficient with
1,000 bootstrap resamples, against a reference measured in the same run.

    python benchmarks/bench_agreement.py [--units 100000] [--raters 5] [--bootstrap 1000]
        [--repeats 3] [--detail]

The reference is a script that reads the same CSV with pandas, pivots it to the
raters x units matrix and calls ``krippendorff.alpha`` once (one point
estimate, no interval). Both run as fresh processes (imports included), in
alternation, ``--repeats`` times; the benchmark prints each wall time, the
ratio per repeat, the median ratio and the spread, and the peak resident memory
of ``ptmcoder agree`` (target of issue #18: ratio <= 3, memory < 1 GB).
``--detail`` also times each stage in this process (reading, the rating
matrix, each coefficient with its resamples).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

REFERENCE = """
import sys
import krippendorff
import pandas as pd

df = pd.read_csv(sys.argv[1], dtype=str)
wide = df.pivot(index="unit", columns="rater", values="code")
codes = {c: i for i, c in enumerate(sorted(df["code"].dropna().unique()))}
rel = wide.apply(lambda s: s.map(codes)).to_numpy(dtype=float).T
print(krippendorff.alpha(rel, level_of_measurement="nominal"))
"""

#: prints the child's wall time and peak RSS (KiB) after running the command
TIMED = """
import resource, runpy, sys, time
t0 = time.perf_counter()
sys.argv = sys.argv[1:]
try:
    if sys.argv[0] == "-m":
        sys.argv = sys.argv[1:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"\\nBENCH {time.perf_counter() - t0:.4f} {peak}\\n")
"""


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


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(process wall time, in-process time, peak RSS MiB, stdout) of ``python args``."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", TIMED, *args], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    line = [x for x in proc.stderr.splitlines() if x.startswith("BENCH ")][-1].split()
    return wall, float(line[1]), int(line[2]) / 1024, proc.stdout


def detail(csv: Path, n_boot: int) -> None:
    sys.path.insert(0, str(ROOT))
    from ptmcoder.agreement.compute import METRICS, compute_coefficients
    from ptmcoder.agreement.data import rating_matrix
    from ptmcoder.agreement.io import read_long_table

    t0 = time.perf_counter()
    df = read_long_table(csv)
    print(f"  {'read the CSV':<30}{time.perf_counter() - t0:8.2f} s")
    t0 = time.perf_counter()
    matrix = rating_matrix(df)
    print(f"  {'build the rating matrix':<30}{time.perf_counter() - t0:8.2f} s")
    for name in METRICS:
        t0 = time.perf_counter()
        c = compute_coefficients(matrix, [name], n_boot=n_boot, seed=0)[name]
        print(
            f"  {name:<30}{time.perf_counter() - t0:8.2f} s   value {c.value:.4f} "
            f"95% CI [{c.ci_low:.4f}, {c.ci_high:.4f}] n {c.n_units:,}"
        )
    t0 = time.perf_counter()
    compute_coefficients(matrix, n_boot=n_boot, seed=0)
    print(f"  {'all together (shared resamples)':<30}{time.perf_counter() - t0:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--codes", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detail", action="store_true", help="time each stage in-process")
    args = parser.parse_args()

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "long.csv"
        ref_py = Path(tmp) / "reference.py"
        ref_py.write_text(REFERENCE)
        df = simulate(args.units, args.raters, args.codes)
        df.to_csv(csv, index=False)
        print(
            f"{args.units:,} units x {args.raters} raters, {args.codes} codes, "
            f"{len(df):,} rows; ptmcoder agree: every coefficient, "
            f"{args.bootstrap} bootstrap resamples"
        )
        ours_cmd = ["-m", "ptmcoder", "agree", str(csv), "--json"]
        ours_cmd += ["--bootstrap", str(args.bootstrap)]
        ratios, peaks = [], []
        for i in range(args.repeats):
            ref_wall, _, ref_peak, ref_out = timed([str(ref_py), str(csv)], env)
            wall, _, peak, out = timed(ours_cmd, env)
            ratios.append(wall / ref_wall)
            peaks.append(peak)
            print(
                f"repeat {i + 1}: reference {ref_wall:6.2f} s ({ref_peak:,.0f} MiB)   "
                f"ptmcoder agree {wall:6.2f} s ({peak:,.0f} MiB)   ratio {wall / ref_wall:.2f}x"
            )
        import json

        alpha_ref = float(ref_out.strip().splitlines()[-1])
        alpha_ours = json.loads(out)["krippendorff_alpha"]["value"]
        print(f"alpha: reference {alpha_ref:.6f}, ptmcoder {alpha_ours:.6f}")
        print(
            f"ratio median {np.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f}, "
            f"{args.repeats} runs); peak RSS of ptmcoder agree {max(peaks):,.0f} MiB; "
            "target: ratio <= 3, memory < 1024 MiB"
        )
        if args.detail:
            print("stages in this process:")
            detail(csv, args.bootstrap)


if __name__ == "__main__":
    main()
