"""Benchmark: are the prevalence intervals of ``ptmcoder.inference`` valid, how narrow,
and how fast (issue #26, deliverable 6). Offline.

    nice python benchmarks/bench_inference.py [--reps 1000] [--real-draws 500]
        [--skip-real] [--skip-scale] [--workspace DIR] [--json]

1. **Synthetic** (``--reps`` replications per regime and gold size): N = 10,000 units,
   5 codes (one true code per unit, shares 0.30/0.25/0.20/0.15/0.10), a covariate
   ``x`` in {a, b}; gold n in {100, 300} drawn uniformly without replacement; truth =
   the units' true share. Annotator regimes: ``random`` (80% accurate, an error is a
   uniformly chosen other code), ``biased`` (80% accurate, every error says ``c0``, or
   ``c1`` when the truth is ``c0``), ``covariate`` (95% accurate when x = a, 60% when
   x = b with errors toward ``c1``; estimated ``by`` x, so per group, overall and the
   group difference). Each replication runs the library's estimator
   (:func:`ptmcoder.inference.prevalence.estimate`) on the arrays; coverage of the 95%
   interval and mean width for naive, classical and PPI++, pooled over codes (and
   groups), and the lowest per-code coverage.
2. **Real** (``--real-draws`` draws of 100 gold units): the demo's 470 adjudicated
   units (``humbatova_so_final`` as truth, the supervised ``embedded:tfidf`` annotator's
   cross-fitted codes from ``ptmcoder annotate --train humbatova_so_final``) and the
   NLBSE'24 test split (1,500 issues; annotator trained with ``--train`` on the train
   split); truth = the full-gold share of each code.
3. **Scale**: ``prevalence`` over 1,000,000 annotated units (1-2 codes each, 20 codes)
   and 1,000 gold units, ``by`` a field with 50 groups, in a child process (its peak
   RSS is its own), beside the time of reading the same long table once (Parquet, and
   CSV) with the one reader, :func:`ptmcoder.tables.read_long_table`, and of reading
   100,000 annotation records (``annotations.jsonl``) with the run reader.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ptmcoder.inference.design import GoldDesign  # noqa: E402
from ptmcoder.inference.prevalence import ALL, CodingTables, estimate  # noqa: E402

CODES = ["c0", "c1", "c2", "c3", "c4"]
SHARES = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
REGIMES = ("random", "biased", "covariate")
METHODS = ("naive", "classical", "ppi")
NLBSE = REPO.parent / "shared" / "data" / "nlbse24_issue_classification"
DEMO_GOLD = REPO / "ptmcoder" / "data" / "samples" / "humbatova_so_final.csv"


# -- synthetic ----------------------------------------------------------------------


def simulate(regime: str, N: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """True codes, annotator codes (each one index in 0..4) and the covariate (0 = a)."""
    truth = rng.choice(len(CODES), size=N, p=SHARES)
    x = (rng.random(N) < 0.5).astype(np.int64)
    other = (truth + rng.integers(1, len(CODES), size=N)) % len(CODES)
    if regime == "random":
        correct = rng.random(N) < 0.8
        pred = np.where(correct, truth, other)
    elif regime == "biased":
        correct = rng.random(N) < 0.8
        pred = np.where(correct, truth, np.where(truth == 0, 1, 0))
    elif regime == "covariate":
        correct = rng.random(N) < np.where(x == 0, 0.95, 0.60)
        wrong = np.where(x == 0, other, np.where(truth == 1, 0, 1))
        pred = np.where(correct, truth, wrong)
    else:
        raise ValueError(regime)
    return truth, pred, x


def tables_from(
    truth: np.ndarray, pred: np.ndarray, groups: np.ndarray | None, gold: np.ndarray, codes: int
) -> CodingTables:
    """The estimator's arrays: one-hot annotator codes, human codes on the gold units."""
    N = truth.size
    annotated = np.zeros((N, codes), dtype=bool)
    annotated[np.arange(N), pred] = True
    human = np.zeros((gold.size, codes))
    human[np.arange(gold.size), truth[gold]] = 1.0
    design = GoldDesign([str(i) for i in gold], None, "uniform random sample", False)
    if groups is None:
        return CodingTables(
            [f"c{i}" for i in range(codes)], [ALL], np.zeros(N, dtype=np.int64), annotated,
            gold, human, design, "sim", None,
        )  # fmt: skip
    return CodingTables(
        [f"c{i}" for i in range(codes)], ["a", "b"], groups, annotated, gold, human, design,
        "sim", "x",
    )  # fmt: skip


def _score(rows: list[dict], intervals, truth: float, key: dict) -> None:  # type: ignore[no-untyped-def]
    for method, interval in intervals.items():
        if interval is None:
            continue
        rows.append(
            {
                **key,
                "method": method,
                "covered": interval.ci_low <= truth <= interval.ci_high,
                "width": interval.ci_high - interval.ci_low,
            }
        )


def synthetic(
    regime: str, n_gold: int, reps: int, seed: int, N: int = 10_000, guard: bool = True
) -> dict:
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    fallbacks = 0
    cells = 0
    for rep in range(reps):
        truth, pred, x = simulate(regime, N, rng)
        gold = rng.choice(N, size=n_gold, replace=False)
        by = x if regime == "covariate" else None
        result = estimate(tables_from(truth, pred, by, gold, len(CODES)), guard=guard)
        masks = [(ALL, np.ones(N, bool))]
        if by is not None:
            masks += [("a", x == 0), ("b", x == 1)]
        true_share = {
            (g, c): float(np.mean(truth[mask] == i))
            for g, mask in masks
            for i, c in enumerate(CODES)
        }
        for e in result.estimates:
            cells += 1
            fallbacks += e.note is not None and e.note.startswith("PPI = classical")
            intervals = {"naive": e.naive, "classical": e.classical, "ppi": e.ppi}
            _score(
                rows,
                intervals,
                true_share[(e.group, e.code)],
                {"code": e.code, "group": e.group, "rep": rep},
            )
        for d in result.differences:
            diff = true_share[(d.group, d.code)] - true_share[(d.versus, d.code)]
            intervals = {"naive": d.naive, "classical": d.classical, "ppi": d.ppi}
            _score(
                rows,
                intervals,
                diff,
                {"code": d.code, "group": f"{d.group}-{d.versus}", "rep": rep},
            )
    frame = pd.DataFrame(rows)
    return {
        "regime": regime,
        "n_gold": n_gold,
        "N": N,
        "reps": reps,
        **summarise(frame),
        "ppi_fallback_share": fallbacks / max(cells, 1),
    }


def summarise(frame: pd.DataFrame) -> dict:
    """Per method: pooled coverage, mean width, lowest per-(code, group) coverage."""
    out: dict = {}
    for method in METHODS:
        part = frame[frame["method"] == method]
        if part.empty:
            continue
        per_cell = part.groupby(["code", "group"])["covered"].mean()
        worst = per_cell.idxmin()
        out[method] = {
            "coverage": float(part["covered"].mean()),
            "mean_width": float(part["width"].mean()),
            "min_cell_coverage": float(per_cell.min()),
            "min_cell": f"{worst[0]} / {worst[1]}",
            "cells": int(per_cell.size),
        }
    if "ppi" in out and "classical" in out:
        out["ppi_width_vs_classical"] = out["ppi"]["mean_width"] / out["classical"]["mean_width"]
    return out


# -- real data -----------------------------------------------------------------------


def _cli(args: list[str], home: Path) -> str:
    env = {**os.environ, "PTMCODER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "ptmcoder", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"ptmcoder {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _run_codes(run_path: Path) -> pd.DataFrame:
    from ptmcoder.agreement.io import annotations_to_long

    return annotations_to_long(run_path)


def demo_codes(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotator long table, human long table) of the demo's 470 adjudicated units."""
    out = _cli(
        ["annotate", "--codebook", "humbatova-screening", "--corpus", "humbatova_so",
         "--annotator", "embedded:tfidf", "--train", "humbatova_so_final", "--no-progress",
         "--json"],
        home,
    )  # fmt: skip
    ann = _run_codes(Path(json.loads(out)["path"]))
    gold = pd.read_csv(DEMO_GOLD, dtype=str)[["unit", "code"]]
    return ann, gold


def nlbse_codes(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotator long table, human long table) of the NLBSE'24 test split."""
    to_code = {"bug": "bug", "question": "question", "feature": "enhancement"}
    frames = {}
    for split in ("train", "test"):
        df = pd.read_csv(NLBSE / f"issues_{split}.csv", keep_default_na=False)
        df.insert(0, "id", [f"{split[:2]}{i:04d}" for i in range(len(df))])
        df.to_csv(home / f"{split}.csv", index=False)
        frames[split] = df
        _cli(
            ["corpus", "import", str(home / f"{split}.csv"), "--name", f"nlbse_{split}",
             "--format", "csv", "--map",
             "id=id,title=title,body=body,project=repo,created_at=created_at",
             "--platform", "github", "--replace", "--no-progress"],
            home,
        )  # fmt: skip
    train = frames["train"]
    pd.DataFrame({"unit": train.id, "rater": "nlbse", "code": train.label}).to_csv(
        home / "train_labels.csv", index=False
    )
    out = _cli(
        ["annotate", "--codebook", "issue-type", "--corpus", "nlbse_test", "--annotator",
         "embedded:tfidf", "--train", str(home / "train_labels.csv"), "--train-corpus",
         "nlbse_train", "--no-progress", "--json"],
        home,
    )  # fmt: skip
    ann = _run_codes(Path(json.loads(out)["path"]))
    test = frames["test"]
    ids = ann["unit"].astype(str)
    by_orig = dict(zip(ids.str.rsplit("#", n=1).str[-1], ids, strict=False))
    gold = pd.DataFrame({"unit": test.id.map(by_orig), "code": test.label.map(to_code)})
    return ann, gold


def real(
    name: str,
    ann: pd.DataFrame,
    gold: pd.DataFrame,
    draws: int,
    n: int,
    seed: int,
    guard: bool = True,
) -> dict:
    """Draw ``n`` gold units ``draws`` times from the fully human-coded units; truth =
    each code's share over all of them."""
    from ptmcoder.inference.prevalence import coding_tables

    ann = ann[ann["unit"].astype(str).isin(set(gold["unit"].astype(str)))]
    full = coding_tables(ann, gold, assume_random=True)
    truth = full.human.mean(axis=0)
    units = full.design.units if full.design is not None else []
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for rep in range(draws):
        pick = rng.choice(full.n, size=n, replace=False)
        t = CodingTables(
            full.codes, full.groups, full.unit_group, full.annotated, full.gold_index[pick],
            full.human[pick], GoldDesign([units[i] for i in pick], None, "uniform", False),
            full.rater, None,
        )  # fmt: skip
        for e in estimate(t, guard=guard).estimates:
            c = full.codes.index(e.code)
            intervals = {"naive": e.naive, "classical": e.classical, "ppi": e.ppi}
            _score(rows, intervals, float(truth[c]), {"code": e.code, "group": ALL, "rep": rep})
    frame = pd.DataFrame(rows)
    per_code = (
        frame.groupby(["method", "code"])
        .agg(coverage=("covered", "mean"), mean_width=("width", "mean"))
        .reset_index()
    )
    return {
        "data": name,
        "units": int(full.N),
        "gold_per_draw": n,
        "draws": draws,
        "truth": dict(zip(full.codes, map(float, truth), strict=True)),
        "naive_share": dict(zip(full.codes, map(float, full.annotated.mean(axis=0)), strict=True)),
        **summarise(frame),
        "per_code": per_code.to_dict("records"),
    }


# -- scale ---------------------------------------------------------------------------


def scale_child(work: Path) -> dict:
    """In a child process: write the 1M-unit long table, read it once, estimate."""
    from ptmcoder.inference.prevalence import prevalence
    from ptmcoder.tables import read_long_table

    rng = np.random.default_rng(0)
    N, C, G = 1_000_000, 20, 50
    codes = np.array([f"code{i:02d}" for i in range(C)])
    per_unit = rng.integers(1, 3, N)
    unit = np.repeat(np.arange(N), per_unit)
    units = pd.Series(unit).map("u{:07d}".format)
    field = pd.Series(rng.integers(0, G, N)[unit]).map("g{:02d}".format)
    table = pd.DataFrame(
        {
            "unit": units,
            "rater": "llm",
            "code": codes[rng.integers(0, C, unit.size)],
            "platform": field,
        }
    )
    path = work / "inference_1m.parquet"
    table.to_parquet(path, index=False)
    csv_path = work / "inference_1m.csv"
    table.to_csv(csv_path, index=False)
    gold_units = rng.choice(N, 1000, replace=False)
    gold = table[unit_in(unit, gold_units)][["unit", "code"]].copy()
    flip = rng.random(len(gold)) < 0.2
    gold.loc[flip, "code"] = codes[rng.integers(0, C, int(flip.sum()))]
    del table, units, field
    t0 = time.perf_counter()
    read_long_table(csv_path)
    read_csv_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = read_long_table(path)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = prevalence(frame, gold, by="platform", assume_random=True)
    est_s = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    records_s = read_records(work, RECORDS)
    return {
        "annotated_units": result.n_annotated,
        "rows": len(frame),
        "gold_units": result.n_gold,
        "codes": len(result.codes),
        "groups": len(result.groups),
        "estimates": len(result.estimates),
        "differences": len(result.differences),
        "read_long_table_seconds": read_s,
        "read_long_table_csv_seconds": read_csv_s,
        "prevalence_seconds": est_s,
        "peak_rss_mb": rss,
        "records_read": RECORDS,
        "read_annotations_jsonl_seconds": records_s,
        "peak_rss_mb_after_records": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


#: annotation records read through the typed reader (a million would need gigabytes)
RECORDS = 100_000


def read_records(work: Path, n: int) -> float:
    """Seconds to read ``n`` annotation records as a long table with the run reader
    (:func:`ptmcoder.annotate.records.annotations_to_long`), for comparison."""
    from ptmcoder.annotate.records import annotations_to_long

    path = work / f"annotations_{n}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            record = {
                "unit_id": f"u{i:07d}",
                "annotator": "llm",
                "codes": [{"code": f"code{i % 20:02d}", "confidence": 0.9}],
                "error_type": None,
                "model": "m",
                "codebook_id": "cb",
            }
            f.write(json.dumps(record) + "\n")
    t0 = time.perf_counter()
    annotations_to_long(path)
    return time.perf_counter() - t0


def unit_in(unit: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    mask = np.zeros(unit.max() + 1, dtype=bool)
    mask[chosen] = True
    return mask[unit]


def scale(work: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--scale-child", "--workspace", str(work)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"scale child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# -- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--reps", type=int, default=1000, help="replications per regime and gold size")
    p.add_argument("--gold-sizes", default="100,300")
    p.add_argument("--regimes", default=",".join(REGIMES))
    p.add_argument("--real-draws", type=int, default=500)
    p.add_argument("--skip-real", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--workspace", type=Path, help="PTMCODER_HOME for the real-data runs")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--no-guard", action="store_true", help="PPI++ exactly as ppi_py (no small-cell guard)"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    work = args.workspace or Path(tempfile.mkdtemp(prefix="bench_inference_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.scale_child:
        print(json.dumps(scale_child(work)))
        return {}
    out: dict = {"synthetic": [], "real": [], "scale": None, "guard": not args.no_guard}
    for i, regime in enumerate(args.regimes.split(",")):
        for n_gold in map(int, args.gold_sizes.split(",")):
            t0 = time.perf_counter()
            seed = args.seed + 100 * i + n_gold
            res = synthetic(regime, n_gold, args.reps, seed, guard=not args.no_guard)
            res["seconds"] = time.perf_counter() - t0
            out["synthetic"].append(res)
            if not args.json:
                print(_line(f"{regime:9s} n={n_gold}", res), flush=True)
    if not args.skip_real:
        for name, loader in (
            ("demo humbatova_so (470)", demo_codes),
            ("NLBSE'24 test (1,500)", nlbse_codes),
        ):
            home = work / name.split()[0].lower().strip("'24")
            home.mkdir(parents=True, exist_ok=True)
            ann, gold = loader(home)
            res = real(name, ann, gold, args.real_draws, 100, args.seed, guard=not args.no_guard)
            out["real"].append(res)
            if not args.json:
                print(_line(name, res), flush=True)
                worst = min(
                    (r for r in res["per_code"] if r["method"] == "ppi"),
                    key=lambda r: r["coverage"],
                )
                print(f"    lowest PPI++ coverage: {worst['code']} {worst['coverage']:.3f}")
    if not args.skip_scale:
        out["scale"] = scale(work)
        if not args.json:
            s = out["scale"]
            print(
                f"scale: {s['annotated_units']:,} units, {s['gold_units']:,} gold, "
                f"{s['codes']} codes, {s['groups']} groups: prevalence "
                f"{s['prevalence_seconds']:.2f} s, read_long_table "
                f"{s['read_long_table_seconds']:.2f} s (Parquet), "
                f"{s['read_long_table_csv_seconds']:.2f} s (CSV), "
                f"peak RSS {s['peak_rss_mb']:.0f} MB; {s['records_read']:,} annotation records "
                f"read in {s['read_annotations_jsonl_seconds']:.2f} s"
            )
    out["cpus"], out["load_average"] = os.cpu_count(), os.getloadavg()
    if args.json:
        print(json.dumps(out, indent=2))
    return out


def _line(name: str, res: dict) -> str:
    parts = []
    for method in METHODS:
        if method in res:
            m = res[method]
            parts.append(
                f"{method} cov {m['coverage']:.3f} (min {m['min_cell_coverage']:.3f}) "
                f"w {m['mean_width']:.3f}"
            )
    ratio = res.get("ppi_width_vs_classical")
    return f"{name}: " + "; ".join(parts) + (f"; ppi/classical width {ratio:.3f}" if ratio else "")


if __name__ == "__main__":
    main()
