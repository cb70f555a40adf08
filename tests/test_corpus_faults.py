"""Faults and inconsistent input in corpora (issue #25, items 5, 7, 10 and 12): titles
that are missing, killed imports' staging folders, damaged corpus files, directories and
unreadable files given as input, duplicate columns, negative ids, issues closed before
they were created, and imports that yield nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptmcoder import paths
from ptmcoder.corpus import store
from ptmcoder.corpus.info import list_corpora
from ptmcoder.corpus.units import load_units, unit_text
from ptmcoder.errors import InputRecordError, PtmcoderError

SEDE_HEADER = (
    "Id,PostTypeId,AcceptedAnswerId,CreationDate,Score,ViewCount,Body,Title,Tags,"
    "AnswerCount,CommentCount,ClosedDate"
)


def _sede(tmp_path: Path, rows: list[str], header: str = SEDE_HEADER) -> Path:
    path = tmp_path / "QueryResults.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _good(tmp_path: Path, name: str) -> None:
    path = _sede(tmp_path, ["1,1,,2020-01-01 10:00:00,3,40,<p>b</p>,A title,<x>,0,0,"])
    store.import_corpus([path], name, site="stackoverflow")


# ------------------------------------------------------------------ item 5: no 'nan' titles


def test_a_corpus_without_titles_gives_no_nan_title(tmp_path):
    path = tmp_path / "issues.csv"
    path.write_text("Body,Date\nThe model fails to load.,2020-01-01\n", encoding="utf-8")
    store.import_corpus(
        [path], "untitled", mapping={"body": "Body", "created_at": "Date"}, platform="github"
    )
    units = load_units("untitled")
    assert units["title"].tolist() == [""]
    text = unit_text(units.iloc[0].to_dict())
    assert text == "The model fails to load." and "nan" not in text


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_unit_text_treats_none_and_nan_as_no_text(missing):
    assert unit_text({"title": missing, "body": "Body"}) == "Body"
    assert unit_text({"title": "T", "body": missing}) == "T"
    assert unit_text({"title": missing, "body": missing}) == ""


# --------------------------------------------------- item 10: killed imports' staging folders


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_imports_staging_folder_is_removed_by_the_next_corpus_command(run_cli, tmp_path):
    _good(tmp_path, "kept")
    root = paths.corpora_dir()
    dead = root / f".other.tmp-{_dead_pid()}-1700000000000"
    (dead / "_duckdb_tmp").mkdir(parents=True)
    (dead / "_stage_units.parquet").write_bytes(b"half")
    alive = root / f".busy.tmp-{os.getpid()}-1700000000000"
    alive.mkdir()  # this process is alive: its staging folder is left alone
    result = run_cli("corpus", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert not dead.exists() and alive.exists()
    assert [c["name"] for c in json.loads(result.stdout)["corpora"]] == ["kept"]


def test_a_killed_import_via_kill_9_leaves_nothing_after_the_next_command(tmp_path):
    """A real import killed mid-way (SIGKILL while it writes its staging folder)."""
    rows = [
        f"{i},1,,2020-01-01 10:00:00,1,1,<p>{'x' * 200}</p>,T{i},<x>,0,0," for i in range(1, 60000)
    ]
    path = _sede(tmp_path, rows)
    env = {**os.environ, "PTMCODER_HOME": str(paths.workspace())}
    code = (
        "import sys, os, signal\n"
        "from ptmcoder.corpus import store\n"
        "def progress(p, done, total):\n"
        "    if done > total // 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"store.import_corpus([{str(path)!r}], 'big', progress=progress, site='so')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(Path.cwd()))
    assert proc.returncode == -9
    root = paths.corpora_dir()
    assert list(root.glob(".big.tmp-*")), "the kill left its staging folder"
    assert store.known_corpora() == []
    assert list(root.glob(".*")) == []


# ------------------------------------------------ item 12: damaged files, directories, reads


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_units_parquet_is_named_and_the_other_corpora_still_listed(
    run_cli, tmp_path, damage
):
    _good(tmp_path, "good")
    _good(tmp_path, "bad")
    units = paths.corpora_dir() / "bad" / "units.parquet"
    data = units.read_bytes()
    units.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"\x00garbage" * 50, "empty": b""}[damage]
    )
    listing = list_corpora()
    assert [c["name"] for c in listing["corpora"]] == ["good"]
    (bad,) = listing["damaged"]
    assert bad["name"] == "bad" and bad["path"] == str(units)
    result = run_cli("corpus", "list")
    assert result.exit_code == 0 and result.exception is None
    assert "good" in result.stdout
    assert "corpus 'bad' cannot be read" in result.stderr and str(units) in result.stderr
    info = run_cli("corpus", "info", "bad")
    assert info.exit_code != 0 and info.exception is None
    assert str(units) in info.stderr and "--replace" in info.stderr
    with pytest.raises(PtmcoderError, match="cannot be read"):
        load_units("bad")


def test_a_damaged_import_json_is_a_located_error(run_cli, tmp_path):
    _good(tmp_path, "c")
    record = paths.corpora_dir() / "c" / "import.json"
    record.write_text("{not json", encoding="utf-8")
    result = run_cli("corpus", "info", "c")
    assert result.exit_code != 0 and result.exception is None
    assert str(record) in result.stderr


def test_a_directory_given_as_input_is_a_located_error(tmp_path):
    folder = tmp_path / "beer.stackexchange.com"
    folder.mkdir()
    with pytest.raises(PtmcoderError, match="a directory, not a file") as info:
        store.import_corpus([folder], "d")
    assert str(folder) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_that_fails_on_read_is_a_located_error(run_cli, tmp_path):
    path = _sede(tmp_path, ["1,1,,2020-01-01 10:00:00,3,40,<p>b</p>,A,<x>,0,0,"])
    path.chmod(0)
    result = run_cli("corpus", "import", path, "--name", "r", "--format", "sede-csv")
    assert result.exit_code != 0 and result.exception is None
    assert str(path) in result.stderr and "cannot be read" in result.stderr


def test_a_file_that_fails_on_read_is_a_located_error_as_root_too(tmp_path, monkeypatch):
    """An I/O error while reading (EIO from a failing disk), whoever runs it."""
    path = _sede(tmp_path, ["1,1,,2020-01-01 10:00:00,3,40,<p>b</p>,A,<x>,0,0,"])
    from ptmcoder.corpus.readers import sede_csv

    def failing(*_args, **_kwargs):
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(sede_csv, "iter_rows", failing)
    with pytest.raises(PtmcoderError) as info:
        store.import_corpus([path], "r", fmt="sede-csv")
    assert str(info.value).startswith(f"{path}: cannot be read: Input/output error")
    assert store.known_corpora() == [] and not list(paths.corpora_dir().glob(".*"))


# ------------------------------------------------------ item 12: inconsistent data, counted


def test_a_duplicate_title_column_is_warned_and_counted_and_the_first_is_read(tmp_path):
    header = SEDE_HEADER + ",Title"
    path = _sede(tmp_path, ["1,1,,2020-01-01 10:00:00,3,40,<p>b</p>,First,<x>,0,0,,Second"], header)
    summary = store.import_corpus([path], "dup", site="so")
    assert store.load_corpus("dup")["title"].tolist() == ["First"]
    assert summary.counts["duplicate header columns (the first is read)"] == 1
    (warning,) = summary.warnings
    assert f"{path}: line 1, field 'Title'" in warning and "columns 8, 13" in warning


@pytest.mark.parametrize("field_name", ["Id", "AcceptedAnswerId"])
def test_a_negative_id_is_a_located_error_or_skipped_and_counted(tmp_path, field_name):
    row = {"Id": "2", "AcceptedAnswerId": ""}
    row[field_name] = "-5"
    path = _sede(
        tmp_path,
        [
            "1,1,,2020-01-01 10:00:00,3,40,<p>b</p>,Good,<x>,0,0,",
            f"{row['Id']},1,{row['AcceptedAnswerId']},2020-01-01 10:00:00,3,40,b,Bad,<x>,0,0,",
        ],
    )
    with pytest.raises(InputRecordError) as info:
        store.import_corpus([path], "neg", site="so")
    assert (info.value.record, info.value.field_name) == ("line 3", field_name)
    assert "negative id -5" in str(info.value)
    summary = store.import_corpus([path], "neg", site="so", on_error="skip")
    assert summary.units == 1 and summary.skipped_count == 1


def test_negative_ids_in_posts_xml_api_and_github_are_refused(tmp_path):
    xml = tmp_path / "beer.stackexchange.com" / "Posts.xml"
    xml.parent.mkdir()
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        '  <row Id="-5" PostTypeId="1" CreationDate="2014-01-21T20:26:05.383" Title="T" />\n'
        "</posts>\n",
        encoding="utf-8",
    )
    api = tmp_path / "api.json"
    api.write_text(json.dumps({"items": [{"question_id": -5, "title": "T"}]}), encoding="utf-8")
    gh = tmp_path / "issues.json"
    gh.write_text(
        json.dumps([{"number": -5, "title": "T", "html_url": "https://github.com/o/r/issues/5"}]),
        encoding="utf-8",
    )
    for path, where, field_name in (
        (xml, "line 3 (row 1)", "Id"),
        (api, "record 1", "question_id"),
        (gh, "record 1", "number"),
    ):
        with pytest.raises(InputRecordError) as info:
            store.import_corpus([path], "neg")
        assert (info.value.file, info.value.record, info.value.field_name) == (
            str(path),
            where,
            field_name,
        )
        assert "negative" in info.value.reason


def test_an_issue_closed_before_it_was_created_is_warned_and_counted(run_cli, tmp_path):
    issues = [
        {
            "number": n,
            "title": f"Issue {n}",
            "html_url": f"https://github.com/o/r/issues/{n}",
            "state": "closed",
            "created_at": "2021-05-01T00:00:00Z",
            "closed_at": closed,
        }
        for n, closed in ((1, "2021-06-01T00:00:00Z"), (2, "2021-04-01T00:00:00Z"))
    ]
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(issues), encoding="utf-8")
    result = run_cli("corpus", "import", path, "--name", "gh", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["units"] == 2
    assert out["counts"]["units closed before they were created (closed_at < created_at)"] == 1
    (warning,) = out["warnings"]
    assert "1 unit(s) have field 'closed_at' before 'created_at'" in warning
    assert "issues.json:record 2" in warning


# ------------------------------------------------------------ item 7: imports of nothing


@pytest.mark.parametrize(
    "name,content,why",
    [
        (
            "Posts.xml",
            '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
            '  <row Id="4" PostTypeId="2" ParentId="1" CreationDate="2014-01-21T21:00:00.000" />\n'
            "</posts>\n",
            "no question or issue records",
        ),
        (
            "pulls.json",
            json.dumps(
                [
                    {
                        "number": 1,
                        "title": "PR",
                        "html_url": "https://github.com/o/r/pull/1",
                        "pull_request": {"url": "x"},
                    }
                ]
            ),  # fmt: skip
            "no question or issue records",
        ),
        ("page.json", json.dumps({"items": [], "has_more": True}), "no question or issue records"),
    ],
)
def test_an_import_of_zero_units_exits_non_zero_and_says_why(run_cli, tmp_path, name, content, why):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    args = ["corpus", "import", path, "--name", "zero", "--site", "beer"]
    if name == "pulls.json":
        args = args[:-2]
    if name == "page.json":
        args += ["--format", "se-api"]
    result = run_cli(*args)
    assert result.exit_code != 0 and result.exception is None
    assert why in result.stderr and "no corpus was written" in result.stderr
    assert "zero" not in store.known_corpora()
