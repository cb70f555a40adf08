"""The main :class:`~ptmcoder.llm.base.ChatModel`: any OpenAI-compatible endpoint.

OpenAI, Azure OpenAI (v1 endpoint), vLLM, Ollama, llama.cpp server, LM Studio...
The official ``openai`` package does the HTTP; its own retries are disabled
(``max_retries=0``) so that the policy in force is ours (:mod:`ptmcoder.llm.retry`):
429, 5xx, timeouts and connection failures are retried with backoff and jitter,
honouring ``Retry-After``; any other 4xx fails at once with a message that says
what to fix.

The API key comes only from the environment (``$OPENAI_API_KEY`` by default) and
is never stored on disk by ptmcoder: an answer that echoes it (in the completion
text or any response field) has it replaced by ``[REDACTED]`` before anything
caches or records it, and so has an error message.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import STRUCTURED_MODES, ChatRequest, Completion
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.limiter import RateLimiter
from ptmcoder.llm.redact import endpoint_secrets, redact, redact_completion
from ptmcoder.llm.retry import RetryPolicy, call_with_retries, parse_retry_after

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: sent when no key is set and the endpoint is a local or custom server
PLACEHOLDER_KEY = "sk-no-key-required"
#: the order ``auto`` tries the output modes in, falling back on a refusal
AUTO_ORDER = ("json_schema", "json_object", "none")
#: the function a ``tools``-mode request forces the model to call
TOOL_NAME = "record_codes"


def is_openai_host(base_url: str | None) -> bool:
    host = urlparse(base_url or DEFAULT_BASE_URL).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")


def is_local_host(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine (a local model runtime).

    >>> is_local_host("http://127.0.0.1:8080/v1"), is_local_host("http://localhost:11434/v1")
    (True, True)
    >>> is_local_host("https://api.openai.com/v1")
    False
    """
    host = urlparse(base_url or DEFAULT_BASE_URL).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def parse_completion(data: Any, *, model: str, latency_s: float = 0.0) -> Completion:
    """A chat-completions JSON body as a :class:`Completion` (pure).

    Raises ``ValueError`` with the reason when the body is not a chat completion.
    A choice whose content is null (e.g. a refusal or a tool call) becomes "".
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "error" in data and "choices" not in data:
        err = data["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        raise ValueError(f"the endpoint returned an error object: {msg}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("no 'choices' in the response")
    ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    texts: list[str] = []
    reasons: list[str | None] = []
    for choice in ordered:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise ValueError("a choice has no 'message' object")
        message = choice["message"]
        content = message.get("content")
        calls = message.get("tool_calls")
        if not content and isinstance(calls, list) and calls:  # tools mode: the arguments
            function = calls[0].get("function") if isinstance(calls[0], dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                content = function["arguments"]
        if content is None and message.get("refusal"):
            content = ""
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        texts.append(content if isinstance(content, str) else "")
        reasons.append(choice.get("finish_reason"))
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Completion(
        texts=texts,
        model=str(data.get("model") or model),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cached_input_tokens=int(details.get("cached_tokens") or 0),
        latency_s=latency_s,
        finish_reasons=reasons,
    )


def _schema_wrapper(schema: dict[str, Any]) -> dict[str, Any]:
    if "schema" in schema and "name" in schema:  # already the json_schema wrapper
        return dict(schema)
    return {
        "name": str(schema.get("title") or "response").replace(" ", "_"),
        "schema": schema,
        "strict": False,
    }


def response_format_for(
    request: ChatRequest, mode: str, *, schema_in_json_object: bool = False
) -> dict[str, Any] | None:
    """The ``response_format`` parameter for ``mode`` (json_schema/json_object/tools/none).

    ``schema_in_json_object`` adds the schema to a ``json_object`` request, which
    llama.cpp's servers accept (``{"type": "json_object", "schema": ...}``) and turn
    into a grammar; OpenAI's own API is never sent it.

    >>> req = ChatRequest(model="m", messages=[], json_schema={"type": "object"})
    >>> response_format_for(req, "json_object")
    {'type': 'json_object'}
    >>> response_format_for(req, "json_object", schema_in_json_object=True)["schema"]
    {'type': 'object'}
    >>> response_format_for(req, "tools") is None
    True
    """
    if mode == "json_schema" and request.json_schema is not None:
        return {"type": "json_schema", "json_schema": _schema_wrapper(request.json_schema)}
    if mode in ("json_schema", "json_object") and (
        request.json_schema is not None or request.json_mode
    ):
        fmt: dict[str, Any] = {"type": "json_object"}
        if schema_in_json_object and request.json_schema is not None:
            fmt["schema"] = _schema_wrapper(request.json_schema)["schema"]
        return fmt
    return None


def tools_for(request: ChatRequest) -> dict[str, Any]:
    """``tools`` and a forced ``tool_choice`` carrying the answer schema (tools mode)."""
    if request.json_schema is None:
        return {}
    wrapper = _schema_wrapper(request.json_schema)
    function = {
        "name": TOOL_NAME,
        "description": "Record the codes that apply to the unit.",
        "parameters": wrapper["schema"],
    }
    return {
        "tools": [{"type": "function", "function": function}],
        "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
    }


def names_response_format(message: str) -> bool:
    """Whether an error message is about the output format (the fallback trigger).

    >>> names_response_format("response_format type json_schema is not supported")
    True
    >>> names_response_format("CUDA out of memory")
    False
    """
    msg = message.lower()
    return any(
        word in msg
        for word in ("response_format", "json_schema", "json_object", "tool_choice", "tools")
    )


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return str(getattr(exc, "message", None) or exc)


def _error_code(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("code") or err.get("type") or "")
    return str(getattr(exc, "code", "") or "")


def check_base_url(url: str) -> str:
    """Refuse an endpoint URL that carries credentials (``user:pass@`` or a query
    string such as ``?api-key=``): the URL is recorded in run manifests and error
    messages, and keys come from the environment only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        raise ConfigError(
            "the endpoint URL must not carry credentials or a query string",
            hint="pass the key in $OPENAI_API_KEY and the bare endpoint as "
            "--base-url / $OPENAI_BASE_URL",
        )
    return url


class OpenAIChatModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60,
        max_retries: int = 6,
        limiter: RateLimiter | None = None,
        structured: str = "auto",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if structured not in STRUCTURED_MODES:
            raise ConfigError(
                f"unknown structured-output mode {structured!r}",
                hint=f"use one of: {', '.join(STRUCTURED_MODES)}",
            )
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = check_base_url(
            base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key_env = api_key_env
        self._key_from_env = bool(os.environ.get(api_key_env))
        if not self._key_from_env and is_openai_host(self.base_url):
            raise ConfigError(
                f"no API key: ${api_key_env} is not set",
                hint=f"export {api_key_env}=... (the key is read from the environment only), "
                "or point --base-url / $OPENAI_BASE_URL at a local endpoint",
            )
        self.timeout = timeout
        self.limiter = limiter
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        if retry is None:
            self.retry.max_retries = max_retries
        self.structured = structured
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep
        # what the endpoint turned out to support, remembered for the session
        self._format_mode = structured
        #: the auto mode stored for this endpoint and model (written when it changes)
        self._stored_mode: str | None = None
        if structured == "auto":
            from ptmcoder.llm.capabilities import known_mode

            self._stored_mode = known_mode(self.base_url, model)
            self._format_mode = self._stored_mode or AUTO_ORDER[0]
        self._max_tokens_param = "max_tokens"
        self._clients: dict[int, Any] = {}
        #: counters for the run manifest
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0, "fallbacks": 0}

    def secrets(self) -> list[str]:
        """The key(s) this endpoint is called with, taken out of every answer."""
        return endpoint_secrets(self.api_key_env)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatModel({self.model!r}, base_url={self.base_url!r})"

    @property
    def response_format_mode(self) -> str:
        return self._format_mode

    # -- the client, one per event loop (httpx pools are bound to their loop)
    def _client(self) -> Any:
        from openai import AsyncOpenAI

        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            self._clients.clear()
            key = os.environ.get(self.api_key_env) or PLACEHOLDER_KEY
            client = AsyncOpenAI(
                api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
            self._clients[id(loop)] = client
        return client

    async def aclose(self) -> None:
        for client in list(self._clients.values()):
            await client.close()
        self._clients.clear()

    # -- building the call
    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params[self._max_tokens_param] = request.max_tokens
        if request.seed is not None:
            params["seed"] = request.seed
        if request.n != 1:
            params["n"] = request.n
        if self._format_mode == "tools":
            params.update(tools_for(request))
        else:
            fmt = response_format_for(
                request,
                self._format_mode,
                schema_in_json_object=not is_openai_host(self.base_url),
            )
            if fmt is not None:
                params["response_format"] = fmt
        if self.extra_body:
            params["extra_body"] = self.extra_body
        return params

    def _estimate_tokens(self, request: ChatRequest) -> int:
        from ptmcoder.llm.tokens import estimate_request_tokens

        return estimate_request_tokens(request, self.model)

    def _fallback(self, exc: Any) -> bool:
        """Adapt to a refusal of a parameter the endpoint does not support; True if so.

        A 4xx, or a 5xx whose body names the output format (llama.cpp's Python
        server answers an unsupported ``json_schema`` with HTTP 500), moves ``auto``
        one step down :data:`AUTO_ORDER`; an explicitly chosen mode is kept except
        that ``json_schema`` may drop to ``json_object``, as before.
        """
        raw = _error_message(exc)
        msg = raw.lower()
        status = getattr(exc, "status_code", 0) or 0
        if status >= 500 and not names_response_format(raw):
            return False
        if "max_completion_tokens" in msg and self._max_tokens_param == "max_tokens":
            self._max_tokens_param = "max_completion_tokens"
            return True
        if names_response_format(raw):
            if self.structured == "auto" and self._format_mode in AUTO_ORDER[:-1]:
                self._format_mode = AUTO_ORDER[AUTO_ORDER.index(self._format_mode) + 1]
                return True
            if self.structured == "json_schema" and self._format_mode == "json_schema":
                self._format_mode = "json_object"
                return True
        return False

    def _classify(self, exc: BaseException, attempts: int) -> LLMError:
        import openai

        where = f"{self.base_url} ({self.name})"
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"no answer from {where} within {self.timeout:g} s",
                kind="timeout",
                attempts=attempts,
                hint="raise --timeout, or lower the concurrency",
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(
                f"cannot connect to {where}: {exc.__cause__ or exc}",
                kind="connection",
                attempts=attempts,
                hint="check --base-url / $OPENAI_BASE_URL and that the server runs",
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            msg = redact(_error_message(exc), self.secrets()) or ""
            code = _error_code(exc)
            retry_after = parse_retry_after(dict(exc.response.headers))
            if status == 429 and code == "insufficient_quota":
                return LLMError(
                    f"{where}: no quota left: {msg}",
                    kind="client",
                    status=status,
                    attempts=attempts,
                    hint="check the plan and billing of the key",
                )
            if status == 429:
                return LLMError(
                    f"{where} kept rate-limiting the requests (429): {msg}",
                    kind="rate_limit",
                    status=status,
                    attempts=attempts,
                    retry_after=retry_after,
                    hint="lower --rpm/--tpm or the concurrency",
                )
            if status == 408:
                return LLMError(
                    f"{where} timed out the request (408): {msg}",
                    kind="timeout",
                    status=status,
                    attempts=attempts,
                    retry_after=retry_after,
                )
            if status >= 500:
                return LLMError(
                    f"{where} failed with HTTP {status}: {msg}",
                    kind="server",
                    status=status,
                    attempts=attempts,
                    retry_after=retry_after,
                )
            if status == 401:
                source = (
                    f"${self.api_key_env}"
                    if self._key_from_env
                    else f"a placeholder key (${self.api_key_env} is not set)"
                )
                return LLMError(
                    f"the endpoint refused the API key in {source} (401): {msg}",
                    kind="client",
                    status=status,
                    attempts=attempts,
                    hint=f"set a valid key in ${self.api_key_env}",
                )
            if status == 403:
                return LLMError(
                    f"{where} denied access (403): {msg}",
                    kind="client",
                    status=status,
                    attempts=attempts,
                    hint="the key lacks access to this model or endpoint",
                )
            if status == 404:
                return LLMError(
                    f"model {self.model!r} or the endpoint was not found at "
                    f"{self.base_url} (404): {msg}",
                    kind="client",
                    status=status,
                    attempts=attempts,
                    hint="check the model name and --base-url",
                )
            return LLMError(
                f"{where} rejected the request (HTTP {status}): {msg}",
                kind="client",
                status=status,
                attempts=attempts,
            )
        raise exc  # not an API error: a bug

    def request_params(self, request: ChatRequest) -> dict[str, Any]:
        """The chat-completions body for ``request`` (also the Batch API line body)."""
        params = self._params(request)
        params.update(params.pop("extra_body", {}))
        return params

    async def call_api(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """``await fn(client)`` under the same retry policy (used by the Batch API path)."""
        import openai

        attempts = 0

        async def once() -> Any:
            nonlocal attempts
            attempts += 1
            return await fn(self._client())

        def classify(exc: BaseException) -> LLMError | None:
            return self._classify(exc, attempts) if isinstance(exc, openai.APIError) else None

        return await call_with_retries(once, classify, self.retry, sleep=self._sleep)

    # -- the one method
    async def complete(self, request: ChatRequest) -> Completion:
        import openai

        estimate = self._estimate_tokens(request) if self.limiter else 0
        attempts = 0
        fallbacks = 0

        async def once() -> tuple[bytes, float]:
            nonlocal attempts, fallbacks
            while True:
                if self.limiter is not None:
                    await self.limiter.acquire(estimate)
                attempts += 1
                self.stats["requests"] += 1
                start = time.monotonic()
                try:
                    raw = await self._client().chat.completions.with_raw_response.create(
                        **self._params(request)
                    )
                    return raw.http_response.content, time.monotonic() - start
                except openai.APIStatusError as exc:
                    # an endpoint that rejects a parameter or an output mode (a 4xx, or a
                    # 5xx naming the format): asked again without it (not a retry)
                    if exc.status_code != 429 and fallbacks < 3 and self._fallback(exc):
                        fallbacks += 1
                        self.stats["fallbacks"] += 1
                        continue
                    raise

        def classify(exc: BaseException) -> LLMError | None:
            return self._classify(exc, attempts) if isinstance(exc, openai.APIError) else None

        def on_retry(error: LLMError) -> None:
            self.stats["retries"] += 1
            if error.kind == "rate_limit":
                self.stats["rate_limited"] += 1
                if self.limiter is not None and error.retry_after is not None:
                    self.limiter.pause(error.retry_after)

        body, latency = await call_with_retries(
            once, classify, self.retry, sleep=self._sleep, on_retry=on_retry
        )
        try:
            data = json.loads(body)
            completion = parse_completion(
                data, model=request.model or self.model, latency_s=latency
            )
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = redact(body[:200].decode("utf-8", "replace"), self.secrets())
            raise LLMError(
                f"{self.base_url} answered HTTP 200 with a body that is not a "
                f"chat completion ({exc}): {snippet!r}",
                kind="response",
                status=200,
                attempts=attempts,
            ) from exc
        completion = redact_completion(completion, self.secrets())
        if self.limiter is not None:
            self.limiter.adjust(estimate, completion.input_tokens + completion.output_tokens)
        if self.structured == "auto" and self._format_mode != self._stored_mode:
            from ptmcoder.llm.capabilities import remember_mode

            # once per endpoint and model, not a file read and write per completion
            remember_mode(self.base_url, self.model, self._format_mode)
            self._stored_mode = self._format_mode
        return completion
