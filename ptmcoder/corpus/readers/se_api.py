"""Stack Exchange API JSON (``/questions?filter=withbody``, optionally with
``answers``): the API's wrapper ``{"items": [...]}``, a bare array or JSON Lines.
Times are Unix epoch seconds; titles are HTML-escaped and bodies HTML. The
accepted answer's time comes from the question's ``answers`` when present.

The site of a question (:mod:`ptmcoder.corpus.sites`) is ``--site``, else its ``link``'s,
else the file or folder name's, else Stack Overflow. A response without bodies (the
API's default filter) and a page with ``has_more: true`` (a truncated result) are
imported with a counted warning."""

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
from ptmcoder.corpus.sites import STACK_OVERFLOW, Site, assumed_warning, site_of_link, site_of_path
from ptmcoder.errors import InputRecordError

NO_BODY = "questions without a body (API response without filter=withbody)"
TRUNCATED = "API pages with has_more: true (more results not in the file)"


def looks_like(obj: Any) -> bool:
    return isinstance(obj, dict) and "question_id" in obj


def _text(obj: dict[str, Any], key: str) -> str | None:
    """An optional text field: a string, or absent (anything else is a located error)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(key, f"expected a string, got {type(value).__name__}")
    return value


def question_site(obj: dict[str, Any], given: Site | None, fallback: Site) -> Site:
    """``given`` (``--site``; a ``link`` on another site is a located error), else the
    site of the question's ``link``, else ``fallback``."""
    linked = site_of_link(obj.get("link"))
    if given is not None:
        if linked is not None and linked != given:
            raise FieldError("link", f"a question of {linked.host}, but --site is {given.host}")
        return given
    return linked or fallback


def to_unit(
    obj: Any,
    source: str,
    ctx: ImportContext,
    site: Site | None = None,
    fallback: Site = STACK_OVERFLOW,
) -> dict[str, Any]:
    """One API question; ``site`` is ``--site``, ``fallback`` the site of a question
    without a link (see :func:`question_site`)."""
    if not isinstance(obj, dict):
        raise FieldError("", f"expected an object, got {type(obj).__name__}")
    qid = parse_id(obj.get("question_id"), "question_id")
    if qid is None:
        raise FieldError("question_id", "missing question_id")
    on = question_site(obj, site, fallback)
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
        id=on.unit_id(qid),
        platform="stackoverflow",
        url=_text(obj, "link") or on.url(qid),
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
        project=on.host,
        state="closed" if closed_at else "open",
        closed_at=closed_at,
        source=source,
    )


def read(path: Path, ctx: ImportContext, site: Site | None = None) -> Iterator[dict[str, Any]]:
    from_path = site_of_path(path)
    pages: list[dict[str, Any]] = []
    questions = no_body = 0
    assumed = False
    for where, obj in iter_json_records(path, ctx, on_wrapper=pages.append):
        try:
            unit = to_unit(obj, f"{path.name}:{where}", ctx, site, from_path or STACK_OVERFLOW)
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name or None, exc.reason))
            continue
        questions += 1
        if "body" not in obj:
            no_body += 1
        if site is None and from_path is None and not assumed and not site_of_link(obj.get("link")):
            assumed = True  # nothing told the site: once per file
            ctx.warn(assumed_warning(path))
        yield unit
    if no_body:
        ctx.count(NO_BODY, no_body)
        ctx.warn(
            f"{path}: {no_body} of {questions} question(s) have no 'body' field: the API "
            f"sends bodies only when asked; their units are the title alone. Fetch them again "
            f"with filter=withbody (e.g. /2.3/questions?site=SITE&filter=withbody)"
        )
    for page in pages:
        if page.get("has_more") is True:
            ctx.count(TRUNCATED)
            page_no = page.get("page")
            ctx.warn(
                f"{path}: field 'has_more' is true: the API had more results than this file "
                f"holds ({len(page.get('items') or [])} item(s)"
                + (f", page {page_no}" if isinstance(page_no, int) else "")
                + "); fetch the next pages (page=N+1) and import them too"
            )
