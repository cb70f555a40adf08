"""The same command, seed and data give the same annotations on a quiet and on a loaded
machine: ``ptmcoder demo`` twice, in two fresh workspaces, the second while two
processes (started and stopped here) spin on the CPU.

The demo's supervised rater is the case that used to differ: its learner timed a probe
and left MiniLM out when the machine was slow (kappa 0.280 instead of 0.371). It now
chooses by a count of texts, so both runs must choose MiniLM and write the same records.
A record's ``created_at`` (when it was written) and ``latency_s`` (how long coding took)
are measurements of the run, not results: they are the only bytes allowed to differ.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: the parts of a record line that measure the run rather than code the unit
VOLATILE = re.compile(r'"(created_at|latency_s)":("[^"]*"|[-0-9.e]+|null),')

SPIN = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"


def _demo(home: Path) -> Path:
    """``ptmcoder demo`` in a fresh workspace ``home``; the study run's directory."""
    env = {**os.environ, "PTMCODER_HOME": str(home), "PTMCODER_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ptmcoder", "demo", "--bootstrap", "50", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(json.loads(done.stdout)["run"])


def _records(run: Path, rater: str) -> list[str]:
    lines = (run / "annotate" / rater / "annotations.jsonl").read_text().splitlines()
    return [VOLATILE.sub("", line) for line in lines]


def _learner(run: Path) -> dict:
    manifest = json.loads((run / "annotate" / "supervised" / "manifest.json").read_text())
    return manifest["annotators"][0]["learner"]


@pytest.mark.slow
def test_the_demo_codes_the_same_under_cpu_load(tmp_path):
    quiet = _demo(tmp_path / "quiet")
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(max(2, os.cpu_count() or 2))
    ]
    try:
        time.sleep(1.0)  # the spinners have started before the demo loads anything
        loaded = _demo(tmp_path / "loaded")
        assert all(p.poll() is None for p in spinners)  # the load lasted the whole run
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    for run in (quiet, loaded):
        learner = _learner(run)
        assert "minilm" in learner["representation"] or learner["representation"] == "combined"
        assert "minilm" not in learner["representations_skipped"]
    assert _learner(quiet)["representation"] == _learner(loaded)["representation"]
    for rater in ("zero-shot", "supervised"):
        a, b = _records(quiet, rater), _records(loaded, rater)
        assert len(a) == 477 and a == b, rater
        assert not any('"created_at"' in line or '"latency_s"' in line for line in a)
