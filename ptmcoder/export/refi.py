"""What the REFI-QDA codebook (``.qdc``) and project (``.qdpx``) files share: namespaces,
GUIDs, text cleaning, selection offsets and a streaming XML writer.

Selection offsets. The specification (REFI-QDA 1.5, section 10.2 "Text selections")
says: "Selections in a text file are defined by the first and the last character
(Unicode codepoint) in the file. The first codepoint in the file has the number 0
(zero)." That is what a Python ``str`` index counts, and what QualCoder writes and
reads (an emoji such as U+1F600 is one position). NVivo counts UTF-16 code units
instead, as a .NET string does (the emoji is two positions): in the four real NVivo
projects of issue #25, selections fall on word boundaries in 294-327 of 297-330 cases
read that way, against 49-63 read as code points. ``endPosition`` is exclusive: the selected
text is ``text[startPosition:endPosition]``.

Each program's unit (:data:`TARGETS`, ``ptmcoder export --for``): QualCoder code
points (measured: its reader slices a Python ``str``); NVivo UTF-16 units (measured on
real projects); ATLAS.ti and MAXQDA UTF-16 units (assumed from the string type of
the platforms they are built on, .NET/Cocoa and Delphi; not measured). The default
is the specification's code points. On import the unit is declared (a ptmcoder
project says which it wrote), forced, or detected from the selections and texts
(:func:`ptmcoder.export.codings.import_codings`).

Line endings. Offsets count the characters of the plain-text file as written, so
a ``\\r\\n`` is two positions there. ATLAS.ti stores ``\\r\\n`` files but counts
each line ending as one character, while MAXQDA expects ``\\r\\n``; to keep every
program's positions right ptmcoder normalises all line endings of a source to
``\\n`` (one position) and writes ``\\r\\n`` only when asked (``line_endings="crlf"``),
computing the offsets against the text exactly as written in either case. On
import, a source with ``\\r\\n`` is read both ways and the way that puts more
selections on word boundaries is taken (on a tie: one position for ATLAS.ti, two
otherwise).

Timestamps are written in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` (:func:`refi_datetime`):
QualCoder strips the ``T`` and ``Z`` of what it reads and writes ``T`` and ``Z``
back around it, so ``+00:00`` came back as ``+00:00Z``, which the schema refuses.

XML 1.0 cannot carry most C0 control characters, lone surrogates, U+FFFE or
U+FFFF even as character references; :func:`clean_text` removes them (and counts
them) from every text that goes into a project, the source files included, so that
offsets computed on the cleaned text hold in every program.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO
from xml.parsers import expat
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

from ptmcoder.errors import NotFoundError, Problem, ValidationError

CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_XSD = "http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd"
PROJECT_XSD = "http://schema.qdasoftware.org/versions/Project/v1.0/Project.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: The fixed namespace of every GUID ptmcoder derives (uuid5): the same codebook,
#: unit or rater gets the same GUID in every export, so a QDA program can merge
#: re-exports. Never change it.
GUID_NAMESPACE = uuid.UUID("6f0c3b0e-6f6a-5b7e-9d1c-70746d636f64")


def guid(kind: str, *parts: str) -> str:
    """A deterministic GUID: uuid5 of ``kind:part/part...`` under :data:`GUID_NAMESPACE`."""
    return str(uuid.uuid5(GUID_NAMESPACE, f"{kind}:" + "/".join(parts)))


@lru_cache(maxsize=4096)
def code_guid(codebook_id: str, code_id: str) -> str:
    return guid("code", codebook_id, code_id)


def set_guid(codebook_id: str, name: str) -> str:
    return guid("set", codebook_id, name)


def unit_guid(unit_id: str) -> str:
    return guid("unit", unit_id)


@lru_cache(maxsize=1024)
def user_guid(rater: str) -> str:
    return guid("user", rater)


def normalise_guid(value: str | None) -> str:
    """GUIDs compare case-insensitively and may be written in braces."""
    return (value or "").strip().strip("{}").lower()


# -- text ----------------------------------------------------------------------

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile(r"\r\n?")


@dataclass
class TextStats:
    """What cleaning changed, summed over every text of an export."""

    control_chars_removed: int = 0
    line_endings_normalised: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "control_chars_removed": self.control_chars_removed,
            "line_endings_normalised": self.line_endings_normalised,
        }


def clean_text(text: str, stats: TextStats | None = None) -> str:
    """``text`` with line endings as ``\\n`` and XML-illegal characters removed."""
    text, n_newlines = _NEWLINES.subn("\n", text)
    text, n_illegal = _ILLEGAL.subn("", text)
    if stats is not None:
        stats.control_chars_removed += n_illegal
        stats.line_endings_normalised += n_newlines
    return text


_QUOTES = "\"'“”‘’`"


def find_span(quote: str | None, text: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``text`` as code-point offsets ``[start, end)``.

    Exact first; then ignoring case, runs of whitespace, quotes around the quote and
    a trailing ellipsis (the tolerance :func:`ptmcoder.annotate.parse.evidence_in`
    uses to decide that evidence was found). None when it does not occur."""
    if not quote:
        return None
    quote = quote.replace("\r\n", "\n")
    at = text.find(quote)
    if at >= 0 and quote.strip():
        return at, at + len(quote)
    core = quote.strip().strip(_QUOTES).strip().rstrip(".…").strip()
    if not core:
        return None
    at = text.find(core)
    if at >= 0:
        return at, at + len(core)
    # normalised search with a map from normalised positions back to the text
    chars: list[str] = []
    origin: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not in_space and chars:
                chars.append(" ")
                origin.append(i)
            in_space = True
            continue
        in_space = False
        for folded in ch.casefold():
            chars.append(folded)
            origin.append(i)
    haystack = "".join(chars)
    needle = " ".join(core.casefold().split())
    at = haystack.find(needle)
    if at < 0:
        return None
    return origin[at], origin[at + len(needle) - 1] + 1


# -- colours -------------------------------------------------------------------

#: Okabe-Ito colours (distinguishable with colour-vision deficiencies), one per
#: top-level branch of a codebook, in order; special codes are grey.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
SPECIAL_COLOUR = "#999999"


def branch_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


# -- writing -------------------------------------------------------------------


class XmlWriter:
    """A thin streaming writer over :class:`xml.sax.saxutils.XMLGenerator`: elements
    are written as they come, so an export never holds its document in memory.
    Attribute values that are None are left out; text is cleaned (:func:`clean_text`)."""

    def __init__(self, out: io.TextIOBase, stats: TextStats, *, depth: int = 0) -> None:
        # a text stream proper: XMLGenerator writes bytes to anything that is not an io.TextIOBase
        self.out = out
        self.stats = stats
        self._gen = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
        self._depth = depth  # indentation of a fragment written for a later copy

    def declaration(self) -> None:
        self._gen.startDocument()

    def _attrs(self, attrs: dict[str, object | None]) -> AttributesImpl[str]:
        out: dict[str, str] = {}
        for key, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            out[key] = clean_text(str(value), self.stats)
        return AttributesImpl(out)

    def start(self, tag: str, /, **attrs: object | None) -> None:
        self._gen.ignorableWhitespace("\n" + "  " * self._depth)
        self._gen.startElement(tag, self._attrs(attrs))
        self._depth += 1

    def end(self, tag: str, /, *, inline: bool = False) -> None:
        self._depth -= 1
        if not inline:
            self._gen.ignorableWhitespace("\n" + "  " * self._depth)
        self._gen.endElement(tag)

    def empty(self, tag: str, /, **attrs: object | None) -> None:
        self._gen.ignorableWhitespace("\n" + "  " * self._depth)
        self._gen.startElement(tag, self._attrs(attrs))
        self._gen.endElement(tag)

    def text_element(self, tag: str, text: str, /, **attrs: object | None) -> None:
        self._gen.ignorableWhitespace("\n" + "  " * self._depth)
        self._gen.startElement(tag, self._attrs(attrs))
        self._gen.characters(clean_text(text, self.stats))
        self._gen.endElement(tag)

    def raw(self, chunks: Iterable[str]) -> None:
        """Copy already-written XML (a spooled fragment) into the stream."""
        self._gen.ignorableWhitespace("\n")  # also closes a pending start tag
        for chunk in chunks:
            self.out.write(chunk)

    def finish(self) -> None:
        self._gen.ignorableWhitespace("\n")
        self._gen.endDocument()
        self.out.flush()


# -- timestamps ----------------------------------------------------------------


def refi_datetime(value: object) -> str | None:
    """``value`` (ISO 8601) as UTC ``YYYY-MM-DDTHH:MM:SSZ``, the form every program reads
    back unchanged; a time without a zone is taken as UTC. None when absent or unreadable.

    >>> refi_datetime("2026-12-08T02:02:03+01:00")
    '2026-12-08T01:02:03Z'
    """
    if value is None or not str(value).strip():
        return None
    try:
        moment = _dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- identifiers ---------------------------------------------------------------

_GUID = re.compile(
    r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
)


def is_guid(value: str | None) -> bool:
    """Whether ``value`` has the schema's GUIDType form (8-4-4-4-12 hex digits, braces allowed)."""
    return bool(value) and _GUID.match(value.strip()) is not None  # type: ignore[union-attr]


# -- offsets -------------------------------------------------------------------

OFFSET_UNITS = ("codepoints", "utf16")
DEFAULT_OFFSETS = "codepoints"


@dataclass(frozen=True)
class Target:
    """How one program counts selection offsets and which line endings it is given."""

    offsets: str
    line_endings: str
    basis: str


#: ``ptmcoder export --for PROGRAM``
TARGETS: dict[str, Target] = {
    "qualcoder": Target("codepoints", "lf", "measured: its reader slices a Python str"),
    "nvivo": Target("utf16", "lf", "measured: four real NVivo 12 projects"),
    "atlas": Target("utf16", "lf", "assumed: the UTF-16 strings of .NET and Cocoa"),
    "maxqda": Target("utf16", "crlf", "assumed: the UTF-16 strings of Delphi"),
}


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def to_offset(text: str, position: int, unit: str) -> int:
    """Code-point ``position`` of ``text`` as an offset in ``unit``."""
    return position if unit == "codepoints" else utf16_length(text[:position])


class OffsetMap:
    """Reads offsets of one text in either unit back as code-point positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._cp: list[int | None] | None = None
        if any(ord(ch) > 0xFFFF for ch in text):
            cp: list[int | None] = []
            for i, ch in enumerate(text):
                cp.append(i)
                if ord(ch) > 0xFFFF:
                    cp.append(None)  # between the two halves of a surrogate pair
            cp.append(len(text))
            self._cp = cp

    @property
    def units_differ(self) -> bool:
        return self._cp is not None

    def position(self, offset: int, unit: str) -> int | None:
        """The code-point position of ``offset``; None when outside the text or
        (UTF-16) between the halves of a surrogate pair."""
        if offset < 0:
            return None
        if unit == "codepoints" or self._cp is None:
            return offset if offset <= len(self.text) else None
        return self._cp[offset] if offset < len(self._cp) else None


def on_word_boundary(text: str, position: int) -> bool:
    """Whether ``position`` is the start or end of the text or not inside a word."""
    if position <= 0 or position >= len(text):
        return position in (0, len(text))
    return not (text[position - 1].isalnum() and text[position].isalnum())


# -- reading -------------------------------------------------------------------

#: the deepest element nesting a REFI-QDA file may have (codes nested deeper than
#: this are refused with their line; real codebooks have under ten levels)
MAX_DEPTH = 200


class _Stop(Exception):
    pass


def parse_tree(
    stream: IO[bytes],
    file: str,
    *,
    stop_at: str | None = None,
    max_depth: int = MAX_DEPTH,
) -> ET.Element:
    """An element tree of ``stream``, built by expat so that every error has its line:
    malformed XML and nesting deeper than ``max_depth`` are a :class:`ValidationError`.
    With ``stop_at`` (a local name) parsing stops at the end of the first such
    element, which is returned (the codebook of a large project without its sources)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    stack: list[str] = []
    found: list[ET.Element] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit("}", 1)[-1]
        stack.append(local)
        if len(stack) > max_depth:
            raise ValidationError(
                [
                    Problem(
                        file,
                        f"line {parser.CurrentLineNumber}, <{local}>",
                        f"elements nested deeper than {max_depth} levels",
                    )
                ],
                hint=f"ptmcoder reads REFI-QDA files nested at most {max_depth} levels deep",
            )
        builder.start("{" + name if "}" in name else name, attrs)

    def end(name: str) -> None:
        element = builder.end("{" + name if "}" in name else name)
        local = stack.pop()
        if stop_at is not None and local == stop_at:
            found.append(element)
            raise _Stop

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.ParseFile(stream)
    except _Stop:
        return found[0]
    except expat.ExpatError as exc:
        inside = " > ".join(stack) or "(before the root element)"
        raise ValidationError(
            [
                Problem(
                    file,
                    f"line {exc.lineno}, column {exc.offset + 1}, inside {inside}",
                    f"malformed XML: {expat.ErrorString(exc.code)}",
                )
            ],
            hint="the file is not well-formed XML; re-export it from the QDA program",
        ) from None
    if stop_at is not None:
        raise ValidationError([Problem(file, "", f"no <{stop_at}> element")])
    return builder.close()


# -- archives ------------------------------------------------------------------

#: what reading a damaged or unsupported zip entry raises
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def input_file(path: str | Path) -> Path:
    """``path`` if it is a readable file; a located error (not a traceback) otherwise."""
    path = Path(path)
    if path.is_dir():
        raise NotFoundError(
            f"{path} is a directory, not a file", hint="give the path of the file itself"
        )
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    return path


def open_archive(path: Path) -> zipfile.ZipFile:
    """The zip archive of a ``.qdpx``; a :class:`ValidationError` when it is not one."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        reason = "not a zip archive"
    except (OSError, *ZIP_ERRORS) as exc:
        reason = f"not a readable zip archive ({exc or type(exc).__name__})"
    raise ValidationError(
        [Problem(str(path), "archive", reason)],
        hint="a .qdpx file is a zip archive; a .qde file can be zipped as project.qde",
    )


def entry_error(archive: Path, entry: str, exc: BaseException) -> ValidationError:
    """A located error for an archive entry that cannot be read."""
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        message = "the entry is encrypted (password-protected); ptmcoder cannot read it"
        hint = "export the project again without a password"
    else:
        message = f"the entry cannot be read: {exc or type(exc).__name__}"
        hint = "the archive is damaged or uses an unsupported compression; export it again"
    return ValidationError([Problem(f"{archive}:{entry}", "zip entry", message)], hint=hint)


def open_entry(zf: zipfile.ZipFile, entry: str, archive: Path) -> IO[bytes]:
    """A zip entry opened for reading; an encrypted or unsupported entry is a located error."""
    info = zf.getinfo(entry)
    if info.flag_bits & 0x1:
        raise entry_error(archive, entry, RuntimeError("encrypted"))
    try:
        return zf.open(info)
    except ZIP_ERRORS as exc:
        raise entry_error(archive, entry, exc) from None


def find_project_entry(zf: zipfile.ZipFile, archive: Path) -> str:
    """The name of the project's ``.qde`` entry (``project.qde`` preferred)."""
    qde = [n for n in zf.namelist() if n.lower().endswith(".qde") and "/" not in n.strip("/")]
    if not qde:
        raise ValidationError(
            [Problem(str(archive), "archive", "no project.qde in the archive")],
            hint="a .qdpx is a zip with project.qde and a sources/ folder (REFI-QDA section 8)",
        )
    return next((n for n in qde if n.lower() == "project.qde"), qde[0])
