"""OpenAIChatModel against the local OpenAI-compatible server (no network)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from llm_server import LLMServer, Reply

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import ChatMessage, ChatRequest
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.limiter import RateLimiter
from ptmcoder.llm.openai_client import OpenAIChatModel, parse_completion
from ptmcoder.llm.retry import RetryPolicy


def req(text: str = "Classify this question.", **kw) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        messages=[
            ChatMessage(role="system", content="You code."),
            ChatMessage(role="user", content=text),
        ],
        **kw,
    )


def fast_retry(max_retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, base=0.01, cap=0.05, rng=random.Random(1))


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def model_for(server: LLMServer, **kw) -> OpenAIChatModel:
    kw.setdefault("retry", fast_retry())
    return OpenAIChatModel("gpt-4o-mini", base_url=server.base_url, **kw)


def run(coro):
    return asyncio.run(coro)


def test_happy_path_content_and_usage(server):
    server.enqueue(
        Reply.ok(
            '{"codes": ["A1"]}',
            usage={
                "prompt_tokens": 42,
                "completion_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 10},
            },
        )
    )
    completion = run(model_for(server).complete(req(temperature=0.0, seed=7, max_tokens=50)))
    assert completion.texts == ['{"codes": ["A1"]}']
    assert (completion.input_tokens, completion.output_tokens) == (42, 7)
    assert completion.cached_input_tokens == 10
    assert completion.finish_reasons == ["stop"]
    assert completion.from_cache is False
    body = server.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][1] == {"role": "user", "content": "Classify this question."}
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 7, 50)
    assert body["response_format"] == {"type": "json_object"}
    assert "n" not in body


def test_name_and_repr_hide_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    model = model_for(server)
    assert model.name == "openai:gpt-4o-mini"
    assert "sk-test" not in repr(model)
    run(model.complete(req()))
    assert server.headers[0]["authorization"] == "Bearer sk-test-secret-123"


def test_n_samples(server):
    server.enqueue(Reply.ok(["one", "two", "three"]))
    completion = run(model_for(server).complete(req(n=3)))
    assert completion.texts == ["one", "two", "three"]
    assert server.requests[0]["n"] == 3


def test_json_schema_sent_then_falls_back_to_json_object_for_the_session(server):
    schema = {"type": "object", "properties": {"codes": {"type": "array"}}}
    server.enqueue(
        Reply.error(
            400,
            body={
                "error": {
                    "message": "response_format 'json_schema' is not supported by this model",
                    "type": "invalid_request_error",
                }
            },
        )
    )
    model = model_for(server)

    async def two_calls():
        first = await model.complete(req(json_schema=schema))
        second = await model.complete(req(json_schema=schema))
        return first, second

    first, second = run(two_calls())
    assert first.texts == ['{"codes": []}'] and second.texts == first.texts
    formats = [r["response_format"]["type"] for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert server.requests[0]["response_format"]["json_schema"]["schema"] == schema
    assert model.response_format_mode == "json_object"


def test_429_storm_honours_retry_after(server):
    server.enqueue(
        Reply.error(429, retry_after=1),
        Reply.error(429, retry_after=1),
        Reply.ok('{"codes": ["B"]}'),
    )
    limiter = RateLimiter(rpm=6000)
    model = model_for(server, limiter=limiter)
    start = time.monotonic()
    completion = run(model.complete(req()))
    elapsed = time.monotonic() - start
    assert completion.texts == ['{"codes": ["B"]}']
    assert len(server.requests) == 3
    gaps = [b - a for a, b in zip(server.request_times, server.request_times[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    # two 1 s waits; the upper bound only catches a wait far beyond Retry-After (it
    # is generous because a loaded 2-core machine stretches the client's own work)
    assert 2.0 <= elapsed < 6.0
    assert model.stats["rate_limited"] == 2 and limiter.pauses >= 1


def test_retry_after_as_http_date_is_honoured(server):
    from email.utils import formatdate

    # an HTTP date has one-second resolution: name a whole second 2 s ahead, taken
    # early in a second, so the wait asked for is between about 1.8 and 2 s (a date
    # built from any instant could ask for as little as 1 s minus the request time)
    while time.time() % 1 > 0.2:
        time.sleep(0.05)
    server.enqueue(
        Reply.error(503, retry_after=formatdate(int(time.time()) + 2, usegmt=True)),
        Reply.ok("fine"),
    )
    run(model_for(server).complete(req()))
    assert server.request_times[1] - server.request_times[0] >= 1.5


def test_500_then_success(server):
    server.enqueue(Reply.error(500), Reply.error(502), Reply.ok("ok"))
    model = model_for(server)
    assert run(model.complete(req())).texts == ["ok"]
    assert len(server.requests) == 3 and model.stats["retries"] == 2


def test_timeout_then_success(server):
    server.enqueue(Reply.hang(1.5), Reply.ok("after timeout"))
    model = model_for(server, timeout=0.3)
    start = time.monotonic()
    assert run(model.complete(req())).texts == ["after timeout"]
    assert time.monotonic() - start < 1.4  # did not wait for the hung reply
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "reply,kind,status",
    [
        (lambda: Reply.error(500), "server", 500),
        (lambda: Reply.error(429, retry_after=0), "rate_limit", 429),
        (lambda: Reply.hang(1.0), "timeout", None),
    ],
)
def test_exhausted_retries_raise_llm_error(server, reply, kind, status):
    server.enqueue(*[reply() for _ in range(3)])
    model = model_for(server, retry=fast_retry(max_retries=2), timeout=0.2)
    with pytest.raises(LLMError) as info:
        run(model.complete(req()))
    assert info.value.kind == kind and info.value.status == status
    assert info.value.attempts == 3 and len(server.requests) == 3


@pytest.mark.parametrize(
    "status,needle",
    [
        (401, "refused the API key in $OPENAI_API_KEY"),
        (400, "rejected the request (HTTP 400)"),
        (404, "not found"),
        (403, "denied access"),
    ],
)
def test_other_4xx_fail_fast_after_one_request(server, monkeypatch, status, needle):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-bad")
    server.enqueue(Reply.error(status), Reply.ok("never sent"))
    with pytest.raises(LLMError) as info:
        run(model_for(server).complete(req()))
    assert info.value.kind == "client" and info.value.status == status
    assert needle in str(info.value)
    assert len(server.requests) == 1


def test_insufficient_quota_429_is_not_retried(server):
    server.enqueue(
        Reply.error(
            429,
            body={"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}},
        )
    )
    with pytest.raises(LLMError) as info:
        run(model_for(server).complete(req()))
    assert info.value.kind == "client" and "quota" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x"}', b"[]", b""])
def test_malformed_body_is_a_clear_error(server, body):
    server.enqueue(Reply.raw(body))
    with pytest.raises(LLMError) as info:
        run(model_for(server).complete(req()))
    assert info.value.kind == "response"
    assert "not a chat completion" in str(info.value)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_fails():
    with LLMServer() as s:
        url = s.base_url
    model = OpenAIChatModel("m", base_url=url, retry=fast_retry(max_retries=1))
    with pytest.raises(LLMError) as info:
        run(model.complete(req()))
    assert info.value.kind == "connection" and info.value.attempts == 2


def test_no_key_for_openai_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match=r"\$OPENAI_API_KEY"):
        OpenAIChatModel("gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"\$MY_KEY"):
        OpenAIChatModel("gpt-4o-mini", api_key_env="MY_KEY")


def test_base_url_from_environment_and_placeholder_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    model = OpenAIChatModel("llama3.1:8b")
    assert model.base_url == server.base_url
    run(model.complete(req()))
    assert server.headers[0]["authorization"] == "Bearer sk-no-key-required"


def test_max_completion_tokens_fallback(server):
    server.enqueue(
        Reply.error(
            400,
            body={
                "error": {
                    "message": "Unsupported parameter: 'max_tokens'. "
                    "Use 'max_completion_tokens' instead."
                }
            },
        )
    )
    run(model_for(server).complete(req(max_tokens=20)))
    assert "max_tokens" in server.requests[0]
    assert server.requests[1]["max_completion_tokens"] == 20
    assert "max_tokens" not in server.requests[1]


def test_model_works_across_event_loops(server):
    model = model_for(server)
    run(model.complete(req()))
    run(model.complete(req()))
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "data,error",
    [
        ({"choices": []}, "no 'choices'"),
        ({"error": {"message": "boom"}}, "error object: boom"),
        ({"choices": [{"index": 0}]}, "no 'message'"),
        ("text", "expected a JSON object"),
    ],
)
def test_parse_completion_rejects(data, error):
    with pytest.raises(ValueError, match=error):
        parse_completion(data, model="m")


def test_parse_completion_orders_choices_and_handles_null_content():
    data = {
        "choices": [
            {"index": 1, "message": {"content": None, "refusal": "no"}, "finish_reason": "stop"},
            {"index": 0, "message": {"content": "x"}, "finish_reason": "length"},
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    c = parse_completion(data, model="m", latency_s=0.5)
    assert c.texts == ["x", ""] and c.finish_reasons == ["length", "stop"]
    assert (c.model, c.input_tokens, c.output_tokens, c.latency_s) == ("m", 3, 2, 0.5)


@pytest.mark.parametrize(
    "url", ["http://user:secret@127.0.0.1:9/v1", "https://example.invalid/v1?api-key=secret"]
)
def test_endpoint_url_with_credentials_is_refused(url):
    with pytest.raises(ConfigError, match="must not carry credentials"):
        OpenAIChatModel("m", base_url=url)


def test_annotate_refuses_credentials_in_base_url_before_writing_a_run(run_cli, isolated_home):
    result = run_cli(
        "annotate",
        "--codebook",
        "issue-type",
        "--corpus",
        "humbatova_so_titles",
        "--annotator",
        "openai:m",
        "--base-url",
        "http://u:secret@127.0.0.1:9/v1",
        "--limit",
        "1",
    )
    assert result.exit_code != 0 and "must not carry credentials" in result.stderr
    assert not (isolated_home / "runs").exists() or not any((isolated_home / "runs").iterdir())
