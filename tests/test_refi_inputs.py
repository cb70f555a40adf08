"""REFI-QDA inputs that broke (#25 items 8 and 12): the codebook of a ``.qdpx`` project,
openqda's non-GUID code ids (``c001``, constructed with the structure of its
``example_codebook.qdc``), accented code names, an encrypted archive entry, codes
nested 3,000-5,000 deep, and a directory where a file belongs: each a located error or
a counted warning, never a traceback."""

from __future__ import annotations

import struct
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder import codebook as cb
from ptmcoder.annotate.records import Annotation, CodeAssignment
from ptmcoder.errors import NotFoundError, PtmcoderError, ValidationError
from ptmcoder.export import qdc
from ptmcoder.export.codings import import_codings
from ptmcoder.export.qdpx import export_project
from ptmcoder.export.refi import MAX_DEPTH
from ptmcoder.manifest import CodebookRef, CorpusRef
from ptmcoder.runs import create_run

SPEC_PROJECT = Path(__file__).resolve().parent / "fixtures" / "refi_qda" / "spec_project"


@pytest.fixture
def small_run(tmp_path):
    corpus = tmp_path / "units.csv"
    pd.DataFrame({"id": ["u:1"], "title": ["A crash"], "body": ["It crashes."]}).to_csv(
        corpus, index=False
    )
    book = cb.load_codebook("issue-type")
    run = create_run({"codebook": "issue-type", "corpus": str(corpus)}, run_id="r-in")
    manifest = run.manifest()
    manifest.codebook = CodebookRef(id=book.id, version=book.version, hash=cb.codebook_hash(book))
    manifest.corpus = CorpusRef(ref=str(corpus))
    run.write_manifest(manifest)
    with run:
        run.append(Annotation(unit_id="u:1", annotator="a", codes=[CodeAssignment(code="bug")]))
    return run


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive


def mark_encrypted(archive: Path, entry: str) -> None:
    """Set the 'encrypted' flag of ``entry`` in its local header and the central
    directory, as a password-protected zip has it."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        local = zf.getinfo(entry).header_offset
    data[local + 6] |= 0x1
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_len].decode() == entry:
            data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 4)
    archive.write_bytes(bytes(data))


# -- the codebook of a project --------------------------------------------------


def test_codebook_import_reads_the_codebook_of_a_qdpx(tmp_path, run_cli, small_run):
    spec = zip_folder(SPEC_PROJECT, tmp_path / "spec.qdpx")
    result = run_cli("codebook", "import", spec, "--json")
    assert result.exit_code == 0, result.stderr
    assert "malformed XML" not in result.stderr
    book = qdc.read_qdc(spec).codebook
    assert [n.name for n, _, _ in book.walk()] == [
        "Breakfast food",
        "cornflakes",
        "bacon and eggs",
        "Coke",
        "diet Coke",
        "waste of time",
    ]
    # ptmcoder's own project: its GUIDs give back the codebook's ids
    ours = tmp_path / "ours.qdpx"
    export_project("r-in", ours)
    back = qdc.read_qdc(ours)
    assert back.recognised == "issue-type"
    original = cb.load_codebook("issue-type")
    assert [n.id for n, _, _ in back.codebook.walk()] == [n.id for n, _, _ in original.walk()]


OPENQDA_STYLE = """<?xml version="1.0" encoding="UTF-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"
          origin="MastodonMoodBoard">
    <Codes>
        <Code guid="c001"
              name="Negatív/Izgatott"
              isCodable="true"
              color="#e57373">
            <Description>
                Negative valence, positive arousal.
            </Description>
            <Code guid="c21" name="Düh" isCodable="true" color="#c95858">
            </Code>
            <Code guid="c20" name="sárga" isCodable="true" color="#c95858">
            </Code>
        </Code>
        <Code guid="{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}" name="黄色" isCodable="true">
            <Description>A code with a real GUID and a name without a Latin spelling.</Description>
        </Code>
    </Codes>
</CodeBook>
"""


def test_non_guid_ids_are_warned_about_and_counted(tmp_path, run_cli):
    path = tmp_path / "openqda.qdc"
    path.write_text(OPENQDA_STYLE, encoding="utf-8")
    result = qdc.read_qdc(path)
    assert result.non_guid_ids == 3
    flagged = [p for p in result.problems if "is not a GUID" in p.message]
    assert [p.location.split(" > ")[-1] for p in flagged] == [
        "Code[1] (Negatív/Izgatott)",
        "Code[1] (Düh)",
        "Code[2] (sárga)",
    ]
    assert any("3 of 4 code id(s) are not GUIDs" in p.message for p in result.problems)
    ids = {n.name: n.id for n, _, _ in result.codebook.walk()}
    assert ids["sárga"] == "sarga"  # not s-rga
    assert ids["Düh"] == "duh"
    assert ids["Negatív/Izgatott"] == "negativ-izgatott"
    assert ids["黄色"] == "code-0f1e2d3c"
    cli = run_cli("codebook", "import", path)
    assert cli.exit_code == 0, cli.stderr
    assert "3 id(s) not GUIDs" in cli.stderr


def test_slug_transliterates_accented_letters():
    assert qdc.slug("sárga") == "sarga"
    assert qdc.slug("Kötelező tárgy") == "kotelezo-targy"
    assert qdc.slug("Straße, Øre, łąka") == "strasse-ore-laka"
    assert qdc.slug("黄色") == ""


# -- bad input ------------------------------------------------------------------


def test_a_truncated_qdpx_is_called_a_damaged_archive_not_malformed_xml(tmp_path, small_run):
    whole = tmp_path / "whole.qdpx"
    export_project("r-in", whole)
    cut = tmp_path / "cut.qdpx"
    cut.write_bytes(whole.read_bytes()[:150])
    for read in (import_codings, qdc.read_qdc):
        with pytest.raises(ValidationError) as info:
            read(cut)
        assert info.value.problems[0].message == "not a zip archive", read


def deep_qdc(depth: int) -> str:
    opening = "".join(
        f'<Code guid="{uuid.UUID(int=i)}" name="level {i}" isCodable="true">\n'
        for i in range(depth)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">\n'
        "<Codes>\n" + opening + "</Code>" * depth + "</Codes></CodeBook>\n"
    )


@pytest.mark.parametrize("depth", [3000, 5000])
def test_a_qdc_nested_thousands_deep_is_a_located_error(tmp_path, run_cli, depth):
    path = tmp_path / "deep.qdc"
    path.write_text(deep_qdc(depth), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        qdc.read_qdc(path)
    problem = info.value.problems[0]
    # the root and <Codes> are two levels: the code that passes the limit is on its line
    assert problem.location == f"line {MAX_DEPTH + 2}, <Code>"
    assert f"nested deeper than {MAX_DEPTH} levels" in problem.message
    result = run_cli("codebook", "import", path)
    assert result.exit_code == 2
    assert f"nested deeper than {MAX_DEPTH} levels" in result.stderr
    assert "Traceback" not in result.stderr


def test_deep_but_readable_codebooks_import_or_fail_located(tmp_path):
    path = tmp_path / "ok.qdc"
    path.write_text(deep_qdc(20), encoding="utf-8")
    assert len(qdc.read_qdc(path).codebook.levels) == 20
    # within the XML limit, past the codebook's own: its validation error, located
    path.write_text(deep_qdc(MAX_DEPTH - 2), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        qdc.read_qdc(path)
    assert info.value.problems[0].location.startswith("nodes[0] (level-0) > children[0]")


def test_a_deep_project_is_a_located_error(tmp_path, run_cli):
    archive = tmp_path / "deep.qdpx"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            "project.qde",
            '<?xml version="1.0"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="d">\n'
            + deep_qdc(4000).split("\n", 2)[2].replace("</CodeBook>", "")
            + "</Project>",
        )
    for command in (["import-codings", archive], ["codebook", "import", archive]):
        result = run_cli(*command)
        assert result.exit_code == 2, (command, result.stderr)
        assert f"nested deeper than {MAX_DEPTH} levels" in result.stderr
        assert "deep.qdpx:project.qde" in result.stderr
        assert "Traceback" not in result.stderr


def test_an_encrypted_entry_is_a_located_error(tmp_path, run_cli, small_run):
    archive = tmp_path / "locked.qdpx"
    export_project("r-in", archive)
    mark_encrypted(archive, "project.qde")
    for read in (import_codings, qdc.read_qdc):
        with pytest.raises(ValidationError) as info:
            read(archive)
        problem = info.value.problems[0]
        assert problem.file == f"{archive}:project.qde"
        assert "encrypted" in problem.message
    for command in (["import-codings", archive], ["codebook", "import", archive]):
        result = run_cli(*command)
        assert result.exit_code == 2
        assert "encrypted (password-protected)" in result.stderr
        assert "Traceback" not in result.stderr


def test_an_encrypted_source_is_a_problem_of_that_source(tmp_path, small_run):
    archive = tmp_path / "one-locked.qdpx"
    export_project("r-in", archive)
    with zipfile.ZipFile(archive) as zf:
        source = next(n for n in zf.namelist() if n.startswith("sources/"))
    mark_encrypted(archive, source)
    result = import_codings(archive, corpus=None)
    assert len(result.table) == 1  # the coding is still read; only its quote is not
    assert result.selections[0]["quote"] is None
    assert any("encrypted" in p.message and source in p.message for p in result.problems)


def test_a_directory_where_a_file_belongs(tmp_path, run_cli, small_run):
    folder = tmp_path / "a-folder.qdpx"
    folder.mkdir()
    for read in (import_codings, qdc.read_qdc):
        with pytest.raises(NotFoundError, match="is a directory, not a file"):
            read(folder)
    with pytest.raises(PtmcoderError, match="is a directory"):
        export_project("r-in", folder)
    for command in (
        ["import-codings", folder],
        ["codebook", "import", folder],
        ["export", "r-in", "-o", folder],
    ):
        result = run_cli(*command)
        assert result.exit_code == 2, command
        assert "is a directory" in result.stderr
        assert "Traceback" not in result.stderr
