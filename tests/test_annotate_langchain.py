"""End to end: ``ptmcoder annotate --annotator langchain:openai:MODEL`` (ChatOpenAI
through the langchain adapter) against the local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import answer, unit_of
from llm_server import LLMServer, Reply

FAKE_KEY = "sk-test-langchain-7310"
SCRIPTED = {"u:0": "dl-fault", "u:1": "generic", "u:2": "false-positive"}


def by_unit(request: dict) -> Reply:
    uid, text = unit_of(request.get("messages", []))
    return Reply.ok(
        answer(SCRIPTED[uid], evidence=text), usage={"prompt_tokens": 300, "completion_tokens": 40}
    )


def test_langchain_openai_annotator_codes_every_unit(run_cli, isolated_home):
    pytest.importorskip("langchain")
    pytest.importorskip("langchain_openai")
    units = isolated_home / "units.csv"
    units.write_text(
        "id,title\nu:0,Keras loss is NaN\nu:1,pip install fails\n"
        "u:2,Best laptop for deep learning\n"
    )
    with LLMServer(responder=by_unit) as server:
        server.enqueue(Reply.error(500, retry_after=0))  # retried by our policy
        result = run_cli(
            "annotate",
            "--codebook",
            "humbatova-screening",
            "--corpus",
            units,
            "--annotator",
            "langchain:openai:test-model",
            "--base-url",
            server.base_url,
            "--concurrency",
            "1",
            "--timeout",
            "5",
            "--no-progress",
            "--json",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
        assert result.exit_code == 0, result.stderr + repr(result.exception)
        assert len(server.requests) == 4  # three units plus the retry after the 500
        assert {r["model"] for r in server.requests} == {"test-model"}
        assert all(r["response_format"]["type"] == "json_schema" for r in server.requests)
        assert {h["authorization"] for h in server.headers} == {f"Bearer {FAKE_KEY}"}
    summary = json.loads(result.stdout)
    assert summary["errors"] == {} and summary["written"] == 3
    run_dir = Path(summary["path"])
    records = [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]
    assert {r["unit_id"]: [c["code"] for c in r["codes"]] for r in records} == {
        u: [c] for u, c in SCRIPTED.items()
    }
    for r in records:
        assert r["annotator"] == "langchain:openai:test-model" and r["model"] == "test-model"
        assert (r["input_tokens"], r["output_tokens"]) == (300, 40), r  # usage from langchain
        assert r["codes"][0]["evidence_found"] is True
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (meta,) = manifest["annotators"]
    assert meta["name"] == "langchain:openai:test-model" and meta["model"] == "test-model"
    assert manifest["status"] == "complete"
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
