"""REFI-QDA export for each program (#25 items 1, 3 and 6): a run with failed records
read the way QualCoder's importer reads a project (every element it takes a date
from has one, in UTC ending in ``Z``), and the round trip export -> import exact for
every ``--for`` target, whether the project declares its offset unit or not.

The QualCoder reader below follows what ``src/qualcoder/refi.py`` (ccbogel/QualCoder,
read at c3204641) does with a project: ElementTree, children matched by namespaced
tag, ``creationDateTime`` else ``modifiedDateTime`` of each Note, source and selection
with ``.replace('T', ' ').replace('Z', '')`` on the value (a missing date on a Note
raises), ``int()`` of the positions, the first child of a ``Coding`` taken as its
``CodeRef``, text read in text mode (universal newlines) with every ``\\n`` made
``\\n `` when the file's first line ends in ``\\r\\n`` (not for ATLAS.ti), and the
selected text ``fulltext[pos0:pos1]``. It is written here, not copied."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.codebook import codebook_hash, load_codebook
from ptmcoder.corpus.units import unit_text
from ptmcoder.export.codings import import_codings
from ptmcoder.export.qdpx import export_project
from ptmcoder.export.refi import TARGETS, clean_text, refi_datetime, unit_guid
from ptmcoder.manifest import CodebookRef, CorpusRef
from ptmcoder.runs import create_run

SCHEMAS = Path(__file__).resolve().parents[2] / "shared/schemas/refi-qda"
NS = "{urn:QDA-XML:project:1.0}"
ZULU = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

#: units with emoji (outside the BMP: two UTF-16 units each) and CRLF line endings
UNITS = [
    {
        "id": "t:1",
        "title": "Crash 💥 on start",
        "body": "It crashes 😀 at launch.\r\nSenkit nem lehet kötelezni 🙂 semmire.\r\nThanks ❤️",
    },
    {
        "id": "t:2",
        "title": "Question 🤔",
        "body": "How do I configure 🐛 the plugin?\r\nSecond line 👍 here.",
    },
    {"id": "t:3", "title": "Plain", "body": "Nothing special here."},
]
#: (unit, rater) -> the evidence quote, where the export puts a selection on its span
EVIDENCE = {
    ("t:1", "llm-a", "bug"): "Senkit nem lehet kötelezni",
    ("t:1", "llm-a", "question"): "at launch.\nSenkit",
    ("t:2", "llm-a", "question"): "configure 🐛 the plugin",
    ("t:2", "llm-b", "enhancement"): "Second line 👍 here",
}


@pytest.fixture
def run_with_failures(tmp_path):
    corpus = tmp_path / "units.csv"
    pd.DataFrame(UNITS).to_csv(corpus, index=False)
    book = load_codebook("issue-type")
    run = create_run({"codebook": "issue-type", "corpus": str(corpus)}, run_id="r-refi")
    manifest = run.manifest()
    manifest.codebook = CodebookRef(id=book.id, version=book.version, hash=codebook_hash(book))
    manifest.corpus = CorpusRef(ref=str(corpus))
    run.write_manifest(manifest)
    records = [
        Annotation(
            unit_id="t:1",
            annotator="llm-a",
            created_at="2026-12-08T02:02:03+01:00",
            codes=[
                CodeAssignment(
                    code="bug", evidence=EVIDENCE[("t:1", "llm-a", "bug")], rationale="r"
                ),
                CodeAssignment(code="question", evidence=EVIDENCE[("t:1", "llm-a", "question")]),
            ],
        ),
        Annotation(unit_id="t:1", annotator="llm-b", error_type=ErrorType.API, error="500"),
        Annotation(
            unit_id="t:2",
            annotator="llm-a",
            codes=[
                CodeAssignment(code="question", evidence=EVIDENCE[("t:2", "llm-a", "question")])
            ],
        ),
        Annotation(
            unit_id="t:2",
            annotator="llm-b",
            created_at="2026-12-08T01:02:03",
            codes=[
                CodeAssignment(
                    code="enhancement",
                    evidence=EVIDENCE[("t:2", "llm-b", "enhancement")],
                    confidence=0.5,
                )
            ],
        ),
        Annotation(unit_id="t:3", annotator="llm-a", error_type=ErrorType.TIMEOUT),
        Annotation(unit_id="t:3", annotator="llm-b", codes=[CodeAssignment(code="bug")]),
    ]
    with run:
        for record in records:
            run.append(record)
    text = {u["id"]: clean_text(unit_text(u)) for u in UNITS}
    expected = {(u, r, c) for (u, r, c) in EVIDENCE} | {("t:3", "llm-b", "bug")}
    return {"corpus": corpus, "text": text, "expected": expected}


def read_like_qualcoder(archive: Path) -> dict:
    """What QualCoder's importer takes from a project (see the module docstring)."""
    with zipfile.ZipFile(archive) as zf:
        root = ET.fromstring(zf.read("project.qde"))
        files = {n: zf.read(n) for n in zf.namelist() if n.startswith("sources/")}
    software = root.get("origin")
    assert software is not None  # parse_project_tag calls .upper() on it
    dates: list[str] = []

    def date_of(el: ET.Element) -> str:
        value = el.get("creationDateTime")
        if value is None:
            value = el.get("modifiedDateTime")
        assert value is not None, f"<{el.tag}> {el.get('name')!r} has no date"
        dates.append(value)
        return value.replace("T", " ").replace("Z", "")

    users = {u.get("guid"): u.get("name") for u in root.iter(f"{NS}User")}
    codes = {c.get("guid"): c.get("name") for c in root.iter(f"{NS}Code")}
    selections = []
    for source in root.find(f"{NS}Sources"):
        assert source.tag == f"{NS}TextSource"
        date_of(source)
        raw = files["sources/" + source.get("plainTextPath").split("internal://")[1]]
        first_line = raw.split(b"\n", 1)[0]
        add_ending = first_line.endswith(b"\r") and "ATLAS" not in software
        fulltext = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read()
        if add_ending:
            fulltext = fulltext.replace("\n", "\n ")
        for sel in source.findall(f"{NS}PlainTextSelection"):
            pos0, pos1 = int(sel.get("startPosition")), int(sel.get("endPosition"))
            date_of(sel)
            for coding in sel.findall(f"{NS}Coding"):
                code_ref = list(coding)[0]
                assert code_ref.tag == f"{NS}CodeRef"
                dates.append(coding.get("creationDateTime"))
                selections.append(
                    {
                        "source": source.get("name"),
                        "user": users[sel.get("creatingUser")],
                        "code": codes[code_ref.get("targetGUID")],
                        "seltext": fulltext[pos0:pos1],
                        "add_ending": add_ending,
                    }
                )
    notes = root.find(f"{NS}Notes")
    for note in notes if notes is not None else []:
        date_of(note)  # parse_notes: a Note without a date aborts the import
    return {"selections": selections, "notes": len(notes), "dates": dates, "root": root}


@pytest.mark.parametrize("target", [None, "qualcoder"])
@pytest.mark.parametrize("line_endings", ["lf", "crlf"])
def test_a_run_with_failed_records_reads_in_qualcoder(
    run_with_failures, tmp_path, target, line_endings
):
    out = tmp_path / "qc.qdpx"
    summary = export_project("r-refi", out, target=target, line_endings=line_endings)
    assert summary.failed_records == 2 and summary.offsets == "codepoints"
    read = read_like_qualcoder(out)
    assert read["notes"] == summary.notes == 2 + 4  # two failures, four codings with a memo
    names = {n.name: n.id for n, _, _ in load_codebook("issue-type").walk()}
    got = {}
    for s in read["selections"]:
        key = (s["source"], s["user"], names[s["code"]])
        got[key] = s["seltext"].replace("\n ", "\n") if s["add_ending"] else s["seltext"]
    assert set(got) == run_with_failures["expected"]
    for key, quote in EVIDENCE.items():
        assert got[key] == quote, key
    assert got[("t:3", "llm-b", "bug")] == run_with_failures["text"]["t:3"]
    # every date QualCoder reads is UTC with a Z, and survives its re-export unchanged
    assert read["dates"] and all(ZULU.match(d) for d in read["dates"]), read["dates"]
    for d in read["dates"]:
        stored = d.replace("T", " ").replace("Z", "")
        assert f"{stored[0:10]}T{stored[11:]}Z" == d  # QualCoder's convert_timestamp
    assert "2026-12-08T01:02:03Z" in read["dates"]  # +01:00 and a naive time, in UTC


def test_exported_timestamps_end_in_z_and_are_valid(run_with_failures, tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    if not (SCHEMAS / "Project.xsd").is_file():
        pytest.skip(f"REFI-QDA schemas not found in {SCHEMAS}")
    out = tmp_path / "z.qdpx"
    export_project("r-refi", out, target="nvivo")
    with zipfile.ZipFile(out) as zf:
        qde = zf.read("project.qde").decode("utf-8")
    xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(qde)
    stamps = re.findall(r'(\w+DateTime)="([^"]*)"', qde)
    assert len(stamps) > 10
    assert all(ZULU.match(value) for _, value in stamps), stamps
    assert "+00:00" not in qde
    root = ET.fromstring(qde)
    for tag in ("TextSource", "PlainTextSelection", "Note"):
        for el in root.iter(f"{NS}{tag}"):
            assert el.get("creationDateTime") and el.get("modifiedDateTime"), tag
    for el in root.iter(f"{NS}Coding"):
        assert el.get("creationDateTime")


def test_refi_datetime_is_utc_with_z():
    assert refi_datetime("2026-12-08T01:02:03+00:00") == "2026-12-08T01:02:03Z"
    assert refi_datetime("2026-12-07T20:02:03.5-05:00") == "2026-12-08T01:02:03Z"
    assert refi_datetime("2026-12-08T01:02:03Z") == "2026-12-08T01:02:03Z"
    assert refi_datetime("not a date") is None and refi_datetime(None) is None


def _strip_declaration(archive: Path, out: Path, origin: str) -> None:
    """The same project as another program would write it: no ptmcoder origin or
    description, so the offset unit has to be detected."""
    with zipfile.ZipFile(archive) as zf, zipfile.ZipFile(out, "w") as zw:
        for name in zf.namelist():
            data = zf.read(name)
            if name == "project.qde":
                qde = data.decode("utf-8")
                qde = re.sub(r'origin="[^"]*"', f'origin="{origin}"', qde, count=1)
                qde = re.sub(r"\n  <Description>Run .*?</Description>", "", qde, flags=re.S)
                assert "offsets=" not in qde
                data = qde.encode("utf-8")
            zw.writestr(name, data)


@pytest.mark.parametrize("target", [None, *TARGETS])
def test_round_trip_is_exact_for_every_target(run_with_failures, tmp_path, target):
    out = tmp_path / f"{target}.qdpx"
    summary = export_project("r-refi", out, target=target)
    unit = TARGETS[target].offsets if target else "codepoints"
    assert summary.offsets == unit
    crlf = (TARGETS[target].line_endings if target else "lf") == "crlf"
    text = run_with_failures["text"]
    foreign = tmp_path / f"{target}-foreign.qdpx"
    _strip_declaration(out, foreign, "Some QDA program 1.0")
    for archive, how in ((out, "declared"), (foreign, "detected")):
        corpus = str(run_with_failures["corpus"]) if archive is foreign else None
        back = import_codings(archive, corpus=corpus)
        assert back.problems == [] or archive is foreign
        assert back.offsets["unit"] == unit, (archive, back.offsets)
        assert back.offsets["how"].startswith(how)
        rows = set(back.table.itertuples(index=False, name=None))
        assert rows == run_with_failures["expected"]
        for item in back.selections:
            key = (item["unit"], item["rater"], item["code"])
            written = text[item["unit"]].replace("\n", "\r\n") if crlf else text[item["unit"]]
            quote = EVIDENCE.get(key, text[item["unit"]])
            assert item["quote"] == (quote.replace("\n", "\r\n") if crlf else quote), key
            assert written[item["start"] : item["end"]] == item["quote"]
    if unit == "utf16":  # the detection had something to tell apart
        scores = back.offsets["on_word_boundaries"]
        assert scores["utf16"] == back.offsets["selections"] > scores["codepoints"]


def test_cli_export_for_a_program_says_its_unit(run_with_failures, tmp_path, run_cli):
    out = tmp_path / "cli.qdpx"
    result = run_cli("export", "r-refi", "-o", out, "--for", "nvivo")
    assert result.exit_code == 0, result.stderr
    assert "offsets in UTF-16 code units, line endings lf (for nvivo)" in result.stdout
    result = run_cli("export", "r-refi", "-o", out, "--for", "maxqda", "--offsets", "codepoints")
    assert result.exit_code == 0, result.stderr
    assert "offsets in code points, line endings crlf (for maxqda)" in result.stdout
    with zipfile.ZipFile(out) as zf:
        assert b"\r\n" in zf.read(f"sources/{unit_guid('t:1')}.txt")
    back = run_cli("import-codings", out, "--json")
    assert back.exit_code == 0, back.stderr
    assert '"unit": "codepoints"' in back.stdout
    assert "offsets: code points (declared by the ptmcoder project" in back.stderr
