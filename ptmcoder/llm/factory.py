"""Model specs to chat models: ``openai:MODEL`` and ``langchain:PROVIDER:MODEL``.

``embedded`` (the offline annotator) is handled by the annotate stage, not here.
"""

from __future__ import annotations

from typing import Any

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import ChatModel
from ptmcoder.llm.limiter import RateLimiter

SPEC_HELP = (
    "use openai:MODEL (any OpenAI-compatible endpoint, with --base-url) or langchain:PROVIDER:MODEL"
)


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """``(kind, provider, model)`` of a model spec; model names may contain ':'."""
    kind, sep, rest = spec.partition(":")
    if kind == "openai" and sep and rest:
        return "openai", None, rest
    if kind == "langchain" and sep:
        provider, sep2, model = rest.partition(":")
        if provider and sep2 and model:
            return "langchain", provider, model
        raise ConfigError(
            f"bad model spec {spec!r}: langchain needs a provider and a model",
            hint="e.g. langchain:anthropic:claude-3-5-haiku-latest",
        )
    raise ConfigError(f"unknown model spec {spec!r}", hint=SPEC_HELP)


def make_chat_model(
    spec: str,
    *,
    base_url: str | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    timeout: float = 60.0,
    max_retries: int = 6,
    structured: str = "auto",
    api_key_env: str = "OPENAI_API_KEY",
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> ChatModel:
    """A chat model for ``spec`` with a rate limiter when ``rpm``/``tpm`` are given."""
    kind, provider, model = parse_spec(spec)
    if limiter is None and (rpm or tpm):
        limiter = RateLimiter(rpm=rpm, tpm=tpm)
    if kind == "openai":
        from ptmcoder.llm.openai_client import OpenAIChatModel

        return OpenAIChatModel(
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            max_retries=max_retries,
            limiter=limiter,
            structured=structured,
            **kwargs,
        )
    from ptmcoder.llm.langchain_adapter import LangChainChatModel

    assert provider is not None
    return LangChainChatModel(
        provider,
        model,
        base_url=base_url,
        limiter=limiter,
        max_retries=max_retries,
        timeout=timeout,
        **kwargs,
    )
