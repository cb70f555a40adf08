"""The chat-model interface: one method, a request in and a completion out.

OpenAI-compatible endpoints are the main implementation (``openai_client``);
langchain lives only inside its adapter. Callers never see provider types.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

#: how a model is asked for structured output: auto (probe once per endpoint and model,
#: falling back when a mode is refused), a JSON schema, any JSON object, a forced tool
#: call, or plain text parsed as JSON
StructuredMode = Literal["auto", "json_schema", "json_object", "tools", "none"]
STRUCTURED_MODES: tuple[str, ...] = get_args(StructuredMode)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage]
    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    n: int = 1
    #: a JSON schema for structured output; None means JSON mode (or plain text)
    json_schema: dict[str, Any] | None = None
    json_mode: bool = True


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(description="one text per requested sample (n)")
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    latency_s: float = 0.0
    finish_reasons: list[str | None] = Field(default_factory=list)
    from_cache: bool = False


class ChatModel(Protocol):
    """Anything that can complete a chat request."""

    name: str

    async def complete(self, request: ChatRequest) -> Completion: ...
