"""Counts per codebook node: once per unit per node, special codes apart, triples."""

from __future__ import annotations

import json

import pytest

from ptmcoder.codebook import load_codebook, parse_codebook
from ptmcoder.errors import PtmcoderError
from ptmcoder.stats.distribution import CodedUnits, coded_units, distribution, read_labels


def _node(id_, children=(), **kw):
    return {
        "id": id_,
        "name": id_.upper(),
        "definition": f"def of {id_}",
        "provenance": "paper-text",
        "children": list(children),
        **kw,
    }


BOOK = parse_codebook(
    {
        "id": "toy",
        "title": "Toy",
        "citation": "test",
        "version": "1",
        "status": "complete",
        "levels": ["theme", "code"],
        "nodes": [_node("A", [_node("A.x"), _node("A.y")]), _node("B", [_node("B.z")])],
        "special": [_node("fp", role="false-positive")],
    }
)


def test_unit_counted_once_per_node_and_triples():
    coded = CodedUnits(
        codes={"u1": ["A.x", "A.y"], "u2": ["A.x", "B.z"], "u3": ["B.z"], "u4": ["fp"]},
        source="mem",
    )
    r = distribution(BOOK, coded)
    assert r.n_coded == 3 and r.n_records == 4
    theme = {n.id: n for n in r.levels["theme"]}
    assert (theme["A"].units, theme["A"].challenges, theme["A"].codes) == (2, 3, 2)
    assert (theme["B"].units, theme["B"].challenges, theme["B"].codes) == (2, 2, 1)
    assert theme["A"].share == pytest.approx(2 / 3)
    code = {n.id: n for n in r.levels["code"]}
    assert code["A.x"].units == 2 and code["A.x"].parent == "A" and code["A.y"].units == 1
    assert [(s.id, s.units, s.share) for s in r.special] == [("fp", 1, 0.25)]
    assert "/ 3 units" in r.denominator


def test_code_assigned_at_a_higher_level_counts_there_only():
    r = distribution(BOOK, CodedUnits(codes={"u1": ["A"]}, source="mem"))
    assert {n.id: n.units for n in r.levels["theme"]}["A"] == 1
    assert all(n.units == 0 for n in r.levels["code"])


def test_unknown_code_is_counted_and_reported_never_a_node():
    # the one policy of Codebook.map_codes: counted and reported, never silently dropped
    r = distribution(BOOK, CodedUnits(codes={"u1": ["Q", "A.x"], "u2": ["Q"]}, source="x.csv"))
    assert r.unknown_codes == {"Q": 2}
    assert r.to_dict()["unknown_codes"] == {"Q": 2}
    assert r.n_coded == 1  # u2 carries no code of the tree
    assert sum(n.challenges for n in r.levels["code"]) == 1


def test_read_labels_picks_the_rater(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("unit,rater,code\nu1,alice,A.x\nu1,final,A.y\nu2,final,B.z\nu2,final,A.x\n")
    coded = read_labels(path, rater="final")
    assert coded.codes == {"u1": ["A.y"], "u2": ["B.z", "A.x"]}
    with pytest.raises(PtmcoderError, match="--rater"):
        read_labels(path)
    with pytest.raises(PtmcoderError, match="raters are: alice, final"):
        read_labels(path, rater="bob")


def test_coded_units_counts_failures(tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    recs = [
        {"unit_id": "u1", "annotator": "m", "codes": [{"code": "A.x"}]},
        {"unit_id": "u2", "annotator": "m", "codes": [], "error_type": "malformed_json"},
        {"unit_id": "u3", "annotator": "m", "codes": [{"code": "B.z"}, {"code": "A.y"}]},
    ]
    (run / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    coded = coded_units(run)
    assert coded.failed == 1 and coded.codes == {"u1": ["A.x"], "u3": ["B.z", "A.y"]}
    assert distribution(BOOK, coded).n_failed == 1


def test_cli_on_bundled_tan_codebook(tmp_path, run_cli):
    book = load_codebook("tan2024")
    leaves = [n.id for n in book.leaves()]
    path = tmp_path / "gold.csv"
    path.write_text(
        "unit,rater,code\n"
        f"q1,final,{leaves[0]}\nq1,final,{leaves[1]}\nq2,final,{leaves[-1]}\n"
        "q3,final,false-positive\n"
    )
    out = tmp_path / "figs"
    res = run_cli(
        "stats",
        "distribution",
        "--codebook",
        "tan2024",
        "--labels",
        path,
        "--rater",
        "final",
        "--out",
        out,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["n_coded"] == 2 and data["n_records"] == 3
    cats = {n["id"]: n["units"] for n in data["levels"]["category"]}
    assert sum(cats.values()) >= 2 and set(cats) == {"MLM", "CRI", "OTH"}
    assert data["special"][0]["units"] == 1
    assert len(data["figures"]) == 3 and all(p.endswith(".png") for p in data["figures"])
    table = run_cli(
        "stats",
        "distribution",
        "--codebook",
        "tan2024",
        "--labels",
        path,
        "--rater",
        "final",
        "--out",
        out,
        "--level",
        "category",
    )
    assert table.exit_code == 0, table.stderr
    assert "n coded units = 2" in table.stdout and "false-positive" in table.stdout


def test_cli_empty_labels_file_is_a_clean_error(tmp_path, run_cli):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run_cli(
        "stats", "distribution", "--labels", empty, "--codebook", "humbatova-screening"
    )
    assert result.exit_code == 1
    assert result.exception is None
    assert f"{empty}: header: the file is empty" in result.stderr


def test_labels_are_read_through_the_codebooks_aliases(tmp_path):
    """NLBSE's `feature` is an alias of `enhancement` in the issue-type codebook: it counts
    there (it counted at no node before), and the replacement is reported."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.distribution import distribution, read_labels

    path = tmp_path / "labels.csv"
    path.write_text(
        "unit,rater,code\nu1,a,bug\nu2,a,feature\nu3,a,Feature  Request\nu4,a,nonsense\n"
    )
    result = distribution(load_codebook("issue-type"), read_labels(path, rater="a"))
    rows = {r.id: r.units for r in result.levels["type"]}
    assert rows == {"bug": 1, "enhancement": 2, "question": 0}
    assert result.n_coded == 3
    assert result.aliases_applied == {
        "feature -> enhancement": 1,
        "Feature  Request -> enhancement": 1,
    }
    assert result.unknown_codes == {"nonsense": 1}


def test_multi_label_shares_say_so_and_give_both_denominators(tmp_path):
    """Units carrying several codes: unit shares sum past 100% and the result says so;
    shares of codings sum to 100%."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.distribution import CodedUnits, distribution

    codes = {"u1": ["bug", "question"], "u2": ["bug"], "u3": ["enhancement", "bug"]}
    result = distribution(load_codebook("issue-type"), CodedUnits(codes=codes, source="t"))
    rows = {r.id: r for r in result.levels["type"]}
    assert sum(r.share for r in rows.values()) == pytest.approx(5 / 3)
    assert sum(r.share_of_codings for r in rows.values()) == pytest.approx(1.0)
    assert rows["bug"].share == pytest.approx(1.0) and rows["bug"].share_of_codings == 0.6
    assert result.multi_coded == {"type": 2}
    assert "2 at type" in result.denominator and "more than 100%" in result.denominator
    single = distribution(load_codebook("issue-type"), CodedUnits(codes={"u": ["bug"]}, source="t"))
    assert single.multi_coded == {"type": 0} and "several" not in single.denominator
