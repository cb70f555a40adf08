"""Stack Exchange API JSON (``/questions?filter=withbody``, optionally with
``answers``): the API's wrapper ``{"items": [...]}``, a bare array or JSON Lines.
Times are Unix epoch seconds; titles are HTML-escaped and bodies HTML. The
accepted answer's time comes from the question's ``answers`` when present."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.html import html_to_text
from ptmcoder.corpus.readers.base import (
    FieldError,
    ImportContext,
    new_unit,
    parse_id,
    parse_int,
    parse_time,
    split_tags,
)
from ptmcoder.corpus.readers.jsonio import iter_json_records
from ptmcoder.errors import InputRecordError


def looks_like(obj: Any) -> bool:
    return isinstance(obj, dict) and "question_id" in obj


def _text(obj: dict[str, Any], key: str) -> str | None:
    """An optional text field: a string, or absent (anything else is a located error)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(key, f"expected a string, got {type(value).__name__}")
    return value


def to_unit(obj: Any, source: str, ctx: ImportContext) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FieldError("", f"expected an object, got {type(obj).__name__}")
    qid = parse_id(obj.get("question_id"), "question_id")
    if qid is None:
        raise FieldError("question_id", "missing question_id")
    if not obj.get("title"):
        raise FieldError("title", "missing title")
    accepted = parse_id(obj.get("accepted_answer_id"), "accepted_answer_id")
    accepted_at = None
    answers = obj.get("answers") or []
    if not isinstance(answers, list):
        raise FieldError("answers", "expected a list")
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise FieldError(f"answers[{i}]", "expected an object")
        aid = parse_id(answer.get("answer_id"), f"answers[{i}].answer_id")
        at = parse_time(answer.get("creation_date"), f"answers[{i}].creation_date")
        if answer.get("is_accepted") and accepted is None:
            accepted = aid
        if aid is not None and aid == accepted:
            accepted_at = at
    closed_at = parse_time(obj.get("closed_date"), "closed_date")
    tags = obj.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise FieldError("tags", "expected a list of strings")
    return new_unit(
        id=f"so:{qid}",
        platform="stackoverflow",
        url=_text(obj, "link") or f"https://stackoverflow.com/questions/{qid}",
        title=html.unescape(str(obj["title"])),
        body=html_to_text(_text(obj, "body")),
        tags=split_tags(tags),
        created_at=parse_time(obj.get("creation_date"), "creation_date"),
        score=parse_int(obj.get("score"), "score"),
        view_count=parse_int(obj.get("view_count"), "view_count"),
        answer_count=parse_int(obj.get("answer_count"), "answer_count"),
        comment_count=parse_int(obj.get("comment_count"), "comment_count"),
        accepted_answer_id=accepted,
        accepted_answer_at=accepted_at,
        project="stackoverflow.com",
        state="closed" if closed_at else "open",
        closed_at=closed_at,
        source=source,
    )


def read(path: Path, ctx: ImportContext) -> Iterator[dict[str, Any]]:
    for where, obj in iter_json_records(path, ctx):
        try:
            yield to_unit(obj, f"{path.name}:{where}", ctx)
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name or None, exc.reason))
