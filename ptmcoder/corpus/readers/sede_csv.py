"""Stack Exchange Data Explorer CSV exports (``SELECT * FROM Posts ...``): the
Posts columns Id, PostTypeId, AcceptedAnswerId, CreationDate, Score,
ViewCount, Body (HTML), Title, Tags, AnswerCount, CommentCount, ClosedDate.
Answer rows (PostTypeId 2) are not units; their creation time fills the
accepted-answer time of their question."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.html import html_to_text
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
from ptmcoder.corpus.readers.csvio import iter_rows
from ptmcoder.errors import InputRecordError

REQUIRED = ("Id", "Title", "Body", "CreationDate")


def looks_like(header: list[str]) -> bool:
    cols = set(header)
    return "PostTypeId" in cols or all(c in cols for c in (*REQUIRED, "Tags"))


def post_to_unit(row: dict[str, Any], source: str, ctx: ImportContext) -> dict[str, Any] | None:
    """One Posts row (CSV or dump XML attributes) to a unit; answers and other
    post types give None (answers are passed to ``ctx.answer``)."""
    post_id = parse_id(row.get("Id"), "Id")
    if post_id is None:
        raise FieldError("Id", "missing post id")
    kind = parse_int(row.get("PostTypeId"), "PostTypeId") if "PostTypeId" in row else 1
    if kind == 2:
        ctx.answer(post_id, parse_time(row.get("CreationDate"), "CreationDate"))
        ctx.count("answers read")
        return None
    if kind != 1:
        ctx.count("other post types skipped")
        return None
    title = row.get("Title")
    if blank(title):
        raise FieldError("Title", "question without a title")
    created = parse_time(row.get("CreationDate"), "CreationDate")
    closed = parse_time(row.get("ClosedDate"), "ClosedDate")
    return new_unit(
        id=f"so:{post_id}",
        platform="stackoverflow",
        url=f"https://stackoverflow.com/questions/{post_id}",
        title=title,
        body=html_to_text(row.get("Body")),
        tags=split_tags(row.get("Tags"), whitespace=True),
        created_at=created,
        score=parse_int(row.get("Score"), "Score"),
        view_count=parse_int(row.get("ViewCount"), "ViewCount"),
        answer_count=parse_int(row.get("AnswerCount"), "AnswerCount"),
        comment_count=parse_int(row.get("CommentCount"), "CommentCount"),
        accepted_answer_id=parse_id(row.get("AcceptedAnswerId"), "AcceptedAnswerId"),
        project="stackoverflow.com",
        state="closed" if closed else "open",
        closed_at=closed,
        source=source,
    )


def read(path: Path, ctx: ImportContext) -> Iterator[dict[str, Any]]:
    for where, row in iter_rows(path, ctx):
        missing = [c for c in ("Id", "Title", "CreationDate") if c not in row]
        if missing:
            ctx.bad(
                InputRecordError(
                    str(path),
                    "line 1",
                    missing[0],
                    "not a Data Explorer Posts export: column missing",
                )
            )
            return
        try:
            unit = post_to_unit(row, f"{path.name}:{where}", ctx)
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name, exc.reason))
            continue
        if unit is not None:
            yield unit
