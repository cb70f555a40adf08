"""Throughput and agreement of a real local model, and the effect of concurrency.

Starts tests/local_llm/server.mjs (node-llama-cpp, one thread per context, CPU)
serving the GGUF of ``--gguf`` on 127.0.0.1, codes the first ``--n`` bundled
Humbatova et al. titles with ``ptmcoder annotate`` (codebook
humbatova-screening, ``--structured auto``) at concurrency 1 and then 2 (cache
off, so both runs make every request), and prints units/s of each, their ratio,
the error rows, and Cohen's kappa against the adjudicated labels with its
bootstrap CI and n. Needs ``bash scripts/setup_local_runtime.sh --no-test`` first.

    python benchmarks/bench_local_runtime.py --n 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "ptmcoder" / "data" / "samples"
DEFAULT_GGUF = Path.home() / ".cache/ptmcoder/models/SmolLM2-135M-Instruct.Q4_1.gguf"


def start(gguf: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        ["node", str(REPO / "tests/local_llm/server.mjs"), "--model", str(gguf), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("LISTENING"):
        proc.kill()
        sys.exit(f"the wrapper did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


def annotate(units: Path, base: str, concurrency: int, home: Path) -> tuple[float, Path]:
    env = {**os.environ, "PTMCODER_HOME": str(home), "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptmcoder",
            "annotate",
            "--codebook",
            "humbatova-screening",
            "--corpus",
            str(units),
            "--annotator",
            "openai:smollm2",
            "--base-url",
            base,
            "--concurrency",
            str(concurrency),
            "--max-output-tokens",
            "256",
            "--timeout",
            "600",
            "--no-cache",
            "--no-progress",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return time.perf_counter() - started, Path(json.loads(out.stdout)["path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    args = parser.parse_args()
    titles = pd.read_csv(SAMPLES / "humbatova_so_titles.csv").head(args.n)
    gold = pd.read_csv(SAMPLES / "humbatova_so_final.csv").set_index("unit")["code"]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        units = home / "units.csv"
        titles[["id", "title"]].to_csv(units, index=False)
        proc, base = start(args.gguf)
        try:
            results = {c: annotate(units, base, c, home) for c in (1, 2)}
        finally:
            proc.kill()
        for c, (seconds, run_dir) in results.items():
            recs = [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]
            errors = Counter(r["error_type"] for r in recs if r.get("error_type"))
            print(
                f"concurrency {c}: {len(recs)} units in {seconds:.1f} s "
                f"= {len(recs) / seconds:.3f} units/s; error rows {dict(errors) or 0}"
            )
        ratio = results[1][0] / results[2][0]
        print(f"concurrency 2 / concurrency 1 throughput ratio: {ratio:.2f} (n=1 run each)")
        recs = [
            json.loads(x) for x in (results[1][1] / "annotations.jsonl").read_text().splitlines()
        ]
        rows = []
        for r in recs:
            if r.get("error_type") or r["unit_id"] not in gold.index:
                continue
            code = r["codes"][0]["code"] if r["codes"] else "none"
            rows += [(r["unit_id"], "smollm2", code), (r["unit_id"], "final", gold[r["unit_id"]])]
        from ptmcoder.agreement import agreement

        long = pd.DataFrame(rows, columns=["unit", "rater", "code"])
        kappa = agreement(long, ["cohen_kappa"])["cohen_kappa"]
        print(
            f"Cohen's kappa vs the adjudicated label: {kappa.value:.3f} "
            f"[{kappa.ci_low:.3f}, {kappa.ci_high:.3f}] n={kappa.n_units} "
            f"(95% percentile bootstrap; {len(recs) - kappa.n_units} units without a label)"
        )
        print("codes given:", dict(Counter(long[long.rater == "smollm2"].code)))
        print("adjudicated:", dict(Counter(long[long.rater == "final"].code)))


if __name__ == "__main__":
    main()
