"""Resolution time (Banyongrakkul RQ2): days, sample, tests against scipy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency, kruskal, mannwhitneyu

from ptmcoder.codebook import load_codebook
from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.resolution import (
    chi2_independence,
    kruskal_groups,
    mann_whitney_greater,
    resolution,
    resolution_days,
    theme_table,
)


def test_days_between_calendar_dates_same_day_is_zero():
    created = pd.Series(
        pd.to_datetime(
            ["2023-01-01T23:59", "2023-01-01T00:01", "2023-01-01T10:00", "2023-01-01T00:00"],
            utc=True,
        )
    )
    closed = pd.Series(
        pd.to_datetime(["2023-01-02T00:01", "2023-01-01T23:59", None, "2023-02-01T00:00"], utc=True)
    )
    days = resolution_days(created, closed)
    assert days.iloc[0] == 1 and days.iloc[1] == 0 and np.isnan(days.iloc[2])
    assert days.iloc[3] == 31
    with pytest.raises(PtmcoderError, match="close before they open"):
        resolution_days(closed.iloc[:1], created.iloc[:1])


def test_tests_equal_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.poisson(20, 50), rng.poisson(15, 50)
    mw = mann_whitney_greater(x, y)
    ref = mannwhitneyu(x, y, alternative="greater")
    assert (mw.u, mw.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    assert mw.rank_biserial == pytest.approx(mw.cliffs.delta) and mw.cliffs.delta > 0
    groups = {"a": rng.poisson(5, 20), "b": rng.poisson(8, 25), "c": rng.poisson(6, 15)}
    kr = kruskal_groups(groups)
    ref = kruskal(*groups.values())
    assert (kr.h, kr.p_value, kr.df) == pytest.approx((ref.statistic, ref.pvalue, 2))
    assert kr.n == {"a": 20, "b": 25, "c": 15}
    g = pd.Series(["p"] * 30 + ["n"] * 30)
    c = pd.Series(list(rng.choice(["bug", "question", "enh"], 60)))
    ind = chi2_independence(g, c)
    ref = chi2_contingency(pd.crosstab(g, c).to_numpy())
    assert (ind.chi2, ind.p_value, ind.df) == pytest.approx((ref[0], ref[1], ref[2]))
    assert ind.correction is False  # Yates only acts on 2x2 tables


def _issues(seed=0):
    rng = np.random.default_rng(seed)
    book = load_codebook("banyongrakkul2025")
    themes = [n for n in book.nodes]
    leaves = {
        t.id: [n.id for n, _, p in book.walk() if n.is_leaf and p and p[0].id == t.id]
        for t in themes
    }
    rows, codes = [], []
    t0 = datetime(2023, 1, 1, 9, tzinfo=UTC)
    for i in range(240):
        project = f"o/p{i % 4}"
        ptm = i % 3 == 0
        closed = rng.random() < 0.85
        days = int(rng.poisson(40 if ptm else 20))
        uid = f"gh:{project}#{i}"
        rows.append(
            {
                "id": uid,
                "platform": "github",
                "url": "u",
                "title": "t",
                "body": "b",
                "tags": ["model"] if ptm else ["bug"],
                "created_at": t0,
                "score": 0,
                "view_count": None,
                "answer_count": None,
                "comment_count": 1,
                "accepted_answer_id": None,
                "accepted_answer_at": None,
                "project": project,
                "state": "closed" if closed else "open",
                "closed_at": t0 + timedelta(days=days) if closed else None,
                "source": "test",
                "kind": ["bug", "enhancement", "question"][i % 3 - 1],
            }
        )
        if ptm:
            theme = themes[(i // 3) % 3].id
            codes.append({"unit": uid, "code": leaves[theme][0]})
    return rows, pd.DataFrame(codes), book


def test_resolution_end_to_end_library():
    rows, codes, book = _issues()
    df = pd.DataFrame(rows)
    df["ptm"] = df["tags"].map(lambda t: "model" in t)
    r = resolution(df, themes=theme_table(codes, book), issue_type_col="kind")
    n = r.sample_record["n"]
    assert n["ptm"] == n["non-ptm"] > 0
    assert r.mann_whitney.n_x == n["ptm"] and r.mann_whitney.p_value < 0.05
    assert r.kruskal is not None and r.kruskal.df == 2
    assert set(r.issue_types.n) == {"ptm", "non-ptm"}
    assert r.themes and all(s.n > 0 for s in r.themes)


def test_cli_resolution(tmp_path, run_cli):
    rows, codes, _ = _issues()
    schema = UNIT_SCHEMA.append(pa.field("kind", pa.string()))
    path = tmp_path / "gh.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    codes.to_csv(tmp_path / "codes.csv", index=False)
    out = tmp_path / "figs"
    res = run_cli(
        "stats",
        "resolution",
        "--corpus",
        path,
        "--ptm-labels",
        "model",
        "--themes",
        tmp_path / "codes.csv",
        "--codebook",
        "banyongrakkul2025",
        "--issue-types",
        "kind",
        "--out",
        out,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["mann_whitney"]["alternative"] == "greater"
    assert data["mann_whitney"]["cliffs"]["ci_low"] < data["mann_whitney"]["cliffs"]["delta"]
    assert data["kruskal_wallis"]["df"] == 2 and data["issue_types"]["test"].startswith("chi")
    assert (out / "resolution_groups.png").exists() and (out / "resolution_themes.png").exists()
    table = run_cli("stats", "resolution", "--corpus", path, "--ptm-labels", "model", "--out", out)
    assert table.exit_code == 0, table.stderr
    assert "Mann-Whitney U, one-sided" in table.stdout and "Cliff's d" in table.stdout
    none = run_cli("stats", "resolution", "--corpus", path)
    assert none.exit_code != 0 and "exactly one of" in none.stderr


def test_corpus_without_closed_issues_says_so(run_cli):
    from ptmcoder.paths import samples_dir

    so = samples_dir() / "so_api_sample.json"  # one closed question, no PTM label
    assert run_cli("corpus", "import", "--name", "so", so, "--no-progress").exit_code == 0
    nlbse = samples_dir() / "nlbse_issues_sample.csv"  # no state, no closing dates
    assert (
        run_cli(
            "corpus",
            "import",
            "--name",
            "nl",
            nlbse,
            "--no-progress",
            "--platform",
            "github",
            "--map",
            "title=title,created_at=created_at,project=repo,tags=label",
        ).exit_code
        == 0
    )
    for name, message in (
        ("nl", "no closed issue with a closing date among 150 units"),
        ("so", "no project has both PTM-related and other issues"),
    ):
        res = run_cli("stats", "resolution", "--corpus", name, "--ptm-labels", "bug")
        assert res.exit_code == 1 and res.exception is None
        assert message in res.stderr


def test_empty_theme_file_names_the_header_it_needs(tmp_path):
    from ptmcoder.stats.resolution import read_themes

    empty = tmp_path / "codes.csv"
    empty.write_text("")
    with pytest.raises(PtmcoderError, match="header line: unit,code$"):
        read_themes(empty, load_codebook("banyongrakkul2025"))


def test_an_empty_ptm_column_name_is_a_missing_column(tmp_path):
    """``ptm_column=""`` is the one PTM marker given: it names no column (it used to
    fall through to the ids branch and fail with a TypeError on ``read_ids(None)``)."""
    from ptmcoder.stats.resolution import load_issues

    path = tmp_path / "units.parquet"
    pd.DataFrame({"id": ["a", "b"], "tags": [["x"], []]}).to_parquet(path)
    with pytest.raises(PtmcoderError, match="no column '' in"):
        load_issues(path, ptm_column="")
