"""The chat-model interface: one method, a request in and a completion out.

OpenAI-compatible endpoints are the main implementation (``openai_client``);
langchain lives only inside its adapter. Callers never see provider types.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field


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
