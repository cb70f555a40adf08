"""What the REFI-QDA codebook (``.qdc``) and project (``.qdpx``) files share: namespaces,
GUIDs, text cleaning, selection offsets and a streaming XML writer.

Selection offsets. The specification (REFI-QDA 1.5, section 10.2 "Text selections")
says: "Selections in a text file are defined by the first and the last character
(Unicode codepoint) in the file. The first codepoint in the file has the number 0
(zero)." Offsets are therefore counted in Unicode code points, which is what a
Python ``str`` index counts (an emoji such as U+1F600 is one position, not the two
UTF-16 code units a .NET or Java string would count). ``endPosition`` is exclusive:
the selected text is ``text[startPosition:endPosition]``, as QualCoder reads and
writes it, and as the examples in the specification's annex (selections ending on
the source's length) imply.

Line endings. Offsets count the characters of the plain-text file as written, so
a ``\\r\\n`` is two positions there. ATLAS.ti stores ``\\r\\n`` files but counts
each line ending as one character, while MAXQDA expects ``\\r\\n``; to keep every
program's positions right ptmcoder normalises all line endings of a source to
``\\n`` (one position) and writes ``\\r\\n`` only when asked (``line_endings="crlf"``),
computing the offsets against the text exactly as written in either case.

XML 1.0 cannot carry most C0 control characters, lone surrogates, U+FFFE or
U+FFFF even as character references; :func:`clean_text` removes them (and counts
them) from every text that goes into a project, the source files included, so that
offsets computed on the cleaned text hold in every program.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

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
