"""Crosswalks: SSSOM mapping sets between codebooks, suggestions, coverage, translation.

A crosswalk is one SSSOM file per pair of codebooks, ``codebooks/crosswalks/<A>__<B>.sssom.tsv``:
a YAML header (lines starting with ``#``: ``curie_map``, ``mapping_set_id``, ``license``,
``creator_id``...) and a TSV of mappings. Codes are CURIEs whose prefix is the codebook id
(``tan2024:CRI.api``); predicates come from SKOS; ``sssom:NoTermFound`` on one side records a
code the source says has no counterpart; ``predicate_modifier: Not`` records a rejected pair.
SSSOM: Matentzoglu et al., "A Simple Standard for Sharing Ontological Mappings (SSSOM)",
Database 2022 (https://mapping-commons.github.io/sssom/).

Every row has a *status*, derived from its columns, never stored:

- ``reviewed``: a human decision (``reviewer_id`` set); ``rejected`` when it carries ``Not``;
- ``stated``: ``semapv:ManualMappingCuration`` authored by a paper (``author_id`` ``ptmpaper:...``),
  the quoted sentence and its section in ``comment``;
- ``contested``: a stated positive row and a stated ``NoTermFound`` row on the same code or its
  ancestors (the texts pull two ways); left to review;
- ``suggestion``: anything else without a reviewer (similarity matches, text-hinted pairs).

:func:`load_mapping_set` is the one reader of these files; the inverse direction is derived
(``broadMatch`` <-> ``narrowMatch``; exact, close and related are symmetric).
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ptmcoder.codebook import Codebook, resolve_codebook_path
from ptmcoder.codebook import load_codebook as _load_codebook_uncached
from ptmcoder.errors import NotFoundError, Problem, PtmcoderError, ValidationError
from ptmcoder.paths import bundled_dir, workspace

SUFFIX = ".sssom.tsv"
NO_TERM = "sssom:NoTermFound"
PAPER_PREFIX = "ptmpaper:"


class Predicate(StrEnum):
    EXACT = "skos:exactMatch"
    CLOSE = "skos:closeMatch"
    BROAD = "skos:broadMatch"  # the object is broader than the subject
    NARROW = "skos:narrowMatch"  # the object is narrower than the subject
    RELATED = "skos:relatedMatch"  # overlap


INVERSE: dict[Predicate, Predicate] = {
    Predicate.EXACT: Predicate.EXACT,
    Predicate.CLOSE: Predicate.CLOSE,
    Predicate.BROAD: Predicate.NARROW,
    Predicate.NARROW: Predicate.BROAD,
    Predicate.RELATED: Predicate.RELATED,
}


class Relation(StrEnum):
    """How a source code relates to the target code it is translated into
    (the ``--relations`` policy). ``narrow``: the source is narrower than the target
    (an SSSOM row ``source skos:broadMatch target``), so the translation generalises and
    loses nothing; ``broad``: the source is broader (``skos:narrowMatch``), the translation
    claims more than the coder said; ``related``: overlap only."""

    EXACT = "exact"
    CLOSE = "close"
    NARROW = "narrow"
    BROAD = "broad"
    RELATED = "related"


RELATION_OF: dict[Predicate, Relation] = {
    Predicate.EXACT: Relation.EXACT,
    Predicate.CLOSE: Relation.CLOSE,
    Predicate.BROAD: Relation.NARROW,
    Predicate.NARROW: Relation.BROAD,
    Predicate.RELATED: Relation.RELATED,
}
DEFAULT_RELATIONS = ("exact", "close", "narrow")


class Justification(StrEnum):
    MANUAL = "semapv:ManualMappingCuration"
    SEMANTIC_SIMILARITY = "semapv:SemanticSimilarityThresholdMatching"
    LEXICAL = "semapv:LexicalMatching"
    LEXICAL_SIMILARITY = "semapv:LexicalSimilarityThresholdMatching"
    BACKGROUND = "semapv:BackgroundKnowledgeBasedMatching"
    INVERSION = "semapv:MappingInversion"
    REVIEW = "semapv:MappingReview"
    UNSPECIFIED = "semapv:UnspecifiedMatching"


class Status(StrEnum):
    REVIEWED = "reviewed"
    REJECTED = "rejected"
    STATED = "stated"
    CONTESTED = "contested"
    SUGGESTION = "suggestion"


class Evidence(StrEnum):
    """Which rows count: ``reviewed`` (human decisions), ``curated`` (decisions and what the
    papers state, contested pairs excluded) or ``all`` (also contested pairs and suggestions)."""

    REVIEWED = "reviewed"
    CURATED = "curated"
    ALL = "all"


_ALLOWED: dict[Evidence, frozenset[Status]] = {
    Evidence.REVIEWED: frozenset({Status.REVIEWED}),
    Evidence.CURATED: frozenset({Status.REVIEWED, Status.STATED}),
    Evidence.ALL: frozenset({Status.REVIEWED, Status.STATED, Status.CONTESTED, Status.SUGGESTION}),
}

COLUMNS = (
    "record_id",
    "subject_id",
    "subject_label",
    "predicate_id",
    "predicate_modifier",
    "object_id",
    "object_label",
    "mapping_justification",
    "author_id",
    "author_label",
    "reviewer_id",
    "reviewer_label",
    "mapping_date",
    "review_date",
    "confidence",
    "similarity_score",
    "similarity_measure",
    "mapping_tool",
    "comment",
)
REQUIRED_COLUMNS = ("subject_id", "predicate_id", "object_id", "mapping_justification")
REQUIRED_HEADER = ("curie_map", "mapping_set_id", "license", "creator_id")
BASE_CURIE_MAP = {
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "semapv": "https://w3id.org/semapv/vocab/",
    "sssom": "https://w3id.org/sssom/",
    "ptmcoder": "urn:ptmcoder:",
    "ptmpaper": "urn:ptmcoder:paper:",
    "reviewer": "urn:ptmcoder:reviewer:",
    "orcid": "https://orcid.org/",
}
_FLOAT_FIELDS = ("confidence", "similarity_score")


_BOOKS: dict[tuple[str, int], Codebook] = {}


def load_codebook(ref: str) -> Codebook:
    """:func:`ptmcoder.codebook.load_codebook`, parsed once per file version: validating a
    crosswalk looks its two codebooks up for every row."""
    path = resolve_codebook_path(ref)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _BOOKS:
        _BOOKS[key] = _load_codebook_uncached(ref)
    return _BOOKS[key]


# -- the model ---------------------------------------------------------------------


@dataclass
class Mapping:
    """One SSSOM row. ``line`` is its line in the file (None for derived rows)."""

    subject_id: str
    predicate_id: str
    object_id: str
    mapping_justification: str
    record_id: str = ""
    subject_label: str = ""
    object_label: str = ""
    predicate_modifier: str = ""
    author_id: str = ""
    author_label: str = ""
    reviewer_id: str = ""
    reviewer_label: str = ""
    mapping_date: str = ""
    review_date: str = ""
    confidence: float | None = None
    similarity_score: float | None = None
    similarity_measure: str = ""
    mapping_tool: str = ""
    comment: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    line: int | None = None
    status: Status = Status.SUGGESTION
    inverted: bool = False

    @property
    def subject_code(self) -> str | None:
        return None if self.subject_id == NO_TERM else self.subject_id.split(":", 1)[-1]

    @property
    def object_code(self) -> str | None:
        return None if self.object_id == NO_TERM else self.object_id.split(":", 1)[-1]

    @property
    def negated(self) -> bool:
        return self.predicate_modifier == "Not"

    @property
    def no_term(self) -> bool:
        return NO_TERM in (self.subject_id, self.object_id)

    @property
    def positive(self) -> bool:
        """A match between two codes that nobody rejected."""
        return not self.negated and not self.no_term and self.status is not Status.REJECTED

    @property
    def relation(self) -> Relation:
        return RELATION_OF[Predicate(self.predicate_id)]

    def inverse(self) -> Mapping:
        """The same row seen from the object's side (broad <-> narrow)."""
        return replace(
            self,
            subject_id=self.object_id,
            subject_label=self.object_label,
            object_id=self.subject_id,
            object_label=self.subject_label,
            predicate_id=INVERSE[Predicate(self.predicate_id)].value,
            inverted=not self.inverted,
            extra=dict(self.extra),
        )

    def cells(self) -> dict[str, str]:
        out = {name: "" for name in COLUMNS}
        for name in COLUMNS:
            value = getattr(self, name)
            if isinstance(value, float):
                out[name] = f"{value:.4g}"
            elif value is not None:
                out[name] = str(value)
        out.update(self.extra)
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: v for k, v in self.cells().items() if v != ""}
        for name in _FLOAT_FIELDS:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        data["status"] = self.status.value
        if self.line is not None:
            data["line"] = self.line
        if self.inverted:
            data["derived"] = "inverse"
        return data


@dataclass
class MappingSet:
    """A mapping set oriented ``subject_book -> object_book`` (possibly derived by inversion)."""

    path: Path
    subject_book: str
    object_book: str
    header: dict[str, Any]
    mappings: list[Mapping]
    header_text: str = ""
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    inverted: bool = False

    @property
    def id(self) -> str:
        return str(self.header.get("mapping_set_id", ""))

    @property
    def file_pair(self) -> tuple[str, str]:
        """The pair in the order of the file on disk."""
        if self.inverted:
            return self.object_book, self.subject_book
        return self.subject_book, self.object_book

    def inverse(self) -> MappingSet:
        return MappingSet(
            path=self.path,
            subject_book=self.object_book,
            object_book=self.subject_book,
            header=self.header,
            mappings=[m.inverse() for m in self.mappings],
            header_text=self.header_text,
            columns=self.columns,
            inverted=not self.inverted,
        )

    def rows(self, evidence: Evidence = Evidence.ALL) -> list[Mapping]:
        allowed = _ALLOWED[evidence]
        return [m for m in self.mappings if m.status in allowed]

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(m.status.value for m in self.mappings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapping_set_id": self.id,
            "file": str(self.path),
            "subject": self.subject_book,
            "object": self.object_book,
            "derived_inverse": self.inverted,
            "rows": len(self.mappings),
            "status": self.status_counts(),
            "mappings": [m.to_dict() for m in self.mappings],
        }


# -- locating files ------------------------------------------------------------------


def crosswalk_dirs() -> list[Path]:
    """Where mapping sets are looked up, first match wins: the workspace, then bundled."""
    dirs = [workspace() / "codebooks" / "crosswalks", bundled_dir("codebooks") / "crosswalks"]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def set_files() -> dict[tuple[str, str], Path]:
    """(A, B) -> file for every ``A__B.sssom.tsv`` found."""
    found: dict[tuple[str, str], Path] = {}
    for directory in crosswalk_dirs():
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            pair = _pair_from_name(path)
            if pair is not None:
                found.setdefault(pair, path)
    return found


def _pair_from_name(path: Path) -> tuple[str, str] | None:
    stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
    parts = stem.split("__")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def _resolve(path_or_pair: str | Path | Sequence[str]) -> tuple[Path, bool]:
    """A file path, ``(A, B)``, ``"A__B"`` or ``"A:B"`` -> (file, inverted?)."""
    if isinstance(path_or_pair, tuple | list):
        a, b = path_or_pair
    else:
        text = str(path_or_pair)
        candidate = Path(text)
        if candidate.suffix == ".tsv" or candidate.exists():
            if not candidate.exists():
                raise NotFoundError(f"mapping set file not found: {candidate}")
            return candidate, False
        sep = "__" if "__" in text else ":"
        if sep not in text:
            raise NotFoundError(
                f"not a mapping set: {text!r}", hint="pass A B, A__B or a .sssom.tsv file"
            )
        a, b = text.split(sep, 1)
    files = set_files()
    if (a, b) in files:
        return files[(a, b)], False
    if (b, a) in files:
        return files[(b, a)], True
    known = ", ".join(f"{x}__{y}" for x, y in sorted(files)) or "none"
    raise NotFoundError(
        f"no crosswalk between {a!r} and {b!r}",
        hint=f"known crosswalks: {known}; start one with `ptmcoder map suggest {a} {b}`",
    )


# -- reading and validating ------------------------------------------------------------


def _split_header(text: str) -> tuple[str, str, int]:
    """(header YAML, table text, line number where the table starts)."""
    lines = text.splitlines(keepends=True)
    header: list[str] = []
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        header.append(lines[i][1:])
        i += 1
    return "".join(header), "".join(lines[i:]), i + 1


def _parse_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def _prefix(curie: str) -> str:
    return curie.split(":", 1)[0] if ":" in curie else ""


def read_mapping_file(path: str | Path) -> tuple[MappingSet, list[Problem]]:
    """Parse a file without raising on content problems: the set and every problem found."""
    path = Path(path)
    file = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"mapping set file not found: {path}") from None
    pair = _pair_from_name(path)
    if pair is None:
        raise ValidationError(
            [Problem(file, "file name", f"expected <A>__<B>{SUFFIX} (A, B codebook ids)")]
        )
    header_text, table_text, first_line = _split_header(text)
    try:
        header = yaml.safe_load(header_text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 2}" if mark else "header"
        raise ValidationError(
            [Problem(file, where, f"invalid YAML header: {getattr(exc, 'problem', exc)}")]
        ) from None
    if not isinstance(header, dict):
        header = {}
        problems.append(Problem(file, "line 1", "the '#' header must be a YAML mapping"))
    for key in REQUIRED_HEADER:
        if not header.get(key):
            problems.append(Problem(file, "header", f"missing header key {key!r}"))
    curie_map = header.get("curie_map") if isinstance(header.get("curie_map"), dict) else {}
    reader = csv.reader(io.StringIO(table_text), delimiter="\t")
    rows = list(reader)
    if not rows:
        raise ValidationError([Problem(file, f"line {first_line}", "no column header row")])
    columns = rows[0]
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            problems.append(Problem(file, f"line {first_line}", f"missing column {name!r}"))
    if problems and any("missing column" in p.message for p in problems):
        raise ValidationError(problems)
    mappings: list[Mapping] = []
    known = {f.name for f in Mapping.__dataclass_fields__.values()}
    for offset, cells in enumerate(rows[1:], start=1):
        lineno = first_line + offset
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            problems.append(
                Problem(
                    file,
                    f"line {lineno}",
                    f"{len(cells)} cells for {len(columns)} columns (a tab too many or missing?)",
                )
            )
            continue
        values = dict(zip(columns, cells, strict=True))
        kwargs: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for col_index, (name, value) in enumerate(values.items(), start=1):
            if name in _FLOAT_FIELDS:
                try:
                    number = _parse_float(value)
                except ValueError:
                    problems.append(
                        Problem(
                            file,
                            f"line {lineno}, column {col_index} ({name})",
                            f"{value!r} is not a number",
                        )
                    )
                    number = None
                if number is not None and not 0 <= number <= 1:
                    problems.append(
                        Problem(
                            file,
                            f"line {lineno}, column {col_index} ({name})",
                            f"{number} is outside [0, 1]",
                        )
                    )
                kwargs[name] = number
            elif name in known and name not in ("extra", "line", "status", "inverted"):
                kwargs[name] = value.strip()
            else:
                extra[name] = value
        mappings.append(Mapping(**kwargs, extra=extra, line=lineno))
    ms = MappingSet(
        path=path,
        subject_book=pair[0],
        object_book=pair[1],
        header=header,
        mappings=mappings,
        header_text=header_text,
        columns=columns,
    )
    problems += _row_problems(ms, curie_map)
    _assign_status(ms)
    return ms, problems


def _col(ms: MappingSet, name: str) -> str:
    index = ms.columns.index(name) + 1 if name in ms.columns else 0
    return f"column {index} ({name})" if index else f"({name})"


def _row_problems(ms: MappingSet, curie_map: dict[str, Any]) -> list[Problem]:
    file = str(ms.path)
    problems: list[Problem] = []
    books: dict[str, Codebook | None] = {}
    for book_id in (ms.subject_book, ms.object_book):
        try:
            books[book_id] = load_codebook(book_id)
        except PtmcoderError as exc:
            books[book_id] = None
            problems.append(
                Problem(file, "file name", f"codebook {book_id!r} cannot be loaded: {exc.message}")
            )
    justifications = {j.value for j in Justification}
    predicates = {p.value for p in Predicate}
    seen_ids: dict[str, int] = {}
    seen_triples: dict[tuple[str, str, str, str], int] = {}
    pair_predicates: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for m in ms.mappings:
        where = f"line {m.line}"
        if m.record_id:
            if m.record_id in seen_ids:
                problems.append(
                    Problem(
                        file,
                        f"{where}, {_col(ms, 'record_id')}",
                        f"record_id {m.record_id!r} already used on line {seen_ids[m.record_id]}",
                    )
                )
            seen_ids.setdefault(m.record_id, m.line or 0)
        for side, curie, book_id in (
            ("subject_id", m.subject_id, ms.subject_book),
            ("object_id", m.object_id, ms.object_book),
        ):
            if curie == NO_TERM:
                continue
            prefix = _prefix(curie)
            if prefix != book_id:
                problems.append(
                    Problem(
                        file,
                        f"{where}, {_col(ms, side)}",
                        f"{curie!r} should be a {book_id}: CURIE (or {NO_TERM})",
                    )
                )
                continue
            book = books.get(book_id)
            if book is not None and curie.split(":", 1)[1] not in book.index():
                problems.append(
                    Problem(
                        file,
                        f"{where}, {_col(ms, side)}",
                        f"code {curie.split(':', 1)[1]!r} is not in codebook {book_id!r}",
                    )
                )
        if m.subject_id == NO_TERM and m.object_id == NO_TERM:
            problems.append(Problem(file, where, "both sides are sssom:NoTermFound"))
        if m.predicate_id not in predicates:
            problems.append(
                Problem(
                    file,
                    f"{where}, {_col(ms, 'predicate_id')}",
                    f"predicate {m.predicate_id!r} is not one of {', '.join(sorted(predicates))}",
                )
            )
        if m.predicate_modifier not in ("", "Not"):
            problems.append(
                Problem(
                    file,
                    f"{where}, {_col(ms, 'predicate_modifier')}",
                    f"predicate_modifier must be empty or 'Not', not {m.predicate_modifier!r}",
                )
            )
        if m.mapping_justification not in justifications:
            problems.append(
                Problem(
                    file,
                    f"{where}, {_col(ms, 'mapping_justification')}",
                    f"{m.mapping_justification!r} is not a SEMAPV justification this tool knows "
                    f"({', '.join(sorted(justifications))})",
                )
            )
        if (
            m.mapping_justification == Justification.MANUAL
            and m.author_id.startswith(PAPER_PREFIX)
            and '"' not in m.comment
            and "\u201c" not in m.comment
        ):
            problems.append(
                Problem(
                    file,
                    f"{where}, {_col(ms, 'comment')}",
                    "a row stated by a paper must quote its sentence (and section) in comment",
                )
            )
        for curie in (m.author_id, m.reviewer_id):
            if curie and _prefix(curie) not in curie_map and _prefix(curie) not in BASE_CURIE_MAP:
                problems.append(
                    Problem(file, where, f"prefix of {curie!r} is not in the header's curie_map")
                )
        triple = (m.subject_id, m.predicate_id, m.predicate_modifier, m.object_id)
        if triple in seen_triples:
            problems.append(
                Problem(file, where, f"duplicate of the mapping on line {seen_triples[triple]}")
            )
        seen_triples.setdefault(triple, m.line or 0)
        if not m.no_term and not m.negated and m.predicate_id in predicates:
            pair_predicates.setdefault((m.subject_id, m.object_id), []).append(
                (m.predicate_id, m.line or 0)
            )
    for prefix in {ms.subject_book, ms.object_book, "skos", "semapv", "sssom"}:
        if curie_map and prefix not in curie_map:
            problems.append(Problem(file, "header", f"curie_map has no prefix {prefix!r}"))
    for (subject, obj), preds in pair_predicates.items():
        names = {p for p, _ in preds}
        if Predicate.EXACT in names and names & {
            Predicate.BROAD,
            Predicate.NARROW,
            Predicate.RELATED,
        }:
            lines = ", ".join(str(line) for _, line in preds)
            problems.append(
                Problem(
                    file,
                    f"lines {lines}",
                    f"{subject} and {obj} are both skos:exactMatch and "
                    f"{'/'.join(sorted(n for n in names if n != Predicate.EXACT))}",
                )
            )
    return problems


def _assign_status(ms: MappingSet) -> None:
    """Derive each row's status; a stated positive row and a stated NoTermFound row on the
    same code (or the code's ancestor) are both contested."""
    for m in ms.mappings:
        if m.reviewer_id:
            m.status = Status.REJECTED if m.negated else Status.REVIEWED
        elif m.mapping_justification == Justification.MANUAL and m.author_id.startswith(
            PAPER_PREFIX
        ):
            m.status = Status.STATED
        else:
            m.status = Status.SUGGESTION
    for side in ("subject", "object"):
        book_id = ms.subject_book if side == "subject" else ms.object_book
        try:
            index = load_codebook(book_id).index()
        except PtmcoderError:
            continue
        code_attr = f"{side}_code"
        nf_rows = [
            m
            for m in ms.mappings
            if m.status is Status.STATED and m.no_term and getattr(m, code_attr) is not None
        ]
        for nf in nf_rows:
            code = getattr(nf, code_attr)
            for m in ms.mappings:
                other = getattr(m, code_attr)
                if m.status is not Status.STATED or not m.positive or other not in index:
                    continue
                if other == code or code in index[other].ancestors:
                    m.status = Status.CONTESTED
                    nf.status = Status.CONTESTED


def load_mapping_set(path_or_pair: str | Path | Sequence[str]) -> MappingSet:
    """The one reader of crosswalk files: a path, a pair ``(A, B)``, ``"A__B"`` or ``"A:B"``.
    A pair found only as ``B__A`` is returned inverted. Raises :class:`ValidationError`
    listing every problem (file, line, column) when the file is not valid."""
    path, inverted = _resolve(path_or_pair)
    ms, problems = read_mapping_file(path)
    if problems:
        raise ValidationError(
            problems, hint="fix the rows named above (ptmcoder map validate lists all sets)"
        )
    return ms.inverse() if inverted else ms


@dataclass
class ValidationReport:
    file: str
    pair: tuple[str, str]
    rows: int
    problems: list[Problem]
    needs_review: list[Mapping]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "pair": list(self.pair),
            "rows": self.rows,
            "ok": self.ok,
            "problems": [str(p) for p in self.problems],
            "needs_review": [m.to_dict() for m in self.needs_review],
        }


def validate_mapping_sets(paths: Iterable[str | Path] | None = None) -> list[ValidationReport]:
    """Validate the named files (default: every crosswalk found); contested pairs and
    suggestions are listed as needing review, not as problems."""
    targets = [Path(p) for p in paths] if paths else list(set_files().values())
    reports = []
    for path in targets:
        try:
            ms, problems = read_mapping_file(path)
        except ValidationError as exc:
            reports.append(ValidationReport(str(path), ("", ""), 0, exc.problems, []))
            continue
        pending = [m for m in ms.mappings if m.status in (Status.CONTESTED, Status.SUGGESTION)]
        reports.append(
            ValidationReport(
                str(path), (ms.subject_book, ms.object_book), len(ms.mappings), problems, pending
            )
        )
    return reports


def list_mapping_sets() -> list[dict[str, Any]]:
    """A summary of every crosswalk found (files that fail to load are listed with the error)."""
    out = []
    for (a, b), path in sorted(set_files().items()):
        try:
            ms, problems = read_mapping_file(path)
        except ValidationError as exc:
            out.append({"subject": a, "object": b, "file": str(path), "error": str(exc)})
            continue
        out.append(
            {
                "subject": a,
                "object": b,
                "file": str(path),
                "mapping_set_id": ms.id,
                "rows": len(ms.mappings),
                "status": ms.status_counts(),
                "problems": len(problems),
            }
        )
    return out


def pending_review(path_or_pair: str | Path | Sequence[str]) -> list[Mapping]:
    """The rows waiting for a human decision (suggestions and contested pairs), in the
    orientation asked for; the review queue turns each into a mapping item and answers it
    with :func:`record_decision`."""
    ms = load_mapping_set(path_or_pair)
    return [m for m in ms.mappings if m.status in (Status.SUGGESTION, Status.CONTESTED)]


# -- writing ---------------------------------------------------------------------------


def render_mapping_set(ms: MappingSet) -> str:
    """The file text of a set in its on-disk orientation (header kept verbatim)."""
    file_set = ms.inverse() if ms.inverted else ms
    header = file_set.header_text
    if not header.strip():
        header = yaml.safe_dump(file_set.header, sort_keys=False, allow_unicode=True, width=100)
    out = io.StringIO()
    for line in header.splitlines():
        out.write(f"#{line}\n")
    columns = list(file_set.columns)
    for m in file_set.mappings:
        for name in m.extra:
            if name not in columns:
                columns.append(name)
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for m in file_set.mappings:
        cells = m.cells()
        writer.writerow([cells.get(name, "") for name in columns])
    return out.getvalue()


def write_mapping_set(ms: MappingSet, path: str | Path | None = None) -> Path:
    """Write atomically (temporary file in the same directory, then ``os.replace``)."""
    target = Path(path) if path is not None else ms.path
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_mapping_set(ms)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def new_mapping_set(a: str, b: str, path: Path) -> MappingSet:
    """An empty set for the pair, with a complete SSSOM header."""
    books = {x: load_codebook(x) for x in (a, b)}
    header = {
        "curie_map": {
            **BASE_CURIE_MAP,
            a: f"urn:ptmcoder:code:{a}:",
            b: f"urn:ptmcoder:code:{b}:",
        },
        "mapping_set_id": f"urn:ptmcoder:crosswalk:{a}__{b}",
        "mapping_set_title": f"{books[a].title} -> {books[b].title}",
        "license": "https://opensource.org/licenses/MIT",
        "creator_id": ["ptmcoder:map-suggest"],
        "subject_source": f"ptmcoder:codebook/{a}",
        "subject_source_version": books[a].version,
        "object_source": f"ptmcoder:codebook/{b}",
        "object_source_version": books[b].version,
    }
    return MappingSet(path=path, subject_book=a, object_book=b, header=header, mappings=[])


def _writable_path(path: Path) -> Path:
    """Crosswalks are edited in the workspace; a bundled file is copied there first."""
    ws_dir = workspace() / "codebooks" / "crosswalks"
    if path.parent.resolve() == ws_dir.resolve() or not path.is_relative_to(
        bundled_dir("codebooks")
    ):
        return path
    return ws_dir / path.name


def _next_record_id(ms: MappingSet) -> str:
    a, b = ms.file_pair
    numbers = [
        int(match.group(1))
        for m in ms.mappings
        if (match := re.search(r"/(\d+)$", m.record_id or ""))
    ]
    return f"ptmcoder:{a}__{b}/{max(numbers, default=0) + 1:03d}"


# -- review decisions -------------------------------------------------------------------


def _curie(code: str, book: str) -> str:
    if code == NO_TERM or code.startswith(f"{book}:"):
        return code
    return f"{book}:{code}"


def record_decision(
    mapping_set_path: str | Path | Sequence[str],
    subject_id: str,
    object_id: str,
    predicate: str,
    decision: str,
    reviewer: str,
    date: str,
    new_predicate: str | None = None,
) -> Mapping:
    """Write a human decision on a pair into its crosswalk file as a reviewed row
    (``reviewer_id``, ``mapping_date``, ``review_date``): ``accept`` keeps the predicate,
    ``reject`` adds ``predicate_modifier: Not``, ``change`` sets ``new_predicate``. Codes may be
    CURIEs or bare ids, in the orientation of ``mapping_set_path``. The file is rewritten
    atomically and re-validated first. Returns the row as written (file orientation)."""
    if decision not in ("accept", "reject", "change"):
        raise PtmcoderError(f"unknown decision {decision!r}", hint="use accept, reject or change")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise PtmcoderError(f"date {date!r} is not YYYY-MM-DD")
    if not reviewer.strip():
        raise PtmcoderError("a decision needs a reviewer")
    predicates = {p.value for p in Predicate}
    if predicate not in predicates:
        raise PtmcoderError(f"unknown predicate {predicate!r}", hint=", ".join(sorted(predicates)))
    if decision == "change" and new_predicate not in predicates:
        raise PtmcoderError(
            "a 'change' decision needs new_predicate", hint=", ".join(sorted(predicates))
        )
    path, inverted = _resolve(mapping_set_path)
    ms, problems = read_mapping_file(path)
    if problems:
        raise ValidationError(problems, hint="fix the file before recording decisions")
    if isinstance(mapping_set_path, tuple | list) and inverted:
        view_a, view_b = mapping_set_path
    else:
        view_a, view_b = (ms.object_book, ms.subject_book) if inverted else ms.file_pair
    subject = _curie(subject_id, view_a)
    obj = _curie(object_id, view_b)
    pred, changed = Predicate(predicate), Predicate(new_predicate) if new_predicate else None
    if inverted:  # turn the decision into the file's orientation
        subject, obj = obj, subject
        pred = INVERSE[pred]
        changed = INVERSE[changed] if changed else None
    row = next(
        (
            m
            for m in ms.mappings
            if m.subject_id == subject and m.object_id == obj and m.predicate_id == pred
        ),
        None,
    )
    reviewer_id = reviewer if ":" in reviewer else f"reviewer:{reviewer}"
    note = f"{decision} by {reviewer} on {date}"
    if row is None:
        row = Mapping(
            subject_id=subject,
            predicate_id=pred.value,
            object_id=obj,
            mapping_justification=Justification.MANUAL.value,
            record_id=_next_record_id(ms),
            author_id=reviewer_id,
            comment=note,
        )
        ms.mappings.append(row)
    else:
        row.comment = f"{row.comment} | {note}" if row.comment else note
    row.reviewer_id = reviewer_id
    row.reviewer_label = "" if ":" in reviewer else reviewer
    row.mapping_date = date
    row.review_date = date
    if decision == "reject":
        row.predicate_modifier = "Not"
    else:
        row.predicate_modifier = ""
        row.predicate_id = (changed or pred).value
    for label_attr, code_attr, book_id in (
        ("subject_label", "subject_code", ms.subject_book),
        ("object_label", "object_code", ms.object_book),
    ):
        code = getattr(row, code_attr)
        if code and not getattr(row, label_attr):
            info = load_codebook(book_id).index().get(code)
            setattr(row, label_attr, info.node.name if info else "")
    target = _writable_path(path)
    check = MappingSet(
        path=target,
        subject_book=ms.subject_book,
        object_book=ms.object_book,
        header=ms.header,
        mappings=ms.mappings,
        header_text=ms.header_text,
        columns=ms.columns,
    )
    problems = _row_problems(check, ms.header.get("curie_map") or {})
    if problems:
        raise ValidationError(problems, hint="the decision would make the mapping set invalid")
    write_mapping_set(check, target)
    _assign_status(check)
    return row


# -- suggestions -------------------------------------------------------------------------


def _node_text(node: Any) -> str:
    parts = [node.name + ".", node.definition]
    parts += list(node.include)
    parts += [ex.description for ex in node.examples]
    return " ".join(" ".join(parts).split())


def _nodes(book: Codebook, level: str | None) -> list[Any]:
    if level is None or level in ("leaf", "leaves"):
        return book.leaves()
    return book.nodes_at(level)


def _no_term_codes(ms: MappingSet, side: str) -> set[str]:
    """Codes a stated or reviewed row says have no counterpart (on this side)."""
    attr = f"{side}_code"
    return {
        getattr(m, attr)
        for m in ms.mappings
        if m.no_term
        and not m.negated
        and m.status in (Status.STATED, Status.REVIEWED)
        and getattr(m, attr)
    }


def suggest(
    a: str,
    b: str,
    top_k: int = 3,
    threshold: float = 0.5,
    *,
    level_a: str | None = None,
    level_b: str | None = None,
    embedder: str = "auto",
    warn: Any = None,
) -> list[Mapping]:
    """Candidate ``skos:relatedMatch`` rows between the codes of A and B (leaves by default)
    from the cosine similarity of their names, definitions, criteria and examples, embedded
    with all-MiniLM-L6-v2 (offline; TF-IDF when it is not installed). For each code on either
    side its ``top_k`` most similar codes on the other side scoring at least ``threshold``.
    Pairs already in the crosswalk and codes a paper or reviewer says have no counterpart are
    skipped. The rows are suggestions: a human decides (:func:`record_decision`)."""
    import numpy as np

    from ptmcoder.annotate.embedded import make_embedder

    if top_k < 1:
        raise PtmcoderError("top_k must be at least 1")
    if not 0 <= threshold <= 1:
        raise PtmcoderError("threshold must be in [0, 1]")
    book_a, book_b = load_codebook(a), load_codebook(b)
    nodes_a, nodes_b = _nodes(book_a, level_a), _nodes(book_b, level_b)
    try:
        existing = load_mapping_set((a, b))
    except NotFoundError:
        existing = None
    known_pairs: set[tuple[str, str]] = set()
    skip_a: set[str] = set()
    skip_b: set[str] = set()
    if existing is not None:
        known_pairs = {(m.subject_code or "", m.object_code or "") for m in existing.mappings}
        nf_a, nf_b = _no_term_codes(existing, "subject"), _no_term_codes(existing, "object")
        index_a, index_b = book_a.index(), book_b.index()
        skip_a = {n.id for n in nodes_a if {n.id, *index_a[n.id].ancestors} & nf_a}
        skip_b = {n.id for n in nodes_b if {n.id, *index_b[n.id].ancestors} & nf_b}
    texts_a = [_node_text(n) for n in nodes_a]
    texts_b = [_node_text(n) for n in nodes_b]
    model = make_embedder(embedder, warn=warn)
    model.fit(texts_a + texts_b)
    va, vb = model.encode(texts_a), model.encode(texts_b)
    sim = np.asarray(va @ vb.T, dtype=float)
    measure = (
        "cosine similarity of all-MiniLM-L6-v2 sentence embeddings"
        if model.kind == "minilm"
        else "cosine similarity of TF-IDF vectors (word 1-2 grams)"
    )
    justification = (
        Justification.SEMANTIC_SIMILARITY if model.kind == "minilm" else Justification.LEXICAL
    )
    picked: dict[tuple[int, int], float] = {}
    for i in range(len(nodes_a)):
        for j in np.argsort(-sim[i])[:top_k]:
            if sim[i, j] >= threshold:
                picked[(i, int(j))] = float(sim[i, j])
    for j in range(len(nodes_b)):
        for i in np.argsort(-sim[:, j])[:top_k]:
            if sim[i, j] >= threshold:
                picked[(int(i), j)] = float(sim[i, j])
    out: list[Mapping] = []
    for (i, j), score in sorted(picked.items(), key=lambda kv: (-kv[1], kv[0])):
        na, nb = nodes_a[i], nodes_b[j]
        if (na.id, nb.id) in known_pairs or na.id in skip_a or nb.id in skip_b:
            continue
        out.append(
            Mapping(
                subject_id=f"{a}:{na.id}",
                subject_label=na.name,
                predicate_id=Predicate.RELATED.value,
                object_id=f"{b}:{nb.id}",
                object_label=nb.name,
                mapping_justification=justification.value,
                author_id="ptmcoder:map-suggest",
                confidence=round(score, 4),
                similarity_score=round(score, 4),
                similarity_measure=measure,
                mapping_tool=f"ptmcoder map suggest ({model.name})",
                comment="suggestion: needs a human decision (ptmcoder review)",
            )
        )
    return out


def add_suggestions(a: str, b: str, mappings: list[Mapping], date: str) -> tuple[Path, int]:
    """Append suggestion rows (oriented A -> B) to the pair's crosswalk file, creating it
    when there is none; returns (file, rows added)."""
    try:
        path, inverted = _resolve((a, b))
        ms, problems = read_mapping_file(path)
        if problems:
            raise ValidationError(problems, hint="fix the file before adding suggestions")
    except NotFoundError:
        path = workspace() / "codebooks" / "crosswalks" / f"{a}__{b}{SUFFIX}"
        ms, inverted = new_mapping_set(a, b, path), False
    present = {(m.subject_id, m.object_id) for m in ms.mappings}
    added = 0
    for m in mappings:
        row = m.inverse() if inverted else replace(m, extra=dict(m.extra))
        row.inverted = False
        if (row.subject_id, row.object_id) in present:
            continue
        row.record_id = _next_record_id(ms)
        row.mapping_date = date
        ms.mappings.append(row)
        present.add((row.subject_id, row.object_id))
        added += 1
    target = _writable_path(path)
    ms.path = target
    write_mapping_set(ms, target)
    return target, added


# -- coverage ------------------------------------------------------------------------------


def _evidence(reviewed_only: bool, include_suggestions: bool) -> Evidence:
    if reviewed_only and include_suggestions:
        raise PtmcoderError("--reviewed-only and --with-suggestions exclude each other")
    if reviewed_only:
        return Evidence.REVIEWED
    return Evidence.ALL if include_suggestions else Evidence.CURATED


@dataclass
class NodeCoverage:
    id: str
    name: str
    level: str
    n_codes: int
    n_covered: int
    status: str  # overlap | new | contested | unmapped
    rows: list[Mapping]

    @property
    def share(self) -> float:
        return self.n_covered / self.n_codes if self.n_codes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "level": self.level,
            "codes": self.n_codes,
            "covered": self.n_covered,
            "share": round(self.share, 4),
            "status": self.status,
            "rows": [
                {
                    "record_id": m.record_id,
                    "subject_id": m.subject_id,
                    "predicate_id": m.predicate_id,
                    "object_id": m.object_id,
                    "status": m.status.value,
                    "comment": m.comment,
                }
                for m in self.rows
            ],
        }


@dataclass
class CoverageResult:
    a: str
    b: str
    evidence: Evidence
    levels: list[str]
    nodes: list[NodeCoverage]
    file: str

    def new(self) -> list[NodeCoverage]:
        return [n for n in self.nodes if n.status == "new"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.a,
            "target": self.b,
            "file": self.file,
            "evidence": self.evidence.value,
            "levels": self.levels,
            "statuses": {
                "overlap": "a code in the node has a positive mapping into the target",
                "new": "a stated or reviewed row says the node has no counterpart",
                "contested": "the texts pull two ways (stated NoTermFound and a positive pair)",
                "unmapped": "no row: the texts are silent",
            },
            "nodes": [n.to_dict() for n in self.nodes],
            "new": [n.id for n in self.new()],
        }


def coverage(
    a: str,
    b: str,
    level: str | None = None,
    reviewed_only: bool = False,
    include_suggestions: bool = False,
) -> CoverageResult:
    """For each node of A at ``level`` (every level above the leaves when None): the share of
    its leaf codes with a positive mapping into B, and a status naming the rows behind it.
    Counted rows: what papers state and reviewers decided (``reviewed_only``: decisions only;
    ``include_suggestions``: also suggestions and contested pairs)."""
    evidence = _evidence(reviewed_only, include_suggestions)
    ms = load_mapping_set((a, b))
    book = load_codebook(a)
    index = book.index()
    if level is None:
        levels = book.levels[:-1] or book.levels
    else:
        book.level_index(level) if level not in ("leaf", "leaves") else None
        levels = [level]
    allowed = _ALLOWED[evidence]
    by_subject: dict[str, list[Mapping]] = {}
    for m in ms.mappings:
        if m.subject_code:
            by_subject.setdefault(m.subject_code, []).append(m)
    nodes: list[NodeCoverage] = []
    for lvl in levels:
        for node in _nodes(book, lvl):
            subtree = [node.id] + [
                code
                for code, info in index.items()
                if node.id in info.ancestors and not info.special
            ]
            leaves = [c for c in subtree if index[c].node.is_leaf]
            up = [node.id, *index[node.id].ancestors]
            positive = [
                m
                for c in subtree
                for m in by_subject.get(c, [])
                if m.positive and m.status in allowed
            ]
            covered = {
                c
                for c in leaves
                if any(m.positive and m.status in allowed for m in by_subject.get(c, []))
            }
            nf_statuses = allowed | ({Status.CONTESTED} if Status.STATED in allowed else set())
            nf = [
                m
                for c in up
                for m in by_subject.get(c, [])
                if m.no_term and not m.negated and m.status in nf_statuses
            ]
            contested = [
                m for c in subtree for m in by_subject.get(c, []) if m.status is Status.CONTESTED
            ]
            if contested and nf:
                status = "contested"
            elif positive:
                status = "overlap"
            elif nf:
                status = "new"
            else:
                status = "unmapped"
            rows: list[Mapping] = []
            seen: set[int] = set()
            for m in [*positive, *nf, *contested]:
                if id(m) not in seen:
                    seen.add(id(m))
                    rows.append(m)
            nodes.append(
                NodeCoverage(node.id, node.name, lvl, len(leaves), len(covered), status, rows)
            )
    return CoverageResult(a, b, evidence, levels, nodes, str(ms.path))


def coverage_targets(a: str) -> list[str]:
    """Codebooks that have a crosswalk with A (either direction)."""
    out = []
    for x, y in sorted(set_files()):
        if x == a:
            out.append(y)
        elif y == a:
            out.append(x)
    return list(dict.fromkeys(out))


# Figure 4 of Banyongrakkul et al.: red Humbatova, blue Lai, yellow Tan, green Taraghi.
FIG4_COLOURS = {
    "humbatova2020": "#d62728",
    "lai": "#1f77b4",
    "tan2024": "#e6c619",
    "taraghi": "#2ca02c",
}


def coverage_chart(results: list[CoverageResult], path: str | Path, level: str) -> Path:
    """A PNG in the style of Banyongrakkul et al. Fig. 4: per node of A, one bar per target
    taxonomy with the share of overlapping codes; an empty (white) bar marks a new node."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not results:
        raise PtmcoderError("no coverage to draw")
    nodes = [n for n in results[0].nodes if n.level == level]
    n_targets = len(results)
    height = max(3.0, 0.32 * len(nodes) * max(1, n_targets) + 1.2)
    fig, ax = plt.subplots(figsize=(9, height))
    bar_h = 0.8 / n_targets
    palette = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    handles = []
    for t, result in enumerate(results):
        by_id = {n.id: n for n in result.nodes if n.level == level}
        colour = FIG4_COLOURS.get(result.b, palette[t % len(palette)])
        for i, node in enumerate(nodes):
            cov = by_id[node.id]
            y = i + t * bar_h
            unknown = cov.status == "unmapped"
            ax.barh(
                y,
                100,
                height=bar_h * 0.9,
                color="#eeeeee" if unknown else "white",
                hatch="///" if unknown else None,
                edgecolor="#999999",
                linewidth=0.5,
            )
            if cov.share > 0:
                ax.barh(y, cov.share * 100, height=bar_h * 0.9, color=colour)
            mark = {"new": "new", "contested": "contested", "unmapped": "no row"}.get(
                cov.status, ""
            )
            ax.text(101, y, f"{result.b} {cov.share:.0%} {mark}".strip(), va="center", fontsize=7)
        handles.append(Patch(facecolor=colour, label=f"{result.b}: overlap"))
    handles.append(Patch(facecolor="white", edgecolor="#999999", label="new (stated)"))
    handles.append(
        Patch(facecolor="#eeeeee", edgecolor="#999999", hatch="///", label="no row (text silent)")
    )
    ax.set_yticks([i + bar_h * (n_targets - 1) / 2 for i in range(len(nodes))])
    ax.set_yticklabels([f"{n.name} ({n.n_codes})" for n in nodes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 135)
    ax.set_xlabel("share of codes overlapping the target taxonomy (%)")
    ax.set_title(f"{results[0].a}: overlap per {level} (evidence: {results[0].evidence.value})")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- translation -----------------------------------------------------------------------------


def _compose(relation: Relation) -> Relation | None:
    """The relation of a code to the target when the mapping row is on its ancestor."""
    if relation in (Relation.EXACT, Relation.CLOSE, Relation.NARROW):
        return Relation.NARROW
    if relation is Relation.RELATED:
        return Relation.RELATED
    return None  # the ancestor is broader than the target: nothing follows for the code


@dataclass
class TranslateResult:
    source: str
    target: str
    relations: tuple[str, ...]
    level: str | None
    evidence: Evidence
    table: pd.DataFrame
    untranslated: dict[str, int]
    reasons: dict[str, str]
    n_input: int
    n_translated: int
    n_empty: int
    file: str
    source_counts: dict[str, int] = field(default_factory=dict)
    target_counts: dict[str, int] = field(default_factory=dict)
    source_level: str | None = None
    source_level_counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_untranslated(self) -> int:
        return sum(self.untranslated.values())

    @property
    def conserved(self) -> bool:
        return self.n_input == self.n_translated + self.n_untranslated

    def to_dict(self) -> dict[str, Any]:
        share = self.n_untranslated / self.n_input if self.n_input else 0.0
        return {
            "source": self.source,
            "target": self.target,
            "file": self.file,
            "relations": list(self.relations),
            "level": self.level,
            "evidence": self.evidence.value,
            "n_input": self.n_input,
            "n_translated": self.n_translated,
            "n_untranslated": self.n_untranslated,
            "untranslated_share": round(share, 4),
            "n_output_rows": int(self.table["code"].notna().sum()),
            "n_empty_rows": self.n_empty,
            "conserved": self.conserved,
            "untranslated": [
                {"code": c, "count": n, "reason": self.reasons.get(c, "")}
                for c, n in sorted(self.untranslated.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "source_counts": self.source_counts,
            "source_level": self.source_level,
            "source_level_counts": self.source_level_counts,
            "target_counts": self.target_counts,
        }


def _parse_relations(relations: Iterable[str] | str) -> tuple[str, ...]:
    items = relations.split(",") if isinstance(relations, str) else list(relations)
    out = []
    for item in items:
        item = item.strip().lower()
        if not item:
            continue
        try:
            out.append(Relation(item).value)
        except ValueError:
            raise PtmcoderError(
                f"unknown relation {item!r}",
                hint=f"relations are {', '.join(r.value for r in Relation)}",
            ) from None
    if not out:
        raise PtmcoderError("no relation given", hint="e.g. --relations exact,close,narrow")
    return tuple(dict.fromkeys(out))


def translate(
    codings: pd.DataFrame,
    source: str,
    target: str,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    level: str | None = None,
    include_suggestions: bool = False,
    reviewed_only: bool = False,
) -> TranslateResult:
    """Translate codings (columns ``unit_id`` or ``unit``, ``rater``, ``code``) from codebook
    ``source`` into ``target`` through their crosswalk.

    A code uses the rows on itself, else those on its nearest ancestor that has any (an
    ancestor's exact/close/broad row makes the code *narrower* than the target; a related row
    stays related). Only rows whose relation is in ``relations`` translate; one code may give
    several target codes (one output row each) and several codes may give the same one (kept
    once per unit and rater). ``level`` lifts target codes to that level of the target
    codebook. Every input coding is translated or counted in ``untranslated`` with a reason.
    Counted rows: stated and reviewed (``include_suggestions`` adds suggestions and contested
    pairs; ``reviewed_only`` keeps human decisions only)."""
    evidence = _evidence(reviewed_only, include_suggestions)
    wanted = set(_parse_relations(relations))
    ms = load_mapping_set((source, target))
    book_s, book_t = load_codebook(source), load_codebook(target)
    index_s, index_t = book_s.index(), book_t.index()
    if level is not None and level not in ("leaf", "leaves"):
        book_t.level_index(level)
    unit_col = "unit_id" if "unit_id" in codings.columns else "unit"
    missing = [c for c in (unit_col, "rater", "code") if c not in codings.columns]
    if missing:
        raise PtmcoderError(
            f"codings lack column(s) {', '.join(missing)}",
            hint="a long table has one row per coding: unit_id (or unit), rater, code",
        )
    allowed = _ALLOWED[evidence]
    by_subject: dict[str, list[Mapping]] = {}
    for m in ms.mappings:
        if m.subject_code and m.status in allowed and not m.negated:
            by_subject.setdefault(m.subject_code, []).append(m)

    plan: dict[str, list[tuple[str, str, str]] | str] = {}

    def resolve(code: str) -> list[tuple[str, str, str]] | str:
        """(target code, relation, record id) triples, or the reason it cannot translate."""
        if code not in index_s:
            return f"not a code of {source}"
        chain = [code, *reversed(index_s[code].ancestors)]
        for depth, node in enumerate(chain):
            rows = by_subject.get(node)
            if not rows:
                continue
            if any(m.no_term for m in rows) and not any(m.positive for m in rows):
                nf = next(m for m in rows if m.no_term)
                where = "" if depth == 0 else f" (row on ancestor {node})"
                return (
                    f"no counterpart in {target}: {nf.record_id or 'line ' + str(nf.line)}{where}"
                )
            out: list[tuple[str, str, str]] = []
            seen_relations: set[str] = set()
            for m in rows:
                if not m.positive:
                    continue
                rel = m.relation if depth == 0 else _compose(m.relation)
                if rel is None:
                    continue
                seen_relations.add(rel.value)
                if rel.value not in wanted:
                    continue
                tcode = m.object_code or ""
                if level is not None:
                    lifted = book_t.ancestor_at(tcode, level) if tcode in index_t else None
                    if lifted is None:
                        seen_relations.add(f"{rel.value} above level {level}")
                        continue
                    tcode = lifted
                rid = (m.record_id or f"line {m.line}") + ("" if depth == 0 else f" via {node}")
                out.append((tcode, rel.value, rid))
            if out:
                return out
            return (
                f"only {', '.join(sorted(seen_relations))} mapping(s), not in --relations"
                if seen_relations
                else "no usable mapping"
            )
        return "no mapping"

    records: list[dict[str, Any]] = []
    untranslated: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    source_counts: Counter[str] = Counter()
    n_input = n_translated = n_empty = 0
    for unit, rater, code in zip(
        codings[unit_col].astype("string"),
        codings["rater"].astype("string"),
        codings["code"].astype("string"),
        strict=True,
    ):
        if pd.isna(code) or not str(code).strip():
            n_empty += 1
            records.append(
                {
                    "unit_id": unit,
                    "rater": rater,
                    "code": pd.NA,
                    "source_code": pd.NA,
                    "relation": pd.NA,
                    "mapping_id": pd.NA,
                }
            )
            continue
        code = str(code).strip()
        n_input += 1
        source_counts[code] += 1
        if code not in plan:
            plan[code] = resolve(code)
        result = plan[code]
        if isinstance(result, str):
            untranslated[code] += 1
            reasons[code] = result
            continue
        n_translated += 1
        for tcode, rel, rid in result:
            records.append(
                {
                    "unit_id": unit,
                    "rater": rater,
                    "code": tcode,
                    "source_code": code,
                    "relation": rel,
                    "mapping_id": rid,
                }
            )
    columns = ["unit_id", "rater", "code", "source_code", "relation", "mapping_id"]
    table = pd.DataFrame(records, columns=columns).astype("string")
    if len(table):
        table = (
            table.groupby(["unit_id", "rater", "code"], dropna=False, sort=False)
            .agg(
                source_code=("source_code", lambda s: ";".join(dict.fromkeys(s.dropna()))),
                relation=("relation", lambda s: ";".join(dict.fromkeys(s.dropna()))),
                mapping_id=("mapping_id", lambda s: ";".join(dict.fromkeys(s.dropna()))),
            )
            .reset_index()
            .astype("string")
        )
        for col in ("source_code", "relation", "mapping_id"):
            table[col] = table[col].mask(table[col] == "")
    target_counts = Counter(table["code"].dropna().tolist()) if len(table) else Counter()
    return TranslateResult(
        source=source,
        target=target,
        relations=tuple(r for r in (x.value for x in Relation) if r in wanted),
        level=level,
        evidence=evidence,
        table=table,
        untranslated=dict(untranslated),
        reasons=reasons,
        n_input=n_input,
        n_translated=n_translated,
        n_empty=n_empty,
        file=str(ms.path),
        source_counts=dict(source_counts.most_common()),
        target_counts=dict(target_counts.most_common()),
    )


def resolve_labels(codings: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Replace free-text labels in ``code`` by codebook ids matched on id, name or alias
    (case-insensitive, whitespace collapsed); labels that match nothing are kept as they are
    (and later reported as untranslated)."""
    lookup: dict[str, str] = {}
    for code, info in book.index().items():
        for name in (code, info.node.name, *info.node.aliases):
            lookup.setdefault(" ".join(name.lower().split()), code)
    out = codings.copy()
    out["code"] = out["code"].map(
        lambda c: lookup.get(" ".join(str(c).lower().split()), c) if isinstance(c, str) else c
    )
    return out


def read_codings(path: str | Path, code_column: str = "code") -> pd.DataFrame:
    """Codings to translate: a long table (CSV/Parquet/JSONL with unit or unit_id, rater,
    code), a run directory or its ``annotations.jsonl``. ``code_column`` names another column
    holding the codes (e.g. ``taxonomy_tag``); a table without ``rater`` gets rater ``all``."""
    from ptmcoder.agreement.io import annotations_to_long
    from ptmcoder.errors import InputRecordError
    from ptmcoder.tables import read_table

    path = Path(path)
    if path.is_dir() or path.name.endswith("annotations.jsonl"):
        df = annotations_to_long(path)
    else:
        df = read_table(path)
    if code_column != "code":
        if code_column not in df.columns:
            raise InputRecordError(str(path), "header", code_column, "no such column")
        df = df.drop(columns=[c for c in ("code",) if c in df.columns]).rename(
            columns={code_column: "code"}
        )
    unit = next((c for c in ("unit_id", "unit", "id") if c in df.columns), None)
    if unit is None or "code" not in df.columns:
        raise InputRecordError(
            str(path),
            "header",
            None,
            f"need a unit column (unit_id, unit or id) and a code column; found "
            f"{', '.join(map(str, df.columns))}",
        )
    out = pd.DataFrame(
        {
            "unit_id": df[unit].astype("string"),
            "rater": df["rater"].astype("string") if "rater" in df.columns else "all",
            "code": df["code"].astype("string"),
        }
    )
    return out


def coverage_many(
    a: str,
    targets: Sequence[str] | None = None,
    level: str | None = None,
    reviewed_only: bool = False,
    include_suggestions: bool = False,
) -> list[CoverageResult]:
    """:func:`coverage` of A into each target (default: every codebook with a crosswalk to A)."""
    targets = list(targets) if targets else coverage_targets(a)
    if not targets:
        raise NotFoundError(
            f"no crosswalk involves {a!r}", hint=f"start one with `ptmcoder map suggest {a} B`"
        )
    return [coverage(a, b, level, reviewed_only, include_suggestions) for b in targets]


def translate_file(
    path: str | Path,
    source: str,
    target: str,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    level: str | None = None,
    include_suggestions: bool = False,
    reviewed_only: bool = False,
    code_column: str = "code",
    aliases: bool = False,
    source_level: str | None = None,
) -> TranslateResult:
    """:func:`translate` the codings in a file (see :func:`read_codings`). ``aliases`` first
    matches free-text labels to source codes by id, name or alias; ``source_level`` adds the
    input distribution at that level of the source codebook (``source_level_counts``)."""
    codings = read_codings(path, code_column)
    book = load_codebook(source)
    if aliases:
        codings = resolve_labels(codings, book)
    result = translate(
        codings, source, target, relations, level, include_suggestions, reviewed_only
    )
    if source_level is not None:
        if source_level not in ("leaf", "leaves"):
            book.level_index(source_level)
        index = book.index()
        lifted: Counter[str] = Counter()
        for code, n in result.source_counts.items():
            up = book.ancestor_at(code, source_level) if code in index else None
            lifted[up or f"(not in {source}: {code})"] += n
        result.source_level_counts = dict(lifted.most_common())
        result.source_level = source_level
    return result
