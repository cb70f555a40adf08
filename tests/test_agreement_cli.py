"""``ptmcoder agree`` as a user runs it: bad input gives a clean one-line error
naming the file, never a traceback; the headline never pools the gold labels."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

SAMPLES = Path(__file__).resolve().parents[1] / "ptmcoder" / "data" / "samples"
LABELS = SAMPLES / "humbatova_so_labels.csv"


@pytest.mark.parametrize("as_gold", [False, True])
def test_empty_file_is_a_clean_error(tmp_path, run_cli, as_gold):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    args = (LABELS, "--gold", empty, "--view", "confusion") if as_gold else (empty,)
    result = run_cli("agree", *args, "--bootstrap", "0")
    assert result.exit_code == 1
    assert result.exception is None
    assert "Traceback" not in result.stderr
    assert f"{empty}: header: the file is empty" in result.stderr


def test_vs_humans_table_keeps_pairs_and_n_visible_at_120_columns(run_cli):
    result = run_cli(
        "agree",
        LABELS,
        "--view",
        "vs-humans",
        "--annotators",
        "E1",
        "--bootstrap",
        "20",
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "annotator" in line and "human a" in line)
    assert [c.strip() for c in header.split("┃")[1:5]] == ["annotator", "human a", "human b", "n"]
    row = next(line for line in lines if line.startswith("│ E1 "))
    cells = [c.strip() for c in row.split("│")[1:5]]
    assert cells[0] == "E1" and cells[3].isdigit()
    assert all(len(line) <= 120 for line in lines)


def _random_rater_case(tmp_path: Path) -> tuple[Path, Path]:
    """Three humans who agree moderately on 200 units, the gold their majority (the
    first human's code on a three-way split), and an annotator at chance that coded
    30 of the units: the case in which pooling the gold flattered a useless model."""
    rng = np.random.default_rng(1)
    codes = list("abcd")
    rows, gold = [], []
    for u in range(200):
        truth = codes[rng.integers(4)]
        votes = [truth if rng.random() < 0.7 else codes[rng.integers(4)] for _ in range(3)]
        rows += [(f"u{u}", f"H{i + 1}", c) for i, c in enumerate(votes)]
        top = max(set(votes), key=votes.count)
        gold.append((f"u{u}", top if votes.count(top) > 1 else votes[0]))
        if u < 30:
            rows.append((f"u{u}", "model", codes[rng.integers(4)]))
    long, gold_csv = tmp_path / "long.csv", tmp_path / "gold.csv"
    pd.DataFrame(rows, columns=["unit", "rater", "code"]).to_csv(long, index=False)
    pd.DataFrame(gold, columns=["unit", "code"]).to_csv(gold_csv, index=False)
    return long, gold_csv


def _alpha(long: pd.DataFrame) -> float:
    """Nominal Krippendorff's alpha of a long table by the reference implementation."""
    numbers = long.assign(code=long["code"].map({c: float(i) for i, c in enumerate("abcd")}))
    wide = numbers.pivot(index="rater", columns="unit", values="code")
    return krippendorff.alpha(reliability_data=wide.to_numpy(), level_of_measurement="nominal")


def test_headline_never_pools_the_gold_random_rater(tmp_path, run_cli):
    long, gold = _random_rater_case(tmp_path)
    ratings = pd.read_csv(long, dtype=str)
    gold_df = pd.read_csv(gold, dtype=str)
    humans = ratings[ratings["rater"] != "model"]
    # the old headline: the gold pooled as one more rater lifts alpha above the humans'
    flattered = _alpha(pd.concat([ratings, gold_df.assign(rater="gold")]))
    ceiling = _alpha(humans)
    assert flattered > ceiling + 0.05

    result = run_cli(
        "agree", long, "--gold", gold, "--annotators", "model", "--bootstrap", "0", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["humans"]["raters"] == ["H1", "H2", "H3"]
    assert data["pooled"]["raters"] == ["model", "H1", "H2", "H3"]
    assert data["gold"] == {"units": 200}
    human_coefs = data["humans"]["coefficients"]
    assert human_coefs["krippendorff_alpha"]["value"] == pytest.approx(ceiling)
    # the model against the gold: Cohen's kappa on the 30 units it coded, at chance
    model = ratings[ratings["rater"] == "model"].merge(gold_df, on="unit")
    vs_gold = data["vs_gold"]["model"]["cohen_kappa"]
    assert vs_gold["n"] == 30
    assert vs_gold["value"] == pytest.approx(cohen_kappa_score(model["code_x"], model["code_y"]))
    assert abs(vs_gold["value"]) < 0.2
    # no pooled headline above the humans' own agreement
    for metric, c in data["pooled"]["coefficients"].items():
        assert c["value"] <= human_coefs[metric]["value"] + 1e-9, metric

    table = run_cli(
        "agree", long, "--gold", gold, "--annotators", "model", "--bootstrap", "0",
        "--metric", "krippendorff_alpha", env={"COLUMNS": "120"},
    )  # fmt: skip
    assert table.exit_code == 0, table.stderr
    labels = [
        line.split("│")[1].strip()
        for line in table.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    ]
    assert labels[0] == "model vs gold"
    assert labels[1].startswith("humans' ceiling: 3") and "H1, H2, H3" in " ".join(labels)
    assert "Agreement against the gold (200 units), never pooled with it" in table.stdout
    assert "gold" not in " ".join(labels[1:])


def test_codebook_aliases_count_as_their_codes(tmp_path, run_cli):
    """NLBSE labels ``feature`` where the issue-type codebook has ``enhancement`` (an
    alias): with --codebook they are that code, not missing ratings."""
    nlbse = pd.read_csv(SAMPLES / "nlbse_issues_sample.csv").groupby("label").head(10)
    labels = nlbse["label"].tolist()
    model = ["enhancement" if c == "feature" else c for c in labels]
    model[::3] = ["bug"] * len(model[::3])
    rows = [(f"i{i}", "nlbse", c) for i, c in enumerate(labels)]
    rows += [(f"i{i}", "model", c) for i, c in enumerate(model)]
    path = tmp_path / "nlbse.csv"
    pd.DataFrame(rows, columns=["unit", "rater", "code"]).to_csv(path, index=False)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"unit": [f"i{i}" for i in range(30)], "code": labels}).to_csv(gold, index=False)

    result = run_cli(
        "agree", path, "--codebook", "issue-type", "--metric", "percent_agreement",
        "--bootstrap", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert labels.count("feature") == 10
    assert (
        "10 label(s) read through the codebook's aliases and names: feature -> enhancement (10)"
        in (result.stderr)
    )
    assert "not in the codebook" not in result.stderr
    pa = json.loads(result.stdout)["percent_agreement"]
    expected = sum(
        a == ("feature" if b == "enhancement" else b) for a, b in zip(labels, model, strict=True)
    )
    assert pa["n"] == 30 and pa["value"] == pytest.approx(expected / 30)
    # the gold labels are read through the same aliases
    result = run_cli(
        "agree", path, "--gold", gold, "--annotators", "model", "--codebook", "issue-type",
        "--metric", "percent_agreement", "--bootstrap", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "gold: codebook issue-type: 10 label(s) read through" in result.stderr
    vs_gold = json.loads(result.stdout)["vs_gold"]["model"]["percent_agreement"]
    assert vs_gold["n"] == 30 and vs_gold["value"] == pytest.approx(expected / 30)
