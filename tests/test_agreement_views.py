"""Edge cases, bootstrap, views, the alt-test, inputs and the ``agree`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptmcoder.agreement import (
    alt_test,
    annotations_to_long,
    annotator_vs_humans,
    compute_coefficients,
    confusion_matrix,
    human_ceiling,
    human_consensus,
    map_to_level,
    per_code_table,
    rating_matrix,
    render_vs_humans,
)
from ptmcoder.agreement.bootstrap import bootstrap_sums
from ptmcoder.agreement.coefficients import ALL_ONE_CATEGORY, NO_COMMON_UNITS, NO_PAIRABLE_UNITS
from ptmcoder.agreement.compute import METRICS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "agreement"


def long(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unit", "rater", "code"])


def simulated(
    n_units=150,
    raters=(("llm", 0.8), ("h1", 0.85), ("h2", 0.8), ("h3", 0.75)),
    seed=1,
    codes=("generic", "dl-fault", "false-positive"),
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(codes), n_units)
    rows = []
    for name, acc in raters:
        lab = np.where(rng.random(n_units) < acc, truth, rng.integers(0, len(codes), n_units))
        rows += [(f"u{i:03d}", name, codes[k]) for i, k in enumerate(lab)]
    return long(rows)


# -- item 5: stated answers, not NaN or a crash ------------------------------------------


def test_all_raters_agree_on_one_category_is_stated():
    df = long([(f"u{i}", r, "x") for i in range(10) for r in "AB"])
    coefs = compute_coefficients(rating_matrix(df), n_boot=50)
    assert coefs["percent_agreement"].value == 1.0
    for name in ("cohen_kappa", "scott_pi", "fleiss_kappa", "krippendorff_alpha"):
        assert coefs[name].value is None
        assert coefs[name].note.startswith(ALL_ONE_CATEGORY)
        assert coefs[name].interpretation == "n/a"
    assert coefs["gwet_ac1"].value is None and "only one category" in coefs["gwet_ac1"].note
    json.dumps({k: v.to_json() for k, v in coefs.items()}, allow_nan=False)


def test_rater_with_no_labels_is_named():
    df = long(
        [
            ("u1", "A", "x"),
            ("u1", "B", "y"),
            ("u2", "A", "y"),
            ("u2", "B", "y"),
            ("u1", "C", None),
            ("u2", "C", None),
        ]
    )
    m = rating_matrix(df)
    assert m.diagnostics()["raters_without_labels"] == ["C"]
    coefs = compute_coefficients(m, n_boot=0)
    assert "rater(s) with no labels: C" in coefs["krippendorff_alpha"].note
    pairs = coefs["cohen_kappa"].extra["pairs"]
    assert pairs["A~C"]["value"] is None and pairs["A~C"]["note"] == NO_COMMON_UNITS


def test_units_coded_by_a_single_rater_only():
    df = long([("u1", "A", "x"), ("u2", "B", "y"), ("u3", "A", "y")])
    coefs = compute_coefficients(rating_matrix(df), n_boot=20)
    for name in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha"):
        assert coefs[name].value is None
        assert coefs[name].note.startswith(NO_PAIRABLE_UNITS), coefs[name].note
    assert coefs["cohen_kappa"].value is None and NO_COMMON_UNITS in coefs["cohen_kappa"].note


def test_raters_with_disjoint_units():
    df = long([("u1", "A", "x"), ("u2", "A", "y"), ("u3", "B", "x"), ("u4", "B", "y")])
    coefs = compute_coefficients(
        rating_matrix(df), ["cohen_kappa", "krippendorff_alpha"], n_boot=10
    )
    assert coefs["cohen_kappa"].value is None
    assert coefs["cohen_kappa"].note.startswith(NO_COMMON_UNITS)
    assert coefs["cohen_kappa"].n_units == 0
    table = annotator_vs_humans(df, annotators=["A"], humans=["B"], n_boot=10)
    assert table.loc[0, "cohen_kappa"] is None and NO_COMMON_UNITS in table.loc[0, "note"]


def test_multi_label_units_are_counted_and_scored_as_sets():
    df = long(
        [
            ("u1", "A", "x"),
            ("u1", "A", "y"),
            ("u1", "B", "x"),
            ("u2", "A", "y"),
            ("u2", "B", "y"),
            ("u3", "A", "z"),
            ("u3", "B", "z"),
            ("u4", "A", "x"),
            ("u4", "B", "x"),
        ]
    )
    m = rating_matrix(df)
    assert m.multi_label_cells == 1
    coefs = compute_coefficients(m, n_boot=0)
    assert "several codes" in coefs["cohen_kappa"].note
    assert coefs["krippendorff_alpha_masi"].value > coefs["krippendorff_alpha"].value
    assert set(coefs["per_code_kappa"].extra["codes"]) == {"x", "y", "z"}


# -- bootstrap --------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_reproducible():
    m = rating_matrix(simulated())
    a = compute_coefficients(m, n_boot=200, seed=7)
    b = compute_coefficients(m, n_boot=200, seed=7)
    c = compute_coefficients(m, n_boot=200, seed=8)
    assert {k: (v.ci_low, v.ci_high) for k, v in a.items()} == {
        k: (v.ci_low, v.ci_high) for k, v in b.items()
    }
    assert a["cohen_kappa"].ci_low != c["cohen_kappa"].ci_low


def test_ci_contains_point_estimate_and_every_metric_has_n():
    coefs = compute_coefficients(rating_matrix(simulated()), n_boot=300, seed=0)
    assert list(coefs) == list(METRICS)
    for name, c in coefs.items():
        assert c.ci_low <= c.value <= c.ci_high, name
        assert c.n_units == 150


def test_bootstrap_chunking_does_not_change_draws(monkeypatch):
    from ptmcoder.agreement import bootstrap

    m = rating_matrix(simulated())
    from ptmcoder.agreement.coefficients import krippendorff_alpha_statistic

    stat = krippendorff_alpha_statistic(m.counts())
    whole = bootstrap_sums([stat], n_boot=40, seed=3)[0]
    assert whole.shape == (40, stat.stats.shape[1])
    # 7 resamples per chunk: six chunks drawn in order, counted in the second thread
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", m.n_units * 7)
    again = bootstrap_sums([stat], n_boot=40, seed=3)[0]
    np.testing.assert_allclose(again, whole, rtol=0, atol=1e-9)
    w = bootstrap.resample_weights(m.n_units, np.random.default_rng(3), 40)
    np.testing.assert_allclose(again, w @ stat.stats, rtol=0, atol=1e-9)


def test_bootstrap_ci_matches_explicit_resampling():
    """The vectorised sums equal recomputing the coefficient on resampled units."""
    from ptmcoder.agreement import bootstrap
    from ptmcoder.agreement.coefficients import fleiss_kappa, fleiss_kappa_statistic

    m = rating_matrix(simulated(n_units=60))
    counts = m.counts()
    stat = fleiss_kappa_statistic(counts)
    rng = np.random.default_rng(11)
    w = bootstrap.resample_weights(60, rng, 5)
    fast = stat.finish(w @ stat.stats)
    for i in range(5):
        idx = np.repeat(np.arange(60), w[i].astype(int))
        assert fast[i] == pytest.approx(fleiss_kappa(counts[idx]))


# -- views ------------------------------------------------------------------------------


def test_annotator_vs_humans_rows_and_ceiling():
    df = simulated()
    table = annotator_vs_humans(
        df, annotators=["llm"], humans=["h1", "h2", "h3"], n_boot=100, seed=0
    )
    assert list(table["kind"]) == ["annotator-human"] * 3 + ["human-human"] * 3 + [
        "annotator-consensus"
    ]
    for col in (
        "cohen_kappa",
        "cohen_kappa_ci_low",
        "cohen_kappa_ci_high",
        "percent_agreement",
        "n",
    ):
        assert col in table.columns
    hh = table[(table.rater_a == "h1") & (table.rater_b == "h2")].iloc[0]
    from sklearn.metrics import cohen_kappa_score

    piv = df.pivot(index="unit", columns="rater", values="code")
    assert hh["cohen_kappa"] == pytest.approx(cohen_kappa_score(piv["h1"], piv["h2"]))


def test_human_ceiling_means_carry_their_pairs():
    raters = (("llm", 0.8), ("tfidf", 0.6), ("h1", 0.85), ("h2", 0.8), ("h3", 0.75))
    table = annotator_vs_humans(
        simulated(raters=raters), annotators=["llm", "tfidf"], humans=["h1", "h2", "h3"], n_boot=0
    )
    ceiling = human_ceiling(table)
    hh = table.loc[table.kind == "human-human", "cohen_kappa"]
    llm = table.loc[(table.kind == "annotator-human") & (table.rater_a == "llm"), "cohen_kappa"]
    assert ceiling["human_human"] == {"mean": pytest.approx(hh.mean()), "pairs": 3}
    assert list(ceiling["annotators"]) == ["llm", "tfidf"]
    assert ceiling["annotators"]["llm"] == {"mean": pytest.approx(llm.mean()), "pairs": 3}
    caption = render_vs_humans(table).caption
    assert caption.startswith(
        f"mean Cohen's kappa: human-human {hh.mean():.3f} (3 pairs); "
        f"llm vs humans {llm.mean():.3f} (3 pairs); tfidf vs humans "
    )


def test_annotator_vs_gold():
    df = simulated()
    gold = df[df.rater == "h1"].assign(rater="gold")[["unit", "code"]]
    table = annotator_vs_humans(df, annotators=["llm"], humans=["h2", "h3"], gold=gold, n_boot=0)
    row = table[table.kind == "annotator-gold"].iloc[0]
    llm_h1 = annotator_vs_humans(df, annotators=["llm"], humans=["h1"], n_boot=0).iloc[0]
    assert row["cohen_kappa"] == pytest.approx(llm_h1["cohen_kappa"])


def test_human_consensus_majority_and_ties():
    df = long(
        [("u1", "a", "x"), ("u1", "b", "x"), ("u1", "c", "y"), ("u2", "a", "x"), ("u2", "b", "y")]
    )
    cons = human_consensus(df, ["a", "b", "c"])
    assert cons.to_dict(orient="records") == [
        {"unit": "u1", "rater": "human-consensus", "code": "x"}
    ]
    assert cons.attrs["no_consensus"] == 1


def test_per_code_table_sorted_worst_first():
    rows = []
    for i in range(40):
        rows += [
            (f"u{i}", "A", "good" if i % 2 else "bad"),
            (f"u{i}", "B", "good" if i % 2 else ("bad" if i % 4 == 0 else "good")),
        ]
    table = per_code_table(rating_matrix(long(rows)), n_boot=50)
    assert table["kappa"].is_monotonic_increasing
    assert len(table) == 2


def test_confusion_matrix_counts():
    df = long(
        [("u1", "A", "x"), ("u1", "B", "x"), ("u2", "A", "x"), ("u2", "B", "y"), ("u3", "A", "y")]
    )
    table = confusion_matrix(rating_matrix(df), "A", "B")
    assert table.loc["x", "x"] == 1 and table.loc["x", "y"] == 1 and table.to_numpy().sum() == 2


def test_map_to_level_with_codebook():
    df = long([("u1", "A", "A.1"), ("u1", "B", "A.2"), ("u2", "A", "B.1"), ("u2", "B", "FP")])
    out = map_to_level(df, str(FIXTURES / "tiny.yaml"), "category")
    assert out["code"].tolist() == ["A", "A", "B", "FP"]
    # a code the codebook lacks is a missing rating, counted and reported (one policy)
    out = map_to_level(
        long([("u1", "A", "nope"), ("u1", "B", "A.1")]), str(FIXTURES / "tiny.yaml"), "category"
    )
    assert out["code"].isna().tolist() == [True, False]
    assert out.attrs["unknown"] == {"nope": 1} and "nope (1)" in out.attrs["notes"][0]


# -- alt-test ---------------------------------------------------------------------------------


def test_alt_test_good_annotator_passes_and_noise_fails():
    good = simulated(n_units=200, raters=(("llm", 0.95), ("h1", 0.8), ("h2", 0.8), ("h3", 0.8)))
    res = alt_test(good, annotator="llm", humans=["h1", "h2", "h3"], epsilon=0.2)
    assert res.passed and res.winning_rate == 1.0
    assert all(c.p_adjusted >= c.p_value for c in res.comparisons)
    noise = simulated(n_units=200, raters=(("llm", 0.0), ("h1", 0.9), ("h2", 0.9), ("h3", 0.9)))
    res = alt_test(noise, annotator="llm", humans=["h1", "h2", "h3"], epsilon=0.1)
    assert not res.passed and res.winning_rate == 0.0
    assert "fails" in res.verdict


def test_alt_test_p_values_match_paired_t_test():
    from scipy.stats import ttest_rel

    df = simulated(n_units=80)
    res = alt_test(df, annotator="llm", humans=["h1", "h2", "h3"], epsilon=0.15)
    piv = df.pivot(index="unit", columns="rater", values="code")
    others = ["h2", "h3"]
    s_f = sum((piv["llm"] == piv[o]).astype(float) for o in others) / 2
    s_h = sum((piv["h1"] == piv[o]).astype(float) for o in others) / 2
    w_f, w_h = (s_f >= s_h).astype(float), (s_h >= s_f).astype(float)
    expected = ttest_rel(w_h - 0.15, w_f, alternative="less").pvalue
    assert res.comparisons[0].p_value == pytest.approx(expected)
    assert res.comparisons[0].rho_annotator == pytest.approx(w_f.mean())


def test_alt_test_needs_two_humans():
    with pytest.raises(Exception, match="at least two human"):
        alt_test(simulated(), annotator="llm", humans=["h1"])


# -- inputs -------------------------------------------------------------------------------


def test_annotations_to_long_counts_failures(tmp_path):
    records = [
        {"unit_id": "u1", "annotator": "gpt", "codes": [{"code": "x"}, {"code": "y"}]},
        {
            "unit_id": "u2",
            "annotator": "gpt",
            "codes": [],
            "error_type": "malformed_json",
            "error": "bad",
        },
        {"unit_id": "u3", "annotator": "gpt", "codes": [{"code": "x"}]},
    ]
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    df = annotations_to_long(run)
    assert df.attrs["failed"] == {"gpt": 1}
    assert len(df) == 4 and df["code"].isna().sum() == 1
    m = rating_matrix(df)
    assert m.missing_rows == {"gpt": 1} and m.multi_label_cells == 1


# -- CLI ------------------------------------------------------------------------------------


def test_cli_json_shape(run_cli, tmp_path):
    path = tmp_path / "long.csv"
    simulated().to_csv(path, index=False)
    result = run_cli("agree", path, "--json", "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == list(METRICS)
    for name, entry in data.items():
        assert {"value", "ci_low", "ci_high", "n"} <= set(entry), name
        assert entry["n"] == 150
    result = run_cli(
        "agree",
        path,
        "--json",
        "--metric",
        "fleiss_kappa",
        "--metric",
        "gwet_ac1",
        "--bootstrap",
        "20",
    )
    assert list(json.loads(result.stdout)) == ["fleiss_kappa", "gwet_ac1"]


def test_cli_table_and_views(run_cli, tmp_path):
    path = tmp_path / "long.csv"
    simulated().to_csv(path, index=False)
    result = run_cli("agree", path, "--bootstrap", "30")
    assert result.exit_code == 0, result.stderr
    assert "krippendorff_alpha" in result.stdout and "95% CI" in result.stdout
    for view in ("pairwise", "per-code", "confusion", "vs-humans", "aat"):
        result = run_cli(
            "agree", path, "--annotators", "llm", "--view", view, "--bootstrap", "20", "--json"
        )
        assert result.exit_code == 0, (view, result.stderr)
        json.loads(result.stdout)
    result = run_cli("agree", path, "--annotators", "llm", "--view", "aat")
    assert "winning rate" in result.stdout


def test_cli_errors_are_clean(run_cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("item,coder,label\n1,a,x\n")
    result = run_cli("agree", bad)
    assert result.exit_code != 0 and "missing column(s) unit, rater, code" in result.stderr
    result = run_cli("agree", tmp_path / "nope.csv")
    assert result.exit_code != 0 and "not found" in result.stderr


def test_humbatova_script_treats_missing_tags_as_missing_ratings():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "humbatova_agreement.py"
    spec = importlib.util.spec_from_file_location("humbatova_agreement", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rounds = pd.DataFrame(
        {
            "round": [2, 2],
            "EntityType": ["so-keras"] * 2,
            "Link": ["l1", "l2"],
            "Evaluator1": ["E1", "E5"],
            "Tag1": ["False  Positive", "wrong shape"],
            "Evaluator2": ["E2", "E4"],
            "Tag2": [None, None],
            "Evaluator3": [None, "E3"],
            "Tag3": [None, "generic"],
            "Evaluator4": [None, None],
            "Tag4": [None, None],
        }
    )
    tables = mod.long_tables(rounds)
    coarse = tables["coarse"]
    assert coarse["code"].iloc[0] == "false-positive" and pd.isna(coarse["code"].iloc[1])
    assert coarse["code"].isna().sum() == 2
    assert rating_matrix(coarse).missing_rows == {"E1": 0, "E2": 1, "E3": 0, "E4": 1, "E5": 0}
    assert set(tables["tags"]["code"].dropna()) == {"false positive", "wrong shape", "generic"}


def test_cli_run_accepts_latest_and_id_prefix(run_cli, isolated_home):
    records = [
        {"unit_id": f"u{i}", "annotator": "emb", "codes": [{"code": "a" if i % 2 else "b"}]}
        for i in range(6)
    ]
    for run_id in ("20260101-000000-aaaa", "20260102-000000-bbbb"):
        run = isolated_home / "runs" / run_id
        run.mkdir(parents=True)
        (run / "manifest.json").write_text("{}")
        (run / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    gold = isolated_home / "gold.csv"
    gold.write_text("unit,code\n" + "".join(f"u{i},a\n" for i in range(6)))
    latest = run_cli("agree", "--run", "latest", "--gold", str(gold), "--json")
    assert latest.exit_code == 0, latest.stderr
    assert "20260102-000000-bbbb" in latest.stderr
    by_prefix = run_cli("agree", "--run", "20260101", "--gold", str(gold), "--json")
    assert by_prefix.exit_code == 0 and "20260101-000000-aaaa" in by_prefix.stderr
    # the gold is not pooled: the run's rater against it (3 of 6 units agree)
    assert json.loads(latest.stdout)["vs_gold"]["emb"]["percent_agreement"]["value"] == 0.5
    missing = run_cli("agree", "--run", "nope", "--gold", str(gold))
    assert missing.exit_code == 1 and "no run 'nope'" in missing.stderr


def test_percent_agreement_gets_no_landis_koch_reading(run_cli, tmp_path):
    path = tmp_path / "long.csv"
    rows = [(u, r, "a" if (u + (r == "h2")) % 3 else "b") for u in range(30) for r in ("h1", "h2")]
    path.write_text("unit,rater,code\n" + "".join(f"{u},{r},{c}\n" for u, r, c in rows))
    out = json.loads(run_cli("agree", str(path), "--json", "--bootstrap", "20").stdout)
    assert out["percent_agreement"]["interpretation"].startswith("n/a")
    assert out["cohen_kappa"]["interpretation"] != "n/a"
    assert not out["cohen_kappa"]["interpretation"].startswith("n/a")
