"""Coefficients against published worked examples and the reference libraries."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater as ir

from ptmcoder.agreement import coefficients as co
from ptmcoder.agreement.compute import compute_coefficients
from ptmcoder.agreement.data import rating_matrix

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# four observers, twelve units, values 1-5, missing values. Gwet's (2014) Handbook
# uses the same data (irrCAC's ``cac.raw4raters``).
OBSERVERS = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    "C": [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
}

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, categories
# depression, personality disorder, schizophrenia, neurosis, other.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 6, 0],
        [0, 3, 0, 0, 3],
        [0, 1, 4, 0, 1],
        [0, 0, 0, 0, 6],
        [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0],
        [0, 0, 4, 0, 2],
        [2, 0, 3, 1, 0],
        [2, 0, 0, 4, 0],
        [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0],
        [1, 1, 0, 4, 0],
        [0, 3, 3, 0, 0],
        [1, 0, 0, 5, 0],
        [0, 2, 0, 3, 1],
        [0, 0, 5, 0, 1],
        [3, 0, 0, 1, 2],
        [5, 1, 0, 0, 0],
        [0, 2, 0, 4, 0],
        [1, 0, 2, 0, 3],
        [0, 0, 0, 0, 6],
        [0, 1, 0, 5, 0],
        [0, 2, 0, 1, 3],
        [2, 0, 0, 4, 0],
        [1, 0, 0, 4, 1],
        [0, 5, 0, 1, 0],
        [4, 0, 0, 0, 2],
        [0, 2, 0, 4, 0],
        [1, 0, 5, 0, 0],
        [0, 0, 0, 0, 6],
    ]
)


def example_c_counts() -> np.ndarray:
    counts = np.zeros((12, 5))
    for values in OBSERVERS.values():
        for u, v in enumerate(values):
            if v is not None:
                counts[u, v - 1] += 1
    return counts


def example_c_long() -> pd.DataFrame:
    rows = [
        (f"u{u:02d}", o, str(v))
        for o, values in OBSERVERS.items()
        for u, v in enumerate(values)
        if v is not None
    ]
    return pd.DataFrame(rows, columns=["unit", "rater", "code"])


# -- published values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "level,published",
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example_c(level, published):
    alpha = co.krippendorff_alpha(example_c_counts(), level, values=[1, 2, 3, 4, 5])
    assert round(alpha, 3) == published


def test_fleiss_1971_table_1_kappa_430():
    assert round(co.fleiss_kappa(FLEISS_1971), 3) == 0.430
    assert co.fleiss_kappa(FLEISS_1971) == pytest.approx(
        ir.fleiss_kappa(FLEISS_1971, method="fleiss")
    )


def test_gwet_ac1_handbook_example():
    # irrCAC gwet.ac1.raw(cac.raw4raters): pa = 0.8182, AC1 = 0.77544
    counts = example_c_counts()
    assert round(co.percent_agreement(counts), 4) == 0.8182
    assert round(co.gwet_ac1(counts), 5) == 0.77544


def test_masi_distance_passonneau_2006():
    assert co.masi_distance({"a"}, {"a"}) == 0.0
    assert co.masi_distance({"a", "b"}, {"a"}) == pytest.approx(1 - 0.5 * 2 / 3)  # subset
    assert co.masi_distance({"a", "b"}, {"b", "c"}) == pytest.approx(
        1 - (1 / 3) * (1 / 3)
    )  # overlap
    assert co.masi_distance({"a"}, {"b"}) == 1.0  # disjoint
    assert co.masi_distance({"a", "b", "c"}, {"a", "b"}) == pytest.approx(1 - (2 / 3) * (2 / 3))


# -- reference libraries ----------------------------------------------------------------


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_krippendorff_package(level):
    rel = np.array([[np.nan if v is None else v for v in OBSERVERS[o]] for o in "ABCD"], float)
    expected = krippendorff.alpha(rel, level_of_measurement=level)
    got = co.krippendorff_alpha(example_c_counts(), level, values=[1, 2, 3, 4, 5])
    assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=60),
    st.sampled_from(["none", "linear", "quadratic"]),
)
def test_cohen_matches_sklearn(pairs, weights):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    labels = list(range(5))
    with np.errstate(all="ignore"):
        expected = cohen_kappa_score(
            a, b, labels=labels, weights=None if weights == "none" else weights
        )
    if not np.isfinite(expected):
        with pytest.raises(co.UndefinedCoefficient):
            co.cohen_kappa(a, b, weights, n_categories=5)
        return
    try:
        got = co.cohen_kappa(a, b, weights, n_categories=5)
    except co.UndefinedCoefficient:
        pytest.fail(f"undefined where sklearn gives {expected}")
    assert got == pytest.approx(expected, abs=1e-9)


def test_cohen_matches_statsmodels_table():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 3, 200))
    table = np.zeros((3, 3))
    np.add.at(table, (a, b), 1)
    assert co.cohen_kappa(a, b) == pytest.approx(ir.cohens_kappa(table).kappa)
    assert co.cohen_kappa(a, b, "linear") == pytest.approx(
        ir.cohens_kappa(table, wt="linear").kappa
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=4, max_size=4), min_size=2, max_size=40))
def test_fleiss_matches_statsmodels_and_alpha_matches_package(rows):
    data = np.array(rows)
    table, _ = ir.aggregate_raters(data, n_cat=4)
    with np.errstate(all="ignore"):
        expected = ir.fleiss_kappa(table, method="fleiss")
    if np.isfinite(expected):
        assert co.fleiss_kappa(table) == pytest.approx(expected, abs=1e-9)
    else:
        with pytest.raises(co.UndefinedCoefficient):
            co.fleiss_kappa(table)
    if len(np.unique(data)) > 1:
        ref = krippendorff.alpha(data.T.astype(float), level_of_measurement="nominal")
        assert co.krippendorff_alpha(table) == pytest.approx(ref, abs=1e-9)


def test_scott_pi_is_fleiss_for_two_raters():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, 100)
    b = np.where(rng.random(100) < 0.5, a, rng.integers(0, 4, 100))
    table, _ = ir.aggregate_raters(np.column_stack([a, b]), n_cat=4)
    assert co.scott_pi(a, b) == pytest.approx(ir.fleiss_kappa(table))


def test_landis_koch_bands():
    assert [co.landis_koch(v) for v in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9, None)] == [
        "poor",
        "slight",
        "fair",
        "moderate",
        "substantial",
        "almost perfect",
        "n/a",
    ]


def test_input_validation_messages():
    with pytest.raises(ValueError, match="2-D units x categories"):
        co.fleiss_kappa([1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        co.percent_agreement([[1, -1]])
    with pytest.raises(ValueError, match="same length"):
        co.cohen_kappa([0, 1], [0])
    with pytest.raises(ValueError, match="weights must be one of"):
        co.cohen_kappa([0, 1], [0, 1], "cubic")
    with pytest.raises(ValueError, match="interval alpha needs one numeric value"):
        co.krippendorff_alpha([[1, 1]], "interval")


# -- through the long table ------------------------------------------------------------


def test_long_table_reproduces_published_values():
    coefs = compute_coefficients(rating_matrix(example_c_long()), n_boot=0)
    assert round(coefs["krippendorff_alpha"].value, 3) == 0.743
    assert round(coefs["gwet_ac1"].value, 5) == 0.77544
    assert round(coefs["percent_agreement"].value, 4) == 0.8182
    assert coefs["krippendorff_alpha"].n_units == 11  # unit 12 has one value: not pairable
    assert "single rater" in coefs["krippendorff_alpha"].note


def test_alpha_levels_via_long_table():
    m = rating_matrix(example_c_long())
    for level, published in [("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]:
        c = compute_coefficients(m, ["krippendorff_alpha"], alpha_level=level, n_boot=0)
        assert round(c["krippendorff_alpha"].value, 3) == published


def test_masi_alpha_matches_pairwise_definition():
    rows = [
        ("u1", "A", "x"),
        ("u1", "B", "x"),
        ("u1", "B", "y"),
        ("u2", "A", "y"),
        ("u2", "B", "y"),
        ("u3", "A", "x"),
        ("u3", "A", "z"),
        ("u3", "B", "z"),
        ("u4", "A", "x"),
        ("u4", "B", "y"),
        ("u5", "A", "z"),
        ("u5", "B", "z"),
    ]
    m = rating_matrix(pd.DataFrame(rows, columns=["unit", "rater", "code"]))
    got = compute_coefficients(m, ["krippendorff_alpha_masi"], n_boot=0)[
        "krippendorff_alpha_masi"
    ].value
    sets = [frozenset(c) for c in m.categories]
    delta = co.masi_matrix(sets)
    # independent computation of alpha with the MASI distance from Krippendorff's
    # pairwise definition
    values = [[c for c in m.codes[u] if c >= 0] for u in range(m.n_units)]
    n = sum(len(v) for v in values if len(v) >= 2)
    d_o = (
        sum(
            sum(delta[a, b] for i, a in enumerate(v) for j, b in enumerate(v) if i != j)
            / (len(v) - 1)
            for v in values
            if len(v) >= 2
        )
        / n
    )
    pooled = [c for v in values if len(v) >= 2 for c in v]
    d_e = sum(delta[a, b] for i, a in enumerate(pooled) for j, b in enumerate(pooled) if i != j) / (
        n * (n - 1)
    )
    assert got == pytest.approx(1 - d_o / d_e)
    nominal = compute_coefficients(m, ["krippendorff_alpha"], n_boot=0)["krippendorff_alpha"].value
    assert got > nominal  # partial credit for overlapping sets
