"""Stack Exchange sites other than Stack Overflow (issue #25, item 4): Posts.xml, Data
Explorer and API imports give ``<site>:<id>`` ids, the site's URLs and project, and two
sites in one corpus keep both sets of questions. The files are built with the structure
of the real dumps (``beer.stackexchange.com/Posts.xml``: questions and answers as
``<row>`` attributes, HTML bodies, ``|tag|`` tags) and of the real API's responses."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from ptmcoder.corpus import store
from ptmcoder.corpus.sites import STACK_OVERFLOW, parse_site, site_of_link, site_of_path
from ptmcoder.errors import InputRecordError, PtmcoderError


def _row(**attrs: object) -> str:
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />"


def _question(qid: int, title: str, *, accepted: int | None = None, **extra: object) -> str:
    attrs: dict[str, object] = {"Id": qid, "PostTypeId": 1}
    if accepted is not None:
        attrs["AcceptedAnswerId"] = accepted
    attrs.update(
        CreationDate=f"2014-01-{qid % 28 + 1:02d}T20:26:05.383",
        Score=qid % 7,
        ViewCount=100 + qid,
        Body=f"<p>{title}, asked on the site.</p>\n",
        OwnerUserId=7,
        LastActivityDate="2014-01-22T19:53:48.917",
        Title=title,
        Tags="|hops|brewing|",
        AnswerCount=1,
        CommentCount=0,
        ContentLicense="CC BY-SA 3.0",
    )
    attrs.update(extra)
    return _row(**attrs)


def _answer(aid: int, parent: int, created: str) -> str:
    return _row(
        Id=aid,
        PostTypeId=2,
        ParentId=parent,
        CreationDate=created,
        Score=3,
        Body="<p>An answer.</p>",
        OwnerUserId=8,
        LastActivityDate=created,
        CommentCount=0,
        ContentLicense="CC BY-SA 3.0",
    )


def _dump(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Posts.xml"
    body = "\n".join(rows)
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n{body}\n</posts>\n', "utf-8")
    return path


def _two_sites(tmp_path: Path) -> tuple[Path, Path]:
    """Two dumps whose question and answer ids overlap (1-3 on both sites), with each
    site's accepted answer created at a different time."""
    beer = _dump(
        tmp_path / "beer.stackexchange.com",
        [
            _question(1, "What is a citra hop?", accepted=4),
            _question(2, "How long does beer keep?"),
            _question(3, "Is lager a yeast?"),
            _answer(4, 1, "2014-01-21T21:00:00.000"),
        ],
    )
    math = _dump(
        tmp_path / "matheducators.stackexchange.com",
        [
            _question(1, "How to teach fractions?", accepted=4),
            _question(2, "Proofs in school?"),
            _question(3, "Calculus before algebra?"),
            _answer(4, 1, "2014-03-01T08:00:00.000"),
        ],
    )
    return beer, math


def test_two_sites_posts_xml_keep_both_sets_with_their_ids_urls_and_projects(tmp_path):
    beer, math = _two_sites(tmp_path)
    summary = store.import_corpus([beer, math], "two")
    assert summary.units == 6 and summary.duplicate_rows_dropped == 0
    assert summary.by_site == {
        "beer.stackexchange.com": 3,
        "matheducators.stackexchange.com": 3,
    }
    assert not any("Stack Overflow" in w for w in summary.warnings)
    df = store.load_corpus("two").set_index("id")
    assert sorted(df.index) == [
        "beer:1",
        "beer:2",
        "beer:3",
        "matheducators:1",
        "matheducators:2",
        "matheducators:3",
    ]
    assert df.loc["beer:1", "url"] == "https://beer.stackexchange.com/questions/1"
    assert df.loc["matheducators:3", "url"] == "https://matheducators.stackexchange.com/questions/3"
    assert df.loc["beer:2", "project"] == "beer.stackexchange.com"
    assert df.loc["matheducators:2", "project"] == "matheducators.stackexchange.com"
    assert df.loc["beer:1", "title"] == "What is a citra hop?"
    assert df.loc["matheducators:1", "title"] == "How to teach fractions?"
    assert list(df.loc["beer:1", "tags"]) == ["hops", "brewing"]
    # each site's accepted answer 4 is its own: the join does not cross sites
    assert str(df.loc["beer:1", "accepted_answer_at"]) == "2014-01-21 21:00:00+00:00"
    assert str(df.loc["matheducators:1", "accepted_answer_at"]) == "2014-03-01 08:00:00+00:00"


def test_the_dump_file_name_tells_the_site_too(tmp_path):
    path = tmp_path / "beer.stackexchange.com-Posts.xml"
    _dump(tmp_path / "x", [_question(7, "Ale?")]).rename(path)
    store.import_corpus([path], "b")
    assert store.load_corpus("b")["id"].tolist() == ["beer:7"]


def test_site_option_overrides_and_via_cli(run_cli, tmp_path):
    path = _dump(tmp_path / "dump", [_question(5, "Stout?"), _question(6, "Porter?")])
    result = run_cli("corpus", "import", path, "--name", "b", "--site", "beer", "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["by_site"] == {"beer.stackexchange.com": 2}
    shown = run_cli("corpus", "import", path, "--name", "b2", "--site", "beer.stackexchange.com")
    assert shown.exit_code == 0 and "site beer.stackexchange.com: n=2" in shown.stdout
    df = store.load_corpus("b")
    assert df["id"].tolist() == ["beer:5", "beer:6"]
    assert set(df["project"]) == {"beer.stackexchange.com"}
    bad = run_cli("corpus", "import", path, "--name", "c", "--site", "example.com")
    assert bad.exit_code != 0 and "not a Stack Exchange site" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_stack_overflow_stays_so_and_an_unnamed_dump_is_said_to_be_taken_as_so(tmp_path):
    named = _dump(tmp_path / "stackoverflow.com-Posts", [_question(9, "Why?")])
    summary = store.import_corpus([named], "so")
    df = store.load_corpus("so")
    assert df["id"].tolist() == ["so:9"]
    assert df["url"].tolist() == ["https://stackoverflow.com/questions/9"]
    assert df["project"].tolist() == ["stackoverflow.com"]
    assert not summary.warnings
    unnamed = _dump(tmp_path / "dump", [_question(9, "Why?")])
    summary = store.import_corpus([unnamed], "so2")
    assert store.load_corpus("so2")["id"].tolist() == ["so:9"]
    (warning,) = summary.warnings
    assert str(unnamed) in warning and "--site" in warning


def test_sede_csv_takes_the_site_from_a_link_column(tmp_path):
    path = tmp_path / "QueryResults.csv"
    path.write_text(
        "Id,PostTypeId,AcceptedAnswerId,CreationDate,Score,ViewCount,Body,Title,Tags,"
        "AnswerCount,CommentCount,ClosedDate,Link\n"
        "11,1,,2015-02-01 10:00:00,3,40,<p>b</p>,Hops?,<hops>,0,0,,"
        "https://beer.stackexchange.com/questions/11\n"
        "11,1,,2016-02-01 10:00:00,1,10,<p>m</p>,Fractions?,<algebra>,0,0,,"
        "https://matheducators.stackexchange.com/questions/11/fractions\n",
        encoding="utf-8",
    )
    summary = store.import_corpus([path], "q")
    assert summary.duplicate_rows_dropped == 0 and not summary.warnings
    df = store.load_corpus("q")
    assert df["id"].tolist() == ["beer:11", "matheducators:11"]
    assert df["url"].tolist() == [
        "https://beer.stackexchange.com/questions/11",
        "https://matheducators.stackexchange.com/questions/11",
    ]


def _api(tmp_path: Path, items: list[dict], name: str = "response.json", **wrapper) -> Path:
    path = tmp_path / name
    page = {"items": items, "has_more": False, "quota_max": 300, "quota_remaining": 287}
    page.update(wrapper)
    path.write_text(json.dumps(page), encoding="utf-8")
    return path


def _api_question(qid: int, site: str, **extra) -> dict:
    item = {
        "tags": ["hops"],
        "is_answered": True,
        "view_count": 50,
        "answer_count": 1,
        "score": 2,
        "creation_date": 1390335965,
        "question_id": qid,
        "link": f"https://{site}/questions/{qid}/a-slug",
        "title": "What is a citra hop?",
        "body": "<p>Body</p>",
    }
    item.update(extra)
    return item


def test_se_api_takes_the_site_from_each_link(tmp_path):
    path = _api(
        tmp_path,
        [_api_question(3, "beer.stackexchange.com"), _api_question(3, "stackoverflow.com")],
    )
    summary = store.import_corpus([path], "api")
    assert summary.duplicate_rows_dropped == 0 and not summary.warnings
    df = store.load_corpus("api")
    assert df["id"].tolist() == ["beer:3", "so:3"]
    assert df["project"].tolist() == ["beer.stackexchange.com", "stackoverflow.com"]


def test_se_api_link_on_another_site_than_site_option_is_a_located_error(tmp_path):
    path = _api(tmp_path, [_api_question(3, "beer.stackexchange.com")])
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "api", site="superuser")
    assert info.value.record == "record 1" and info.value.field_name == "link"
    assert "superuser.com" in str(info.value)


def test_se_api_without_bodies_imports_with_a_counted_warning(tmp_path):
    items = [_api_question(i, "beer.stackexchange.com") for i in (1, 2, 3)]
    for item in items[:2]:
        del item["body"]
    summary = store.import_corpus([_api(tmp_path, items)], "nobody")
    assert summary.units == 3
    assert summary.counts["questions without a body (API response without filter=withbody)"] == 2
    (warning,) = summary.warnings
    assert "2 of 3 question(s)" in warning and "filter=withbody" in warning


def test_se_api_page_with_has_more_is_warned_and_counted(run_cli, tmp_path):
    path = _api(tmp_path, [_api_question(1, "beer.stackexchange.com")], has_more=True, page=1)
    result = run_cli("corpus", "import", path, "--name", "page", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["counts"]["API pages with has_more: true (more results not in the file)"] == 1
    assert any("'has_more' is true" in w and "page 1" in w for w in out["warnings"])


@pytest.mark.parametrize(
    "value,host,prefix",
    [
        ("beer", "beer.stackexchange.com", "beer"),
        ("beer.stackexchange.com", "beer.stackexchange.com", "beer"),
        ("https://beer.stackexchange.com/questions/1", "beer.stackexchange.com", "beer"),
        ("so", "stackoverflow.com", "so"),
        ("stackoverflow", "stackoverflow.com", "so"),
        ("stackoverflow.com", "stackoverflow.com", "so"),
        ("superuser", "superuser.com", "superuser"),
        ("mathoverflow", "mathoverflow.net", "mathoverflow"),
        ("ru.stackoverflow", "ru.stackoverflow.com", "ru.stackoverflow"),
        ("beer.meta", "beer.meta.stackexchange.com", "beer.meta"),
    ],
)
def test_parse_site(value, host, prefix):
    site = parse_site(value)
    assert (site.host, site.prefix) == (host, prefix)


@pytest.mark.parametrize("value", ["example.com", "stackexchange.com", "", "beer stack"])
def test_parse_site_refuses_other_hosts(value):
    with pytest.raises(PtmcoderError, match="not a Stack Exchange site"):
        parse_site(value)


def test_site_detection_helpers(tmp_path):
    assert site_of_link("https://stackoverflow.com/q/1") is STACK_OVERFLOW
    assert site_of_link("https://notstackoverflow.com/q/1") is None
    assert site_of_path(tmp_path / "mystackexchange.community" / "Posts.xml") is None
    assert site_of_path(tmp_path / "askubuntu.com" / "Posts.xml").prefix == "askubuntu"
