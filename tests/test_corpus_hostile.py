"""Regression tests for issue #10 (items 4, 5, 11 and the empty input): hostile or
extreme input gives a located error (or is skipped and counted), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptmcoder.corpus import store
from ptmcoder.errors import InputRecordError, PtmcoderError

SEDE_HEADER = "Id,PostTypeId,CreationDate,Score,Title,Body,Tags"
REPO = Path(__file__).resolve().parents[1]


def sede(tmp_path: Path, score: str) -> Path:
    path = tmp_path / "posts.csv"
    path.write_text(
        f"{SEDE_HEADER}\n"
        "1,1,2020-01-01 00:00:00,3,good title,body,<bert>\n"
        f"2,1,2020-01-01 00:00:00,{score},bad score,body,<bert>\n"
    )
    return path


@pytest.mark.parametrize("score", ["nan", "1e400", "99999999999999999999999", "-inf"])
def test_sede_score_out_of_range_is_a_located_error_or_skipped(tmp_path, score):
    path = sede(tmp_path, score)
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "c", fmt="sede-csv")
    assert info.value.file == str(path)
    assert info.value.record == "line 3"
    assert info.value.field_name == "Score"
    summary = store.import_corpus([path], "c", on_error="skip")
    assert summary.units == 1 and summary.skipped_count == 1
    assert summary.skipped[0]["field"] == "Score"


def test_se_api_creation_date_1e20(tmp_path):
    path = tmp_path / "api.json"
    items = [
        {"question_id": 1, "title": "t", "creation_date": 1577836800},
        {"question_id": 2, "title": "t", "creation_date": 1e20},
    ]
    path.write_text(json.dumps({"items": items}))
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "c")
    assert info.value.record == "record 2" and info.value.field_name == "creation_date"
    summary = store.import_corpus([path], "c", on_error="skip")
    assert summary.units == 1 and summary.skipped_count == 1


def test_github_created_at_1e20(tmp_path):
    path = tmp_path / "gh.jsonl"
    rows = [
        {"repo": "a/b", "number": 1, "title": "t", "created_at": "2020-01-01T00:00:00Z"},
        {"repo": "a/b", "number": 2, "title": "t", "created_at": 1e20},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "c")
    assert info.value.record == "line 2" and info.value.field_name == "created_at"
    summary = store.import_corpus([path], "c", on_error="skip")
    assert summary.units == 1 and summary.skipped_count == 1


@pytest.mark.parametrize("suffix,fmt", [(".json", None), (".json", "se-api"), (".jsonl", "github")])
def test_json_nested_200000_levels(tmp_path, suffix, fmt):
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(PtmcoderError) as info:
        store.import_corpus([path], "c", fmt=fmt)
    assert str(path) in str(info.value) and "nested" in str(info.value)


def test_jsonl_line_nested_too_deep_is_skipped_and_counted(tmp_path):
    path = tmp_path / "gh.jsonl"
    good = json.dumps({"repo": "a/b", "number": 1, "title": "t"})
    deep = '{"repo": "a/b", "number": 2, "title": "t", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    path.write_text(good + "\n" + deep + "\n")
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "c", fmt="github")
    assert info.value.record == "line 2"
    summary = store.import_corpus([path], "c", fmt="github", on_error="skip")
    assert summary.units == 1 and summary.skipped_count == 1


def test_github_jsonl_first_record_over_1_mib_is_detected(tmp_path):
    path = tmp_path / "big.jsonl"
    rows = [
        {"repo": "a/b", "number": 1, "title": "huge", "body": "x" * (3 << 20)},
        {"repo": "a/b", "number": 2, "title": "small", "body": "y"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    summary = store.import_corpus([path], "big")
    assert summary.sources[0]["format"] == "github" and summary.units == 2
    # the same in a .json file (JSON Lines without the extension)
    other = tmp_path / "big.json"
    other.write_text(path.read_text())
    assert store.import_corpus([other], "big2").units == 2


def test_se_api_wrapper_with_huge_first_item_is_detected(tmp_path):
    path = tmp_path / "api.json"
    items = [{"question_id": 1, "title": "t", "body": "<p>" + "x" * (2 << 20) + "</p>"}]
    path.write_text(json.dumps({"items": items, "has_more": False}))
    summary = store.import_corpus([path], "api")
    assert summary.sources[0]["format"] == "se-api" and summary.units == 1


ENTITY_XML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE posts [
<!ENTITY big "{big}">
]>
<posts>
<row Id="1" PostTypeId="1" CreationDate="2020-01-01T00:00:00" Title="t" Body="{refs}" />
</posts>
"""


def test_posts_xml_with_internal_entity_is_refused(tmp_path):
    path = tmp_path / "Posts.xml"
    path.write_text(ENTITY_XML.format(big="A" * 1000, refs="&big;" * 90))
    for on_error in ("fail", "skip"):
        with pytest.raises(InputRecordError) as info:
            store.import_corpus([path], "c", on_error=on_error)
        assert info.value.file == str(path) and "line 2" in info.value.record
        assert "DTD" in info.value.reason


def test_posts_xml_with_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    path = tmp_path / "Posts.xml"
    path.write_text(
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE posts [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<posts><row Id="1" PostTypeId="1" Title="&x;" Body="b" /></posts>\n'
    )
    with pytest.raises(InputRecordError, match="DTD"):
        store.import_corpus([path], "c", fmt="posts-xml")


def test_posts_xml_entity_bomb_memory_stays_bounded(tmp_path):
    """4 MB entity referenced 90 times: refused before expansion; peak RSS stays small."""
    path = tmp_path / "Posts.xml"
    path.write_text(ENTITY_XML.format(big="A" * (4 << 20), refs="&big;" * 90))
    code = (
        "import sys\n"
        "from ptmcoder.corpus import store\n"
        "from ptmcoder.errors import PtmcoderError\n"
        "try:\n"
        f"    store.import_corpus([{str(path)!r}], 'c')\n"
        "except PtmcoderError as e:\n"
        "    print('refused', e)\n"
        # VmHWM: this process's peak (ru_maxrss would include the parent's, kept by exec)
        "print(next(int(x.split()[1]) for x in open('/proc/self/status') "
        "if x.startswith('VmHWM')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("refused")
    assert int(lines[-1]) < 600 * 1024, f"peak RSS {int(lines[-1]) // 1024} MB"


@pytest.mark.parametrize(
    "name,content,fmt",
    [
        ("empty.csv", "", "sede-csv"),
        ("header.csv", SEDE_HEADER + "\n", "sede-csv"),
        ("empty.json", "", "se-api"),
        ("empty.jsonl", "", "github"),
        ("array.json", "[]", "github"),
        ("posts.xml", '<?xml version="1.0"?>\n<posts>\n</posts>\n', "posts-xml"),
        ("plain.csv", "title,body\n", "csv"),
    ],
)
def test_empty_or_header_only_input_with_format_is_an_error(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_text(content)
    extra = {"mapping": {"title": "title"}, "platform": "github"} if fmt == "csv" else {}
    with pytest.raises(PtmcoderError) as info:
        store.import_corpus([path], "c", fmt=fmt, **extra)
    assert str(path) in str(info.value) and "no records" in str(info.value)
    assert "c" not in store.known_corpora()


def test_empty_input_via_cli_exits_non_zero(run_cli, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(SEDE_HEADER + "\n")
    result = run_cli("corpus", "import", path, "--name", "c", "--format", "sede-csv")
    assert result.exit_code != 0 and result.exception is None
    assert "no records" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("lines", [True, False])
def test_a_json_file_starting_with_a_bom_loses_no_record(tmp_path, lines):
    items = [
        {"question_id": 1, "title": "first", "creation_date": 1577836800},
        {"question_id": 2, "title": "second", "creation_date": 1577836900},
    ]
    path = tmp_path / ("api.jsonl" if lines else "api.json")
    text = "\n".join(json.dumps(i) for i in items) + "\n" if lines else json.dumps(items)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    summary = store.import_corpus([path], "c")
    assert summary.units == 2 and summary.skipped_count == 0
