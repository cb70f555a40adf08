"""JSON files as a stream of (location, record): a JSON array, an object
wrapping one (``{"items": [...]}``, the Stack Exchange and GitHub search APIs),
a single object, or JSON Lines (one object per line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.readers.base import DECODE_ERRORS, ImportContext
from ptmcoder.errors import InputRecordError


def _is_jsonl(path: Path) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    with open(path, encoding="utf-8", errors=DECODE_ERRORS) as fh:
        head = fh.read(1 << 16).lstrip()
    if head.startswith("["):
        return False
    # An object on the first line followed by another object: JSON Lines.
    first, _, rest = head.partition("\n")
    try:
        json.loads(first)
    except ValueError:
        return False
    return rest.lstrip().startswith("{")


def iter_json_records(
    path: Path, ctx: ImportContext, wrapper_keys: tuple[str, ...] = ("items",)
) -> Iterator[tuple[str, Any]]:
    name = str(path)
    if _is_jsonl(path):
        done = 0
        with open(path, encoding="utf-8", errors=DECODE_ERRORS) as fh:
            for lineno, line in enumerate(fh, 1):
                done += len(line)
                if ctx.progress and lineno % 1000 == 0:
                    ctx.progress(done)
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    ctx.bad(InputRecordError(name, f"line {lineno}", None, f"invalid JSON: {exc}"))
                    continue
                yield f"line {lineno}", obj
        return
    text = path.read_text(encoding="utf-8", errors=DECODE_ERRORS)
    try:
        doc = json.loads(text)
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
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list):
        ctx.bad(InputRecordError(name, "record 0", None, "expected a JSON array or object"))
        return
    for i, obj in enumerate(doc, 1):
        yield f"record {i}", obj
