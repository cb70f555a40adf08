"""Routing with a guarantee (issue #27, deliverable 4): does Learn-then-Test keep its
promise on real annotators, and what does the naive rule do?

    python benchmarks/bench_routing.py --splits 500 [--json] [--workspace DIR]
        [--demo-run DIR] [--nlbse-run DIR] [--delta 0.1] [--seed 0]

Two data sets, each an annotator's codes with calibrated confidences and human codes:

- **demo**: the 470 adjudicated units of the bundled Humbatova et al. sample
  (``ptmcoder/data/samples/humbatova_so_final.csv``), coded by the supervised embedded
  annotator (``ptmcoder annotate --codebook humbatova-screening --corpus humbatova_so
  --annotator embedded --train humbatova_so_final``): its records of human-coded units
  are nested cross-fitted, so every confidence is out of sample. Target: the highest of
  0.50, 0.55, ..., 0.95 that ``route`` certifies on all 470 units (and the one below);
- **nlbse**: the NLBSE'24 issue-report test split (1,500 issues), coded by the embedded
  annotator trained on the train split (``annotate --train ... --train-corpus
  nlbse_train``), against the projects' labels (``feature`` read as ``enhancement``
  through the codebook). Target 0.90.

For each, ``--splits`` random calibration/test splits with calibration n in {100, 300}:
the threshold from the calibration part (:func:`ptmcoder.review.routing.learn_then_test`,
exact binomial p-values, delta 0.10) and the naive one (the lowest threshold of the same
grid whose calibration agreement reaches the target, no correction); on the test part,
the realized agreement of the accepted units and the coverage (accepted / test units).
A split where nothing is accepted promised nothing: it counts as kept, and the share of
such splits is printed. The runs are made with the real CLI in ``--workspace`` (or given
with ``--demo-run`` / ``--nlbse-run``); an existing run there is reused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptmcoder.review.routing import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    agrees,
    gold_codes,
    learn_then_test,
    unit_codes_from_records,
)
from ptmcoder.runs import Run  # noqa: E402

NLBSE = ROOT / ".." / "shared" / "data" / "nlbse24_issue_classification"
FINAL = ROOT / "ptmcoder" / "data" / "samples" / "humbatova_so_final.csv"
CAL_SIZES = (100, 300)


def ptmcoder(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ptmcoder", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"ptmcoder {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PTMCODER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _done(path: Path) -> bool:
    return (path / "manifest.json").is_file() and (path / "annotations.jsonl").is_file()


def demo_run(home: Path) -> Path:
    path = home / "runs" / "route-demo"
    if not _done(path):
        ptmcoder(
            "annotate", "--codebook", "humbatova-screening", "--corpus", "humbatova_so",
            "--annotator", "embedded", "--train", "humbatova_so_final", "--run", "route-demo",
            "--no-progress", "--json", env=_env(home),
        )  # fmt: skip
    return path


def nlbse_run(home: Path) -> Path:
    path = home / "runs" / "route-nlbse"
    if _done(path):
        return path
    env = _env(home)
    train = pd.read_csv(NLBSE / "issues_train.csv", keep_default_na=False)
    test = pd.read_csv(NLBSE / "issues_test.csv", keep_default_na=False)
    train.insert(0, "id", [f"tr{i:04d}" for i in range(len(train))])
    test.insert(0, "id", [f"te{i:04d}" for i in range(len(test))])
    train.to_csv(home / "train.csv", index=False)
    test.to_csv(home / "test.csv", index=False)
    labels = pd.DataFrame({"unit": train.id, "rater": "nlbse", "code": train.label})
    labels.to_csv(home / "train_labels.csv", index=False)
    mapping = "id=id,title=title,body=body,project=repo,created_at=created_at"
    for split in ("train", "test"):
        ptmcoder(
            "corpus", "import", str(home / f"{split}.csv"), "--name", f"nlbse_{split}",
            "--format", "csv", "--map", mapping, "--platform", "github", "--replace",
            "--no-progress", env=env,
        )  # fmt: skip
    ptmcoder(
        "annotate", "--codebook", "issue-type", "--corpus", "nlbse_test", "--annotator",
        "embedded", "--train", str(home / "train_labels.csv"), "--train-corpus", "nlbse_train",
        "--run", "route-nlbse", "--no-progress", "--json", env=env,
    )  # fmt: skip
    return path


def arrays(run_dir: Path, gold: dict[str, frozenset[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and agreement of every gold unit the run coded (the one reader of
    records; a unit without confidence: NaN, never accepted)."""
    units = unit_codes_from_records(Run(run_dir).records())
    ids = sorted(set(units) & set(gold))
    conf = np.array([np.nan if units[u].confidence is None else units[u].confidence for u in ids])
    ok = np.array([agrees(units[u].codes, gold[u]) for u in ids])
    return conf, ok


def nlbse_gold(run_dir: Path, home: Path) -> dict[str, frozenset[str]]:
    """The test split's labels keyed by the run's unit ids (``...#te0000``), read through
    the codebook's aliases by the routing module's gold reader."""
    test = pd.read_csv(NLBSE / "issues_test.csv", keep_default_na=False)
    ids = {u.rsplit("#", 1)[-1]: u for u in unit_codes_from_records(Run(run_dir).records())}
    table = pd.DataFrame(
        {"unit": [ids[f"te{i:04d}"] for i in range(len(test))], "code": test.label}
    )
    path = home / "nlbse_test_gold.csv"
    table.to_csv(path, index=False)
    return gold_codes(path, "issue-type")


def naive_threshold(conf: np.ndarray, ok: np.ndarray, target: float) -> float | None:
    """The lowest grid threshold whose calibration agreement reaches the target."""
    best = None
    for t in DEFAULT_THRESHOLDS:
        accepted = conf >= t
        if accepted.any() and ok[accepted].mean() >= target:
            best = t
    return best


def evaluate(
    conf: np.ndarray,
    ok: np.ndarray,
    *,
    target: float,
    delta: float,
    n_cal: int,
    splits: int,
    seed: int,
) -> dict:
    rng = np.random.default_rng(seed)
    rules: dict[str, dict[str, list]] = {
        r: {"kept": [], "coverage": [], "realized": [], "accepted_any": [], "pop_kept": []}
        for r in ("ltt", "naive")
    }
    with np.errstate(invalid="ignore"):
        for _ in range(splits):
            order = rng.permutation(len(conf))
            cal, test = order[:n_cal], order[n_cal:]
            chosen = {
                "ltt": learn_then_test(conf[cal], ok[cal], target=target, delta=delta).threshold,
                "naive": naive_threshold(conf[cal], ok[cal], target),
            }
            for rule, t in chosen.items():
                acc = test[conf[test] >= t] if t is not None else test[:0]
                realized = float(ok[acc].mean()) if len(acc) else None
                out = rules[rule]
                out["accepted_any"].append(len(acc) > 0)
                out["kept"].append(realized is None or realized >= target)
                out["coverage"].append(len(acc) / len(test))
                # what the guarantee speaks of: the agreement of every unit of the data
                # set at or above the threshold (the data set as the population)
                everyone = conf >= t if t is not None else np.zeros(len(conf), dtype=bool)
                out["pop_kept"].append(not everyone.any() or ok[everyone].mean() >= target)
                if realized is not None:
                    out["realized"].append(realized)
    summary = {}
    for rule, r in rules.items():
        kept = float(np.mean(r["kept"]))
        summary[rule] = {
            "kept_share": kept,
            "kept_se": math.sqrt(kept * (1 - kept) / splits),
            "population_kept_share": float(np.mean(r["pop_kept"])),
            "mean_coverage": float(np.mean(r["coverage"])),
            "accepted_any_share": float(np.mean(r["accepted_any"])),
            "mean_realized_when_accepting": float(np.mean(r["realized"]))
            if r["realized"]
            else None,
        }
    return {
        "target": target,
        "delta": delta,
        "n_calibration": n_cal,
        "n_test": len(conf) - n_cal,
        "splits": splits,
        **summary,
    }


def highest_reachable(conf: np.ndarray, ok: np.ndarray, delta: float) -> float | None:
    """The highest target of 0.50, 0.55, ..., 0.95 certified on all the units."""
    reached = [
        t
        for t in np.round(np.arange(0.50, 0.951, 0.05), 2)
        if learn_then_test(conf, ok, target=float(t), delta=delta).threshold is not None
    ]
    return float(max(reached)) if reached else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", type=int, default=500)
    p.add_argument("--delta", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workspace", type=Path)
    p.add_argument("--demo-run", type=Path)
    p.add_argument("--nlbse-run", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.splits < 1:
        sys.exit("--splits must be at least 1")
    home = args.workspace or Path(tempfile.mkdtemp(prefix="bench_routing_"))
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    demo_dir = args.demo_run or demo_run(home)
    nlbse_dir = args.nlbse_run or nlbse_run(home)
    data = {
        "demo": arrays(demo_dir, gold_codes(FINAL)),
        "nlbse": arrays(nlbse_dir, nlbse_gold(nlbse_dir, home)),
    }
    reach = highest_reachable(*data["demo"], args.delta)
    targets = {"demo": [t for t in (reach, round((reach or 0) - 0.05, 2)) if t], "nlbse": [0.90]}
    results = []
    for name, (conf, ok) in data.items():
        for target in targets[name]:
            for n_cal in CAL_SIZES:
                row = evaluate(
                    conf, ok, target=target, delta=args.delta, n_cal=n_cal,
                    splits=args.splits, seed=args.seed,
                )  # fmt: skip
                results.append({"data": name, "units": len(conf), **row})
    out = {
        "runs": {"demo": str(demo_dir), "nlbse": str(nlbse_dir)},
        "overall_agreement": {k: float(v[1].mean()) for k, v in data.items()},
        "units": {k: len(v[0]) for k, v in data.items()},
        "demo_highest_reachable_target": reach,
        "results": results,
        "seconds": time.perf_counter() - t0,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"demo: {out['units']['demo']} units, agreement {out['overall_agreement']['demo']:.3f}; "
        f"highest target certified on all of them: {reach}"
    )
    print(
        f"nlbse: {out['units']['nlbse']} units, agreement {out['overall_agreement']['nlbse']:.3f}"
    )
    print(
        "data   target  n_cal  n_test  splits | LTT kept (se)  coverage  any | naive kept  coverage"
    )
    for r in results:
        lt, nv = r["ltt"], r["naive"]
        print(
            f"{r['data']:6} {r['target']:6.2f} {r['n_calibration']:6d} {r['n_test']:7d} "
            f"{r['splits']:7d} | {lt['kept_share']:.3f} ({lt['kept_se']:.3f})  "
            f"{lt['population_kept_share']:.3f}     {lt['mean_coverage']:.3f}  "
            f"{lt['accepted_any_share']:.2f} | {nv['kept_share']:.3f}       "
            f"{nv['population_kept_share']:.3f}     {nv['mean_coverage']:.3f}"
        )


if __name__ == "__main__":
    main()
