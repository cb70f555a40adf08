"""Crosswalk files: locating them, the one reader (:func:`load_mapping_set`) with its
validation, writing (atomic), and recording a human decision (:func:`record_decision`)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ptmcoder.codebook import Codebook, resolve_codebook_path
from ptmcoder.codebook import load_codebook as _load_codebook_uncached
from ptmcoder.crosswalk.model import (
    BASE_CURIE_MAP,
    FLOAT_COLUMNS,
    INVERSE,
    NO_TERM,
    PAPER_PREFIX,
    REQUIRED_COLUMNS,
    REQUIRED_HEADER,
    SUFFIX,
    Justification,
    Mapping,
    MappingSet,
    Predicate,
    Status,
)
from ptmcoder.errors import NotFoundError, Problem, PtmcoderError, ValidationError
from ptmcoder.files import write_text
from ptmcoder.paths import bundled_dir, workspace

_BOOKS: dict[tuple[str, int], Codebook] = {}


def load_codebook(ref: str) -> Codebook:
    """:func:`ptmcoder.codebook.load_codebook`, parsed once per file version: validating a
    crosswalk looks its two codebooks up for every row."""
    path = resolve_codebook_path(ref)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _BOOKS:
        _BOOKS[key] = _load_codebook_uncached(ref)
    return _BOOKS[key]


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


def resolve_mapping_set(path_or_pair: str | Path | Sequence[str]) -> tuple[Path, bool]:
    """The file of a mapping set, and whether it holds the pair inverted: ``path_or_pair``
    is a file path, ``(A, B)``, ``"A__B"`` or ``"A:B"``; a pair found only as ``B__A``
    gives that file and True. :class:`~ptmcoder.errors.NotFoundError` lists the known
    crosswalks."""
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


#: the longest cell of a mapping set's table, in characters (the csv module's default
#: field limit, 128 KiB): a longer one is a located error, not a csv traceback
MAX_CELL = 131_072


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; bytes that are not UTF-8 are a located error (line and
    column of the first one)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"mapping set file not found: {path}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValidationError(
            [
                Problem(
                    str(path),
                    f"line {line}, column {column} (byte {exc.start})",
                    f"byte {raw[exc.start]:#04x} is not UTF-8",
                )
            ],
            hint="save the mapping set as UTF-8",
        ) from None


def _table_rows(table_text: str, file: str, first_line: int) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each row of the TSV table; a cell over :data:`MAX_CELL`
    characters (or any other csv error) is a located error."""
    reader = csv.reader(io.StringIO(table_text), delimiter="\t")
    rows: list[tuple[int, list[str]]] = []
    while True:
        start = first_line + reader.line_num
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            where = f"line {first_line + reader.line_num - 1}"
            if "field larger than field limit" in str(exc):
                message = f"a cell longer than {MAX_CELL:,} characters (the limit, MAX_CELL)"
            else:
                message = f"not a tab-separated row: {exc}"
            raise ValidationError([Problem(file, where, message)]) from None
        long = next((i for i, cell in enumerate(cells, start=1) if len(cell) > MAX_CELL), None)
        if long is not None:  # the csv module's limit is process-wide, and raised elsewhere
            raise ValidationError(
                [
                    Problem(
                        file,
                        f"line {start}, column {long}",
                        f"a cell of {len(cells[long - 1]):,} characters, over the limit of "
                        f"{MAX_CELL:,} (MAX_CELL)",
                    )
                ]
            )
        rows.append((start, cells))


def read_mapping_file(path: str | Path) -> tuple[MappingSet, list[Problem]]:
    """Parse a file without raising on content problems: the set and every problem found."""
    path = Path(path)
    file = str(path)
    problems: list[Problem] = []
    text = _read_text(path)
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
    given_map = header.get("curie_map")
    curie_map: dict[str, Any] = given_map if isinstance(given_map, dict) else {}
    numbered = _table_rows(table_text, file, first_line)
    rows = [cells for _, cells in numbered]
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
    for lineno, cells in numbered[1:]:
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
            if name in FLOAT_COLUMNS:
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
            elif name in known and name not in ("extra", "line", "status", "inverted", "judge"):
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
    path, inverted = resolve_mapping_set(path_or_pair)
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
    out: list[dict[str, Any]] = []
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
    """Write the set to ``path`` (default: its own file) with
    :func:`ptmcoder.files.write_text`: atomic and durable, review decisions live here."""
    target = Path(path) if path is not None else ms.path
    return write_text(target, render_mapping_set(ms))


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


def writable_path(path: Path) -> Path:
    """Where an edit of crosswalk file ``path`` is written: crosswalks are edited in the
    workspace, so a bundled file's edited copy goes to the workspace's
    ``codebooks/crosswalks/`` (and is found there first); any other file in place."""
    ws_dir = workspace() / "codebooks" / "crosswalks"
    if path.parent.resolve() == ws_dir.resolve() or not path.is_relative_to(
        bundled_dir("codebooks")
    ):
        return path
    return ws_dir / path.name


def next_record_id(ms: MappingSet) -> str:
    """The next free ``record_id`` of a set: ``ptmcoder:A__B/NNN``, one above the highest
    number in use (file orientation)."""
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
    path, inverted = resolve_mapping_set(mapping_set_path)
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
            record_id=next_record_id(ms),
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
    target = writable_path(path)
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
