"""The langchain adapter: ChatOpenAI against the local server, and a fake model."""

from __future__ import annotations

import asyncio

import pytest
from llm_server import LLMServer, Reply

from ptmcoder.llm.base import ChatMessage, ChatRequest
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.langchain_adapter import LangChainChatModel
from ptmcoder.llm.retry import RetryPolicy


def req(**kw) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        messages=[
            ChatMessage(role="system", content="You code."),
            ChatMessage(role="user", content="unit"),
        ],
        **kw,
    )


def test_chat_openai_against_local_server():
    pytest.importorskip("langchain")
    pytest.importorskip("langchain_openai")
    with LLMServer() as server:
        server.enqueue(
            Reply.error(500),
            Reply.ok('{"codes": ["X"]}', usage={"prompt_tokens": 11, "completion_tokens": 4}),
        )
        model = LangChainChatModel(
            "openai",
            "gpt-4o-mini",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=2, base=0.01, cap=0.02),
        )
        assert model.name == "langchain:openai:gpt-4o-mini"
        completion = asyncio.run(
            model.complete(req(temperature=0.0, seed=3, json_schema={"type": "object"}))
        )
        assert completion.texts == ['{"codes": ["X"]}']
        assert (completion.input_tokens, completion.output_tokens) == (11, 4)
        assert len(server.requests) == 2  # our retry after the 500, not langchain's
        body = server.requests[-1]
        assert body["messages"][0] == {"role": "system", "content": "You code."}
        assert body["response_format"]["type"] == "json_schema"
        assert body["seed"] == 3

        server.enqueue(Reply.error(401))
        with pytest.raises(LLMError) as info:
            asyncio.run(model.complete(req()))
        assert info.value.kind == "client" and info.value.status == 401
        assert len(server.requests) == 3


def test_fake_model_n_samples():
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    fake = GenericFakeChatModel(messages=iter([AIMessage(content="a"), AIMessage(content="b")]))
    model = LangChainChatModel("fake", "m", chat_model=fake)
    completion = asyncio.run(model.complete(req(n=2)))
    assert sorted(completion.texts) == ["a", "b"]
    assert completion.model == "m"


def test_missing_provider_package_is_a_dependency_error():
    pytest.importorskip("langchain")
    from ptmcoder.errors import DependencyError

    with pytest.raises(DependencyError, match="pip install"):
        LangChainChatModel("mistralai", "m")


def test_the_token_limiter_reserves_prompt_and_answers_as_the_openai_client_does():
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from ptmcoder.llm.limiter import RateLimiter
    from ptmcoder.llm.tokens import count_chat_tokens

    class Recording(RateLimiter):
        def __init__(self) -> None:
            super().__init__(tpm=10**9)
            self.asked: list[int] = []

        async def acquire(self, tokens: int = 0) -> None:
            self.asked.append(tokens)
            await super().acquire(tokens)

    limiter = Recording()
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="a"), AIMessage(content="b")]))
    model = LangChainChatModel("fake", "gpt-4o-mini", chat_model=fake, limiter=limiter)
    request = req(n=2, max_tokens=300)
    asyncio.run(model.complete(request))
    prompt = count_chat_tokens(request.messages, "gpt-4o-mini")
    # the prompt counted with tiktoken plus room for both answers (it was characters / 4)
    assert limiter.asked == [prompt + 2 * 300]
