"""Offsets as each program writes them (#25 items 2 and 7): a constructed project with
the structure of a real NVivo 12 export (``Sources/`` folder, GUID-named plain-text
files with CRLF line endings, Hungarian text with emoji, selections on word
boundaries counted in UTF-16 code units) imports with every quote equal to the coded
text, and says which unit it used; the other readings (code points, a CRLF as one
position as ATLAS.ti counts it) are detected as well; ``--offsets`` forces a unit;
an import that gives no row exits non-zero with the reason."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder.export.codings import import_codings

USER = "5C94BC9E-DB8C-4F1D-9CD6-E900C7440860"
#: (text as written, with CRLF; the coded passages)
SOURCES = [
    (
        "Szia! 😀 Ez egy teszt.\r\nSenkit nem lehet kötelezni 🙂 semmire.\r\n"
        "Köszönöm 👍 a választ.",
        ["Ez egy teszt", "Senkit nem lehet kötelezni", "semmire", "a választ", "teszt.\r\nSenkit"],
    ),
    (
        "Első sor 🎉🎉 itt.\r\n\r\nA második bekezdés 😀 szavai: sárga, piros.\r\nVége.",
        ["itt", "A második bekezdés", "sárga", "piros", "Vége"],
    ),
    ("Plain ASCII text, no emoji.\r\nSecond line.", ["Second line", "Plain ASCII"]),
]
CODES = ["Kötelezés", "Érzelem", "Egyéb"]


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper()


def _units(text: str, upto: int, unit: str) -> int:
    return upto if unit == "codepoints" else len(text[:upto].encode("utf-16-le")) // 2


def make_project(path: Path, *, unit: str, crlf: int, origin: str) -> list[tuple[str, str]]:
    """A project whose offsets count ``unit`` with a CRLF as ``crlf`` positions;
    returns (source name, coded text as it is in the text the offsets count)."""
    selections = []
    xml_sources = []
    for i, (written, passages) in enumerate(SOURCES):
        counted = written if crlf == 2 else written.replace("\r\n", "\n")
        sguid = _guid("source", i)
        parts = []
        for j, passage in enumerate(passages):
            needle = passage if crlf == 2 else passage.replace("\r\n", "\n")
            at = counted.index(needle)
            start, end = _units(counted, at, unit), _units(counted, at + len(needle), unit)
            parts.append(
                f'<PlainTextSelection guid="{_guid("sel", i, j)}" name="{j}" '
                f'startPosition="{start}" endPosition="{end}" creatingUser="{USER}" '
                'creationDateTime="2024-03-01T10:00:00Z" modifiedDateTime="2024-03-01T10:00:00Z">'
                f'<Coding guid="{_guid("coding", i, j)}" creatingUser="{USER}" '
                'creationDateTime="2024-03-01T10:00:00Z">'
                f'<CodeRef targetGUID="{_guid("code", j % len(CODES))}"/></Coding>'
                "</PlainTextSelection>"
            )
            selections.append((f"Interjú {i + 1}", needle))
        xml_sources.append(
            f'<TextSource guid="{sguid}" name="Interjú {i + 1}" '
            f'plainTextPath="internal://{sguid}.txt" creatingUser="{USER}" '
            'creationDateTime="2024-03-01T09:00:00Z">' + "".join(parts) + "</TextSource>"
        )
    codes = "".join(
        f'<Code guid="{_guid("code", k)}" name="{name}" isCodable="true"/>'
        for k, name in enumerate(CODES)
    )
    qde = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        f'<Project xmlns="urn:QDA-XML:project:1.0" name="Kutatás" origin="{origin}" '
        f'creatingUserGUID="{USER}" creationDateTime="2024-03-01T09:00:00Z">'
        f'<Users><User guid="{USER}" name="Kovács Anna" id="KA"/></Users>'
        f"<CodeBook><Codes>{codes}</Codes></CodeBook>"
        f"<Sources>{''.join(xml_sources)}</Sources></Project>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde.encode("utf-8"))
        for i, (written, _) in enumerate(SOURCES):
            zf.writestr(f"Sources/{_guid('source', i)}.txt", written.encode("utf-8"))
    return selections


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "interviews.csv"
    pd.DataFrame(
        {
            "id": [f"iv:{i + 1}" for i in range(len(SOURCES))],
            "title": [f"Interjú {i + 1}" for i in range(len(SOURCES))],
            "body": [s for s, _ in SOURCES],
        }
    ).to_csv(path, index=False)
    return path


def test_nvivo_style_project_quotes_equal_the_coded_text(tmp_path, corpus, run_cli):
    archive = tmp_path / "nvivo.qdpx"
    coded = make_project(archive, unit="utf16", crlf=2, origin="NVivo (Windows) 12.6.1.970")
    result = run_cli("import-codings", archive, "--corpus", corpus, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    quotes = [s["quote"] for s in data["selections"]]
    assert quotes == [text for _, text in coded]  # every one of the 12 selections
    assert len(quotes) == 12
    assert data["offsets"]["unit"] == "utf16"
    assert data["offsets"]["how"] == "detected from the selections and texts"
    assert data["offsets"]["on_word_boundaries"] == {"codepoints": 3, "utf16": 12}
    assert "offsets: UTF-16 code units (detected from the selections and texts" in result.stderr
    assert "12 of 12 as UTF-16 code units" in result.stderr
    assert "3 of 12 as code points" in result.stderr
    assert [p for p in data["problems"] if "derived from its name" not in p] == []
    assert {r["code"] for r in data["rows"]} == {"kotelezes", "erzelem", "egyeb"}


@pytest.mark.parametrize("unit", ["utf16", "codepoints"])
@pytest.mark.parametrize("crlf", [2, 1])
def test_each_reading_is_detected_without_a_hint_from_the_origin(tmp_path, corpus, unit, crlf):
    archive = tmp_path / "p.qdpx"
    coded = make_project(archive, unit=unit, crlf=crlf, origin="Unknown QDA 1.0")
    result = import_codings(archive, corpus=str(corpus))
    assert result.offsets["unit"] == unit
    assert result.offsets["crlf"] == crlf
    assert [s["quote"] for s in result.selections] == [text for _, text in coded]
    assert [p for p in result.problems if "derived from its name" not in p.message] == []


def test_forced_offsets_are_used_and_said(tmp_path, corpus, run_cli):
    archive = tmp_path / "nvivo.qdpx"
    coded = make_project(archive, unit="utf16", crlf=2, origin="NVivo 12")
    forced = import_codings(archive, corpus=str(corpus), offsets="codepoints")
    assert forced.offsets["unit"] == "codepoints"
    assert forced.offsets["how"] == "forced with --offsets"
    quotes = [s["quote"] for s in forced.selections]
    shifted = sum(q != text for q, (_, text) in zip(quotes, coded, strict=True))
    assert shifted == 10  # every selection after an emoji
    result = run_cli("import-codings", archive, "--corpus", corpus, "--offsets", "utf16")
    assert result.exit_code == 0, result.stderr
    assert "offsets: UTF-16 code units (forced with --offsets" in result.stderr


def test_a_foreign_project_without_corpus_that_gives_no_row_exits_non_zero(
    tmp_path, corpus, run_cli
):
    archive = tmp_path / "nvivo.qdpx"
    make_project(archive, unit="utf16", crlf=2, origin="NVivo 12")
    out = tmp_path / "rows.csv"
    result = run_cli("import-codings", archive, "-o", out)
    assert result.exit_code == 1
    assert "0 rows read: none of its 3 text sources is a unit ptmcoder exported" in result.stderr
    assert "pass --corpus NAME" in result.stderr and "--allow-empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    allowed = run_cli("import-codings", archive, "--allow-empty", "-o", out)
    assert allowed.exit_code == 0, allowed.stderr
    assert pd.read_csv(out).empty
    with_corpus = run_cli("import-codings", archive, "--corpus", corpus, "-o", out)
    assert with_corpus.exit_code == 0, with_corpus.stderr
    assert len(pd.read_csv(out)) == 8  # 12 codings, one row per unit, rater and code


@pytest.mark.parametrize(
    ("origin", "unit"), [("NVivo 14", "utf16"), ("QualCoder 3.6", "codepoints"), ("", "codepoints")]
)
def test_a_tie_goes_to_the_unit_of_the_origin(tmp_path, origin, unit):
    """One-letter words: every position is a word boundary, so both readings score alike."""
    text = "😀 x y z"
    sguid, cguid = _guid("tie-source"), _guid("tie-code")
    qde = (
        f'<Project xmlns="urn:QDA-XML:project:1.0" name="t" origin="{origin}">'
        f'<CodeBook><Codes><Code guid="{cguid}" name="c" isCodable="true"/></Codes></CodeBook>'
        f'<Sources><TextSource guid="{sguid}" name="s" plainTextPath="internal://{sguid}.txt">'
        f'<PlainTextSelection guid="{_guid("tie-sel")}" startPosition="5" endPosition="6">'
        f'<Coding guid="{_guid("tie-coding")}"><CodeRef targetGUID="{cguid}"/></Coding>'
        "</PlainTextSelection></TextSource></Sources></Project>"
    )
    archive = tmp_path / "tie.qdpx"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr(f"sources/{sguid}.txt", text)
    corpus = tmp_path / "tie.csv"
    pd.DataFrame({"id": ["t"], "title": [text]}).to_csv(corpus, index=False)
    result = import_codings(archive, corpus=str(corpus))
    assert result.offsets["on_word_boundaries"] == {"codepoints": 1, "utf16": 1}
    assert result.offsets["unit"] == unit
    assert result.offsets["how"].startswith("detected: a tie")
    assert result.selections[0]["quote"] == ("y" if unit == "utf16" else " ")
