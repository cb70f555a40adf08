"""What every reader shares: the import context (error policy, counters,
answers side table, progress) and value parsers that name the bad field."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ptmcoder.corpus.schema import UNIT_COLUMNS
from ptmcoder.errors import InputRecordError

DECODE_ERRORS = "ptmcoder-replace"
_replaced = Counter[str]()


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced["bytes"] += exc.end - exc.start
    return "\ufffd", exc.end


codecs.register_error(DECODE_ERRORS, _count_and_replace)


def replaced_bytes() -> int:
    """Undecodable bytes replaced by U+FFFD so far in this process (see DECODE_ERRORS)."""
    return _replaced["bytes"]


def add_replaced_bytes(n: int) -> None:
    """Count ``n`` bytes replaced in another process (a parallel reader's worker)."""
    _replaced["bytes"] += n


class OnError(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


@dataclass
class ImportContext:
    """Passed to every reader. ``bad()`` raises or records a malformed record
    according to ``on_error``; ``count()`` tallies things skipped on purpose (pull
    requests, answers, non-question posts); ``answer()`` records an answer's
    creation time so the store can fill ``accepted_answer_at``."""

    on_error: OnError = OnError.FAIL
    skipped: list[InputRecordError] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    answer_sink: Callable[[str, datetime | None], None] | None = None
    # many answers at once (ids, creation times); answer_sink is called per answer if unset
    answers_sink: Callable[[list[str], list[datetime | None]], None] | None = None
    progress: Callable[[int], None] | None = None  # bytes read in the current file

    def bad(self, error: InputRecordError) -> None:
        if self.on_error == OnError.FAIL:
            raise error
        self.skipped.append(error)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def answer(self, answer_id: str, created_at: datetime | None) -> None:
        if self.answer_sink is not None:
            self.answer_sink(answer_id, created_at)

    def answer_table(self, answer_ids: list[str], created: list[datetime | None]) -> None:
        if self.answers_sink is not None:
            self.answers_sink(answer_ids, created)
        else:
            for answer_id, created_at in zip(answer_ids, created, strict=True):
                self.answer(answer_id, created_at)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class FieldError(ValueError):
    """A value that cannot be parsed; the reader turns it into InputRecordError."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field_name = field_name
        self.reason = reason


def new_unit(**values: Any) -> dict[str, Any]:
    unit = dict.fromkeys(UNIT_COLUMNS)
    unit["tags"] = []
    unit.update(values)
    return unit


def blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int_in_range(n: int, value: Any, field_name: str) -> int:
    if not INT64_MIN <= n <= INT64_MAX:
        raise FieldError(field_name, f"integer out of range: {str(value)[:40]!r}")
    return n


def parse_int(value: Any, field_name: str) -> int | None:
    """An integer that fits a 64-bit column; ``3``, ``"3"`` and ``"3.0"`` are 3. NaN,
    infinities, fractions and out-of-range values raise :class:`FieldError`."""
    if type(value) is str and 0 < len(value) < 19 and value.isascii() and value.isdigit():
        return int(value)  # the common case: plain digits that fit (a dump's attribute)
    if blank(value):
        return None
    if isinstance(value, bool):
        raise FieldError(field_name, f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return _int_in_range(value, value, field_name)
    text = str(value).strip()
    try:
        return _int_in_range(int(text), value, field_name)
    except ValueError:
        pass
    try:
        f = float(text)
    except ValueError:
        raise FieldError(field_name, f"expected an integer, got {text[:40]!r}") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise FieldError(field_name, f"expected an integer, got {text[:40]!r}")
    if f != int(f):
        raise FieldError(field_name, f"expected an integer, got {text[:40]!r}")
    return _int_in_range(int(f), value, field_name)


def parse_id(value: Any, field_name: str) -> str | None:
    """An id that may have been written as a float by a spreadsheet (``54409674.0``)."""
    if type(value) is str and 0 < len(value) < 19 and value.isascii() and value.isdigit():
        return value if value[0] != "0" or len(value) == 1 else str(int(value))
    if blank(value):
        return None
    n = parse_int(value, field_name)
    if n is not None and n < 0:
        raise FieldError(field_name, f"negative id {n}: Stack Exchange and GitHub ids are positive")
    return str(n)


_EPOCH_RE = re.compile(r"^\d{9,11}(\.\d+)?$")


def parse_time(value: Any, field_name: str) -> datetime | None:
    """ISO 8601 (``2019-01-23T19:24:21.123``, ``2019-01-23 19:24:21``, ``...Z``,
    offsets) or Unix epoch seconds. Naive times are taken as UTC (Stack Exchange
    and GitHub both publish UTC)."""
    if type(value) is str and len(value) > 10 and value[4] == "-" and value[-1].isdigit():
        # the dumps' form (2019-01-23T19:24:21.123): not epoch seconds, nothing to strip
        try:
            dt = datetime.fromisoformat(value)
            return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        except (ValueError, OverflowError):
            pass  # left to the general path below, which names the field
    if blank(value):
        return None
    if isinstance(value, bool):
        raise FieldError(field_name, f"not a date/time: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(value, field_name)
    text = str(value).strip()
    if _EPOCH_RE.match(text):
        return _from_epoch(float(text), field_name)
    try:
        dt = datetime.fromisoformat(text)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise FieldError(field_name, f"not a date/time: {text[:40]!r}") from None


def _from_epoch(seconds: float, field_name: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise FieldError(field_name, f"epoch seconds out of range: {str(seconds)[:40]!r}") from None


_SO_TAGS = re.compile(r"<([^<>]+)>")


def split_tags(value: Any, *, whitespace: bool = False) -> list[str]:
    """Tags as ``<a><b>`` (SO dump and Data Explorer), ``|a|b|`` (newer dumps), a
    list, or separated by ``,``/``;``/``|`` (and by whitespace when ``whitespace``,
    for Stack Overflow tags, which never contain spaces)."""
    if blank(value):
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if not blank(v)]
    text = str(value).strip()
    if text.startswith("<"):
        return _SO_TAGS.findall(text)
    parts = re.split(r"[\s,;|]+" if whitespace else r"[,;|]", text)
    return [p.strip() for p in parts if p.strip()]
