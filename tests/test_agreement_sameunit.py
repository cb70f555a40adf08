"""The same-unit view: every kappa of a triad on the units all three raters coded."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from ptmcoder.agreement.sameunit import same_unit_comparison


def conflicted_table(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """h1 and h3 code every unit; h2 (a conflict resolver) codes only units where h1
    and h3 disagree; the annotator copies h1 everywhere."""
    rng = np.random.default_rng(seed)
    codes = np.array(["a", "b", "c"])
    h1 = rng.integers(0, 3, n)
    h3 = np.where(rng.random(n) < 0.6, h1, rng.integers(0, 3, n))
    conflicted = h1 != h3
    h2 = np.where(rng.random(n) < 0.5, h1, h3)
    rows = []
    for u in range(n):
        rows += [(f"u{u}", "ann", codes[h1[u]]), (f"u{u}", "h1", codes[h1[u]])]
        rows.append((f"u{u}", "h3", codes[h3[u]]))
        if conflicted[u]:
            rows.append((f"u{u}", "h2", codes[h2[u]]))
    return pd.DataFrame(rows, columns=["unit", "rater", "code"])


def wide(df: pd.DataFrame) -> pd.DataFrame:
    return df.pivot(index="unit", columns="rater", values="code")


def test_every_kappa_is_computed_on_the_three_way_overlap():
    df = conflicted_table()
    res = same_unit_comparison(
        df, annotators=["ann"], humans=["h1", "h2", "h3"], n_boot=200, ratings="all"
    )
    w = wide(df)
    assert [(t.human_a, t.human_b) for t in res.triads] == [
        ("h1", "h2"),
        ("h1", "h3"),
        ("h2", "h3"),
    ]
    for t in res.triads:
        overlap = w[["ann", t.human_a, t.human_b]].dropna()
        assert t.n == len(overlap)
        expected = {
            "kappa_annotator_a": cohen_kappa_score(overlap["ann"], overlap[t.human_a]),
            "kappa_annotator_b": cohen_kappa_score(overlap["ann"], overlap[t.human_b]),
            "kappa_humans": cohen_kappa_score(overlap[t.human_a], overlap[t.human_b]),
        }
        for key, value in expected.items():
            assert t.kappas[key] == pytest.approx(value, abs=1e-12)
            low, high = t.intervals[key]
            assert low <= t.kappas[key] <= high
    # h2 only coded conflicted units: there h1 and h3 disagree on every unit, and the
    # annotator (= h1) agrees perfectly with h1 on the same units
    h1h3 = next(t for t in res.triads if (t.human_a, t.human_b) == ("h1", "h3"))
    h1h2 = next(t for t in res.triads if (t.human_a, t.human_b) == ("h1", "h2"))
    assert h1h3.n == len(w) and h1h2.n == w["h2"].notna().sum() < len(w)
    assert h1h2.kappas["kappa_annotator_a"] == pytest.approx(1.0)


def test_summary_is_n_weighted_over_used_triads_and_counts_the_left_out():
    df = conflicted_table()
    # drop h2 to 10 units: that triad falls under min n and leaves the means
    h2_units = df.loc[df["rater"] == "h2", "unit"].unique()[:10]
    df = df[(df["rater"] != "h2") | df["unit"].isin(h2_units)]
    res = same_unit_comparison(
        df, annotators=["ann"], humans=["h1", "h2", "h3"], n_boot=300, min_n=20, ratings="all"
    )
    used = [t for t in res.triads if t.used]
    s = res.summary["ann"]
    assert s.triads_below_min_n == 2 and s.triads_used == len(used) == 1
    n = np.array([t.n for t in used], dtype=float)
    ann = np.array(
        [(t.kappas["kappa_annotator_a"] + t.kappas["kappa_annotator_b"]) / 2 for t in used]
    )
    hum = np.array([t.kappas["kappa_humans"] for t in used])
    assert s.annotator_vs_humans == pytest.approx((n * ann).sum() / n.sum())
    assert s.humans_vs_humans == pytest.approx((n * hum).sum() / n.sum())
    assert s.difference == pytest.approx(s.annotator_vs_humans - s.humans_vs_humans)
    low, high = s.intervals["difference"]
    assert low <= s.difference <= high
    out = res.to_json()
    assert set(out["summary"]["ann"]) >= {
        "annotator_vs_humans",
        "humans_vs_humans",
        "difference",
        "ci_low",
        "ci_high",
        "triads_used",
        "triads_below_min_n",
    }
    json.dumps(out)


def test_weighted_mean_differs_from_the_unweighted_one():
    df = conflicted_table(300)
    res = same_unit_comparison(
        df, annotators=["ann"], humans=["h1", "h2", "h3"], n_boot=0, min_n=1, ratings="all"
    )
    s = res.summary["ann"]
    hum = [t.kappas["kappa_humans"] for t in res.triads]
    n = [t.n for t in res.triads]
    assert s.humans_vs_humans == pytest.approx(np.average(hum, weights=n))
    assert s.intervals["difference"] == (None, None)


def test_unit_id_column_and_input_errors():
    df = conflicted_table(60).rename(columns={"unit": "unit_id"})
    res = same_unit_comparison(df, annotators=["ann"], humans=["h1", "h3"], n_boot=0)
    assert res.triads[0].n == 60
    from ptmcoder.errors import PtmcoderError

    with pytest.raises(PtmcoderError, match="at least two human"):
        same_unit_comparison(df, annotators=["ann"], humans=["h1"])
    with pytest.raises(PtmcoderError, match="both annotator and human"):
        same_unit_comparison(df, annotators=["h1"], humans=["h1", "h3"])


def test_cli_vs_humans_json_shape(run_cli, tmp_path):
    path = tmp_path / "long.csv"
    conflicted_table().to_csv(path, index=False)
    result = run_cli(
        "agree",
        path,
        "--annotators",
        "ann",
        "--view",
        "vs-humans",
        "--bootstrap",
        "50",
        "--min-n",
        "30",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert {
        "annotator",
        "human_a",
        "human_b",
        "n",
        "kappa_annotator_a",
        "kappa_annotator_b",
        "kappa_humans",
    } <= set(out["triads"][0])
    assert out["summary"]["ann"]["triads_used"] + out["summary"]["ann"]["triads_below_min_n"] <= 3
    table = run_cli(
        "agree", path, "--annotators", "ann", "--view", "vs-humans", "--bootstrap", "20"
    )
    assert table.exit_code == 0, table.stderr
    assert "same units" in table.stdout and "left out" in table.stdout


def test_bootstrap_with_merged_patterns_equals_the_plain_product():
    """The speed-up (units with identical rows merged, identical columns summed once)
    keeps the draws: the sums equal W @ S computed unit by unit."""
    from ptmcoder.agreement.bootstrap import bootstrap_sums, resample_weights
    from ptmcoder.agreement.compute import METRICS, _measures, row_patterns
    from ptmcoder.agreement.data import rating_matrix

    df = conflicted_table(400)
    matrix = rating_matrix(df)
    measures = _measures(matrix, METRICS, weights=None, alpha_level="nominal", n_categories=None)
    flat = [p for m in measures for p in m.parts]
    merged = bootstrap_sums(flat, n_boot=60, seed=5, groups=row_patterns(matrix.codes))
    hashed = bootstrap_sums(flat, n_boot=60, seed=5)
    w = resample_weights(matrix.n_units, np.random.default_rng(5), 60)
    for stat, a, b in zip(flat, merged, hashed, strict=True):
        np.testing.assert_allclose(a, w @ stat.stats, rtol=0, atol=1e-9)
        np.testing.assert_allclose(b, w @ stat.stats, rtol=0, atol=1e-9)
    assert len(np.unique(row_patterns(matrix.codes))) < matrix.n_units


def repeated_table(k: int = 4, n: int = 150, seed: int = 9) -> pd.DataFrame:
    """Two humans and an annotator coded k times, each repeat with its own noise."""
    rng = np.random.default_rng(seed)
    codes = np.array(["a", "b", "c"])
    truth = rng.integers(0, 3, n)
    rows = []
    for h, p in (("h1", 0.8), ("h2", 0.75)):
        lab = np.where(rng.random(n) < p, truth, rng.integers(0, 3, n))
        rows += [(f"u{u}", h, codes[lab[u]]) for u in range(n)]
    for r in range(1, k + 1):
        lab = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 3, n))
        rows += [(f"u{u}", f"llm#r{r}", codes[lab[u]]) for u in range(n)]
    return pd.DataFrame(rows, columns=["unit", "rater", "code"])


def test_replication_reports_mean_and_sd_over_repeats(run_cli, tmp_path):
    from ptmcoder.agreement.sameunit import replication, split_repeat

    assert split_repeat("llm#r12") == ("llm", 12) and split_repeat("E1") == ("E1", None)
    df = repeated_table()
    res = replication(df, humans=["h1", "h2"])
    rep = res["llm"]
    assert rep.repeats == ["llm#r1", "llm#r2", "llm#r3", "llm#r4"]
    w = wide(df)
    per_repeat = [
        np.mean([cohen_kappa_score(w[r], w["h1"]), cohen_kappa_score(w[r], w["h2"])])
        for r in rep.repeats
    ]  # every unit is coded by all, so each triad has n = 150 and the mean is plain
    assert rep.values == pytest.approx(per_repeat)
    assert rep.mean == pytest.approx(np.mean(per_repeat))
    assert rep.sd == pytest.approx(np.std(per_repeat, ddof=1))
    assert rep.sd > 0
    h1 = [cohen_kappa_score(w[r], w["h1"]) for r in rep.repeats]
    assert rep.per_human["h1"]["sd"] == pytest.approx(np.std(h1, ddof=1))
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    result = run_cli(
        "agree",
        path,
        "--annotators",
        "llm#r1,llm#r2,llm#r3,llm#r4",
        "--view",
        "vs-humans",
        "--bootstrap",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)["replication"]["llm"]
    assert out["k"] == 4 and out["sd"] == pytest.approx(rep.sd)


def test_the_same_annotator_in_several_runs_is_one_repeat_per_run(run_cli, tmp_path):
    df = repeated_table(k=3)
    humans = df[df["rater"].isin(["h1", "h2"])]
    humans.to_csv(tmp_path / "humans.csv", index=False)
    runs = []
    for r in (1, 2, 3):
        rows = df[df["rater"] == f"llm#r{r}"]
        path = tmp_path / f"run{r}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"unit_id": u, "annotator": "llm", "codes": [{"code": c}]}) + "\n"
                for u, c in zip(rows["unit"], rows["code"], strict=True)
            )
        )
        runs.append(path)
    result = run_cli(
        "agree",
        tmp_path / "humans.csv",
        *runs,
        "--view",
        "vs-humans",
        "--bootstrap",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out["summary"]) == {"llm#r1", "llm#r2", "llm#r3"}
    from ptmcoder.agreement.sameunit import replication

    assert out["replication"]["llm"]["sd"] == pytest.approx(
        replication(df, humans=["h1", "h2"])["llm"].sd
    )


def test_vs_humans_with_gold_adds_kappa_against_the_adjudicated_labels(run_cli, tmp_path):
    df = conflicted_table(120)
    gold = df[df["rater"] == "h3"][["unit", "code"]]
    df.to_csv(tmp_path / "long.csv", index=False)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    result = run_cli(
        "agree",
        tmp_path / "long.csv",
        "--annotators",
        "ann",
        "--humans",
        "h1,h2",
        "--gold",
        tmp_path / "gold.csv",
        "--view",
        "vs-humans",
        "--bootstrap",
        "30",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    g = json.loads(result.stdout)["gold"]["ann"]
    w = wide(df)
    assert g["n"] == 120
    assert g["kappa"] == pytest.approx(cohen_kappa_score(w["ann"], w["h3"]))


# -- independent ratings and the bootstrap over distinct units ------------------------


def test_independent_ratings_keep_the_first_two_humans_of_each_unit_in_table_order():
    from ptmcoder.agreement.sameunit import independent_ratings

    df = pd.DataFrame(
        [
            ("u1", "E3", "a"),  # E3 first on u1, E1 second: E2 came third
            ("u1", "ann", "b"),
            ("u1", "E1", "a"),
            ("u1", "E2", "b"),
            ("u2", "E2", "a"),
            ("u2", "E2", "b"),  # a second code of the same rating
            ("u2", "E4", ""),  # no code: not a rating
            ("u2", "E1", "a"),
            ("u2", "E4", "c"),
            ("u3", "E1", "c"),  # a single rating stays
        ],
        columns=["unit", "rater", "code"],
    )
    kept, counts = independent_ratings(df, ["E1", "E2", "E3", "E4"])
    cells = kept.groupby("unit")["rater"].agg(lambda r: sorted(set(r))).to_dict()
    assert cells == {"u1": ["E1", "E3", "ann"], "u2": ["E1", "E2"], "u3": ["E1"]}
    assert len(kept[(kept["unit"] == "u2") & (kept["rater"] == "E2")]) == 2
    assert (counts.kept, counts.left_out, counts.units_with_more) == (5, 2, 2)


def test_a_conflict_resolver_leaves_the_independent_ceiling():
    """h2 only coded units where h1 and h3 disagreed: with independent ratings its
    triads have no unit and the ceiling is h1-h3 on every unit, each once."""
    df = conflicted_table()
    res = same_unit_comparison(df, annotators=["ann"], humans=["h1", "h2", "h3"], n_boot=100)
    w = wide(df)
    by_pair = {(t.human_a, t.human_b): t for t in res.triads}
    assert by_pair["h1", "h2"].n == by_pair["h2", "h3"].n == 0
    assert "no independent rating by h2" in by_pair["h1", "h2"].note
    s = res.summary["ann"]
    assert s.triads_used == 1 and s.n_units == s.triad_units == len(w)
    assert s.humans_vs_humans == pytest.approx(cohen_kappa_score(w["h1"], w["h3"]))
    assert res.to_json()["human_ratings"] == {
        "kept": 2 * len(w),
        "left_out": int(w["h2"].notna().sum()),
        "units_with_more": int(w["h2"].notna().sum()),
    }
    everything = same_unit_comparison(
        df, annotators=["ann"], humans=["h1", "h2", "h3"], n_boot=0, ratings="all"
    ).summary["ann"]
    # with the resolver's ratings the conflicted units count three times
    assert everything.n_units == len(w) < everything.triad_units
    assert everything.humans_vs_humans < s.humans_vs_humans


def demo_table() -> tuple[pd.DataFrame, list[str]]:
    """The demo's human labels (477 units, E1-E6) and a fixed annotator that codes
    every unit: the adjudicated label where there is one, else ``false-positive``."""
    from ptmcoder.paths import samples_dir

    labels = pd.read_csv(samples_dir() / "humbatova_so_labels.csv", dtype=str)
    final = pd.read_csv(samples_dir() / "humbatova_so_final.csv", dtype=str)
    fixed = (
        final.set_index("unit")["code"].reindex(labels["unit"].unique()).fillna("false-positive")
    )
    ann = pd.DataFrame({"unit": fixed.index, "rater": "fixed", "code": fixed.to_numpy()})
    return pd.concat([labels[["unit", "rater", "code"]], ann]), sorted(labels["rater"].unique())


def by_hand(df: pd.DataFrame, humans: list[str], first_two: bool, n_boot: int, seed: int):
    """The same-unit summary computed independently: pandas for the ratings kept and
    the triads, sklearn for every kappa, the n-weighted means over triads with n >= 20,
    and a bootstrap that draws distinct units (numpy default_rng(seed).integers over
    the sorted units of the triads used) and recomputes each triad's kappas with the
    drawn units' multiplicities as sample weights."""
    hum = df[df["rater"].isin(humans)]
    if first_two:
        order = hum.groupby("unit", sort=False).cumcount()
        hum = hum[order < 2]
    w = pd.concat([hum, df[df["rater"] == "fixed"]]).pivot(
        index="unit", columns="rater", values="code"
    )
    labels = sorted(df["code"].unique())
    triads = []
    for a, b in itertools.combinations(humans, 2):
        t = w[["fixed", a, b]].dropna()
        if len(t) >= 20:
            triads.append(t)
    pool = sorted(set().union(*(t.index for t in triads)))

    def kappa(t: pd.DataFrame, x: str, y: str, sw: np.ndarray | None) -> float:
        return cohen_kappa_score(t[x], t[y], labels=labels, sample_weight=sw)

    def means(weights: dict[str, float] | None) -> tuple[float, float]:
        ann = hum_ = total = 0.0
        for t in triads:
            sw = None if weights is None else t.index.map(weights).to_numpy()
            n = len(t) if sw is None else sw.sum()
            a, b = t.columns[1], t.columns[2]
            ann += n * (kappa(t, "fixed", a, sw) + kappa(t, "fixed", b, sw)) / 2
            hum_ += n * kappa(t, a, b, sw)
            total += n
        return ann / total, hum_ / total

    ann, hum_ = means(None)
    draws = np.random.default_rng(seed).integers(0, len(pool), size=(n_boot, len(pool)))
    boot = []
    for row in draws:
        counts = np.bincount(row, minlength=len(pool)).astype(float)
        boot.append(means(dict(zip(pool, counts, strict=True))))
    boot = np.array(boot)

    def interval(values: np.ndarray) -> np.ndarray:
        # over the draws where the mean is defined (sklearn: nan when a kappa is not)
        return np.percentile(values[np.isfinite(values)], [2.5, 97.5])

    ci = {
        "annotator_vs_humans": interval(boot[:, 0]),
        "humans_vs_humans": interval(boot[:, 1]),
        "difference": interval(boot[:, 0] - boot[:, 1]),
    }
    return ann, hum_, len(pool), sum(len(t) for t in triads), ci


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("ratings", ["independent", "all"])
def test_demo_ceiling_gap_and_interval_match_an_independent_computation(ratings):
    from ptmcoder.agreement.evaluate import AgreeOptions, evaluate

    df, humans = demo_table()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/ratings.csv"
        df.to_csv(path, index=False)
        options = AgreeOptions(
            inputs=[path],
            annotators=["fixed"],
            humans=humans,
            view="vs-humans",
            n_boot=40,
            seed=13,
            ratings=ratings,
        )
        result = evaluate(options).views["vs-humans"]
    s = result.data["summary"]["fixed"]
    ann, hum, n_units, triad_units, ci = by_hand(
        df, humans, first_two=ratings == "independent", n_boot=40, seed=13
    )
    assert s["annotator_vs_humans"] == pytest.approx(ann, abs=1e-12)
    assert s["humans_vs_humans"] == pytest.approx(hum, abs=1e-12)
    assert s["difference"] == pytest.approx(ann - hum, abs=1e-12)
    assert (s["n"], s["triad_units"]) == (n_units, triad_units)
    for key, prefix in (
        ("annotator_vs_humans", "annotator_vs_humans_"),
        ("humans_vs_humans", "humans_vs_humans_"),
        ("difference", ""),
    ):
        got = [s[f"{prefix}ci_low"], s[f"{prefix}ci_high"]]
        np.testing.assert_allclose(got, ci[key], rtol=0, atol=1e-9)
    assert result.data["ratings"] == ratings
    if ratings == "independent":
        # the figure: the first two evaluators of the demo's 477 units
        assert round(hum, 3) == 0.588 and n_units == triad_units == 400
        assert any("distinct units in the means: fixed 400" in n for n in result.notes)
        assert any("116 later human rating(s) on 114 unit(s)" in n for n in result.notes)
    else:
        # the old view: every rating, a unit counted in every triad it enters
        assert round(hum, 3) == 0.464 and triad_units == 671 and n_units < triad_units


def test_cli_all_ratings_flag_and_study_config(run_cli, tmp_path):
    from pydantic import ValidationError

    from ptmcoder.pipeline.config import AgreeConfig

    path = tmp_path / "long.csv"
    conflicted_table().to_csv(path, index=False)
    args = ("agree", path, "--annotators", "ann", "--view", "vs-humans", "--bootstrap", "0")
    independent = json.loads(run_cli(*args, "--json").stdout)
    everything = json.loads(run_cli(*args, "--all-ratings", "--json").stdout)
    assert (independent["ratings"], everything["ratings"]) == ("independent", "all")
    assert everything["ratings_label"].startswith("all ratings, conflict-resolution")
    assert independent["summary"]["ann"]["humans_vs_humans"] != pytest.approx(
        everything["summary"]["ann"]["humans_vs_humans"]
    )
    table = run_cli(*args, "--all-ratings")
    assert table.exit_code == 0, table.stderr
    assert "conflict-resolution ratings included" in " ".join(table.stdout.split())
    assert "distinct units in the means: ann 200" in " ".join(table.stderr.split())
    assert AgreeConfig().ratings == "independent" and AgreeConfig(ratings="all").ratings == "all"
    with pytest.raises(ValidationError):
        AgreeConfig(ratings="first-two")
