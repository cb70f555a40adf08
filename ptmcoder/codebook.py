"""Codebooks: the hierarchy of codes that human coders and annotators share.

A codebook is a YAML file (``codebooks/<id>.yaml``) loaded into pydantic models
that reject unknown keys. Its :func:`codebook_hash` over the canonical content
identifies the exact version a run used: reordering keys in the file does not
change it, changing any definition, criterion, example or the tree does.

Codes outside the tree that coders may still assign (Tan et al.'s "False
positive", a "none" option) live in ``special`` so they are never counted as
leaves of the taxonomy.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptmcoder import files
from ptmcoder.errors import (
    NotFoundError,
    Problem,
    PtmcoderWarning,
    ValidationError,
    describe_location,
    problems_from,
)
from ptmcoder.paths import bundled_dir, workspace

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

#: the deepest nesting of lists and mappings a codebook file may have. A code level
#: takes two (a ``children`` list and the node's mapping), so 64 holds ~30 levels of
#: codes; a file nested thousands deep (which made the YAML reader overflow Python's
#: stack) is a located error stating this limit.
MAX_NESTING = 64


class Provenance(StrEnum):
    PAPER_TEXT = "paper-text"
    REPLICATION_PACKAGE = "replication-package"
    RECONSTRUCTED = "reconstructed"


class Status(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"


class Role(StrEnum):
    """What a special (out-of-tree) code means."""

    FALSE_POSITIVE = "false-positive"
    NONE = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Example(_Strict):
    description: str = Field(min_length=1)
    url: str | None = None
    source: str | None = Field(default=None, description="where the example is cited")


class Frequency(_Strict):
    """What the paper reports for a node; every field optional."""

    count: int | None = Field(default=None, ge=0, description="units or challenges")
    percent: float | None = Field(default=None, ge=0, le=100)
    issues: int | None = Field(default=None, ge=0, description="issue reports (Banyongrakkul)")
    codes: int | None = Field(default=None, ge=0, description="distinct codes (Banyongrakkul)")
    note: str | None = None


class Node(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    frequency: Frequency | None = None
    provenance: Provenance
    aliases: list[str] = Field(default_factory=list, description="other names coders used")
    role: Role | None = None
    children: list[Node] = Field(default_factory=list)

    @field_validator("definition")
    @classmethod
    def _definition_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("definition must not be blank")
        return value

    @property
    def is_leaf(self) -> bool:
        return not self.children


def label_key(label: str) -> str:
    """A label as codes are matched: case folded, runs of spaces made one.

    >>> label_key("  Feature   Request ")
    'feature request'
    """
    return " ".join(str(label).casefold().split())


class Codebook(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    version: str = Field(min_length=1)
    levels: list[str] = Field(min_length=1)
    status: Status
    description: str | None = None
    notes: list[str] = Field(default_factory=list)
    nodes: list[Node] = Field(min_length=1)
    special: list[Node] = Field(default_factory=list)

    # -- navigation ---------------------------------------------------------
    def walk(self) -> Iterator[tuple[Node, int, tuple[Node, ...]]]:
        """Every tree node (not ``special``) depth-first: (node, depth, ancestors)."""

        def rec(nodes: list[Node], depth: int, path: tuple[Node, ...]):
            for node in nodes:
                yield node, depth, path
                yield from rec(node.children, depth + 1, (*path, node))

        yield from rec(self.nodes, 0, ())

    def level_name(self, depth: int) -> str:
        return self.levels[depth]

    def leaves(self) -> list[Node]:
        return [node for node, _, _ in self.walk() if node.is_leaf]

    def tree_nodes(self, level: str | None) -> list[Node]:
        """The tree nodes at ``level``: the leaves for None, ``leaf`` or ``leaves`` (so
        leaves of any depth), else the nodes at that level; never the special codes."""
        if level in (None, "", "leaf", "leaves"):
            return self.leaves()
        return self.nodes_at(str(level))

    def nodes_at(self, level: str) -> list[Node]:
        depth = self.level_index(level)
        return [node for node, d, _ in self.walk() if d == depth]

    def level_index(self, level: str) -> int:
        if level in ("leaf", "leaves"):
            raise ValueError("'leaf' is not a single depth; use leaves()")
        try:
            return self.levels.index(level)
        except ValueError:
            raise NotFoundError(
                f"codebook {self.id!r} has no level {level!r}",
                hint=f"levels are: {', '.join(self.levels)} (or 'leaf')",
            ) from None

    def index(self) -> dict[str, CodeInfo]:
        """Every code id (tree and special) -> its node, depth and ancestor ids."""
        return dict(self._index)

    @cached_property
    def _index(self) -> dict[str, CodeInfo]:
        # Built once per loaded codebook (a codebook is not edited after loading):
        # map_codes runs over every coded row in the annotators and the statistics.
        out: dict[str, CodeInfo] = {}
        for node, depth, path in self.walk():
            out[node.id] = CodeInfo(node, depth, tuple(p.id for p in path), special=False)
        for node in self.special:
            out[node.id] = CodeInfo(node, -1, (), special=True)
        return out

    @cached_property
    def _label_owners(self) -> dict[str, list[str]]:
        # normalised name or alias -> the codes that carry it, in codebook order
        out: dict[str, list[str]] = {}
        for code, info in self._index.items():
            for label in (info.node.name, *info.node.aliases):
                owners = out.setdefault(label_key(label), [])
                if code not in owners:
                    owners.append(code)
        return out

    def _owner(self, owners: list[str]) -> str | None:
        """The code a label carried by ``owners`` stands for: the only one; or, when
        they lie on one line of descent (a category named like its own leaf), the
        deepest, which the others contain; else None (ambiguous)."""
        if len(owners) == 1:
            return owners[0]
        deepest = max(owners, key=lambda c: self._index[c].depth)
        line = set(self._index[deepest].ancestors)
        if all(c == deepest or c in line for c in owners):
            return deepest
        return None

    @cached_property
    def _labels(self) -> dict[str, str]:
        # normalised label -> code id: every id first (an id wins over another code's
        # name or alias), then each name or alias that stands for one code
        out = {label_key(code): code for code in self._index}
        for key, owners in self._label_owners.items():
            if key not in out and (owner := self._owner(owners)) is not None:
                out[key] = owner
        return out

    def ambiguous_labels(self) -> dict[str, list[str]]:
        """Names and aliases carried by codes on different branches (one alias on two
        codes): normalised label -> the codes, in codebook order. Such a label resolves
        to no code (:meth:`resolve_label` gives None) rather than to one picked by
        position; :func:`parse_codebook` warns about each."""
        return {
            key: owners
            for key, owners in self._label_owners.items()
            if key not in self._labels and len(owners) > 1
        }

    def label_warnings(self) -> list[str]:
        """One line per ambiguous label (:meth:`ambiguous_labels`), naming the label
        and every code that carries it (as its name or as an alias)."""
        out = []
        for key, owners in self.ambiguous_labels().items():
            carried = ", ".join(
                f"{code} ({'name' if label_key(self._index[code].node.name) == key else 'alias'})"
                for code in owners
            )
            out.append(
                f"label {key!r} is on {len(owners)} codes: {carried}; it resolves to none of "
                "them (counted as an unknown code where coders used it)"
            )
        return out

    def resolve_label(self, label: Any) -> str | None:
        """The code id a coder's label stands for: the id itself, or the code whose id,
        name or alias it is with case and spacing ignored (an id wins over another code's
        name or alias); None when it matches no code. The one alias rule: training
        labels, agreement inputs, stats labels, crosswalk inputs and QDA imports read
        labels through it.

        A name or alias on several codes is never settled by position: on one line of
        descent (a category named like its own leaf) it is the deepest code, which the
        others contain; on different branches it resolves to None, and the codebook's
        loading warns (:meth:`label_warnings`).

        >>> book = load_codebook("issue-type")
        >>> [book.resolve_label(x) for x in ("bug", "feature", " Feature  Request", "x")]
        ['bug', 'enhancement', 'enhancement', None]
        """
        if not isinstance(label, str) or not label.strip():
            return None
        if label in self._index:
            return label
        return self._labels.get(label_key(label))

    def ancestor_at(self, code: str, level: str) -> str | None:
        """The id of ``code``'s ancestor (or itself) at ``level``; None for codes above
        that level. One code through :meth:`map_codes` (the one level mapper), for a
        caller that holds a single code it knows: a code the codebook lacks raises
        :class:`~ptmcoder.errors.NotFoundError`."""
        mapping = self.map_codes([code], level)
        if mapping.unknown:
            raise NotFoundError(f"code {code!r} is not in codebook {self.id!r}")
        return mapping.codes[0]

    def map_codes(self, codes: Iterable[Any], level: str | None) -> LevelMapping:
        """The one level mapper: every code of ``codes`` lifted to its ancestor (or
        itself) at ``level`` (a level name; ``None``/``leaf`` keeps leaf codes).

        The policy, the same for every stage: a missing value (None, NaN, a blank
        string) stays missing; a special code maps to itself; a code above the level
        maps to None and is counted in ``above_level``; **a code the codebook lacks
        maps to None and is counted, per code, in** ``unknown`` **for the caller to
        report**: never silently dropped, never an exception. An unknown *level* is a
        :class:`~ptmcoder.errors.NotFoundError` naming the known levels.

        >>> leaf = {"id": "A.1", "name": "A1", "definition": "a1", "provenance": "paper-text"}
        >>> book = parse_codebook({"id": "t", "title": "T", "citation": "c",
        ...     "version": "1", "levels": ["category", "code"], "status": "partial",
        ...     "nodes": [{"id": "A", "name": "A", "definition": "a",
        ...                "provenance": "paper-text", "children": [leaf]}]})
        >>> m = book.map_codes(["A.1", "A", "zzz", None], "category")
        >>> m.codes, dict(m.unknown), dict(m.above_level)
        (['A', 'A', None, None], {'zzz': 1}, {})
        """
        level = "leaf" if level in (None, "", "leaf", "leaves") else str(level)
        depth = None if level == "leaf" else self.level_index(level)
        out: list[str | None] = []
        unknown: Counter[str] = Counter()
        above: Counter[str] = Counter()
        for raw in codes:
            code = _clean_code(raw)
            if code is None:
                out.append(None)
                continue
            info = self._index.get(code)
            if info is None:
                unknown[code] += 1
                out.append(None)
                continue
            if info.special:
                out.append(code)
                continue
            if depth is None:
                lifted = code if info.node.is_leaf else None
            else:
                chain = (*info.ancestors, code)
                lifted = chain[depth] if depth < len(chain) else None
            if lifted is None:
                above[code] += 1
            out.append(lifted)
        return LevelMapping(level, out, unknown, above)

    def counts_per_level(self) -> dict[str, int]:
        counts = {name: 0 for name in self.levels}
        for _, depth, _ in self.walk():
            counts[self.levels[depth]] += 1
        return counts


Node.model_rebuild()


def _clean_code(raw: Any) -> str | None:
    """A code as a stripped string; None for a missing value (None, NaN, pd.NA, '')."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if not isinstance(raw, str):
        try:
            import pandas as pd

            if pd.isna(raw):
                return None
        except (ImportError, TypeError, ValueError):
            pass
    code = str(raw).strip()
    return code or None


@dataclass(frozen=True)
class LevelMapping:
    """The result of :meth:`Codebook.map_codes`."""

    level: str
    #: one entry per input code: its ancestor at the level, or None (missing,
    #: unknown or above the level)
    codes: list[str | None]
    #: codes the codebook lacks -> occurrences (mapped to None; report them)
    unknown: Counter[str] = field(default_factory=Counter)
    #: codes that sit above the level -> occurrences (mapped to None)
    above_level: Counter[str] = field(default_factory=Counter)

    def notes(self, source: str = "") -> list[str]:
        """One line per kind of left-out code, for the caller to print."""
        where = f"{source}: " if source else ""
        out = []
        if self.unknown:
            listed = ", ".join(f"{c} ({n})" for c, n in self.unknown.most_common(10))
            more = " ..." if len(self.unknown) > 10 else ""
            out.append(
                f"{where}{sum(self.unknown.values())} code(s) not in the codebook count as "
                f"missing: {listed}{more}"
            )
        if self.above_level:
            out.append(
                f"{where}{sum(self.above_level.values())} code(s) sit above level "
                f"{self.level!r} and count as missing"
            )
        return out


@dataclass(frozen=True)
class CodeInfo:
    node: Node
    depth: int
    ancestors: tuple[str, ...]
    special: bool


# -- loading and validation ----------------------------------------------------


def _semantic_problems(book: Codebook, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}

    def check_id(node: Node, where: str) -> None:
        if node.id in seen:
            problems.append(
                Problem(file, where, f"duplicate id {node.id!r} (first used at {seen[node.id]})")
            )
        else:
            seen[node.id] = where

    def rec(nodes: list[Node], depth: int, prefix: str) -> None:
        for i, node in enumerate(nodes):
            where = f"{prefix}[{i}] ({node.id})"
            check_id(node, where)
            if depth >= len(book.levels):
                problems.append(
                    Problem(
                        file,
                        where,
                        f"node is at depth {depth + 1} but the codebook declares "
                        f"only {len(book.levels)} levels ({', '.join(book.levels)})",
                    )
                )
            if node.role is not None:
                problems.append(Problem(file, where, "'role' is only allowed on special codes"))
            rec(node.children, depth + 1, f"{where} > children")

    rec(book.nodes, 0, "nodes")
    for i, node in enumerate(book.special):
        where = f"special[{i}] ({node.id})"
        check_id(node, where)
        if node.children:
            problems.append(Problem(file, where, "special codes cannot have children"))
        if node.role is None:
            problems.append(
                Problem(file, where, "special codes need a 'role' (false-positive or none)")
            )
    if len(set(book.levels)) != len(book.levels):
        problems.append(Problem(file, "levels", "level names must be distinct"))
    return problems


def _too_deep(data: Any, file: str) -> Problem | None:
    """A :class:`Problem` when ``data`` nests lists and mappings deeper than
    :data:`MAX_NESTING` (walked without recursion), locating the first such place."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_NESTING:
            shown = describe_location(data, path[:6]) + (" > ..." if len(path) > 6 else "")
            return Problem(
                file,
                shown,
                f"nested more than {MAX_NESTING} levels deep (the limit, MAX_NESTING)",
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((v, depth + 1, (*path, k)) for k, v in items)
    return None


def _yaml_too_deep(text: str, file: str) -> Problem | None:
    """:func:`_too_deep` on YAML text, from the parser's event stream (which does not
    recurse, unlike building the data): the line and column where nesting passes
    :data:`MAX_NESTING`."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    mark = event.start_mark
                    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
                    return Problem(
                        file,
                        where,
                        f"nested more than {MAX_NESTING} levels deep (the limit, MAX_NESTING)",
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # reported with its location by the loader
    return None


def parse_codebook(data: Any, file: str = "<memory>") -> Codebook:
    """Validate already-parsed YAML/JSON data; raise :class:`ValidationError` with
    every problem found, each naming the file and the node. Data nested deeper than
    :data:`MAX_NESTING` is refused; a name or alias on codes of different branches is
    a :class:`~ptmcoder.errors.PtmcoderWarning` naming the label and the codes."""
    if not isinstance(data, dict):
        raise ValidationError([Problem(file, "(top level)", "a codebook must be a mapping")])
    deep = _too_deep(data, file)
    if deep is not None:
        raise ValidationError([deep], hint="a codebook's tree is a few levels deep")
    try:
        book = Codebook.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(problems_from(exc, file, data)) from None
    problems = _semantic_problems(book, file)
    if problems:
        raise ValidationError(problems)
    for line in book.label_warnings():
        warnings.warn(PtmcoderWarning(f"{file}: {line}"), stacklevel=2)
    return book


def load_codebook_file(path: str | Path) -> Codebook:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"codebook file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ValidationError(
            [Problem(str(path), f"byte {exc.start}", "file is not UTF-8")]
        ) from None
    deep = _yaml_too_deep(text, str(path))
    if deep is not None:
        raise ValidationError([deep], hint="a codebook's tree is a few levels deep")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError([Problem(str(path), where, f"invalid YAML: {problem}")]) from None
    return parse_codebook(data, str(path))


def codebook_dirs() -> list[Path]:
    """Where codebooks are looked up, first match wins: the workspace, then bundled."""
    dirs = [workspace() / "codebooks", bundled_dir("codebooks")]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def _codebook_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in codebook_dirs():
        for path in sorted(directory.glob("*.y*ml")):
            found.setdefault(path.stem, path)
    return found


def resolve_codebook_path(ref: str | Path) -> Path:
    """A codebook id (``tan2024``) or a path to a YAML file."""
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.exists():
            raise NotFoundError(f"codebook file not found: {candidate}")
        return candidate
    files = _codebook_files()
    if str(ref) in files:
        return files[str(ref)]
    known = ", ".join(sorted(files)) or "none"
    raise NotFoundError(
        f"no codebook with id {str(ref)!r}",
        hint=f"known codebooks: {known}; or pass the path of a YAML file",
    )


def load_codebook(ref: str | Path) -> Codebook:
    """Load a codebook by id or path; the file name must match the id."""
    path = resolve_codebook_path(ref)
    book = load_codebook_file(path)
    if path.stem != book.id and Path(ref) != path:
        raise ValidationError(
            [Problem(str(path), "id", f"id {book.id!r} does not match file name")]
        )
    return book


def list_codebooks() -> tuple[list[Codebook], list[ValidationError]]:
    """Every codebook found, and the errors of files that failed to load."""
    books: list[Codebook] = []
    errors: list[ValidationError] = []
    for path in _codebook_files().values():
        try:
            books.append(load_codebook_file(path))
        except ValidationError as exc:
            errors.append(exc)
    return books, errors


# -- identity ------------------------------------------------------------------


def canonical_json(book: Codebook) -> str:
    """The content that identifies a codebook version: every field, as
    :func:`ptmcoder.files.canonical_json` writes it (keys sorted, no whitespace)."""
    return files.canonical_json(book.model_dump(mode="json"))


def codebook_hash(book: Codebook) -> str:
    """``sha256:<hex>`` of :func:`canonical_json`; stable under YAML key reordering."""
    return files.sha256_text(canonical_json(book))


# -- views ---------------------------------------------------------------------


def summary(book: Codebook) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "version": book.version,
        "status": book.status.value,
        "levels": book.levels,
        "counts": book.counts_per_level(),
        "leaves": len(book.leaves()),
        "special": [n.id for n in book.special],
        "hash": codebook_hash(book),
    }


def tree_json(book: Codebook) -> dict[str, Any]:
    """The ``codebook show --json`` shape: every node with its level and children."""

    def node_json(node: Node, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": node.id,
            "name": node.name,
            "level": book.levels[depth] if depth >= 0 else "special",
            "definition": node.definition,
            "provenance": node.provenance.value,
        }
        if node.frequency is not None:
            out["frequency"] = node.frequency.model_dump(exclude_none=True)
        if node.role is not None:
            out["role"] = node.role.value
        out["children"] = [node_json(c, depth + 1) for c in node.children]
        return out

    return {
        "id": book.id,
        "title": book.title,
        "version": book.version,
        "status": book.status.value,
        "levels": book.levels,
        "hash": codebook_hash(book),
        "counts": book.counts_per_level(),
        "leaves": len(book.leaves()),
        "nodes": [node_json(n, 0) for n in book.nodes],
        "special": [node_json(n, -1) for n in book.special],
    }


_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|])")


def _md(text: str) -> str:
    return _MD_ESCAPE.sub(r"\\\1", " ".join(text.split()))


def to_markdown(book: Codebook) -> str:
    """A printable coding manual: definitions, criteria and examples of every node."""
    lines = [f"# Coding manual: {_md(book.title)}", ""]
    lines += [
        f"- **Codebook:** `{book.id}` version {book.version} ({codebook_hash(book)[:19]})",
        f"- **Source:** {_md(book.citation)}",
        f"- **Levels:** {' > '.join(book.levels)}",
        f"- **Status:** {book.status.value}",
    ]
    counts = book.counts_per_level()
    lines.append(
        "- **Size:** "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; {len(book.leaves())} leaf codes"
    )
    lines.append("")
    if book.status is Status.PARTIAL:
        lines += [
            "> **Partial codebook.** It holds only what the available sources state; "
            "codes are missing. Do not use it as a complete coding frame.",
            "",
        ]
    if book.description:
        lines += [_md(book.description), ""]
    for note in book.notes:
        lines.append(f"> Note: {_md(note)}")
    if book.notes:
        lines.append("")

    def render(node: Node, depth: int, path: tuple[str, ...]) -> None:
        level = book.levels[depth] if depth >= 0 else "special code"
        heading = "#" * min(depth + 2, 6) if depth >= 0 else "##"
        freq = ""
        if node.frequency:
            f = node.frequency
            bits = [
                f"{f.percent:g}%" if f.percent is not None else None,
                f"{f.count} challenges/units" if f.count is not None else None,
                f"{f.issues} issue reports" if f.issues is not None else None,
                f"{f.codes} codes" if f.codes is not None else None,
            ]
            freq = " (" + ", ".join(b for b in bits if b) + ")" if any(bits) else ""
        lines.append(f"{heading} {_md(node.name)} `{node.id}`{freq}")
        lines.append("")
        lines.append(f"*{level}*" + (f" · path: {' > '.join(path)}" if path else ""))
        lines.append("")
        lines.append(f"**Definition.** {_md(node.definition)}")
        lines.append("")
        if node.include:
            lines.append("**Include when:**")
            lines.extend([f"- {_md(c)}" for c in node.include])
            lines.append("")
        if node.exclude:
            lines.append("**Exclude when:**")
            lines.extend([f"- {_md(c)}" for c in node.exclude])
            lines.append("")
        if node.examples:
            lines.append("**Examples:**")
            for ex in node.examples:
                link = f" <{ex.url}>" if ex.url else ""
                lines.append(f"- {_md(ex.description)}{link}")
            lines.append("")
        lines.append(f"*Provenance: {node.provenance.value}*")
        lines.append("")
        for child in node.children:
            render(child, depth + 1, (*path, node.name))

    for node in book.nodes:
        render(node, 0, ())
    if book.special:
        lines.extend(["## Special codes (not part of the taxonomy)", ""])
        for node in book.special:
            render(node, -1, ())
    return "\n".join(lines).rstrip() + "\n"
