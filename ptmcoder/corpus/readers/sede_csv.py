"""Stack Exchange Data Explorer CSV exports (``SELECT * FROM Posts ...``): the
Posts columns Id, PostTypeId, AcceptedAnswerId, CreationDate, Score,
ViewCount, Body (HTML), Title, Tags, AnswerCount, CommentCount, ClosedDate.
Answer rows (PostTypeId 2) are not units; their creation time fills the
accepted-answer time of their question. The site (:mod:`ptmcoder.corpus.sites`) is
``--site``, a row's ``Link`` column, or the file or folder name; else Stack Overflow."""

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
from ptmcoder.corpus.sites import STACK_OVERFLOW, Site, assumed_warning, site_of_link, site_of_path
from ptmcoder.errors import InputRecordError

REQUIRED = ("Id", "Title", "Body", "CreationDate")


def looks_like(header: list[str]) -> bool:
    cols = set(header)
    return "PostTypeId" in cols or all(c in cols for c in (*REQUIRED, "Tags"))


def post_to_unit(
    row: dict[str, Any], source: str, ctx: ImportContext, site: Site = STACK_OVERFLOW
) -> dict[str, Any] | None:
    """One Posts row (CSV or dump XML attributes) of ``site`` to a unit; answers and
    other post types give None (answers are passed to ``ctx.answer``)."""
    post_id = parse_id(row.get("Id"), "Id")
    if post_id is None:
        raise FieldError("Id", "missing post id")
    kind = parse_int(row.get("PostTypeId"), "PostTypeId") if "PostTypeId" in row else 1
    if kind == 2:
        # by the site's id (beer:12): two sites' answer 12 are two answers
        ctx.answer(site.unit_id(post_id), parse_time(row.get("CreationDate"), "CreationDate"))
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
        id=site.unit_id(post_id),
        platform="stackoverflow",
        url=site.url(post_id),
        title=title,
        body=html_to_text(row.get("Body")),
        tags=split_tags(row.get("Tags"), whitespace=True),
        created_at=created,
        score=parse_int(row.get("Score"), "Score"),
        view_count=parse_int(row.get("ViewCount"), "ViewCount"),
        answer_count=parse_int(row.get("AnswerCount"), "AnswerCount"),
        comment_count=parse_int(row.get("CommentCount"), "CommentCount"),
        accepted_answer_id=parse_id(row.get("AcceptedAnswerId"), "AcceptedAnswerId"),
        project=site.host,
        state="closed" if closed else "open",
        closed_at=closed,
        source=source,
    )


def row_site(row: dict[str, Any], given: Site | None, fallback: Site) -> Site:
    """The site of a row: ``given`` (``--site``; a ``Link`` on another site is a located
    error), else its ``Link``'s, else ``fallback``."""
    linked = site_of_link(row.get("Link"))
    if given is not None:
        if linked is not None and linked != given:
            raise FieldError("Link", f"a question of {linked.host}, but --site is {given.host}")
        return given
    return linked or fallback


def read(path: Path, ctx: ImportContext, site: Site | None = None) -> Iterator[dict[str, Any]]:
    fallback = site_of_path(path)
    assumed = False
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
            row_at = row_site(row, site, fallback or STACK_OVERFLOW)
            if (
                site is None
                and fallback is None
                and not assumed
                and not site_of_link(row.get("Link"))
            ):
                assumed = True  # nothing told the site: once per file
                ctx.warn(assumed_warning(path))
            unit = post_to_unit(row, f"{path.name}:{where}", ctx, row_at)
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name, exc.reason))
            continue
        if unit is not None:
            yield unit
