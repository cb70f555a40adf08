"""End to end: ``ptmcoder annotate --annotator openai:...`` against the local
OpenAI-compatible server, with injected faults, and a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fakes import answer, codes_responder, openai_annotate, read_records, unit_of, write_units
from llm_server import LLMServer, Reply

from ptmcoder.runs import resolve_run

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FAKE_KEY = "sk-test-DO-NOT-LEAK-4242"


def test_faults_become_retries_or_error_rows(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 6)
    with LLMServer(responder=codes_responder) as server:
        server.enqueue(
            # u:0 a 429 storm, then an answer
            Reply.error(429, retry_after=0),
            Reply.error(429, retry_after=0),
            Reply.error(429, retry_after=0),
            Reply.error(429, retry_after=0),
            Reply.ok(answer("dl-fault", evidence="Keras model 0")),
            # u:1 a 500, then an answer
            Reply.error(500, retry_after=0),
            Reply.ok(answer("generic")),
            # u:2 a hang longer than --timeout, then an answer
            Reply.hang(3.0),
            Reply.ok(answer("generic")),
            # u:3 malformed JSON, repaired
            Reply.ok('{"codes": [{"code": "dl-fault"'),
            Reply.ok(answer("dl-fault")),
            # u:4 a code outside the codebook, twice: an error row
            Reply.ok(answer("memory-leak")),
            Reply.ok(answer("memory-leak")),
        )
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--concurrency",
            "1",
            "--timeout",
            "1",
            "--no-progress",
            "--json",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
        assert result.exit_code == 0, result.stderr + repr(result.exception)
        summary = json.loads(result.stdout)
        run_dir = Path(summary["path"])
        records = {r["unit_id"]: r for r in read_records(run_dir)}
        assert sorted(records) == [f"u:{i}" for i in range(6)]
        assert [c["code"] for c in records["u:0"]["codes"]] == ["dl-fault"]
        assert records["u:0"]["codes"][0]["evidence_found"] is True
        assert [c["code"] for c in records["u:1"]["codes"]] == ["generic"]
        assert [c["code"] for c in records["u:2"]["codes"]] == ["generic"]
        assert records["u:3"]["repaired"] is True
        assert records["u:4"]["error_type"] == "unknown_code"
        assert records["u:5"]["codes"][0]["code"] == "dl-fault"  # the responder
        # every record says which prompt version coded it (#10: it was null)
        assert {r["prompt_version"] for r in records.values()} == {"apply_codebook.v1"}
        assert summary["errors"] == {"unknown_code": 1}
        assert "u:4" in result.stderr and "error record" in result.stderr
        # the system prompt is the same bytes for every unit; the unit is in the user turn
        systems = {r["messages"][0]["content"] for r in server.requests}
        assert len(systems) == 1
        assert server.requests[0]["response_format"]["type"] == "json_schema"
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["counts"]["errors"] == 1
        assert manifest["prompt"]["id"] == "apply_codebook.v1"
        assert manifest["cache"]["misses"] >= 6
        # never the key, anywhere in the run directory
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert FAKE_KEY.encode() not in path.read_bytes(), path

        # a new run with the same settings is answered from the cache, except where an
        # answer was unusable and so not kept: u:3's malformed first answer and u:4's
        # unknown code are asked again (and now answered by the responder)
        calls = len(server.requests)
        again = run_cli(
            *openai_annotate(units, server.base_url),
            "--no-progress",
            "--json",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
        assert again.exit_code == 0, again.stderr
        assert len(server.requests) == calls + 2
        assert sorted(unit_of(r["messages"])[0] for r in server.requests[calls:]) == [
            "u:3",
            "u:4",
        ]
        assert json.loads(again.stdout)["cache"]["hits"] >= 4


def test_plan_makes_no_call(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 10)
    with LLMServer(responder=codes_responder) as server:
        result = run_cli(
            "annotate",
            "--plan",
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            "openai:gpt-4o-mini",
            "--base-url",
            server.base_url,
            "--json",
        )
        assert result.exit_code == 0, result.stderr
        assert server.requests == []
    plan = json.loads(result.stdout)
    a = plan["annotators"][0]
    assert a["requests"] == 10 and a["input_tokens"] > 10 * a["prefix_tokens"]
    assert a["cost_usd"] is not None and a["cost_usd_prefix_cached"] <= a["cost_usd"]
    assert '<unit id="u:0">' in plan["example_prompt"]["user"]
    assert not (isolated_home / "runs").exists()


def _start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(TESTS / "llm_server.py"),
            "--port",
            "0",
            "--responder",
            "fakes:codes_responder",
            "--latency",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp,
    )
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url


@pytest.mark.slow
def test_kill_9_then_resume_annotates_every_unit_exactly_once(isolated_home):
    units = write_units(isolated_home / "units.csv", 150)
    server, url = _start_server(isolated_home)
    env = {**os.environ, "PTMCODER_HOME": str(isolated_home), "OPENAI_API_KEY": FAKE_KEY}
    cmd = [
        sys.executable,
        "-m",
        "ptmcoder",
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        str(units),
        "--annotator",
        "openai:gpt-4o-mini",
        "--base-url",
        url,
        "--run",
        "killed-run",
        "--concurrency",
        "4",
        "--no-progress",
    ]
    jsonl = isolated_home / "runs" / "killed-run" / "annotations.jsonl"
    try:
        kills = 0
        for threshold in (20, 70):  # kill twice at different points
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=isolated_home,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if jsonl.exists() and jsonl.read_bytes().count(b"\n") >= threshold:
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            assert proc.poll() is None, "the run finished before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            # the killed session's start is in the manifest; its lock is free: interrupted
            killed = resolve_run("killed-run")
            assert killed.status() == "interrupted"
            assert len(killed.manifest().sessions) == kills
            assert killed.manifest().sessions[-1].finished_at is None
            lines = jsonl.read_bytes().count(b"\n")
            assert lines < 150
        done = subprocess.run(
            cmd + ["--json"],
            env=env,
            cwd=isolated_home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    finally:
        server.kill()
        server.wait()
    records = read_records(jsonl.parent)
    counts = Counter(r["unit_id"] for r in records)
    assert len(counts) == 150, f"{150 - len(counts)} units lost"
    assert max(counts.values()) == 1, [u for u, c in counts.items() if c > 1]
    manifest = json.loads((jsonl.parent / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # every session is in the manifest, the killed ones unfinished (#10 item 9)
    assert [s["finished_at"] is None for s in manifest["sessions"]] == [True, True, False]
    assert kills == 2


def test_responder_reads_the_unit():
    uid, text = unit_of([{"role": "user", "content": '<unit id="a:1">\nhello\n</unit>'}])
    assert (uid, text) == ("a:1", "hello")
