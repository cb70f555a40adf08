"""REFI-QDA codebooks: export valid against Codebook.xsd, deterministic GUIDs, import back."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ptmcoder import codebook as cb
from ptmcoder.errors import ValidationError
from ptmcoder.export import qdc
from ptmcoder.export.refi import GUID_NAMESPACE, code_guid

xmlschema = pytest.importorskip("xmlschema")

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parents[2] / "shared/schemas/refi-qda"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "refi_qda"
BUNDLED = sorted((REPO / "codebooks").glob("*.yaml"))
NS = "{urn:QDA-XML:codebook:1.0}"

pytestmark = pytest.mark.skipif(
    not (SCHEMAS / "Codebook.xsd").is_file(), reason=f"REFI-QDA schemas not found in {SCHEMAS}"
)


@pytest.fixture(scope="module")
def codebook_schema():
    return xmlschema.XMLSchema(str(SCHEMAS / "Codebook.xsd"))


def comparable(book: cb.Codebook) -> dict:
    """What a .qdc carries: everything but frequencies, example sources and the
    codebook's own description and notes."""
    data = book.model_dump(mode="json")

    def strip(node: dict) -> None:
        node.pop("frequency")
        for example in node["examples"]:
            example.pop("source")
        for child in node["children"]:
            strip(child)

    for node in data["nodes"] + data["special"]:
        strip(node)
    for key in ("description", "notes"):
        data.pop(key)
    return data


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_codebook_exports_valid_and_comes_back(path, tmp_path, codebook_schema):
    book = cb.load_codebook_file(path)
    data = qdc.qdc_bytes(book)
    codebook_schema.validate(data.decode("utf-8"))
    assert qdc.qdc_bytes(book) == data  # a re-export is byte-identical

    root = ET.fromstring(data)
    codes = root.iter(f"{NS}Code")
    assert sum(1 for _ in codes) == len(book.index())
    for node, _, ancestors in book.walk():
        el = root.find(f".//{NS}Code[@guid='{code_guid(book.id, node.id)}']")
        assert el is not None and el.get("name") == node.name
        parent = root.find(
            f".//{NS}Code[@guid='{code_guid(book.id, ancestors[-1].id)}']/{NS}Code"
            f"[@guid='{code_guid(book.id, node.id)}']"
            if ancestors
            else f"./{NS}Codes/{NS}Code[@guid='{code_guid(book.id, node.id)}']"
        )
        assert parent is not None, f"{node.id} is not under its parent"
        description = el.find(f"{NS}Description").text
        assert node.definition.strip() in description
        for criterion in node.include + node.exclude:
            assert f"- {criterion.strip()}" in description

    out = tmp_path / f"{book.id}.qdc"
    out.write_bytes(data)
    back = qdc.read_qdc(out)
    assert back.recognised == book.id
    assert comparable(back.codebook) == comparable(book)


def test_guids_are_uuid5_of_the_code_ids_under_a_fixed_namespace():
    book = cb.load_codebook("tan2024")
    node = book.nodes[0]
    expected = uuid.uuid5(GUID_NAMESPACE, f"code:tan2024/{node.id}")
    assert code_guid(book.id, node.id) == str(expected)
    assert uuid.UUID(code_guid(book.id, node.id)).version == 5


def test_a_foreign_codebook_from_the_specification_imports(tmp_path, codebook_schema):
    path = FIXTURES / "spec_codebook.qdc"
    codebook_schema.validate(str(path))
    result = qdc.read_qdc(path)
    book = result.codebook
    assert result.recognised is None
    names = {node.name: node for node, _, _ in book.walk()}
    assert list(names) == [
        "Topics",
        "Economy",
        "Health care",
        "Values",
        "Conservatives",
        "Liberals",
    ]
    assert names["Economy"].id == "economy"
    assert names["Health care"].id == "health-care"
    assert names["Economy"].definition == "Anything about jobs or taxes or business"
    assert names["Topics"].definition == "Topics"  # no description: the name, and listed
    messages = [f"{p.location}: {p.message}" for p in result.problems]
    assert any("Topics" in m and "non-codable" in m for m in messages)
    assert any("Topics" in m and "no description" in m for m in messages)
    assert any("4 code colour(s) not kept" in m for m in messages)
    assert book.levels == ["level1"]
    # the imported codebook is a valid ptmcoder codebook file
    out = tmp_path / "spec-codebook.yaml"
    out.write_text(result.yaml(), encoding="utf-8")
    assert cb.load_codebook_file(out).id == "spec-codebook"


def test_malformed_qdc_is_reported_at_its_line(tmp_path):
    bad = tmp_path / "bad.qdc"
    text = qdc.qdc_bytes(cb.load_codebook("issue-type")).decode()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "</Description>" in line)
    lines[at] = lines[at].replace("</Description>", "</Descr>")
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        qdc.read_qdc(bad)
    assert info.value.problems[0].location.startswith(f"line {at + 1},")
    assert "malformed XML" in info.value.problems[0].message


def test_cli_export_qdc_then_import(run_cli, tmp_path, codebook_schema):
    out = tmp_path / "zhao.qdc"
    result = run_cli("codebook", "export", "zhao2021", "--format", "qdc", "-o", out)
    assert result.exit_code == 0, result.stderr
    codebook_schema.validate(str(out))
    stdout = run_cli("codebook", "export", "zhao2021", "--format", "qdc")
    assert stdout.stdout.encode() == out.read_bytes()

    yaml_out = tmp_path / "zhao-copy.yaml"
    result = run_cli("codebook", "import", out, "-o", yaml_out)
    assert result.exit_code == 0, result.stderr
    assert "GUIDs of codebook zhao2021" in result.stderr
    copy = cb.load_codebook_file(yaml_out)
    assert copy.id == "zhao-copy"
    original = cb.load_codebook("zhao2021")
    assert [n.id for n, _, _ in copy.walk()] == [n.id for n, _, _ in original.walk()]
    assert copy.levels == original.levels
