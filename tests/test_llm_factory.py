"""Model specs, and the test server run as a process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import ChatMessage, ChatRequest
from ptmcoder.llm.factory import make_chat_model, parse_spec
from ptmcoder.llm.openai_client import OpenAIChatModel


@pytest.mark.parametrize(
    "spec,parsed",
    [
        ("openai:gpt-4o-mini", ("openai", None, "gpt-4o-mini")),
        ("openai:llama3.1:8b", ("openai", None, "llama3.1:8b")),
        (
            "langchain:anthropic:claude-3-5-haiku-latest",
            ("langchain", "anthropic", "claude-3-5-haiku-latest"),
        ),
        ("langchain:ollama:qwen2.5:7b", ("langchain", "ollama", "qwen2.5:7b")),
    ],
)
def test_parse_spec(spec, parsed):
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize(
    "spec", ["gpt-4o", "openai:", "langchain:openai", "anthropic:x", "embedded"]
)
def test_bad_specs(spec):
    with pytest.raises(ConfigError, match="openai:MODEL|provider and a model"):
        parse_spec(spec)


def test_make_openai_model_with_limits():
    model = make_chat_model(
        "openai:m", base_url="http://127.0.0.1:9/v1", rpm=60, tpm=1000, timeout=5
    )
    assert isinstance(model, OpenAIChatModel) and model.name == "openai:m"
    assert model.limiter.rpm == 60 and model.limiter.tpm == 1000 and model.timeout == 5


def test_server_as_a_process():
    script = Path(__file__).with_name("llm_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--responder", "echo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        model = make_chat_model("openai:m", base_url=url)
        completion = asyncio.run(
            model.complete(
                ChatRequest(model="m", messages=[ChatMessage(role="user", content="ping")])
            )
        )
        assert '"echo": "ping"' in completion.texts[0]
    finally:
        proc.kill()
        proc.wait(timeout=5)
