"""CSV rows with their line numbers; malformed rows reported, not guessed."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from ptmcoder.corpus.readers.base import DECODE_ERRORS, ImportContext
from ptmcoder.errors import InputRecordError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS, newline="") as fh:
        return next(csv.reader(fh), [])


def iter_rows(path: Path, ctx: ImportContext) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``("line N", row)``; N is the line the row starts on. A row with more
    or fewer fields than the header is a malformed record. A column named twice in the
    header is read from its first occurrence, with a counted warning."""
    name = str(path)
    with open(path, encoding="utf-8-sig", errors=DECODE_ERRORS, newline="") as fh:
        done = [0]

        def lines() -> Iterator[str]:
            for line in fh:
                done[0] += len(line)
                yield line

        reader = csv.reader(lines())
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            ctx.bad(InputRecordError(name, "line 1", None, f"unreadable header: {exc}"))
            return
        width = len(header)
        first = _first_columns(header, name, ctx)
        start = reader.line_num + 1
        n = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                ctx.bad(InputRecordError(name, f"line {start}", None, f"malformed CSV: {exc}"))
                start = reader.line_num + 1
                continue
            where = f"line {start}"
            start = reader.line_num + 1
            n += 1
            if ctx.progress and n % 1000 == 0:
                ctx.progress(done[0])
            if not fields or (len(fields) == 1 and not fields[0]):
                continue
            if len(fields) != width:
                field = header[len(fields)] if len(fields) < width else None
                ctx.bad(
                    InputRecordError(
                        name, where, field, f"row has {len(fields)} fields, the header has {width}"
                    )
                )
                continue
            yield where, {column: fields[i] for column, i in first.items()}


DUPLICATE_COLUMNS = "duplicate header columns (the first is read)"


def _first_columns(header: list[str], name: str, ctx: ImportContext) -> dict[str, int]:
    """Each column name and the position of its first occurrence; a name that appears
    twice is warned about and counted (the other columns of that name are not read)."""
    first: dict[str, int] = {}
    seen: dict[str, list[int]] = {}
    for i, column in enumerate(header):
        first.setdefault(column, i)
        seen.setdefault(column, []).append(i + 1)
    for column, at in seen.items():
        if len(at) > 1:
            ctx.count(DUPLICATE_COLUMNS)
            ctx.warn(
                f"{name}: line 1, field {column!r}: the header names this column "
                f"{len(at)} times (columns {', '.join(map(str, at))}); column {at[0]} is read, "
                f"the others are ignored"
            )
    return first
