"""Codings made in a QDA program, back from a REFI-QDA project (``.qdpx``) as a long table.

:func:`import_codings` reads the project's ``.qde`` with a streaming (SAX) parser,
so a large project is never held as a tree, and returns one row per unit, rater
and code (columns ``unit, rater, code``, what ``ptmcoder agree`` reads). A coding
counts for its unit whether it sits on a selection or on the whole source.

- **Rater**: the ``User`` named by the coding's ``creatingUser`` (else the
  selection's, the source's, the project's creator; else ``unknown``).
- **Code**: the code's ptmcoder id when its GUID is ptmcoder's
  (:func:`ptmcoder.export.refi.code_guid` of the ``--codebook``, or of any codebook
  found); else, with a codebook, the node whose name, id or alias equals the code's
  name; else (no codebook) an id derived from the name, reported.
- **Unit**: with a corpus, the unit whose GUID (:func:`ptmcoder.export.refi.unit_guid`)
  or id is the source's GUID or name (the sources ptmcoder wrote), else the unit
  whose text equals the source's text ignoring case and whitespace (projects made
  from the same posts elsewhere). Without a corpus, only sources ptmcoder wrote
  (GUID = unit GUID of the name) are matched.

- **Offsets**: the unit of ``startPosition``/``endPosition`` (code points as the
  specification and QualCoder count, or UTF-16 code units as NVivo counts) is taken
  from ``offsets`` when given, from the project when ptmcoder wrote it (its
  description says ``offsets=...``), else detected: each reading of the offsets
  (each unit, and for sources with ``\r\n`` that line ending as one position or
  two) is scored by how many selections start and end inside the text on a word
  boundary, and the best is taken (ties: UTF-16 for NVivo, code points otherwise;
  ``\r\n`` as one position for ATLAS.ti, two otherwise). Which was used, how, and
  the scores are in :attr:`CodingsImport.offsets`.

Everything that cannot be read is a :class:`~ptmcoder.errors.Problem` naming the
``.qde`` line and the element: codings of unknown codes, sources that match no
unit, selections outside their text, codings without a code. Malformed XML stops
the import with a :class:`~ptmcoder.errors.ValidationError` at its line and column,
naming the element it was inside.
"""

from __future__ import annotations

import re
import xml.sax
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.handler import ContentHandler

import pandas as pd

from ptmcoder import codebook as cb
from ptmcoder.errors import Problem, PtmcoderError, ValidationError
from ptmcoder.export.qdc import known_code_guids, slug
from ptmcoder.export.refi import (
    MAX_DEPTH,
    OFFSET_UNITS,
    ZIP_ERRORS,
    OffsetMap,
    code_guid,
    entry_error,
    find_project_entry,
    input_file,
    is_guid,
    normalise_guid,
    on_word_boundary,
    open_archive,
    open_entry,
    unit_guid,
)

LONG_COLUMNS = ("unit", "rater", "code")


@dataclass
class _Selection:
    line: int
    where: str
    start: int | None
    end: int | None
    user: str | None
    codings: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    # (line, where, creatingUser, code guid)


@dataclass
class _Source:
    line: int
    where: str
    guid: str
    name: str | None
    path: str | None
    user: str | None
    content: list[str] = field(default_factory=list)
    selections: list[_Selection] = field(default_factory=list)


@dataclass
class _Code:
    guid: str
    name: str
    where: str
    line: int


class _Handler(ContentHandler):
    """Collects users, codes and text sources with their selections and codings."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__()
        self.file = file
        self.problems = problems
        self.locator: Any = None
        self.stack: list[str] = []
        self.counters: list[dict[str, int]] = [{}]
        self.labels: list[str] = []
        self.project: dict[str, str] = {}
        self.users: dict[str, str] = {}
        self.codes: dict[str, _Code] = {}
        self.sources: list[_Source] = []
        self.other_sources = 0
        self._source: _Source | None = None
        self._selection: _Selection | None = None
        self._coding: list[Any] | None = None
        self._in_content = False
        self.description: list[str] = []
        self._in_description = False
        self.non_guid_codes = 0

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 - SAX API
        self.locator = locator

    @property
    def line(self) -> int:
        return self.locator.getLineNumber() if self.locator else 0

    def where(self) -> str:
        return " > ".join(self.labels)

    def problem(self, message: str, line: int | None = None, where: str | None = None) -> None:
        self.problems.append(
            Problem(self.file, f"line {line or self.line}, {where or self.where()}", message)
        )

    def startElement(self, qname: str, attrs: Any) -> None:  # noqa: N802 - SAX API
        name = qname.rsplit(":", 1)[-1]
        parent = self.stack[-1] if self.stack else None
        if len(self.stack) >= MAX_DEPTH:
            raise ValidationError(
                [
                    Problem(
                        self.file,
                        f"line {self.line}, <{name}>",
                        f"elements nested deeper than {MAX_DEPTH} levels",
                    )
                ],
                hint=f"ptmcoder reads REFI-QDA files nested at most {MAX_DEPTH} levels deep",
            )
        counter = self.counters[-1]
        counter[name] = counter.get(name, 0) + 1
        label = f"{name}[{counter[name]}]" if parent else name
        ident = attrs.get("name") or attrs.get("guid") or attrs.get("targetGUID")
        if ident and name not in ("CodeRef", "NoteRef", "Coding"):
            label += f" ({ident})"
        self.stack.append(name)
        self.counters.append({})
        self.labels.append(label)
        path = tuple(self.stack)
        if name == "Project" and parent is None:
            self.project = {k: attrs.get(k) for k in ("origin", "creatingUserGUID")}
        elif name == "Description" and parent == "Project" and len(path) == 2:
            self._in_description = True
        elif name == "User" and parent == "Users":
            g = normalise_guid(attrs.get("guid"))
            self.users[g] = attrs.get("name") or attrs.get("id") or g
        elif name == "Code" and "CodeBook" in path:
            g = normalise_guid(attrs.get("guid"))
            if not g:
                self.problem("code without a guid; codings cannot refer to it")
            elif not is_guid(g):
                self.non_guid_codes += 1
                self.problem(f"code guid {attrs.get('guid')!r} is not a GUID (8-4-4-4-12 hex)")
            self.codes[g] = _Code(g, attrs.get("name") or "", self.where(), self.line)
        elif parent == "Sources" and len(path) == 3:
            if name == "TextSource":
                self._source = _Source(
                    self.line,
                    self.where(),
                    normalise_guid(attrs.get("guid")),
                    attrs.get("name"),
                    attrs.get("plainTextPath"),
                    normalise_guid(attrs.get("creatingUser")) or None,
                )
            else:
                self.other_sources += 1
                self.problem(f"a {name} is not a text source; its codings are not imported")
        elif self._source is not None and len(path) == 4 and name == "PlainTextContent":
            self._in_content = True
        elif self._source is not None and len(path) == 4 and name == "PlainTextSelection":
            start, end = _int(attrs.get("startPosition")), _int(attrs.get("endPosition"))
            if start is None or end is None or start < 0 or end < start:
                self.problem(
                    "startPosition/endPosition missing or not a range "
                    f"({attrs.get('startPosition')!r}, {attrs.get('endPosition')!r})"
                )
            self._selection = _Selection(
                self.line,
                self.where(),
                start,
                end,
                normalise_guid(attrs.get("creatingUser")) or None,
            )
        elif (
            self._source is not None
            and name == "Coding"
            and parent
            in (
                "TextSource",
                "PlainTextSelection",
            )
        ):
            user = normalise_guid(attrs.get("creatingUser"))
            self._coding = [self.line, self.where(), user, None]
        elif name == "CodeRef" and parent == "Coding" and self._coding is not None:
            target = normalise_guid(attrs.get("targetGUID"))
            if not target:
                self.problem("CodeRef without targetGUID")
            self._coding[3] = target or None

    def characters(self, content: str) -> None:
        if self._in_content and self._source is not None:
            self._source.content.append(content)
        elif self._in_description:
            self.description.append(content)

    def endElement(self, qname: str) -> None:  # noqa: N802 - SAX API
        name = qname.rsplit(":", 1)[-1]
        path_len = len(self.stack)
        if name == "PlainTextContent":
            self._in_content = False
        elif name == "Description":
            self._in_description = False
        elif name == "Coding" and self._coding is not None:
            line, where, user, target = self._coding
            if target is None:
                self.problem("coding without a CodeRef", line, where)
            else:
                entry = (line, where, user or None, target)
                if self._selection is not None:
                    self._selection.codings.append(entry)
                elif self._source is not None:
                    whole = _Selection(line, where, None, None, None, [entry])
                    self._source.selections.append(whole)
            self._coding = None
        elif name == "PlainTextSelection" and self._selection is not None and path_len == 4:
            if self._source is not None:
                self._source.selections.append(self._selection)
            self._selection = None
        elif name == "TextSource" and path_len == 3 and self._source is not None:
            self.sources.append(self._source)
            self._source = None
        self.stack.pop()
        self.counters.pop()
        self.labels.pop()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class CodingsImport:
    """The codings of a project as a long table, and what could not be imported."""

    table: pd.DataFrame
    problems: list[Problem]
    sources: int = 0
    matched: dict[str, int] = field(default_factory=dict)  # how sources matched units
    unmatched_sources: int = 0
    codings: int = 0
    #: every imported coding with its selection: unit, rater, code, start, end (code
    #: points of the text quoted), offset_start, offset_end (as written), quote
    selections: list[dict[str, Any]] = field(default_factory=list)
    origin: str | None = None
    #: the offset unit used, how it was chosen, and the scores of each reading
    offsets: dict[str, Any] = field(default_factory=dict)
    #: codes of the project whose guid is not a GUID
    non_guid_codes: int = 0
    corpus: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "sources": self.sources,
            "matched": self.matched,
            "unmatched_sources": self.unmatched_sources,
            "codings": self.codings,
            "rows": len(self.table),
            "raters": sorted(self.table["rater"].unique().tolist()),
            "offsets": self.offsets,
            "non_guid_codes": self.non_guid_codes,
            "problems": [str(p) for p in self.problems],
            "selections": self.selections,
        }

    def empty_reason(self) -> str | None:
        """Why no row was read (None when some were)."""
        if len(self.table):
            return None
        if not self.sources:
            return "the project has no text sources"
        if self.unmatched_sources == self.sources:
            if self.corpus is None:
                return (
                    f"none of its {self.sources} text sources is a unit ptmcoder exported "
                    "(without --corpus sources are matched only by ptmcoder's unit GUIDs); "
                    "pass --corpus NAME to match them by their text"
                )
            return f"none of its {self.sources} text sources matched a unit of {self.corpus}"
        if not self.codings:
            return "no coding of a matched source refers to a readable code (see the problems)"
        return "no coding could be read (see the problems)"

    def require_rows(self) -> None:
        """Raise :class:`EmptyImportError` when no row was read."""
        reason = self.empty_reason()
        if reason is not None:
            raise EmptyImportError(
                f"0 rows read: {reason}",
                hint="pass --allow-empty to accept an empty table",
            )

    def offsets_text(self) -> str:
        """One line saying which offset unit was used and why."""
        info = self.offsets
        if not info:
            return "offsets: no positioned selection read"
        names = {"utf16": "UTF-16 code units", "codepoints": "code points"}
        scores = info.get("on_word_boundaries", {})
        n = info.get("selections", 0)
        line = f"offsets: {names[info['unit']]} ({info['how']}"
        if scores and n:
            line += "; selections inside the text on word boundaries: " + ", ".join(
                f"{scores[u]} of {n} as {names[u]}" for u in OFFSET_UNITS if u in scores
            )
        line += ")"
        if info.get("crlf") is not None:
            line += f"; a \\r\\n counted as {info['crlf']} position(s)"
        return line


class EmptyImportError(PtmcoderError):
    """A project was read and gave no row."""


_DECLARED = re.compile(r"\boffsets=(codepoints|utf16)\b")

#: readings of a source's offsets: (unit, positions a \r\n counts)
_READINGS = [(unit, crlf) for unit in OFFSET_UNITS for crlf in (2, 1)]


def _variants(text: str) -> dict[int, OffsetMap]:
    """The text as offsets may count it: a ``\\r\\n`` as two positions and as one."""
    maps = {2: OffsetMap(text)}
    if "\r\n" in text:
        maps[1] = OffsetMap(text.replace("\r\n", "\n"))
    return maps


def _good(maps: dict[int, OffsetMap], item: dict[str, Any], unit: str, crlf: int) -> bool:
    m = maps.get(crlf, maps[2])
    start, end = m.position(item["offset_start"], unit), m.position(item["offset_end"], unit)
    return (
        start is not None
        and end is not None
        and on_word_boundary(m.text, start)
        and on_word_boundary(m.text, end)
    )


def _choose_reading(
    scores: Counter[tuple[str, int]],
    n: int,
    any_crlf: bool,
    units_differ: bool,
    *,
    origin: str | None,
    forced: str | None,
    declared: str | None,
) -> dict[str, Any]:
    """The reading of the offsets to use, and a record of why."""
    low = (origin or "").lower()
    unit_prior = "utf16" if "nvivo" in low else "codepoints"
    crlf_prior = 1 if "atlas" in low else 2
    given = forced or declared
    units = [given] if given else list(OFFSET_UNITS)
    crlfs = [2] if declared and not forced else [2, 1]
    unit, crlf = max(
        ((u, c) for u in units for c in crlfs),
        key=lambda r: (scores[r], r[0] == unit_prior, r[1] == crlf_prior),
    )
    if forced:
        how = "forced with --offsets"
    elif declared:
        how = "declared by the ptmcoder project"
    elif not units_differ:
        how = "no text has a character outside the BMP: both units agree"
        unit = "codepoints"
    elif scores[("utf16", crlf)] == scores[("codepoints", crlf)]:
        how = "detected: a tie, so " + ("NVivo's unit" if "nvivo" in low else "the spec's unit")
    else:
        how = "detected from the selections and texts"
    return {
        "unit": unit,
        "how": how,
        "crlf": crlf if any_crlf else None,
        "selections": n,
        "on_word_boundaries": {u: scores[(u, crlf)] for u in OFFSET_UNITS},
    }


def import_codings(
    path: str | Path,
    *,
    corpus: str | None = None,
    codebook: str | None = None,
    offsets: str | None = None,
) -> CodingsImport:
    """Read the codings of REFI-QDA project ``path`` as a long table ``unit, rater, code``.

    ``offsets`` (``codepoints`` or ``utf16``) forces the unit of the selections'
    positions; by default it is declared or detected (see the module)."""
    if offsets is not None and offsets not in OFFSET_UNITS:
        raise PtmcoderError(f"offsets must be one of {', '.join(OFFSET_UNITS)}, not {offsets!r}")
    path = input_file(path)
    problems: list[Problem] = []
    with open_archive(path) as zf:
        qde = find_project_entry(zf, path)
        names = zf.namelist()
        folder = next(
            (n.split("/")[0] for n in names if n.lower().startswith("sources/")), "sources"
        )
        entries = {n.lower(): n for n in names}
        file = f"{path.name}:{qde}"
        handler = _Handler(file, problems)
        parser = xml.sax.make_parser()
        parser.setFeature(xml.sax.handler.feature_namespaces, False)
        parser.setFeature(xml.sax.handler.feature_external_ges, False)
        parser.setContentHandler(handler)
        try:
            with open_entry(zf, qde, path) as fh:
                parser.parse(fh)
        except xml.sax.SAXParseException as exc:
            inside = handler.where() or "(before the root element)"
            raise ValidationError(
                [
                    Problem(
                        file,
                        f"line {exc.getLineNumber()}, column {_column(exc)}, inside {inside}",
                        f"malformed XML: {exc.getMessage()}",
                    )
                ],
                hint="the project file is not well-formed XML; export it again",
            ) from None
        except ZIP_ERRORS as exc:
            raise entry_error(path, qde, exc) from None
        origin = handler.project.get("origin")
        declared = None
        if origin and origin.lower().startswith("ptmcoder"):
            found_unit = _DECLARED.search("".join(handler.description))
            declared = found_unit.group(1) if found_unit else "codepoints"
        codes = _resolve_codes(handler, codebook, file, problems)
        units = _unit_matcher(corpus) if corpus else None
        result = CodingsImport(
            pd.DataFrame(columns=list(LONG_COLUMNS)),
            problems,
            origin=origin,
            non_guid_codes=handler.non_guid_codes,
            corpus=corpus,
        )
        rows: dict[tuple[str, str, str], None] = {}
        creator = normalise_guid(handler.project.get("creatingUserGUID")) or None
        unknown_users: set[str] = set()
        scores: Counter[tuple[str, int]] = Counter()
        scored = 0
        any_crlf = units_differ = False
        # sources whose quotes depend on the reading: quoted once it is chosen, their
        # text read again then (so a large project's texts are not all held at once)
        pending: list[tuple[_Source, list[dict[str, Any]]]] = []
        for source in handler.sources:
            result.sources += 1
            text: str | None = None

            def load_text(src: _Source = source) -> str | None:
                return _source_text(zf, entries, folder, src, file, problems, path)

            found: tuple[str, str] | None = None  # (unit id, how it was matched)
            if units is not None:
                found = units.by_id(source.guid, source.name)
                if found is None:
                    text = load_text()
                    by_text = units.by_text(text) if text is not None else None
                    found = (by_text, "text") if by_text is not None else None
            elif source.name and source.guid == unit_guid(source.name):
                found = (source.name, "guid")
            if found is None:
                result.unmatched_sources += 1
                problems.append(
                    Problem(
                        file,
                        f"line {source.line}, {source.where}",
                        "source matches no unit"
                        + ("" if corpus else " (pass --corpus to match sources by their text)")
                        + f"; its {sum(len(s.codings) for s in source.selections)} coding(s) "
                        "are not imported",
                    )
                )
                continue
            unit, how = found
            result.matched[how] = result.matched.get(how, 0) + 1
            items: list[dict[str, Any]] = []
            for selection in source.selections:
                for line, where, user, target in selection.codings:
                    code = codes.get(target)
                    if code is None:
                        if target not in handler.codes:
                            problems.append(
                                Problem(
                                    file,
                                    f"line {line}, {where}",
                                    f"CodeRef {target} refers to no code of the codebook",
                                )
                            )
                        continue  # codes resolved to nothing were reported once each
                    who = user or selection.user or source.user or creator
                    if not who:
                        rater = "unknown"
                    elif who in handler.users:
                        rater = handler.users[who]
                    else:
                        rater = who
                        if who not in unknown_users:
                            unknown_users.add(who)
                            problems.append(
                                Problem(file, f"line {line}, {where}", f"user {who} not in <Users>")
                            )
                    result.codings += 1
                    rows.setdefault((unit, rater, code))
                    items.append(
                        {
                            "unit": unit,
                            "rater": rater,
                            "code": code,
                            "start": selection.start,
                            "end": selection.end,
                            "offset_start": selection.start,
                            "offset_end": selection.end,
                            "source": source.guid,
                            "quote": None,
                        }
                    )
            result.selections.extend(items)
            positioned = [i for i in items if i["start"] is not None and i["end"] is not None]
            if not positioned:
                continue
            text = text if text is not None else load_text()
            if text is None:
                continue
            maps = _variants(text)
            differs = len(maps) > 1 or any(m.units_differ for m in maps.values())
            any_crlf |= len(maps) > 1
            units_differ |= any(m.units_differ for m in maps.values())
            scored += len(positioned)
            for item in positioned:
                for option in _READINGS:
                    scores[option] += _good(maps, item, *option)
            if differs:
                pending.append((source, positioned))
            else:
                _quote(positioned, source, maps[2], "codepoints", file, problems)
        reading = _choose_reading(
            scores,
            scored,
            any_crlf,
            units_differ,
            origin=origin,
            forced=offsets,
            declared=declared,
        )
        result.offsets = reading if scored else {}
        for source, positioned in pending:
            text = _source_text(zf, entries, folder, source, file, problems, path)
            if text is not None:
                maps = _variants(text)
                chosen = maps.get(reading["crlf"] or 2, maps[2])
                _quote(positioned, source, chosen, reading["unit"], file, problems)
    result.table = pd.DataFrame(list(rows), columns=list(LONG_COLUMNS)).astype("string")
    return result


def _quote(
    selections: list[dict[str, Any]],
    source: _Source,
    text_map: OffsetMap,
    unit: str,
    file: str,
    problems: list[Problem],
) -> None:
    """Each selection's positions in the text and its quote, reading offsets in
    ``unit``; a selection outside the text is reported (once per source)."""
    text = text_map.text
    reported = False
    for item in selections:
        start = text_map.position(item["offset_start"], unit)
        end = text_map.position(item["offset_end"], unit)
        if start is None or end is None:
            if not reported:
                reported = True
                size = len(text) if unit == "codepoints" else len(text.encode("utf-16-le")) // 2
                names = {"codepoints": "code points", "utf16": "UTF-16 code units"}
                problems.append(
                    Problem(
                        file,
                        f"line {source.line}, {source.where}",
                        f"a selection ({item['offset_start']}, {item['offset_end']}) is not "
                        f"inside the source's {size} {names[unit]}"
                        + ("" if unit == "utf16" else " (pass --offsets utf16 if NVivo made it)"),
                    )
                )
            start = min(item["offset_start"], len(text)) if start is None else start
            end = min(item["offset_end"], len(text)) if end is None else end
        item["start"], item["end"] = start, end
        item["quote"] = text[start:end]


def _source_text(
    zf: zipfile.ZipFile,
    entries: dict[str, str],
    folder: str,
    source: _Source,
    file: str,
    problems: list[Problem],
    archive: Path,
) -> str | None:
    """A text source's plain text: its PlainTextContent or its internal file
    (``entries``: the archive's names by their lower-case form), as written."""
    if source.content:
        return "".join(source.content)
    where = f"line {source.line}, {source.where}"
    if not source.path:
        problems.append(Problem(file, where, "no plainTextPath or content"))
        return None
    if not source.path.startswith("internal://"):
        problems.append(
            Problem(
                file, where, f"external source {source.path} not read (only internal sources are)"
            )
        )
        return None
    name = PurePosixPath(source.path[len("internal://") :]).name
    entry = entries.get(f"{folder}/{name}".lower())
    if entry is None:
        problems.append(Problem(file, where, f"{folder}/{name} not in archive"))
        return None
    try:
        with open_entry(zf, entry, archive) as fh:
            data = fh.read()
    except ValidationError as exc:
        problems.append(Problem(file, where, f"{entry}: {exc.problems[0].message}"))
        return None
    except ZIP_ERRORS as exc:
        problems.append(Problem(file, where, f"{entry}: cannot be read ({exc})"))
        return None
    return data.decode("utf-8-sig", errors="replace")


def _resolve_codes(
    handler: _Handler, codebook: str | None, file: str, problems: list[Problem]
) -> dict[str, str]:
    """Code GUID -> ptmcoder code id, for every code of the project's codebook."""
    out: dict[str, str] = {}
    book = cb.load_codebook(codebook) if codebook is not None else None
    if book is not None:
        by_guid = {code_guid(book.id, cid): cid for cid in book.index()}
    else:
        by_guid = {g: c for g, (_, c) in known_code_guids().items()}
    derived: set[str] = set()
    for g, code in handler.codes.items():
        if g in by_guid:
            out[g] = by_guid[g]
        elif book is not None:
            hit = book.resolve_label(code.name)
            if hit is not None:
                out[g] = hit
            else:
                problems.append(
                    Problem(
                        file,
                        f"line {code.line}, {code.where}",
                        f"code {code.name!r} is not in codebook {codebook}; its codings are "
                        "not imported",
                    )
                )
        else:
            out[g] = slug(code.name) or f"code-{g[:8]}"
            derived.add(g)
            problems.append(
                Problem(
                    file,
                    f"line {code.line}, {code.where}",
                    f"code {code.name!r} is not a code of a known codebook; id {out[g]!r} "
                    "derived from its name (pass --codebook to match names)",
                )
            )
    return out


def _column(exc: xml.sax.SAXParseException) -> str:
    """The 1-based column of a parse error (the parser counts from 0), or ``?`` if unknown."""
    column = exc.getColumnNumber()
    return "?" if column is None else str(column + 1)


class _UnitMatcher:
    def __init__(self, units: pd.DataFrame) -> None:
        from ptmcoder.corpus.units import unit_text

        self.ids = set(units["id"])
        self.guids = {unit_guid(i): i for i in self.ids}
        self.texts: dict[str, str] = {}
        for row in units.to_dict("records"):
            title = str(row.get("title") or "")
            body = row.get("body")
            body = str(body) if isinstance(body, str) else ""
            for variant in (unit_text(row), f"{title}\n{body}", body, title):
                key = _normal(variant)
                if key:
                    self.texts.setdefault(key, str(row["id"]))

    def by_id(self, guid: str, name: str | None) -> tuple[str, str] | None:
        """The unit a source's GUID or name names, and which of the two matched."""
        if guid in self.guids:
            return self.guids[guid], "guid"
        if name and name in self.ids:
            return name, "name"
        return None

    def by_text(self, text: str) -> str | None:
        return self.texts.get(_normal(text))


def _unit_matcher(corpus: str) -> _UnitMatcher:
    from ptmcoder.corpus.units import load_units

    return _UnitMatcher(load_units(corpus))
