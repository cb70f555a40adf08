"""popularity and difficulty on small Parquet corpora built here, checked by hand
and against pandas and scipy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency, fisher_exact

from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.difficulty import difficulty
from ptmcoder.stats.engine import TAN2024_PTM_TAGS, PtmRule
from ptmcoder.stats.popularity import popularity

T = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)


def _unit(i, tags, *, year=2021, accepted_after_min=None, answers=1, views=100, **extra):
    created = T.replace(year=year)
    return {
        "id": f"so:{i}",
        "platform": "stackoverflow",
        "url": f"https://so/q/{i}",
        "title": "t",
        "body": "b",
        "tags": tags,
        "created_at": created,
        "score": 0,
        "view_count": views,
        "answer_count": answers,
        "comment_count": 0,
        "accepted_answer_id": None if accepted_after_min is None else f"a{i}",
        "accepted_answer_at": None
        if accepted_after_min is None
        else created + timedelta(minutes=accepted_after_min),
        "project": "stackoverflow.com",
        "state": None,
        "closed_at": None,
        "source": "test",
        **extra,
    }


def write_units(path: Path, rows: list[dict], extra_fields: list[pa.Field] = ()) -> Path:
    schema = UNIT_SCHEMA
    for f in extra_fields:
        schema = schema.append(f)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    rows = [
        # PTM: 4 units, 1 accepted (after 100 min) -> %no acc 0.75
        _unit(1, ["huggingface", "python"], accepted_after_min=100, answers=2, views=100),
        _unit(2, ["huggingface"], answers=0, views=300, year=2022),
        _unit(3, ["bert-language-model", "huggingface"], answers=1, views=200, year=2022),
        _unit(4, ["gpt-2"], answers=1, views=400, year=2020),
        # others: 5 units, 3 accepted (10, 20, 60 min) -> %no acc 0.4
        _unit(5, ["python"], accepted_after_min=10, answers=3, views=50),
        _unit(6, ["java"], accepted_after_min=20, answers=2, views=50),
        _unit(7, ["python", "pandas"], accepted_after_min=60, answers=1, views=50),
        _unit(8, [], answers=0, views=25),
        _unit(9, ["c"], answers=4, views=25, year=2017),
    ]
    return write_units(tmp_path / "units.parquet", rows)


def test_difficulty_groups_by_hand(corpus):
    r = difficulty(corpus, threads=1)
    ptm, other = r.group("ptm"), r.group("non-ptm")
    assert (ptm.n, ptm.no_acc, ptm.pct_no_acc) == (4, 3, 0.75)
    assert (other.n, other.no_acc, other.pct_no_acc) == (5, 2, 0.4)
    assert ptm.n_response == 1 and ptm.rt_mean_min == pytest.approx(100)
    assert other.rt_mean_min == pytest.approx(30) and other.rt_median_min == pytest.approx(20)
    assert ptm.pd == pytest.approx(1.0 / 250.0)  # mean answers 1, mean views 250
    assert other.pd == pytest.approx(2.0 / 40.0)


def test_difficulty_per_tag_and_test_match_scipy(corpus):
    r = difficulty(corpus, threads=1, top_k=2)
    assert [t.name for t in r.tags] == ["huggingface", "bert-language-model"]
    hf = r.tags[0]
    assert (hf.n, hf.no_acc) == (3, 2)
    assert hf.pd == pytest.approx(1.0 / 200.0)
    for test in r.tests:
        chi2, p, df, _ = chi2_contingency(np.array([[3, 1], [2, 3]]), correction=test.correction)
        assert test.chi2 == pytest.approx(chi2) and test.p_value == pytest.approx(p)
    assert [t.correction for t in r.tests] == [False, True]


def test_difficulty_since_and_explicit_tags(corpus):
    r = difficulty(corpus, threads=1, since="2018-01-01", tags=["gpt-2"])
    assert r.group("non-ptm").n == 4
    assert [t.name for t in r.tags] == ["gpt-2"]


def test_histogram_counts_every_answered_unit(corpus):
    r = difficulty(corpus, threads=1)
    assert sum(n for _, _, n in r.histogram["non-ptm"]) == 3
    lo, hi, _ = r.histogram["ptm"][0]
    assert lo <= 100 < hi


def test_ptm_column_rule(tmp_path):
    rows = [
        _unit(1, [], is_ptm=True),
        _unit(2, [], is_ptm=False, accepted_after_min=5),
        _unit(3, [], is_ptm=None),
    ]
    path = write_units(tmp_path / "u.parquet", rows, [pa.field("is_ptm", pa.bool_())])
    r = difficulty(path, rule=PtmRule(tags=None, column="is_ptm"), threads=1)
    assert r.group("ptm").n == 1 and r.group("non-ptm").n == 2


def test_missing_column_is_a_clean_error(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["a"]}), path)
    with pytest.raises(PtmcoderError, match="missing column"):
        difficulty(path, threads=1)


def test_popularity_per_year_and_tag(corpus):
    r = popularity(corpus, threads=1, top_k=2)
    assert r.n == 4
    assert r.per_year == [(2020, 1), (2021, 1), (2022, 2)]
    assert r.top_tags == [("huggingface", 3), ("bert-language-model", 1)]
    assert r.per_tag_year["huggingface"] == [(2021, 1), (2022, 2)]
    everything = popularity(corpus, threads=1, scope="all", top_k=1)
    assert everything.n == 9 and everything.top_tags == [("huggingface", 3)]


def test_tan_tags_constant():
    assert len(TAN2024_PTM_TAGS) == 18 and len(set(TAN2024_PTM_TAGS)) == 18


def test_matches_pandas_on_random_corpus(tmp_path):
    rng = np.random.default_rng(3)
    vocab = ["huggingface", "openai-api", "python", "java", "r"]
    rows = []
    for i in range(500):
        tags = list(rng.choice(vocab, rng.integers(0, 3), replace=False))
        acc = None if rng.random() < 0.5 else float(rng.integers(1, 10_000))
        rows.append(
            _unit(
                i,
                tags,
                accepted_after_min=acc,
                answers=int(rng.integers(0, 4)),
                views=int(rng.integers(1, 1000)),
                year=int(rng.integers(2018, 2024)),
            )
        )
    path = write_units(tmp_path / "r.parquet", rows)
    df = pd.DataFrame(rows)
    df["ptm"] = df["tags"].map(lambda t: bool(set(t) & set(TAN2024_PTM_TAGS)))
    r = difficulty(path, threads=1)
    for flag, name in ((True, "ptm"), (False, "non-ptm")):
        sub = df[df["ptm"] == flag]
        rt = ((sub["accepted_answer_at"] - sub["created_at"]).dt.total_seconds() / 60).dropna()
        g = r.group(name)
        assert g.n == len(sub)
        assert g.pct_no_acc == pytest.approx(sub["accepted_answer_id"].isna().mean())
        assert g.rt_median_min == pytest.approx(rt.median())
        assert g.rt_mean_min == pytest.approx(rt.mean())
        assert g.pd == pytest.approx(sub["answer_count"].mean() / sub["view_count"].mean())


def test_cli_difficulty_and_popularity(corpus, run_cli, tmp_path):
    out = tmp_path / "figs"
    res = run_cli(
        "stats", "difficulty", "--corpus", corpus, "--out", out, "--threads", "1", "--json"
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["groups"][0]["name"] == "ptm" and data["groups"][0]["n"] == 4
    assert (out / "response_time.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "no_acc.png").read_bytes()[:4] == b"\x89PNG"
    assert str(out / "no_acc.png") in json.loads(res.stdout)["figures"]
    table = run_cli("stats", "difficulty", "--corpus", corpus, "--out", out, "--threads", "1")
    assert table.exit_code == 0
    assert "%no acc" in table.stdout and "0.750" in table.stdout and "Yates" in table.stdout
    pop = run_cli("stats", "popularity", "--corpus", corpus, "--out", out, "--top-k", "2")
    assert pop.exit_code == 0, pop.stderr
    assert "huggingface" in pop.stdout and (out / "popularity.png").exists()


def test_cli_unknown_corpus(run_cli):
    res = run_cli("stats", "popularity", "--corpus", "nope")
    assert res.exit_code != 0 and "no corpus named 'nope'" in res.stderr


@pytest.mark.parametrize("dictionary", [False, True])
def test_ptm_mask_on_sliced_lists_with_nulls(dictionary):
    from ptmcoder.stats.engine import DEFAULT_PTM_RULE, _ptm_mask

    lists = [["python"], None, ["gpt-2", "r"], [], ["java", None, "bart"], ["huggingface"]]
    tags = pa.array(lists, pa.list_(pa.string()))
    if dictionary:
        tags = pa.ListArray.from_arrays(
            tags.offsets, tags.values.dictionary_encode(), mask=tags.is_null()
        )
    sliced = tags.slice(1, 4)  # None, [gpt-2, r], [], [java, None, bart]
    batch = pa.RecordBatch.from_arrays([sliced], ["tags"])
    value_set = pa.array(TAN2024_PTM_TAGS)
    mask = _ptm_mask(batch, DEFAULT_PTM_RULE, value_set)
    expected = [bool(t and set(t) & set(TAN2024_PTM_TAGS)) for t in lists[1:5]]
    assert mask.tolist() == expected == [False, True, False, True]


def _many_row_groups(tmp_path) -> Path:
    rng = np.random.default_rng(5)
    vocab = ["huggingface", "gpt-2", "python", "java", "r"]
    rows = [
        _unit(
            i,
            list(rng.choice(vocab, rng.integers(0, 3), replace=False)),
            accepted_after_min=None if rng.random() < 0.4 else float(rng.integers(1, 5_000)),
            answers=int(rng.integers(0, 4)),
            views=int(rng.integers(1, 1000)),
            year=int(rng.integers(2018, 2024)),
        )
        for i in range(600)
    ]
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=UNIT_SCHEMA), path, row_group_size=41)
    assert pq.ParquetFile(path).metadata.num_row_groups == 15
    return path


def test_parallel_row_groups_give_the_serial_result(tmp_path):
    path = _many_row_groups(tmp_path)
    serial = difficulty(path, threads=1).to_dict()
    for threads in (2, 3):
        assert difficulty(path, threads=threads).to_dict() == serial
    assert popularity(path, threads=3).to_dict() == popularity(path, threads=1).to_dict()


def test_map_ptm_keeps_order_stops_early_and_raises(tmp_path):
    from ptmcoder.stats.engine import DEFAULT_PTM_RULE, map_ptm

    path = _many_row_groups(tmp_path)

    def first_id(batch, ptm):
        return batch.column("id")[0].as_py(), len(ptm)

    got = list(map_ptm(path, DEFAULT_PTM_RULE, ["id"], first_id, threads=3))
    assert [n for _, n in got] == [41] * 14 + [26]
    assert [i for i, _ in got] == [f"so:{41 * k}" for k in range(15)]

    stream = map_ptm(path, DEFAULT_PTM_RULE, ["id"], first_id, threads=2)
    assert next(stream) == ("so:0", 41)
    stream.close()  # leaving early cancels what is queued and returns

    def fails(batch, ptm):
        if batch.column("id")[0].as_py() == "so:205":
            raise ValueError("row group 5")
        return 0

    with pytest.raises(ValueError, match="row group 5"):
        list(map_ptm(path, DEFAULT_PTM_RULE, ["id"], fails, threads=2))


def test_scan_workers_default_is_bounded(monkeypatch):
    from ptmcoder.stats import engine

    monkeypatch.setattr(engine.os, "cpu_count", lambda: 64)
    assert engine.scan_workers(None) == engine.MAX_DEFAULT_WORKERS
    assert engine.scan_workers(8) == 8
    monkeypatch.setattr(engine.os, "cpu_count", lambda: None)
    assert engine.scan_workers(None) == 1


def test_difficulty_with_a_ptm_group_of_two_warns(tmp_path, run_cli):
    rows = [_unit(1, ["huggingface"]), _unit(2, ["huggingface"], accepted_after_min=5)]
    rows += [_unit(10 + i, ["python"], accepted_after_min=5 if i % 2 else None) for i in range(30)]
    path = write_units(tmp_path / "units.parquet", rows)
    r = difficulty(path, threads=1)
    assert r.group("ptm").n == 2
    assert all(t.warnings and t.fisher_p_value is not None for t in r.tests)
    assert r.tests[0].fisher_p_value == pytest.approx(
        fisher_exact(np.array([[1, 1], [15, 15]])).pvalue
    )
    assert r.to_dict()["proportion_tests"][0]["warnings"]
    shown = run_cli("stats", "difficulty", "--corpus", path, "--threads", "1")
    assert shown.exit_code == 0, shown.stderr
    assert "warning: an expected count is under 5" in shown.stdout
