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


class PtmcoderWarning(UserWarning):
    """Inconsistent data a command can still work with (an alias on two codes, ...):
    a library function warns with it (``warnings.warn``), naming the file and what is
    wrong; the CLI prints each once on stderr as ``warning: ...``."""


class NotFoundError(PtmcoderError):
    """A named thing (codebook, corpus, run, prompt) does not exist."""


class ConfigError(PtmcoderError):
    """A missing or inconsistent setting (e.g. no API key in the environment)."""


class DependencyError(PtmcoderError):
    """An optional dependency is needed for this feature and is not installed."""


def problems_from(exc: Any, file: str, data: Any = None, *, model: Any = None) -> list[Problem]:
    """The one converter of a pydantic ``ValidationError`` into :class:`Problem` s: one
    per error, located by its path (``describe`` renders a location; the default
    joins the keys with ``.``), with the messages for unknown and missing keys
    spelled out. Given the top ``model`` (a config file's), each location reads
    ``key a.b[1].c`` and an unknown key names the nearest known key and every known
    key of the model that holds it."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
            if model is not None:
                msg += _suggestion(model, loc)
        elif err["type"] == "missing":
            msg = f"missing required field {loc[-1]!r}"
        if model is not None:
            where = "key " + "".join(
                f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                for i, p in enumerate(loc)
            )
        elif data is not None:
            where = describe_location(data, loc)
        else:
            where = ".".join(map(str, loc)) or "(top level)"
        problems.append(Problem(file, where, msg))
    return problems


def _suggestion(model: Any, loc: tuple[Any, ...]) -> str:
    """``; did you mean 'x'? (known: ...)`` for the unknown key at ``loc`` of ``model``."""
    import difflib

    from pydantic import BaseModel

    holder: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = {f.alias or name: f for name, f in holder.model_fields.items()}
        field = fields.get(part)
        if field is None:
            return ""
        options = getattr(field.annotation, "__args__", ()) or (field.annotation,)
        inner = [c for c in options if isinstance(c, type) and issubclass(c, BaseModel)]
        if not inner:
            return ""
        holder = inner[0]
    known = [f.alias or name for name, f in holder.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return (f"; did you mean {close[0]!r}?" if close else "") + f" (known: {', '.join(known)})"


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
