"""REFI-QDA codebooks (``.qdc``): a ptmcoder codebook out, and a QDA program's codebook in.

Export (:func:`write_qdc`): every node becomes a ``<Code>`` nested as in the tree,
named by its name, with a GUID derived from the codebook and code ids
(:func:`ptmcoder.export.refi.code_guid`, so a re-export is byte-identical and a
program can merge it), a colour per top-level branch, ``isCodable="true"`` (a
coder may assign a code at any level) and a ``<Description>`` holding the
definition, the include and exclude criteria, examples, aliases, provenance and,
for special codes, their role. Each level of the hierarchy is a ``<Set>`` named
``level: NAME`` so the level names survive a round trip.

Import (:func:`read_qdc`): the codes of any program's ``.qdc`` become a ptmcoder
codebook. Names and descriptions are kept; a description written by ptmcoder is
split back into definition and criteria. Ids are the original ids when the GUIDs
are ptmcoder's own (any codebook found by :func:`ptmcoder.codebook.list_codebooks`),
else derived from the names. Everything that cannot be carried over (colours,
non-codable folders, other sets, codes without a description) is listed as a
problem located by element, and the codebook is still returned. The codebook of a
project (``.qdpx``, or its ``.qde``) is read the same way. Ids that are not GUIDs
(openqda writes ``c001``) are listed and counted; derived ids transliterate accented
letters (``sárga`` becomes ``sarga``, :func:`slug`). Malformed XML, nesting deeper
than :data:`ptmcoder.export.refi.MAX_DEPTH`, an encrypted or damaged archive entry
and a directory given for the file are located errors.
"""

from __future__ import annotations

import io
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from ptmcoder import __version__
from ptmcoder import codebook as cb
from ptmcoder.errors import Problem, ValidationError
from ptmcoder.export.refi import (
    CODEBOOK_NS,
    CODEBOOK_XSD,
    SPECIAL_COLOUR,
    XSI_NS,
    ZIP_ERRORS,
    TextStats,
    XmlWriter,
    branch_colour,
    clean_text,
    code_guid,
    entry_error,
    find_project_entry,
    input_file,
    is_guid,
    normalise_guid,
    open_archive,
    open_entry,
    parse_tree,
    set_guid,
)

LEVEL_SET_PREFIX = "level: "
_INCLUDE = "Include when:"
_EXCLUDE = "Exclude when:"
_EXAMPLES = "Examples:"
_ALIASES = "Also called:"
_PROVENANCE = "Provenance: "
_SPECIAL = re.compile(r"^Special code \(role: ([a-z-]+)\)")


# -- export --------------------------------------------------------------------


def describe(node: cb.Node) -> str:
    """The ``<Description>`` of a node: definition, then criteria, examples, aliases,
    provenance and the role of a special code, in sections :func:`parse_description`
    reads back."""
    parts = [node.definition.strip()]
    if node.include:
        parts.append("\n".join([_INCLUDE, *(f"- {c.strip()}" for c in node.include)]))
    if node.exclude:
        parts.append("\n".join([_EXCLUDE, *(f"- {c.strip()}" for c in node.exclude)]))
    if node.examples:
        lines = [_EXAMPLES]
        for ex in node.examples:
            lines.append(f"- {ex.description.strip()}" + (f" <{ex.url}>" if ex.url else ""))
        parts.append("\n".join(lines))
    if node.aliases:
        parts.append("\n".join([_ALIASES, *(f"- {a.strip()}" for a in node.aliases)]))
    tail = [_PROVENANCE + node.provenance.value]
    if node.role is not None:
        tail.append(f"Special code (role: {node.role.value}), not part of the taxonomy.")
    parts.append("\n".join(tail))
    return "\n\n".join(parts)


def write_codes(writer: XmlWriter, book: cb.Codebook) -> None:
    """The ``<Codes>`` element of a codebook or project (the same structure in both)."""

    def code(node: cb.Node, colour: str) -> None:
        writer.start(
            "Code",
            guid=code_guid(book.id, node.id),
            name=node.name,
            isCodable=True,
            color=colour,
        )
        writer.text_element("Description", describe(node))
        for child in node.children:
            code(child, colour)
        writer.end("Code")

    writer.start("Codes")
    for i, node in enumerate(book.nodes):
        code(node, branch_colour(i))
    for node in book.special:
        code(node, SPECIAL_COLOUR)
    writer.end("Codes")


def write_qdc(book: cb.Codebook, out: IO[bytes]) -> TextStats:
    """Write ``book`` as a REFI-QDA codebook (``Codebook.xsd``) to a binary stream."""
    stats = TextStats()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="\n", write_through=True)
    writer = XmlWriter(text, stats)
    writer.declaration()
    writer.start(
        "CodeBook",
        xmlns=CODEBOOK_NS,
        **{"xmlns:xsi": XSI_NS, "xsi:schemaLocation": f"{CODEBOOK_NS} {CODEBOOK_XSD}"},
        origin=f"ptmcoder {__version__} (codebook {book.id} version {book.version})",
    )
    write_codes(writer, book)
    depths: dict[int, list[str]] = {}
    for node, depth, _ in book.walk():
        depths.setdefault(depth, []).append(node.id)
    writer.start("Sets")
    for depth, ids in sorted(depths.items()):
        name = LEVEL_SET_PREFIX + book.levels[depth]
        writer.start("Set", guid=set_guid(book.id, name), name=name)
        writer.text_element(
            "Description", f"The codes at level {depth + 1} of {len(book.levels)} of {book.id}."
        )
        for code_id in ids:
            writer.empty("MemberCode", guid=code_guid(book.id, code_id))
        writer.end("Set")
    writer.end("Sets")
    writer.end("CodeBook")
    writer.finish()
    text.detach()
    return stats


def qdc_bytes(book: cb.Codebook) -> bytes:
    buffer = io.BytesIO()
    write_qdc(book, buffer)
    return buffer.getvalue()


# -- import --------------------------------------------------------------------


def local(tag: str) -> str:
    """An element's name without its namespace (files use several REFI versions)."""
    return tag.rsplit("}", 1)[-1]


def parse_description(text: str | None) -> dict[str, Any]:
    """Split a description written by :func:`describe`; any other text is the definition."""
    out: dict[str, Any] = {"definition": "", "include": [], "exclude": [], "examples": []}
    if not text:
        return out
    section: str | None = None
    definition: list[str] = []
    for line in clean_text(text).split("\n"):
        stripped = line.strip()
        if stripped == _INCLUDE:
            section = "include"
        elif stripped == _EXCLUDE:
            section = "exclude"
        elif stripped == _EXAMPLES:
            section = "examples"
        elif stripped == _ALIASES:
            section = "aliases"
            out["aliases"] = []
        elif stripped.startswith(_PROVENANCE) and stripped[len(_PROVENANCE) :] in {
            p.value for p in cb.Provenance
        }:
            out["provenance"] = stripped[len(_PROVENANCE) :]
            section = "tail"
        elif (special := _SPECIAL.match(stripped)) and section is not None:
            out["role"] = special.group(1)
        elif section in ("include", "exclude", "aliases") and stripped.startswith("- "):
            out[section].append(stripped[2:].strip())
        elif section == "examples" and stripped.startswith("- "):
            match = re.match(r"^- (.*?)(?: <(\S+)>)?$", stripped)
            assert match is not None  # "- " then any text of one line (no "\n") always matches
            example = {"description": match.group(1)}
            if match.group(2):
                example["url"] = match.group(2)
            out["examples"].append(example)
        elif section is None:
            definition.append(line)
        elif stripped:  # text after the sections: keep it in the definition
            definition.append(line)
    out["definition"] = "\n".join(definition).strip()
    return out


def known_code_guids() -> dict[str, tuple[str, str]]:
    """GUID -> (codebook id, code id) for every code of every codebook ptmcoder finds."""
    books, _ = cb.list_codebooks()
    out: dict[str, tuple[str, str]] = {}
    for book in books:
        for code_id in book.index():
            out.setdefault(code_guid(book.id, code_id), (book.id, code_id))
    return out


#: Latin letters NFKD does not decompose, spelt as their usual transliteration
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def slug(text: str) -> str:
    """An id from a name: ASCII letters and digits, other runs as ``-`` (may be empty).

    Accented letters are transliterated (NFKD, combining marks dropped), so that
    Hungarian ``sárga`` becomes ``sarga``, not ``s-rga``; scripts without a Latin
    spelling give an empty slug (the caller then derives the id from the GUID).

    >>> slug("Sárga, kötelező!"), slug("Straße"), slug("黄色")
    ('sarga-kotelezo', 'strasse', '')
    """
    folded = unicodedata.normalize("NFKD", text.lower().translate(_LETTERS))
    ascii_text = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


@dataclass
class QdcImport:
    """A codebook read from a ``.qdc``, and what could not be carried over."""

    codebook: cb.Codebook
    problems: list[Problem] = field(default_factory=list)
    #: the ptmcoder codebook whose GUIDs the file carries (None for foreign files)
    recognised: str | None = None
    #: codes whose guid is not a GUID (e.g. openqda's ``c001``), each also a problem
    non_guid_ids: int = 0

    def yaml(self) -> str:
        return codebook_yaml(self.codebook)


def codebook_yaml(book: cb.Codebook) -> str:
    return yaml.safe_dump(
        book.model_dump(mode="json", exclude_defaults=True),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def parse_xml(path: Path) -> ET.Element:
    """The root element of a ``.qdc`` (or ``.qde``); for a ``.qdpx`` archive, the
    ``<CodeBook>`` of its project. Every failure is a located error (see the module)."""
    path = input_file(path)
    with path.open("rb") as fh:
        zipped = fh.read(2) == b"PK" or path.suffix.lower() == ".qdpx"
        if not zipped:
            fh.seek(0)
            return parse_tree(fh, str(path))
    with open_archive(path) as zf:
        entry = find_project_entry(zf, path)
        with open_entry(zf, entry, path) as fh:
            try:
                return parse_tree(fh, f"{path}:{entry}", stop_at="CodeBook")
            except ZIP_ERRORS as exc:
                raise entry_error(path, entry, exc) from None


def read_qdc(path: str | Path, *, codebook_id: str | None = None) -> QdcImport:
    """Read a REFI-QDA codebook into a validated :class:`ptmcoder.codebook.Codebook`.

    ``codebook_id`` defaults to the file name. Raises :class:`ValidationError` when
    the file is malformed or holds no code."""
    path = Path(path)
    root = parse_xml(path)
    file = str(path)
    problems: list[Problem] = []
    if local(root.tag) == "Project":  # a .qde given as it is
        root = next((el for el in root if local(el.tag) == "CodeBook"), root)
    if local(root.tag) != "CodeBook":
        raise ValidationError(
            [Problem(file, f"<{local(root.tag)}>", "the root element is not <CodeBook>")],
            hint="a .qdc file holds a REFI-QDA codebook; for a project use import-codings",
        )
    codes_el = next((el for el in root if local(el.tag) == "Codes"), None)
    if codes_el is None or not [el for el in codes_el if local(el.tag) == "Code"]:
        raise ValidationError([Problem(file, "CodeBook", "no <Codes> with a <Code>")])

    known = known_code_guids()
    matched_books: dict[str, int] = {}
    guid_to_id: dict[str, str] = {}
    used: set[str] = set()
    non_guid: list[str] = []
    colours = 0

    def element_path(parents: tuple[str, ...], index: int, name: str | None) -> str:
        return " > ".join([*parents, f"Code[{index}]" + (f" ({name})" if name else "")])

    def convert(el: ET.Element, parents: tuple[str, ...], index: int, parent_id: str | None):
        nonlocal colours
        name = (el.get("name") or "").strip()
        where = element_path(parents, index, name)
        raw_guid = normalise_guid(el.get("guid"))
        if not raw_guid:
            problems.append(Problem(file, where, "no guid attribute (required by the schema)"))
        elif not is_guid(raw_guid):
            non_guid.append(raw_guid)
            problems.append(
                Problem(
                    file,
                    where,
                    f"guid {el.get('guid')!r} is not a GUID (8-4-4-4-12 hex digits, as the "
                    "schema requires); kept as the code's identifier",
                )
            )
        if not name:
            problems.append(Problem(file, where, "no name; named after its guid"))
            name = f"code {raw_guid[:8] or index}"
        if el.get("color"):
            colours += 1
        if el.get("isCodable") == "false":
            problems.append(
                Problem(file, where, "a non-codable folder (isCodable=false); imported as a code")
            )
        hit = known.get(raw_guid)
        if hit is not None:
            matched_books[hit[0]] = matched_books.get(hit[0], 0) + 1
            code_id = hit[1]
        else:
            code_id = slug(name) or f"code-{raw_guid[:8] or index}"
        if code_id in used and parent_id:
            code_id = f"{parent_id}.{code_id}"
        base, n = code_id, 2
        while code_id in used:
            code_id = f"{base}-{n}"
            n += 1
        used.add(code_id)
        if raw_guid:
            if raw_guid in guid_to_id:
                problems.append(Problem(file, where, f"guid {raw_guid} is used twice"))
            guid_to_id[raw_guid] = code_id
        desc_el = next((c for c in el if local(c.tag) == "Description"), None)
        parsed = parse_description(desc_el.text if desc_el is not None else None)
        if not parsed["definition"]:
            problems.append(Problem(file, where, "no description; the definition is the name"))
            parsed["definition"] = name
        node: dict[str, Any] = {
            "id": code_id,
            "name": clean_text(name),
            "definition": parsed["definition"],
            "include": parsed["include"],
            "exclude": parsed["exclude"],
            "examples": parsed["examples"],
            "provenance": parsed.get("provenance", cb.Provenance.RECONSTRUCTED.value),
            "aliases": parsed.get("aliases", []),
        }
        if parsed.get("role"):
            node["role"] = parsed["role"]
        children = [c for c in el if local(c.tag) == "Code"]
        for other in el:
            if local(other.tag) not in ("Code", "Description"):
                problems.append(Problem(file, where, f"<{local(other.tag)}> ignored"))
        node["children"] = [
            convert(child, (*parents, f"Code[{index}]"), i, code_id)
            for i, child in enumerate(children, start=1)
        ]
        return node

    top = [el for el in codes_el if local(el.tag) == "Code"]
    nodes = [convert(el, ("Codes",), i, None) for i, el in enumerate(top, start=1)]
    special = [n for n in nodes if n.get("role") and not n["children"]]
    nodes = [n for n in nodes if n not in special]
    for n in _walk_dicts(nodes):
        if n.get("role"):
            problems.append(Problem(file, n["id"], "a special role below the top level; dropped"))
            n.pop("role")
    if colours:
        problems.append(
            Problem(file, "Codes", f"{colours} code colour(s) not kept (codebooks have no colour)")
        )

    depth = _depth(nodes)
    recognised = max(matched_books, key=lambda book: matched_books[book]) if matched_books else None
    levels = _levels(root, guid_to_id, nodes, file, problems)
    source_book = None
    if recognised is not None:
        try:
            source_book = cb.load_codebook(recognised)
        except Exception:  # an invalid workspace codebook: fall back to generic metadata
            source_book = None
    if levels is None and source_book is not None and len(source_book.levels) >= depth:
        levels = list(source_book.levels[:depth])
    if levels is None:
        levels = [f"level{i}" for i in range(1, depth + 1)]
    origin = root.get("origin") or "unknown"
    data: dict[str, Any] = {
        "id": codebook_id or slug(path.stem) or "imported",
        "title": source_book.title if source_book else f"{path.stem} (imported)",
        "citation": source_book.citation
        if source_book
        else f"Imported from {path.name}, a REFI-QDA codebook (origin: {origin}).",
        "version": source_book.version if source_book else "1",
        "levels": levels,
        "status": source_book.status.value if source_book else cb.Status.COMPLETE.value,
        "description": f"Imported from the REFI-QDA codebook {path.name} (origin: {origin}).",
        "nodes": nodes,
        "special": special,
    }
    if not nodes:
        raise ValidationError([Problem(file, "Codes", "no code outside the special codes")])
    if non_guid:
        problems.append(
            Problem(
                file,
                "Codes",
                f"{len(non_guid)} of {len(list(_walk_dicts(nodes))) + len(special)} code id(s) "
                "are not GUIDs; another program may refuse the file",
            )
        )
    book = cb.parse_codebook(data, file)
    return QdcImport(book, problems, recognised, len(non_guid))


def _walk_dicts(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield from _walk_dicts(node["children"])
        yield node


def _depth(nodes: list[dict[str, Any]]) -> int:
    return 1 + max((_depth(n["children"]) for n in nodes if n["children"]), default=0)


def _levels(
    root: ET.Element,
    guid_to_id: dict[str, str],
    nodes: list[dict[str, Any]],
    file: str,
    problems: list[Problem],
) -> list[str] | None:
    """Level names from the ``level: NAME`` sets ptmcoder writes (None when absent or
    inconsistent with the tree); other sets are listed as not kept."""
    depth_of: dict[str, int] = {}

    def rec(items: list[dict[str, Any]], depth: int) -> None:
        for node in items:
            depth_of[node["id"]] = depth
            rec(node["children"], depth + 1)

    rec(nodes, 0)
    sets_el = next((el for el in root if local(el.tag) == "Sets"), None)
    if sets_el is None:
        return None
    names: dict[int, str] = {}
    for i, set_el in enumerate((el for el in sets_el if local(el.tag) == "Set"), start=1):
        name = set_el.get("name") or ""
        if not name.startswith(LEVEL_SET_PREFIX):
            problems.append(Problem(file, f"Sets > Set[{i}] ({name})", "set not kept"))
            continue
        members = [
            guid_to_id.get(normalise_guid(m.get("guid")))
            for m in set_el
            if local(m.tag) == "MemberCode"
        ]
        depths = {depth_of.get(m) for m in members if m is not None}
        if len(depths) == 1 and (only := depths.pop()) is not None:
            names[only] = name[len(LEVEL_SET_PREFIX) :].strip()
    depth = _depth(nodes)
    if sorted(names) == list(range(depth)) and len(set(names.values())) == depth:
        return [names[d] for d in range(depth)]
    return None
