"""Errors of the LLM layer.

:class:`LLMError` is a :class:`~ptmcoder.errors.PtmcoderError`, so the CLI shows
it as a clean message. ``kind`` says what failed and whether it was retried:

- ``rate_limit`` (HTTP 429), ``server`` (5xx), ``timeout`` (client timeout or
  HTTP 408) and ``connection`` (refused/reset) are retried with backoff; the
  error is raised once the retries are exhausted (``attempts`` > 1);
- ``client`` (any other 4xx: bad key, unknown model, bad request, no quota) and
  ``response`` (a 200 whose body is not a chat completion) fail fast after one
  attempt.
"""

from __future__ import annotations

from ptmcoder.errors import PtmcoderError
from ptmcoder.llm.redact import redact

RETRYABLE_KINDS = frozenset({"rate_limit", "server", "timeout", "connection"})
KINDS = RETRYABLE_KINDS | {"client", "response"}


class LLMError(PtmcoderError):
    """A model call failed; ``kind``, ``status`` and ``attempts`` say how."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown LLMError kind {kind!r}")
        # an endpoint may echo the Authorization header or the key in its error body
        super().__init__(redact(message) or "", hint=redact(hint))
        self.kind = kind
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __repr__(self) -> str:
        return (
            f"LLMError(kind={self.kind!r}, status={self.status!r}, "
            f"attempts={self.attempts}, message={self.message!r})"
        )
