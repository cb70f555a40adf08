"""The README's main job: ``ptmcoder demo`` = ``ptmcoder run studies/demo.toml``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder.demo import demo_overrides
from ptmcoder.paths import samples_dir
from ptmcoder.pipeline.rundir import read_stage_output


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    import os

    from click.testing import CliRunner

    from ptmcoder.cli import cli

    home = tmp_path_factory.mktemp("demo-home")
    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(home)
    try:
        args = ["demo", "--limit", "80", "--bootstrap", "50", "--json"]
        first = CliRunner().invoke(cli, args)
        second = CliRunner().invoke(cli, args)
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old
    assert first.exit_code == 0, (first.stderr, first.exception)
    assert second.exit_code == 0, (second.stderr, second.exception)
    return json.loads(first.stdout), json.loads(second.stdout)


def test_demo_codes_the_sample_with_two_raters_and_scores_every_pair(demo_runs):
    data, _ = demo_runs
    run = Path(data["run"])
    assert data["annotator_calls"] == 160
    assert read_stage_output(run, "import")["units"] == 477
    annotate = read_stage_output(run, "annotate")
    assert {r["rater"]: r["records"] for r in annotate["raters"]} == {
        "zero-shot": 80,
        "supervised": 80,
    }
    labels = pd.read_csv(samples_dir() / "humbatova_so_labels.csv")
    titles = pd.read_csv(samples_dir() / "humbatova_so_titles.csv")
    first80 = set(titles["id"][:80])
    expected = sorted(labels.loc[labels["unit"].isin(first80), "rater"].unique())
    agree = read_stage_output(run, "agree")
    assert agree["humans"] == expected
    rows = pd.DataFrame(agree["pairs"])
    kinds = rows.groupby("kind").size().to_dict()
    n_h = len(expected)
    assert kinds["annotator-human"] == 2 * n_h
    assert kinds["human-human"] == n_h * (n_h - 1) // 2
    assert kinds["annotator-gold"] == 2
    final = pd.read_csv(samples_dir() / "humbatova_so_final.csv")
    gold = rows[rows["kind"] == "annotator-gold"]
    assert set(gold["n"]) == {int(final["unit"].isin(first80).sum())}
    defined = rows.dropna(subset=["cohen_kappa"])
    assert ((defined["cohen_kappa"] >= -1) & (defined["cohen_kappa"] <= 1)).all()
    assert Path(data["report_html"]).is_file() and Path(data["report_md"]).is_file()


def test_second_demo_run_makes_no_annotator_call(demo_runs):
    first, second = demo_runs
    assert second["run"] == first["run"]
    assert second["annotator_calls"] == 0
    assert {s["status"] for s in second["stages"]} == {"skipped"}


def test_demo_records_carry_codes_confidence_and_evidence(demo_runs):
    data, _ = demo_runs
    path = Path(data["run"]) / "annotate" / "zero-shot" / "annotations.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 80
    titles = pd.read_csv(samples_dir() / "humbatova_so_titles.csv").set_index("id")["title"]
    for rec in records:
        assert rec["error_type"] is None
        assert rec["codes"], rec
        for code in rec["codes"]:
            assert 0.0 <= code["confidence"] <= 1.0
            assert code["evidence"] and code["evidence"] in titles[rec["unit_id"]]


def test_unknown_embedder_is_refused():
    with pytest.raises(ValueError, match="unknown demo embedder"):
        demo_overrides(embedder="one-shot")
