"""The official Stack Overflow data dump ``Posts.xml`` (``<posts><row Id=...
PostTypeId=... /></posts>``), streamed.

expat calls back on each ``<row>`` start tag; no element tree is built, so
memory stays flat whatever the file size. Bytes that are not UTF-8 are replaced
(and counted) before they reach the parser. Answer rows only pass their id and
creation time on (``ctx.answer``); the store joins the accepted answer's time to
its question afterwards, on disk.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.parsers import expat

from ptmcoder.corpus.readers.base import DECODE_ERRORS, FieldError, ImportContext
from ptmcoder.corpus.readers.sede_csv import post_to_unit
from ptmcoder.errors import InputRecordError

CHUNK = 1 << 20


class _DoctypeRefused(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def read(path: Path, ctx: ImportContext) -> Iterator[dict[str, Any]]:
    name = str(path)
    pending: list[tuple[int, dict[str, str]]] = []
    parser = expat.ParserCreate(encoding="utf-8")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "row":
            pending.append((parser.CurrentLineNumber, attrs))

    def refuse(*_args: object) -> None:
        raise _DoctypeRefused(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    # refused at the declaration, before any entity is defined or expanded
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    decoder = codecs.getincrementaldecoder("utf-8")(errors=DECODE_ERRORS)
    done = 0
    rows = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            final = not chunk
            text = decoder.decode(chunk, final=final)
            try:
                parser.Parse(text.encode("utf-8"), final)
                error = None
            except expat.ExpatError as exc:
                error = exc
            except _DoctypeRefused as refused:
                raise InputRecordError(
                    name,
                    f"line {refused.line}",
                    None,
                    "a DTD (<!DOCTYPE ...>, entity declarations, external entities) is "
                    "refused: Stack Overflow dumps have none, and entity expansion can "
                    "exhaust memory",
                    hint="remove the <!DOCTYPE ...> declaration if the file is a real dump",
                ) from None
            for line, attrs in pending:
                rows += 1
                where = f"line {line} (row {rows})"
                try:
                    unit = post_to_unit(attrs, f"{path.name}:{where}", ctx)
                except FieldError as exc:
                    ctx.bad(InputRecordError(name, where, exc.field_name, exc.reason))
                    continue
                if unit is not None:
                    yield unit
            pending.clear()
            done += len(chunk)
            if ctx.progress:
                ctx.progress(done)
            if error is not None:
                ctx.bad(
                    InputRecordError(
                        name,
                        f"line {error.lineno}, column {error.offset}",
                        None,
                        f"malformed or truncated XML ({expat.ErrorString(error.code)}); "
                        f"rows after this point are not read",
                    )
                )
                return
            if final:
                return
