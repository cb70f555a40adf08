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
    or fewer fields than the header is a malformed record."""
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
            yield where, dict(zip(header, fields, strict=True))
