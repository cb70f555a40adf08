"""The demo study's speed: first run, second run (nothing changed) and a run after one
annotate setting changed, each a fresh ``python -m ptmcoder run`` process in one
temporary workspace. Prints the wall time of each, the annotator calls, which stages
ran, and the second run's time as a share of the first (target: <= 10%).

    python benchmarks/bench_demo.py [--embedder embedded|embedded:tfidf]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(study: Path, home: Path) -> tuple[float, float, dict]:
    env = {**os.environ, "PTMCODER_HOME": str(home), "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    c0 = os.times()
    out = subprocess.run(
        [sys.executable, "-m", "ptmcoder", "run", str(study), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=home,
    )
    c1 = os.times()
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    return time.perf_counter() - t0, cpu, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        text = (REPO / "studies" / "demo.toml").read_text()
        if args.embedder:
            text = text.replace('annotator = "embedded"', f'annotator = "{args.embedder}"')
        study = home / "demo.toml"
        study.write_text(text)
        rows = []
        for label in ("first run", "second run (unchanged)", "one annotate setting changed"):
            if label.startswith("one"):
                study.write_text(text.replace("folds = 5", "folds = 4"))
            wall, cpu, data = run(study, home)
            ran = [s["stage"] for s in data["stages"] if s["status"] == "ran"]
            rows.append((label, wall, cpu, data["annotator_calls"], ran))
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        for label, wall, cpu, calls, ran in rows:
            print(
                f"{label:30s} wall {wall:7.1f} s  cpu {cpu:6.1f} s  calls {calls:4d}  "
                f"ran: {', '.join(ran) or '-'}"
            )
        print(f"second / first (wall): {rows[1][1] / rows[0][1]:.3f}")
        print(f"second / first (cpu):  {rows[1][2] / rows[0][2]:.3f}")


if __name__ == "__main__":
    main()
