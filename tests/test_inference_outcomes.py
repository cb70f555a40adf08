"""Per-code outcome means corrected by PPI++ (ptmcoder.inference.outcomes): closed forms
on hand-made cases, agreement with ppi_py, tables in, validation."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import ppi_py
import pytest

from ptmcoder.inference import outcomes as O
from ptmcoder.inference.design import GoldDesign
from ptmcoder.inference.ppi import InferenceInputError


def test_doctests() -> None:
    assert doctest.testmod(O).failed == 0


def _data(seed: int = 0, N: int = 400, n: int = 120, C: int = 3):
    """Random outcome, annotator codes and human codes on a gold subsample."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, C, size=N)
    y = rng.exponential(5.0 + 10 * truth)
    ann = truth.copy()
    flip = rng.random(N) < 0.25
    ann[flip] = rng.integers(0, C, size=int(flip.sum()))
    A, H = np.eye(C)[ann], np.eye(C)[truth]
    gi = rng.choice(N, size=n, replace=False)
    return y, A, gi, H[gi]


def test_classical_ratio_closed_form_by_hand() -> None:
    # four gold units (all units are gold); code x on the first two, outcomes 1 and 3:
    # R = (1 + 3) / 2 = 2; linearised z = 1x (Y - R) = (-1, 1, 0, 0), var(z) = 0.5,
    # theta_2 = 0.5, so Var(R) = var(z) / n / theta_2^2 = 0.5 / 4 / 0.25 = 0.5.
    y = np.array([1.0, 3.0, 10.0, 20.0])
    H = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    r = O.outcome_means(y, H, np.arange(4), H, codes=["x", "y"], lam=0.0, guard=False)
    e = r.estimate("x")
    assert e.classical.estimate == pytest.approx(2.0)
    assert e.classical.se == pytest.approx(math.sqrt(0.5))
    assert e.ppi.estimate == pytest.approx(2.0)  # lam = 0: PPI is classical
    assert e.ppi.se == pytest.approx(math.sqrt(0.5))
    # the rest of x is y, mean 15; difference -13 with Var = Var(R_x) + Var(R_y) here
    # (disjoint codes, E[Y] known: the covariance of R_x and R_y is 0 when all are gold)
    rest = r.versus_rest[0]
    assert rest.classical.estimate == pytest.approx(2.0 - 15.0)


def _manual(y, A, gi, H, lam, c, w=None):
    """The module doc's formulas written out with plain sums (independent of the code)."""
    N, n = len(y), len(gi)
    w = np.ones(n) if w is None else np.asarray(w) / np.mean(w)
    fh = np.column_stack([A[:, c] * y, A[:, c]])
    f = np.column_stack([H[:, c] * y[gi], H[:, c]])
    fg = fh[gi]
    rect = w[:, None] * (f - lam * fg)
    theta = lam * fh.mean(0) + rect.mean(0)

    def cov(a, b):
        return sum((a[i] - a.mean()) * (b[i] - b.mean()) for i in range(len(a))) / len(a)

    S = np.zeros((2, 2))
    for k in range(2):
        for m in range(2):
            S[k, m] = (
                lam * lam * cov(fh[:, k], fh[:, m]) / N
                + cov(rect[:, k], rect[:, m]) / n
                + lam * (cov(fg[:, k], rect[:, m]) + cov(rect[:, k], fg[:, m])) / N
            )
    R = theta[0] / theta[1]
    var = (S[0, 0] - 2 * R * S[0, 1] + R * R * S[1, 1]) / theta[1] ** 2
    return R, math.sqrt(var)


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_ratio_and_delta_method_match_the_written_out_formula(lam: float) -> None:
    y, A, gi, H = _data(1)
    w = np.random.default_rng(2).uniform(1, 4, size=gi.size)
    r = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], lam=lam, w=w, guard=False)
    for c in range(3):
        R, se = _manual(y, A, gi, H, lam, c, w)
        assert r.estimates[c].ppi.estimate == pytest.approx(R, rel=1e-10)
        assert r.estimates[c].ppi.se == pytest.approx(se, rel=1e-10)


def test_naive_is_the_mean_among_annotated_units() -> None:
    y, A, gi, H = _data(3)
    r = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"])
    for c in range(3):
        sel = A[:, c] == 1
        assert r.estimates[c].naive.estimate == pytest.approx(y[sel].mean())
        assert r.estimates[c].n_annotated_code == int(sel.sum())
        assert r.estimates[c].classical.estimate == pytest.approx(y[gi][H[:, c] == 1].mean())


def test_components_equal_ppi_py_means_with_its_lambda() -> None:
    y, A, gi, H = _data(4)
    r = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], lam="ppi_py", guard=False)
    Fh = np.column_stack([A[:, 0] * y, A[:, 0]])
    F = np.column_stack([H[:, 0] * y[gi], H[:, 0]])
    num = ppi_py.ppi_mean_pointestimate(F[:, 0], Fh[gi, 0], Fh[:, 0])
    den = ppi_py.ppi_mean_pointestimate(F[:, 1], Fh[gi, 1], Fh[:, 1])
    assert r.estimates[0].ppi.estimate == pytest.approx(float(num[0] / den[0]), rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_ratio_variance_is_ppi_py_variance_of_the_linearised_mean(weighted: bool) -> None:
    """With one lambda for both parts and the two sets independent (ppi_py's
    assumption), Var(R) = Var(PPI mean of z = 1c (Y - R)) / theta_2^2."""
    y, A, gi, H = _data(5)
    n, lam = gi.size, 0.7
    w = np.random.default_rng(6).uniform(1, 3, size=n) if weighted else None
    wn = np.ones(n) if w is None else w / w.mean()
    for c in range(3):
        Fh = np.column_stack([y, A[:, c] * y, A[:, c]])
        F = np.column_stack([y[gi], H[:, c] * y[gi], H[:, c]])
        comp = O.components(F, Fh[gi], Fh, wn, np.array([1.0, lam, lam]), overlap=False)
        R = comp.theta[1] / comp.theta[2]
        g = np.array([0.0, 1.0, -R]) / comp.theta[2]
        se = math.sqrt(g @ comp.sigma @ g)
        z, zhat = F[:, 1] - R * F[:, 2], Fh[:, 1] - R * Fh[:, 2]
        lo, hi = ppi_py.ppi_mean_ci(z, zhat[gi], zhat, alpha=0.05, lam=lam, w=w)
        se_ppi = (float(np.ravel(hi)[0]) - float(np.ravel(lo)[0])) / (2 * 1.959963984540054)
        assert se == pytest.approx(se_ppi / comp.theta[2], rel=1e-9)


def test_vs_rest_and_pairwise_from_one_covariance() -> None:
    y, A, gi, H = _data(7)
    r = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], guard=False)
    comp_var = {}
    for kind in ("naive", "ppi"):
        # a - b difference equals the two estimates' difference
        pair = r.pairwise[0]
        assert getattr(pair, kind).estimate == pytest.approx(
            getattr(r.estimates[0], kind).estimate - getattr(r.estimates[1], kind).estimate
        )
        comp_var[kind] = getattr(pair, kind).se
    # the rest of a (single-coded units): mean of Y over units not annotated a
    sel = A[:, 0] == 0
    assert r.versus_rest[0].naive.estimate == pytest.approx(y[A[:, 0] == 1].mean() - y[sel].mean())
    assert {(p.code, p.versus) for p in r.pairwise} == {("a", "b"), ("a", "c"), ("b", "c")}
    assert all(t.df == 2 for t in r.tests)
    assert r.pairwise[0].z["ppi"] ** 2 == pytest.approx(
        (r.pairwise[0].ppi.estimate / r.pairwise[0].ppi.se) ** 2
    )


def test_binary_outcome_gets_shares_cohens_h_and_wilson() -> None:
    y, A, gi, H = _data(8)
    yb = (y > np.median(y)).astype(float)
    r = O.outcome_means(yb, A, gi, H, codes=["a", "b", "c"])
    assert r.binary
    e, rest = r.estimates[0], r.versus_rest[0]
    assert 0 <= e.ppi.ci_low <= e.ppi.estimate <= e.ppi.ci_high <= 1
    assert "Wilson" not in e.ppi.method  # the method names the estimator; Wilson in the doc
    h = rest.cohens_h["ppi"]
    p1 = e.ppi.estimate
    # rest share: (E[Y] - E[Y 1a]) / (1 - E[1a]) from the same PPI components
    p2 = p1 - rest.ppi.estimate
    expected = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    assert h.estimate == pytest.approx(expected)
    assert h.ci_low < h.estimate < h.ci_high


def test_guard_only_widens() -> None:
    y, A, gi, H = _data(9)
    a = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], guard=False)
    b = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], guard=True)
    for ea, eb in zip(a.estimates, b.estimates, strict=True):
        assert eb.ppi.estimate == ea.ppi.estimate
        assert eb.ppi.se >= ea.ppi.se - 1e-12


def test_a_code_nobody_gives_is_nan_not_a_crash() -> None:
    y, A, gi, H = _data(10)
    A2 = np.column_stack([A, np.zeros(len(y))])
    H2 = np.column_stack([H, np.zeros(len(gi))])
    r = O.outcome_means(y, A2, gi, H2, codes=["a", "b", "c", "never"])
    e = r.estimate("never")
    assert math.isnan(e.ppi.estimate) and math.isnan(e.naive.estimate)
    assert r.to_json()["estimates"][3]["ppi"]["estimate"] is None
    assert r.tests[0].df == 2  # the equal-means test over the three estimable codes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Y": []}, "no annotated units: Y is empty"),
        ({"Y": [1.0, float("nan"), 2, 3]}, "the outcome Y must be finite on every annotated unit"),
        ({"annotated": np.ones((3, 2))}, "annotated must be a units x codes matrix with 4 rows"),
        ({"human": np.ones((2, 3))}, "human has shape (2, 3); it needs 2 columns, one per code"),
        ({"gold_index": [0]}, "gold_index has 1 entries for 2 gold rows"),
        ({"gold_index": [0, 7]}, "gold_index must hold row numbers in [0, 4)"),
        ({"gold_index": [1, 1]}, "gold_index names a unit twice"),
        ({"human": np.array([[1, 0], [2, 0]])}, "human codes must be 0/1"),
        ({"codes": ["x"]}, "1 code names for 2 columns"),
        ({"alpha": 1.5}, "alpha must be in (0, 1), got 1.5"),
        ({"lam": 2.0}, "lam must be in [0, 1], got 2.0"),
        ({"w": [1.0, -1.0]}, "weights must be finite and > 0"),
    ],
)
def test_input_errors_say_what_is_wrong(kwargs, message) -> None:
    args = {
        "Y": [1.0, 2.0, 3.0, 4.0],
        "annotated": np.array([[1, 0], [0, 1], [1, 0], [0, 1]]),
        "gold_index": [0, 1],
        "human": np.array([[1, 0], [0, 1]]),
        "codes": ["x", "y"],
    }
    args.update(kwargs)
    Y, A, gi, H = args.pop("Y"), args.pop("annotated"), args.pop("gold_index"), args.pop("human")
    with pytest.raises(InferenceInputError) as err:
        O.outcome_means(Y, A, gi, H, **args)
    assert message in str(err.value)


def test_tables_in_notes_for_gold_outside_and_assumed_design() -> None:
    y, A, gi, H = _data(11, N=60, n=30)
    ids = [f"u{i}" for i in range(60)]
    codes = np.array(["a", "b", "c"])
    ann = pd.DataFrame({"unit": ids, "code": codes[A.argmax(1)]})
    gold_units = [ids[i] for i in gi] + ["elsewhere"]
    gold = pd.DataFrame(
        {"unit": [ids[i] for i in gi] + ["elsewhere"], "code": [*codes[H.argmax(1)], "a"]}
    )
    design = GoldDesign(gold_units, None, "assumed", True)
    r = O.outcome_by_code(pd.Series(y, index=ids), ann, gold, design, name="days")
    direct = O.outcome_means(y, A, gi, H, codes=["a", "b", "c"], outcome="days")
    assert [e.ppi.estimate for e in r.estimates] == pytest.approx(
        [e.ppi.estimate for e in direct.estimates]
    )
    assert r.n_gold == 30 and r.n_annotated == 60
    assert any("1 gold unit(s) outside the 60 units with days" in n for n in r.notes)
    assert any("ASSUMED" in n for n in r.notes)
    with pytest.raises(InferenceInputError, match="none of the 1 gold units has days"):
        O.outcome_by_code(
            pd.Series(y, index=ids),
            ann,
            gold.tail(1),
            GoldDesign(["elsewhere"], None, "", True),
            name="days",
        )
    with pytest.raises(InferenceInputError, match=r"annotated: missing column\(s\) code"):
        O.outcome_by_code(pd.Series(y, index=ids), ann[["unit"]], gold, design)


def test_naive_bias_is_visible_and_ppi_removes_it() -> None:
    """Errors pushed toward code a: the naive mean of a mixes in b and c units (whose
    outcomes are larger), its CI misses the truth; PPI++'s covers it."""
    rng = np.random.default_rng(12)
    N, n, mu = 20_000, 1_000, np.array([5.0, 20.0, 40.0])
    t = rng.choice(3, size=N, p=[0.5, 0.3, 0.2])
    y = rng.exponential(mu[t])
    a = t.copy()
    err = rng.random(N) < 0.2
    a[err] = np.where(t[err] == 0, 1, 0)
    gi = rng.choice(N, size=n, replace=False)
    r = O.outcome_means(y, np.eye(3)[a], gi, np.eye(3)[t][gi], codes=["a", "b", "c"])
    e = r.estimate("a")
    true_a = y[t == 0].mean()
    assert e.naive.ci_low > true_a  # biased upward, and confidently so
    assert e.ppi.ci_low <= true_a <= e.ppi.ci_high
    # errors toward a carry large outcomes, so 1a^ (Y - R) predicts 1a (Y - R) badly:
    # power tuning keeps PPI++ about as wide as the humans alone, never much wider
    assert e.ppi.width <= 1.02 * e.classical.width
    b = r.estimate("b")  # b is missed, never wrongly given: there the annotator helps
    assert b.ppi.width < 0.9 * b.classical.width
