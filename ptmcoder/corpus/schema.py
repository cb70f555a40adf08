"""The normalized unit: one Stack Overflow question or GitHub issue.

Both platforms share one record so that every later stage (annotation,
agreement, statistics) reads a single table. A corpus is stored as Parquet with
exactly these columns, in this order (:data:`UNIT_SCHEMA`).
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class Platform(StrEnum):
    STACKOVERFLOW = "stackoverflow"
    GITHUB = "github"


_TS = pa.timestamp("us", tz="UTC")

#: Column name -> (arrow type, description). ``id`` is unique within a corpus:
#: ``so:<question id>`` (Stack Overflow), ``<site>:<question id>`` (another Stack
#: Exchange site, e.g. ``beer:12``; platform ``stackoverflow``, project the site's host,
#: see :mod:`ptmcoder.corpus.sites`) or ``gh:<owner>/<repo>#<number>``.
UNIT_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "id": (pa.string(), "unique unit id, so:<qid>, <site>:<qid> or gh:<owner/repo>#<number>"),
    "platform": (pa.string(), "stackoverflow or github"),
    "url": (pa.string(), "canonical URL of the question or issue"),
    "title": (pa.string(), "title"),
    "body": (pa.string(), "body as clean text; code blocks kept between ``` fences"),
    "tags": (pa.list_(pa.string()), "Stack Overflow tags or GitHub labels"),
    "created_at": (_TS, "creation time (UTC)"),
    "score": (pa.int64(), "question score (SO) or reactions (GitHub), if known"),
    "view_count": (pa.int64(), "views (SO)"),
    "answer_count": (pa.int64(), "answers (SO)"),
    "comment_count": (pa.int64(), "comments"),
    "accepted_answer_id": (pa.string(), "id of the accepted answer (SO)"),
    "accepted_answer_at": (_TS, "creation time of the accepted answer (SO), for response time"),
    "project": (pa.string(), "owner/repo (GitHub) or the site's host (Stack Exchange)"),
    "state": (pa.string(), "open or closed"),
    "closed_at": (_TS, "closing time, for resolution time"),
    "source": (pa.string(), "file and record the unit was read from"),
}

UNIT_SCHEMA = pa.schema([pa.field(name, typ) for name, (typ, _) in UNIT_FIELDS.items()])
UNIT_COLUMNS = list(UNIT_FIELDS)
