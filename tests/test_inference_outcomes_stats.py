"""The studies' analyses on corrected codes: stats.resolution (mean days per theme)
and stats.difficulty (%no acc per challenge category), with and without a gold sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptmcoder.codebook import load_codebook
from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.errors import PtmcoderError
from ptmcoder.inference.design import DesignError, GoldDesign, gold_design
from ptmcoder.stats.difficulty import difficulty, difficulty_by_category, no_accepted_answer
from ptmcoder.stats.resolution import read_gold_themes, resolution, theme_table

T0 = datetime(2023, 1, 1, 9, tzinfo=UTC)


def _world(seed: int = 0, n_issues: int = 1_200):
    """Closed issues, a third PTM-related with a true theme whose resolution time
    differs by theme; the annotator says the first theme for 25% of the others."""
    rng = np.random.default_rng(seed)
    book = load_codebook("banyongrakkul2025")
    themes = [n.id for n in book.nodes][:3]
    leaf = {
        t: next(n.id for n, _, p in book.walk() if n.is_leaf and p and p[0].id == t) for t in themes
    }
    mean_days = dict(zip(themes, (5.0, 30.0, 60.0), strict=True))
    rows, truth, annotated = [], [], []
    for i in range(n_issues):
        ptm = i % 3 == 0
        theme = themes[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        days = int(rng.exponential(mean_days[theme] if ptm else 20.0))
        uid = f"gh:o/p{i % 4}#{i}"
        rows.append(
            {"id": uid, "project": f"o/p{i % 4}", "state": "closed", "ptm": ptm,
             "created_at": T0, "closed_at": T0 + timedelta(days=days)}
        )  # fmt: skip
        if ptm:
            said = themes[0] if theme != themes[0] and rng.random() < 0.25 else theme
            truth.append({"unit": uid, "code": leaf[theme]})
            annotated.append({"unit": uid, "code": leaf[said]})
    return pd.DataFrame(rows), pd.DataFrame(truth), pd.DataFrame(annotated), book, themes


def test_resolution_without_gold_is_unchanged_and_says_none() -> None:
    units, _, annotated, book, _ = _world()
    r = resolution(units, themes=theme_table(annotated, book))
    assert r.corrected is None
    assert r.to_dict()["themes_corrected"] is None
    assert r.kruskal is not None


def test_resolution_with_gold_reports_naive_and_corrected_side_by_side() -> None:
    units, truth, annotated, book, themes = _world()
    rng = np.random.default_rng(1)
    gold = truth.iloc[rng.choice(len(truth), size=150, replace=False)]
    design = gold_design(gold, assume_random=True)
    r = resolution(
        units,
        themes=theme_table(annotated, book),
        gold_themes=theme_table(gold, book),
        design=design,
    )
    c = r.corrected
    assert c is not None and c.n_gold == 150 and c.n_annotated == int(units["ptm"].sum())
    # the naive estimate is the per-theme mean the analysis already reports
    naive = {s.name: s.mean for s in r.themes}
    for e in c.estimates:
        assert e.naive.estimate == pytest.approx(naive[e.code])
        assert e.n_annotated_code == next(s.n for s in r.themes if s.name == e.code)
    # errors toward the first theme pull its naive mean up; the truth among all PTM
    # issues (every closed one is coded by the truth table) is what PPI++ estimates
    true_theme = theme_table(truth, book).set_index("unit")["theme"]
    issues = units.set_index("id").loc[true_theme.index]
    days = (issues["closed_at"] - issues["created_at"]).dt.days
    true_first = float(days[true_theme.to_numpy() == themes[0]].mean())
    first = c.estimate(themes[0])
    assert first.naive.estimate > true_first
    assert first.ppi.ci_low <= true_first <= first.ppi.ci_high
    assert "ASSUMED" in " ".join(r.notes)
    out = json.loads(json.dumps(r.to_dict()))
    row = out["themes_corrected"]["estimates"][0]
    assert {"naive", "classical", "ppi", "n_gold", "n_annotated"} <= set(row)
    assert out["themes_corrected"]["method"]["ppi"].startswith("PPI++")
    assert {t["kind"] for t in out["themes_corrected"]["equal_means"]} == {
        "naive",
        "classical",
        "ppi",
    }


def test_resolution_gold_needs_its_design_and_the_themes() -> None:
    units, truth, annotated, book, _ = _world(n_issues=120)
    g = theme_table(truth, book)
    with pytest.raises(PtmcoderError, match="need both gold_themes and its design"):
        resolution(units, themes=theme_table(annotated, book), gold_themes=g)
    with pytest.raises(PtmcoderError, match="a gold sample corrects the annotator's themes"):
        resolution(units, gold_themes=g, design=GoldDesign(["x"], None, "", True))


def test_read_gold_themes_with_a_design_file(tmp_path: Path) -> None:
    _, truth, _, book, _ = _world(n_issues=60)
    gold = tmp_path / "gold.csv"
    truth.assign(rater="human").to_csv(gold, index=False)
    with pytest.raises(DesignError, match="the gold sample has no design"):
        read_gold_themes(gold, book)
    dfile = tmp_path / "design.csv"
    pd.DataFrame({"unit": truth["unit"], "inclusion_probability": 0.5}).to_csv(dfile, index=False)
    themes, dsn = read_gold_themes(gold, book, design=dfile)
    assert list(dsn.units) == truth["unit"].tolist()
    assert dsn.weights is not None and set(dsn.weights.tolist()) == {2.0}
    assert set(themes.columns) >= {"unit", "theme"} and len(themes) == len(truth)


# -- difficulty by challenge category --------------------------------------------


def _question(i: int, accepted: bool) -> dict:
    return {
        "id": f"so:{i}", "platform": "stackoverflow", "url": "u", "title": "t", "body": "b",
        "tags": ["huggingface"], "created_at": T0, "score": 0, "view_count": 10,
        "answer_count": 1, "comment_count": 0,
        "accepted_answer_id": f"a{i}" if accepted else None,
        "accepted_answer_at": T0 + timedelta(minutes=5) if accepted else None,
        "project": "stackoverflow.com", "state": None, "closed_at": None, "source": "test",
    }  # fmt: skip


def _questions(seed: int = 2, n: int = 3_000):
    """True categories x/y/z with %no acc 0.3/0.6/0.8; the annotator says x for 20% of
    y and z questions."""
    rng = np.random.default_rng(seed)
    cats = np.array(["x", "y", "z"])
    t = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    no_acc = rng.random(n) < np.array([0.3, 0.6, 0.8])[t]
    said = np.where((t > 0) & (rng.random(n) < 0.2), 0, t)
    ids = [f"so:{i}" for i in range(n)]
    rows = [_question(i, not no_acc[i]) for i in range(n)]
    truth = pd.DataFrame({"unit": ids, "code": cats[t]})
    annotated = pd.DataFrame({"unit": ids, "rater": "llm", "code": cats[said]})
    return rows, truth, annotated, no_acc, t


def test_no_accepted_answer_and_naive_rows_by_hand() -> None:
    units = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "accepted_answer_id": ["1", None, None, None, "2"],
            "accepted_answer_at": [None, T0, None, None, None],
        }
    )
    assert no_accepted_answer(units).tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    cats = pd.DataFrame(
        {"unit": ["a", "b", "c", "d", "e", "zz"], "code": ["p", "p", "q", "q", "q", "q"]}
    )
    r = difficulty_by_category(units, cats)
    assert [(x.name, x.n, x.no_acc) for x in r.rows] == [("p", 2, 0), ("q", 3, 2)]
    assert r.corrected is None and "1 coded unit(s) not in the corpus" in r.notes[0]
    assert [(t.x1, t.n1, t.x2, t.n2, t.correction) for t in r.tests] == [
        (0, 2, 2, 3, True),
        (2, 3, 0, 2, True),
    ]


def test_difficulty_by_category_corrected_covers_and_naive_does_not() -> None:
    rows, truth, annotated, no_acc, t = _questions()
    units = pd.DataFrame(rows)
    rng = np.random.default_rng(3)
    gold = truth.iloc[rng.choice(len(truth), size=400, replace=False)]
    r = difficulty_by_category(
        units, annotated, gold=gold, design=gold_design(gold, assume_random=True)
    )
    c = r.corrected
    assert c is not None and c.binary and c.n_gold == 400 and c.n_annotated == len(units)
    true_x = no_acc[t == 0].mean()
    x = c.estimate("x")
    assert x.naive.estimate == pytest.approx(r.rows[0].pct_no_acc)
    assert not x.naive.ci_low <= true_x <= x.naive.ci_high  # errors toward x bias it
    assert x.ppi.ci_low <= true_x <= x.ppi.ci_high
    vs = c.versus_rest[0]
    true_rest = no_acc[t != 0].mean()
    assert vs.ppi.ci_low <= true_x - true_rest <= vs.ppi.ci_high
    assert vs.cohens_h is not None and vs.z["ppi"] < 0 and vs.p_value["ppi"] < 0.05
    # naive test rows are the annotator's counts against the rest
    test_x = r.tests[0]
    assert (test_x.x1, test_x.n1) == (r.rows[0].no_acc, r.rows[0].n)
    json.dumps(r.to_dict())


def test_difficulty_reads_the_corpus_and_attaches_categories(tmp_path: Path) -> None:
    rows, truth, annotated, _, _ = _questions(n=600)
    path = tmp_path / "q.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=UNIT_SCHEMA), path)
    plain = difficulty(path)
    assert plain.categories is None and plain.to_dict()["categories"] is None
    gold = truth.iloc[:120]
    res = difficulty(
        path, categories=annotated, gold=gold, design=gold_design(gold, assume_random=True)
    )
    assert res.groups == plain.groups  # the Table II rows do not change
    assert res.categories is not None and res.categories.n_questions == 600
    assert res.categories.corrected is not None and res.categories.corrected.n_gold == 120
    direct = difficulty_by_category(
        pd.DataFrame(rows), annotated, gold=gold, design=gold_design(gold, assume_random=True)
    )
    assert [e.ppi.estimate for e in res.categories.corrected.estimates] == pytest.approx(
        [e.ppi.estimate for e in direct.corrected.estimates]
    )
    assert res.to_dict()["categories"]["corrected"]["estimates"][0]["code"] == "x"
    with pytest.raises(PtmcoderError, match="a gold sample corrects the annotator's categories"):
        difficulty(path, gold=gold, design=gold_design(gold, assume_random=True))


# -- the commands ------------------------------------------------------------------


def _gh_rows(units: pd.DataFrame) -> list[dict]:
    return [
        {"id": r.id, "platform": "github", "url": "u", "title": "t", "body": "b",
         "tags": ["model"] if r.ptm else ["bug"], "created_at": r.created_at, "score": 0,
         "view_count": None, "answer_count": None, "comment_count": 1,
         "accepted_answer_id": None, "accepted_answer_at": None, "project": r.project,
         "state": "closed", "closed_at": r.closed_at, "source": "test"}
        for r in units.itertuples()
    ]  # fmt: skip


def test_cli_resolution_with_gold(tmp_path: Path, run_cli) -> None:
    units, truth, annotated, _, themes = _world(n_issues=600)
    path = tmp_path / "gh.parquet"
    pq.write_table(pa.Table.from_pylist(_gh_rows(units), schema=UNIT_SCHEMA), path)
    annotated.to_csv(tmp_path / "codes.csv", index=False)
    truth.iloc[:80].to_csv(tmp_path / "gold.csv", index=False)
    common = ["stats", "resolution", "--corpus", path, "--ptm-labels", "model",
              "--codebook", "banyongrakkul2025", "--out", tmp_path / "figs"]  # fmt: skip
    plain = run_cli(*common, "--themes", tmp_path / "codes.csv", "--json")
    assert plain.exit_code == 0, plain.stderr
    assert json.loads(plain.stdout)["themes_corrected"] is None
    no_design = run_cli(
        *common, "--themes", tmp_path / "codes.csv", "--gold", tmp_path / "gold.csv"
    )
    assert no_design.exit_code != 0 and "--assume-random" in no_design.stderr
    args = [*common, "--themes", tmp_path / "codes.csv", "--gold", tmp_path / "gold.csv"]
    res = run_cli(*args, "--assume-random", "--json")
    assert res.exit_code == 0, res.stderr
    corrected = json.loads(res.stdout)["themes_corrected"]
    assert corrected["n_gold"] == 80 and {e["code"] for e in corrected["estimates"]} == set(themes)
    assert "assumed" in corrected["design"]
    table = run_cli(*args, "--assume-random")
    assert table.exit_code == 0, table.stderr
    assert "mean resolution days, corrected" in table.stdout and "PPI++" in table.stdout
    # the annotator's codes as a long table through --run give the same numbers
    annotated.assign(rater="llm").to_csv(tmp_path / "long.csv", index=False)
    via_run = run_cli(*common, "--run", tmp_path / "long.csv", "--rater", "llm",
                      "--gold", tmp_path / "gold.csv", "--assume-random", "--json")  # fmt: skip
    assert via_run.exit_code == 0, via_run.stderr
    assert json.loads(via_run.stdout)["themes_corrected"] == corrected
    both = run_cli(*common, "--themes", tmp_path / "codes.csv", "--run", tmp_path / "long.csv")
    assert both.exit_code != 0 and "--themes FILE or --run RUN" in both.stderr


def test_cli_difficulty_with_gold(tmp_path: Path, run_cli) -> None:
    rows, truth, annotated, _, _ = _questions(n=600)
    path = tmp_path / "q.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=UNIT_SCHEMA), path)
    annotated.to_csv(tmp_path / "long.csv", index=False)
    truth.iloc[:100].assign(inclusion_probability=100 / 600).to_csv(
        tmp_path / "gold.csv", index=False
    )
    common = ["stats", "difficulty", "--corpus", path, "--out", tmp_path / "figs"]
    res = run_cli(*common, "--run", tmp_path / "long.csv", "--gold", tmp_path / "gold.csv",
                  "--json")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    cats = json.loads(res.stdout)["categories"]
    assert [r["name"] for r in cats["rows"]] == ["x", "y", "z"]
    assert cats["corrected"]["n_gold"] == 100 and "from" in cats["corrected"]["design"]
    table = run_cli(*common, "--run", tmp_path / "long.csv", "--gold", tmp_path / "gold.csv")
    assert table.exit_code == 0, table.stderr
    assert "Share without an accepted answer" in table.stdout
    assert "%no acc by challenge category" in table.stdout
    alone = run_cli(*common, "--gold", tmp_path / "gold.csv")
    assert alone.exit_code != 0 and "give them with --run" in alone.stderr
