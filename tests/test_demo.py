"""The README's main job: ``ptmcoder demo`` on the bundled Humbatova sample."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ptmcoder.demo import run_demo
from ptmcoder.paths import samples_dir


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory):
    import os

    from click.testing import CliRunner

    from ptmcoder.cli import cli

    home = tmp_path_factory.mktemp("demo-home")
    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(home)
    try:
        result = CliRunner().invoke(cli, ["demo", "--limit", "80", "--bootstrap", "50", "--json"])
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old
    assert result.exit_code == 0, (result.stderr, result.exception)
    return home, json.loads(result.stdout)


def test_demo_codes_the_sample_and_scores_every_pair(demo_json):
    home, data = demo_json
    assert data["corpus_units"] == 477
    assert data["annotator_records"] == {"embedded/zero-shot": 80, "embedded/few-shot": 80}
    labels = pd.read_csv(samples_dir() / "humbatova_so_labels.csv")
    titles = pd.read_csv(samples_dir() / "humbatova_so_titles.csv")
    first80 = set(titles["id"][:80])
    expected_humans = sorted(labels.loc[labels["unit"].isin(first80), "rater"].unique())
    assert data["humans"] == expected_humans
    rows = pd.DataFrame(data["agreement"])
    kinds = rows.groupby("kind").size().to_dict()
    n_h = len(expected_humans)
    assert kinds["annotator-human"] == 2 * n_h
    assert kinds["human-human"] == n_h * (n_h - 1) // 2
    assert kinds["annotator-gold"] == 2
    gold = rows[rows["kind"] == "annotator-gold"]
    final = pd.read_csv(samples_dir() / "humbatova_so_final.csv")
    assert set(gold["n"]) == {int(final["unit"].isin(first80).sum())}
    defined = rows.dropna(subset=["cohen_kappa"])
    assert ((defined["cohen_kappa"] >= -1) & (defined["cohen_kappa"] <= 1)).all()
    assert (defined["cohen_kappa_ci_low"] <= defined["cohen_kappa"] + 1e-9).all()
    for run in data["runs"].values():
        manifest = json.loads((home / "runs" / run.split("/")[-1] / "manifest.json").read_text())
        assert manifest["codebook"]["id"] == "humbatova-screening"


def test_demo_records_carry_codes_confidence_and_evidence(demo_json):
    home, data = demo_json
    run = home / "runs" / data["runs"]["zero-shot"].split("/")[-1]
    records = [json.loads(line) for line in (run / "annotations.jsonl").read_text().splitlines()]
    assert len(records) == 80
    titles = pd.read_csv(samples_dir() / "humbatova_so_titles.csv").set_index("id")["title"]
    for rec in records:
        assert rec["error_type"] is None
        assert rec["codes"], rec
        for code in rec["codes"]:
            assert 0.0 <= code["confidence"] <= 1.0
            assert code["evidence"] and code["evidence"] in titles[rec["unit_id"]]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown demo mode"):
        run_demo(modes=("one-shot",))
