"""``annotate --repeat K``: K runs with seeds seed..seed+K-1, and ``agree`` on them
reports the mean and SD of the annotator's kappa over the repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "ptmcoder" / "data" / "samples"


def test_repeat_writes_one_run_per_seed_and_agree_reports_the_sd(run_cli, isolated_home):
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded:tfidf",
        "--limit",
        "60",
        "--repeat",
        "3",
        "--seed",
        "5",
        "--no-progress",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["repeats"]
    assert [r["seed"] for r in runs] == [5, 6, 7]
    assert len({r["run_id"] for r in runs}) == 3
    seeds = [json.loads((Path(r["path"]) / "manifest.json").read_text())["seed"] for r in runs]
    assert seeds == [5, 6, 7]
    agree = run_cli(
        "agree",
        SAMPLES / "humbatova_so_labels.csv",
        *[r["path"] for r in runs],
        "--view",
        "vs-humans",
        "--bootstrap",
        "0",
        "--min-n",
        "5",
        "--json",
    )
    assert agree.exit_code == 0, agree.stderr
    rep = json.loads(agree.stdout)["replication"]
    (name,) = rep
    assert rep[name]["k"] == 3 and rep[name]["repeats"] == [f"{name}#r{i}" for i in (1, 2, 3)]
    values = [v for v in rep[name]["values"] if v is not None]
    # zero-shot TF-IDF has no randomness: the repeats agree exactly, SD 0
    assert len(values) == 3 and rep[name]["sd"] == pytest.approx(0.0, abs=1e-12)
