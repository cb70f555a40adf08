"""Sampling designs: Cochran sizes from the papers, Tan et al., Banyongrakkul et al."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ptmcoder.cli.sample import sample_size
from ptmcoder.corpus import store
from ptmcoder.corpus.sampling import balanced_stratified_sample, cochran_sample_size, tan_sample
from ptmcoder.errors import PtmcoderError


@pytest.mark.parametrize("population,expected", [(2829, 339), (802, 260), (1, 1), (10, 10)])
def test_cochran_published_values(population, expected):
    assert cochran_sample_size(population) == expected


def test_cochran_rejects_bad_input():
    with pytest.raises(PtmcoderError, match="population must be at least 1"):
        cochran_sample_size(0)
    with pytest.raises(PtmcoderError, match="margin"):
        cochran_sample_size(100, margin=0)


def test_sample_size_command():
    runner = CliRunner()
    assert runner.invoke(sample_size, ["--population", "2829"]).output == "339\n"
    assert runner.invoke(sample_size, ["--population", "802"]).output == "260\n"
    out = json.loads(runner.invoke(sample_size, ["-N", "2829", "--json"]).output)
    assert out["sample_size"] == 339
    bad = runner.invoke(sample_size, ["--population", "0"])
    assert bad.exit_code == 2 and "at least 1" in bad.output


def _tan_frame(n: int = 2900) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    score = rng.integers(-2, 15, size=n)
    return pd.DataFrame({"id": [f"so:{i}" for i in range(n)], "score": score})


def test_tan_sample_sizes_overlap_and_reproducibility():
    df = _tan_frame()
    result = tan_sample(df, seed=3)
    rec = result.record
    N = int((df["score"] >= 1).sum())
    assert rec["population"]["score_at_least_min"] == N
    assert rec["random_sample"] == cochran_sample_size(N)
    assert int(result.units["in_random"].sum()) == rec["random_sample"]
    assert rec["high_score"] == int((df["score"] >= 9).sum())
    assert rec["overlap"] == int((result.units["in_random"] & result.units["in_high_score"]).sum())
    assert (
        rec["total"]
        == len(result.units)
        == rec["random_sample"] + rec["high_score"] - rec["overlap"]
    )
    assert (result.units["score"] >= 1).all()
    same = tan_sample(df.sample(frac=1, random_state=1), seed=3)  # row order does not matter
    assert same.units["id"].tolist() == result.units["id"].tolist()
    other = tan_sample(df, seed=4)
    assert other.units["id"].tolist() != result.units["id"].tolist()


def _issues() -> pd.DataFrame:
    rows = []

    def add(project, ptm, n, state="closed"):
        for _ in range(n):
            rows.append(
                {"id": f"gh:{project}#{len(rows)}", "project": project, "ptm": ptm, "state": state}
            )

    add("a/a", True, 5)
    add("a/a", False, 9)  # enough non-PTM: 5 + 5
    add("b/b", True, 6)
    add("b/b", False, 2)  # too few non-PTM: PTM side shrinks to 2
    add("b/b", False, 7, "open")  # open issues are not counted
    add("c/c", True, 3)  # no non-PTM: dropped
    add("d/d", False, 4)  # no PTM: dropped
    return pd.DataFrame(rows)


def test_balanced_stratified_exact_counts():
    result = balanced_stratified_sample(_issues(), group_col="ptm", seed=1)
    table = {
        r["project"]: (
            r["ptm_available"],
            r["non_ptm_available"],
            r["ptm_sampled"],
            r["non_ptm_sampled"],
            r["dropped"],
        )
        for r in result.record["per_project"]
    }
    assert table == {
        "a/a": (5, 9, 5, 5, False),
        "b/b": (6, 2, 2, 2, False),
        "c/c": (3, 0, 0, 0, True),
        "d/d": (0, 4, 0, 0, True),
    }
    counts = result.units.groupby(["project", "ptm"]).size().to_dict()
    assert counts == {("a/a", False): 5, ("a/a", True): 5, ("b/b", False): 2, ("b/b", True): 2}
    assert (result.units["state"] == "closed").all()
    assert result.record["total"] == 14 and result.record["projects_dropped"] == ["c/c", "d/d"]
    again = balanced_stratified_sample(_issues(), group_col="ptm", seed=1)
    assert again.units["id"].tolist() == result.units["id"].tolist()


def test_balanced_stratified_rejects_non_boolean_group():
    df = _issues().assign(ptm="yes")
    with pytest.raises(PtmcoderError, match="not boolean"):
        balanced_stratified_sample(df, group_col="ptm")


def test_sample_cli_writes_sample_record_and_out_corpus(run_cli):
    from ptmcoder import paths

    store.import_corpus([paths.samples_dir() / "github_issues_sample.jsonl"], "g")
    result = run_cli(
        "corpus",
        "sample",
        "g",
        "--design",
        "banyongrakkul",
        "--ptm-labels",
        "bug",
        "--seed",
        "5",
        "--out",
        "g-balanced",
    )
    assert result.exit_code == 0, result.stderr
    assert "huggingface/datasets" in result.stdout
    record = json.loads(
        (store.corpus_dir("g") / "samples" / "banyongrakkul-seed5.json").read_text()
    )
    df = store.load_corpus("g")
    closed = df[df["state"] == "closed"]
    k = min(
        int(closed["tags"].map(lambda t: "bug" in t).sum()),
        int((~closed["tags"].map(lambda t: "bug" in t)).sum()),
    )
    assert record["total"] == 2 * k and len(record["ids"]) == 2 * k
    assert store.load_corpus("g-balanced")["id"].tolist() == record["ids"]
    no_scores = run_cli("corpus", "sample", "g", "--design", "tan")
    assert no_scores.exit_code == 1 and "no unit has score >= 1" in no_scores.stderr
    store.import_corpus([paths.samples_dir() / "so_api_sample.json"], "s")
    tan = run_cli("corpus", "sample", "s", "--design", "tan", "--json")
    assert tan.exit_code == 0, tan.stderr
    rec = json.loads(tan.stdout)
    scores = store.load_corpus("s")["score"]
    assert rec["population"]["score_at_least_min"] == int((scores >= 1).sum())
    assert rec["random_sample"] == cochran_sample_size(int((scores >= 1).sum()))


def test_balanced_stratified_refuses_an_empty_sample():
    no_ptm = _issues().assign(ptm=False)
    with pytest.raises(PtmcoderError, match="no project has both PTM-related and other issues"):
        balanced_stratified_sample(no_ptm, group_col="ptm")
    no_state = _issues().assign(state=None)
    with pytest.raises(PtmcoderError, match=r"no closed issue among 36 units \(36 have no state\)"):
        balanced_stratified_sample(no_state, group_col="ptm")
    assert (
        balanced_stratified_sample(
            no_state.assign(ptm=_issues()["ptm"]), group_col="ptm", closed_only=False
        ).record["total"]
        > 0
    )


def test_sample_cli_does_not_write_an_empty_sample(run_cli):
    from ptmcoder import paths

    store.import_corpus([paths.samples_dir() / "github_issues_sample.jsonl"], "g")
    good = run_cli("corpus", "sample", "g", "--design", "banyongrakkul", "--ptm-labels", "bug")
    assert good.exit_code == 0, good.stderr
    record = store.corpus_dir("g") / "samples" / "banyongrakkul-seed0.json"
    before = json.loads(record.read_text())["total"]
    typo = run_cli("corpus", "sample", "g", "--design", "banyongrakkul", "--ptm-labels", "bugg")
    assert typo.exit_code == 1 and typo.exception is None
    assert "the sample would be empty" in typo.stderr
    assert json.loads(record.read_text())["total"] == before > 0  # the good sample survives


def test_sample_cli_ptm_ids_file(run_cli, tmp_path):
    from ptmcoder import paths

    store.import_corpus([paths.samples_dir() / "github_issues_sample.jsonl"], "g")
    df = store.load_corpus("g")
    bug = df[df["tags"].map(lambda t: "bug" in t)]["id"]
    ids = tmp_path / "ptm.csv"
    pd.DataFrame({"id": bug}).to_csv(ids, index=False)
    by_ids = run_cli(
        "corpus",
        "sample",
        "g",
        "--design",
        "banyongrakkul",
        "--ptm-ids",
        ids,
        "--sample-name",
        "by-ids",
        "--json",
    )
    by_labels = run_cli(
        "corpus",
        "sample",
        "g",
        "--design",
        "banyongrakkul",
        "--ptm-labels",
        "bug",
        "--sample-name",
        "by-labels",
        "--json",
    )
    assert by_ids.exit_code == 0, by_ids.stderr
    picked = [
        pd.read_parquet(json.loads(r.stdout)["path"])["id"].tolist() for r in (by_ids, by_labels)
    ]
    assert picked[0] == picked[1] and len(picked[0]) > 0
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run_cli("corpus", "sample", "g", "--design", "banyongrakkul", "--ptm-ids", empty)
    assert result.exit_code == 1 and result.exception is None
    assert "empty.csv" in result.stderr and "the file is empty" in result.stderr
