"""REFI-QDA projects: a run exported valid against Project.xsd, its codings imported back
unit by unit and rater by rater (real posts with emoji, Chinese text and CRLF line
endings), a hand-written project from the specification's examples imported, and
the located problems of broken files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.codebook import codebook_hash, load_codebook
from ptmcoder.corpus.units import unit_text
from ptmcoder.errors import ValidationError
from ptmcoder.export.codings import import_codings
from ptmcoder.export.qdpx import export_project
from ptmcoder.export.refi import clean_text, find_span, unit_guid
from ptmcoder.manifest import CodebookRef, CorpusRef
from ptmcoder.runs import create_run

xmlschema = pytest.importorskip("xmlschema")

SCHEMAS = Path(__file__).resolve().parents[2] / "shared/schemas/refi-qda"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "refi_qda"
SAMPLES = Path(__file__).resolve().parents[1] / "ptmcoder/data/samples"

pytestmark = pytest.mark.skipif(
    not (SCHEMAS / "Project.xsd").is_file(), reason=f"REFI-QDA schemas not found in {SCHEMAS}"
)

#: rows of the bundled NLBSE issue sample (real GitHub issues): 26 ends with an emoji
#: after CRLF lines, 66 has a bug emoji mid-text, 70 a warning sign with a variation
#: selector, 133 Chinese text; 0 and 1 are plain.
ROWS = [0, 1, 26, 66, 70, 133]


@pytest.fixture(scope="module")
def project_schema():
    return xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd"))


@pytest.fixture
def study(tmp_path):
    """A corpus of real issues, a run of two annotators written through ptmcoder.runs,
    human codes and adjudicated codes."""
    sample = pd.read_csv(SAMPLES / "nlbse_issues_sample.csv").iloc[ROWS]
    units = pd.DataFrame(
        {
            "id": [f"nlbse:{i}" for i in ROWS],
            "url": [f"https://github.com/{r}" for r in sample["repo"]],
            "title": sample["title"].tolist(),
            "body": sample["body"].tolist(),
        }
    )
    # one XML-illegal control character (a vertical tab), added to test its removal
    units.loc[1, "body"] = units.loc[1, "body"] + "\x0b end"
    corpus = tmp_path / "units.csv"
    units.to_csv(corpus, index=False)
    text = {r["id"]: clean_text(unit_text(r)) for r in units.to_dict("records")}

    def quote(uid: str, needle: str) -> str:
        assert needle in text[uid], needle
        return needle

    book = load_codebook("issue-type")
    run = create_run({"codebook": "issue-type", "corpus": str(corpus)}, run_id="r-qda")
    manifest = run.manifest()
    manifest.codebook = CodebookRef(id=book.id, version=book.version, hash=codebook_hash(book))
    manifest.corpus = CorpusRef(ref=str(corpus))
    run.write_manifest(manifest)
    emoji_quote = quote("nlbse:66", "🐛 Extension is enabled in other instance")
    chinese_quote = quote("nlbse:133", "我在使用resize时，遇到问题")
    heart_quote = quote("nlbse:26", "❤️")
    records = [
        Annotation(
            unit_id="nlbse:0",
            annotator="llm-a",
            codes=[CodeAssignment(code="bug", rationale="crash", confidence=0.9)],
        ),
        Annotation(unit_id="nlbse:0", annotator="llm-b", codes=[CodeAssignment(code="question")]),
        Annotation(
            unit_id="nlbse:1",
            annotator="llm-a",
            codes=[CodeAssignment(code="enhancement", evidence="not in the text at all")],
        ),
        Annotation(unit_id="nlbse:1", annotator="llm-b", error_type=ErrorType.API, error="500"),
        Annotation(
            unit_id="nlbse:26",
            annotator="llm-a",
            codes=[
                CodeAssignment(code="bug", evidence=heart_quote, confidence=0.4),
                CodeAssignment(code="question", evidence=f'"{heart_quote}"'),
            ],
        ),
        Annotation(unit_id="nlbse:26", annotator="llm-b", codes=[]),
        Annotation(
            unit_id="nlbse:66",
            annotator="llm-a",
            codes=[CodeAssignment(code="bug", evidence=emoji_quote, rationale="re-enabled")],
        ),
        Annotation(
            unit_id="nlbse:66",
            annotator="llm-b",
            codes=[CodeAssignment(code="bug", evidence=emoji_quote.upper())],
        ),
        # a unit whose only record failed, coded by a human
        Annotation(unit_id="nlbse:70", annotator="llm-a", error_type=ErrorType.TIMEOUT),
        Annotation(
            unit_id="nlbse:133",
            annotator="llm-a",
            codes=[CodeAssignment(code="question", evidence=chinese_quote, confidence=0.7)],
        ),
    ]
    with run:
        for record in records:
            run.append(record)
    humans = tmp_path / "humans.csv"
    pd.DataFrame(
        {
            "unit_id": [
                "nlbse:0",
                "nlbse:0",
                "nlbse:66",
                "nlbse:133",
                "nlbse:133",
                "nlbse:9",
                "nlbse:70",
            ],
            "rater": ["H1", "H2", "H1", "H1", "H2", "H1", "H2"],
            "code": ["bug", "bug", "bug", "question", "no-such-code", "bug", "enhancement"],
        }
    ).to_csv(humans, index=False)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"unit_id": ["nlbse:0", "nlbse:66"], "code": ["bug", "bug"]}).to_csv(
        gold, index=False
    )
    expected = {
        ("nlbse:0", "llm-a", "bug"),
        ("nlbse:0", "llm-b", "question"),
        ("nlbse:1", "llm-a", "enhancement"),
        ("nlbse:26", "llm-a", "bug"),
        ("nlbse:26", "llm-a", "question"),
        ("nlbse:66", "llm-a", "bug"),
        ("nlbse:66", "llm-b", "bug"),
        ("nlbse:70", "H2", "enhancement"),
        ("nlbse:133", "llm-a", "question"),
        ("nlbse:0", "H1", "bug"),
        ("nlbse:0", "H2", "bug"),
        ("nlbse:66", "H1", "bug"),
        ("nlbse:133", "H1", "question"),
        ("nlbse:0", "gold", "bug"),
        ("nlbse:66", "gold", "bug"),
    }
    quotes = {
        ("nlbse:66", "llm-a"): emoji_quote,
        ("nlbse:66", "llm-b"): emoji_quote,
        ("nlbse:133", "llm-a"): chinese_quote,
        ("nlbse:26", "llm-a"): heart_quote,
    }
    return {
        "run": run,
        "corpus": corpus,
        "humans": humans,
        "gold": gold,
        "text": text,
        "expected": expected,
        "quotes": quotes,
    }


def rows(table: pd.DataFrame) -> set[tuple[str, str, str]]:
    return set(table[["unit", "rater", "code"]].itertuples(index=False, name=None))


def test_export_is_valid_and_round_trips_rater_by_rater(study, tmp_path, project_schema):
    out = tmp_path / "study.qdpx"
    summary = export_project("r-qda", out, humans=study["humans"], gold=study["gold"])

    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        qde = zf.read("project.qde").decode("utf-8")
        project_schema.validate(qde)
        sources = sorted(n for n in names if n.startswith("sources/"))
        assert sorted(names) == sorted(["project.qde", *sources])
        assert all(n.count("/") == 1 and n.endswith(".txt") for n in sources)  # flat
        assert sources == sorted(f"sources/{unit_guid(u)}.txt" for u in study["text"])
        for uid, text in study["text"].items():
            written = zf.read(f"sources/{unit_guid(uid)}.txt").decode("utf-8")
            assert written == text
            assert "\r" not in written and "\x0b" not in written
    assert summary.units == len(ROWS)
    assert summary.text.control_chars_removed == 1
    assert summary.text.line_endings_normalised > 0  # the issues' CRLF lines
    assert summary.failed_records == 2
    assert summary.notes == 2 + 7  # the failures, and the codings with a rationale or evidence
    assert summary.raters["H1"] == {"role": "human coder", "codings": 3}
    assert summary.raters["gold"] == {"role": "adjudicator", "codings": 2}
    assert summary.skipped == {
        f"{study['humans']}: rows on units the run did not code": 1,
        f"{study['humans']}: code 'no-such-code' not in codebook issue-type": 1,
    }
    # evidence found: heart twice, bug emoji twice (one upper-cased), Chinese once
    assert summary.evidence_spans == 5
    assert summary.whole_source == len(study["expected"]) - 5

    back = import_codings(out)
    assert back.problems == []
    assert back.matched == {"guid": len(ROWS)}
    for rater in {r for _, r, _ in study["expected"]}:
        want = {row for row in study["expected"] if row[1] == rater}
        got = {row for row in rows(back.table) if row[1] == rater}
        assert got == want, rater
    assert rows(back.table) == study["expected"]

    spans = 0
    for item in back.selections:
        text = study["text"][item["unit"]]
        quote = study["quotes"].get((item["unit"], item["rater"]))
        if quote is None:
            assert (item["start"], item["end"]) == (0, len(text)), item
            continue
        spans += 1
        assert item["quote"] == quote
        assert item["start"] == text.index(quote)  # code points, not UTF-16 units
    assert spans == summary.evidence_spans


def test_offsets_count_code_points_not_utf16_units(study, tmp_path):
    text = study["text"]["nlbse:66"]
    quote = study["quotes"][("nlbse:66", "llm-a")]
    start = text.index(quote)
    end = start + len(quote)
    utf16_end = len(text[:end].encode("utf-16-le")) // 2
    out = tmp_path / "p.qdpx"
    export_project("r-qda", out)
    back = import_codings(out)
    (item,) = [s for s in back.selections if s["unit"] == "nlbse:66" and s["rater"] == "llm-a"]
    assert (item["start"], item["end"]) == (start, end)
    # the bug emoji in the quote is one position in the spec's unit, two in UTF-16
    assert utf16_end > end
    assert item["quote"] == quote


def test_crlf_sources_keep_offsets_right(study, tmp_path, project_schema):
    out = tmp_path / "crlf.qdpx"
    export_project("r-qda", out, line_endings="crlf")
    with zipfile.ZipFile(out) as zf:
        project_schema.validate(zf.read("project.qde").decode("utf-8"))
        written = zf.read(f"sources/{unit_guid('nlbse:26')}.txt").decode("utf-8")
    assert "\r\n" in written
    back = import_codings(out)
    for item in back.selections:
        quote = study["quotes"].get((item["unit"], item["rater"]))
        if quote is not None:
            assert item["quote"] == quote


def test_reexport_writes_the_same_project(study, tmp_path):
    first, second = tmp_path / "a.qdpx", tmp_path / "b.qdpx"
    export_project("r-qda", first, humans=study["humans"])
    export_project("r-qda", second, humans=study["humans"])
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert a.read("project.qde") == b.read("project.qde")


def test_import_matches_units_by_text_and_reports_what_it_cannot(study, tmp_path):
    """A project another program made from the same posts: no ptmcoder GUIDs or names."""
    out = tmp_path / "p.qdpx"
    export_project("r-qda", out)
    foreign = tmp_path / "foreign.qdpx"
    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(foreign, "w") as zw:
        qde = zf.read("project.qde").decode("utf-8")
        for uid in study["text"]:
            g = unit_guid(uid)
            new = g[:-12] + "000000000000"
            qde = qde.replace(f'name="{uid}"', f'name="{uid.replace(":", " ")}.txt"')
            qde = qde.replace(g, new)
            zw.writestr(f"Sources/{new}.txt", zf.read(f"sources/{g}.txt"))
        zw.writestr("project.qde", qde)
    unmatched = import_codings(foreign)
    assert len(unmatched.table) == 0
    assert unmatched.unmatched_sources == len(ROWS)
    assert "pass --corpus" in unmatched.problems[0].message

    matched = import_codings(foreign, corpus=str(study["corpus"]))
    assert matched.matched == {"text": len(ROWS)}
    assert rows(matched.table) == {r for r in study["expected"] if r[1].startswith("llm")}


def test_a_run_without_records_is_refused(tmp_path):
    from ptmcoder.errors import PtmcoderError

    create_run({"codebook": "issue-type", "corpus": "humbatova_so"}, run_id="empty")
    with pytest.raises(PtmcoderError, match="no annotation records"):
        export_project("empty", tmp_path / "e.qdpx")
    assert not (tmp_path / "e.qdpx").exists()


def test_hand_written_project_from_the_specification_imports(tmp_path, project_schema):
    folder = FIXTURES / "spec_project"
    project_schema.validate(str(folder / "project.qde"))
    archive = tmp_path / "spec.qdpx"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    result = import_codings(archive, corpus=str(FIXTURES / "spec_units.csv"))
    assert rows(result.table) == {
        ("doc:breakfast-1", "Friedrich Markgraf", "cornflakes"),
        ("doc:breakfast-1", "Sebastian Petrausch", "diet-coke"),
        ("doc:breakfast-1", "Sebastian Petrausch", "waste-of-time"),
        ("doc:hotel", "Friedrich Markgraf", "bacon-and-eggs"),
    }
    quotes = {(s["code"], s["quote"]) for s in result.selections}
    assert ("cornflakes", "ate cornflakes") in quotes
    assert ("diet-coke", "diet Coke") in quotes  # after an emoji: code points
    assert ("bacon-and-eggs", "bacon and eggs") in quotes
    messages = [f"{p.location}: {p.message}" for p in result.problems]
    dangling = [m for m in messages if "e291e612" in m]
    assert len(dangling) == 1 and dangling[0].startswith("line 71, ")
    assert "TextSource[2] (Apostrophe's Test Document 1)" in dangling[0]
    unmatched = [m for m in messages if "matches no unit" in m]
    assert len(unmatched) == 1 and "Granola recipe" in unmatched[0]


def test_import_with_a_codebook_reports_codes_outside_it(tmp_path):
    folder = FIXTURES / "spec_project"
    archive = tmp_path / "spec.qdpx"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    result = import_codings(archive, corpus=str(FIXTURES / "spec_units.csv"), codebook="issue-type")
    assert len(result.table) == 0
    outside = [p for p in result.problems if "is not in codebook issue-type" in p.message]
    assert len(outside) == 6  # every code of the project's codebook


def test_malformed_project_is_reported_at_line_and_element(study, tmp_path):
    out = tmp_path / "p.qdpx"
    export_project("r-qda", out)
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(broken, "w") as zw:
        qde = zf.read("project.qde").decode("utf-8")
        cut = qde.index("<Coding ", qde.index("<Sources>"))
        zw.writestr("project.qde", qde[:cut] + "<Coding <" + qde[cut + 8 :])
    with pytest.raises(ValidationError) as info:
        import_codings(broken)
    problem = info.value.problems[0]
    line = qde[:cut].count("\n") + 1
    assert problem.location.startswith(f"line {line}, ")
    assert "inside Project" in problem.location and "PlainTextSelection" in problem.location
    assert "malformed XML" in problem.message

    not_zip = tmp_path / "plain.qdpx"
    not_zip.write_text("<Project/>", encoding="utf-8")
    with pytest.raises(ValidationError, match="not a zip archive"):
        import_codings(not_zip)


def test_cli_export_then_import_codings_then_agree(study, tmp_path, run_cli):
    out = tmp_path / "cli.qdpx"
    result = run_cli(
        "export",
        "r-qda",
        "-o",
        out,
        "--humans",
        study["humans"],
        "--gold",
        study["gold"],
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert '"codings": 15' in result.stdout
    table = tmp_path / "long.csv"
    result = run_cli("import-codings", out, "-o", table)
    assert result.exit_code == 0, result.stderr
    assert f"{len(ROWS)} text sources" in result.stderr
    assert rows(pd.read_csv(table, dtype=str)) == study["expected"]
    agree = run_cli("agree", table, "--bootstrap", "0", "--json")
    assert agree.exit_code == 0, agree.stderr


def test_find_span_tolerates_case_whitespace_and_quotes():
    text = "Title: Crash 💥 on start\n\nIt   crashes\nat launch."
    assert find_span("It crashes at launch", text) == (text.index("It"), len(text) - 1)
    assert find_span('"crash 💥 ON start"', text) == (7, 7 + len("Crash 💥 on start"))
    assert find_span("absent", text) is None
    assert find_span(None, text) is None
