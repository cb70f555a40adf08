"""GitHub REST API issues (``GET /repos/{owner}/{repo}/issues``) as JSON or
JSON Lines. Pull requests (objects with a ``pull_request`` key) are skipped and
counted. The repository comes from ``repository_url``, ``html_url`` or a
``repo`` field. Bodies are Markdown and kept as they are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptmcoder.corpus.readers.base import (
    FieldError,
    ImportContext,
    blank,
    new_unit,
    parse_int,
    parse_time,
)
from ptmcoder.corpus.readers.jsonio import iter_json_records
from ptmcoder.errors import InputRecordError

_REPO_FROM_URL = re.compile(r"github\.com/(?:repos/)?([^/\s]+/[^/\s]+)/(?:issues|pull)/(\d+)")
_REPO_FROM_API = re.compile(r"/repos/([^/\s]+/[^/\s]+?)/?$")


def looks_like(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and "number" in obj
        and ("html_url" in obj or "repository_url" in obj or "repo" in obj)
    )


def _repo(obj: dict[str, Any]) -> str | None:
    if isinstance(obj.get("repo"), str) and "/" in obj["repo"]:
        return obj["repo"]
    m = _REPO_FROM_API.search(str(obj.get("repository_url") or ""))
    if m:
        return m.group(1)
    m = _REPO_FROM_URL.search(str(obj.get("html_url") or ""))
    return m.group(1) if m else None


def _labels(value: Any) -> list[str]:
    if blank(value):
        return []
    if not isinstance(value, list):
        raise FieldError("labels", f"expected a list, got {type(value).__name__}")
    out = []
    for label in value:
        name = label.get("name") if isinstance(label, dict) else label
        if not blank(name):
            out.append(str(name))
    return out


def to_unit(obj: Any, source: str) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        raise FieldError("", f"expected an object, got {type(obj).__name__}")
    number = parse_int(obj.get("number"), "number")
    if number is None:
        raise FieldError("number", "missing issue number")
    if number < 0:
        raise FieldError("number", f"negative issue number {number}: GitHub numbers are positive")
    repo = _repo(obj)
    if repo is None:
        raise FieldError(
            "repository_url", "cannot tell the repository (no repository_url, html_url or repo)"
        )
    reactions = obj.get("reactions")
    score = (
        parse_int(reactions.get("total_count"), "reactions.total_count")
        if isinstance(reactions, dict)
        else parse_int(obj.get("score"), "score")
    )
    state = obj.get("state")
    if not blank(state) and state not in ("open", "closed"):
        raise FieldError("state", f"expected open or closed, got {str(state)[:20]!r}")
    if blank(obj.get("title")):
        raise FieldError("title", "missing title")
    return new_unit(
        id=f"gh:{repo}#{number}",
        platform="github",
        url=obj.get("html_url") or f"https://github.com/{repo}/issues/{number}",
        title=str(obj["title"]),
        body=str(obj.get("body") or ""),
        tags=_labels(obj.get("labels")),
        created_at=parse_time(obj.get("created_at"), "created_at"),
        score=score,
        comment_count=parse_int(obj.get("comments"), "comments"),
        project=repo,
        state=state or None,
        closed_at=parse_time(obj.get("closed_at"), "closed_at"),
        source=source,
    )


def read(path: Path, ctx: ImportContext) -> Iterator[dict[str, Any]]:
    for where, obj in iter_json_records(path, ctx):
        if isinstance(obj, dict) and obj.get("pull_request"):
            ctx.count("pull requests skipped")
            continue
        try:
            unit = to_unit(obj, f"{path.name}:{where}")
        except FieldError as exc:
            ctx.bad(InputRecordError(str(path), where, exc.field_name or None, exc.reason))
            continue
        if unit is not None:
            yield unit
