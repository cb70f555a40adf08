"""Property-based tests (issue #10): every corpus reader, fed malformed and extreme
records, gives units that fit the corpus schema or a located PtmcoderError, never
another exception. Under ``--on-error skip`` no record-level error escapes."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest
from fakes import posts_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptmcoder.corpus.readers import detect_format, github, plain_csv, posts_xml, se_api, sede_csv
from ptmcoder.corpus.readers.base import ImportContext, OnError
from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.errors import InputRecordError, PtmcoderError

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

EXTREME_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e20, -1e20, 1e400, 0.5, -0.0, 2**63, -(2**63) - 1, 1577836800]),
)
TEXTS = st.text(max_size=30)
NUMERIC_TEXT = st.one_of(
    st.sampled_from(
        ["nan", "NaN", "1e400", "-inf", "99999999999999999999999", "1e20", "3.0", "3.5", "", " "]
    ),
    EXTREME_NUMBERS.map(str),
    TEXTS,
)
TIME_TEXT = st.one_of(
    st.sampled_from(
        [
            "2020-01-01 00:00:00",
            "2019-01-23T19:24:21.123Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "1e20",
            "99999999999",
            "2020-13-45",
        ]
    ),
    NUMERIC_TEXT,
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), EXTREME_NUMBERS, TEXTS)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)


def field(good):
    """A value that is usually plausible and often hostile."""
    return st.one_of(good, JSON_VALUES, st.just(None))


def check(units: list[dict]) -> None:
    """The units fit the corpus schema (what the store writes)."""
    pa.Table.from_pylist(units, schema=UNIT_SCHEMA)
    assert all(isinstance(u["id"], str) and u["id"] for u in units)


def outcome(read, path: Path) -> None:
    for policy in (OnError.FAIL, OnError.SKIP):
        ctx = ImportContext(on_error=policy)
        try:
            units = list(read(path, ctx))
        except InputRecordError as exc:
            assert exc.file == str(path) and exc.record, exc
            assert policy is OnError.FAIL or "DTD" in exc.reason, exc
            continue
        except PtmcoderError as exc:
            assert str(path) in str(exc), exc
            continue
        check(units)
        for skipped in ctx.skipped:
            assert skipped.file == str(path) and skipped.record


def detect(path: Path, **kw) -> None:
    try:
        detect_format(path, **kw)
    except PtmcoderError:
        pass


def dumps(obj) -> str:
    return json.dumps(obj, allow_nan=True)


SE_ITEM = st.fixed_dictionaries(
    {
        "question_id": field(st.integers(min_value=1, max_value=10**9)),
        "title": field(TEXTS),
    },
    optional={
        "body": field(TEXTS),
        "creation_date": field(EXTREME_NUMBERS),
        "closed_date": field(EXTREME_NUMBERS),
        "score": field(EXTREME_NUMBERS),
        "view_count": field(EXTREME_NUMBERS),
        "accepted_answer_id": field(EXTREME_NUMBERS),
        "tags": field(st.lists(TEXTS, max_size=3)),
        "link": field(TEXTS),
        "answers": field(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "answer_id": field(EXTREME_NUMBERS),
                        "creation_date": field(EXTREME_NUMBERS),
                        "is_accepted": field(st.booleans()),
                    }
                ),
                max_size=2,
            )
        ),
    },
)


@SETTINGS
@given(items=st.lists(st.one_of(SE_ITEM, JSON_VALUES), max_size=4), wrap=st.booleans())
def test_se_api_json(tmp_path_factory, items, wrap):
    path = tmp_path_factory.mktemp("se") / "api.json"
    path.write_text(dumps({"items": items} if wrap else items))
    detect(path)
    outcome(se_api.read, path)


GH_ITEM = st.fixed_dictionaries(
    {"number": field(st.integers(min_value=1, max_value=10**6)), "title": field(TEXTS)},
    optional={
        "repo": field(st.sampled_from(["a/b", "owner/repo", "x"])),
        "html_url": field(st.sampled_from(["https://github.com/a/b/issues/3", "nope"])),
        "repository_url": field(st.sampled_from(["https://api.github.com/repos/a/b", ""])),
        "body": field(TEXTS),
        "created_at": field(st.one_of(TIME_TEXT, EXTREME_NUMBERS)),
        "closed_at": field(st.one_of(TIME_TEXT, EXTREME_NUMBERS)),
        "state": field(st.sampled_from(["open", "closed", "merged"])),
        "labels": field(st.lists(st.one_of(TEXTS, st.fixed_dictionaries({"name": field(TEXTS)})))),
        "reactions": field(st.fixed_dictionaries({"total_count": field(EXTREME_NUMBERS)})),
        "comments": field(EXTREME_NUMBERS),
        "pull_request": field(st.just({"url": "x"})),
    },
)


@SETTINGS
@given(
    items=st.lists(st.one_of(GH_ITEM, JSON_VALUES), max_size=4),
    lines=st.booleans(),
    garbage=st.one_of(st.none(), TEXTS),
)
def test_github_json_and_jsonl(tmp_path_factory, items, lines, garbage):
    folder = tmp_path_factory.mktemp("gh")
    if lines:
        path = folder / "issues.jsonl"
        rows = [dumps(i) for i in items] + ([garbage] if garbage is not None else [])
        path.write_text("\n".join(rows) + "\n")
    else:
        path = folder / "issues.json"
        path.write_text(dumps(items) + (garbage or ""))
    detect(path)
    outcome(github.read, path)


SEDE_COLUMNS = [
    "Id",
    "PostTypeId",
    "AcceptedAnswerId",
    "CreationDate",
    "Score",
    "ViewCount",
    "Body",
    "Title",
    "Tags",
    "AnswerCount",
    "CommentCount",
    "ClosedDate",
]
SEDE_ROW = st.fixed_dictionaries(
    {
        "Id": NUMERIC_TEXT,
        "PostTypeId": st.one_of(st.sampled_from(["1", "2", "3"]), NUMERIC_TEXT),
        "AcceptedAnswerId": NUMERIC_TEXT,
        "CreationDate": TIME_TEXT,
        "Score": NUMERIC_TEXT,
        "ViewCount": NUMERIC_TEXT,
        "Body": TEXTS,
        "Title": TEXTS,
        "Tags": TEXTS,
        "AnswerCount": NUMERIC_TEXT,
        "CommentCount": NUMERIC_TEXT,
        "ClosedDate": TIME_TEXT,
    }
)


def csv_text(header: list[str], rows: list[dict], extra: str | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return out.getvalue() + (extra or "")


@SETTINGS
@given(
    rows=st.lists(SEDE_ROW, max_size=5),
    extra=st.one_of(st.none(), TEXTS, st.just('"unterminated,quote\n1,2')),
)
def test_sede_csv(tmp_path_factory, rows, extra):
    path = tmp_path_factory.mktemp("sede") / "QueryResults.csv"
    path.write_text(csv_text(SEDE_COLUMNS, rows, extra))
    detect(path)
    outcome(sede_csv.read, path)


@SETTINGS
@given(
    rows=st.lists(SEDE_ROW, max_size=5),
    tail=st.sampled_from(["</posts>\n", "", "<row Id=", "</posts><row/>", "&amp;"]),
    doctype=st.sampled_from(["", '<!DOCTYPE posts [<!ENTITY a "b">]>\n', "<!DOCTYPE posts>\n"]),
)
def test_posts_xml(tmp_path_factory, rows, tail, doctype):
    path = tmp_path_factory.mktemp("xml") / "Posts.xml"
    body = "".join(posts_row(r) + "\n" for r in rows)
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}<posts>\n{body}{tail}')
    detect(path)
    outcome(posts_xml.read, path)


PLAIN_MAPPING = {
    "id": "id",
    "title": "title",
    "body": "body",
    "created_at": "created",
    "closed_at": "closed",
    "score": "score",
    "tags": "tags",
    "state": "state",
    "project": "repo",
    "accepted_answer_id": "acc",
}
PLAIN_ROW = st.fixed_dictionaries(
    {
        "id": st.one_of(TEXTS, NUMERIC_TEXT),
        "title": TEXTS,
        "body": TEXTS,
        "created": TIME_TEXT,
        "closed": TIME_TEXT,
        "score": NUMERIC_TEXT,
        "tags": TEXTS,
        "state": st.one_of(st.sampled_from(["open", "CLOSED", "merged"]), TEXTS),
        "repo": TEXTS,
        "acc": NUMERIC_TEXT,
    }
)


@SETTINGS
@given(
    rows=st.lists(PLAIN_ROW, max_size=5),
    platform=st.sampled_from(["github", "stackoverflow"]),
    extra=st.one_of(st.none(), TEXTS),
)
def test_plain_csv(tmp_path_factory, rows, platform, extra):
    path = tmp_path_factory.mktemp("plain") / "issues.csv"
    path.write_text(csv_text(list(PLAIN_MAPPING.values()), rows, extra))
    detect(path, has_mapping=True)

    def read(p, ctx):
        return plain_csv.read(p, ctx, mapping=PLAIN_MAPPING, platform=platform)

    outcome(read, path)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e400, 10**30, "1e400", "nan"])
def test_the_extremes_hypothesis_may_miss_are_covered(tmp_path, value):
    path = tmp_path / "api.json"
    path.write_text(dumps({"items": [{"question_id": 1, "title": "t", "score": value}]}))
    outcome(se_api.read, path)


# ------------------------------------------------------------- sites (issue #25, item 4)

SITE_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True).filter(
    lambda s: s not in ("stackoverflow", "so")
)


@SETTINGS
@given(a=SITE_NAMES, b=SITE_NAMES, ids=st.lists(st.integers(1, 10**9), min_size=1, max_size=8))
def test_two_sites_with_the_same_question_ids_never_collide(a, b, ids):
    """Any two distinct sites give distinct unit ids and URLs for the same question ids,
    and Stack Overflow's stay so:N; a link reads back as the site it names."""
    from ptmcoder.corpus.sites import STACK_OVERFLOW, parse_site, site_of_link

    site_a, site_b = parse_site(a), parse_site(b)
    sites = [site_a, site_b, STACK_OVERFLOW]
    for qid in map(str, set(ids)):
        unit_ids = {s.unit_id(qid) for s in sites}
        assert len(unit_ids) == (2 if a == b else 3)
        assert STACK_OVERFLOW.unit_id(qid) == f"so:{qid}"
        for site in sites:
            assert site_of_link(site.url(qid)) == site
            assert site.url(qid) == f"https://{site.host}/questions/{qid}"


@SETTINGS
@given(
    title=st.one_of(st.none(), st.just(math.nan), TEXTS),
    body=st.one_of(st.none(), st.just(math.nan), TEXTS),
)
def test_unit_text_never_shows_a_missing_value(title, body):
    """A missing title or body (None, NaN) is no text: never 'None' or 'nan'."""
    from ptmcoder.corpus.units import unit_text

    t = title.strip() if isinstance(title, str) else ""
    b = body.strip() if isinstance(body, str) else ""
    assert unit_text({"title": title, "body": body}) == (
        f"Title: {t}\n\n{b}" if t and b else b or t
    )
