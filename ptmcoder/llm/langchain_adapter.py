"""``langchain:PROVIDER:MODEL``: other chat models through one langchain adapter.

langchain stays inside this module: callers see only :class:`ChatRequest`,
:class:`Completion` and :class:`LLMError`. The model is built with
``langchain.chat_models.init_chat_model`` (the ``langchain`` extra plus the
provider's package, e.g. ``langchain-anthropic``), or passed in ready-made.
Retries follow the same policy as the OpenAI client (429, 5xx, timeouts).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ptmcoder.errors import DependencyError
from ptmcoder.llm.base import ChatRequest, Completion
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.limiter import RateLimiter
from ptmcoder.llm.redact import endpoint_secrets, redact_completion
from ptmcoder.llm.retry import RetryPolicy, call_with_retries, parse_retry_after

#: providers whose langchain class takes OpenAI-style parameters and max_retries
_OPENAI_LIKE = {"openai", "azure_openai"}


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def classify_exception(exc: BaseException, *, name: str, attempts: int) -> LLMError:
    """A provider exception as an :class:`LLMError` (by status code or type name)."""
    status = _status_of(exc)
    type_name = type(exc).__name__.lower()
    headers = getattr(getattr(exc, "response", None), "headers", None)
    retry_after = parse_retry_after(dict(headers)) if headers is not None else None
    message = f"{name}: {type(exc).__name__}: {exc}"
    if status == 429:
        return LLMError(
            message, kind="rate_limit", status=status, attempts=attempts, retry_after=retry_after
        )
    if status is not None and status >= 500:
        return LLMError(
            message, kind="server", status=status, attempts=attempts, retry_after=retry_after
        )
    if (
        isinstance(exc, TimeoutError | asyncio.TimeoutError)
        or "timeout" in type_name
        or status == 408
    ):
        return LLMError(message, kind="timeout", status=status, attempts=attempts)
    if "connection" in type_name:
        return LLMError(message, kind="connection", attempts=attempts)
    return LLMError(message, kind="client", status=status, attempts=attempts)


class LangChainChatModel:
    """A :class:`~ptmcoder.llm.base.ChatModel` over a langchain chat model."""

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        chat_model: Any = None,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        max_retries: int = 6,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ) -> None:
        self.provider = provider
        self.model = model
        self.name = f"langchain:{provider}:{model}"
        #: part of the response cache key (two servers, one model name)
        self.base_url = base_url
        self.limiter = limiter
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        given = kwargs.get("api_key")
        self._given_key = given if isinstance(given, str) else None
        # a model we build is rebuilt per event loop: provider SDKs bind their
        # async HTTP pools to the loop that first used them
        self._build: Callable[[], Any] | None = None
        self._chat = chat_model
        if chat_model is None:

            def build() -> Any:
                return self._init(provider, model, base_url, dict(kwargs))

            self._build = build
            self._chat = build()
        self._loop_id: int | None = None

    def secrets(self) -> list[str]:
        """The keys this model may be called with (the provider's ``<PROVIDER>_API_KEY``,
        a key passed in; every ``*API_KEY*`` variable is redacted anyway)."""
        env = f"{self.provider.upper()}_API_KEY"
        return [*endpoint_secrets(env, "OPENAI_API_KEY"), *filter(None, [self._given_key])]

    @staticmethod
    def _init(provider: str, model: str, base_url: str | None, kwargs: dict[str, Any]) -> Any:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError as exc:
            raise DependencyError(
                f"langchain:{provider}:{model} needs the langchain package",
                hint="pip install 'ptmcoder[langchain]' and the provider's package "
                f"(e.g. langchain-{provider.replace('_', '-')})",
            ) from exc
        if provider in _OPENAI_LIKE:
            kwargs.setdefault("max_retries", 0)  # ours are in force
            # langchain-openai shares one cached async HTTP client per process, bound
            # to the first event loop; a client of our own is rebuilt with the model
            import openai

            kwargs.setdefault("http_async_client", openai.DefaultAsyncHttpxClient())
            if base_url:
                kwargs["base_url"] = base_url
                if not os.environ.get("OPENAI_API_KEY"):
                    kwargs.setdefault("api_key", "sk-no-key-required")
        try:
            return init_chat_model(model, model_provider=provider, **kwargs)
        except ImportError as exc:
            raise DependencyError(
                f"langchain provider {provider!r} is not installed: {exc}",
                hint=f"pip install langchain-{provider.replace('_', '-')}",
            ) from exc
        except ValueError as exc:
            from ptmcoder.errors import ConfigError

            raise ConfigError(f"langchain cannot build {provider}:{model}: {exc}") from exc

    def _messages(self, request: ChatRequest) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return [kinds.get(m.role, HumanMessage)(content=m.content) for m in request.messages]

    def _model_for_loop(self) -> Any:
        loop_id = id(asyncio.get_running_loop())
        if self._build is not None and self._loop_id not in (None, loop_id):
            self._chat = self._build()
        self._loop_id = loop_id
        return self._chat

    def _bound(self, request: ChatRequest) -> Any:
        params: dict[str, Any] = {}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if self.provider in _OPENAI_LIKE:
            if request.seed is not None:
                params["seed"] = request.seed
            from ptmcoder.llm.openai_client import response_format_for

            fmt = response_format_for(request, "json_schema")
            if fmt is not None:
                params["response_format"] = fmt
        chat = self._model_for_loop()
        return chat.bind(**params) if params else chat

    async def _one(self, runnable: Any, messages: list[Any]) -> tuple[str, dict[str, Any], Any]:
        message = await runnable.ainvoke(messages)
        content = message.content
        if isinstance(content, list):
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        usage = getattr(message, "usage_metadata", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        return str(content), dict(usage), meta.get("finish_reason")

    async def complete(self, request: ChatRequest) -> Completion:
        messages = self._messages(request)
        runnable = self._bound(request)
        attempts = 0
        start = time.monotonic()

        async def once() -> list[tuple[str, dict[str, Any], Any]]:
            nonlocal attempts, start
            if self.limiter is not None:
                from ptmcoder.llm.tokens import estimate_request_tokens

                await self.limiter.acquire(estimate_request_tokens(request, self.model))
            attempts += 1
            start = time.monotonic()
            return await asyncio.gather(*(self._one(runnable, messages) for _ in range(request.n)))

        def classify(exc: BaseException) -> LLMError:
            # provider exceptions vary: every one is classified
            return classify_exception(exc, name=self.name, attempts=attempts)

        def on_retry(error: LLMError) -> None:
            if error.kind == "rate_limit" and self.limiter and error.retry_after:
                self.limiter.pause(error.retry_after)

        results = await call_with_retries(
            once, classify, self.retry, sleep=self._sleep, on_retry=on_retry
        )
        latency = time.monotonic() - start
        cached = 0
        for _, usage, _ in results:
            details = usage.get("input_token_details") or {}
            cached += int(details.get("cache_read") or 0)
        completion = Completion(
            texts=[text for text, _, _ in results],
            model=self.model,
            # n samples are n calls: every call pays for the prompt
            input_tokens=sum(int(u.get("input_tokens") or 0) for _, u, _ in results),
            output_tokens=sum(int(u.get("output_tokens") or 0) for _, u, _ in results),
            cached_input_tokens=cached,
            latency_s=latency,
            finish_reasons=[reason for _, _, reason in results],
        )
        # a key echoed inside the answer is never cached or recorded
        return redact_completion(completion, self.secrets())
