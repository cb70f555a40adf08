"""User-facing errors.

Every error a user can cause or fix derives from :class:`PtmcoderError`. The CLI
prints it as a clean message (with its hint) and exits non-zero; any other
exception is a bug and is re-raised with its traceback when ``PTMCODER_DEBUG=1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PtmcoderError(Exception):
    """Base class of the errors shown to users without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is and what is wrong."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.location}" if self.location else self.file
        return f"{where}: {self.message}"


class ValidationError(PtmcoderError):
    """An input (codebook, config, mapping file...) has one or more problems."""

    exit_code = 2

    def __init__(self, problems: list[Problem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}:\n{body}", hint=hint)


class InputRecordError(PtmcoderError):
    """A malformed row or record in a data file: names file, record and field."""

    def __init__(
        self, file: str, record: str, field_name: str | None, reason: str, hint: str | None = None
    ) -> None:
        self.file = file
        self.record = record
        self.field_name = field_name
        self.reason = reason
        where = f"{file}: {record}" + (f", field {field_name!r}" if field_name else "")
        super().__init__(f"{where}: {reason}", hint=hint)


class NotFoundError(PtmcoderError):
    """A named thing (codebook, corpus, run, prompt) does not exist."""


class ConfigError(PtmcoderError):
    """A missing or inconsistent setting (e.g. no API key in the environment)."""


class DependencyError(PtmcoderError):
    """An optional dependency is needed for this feature and is not installed."""


def problems_from(exc: Any, file: str, data: Any = None) -> list[Problem]:
    """The one converter of a pydantic ``ValidationError`` into :class:`Problem` s: one
    per error, located by its path (``describe`` renders a location; the default
    joins the keys with ``.``), with the messages for unknown and missing keys
    spelled out."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            msg = f"missing required field {loc[-1]!r}"
        where = (
            describe_location(data, loc)
            if data is not None
            else (".".join(map(str, loc)) or "(top level)")
        )
        problems.append(Problem(file, where, msg))
    return problems


def describe_location(data: Any, loc: tuple[Any, ...]) -> str:
    """Render a pydantic location, naming nodes by id where the input has one:
    ``nodes[0] (MLM) > children[2] (MLM.MC) > definition``."""
    parts: list[str] = []
    cursor: Any = data
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if isinstance(key, str) and isinstance(nxt, int) and isinstance(cursor, dict):
            seq = cursor.get(key)
            item = seq[nxt] if isinstance(seq, list) and nxt < len(seq) else None
            label = f"{key}[{nxt}]"
            if isinstance(item, dict) and item.get("id"):
                label += f" ({item['id']})"
            parts.append(label)
            cursor = item
            i += 2
            continue
        parts.append(str(key))
        cursor = cursor.get(key) if isinstance(cursor, dict) else None
        i += 1
    return " > ".join(parts) if parts else "(top level)"
