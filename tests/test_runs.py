"""Run directories: durable appends, torn-line repair, locking, listing."""

from __future__ import annotations

import json
import re

import pytest

from ptmcoder.annotate.records import Annotation, read_annotations
from ptmcoder.errors import ConfigError, NotFoundError
from ptmcoder.runs import Run, create_run, new_run_id, read_jsonl, resolve_run


def rec(uid: str, annotator: str = "embedded") -> Annotation:
    return Annotation(unit_id=uid, annotator=annotator)


def test_run_id_is_sortable():
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", new_run_id())


def test_append_and_done_keys(isolated_home):
    run = create_run({"annotators": ["embedded"]})
    with run:
        run.append(rec("a"))
        run.append(rec("b", "openai:x"))
    assert run.done_keys() == {("a", "embedded"), ("b", "openai:x")}
    assert [a.unit_id for a in read_annotations(run.path).records] == ["a", "b"]
    manifest = run.manifest()
    assert manifest.config.annotators == ["embedded"]
    assert manifest.ptmcoder_version and manifest.schema_version == 3


def test_torn_last_line_is_cut_and_its_unit_redone(isolated_home):
    run = create_run({})
    with run:
        run.append(rec("a"))
        run.append(rec("b"))
    # a crash in the middle of writing the third record
    with open(run.annotations_path, "ab") as fh:
        fh.write(rec("c").model_dump_json().encode()[:30])
    assert read_jsonl(run.annotations_path).torn_tail == 30
    assert run.done_keys() == {("a", "embedded"), ("b", "embedded")}
    with run:  # opening for writing repairs the file
        run.append(rec("c"))
    lines = run.annotations_path.read_text().splitlines()
    assert [json.loads(line)["unit_id"] for line in lines] == ["a", "b", "c"]


def test_complete_but_unparseable_last_line_is_also_cut(isolated_home):
    run = create_run({})
    with run:
        run.append(rec("a"))
    with open(run.annotations_path, "ab") as fh:
        fh.write(b'{"unit_id": "b", "annot\n')
    assert run.repair() > 0
    assert run.annotations_path.read_text().count("\n") == 1


def test_second_writer_is_refused(isolated_home):
    run = create_run({})
    with run:
        with pytest.raises(ConfigError, match="another process"):
            Run(run.path).lock()


def test_resolve_by_prefix_latest_and_path(isolated_home):
    a = create_run({}, run_id="20250101-000000-aaaa")
    b = create_run({}, run_id="20250102-000000-bbbb")
    assert resolve_run("latest").id == b.id
    assert resolve_run("20250101").id == a.id
    assert resolve_run(str(a.path)).id == a.id
    with pytest.raises(NotFoundError, match="ambiguous"):
        resolve_run("2025")
    with pytest.raises(NotFoundError):
        resolve_run("nope")


def test_runs_list_and_show(run_cli, isolated_home):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,\nx:3,What is a tensor?\n")
    made = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        units,
        "--annotator",
        "embedded:tfidf",
        "--no-progress",
        "--json",
    )
    assert made.exit_code == 0, made.stderr
    run_id = json.loads(made.stdout)["run_id"]
    assert "no_text" in made.stderr  # the empty unit is an error row, listed at the end
    listed = run_cli("runs", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [r["run_id"] for r in rows] == [run_id]
    assert rows[0]["records"] == 3 and rows[0]["errors"] == 1
    assert rows[0]["status"] == "complete"
    shown = run_cli("runs", "show", run_id[:15], "--json")
    data = json.loads(shown.stdout)
    assert data["error_records"] == [
        {
            "unit_id": "x:2",
            "annotator": "embedded:tfidf",
            "error_type": "no_text",
            "error": "the unit has no text",
        }
    ]
    assert data["annotators"][0]["embedder"] == "tfidf"
    text = run_cli("runs", "show", run_id)
    assert text.exit_code == 0 and "embedded:tfidf" in text.stdout
    table = run_cli("runs", "list")
    assert run_id in table.stdout


def test_resume_refuses_changed_settings(run_cli, isolated_home):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\n")
    made = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        units,
        "--annotator",
        "embedded:tfidf",
        "--no-progress",
        "--json",
    )
    run_id = json.loads(made.stdout)["run_id"]
    bad = run_cli("annotate", "--run", run_id, "--annotator", "openai:gpt-4o-mini")
    assert bad.exit_code != 0 and "differs" in bad.stderr


def test_start_needs_codebook_corpus_annotator(run_cli):
    result = run_cli("annotate", "--codebook", "humbatova-screening")
    assert result.exit_code != 0 and "--corpus" in result.stderr
    unknown = run_cli(
        "annotate", "--codebook", "humbatova-screening", "--corpus", "x.csv", "--annotator", "gpt5"
    )
    assert unknown.exit_code != 0 and "unknown annotator" in unknown.stderr
