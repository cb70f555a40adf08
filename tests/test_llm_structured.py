"""Output modes against the local server: ``--structured auto`` falls back when an
endpoint refuses a mode (HTTP 4xx, or a 5xx whose body names the format, as
llama.cpp's Python server does), remembers what worked per endpoint and model,
``tools`` mode forces a function call, and an answer cut off at the token cap is
an ``output_truncated`` error row without a repair request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fakes import answer, codes_responder, write_units
from llm_server import LLMServer, Reply

from ptmcoder.llm.base import ChatMessage, ChatRequest
from ptmcoder.llm.capabilities import known_mode
from ptmcoder.llm.openai_client import OpenAIChatModel
from ptmcoder.llm.retry import RetryPolicy

SCHEMA = {"name": "codes", "schema": {"type": "object", "properties": {"codes": {}}}}


def req() -> ChatRequest:
    return ChatRequest(
        model="local",
        messages=[ChatMessage(role="user", content="code this")],
        json_schema=SCHEMA,
    )


def model(server: LLMServer, structured: str = "auto") -> OpenAIChatModel:
    policy = RetryPolicy(max_retries=2, base=0.01, cap=0.02)
    return OpenAIChatModel("local", base_url=server.base_url, structured=structured, retry=policy)


def refuse_json_schema(request: dict) -> Reply:
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return Reply.error(
            500, body={"error": {"message": "response_format type json_schema is not supported"}}
        )
    return Reply.ok(answer("dl-fault"))


def formats(server: LLMServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in server.requests]


def test_auto_steps_down_on_a_500_that_names_the_format_and_remembers_it(isolated_home):
    with LLMServer(responder=refuse_json_schema) as server:
        m = model(server)
        completion = asyncio.run(m.complete(req()))
        assert json.loads(completion.texts[0])["codes"][0]["code"] == "dl-fault"
        assert formats(server) == ["json_schema", "json_object"]
        # a local endpoint gets the schema inside json_object, as llama.cpp accepts it
        assert server.requests[1]["response_format"]["schema"] == SCHEMA["schema"]
        assert m.response_format_mode == "json_object" and m.stats["fallbacks"] == 1
        assert known_mode(server.base_url, "local") == "json_object"
        # the next client (a new run) starts with what worked: no probe again
        again = model(server)
        asyncio.run(again.complete(req()))
        assert formats(server)[2:] == ["json_object"]
    stored = (isolated_home / "cache" / "endpoint_modes.json").read_text()
    assert "json_object" in stored and "sk-" not in stored


def test_a_500_that_does_not_name_the_format_is_retried_not_a_fallback(isolated_home):
    with LLMServer() as server:
        server.enqueue(Reply.error(500), Reply.ok(answer("generic")))
        m = model(server)
        asyncio.run(m.complete(req()))
        assert formats(server) == ["json_schema", "json_schema"]
        assert m.response_format_mode == "json_schema" and m.stats["retries"] == 1


def test_an_explicit_mode_is_not_abandoned(isolated_home):
    from ptmcoder.llm.errors import LLMError

    with LLMServer(responder=refuse_json_schema) as server:
        # tools mode is kept when the server does not answer with a tool call
        asyncio.run(model(server, structured="tools").complete(req()))
        # an explicit json_object mode is kept when refused: an error, not plain text
        server.enqueue(
            Reply.error(400, body={"error": {"message": "response_format json_object unsupported"}})
        )
        m = model(server, structured="json_object")
        with pytest.raises(LLMError):
            asyncio.run(m.complete(req()))
        assert m.response_format_mode == "json_object"
        # tools mode sends no response_format and asks for the forced function
        sent = server.requests[0]
        assert "response_format" not in sent
        assert sent["tool_choice"]["function"]["name"] == "record_codes"
        assert sent["tools"][0]["function"]["parameters"] == SCHEMA["schema"]


def test_tools_mode_reads_the_function_arguments(isolated_home):
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "local",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "record_codes", "arguments": answer("generic")},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    with LLMServer() as server:
        server.enqueue(Reply.raw(json.dumps(body).encode()))
        completion = asyncio.run(model(server, structured="tools").complete(req()))
    assert json.loads(completion.texts[0])["codes"][0]["code"] == "generic"


def test_an_answer_cut_at_the_cap_is_its_own_error_row_without_repair(run_cli, isolated_home):
    units = write_units(isolated_home / "units.csv", 2)
    with LLMServer(responder=codes_responder) as server:
        server.enqueue(
            Reply.ok('{"codes": [{"code": "dl-fault", "rationale": "the', finish_reason="length")
        )
        result = run_cli(
            "annotate",
            "--codebook",
            "humbatova-screening",
            "--corpus",
            str(units),
            "--annotator",
            "openai:local",
            "--base-url",
            server.base_url,
            "--max-output-tokens",
            "12",
            "--no-progress",
            "--json",
        )
        assert result.exit_code == 0, result.stderr
        requests = list(server.requests)
    run_dir = Path(json.loads(result.stdout)["path"])
    records = {
        r["unit_id"]: r
        for r in map(json.loads, (run_dir / "annotations.jsonl").read_text().splitlines())
    }
    assert records["u:0"]["error_type"] == "output_truncated"
    assert "--max-output-tokens" in records["u:0"]["error"]
    assert records["u:1"]["codes"][0]["code"] == "dl-fault"
    # two units, two requests: the cut answer got no repair request
    assert len(requests) == 2
    assert all(r["max_tokens"] == 12 for r in requests)
    # the schema caps the number of codes (small models repeat them otherwise)
    schema = requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["codes"]["maxItems"] == 4
    # and, on an endpoint of this machine, the length of rationale and evidence
    assert schema["properties"]["codes"]["items"]["properties"]["evidence"]["maxLength"] == 200
    manifest = json.loads((run_dir / "manifest.json").read_text())
    ann = manifest["annotators"][0]
    assert ann["structured_output_used"] == "json_schema"
    assert manifest["config"]["structured"] == "auto"
    assert manifest["config"]["max_output_tokens"] == 12


def test_a_local_endpoint_defaults_to_one_request_at_a_time():
    from ptmcoder.annotate.llm_build import AnnotateOptions, effective_concurrency

    assert effective_concurrency(AnnotateOptions(), "http://127.0.0.1:9/v1") == 1
    assert effective_concurrency(AnnotateOptions(), "http://[::1]:9/v1") == 1
    assert effective_concurrency(AnnotateOptions(), "https://api.example.org/v1") == 8
