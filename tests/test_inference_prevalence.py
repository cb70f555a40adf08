"""ptmcoder.inference.prevalence, design and planning: the shares per code and group
against ppi_py cell by cell, inputs validated with exact messages, the design read
from a gold column or a design file, planning against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import ppi_py
import pytest

from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.design import DesignError
from ptmcoder.inference.planning import (
    Moments,
    moments_from_accuracy,
    needed_n,
    plan_gold,
    ppi_width,
)
from ptmcoder.inference.ppi import z_value
from ptmcoder.inference.prevalence import PrevalenceError, prevalence


def _world(seed=0, N=3000, n=300, accuracy=0.85):
    """Multi-label: each unit carries each of 3 codes independently; the annotator
    flips each yes/no with probability 1 - accuracy; a field 'site' in {p, q}."""
    rng = np.random.default_rng(seed)
    codes = ["a", "b", "c"]
    truth = rng.random((N, 3)) < np.array([0.4, 0.25, 0.15])
    pred = np.where(rng.random((N, 3)) < accuracy, truth, ~truth)
    units = [f"u{i}" for i in range(N)]
    site = np.where(rng.random(N) < 0.4, "p", "q")

    def long(matrix, rater):
        rows = [(units[i], rater, codes[c]) for i, c in zip(*np.nonzero(matrix), strict=True)]
        empty = [(units[i], rater, None) for i in np.nonzero(~matrix.any(axis=1))[0]]
        return pd.DataFrame(rows + empty, columns=["unit", "rater", "code"])

    ann = long(pred, "llm")
    ann["site"] = ann["unit"].map(dict(zip(units, site, strict=True)))
    gold_idx = np.sort(rng.choice(N, n, replace=False))
    gold = long(truth[gold_idx], "human")
    gold["unit"] = gold["unit"].map({f"u{j}": units[i] for j, i in enumerate(gold_idx)})
    return ann, gold, truth, pred, gold_idx, site


def test_every_cell_matches_ppi_py_and_the_naive_share():
    ann, gold, truth, pred, gi, site = _world()
    r = prevalence(ann, gold, assume_random=True, guard=False)
    guarded = {e.code: e.ppi for e in prevalence(ann, gold, assume_random=True).estimates}
    assert r.n_annotated == 3000 and r.n_gold == 300 and r.assumed_random
    for e in r.estimates:
        c = "abc".index(e.code)
        assert e.naive.estimate == pytest.approx(pred[:, c].mean())
        y, yh, yu = truth[gi, c].astype(float), pred[gi, c].astype(float), pred[:, c].astype(float)
        assert e.ppi.estimate == pytest.approx(
            np.ravel(ppi_py.ppi_mean_pointestimate(y, yh, yu))[0]
        )
        lo, hi = ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05)
        assert (e.ppi.ci_low, e.ppi.ci_high) == (pytest.approx(lo[0]), pytest.approx(hi[0]))
        # the small-cell guard changes a 300-unit interval by a hair
        assert guarded[e.code].width == pytest.approx(hi[0] - lo[0], rel=0.05)
        assert e.classical.estimate == pytest.approx(y.mean())
        assert e.effective_n > e.n_gold


def test_groups_and_differences_with_design_weights():
    ann, gold, truth, pred, gi, site = _world(seed=1)
    # a stratified design: site p oversampled (probabilities known)
    p = np.where(site[gi] == "p", 0.2, 0.05)
    gold["inclusion_probability"] = gold["unit"].map(
        dict(zip([f"u{i}" for i in gi], p, strict=True))
    )
    r = prevalence(ann, gold, by="site")
    assert r.design.startswith("inclusion probabilities from gold") and not r.assumed_random
    got = {(e.group, e.code): e for e in r.estimates}
    assert {g for g, _ in got} == {"(all)", "p", "q"}
    for g in ("p", "q"):
        m = site == g
        gm = site[gi] == g
        y, yh, yu = truth[gi][gm, 0].astype(float), pred[gi][gm, 0].astype(float), pred[m, 0]
        ref = np.ravel(ppi_py.ppi_mean_pointestimate(y, yh, yu.astype(float), w=1 / p[gm]))[0]
        assert got[(g, "a")].ppi.estimate == pytest.approx(ref)
        assert got[(g, "a")].n_annotated == int(m.sum()) and got[(g, "a")].n_gold == int(gm.sum())
    # overall: Hajek-weighted with 1/p over both strata
    y, yh = truth[gi, 0].astype(float), pred[gi, 0].astype(float)
    ref = np.ravel(ppi_py.ppi_mean_pointestimate(y, yh, pred[:, 0].astype(float), w=1 / p))[0]
    assert got[("(all)", "a")].ppi.estimate == pytest.approx(ref)
    d = next(d for d in r.differences if d.code == "a")
    a, b = got[(d.group, "a")].ppi, got[(d.versus, "a")].ppi
    assert d.ppi.estimate == pytest.approx(a.estimate - b.estimate)
    assert d.ppi.se == pytest.approx(math.hypot(a.se, b.se))
    js = r.to_json()
    assert set(js["estimates"][0]) >= {
        "code",
        "group",
        "n_gold",
        "n_annotated",
        "naive",
        "classical",
        "ppi",
    }
    assert set(js["estimates"][0]["ppi"]) >= {"estimate", "ci_low", "ci_high"}


def test_gold_units_outside_the_annotated_ones_are_named():
    ann, gold, *_ = _world(N=200, n=20)
    gold = pd.concat(
        [gold, pd.DataFrame({"unit": ["zz1", "zz2"], "rater": "h", "code": ["a", "b"]})]
    )
    with pytest.raises(
        PrevalenceError, match=r"2 gold unit\(s\) not among rater 'llm'.*: zz1, zz2"
    ):
        prevalence(ann, gold, assume_random=True)


def test_a_gold_file_without_design_needs_assume_random():
    ann, gold, *_ = _world(N=200, n=20)
    with pytest.raises(DesignError, match="the gold sample has no design"):
        prevalence(ann, gold)
    design = pd.DataFrame({"unit": gold["unit"].unique()[:5], "inclusion_probability": "0.1"})
    with pytest.raises(DesignError, match=r"gold unit\(s\) not in the design"):
        prevalence(ann, gold, design=design)
    bad = pd.DataFrame({"unit": gold["unit"].unique(), "inclusion_probability": "1.5"})
    with pytest.raises(DesignError, match=r"must be a number in \(0, 1\]"):
        prevalence(ann, gold, design=bad)


def test_raters_and_fields_are_checked():
    ann, gold, *_ = _world(N=200, n=20)
    two = pd.concat([ann, ann.assign(rater="other")])
    with pytest.raises(PrevalenceError, match="2 raters"):
        prevalence(two, gold, assume_random=True)
    assert prevalence(two, gold, rater="other", assume_random=True).rater == "other"
    with pytest.raises(PrevalenceError, match="no column 'year'"):
        prevalence(ann, gold, by="year", assume_random=True)
    with pytest.raises(PrevalenceError, match="no gold units"):
        prevalence(ann, gold.iloc[0:0], assume_random=True)


def test_units_without_codes_count_in_the_denominator():
    ann = pd.DataFrame({"unit": ["1", "2", "3", "4"], "rater": "m", "code": ["x", None, None, "x"]})
    gold = pd.DataFrame({"unit": ["1", "2", "3"], "code": ["x", "x", None]})
    r = prevalence(ann, gold, assume_random=True)
    (e,) = r.estimates
    assert (e.n_annotated, e.naive.estimate, e.classical.estimate) == (4, 0.5, pytest.approx(2 / 3))


def test_planning_closed_form():
    # classical width 2 z sqrt(p(1-p)/n) = target  =>  n = p(1-p) (2z/width)^2
    m = Moments(0.21, 0.21, 0.0, 0.0, False)
    z = z_value(0.05)
    assert needed_n(m, 100_000, 0.05) == math.ceil(0.21 * (2 * z / 0.05) ** 2)
    # a good annotator needs fewer: width decreasing in n and smallest n found
    good = moments_from_accuracy(0.3, 0.95)
    n = needed_n(good, 100_000, 0.05)
    assert ppi_width(good, n, 100_000) <= 0.05 < ppi_width(good, n - 1, 100_000)
    assert n < needed_n(m, 100_000, 0.05)


def test_plan_gold_from_observed_gold_and_from_accuracy():
    ann, gold, *_ = _world(seed=3)
    plan = plan_gold(ann, gold, width=0.05, assume_random=True)
    assert plan.n_gold == 300 and plan.additional == plan.needed_total - 300 > 0
    assert plan.widest.needed_total == max(r.needed_total for r in plan.rows)
    ahead = plan_gold(ann, width=0.05, accuracy=0.85)
    assert "assumed accuracy" in ahead.basis and ahead.n_gold == 0
    with pytest.raises(PtmcoderError, match="no gold yet"):
        plan_gold(ann, width=0.05)
