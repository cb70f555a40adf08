"""JSON files as a stream of (location, record): a JSON array, an object
wrapping one (``{"items": [...]}``, the Stack Exchange and GitHub search APIs),
a single object, or JSON Lines (one object per line)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.readers.base import DECODE_ERRORS, ImportContext
from ptmcoder.errors import InputRecordError

CHUNK = 1 << 20


def loads(text: str) -> Any:
    """``json.loads`` whose only failure is ``ValueError`` (also for nesting too deep)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply (arrays or objects inside each other)") from None


def _first_line(path: Path) -> str:
    """The first non-blank line, whatever its length."""
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
        for line in fh:
            if line.strip():
                return line
    return ""


def _is_jsonl(path: Path) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
        head = fh.read(1 << 16).lstrip()
    if not head.startswith("{"):
        return False
    # An object on the first line followed by another object: JSON Lines.
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line
                break
        rest = ""
        for line in fh:
            if line.strip():
                rest = line
                break
    try:
        obj = loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and rest.lstrip().startswith("{")


def first_record(path: Path, wrapper_keys: tuple[str, ...] = ("items",)) -> Any:
    """The first record of a JSON or JSON Lines file, whatever its size, for format
    detection: the first line's object (JSON Lines), the first element of an array or
    of a wrapper's ``items``, or the single object. None when there is none; a
    ``ValueError`` for JSON nested too deeply to decode."""
    if _is_jsonl(path):
        line = _first_line(path)
        try:
            return loads(line) if line.strip() else None
        except ValueError as exc:
            if "nested" in str(exc):
                raise
            return None
    decoder = json.JSONDecoder()
    buf = ""
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
        while True:
            chunk = fh.read(max(CHUNK, len(buf)))  # doubling: linear in the bytes read
            buf += chunk
            text = buf.lstrip()
            found, obj = _try_first(decoder, text, wrapper_keys, final=not chunk)
            if found or not chunk:
                return obj


def _try_first(
    decoder: json.JSONDecoder, text: str, wrapper_keys: tuple[str, ...], *, final: bool
) -> tuple[bool, Any]:
    """(found, record) from the start of a JSON document read so far."""

    def decode_at(start: int) -> tuple[bool, Any]:
        try:
            return True, decoder.raw_decode(text, start)[0]
        except RecursionError:
            raise ValueError("nested too deeply (arrays or objects inside each other)") from None
        except ValueError:
            return False, None

    if text.startswith("["):
        i = 1
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i < len(text) and text[i] == "]":
            return True, None
        if i < len(text) and text[i] == "[":
            # an array of arrays is no record format; make sure it is valid JSON
            found, _ = decode_at(0)
            return (True, None) if found or final else (False, None)
        return decode_at(i) if i < len(text) else (final, None)
    if not text.startswith("{"):
        return True, None
    found, doc = decode_at(0)
    if found:
        if isinstance(doc, dict):
            for key in wrapper_keys:
                if isinstance(doc.get(key), list):
                    items = doc[key]
                    return True, items[0] if items else None
        return True, doc
    # a wrapper too large to decode whole: its first item
    for key in wrapper_keys:
        at = text.find(f'"{key}"')
        if at < 0:
            continue
        bracket = text.find("[", at)
        if bracket < 0:
            continue
        start = bracket + 1
        while start < len(text) and text[start] in " \t\r\n":
            start += 1
        found, item = decode_at(start)
        if found:
            return True, item
    return (True, None) if final else (False, None)


def iter_json_records(
    path: Path,
    ctx: ImportContext,
    wrapper_keys: tuple[str, ...] = ("items",),
    on_wrapper: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(location, record)`` of each record; ``on_wrapper`` is given the object that
    wraps the records (``{"items": [...], "has_more": ...}``), when there is one."""
    name = str(path)
    if _is_jsonl(path):
        done = 0
        with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
            for lineno, line in enumerate(fh, 1):
                done += len(line)
                if ctx.progress and lineno % 1000 == 0:
                    ctx.progress(done)
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                except ValueError as exc:
                    ctx.bad(InputRecordError(name, f"line {lineno}", None, f"invalid JSON: {exc}"))
                    continue
                yield f"line {lineno}", obj
        return
    text = path.read_text(encoding="utf-8-sig", errors=DECODE_ERRORS)
    if not text.strip():
        return  # an empty file has no records (the store says so)
    try:
        doc = loads(text)
    except ValueError as exc:
        ctx.bad(
            InputRecordError(
                name,
                f"line {getattr(exc, 'lineno', '?')}",
                None,
                f"invalid JSON, file skipped: {exc}",
            )
        )
        return
    if isinstance(doc, dict):
        for key in wrapper_keys:
            if isinstance(doc.get(key), list):
                if on_wrapper is not None:
                    on_wrapper(doc)
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list):
        ctx.bad(InputRecordError(name, "record 0", None, "expected a JSON array or object"))
        return
    for i, obj in enumerate(doc, 1):
        yield f"record {i}", obj
