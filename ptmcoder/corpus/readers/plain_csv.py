"""Any CSV with a column mapping: ``{"title": "Title", "body": "Body", ...}``
(``--map title=Title,body=Body``), unit field -> column. ``platform`` is given
by the caller. Without an ``id`` column, ids are ``<file stem>:<line>``; a bare
id becomes ``gh:<project>#<id>`` (GitHub with a project) or ``so:<id>``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.readers.base import (
    FieldError,
    ImportContext,
    blank,
    new_unit,
    parse_id,
    parse_int,
    parse_time,
    split_tags,
)
from ptmcoder.corpus.readers.csvio import iter_rows, read_header
from ptmcoder.corpus.schema import UNIT_FIELDS
from ptmcoder.errors import InputRecordError, Problem, ValidationError

MAPPABLE = [f for f in UNIT_FIELDS if f not in ("platform", "source")]
_INTS = {"score", "view_count", "answer_count", "comment_count"}
_TIMES = {"created_at", "accepted_answer_at", "closed_at"}


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``title=Title,body=Body`` -> ``{"title": "Title", "body": "Body"}``."""
    mapping: dict[str, str] = {}
    problems = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            problems.append(Problem("--map", part.strip(), "expected FIELD=COLUMN"))
        elif key not in MAPPABLE:
            problems.append(
                Problem("--map", key, f"unknown unit field; one of {', '.join(MAPPABLE)}")
            )
        else:
            mapping[key] = column
    if problems:
        raise ValidationError(problems, hint="e.g. --map title=Title,body=Body,created_at=Date")
    return mapping


def check_mapping(path: Path, mapping: dict[str, str]) -> None:
    header = read_header(path)
    problems = [
        Problem(str(path), f"--map {k}={c}", f"no column {c!r} in the header")
        for k, c in mapping.items()
        if c not in header
    ]
    if "title" not in mapping and "body" not in mapping:
        problems.append(Problem(str(path), "--map", "map at least title or body"))
    if problems:
        raise ValidationError(problems, hint=f"columns: {', '.join(header)}")


def read(
    path: Path, ctx: ImportContext, *, mapping: dict[str, str], platform: str
) -> Iterator[dict[str, Any]]:
    check_mapping(path, mapping)
    prefix = "gh" if platform == "github" else "so"
    for where, row in iter_rows(path, ctx):
        try:
            values: dict[str, Any] = {}
            for key, column in mapping.items():
                raw = row[column]
                if key in _INTS:
                    values[key] = parse_int(raw, column)
                elif key in _TIMES:
                    values[key] = parse_time(raw, column)
                elif key == "tags":
                    values[key] = split_tags(raw)
                elif key == "accepted_answer_id":
                    values[key] = parse_id(raw, column)
                else:
                    values[key] = None if blank(raw) else raw
            raw_id = values.pop("id", None)
            if raw_id is None and "id" in mapping:
                raise FieldError(mapping["id"], "empty id")
            if raw_id is None:
                uid = f"{path.stem}:{where.split()[-1]}"
            elif ":" in raw_id:
                uid = raw_id
            elif platform == "github" and values.get("project"):
                uid = f"gh:{values['project']}#{raw_id}"
            else:
                uid = f"{prefix}:{raw_id}"
            if values.get("state") not in (None, "open", "closed"):
                values["state"] = str(values["state"]).lower()
                if values["state"] not in ("open", "closed"):
                    raise FieldError(mapping["state"], "expected open or closed")
            if values.get("state") is None and "closed_at" in mapping:
                values["state"] = "closed" if values.get("closed_at") else "open"
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name, exc.reason))
            continue
        yield new_unit(id=uid, platform=platform, source=f"{path.name}:{where}", **values)
