"""``ptmcoder annotate --run ID --retry-errors`` against the local server: error rows
are final on a plain resume; a retry supersedes them, leaving one current record per
unit and annotator for every reader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fakes import answer, codes_responder, write_units
from llm_server import LLMServer, Reply

from ptmcoder.agreement.io import annotations_to_long
from ptmcoder.errors import InputRecordError
from ptmcoder.runs import Run

FAKE_KEY = "sk-test-retry"
SPEC = "openai:test-model"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_retry_errors_supersedes_the_error_rows(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 5)
    env = {"OPENAI_API_KEY": FAKE_KEY}

    def annotate(server, *args):
        result = run_cli(
            "annotate", *args, "--base-url", server.base_url, "--no-progress", "--json", env=env
        )
        assert result.exit_code == 0, result.stderr + repr(result.exception)
        return json.loads(result.stdout)

    with LLMServer(responder=codes_responder) as server:
        # one retry allowed: u:1 and u:3 get 500 twice (retries exhausted) -> error rows
        server.enqueue(
            Reply.ok(answer("generic")),
            Reply.error(500, retry_after=0),
            Reply.error(500, retry_after=0),
            Reply.ok(answer("generic")),
            Reply.error(503, retry_after=0),
            Reply.error(503, retry_after=0),
        )
        first = annotate(
            server,
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            SPEC,
            "--run",
            "flaky",
            "--concurrency",
            "1",
            "--max-retries",
            "1",
            "--timeout",
            "2",
        )
        assert first["errors"] == {"api": 2}
        run_dir = Path(first["path"])
        jsonl = run_dir / "annotations.jsonl"
        assert {r["unit_id"] for r in lines(jsonl) if r["error_type"]} == {"u:1", "u:3"}

        # a plain resume keeps the error rows (they are final) and calls nothing
        calls = len(server.requests)
        plain = annotate(server, "--run", "flaky")
        assert (plain["written"], plain["retried"]) == (0, 0)
        assert len(server.requests) == calls

        # the server is healthy now; --retry-errors codes exactly those two units again
        retry = annotate(server, "--run", "flaky", "--retry-errors")
        assert (retry["retried"], retry["written"], retry["skipped"]) == (2, 2, 3)
        assert retry["errors"] == {}
        assert len(server.requests) == calls + 2

    records = lines(jsonl)
    assert Counter((r["unit_id"], r["annotator"]) for r in records) == Counter(
        (f"u:{i}", SPEC) for i in range(5)
    )  # exactly one current record each
    assert all(r["error_type"] is None and r["codes"] for r in records)
    attempts = {r["unit_id"]: r["attempt"] for r in records}
    assert attempts == {"u:0": 1, "u:1": 2, "u:2": 1, "u:3": 2, "u:4": 1}
    old = lines(run_dir / "superseded.jsonl")
    assert sorted(r["unit_id"] for r in old) == ["u:1", "u:3"]
    assert {r["error_type"] for r in old} == {"api"} and "503" in old[-1]["error"]

    long = annotations_to_long(run_dir)
    assert long.attrs["failed"] == {} and long.attrs["records"] == 5
    assert sorted(long["unit"]) == [f"u:{i}" for i in range(5)]
    assert long["code"].notna().all()

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"]["records"] == 5 and manifest["counts"]["errors"] == 0
    assert [s["retried"] for s in manifest["sessions"]] == [0, 0, 2]
    assert "retry_errors" not in manifest["config"]

    shown = run_cli("runs", "show", "flaky", "--json")
    data = json.loads(shown.stdout)
    assert data["error_records"] == [] and data["records"] == 5
    assert data["superseded_records"] == 2
    text = run_cli("runs", "show", "flaky").stdout
    assert "5 current, 0 errors, 2 earlier error records superseded" in " ".join(text.split())
    listed = json.loads(run_cli("runs", "list", "--json").stdout)
    assert (listed[0]["records"], listed[0]["errors"]) == (5, 0)


def test_retry_asks_the_model_again_not_the_cache(run_cli, isolated_home):
    """An unusable answer is cached (it was a completion); a retry must not get it back."""
    units = write_units(isolated_home / "units.csv", 1)
    env = {"OPENAI_API_KEY": FAKE_KEY}
    with LLMServer(responder=codes_responder) as server:
        server.enqueue(Reply.ok(answer("memory-leak")), Reply.ok(answer("memory-leak")))
        base = (
            "annotate",
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            SPEC,
            "--run",
            "bad-code",
            "--base-url",
            server.base_url,
            "--no-progress",
            "--json",
        )
        first = run_cli(*base, env=env)
        assert json.loads(first.stdout)["errors"] == {"unknown_code": 1}
        again = run_cli(*base, "--retry-errors", env=env)
        assert again.exit_code == 0, again.stderr
        assert json.loads(again.stdout)["errors"] == {}
        assert len(server.requests) == 3
    (record,) = lines(isolated_home / "runs" / "bad-code" / "annotations.jsonl")
    assert [c["code"] for c in record["codes"]] == ["dl-fault"] and record["attempt"] == 2


def test_supersede_errors_is_atomic_and_idempotent(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    run = Run(run_dir)
    rows = [
        {"unit_id": "a", "annotator": "x", "error_type": None},
        {"unit_id": "b", "annotator": "x", "error_type": "api"},
        {"unit_id": "b", "annotator": "y", "error_type": "timeout"},
    ]
    (run_dir / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # a crash after the audit copy but before the replace: the next call does not copy twice
    (run_dir / "superseded.jsonl").write_text(json.dumps(rows[1]) + "\n")
    gone = run.supersede_errors(["x"])
    assert gone == [rows[1]]
    assert lines(run_dir / "annotations.jsonl") == [rows[0], rows[2]]
    assert lines(run_dir / "superseded.jsonl") == [rows[1]]
    assert run.supersede_errors(["x"]) == []
    assert not (run_dir / "annotations.jsonl.tmp").exists()
    (run_dir / "annotations.jsonl").write_text('{"unit_id": "a"}\nnot json\n{"unit_id": "c"}\n')
    with pytest.raises(InputRecordError, match=r"annotations.jsonl: line 2: not a JSON record"):
        run.supersede_errors()
