"""The one reader of a run's annotation records: every command that reads a run
accepts the same run with a torn last line and names the same corrupt line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptmcoder.annotate.records import Annotation, read_annotations
from ptmcoder.codebook import load_codebook
from ptmcoder.errors import InputRecordError
from ptmcoder.runs import create_run

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"


def _run_with(isolated_home, lines: list[bytes]) -> Path:
    run = create_run({"annotators": ["emb"]}, run_id="20260101-000000-aaaa")
    run.annotations_path.write_bytes(b"".join(lines))
    return run.path


def _records(n: int = 6) -> list[bytes]:
    leaves = [n.id for n in load_codebook("tan2024").leaves()]
    out = []
    for i in range(n):
        rec = Annotation(unit_id=f"u{i}", annotator="emb", codes=[{"code": leaves[i % 2]}])
        out.append(rec.model_dump_json().encode() + b"\n")
    return out


def test_torn_last_line_is_ignored_and_reported_by_every_reader(isolated_home, run_cli):
    lines = _records()
    torn = lines.pop()[:25]  # a crash in the middle of writing the last record
    path = _run_with(isolated_home, [*lines, torn])
    read = read_annotations("latest")
    assert [r.unit_id for r in read.records] == [f"u{i}" for i in range(5)]
    assert len(read.notes) == 1 and "torn last line (25 bytes" in read.notes[0]
    gold = isolated_home / "gold.csv"
    gold.write_text("unit,code\n" + "".join(f"u{i},x\n" for i in range(6)))

    agree = run_cli("agree", "--run", "latest", "--json", "--bootstrap", "0")
    assert agree.exit_code == 0, agree.stderr
    assert "torn last line" in agree.stderr and "5 annotation records" in agree.stderr
    stats = run_cli(
        "stats", "distribution", "--codebook", "tan2024", "--annotations", "latest", "--json"
    )
    assert stats.exit_code == 0, stats.stderr
    assert "torn last line" in stats.stderr
    assert json.loads(stats.stdout)["n_records"] == 5
    show = run_cli("runs", "show", "2026", "--json")
    assert show.exit_code == 0, show.stderr
    assert json.loads(show.stdout)["records"] == 5
    assert path.joinpath("annotations.jsonl").read_bytes().endswith(torn)  # readers never write


def test_corrupt_middle_line_is_the_same_located_error_everywhere(isolated_home, run_cli):
    lines = _records()
    lines[2] = b'{"unit_id": "u2", "annot\n'
    path = _run_with(isolated_home, lines)
    where = f"{path / 'annotations.jsonl'}: line 3"
    with pytest.raises(InputRecordError, match="line 3"):
        read_annotations(path)
    for args in (
        ("agree", "--run", "latest"),
        ("stats", "distribution", "--codebook", "tan2024", "--annotations", str(path)),
        ("runs", "show", "20260101"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 1, (args, result.stderr)
        assert where in result.stderr and "Traceback" not in result.stderr, args
    listed = run_cli("runs", "list", "--json")
    assert listed.exit_code == 0
    [row] = json.loads(listed.stdout)
    assert row["status"] == "unreadable" and "line 3" in row["problem"]


def test_a_record_that_is_not_an_annotation_names_line_and_field(isolated_home):
    lines = _records(3)
    lines[1] = json.dumps({"unit_id": "u1", "annotator": "emb", "codes": "A"}).encode() + b"\n"
    path = _run_with(isolated_home, lines)
    with pytest.raises(InputRecordError, match=r"line 2, field 'codes'"):
        read_annotations(path / "annotations.jsonl")


def test_superseded_records_on_request(isolated_home):
    lines = _records(2)
    path = _run_with(isolated_home, lines)
    old = Annotation(unit_id="u0", annotator="emb", error_type="api", error="boom")
    (path / "superseded.jsonl").write_text(old.model_dump_json() + "\n")
    assert read_annotations(path).superseded == []
    assert [r.error for r in read_annotations(path, superseded=True).superseded] == ["boom"]


def test_stats_distribution_resolves_runs_like_every_command(isolated_home, run_cli):
    _run_with(isolated_home, _records())
    for ref in (
        "latest",
        "20260101-000000-aaaa",
        "20260101",
        str(isolated_home / "runs" / "20260101-000000-aaaa"),
    ):
        result = run_cli(
            "stats", "distribution", "--codebook", "tan2024", "--annotations", ref, "--json"
        )
        assert result.exit_code == 0, (ref, result.stderr)
        assert json.loads(result.stdout)["n_records"] == 6


def test_records_of_the_learner_written_as_few_shot_read_as_supervised(isolated_home):
    """The learner trained on human codes wrote ``method: few-shot`` before it was named
    for what it is; an LLM's examples in the prompt stay ``few-shot:<k>``."""
    from ptmcoder.annotate.records import annotations_to_long

    old = {"unit_id": "u1", "annotator": "embedded", "codes": [{"code": "a"}]}
    lines = [
        json.dumps({**old, "method": "few-shot", "scores": {"a": 0.9}}).encode() + b"\n",
        json.dumps({**old, "annotator": "openai:m", "method": "few-shot:3"}).encode() + b"\n",
        json.dumps({**old, "annotator": "x", "method": "zero-shot"}).encode() + b"\n",
    ]
    path = _run_with(isolated_home, lines)
    records = read_annotations(path).records
    assert [r.method for r in records] == ["supervised", "few-shot:3", "zero-shot"]
    long = annotations_to_long(path)
    assert long.values.tolist() == [
        ["u1", "embedded", "a"],
        ["u1", "openai:m", "a"],
        ["u1", "x", "a"],
    ]
    assert long.attrs["records"] == 3 and long.attrs["failed"] == {}
