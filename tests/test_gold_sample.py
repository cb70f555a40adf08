"""``ptmcoder sample gold``: the human sample of a run with each unit's inclusion
probability (issue #26, deliverable 1)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ptmcoder.corpus.sampling import gold_sample
from ptmcoder.errors import PtmcoderError


def _population(n_a: int = 80, n_b: int = 15, n_c: int = 5) -> pd.DataFrame:
    codes = ["a"] * n_a + ["b"] * n_b + ["c"] * n_c
    return pd.DataFrame({"id": [f"u{i:03d}" for i in range(len(codes))], "code": codes})


@pytest.mark.parametrize("allocation", ["proportional", "equal"])
def test_inverse_probabilities_add_up_to_each_stratum(allocation):
    """Horvitz-Thompson: the sampled units' 1/p sum to the stratum's size, exactly."""
    pop = _population()
    drawn = gold_sample(pop, 30, seed=3, stratum="code", allocation=allocation)
    units = drawn.units
    assert len(units) == 30 and units["id"].is_unique
    sizes = pop["code"].value_counts()
    for code, group in units.groupby("stratum"):
        assert (1 / group["inclusion_probability"]).sum() == pytest.approx(sizes[code])
        assert drawn.record["strata"][code]["sampled"] == len(group)
    if allocation == "equal":  # every stratum the same n_h, capped at N_h
        assert units["stratum"].value_counts().to_dict() == {"a": 13, "b": 12, "c": 5}
    else:
        assert units["stratum"].value_counts().to_dict() == {"a": 24, "b": 5, "c": 1}


def test_the_weighted_share_is_unbiased_over_draws():
    """The mean over 400 seeds of the weighted share of code 'c' (5 of 100 units) is
    its true share: the probabilities written are the ones the draws had."""
    pop = _population()
    truth = float((pop["code"] == "c").mean())
    estimates = []
    for seed in range(400):
        units = gold_sample(pop, 20, seed=seed, stratum="code", allocation="equal").units
        w = 1 / units["inclusion_probability"]
        estimates.append(float((w * (units["stratum"] == "c")).sum() / w.sum()))
    assert np.mean(estimates) == pytest.approx(truth, abs=1e-9)
    uniform = [
        float((gold_sample(pop, 20, seed=s).units["code"] == "c").mean()) for s in range(400)
    ]
    assert np.mean(uniform) == pytest.approx(truth, abs=0.009)  # 4 standard errors


def test_draws_are_seeded_and_independent_of_row_order():
    pop = _population()
    a = gold_sample(pop, 10, seed=1).units["id"].tolist()
    b = gold_sample(pop.sample(frac=1, random_state=9), 10, seed=1).units["id"].tolist()
    assert a == b != gold_sample(pop, 10, seed=2).units["id"].tolist()


def test_bad_designs_are_refused():
    pop = _population()
    with pytest.raises(PtmcoderError, match="allocation"):
        gold_sample(pop, 5, allocation="neyman")
    with pytest.raises(PtmcoderError, match="positive integer"):
        gold_sample(pop, 0)
    with pytest.raises(PtmcoderError, match="no column 'year'"):
        gold_sample(pop, 5, stratum="year")


def test_cli_draws_from_a_run_by_code_and_by_corpus_field(run_cli, isolated_home):
    rows = ["id,title,project"] + [
        f"u{i},Keras model {i} returns NaN loss after epoch {i},p{i % 3}" for i in range(30)
    ]
    (isolated_home / "units.csv").write_text("\n".join(rows) + "\n")
    imported = run_cli(
        "corpus", "import", isolated_home / "units.csv", "--name", "small", "--format", "csv",
        "--map", "id=id,title=title,project=project", "--platform", "github", "--no-progress",
    )  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    coded = run_cli(
        "annotate", "--codebook", "humbatova-screening", "--corpus", "small",
        "--annotator", "embedded:tfidf", "--run", "r1", "--no-progress",
    )  # fmt: skip
    assert coded.exit_code == 0, coded.stderr
    result = run_cli("sample", "gold", "r1", "--size", "9", "--strata", "project", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["design"]["design"] == "stratified" and out["design"]["population"] == 30
    assert {s["sampled"] for s in out["design"]["strata"].values()} == {3}
    sample = pd.read_csv(isolated_home / "runs" / "r1" / "gold" / "gold_sample.csv")
    assert list(sample.columns) == ["unit", "stratum", "inclusion_probability", "title", "url"]
    assert len(sample) == 9 and set(sample["inclusion_probability"]) == {0.3}
    by_code = run_cli("sample", "gold", "r1", "--size", "6", "--strata", "code", "--out",
                      isolated_home / "g.csv")  # fmt: skip
    assert by_code.exit_code == 0, by_code.stderr
    assert (isolated_home / "g_design.json").is_file()
    bad = run_cli("sample", "gold", "r1", "--size", "5", "--strata", "year")
    assert bad.exit_code != 0 and "project" in bad.stderr and "Traceback" not in bad.stderr
