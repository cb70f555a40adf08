"""``ptmcoder stats prevalence`` and ``stats plan-gold`` on long tables and on a run:
JSON shape, the rendered table, and the errors that leave nothing to report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptmcoder.cli import stats_inference


@pytest.fixture(autouse=True)
def stats_commands():
    """The two commands in the ``stats`` group (whether or not it registers them yet)."""
    from ptmcoder.cli.stats import stats

    added = []
    for name, command in (
        ("prevalence", stats_inference.prevalence),
        ("plan-gold", stats_inference.plan_gold),
    ):
        if name not in stats.commands:
            stats.add_command(command, name)
            added.append(name)
    yield
    for name in added:
        stats.commands.pop(name)


def _tables(tmp: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(seed)
    N, n = 600, 150
    truth = rng.choice(["bug", "question", "feature"], size=N, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(N) < 0.85, truth, "bug")
    units = [f"gh:{i}" for i in range(N)]
    project = np.where(rng.random(N) < 0.5, "react", "vscode")
    ann = pd.DataFrame({"unit": units, "rater": "llm", "code": pred, "project": project})
    pick = np.sort(rng.choice(N, n, replace=False))
    gold = pd.DataFrame({"unit": [units[i] for i in pick], "rater": "human", "code": truth[pick]})
    design = pd.DataFrame({"unit": gold["unit"], "stratum": "all", "inclusion_probability": n / N})
    paths = tmp / "ann.csv", tmp / "gold.csv", tmp / "design.csv"
    for frame, path in zip((ann, gold, design), paths, strict=True):
        frame.to_csv(path, index=False)
    return paths


def test_prevalence_json_on_a_long_table(tmp_path, run_cli):
    ann, gold, design = _tables(tmp_path)
    res = run_cli(
        "stats", "prevalence", ann, "--gold", gold, "--design", design, "--by", "project", "--json"
    )
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    first = out["estimates"][0]
    assert {
        "code",
        "group",
        "n_gold",
        "n_annotated",
        "naive",
        "classical",
        "ppi",
        "effective_n",
        "note",
    } <= set(first)
    assert {e["group"] for e in out["estimates"]} == {"(all)", "react", "vscode"}
    assert out["n_annotated"] == 600 and out["n_gold"] == 150 and not out["assumed_random"]
    assert out["design"] == f"inclusion probabilities from {design}"
    assert {d["code"] for d in out["differences"]} == {"bug", "feature", "question"}
    for e in out["estimates"]:
        assert e["ppi"]["ci_low"] <= e["ppi"]["estimate"] <= e["ppi"]["ci_high"]


def test_prevalence_table_prints_n_ci_and_method(tmp_path, run_cli):
    ann, gold, _ = _tables(tmp_path)
    res = run_cli("stats", "prevalence", ann, "--gold", gold, "--assume-random")
    assert res.exit_code == 0, res.stderr
    text = res.stdout
    for words in ("naive", "classical", "PPI++", "n gold", "n annotated", "effective n", "assumed"):
        assert words in text
    assert "[0." in text  # intervals printed as [low, high]


def test_prevalence_refuses_gold_without_design_and_foreign_units(tmp_path, run_cli):
    ann, gold, _ = _tables(tmp_path)
    res = run_cli("stats", "prevalence", ann, "--gold", gold)
    assert res.exit_code != 0 and "no design" in res.stderr and "--assume-random" in res.stderr
    pd.DataFrame({"unit": ["nope"], "rater": "h", "code": ["bug"]}).to_csv(
        tmp_path / "g2.csv", index=False
    )
    res = run_cli("stats", "prevalence", ann, "--gold", tmp_path / "g2.csv", "--assume-random")
    assert res.exit_code != 0 and "not among rater 'llm'" in res.stderr and "nope" in res.stderr
    pd.DataFrame({"unit": [], "rater": [], "code": []}).to_csv(tmp_path / "g3.csv", index=False)
    res = run_cli("stats", "prevalence", ann, "--gold", tmp_path / "g3.csv", "--assume-random")
    assert res.exit_code != 0 and "no gold units" in res.stderr


def test_plan_gold(tmp_path, run_cli):
    ann, gold, design = _tables(tmp_path)
    res = run_cli(
        "stats", "plan-gold", ann, "--gold", gold, "--design", design, "--width", "0.05", "--json"
    )
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["additional"] == out["needed_total"] - 150 and out["target_width"] == 0.05
    res = run_cli("stats", "plan-gold", ann, "--width", "0.05", "--accuracy", "0.9")
    assert res.exit_code == 0, res.stderr
    assert "assumed accuracy of 0.9" in res.stdout and "widest:" in res.stdout
    res = run_cli("stats", "plan-gold", ann, "--width", "0.05")
    assert res.exit_code != 0 and "no gold yet" in res.stderr


def test_prevalence_on_a_run(tmp_path, run_cli):
    from ptmcoder.runs import create_run

    ann, gold, _ = _tables(tmp_path)
    frame = pd.read_csv(ann)
    run = create_run({"codebook": "issue-type", "annotators": ["llm"]})
    for unit, code in zip(frame["unit"], frame["code"], strict=True):
        run.append({"unit_id": unit, "annotator": "llm", "codes": [{"code": code}]})
    run.close()
    res = run_cli("stats", "prevalence", run.id, "--gold", gold, "--assume-random", "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rater"] == "llm" and out["n_annotated"] == 600
