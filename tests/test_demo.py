"""The README's main job: ``ptmcoder demo`` = ``ptmcoder run studies/demo.toml``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def _intervals(obj, path=""):
    """(path, estimate, low, high) of every interval in a stage output: ``X`` with
    ``X_ci_low``/``X_ci_high``, or ``ci_low``/``ci_high`` beside ``value``,
    ``estimate`` or ``effect_size``."""
    if isinstance(obj, dict):
        for key, low in obj.items():
            base = key[: -len("_ci_low")] if key.endswith("_ci_low") else None
            if key == "ci_low":
                base = next((k for k in ("value", "estimate", "effect_size") if k in obj), None)
                high = obj.get("ci_high")
            else:
                high = obj.get(f"{base}_ci_high") if base else None
            est = obj.get(base) if base else None
            if all(isinstance(v, int | float) for v in (est, low, high)):
                yield f"{path}/{base}", est, low, high
        for key, value in obj.items():
            yield from _intervals(value, f"{path}/{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _intervals(value, f"{path}[{i}]")


def test_no_interval_the_demo_writes_excludes_its_estimate(demo_runs):
    """Every CI in every stage output contains its point estimate (the calibrated
    ECE's percentile interval did not: 0.032 [0.036, 0.088])."""
    data, _ = demo_runs
    found = []
    for path in sorted(Path(data["run"]).rglob("*.json")):
        found += [(path.name, *iv) for iv in _intervals(json.loads(path.read_text()))]
    assert len(found) >= 50
    outside = [f for f in found if not f[3] - 1e-9 <= f[2] <= f[4] + 1e-9]
    assert outside == []
    assert any("/ece" in f[1] for f in found) and any("cohen_kappa" in f[1] for f in found)


def test_demo_without_resamples_writes_its_report(run_cli, isolated_home):
    """``--bootstrap 0``: no interval anywhere; the report shows none (it crashed)."""
    result = run_cli(
        "demo", "--embedder", "embedded:tfidf", "--bootstrap", "0", "--limit", "20", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = Path(json.loads(result.stdout)["report_md"]).read_text()
    assert "Calibration" in report or "ECE" in report


def test_stage_outputs_hold_no_path_of_this_machine(demo_runs):
    """Stage outputs are shared with a run: the workspace's own folders are written
    relative to it (the queue, the report files, the corpus file)."""
    data, _ = demo_runs
    run = Path(data["run"])
    home = str(run.parents[1])
    for path in sorted(run.glob("*/*.json")):
        if path.name in ("manifest.json", "settings.json"):
            continue  # the provenance a run keeps for itself, never rendered
        assert home not in path.read_text(), path
    review = json.loads((run / "review" / "review.json").read_text())
    assert review["raters"] == ["zero-shot", "supervised"]


def test_the_demo_leads_with_corrected_findings(demo_runs):
    """[gold] in the study: each rater's code shares naive, from the humans' sample and
    PPI++; the report leads with them and flags where the naive CI excludes PPI++."""
    from ptmcoder.inference.findings import CHANGES, findings_rows
    from ptmcoder.inference.prevalence import prevalence

    data, _ = demo_runs
    run = Path(data["run"])
    findings = read_stage_output(run, "stats")["findings"]
    rows = findings_rows(findings)
    assert {r["rater"] for r in rows} == {"zero-shot", "supervised"}
    for r in rows:
        assert r["n_annotated"] >= r["n_gold"] >= 3
        lo, hi = r["naive"]["ci_low"], r["naive"]["ci_high"]
        assert (r["flag"] == CHANGES) == (not lo <= r["ppi"]["estimate"] <= hi)
        assert r["census"] is not None
    # the stage's figures are prevalence() on the codings and the sampled gold
    codings = pd.read_csv(run / "agree" / "codings.csv", dtype=str)
    final = pd.read_csv(samples_dir() / "humbatova_so_final.csv", dtype=str)
    coded = sorted(set(final["unit"]) & set(codings["unit"]))
    n = rows[0]["n_gold"]
    ordered = sorted(coded)  # gold_sample's design: ids sorted, a seeded permutation
    picked = {ordered[i] for i in np.random.default_rng(13).permutation(len(ordered))[:n]}
    gold = final[final["unit"].isin(picked)][["unit", "code"]]
    again = prevalence(
        codings[(codings["rater"] == "supervised") & codings["unit"].isin(coded)],
        gold.assign(inclusion_probability=n / len(coded)),
        rater="supervised",
    ).to_json()["estimates"]
    mine = findings["raters"]["supervised"]["estimates"]
    assert [e["ppi"]["estimate"] for e in again] == pytest.approx(
        [e["ppi"]["estimate"] for e in mine]
    )
    report = Path(data["report_md"]).read_text()
    assert report.index("## Findings") < report.index("## Corpus and sample")
