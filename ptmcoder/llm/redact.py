"""Secrets out of every error text before it is stored, logged or printed.

An endpoint may echo the request's ``Authorization`` header (or the key itself) in
an error body; that text would otherwise land in ``annotations.jsonl``, in
``runs show`` and on the terminal. :func:`redact` replaces the values of the API-key
variables in the environment and anything shaped like a bearer token, an
``Authorization``/``api-key`` header value or an ``sk-...`` key.

A *successful* answer may carry the key too (an endpoint or proxy that echoes it in
the completion text or in any response field). :func:`redact_completion` takes the
literal key values out of every string of a completion before it is cached or
recorded; it replaces only the secrets themselves, never a pattern, so that the
model's rationale and evidence quotes stay as they were otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptmcoder.llm.base import Completion

MASK = "[REDACTED]"
#: environment variables whose values are secrets (OPENAI_API_KEY, HF_TOKEN, ...)
_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
_MIN_SECRET = 6
_PATTERNS = [
    # Authorization: Bearer xxx / Basic xxx (header or JSON-ish "authorization": "...")
    re.compile(
        r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?"
        r"[^\s\"',;}]+"
    ),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"),
    # api-key: xxx, x-api-key=xxx, "api_key": "xxx", ?key=xxx
    re.compile(r"(?i)(\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}&]+"),
    # OpenAI-style keys
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
]


def _env_secrets() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if _SECRET_ENV.search(name) and len(value.strip()) >= _MIN_SECRET
    ]


def _mask(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g]
    if not groups:
        return MASK
    prefix = groups[0]
    if len(groups) > 1:  # a scheme after the header name: keep it
        return f"{prefix}{groups[1]} {MASK}"
    if prefix.lower() in ("bearer", "basic", "token"):
        return f"{prefix} {MASK}"
    return f"{prefix}{MASK}"


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """``text`` with every secret replaced by ``[REDACTED]``.

    >>> redact("HTTP 400: got header Authorization: Bearer abc.def-123")
    'HTTP 400: got header Authorization: Bearer [REDACTED]'
    """
    if not text:
        return text
    out = text
    for secret in sorted({*_env_secrets(), *secrets}, key=len, reverse=True):
        if secret and len(secret) >= _MIN_SECRET:
            out = out.replace(secret, MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(_mask, out)
    return out


def _secret_values(secrets: Iterable[str | None]) -> list[str]:
    found = {*_env_secrets(), *(s for s in secrets if s)}
    return sorted((s for s in found if len(s.strip()) >= _MIN_SECRET), key=len, reverse=True)


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the literal values of ``secrets`` and of the environment's
    API-key variables replaced by ``[REDACTED]`` (no pattern: ordinary text that
    merely looks like a header stays as it is).

    >>> redact_secrets("the key was k3y-123456, Bearer is a word", ["k3y-123456"])
    'the key was [REDACTED], Bearer is a word'
    """
    if not text:
        return text
    for secret in _secret_values(secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def endpoint_secrets(*env_names: str | None) -> list[str]:
    """The values of the environment variables ``env_names`` (an endpoint's key
    variable, whatever its name), those set and long enough to be a secret."""
    values = (os.environ.get(name) for name in env_names if name)
    return [v for v in values if v and len(v.strip()) >= _MIN_SECRET]


def redact_completion(completion: Completion, secrets: Iterable[str | None] = ()) -> Completion:
    """``completion`` with every secret taken out of each of its strings (the texts,
    the model name, the finish reasons); the same object when it carries none."""
    values = _secret_values(secrets)
    if not values:
        return completion

    def clean(text: str | None) -> str | None:
        if not text:
            return text
        for secret in values:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    texts = [clean(t) or "" for t in completion.texts]
    model = clean(completion.model) or ""
    reasons = [clean(r) for r in completion.finish_reasons]
    if (texts, model, reasons) == (completion.texts, completion.model, completion.finish_reasons):
        return completion
    return completion.model_copy(update={"texts": texts, "model": model, "finish_reasons": reasons})
