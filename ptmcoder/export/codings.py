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

Everything that cannot be read is a :class:`~ptmcoder.errors.Problem` naming the
``.qde`` line and the element: codings of unknown codes, sources that match no
unit, selections outside their text, codings without a code. Malformed XML stops
the import with a :class:`~ptmcoder.errors.ValidationError` at its line and column,
naming the element it was inside.
"""

from __future__ import annotations

import xml.sax
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.handler import ContentHandler

import pandas as pd

from ptmcoder import codebook as cb
from ptmcoder.errors import NotFoundError, Problem, ValidationError
from ptmcoder.export.qdc import known_code_guids, slug
from ptmcoder.export.refi import code_guid, normalise_guid, unit_guid

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
        elif name == "User" and parent == "Users":
            g = normalise_guid(attrs.get("guid"))
            self.users[g] = attrs.get("name") or attrs.get("id") or g
        elif name == "Code" and "CodeBook" in path:
            g = normalise_guid(attrs.get("guid"))
            if not g:
                self.problem("code without a guid; codings cannot refer to it")
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

    def endElement(self, qname: str) -> None:  # noqa: N802 - SAX API
        name = qname.rsplit(":", 1)[-1]
        path_len = len(self.stack)
        if name == "PlainTextContent":
            self._in_content = False
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
    #: every imported coding with its selection: unit, rater, code, start, end, quote
    selections: list[dict[str, Any]] = field(default_factory=list)
    origin: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "sources": self.sources,
            "matched": self.matched,
            "unmatched_sources": self.unmatched_sources,
            "codings": self.codings,
            "rows": len(self.table),
            "raters": sorted(self.table["rater"].unique().tolist()),
            "problems": [str(p) for p in self.problems],
            "selections": self.selections,
        }


def _open_project(zf: zipfile.ZipFile, path: Path) -> tuple[str, str]:
    """The ``.qde`` entry and the sources folder (``sources`` or ``Sources``)."""
    names = zf.namelist()
    qde = [n for n in names if n.lower().endswith(".qde") and "/" not in n.strip("/")]
    if not qde:
        raise ValidationError(
            [Problem(str(path), "archive", "no project.qde in the archive")],
            hint="a .qdpx is a zip with project.qde and a sources/ folder (REFI-QDA section 8)",
        )
    preferred = next((n for n in qde if n.lower() == "project.qde"), qde[0])
    folder = next((n.split("/")[0] for n in names if n.lower().startswith("sources/")), "sources")
    return preferred, folder


def import_codings(
    path: str | Path,
    *,
    corpus: str | None = None,
    codebook: str | None = None,
) -> CodingsImport:
    """Read the codings of REFI-QDA project ``path`` as a long table ``unit, rater, code``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    problems: list[Problem] = []
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValidationError(
            [Problem(str(path), "archive", "not a zip archive")],
            hint="a .qdpx file is a zip archive; a .qde file can be zipped as project.qde",
        ) from None
    with zf:
        qde, folder = _open_project(zf, path)
        entries = {n.lower(): n for n in zf.namelist()}
        file = f"{path.name}:{qde}"
        handler = _Handler(file, problems)
        parser = xml.sax.make_parser()
        parser.setFeature(xml.sax.handler.feature_namespaces, False)
        parser.setFeature(xml.sax.handler.feature_external_ges, False)
        parser.setContentHandler(handler)
        try:
            with zf.open(qde) as fh:
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
        origin = handler.project.get("origin")
        codes = _resolve_codes(handler, codebook, file, problems)
        units = _unit_matcher(corpus) if corpus else None
        result = CodingsImport(pd.DataFrame(columns=list(LONG_COLUMNS)), problems, origin=origin)
        rows: dict[tuple[str, str, str], None] = {}
        creator = normalise_guid(handler.project.get("creatingUserGUID")) or None
        unknown_users: set[str] = set()
        for source in handler.sources:
            result.sources += 1
            text: str | None = None

            def load_text(src: _Source = source) -> str | None:
                return _source_text(zf, entries, folder, src, origin, file, problems)

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
                            "source": source.guid,
                            "quote": None,
                        }
                    )
            if any(item["start"] is not None for item in items):
                text = text if text is not None else load_text()
                _quote(items, source, text, file, problems)
            result.selections.extend(items)
    result.table = pd.DataFrame(list(rows), columns=list(LONG_COLUMNS)).astype("string")
    return result


def _quote(
    selections: list[dict[str, Any]],
    source: _Source,
    text: str | None,
    file: str,
    problems: list[Problem],
) -> None:
    """Fill each selection's quoted text; report selections outside the source's text."""
    if text is None:
        return
    reported = False
    for item in selections:
        start, end = item["start"], item["end"]
        if start is None or end is None:
            continue
        if end > len(text) and not reported:
            reported = True
            utf16 = len(text.encode("utf-16-le")) // 2
            hint = " (the offsets look like UTF-16 units)" if end <= utf16 else ""
            problems.append(
                Problem(
                    file,
                    f"line {source.line}, {source.where}",
                    f"a selection ends at {end}, past the source's {len(text)} code points{hint}",
                )
            )
        item["quote"] = text[start:end]


def _source_text(
    zf: zipfile.ZipFile,
    entries: dict[str, str],
    folder: str,
    source: _Source,
    origin: str | None,
    file: str,
    problems: list[Problem],
) -> str | None:
    """A text source's plain text: its PlainTextContent or its internal file
    (``entries``: the archive's names by their lower-case form)."""
    if source.content:
        return "".join(source.content)
    if not source.path:
        problems.append(
            Problem(file, f"line {source.line}, {source.where}", "no plainTextPath or content")
        )
        return None
    if not source.path.startswith("internal://"):
        problems.append(
            Problem(
                file,
                f"line {source.line}, {source.where}",
                f"external source {source.path} not read (only internal sources are)",
            )
        )
        return None
    name = PurePosixPath(source.path[len("internal://") :]).name
    entry = entries.get(f"{folder}/{name}".lower())
    if entry is None:
        problems.append(
            Problem(file, f"line {source.line}, {source.where}", f"{folder}/{name} not in archive")
        )
        return None
    text = zf.read(entry).decode("utf-8-sig", errors="replace")
    if origin and "atlas" in origin.lower():  # ATLAS.ti counts \r\n as one position
        text = text.replace("\r\n", "\n")
    return text


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
