"""The Batch API path against the local server: JSONL, upload, create, poll, ingest."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from llm_server import LLMServer, Reply

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import ChatMessage, ChatRequest, Completion
from ptmcoder.llm.batch import BatchRunner, parse_batch_output
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.openai_client import OpenAIChatModel
from ptmcoder.llm.retry import RetryPolicy


def requests(n: int) -> dict[str, ChatRequest]:
    return {
        f"so-{i}": ChatRequest(
            model="gpt-4o-mini", messages=[ChatMessage(role="user", content=f"unit {i}")]
        )
        for i in range(n)
    }


def runner(server, run_dir, **kw) -> BatchRunner:
    model = OpenAIChatModel(
        "gpt-4o-mini",
        base_url=server.base_url,
        retry=RetryPolicy(max_retries=2, base=0.01, cap=0.02),
    )
    return BatchRunner(
        model, run_dir, poll_interval=0.05, progress=kw.pop("progress", io.StringIO()), **kw
    )


def test_round_trip(tmp_path):
    progress = io.StringIO()
    with LLMServer(complete_after_polls=2) as server:
        server.enqueue(
            Reply.ok('{"codes": ["A"]}', usage={"prompt_tokens": 5, "completion_tokens": 3}),
            Reply.error(400),
        )
        results = asyncio.run(runner(server, tmp_path, progress=progress).run(requests(3)))
        assert len(server.batches) == 1
        (batch_id,) = server.batches
        assert server.batch_polls[batch_id] == 2
    lines = [json.loads(x) for x in (tmp_path / "batch_input.jsonl").read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == ["so-0", "so-1", "so-2"]
    assert lines[0]["url"] == "/v1/chat/completions" and lines[0]["method"] == "POST"
    assert lines[0]["body"]["messages"] == [{"role": "user", "content": "unit 0"}]
    assert isinstance(results["so-0"], Completion)
    assert results["so-0"].texts == ['{"codes": ["A"]}'] and results["so-0"].input_tokens == 5
    assert isinstance(results["so-1"], LLMError) and results["so-1"].status == 400
    assert isinstance(results["so-2"], Completion)
    state = json.loads((tmp_path / "batch_state.json").read_text())
    assert state["batch_id"] == batch_id and state["status"] == "completed"
    assert "completed" in progress.getvalue()


def test_interrupted_poll_resumes_without_resubmitting(tmp_path):
    with LLMServer(complete_after_polls=3) as server:
        first = runner(server, tmp_path, timeout_s=0.0)
        with pytest.raises(LLMError) as info:  # gives up after the first poll
            asyncio.run(first.run(requests(2)))
        assert info.value.kind == "timeout" and "rerun to resume" in str(info.value)
        assert len(server.batches) == 1
        second = runner(server, tmp_path)
        results = asyncio.run(second.run(requests(2)))
        assert len(server.batches) == 1  # the same batch, not a new one
        uploads = len(server.files)
        assert all(isinstance(r, Completion) for r in results.values())
        # ingesting again reads the local copy: nothing is downloaded or submitted
        again = asyncio.run(runner(server, tmp_path).run(requests(2)))
        assert len(server.batches) == 1 and len(server.files) == uploads
        assert {k: v.texts for k, v in again.items()} == {k: v.texts for k, v in results.items()}


def test_changed_requests_submit_a_new_batch(tmp_path):
    with LLMServer(complete_after_polls=1) as server:
        asyncio.run(runner(server, tmp_path).run(requests(2)))
        asyncio.run(runner(server, tmp_path).run(requests(3)))
        assert len(server.batches) == 2


def test_batch_needs_an_openai_model(tmp_path):
    with pytest.raises(ConfigError):
        BatchRunner(object(), tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "line,kind,status",
    [
        (
            {
                "custom_id": "a",
                "response": {"status_code": 500, "body": {"error": {"message": "x"}}},
            },
            "server",
            500,
        ),
        ({"custom_id": "a", "response": {"status_code": 429, "body": {}}}, "rate_limit", 429),
        (
            {"custom_id": "a", "response": None, "error": {"code": "x", "message": "expired"}},
            "client",
            None,
        ),
        (
            {"custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}}},
            "response",
            200,
        ),
    ],
)
def test_parse_batch_output_errors(line, kind, status):
    result = parse_batch_output(json.dumps(line), model="m")["a"]
    assert isinstance(result, LLMError) and (result.kind, result.status) == (kind, status)


def test_parse_batch_output_rejects_garbage():
    with pytest.raises(LLMError, match="line 1"):
        parse_batch_output("not json\n", model="m")
