"""End to end: ``ptmcoder annotate --batch`` (write JSONL, upload, create, poll, ingest)
against the Batch API endpoints of the local server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fakes import answer, unit_of, write_units
from llm_server import LLMServer, Reply

FAKE_KEY = "sk-test-batch"
#: the code each unit is scripted to get: u:0 dl-fault, u:1 generic, u:2 dl-fault, ...
SCRIPTED = {f"u:{i}": ("dl-fault" if i % 2 == 0 else "generic") for i in range(5)}


def by_unit(request: dict) -> Reply:
    uid, text = unit_of(request.get("messages", []))
    return Reply.ok(answer(SCRIPTED[uid], evidence=text.splitlines()[0]))


def records_of(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]


def annotate(run_cli, server, *args):
    result = run_cli(
        "annotate",
        *args,
        "--base-url",
        server.base_url,
        "--no-progress",
        "--json",
        env={"OPENAI_API_KEY": FAKE_KEY},
    )
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return result, json.loads(result.stdout)


def test_batch_codes_every_unit_once_and_resume_submits_nothing(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 6)
    with LLMServer(responder=by_unit, complete_after_polls=1) as server:
        result, summary = annotate(
            run_cli,
            server,
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            "openai:test-model",
            "--limit",
            "5",
            "--batch",
            "--run",
            "batched",
        )
        run_dir = Path(summary["path"])
        records = records_of(run_dir)
        assert Counter(r["unit_id"] for r in records) == Counter(list(SCRIPTED))  # each once
        assert {r["unit_id"]: [c["code"] for c in r["codes"]] for r in records} == {
            u: [c] for u, c in SCRIPTED.items()
        }
        assert all(r["error_type"] is None and r["model"] == "test-model" for r in records)
        # one batch of the 5 units; the live chat endpoint was never used
        assert len(server.batches) == 1
        (batch_id,) = server.batches
        assert len(server.requests) == 5
        assert "batch:" in result.stderr and batch_id in result.stderr
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["config"]["batch"] is True
        (meta,) = manifest["annotators"]
        assert meta["batch"]["batch_id"] == batch_id
        assert meta["batch"]["status"] == "completed" and meta["batch"]["requests"] == 5
        assert manifest["status"] == "complete"
        lines = (run_dir / "batch_input.jsonl").read_text().splitlines()
        assert sorted(json.loads(x)["custom_id"] for x in lines) == sorted(SCRIPTED)

        calls, files = len(server.requests), len(server.files)
        _, again = annotate(run_cli, server, "--run", "batched")
        assert (again["written"], again["skipped"]) == (0, 5)
        assert len(server.batches) == 1 and len(server.requests) == calls
        assert len(server.files) == files
        assert len(records_of(run_dir)) == 5


def test_an_error_line_in_the_batch_output_is_an_error_row(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 3)
    with LLMServer(responder=by_unit, complete_after_polls=1) as server:
        server.enqueue(Reply.error(500))  # the first line of the batch (u:0)
        result, summary = annotate(
            run_cli,
            server,
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            "openai:test-model",
            "--batch",
        )
        assert len(server.requests) == 3  # the failed line is not retried live
    records = {r["unit_id"]: r for r in records_of(Path(summary["path"]))}
    assert sorted(records) == ["u:0", "u:1", "u:2"]
    assert records["u:0"]["error_type"] == "api" and records["u:0"]["codes"] == []
    assert "HTTP 500" in records["u:0"]["error"]
    assert [c["code"] for c in records["u:1"]["codes"]] == ["generic"]
    assert summary["errors"] == {"api": 1}
    assert "u:0" in result.stderr
    server_error = json.loads((Path(summary["path"]) / "batch_errors.jsonl").read_text())
    assert server_error["custom_id"] == "u:0"
