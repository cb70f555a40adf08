"""Codebook loading, validation, hashing, the bundled codebooks and the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from ptmcoder import codebook as cb
from ptmcoder.errors import NotFoundError, ValidationError

MINIMAL = textwrap.dedent(
    """\
    id: mini
    title: Mini codebook
    citation: Test citation
    version: "1"
    levels: [category, code]
    status: complete
    nodes:
      - id: A
        name: Alpha
        definition: Things about alpha.
        provenance: paper-text
        children:
          - id: A.1
            name: Alpha one
            definition: The first alpha thing.
            include: [mentions alpha one]
            exclude: [mentions alpha two]
            examples:
              - description: an example
                url: https://stackoverflow.com/questions/1
            frequency: {percent: 12.5}
            provenance: reconstructed
          - id: A.2
            name: Alpha two
            definition: The second alpha thing.
            provenance: paper-text
      - id: B
        name: Beta
        definition: A leaf at the category level.
        provenance: paper-text
    special:
      - id: fp
        name: False positive
        definition: Not about the topic.
        provenance: paper-text
        role: false-positive
    """
)


def write(tmp_path: Path, text: str, name: str = "mini.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        cb.load_codebook_file(write(tmp_path, text))
    return [str(p) for p in info.value.problems]


# -- loading ---------------------------------------------------------------------


def test_load_minimal(tmp_path):
    book = cb.load_codebook_file(write(tmp_path, MINIMAL))
    assert [n.id for n in book.leaves()] == ["A.1", "A.2", "B"]
    assert book.counts_per_level() == {"category": 2, "code": 2}
    assert [n.id for n in book.special] == ["fp"]
    assert book.ancestor_at("A.2", "category") == "A"
    assert book.ancestor_at("A.2", "leaf") == "A.2"
    assert book.ancestor_at("B", "code") is None
    assert book.ancestor_at("fp", "category") == "fp"


def test_unknown_key_is_refused_naming_file_and_node(tmp_path):
    text = MINIMAL.replace("name: Alpha two", "name: Alpha two\n        colour: red")
    [msg] = problems_of(tmp_path, text)
    assert "mini.yaml" in msg
    assert "(A.2)" in msg and "unknown key 'colour'" in msg


def test_missing_definition_is_refused_naming_the_node(tmp_path):
    text = MINIMAL.replace("        definition: The second alpha thing.\n", "")
    [msg] = problems_of(tmp_path, text)
    assert "mini.yaml" in msg and "children[1] (A.2)" in msg
    assert "missing required field 'definition'" in msg


def test_blank_definition_is_refused(tmp_path):
    text = MINIMAL.replace("definition: The second alpha thing.", "definition: '   '")
    [msg] = problems_of(tmp_path, text)
    assert "(A.2)" in msg and "blank" in msg


def test_duplicate_id_is_refused_naming_both_places(tmp_path):
    text = MINIMAL.replace("id: A.2", "id: A.1")
    [msg] = problems_of(tmp_path, text)
    assert "duplicate id 'A.1'" in msg
    assert "children[1] (A.1)" in msg and "first used at nodes[0] (A) > children[0] (A.1)" in msg


def test_all_problems_are_reported_at_once(tmp_path):
    text = MINIMAL.replace("name: Alpha two", "name: Alpha two\n        colour: red").replace(
        "    definition: A leaf at the category level.\n", ""
    )
    msgs = problems_of(tmp_path, text)
    assert len(msgs) == 2
    assert any("(B)" in m and "'definition'" in m for m in msgs)


def test_tree_deeper_than_levels_is_refused(tmp_path):
    deeper = MINIMAL.replace(
        "        provenance: reconstructed\n",
        "        provenance: reconstructed\n"
        "        children:\n"
        "          - {id: A.1.x, name: X, definition: too deep, provenance: paper-text}\n",
    )
    [msg] = problems_of(tmp_path, deeper)
    assert "(A.1.x)" in msg and "only 2 levels" in msg


def test_special_code_needs_role_and_no_children(tmp_path):
    text = MINIMAL.replace("    role: false-positive\n", "")
    [msg] = problems_of(tmp_path, text)
    assert "special[0] (fp)" in msg and "role" in msg


def test_role_on_a_tree_node_is_refused(tmp_path):
    text = MINIMAL.replace("name: Beta", "name: Beta\n    role: none")
    [msg] = problems_of(tmp_path, text)
    assert "(B)" in msg and "only allowed on special codes" in msg


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("status", "draft", "status"),
        ("levels", "[]", "levels"),
        ("id", "'bad id'", "id"),
    ],
)
def test_top_level_field_errors(tmp_path, field, value, fragment):
    lines = [
        f"{field}: {value}" if line.startswith(f"{field}:") else line
        for line in MINIMAL.splitlines()
    ]
    msgs = problems_of(tmp_path, "\n".join(lines))
    assert any(m.startswith(str(tmp_path / "mini.yaml") + ": " + fragment) for m in msgs), msgs


def test_bad_provenance_is_refused(tmp_path):
    text = MINIMAL.replace("provenance: reconstructed", "provenance: guessed")
    [msg] = problems_of(tmp_path, text)
    assert "(A.1) > provenance" in msg


def test_invalid_yaml_names_line(tmp_path):
    text = MINIMAL.replace("title: Mini codebook", "title: [unclosed")
    [msg] = problems_of(tmp_path, text)
    assert "invalid YAML" in msg and "line " in msg


def test_not_a_mapping(tmp_path):
    [msg] = problems_of(tmp_path, "- just\n- a list\n")
    assert "must be a mapping" in msg


def test_not_utf8(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_bytes(MINIMAL.encode() + b"\xff\xfe")
    with pytest.raises(ValidationError, match="not UTF-8"):
        cb.load_codebook_file(path)


# -- identity --------------------------------------------------------------------


def test_hash_is_stable_under_key_reordering(tmp_path):
    data = yaml.safe_load(MINIMAL)

    def reverse_keys(obj):
        if isinstance(obj, dict):
            return {k: reverse_keys(obj[k]) for k in reversed(list(obj))}
        if isinstance(obj, list):
            return [reverse_keys(v) for v in obj]
        return obj

    reordered = yaml.safe_dump(reverse_keys(data), sort_keys=False)
    assert reordered.splitlines()[0] != MINIMAL.splitlines()[0]
    h1 = cb.codebook_hash(cb.load_codebook_file(write(tmp_path, MINIMAL, "a.yaml")))
    h2 = cb.codebook_hash(cb.load_codebook_file(write(tmp_path, reordered, "b.yaml")))
    assert h1 == h2 and h1.startswith("sha256:")


def test_cached_code_index_leaves_identity_alone(tmp_path):
    path = write(tmp_path, MINIMAL)
    book, fresh = cb.load_codebook_file(path), cb.load_codebook_file(path)
    assert book.ancestor_at("A.1", "category") == "A"  # builds the cached index
    assert cb.codebook_hash(book) == cb.codebook_hash(fresh)
    assert book == fresh and book.model_dump() == fresh.model_dump()
    assert book.index() is not book.index()  # callers get their own copy


def test_hash_rule_is_unchanged_for_every_bundled_codebook():
    # the hash goes through ptmcoder.files.canonical_json now; every run manifest and
    # cache key written before holds a hash made by this rule, so it must not move
    import hashlib

    books, errors = cb.list_codebooks()
    assert books and not errors
    for book in books:
        text = json.dumps(
            book.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert cb.canonical_json(book) == text
        assert cb.codebook_hash(book) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_hash_changes_with_content(tmp_path):
    h1 = cb.codebook_hash(cb.load_codebook_file(write(tmp_path, MINIMAL, "a.yaml")))
    changed = MINIMAL.replace("The first alpha thing.", "The first alpha thing!")
    h2 = cb.codebook_hash(cb.load_codebook_file(write(tmp_path, changed, "b.yaml")))
    assert h1 != h2


# -- lookup ----------------------------------------------------------------------


def test_user_codebook_dropped_into_workspace_is_found(isolated_home):
    (isolated_home / "codebooks").mkdir()
    write(isolated_home / "codebooks", MINIMAL)
    assert cb.load_codebook("mini").title == "Mini codebook"
    assert "mini" in {b.id for b in cb.list_codebooks()[0]}


def test_unknown_id_lists_known(isolated_home):
    with pytest.raises(NotFoundError) as info:
        cb.load_codebook("nope")
    assert "tan2024" in str(info.value)


def test_path_is_accepted_anywhere_an_id_is(tmp_path):
    path = write(tmp_path, MINIMAL)
    assert cb.load_codebook(str(path)).id == "mini"


# -- the bundled codebooks -------------------------------------------------------


def _top_names(book: cb.Codebook) -> list[str]:
    return [n.name for n in book.nodes]


def test_tan2024_counts():
    book = cb.load_codebook("tan2024")
    assert _top_names(book) == ["Model Lifecycle Management", "Coding-related Issues", "Others"]
    assert [n.frequency.percent for n in book.nodes] == [56.79, 32.35, 10.86]
    assert len(book.leaves()) == 42
    assert [s.role for s in book.special] == [cb.Role.FALSE_POSITIVE]
    assert "False positive" not in {leaf.name for leaf in book.leaves()}


def test_banyongrakkul2025_counts():
    book = cb.load_codebook("banyongrakkul2025")
    assert [n.id for n in book.nodes] == ["MU", "PQ", "SE", "DI", "HR", "RC", "FN"]
    assert [n.frequency.count for n in book.nodes] == [178, 172, 118, 115, 115, 111, 106]
    subthemes = book.nodes_at("sub-theme")
    assert len(subthemes) == 32
    assert sum(s.frequency.count for s in subthemes) == 915
    for theme in book.nodes:
        assert sum(c.frequency.count for c in theme.children) == theme.frequency.count, theme.id


def test_humbatova2020_has_five_top_level_categories():
    book = cb.load_codebook("humbatova2020")
    assert len(book.nodes) == 5
    provenances = {node.provenance for node, _, _ in book.walk()}
    assert cb.Provenance.REPLICATION_PACKAGE in provenances


def test_zhao2021_is_partial():
    book = cb.load_codebook("zhao2021")
    assert book.status is cb.Status.PARTIAL
    assert book.notes


@pytest.mark.parametrize("ref", ["ptm-relevance", "issue-type"])
def test_screening_codebooks(ref):
    book = cb.load_codebook(ref)
    assert len(book.levels) == 1
    assert all(node.include and node.exclude for node in book.nodes)


def test_every_bundled_codebook_is_valid():
    books, errors = cb.list_codebooks()
    assert not errors, [str(e) for e in errors]
    assert {
        "tan2024",
        "banyongrakkul2025",
        "humbatova2020",
        "zhao2021",
        "ptm-relevance",
        "issue-type",
    } <= {b.id for b in books}


# -- CLI -------------------------------------------------------------------------


def test_cli_show_json_tan2024(run_cli):
    result = run_cli("codebook", "show", "tan2024", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == "tan2024"
    assert len(data["nodes"]) == 3

    def leaves(node):
        return [node] if not node["children"] else [x for c in node["children"] for x in leaves(c)]

    all_leaves = [leaf for n in data["nodes"] for leaf in leaves(n)]
    assert len(all_leaves) == 42
    assert all({"id", "name", "level", "children"} <= set(n) for n in all_leaves)
    assert [s["role"] for s in data["special"]] == ["false-positive"]
    assert all(leaf["id"] != data["special"][0]["id"] for leaf in all_leaves)


def test_cli_list_json(run_cli):
    result = run_cli("codebook", "list", "--json")
    assert result.exit_code == 0
    rows = {r["id"]: r for r in json.loads(result.stdout)["codebooks"]}
    assert rows["tan2024"]["leaves"] == 42
    assert rows["zhao2021"]["status"] == "partial"


def test_cli_list_table_flags_partial(run_cli):
    result = run_cli("codebook", "list")
    assert result.exit_code == 0
    assert "PARTIAL" in result.stdout and "tan2024" in result.stdout


def test_cli_show_tree_prints_counts(run_cli):
    result = run_cli("codebook", "show", "banyongrakkul2025")
    assert result.exit_code == 0
    assert "7 theme, 32 sub-theme" in result.stdout


def test_cli_validate_reports_problems_and_exits_nonzero(run_cli, tmp_path):
    bad = write(tmp_path, MINIMAL.replace("id: A.2", "id: A.1"))
    good = write(tmp_path / "", MINIMAL, "mini2.yaml")
    result = run_cli("codebook", "validate", str(bad))
    assert result.exit_code == 2
    assert "duplicate id 'A.1'" in result.stdout and str(bad) in result.stdout
    # a valid file whose name differs from its id is reported too
    result = run_cli("codebook", "validate", str(good))
    assert result.exit_code == 2 and "does not match the file name" in result.stdout


def test_cli_validate_reports_a_missing_file_and_checks_the_rest(run_cli, tmp_path):
    missing, good = tmp_path / "nope.yaml", write(tmp_path, MINIMAL)
    result = run_cli("codebook", "validate", str(missing), str(good))
    assert result.exit_code == 2
    assert f"{missing}: file not found" in result.stdout
    assert "ok (mini, 3 leaves" in result.stdout
    assert "1 of 2 file(s) invalid" in result.stderr


def test_cli_validate_ok(run_cli, tmp_path):
    result = run_cli("codebook", "validate", str(write(tmp_path, MINIMAL)))
    assert result.exit_code == 0 and "ok (mini, 3 leaves" in result.stdout


def test_cli_export_markdown_is_a_coding_manual(run_cli, tmp_path):
    result = run_cli("codebook", "export", str(write(tmp_path, MINIMAL)), "--format", "markdown")
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("# Coding manual: Mini codebook")
    assert "**Definition.** The first alpha thing." in md
    assert "**Include when:**\n- mentions alpha one" in md
    assert "**Exclude when:**\n- mentions alpha two" in md
    assert "<https://stackoverflow.com/questions/1>" in md
    assert "Special codes" in md and "False positive" in md


def test_cli_export_partial_is_flagged(run_cli):
    result = run_cli("codebook", "export", "zhao2021")
    assert result.exit_code == 0 and "Partial codebook" in result.stdout


def test_cli_export_yaml_round_trips(run_cli, tmp_path):
    src = write(tmp_path, MINIMAL)
    out = tmp_path / "out" / "mini.yaml"
    out.parent.mkdir()
    result = run_cli("codebook", "export", str(src), "--format", "yaml", "-o", str(out))
    assert result.exit_code == 0
    assert cb.codebook_hash(cb.load_codebook_file(out)) == cb.codebook_hash(
        cb.load_codebook_file(src)
    )


def test_cli_unknown_codebook_is_a_clean_error(run_cli):
    result = run_cli("codebook", "show", "does-not-exist")
    assert result.exit_code == 1
    assert "no codebook with id 'does-not-exist'" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_tree_nodes_at_a_level_or_the_leaves(tmp_path):
    book = cb.load_codebook_file(write(tmp_path, MINIMAL))
    leaves = ["A.1", "A.2", "B"]  # B is a leaf at the category level
    for level in (None, "leaf", "leaves"):
        assert [n.id for n in book.tree_nodes(level)] == leaves
    assert [n.id for n in book.tree_nodes("category")] == ["A", "B"]
    assert [n.id for n in book.tree_nodes("code")] == ["A.1", "A.2"]
    with pytest.raises(NotFoundError, match="no level 'theme'"):
        book.tree_nodes("theme")
